"""The gradient boosting of DCI (:mod:`benchmark.metrics._boosting`) grows scikit-learn's trees, with either engine:
compiled loops (:mod:`benchmark.metrics._boosting_cpu`, the CPU default) and tensor operations (``torch``, the GPU's).

Every tree of every stage is compared with scikit-learn's (split features, thresholds, leaves, leaf values), then
the importances, the raw predictions (bit for bit) and the class predictions on train and test codes; and DCI's
four numbers through ``score_codes`` with ``classifier="gradient_boosting"`` and ``"sklearn"``. Where scikit-learn
breaks a tie by the order its introsort leaves EQUAL values in (codes with repeated values), the trees may differ:
those cases are tested against a looser bound and named as such.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier

from benchmark.metrics import score_codes
from benchmark.metrics import _boosting_cpu
from benchmark.metrics._boosting import fit_gradient_boosting, fit_gradient_boosting_many
from metrics_synthetic import FactorGrid, code_grid


def _tree_differences(sk_tree, features, thresholds, values) -> list:
    """Where scikit-learn's tree and ours (complete depth-3 tree, breadth-first) differ: [] when they agree."""
    t = sk_tree.tree_
    out = []

    def walk(node: int, depth: int, j: int) -> None:
        split = t.children_left[node] != -1
        ours = depth < 3 and np.isfinite(thresholds[2**depth - 1 + j])
        if split != ours:
            out.append(("split", depth, j))
        elif not split:
            slot = j << (3 - depth)  # a leaf above depth 3 sends everything to its leftmost descendant
            if t.value[node, 0, 0] != values[slot]:
                out.append(("value", depth, j, t.value[node, 0, 0], values[slot]))
        elif (t.feature[node], t.threshold[node]) != (features[2**depth - 1 + j], thresholds[2**depth - 1 + j]):
            out.append(("feature", depth, j, t.feature[node], features[2**depth - 1 + j]))
        else:
            walk(t.children_left[node], depth + 1, 2 * j)
            walk(t.children_right[node], depth + 1, 2 * j + 1)

    walk(0, 0, 0)
    return out


def _differing_trees(ours, sk) -> list:
    f, th, v = (a.cpu().numpy() for a in (ours.features, ours.thresholds, ours.values))
    return [(s, k, d) for s in range(sk.estimators_.shape[0]) for k in range(sk.estimators_.shape[1])
            if (d := _tree_differences(sk.estimators_[s, k], f[s, k], th[s, k], v[s, k]))]  # fmt: skip


ENGINES = ["compiled", "torch"]


def _fit_both(x, y, seed, stages=100, device="cpu", engine="auto"):
    sk = GradientBoostingClassifier(random_state=seed, n_estimators=stages).fit(x, y)
    ours = fit_gradient_boosting_many(x, [y], random_states=[seed], n_estimators=stages, device=device, engine=engine)
    return ours[0], sk


def assert_same_model(ours, sk, x_train, x_test) -> None:
    assert _differing_trees(ours, sk) == []
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    np.testing.assert_allclose(ours.feature_importances_, sk.feature_importances_, rtol=0, atol=1e-6)
    for x in (x_train, x_test):
        np.testing.assert_array_equal(ours.decision_function(x), sk.decision_function(x))  # bit for bit
        np.testing.assert_array_equal(ours.predict(x), sk.predict(x))


def _codes(n, rng):
    """Informative, weakly informative and noise codes, one constant code."""
    z = rng.normal(size=(n, 3))
    codes = np.c_[z[:, 0], z[:, 1] + 0.5 * z[:, 0], rng.normal(size=n), np.full(n, 0.25), z[:, 2]]
    return codes, z


@pytest.mark.parametrize("engine", ENGINES)
def test_two_classes_grow_the_same_trees(engine):
    rng = np.random.default_rng(0)
    (x, z), (x_test, _) = _codes(600, rng), _codes(300, rng)
    y = (z[:, 0] + 0.5 * z[:, 1] + 0.5 * rng.normal(size=600) > 0.2).astype(int)
    ours, sk = _fit_both(x, y, seed=3, engine=engine)
    assert sk.estimators_.shape == (100, 1)  # binomial: one tree per stage
    assert_same_model(ours, sk, x, x_test)
    assert ours.feature_importances_[3] == 0.0  # the constant code never splits


