"""A report over a sweep knows its expected grid: every trial that is not complete is listed by id and state.

The sweep is built the way a sweep builds it, without Ray: the layout, trial ids, run directories and results
folder are what :mod:`benchmark.sweeps.spec` computes for each trial, ``sweep.json`` is the resolved spec the
sweep writes (``spec.to_dict()``), and each trial is trained by ``benchmark.training.train`` and scored by
``benchmark.evaluation.evaluate`` as ``benchmark.sweeps.tune`` does (tiny budgets).
"""

import json
import os
import shutil

import pytest

from benchmark import records
from benchmark._io import atomic_write_json
from benchmark.cli import main
from benchmark.reports.grid import TrialState
from benchmark.sweeps.spec import parse_spec
from benchmark.sweeps.storage import trial_status

METRICS = ["mig", "reconstruction"]
OVERRIDES = {"mig": {"num_train": 200}, "reconstruction": {"num_images": 32, "batch_size": 32}}


def _spec(storage):
    return parse_spec({
        "name": "tiny",
        "config": {"dataset": "dsprites_procedural", "model": "beta_vae", "architecture": "conv", "steps": 3,
                   "batch_size": 8, "num_latents": 4, "checkpoint_every": 3, "log_every": 1, "device": "cpu"},
        "grid": {"beta": [1, 4, 16], "seed": [0, 1]},
        "evaluation": {"metrics": METRICS, "representations": ["mean"], "overrides": OVERRIDES},
        "storage": {"path": str(storage)},
    })


def _run_trial(spec, trial):
    """Train and evaluate one trial as ``benchmark.sweeps.tune._train_and_evaluate`` does."""
    from benchmark.evaluation import evaluate
    from benchmark.training import train

    ev = spec.evaluation
    train(trial.config, trial.run_dir, progress=False)
    evaluate(trial.run_dir, metrics=list(ev.metrics), representation=list(ev.representations), seed=ev.seed,
             results_dir=trial.results_dir, device="cpu", protocol=ev.protocol,
             **{k: dict(v) for k, v in ev.overrides.items()})


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep of 6 trials, 5 of them trained and evaluated (the 6th never started): (spec, trials)."""
    spec = _spec(tmp_path_factory.mktemp("storage"))
    atomic_write_json(f"{spec.root}/sweep.json", spec.to_dict())  # what run_sweep writes
    trials = spec.trials()
    for t in trials[:5]:
        _run_trial(spec, t)
    return spec, trials


def _report(args, capsys):
    assert main(["report", *map(str, args), "--no-checkpoints", "--jobs", "1"]) == 0
    return capsys.readouterr()


def test_trial_states_follow_the_storage(sweep, tmp_path):
    spec, trials = sweep
    states = [TrialState.from_status(t.trial_id, t.config.to_dict(), os.path.isdir(t.run_dir),
                                     trial_status(t, spec)).state for t in trials]
    assert states == ["complete"] * 5 + ["not started"]


def test_report_over_a_sweep_lists_missing_trials_and_never_says_nothing_missing(sweep, tmp_path, capsys):
    spec, trials = sweep
    copy = tmp_path / "storage" / "tiny"
    shutil.copytree(spec.root, copy)  # the sweep moved: the report follows the folder, not sweep.json's path
    not_evaluated, unfinished, not_started = trials[1].trial_id, trials[2].trial_id, trials[5].trial_id
    shutil.rmtree(copy / "results" / not_evaluated)  # one trial's records removed
    (copy / "runs" / unfinished / records.DONE_FILE).unlink()  # another trial's done.json removed
    failed = copy / "results" / trials[3].trial_id / "mean__mig.json"
    rec = json.loads(failed.read_text())
    rec = {k: v for k, v in rec.items() if not k.startswith("metric.")} | {"status": "failed", "error": "boom"}
    failed.write_text(json.dumps(rec))

    out = _report([copy, "--out", tmp_path / "report", "--format", "html,csv"], capsys).out
    assert "sweep tiny: 6 trials expected: 1 not started, 1 unfinished, 1 failed, 1 not evaluated, 2 complete" in out
    assert f"not evaluated: {not_evaluated} (trained; no record)" in out
    assert f"unfinished: {unfinished} (training did not reach its step budget (no done.json)" in out
    assert f"not started: {not_started}" in out and f"failed: {trials[3].trial_id}" in out
    page = (tmp_path / "report" / "report.html").read_text()
    for tid, state in ((not_evaluated, "not evaluated"), (unfinished, "unfinished"), (not_started, "not started"),
                       (trials[3].trial_id, "failed")):
        assert f"{tid} ({state})" in page  # the warning
        assert f"<td>{tid}</td>" in page  # the grid table
    assert "sweep tiny: 4 of 6 trials are not complete" in page
    assert "nothing failed or is missing" not in page and "Every expected evaluation" not in page
    grid = (tmp_path / "report" / "tables" / "grid.csv").read_text()
    assert f"{not_evaluated}," in grid and "not evaluated" in grid
    # the records a trial lacks are counted as missing (2 metrics for the not-started and the not-evaluated one)
    assert "2 failed and 4 missing evaluations" not in page  # one failed record only
    assert "1 failed and 4 missing evaluations" in page


def test_a_complete_sweep_and_a_plain_results_folder(sweep, tmp_path, capsys):
    spec, trials = sweep
    copy = tmp_path / "done" / "tiny"
    shutil.copytree(spec.root, copy)
    moved = spec.with_storage(str(copy.parent))
    _run_trial(moved, moved.trials()[5])  # the trial that never started, run: the grid is complete
    out = _report([copy / "results", "--out", tmp_path / "r1", "--format", "html"], capsys).out
    assert "sweep tiny: 6 trials expected: 6 complete" in out
    assert "Every expected evaluation has a result" in (tmp_path / "r1" / "report.html").read_text()

    plain = tmp_path / "plain"
    shutil.copytree(copy / "results", plain)  # the same records, without their sweep
    out = _report([plain, "--out", tmp_path / "r2", "--format", "html"], capsys).out
    assert f"no sweep grid for {plain}" in out
    page = (tmp_path / "r2" / "report.html").read_text()
    assert "a run that left no record cannot be known to be missing" in page
    assert "Every expected evaluation has a result" not in page
