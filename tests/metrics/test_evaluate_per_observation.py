"""Evaluation on a dataset with a nuisance per observation (color_dsprites): each sampled observation is
encoded as drawn (there is no grid image to encode once); metrics over every grid image fail with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.datasets import get
from benchmark.evaluation import evaluate
from benchmark.training import train

SMALL = {"mig": {"num_train": 300}, "reconstruction": {"num_images": 64}, "sap": {"num_train": 200, "num_test": 100}}


@pytest.fixture(scope="module")
def color_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("color") / "run"
    train(TrainConfig.from_dict({"dataset": "color_dsprites_procedural", "steps": 20, "batch_size": 16, "device": "cpu",
                                 "num_latents": 4, "checkpoint_every": 20}), run, progress=False)
    return run


def test_codes_and_reconstruction_metrics_encode_the_drawn_observations(color_run, tmp_path):
    recs = evaluate(color_run, metrics="mig,sap,reconstruction,mig_sampled", representation="mean,sampled",
                    results_dir=tmp_path, **SMALL)
    by = {(r["eval.representation"], r["eval.metric"]): r for r in recs}
    for kind in ("mean", "sampled"):
        for metric in ("mig", "sap", "reconstruction"):
            assert by[kind, metric]["status"] == "ok", by[kind, metric].get("error")
        assert by[kind, "mig"]["eval.encoder_passes_metric"] == 300, "every drawn observation is encoded"
        failed = by[kind, "mig_sampled"]
        assert failed["status"] == "failed" and "draws a nuisance per observation" in failed["error"]
    assert by["mean", "mig"]["metric.mig"] != by["sampled", "mig"]["metric.mig"]
    again = evaluate(color_run, metrics="mig,reconstruction", representation="mean,sampled", **SMALL)
    for r in again:  # the same seed gives the same numbers: the nuisance comes from the metric's stream
        assert r["metric." + ("mig" if r["eval.metric"] == "mig" else "reconstruction.mse")] == \
            by[r["eval.representation"], r["eval.metric"]]["metric." + ("mig" if r["eval.metric"] == "mig" else "reconstruction.mse")]


def test_the_reconstruction_metric_scores_observations_with_their_nuisance():
    from benchmark.metrics.reconstruction import compute_reconstruction

    ds = get("noisy_dsprites_procedural")
    seen = []

    def reconstruct(images, indices):
        seen.append(images)
        return np.where(images > 0.5, 20.0, -20.0)  # logits of a near-perfect binarisation

    out = compute_reconstruction(ds, reconstruct, np.random.default_rng(0), num_images=32, batch_size=16)
    images = np.concatenate(seen)
    assert images.shape == (32, 3, 64, 64) and 0.3 < images.mean() < 0.7, "noisy observations, not bare sprites"
    assert out["reconstruction.mse"] > 0.01
