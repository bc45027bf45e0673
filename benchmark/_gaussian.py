"""The reparameterisation of a diagonal Gaussian posterior, written once for torch tensors and numpy arrays.

Training draws z ~ q(z|x) in torch (``benchmark.models.VAE``); the metrics draw it in numpy from stored means
and log-variances (``benchmark.metrics._codes``, ``mig_sampled``). Both call :func:`reparameterize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def reparameterize(mu: Any, logvar: Any, noise: Any) -> Any:
    """z = μ + exp(logvar/2)·ε for standard normal ``noise`` ε (torch tensors or numpy arrays, same shapes)."""
    half = 0.5 * logvar
    std = half.exp() if hasattr(half, "exp") else np.exp(half)
    return mu + std * noise
