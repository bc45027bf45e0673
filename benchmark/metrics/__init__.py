"""Disentanglement metrics and the evaluation of saved checkpoints.

Each metric lives in its own module with two layers: a pure core on arrays (codes ``(N, D)`` float,
factors ``(N, K)`` int classes) and a sampling wrapper ``compute_<name>(dataset, representation, rng,
**protocol) -> dict[str, float]`` whose defaults are the reference protocol (docs/PROTOCOL.md).
``representation`` is a :class:`GridRepresentation` (lazy, memoised encoding of the dataset's grid, shared by
all metrics and both representations of one evaluation) or a plain callable ``images -> codes``.

- :data:`METRICS` maps each metric name to a :class:`Metric` (wrapper, defaults, returned keys).
- :func:`score_codes` is the uniform pure entry point for the metrics that work on fixed codes
  (``mig``, ``dci``, ``sap``, ``modularity``, ``unsupervised``).
- :func:`evaluate` scores a run directory (or a model) and writes one result record per
  (run, representation, metric); ``dbench evaluate`` is its command line.

This package never imports a model: :func:`evaluate` opens run directories through
``benchmark.training.load_model``, imported when called.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from benchmark.metrics import _codes, beta_vae, dci, factor_vae, mig, mig_sampled, modularity, reconstruction, sap, unsupervised
from benchmark.metrics._codes import GridEncoding, GridRepresentation, discrete_entropy, discrete_mutual_info, discretize


@dataclasses.dataclass(frozen=True)
class Metric:
    """One registered metric.

    Attributes:
        name: registry name, also the file name of its record (``<representation>__<name>.json``).
        compute: sampling wrapper ``(dataset, representation, rng, **protocol) -> dict[str, float]``
            (``reconstruction`` takes a ``reconstruct_fn`` in place of the representation).
        defaults: the reference protocol parameters.
        keys: the keys it always returns (``mig`` and ``mig_sampled`` add one ``.<factor>`` key per factor).
        needs: ``"codes"`` (codes of sampled points), ``"posteriors"`` (mean and log-variance of every grid
            image) or ``"decoder"``.
        codes_fn: pure core for :func:`score_codes`, or None.
        needs_test: whether the core needs a held-out test split.
    """

    name: str
    compute: Callable[..., dict[str, float]]
    defaults: dict[str, Any]
    keys: tuple[str, ...]
    needs: str = "codes"
    codes_fn: Callable[..., dict[str, float]] | None = None
    needs_test: bool = False


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("beta_vae", beta_vae.compute_beta_vae, beta_vae.DEFAULTS, ("beta_vae.train_accuracy", "beta_vae.eval_accuracy")),
        Metric(
            "factor_vae", factor_vae.compute_factor_vae, factor_vae.DEFAULTS,
            ("factor_vae.train_accuracy", "factor_vae.eval_accuracy", "factor_vae.num_active_dims"),
        ),
        Metric("mig", mig.compute_mig, mig.DEFAULTS, ("mig",), codes_fn=mig.compute_mig_codes),
        Metric("mig_sampled", mig_sampled.compute_mig_sampled, mig_sampled.DEFAULTS, ("mig_sampled",), needs="posteriors"),
        Metric(
            "dci", dci.compute_dci, dci.DEFAULTS,
            ("dci.disentanglement", "dci.completeness", "dci.informativeness_train", "dci.informativeness_test"),
            codes_fn=dci.compute_dci_codes, needs_test=True,
        ),
        Metric("sap", sap.compute_sap, sap.DEFAULTS, ("sap",), codes_fn=sap.compute_sap_codes, needs_test=True),
        Metric(
            "modularity", modularity.compute_modularity, modularity.DEFAULTS,
            ("modularity", "explicitness.train", "explicitness.test"), codes_fn=modularity.compute_modularity_codes,
            needs_test=True,
        ),
        Metric(
            "unsupervised", unsupervised.compute_unsupervised, unsupervised.DEFAULTS,
            (
                "unsupervised.gaussian_total_correlation", "unsupervised.gaussian_wasserstein_correlation",
                "unsupervised.gaussian_wasserstein_correlation_norm", "unsupervised.mutual_info",
            ),
            codes_fn=unsupervised.compute_unsupervised_codes,
        ),
        Metric(
            "reconstruction", reconstruction.compute_reconstruction, reconstruction.DEFAULTS,
            ("reconstruction.bernoulli_nll", "reconstruction.mse"), needs="decoder",
        ),
    )
}

#: Metrics :func:`score_codes` accepts.
CODE_METRICS = tuple(n for n, m in METRICS.items() if m.codes_fn is not None)


def get(name: str) -> Metric:
    """The registered metric ``name``; ValueError listing the valid names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(METRICS)}") from None


def score_codes(
    name: str, codes_train: Any, factors_train: Any, codes_test: Any = None, factors_test: Any = None, *,
    rng: np.random.Generator | int | None = None, **params: Any,
) -> dict[str, float]:
    """Score fixed codes with metric ``name`` (one of :data:`CODE_METRICS`).

    Args:
        codes_train: ``(N, D)`` float codes; factors_train: ``(N, K)`` int factor classes.
        codes_test, factors_test: held-out split, required by ``dci``, ``sap`` and ``modularity``
            (``mig`` and ``unsupervised`` use only the training split and reject a test split).
        rng: numpy Generator (or int seed; None → seed 0) for the scikit-learn ``random_state``\\ s.
        params: metric options other than sample sizes: ``num_bins`` (mig, modularity, unsupervised),
            ``classifier`` (dci), ``svm_c`` (sap), ``factor_names`` (mig).

    Returns:
        The metric's keys (see :data:`METRICS`) as plain Python floats. Called with the points a sampling
        wrapper drew and the rng in the state the wrapper had after drawing them, it returns the wrapper's
        numbers exactly.
    """
    metric = get(name)
    if metric.codes_fn is None:
        raise ValueError(f"metric {name!r} does not work on fixed codes; score_codes accepts {', '.join(CODE_METRICS)}")
    rng = _codes.as_rng(rng)
    if metric.needs_test:
        return metric.codes_fn(codes_train, factors_train, codes_test, factors_test, rng=rng, **params)
    if codes_test is not None or factors_test is not None:
        raise ValueError(f"metric {name!r} uses only the training split; do not pass codes_test/factors_test")
    return metric.codes_fn(codes_train, factors_train, **params)


# Imported last and eagerly so the name ``evaluate`` is the function, not its module (torch stays lazy there).
from benchmark.metrics.evaluate import evaluate  # noqa: E402

__all__ = [
    "CODE_METRICS", "GridEncoding", "GridRepresentation", "METRICS", "Metric", "discrete_entropy",
    "discrete_mutual_info", "discretize", "evaluate", "get", "score_codes",
]
