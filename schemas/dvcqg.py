"""The national dossier-sync record (contract §9): what one-stop systems send the national
public service portal, read into typed records.

A message is the body a one-stop system sends the portal plus ``synced_at``. The message
is checked as a whole (it must be a DvcqgSync object); then each record on its own, so one
bad record costs only itself::

    >>> message = decode_sync(b'{"service": "DongBoHoSoMC", "synced_at": '
    ...     b'"2026-03-02T08:00:00+07:00", "data": [{"MaHoSo": "HS-1", "TrangThaiHoSo": "1"}, 7]}')
    >>> read_dossier(message.records[0]).status
    1
    >>> read_dossier(message.records[1])
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: record must be a JSON object, got integer

Dates inside records are ``yyyyMMddHHmmss`` in Vietnam time; empty strings and absent
fields mean "none". The list of invalid records in the contract is exhaustive; where a
record is odd in a way it does not list, the choice is in ``docs/decisions.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple

import fastjsonschema
import orjson

from schemas.codec import (
    LOCAL_TZ,
    InvalidEvent,
    format_instant,
    in_range,
    json_object,
    json_type,
    load_schema,
    nfc,
    parse_instant,
    quoted,
    validated,
)
from schemas.records import FLAGS, Instant

DOSSIERS, PROGRESS = "DongBoHoSoMC", "CapNhatTienDoHoSoMC"
"""The portal's services: dossier snapshots, and progress records."""
MAX_SYNC_BYTES = 1024 * 1024
"""A sync message carries a batch of records: its limit is 1 MiB, not 64 KiB."""

MAX_UNIT_CHARS = 256
"""``DonViXuLy`` is in practice an agency's name, and names run long (contract §9.2)."""
MAX_CODE_CHARS = 64
"""``MaTTHC`` and ``MaLinhVuc`` are kept to this, as an event's codes are."""

NOT_RECEIVED = (1, 3)
"""Mới đăng ký, Không được tiếp nhận: statuses that need no ``NgayTiepNhan`` (the dossier
was not received, unless an earlier snapshot says it was)."""
UNKNOWN_STATUS = 0
"""What any status outside 1..10 reads as (``""``, ``0``, ``12``): received and open."""
ENDS = {9: "resolved", 8: "stopped", 7: "withdrawn"}
"""Ended statuses whose end is ``NgayKetThucXuLy``, else ``NgayTra``; 10 (Đã trả kết quả)
is read apart."""
CHANNELS = {1: "counter", 2: "online", 3: "postal"}
"""``KenhThucHien`` as the channels of section 2; any other code is no channel."""

STATUS_UNKNOWN, END_DATE_MISSING, NO_DEADLINE, UNIT_UNMATCHED, FLAGS_UNREADABLE = 1, 2, 4, 8, 16
MARKS = {
    "status_unknown": STATUS_UNKNOWN,
    "end_date_missing": END_DATE_MISSING,
    "no_deadline": NO_DEADLINE,
    "unit_unmatched": UNIT_UNMATCHED,
    "flags_unreadable": FLAGS_UNREADABLE,
}
"""The quality marks of contract §9.7, as bits: ``unit_unmatched`` and ``no_deadline`` come
from the dossier as a whole, the others from a snapshot."""
PAID_ONLINE_CODES = (1, 2)
"""``DuocThanhToanTrucTuyen``: 1 paid on the national portal, 2 on a ministry's or the
province's payment gateway (the portal's formula description); 0 and 3 are not paid
online."""
_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})
"""How systems write a yes or a no: ``"1"``, ``"True"`` (.NET's ``bool.ToString()``)."""


def mark_names(marks: int) -> list[str]:
    """The names of a set of marks.

    >>> mark_names(STATUS_UNKNOWN | NO_DEADLINE)
    ['status_unknown', 'no_deadline']
    """
    return [name for name, bit in MARKS.items() if marks & bit]


_DATE = re.compile(r"[0-9]{14}")
_ISO_DATE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,7})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
"""How .NET serialisers write a date inside a record: an optional fraction of up to 7
digits (ticks), an optional ``Z`` or offset; without one it is Vietnam time."""
_DIGITS = re.compile(r"[0-9]+")
_VALIDATE = fastjsonschema.compile(load_schema("dvcqg-sync"))


