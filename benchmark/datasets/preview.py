"""The picture a person checks a dataset with: one row per factor, that factor swept, the others fixed."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from benchmark import _io
from benchmark.datasets.base import GroundTruthDataset


def sweep_columns(size: int, max_columns: int = 16) -> np.ndarray:
    """Class indices shown for a factor of ``size`` classes: all, or ``max_columns`` spread evenly, ends included."""
    if size <= max_columns:
        return np.arange(size)
    return np.unique(np.round(np.linspace(0, size - 1, max_columns)).astype(np.int64))


def factor_sweep(dataset: GroundTruthDataset, base: Sequence[int] | None = None,
                 max_columns: int = 16) -> tuple[np.ndarray, list[np.ndarray]]:
    """Factor classes for the preview grid.

    Returns ``(factors (R, C, K) int64, shown)``: row ``k`` sweeps factor ``k`` over the classes ``shown[k]``
    (rows shorter than the longest repeat their last class; only ``len(shown[k])`` columns are meant), all other
    factors at ``base`` (default: the dataset's ``preview_factors`` if it has them, else the middle class
    of each factor).
    """
    sizes = np.asarray(dataset.factor_sizes)
    if base is None:
        base = dataset.preview_factors
        # a real file with a smaller grid than the official one falls back to the middle classes
        if base is not None and (len(base) != len(sizes) or np.any(np.asarray(base) >= sizes)):
            base = None
    base = sizes // 2 if base is None else dataset.check_factors(np.asarray(base)[None])[0]
    shown = [sweep_columns(int(s), max_columns) for s in sizes]
    cols = max(len(s) for s in shown)
    factors = np.tile(base, (len(sizes), cols, 1))
    for k, classes in enumerate(shown):
        factors[k, : len(classes), k] = classes
        factors[k, len(classes):, k] = classes[-1]
    return factors, shown


def factor_grid_figure(dataset: GroundTruthDataset, base: Sequence[int] | None = None, max_columns: int = 16) -> Any:
    """A matplotlib Figure: one row per factor (labelled with its name and size), that factor swept across
    its values (long factors subsampled to ``max_columns``), the others fixed at ``base``.

    The caller saves it; use a non-interactive backend (Agg) in scripts.
    """
    from matplotlib.figure import Figure

    factors, shown = factor_sweep(dataset, base, max_columns)
    rows, cols, _ = factors.shape
    fixed = factors[min(1, rows - 1), 0].copy()  # any row other than 0 holds factor 0 at its base class
    if rows > 1:
        fixed[1] = factors[0, 0, 1]
    # seeded: a dataset that draws a nuisance per observation (colour, noise) shows the same picture every time
    images = dataset.sample_observations_from_factors(factors.reshape(-1, dataset.num_factors), np.random.default_rng(0))
    images = images.reshape(rows, cols, *dataset.observation_shape)
    cell = 0.72
    fig = Figure(figsize=(1.9 + cell * cols, 0.35 + (cell + 0.18) * rows), dpi=110)
    title = f"{dataset.name}: one row per factor, others fixed at classes {fixed.tolist()}"
    if dataset.stand_in:
        title += " (STAND-IN)"
    fig.suptitle(title, fontsize=8)
    grid = fig.add_gridspec(rows, cols, left=1.7 / (1.9 + cell * cols), right=0.99, top=1 - 0.4 / fig.get_figheight(),
                            bottom=0.02, wspace=0.06, hspace=0.45)
    for r in range(rows):
        for c in range(cols):
            ax = fig.add_subplot(grid[r, c])
            ax.set(xticks=[], yticks=[])
            if c >= len(shown[r]):
                ax.set_axis_off()
                continue
            img = images[r, c]
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                ax.imshow(np.transpose(img, (1, 2, 0)), interpolation="nearest")
            names = dataset.class_names.get(dataset.factor_names[r])
            cls = int(shown[r][c])
            label = names[cls] if names else f"{float(dataset.factor_values[r][cls]):.3g}"
            ax.set_title(label, fontsize=6, pad=1.5)
            if c == 0:
                ax.set_ylabel(f"{dataset.factor_names[r]}\n({dataset.factor_sizes[r]})", fontsize=7, rotation=0,
                              ha="right", va="center", labelpad=6)
    return fig


def save_factor_grid(dataset: GroundTruthDataset, out, base: Sequence[int] | None = None, max_columns: int = 16) -> None:
    """Write :func:`factor_grid_figure` as a PNG, atomically."""
    fig = factor_grid_figure(dataset, base, max_columns)
    with _io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
