"""Ray Tune adapter: one Tune trial per grid point of a :class:`~benchmark.sweeps.spec.SweepSpec`.

The only module of the suite that imports ``ray`` (inside functions, so importing it is cheap).

Each trial (:func:`_trial`) trains into its own run directory on the sweep's storage
(``<storage>/<name>/runs/<trial id>``), reporting step and loss to Tune from the training loop's
callbacks and a checkpoint to Tune after every training checkpoint; then it evaluates its metrics with
:func:`benchmark.metrics.evaluate`, writing the same result records as ``dbench evaluate`` into
``<storage>/<name>/results``. Because the run directory is derived from the trial's config and training
resumes from the checkpoint it finds there, any restart (Ray's retry after a crash, ``--resume`` after a
killed driver, a fresh Tune run when Ray's own state is unusable) continues where the trial's last
checkpoint left it; records that exist are never recomputed; a trial whose training is done and whose
records all exist returns at once. Ray's experiment state is a convenience, never the source of truth
(see ``docs/RAY.md`` in the shared docs: a SIGKILLed driver leaves it stale).

Every attempt of a trial appends one JSON line per event to ``<storage>/<name>/trials/<trial id>.jsonl``
(``start`` with the step it resumed from, ``trained``, ``evaluated`` with the records it wrote, ``skip``,
``error``): the audit trail that shows each trial was trained and evaluated exactly once.

URI storage (``s3://``, ``gs://``, ``file://``; ``storage.options`` are pyarrow filesystem arguments): Ray
keeps its state and checkpoints there through ``RunConfig(storage_filesystem=...)``, and each trial works in
a local mirror of its part of the sweep (:class:`_Remote`, ``$DBENCH_SWEEP_SCRATCH``), pushing checkpoints,
records and events as soon as they exist and pulling them back when it starts, on whatever node.

Crash injection (for tests and drills): ``DBENCH_SWEEP_CRASH="<trial id>@<step>[,<trial id>@<step>...]"``
in the driver's environment makes that trial raise :class:`InjectedCrash` once, at the first logged step
at or after ``<step>``; the marker ``<storage>/<name>/faults/<trial id>@<step>.json`` records that it fired,
so the retried attempt runs through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmark.sweeps.spec import SpecError, SweepSpec, Trial, join

CRASH_ENV = "DBENCH_SWEEP_CRASH"
SCRATCH_ENV = "DBENCH_SWEEP_SCRATCH"  # local mirror of URI storage (default: <cache dir>/sweep-scratch)

# Settings that keep Ray quiet and predictable (docs/RAY.md); only set where the user has not set them.
QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
    "TUNE_WARN_THRESHOLD_S": "10",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    # CPU-only trials would otherwise see every GPU and "auto" would put them on one.
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1",
    # Tune forces a state snapshot when a trial has checkpointed num_to_keep times since the last one and
    # warns when that happens often; with short test budgets it always does, and it is harmless here.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}
# A local instance we start ourselves needs no token (token auth is on by default since Ray 2.59).
LOCAL_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_LOG_TO_DRIVER": "0"}

_REPORT_EVERY_S = 2.0  # progress reports from the loop are throttled; checkpoints are always reported


class InjectedCrash(RuntimeError):
    """Raised inside a trial by the crash-injection mechanism (``DBENCH_SWEEP_CRASH``)."""


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` returns (and prints)."""

    root: str
    results_dir: str
    num_trials: int
    done: list = field(default_factory=list)  # trial ids trained and with every record present
    incomplete: list = field(default_factory=list)  # trial ids still to finish (interrupted or errored)
    failed_records: list = field(default_factory=list)  # record paths with status "failed"
    errors: dict = field(default_factory=dict)  # trial id -> error text from Ray
    interrupted: bool = False
    local_results_dir: str = ""  # where the records can be read here (a mirror of results_dir on URI storage)
    report: str | None = None  # the report page, once write_sweep_report wrote it
    restored: bool = False  # Ray's experiment state was restored (--resume)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.incomplete and not self.failed_records and not self.interrupted


