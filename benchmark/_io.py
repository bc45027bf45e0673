"""Small shared helpers: atomic writes and the environment versions every result records.

Everything the suite writes (checkpoints, configs, result records, caches, figures) goes through a
temporary file in the destination folder followed by ``os.replace``, so a crash or a concurrent writer
never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator


# The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the final file the usual permissions (0666 minus the umask).
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The JSON values of a JSON-lines file, one per non-blank line; ``[]`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _json_default(obj: Any) -> Any:
    # numpy scalars and paths appear in configs and records; store them as plain JSON values.
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store {type(obj).__name__} as JSON: {obj!r}")


def environment_versions() -> dict[str, str]:
    """Versions recorded with every result (keys without the ``env.`` prefix)."""
    import numpy
    import sklearn

    import benchmark

    versions = {
        "suite": benchmark.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "sklearn": sklearn.__version__,
    }
    try:
        import torch

        versions["torch"] = str(torch.__version__)
    except ImportError:  # the datasets and metrics layers work without torch
        versions["torch"] = "absent"
    return versions


def cache_dir() -> Path:
    """Folder for derived files (render caches, converted datasets): ``$DBENCH_CACHE_DIR`` or ``~/.cache/dbench``."""
    return Path(os.environ.get("DBENCH_CACHE_DIR") or Path.home() / ".cache" / "dbench")


def data_dir() -> Path:
    """Folder searched for the official dataset files: ``$DBENCH_DATA_DIR`` or ``~/.cache/dbench/data``."""
    return Path(os.environ.get("DBENCH_DATA_DIR") or Path.home() / ".cache" / "dbench" / "data")


def check_writable(path: str | os.PathLike, what: str) -> Path:
    """Make sure a file can be written at ``path`` (its folder exists or can be made, and accepts files)
    before long work starts; :class:`UserError` naming ``what`` and the path otherwise."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot create its folder ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{what} {path}: not writable here; choose another path")
    return path


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class UserError(Exception):
    """A mistake in what the user gave (an argument, a path, a file, a spec, a checkpoint): the command line
    prints its message as one line and exits 2. Every error class of the suite that describes bad input
    derives from it; anything else that escapes a command is a bug and keeps its traceback."""


class LockedError(RuntimeError, UserError):
    """A run directory another process holds (the message names the holder)."""


@contextlib.contextmanager
def exclusive_lock(folder: str | os.PathLike, holder: str) -> Iterator[None]:
    """Hold ``<folder>/.lock`` exclusively (``fcntl.flock``) while the block runs; released on any exit.

    A second process gets :class:`LockedError` at once, naming what holds the folder (``holder``, pid, host).
    The lock dies with its process, so a killed run never leaves the folder locked.
    """
    path = Path(folder) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
            raise LockedError(f"{path.parent} is in use by {held}; wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()} on {socket.gethostname()})".encode(), 0)
        yield
    finally:
        os.close(fd)
