"""Unsupervised scores of the codes alone (Locatello et al. 2019, Sec. 5 / disentanglement_lib).

"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations", ICML 2019,
https://arxiv.org/abs/1811.12359. On 10,000 codes drawn uniformly over the grid, with ``Σ`` the sample
covariance (ddof 1) of the codes:

- gaussian total correlation: KL between N(0, Σ) and N(0, diag Σ) = ½ (Σ_i log Σ_ii − log det Σ), ≥ 0;
- gaussian Wasserstein correlation: squared 2-Wasserstein distance between the same two Gaussians,
  ``2 tr Σ − 2 tr (diag(Σ)^½ Σ diag(Σ)^½)^½``, ≥ 0; ``_norm`` divides it by ``tr Σ`` (in [0, 2));
- mutual info: mean over ordered pairs i ≠ j of the plug-in MI (nats) between the 20-bin discretised
  codes i and j, in [0, log 20].

A code dim with zero variance is independent of every other: it adds nothing to either correlation and is
left out of them (its log-variance would be −∞).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_bins": _codes.NUM_BINS}


def gaussian_total_correlation(cov: Any) -> float:
    cov = np.asarray(cov, dtype=np.float64)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:  # singular (duplicated dims): the Gaussian TC is infinite
        return float("inf")
    return _codes.to_float(max(0.5 * (np.sum(np.log(np.diag(cov))) - logdet), 0.0))


def gaussian_wasserstein_correlation(cov: Any) -> float:
    cov = np.asarray(cov, dtype=np.float64)
    s = np.sqrt(np.diag(cov))
    # tr sqrtm(diag(Σ) Σ) equals Σ sqrt(eig(D^½ Σ D^½)) (similar matrices); the symmetric form is stable
    eig = np.clip(np.linalg.eigvalsh(s[:, None] * cov * s[None, :]), 0.0, None)
    return _codes.to_float(max(2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(eig)), 0.0))


def compute_unsupervised_codes(codes, factors=None, *, num_bins=_codes.NUM_BINS) -> dict[str, float]:
    """Unsupervised scores of ``codes (N, D)`` (``factors`` are ignored, only checked when given).

    Returns ``unsupervised.gaussian_total_correlation`` (≥ 0, inf for singular Σ),
    ``unsupervised.gaussian_wasserstein_correlation`` (≥ 0), ``..._norm`` (in [0, 2)) and
    ``unsupervised.mutual_info`` (in [0, log num_bins]).
    """
    codes = _codes.check_codes(codes) if factors is None else _codes.check_pair(codes, factors)[0]
    d = codes.shape[1]
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    live = np.diag(cov) > 0
    sub = cov[np.ix_(live, live)]
    trace = float(np.trace(cov))
    tc = gaussian_total_correlation(sub) if live.any() else 0.0
    wc = gaussian_wasserstein_correlation(sub) if live.any() else 0.0
    # mean over the d·(d − 1) ordered pairs (pairwise_mutual_info has a zero diagonal)
    mean_mi = _codes.pairwise_mutual_info(_codes.discretize(codes, num_bins)).sum() / (d * d - d) if d > 1 else 0.0
    return {
        "unsupervised.gaussian_total_correlation": _codes.to_float(tc),
        "unsupervised.gaussian_wasserstein_correlation": _codes.to_float(wc),
        "unsupervised.gaussian_wasserstein_correlation_norm": _codes.to_float(wc / trace if trace > 0 else 0.0),
        "unsupervised.mutual_info": _codes.to_float(mean_mi),
    }


def compute_unsupervised(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Unsupervised scores on ``num_train`` codes (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("unsupervised", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_unsupervised_codes(codes, factors, num_bins=p["num_bins"])
