"""Finding, sniffing and validating the official dataset files; one error type with actionable messages.

Every load-time problem (missing, truncated, wrong format, missing key, wrong dtype or shape, a factor grid
that is incomplete or out of order) raises :class:`DatasetFileError` naming the path, what is wrong and what
to do: where to get the official file, or which offline procedural twin to use instead.
"""

from __future__ import annotations

import math
import os
import zipfile
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark import _io
from benchmark.datasets.base import grid_strides

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class FileSpec:
    """What a real-file dataset expects: its official file names, where to get them, its offline twin."""

    dataset: str
    filenames: tuple[str, ...]
    url: str
    twin: str
    twin_note: str = ""

    def advice(self) -> str:
        note = f" {self.twin_note}" if self.twin_note else ""
        return (f"Get {' or '.join(self.filenames)} from {self.url} and put it in {_io.data_dir()} "
                f"(the folder $DBENCH_DATA_DIR names), or pass its path; "
                f"or use the offline dataset {self.twin!r}{note}.")

    def find(self, path: str | os.PathLike | None = None) -> Path | None:
        """The file to load: ``path`` itself (a file, or a folder holding an official name), else the first
        official name found in ``benchmark._io.data_dir()``; None when nothing is there."""
        p = _io.data_dir() if path is None else Path(path).expanduser()
        if path is not None and not p.is_dir():
            return p if p.is_file() else None
        return next((p / n for n in self.filenames if (p / n).is_file()), None)

    def resolve(self, path: str | os.PathLike | None = None) -> Path:
        """Like :meth:`find` but raises :class:`DatasetFileNotFoundError` naming where it looked."""
        if (found := self.find(path)) is not None:
            return found
        if path is None:
            raise DatasetFileNotFoundError(_io.data_dir(), f"no {' or '.join(self.filenames)} in the data folder", self)
        p = Path(path).expanduser()
        problem = f"folder holds none of {', '.join(self.filenames)}" if p.is_dir() else "no such file"
        raise DatasetFileNotFoundError(p, problem, self)


class DatasetFileError(ValueError, _io.UserError):
    """A dataset file cannot be used; the message names the path, the problem and the remedy."""

    def __init__(self, path: os.PathLike | str | None, problem: str, spec: FileSpec):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{spec.dataset}: {where}{problem}. {spec.advice()}")


class DatasetFileNotFoundError(DatasetFileError, FileNotFoundError):
    """No file at the given path, or none of the official names in the data folder."""


def sniff_format(path: Path, spec: FileSpec) -> str:
    """``"npz"`` or ``"hdf5"`` from the file's first bytes (never from its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DatasetFileError(path, f"cannot be read ({exc.strerror or exc})", spec) from exc
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head == HDF5_MAGIC:
        return "hdf5"
    if not head:
        raise DatasetFileError(path, "file is empty (an interrupted download?)", spec)
    raise DatasetFileError(path, f"is neither an npz (zip) nor an HDF5 file (first bytes {head!r})", spec)


class NpzMembers(AbstractContextManager):
    """Read single arrays from an ``.npz`` without pickle and without touching other members.

    ``np.load(...)[key]`` would also work, but reading the header first lets shape and dtype be checked
    before decompressing hundreds of MB, and an object member (the official ``metadata``) is never opened.
    """

    def __init__(self, path: Path, spec: FileSpec):
        self.path, self.spec = path, spec
        try:
            self._zip = zipfile.ZipFile(path)
            self.names = {n[:-4] if n.endswith(".npy") else n: n for n in self._zip.namelist()}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DatasetFileError(path, f"npz file is truncated or corrupt ({exc}); download it again", spec) from exc

    def __exit__(self, *exc) -> None:
        self._zip.close()

    @contextmanager
    def _member(self, key: str):
        if key not in self.names:
            raise DatasetFileError(self.path, f"npz has no array {key!r} (it has {sorted(self.names)})", self.spec)
        try:
            with self._zip.open(self.names[key]) as f:
                yield f
        except Exception as exc:  # zlib, zip CRC and format errors all mean a damaged member
            raise DatasetFileError(self.path, f"npz member {key!r} is truncated or corrupt ({exc})", self.spec) from exc

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        with self._member(key) as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
        return tuple(shape), np.dtype(dtype)

    def read(self, key: str) -> np.ndarray:
        """The array ``key``; call :meth:`header` first to check its shape and dtype before decompressing it."""
        with self._member(key) as f:
            return np.lib.format.read_array(f, allow_pickle=False)


def open_hdf5(path: Path, spec: FileSpec):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetFileError(path, f"HDF5 file is truncated or corrupt ({exc}); download it again", spec) from exc


def hdf5_dataset(h5, path: Path, spec: FileSpec, *keys: str):
    """The first of ``keys`` present in the open HDF5 file, as an h5py Dataset."""
    for key in keys:
        if key in h5:
            obj = h5[key]
            if not hasattr(obj, "shape"):
                raise DatasetFileError(path, f"HDF5 object {key!r} is a group, expected an array", spec)
            return obj
    present = []
    h5.visit(present.append)
    raise DatasetFileError(path, f"HDF5 file has no array {' or '.join(map(repr, keys))} (it has {present})", spec)


def read_hdf5(dset, path: Path, spec: FileSpec, sel=()) -> np.ndarray:
    """``dset[sel]`` (default: the whole array) as numpy; a damaged chunk raises :class:`DatasetFileError`."""
    try:
        return dset[sel]
    except Exception as exc:  # h5py raises OSError/RuntimeError/ValueError for damaged chunks
        key = dset.name.lstrip("/")
        raise DatasetFileError(path, f"HDF5 array {key!r} cannot be read: truncated or corrupt ({exc})", spec) from exc


def check_array(arr_shape, arr_dtype, path: Path, spec: FileSpec, key: str, shape: Sequence[int | None], kind: str) -> None:
    """Check an array's shape (``None`` = any length) and dtype kind (``"uint8"``, ``"int"``, ``"float"``)."""
    if len(arr_shape) != len(shape) or any(e is not None and e != a for a, e in zip(arr_shape, shape)):
        want = "(" + ", ".join("N" if e is None else str(e) for e in shape) + ")"
        raise DatasetFileError(path, f"{key!r} has shape {tuple(arr_shape)}, expected {want}", spec)
    dtype = np.dtype(arr_dtype)
    if not np.issubdtype(dtype, {"uint8": np.uint8, "int": np.integer, "float": np.floating}[kind]):
        raise DatasetFileError(path, f"{key!r} has dtype {dtype}, expected {kind}", spec)