class OtherService(InvalidEvent):
    """A body of a portal service the monitor does not read (``DongBoTrangThaiHoSo``...)."""


class TooLarge(InvalidEvent):
    """A body whose message would be over :data:`MAX_SYNC_BYTES`."""


class SyncMessage(NamedTuple):
    service: str
    synced_at: Instant
    records: list[Any]
    madonvi: str = ""
    """The sending unit's portal code, when the sender gave it: where ``DonViXuLy`` names
    no unit, the records' unit (contract §9.2)."""


class DossierRecord(NamedTuple):
    """A ``DongBoHoSoMC`` record: one snapshot of a dossier, as far as the figures and the
    dossier's explanation need it. What it *means* depends on the dossier's other snapshots
    (contract §9.3, :mod:`kpi.history`); here it is read on its own."""

    dossier_id: str
    status: int
    """``TrangThaiHoSo``; :data:`UNKNOWN_STATUS` for anything outside 1..10."""
    unit_code: str
    """``DonViXuLy`` as given (NFC): a code or, as most systems send it, a name."""
    received_at: Instant | None
    """``NgayTiepNhan``, whatever the status (a snapshot that lacks it takes an earlier
    one's)."""
    due_at: Instant | None
    """``NgayHenTra``, the appointment; None: this snapshot gives none."""
    pauses: tuple[tuple[str, Instant, Instant | None], ...] = ()
    """Supplement pauses of ``DanhSachHoSoBoSung``: (``pause_id``, ``paused_at``,
    ``resumed_at``)."""
    ends: tuple[tuple[str, Instant], ...] = ()
    """Every (outcome, instant) the record closes the dossier with once it was received;
    precedence picks one. A "3" without a date of its own gives none: it ends at its
    ``synced_at``."""
    madonvi: str = ""
    """The message's ``madonvi``: the unit when ``DonViXuLy`` names none."""
    due_before: Instant | None = None
    """``NgayHenTraTruoc`` of the supplement entry with the earliest ``NgayBoSung`` that
    gives one: the appointment before supplements moved it."""
    procedure: str = ""
    """``MaTTHC``."""
    channel: str = ""
    """``KenhThucHien`` as a section 2 channel ("counter", "online", "postal"), or ""."""
    field: tuple[str, str] = ("", "")
    """(``MaLinhVuc``, ``TenLinhVuc``)."""
    marks: int = 0
    """Quality marks of this snapshot (:data:`MARKS`)."""
    submitted_at: Instant | None = None
    """``NgayNopHoSo``: when the citizen submitted it."""
    flags: int = 0
    """The :data:`schemas.records.FLAGS` the record says yes to (:func:`read_flags`)."""


class ProgressRecord(NamedTuple):
    """A ``CapNhatTienDoHoSoMC`` record: who handled a step of a dossier, and when."""

    dossier_id: str
    at: Instant
    official: str


def decode_sync(raw: bytes | None) -> SyncMessage:
    """A DvcqgSync message, checked as a whole (not its records), or InvalidEvent."""
    data = validated(raw, _VALIDATE, MAX_SYNC_BYTES)
    synced_at = parse_instant(data["synced_at"], "synced_at")
    return SyncMessage(data["service"], synced_at, data["data"], _madonvi(data))


def _madonvi(data: dict[str, Any]) -> str:
    code = _text(data, "madonvi")
    return code if code is not None and len(code) <= MAX_UNIT_CHARS else ""


def read_record(service: str, record: Any, madonvi: str = "") -> DossierRecord | ProgressRecord:
    """A record of a message of ``service`` (sent by ``madonvi``), or InvalidEvent."""
    return read_dossier(record, madonvi) if service == DOSSIERS else read_progress(record)


def where(position: int, record: Any) -> str:
    """How a reason names a record: ``data[3] (MaHoSo 'H34.22-…')``."""
    named = isinstance(record, dict) and isinstance(record.get("MaHoSo"), str)
    return f"data[{position}] (MaHoSo {record['MaHoSo'][:128]!r})" if named else f"data[{position}]"


