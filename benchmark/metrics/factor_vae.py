"""FactorVAE score (Kim & Mnih 2018).

"Disentangling by Factorising", ICML 2018, https://arxiv.org/abs/1802.05983. Reference protocol
(Locatello et al. 2019): global variance of each code dim (ddof 1) over 10,000 random images; dims with
standard deviation < 0.05 are pruned (collapsed to the prior); one vote = fix a random factor k in a batch
of 64 factor vectors drawn over the grid, encode, take the argmin over the kept dims of the batch variance
(ddof 1) divided by the global variance → (dim, k). 10,000 training and 5,000 evaluation votes; the
majority-vote classifier maps each dim to its most frequent factor; score = eval accuracy.

``factor_vae.num_active_dims`` is the number of kept dims (the reference reported the total dim count
there). Votes are indexed by the real dim, so pruned dims never receive a vote.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics import _codes

DEFAULTS = {"num_variance_estimate": 10_000, "num_train": 10_000, "num_eval": 5_000, "batch_size": 64, "prune_threshold": 0.05}


def active_dims(global_variances: Any, threshold: float = DEFAULTS["prune_threshold"]) -> np.ndarray:
    """Boolean mask of dims whose standard deviation is >= ``threshold``."""
    return np.sqrt(np.asarray(global_variances, dtype=np.float64)) >= threshold


def sample_votes(dataset, sampler, num_votes, batch_size, global_variances, active, rng, chunk: int = 512, *,
                 vary_one: bool = False):
    """Votes matrix ``(K factors, D dims)`` int64 of ``num_votes`` FactorVAE votes: a batch in which one random
    factor k is held fixed, voting (k, argmin over the kept dims of batch variance / global variance). With
    ``vary_one``, Z-max votes (:mod:`.z_max`): one factor vector held for the whole batch except factor k, drawn
    afresh for each point, voting (k, argmax)."""
    num_votes = _codes.check_positive_int(num_votes, "num_votes")
    batch_size = _codes.check_positive_int(batch_size, "batch_size", 2)
    k = len(dataset.factor_sizes)
    kept = np.flatnonzero(active)
    votes = np.zeros((k, global_variances.shape[0]), dtype=np.int64)
    for start in range(0, num_votes, chunk):
        p = min(chunk, num_votes - start)
        chosen = rng.integers(0, k, size=p)
        f = dataset.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        if vary_one:
            fresh, f = f, np.repeat(dataset.sample_factors(p, rng)[:, None, :], batch_size, axis=1)
            f[np.arange(p), :, chosen] = fresh[np.arange(p), :, chosen]
        else:
            f[np.arange(p), :, chosen] = f[np.arange(p), 0, chosen][:, None]
        z = sampler(f.reshape(-1, k), rng).reshape(p, batch_size, -1)
        ratio = np.var(z[:, :, kept], axis=1, ddof=1) / global_variances[kept][None, :]
        dims = kept[(np.argmax if vary_one else np.argmin)(ratio, axis=1)]
        np.add.at(votes, (chosen, dims), 1)
        _codes.report("points", start + p, num_votes)
    return votes


def score_from_votes(train_votes: Any, eval_votes: Any) -> tuple[float, float]:
    """(train accuracy, eval accuracy) of the majority-vote classifier fitted on ``train_votes (K, D)``."""
    train_votes, eval_votes = np.asarray(train_votes), np.asarray(eval_votes)
    classifier = np.argmax(train_votes, axis=0)
    cols = np.arange(train_votes.shape[1])
    train_acc, eval_acc = (votes[classifier, cols].sum() / max(votes.sum(), 1) for votes in (train_votes, eval_votes))
    return _codes.to_float(train_acc), _codes.to_float(eval_acc)


def compute_factor_vae(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """FactorVAE score of a representation on ``dataset``; arguments as :func:`.beta_vae.compute_beta_vae`,
    protocol :data:`DEFAULTS`. ``factor_vae.train_accuracy`` and ``factor_vae.eval_accuracy`` in [0, 1] (chance
    1/K; 0 when every dim is pruned) and ``factor_vae.num_active_dims`` in [0, D] (a float, like every value)."""
    return vote_scores("factor_vae", DEFAULTS, dataset, representation, rng, protocol)


def vote_scores(metric: str, defaults: dict, dataset: Any, representation: Any, rng: np.random.Generator,
                protocol: dict, *, vary_one: bool = False) -> dict[str, float]:
    """``{metric}.train_accuracy``, ``.eval_accuracy`` and ``.num_active_dims`` of the majority-vote classifier
    on :func:`sample_votes` (``vary_one``: Z-max's votes), after the global variances and the pruning."""
    p = _codes.resolve(metric, defaults, protocol)
    sampler = _codes.code_sampler(dataset, representation)
    codes, _ = _codes.sample_codes(dataset, sampler, p["num_variance_estimate"], rng)
    global_var = np.var(codes, axis=0, ddof=1)
    active = active_dims(global_var, p["prune_threshold"])
    train_acc = eval_acc = 0.0
    if active.any():
        train_votes, eval_votes = (sample_votes(dataset, sampler, p[n], p["batch_size"], global_var, active, rng,
                                                vary_one=vary_one) for n in ("num_train", "num_eval"))
        train_acc, eval_acc = score_from_votes(train_votes, eval_votes)
    return {f"{metric}.train_accuracy": train_acc, f"{metric}.eval_accuracy": eval_acc,
            f"{metric}.num_active_dims": float(active.sum())}
