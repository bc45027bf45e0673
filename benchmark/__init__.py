"""Disentanglement benchmarking suite.

Subpackages: ``datasets`` (ground-truth datasets), ``metrics`` (disentanglement metrics and checkpoint
evaluation), ``sweeps`` (Ray Tune grids), ``reports`` (tables, figures, report pages). ``models`` and
``training`` hold the beta-VAE family and its training loop.
"""

__version__ = "0.1.0"
