"""Packs (benchmark.packing): K models trained as one network equal K solo runs.

With ``kernels="loop"`` (the CPU default) each layer of model k runs the solo kernel on model k's slice, and a
member ends bit-identical to its solo run: weights, Adam moments, generator and stream states, every logged
term. With ``kernels="fused"`` (the GPU default: grouped convolutions, batched matrix products) the arithmetic is
the same but the order of some floating-point additions inside a kernel is not. Measured here (float32, CPU,
one thread): after one step the members' gradients differ from the solo gradients by at most 4.6e-6 of each
tensor's largest gradient (the first convolution, the last transposed one, the small dense layers), the order of
float32 rounding of the sums involved. Training amplifies such differences: over 50 steps of the β pack below the
largest weight difference measured is 1.4e-3 and the largest relative loss difference 5.2e-6, and two *solo* runs
of one config at 1 and 2 torch threads (which also only reorder sums) drift apart just as far (1.75e-3 in weights,
1.4e-5 in loss for one of those seeds). The fused tolerances are set from these: 5e-3 on weights (≈ 3× the
measured drift; Adam moves a weight by at most ≈ 3.2·lr = 3.2e-4 per step, so 50 steps bound any drift by 0.032)
and 1e-5 on the per-step losses.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from training_datasets import Squares
from torch import nn

from benchmark.config import TrainConfig
from benchmark.datasets import BatchStream
from benchmark.models import ConvVAE, Discriminator, MLPVAE, tf_default_init
from benchmark.packing import (DeviceGrid, PackBatchStream, PackError, PackedVAE, StackedStreams, check_packable,
                               member_state, pack_modules, set_kernels, train_pack)
from benchmark.training import load_checkpoint, read_log, train

TINY = dict(dataset="test_squares", batch_size=8, device="cpu", log_every=1)
METHOD_SETTINGS = {
    "beta_vae": {"beta": 4}, "annealed_vae": {"c_max": 10, "c_anneal_steps": 20}, "factor_vae": {"gamma": 20},
    "beta_tc_vae": {"beta": 4}, "dip_vae_i": {"lambda_od": 10}, "dip_vae_ii": {"lambda_od": 10},
}


def _configs(grid, **changes):
    return [TrainConfig.from_dict({**TINY, "steps": 50, "checkpoint_every": 20, **changes, **point}) for point in grid]


def _solo_and_pack(tmp_path, configs, kernels="loop", **pack_kw):
    for i, c in enumerate(configs):
        train(c, tmp_path / f"solo{i}", progress=False)
    summaries = train_pack(configs, [tmp_path / f"pack{i}" for i in range(len(configs))], progress=False,
                           kernels=kernels, **pack_kw)
    return [(load_checkpoint(tmp_path / f"solo{i}" / "checkpoint.pt"), load_checkpoint(tmp_path / f"pack{i}" / "checkpoint.pt"),
             read_log(tmp_path / f"solo{i}"), read_log(tmp_path / f"pack{i}")) for i in range(len(configs))], summaries


def _assert_bit_identical(solo, pack):
    assert solo["step"] == pack["step"] and solo["config"] == pack["config"] and solo["model_spec"] == pack["model_spec"]
    parts = [(solo, pack)] + ([(solo["auxiliary"], pack["auxiliary"])] if "auxiliary" in solo else [])
    assert ("auxiliary" in solo) == ("auxiliary" in pack)
    for a, b in parts:  # the VAE, then FactorVAE's discriminator: weights and Adam state
        assert a["model"].keys() == b["model"].keys()
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
        assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
        for pid, state in a["optimizer"]["state"].items():
            for key, v in state.items():
                assert torch.equal(v, b["optimizer"]["state"][pid][key]), (pid, key)
    assert torch.equal(solo["rng"]["noise"], pack["rng"]["noise"])  # the same noise draws, as many
    assert solo["data"] == pack["data"]  # the same batch stream state: the same indices, as many
    if "auxiliary" in solo:
        assert torch.equal(solo["auxiliary"]["rng"], pack["auxiliary"]["rng"])


def _max_weight_difference(solo, pack):
    return max((solo["model"][k] - pack["model"][k]).abs().max().item() for k in solo["model"])


def _max_loss_rel(log_a, log_b):
    assert [r["step"] for r in log_a] == [r["step"] for r in log_b] and set(log_a[0]) == set(log_b[0])
    return max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(log_a, log_b))


# ---------------------------------------------------------------------------------------------- layers
@pytest.mark.parametrize("cls", [ConvVAE, MLPVAE])
def test_packed_vae_computes_each_model_and_its_gradient(cls):
    torch.manual_seed(0)
    k, b, d = 2, 5, 4
    models = [cls(1, d) for _ in range(k)]
    for i, m in enumerate(models):
        tf_default_init(m, torch.Generator().manual_seed(i))
    images, noise = torch.rand(b, k, 1, 64, 64), torch.randn(k, b, d)
    solo = []
    for i, m in enumerate(models):
        out = m(images[:, i], noise=noise[i])
        (out["recon"] + 3 * out["kl"]).backward()
        solo.append((out, {n: p.grad for n, p in m.named_parameters()}))
    for kernels, rel in (("loop", 0.0), ("fused", 1e-5)):
        packed = set_kernels(PackedVAE(models), kernels)
        assert [n for n, _ in packed.named_parameters()] == [n for n, _ in models[0].named_parameters()]
        out = packed(images, noise)
        (out["recon"] + 3 * out["kl"]).sum().backward()
        grads = dict(packed.named_parameters())
        for i, (o, g) in enumerate(solo):
            for key in ("mu", "logvar", "z", "logits", "recon", "kl", "kl_per_latent"):
                torch.testing.assert_close(out[key][i], o[key], rtol=rel, atol=rel * o[key].abs().max().item())
            for name, grad in g.items():
                torch.testing.assert_close(grads[name].grad[i], grad, rtol=0, atol=rel * grad.abs().max().item())
            assert all(torch.equal(member_state(packed, i)[n], p) for n, p in models[i].state_dict().items())


def test_pack_modules_packs_the_discriminator_and_refuses_what_it_cannot_pack():
    discriminators = [Discriminator(3, width=8, depth=2) for _ in range(2)]
    packed = pack_modules(discriminators)
    z = torch.randn(2, 4, 3)
    for i, d in enumerate(discriminators):
        torch.testing.assert_close(packed(z)[i], d(z[i]), rtol=1e-6, atol=1e-6)
    with pytest.raises(PackError, match="BatchNorm1d"):
        pack_modules([nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)) for _ in range(2)])
    with pytest.raises(PackError, match="Conv1d"):
        pack_modules([nn.Conv1d(1, 1, 3) for _ in range(2)])


# ---------------------------------------------------------------------------------------------- streams
class PackedSquares(Squares):
    """:class:`Squares` keeping its pixels bit-packed like dSprites (``_packed``): the device grid's bit path."""

    name = "test_packed_squares"

    def __init__(self, path=None):
        super().__init__(path)
        self._packed = np.packbits(self._grid.reshape(len(self), -1), axis=1)


