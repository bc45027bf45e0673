"""Test helpers (imported by the metric tests): synthetic dSprites-grid datasets and codes with known answers for the metric tests."""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import GroundTruthDataset
from benchmark.metrics import GridEncoding

DSPRITES_SIZES = (3, 6, 40, 32, 32)
DSPRITES_NAMES = ("shape", "scale", "orientation", "posX", "posY")


class FactorGrid(GroundTruthDataset):
    """The dSprites factor grid with 1×2×2 images whose pixels spell the first two factors (for decoders)."""

    def __init__(self, sizes=DSPRITES_SIZES, names=DSPRITES_NAMES):
        self.name = "factor_grid"
        self.factor_sizes = tuple(sizes)
        self.factor_names = tuple(names)
        self.factor_values = tuple(np.arange(s, dtype=float) for s in sizes)
        self.observation_shape = (1, 2, 2)
        self.pixel_max = 1

    def images_uint8(self, indices):
        f = self.index_to_factors(indices)
        out = np.zeros((len(indices), 1, 2, 2), dtype=np.uint8)
        out[:, 0, 0, 0] = f[:, 0] % 2
        out[:, 0, 1, 1] = f[:, 1] % 2
        return out


def code_grid(dataset, kind: str, seed: int = 0, logvar: float = -8.0) -> GridEncoding:
    """A grid encoding whose means are a known function of the factor classes.

    kind: ``identity`` (codes = factors scaled to [0, 1]), ``rotation`` (a random rotation of those),
    ``noise`` (codes independent of the factors), ``duplicated`` (each factor in two equal dims).
    """
    sizes = np.asarray(dataset.factor_sizes, dtype=float)
    k = len(sizes)
    rot = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))[0]

    def encode(idx):
        f = dataset.index_to_factors(idx) / np.maximum(sizes - 1, 1)
        if kind == "identity":
            mu = f
        elif kind == "rotation":
            mu = f @ rot
        elif kind == "noise":
            # a fixed pseudo-random function of the grid index: independent of every factor
            mu = np.random.default_rng([seed, 7]).standard_normal((len(dataset), k))[idx]
        elif kind == "duplicated":
            mu = np.repeat(f, 2, axis=1)
        else:
            raise ValueError(kind)
        return mu, np.full(mu.shape, logvar)

    return GridEncoding(dataset, encode, batch_size=4096)

