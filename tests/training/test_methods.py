"""The four methods beside β-VAE/AnnealedVAE: loss terms against values worked out by hand, FactorVAE's two
updates, and for each of the six methods: the loss falls, the same seed repeats, a resumed run is bit-identical."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.config import METHODS, TrainConfig
from benchmark.models import OBJECTIVES, beta_tc_vae, dip_vae_i, dip_vae_ii, factor_vae, shuffle_codes
from benchmark.training import load_checkpoint, read_log, train

RECON, KL = torch.tensor(100.0), torch.tensor(3.0)


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- FactorVAE
def _linear_discriminator():
    d = nn.Linear(2, 2)
    with torch.no_grad():
        d.weight.copy_(_t([[1.0, -2.0], [0.5, 1.0]]))
        d.bias.copy_(_t([0.1, -0.3]))
    return d


def test_factor_vae_tc_and_discriminator_loss_by_hand():
    # Column 0 is constant, so a shuffle of each column within the batch only reorders the rows: the
    # discriminator's loss on the shuffled codes is then known without knowing the permutation.
    z = _t([[0.5, -1.0], [0.5, 0.0], [0.5, 2.0], [0.5, 1.0]])
    W, b = np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([0.1, -0.3])
    logits = z.numpy().astype(np.float64) @ W.T + b
    tc = np.mean(logits[:, 0] - logits[:, 1])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = np.clip(p, 1e-6, 1 - 1e-6)
    disc = -(0.5 * np.mean(np.log(p[:, 0])) + 0.5 * np.mean(np.log(p[:, 1])))
    gamma = 30.0
    loss, extras = factor_vae(RECON, KL, z, z, z, 0, gamma=gamma, auxiliary=_linear_discriminator(),
                              generator=torch.Generator().manual_seed(0))
    assert extras["tc"].item() == pytest.approx(tc, rel=1e-6)
    assert extras["auxiliary_loss"].item() == pytest.approx(disc, rel=1e-6)
    assert loss.item() == pytest.approx(100.0 + 3.0 + gamma * tc, rel=1e-6)


def test_factor_vae_clips_the_discriminator_probabilities():
    d = nn.Linear(2, 2)
    with torch.no_grad():  # logits ±100: p(real) = 1 - 1e-87 would give log 0 for the shuffled side
        d.weight.zero_()
        d.bias.copy_(_t([100.0, -100.0]))
    z = torch.zeros(4, 2)
    _, extras = factor_vae(RECON, KL, z, z, z, 0, gamma=1.0, auxiliary=d, generator=torch.Generator().manual_seed(0))
    expected = -(0.5 * math.log(1 - 1e-6) + 0.5 * math.log(1e-6))
    assert extras["auxiliary_loss"].item() == pytest.approx(expected, rel=1e-5)
    assert extras["tc"].item() == pytest.approx(200.0)  # the TC term uses the unclipped logits


def test_shuffle_codes_permutes_each_dimension_independently_within_the_batch():
    z = torch.arange(64 * 3, dtype=torch.float32).reshape(64, 3)
    shuffled = shuffle_codes(z, torch.Generator().manual_seed(1))
    for j in range(3):  # each column keeps its own values...
        assert sorted(shuffled[:, j].tolist()) == z[:, j].tolist()
    orders = [(shuffled[:, j] - j) / 3 for j in range(3)]  # ...under permutations that differ between columns
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])
    assert not torch.equal(shuffled, z)
    again = shuffle_codes(z, torch.Generator().manual_seed(1))
    assert torch.equal(shuffled, again), "the shuffle is drawn from the generator only"


# ---------------------------------------------------------------------------------------------- β-TCVAE
def _tc_by_hand(z, mu, logvar):
    """E_j[log Σ_i Π_l q(z_jl|x_i) − Σ_l log Σ_i q(z_jl|x_i)], written out with loops (constants dropped)."""
    B, D = len(z), len(z[0])

    def log_q(j, i, l):
        var = math.exp(logvar[i][l])
        return -0.5 * ((z[j][l] - mu[i][l]) ** 2 / var + math.log(var) + math.log(2 * math.pi))

    total = 0.0
    for j in range(B):
        joint = math.log(sum(math.exp(sum(log_q(j, i, l) for l in range(D))) for i in range(B)))
        marginals = sum(math.log(sum(math.exp(log_q(j, i, l)) for i in range(B))) for l in range(D))
        total += joint - marginals
    return total / B


def test_beta_tc_vae_minibatch_weighted_tc_by_hand():
    z, mu, logvar = [[0.3, -0.2], [1.0, 0.5], [-0.7, 0.1]], [[0.2, -0.1], [0.9, 0.4], [-0.5, 0.3]], [[-0.5, 0.2], [0.1, -1.0], [0.0, 0.3]]
    tc = _tc_by_hand(z, mu, logvar)
    loss, extras = beta_tc_vae(RECON, KL, _t(mu), _t(logvar), _t(z), 0, beta=6.0)
    assert extras["tc"].item() == pytest.approx(tc, rel=1e-5, abs=1e-6)
    assert loss.item() == pytest.approx(100.0 + 3.0 + 5.0 * tc, rel=1e-6)
    loss1, _ = beta_tc_vae(RECON, KL, _t(mu), _t(logvar), _t(z), 0, beta=1.0)
    assert loss1.item() == pytest.approx(103.0), "β = 1 is the plain VAE"


# ---------------------------------------------------------------------------------------------- DIP-VAE
def _penalty_by_hand(cov, lambda_od, lambda_d):
    n = len(cov)
    off = sum(cov[i][j] ** 2 for i in range(n) for j in range(n) if i != j)
    return lambda_od * off + lambda_d * sum((cov[i][i] - 1) ** 2 for i in range(n))


def test_dip_vae_covariance_penalties_by_hand():
    mu = [[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]]
    logvar = [[0.0, math.log(2.0)], [math.log(0.5), 0.0], [math.log(3.0), math.log(4.0)]]
    # The biased covariance of μ: column means (2, 2), deviations (-1, 1, 0) and (0, -2, 2).
    cov = [[2 / 3, -2 / 3], [-2 / 3, 8 / 3]]
    lambda_od = 5.0
    loss, extras = dip_vae_i(RECON, KL, _t(mu), _t(logvar), None, 0, lambda_od=lambda_od, lambda_d_factor=10.0)
    expected_i = _penalty_by_hand(cov, lambda_od, 10 * lambda_od)
    assert extras["dip"].item() == pytest.approx(expected_i, rel=1e-5)
    assert loss.item() == pytest.approx(103.0 + expected_i, rel=1e-6)
    # DIP-VAE-II adds the batch mean of the encoder variances to the diagonal: (1 + 0.5 + 3)/3, (2 + 1 + 4)/3
    cov_ii = [[cov[0][0] + 1.5, cov[0][1]], [cov[1][0], cov[1][1] + 7 / 3]]
    _, extras = dip_vae_ii(RECON, KL, _t(mu), _t(logvar), None, 0, lambda_od=lambda_od, lambda_d_factor=1.0)
    assert extras["dip"].item() == pytest.approx(_penalty_by_hand(cov_ii, lambda_od, lambda_od), rel=1e-5)


def test_each_method_declares_its_study_grid_and_its_objective_takes_its_hyperparameters():
    grids = {name: m.study_grid for name, m in METHODS.items()}
    assert grids == {
        "beta_vae": (1, 2, 4, 6, 8, 16), "annealed_vae": (5, 10, 25, 50, 75, 100),
        "factor_vae": (10, 20, 30, 40, 50, 100), "beta_tc_vae": (1, 2, 4, 6, 8, 10),
        "dip_vae_i": (1, 2, 5, 10, 20, 50), "dip_vae_ii": (1, 2, 5, 10, 20, 50),
    }
    assert TrainConfig(model="dip_vae_i").hyperparameters == {"lambda_od": 1.0, "lambda_d_factor": 10.0}
    assert TrainConfig(model="dip_vae_ii").hyperparameters == {"lambda_od": 1.0, "lambda_d_factor": 1.0}
    assert TrainConfig.from_dict({"model": "beta_tc_vae", "beta": 4}).hyperparameters == {"beta": 4.0}
    assert set(OBJECTIVES) == set(METHODS)


# ---------------------------------------------------------------------------------------------- training
TINY = dict(dataset="dsprites_procedural", batch_size=16, num_latents=6, device="cpu", log_every=1)


def _run(tmp_path, name, **changes):
    config = TrainConfig.from_dict({**TINY, "steps": 1, "checkpoint_every": 1, **changes})
    run_dir = tmp_path / name
    train(config, run_dir, progress=False)
    return load_checkpoint(run_dir / "checkpoint.pt")


def test_factor_vae_updates_each_network_by_its_own_loss_with_its_own_adam(tmp_path):
    # γ scales only the VAE's loss. After one step from the same seed (same weights, batch and noise), the
    # discriminator must be the same for every γ (the VAE loss never reaches it) and the VAE must not...
    a = _run(tmp_path, "g0", model="factor_vae", gamma=0.0)
    b = _run(tmp_path, "g50", model="factor_vae", gamma=50.0)
    for k, v in a["auxiliary"]["model"].items():
        assert torch.equal(v, b["auxiliary"]["model"][k]), f"the VAE's loss moved the discriminator ({k})"
    assert any(not torch.equal(v, b["model"][k]) for k, v in a["model"].items())
    # ...and with γ = 0 the VAE takes exactly β-VAE(β = 1)'s step: the discriminator's loss never reaches it.
    vae = _run(tmp_path, "vae", model="beta_vae", beta=1.0)
    for k, v in a["model"].items():
        assert torch.equal(v, vae["model"][k]), f"the discriminator's loss moved the VAE ({k})"
    groups, aux_groups = a["optimizer"]["param_groups"][0], a["auxiliary"]["optimizer"]["param_groups"][0]
    assert (groups["lr"], tuple(groups["betas"])) == (1e-4, (0.9, 0.999))
    assert (aux_groups["lr"], tuple(aux_groups["betas"]), aux_groups["eps"]) == (1e-4, (0.5, 0.9), 1e-8)
    assert len(a["optimizer"]["state"]) == len(a["model"]) and len(a["auxiliary"]["optimizer"]["state"]) == 14
    assert set(read_log(tmp_path / "g50")[0]) >= {"tc", "auxiliary_loss"}


def _same(a, b):
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for pid, state in a["optimizer"]["state"].items():
        for key, v in state.items():
            assert torch.equal(v, b["optimizer"]["state"][pid][key])
    if "auxiliary" in a:
        for k, v in a["auxiliary"]["model"].items():
            assert torch.equal(v, b["auxiliary"]["model"][k]), k
        assert torch.equal(a["auxiliary"]["rng"], b["auxiliary"]["rng"])


class _Crash:
    def on_checkpoint(self, step, run_dir):
        if step == 60:
            raise KeyboardInterrupt("simulated crash at step 60")


HYPER = {"beta_vae": {"beta": 4}, "annealed_vae": {"c_max": 10, "c_anneal_steps": 100}, "factor_vae": {"gamma": 20},
         "beta_tc_vae": {"beta": 4}, "dip_vae_i": {"lambda_od": 10}, "dip_vae_ii": {"lambda_od": 10}}


@pytest.mark.parametrize("model", list(HYPER))
def test_120_steps_lower_the_loss_repeat_with_the_seed_and_resume_bit_identically(tmp_path, model):
    config = TrainConfig.from_dict({**TINY, "model": model, **HYPER[model], "steps": 120, "checkpoint_every": 30,
                                    "log_every": 10, "lr": 5e-4, "seed": 3})
    # Run b is a second run of the same seed, from scratch in its own directory, killed at step 60 and
    # resumed: ending bit-identical to run a shows both the seed's determinism and the exact resume.
    train(config, tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "b", callbacks=[_Crash()], progress=False)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 60
    train(config, tmp_path / "b", progress=False)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in "ab")
    _same(a, b)
    losses = [row["loss"] for row in read_log(tmp_path / "a")]
    assert len(losses) == 12 and np.mean(losses[-4:]) < 0.9 * np.mean(losses[:2]), losses
    assert read_log(tmp_path / "a") == read_log(tmp_path / "b")