@pytest.mark.parametrize("engine", ENGINES)
def test_three_classes_with_arbitrary_labels_grow_the_same_trees(engine):
    rng = np.random.default_rng(1)
    (x, z), (x_test, _) = _codes(500, rng), _codes(300, rng)
    y = np.array([-3, 7, 42])[np.digitize(z[:, 0] + 0.4 * rng.normal(size=500), [-0.5, 0.5])]
    ours, sk = _fit_both(x, y, seed=4, engine=engine)
    assert set(ours.predict(x_test)) <= {-3, 7, 42}
    assert_same_model(ours, sk, x, x_test)


@pytest.mark.parametrize("engine", ENGINES)
def test_forty_classes_grow_the_same_trees(engine):
    rng = np.random.default_rng(2)
    (x, z), (x_test, _) = _codes(1200, rng), _codes(400, rng)
    y = np.clip(((z[:, 0] + 2.5) * 8).astype(int) + rng.integers(0, 2, 1200), 0, 39)
    y[:40] = np.arange(40)  # every class present
    ours, sk = _fit_both(x, y, seed=5, stages=12, engine=engine)
    assert sk.estimators_.shape == (12, 40)
    assert_same_model(ours, sk, x, x_test)


@pytest.mark.parametrize("engine", ENGINES)
def test_identical_codes_split_in_the_splitters_random_feature_order(engine):
    # every feature ties at every split: scikit-learn takes the first it draws (its rand_r, per tree)
    rng = np.random.default_rng(3)
    x = np.repeat(rng.normal(size=(400, 1)), 6, axis=1)
    y = np.digitize(x[:, 0] + 0.5 * rng.normal(size=400), [-0.3, 0.4])
    ours, sk = _fit_both(x, y, seed=6, stages=30, engine=engine)
    assert len({int(f) for e in sk.estimators_.ravel() for f in e.tree_.feature if f >= 0}) == 6  # all get splits
    assert_same_model(ours, sk, x, x[:50])


def test_fitting_several_factors_together_gives_the_separate_models():
    rng = np.random.default_rng(4)
    x, z = _codes(300, rng)
    labels = [(z[:, 0] > 0).astype(int), np.digitize(z[:, 1], [-1, 0, 1])]
    joint = fit_gradient_boosting_many(x, labels, random_states=[7, 8], n_estimators=20)
    for model, y, seed in zip(joint, labels, (7, 8)):
        alone = fit_gradient_boosting(x, y, random_state=seed, n_estimators=20)
        np.testing.assert_array_equal(model.feature_importances_, alone.feature_importances_)
        np.testing.assert_array_equal(model.decision_function(x), alone.decision_function(x))


def test_the_models_do_not_depend_on_the_threads_or_the_engine():
    rng = np.random.default_rng(8)
    x, z = _codes(400, rng)
    labels = [np.digitize(z[:, 0], [-0.5, 0.5]), (z[:, 1] > 0).astype(int), np.digitize(z[:, 2], [-1, 0, 1])]
    fits = {(engine, threads): fit_gradient_boosting_many(x, labels, random_states=[1, 2, 3], n_estimators=15,
                                                          engine=engine, threads=threads)
            for engine, threads in (("compiled", 1), ("compiled", 2), ("torch", 1))}  # fmt: skip
    reference = fits[("compiled", 1)]
    for models in fits.values():
        for model, ref in zip(models, reference):
            for field in ("features", "thresholds", "values"):
                np.testing.assert_array_equal(getattr(model, field).numpy(), getattr(ref, field).numpy())
            np.testing.assert_allclose(model.feature_importances_, ref.feature_importances_, rtol=0, atol=1e-15)
            np.testing.assert_array_equal(model.decision_function(x), ref.decision_function(x))


