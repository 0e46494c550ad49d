"""The units registry: the built-in one, an operator's replacement, and unlisted units."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from kpi.units import UNLISTED, Directory, RegistryError, Unit, load_units, lookup


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


CENTRE = "trung-tam-phuc-vu-hanh-chinh-cong-tinh-khanh-hoa"
NAMES_AS_SENT = [
    ("UBND xã Cam Lâm", "xa-cam-lam"),
    ("Ủy ban nhân dân xã Cam Lâm", "xa-cam-lam"),
    ("Uỷ ban nhân dân  xã  Cam Lâm, tỉnh Khánh Hoà", "xa-cam-lam"),
    ("UBND XÃ CAM LÂM - TỈNH KHÁNH HÒA", "xa-cam-lam"),
    (unicodedata.normalize("NFD", "UBND xã Cam Lâm"), "xa-cam-lam"),
    ("Ủy ban nhân dân phường Bắc Nha Trang", "phuong-bac-nha-trang"),
    ("Sở Tư pháp tỉnh Khánh Hòa", "so-tu-phap"),
    (
        "Trung tâm Phục vụ hành chính công tỉnh Khánh Hòa",
        "trung-tam-phuc-vu-hanh-chinh-cong-tinh-khanh-hoa",
    ),
    ("Trung tâm PVHCC tỉnh Khánh Hòa", "trung-tam-phuc-vu-hanh-chinh-cong-tinh-khanh-hoa"),
    ("Chi nhánh Văn phòng Đăng ký đất đai huyện Diên Khánh", "so-nong-nghiep-va-moi-truong"),
    ("UBND tỉnh Khánh Hòa", "van-phong-uy-ban-nhan-dan-tinh"),
    ("000.18.30.H34", "xa-cam-lam"),
]


@pytest.mark.parametrize(("sent", "unit_id"), NAMES_AS_SENT)
def test_the_names_one_stop_systems_send_find_their_unit(sent: str, unit_id: str) -> None:
    assert Directory(load_units(), "Khánh Hòa").find(sent) == unit_id


def test_a_name_that_matches_nothing_falls_back_to_the_senders_code() -> None:
    directory = Directory(load_units(), "Khánh Hòa")
    assert directory.find("UBND xã Không Có", "000.18.30.H34") == "xa-cam-lam"
    assert directory.find(None, "000.18.30.H34") == "xa-cam-lam"
    assert directory.find("UBND xã Không Có") is None
    assert directory.find("Xã Cam Lâm Mới") is None, "names are whole, not prefixes"


def test_two_units_may_not_share_a_name(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "unit_id,name,type,level,dvcqg_code,aliases\n"
        "xa-a,Xã A,xa,commune,,\n"
        "xa-b,Xã B,xa,commune,,UBND xã A\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError, match="reads as that of xa-a"):
        Directory(load_units(path))
