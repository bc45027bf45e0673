"""The sampled MIG (Chen et al. 2018 estimator) and the reconstruction metric: known answers."""

import math

import numpy as np
import pytest

from benchmark.metrics import METRICS
from benchmark.metrics.reconstruction import reconstruction_errors
from metrics_synthetic import FactorGrid, code_grid

GRID = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))


def sampled_mig(kind, logvar=-8.0, **protocol):
    rep = code_grid(GRID, kind, logvar=logvar).representation("mean")
    return METRICS["mig_sampled"].compute(GRID, rep, np.random.default_rng(0), **protocol)


def test_sharp_identity_posteriors_reach_one():
    # q(z_j|x) narrow around distinct values per class: I(z_j; v_j) = H(v_j) = log|V_j|, other codes carry 0
    out = sampled_mig("identity")
    assert out["mig_sampled"] == pytest.approx(1.0, abs=0.01)
    assert set(out) == {"mig_sampled", "mig_sampled.a", "mig_sampled.b", "mig_sampled.c"}


def test_duplicated_codes_have_no_gap_and_wide_posteriors_lose_information():
    assert sampled_mig("duplicated")["mig_sampled"] <= 0.02
    assert sampled_mig("identity", logvar=-2.0)["mig_sampled"] < 0.5


def test_factor_selection_like_chen_and_errors():
    out = sampled_mig("identity", factors=["b", "c"])
    assert set(out) == {"mig_sampled", "mig_sampled.b", "mig_sampled.c"}
    with pytest.raises(ValueError, match=r"unknown factor\(s\) \['shape'\]"):
        sampled_mig("identity", factors=["shape"])
    with pytest.raises(ValueError, match="GridRepresentation"):
        METRICS["mig_sampled"].compute(GRID, lambda images: images.reshape(len(images), -1), np.random.default_rng(0))


def test_reconstruction_closed_form():
    x = np.random.default_rng(0).uniform(size=(6, 1, 2, 2))
    x[0] = 0.0
    # logits 0: p = 1/2 everywhere; NLL = 4 log 2 per image, MSE = mean (x − 1/2)²
    out = reconstruction_errors(x, np.zeros_like(x))
    assert out["reconstruction.bernoulli_nll"] == pytest.approx(4 * math.log(2))
    assert out["reconstruction.mse"] == pytest.approx(np.mean((x - 0.5) ** 2))
    # binary images and confident correct logits: NLL and MSE near 0
    b = (x > 0.5).astype(float)
    out = reconstruction_errors(b, np.where(b > 0, 30.0, -30.0))
    assert out["reconstruction.bernoulli_nll"] < 1e-11 and out["reconstruction.mse"] < 1e-20
    with pytest.raises(ValueError, match=r"\(6, 1, 2, 2\) and \(6, 4\)"):
        reconstruction_errors(x, np.zeros((6, 4)))


def test_reconstruction_wrapper_averages_over_sampled_images():
    # a "decoder" that outputs logit(0.5) = 0: the NLL is 4 log 2 whatever images are drawn
    out = METRICS["reconstruction"].compute(GRID, lambda images, idx: np.zeros(images.shape), np.random.default_rng(0), num_images=300, batch_size=64)
    assert out["reconstruction.bernoulli_nll"] == pytest.approx(4 * math.log(2))
    # the perfect decoder of these binary images (logits ±30 from the true pixels)
    perfect = METRICS["reconstruction"].compute(
        GRID, lambda images, idx: np.where(GRID.images(idx) > 0.5, 30.0, -30.0), np.random.default_rng(0), num_images=300
    )
    assert perfect["reconstruction.mse"] < 1e-20


def test_sampled_mig_equals_chen_estimator_written_out_in_float64():
    # With S >= N every sample is used, so given z the estimator is deterministic: compare it with
    # H(z_j) = −mean_s log (1/N Σ_n N(z_sj; μ_nj, σ²_nj)), H(z_j|v_k) = Σ_v p(v) H(z_j | v_k = v) (mixture over the
    # images with v_k = v), I / log|V_k|, clipped at 0, top1 − top2, mean over factors (Chen et al. 2018).
    from scipy.special import logsumexp

    from benchmark.metrics.mig_sampled import compute_mig_sampled_moments

    idx = np.arange(len(GRID))
    f = GRID.index_to_factors(idx)
    r = np.random.default_rng(1)
    mu = (f / np.array([2.0, 3.0, 4.0])) @ r.standard_normal((3, 4)) + 0.2 * r.standard_normal((len(GRID), 4))
    lv = np.log(0.05 + 0.3 * r.random((len(GRID), 4)))
    z = mu + np.exp(lv / 2) * r.standard_normal(mu.shape)

    def entropy(rows):
        logq = -0.5 * (math.log(2 * math.pi) + lv[None, rows] + (z[rows][:, None] - mu[None, rows]) ** 2 / np.exp(lv[None, rows]))
        return -np.mean(logsumexp(logq, axis=1) - math.log(rows.size), axis=0)  # (D,)

    h_z = entropy(idx)
    expected = {}
    for k, (name, size) in enumerate(zip(GRID.factor_names, GRID.factor_sizes)):
        h_cond = sum(entropy(np.flatnonzero(f[:, k] == v)) / size for v in range(size))
        top = np.sort(np.clip(h_z - h_cond, 0, None) / math.log(size))[::-1]
        expected[f"mig_sampled.{name}"] = top[0] - top[1]
    out = compute_mig_sampled_moments(
        mu, lv, f, GRID.factor_sizes, rng=np.random.default_rng(0), num_samples=10**6, z=z, factor_names=GRID.factor_names
    )
    assert out["mig_sampled"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key
    assert min(expected.values()) > 0.005  # a case with real gaps, not all zeros


def test_sampled_mig_is_clipped_at_zero_only_like_chen():
    # Chen et al. clip I at 0 and nowhere else: with 50 samples the noise of the entropy estimates can put a
    # sharply encoded factor above log|V_k|, and the documented contract says so (no silent clip at 1)
    grid = FactorGrid(sizes=(3, 6, 40), names=("a", "b", "c"))
    rep = code_grid(grid, "identity", logvar=-8.0).representation("mean")
    out = METRICS["mig_sampled"].compute(grid, rep, np.random.default_rng(1), num_samples=50)
    assert out["mig_sampled.a"] > 1.0
    assert all(v >= 0.0 for v in out.values())
