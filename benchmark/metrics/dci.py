"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018).

"A Framework for the Quantitative Evaluation of Disentangled Representations", ICLR 2018,
https://openreview.net/forum?id=By-7dz-AZ. Reference protocol (Locatello et al. 2019): 10,000 train and
5,000 test points; per factor one scikit-learn ``GradientBoostingClassifier`` with its default settings
on the raw codes; importance matrix ``R (D, K)`` = absolute impurity importances;

- disentanglement = Σ_i ρ_i (1 − H_K(P_i)), P_i = R[i, :] / Σ_j R[i, j], ρ_i = Σ_j R[i, j] / Σ R;
- completeness    = Σ_j w_j (1 − H_D(P̃_j)), P̃_j = R[:, j] / Σ_i R[i, j], w_j = Σ_i R[i, j] / Σ R;
- informativeness = mean over factors of the classifier accuracy (train and test).

H_K is the entropy with logarithm base K (so each term lies in [0, 1]). A 1e-11 is added to R inside the
entropies, as in the reference, so an all-zero row counts as uniform (weight 0 anyway).

The default classifier ``gradient_boosting`` is :mod:`benchmark.metrics._boosting`: scikit-learn 1.9.1's
``GradientBoostingClassifier`` re-implemented, the trees of all factors grown together, on CPU by compiled loops
(the trees of a stage spread over the :func:`benchmark.metrics.fit_jobs` threads), on a GPU by tensor operations.
It grows the same trees as scikit-learn (same importances, same predictions), many times faster
(``bench/metrics.py --dci``; README). Codes where more than an eighth of a dimension's values repeat (discrete
codes) are fitted by scikit-learn itself: there scikit-learn's order of equal values decides some ties.
``sklearn`` always runs scikit-learn's own classifier (the reference implementation, per factor through
:func:`benchmark.metrics.fit_jobs` processes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

#: ``device``: where the ``gradient_boosting`` classifier computes (an evaluation passes its own device).
DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "classifier": "gradient_boosting", "device": "cpu"}

#: Named classifiers. ``gradient_boosting`` (scikit-learn's GradientBoostingClassifier with its defaults: 100
#: stages, depth 3, learning rate 0.1; the reference) computed by :mod:`._boosting`; ``sklearn``: the same classifier
#: fitted by scikit-learn itself; ``random_forest`` (100 trees on all features, impurity importances) is an option
#: whose numbers are NOT comparable with published DCI values.
CLASSIFIERS = ("gradient_boosting", "sklearn", "random_forest")

_EPS = 1e-11


