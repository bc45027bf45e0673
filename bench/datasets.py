"""Dataset throughput, printed side by side with the targets of issue 2.

    OMP_NUM_THREADS=1 python bench/datasets.py            # full run (builds the 360 MiB dSprites cache)
    OMP_NUM_THREADS=1 python bench/datasets.py --quick    # shorter timings, same figures

Figures: procedural dSprites render rate (one process, batch 64 and 4096), full-grid bit-packed cache build
time, training batch-stream rate at batch 64 from the cached grid (target >= 50,000 images/s), and the
3D Shapes stand-in's geometry-table build time and composition rate. Timings depend on the machine's load:
take them on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark.datasets import get  # noqa: E402
from benchmark.datasets.dsprites import build_packed_cache, packed_cache_path, render  # noqa: E402


def rate(fn, batch: int, seconds: float) -> float:
    """Images per second of ``fn()`` (one call = ``batch`` images), after one warm-up call."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * batch / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter timing windows")
    p.add_argument("--cache-dir", help="where the dSprites grid cache lives (default: a temporary folder, "
                   "so the build is timed from scratch)")
    args = p.parse_args()
    seconds = 1.0 if args.quick else 4.0
    torch.set_num_threads(1)
    print(f"threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} MKL_NUM_THREADS={os.environ['MKL_NUM_THREADS']} "
          f"torch.get_num_threads()={torch.get_num_threads()}; numpy {np.__version__}, torch {torch.__version__}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rows = []
    rng = np.random.default_rng(0)
    ds = get("dsprites_procedural")
    for batch in (64, 4096):
        f = ds.sample_factors(batch, rng)
        rows.append((f"dsprites_procedural render, batch {batch}", rate(lambda: render(f), batch, seconds), "img/s",
                     "~7-8k img/s (DATASETS.md prototype)"))

    tmp = None
    folder = args.cache_dir
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="dbench-bench-")
        folder = tmp.name
    path = packed_cache_path(folder)
    start = time.perf_counter()
    if not path.exists():
        build_packed_cache(path, progress=None)
        build = time.perf_counter() - start
        rows.append(("dsprites full-grid cache build (737,280 images)", build, "s", f"{path.stat().st_size / 2**20:.0f} MiB on disk"))
    else:
        rows.append(("dsprites full-grid cache build", float("nan"), "s", f"reused existing {path}"))
    cached = get("dsprites_procedural", cache=True, cache_dir=folder)
    stream = cached.batch_stream(64, seed=0)
    rows.append(("batch stream from cached grid, batch 64", rate(lambda: next(stream), 64, seconds), "img/s",
                 "target >= 50,000 img/s"))
    stream = cached.batch_stream(1024, seed=0)
    rows.append(("batch stream from cached grid, batch 1024", rate(lambda: next(stream), 1024, seconds), "img/s", ""))

    s3 = get("shapes3d_procedural")
    start = time.perf_counter()
    s3._render(np.arange(480))  # the 480 geometry tables, once per process (or cache=True on disk)
    rows.append(("shapes3d stand-in geometry table (480 geometries)", time.perf_counter() - start, "s",
                 "~23 s (DATASETS.md prototype)"))
    for batch in (64, 1024):
        idx = rng.integers(0, len(s3), batch)
        rows.append((f"shapes3d stand-in composition, batch {batch}", rate(lambda: s3.images_uint8(idx), batch, seconds),
                     "img/s", "~4k img/s (DATASETS.md prototype)"))
    stream = s3.batch_stream(64, seed=0)
    rows.append(("shapes3d stand-in batch stream, batch 64", rate(lambda: next(stream), 64, seconds), "img/s", ""))

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>12}  unit   baseline / target")
    for name, value, unit, note in rows:
        print(f"{name:<{width}}  {value:>12,.1f}  {unit:<5}  {note}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
