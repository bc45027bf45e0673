"""``write_report``: results directories in, a report folder out (what ``dbench report`` runs).

Layout of REPORT_DIR::

    report.html                       the self-contained page (format "html")
    tables/paper__<dataset>__<representation>.tex   one paper table each (format "tex"); tables/paper.md (md)
    tables/ranking.{md,tex,csv}       the ranking view of the paper keys
    tables/summary.csv                long table of every metric key: one row per (setting, key) with n, n_failed,
                                      n_missing, mean, std (ddof=1), median, q25, q75, iqr, min, max  (format "csv")
    tables/runs.csv                   one row per (run, representation): every metric value
    tables/failures.csv               every failed or missing evaluation; tables/grid.csv every trial of a sweep
    tables/variance.csv               the share of each metric's variance from the hyperparameter and the seed
    figures/<name>__1col.{pdf,png}    every figure one column wide (3.3 in), PDF and a 200 dpi PNG
    figures/<name>__2col.{pdf,png}    and two columns wide (7 in)
"""

from __future__ import annotations

import base64
import functools
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
from benchmark.reports import paper, plots, tables
from benchmark.reports.grid import GridSummary, SweepGrid, grid_table, results_source, sweep_root
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
    grid: GridSummary = field(default_factory=GridSummary)


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
    read_grid: Callable[[Path], SweepGrid] | None = None,
) -> ReportResult:
    """Load the records under one or several ``results_dirs`` (results folders, or sweep folders holding
    ``sweep.json``: their ``results``) and write tables, figures and the page into ``out_dir``. Raises
    ``ValueError`` for an unknown format, group column or metric, or when no record was found.

    group_by: the setting columns. metrics: the paper tables' keys or metric names (:func:`.tables.paper_metrics`;
        default: the headline key of each of :data:`.tables.PAPER_METRICS`); ``tables/summary.csv`` has every key.
    formats: any of ``md``, ``tex``, ``html``, ``csv``; figures are always written as PDF and PNG, each one and
        two columns wide.
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
    read_grid: ``(sweep folder) -> SweepGrid``, the expected grid of a sweep whose folder (or results folder) is
        among ``results_dirs`` (``dbench report`` passes one built on :mod:`benchmark.sweeps`, which this package
        never imports). With it the report lists every trial that is not complete; without it, or for a plain
        results folder, what is missing is inferred from the records and the page says it cannot be known.
    """
    formats = tuple(formats)
    jobs = min(4, os.cpu_count() or 1) if jobs is None else jobs
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown report format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    sources = [results_dirs] if isinstance(results_dirs, (str, os.PathLike)) else list(results_dirs)
    grid = _grids(sources, read_grid)
    records, runs = _load([results_source(s) for s in sources], metrics)
    group_by = tables._check_group_by(runs, group_by)
    problems = tables.problems_table(runs, group_by, grid.grids)
    keys = tables.paper_metrics(runs, metrics)
    agg = tables.aggregate(runs, group_by=group_by, metrics=keys, problems=problems)
    rank = tables.ranking(agg)
    result = ReportResult(out_dir=out, html=None, n_records=len(records), n_runs=runs["run"].nunique(),
                          n_failed=int((problems["kind"] == "failed").sum()),
                          n_missing=int((problems["kind"] == "missing").sum()),
                          unreadable=records.attrs.get("unreadable", []), grid=grid)
    _write_tables(result, formats, runs, agg, rank, problems)
    figures = _result_figures(runs, keys, out, result, seed=seed, embed="html" in formats, jobs=jobs)
    ck_figs, ck_notes = ([], ["Checkpoint figures were not requested."])
    if checkpoint_figures:
        ck_figs, ck_notes = _checkpoint_figures(runs, group_by, out, result, max_checkpoint_runs, seed,
                                                "html" in formats, checkpoint_views)
    figure_notes = list(result.notes)
    result.notes += ck_notes
    if "html" in formats:
        page = html_mod.render_html(html_mod.PageContent(
            runs=runs, agg=agg, rank=rank, problems=problems, grid=grid, figures=figures, checkpoint_figures=ck_figs,
            checkpoint_notes=ck_notes, figure_notes=figure_notes, n_records=len(records),
            sources=records.attrs.get("sources", []), unreadable=result.unreadable))
        _put(result, "report.html", page)
        result.html = out / "report.html"
    _remove_leftovers(result)
    return result


