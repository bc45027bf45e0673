"""The report page: one self-contained HTML file (inline CSS, figures as base64 PNG ``data:`` URIs, no
scripts, no links to anything outside the file), built from the tables and figures of this package.

Sections: summary, warnings (numbers not comparable with papers), tables (mean ± std, median [IQR],
ranking), failed and missing evaluations, figures, checkpoint figures, protocol, provenance.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import dataclass, field

import pandas as pd

from benchmark.config import TrainConfig
from benchmark.reports.tables import _html_row, ranking_html, to_html

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1500px;
color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table.results,table.meta{border-collapse:collapse;margin:12px 0 20px;font-size:12px}
table.results th,table.results td,table.meta th,table.meta td{border-top:1px solid #ddd;padding:3px 7px;
text-align:right;white-space:nowrap}
table.results th{border-bottom:2px solid #444;background:#f5f5f5}
table.results td:first-child,table.results td:nth-child(2),table.results th:first-child,
table.results th:nth-child(2),table.meta td,table.meta th{text-align:left}
caption{caption-side:top;text-align:left;font-size:12px;color:#444;padding:4px 0;max-width:1200px;
white-space:normal}
.scroll{overflow-x:auto}
.warning{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px;margin:6px 0}
.note{background:#eef4fb;border-left:4px solid #4a7ab5;padding:6px 10px;margin:6px 0}
figure{margin:14px 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#444}
code{background:#f3f3f3;padding:0 3px}
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
    agg: pd.DataFrame
    rank: pd.DataFrame
    problems: pd.DataFrame
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
    stand-in (``dataset.stand_in``), step budgets below the 300,000-step protocol (``config.steps``), protocol
    parameters that differ between records, both MIG variants present (not comparable with each other), mixed
    suite/torch/scikit-learn versions, runs scored before their training finished (``run.finished`` false),
    superseded duplicate records.
    """
    out = []
    if "dataset.stand_in" in runs:
        stand = runs[runs["dataset.stand_in"].fillna(False).astype(bool)]
        for d, n in stand["dataset"].value_counts().sort_index().items():
            out.append(f"{d}: {n} run(s) use the procedural 3D Shapes stand-in, not the official file; "
                       "their numbers are not comparable with published 3D Shapes results.")
    if "config.steps" in runs:
        protocol_steps = TrainConfig().steps  # the defaults are the protocol
        steps = pd.to_numeric(runs["config.steps"], errors="coerce")
        short = steps[steps < protocol_steps]
        if len(short):
            low, high = int(short.min()), int(short.max())
            budget = f"{low:,}" if low == high else f"{low:,}–{high:,}"
            out.append(f"{runs.loc[short.index, 'run'].nunique()} run(s) trained for fewer than the protocol's "
                       f"{protocol_steps:,} steps ({budget} steps); their scores are not comparable "
                       "with Locatello et al. 2019.")
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


def _protocol_table(runs: pd.DataFrame) -> str:
    rows = [_html_row([f"<code>{html.escape(c.removeprefix('protocol.'))}</code>",
                       html.escape(", ".join(_values(runs[c])))])
            for c in sorted(c for c in runs.columns if c.startswith("protocol."))]
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
    return (which + '<table class="meta"><thead><tr><th>metric.parameter</th><th>value(s)</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>")


def _provenance_table(runs: pd.DataFrame) -> str:
    env_rows = []
    for c in sorted(c for c in runs.columns if c.startswith("env.")):
        counts = runs[c].dropna().astype(str).value_counts()
        versions = ", ".join(f"{v} ({n} rows)" if len(counts) > 1 else v for v, n in counts.items())
        env_rows.append(_html_row([html.escape(c.removeprefix("env.")), html.escape(versions)]))
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
        ds_rows.append(_html_row([html.escape(r["dataset"]), kind, f"<code>{html.escape(src)}</code>",
                                  html.escape(str(r.get("dataset.stand_in", ""))), r["rows"]]))
    return ('<h3>Versions</h3><table class="meta"><tbody>' + "".join(env_rows) + "</tbody></table>"
            '<h3>Datasets</h3><table class="meta"><thead><tr><th>dataset</th><th>kind</th><th>source</th>'
            "<th>stand-in</th><th>rows</th></tr></thead><tbody>" + "".join(ds_rows) + "</tbody></table>")


def _problems_html(problems: pd.DataFrame, limit: int = 300) -> str:
    if problems.empty:
        return '<p class="note">Every expected evaluation has a result: nothing failed or is missing.</p>'
    counts = problems["kind"].value_counts()
    head = (f'<p class="warning">{int(counts.get("failed", 0))} failed and {int(counts.get("missing", 0))} missing '
            "evaluations; they are left out of the statistics and counted in the tables' "
            "<i>failed / missing</i> column.</p>")
    shown = problems.head(limit)
    body = "".join(_html_row(html.escape(_cell(r[c])) for c in shown.columns) for _, r in shown.iterrows())
    more = f"<p>({len(problems) - limit} more rows in failures.csv)</p>" if len(problems) > limit else ""
    return (f'{head}<div class="scroll"><table class="meta"><thead>{_html_row(map(html.escape, shown.columns), "th")}'
            f"</thead><tbody>{body}</tbody></table></div>{more}")


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
        ('<p class="toc">Contents: <a href="#warnings">warnings</a> · <a href="#tables">tables</a> · '
         '<a href="#ranking">ranking</a> · <a href="#problems">failed and missing</a> · '
         '<a href="#figures">figures</a> · <a href="#checkpoints">checkpoint figures</a> · '
         '<a href="#protocol">protocol</a> · <a href="#provenance">provenance</a></p>'),
        '<h2 id="warnings">Warnings</h2>',
    ]
    parts += [f'<p class="warning">{esc(w)}</p>' for w in comparability_warnings(runs)] or [
        '<p class="note">No comparability warnings: no stand-in dataset, full step budgets, one protocol.</p>']
    if content.unreadable:
        parts.append(f'<p class="warning">{len(content.unreadable)} record file(s) could not be read and are '
                     "not in this report:</p><ul>"
                     + "".join(f"<li><code>{esc(u.path)}</code>: {esc(u.reason)}</li>" for u in content.unreadable[:100])
                     + "</ul>")
    parts += ['<h2 id="tables">Tables</h2>', "<h3>Mean ± standard deviation</h3>",
              f'<div class="scroll">{to_html(content.agg, "mean_std")}</div>',
              "<h3>Median [interquartile range]</h3>",
              f'<div class="scroll">{to_html(content.agg, "median_iqr")}</div>',
              '<h3 id="ranking">Ranking</h3>', f'<div class="scroll">{ranking_html(content.rank)}</div>',
              '<h2 id="problems">Failed and missing evaluations</h2>', _problems_html(content.problems),
              '<h2 id="figures">Figures</h2>']
    parts += [f'<p class="note">{esc(n)}</p>' for n in content.figure_notes]
    parts += [_figure_html(f) for f in content.figures] or ["<p>No figures.</p>"]
    parts.append('<h2 id="checkpoints">Checkpoint figures</h2>')
    parts += [f'<p class="note">{esc(n)}</p>' for n in content.checkpoint_notes]
    parts += [_figure_html(f) for f in content.checkpoint_figures]
    parts += ['<h2 id="protocol">Protocol</h2>', _protocol_table(runs), '<h2 id="provenance">Provenance</h2>',
              _provenance_table(runs), "</body>", "</html>", ""]
    return "\n".join(parts)
