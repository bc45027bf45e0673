"""Sweep specs: validation before anything starts, grid expansion, stable trial ids, the presets, --dry-run."""

import os
import subprocess
import sys

import pytest
import yaml

from benchmark.config import TrainConfig
from benchmark.records import model_digest
from benchmark.sweeps.spec import SpecError, load_spec, parse_spec, trial_id, trial_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spec(**over):
    data = {
        "name": "t",
        "config": {"dataset": "dsprites_procedural", "model": "beta_vae", "steps": 10},
        "grid": {"beta": [1, 4], "seed": [0, 1]},
        "evaluation": {"metrics": ["mig"], "representations": ["mean"]},
        "storage": {"path": "/tmp/x"},
    }
    for k, v in over.items():
        data[k] = v
    return data


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_grid_expands_in_file_order_with_stable_ids_and_run_dirs(tmp_path):
    spec = parse_spec(_spec(storage={"path": str(tmp_path)}))
    trials = spec.trials()
    assert [(t.config.beta, t.config.seed) for t in trials] == [(1, 0), (1, 1), (4, 0), (4, 1)]
    t = trials[2]
    assert t.config == TrainConfig.from_dict(dict(dataset="dsprites_procedural", model="beta_vae", steps=10, beta=4, seed=0))
    assert t.trial_id == f"dsprites_procedural-beta_vae-beta4-seed0-{model_digest(t.config)}"
    assert t.run_dir == os.path.join(str(tmp_path), "t", "runs", t.trial_id)
    assert t.results_dir == os.path.join(str(tmp_path), "t", "results")
    # Same config -> same id on another call; a changed fixed field -> a new id.
    assert parse_spec(_spec(storage={"path": str(tmp_path)})).trials()[2].trial_id == t.trial_id
    other = _spec(config={"dataset": "dsprites_procedural", "model": "beta_vae", "steps": 11})
    assert parse_spec(other).trials()[2].trial_id != t.trial_id


def test_execution_fields_do_not_change_the_trial_id():
    base = TrainConfig.from_dict(dict(dataset="dsprites_procedural", beta=4.0, seed=0))
    moved = base.replace(device="cpu", log_every=7, dataset_path=None, compile=True)
    assert trial_id(moved, {"beta": 4.0}) == trial_id(base, {"beta": 4.0})
    assert trial_id(base, {"beta": 4.0}).startswith("dsprites_procedural-beta_vae-beta4-")
    assert trial_id(base.replace(beta=0.5), {"beta": 0.5}).split("-")[2] == "beta0.5"


def test_numbers_are_normalised_before_the_trial_id():
    ids = {parse_spec(_spec(grid={"beta": [value]})).trials()[0].trial_id for value in (4, 4.0, "4", "4.0")}
    assert len(ids) == 1


def test_every_problem_of_a_spec_is_reported_at_once():
    bad = _spec(resources={"cpu": -1}, failure={"max_failures": "two"}, evaluation={"metrics": ["migg"]},
                config={"betta": 1, "steps": 10}, grid={"beta": [1, 1.0]})
    with pytest.raises(SpecError) as err:
        parse_spec(bad, source="bad.yaml")
    lines = str(err.value).splitlines()
    assert len(lines) == 5 and all(line.startswith("bad.yaml: ") for line in lines)
    for needle in ("resources.cpu", "failure.max_failures", "evaluation.metrics", "config.betta", "grid.beta"):
        assert any(needle in line for line in lines), needle


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"grids": {}}, "unknown field(s) 'grids'; valid fields: name, description, config, grid"),
        ({"config": {"betta": 4}}, "unknown config field 'config.betta'; valid fields: dataset"),
        ({"grid": {"sed": [0, 1]}}, "unknown config field 'grid.sed'"),
        ({"evaluation": {"metrics": ["migg"]}}, "evaluation.metrics: unknown metric(s) ['migg']; valid names: all,"),
        ({"evaluation": {"representations": ["median"]}}, "unknown representation(s) ['median']; valid: mean, sampled"),
        ({"evaluation": {"metric": ["mig"]}}, "evaluation: unknown field(s) 'metric'; valid fields: metrics, representations"),
        ({"resources": {"gpus": 1}}, "resources: unknown field(s) 'gpus'; valid fields: cpu, gpu"),
        ({"resources": {"cpu": -1}}, "resources.cpu must be >= 0, got -1.0"),
        ({"failure": {"max_failures": -2}}, "failure.max_failures must be >= -1, got -2"),
        ({"max_concurrent_trials": 0}, "max_concurrent_trials must be >= 1, got 0"),
        ({"failure": {"max_failures": "two"}}, "failure.max_failures must be an integer"),
        (
            {"config": {"model": "beta_vae"}, "grid": {"dataset": ["dsprites_procedural", "mnist"]}},
            "grid.dataset: TrainConfig.dataset: unknown dataset 'mnist'; valid names:",
        ),
        ({"config": {"dataset": "dsprites_procedural", "model": "vae"}}, "unknown model 'vae'; valid names: annealed_vae, beta_tc_vae, beta_vae"),
        ({"grid": {"beta": []}}, "grid.beta must be a non-empty list"),
        ({"grid": {"seed": {"range": "50"}}}, "grid.seed.range"),
        ({"grid": {"beta": [1, 1.0, "1"]}}, "grid.beta lists the same value more than once"),
        ({"config": {"beta": 1}, "grid": {"beta": [1, 2]}}, "'beta' is both in 'config' and in 'grid'"),
        ({"storage": {"path": "ftp://host/x"}}, "unsupported storage scheme 'ftp'"),
        ({"name": "a b"}, "name: must be a folder-safe name"),
        ({"storage": {"path": "/tmp/x", "options": {"region": "x"}}}, "storage.options apply to s3:// and gs://"),
        ({"evaluation": {"metrics": ["mig"], "overrides": {"mig": {"bins": 3}}}},
         "evaluation.overrides.mig: mig: unknown protocol parameter(s) ['bins']"),
    ],
)
def test_bad_specs_fail_naming_the_key(over, needle):
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(**over), source="bad.yaml")
    assert needle in str(err.value)
    assert str(err.value).startswith("bad.yaml: ")


