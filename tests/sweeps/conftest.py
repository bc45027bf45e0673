"""One real local Ray instance (2 CPUs, quiet settings of docs/RAY.md) for the whole test session."""

import os

import pytest

from benchmark.sweeps.tune import LOCAL_ENV, QUIET_ENV

# The settings run_sweep itself applies to a local Ray (benchmark.sweeps.tune imports no ray at import).
QUIET = {**QUIET_ENV, **LOCAL_ENV}


@pytest.fixture
def quiet_env() -> dict:
    """The environment for subprocesses that start their own Ray (the killed-driver test)."""
    return {**os.environ, **QUIET, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def ray_session():
    for k, v in QUIET.items():
        os.environ.setdefault(k, v)
    os.environ.pop("TUNE_RESULT_DIR", None)
    import ray

    started = not ray.is_initialized()
    if started:
        # Workers inherit this process's environment: OMP_NUM_THREADS=1 (tests/conftest.py) and the above.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()
