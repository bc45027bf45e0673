"""MIG with Chen et al. 2018's full-dataset estimator from q(z|x) (NOT comparable with :mod:`.mig`).

"Isolating Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018,
https://arxiv.org/abs/1802.04942, Sec. 4.1 and its reference code. Every image x_n of the whole grid
(N images) is encoded to q(z|x_n) = N(mu_n, diag exp(logvar_n)) and one z_n ~ q(z|x_n) is drawn per image.
For each latent j, with q(z_j) = (1/N) Σ_n q(z_j | x_n):

- H(z_j) ≈ −mean over S = 10,000 of the samples z_sj (drawn without replacement) of log q(z_sj);
- H(z_j | v_k) = Σ_v p(v) H(z_j | v_k = v), each term the same estimator restricted to the images with
  v_k = v (S = min(10,000, N_v) samples, q over those images);
- I(z_j; v_k) = max(H(z_j) − H(z_j | v_k), 0), normalised by H(v_k) = log |V_k| on a uniform grid;
- MIG_k = top1 − top2 of the normalised I over j; ``mig_sampled`` = mean over the included factors.

Chen et al. left dSprites' shape factor out (``factors=("scale", "orientation", "posX", "posY")``
reproduces that); the default here is every factor. This estimator measures continuous MI of the
stochastic codes and its values are NOT comparable with the discrete, binned-posterior-mean MIG of
disentanglement_lib (:mod:`.mig`, key ``mig``); report them under their own key ``mig_sampled``.

The pairwise log-densities cost S·N per latent and factor (≈4·10^11 terms on dSprites): they run in torch,
on ``device`` (a GPU when the evaluation has one), in chunks of at most ``chunk_elements`` terms (memory).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from benchmark._gaussian import reparameterize
from benchmark.metrics import _codes

DEFAULTS = {"num_samples": 10_000, "factors": "all", "chunk_elements": 2**24, "device": "cpu"}

_LOG_2PI = math.log(2 * math.pi)


def _entropy(z: np.ndarray, mu: np.ndarray, logvar: np.ndarray, sample_idx: np.ndarray, chunk_elements: int, device: str) -> np.ndarray:
    """``(D,)`` estimate of H(z_j) = −E log q(z_j) with q the mixture of the N posteriors given."""
    import torch

    dev = torch.device(device)
    mu_t = torch.as_tensor(mu.T, dtype=torch.float32, device=dev).contiguous()  # (D, N)
    lv_t = torch.as_tensor(logvar.T, dtype=torch.float32, device=dev).contiguous()
    inv_var = torch.exp(-lv_t)
    const = -0.5 * (_LOG_2PI + lv_t)  # (D, N)
    zs = torch.as_tensor(z[sample_idx].T, dtype=torch.float32, device=dev)  # (D, S)
    n, d = mu.shape
    chunk = max(1, int(chunk_elements) // (n * d))
    total = torch.zeros(d, dtype=torch.float64, device=dev)
    for s in range(0, zs.shape[1], chunk):
        zc = zs[:, s : s + chunk, None]  # (D, c, 1)
        logq = const[:, None, :] - 0.5 * (zc - mu_t[:, None, :]) ** 2 * inv_var[:, None, :]  # (D, c, N)
        total += (torch.logsumexp(logq, dim=2).double() - math.log(n)).sum(dim=1)
    return -(total / zs.shape[1]).cpu().numpy()


def compute_mig_sampled_moments(
    mu: Any, logvar: Any, factors: Any, factor_sizes: Sequence[int], *, rng: np.random.Generator,
    num_samples: int = DEFAULTS["num_samples"], factors_to_use: Sequence[int] | None = None,
    factor_names: Sequence[str] | None = None, chunk_elements: int = DEFAULTS["chunk_elements"],
    device: str = DEFAULTS["device"], z: Any = None,
) -> dict[str, float]:
    """Sampled MIG from the posteriors ``mu, logvar (N, D)`` of all N grid images, of factor classes
    ``factors (N, K)`` with ``factor_sizes`` = ``|V_k|``. ``rng`` draws the one ``z`` per image (unless ``z`` is
    given) and the entropy samples; ``factors_to_use``: factor indices to include (default all).

    Returns ``mig_sampled`` and ``mig_sampled.<factor>`` (one per included factor): >= 0 and nominally <= 1.
    Like Chen et al.'s, the estimate is clipped at 0 only: with few samples (small ``num_samples`` or small
    conditional subsets) sampling noise can put a sharply encoded factor's gap a little above 1.
    """
    mu = _codes.check_codes(mu, "mu")
    logvar = _codes.check_codes(logvar, "logvar")
    factors = _codes.check_factors(factors)
    if logvar.shape != mu.shape or factors.shape[0] != mu.shape[0]:
        raise ValueError(f"mu {mu.shape}, logvar {logvar.shape} and factors {factors.shape} must agree in N (and D)")
    k = factors.shape[1]
    names = list(factor_names) if factor_names is not None else [f"factor{j}" for j in range(k)]
    use = list(range(k)) if factors_to_use is None else [int(j) for j in factors_to_use]
    num_samples = _codes.check_positive_int(num_samples, "num_samples")
    n = mu.shape[0]
    if z is None:
        z = reparameterize(mu, logvar, rng.standard_normal(mu.shape))
    else:
        z = _codes.check_codes(z, "z")
        if z.shape != mu.shape:
            raise ValueError(f"z must have the shape of mu {mu.shape}, got {z.shape}")
    h_z = _entropy(z, mu, logvar, rng.permutation(n)[: min(num_samples, n)], chunk_elements, device)
    out: dict[str, float] = {}
    gaps = []
    estimates, done = 1 + sum(factor_sizes[j] for j in use if factor_sizes[j] >= 2), 1
    for j in use:
        if factor_sizes[j] < 2:
            continue
        h_cond = np.zeros(mu.shape[1])
        for v in range(factor_sizes[j]):
            _codes.report("entropy estimates", done, estimates)
            done += 1
            rows = np.flatnonzero(factors[:, j] == v)
            if rows.size == 0:
                continue
            pick = rng.permutation(rows.size)[: min(num_samples, rows.size)]
            h_cond += rows.size / n * _entropy(z[rows], mu[rows], logvar[rows], pick, chunk_elements, device)
        mi = np.clip(h_z - h_cond, 0.0, None) / math.log(factor_sizes[j])
        top = np.sort(mi)
        gap = top[-1] - (top[-2] if top.size > 1 else 0.0)
        gaps.append(gap)
        out[f"mig_sampled.{names[j]}"] = _codes.to_float(gap)
    return {"mig_sampled": _codes.to_float(np.mean(gaps)) if gaps else 0.0, **out}


def compute_mig_sampled(dataset: Any, representation: Any, rng: np.random.Generator, **protocol: Any) -> dict[str, float]:
    """Sampled MIG over the whole grid of ``dataset``; protocol :data:`DEFAULTS` (``factors``: "all" or names).

    ``representation`` must be a :class:`~benchmark.metrics._codes.GridRepresentation`: the estimator needs
    q(z|x) = mean and log-variance of every grid image, not codes, so the representation kind changes nothing.
    """
    p = _codes.resolve("mig_sampled", DEFAULTS, protocol)
    if not isinstance(representation, _codes.GridRepresentation):
        raise ValueError(
            "mig_sampled needs the posteriors q(z|x) of every grid image: pass a GridRepresentation "
            "(benchmark.metrics.GridEncoding(...).representation(kind)), not a codes function"
        )
    names = _codes.factor_names(dataset, len(dataset.factor_sizes))
    if p["factors"] == "all":
        use = list(range(len(names)))
    else:
        wanted = [p["factors"]] if isinstance(p["factors"], str) else list(p["factors"])
        missing = [w for w in wanted if w not in names]
        if missing:
            raise ValueError(f"mig_sampled: unknown factor(s) {missing}; the dataset's factors are {names}")
        use = [names.index(w) for w in wanted]
    idx = np.arange(len(dataset), dtype=np.int64)
    mu, logvar = representation.grid.moments(idx)
    return compute_mig_sampled_moments(
        mu, logvar, dataset.index_to_factors(idx), dataset.factor_sizes, rng=rng, num_samples=p["num_samples"],
        factors_to_use=use, factor_names=names, chunk_elements=p["chunk_elements"], device=p["device"],
    )
