"""Reconstruction quality on images drawn over the grid: Bernoulli NLL (nats) and mean squared error.

The Bernoulli NLL is the reconstruction term of the training objective (PROTOCOL.md): sigmoid
cross-entropy of the decoder logits against the continuous pixel intensities, summed over the pixels
and channels of an image, averaged over images. The MSE compares ``sigmoid(logits)`` with the pixels,
averaged over pixels and images. 10,000 images drawn uniformly over the grid (a suite choice; the
reference study reports the training loss instead).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_images": 10_000, "batch_size": 500}


def reconstruction_errors(images: Any, logits: Any) -> dict[str, float]:
    """``reconstruction.bernoulli_nll`` (≥ 0 up to the pixel entropy, nats per image) and
    ``reconstruction.mse`` (in [0, 1], per pixel) of images and logits, both ``(N, C, H, W)``."""
    x = np.asarray(images, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    if x.shape != logits.shape or x.ndim < 2:
        raise ValueError(f"images and logits must have the same shape (N, C, H, W), got {x.shape} and {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError(f"logits of shape {logits.shape} contain non-finite values")
    axes = tuple(range(1, x.ndim))
    nll = (np.logaddexp(0.0, logits) - x * logits).sum(axis=axes)  # softplus(l) − x·l, stable for any l
    mse = ((1.0 / (1.0 + np.exp(-logits)) - x) ** 2).mean(axis=axes)
    return {"reconstruction.bernoulli_nll": _codes.to_float(nll.mean()), "reconstruction.mse": _codes.to_float(mse.mean())}


def compute_reconstruction(
    dataset: Any, reconstruct_fn: Callable[[np.ndarray, np.ndarray], Any], rng: np.random.Generator, **protocol: Any
) -> dict[str, float]:
    """Reconstruction errors of ``reconstruct_fn(images (n, C, H, W), indices (n,)) -> logits (n, C, H, W)``.

    ``indices`` are the grid indices of the images (an evaluation uses them to look up the shared grid
    encoding instead of encoding again). Protocol: ``num_images``, ``batch_size`` (defaults: :data:`DEFAULTS`).
    """
    p = _codes.resolve("reconstruction", DEFAULTS, protocol)
    num, bs = p["num_images"], p["batch_size"]  # resolve checked both are integers >= 1
    idx = rng.integers(0, len(dataset), size=num, dtype=np.int64)
    nll_sum = mse_sum = 0.0
    for s in range(0, num, bs):
        part = idx[s : s + bs]
        # the observations of those grid points: the stored image, or one with its nuisance drawn from rng
        images = dataset.sample_observations_from_factors(dataset.index_to_factors(part), rng)
        errs = reconstruction_errors(images, reconstruct_fn(images, part))
        nll_sum += errs["reconstruction.bernoulli_nll"] * part.size
        mse_sum += errs["reconstruction.mse"] * part.size
        _codes.report("points", s + part.size, num)
    return {"reconstruction.bernoulli_nll": nll_sum / num, "reconstruction.mse": mse_sum / num}
