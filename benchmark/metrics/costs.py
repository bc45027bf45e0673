"""What each metric costs for one model at the reference protocol, as measured: the table ``dbench evaluate --help``
shows. The one home of these figures; re-measure and edit them here when a metric changes.

CPU: 2 cores of the development machine (no GPU), one dSprites model of the study's conv architecture, mean
representation, the metrics run in registry order by ``dbench evaluate RUN --protocol reference --jobs 2``
(records' ``eval.elapsed_s``). The grid encoding is shared: the first metric that needs codes (``beta_vae``,
which touches 682,623 of the 737,280 grid images) pays almost all of it, about 1,850 images/s on this CPU. The
metrics added after the study (and ``dci``'s vectorised classifier) were timed on fixed 10,000 × 10 codes with
``bench/metrics.py``, so their figures exclude encoding. GPU: None where no GPU has measured it yet.
"""

from __future__ import annotations

#: metric -> (seconds on 2 CPU cores, seconds on a GPU or None), reference protocol.
REFERENCE_COST_S: dict[str, tuple[float, float | None]] = {
    "beta_vae": (369.0, None),  # almost all of it the grid encoding it pays for the others
    "factor_vae": (20.1, None),
    "mig": (0.1, None),
    "mig_sampled": (3600.0, None),  # S·N log-densities per latent and factor: about an hour on 2 cores
    "dci": (14.0, None),  # the default (compiled) classifier at 2 jobs, 10,000 / 5,000 codes (scikit-learn's: 332 s)
    "sap": (0.7, None),
    "modularity": (1.5, None),
    "unsupervised": (0.1, None),
    "reconstruction": (9.8, None),
    "irs": (0.02, None),
    "mig_sup": (0.01, None),
    "dcimig": (0.01, None),
    "jemmig": (0.01, None),
    "z_diff": (0.2, None),
    "z_min": (0.1, None),
    "z_max": (0.6, None),
    "infomec": (7.0, None),
    "dci_es": (53.0, None),
}


def _seconds(s: float | None) -> str:
    if s is None:
        return "not measured"
    return f"{s / 60:.0f} min" if s >= 120 else f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def cost_table(names) -> str:
    """One line per metric: its measured CPU and GPU cost at the reference protocol (``-`` when unmeasured)."""
    rows = [f"  {n:15s} {_seconds(REFERENCE_COST_S[n][0]) if n in REFERENCE_COST_S else 'not measured':>13s} "
            f"{_seconds(REFERENCE_COST_S.get(n, (None, None))[1]):>13s}" for n in names]
    return "\n".join([f"  {'metric':15s} {'2 CPU cores':>13s} {'GPU':>13s}", *rows])