def test_pack_streams_draw_each_members_solo_batches(squares):
    seeds = [np.random.SeedSequence(s).spawn(5)[1] for s in (0, 7, 3)]
    solo = [BatchStream(squares, 6, s) for s in seeds]
    streams = [PackBatchStream(squares, 6, seeds), PackBatchStream(squares, 6, seeds, grid=DeviceGrid(squares, "cpu")),
               StackedStreams(squares, 6, seeds), PackBatchStream(PackedSquares(), 6, seeds, grid=DeviceGrid(PackedSquares(), "cpu"))]
    assert streams[-1].grid.bits and not streams[1].grid.bits
    for _ in range(4):
        want = [next(s) for s in solo]
        for stream in streams:
            batch = next(stream)
            assert batch.shape == (6, 3, 1, 64, 64) and batch.dtype == torch.float32
            for k in range(3):
                assert torch.equal(batch[:, k], want[k])
        assert all(np.array_equal(streams[0].last_indices[k], solo[k].last_indices) for k in range(3))
    assert streams[0].state_dict() == [s.state_dict() for s in solo] == streams[2].state_dict()
    resumed = PackBatchStream(squares, 6, seeds)
    resumed.load_state_dict(streams[0].state_dict())
    assert torch.equal(next(resumed), next(streams[0]))


def test_configs_that_cannot_share_a_network_are_refused(squares):
    a, b = _configs([{"seed": 0}, {"seed": 1, "batch_size": 16}])
    with pytest.raises(PackError, match=r"batch_size \(8 vs 16\).*may differ only in model, hyperparameters, seed"):
        check_packable([a, b])
    check_packable(_configs([{"model": m, **h, "seed": s} for m, h in METHOD_SETTINGS.items() for s in (0, 1)]))


# ---------------------------------------------------------------------------------------------- training
def test_a_pack_of_four_beta_vaes_is_bit_identical_to_the_four_solo_runs(squares, tmp_path):
    configs = _configs([{"beta": b, "seed": s} for b in (1.0, 4.0) for s in (0, 1)])
    runs, summaries = _solo_and_pack(tmp_path, configs)
    for solo, pack, log_solo, log_pack in runs:
        _assert_bit_identical(solo, pack)
        assert log_solo == log_pack
    assert [s["step"] for s in summaries] == [50] * 4 and summaries[0]["resumed_from"] is None


