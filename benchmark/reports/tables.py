"""Comparison statistics: aggregation over seeds, failed and missing evaluations, a ranking view, and how much
of a metric's variance the hyperparameter explains (the rest is the seed's). Writers: :mod:`.paper`.

Statistics per group (default: dataset, model, hyperparameter value, representation) and metric key:
the number of seeds ``n`` with a value, the mean and the *sample* standard deviation (``ddof = 1``,
NaN for a single seed), the median, the 25th and 75th percentiles (numpy's default linear
interpolation) and the interquartile range ``iqr = q75 − q25``. Evaluations that failed or are missing
are counted per group and metric (``n_failed``, ``n_missing``) and listed by :func:`problems_table`;
they never vanish silently.

"Missing" is known exactly for a sweep (its expected grid, :mod:`.grid`). For plain results folders it is
inferred from the records themselves: a run that has records for some metrics of its dataset but not for
another is missing that metric, and a setting that lacks a seed other settings of the same (dataset, model)
have is missing that seed (all its metrics). A trial that left no record at all cannot be inferred.
"""

from __future__ import annotations

import html as _html
from typing import Sequence

import numpy as np
import pandas as pd

from benchmark.metrics import HEADLINE_KEYS, METRIC_SETS, METRICS, direction, key_info, owner
from benchmark.reports.grid import SweepGrid, grid_problems
from benchmark.reports.results import load_results, metric_columns, runs_table

#: Default grouping of runs into settings.
DEFAULT_GROUP_BY = ("dataset", "model", "hparam", "representation")
#: Group columns that split tables into separate blocks (one table per dataset and representation).
BLOCK_COLUMNS = ("dataset", "representation")
#: The metrics of a paper table, each shown by its first headline key (Locatello et al. 2019's six scores and the
#: reconstruction error); the labels, directions and keys come from the registry's metadata.
PAPER_METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity", "reconstruction")
#: At most this many metric columns in one paper table (more are split over several tables).
MAX_PAPER_COLUMNS = 7

STATS = ("n", "n_failed", "n_missing", "mean", "std", "median", "q25", "q75", "iqr", "min", "max")

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
    # the non-ASCII characters of labels and captions, so the tables compile in any document
    "β": r"$\beta$", "γ": r"$\gamma$", "λ": r"$\lambda$", "μ": r"$\mu$", "σ": r"$\sigma$", "±": r"$\pm$",
    "↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$", "−": "-", "–": "--", "—": "---", "≤": r"$\leq$",
    "≥": r"$\geq$", "…": r"\ldots{}", "·": r"$\cdot$",
}


def metric_label(key: str, fmt: str = "text") -> str:
    """Metric name with its direction arrow: ``mig ↑`` (text/md/html) or ``mig $\\uparrow$`` (tex)."""
    key = key.removeprefix("metric.")
    arrows = {1: r" $\uparrow$", -1: r" $\downarrow$", 0: ""} if fmt == "tex" else {1: " ↑", -1: " ↓", 0: ""}
    return _escape(key, fmt) + arrows[direction(key)]


def paper_label(key: str, fmt: str = "text") -> str:
    """The name papers use for a metric key (``MetricKey.label``: ``β-VAE score``, ``DCI-D``) with its direction
    arrow, escaped for ``fmt``; the key itself for a key no registered metric declares."""
    key = key.removeprefix("metric.")
    info = key_info(key)
    arrow = {1: " ↑", -1: " ↓", 0: ""}[direction(key)]
    return _escape((info.label if info is not None else key) + arrow, fmt)


