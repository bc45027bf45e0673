"""``dbench train --pack`` end to end: a member's run directory evaluates, reports and resumes like a solo run's."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.config import TrainConfig
from benchmark.evaluation import evaluate
from benchmark.training import load_checkpoint, train

ROOT = Path(__file__).resolve().parents[2]
SHARED = {"dataset": "dsprites_procedural", "steps": 12, "batch_size": 8, "checkpoint_every": 6, "log_every": 3,
          "device": "cpu", "num_latents": 6}
MEMBERS = [{"out": "runs/b1s0", "beta": 1, "seed": 0}, {"out": "runs/f20s1", "model": "factor_vae", "gamma": 20, "seed": 1}]
PROTOCOL = {"mig": {"num_train": 200}, "reconstruction": {"num_images": 32}}
FAST = ["--metrics", "mig,reconstruction", "--set", "mig.num_train=200", "--set", "reconstruction.num_images=32"]


def _dbench(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _metrics(results):
    out = {}
    for path in glob.glob(os.path.join(results, "*", "*.json")):
        rec = json.load(open(path))
        assert rec["status"] == "ok", rec
        out[(rec["run.id"], rec["eval.representation"], rec["eval.metric"])] = {
            k: v for k, v in rec.items() if k.startswith("metric.")}
    return out


def _pack_and_solo_twin(tmp_path):
    """``dbench train --pack`` of a β-VAE and a FactorVAE, and the FactorVAE's solo run (the same config)."""
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps({"config": SHARED, "members": MEMBERS}))
    r = _dbench("train", "--pack", pack, "--lr", "5e-4", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "runs/f20s1: step 12, loss" in r.stdout and "pack of 2: 2 trained, 0 stopped" in r.stdout
    solo_config = TrainConfig.from_dict({**SHARED, "lr": 5e-4, "model": "factor_vae", "gamma": 20, "seed": 1})
    train(solo_config, tmp_path / "solo" / "f20s1", progress=False)
    return tmp_path / "runs" / "f20s1", tmp_path / "solo" / "f20s1", solo_config


def test_a_pack_member_is_a_solo_run_directory_and_resumes_like_one(tmp_path):
    member, solo, solo_config = _pack_and_solo_twin(tmp_path)
    assert sorted(p.name for p in member.iterdir()) == [".lock", "checkpoint.pt", "config.json", "done.json", "log.jsonl"]
    assert json.loads((member / "config.json").read_text())["lr"] == 5e-4
    evaluate(str(member), metrics=["mig", "reconstruction"], results_dir=str(tmp_path / "rm"), **PROTOCOL)
    evaluate(str(solo), metrics=["mig", "reconstruction"], results_dir=str(tmp_path / "rs"), **PROTOCOL)
    assert _metrics(tmp_path / "rm") == _metrics(tmp_path / "rs") != {}, "one model: one run id, the same scores"

    # --resume of the member alone continues it as a solo run, on the solo run's trajectory.
    r = _dbench("train", "--resume", member, "--steps", "18", "--extend", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    train(solo_config.replace(steps=18), solo, progress=False, extend=True)
    a, b = load_checkpoint(member / "checkpoint.pt"), load_checkpoint(solo / "checkpoint.pt")
    assert a["step"] == b["step"] == 18
    for weights_a, weights_b in ((a["model"], b["model"]), (a["auxiliary"]["model"], b["auxiliary"]["model"])):
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_b)

    # Several run directories after --resume continue as one pack; members that cannot share a network are refused.
    r = _dbench("train", "--resume", tmp_path / "runs" / "b1s0", member, "--steps", "24", "--extend", "--no-progress",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [load_checkpoint(d / "checkpoint.pt")["step"] for d in (tmp_path / "runs" / "b1s0", member)] == [24, 24]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"config": SHARED, "members": [{"out": "x", "seed": 0}, {"out": "y", "batch_size": 16}]}))
    r = _dbench("train", "--pack", bad, cwd=tmp_path)
    assert r.returncode == 2 and "batch_size (8 vs 16)" in r.stderr and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_pack_member_evaluates_and_reports_through_the_cli_like_its_solo_twin(tmp_path):
    member, solo, _ = _pack_and_solo_twin(tmp_path)
    for run, results in ((member, "rm"), (solo, "rs")):
        r = _dbench("evaluate", run, *FAST, "--results", tmp_path / results, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        r = _dbench("report", tmp_path / results, "--out", tmp_path / f"report_{results}", "--format", "csv", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert _metrics(tmp_path / "rm") == _metrics(tmp_path / "rs") != {}
    tables = [sorted(glob.glob(str(tmp_path / f"report_{r}" / "**" / "summary*.csv"), recursive=True)) for r in ("rm", "rs")]
    assert tables[0] and [Path(t).read_text() for t in tables[0]] == [Path(t).read_text() for t in tables[1]]
