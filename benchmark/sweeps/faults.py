"""Crash injection for tests and drills: make one trial of a sweep fail once at a given step.

``DBENCH_SWEEP_CRASH="<trial id>@<step>[,<trial id>@<step>...]"`` in the driver's environment adds a
:class:`CrashOnce` training callback to those trials: it raises :class:`InjectedCrash` at the first logged step
at or after ``<step>``, once. The marker ``<storage>/<name>/faults/<trial id>@<step>.json`` records that it fired,
so Ray's retry (from the trial's last checkpoint) runs through. Nothing else in the suite reads this variable.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from benchmark._io import atomic_write_json

CRASH_ENV = "DBENCH_SWEEP_CRASH"


class InjectedCrash(RuntimeError):
    """Raised inside a trial by :class:`CrashOnce`."""


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


class CrashOnce:
    """A training callback that raises :class:`InjectedCrash` at ``step`` unless its marker file exists."""

    def __init__(self, trial_id: str, step: int, faults_dir: str, push: Callable[[str], None], event: Callable):
        self.trial_id, self.step = trial_id, int(step)
        self.marker = os.path.join(faults_dir, f"{trial_id}@{self.step}.json")
        self.push, self.event = push, event

    def on_log(self, step: int, terms: dict) -> None:
        if step < self.step or os.path.exists(self.marker):
            return
        atomic_write_json(self.marker, {"trial_id": self.trial_id, "step": int(step), "time": time.time()})
        self.push(self.marker)
        self.event(event="crash", step=int(step))
        raise InjectedCrash(f"injected crash in trial {self.trial_id} at step {step} ({CRASH_ENV})")
