"""Sweep benchmark: the scheduling overhead of Ray Tune and the throughput of trials packed on one device.

Prints, in one run:
1. Scheduling overhead: wall time of a grid of N trivial trials (a few training steps and one small metric
   each) run through the suite (``run_sweep``: Ray start, Tune, one worker process per concurrent trial,
   Tune checkpoints and reports) beside the same trials run in a plain in-process loop
   (``train`` + ``evaluate``), and the difference per trial.
2. Packing: aggregate training throughput (images/s over all trials running together, from the trials'
   own start/end events) with 1 and 2 trials sharing this CPU (1 CPU each), or with 1, 2, 4, 8 trials
   sharing one GPU (gpu = 1/K each) when CUDA is available.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/sweep.py [--trials 8] [--pack-steps 200]

Figures depend on the machine's load; the integrator re-runs this on a quiet machine.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmark.sweeps.spec import parse_spec  # noqa: E402
from benchmark.sweeps.storage import read_events  # noqa: E402
from benchmark.sweeps.tune import run_sweep  # noqa: E402


def _spec(storage, name, steps, seeds, batch_size, cpu=1.0, gpu=0.0, metrics=True, device="cpu"):
    return parse_spec({
        "name": name,
        "config": {"dataset": "dsprites_procedural", "model": "beta_vae", "steps": steps, "batch_size": batch_size,
                   "checkpoint_every": max(1, steps), "log_every": max(1, steps // 4), "device": device},
        "grid": {"seed": list(range(seeds))},
        "resources": {"cpu": cpu, "gpu": gpu},
        "evaluation": {"metrics": ["mig"], "representations": ["mean"],
                       "overrides": {"mig": {"num_train": 200 if metrics else 100}}},
        "storage": {"path": str(storage)},
        "checkpoints": {"num_to_keep": 1},
    })


def overhead(n: int, root: str) -> None:
    from benchmark.evaluation import evaluate
    from benchmark.training import train

    spec = _spec(os.path.join(root, "suite"), "overhead", steps=5, seeds=n, batch_size=16)
    t0 = time.perf_counter()
    from benchmark.sweeps import tune as adapter

    adapter.init_ray(None, os.cpu_count())
    t_init = time.perf_counter() - t0
    t1 = time.perf_counter()
    outcome = run_sweep(spec, out=io.StringIO())
    t_suite = time.perf_counter() - t1
    assert outcome.ok, outcome
    adapter.shutdown_ray()

    loop = _spec(os.path.join(root, "loop"), "overhead", steps=5, seeds=n, batch_size=16)
    t2 = time.perf_counter()
    for trial in loop.trials():
        train(trial.config, trial.run_dir, progress=False)
        evaluate(trial.run_dir, metrics=list(loop.evaluation.metrics), representation="mean", seed=0,
                 results_dir=trial.results_dir, **loop.evaluation.overrides)
    t_loop = time.perf_counter() - t2
    cpus = os.cpu_count()
    print(f"scheduling overhead, {n} trivial trials (5 steps of batch 16 + MIG on 200 points each), {cpus} CPUs:")
    print(f"  {'ray.init (local, ' + str(cpus) + ' CPUs):':36s}{t_init:7.1f} s")
    print(f"  {'through the suite (run_sweep):':36s}{t_suite:7.1f} s  ({t_suite + t_init:.1f} s with ray.init)")
    print(f"  {'plain loop in one process:':36s}{t_loop:7.1f} s")
    print(f"  {'overhead per trial:':36s}{(t_suite + t_init - t_loop) / n:7.2f} s "
          f"(suite incl. ray.init vs loop; {cpus} trials run at once in the suite)")


def packing(root: str, steps: int) -> None:
    from benchmark.sweeps import tune as adapter

    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    counts = [1, 2, 4, 8] if cuda else [1, 2]
    device = "cuda" if cuda else "cpu"
    adapter.init_ray(None, None)
    print(f"packing: aggregate training throughput with K trials sharing one {'GPU' if cuda else 'CPU (1 core each)'}"
          f" ({steps} steps of batch 64, conv beta-VAE, dsprites_procedural):")
    base = None
    for k in counts:
        spec = _spec(os.path.join(root, f"pack{k}"), f"pack{k}", steps=steps, seeds=k, batch_size=64,
                     cpu=1.0, gpu=(1.0 / k) if cuda else 0.0, device=device)
        outcome = run_sweep(spec, out=io.StringIO())
        assert outcome.ok, outcome
        starts, ends, per = [], [], []
        for t in spec.trials():
            ev = read_events(spec, t.trial_id)
            start = next(e for e in ev if e["event"] == "start")
            trained = next(e for e in ev if e["event"] == "trained")
            starts.append(start["time"])
            ends.append(trained["time"])
            per.append(trained["summary"].get("images_per_s", float("nan")))
        images = k * steps * 64
        agg = images / (max(ends) - min(starts))
        base = base or agg
        print(f"  K={k}: {agg:9.0f} images/s aggregate ({agg / base:4.2f}x of K=1); per trial "
              f"{sum(per) / len(per):8.0f} images/s (training loop only)")
    adapter.shutdown_ray()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=8, help="trivial trials for the overhead figure")
    ap.add_argument("--pack-steps", type=int, default=200, help="training steps per trial for the packing figure")
    args = ap.parse_args()
    for k, v in {"RAY_USAGE_STATS_ENABLED": "0", "RAY_LOG_TO_DRIVER": "0", "OMP_NUM_THREADS": "1"}.items():
        os.environ.setdefault(k, v)
    with tempfile.TemporaryDirectory(prefix="dbench-bench-sweep-") as root:
        overhead(args.trials, root)
        packing(root, args.pack_steps)


if __name__ == "__main__":
    main()