class Stamped(NamedTuple):
    """A portal body made a DvcqgSync message, and what is wrong with its records."""

    message: bytes
    records: int
    errors: list[dict[str, Any]]
    """``{"index", "MaHoSo", "reason"}`` of each invalid record."""
    dossiers: list[tuple[int, DossierRecord]]
    """The valid dossier records, with their positions."""
    mahoso: str | None = None
    """The one ``MaHoSo`` of every record, as a system sends a dossier a call: the
    message's Kafka key, so that the worker applies it where it lands."""


def stamp(
    body: bytes,
    synced_at: Instant,
    limit: int = MAX_SYNC_BYTES,
    service: str | None = None,
    query: Mapping[str, str] | None = None,
) -> Stamped:
    """The body a one-stop system sends the national portal, stamped with ``synced_at``;
    InvalidEvent when it is not a sync body at all, :class:`TooLarge` when the message
    would be over ``limit`` bytes. The body is the portal's envelope or, as systems that
    post to one URL per service send it, a bare array of records of ``service`` (from the
    URL, which wins over the envelope's). ``MaDinhDanhDV`` or ``madonvi``, and
    ``isUpdating``, from the URL's ``query`` win over the body's. The portal's ``session``
    (its access token) is left out: a credential never goes into a topic.

    >>> stamped = stamp(b'{"session": "secret", "service": "CapNhatTienDoHoSoMC", '
    ...                 b'"data": [{"MaHoSo": "HS-1"}]}', 1772413200000000)
    >>> orjson.loads(stamped.message)["synced_at"], stamped.errors[0]["reason"]
    ('2026-03-02T08:00:00+07:00', 'NguoiXuLy: missing')
    >>> bare = stamp(b'[]', 1772413200000000, service="DongBoHoSoMC",
    ...              query={"MaDinhDanhDV": "000.00.01.H34", "isUpdating": "True"})
    >>> sorted(orjson.loads(bare.message).items())[:3]
    [('data', []), ('isUpdating', 'True'), ('madonvi', '000.00.01.H34')]
    """
    data = envelope(body, service, query or {})
    named = data.get("service")
    if isinstance(named, str) and named not in (DOSSIERS, PROGRESS):
        raise OtherService(f"service {quoted(named)} is not one the monitor reads")
    data.pop("session", None)
    data["synced_at"] = format_instant(synced_at)
    try:
        message = orjson.dumps(data)
    except TypeError as error:  # nested deeper than a JSON writer goes
        raise InvalidEvent(f"cannot be encoded: {error}") from None
    if len(message) > limit:
        raise TooLarge(f"the message would be {len(message)} bytes, over {limit}")
    sync = decode_sync(message)
    errors, dossiers, named = [], [], set()
    for position, record in enumerate(sync.records):
        named.add(record.get("MaHoSo") if isinstance(record, dict) else None)
        try:
            parsed = read_record(sync.service, record, sync.madonvi)
        except InvalidEvent as error:
            mahoso = record.get("MaHoSo") if isinstance(record, dict) else None
            mahoso = mahoso[:128] if isinstance(mahoso, str) else None  # never echo a blob
            errors.append({"index": position, "MaHoSo": mahoso, "reason": error.reason})
            continue
        if isinstance(parsed, DossierRecord):
            dossiers.append((position, parsed))
    (mahoso,) = named if len(named) == 1 else (None,)
    return Stamped(
        message, len(sync.records), errors, dossiers, mahoso if isinstance(mahoso, str) else None
    )


