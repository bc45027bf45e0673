"""Disentanglement metrics and the evaluation of saved checkpoints.

Each metric lives in its own module with two layers: a pure core on arrays (codes ``(N, D)`` float,
factors ``(N, K)`` int classes) and a sampling wrapper ``compute_<name>(dataset, representation, rng,
**protocol) -> dict[str, float]`` whose defaults are the reference protocol (docs/PROTOCOL.md).
``representation`` is a :class:`GridRepresentation` (lazy, memoised encoding of the dataset's grid, shared by
all metrics and both representations of one evaluation) or a plain callable ``images -> codes``.

- :data:`METRICS` maps each metric name to a :class:`Metric` (wrapper, defaults, returned keys).
- :func:`score_codes` is the uniform pure entry point for the metrics that work on fixed codes
  (:data:`CODE_METRICS`: ``mig``, ``dci``, ``sap``, ``modularity``, ``unsupervised`` and most of the extended set).
- :data:`METRIC_SETS` names the selections ``all`` (the reference study's metrics, Locatello et al. 2019) and
  ``extended`` (``all`` and the metrics papers report since: IRS, MIG-sup, DCIMIG, JEMMIG, Z-diff, Z-min, Z-max,
  InfoMEC, DCI-ES); :func:`parse_metrics` accepts both names.
- :class:`MetricKey` is the metadata of every returned key (paper label, direction, range, headline,
  whether it is a disentanglement score): tables, figures and the synthetic records read it from here.

This package depends on arrays, scikit-learn and torch tensors only: it never imports a model, a config or
the training loop. Scoring a run directory into records is :func:`benchmark.evaluation.evaluate`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np

from benchmark.metrics import _codes, beta_vae, dci, factor_vae, mig, mig_sampled, modularity, reconstruction, sap, unsupervised
from benchmark.metrics import dci_es, dcimig, infomec, irs, jemmig, mig_sup, z_diff, z_max, z_min
from benchmark.metrics._codes import GridEncoding, GridRepresentation, discrete_entropy, discrete_mutual_info, discretize
from benchmark.registry import Registry, UnknownNameError


@dataclasses.dataclass(frozen=True)
class MetricKey:
    """One value a metric returns, with what a table, a figure or a paper needs to know of it.

    Attributes:
        name: the key in results (``metric.<name>`` in a record), e.g. ``dci.disentanglement``.
        label: the name papers use (``DCI-D``).
        direction: +1 higher is better, −1 lower is better, 0 descriptive (no arrow, no bold, no rank).
        range: ``(low, high)`` of its values; None for an unbounded side.
        headline: shown by default in tables and figures.
        disentanglement: a disentanglement score (not informativeness, reconstruction or a code statistic):
            the y axes of trade-off figures and the set of rank correlations.
    """

    name: str
    label: str
    direction: int = 1
    range: tuple[float | None, float | None] = (0.0, 1.0)
    headline: bool = False
    disentanglement: bool = False


_key = MetricKey  # short name for the table below


_SCORE = dict(headline=True, disentanglement=True)
_LOWER = dict(direction=-1, range=(0.0, None))


@dataclasses.dataclass(frozen=True)
class Metric:
    """One registered metric.

    Attributes:
        name: registry name, also the file name of its record (``<representation>__<name>.json``).
        compute: sampling wrapper ``(dataset, representation, rng, **protocol) -> dict[str, float]``
            (``reconstruction`` takes a ``reconstruct_fn`` in place of the representation).
        defaults: the reference protocol parameters: the metric module's ``DEFAULTS`` (each default's one home).
        keys: the keys it always returns, with their metadata.
        per_factor: it also returns one ``<name>.<factor>`` key per ground-truth factor (same direction and
            range as the key named like the metric, never a headline).
        needs: ``"codes"`` (codes of sampled points), ``"posteriors"`` (mean and log-variance of every grid
            image) or ``"decoder"``.
        codes_fn: pure core for :func:`score_codes`, or None.
        needs_test: whether the core needs a held-out test split.
        random: whether a core without a test split draws from an ``rng`` (:func:`score_codes` passes it one).
        study: one of the reference study's metrics (Locatello et al. 2019): the named set ``all`` (a metric added
            later is in ``extended`` only, so ``all`` keeps meaning the study).
    """

    name: str
    compute: Callable[..., dict[str, float]]
    defaults: dict[str, Any]
    keys: tuple[MetricKey, ...]
    needs: str = "codes"
    codes_fn: Callable[..., dict[str, float]] | None = None
    needs_test: bool = False
    per_factor: bool = False
    random: bool = False
    study: bool = False

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


METRICS: Registry = Registry("metric", {
    m.name: m
    for m in (
        Metric("beta_vae", beta_vae.compute_beta_vae, beta_vae.DEFAULTS, (
            _key("beta_vae.train_accuracy", "β-VAE score (train)"),
            _key("beta_vae.eval_accuracy", "β-VAE score", **_SCORE),
        ), study=True),
        Metric("factor_vae", factor_vae.compute_factor_vae, factor_vae.DEFAULTS, (
            _key("factor_vae.train_accuracy", "FactorVAE score (train)"),
            _key("factor_vae.eval_accuracy", "FactorVAE score", **_SCORE),
            _key("factor_vae.num_active_dims", "active dims", direction=0, range=(0.0, None)),
        ), study=True),
        Metric("mig", mig.compute_mig, mig.DEFAULTS, (_key("mig", "MIG", **_SCORE),), codes_fn=mig.compute_mig_codes,
               per_factor=True, study=True),
        # Chen et al.'s estimator clips I at 0 only: small samples can exceed 1.
        Metric("mig_sampled", mig_sampled.compute_mig_sampled, mig_sampled.DEFAULTS,
               (_key("mig_sampled", "MIG (sampled)", range=(0.0, None), **_SCORE),), needs="posteriors", per_factor=True,
               study=True),
        Metric("dci", dci.compute_dci, dci.DEFAULTS, (
            _key("dci.disentanglement", "DCI-D", **_SCORE),
            _key("dci.completeness", "DCI-C", **_SCORE),
            _key("dci.informativeness_train", "DCI-I (train)"),
            _key("dci.informativeness_test", "DCI-I", headline=True),
        ), codes_fn=dci.compute_dci_codes, needs_test=True, study=True),
        Metric("sap", sap.compute_sap, sap.DEFAULTS, (_key("sap", "SAP", **_SCORE),), codes_fn=sap.compute_sap_codes,
               needs_test=True, study=True),
        Metric("modularity", modularity.compute_modularity, modularity.DEFAULTS, (
            _key("modularity", "Modularity", **_SCORE),
            _key("explicitness.train", "Explicitness (train)"),
            _key("explicitness.test", "Explicitness", headline=True),
        ), codes_fn=modularity.compute_modularity_codes, needs_test=True, study=True),
        Metric("unsupervised", unsupervised.compute_unsupervised, unsupervised.DEFAULTS, (
            _key("unsupervised.gaussian_total_correlation", "Gaussian TC", headline=True, **_LOWER),
            _key("unsupervised.gaussian_wasserstein_correlation", "Gaussian WC", **_LOWER),
            _key("unsupervised.gaussian_wasserstein_correlation_norm", "Gaussian WC (norm.)", direction=-1,
                 range=(0.0, 2.0), headline=True),
            # mutual information of binned codes: at most log(num_bins), log 20 at the reference protocol
            _key("unsupervised.mutual_info", "Mutual info", direction=-1, range=(0.0, math.log(_codes.NUM_BINS)),
                 headline=True),
        ), codes_fn=unsupervised.compute_unsupervised_codes, study=True),
        Metric("reconstruction", reconstruction.compute_reconstruction, reconstruction.DEFAULTS, (
            _key("reconstruction.bernoulli_nll", "Recon. NLL", headline=True, **_LOWER),
            _key("reconstruction.mse", "Recon. MSE", direction=-1, headline=True),
        ), needs="decoder", study=True),
        # the extended set (not study): metrics papers report since the study; each module says which
        # estimator it is and which numbers it is comparable with
        Metric("irs", irs.compute_irs, irs.DEFAULTS, (
            # |z − E[z|v]| <= 2 max|z − E z|: IRS is >= -1 (and >= 0 for all but pathological codes)
            _key("irs", "IRS", range=(-1.0, 1.0), **_SCORE),
            _key("irs.num_active_dims", "IRS active dims", direction=0, range=(0.0, None)),
        ), codes_fn=irs.compute_irs_codes),
        Metric("mig_sup", mig_sup.compute_mig_sup, mig_sup.DEFAULTS, (_key("mig_sup", "MIG-sup", **_SCORE),),
               codes_fn=mig_sup.compute_mig_sup_codes),
        Metric("dcimig", dcimig.compute_dcimig, dcimig.DEFAULTS, (_key("dcimig", "DCIMIG", **_SCORE),),
               codes_fn=dcimig.compute_dcimig_codes),
        # 1 − normalised JEMMIG (the review's convention): higher is better
        Metric("jemmig", jemmig.compute_jemmig, jemmig.DEFAULTS, (_key("jemmig", "JEMMIG", **_SCORE),),
               codes_fn=jemmig.compute_jemmig_codes),
        Metric("z_diff", z_diff.compute_z_diff, z_diff.DEFAULTS, (
            _key("z_diff.train_accuracy", "Z-diff (train)"),
            _key("z_diff.eval_accuracy", "Z-diff", **_SCORE),
        ), codes_fn=z_diff.compute_z_diff_codes, needs_test=True),
        Metric("z_min", z_min.compute_z_min, z_min.DEFAULTS, (
            _key("z_min.train_accuracy", "Z-min (train)"),
            _key("z_min.eval_accuracy", "Z-min", **_SCORE),
            _key("z_min.num_active_dims", "Z-min active dims", direction=0, range=(0.0, None)),
        ), codes_fn=z_min.compute_z_min_codes, needs_test=True),
        Metric("z_max", z_max.compute_z_max, z_max.DEFAULTS, (
            _key("z_max.train_accuracy", "Z-max (train)"),
            _key("z_max.eval_accuracy", "Z-max", **_SCORE),
            _key("z_max.num_active_dims", "Z-max active dims", direction=0, range=(0.0, None)),
        )),
        Metric("infomec", infomec.compute_infomec, infomec.DEFAULTS, (
            _key("infomec.infom", "InfoM", **_SCORE),
            _key("infomec.infoc", "InfoC", **_SCORE),
            _key("infomec.infoe", "InfoE", headline=True),
            _key("infomec.num_active_dims", "InfoMEC active dims", direction=0, range=(0.0, None)),
        ), codes_fn=infomec.compute_infomec_codes, random=True),
        Metric("dci_es", dci_es.compute_dci_es, dci_es.DEFAULTS, (
            _key("dci_es.explicitness", "DCI-E", headline=True),
            _key("dci_es.size", "DCI-S"),
        ), codes_fn=dci_es.compute_dci_es_codes, needs_test=True),
    )
})

#: Named selections of metrics (``--metrics all``, ``--metrics extended``, a spec's ``evaluation.metrics``):
#: ``all`` is the reference study's metrics (Locatello et al. 2019), ``extended`` every registered metric.
METRIC_SETS: dict[str, tuple[str, ...]] = {
    "all": tuple(n for n, m in METRICS.items() if m.study),
    "extended": tuple(METRICS),
}

#: Preferred keys for choosing the best and worst seed of a setting (first one present wins): the most cited
#: disentanglement scores first; the β-VAE score saturates, so it comes late.
RUN_SELECTION_KEYS = ("mig", "dci.disentanglement", "factor_vae.eval_accuracy", "beta_vae.eval_accuracy",
                      "mig_sampled", "sap", "reconstruction.bernoulli_nll")
#: Name endings that carry direction for keys no registered metric declares (ARCHITECTURE.md principle 8).
_LOWER_SUFFIXES = ("_error", "_loss", "_nll", ".mse")


def key_info(key: str) -> MetricKey | None:
    """The metadata of a result key (``metric.`` prefix optional), per-factor keys included; None if unregistered."""
    key = key.removeprefix("metric.")
    for metric in METRICS.values():
        for k in metric.keys:
            if k.name == key:
                return k
        if metric.per_factor and key.startswith(f"{metric.name}."):
            main = next(k for k in metric.keys if k.name == metric.name)
            label = f"{main.label} ({key[len(metric.name) + 1:]})"
            return dataclasses.replace(main, name=key, label=label, headline=False)
    return None


def owner(key: str) -> str | None:
    """The registered metric that writes ``key`` (``metric.`` prefix optional), or None."""
    key = key.removeprefix("metric.")
    for metric in METRICS.values():
        if key in metric.key_names or (metric.per_factor and key.startswith(f"{metric.name}.")):
            return metric.name
    return None


def direction(key: str) -> int:
    """+1 higher is better, −1 lower is better, 0 descriptive; unregistered keys by their name's ending."""
    info = key_info(key)
    if info is not None:
        return info.direction
    return -1 if key.removeprefix("metric.").endswith(_LOWER_SUFFIXES) else 1