def _weighted_score(importance: Any, axis: int) -> float:
    """Σ weight · (1 − normalised entropy) of R's distributions along ``axis`` (1: per code, 0: per factor)."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    if r.ndim != 2 or r.shape[axis] < 2:
        raise ValueError(f"importance must have shape (D, K) with {'DK'[axis]} >= 2, got {r.shape}")
    if r.sum() == 0:
        r = np.ones_like(r)
    p = (r if axis else r.T) + _EPS
    p = p / p.sum(axis=1, keepdims=True)
    entropy = -(p * np.log(p)).sum(axis=1) / np.log(r.shape[axis])  # base K (rows) or D (columns): in [0, 1]
    weights = r.sum(axis=axis) / r.sum()
    return _codes.to_float(np.sum((1.0 - entropy) * weights))


def disentanglement(importance: Any) -> float:
    """DCI disentanglement of an importance matrix ``(D codes, K factors)`` with K ≥ 2; in [0, 1]."""
    return _weighted_score(importance, axis=1)


def completeness(importance: Any) -> float:
    """DCI completeness of an importance matrix ``(D codes, K factors)`` with D ≥ 2; in [0, 1]."""
    return _weighted_score(importance, axis=0)


def _make_classifier(name: str, seed: int):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    if name == "sklearn":
        return GradientBoostingClassifier(random_state=seed)
    if name == "random_forest":
        # every split considers every code (as gradient boosting does): with sqrt-subsampled features an
        # irrelevant code wins splits often enough to blur the importance matrix of a perfect code
        return RandomForestClassifier(n_estimators=100, max_features=None, random_state=seed, n_jobs=1)
    raise ValueError(f"dci: unknown classifier {name!r}; valid: {list(CLASSIFIERS)}")


def importance_matrix(codes_train, factors_train, codes_test, factors_test, *, rng, classifier="gradient_boosting",
                      device="cpu", threads=None, engine="auto"):
    """``(R (D, K), train accuracy (K,), test accuracy (K,))`` from one classifier per factor; a factor with a
    single class in the training split cannot be classified: importances 0, accuracy that class's frequency.
    The ``random_state`` of factor j's classifier is the j-th draw from ``rng`` whichever classifier fits.
    ``gradient_boosting`` grows the trees of each stage on ``threads`` CPU threads (None: the fit jobs of
    :func:`benchmark.metrics.fit_jobs`) with ``engine`` (:data:`._boosting.ENGINES`); neither changes a value."""
    k = factors_train.shape[1]
    seeds = [_codes.sklearn_seed(rng) for _ in range(k)]  # drawn in factor order whatever runs the fits
    if classifier == "gradient_boosting" and _many_repeated_values(codes_train):
        classifier = "sklearn"  # the same classifier; scikit-learn is exact and faster on such codes
    if classifier == "gradient_boosting":
        threads = _codes.current_fit_jobs() if threads is None else threads
        fits = _fit_boosting(seeds, codes_train, factors_train, codes_test, factors_test, device, threads, engine)
    else:
        tasks = [(classifier, seeds[j], codes_train, factors_train[:, j], codes_test, factors_test[:, j]) for j in range(k)]
        # a fit's cost grows with its factor's classes (one tree per class and stage)
        fits = _codes.map_fits(_fit_factor, tasks, cost=[np.unique(factors_train[:, j]).size for j in range(k)])
    r, acc_train, acc_test = (np.array(column) for column in zip(*fits))
    return r.T, acc_train, acc_test


def _many_repeated_values(codes) -> bool:
    """Whether more than an eighth of some code's float32 values repeat (discrete codes, e.g. class indices): there
    scikit-learn orders equal values its own way (which decides some ties) and stops early on pure nodes, so
    ``gradient_boosting`` leaves the fits to it."""
    x = np.sort(np.asarray(codes, dtype=np.float32), axis=0)
    return bool(((x[1:] == x[:-1]).sum(axis=0) > x.shape[0] / 8).any())


def _fit_boosting(seeds, codes_train, factors_train, codes_test, factors_test, device, threads, engine) -> list[tuple]:
    """Every factor's ``(importances, train accuracy, test accuracy)`` from one joint fit of :mod:`._boosting`, in
    this process on ``threads`` threads (not spread over processes), on ``device``."""
    from benchmark.metrics._boosting import fit_gradient_boosting_many

    k = factors_train.shape[1]
    fitted = [j for j in range(k) if np.unique(factors_train[:, j]).size >= 2]
    models = dict(zip(fitted, fit_gradient_boosting_many(
        codes_train, [factors_train[:, j] for j in fitted], random_states=[seeds[j] for j in fitted], device=device,
        progress=lambda done, total: _codes.report("boosting stages", done, total), threads=threads,
        engine=engine)))  # fmt: skip
    out = []
    for j in range(k):
        y_tr, y_te = factors_train[:, j], factors_test[:, j]
        if j not in models:
            out.append(_single_class(codes_train, y_tr, y_te))
        else:
            model = models[j]
            out.append((np.abs(model.feature_importances_), float(np.mean(model.predict(codes_train) == y_tr)),
                        float(np.mean(model.predict(codes_test) == y_te))))
        _codes.report("fits", j + 1, k)  # one classifier per factor, as the scikit-learn path counts them
    return out


def _single_class(codes_train, y_tr, y_te) -> tuple[np.ndarray, float, float]:
    return np.zeros(codes_train.shape[1]), 1.0, float(np.mean(y_te == y_tr[0]))


def _fit_factor(classifier: str, seed: int, codes_train, y_tr, codes_test, y_te) -> tuple[np.ndarray, float, float]:
    """One factor's ``(importances (D,), train accuracy, test accuracy)``."""
    if np.unique(y_tr).size < 2:
        return _single_class(codes_train, y_tr, y_te)
    model = _make_classifier(classifier, seed).fit(codes_train, y_tr)
    return (np.abs(model.feature_importances_), float(np.mean(model.predict(codes_train) == y_tr)),
            float(np.mean(model.predict(codes_test) == y_te)))


def compute_dci_codes(codes_train, factors_train, codes_test, factors_test, *, rng=None, classifier="gradient_boosting",
                      device="cpu"):
    """DCI of fixed codes (shapes as in :func:`benchmark.metrics.score_codes`); each classifier's ``random_state``
    is drawn from ``rng``; ``classifier`` one of :data:`CLASSIFIERS` (``device``: where ``gradient_boosting``
    computes). ``dci.disentanglement``, ``dci.completeness``, ``dci.informativeness_train`` and
    ``dci.informativeness_test``, all in [0, 1]."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="dci")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"dci: unknown classifier {classifier!r}; valid: {list(CLASSIFIERS)}")
    rng = _codes.as_rng(rng)
    r, acc_tr, acc_te = importance_matrix(ctr, ftr, cte, fte, rng=rng, classifier=classifier, device=device)
    return {
        "dci.disentanglement": disentanglement(r) if r.shape[1] > 1 else 1.0,
        "dci.completeness": completeness(r) if r.shape[0] > 1 else 1.0,
        "dci.informativeness_train": _codes.to_float(acc_tr.mean()),
        "dci.informativeness_test": _codes.to_float(acc_te.mean()),
    }


def compute_dci(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """DCI on ``num_train`` train and ``num_test`` test points (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("dci", DEFAULTS, protocol)
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    return compute_dci_codes(ctr, ftr, cte, fte, rng=rng, classifier=p["classifier"], device=p["device"])
