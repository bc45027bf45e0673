"""Ray Tune adapter: one Tune trial per grid point of a :class:`~benchmark.sweeps.spec.SweepSpec`.

The module of the suite that starts Ray and hands it work (``ray`` is imported inside functions, so importing
this module is cheap; :mod:`.progress` holds the driver's Tune callback).

Each trial (:func:`_trial`) receives its own resolved :class:`~benchmark.sweeps.spec.Trial` (never the spec to
re-parse), trains into its run directory on the sweep's storage (``<storage>/<name>/runs/<trial id>``) while
reporting progress and a checkpoint to Tune after every training checkpoint, then evaluates its metrics with
:func:`benchmark.evaluation.evaluate` into ``<storage>/<name>/results``. The run directory is derived from the
trial's config and training resumes from the checkpoint it finds there, so any restart (Ray's retry after a
crash, ``--resume`` after a killed driver, a fresh Tune run when Ray's state is unusable) continues from the
trial's last checkpoint; existing records are never recomputed; a trained trial with all its records returns
at once. Ray's experiment state is a convenience, never the source of truth (a SIGKILLed driver leaves it
stale). The storage side (URI mirror, audit trail, trial status) is :mod:`.storage`; crash injection is
:mod:`.faults`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmark import records
from benchmark.sweeps import faults, storage
from benchmark.sweeps.spec import AUTO_MAX_MODELS, Pack, SpecError, SweepSpec, Trial, pack_trials

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


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` returns."""

    root: str
    results_dir: str
    num_trials: int
    done: list = field(default_factory=list)  # trial ids trained and with every record present
    incomplete: list = field(default_factory=list)  # trial ids still to finish (interrupted or errored)
    failed_records: list = field(default_factory=list)  # record paths with status "failed"
    errors: dict = field(default_factory=dict)  # trial id -> error text from Ray
    interrupted: bool = False
    local_results_dir: str = ""  # where the records can be read here (a mirror of results_dir on URI storage)
    report: str | None = None  # the report page, once the CLI wrote it
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.incomplete and not self.failed_records and not self.interrupted


class _TuneReporter:
    """Training callbacks that report progress and checkpoints to Tune."""

    def __init__(self, trial: Trial, push):
        from ray import tune

        self._tune, self.trial, self.push = tune, trial, push
        self.total = trial.config.steps
        self._last = 0.0
        self.step = 0
        self.loss = float("nan")

    def metrics(self, phase: str, **extra: Any) -> dict:
        return {"step": self.step, "steps_total": self.total, "loss": self.loss, "phase": phase, **extra}

    def on_log(self, step: int, terms: dict) -> None:
        self.step, self.loss = int(step), float(terms.get("loss", float("nan")))
        now = time.monotonic()
        if now - self._last >= _REPORT_EVERY_S:
            self._last = now
            self._tune.report(self.metrics("train"))

    def on_metric_progress(self, label: str, what: str, done: int, total: int) -> None:
        """During evaluation: which metric runs and how far it is (``mean/dci fits 3/5``), throttled."""
        now = time.monotonic()
        if now - self._last >= _REPORT_EVERY_S:
            self._last = now
            self._tune.report(self.metrics("evaluate", step=self.total, evaluating=f"{label} {what} {done:,}/{total:,}"))

    def on_checkpoint(self, step: int, run_dir: str) -> None:
        # The run directory is the trial's real state; the Tune checkpoint names it and its step, so Tune
        # knows the trial has progress to resume from (and a user can see which step each trial reached).
        self.step = int(step)
        self.push(str(run_dir))  # on URI storage the checkpoint reaches the storage before Tune hears of it
        with tempfile.TemporaryDirectory(prefix="dbench-ckpt-") as d:
            with open(os.path.join(d, "dbench_checkpoint.json"), "w", encoding="utf-8") as f:
                json.dump({"trial_id": self.trial.trial_id, "step": int(step), "run_dir": str(run_dir)}, f)
            self._tune.report(self.metrics("train"), checkpoint=self._tune.Checkpoint.from_directory(d))
        self._last = time.monotonic()


