"""The training loop: a short explicit loop with atomic checkpoints, exact resume and per-step loss logs.

``train(config, run_dir)`` trains the VAE ``config`` describes for ``config.steps`` Adam updates and leaves a
run directory: ``config.json``, ``checkpoint.pt``, ``log.jsonl``, ``done.json`` (their contents: docs/RESULTS.md),
or ``error.json`` when the loss became non-finite. ``benchmark.packing.train_pack`` trains several such runs as
one network and leaves each the same run directory; the run-directory steps below are shared with it.

Determinism: every random stream derives from ``config.seed`` through ``numpy.random.SeedSequence(seed)
.spawn(5)`` — initial weights, the batch stream, the reparameterisation noise (a ``torch.Generator``), and for
a method with an auxiliary network (FactorVAE) its initial weights and its draws (the code shuffles). On
CPU the same config gives bit-identical weights, and a run interrupted anywhere and resumed from its last
checkpoint ends bit-identical to an uninterrupted one (the checkpoint holds every optimizer, generator and
batch-stream state). CUDA kernels are not guaranteed bit-reproducible.

Step convention: the update with index t = 0, 1, ... sees C(t) of the annealed objective; after it the run
has done ``step = t + 1`` updates, which is the ``step`` that logs, checkpoints and callbacks report.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch

import benchmark.datasets as datasets
from benchmark._io import UserError, atomic_path, atomic_write_json, atomic_write_text, environment_versions, exclusive_lock, read_jsonl
from benchmark.config import TrainConfig
from benchmark.models import (AUXILIARIES, OBJECTIVES, VAE, _seed_int, build_auxiliary, build_model, build_model_from_spec,
                              objective_hyperparameters)
from benchmark.records import CHECKPOINT_FILE, CONFIG_FILE, DONE_FILE, LOG_FILE, differing_model_fields, finished_step

CHECKPOINT_FORMAT = "dbench.checkpoint/2"
#: Older formats still read: /1 has no ``sha256`` (written before checkpoints carried their digest).
_READABLE_FORMATS = ("dbench.checkpoint/1", CHECKPOINT_FORMAT)


class CheckpointError(RuntimeError, UserError):
    """A checkpoint or run directory that cannot be used: corrupt, truncated, or not matching the config."""


class ConfigMismatchError(ValueError, UserError):
    """``train`` was given a config that differs from the one the run directory was started with."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and the last finite loss terms, ``step``
    holds the step."""

    step: int | None = None


#: Written into a run directory whose loss became non-finite: ``{"error", "message", "step"}``; removed when
#: the run trains again. (Its torch-free home is benchmark.records, beside DONE_FILE: to move there.)
ERROR_FILE = "error.json"


# ---------------------------------------------------------------------------------------------- helpers
def resolve_device(name: str) -> torch.device:
    """``"auto"`` → cuda if available else cpu; otherwise ``torch.device(name)``, checked to be usable."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but MPS is not available; use --device cpu or auto")
    return device


def _versions() -> dict[str, str]:
    # str(): torch.__version__ is a TorchVersion object, which weights_only loading refuses. The thread count
    # is recorded because CPU results are bit-identical only at the same count.
    return {**{k: str(v) for k, v in environment_versions().items()}, "torch_threads": str(torch.get_num_threads())}


def _seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    # spawn(5)[:3] equals spawn(3): the auxiliary streams left the first three (and every older run) unchanged.
    init, data, noise, aux_init, aux_noise = np.random.SeedSequence(seed).spawn(5)
    return {"init": init, "data": data, "noise": noise, "aux_init": aux_init, "aux_noise": aux_noise}


