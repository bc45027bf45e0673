"""Evaluation of trained checkpoints into result records: the layer between training and the metrics.

:func:`evaluate` opens a run directory (:func:`benchmark.training.load_model`), takes an in-memory model, or takes
any ``representation_fn`` (a model the suite did not train, e.g. from :func:`benchmark.encoders.load`),
encodes the dataset's grid lazily and at most once per image for all metrics and both representations
(:class:`benchmark.metrics.GridEncoding`; a dataset that draws a nuisance per observation, such as
``color_dsprites``, has no image per grid point: each sampled observation is encoded instead), runs each registered metric's sampling wrapper and writes one
record per (run, representation, metric) through :mod:`benchmark.records`. The metrics themselves see only
arrays and callables; this module is what knows about models, configs and run directories.

A model the suite did not train is a ``representation_fn``: ``images (N, C, H, W)`` float32 numpy in [0, 1] →
means ``(N, D)`` or a tuple ``(means, log-variances)`` (numpy arrays or torch tensors), with an optional
``decoder_fn``: codes ``(N, D)`` float32 numpy → logits ``(N, C, H, W)``. It is called on 2 grid images first
(shared with the metrics, so never encoded twice): a failure or wrong shapes raise ValueError before any metric.
A means-only one has no ``sampled`` representation (asking for it raises ValueError) and no ``mig_sampled``;
without a decoder there is no ``reconstruction``: such metrics are left out with one ``progress`` line. Its run
id is ``encoder-<digest>`` for a file (:func:`benchmark.encoders.load`) and the given ``run_id_override`` for
any other callable; its records carry ``run.encoder_*``, ``run.representations`` and, where a decoder was used,
``run.decoder_*`` (:func:`benchmark.records.external_fields`, docs/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from benchmark import _io, datasets, encoders, records
from benchmark._gaussian import reparameterize
from benchmark.config import TrainConfig
from benchmark.metrics import (METRICS, GridEncoding, Metric, check_protocol_name, fit_jobs, parse_metrics,
                               parse_representations, resolve_protocol)
from benchmark.metrics._codes import REPRESENTATIONS, protocol_params, reporting
from benchmark.training import checkpoint_info, load_model, open_dataset, resolve_device


class ProgressLine:
    """Shows a metric's progress (``metric_progress`` of :func:`evaluate`) as training shows its steps: a tqdm bar
    on a terminal, otherwise one line every ``interval_s`` seconds (``  mean/dci: fits 3/5, 41s``) for logs."""

    def __init__(self, out: Any = None, interval_s: float = 10.0, bar: bool | None = None):
        import sys

        self.out = out or sys.stderr
        self.bar_mode = self.out.isatty() if bar is None else bar
        self.interval_s, self._bar, self._key, self._start, self._last = interval_s, None, None, 0.0, 0.0

    def __call__(self, label: str, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self._key != (label, what):
            self.close()
            self._key, self._start, self._last = (label, what), now, now
            if self.bar_mode:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=f"{label} {what}", dynamic_ncols=True, file=self.out, leave=False)
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        elif now - self._last >= self.interval_s:
            self._last = now
            print(f"  {label}: {what} {done:,}/{total:,}, {_io.format_duration(now - self._start)}", file=self.out,
                  flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None


# ------------------------------------------------------------------------------------- the model side
def model_encoder(model: Any, device: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``images (N, C, 64, 64) -> (mu, logvar)`` numpy, through ``model.encode`` on ``device``."""

    def encode(images: np.ndarray):
        with torch.no_grad():
            mu, logvar = model.encode(torch.as_tensor(images, dtype=torch.float32, device=device))
        return mu.detach().cpu().numpy(), logvar.detach().cpu().numpy()

    return encode


