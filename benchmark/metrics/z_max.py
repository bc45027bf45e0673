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

from benchmark.metrics import factor_vae

#: The reference FactorVAE protocol's sizes, batch size and pruning threshold.
DEFAULTS = dict(factor_vae.DEFAULTS)


def compute_z_max(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Z-max of a representation on ``dataset``; arguments as :func:`.beta_vae.compute_beta_vae`, protocol
    :data:`DEFAULTS`. ``z_max.train_accuracy`` and ``z_max.eval_accuracy`` in [0, 1] (chance 1/K; 0 when every dim
    is pruned) and ``z_max.num_active_dims`` in [0, D]."""
    return factor_vae.vote_scores("z_max", DEFAULTS, dataset, representation, rng, protocol, vary_one=True)