class _PackReporter(_TuneReporter):
    """The one reporter every member of a pack trial shares (``packing:``): each member's checkpoint pushed as it
    is written, one Tune checkpoint per checkpoint step once all of them are (``on_pack_checkpoint``)."""

    def __init__(self, pack: dict, push):
        super().__init__(Trial.from_dict({**pack["members"][0], "trial_id": pack["trial_id"]}), push)

    def on_checkpoint(self, step: int, run_dir: str) -> None:
        self.step = int(step)
        self.push(str(run_dir))

    def on_pack_checkpoint(self, step: int, run_dirs: list) -> None:
        with tempfile.TemporaryDirectory(prefix="dbench-ckpt-") as d:
            with open(os.path.join(d, "dbench_checkpoint.json"), "w", encoding="utf-8") as f:
                json.dump({"trial_id": self.trial.trial_id, "step": int(step), "run_dirs": list(run_dirs)}, f)
            self._tune.report(self.metrics("train"), checkpoint=self._tune.Checkpoint.from_directory(d))
        self._last = time.monotonic()


def _tune_checkpoint_step() -> int | None:
    from ray import tune

    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d, contextlib.suppress(OSError, ValueError, KeyError):
        return json.loads(Path(d, "dbench_checkpoint.json").read_text())["step"]
    return None


def _trial(params: dict, *, spec: SweepSpec, crashes: dict, scratch: str | None = None) -> None:
    """The Tune function trainable: train (resuming from the run dir), then evaluate. Idempotent."""
    import ray
    import torch
    from ray import tune

    from benchmark.plugins import load_plugins

    load_plugins(spec.plugins, what=f"{spec.source}: plugins:")  # a worker process: its methods before its config
    if "members" in params["trial"]:  # a pack (spec.packing): its models train as one network
        return _pack_trial(params["trial"], spec, crashes, scratch)
    trial = Trial.from_dict(params["trial"])
    mirror = storage.Mirror(spec, scratch) if spec.is_remote else None
    if mirror is not None:  # work in a local mirror of this trial's part of the storage
        mirror.pull_trial(trial)
        spec, trial = mirror.local, mirror.local_trial(trial)
    push = mirror.push if mirror is not None else (lambda path: None)

    def event(**e: Any) -> None:
        push(storage.record_event(spec, trial.trial_id, **e))

    # One thread per CPU the trial holds: more threads than CPUs on a shared node runs many times slower.
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    status = storage.trial_status(trial, spec)
    reporter = _TuneReporter(trial, push)
    reporter.step = trial.config.steps if status["trained"] else 0
    if status["complete"]:
        event(event="skip", reason="trained and all records present")
        tune.report(reporter.metrics("done", records=len(status["records"])))
        return
    event(event="start", node=ray.get_runtime_context().get_node_id(), tune_checkpoint_step=_tune_checkpoint_step(),
          trained=status["trained"],
          has_checkpoint=os.path.exists(os.path.join(trial.run_dir, records.CHECKPOINT_FILE)))
    callbacks = [reporter]
    if trial.trial_id in crashes:
        callbacks.append(faults.CrashOnce(trial.trial_id, crashes[trial.trial_id], os.path.join(spec.root, "faults"),
                                          push, event))
    try:
        after = _train_and_evaluate(spec, trial, status, callbacks, push, event)
    except BaseException as exc:
        event(event="error", error=f"{type(exc).__name__}: {exc}")
        raise
    tune.report(reporter.metrics("done", step=reporter.total, records=len(after["records"]),
                                 failed_records=len(after["failed"])))


def _train_and_evaluate(spec: SweepSpec, trial: Trial, status: dict, callbacks: list, push, event) -> dict:
    from ray import tune

    from benchmark.training import train

    reporter = callbacks[0]
    if not status["trained"]:
        summary = train(trial.config, trial.run_dir, callbacks=callbacks, progress=False)
        push(trial.run_dir)
        event(event="trained", step=summary.get("step"), summary=summary)
    tune.report(reporter.metrics("evaluate", step=reporter.total))
    return _evaluate_trial(spec, trial, status, reporter, push, event)


