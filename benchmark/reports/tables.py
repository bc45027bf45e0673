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
#: The study axis of a method as plain text (its figure label, ``Method.axis_label``, is mathtext).
_AXIS_TEXT = {"beta": "β", "c_max": "C_max"}

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


# ----------------------------------------------------------------------------------------------------
# selection and aggregation


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
            headline = [k for k in HEADLINE_KEYS if k in owners[m]]
            keys = headline or owners[m]
        else:
            raise ValueError(
                f"unknown metric {m!r} for --metrics; the records hold these keys: {', '.join(available)} "
                f"(or metric names: {', '.join(sorted(owners))}, or 'all')"
            )
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
    owners: dict[str, list[str]] = runs.attrs.get("metric_keys", {})
    errors: dict[tuple[str, str, str], str] = runs.attrs.get("errors", {})
    expected_by_dataset = runs.attrs.get("expected_metrics", {})
    rows = []
    splits = zip(runs.iterrows(), runs["metrics.ok"].str.split(","), runs["metrics.failed"].str.split(","))
    for (_, r), ok, failed in splits:
        ok, failed = set(ok) - {""}, set(failed) - {""}
        base = {g: r[g] for g in group_by} | {"seed": r.get("seed"), "run": r["run"],
                                               "representation": r["representation"]}
        for m in sorted(failed):
            rows.append({"kind": "failed", **base, "metric": m,
                         "detail": errors.get((r["run"], r["representation"], m), "")})
        for m in sorted(set(expected_by_dataset.get(r["dataset"], ())) - ok - failed):
            rows.append({"kind": "missing", **base, "metric": m, "detail": "no record for this run"})
    # Seeds that other settings of the same (dataset, model) have but this setting lacks.
    family = [c for c in ("dataset", "model") if c in group_by]
    if "seed" in runs and runs["seed"].notna().any() and "seed" not in group_by:
        all_metrics = sorted(owners)
        fam_seeds = ({k: set(s.dropna()) for k, s in runs.groupby(family)["seed"]} if family
                     else {(): set(runs["seed"].dropna())})
        for key, g in runs.groupby(group_by, dropna=False):
            labels = dict(zip(group_by, key))
            expected = fam_seeds[tuple(labels[c] for c in family)]
            expected_m = set(expected_by_dataset.get(labels.get("dataset"), all_metrics))
            for s in sorted(expected - set(g["seed"].dropna())):
                for m in sorted(expected_m):
                    rows.append({"kind": "missing", **labels, "seed": s, "run": "",
                                 "representation": labels.get("representation", ""), "metric": m,
                                 "detail": "seed present in other settings of this dataset and model"})
    cols = list(dict.fromkeys(["kind", *group_by, "seed", "run", "representation", "metric", "detail"]))
    return pd.DataFrame(rows, columns=cols)


def problems_table(runs: pd.DataFrame, group_by=DEFAULT_GROUP_BY) -> pd.DataFrame:
    """Every failed or missing evaluation, one row each: ``kind`` ("failed"/"missing"), the group
    columns, ``seed``, ``run``, ``metric`` (the metric name, e.g. ``dci``) and ``detail`` (the record's
    ``error`` for failures). Empty when everything evaluated."""
    return _problem_rows(runs, _check_group_by(runs, group_by))


