"""The training loop: run-directory contract, determinism, exact resume, NaN and corrupt-checkpoint errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from training_datasets import PoisonedSquares

from benchmark.config import TrainConfig
from benchmark.models import capacity
from benchmark.training import (
    CheckpointError,
    ConfigMismatchError,
    NonFiniteLossError,
    load_checkpoint,
    load_model,
    read_log,
    state_digest,
    train,
)

TINY = dict(dataset="test_squares", batch_size=8, device="cpu", checkpoint_every=10, log_every=1)


def _config(**changes):
    return TrainConfig.from_dict({**TINY, "steps": 30, **changes})


def _state(run_dir):
    ckpt = load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))
    return ckpt


def _assert_same_training_state(a, b):
    assert a["step"] == b["step"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"weights {name} differ"
    for pid, s in a["optimizer"]["state"].items():
        for key, value in s.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][key]), f"Adam {key} of param {pid} differ"
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
    assert a["data"] == b["data"]


class Recorder:
    def __init__(self, raise_on_log_at=None, raise_on_checkpoint_at=None):
        self.logs, self.checkpoints, self.ends = [], [], []
        self.raise_on_log_at, self.raise_on_checkpoint_at = raise_on_log_at, raise_on_checkpoint_at

    def on_log(self, step, terms):
        self.logs.append((step, dict(terms)))
        if step == self.raise_on_log_at:
            raise KeyboardInterrupt(f"simulated crash at step {step}")

    def on_checkpoint(self, step, run_dir):
        assert load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))["step"] == step, "on disk before the callback"
        self.checkpoints.append(step)
        if step == self.raise_on_checkpoint_at:
            raise RuntimeError(f"simulated crash after checkpoint {step}")

    def on_end(self, summary):
        self.ends.append(summary)


def test_run_directory_contract_and_callbacks(squares, tmp_path):
    config = _config(model="annealed_vae", c_max=5, c_anneal_steps=40, steps=20, log_every=5, num_latents=4)
    rec = Recorder()
    summary = train(config, tmp_path / "run", callbacks=[rec], progress=False)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoint.pt", "config.json", "done.json", "log.jsonl"]

    saved = json.loads((run / "config.json").read_text())
    assert {k: v for k, v in saved.items() if not k.startswith("env.")} == config.to_dict()
    assert {"env.torch", "env.numpy", "env.suite", "env.python"} <= set(saved)

    rows = read_log(run)
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert set(rows[0]) == {"step", "loss", "recon", "kl", "kl.0", "kl.1", "kl.2", "kl.3", "c"}
    for r in rows:  # update t = step - 1 saw C(t); loss = recon + γ|KL − C|
        assert r["c"] == pytest.approx(capacity(r["step"] - 1, 5, 40))
        assert r["kl"] == pytest.approx(sum(r[f"kl.{d}"] for d in range(4)), rel=1e-5)
        assert r["loss"] == pytest.approx(r["recon"] + 1000 * abs(r["kl"] - r["c"]), rel=1e-5)
    assert [s for s, _ in rec.logs] == [5, 10, 15, 20] and rec.logs[-1][1] == {k: v for k, v in rows[-1].items() if k != "step"}
    assert rec.checkpoints == [10, 20] and rec.ends == [summary]

    done = json.loads((run / "done.json").read_text())
    assert done["step"] == 20 and done["loss"] == rows[-1]["loss"] and done["elapsed_s"] > 0
    assert summary["run_dir"] == str(run) and summary["resumed_from"] is None

    model, loaded = load_model(run)
    assert loaded == config and not model.training and model.num_latents == 4
    assert model.representation(squares.images(np.arange(3))).shape == (3, 4)

    # A finished run is not trained again: the same summary comes back and the checkpoint is untouched.
    mtime = (run / "checkpoint.pt").stat().st_mtime_ns
    again = train(config, run, progress=False)
    assert again["loss"] == summary["loss"] and (run / "checkpoint.pt").stat().st_mtime_ns == mtime


def test_same_seed_gives_bit_identical_weights(squares, tmp_path):
    train(_config(steps=25), tmp_path / "a", progress=False)
    train(_config(steps=25), tmp_path / "b", progress=False)
    train(_config(steps=25, seed=1), tmp_path / "c", progress=False)
    a, b, c = (_state(tmp_path / n) for n in "abc")
    _assert_same_training_state(a, b)
    assert read_log(tmp_path / "a") == read_log(tmp_path / "b")
    assert not torch.equal(a["model"]["encoder.0.weight"], c["model"]["encoder.0.weight"])


@pytest.mark.parametrize(
    "crash,resumed_from",
    [({"raise_on_log_at": 7}, None), ({"raise_on_log_at": 17}, 10), ({"raise_on_checkpoint_at": 20}, 20)],
    ids=["before-first-checkpoint", "between-checkpoints", "right-after-a-checkpoint"],
)
def test_interrupt_and_resume_gives_bit_identical_weights(squares, tmp_path, crash, resumed_from):
    config = _config(steps=30)
    train(config, tmp_path / "straight", progress=False)

    crashing = Recorder(**crash)
    with pytest.raises((KeyboardInterrupt, RuntimeError), match="simulated crash"):
        train(config, tmp_path / "resumed", callbacks=[crashing], progress=False)
    summary = train(config, tmp_path / "resumed", progress=False)

    assert summary["resumed_from"] == resumed_from  # None: no checkpoint existed, the run restarted from scratch
    _assert_same_training_state(_state(tmp_path / "straight"), _state(tmp_path / "resumed"))
    # The log has each step once, with the same values as the uninterrupted run.
    assert read_log(tmp_path / "resumed") == read_log(tmp_path / "straight")


def test_extending_the_budget_continues_the_same_trajectory(squares, tmp_path):
    train(_config(steps=30), tmp_path / "straight", progress=False)
    train(_config(steps=20), tmp_path / "extended", progress=False)
    # steps is part of the model's identity: a plain resume with another budget is refused, naming it
    with pytest.raises(ConfigMismatchError, match=r"steps: 20 in the run, 30 given.*resume with --extend"):
        train(_config(steps=30), tmp_path / "extended", progress=False)
    summary = train(_config(steps=30), tmp_path / "extended", progress=False, extend=True)
    assert summary["resumed_from"] == 20
    _assert_same_training_state(_state(tmp_path / "straight"), _state(tmp_path / "extended"))


def test_resuming_with_another_config_names_the_differing_fields(squares, tmp_path):
    train(_config(steps=10), tmp_path / "run", progress=False)
    with pytest.raises(ConfigMismatchError) as info:
        train(_config(steps=10, beta=4, lr=3e-4), tmp_path / "run", progress=False)
    msg = str(info.value)
    assert "config.json" in msg and "beta: 1.0 in the run, 4.0 given" in msg and "lr: 0.0001 in the run, 0.0003 given" in msg
    with pytest.raises(ConfigMismatchError, match="at step 10, beyond the requested budget of 5 steps"):
        train(_config(steps=5), tmp_path / "run", progress=False, extend=True)


@pytest.mark.parametrize("log_every", [1, 5])
def test_nan_injection_stops_with_a_clear_error_and_keeps_the_last_checkpoint(squares, tmp_path, monkeypatch, log_every):
    monkeypatch.setattr(PoisonedSquares, "POISON_AT", 14)  # the 14th batch holds a NaN pixel
    config = _config(dataset="test_poisoned_squares", steps=30, log_every=log_every)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        train(config, run, progress=False)
    msg = str(info.value)
    assert "non-finite loss at step 14" in msg and "Last finite loss terms (step 13): loss=" in msg
    assert "recon=" in msg and "KL per latent [" in msg and str(run / "checkpoint.pt") in msg and "intact" in msg
    finite = [r for r in read_log(run)]
    assert finite and finite[-1]["step"] <= 13 and all(np.isfinite(r["loss"]) for r in finite)

    model, loaded = load_model(run)  # the last good checkpoint still loads, with finite weights
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 10 and loaded == config
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not (run / "done.json").exists()


def test_corrupt_truncated_or_foreign_checkpoints_fail_naming_the_file(squares, tmp_path):
    run = tmp_path / "run"
    train(_config(steps=10), run, progress=False)
    path = run / "checkpoint.pt"
    good = path.read_bytes()

    path.write_bytes(good[: len(good) // 2])  # truncated
    for attempt in (lambda: load_model(run), lambda: train(_config(steps=20), run, progress=False, extend=True)):
        with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
            attempt()
        assert str(path) in str(info.value)

    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match=f"{path}: cannot read the checkpoint"):
        load_model(run)

    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=f"{path}: not a dbench checkpoint"):
        load_model(run)

    ckpt = torch.load(_write(tmp_path / "good.pt", good), weights_only=True)
    ckpt["model_spec"]["num_latents"] = 6  # weights of a 10-latent model under a 6-latent spec
    torch.save({**ckpt, "sha256": state_digest(ckpt)}, path)  # consistent digest: a well-formed but wrong file
    with pytest.raises(CheckpointError, match=f"{path}: the weights do not fit"):
        load_model(run)

    path.unlink()
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        load_model(run)


def test_flipped_bytes_fail_evaluation_and_resume_naming_the_file(squares, tmp_path):
    from benchmark.evaluation import evaluate

    run = tmp_path / "run"
    train(_config(steps=10), run, progress=False)
    path = run / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    for offset in (len(data) // 2, len(data) // 2 + 7):  # inside the tensor data, which torch does not check
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    for attempt in (lambda: evaluate(run, metrics="mig", mig={"num_train": 100}),
                    lambda: train(_config(steps=20), run, progress=False, extend=True)):
        with pytest.raises(CheckpointError, match=f"{path}: checksum mismatch") as info:
            attempt()
        assert "Restore the file" in str(info.value)
    assert path.read_bytes() == bytes(data)  # refused, not re-saved


def _write(path, data):
    path.write_bytes(data)
    return path


def test_zero_steps_leaves_the_seeded_initial_model(squares, tmp_path):
    summary = train(_config(steps=0), tmp_path / "init", progress=False)
    model, _ = load_model(tmp_path / "init")
    assert summary["step"] == 0 and load_checkpoint(tmp_path / "init" / "checkpoint.pt")["step"] == 0
    first = _state(tmp_path / "init")["model"]
    train(_config(steps=0), tmp_path / "init2", progress=False)
    assert all(torch.equal(v, _state(tmp_path / "init2")["model"][k]) for k, v in first.items())


def test_200_steps_on_dsprites_procedural_lower_the_loss(tmp_path):
    config = TrainConfig.from_dict(dict(dataset="dsprites_procedural", steps=200, batch_size=16, device="cpu", checkpoint_every=200,
                                        log_every=1, beta=4))
    train(config, tmp_path / "run", progress=False)
    losses = np.array([r["loss"] for r in read_log(tmp_path / "run")])
    recons = np.array([r["recon"] for r in read_log(tmp_path / "run")])
    assert len(losses) == 200
    # A fresh decoder outputs logits near 0: about 4096·ln 2 ≈ 2839 nats per image.
    assert 2000 < losses[:5].mean() < 3200
    assert losses[-20:].mean() < 0.5 * losses[:20].mean()
    assert recons[-20:].mean() < 0.5 * recons[:20].mean()


def test_reconstruction_grid_puts_inputs_over_reconstructions(squares, tmp_path):
    from benchmark.views import reconstruction_grid

    train(_config(steps=3), tmp_path / "run", progress=False)
    model, _ = load_model(tmp_path / "run")
    images = squares.images(np.array([0, 50, 107]))
    canvas = reconstruction_grid(model, images, gap=2)
    assert canvas.shape == (2 * 64 + 3 * 2, 3 * 64 + 4 * 2, 1)
    for i in range(3):
        x = 2 + i * 66
        assert np.array_equal(canvas[2:66, x : x + 64, 0], images[i, 0])
        with torch.no_grad():
            expected = torch.sigmoid(model.decode(model.encode(torch.from_numpy(images[i : i + 1]))[0]))[0, 0].numpy()
        np.testing.assert_allclose(canvas[68:132, x : x + 64, 0], expected, rtol=1e-5, atol=1e-6)
    assert (canvas[0:2] == 0.5).all() and (canvas[66:68] == 0.5).all()


def test_speed_switches_keep_the_maths(squares, tmp_path):
    train(_config(steps=4), tmp_path / "plain", progress=False)
    train(_config(steps=4, channels_last=True), tmp_path / "cl", progress=False)
    train(_config(steps=4, bf16=True), tmp_path / "bf16", progress=False)
    plain, cl, bf16 = (_state(tmp_path / n)["model"] for n in ("plain", "cl", "bf16"))
    # channels-last: same maths, other kernels — equal losses to float32 rounding; Adam turns rounding-level
    # gradient differences of near-zero gradients into moves below its step size lr = 1e-4.
    for a, b in zip(read_log(tmp_path / "plain"), read_log(tmp_path / "cl")):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5) and b["kl"] == pytest.approx(a["kl"], rel=1e-4, abs=1e-6)
    for name, tensor in plain.items():
        torch.testing.assert_close(cl[name], tensor, rtol=0, atol=1e-4)
    # bf16 autocast changes numerics but not the objective: the first loss agrees to bf16 precision.
    first_plain, first_bf16 = read_log(tmp_path / "plain")[0], read_log(tmp_path / "bf16")[0]
    assert first_bf16["loss"] == pytest.approx(first_plain["loss"], rel=2e-2)
    assert first_bf16["kl"] == pytest.approx(first_plain["kl"], rel=5e-2, abs=1e-3)


@pytest.mark.slow
def test_compile_switch_keeps_the_maths(squares, tmp_path):
    train(_config(steps=3), tmp_path / "plain", progress=False)
    train(_config(steps=3, compile=True), tmp_path / "compiled", progress=False)
    plain, compiled = (_state(tmp_path / n)["model"] for n in ("plain", "compiled"))
    for name, tensor in plain.items():
        torch.testing.assert_close(compiled[name], tensor, rtol=0, atol=1e-4)
    for a, b in zip(read_log(tmp_path / "plain"), read_log(tmp_path / "compiled")):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)


def test_progress_bar_and_dataset_cache_option(squares, tmp_path, capsys):
    train(_config(steps=10, log_every=5), tmp_path / "bar", progress=True)
    err = capsys.readouterr().err
    assert "10/10" in err and "loss=" in err  # tqdm bar with the latest loss
    with pytest.raises(ValueError, match="dataset 'test_squares' has no cache option; set dataset_cache false"):
        train(_config(steps=10, dataset_cache=True), tmp_path / "cache", progress=False)


def test_resume_drops_log_rows_written_after_the_checkpoint(squares, tmp_path):
    train(_config(steps=20), tmp_path / "straight", progress=False)
    run = tmp_path / "run"
    train(_config(steps=10), run, progress=False)
    with open(run / "log.jsonl", "a") as f:  # a crash after appending rows, mid-line, before the checkpoint
        f.write('{"step": 11, "loss": 1.0}\n{"step": 12, "lo')
    with pytest.warns(UserWarning, match="dropped a line cut by an interrupted write"):
        train(_config(steps=20), run, progress=False, extend=True)
    assert [r["step"] for r in read_log(run)] == list(range(1, 21))
    assert read_log(run) == read_log(tmp_path / "straight")
