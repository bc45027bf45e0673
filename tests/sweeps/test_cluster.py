"""A two-node Ray cluster on this machine (Ray's own ``ray.cluster_utils.Cluster``: a head and a worker node, each
a raylet of its own with 1 CPU, sharing this filesystem as their storage), and evaluation fanned out over Ray.

The README promises that a lost node costs at most the steps since each trial's last checkpoint and that an
interrupted evaluation resumes by skipping what exists; these tests remove a node, or kill the driver, while
work runs on it, and compare everything with an undisturbed run.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from test_sweep_tune import ROOT, _kill_session, all_records, tiny_spec

from benchmark.config import TrainConfig
from benchmark.evaluation import evaluate
from benchmark.sweeps.spec import parse_spec
from benchmark.sweeps.storage import read_events
from benchmark.sweeps.tune import LOCAL_ENV, QUIET_ENV
from benchmark.training import train

QUIET = {**QUIET_ENV, **LOCAL_ENV}
# The fan-out's metrics: several records per run, so a run is still in progress when its node goes.
EVAL_METRICS = "mig,sap,modularity,unsupervised"
EVAL_FLAGS = ["--metrics", EVAL_METRICS, "--representation", "mean,sampled", "--protocol", "quick", "--device", "cpu"]


def _values(records):
    """``(run, representation, metric) -> the record's metric values``: what must not depend on how it ran."""
    return {(r["run.id"], r["eval.representation"], r["eval.metric"]): {k: v for k, v in r.items() if k.startswith("metric.")}
            for r in records}


def _read(paths):
    return [json.load(open(p)) for p in paths]


