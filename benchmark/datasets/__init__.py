"""Ground-truth datasets: the official files and their offline procedural twins.

``get(name, path=None, **options)`` returns a :class:`GroundTruthDataset`; ``DATASETS`` maps each
registered name to its constructor.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmark.datasets.base import BatchStream, GroundTruthDataset, grid_strides

DATASETS: dict[str, Callable[..., GroundTruthDataset]] = {}


def register(name: str):
    """Class decorator adding a dataset constructor to :data:`DATASETS` under ``name``."""

    def decorator(cls):
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} is registered twice")
        DATASETS[name] = cls
        return cls

    return decorator


def get(name: str, path: Any = None, **options: Any) -> GroundTruthDataset:
    """The dataset ``name``; ``path`` points a real-file dataset at its file."""
    try:
        constructor = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}") from None
    if path is not None:
        options["path"] = path
    return constructor(**options)


# Importing the dataset modules registers them (they import ``register`` from this module, defined above).
from benchmark.datasets import dsprites  # noqa: E402,F401

__all__ = ["DATASETS", "BatchStream", "GroundTruthDataset", "get", "grid_strides", "register"]
