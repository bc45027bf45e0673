"""Synthetic records are real records: built by benchmark.records, keyed like the metric registry."""

import json

import pytest

from benchmark import records
from benchmark.config import METHODS, TrainConfig
from benchmark.datasets import DATASETS
from benchmark.metrics import METRICS
from benchmark.reports import load_results, runs_table
from benchmark.reports.synthetic import SYNTHETIC_METRICS, write_synthetic_results


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    n = write_synthetic_results(d, seeds=1, failed=3)
    return d, n


def test_every_record_is_valid_and_follows_the_registry(synthetic):
    d, n = synthetic
    files = records.record_files(d)
    assert len(files) == n == 2 * 2 * 6 * 1 * 2 * len(SYNTHETIC_METRICS)
    failed = 0
    for path in files:
        rec, reason = records.read_record(path)
        assert reason == "", (path, reason)
        metric = METRICS[rec["eval.metric"]]
        protocol = {k.removeprefix(f"protocol.{metric.name}."): v for k, v in rec.items() if k.startswith("protocol.")}
        assert protocol == json.loads(json.dumps(metric.defaults))  # the reference protocol, nothing else
        config = TrainConfig.from_dict({k[7:]: v for k, v in rec.items() if k.startswith("config.") and k != "config.note"})
        assert rec["run.id"] == records.run_id(rec["run.dir"], config)
        if rec["status"] == "failed":
            failed += 1
            continue
        keys = {k.removeprefix("metric.") for k in rec if k.startswith("metric.")}
        per_factor = {f"{metric.name}.{f}" for f in DATASETS[rec["dataset.name"]].factor_names} if metric.per_factor else set()
        assert keys == set(metric.key_names) | per_factor
    assert failed == 3


def test_grids_are_the_study_grids_over_each_study_axis(synthetic):
    runs = runs_table(load_results(synthetic[0]))
    grids = {m: sorted(runs.loc[runs["model"] == m, "hparam"].unique()) for m in ("beta_vae", "annealed_vae")}
    assert grids == {"beta_vae": [1, 2, 4, 6, 8, 16], "annealed_vae": [5, 10, 25, 50, 75, 100]}
    assert set(runs["hparam.name"]) == {"beta", "c_max"}
    assert "metric.mig.posX" in runs and "metric.mig_sampled.floor_hue" in runs  # the datasets' own factor names
    assert (runs["config.steps"] == TrainConfig().steps).all()


def test_all_six_methods_over_their_study_grids_and_a_named_protocol(tmp_path):
    n = write_synthetic_results(tmp_path, datasets=("dsprites_procedural",), models=tuple(METHODS), seeds=1,
                                representations=("mean",), metrics=("dci",), protocol="quick",
                                overrides={"dci": {"num_test": 100}})
    runs = runs_table(load_results(tmp_path))
    assert n == len(runs) == 36
    assert {m: sorted(runs.loc[runs["model"] == m, "hparam"]) for m in METHODS} == {
        m: sorted(method.study_grid) for m, method in METHODS.items()}
    assert set(runs["protocol.dci.num_train"]) == {500} and set(runs["protocol.dci.num_test"]) == {100}
