"""Protocol deviations: every recorded value that differs from the reference protocol, beside that value.

The reference is each metric's ``DEFAULTS`` (``benchmark.metrics.METRICS[name].defaults``: the sample sizes of
Locatello et al. 2019), the training defaults of ``benchmark.config.TrainConfig`` (its step budget, batch
size, learning rate, architecture, ...) and the values the study fixes for a method's other hyperparameters
(their declared defaults in ``benchmark.config.METHODS``; the study axis itself varies by design). Named
protocols such as ``quick`` (``benchmark.metrics.PROTOCOLS``) are deviations from it too.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from benchmark.config import METHODS, TrainConfig
from benchmark.metrics import METRICS

#: TrainConfig fields that are not the protocol: what a run is (dataset, method, seed), where it runs.
_NOT_PROTOCOL = {"dataset", "dataset_path", "model", "seed", "hyperparameters", *TrainConfig.EXECUTION_FIELDS}
_TRAIN_FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _NOT_PROTOCOL]


@dataclasses.dataclass(frozen=True)
class Deviation:
    """One recorded parameter that differs from the reference: its name, the values found, the reference value,
    and in how many of the report's runs."""

    name: str
    values: tuple[str, ...]
    reference: str
    n_runs: int
    total: int

    def text(self) -> str:
        where = "" if self.n_runs == self.total else f" in {self.n_runs} of {self.total} runs"
        return f"{self.name} {', '.join(self.values)} (reference {self.reference}){where}"


def _text(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (int, float)) and float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _same(v: Any, ref: Any) -> bool:
    if isinstance(v, (int, float)) and isinstance(ref, (int, float)) and not isinstance(v, bool):
        return float(v) == float(ref)
    norm = lambda x: json.dumps(list(x) if isinstance(x, tuple) else x, sort_keys=True)  # noqa: E731
    return norm(v) == norm(ref)


def reference_value(column: str) -> tuple[bool, Any]:
    """``(known, value)``: the reference of a ``protocol.<metric>.<param>`` or ``config.<field>`` column."""
    parts = column.split(".")
    if parts[0] == "protocol" and len(parts) == 3 and parts[1] in METRICS:
        defaults = METRICS[parts[1]].defaults
        return (parts[2] in defaults), defaults.get(parts[2])
    if parts[0] == "config" and len(parts) == 2 and parts[1] in _TRAIN_FIELDS:
        return True, getattr(TrainConfig(), parts[1])
    return False, None


def _deviation(name: str, runs: pd.DataFrame, values: pd.Series, ref: Any, below_only: bool = False):
    """The :class:`Deviation` of one column (``values``, aligned with ``runs``) from ``ref``, or None."""
    present = values.dropna()
    if below_only:
        num = pd.to_numeric(present, errors="coerce")
        off = present[num < ref]
    else:
        off = present[[not _same(v, ref) for v in present]]
    if off.empty:
        return None
    texts = tuple(sorted({_text(v) for v in off}, key=lambda t: (len(t), t)))
    return Deviation(name, texts, _text(ref), runs.loc[off.index, "run"].nunique(), runs["run"].nunique())


def deviations(runs: pd.DataFrame) -> list[Deviation]:
    """Every ``protocol.*`` value that differs from its metric's reference default, every training budget below
    the protocol's (``config.steps``), every other training setting that differs from ``TrainConfig``'s default,
    and every fixed hyperparameter of a method that differs from the value the study fixes."""
    out = []
    for col in sorted(c for c in runs.columns if c.startswith("protocol.")):
        known, ref = reference_value(col)
        if known and (d := _deviation(col.removeprefix("protocol."), runs, runs[col], ref)):
            out.append(d)
    for col in sorted(c for c in runs.columns if c.startswith("config.")):
        known, ref = reference_value(col)
        if known and (d := _deviation(col.removeprefix("config."), runs, runs[col], ref, below_only=col == "config.steps")):
            out.append(d)
    for model, method in METHODS.items():
        sel = runs["model"] == model
        for h in method.hyperparameters:
            if h.name != method.study_axis and sel.any() and f"config.{h.name}" in runs:
                d = _deviation(f"{model} {h.name}", runs[sel], runs.loc[sel, f"config.{h.name}"], h.default)
                if d:
                    out.append(dataclasses.replace(d, total=runs["run"].nunique()))
    return out


def deviation_warning(runs: pd.DataFrame) -> str | None:
    """The one warning that lists every deviation with the reference value beside it; None when there is none."""
    found = deviations(runs)
    if not found:
        return None
    return ("Protocol deviations from the reference (Locatello et al. 2019): " + "; ".join(d.text() for d in found)
            + ". Numbers under a deviating protocol are not comparable with published ones.")
