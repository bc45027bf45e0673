"""Loading result records into pandas, and the per-run table the reports are built from.

A result record (docs/RESULTS.md) is one JSON object per (run, representation, metric), stored as
``RESULTS_DIR/<run.id>/<representation>__<metric>.json`` with flat namespaced keys (``status``,
``run.id``, ``eval.metric``, ``eval.representation``, ``metric.<key>``, ``protocol.*``, ``config.*``,
``dataset.*``, ``env.*``). :func:`load_results` turns any number of results directories into one
DataFrame with one row per record file; :func:`runs_table` pivots the records of one
(run, representation) into one row of metric columns, which is what tables and figures consume.
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
    """Load every result record under one or several results directories.

    Parameters
    ----------
    paths:
        A results directory, or several. Records are read from ``<dir>/<run.id>/*.json`` (the layout
        :mod:`benchmark.records` defines); hidden files (atomic-write temporaries) are ignored.
        A path may also name a single record file.
    warn:
        Emit one ``UserWarning`` naming the unreadable files, if any.

    Returns
    -------
    pandas.DataFrame
        One row per readable record file, one column per key found in any record (absent keys are
        NaN), plus ``record.path`` (the file it came from). Rows are in sorted path order.
        ``df.attrs["unreadable"]`` is a list of :class:`UnreadableRecord` — files that are not valid
        JSON or that :func:`benchmark.records.validate` rejects (not a JSON object, a required key missing
        or of the wrong type, an unsupported ``record.schema`` or ``status``, a ``metric.*`` value that is
        not a number) — which are skipped rather than fatal. ``df.attrs["sources"]`` lists the
        directories read. An empty directory gives an empty DataFrame (callers decide whether that
        is an error).

    Raises
    ------
    FileNotFoundError
        If a given path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("load_results: give at least one results directory")
    files: list[str] = []
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(
                f"results directory {str(root)!r} does not exist; pass the --results directory of "
                "`dbench evaluate` (it holds <run.id>/<representation>__<metric>.json files)"
            )
        files.extend(record_files(root))
    files = sorted(set(files))

    rows: list[dict] = []
    unreadable: list[UnreadableRecord] = []
    finished_steps: dict = {}
    for path in files:
        record, reason = read_record(path)
        reason = reason or stale_reason(record, finished_steps)  # a stale record is never mixed in
        if reason:
            unreadable.append(UnreadableRecord(path, reason))
        else:
            record["record.path"] = path
            rows.append(record)

    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=[*REQUIRED_KEYS, "record.path"])
    df.attrs["unreadable"] = unreadable
    df.attrs["sources"] = [str(p) for p in paths]
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

    One record holds one metric's keys, so the records of the same ``run.id`` and
    ``eval.representation`` are merged: ``metric.*`` values are taken from the ``ok`` records, run-level
    columns (``config.*``, ``dataset.*``, ``env.*``, ``run.dir``, ``protocol.*``) from the first record
    that has them. When the same (run, representation, metric) appears in more than one file (e.g.
    two results directories), the record with the latest ``eval.timestamp`` wins and the number of
    superseded records is kept in ``attrs["duplicates"]``.

    Added identity columns: ``run`` (= ``run.id``), ``representation``, ``dataset``
    (``dataset.name``, else ``config.dataset``), ``model`` (``config.model``), ``seed``
    (``config.seed``), ``hparam.name`` (the method's study axis, ``benchmark.config.METHODS``: ``beta``
    for ``beta_vae``, ``c_max`` for ``annealed_vae``) and ``hparam`` (its value; NaN for a method not
    listed there). Bookkeeping columns: ``metrics.ok`` and ``metrics.failed`` (sorted comma-separated
    metric names) and ``n_failed``.
    """
    if records.empty:
        raise ValueError("no result records to report (the results directories hold no record files)")
    df = records
    if "eval.timestamp" in df.columns:
        df = df.sort_values(["eval.timestamp", "record.path"], na_position="first", kind="stable")
    dup = df.duplicated(["run.id", "eval.representation", "eval.metric"], keep="last")
    duplicates = int(dup.sum())
    df = df.loc[~dup]

    group = ["run.id", "eval.representation"]
    ok = df["status"] == "ok"
    mcols = metric_columns(df)
    other = [c for c in df.columns if c not in mcols and c not in ("status", "error", "record.path")
             and not c.startswith("eval.")]
    # groupby.first takes the first non-null value per column: metric values only exist in their own
    # record, and run-level columns are identical across a run's records.
    base = df.groupby(group, sort=True)[[c for c in other if c not in group]].first()
    if mcols:
        values = df.loc[ok].groupby(group, sort=True)[mcols].first()
        base = base.join(values, how="left")
    for col, sel in (("metrics.ok", ok), ("metrics.failed", ~ok)):
        names = df.loc[sel].groupby(group)["eval.metric"].agg(lambda s: ",".join(sorted(s)))
        base[col] = names.reindex(base.index).fillna("")
    base["n_failed"] = df.loc[~ok].groupby(group).size().reindex(base.index).fillna(0).astype(int)
    base = _add_identity(base.reset_index())
    base.attrs = dict(records.attrs)
    base.attrs["duplicates"] = duplicates
    base.attrs.update(_evaluation_attrs(base, df, ok, mcols))
    return base


def _add_identity(base: pd.DataFrame) -> pd.DataFrame:
    """The identity columns of :func:`runs_table` (run, representation, dataset, model, seed, hparam)."""
    base["run"] = base["run.id"]
    base["representation"] = base["eval.representation"]
    dataset = base["dataset.name"] if "dataset.name" in base else pd.Series(np.nan, index=base.index)
    if "config.dataset" in base:
        dataset = dataset.fillna(base["config.dataset"])
    base["dataset"] = dataset.fillna("unknown")
    base["model"] = base["config.model"].fillna("unknown") if "config.model" in base else "unknown"
    base["seed"] = base["config.seed"] if "config.seed" in base else np.nan
    axis = {model: method.study_axis for model, method in METHODS.items()}
    base["hparam.name"] = base["model"].map(axis).fillna("")
    hp = pd.Series(np.nan, index=base.index, dtype=float)
    for model, field in axis.items():
        col = f"config.{field}"
        if col in base:
            sel = base["model"] == model
            hp[sel] = pd.to_numeric(base.loc[sel, col], errors="coerce")
    base["hparam"] = hp
    return base


def _evaluation_attrs(base: pd.DataFrame, df: pd.DataFrame, ok: pd.Series, mcols: list[str]) -> dict:
    """Which metric wrote which keys, the error of each failed evaluation, and the metrics evaluated on each
    dataset: the tables use them to count failed and missing evaluations per metric key."""
    owners = {}
    for name, sub in df.loc[ok, ["eval.metric", *mcols]].groupby("eval.metric"):
        present = sub[mcols].notna().any()
        owners[name] = [c.removeprefix("metric.") for c in mcols if present[c]]
    for name in df["eval.metric"].unique():
        owners.setdefault(name, [])
    failed = df.loc[~ok]
    keys = zip(failed["run.id"], failed["eval.representation"], failed["eval.metric"])
    errors = {k: e if isinstance(e, str) else "" for k, e in zip(keys, failed.get("error", [""] * len(failed)))}
    ds = base.set_index(["run.id", "eval.representation"])["dataset"]
    rec_ds = ds.reindex(pd.MultiIndex.from_frame(df[["run.id", "eval.representation"]])).to_numpy()
    expected = {d: sorted(set(df["eval.metric"].to_numpy()[rec_ds == d])) for d in base["dataset"].unique()}
    return {"metric_keys": owners, "errors": errors, "expected_metrics": expected}
