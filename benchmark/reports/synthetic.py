"""Synthetic result records in the exact on-disk format of docs/RESULTS.md.

They exercise the reports layer without training anything: the tests of ``benchmark.reports``, the
timing benchmark ``bench/report.py`` and the README's example report are built from them. The
numbers are invented (a smooth trend in the hyperparameter plus seed noise) and mean nothing about
any model; every record says so in ``config.note``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from benchmark._io import atomic_write_json

#: metric name → the headline keys it writes (issue 4), with a generator of plausible values.
SYNTHETIC_METRICS = (
    "beta_vae", "factor_vae", "mig", "mig_sampled", "dci", "sap", "modularity", "unsupervised", "reconstruction",
)
_FACTORS = {
    "dsprites_procedural": ("shape", "scale", "orientation", "pos_x", "pos_y"),
    "shapes3d_procedural": ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
}
_GRIDS = {"beta_vae": ("beta", (1, 2, 4, 6, 8, 16)), "annealed_vae": ("c_max", (5, 10, 25, 50, 75, 100))}


def _values(metric: str, strength: float, factors: tuple[str, ...], rng: np.random.Generator) -> dict[str, float]:
    """Invented metric values; ``strength`` in [0, 1] plays the role of the regularisation strength."""

    def unit(mean: float, sd: float) -> float:
        return float(np.clip(rng.normal(mean, sd), 0.0, 1.0))

    if metric == "beta_vae":
        return {"beta_vae.train_accuracy": unit(0.75 + 0.2 * strength, 0.04),
                "beta_vae.eval_accuracy": unit(0.72 + 0.2 * strength, 0.05)}
    if metric == "factor_vae":
        return {"factor_vae.train_accuracy": unit(0.55 + 0.3 * strength, 0.06),
                "factor_vae.eval_accuracy": unit(0.52 + 0.3 * strength, 0.07),
                "factor_vae.num_active_dims": float(rng.integers(3, 11))}
    if metric in ("mig", "mig_sampled"):
        per = {f"{metric}.{f}": unit(0.05 + 0.3 * strength, 0.08) for f in factors}
        return {metric: float(np.mean(list(per.values()))), **per}
    if metric == "dci":
        return {"dci.disentanglement": unit(0.15 + 0.4 * strength, 0.07),
                "dci.completeness": unit(0.2 + 0.35 * strength, 0.07),
                "dci.informativeness_train": unit(0.9 - 0.15 * strength, 0.03),
                "dci.informativeness_test": unit(0.85 - 0.15 * strength, 0.03)}
    if metric == "sap":
        return {"sap": unit(0.02 + 0.08 * strength, 0.02)}
    if metric == "modularity":
        return {"modularity": unit(0.8 + 0.1 * strength, 0.03),
                "explicitness.train": unit(0.85, 0.03), "explicitness.test": unit(0.84, 0.03)}
    if metric == "unsupervised":
        return {"unsupervised.gaussian_total_correlation": float(abs(rng.normal(1.5 - 1.2 * strength, 0.2))),
                "unsupervised.gaussian_wasserstein_correlation": float(abs(rng.normal(1.0 - 0.8 * strength, 0.1))),
                "unsupervised.gaussian_wasserstein_correlation_norm": unit(0.3 - 0.25 * strength, 0.03),
                "unsupervised.mutual_info": float(abs(rng.normal(0.2 - 0.15 * strength, 0.03)))}
    if metric == "reconstruction":
        nll = float(rng.normal(25.0 + 90.0 * strength, 4.0))
        return {"reconstruction.bernoulli_nll": nll, "reconstruction.mse": float(max(nll, 1.0) / 4096 * 0.6)}
    raise ValueError(f"no synthetic values for metric {metric!r}; known: {', '.join(SYNTHETIC_METRICS)}")


def write_synthetic_results(
    out_dir: str | os.PathLike,
    *,
    datasets: tuple[str, ...] = ("dsprites_procedural", "shapes3d_procedural"),
    models: tuple[str, ...] = ("beta_vae", "annealed_vae"),
    seeds: int = 25,
    representations: tuple[str, ...] = ("mean", "sampled"),
    metrics: tuple[str, ...] = SYNTHETIC_METRICS,
    steps: int = 300_000,
    failed: int = 0,
    seed: int = 0,
    run_dir_root: str | os.PathLike | None = None,
) -> int:
    """Write records for every (dataset, model, grid value, seed) × representation × metric.

    The grids are PROTOCOL.md's (β ∈ {1, 2, 4, 6, 8, 16}, C_max ∈ {5, 10, 25, 50, 75, 100}); the
    defaults give 2 × 2 × 6 × 25 = 600 runs and 600 × 9 × 2 = 10,800 records. ``failed`` records (the
    first ones in a seeded shuffle) are written with status "failed" and an ``error``. ``run.dir`` points
    under ``run_dir_root`` (default: a path that does not exist, so checkpoint figures are skipped).
    Returns the number of records written.
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    run_root = Path(run_dir_root) if run_dir_root is not None else out_dir / "_no_runs_here"
    env = {"env.suite": "0.1.0", "env.torch": "2.4.1", "env.numpy": np.__version__, "env.sklearn": "1.5.2",
           "env.python": "3.11.2"}
    jobs = []
    for dataset in datasets:
        for model in models:
            field, grid = _GRIDS[model]
            for rank, value in enumerate(grid):
                for s in range(seeds):
                    jobs.append((dataset, model, field, value, rank / (len(grid) - 1), s))
    n_records = len(jobs) * len(representations) * len(metrics)
    fail_mask = np.zeros(n_records, dtype=bool)
    fail_mask[rng.permutation(n_records)[:failed]] = True
    i = 0
    for dataset, model, field, value, strength, s in jobs:
        name = f"{dataset}-{model}-{field}{value}-s{s}"
        run_id = f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
        config = {"dataset": dataset, "dataset_path": None, "model": model, "architecture": "conv",
                  "beta": float(value) if model == "beta_vae" else 1.0, "gamma": 1000.0,
                  "c_max": float(value) if model == "annealed_vae" else 0.0, "c_anneal_steps": 100_000,
                  "num_latents": 10, "steps": steps, "batch_size": 64, "lr": 1e-4, "seed": s,
                  "note": "synthetic record (benchmark.reports.synthetic): numbers are invented"}
        common = {
            "record.schema": 1, "run.id": run_id, "run.dir": str(run_root / name),
            **{f"config.{k}": v for k, v in config.items()},
            "dataset.name": dataset, "dataset.source": "procedural",
            "dataset.stand_in": dataset == "shapes3d_procedural", **env,
        }
        for rep in representations:
            for metric in metrics:
                record = {**common, "eval.metric": metric, "eval.representation": rep, "eval.seed": 0,
                          "eval.elapsed_s": float(rng.uniform(0.5, 30)), "eval.encoder_passes": 10_000,
                          "eval.timestamp": "2026-01-01T00:00:00Z",
                          **_protocol(metric)}
                values = _values(metric, strength + (0.1 if rep == "mean" else 0.0), _FACTORS.get(dataset, ("a", "b")), rng)
                if fail_mask[i]:
                    record.update(status="failed", error="RuntimeError: synthetic failure (injected)")
                else:
                    record["status"] = "ok"
                    record.update({f"metric.{k}": v for k, v in values.items()})
                atomic_write_json(out_dir / run_id / f"{rep}__{metric}.json", record)
                i += 1
    return n_records


def _protocol(metric: str) -> dict:
    base = {
        "beta_vae": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000},
        "factor_vae": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
                       "prune_threshold": 0.05},
        "mig": {"num_train": 10_000, "num_bins": 20},
        "mig_sampled": {"num_samples": 10_000, "estimator": "chen2018_full_dataset"},
        "dci": {"num_train": 10_000, "num_test": 5_000, "classifier": "gradient_boosting"},
        "sap": {"num_train": 10_000, "num_test": 5_000, "svm_c": 0.01},
        "modularity": {"num_train": 10_000, "num_test": 5_000, "num_bins": 20},
        "unsupervised": {"num_train": 10_000, "num_bins": 20},
        "reconstruction": {"num_images": 10_000},
    }[metric]
    return {f"protocol.{metric}.{k}": v for k, v in base.items()}
