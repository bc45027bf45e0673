"""SAP score, Separated Attribute Predictability (Kumar et al. 2018).

"Variational Inference of Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018,
https://arxiv.org/abs/1711.00848. Reference protocol (Locatello et al. 2019, discrete factors): 10,000
train and 5,000 test points; for every (code dim i, factor j) a linear SVM (``LinearSVC(C=0.01,
class_weight="balanced")``) trained on that single code dim alone; score matrix = test accuracy; SAP = mean
over factors of the gap between the best and second-best code's accuracy.

A one-code linear SVM cannot separate 32-40 ordered classes, so even a perfect code scores only ≈0.24 on
dSprites.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "svm_c": 0.01}


def score_matrix(codes_train, factors_train, codes_test, factors_test, *, rng, svm_c=DEFAULTS["svm_c"]) -> np.ndarray:
    """``(D, K)`` test accuracy of one single-code linear SVM per (code dim, factor)."""
    d, k = codes_train.shape[1], factors_train.shape[1]
    seeds = [[_codes.sklearn_seed(rng) for _ in range(k)] for _ in range(d)]  # row-major, whatever runs the fits
    tasks = [(seeds[i], codes_train[:, i : i + 1], factors_train, codes_test[:, i : i + 1], factors_test, svm_c)
             for i in range(d)]
    return np.array(_codes.map_fits(_code_row, tasks))


def _code_row(seeds: list[int], code_train, factors_train, code_test, factors_test, svm_c: float) -> list[float]:
    """One code dim's row of the score matrix: its test accuracy for each factor."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    row = []
    for j, seed in enumerate(seeds):
        y_tr, y_te = factors_train[:, j], factors_test[:, j]
        if np.unique(y_tr).size < 2:  # nothing to separate: every code predicts the one class seen
            row.append(float(np.mean(y_te == y_tr[0])))
            continue
        clf = LinearSVC(C=svm_c, class_weight="balanced", random_state=seed)
        with warnings.catch_warnings():
            # the reference ran liblinear's default 1000 iterations and accepted its result as is
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(code_train, y_tr)
        row.append(float(np.mean(clf.predict(code_test) == y_te)))
    return row


def sap_from_matrix(matrix: Any) -> float:
    """Mean over factors (columns) of top1 − top2 of the score matrix ``(D, K)``; 1 code dim → top2 = 0."""
    m = np.sort(np.asarray(matrix, dtype=np.float64), axis=0)
    return _codes.to_float(np.mean(m[-1] - (m[-2] if m.shape[0] > 1 else 0.0)))


def compute_sap_codes(codes_train, factors_train, codes_test, factors_test, *, rng=None, svm_c=DEFAULTS["svm_c"]) -> dict[str, float]:
    """SAP of fixed codes: ``{"sap": float in [0, 1]}``. Shapes as in :func:`benchmark.metrics.score_codes`."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="sap")
    rng = _codes.as_rng(rng)
    return {"sap": sap_from_matrix(score_matrix(ctr, ftr, cte, fte, rng=rng, svm_c=svm_c))}


def compute_sap(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """SAP on ``num_train`` / ``num_test`` points (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("sap", DEFAULTS, protocol)
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    return compute_sap_codes(ctr, ftr, cte, fte, rng=rng, svm_c=p["svm_c"])