def envelope(body: bytes, service: str | None, query: Mapping[str, str]) -> dict[str, Any]:
    """The portal envelope a body stands for (see :func:`stamp`), or InvalidEvent."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = json_object(body, "body")  # raises the reason
    if isinstance(data, list):
        if service is None:
            raise InvalidEvent("a bare array of records needs the service in the URL")
        data = {"service": service, "data": data}
    elif not isinstance(data, dict):
        raise InvalidEvent(f"body must be a JSON object or array, got {json_type(data)}")
    elif service is not None:
        data["service"] = service
    code = query.get("MaDinhDanhDV") or query.get("madonvi")
    if code:
        data["madonvi"] = code
    if query.get("isUpdating"):
        data["isUpdating"] = query["isUpdating"]
    return data


def digest(record: Any) -> str:
    """The SHA-256 the contract orders snapshots of one ``synced_at`` by."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def dossier_id_of(record: Any) -> str:
    """The record's ``MaHoSo``: required of every record, at most 128 characters."""
    if not isinstance(record, dict):
        raise InvalidEvent(f"record must be a JSON object, got {json_type(record)}")
    value = _text(record, "MaHoSo")
    if value is None:
        raise InvalidEvent("MaHoSo: missing")
    if len(value) > 128:
        raise InvalidEvent("MaHoSo: longer than 128 characters")
    return value


def read_dossier(record: Any, madonvi: str = "") -> DossierRecord:
    """A ``DongBoHoSoMC`` record of a message sent by ``madonvi``, read on its own (contract
    §9.1, §9.5), or InvalidEvent with the first thing wrong with it.

    An unknown status (``""``, ``0``, ``12``) is kept as :data:`UNKNOWN_STATUS` and marked,
    an ended status without its end date gives no end and is marked, and a record without
    an appointment gives none: :mod:`kpi.history` reads what each means for the dossier.
    """
    dossier_id = dossier_id_of(record)
    status = _code(record, "TrangThaiHoSo")
    marks = 0
    if status is None or not 1 <= status <= 10:
        status, marks = UNKNOWN_STATUS, STATUS_UNKNOWN
    unit_code = _text(record, "DonViXuLy")
    if unit_code is not None and len(unit_code) > MAX_UNIT_CHARS:
        raise InvalidEvent(f"DonViXuLy: longer than {MAX_UNIT_CHARS} characters")
    received_at = _date(record, "NgayTiepNhan")
    if received_at is None and status not in (*NOT_RECEIVED, UNKNOWN_STATUS):
        raise InvalidEvent("NgayTiepNhan: missing")
    if received_at is not None and unit_code is None and not madonvi:
        raise InvalidEvent("DonViXuLy: missing, and the message gives no madonvi")
    pauses, due_before = _supplements(record.get("DanhSachHoSoBoSung"))
    due_at = _date(record, "NgayHenTra")
    ends = _ends(record, status)
    if status in (*ENDS, 10) and not ends:
        marks |= END_DATE_MISSING  # some systems send a wait as "9" with no date
    field = (_text(record, "MaLinhVuc") or "", _text(record, "TenLinhVuc") or "")
    flags, readable = read_flags(record)
    try:
        submitted_at = _date(record, "NgayNopHoSo")
    except InvalidEvent:  # an estimate's input: never worth the dossier's figures
        submitted_at, readable = None, False
    return DossierRecord(
        dossier_id,
        status,
        unit_code or "",
        received_at,
        due_at,
        pauses,
        ends,
        madonvi,
        due_before,
        (_text(record, "MaTTHC") or "")[:MAX_CODE_CHARS],
        CHANNELS.get(_code(record, "KenhThucHien") or 0, ""),
        (field[0][:MAX_CODE_CHARS], field[1][:MAX_UNIT_CHARS]),
        marks if readable else marks | FLAGS_UNREADABLE,
        submitted_at,
        flags,
    )


