"""The expected grid of a sweep: which trials a report over a sweep should have, and what each one lacks.

A results folder alone cannot say what is missing: a trial that never started leaves no record. A sweep's
storage folder can: its ``sweep.json`` is the resolved spec, which expands to every trial id. Expanding a
spec and reading a trial's state on disk belong to :mod:`benchmark.sweeps` (``spec.trials()``,
``storage.trial_status``), which this layer never imports; the caller that may import it (``dbench report``)
passes each sweep as a :class:`SweepGrid` of :class:`TrialState` (a plain description of every trial), and
this module turns those into the grid table and the missing evaluations of the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from benchmark.reports.results import add_identity

#: Trial states, in the order the page lists them.
STATES = ("not started", "unfinished", "failed", "not evaluated", "complete")
SPEC_FILE = "sweep.json"  # written by the sweep into <storage>/<name>/ (benchmark.sweeps.tune.run_sweep)


@dataclass(frozen=True)
class TrialState:
    """One trial of a sweep's grid: its id (the ``run.id`` of its records), resolved training config (a
    ``TrainConfig.to_dict()``), state (one of :data:`STATES`) and a line saying why."""

    trial_id: str
    config: Mapping[str, Any]
    state: str
    detail: str = ""
    missing: tuple[str, ...] = ()  # "<representation>__<metric>" without a record

    @classmethod
    def from_status(cls, trial_id: str, config: Mapping[str, Any], started: bool, status: Mapping[str, Any]):
        """Classify a trial from ``benchmark.sweeps.storage.trial_status`` (keys ``trained``, ``records``,
        ``failed``, ``missing``) and whether its run directory exists (``started``)."""
        failed = tuple(sorted(Path(p).stem for p in status.get("failed", ())))
        missing = tuple(status.get("missing", ()))
        n_expected = len(status.get("records", ())) + len(missing)
        present = f"{len(status.get('records', ()))} of {n_expected} records present"
        if not started and not status.get("records"):
            return cls(trial_id, dict(config), "not started", "no run directory and no record", missing)
        if not status.get("trained"):
            return cls(trial_id, dict(config), "unfinished", f"training did not reach its step budget (no done.json); "
                       f"{present}", missing)
        if failed:
            more = f"; missing: {', '.join(missing)}" if missing else ""
            return cls(trial_id, dict(config), "failed", f"failed records: {', '.join(failed)}{more}", missing)
        if missing:
            what = "no record" if len(missing) == n_expected else f"missing: {', '.join(missing)}"
            return cls(trial_id, dict(config), "not evaluated", f"trained; {what}", missing)
        return cls(trial_id, dict(config), "complete", present, ())


@dataclass(frozen=True)
class SweepGrid:
    """A sweep's expected grid: its name, the ``sweep.json`` read, its results folder, and every trial.
    ``error`` (with no trials) says why the spec could not be expanded; the report then infers as for a
    plain results folder."""

    name: str
    spec_path: str
    results_dir: str
    trials: tuple[TrialState, ...] = ()
    error: str = ""

    @property
    def incomplete(self) -> list[TrialState]:
        return [t for t in self.trials if t.state != "complete"]

    @property
    def known(self) -> bool:
        return not self.error

    def counts(self) -> dict[str, int]:
        """Trials per state, in :data:`STATES` order (states no trial is in are left out)."""
        states = [t.state for t in self.trials]
        return {s: states.count(s) for s in STATES if s in states}

    def summary(self) -> str:
        """``"6 trials expected: 2 complete, 4 not started"``."""
        return f"{len(self.trials)} trials expected: " + ", ".join(f"{n} {s}" for s, n in self.counts().items())


def sweep_root(path: str | os.PathLike) -> Path | None:
    """The sweep folder a report source belongs to: ``path`` itself when it holds ``sweep.json`` (a sweep's
    storage folder), its parent when ``path`` is that sweep's ``results`` folder; None for anything else."""
    path = Path(path)
    if (path / SPEC_FILE).is_file():
        return path
    if path.name == "results" and (path.parent / SPEC_FILE).is_file():
        return path.parent
    return None


def results_source(path: str | os.PathLike) -> Path:
    """Where the records of a report source are: a sweep folder's ``results``, else the path itself."""
    root = sweep_root(path)
    return root / "results" if root is not None and Path(path) == root else Path(path)


def grid_table(grids: Sequence[SweepGrid]) -> pd.DataFrame:
    """One row per trial of every known grid: ``sweep``, ``trial``, ``dataset``, ``model``, ``hparam.name``,
    ``hparam``, ``seed``, ``state``, ``detail``; rows by state (:data:`STATES` order), then trial id."""
    rows = [{"sweep": g.name, "run.id": t.trial_id, "eval.representation": "", "state": t.state, "detail": t.detail,
             **{f"config.{k}": v for k, v in t.config.items()}} for g in grids for t in g.trials]
    cols = ["sweep", "trial", "dataset", "model", "hparam.name", "hparam", "seed", "state", "detail"]
    if not rows:
        return pd.DataFrame(columns=cols)
    table = add_identity(pd.DataFrame(rows)).rename(columns={"run.id": "trial"})
    order = {s: i for i, s in enumerate(STATES)}
    table = table.sort_values(["state", "trial"], key=lambda s: s.map(order) if s.name == "state" else s, kind="stable")
    return table[cols].reset_index(drop=True)


def grid_problems(grids: Sequence[SweepGrid], group_by: Sequence[str], representations: Sequence[str] = ()) -> list[dict]:
    """Problem rows (``kind`` "missing") for every record a grid expects and no file holds: one per trial,
    representation and metric, with the trial's state as ``detail``."""
    rows = []
    for g in grids:
        for t in g.incomplete:
            for item in t.missing:
                rep, metric = item.split("__", 1)
                rows.append({"run.id": t.trial_id, "eval.representation": rep, "metric": metric,
                             "detail": f"sweep {g.name}: trial {t.state}",
                             **{f"config.{k}": v for k, v in t.config.items()}})
    if not rows:
        return []
    table = add_identity(pd.DataFrame(rows))
    if representations:  # a report over some representations only (none of this grid's others)
        table = table[table["representation"].isin(list(representations))]
    out = []
    for _, r in table.iterrows():
        base = {g: r.get(g, float("nan")) for g in group_by}
        out.append({"kind": "missing", **base, "seed": r["seed"], "run": r["run"], "representation": r["representation"],
                    "metric": r["metric"], "detail": r["detail"]})
    return out


@dataclass
class GridSummary:
    """What the page and the CLI say about the grids: counts per state and whether anything can be missing."""

    grids: list[SweepGrid] = field(default_factory=list)
    plain_sources: list[str] = field(default_factory=list)  # results folders that are no (readable) sweep

    @property
    def complete(self) -> bool:
        """True only when every source is a sweep with a readable spec and every trial is complete."""
        return bool(self.grids) and not self.plain_sources and all(g.known and not g.incomplete for g in self.grids)