# -- per-trial work (runs inside a Ray worker, but is plain Python) ------------------------------------------


class _Remote:
    """A URI storage (``s3://``, ``gs://``, ``file://``) mirrored through a local scratch copy with pyarrow.

    Training and evaluation need files they can open, so a trial works in a local copy of its part of the
    sweep (``$DBENCH_SWEEP_SCRATCH`` or ``<cache dir>/sweep-scratch``) laid out exactly as on the storage:
    it pulls its run directory, records and audit trail before it starts, and pushes each checkpoint, its
    ``done.json``, its records and each audit event as soon as they exist. The storage stays the source of
    truth: a trial restarted on another node pulls what the last one pushed.
    """

    def __init__(self, spec: SweepSpec, scratch: str | None = None):
        import hashlib

        import pyarrow.fs as pafs

        self.pafs = pafs
        self.fs, self.base = _filesystem(spec.storage, spec.storage_options)
        scratch = scratch or os.environ.get(SCRATCH_ENV)
        if not scratch:
            from benchmark._io import cache_dir

            scratch = str(cache_dir() / "sweep-scratch")
        key = hashlib.sha256(spec.storage.encode()).hexdigest()[:8]
        self.local = dataclasses.replace(spec, storage=os.path.abspath(os.path.join(scratch, key)))

    def rpath(self, local_path: str) -> str:
        rel = os.path.relpath(local_path, self.local.storage)
        return "/".join([self.base.rstrip("/"), *rel.split(os.sep)])

    def _exists(self, rpath: str):
        return self.fs.get_file_info(rpath).type

    def pull(self, local_path: str) -> None:
        kind = self._exists(self.rpath(local_path))
        if kind == self.pafs.FileType.NotFound:
            return
        if kind == self.pafs.FileType.Directory:
            os.makedirs(local_path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(local_path), exist_ok=True)
        self.pafs.copy_files(self.rpath(local_path), local_path, source_filesystem=self.fs,
                             destination_filesystem=self.pafs.LocalFileSystem())

    def push(self, local_path: str) -> None:
        if not os.path.exists(local_path):
            return
        target = self.rpath(local_path)
        self.fs.create_dir(target.rsplit("/", 1)[0] if os.path.isfile(local_path) else target, recursive=True)
        self.pafs.copy_files(local_path, target, source_filesystem=self.pafs.LocalFileSystem(),
                             destination_filesystem=self.fs)

    def pull_trial(self, trial: Trial) -> None:
        local, trial_id = self.local, trial.trial_id
        self.pull(os.path.join(local.runs_dir, trial_id))
        self.pull(os.path.join(local.root, "trials", f"{trial_id}.jsonl"))
        self.pull(os.path.join(local.results_dir, trial.run_id))
        faults = self.rpath(local.faults_dir)
        if self._exists(faults) == self.pafs.FileType.Directory:
            for i in self.fs.get_file_info(self.pafs.FileSelector(faults)):
                if i.base_name.startswith(trial_id + "@"):
                    self.pull(os.path.join(local.faults_dir, i.base_name))

    def pull_status(self, trials: list[Trial]) -> None:
        """What the driver needs to tell finished trials: every done.json, the records, the audit trails."""
        self.pull(self.local.results_dir)
        self.pull(os.path.join(self.local.root, "trials"))
        for t in trials:
            self.pull(os.path.join(self.local.runs_dir, t.trial_id, "done.json"))


def _filesystem(storage: str, options: dict):
    """(pyarrow filesystem, path inside it) of a storage URI; ``options`` are the filesystem's arguments."""
    import pyarrow.fs as pafs

    scheme, rest = storage.split("://", 1)
    if options:
        classes = {"s3": pafs.S3FileSystem, "gs": pafs.GcsFileSystem, "gcs": pafs.GcsFileSystem}
        if scheme not in classes:
            raise SpecError(f"storage.options are only used for s3:// and gs:// storage, not {scheme}://")
        try:
            return classes[scheme](**options), rest
        except TypeError as exc:
            raise SpecError(f"storage.options: {exc}") from None
    fs, path = pafs.FileSystem.from_uri(storage)
    return fs, path


