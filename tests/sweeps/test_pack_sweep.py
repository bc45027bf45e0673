"""Sweeps with ``packing:``: trials grouped into packs, one Tune trial each; a crash in a pack is retried and every
member ends equal to an uninterrupted pack, trained and evaluated once."""

import io
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from test_sweep_tune import METRICS, OVERRIDES, all_records, tiny_spec

from benchmark.sweeps.faults import CRASH_ENV
from benchmark.sweeps.spec import Pack, SpecError, pack_trials, parse_spec, trial_table
from benchmark.sweeps.storage import read_events
from benchmark.sweeps.tune import run_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_packing_groups_trials_that_share_a_network_and_the_dry_run_shows_the_packs(tmp_path):
    data = {**tiny_spec(tmp_path), "packing": {"models_per_trial": 3},
            "methods": {"beta_vae": {"beta": [1, 4]}, "factor_vae": {"gamma": [10], "steps": [20]}}, "grid": {"seed": [0, 1]}}
    data["config"] = {k: v for k, v in data["config"].items() if k != "model"}
    spec = parse_spec(data)
    units = pack_trials(spec.trials(), 3)
    # The four β-VAEs share a network (they differ in β and seed): a pack of 3 and one lone trial; the FactorVAEs
    # train for another budget, so they pack apart.
    assert [len(u.trials) if isinstance(u, Pack) else 1 for u in units] == [3, 1, 2]
    assert {t.config.steps for t in units[2].trials} == {20} and units[0].pack_id.startswith("pack3-")
    assert pack_trials(spec.trials(), 3)[0].pack_id == units[0].pack_id, "the same members give the same id"
    assert pack_trials(spec.trials(), 1) == spec.trials()
    assert trial_table(spec).splitlines()[0].split()[-3:] == ["pack", "cpu", "gpu"]
    assert "6 trials in 3 Tune trials (packs of up to 3 models" in spec.resources_summary(2, 0)
    assert parse_spec(spec.to_dict()).packing.models_per_trial == 3
    assert parse_spec({**data, "packing": {"models_per_trial": "auto"}}).models_per_trial_on(0) == 1, "no GPU: unpacked"
    with pytest.raises(SpecError, match="packing.models_per_trial: must be a whole number of models >= 1, or auto"):
        parse_spec({**data, "packing": {"models_per_trial": 0}})

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    out = subprocess.run([sys.executable, "-m", "benchmark", "sweep", str(path), "--dry-run"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert out.returncode == 0, out.stderr
    tables = out.stdout.split("\n\n")
    assert tables[1].splitlines()[0].split() == ["#", "tune", "trial", "models", "cpu", "gpu"]
    assert [line.split()[2] for line in tables[1].splitlines()[1:]] == ["3", "1", "2"]
    assert "this machine (" in out.stdout and "3 packs at once" not in out.stdout


def test_a_packed_sweep_completes_and_a_crash_in_its_pack_is_retried_exactly_once(ray_session, tmp_path, monkeypatch):
    from benchmark.packing import train_pack

    spec = parse_spec({**tiny_spec(tmp_path, name="packed", steps=30), "packing": {"models_per_trial": 4}, "evaluation": {
        "metrics": METRICS, "representations": ["mean"], "seed": 0, "overrides": OVERRIDES}})
    trials = spec.trials()
    (pack,) = pack_trials(trials, 4)
    crashing = trials[2]
    monkeypatch.setenv(CRASH_ENV, f"{crashing.trial_id}@15")
    log = io.StringIO()
    outcome = run_sweep(spec, progress_interval_s=1.0, out=log)
    assert outcome.ok, (outcome, log.getvalue())
    assert "starting Tune on the 4 trial(s) not complete on storage, in 1 Tune trials (packs)" in log.getvalue()
    assert sorted(outcome.done) == sorted(t.trial_id for t in trials)
    assert len(all_records(spec.results_dir)) == 4 * len(METRICS)

    for t in trials:  # each member: started twice (the crash stopped the whole pack), trained once, evaluated once
        events = read_events(spec, t.trial_id)
        kinds = [e["event"] for e in events]
        assert kinds == (["start", "crash", "error", "start", "trained", "evaluated"] if t is crashing else
                         ["start", "error", "start", "trained", "evaluated"]), (t.trial_id, kinds)
        assert {e.get("pack") for e in events if e["event"] == "start"} == {pack.pack_id}
        retry = events[kinds.index("start", 1)]
        assert retry["tune_checkpoint_step"] == 10 and retry["has_checkpoint"]
        assert events[kinds.index("trained")]["summary"]["resumed_from"] == 10
        evaluated = [w for e in events if e["event"] == "evaluated" for w in e["written"]]
        assert len(evaluated) == len(set(evaluated)) == len(METRICS)

    # The same pack trained without interruption, outside Ray: every member ends equal (bit for bit on the CPU).
    ref = [tmp_path / "ref" / t.trial_id for t in trials]
    train_pack([t.config for t in trials], ref, progress=False)
    for t, r in zip(trials, ref):
        got = torch.load(os.path.join(t.run_dir, "checkpoint.pt"), weights_only=True)
        want = torch.load(r / "checkpoint.pt", weights_only=True)
        assert got["step"] == want["step"] == 30
        assert all(torch.equal(got["model"][k], want["model"][k]) for k in want["model"]), t.trial_id
        assert open(os.path.join(t.run_dir, "log.jsonl")).read() == open(r / "log.jsonl").read()

    # Resuming the finished sweep runs nothing; its records stay as they are.
    mtimes = {p: os.stat(p).st_mtime_ns for p in all_records(spec.results_dir)}
    again = run_sweep(spec, resume=True, out=io.StringIO())
    assert again.ok and {p: os.stat(p).st_mtime_ns for p in all_records(spec.results_dir)} == mtimes
    assert json.load(open(os.path.join(spec.root, "sweep.json")))["packing"] == {"models_per_trial": 4}