def test_range_grid_and_storage_override(tmp_path):
    spec = parse_spec(_spec(grid={"seed": {"range": [3, 6]}}), storage=str(tmp_path / "s"))
    assert [t.config.seed for t in spec.trials()] == [3, 4, 5]
    assert spec.root == str(tmp_path / "s" / "t")
    moved = spec.with_storage(str(tmp_path / "elsewhere"))
    assert moved.trials()[0].run_dir.startswith(str(tmp_path / "elsewhere"))
    assert moved.trials()[0].trial_id == spec.trials()[0].trial_id


def test_relative_storage_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(_spec(storage={"path": "here"}))
    assert spec.storage.path == str(tmp_path / "here")


def test_spec_round_trips_through_to_dict():
    spec = parse_spec(_spec())
    again = parse_spec(spec.to_dict())
    assert [t.trial_id for t in again.trials()] == [t.trial_id for t in spec.trials()]
    assert again == spec


def test_locatello_preset_has_600_trials_with_the_study_grid():
    spec = load_spec("locatello_beta_vae", storage="/data/sweeps")
    trials = spec.trials()
    assert len(trials) == 600 and len({t.trial_id for t in trials}) == 600
    assert {t.config.dataset for t in trials} == {"dsprites", "shapes3d"}
    assert sorted({t.config.beta for t in trials}) == [1, 2, 4, 6, 8, 16]
    assert sorted({t.config.seed for t in trials}) == list(range(50))
    assert {t.config.steps for t in trials} == {300000}
    from benchmark.metrics import METRIC_SETS

    # the study's metrics ("all"), not the extended set
    assert spec.evaluation.metrics == METRIC_SETS["all"] and spec.evaluation.representations == ("mean", "sampled")
    assert spec.resources.gpu == 0.25 and spec.resources.cpu == 1
    assert "600 trials; per trial 1 CPU, 0.25 GPU (4 trials share one GPU)" in spec.resources_summary()


def test_quick_preset_is_offline_and_small():
    spec = load_spec("quick")
    trials = spec.trials()
    assert len(trials) == 6
    assert {t.config.dataset for t in trials} == {"dsprites_procedural"}
    assert sorted({t.config.beta for t in trials}) == [1, 4, 16]
    assert spec.resources.gpu == 0


def test_trial_table_lists_every_trial():
    spec = parse_spec(_spec())
    lines = trial_table(spec).splitlines()
    assert lines[0].split() == ["#", "trial", "dataset", "model", "beta", "seed", "steps", "cpu", "gpu"]
    assert len(lines) == 1 + 4
    assert lines[4].split()[1] == spec.trials()[3].trial_id


