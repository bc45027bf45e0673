"""Closed-form cases of the extended set (IRS, MIG-sup, DCIMIG, JEMMIG, InfoMEC, DCI-ES, the fixed-sample groups):
values computed by hand from the definitions in each module's docstring."""

import math

import numpy as np
import pytest

from benchmark.metrics import METRIC_SETS, METRICS, parse_metrics, score_codes
from benchmark.metrics import _groups
from benchmark.metrics.dci_es import depth_predictions, explicitness_from_losses
from benchmark.metrics.dcimig import dcimig_from_mi
from benchmark.metrics.infomec import infom_infoc
from benchmark.metrics.jemmig import jemmig_from_entropies
from benchmark.metrics.mig_sup import mig_sup_from_mi

# two factors whose joint table is {(0,0): 1/4, (0,1): 1/4, (1,0): 1/2}; codes equal to the factors
F = np.array([[0, 0], [0, 1], [1, 0], [1, 0]])
H0 = math.log(2)
H1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
I01 = 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25)) + 0.5 * math.log(0.5 / (0.5 * 0.75))


def test_named_sets_all_is_the_study_and_extended_adds_the_new_metrics():
    assert METRIC_SETS["all"] == ("beta_vae", "factor_vae", "mig", "mig_sampled", "dci", "sap", "modularity",
                                  "unsupervised", "reconstruction")
    new = ("irs", "mig_sup", "dcimig", "jemmig", "z_diff", "z_min", "z_max", "infomec", "dci_es")
    assert METRIC_SETS["extended"] == METRIC_SETS["all"] + new == tuple(METRICS)
    assert parse_metrics("all") == list(METRIC_SETS["all"]) and parse_metrics(" extended ") == list(METRICS)
    assert parse_metrics("jemmig,irs") == ["irs", "jemmig"]  # registry order
    with pytest.raises(ValueError, match="valid names: all, beta_vae.*dci_es, extended"):
        parse_metrics("z_mean")


def test_irs_of_a_code_summing_two_binary_factors_is_one_half():
    # z = f0 + f1 over the four combinations: max |z − E z| = 1; fixing either factor leaves |z − E[z|v]| = 1/2
    f = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    z = f.sum(axis=1, keepdims=True).astype(float)
    for q in (0.5, 0.99, 1.0):
        assert score_codes("irs", z, f, diff_quantile=q)["irs"] == pytest.approx(0.5, abs=1e-12)
    assert score_codes("irs", f.astype(float), f)["irs"] == pytest.approx(1.0)  # each code fixed by its factor
    out = score_codes("irs", np.zeros((4, 2)), f)  # nothing active: 0, as the reference
    assert out == {"irs": 0.0, "irs.num_active_dims": 0.0}


def test_mig_sup_dcimig_jemmig_of_codes_equal_to_factors_by_hand():
    codes = F.astype(float)
    # MIG-sup: per code, own factor's normalised MI (1) minus the other's
    assert score_codes("mig_sup", codes, F)["mig_sup"] == pytest.approx(((1 - I01 / H1) + (1 - I01 / H0)) / 2, abs=1e-12)
    # normalised by the codes' entropies (the review's code): the codes' entropies are H0 and H1 too
    assert score_codes("mig_sup", codes, F, normalization="code")["mig_sup"] == pytest.approx(
        ((1 - I01 / H0) + (1 - I01 / H1)) / 2, abs=1e-12)
    # DCIMIG: code j's gap H_j − I01 is credited to factor j
    assert score_codes("dcimig", codes, F)["dcimig"] == pytest.approx((H0 - I01 + H1 - I01) / (H0 + H1), abs=1e-12)
    # JEMMIG: z* = v_k (joint entropy H_k, MI H_k), z° holds I01: JEMMIG(v_k) = I01, normalised by H_k + log 20
    expected = 1 - (I01 / (H0 + math.log(20)) + I01 / (H1 + math.log(20))) / 2
    assert score_codes("jemmig", codes, F)["jemmig"] == pytest.approx(expected, abs=1e-12)


def test_gap_formulas_on_mi_matrices():
    mi = np.array([[0.9, 0.1], [0.3, 0.2], [0.0, 0.6]])  # (D codes, K factors)
    h = np.array([1.5, 0.8])
    hz = np.array([1.0, 2.0, 0.6])
    assert mig_sup_from_mi(mi, hz, h) == pytest.approx([0.9 / 1.5 - 0.1 / 0.8, 0.2 / 0.8 - 0.3 / 1.5, 0.6 / 0.8])
    assert mig_sup_from_mi(mi, hz, h, "code") == pytest.approx([0.8 / 1.0, 0.1 / 2.0, 0.6 / 0.6])
    # gaps 0.8 → factor 0, 0.1 → factor 0, 0.6 → factor 1: S = (0.8, 0.6)
    assert dcimig_from_mi(mi, h) == pytest.approx((0.8 + 0.6) / 2.3)
    # factor 0: z* = code 0 (joint 1.0 + 1.5 − 0.9 = 1.6), z° holds 0.3; factor 1: z* = code 2 (0.6 + 0.8 − 0.6), z° 0.2
    per = jemmig_from_entropies(mi, hz, h, num_bins=10)
    assert per == pytest.approx([(1.6 - 0.9 + 0.3) / (1.5 + math.log(10)), (0.8 - 0.6 + 0.2) / (0.8 + math.log(10))])