def aggregate(runs: pd.DataFrame, *, group_by=DEFAULT_GROUP_BY, metrics=None) -> pd.DataFrame:
    """Statistics over seeds per group and metric key, in long form.

    Parameters
    ----------
    runs: the per-run table of :func:`benchmark.reports.results.runs_table`.
    group_by: columns that define a setting; default (dataset, model, hparam, representation).
    metrics: a selection for :func:`select_metrics` (default: the headline keys).

    Returns
    -------
    DataFrame with the group columns, ``metric`` (key without prefix), ``direction`` (+1/−1/0) and
    :data:`STATS`: ``n`` seeds with a value, ``n_failed`` and ``n_missing`` evaluations of that metric
    in the group, ``mean``, ``std`` (sample, ddof = 1), ``median``, ``q25``, ``q75``, ``iqr``, ``min``,
    ``max``. One row per (group, metric), groups in sorted order, metrics in selection order.
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
    long = pd.concat({s: v.rename(columns=lambda c: c.removeprefix("metric.")) for s, v in stats.items()},
                     axis=1)
    long = long.stack(level=1, future_stack=True).reset_index()
    long = long.rename(columns={f"level_{len(group_by)}": "metric"})
    long["iqr"] = long["q75"] - long["q25"]
    long["direction"] = long["metric"].map(direction)

    # failed / missing counts per (group, metric key): a key belongs to the metric that wrote it.
    problems = _problem_rows(runs, group_by)
    owner_of = {k: m for m, ks in runs.attrs.get("metric_keys", {}).items() for k in ks}
    long["eval_metric"] = long["metric"].map(owner_of).fillna("")
    for kind in ("failed", "missing"):
        sub = problems[problems["kind"] == kind]
        counts = sub.groupby([*group_by, "metric"], dropna=False).size().rename(f"n_{kind}").reset_index()
        counts = counts.rename(columns={"metric": "eval_metric"})
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
    scored = agg[agg["direction"] != 0].copy()
    scored["_signed"] = scored["mean"] * scored["direction"]
    scored["rank"] = scored.groupby([*blocks, "metric"], dropna=False)["_signed"].rank(
        ascending=False, method="min")
    # unstack (not pivot_table) so only settings that exist become rows
    wide = scored.set_index([*blocks, *settings, "metric"])["rank"].unstack("metric")
    metric_order = [m for m in agg.attrs.get("metrics", wide.columns) if m in wide.columns]
    wide = wide[metric_order]
    wide["mean_rank"] = wide.mean(axis=1)
    wide = wide.reset_index()
    wide = wide.sort_values([*blocks, "mean_rank"], kind="stable").reset_index(drop=True)
    wide.columns.name = None
    wide.attrs = {"metrics": metric_order}
    return wide


# ----------------------------------------------------------------------------------------------------
# display: one table per block


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
    out = []
    for c in settings:
        v = row[c]
        if c != "hparam":
            text = "—" if (not isinstance(v, str) and pd.isna(v)) else (f"{v:g}" if isinstance(v, float) else str(v))
            out.append(_escape(text, fmt))
            continue
        method = METHODS.get(row.get("model", ""))
        value = "—" if pd.isna(v) else f"{v:g}"
        if method is None:
            out.append(value)
        elif fmt == "tex":
            out.append(f"{method.axis_label} = {value}")
        else:
            out.append(f"{_escape(_AXIS_TEXT.get(method.study_axis, method.study_axis), fmt)} = {value}")
    return out


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
            nf = int(sum(r["n_failed"] for r in per_eval.values()))
            nm = int(sum(r["n_missing"] for r in per_eval.values()))
            cells = [*_setting_label(pd.Series(dict(zip(settings, s))), settings, fmt), str(n_row), f"{nf} / {nm}"]
            marks = [False] * len(cells)
            ns.append(n_row)
            for k in keys:
                r, dd = stat_rows[k], decimals[k]
                cells.append(_stat_cell(r, center, dd, pm, n_row))
                marks.append(r["n"] > 0 and k in best and math.isclose(round(r[center], dd), best[k]))
            rows.append(cells)
            bold.append(marks)
        title = ", ".join(f"{c} {v}" for c, v in zip(blocks, bkey)) if blocks else "all runs"
        tables.append(DisplayTable(title=title, caption=_caption(style, ns, agg_block=b, title=title),
                                   header=header, rows=rows, bold=bold,
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
    """A dict key for a setting: NaN (e.g. the hyperparameter of a method without one) never equals
    itself, so it is replaced by a marker."""
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
    if style == "mean_std":
        what = f"Mean ± sample standard deviation (ddof = 1) over {seeds} per setting"
    else:
        what = f"Median [25th, 75th percentile] over {seeds} per setting"
    return (f"{title}. {what}; a cell from fewer seeds shows its own n. Bold: best value per column "
            f"(↑ higher is better, ↓ lower is better). Failed / missing metric values in this table: "
            f"{nf} / {nm}.")


# ----------------------------------------------------------------------------------------------------
# writers


def _md_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(agg: pd.DataFrame, style: str = "mean_std") -> str:
    """GitHub-flavoured Markdown: a heading, the caption and a pipe table per block."""
    out = []
    for t in display_tables(agg, style, "md"):
        out.append(f"### {markdown_escape(t.title)}\n")
        out.append(markdown_escape(t.caption).replace("\\_", "_") + "\n")
        out.append(_md_row(t.header))
        out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(t.header) - 2)) + "|")
        for cells, marks in zip(t.rows, t.bold):
            out.append(_md_row(f"**{c}**" if m else c for c, m in zip(cells, marks)))
        out.append("")
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
        out += [r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
                rf"\label{{{label_prefix}:{style}:{i}}}", r"\resizebox{\linewidth}{!}{%",
                rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(t.header) + r" \\", r"\midrule"]
        for cells, marks in zip(t.rows, t.bold):
            cells = [c.replace("—", "--") for c in cells]
            out.append(" & ".join(rf"\textbf{{{c}}}" if m else c for c, m in zip(cells, marks)) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(out)


def _html_row(cells, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def to_html(agg: pd.DataFrame, style: str = "mean_std") -> str:
    """HTML ``<table>`` elements with captions, one per block (no external resources)."""
    out = []
    for t in display_tables(agg, style, "html"):
        out.append('<table class="results">')
        out.append(f"<caption>{_html.escape(t.caption)}</caption>")
        out.append(f"<thead>{_html_row(t.header, 'th')}</thead><tbody>")
        for cells, marks in zip(t.rows, t.bold):
            out.append(_html_row(f"<b>{_html.escape(c)}</b>" if m else _html.escape(c) for c, m in zip(cells, marks)))
        out.append("</tbody></table>")
    return "\n".join(out)


def _rank_cells(rank: pd.DataFrame, fmt: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of the ranking view, escaped for ``fmt``."""
    metrics = set(rank.attrs.get("metrics", ()))
    head = [metric_label(c, fmt) if c in metrics else _escape(c, fmt) for c in rank.columns]
    return head, [[_fmt_rank_cell(r[c], c, fmt) for c in rank.columns] for _, r in rank.iterrows()]


