"""Disentanglement benchmarking suite.

Layers (docs/ARCHITECTURE.md): ``datasets`` (ground-truth datasets), ``models`` and ``training`` (the β-VAE
family and its training loop), ``metrics`` (disentanglement metrics on arrays), ``evaluation`` (checkpoints →
result records, through ``records``), ``sweeps`` (Ray Tune grids), ``reports`` (tables, figures, report pages).
"""

__version__ = "0.1.0"
