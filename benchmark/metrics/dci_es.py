"""DCI-ES: explicitness (E) and size (S) of a representation (Eastwood et al. 2023).

Eastwood, Nicolicioiu, von Kügelgen, Kekić, Träuble, Dittadi & Schölkopf, "DCI-ES: An Extended Disentanglement
Framework with Connections to Identifiability", ICLR 2023, https://openreview.net/forum?id=462z-gLgSht (facts also
read in the authors' https://github.com/andreinicolicioiu/DCI-ES). D, C and I are :mod:`.dci`'s.

Explicitness (ease of use): per factor j, a family of probes of growing capacity predicts v_j from the codes; the
loss-capacity curve is the lowest test loss reached at capacity <= c; with the baseline loss ℓᵇ_j (the best constant
prediction) and the lowest possible loss ℓ* = 0 (noise-free factors, the paper's experiments),
``E_j = 1 − AULCC_j / ((c_max − c_min)·ℓᵇ_j)``, AULCC_j the trapezoidal area under the curve (losses clipped to
[0, ℓᵇ_j]); ``dci_es.explicitness`` = mean over factors, in [0, 1]. E is 1 when the smallest probe already reaches
loss 0 and 0 when no probe beats the baseline. (The authors' released ``metrics/explitcitness.py`` takes the area
above the curve's own minimum and doubles it; we follow the paper's definition with ℓ* = 0, as that file's comment
says the paper's experiments did.)

Probe family (``probe``): ``random_forest``, the paper's random-forest family: ``num_trees`` trees (scikit-learn's
default 100) on every code at each split, capacity = maximum depth 1, 2, ..., ``max_depth`` on a linear axis (the
paper's grid 1–32 is a subset). The forest of depth d is one forest grown to ``max_depth`` with every tree cut at
depth d: the forest scikit-learn grows with ``max_depth=d`` (up to ties between equally good splits), for the
cost of one. Loss: categorical factors (the dataset's ``class_names``, e.g. dSprites' shape) are classified,
loss = test error, ℓᵇ = the error of the majority training class; ordinal factors are regressed on the class
index, loss = 1 − R² on the test split, ℓᵇ = 1 (as the authors' code). Unlike the authors' forests, the trees are
not capped at 200 leaves (a cap would break the depth-d reading). A constant factor scores E = 1.

Size: ``dci_es.size = min(1, K / D)``, the number of factors over the number of code dims (1 for a representation
no larger than the factors; the paper assumes D >= K). A code that duplicates each factor has S = 1/2.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "probe": "random_forest", "num_trees": 100, "max_depth": 32}
#: Probe families of the loss-capacity curve.
PROBES = ("random_forest",)


def depth_predictions(forest, x: np.ndarray, max_depth: int, classify: bool) -> np.ndarray:
    """Predictions of the forest cut at every depth 1..``max_depth``: ``(max_depth, n)`` (classes when ``classify``)."""
    total = None
    for tree in forest.estimators_:
        path = tree.decision_path(x)  # nodes root → leaf (node ids grow along every path)
        length = np.diff(path.indptr)
        step = np.minimum(np.arange(1, max_depth + 1)[None, :], length[:, None] - 1)
        nodes = path.indices[path.indptr[:-1, None] + step]  # (n, max_depth)
        value = tree.tree_.value[:, 0, :]
        if classify:
            value = value / value.sum(axis=1, keepdims=True)
        total = value[nodes] if total is None else total + value[nodes]  # (n, max_depth, outputs)
    if classify:
        return forest.classes_[np.argmax(total, axis=2)].T
    return total[:, :, 0].T / len(forest.estimators_)


def explicitness_of_factor(seed: int, ctr, y_tr, cte, y_te, categorical: bool, num_trees: int, max_depth: int) -> float:
    """E_j of one factor from the random-forest loss-capacity curve (see the module docstring)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if np.unique(y_tr).size < 2:
        return 1.0
    cte = np.asarray(cte, dtype=np.float32)  # the trees' own dtype: no conversion per tree
    kind = RandomForestClassifier if categorical else RandomForestRegressor
    forest = kind(n_estimators=num_trees, max_depth=max_depth, max_features=None, random_state=seed, n_jobs=1)
    forest.fit(ctr, y_tr if categorical else y_tr.astype(np.float64))
    pred = depth_predictions(forest, cte, max_depth, categorical)
    if categorical:
        values, counts = np.unique(y_tr, return_counts=True)
        baseline = float(np.mean(y_te != values[np.argmax(counts)]))
        loss = np.mean(pred != y_te[None, :], axis=1)
    else:
        baseline = 1.0
        ss = np.sum((y_te - y_te.mean()) ** 2)
        loss = np.sum((pred - y_te[None, :]) ** 2, axis=1) / ss if ss > 0 else np.zeros(max_depth)
    return explicitness_from_losses(loss, baseline)


