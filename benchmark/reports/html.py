"""The report page: one self-contained HTML file (inline CSS, figures as base64 PNG ``data:`` URIs, no
scripts, no links to anything outside the file), built from the tables and figures of this package.

Sections: summary, warnings (numbers not comparable with papers, protocol deviations, trials a sweep lacks),
the expected grid, paper tables (mean ± std) and ranking, failed and missing evaluations, figures, checkpoint
figures, protocol (each value beside its reference), provenance. Nothing on it is wider than 1,400 px.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import dataclass, field

import pandas as pd

from benchmark.reports import paper
from benchmark.reports.grid import GridSummary, grid_table
from benchmark.reports.protocol import deviation_warning, reference_value

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1240px;
color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table.results,table.meta{border-collapse:collapse;margin:12px 0 20px;font-size:12px}
table.results th,table.results td,table.meta th,table.meta td{border-top:1px solid #ddd;padding:3px 7px;
text-align:right}
table.results td,table.results th{white-space:nowrap}
table.results thead th{border-bottom:2px solid #444;background:#f5f5f5;white-space:normal;vertical-align:bottom}
table.results tr.group th{text-align:left;font-style:italic;font-weight:normal;background:#fafafa}
table.results td:first-child,table.meta td,table.meta th{text-align:left}
table.meta td{overflow-wrap:anywhere}
caption{caption-side:top;text-align:left;font-size:12px;color:#444;padding:4px 0;white-space:normal}
.warning{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px;margin:6px 0;overflow-wrap:anywhere}
.note{background:#eef4fb;border-left:4px solid #4a7ab5;padding:6px 10px;margin:6px 0;overflow-wrap:anywhere}
.ok{background:#eaf6ea;border-left:4px solid #3c8d3c;padding:6px 10px;margin:6px 0}
figure{margin:14px 0}figure img{width:100%;max-width:980px;border:1px solid #eee}
figcaption{font-size:12px;color:#444;max-width:980px}
code{background:#f3f3f3;padding:0 3px;overflow-wrap:anywhere}
.toc{font-size:13px}
"""


@dataclass
class FigureEntry:
    """A figure for the page: its title, caption and PNG bytes as base64."""

    title: str
    caption: str
    png_base64: str


@dataclass
class PageContent:
    """Everything the page shows; :func:`render_html` turns it into HTML text."""

    runs: pd.DataFrame
    agg: pd.DataFrame  # the paper keys (tables.aggregate)
    rank: pd.DataFrame
    problems: pd.DataFrame
    grid: GridSummary = field(default_factory=GridSummary)
    figures: list[FigureEntry] = field(default_factory=list)
    checkpoint_figures: list[FigureEntry] = field(default_factory=list)
    checkpoint_notes: list[str] = field(default_factory=list)
    figure_notes: list[str] = field(default_factory=list)
    n_records: int = 0
    sources: list[str] = field(default_factory=list)
    unreadable: list = field(default_factory=list)
    title: str = "dbench report"


