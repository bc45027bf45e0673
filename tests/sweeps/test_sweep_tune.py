"""Sweeps on a real local Ray (2 CPUs): a grid, an injected crash, a killed driver and --resume.

Budgets are tiny (tens of steps, a few hundred metric points): these tests check the sweep mechanics,
not the quality of the models.
"""

import glob
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from benchmark.cli import print_outcome
from benchmark.sweeps.spec import SpecError, parse_spec
from benchmark.sweeps.faults import CRASH_ENV
from benchmark.sweeps.storage import read_events, trial_status
from benchmark.sweeps.tune import run_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METRICS = ["mig", "reconstruction"]
OVERRIDES = {"mig": {"num_train": 300}, "reconstruction": {"num_images": 64, "batch_size": 64}}


def tiny_spec(storage, name="t", steps=40, grid=None, max_failures=1):
    return {
        "name": name,
        "config": {
            "dataset": "dsprites_procedural", "model": "beta_vae", "architecture": "conv", "steps": steps,
            "batch_size": 16, "checkpoint_every": 10, "log_every": 5, "device": "cpu",
        },
        "grid": grid or {"beta": [1, 4], "seed": [0, 1]},
        "resources": {"cpu": 1, "gpu": 0},
        "evaluation": {"metrics": METRICS, "representations": ["mean", "sampled"], "seed": 0,
                       "overrides": OVERRIDES},
        "storage": {"path": str(storage)},
        "failure": {"max_failures": max_failures},
        "checkpoints": {"num_to_keep": 1},
    }


def all_records(results_dir):
    return sorted(glob.glob(os.path.join(results_dir, "*", "*.json")))


def test_grid_of_four_trials_gives_one_record_per_trial_metric_representation(ray_session, tmp_path):
    spec = parse_spec(tiny_spec(tmp_path))
    log = io.StringIO()
    outcome = run_sweep(spec, progress_interval_s=0.5, out=log)
    assert outcome.ok, (outcome, log.getvalue())
    assert sorted(outcome.done) == sorted(t.trial_id for t in spec.trials())

    records = all_records(spec.results_dir)
    assert len(records) == 4 * len(METRICS) * 2
    seen = set()
    for path in records:
        rec = json.loads(open(path).read())
        assert rec["status"] == "ok", rec.get("error")
        trial = next(t for t in spec.trials() if rec["run.id"] == t.trial_id)
        assert rec["config.beta"] == trial.config.beta and rec["config.seed"] == trial.config.seed
        assert rec["run.dir"] == trial.run_dir
        assert rec["protocol.mig.num_train"] == 300 if rec["eval.metric"] == "mig" else True
        seen.add((trial.trial_id, rec["eval.metric"], rec["eval.representation"]))
    assert len(seen) == len(records)
    for t in spec.trials():  # each trial trained to its budget, once
        assert json.load(open(os.path.join(t.run_dir, "done.json")))["step"] == 40
        assert [e["event"] for e in read_events(spec, t.trial_id)] == ["start", "trained", "evaluated"]

    text = log.getvalue()
    assert "4 trials, 0 already complete" in text
    assert " done, 0 failed" in text and "left " in text
    out = io.StringIO()
    print_outcome(spec, outcome, out)
    assert f"results:         {spec.results_dir}" in out.getvalue()
    assert "sampled/mig" in out.getvalue() and "mean/reconstruction.bernoulli_nll" in out.getvalue()

    # Running it again (resume) finds everything complete on storage: no Ray run, nothing rewritten.
    mtimes = {p: os.stat(p).st_mtime_ns for p in records}
    again = run_sweep(spec, resume=True, out=io.StringIO())
    assert again.ok and len(again.done) == 4
    assert {p: os.stat(p).st_mtime_ns for p in all_records(spec.results_dir)} == mtimes

    # Without --resume an existing sweep is refused rather than silently mixed.
    with pytest.raises(SpecError, match="--resume"):
        run_sweep(spec, out=io.StringIO())


