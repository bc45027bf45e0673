"""The package's layering, read from its source with ``ast`` (every import, those inside functions included).

The layers and what each may import are described in docs/ARCHITECTURE.md; this test is their enforcement.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"
#: Base helpers every layer may use.
BASE = {"_io", "_gaussian", "registry"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """``{module: every module it imports}``, with ``from X import Y`` counted as X and X.Y."""
    out: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import (the package uses absolute imports)"
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        out[_module_name(path)] = names
    return out


IMPORTS = _imports()


def _layer(module: str) -> str:
    """``benchmark.metrics.mig`` → ``metrics``; ``benchmark`` → ``benchmark``; ``torch.nn`` → ``torch``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "benchmark" and len(parts) > 1 else parts[0]


def _ours(names: set[str]) -> set[str]:
    """The layers of ours among imported names that are modules (``from benchmark import records`` → records)."""
    layers = set()
    for name in names:
        if name.split(".")[0] != "benchmark" or name == "benchmark":
            continue
        layer = _layer(name)
        if (PACKAGE / layer).is_dir() or (PACKAGE / f"{layer}.py").is_file():
            layers.add(layer)
    return layers


def _layer_imports(layer: str) -> tuple[set[str], set[str]]:
    """(layers of ours, external top-level packages) that the modules of ``layer`` import."""
    ours, external = set(), set()
    for module, names in IMPORTS.items():
        if _layer(module) == layer:
            ours |= _ours(names) - {layer}
            external |= {n.split(".")[0] for n in names if n.split(".")[0] != "benchmark"}
    return ours, external


def test_the_parser_sees_the_package():
    assert {"benchmark.metrics", "benchmark.metrics.mig", "benchmark.sweeps.tune", "benchmark.reports.plots"} <= set(IMPORTS)
    assert "torch" in _layer_imports("training")[1] and "ray" in _layer_imports("sweeps")[1]
    assert "metrics" in _layer_imports("evaluation")[0]


def test_datasets_import_only_the_base_helpers():
    ours, _ = _layer_imports("datasets")
    assert ours <= BASE, ours - BASE


def test_metrics_depend_on_arrays_only():
    ours, _ = _layer_imports("metrics")
    assert not ours & {"training", "models", "config", "evaluation", "records", "views", "sweeps", "reports", "cli"}, ours
    assert ours <= BASE, ours - BASE


def test_encoders_open_files_and_callables_and_know_no_trained_model():
    ours, _ = _layer_imports("encoders")
    assert ours <= BASE | {"plugins"}, ours


def test_reports_read_records_and_never_touch_a_model():
    ours, external = _layer_imports("reports")
    assert "torch" not in external
    assert not ours & {"training", "models", "views", "evaluation", "sweeps", "cli"}, ours


def test_only_sweeps_import_ray():
    users = {_layer(m) for m, names in IMPORTS.items() if any(n.split(".")[0] == "ray" for n in names)}
    assert users == {"sweeps"}


def test_no_import_cycle_between_layers():
    graph = {layer: _layer_imports(layer)[0] for layer in {_layer(m) for m in IMPORTS} if layer != "benchmark"}

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])

    for layer in sorted(graph):
        visit(layer, [])
