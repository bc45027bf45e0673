"""Figures for papers and report pages (matplotlib, no pyplot state: every function builds a fresh
:class:`matplotlib.figure.Figure` and returns it; saving is the caller's, see :func:`save_figure`).

Every figure is drawn at its print size: ``width`` is :data:`ONE_COLUMN` (3.3 in) or :data:`TWO_COLUMNS` (7 in),
the height follows from the panels, and every text is at least :data:`FONT_PT` points (:data:`PRINT_RC`; no
mathtext, whose subscripts would be 70 % of that: hyperparameters by their plain names, β, C_max). Panels wrap into a grid
that fits the width. Each method has its own colour in every figure (:func:`method_colour`); a setting is a
shade of it (darker = larger hyperparameter value).

Result figures (:func:`plot_metric_by_setting`, :func:`plot_tradeoff`, :func:`plot_rank_correlation`,
:func:`plot_variance_shares`) take the per-run table of :func:`benchmark.reports.results.runs_table` (one row
per run and representation, ``metric.<key>`` columns). Checkpoint figures (:func:`plot_latent_traversal`,
:func:`plot_reconstructions`) take arrays, images ``(N, C, H, W)`` float in [0, 1], which
:mod:`benchmark.views` computes from a model: this module never imports torch.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmark._io import atomic_path
from benchmark.config import METHODS
from benchmark.metrics import RUN_SELECTION_KEYS, direction, key_info
from benchmark.reports.tables import DEFAULT_GROUP_BY, paper_label, paper_metrics, variance_shares

#: Print widths in inches: one column of a two-column paper, and the full text width.
ONE_COLUMN, TWO_COLUMNS = 3.3, 7.0
WIDTHS = {"1col": ONE_COLUMN, "2col": TWO_COLUMNS}
#: The smallest type size of any figure, in points at print size.
FONT_PT = 8
#: PNG resolution (dots per inch at print size).
PNG_DPI = 200
#: matplotlib settings every figure is built and saved under (:func:`print_style`).
PRINT_RC = {
    "font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT, "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT, "legend.title_fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1, "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.major.pad": 2, "ytick.major.pad": 2,
    "axes.labelpad": 2, "axes.titlepad": 3, "lines.linewidth": 0.8, "grid.linewidth": 0.4,
    "pdf.fonttype": 3,  # Type 3 (matplotlib's default): TrueType (42) subsetting triples the time of a PDF
}
#: Method colours (Okabe & Ito's colour-blind safe palette), in the order of ``benchmark.config.METHODS``;
#: methods registered later (plugins) take the next ones by name.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999", "#F0E442")


def print_style():
    """A context in which figures are built and saved at print size (:data:`PRINT_RC`)."""
    return matplotlib.rc_context(PRINT_RC)


def _printed(builder):
    """Build the figure under :data:`PRINT_RC`: its texts take the print sizes when they are created."""

    @functools.wraps(builder)
    def build(*args, **kwargs):
        with print_style():
            return builder(*args, **kwargs)

    return build


def method_colour(model: str) -> str:
    """The colour of ``model`` in every figure: the registry's methods in order, then others by name."""
    order = list(METHODS)
    if model not in order:
        order += sorted({model} | {m for m in METHODS if m not in order})
    return PALETTE[order.index(model) % len(PALETTE)]


def setting_shade(model: str, rank: int, count: int) -> tuple:
    """The colour of the ``rank``-th of ``count`` sorted settings of ``model``: from a light tint (the smallest
    value) to the method's colour (the largest)."""
    t = 0.35 + 0.65 * (rank / (count - 1) if count > 1 else 1.0)
    return tuple(1 - t * (1 - c) for c in to_rgb(method_colour(model)))


def is_disentanglement(key: str) -> bool:
    """Whether ``key`` is a disentanglement score (the registry's ``MetricKey.disentanglement``); a key no
    registered metric declares counts as one unless it is descriptive (direction 0)."""
    info = key_info(key)
    return info.disentanglement if info is not None else direction(key) != 0


