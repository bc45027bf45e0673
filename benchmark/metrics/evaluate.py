"""Evaluation of trained checkpoints into result records (docs/RESULTS.md), and ``dbench evaluate``.

One record file per (run, representation, metric), written atomically as
``RESULTS_DIR/<run.id>/<representation>__<metric>.json``. The dataset's grid is encoded lazily and at most
once per image for the whole evaluation (all metrics, both representations): see
:class:`benchmark.metrics._codes.GridEncoding`. Models are opened through
``benchmark.training.load_model(run_dir, device)``, imported when needed; torch is imported lazily too.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from benchmark import _io
from benchmark.metrics import _codes

RECORD_SCHEMA = 1


# ------------------------------------------------------------------------------------------ parsing
def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """``"all"``, ``"a,b"`` or a list → registered metric names in registry order; ValueError lists valid ones."""
    from benchmark.metrics import METRICS

    if isinstance(metrics, str):
        names = list(METRICS) if metrics.strip() == "all" else [m.strip() for m in metrics.split(",") if m.strip()]
    else:
        names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or names}; valid names: all, {', '.join(METRICS)}")
    return [m for m in METRICS if m in names]


def parse_representations(representation: str | Sequence[str]) -> list[str]:
    """``"mean"``, ``"sampled"``, ``"mean,sampled"`` or a list → list of representation kinds."""
    kinds = [r.strip() for r in representation.split(",")] if isinstance(representation, str) else list(representation)
    bad = [k for k in kinds if k not in _codes.REPRESENTATIONS]
    if bad or not kinds:
        raise ValueError(f"unknown representation(s) {bad or kinds}; valid: {', '.join(_codes.REPRESENTATIONS)}")
    return list(dict.fromkeys(kinds))


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; other names checked to be usable.

    The one resolver is :func:`benchmark.training.resolve_device` (imported here lazily); this returns its
    device as a string, the form the records store (``protocol.mig_sampled.device``).
    """
    from benchmark.training import resolve_device as _resolve

    return str(_resolve(device))


#: Config fields that change how a run is executed, not the model it trains: left out of the run id.
_EXECUTION_FIELDS = ("device", "checkpoint_every", "log_every", "compile", "dataset_cache")


def run_id(run_dir: str | os.PathLike, config: dict[str, Any]) -> str:
    """``<run dir name>-<first 8 hex of sha256 of the config as sorted JSON>``.

    ``env.*`` keys and the execution-only fields (device, checkpoint/log cadence, compile, dataset cache) are
    left out, so the id names the trained model; ``steps`` stays in (a run extended further is another model).
    """
    clean = {k: v for k, v in config.items() if not str(k).startswith("env") and k not in _EXECUTION_FIELDS}
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{Path(run_dir).resolve().name}-{digest}"


def record_path(results_dir: str | os.PathLike, rid: str, representation: str, metric: str) -> Path:
    return Path(results_dir) / rid / f"{representation}__{metric}.json"


def read_ok_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record at ``path`` if it is a finished ``ok`` record, else None (absent, unreadable or failed).

    The one test of "this evaluation is done": :func:`evaluate` skips such records, and a sweep counts a
    trial complete when all of its records pass it.
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):  # absent, unreadable, not JSON (JSONDecodeError is a ValueError)
        return None
    return record if isinstance(record, dict) and record.get("status") == "ok" else None


