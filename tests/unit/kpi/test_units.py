"""The units registry: the built-in one, an operator's replacement, and unlisted units."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.units import UNLISTED, RegistryError, Unit, load_units, lookup


def test_the_built_in_registry_is_khanh_hoa_after_2025() -> None:
    units = load_units()
    communes = [u for u in units.values() if u.level == "commune"]
    assert len(communes) == 65
    assert {u.type for u in communes} == {"xa", "phuong", "dac_khu"}
    assert all(u.name and u.unit_id.isascii() for u in units.values())


def test_a_replacement_file(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("unit_id,name,type,level\nxa-a,Xã A,xa,commune\n", encoding="utf-8")
    assert load_units(path) == {"xa-a": Unit("xa-a", "Xã A", "xa", "commune")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name\nxa-a,A\n", "expected the columns"),
        ("unit_id,name,type,level\nxa-a,A,city,commune\n", ":2: bad row"),
        ("unit_id,name,type,level\nxa-a,A,xa,commune\nxa-a,B,xa,commune\n", "duplicate unit_id"),
    ],
)
def test_bad_registry_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=message):
        load_units(path)


def test_lookup_gives_unlisted_units_their_id_as_name() -> None:
    units = load_units()
    assert lookup(units, "xa-cam-lam") == units["xa-cam-lam"]
    assert lookup(units, "not-listed") == Unit("not-listed", "not-listed", UNLISTED, UNLISTED)