def _plain(text: object) -> str:
    """Text from records (names, keys, titles) as literal text: a ``$`` never starts matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _subset(runs: pd.DataFrame, representation: str | None, dataset: str | None = None) -> pd.DataFrame:
    sub = runs if representation is None else runs[runs["representation"] == representation]
    if sub.empty:
        have = ", ".join(sorted(runs["representation"].astype(str).unique()))
        raise ValueError(f"no runs with representation {representation!r}; the table has: {have}")
    if dataset is not None:
        sub = sub[sub["dataset"] == dataset]
        if sub.empty:
            raise ValueError(f"no runs of dataset {dataset!r}; the table has: {', '.join(sorted(runs['dataset'].unique()))}")
    return sub


def _column(runs: pd.DataFrame, key: str) -> str:
    col = key if key.startswith("metric.") else f"metric.{key}"
    if col not in runs.columns:
        have = ", ".join(c.removeprefix("metric.") for c in runs.columns if c.startswith("metric."))
        raise ValueError(f"metric {key!r} is not in the results; available keys: {have}")
    return col


def _grid(n: int, width: float, *, max_cols: int, aspect: float, left: float = 0.5, right: float = 0.08,
          top: float = 0.32, bottom: float = 0.4, wgap: float = 0.15, hgap: float = 0.42, below: float = 0.0,
          sharey: bool = False, max_panel: float | None = None) -> tuple[Figure, list, int]:
    """A figure ``width`` inches wide holding ``n`` panels in rows of at most ``max_cols``, each ``aspect`` times
    as high as wide and at most ``max_panel`` inches wide (fewer panels than fit leave the rest of the width
    blank, centred: the figure keeps its print width); margins and gaps in inches (``below``: room under the
    panels for a legend). The layout is computed, not solved: a fixed print size needs no layout engine, and
    saving is then one drawing per file."""
    ncols = max(1, min(n, max_cols))
    nrows = -(-n // ncols)
    pw = (width - left - right - (ncols - 1) * wgap) / ncols
    if max_panel is not None and pw > max_panel:
        spare = (pw - max_panel) * ncols
        left, right, pw = left + spare / 2, right + spare / 2, max_panel
    ph = pw * aspect
    height = top + bottom + below + nrows * ph + (nrows - 1) * hgap
    fig = Figure(figsize=(width, height))
    gs = fig.add_gridspec(nrows, ncols, left=left / width, right=1 - right / width, top=1 - top / height,
                          bottom=(bottom + below) / height, wspace=wgap / pw, hspace=hgap / ph)
    axes = []
    for i in range(n):
        share = axes[0] if sharey and axes else None
        axes.append(fig.add_subplot(gs[i // ncols, i % ncols], sharey=share))
    return fig, axes, ncols


def _box_plot(ax, groups: list[np.ndarray], colours: list, rng: np.random.Generator) -> None:
    """Boxes (quartiles, median, whiskers to the last point within 1.5 IQR) and every value as a jittered point,
    as three collections: hundreds of separate box artists make saving several times slower."""
    polys, lines, pts, pcol = [], [], [], []
    for i, (g, colour) in enumerate(zip(groups, colours)):
        g = g[np.isfinite(g)]
        if not g.size:
            continue
        q1, med, q3 = np.percentile(g, [25, 50, 75])
        lo, hi = g[g >= q1 - 1.5 * (q3 - q1)].min(), g[g <= q3 + 1.5 * (q3 - q1)].max()
        polys.append([(i - 0.32, q1), (i + 0.32, q1), (i + 0.32, q3), (i - 0.32, q3)])
        lines += [[(i - 0.32, med), (i + 0.32, med)], [(i, q3), (i, hi)], [(i, lo), (i, q1)],
                  [(i - 0.12, hi), (i + 0.12, hi)], [(i - 0.12, lo), (i + 0.12, lo)]]
        pts += [np.column_stack([i + rng.uniform(-0.2, 0.2, g.size), g])]
        pcol += [colour] * g.size
    face = [tuple(1 - 0.25 * (1 - c) for c in to_rgb(col)) for col, g in zip(colours, groups) if np.isfinite(g).any()]
    ax.add_collection(PolyCollection(polys, facecolors=face, edgecolors="0.25", linewidths=0.6, zorder=1))
    ax.add_collection(LineCollection(lines, colors="0.15", linewidths=0.7, zorder=2))
    if pts:
        xy = np.concatenate(pts)
        ax.scatter(xy[:, 0], xy[:, 1], s=5, c=pcol, alpha=0.9, linewidths=0, zorder=3)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.autoscale_view(scalex=False)


@_printed
def plot_metric_by_setting(
    runs: pd.DataFrame, metric: str, *, dataset: str | None = None, representation: str | None = "mean",
    width: float = ONE_COLUMN, seed: int = 0,
) -> Figure:
    """One metric of one dataset by method and setting: a panel per method (shared y axis), a box per
    hyperparameter value (sorted) in the method's colour, every seed a point, jittered by
    ``np.random.default_rng(seed)`` so the figure is reproducible. ``dataset`` defaults to the first one.

    Axes: x label the method's hyperparameter (its plain name: β, C_max, ...), y label the metric's paper label with its
    direction arrow, panel titles the method names, figure title ``"<label> · <dataset>"``.
    """
    col = _column(runs, metric)
    data = _subset(runs, representation)
    dataset = sorted(data["dataset"].unique())[0] if dataset is None else dataset
    data = _subset(data, None, dataset)
    data = data[data[col].notna()]
    if data.empty:
        raise ValueError(f"metric {metric!r} has no values for dataset {dataset!r}, representation {representation!r}")
    models = sorted(data["model"].unique(), key=lambda m: (list(METHODS).index(m) if m in METHODS else len(METHODS), m))
    fig, axes, ncols = _grid(len(models), width, max_cols=2 if width < 5 else 3, aspect=0.6 if width < 5 else 0.5,
                             hgap=0.52, sharey=True, max_panel=2.9)
    rng = np.random.default_rng(seed)
    for i, (ax, model) in enumerate(zip(axes, models)):
        d = data[data["model"] == model]
        values = sorted(d["hparam"].dropna().unique())
        groups = [d.loc[d["hparam"] == v, col].to_numpy(dtype=float) for v in values]
        if not values:  # a method without a registered hyperparameter: one box for all its runs
            values, groups = ["all"], [d[col].to_numpy(dtype=float)]
        _box_plot(ax, groups, [method_colour(model)] * len(groups), rng)
        ax.set_xticks(np.arange(len(groups)), [f"{v:g}" if not isinstance(v, str) else v for v in values])
        # the plain name (β, C_max), not the mathtext label: a mathtext subscript is 70 % of the type size
        ax.set_xlabel(_plain(METHODS[model].axis_text) if model in METHODS else "hyperparameter", labelpad=1)
        ax.set_title(_plain(model))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(axis="y", alpha=0.4)
        if i % ncols:
            ax.tick_params(labelleft=False)
        else:
            ax.set_ylabel(_plain(paper_label(metric)))
    fig.suptitle(f"{_plain(paper_label(metric))} · {_plain(dataset)}", y=1 - 0.06 / fig.get_figheight())
    return fig


@_printed
def plot_tradeoff(
    runs: pd.DataFrame, metrics: Sequence[str] | None = None, *, reconstruction: str = "reconstruction.bernoulli_nll",
    dataset: str | None = None, representation: str | None = "mean", width: float = ONE_COLUMN,
) -> Figure:
    """Reconstruction–disentanglement trade-off of one dataset: a panel per disentanglement score (wrapping
    into rows), x = the reconstruction error (lower is better), y = the score, one point per run in its
    method's colour, shaded by setting (darker = larger hyperparameter value), a legend of the methods below.
    ``metrics`` defaults to the paper keys that are disentanglement scores.
    """
    xcol = _column(runs, reconstruction)
    data = _subset(runs, representation)
    dataset = sorted(data["dataset"].unique())[0] if dataset is None else dataset
    data = _subset(data, None, dataset)
    if metrics is None:
        metrics = [k for k in paper_metrics(runs) if is_disentanglement(k) and direction(k) != 0]
    cols = [_column(runs, m) for m in metrics]
    if not cols:
        raise ValueError("no disentanglement metric to plot against reconstruction")
    models = sorted(data["model"].unique(), key=lambda m: (list(METHODS).index(m) if m in METHODS else len(METHODS), m))
    ncol_legend = 3 if width < 5 else 6
    legend_rows = -(-len(models) // ncol_legend)
    fig, axes, ncols = _grid(len(cols), width, max_cols=2 if width < 5 else 3, aspect=0.8, left=0.48, wgap=0.5,
                             hgap=0.5, below=0.3 + 0.16 * legend_rows, max_panel=2.9)
    shade = {}
    for model in models:
        values = sorted(data.loc[data["model"] == model, "hparam"].dropna().unique())
        shade |= {(model, v): setting_shade(model, i, len(values)) for i, v in enumerate(values)}
    colours = [shade.get((m, v), to_rgb(method_colour(m))) for m, v in zip(data["model"], data["hparam"])]
    colours = np.array(colours, dtype=float).reshape(-1, 3)
    for i, (ax, m, col) in enumerate(zip(axes, metrics, cols)):
        sel = (data[xcol].notna() & data[col].notna()).to_numpy()
        ax.scatter(data.loc[sel, xcol], data.loc[sel, col], s=6, c=colours[sel], linewidths=0, alpha=0.9)
        ax.set_ylabel(_plain(paper_label(m)))
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.4)
        if i >= len(cols) - ncols:  # the bottom panel of each column
            ax.set_xlabel(_plain(paper_label(reconstruction)))
    handles = [Line2D([], [], linestyle="", marker="o", color=method_colour(m), markersize=4) for m in models]
    fig.legend(handles, [_plain(m) for m in models], loc="lower center", ncol=ncol_legend, frameon=False,
               title="method (darker: larger hyperparameter)", handletextpad=0.2, columnspacing=0.8,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"Trade-off · {_plain(dataset)}", y=1 - 0.06 / fig.get_figheight())
    return fig


def rank_correlation(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlation between metric keys across the rows of ``runs`` (pairwise complete).

    Keys with fewer than 3 values or no variation are dropped (their correlation is undefined).
    """
    keys = metrics if metrics is not None else [k for k in paper_metrics(runs) if direction(k) != 0]
    cols = [_column(runs, k) for k in keys]
    frame = runs[cols].apply(pd.to_numeric, errors="coerce").rename(columns=lambda c: c.removeprefix("metric."))
    frame = frame.loc[:, (frame.notna().sum() >= 3) & (frame.nunique() > 1)]
    return frame.corr(method="spearman")


