"""The unit registry: Khánh Hòa after the 1 July 2025 reorganisation.

Shipped as ``kpi/data/khanh-hoa-units-2025.csv`` (columns ``unit_id, name, type,
level``); an operator can point ``CCHC_UNITS_FILE`` at a replacement. Units that send
events without being in the registry are still monitored: :func:`lookup` gives them
their id as name and ``unlisted`` as type and level.

    >>> lookup({}, "xa-moi")
    Unit(unit_id='xa-moi', name='xa-moi', type='unlisted', level='unlisted')
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

COLUMNS = ("unit_id", "name", "type", "level")
UNLISTED = "unlisted"
"""Type and level of a unit that sends events without being in the registry."""
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


def lookup(units: Mapping[str, Unit], unit_id: str) -> Unit:
    """The registry's entry for a unit, or what is known of an unlisted one."""
    found = units.get(unit_id)
    return found if found is not None else Unit(unit_id, unit_id, UNLISTED, UNLISTED)


def load_units(path: Path | None = None) -> dict[str, Unit]:
    """The registry by unit_id, in file order."""
    if path is None:
        text = (
            resources.files("kpi")
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