def test_jemmig_breaks_ties_towards_the_smaller_joint_entropy_whatever_the_order():
    mi = np.array([[0.5], [0.5]])
    for hz in ([1.0, 2.0], [2.0, 1.0]):  # the same two codes in either order
        assert jemmig_from_entropies(mi, np.array(hz), np.array([0.7]), 20)[0] == pytest.approx(
            (1.0 + 0.7 - 0.5 - 0.5 + 0.5) / (0.7 + math.log(20)))


def test_infom_infoc_from_an_nmi_matrix():
    # (K = 2 factors, D = 3 codes): code 0 holds factor 0, code 1 both equally, code 2 nothing (ratio 1/K)
    nmi = np.array([[0.8, 0.3, 0.0], [0.0, 0.3, 0.0]])
    infom, infoc = infom_infoc(nmi, np.ones(3, bool))
    assert infom == pytest.approx((np.mean([1.0, 0.5, 0.5]) - 0.5) / 0.5)
    # factor 0: 0.8 / 1.1; factor 1: 0.3 / 0.3 = 1; D_a = 3
    assert infoc == pytest.approx((np.mean([0.8 / 1.1, 1.0]) - 1 / 3) / (2 / 3))
    # the inactive code is left out: D_a = 2
    infom2, infoc2 = infom_infoc(nmi, np.array([True, True, False]))
    assert infom2 == pytest.approx((0.75 - 0.5) / 0.5) and infoc2 == pytest.approx((np.mean([0.8 / 1.1, 1.0]) - 0.5) / 0.5)
    assert infom_infoc(nmi, np.zeros(3, bool)) == (0.0, 0.0)


def test_explicitness_from_a_loss_capacity_curve():
    # capacities 1, 2, 3: loss 0.5 then 0 → area (0.5 + 0) / 2 over a (3 − 1) × 1 rectangle
    assert explicitness_from_losses([0.5, 0.0, 0.0], 1.0) == pytest.approx(1 - 0.25 / 2)
    assert explicitness_from_losses([0.0, 0.0], 1.0) == 1.0  # the smallest probe is already perfect
    assert explicitness_from_losses([1.3, 1.1, 1.2], 1.0) == 0.0  # no probe beats the baseline (clipped)
    # the curve is the lowest loss so far: a worse deeper probe does not raise it
    assert explicitness_from_losses([0.6, 0.2, 0.4], 2 / 3) == pytest.approx(1 - ((0.6 + 0.2) / 2 + 0.2) / (2 * 2 / 3))
    assert explicitness_from_losses([0.4, 0.3], 0.0) == 1.0  # nothing to predict


@pytest.mark.parametrize("classify", [False, True])
def test_a_forest_cut_at_depth_d_is_the_forest_grown_to_depth_d(classify):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5) if classify else np.sin(2 * x[:, 0]) + x[:, 1] ** 2
    kind = RandomForestClassifier if classify else RandomForestRegressor
    deep = kind(n_estimators=7, max_depth=6, max_features=None, random_state=3).fit(x, y)
    test = rng.standard_normal((200, 3)).astype(np.float32)
    cut = depth_predictions(deep, test, 6, classify)
    for d in (1, 2, 4, 6):
        grown = kind(n_estimators=7, max_depth=d, max_features=None, random_state=3).fit(x, y)
        same = np.isclose(cut[d - 1], grown.predict(test), rtol=1e-6, atol=1e-9)
        # equal but for ties: a node of a few bootstrap rows that several codes split alike takes the code the
        # splitter happens to try first, and the two builds draw their feature orders in another sequence
        assert same.mean() >= (1.0 if d <= 2 else 0.95), (d, same.mean())


def test_dci_es_size_is_factors_over_code_dims():
    rng = np.random.default_rng(1)
    f = rng.integers(0, 3, (120, 2))
    for d, size in ((2, 1.0), (4, 0.5), (1, 1.0)):
        codes = np.repeat(f.astype(float), 2, axis=1)[:, :d] + 0.01 * rng.standard_normal((120, d))
        out = score_codes("dci_es", codes[:80], f[:80], codes[80:], f[80:], rng=0, num_trees=5, max_depth=4)
        assert out["dci_es.size"] == size


def test_fixed_sample_groups_share_the_fixed_factor_and_pairs_are_distinct():
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, 3, 300), rng.integers(0, 40, 300)], axis=1)
    groups = _groups.FactorGroups(f, "test")
    fixed, first, second = _groups.pairs(groups, 500, 8, rng)
    assert np.all(first != second)
    assert np.all(f[first, fixed[:, None]] == f[second, fixed[:, None]])
    fixed, members = _groups.batches(groups, 500, 8, rng)
    assert np.all(f[members, fixed[:, None]] == f[members[:, :1], fixed[:, None]])
    assert set(np.unique(fixed)) == {0, 1}
    with pytest.raises(ValueError, match=r"z_min: no value of factor 1 is shared.*\(3, 2\)"):
        _groups.FactorGroups(np.array([[0, 0], [0, 1], [1, 2]]), "z_min")
