"""DCIMIG (Sepliarskaia, Kiseleva & de Rijke 2019): mutual information gaps assigned to factors.

"Evaluating Disentangled Representations", arXiv 2019,
https://arxiv.org/abs/1910.05587. Per code dim j: the gap between its two largest mutual informations with the
factors, ``g_j = I(z_j; v_(1)) − I(z_j; v_(2))``, credited to its best factor ``v_(1)``; per factor k, ``S_k`` = the
largest gap credited to it (0 if none); ``DCIMIG = Σ_k S_k / Σ_k H(v_k)``. It is 1 only when every factor has a
code that holds it alone and entirely; a code mixing two factors earns a small gap, a factor no code singles out
earns nothing. Estimator: the discrete one of ``mig`` (10,000 points, 20 equal-width bins per code dim, plug-in MI
in nats), so a perfect code is capped as MIG's is (≈0.86 on dSprites). The review's implementation (Carbonneau et
al. 2022) computes the same quantity (in bits, 10 min-max bins: ``num_bins=10``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_bins": _codes.NUM_BINS}


def dcimig_from_mi(mi: Any, factor_entropies: Any) -> float:
    """DCIMIG from an MI matrix ``(D, K)`` and the factor entropies ``(K,)``; in [0, 1] (0 when Σ H = 0)."""
    mi = np.asarray(mi, dtype=np.float64)
    ordered = np.sort(mi, axis=1)
    gaps = ordered[:, -1] - (ordered[:, -2] if mi.shape[1] > 1 else 0.0)
    best = np.zeros(mi.shape[1])
    np.maximum.at(best, np.argmax(mi, axis=1), gaps)
    total = float(np.sum(factor_entropies))
    return _codes.to_float(best.sum() / total) if total > 0 else 0.0


def compute_dcimig_codes(codes: Any, factors: Any, *, num_bins: int = DEFAULTS["num_bins"]) -> dict[str, float]:
    """DCIMIG of ``codes (N, D)`` and ``factors (N, K)``: ``{"dcimig": float in [0, 1]}`` (higher is better)."""
    codes, factors = _codes.check_pair(codes, factors)
    mi = _codes.discrete_mutual_info(_codes.discretize(codes, num_bins), factors)
    return {"dcimig": dcimig_from_mi(mi, _codes.discrete_entropy(factors))}


def compute_dcimig(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """DCIMIG on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("dcimig", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_dcimig_codes(codes, factors, num_bins=p["num_bins"])
