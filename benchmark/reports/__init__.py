"""Reports: result records → tables, figures and a self-contained HTML page.

``load_results(paths) -> DataFrame`` (one row per record file), ``runs_table`` (one row per run and
representation), ``aggregate``/``ranking``/``problems_table``/``variance_shares``/``results_table`` in
:mod:`.tables`, the paper tables' writers in :mod:`.paper`, a sweep's expected grid in :mod:`.grid`, protocol
deviations in :mod:`.protocol`, the figures in :mod:`.plots`, the page in :mod:`.html`, and ``write_report``
(what ``dbench report`` runs). Plotting modules are imported lazily so ``load_results`` stays light. Nothing here
imports torch or opens a model: checkpoint figures take arrays from :mod:`benchmark.views`.
"""

from benchmark.reports.results import load_results, runs_table
from benchmark.reports.tables import results_table

__all__ = ["load_results", "results_table", "runs_table", "write_report"]


def write_report(*args, **kwargs):
    """See :func:`benchmark.reports.report.write_report`."""
    from benchmark.reports.report import write_report as _write_report

    return _write_report(*args, **kwargs)
