"""Methods a user adds in a file of their own: ``--plugin FILE`` on every subcommand, ``plugins:`` in a spec.

A plugin is a Python file that calls :func:`benchmark.models.register_method` (docs/PLUGINS.md has a complete
example). Loading it registers its method in the same registries the built-in methods are in, so ``train``,
``sweep``, ``evaluate`` and ``report`` then treat it like one. Each file is loaded once per process, under a
module name derived from its absolute path; a sweep's Ray workers load the spec's plugins before their trial.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Iterable

from benchmark._io import UserError

_LOADED: dict[str, ModuleType] = {}


def load_plugin(path: str | os.PathLike, what: str = "--plugin") -> ModuleType:
    """Import the plugin file at ``path`` (once per process); a missing or failing file is a :class:`UserError`
    naming the file, and for a failure the line of the plugin that raised."""
    file = Path(path).expanduser().resolve()
    if str(file) in _LOADED:
        return _LOADED[str(file)]
    if not file.is_file() or file.suffix != ".py":
        raise UserError(f"{what} {path}: no such Python file; give the path of a .py file that calls "
                        "benchmark.models.register_method (docs/PLUGINS.md)")
    name = f"dbench_plugin_{file.stem}_{hashlib.sha256(str(file).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == file]
        where = f"{file}:{frames[-1].lineno}" if frames else str(file)
        raise UserError(f"{what} {path}: loading the plugin failed at {where}: {type(exc).__name__}: {exc}") from exc
    _LOADED[str(file)] = module
    return module


def load_plugins(paths: Iterable[str | os.PathLike], what: str = "--plugin") -> None:
    for path in paths:
        load_plugin(path, what)


def plugin_arguments(argv: list[str]) -> list[str]:
    """The files named by ``--plugin FILE`` / ``--plugin=FILE`` anywhere in a command line (they must be loaded
    before the parser is built: a plugin's hyperparameters become options of ``dbench train``)."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.split("=", 1)[1])
    return out


__all__ = ["load_plugin", "load_plugins", "plugin_arguments"]