def comparability_warnings(runs: pd.DataFrame) -> list[str]:
    """Plain-text warnings where the numbers cannot be compared with published ones: procedural 3D Shapes
    stand-in (``dataset.stand_in``), one warning listing every protocol deviation beside its reference value
    (:func:`benchmark.reports.protocol.deviation_warning`: reduced metric sample sizes, step budgets below the
    protocol's, other training settings), protocol parameters that differ between records, both MIG variants
    present (not comparable with each other), mixed suite/torch/scikit-learn versions, runs scored before their
    training finished (``run.finished`` false), superseded duplicate records.
    """
    out = []
    if "dataset.stand_in" in runs:
        stand = runs[runs["dataset.stand_in"].fillna(False).astype(bool)]
        for d, n in stand["dataset"].value_counts().sort_index().items():
            out.append(f"{d}: {n} run(s) use the procedural 3D Shapes stand-in, not the official file; "
                       "their numbers are not comparable with published 3D Shapes results.")
    deviation = deviation_warning(runs)
    if deviation:
        out.append(deviation)
    for col in sorted(c for c in runs.columns if c.startswith("protocol.")):
        vals = _values(runs[col])
        if len(vals) > 1:
            out.append(f"protocol parameter {col} differs between records ({', '.join(vals[:5])}); "
                       "rows of one table may not be comparable.")
    metrics = runs.attrs.get("metric_keys", {})
    if "mig" in metrics and "mig_sampled" in metrics:
        out.append("Both MIG variants are present: mig (discrete, 20-bin, disentanglement_lib) and mig_sampled "
                   "(Chen et al. 2018 full-dataset estimator); their values are not comparable with each other.")
    for col in ("env.suite", "env.torch", "env.sklearn"):
        if col in runs and runs[col].dropna().nunique() > 1:
            out.append(f"records come from several versions of {col.removeprefix('env.')}: "
                       f"{', '.join(sorted(runs[col].dropna().astype(str).unique()))}.")
    if "run.finished" in runs:
        unfinished = runs.loc[runs["run.finished"].eq(False), "run"]
        if len(unfinished):
            out.append(f"{unfinished.nunique()} run(s) were scored before their training finished (--allow-unfinished): "
                       f"{', '.join(sorted(unfinished.astype(str).unique())[:8])}; their numbers describe half-trained models.")
    if runs.attrs.get("duplicates"):
        out.append(f"{runs.attrs['duplicates']} duplicate record(s) for the same (run, representation, metric) "
                   "were superseded by the newest one (eval.timestamp).")
    return out


def _values(series: pd.Series) -> list[str]:
    """Distinct values as text; integers that pandas widened to float (NaN elsewhere) print as integers."""
    out = set()
    for v in series.dropna():
        if isinstance(v, float) and v.is_integer():
            out.add(str(int(v)))
        elif isinstance(v, (list, dict)):  # e.g. the factors a sampled MIG included
            out.add(json.dumps(v, sort_keys=True))
        else:
            out.add(str(v))
    return sorted(out)


