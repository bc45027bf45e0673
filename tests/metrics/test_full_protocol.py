"""The one full-size test: the default protocol on perfect dSprites-grid codes (DCI's gradient boosting on
10,000 points takes minutes; run with ``make test-slow``)."""

import numpy as np
import pytest

from benchmark.metrics import METRICS
from metrics_synthetic import FactorGrid, code_grid


@pytest.mark.slow
def test_default_protocol_on_identity_codes_matches_the_reference_values():
    ds = FactorGrid()
    grid = code_grid(ds, "identity")
    rep = grid.representation("mean")
    out = {}
    for name in ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity", "unsupervised"):
        out.update(METRICS[name].compute(ds, rep, np.random.default_rng(0)))
    # PROTOCOL.md, reference-code values on synthetic codes: MIG ≈ 0.90, β-VAE/FactorVAE 1.0, DCI D 1.0
    assert out["mig"] == pytest.approx(0.90, abs=0.02)
    assert out["beta_vae.eval_accuracy"] >= 0.99 and out["factor_vae.eval_accuracy"] >= 0.99
    assert out["dci.disentanglement"] >= 0.99 and out["dci.completeness"] >= 0.99
    assert out["dci.informativeness_test"] >= 0.99
    assert out["modularity"] >= 0.99
    assert out["sap"] < 0.5  # single-code linear SVMs cannot separate 32-40 ordered classes
    # the full protocol touches most of the grid but encodes each image once
    assert grid.encoder_passes <= len(ds)
    # pure noise: modularity ≈ 0.69 in the reference (the MI estimator's bias is spread evenly), chance accuracies
    noise = code_grid(ds, "noise").representation("mean")
    assert METRICS["modularity"].compute(ds, noise, np.random.default_rng(0))["modularity"] == pytest.approx(0.69, abs=0.03)
    assert METRICS["beta_vae"].compute(ds, noise, np.random.default_rng(0))["beta_vae.eval_accuracy"] == pytest.approx(0.2, abs=0.03)
