"""Tiny real ground-truth datasets for fast training tests: squares on a 64×64 canvas (and a NaN-poisoned twin).

A module of its own, not ``conftest``: test modules import these classes, and ``conftest`` is a name every test
folder has (a run over several folders would import the wrong one)."""

from __future__ import annotations

import numpy as np

from benchmark.datasets import BatchStream, GroundTruthDataset


class Squares(GroundTruthDataset):
    """White squares: x position (6), y position (6), side (3) — 108 grid points, pixel values 0/1."""

    name = "test_squares"
    pixel_max = 1

    def __init__(self, path=None):
        del path
        self.factor_names = ("x", "y", "side")
        self.factor_sizes = (6, 6, 3)
        self.factor_values = (np.arange(6.0), np.arange(6.0), np.array([8.0, 12.0, 16.0]))
        self.observation_shape = (1, 64, 64)
        grid = np.zeros((len(self), 1, 64, 64), dtype=np.uint8)
        for i, (x, y, s) in enumerate(self.index_to_factors(np.arange(len(self)))):
            side = int(self.factor_values[2][s])
            grid[i, 0, 4 + 8 * y : 4 + 8 * y + side, 4 + 8 * x : 4 + 8 * x + side] = 1
        self._grid = grid

    def images_uint8(self, indices):
        return self._grid[self.check_indices(indices)]


class _PoisonedStream(BatchStream):
    """Batches like the parent's, except the ``poison_at``-th batch (1-based) holds a NaN pixel."""

    poison_at = 0

    def __next__(self):
        batch = super().__next__()
        if self.batches_drawn == self.poison_at:
            batch[0, 0, 0, 0] = float("nan")
        return batch


class PoisonedSquares(Squares):
    """:class:`Squares` whose training stream feeds a NaN pixel at batch ``POISON_AT``: NaN injection through the data."""

    name = "test_poisoned_squares"
    POISON_AT = 0

    def batch_stream(self, batch_size, seed, device="cpu"):
        stream = _PoisonedStream(self, batch_size, seed, device)
        stream.poison_at = type(self).POISON_AT
        return stream
