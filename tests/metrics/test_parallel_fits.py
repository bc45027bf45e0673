"""A metric's independent scikit-learn fits on several processes give exactly the serial values."""

from __future__ import annotations

import numpy as np

from benchmark.config import TrainConfig
from benchmark.evaluation import evaluate
from benchmark.metrics import fit_jobs, score_codes
from benchmark.training import train

SIZES = {"dci": {"num_train": 200, "num_test": 100}, "sap": {"num_train": 400, "num_test": 200},
         "modularity": {"num_train": 400, "num_test": 200},
         "beta_vae": {"num_train": 100, "num_eval": 50, "batch_size": 8},
         "factor_vae": {"num_variance_estimate": 500, "num_train": 100, "num_eval": 50, "batch_size": 8}}


def test_jobs_1_and_2_give_identical_records(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig.from_dict({"steps": 30, "batch_size": 16, "num_latents": 5, "device": "cpu"}), run, progress=False)
    serial = evaluate(run, metrics=list(SIZES), representation="sampled", jobs=1, **SIZES)
    parallel = evaluate(run, metrics=list(SIZES), representation="sampled", jobs=2, **SIZES)
    assert len(serial) == len(parallel) == 5
    for a, b in zip(serial, parallel):
        assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
        values = {k: v for k, v in a.items() if k.startswith("metric.")}
        assert values and values == {k: v for k, v in b.items() if k.startswith("metric.")}, a["eval.metric"]


def test_parallel_fits_on_fixed_codes_match_the_serial_order_of_random_states():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, [3, 6, 1, 8], size=(600, 4))  # one constant factor: its fit is skipped
    codes = factors @ rng.normal(size=(4, 5)) + 0.3 * rng.normal(size=(600, 5))
    args = (codes[:400], factors[:400], codes[400:], factors[400:])
    for name in ("dci", "sap", "modularity"):
        serial = score_codes(name, *args, rng=1)
        with fit_jobs(2):
            assert score_codes(name, *args, rng=1) == serial, name
