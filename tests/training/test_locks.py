"""One process at a time per run directory; CPU bit-identity's dependence on the thread count is said."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark._io import LockedError, exclusive_lock
from benchmark.config import TrainConfig
from benchmark.training import read_log, train

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_train_into_the_same_run_directory_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    common = ["--dataset", "dsprites_procedural", "--batch_size", "8", "--device", "cpu", "--checkpoint_every", "20",
              "--log_every", "1", "--no-progress", "--out", str(run)]
    first = subprocess.Popen([sys.executable, "-m", "benchmark", "train", "--beta", "1", "--steps", "400", *common],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (run / "log.jsonl").exists():
            time.sleep(0.1)
        assert (run / "log.jsonl").exists(), first.communicate(timeout=5)
        second = subprocess.run([sys.executable, "-m", "benchmark", "train", "--beta", "4", "--steps", "40", *common],
                                env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"{run} is in use by dbench train (pid {first.pid} on" in second.stderr and "Traceback" not in second.stderr
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert TrainConfig.from_json((run / "config.json").read_text()).beta == 1.0  # the first run's directory, intact
    assert [r["step"] for r in read_log(run)] == list(range(1, 401))


def test_the_lock_is_released_on_any_exit(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with exclusive_lock(tmp_path, "test"):
            1 / 0
    with exclusive_lock(tmp_path, "again"):
        pass
    with exclusive_lock(tmp_path, "holder"):
        code = ("import sys; from benchmark._io import exclusive_lock, LockedError\n"
                "try:\n    exclusive_lock(sys.argv[1], 'other').__enter__()\nexcept LockedError as e:\n    print(e)")
        res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert "is in use by holder (pid" in res.stdout, res.stderr
    assert issubclass(LockedError, RuntimeError)


def test_resuming_with_another_thread_count_warns(squares, tmp_path):
    config = TrainConfig(dataset="test_squares", steps=6, batch_size=4, num_latents=3, device="cpu", checkpoint_every=3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train(config.replace(steps=3), tmp_path / "run", progress=False)
        torch.set_num_threads(2)
        with pytest.warns(UserWarning, match=r"trained with 1 torch thread\(s\) on 2: .*bit-identical"):
            train(config, tmp_path / "run", progress=False, extend=True)
    finally:
        torch.set_num_threads(threads)