def _grids(sources, read_grid) -> GridSummary:
    """The expected grid of every source that is a sweep (when ``read_grid`` can read it); the others are plain."""
    summary = GridSummary()
    for src in sources:
        root = sweep_root(src)
        if root is None or read_grid is None:
            summary.plain_sources.append(str(src))
            continue
        try:
            g = read_grid(root)
        except (ValueError, OSError) as exc:  # a spec this version cannot expand: infer, and say why
            g = SweepGrid(root.name, str(root / "sweep.json"), str(root / "results"), error=str(exc))
        summary.grids.append(g)
        if not g.known:
            summary.plain_sources.append(str(src))
    return summary


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
    group_by = agg.attrs["group_by"]
    if "csv" in formats:
        full = tables.aggregate(runs, group_by=group_by, metrics=["all"], problems=problems)
        _put(result, "tables/summary.csv", full.to_csv(index=False))
        keep = [c for c in runs.columns if not c.startswith(("protocol.", "env."))]
        _put(result, "tables/runs.csv", runs[keep].to_csv(index=False))
        _put(result, "tables/ranking.csv", rank.to_csv(index=False))
        _put(result, "tables/failures.csv", problems.to_csv(index=False))
        reps = list(dict.fromkeys(runs["representation"]))
        shares = pd.concat([tables.variance_shares(runs, agg.attrs["metrics"], rep).assign(representation=rep)
                            for rep in reps])
        _put(result, "tables/variance.csv", shares.to_csv(index=False))
        if result.grid.grids:
            _put(result, "tables/grid.csv", grid_table(result.grid.grids).to_csv(index=False))
    if "md" in formats:
        _put(result, "tables/paper.md", "\n".join(paper.to_markdown(t) for t in paper.paper_tables(agg, "md")))
        _put(result, "tables/ranking.md", "\n".join(paper.to_markdown(t) for t in paper.ranking_tables(rank, group_by, "md")))
    if "tex" in formats:
        for t in paper.paper_tables(agg, "tex"):
            _put(result, f"tables/paper__{t.stem}.tex", paper.to_latex(t))
        _put(result, "tables/ranking.tex", "\n".join(paper.to_latex(t, "tab:dbench:rank")
                                                      for t in paper.ranking_tables(rank, group_by, "tex")))


def _render(build: Callable[..., Any], stem: str, out: Path) -> tuple[str, list[Path]]:
    """Build the figure at both print widths (``build(width=...)``) and write ``figures/<stem>__1col`` and
    ``__2col`` as PDF and PNG; return the two-column PNG as base64 (for the page) and the paths."""
    paths, png = [], b""
    for suffix, width in plots.WIDTHS.items():
        fig = build(width=width)
        with plots.print_style():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=plots.PNG_DPI)
            atomic_write_bytes(out / "figures" / f"{stem}__{suffix}.png", buf.getvalue())
            pdf = plots.save_figure(fig, out / "figures" / f"{stem}__{suffix}", ("pdf",))
        paths += [out / "figures" / f"{stem}__{suffix}.png", *map(Path, pdf)]
        png = buf.getvalue()
    return base64.b64encode(png).decode("ascii"), paths


def _collect(done: list[tuple], result: ReportResult, embed: bool) -> list[html_mod.FigureEntry]:
    """Files and notes of figures rendered as ``(title, caption, png64, paths, note)``; their page entries."""
    result.notes += [note for *_, note in done if note]
    result.files += [path for *_, paths, _ in done for path in paths]  # a figure that failed has none
    return [html_mod.FigureEntry(title, caption, png64)
            for title, caption, png64, _, note in done if embed and not note]