def test_repeated_values_are_the_documented_exception():
    # scikit-learn orders equal values by its introsort; sums over them can round differently, so a tie may go the
    # other way in a few trees: the predictions stay the same, the importances within 1e-4
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 3))
    x = np.c_[z, np.round(z[:, 0] + 0.3 * rng.normal(size=600), 1), rng.normal(size=600)]
    y = np.digitize(z[:, 0] + 0.4 * rng.normal(size=600), [-0.5, 0.5])
    for engine in ENGINES:
        ours, sk = _fit_both(x, y, seed=4, stages=40, engine=engine)
        assert len(_differing_trees(ours, sk)) <= 6  # of 120
        np.testing.assert_allclose(ours.feature_importances_, sk.feature_importances_, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(ours.predict(x), sk.predict(x))


def test_the_gradients_use_the_c_librarys_exp():
    # scikit-learn's compiled loss calls the C library's exp, as Python's math.exp does; numpy's differs in the
    # last bit for some values
    import math

    rng = np.random.default_rng(5)
    raw, y = rng.normal(0, 6, (3, 4000)), rng.integers(0, 3, 4000)
    onehot = (y[None, :] == np.arange(3)[:, None]).astype(float)
    exps = [[math.exp(r - max(raw[:, i])) for r in raw[:, i]] for i in range(raw.shape[1])]
    expected = [[-(e / ((row[0] + row[1]) + row[2]) - onehot[k, i]) for k, e in enumerate(row)]
                for i, row in enumerate(exps)]  # fmt: skip
    assert _boosting_cpu.neg_gradient(raw, onehot).T.tolist() == expected
    r, t = raw[:1], (y[None, :] == 1).astype(float)
    binomial = [-(math.exp(v) - b) if v <= -37 else -(((1 - b) - b * math.exp(-v)) / (1 + math.exp(-v)))
                for v, b in zip(r[0], t[0])]  # fmt: skip
    assert _boosting_cpu.neg_gradient(r, t)[0].tolist() == binomial


def test_the_leaf_sums_are_numpys():
    # the Newton step averages with numpy's pairwise sum; the compiled sum is that sum, or numpy's is used
    assert _boosting_cpu.pairwise_sum_matches_numpy()
    rng = np.random.default_rng(6)
    leaf, neg = rng.integers(0, 8, (5, 3000)), rng.normal(0, 0.3, (5, 3000))
    target = (rng.random((5, 3000)) < 0.3).astype(float)
    factors = np.array([np.nan, 0.5, 0.75, np.nan, 0.9])
    compiled = _boosting_cpu.leaf_values(leaf, 8, neg, target, factors)
    bounds, num, den = _boosting_cpu.leaf_members(leaf, 8, neg, target)
    for c in range(5):
        for j in range(8):
            members = np.flatnonzero(leaf[c] == j)  # index order
            p = target[c, members] - neg[c, members]
            numerator = neg[c, members].sum() / members.size * (1.0 if np.isnan(factors[c]) else factors[c])
            assert compiled[c, j] == numerator / ((p * (1 - p)).sum() / members.size)
            np.testing.assert_array_equal(num[c, bounds[c, j] : bounds[c, j + 1]], neg[c, members])


def test_the_engine_is_checked():
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="engine must be one of"):
        fit_gradient_boosting_many(x, [y], random_states=[0], engine="numba")
    with pytest.raises(ValueError, match="CPU only"):
        fit_gradient_boosting_many(x, [y], random_states=[0], engine="compiled", device="meta")


def test_inputs_are_checked():
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_gradient_boosting(x, np.zeros(20, dtype=int), random_state=0)
    with pytest.raises(ValueError, match=r"shape \(20,\)"):
        fit_gradient_boosting(x, np.zeros(19, dtype=int), random_state=0)
    with pytest.raises(ValueError, match="finite"):
        fit_gradient_boosting(np.full((20, 3), np.nan), np.arange(20) % 2, random_state=0)


GRID = FactorGrid(sizes=(3, 6, 10), names=("a", "b", "c"))


def _dci_both(kind, num_train=300, num_test=150):
    rng = np.random.default_rng(0)
    codes = code_grid(GRID, kind).representation("mean")
    from benchmark.metrics._codes import sample_train_test

    ctr, ftr, cte, fte = sample_train_test(GRID, codes, {"num_train": num_train, "num_test": num_test}, rng)
    return [score_codes("dci", ctr, ftr, cte, fte, rng=1, classifier=c) for c in ("gradient_boosting", "sklearn")]


@pytest.mark.parametrize("kind", ["rotation", "noise"])
def test_dci_of_the_frozen_codes_equals_scikit_learns(kind):
    ours, sk = _dci_both(kind)
    assert ours.keys() == sk.keys()
    assert all(abs(ours[k] - sk[k]) <= 1e-6 for k in sk), (ours, sk)


