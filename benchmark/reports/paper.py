"""Paper tables: per dataset and representation, rows = method and hyperparameter setting, columns = at most
:data:`~.tables.MAX_PAPER_COLUMNS` metrics under their paper labels, cells = mean ± sample std over seeds.

Built once as :class:`PaperTable` cells for one format (``tex``, ``md``, ``html`` or ``text``), then written by
:func:`to_latex` (booktabs; a ``table`` at ``\\columnwidth`` for up to 4 metric columns, else a ``table*`` at
``\\textwidth``; no ``\\resizebox``: the type stays at ``\\footnotesize``), :func:`to_markdown` and :func:`to_html`.
The ranking view (:func:`ranking_tables`) has the same layout with ranks for cells. Every key's label and
direction come from the metric registry (:func:`benchmark.metrics.key_info`); every axis label from the
method's declaration (``benchmark.config.METHODS``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.config import METHODS
from benchmark.metrics import direction
from benchmark.reports.tables import (BLOCK_COLUMNS, DEFAULT_GROUP_BY, MAX_PAPER_COLUMNS, _escape, latex_escape,
                                      paper_label)

#: Up to this many metric columns a LaTeX table fits one column of a two-column article (``\columnwidth``).
COLUMN_FIT = 4


@dataclass
class PaperRow:
    label: str  # the setting, escaped for the table's format
    cells: list[str]
    bold: list[bool]


@dataclass
class PaperTable:
    """One table's cells, escaped for one format: a title, a caption, column labels and rows grouped by method."""

    title: str
    caption: str
    block: dict
    keys: list[str]
    labels: list[str]
    groups: list[tuple[str, list[PaperRow]]] = field(default_factory=list)
    extra: str = ""  # the header of a last non-metric column (the ranking's mean rank), if any

    @property
    def stem(self) -> str:
        return "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(v)) for v in self.block.values()) or "all"


def _decimals(values: pd.Series) -> int:
    """Two significant digits of the column's largest value: 0.41, 0.052, 115."""
    finite = values.to_numpy(dtype=float)
    finite = np.abs(finite[np.isfinite(finite)])
    m = finite.max() if finite.size else 0.0
    return 2 if m == 0 else int(np.clip(1 - math.floor(math.log10(m)), 0, 4))


def _hparam_label(v, model: str, fmt: str) -> str:
    """``β = 4`` (``$\\beta$ = 4`` in LaTeX); the bare value for a method without a study axis."""
    value = "—" if pd.isna(v) else f"{v:g}"
    method = METHODS.get(model)
    if method is None or method.study_axis is None:
        return _escape(value, fmt)
    if fmt == "tex":  # thin spaces: the setting column is the widest of a one-column table
        return f"{method.axis_label}\\,=\\,{_escape(value, fmt)}"
    return f"{_escape(method.axis_text, fmt)} = {_escape(value, fmt)}"


def _row_label(setting: dict, fmt: str) -> str:
    """The setting's row label: its hyperparameter (``β = 4``), then any other grouping column (``architecture = mlp``)."""
    parts = [_hparam_label(v, setting.get("model", ""), fmt) if c == "hparam" else
             _escape(f"{c.removeprefix('config.')} = {f'{v:g}' if isinstance(v, float) else v}", fmt)
             for c, v in setting.items() if c != "model"]
    return ", ".join(parts) or _escape("all runs", fmt)


def _blocks(table: pd.DataFrame, group_by: list[str]):
    """``(block labels, settings columns, block rows)`` per (dataset, representation) block."""
    blocks = [c for c in BLOCK_COLUMNS if c in group_by]
    settings = [c for c in group_by if c not in blocks]
    if not blocks:
        yield {}, settings, table
        return
    for key, b in table.groupby(blocks, sort=True, dropna=False):
        yield dict(zip(blocks, key if isinstance(key, tuple) else (key,))), settings, b


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _cell(stat: dict, dd: int, fmt: str, n_table: int) -> str:
    if stat is None or stat["n"] == 0:
        return "—" if fmt != "tex" else "--"
    pm = {"tex": r"\,$\pm$\,"}.get(fmt, " ± ")  # thin spaces in LaTeX: four columns fit \columnwidth
    text = f"{stat['mean']:.{dd}f}" + ("" if pd.isna(stat["std"]) else f"{pm}{stat['std']:.{dd}f}")
    if stat["n"] < n_table:  # fewer seeds than the table's caption says
        n = int(stat["n"])
        text += {"tex": f"$^{{{n}}}$", "html": f"<sup>{n}</sup>"}.get(fmt, f" (n={n})")
    return text


def _best(b: pd.DataFrame, key: str, dd: int):
    """The best mean of ``key`` at display precision, or None when nothing is to be bold: a descriptive key,
    fewer than two settings with a value, or every setting equal at that precision."""
    vals = b.loc[(b["metric"] == key) & (b["n"] > 0), "mean"].round(dd)
    if direction(key) == 0 or len(vals) < 2 or vals.nunique() < 2:
        return None
    return vals.max() if direction(key) > 0 else vals.min()


