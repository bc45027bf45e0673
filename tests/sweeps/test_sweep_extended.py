"""A sweep evaluated with the extended set (issue 14): trained and scored on a real local Ray, its own report and
``dbench report`` over its folder show every new metric under its paper label.

The spec names the new metrics beside ``mig`` rather than ``extended`` itself: ``extended`` also holds
``mig_sampled``, which encodes the whole 737,280-image grid (minutes of CPU per trial); that a spec's
``evaluation.metrics: extended`` is every registered metric is shown in ``tests/metrics/test_extended_report.py``.
"""

from __future__ import annotations

import html
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmark.metrics import METRIC_SETS, METRICS, key_info
from benchmark.sweeps.spec import parse_spec
from benchmark.sweeps.tune import run_sweep

ROOT = Path(__file__).resolve().parents[2]
NEW = [m for m in METRIC_SETS["extended"] if m not in METRIC_SETS["all"]]
# sizes that keep one trial's evaluation to seconds (the quick protocol's are minutes on 2 cores)
OVERRIDES = {"mig": {"num_train": 300}, "irs": {"num_train": 300}, "mig_sup": {"num_train": 300},
             "dcimig": {"num_train": 300}, "jemmig": {"num_train": 300}, "infomec": {"num_train": 300},
             "z_diff": {"num_train": 200, "num_test": 100}, "z_min": {"num_train": 200, "num_test": 100},
             "z_max": {"num_variance_estimate": 200, "num_train": 40, "num_eval": 40},
             "dci_es": {"num_train": 200, "num_test": 100, "num_trees": 10}}


def _first_headline_labels() -> dict[str, str]:
    """Each new metric's first headline key (the one its paper tables show) → its paper label (the registry's)."""
    out = {k.name: key_info(k.name).label for k in (next(k for k in METRICS[m].keys if k.headline) for m in NEW)}
    assert len(out) == len(NEW) and all(label and label != key for key, label in out.items()), out
    return out


def _shows_new_metrics(report_dir: Path) -> None:
    """The page shows each new metric under its paper label; ``summary.csv`` has every headline key of them."""
    page = (report_dir / "report.html").read_text()
    summary = (report_dir / "tables" / "summary.csv").read_text()
    for key, label in _first_headline_labels().items():
        assert html.escape(label) in page, (key, label)
    assert all(k.name in summary for m in NEW for k in METRICS[m].keys if k.headline)


def test_a_sweep_scored_with_the_new_metrics_reports_them_under_their_paper_labels(ray_session, tmp_path):
    spec = parse_spec({
        "name": "extended",
        "config": {"dataset": "dsprites_procedural", "model": "beta_vae", "architecture": "conv", "steps": 10,
                   "batch_size": 16, "num_latents": 4, "checkpoint_every": 10, "log_every": 5, "device": "cpu"},
        "grid": {"beta": [1, 4], "seed": [0]},
        "resources": {"cpu": 1, "gpu": 0},
        "evaluation": {"metrics": ["mig", *NEW], "representations": ["mean"], "seed": 0, "overrides": OVERRIDES},
        "storage": {"path": str(tmp_path)},
    })
    log = io.StringIO()
    outcome = run_sweep(spec, progress_interval_s=1.0, out=log)
    assert outcome.ok, (outcome, log.getvalue())

    records = [json.loads(p.read_text()) for p in Path(spec.results_dir).glob("*/*.json")]
    assert len(records) == 2 * (1 + len(NEW))
    assert all(r["status"] == "ok" for r in records), [(r["eval.metric"], r.get("error")) for r in records]
    es = next(r for r in records if r["eval.metric"] == "dci_es")
    assert es["protocol.dci_es.num_trees"] == 10 and es["protocol.dci_es.probe"]  # the estimator is recorded

    # the report the sweep writes at its end, with no --metrics: the study's mig first, then the new ones
    from benchmark.cli import write_sweep_report

    page = write_sweep_report(spec, outcome)
    assert page is not None
    _shows_new_metrics(Path(page).parent)

    # and `dbench report` over the sweep folder, a real subprocess of the CLI
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "paper"
    r = subprocess.run([sys.executable, "-m", "benchmark", "report", spec.root, "--out", str(out), "--format",
                        "csv,html,tex", "--no-checkpoints"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    _shows_new_metrics(out)
    tex = "".join(p.read_text() for p in (out / "tables").glob("*.tex"))
    # with no --metrics the paper tables carry each new metric's first headline key too (a second table: > 7 columns)
    firsts = list(_first_headline_labels().values())
    assert all(label in tex for label in firsts), [label for label in firsts if label not in tex]