def _evaluate_trial(spec: SweepSpec, trial: Trial, status: dict, reporter, push, event) -> dict:
    """Write the trial's missing or failed records (its training is done); its status afterwards."""
    from benchmark.evaluation import evaluate

    before = set(status["records"]) - set(status["failed"])  # ok records are never rewritten
    ev = spec.evaluation
    # All metrics and representations in one call: they share one encoding of the dataset's grid.
    evaluate(trial.run_dir, metrics=list(ev.metrics), representation=list(ev.representations), seed=ev.seed,
             results_dir=trial.results_dir, device=trial.config.device, protocol=ev.protocol,
             jobs=max(1, int(spec.resources.cpu)),  # the CPUs this trial holds
             metric_progress=reporter.on_metric_progress, **{k: dict(v) for k, v in ev.overrides.items()})
    after = storage.trial_status(trial, spec)
    written = sorted(set(after["records"]) - before)
    for d in sorted({os.path.dirname(p) for p in written}):
        push(d)
    event(event="evaluated", written=[os.path.relpath(p, trial.results_dir) for p in written],
          failed=[os.path.relpath(p, trial.results_dir) for p in after["failed"]])
    if after["missing"]:
        raise RuntimeError(f"trial {trial.trial_id}: evaluation did not write records {after['missing']}")
    return after


def _pack_trial(pack: dict, spec: SweepSpec, crashes: dict, scratch: str | None) -> None:
    """A pack's Tune trial: its members not yet trained train as one network (benchmark.packing.train_pack,
    resuming from their run directories), then each is evaluated like a lone trial. Every member keeps its own
    audit trail; an injected crash (``DBENCH_SWEEP_CRASH`` naming a member or the pack) stops the whole pack."""
    import ray
    import torch
    from ray import tune

    from benchmark.packing import train_pack

    trials = [Trial.from_dict(m) for m in pack["members"]]
    mirror = storage.Mirror(spec, scratch) if spec.is_remote else None
    if mirror is not None:
        for t in trials:
            mirror.pull_trial(t)
        spec, trials = mirror.local, [mirror.local_trial(t) for t in trials]
    push = mirror.push if mirror is not None else (lambda path: None)
    events = {t.trial_id: (lambda tid: lambda **e: push(storage.record_event(spec, tid, **e)))(t.trial_id) for t in trials}
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    status = {t.trial_id: storage.trial_status(t, spec) for t in trials}
    reporter = _PackReporter(pack, push)
    todo = [t for t in trials if not status[t.trial_id]["complete"]]
    for t in trials:
        if status[t.trial_id]["complete"]:
            events[t.trial_id](event="skip", reason="trained and all records present", pack=pack["trial_id"])
        else:
            events[t.trial_id](event="start", node=ray.get_runtime_context().get_node_id(), pack=pack["trial_id"],
                               tune_checkpoint_step=_tune_checkpoint_step(), trained=status[t.trial_id]["trained"],
                               has_checkpoint=os.path.exists(os.path.join(t.run_dir, records.CHECKPOINT_FILE)))
    untrained, settled = [t for t in todo if not status[t.trial_id]["trained"]], set()  # settled: evaluated or frozen
    faults_dir = os.path.join(spec.root, "faults")
    crash = {t.trial_id: [faults.CrashOnce(t.trial_id, crashes[t.trial_id], faults_dir, push, events[t.trial_id])]
             for t in untrained if t.trial_id in crashes}
    if pack["trial_id"] in crashes and untrained:
        crash.setdefault(untrained[0].trial_id, []).append(
            faults.CrashOnce(pack["trial_id"], crashes[pack["trial_id"]], faults_dir, push, events[untrained[0].trial_id]))
    try:
        if untrained:
            summaries = train_pack([t.config for t in untrained], [t.run_dir for t in untrained], progress=False,
                                   callbacks=[[reporter, *crash.get(t.trial_id, [])] for t in untrained])
            for t, summary in zip(untrained, summaries):
                push(t.run_dir)
                if "error" in summary:  # a non-finite loss froze this member; its run directory holds error.json
                    events[t.trial_id](event="error", step=summary.get("step"), error=summary["error"])
                    settled.add(t.trial_id)
                else:
                    events[t.trial_id](event="trained", step=summary.get("step"), summary=summary)
        tune.report(reporter.metrics("evaluate", step=reporter.total))
        for t in todo:
            if t.trial_id not in settled:
                _evaluate_trial(spec, t, storage.trial_status(t, spec), reporter, push, events[t.trial_id])
                settled.add(t.trial_id)
    except BaseException as exc:
        for t in todo:
            if t.trial_id not in settled:
                events[t.trial_id](event="error", error=f"{type(exc).__name__}: {exc}", pack=pack["trial_id"])
        raise
    tune.report(reporter.metrics("done", step=reporter.total))


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


