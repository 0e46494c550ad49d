"""The unit registry: Khánh Hòa after the 1 July 2025 reorganisation.

Shipped as ``kpi/data/khanh-hoa-units-2025.csv`` (columns ``unit_id, name, type,
level`` and the optional ``dvcqg_code``, the code the national portal's sync records give
as ``DonViXuLy``); an operator can point ``CCHC_UNITS_FILE`` at a replacement. The built-in
codes follow the format of electronic agency codes (Decision 20/2020/QĐ-TTg) but are
illustrative: a province replaces them with the codes its one-stop systems send. Units that send
events without being in the registry are still monitored: :func:`lookup` gives them
their id as name and ``unlisted`` as type and level.

    >>> lookup({}, "xa-moi")
    Unit(unit_id='xa-moi', name='xa-moi', type='unlisted', level='unlisted', dvcqg_code='')
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

COLUMNS = ("unit_id", "name", "type", "level")
OPTIONAL_COLUMNS = ("dvcqg_code",)
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
    dvcqg_code: str = ""


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
    header = tuple(rows[0]) if rows else ()
    if header[: len(COLUMNS)] != COLUMNS or not set(header[len(COLUMNS) :]) <= {*OPTIONAL_COLUMNS}:
        raise RegistryError(
            f"{source}: expected the columns {', '.join(COLUMNS)} "
            f"(and optionally {', '.join(OPTIONAL_COLUMNS)})"
        )
    columns = [column for column in (*COLUMNS, *OPTIONAL_COLUMNS) if column in header]
    units: dict[str, Unit] = {}
    codes: set[str] = set()
    for line, row in enumerate(rows, start=2):
        unit = Unit(**{column: (row[column] or "").strip() for column in columns})
        if not unit.unit_id or unit.type not in TYPES or unit.level not in LEVELS:
            raise RegistryError(f"{source}:{line}: bad row {row}")
        if unit.unit_id in units:
            raise RegistryError(f"{source}:{line}: duplicate unit_id {unit.unit_id}")
        if unit.dvcqg_code and unit.dvcqg_code in codes:
            raise RegistryError(f"{source}:{line}: duplicate dvcqg_code {unit.dvcqg_code}")
        codes.add(unit.dvcqg_code)
        units[unit.unit_id] = unit
    return units


def by_dvcqg_code(units: Mapping[str, Unit]) -> dict[str, str]:
    """unit_id by ``dvcqg_code``: how a sync record's ``DonViXuLy`` names a unit.

    >>> by_dvcqg_code({"xa-a": Unit("xa-a", "Xã A", "xa", "commune", "000.01.30.H34")})
    {'000.01.30.H34': 'xa-a'}
    """
    return {unit.dvcqg_code: unit.unit_id for unit in units.values() if unit.dvcqg_code}
