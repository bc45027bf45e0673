"""``dbench train`` end to end in a real subprocess: new run, resume, errors, reconstruction PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dbench(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", "train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_cli_trains_resumes_and_saves_reconstructions(tmp_path):
    run = tmp_path / "runs" / "b4s0"
    common = ["--checkpoint_every", "6", "--log-every", "3", "--device", "cpu", "--batch_size", "8"]
    r = _dbench("--dataset", "dsprites_procedural", "--model", "beta_vae", "--beta", "4", "--steps", "12", "--seed", "0",
                *common, "--out", str(run), "--no-progress", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"{run}: step 12, loss" in r.stdout
    config = json.loads((run / "config.json").read_text())
    assert (config["beta"], config["steps"], config["batch_size"], config["log_every"]) == (4.0, 12, 8, 3)
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [3, 6, 9, 12]

    # A larger budget is another model: refused by a plain resume, continued with --extend; a config field that
    # changes the maths is refused; an execution-only field (log cadence) may change.
    r = _dbench("--resume", str(run), "--steps", "18", cwd=tmp_path)
    assert r.returncode == 2 and "steps: 12 in the run, 18 given" in r.stderr and "--extend" in r.stderr
    r = _dbench("--resume", str(run), "--steps", "18", "--extend", "--recon-png", str(tmp_path / "recon.png"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{run}: step 18" in r.stdout
    assert json.loads((run / "done.json").read_text())["resumed_from"] == 12
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [3, 6, 9, 12, 15, 18]
    png = matplotlib.image.imread(tmp_path / "recon.png")
    assert png.shape[:2] == ((2 * 64 + 3 * 2) * 2, (10 * 64 + 11 * 2) * 2)  # 10 inputs over 10 reconstructions, ×2

    r = _dbench("--resume", str(run), "--beta", "2", cwd=tmp_path)
    assert r.returncode == 2 and "beta: 4.0 in the run, 2.0 given" in r.stderr

    # Bad input: unknown field (lists the valid ones), bad value (names the field), no run directory.
    r = _dbench("--betta", "4", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert r.returncode == 2 and "unknown argument(s) --betta 4; valid config fields: --dataset, --dataset_path" in r.stderr
    r = _dbench("--batch_size", "zero", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert r.returncode == 2 and "TrainConfig.batch_size must be an integer, got 'zero'" in r.stderr
    r = _dbench("--beta", "4", cwd=tmp_path)
    assert r.returncode == 2 and "give --out RUN_DIR for a new run, or --resume RUN_DIR" in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("content, needle", [
    ("[1]", "expected a mapping"), ("{not json", "not valid JSON"), ('{"beta": "x"}', "TrainConfig.beta must be a number"),
    ('{"betta": 4}', "unknown field(s) 'betta'"),
])
def test_config_file_errors_name_the_file(tmp_path, content, needle):
    path = tmp_path / "cfg.json"
    path.write_text(content)
    r = _dbench("--config", str(path), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2 and f"--config {path}" in r.stderr and needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()


def test_leftover_temporaries_are_removed_and_a_cut_log_line_is_said(tmp_path):
    run = tmp_path / "run"
    common = ["--dataset", "dsprites_procedural", "--batch_size", "4", "--device", "cpu", "--checkpoint_every", "2",
              "--log_every", "1", "--no-progress"]
    assert _dbench(*common, "--steps", "2", "--out", str(run), cwd=tmp_path).returncode == 0
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # a kill during a write
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # and during a log append
    r = _dbench("--resume", str(run), "--steps", "4", "--extend", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not list(run.glob(".*.tmp")) and "dropped a line cut by an interrupted write" in r.stderr
