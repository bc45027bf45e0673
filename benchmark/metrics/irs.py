"""Interventional Robustness Score, as disentanglement_lib computes it (Suter et al. 2019).

Suter, Miladinović, Schölkopf & Bauer, "Robustly Disentangled Causal Mechanisms: Validating Deep
Representations for Interventional Robustness", ICML 2019, https://arxiv.org/abs/1811.00007. Protocol of
disentanglement_lib's ``irs`` (its study config: 10,000 points, ``diff_quantile`` 0.99; factors discretised into
20 equal-width histogram bins over their sampled range, as its ``make_discretizer``):

- codes with zero variance over the sample are dropped (``irs.num_active_dims`` counts the others);
- normaliser of code i: ``max_dev_i = max_n |z_ni − mean_n z_ni|``;
- for factor j and each of its binned values v: ``q_ijv`` = the ``diff_quantile`` quantile (numpy's linear
  interpolation) of ``|z_i − E[z_i | v]|`` over the points with that value; ``dev_ij`` = mean over v of ``q_ijv``;
- ``IRS_i = max_j (1 − dev_ij / max_dev_i)``; ``irs`` = mean of ``IRS_i`` weighted by ``max_dev_i``.

A perfect code scores just under 1 (a bin of a 32- or 40-class factor holds two classes); independent noise about
0.38 on dSprites (docs/PROTOCOL.md). ``|z − E[z|v]| ≤ 2·max_dev``, so ``irs`` lies in [−1, 1]; it is ≥ 0 except for
pathological codes. disentanglement_lib reports as ``num_active_dims`` the *sum of the active codes' values*; here
it is their count. Its sampling in batches of 16 does not change the statistic and is not a parameter here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "diff_quantile": 0.99, "num_bins": _codes.NUM_BINS}


def deviations(codes: np.ndarray, binned_factors: np.ndarray, diff_quantile: float) -> np.ndarray:
    """``dev (D, K)``: per code and factor, the mean over the factor's values of the ``diff_quantile`` quantile of
    |z − E[z | value]| among the points with that value."""
    out = np.zeros((codes.shape[1], binned_factors.shape[1]))
    for j in range(binned_factors.shape[1]):
        values = np.unique(binned_factors[:, j])
        for v in values:  # at most num_bins values per factor
            group = codes[binned_factors[:, j] == v]
            out[:, j] += np.quantile(np.abs(group - group.mean(axis=0)), diff_quantile, axis=0)
        out[:, j] /= values.size
    return out


def irs_from_codes(codes: np.ndarray, binned_factors: np.ndarray, diff_quantile: float) -> float:
    """IRS of active codes ``(N, D)`` (every column with variance > 0) and binned factors ``(N, K)``."""
    max_dev = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
    per_code = (1.0 - deviations(codes, binned_factors, diff_quantile) / max_dev[:, None]).max(axis=1)
    return _codes.to_float(np.average(per_code, weights=max_dev))


def compute_irs_codes(
    codes: Any, factors: Any, *, diff_quantile: float = DEFAULTS["diff_quantile"], num_bins: int = DEFAULTS["num_bins"],
) -> dict[str, float]:
    """IRS of ``codes (N, D)`` and ``factors (N, K)``: ``irs`` in [−1, 1] (higher is better, ≈1 for a perfect
    code) and ``irs.num_active_dims`` in [0, D] (codes with non-zero variance); no active code scores 0."""
    codes, factors = _codes.check_pair(codes, factors)
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"irs: diff_quantile must lie in [0, 1], got {diff_quantile!r}")
    active = codes.var(axis=0) > 0
    binned = _codes.discretize(factors.astype(np.float64), num_bins)
    score = irs_from_codes(codes[:, active], binned, diff_quantile) if active.any() else 0.0
    return {"irs": score, "irs.num_active_dims": float(active.sum())}


def compute_irs(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """IRS on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid; keys as :func:`compute_irs_codes`."""
    p = _codes.resolve("irs", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_irs_codes(codes, factors, diff_quantile=p["diff_quantile"], num_bins=p["num_bins"])
