"""Ground-truth datasets: the official files and their offline procedural twins.

``get(name, path=None, **options)`` returns a :class:`GroundTruthDataset`; ``DATASETS`` maps each
registered name to its constructor:

- ``dsprites``: the official npz/hdf5 file (``path``, ``$DBENCH_DATA_DIR`` or ``~/.cache/dbench/data``).
- ``dsprites_procedural``: the same grid drawn offline; ``cache=True`` builds/reuses the bit-packed full grid
  (the fast path for training), ``cache_dir=`` chooses its folder.
- ``shapes3d``: the official ``3dshapes.h5``; ``cache=True`` converts it once to a memory-mapped ``.npy``.
- ``shapes3d_procedural``: a STAND-IN on the same grid (not comparable with published results);
  ``cache=True`` stores its geometry table.

Real-file datasets raise ``benchmark.datasets._files.DatasetFileError`` (a ValueError) at load time with
the path, the problem and the remedy.
"""

from __future__ import annotations

from typing import Any

from benchmark.datasets.base import BatchStream, GroundTruthDataset, grid_strides
from benchmark.registry import Registry

#: Registered dataset constructors (classes), by name.
DATASETS: Registry = Registry("dataset")
#: Class decorator adding a dataset constructor to :data:`DATASETS` under a name.
register = DATASETS.register


def real_file_datasets() -> list[str]:
    """Sorted names of the datasets read from an official file (those with a ``FILE_SPEC``)."""
    return sorted(n for n, c in DATASETS.items() if getattr(c, "FILE_SPEC", None) is not None)


def get(name: str, path: Any = None, **options: Any) -> GroundTruthDataset:
    """The dataset ``name``; ``path`` points a real-file dataset at its file."""
    constructor = DATASETS[name]  # UnknownNameError (a ValueError) lists the valid names
    if path is not None:
        if getattr(constructor, "FILE_SPEC", None) is None:
            raise ValueError(f"dataset {name!r} is drawn offline and takes no path; "
                             f"real-file datasets: {', '.join(real_file_datasets())}")
        options["path"] = path
    return constructor(**options)


# Importing the dataset modules registers them (they import ``register`` from this module, defined above).
from benchmark.datasets import dsprites, dsprites_variants, shapes3d  # noqa: E402,F401
from benchmark.datasets._files import DatasetFileError, DatasetFileNotFoundError  # noqa: E402

__all__ = ["DATASETS", "BatchStream", "DatasetFileError", "DatasetFileNotFoundError", "GroundTruthDataset", "get",
           "grid_strides", "real_file_datasets", "register"]
