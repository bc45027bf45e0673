"""Mutual Information Gap, the discrete estimator of disentanglement_lib (Locatello et al. 2019).

MIG was proposed by Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs",
https://arxiv.org/abs/1802.04942. This file is the *discrete* variant used by the reference study
(Locatello et al. 2019, https://arxiv.org/abs/1811.12359): 10,000 codes, each code dim binned into 20
equal-width bins over its sampled range, plug-in MI (nats) with each factor's classes, and per factor
``(top1 − top2 MI) / H(factor)`` on the same sample, averaged over factors.

Because 20 bins cap the MI of a code at log 20 < H of a 32- or 40-class factor, a perfect code cannot
reach 1 (≈0.90 on dSprites). Chen et al.'s own full-dataset estimator is :mod:`.mig_sampled`; the two
give numbers that are not comparable.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_bins": _codes.NUM_BINS}


def mig_from_mi(mi: np.ndarray, entropies: np.ndarray) -> np.ndarray:
    """Per-factor gap ``(top1 − top2) / H_k`` from an MI matrix ``(D, K)`` and factor entropies ``(K,)``; with
    a single code dim top2 = 0; a constant factor (H = 0) has no defined gap and scores 0."""
    ordered = np.sort(np.asarray(mi, dtype=np.float64), axis=0)
    gap = ordered[-1] - (ordered[-2] if ordered.shape[0] > 1 else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(entropies > 0, gap / np.where(entropies > 0, entropies, 1.0), 0.0)


def compute_mig_codes(
    codes: Any, factors: Any, *, num_bins: int = DEFAULTS["num_bins"], factor_names: Sequence[str] | None = None
) -> dict[str, float]:
    """Discrete MIG of ``codes (N, D)`` and ``factors (N, K)``, ``num_bins`` equal-width bins per code dim:
    ``mig`` in [0, 1] (mean over factors) and ``mig.<factor>`` in [0, 1] per factor (``factor_names``, default
    ``factor0..``)."""
    codes, factors = _codes.check_pair(codes, factors)
    names = list(factor_names) if factor_names is not None else [f"factor{j}" for j in range(factors.shape[1])]
    if len(names) != factors.shape[1]:
        raise ValueError(f"factor_names has {len(names)} names for factors of shape {factors.shape}")
    mi = _codes.discrete_mutual_info(_codes.discretize(codes, num_bins), factors)
    per_factor = mig_from_mi(mi, _codes.discrete_entropy(factors))
    keys = {f"mig.{n}": _codes.to_float(v) for n, v in zip(names, per_factor)}
    return {"mig": _codes.to_float(per_factor.mean()), **keys}


def compute_mig(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Discrete MIG on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid of ``dataset``, of a
    ``GridRepresentation`` or a callable ``images -> codes``; keys as :func:`compute_mig_codes`."""
    p = _codes.resolve("mig", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_mig_codes(codes, factors, num_bins=p["num_bins"], factor_names=_codes.factor_names(dataset, factors.shape[1]))

