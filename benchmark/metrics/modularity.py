"""Modularity and explicitness (Ridgeway & Mozer 2018).

"Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS 2018,
https://arxiv.org/abs/1802.05312. Reference protocol (Locatello et al. 2019): 10,000 train and 5,000 test
points.

- modularity: MI matrix ``m (D, K)`` exactly as in the discrete MIG (20 equal-width bins per code dim over
  the training sample, plug-in MI in nats); per code ``1 − (Σ_j m_ij² − θ_i) / (θ_i (K − 1))`` with
  ``θ_i = max_j m_ij²`` (a code with no information at all scores 0); mean over codes.
- explicitness: per factor a logistic regression (one-vs-rest, liblinear, C = 1: the scikit-learn default
  the reference ran) on the codes standardised with the training mean and std; ROC-AUC of its class
  probabilities, macro-averaged over the factor's classes; mean over factors, on train and on test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "num_bins": _codes.NUM_BINS}


def modularity_from_mi(mi: Any) -> float:
    """Mean modularity over codes of an MI matrix ``(D, K)``, K ≥ 2; in [0, 1]."""
    sq = np.square(np.asarray(mi, dtype=np.float64))
    if sq.ndim != 2 or sq.shape[1] < 2:
        raise ValueError(f"modularity needs an MI matrix of shape (D, K) with K >= 2, got {sq.shape}")
    theta = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - theta) / (theta * (sq.shape[1] - 1))
    per_code = np.where(theta > 0, 1.0 - delta, 0.0)
    return _codes.to_float(per_code.mean())


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    targets = ((y == cls, proba[:, c]) for c, cls in enumerate(classes))
    # AUC undefined for a class absent (or alone) in this split
    aucs = [roc_auc_score(target, p) for target, p in targets if target.any() and not target.all()]
    return float(np.mean(aucs)) if aucs else float("nan")


def explicitness(codes_train, factors_train, codes_test, factors_test, *, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-factor ROC-AUC ``(K,)`` on train and test; a factor with one training class scores 1."""
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant code stays 0 instead of becoming NaN
    xtr, xte = (codes_train - mean) / std, (codes_test - mean) / std
    k = factors_train.shape[1]
    seeds = [_codes.sklearn_seed(rng) for _ in range(k)]  # drawn in factor order whatever runs the fits
    tasks = [(seeds[j], xtr, factors_train[:, j], xte, factors_test[:, j]) for j in range(k)]
    fits = _codes.map_fits(_explicitness_of_factor, tasks, cost=[np.unique(factors_train[:, j]).size for j in range(k)])
    return np.array([f[0] for f in fits]), np.array([f[1] for f in fits])


def _explicitness_of_factor(seed: int, xtr, y_tr, xte, y_te) -> tuple[float, float]:
    if np.unique(y_tr).size < 2:
        return 1.0, 1.0
    clf = _codes.logistic_ovr(seed).fit(xtr, y_tr)
    return _auc(y_tr, clf.predict_proba(xtr), clf.classes_), _auc(y_te, clf.predict_proba(xte), clf.classes_)


def compute_modularity_codes(codes_train, factors_train, codes_test, factors_test, *, rng=None, num_bins=_codes.NUM_BINS):
    """Modularity and explicitness of fixed codes: ``modularity``, ``explicitness.train`` and
    ``explicitness.test``, all in [0, 1] (explicitness 0.5 = chance)."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="modularity")
    rng = _codes.as_rng(rng)
    mi = _codes.discrete_mutual_info(_codes.discretize(ctr, num_bins), ftr)
    ex_tr, ex_te = explicitness(ctr, ftr, cte, fte, rng=rng)
    return {
        "modularity": modularity_from_mi(mi),
        "explicitness.train": _codes.to_float(np.nanmean(ex_tr)),
        "explicitness.test": _codes.to_float(np.nanmean(ex_te)),
    }


def compute_modularity(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Modularity / explicitness on ``num_train`` / ``num_test`` points (:data:`DEFAULTS`) drawn over the grid."""
    p = _codes.resolve("modularity", DEFAULTS, protocol)
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    return compute_modularity_codes(ctr, ftr, cte, fte, rng=rng, num_bins=p["num_bins"])