#: Headline keys in registry order: what tables and figures show by default.
HEADLINE_KEYS = tuple(k.name for m in METRICS.values() for k in m.keys if k.headline)


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """A named set of :data:`METRIC_SETS` (``"all"``, ``"extended"``), ``"a,b"`` or a list → registered metric names in
    registry order; ValueError lists the valid ones."""
    if isinstance(metrics, str):
        chosen = metrics.strip()
        names = list(METRIC_SETS[chosen]) if chosen in METRIC_SETS else [m.strip() for m in chosen.split(",") if m.strip()]
    else:
        names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise UnknownNameError(f"unknown metric(s) {unknown or names}; valid names: all, {', '.join(METRICS)}, extended "
                               f"(all: the reference study's {len(METRIC_SETS['all'])} metrics, {METRIC_SETS['all'][0]} to "
                               f"{METRIC_SETS['all'][-1]}; extended: every metric)")
    return [m for m in METRICS if m in names]


def parse_representations(representation: str | Sequence[str]) -> list[str]:
    """``"mean"``, ``"sampled"``, ``"mean,sampled"`` or a list → list of representation kinds."""
    kinds = [r.strip() for r in representation.split(",")] if isinstance(representation, str) else list(representation)
    bad = [k for k in kinds if k not in _codes.REPRESENTATIONS]
    if bad or not kinds:
        raise UnknownNameError(f"unknown representation(s) {bad or kinds}; valid: {', '.join(_codes.REPRESENTATIONS)}")
    return list(dict.fromkeys(kinds))


