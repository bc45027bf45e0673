"""``write_report``: results directories in, a report folder out (what ``dbench report`` runs).

Layout of REPORT_DIR::

    report.html                       the self-contained page (format "html")
    tables/summary.csv                long table: one row per (setting, metric key) with n, n_failed,
                                      n_missing, mean, std (ddof=1), median, q25, q75, iqr, min, max
    tables/runs.csv                   one row per (run, representation): every metric value  (format "csv")
    tables/ranking.csv, failures.csv  the ranking view; every failed or missing evaluation  (format "csv")
    tables/summary_mean_std.{md,tex}, tables/summary_median_iqr.{md,tex}, tables/ranking.{md,tex}
    figures/*.pdf, figures/*.png      every figure, PDF for papers and PNG
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from benchmark._io import atomic_write_bytes, atomic_write_text
from benchmark.metrics import direction
from benchmark.reports import html as html_mod
from benchmark.reports import plots, tables
from benchmark.reports.results import load_results, runs_table

FORMATS = ("md", "tex", "html", "csv")


@dataclass
class ReportResult:
    """What :func:`write_report` wrote: the page (or None), all files, and counts for the CLI summary."""

    out_dir: Path
    html: Path | None
    files: list[Path] = field(default_factory=list)
    n_records: int = 0
    n_runs: int = 0
    n_failed: int = 0
    n_missing: int = 0
    unreadable: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_report(
    results_dirs,
    out_dir: str | os.PathLike,
    *,
    group_by=tables.DEFAULT_GROUP_BY,
    metrics=None,
    formats=FORMATS,
    checkpoint_figures: bool = True,
    max_checkpoint_runs: int = 24,
    seed: int = 0,
    jobs: int | None = None,
    checkpoint_views: Callable[[str, int, np.random.Generator], Any] | None = None,
) -> ReportResult:
    """Load the records under one or several ``results_dirs`` (see :func:`load_results`) and write tables,
    figures and the page into ``out_dir``. Raises ``ValueError`` for an unknown format, group column or metric,
    or when no record was found.

    group_by: the setting columns. metrics: metric keys or names (:func:`.tables.select_metrics`; default headline).
    formats: any of ``md``, ``tex``, ``html``, ``csv``; figures are always written as PDF and PNG.
    checkpoint_figures: draw traversals and reconstructions for the best and worst seed of each setting
        (by the first of :data:`benchmark.metrics.RUN_SELECTION_KEYS`) whose ``run.dir`` exists;
        at most ``max_checkpoint_runs`` runs; skipped runs are listed on the page.
    seed: seeds the jitter of point clouds and the choice of images for checkpoint figures.
    jobs: processes that render the result figures (default: up to 4, one per CPU core); the output
        does not depend on it.
    checkpoint_views: ``(run_dir, num_images, rng) -> views`` opening a run and returning the arrays of its
        checkpoint figures (attributes ``images``, ``reconstructions``, ``traversals``, ``values``, ``kl``,
        ``dims``): pass :func:`benchmark.views.checkpoint_views`. This package never opens a model; with
        None, checkpoint figures are skipped with a note.
    """
    formats = tuple(formats)
    jobs = min(4, os.cpu_count() or 1) if jobs is None else jobs
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown report format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    records, runs = _load(results_dirs, metrics)
    agg = tables.aggregate(runs, group_by=group_by, metrics=metrics)
    rank = tables.ranking(agg)
    problems = agg.attrs["problems"]
    result = ReportResult(out_dir=out, html=None, n_records=len(records), n_runs=runs["run"].nunique(),
                          n_failed=int((problems["kind"] == "failed").sum()),
                          n_missing=int((problems["kind"] == "missing").sum()),
                          unreadable=records.attrs.get("unreadable", []))
    _write_tables(result, formats, runs, agg, rank, problems)
    figures = _result_figures(runs, agg, out, result, seed=seed, embed="html" in formats, jobs=jobs)
    ck_figs, ck_notes = ([], ["Checkpoint figures were not requested."])
    if checkpoint_figures:
        ck_figs, ck_notes = _checkpoint_figures(runs, group_by, out, result, max_checkpoint_runs, seed,
                                                "html" in formats, checkpoint_views)
    figure_notes = list(result.notes)
    result.notes += ck_notes
    if "html" in formats:
        page = html_mod.render_html(html_mod.PageContent(
            runs=runs, agg=agg, rank=rank, problems=problems, figures=figures, checkpoint_figures=ck_figs,
            checkpoint_notes=ck_notes, figure_notes=figure_notes, n_records=len(records),
            sources=records.attrs.get("sources", []), unreadable=result.unreadable))
        _put(result, "report.html", page)
        result.html = out / "report.html"
    _remove_leftovers(result)
    return result


def _remove_leftovers(result: ReportResult) -> None:
    """Tables and figures of an earlier report in the same folder that this one did not write (they would
    describe other records). Only files under ``tables/`` and ``figures/`` are touched."""
    written = {Path(f).resolve() for f in result.files}
    for sub in ("tables", "figures"):
        for path in sorted((result.out_dir / sub).rglob("*")):
            if path.is_file() and path.resolve() not in written:
                path.unlink()


def _load(results_dirs, metrics) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records and the per-run table; ValueError when there is nothing to report."""
    records = load_results(results_dirs, warn=False)
    unreadable = records.attrs.get("unreadable", [])
    if records.empty:
        raise ValueError(f"no result records found under {', '.join(map(str, records.attrs.get('sources', [])))}"
                         f"{f' ({len(unreadable)} unreadable file(s))' if unreadable else ''}; expected "
                         "RESULTS_DIR/<run.id>/<representation>__<metric>.json files written by `dbench evaluate`")
    runs = runs_table(records)
    if not tables.select_metrics(runs) and metrics is None:
        failed = records[records["status"] == "failed"]
        shown = "; ".join(f"{r['run.id']} {r['eval.representation']}/{r['eval.metric']}: {r.get('error', '')}"
                          for _, r in failed.head(5).iterrows())
        raise ValueError(f"all {len(failed)} of {len(records)} records are failed evaluations, so there is "
                         f"nothing to tabulate; first failures: {shown}")
    return records, runs


