"""Z-max variance (Kim et al. 2019): the FactorVAE score with the roles of fixed and varied factors swapped.

Kim, Wang, Sahu & Pavlovic, "Relevance Factor VAE: Learning and Identifying Disentangled Factors", 2019,
https://arxiv.org/abs/1902.01568, as defined in Carbonneau et al., "Measuring Disentanglement: A Review of
Metrics", IEEE TNNLS 2022, https://arxiv.org/abs/2012.09276 (their "Z-max Variance"). One vote = pick a factor k
uniformly, draw one factor vector over the grid and a batch of ``batch_size`` copies of it in which only factor k
is drawn afresh (uniformly over its classes); the vote is (k, argmax over the kept dims of the batch variance
(ddof 1) / global variance). Global variances (ddof 1) over ``num_variance_estimate`` random points; dims with
standard deviation < ``prune_threshold`` are pruned; ``num_train`` training and ``num_eval`` evaluation votes;
the majority-vote classifier of :mod:`.factor_vae`; ``z_max.eval_accuracy`` is its evaluation accuracy. The
sample sizes and batch size are those of the reference FactorVAE protocol.

Batches are drawn over the grid, as the FactorVAE score's are: a fixed sample almost never holds two points that
share every factor but one (dSprites' 10,000-point sample has none for most factors), which is why the review's
array version coarsens the factors into 3 bins first. So ``z_max`` has a sampling wrapper only (no
``score_codes``). Where the review and its paper differ we follow the paper: the raw accuracy (chance 1/K),
not the review's (acc − 1/K)/(1 − 1/K).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes
from benchmark.metrics.factor_vae import active_dims, score_from_votes

DEFAULTS = {"num_variance_estimate": 10_000, "num_train": 10_000, "num_eval": 5_000, "batch_size": 64, "prune_threshold": 0.05}


def sample_votes(dataset, sampler, num_votes, batch_size, global_variances, active, rng, chunk: int = 512):
    """Votes matrix ``(K factors, D dims)`` int64 of ``num_votes`` Z-max votes."""
    num_votes = _codes.check_positive_int(num_votes, "num_votes")
    batch_size = _codes.check_positive_int(batch_size, "batch_size", 2)
    k = len(dataset.factor_sizes)
    kept = np.flatnonzero(active)
    votes = np.zeros((k, global_variances.shape[0]), dtype=np.int64)
    for start in range(0, num_votes, chunk):
        p = min(chunk, num_votes - start)
        varied = rng.integers(0, k, size=p)
        fresh = dataset.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f = np.repeat(dataset.sample_factors(p, rng)[:, None, :], batch_size, axis=1)
        f[np.arange(p), :, varied] = fresh[np.arange(p), :, varied]
        z = sampler(f.reshape(-1, k), rng).reshape(p, batch_size, -1)
        ratio = np.var(z[:, :, kept], axis=1, ddof=1) / global_variances[kept][None, :]
        np.add.at(votes, (varied, kept[np.argmax(ratio, axis=1)]), 1)
        _codes.report("points", start + p, num_votes)
    return votes


def compute_z_max(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Z-max of a representation on ``dataset``; arguments as :func:`.beta_vae.compute_beta_vae`, protocol
    :data:`DEFAULTS`. ``z_max.train_accuracy`` and ``z_max.eval_accuracy`` in [0, 1] (chance 1/K; 0 when every dim
    is pruned) and ``z_max.num_active_dims`` in [0, D]."""
    p = _codes.resolve("z_max", DEFAULTS, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, _ = _codes.sample_codes(dataset, sampler, p["num_variance_estimate"], rng)
    global_var = np.var(codes, axis=0, ddof=1)
    active = active_dims(global_var, p["prune_threshold"])
    train_acc = eval_acc = 0.0
    if active.any():
        train = sample_votes(dataset, sampler, p["num_train"], p["batch_size"], global_var, active, rng)
        evaluation = sample_votes(dataset, sampler, p["num_eval"], p["batch_size"], global_var, active, rng)
        train_acc, eval_acc = score_from_votes(train, evaluation)
    return {"z_max.train_accuracy": train_acc, "z_max.eval_accuracy": eval_acc,
            "z_max.num_active_dims": float(active.sum())}