def test_a_fused_pack_matches_the_solo_runs_to_float_rounding(squares, tmp_path):
    configs = _configs([{"beta": b, "seed": s} for b in (1.0, 4.0) for s in (0, 1)], batch_size=16, checkpoint_every=50)
    runs, _ = _solo_and_pack(tmp_path, configs, kernels="fused")
    for solo, pack, log_solo, log_pack in runs:
        assert torch.equal(solo["rng"]["noise"], pack["rng"]["noise"]) and solo["data"] == pack["data"]
        assert _max_weight_difference(solo, pack) < 5e-3
        assert _max_loss_rel(log_solo, log_pack) < 1e-5


def test_a_pack_mixing_every_method_is_bit_identical_to_the_solo_runs(squares, tmp_path):
    configs = _configs([{"model": m, **h, "seed": s} for (m, h), s in zip(METHOD_SETTINGS.items(), range(6))],
                       steps=30, checkpoint_every=15, num_latents=6)
    runs, _ = _solo_and_pack(tmp_path, configs)
    for (solo, pack, log_solo, log_pack), config in zip(runs, configs):
        _assert_bit_identical(solo, pack)
        assert log_solo == log_pack, config.model
    assert {"tc", "auxiliary_loss"} <= set(runs[2][3][0]) and "c" in runs[1][3][0] and "dip" in runs[4][3][0]


# ---------------------------------------------------------------------------------------------- faults and resume
class _CrashAtLog:
    def __init__(self, step):
        self.step = step

    def on_log(self, step, terms):
        if step == self.step:
            raise KeyboardInterrupt(f"simulated crash at step {step}")


def test_a_crashed_pack_resumes_and_ends_equal_to_the_uninterrupted_runs(squares, tmp_path, monkeypatch):
    import benchmark.training as training

    configs = _configs([{"beta": 4.0, "seed": s} for s in (0, 1, 2)], steps=30, checkpoint_every=10)
    for i, c in enumerate(configs):
        train(c, tmp_path / f"solo{i}", progress=False)
    crashed, lagging = [tmp_path / f"crashed{i}" for i in range(3)], [tmp_path / f"lagging{i}" for i in range(3)]
    with pytest.raises(KeyboardInterrupt):  # a callback of member 1 stops the whole pack between checkpoints
        train_pack(configs, crashed, callbacks=[[], [_CrashAtLog(17)], []], progress=False)
    assert {load_checkpoint(d / "checkpoint.pt")["step"] for d in crashed} == {10}
    summaries = train_pack(configs, crashed, progress=False)
    assert [s["resumed_from"] for s in summaries] == [10, 10, 10]

    # A kill while the members' checkpoints of step 20 are being written: member 0 at step 20, the others at 10.
    saves, real_save = [], training._save_checkpoint

    def save(path, ckpt):
        saves.append(ckpt["step"])
        if saves.count(20) == 2:
            raise KeyboardInterrupt("killed while writing checkpoints")
        real_save(path, ckpt)

    monkeypatch.setattr(training, "_save_checkpoint", save)
    with pytest.raises(KeyboardInterrupt):
        train_pack(configs, lagging, progress=False)
    monkeypatch.setattr(training, "_save_checkpoint", real_save)
    assert [load_checkpoint(d / "checkpoint.pt")["step"] for d in lagging] == [20, 10, 10]
    train_pack(configs, lagging, progress=False)  # members 1 and 2 catch up to 20, then all three go on
    for i in range(3):
        solo = load_checkpoint(tmp_path / f"solo{i}" / "checkpoint.pt")
        for d in (crashed[i], lagging[i]):
            _assert_bit_identical(solo, load_checkpoint(d / "checkpoint.pt"))
            assert read_log(d) == read_log(tmp_path / f"solo{i}"), "each step logged once, as the solo run logs it"


@pytest.fixture
def nan_method():
    """A method whose loss turns NaN at update ``nan_at`` (a hyperparameter): NaN injected into one member."""
    from benchmark.config import METHODS, Hyperparameter, Method
    from benchmark.models import OBJECTIVES, register_method

    def nan_vae(recon, kl, mu, logvar, z, step, *, nan_at):
        return (recon + kl) * (float("nan") if step + 1 >= nan_at else 1.0), {}

    register_method(Method("test_nan_vae", "recon + KL, NaN from step nan_at on", (
        Hyperparameter("nan_at", 15, "first step with a NaN loss", type=int),)), nan_vae)
    try:
        yield
    finally:
        METHODS.pop("test_nan_vae")
        OBJECTIVES.pop("test_nan_vae")


