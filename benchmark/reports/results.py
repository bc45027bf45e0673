"""Loading result records into pandas, and the per-run table the reports are built from.

A result record (docs/RESULTS.md) is one JSON object with flat namespaced keys per (run, representation,
metric). :func:`load_results` turns any number of results directories into one DataFrame with one row per
record file; :func:`runs_table` pivots the records of one (run, representation) into one row of metric
columns, which is what tables and figures consume.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from benchmark.config import METHODS
from benchmark.records import REQUIRED_KEYS, read_record, record_files, stale_reason


class UnreadableRecord(NamedTuple):
    """A record file that could not be used, and why (kept in ``DataFrame.attrs["unreadable"]``)."""

    path: str
    reason: str


def load_results(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, warn: bool = True
) -> pd.DataFrame:
    """Load every result record under one or several results directories (or record files).

    Records are read from ``<dir>/<run.id>/*.json`` (the layout :mod:`benchmark.records` defines); hidden
    files (atomic-write temporaries) are ignored. Returns one row per readable record file, in sorted path
    order, one column per key found in any record (absent keys are NaN), plus ``record.path`` (the file it
    came from). Unreadable files are skipped rather than fatal and listed in ``df.attrs["unreadable"]`` as
    :class:`UnreadableRecord` (``warn``: one ``UserWarning`` naming them): not valid JSON, or rejected by
    :func:`benchmark.records.validate` (not a JSON object, a required key missing or of the wrong type, an
    unsupported ``record.schema`` or ``status``, a ``metric.*`` value that is not a number).
    ``df.attrs["sources"]`` lists the directories read. An empty directory gives an empty DataFrame (callers
    decide whether that is an error); a path that does not exist raises ``FileNotFoundError``.
    """
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("load_results: give at least one results directory")
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(f"results directory {str(root)!r} does not exist; pass the --results directory "
                                    "of `dbench evaluate` (it holds <run.id>/<representation>__<metric>.json files)")
    files = sorted({path for root in paths for path in record_files(root)})

    rows: list[dict] = []
    unreadable: list[UnreadableRecord] = []
    finished_steps: dict = {}
    for path in files:
        record, reason = read_record(path)
        reason = reason or stale_reason(record, finished_steps)  # a stale record is never mixed in
        if reason:
            unreadable.append(UnreadableRecord(path, reason))
        else:
            rows.append({**record, "record.path": path})

    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=[*REQUIRED_KEYS, "record.path"])
    df.attrs = {"unreadable": unreadable, "sources": [str(p) for p in paths]}
    if unreadable and warn:
        listed = "; ".join(f"{u.path}: {u.reason}" for u in unreadable[:10])
        more = f" (and {len(unreadable) - 10} more)" if len(unreadable) > 10 else ""
        warnings.warn(f"skipped {len(unreadable)} unreadable result record(s): {listed}{more}", stacklevel=2)
    return df


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The ``metric.*`` columns of a records or runs table, in a stable order."""
    return [c for c in df.columns if isinstance(c, str) and c.startswith("metric.")]


def runs_table(records: pd.DataFrame) -> pd.DataFrame:
    """Pivot records into one row per (run, representation) with one column per metric key.

    One record holds one metric's keys, so the records of the same ``run.id`` and ``eval.representation`` are
    merged: ``metric.*`` values are taken from the ``ok`` records, run-level columns (``config.*``,
    ``dataset.*``, ``env.*``, ``run.dir``, ``protocol.*``) from the first record that has them. When the same
    (run, representation, metric) appears in more than one file (e.g. two results directories), the record
    with the latest ``eval.timestamp`` wins; ``attrs["duplicates"]`` counts the superseded ones.

    Added identity columns: ``run`` (= ``run.id``), ``representation``, ``dataset`` (``dataset.name``, else
    ``config.dataset``), ``model`` (``config.model``; the ``run.id`` of a model the suite did not train, a record
    with ``run.encoder_kind``), ``seed`` (``config.seed``), ``hparam.name`` (the
    method's study axis, ``benchmark.config.METHODS``: ``beta`` for ``beta_vae``, ``c_max`` for
    ``annealed_vae``) and ``hparam`` (its value; NaN for a method not listed there). Bookkeeping columns:
    ``metrics.ok`` and ``metrics.failed`` (sorted comma-separated metric names) and ``n_failed``.
    """
    if records.empty:
        raise ValueError("no result records to report (the results directories hold no record files)")
    df = records
    if "eval.timestamp" in df.columns:
        df = df.sort_values(["eval.timestamp", "record.path"], na_position="first", kind="stable")
    dup = df.duplicated(["run.id", "eval.representation", "eval.metric"], keep="last")
    df = df.loc[~dup]

    group = ["run.id", "eval.representation"]
    ok = df["status"] == "ok"
    mcols = metric_columns(df)
    skip = {*mcols, *group, "status", "error", "record.path"}
    # groupby.first takes each column's first non-null value: metric values only exist in their own record,
    # and run-level columns are identical across a run's records.
    base = df.groupby(group, sort=True)[[c for c in df.columns if c not in skip and not c.startswith("eval.")]].first()
    if mcols:
        base = base.join(df.loc[ok].groupby(group, sort=True)[mcols].first(), how="left")
    for col, sel in (("metrics.ok", ok), ("metrics.failed", ~ok)):
        names = df.loc[sel].groupby(group)["eval.metric"].agg(lambda s: ",".join(sorted(s)))
        base[col] = names.reindex(base.index).fillna("")
    base["n_failed"] = df.loc[~ok].groupby(group).size().reindex(base.index).fillna(0).astype(int)
    base = add_identity(base.reset_index())
    base.attrs = {**records.attrs, "duplicates": int(dup.sum()), **_evaluation_attrs(base, df, ok, mcols)}
    return base


def add_identity(base: pd.DataFrame) -> pd.DataFrame:
    """The identity columns of :func:`runs_table` (run, representation, dataset, model, seed, hparam) added to a
    table with ``run.id``, ``eval.representation`` and ``config.*`` columns (runs, or a sweep's expected trials)."""
    base["run"] = base["run.id"]
    base["representation"] = base["eval.representation"]
    dataset = base.get("dataset.name", pd.Series(np.nan, index=base.index, dtype=object))
    base["dataset"] = dataset.fillna(base.get("config.dataset", "unknown")).fillna("unknown")
    model = base["config.model"] if "config.model" in base else pd.Series(np.nan, index=base.index, dtype=object)
    if "run.encoder_kind" in base:  # a model the suite did not train has no method: it is its own setting
        model = model.where(base["run.encoder_kind"].isna(), base["run.id"])
    base["model"] = model.fillna("unknown")
    base["seed"] = base["config.seed"] if "config.seed" in base else np.nan
    axis = {model: method.study_axis for model, method in METHODS.items()}
    base["hparam.name"] = base["model"].map(axis).fillna("")
    base["hparam"] = np.nan
    for model, field in axis.items():
        if f"config.{field}" in base:
            sel = base["model"] == model
            base.loc[sel, "hparam"] = pd.to_numeric(base.loc[sel, f"config.{field}"], errors="coerce")
    return base


def _evaluation_attrs(base: pd.DataFrame, df: pd.DataFrame, ok: pd.Series, mcols: list[str]) -> dict:
    """Which metric wrote which keys, the error of each failed evaluation, and the metrics evaluated on each
    dataset: the tables use them to count failed and missing evaluations per metric key."""
    wrote = df.loc[ok, mcols].notna().groupby(df.loc[ok, "eval.metric"]).any()  # metric × key: has a value
    owners = {name: [c.removeprefix("metric.") for c in mcols if has[c]] for name, has in wrote.iterrows()}
    owners |= {name: [] for name in df["eval.metric"].unique() if name not in owners}  # only failed records
    failed = df.loc[~ok]
    keys = zip(failed["run.id"], failed["eval.representation"], failed["eval.metric"])
    errors = {k: e if isinstance(e, str) else "" for k, e in zip(keys, failed.get("error", [""] * len(failed)))}
    ds = base.set_index(["run.id", "eval.representation"])["dataset"]
    rec_ds = ds.reindex(pd.MultiIndex.from_frame(df[["run.id", "eval.representation"]])).to_numpy()
    expected = {d: sorted(set(df["eval.metric"].to_numpy()[rec_ds == d])) for d in base["dataset"].unique()}
    return {"metric_keys": owners, "errors": errors, "expected_metrics": expected}