def _heat_maps(mats: dict[str, pd.DataFrame], width: float, *, title: str, vmin: float, vmax: float,
               cmap: str, scale: float = 100.0) -> Figure:
    """One heat map per entry of ``mats`` (title → matrix), wrapping into rows, every cell's value (× ``scale``)
    printed in it (so no colour bar is needed)."""
    rows = max(len(m.index) for m in mats.values())
    cols = max(len(m.columns) for m in mats.values())
    label_in = 0.062 * FONT_PT / 8 * max(len(str(c)) for m in mats.values() for c in [*m.columns, *m.index])
    left = label_in + 0.12
    fig, axes, ncols = _grid(len(mats), width, max_cols=1 if width < 5 else 2, aspect=rows / cols,
                             left=left, right=0.1, bottom=label_in + 0.1, wgap=left, hgap=label_in + 0.35,
                             max_panel=0.42 * cols + 0.2)
    for ax, (name, mat) in zip(axes, mats.items()):
        im = ax.imshow(mat.to_numpy(dtype=float), vmin=vmin, vmax=vmax, cmap=cmap, aspect="auto")
        ax.set_xticks(np.arange(mat.shape[1]), [_plain(c) for c in mat.columns], rotation=90)
        ax.set_yticks(np.arange(mat.shape[0]), [_plain(c) for c in mat.index])
        ax.tick_params(length=0)
        norm = im.norm
        for (i, j), v in np.ndenumerate(mat.to_numpy(dtype=float)):
            if np.isfinite(v):
                dark = abs(norm(v) - 0.5) > 0.3 if vmin < 0 else norm(v) > 0.6
                ax.text(j, i, f"{scale * v:.0f}", ha="center", va="center", color="white" if dark else "black")
        ax.set_title(_plain(name))
    fig.suptitle(title, y=1 - 0.06 / fig.get_figheight())
    return fig


