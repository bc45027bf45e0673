"""Architectures (shapes, parameter counts), ELBO terms against hand-computed values, representations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.config import TrainConfig
from benchmark.registry import UnknownNameError
from benchmark.models import (
    MODELS,
    OBJECTIVES,
    ConvVAE,
    bernoulli_reconstruction,
    build_model,
    build_model_from_spec,
    capacity,
    gaussian_kl,
    objective_hyperparameters,
    parameter_count,
)


def _spec(arch, channels=1, latents=10):
    return {"architecture": arch, "channels": channels, "num_latents": latents}


@pytest.mark.parametrize(
    "arch,channels,count",
    [
        # conv: 309,204 encoder + 381,313 decoder for one channel (PROTOCOL.md: 690,517).
        ("conv", 1, 690_517),
        ("conv", 3, 692_567),  # + 2·32·16 (first conv) + 2·32·16 + 2 (last deconv)
        # mlp: 4096·1200+1200 + 1200·1200+1200 + 2·(1200·10+10) | 10·1200+1200 + 2·(1200·1200+1200) + 1200·4096+4096
        ("mlp", 1, 14_196_516),
        ("mlp", 3, 33_865_508),
    ],
)
def test_shapes_and_parameter_counts(arch, channels, count):
    model = build_model_from_spec(_spec(arch, channels), seed=0)
    assert parameter_count(model) == count
    x = torch.rand(5, channels, 64, 64)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 10)
    assert model.decode(mu).shape == (5, channels, 64, 64)
    out = model(x, noise=torch.zeros(5, 10))
    assert out["logits"].shape == (5, channels, 64, 64) and out["kl_per_latent"].shape == (10,)
    assert out["recon"].shape == out["kl"].shape == ()


def test_conv_feature_map_sizes_follow_the_protocol():
    model = ConvVAE(1, 10)
    sizes = []
    h = torch.zeros(1, 1, 64, 64)
    for layer in model.encoder:
        h = layer(h)
        if isinstance(layer, torch.nn.Conv2d):
            sizes.append((layer.kernel_size, tuple(h.shape[1:])))
    assert sizes == [((4, 4), (32, 32, 32)), ((4, 4), (32, 16, 16)), ((2, 2), (64, 8, 8)), ((2, 2), (64, 4, 4))]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_build_model_takes_channels_from_observation_shape_and_rejects_other_sizes():
    assert build_model(TrainConfig(), (3, 64, 64), seed=1).channels == 3
    with pytest.raises(ValueError, match="32×32 images; the models take 64×64"):
        build_model(TrainConfig(), (1, 32, 32))


def test_registries_list_valid_names():
    with pytest.raises(UnknownNameError, match="unknown architecture 'resnet'; valid names: conv, mlp"):
        MODELS["resnet"]
    with pytest.raises(ValueError, match="valid names: annealed_vae, beta_tc_vae, beta_vae, dip_vae_i, dip_vae_ii, factor_vae"):
        OBJECTIVES["vq_vae"]


def _bce(logit, x):
    # -[x log σ(l) + (1-x) log(1-σ(l))], written out without torch.
    s = 1.0 / (1.0 + math.exp(-logit))
    return -(x * math.log(s) + (1 - x) * math.log(1 - s))


def test_loss_terms_on_a_hand_made_batch():
    logits = torch.tensor([[math.log(3), 0.0, 2.0, -1.0], [0.0, 0.0, -3.0, 4.0]]).reshape(2, 1, 2, 2)
    images = torch.tensor([[1.0, 0.0, 0.5, 0.25], [0.0, 1.0, 1.0, 0.75]]).reshape(2, 1, 2, 2)
    per_image = bernoulli_reconstruction(logits, images)
    # Known closed forms for the first pixels: σ(ln 3) = 3/4 so x=1 costs ln(4/3); a zero logit costs ln 2.
    assert _bce(math.log(3), 1.0) == pytest.approx(math.log(4 / 3))
    expected = [
        math.log(4 / 3) + math.log(2) + _bce(2.0, 0.5) + _bce(-1.0, 0.25),
        math.log(2) + math.log(2) + _bce(-3.0, 1.0) + _bce(4.0, 0.75),
    ]
    assert per_image.tolist() == pytest.approx(expected, rel=1e-6)  # summed over pixels, per image
    recon = per_image.mean()

    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(2)], [math.log(0.5), 0.0]])
    kl = gaussian_kl(mu, logvar)
    # ½(μ² + σ² − ln σ² − 1) per latent.
    assert kl.flatten().tolist() == pytest.approx([0.5, 0.5 * (1 - math.log(2)), 0.5 * (math.log(2) - 0.5), 2.0], rel=1e-6)
    kl_mean = kl.sum(1).mean()
    hand_kl = (0.5 + 0.5 * (1 - math.log(2)) + 0.5 * (math.log(2) - 0.5) + 2.0) / 2
    assert kl_mean.item() == pytest.approx(hand_kl, rel=1e-6)

    z = mu  # unused by both objectives
    loss, extras = OBJECTIVES["beta_vae"](recon, kl_mean, mu, logvar, z, 0, beta=4)
    assert extras == {}
    assert loss.item() == pytest.approx(sum(expected) / 2 + 4 * hand_kl, rel=1e-6)

    cfg = TrainConfig.from_dict({"model": "annealed_vae", "gamma": 1000, "c_max": 25, "c_anneal_steps": 100000})
    assert objective_hyperparameters(cfg) == {"gamma": 1000.0, "c_max": 25.0, "c_anneal_steps": 100000}
    loss, extras = OBJECTIVES["annealed_vae"](recon, kl_mean, mu, logvar, z, 50000, **objective_hyperparameters(cfg))
    assert extras == {"c": 12.5}
    assert loss.item() == pytest.approx(sum(expected) / 2 + 1000 * abs(hand_kl - 12.5), rel=1e-6)
    assert capacity(0, 25, 100000) == 0.0 and capacity(250000, 25, 100000) == 25.0


def test_forward_composes_the_terms_and_the_reparameterisation():
    model = build_model_from_spec(_spec("conv"), seed=3)
    x = torch.rand(4, 1, 64, 64)
    noise = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    out = model(x, noise=noise)
    mu, logvar = model.encode(x)
    torch.testing.assert_close(out["z"], mu + torch.exp(0.5 * logvar) * noise)
    torch.testing.assert_close(out["recon"], bernoulli_reconstruction(model.decode(out["z"]), x).mean())
    torch.testing.assert_close(out["kl"], gaussian_kl(mu, logvar).sum(1).mean())


def test_same_seed_same_initial_weights_tf_style_init():
    a = build_model_from_spec(_spec("conv"), seed=np.random.SeedSequence(5))
    b = build_model_from_spec(_spec("conv"), seed=np.random.SeedSequence(5))
    c = build_model_from_spec(_spec("conv"), seed=np.random.SeedSequence(6))
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), name
        if name.endswith("bias"):
            assert not p.any(), "biases start at zero"
        else:
            assert not torch.equal(p, r), name
            fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(p)
            assert p.abs().max() <= math.sqrt(6 / (fan_in + fan_out))  # Glorot-uniform bound


def test_representation_mean_and_sampled():
    model = build_model_from_spec(_spec("conv"), seed=0)
    images = np.random.default_rng(0).random((37, 1, 64, 64), dtype=np.float32)
    codes = model.representation(images, batch_size=10)
    assert codes.shape == (37, 10) and codes.dtype == np.float32
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(images))
    np.testing.assert_allclose(codes, mu.numpy(), rtol=1e-5, atol=1e-6)
    s1 = model.representation(images, "sampled", np.random.default_rng(1), batch_size=16)
    s2 = model.representation(torch.from_numpy(images), "sampled", np.random.default_rng(1))
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-6)  # same noise whatever the batching
    eps = np.random.default_rng(1).standard_normal((37, 10), dtype=np.float32)
    np.testing.assert_allclose(s1, mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps, rtol=1e-4, atol=1e-5)
    t1 = model.representation(images, "sampled", torch.Generator().manual_seed(2))
    t2 = model.representation(images, "sampled", torch.Generator().manual_seed(2))
    assert np.array_equal(t1, t2) and not np.allclose(t1, codes)
    assert model.training, "the module's mode is restored"


def test_representation_rejects_bad_input():
    model = build_model_from_spec(_spec("mlp"), seed=0)
    with pytest.raises(ValueError, match=r"shape \(N, 1, 64, 64\) \(channels first\), got \(2, 64, 64, 1\)"):
        model.representation(np.zeros((2, 64, 64, 1), np.float32))
    with pytest.raises(ValueError, match="float intensities in \\[0, 1\\], got dtype torch.uint8"):
        model.representation(np.zeros((2, 1, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="kind must be 'mean' or 'sampled'"):
        model.representation(np.zeros((2, 1, 64, 64), np.float32), kind="mode")
