"""Bad command lines, as a careless user types them: each exits 2 with one clear message, no traceback, and
changes no file that existed before (real subprocesses of the CLI on real run directories and records)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SPEC = """name: s
config: {{dataset: dsprites_procedural, steps: 2, batch_size: 4, device: cpu}}
{extra}
evaluation: {{metrics: [mig]}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished tiny run with an ok record, damaged copies of it, spec files and plain files to misuse."""
    from benchmark.evaluation import evaluate
    from benchmark.training import state_digest, train

    w = tmp_path_factory.mktemp("world")
    run = w / "run"
    train({"dataset": "dsprites_procedural", "steps": 2, "batch_size": 4, "device": "cpu", "checkpoint_every": 2}, run,
          progress=False)
    evaluate(run, metrics="mig", results_dir=w / "results", mig={"num_train": 100})
    (w / "file.txt").write_text("not a folder")
    (w / "dir").mkdir()
    for name, content in {"empty": "", "invalid": "{nope", "list": "[1]"}.items():
        (w / f"cfg_{name}").mkdir()
        (w / f"cfg_{name}" / "config.json").write_text(content)
    (w / "cfg_dir" / "config.json").mkdir(parents=True)
    (w / "list.json").write_text("[1]")
    (w / "bad.json").write_text("{nope")
    good = (run / "checkpoint.pt").read_bytes()
    for name, data in {"truncated": good[: len(good) // 2], "flipped": _flip(good)}.items():
        (w / name).mkdir()
        (w / name / "config.json").write_text((run / "config.json").read_text())
        (w / name / "checkpoint.pt").write_bytes(data)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["step"] = "5"
    (w / "stepstr").mkdir()
    (w / "stepstr" / "config.json").write_text((run / "config.json").read_text())
    torch.save({**ckpt, "sha256": state_digest(ckpt)}, w / "stepstr" / "checkpoint.pt")
    specs = {
        "config_list": "name: s\nconfig: [1, 2]\n", "nan": SPEC.format(extra="grid: {beta: [.nan]}"),
        "step0": SPEC.format(extra="grid: {seed: {range: [0, 10, 0]}}"),
        "huge": SPEC.format(extra="grid: {seed: {range: 1000000000}}"), "yaml": "name: [unclosed\n",
        "unknown": SPEC.format(extra="grids: {beta: [1]}"), "ok": SPEC.format(extra="grid: {beta: [1]}"),
        "overrides": SPEC.format(extra="grid: {beta: [1]}").replace("[mig]}", "[mig], overrides: {mig: {num_train: -5}}}"),
    }
    for name, text in specs.items():
        (w / f"{name}.yaml").write_text(text)
    return w


def _flip(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0x5A
    b[len(b) // 2 + 3] ^= 0x5A
    return bytes(b)


TRAIN = ["train", "--dataset", "dsprites_procedural", "--steps", "2", "--batch_size", "4", "--device", "cpu"]
CASES = {
    # dbench train
    "resume_missing": (["train", "--resume", "{w}/does_not_exist"], "does_not_exist"),
    "resume_file": (["train", "--resume", "{w}/file.txt"], "is a file, not a run directory"),
    "config_empty": (["train", "--resume", "{w}/cfg_empty"], "cfg_empty/config.json"),
    "config_invalid": (["train", "--resume", "{w}/cfg_invalid"], "cfg_invalid/config.json"),
    "config_list": (["train", "--resume", "{w}/cfg_list"], "expected a mapping"),
    "config_dir": (["train", "--resume", "{w}/cfg_dir"], "cfg_dir/config.json"),
    "config_flag_list": ([*TRAIN, "--config", "{w}/list.json", "--out", "{w}/new1"], "--config {w}/list.json"),
    "config_flag_missing": ([*TRAIN, "--config", "{w}/nope.json", "--out", "{w}/new2"], "{w}/nope.json"),
    "config_flag_invalid": ([*TRAIN, "--config", "{w}/bad.json", "--out", "{w}/new3"], "not valid JSON"),
    "out_is_file": ([*TRAIN, "--out", "{w}/file.txt"], "{w}/file.txt"),
    "out_under_file": ([*TRAIN, "--out", "{w}/file.txt/run"], "{w}/file.txt"),
    "recon_png_dir": ([*TRAIN, "--out", "{w}/new4", "--recon-png", "{w}/dir"], "--recon-png"),
    "recon_png_under_file": ([*TRAIN, "--out", "{w}/new5", "--recon-png", "{w}/file.txt/r.png"], "--recon-png"),
    "unknown_field": ([*TRAIN, "--betta", "4", "--out", "{w}/new6"], "--betta"),
    "batch_text": ([*TRAIN, "--batch_size", "zero", "--out", "{w}/new7"], "batch_size"),
    "beta_negative": ([*TRAIN, "--beta", "-1", "--out", "{w}/new8"], "beta must be >= 0"),
    "steps_fraction": ([*TRAIN, "--steps", "1.5", "--out", "{w}/new9"], "steps must be an integer"),
    "device": ([*TRAIN, "--device", "gpu", "--out", "{w}/new10"], "device must be auto, cpu"),
    "model": ([*TRAIN, "--model", "nope", "--out", "{w}/new11"], "unknown model 'nope'"),
    "resume_other_beta": (["train", "--resume", "{w}/run", "--beta", "4"], "beta: 1.0 in the run, 4.0 given"),
    "resume_other_steps": (["train", "--resume", "{w}/run", "--steps", "9"], "--extend"),
    "out_and_resume": (["train", "--resume", "{w}/run", "--out", "{w}/other"], "give either --out or --resume"),
    "no_run_dir": (TRAIN, "give --out RUN_DIR"),
    "checkpoint_step_text": (["train", "--resume", "{w}/stepstr"], "step must be a non-negative integer"),
    "checkpoint_truncated": (["train", "--resume", "{w}/truncated"], "truncated or corrupt"),
    "checkpoint_flipped": (["train", "--resume", "{w}/flipped"], "checksum mismatch"),
    # dbench evaluate
    "set_text": (["evaluate", "{w}/run", "--metrics", "mig", "--set", "mig.num_train=abc", "--force",
                  "--results", "{w}/results"], "mig.num_train must be an integer"),
    "set_shape": (["evaluate", "{w}/run", "--set", "mig", "--results", "{w}/results"], "--set expects METRIC.PARAM=VALUE"),
    "set_metric": (["evaluate", "{w}/run", "--set", "nosuch.x=1", "--results", "{w}/results"], "'nosuch'"),
    "set_choice": (["evaluate", "{w}/run", "--metrics", "dci", "--set", "dci.classifier=xgb", "--results",
                    "{w}/results"], "dci.classifier must be one of gradient_boosting, sklearn, random_forest, got 'xgb'"),
    "metrics": (["evaluate", "{w}/run", "--metrics", "nope", "--results", "{w}/results"], "'nope'"),
    "representation": (["evaluate", "{w}/run", "--representation", "median", "--results", "{w}/results"], "'median'"),
    "results_is_file": (["evaluate", "{w}/run", "--metrics", "mig", "--results", "{w}/file.txt"], "--results"),
    "cpus_per_run": (["evaluate", "{w}/run", "--address", "auto", "--cpus-per-run", "0", "--results", "{w}/results"],
                     "--cpus-per-run must be > 0"),
    # dbench sweep
    "spec_missing": (["sweep", "{w}/nope.yaml", "--dry-run"], "not found"),
    "spec_config_list": (["sweep", "{w}/config_list.yaml", "--dry-run"], "config: must be a mapping"),
    "spec_nan": (["sweep", "{w}/nan.yaml", "--dry-run"], "beta must be a finite number"),
    "spec_range_step": (["sweep", "{w}/step0.yaml", "--dry-run"], "grid.seed.range: the step must not be 0"),
    "spec_huge": (["sweep", "{w}/huge.yaml", "--dry-run"], "1,000,000,000 trials"),
    "spec_yaml": (["sweep", "{w}/yaml.yaml", "--dry-run"], "not valid YAML"),
    "spec_unknown_key": (["sweep", "{w}/unknown.yaml", "--dry-run"], "unknown field(s) 'grids'"),
    "spec_overrides": (["sweep", "{w}/overrides.yaml", "--dry-run"], "mig.num_train must be an integer >= 1"),
    "storage_is_file": (["sweep", "{w}/ok.yaml", "--storage", "{w}/file.txt"], "{w}/file.txt"),
    "max_trials": (["sweep", "{w}/ok.yaml", "--dry-run", "--max-trials", "0"], "more than the limit of 0"),
    # dbench report
    "report_missing": (["report", "{w}/nowhere", "--out", "{w}/rep1"], "does not exist"),
    "report_out_file": (["report", "{w}/results", "--out", "{w}/file.txt", "--no-checkpoints"], "{w}/file.txt"),
    "report_limit": (["report", "{w}/results", "--out", "{w}/rep2", "--max-checkpoint-runs", "-1"],
                     "--max-checkpoint-runs must be >= 0"),
    "report_metric": (["report", "{w}/results", "--out", "{w}/rep3", "--metrics", "nosuch"], "'nosuch'"),
    # dbench datasets
    "dataset_name": (["datasets", "show", "nope", "--out", "{w}/x.png"], "unknown dataset 'nope'"),
    "max_columns": (["datasets", "show", "dsprites_procedural", "--out", "{w}/x.png", "--max-columns", "0"],
                    "--max-columns must be >= 1"),
    "check_missing_file": (["datasets", "check", "dsprites", "--path", "{w}/none.npz"], "none.npz"),
}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_invocation_exits_2_with_one_clear_line_and_changes_nothing(world, case):
    argv, needle = CASES[case]
    argv = [a.format(w=world) for a in argv]
    before = _snapshot(world)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "benchmark", *argv], capture_output=True, text=True, env=env,
                         cwd=world, timeout=300)
    assert res.returncode == 2, (case, res.returncode, res.stdout[-500:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr, (case, res.stderr)
    assert needle.format(w=world) in res.stderr, (case, res.stderr)
    assert _snapshot(world) == before, case


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_evaluate_names_a_file_given_as_a_run_directory(world):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "benchmark", "evaluate", str(world / "file.txt"), "--metrics", "mig",
                          "--results", str(world / "results")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 1 and f"{world / 'file.txt'} is a file; give a run directory" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_last_checkpoint(world, tmp_path, monkeypatch,
                                                                                     capsys):
    import errno
    import shutil

    from benchmark import cli, training

    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    before = (run / "checkpoint.pt").read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(run / ".checkpoint.pt.x.tmp"))

    monkeypatch.setattr(training.torch, "save", full)
    rc = cli.main(["train", "--resume", str(run), "--steps", "4", "--extend", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err
    assert (run / "checkpoint.pt").read_bytes() == before and not list(run.glob(".*.tmp"))
