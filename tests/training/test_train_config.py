"""TrainConfig: protocol defaults, unknown keys rejected, values coerced and checked, JSON round trip."""

from __future__ import annotations

import json

import pytest

from benchmark.config import TrainConfig, dataclass_from_dict, field_docs


def test_defaults_are_the_locatello_protocol():
    c = TrainConfig()
    assert (c.dataset, c.model, c.architecture) == ("dsprites_procedural", "beta_vae", "conv")
    assert c.hyperparameters == {"beta": 1.0} and c.beta == 1.0
    annealed = TrainConfig(model="annealed_vae")
    assert (annealed.gamma, annealed.c_max, annealed.c_anneal_steps) == (1000.0, 25.0, 100000)
    assert (c.num_latents, c.steps, c.batch_size, c.lr) == (10, 300000, 64, 1e-4)
    assert (c.adam_beta1, c.adam_beta2, c.adam_eps) == (0.9, 0.999, 1e-8)
    assert (c.bf16, c.channels_last, c.compile) == (False, False, False)
    assert all(doc for doc in field_docs(TrainConfig).values()), "every field has a one-line doc"


def test_unknown_key_is_rejected_with_the_valid_fields():
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"betta": 4})
    msg = str(info.value)
    assert "'betta'" in msg and "valid fields: dataset, dataset_path, model, architecture, num_latents" in msg
    assert "dataset_cache, beta, gamma, c_max, c_anneal_steps, lambda_od" in msg, "the methods' hyperparameters too"


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("beta", -1, "beta must be >= 0"),
        ("beta", "four", "beta must be a number"),
        ("steps", 1.5, "steps must be an integer"),
        ("batch_size", 0, "batch_size must be >= 1"),
        ("lr", 0.0, "lr must be > 0"),
        ("adam_beta2", 1.0, "adam_beta2 must be in [0, 1)"),
        ("model", "vq_vae", "valid names: annealed_vae, beta_tc_vae, beta_vae, dip_vae_i, dip_vae_ii, factor_vae"),
        ("architecture", "resnet", "valid names: conv, mlp"),
        ("device", "gpu", "device must be auto, cpu"),
        ("bf16", "maybe", "bf16 must be a boolean"),
        ("beta", float("nan"), "beta must be a finite number"),
        ("gamma", 4.0, "gamma: not a hyperparameter of beta_vae (its hyperparameters: beta)"),
        ("seed", -3, "seed must be an integer in [0, 2**63)"),
    ],
)
def test_bad_values_raise_naming_the_field(field, value, needle):
    with pytest.raises(ValueError, match=None) as info:
        TrainConfig.from_dict({field: value})
    assert needle in str(info.value)
    assert field in str(info.value)


def test_strings_from_cli_and_yaml_are_coerced():
    c = TrainConfig.from_dict({"beta": "4", "steps": "1e5", "bf16": "true", "dataset_path": "none", "num_latents": 6.0})
    assert (c.beta, c.steps, c.bf16, c.dataset_path, c.num_latents) == (4.0, 100000, True, None, 6)
    assert isinstance(c.steps, int) and isinstance(c.beta, float)


def test_json_round_trip_and_env_keys_ignored():
    c = TrainConfig.from_dict({"model": "annealed_vae", "c_max": 50, "seed": 7, "dataset_path": "/x/y.npz"})
    text = json.dumps({**c.to_dict(), "env.torch": "2.x"})
    assert TrainConfig.from_json(text) == c
    assert TrainConfig.from_json(c.to_json()) == c
    assert list(c.to_dict())[:7] == ["dataset", "dataset_path", "model", "architecture", "gamma", "c_max", "c_anneal_steps"]
    assert TrainConfig.from_dict({"model": "annealed_vae", "hyperparameters": {"c_max": 50}, "seed": 7,
                                  "dataset_path": "/x/y.npz"}) == c, "the nested form reads the same"


def test_replace_and_differing_fields():
    a = TrainConfig()
    b = a.replace(beta=4, steps=10)
    assert a.differing_fields(b) == {"beta": (1.0, 4.0), "steps": (300000, 10)}
    with pytest.raises(ValueError, match="beta must be >= 0"):
        a.replace(beta=-2)


def test_generic_helper_rejects_non_mappings_and_unknown_keys():
    with pytest.raises(ValueError, match="sweep spec: expected a mapping"):
        dataclass_from_dict(TrainConfig, [("beta", 1)], what="sweep spec")
    with pytest.raises(ValueError, match=r"grid\.yaml: unknown field\(s\) 'x'"):
        dataclass_from_dict(TrainConfig, {"x": 1}, what="grid.yaml")


def test_config_module_does_not_import_torch():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys; from benchmark.config import TrainConfig; TrainConfig.from_dict({'beta': 4}); print('torch' in sys.modules)"
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_configs_written_before_methods_declared_their_own_hyperparameters_still_read():
    # config.json of runs made when every config carried beta, gamma, c_max and c_anneal_steps
    legacy = {**TrainConfig().to_dict(), "beta": 4.0, "gamma": 1000.0, "c_max": 25.0, "c_anneal_steps": 100000}
    c = TrainConfig.from_dict(legacy, stored=True)
    assert c.hyperparameters == {"beta": 4.0} and "gamma" not in c.to_dict()
    with pytest.raises(ValueError, match="gamma: not a hyperparameter of beta_vae"):
        TrainConfig.from_dict(legacy)  # what a user types is held to the method's own hyperparameters
    annealed = TrainConfig.from_dict({**legacy, "model": "annealed_vae", "c_max": 50}, stored=True)
    assert annealed.hyperparameters == {"gamma": 1000.0, "c_max": 50.0, "c_anneal_steps": 100000}