def test_injected_crash_resumes_from_checkpoint_and_matches_an_uninterrupted_run(ray_session, tmp_path, monkeypatch):
    import torch

    from benchmark.evaluation import evaluate
    from benchmark.training import train

    spec = parse_spec(tiny_spec(tmp_path, name="crash", grid={"beta": [4], "seed": [3]}))
    (trial,) = spec.trials()
    monkeypatch.setenv(CRASH_ENV, f"{trial.trial_id}@25")
    outcome = run_sweep(spec, out=io.StringIO())
    assert outcome.ok, outcome

    marker = os.path.join(spec.root, "faults", f"{trial.trial_id}@25.json")
    assert json.load(open(marker))["step"] == 25
    events = read_events(spec, trial.trial_id)
    assert [e["event"] for e in events] == ["start", "crash", "error", "start", "trained", "evaluated"]
    assert events[0]["has_checkpoint"] is False  # the first attempt started from scratch
    # The retry got Tune's checkpoint of step 20 (the last before the crash) and training resumed there.
    assert events[3]["tune_checkpoint_step"] == 20 and events[3]["has_checkpoint"] is True
    assert events[4]["summary"]["resumed_from"] == 20

    # The same config trained and evaluated without interruption, outside Ray.
    ref_dir, ref_results = tmp_path / "ref" / trial.trial_id, tmp_path / "ref_results"
    train(trial.config, ref_dir, progress=False)
    ref = evaluate(str(ref_dir), metrics=METRICS, representation=["mean", "sampled"], seed=0,
                   results_dir=str(ref_results), **OVERRIDES)

    got = torch.load(os.path.join(trial.run_dir, "checkpoint.pt"), weights_only=True)
    want = torch.load(os.path.join(ref_dir, "checkpoint.pt"), weights_only=True)
    assert got["step"] == want["step"] == 40
    assert got["model"].keys() == want["model"].keys()
    for k in want["model"]:
        assert torch.equal(got["model"][k], want["model"][k]), k

    swept = {}
    for path in all_records(spec.results_dir):
        rec = json.load(open(path))
        swept[(rec["eval.metric"], rec["eval.representation"])] = rec
    assert len(swept) == len(ref) == 4
    for rec in ref:
        mine = swept[(rec["eval.metric"], rec["eval.representation"])]
        values = {k: v for k, v in rec.items() if k.startswith("metric.")}
        assert values and values == {k: v for k, v in mine.items() if k.startswith("metric.")}


def _kill_session(sid):
    """SIGKILL every process of session ``sid``: the driver and the Ray processes it started.

    Ray's workers get their own process groups but stay in the driver's session, so the session id is
    what finds them all (never `ray stop`: it would kill every Ray on the machine, the test session's too).
    """
    for _ in range(3):
        victims = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.getsid(int(pid)) == sid:
                        victims.append(int(pid))
                except (ProcessLookupError, PermissionError):
                    pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not victims:
            return
        time.sleep(0.5)


