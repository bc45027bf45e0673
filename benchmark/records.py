"""Result records and model identity: the one place that writes, reads and validates a record.

A result record is one flat JSON object per (run, representation, metric), stored at
``<results dir>/<run.id>/<representation>__<metric>.json``; its keys are listed in docs/RESULTS.md.

A model's identity is its resolved :class:`~benchmark.config.TrainConfig` without the execution-only fields
(:attr:`TrainConfig.EXECUTION_FIELDS`: device, data path, checkpoint and log cadence, speed switches). Values
are coerced by the config layer first, so ``beta: 4`` and ``beta: 4.0`` are one model. :func:`model_digest`
hashes that identity; the run id of a run directory and the trial id of a sweep both end with it, and the
resume check of training compares the same fields. A model the suite did not train (an encoder file or a Python
callable, :mod:`benchmark.encoders`) is identified by its file's digest or by the name its user gives it
(:func:`external_run_id`, :func:`external_fields`).

Evaluation (:mod:`benchmark.evaluation`), sweeps, reports and the synthetic-record generator all go through
this module; nothing else builds a record path or parses a record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmark import _io
from benchmark.config import TrainConfig

#: The files of a run directory (docs/RESULTS.md), named here so the torch-free layers need not import training.
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "log.jsonl"
DONE_FILE = "done.json"

#: The schema version written into every record (``record.schema``).
RECORD_SCHEMA = 1
#: Record schema versions this suite reads.
SUPPORTED_SCHEMAS = (1,)
#: Keys every record holds, with the type each must have.
REQUIRED_KEYS: dict[str, type] = {"status": str, "run.id": str, "eval.metric": str, "eval.representation": str}
#: The values of ``status``.
STATUSES = ("ok", "failed")


# ---------------------------------------------------------------------------------------------- identity
def model_identity(config: TrainConfig) -> dict[str, Any]:
    """The fields of ``config`` that define the trained model (every field but the execution-only ones)."""
    return {k: v for k, v in config.to_dict().items() if k not in TrainConfig.EXECUTION_FIELDS}


def model_digest(config: TrainConfig) -> str:
    """8 hex digits of SHA-256 over :func:`model_identity` as sorted, compact JSON."""
    blob = json.dumps(model_identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:8]


def differing_model_fields(a: TrainConfig, b: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """``{field: (a value, b value)}`` for the identity fields in which two configs differ."""
    return {k: v for k, v in a.differing_fields(b).items() if k not in TrainConfig.EXECUTION_FIELDS}


def run_id(run_dir: str | os.PathLike, config: TrainConfig) -> str:
    """``<run dir name>-<model digest>``; a directory already named ``...-<digest>`` (a sweep trial) keeps its name."""
    name, digest = Path(run_dir).resolve().name, model_digest(config)
    return name if name.endswith(f"-{digest}") else f"{name}-{digest}"


#: What a run id given by a user may be: a plain folder name (it names ``<results dir>/<run.id>/``), not hidden.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def external_run_id(encoder: Mapping[str, Any], given: str | None = None, what: str = "run_id_override") -> str:
    """``run.id`` of a model the suite did not train (``encoder``: :func:`benchmark.encoders.identity`).

    ``given`` when there is one (checked to be a plain folder name); else ``encoder-<first 12 hex digits of the
    file's SHA-256>`` for a TorchScript or torch.export file. A callable has no digest that pins it (its source
    file may import or read anything), so it needs ``given``. ValueError names ``what`` (the CLI's ``--id``).
    """
    if given is not None:
        if not isinstance(given, str) or not _RUN_ID.fullmatch(given):
            raise ValueError(f"{what} {given!r} must be a plain folder name (letters, digits, . _ + = -, not starting "
                             "with . or -): it names the folder of the records")
        return given
    if encoder["kind"] == "callable":
        raise ValueError(f"a Python callable needs a name for its records: give {what} NAME (its run.id)")
    return f"encoder-{encoder['sha256'][:12]}"


def external_fields(encoder: Mapping[str, Any], representations: Sequence[str]) -> dict[str, Any]:
    """The ``run.*`` keys of a model the suite did not train (docs/RESULTS.md): how it was given and which
    representations it offers; its checkpoint is its file (no step; finished by definition)."""
    return {
        "run.checkpoint_step": None,
        "run.checkpoint_sha256": encoder["sha256"],
        "run.finished": True,
        **{f"run.encoder_{k}": encoder[k] for k in ("kind", "path", "sha256", "name")},
        "run.representations": ",".join(representations),
    }


def decoder_fields(decoder: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run.decoder_*`` keys of the records that used a decoder given with the encoder (reconstruction)."""
    return {f"run.decoder_{k}": decoder[k] for k in ("kind", "path", "sha256", "name")}


# ---------------------------------------------------------------------------------------------- files
def record_path(results_dir: str | os.PathLike, rid: str, representation: str, metric: str) -> Path:
    return Path(results_dir) / rid / f"{representation}__{metric}.json"


def record_files(root: str | os.PathLike) -> list[str]:
    """Every record file under a results directory (``<root>/<run.id>/*.json``), or ``[root]`` for one file.

    Hidden files (atomic-write temporaries) are skipped. ``os.scandir`` is several times faster than
    ``Path.glob`` on 10,000 files, and the layout is fixed.
    """
    root = Path(root)
    if root.is_file():
        return [str(root)]
    out: list[str] = []
    with os.scandir(root) as top:
        for run_entry in top:
            if run_entry.name.startswith(".") or not run_entry.is_dir():
                continue
            with os.scandir(run_entry.path) as inner:
                out += [e.path for e in inner if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file()]
    return out


def write_record(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Validate ``record`` and write it atomically to ``path`` (a problem is a bug: ValueError)."""
    reason = validate(record)
    if reason:
        raise ValueError(f"refusing to write an invalid record to {path}: {reason}")
    _io.atomic_write_json(path, dict(record))


def validate(record: Any) -> str:
    """Why ``record`` is not a usable record (empty string when it is)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        return f"missing required key(s) {', '.join(missing)}"
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(record[key], kind):
            return f"{key} must be a {kind.__name__}, found {type(record[key]).__name__}"
    schema = record.get("record.schema", 1)
    if schema not in SUPPORTED_SCHEMAS:
        return f"record.schema {schema!r} is not supported (this suite reads {SUPPORTED_SCHEMAS})"
    if record["status"] not in STATUSES:
        return f"status must be 'ok' or 'failed', found {record['status']!r}"
    for key, value in record.items():
        if key.startswith("metric.") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} must be a number, found {type(value).__name__}"
    return ""


def read_record(path: str | os.PathLike) -> tuple[dict[str, Any] | None, str]:
    """``(record, "")`` for a valid record file, ``(None, reason)`` for anything else."""
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read())
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read: {exc}"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    reason = validate(record)
    return (None, reason) if reason else (record, "")