def _row(cells, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _protocol_table(runs: pd.DataFrame) -> str:
    rows = []
    for c in sorted(c for c in runs.columns if c.startswith("protocol.")):
        known, ref = reference_value(c)
        values = _values(runs[c])
        ref_text = _values(pd.Series([ref]))[0] if known and ref is not None else ("" if not known else "None")
        differs = known and any(v != ref_text for v in values)
        rows.append(_row([f"<code>{html.escape(c.removeprefix('protocol.'))}</code>",
                          ("<b>" if differs else "") + html.escape(", ".join(values)) + ("</b>" if differs else ""),
                          html.escape(ref_text if known else "(no reference)")]))
    metrics = runs.attrs.get("metric_keys", {})
    mig = []
    if "mig" in metrics:
        mig.append("<code>mig</code>: the discrete MIG of disentanglement_lib (codes binned into equal-width "
                   "bins, plug-in mutual information, normalised by factor entropy)")
    if "mig_sampled" in metrics:
        mig.append("<code>mig_sampled</code>: Chen et al. 2018's full-dataset estimator from q(z|x) — not "
                   "comparable with the discrete MIG")
    which = ("<p>Which MIG: " + "; ".join(mig) + ".</p>") if mig else "<p>No MIG in these results.</p>"
    if not rows:
        return which + "<p>The records carry no <code>protocol.*</code> parameters.</p>"
    return (which + '<table class="meta"><thead><tr><th>metric.parameter</th><th>value(s)</th>'
            "<th>reference (the metric's default)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            "<p>Bold: a value that differs from the reference.</p>")


def _provenance_table(runs: pd.DataFrame) -> str:
    env_rows = []
    for c in sorted(c for c in runs.columns if c.startswith("env.")):
        counts = runs[c].dropna().astype(str).value_counts()
        versions = ", ".join(f"{v} ({n} rows)" if len(counts) > 1 else v for v, n in counts.items())
        env_rows.append(_row([html.escape(c.removeprefix("env.")), html.escape(versions)]))
    ds_cols = [c for c in ("dataset", "dataset.source", "dataset.stand_in") if c in runs]
    ds = runs[ds_cols].astype(str).value_counts().reset_index(name="rows") if ds_cols else pd.DataFrame()
    ds_rows = []
    for _, r in ds.iterrows():
        src = str(r.get("dataset.source", ""))
        if str(r.get("dataset.stand_in", "")) == "True":
            kind = "procedural stand-in (not comparable with papers)"
        elif src.startswith("procedural"):
            kind = "procedural twin"
        elif src.startswith("file:"):
            kind = "real file"
        else:
            kind = "unknown"
        ds_rows.append(_row([html.escape(r["dataset"]), kind, f"<code>{html.escape(src)}</code>",
                                  html.escape(str(r.get("dataset.stand_in", ""))), r["rows"]]))
    return ('<h3>Versions</h3><table class="meta"><tbody>' + "".join(env_rows) + "</tbody></table>"
            '<h3>Datasets</h3><table class="meta"><thead><tr><th>dataset</th><th>kind</th><th>source</th>'
            "<th>stand-in</th><th>rows</th></tr></thead><tbody>" + "".join(ds_rows) + "</tbody></table>")


def _problems_html(problems: pd.DataFrame, grid: GridSummary, limit: int = 300) -> str:
    if problems.empty and grid.complete:
        return ('<p class="ok">Every expected evaluation has a result: every trial of the sweep grid is complete '
                "and nothing failed or is missing.</p>")
    if problems.empty:
        return ('<p class="note">No failed evaluation, and none missing among those the records imply. '
                + ("Some sweeps are not complete (see the expected grid)." if grid.grids and not grid.plain_sources
                   else "Without a sweep's grid the report cannot know of runs that left no record.") + "</p>")
    counts = problems["kind"].value_counts()
    head = (f'<p class="warning">{int(counts.get("failed", 0))} failed and {int(counts.get("missing", 0))} missing '
            "evaluations; they are left out of the statistics and counted in the tables' captions.</p>")
    shown = problems.head(limit)
    body = "".join(_row(html.escape(_cell(r[c])) for c in shown.columns) for _, r in shown.iterrows())
    more = f"<p>({len(problems) - limit} more rows in failures.csv)</p>" if len(problems) > limit else ""
    return (f'{head}<table class="meta"><thead>{_row(map(html.escape, shown.columns), "th")}'
            f"</thead><tbody>{body}</tbody></table>{more}")


def grid_warnings(grid: GridSummary) -> list[str]:
    """One warning per sweep whose grid is not complete (or whose spec could not be read), and one for plain
    results folders, whose missing runs cannot be known."""
    out = []
    for g in grid.grids:
        if not g.known:
            out.append(f"sweep folder {g.spec_path}: its spec could not be expanded ({g.error}); missing "
                       "evaluations are inferred from the records as for a plain results folder.")
        elif g.incomplete:
            states = [t.state for t in g.incomplete]
            counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
            out.append(f"sweep {g.name}: {len(g.incomplete)} of {len(g.trials)} trials are not complete ({counts}): "
                       + ", ".join(f"{t.trial_id} ({t.state})" for t in g.incomplete[:12])
                       + (" …" if len(g.incomplete) > 12 else "") + "; see the expected grid.")
    if grid.plain_sources:
        out.append(f"{', '.join(grid.plain_sources)}: a results folder does not say which runs were expected, so "
                   "missing evaluations are inferred from the records present; a run that left no record "
                   "cannot be known to be missing (report over the sweep's folder to check its grid).")
    return out


def _grid_html(grid: GridSummary) -> str:
    parts = []
    for g in grid.grids:
        if not g.known:
            parts.append(f"<p>Sweep folder <code>{html.escape(g.spec_path)}</code>: spec not readable "
                         f"({html.escape(g.error)}).</p>")
            continue
        parts.append(f"<p>Sweep <b>{html.escape(g.name)}</b> (<code>{html.escape(g.spec_path)}</code>): "
                     f"{html.escape(g.summary())}.</p>")
    table = grid_table([g for g in grid.grids if g.known])
    table = table[table["state"] != "complete"]
    if len(table):
        parts.append('<table class="meta"><thead>' + _row(map(html.escape, table.columns), "th") + "</thead><tbody>"
                     + "".join(_row(html.escape(_cell(r[c])) for c in table.columns) for _, r in table.iterrows())
                     + "</tbody></table>")
    if grid.plain_sources:
        parts.append("<p>Plain results folders (no sweep grid): " + ", ".join(
            f"<code>{html.escape(p)}</code>" for p in grid.plain_sources) + ". What is missing from them is inferred "
            "from the records present.</p>")
    return "".join(parts)


def _cell(v) -> str:
    return ("" if pd.isna(v) else f"{v:g}") if isinstance(v, float) else str(v)


def _figure_html(f: FigureEntry) -> str:
    return (f'<figure><img alt="{html.escape(f.title)}" src="data:image/png;base64,{f.png_base64}">'
            f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>")


def render_html(content: PageContent) -> str:
    """The whole page as one string (UTF-8, HTML5). It references nothing outside itself: images are
    ``data:image/png;base64`` URIs, styles are inline, there are no scripts, and the only links are
    ``#fragment`` anchors of the page's own table of contents."""
    runs = content.runs
    esc = html.escape
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{esc(content.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(content.title)}</h1>",
        f"<p>{content.n_records:,} result records of {runs['run'].nunique():,} runs "
        f"({len(runs):,} run × representation rows), generated {now} from "
        + ", ".join(f"<code>{esc(s)}</code>" for s in content.sources) + ".</p>",
        ('<p class="toc">Contents: <a href="#warnings">warnings</a> · <a href="#grid">expected grid</a> · '
         '<a href="#tables">tables</a> · <a href="#ranking">ranking</a> · <a href="#problems">failed and missing</a> · '
         '<a href="#figures">figures</a> · <a href="#checkpoints">checkpoint figures</a> · '
         '<a href="#protocol">protocol</a> · <a href="#provenance">provenance</a></p>'),
        '<h2 id="warnings">Warnings</h2>',
    ]
    warnings = comparability_warnings(runs) + grid_warnings(content.grid)
    parts += [f'<p class="warning">{esc(w)}</p>' for w in warnings] or [
        '<p class="note">No warnings: no stand-in dataset, the reference protocol, every expected trial complete.</p>']
    if content.unreadable:
        parts.append(f'<p class="warning">{len(content.unreadable)} record file(s) could not be read and are '
                     "not in this report:</p><ul>"
                     + "".join(f"<li><code>{esc(u.path)}</code>: {esc(u.reason)}</li>" for u in content.unreadable[:100])
                     + "</ul>")
    group_by = content.agg.attrs.get("group_by", [])
    parts += ['<h2 id="grid">Expected grid</h2>', _grid_html(content.grid), '<h2 id="tables">Tables</h2>',
              "<p>The paper tables (<code>tables/paper__*.tex</code>, <code>tables/paper.md</code>); every metric key "
              "and statistic (n, mean, std, median, quartiles, min, max) is in <code>tables/summary.csv</code>, "
              "every run in <code>tables/runs.csv</code>.</p>",
              *[paper.to_html(t) for t in paper.paper_tables(content.agg, "html")],
              '<h3 id="ranking">Ranking</h3>',
              *[paper.to_html(t) for t in paper.ranking_tables(content.rank, group_by, "html")],
              '<h2 id="problems">Failed and missing evaluations</h2>', _problems_html(content.problems, content.grid),
              '<h2 id="figures">Figures</h2>']
    parts += [f'<p class="note">{esc(n)}</p>' for n in content.figure_notes]
    parts += [_figure_html(f) for f in content.figures] or ["<p>No figures.</p>"]
    parts.append('<h2 id="checkpoints">Checkpoint figures</h2>')
    parts += [f'<p class="note">{esc(n)}</p>' for n in content.checkpoint_notes]
    parts += [_figure_html(f) for f in content.checkpoint_figures]
    parts += ['<h2 id="protocol">Protocol</h2>', _protocol_table(runs), '<h2 id="provenance">Provenance</h2>',
              _provenance_table(runs), "</body>", "</html>", ""]
    return "\n".join(parts)