def ranking_markdown(rank: pd.DataFrame) -> str:
    """The ranking view as one Markdown table (rank 1 = best)."""
    head, body = _rank_cells(rank, "md")
    lines = [_md_row(head), "|" + "|".join("---" for _ in head) + "|", *map(_md_row, body)]
    return "\n".join(lines) + "\n"


def ranking_latex(rank: pd.DataFrame) -> str:
    """The ranking view as one booktabs LaTeX table."""
    metrics = set(rank.attrs.get("metrics", ()))
    n_labels = sum(1 for c in rank.columns if c not in metrics and c != "mean_rank")
    head, body = _rank_cells(rank, "tex")
    lines = [r"\begin{table}[t]", r"\centering",
             r"\caption{Rank of each setting per metric within its dataset and representation "
             r"(1 = best mean in the metric's direction; ties share the lowest rank); mean\_rank averages them.}",
             r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{" + "l" * n_labels + "r" * (len(head) - n_labels) + "}",
             r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    lines += [" & ".join(cells) + r" \\" for cells in body]
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


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


# ----------------------------------------------------------------------------------------------------
# the sweep's summary


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
    parts = []
    for metric, keys in runs.attrs["metric_keys"].items():
        if not keys:  # only failed records of this metric
            continue
        key = next((k for k in HEADLINE_KEYS if k in keys), metric if metric in keys else min(keys, key=len))
        parts.append(pd.DataFrame({
            "dataset": runs["dataset"], "model": runs["model"], "hyper": runs["hparam"], "seed": runs["seed"],
            "column": runs["representation"] + "/" + key, "value": runs[f"metric.{key}"].astype(float),
        }))
    long = pd.concat(parts).dropna(subset=["value"]) if parts else None
    if long is None or long.empty:
        return None
    return long.pivot_table(index=["dataset", "model", "hyper", "seed"], columns="column", values="value",
                            aggfunc="first").sort_index()