def read_ok_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record at ``path`` if it is a valid, finished ``ok`` record, else None.

    The one test of "this evaluation is done": evaluation skips such records, and a sweep counts a trial
    complete when all of its records pass it.
    """
    record, _ = read_record(path)
    return record if record is not None and record["status"] == "ok" else None


def finished_step(run_dir: str | os.PathLike) -> int | None:
    """The step at which a run finished training (its ``done.json``), or None when it has not (or is unreadable)."""
    try:
        step = json.loads((Path(run_dir) / DONE_FILE).read_text()).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None


def stale_reason(record: Mapping[str, Any], finished_steps: dict[str, int | None]) -> str:
    """Why ``record`` no longer describes its run ('' when it does): it scored a checkpoint of a step other than
    the one the run finished at (its ``run.dir``'s ``done.json``). ``finished_steps`` caches that step per run."""
    step, run_dir = record.get("run.checkpoint_step"), record.get("run.dir")
    if step is None or not isinstance(run_dir, str):
        return ""
    if run_dir not in finished_steps:
        finished_steps[run_dir] = finished_step(run_dir)
    done = finished_steps[run_dir]
    if done is None or done == step:
        return ""
    return f"stale: it scored the checkpoint of step {step}, the run has since finished at step {done}; re-evaluate it"


# ---------------------------------------------------------------------------------------------- building
def run_fields(
    rid: str, run_dir: str | None, eval_seed: int, dataset: Any, config: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    """The keys every record of one evaluated run shares: schema, run, dataset, config and versions."""
    return {
        "record.schema": RECORD_SCHEMA,
        "run.id": rid,
        "run.dir": run_dir,
        "eval.seed": int(eval_seed),
        "dataset.name": dataset.name,
        "dataset.source": getattr(dataset, "source", None),
        "dataset.stand_in": bool(getattr(dataset, "stand_in", False)),
        **{f"config.{k}": v for k, v in config.items()},
        **{f"env.{k}": v for k, v in env.items()},
    }


def evaluation_fields(metric: str, representation: str, stream: list[int], protocol: Mapping[str, Any],
                      protocol_name: str = "reference") -> dict[str, Any]:
    """The keys that say what was evaluated: metric, representation, its seed stream and full protocol (with the
    named protocol it started from; ``--set`` changes show in the ``protocol.*`` values)."""
    return {
        "eval.metric": metric,
        "eval.representation": representation,
        "eval.protocol": protocol_name,
        # the stream as a string: list-valued cells would make DataFrame columns unhashable
        "eval.seed_stream": ",".join(map(str, stream)),
        **{f"protocol.{metric}.{k}": v for k, v in protocol.items()},
    }


def metric_fields(values: Mapping[str, float]) -> dict[str, float]:
    """``metric.<key>`` entries of an ``ok`` record, as plain floats (NaN and ±inf are written as JSON's extensions)."""
    return {f"metric.{k}": float(v) for k, v in values.items()}


__all__ = [
    "CHECKPOINT_FILE", "CONFIG_FILE", "DONE_FILE", "LOG_FILE", "RECORD_SCHEMA", "REQUIRED_KEYS", "STATUSES", "SUPPORTED_SCHEMAS",
    "decoder_fields", "differing_model_fields", "evaluation_fields", "external_fields", "external_run_id", "finished_step",
    "metric_fields", "model_digest", "model_identity", "read_ok_record", "read_record", "record_files", "record_path", "run_fields", "run_id", "stale_reason", "validate", "write_record",
]
