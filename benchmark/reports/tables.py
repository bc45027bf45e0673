"""Comparison tables: aggregation over seeds, a ranking view, and CSV / Markdown / LaTeX / HTML writers.

Statistics per group (default: dataset, model, hyperparameter value, representation) and metric key:
the number of seeds ``n`` with a value, the mean and the *sample* standard deviation (``ddof = 1``,
NaN for a single seed), the median, the 25th and 75th percentiles (numpy's default linear
interpolation) and the interquartile range ``iqr = q75 − q25``. Evaluations that failed or are missing
are counted per group and metric (``n_failed``, ``n_missing``) and listed by :func:`problems_table`;
they never vanish silently.

"Missing" is inferred from the records themselves, since a results directory does not carry the sweep
that produced it: a run that has records for some metrics of its dataset but not for another is missing
that metric, and a setting that lacks a seed other settings of the same (dataset, model) have is missing
that seed (all its metrics).
"""

from __future__ import annotations

import html as _html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.config import METHODS
from benchmark.metrics import HEADLINE_KEYS, METRICS, direction, owner
from benchmark.reports.results import load_results, metric_columns, runs_table

#: Default grouping of runs into settings.
DEFAULT_GROUP_BY = ("dataset", "model", "hparam", "representation")
#: Group columns that split tables into separate blocks (one table per dataset and representation).
BLOCK_COLUMNS = ("dataset", "representation")

STATS = ("n", "n_failed", "n_missing", "mean", "std", "median", "q25", "q75", "iqr", "min", "max")

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}


def metric_label(key: str, fmt: str = "text") -> str:
    """Metric name with its direction arrow: ``mig ↑`` (text/md/html) or ``mig $\\uparrow$`` (tex)."""
    key = key.removeprefix("metric.")
    arrows = {1: r" $\uparrow$", -1: r" $\downarrow$", 0: ""} if fmt == "tex" else {1: " ↑", -1: " ↓", 0: ""}
    return _escape(key, fmt) + arrows[direction(key)]


def latex_escape(text: object) -> str:
    """Escape LaTeX's special characters so names like ``mig_sampled`` compile as text."""
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


def _check_group_by(runs: pd.DataFrame, group_by) -> list[str]:
    group_by = list(group_by)
    missing = [g for g in group_by if g not in runs.columns]
    if missing:
        usable = [c for c in runs.columns if not c.startswith("metric.")]
        raise ValueError(f"cannot group by {', '.join(missing)}: no such column; choose from {', '.join(usable)}")
    return group_by


