"""Evaluation of many run directories across a Ray cluster: one Ray task per run.

``dbench evaluate RUN... --address auto|HOST:PORT`` hands each run to :func:`evaluate_runs`, which submits one task
per run holding ``cpus`` CPUs (its scikit-learn fits use them, :func:`benchmark.metrics.fit_jobs`) and ``gpus`` of
a GPU (the encoder and the torch metrics run there), and prints one line per run as the tasks finish, in the
order they finish. Each task is :func:`benchmark.evaluation.evaluate` on one run, writing to the shared results
directory exactly the records a serial evaluation writes. The records are the state: a task skips every ``ok``
record that exists, so a task Ray retries after losing its node, or a fan-out run again after an interruption,
computes only what is missing and writes each record once. The results directory must be on storage every node
sees (a shared filesystem); the run directories too.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Sequence, TextIO

from benchmark.sweeps.tune import init_ray

#: How often Ray re-runs a task whose worker or node died (a task that raises is not retried: its error is the run's).
TASK_RETRIES = 3


@dataclasses.dataclass
class FanoutOutcome:
    """What :func:`evaluate_runs` returns: per run, its records' (representation/metric, status, error) or why it
    could not be evaluated at all."""

    runs: dict[str, list[dict]] = dataclasses.field(default_factory=dict)  # run dir -> record summaries
    errors: dict[str, str] = dataclasses.field(default_factory=dict)  # run dir -> why it failed
    elapsed_s: float = 0.0

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(run dir, reason)`` for every run that failed and every record that is not ``ok``."""
        out = list(self.errors.items())
        out += [(run, f"{r['what']}: {r['error']}") for run, recs in self.runs.items() for r in recs if r["status"] != "ok"]
        return out


def _evaluate_task(run_dir: str, cpus: float, plugins: tuple, kwargs: dict) -> dict:
    """One run, inside a Ray task: its record summaries and the node that computed them."""
    import ray
    import torch

    from benchmark.evaluation import evaluate
    from benchmark.plugins import load_plugins

    load_plugins(plugins)  # a worker process: the runs' plugin methods before their configs are read

    threads = max(1, int(cpus))
    torch.set_num_threads(threads)  # the CPUs the task holds: more threads than CPUs on a shared node crawl
    recs = evaluate(run_dir, jobs=threads, **kwargs)
    return {"node": ray.get_runtime_context().get_node_id(),
            "records": [{"what": f"{r['eval.representation']}/{r['eval.metric']}", "status": r["status"],
                         "error": r.get("error")} for r in recs]}


def evaluate_runs(run_dirs: Sequence[str], *, address: str | None, cpus: float = 1, gpus: float = 0,
                  plugins: Sequence[str] = (), out: TextIO | None = None, **evaluate_kwargs: Any) -> FanoutOutcome:
    """Evaluate each of ``run_dirs`` in its own Ray task on the cluster at ``address`` (``auto``, ``HOST:PORT``,
    or None for a local instance sized to this machine, or the Ray this process already joined).
    ``plugins``: plugin files every task loads first (absolute paths every node can read). ``evaluate_kwargs``
    are those of :func:`benchmark.evaluation.evaluate` (``results_dir`` required, a path every node can write)."""
    import ray

    out = out or sys.stdout
    if evaluate_kwargs.get("results_dir") is None:
        raise ValueError("evaluate_runs needs results_dir: the shared directory the tasks write their records to")
    t0 = time.monotonic()
    init_ray(address, None, out)
    kwargs = {**evaluate_kwargs, "results_dir": os.path.abspath(evaluate_kwargs["results_dir"])}
    task = ray.remote(_evaluate_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=TASK_RETRIES,
                                              retry_exceptions=False)
    run_dirs = [os.path.abspath(r) for r in run_dirs]
    plugins = tuple(os.path.abspath(p) for p in plugins)
    pending = {task.remote(run_dir, cpus, plugins, kwargs): run_dir for run_dir in run_dirs}
    print(f"evaluating {len(run_dirs)} run(s) as Ray tasks of {cpus:g} CPU(s) and {gpus:g} GPU(s) each",
          file=out, flush=True)
    outcome = FanoutOutcome()
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        run_dir = pending.pop(ref)
        done = len(run_dirs) - len(pending)
        try:
            result = ray.get(ref)
        except Exception as exc:  # the run's own error (a RayTaskError wraps it), or its node lost past the retries
            cause = getattr(exc, "cause", None) or exc
            outcome.errors[run_dir] = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[-1]}"
            print(f"[{done}/{len(run_dirs)}] {run_dir}: failed: {outcome.errors[run_dir]}", file=out, flush=True)
            continue
        outcome.runs[run_dir] = result["records"]
        ok = sum(r["status"] == "ok" for r in result["records"])
        print(f"[{done}/{len(run_dirs)}] {run_dir}: {ok}/{len(result['records'])} records ok "
              f"(node {result['node'][:8]})", file=out, flush=True)
    outcome.elapsed_s = time.monotonic() - t0
    return outcome


__all__ = ["FanoutOutcome", "TASK_RETRIES", "evaluate_runs"]