def read_flags(record: dict[str, Any]) -> tuple[int, bool]:
    """The :data:`schemas.records.FLAGS` a record says yes to, and whether every value it
    gives was readable (contract §9.8). A value nobody can read says nothing.

    - ``fee_due``: an entry of ``DanhSachLePhi`` (or ``DanhSachPhiLePhi``) with a ``Gia``
      above 0, or a payment online;
    - ``paid_online``: ``DuocThanhToanTrucTuyen`` 1 or 2 (:data:`PAID_ONLINE_CODES`);
    - ``digitised``: ``HoSoCoThanhPhanSoHoa`` yes, or a ``TaiLieuNop`` entry not deleted
      whose ``DuocSoHoa`` is yes;
    - ``result_digital``: a ``DanhSachGiayToKetQua`` entry with a ``DuongDanTepTinKetQua``.

    >>> read_flags({"DuocThanhToanTrucTuyen": "2", "HoSoCoThanhPhanSoHoa": "0",
    ...             "TaiLieuNop": [{"DuocSoHoa": "1", "IsDeleted": "False"}],
    ...             "DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": ""}]})
    (7, True)
    >>> read_flags({"DuocThanhToanTrucTuyen": "có", "DanhSachLePhi": [{"Gia": "50000"}]})
    (1, False)
    """
    readable = True

    def yes(value: Any) -> bool:
        nonlocal readable
        answer = _yes(value)
        readable = readable and answer is not None
        return bool(answer)

    flags = 0
    paid = record.get("DuocThanhToanTrucTuyen")
    code = _code(record, "DuocThanhToanTrucTuyen")
    if code in PAID_ONLINE_CODES or (code is None and yes(paid)):
        flags |= FLAGS["paid_online"] | FLAGS["fee_due"]
    fees = record.get("DanhSachLePhi", record.get("DanhSachPhiLePhi"))
    if any(_amount(entry.get("Gia")) > 0 for entry in _entries(fees)):
        flags |= FLAGS["fee_due"]
    parts = _entries(record.get("TaiLieuNop"))
    if yes(record.get("HoSoCoThanhPhanSoHoa")) or any(
        yes(part.get("DuocSoHoa")) and not yes(part.get("IsDeleted")) for part in parts
    ):
        flags |= FLAGS["digitised"]
    results = _entries(record.get("DanhSachGiayToKetQua"))
    if any(_text(result, "DuongDanTepTinKetQua") for result in results):
        flags |= FLAGS["result_digital"]
    for value in (fees, record.get("TaiLieuNop"), record.get("DanhSachGiayToKetQua")):
        readable = readable and (value in (None, "") or isinstance(value, list))
    return flags, readable