#: Parameters with a fixed set of valid values.
_CHOICES = {"dci": {"classifier": dci.CLASSIFIERS}, "mig_sup": {"normalization": mig_sup.NORMALIZATIONS},
            "dci_es": {"probe": dci_es.PROBES}, "infomec": {"estimator": infomec.ESTIMATORS}}


#: Named evaluation protocols, each as its changes to the metrics' reference protocols (their ``DEFAULTS``, the
#: sample sizes of Locatello et al. 2019). ``quick``: the reduced sizes of the quick presets, for short budgets;
#: its numbers are for checking a pipeline, not for a paper (every record carries its full ``protocol.*``).
PROTOCOLS: dict[str, dict[str, dict[str, Any]]] = {
    "reference": {},
    "quick": {
        "beta_vae": {"num_train": 500, "num_eval": 250, "batch_size": 16},
        "factor_vae": {"num_variance_estimate": 2000, "num_train": 500, "num_eval": 250, "batch_size": 16},
        "mig": {"num_train": 2000},
        "dci": {"num_train": 500, "num_test": 250},
        "sap": {"num_train": 1000, "num_test": 500},
        "modularity": {"num_train": 2000, "num_test": 1000},
        "unsupervised": {"num_train": 2000},
        "reconstruction": {"num_images": 500},
        "irs": {"num_train": 2000},
        "mig_sup": {"num_train": 2000},
        "dcimig": {"num_train": 2000},
        "jemmig": {"num_train": 2000},
        "z_diff": {"num_train": 1000, "num_test": 500, "num_train_points": 500, "num_eval_points": 250, "batch_size": 16},
        "z_min": {"num_train": 1000, "num_test": 500, "num_train_votes": 500, "num_eval_votes": 250, "batch_size": 16},
        "z_max": {"num_variance_estimate": 2000, "num_train": 500, "num_eval": 250, "batch_size": 16},
        "infomec": {"num_train": 2000},
        "dci_es": {"num_train": 1000, "num_test": 500},
    },
}


