"""Closed-form cases: values computed by hand from the metric definitions."""

import math

import numpy as np
import pytest

from benchmark.metrics import dci, modularity, sap, score_codes
from benchmark.metrics.mig import mig_from_mi
from benchmark.metrics.unsupervised import gaussian_total_correlation, gaussian_wasserstein_correlation


@pytest.mark.parametrize("k", [2, 5, 10])
def test_dci_of_diagonal_importance_is_one(k):
    r = np.diag(np.linspace(0.5, 2.0, k))
    assert dci.disentanglement(r) == pytest.approx(1.0, abs=1e-8)
    assert dci.completeness(r) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("k, a", [(4, 1.0), (5, 0.3), (10, 2.0)])
def test_dci_of_one_code_spread_over_two_factors_matches_the_formula(k, a):
    # code 0 carries factors 0 and 1 equally (weight a each); codes 1..k-2 carry factors 2..k-1; one code is dead
    r = np.zeros((k, k))
    r[0, 0] = r[0, 1] = a
    for j in range(2, k):
        r[j - 1, j] = 1.0
    total = 2 * a + (k - 2)
    expected_d = (2 * a / total) * (1 - math.log(2) / math.log(k)) + (k - 2) / total
    assert dci.disentanglement(r) == pytest.approx(expected_d, abs=1e-8)
    # every factor is captured by a single code: completeness 1
    assert dci.completeness(r) == pytest.approx(1.0, abs=1e-8)
    # transposed roles: one factor spread over two codes gives the same value as completeness
    assert dci.completeness(r.T) == pytest.approx(expected_d, abs=1e-8)


def test_dci_of_uniform_importance_is_zero():
    assert dci.disentanglement(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-9)
    assert dci.completeness(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-9)


def test_mig_of_codes_equal_to_factors_by_hand():
    f = np.array([[0, 0], [0, 1], [1, 0], [1, 0]])
    h0 = math.log(2)
    h1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    # I(f0; f1) from the joint table {(0,0): 1/4, (0,1): 1/4, (1,0): 1/2}
    i01 = 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25)) + 0.5 * math.log(0.5 / (0.5 * 0.75))
    # each code (the factor itself, binned) has I = H with its own factor and i01 with the other
    expected = {"mig.factor0": (h0 - i01) / h0, "mig.factor1": (h1 - i01) / h1}
    out = score_codes("mig", f.astype(float), f)
    assert out["mig.factor0"] == pytest.approx(expected["mig.factor0"], abs=1e-12)
    assert out["mig.factor1"] == pytest.approx(expected["mig.factor1"], abs=1e-12)
    assert out["mig"] == pytest.approx((expected["mig.factor0"] + expected["mig.factor1"]) / 2, abs=1e-12)


def test_mig_from_mi_gap_over_entropy():
    mi = np.array([[0.9, 0.1], [0.3, 0.2], [0.0, 0.6]])
    h = np.array([1.5, 0.8])
    assert mig_from_mi(mi, h) == pytest.approx([(0.9 - 0.3) / 1.5, (0.6 - 0.2) / 0.8])


def test_modularity_closed_form():
    # code 0 informs one factor only (modularity 1); code 1 two factors equally: 1 − (2θ − θ)/(θ(K−1)) with K=3
    mi = np.array([[0.7, 0.0, 0.0], [0.4, 0.4, 0.0], [0.0, 0.0, 0.0]])
    per_code = [1.0, 1 - 1 / 2, 0.0]  # a code with no information scores 0
    assert modularity.modularity_from_mi(mi) == pytest.approx(np.mean(per_code))


def test_sap_from_score_matrix_is_mean_top_two_gap():
    m = np.array([[0.9, 0.2], [0.5, 0.3], [0.1, 0.8]])
    assert sap.sap_from_matrix(m) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.3)) / 2)


def test_gaussian_correlations_closed_form():
    assert gaussian_total_correlation(np.diag([1.0, 4.0])) == pytest.approx(0.0, abs=1e-12)
    rho = 0.6
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * math.log(1 - rho**2))
    # W2² between N(0, Σ) and N(0, I): 2 tr Σ − 2 tr Σ^½, Σ^½ eigenvalues sqrt(1 ± ρ)
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(4 - 2 * (math.sqrt(1 + rho) + math.sqrt(1 - rho)))
