"""The extended set end to end: ``--metrics extended`` in evaluate, specs and the CLI, and a report over the records
that shows every new metric (found through the registry's metadata, not through a table layout)."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmark.evaluation import evaluate
from benchmark.metrics import METRIC_SETS, METRICS, key_info
from benchmark.sweeps.spec import parse_spec
from metrics_synthetic import FactorGrid

ROOT = Path(__file__).resolve().parents[2]
NEW = [m for m in METRIC_SETS["extended"] if m not in METRIC_SETS["all"]]
GRID = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))
# the study's metrics at sizes that suit a 60-image grid (the new ones run at the quick protocol)
SMALL = {"beta_vae": {"num_train": 50, "num_eval": 50, "batch_size": 8},
         "factor_vae": {"num_variance_estimate": 100, "num_train": 50, "num_eval": 50, "batch_size": 8},
         "mig_sampled": {"num_samples": 20}, "dci": {"num_train": 60, "num_test": 40}}


def _dbench(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _new_headline_keys() -> list[str]:
    return [k.name for m in NEW for k in METRICS[m].keys if k.headline]


def _report_shows_the_new_metrics(results: Path, out: Path) -> None:
    """``dbench report`` (in process) over ``results`` with the new metrics selected: every headline key of theirs
    is in the tables (summary.csv, runs.csv) and its paper label (the registry's ``MetricKey.label``) on the page."""
    from benchmark.cli import main

    assert main(["report", str(results), "--out", str(out), "--metrics", ",".join(NEW), "--format", "csv,html",
                 "--no-checkpoints"]) == 0
    summary = (out / "tables" / "summary.csv").read_text()
    runs = (out / "tables" / "runs.csv").read_text()
    page = (out / "report.html").read_text()
    keys = _new_headline_keys()
    assert len(keys) >= len(NEW)
    for key in keys:
        info = key_info(key)
        assert info is not None and info.label and info.label != key, key
        assert key in summary and f"metric.{key}" in runs, key
        assert html.escape(info.label) in page, (key, info.label)


def _representation_fn(images):
    """A fixed linear encoder of the 1×2×2 grid images: means and log-variances of 3 latents."""
    w = np.random.default_rng(0).standard_normal((4, 6))
    h = images.reshape(len(images), -1) @ w
    return h[:, :3], h[:, 3:] - 2.0


def test_evaluate_extended_is_every_metric_and_its_report_shows_the_new_ones(tmp_path):
    results = tmp_path / "results"
    records = evaluate(representation_fn=_representation_fn, decoder_fn=lambda z: np.zeros((len(z), 1, 2, 2)),
                       dataset=GRID, metrics="extended", protocol="quick", results_dir=results,
                       run_id_override="tiny", **SMALL)
    assert [r["eval.metric"] for r in records] == list(METRIC_SETS["extended"])
    assert all(r["status"] == "ok" for r in records), [(r["eval.metric"], r.get("error")) for r in records]
    irs = next(r for r in records if r["eval.metric"] == "irs")
    assert irs["eval.protocol"] == "quick" and irs["protocol.irs.num_train"] == 2000  # the quick sizes, recorded
    es = next(r for r in records if r["eval.metric"] == "dci_es")
    assert es["protocol.dci_es.probe"] == "random_forest"  # the probe family is in the record
    # a record does not depend on which other metrics were evaluated: the new ones alone give the same numbers
    alone = evaluate(representation_fn=_representation_fn, dataset=GRID, metrics=",".join(NEW), protocol="quick",
                     run_id_override="tiny")
    strip = lambda r: {k: v for k, v in r.items() if k.startswith(("metric.", "eval.seed_stream"))}  # noqa: E731
    assert [strip(r) for r in alone] == [strip(r) for r in records if r["eval.metric"] in NEW]

    _report_shows_the_new_metrics(results, tmp_path / "report")


def test_cli_evaluates_a_trained_run_with_the_new_metrics_and_reports_them(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.training import train

    run = tmp_path / "runs" / "b4s0"
    train({"dataset": "dsprites_procedural", "model": "beta_vae", "beta": 4.0, "steps": 2, "batch_size": 8, "seed": 0,
           "device": "cpu", "checkpoint_every": 2, "log_every": 1}, run, progress=False)  # fmt: skip
    results = tmp_path / "results"
    # `--metrics extended` is accepted by evaluate (a bad --set of a new metric is caught after the names parse) ...
    assert main(["evaluate", str(run), "--metrics", "extended", "--set", "irs.bins=3", "--results", str(results)]) == 2
    assert "irs: unknown protocol parameter(s) ['bins']" in capsys.readouterr().err
    # ... and scoring it would run the study's metrics too (mig_sampled integrates q(z|x) over the whole 737,280-image
    # grid: an hour on 2 CPU cores), so the CLI scores the new metrics by name: the same records, seed streams included
    small = {"irs.num_train": 500, "mig_sup.num_train": 500, "dcimig.num_train": 500, "jemmig.num_train": 500,
             "infomec.num_train": 500, "z_diff.num_train": 300, "z_diff.num_test": 200, "z_min.num_train": 300,
             "z_min.num_test": 200, "z_max.num_variance_estimate": 300, "z_max.num_train": 50, "z_max.num_eval": 50,
             "dci_es.num_train": 300, "dci_es.num_test": 200, "dci_es.num_trees": 10}  # fewer images to render and encode
    sets = [a for k, v in small.items() for a in ("--set", f"{k}={v}")]
    r = _dbench("evaluate", run, "--metrics", ",".join(NEW), "--protocol", "quick", *sets, "--results", results,
                "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(f"mean/{m}: ok" in r.stdout for m in NEW), r.stdout
    _report_shows_the_new_metrics(results, tmp_path / "report")


def test_a_sweep_spec_accepts_the_named_sets():
    assert parse_spec({"name": "x", "evaluation": {"metrics": "extended"}}).evaluation.metrics == METRIC_SETS["extended"]
    assert parse_spec({"name": "x", "evaluation": {"metrics": "all"}}).evaluation.metrics == METRIC_SETS["all"]
    assert parse_spec({"name": "x"}).evaluation.metrics == METRIC_SETS["all"]  # the default stays the study's
    spec = parse_spec({"name": "x", "evaluation": {"metrics": ["irs", "dci_es"], "overrides": {"dci_es": {"num_trees": 10}}}})
    assert spec.evaluation.metrics == ("irs", "dci_es")