@_printed
def plot_rank_correlation(
    runs: pd.DataFrame, metrics: list[str] | None = None, *, representation: str | None = "mean",
    width: float = TWO_COLUMNS,
) -> Figure:
    """Spearman rank correlation between metrics across all models of each dataset (Locatello et al. 2019,
    Fig. 7, https://arxiv.org/abs/1811.12359): one heat map per dataset (wrapping into rows), values ×100 in
    the cells, the metrics under their paper labels. Panel titles
    ``"<dataset> (<n> models)"``."""
    data = _subset(runs, representation)
    mats = {}
    for d in sorted(data["dataset"].unique()):
        corr = rank_correlation(data[data["dataset"] == d], metrics)
        labels = [_plain(key_info(k).label if key_info(k) else k) for k in corr.columns]
        mats[f"{d} ({int((data['dataset'] == d).sum())} models)"] = pd.DataFrame(corr.to_numpy(), labels, labels)
    if max((len(m) for m in mats.values()), default=0) < 2:
        raise ValueError("rank correlation needs at least two metrics with 3 or more varying values")
    return _heat_maps(mats, width, title="Spearman rank correlation ×100", vmin=-1, vmax=1, cmap="RdBu_r")


@_printed
def plot_variance_shares(
    runs: pd.DataFrame, metrics: list[str] | None = None, *, representation: str | None = "mean",
    width: float = TWO_COLUMNS,
) -> Figure:
    """How much of each metric's variance the hyperparameter explains (the rest is the seed's), per dataset:
    a heat map of :func:`benchmark.reports.tables.variance_shares` (rows = methods and "all methods", where the
    settings are method and value; columns = the metrics' paper labels; cells = % from the hyperparameter)."""
    data = _subset(runs, representation)
    keys = metrics if metrics is not None else [k for k in paper_metrics(runs) if direction(k) != 0]
    shares = variance_shares(data, keys)
    if shares.empty:
        raise ValueError("no method has two settings with two seeds each: the variance cannot be split")
    mats = {}
    for d, s in shares.groupby("dataset", sort=True):
        mat = s.pivot(index="model", columns="metric", values="hparam_share")
        order = [m for m in [*METHODS, *sorted(mat.index)] if m in mat.index and m != "all methods"]
        mat = mat.reindex([*dict.fromkeys(order), *(["all methods"] if "all methods" in mat.index else [])])
        mat = mat[[k for k in keys if k in mat.columns]]
        mat.columns = [_plain(key_info(k).label if key_info(k) else k) for k in mat.columns]
        mats[str(d)] = mat
    return _heat_maps(mats, width, title="% of variance from the hyperparameter", vmin=0, vmax=1, cmap="Greens")


