"""Figures for papers and report pages (matplotlib, no pyplot state: every function builds a fresh
:class:`matplotlib.figure.Figure` and returns it; saving is the caller's, see :func:`save_figure`).

Result figures (:func:`plot_metric_vs_hparam`, :func:`plot_tradeoff`, :func:`plot_rank_correlation`) take the
per-run table of :func:`benchmark.reports.results.runs_table` (one row per run and representation,
``metric.<key>`` columns). Checkpoint figures (:func:`plot_latent_traversal`, :func:`plot_reconstructions`)
take arrays, images ``(N, C, H, W)`` float in [0, 1], which :mod:`benchmark.views` computes from a model:
this module never imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchmark._io import atomic_path
from benchmark.config import METHODS
from benchmark.metrics import RUN_SELECTION_KEYS, direction, key_info
from benchmark.reports.tables import DEFAULT_GROUP_BY, metric_label, select_metrics


def is_disentanglement(key: str) -> bool:
    """Whether ``key`` is a disentanglement score (the registry's ``MetricKey.disentanglement``); a key no
    registered metric declares counts as one unless it is descriptive (direction 0)."""
    info = key_info(key)
    return info.disentanglement if info is not None else direction(key) != 0


def _plain(text: object) -> str:
    """Text from records (names, keys, titles) as literal text: a ``$`` never starts matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _subset(runs: pd.DataFrame, representation: str | None) -> pd.DataFrame:
    if representation is None:
        return runs
    sub = runs[runs["representation"] == representation]
    if sub.empty:
        have = ", ".join(sorted(runs["representation"].astype(str).unique()))
        raise ValueError(f"no runs with representation {representation!r}; the table has: {have}")
    return sub


def _column(runs: pd.DataFrame, key: str) -> str:
    col = key if key.startswith("metric.") else f"metric.{key}"
    if col not in runs.columns:
        have = ", ".join(c.removeprefix("metric.") for c in runs.columns if c.startswith("metric."))
        raise ValueError(f"metric {key!r} is not in the results; available keys: {have}")
    return col


def plot_metric_vs_hparam(
    runs: pd.DataFrame, metric: str, *, representation: str | None = "mean", seed: int = 0
) -> Figure:
    """One panel per (dataset, model): the metric (y) per hyperparameter value (x, categorical, sorted),
    a box plot of the seeds (median line, quartile box, 1.5·IQR whiskers) with every seed drawn as a
    point, horizontally jittered by a ``np.random.default_rng(seed)`` so the figure is reproducible.

    Axes: x label β or C_max (from the model), y label the metric with its direction arrow, title
    ``"<dataset> · <model>"``. Raises ``ValueError`` for an unknown metric or representation.
    """
    col = _column(runs, metric)
    data = _subset(runs, representation)
    data = data[data[col].notna()]
    if data.empty:
        raise ValueError(f"metric {metric!r} has no values for representation {representation!r}")
    panels = list(data.groupby(["dataset", "model"]))
    ncols = min(len(panels), 4)
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(3.6 * ncols, 3.0 * nrows), layout="constrained")
    rng = np.random.default_rng(seed)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, ((dataset, model), d) in zip(axes, panels):
        values = sorted(d["hparam"].dropna().unique())
        groups = [d.loc[d["hparam"] == v, col].to_numpy(dtype=float) for v in values]
        if not values:  # a method without a registered hyperparameter: one box for all its runs
            values, groups = ["all"], [d[col].to_numpy(dtype=float)]
        grey = {"color": "0.4"}
        ax.boxplot(groups, positions=np.arange(len(groups)), widths=0.6, showfliers=False,
                   medianprops={"color": "black"}, boxprops=grey, whiskerprops=grey, capprops=grey)
        for i, g in enumerate(groups):
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(g)), g, s=12, alpha=0.7, color="C0", zorder=3, linewidths=0)
        ax.set_xticks(np.arange(len(groups)), [f"{v:g}" if not isinstance(v, str) else v for v in values])
        ax.set_xlabel(METHODS[model].axis_label if model in METHODS else "hyperparameter")
        ax.set_ylabel(_plain(metric_label(metric)))
        ax.set_title(f"{_plain(dataset)} · {_plain(model)}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    rep = f"{representation} representation, " if representation else ""
    # Two lines: a one-panel figure is narrower than the metric name and the note on one line.
    fig.suptitle(f"{_plain(metric)}\n{rep}every seed a point", fontsize=10)
    return fig


def plot_tradeoff(
    runs: pd.DataFrame, metrics: list[str] | None = None, *, reconstruction: str = "reconstruction.bernoulli_nll",
    representation: str | None = "mean",
) -> Figure:
    """Reconstruction–disentanglement trade-off: one panel per (dataset, disentanglement metric), x = the
    reconstruction error (``reconstruction``, lower is better), y = the metric, one point per run, one
    colour per hyperparameter value (viridis over the sorted values of each model; marker per model),
    with a legend of (model, value). ``metrics`` defaults to the headline disentanglement scores present.
    """
    xcol = _column(runs, reconstruction)
    data = _subset(runs, representation)
    if metrics is None:
        metrics = [k for k in select_metrics(runs) if is_disentanglement(k) and direction(k) != 0]
    cols = [_column(runs, m) for m in metrics]
    if not cols:
        raise ValueError("no disentanglement metric to plot against reconstruction")
    datasets = sorted(data["dataset"].unique())
    fig = Figure(figsize=(3.2 * len(cols) + 1.6, 2.9 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), len(cols), squeeze=False)
    markers = {m: mk for m, mk in zip(sorted(data["model"].unique()), "os^Dvx*")}
    # One scatter call per (panel, model) with a colour array: hundreds of small collections slow saving severalfold.
    colour_of: dict[tuple[str, float], tuple] = {}
    handles = {}
    for model in sorted(data["model"].unique()):
        values = sorted(data.loc[data["model"] == model, "hparam"].dropna().unique())  # none without a study axis
        colour_of |= {(model, v): colormaps["viridis"](i / max(len(values) - 1, 1)) for i, v in enumerate(values)}
        legend = {f"{_plain(model)} {METHODS[model].axis_label}={v:g}": colour_of[(model, v)] for v in values}
        handles |= {label: Line2D([], [], linestyle="", marker=markers[model], color=colour, markersize=5)
                    for label, colour in (legend or {_plain(model): "C0"}).items()}
    for row, dataset in zip(axes, datasets):
        d = data[data["dataset"] == dataset]
        for ax, m, col in zip(row, metrics, cols):
            for model, dm in d.groupby("model"):
                sel = dm[dm[xcol].notna() & dm[col].notna()]
                colours = [colour_of.get((model, v), "C0") for v in sel["hparam"]]
                ax.scatter(sel[xcol], sel[col], s=14, alpha=0.8, c=colours, marker=markers[model], linewidths=0)
            ax.set(xlabel=_plain(metric_label(reconstruction)), ylabel=_plain(metric_label(m)))
            ax.set_title(_plain(dataset), fontsize=9)
            ax.grid(alpha=0.3)
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside right center", fontsize=7,
               title="setting", title_fontsize=8)
    rep = f" ({representation} representation)" if representation else ""
    fig.suptitle(f"Reconstruction vs disentanglement{rep}", fontsize=10)
    return fig


