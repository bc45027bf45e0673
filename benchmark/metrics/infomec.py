"""InfoMEC: InfoM (modularity), InfoE (explicitness), InfoC (compactness) (Hsu et al. 2023).

Hsu, Dorrell, Whittington, Wu & Finn, "Disentanglement via Latent Quantization", NeurIPS 2023,
https://arxiv.org/abs/2305.18378 (definitions in its section on InfoMEC; facts checked against the authors'
``disentangle/metrics/infomec.py`` in https://github.com/kylehkhsu/latent_quantization).

- ``NMI (K, D)``: ``I(v_i; z_j) / H(v_i)``, the mutual information of factor i and code j normalised by the factor's
  entropy (the plug-in entropy of its classes). ``estimator="knn"`` (default, the authors' choice for continuous
  codes): scikit-learn's k-nearest-neighbour estimator (``mutual_info_classif``, ``n_neighbors`` 10), one code at a
  time with the same ``random_state`` (so the value does not depend on the dims' order). ``estimator="binned"``: the
  discrete estimator of ``mig`` (``num_bins`` equal-width bins per code, plug-in MI).
- active codes: range > 1/20 of the largest range (the authors' pruning); ``infomec.num_active_dims`` counts them.
- ``InfoM = (mean_j max_i NMI_ij / Σ_i NMI_ij − 1/K) / (1 − 1/K)`` over active codes j: each code informs one factor.
- ``InfoC = (mean_i max_j NMI_ij / Σ_j NMI_ij − 1/D_a) / (1 − 1/D_a)`` over active codes: each factor in one code.
- ``InfoE = mean_i (H(v_i) − CE_i) / H(v_i)``: the predictive information ratio of a multinomial logistic
  regression (no penalty, lbfgs, ``max_iter`` 100) of factor i from the standardised codes, CE_i its log loss on
  the sample it was fitted on (as the authors do).

Choices where the definition leaves room, all documented: a code (factor) whose NMI are all 0 has ratio 1/K (1/D_a),
i.e. contributes 0; one active code gives InfoC = 1 and one factor InfoM = 1, no active code gives both 0; a factor
with one class has InfoE 1. The authors fit InfoE's regression with ``class_weight="balanced"`` and take H from an
intercept-only fit; we fit unweighted, so that the intercept-only log loss is exactly the plug-in H and the ratio
lies in [0, 1] (the same for balanced factor samples, as grid samples are).

Noise: InfoE of codes independent of the factors is ≈0 (chance). InfoM and InfoC of a code that carries no
information are 0/0 in the definition; with the k-NN estimator its NMI are a few small positive values at random
places (the estimator clips at 0), so their max/sum ratios, and InfoM/InfoC of pure noise (0.5–0.7 on dSprites),
mean nothing. The binned estimator's bias is spread over every pair, so noise reads near chance there (InfoM ≈0.14,
InfoC ≈0.04 on dSprites); a perfect code reads ≈0.98 there and ≈1.0 with k-NN.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "estimator": "knn", "n_neighbors": 10, "num_bins": _codes.NUM_BINS, "max_iter": 100}
#: Mutual-information estimators of the NMI matrix: the authors' k-NN one, or ``mig``'s binned plug-in one.
ESTIMATORS = ("knn", "binned")
#: A code is active when its range exceeds this fraction of the largest code range (the authors' 1/20).
ACTIVE_FRACTION = 1 / 20


def nmi_matrix(codes: np.ndarray, factors: np.ndarray, *, seed: int, estimator: str = DEFAULTS["estimator"],
               n_neighbors: int = DEFAULTS["n_neighbors"], num_bins: int = DEFAULTS["num_bins"]) -> np.ndarray:
    """``(K, D)`` mutual information of each factor and code over the factor's plug-in entropy (0 if H = 0)."""
    from sklearn.feature_selection import mutual_info_classif

    h = _codes.discrete_entropy(factors)
    if estimator == "binned":
        mi = _codes.discrete_mutual_info(_codes.discretize(codes, num_bins), factors).T
        return np.where(h[:, None] > 0, mi / np.where(h > 0, h, 1.0)[:, None], 0.0)
    if estimator != "knn":
        raise ValueError(f"infomec: estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    out = np.zeros((factors.shape[1], codes.shape[1]))
    for i in range(factors.shape[1]):
        if h[i] <= 0:
            continue
        for j in range(codes.shape[1]):
            mi = mutual_info_classif(codes[:, j : j + 1], factors[:, i], discrete_features=False,
                                     n_neighbors=n_neighbors, random_state=seed)[0]
            out[i, j] = mi / h[i]
    return out


def _ratio_score(nmi: np.ndarray, axis: int) -> float:
    """``(mean of max/sum along axis − 1/n) / (1 − 1/n)``, n the length of that axis; an all-zero line has ratio 1/n."""
    n = nmi.shape[axis]
    if n == 1:
        return 1.0
    total = nmi.sum(axis=axis)
    ratio = np.where(total > 0, nmi.max(axis=axis) / np.where(total > 0, total, 1.0), 1.0 / n)
    return _codes.to_float((ratio.mean() - 1.0 / n) / (1.0 - 1.0 / n))


def infom_infoc(nmi: Any, active: Any) -> tuple[float, float]:
    """``(InfoM, InfoC)`` in [0, 1] of an NMI matrix ``(K, D)`` restricted to the ``active (D,)`` codes."""
    pruned = np.asarray(nmi, dtype=np.float64)[:, np.asarray(active, dtype=bool)]
    if pruned.shape[1] == 0:
        return 0.0, 0.0
    return _ratio_score(pruned, axis=0), _ratio_score(pruned, axis=1)


def infoe(codes: np.ndarray, factors: np.ndarray, *, max_iter: int = DEFAULTS["max_iter"]) -> np.ndarray:
    """Per-factor predictive information ratio ``(K,)`` in [0, 1] of a logistic regression on standardised codes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    std = codes.std(axis=0)
    x = (codes - codes.mean(axis=0)) / np.where(std > 0, std, 1.0)
    h = _codes.discrete_entropy(factors)
    out = np.ones(factors.shape[1])
    for i in range(factors.shape[1]):
        if h[i] <= 0:
            continue
        y = factors[:, i]
        with warnings.catch_warnings():
            # the authors' 100 lbfgs iterations, whatever their convergence (separable classes never converge)
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=np.inf, max_iter=max_iter).fit(x, y)
        proba = model.predict_proba(x)[np.arange(y.size), np.searchsorted(model.classes_, y)]
        ce = -np.mean(np.log(np.clip(proba, 1e-15, 1.0)))
        out[i] = np.clip((h[i] - ce) / h[i], 0.0, 1.0)
    return out


def compute_infomec_codes(
    codes: Any, factors: Any, *, rng=None, estimator: str = DEFAULTS["estimator"], n_neighbors: int = DEFAULTS["n_neighbors"],
    num_bins: int = DEFAULTS["num_bins"], max_iter: int = DEFAULTS["max_iter"],
) -> dict[str, float]:
    """InfoMEC of ``codes (N, D)`` and ``factors (N, K)``: ``infomec.infom``, ``infomec.infoc``, ``infomec.infoe`` in
    [0, 1] (higher is better) and ``infomec.num_active_dims`` in [0, D]; ``rng`` seeds the k-NN estimator's jitter."""
    codes, factors = _codes.check_pair(codes, factors)
    seed = _codes.sklearn_seed(_codes.as_rng(rng))
    n_neighbors = _codes.check_positive_int(n_neighbors, "n_neighbors")
    ranges = codes.max(axis=0) - codes.min(axis=0)
    active = (ranges > ACTIVE_FRACTION * ranges.max()) if ranges.max() > 0 else np.zeros(codes.shape[1], bool)
    nmi = nmi_matrix(codes, factors, seed=seed, estimator=estimator, n_neighbors=n_neighbors, num_bins=num_bins)
    infom, infoc = infom_infoc(nmi, active)
    return {
        "infomec.infom": infom,
        "infomec.infoc": infoc,
        "infomec.infoe": _codes.to_float(infoe(codes, factors, max_iter=max_iter).mean()),
        "infomec.num_active_dims": float(active.sum()),
    }


def compute_infomec(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """InfoMEC on ``num_train`` points (:data:`DEFAULTS`) drawn uniformly over the grid; keys as
    :func:`compute_infomec_codes`."""
    p = _codes.resolve("infomec", DEFAULTS, protocol, {"estimator": ESTIMATORS})
    sampler = _codes.code_sampler(dataset, representation)
    codes, factors = _codes.sample_codes(dataset, sampler, p["num_train"], rng)
    return compute_infomec_codes(codes, factors, rng=rng, estimator=p["estimator"], n_neighbors=p["n_neighbors"],
                                 num_bins=p["num_bins"], max_iter=p["max_iter"])
