"""Named evaluation protocols: ``reference`` (the study's sample sizes) and ``quick`` (the quick presets')."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmark.config import TrainConfig
from benchmark.metrics import METRICS, PROTOCOLS, resolve_protocol
from benchmark.sweeps.spec import SpecError, load_spec, parse_spec
from benchmark.training import train


def test_each_named_protocol_resolves_for_every_metric_and_reference_is_the_defaults():
    for name in METRICS:
        assert resolve_protocol(name, {}) == resolve_protocol(name, {}, "reference")
        quick = resolve_protocol(name, {}, "quick")
        assert quick == {**resolve_protocol(name, {}), **PROTOCOLS["quick"].get(name, {})}
    assert resolve_protocol("dci", {"num_test": 100}, "quick") == {**resolve_protocol("dci", {}), "num_train": 500, "num_test": 100}
    with pytest.raises(ValueError, match="unknown evaluation protocol 'fast'; valid: reference, quick"):
        resolve_protocol("dci", {}, "fast")


def test_the_quick_presets_use_the_quick_protocol_and_specs_check_the_name():
    assert load_spec("quick").evaluation.protocol == load_spec("quick_methods").evaluation.protocol == "quick"
    with pytest.raises(SpecError, match="evaluation.protocol: unknown protocol 'fast'; valid: reference, quick"):
        parse_spec({"name": "x", "evaluation": {"protocol": "fast"}})


def _dbench(*args):
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_cli_protocol_quick_is_recorded_and_a_record_of_another_protocol_is_kept(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig.from_dict({"steps": 10, "batch_size": 16, "num_latents": 4, "device": "cpu"}), run, progress=False)
    results = tmp_path / "results"
    out = _dbench("evaluate", run, "--metrics", "dci,reconstruction", "--protocol", "quick", "--set", "dci.num_test=100",
                  "--results", results)
    assert out.returncode == 0, out.stderr
    (dci_path,) = results.glob("*/mean__dci.json")
    dci = json.loads(dci_path.read_text())
    assert dci["eval.protocol"] == "quick" and (dci["protocol.dci.num_train"], dci["protocol.dci.num_test"]) == (500, 100)
    rec = json.loads(next(results.glob("*/mean__reconstruction.json")).read_text())
    assert rec["protocol.reconstruction.num_images"] == 500
    before = dci_path.read_bytes()
    out = _dbench("evaluate", run, "--metrics", "dci", "--results", results)  # the reference protocol
    assert out.returncode == 0 and "exists with another protocol (num_train=500, num_test=100), kept" in out.stdout
    assert dci_path.read_bytes() == before, "a record is never replaced without --force"
    out = _dbench("evaluate", run, "--metrics", "dci", "--protocol", "fast", "--results", results)
    assert out.returncode == 2 and "invalid choice: 'fast'" in out.stderr
