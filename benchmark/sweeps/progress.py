"""The driver's progress lines during a sweep: counts of pending/running/done/failed trials, each running trial's
step and loss, and an estimate of the time left. A Ray Tune callback: this module is imported only to run a
sweep (it imports ``ray``).
"""

from __future__ import annotations

import math
import time
from typing import TextIO

from ray.tune import Callback

from benchmark._io import format_duration
from benchmark.sweeps.spec import SweepSpec


class Progress(Callback):
    """Prints pending/running/done/failed counts, per-trial step and loss, and an estimate of time left."""

    def __init__(self, spec: SweepSpec, out: TextIO, interval_s: float):
        self.spec, self.out, self.interval_s = spec, out, interval_s
        self.start = time.monotonic()
        self.last_print = 0.0
        self.latest: dict[str, dict] = {}
        self.first_step: dict[str, tuple[float, int]] = {}  # first training report of this attempt
        self.rate_at: dict[str, tuple[float, int]] = {}  # latest training report
        self.eval_start: dict[str, float] = {}
        self.eval_s: list[float] = []  # evaluation wall times of finished trials
    def _tid(self, trial) -> str:
        return trial.config.get("trial", {}).get("trial_id", str(trial))

    def _steps(self, trial) -> int:
        """The trial's step budget (a method of a study may train for another budget than the rest)."""
        return int(trial.config.get("trial", {}).get("config", {}).get("steps") or 0)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        tid, now = self._tid(trial), time.monotonic()
        phase, step = result.get("phase"), int(result.get("step") or 0)
        self.latest[tid] = {"step": step, "loss": result.get("loss"), "phase": phase, "evaluating": result.get("evaluating")}
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
        print(f"  trial {self._tid(trial)} failed: see {getattr(trial, 'path', '')}", file=self.out, flush=True)
        self._maybe_print(trials, force=True)

    def on_step_end(self, iteration, trials, **info):
        self._maybe_print(trials)

    def _maybe_print(self, trials, force=False):
        now = time.monotonic()
        if not force and now - self.last_print < self.interval_s:
            return
        self.last_print = now
        counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
        for t in trials:
            counts[{"PENDING": "pending", "RUNNING": "running", "TERMINATED": "done", "ERROR": "failed"}.get(
                t.status, "pending")] += 1
        line = (f"[{time.strftime('%H:%M:%S')}] {self.spec.name}: {counts['pending']} pending, {counts['running']} "
                f"running, {counts['done']} done, {counts['failed']} failed | elapsed {format_duration(now - self.start)}"
                f" | left {self._eta(trials, now)}")
        print(line, file=self.out, flush=True)
        for t in trials:
            if t.status == "RUNNING":
                r = self.latest.get(self._tid(t), {})
                if r.get("phase") == "evaluate":  # which metric, and how far (images encoded, points, fits)
                    print(f"    {self._tid(t)}: evaluate {r.get('evaluating') or 'starting'}", file=self.out, flush=True)
                    continue
                loss = r.get("loss")
                loss_s = f"{loss:.2f}" if isinstance(loss, (int, float)) and math.isfinite(loss) else "-"
                print(f"    {self._tid(t)}: {r.get('phase') or 'starting'} step {r.get('step') or 0}/"
                      f"{self._steps(t)} loss {loss_s}", file=self.out, flush=True)

    def _eta(self, trials, now) -> str:
        # Steps left over the summed step rate of the trials training now, plus the evaluations left at the
        # mean evaluation time seen so far, spread over the trials that run at once. "?" until measured.
        remaining, rate, evals_left, running = 0, 0.0, 0, 0
        for t in trials:
            tid, r = self._tid(t), self.latest.get(self._tid(t), {})
            if t.status == "TERMINATED" or r.get("phase") == "done":
                continue
            evals_left += 1
            running += t.status == "RUNNING"
            step = int(r.get("step") or 0) if r.get("phase") == "train" else (
                self._steps(t) if r.get("phase") == "evaluate" else 0)
            remaining += max(0, self._steps(t) - step)
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
        return "~" + format_duration(train_s + eval_s) + ("" if self.eval_s else " + evaluation")
