"""The unit registry: Khánh Hòa after the 1 July 2025 reorganisation.

Shipped as ``kpi/data/khanh-hoa-units-2025.csv`` (columns ``unit_id, name, type, level``
and the optional ``dvcqg_code``, a code the national portal's sync records may give as
``DonViXuLy``, and ``aliases``, other names they give the unit, separated by ``|``); an
operator can point ``CCHC_UNITS_FILE`` at a replacement. The built-in codes follow the
format of electronic agency codes (Decision 20/2020/QĐ-TTg) but are illustrative; the
aliases are the names of the provincial agencies' offices that handle dossiers (the land
registration office and its branches under their names before July 2025, the Public
Administration Service Centre) and should be checked against what the province's systems
send. Units that send events
without being in the registry are still monitored: :func:`lookup` gives them their id as
name and ``unlisted`` as type and level.

    >>> lookup({}, "xa-moi").type
    'unlisted'
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

COLUMNS = ("unit_id", "name", "type", "level")
OPTIONAL_COLUMNS = ("dvcqg_code", "aliases")
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
    aliases: tuple[str, ...] = ()
    """Other names one-stop systems give the unit as ``DonViXuLy`` (column ``aliases``,
    separated by ``|``)."""


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
        fields = {column: (row[column] or "").strip() for column in columns}
        aliases = fields.pop("aliases", "")
        unit = Unit(**fields, aliases=tuple(a.strip() for a in aliases.split("|") if a.strip()))
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


TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
"""The five Vietnamese tone marks (huyền, sắc, ngã, hỏi, nặng) as combining characters."""


KEYS_CACHED = 4096
"""Names whose keys are remembered: a province's systems send a few hundred agencies' and
officials' names again and again; junk names only push the oldest out."""


@functools.lru_cache(maxsize=KEYS_CACHED)
def name_key(name: str, province: str = "") -> str:
    """A unit's name reduced so that the ways one-stop systems write it meet: NFC, case
    folded, spaces collapsed, each word's tone mark wherever it was placed ("Hòa" and
    "Hoà", "Ủy" and "Uỷ"), without a leading "UBND" or "Ủy ban nhân dân" nor a trailing
    name of the ``province`` (after a space, a comma or a dash).

    >>> name_key("UBND  xã Cam Lâm") == name_key("Ủy ban nhân dân xã Cam Lâm")
    True
    >>> name_key("Sở Tư pháp tỉnh Khánh Hoà", "Khánh Hòa") == name_key("SỞ TƯ PHÁP", "Khánh Hòa")
    True
    >>> name_key("Uỷ ban nhân dân phường Bắc Nha Trang") == name_key("phường Bắc Nha Trang")
    True
    """
    text = folded(name)
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
            break
    tail = _toned_text(province.casefold())
    if tail and text.endswith(tail):
        rest = text[: -len(tail)].rstrip(" ,-–")
        rest = rest.removesuffix(_PROVINCE_WORD).rstrip(" ,-–")
        text = rest or text
    return text


@functools.lru_cache(maxsize=KEYS_CACHED)
def folded(text: str) -> str:
    """A name as people write it many ways, reduced to one key: NFC, case folded, spaces
    collapsed, each word's tone mark wherever it was placed.

    >>> folded("Cán bộ  MỘT CỬA") == folded("cán bộ một cửa")
    True
    """
    return _toned_text(text.casefold())


def _toned_text(text: str) -> str:
    return " ".join(_toned(word) for word in unicodedata.normalize("NFC", text).split())


def _toned(word: str) -> str:
    """A word with its tone mark moved to its end (decomposed, then composed again)."""
    parts = unicodedata.normalize("NFD", word)
    tones = "".join(c for c in parts if c in TONES)
    if not tones:
        return word
    base = "".join(c for c in parts if c not in TONES)
    return unicodedata.normalize("NFC", base) + tones


_PREFIXES = tuple(_toned_text(prefix) + " " for prefix in ("ubnd", "ủy ban nhân dân"))
_PROVINCE_WORD = _toned_text("tỉnh")


class Directory:
    """Which registry unit a sync record's ``DonViXuLy`` names (contract §9.2): its
    ``dvcqg_code``; else its name or one of its aliases, compared by :func:`name_key`;
    else, when ``DonViXuLy`` is missing or matches nothing, the message's ``madonvi`` as a
    ``dvcqg_code``.

    >>> units = {"xa-cam-lam": Unit("xa-cam-lam", "Xã Cam Lâm", "xa", "commune", "000.18.30.H34")}
    >>> directory = Directory(units, "Khánh Hòa")
    >>> directory.find("UBND xã Cam Lâm, tỉnh Khánh Hoà"), directory.find("000.18.30.H34")
    ('xa-cam-lam', 'xa-cam-lam')
    >>> directory.find("UBND xã Mới", "000.18.30.H34"), directory.find("UBND xã Mới")
    ('xa-cam-lam', None)
    """

    def __init__(self, units: Mapping[str, Unit], province: str = "") -> None:
        self.province = province
        self.codes = by_dvcqg_code(units)
        self.names: dict[str, str] = {}
        for unit in units.values():
            for name in (unit.name, *unit.aliases):
                key = name_key(name, province)
                other = self.names.setdefault(key, unit.unit_id)
                if other != unit.unit_id:
                    raise RegistryError(
                        f"the name {name!r} of {unit.unit_id} reads as that of {other}"
                    )

    def find(self, donvixuly: str | None, madonvi: str | None = None) -> str | None:
        """The registry unit, or None when nothing matches."""
        if donvixuly:
            found = self.codes.get(donvixuly) or self.names.get(name_key(donvixuly, self.province))
            if found is not None:
                return found
        return self.codes.get(madonvi) if madonvi else None