def _wait(predicate, proc, log, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out or the driver ended (rc {proc.poll()}):\n{open(log).read()}")


def _serial_reference(run_dirs, results):
    out = []
    for run_dir in run_dirs:
        out += evaluate(run_dir, metrics=EVAL_METRICS, representation="mean,sampled", protocol="quick",
                        results_dir=str(results))
    return _values(out)


@pytest.fixture
def cluster(tmp_path):
    """A head node and a worker node, 1 CPU each, quiet settings; torn down (never with ``ray stop``)."""
    for k, v in {**QUIET, "OMP_NUM_THREADS": "1"}.items():
        os.environ.setdefault(k, v)
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, connect=False,
                head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _driver(cmd, tmp_path, name):
    log = tmp_path / f"{name}.log"
    env = {**os.environ, **QUIET, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *cmd], env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


# Slow (1.5-2 min each on 2 cores) and, in one full default run under heavy load, both failed after the other
# tests (untriaged; each passes on its own): run with `pytest -m slow tests/sweeps/test_cluster.py`.
@pytest.mark.slow
def test_a_lost_worker_node_costs_only_the_steps_since_the_last_checkpoint(cluster, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    raw = tiny_spec(tmp_path / "store", name="lost", steps=120, grid={"beta": [1, 4], "seed": [0]})
    spec_path.write_text(yaml.safe_dump(raw))
    spec = parse_spec(raw)
    worker_node = cluster.worker.node_id

    # -- a sweep of two 1-CPU trials: one per node; the worker node is removed while its trial trains
    proc, log = _driver(["sweep", str(spec_path), "--address", cluster.address, "--no-report"], tmp_path, "sweep")
    try:
        def on_worker():
            for t in spec.trials():
                starts = [e for e in read_events(spec, t.trial_id) if e["event"] == "start"]
                if starts and starts[0]["node"] == worker_node and os.path.exists(os.path.join(t.run_dir, "checkpoint.pt")):
                    return t
            return None

        _wait(on_worker, proc, log)
        lost = on_worker()
        assert not os.path.exists(os.path.join(lost.run_dir, "done.json"))
        cluster.remove_node(cluster.worker, allow_graceful=False)
        proc.wait(timeout=400)
    finally:
        proc.kill()
        _kill_session(proc.pid)
    text = open(log).read()
    assert proc.returncode == 0, text
    assert "2/2 trials done, 0 incomplete, 0 failed records" in text, text

    events = read_events(spec, lost.trial_id)
    starts = [e for e in events if e["event"] == "start"]
    trained = [e for e in events if e["event"] == "trained"]
    assert [s["node"] == worker_node for s in starts] == [True, False], events  # retried on the head node
    assert starts[1]["has_checkpoint"] and len(trained) == 1 and trained[0]["summary"]["resumed_from"] >= 10, events
    steps = [json.loads(line)["step"] for line in open(os.path.join(lost.run_dir, "log.jsonl"))]
    assert steps == sorted(set(steps)) and steps[-1] == 120  # no step logged twice

    # every trial equal to the same config trained and evaluated without Ray, undisturbed
    records = all_records(spec.results_dir)
    assert len(records) == 2 * 2 * 2 and len(set(records)) == len(records)
    swept = _values(_read(records))
    for t in spec.trials():
        ref_dir = tmp_path / "ref" / t.trial_id
        train(t.config, ref_dir, progress=False)
        got = torch.load(os.path.join(t.run_dir, "checkpoint.pt"), weights_only=True)["model"]
        want = torch.load(ref_dir / "checkpoint.pt", weights_only=True)["model"]
        assert all(torch.equal(got[k], want[k]) for k in want), t.trial_id
        ref = evaluate(str(ref_dir), metrics=raw["evaluation"]["metrics"], representation=["mean", "sampled"],
                       seed=0, run_id_override=t.trial_id, **raw["evaluation"]["overrides"])
        assert {k: v for k, v in swept.items() if k[0] == t.trial_id} == _values(ref)

    # -- the evaluation of both runs fanned out over a fresh worker node, which is removed mid-run
    cluster.worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    runs = [t.run_dir for t in spec.trials()]
    results = tmp_path / "fanout"
    proc, log = _driver(["evaluate", *runs, "--address", cluster.address, "--results", str(results), *EVAL_FLAGS],
                        tmp_path, "fanout")
    per_run = 2 * len(EVAL_METRICS.split(","))
    try:
        # both runs in progress at once (1 CPU per node, 1 per task): one of them is on the worker node
        def both_started():
            counts = [len(glob.glob(os.path.join(results, t.run_id, "*.json"))) for t in spec.trials()]
            return all(0 < n < per_run for n in counts)

        _wait(both_started, proc, log)
        cluster.remove_node(cluster.worker, allow_graceful=False)
        proc.wait(timeout=400)
    finally:
        proc.kill()
        _kill_session(proc.pid)
    text = open(log).read()
    assert proc.returncode == 0, text
    assert "evaluated 2/2 runs without failure" in text, text
    # both runs were in progress on the two nodes; both ended on the head node: the worker's run was retried there
    assert text.count(f"(node {cluster.head_node.node_id[:8]})") == 2, text
    records = all_records(results)
    assert len(records) == 2 * per_run
    assert _values(_read(records)) == _serial_reference(runs, tmp_path / "serial")


@pytest.mark.slow
def test_evaluate_address_fans_runs_out_and_resumes_after_a_kill(ray_session, tmp_path):
    """``dbench evaluate --address`` on this session's Ray: the records of a serial evaluation; a driver killed
    mid-way and run again writes only what was missing, each record once."""
    runs = []
    for seed in (0, 1):
        raw = tiny_spec(tmp_path, steps=20)["config"]
        config = TrainConfig.from_dict({**raw, "seed": seed}, what="test")
        train(config, tmp_path / f"run{seed}", progress=False)
        runs.append(str(tmp_path / f"run{seed}"))
    address = ray_session.get_runtime_context().gcs_address
    results = tmp_path / "fanout"
    cmd = ["evaluate", *runs, "--address", address, "--results", str(results), *EVAL_FLAGS]
    per_run = 2 * len(EVAL_METRICS.split(","))

    proc, log = _driver(cmd, tmp_path, "first")
    try:
        _wait(lambda: len(all_records(results)) >= 2, proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_session(proc.pid)
    kept = {p: open(p, "rb").read() for p in all_records(results)}
    assert 0 < len(kept) < 2 * per_run, open(log).read()

    proc, log = _driver(cmd, tmp_path, "second")
    proc.wait(timeout=300)
    text = open(log).read()
    assert proc.returncode == 0, text
    assert f"ray: joined the Ray cluster at {address}" in text and "evaluated 2/2 runs without failure" in text, text
    assert text.count("exists, skipped") == 0  # the tasks' lines stay on their workers; the driver prints a line per run
    records = all_records(results)
    assert len(records) == 2 * per_run
    assert all(open(p, "rb").read() == data for p, data in kept.items())  # written before the kill: kept as they were
    assert _values(_read(records)) == _serial_reference(runs, tmp_path / "serial")
