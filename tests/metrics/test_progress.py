"""Each metric reports its own progress (images encoded, points, fits, entropy estimates) while it runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from benchmark.config import TrainConfig
from benchmark.evaluation import ProgressLine, evaluate
from benchmark.training import train

SIZES = {"mig": {"num_train": 300}, "dci": {"num_train": 200, "num_test": 100},
         "beta_vae": {"num_train": 40, "num_eval": 20, "batch_size": 4},
         "factor_vae": {"num_variance_estimate": 300, "num_train": 40, "num_eval": 20, "batch_size": 4},
         "reconstruction": {"num_images": 64, "batch_size": 16}}


def test_every_metric_reports_how_far_it_is(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig.from_dict({"steps": 10, "batch_size": 8, "num_latents": 4, "device": "cpu"}), run, progress=False)
    seen: list[tuple[str, str, int, int]] = []
    recs = evaluate(run, metrics=list(SIZES), representation="mean", metric_progress=lambda *e: seen.append(e),
                    encode_batch_size=256, **SIZES)
    assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    by = {}
    for label, what, done, total in seen:
        by.setdefault((label, what), []).append((done, total))
    for key, steps in by.items():  # counts up to its total (the lazy grid encoding: once per batch of new points)
        assert all(0 < d <= t for d, t in steps) and steps[-1][0] == steps[-1][1], (key, steps)
        assert all(b[0] > a[0] or b[0] <= b[1] == b[0] for a, b in zip(steps, steps[1:])), (key, steps)
    whats = {label: {w for (l, w) in by if l == label} for label, _ in by}
    assert "images encoded" in whats["mean/mig"]  # the first metric encodes the grid points it draws
    assert {"points", "fits"} <= whats["mean/dci"] and by[("mean/dci", "fits")][-1] == (5, 5)  # one fit per factor
    for label in ("mean/beta_vae", "mean/factor_vae", "mean/reconstruction"):
        assert "points" in whats[label], whats


def test_the_progress_line_prints_at_its_interval_and_draws_a_bar_on_a_terminal():
    out = io.StringIO()
    line = ProgressLine(out, interval_s=0.0, bar=False)
    for done in (1, 2, 3):
        line("mean/dci", "fits", done, 5)
    assert out.getvalue().splitlines()[-1].startswith("  mean/dci: fits 3/5, ")
    quiet = io.StringIO()
    throttled = ProgressLine(quiet, interval_s=3600, bar=False)
    throttled("mean/dci", "fits", 1, 5)
    assert quiet.getvalue() == ""  # nothing for work shorter than the interval
    bar_out = io.StringIO()
    bar = ProgressLine(bar_out, bar=True)
    bar("mean/mig", "points", 150, 300)
    bar("mean/mig", "points", 300, 300)
    assert (bar._bar.n, bar._bar.total) == (300, 300)
    bar.close()
    assert "mean/mig points" in bar_out.getvalue()


def test_evaluate_help_names_the_defaults_and_each_metrics_measured_cost():
    from benchmark.metrics import METRICS
    from benchmark.metrics.costs import REFERENCE_COST_S

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "benchmark", "evaluate", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": root}, check=True).stdout
    assert "defaults: --metrics all" in out and "--protocol reference" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()[:1]}
    assert set(METRICS) <= set(rows) and set(REFERENCE_COST_S) == set(METRICS)
    assert rows["mig_sampled"].split()[1:3] == ["60", "min"]
