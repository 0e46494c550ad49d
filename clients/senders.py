"""The simulator's dossiers as real one-stop systems send them (contract §9, all SYNTHETIC).

:func:`clients.simulator.as_dvcqg` writes sync records as the portal's field list would
like them. Real systems write them otherwise (``docs/decisions.md``, entry 56), and this
module imitates the three kinds of sender a province has:

- ``envelope`` (as OpenCPS): the portal's envelope with ``madonvi`` and ``isUpdating``;
  dates ``yyyyMMddHHmmss``, ``""`` for none; a wait for papers is status "5".
- ``arrays`` (as a .NET system posting to one URL per service): a bare array; dates as
  .NET writes them (``2026-03-02T08:00:00``, Vietnam time), ``null`` for none; a wait for
  papers is status "1", the dossier handed back to the citizen.
- ``query`` (as a .NET system that names its unit in the URL): a bare array with
  ``MaDinhDanhDV`` and ``isUpdating`` in the query string and no ``DonViXuLy``.

All three: every value a string; ``DonViXuLy`` the agency's name ("UBND xã Cam Lâm",
"Sở Tư pháp tỉnh Khánh Hòa"), never its code; ``DanhSachHoSoBoSung`` always empty, a wait
for a financial obligation status "6"; ``NgayHenTra`` pushed on by each wait, as systems do,
and missing for some dossiers (procedures without a processing time); a refusal "3" with
``NgayTuChoi``; progress records with the desk's placeholder "Cán bộ một cửa" beside the
officials. One dossier per call, sent the moment it changes. Each body goes through the
ingest's own reading (:func:`schemas.dvcqg.stamp`), so what comes out is what the ingest
would publish on ``cchc.dvcqg-sync``.

    >>> from datetime import date
    >>> from clients.simulator import Simulator
    >>> events = Simulator(seed=1, units_limit=1).history(date(2026, 1, 5), days=1)
    >>> first = next(message for topic, message in as_sent(events, "query")
    ...              if topic == "cchc.dvcqg-sync")
    >>> first["madonvi"], first["data"][0]["DonViXuLy"], first["data"][0]["TrangThaiHoSo"]
    ('000.01.30.H34', None, '2')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from clients.simulator import (
    CHANNEL_CODES,
    DOSSIER_SERVICE,
    FIELDS,
    PROCEDURE_NAMES,
    PROGRESS_SERVICE,
    SECOND_US,
    STEP_NAMES,
    SYNC_TOPIC,
    _DossierState,
    _DvcqgConverter,
)
from kpi.calendar import WorkingCalendar
from kpi.dossier import Completion
from kpi.periods import date_of_day, day_of, day_start
from kpi.units import Unit, load_units
from schemas.dvcqg import stamp
from schemas.records import FLAGS, DossierSubmitted, Instant

SHAPES = ("envelope", "arrays", "query")
PLACEHOLDER = "Cán bộ một cửa"
"""The desk's name in the progress records of receipt and end (contract §9.4)."""
WITHOUT_APPOINTMENT = 0.03
"""Dossiers sent without ``NgayHenTra``, as systems send procedures without a
processing time: they have no deadline (contract §9.3)."""
PROVINCE = "Khánh Hòa"
_FEE = {
    "TenPhiLePhi": "Lệ phí",
    "MaPhiLePhi": "1",
    "HinhThucThu": "1",
    "Gia": "50000",
    "LoaiPhiLePhi": "1",
}
_PART = {
    "TepDinhKemId": "",
    "TenTepDinhKem": "Tờ khai",
    "IsDeleted": "False",
    "MaThanhPhanHoSo": "TP1",
    "DuongDanTaiTepTin": "https://dvc.example/tep/1",
    "DuocTaiSuDung": "0",
    "DuocLayTuKhoDMQG": "0",
}
_RESULT = {"TenGiayTo": "Kết quả", "MaThanhPhanHoSo": "", "GiayToId": "", "MaGiayToKetQua": "KQ"}


def sender_name(unit: Unit, province: str = PROVINCE) -> str:
    """``DonViXuLy`` as systems write it: a commune's People's Committee, an agency with
    the province's name.

    >>> sender_name(Unit("xa-cam-lam", "Xã Cam Lâm", "xa", "commune"))
    'UBND xã Cam Lâm'
    >>> sender_name(Unit("so-tu-phap", "Sở Tư pháp", "so", "province"))
    'Sở Tư pháp tỉnh Khánh Hòa'
    """
    if unit.level == "commune":
        return "UBND " + unit.name[:1].lower() + unit.name[1:]
    return unit.name if province in unit.name else f"{unit.name} tỉnh {province}"


