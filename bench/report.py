"""Time `dbench report` end to end over 10,800 synthetic result records (target ≤ 30 s).

600 runs (2 datasets × 2 methods × 6 hyperparameter values × 25 seeds) × 9 metrics × 2 representations,
written in the on-disk format of docs/RESULTS.md by benchmark.reports.synthetic, then one real
subprocess `python -m benchmark report DIR --out REPORT` (every format: the paper tables, the CSV of every key,
every figure one and two columns wide as PDF and 200 dpi PNG, the HTML page). Prints the figure beside the
target; also the share spent loading the records.

    PYTHONPATH=. python bench/report.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 30.0


def main() -> int:
    from benchmark.reports import load_results
    from benchmark.reports.synthetic import write_synthetic_results

    with tempfile.TemporaryDirectory(prefix="dbench-bench-report-") as tmp:
        results = Path(tmp) / "results"
        t0 = time.perf_counter()
        n = write_synthetic_results(results, failed=20)
        print(f"wrote {n:,} synthetic records (600 runs x 9 metrics x 2 representations, 20 failed) "
              f"in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        df = load_results(results)
        load_s = time.perf_counter() - t0
        assert len(df) == n, (len(df), n)

        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmark", "report", str(results), "--out", str(Path(tmp) / "report")],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        total_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, sep="\n")
            return 1
        page = Path(tmp) / "report" / "report.html"
        print(proc.stdout.strip())
        print(f"load_results alone: {load_s:.2f} s for {n:,} records")
        print(f"dbench report end to end: {total_s:.1f} s   (target <= {TARGET_S:.0f} s: "
              f"{'met' if total_s <= TARGET_S else 'NOT met'}); CPU time {cpu_s:.1f} s "
              f"(wall exceeds CPU on a loaded machine); page {page.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
