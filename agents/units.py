"""The unit registry: Khánh Hòa after the 1 July 2025 reorganisation.

Shipped as ``agents/data/khanh-hoa-units-2025.csv`` (columns ``unit_id, name, type,
level``); an operator can point ``CCHC_UNITS_FILE`` at a replacement. Units that send
events without being in the registry are still monitored; they show their id as name.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

COLUMNS = ("unit_id", "name", "type", "level")
TYPES = ("xa", "phuong", "dac_khu", "so", "trung_tam")
LEVELS = ("commune", "province")


class RegistryError(ValueError):
    """A units file that cannot be used."""


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    type: str
    level: str


def load_units(path: Path | None = None) -> dict[str, Unit]:
    """The registry by unit_id, in file order."""
    if path is None:
        text = (
            resources.files("agents")
            .joinpath("data", "khanh-hoa-units-2025.csv")
            .read_text(encoding="utf-8")
        )
        source = "built-in registry"
    else:
        text, source = path.read_text(encoding="utf-8"), str(path)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise RegistryError(f"{source}: expected the columns {', '.join(COLUMNS)}")
    units: dict[str, Unit] = {}
    for line, row in enumerate(rows, start=2):
        unit = Unit(**{column: (row[column] or "").strip() for column in COLUMNS})
        if not unit.unit_id or unit.type not in TYPES or unit.level not in LEVELS:
            raise RegistryError(f"{source}:{line}: bad row {row}")
        if unit.unit_id in units:
            raise RegistryError(f"{source}:{line}: duplicate unit_id {unit.unit_id}")
        units[unit.unit_id] = unit
    return units