# The per-run table, set before the pool forks: workers share it copy-on-write, not as a pickled copy per task.
_RUNS: pd.DataFrame | None = None


def _figure_task(task: tuple) -> tuple:
    """Build, save and encode one result figure at both widths (runs in a worker process or inline)."""
    stem, title, caption, builder, kwargs, out = task
    try:
        return (title, caption, *_render(lambda width: builder(_RUNS, width=width, **kwargs), stem, out), None)
    except ValueError as exc:
        return title, caption, None, [], f"no {title}: {exc}"


def _figure_tasks(runs: pd.DataFrame, keys: list[str], out: Path, seed: int) -> list[tuple]:
    """``(stem, title, caption, builder, kwargs, out)`` of every result figure of the report."""
    reps = list(dict.fromkeys(runs["representation"]))
    rep = "mean" if "mean" in reps else reps[0]
    datasets = sorted(runs.loc[runs["representation"] == rep, "dataset"].unique())
    scored = [k for k in keys if direction(k) != 0]
    disent = [k for k in scored if plots.is_disentanglement(k)]
    recon = next((k for k in (*keys, "reconstruction.bernoulli_nll", "reconstruction.mse")
                  if k.startswith("reconstruction.") and f"metric.{k}" in runs), None)
    tasks = []
    for d in datasets:
        tasks += [(f"metric__{_safe(d)}__{_safe(k)}__{rep}", f"{tables.paper_label(k)} by method and setting, {d}",
                   f"{rep} representation; one panel per method, a box per hyperparameter value (median, quartiles, "
                   "whiskers to 1.5 IQR), every seed a point.", plots.plot_metric_by_setting,
                   {"metric": k, "dataset": d, "representation": rep, "seed": seed}, out) for k in keys]
        if recon is not None and disent:
            tasks.append((f"tradeoff__{_safe(d)}__{rep}", f"Reconstruction–disentanglement trade-off, {d}",
                          f"{rep} representation; one point per run, one colour per method, darker for larger "
                          "hyperparameter values.", plots.plot_tradeoff,
                          {"metrics": disent, "reconstruction": recon, "dataset": d, "representation": rep}, out))
    for r in reps:
        tasks.append((f"rank_correlation__{r}", f"Spearman rank correlation between metrics ({r})",
                      "Across all models of each dataset, ×100 (Locatello et al. 2019, Fig. 7).",
                      plots.plot_rank_correlation, {"metrics": scored, "representation": r}, out))
    tasks.append((f"variance__{rep}", "Variance from the hyperparameter versus the seed",
                  f"{rep} representation; per method, the share of each metric's variance over its runs that the "
                  "hyperparameter explains (one-way sums of squares, tables/variance.csv); the rest comes from the "
                  "seed. 'all methods': the settings are method and value.", plots.plot_variance_shares,
                  {"metrics": scored, "representation": rep}, out))
    return tasks


def _result_figures(runs, keys, out, result, *, seed, embed, jobs):
    global _RUNS
    tasks = _figure_tasks(runs, keys, out, seed)
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
        traversal = functools.partial(plots.plot_latent_traversal, views.traversals, views.values, kl=views.kl,
                                      dims=views.dims, title=f"Traversals: {r['run']}")
        done.append((f"Latent traversal, {label}", "Rows: latent dimensions sorted by KL (mean over 8 images); "
                     "columns: value −2…2; other dimensions at the posterior mean of the first image.",
                     *_render(traversal, f"checkpoints/traversal__{stem}", out), None))
        recon = functools.partial(plots.plot_reconstructions, views.images, views.reconstructions,
                                  title=f"Reconstructions: {r['run']}")
        done.append((f"Inputs and reconstructions, {label}", "Top: inputs; bottom: sigmoid(decode(posterior mean)).",
                     *_render(recon, f"checkpoints/reconstructions__{stem}", out), None))
    return _collect(done, result, embed), notes
