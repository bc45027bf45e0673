"""The reports layer reads records only: importing it loads no torch, training loop or model.

The static check of every import (lazy ones included) is tests/test_layering.py.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_reports_layer_imports_no_torch():
    code = ("import benchmark.reports, benchmark.reports.report, benchmark.reports.plots, benchmark.reports.synthetic, sys; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert not {'benchmark.training', 'benchmark.models', 'benchmark.views'} & set(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
