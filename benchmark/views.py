"""Pictures of a trained model, as arrays: reconstructions, latent traversals, and both for a run directory.

The model side of the checkpoint figures: this module runs the encoder and decoder (torch) and opens run
directories (:func:`benchmark.training.load_model`); :mod:`benchmark.reports.plots` draws the arrays it returns
and never imports torch. A model has ``encode(images) -> (mu, logvar)`` and ``decode(z) -> logits``; images are
``(N, C, H, W)`` float32 in [0, 1].

- :func:`reconstructions`: σ(decode(μ(x))), the one place that computes it.
- :func:`latent_traversals`: one latent dimension set to each of a range of values, the others fixed.
- :func:`checkpoint_views`: both for images drawn from a run's dataset (what ``write_report`` draws).
- :func:`reconstruction_grid`, :func:`save_reconstruction_grid`: inputs over reconstructions as one image.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark._io import atomic_path
from benchmark.models import gaussian_kl
from benchmark.training import load_model, open_dataset

#: The traversed values of :func:`latent_traversals`, in units of the standard-normal prior.
TRAVERSAL_VALUES = np.linspace(-2.0, 2.0, 9)


def _device(model: Any) -> torch.device:
    params = getattr(model, "parameters", None)
    for p in params() if callable(params) else ():
        return p.device
    return torch.device("cpu")


def _batch(images: Any) -> torch.Tensor:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) float in [0, 1], got shape {x.shape}")
    return torch.as_tensor(x)


def reconstructions(model: Any, images: Any) -> np.ndarray:
    """σ(decode(μ(x))): the Bernoulli means of the decoder at the posterior means, ``(N, C, H, W)`` float32."""
    x = _batch(images)
    with torch.no_grad():
        mu, _ = model.encode(x.to(_device(model)))
        return torch.sigmoid(model.decode(mu)).float().cpu().numpy()


def latent_traversals(
    model: Any, images: Any, values: Any = TRAVERSAL_VALUES, reference: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every latent dimension traversed over ``values``, the others at the posterior mean of ``images[reference]``.

    Rows are sorted by KL(q(z_d|x) ‖ N(0, 1)) averaged over all ``images``, most informative first (stable
    order for ties).

    Returns:
        ``(traversals, values, kl, dims)``: ``traversals`` ``(D, V, C, H, W)`` float32 in [0, 1] (row r is
        latent ``dims[r]`` set to each of the ``V`` ``values``, pixels sigmoid(logits)); ``values`` ``(V,)``
        float; ``kl`` ``(D,)``, ``kl[r]`` the mean KL of latent ``dims[r]``; ``dims`` ``(D,)`` int.
    """
    values = np.array(values, dtype=float)
    device = _device(model)
    with torch.no_grad():
        mu, logvar = model.encode(_batch(images).to(device))
        kl = gaussian_kl(mu, logvar).mean(0).cpu().numpy()
        order = np.argsort(-kl, kind="stable")
        d = mu.shape[-1]
        grid = mu[reference].clone().reshape(1, 1, d).repeat(d, len(values), 1)
        vals = torch.as_tensor(values, dtype=grid.dtype, device=device)
        for row, dim in enumerate(order):
            grid[row, :, dim] = vals
        flat = torch.sigmoid(model.decode(grid.reshape(-1, d))).cpu()
    return flat.reshape(d, len(values), *flat.shape[1:]).numpy(), values, kl[order], order


@dataclasses.dataclass(frozen=True)
class CheckpointViews:
    """The arrays of a run's checkpoint figures (see :func:`checkpoint_views`)."""

    images: np.ndarray  #: (N, C, H, W) inputs drawn from the run's dataset
    reconstructions: np.ndarray  #: (N, C, H, W) σ(decode(μ(images)))
    traversals: np.ndarray  #: (D, V, C, H, W), rows sorted by KL
    values: np.ndarray  #: (V,) traversed values
    kl: np.ndarray  #: (D,) mean KL of each row's latent
    dims: np.ndarray  #: (D,) the latent of each row


#: Datasets opened by :func:`checkpoint_views`, by (dataset, dataset_path): the runs of a sweep share a few.
_OPENED: dict[tuple[str, str | None], Any] = {}


def checkpoint_views(run_dir: str | os.PathLike, num_images: int, rng: np.random.Generator) -> CheckpointViews:
    """Reconstructions and latent traversals of the latest checkpoint of ``run_dir`` (on CPU).

    ``num_images`` distinct images of the run's dataset are drawn with ``rng`` (sorted indices; the traversals'
    reference is the first of them). Raises whatever opening the run raises
    (:class:`benchmark.training.CheckpointError` for a missing or damaged checkpoint).
    """
    model, config = load_model(run_dir, device="cpu")
    where = (config.dataset, config.dataset_path)
    if where not in _OPENED:
        _OPENED[where] = open_dataset(config)
    dataset = _OPENED[where]
    indices = np.sort(rng.choice(len(dataset), size=num_images, replace=False))
    # the observations of those grid points (a dataset with a nuisance per observation draws it from rng)
    images = dataset.sample_observations_from_factors(dataset.index_to_factors(indices), rng)
    traversals, values, kl, dims = latent_traversals(model, images)
    return CheckpointViews(images, reconstructions(model, images), traversals, values, kl, dims)


def reconstruction_grid(model: Any, images: np.ndarray, gap: int = 2) -> np.ndarray:
    """An image ``(2·64 + 3·gap, n·64 + (n+1)·gap, C)`` float in [0, 1]: inputs on top, reconstructions below.

    Reconstructions are :func:`reconstructions` (σ(decode(μ(x)))); gaps are mid-grey.
    """
    images = np.asarray(images, dtype=np.float32)
    recon = reconstructions(model, images)
    n, c, h, w = images.shape
    canvas = np.full((2 * h + 3 * gap, n * w + (n + 1) * gap, c), 0.5, dtype=np.float32)
    for row, batch in enumerate((images, recon)):
        for i in range(n):
            y, x = gap + row * (h + gap), gap + i * (w + gap)
            canvas[y : y + h, x : x + w] = batch[i].transpose(1, 2, 0)
    return canvas


def save_reconstruction_grid(
    run_dir: str | os.PathLike, path: str | os.PathLike, num_images: int = 10, seed: int = 0, scale: int = 2
) -> Path:
    """Save a PNG of ``num_images`` random images of the run's dataset (top) over their reconstructions (bottom).

    Images are drawn uniformly over the grid with ``numpy.random.default_rng(seed)``; pixels are enlarged
    ``scale`` times (nearest neighbour). The write is atomic. Returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image

    model, config = load_model(run_dir)
    dataset = open_dataset(config)
    _, images = dataset.sample(num_images, np.random.default_rng(seed))
    canvas = reconstruction_grid(model, images)
    canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    rgb = np.repeat(canvas, 3, axis=2) if canvas.shape[2] == 1 else canvas
    path = Path(path)
    with atomic_path(path) as tmp:
        matplotlib.image.imsave(tmp, np.clip(rgb, 0.0, 1.0), format="png")
    return path


__all__ = [
    "TRAVERSAL_VALUES", "CheckpointViews", "checkpoint_views", "latent_traversals", "reconstruction_grid",
    "reconstructions", "save_reconstruction_grid",
]
