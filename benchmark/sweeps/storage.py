"""A sweep's state on its storage: the URI mirror, each trial's audit trail, and what a trial has finished.

The run directories and result records on the storage are the source of truth of a sweep (Ray's experiment
state is a convenience: a killed driver leaves it stale). This module reads and writes that truth; it never
imports ``ray``.

URI storage (``s3://``, ``gs://``, ``file://``; ``storage.options`` are pyarrow filesystem arguments): each trial
works in a local mirror of its part of the sweep (:class:`Mirror`, ``$DBENCH_SWEEP_SCRATCH``), pushing
checkpoints, records and events as soon as they exist and pulling them back when it starts, on whatever node.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmark import _io, records
from benchmark.records import DONE_FILE
from benchmark.sweeps.spec import SpecError, SweepSpec, Trial, join

SCRATCH_ENV = "DBENCH_SWEEP_SCRATCH"  # local mirror of URI storage (default: <cache dir>/sweep-scratch)


def filesystem(storage: str, options: dict):
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
    return pafs.FileSystem.from_uri(storage)


class Mirror:
    """A URI storage mirrored through a local scratch copy laid out exactly as on the storage.

    Training and evaluation need files they can open, so a trial pulls its run directory, records and audit
    trail before it starts, and pushes each checkpoint, its ``done.json``, its records and each audit event as
    soon as they exist. The storage stays the source of truth: a trial restarted on another node pulls what
    the last one pushed. :attr:`local` is the same sweep with its storage at the scratch folder.
    """

    def __init__(self, spec: SweepSpec, scratch: str | None = None):
        import pyarrow.fs as pafs

        self.pafs = pafs
        self.fs, self.base = filesystem(spec.storage.path, spec.storage.options)
        scratch = scratch or os.environ.get(SCRATCH_ENV) or str(_io.cache_dir() / "sweep-scratch")
        key = hashlib.sha256(spec.storage.path.encode()).hexdigest()[:8]
        local_storage = dataclasses.replace(spec.storage, path=os.path.abspath(os.path.join(scratch, key)))
        self.local = dataclasses.replace(spec, storage=local_storage)

    def rpath(self, local_path: str) -> str:
        rel = os.path.relpath(local_path, self.local.storage.path)
        return "/".join([self.base.rstrip("/"), *rel.split(os.sep)])

    def _kind(self, rpath: str):
        return self.fs.get_file_info(rpath).type

    def pull(self, local_path: str) -> None:
        kind = self._kind(self.rpath(local_path))
        if kind == self.pafs.FileType.NotFound:
            return
        os.makedirs(local_path if kind == self.pafs.FileType.Directory else os.path.dirname(local_path), exist_ok=True)
        self.pafs.copy_files(self.rpath(local_path), local_path, source_filesystem=self.fs,
                             destination_filesystem=self.pafs.LocalFileSystem())

    def push(self, local_path: str) -> None:
        if not os.path.exists(local_path):
            return
        target = self.rpath(local_path)
        self.fs.create_dir(target.rsplit("/", 1)[0] if os.path.isfile(local_path) else target, recursive=True)
        self.pafs.copy_files(local_path, target, source_filesystem=self.pafs.LocalFileSystem(),
                             destination_filesystem=self.fs)

    def local_trial(self, trial: Trial) -> Trial:
        """The same trial with its paths in the mirror."""
        return dataclasses.replace(trial, run_dir=join(self.local.runs_dir, trial.trial_id),
                                   results_dir=self.local.results_dir)

    def pull_trial(self, trial: Trial) -> None:
        tid = trial.trial_id
        self.pull(os.path.join(self.local.runs_dir, tid))
        self.pull(events_path(self.local, tid))
        self.pull(os.path.join(self.local.results_dir, trial.run_id))
        faults = self.rpath(os.path.join(self.local.root, "faults"))
        if self._kind(faults) == self.pafs.FileType.Directory:
            for info in self.fs.get_file_info(self.pafs.FileSelector(faults)):
                if info.base_name.startswith(tid + "@"):
                    self.pull(os.path.join(self.local.root, "faults", info.base_name))

    def pull_status(self, trials: list[Trial]) -> None:
        """What the driver needs to tell finished trials: every done.json, the records, the audit trails."""
        self.pull(self.local.results_dir)
        self.pull(os.path.join(self.local.root, "trials"))
        for t in trials:
            self.pull(os.path.join(self.local.runs_dir, t.trial_id, DONE_FILE))


def has_tune_state(tune_dir: str, fs=None) -> bool:
    """Whether Ray Tune has written an experiment state in ``tune_dir`` (on ``fs``, or the local disk)."""
    if fs is None:
        return os.path.isdir(tune_dir) and any(n.startswith("experiment_state") for n in os.listdir(tune_dir))
    import pyarrow.fs as pafs

    if fs.get_file_info(tune_dir).type != pafs.FileType.Directory:
        return False
    return any(i.base_name.startswith("experiment_state") for i in fs.get_file_info(pafs.FileSelector(tune_dir)))


# ---------------------------------------------------------------------------------------------- trial state
def trial_status(trial: Trial, spec: SweepSpec) -> dict:
    """On-disk state of a trial.

    Keys: ``trained`` (done.json present), ``records`` (paths present), ``failed`` (those that are not valid
    ``ok`` records), ``missing`` (``<representation>__<metric>`` absent), ``finished`` (trained, no record
    missing) and ``complete`` (finished and every record ok: what makes a trial return at once). Failed records
    are retried by the next run of the trial (evaluation recomputes records that are not ``ok``).
    """
    trained = os.path.exists(os.path.join(trial.run_dir, DONE_FILE))
    present, missing = [], []
    for rep in spec.evaluation.representations:
        for metric in spec.evaluation.metrics:
            path = str(records.record_path(trial.results_dir, trial.run_id, rep, metric))
            (present if os.path.exists(path) else missing).append(path if os.path.exists(path) else f"{rep}__{metric}")
    failed = [p for p in present if records.read_ok_record(p) is None]
    return {"trained": trained, "records": present, "failed": failed, "missing": missing,
            "finished": trained and not missing, "complete": trained and not missing and not failed}


# ---------------------------------------------------------------------------------------------- audit trail
def events_path(spec: SweepSpec, trial_id: str) -> str:
    return os.path.join(spec.root, "trials", f"{trial_id}.jsonl")


def record_event(spec: SweepSpec, trial_id: str, **event: Any) -> str:
    """Append one event (``start``, ``trained``, ``evaluated``, ``skip``, ``crash``, ``error``) to a trial's trail.

    Every attempt of a trial appends its events, so the trail shows each trial was trained and evaluated
    exactly once. Returns the trail's path.
    """
    path = events_path(spec, trial_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = json.dumps({"time": time.time(), "pid": os.getpid(), **event}, sort_keys=True, default=str)
    # One small O_APPEND write per event: one writer per trial, and appends of this size are not interleaved.
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return path


def read_events(spec: SweepSpec, trial_id: str) -> list[dict]:
    """The audit trail of one trial (see :func:`record_event`)."""
    return _io.read_jsonl(events_path(spec, trial_id))


def read_grid(root: Path):
    """A sweep's expected grid for its report (:class:`benchmark.reports.grid.SweepGrid`): the resolved spec in
    ``root/sweep.json`` expanded, each trial's state read from the storage under ``root`` (the folder may have
    moved since the sweep ran: its parent is taken as the storage)."""
    from benchmark.reports.grid import SweepGrid, TrialState
    from benchmark.sweeps.spec import parse_spec

    root = Path(root)
    path = root / "sweep.json"
    spec = parse_spec(json.loads(path.read_text(encoding="utf-8")), source=str(path))
    spec = dataclasses.replace(spec.with_storage(str(root.parent)), name=root.name)
    trials = tuple(TrialState.from_status(t.trial_id, t.config.to_dict(), os.path.isdir(t.run_dir), trial_status(t, spec))
                   for t in spec.trials())
    return SweepGrid(spec.name, str(path), spec.results_dir, trials)
