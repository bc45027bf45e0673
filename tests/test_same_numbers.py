"""The suite's numbers did not move: the same commands give the frozen records to 1e-12, with the same keys.

The fixtures were written by ``python tests/same_numbers.py`` before issue 9 re-plumbed the seams (see that
module). ``mig_sampled`` encodes the whole 737,280-image grid and the quick preset trains six models, so those two
comparisons are slow-marked; the default run compares every other metric of the frozen ``dbench evaluate``
(records do not depend on which other metrics were evaluated with them: each draws from its own seed stream).
"""

from __future__ import annotations

import json

import pytest

import same_numbers as frozen

EVERY_METRIC_BUT_SAMPLED_MIG = "beta_vae,factor_vae,mig,dci,sap,modularity,unsupervised,reconstruction"
#: Keys the frozen records have and today's do not, each with why. Since each method declares its own
#: hyperparameters (issue 11), a β-VAE's config no longer carries AnnealedVAE's γ, C_max and T.
RETIRED_KEYS = {"config.gamma", "config.c_max", "config.c_anneal_steps"}
#: Keys today's records have and the frozen ones do not: the named protocol a record started from (issue 12).
ADDED_KEYS = {"eval.protocol", "protocol.dci.device"}
#: DCI's default classifier is now the vectorised re-implementation of scikit-learn's gradient boosting (issue 12),
#: held to scikit-learn's importances within 1e-6, not bit for bit.
ABS_TOLERANCE = {"dci": 1e-6}


def _assert_same(got: list[dict], want: list[dict]) -> None:
    assert [(g["beta"], g["seed"], g["metric"], g["representation"]) for g in got] == \
        [(w["beta"], w["seed"], w["metric"], w["representation"]) for w in want]
    for g, w in zip(got, want):
        where = (w["beta"], w["seed"], w["metric"], w["representation"])
        assert g["status"] == w["status"] == "ok", where
        added = [k for k in ADDED_KEYS if not k.startswith("protocol.") or k.startswith(f"protocol.{w['metric']}.")]
        want_keys = sorted([k for k in w["keys"] if k not in RETIRED_KEYS] + added)
        assert g["keys"] == want_keys, (where, sorted(set(g["keys"]) ^ set(want_keys)))
        assert g["values"].keys() == w["values"].keys(), where
        for key, value in w["values"].items():
            tol = ABS_TOLERANCE.get(w["metric"], 1e-12)
            assert g["values"][key] == pytest.approx(value, abs=tol, rel=0), (where, key)


def _want(name: str, metrics: set[str] | None = None) -> list[dict]:
    entries = json.loads((frozen.DATA / f"{name}.json").read_text())
    return [e for e in entries if metrics is None or e["metric"] in metrics]


def test_evaluate_of_a_trained_run_gives_the_frozen_records(tmp_path):
    got = frozen.run_evaluate(tmp_path, metrics=EVERY_METRIC_BUT_SAMPLED_MIG)
    _assert_same(got, _want("evaluate", set(EVERY_METRIC_BUT_SAMPLED_MIG.split(","))))


@pytest.mark.slow
def test_evaluate_with_every_metric_gives_the_frozen_records(tmp_path):
    _assert_same(frozen.run_evaluate(tmp_path), _want("evaluate"))


@pytest.mark.slow
def test_quick_preset_gives_the_frozen_records(tmp_path):
    _assert_same(frozen.run_quick(tmp_path), _want("quick"))