# ----------------------------------------------------------------------------------------- checkpoint figures
def _image(ax, image: np.ndarray) -> None:
    """Draw one (C, H, W) image in [0, 1] without ticks (grey for one channel)."""
    a = np.clip(image, 0.0, 1.0)
    a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set(xticks=[], yticks=[])


@_printed
def plot_latent_traversal(
    traversals: Any, values: Any, *, kl: Any = None, dims: Any = None, title: str | None = None,
    width: float = TWO_COLUMNS,
) -> Figure:
    """Latent traversal grid, R × V image axes: row r is latent ``dims[r]`` (default ``0..R-1``) set to each of
    the ``(V,)`` ``values`` (the top row's titles), from ``traversals`` ``(R, V, C, H, W)`` float in [0, 1], rows
    in display order (:func:`benchmark.views.latent_traversals` sorts them by KL, most informative first).
    Each row's y label is ``"z<d>\\nKL <kl>"``, with ``kl`` ``(R,)`` optional.
    """
    traversals = np.asarray(traversals, dtype=np.float32)
    values = np.asarray(values, dtype=float)
    if traversals.ndim != 5 or traversals.shape[1] != len(values):
        raise ValueError(f"traversals must be (R, V, C, H, W) float in [0, 1] with V = len(values) = {len(values)}, "
                         f"got shape {traversals.shape}")
    rows = traversals.shape[0]
    dims = np.arange(rows) if dims is None else np.asarray(dims)
    kl = None if kl is None else np.asarray(kl)
    if len(dims) != rows or (kl is not None and len(kl) != rows):
        raise ValueError(f"dims and kl need one entry per row ({rows}), got {len(dims)} and "
                         f"{'none' if kl is None else len(kl)}")
    left = 0.55 if kl is not None else 0.3
    fig, flat, _ = _grid(rows * len(values), width, max_cols=len(values), aspect=1.0, left=left, right=0.05,
                         top=0.42, bottom=0.05, wgap=0.02, hgap=0.02)
    axes = np.array(flat).reshape(rows, len(values))
    for row in range(rows):
        for col in range(len(values)):
            _image(axes[row, col], traversals[row, col])
            if row == 0:
                axes[row, col].set_title(f"{values[col]:+.1f}")
        label = f"z{dims[row]}" + (f"\nKL {kl[row]:.2f}" if kl is not None else "")
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(_plain(title) if title else "Latent traversals (rows sorted by KL)", y=1 - 0.04 / fig.get_figheight())
    return fig


