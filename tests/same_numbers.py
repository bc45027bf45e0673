"""The suite's numbers, frozen: records of fixed CLI runs, compared value by value after any re-plumbing.

The fixtures under ``tests/data/same_numbers/`` were written by ``python tests/same_numbers.py`` on the code
before issue 9 re-plumbed the seams (records layer, evaluation beside training, specs through the config layer).
The tests in ``tests/test_same_numbers.py`` run the same commands through the real CLI and require every metric
value to be equal to 1e-12 and every record to carry the same keys.

- ``evaluate.json``: one tiny run (``dbench train``, 60 steps, β = 4) scored by ``dbench evaluate`` with every
  metric at reduced sample sizes (mig_sampled included: it encodes the whole grid).
- ``quick.json``: the records of the quick preset (``dbench sweep quick``: 6 trials of 1,000 steps).

Records are keyed by what names the model and the evaluation (β, seed, metric, representation), not by
``run.id``, whose hash recipe may change; ``run.id``, paths, timings, timestamps and versions are not compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "same_numbers"

TRAIN_ARGS = ["--dataset", "dsprites_procedural", "--model", "beta_vae", "--beta", "4", "--steps", "60",
              "--seed", "3", "--lr", "0.0005", "--checkpoint_every", "30", "--log_every", "10", "--device", "cpu"]
EVALUATE_SETS = [
    "beta_vae.num_train=200", "beta_vae.num_eval=100", "beta_vae.batch_size=8",
    "factor_vae.num_variance_estimate=500", "factor_vae.num_train=200", "factor_vae.num_eval=100",
    "factor_vae.batch_size=8", "mig.num_train=1000", "mig_sampled.num_samples=200",
    "dci.num_train=200", "dci.num_test=100", "sap.num_train=300", "sap.num_test=150",
    "modularity.num_train=500", "modularity.num_test=250", "unsupervised.num_train=500",
    "reconstruction.num_images=100",
]
#: Record keys that describe where and when, not what: left out of the comparison. ``run.checkpoint_*`` and
#: ``run.finished`` were added after the fixtures were frozen (issue 10: a record names the checkpoint it scored).
VOLATILE_PREFIXES = ("env.", "eval.elapsed_s", "eval.timestamp", "run.dir", "run.id", "record.", "protocol.mig_sampled.device",
                     "config.device", "run.checkpoint_", "run.finished")


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _dbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "benchmark", *args], check=True, env=_env(), stdout=subprocess.DEVNULL)


def summarise(results_dir: Path) -> list[dict]:
    """One entry per record: its identity, its metric values and its sorted keys (volatile ones left out)."""
    out = []
    for path in sorted(Path(results_dir).glob("*/*.json")):
        rec = json.loads(path.read_text())
        out.append({
            "beta": rec.get("config.beta"), "seed": rec.get("config.seed"), "metric": rec["eval.metric"],
            "representation": rec["eval.representation"], "status": rec["status"],
            "values": {k: v for k, v in rec.items() if k.startswith("metric.")},
            "keys": sorted(k for k in rec if not k.startswith(VOLATILE_PREFIXES)),
        })
    return sorted(out, key=lambda e: (e["beta"], e["seed"], e["metric"], e["representation"]))


def run_evaluate(tmp: Path, metrics: str = "all") -> list[dict]:
    run = tmp / "run"
    _dbench("train", "--out", str(run), *TRAIN_ARGS)
    sets = [a for s in EVALUATE_SETS if metrics == "all" or s.split(".")[0] in metrics.split(",") for a in ("--set", s)]
    _dbench("evaluate", str(run), "--metrics", metrics, "--representation", "mean,sampled", "--device", "cpu",
            "--results", str(tmp / "results"), *sets)
    return summarise(tmp / "results")


def run_quick(tmp: Path) -> list[dict]:
    _dbench("sweep", "quick", "--storage", str(tmp / "sweeps"), "--no-report")
    return summarise(tmp / "sweeps" / "quick" / "results")


if __name__ == "__main__":
    import tempfile

    DATA.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["evaluate", "quick"]
    for name in which:
        with tempfile.TemporaryDirectory() as d:
            entries = {"evaluate": run_evaluate, "quick": run_quick}[name](Path(d))
        (DATA / f"{name}.json").write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(entries)} records -> {DATA / f'{name}.json'}")