def _method_order(model) -> tuple:
    return (list(METHODS).index(model), "") if model in METHODS else (len(METHODS), str(model))


def _settings_of(b: pd.DataFrame, settings: list[str]) -> list[dict]:
    """The settings of a block, methods in the registry's order (plugins after them by name), values sorted."""
    rows = [dict(zip(settings, s)) for s in b[settings].drop_duplicates().itertuples(index=False, name=None)]
    return sorted(rows, key=lambda s: _method_order(s.get("model", "")))  # stable: the values stay sorted


def _key_of(setting: dict) -> tuple:
    # NaN (a method without a hyperparameter) never equals itself: a marker stands for it in dict keys
    return tuple("<NaN>" if isinstance(v, float) and math.isnan(v) else v for v in setting.values())


def paper_tables(agg: pd.DataFrame, fmt: str = "text") -> list[PaperTable]:
    """The cells of the paper tables of :func:`benchmark.reports.tables.aggregate`'s output, escaped for ``fmt``:
    one table per (dataset, representation) block and run of at most :data:`MAX_PAPER_COLUMNS` metric keys."""
    group_by = agg.attrs.get("group_by", list(DEFAULT_GROUP_BY))
    keys = agg.attrs.get("metrics", list(dict.fromkeys(agg["metric"])))
    out = []
    for block, settings, b in _blocks(agg, group_by):
        cols = ["n", "n_failed", "n_missing", "mean", "std"]
        lookup = {(_key_of(dict(zip(settings, r[:len(settings)]))), r[len(settings)]): dict(zip(cols, r[len(settings) + 1:]))
                  for r in b[[*settings, "metric", *cols]].itertuples(index=False, name=None)}
        for start in range(0, len(keys), MAX_PAPER_COLUMNS):
            part = {"part": start // MAX_PAPER_COLUMNS + 1} if len(keys) > MAX_PAPER_COLUMNS else {}
            out.append(_paper_table(block | part, b, _settings_of(b, settings), keys[start:start + MAX_PAPER_COLUMNS],
                                    lookup, fmt))
    return out


def _paper_table(block: dict, b: pd.DataFrame, rows: list[dict], keys: list[str], lookup: dict, fmt: str) -> PaperTable:
    """One table of a block: the ``keys`` columns for every setting in ``rows``, the best of each column bold."""
    n_table = int(b["n"].max()) if len(b) else 0
    fewer = bool(((b["n"] > 0) & (b["n"] < n_table)).any())
    dd = {k: _decimals(b.loc[b["metric"] == k, "mean"]) for k in keys}
    best = {k: _best(b, k, dd[k]) for k in keys}
    info = {c: v for c, v in block.items() if c != "part"}
    table = PaperTable(_title(info), _caption(info, b, n_table, fewer, any(v is not None for v in best.values()), fmt),
                       block, keys, [paper_label(k, fmt) for k in keys])
    for s in rows:
        stats = [lookup.get((_key_of(s), k)) for k in keys]
        cells = [_cell(st, dd[k], fmt, n_table) for st, k in zip(stats, keys)]
        bold = [st is not None and st["n"] > 0 and best[k] is not None and math.isclose(round(st["mean"], dd[k]), best[k])
                for st, k in zip(stats, keys)]
        _add_row(table, s, fmt, PaperRow(_row_label(s, fmt), cells, bold))
    return table


def _add_row(table: PaperTable, setting: dict, fmt: str, row: PaperRow) -> None:
    method = _escape(str(setting.get("model", "")), fmt)
    if not table.groups or table.groups[-1][0] != method:
        table.groups.append((method, []))
    table.groups[-1][1].append(row)


def _title(block: dict) -> str:
    if not block:
        return "all runs"
    rep = block.get("representation")
    return ", ".join(str(v) for c, v in block.items() if c != "representation") + (f", {rep} representation" if rep else "")


def _caption(block: dict, b: pd.DataFrame, n_table: int, fewer: bool, bold: bool, fmt: str) -> str:
    per_eval = b.drop_duplicates([c for c in b.columns if c not in ("metric", "direction", "n", "n_failed", "n_missing",
                                                                    "mean", "std", "median", "q25", "q75", "iqr",
                                                                    "min", "max")])
    nf, nm = int(per_eval["n_failed"].sum()), int(per_eval["n_missing"].sum())
    note = f"; a cell from fewer seeds shows its count{' as a superscript' if fmt in ('tex', 'html') else ''}" if fewer else ""
    text = (f"{_title(block)}: mean ± sample standard deviation over {_plural(n_table, 'seed')} per setting{note}. "
            + ("Bold: the best mean per column (↑ higher is better, ↓ lower is better). " if bold
               else "↑ higher is better, ↓ lower is better. "))
    left_out = [_plural(n, f"{kind} evaluation") for n, kind in ((nf, "failed"), (nm, "missing")) if n]
    if left_out:
        text += f"Left out: {' and '.join(left_out)} (tables/failures.csv)."
    return _escape(text.strip(), fmt)


def ranking_tables(rank: pd.DataFrame, group_by, fmt: str = "text") -> list[PaperTable]:
    """The ranking view (:func:`benchmark.reports.tables.ranking`) in the paper tables' layout: ranks for cells
    (1 = best mean in the metric's direction), bold for rank 1 where the settings differ, and the mean rank in a
    last column."""
    keys = list(rank.attrs.get("metrics", ()))
    group_by = [g for g in group_by if g in rank.columns]
    out = []
    for block, settings, b in _blocks(rank.sort_values([*group_by], kind="stable"), group_by):
        caption = _escape(f"{_title(block)}: rank of each setting per metric (1 = best mean in the metric's "
                          "direction; ties share the lower rank) and the mean of its ranks.", fmt)
        table = PaperTable(_title(block), caption, block, keys, [paper_label(k, fmt) for k in keys], extra="mean rank")
        for _, r in sorted(b.iterrows(), key=lambda ir: _method_order(ir[1].get("model", ""))):
            s = {c: r[c] for c in settings}
            cells = ["—" if pd.isna(r[k]) else f"{int(r[k])}" for k in keys] + [f"{r['mean_rank']:.2f}"]
            bold = [len(b) > 1 and r[k] == 1 and b[k].nunique() > 1 for k in keys] + [False]  # where settings differ
            _add_row(table, s, fmt, PaperRow(_row_label(s, fmt), cells, bold))
        out.append(table)
    return out


# ---------------------------------------------------------------------------------------------------- writers
def _tex_header(label: str) -> str:
    """A column label on up to two lines (first word, then the rest with the arrow), centred over its column."""
    head, _, rest = label.partition(" ")
    if not rest or rest.startswith("$"):
        return label
    return r"\begin{tabular}[b]{@{}c@{}}" + head + r"\\" + rest + r"\end{tabular}"


def to_latex(table: PaperTable, label_prefix: str = "tab:dbench") -> str:
    """One booktabs table (cells of ``paper_tables(agg, "tex")``): a ``table`` at ``\\columnwidth`` for up to
    :data:`COLUMN_FIT` metric columns, else a ``table*`` at ``\\textwidth``; needs ``\\usepackage{booktabs}``."""
    ncols = len(table.keys) + (1 if table.extra else 0)
    env = "table" if ncols <= COLUMN_FIT else "table*"
    header = [""] + [_tex_header(lab) for lab in table.labels] + ([table.extra] if table.extra else [])
    lines = [f"% generated by dbench report: {table.title}; requires \\usepackage{{booktabs}}",
             rf"\begin{{{env}}}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{2.5pt}",
             rf"\caption{{{table.caption}}}", rf"\label{{{label_prefix}:{table.stem}}}",
             rf"\begin{{tabular}}{{@{{}}l{'r' * ncols}@{{}}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for i, (method, rows) in enumerate(table.groups):
        if i:
            lines.append(r"\addlinespace")
        lines.append(rf"\multicolumn{{{ncols + 1}}}{{@{{}}l}}{{\textit{{{method}}}}} \\")
        for r in rows:
            cells = [rf"\textbf{{{c}}}" if b else c for c, b in zip(r.cells, r.bold)]
            lines.append(" & ".join([r"\hspace{0.6em}" + r.label, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\end{{{env}}}", ""]
    return "\n".join(lines)


def to_markdown(table: PaperTable) -> str:
    """A heading, the caption and a pipe table (cells of ``paper_tables(agg, "md")``)."""
    header = ["method", "setting", *table.labels, *([table.extra] if table.extra else [])]
    lines = [f"### {_escape(table.title, 'md')}", "", table.caption, "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    for method, rows in table.groups:
        for i, r in enumerate(rows):
            cells = [f"**{c}**" if b else c for c, b in zip(r.cells, r.bold)]
            lines.append("| " + " | ".join([method if i == 0 else "", r.label, *cells]) + " |")
    return "\n".join(lines) + "\n"


def to_html(table: PaperTable) -> str:
    """A ``<table>`` with its caption, a header row and one row per setting under a row per method."""
    head = "".join(f"<th>{lab}</th>" for lab in ["", *table.labels, *([table.extra] if table.extra else [])])
    body = []
    for method, rows in table.groups:
        body.append(f'<tr class="group"><th colspan="{len(table.labels) + 1 + bool(table.extra)}">{method}</th></tr>')
        body += ["<tr><td>" + r.label + "</td>" + "".join(f"<td><b>{c}</b></td>" if b else f"<td>{c}</td>"
                                                         for c, b in zip(r.cells, r.bold)) + "</tr>" for r in rows]
    return (f'<table class="results"><caption>{table.caption}</caption><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table>")


def latex_ascii(text: str) -> bool:
    """Whether ``text`` is plain ASCII (what every LaTeX engine reads without inputenc or fontspec)."""
    return all(ord(ch) < 128 for ch in text)


__all__ = ["COLUMN_FIT", "PaperTable", "latex_ascii", "latex_escape", "paper_tables", "ranking_tables", "to_html",
           "to_latex", "to_markdown"]