def explicitness_from_losses(losses: Any, baseline: float) -> float:
    """``1 − AULCC / ((c_max − c_min)·ℓᵇ)`` of test losses at capacities 1, 2, ..., m (m >= 2, unit steps): losses
    clipped to [0, ℓᵇ], the curve their running minimum, the area trapezoidal; 1.0 when ``baseline <= 0``."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size < 2:
        raise ValueError(f"dci_es: need the losses of at least 2 capacities, got shape {losses.shape}")
    if baseline <= 0:
        return 1.0
    curve = np.minimum.accumulate(np.clip(losses, 0.0, baseline))
    area = np.sum((curve[1:] + curve[:-1]) / 2.0)
    return _codes.to_float(1.0 - area / ((losses.size - 1) * baseline))


def compute_dci_es_codes(
    codes_train, factors_train, codes_test, factors_test, *, rng=None, categorical: Sequence[bool] | None = None,
    probe: str = DEFAULTS["probe"], num_trees: int = DEFAULTS["num_trees"], max_depth: int = DEFAULTS["max_depth"],
) -> dict[str, float]:
    """DCI-ES of fixed codes: ``dci_es.explicitness`` in [0, 1] and ``dci_es.size`` in (0, 1], both higher is better.
    ``categorical`` (K bools, default all False) marks the factors classified rather than regressed."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="dci_es")
    if probe not in PROBES:
        raise ValueError(f"dci_es: unknown probe {probe!r}; valid: {', '.join(PROBES)}")
    max_depth = _codes.check_positive_int(max_depth, "max_depth", 2)
    num_trees = _codes.check_positive_int(num_trees, "num_trees")
    k = ftr.shape[1]
    flags = [False] * k if categorical is None else [bool(c) for c in categorical]
    if len(flags) != k:
        raise ValueError(f"dci_es: categorical has {len(flags)} entries for factors of shape {ftr.shape}")
    rng = _codes.as_rng(rng)
    seeds = [_codes.sklearn_seed(rng) for _ in range(k)]  # drawn in factor order whatever runs the fits
    tasks = [(seeds[j], ctr, ftr[:, j], cte, fte[:, j], flags[j], num_trees, max_depth) for j in range(k)]
    per_factor = _codes.map_fits(explicitness_of_factor, tasks, cost=[float(not f) for f in flags])
    return {"dci_es.explicitness": _codes.to_float(np.mean(per_factor)), "dci_es.size": min(1.0, k / ctr.shape[1])}


def compute_dci_es(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """DCI-ES on ``num_train`` / ``num_test`` points (:data:`DEFAULTS`) drawn uniformly over the grid; the factors
    named in the dataset's ``class_names`` are categorical."""
    p = _codes.resolve("dci_es", DEFAULTS, protocol, {"probe": PROBES})
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    names = _codes.factor_names(dataset, ftr.shape[1])
    categorical = [n in getattr(dataset, "class_names", {}) for n in names]
    return compute_dci_es_codes(ctr, ftr, cte, fte, rng=rng, categorical=categorical, probe=p["probe"],
                                num_trees=p["num_trees"], max_depth=p["max_depth"])
