"""dSprites: the procedural twin ``dsprites_procedural`` and the real-file loader ``dsprites``.

dSprites (Matthey, Higgins, Hassabis, Lerchner 2017, https://github.com/deepmind/dsprites-dataset) is the
complete grid shape (3) x scale (6) x orientation (40) x posX (32) x posY (32) of 64x64 binary images,
737,280 in all, stored row-major with posY fastest. The official file also has a constant colour factor
(size 1); it is dropped here because a constant is not a ground-truth factor for any metric.

The procedural renderer follows ``docs/DATASETS.md`` (shared docs): a pixel is on iff its centre lies inside
the rotated, scaled canonical shape. It reproduces the genuine frames of the official ``dsprites.gif`` to
within a few edge pixels (tested) and the dataset's mean pixel 0.0425.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import _io
from benchmark.datasets import register
from benchmark.datasets._files import (DatasetFileError, FileSpec, NpzMembers, check_array, derive_grid, hdf5_dataset,
                                       open_hdf5, read_hdf5, sniff_format)
from benchmark.datasets.base import GroundTruthDataset, grid_factors

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
IMAGE_SIZE = 64
SHAPE_NAMES = ("square", "ellipse", "heart")


def factor_values() -> tuple[np.ndarray, ...]:
    """The real value of every class of each dSprites factor (the official ``latents_values`` grid)."""
    return (
        np.array([1.0, 2.0, 3.0]),  # square, ellipse, heart
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2.0 * np.pi, 40),  # 0 and 2*pi are both present and draw the same image
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    )


# ---------------------------------------------------------------------------------------------- geometry
# Canonical shapes at scale 1 in the frame (u right, v up) centred on the sprite position, in pixels.
_SQUARE_HALF_SIDE = 9.6  # side 19.2 px = 0.3 of the canvas
_ELLIPSE_AXES = (12.76, 7.215)  # semi-axes along u (major, horizontal at theta = 0) and v
_HEART_VERTICES = 4096  # polygon resolution: the chord error is < 1e-4 px, far below any pixel decision

# The window around the sprite centre in which shape pixels can lie. The largest extent from the centre is
# the rotated square's half-diagonal 9.6*sqrt(2) = 13.6 px (heart: 11.3 px) at scale 1; a 32-pixel window
# starting 16 pixels left of/above floor(centre) covers at least 14.5 px on every side and stays inside the
# 64-pixel canvas for every centre in [16, 48]. Rendering only the window is 4x less work than the canvas.
_WINDOW = 32


def _heart_polygon() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heart polygon vertices sorted by polar angle about the canonical origin, and their angles.

    The heart curve x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t is mapped to
    (u, v) = (0.600 x, 0.662 y + 1.4375). It is star-shaped about the origin (the polar angle is
    strictly monotone along the curve, checked below), so a point is inside iff it lies on the inner side
    of the one edge whose angular span contains it: an exact polygon test at one search per pixel.
    """
    t = np.linspace(0.0, 2.0 * np.pi, _HEART_VERTICES, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    u, v = 0.600 * x, 0.662 * y + 1.4375
    angle = np.arctan2(v, u)
    order = np.argsort(angle, kind="stable")
    u, v, angle = u[order], v[order], angle[order]
    # Star-shapedness: sorted by angle, consecutive vertices must be consecutive along the curve.
    step = np.diff(order) % _HEART_VERTICES
    if not np.all((step == _HEART_VERTICES - 1) | (step == 1)):  # pragma: no cover - a fixed curve
        raise AssertionError("heart polygon is not star-shaped about its origin")
    return u, v, angle


_HEART_U, _HEART_V, _HEART_ANGLE = _heart_polygon()


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask: canonical points (u, v) inside (or on) the heart polygon."""
    phi = np.arctan2(v, u)
    n = _HEART_ANGLE.size
    k = (np.searchsorted(_HEART_ANGLE, phi, side="right") - 1) % n  # -1 wraps to the last edge (through angle pi)
    k1 = (k + 1) % n
    au, av = _HEART_U[k], _HEART_V[k]
    # Vertices run counter-clockwise by angle: inside iff cross(B - A, P - A) >= 0.
    cross = (_HEART_U[k1] - au) * (v - av) - (_HEART_V[k1] - av) * (u - au)
    return cross >= 0.0


def render(factors: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Draw dSprites images for factor classes ``(N, 5)`` (shape, scale, orientation, posX, posY).

    Returns ``(N, 64, 64)`` uint8 with values 0/1, exactly the dSprites geometry of ``docs/DATASETS.md``:
    pixel (row r, col c) is on iff its centre (c + 0.5, r + 0.5) lies inside the shape centred at
    (16 + 32 posX, 16 + 32 posY), scaled by ``scale`` and rotated counter-clockwise (as displayed) by
    ``orientation``. Vectorised over images, one shape at a time (no masked copies); ``chunk`` bounds the
    temporary memory (about 60 bytes per window pixel: 1024 images use ~60 MB).
    """
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != 5:
        raise ValueError(f"dSprites factors must have shape (N, 5), got {factors.shape}")
    factors = factors.astype(np.int64, copy=False)
    if (factors < 0).any() or (factors >= np.asarray(FACTOR_SIZES)).any():
        raise ValueError(f"dSprites factor classes must lie in 0..size-1 for sizes {FACTOR_SIZES}")
    out = np.zeros((factors.shape[0], IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for shape in range(3):
        idx = np.flatnonzero(factors[:, 0] == shape)
        for start in range(0, idx.size, chunk):
            sel = idx[start : start + chunk]
            rows, cols, inside = _render_window(shape, factors[sel])
            out[sel[:, None, None], rows[:, :, None], cols[:, None, :]] = inside
    return out


_VALUES = factor_values()


def _render_window(shape: int, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shape's images as ``_WINDOW`` x ``_WINDOW`` windows: (rows (n, W), cols (n, W), inside (n, W, W))."""
    scale = _VALUES[1][factors[:, 1]]
    # 2*pi and 0 must draw the same image: reduce the angle first so sin(2*pi) ~ -2e-16 cannot flip a
    # pixel whose centre lies exactly on an edge.
    theta = np.mod(_VALUES[2][factors[:, 2]], 2.0 * np.pi)
    cx = 16.0 + 32.0 * _VALUES[3][factors[:, 3]]
    cy = 16.0 + 32.0 * _VALUES[4][factors[:, 4]]
    c0 = np.floor(cx).astype(np.int64) - _WINDOW // 2
    r0 = np.floor(cy).astype(np.int64) - _WINDOW // 2
    offs = np.arange(_WINDOW, dtype=np.int64)
    cols = c0[:, None] + offs[None, :]  # (n, W)
    rows = r0[:, None] + offs[None, :]
    X = (cols + 0.5 - cx[:, None])[:, None, :]  # (n, 1, W), right
    Y = (cy[:, None] - (rows + 0.5))[:, :, None]  # (n, W, 1), up
    cos = (np.cos(theta) / scale)[:, None, None]
    sin = (np.sin(theta) / scale)[:, None, None]
    u = X * cos + Y * sin  # (n, W, W)
    v = Y * cos - X * sin
    if shape == 0:
        inside = (np.abs(u) <= _SQUARE_HALF_SIDE) & (np.abs(v) <= _SQUARE_HALF_SIDE)
    elif shape == 1:
        a, b = _ELLIPSE_AXES
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    else:
        inside = _inside_heart(u, v)
    return rows, cols, inside


# ---------------------------------------------------------------------------------------------- packed cache
_PACKED_ROW = IMAGE_SIZE * IMAGE_SIZE // 8  # 512 bytes per image


def _renderer_fingerprint() -> str:
    """Hash of all that decides the pixels, in the cache file name: a changed renderer never reads a stale cache."""
    key = (FACTOR_SIZES, _SQUARE_HALF_SIDE, _ELLIPSE_AXES, _HEART_VERTICES, _WINDOW, "v1")
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def packed_cache_path(folder: str | os.PathLike | None = None) -> Path:
    """Where the bit-packed full grid of ``dsprites_procedural`` lives (``benchmark._io.cache_dir()`` by default)."""
    folder = _io.cache_dir() if folder is None else Path(folder)
    return folder / f"dsprites_procedural_{_renderer_fingerprint()}.packed.npy"


def build_packed_cache(path: str | os.PathLike, indices: np.ndarray | None = None, chunk: int = 4096,
                       progress: bool | None = None) -> Path:
    """Render grid images in vectorised chunks and store them bit-packed (``np.packbits``) as a ``.npy``.

    Row ``i`` of the file is image ``indices[i]`` (default: the whole grid, 737,280 x 512 bytes = 360 MiB). The
    file is written atomically (a crash never leaves a partial cache); ``progress`` shows a tqdm bar (``None``:
    only on a terminal).
    """
    from tqdm import tqdm

    if indices is None:
        indices = np.arange(int(np.prod(FACTOR_SIZES)), dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    path = Path(path)
    with _io.atomic_path(path) as tmp:
        packed = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(indices.size, _PACKED_ROW))
        disable = None if progress is None else not progress
        with tqdm(total=indices.size, unit="img", desc="rendering dSprites cache", disable=disable) as bar:
            for start in range(0, indices.size, chunk):
                idx = indices[start : start + chunk]
                imgs = render(grid_factors(idx, FACTOR_SIZES))
                packed[start : start + idx.size] = np.packbits(imgs.reshape(idx.size, -1), axis=1)
                bar.update(idx.size)
        packed.flush()
        del packed
    return path


def load_packed_cache(path: str | os.PathLike, expected_rows: int, mmap: bool = True) -> np.ndarray:
    """Open a cache written by :func:`build_packed_cache`; ValueError if it is not the expected layout."""
    path = Path(path)
    try:
        packed = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable dSprites render cache ({exc}); delete it to rebuild") from exc
    if packed.dtype != np.uint8 or packed.shape != (expected_rows, _PACKED_ROW):
        raise ValueError(f"{path}: render cache has dtype {packed.dtype} shape {packed.shape}, expected uint8 "
                         f"({expected_rows}, {_PACKED_ROW}); delete it to rebuild")
    return packed


def unpack_rows(packed: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``(N, 1, 64, 64)`` uint8 0/1 images from the packed rows ``indices``."""
    return np.unpackbits(packed[indices], axis=1).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


# ---------------------------------------------------------------------------------------------- datasets
class _DSpritesGrid(GroundTruthDataset):
    """Shared grid attributes and pixel access of the dSprites datasets (5 factors, colour dropped)."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)
    pixel_max = 1
    class_names = {"shape": SHAPE_NAMES}
    preview_factors = (2, 5, 0, 16, 16)  # a heart at full scale: the one shape whose rotation shows fully
    _packed: np.ndarray | None = None  # the bit-packed images (``np.packbits`` rows); None renders on demand

    def __init__(self) -> None:
        self.factor_values = factor_values()

    def images_uint8(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if self._packed is not None:
            return unpack_rows(self._packed, indices)
        return render(grid_factors(indices, self.factor_sizes))[:, None]


@register("dsprites_procedural")
class DSpritesProcedural(_DSpritesGrid):
    """dSprites drawn by the vectorised renderer: the exact official grid, ordering and values.

    Args:
        cache: ``False`` renders every batch on demand (~8k images/s per core); ``True`` renders the whole
            grid once into a bit-packed file (360 MiB, a few minutes) and then serves images from it
            (the fast path for training: one fancy index plus ``np.unpackbits`` per batch).
        cache_dir: folder of the cache file (default ``benchmark._io.cache_dir()``, i.e. ``$DBENCH_CACHE_DIR``
            or ``~/.cache/dbench``).
        progress: tqdm bar while building the cache (``None``: only on a terminal).
    """

    name = "dsprites_procedural"
    title = "dSprites, procedural twin (exact grid; matches genuine frames to 0.005 % of pixels)"
    stand_in = False  # exact grid and geometry; matches genuine frames to a few edge pixels

    def __init__(self, cache: bool = False, cache_dir: str | os.PathLike | None = None, progress: bool | None = None):
        super().__init__()
        self.cache_path: Path | None = None
        if cache:
            self.cache_path = packed_cache_path(cache_dir)
            if not self.cache_path.exists():
                build_packed_cache(self.cache_path, progress=progress)
            self._packed = load_packed_cache(self.cache_path, len(self))
            # A cheap guard against a corrupt or foreign file: a fixed spread of images must equal fresh renders.
            probe = np.linspace(0, len(self) - 1, 64).astype(np.int64)
            if not np.array_equal(unpack_rows(self._packed, probe)[:, 0], render(self.index_to_factors(probe))):
                raise ValueError(f"{self.cache_path}: render cache does not match the renderer; delete it to rebuild")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "renderer": f"benchmark.datasets.dsprites.render ({_renderer_fingerprint()})"}


FILE_SPEC = FileSpec(
    dataset="dsprites",
    filenames=("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"),
    url="https://github.com/deepmind/dsprites-dataset",
    twin="dsprites_procedural",
    twin_note="(same grid, order and values, drawn offline)",
)
FILE_FACTOR_NAMES = ("color",) + FACTOR_NAMES  # the six columns of latents_classes / latents_values
FILE_ARRAYS = (  # npz member, its HDF5 names, shape (None: any length), dtype kind
    ("imgs", ("imgs",), (None, IMAGE_SIZE, IMAGE_SIZE), "uint8"),
    ("latents_classes", ("latents/classes", "latents_classes"), (None, 6), "int"),
    ("latents_values", ("latents/values", "latents_values"), (None, 6), "float"),
)


@register("dsprites")
class DSprites(_DSpritesGrid):
    """The official dSprites file (``.npz``, or its ``.hdf5`` twin), loaded without pickle.

    Args:
        path: the file, or a folder holding it; default: the official file name in
            ``benchmark._io.data_dir()`` (``$DBENCH_DATA_DIR``, else ``~/.cache/dbench/data``).
        progress: unused for dSprites (one read); accepted for a uniform constructor signature.

    The npz is read member by member with ``allow_pickle=False``: ``imgs`` once (``NpzFile[key]`` would
    decompress on every access), ``latents_classes`` and ``latents_values``; the pickled ``metadata`` member
    is never opened. The HDF5 twin (``imgs``, ``latents/classes``, ``latents/values``) is read whole: its
    chunking makes per-image reads touch hundreds of chunks. The factor grid comes from ``latents_classes``
    and must be a complete row-major grid; constant factors (colour) are dropped, so the real file gives
    shape, scale, orientation, posX, posY and any smaller file in the same format works too.

    Images are kept bit-packed in memory (360 MiB for the full set instead of 2.8 GiB) and unpacked per
    batch, the same fast path as the procedural cache.

    Raises:
        DatasetFileError: (a ValueError) naming the path, the problem and where to get the file.
    """

    name = "dsprites"
    title = "dSprites (official file)"
    FILE_SPEC = FILE_SPEC

    def __init__(self, path: str | os.PathLike | None = None, progress: bool | None = None):
        super().__init__()
        del progress
        self.path = FILE_SPEC.resolve(path)
        self.source = f"file:{self.path}"
        imgs, classes, values = self._read(self.path)
        n = imgs.shape[0]
        if classes.shape[0] != n or values.shape[0] != n:
            raise DatasetFileError(self.path, f"'imgs' has {n} rows but the latents have {classes.shape[0]} (classes) "
                                   f"and {values.shape[0]} (values)", FILE_SPEC)
        if imgs.max(initial=0) > 1:
            raise DatasetFileError(self.path, f"'imgs' has values up to {int(imgs.max())}, expected 0/1 "
                                   "(a re-encoded copy?)", FILE_SPEC)
        grid = derive_grid(classes, values, self.path, FILE_SPEC, FILE_FACTOR_NAMES)
        columns, self.factor_sizes, self.factor_values = grid
        self.factor_names = tuple(FILE_FACTOR_NAMES[c] for c in columns)
        # Pack in slices so the peak stays near the unpacked array itself.
        self._packed = np.empty((n, _PACKED_ROW), dtype=np.uint8)
        for start in range(0, n, 65536):
            self._packed[start : start + 65536] = np.packbits(imgs[start : start + 65536].reshape(-1, IMAGE_SIZE * IMAGE_SIZE), axis=1)

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if sniff_format(path, FILE_SPEC) == "npz":
            with NpzMembers(path, FILE_SPEC) as z:
                headers = [z.header(key) for key, *_ in FILE_ARRAYS]  # every member present before any check
                for (key, _, shape, kind), header in zip(FILE_ARRAYS, headers):
                    check_array(*header, path, FILE_SPEC, key, shape, kind)
                return tuple(z.read(key) for key, *_ in FILE_ARRAYS)
        with open_hdf5(path, FILE_SPEC) as h5:
            arrays = []
            for _, keys, shape, kind in FILE_ARRAYS:
                dset = hdf5_dataset(h5, path, FILE_SPEC, *keys)
                check_array(dset.shape, dset.dtype, path, FILE_SPEC, dset.name.lstrip("/"), shape, kind)
                arrays.append(read_hdf5(dset, path, FILE_SPEC))
            return tuple(arrays)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "official_grid": self.factor_sizes == FACTOR_SIZES}
