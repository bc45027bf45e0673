"""A method of your own in one file (examples/free_bits_vae.py, the README's example): through the CLI it
trains, sweeps (Ray workers load the spec's plugins), evaluates and appears in a report like a built-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "free_bits_vae.py"
FAST = ["--set", "mig.num_train=300", "--set", "reconstruction.num_images=64"]


def _dbench(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=600)


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "my_methods" / "free_bits_vae.py"
    path.parent.mkdir()
    shutil.copy(EXAMPLE, path)
    return path


def test_a_plugin_method_trains_evaluates_sweeps_and_is_reported(plugin, tmp_path):
    run = tmp_path / "run"
    out = _dbench("train", "--plugin", plugin, "--model", "free_bits_vae", "--free_bits", "0.3", "--steps", "20",
                  "--batch-size", "16", "--device", "cpu", "--log_every", "5", "--out", run)
    assert out.returncode == 0, out.stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["model"], config["free_bits"], config["beta"]) == ("free_bits_vae", 0.3, 1.0)
    assert "kl_penalised" in json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert "free_bits" in _dbench("train", "--plugin", plugin, "--help").stdout, "its hyperparameters are options"

    # Without the plugin the run's method is unknown, and the message says how to load it.
    out = _dbench("evaluate", run, "--metrics", "mig", "--results", tmp_path / "res", *FAST)
    assert out.returncode != 0 and "unknown model 'free_bits_vae'" in out.stderr and "--plugin" in out.stderr
    out = _dbench("evaluate", "--plugin", plugin, run, "--metrics", "mig,reconstruction", "--results", tmp_path / "res", *FAST)
    assert out.returncode == 0, out.stderr

    spec = {
        "name": "fb", "plugins": ["my_methods/free_bits_vae.py"],  # relative to the spec's folder
        "config": {"dataset": "dsprites_procedural", "steps": 20, "batch_size": 16, "checkpoint_every": 10,
                   "log_every": 5, "device": "cpu"},
        "methods": {"free_bits_vae": {"free_bits": [0.25, 1.0]}},
        "resources": {"cpu": 1, "gpu": 0},
        "evaluation": {"metrics": ["mig", "reconstruction"], "representations": ["mean"],
                       "overrides": {"mig": {"num_train": 300}, "reconstruction": {"num_images": 64}}},
        "storage": {"path": str(tmp_path / "sweeps")},
    }
    (tmp_path / "fb.yaml").write_text(yaml.safe_dump(spec))
    out = _dbench("sweep", tmp_path / "fb.yaml", "--num-cpus", "2", "--no-report", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    records = sorted((tmp_path / "sweeps" / "fb" / "results").glob("*/*.json"))
    assert len(records) == 4 and all(json.loads(p.read_text())["status"] == "ok" for p in records)
    assert {json.loads(p.read_text())["config.free_bits"] for p in records} == {0.25, 1.0}

    out = _dbench("report", "--plugin", plugin, tmp_path / "res", tmp_path / "sweeps" / "fb" / "results",
                  "--out", tmp_path / "report", "--no-checkpoints", "--format", "md,csv")
    assert out.returncode == 0, out.stderr
    summary = pd.read_csv(tmp_path / "report" / "tables" / "summary.csv")
    assert set(summary["model"]) == {"free_bits_vae"}
    assert set(summary["hparam"]) == {0.25, 0.3, 1.0}, "grouped by the method's declared study axis"
    table = (tmp_path / "report" / "tables" / "paper.md").read_text()
    assert "free\\_bits\\_vae" in table and "λ = 0.25" in table, "named by its declared table label"


def test_a_broken_plugin_fails_in_one_line_naming_its_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from benchmark.config import Method\n\nraise RuntimeError('oops')\n")
    out = _dbench("train", "--plugin", bad, "--help")
    assert out.returncode == 2 and f"{bad}:3: RuntimeError: oops" in out.stderr and "Traceback" not in out.stderr
    out = _dbench("train", "--plugin", tmp_path / "missing.py", "--help")
    assert out.returncode == 2 and "no such Python file" in out.stderr
    wrong = tmp_path / "wrong.py"
    wrong.write_text(EXAMPLE.read_text().replace("def free_bits_vae(recon, kl, mu, logvar, z, step, *, beta, free_bits)",
                                                 "def free_bits_vae(recon, kl, mu, logvar, z, step, *, beta)"))
    out = _dbench("train", "--plugin", wrong, "--help")
    assert out.returncode == 2 and "lacks keyword argument(s) free_bits" in out.stderr, out.stderr
