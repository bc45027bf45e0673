"""Known answers of the extended set on synthetic codes of the dSprites grid (3×6×40×32×32 = 737,280 points).

Codes are functions of the factor classes (metrics_synthetic.code_grid: identity, a random rotation, noise
independent of the factors, each factor duplicated in two dims). A perfect code scores at the top of each metric's
range or at its documented cap, noise at chance, and duplicated dims are penalised by the metrics meant to penalise
them (JEMMIG, InfoC, DCI-S) and by no other. Sample sizes are reduced where the reference protocol would be slow.
IRS is also checked against the values disentanglement_lib's own code gives (docs/PROTOCOL.md).
"""

import functools

import numpy as np
import pytest

from benchmark.metrics import METRICS, score_codes
from metrics_synthetic import FactorGrid, code_grid

DSPRITES = FactorGrid()
SIZES = np.array(DSPRITES.factor_sizes)
SMALL = {
    "irs": {},  # the reference protocol: 10,000 points
    "mig_sup": {},
    "dcimig": {},
    "jemmig": {},
    "z_diff": {"num_train": 2000, "num_test": 1000, "num_train_points": 500, "num_eval_points": 500, "batch_size": 32},
    "z_min": {"num_train": 2000, "num_test": 1000, "num_train_votes": 500, "num_eval_votes": 500, "batch_size": 32},
    "z_max": {"num_variance_estimate": 2000, "num_train": 300, "num_eval": 300, "batch_size": 32},
    "infomec": {"num_train": 2000},
    "dci_es": {"num_train": 1000, "num_test": 500, "num_trees": 20},
}


@functools.lru_cache(maxsize=None)
def grid(kind):
    return code_grid(DSPRITES, kind)  # memoised encodings, shared by the metrics below


@functools.lru_cache(maxsize=None)
def run(metric, kind, **extra):
    rep = grid(kind).representation("mean")
    return METRICS[metric].compute(DSPRITES, rep, np.random.default_rng(0), **{**SMALL[metric], **extra})


def reference_setup(kind, n=10_000, seed=0):
    """PROTOCOL.md's reference-code setup: factors i.i.d. uniform over the dSprites sizes, observation = the factor
    indices; identity = each factor standardised, rotation = identity times a Haar rotation, noise = N(0, I₅)."""
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)
    identity = (f - (SIZES - 1) / 2) / np.sqrt((SIZES**2 - 1) / 12)
    q, r = np.linalg.qr(rng.standard_normal((5, 5)))
    codes = {"identity": identity, "rotation": identity @ (q * np.sign(np.diag(r))), "noise": rng.standard_normal((n, 5))}
    return codes[kind], f


def test_irs_reproduces_the_reference_code_values():
    irs = {kind: score_codes("irs", *reference_setup(kind))["irs"] for kind in ("identity", "rotation", "noise")}
    assert irs["identity"] == pytest.approx(0.986, abs=0.02)  # disentanglement_lib: 0.986
    assert irs["noise"] == pytest.approx(0.377, abs=0.02)  # disentanglement_lib: 0.377
    assert irs["noise"] < irs["rotation"] < irs["identity"]  # 0.408 for the reference's one rotation


@pytest.mark.parametrize("seed", [1, 2])
def test_irs_reference_values_hold_for_other_samples(seed):
    assert score_codes("irs", *reference_setup("identity", seed=seed))["irs"] == pytest.approx(0.986, abs=0.02)
    assert score_codes("irs", *reference_setup("noise", seed=seed))["irs"] == pytest.approx(0.377, abs=0.02)


def test_irs_on_the_grid_perfect_noise_and_duplicated():
    assert run("irs", "identity")["irs"] >= 0.97
    assert run("irs", "noise")["irs"] == pytest.approx(0.38, abs=0.05)
    assert run("irs", "duplicated")["irs"] == pytest.approx(run("irs", "identity")["irs"], abs=1e-9)  # not penalised
    assert run("irs", "duplicated")["irs.num_active_dims"] == 10.0
    assert run("irs", "noise")["irs"] < run("irs", "rotation")["irs"] < run("irs", "identity")["irs"]


@pytest.mark.parametrize("metric, cap", [("mig_sup", 0.85), ("dcimig", 0.8), ("jemmig", 0.9)])
def test_information_gaps_perfect_code_near_the_20_bin_cap_noise_at_zero(metric, cap):
    identity, noise, rotation = (run(metric, k)[metric] for k in ("identity", "noise", "rotation"))
    assert cap <= identity <= 1.0
    assert noise <= (0.15 if metric == "jemmig" else 0.02)  # JEMMIG: binned Gaussian noise fills 20 bins unevenly
    assert noise < rotation < identity - 0.3


