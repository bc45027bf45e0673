"""Z-diff: the β-VAE score (Higgins et al. 2017) estimated on a fixed sample of codes.

Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework", ICLR 2017,
https://openreview.net/forum?id=Sy2fzU9gl; the name Z-diff and the fixed-sample (array) estimator are those of
Carbonneau et al., "Measuring Disentanglement: A Review of Metrics", IEEE TNNLS 2022,
https://arxiv.org/abs/2012.09276. One point = pick a factor k uniformly, then ``batch_size`` pairs of sample
points that share factor k's value (a value drawn uniformly among those at least two points hold; the two
members of a pair are distinct points); feature = mean over the pairs of |z₁ − z₂| (D,), label k.
Training points are built from the ``num_train`` training codes, evaluation points from the ``num_test`` held-out
codes, so no code is in both; a logistic regression (liblinear one-vs-rest, C = 1, as :mod:`.beta_vae`) is fitted
on the training points; ``z_diff.eval_accuracy`` is its accuracy on the evaluation points.

Same definition as ``beta_vae``, another estimator: ``beta_vae`` draws fresh factor vectors over the grid for every
batch (the reference study), ``z_diff`` re-uses one sample, so it also scores fixed codes (``score_codes``).
Where the review's code and the paper differ we follow the paper: the score is the raw accuracy (chance 1/K);
the review rescales it to (acc − 1/K)/(1 − 1/K) and uses batches of 200 with an lbfgs logistic regression.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes, _groups
from benchmark.metrics.beta_vae import score_from_points

DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "num_train_points": 10_000, "num_eval_points": 5_000, "batch_size": 64}


def points(codes: np.ndarray, factors: np.ndarray, num_points: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(features (P, D), labels (P,))`` of ``num_points`` Z-diff points built from one fixed sample."""
    fixed, first, second = _groups.pairs(_groups.FactorGroups(factors, "z_diff"), num_points, batch_size, rng)
    feats = np.empty((fixed.size, codes.shape[1]))
    for s in _groups.chunks(fixed.size):
        feats[s] = np.abs(codes[first[s]] - codes[second[s]]).mean(axis=1)
    return feats, fixed


def compute_z_diff_codes(
    codes_train, factors_train, codes_test, factors_test, *, rng=None,
    num_train_points: int = DEFAULTS["num_train_points"], num_eval_points: int = DEFAULTS["num_eval_points"],
    batch_size: int = DEFAULTS["batch_size"],
) -> dict[str, float]:
    """Z-diff of fixed codes: ``z_diff.train_accuracy`` and ``z_diff.eval_accuracy`` in [0, 1] (chance 1/K).
    Shapes as in :func:`benchmark.metrics.score_codes`; ``rng`` draws the pairs and the classifier's random_state."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="z_diff")
    rng = _codes.as_rng(rng)
    xtr, ytr = points(ctr, ftr, num_train_points, batch_size, rng)
    xev, yev = points(cte, fte, num_eval_points, batch_size, rng)
    scores = score_from_points(xtr, ytr, xev, yev, rng=rng)
    return {f"z_diff.{k.split('.', 1)[1]}": v for k, v in scores.items()}


def compute_z_diff(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Z-diff on ``num_train`` / ``num_test`` codes (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("z_diff", DEFAULTS, protocol)
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    return compute_z_diff_codes(ctr, ftr, cte, fte, rng=rng, num_train_points=p["num_train_points"],
                                num_eval_points=p["num_eval_points"], batch_size=p["batch_size"])
