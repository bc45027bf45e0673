"""evaluate(): records per (run, representation, metric), shared grid encoding, skip/force, failures; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.evaluation import evaluate
from metrics_synthetic import FactorGrid

ROOT = Path(__file__).resolve().parents[2]
GRID = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))
FAST = {
    "beta_vae": {"num_train": 50, "num_eval": 50, "batch_size": 8},
    "factor_vae": {"num_variance_estimate": 100, "num_train": 50, "num_eval": 50, "batch_size": 8},
    "mig": {"num_train": 200},
    "mig_sampled": {"num_samples": 20},
    "dci": {"num_train": 60, "num_test": 40},
    "sap": {"num_train": 100, "num_test": 50},
    "modularity": {"num_train": 100, "num_test": 50},
    "unsupervised": {"num_train": 200},
    "reconstruction": {"num_images": 50},
}


class TinyModel(torch.nn.Module):
    """encode/decode on GRID's 1×2×2 images; counts the images it encodes."""

    def __init__(self, nan=False):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.enc = torch.nn.Linear(4, 6)
        self.dec = torch.nn.Linear(3, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.nan = nan
        self.encoded = 0

    def encode(self, x):
        self.encoded += x.shape[0]
        h = self.enc(x.reshape(x.shape[0], -1))
        if self.nan:
            h = h * float("nan")
        return h[:, :3], h[:, 3:] - 2.0

    def decode(self, z):
        return self.dec(z).reshape(-1, 1, 2, 2)


def test_records_per_run_representation_metric_with_one_shared_grid_encoding(tmp_path):
    model = TinyModel()
    lines = []
    records = evaluate(
        model, dataset=GRID, metrics="all", representation="mean,sampled", seed=3, results_dir=tmp_path,
        run_id_override="tiny", progress=lines.append, **FAST,
    )
    assert len(records) == 2 * 9
    files = sorted(p.name for p in (tmp_path / "tiny").iterdir())
    assert files == sorted(f"{r}__{m}.json" for r in ("mean", "sampled") for m in FAST)
    # every image of the grid went through the encoder at most once for all metrics and both representations
    assert model.encoded == records[-1]["eval.encoder_passes"] <= len(GRID)
    for rec in records:
        assert rec["status"] == "ok", rec.get("error")
        on_disk = json.loads((tmp_path / "tiny" / f"{rec['eval.representation']}__{rec['eval.metric']}.json").read_text())
        assert on_disk == json.loads(json.dumps(rec))
        assert rec["record.schema"] == 1 and rec["run.id"] == "tiny" and rec["eval.seed"] == 3
        assert rec["dataset.name"] == "factor_grid" and "env.numpy" in rec and "env.torch" in rec
        assert any(k.startswith(f"protocol.{rec['eval.metric']}.") for k in rec)
        assert all(type(v) is float for k, v in rec.items() if k.startswith("metric."))
    mig = next(r for r in records if r["eval.metric"] == "mig")
    assert mig["protocol.mig.num_train"] == 200 and mig["protocol.mig.num_bins"] == 20
    assert {"metric.mig", "metric.mig.a", "metric.mig.b", "metric.mig.c"} <= set(mig)
    assert any("mean/dci: ok" in line for line in lines)
    # mig_sampled always estimates from q(z|x): both representations give the same numbers
    ms = [r for r in records if r["eval.metric"] == "mig_sampled"]
    assert ms[0]["metric.mig_sampled"] == ms[1]["metric.mig_sampled"]


def test_existing_records_are_skipped_unless_forced_and_seeds_reproduce(tmp_path):
    kw = dict(dataset=GRID, metrics="mig,beta_vae", seed=0, results_dir=tmp_path, run_id_override="t", **FAST)
    first = evaluate(TinyModel(), **kw)
    again_model = TinyModel()
    again = evaluate(again_model, **kw)
    assert again == [json.loads(json.dumps(r)) for r in first] and again_model.encoded == 0  # read back, not recomputed
    forced = evaluate(TinyModel(), force=True, **kw)
    strip = lambda r: {k: v for k, v in r.items() if k.startswith("metric.")}  # noqa: E731
    assert [strip(r) for r in forced] == [strip(r) for r in first]  # same seed, same numbers
    other = evaluate(TinyModel(), force=True, **{**kw, "seed": 1})
    assert [strip(r) for r in other] != [strip(r) for r in first]


def test_a_failing_metric_gives_a_failed_record_with_its_reason(tmp_path):
    records = evaluate(TinyModel(nan=True), dataset=GRID, metrics="mig", results_dir=tmp_path, run_id_override="bad", **FAST)
    assert records[0]["status"] == "failed" and "non-finite" in records[0]["error"]
    assert not any(k.startswith("metric.") for k in records[0])
    # a failed record is recomputed on the next call (only "ok" records are skipped)
    again = evaluate(TinyModel(), dataset=GRID, metrics="mig", results_dir=tmp_path, run_id_override="bad", **FAST)
    assert again[0]["status"] == "ok"


def test_bad_arguments_fail_before_any_work():
    with pytest.raises(ValueError, match="unknown metric.*valid names: all, beta_vae"):
        evaluate(TinyModel(), dataset=GRID, metrics="mig,nope")
    with pytest.raises(ValueError, match="valid: mean, sampled"):
        evaluate(TinyModel(), dataset=GRID, representation="median")
    with pytest.raises(ValueError, match=r"mig: unknown protocol parameter\(s\) \['bins'\]"):
        evaluate(TinyModel(), dataset=GRID, mig={"bins": 3})


def _train_short_run(run_dir: Path) -> None:
    from benchmark.training import train

    train(
        {"dataset": "dsprites_procedural", "model": "beta_vae", "beta": 4.0, "steps": 2, "batch_size": 8, "seed": 0,
         "device": "cpu", "checkpoint_every": 2, "log_every": 1},
        run_dir, progress=False,
    )  # fmt: skip


def test_cli_evaluates_a_trained_checkpoint_end_to_end(tmp_path):
    run = tmp_path / "runs" / "b4s0"
    _train_short_run(run)
    corrupt = tmp_path / "runs" / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text((run / "config.json").read_text())
    (corrupt / "checkpoint.pt").write_bytes(b"not a checkpoint")
    results = tmp_path / "results"
    sets = [
        "--set", "mig.num_train=500", "--set", "beta_vae.num_train=20", "--set", "beta_vae.num_eval=20",
        "--set", "beta_vae.batch_size=16", "--set", "factor_vae.num_variance_estimate=200",
        "--set", "factor_vae.num_train=20", "--set", "factor_vae.num_eval=20", "--set", "factor_vae.batch_size=16",
        "--set", "reconstruction.num_images=50",
    ]  # fmt: skip
    cmd = [sys.executable, "-m", "benchmark", "evaluate", str(run), str(tmp_path / "runs" / "missing"), str(corrupt),
           "--metrics", "mig,beta_vae,factor_vae,reconstruction", "--representation", "mean,sampled",
           "--results", str(results), "--seed", "0", "--device", "cpu", *sets]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr  # two of the three checkpoints fail
    assert "missing" in r.stderr and "does not exist" in r.stderr
    assert "CheckpointError" in r.stderr and "checkpoint.pt" in r.stderr and "corrupt" in r.stderr
    assert "[1/3]" in r.stdout and "mean/mig: ok" in r.stdout and "sampled/reconstruction: ok" in r.stdout

    from benchmark.reports import load_results

    df = load_results(results)
    assert df.attrs["unreadable"] == []
    assert len(df) == 8 and df["run.id"].nunique() == 1
    assert df.groupby(["run.id", "eval.representation", "eval.metric"]).size().eq(1).all()
    assert set(df["eval.metric"]) == {"mig", "beta_vae", "factor_vae", "reconstruction"}
    assert (df["status"] == "ok").all()
    assert df["run.id"].iloc[0].startswith("b4s0-") and (df["config.beta"] == 4.0).all()
    assert df["metric.mig"].dropna().between(0, 1).all()
    assert (df["eval.encoder_passes"] <= 737_280).all()

    # the run was trained on dsprites_procedural: another dataset is refused
    with pytest.raises(ValueError, match="trained on dataset 'dsprites_procedural' but dataset 'factor_grid'"):
        evaluate(run, dataset=GRID, metrics="mig")

    # a second invocation skips every record (exit 0 for the good run alone)
    r2 = subprocess.run(cmd[:5] + cmd[7:], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.count("exists, skipped") == 8


def test_force_with_a_typo_leaves_the_ok_record_byte_identical(tmp_path):
    run, results = tmp_path / "run", tmp_path / "results"
    _train_short_run(run)
    evaluate(run, metrics="mig", results_dir=results, mig={"num_train": 200})
    (path,) = results.glob("*/mean__mig.json")
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for bad, named in (("mig.num_train=abc", "mig.num_train"), ("mig.num_train=-5", "mig.num_train"),
                       ("mig.bins=3", "'bins'"), ("nosuchmetric.num_train=5", "'nosuchmetric'")):
        r = subprocess.run([sys.executable, "-m", "benchmark", "evaluate", str(run), "--metrics", "mig", "--results",
                            str(results), "--set", bad, "--force", "--device", "cpu"],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and named in r.stderr, (bad, r.stderr)
        assert path.read_bytes() == before, bad
    with pytest.raises(ValueError, match="mig.num_train must be an integer >= 1, got 'abc'"):
        evaluate(run, metrics="mig", results_dir=results, force=True, mig={"num_train": "abc"})
    assert path.read_bytes() == before


def test_a_half_trained_run_is_refused_then_recomputed_once_finished_and_the_report_shows_the_final_value(tmp_path):
    from benchmark.reports import load_results, runs_table
    from benchmark.training import train

    run, results = tmp_path / "run", tmp_path / "results"
    config = {"dataset": "dsprites_procedural", "beta": 4.0, "steps": 6, "batch_size": 8, "device": "cpu",
              "checkpoint_every": 3, "log_every": 1}
    train({**config, "steps": 3}, run, progress=False)  # a run stopped half way: its config says 3 of 6 ...
    (run / "done.json").unlink()  # ... stands in for one still training (killed before done.json)
    with pytest.raises(ValueError, match="has not finished training .* --allow-unfinished"):
        evaluate(run, metrics="mig", results_dir=results, mig={"num_train": 200})
    (half,) = evaluate(run, metrics="mig", results_dir=results, allow_unfinished=True, mig={"num_train": 200})
    assert (half["run.checkpoint_step"], half["run.finished"]) == (3, False) and len(half["run.checkpoint_sha256"]) == 64

    train({**config, "steps": 3}, run, progress=False)  # the run finishes: done.json at its checkpoint
    lines = []
    (done,) = evaluate(run, metrics="mig", results_dir=results, mig={"num_train": 200}, progress=lines.append)
    assert any("stale (it scored the checkpoint of step 3 before training finished), recomputing" in line
               for line in lines), lines
    assert done["run.finished"] is True and done["metric.mig"] == half["metric.mig"]  # same checkpoint, same value

    train(config, run, progress=False, extend=True)  # trained on to 6 steps: another checkpoint
    frame = load_results(results, warn=False)  # the report never mixes the record of step 3 in
    assert frame.empty and "stale: it scored the checkpoint of step 3" in frame.attrs["unreadable"][0].reason
    (final,) = evaluate(run, metrics="mig", results_dir=results, mig={"num_train": 200})
    assert final["run.id"] != done["run.id"]  # a 6-step model: its own run id (steps is part of the model)
    assert final["run.checkpoint_step"] == 6 and final["run.checkpoint_sha256"] != done["run.checkpoint_sha256"]
    runs = runs_table(load_results(results, warn=False))
    assert runs["metric.mig"].tolist() == [final["metric.mig"]] and runs["run.finished"].tolist() == [True]
