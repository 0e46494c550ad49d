"""Reading national sync records (contract §9): the mapping, and every invalid record."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.codec import InvalidEvent, parse_instant
from schemas.dvcqg import (
    MAX_SYNC_BYTES,
    decode_sync,
    digest,
    mark_names,
    read_dossier,
    read_progress,
)


def local(text: str) -> int:
    return parse_instant(text + "+07:00", "t")


RECORD: dict[str, Any] = {
    "MaHoSo": "H34.22-260302-0001",
    "MaTTHC": "1.001612",
    "TenTTHC": "Đăng ký khai sinh",
    "DonViXuLy": "000.01.30.H34",
    "KenhThucHien": "2",
    "TrangThaiHoSo": 10,
    "NgayTiepNhan": "20260302080000",
    "NgayHenTra": "20260306170000",
    "NgayKetThucXuLy": "",
    "NgayTra": "20260305100000",
    "DanhSachHoSoBoSung": [
        {
            "HoSoBoSungId": "BS-2",
            "NgayBoSung": "20260303090000",
            "NgayTiepNhanBoSung": "20260304090000",
            "NgayHenTraTruoc": "20260305170000",
        },
        {"NgayBoSung": "20260302100000", "NgayTiepNhanBoSung": ""},
    ],
}


def test_a_returned_dossier_with_supplements() -> None:
    record = read_dossier(RECORD)
    assert record.unit_code == "000.01.30.H34"
    assert record.received_at == local("2026-03-02T08:00:00")
    # the earliest supplement that gives NgayHenTraTruoc: BS-2's; NgayHenTra as given
    assert record.due_before == local("2026-03-05T17:00:00")
    assert record.due_at == local("2026-03-06T17:00:00")
    assert record.pauses == (
        ("BS-2", local("2026-03-03T09:00:00"), local("2026-03-04T09:00:00")),
        ("#1", local("2026-03-02T10:00:00"), None),
    )
    assert record.ends == (("returned", local("2026-03-05T10:00:00")),)


@pytest.mark.parametrize(
    ("change", "ends"),
    [
        ({"TrangThaiHoSo": "9", "NgayKetThucXuLy": "20260304100000"}, [("resolved", "04")]),
        ({"NgayKetThucXuLy": "20260304100000"}, [("resolved", "04")]),  # status 10
        ({"TrangThaiHoSo": 8, "NgayKetThucXuLy": "20260304100000"}, [("stopped", "04")]),
        ({"TrangThaiHoSo": 7, "NgayKetThucXuLy": "20260304100000"}, [("withdrawn", "04")]),
        ({"TrangThaiHoSo": 4, "NgayTuChoi": "20260303100000"}, [("rejected", "03")]),
        ({"TrangThaiHoSo": 5}, []),
        ({"TrangThaiHoSo": 6}, []),
    ],
)
def test_statuses_and_their_ends(change: dict[str, Any], ends: list[tuple[str, str]]) -> None:
    record = read_dossier(RECORD | change)
    assert record.ends == tuple(
        (outcome, local(f"2026-03-{day}T10:00:00")) for outcome, day in ends
    )


def test_numbers_are_read_as_json_schema_reads_them() -> None:
    record = read_dossier(RECORD | {"TrangThaiHoSo": 9.0, "NgayKetThucXuLy": 20260304100000})
    assert record.ends == (("resolved", local("2026-03-04T10:00:00")),)


def test_never_received_needs_nothing_else_but_what_it_gives_must_be_valid() -> None:
    record = read_dossier({"MaHoSo": "X", "TrangThaiHoSo": 1})
    assert (record.status, record.received_at, record.unit_code) == (1, None, "")
    no_end = RECORD | {"TrangThaiHoSo": "3", "NgayTra": ""}
    for refused in ({"MaHoSo": "X", "TrangThaiHoSo": "3"}, no_end):
        assert read_dossier(refused).ends == (), "without an end date: no end of its own"
    # a date is read whatever the status: a later snapshot may take it (contract §9.3)
    with pytest.raises(InvalidEvent, match="NgayTiepNhan: 'bad' is not"):
        read_dossier({"MaHoSo": "X", "TrangThaiHoSo": 1, "NgayTiepNhan": "bad"})


def test_what_v1_1_refused_v1_2_reads() -> None:
    """Statuses as real systems send them (contract §9.3), each snapshot on its own."""
    open_record = RECORD | {"NgayTra": ""}
    for unknown in ("", None, 0, "12", "2a", True, 2.5, "9" * 5000):
        record = read_dossier(open_record | {"TrangThaiHoSo": unknown})
        assert record.received_at is not None and record.ends == () and record.status == 0
        assert mark_names(record.marks) == ["status_unknown"], unknown
    # an ended status without its end date is a wait sent as "9": open
    waiting = read_dossier(open_record | {"TrangThaiHoSo": "9"})
    assert waiting.ends == () and mark_names(waiting.marks) == ["end_date_missing"]
    assert read_dossier(RECORD | {"TrangThaiHoSo": "10", "NgayTra": None}).ends == ()
    stopped = read_dossier(RECORD | {"TrangThaiHoSo": "8", "NgayTra": "20260304100000"})
    assert stopped.ends == (("stopped", local("2026-03-04T10:00:00")),)
    # no appointment: no deadline
    assert read_dossier(RECORD | {"NgayHenTra": None, "DanhSachHoSoBoSung": []}).due_at is None
    # "not received" sent for a dossier refused after its receipt
    refused = read_dossier(open_record | {"TrangThaiHoSo": "3", "NgayTuChoi": "20260303100000"})
    assert refused.received_at is not None
    assert refused.ends == (("rejected", local("2026-03-03T10:00:00")),)
    # a status without NgayTiepNhan: valid, and it gives none
    assert read_dossier({"MaHoSo": "X", "TrangThaiHoSo": "", "DonViXuLy": "U"}).received_at is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"MaHoSo": ""}, "MaHoSo: missing"),
        ({"MaHoSo": "x" * 129}, "MaHoSo: longer than 128 characters"),
        ({"DonViXuLy": None}, "DonViXuLy: missing, and the message gives no madonvi"),
        ({"DonViXuLy": "x" * 257}, "DonViXuLy: longer than 256 characters"),
        ({"NgayTiepNhan": ""}, "NgayTiepNhan: missing"),
        ({"NgayTiepNhan": "2026030208000"}, "is not a yyyyMMddHHmmss date"),
        ({"NgayTiepNhan": "20261302080000"}, "is not a date"),
        ({"NgayTiepNhan": "19990302080000"}, "is outside 2000-01-01..2099-12-31"),
        ({"DanhSachHoSoBoSung": [7]}, "DanhSachHoSoBoSung[0]: must be an object"),
        ({"DanhSachHoSoBoSung": [{"NgayTiepNhanBoSung": ""}]}, "[0].NgayBoSung: missing"),
        (
            {"DanhSachHoSoBoSung": [{"NgayBoSung": "20260303", "NgayTiepNhanBoSung": ""}]},
            "[0].NgayBoSung: '20260303' is not a yyyyMMddHHmmss date",
        ),
        (
            {
                "DanhSachHoSoBoSung": [
                    {"NgayBoSung": "20260303090000", "NgayTiepNhanBoSung": "20260303080000"}
                ]
            },
            "NgayTiepNhanBoSung: before NgayBoSung",
        ),
    ],
)
def test_invalid_records_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        read_dossier(RECORD | change)
    assert reason in raised.value.reason


def test_progress_records() -> None:
    step = {"MaHoSo": "X", "NguoiXuLy": "cb-lan", "ThoiDiemXuLy": "20260302090000", "TrangThai": 4}
    assert read_progress(step).official == "cb-lan"
    for missing in ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy"):
        with pytest.raises(InvalidEvent, match=f"{missing}: missing"):
            read_progress(step | {missing: ""})


def test_the_digest_is_of_sorted_compact_json_and_ignores_key_order() -> None:
    reordered = dict(reversed(list(RECORD.items())))
    assert digest(reordered) == digest(RECORD)
    assert digest(RECORD | {"TenTTHC": "Đăng ký khai sinh "}) != digest(RECORD)


def test_the_message_is_checked_as_a_whole() -> None:
    body = {"service": "DongBoHoSoMC", "synced_at": "2026-03-02T08:00:00+07:00", "data": []}
    assert decode_sync(orjson.dumps(body)).records == []
    for bad, reason in [
        (body | {"service": "LayHoSo"}, "service: 'LayHoSo' is not one of"),
        (body | {"synced_at": "2026-03-02T08:00:00"}, "synced_at: timestamp has no UTC offset"),
        (body | {"data": {}}, "data: must be an array"),
    ]:
        with pytest.raises(InvalidEvent, match=reason):
            decode_sync(orjson.dumps(bad))
    big = body | {"data": [RECORD] * (MAX_SYNC_BYTES // len(orjson.dumps(RECORD)) + 1)}
    with pytest.raises(InvalidEvent, match="over the 1048576-byte limit"):
        decode_sync(orjson.dumps(big))


def test_a_date_written_as_a_double_is_a_date() -> None:
    # A serialiser that writes every number as a double sends 20260302080000.0.
    as_double = orjson.loads(b'{"NgayTiepNhan": 20260302080000.0}')
    assert read_dossier(RECORD | as_double).received_at == read_dossier(RECORD).received_at


def test_a_reason_quotes_little_of_a_huge_value() -> None:
    for field_name in ("NgayTiepNhan", "NgayHenTra", "NgayTuChoi"):
        with pytest.raises(InvalidEvent) as caught:
            read_dossier(RECORD | {field_name: "2" * 300_000})
        assert len(caught.value.reason) < 200 and "300000 characters" in caught.value.reason


def test_a_unit_is_named_by_its_agencys_name_or_the_senders_code() -> None:
    # DonViXuLy is in practice a name, and names run past 64 characters (contract §9.2).
    name = "Chi nhánh Văn phòng Đăng ký đất đai thành phố Phan Rang - Tháp Chàm tỉnh Khánh Hòa"
    assert read_dossier(RECORD | {"DonViXuLy": name}).unit_code == name
    assert read_dossier(RECORD | {"DonViXuLy": "x" * 256}).unit_code == "x" * 256
    without = read_dossier(RECORD | {"DonViXuLy": None}, madonvi="000.00.00.H34")
    assert (without.unit_code, without.madonvi) == ("", "000.00.00.H34")


@pytest.mark.parametrize(
    "written",
    [
        "2026-03-02T08:00:00",  # .NET's DateTime without a kind: Vietnam time
        "2026-03-02T08:00:00.0000000",
        "2026-03-02T08:00:00.5",
        "2026-03-02T01:00:00Z",
        "2026-03-02T08:00:00+07:00",
        "2026-03-01T23:00:00-02:00",
    ],
)
def test_dates_written_by_dotnet_serialisers_are_dates(written: str) -> None:
    at = read_dossier(RECORD | {"NgayTiepNhan": written}).received_at
    assert at is not None and at // 1_000_000 == local("2026-03-02T08:00:00") // 1_000_000


@pytest.mark.parametrize(
    "written",
    [
        "2026-03-02 08:00:00",
        "2026-03-02T08:00",
        "2026-03-02T08:00:00.12345678",
        "2026-02-30T08:00:00",
        "2026-03-02T08:00:00+25:00",
    ],
)
def test_other_date_shapes_are_not_dates(written: str) -> None:
    with pytest.raises(InvalidEvent, match="NgayTiepNhan"):
        read_dossier(RECORD | {"NgayTiepNhan": written})


# The v1.2 flags, written as the public one-stop systems write them: every value a string
# (the Thanh Hóa system's SyncLocalDataToDVCQGService), ``"False"`` from .NET's bool, fee
# entries of strings, result entries with or without a file link.
THANH_HOA = {
    "NgayNopHoSo": "20260301203000",
    "DuocThanhToanTrucTuyen": "1",
    "DanhSachLePhi": [
        {
            "TenPhiLePhi": "Lệ phí",
            "MaPhiLePhi": "1",
            "HinhThucThu": "1",
            "Gia": "50000",
            "LoaiPhiLePhi": "1",
        }
    ],
    "HoSoCoThanhPhanSoHoa": "1",
    "TaiLieuNop": [
        {
            "TepDinhKemId": "",
            "TenTepDinhKem": "Tờ khai",
            "IsDeleted": "False",
            "MaThanhPhanHoSo": "TP1",
            "DuongDanTaiTepTin": "https://dvc.example/f/1",
            "DuocSoHoa": "1",
            "DuocTaiSuDung": "0",
            "DuocLayTuKhoDMQG": "0",
        }
    ],
    "DanhSachGiayToKetQua": [
        {
            "TenGiayTo": "Giấy khai sinh",
            "MaThanhPhanHoSo": "",
            "GiayToId": "",
            "DuongDanTepTinKetQua": "https://dvc.example/kq/1",
            "MaGiayToKetQua": "KQ1",
        }
    ],
}
FLAGS_OF = {"fee_due": 1, "paid_online": 2, "digitised": 4, "result_digital": 8}


def test_the_flags_as_a_real_system_sends_them() -> None:
    record = read_dossier(RECORD | THANH_HOA)
    assert record.submitted_at == local("2026-03-01T20:30:00")
    assert record.flags == 15
    assert record.marks == 0


@pytest.mark.parametrize(
    ("change", "flags"),
    [
        ({"DuocThanhToanTrucTuyen": "0"}, FLAGS_OF["fee_due"] | 12),  # a fee, paid otherwise
        ({"DuocThanhToanTrucTuyen": "2", "DanhSachLePhi": []}, 15),  # a gateway: a fee too
        ({"DuocThanhToanTrucTuyen": "3", "DanhSachLePhi": [{"Gia": "0"}]}, 12),
        ({"DuocThanhToanTrucTuyen": 1, "DanhSachLePhi": None}, 15),
        ({"HoSoCoThanhPhanSoHoa": "0", "TaiLieuNop": []}, 11),
        ({"HoSoCoThanhPhanSoHoa": "0"}, 15),  # a part digitised says it
        (
            {
                "HoSoCoThanhPhanSoHoa": "0",
                "TaiLieuNop": [{"DuocSoHoa": "1", "IsDeleted": "True"}],
            },
            11,
        ),
        ({"HoSoCoThanhPhanSoHoa": True}, 15),
        ({"DanhSachGiayToKetQua": [{"TenGiayTo": "x", "DuongDanTepTinKetQua": ""}]}, 7),
        ({"DanhSachGiayToKetQua": []}, 7),
    ],
)
def test_each_flag_and_how_it_is_read(change: dict[str, Any], flags: int) -> None:
    record = read_dossier(RECORD | THANH_HOA | change)
    assert (record.flags, record.marks) == (flags, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"DuocThanhToanTrucTuyen": "có"},
        {"HoSoCoThanhPhanSoHoa": "yes"},
        {"HoSoCoThanhPhanSoHoa": 7},
        {"TaiLieuNop": "Tờ khai"},
        {"DanhSachGiayToKetQua": {"TenGiayTo": "x"}},
        {"DanhSachLePhi": 50000},
        {"NgayNopHoSo": "hôm qua"},
        {"NgayNopHoSo": "20261301000000"},
    ],
)
def test_a_flag_nobody_can_read_says_nothing_and_marks_the_dossier(change: dict[str, Any]) -> None:
    record = read_dossier(RECORD | THANH_HOA | change)
    assert mark_names(record.marks) == ["flags_unreadable"]
    assert record.received_at == local("2026-03-02T08:00:00"), "the dossier still counts"


def test_a_record_without_any_flag_has_none_and_no_mark() -> None:
    record = read_dossier(RECORD)
    assert (record.flags, record.submitted_at, record.marks) == (0, None, 0)