def _call(callbacks: Iterable[Any], method: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


def _terms_dict(row: np.ndarray, num_latents: int, tensor_keys: tuple[str, ...], floats: Mapping[str, float]) -> dict[str, float]:
    """Named loss terms of one step from its packed row ``[loss, recon, kl, kl_0..kl_{D-1}, *tensor extras]``."""
    terms = {"loss": float(row[0]), "recon": float(row[1]), "kl": float(row[2])}
    for d, v in enumerate(row[3 : 3 + num_latents]):
        terms[f"kl.{d}"] = float(v)
    terms.update({k: float(v) for k, v in zip(tensor_keys, row[3 + num_latents :])})
    terms.update({k: float(v) for k, v in floats.items()})
    return terms


def _format_terms(terms: Mapping[str, float] | None) -> str:
    if not terms:
        return "none (no step finished with a finite loss)"
    main = ", ".join(f"{k}={v:.6g}" for k, v in terms.items() if not k.startswith("kl."))
    per = ", ".join(f"{terms[k]:.4g}" for k in terms if k.startswith("kl."))
    return f"{main}; KL per latent [{per}]"


def open_dataset(config: TrainConfig) -> datasets.GroundTruthDataset:
    """The dataset ``config`` trains on (``dataset``, ``dataset_path``, ``dataset_cache``)."""
    if not config.dataset_cache:
        return datasets.get(config.dataset, path=config.dataset_path)
    try:
        return datasets.get(config.dataset, path=config.dataset_path, cache=True)
    except TypeError:
        raise ValueError(f"TrainConfig.dataset_cache: dataset {config.dataset!r} has no cache option; set dataset_cache false") from None


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` saved in ``run_dir/config.json``; a clear error if missing or malformed."""
    path = Path(run_dir) / CONFIG_FILE
    if Path(run_dir).is_file():
        raise CheckpointError(f"{run_dir} is a file, not a run directory (dbench train --out DIR makes one)")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file; {run_dir} is not a dbench run directory (dbench train --out DIR makes one)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the run's config ({e}); the file is corrupt") from None
    return TrainConfig.from_dict(data, what=str(path), stored=True)


# ---------------------------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict at ``path`` (``torch.load(weights_only=True)``), its format checked.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, corrupt or not a dbench
    checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for damaged files
        raise CheckpointError(
            f"{path}: cannot read the checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "the file is truncated or corrupt. Delete it to restart the run from scratch, or restore a copy."
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") not in _READABLE_FORMATS:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a dbench checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    missing = [k for k in ("step", "config", "model_spec", "model", "optimizer", "rng", "data") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}; the file is damaged")
    if ckpt["format"] == CHECKPOINT_FORMAT and ckpt.get("sha256") != state_digest(ckpt):
        raise CheckpointError(
            f"{path}: checksum mismatch: the file's content is not what was written (bit rot or a partial copy). "
            "Restore the file from a copy, or delete it (and the run's log.jsonl rows past the last good step) to "
            "retrain from scratch."
        )
    if not isinstance(ckpt["step"], int) or ckpt["step"] < 0:
        raise CheckpointError(f"{path}: checkpoint step must be a non-negative integer, found {ckpt['step']!r}")
    return ckpt


def state_digest(ckpt: dict[str, Any]) -> str:
    """SHA-256 over every entry of a checkpoint dict but ``sha256`` itself: tensors by dtype, shape and bytes,
    everything else by ``repr``, dict keys sorted. Written into each checkpoint and checked on every load."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            for k in sorted(x, key=repr):
                if k != "sha256" or x is not ckpt:
                    h.update(f"K{k!r}".encode())
                    feed(x[k])
        elif isinstance(x, (list, tuple)):
            h.update(f"L{len(x)}".encode())
            for v in x:
                feed(v)
        else:
            h.update(f"V{x!r}".encode())

    feed(ckpt)
    return h.hexdigest()


def _save_checkpoint(path: Path, ckpt: dict[str, Any]) -> None:
    ckpt = {**ckpt, "sha256": state_digest(ckpt)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())


def _load_weights(model: torch.nn.Module, state: Mapping[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: the weights do not fit the model the checkpoint describes: {e}") from e


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[VAE, TrainConfig]:
    """``(model, config)`` of a run directory (or a ``checkpoint.pt`` path): the latest checkpoint's weights.

    The model is in eval mode on ``device``; ``config`` is the run's resolved :class:`TrainConfig`.
    Raises :class:`CheckpointError` naming the file for a missing, corrupt, truncated or mismatched checkpoint.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
        if not path.exists() and (path.parent / CONFIG_FILE).exists():
            raise CheckpointError(f"{path}: no checkpoint yet; the run has not reached its first checkpoint")
    ckpt = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(ckpt["config"], what=f"{path} (config)", stored=True)
        model = build_model_from_spec(ckpt["model_spec"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: the checkpoint's config or model spec is invalid: {e}") from e
    _load_weights(model, ckpt["model"], path)
    model.eval()
    return model.to(device), config


def checkpoint_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What a run directory's checkpoint is: ``step``, ``sha256`` (its digest; None for format /1) and
    ``finished`` (training reached its budget: ``done.json`` written at that step). Raises :class:`CheckpointError`."""
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / CHECKPOINT_FILE)
    finished = finished_step(run_dir) == ckpt["step"] == int(ckpt["config"].get("steps", -1))
    return {"step": int(ckpt["step"]), "sha256": ckpt.get("sha256"), "finished": bool(finished)}


# ---------------------------------------------------------------------------------------------- log file
def _truncate_log(path: Path, last_step: int) -> None:
    """Keep only the rows of ``path`` with ``step <= last_step`` (rows written after the checkpoint are redone)."""
    if not path.exists():
        return
    kept: list[str] = []
    changed = False
    for line in path.read_text().splitlines():
        try:
            step = json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            changed = True
            warnings.warn(f"{path}: dropped a line cut by an interrupted write ({line[:60]!r}); its steps, after the "
                          "last checkpoint, are trained again", stacklevel=3)
            continue
        if step <= last_step:
            kept.append(line)
        else:
            changed = True
    if changed:
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def _append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(row) + "\n" for row in rows))
        f.flush()
        os.fsync(f.fileno())


def read_log(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``run_dir/log.jsonl`` as dicts (empty if the run has not logged yet)."""
    return read_jsonl(Path(run_dir) / LOG_FILE)


# ---------------------------------------------------------------------------------------------- training
class _Prefetcher:
    """Draws batches from a batch stream in a background thread, up to ``depth`` ahead of the training step
    (where that pays: :func:`prefetch_pays`).

    Rendering or gathering the next batch then overlaps the forward/backward pass (numpy and torch release
    the GIL). One worker thread draws in order, so the batches are exactly the stream's; :attr:`state` is the
    stream state right after the last batch handed out — what a checkpoint must store so that a resumed run
    draws the next batch, not one the worker had drawn ahead.
    """

    def __init__(self, stream: Any, depth: int = 2):
        self._stream = stream
        self.state = stream.state_dict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbench-batches")
        self._ahead = collections.deque(self._pool.submit(self._draw) for _ in range(depth))

    def _draw(self) -> tuple[torch.Tensor, dict[str, Any]]:
        batch = next(self._stream)
        return batch, self._stream.state_dict()

    def __next__(self) -> torch.Tensor:
        batch, self.state = self._ahead.popleft().result()  # re-raises what the worker raised
        self._ahead.append(self._pool.submit(self._draw))
        return batch

    def state_dict(self) -> dict[str, Any]:
        return self.state

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def prefetch_pays(device: torch.device) -> bool:
    """Whether drawing batches in a background thread (:class:`_Prefetcher`) overlaps the training step.

    On an accelerator it does: the host is idle while the device computes. On the CPU only when torch leaves
    a core free: with a compute thread on every core, the batch thread can only run by preempting one of them,
    and torch's other threads then wait for it at the end of every parallel region (measured with
    bench/train.py on 2 cores: README, Training). There the batch is drawn in the loop instead, between steps.
    """
    if device.type != "cpu":
        return True
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return torch.get_num_threads() < cores


def _check_resumable(config: TrainConfig, saved: TrainConfig, source: Path, extend: bool = False) -> None:
    # The same identity fields that run ids and trial ids hash (records.differing_model_fields); `extend`
    # lets `steps` grow: the run then becomes the longer-budget model, on the same trajectory.
    diff = differing_model_fields(saved, config)
    if extend:
        diff.pop("steps", None)
    if diff:
        details = "; ".join(f"{k}: {a!r} in the run, {b!r} given" for k, (a, b) in diff.items())
        hint = (" To train the same run to a larger budget, resume with --extend." if set(diff) == {"steps"} else "")
        raise ConfigMismatchError(
            f"{source} was written by a different model config ({details}). Train into a new run directory, or "
            f"resume with the saved config (dbench train --resume {source.parent}).{hint}"
        )


@dataclasses.dataclass
class _Session:
    """The live state of one training session: everything a checkpoint is made of."""

    config: TrainConfig
    model: VAE
    optimizer: torch.optim.Optimizer
    noise_gen: torch.Generator
    stream: Any  # the dataset's batch stream, or the prefetcher drawing from it
    device: torch.device
    versions: dict[str, str]
    auxiliary: torch.nn.Module | None = None  # the method's auxiliary network (FactorVAE's discriminator)
    aux_optimizer: torch.optim.Optimizer | None = None
    aux_gen: torch.Generator | None = None

    def checkpoint(self, step: int, elapsed: float, last_terms: dict[str, float] | None) -> dict[str, Any]:
        """The checkpoint dict (docs/RESULTS.md) of this session at ``step``."""
        auxiliary = None if self.auxiliary is None else (
            self.auxiliary.state_dict(), self.aux_optimizer.state_dict(), self.aux_gen.get_state())
        return checkpoint_dict(self.config, step, self.model.spec(), self.model.state_dict(), self.optimizer.state_dict(),
                               self.noise_gen.get_state(), self.device.type, self.stream.state_dict(), elapsed,
                               last_terms, self.versions, auxiliary)

    def restore(self, ckpt: dict[str, Any], path: Path) -> None:
        if ckpt["rng"].get("device_type") != self.device.type:
            raise CheckpointError(
                f"{path} was written on {ckpt['rng'].get('device_type')}; its random streams cannot continue on "
                f"{self.device.type}. Resume with --device {ckpt['rng'].get('device_type')}."
            )
        _load_weights(self.model, ckpt["model"], path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.noise_gen.set_state(ckpt["rng"]["noise"].cpu())
            self.stream.load_state_dict(ckpt["data"])
            if self.auxiliary is not None:
                if "auxiliary" not in ckpt:
                    raise KeyError(f"no state of {self.config.model}'s auxiliary network")
                _load_weights(self.auxiliary, ckpt["auxiliary"]["model"], path)
                self.aux_optimizer.load_state_dict(ckpt["auxiliary"]["optimizer"])
                self.aux_gen.set_state(ckpt["auxiliary"]["rng"].cpu())
        except (ValueError, RuntimeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: cannot restore the training state: {e}") from e


def checkpoint_dict(config: TrainConfig, step: int, model_spec: dict, model: dict, optimizer: dict, noise: torch.Tensor,
                    device_type: str, data: Any, elapsed: float, last_terms: dict[str, float] | None,
                    versions: dict[str, str], auxiliary: tuple[dict, dict, torch.Tensor] | None = None) -> dict[str, Any]:
    """The checkpoint dict of one run (docs/RESULTS.md): what a solo session and each member of a pack save.
    ``auxiliary``: ``(state dict, optimizer state dict, generator state)`` of the method's auxiliary network."""
    return {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "config": config.to_dict(),
        "model_spec": model_spec,
        "model": model,
        "optimizer": optimizer,
        "rng": {"noise": noise, "device_type": device_type},
        "data": data,
        "elapsed_s": float(elapsed),
        "last_terms": last_terms,
        "versions": versions,
        **({} if auxiliary is None else {"auxiliary": dict(zip(("model", "optimizer", "rng"), auxiliary))}),
    }


def _new_session(config: TrainConfig) -> _Session:
    device = resolve_device(config.device)
    dataset = open_dataset(config)
    streams = _seed_streams(config.seed)
    model = build_model(config, tuple(dataset.observation_shape), seed=streams["init"]).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps
    )
    noise_gen = torch.Generator(device=device).manual_seed(_seed_int(streams["noise"]))
    stream = dataset.batch_stream(config.batch_size, streams["data"], device)
    session = _Session(config, model, optimizer, noise_gen, stream, device, _versions())
    auxiliary = build_auxiliary(config, streams["aux_init"])
    if auxiliary is not None:
        spec = AUXILIARIES[config.model]
        session.auxiliary = auxiliary.to(device)
        session.aux_optimizer = torch.optim.Adam(auxiliary.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps)
        session.aux_gen = torch.Generator(device=device).manual_seed(_seed_int(streams["aux_noise"]))
    return session


class _TermLog:
    """Loss terms of the steps since the last drain, kept on the device so the loop never waits for the GPU.

    :meth:`drain` moves them to the host, checks them (non-finite → :class:`NonFiniteLossError`), turns the
    logged steps into ``log.jsonl`` rows and reports them to the callbacks; :meth:`flush` appends the rows.
    """

    def __init__(self, config: TrainConfig, run_dir: Path, start: int, last_terms, callbacks, bar):
        self.config, self.run_dir, self.callbacks, self.bar = config, run_dir, callbacks, bar
        self.pending: list[torch.Tensor] = []
        self.pending_floats: list[dict[str, float]] = []  # extras given as plain floats (AnnealedVAE's C(t))
        self.tensor_keys: tuple[str, ...] = ()
        self.first = start + 1
        self.rows: list[dict[str, Any]] = []
        self.last_terms = last_terms

    def add(self, out: dict[str, torch.Tensor], loss: torch.Tensor, extras: Mapping[str, Any]) -> None:
        self.tensor_keys = tuple(k for k, v in extras.items() if isinstance(v, torch.Tensor))
        parts = [loss, out["recon"], out["kl"], out["kl_per_latent"], *(extras[k] for k in self.tensor_keys)]
        self.pending.append(torch.cat([p.detach().float().reshape(-1) for p in parts]))
        self.pending_floats.append({k: float(v) for k, v in extras.items() if k not in self.tensor_keys})

    def flush(self) -> None:
        _append_rows(self.run_dir / LOG_FILE, self.rows)
        self.rows.clear()

    def drain(self) -> None:
        if not self.pending:
            return
        block, floats = torch.stack(self.pending).float().cpu().numpy(), self.pending_floats
        self.pending, self.pending_floats = [], []
        self.consume(block, floats, self.tensor_keys)

    def consume(self, block: np.ndarray, floats: list[dict[str, float]], tensor_keys: tuple[str, ...]) -> None:
        """Check, log and report the steps ``first``, ``first + 1``, … whose packed rows are ``block`` (one per step;
        ``floats``: each step's float extras). A pack drains its members' rows through here too."""
        finite = np.isfinite(block).all(axis=1)
        for i, row in enumerate(block):
            step = self.first + i
            terms = _terms_dict(row, self.config.num_latents, tensor_keys, floats[i])
            if not finite[i]:
                self.flush()
                self._fail(step, terms)
            self.last_terms = terms
            if step % self.config.log_every == 0 or step == self.config.steps:
                self.rows.append({"step": step, **terms})
                _call(self.callbacks, "on_log", step, terms)
        if self.bar is not None:
            self.bar.update(self.first + len(block) - 1 - self.bar.n)
            self.bar.set_postfix(loss=f"{self.last_terms['loss']:.2f}", kl=f"{self.last_terms['kl']:.2f}", refresh=False)
        self.first += len(block)

    def _fail(self, step: int, terms: dict[str, float]) -> None:
        ckpt_path = self.run_dir / CHECKPOINT_FILE
        error = NonFiniteLossError(
            f"{self.run_dir}: non-finite loss at step {step} ({_format_terms(terms)}). Last finite loss terms "
            f"(step {step - 1}): {_format_terms(self.last_terms)}. The last good checkpoint "
            f"{ckpt_path if ckpt_path.exists() else '(none written yet)'} is left intact; lower the learning "
            "rate or check the data."
        )
        error.step = step
        atomic_write_json(self.run_dir / ERROR_FILE, {"error": type(error).__name__, "message": str(error), "step": step})
        raise error


def _warn_if_threads_differ(ckpt: dict[str, Any], s: _Session) -> None:
    before = (ckpt.get("versions") or {}).get("torch_threads")
    if s.device.type == "cpu" and before is not None and before != s.versions["torch_threads"]:
        warnings.warn(f"resuming a run trained with {before} torch thread(s) on {s.versions['torch_threads']}: on CPU the "
                      "weights stay bit-identical to an uninterrupted run only at the same thread count "
                      f"(set OMP_NUM_THREADS={before} or torch.set_num_threads({before}))", stacklevel=3)


def _existing_checkpoint(config: TrainConfig, run_dir: Path, extend: bool) -> dict[str, Any] | None:
    """The run directory's checkpoint (None for a new run), checked to belong to ``config``."""
    config_path, ckpt_path = run_dir / CONFIG_FILE, run_dir / CHECKPOINT_FILE
    if config_path.exists():
        _check_resumable(config, read_config(run_dir), config_path, extend)
    if not ckpt_path.exists():
        return None
    ckpt = load_checkpoint(ckpt_path)
    try:
        saved = TrainConfig.from_dict(ckpt["config"], what=f"{ckpt_path} (config)", stored=True)
    except ValueError as e:
        raise CheckpointError(f"{ckpt_path}: the checkpoint's config is invalid: {e}") from e
    _check_resumable(config, saved, ckpt_path, extend)
    if ckpt["step"] > config.steps:
        raise ConfigMismatchError(f"{ckpt_path} is at step {ckpt['step']}, beyond the requested budget of {config.steps} steps")
    return ckpt


def _run_steps(s: _Session, run_dir: Path, start: int, elapsed_before: float, log: _TermLog, callbacks) -> None:
    """Updates ``start`` … ``config.steps − 1``, with logs and checkpoints at their cadence."""
    config, ckpt_path = s.config, run_dir / CHECKPOINT_FILE
    step_model = torch.compile(s.model) if config.compile else s.model
    autocast = torch.autocast(s.device.type, dtype=torch.bfloat16, enabled=config.bf16)
    objective, hparams = OBJECTIVES[config.model], objective_hyperparameters(config)
    if s.auxiliary is not None:
        hparams.update(auxiliary=s.auxiliary, generator=s.aux_gen)
        s.auxiliary.train()
    batch_shape = (config.batch_size, config.num_latents)
    t0 = time.perf_counter()
    s.model.train()
    for t in range(start, config.steps):
        images = next(s.stream)
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        noise = torch.randn(batch_shape, generator=s.noise_gen, device=s.device)
        with autocast:
            out = step_model(images, noise=noise)
        loss, extras = objective(out["recon"], out["kl"], out["mu"], out["logvar"], out["z"], t, **hparams)
        if s.auxiliary is None:
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            s.optimizer.step()
        else:
            _update_with_auxiliary(s, loss, extras["auxiliary_loss"])
        log.add(out, loss, extras)
        step = t + 1
        at_checkpoint = step % config.checkpoint_every == 0 or step == config.steps
        if at_checkpoint or step % config.log_every == 0:
            log.drain()
        if at_checkpoint:
            log.flush()
            _save_checkpoint(ckpt_path, s.checkpoint(step, elapsed_before + time.perf_counter() - t0, log.last_terms))
            _call(callbacks, "on_checkpoint", step, str(run_dir))


def _update_with_auxiliary(s: _Session, loss: torch.Tensor, auxiliary_loss: torch.Tensor) -> None:
    """One step of both optimizers from one forward pass: the VAE's weights by the gradient of ``loss``, the
    auxiliary network's by that of ``auxiliary_loss`` (neither loss reaches the other's weights)."""
    vae_params, aux_params = list(s.model.parameters()), list(s.auxiliary.parameters())
    vae_grads = torch.autograd.grad(loss, vae_params, retain_graph=True)
    aux_grads = torch.autograd.grad(auxiliary_loss, aux_params)
    for p, g in zip(vae_params + aux_params, vae_grads + aux_grads):
        p.grad = g
    s.optimizer.step()
    s.aux_optimizer.step()


def train(
    config: TrainConfig | Mapping[str, Any],
    run_dir: str | os.PathLike,
    callbacks: Iterable[Any] = (),
    progress: bool | None = None,
    extend: bool = False,
) -> dict[str, Any]:
    """Train (or resume) the run ``config`` describes in ``run_dir``; return the summary that ``done.json`` holds.

    If ``run_dir`` holds a checkpoint, training continues from it: the config must describe the same model
    (every field but :attr:`TrainConfig.EXECUTION_FIELDS`, the set run ids leave out too), otherwise
    :class:`ConfigMismatchError` names the differing fields; ``extend=True`` also accepts a larger ``steps``
    (the run continues on the same trajectory and becomes the longer-budget model). A finished run returns
    its summary without training. ``callbacks`` are objects with any of ``on_log(step, terms)`` (each logged
    step, ``terms`` the dict of a log row), ``on_checkpoint(step, run_dir)`` (after each checkpoint is on disk)
    and ``on_end(summary)``; an exception they raise stops the run (the last checkpoint stays valid).
    ``progress``: a tqdm bar; None shows it when stderr is a terminal.

    Summary keys: ``step``, ``loss``, ``recon``, ``kl``, ``kl.<d>``, the objective's extras (``c`` of the
    annealed objective, ``tc``, ``dip``, ``auxiliary_loss``), ``elapsed_s``
    (all sessions), ``images_per_s`` (this session), ``resumed_from`` (checkpoint step or None), ``run_dir``.
    Raises :class:`NonFiniteLossError` when a loss is NaN/inf (naming the step and the last finite terms;
    the last good checkpoint is left intact), :class:`CheckpointError` for an unusable checkpoint, and
    :class:`benchmark._io.LockedError` when another process trains or evaluates in ``run_dir``.
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(run_dir, "dbench train"):
        return _train_locked(config, run_dir, tuple(callbacks), progress, extend)


def _open_run(config: TrainConfig, run_dir: Path, extend: bool) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(checkpoint or None, summary or None)`` of a run directory this process holds the lock of: its checkpoint
    checked against ``config``, and its ``done.json`` summary when it already reached the budget."""
    for leftover in run_dir.glob(".*.tmp"):  # temporaries of writes a kill interrupted (we hold the lock)
        leftover.unlink()
    ckpt, done_path = _existing_checkpoint(config, run_dir, extend), run_dir / DONE_FILE
    if ckpt is not None and ckpt["step"] == config.steps and done_path.exists():
        return ckpt, {**json.loads(done_path.read_text()), "run_dir": str(run_dir)}
    return ckpt, None


def _begin_run(config: TrainConfig, run_dir: Path, ckpt: dict[str, Any] | None, versions: dict[str, str]) -> tuple[int, float, Any]:
    """Ready ``run_dir`` for a session starting at ``ckpt`` (None: step 0): log rows past it dropped, done.json
    and error.json removed, config.json written. Returns ``(start step, elapsed before, last loss terms)``."""
    start, elapsed_before, last_terms = 0, 0.0, None
    if ckpt is not None:
        start, elapsed_before, last_terms = int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0)), ckpt.get("last_terms")
        _truncate_log(run_dir / LOG_FILE, start)
    else:
        with contextlib.suppress(FileNotFoundError):
            (run_dir / LOG_FILE).unlink()  # rows of an attempt that never reached a checkpoint
    for name in (DONE_FILE, ERROR_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    atomic_write_json(run_dir / CONFIG_FILE, {**config.to_dict(), **{f"env.{k}": v for k, v in versions.items()}})
    return start, elapsed_before, last_terms


def _finish_run(config: TrainConfig, run_dir: Path, start: int, resumed: bool, log: _TermLog, elapsed_before: float,
                session: float, callbacks: Iterable[Any]) -> dict[str, Any]:
    """Write ``done.json`` of a run that reached its budget; its summary (``train``'s return value)."""
    summary = {
        "step": config.steps,
        **(log.last_terms or {}),
        "elapsed_s": elapsed_before + session,
        "images_per_s": (config.steps - start) * config.batch_size / session if session > 0 and config.steps > start else None,
        "resumed_from": start if resumed else None,
    }
    atomic_write_json(run_dir / DONE_FILE, summary)
    summary["run_dir"] = str(run_dir)
    _call(callbacks, "on_end", summary)
    return summary


def _progress_bar(progress: bool | None, total: int, initial: int, name: str) -> Any:
    if not (sys.stderr.isatty() if progress is None else progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="step", dynamic_ncols=True)


def _train_locked(config: TrainConfig, run_dir: Path, callbacks: tuple, progress: bool | None, extend: bool) -> dict[str, Any]:
    ckpt, finished = _open_run(config, run_dir, extend)
    if finished is not None:
        _call(callbacks, "on_end", finished)
        return finished

    s = _new_session(config)
    if ckpt is not None:
        s.restore(ckpt, run_dir / CHECKPOINT_FILE)
        _warn_if_threads_differ(ckpt, s)
    start, elapsed_before, last_terms = _begin_run(config, run_dir, ckpt, s.versions)
    bar = _progress_bar(progress, config.steps, start, run_dir.name)
    log = _TermLog(config, run_dir, start, last_terms, callbacks, bar)
    dataset_stream, t0 = s.stream, time.perf_counter()
    if config.steps > start and prefetch_pays(s.device):
        s.stream = _Prefetcher(dataset_stream)
    try:
        _run_steps(s, run_dir, start, elapsed_before, log, callbacks)
        if start == config.steps and not (run_dir / CHECKPOINT_FILE).exists():  # a zero-step run still leaves a model
            _save_checkpoint(run_dir / CHECKPOINT_FILE, s.checkpoint(0, 0.0, None))
            _call(callbacks, "on_checkpoint", 0, str(run_dir))
    finally:
        if s.stream is not dataset_stream:
            s.stream.close()
        if bar is not None:
            bar.close()
    return _finish_run(config, run_dir, start, ckpt is not None, log, elapsed_before, time.perf_counter() - t0, callbacks)


__all__ = [
    "CheckpointError", "ConfigMismatchError", "ERROR_FILE", "NonFiniteLossError", "checkpoint_dict", "load_checkpoint", "load_model", "read_config",
    "read_log", "resolve_device", "train",
]
