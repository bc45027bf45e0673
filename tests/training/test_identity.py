"""One identity of a model: run id, trial id and the resume check leave out the same execution-only fields.

The fields are ``TrainConfig.EXECUTION_FIELDS``; everything else names the model. A real tiny run is trained
once; every changed config is then checked three ways: ``records.run_id`` of the run directory, the trial id of
a sweep spec holding that config, and whether ``train`` accepts to resume the run directory with it.
"""

from __future__ import annotations

import shutil

import pytest

from benchmark import records
from benchmark.config import TrainConfig
from benchmark.sweeps.spec import parse_spec
from benchmark.training import ConfigMismatchError, train

BASE = {"dataset": "test_squares", "model": "beta_vae", "steps": 4, "batch_size": 4, "num_latents": 3,
        "checkpoint_every": 2, "log_every": 1, "device": "cpu"}
EXECUTION_CHANGES = {"device": "cuda", "dataset_path": "/elsewhere/data.npz", "compile": True, "checkpoint_every": 3,
                     "log_every": 2, "dataset_cache": True}
MODEL_CHANGES = {"beta": 4.0, "seed": 1, "steps": 5, "dataset": "dsprites_procedural"}


def _trial_id(config: dict) -> str:
    (trial,) = parse_spec({"name": "ids", "config": config}).trials()
    return trial.trial_id


def _resumable(run_dir, config: dict) -> bool:
    try:
        train(TrainConfig.from_dict(config), run_dir, progress=False)
    except ConfigMismatchError:
        return False
    return True


def test_the_execution_fields_are_the_declared_ones():
    assert set(EXECUTION_CHANGES) <= set(TrainConfig.EXECUTION_FIELDS)
    assert not set(MODEL_CHANGES) & set(TrainConfig.EXECUTION_FIELDS)


@pytest.mark.parametrize("field", list(EXECUTION_CHANGES) + list(MODEL_CHANGES))
def test_one_identity_for_run_id_trial_id_and_resume(squares, tmp_path, field):
    run = tmp_path / "run"
    train(TrainConfig.from_dict(BASE), run, progress=False)
    changed = {**BASE, field: {**EXECUTION_CHANGES, **MODEL_CHANGES}[field]}
    same_model = field in EXECUTION_CHANGES

    assert (records.run_id(run, TrainConfig.from_dict(changed)) == records.run_id(run, TrainConfig.from_dict(BASE))) is same_model
    assert (_trial_id(changed) == _trial_id(BASE)) is same_model
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"}
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert _resumable(copy, changed) is same_model
    if not same_model:  # a refused resume leaves the run directory as it was
        assert {p.name: p.read_bytes() for p in copy.iterdir() if p.name != ".lock"} == before


def test_integral_numbers_give_one_trial_id(squares):
    fixed = {_trial_id({**BASE, "beta": beta}) for beta in (4, 4.0, "4")}
    varied = {parse_spec({"name": "ids", "config": BASE, "grid": {"beta": [beta]}}).trials()[0].trial_id
              for beta in (4, 4.0, "4.0")}
    assert len(fixed) == 1 and len(varied) == 1
    # the readable part names the varied fields; the model digest is the same either way
    assert next(iter(varied)).endswith(next(iter(fixed)).rsplit("-", 1)[1])