def _set_aside(tune_dir: str, fs, out: TextIO) -> None:
    """Move Ray's previous experiment state out of the way, unread (nothing of it is ever unpickled)."""
    aside = f"{tune_dir}.previous-{time.strftime('%Y%m%dT%H%M%S')}"
    fs.move(tune_dir, aside) if fs is not None else os.replace(tune_dir, aside)
    print(f"set Ray's previous state aside, unread: {aside}", file=out, flush=True)


def _fit(tuner, outcome: SweepOutcome) -> None:
    """``tuner.fit()`` with SIGTERM turned into Tune's graceful SIGINT; errors and interruptions into ``outcome``."""
    sigterm = {"seen": False}

    def _on_sigterm(signum, frame):  # Tune treats SIGINT gracefully (final save), SIGTERM not
        sigterm["seen"] = True
        signal.raise_signal(signal.SIGINT)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    try:
        result_grid = tuner.fit()
    except KeyboardInterrupt:
        outcome.interrupted, result_grid = True, None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    outcome.interrupted = outcome.interrupted or sigterm["seen"]
    for r in result_grid or []:
        if r.error is not None:
            tid = (r.config or {}).get("trial", {}).get("trial_id", "?")
            last = (str(r.error).strip().splitlines() or [""])[-1]
            outcome.errors[tid] = f"{type(r.error).__name__}: {last}"


