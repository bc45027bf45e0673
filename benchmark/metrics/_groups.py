"""Groups of points of a fixed sample that share one factor's value: the batches of the Z-diff and Z-min scores.

The β-VAE and FactorVAE scores of the reference study (:mod:`.beta_vae`, :mod:`.factor_vae`) draw fresh factor
vectors over the grid for every batch. The array interface of Carbonneau et al.'s review instead builds the
same batches from one fixed sample of (codes, factors): a batch with factor ``k`` fixed is a set of sample
points whose factor ``k`` has one value. These helpers draw such batches from ``factors (N, K)`` class indices.

Each point picks its factor ``k`` uniformly, then a value ``v`` uniformly among the values of factor ``k`` that at
least two sample points share (a value seen once cannot make a pair or a variance), then its members uniformly
among the points with that value. Only the factors are read, so the draws do not depend on the codes (nor on
the order of their dims).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from benchmark.metrics import _codes


class FactorGroups:
    """The points of ``factors (N, K)`` grouped by the value of each factor (only values held by >= 2 points)."""

    def __init__(self, factors: np.ndarray, metric: str):
        factors = _codes.check_factors(factors)
        self.num_factors = factors.shape[1]
        self.order, self.starts, self.counts = [], [], []
        for k in range(self.num_factors):
            order = np.argsort(factors[:, k], kind="stable")
            _, starts, counts = np.unique(factors[order, k], return_index=True, return_counts=True)
            keep = counts >= 2
            if not keep.any():
                raise ValueError(
                    f"{metric}: no value of factor {k} is shared by two of the {factors.shape[0]} sampled points "
                    f"(factors shape {factors.shape}); draw more points (num_train / num_test)")
            self.order.append(order)
            self.starts.append(starts[keep])
            self.counts.append(counts[keep])

    def draw(self, num_points: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
        """``(fixed factor (P,), per factor k: (point positions, group starts, group sizes))`` for ``num_points``
        points; the positions index the fixed-factor array, the groups are of ``order[k]``."""
        fixed = rng.integers(0, self.num_factors, size=num_points)
        out = []
        for k in range(self.num_factors):
            where = np.flatnonzero(fixed == k)
            g = rng.integers(0, self.starts[k].size, size=where.size)
            out.append((where, self.starts[k][g], self.counts[k][g]))
        return fixed, out


def batches(groups: FactorGroups, num_points: int, batch_size: int, rng: np.random.Generator):
    """``(fixed factor (P,), members (P, batch_size))``: each batch drawn with replacement from one group."""
    batch_size = _codes.check_positive_int(batch_size, "batch_size", 2)
    fixed, per_factor = groups.draw(_codes.check_positive_int(num_points, "num_points"), rng)
    members = np.empty((fixed.size, batch_size), dtype=np.int64)
    for k, (where, start, count) in enumerate(per_factor):
        offset = np.floor(rng.random((where.size, batch_size)) * count[:, None]).astype(np.int64)
        members[where] = groups.order[k][start[:, None] + offset]
    return fixed, members


def pairs(groups: FactorGroups, num_points: int, batch_size: int, rng: np.random.Generator):
    """``(fixed factor (P,), first (P, batch_size), second (P, batch_size))``: ``batch_size`` pairs per point, the
    two members of a pair distinct points of one group."""
    batch_size = _codes.check_positive_int(batch_size, "batch_size")
    fixed, per_factor = groups.draw(_codes.check_positive_int(num_points, "num_points"), rng)
    first = np.empty((fixed.size, batch_size), dtype=np.int64)
    second = np.empty_like(first)
    for k, (where, start, count) in enumerate(per_factor):
        u = rng.random((2, where.size, batch_size))
        a = np.floor(u[0] * count[:, None]).astype(np.int64)
        b = (a + 1 + np.floor(u[1] * (count[:, None] - 1)).astype(np.int64)) % count[:, None]  # any member but a
        first[where] = groups.order[k][start[:, None] + a]
        second[where] = groups.order[k][start[:, None] + b]
    return fixed, first, second


def chunks(num_points: int, chunk: int = 1024) -> Iterator[slice]:
    """Slices of at most ``chunk`` points: gathered codes stay at ``chunk × batch_size × D`` floats."""
    for s in range(0, num_points, chunk):
        yield slice(s, min(s + chunk, num_points))