def rank_correlation(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlation between metric keys across the rows of ``runs`` (pairwise complete).

    Keys with fewer than 3 values or no variation are dropped (their correlation is undefined).
    """
    keys = metrics if metrics is not None else [k for k in select_metrics(runs) if direction(k) != 0]
    cols = [_column(runs, k) for k in keys]
    frame = runs[cols].apply(pd.to_numeric, errors="coerce").rename(columns=lambda c: c.removeprefix("metric."))
    frame = frame.loc[:, (frame.notna().sum() >= 3) & (frame.nunique() > 1)]
    return frame.corr(method="spearman")


def plot_rank_correlation(
    runs: pd.DataFrame, metrics: list[str] | None = None, *, representation: str | None = "mean"
) -> Figure:
    """Spearman rank correlation between metrics across all models of each dataset (Locatello et al.
    2019, Fig. 7, https://arxiv.org/abs/1811.12359): one heat map per dataset, values in [−1, 1] printed in
    the cells (×100 as in the paper), colour bar on the right. Axes titles ``"<dataset> (<n> models)"``; tick
    labels are the keys.
    """
    data = _subset(runs, representation)
    datasets = sorted(data["dataset"].unique())
    mats = {d: rank_correlation(data[data["dataset"] == d], metrics) for d in datasets}
    k = max((len(m) for m in mats.values()), default=0)
    if k < 2:
        raise ValueError("rank correlation needs at least two metrics with 3 or more varying values")
    size = 0.45 * k + 1.0
    # room for the longest (rotated) key on both axes: about 0.07 inch per character at font size 7
    label = 0.075 * max((len(c) for m in mats.values() for c in m.columns), default=10)
    fig = Figure(figsize=((size + label) * len(datasets) + 1.2, size + label + 0.6), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, d in zip(axes, datasets):
        corr = mats[d]
        im = ax.imshow(corr.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(np.arange(len(corr)), [_plain(c) for c in corr.columns], rotation=90, fontsize=7)
        ax.set_yticks(np.arange(len(corr)), [_plain(c) for c in corr.index], fontsize=7)
        for (i, j), v in np.ndenumerate(corr.to_numpy()):
            if np.isfinite(v):
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 else "black")
        n = int((data["dataset"] == d).sum())
        ax.set_title(f"{_plain(d)} ({n} models)", fontsize=9)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="Spearman rank correlation")
    rep = f" ({representation} representation)" if representation else ""
    fig.suptitle(f"Rank correlation between metrics across models{rep}", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------- checkpoint figures
def _image(ax, image: np.ndarray) -> None:
    """Draw one (C, H, W) image in [0, 1] without ticks (grey for one channel)."""
    a = np.clip(image, 0.0, 1.0)
    a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set(xticks=[], yticks=[])


def plot_latent_traversal(
    traversals: Any, values: Any, *, kl: Any = None, dims: Any = None, title: str | None = None
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
    fig = Figure(figsize=(0.75 * len(values) + 0.9, 0.75 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, len(values), squeeze=False)
    for row in range(rows):
        for col in range(len(values)):
            _image(axes[row, col], traversals[row, col])
            if row == 0:
                axes[row, col].set_title(f"{values[col]:+.1f}", fontsize=7)
        label = f"z{dims[row]}" + (f"\nKL {kl[row]:.2f}" if kl is not None else "")
        axes[row, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(_plain(title) if title else "Latent traversals (rows sorted by KL)", fontsize=9)
    return fig


def plot_reconstructions(images: Any, reconstructions: Any, *, title: str | None = None) -> Figure:
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
    fig = Figure(figsize=(0.9 * k + 0.8, 2.2), layout="constrained")
    axes = fig.subplots(2, k, squeeze=False)
    for ax, image in zip(axes.ravel(), [*images, *recon]):  # row 0 the inputs, row 1 their reconstructions
        _image(ax, image)
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    fig.suptitle(_plain(title) if title else "Inputs and reconstructions", fontsize=9)
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


def save_figure(fig: Figure, stem: str | os.PathLike, formats: tuple[str, ...] = ("pdf", "png"), dpi: int = 120) -> list[str]:
    """Save ``fig`` as ``<stem>.<fmt>`` for each format, atomically; returns the paths written."""
    paths = [f"{os.fspath(stem)}.{fmt}" for fmt in formats]
    for fmt, path in zip(formats, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
    return paths