def test_cli_dry_run_of_locatello_lists_600_trials(tmp_path):
    res = _cli("sweep", "locatello_beta_vae", "--dry-run", "--storage", str(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["#", "trial", "dataset", "model", "beta", "seed", "steps", "batch_size", "cpu", "gpu"]
    rows = lines[1:lines.index("")]
    assert len(rows) == 600 and [int(r.split()[0]) for r in rows] == list(range(600))
    assert {r.split()[2] for r in rows} == {"dsprites", "shapes3d"}
    assert rows[0].split()[-2:] == ["1", "0.25"]
    assert "600 trials; per trial 1 CPU, 0.25 GPU" in res.stdout
    assert "180,000,000 training steps" in res.stdout
    assert not (tmp_path / "locatello_beta_vae").exists()  # a dry run writes nothing


def test_cli_bad_spec_fails_before_ray_starts(tmp_path):
    bad = _spec(storage={"path": str(tmp_path / "store")})
    bad["evaluation"]["metrics"] = ["mig", "not_a_metric"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = _cli("sweep", str(path))
    assert res.returncode == 2
    assert f"{path}: evaluation.metrics: unknown metric(s) ['not_a_metric']; valid names: all, " in res.stderr
    assert not (tmp_path / "store").exists()
    # And in one process: the whole CLI path up to the error never imports ray.
    code = (
        "import sys; from benchmark.cli import main; rc = main(['sweep', sys.argv[1]]); "
        "assert rc == 2, rc; assert 'ray' not in sys.modules, 'ray was imported'; print('no ray')"
    )
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert res.returncode == 0 and "no ray" in res.stdout, res.stderr


def test_missing_spec_names_the_presets():
    with pytest.raises(SpecError, match="preset name .*locatello_beta_vae.*quick"):
        load_spec("nope_not_here")


def test_trial_status_reads_the_storage(tmp_path):
    import json

    from benchmark import records
    from benchmark.sweeps.storage import trial_status

    spec = parse_spec({**_spec(storage={"path": str(tmp_path)}),
                       "evaluation": {"metrics": ["mig", "sap"], "representations": ["mean"]}})
    t = spec.trials()[0]
    st = trial_status(t, spec)
    assert (st["trained"], st["complete"], st["missing"]) == (False, False, ["mean__mig", "mean__sap"])
    os.makedirs(t.run_dir)
    open(os.path.join(t.run_dir, "done.json"), "w").write("{}")
    assert t.run_id == t.trial_id == records.run_id(t.run_dir, t.config)  # what evaluation names the records
    rid = os.path.join(t.results_dir, t.run_id)  # where evaluate writes the trial's records
    os.makedirs(rid)

    def record(metric, status):
        return {"status": status, "run.id": t.run_id, "eval.metric": metric, "eval.representation": "mean"}

    json.dump(record("mig", "ok"), open(os.path.join(rid, "mean__mig.json"), "w"))
    json.dump({**record("sap", "failed"), "error": "x"}, open(os.path.join(rid, "mean__sap.json"), "w"))
    # another trial's records (same prefix, longer id) are not this trial's
    other = os.path.join(t.results_dir, t.run_id + "-ffffffff")
    os.makedirs(other)
    st = trial_status(t, spec)
    assert st["trained"] and st["finished"] and not st["complete"] and st["missing"] == []
    assert st["failed"] == [os.path.join(rid, "mean__sap.json")]
    json.dump(record("sap", "ok"), open(os.path.join(rid, "mean__sap.json"), "w"))
    assert trial_status(t, spec)["complete"]


def test_a_billion_point_grid_is_refused_with_its_size_before_expansion(tmp_path):
    spec = _spec(storage={"path": str(tmp_path)}, grid={"seed": {"range": 1_000_000}, "beta": [1, 2, 4, 8, 16]})
    spec["grid"]["lr"] = [1e-4 * (i + 1) for i in range(200)]  # 10^6 x 5 x 200 = 10^9 trials
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = _cli("sweep", str(path), "--dry-run")  # expanding 10^9 trials would take hours and all memory
    assert res.returncode == 2 and "the grid has 1,000,000,000 trials, more than the limit of 100,000" in res.stderr
    assert "--max-trials" in res.stderr and res.stdout == ""
    ok = parse_spec(_spec(grid={"seed": {"range": 150_000}}), max_trials=200_000)
    assert ok.num_trials == 150_000


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"grid": {}}, "grid: is empty"),
        ({"evaluation": {"metrics": ["mig"], "overrides": {"mig": {"num_train": -5}}}},
         "evaluation.overrides.mig: mig.num_train must be an integer >= 1, got -5"),
        ({"evaluation": {"metrics": ["dci"], "overrides": {"dci": {"classifier": "xgboost"}}}},
         "dci.classifier must be one of gradient_boosting, sklearn, random_forest, got 'xgboost'"),
        ({"grid": {"seed": {"range": [0, 10, 0]}}}, "grid.seed.range: the step must not be 0"),
        ({"grid": {"beta": [float("nan")]}}, "TrainConfig.beta must be a finite number"),
        ({"config": [1, 2]}, "config: must be a mapping of TrainConfig fields"),
    ],
)
def test_specs_that_would_run_wrong_fail_at_parse_time(over, needle):
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(**over), source="bad.yaml")
    assert needle in str(err.value)