def _put(result: ReportResult, rel: str, text: str) -> None:
    atomic_write_text(result.out_dir / rel, text)
    result.files.append(result.out_dir / rel)


def _write_tables(result: ReportResult, formats, runs, agg, rank, problems) -> None:
    if "csv" in formats:
        _put(result, "tables/summary.csv", agg.to_csv(index=False))
        keep = [c for c in runs.columns if not c.startswith(("protocol.", "env."))]
        _put(result, "tables/runs.csv", runs[keep].to_csv(index=False))
        _put(result, "tables/ranking.csv", rank.to_csv(index=False))
        _put(result, "tables/failures.csv", problems.to_csv(index=False))
    writers = {"md": (tables.to_markdown, tables.ranking_markdown), "tex": (tables.to_latex, tables.ranking_latex)}
    for ext, (summary, ranking) in writers.items():
        if ext in formats:
            for style in ("mean_std", "median_iqr"):
                _put(result, f"tables/summary_{style}.{ext}", summary(agg, style))
            _put(result, f"tables/ranking.{ext}", ranking(rank))


def _render(fig, stem: str, out: Path, dpi: int = 100) -> tuple[str, list[Path]]:
    """Write ``figures/<stem>.png`` and ``.pdf``; return the PNG as base64 (for the page) and the paths."""
    # One PNG rendering serves both the file and the page.
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    png = buf.getvalue()
    atomic_write_bytes(out / "figures" / f"{stem}.png", png)
    # The layout was solved by the first save; solving it again for the PDF would double the cost.
    fig.set_layout_engine("none")
    pdf = plots.save_figure(fig, out / "figures" / stem, ("pdf",))
    return base64.b64encode(png).decode("ascii"), [out / "figures" / f"{stem}.png", *map(Path, pdf)]


def _collect(done: list[tuple], result: ReportResult, embed: bool) -> list[html_mod.FigureEntry]:
    """Files and notes of figures rendered as ``(title, caption, png64, paths, note)``; their page entries."""
    result.notes += [note for *_, note in done if note]
    result.files += [path for *_, paths, _ in done for path in paths]  # a figure that failed has none
    return [html_mod.FigureEntry(title, caption, png64)
            for title, caption, png64, _, note in done if embed and not note]


# The per-run table, set before the pool forks: workers share it copy-on-write, not as a pickled copy per task.
_RUNS: pd.DataFrame | None = None


def _figure_task(task: tuple) -> tuple:
    """Build, save and encode one result figure (runs in a worker process or inline)."""
    stem, title, caption, builder, kwargs, out = task
    try:
        fig = builder(_RUNS, **kwargs)
    except ValueError as exc:
        return title, caption, None, [], f"no {title}: {exc}"
    return title, caption, *_render(fig, stem, out), None