@_printed
def plot_reconstructions(images: Any, reconstructions: Any, *, title: str | None = None,
                         width: float = TWO_COLUMNS) -> Figure:
    """Input/reconstruction pairs: top row ``images``, bottom row ``reconstructions`` (both ``(N, C, H, W)``
    float in [0, 1], e.g. from :func:`benchmark.views.reconstructions`). The rows' y labels are ``"input"`` and
    ``"reconstruction"``.
    """
    images = np.asarray(images, dtype=np.float32)
    recon = np.asarray(reconstructions, dtype=np.float32)
    if images.ndim != 4 or images.shape != recon.shape:
        raise ValueError("images and reconstructions must both be (N, C, H, W) float in [0, 1], got shapes "
                         f"{images.shape} and {recon.shape}")
    k = images.shape[0]
    fig, flat, _ = _grid(2 * k, width, max_cols=k, aspect=1.0, left=0.25, right=0.05, top=0.3, bottom=0.05,
                         wgap=0.03, hgap=0.03)
    axes = np.array(flat).reshape(2, k)
    for ax, image in zip(axes.ravel(), [*images, *recon]):  # row 0 the inputs, row 1 their reconstructions
        _image(ax, image)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("recon.")
    fig.suptitle(_plain(title) if title else "Inputs and reconstructions", y=1 - 0.04 / fig.get_figheight())
    return fig


# ----------------------------------------------------------------------------------- choosing runs and saving
def select_runs(
    runs: pd.DataFrame, metric: str | None = None, *, group_by=DEFAULT_GROUP_BY, representation: str = "mean"
) -> pd.DataFrame:
    """The best and the worst seed of each setting by ``metric`` (in its direction), for checkpoint figures.

    ``metric`` defaults to the first of :data:`benchmark.metrics.RUN_SELECTION_KEYS` present. Returns the chosen rows of
    ``runs`` with two added columns: ``which`` ("best"/"worst"; a single-seed setting gives only "best")
    and ``selection_metric``.
    """
    if metric is None:
        metric = next((m for m in RUN_SELECTION_KEYS if f"metric.{m}" in runs.columns), None)
        if metric is None:
            raise ValueError("no metric to choose runs by; pass metric=")
    col = _column(runs, metric)
    data = runs[(runs["representation"] == representation) & runs[col].notna()] if "representation" in runs else runs
    sign = direction(metric) or 1
    keys = [g for g in group_by if g != "representation"]
    chosen = []
    for _, g in data.groupby(keys, sort=True, dropna=False):
        g = g.assign(_s=g[col] * sign).sort_values("_s", ascending=False, kind="stable")
        chosen.append(g.iloc[[0]].assign(which="best"))
        if len(g) > 1:
            chosen.append(g.iloc[[-1]].assign(which="worst"))
    if not chosen:
        return runs.iloc[0:0].assign(which=[], selection_metric=[])
    return pd.concat(chosen).drop(columns="_s").assign(selection_metric=metric).reset_index(drop=True)


def save_figure(fig: Figure, stem: str | os.PathLike, formats: tuple[str, ...] = ("pdf", "png"),
                dpi: int = PNG_DPI) -> list[str]:
    """Save ``fig`` at its size as ``<stem>.<fmt>`` for each format (PDF vector, PNG at ``dpi``) under
    :data:`PRINT_RC`, atomically; returns the paths written."""
    paths = [f"{os.fspath(stem)}.{fmt}" for fmt in formats]
    with print_style():
        for fmt, path in zip(formats, paths):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi)
    return paths
