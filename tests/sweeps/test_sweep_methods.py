"""A real sweep mixing the six methods of the study (``methods:``), and the study presets' grids."""

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from benchmark.cli import write_sweep_report
from benchmark.config import METHODS
from benchmark.sweeps.spec import load_spec, parse_spec
from benchmark.sweeps.tune import run_sweep

SMALL = {"beta_vae": {"beta": [4]}, "annealed_vae": {"c_max": [10], "c_anneal_steps": [10]}, "factor_vae": {"gamma": [20]},
         "beta_tc_vae": {"beta": [4]}, "dip_vae_i": {"lambda_od": [10]}, "dip_vae_ii": {"lambda_od": [10]}}


# 40 s; the default run trains every method (tests/training/test_methods.py), sweeps two methods in one spec
# (tests/sweeps/test_pack_sweep.py) and groups a study's report by method (tests/reports/test_study.py)
@pytest.mark.slow
def test_a_sweep_of_all_six_methods_completes_and_its_report_groups_them_by_method(ray_session, tmp_path):
    spec = parse_spec({
        "name": "six",
        "config": {"dataset": "dsprites_procedural", "architecture": "conv", "steps": 20, "batch_size": 16,
                   "checkpoint_every": 10, "log_every": 5, "device": "cpu"},
        "methods": SMALL,
        "resources": {"cpu": 1, "gpu": 0},
        "evaluation": {"metrics": ["mig", "reconstruction"], "representations": ["mean"],
                       "overrides": {"mig": {"num_train": 300}, "reconstruction": {"num_images": 64}}},
        "storage": {"path": str(tmp_path)},
    })
    assert spec.num_trials == 6 and [t.config.model for t in spec.trials()] == list(SMALL)
    outcome = run_sweep(spec, progress_interval_s=1.0, out=io.StringIO())
    assert outcome.ok and len(outcome.done) == 6, outcome
    page = write_sweep_report(spec, outcome)
    table = pd.read_csv(next((tmp_path / "six" / "report").rglob("summary*.csv")))
    assert set(table["model"]) == set(METHODS), "one group per method"
    by_model = table.set_index("model")["hparam"].to_dict()
    assert by_model["factor_vae"] == 20 and by_model["annealed_vae"] == 10 and by_model["dip_vae_ii"] == 10
    assert "dip_vae_ii" in open(page).read()
    logs = {t.config.model: json.loads(open(f"{t.run_dir}/log.jsonl").read().splitlines()[-1]) for t in spec.trials()}
    assert {"tc", "auxiliary_loss"} <= set(logs["factor_vae"]) and "dip" in logs["dip_vae_i"] and "c" in logs["annealed_vae"]


def test_the_study_presets_list_each_method_with_its_hyperparameter():
    study = load_spec("locatello_study")
    trials = study.trials()
    assert study.num_trials == len(trials) == 3600
    for name, method in METHODS.items():
        mine = [t for t in trials if t.config.model == name]
        assert len(mine) == 600, name
        assert sorted({t.config.get(method.study_axis) for t in mine}) == sorted(method.study_grid)
        assert {t.config.dataset for t in mine} == {"dsprites", "shapes3d"} and {t.config.seed for t in mine} == set(range(50))
        assert all(f"{method.study_axis}" in t.trial_id for t in mine)
    # The reference's FactorVAE made 150,000 updates of each network when configured for 300,000 steps.
    assert {t.config.steps for t in trials if t.config.model == "factor_vae"} == {150000}
    assert {t.config.steps for t in trials if t.config.model != "factor_vae"} == {300000}
    out = subprocess.run([sys.executable, "-m", "benchmark", "sweep", "locatello_study", "--dry-run"], capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.split("\n\n")[0].splitlines()
    assert len(rows) == 3600 and {"beta", "c_max", "gamma", "lambda_od", "steps"} <= set(header.split())
    assert "3600 trials" in out.stdout
    quick = load_spec("quick_methods")
    assert [t.config.model for t in quick.trials()] == list(METHODS) and quick.first_config.steps == 600