def as_sent(
    events: Iterable[tuple[str, dict[str, Any]]],
    shape: str,
    units: Mapping[str, Unit] | None = None,
    calendar: WorkingCalendar | None = None,
    without_appointment: float = WITHOUT_APPOINTMENT,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The traffic as senders of ``shape`` (:data:`SHAPES`) post it, as the ingest
    publishes it; reschedulings, surveys and rankings pass through as events. The input
    must come in time order (:meth:`clients.simulator.Simulator.history`)."""
    if shape not in SHAPES:
        raise ValueError(f"shape {shape!r} is not one of {', '.join(SHAPES)}")
    registry = units if units is not None else load_units()
    converter = _Sender(registry, calendar, shape, without_appointment)
    for topic, event in events:
        yield from converter.feed(topic, event)
    yield from converter.flush()


class _Sender(_DvcqgConverter):
    """The simulator's converter, with snapshots as ``shape`` writes them, each sent the
    moment it changes."""

    def __init__(
        self,
        units: Mapping[str, Unit],
        calendar: WorkingCalendar | None,
        shape: str,
        without_appointment: float = WITHOUT_APPOINTMENT,
    ) -> None:
        super().__init__(units, calendar)
        self.shape = shape
        self.without_appointment = without_appointment
        self._names = {unit.unit_id: sender_name(unit) for unit in units.values()}
        self._sent: set[str] = set()
        """Dossiers sent before: their next body says ``isUpdating``."""

    def feed(self, topic: str, event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from super().feed(topic, event)
        yield from self.flush()  # one call per change, at its time

    def flush(self) -> Iterator[tuple[str, dict[str, Any]]]:
        out: list[tuple[Instant, str, dict[str, Any]]] = list(self._passed)
        for dossier_id, (at, record) in self._snapshots.items():
            out.append((at, SYNC_TOPIC, self._call(DOSSIER_SERVICE, [record], at, dossier_id)))
        steps: dict[str, tuple[Instant, list[dict[str, Any]]]] = {}
        for at, step in self._progress:
            steps.setdefault(step["MaHoSo"], (at, []))[1].append(step)
        for dossier_id, (at, records) in steps.items():
            out.append((at, SYNC_TOPIC, self._call(PROGRESS_SERVICE, records, at, dossier_id)))
        out.sort(key=lambda item: item[0])
        self._snapshots, self._progress, self._passed = {}, [], []
        self._forget()
        for _, topic, value in out:
            yield topic, value

    def _call(
        self, service: str, records: list[dict[str, Any]], at: Instant, dossier_id: str
    ) -> dict[str, Any]:
        """One call of the sender, as the ingest publishes it."""
        code = self._code_of(dossier_id)
        updating = "True" if dossier_id in self._sent else "False"
        if service == DOSSIER_SERVICE:
            self._sent.add(dossier_id)
        query: dict[str, str] = {}
        if self.shape == "envelope":
            body = orjson.dumps(
                {
                    "session": "demo-session",
                    "madonvi": code,
                    "isUpdating": updating,
                    "service": service,
                    "data": records,
                }
            )
            called = None
        else:
            body, called = orjson.dumps(records), service
            if self.shape == "query":
                query = {"MaDinhDanhDV": code, "isUpdating": updating}
        message: dict[str, Any] = orjson.loads(stamp(body, at, service=called, query=query).message)
        return message

    def _code_of(self, dossier_id: str) -> str:
        state = self._dossiers.get(dossier_id)
        submission = None if state is None else state.submission
        if submission is None:
            return ""
        return self._codes.get(submission.unit_id, submission.unit_id)

    def _date(self, instant: Instant | None) -> str | None:
        """A date as this sender writes it."""
        if instant is None:
            return "" if self.shape == "envelope" else None
        day = day_of(instant)
        seconds = (instant - day_start(day)) // SECOND_US
        clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if self.shape == "arrays":
            return f"{date_of_day(day).isoformat()}T{clock}"
        return f"{date_of_day(day):%Y%m%d}{clock.replace(':', '')}"

    def _has_appointment(self, dossier_id: str) -> bool:
        digest = hashlib.sha256(dossier_id.encode()).digest()
        return int.from_bytes(digest[:4]) / 2**32 >= self.without_appointment

    def _snapshot(self, dossier_id: str, state: _DossierState) -> dict[str, Any] | None:
        """The record of the dossier's state as this sender writes it; None before its
        receipt."""
        submission = state.submission
        if submission is None:
            return None
        pauses = sorted(state.pauses.values(), key=lambda p: (p.at, p.pause_id))
        waiting = [pause.supplement for pause in pauses if pause.resumed is None]
        supplement = "5" if self.shape == "envelope" else "1"
        status = supplement if any(waiting) else "6" if waiting else "4" if pauses else "2"
        finished = returned = refused = None
        end = state.completion
        if end is not None and end.outcome == "rejected":
            status, refused = "3", end.at
        elif end is not None and end.outcome == "returned":
            status, returned = "10", end.at
        elif end is not None and end.outcome == "resolved":
            finished, returned = end.at, state.returned_at
            status = "9" if returned is None else "10"
        elif end is not None:
            finished = end.at
            status = "8" if end.outcome == "stopped" else "7"
        waited = sum(p.resumed - p.at for p in pauses if p.resumed is not None)
        appointment = state.due + waited if self._has_appointment(dossier_id) else None
        record: dict[str, Any] = {
            "MaHoSo": dossier_id,
            "MaTTHC": submission.procedure_code or self._date(None),  # "" or null, as dates
            "TenTTHC": PROCEDURE_NAMES.get(submission.procedure_code or "", ""),
            "DonViXuLy": self._names.get(submission.unit_id, submission.unit_id),
            "TrangThaiHoSo": status,
            "KenhThucHien": str(CHANNEL_CODES.get(submission.channel or "", "")),
            "NgayTiepNhan": self._date(submission.received_at),
            "NgayHenTra": self._date(appointment),
            "NgayKetThucXuLy": self._date(finished),
            "NgayTra": self._date(returned),
            "NgayTuChoi": self._date(refused),
            "DanhSachHoSoBoSung": [],
        }
        field = FIELDS.get(submission.procedure_code or "")
        if field is not None:
            record["MaLinhVuc"], record["TenLinhVuc"] = field.field_code, field.field_name
        record |= self._services(dossier_id, submission, end)
        if self.shape == "query":
            record["DonViXuLy"] = None  # the unit is in the URL
        return record

    def _services(
        self, dossier_id: str, submission: DossierSubmitted, end: Completion | None
    ) -> dict[str, Any]:
        """Submission time, fees, payment and digitisation as the Thanh Hóa system writes
        them (``docs/decisions.md``, entry 65): ``NgayNopHoSo`` the receipt for a dossier
        not submitted online, ``DuocThanhToanTrucTuyen`` "1" or "0", a fee entry of
        strings, the digitised parts, and a result entry with its link once there is one."""
        flags = submission.flags | (0 if end is None else end.flags)
        submitted = submission.submitted_at or submission.received_at
        parts = [_PART | {"DuocSoHoa": "1"}] if flags & FLAGS["digitised"] else []
        results = []
        if end is not None and end.outcome in ("resolved", "returned"):
            link = (
                f"https://dvc.example/ket-qua/{dossier_id}"
                if flags & FLAGS["result_digital"]
                else ""
            )
            results = [_RESULT | {"DuongDanTepTinKetQua": link}]
        return {
            "NgayNopHoSo": self._date(submitted),
            "DuocThanhToanTrucTuyen": "1" if flags & FLAGS["paid_online"] else "0",
            "DanhSachLePhi": [_FEE] if flags & FLAGS["fee_due"] else [],
            "HoSoCoThanhPhanSoHoa": "1" if parts else "0",
            "TaiLieuNop": parts,
            "DanhSachGiayToKetQua": results,
        }

    def _steps(
        self, state: _DossierState, status: int | str
    ) -> list[tuple[Instant, str, int | str, str]]:
        """The officials' steps, and the desk's placeholder at receipt and at the end."""
        steps: list[tuple[Instant, str, int | str, str]] = [
            (at, who, str(code), what) for at, who, code, what in super()._steps(state, status)
        ]
        submission, end = state.submission, state.completion
        assert submission is not None
        steps.append((submission.received_at, PLACEHOLDER, "2", "Tiếp nhận hồ sơ"))
        if end is not None:
            steps.append((end.at, PLACEHOLDER, str(status), STEP_NAMES[end.outcome]))
        return steps
