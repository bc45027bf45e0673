"""JEMMIG: joint-entropy-minus-mutual-information gap (Do & Tran 2020).

Do & Tran, "Theory and Evaluation Metrics for Learning Disentangled Representations", ICLR 2020,
https://arxiv.org/abs/1908.09961. Per factor v_k, with z* its most informative code dim and z° the second one:
``JEMMIG(v_k) = H(z*, v_k) − I(z*; v_k) + I(z°; v_k)``, which is 0 only when z* and v_k determine each other and no
other code holds v_k, and at most ``H(v_k) + log B`` for codes binned into B bins. The score is
``jemmig = 1 − mean_k JEMMIG(v_k) / (H(v_k) + log B)`` in [0, 1], higher is better (the normalisation of the paper;
the "1 −" is the convention of Carbonneau et al.'s review, so that it reads like MIG). Unlike MIG it also
penalises a z* that holds more than v_k (through the joint entropy).

Estimator: the discrete one of ``mig`` (10,000 points, B = 20 equal-width bins per code dim, plug-in entropies and
MI in nats; ``H(z, v) = H(z) + H(v) − I(z; v)``). A perfect code is capped because 20 bins cannot resolve 32 or 40
classes (≈0.95 on dSprites); noise that fills fewer than B bins evenly stays a little above 0. The review's code
uses 10 min-max bins (``num_bins=10``) and bits (the ratio does not depend on the base). Ties between equally
informative codes are broken towards the smaller joint entropy, so the value does not depend on the dims' order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_bins": _codes.NUM_BINS}


def jemmig_from_entropies(mi: Any, code_entropies: Any, factor_entropies: Any, num_bins: int) -> np.ndarray:
    """Per-factor normalised JEMMIG ``(K,)`` in [0, 1] (lower is better) from an MI matrix ``(D, K)``, the binned
    codes' entropies ``(D,)`` and the factors' ``(K,)``; a factor with ``H(v) + log B = 0`` scores 0."""
    mi = np.asarray(mi, dtype=np.float64)
    hz, hv = np.asarray(code_entropies, dtype=np.float64), np.asarray(factor_entropies, dtype=np.float64)
    joint = hz[:, None] + hv[None, :] - mi
    out = np.zeros(mi.shape[1])
    for k in range(mi.shape[1]):
        order = np.lexsort((joint[:, k], -mi[:, k]))  # most informative first; ties: the smaller joint entropy
        second = mi[order[1], k] if mi.shape[0] > 1 else 0.0
        norm = hv[k] + math.log(num_bins)
        out[k] = (joint[order[0], k] - mi[order[0], k] + second) / norm if norm > 0 else 0.0
    return np.clip(out, 0.0, 1.0)


def compute_jemmig_codes(codes: Any, factors: Any, *, num_bins: int = DEFAULTS["num_bins"]) -> dict[str, float]:
    """JEMMIG of ``codes (N, D)`` and ``factors (N, K)``: ``{"jemmig": float in [0, 1]}``, 1 − the mean normalised
    JEMMIG (higher is better)."""
    codes, factors = _codes.check_pair(codes, factors)
    num_bins = _codes.check_positive_int(num_bins, "num_bins")
    binned = _codes.discretize(codes, num_bins)
    mi = _codes.discrete_mutual_info(binned, factors)
    per_factor = jemmig_from_entropies(mi, _codes.discrete_entropy(binned), _codes.discrete_entropy(factors), num_bins)
    return {"jemmig": _codes.to_float(1.0 - per_factor.mean())}


def compute_jemmig(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """JEMMIG on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("jemmig", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_jemmig_codes(codes, factors, num_bins=p["num_bins"])
