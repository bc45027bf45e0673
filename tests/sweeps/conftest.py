"""One real local Ray instance (2 CPUs, quiet settings of docs/RAY.md) for the whole test session."""

import os

import pytest

QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_LOG_TO_DRIVER": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
    "TUNE_WARN_THRESHOLD_S": "10",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


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