def _yes(value: Any) -> bool | None:
    """A yes or a no as systems write one (``true``, ``1``, ``"1"``, ``"True"``; none is
    a no), or None for a value that is neither."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        folded = value.strip().lower()
        return True if folded in _TRUE else False if folded in _FALSE else None
    return None


def _entries(value: Any) -> list[dict[str, Any]]:
    """The objects of a list a record gives (anything else in it is skipped)."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _amount(value: Any) -> float:
    """A fee's ``Gia``: a number, or a string of one (``"50000"``, ``"50.000"``, ``"50,000"``
    in VND); 0 for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        digits = value.strip().replace(".", "").replace(",", "")
        return float(digits) if _DIGITS.fullmatch(digits) else 0.0
    return 0.0


def read_progress(record: Any) -> ProgressRecord:
    """A ``CapNhatTienDoHoSoMC`` record, or InvalidEvent."""
    dossier_id = dossier_id_of(record)
    official = _text(record, "NguoiXuLy")
    if official is None:
        raise InvalidEvent("NguoiXuLy: missing")
    if len(official) > 128:  # as an official_id of section 2 (docs/decisions.md)
        raise InvalidEvent("NguoiXuLy: longer than 128 characters")
    at = _date(record, "ThoiDiemXuLy")
    if at is None:
        raise InvalidEvent("ThoiDiemXuLy: missing")
    return ProgressRecord(dossier_id, at, official)


def _ends(record: dict[str, Any], status: int) -> tuple[tuple[str, Instant], ...]:
    """Every end the record gives, once the dossier was received (contract §9.3). An ended
    status without its end date gives none: some systems send a wait as "9" with no date,
    and nobody finished that dossier."""
    finished, returned, refused = (
        _date(record, field) for field in ("NgayKetThucXuLy", "NgayTra", "NgayTuChoi")
    )
    if status == 3:  # refused: at the first of its dates given
        first = next((at for at in (finished, returned, refused) if at is not None), None)
        return () if first is None else (("rejected", first),)
    ends: list[tuple[str, Instant]] = []
    end = finished if finished is not None else returned
    if status in ENDS and end is not None:
        ends.append((ENDS[status], end))
    elif status == 10 and finished is not None:
        ends.append(("resolved", finished))
    elif status == 10 and returned is not None:
        ends.append(("returned", returned))
    if refused is not None:
        ends.append(("rejected", refused))
    return tuple(ends)


def _supplements(
    entries: Any,
) -> tuple[tuple[tuple[str, Instant, Instant | None], ...], Instant | None]:
    """The supplement pauses of ``DanhSachHoSoBoSung``, and the appointment before
    supplements moved it: ``NgayHenTraTruoc`` of the earliest request that gives one."""
    if entries is None or entries == "":
        return (), None
    if not isinstance(entries, list):
        raise InvalidEvent(f"DanhSachHoSoBoSung: must be an array, got {json_type(entries)}")
    pauses = []
    earliest: tuple[Instant, int, Instant] | None = None
    for position, entry in enumerate(entries):
        where = f"DanhSachHoSoBoSung[{position}]"
        if not isinstance(entry, dict):
            raise InvalidEvent(f"{where}: must be an object, got {json_type(entry)}")
        paused_at = _date(entry, "NgayBoSung", where)
        if paused_at is None:
            raise InvalidEvent(f"{where}.NgayBoSung: missing")
        resumed_at = _date(entry, "NgayTiepNhanBoSung", where)
        if resumed_at is not None and resumed_at < paused_at:
            raise InvalidEvent(f"{where}.NgayTiepNhanBoSung: before NgayBoSung")
        due_before = _date(entry, "NgayHenTraTruoc", where)
        if due_before is not None and (earliest is None or (paused_at, position) < earliest[:2]):
            earliest = (paused_at, position, due_before)
        pause_id = _text(entry, "HoSoBoSungId") or f"#{position}"
        pauses.append((pause_id, paused_at, resumed_at))
    return tuple(pauses), None if earliest is None else earliest[2]


def _text(record: dict[str, Any], field: str) -> str | None:
    """A field as text: strings as given, numbers in decimal; "" and null are none."""
    value = record.get(field)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return nfc(value) if isinstance(value, str) else None


def _code(record: dict[str, Any], field: str) -> int | None:
    """An integer (``2.0`` is 2, as in JSON Schema), or a string of decimal digits, as the
    portal's codes come; None for anything else, and for numbers no code has."""
    value = record.get(field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 9 and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _date(record: dict[str, Any], field: str, where: str = "") -> Instant | None:
    """A date, or None; InvalidEvent if malformed. A date is ``yyyyMMddHHmmss`` in Vietnam
    time (a string, or a 14-digit number), or as .NET writes one, ``yyyy-MM-ddTHH:mm:ss``
    with an optional fraction and offset.

    >>> record = {"a": "20260302080000", "b": "2026-03-02T08:00:00.1234567",
    ...           "c": "2026-03-02T01:00:00Z", "d": 20260302080000}
    >>> len({_date(record, field) // 1_000_000 for field in "abcd"})
    1
    """
    value = record.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a serialiser that writes every number as a double
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # 14 digits are 14 digits, as a number too
    name = f"{where}.{field}" if where else field
    iso = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
    if not isinstance(value, str) or not (iso or _DATE.fullmatch(value)):
        raise InvalidEvent(f"{name}: {quoted(value)} is not a yyyyMMddHHmmss date")
    try:
        if iso is None:  # slices, not strptime: several dates in every record
            digits = value
            moment = datetime(
                int(digits[0:4]),
                int(digits[4:6]),
                int(digits[6:8]),
                int(digits[8:10]),
                int(digits[10:12]),
                int(digits[12:14]),
                tzinfo=LOCAL_TZ,
            )
        else:
            whole, fraction, offset = iso.groups()
            micro = int(((fraction or ".")[1:] + "000000")[:6])  # a tick is 0.1 µs: dropped
            moment = datetime.fromisoformat(whole).replace(microsecond=micro, tzinfo=_zone(offset))
    except ValueError:
        raise InvalidEvent(f"{name}: {quoted(value)} is not a date") from None
    return in_range(moment, name, value)


def _zone(offset: str | None) -> tzinfo:
    """The time zone of an ISO date's offset: Vietnam time without one."""
    if offset is None:
        return LOCAL_TZ
    if offset == "Z":
        return UTC
    sign = 1 if offset[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
