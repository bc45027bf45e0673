"""Hand-made result records in the on-disk format of docs/RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path


def make_record(*, run_id, metric, values=None, representation="mean", model="beta_vae", hparam=4.0, seed=0,
                dataset="dsprites_procedural", steps=300_000, status="ok", error=None, timestamp="2026-01-01T00:00:00Z",
                run_dir="/nonexistent/run", stand_in=None, source="procedural", protocol=None):
    """One record; ``values`` maps metric keys (without ``metric.``) to floats."""
    rec = {
        "record.schema": 1, "status": status, "run.id": run_id, "run.dir": run_dir,
        "eval.metric": metric, "eval.representation": representation, "eval.seed": 0, "eval.elapsed_s": 1.0,
        "eval.encoder_passes": 100, "eval.timestamp": timestamp,
        "config.dataset": dataset, "config.dataset_path": None, "config.model": model, "config.architecture": "conv",
        "config.beta": hparam if model == "beta_vae" else 1.0, "config.c_max": hparam if model == "annealed_vae" else 0.0,
        "config.gamma": 1000.0, "config.num_latents": 10, "config.steps": steps, "config.batch_size": 64,
        "config.lr": 1e-4, "config.seed": seed,
        "dataset.name": dataset, "dataset.source": source,
        "dataset.stand_in": (dataset == "shapes3d_procedural") if stand_in is None else stand_in,
        "env.suite": "0.1.0", "env.torch": "2.4.1", "env.numpy": "1.26.4", "env.sklearn": "1.5.2", "env.python": "3.11",
    }
    rec.update({f"protocol.{metric}.{k}": v for k, v in (protocol or {"num_train": 10_000}).items()})
    if status == "ok":
        rec.update({f"metric.{k}": v for k, v in (values or {}).items()})
    else:
        rec["error"] = error or "RuntimeError: boom"
    return rec


def write_record(results_dir: Path, rec: dict) -> Path:
    path = Path(results_dir) / rec["run.id"] / f"{rec['eval.representation']}__{rec['eval.metric']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