def _run_tune(spec: SweepSpec, incomplete: list[Trial | Pack], mirror, resume_state: bool, address, num_cpus, interval_s,
              out: TextIO, outcome: SweepOutcome) -> None:
    init_ray(address, num_cpus, out)
    from ray import tune

    from benchmark.sweeps.progress import Progress

    crashes = faults.parse_crash_env(os.environ.get(faults.CRASH_ENV))
    scratch = os.environ.get(storage.SCRATCH_ENV)  # None: each node picks its own cache dir
    trainable = tune.with_resources(tune.with_parameters(_trial, spec=spec, crashes=crashes, scratch=scratch),
                                    {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
    fs = mirror.fs if mirror else None
    tune_dir = mirror.rpath(mirror.local.tune_dir) if mirror else spec.tune_dir
    if resume_state:
        _set_aside(tune_dir, fs, out)
    members = sum(len(u.trials) if isinstance(u, Pack) else 1 for u in incomplete)
    print(f"starting Tune on the {members} trial(s) not complete on storage"
          + (f", in {len(incomplete)} Tune trials (packs)" if members != len(incomplete) else ""), file=out, flush=True)
    run_config = tune.RunConfig(
        name="tune", storage_path=mirror.rpath(mirror.local.root) if mirror else spec.root, storage_filesystem=fs,
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoints.num_to_keep),
        callbacks=[Progress(spec, out, interval_s)], verbose=0,
    )
    tuner = tune.Tuner(
        trainable, param_space={"trial": tune.grid_search([t.to_dict() for t in incomplete])},
        tune_config=tune.TuneConfig(
            reuse_actors=True, max_concurrent_trials=spec.max_concurrent_trials,
            trial_name_creator=lambda t: t.config["trial"]["trial_id"],
            trial_dirname_creator=lambda t: t.config["trial"]["trial_id"],
        ),
        run_config=run_config,
    )
    _fit(tuner, outcome)


def _models_per_trial(spec: SweepSpec, out: TextIO) -> int:
    """``packing.models_per_trial``, ``auto`` resolved: 1 without a GPU here, else measured on it
    (benchmark.packing.choose_models_per_trial) for the first trial's config."""
    k = spec.packing.models_per_trial
    if k != "auto":
        return k
    import torch

    if not torch.cuda.is_available():
        print("packing: auto -> 1 model per trial (no GPU on this machine: unpacked)", file=out, flush=True)
        return 1
    from benchmark.packing import choose_models_per_trial

    k, curve = choose_models_per_trial(spec.first_config, max_k=AUTO_MAX_MODELS, gpu_share=spec.resources.gpu or 1.0)
    print(f"packing: auto -> {k} models per trial, measured on {torch.cuda.get_device_name()}: "
          + ", ".join(f"K={c['k']} {c['images_per_s']:.0f} img/s" for c in curve), file=out, flush=True)
    return k


def run_sweep(spec: SweepSpec, *, address: str | None = None, resume: bool = False, num_cpus: int | None = None,
              progress_interval_s: float = 10.0, out: TextIO | None = None) -> SweepOutcome:
    """Run (or continue, ``resume=True``) a sweep on Ray Tune and return its outcome.

    ``address``: None starts a local Ray instance sized to the machine (or ``num_cpus`` CPUs), or reuses one
    already initialised in this process; ``"auto"`` or ``"HOST:PORT"`` joins a running cluster.
    ``resume``: continue the sweep stored under ``spec.root`` with a fresh Tune run over the trials not yet
    complete on storage; each resumes from its run directory's checkpoint. Ray's saved state (``tuner.pkl``,
    its experiment state) is set aside unread: it is a pickle anyone who can write to the storage could have
    planted, and the run directories and records already say everything a resume needs. Without ``resume``
    an existing Ray state under ``spec.root`` is an error (pass ``resume=True``, or choose another storage).
    SIGTERM during the run is turned into SIGINT, which Tune handles gracefully (a final save).
    """
    out = out or sys.stdout
    t0 = time.monotonic()
    trials = spec.trials()
    # On URI storage the driver reads the trials' state from a local mirror and hands Ray the filesystem.
    mirror = storage.Mirror(spec, os.environ.get(storage.SCRATCH_ENV)) if spec.is_remote else None
    local = mirror.local if mirror else spec
    state_exists = storage.has_tune_state(mirror.rpath(local.tune_dir) if mirror else spec.tune_dir,
                                          mirror.fs if mirror else None)
    if state_exists and not resume:
        raise SpecError(f"sweep {spec.name!r} already has a Tune state at {spec.tune_dir}; continue it with --resume "
                        "(finished trials are not re-run) or pass another --storage")
    from benchmark._io import atomic_write_json

    os.makedirs(local.root, exist_ok=True)
    atomic_write_json(os.path.join(local.root, "sweep.json"), spec.to_dict())
    local_trials = [mirror.local_trial(t) for t in trials] if mirror else trials
    if mirror:
        mirror.push(os.path.join(local.root, "sweep.json"))
        mirror.pull_status(trials)
    incomplete = [t for t, lt in zip(trials, local_trials) if not storage.trial_status(lt, local)["complete"]]
    outcome = SweepOutcome(root=spec.root, results_dir=spec.results_dir, num_trials=len(trials),
                           local_results_dir=local.results_dir)
    print(f"sweep {spec.name}: {len(trials)} trials, {len(trials) - len(incomplete)} already complete on storage "
          f"{spec.root}", file=out, flush=True)
    if incomplete:
        units = pack_trials(incomplete, _models_per_trial(spec, out))
        _run_tune(spec, units, mirror, resume and state_exists, address, num_cpus, progress_interval_s, out, outcome)
    if mirror:
        mirror.pull_status(trials)
    for t in local_trials:
        st = storage.trial_status(t, local)
        (outcome.done if st["finished"] else outcome.incomplete).append(t.trial_id)
        outcome.failed_records += st["failed"]
        if not st["finished"]:  # a pack member a non-finite loss froze ends its pack trial without raising
            from benchmark.training import ERROR_FILE

            with contextlib.suppress(OSError, ValueError):
                error = json.loads(Path(t.run_dir, ERROR_FILE).read_text(encoding="utf-8"))
                outcome.errors.setdefault(t.trial_id, f"{error.get('error')}: {error.get('message', '')}")
    if outcome.incomplete and not outcome.errors and not outcome.interrupted:
        outcome.interrupted = True  # Tune stopped early (e.g. a SIGINT it handled itself)
    outcome.elapsed_s = time.monotonic() - t0
    return outcome
