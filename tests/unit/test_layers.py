"""Imports go one way: schemas ← kpi ← streams ← agents, clients ← service.

Each package is one layer (the README's layout table has one row per folder): a module
imports only from its own package or the layers below. The agents and the client tools
stand side by side: neither imports the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"schemas": 0, "kpi": 1, "streams": 2, "agents": 3, "clients": 3, "service": 4}


def layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in LAYERS}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in LAYERS:
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found.append((name, path))
    return found


def own_module(name: str) -> str:
    """``streams.instruments.REGISTRY`` → ``streams.instruments``."""
    known = {module for module, _ in modules()}
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_no_module_imports_from_a_layer_above_its_own(module: str, path: Path) -> None:
    package = module.split(".")[0]
    upward = sorted(
        target
        for target in map(own_module, imports_of(path))
        if target.split(".")[0] != package and layer(target) >= layer(module)
    )
    assert not upward, f"{module} imports {upward} from a layer above it or beside it"
