"""MIG-sup: the mutual information gap per code dimension (Li et al. 2020).

Li, Murkute, Gyawali & Wang, "Progressive Learning and Disentanglement of Hierarchical Representations", ICLR
2020, https://arxiv.org/abs/2002.10549. MIG (:mod:`.mig`) asks whether each factor lives in one code; MIG-sup asks
the converse, whether each code holds one factor: per code dim j the gap between its two largest normalised mutual
informations with the factors, ``I_n(z_j; v_(1)) − I_n(z_j; v_(2))``, averaged over all D code dims (a code that
holds no factor scores 0 and lowers the mean). Estimator: the discrete one of ``mig`` (10,000 points, 20 equal-width
bins per code dim over its sampled range, plug-in MI in nats with the factor classes).

Normalisation (``normalization``): ``"factor"`` (default) divides I(z_j; v_k) by the factor's entropy H(v_k), as
MIG does, which is how we read Li et al.'s ``I_norm`` (they extend Chen et al.'s MIG); ``"code"`` divides by the
code's entropy H(z_j), as the implementation of Carbonneau et al.'s review does
(https://github.com/ubisoft/ubisoft-laforge-disentanglement-metrics, ``information_mutual_normalised`` with
``norm_factor="Y"``). With ``"factor"`` a perfect code is capped like MIG's (20 bins cannot resolve 32 or 40
classes: ≈0.9 on dSprites). The review also bins into 10 bins over the min-max range (``num_bins=10``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_bins": _codes.NUM_BINS, "normalization": "factor"}
#: Valid ``normalization`` values: by the factor's entropy (MIG's, the default) or by the code's (the review's code).
NORMALIZATIONS = ("factor", "code")


def mig_sup_from_mi(mi: Any, code_entropies: Any, factor_entropies: Any, normalization: str = "factor") -> np.ndarray:
    """Per-code gap ``(D,)`` from an MI matrix ``(D, K)``: top1 − top2 of each row normalised by the factors' (or the
    codes') entropies; with a single factor top2 = 0; a zero entropy normalises to 0."""
    mi = np.asarray(mi, dtype=np.float64)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"mig_sup: normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    h = np.asarray(factor_entropies, dtype=np.float64)[None, :] if normalization == "factor" else \
        np.asarray(code_entropies, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = np.where(h > 0, mi / np.where(h > 0, h, 1.0), 0.0)
    ordered = np.sort(normed, axis=1)
    return ordered[:, -1] - (ordered[:, -2] if ordered.shape[1] > 1 else 0.0)


def compute_mig_sup_codes(
    codes: Any, factors: Any, *, num_bins: int = DEFAULTS["num_bins"], normalization: str = DEFAULTS["normalization"],
) -> dict[str, float]:
    """MIG-sup of ``codes (N, D)`` and ``factors (N, K)``: ``{"mig_sup": float in [0, 1]}`` (higher is better)."""
    codes, factors = _codes.check_pair(codes, factors)
    binned = _codes.discretize(codes, num_bins)
    mi = _codes.discrete_mutual_info(binned, factors)
    gaps = mig_sup_from_mi(mi, _codes.discrete_entropy(binned), _codes.discrete_entropy(factors), normalization)
    return {"mig_sup": _codes.to_float(gaps.mean())}


def compute_mig_sup(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """MIG-sup on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("mig_sup", DEFAULTS, protocol, {"normalization": NORMALIZATIONS})
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_mig_sup_codes(codes, factors, num_bins=p["num_bins"], normalization=p["normalization"])