@pytest.mark.parametrize("kind", ["identity", "duplicated"])
def test_dci_of_codes_with_repeated_values_is_scikit_learns(kind):
    ours, sk = _dci_both(kind)  # codes = factor classes, equal values everywhere: DCI hands the fits to scikit-learn
    assert ours == sk


def test_the_torch_fit_on_discrete_codes_stays_close():
    # what the fallback avoids: on class-index codes scikit-learn's order of equal values decides a few ties
    rng = np.random.default_rng(0)
    codes = code_grid(GRID, "duplicated").representation("mean")
    from benchmark.metrics import dci
    from benchmark.metrics._codes import sample_train_test

    ctr, ftr, cte, fte = sample_train_test(GRID, codes, {"num_train": 300, "num_test": 150}, rng)
    assert dci._many_repeated_values(ctr) and not dci._many_repeated_values(rng.normal(size=(300, 4)))
    seeds = [11, 12, 13]
    for j, seed in enumerate(seeds):
        ours = fit_gradient_boosting(ctr, ftr[:, j], random_state=seed, n_estimators=30)
        sk = GradientBoostingClassifier(random_state=seed, n_estimators=30).fit(ctr, ftr[:, j])
        np.testing.assert_allclose(ours.feature_importances_, sk.feature_importances_, rtol=0, atol=0.05)
        assert np.mean(ours.predict(cte) == sk.predict(cte)) >= 0.98


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_grows_equivalent_trees():
    # on CUDA the cumulative sums are not sequential: ties decided by the last bit may go the other way
    rng = np.random.default_rng(6)
    (x, z), (x_test, _) = _codes(800, rng), _codes(400, rng)
    y = np.digitize(z[:, 0] + 0.5 * z[:, 1] + 0.3 * rng.normal(size=800), [-0.8, 0.0, 0.8])
    ours, sk = _fit_both(x, y, seed=9, stages=30, device="cuda")
    assert ours.values.device.type == "cuda"
    assert len(_differing_trees(ours, sk)) <= 12  # of 120
    np.testing.assert_allclose(ours.feature_importances_, sk.feature_importances_, rtol=0, atol=1e-2)
    assert np.mean(ours.predict(x_test) == sk.predict(x_test)) >= 0.98


@pytest.mark.slow  # 40 s; the default run holds one trained run's DCI to scikit-learn's (tests/test_same_numbers.py)
def test_dci_of_two_trained_runs_equals_scikit_learns(tmp_path):
    """The codes of real models (two short dSprites runs, β = 1 and 16), not synthetic ones: the default classifier's
    DCI record equals the scikit-learn path's within 1e-6, and each record names its classifier."""
    from benchmark.evaluation import evaluate, model_encoder
    from benchmark.metrics import dci
    from benchmark.training import load_model, open_dataset, train

    sizes = {"num_train": 300, "num_test": 150}
    grid = None
    for beta in (1.0, 16.0):
        run = tmp_path / f"b{beta:g}"
        train({"dataset": "dsprites_procedural", "model": "beta_vae", "beta": beta, "steps": 20, "batch_size": 16,
               "seed": 0, "device": "cpu", "checkpoint_every": 20, "log_every": 10}, run, progress=False)  # fmt: skip
        model, config = load_model(run)
        grid = grid or open_dataset(config)
        images = grid.images(np.random.default_rng(0).choice(len(grid), 300, replace=False))
        codes, _ = model_encoder(model, "cpu")(images)
        assert not dci._many_repeated_values(codes)  # continuous codes: the torch fit, not the hand-over, runs
        ours, sk = (evaluate(run, metrics="dci", representation="mean", dci={**sizes, "classifier": c})[0]
                    for c in ("gradient_boosting", "sklearn"))
        assert ours["status"] == sk["status"] == "ok", (ours.get("error"), sk.get("error"))
        assert (ours["protocol.dci.classifier"], sk["protocol.dci.classifier"]) == ("gradient_boosting", "sklearn")
        values = {k: v for k, v in sk.items() if k.startswith("metric.")}
        assert len(values) >= 4 and ours.keys() == sk.keys()
        assert all(abs(ours[k] - v) <= 1e-6 for k, v in values.items()), {k: (ours[k], v) for k, v in values.items()}
