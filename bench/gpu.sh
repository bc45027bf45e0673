#!/usr/bin/env bash
# The packing issue's device checks in one prepared run of at most 10 minutes (bench/gpu.py says what it prints).
#   bash bench/gpu.sh            # on a CUDA machine: the pack curve K = 1..64, the solo loop, the data stream,
#                                # the evaluation encoding, and a packed-vs-solo equivalence check on the GPU
#   bash bench/gpu.sh --tiny     # tiny sizes on the device present (the CPU without a GPU): shows that it runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout --signal=INT --kill-after=20 580 "$PYTHON" bench/gpu.py "$@"
