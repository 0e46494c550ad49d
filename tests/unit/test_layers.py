"""Imports go one way: schemas ← kpi ← streams infrastructure ← agents ← streams wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = {
    "streams",  # the package itself: empty
    "streams.settings",
    "streams.topics",
    "streams.kafka",
    "streams.recovery",
    "streams.state",
    "streams.access",
    "streams.instruments",
    "streams.outbox",
    "streams.broker",
    "streams.webhooks",
    "streams.worker",
}
LAYERS = {"schemas": 0, "kpi": 1, "infrastructure": 2, "agents": 3, "wiring": 4}


def layer(module: str) -> int:
    package = module.split(".")[0]
    if package == "streams":
        return LAYERS["infrastructure" if module in INFRASTRUCTURE else "wiring"]
    return LAYERS[package]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in LAYERS or name.startswith("streams")}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("schemas", "kpi", "agents", "streams"):
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
    upward = sorted(
        target
        for target in map(own_module, imports_of(path))
        if target != module and layer(target) > layer(module)
    )
    assert not upward, f"{module} imports {upward} from a layer above it"
