"""Models the suite did not train: an encoder (and its decoder) from a file or a Python callable.

:func:`load` is the one place that opens them (``dbench evaluate --encoder SPEC [--decoder SPEC]``):

- a TorchScript file (``torch.jit.save``), opened with ``torch.jit.load`` (it builds TorchScript objects only);
- a ``torch.export`` archive (``torch.export.save``, a ``.pt2`` file), opened with ``torch.export.load`` once the
  archive is checked to hold plain tensors only (:func:`_unsafe_export_entry`: this torch's loader would unpickle
  tensor-subclass weights and Python-object constants with ``torch.load(weights_only=False)``/``pickle.loads``,
  retry sample inputs that fail ``weights_only=True`` with full unpickling, and load compiled AOTInductor code),
  and its graph is checked to call torch operators only;
- a Python callable, ``module:function`` (importable from ``PYTHONPATH`` or the current directory) or
  ``path/to/file.py:function`` (imported by :func:`benchmark.plugins.load_plugin`, like a ``--plugin`` file).

A ``torch.save`` file holds pickled Python objects and is refused with what to save instead: nothing is
unpickled from data. A file is hashed and loaded from the same bytes.

Conventions (README "Evaluating your own model"): an encoder maps images ``(N, C, 64, 64)`` float32 in [0, 1]
to means ``(N, D)`` or to a tuple ``(means, log-variances)``, both ``(N, D)``; a decoder maps codes ``(N, D)``
float32 to Bernoulli logits ``(N, C, 64, 64)``. The module of a file takes and returns torch tensors (on the
evaluation device); a callable takes a numpy array and returns numpy arrays or torch tensors. An
:class:`External` always takes a numpy batch; :func:`benchmark.evaluation.evaluate` checks what it returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmark._io import UserError
from benchmark.plugins import load_plugin

#: How a model was given (``run.encoder_kind``, ``run.decoder_kind`` of its records).
KINDS = ("torchscript", "export", "callable")
_SAVE_HINT = ("save it with torch.jit.save(torch.jit.script(model), PATH) or "
              "torch.export.save(torch.export.export(model, (images,), dynamic_shapes=...), PATH.pt2)")


@dataclasses.dataclass(frozen=True)
class External:
    """A loaded encoder or decoder: ``fn(batch numpy) -> what the model returns``, and what identifies it.

    Attributes:
        fn: the model on a numpy batch (a file's module runs under ``torch.no_grad`` on its device).
        kind: one of :data:`KINDS`.
        label: the argument as given, for messages (``--encoder enc.pt``).
        path: the model file, or the file that defines the callable (None when it has none).
        sha256: SHA-256 of that file (a callable's is a partial identity: what it imports or reads is not in it).
        name: a callable's qualified name (``module:function`` or ``/abs/file.py:function``); None for a file.
    """

    fn: Callable[[np.ndarray], Any]
    kind: str
    label: str
    path: str | None = None
    sha256: str | None = None
    name: str | None = None

    def __call__(self, batch: np.ndarray) -> Any:
        return self.fn(batch)

    def identity(self) -> dict[str, str | None]:
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "name": self.name}


def identity(fn: Any) -> dict[str, str | None]:
    """``{kind, path, sha256, name}`` of an :class:`External`, or of any Python callable (kind ``callable``)."""
    if isinstance(fn, External):
        return fn.identity()
    path = None
    for obj in (fn, getattr(fn, "__call__", None)):  # a function, or an instance of a class with __call__
        try:
            path = inspect.getsourcefile(obj)
            break
        except TypeError:  # a builtin, a partial, a method-wrapper: no source file
            continue
    digest = _file_digest(path) if path else None
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return {"kind": "callable", "path": path if digest else None, "sha256": digest,
            "name": f"{getattr(fn, '__module__', None) or type(fn).__module__}:{name}"}


def load(spec: str | os.PathLike, what: str = "--encoder", device: str = "cpu") -> External:
    """Open ``spec``: a TorchScript or ``torch.export`` file, ``module:function`` or ``path/file.py:function``.

    ``what`` names the argument in messages; every problem is a :class:`~benchmark._io.UserError` naming it and
    the file (the CLI prints it on one line and exits 2). ``device``: where a file's module runs.
    """
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return _load_file(path, text, what, device)
    module, sep, attr = text.rpartition(":")
    if sep and module and all(part.isidentifier() for part in attr.split(".")):
        return _load_callable(module, attr, text, what)
    if path.exists():
        raise UserError(f"{what} {text}: is a directory; give a TorchScript or torch.export file, or module:function")
    raise UserError(f"{what} {text}: no such file; give a TorchScript (torch.jit.save) or torch.export (.pt2) file, "
                    "or a Python callable as module:function or path/to/file.py:function")


# ---------------------------------------------------------------------------------------------- files
def _file_digest(path: str | os.PathLike) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _load_file(path: Path, spec: str, what: str, device: str) -> External:
    data = path.read_bytes()  # hashed and loaded from the same bytes
    kind = _sniff(data, f"{what} {spec}")
    loader = "torch.jit.load" if kind == "torchscript" else "torch.export.load"
    try:
        if kind == "torchscript":
            module = torch.jit.load(io.BytesIO(data), map_location=device).eval()
        else:
            module = _open_export(data, f"{what} {spec}", device)
    except UserError:
        raise
    except Exception as exc:  # a damaged archive: torch's message, first line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{what} {spec}: {loader} failed: {first}") from None

    def call(batch: np.ndarray) -> Any:
        with torch.no_grad():
            return module(torch.as_tensor(np.asarray(batch, dtype=np.float32), device=device))

    return External(call, kind, f"{what} {spec}", str(path.resolve()), hashlib.sha256(data).hexdigest())


def _sniff(data: bytes, where: str) -> str:
    """``torchscript`` or ``export`` from the archive's entry names (no payload is read); UserError otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            tails = {n.split("/", 1)[1]: n for n in names if "/" in n}
            fmt = archive.read(tails["archive_format"]).strip() if "archive_format" in tails else None
    except zipfile.BadZipFile:
        raise UserError(f"{where}: not a TorchScript or torch.export file (not a zip archive); {_SAVE_HINT}") from None
    if fmt == b"pt2":
        return "export"
    if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        raise UserError(f"{where}: a torch.save file (pickled Python objects, which this suite never loads), not a "
                        f"TorchScript or torch.export file; {_SAVE_HINT}")
    raise UserError(f"{where}: a zip archive but not a TorchScript or torch.export file; {_SAVE_HINT}")


#: Prefixes of the entries of a torch.export archive that hold no pickle (weight and constant configs and sample
#: inputs are checked on their own).
_PLAIN_EXPORT_ENTRIES = ("archive_format", "archive_version", "byteorder", ".data/", "models/", "extra/",
                         "data/weights/weight_", "data/constants/tensor_", "data/sample_inputs/")


def _unsafe_export_entry(archive: zipfile.ZipFile) -> str:
    """Why loading this ``torch.export`` archive would unpickle or run something ('' when it would not)."""
    for name in archive.namelist():
        tail = name.split("/", 1)[1] if "/" in name else ""
        if tail.startswith(("data/weights/", "data/constants/")) and tail.endswith("_config.json"):
            config = json.loads(archive.read(name)).get("config", {})
            for key, meta in config.items():
                if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_")):
                    return f"its {key!r} is a pickled tensor or Python object ({tail})"
        elif tail.startswith("data/sample_inputs/"):
            try:  # torch.export.load would retry these with full unpickling if this failed
                torch.load(io.BytesIO(archive.read(name)), weights_only=True)
            except Exception as exc:
                return f"its sample inputs {tail} are not plain tensors ({type(exc).__name__})"
        elif not tail.startswith(_PLAIN_EXPORT_ENTRIES) or tail.endswith(".pt"):  # .pt: an older format's state dict
            return f"it holds {tail or name!r}, which is compiled code, a pickled state dict or an unknown entry"
    return ""


def _open_export(data: bytes, where: str, device: str) -> torch.nn.Module:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        reason = _unsafe_export_entry(archive)
    if reason:
        raise UserError(f"{where}: refused: {reason}; this suite loads no pickled objects: export a model whose "
                        "weights and constants are plain tensors")
    program = torch.export.load(io.BytesIO(data))
    graphs = [m.graph for m in program.graph_module.modules() if isinstance(m, torch.fx.GraphModule)]
    for node in (node for graph in graphs for node in graph.nodes):  # a deserialised node may call any torch.* function
        if node.op not in ("placeholder", "get_attr", "output") and not (
                node.op == "call_function" and _is_operator(node.target)):
            raise UserError(f"{where}: refused: its graph calls {node.target!r} ({node.op}), not a torch operator")
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    value = inputs[0].meta.get("val") if inputs else None
    if value is not None and getattr(value, "ndim", 0) and isinstance(value.shape[0], int):
        raise UserError(f"{where}: exported for a fixed batch of {value.shape[0]}; export it with a dynamic batch "
                        "dimension: dynamic_shapes=({0: torch.export.Dim('batch')},)")
    if str(device) != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module()


def _is_operator(target: Any) -> bool:
    """A torch operator, or the Python arithmetic export uses on sizes (``operator.*``, ``math.*``, ``torch.sym_*``)."""
    if isinstance(target, (torch._ops.OpOverload, torch._ops.HigherOrderOperator)):
        return True
    module, name = getattr(target, "__module__", ""), getattr(target, "__name__", "")
    return module in ("_operator", "math") or (module == "torch" and name.lstrip("_").startswith("sym_"))


# ---------------------------------------------------------------------------------------------- callables
def _load_callable(module_name: str, attr: str, spec: str, what: str) -> External:
    where = f"{what} {spec}"
    if module_name.endswith(".py"):
        file = Path(module_name).expanduser()
        if not file.is_file():
            raise UserError(f"{where}: no such Python file {module_name}")
        module = load_plugin(file, what=what)  # the --plugin loader: a failure names the file and line
        name = f"{file.resolve()}:{attr}"
    else:
        if not all(part.isidentifier() for part in module_name.split(".")):
            raise UserError(f"{where}: {module_name!r} is neither a file nor a module path; give "
                            "module:function or path/to/file.py:function")
        if os.getcwd() not in sys.path:  # `dbench` (a console script) does not look in the current directory
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise UserError(f"{where}: cannot import {module_name} ({type(exc).__name__}: {exc}); the module must be "
                            "importable from PYTHONPATH or the current directory") from None
        name = spec
    fn: Any = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            found = sorted(k for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_")
                           and v.__module__ == module.__name__)
            more = f" (and {len(found) - 10} more)" if len(found) > 10 else ""
            raise UserError(f"{where}: {module_name} has no {attr!r}; its functions: "
                            f"{', '.join(found[:10]) or 'none'}{more}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise UserError(f"{where}: {attr} is a {type(fn).__name__}, not a function")
    path = getattr(module, "__file__", None)
    digest = _file_digest(path) if path else None
    return External(fn, "callable", where, str(Path(path).resolve()) if digest else None, digest, name)


__all__ = ["External", "KINDS", "identity", "load"]