def _problem_rows(runs: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """One row per failed or missing evaluation: kind, group columns, seed, run, metric, detail."""
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
    # Seeds that other settings of the same (dataset, model) have but this setting lacks.
    family = [c for c in ("dataset", "model") if c in group_by]
    if "seed" in runs and runs["seed"].notna().any() and "seed" not in group_by:
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
    cols = list(dict.fromkeys(["kind", *group_by, "seed", "run", "representation", "metric", "detail"]))
    return pd.DataFrame(rows, columns=cols)


def problems_table(runs: pd.DataFrame, group_by=DEFAULT_GROUP_BY) -> pd.DataFrame:
    """Every failed or missing evaluation, one row each: ``kind`` ("failed"/"missing"), the group
    columns, ``seed``, ``run``, ``metric`` (the metric name, e.g. ``dci``) and ``detail`` (the record's
    ``error`` for failures). Empty when everything evaluated."""
    return _problem_rows(runs, _check_group_by(runs, group_by))


def aggregate(runs: pd.DataFrame, *, group_by=DEFAULT_GROUP_BY, metrics=None) -> pd.DataFrame:
    """Statistics over seeds of the per-run table ``runs`` per setting (the ``group_by`` columns) and metric key
    (a ``metrics`` selection for :func:`select_metrics`), in long form.

    Columns: the group columns, ``metric`` (key without prefix), ``eval_metric`` (the metric that wrote it),
    ``direction`` (+1/−1/0) and :data:`STATS`: ``n`` seeds with a value, ``n_failed`` and ``n_missing``
    evaluations of that metric in the group, ``mean``, ``std`` (sample, ddof = 1), ``median``, ``q25``, ``q75``,
    ``iqr``, ``min``, ``max``. One row per (group, metric), groups in sorted order, metrics in selection order.
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
    problems = _problem_rows(runs, group_by)
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


# ------------------------------------------------------------------------------- display: one table per block
@dataclass
class DisplayTable:
    """A rendered-agnostic table: header cells, body cells, bold mask, title and caption (plain text)."""

    title: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    bold: list[list[bool]]
    header_kind: list[str] = field(default_factory=list)  # "label" or a metric key per column


def _decimals(values: pd.Series) -> int:
    # three significant digits for the largest value of the column (0.0183, 0.412, 33.7, 126.1)
    m = np.nanmax(np.abs(values.to_numpy(dtype=float))) if values.notna().any() else 0.0
    if not np.isfinite(m) or m == 0:
        return 3
    return int(np.clip(2 - math.floor(math.log10(m)), 1, 6))


def _setting_label(row: pd.Series, settings: list[str], fmt: str) -> list[str]:
    return [_hparam_label(row[c], row.get("model", ""), fmt) if c == "hparam" else _escape(_value_text(row[c]), fmt)
            for c in settings]


def _value_text(v) -> str:
    return "—" if (not isinstance(v, str) and pd.isna(v)) else (f"{v:g}" if isinstance(v, float) else str(v))


def _hparam_label(v, model: str, fmt: str) -> str:
    """``β = 4`` (``$\\beta$ = 4`` in LaTeX); the bare value for a method without a study axis."""
    value = "—" if pd.isna(v) else f"{v:g}"
    method = METHODS.get(model)
    if method is None:
        return value
    axis = method.axis_label if fmt == "tex" else _escape(method.axis_text, fmt)  # figure label: mathtext
    return f"{axis} = {value}"


def display_tables(agg: pd.DataFrame, style: str = "mean_std", fmt: str = "md") -> list[DisplayTable]:
    """Cells of the comparison tables, one per (dataset, representation) block.

    ``style``: ``"mean_std"`` (mean ± sample std, ddof = 1) or ``"median_iqr"`` (median [q25, q75]).
    ``fmt``: escaping of names for ``"md"``, ``"tex"``, ``"html"`` or ``"text"``. Bold marks, per block
    and column, the best central value (mean or median) in the metric's direction, compared at the
    displayed precision so printed ties are all bold. A cell computed from fewer seeds than its row's
    ``n`` shows its own count; failed and missing evaluations of the row appear in their own column.
    """
    if style not in ("mean_std", "median_iqr"):
        raise ValueError(f"style must be 'mean_std' or 'median_iqr', got {style!r}")
    group_by = agg.attrs.get("group_by", list(DEFAULT_GROUP_BY))
    keys = agg.attrs.get("metrics", list(dict.fromkeys(agg["metric"])))
    blocks = [c for c in BLOCK_COLUMNS if c in group_by]
    settings = [c for c in group_by if c not in blocks]
    center = "mean" if style == "mean_std" else "median"
    decimals = {k: _decimals(agg.loc[agg["metric"] == k, center]) for k in keys}
    pm = {"tex": r" $\pm$ ", "md": " ± ", "html": " ± ", "text": " ± "}[fmt]
    tables = []
    block_iter = agg.groupby(blocks, sort=True, dropna=False) if blocks else [((), agg)]
    for bkey, b in block_iter:
        # one dict lookup per cell; DataFrame.loc per cell costs milliseconds each on 600-run tables
        cols_ = ["n", "n_failed", "n_missing", "mean", "std", "median", "q25", "q75"]
        lookup = {(_nan_safe(r[:len(settings)]), r[len(settings)]): dict(zip(cols_, r[len(settings) + 1:]))
                  for r in b[[*settings, "metric", *cols_]].itertuples(index=False, name=None)}
        setting_rows = [tuple(s) for s in b[settings].drop_duplicates().itertuples(index=False)] if settings else [()]
        eval_of = dict(zip(b["metric"], b["eval_metric"]))
        # best central value per metric at display precision
        best = {}
        for k in keys:
            vals = b.loc[(b["metric"] == k) & (b["n"] > 0), center].round(decimals[k])
            if direction(k) != 0 and len(vals):
                best[k] = vals.max() if direction(k) > 0 else vals.min()
        header = [*(_header_name(s, fmt) for s in settings), "n", "failed / missing",
                  *(metric_label(k, fmt) for k in keys)]
        rows, bold, ns = [], [], []
        for s in setting_rows:
            stat_rows = {k: lookup[(_nan_safe(s), k)] for k in keys}
            n_row = int(max(r["n"] for r in stat_rows.values()))
            # count evaluations, not keys: a failed dci evaluation blanks three dci.* columns
            per_eval = {eval_of.get(k, k): r for k, r in stat_rows.items()}
            nf, nm = (int(sum(r[c] for r in per_eval.values())) for c in ("n_failed", "n_missing"))
            ns.append(n_row)
            rows.append([*_setting_label(pd.Series(dict(zip(settings, s))), settings, fmt), str(n_row), f"{nf} / {nm}",
                         *(_stat_cell(stat_rows[k], center, decimals[k], pm, n_row) for k in keys)])
            bold.append([False] * (len(settings) + 2) + [
                stat_rows[k]["n"] > 0 and k in best and math.isclose(round(stat_rows[k][center], decimals[k]), best[k])
                for k in keys])
        title = ", ".join(f"{c} {v}" for c, v in zip(blocks, bkey)) if blocks else "all runs"
        tables.append(DisplayTable(title, _caption(style, ns, agg_block=b, title=title), header, rows, bold,
                                   header_kind=[*["label"] * (len(settings) + 2), *keys]))
    return tables


def _stat_cell(r: dict, center: str, dd: int, pm: str, n_row: int) -> str:
    """``mean ± std`` or ``median [q25, q75]`` at ``dd`` decimals, with its own n when below the row's."""
    if r["n"] == 0:
        return "—"
    if center == "mean":
        spread = "—" if pd.isna(r["std"]) else f"{r['std']:.{dd}f}"
        text = f"{r['mean']:.{dd}f}{pm}{spread}"
    else:
        text = f"{r['median']:.{dd}f} [{r['q25']:.{dd}f}, {r['q75']:.{dd}f}]"
    return text + (f" (n={int(r['n'])})" if r["n"] < n_row else "")


def _nan_safe(values) -> tuple:
    """A dict key for a setting: NaN (a method without hyperparameter) never equals itself, so a marker replaces it."""
    return tuple("<NaN>" if isinstance(v, float) and math.isnan(v) else v for v in values)


def _header_name(col: str, fmt: str) -> str:
    name = "hyperparameter" if col == "hparam" else col
    return name if fmt == "html" else _escape(name, fmt)


def _caption(style: str, ns: list[int], agg_block: pd.DataFrame, title: str) -> str:
    lo, hi = (min(ns), max(ns)) if ns else (0, 0)
    seeds = f"{hi} seeds" if lo == hi else f"{lo}–{hi} seeds (column n)"
    # one count per (setting, evaluated metric), not per key
    per_eval = agg_block.drop_duplicates([c for c in agg_block.columns if c not in ("metric", "direction", *STATS)])
    nf, nm = int(per_eval["n_failed"].sum()), int(per_eval["n_missing"].sum())
    what = (f"Mean ± sample standard deviation (ddof = 1) over {seeds} per setting" if style == "mean_std"
            else f"Median [25th, 75th percentile] over {seeds} per setting")
    return (f"{title}. {what}; a cell from fewer seeds shows its own n. Bold: best value per column "
            f"(↑ higher is better, ↓ lower is better). Failed / missing metric values in this table: "
            f"{nf} / {nm}.")


# ---------------------------------------------------------------------------------------------------- writers
def _md_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _tex_row(cells) -> str:
    return " & ".join(cells) + r" \\"


def _html_row(cells, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _body(t: DisplayTable, bold: str, text=str) -> list[list[str]]:
    """The body cells of ``t`` passed through ``text``, the best ones put into the ``bold`` template."""
    return [[bold.format(text(c)) if m else text(c) for c, m in zip(cells, marks)]
            for cells, marks in zip(t.rows, t.bold)]


def _latex_table(caption: str, spec: str, header: list[str], rows: list[list[str]], label: str = "") -> list[str]:
    """One booktabs ``table`` environment scaled to the line width, then a blank line."""
    label_line = [rf"\label{{{label}}}"] if label else []
    return [r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}", *label_line, r"\resizebox{\linewidth}{!}{%",
            rf"\begin{{tabular}}{{{spec}}}", r"\toprule", _tex_row(header), r"\midrule", *map(_tex_row, rows),
            r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]


def to_markdown(agg: pd.DataFrame, style: str = "mean_std") -> str:
    """GitHub-flavoured Markdown: a heading, the caption and a pipe table per block."""
    out = []
    for t in display_tables(agg, style, "md"):
        out += [f"### {markdown_escape(t.title)}\n", markdown_escape(t.caption).replace("\\_", "_") + "\n",
                _md_row(t.header), "|" + "|".join(["---"] * 2 + ["---:"] * (len(t.header) - 2)) + "|",
                *map(_md_row, _body(t, "**{}**")), ""]
    return "\n".join(out)


def to_latex(agg: pd.DataFrame, style: str = "mean_std", label_prefix: str = "tab:dbench") -> str:
    """LaTeX ``table`` environments (booktabs rules), one per block; needs ``booktabs`` and ``graphicx``.

    Names are escaped with :func:`latex_escape`; the best value per column is ``\\textbf``; the caption
    states the statistic, ddof, and the number of seeds.
    """
    out = [r"% generated by dbench report; requires \usepackage{booktabs,graphicx}"]
    for i, t in enumerate(display_tables(agg, style, "tex")):
        n_label = t.header_kind.count("label")
        spec = "l" * (n_label - 2) + "rr" + "r" * (len(t.header) - n_label)
        caption = latex_escape(t.caption).replace("±", r"$\pm$").replace("↑", r"$\uparrow$").replace(
            "↓", r"$\downarrow$").replace("–", "--")
        body = _body(t, r"\textbf{{{}}}", lambda c: c.replace("—", "--"))
        out += _latex_table(caption, spec, t.header, body, label=f"{label_prefix}:{style}:{i}")
    return "\n".join(out)


def to_html(agg: pd.DataFrame, style: str = "mean_std") -> str:
    """HTML ``<table>`` elements with captions, one per block (no external resources)."""
    out = []
    for t in display_tables(agg, style, "html"):
        out += ['<table class="results">', f"<caption>{_html.escape(t.caption)}</caption>",
                f"<thead>{_html_row(t.header, 'th')}</thead><tbody>",
                *map(_html_row, _body(t, "<b>{}</b>", _html.escape)), "</tbody></table>"]
    return "\n".join(out)


def _rank_cells(rank: pd.DataFrame, fmt: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of the ranking view, escaped for ``fmt``."""
    metrics = set(rank.attrs.get("metrics", ()))
    head = [metric_label(c, fmt) if c in metrics else _escape(c, fmt) for c in rank.columns]
    return head, [[_fmt_rank_cell(r[c], c, fmt) for c in rank.columns] for _, r in rank.iterrows()]


def ranking_markdown(rank: pd.DataFrame) -> str:
    """The ranking view as one Markdown table (rank 1 = best)."""
    head, body = _rank_cells(rank, "md")
    return "\n".join([_md_row(head), "|" + "|".join("---" for _ in head) + "|", *map(_md_row, body)]) + "\n"


def ranking_latex(rank: pd.DataFrame) -> str:
    """The ranking view as one booktabs LaTeX table."""
    metrics = set(rank.attrs.get("metrics", ()))
    n_labels = sum(1 for c in rank.columns if c not in metrics and c != "mean_rank")
    head, body = _rank_cells(rank, "tex")
    caption = (r"Rank of each setting per metric within its dataset and representation "
               r"(1 = best mean in the metric's direction; ties share the lowest rank); mean\_rank averages them.")
    return "\n".join(_latex_table(caption, "l" * n_labels + "r" * (len(head) - n_labels), head, body))


def ranking_html(rank: pd.DataFrame) -> str:
    head, body = _rank_cells(rank, "html")
    return (f'<table class="results"><caption>Rank per metric within each dataset and representation '
            f'(1 = best mean in the metric\'s direction); mean_rank averages them.</caption>'
            f"<thead>{_html_row(head, 'th')}</thead><tbody>{''.join(map(_html_row, body))}</tbody></table>")


def _fmt_rank_cell(v, col: str, fmt: str) -> str:
    if isinstance(v, str):
        return _escape(v, fmt)
    if pd.isna(v):
        return "—" if fmt != "tex" else "--"
    if col == "mean_rank":
        return f"{v:.2f}"
    if col == "hparam":
        return f"{v:g}"
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


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
