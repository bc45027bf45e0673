"""β-VAE score (Higgins et al. 2017).

"β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework", ICLR 2017,
https://openreview.net/forum?id=Sy2fzU9gl. Reference protocol (Locatello et al. 2019): one point = pick a
factor k uniformly, draw two batches of 64 factor vectors uniformly over the grid, copy column k of the
first batch into the second, encode both, feature = mean over the batch of |z₁ − z₂| (D,), label k.
10,000 training and 5,000 evaluation points; a logistic regression (one-vs-rest, liblinear, C = 1: the
scikit-learn default the reference ran) trained on the training points; score = its eval accuracy.

With a :class:`~benchmark.metrics._codes.GridRepresentation` the 1.92 M encoder calls of the reference
become look-ups in the shared grid encoding (same statistics); ``sampled`` codes draw a fresh z per use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64}


def sample_points(dataset, sampler, num_points: int, batch_size: int, rng, chunk: int = 512):
    """``(features (P, D), labels (P,))`` of ``num_points`` β-VAE score points."""
    num_points = _codes.check_positive_int(num_points, "num_points")
    batch_size = _codes.check_positive_int(batch_size, "batch_size")
    feats, labels = [], []
    k = len(dataset.factor_sizes)
    for start in range(0, num_points, chunk):
        p = min(chunk, num_points - start)
        idx = rng.integers(0, k, size=p)
        f1 = dataset.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f2 = dataset.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f2[np.arange(p), :, idx] = f1[np.arange(p), :, idx]
        z1 = sampler(f1.reshape(-1, k), rng).reshape(p, batch_size, -1)
        z2 = sampler(f2.reshape(-1, k), rng).reshape(p, batch_size, -1)
        feats.append(np.abs(z1 - z2).mean(axis=1))
        labels.append(idx)
        _codes.report("points", start + p, num_points)
    return np.concatenate(feats), np.concatenate(labels)


def score_from_points(features_train, labels_train, features_eval, labels_eval, *, rng) -> dict[str, float]:
    """Fit the linear classifier on the training points; ``beta_vae.train_accuracy``/``eval_accuracy`` in [0, 1]."""
    xtr = _codes.check_codes(features_train, "features_train")
    xev = _codes.check_codes(features_eval, "features_eval")
    ytr, yev = np.asarray(labels_train), np.asarray(labels_eval)
    seed = _codes.sklearn_seed(rng)
    if np.unique(ytr).size < 2:
        pred_tr, pred_ev = np.full(ytr.shape, ytr[0]), np.full(yev.shape, ytr[0])
    else:
        model = _codes.logistic_ovr(seed).fit(xtr, ytr)
        pred_tr, pred_ev = model.predict(xtr), model.predict(xev)
    return {
        "beta_vae.train_accuracy": _codes.to_float(np.mean(pred_tr == ytr)),
        "beta_vae.eval_accuracy": _codes.to_float(np.mean(pred_ev == yev)),
    }


def compute_beta_vae(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """β-VAE score of a ``GridRepresentation`` or a callable ``images -> codes (n, D)`` on ``dataset`` (a
    :class:`~benchmark.datasets.GroundTruthDataset` or anything with ``factor_sizes``, ``sample_factors`` and
    ``factors_to_index``/``sample_observations_from_factors``); ``rng`` draws the factors, sampled codes and the
    classifier's random_state. Protocol: :data:`DEFAULTS`. ``beta_vae.train_accuracy`` and
    ``beta_vae.eval_accuracy`` in [0, 1]; chance is 1/K."""
    p = _codes.resolve("beta_vae", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    xtr, ytr = sample_points(dataset, sampler, p["num_train"], p["batch_size"], rng)
    xev, yev = sample_points(dataset, sampler, p["num_eval"], p["batch_size"], rng)
    return score_from_points(xtr, ytr, xev, yev, rng=rng)