def latex_escape(text: object) -> str:
    """Escape LaTeX's special characters so names like ``mig_sampled`` compile as text; the few non-ASCII
    characters of labels and captions (β, ±, ↑, –) become their LaTeX commands."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def markdown_escape(text: object) -> str:
    """Escape the characters that would break a pipe table or start emphasis, and HTML (Markdown passes it on)."""
    text = _html.escape(str(text), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _escape(text: str, fmt: str) -> str:
    """``text`` escaped for ``fmt``: "tex", "md" or "html"; "text" leaves it as it is."""
    return {"tex": latex_escape, "md": markdown_escape, "html": _html.escape}.get(fmt, str)(text)


# ---------------------------------------------------------------------------------- selection and aggregation
def select_metrics(runs: pd.DataFrame, metrics: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Resolve a metric selection into metric keys (without the ``metric.`` prefix) present in ``runs``.

    ``None`` gives the :data:`benchmark.metrics.HEADLINE_KEYS` present, followed by the keys of any metric
    this suite does not know (so new metrics are never hidden). ``["all"]`` gives every key, per-factor ones
    included. Otherwise each entry is a key (``dci.disentanglement``) or a metric name (``dci``: every
    non-per-factor key it wrote). An unknown entry raises ``ValueError`` listing the available keys.
    """
    available = [c.removeprefix("metric.") for c in metric_columns(runs)]
    owners: dict[str, list[str]] = runs.attrs.get("metric_keys", {})
    if metrics is None:
        chosen = [k for k in HEADLINE_KEYS if k in available]
        owner_of = {k: m for m, ks in owners.items() for k in ks}
        chosen += [k for k in available if owner_of.get(k, owner(k)) not in METRICS and k not in chosen]
        return chosen or available
    metrics = [m.strip() for m in metrics if m and m.strip()]
    if metrics == ["all"]:
        return available
    chosen: list[str] = []
    for m in metrics:
        if m in available:
            keys = [m]
        elif m in owners:
            keys = [k for k in HEADLINE_KEYS if k in owners[m]] or owners[m]
        else:
            raise ValueError(f"unknown metric {m!r} for --metrics; the records hold these keys: {', '.join(available)} "
                             f"(or metric names: {', '.join(sorted(owners))}, or 'all')")
        chosen += [k for k in keys if k not in chosen]
    return chosen