def test_killed_driver_then_resume_finishes_every_trial_exactly_once(tmp_path, quiet_env):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec(tmp_path / "store", name="killed", steps=60)))
    spec = parse_spec(yaml.safe_load(spec_path.read_text()))
    env = {**quiet_env, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "benchmark", "sweep", str(spec_path), "--num-cpus", "2", "--no-report"]
    first_log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=first_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            finished = [t for t in spec.trials() if any(e["event"] == "evaluated" for e in read_events(spec, t.trial_id))]
            if finished:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be killed:\n" + open(tmp_path / "first.log").read()
        assert finished, "no trial finished in time:\n" + open(tmp_path / "first.log").read()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_session(proc.pid)  # start_new_session: the session id is the driver's pid
        first_log.close()

    before = {t.trial_id: trial_status(t, spec) for t in spec.trials()}
    assert any(s["complete"] for s in before.values())
    assert not all(s["complete"] for s in before.values())
    snapshot = {p: open(p, "rb").read() for p in all_records(spec.results_dir)}
    events_before = {t.trial_id: len(read_events(spec, t.trial_id)) for t in spec.trials()}

    second = subprocess.Popen(cmd + ["--resume"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        stdout, stderr = second.communicate(timeout=400)
    finally:
        second.kill()
        _kill_session(second.pid)  # Ray processes that outlive their driver for a while
    res = subprocess.CompletedProcess(second.args, second.returncode, stdout, stderr)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "set Ray's previous state aside, unread" in res.stdout
    assert "4/4 trials done, 0 incomplete, 0 failed records" in res.stdout

    records = all_records(spec.results_dir)
    assert len(records) == 4 * len(METRICS) * 2  # nothing lost, nothing duplicated
    for path, data in snapshot.items():  # what was written before the kill was kept as it was
        assert open(path, "rb").read() == data
    for t in spec.trials():
        events = read_events(spec, t.trial_id)
        assert [e["event"] for e in events].count("trained") == 1, events
        # Records are written once: those from before the kill were not rewritten (their bytes are equal,
        # above) and the ones written after it are new; together they are all of the trial's records.
        def written(evs):
            return [os.path.join(spec.results_dir, w) for e in evs if e["event"] == "evaluated" for w in e["written"]]

        after = written(events[events_before[t.trial_id]:])
        mine = {p for p in records if os.path.basename(os.path.dirname(p)) == t.run_id}
        kept = {p for p in snapshot if p in mine}
        assert len(after) == len(set(after)) and not set(after) & kept, events
        assert set(after) | kept == mine and len(mine) == len(METRICS) * 2, events
        assert len(written(events)) == len(set(written(events))), events
        steps = [json.loads(line)["step"] for line in open(os.path.join(t.run_dir, "log.jsonl"))]
        assert steps == sorted(set(steps)) and steps[-1] == 60


def test_uri_storage_is_the_source_of_truth(ray_session, tmp_path, monkeypatch):
    """A ``file://`` URI goes through the same pyarrow mirror as ``s3://``: trials work in a local scratch copy
    and push checkpoints, records and events to the storage; a driver with an empty mirror finds it all there."""
    remote_root = tmp_path / "bucket"
    monkeypatch.setenv("DBENCH_SWEEP_SCRATCH", str(tmp_path / "scratch"))
    spec = parse_spec(tiny_spec(f"file://{remote_root}", name="uri", steps=20, grid={"beta": [4], "seed": [0]}))
    assert spec.is_remote and spec.root == f"file://{remote_root}/uri"
    outcome = run_sweep(spec, out=io.StringIO())
    assert outcome.ok, outcome
    (trial,) = spec.trials()
    on_storage = remote_root / "uri"
    assert json.load(open(on_storage / "runs" / trial.trial_id / "done.json"))["step"] == 20
    assert (on_storage / "runs" / trial.trial_id / "checkpoint.pt").is_file()
    assert len(all_records(str(on_storage / "results"))) == len(METRICS) * 2
    assert any((on_storage / "tune").glob("experiment_state*.json"))
    events = [json.loads(line)["event"] for line in open(on_storage / "trials" / f"{trial.trial_id}.jsonl")]
    assert events == ["start", "trained", "evaluated"]

    # A fresh mirror (another machine): resume reads the state from the storage and re-runs nothing.
    monkeypatch.setenv("DBENCH_SWEEP_SCRATCH", str(tmp_path / "scratch2"))
    again = run_sweep(spec, resume=True, out=io.StringIO())
    assert again.ok and again.done == [trial.trial_id]
    assert len(all_records(again.local_results_dir)) == len(METRICS) * 2


# 40 s; the default run kills a driver and resumes (test_killed_driver_then_resume_...) and resumes a crashed
# trial from its checkpoint (test_injected_crash_...); joining a running Ray is also tests/sweeps/test_cluster.py's
@pytest.mark.slow
def test_sigterm_stops_gracefully_and_resume_joins_a_running_ray(ray_session, tmp_path, quiet_env):
    """SIGTERM to the driver ends the sweep like Ctrl-C (Tune saves its state, the driver says how to go on);
    ``--resume --address`` then continues it on an already running Ray (this test session's), and the
    interrupted trial resumes from its checkpoint."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec(tmp_path / "store", name="term", steps=200,
                                                  grid={"beta": [4], "seed": [0]})))
    spec = parse_spec(yaml.safe_load(spec_path.read_text()))
    (trial,) = spec.trials()
    env = {**quiet_env, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "benchmark", "sweep", str(spec_path), "--no-report"]
    proc = subprocess.Popen(cmd + ["--num-cpus", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        ckpt = os.path.join(trial.run_dir, "checkpoint.pt")
        while time.monotonic() < deadline and proc.poll() is None and not os.path.exists(ckpt):
            time.sleep(0.2)
        assert os.path.exists(ckpt) and proc.poll() is None
        os.kill(proc.pid, signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
        _kill_session(proc.pid)
    assert proc.returncode == 1, stdout
    assert "0/1 trials done, 1 incomplete" in stdout and "--resume" in stdout, stdout
    assert any((tmp_path / "store" / "term" / "tune").glob("experiment_state*.json"))
    assert not os.path.exists(os.path.join(trial.run_dir, "done.json"))

    address = ray_session.get_runtime_context().gcs_address
    res = subprocess.run(cmd + ["--resume", "--address", address], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"ray: joined the Ray cluster at {address}: 1 node(s), 2 CPUs" in res.stdout
    assert "1/1 trials done" in res.stdout
    starts = [e for e in read_events(spec, trial.trial_id) if e["event"] == "start"]
    trained = [e for e in read_events(spec, trial.trial_id) if e["event"] == "trained"]
    assert len(starts) == 2 and starts[1]["has_checkpoint"] and len(trained) == 1
    assert trained[0]["summary"]["resumed_from"] >= 10


class _Payload:
    """A pickle that runs code when unpickled: it creates the file named by its argument."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_never_unpickles_what_the_storage_holds(ray_session, tmp_path):
    """Anyone who can write to shared storage could plant a pickle beside Ray's state: --resume must not load it."""
    import pickle

    spec = parse_spec(tiny_spec(tmp_path, name="planted", steps=10, grid={"beta": [4], "seed": [0]}))
    tune_dir = os.path.join(spec.root, "tune")
    os.makedirs(tune_dir)
    marker = tmp_path / "payload_ran"
    for name in ("tuner.pkl", "trainable.pkl"):
        with open(os.path.join(tune_dir, name), "wb") as f:
            pickle.dump(_Payload(marker), f)
    with open(os.path.join(tune_dir, "experiment_state-2026-01-01_00-00-00.json"), "w") as f:
        f.write("{}")
    log = io.StringIO()
    outcome = run_sweep(spec, resume=True, out=log)
    assert outcome.ok, log.getvalue()
    assert not marker.exists(), "a pickle from the storage was loaded"
    assert "set Ray's previous state aside, unread" in log.getvalue()
    assert glob.glob(os.path.join(spec.root, "tune.previous-*", "tuner.pkl"))  # kept, never read