def model_decoder(model: Any, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """``codes (N, D) -> logits`` numpy, through ``model.decode`` on ``device``."""

    def decode(z: np.ndarray):
        with torch.no_grad():
            logits = model.decode(torch.as_tensor(z, dtype=torch.float32, device=device))
        return logits.detach().cpu().numpy()

    return decode


def _as_array(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


class _FunctionEncoder:
    """A ``representation_fn`` as the ``(mu, logvar)`` encoder of a grid: it returns means ``(N, D)``, or a tuple
    ``(means, log-variances)``; :attr:`representations` says which representations that makes possible."""

    def __init__(self, fn: Callable[[np.ndarray], Any], name: str):
        self.fn, self.name = fn, name
        self.has_logvar: bool | None = None  # known after the first call

    @property
    def representations(self) -> tuple[str, ...]:
        return REPRESENTATIONS if self.has_logvar else ("mean",)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.fn(images)
        parts = [_as_array(a) for a in (out if isinstance(out, tuple) else (out,))]
        if len(parts) > 2:
            raise ValueError(f"{self.name} returned a tuple of {len(parts)}; expected means or (means, log-variances)")
        mu = parts[0]
        if mu.ndim != 2 or mu.shape[0] != len(images) or any(p.shape != mu.shape for p in parts):
            raise ValueError(f"{self.name} returned {' and '.join(str(p.shape) for p in parts)} for images of shape "
                             f"{tuple(images.shape)}; expected means (N, D) or a tuple (means, log-variances), each "
                             f"(N, D) with N = {len(images)}")
        if self.has_logvar is not None and self.has_logvar != (len(parts) == 2):
            raise ValueError(f"{self.name} returned log-variances for some batches and not for others")
        self.has_logvar = len(parts) == 2
        return mu, parts[1] if self.has_logvar else np.zeros_like(mu)


def _function_decoder(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """A ``decoder_fn``: ``codes (N, D)`` float32 numpy → logits (numpy or torch), as numpy."""
    return lambda z: _as_array(fn(np.asarray(z, dtype=np.float32)))


class _ObservationEncoding:
    """The encoder of a dataset with a nuisance per observation (``per_observation``): every observation a metric
    draws is encoded as it is drawn (its grid point has no one image to encode once)."""

    def __init__(self, encode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]):
        self._encode = encode
        self.encoder_passes = 0

    def codes(self, images: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
        """``mean``: μ(x); ``sampled``: μ + exp(logvar/2)·ε, ε from ``rng``; ``(n, D)`` float64."""
        mu, logvar = (np.asarray(a, dtype=np.float64) for a in self._encode(images))
        self.encoder_passes += len(images)
        return mu if kind == "mean" else reparameterize(mu, logvar, rng.standard_normal(mu.shape))


def _reconstructor(decode: Callable[[np.ndarray], np.ndarray], grid: Any, kind: str, rng: np.random.Generator):
    def reconstruct(images: np.ndarray, indices: np.ndarray) -> np.ndarray:
        # the shared grid encoding (no second encoder pass), or the observations themselves
        z = grid.codes(images if isinstance(grid, _ObservationEncoding) else indices, kind, rng)
        logits = decode(z)
        if logits.size != images.size:
            raise ValueError(f"the decoder returned logits of shape {logits.shape} for images of shape {images.shape}")
        return logits.reshape(images.shape)

    return reconstruct


@functools.lru_cache(maxsize=4)
def _shared_dataset(name: str, path: str | None, cache: bool):
    """One dataset object per (name, file, cache) in a process: the runs of a study evaluated one after another (a
    CLI call, a reused Ray worker) open and index their dataset once."""
    return open_dataset(TrainConfig.from_dict({"dataset": name, "dataset_path": path, "dataset_cache": cache}))


def _open_dataset(dataset: Any, config: TrainConfig | None):
    if dataset is None:
        if config is None:
            raise ValueError("no dataset given and the model carries no config to take it from")
        # The dataset exactly as the run trained on it (its path, and its full-grid cache when it used one).
        return _shared_dataset(config.dataset, config.dataset_path, config.dataset_cache)
    ds = _shared_dataset(dataset, None, False) if isinstance(dataset, str) else dataset
    wanted = config.dataset if config is not None else None
    if wanted and ds.name != wanted and ds.name.replace("_procedural", "") != wanted.replace("_procedural", ""):
        raise ValueError(f"the run was trained on dataset {wanted!r} but dataset {ds.name!r} was given for evaluation")
    return ds


@dataclasses.dataclass
class _Session:
    """One evaluation of one model: what every metric of it shares."""

    decode: Callable[[np.ndarray], np.ndarray] | None  # codes -> logits numpy; None: no decoder was given
    dataset: Any
    grid: GridEncoding | _ObservationEncoding
    run_id: str
    run_fields: dict
    seed: int
    device: str
    results_dir: str | os.PathLike | None
    say: Callable[[str], None]
    posteriors: dict = dataclasses.field(default_factory=dict)  # metrics of all grid posteriors, by name
    representations: tuple[str, ...] = REPRESENTATIONS  # what the model offers (a means-only encoder: mean)
    decoder_fields: dict = dataclasses.field(default_factory=dict)  # run.decoder_* of the records that decode
    model_label: str = "the model"  # for messages: "--encoder enc.pt"
    # ``(representation/metric, what, done, total)`` as a metric advances (:func:`benchmark.metrics._codes.report`)
    metric_progress: Callable[[str, str, int, int], None] | None = None


@dataclasses.dataclass
class _Opened:
    """A model opened for evaluation, however it was given."""

    encode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    decode: Callable[[np.ndarray], np.ndarray] | None
    dataset: Any
    run_id: str
    run_dir: Path | None = None
    config: dict = dataclasses.field(default_factory=dict)
    fields: dict = dataclasses.field(default_factory=dict)  # the run.checkpoint_* keys of a trained model
    identity: dict | None = None  # of a representation_fn (benchmark.encoders.identity)
    decoder_fields: dict = dataclasses.field(default_factory=dict)


def _open_run(run_dir_or_model, dataset, device, run_id_override, allow_unfinished) -> _Opened:
    checkpoint = {"step": None, "sha256": None, "finished": None}
    if isinstance(run_dir_or_model, (str, os.PathLike)):
        run_dir = Path(run_dir_or_model).resolve()
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run directory {run_dir} does not exist" if not run_dir.exists() else
                                    f"{run_dir} is a file; give a run directory (the folder dbench train wrote)")
        model, config = load_model(run_dir, device)
        checkpoint = checkpoint_info(run_dir)
        if not checkpoint["finished"] and not allow_unfinished:
            raise ValueError(f"{run_dir} has not finished training (checkpoint at step {checkpoint['step']} of "
                             f"{config.steps}); its records would score a half-trained model. Finish it "
                             "(dbench train --resume), or pass --allow-unfinished to score it anyway "
                             "(its records then say run.finished false)")
        rid = run_id_override or records.run_id(run_dir, config)
    else:
        run_dir, model = None, run_dir_or_model
        config = getattr(model, "config", None)
        rid = run_id_override or "model"
    ds = _open_dataset(dataset, config)
    if hasattr(model, "eval"):
        model.eval()
    fields = {f"run.checkpoint_{k}" if k != "finished" else "run.finished": v for k, v in checkpoint.items()}
    return _Opened(model_encoder(model, device), model_decoder(model, device), ds, rid, run_dir,
                   config.to_dict() if config is not None else {}, fields)


def _open_function(representation_fn, decoder_fn, dataset, run_id_override) -> _Opened:
    """A model the suite did not train: its run id (a file's digest, else the name given), encoder and decoder."""
    me = encoders.identity(representation_fn)
    rid = records.external_run_id(me, run_id_override)
    if dataset is None:
        raise ValueError("a representation_fn carries no config to take the dataset from: give dataset= (--dataset)")
    ds = _open_dataset(dataset, None)
    name = getattr(representation_fn, "label", None) or me["name"] or f"the {me['kind']} encoder"
    decode, decoded = None, {}
    if decoder_fn is not None:  # its shapes are checked as reconstruction runs (a wrong one: a failed record)
        decode, decoded = _function_decoder(decoder_fn), records.decoder_fields(encoders.identity(decoder_fn))
    return _Opened(_FunctionEncoder(representation_fn, name), decode, ds, rid, identity=me, decoder_fields=decoded)


def _probe(encode: _FunctionEncoder, grid: Any, ds: Any) -> tuple[str, ...]:
    """Encode 2 images first (through the shared encoding: counted, never encoded again), so that a failing
    ``representation_fn`` is found before any metric, and learn whether it gives log-variances."""
    try:
        if isinstance(grid, _ObservationEncoding):
            rng = np.random.default_rng(0)
            grid.codes(ds.sample_observations_from_factors(ds.sample_factors(2, rng), rng), "mean", rng)
        else:
            grid.moments(np.arange(min(2, len(ds))))
    except Exception as exc:
        if str(exc).startswith(encode.name):  # the shape check of _FunctionEncoder: it names the encoder already
            raise ValueError(str(exc)) from exc
        raise ValueError(f"{encode.name} failed on 2 images {(2, *ds.observation_shape)} of {ds.name}: "
                         f"{type(exc).__name__}: {exc}") from exc
    return encode.representations


def _open(run_dir_or_model, representation_fn, decoder_fn, dataset, seed, results_dir, device, run_id_override,
          progress, encode_batch_size, allow_unfinished) -> _Session:
    if representation_fn is None:
        m = _open_run(run_dir_or_model, dataset, device, run_id_override, allow_unfinished)
    else:
        m = _open_function(representation_fn, decoder_fn, dataset, run_id_override)
    ds = m.dataset
    if ds.per_observation:
        grid = _ObservationEncoding(m.encode)
    else:
        grid = GridEncoding.from_images(ds, m.encode, batch_size=encode_batch_size)
    representations = _probe(m.encode, grid, ds) if representation_fn is not None else REPRESENTATIONS
    fields = records.run_fields(m.run_id, str(m.run_dir) if m.run_dir else None, seed, ds, m.config,
                                _io.environment_versions())
    fields.update(m.fields if m.identity is None else records.external_fields(m.identity, representations))
    return _Session(m.decode, ds, grid, m.run_id, fields, seed, device, results_dir, progress or (lambda line: None),
                    representations=representations, decoder_fields=m.decoder_fields,
                    model_label=getattr(m.encode, "name", "the model"))


def _compute(s: _Session, metric: Metric, kind: str, params: dict, stream: list[int]) -> dict[str, float]:
    rng = np.random.default_rng(np.random.SeedSequence(stream))
    per_observation = isinstance(s.grid, _ObservationEncoding)
    if metric.needs == "posteriors":
        if per_observation:
            raise ValueError(f"{metric.name} integrates q(z|x) over every image of the grid, and {s.dataset.name} draws "
                             "a nuisance per observation (no image per grid point); leave it out for this dataset")
        if metric.name not in s.posteriors:
            s.posteriors[metric.name] = metric.compute(s.dataset, s.grid.representation(kind), rng, **params)
        return s.posteriors[metric.name]
    if metric.needs == "decoder":
        recon_rng = np.random.default_rng(np.random.SeedSequence(stream + [1]))
        reconstruct = _reconstructor(s.decode, s.grid, kind, recon_rng)
        return metric.compute(s.dataset, reconstruct, rng, **params)
    if per_observation:  # each drawn observation encoded; the sampled code's ε from a stream of its own
        eps_rng = np.random.default_rng(np.random.SeedSequence(stream + [2]))
        return metric.compute(s.dataset, lambda images: s.grid.codes(images, kind, eps_rng), rng, **params)
    return metric.compute(s.dataset, s.grid.representation(kind), rng, **params)


def _evaluate_one(s: _Session, metric: Metric, kind: str, overrides: dict, force: bool, protocol: str) -> dict[str, Any]:
    path = records.record_path(s.results_dir, s.run_id, kind, metric.name) if s.results_dir is not None else None
    old = records.read_ok_record(path) if path is not None and not force else None
    params = resolve_protocol(metric.name, overrides.get(metric.name, {}), protocol)
    base = {**s.run_fields, **(s.decoder_fields if metric.needs == "decoder" else {})}
    same = ("run.checkpoint_sha256", "run.finished", "run.decoder_sha256")
    if old is not None and all(old.get(k) == base.get(k) for k in same):
        prefix = f"protocol.{metric.name}."
        theirs = {k[len(prefix):]: v for k, v in old.items() if k.startswith(prefix)}
        ours = {k: v for k, v in protocol_params(**params).items() if k != "device"}
        if {k: v for k, v in theirs.items() if k != "device"} != ours:  # never replaced without --force
            changed = ", ".join(f"{k}={theirs.get(k)!r}" for k in ours if theirs.get(k) != ours[k])
            s.say(f"  {kind}/{metric.name}: exists with another protocol ({changed}), kept; --force recomputes it")
        else:
            s.say(f"  {kind}/{metric.name}: exists, skipped ({path})")
        return old
    if old is not None:  # it scored another checkpoint of this run, the run before training finished, or another file
        step = old.get("run.checkpoint_step")
        scored = f"the checkpoint of step {step}" if step is not None else "another file of the model or its decoder"
        s.say(f"  {kind}/{metric.name}: stale (it scored {scored}"
              f"{'' if old.get('run.finished') else ' before training finished'}), recomputing")
    if "device" in metric.defaults and "device" not in overrides.get(metric.name, {}):
        params["device"] = s.device  # a metric that computes with torch runs where the encoder runs
    # mig_sampled always samples from q(z|x): one stream (position 0) for both representations.
    stream = [s.seed, list(METRICS).index(metric.name), 0 if metric.needs == "posteriors" else REPRESENTATIONS.index(kind)]
    before, start = s.grid.encoder_passes, time.perf_counter()
    rec = {**base, **records.evaluation_fields(metric.name, kind, stream, protocol_params(**params), protocol)}
    label, show = f"{kind}/{metric.name}", s.metric_progress
    try:
        with reporting(None if show is None else lambda what, done, total: show(label, what, done, total)):
            rec.update(status="ok", **records.metric_fields(_compute(s, metric, kind, params, stream)))
    except Exception as exc:  # one failing metric must not lose the others; the record says why
        rec.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    rec["eval.elapsed_s"] = time.perf_counter() - start
    rec["eval.encoder_passes"] = s.grid.encoder_passes
    rec["eval.encoder_passes_metric"] = s.grid.encoder_passes - before
    rec["eval.timestamp"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if path is not None:
        records.write_record(path, rec)
    shown = ", ".join(f"{k[7:]}={v:.4g}" for k, v in rec.items() if k.startswith("metric.") and k.count(".") <= 2)
    s.say(f"  {kind}/{metric.name}: {rec['status']} in {rec['eval.elapsed_s']:.1f}s "
          f"(encoder passes {s.grid.encoder_passes}) {shown or rec.get('error', '')}")
    return rec


def _check_arguments(run_dir_or_model, representation_fn, decoder_fn, protocol, overrides) -> None:
    """What :func:`evaluate` is given, checked before any work."""
    if (run_dir_or_model is None) == (representation_fn is None):
        raise ValueError("give a run directory or model, or a representation_fn, not both" if representation_fn else
                         "give a run directory or model to evaluate, or a representation_fn")
    if decoder_fn is not None and representation_fn is None:
        raise ValueError("decoder_fn goes with representation_fn (a model's own decoder is its decode)")
    for fn, what in ((representation_fn, "representation_fn"), (decoder_fn, "decoder_fn")):
        if fn is not None and not callable(fn):
            raise ValueError(f"{what} must be a callable, got {type(fn).__name__}")
    check_protocol_name(protocol)
    bad = [k for k in overrides if k not in METRICS]
    if bad:
        raise ValueError(f"overrides must be keyed by metric name ({', '.join(METRICS)}), got {bad}")
    for name, params in overrides.items():
        if not isinstance(params, dict):
            raise ValueError(f"override {name}= must be a dict of protocol parameters, got {type(params).__name__}")
        resolve_protocol(name, params, protocol)  # unknown parameters fail before any work


def _usable(s: _Session, names: list[str], kinds: list[str]) -> tuple[list[str], list[str]]:
    """``(metrics to score, lines)``: a representation the model does not offer is refused (ValueError), a metric it
    lacks a part for is left out, with a line that says why."""
    missing = [k for k in kinds if k not in s.representations]
    if missing:
        raise ValueError(f"{s.model_label} returns means only (no log-variances), so it has no {missing[0]} "
                         "representation; evaluate --representation mean, or return (means, log-variances)")
    lacks = {"decoder": "no decoder was given (--decoder, decoder_fn=)" if s.decode is None else "",
             "posteriors": f"it integrates q(z|x) and {s.model_label} returns means only"
             if "sampled" not in s.representations else ""}
    notes = {n: lacks.get(METRICS[n].needs, "") for n in names}
    kept = [n for n in names if not notes[n]]
    if not kept:
        raise ValueError(f"nothing to evaluate: {'; '.join(f'{n}: {r}' for n, r in notes.items())}")
    return kept, [f"  {n}: left out: {r}" for n, r in notes.items() if r]


def _lock(held: contextlib.ExitStack, run_dir_or_model: Any) -> None:
    if isinstance(run_dir_or_model, (str, os.PathLike)) and Path(run_dir_or_model).is_dir():
        try:  # no training may rewrite the checkpoint while it is scored
            held.enter_context(_io.exclusive_lock(run_dir_or_model, "dbench evaluate"))
        except OSError as exc:  # a read-only run directory (someone else's runs) cannot be rewritten either
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise


def evaluate(
    run_dir_or_model: Any = None,
    dataset: Any = None,
    metrics: str | Sequence[str] = "all",
    representation: str | Sequence[str] = "mean",
    seed: int = 0,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    *,
    device: str = "cpu",
    run_id_override: str | None = None,
    representation_fn: Callable[[np.ndarray], Any] | None = None,
    decoder_fn: Callable[[np.ndarray], Any] | None = None,
    progress: Callable[[str], None] | None = None,
    encode_batch_size: int = 1024,
    allow_unfinished: bool = False,
    protocol: str = "reference",
    jobs: int | None = None,
    metric_progress: Callable[[str, str, int, int], None] | None = None,
    **overrides: dict[str, Any],
) -> list[dict[str, Any]]:
    """Score one trained run (or an in-memory model, or any ``representation_fn``) with the registered metrics.

    Args:
        run_dir_or_model: a run directory (opened with :func:`benchmark.training.load_model`) or a model with
            ``encode(images) -> (mu, logvar)`` and ``decode(z) -> logits`` (torch), optionally a ``config``;
            None when ``representation_fn`` is given.
        dataset: a dataset object or registry name; default: the run config's ``dataset``/``dataset_path``
            (required with ``representation_fn``). A dataset other than the one the run was trained on is refused.
        metrics: ``"all"``, ``"mig,dci"`` or a list of names of :data:`benchmark.metrics.METRICS`.
        representation: ``"mean"``, ``"sampled"``, ``"mean,sampled"`` or a list; all share one grid encoding.
        seed: evaluation seed. Each (metric, representation) draws from its own stream
            ``SeedSequence([seed, metric position in METRICS, representation position])`` (recorded as
            ``eval.seed_stream`` ``"seed,metric,repr"``), so a record does not depend on which other metrics
            were evaluated with it (``mig_sampled`` uses position 0 for both representations: its estimator
            always samples from q(z|x)).
        results_dir: where records are written (``<results_dir>/<run.id>/<repr>__<metric>.json``); None
            writes nothing. Existing ``ok`` records are skipped (and returned) unless ``force``.
        device: torch device for the encoder/decoder and every metric with a ``device`` protocol parameter
            (the sampled-MIG estimator); ``auto`` picks cuda.
        run_id_override: ``run.id`` for an in-memory model (default ``"model"``) or a ``representation_fn`` (default
            ``encoder-<digest>`` for a file of :func:`benchmark.encoders.load`; required for any other callable).
        representation_fn, decoder_fn: a model the suite did not train, in place of ``run_dir_or_model``: images →
            means or ``(means, log-variances)``, and codes → logits (optional); see the module docstring.
        progress: called with one line per run and per metric (the CLI prints them).
        metric_progress: called as a metric advances, ``(representation/metric, what, done, total)`` with ``what``
            ``"images encoded"``, ``"points"``, ``"fits"`` or ``"entropy estimates"`` (:class:`ProgressLine` shows it).
        encode_batch_size: images per encoder call.
        allow_unfinished: score a run whose training has not reached its budget (refused otherwise: such a
            record would score a half-trained model). Every record names the checkpoint it scored
            (``run.checkpoint_step``, ``run.checkpoint_sha256``) and ``run.finished``; an existing record of
            another checkpoint of the run is stale and recomputed.
        protocol: the named protocol (:data:`benchmark.metrics.PROTOCOLS`): ``reference`` (the study's sample
            sizes) or ``quick`` (the quick presets' reduced sizes); recorded as ``eval.protocol``. An existing
            record of another protocol is kept (and said so) unless ``force``.
        jobs: processes for the independent scikit-learn fits inside a metric (DCI per factor, SAP per code,
            explicitness per factor); None: the CPUs this process may use. The values do not depend on it.
        overrides: per-metric protocol changes, ``mig={"num_train": 1000}``; recorded under ``protocol.*``.

    Returns:
        The records (flat dicts, see :mod:`benchmark.records`), one per (representation, metric) scored, in order.
        A metric that raises gives a ``status: failed`` record with its ``error``; loading failures raise.
    """
    names, kinds = parse_metrics(metrics), parse_representations(representation)
    _check_arguments(run_dir_or_model, representation_fn, decoder_fn, protocol, overrides)
    device = str(resolve_device(device))
    with contextlib.ExitStack() as held:
        held.enter_context(fit_jobs(jobs))
        _lock(held, run_dir_or_model)
        s = _open(run_dir_or_model, representation_fn, decoder_fn, dataset, int(seed), results_dir, device,
                  run_id_override, progress, encode_batch_size, allow_unfinished)
        names, notes = _usable(s, names, kinds)
        s.metric_progress = metric_progress
        s.say(f"run {s.run_id}: dataset {s.dataset.name} ({len(s.dataset)} grid images), metrics {','.join(names)}, "
              f"representations {','.join(kinds)}")
        for line in notes:
            s.say(line)
        return [_evaluate_one(s, METRICS[name], kind, overrides, force, protocol) for kind in kinds for name in names]


__all__ = ["ProgressLine", "evaluate", "model_decoder", "model_encoder"]