fit_jobs = _codes.fit_jobs


def check_protocol_name(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return protocol


def resolve_protocol(name: str, overrides: dict[str, Any], protocol: str = "reference") -> dict[str, Any]:
    """Metric ``name``'s parameters under the named ``protocol`` (:data:`PROTOCOLS`) updated by ``overrides``, each
    value checked (name, type, range): ValueError naming the metric, the parameter and what is valid."""
    base = {**METRICS[name].defaults, **PROTOCOLS[check_protocol_name(protocol)].get(name, {})}
    return _codes.resolve(name, base, overrides, _CHOICES.get(name))


#: Metrics :func:`score_codes` accepts.
CODE_METRICS = tuple(n for n, m in METRICS.items() if m.codes_fn is not None)


def score_codes(
    name: str, codes_train: Any, factors_train: Any, codes_test: Any = None, factors_test: Any = None, *,
    rng: np.random.Generator | int | None = None, **params: Any,
) -> dict[str, float]:
    """Score fixed codes with metric ``name`` (one of :data:`CODE_METRICS`).

    Args:
        codes_train: ``(N, D)`` float codes; factors_train: ``(N, K)`` int factor classes.
        codes_test, factors_test: held-out split, required by the metrics with ``needs_test`` (``dci``, ``sap``,
            ``modularity``, ``z_diff``, ``z_min``, ``dci_es``); the others use only the training split and reject one.
        rng: numpy Generator (or int seed; None → seed 0) for the scikit-learn ``random_state``\\ s and the draws of
            the metrics that sample (``z_diff``'s pairs, ``z_min``'s batches, ``infomec``'s k-NN jitter).
        params: metric options other than sample sizes: ``num_bins`` (mig, modularity, unsupervised, irs, mig_sup,
            dcimig, jemmig), ``classifier`` (dci), ``svm_c`` (sap), ``factor_names`` (mig), ``diff_quantile`` (irs),
            ``normalization`` (mig_sup), ``num_train_points``/``num_eval_points``/``batch_size`` (z_diff),
            ``num_train_votes``/``num_eval_votes``/``batch_size``/``prune_threshold`` (z_min),
            ``estimator``/``n_neighbors``/``num_bins``/``max_iter`` (infomec), ``categorical``/``probe``/``num_trees``/
            ``max_depth`` (dci_es).

    Returns:
        The metric's keys (see :data:`METRICS`) as plain Python floats. Called with the points a sampling
        wrapper drew and the rng in the state the wrapper had after drawing them, it returns the wrapper's
        numbers exactly.
    """
    metric = METRICS[name]
    if metric.codes_fn is None:
        raise ValueError(f"metric {name!r} does not work on fixed codes; score_codes accepts {', '.join(CODE_METRICS)}")
    rng = _codes.as_rng(rng)
    if metric.needs_test:
        return metric.codes_fn(codes_train, factors_train, codes_test, factors_test, rng=rng, **params)
    if codes_test is not None or factors_test is not None:
        raise ValueError(f"metric {name!r} uses only the training split; do not pass codes_test/factors_test")
    return metric.codes_fn(codes_train, factors_train, **({"rng": rng} if metric.random else {}), **params)


__all__ = [
    "CODE_METRICS", "GridEncoding", "GridRepresentation", "HEADLINE_KEYS", "METRICS", "METRIC_SETS", "Metric", "MetricKey",
    "PROTOCOLS",
    "check_protocol_name", "fit_jobs",
    "RUN_SELECTION_KEYS", "direction", "discrete_entropy", "discrete_mutual_info", "discretize", "key_info",
    "owner", "parse_metrics", "parse_representations", "resolve_protocol", "score_codes",
]