def trial_status(trial: Trial, spec: SweepSpec) -> dict:
    """On-disk state of a trial.

    Keys: ``trained`` (done.json present), ``records`` (paths present), ``failed`` (those whose status is not
    ``ok``), ``missing`` (``<representation>__<metric>`` absent), ``finished`` (trained, no record missing)
    and ``complete`` (finished and every record ok: what makes a trial return at once). Failed records are
    retried by the next run of the trial (``evaluate`` recomputes records that are not ``ok``).
    """
    from benchmark.metrics.evaluate import read_ok_record, record_path

    trained = os.path.exists(os.path.join(trial.run_dir, "done.json"))
    present, missing = [], []
    rid = trial.run_id
    for rep in spec.representations:
        for metric in spec.metrics:
            path = str(record_path(trial.results_dir, rid, rep, metric))
            if os.path.exists(path):
                present.append(path)
            else:
                missing.append(f"{rep}__{metric}")
    failed = [p for p in present if read_ok_record(p) is None]
    return {"trained": trained, "records": present, "failed": failed, "missing": missing,
            "finished": trained and not missing, "complete": trained and not missing and not failed}


def _event(spec: SweepSpec, trial: Trial, **event: Any) -> None:
    path = os.path.join(spec.root, "trials", f"{trial.trial_id}.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = json.dumps({"time": time.time(), "pid": os.getpid(), **event}, sort_keys=True, default=str)
    # One small O_APPEND write per event: one writer per trial, and appends of this size are not interleaved.
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def read_events(spec: SweepSpec, trial_id: str) -> list[dict]:
    """The audit trail of one trial (see the module docstring)."""
    from benchmark._io import read_jsonl

    return read_jsonl(os.path.join(spec.root, "trials", f"{trial_id}.jsonl"))


def parse_crash_env(value: str | None) -> dict[str, int]:
    """``"<trial id>@<step>,..."`` -> {trial id: step}."""
    out: dict[str, int] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        tid, sep, step = item.rpartition("@")
        if not sep or not tid or not step.isdigit():
            raise ValueError(f"{CRASH_ENV}: expected '<trial id>@<step>[,...]', got {item!r}")
        out[tid] = int(step)
    return out


class _TuneReporter:
    """Training callbacks that report progress and checkpoints to Tune, and inject a crash when asked."""

    def __init__(self, spec: SweepSpec, trial: Trial, crash_step: int | None, event, push):
        from ray import tune

        self._tune = tune
        self.spec, self.trial, self.crash_step = spec, trial, crash_step
        self.event, self.push = event, push
        self.total = int(trial.config.get("steps") or 0)
        self._last = 0.0
        self.step = 0
        self.loss = float("nan")

    def _metrics(self, phase: str) -> dict:
        return {"step": self.step, "steps_total": self.total, "loss": self.loss, "phase": phase}

    def on_log(self, step: int, terms: dict) -> None:
        self.step, self.loss = int(step), float(terms.get("loss", float("nan")))
        if self.crash_step is not None and step >= self.crash_step:
            marker = os.path.join(self.spec.faults_dir, f"{self.trial.trial_id}@{self.crash_step}.json")
            if not os.path.exists(marker):
                from benchmark._io import atomic_write_json

                atomic_write_json(marker, {"trial_id": self.trial.trial_id, "step": int(step), "time": time.time()})
                self.push(marker)
                self.event(event="crash", step=int(step))
                raise InjectedCrash(f"injected crash in trial {self.trial.trial_id} at step {step} ({CRASH_ENV})")
        now = time.monotonic()
        if now - self._last >= _REPORT_EVERY_S:
            self._last = now
            self._tune.report(self._metrics("train"))

    def on_checkpoint(self, step: int, run_dir: str) -> None:
        # The run directory is the trial's real state; the Tune checkpoint names it and its step, so Tune
        # knows the trial has progress to resume from (and a user can see which step each trial reached).
        self.step = int(step)
        self.push(str(run_dir))  # on URI storage the checkpoint reaches the storage before Tune hears of it
        with tempfile.TemporaryDirectory(prefix="dbench-ckpt-") as d:
            with open(os.path.join(d, "dbench_checkpoint.json"), "w", encoding="utf-8") as f:
                json.dump({"trial_id": self.trial.trial_id, "step": int(step), "run_dir": str(run_dir)}, f)
            self._tune.report(self._metrics("train"), checkpoint=self._tune.Checkpoint.from_directory(d))
        self._last = time.monotonic()


def _trial(params: dict, *, spec_dict: dict, crashes: dict, scratch: str | None = None) -> None:
    """The Tune function trainable: train (resuming from the run dir), then evaluate. Idempotent."""
    from ray import tune

    from benchmark.sweeps.spec import parse_spec

    spec = parse_spec(spec_dict, source=f"sweep {spec_dict['name']}")
    trials = {t.trial_id: t for t in spec.trials()}
    tid = params["trial_id"]
    if tid not in trials:
        raise SpecError(f"trial {tid} is not in the sweep spec any more; run the sweep without --resume")
    trial = trials[tid]
    remote = _Remote(spec, scratch) if spec.is_remote else None
    if remote is not None:  # work in a local mirror of this trial's part of the storage
        remote.pull_trial(trial)
        spec = remote.local
        trial = next(t for t in spec.trials() if t.trial_id == tid)

    def push(path: str) -> None:
        if remote is not None:
            remote.push(path)

    def event(**e: Any) -> None:
        _event(spec, trial, **e)
        push(os.path.join(spec.root, "trials", f"{tid}.jsonl"))

    import torch

    # One thread per CPU the trial holds: more threads than CPUs on a shared node runs many times slower.
    torch.set_num_threads(max(1, int(spec.cpu)))

    status = trial_status(trial, spec)
    if status["complete"]:
        event(event="skip", reason="trained and all records present")
        tune.report({"step": int(trial.config.get("steps") or 0), "steps_total": int(trial.config.get("steps") or 0),
                     "loss": float("nan"), "phase": "done", "records": len(status["records"])})
        return

    from benchmark.config import TrainConfig
    from benchmark.training import train

    ckpt = tune.get_checkpoint()
    tune_step = None
    if ckpt is not None:
        with ckpt.as_directory() as d:
            with contextlib.suppress(OSError, ValueError):
                tune_step = json.loads(Path(d, "dbench_checkpoint.json").read_text())["step"]
    run_dir = trial.run_dir
    event(event="start", tune_checkpoint_step=tune_step, trained=status["trained"],
          has_checkpoint=os.path.exists(os.path.join(run_dir, "checkpoint.pt")))

    config = TrainConfig.from_dict(dict(trial.config))
    reporter = _TuneReporter(spec, trial, crashes.get(tid), event, push)
    try:
        if not status["trained"]:
            summary = train(config, run_dir, callbacks=[reporter], progress=False)
            push(run_dir)
            event(event="trained", step=summary.get("step"), summary=summary)
        tune.report({**reporter._metrics("evaluate"), "step": reporter.total})

        from benchmark.metrics import evaluate

        before = set(status["records"]) - set(status["failed"])  # ok records are never rewritten
        # All metrics and representations in one call: they share one encoding of the dataset's grid.
        evaluate(run_dir, metrics=list(spec.metrics), representation=list(spec.representations),
                 seed=spec.eval_seed, results_dir=trial.results_dir, device=config.device,
                 **{k: dict(v) for k, v in spec.overrides.items()})
        after = trial_status(trial, spec)
        written = sorted(set(after["records"]) - before)
        failed = after["failed"]
        for d in sorted({os.path.dirname(p) for p in written}):
            push(d)
        event(event="evaluated", written=[os.path.relpath(p, trial.results_dir) for p in written],
              failed=[os.path.relpath(p, trial.results_dir) for p in failed])
        if after["missing"]:
            raise RuntimeError(f"trial {tid}: evaluation did not write records {after['missing']}")
    except BaseException as exc:
        event(event="error", error=f"{type(exc).__name__}: {exc}")
        raise
    tune.report({**reporter._metrics("done"), "step": reporter.total, "records": len(after["records"]),
                 "failed_records": len(failed)})


# -- progress in the driver ------------------------------------------------------------------------------------


def _progress_callback(spec: SweepSpec, out: TextIO, interval_s: float):
    from ray.tune import Callback

    class Progress(Callback):
        """Prints pending/running/done/failed counts, per-trial step and loss, and an estimate of time left."""

        def __init__(self):
            self.start = time.monotonic()
            self.last_print = 0.0
            self.latest: dict[str, dict] = {}
            self.first_step: dict[str, tuple[float, int]] = {}  # first training report of this attempt
            self.rate_at: dict[str, tuple[float, int]] = {}  # latest training report
            self.eval_start: dict[str, float] = {}
            self.eval_s: list[float] = []  # evaluation wall times of finished trials
            self.total_steps = int(spec.config.get("steps") or 0)

        def _tid(self, trial) -> str:
            return trial.config.get("trial_id", str(trial))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            tid, now = self._tid(trial), time.monotonic()
            phase, step = result.get("phase"), int(result.get("step") or 0)
            self.latest[tid] = {"step": step, "loss": result.get("loss"), "phase": phase}
            if phase == "train":
                self.first_step.setdefault(tid, (now, step))
                self.rate_at[tid] = (now, step)
            elif phase == "evaluate":
                self.eval_start.setdefault(tid, now)
            elif phase == "done" and tid in self.eval_start:
                self.eval_s.append(now - self.eval_start[tid])
            self._maybe_print(trials)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.latest.setdefault(self._tid(trial), {})["phase"] = "done"
            self._maybe_print(trials, force=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"  trial {self._tid(trial)} failed: see {getattr(trial, 'path', '')}", file=out, flush=True)
            self._maybe_print(trials, force=True)

        def on_step_end(self, iteration, trials, **info):
            self._maybe_print(trials)

        def _maybe_print(self, trials, force=False):
            now = time.monotonic()
            if not force and now - self.last_print < interval_s:
                return
            self.last_print = now
            counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
            for t in trials:
                counts[{"PENDING": "pending", "RUNNING": "running", "TERMINATED": "done", "ERROR": "failed"}.get(
                    t.status, "pending")] += 1
            line = (f"[{time.strftime('%H:%M:%S')}] {spec.name}: {counts['pending']} pending, {counts['running']} "
                    f"running, {counts['done']} done, {counts['failed']} failed | elapsed {_hms(now - self.start)}"
                    f" | left {self._eta(trials, now)}")
            print(line, file=out, flush=True)
            for t in trials:
                if t.status == "RUNNING":
                    r = self.latest.get(self._tid(t), {})
                    loss = r.get("loss")
                    loss_s = f"{loss:.2f}" if isinstance(loss, (int, float)) and math.isfinite(loss) else "-"
                    print(f"    {self._tid(t)}: {r.get('phase') or 'starting'} step {r.get('step') or 0}/"
                          f"{self.total_steps} loss {loss_s}", file=out, flush=True)

        def _eta(self, trials, now) -> str:
            # Steps left over the summed step rate of the trials training now, plus the evaluations left at the
            # mean evaluation time seen so far, spread over the trials that run at once. "?" until measured.
            if not self.total_steps:
                return "?"
            remaining, rate, evals_left, running = 0, 0.0, 0, 0
            for t in trials:
                tid, r = self._tid(t), self.latest.get(self._tid(t), {})
                if t.status == "TERMINATED" or r.get("phase") == "done":
                    continue
                evals_left += 1
                running += t.status == "RUNNING"
                step = int(r.get("step") or 0) if r.get("phase") == "train" else (
                    self.total_steps if r.get("phase") == "evaluate" else 0)
                remaining += max(0, self.total_steps - step)
                if tid in self.first_step and t.status == "RUNNING" and r.get("phase") == "train":
                    (t0, s0), (t1, s1) = self.first_step[tid], self.rate_at[tid]
                    if t1 > t0 and s1 > s0:
                        rate += (s1 - s0) / (t1 - t0)
            if evals_left == 0:
                return "0s"
            if remaining and rate <= 0:
                return "?"
            train_s = remaining / rate if remaining else 0.0
            eval_s = (sum(self.eval_s) / len(self.eval_s)) * evals_left / max(1, running) if self.eval_s else 0.0
            return "~" + _hms(train_s + eval_s) + ("" if self.eval_s else " + evaluation")

    return Progress()


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


# -- the driver -------------------------------------------------------------------------------------------------


def init_ray(address: str | None, num_cpus: int | None, out: TextIO | None = None) -> bool:
    """Start a local Ray sized to the machine (address None) or join a cluster. Returns True if we started it."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if address is None:
        for key, value in LOCAL_ENV.items():
            os.environ.setdefault(key, value)
    if "TUNE_RESULT_DIR" in os.environ:  # it makes Tuner.fit raise in Ray 2.60; the spec's storage decides
        print("note: ignoring TUNE_RESULT_DIR; results go to the sweep's storage", file=sys.stderr)
        del os.environ["TUNE_RESULT_DIR"]
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        if address is None and num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
        started = address is None
    if out is not None:
        res = ray.cluster_resources()
        how = "started a local Ray instance" if started else (
            f"joined the Ray cluster at {address}" if address else "using the Ray instance of this process")
        print(f"ray: {how}: {len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs",
              file=out, flush=True)
    return started


def shutdown_ray() -> None:
    """Disconnect from Ray; a local instance this process started stops with it (never ``ray stop``)."""
    import ray

    ray.shutdown()


def run_sweep(
    spec: SweepSpec,
    *,
    address: str | None = None,
    resume: bool = False,
    num_cpus: int | None = None,
    progress_interval_s: float = 10.0,
    out: TextIO | None = None,
) -> SweepOutcome:
    """Run (or continue, ``resume=True``) a sweep on Ray Tune and return its outcome.

    ``address``: None starts a local Ray instance sized to the machine (or ``num_cpus`` CPUs), or reuses one
    already initialised in this process; ``"auto"`` or ``"HOST:PORT"`` joins a running cluster.
    ``resume``: continue the sweep stored under ``spec.root``: Ray's state is restored with
    ``resume_errored=True`` when :meth:`Tuner.can_restore` accepts it; otherwise a fresh Tune run over the
    trials not yet complete on storage. Without ``resume`` an existing Ray state under ``spec.root`` is an
    error (pass ``resume=True`` to continue it, or choose another storage).
    SIGTERM during the run is turned into SIGINT, which Tune handles gracefully (a final save).
    """
    out = out or sys.stdout
    t0 = time.monotonic()
    crashes = parse_crash_env(os.environ.get(CRASH_ENV))
    trials = spec.trials()
    # On URI storage the driver reads the trials' state from a local mirror and hands Ray the filesystem.
    scratch = os.environ.get(SCRATCH_ENV)  # None: each node picks its own cache dir
    remote = _Remote(spec, scratch) if spec.is_remote else None
    local = remote.local if remote else spec
    fs = remote.fs if remote else None
    tune_dir = remote.rpath(local.tune_dir) if remote else spec.tune_dir
    state_exists = _has_tune_state(tune_dir, fs)
    if state_exists and not resume:
        raise SpecError(
            f"sweep {spec.name!r} already has a Tune state at {spec.tune_dir}; continue it with --resume "
            "(finished trials are not re-run) or pass another --storage"
        )
    os.makedirs(local.root, exist_ok=True)
    from benchmark._io import atomic_write_json

    atomic_write_json(os.path.join(local.root, "sweep.json"), spec.to_dict())
    if remote:
        remote.push(os.path.join(local.root, "sweep.json"))
        remote.pull_status(trials)

    local_trials = local.trials()  # the same trials, with paths in the local mirror on URI storage
    incomplete = [t for t in local_trials if not trial_status(t, local)["complete"]]
    outcome = SweepOutcome(root=spec.root, results_dir=spec.results_dir, num_trials=len(trials),
                           local_results_dir=local.results_dir)
    print(f"sweep {spec.name}: {len(trials)} trials, {len(trials) - len(incomplete)} already complete on storage "
          f"{spec.root}", file=out, flush=True)

    if incomplete:
        init_ray(address, num_cpus, out)
        from ray import tune

        trainable = tune.with_resources(
            tune.with_parameters(_trial, spec_dict=spec.to_dict(), crashes=crashes, scratch=scratch),
            {"cpu": spec.cpu, "gpu": spec.gpu},
        )
        run_config = tune.RunConfig(
            name="tune",
            storage_path=remote.rpath(local.root) if remote else spec.root,
            storage_filesystem=fs,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.num_to_keep),
            callbacks=[_progress_callback(spec, out, progress_interval_s)],
            verbose=0,
        )
        tuner = None
        if resume and state_exists:
            try:
                if tune.Tuner.can_restore(tune_dir, storage_filesystem=fs):
                    tuner = tune.Tuner.restore(tune_dir, trainable=trainable, resume_errored=True,
                                               storage_filesystem=fs)
                    outcome.restored = True
                    print(f"resuming from Ray's state in {tune_dir}", file=out, flush=True)
            except Exception as exc:  # a driver killed mid-write can leave state Ray cannot read
                print(f"Ray's state in {tune_dir} is unusable ({type(exc).__name__}: {exc}); "
                      "continuing from the trials' run directories", file=out, flush=True)
                tuner = None
            if tuner is None:
                aside = f"{tune_dir}.unusable-{time.strftime('%Y%m%dT%H%M%S')}"
                if fs is not None:
                    fs.move(tune_dir, aside)
                else:
                    os.replace(tune_dir, aside)
                print(f"moved the unusable Ray state to {aside}", file=out, flush=True)
        if tuner is None:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial_id": tune.grid_search([t.trial_id for t in incomplete])},
                tune_config=tune.TuneConfig(
                    reuse_actors=True,
                    max_concurrent_trials=spec.max_concurrent_trials,
                    trial_name_creator=lambda t: t.config["trial_id"],
                    trial_dirname_creator=lambda t: t.config["trial_id"],
                ),
                run_config=run_config,
            )
        interrupted = {"sigterm": False}

        def _on_sigterm(signum, frame):  # Tune treats SIGINT gracefully (final save), SIGTERM not
            interrupted["sigterm"] = True
            signal.raise_signal(signal.SIGINT)

        previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
        try:
            result_grid = tuner.fit()
        except KeyboardInterrupt:
            outcome.interrupted = True
            result_grid = None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        outcome.interrupted = outcome.interrupted or interrupted["sigterm"]
        if result_grid is not None:
            for r in result_grid:
                if r.error is not None:
                    tid = (r.config or {}).get("trial_id", "?")
                    last = (str(r.error).strip().splitlines() or [""])[-1]
                    outcome.errors[tid] = f"{type(r.error).__name__}: {last}"

    if remote:
        remote.pull_status(trials)
    for t in local_trials:
        st = trial_status(t, local)
        (outcome.done if st["finished"] else outcome.incomplete).append(t.trial_id)
        outcome.failed_records += st["failed"]
    if outcome.incomplete and not outcome.errors and not outcome.interrupted:
        outcome.interrupted = True  # Tune stopped early (e.g. a SIGINT it handled itself)
    outcome.elapsed_s = time.monotonic() - t0
    return outcome


def _has_tune_state(tune_dir: str, fs) -> bool:
    if fs is None:
        return os.path.isdir(tune_dir) and any(Path(tune_dir).glob("experiment_state*.json"))
    import pyarrow.fs as pafs

    if fs.get_file_info(tune_dir).type != pafs.FileType.Directory:
        return False
    return any(i.base_name.startswith("experiment_state") for i in fs.get_file_info(pafs.FileSelector(tune_dir)))


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- the end of a sweep --------------------------------------------------------------------------------------

def results_table(results_dir: str):
    """The sweep's records as one row per run (dataset, model, hyperparameter, seed) and one column per
    ``<representation>/<headline key>`` of each metric; None when there are no ``ok`` records yet.

    Built on the reports layer: :func:`benchmark.reports.runs_table` merges the records of each run, and a
    metric's headline key is the first of :data:`benchmark.reports.tables.HEADLINE_METRICS` it wrote (else
    its key named like the metric, else its shortest key).
    """
    import pandas as pd

    from benchmark.reports import load_results, runs_table
    from benchmark.reports.tables import HEADLINE_METRICS

    records = load_results(results_dir)
    if not (records["status"] == "ok").any():
        return None
    runs = runs_table(records)
    parts = []
    for metric, keys in runs.attrs["metric_keys"].items():
        if not keys:  # only failed records of this metric
            continue
        key = next((k for k in HEADLINE_METRICS if k in keys), metric if metric in keys else min(keys, key=len))
        parts.append(pd.DataFrame({
            "dataset": runs["dataset"], "model": runs["model"], "hyper": runs["hparam"], "seed": runs["seed"],
            "column": runs["representation"] + "/" + key, "value": runs[f"metric.{key}"].astype(float),
        }))
    long = pd.concat(parts).dropna(subset=["value"]) if parts else None
    if long is None or long.empty:
        return None
    return long.pivot_table(index=["dataset", "model", "hyper", "seed"], columns="column", values="value",
                            aggfunc="first").sort_index()


def write_sweep_report(spec: SweepSpec, outcome: SweepOutcome) -> str | None:
    """Write the report of the sweep's records (``benchmark.reports``) into ``<storage>/<name>/report``.

    Returns the page's path (also stored in ``outcome.report``), or None when there are no records yet.
    On URI storage the report is written in the local mirror and pushed to the storage.
    """
    from benchmark.reports.report import write_report

    local_results = outcome.local_results_dir or spec.results_dir
    if not os.path.isdir(local_results) or not glob.glob(os.path.join(glob.escape(local_results), "*", "*.json")):
        return None
    report_dir = os.path.join(os.path.dirname(local_results), "report")
    res = write_report(local_results, report_dir)
    if spec.is_remote:
        _Remote(spec).push(report_dir)
        page = join(spec.root, "report", os.path.basename(str(res.html))) if res.html else None
    else:
        page = str(res.html) if res.html else None
    outcome.report = page
    return page


def print_outcome(spec: SweepSpec, outcome: SweepOutcome, out: TextIO | None = None) -> None:
    """Where the results are, what finished, and the results table."""
    out = out or sys.stdout
    print("", file=out)
    print(f"sweep {spec.name}: {len(outcome.done)}/{outcome.num_trials} trials done, {len(outcome.incomplete)} "
          f"incomplete, {len(outcome.failed_records)} failed records, {_hms(outcome.elapsed_s)}", file=out)
    for tid, err in outcome.errors.items():
        print(f"  failed trial {tid}: {err}", file=out)
    for path in outcome.failed_records:
        print(f"  failed record {path}", file=out)
    print(f"run directories: {spec.runs_dir}", file=out)
    print(f"results:         {spec.results_dir}", file=out)
    if outcome.report:
        print(f"report:          {outcome.report}", file=out)
    if outcome.incomplete or outcome.failed_records:
        print(f"continue with:   dbench sweep {spec.source} --storage {spec.storage} --resume"
              + ("  (retries the failed records)" if outcome.failed_records else ""), file=out)
    local_results = outcome.local_results_dir or spec.results_dir
    table = results_table(local_results) if os.path.isdir(local_results) else None
    if table is not None:
        import pandas as pd

        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200,
                               "display.float_format", "{:.3f}".format):
            print(table.to_string(), file=out)
    out.flush()
