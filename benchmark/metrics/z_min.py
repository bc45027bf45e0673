"""Z-min variance: the FactorVAE score (Kim & Mnih 2018) estimated on a fixed sample of codes.

Kim & Mnih, "Disentangling by Factorising", ICML 2018, https://arxiv.org/abs/1802.05983; the name Z-min and
the fixed-sample (array) estimator are those of Carbonneau et al., "Measuring Disentanglement: A Review of
Metrics", IEEE TNNLS 2022, https://arxiv.org/abs/2012.09276. Global variance of each code dim (ddof 1) over the
``num_train`` training codes; dims with standard deviation < ``prune_threshold`` are pruned. One vote = pick a
factor k uniformly, then ``batch_size`` sample points sharing factor k's value (a value drawn uniformly among
those at least two points hold; members drawn with replacement); the vote is (k, argmin over the kept dims of the
batch variance (ddof 1) / global variance). Training votes come from the training codes, evaluation votes from
the ``num_test`` held-out codes; the majority-vote classifier (:mod:`.factor_vae`) maps each dim to its most
frequent factor; ``z_min.eval_accuracy`` is its accuracy on the evaluation votes.

Same definition as ``factor_vae``, another estimator: ``factor_vae`` draws fresh factor vectors over the grid for
every batch (the reference study), ``z_min`` re-uses one sample, so it also scores fixed codes. Where the review's
code and the paper differ we follow the paper: the score is the raw accuracy (chance 1/K); the review rescales it
to (acc − 1/K)/(1 − 1/K) and uses 800/800 votes of batches of 200.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes, _groups
from benchmark.metrics.factor_vae import active_dims, score_from_votes

DEFAULTS = {"num_train": 10_000, "num_test": 5_000, "num_train_votes": 10_000, "num_eval_votes": 5_000,
            "batch_size": 64, "prune_threshold": 0.05}


def votes(codes: np.ndarray, factors: np.ndarray, num_votes: int, batch_size: int, global_var: np.ndarray,
          active: np.ndarray, rng) -> np.ndarray:
    """Votes matrix ``(K factors, D dims)`` int64 of ``num_votes`` Z-min votes from one fixed sample."""
    fixed, members = _groups.batches(_groups.FactorGroups(factors, "z_min"), num_votes, batch_size, rng)
    kept = np.flatnonzero(active)
    out = np.zeros((factors.shape[1], codes.shape[1]), dtype=np.int64)
    for s in _groups.chunks(fixed.size):
        local = np.var(codes[members[s]][:, :, kept], axis=1, ddof=1)
        np.add.at(out, (fixed[s], kept[np.argmin(local / global_var[kept], axis=1)]), 1)
    return out


def compute_z_min_codes(
    codes_train, factors_train, codes_test, factors_test, *, rng=None,
    num_train_votes: int = DEFAULTS["num_train_votes"], num_eval_votes: int = DEFAULTS["num_eval_votes"],
    batch_size: int = DEFAULTS["batch_size"], prune_threshold: float = DEFAULTS["prune_threshold"],
) -> dict[str, float]:
    """Z-min of fixed codes: ``z_min.train_accuracy`` and ``z_min.eval_accuracy`` in [0, 1] (chance 1/K; 0 when
    every dim is pruned) and ``z_min.num_active_dims`` in [0, D]. Shapes as in :func:`benchmark.metrics.score_codes`."""
    ctr, ftr, cte, fte = _codes.check_train_test(codes_train, factors_train, codes_test, factors_test, metric="z_min")
    rng = _codes.as_rng(rng)
    global_var = np.var(ctr, axis=0, ddof=1)
    active = active_dims(global_var, prune_threshold)
    train_acc = eval_acc = 0.0
    if active.any():
        train = votes(ctr, ftr, num_train_votes, batch_size, global_var, active, rng)
        evaluation = votes(cte, fte, num_eval_votes, batch_size, global_var, active, rng)
        train_acc, eval_acc = score_from_votes(train, evaluation)
    return {"z_min.train_accuracy": train_acc, "z_min.eval_accuracy": eval_acc,
            "z_min.num_active_dims": float(active.sum())}


def compute_z_min(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Z-min on ``num_train`` / ``num_test`` codes (:data:`DEFAULTS`) drawn uniformly over the grid."""
    p = _codes.resolve("z_min", DEFAULTS, protocol)
    ctr, ftr, cte, fte = _codes.sample_train_test(dataset, representation, p, rng)
    return compute_z_min_codes(ctr, ftr, cte, fte, rng=rng, num_train_votes=p["num_train_votes"],
                               num_eval_votes=p["num_eval_votes"], batch_size=p["batch_size"],
                               prune_threshold=p["prune_threshold"])