def _result_figures(runs, agg, out, result, *, seed, embed, jobs):
    global _RUNS
    reps = list(dict.fromkeys(runs["representation"]))
    main_rep = "mean" if "mean" in reps else reps[0]
    keys = agg.attrs["metrics"]
    scored = [k for k in keys if direction(k) != 0]
    disent = [k for k in scored if plots.is_disentanglement(k)]
    # Box plots for the main representation only: they are the bulk of the rendering time; tables cover the other.
    tasks = [(f"metric_vs_hparam__{_safe(k)}__{main_rep}", f"{k} against the hyperparameter",
              f"{main_rep} representation; boxes: median and quartiles over seeds, whiskers 1.5 IQR; "
              "points: individual seeds.", plots.plot_metric_vs_hparam,
              {"metric": k, "representation": main_rep, "seed": seed}, out) for k in keys]
    recon = next((k for k in ("reconstruction.bernoulli_nll", "reconstruction.mse") if f"metric.{k}" in runs), None)
    for rep in reps:
        if recon is not None and disent:
            tasks.append((f"tradeoff__{rep}", f"Reconstruction–disentanglement trade-off ({rep})",
                          "One point per run, one colour per hyperparameter value.", plots.plot_tradeoff,
                          {"metrics": disent, "reconstruction": recon, "representation": rep}, out))
        tasks.append((f"rank_correlation__{rep}", f"Spearman rank correlation between metrics ({rep})",
                      "Across all models of each dataset, ×100 (Locatello et al. 2019, Fig. 7).",
                      plots.plot_rank_correlation, {"metrics": scored, "representation": rep}, out))
    _RUNS = runs
    try:
        jobs = min(jobs or 1, len(tasks))
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            # matplotlib rendering is CPU-bound Python: processes, not threads. fork shares _RUNS.
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                done = list(pool.map(_figure_task, tasks))
        else:
            done = [_figure_task(t) for t in tasks]
    finally:
        _RUNS = None
    return _collect(done, result, embed)


def _checkpoint_runs(runs, group_by, limit) -> tuple[pd.DataFrame | None, str, list[str]]:
    """The runs to draw (best and worst seed of each setting, with a checkpoint directory), the selection
    metric, and notes on the runs left out."""
    try:
        chosen = plots.select_runs(runs, group_by=group_by)
    except ValueError as exc:
        return None, "", [f"Checkpoint figures skipped: {exc}"]
    if chosen.empty:
        return None, "", ["Checkpoint figures skipped: no run has a value of the selection metric."]
    notes = []
    metric = chosen["selection_metric"].iloc[0]
    dirs = chosen.get("run.dir", pd.Series(None, index=chosen.index, dtype=object))
    exists = dirs.map(lambda p: isinstance(p, str) and os.path.isdir(p))
    missing = chosen[~exists]
    if len(missing):
        notes.append(f"{len(missing)} of {len(chosen)} chosen runs (best and worst seed of each setting by {metric}) "
                     "have no checkpoint directory here (run.dir does not exist); their traversals and "
                     "reconstructions are skipped: " + ", ".join(missing["run"].astype(str).head(12))
                     + (" …" if len(missing) > 12 else ""))
    todo = chosen[exists]
    if len(todo) > limit:
        notes.append(f"Only the first {limit} of {len(todo)} runs with checkpoints are drawn (max_checkpoint_runs).")
        todo = todo.head(limit)
    return todo, metric, notes


def _checkpoint_figures(runs, group_by, out, result, limit, seed, embed, open_views):
    todo, metric, notes = _checkpoint_runs(runs, group_by, limit)
    if todo is None or todo.empty:
        return [], notes
    if open_views is None:
        return [], notes + [f"Checkpoint figures of {len(todo)} run(s) skipped: no model opener was given "
                            "(write_report(..., checkpoint_views=benchmark.views.checkpoint_views) draws them)."]
    rng = np.random.default_rng(seed)
    done = []
    for _, r in todo.iterrows():
        try:
            views = open_views(r["run.dir"], 8, rng)
        except Exception as exc:  # a broken checkpoint must not sink the whole report
            notes.append(f"{r['run']}: checkpoint figures skipped ({type(exc).__name__}: {exc}).")
            continue
        label = f"{r['run']} — {r['which']} seed of its setting by {metric} = {r[f'metric.{metric}']:.3g}"
        stem = _safe(f"{r['which']}__{r['run']}")
        fig = plots.plot_latent_traversal(views.traversals, views.values, kl=views.kl, dims=views.dims,
                                          title=f"Traversals: {r['run']}")
        done.append((f"Latent traversal, {label}", "Rows: latent dimensions sorted by KL (mean over 8 images); "
                     "columns: value −2…2; other dimensions at the posterior mean of the first image.",
                     *_render(fig, f"checkpoints/traversal__{stem}", out), None))
        fig = plots.plot_reconstructions(views.images, views.reconstructions, title=f"Reconstructions: {r['run']}")
        done.append((f"Inputs and reconstructions, {label}", "Top: inputs; bottom: sigmoid(decode(posterior mean)).",
                     *_render(fig, f"checkpoints/reconstructions__{stem}", out), None))
    return _collect(done, result, embed), notes