def test_a_non_finite_loss_freezes_only_its_member(squares, nan_method, tmp_path):
    configs = _configs([{"seed": 0}, {"model": "test_nan_vae", "nan_at": 15, "seed": 1}, {"seed": 2}],
                       steps=30, checkpoint_every=10)
    runs = [tmp_path / f"pack{i}" for i in range(3)]
    summaries = train_pack(configs, runs, progress=False)
    assert summaries[1]["step"] == 15 and "non-finite loss at step 15" in summaries[1]["error"]
    assert [s["step"] for s in summaries[::2]] == [30, 30] and "error" not in summaries[0]
    error = json.loads((runs[1] / "error.json").read_text())
    assert error["error"] == "NonFiniteLossError" and error["step"] == 15 and not (runs[1] / "done.json").exists()
    assert load_checkpoint(runs[1] / "checkpoint.pt")["step"] == 10, "the last good checkpoint is left intact"
    assert [r["step"] for r in read_log(runs[1])] == list(range(1, 15))

    # The frozen member's solo run stops at the same step and leaves the same error; the others are untouched.
    from benchmark.training import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 15"):
        train(configs[1], tmp_path / "solo1", progress=False)
    assert json.loads((tmp_path / "solo1" / "error.json").read_text())["step"] == 15
    assert read_log(tmp_path / "solo1") == read_log(runs[1])
    for i in (0, 2):
        train(configs[i], tmp_path / f"solo{i}", progress=False)
        _assert_bit_identical(load_checkpoint(tmp_path / f"solo{i}" / "checkpoint.pt"), load_checkpoint(runs[i] / "checkpoint.pt"))
    # Training the pack again: the finished members return their summaries, the frozen one stays out.
    again = train_pack(configs, runs, progress=False)
    assert again[0] == summaries[0] and again[1]["step"] == 15 and "non-finite" in again[1]["error"]


def test_the_throughput_curve_measures_packs_and_auto_sizing_leaves_the_cpu_unpacked(squares):
    from benchmark.packing import choose_models_per_trial, throughput_curve

    config = TrainConfig.from_dict({**TINY, "steps": 1})
    curve = throughput_curve(config, [1, 2], steps=1, warmup=1)
    assert [c["k"] for c in curve] == [1, 2] and all(c["images_per_s"] > 0 and c["peak_bytes"] is None for c in curve)
    assert choose_models_per_trial(config) == (1, [])


@pytest.mark.slow
def test_the_device_check_script_runs_at_tiny_sizes():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(["bash", str(root / "bench" / "gpu.sh"), "--tiny"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pack K=  4" in out.stdout and "vmap K=  4" in out.stdout and "data stream" in out.stdout
    assert out.stdout.count("-> PASS") == 2 and "all checks passed" in out.stdout


@pytest.mark.slow  # 40 s; the CPU default (kernels="loop") is held bit-identical over every method above
def test_a_fused_pack_mixing_every_method_matches_the_solo_runs_to_float_rounding(squares, tmp_path):
    """Fused kernels over all six methods. FactorVAE's adversarial TC term amplifies reassociation fastest: measured
    here, its largest relative loss difference is 4.1e-6 over the first 20 steps, 1.8e-5 by step 30 and 9.1e-5 by
    step 50 (weights 1.6e-3; β-TCVAE's weights 3.3e-3), where its *solo* run at 1 and at 2 torch threads differs
    by 1.5e-4 in loss and 4.3e-3 in weights over the same 50 steps. So: 1e-5 over the first 20 steps, and over
    all 50 the solo run's own thread-to-thread drift (5e-4 in loss, 1e-2 in weights)."""
    configs = _configs([{"model": m, **h, "seed": s} for (m, h), s in zip(METHOD_SETTINGS.items(), range(6))],
                       batch_size=16, checkpoint_every=50, num_latents=6)
    runs, _ = _solo_and_pack(tmp_path, configs, kernels="fused")
    for (solo, pack, log_solo, log_pack), config in zip(runs, configs):
        assert torch.equal(solo["rng"]["noise"], pack["rng"]["noise"]) and solo["data"] == pack["data"], config.model
        assert _max_loss_rel(log_solo[:20], log_pack[:20]) < 1e-5, config.model
        assert _max_loss_rel(log_solo, log_pack) < 5e-4, config.model
        assert _max_weight_difference(solo, pack) < 1e-2, config.model
