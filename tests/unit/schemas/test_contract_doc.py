"""The contract page (docs/contract.md) keeps step with the schema files the codec uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.codec import load_schema

CONTRACT = (Path(__file__).resolve().parents[3] / "docs" / "contract.md").read_text("utf-8")
SCHEMAS = sorted(
    path.name.removesuffix(".schema.json")
    for path in (Path(__file__).resolve().parents[3] / "schemas" / "json").glob("*.json")
)


def names(schema: dict[str, Any]) -> set[str]:
    """Every property name and enumerated value of a schema, nested ones included."""
    found: set[str] = set()
    for name, spec in schema.get("properties", {}).items():
        found.add(name)
        found.update(str(value) for value in spec.get("enum", ()) if isinstance(value, str))
        found |= names(spec)
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_field_and_value_is_in_the_contract_page(name: str) -> None:
    schema = load_schema(name)
    assert f"**{schema['title']}**" in CONTRACT, f"{schema['title']} is not described"
    missing = sorted(n for n in names(schema) if f"`{n}`" not in CONTRACT)
    assert not missing, f"docs/contract.md does not mention {missing} of {name}"
