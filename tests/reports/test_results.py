import json

import numpy as np
import pytest

from benchmark.reports import load_results, runs_table

from report_records import make_record, write_record


def test_load_results_one_row_per_record_file(grid_results):
    df = load_results(grid_results)
    assert len(df) == 21  # 10 mig + 11 reconstruction records
    assert {"status", "run.id", "eval.metric", "metric.mig", "config.beta", "env.torch", "record.path"} <= set(df.columns)
    assert df.attrs["unreadable"] == []
    one = df[(df["run.id"] == "beta_vae-1-s2-0000abcd") & (df["eval.metric"] == "mig")]
    assert one["metric.mig"].item() == pytest.approx(0.6)


def test_load_results_names_unreadable_files_and_keeps_the_rest(tmp_path):
    d = tmp_path / "res"
    good = write_record(d, make_record(run_id="r1", metric="mig", values={"mig": 0.3}))
    (d / "r2").mkdir()
    (d / "r2" / "mean__mig.json").write_text('{"status": "ok", "run.id": ')  # truncated
    (d / "r3").mkdir()
    (d / "r3" / "mean__sap.json").write_text("[1, 2]")
    (d / "r4").mkdir()
    (d / "r4" / "mean__dci.json").write_text(json.dumps({"status": "ok", "eval.metric": "dci"}))
    rec = make_record(run_id="r5", metric="mig", values={"mig": 0.1})
    rec["record.schema"] = 99
    write_record(d, rec)
    (d / "r1" / ".mean__sap.json.123.tmp").write_text("partial")  # an atomic-write temporary: ignored
    with pytest.warns(UserWarning, match="skipped 4 unreadable"):
        df = load_results(d)
    assert list(df["record.path"]) == [str(good)]
    reasons = {u.path.split("/")[-2]: u.reason for u in df.attrs["unreadable"]}
    assert set(reasons) == {"r2", "r3", "r4", "r5"}
    assert "not valid JSON" in reasons["r2"]
    assert "expected a JSON object" in reasons["r3"]
    assert "run.id" in reasons["r4"] and "eval.representation" in reasons["r4"]
    assert "record.schema 99" in reasons["r5"]


def test_load_results_accepts_several_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_record(a, make_record(run_id="r1", metric="mig", values={"mig": 0.3}))
    write_record(b, make_record(run_id="r2", metric="mig", values={"mig": 0.4}))
    df = load_results([a, b])
    assert sorted(df["run.id"]) == ["r1", "r2"]
    assert df.attrs["sources"] == [str(a), str(b)]


def test_load_results_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_results(tmp_path / "nope")


def test_runs_table_pivots_one_run_and_representation_into_one_row(grid_results):
    runs = runs_table(load_results(grid_results))
    assert len(runs) == 11
    r = runs[runs["run"] == "beta_vae-4-s0-0000abcd"].iloc[0]
    assert r["metric.mig"] == pytest.approx(0.5)
    assert r["metric.reconstruction.bernoulli_nll"] == pytest.approx(50.0)
    assert (r["model"], r["hparam.name"], r["hparam"], r["seed"], r["representation"]) == ("beta_vae", "beta", 4.0, 0, "mean")
    failed = runs[runs["run"] == "beta_vae-4-s2-0000abcd"].iloc[0]
    assert failed["metrics.failed"] == "reconstruction" and failed["n_failed"] == 1
    assert np.isnan(failed["metric.reconstruction.bernoulli_nll"])
    annealed = runs[runs["model"] == "annealed_vae"]
    assert set(annealed["hparam"]) == {25.0, 50.0} and set(annealed["hparam.name"]) == {"c_max"}
    assert runs.attrs["metric_keys"]["mig"] == ["mig", "mig.shape"]


def test_duplicate_records_newest_timestamp_wins(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_record(a, make_record(run_id="r1", metric="mig", values={"mig": 0.1}, timestamp="2026-01-01T00:00:00Z"))
    write_record(b, make_record(run_id="r1", metric="mig", values={"mig": 0.9}, timestamp="2026-02-01T00:00:00Z"))
    runs = runs_table(load_results([b, a]))
    assert len(runs) == 1 and runs["metric.mig"].item() == pytest.approx(0.9)
    assert runs.attrs["duplicates"] == 1


def test_load_results_10k_records_layout(tmp_path):
    from benchmark.reports.synthetic import write_synthetic_results

    n = write_synthetic_results(tmp_path, datasets=("dsprites_procedural",), models=("beta_vae",), seeds=2,
                                metrics=("mig", "sap"), failed=1)
    df = load_results(tmp_path)
    assert len(df) == n == 6 * 2 * 2 * 2
    assert (df["status"] == "failed").sum() == 1
    runs = runs_table(df)
    assert len(runs) == 6 * 2 * 2
