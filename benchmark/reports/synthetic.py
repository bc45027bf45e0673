"""Synthetic result records in the exact on-disk format of docs/RESULTS.md.

They exercise the reports layer without training anything: the tests of ``benchmark.reports``, the
timing benchmark ``bench/report.py`` and the README's example report are built from them. The
numbers are invented (a smooth trend in the hyperparameter plus seed noise) and mean nothing about
any model; every record says so in ``config.note``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark import records
from benchmark.config import METHODS, TrainConfig
from benchmark.datasets import DATASETS
from benchmark.metrics import METRICS, resolve_protocol
from benchmark.metrics._codes import REPRESENTATIONS, protocol_params



#: The metrics this generator invents values for (the nine of the study's evaluation, in registry order).
SYNTHETIC_METRICS = ("beta_vae", "factor_vae", "mig", "mig_sampled", "dci", "sap", "modularity", "unsupervised",
                     "reconstruction")


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
    metrics: Sequence[str] = SYNTHETIC_METRICS,
    steps: int = TrainConfig().steps,
    failed: int = 0,
    seed: int = 0,
    run_dir_root: str | os.PathLike | None = None,
    protocol: str = "reference",
    overrides: dict | None = None,
) -> int:
    """Write records for every (dataset, model, grid value, seed) × representation × metric; returns how many.

    ``models``: any of the registered methods (all six: ``tuple(benchmark.config.METHODS)``); each is trained over
    its declared study grid (β ∈ {1, 2, 4, 6, 8, 16}, C_max ∈ {5, 10, 25, 50, 75, 100}, ...). The defaults give
    2 × 2 × 6 × 25 = 600 runs and 600 × 9 × 2 = 10,800 records. Each record is built and written by
    :mod:`benchmark.records` like a real one: the run's resolved :class:`TrainConfig`, the metric's protocol
    (``protocol``, a name in ``benchmark.metrics.PROTOCOLS``, changed by ``overrides`` ``{metric: {param:
    value}}``), per-factor keys named by the dataset's factors. Methods after the first score a little lower
    (by 0.03 each), so the tables have a best method. ``failed`` records (the first ones in a seeded shuffle)
    are written with status "failed" and an ``error``. ``run.dir`` points under ``run_dir_root`` (default: a
    path that does not exist, so checkpoint figures are skipped).
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    run_root = Path(run_dir_root) if run_dir_root is not None else out_dir / "_no_runs_here"
    env = {"suite": "0.1.0", "torch": "2.4.1", "numpy": np.__version__, "sklearn": "1.5.2", "python": "3.11.2"}
    protocols = {m: protocol_params(**resolve_protocol(m, dict((overrides or {}).get(m, {})), protocol))
                 for m in metrics}
    grids = {model: METHODS[model].study_grid for model in models}  # each method's declared study grid
    jobs = [(dataset, model, value, rank / (len(grids[model]) - 1) - 0.03 * m, s) for dataset in datasets
            for m, model in enumerate(models) for rank, value in enumerate(grids[model]) for s in range(seeds)]
    n_records = len(jobs) * len(representations) * len(metrics)
    fail_mask = np.zeros(n_records, dtype=bool)
    fail_mask[rng.permutation(n_records)[:failed]] = True
    fails = iter(fail_mask)
    for dataset, model, value, strength, s in jobs:
        axis = METHODS[model].study_axis
        config = TrainConfig.from_dict({"dataset": dataset, "model": model, "steps": steps, "seed": s, axis: value})
        run_dir = run_root / f"{dataset}-{model}-{axis}{value}-s{s}"
        rid = records.run_id(run_dir, config)
        ds = DATASETS[dataset]  # the class: name, source, stand_in and factor names without building it
        common = records.run_fields(rid, str(run_dir), 0, ds, {
            **config.to_dict(), "note": "synthetic record (benchmark.reports.synthetic): numbers are invented"}, env)
        for rep in representations:
            for metric in metrics:
                stream = [0, list(METRICS).index(metric),
                          0 if METRICS[metric].needs == "posteriors" else REPRESENTATIONS.index(rep)]
                elapsed = float(rng.uniform(0.5, 30))
                values = _values(metric, strength + (0.1 if rep == "mean" else 0.0), ds.factor_names, rng)
                outcome = ({"status": "failed", "error": "RuntimeError: synthetic failure (injected)"} if next(fails)
                           else {"status": "ok", **records.metric_fields(values)})
                record = {**common, **records.evaluation_fields(metric, rep, stream, protocols[metric], protocol), **outcome,
                          "eval.elapsed_s": elapsed, "eval.encoder_passes": 10_000,
                          "eval.timestamp": "2026-01-01T00:00:00Z"}
                records.write_record(records.record_path(out_dir, rid, rep, metric), record)
    return n_records
