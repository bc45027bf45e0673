"""The ground-truth dataset contract shared by every dataset, and its index maths.

A ground-truth dataset is a complete grid of factor combinations, one image per combination, stored in
row-major order with the last factor varying fastest: the order of the official dSprites and 3D Shapes
files, so ``index = numpy.ravel_multi_index(factors, factor_sizes)``.

Array conventions at every public boundary:
- factors: ``(N, K)`` int64 class indices, ``0 <= factors[:, k] < factor_sizes[k]``;
- images: ``(N, C, H, W)`` float32 in ``[0, 1]`` (``images_uint8`` gives the stored uint8 pixels, same layout);
- all randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import numpy as np


class GroundTruthDataset(abc.ABC):
    """A complete factor grid with one image per grid point.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`images_uint8`.

    Attributes:
        name: registry name (``"dsprites"``, ``"dsprites_procedural"``, ...).
        factor_names: one name per ground-truth factor, in grid order.
        factor_sizes: number of classes of each factor.
        factor_values: the real value of each class, one 1-D float array per factor.
        observation_shape: ``(C, H, W)`` of one image.
        pixel_max: the uint8 value that means intensity 1.0 (1 for dSprites' 0/1 images, 255 for RGB).
        source: where the pixels come from: ``"file:<path>"`` or ``"procedural"``.
        stand_in: True when the images only imitate the official ones (results not comparable with papers).
        per_observation: True when each observation draws a nuisance of its own (colour, noise): a grid point
            then has no single image, and batches and samples come from :meth:`sample_observations_from_factors`.
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    factor_values: tuple[np.ndarray, ...]
    observation_shape: tuple[int, int, int]
    pixel_max: int = 255
    source: str = "procedural"
    stand_in: bool = False
    per_observation: bool = False
    title: str = ""  # human-readable line for records and reports; stand-ins say so here
    class_names: dict[str, tuple[str, ...]] = {}  # readable names of categorical classes, e.g. {"shape": (...)}
    preview_factors: tuple[int, ...] | None = None  # the fixed classes `dbench datasets show` uses by default
    FILE_SPEC: Any = None  # real-file datasets: their _files.FileSpec (official names, URL, offline twin)

    # ------------------------------------------------------------------ grid and index maths
    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def strides(self) -> np.ndarray:
        """Row-major strides of the grid: ``index = factors @ strides``."""
        return grid_strides(self.factor_sizes)

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Map ``(N, K)`` factor classes to ``(N,)`` int64 indices (row-major, last factor fastest)."""
        return self.check_factors(factors) @ self.strides

    def index_to_factors(self, indices: np.ndarray) -> np.ndarray:
        """Map ``(N,)`` indices to ``(N, K)`` int64 factor classes; inverse of :meth:`factors_to_index`."""
        return grid_factors(self.check_indices(indices), self.factor_sizes)

    def check_factors(self, factors: Any) -> np.ndarray:
        """Validate ``(N, K)`` factor classes and return them as int64; ValueError names what is wrong."""
        arr = np.asarray(factors)
        if arr.ndim != 2 or arr.shape[1] != self.num_factors:
            raise ValueError(f"{self.name}: factors must have shape (N, {self.num_factors}) for factors "
                             f"{list(self.factor_names)}, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{self.name}: factors must be integer class indices, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        bad = (arr < 0) | (arr >= sizes[None, :])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"{self.name}: factor {self.factor_names[col]!r} has class {arr[row, col]} in row {row}; "
                             f"valid classes are 0..{sizes[col] - 1}")
        return arr

    def check_indices(self, indices: Any) -> np.ndarray:
        """Validate 1-D grid indices and return them as int64."""
        arr = np.atleast_1d(np.asarray(indices))
        if arr.ndim != 1:
            raise ValueError(f"{self.name}: indices must be 1-D, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{self.name}: indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(f"{self.name}: indices must lie in [0, {len(self)}), got [{arr.min()}, {arr.max()}]")
        return arr

    @classmethod
    def find_file(cls, path: Any = None) -> Any:
        """The file ``FILE_SPEC.find(path)`` would load from ``path`` or the data folder; None for procedural ones."""
        return None if cls.FILE_SPEC is None else cls.FILE_SPEC.find(path)

    # ------------------------------------------------------------------ sampling
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` factor classes drawn uniformly over the grid."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return self.index_to_factors(rng.integers(0, len(self), size=n, dtype=np.int64))

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Images ``(N, C, H, W)`` float32 for the given factor classes. Every grid point has exactly one image,
        so ``rng`` is unused here; variants with per-sample nuisance (noise, colour) draw it from ``rng``."""
        del rng
        return self.images(self.factors_to_index(factors))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(factors (n, K) int64, images (n, C, H, W) float32)`` drawn uniformly over the grid."""
        factors = self.sample_factors(n, rng)
        return factors, self.sample_observations_from_factors(factors, rng)

    # ------------------------------------------------------------------ pixels
    @abc.abstractmethod
    def images_uint8(self, indices: np.ndarray) -> np.ndarray:
        """Stored pixels ``(N, C, H, W)`` uint8 of the grid points ``indices`` (0..pixel_max)."""

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Images ``(N, C, H, W)`` float32 in [0, 1] of the grid points ``indices``."""
        out = self.images_uint8(self.check_indices(indices)).astype(np.float32)
        if self.pixel_max != 1:
            out *= np.float32(1.0 / self.pixel_max)
        return out

    def batch_stream(self, batch_size: int, seed: int | np.random.SeedSequence, device: Any = "cpu") -> "BatchStream":
        """An endless, seeded stream of uniformly sampled training batches; see :class:`BatchStream`."""
        return BatchStream(self, batch_size, seed, device)

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with every result.

        Keys: ``name`` (registry name), ``title`` (human-readable; a stand-in's says so), ``source``
        (``"file:<path>"``, ``"procedural"`` or ``"procedural stand-in"``), ``stand_in`` (bool),
        ``factor_names``, ``factor_sizes``; subclasses add their own (e.g. ``official_grid``, ``note``).
        """
        return {"name": self.name, "title": self.title or self.name, "source": self.source,
                "stand_in": bool(self.stand_in), "factor_names": list(self.factor_names),
                "factor_sizes": [int(s) for s in self.factor_sizes]}

    def __repr__(self) -> str:
        grid = " x ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return f"<{type(self).__name__} {self.name!r} [{grid}] source={self.source}>"


def grid_strides(factor_sizes: Sequence[int]) -> np.ndarray:
    """Row-major strides (last factor fastest) of a grid with the given sizes, as int64."""
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    strides = np.ones_like(sizes)
    strides[:-1] = np.cumprod(sizes[:0:-1])[::-1]  # stride k = product of the sizes after k
    return strides


def grid_factors(indices: np.ndarray, factor_sizes: Sequence[int]) -> np.ndarray:
    """``(N, K)`` int64 factor classes of the ``(N,)`` grid indices (unchecked; see ``index_to_factors``)."""
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    return (np.asarray(indices, dtype=np.int64)[:, None] // grid_strides(sizes)[None, :]) % sizes[None, :]


class BatchStream:
    """Endless stream of training batches: ``next(stream)`` is a float32 tensor ``(B, C, H, W)`` on ``device``.

    Indices are drawn uniformly over the grid from a numpy PCG64 generator seeded by ``seed``; pixels are
    fetched as uint8 and converted to float on the target device (a quarter of the bytes to move).
    ``state_dict()``/``load_state_dict()`` capture the generator, so a resumed training run draws exactly the
    batches the uninterrupted run would have drawn.
    """

    def __init__(self, dataset: GroundTruthDataset, batch_size: int, seed: int | np.random.SeedSequence, device: Any = "cpu"):
        import torch

        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._scale = 1.0 / dataset.pixel_max
        self.batches_drawn = 0
        self.last_indices: np.ndarray | None = None

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self):
        import torch

        indices = self._rng.integers(0, len(self.dataset), size=self.batch_size, dtype=np.int64)
        if self.dataset.per_observation:  # the nuisance is drawn from this stream, after the indices
            observations = self.dataset.sample_observations_from_factors(self.dataset.index_to_factors(indices), self._rng)
            self.batches_drawn += 1
            self.last_indices = indices
            return torch.from_numpy(observations).to(self.device)
        batch = torch.from_numpy(np.ascontiguousarray(self.dataset.images_uint8(indices)))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        batch = batch.to(dtype=torch.float32)
        if self._scale != 1.0:
            batch.mul_(self._scale)
        self.batches_drawn += 1
        self.last_indices = indices
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state (ints and strings): safe for ``torch.load(weights_only=True)`` and JSON."""
        return {"bit_generator": self._rng.bit_generator.state, "batches_drawn": self.batches_drawn,
                "batch_size": self.batch_size, "dataset": self.dataset.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("batch_size") != self.batch_size or state.get("dataset") != self.dataset.name:
            raise ValueError(f"batch stream state is for dataset {state.get('dataset')!r} with batch size "
                             f"{state.get('batch_size')}, not {self.dataset.name!r} with batch size {self.batch_size}")
        self._rng.bit_generator.state = state["bit_generator"]
        self.batches_drawn = int(state["batches_drawn"])