# ------------------------------------------------------------------------------------- the model side
def _model_encoder(model: Any, device: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    import torch

    def encode(images: np.ndarray):
        with torch.no_grad():
            mu, logvar = model.encode(torch.as_tensor(images, dtype=torch.float32, device=device))
        return mu.detach().cpu().numpy(), logvar.detach().cpu().numpy()

    return encode


def _model_reconstructor(model: Any, grid: _codes.GridEncoding, kind: str, rng: np.random.Generator, device: str):
    import torch

    def reconstruct(images: np.ndarray, indices: np.ndarray) -> np.ndarray:
        z = grid.codes(indices, kind, rng)  # shared grid encoding: no second encoder pass
        with torch.no_grad():
            logits = model.decode(torch.as_tensor(z, dtype=torch.float32, device=device))
        return logits.detach().cpu().numpy().reshape(images.shape)

    return reconstruct


def _load_run(run_dir: Path, device: str):
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    from benchmark.training import load_model  # lazily: the metrics layer never imports models at import time

    model, config = load_model(run_dir, device)
    return model, config.to_dict()


def _open_dataset(dataset: Any, cfg: dict[str, Any]):
    from benchmark import datasets

    wanted = cfg.get("dataset")
    if dataset is None:
        if not wanted:
            raise ValueError("no dataset given and the run's config has no 'dataset' field")
        from benchmark.config import TrainConfig
        from benchmark.training import open_dataset  # lazily, like load_model

        # The dataset exactly as the run trained on it (dataset, dataset_path, and its full-grid cache when
        # the run chose dataset_cache: the grid is then rendered once).
        return open_dataset(TrainConfig.from_dict(cfg))
    ds = datasets.get(dataset) if isinstance(dataset, str) else dataset
    if wanted and ds.name != wanted and ds.name.replace("_procedural", "") != wanted.replace("_procedural", ""):
        raise ValueError(f"the run was trained on dataset {wanted!r} but dataset {ds.name!r} was given for evaluation")
    return ds


# ------------------------------------------------------------------------------------------ evaluate
def evaluate(
    run_dir_or_model: Any,
    dataset: Any = None,
    metrics: str | Sequence[str] = "all",
    representation: str | Sequence[str] = "mean",
    seed: int = 0,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    *,
    device: str = "cpu",
    run_id_override: str | None = None,
    progress: Callable[[str], None] | None = None,
    encode_batch_size: int = 1024,
    **overrides: dict[str, Any],
) -> list[dict[str, Any]]:
    """Score one trained run (or an in-memory model) with the registered metrics.

    Args:
        run_dir_or_model: a run directory (opened with ``benchmark.training.load_model``) or a model with
            ``encode(images) -> (mu, logvar)`` and ``decode(z) -> logits`` (torch).
        dataset: a dataset object or registry name; default: the run config's ``dataset``/``dataset_path``.
            A dataset other than the one the run was trained on is refused (ValueError).
        metrics: ``"all"``, ``"mig,dci"`` or a list of names of :data:`benchmark.metrics.METRICS`.
        representation: ``"mean"``, ``"sampled"``, ``"mean,sampled"`` or a list; all share one grid encoding.
        seed: evaluation seed. Each (metric, representation) draws from its own stream
            ``SeedSequence([seed, metric position in METRICS, representation position])`` (recorded as
            ``eval.seed_stream`` ``"seed,metric,repr"``), so a record does
            not depend on which other metrics were evaluated with it (``mig_sampled`` uses position 0 for both
            representations: its estimator always samples from q(z|x)).
        results_dir: where records are written (``<results_dir>/<run.id>/<repr>__<metric>.json``); None
            writes nothing. Existing ``ok`` records are skipped (and returned) unless ``force``.
        device: torch device for the encoder/decoder and every metric with a ``device`` protocol parameter
            (the sampled-MIG estimator); ``auto`` picks cuda.
        run_id_override: ``run.id`` for an in-memory model (default ``"model"``).
        progress: called with one line per run and per metric (the CLI prints them).
        encode_batch_size: images per encoder call.
        overrides: per-metric protocol changes, ``mig={"num_train": 1000}``; recorded under ``protocol.*``.

    Returns:
        The records (flat dicts, see docs/RESULTS.md), one per (representation, metric), in order. A metric
        that raises gives a ``status: failed`` record with its ``error``; loading failures raise.
    """
    from benchmark.metrics import METRICS

    names = parse_metrics(metrics)
    kinds = parse_representations(representation)
    bad = [k for k in overrides if k not in METRICS]
    if bad:
        raise ValueError(f"overrides must be keyed by metric name ({', '.join(METRICS)}), got {bad}")
    for k, v in overrides.items():
        if not isinstance(v, dict):
            raise ValueError(f"override {k}= must be a dict of protocol parameters, got {type(v).__name__}")
        _codes.resolve(k, METRICS[k].defaults, v)  # unknown parameters fail before any work
    seed = int(seed)
    device = resolve_device(device)
    say = progress or (lambda line: None)

    if isinstance(run_dir_or_model, (str, os.PathLike)):
        run_dir = Path(run_dir_or_model).resolve()
        model, cfg = _load_run(run_dir, device)
        rid = run_id_override or run_id(run_dir, cfg)
    else:
        run_dir, model = None, run_dir_or_model
        cfg = dict(getattr(getattr(model, "config", None), "to_dict", lambda: {})())
        rid = run_id_override or "model"
    ds = _open_dataset(dataset, cfg)
    if hasattr(model, "eval"):
        model.eval()

    grid = _codes.GridEncoding.from_images(ds, _model_encoder(model, device), batch_size=encode_batch_size)
    env = _io.environment_versions()
    base = {
        "record.schema": RECORD_SCHEMA,
        "run.id": rid,
        "run.dir": str(run_dir) if run_dir else None,
        "eval.seed": seed,
        "dataset.name": ds.name,
        "dataset.source": getattr(ds, "source", None),
        "dataset.stand_in": bool(getattr(ds, "stand_in", False)),
        **{f"config.{k}": v for k, v in cfg.items() if not str(k).startswith("env")},
        **{f"env.{k}": v for k, v in env.items()},
    }
    say(f"run {rid}: dataset {ds.name} ({len(ds)} grid images), metrics {','.join(names)}, representations {','.join(kinds)}")
    records: list[dict[str, Any]] = []
    cache: dict[str, dict[str, float]] = {}
    metric_pos = {n: i for i, n in enumerate(METRICS)}
    for kind in kinds:
        for name in names:
            metric = METRICS[name]
            path = record_path(results_dir, rid, kind, name) if results_dir is not None else None
            old = read_ok_record(path) if path is not None and not force else None
            if old is not None:
                say(f"  {kind}/{name}: exists, skipped ({path})")
                records.append(old)
                continue
            params = {**metric.defaults, **overrides.get(name, {})}
            if "device" in metric.defaults and "device" not in overrides.get(name, {}):
                params["device"] = device  # a metric that computes with torch runs where the encoder runs
            rep_pos = 0 if metric.needs == "posteriors" else _codes.REPRESENTATIONS.index(kind)
            stream = [seed, metric_pos[name], rep_pos]
            rng = np.random.default_rng(np.random.SeedSequence(stream))
            before = grid.encoder_passes
            start = time.perf_counter()
            rec = dict(base)
            # the stream as a string: list-valued cells would make DataFrame columns unhashable
            rec.update({"eval.metric": name, "eval.representation": kind, "eval.seed_stream": ",".join(map(str, stream))})
            rec.update({f"protocol.{name}.{k}": v for k, v in _codes.protocol_params(**params).items()})
            try:
                if metric.needs == "posteriors" and name in cache:
                    values = cache[name]
                elif metric.needs == "decoder":
                    recon_rng = np.random.default_rng(np.random.SeedSequence(stream + [1]))
                    values = metric.compute(ds, _model_reconstructor(model, grid, kind, recon_rng, device), rng, **params)
                else:
                    values = metric.compute(ds, grid.representation(kind), rng, **params)
                if metric.needs == "posteriors":
                    cache[name] = values
                rec["status"] = "ok"
                rec.update({f"metric.{k}": float(v) for k, v in values.items()})
            except Exception as exc:  # one failing metric must not lose the others; the record says why
                rec["status"] = "failed"
                rec["error"] = f"{type(exc).__name__}: {exc}"
            rec["eval.elapsed_s"] = time.perf_counter() - start
            rec["eval.encoder_passes"] = grid.encoder_passes
            rec["eval.encoder_passes_metric"] = grid.encoder_passes - before
            rec["eval.timestamp"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            if path is not None:
                _io.atomic_write_json(path, rec)
            shown = ", ".join(f"{k[7:]}={v:.4g}" for k, v in rec.items() if k.startswith("metric.") and k.count(".") <= 2)
            say(
                f"  {kind}/{name}: {rec['status']} in {rec['eval.elapsed_s']:.1f}s "
                f"(encoder passes {grid.encoder_passes}) {shown or rec.get('error', '')}"
            )
            records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------- CLI
def _parse_set(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        metric, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise ValueError(f"--set expects METRIC.PARAM=VALUE (e.g. dci.num_train=1000), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(metric, {})[param] = value
    return out


def cli_evaluate(args: Any) -> int:
    """``dbench evaluate``: every run dir in turn; failures reported at the end; exit 1 if any failed."""
    try:
        names = parse_metrics(args.metrics)
        kinds = parse_representations(args.representation)
        overrides = _parse_set(args.set or [])
    except ValueError as exc:
        print(f"dbench evaluate: {exc}", file=sys.stderr)
        return 2
    failures: list[tuple[str, str]] = []
    total = len(args.run_dirs)
    for i, run_dir in enumerate(args.run_dirs, 1):
        print(f"[{i}/{total}] {run_dir}", flush=True)
        try:
            records = evaluate(
                run_dir, dataset=args.dataset, metrics=names, representation=kinds, seed=args.seed,
                results_dir=args.results, force=args.force, device=args.device,
                progress=lambda line: print(line, flush=True), **overrides,
            )
        except Exception as exc:  # a missing/corrupt checkpoint must not stop the other runs
            failures.append((str(run_dir), f"{type(exc).__name__}: {exc}"))
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        for rec in records:
            if rec.get("status") != "ok":
                failures.append((str(run_dir), f"{rec['eval.representation']}/{rec['eval.metric']}: {rec.get('error')}"))
    print(f"evaluated {total - len({f[0] for f in failures})}/{total} runs without failure; records in {args.results}")
    if failures:
        print("failures:", file=sys.stderr)
        for run_dir, reason in failures:
            print(f"  {run_dir}: {reason}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any) -> None:
    """The ``evaluate`` subcommand (called from ``benchmark.cli``)."""
    p = sub.add_parser(
        "evaluate",
        help="score trained run directories with the disentanglement metrics",
        description="Score run directories; one JSON record per (run, representation, metric) in --results.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by `dbench train`")
    p.add_argument("--metrics", default="all", help="'all' or a comma list of: " + ", ".join(_metric_names()))
    p.add_argument("--representation", default="mean", help="mean, sampled or mean,sampled (default: mean)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if available), cpu, cuda, ...")
    p.add_argument("--dataset", default=None, help="dataset name (default: the run's config)")
    p.add_argument("--force", action="store_true", help="recompute records that already exist")
    p.add_argument(
        "--set", action="append", metavar="METRIC.PARAM=VALUE",
        help="change a protocol parameter, e.g. --set dci.num_train=1000 (recorded under protocol.*)",
    )
    p.set_defaults(func=cli_evaluate)


def _metric_names() -> list[str]:
    from benchmark.metrics import METRICS

    return list(METRICS)