def paper_metrics(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[str]:
    """The metric keys of the paper tables and comparison figures.

    ``None``: the first headline key of each of :data:`PAPER_METRICS` present (``beta_vae.eval_accuracy``,
    ``factor_vae.eval_accuracy``, ``mig``, ``dci.disentanglement``, ``sap``, ``modularity``,
    ``reconstruction.bernoulli_nll``), then, up to :data:`MAX_PAPER_COLUMNS`, the first headline key of the study's
    other metrics present (``mig_sampled``, the unsupervised scores), then the keys of metrics this suite does not
    know; then the first headline key of every metric of the extended set present (IRS, MIG-sup, ... DCI-ES: records
    scored with ``--metrics extended`` show them, in further tables of at most :data:`MAX_PAPER_COLUMNS` columns).
    Otherwise :func:`select_metrics` of ``metrics`` (any number: the tables split them).
    """
    if metrics is not None:
        return select_metrics(runs, metrics)
    available = set(select_metrics(runs, ["all"]))
    first = {}
    for key in HEADLINE_KEYS:
        if key in available:
            first.setdefault(owner(key), key)
    chosen = [first[m] for m in PAPER_METRICS if m in first]
    chosen += [k for m, k in first.items() if m not in PAPER_METRICS and m in METRIC_SETS["all"]]
    chosen += [k for k in select_metrics(runs) if owner(k) not in METRICS and k not in chosen]
    chosen = chosen[:MAX_PAPER_COLUMNS] + [k for m, k in first.items() if m not in METRIC_SETS["all"]]
    return chosen or select_metrics(runs)


def _check_group_by(runs: pd.DataFrame, group_by) -> list[str]:
    group_by = list(group_by)
    missing = [g for g in group_by if g not in runs.columns]
    if missing:
        usable = [c for c in runs.columns if not c.startswith("metric.")]
        raise ValueError(f"cannot group by {', '.join(missing)}: no such column; choose from {', '.join(usable)}")
    return group_by


def _problem_rows(runs: pd.DataFrame, group_by: list[str], grids: Sequence[SweepGrid] = ()) -> pd.DataFrame:
    """One row per failed or missing evaluation: kind, group columns, seed, run, metric, detail. With ``grids``
    (the sweeps' expected grids) every record they expect and no file holds is missing, and no seed is inferred."""
    errors: dict[tuple[str, str, str], str] = runs.attrs.get("errors", {})
    expected_by_dataset = runs.attrs.get("expected_metrics", {})
    rows = []
    splits = zip(runs.iterrows(), runs["metrics.ok"].str.split(","), runs["metrics.failed"].str.split(","))
    for (_, r), ok, failed in splits:
        ok, failed = set(ok) - {""}, set(failed) - {""}
        base = {g: r[g] for g in group_by} | {"seed": r.get("seed"), "run": r["run"],
                                               "representation": r["representation"]}
        rows += [{"kind": "failed", **base, "metric": m, "detail": errors.get((r["run"], r["representation"], m), "")}
                 for m in sorted(failed)]
        rows += [{"kind": "missing", **base, "metric": m, "detail": "no record for this run"}
                 for m in sorted(set(expected_by_dataset.get(r["dataset"], ())) - ok - failed)]
    known = [g for g in grids if g.known]
    if known:
        rows += grid_problems(known, group_by)
    else:
        rows += _missing_seeds(runs, group_by, expected_by_dataset)
    cols = list(dict.fromkeys(["kind", *group_by, "seed", "run", "representation", "metric", "detail"]))
    table = pd.DataFrame(rows, columns=cols)
    return table.drop_duplicates(["kind", "run", "representation", "metric"]).reset_index(drop=True)


def _missing_seeds(runs: pd.DataFrame, group_by: list[str], expected_by_dataset: dict) -> list[dict]:
    """Seeds that other settings of the same (dataset, model) have but this setting lacks (all their metrics)."""
    family = [c for c in ("dataset", "model") if c in group_by]
    if "seed" not in runs or not runs["seed"].notna().any() or "seed" in group_by:
        return []
    rows = []
    all_metrics = sorted(runs.attrs.get("metric_keys", {}))
    fam_seeds = ({k: set(s.dropna()) for k, s in runs.groupby(family)["seed"]} if family
                 else {(): set(runs["seed"].dropna())})
    for key, g in runs.groupby(group_by, dropna=False):
        labels = dict(zip(group_by, key))
        expected = fam_seeds[tuple(labels[c] for c in family)]
        expected_m = set(expected_by_dataset.get(labels.get("dataset"), all_metrics))
        rows += [{"kind": "missing", **labels, "seed": s, "run": "",
                  "representation": labels.get("representation", ""), "metric": m,
                  "detail": "seed present in other settings of this dataset and model"}
                 for s in sorted(expected - set(g["seed"].dropna())) for m in sorted(expected_m)]
    return rows


def problems_table(runs: pd.DataFrame, group_by=DEFAULT_GROUP_BY, grids: Sequence[SweepGrid] = ()) -> pd.DataFrame:
    """Every failed or missing evaluation, one row each: ``kind`` ("failed"/"missing"), the group
    columns, ``seed``, ``run``, ``metric`` (the metric name, e.g. ``dci``) and ``detail`` (the record's
    ``error`` for failures; the trial's state for a record a sweep's grid expects). Empty when everything
    evaluated."""
    return _problem_rows(runs, _check_group_by(runs, group_by), grids)


def aggregate(runs: pd.DataFrame, *, group_by=DEFAULT_GROUP_BY, metrics=None, grids: Sequence[SweepGrid] = (),
              problems: pd.DataFrame | None = None) -> pd.DataFrame:
    """Statistics over seeds of the per-run table ``runs`` per setting (the ``group_by`` columns) and metric key
    (a ``metrics`` selection for :func:`select_metrics`), in long form.

    Columns: the group columns, ``metric`` (key without prefix), ``eval_metric`` (the metric that wrote it),
    ``direction`` (+1/−1/0) and :data:`STATS`: ``n`` seeds with a value, ``n_failed`` and ``n_missing``
    evaluations of that metric in the group, ``mean``, ``std`` (sample, ddof = 1), ``median``, ``q25``, ``q75``,
    ``iqr``, ``min``, ``max``. One row per (group, metric), groups in sorted order, metrics in selection order.
    ``grids``: the sweeps' expected grids (see :func:`problems_table`); ``problems``: that table, if already made.
    """
    group_by = _check_group_by(runs, group_by)
    keys = select_metrics(runs, metrics)
    if not keys:
        raise ValueError("the records hold no metric values (every evaluation failed?); see the failures table")
    cols = [f"metric.{k}" for k in keys]
    grouped = runs.groupby(group_by, sort=True, dropna=False)[cols]
    stats = {
        "n": grouped.count(), "mean": grouped.mean(), "std": grouped.std(ddof=1), "median": grouped.median(),
        "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75), "min": grouped.min(), "max": grouped.max(),
    }
    long = (pd.concat(stats, axis=1).rename(columns=lambda c: c.removeprefix("metric."), level=1)
            .stack(level=1, future_stack=True).reset_index().rename(columns={f"level_{len(group_by)}": "metric"}))
    long["iqr"] = long["q75"] - long["q25"]
    long["direction"] = long["metric"].map(direction)

    # failed / missing counts per (group, metric key): a key belongs to the metric that wrote it.
    problems = _problem_rows(runs, group_by, grids) if problems is None else problems
    owner_of = {k: m for m, ks in runs.attrs.get("metric_keys", {}).items() for k in ks}
    long["eval_metric"] = long["metric"].map(owner_of).fillna("")
    for kind in ("failed", "missing"):
        counts = (problems[problems["kind"] == kind].rename(columns={"metric": "eval_metric"})
                  .groupby([*group_by, "eval_metric"], dropna=False).size().rename(f"n_{kind}").reset_index())
        long = long.merge(counts, on=[*group_by, "eval_metric"], how="left")
        long[f"n_{kind}"] = long[f"n_{kind}"].fillna(0).astype(int)
    long["n"] = long["n"].astype(int)
    order = {k: i for i, k in enumerate(keys)}
    long = long.sort_values([*group_by, "metric"], key=lambda s: s.map(order) if s.name == "metric" else s,
                            kind="stable").reset_index(drop=True)
    long = long[[*group_by, "metric", "eval_metric", "direction", *STATS]]
    long.attrs = {"group_by": group_by, "metrics": keys, "problems": problems}
    return long


def ranking(agg: pd.DataFrame) -> pd.DataFrame:
    """Rank the settings within each block (dataset, representation) on every scored metric.

    Rank 1 is the best mean in the metric's direction; ties share the lowest rank (``method="min"``);
    a setting without a value for a metric gets no rank there. ``mean_rank`` averages a setting's ranks
    over the metrics it has; rows are sorted by block, then ``mean_rank``. Descriptive keys
    (direction 0) are not ranked.
    """
    group_by = agg.attrs.get("group_by", list(DEFAULT_GROUP_BY))
    blocks = [c for c in BLOCK_COLUMNS if c in group_by]
    settings = [c for c in group_by if c not in blocks]
    scored = agg[agg["direction"] != 0].assign(_signed=lambda a: a["mean"] * a["direction"])
    scored["rank"] = scored.groupby([*blocks, "metric"], dropna=False)["_signed"].rank(ascending=False, method="min")
    # unstack (not pivot_table) so only settings that exist become rows
    wide = scored.set_index([*blocks, *settings, "metric"])["rank"].unstack("metric")
    metric_order = [m for m in agg.attrs.get("metrics", wide.columns) if m in wide.columns]
    wide = wide[metric_order].assign(mean_rank=lambda w: w.mean(axis=1)).reset_index()
    wide = wide.sort_values([*blocks, "mean_rank"], kind="stable").reset_index(drop=True)
    wide.columns.name = None
    wide.attrs = {"metrics": metric_order}
    return wide


def variance_shares(runs: pd.DataFrame, metrics: Sequence[str], representation: str | None = None) -> pd.DataFrame:
    """How much of each metric's variance over the runs of a method comes from its hyperparameter, and how much
    from the seed (Locatello et al. 2019, §5: the random seed matters as much as the hyperparameter): a one-way
    decomposition of the sum of squares over settings, SS_total = SS_between + SS_within.

    One row per (dataset, model, metric), plus ``model`` = "all methods" where the settings are (model,
    hyperparameter): ``n_runs``, ``n_settings``, ``hparam_share`` = SS_between / SS_total (η², in [0, 1]) and
    ``seed_share`` = 1 − it. Rows need at least two settings, a setting with two seeds and some variance.
    """
    data = runs if representation is None else runs[runs["representation"] == representation]
    cols = [f"metric.{k}" for k in metrics if f"metric.{k}" in data]
    rows = []
    for dataset, d in data.groupby("dataset", sort=True):
        families = [(m, g, ["hparam"]) for m, g in d.groupby("model", sort=True)] + [("all methods", d, ["model", "hparam"])]
        for model, g, by in families:
            setting = g.groupby(by, dropna=False).ngroup().to_numpy()
            for col in cols:  # one column at a time: each has its own missing values
                x = g[col].to_numpy(dtype=float)
                ok = np.isfinite(x)
                x, s_ = x[ok], setting[ok]
                counts = np.bincount(s_, minlength=setting.max() + 1) if x.size else np.zeros(1, int)
                if (counts > 0).sum() < 2 or counts.max() < 2:
                    continue
                means = np.bincount(s_, weights=x, minlength=counts.size) / np.maximum(counts, 1)
                total = float(((x - x.mean()) ** 2).sum())
                if total <= 0:
                    continue
                between = float(((means[s_] - x.mean()) ** 2).sum())
                rows.append({"dataset": dataset, "model": model, "metric": col.removeprefix("metric."), "n_runs": x.size,
                             "n_settings": int((counts > 0).sum()), "hparam_share": between / total,
                             "seed_share": 1 - between / total})
    cols = ["dataset", "model", "metric", "n_runs", "n_settings", "hparam_share", "seed_share"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------------- the sweep's summary
def results_table(results_dir) -> pd.DataFrame | None:
    """The records of a results directory as one row per run (dataset, model, hyperparameter, seed) and one
    column per ``<representation>/<headline key>`` of each metric; None when there are no ``ok`` records yet.

    :func:`benchmark.reports.results.runs_table` merges the records of each run; a metric's headline key is
    the first of :data:`benchmark.metrics.HEADLINE_KEYS` it wrote (else its key named like the metric, else
    its shortest key). What a sweep prints at its end.
    """
    records = load_results(results_dir)
    if not (records["status"] == "ok").any():
        return None
    runs = runs_table(records)
    heads = [next((k for k in HEADLINE_KEYS if k in keys), metric if metric in keys else min(keys, key=len))
             for metric, keys in runs.attrs["metric_keys"].items() if keys]  # no keys: only failed records
    ids = {"dataset": runs["dataset"], "model": runs["model"], "hyper": runs["hparam"], "seed": runs["seed"]}
    parts = [pd.DataFrame({**ids, "column": runs["representation"] + "/" + key,
                           "value": runs[f"metric.{key}"].astype(float)}) for key in heads]
    long = pd.concat(parts).dropna(subset=["value"]) if parts else None
    if long is None or long.empty:
        return None
    return long.pivot_table(index=["dataset", "model", "hyper", "seed"], columns="column", values="value",
                            aggfunc="first").sort_index()