def test_only_jemmig_of_the_gaps_penalises_duplicated_dims():
    for metric in ("mig_sup", "dcimig"):  # a code per factor, twice: each code still holds one factor
        assert run(metric, "duplicated")[metric] == pytest.approx(run(metric, "identity")[metric], abs=1e-9)
    # JEMMIG adds the second code's information: I(z°; v) = H(v) for an exact copy
    assert run("jemmig", "duplicated")["jemmig"] < run("jemmig", "identity")["jemmig"] - 0.3


@pytest.mark.parametrize("metric", ["z_diff", "z_min", "z_max"])
def test_z_scores_perfect_accuracy_chance_on_noise_duplicates_not_penalised(metric):
    key = f"{metric}.eval_accuracy"
    assert run(metric, "identity")[key] >= 0.99 and run(metric, "identity")[f"{metric}.train_accuracy"] >= 0.99
    assert 0.1 <= run(metric, "noise")[key] <= 0.3  # chance: 1 / 5 factors
    assert run(metric, "duplicated")[key] >= 0.99  # both copies vote for their factor
    assert run(metric, "rotation")[key] < 0.99


def test_z_min_and_z_max_count_the_kept_dims():
    assert run("z_min", "duplicated")["z_min.num_active_dims"] == 10.0
    assert run("z_max", "identity")["z_max.num_active_dims"] == 5.0
    # collapsed dims (std < 0.05) are pruned and cannot receive votes
    out = run("z_min", "identity", prune_threshold=0.5)  # identity dims in [0, 1] have std ≈ 0.29
    assert out == {"z_min.train_accuracy": 0.0, "z_min.eval_accuracy": 0.0, "z_min.num_active_dims": 0.0}


def test_infomec_perfect_code_noise_and_duplicated_dims():
    ident = run("infomec", "identity")
    assert min(ident["infomec.infom"], ident["infomec.infoc"], ident["infomec.infoe"]) >= 0.95
    assert run("infomec", "noise")["infomec.infoe"] <= 0.05  # no predictive information: chance
    dup = run("infomec", "duplicated")
    assert dup["infomec.infom"] >= 0.95 and dup["infomec.infoe"] >= 0.95  # each code still informs one factor
    assert dup["infomec.infoc"] <= 0.6  # each factor spread over two codes: (1/2 − 1/10)/(1 − 1/10) ≈ 0.44
    rot = run("infomec", "rotation")
    assert rot["infomec.infom"] < ident["infomec.infom"] - 0.2 and rot["infomec.infoc"] < ident["infomec.infoc"] - 0.2


def test_infomec_binned_estimator_reads_noise_near_chance():
    noise = run("infomec", "noise", estimator="binned")
    assert noise["infomec.infom"] <= 0.3 and noise["infomec.infoc"] <= 0.15
    # binned MI is biased up: ≈0.89 at 2,000 points, 0.98 at 10,000
    assert run("infomec", "identity", estimator="binned")["infomec.infom"] >= 0.85


def test_dci_es_explicitness_and_size():
    ident, noise, dup = (run("dci_es", k) for k in ("identity", "noise", "duplicated"))
    assert ident["dci_es.explicitness"] >= 0.95 and ident["dci_es.size"] == 1.0
    assert noise["dci_es.explicitness"] <= 0.05  # no depth beats the baseline
    assert dup["dci_es.size"] == 0.5  # the size, not the explicitness, penalises the copies
    assert dup["dci_es.explicitness"] >= 0.95
    assert run("dci_es", "rotation")["dci_es.explicitness"] < ident["dci_es.explicitness"]


def test_dci_es_classifies_the_datasets_categorical_factors():
    # dSprites' shape is categorical (class_names): its loss is the test error, its baseline the majority's error
    ds = FactorGrid(sizes=(3, 4, 5), names=("shape", "b", "c"))
    ds.class_names = {"shape": ("square", "ellipse", "heart")}
    rep = code_grid(ds, "identity").representation("mean")
    out = METRICS["dci_es"].compute(ds, rep, np.random.default_rng(0), num_train=300, num_test=200, num_trees=10)
    assert out["dci_es.explicitness"] >= 0.95