def derive_grid(
    classes: np.ndarray, values: np.ndarray | None, path: Path, spec: FileSpec, names: Sequence[str]
) -> tuple[list[int], tuple[int, ...], tuple[np.ndarray, ...]]:
    """Check ``classes (N, K)`` is a complete row-major grid (last column fastest); return ``(columns, sizes,
    values)`` of its non-constant columns, in file order.

    Constant columns (size 1, like dSprites' colour) are dropped. ``values`` (N, K), when given, must be
    one value per class; the grid of each factor is read from it (else the values are the class indices).
    """
    n, k = classes.shape
    if n == 0:
        raise DatasetFileError(path, "file holds no images", spec)
    mins = classes.min(axis=0)
    if (mins != 0).any():
        col = int(np.argmax(mins != 0))
        raise DatasetFileError(path, f"factor {names[col]!r} classes start at {mins[col]}, expected 0", spec)
    sizes = classes.max(axis=0).astype(np.int64) + 1
    total = math.prod(int(x) for x in sizes)  # Python ints: a corrupt class value must not overflow
    if total != n:
        raise DatasetFileError(path, f"incomplete factor grid: {n} rows, but the factor sizes "
                               f"{dict(zip(names, sizes.tolist()))} make {total} combinations", spec)
    strides = grid_strides(sizes)
    idx = classes.astype(np.int64) @ strides
    misplaced = idx != np.arange(n, dtype=np.int64)
    if misplaced.any():
        row = int(np.argmax(misplaced))
        expected = ((row // strides) % sizes).tolist()
        if np.unique(idx).size == n:
            raise DatasetFileError(path, f"rows are shuffled: row {row} has classes {classes[row].tolist()}, a "
                                   f"complete row-major grid {tuple(sizes.tolist())} (last factor fastest) has "
                                   f"{expected} there; the loader needs the official order", spec)
        raise DatasetFileError(path, "incomplete factor grid: some class combinations repeat and others are missing "
                               f"(row {row} has {classes[row].tolist()}, expected {expected})", spec)
    columns = [c for c in range(k) if sizes[c] > 1]
    grid_values = []
    for c in columns:
        if values is None:
            per_class = np.arange(sizes[c], dtype=np.float64)
        else:
            per_class = values[np.arange(sizes[c]) * strides[c], c].astype(np.float64)
            if not np.allclose(values[:, c], per_class[classes[:, c]], rtol=0, atol=1e-6):
                raise DatasetFileError(path, f"factor {names[c]!r}: values disagree with classes", spec)
        grid_values.append(per_class)
    return columns, tuple(int(sizes[c]) for c in columns), tuple(grid_values)
