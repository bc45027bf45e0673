"""The one registry type: a name → object mapping whose failed look-up lists the valid names.

Datasets (``benchmark.datasets.DATASETS``), architectures and objectives (``benchmark.models.MODELS``,
``OBJECTIVES``) and metrics (``benchmark.metrics.METRICS``) are all :class:`Registry` objects, so the CLI, the
sweeps and the tests read them the same way and an unknown name fails the same way everywhere.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from benchmark._io import UserError

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError, UserError):
    """A registry look-up with a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(dict):
    """A name → object mapping whose failed look-up raises :class:`UnknownNameError` listing valid names.

    ``kind`` names what is registered ("dataset", "metric", ...) in that message. Insertion order is kept:
    it is the order of ``"all"`` selections; error messages list the names sorted.
    """

    def __init__(self, kind: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def __missing__(self, name: str) -> Any:
        raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {', '.join(sorted(self))}")

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an object under ``name``; a name registered twice is an error."""

        def decorator(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            return obj

        return decorator
