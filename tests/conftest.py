"""Test-session settings shared by every test module."""

import os

# One thread per process: on 2 cores with anything else busy, more threads run far slower,
# and a fixed thread count keeps CPU results bit-identical between runs.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402

try:  # torch is a dependency, but keep collection of pure-numpy tests independent of it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

SHARED_FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
