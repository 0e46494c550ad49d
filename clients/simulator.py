"""A synthetic but realistic event stream for Khánh Hòa's units (all data is SYNTHETIC).

The model: every unit of the registry has officials (3-6 in a commune or ward, 5-12 in a
provincial agency) and takes dossiers on working days (counter and postal in office hours,
online around the clock) for procedures with statutory processing times. Most units stay
within Conclusion 91; some drift over the 5 % late line as the weeks pass, some have a
satisfaction index near or under 80 %, and some officials run late on over 10 % of their
dossiers. At-least-once delivery is imitated with a few duplicate submissions, delivered
up to an hour after the original; every other event comes in the order of its own
timestamp, rankings included.

Decision 766's traffic comes with it: about 8 % of dossiers get a request for supplements
(a pause, sent open and re-sent with ``resumed_at`` when the citizen brings the papers),
about 1 % a second one (late by contract), about 3 % wait for a financial obligation
(mostly land and construction), and a few pauses never end. Pauses stop the dossier's
clock, so a paused dossier completes later in wall time by as long as it waited. Every
outcome occurs (a quarter of the resolved dossiers also send a later "returned" when the
result is handed over), and about a third of the late dossiers are rescheduled around
their deadline, mostly with an apology. Timestamps are whole seconds, so the national sync
format, whose dates have no fraction, carries them without loss.

Output is deterministic for a given seed and window::

    >>> events = list(Simulator(seed=1, units_limit=2).history(date(2026, 1, 5), days=1))
    >>> events[0][0], events[0][1]["dossier_id"]
    ('cchc.dossier-submitted', '000.01.30.H34-260105-0003')

:func:`as_dvcqg` turns such a stream into the national portal's sync messages (contract
section 9); ``cchc simulate --format dvcqg`` prints it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from kpi.calendar import WorkingCalendar
from kpi.dossier import Completion, Pause
from kpi.periods import DAY_US, HOUR_US, date_of_day, day_number, day_of, day_start
from kpi.procedures import SYNTHETIC, load_procedures
from kpi.units import Unit, load_units
from schemas.codec import decode, format_instant, parse_instant
from schemas.records import (
    DossierCompleted,
    DossierPause,
    DossierSubmitted,
    Event,
    EventKind,
    Instant,
    PauseReason,
    ProcessingTime,
)
from streams.topics import TopicNames

SYNTHETIC_NOTE = "Dữ liệu mô phỏng (synthetic demo data)"
SECOND_US = 1_000_000


class Procedure(NamedTuple):
    code: str
    name: str
    """TenTTHC, the name the national portal shows."""
    processing: ProcessingTime
    online_share: float
    financial_share: float
    """Dossiers that wait for a financial obligation (taxes and fees: land, building)."""
    fee_share: float = 0.0
    """Dossiers with a fee or charge to pay (v1.2 ``fee_due``)."""


COMMUNE_PROCEDURES = [
    Procedure(
        "chung-thuc-ban-sao",
        "Chứng thực bản sao từ bản chính",
        ProcessingTime(8, "hours"),
        0.2,
        0.0,
        fee_share=1.0,
    ),
    Procedure(
        "dang-ky-khai-sinh", "Đăng ký khai sinh", ProcessingTime(1, "working_days"), 0.5, 0.0
    ),
    Procedure("dang-ky-ket-hon", "Đăng ký kết hôn", ProcessingTime(5, "working_days"), 0.3, 0.0),
    Procedure(
        "xac-nhan-tinh-trang-hon-nhan",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        ProcessingTime(3, "working_days"),
        0.4,
        0.0,
        fee_share=0.2,
    ),
    Procedure(
        "dang-ky-bien-dong-dat-dai",
        "Đăng ký biến động quyền sử dụng đất",
        ProcessingTime(10, "working_days"),
        0.2,
        0.15,
        fee_share=1.0,
    ),
    Procedure(
        "ho-tro-nguoi-co-cong",
        "Giải quyết chế độ trợ cấp đối với người có công",
        ProcessingTime(15, "calendar_days"),
        0.1,
        0.03,
    ),
]
PROVINCE_PROCEDURES = [
    Procedure(
        "cap-giay-phep-xay-dung",
        "Cấp giấy phép xây dựng",
        ProcessingTime(15, "working_days"),
        0.6,
        0.08,
        fee_share=1.0,
    ),
    Procedure(
        "dang-ky-doanh-nghiep",
        "Đăng ký thành lập doanh nghiệp",
        ProcessingTime(3, "working_days"),
        0.9,
        0.02,
        fee_share=1.0,
    ),
    Procedure(
        "cap-phieu-ly-lich-tu-phap",
        "Cấp Phiếu lý lịch tư pháp",
        ProcessingTime(10, "working_days"),
        0.7,
        0.0,
        fee_share=1.0,
    ),
    Procedure(
        "cap-giay-phep-lao-dong",
        "Cấp giấy phép lao động cho người lao động nước ngoài",
        ProcessingTime(5, "working_days"),
        0.5,
        0.02,
        fee_share=1.0,
    ),
    Procedure(
        "cap-chung-chi-hanh-nghe",
        "Cấp chứng chỉ hành nghề",
        ProcessingTime(20, "working_days"),
        0.4,
        0.05,
        fee_share=1.0,
    ),
    Procedure(
        "xac-nhan-ho-so-khan-cap",
        "Xác nhận hồ sơ khẩn cấp",
        ProcessingTime(24, "hours"),
        0.3,
        0.01,
    ),
]
PROCEDURE_NAMES = {p.code: p.name for p in (*COMMUNE_PROCEDURES, *PROVINCE_PROCEDURES)}
FIELDS = load_procedures(SYNTHETIC)
"""Each procedure's field (lĩnh vực), from the synthetic catalogue the demo's worker reads."""
RANKS = (("tot", 0.4), ("kha", 0.4), ("trung_binh", 0.15), ("yeu", 0.05))
OUTCOMES = (
    ("resolved", 0.91),
    ("returned", 0.03),  # alone: a system that records only the handover of the result
    ("rejected", 0.03),
    ("stopped", 0.01),
    ("withdrawn", 0.02),
)
HANDED_OVER = 0.25
"""Resolved dossiers that also send a later "returned" completion (result handed over)."""
SUPPLEMENTED = 0.08
ASKED_TWICE = 0.3
"""Late dossiers that are late by a second request for supplements (Decision 766 counts
it as late whatever the times) rather than by time: about 1 % of all dossiers, more in
the units that run late, and the late rates keep the model's character."""
NEVER_RESUMED = 0.05
"""Pauses whose citizen never comes back: the dossier stays open and paused."""
RESCHEDULED, APOLOGISED = 0.3, 0.85
"""Late dossiers that get a new appointment; of those, the ones with an apology letter."""

SUBMITTED_TOPIC = "cchc.dossier-submitted"
COMPLETED_TOPIC = "cchc.dossier-completed"
PAUSE_TOPIC = "cchc.dossier-pause"
RESCHEDULED_TOPIC = "cchc.dossier-rescheduled"
SYNC_TOPIC = "cchc.dvcqg-sync"
_KINDS = {TopicNames().for_kind(kind): kind for kind in EventKind}


@dataclass
class UnitProfile:
    unit: Unit
    officials: list[str]
    daily_dossiers: float
    late_start: float  # late probability at the start of the window
    late_drift: float  # added to it by the end of a year
    dissatisfied: float
    slow_officials: frozenset[str]


class PlannedPause(NamedTuple):
    """A pause on the dossier's own clock: ``clock_at`` is effective time (contract §3)."""

    clock_at: Instant
    pause_id: str
    reason: PauseReason
    duration: Instant | None
    """Wall time paused; None: never resumed."""


class Simulator:
    """Generates (topic, event) pairs in time order; ``topic`` is the contract's name."""

    def __init__(
        self,
        seed: int = 1,
        scale: float = 1.0,
        units_limit: int | None = None,
        calendar: WorkingCalendar | None = None,
        units: dict[str, Unit] | None = None,
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.calendar = calendar or WorkingCalendar()
        registry = list((units or load_units()).values())[:units_limit]
        rng = random.Random(seed)
        self.profiles = [self._profile(unit, rng) for unit in registry]
        self._sequence = itertools.count()

    @staticmethod
    def _profile(unit: Unit, rng: random.Random) -> UnitProfile:
        province = unit.level == "province"
        count = rng.randint(5, 12) if province else rng.randint(3, 6)
        officials = [f"{unit.unit_id}.cb{n:02d}" for n in range(1, count + 1)]
        drifting, unhappy = rng.random() < 0.15, rng.random() < 0.12
        return UnitProfile(
            unit=unit,
            officials=officials,
            daily_dossiers=rng.uniform(20, 40) if province else rng.uniform(6, 18),
            late_start=rng.uniform(0.005, 0.035),
            late_drift=rng.uniform(0.05, 0.10) if drifting else 0.0,
            dissatisfied=rng.uniform(0.17, 0.26) if unhappy else rng.uniform(0.03, 0.12),
            slow_officials=frozenset(o for o in officials if rng.random() < 0.08),
        )

    def history(
        self, start: date, days: int, live_from: Instant | None = None, live_scale: float = 1.0
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events of ``days`` days from ``start``, in timestamp order.

        Dossiers received in the window complete (or not) after it too, as in reality.
        With ``live_from``, days from then on use ``live_scale`` (a livelier demo).
        """
        rng = random.Random(self.seed * 7919 + start.toordinal())
        first_day = day_number(start)
        pending: list[tuple[Instant, int, str, dict[str, Any]]] = []
        for topic, event, at in self._rankings(start, rng):
            heapq.heappush(pending, (at, next(self._sequence), topic, event))
        for day in range(first_day, first_day + days):
            day_end = day_start(day + 1)
            scale = live_scale if live_from is not None and day_end > live_from else self.scale
            for profile in self.profiles:
                for topic, event, at in self._day_of_unit(profile, day, first_day, scale, rng):
                    heapq.heappush(pending, (at, next(self._sequence), topic, event))
            while pending and pending[0][0] < day_end:
                _, _, topic, event = heapq.heappop(pending)
                yield topic, event
        while pending:
            _, _, topic, event = heapq.heappop(pending)
            yield topic, event

    def _rankings(
        self, start: date, rng: random.Random
    ) -> Iterator[tuple[str, dict[str, Any], Instant]]:
        """The two past years' ranks, published on 15 January of the window's year."""
        published = day_start(day_number(date(start.year, 1, 15))) + 9 * HOUR_US
        for profile in self.profiles:
            for year in (start.year - 2, start.year - 1):
                rank = rng.choices([r for r, _ in RANKS], [w for _, w in RANKS])[0]
                yield (
                    "cchc.unit-ranking",
                    {
                        "event_id": f"rank-{profile.unit.unit_id}-{year}",
                        "unit_id": profile.unit.unit_id,
                        "year": year,
                        "rank": rank,
                        "published_at": format_instant(published),
                    },
                    published,
                )

    def _day_of_unit(
        self, profile: UnitProfile, day: int, first_day: int, scale: float, rng: random.Random
    ) -> Iterator[tuple[str, dict[str, Any], Instant]]:
        working = self.calendar.is_working_day(day)
        expected = profile.daily_dossiers * scale * (1.0 if working else 0.15)
        procedures = PROVINCE_PROCEDURES if profile.unit.level == "province" else COMMUNE_PROCEDURES
        progress = min(1.0, (day - first_day) / 365)
        late_probability = profile.late_start + profile.late_drift * progress
        # MaHoSo style (agency code, yyMMdd, serial): unique in the province, so that the
        # national sync records, keyed by MaHoSo alone, can use the same dossier_id.
        prefix = f"{profile.unit.dvcqg_code or profile.unit.unit_id}-{date_of_day(day):%y%m%d}"
        for number in range(_poisson(expected, rng)):
            procedure = rng.choice(procedures)
            online = rng.random() < procedure.online_share or not working
            if online:
                received = day_start(day) + _seconds(rng, 0, 86_400)
            else:  # office hours 07:30-17:00
                received = day_start(day) + _seconds(rng, 27_000, 61_200)
            yield from self._dossier(
                profile,
                f"{prefix}-{number + 1:04d}",
                procedure,
                "online" if online else rng.choice(("counter", "counter", "postal")),
                received,
                late_probability,
                rng,
            )

    def _dossier(
        self,
        profile: UnitProfile,
        dossier_id: str,
        procedure: Procedure,
        channel: str,
        received: Instant,
        late_probability: float,
        rng: random.Random,
    ) -> Iterator[tuple[str, dict[str, Any], Instant]]:
        unit_id = profile.unit.unit_id
        prefix = f"{unit_id}/{dossier_id}"
        official = rng.choice(profile.officials)
        about = {"unit_id": unit_id, "dossier_id": dossier_id}
        due = self.calendar.deadline(received, procedure.processing)
        processing = procedure.processing
        submitted: dict[str, Any] = {
            "event_id": f"{prefix}/s",
            **about,
            "received_at": format_instant(received),
            "processing_time": {"amount": processing.amount, "unit": processing.unit},
            "official_id": official,
            "procedure_code": procedure.code,
            "channel": channel,
        }
        field = FIELDS.get(procedure.code)
        if field is not None:
            submitted["field_code"] = field.field_code
        at_receipt, at_end = _services(
            profile.unit.unit_id, dossier_id, procedure, channel, received
        )
        submitted |= at_receipt
        yield SUBMITTED_TOPIC, submitted, received
        if rng.random() < 0.01:
            yield SUBMITTED_TOPIC, submitted, received + rng.randrange(HOUR_US)
        slow = official in profile.slow_officials
        late = rng.random() < (late_probability + (0.12 if slow else 0.0))
        asked_twice = late and rng.random() < ASKED_TWICE
        # When the dossier's clock reaches its end; pauses then push it later in wall time.
        if late and not asked_twice:
            finish = due + _seconds(rng, 3_600, 6 * 86_400)
        else:
            finish = received + _whole(int((due - received) * rng.uniform(0.05, 0.98)))
        pauses = _planned_pauses(procedure, received, finish, asked_twice, rng)
        paused = 0
        for pause in pauses:
            paused_at = pause.clock_at + paused
            opened = {
                "event_id": f"{prefix}/{pause.pause_id}",
                **about,
                "pause_id": pause.pause_id,
                "reason": pause.reason,
                "paused_at": format_instant(paused_at),
                "official_id": official,
            }
            yield PAUSE_TOPIC, opened, paused_at
            if pause.duration is None:
                return  # the citizen never came back: the dossier stays open, paused
            paused += pause.duration
            resumed = paused_at + pause.duration
            closed = {
                "event_id": f"{prefix}/{pause.pause_id}/r",
                "resumed_at": format_instant(resumed),
            }
            yield PAUSE_TOPIC, opened | closed, resumed
        completed = finish + paused
        if late and rng.random() < RESCHEDULED:
            # around the moment the deadline passes in wall time, and before the end
            deadline = due + sum(p.duration or 0 for p in pauses if p.clock_at < due)
            moment = deadline + _seconds(rng, -2 * 86_400, 4 * 3_600)
            rescheduled = max(received, min(moment, completed))
            new_due = max(completed + _seconds(rng, -12 * 3_600, 2 * 86_400), due + HOUR_US)
            event = {
                "event_id": f"{prefix}/d",
                **about,
                "rescheduled_at": format_instant(rescheduled),
                "new_due_at": format_instant(new_due),
                "apology": rng.random() < APOLOGISED,
                "official_id": official,
            }
            yield RESCHEDULED_TOPIC, event, rescheduled
        outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
        completion = {
            "event_id": f"{prefix}/c",
            **about,
            "completed_at": format_instant(completed),
            "official_id": official,
            "outcome": outcome,
        } | at_end
        yield COMPLETED_TOPIC, completion, completed
        if outcome == "resolved" and rng.random() < HANDED_OVER:
            handed = completed + _seconds(rng, 3_600, 3 * 86_400)
            handover = {"event_id": f"{prefix}/t", "completed_at": format_instant(handed)}
            yield COMPLETED_TOPIC, completion | handover | {"outcome": "returned"}, handed
        if rng.random() < 0.35:
            surveyed = completed + _seconds(rng, 0, 2 * 86_400)
            dissatisfied = rng.random() < profile.dissatisfied
            rating = "dissatisfied" if dissatisfied else rng.choice(("satisfied", "very_satisfied"))
            yield (
                "cchc.satisfaction-survey",
                {
                    "event_id": f"{prefix}/v",
                    **about,
                    "surveyed_at": format_instant(surveyed),
                    "rating": rating,
                    "official_id": official,
                },
                surveyed,
            )


def _services(
    unit_id: str, dossier_id: str, procedure: Procedure, channel: str, received: Instant
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dossier's v1.2 fields at its receipt and at its end: when the citizen submitted it
    online, its fee and how it was paid, its digitised parts and electronic result. They
    come from generators of their own (the unit's habits, the dossier's draws), seeded by
    the ids, so that the rest of every story is what it was before they existed."""
    paying, digitising, e_results, slow_desk = _habits(unit_id)
    rng = random.Random(dossier_id)
    at_receipt: dict[str, Any] = {}
    at_end: dict[str, Any] = {}
    online = channel == "online"
    if online:
        draw = rng.random()
        if draw < slow_desk:  # a desk that leaves online dossiers for days
            delay = _seconds(rng, 2 * 86_400, 5 * 86_400)
        elif draw < 0.25:
            delay = _seconds(rng, 8 * 3_600, 30 * 3_600)
        else:
            delay = _seconds(rng, 300, 8 * 3_600)
        at_receipt["submitted_at"] = format_instant(received - delay)
    if rng.random() < procedure.fee_share:
        at_receipt["fee_due"] = True
        paid = rng.random() < (paying if online else paying / 3)
        (at_receipt if online else at_end)["paid_online"] = paid
    at_receipt["digitised"] = rng.random() < digitising
    at_end["result_digital"] = rng.random() < e_results
    return at_receipt, at_end


@functools.cache
def _habits(unit_id: str) -> tuple[float, float, float, float]:
    """A unit's habits: the share of fees paid online (of online dossiers), of dossiers
    digitised, of results issued electronically, and of online dossiers its desk leaves
    waiting for days."""
    rng = random.Random(unit_id)
    return rng.uniform(0.3, 0.95), rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0), rng.uniform(0, 0.1)


def _planned_pauses(
    procedure: Procedure,
    received: Instant,
    finish: Instant,
    asked_twice: bool,
    rng: random.Random,
) -> list[PlannedPause]:
    """The dossier's pauses in clock order: supplements early, the financial one late."""
    span = finish - received
    planned: list[tuple[Instant, str, PauseReason]] = []
    if asked_twice or rng.random() < SUPPLEMENTED:
        first = received + _whole(int(span * rng.uniform(0.05, 0.5)))
        planned.append((first, "bs1", "supplement"))
        if asked_twice:
            second = first + _whole(int((finish - first) * rng.uniform(0.2, 0.8)))
            planned.append((second, "bs2", "supplement"))
    if rng.random() < procedure.financial_share:
        obligation = received + _whole(int(span * rng.uniform(0.6, 0.95)))
        planned.append((obligation, "nvtc1", "financial_obligation"))
    pauses = []
    for clock_at, pause_id, reason in sorted(planned):
        longest = 5 * 86_400 if reason == "supplement" else 10 * 86_400
        duration = None if rng.random() < NEVER_RESUMED else _seconds(rng, 2 * 3_600, longest)
        pauses.append(PlannedPause(clock_at, pause_id, reason, duration))
    return pauses


def _seconds(rng: random.Random, low: int, high: int) -> Instant:
    """A random whole number of seconds in [low, high), as microseconds."""
    return rng.randrange(low, high) * SECOND_US


def _whole(duration: Instant) -> Instant:
    return duration - duration % SECOND_US


def _poisson(mean: float, rng: random.Random) -> int:
    """Knuth's method for small means; a normal approximation for large ones."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _decoded(topic: str, event: dict[str, Any]) -> Event:
    """The contract's record of a section-2 event: its own timestamp, defaults applied."""
    kind = _KINDS.get(topic)
    if kind is None:
        raise ValueError(f"{topic!r} is not a topic of the contract's section 2")
    return decode(kind, orjson.dumps(event))


def event_time(topic: str, event: dict[str, Any]) -> Instant:
    """An event's own timestamp (contract §6): a DvcqgSync message's is ``synced_at``."""
    if topic == SYNC_TOPIC:
        return parse_instant(event["synced_at"], "synced_at")
    return _decoded(topic, event).timestamp


def message_key(topic: str, value: dict[str, Any]) -> str | None:
    """The Kafka key (contract §1): the ``MaHoSo`` of a sync message whose records are all
    of one dossier, as a one-stop system sends them and as the ingest keys them; none for
    a batch of several; ``unit_id`` for every other event."""
    if topic != SYNC_TOPIC:
        key: str = value["unit_id"]
        return key
    named = {str(record["MaHoSo"]) for record in value["data"]}
    return named.pop() if len(named) == 1 else None


def paced(
    events: Iterator[tuple[str, dict[str, Any]]], stop: threading.Event | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Release each event no earlier than its own timestamp (wall time): a live feed.

    Setting ``stop`` ends the feed at once, even in the middle of a wait.
    """
    stop = stop or threading.Event()
    for topic, event in events:
        wait = (event_time(topic, event) - time.time_ns() // 1000) / 1e6
        if (wait > 0 and stop.wait(wait)) or stop.is_set():
            return
        yield topic, event


# The national dossier-sync records (contract section 9).

DOSSIER_SERVICE = "DongBoHoSoMC"
PROGRESS_SERVICE = "CapNhatTienDoHoSoMC"
CHANNEL_CODES = {"counter": 1, "online": 2, "postal": 3}
# TrangThaiHoSo
RECEIVED = 2  # Đã tiếp nhận
PROCESSING = 4  # Đang xử lý
AWAITING_SUPPLEMENT = 5  # Chờ bổ sung
AWAITING_OBLIGATION = 6  # Chờ thực hiện nghĩa vụ tài chính
WITHDRAWN = 7  # Công dân yêu cầu rút hồ sơ
STOPPED = 8  # Dừng xử lý
PROCESSED = 9  # Đã xử lý xong
RETURNED = 10  # Đã trả kết quả
STEP_NAMES = {
    "resolved": "Hoàn thành xử lý hồ sơ",
    "returned": "Trả kết quả cho công dân",
    "rejected": "Từ chối giải quyết hồ sơ",
    "stopped": "Dừng xử lý hồ sơ",
    "withdrawn": "Công dân rút hồ sơ",
}
SYNC_INTERVAL = 60 * SECOND_US
"""A one-stop system sends what changed in each minute as one call per service."""
BATCH_LIMIT = 50
FORGET_AFTER = 30 * DAY_US
"""The simulator never changes a dossier this long after its end (a handover comes
within days)."""


_day_digits: dict[int, str] = {}


def sync_date(instant: Instant) -> str:
    """A sync record's date: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (fractions dropped).

    The day's digits are memoised: a snapshot has several dates, mostly on few days, and
    ``strftime`` for each was a good part of what a conversion costs.

    >>> sync_date(parse_instant("2026-01-05T20:30:59.5Z", "t"))
    '20260106033059'
    """
    day = day_of(instant)
    digits = _day_digits.get(day)
    if digits is None:
        digits = _day_digits[day] = f"{date_of_day(day):%Y%m%d}"
    seconds = (instant - day_start(day)) // SECOND_US
    return f"{digits}{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def _sync_date_or_none(instant: Instant | None) -> str:
    return "" if instant is None else sync_date(instant)


def as_dvcqg(
    events: Iterable[tuple[str, dict[str, Any]]],
    units: Mapping[str, Unit] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The same traffic as a one-stop system sends it to the national portal (contract §9).

    Submissions, completions and supplement pauses become ``DongBoHoSoMC`` snapshots on
    ``cchc.dvcqg-sync``: at every change of a dossier its whole state (cumulative), which the
    contract's rules turn back into the winning submission, completion and supplement
    pauses of the events. ``MaHoSo`` is the dossier_id (so dossier ids must be unique across
    units, as the simulator's are); ``DonViXuLy`` the unit's ``dvcqg_code`` (its unit_id
    without one, which the contract maps back to itself); ``NgayHenTra`` the appointment
    as supplements moved it (each resumed pause moves it by its length), the first entry's
    ``NgayHenTraTruoc`` the original due. The winning completion (contract §4) gives the
    status: resolved 9 (10 with ``NgayTra`` once a "returned" also came), returned 10,
    stopped 8, withdrawn 7, each with its date; rejected keeps the open status and sets
    ``NgayTuChoi``. ``CapNhatTienDoHoSoMC`` progress records name the submission's official
    at receipt and the completion's (else the submission's) at the end.

    What sync records cannot say: financial-obligation pauses (status 6 carries no date, so
    their time counts as processing and such a dossier may turn late); the official is
    not a field of the dossier but the latest progress record up to its end, so when a
    dossier ends in the very second it was received, by another official, the contract's
    tie-break (``NguoiXuLy`` by code point) may name the other one; a snapshot holds one
    end, so losing completions vanish (figures use only the winner anyway); completions or
    pauses of a dossier whose submission never comes (no ``NgayTiepNhan``) are dropped,
    so orphans are lost; two units' dossiers with the same dossier_id would be one
    ``MaHoSo``; dates lose any fraction of a second. Reschedulings, surveys and rankings
    are not sync records: they pass through unchanged on their own topics. Kafka keys:
    :func:`message_key`.

    Batches: a change goes into the message of its minute and service, at most
    :data:`BATCH_LIMIT` records each, whose ``synced_at`` is the latest change time in it.
    A dossier appears at most once per minute (its latest state), so each later snapshot of
    it lies in a later minute, with a strictly later ``synced_at``: the contract's winner is
    always the latest state. Input must come in time order (as :meth:`Simulator.history`
    yields it); an event older than one before it is taken at the time already reached.
    The output is in time order, each event at its own time and each message at its
    ``synced_at``. A dossier ended :data:`FORGET_AFTER` before the stream's time is
    forgotten, so that a year converts in bounded memory; a later event of it would be
    taken for an orphan.
    """
    converter = _DvcqgConverter(units if units is not None else load_units(), calendar)
    for topic, event in events:
        yield from converter.feed(topic, event)
    yield from converter.flush()


@dataclass(slots=True)
class _DossierState:
    """What the events said so far of one dossier: the winners of contract section 4."""

    submission: DossierSubmitted | None = None
    due: Instant = 0
    completion: Completion | None = None
    returned_at: Instant | None = None
    """The latest "returned": the handover after a "resolved" (status 10)."""
    pauses: dict[str, Pause] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    """The last snapshot sent."""
    steps: set[tuple[Instant, str]] = field(default_factory=set)
    """(ThoiDiemXuLy, NguoiXuLy) of the progress records sent."""
    touched: Instant = 0


class _DvcqgConverter:
    """The state :func:`as_dvcqg` keeps: each dossier's winners, and the current minute."""

    def __init__(self, units: Mapping[str, Unit], calendar: WorkingCalendar | None) -> None:
        self._codes = {unit.unit_id: unit.dvcqg_code for unit in units.values() if unit.dvcqg_code}
        self._calendar = calendar or WorkingCalendar()
        self._dossiers: dict[str, _DossierState] = {}
        self._ended: deque[tuple[Instant, str]] = deque()
        self._now: Instant | None = None
        # this minute's output: latest snapshot per MaHoSo, progress records, other events
        self._snapshots: dict[str, tuple[Instant, dict[str, Any]]] = {}
        self._progress: list[tuple[Instant, dict[str, Any]]] = []
        self._passed: list[tuple[Instant, str, dict[str, Any]]] = []

    def feed(self, topic: str, event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        record = _decoded(topic, event)
        at = record.timestamp if self._now is None else max(self._now, record.timestamp)
        if self._now is not None and at // SYNC_INTERVAL != self._now // SYNC_INTERVAL:
            yield from self.flush()
        self._now = at
        if isinstance(record, DossierSubmitted | DossierCompleted | DossierPause):
            self._apply(record, at)
        else:
            self._passed.append((at, topic, event))

    def flush(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The minute's messages and events, in time order."""
        out = self._passed
        snapshots = sorted(self._snapshots.values(), key=itemgetter(0))
        for service, records in ((DOSSIER_SERVICE, snapshots), (PROGRESS_SERVICE, self._progress)):
            for start in range(0, len(records), BATCH_LIMIT):
                batch = records[start : start + BATCH_LIMIT]
                synced = batch[-1][0]
                message = {
                    "service": service,
                    "synced_at": format_instant(synced),
                    "data": [record for _, record in batch],
                }
                out.append((synced, SYNC_TOPIC, message))
        out.sort(key=itemgetter(0))
        self._snapshots, self._progress, self._passed = {}, [], []
        self._forget()
        for _, topic, value in out:
            yield topic, value

    def _forget(self) -> None:
        if self._now is None:
            return
        horizon = self._now - FORGET_AFTER
        while self._ended and self._ended[0][0] < horizon:
            touched, dossier_id = self._ended.popleft()
            state = self._dossiers.get(dossier_id)
            if state is not None and state.touched == touched:
                del self._dossiers[dossier_id]

    def _apply(
        self, record: DossierSubmitted | DossierCompleted | DossierPause, at: Instant
    ) -> None:
        state = self._dossiers.setdefault(record.dossier_id, _DossierState())
        if isinstance(record, DossierSubmitted):
            current = state.submission
            if current is None or (record.received_at, record.event_id) > (
                current.received_at,
                current.event_id,
            ):
                state.submission = record
                state.due = self._due(record)
        elif isinstance(record, DossierCompleted):
            end = Completion(
                record.completed_at,
                record.event_id,
                record.official_id,
                record.outcome,
                record.flags,
            )
            if end.outcome == "returned":
                state.returned_at = max(end.at, state.returned_at or end.at)
            if state.completion is None or end.rank > state.completion.rank:
                state.completion = end
        else:
            supplement = record.reason == "supplement"
            pause = Pause(
                record.pause_id, record.event_id, supplement, record.paused_at, record.resumed_at
            )
            known = state.pauses.get(pause.pause_id)
            if known is None or pause.rank > known.rank:
                state.pauses[pause.pause_id] = pause
        if state.completion is not None:
            state.touched = at
            self._ended.append((at, record.dossier_id))
        snapshot = self._snapshot(record.dossier_id, state)
        if snapshot is None or snapshot == state.record:
            return
        state.record = snapshot
        self._snapshots[record.dossier_id] = (at, snapshot)
        for moment, official, status, what in self._steps(state, snapshot["TrangThaiHoSo"]):
            if (moment, official) not in state.steps:
                state.steps.add((moment, official))
                progress = {
                    "MaHoSo": record.dossier_id,
                    "NguoiXuLy": official,
                    "ThoiDiemXuLy": self._date(moment),
                    "TrangThai": status,
                    "NoiDungXuLy": what,
                }
                self._progress.append((at, progress))

    def _date(self, instant: Instant | None) -> str | None:
        """A date as the records write it."""
        return _sync_date_or_none(instant)

    def _due(self, submission: DossierSubmitted) -> Instant:
        if submission.due_at is not None:
            return submission.due_at
        assert submission.processing_time is not None  # the schema requires one of them
        return self._calendar.deadline(submission.received_at, submission.processing_time)

    def _steps(
        self, state: _DossierState, status: int | str
    ) -> list[tuple[Instant, str, int | str, str]]:
        """(ThoiDiemXuLy, NguoiXuLy, TrangThai, NoiDungXuLy) of the steps that name the
        dossier's official: its receipt, and its end (``status``) by the completion's
        official, else the submission's, as section 5 gives the dossier's official."""
        submission, end = state.submission, state.completion
        assert submission is not None
        steps: list[tuple[Instant, str, int | str, str]] = []
        if submission.official_id:
            steps.append(
                (submission.received_at, submission.official_id, RECEIVED, "Tiếp nhận hồ sơ")
            )
        if end is not None:
            official = end.official or submission.official_id
            if official:
                steps.append((end.at, official, status, STEP_NAMES[end.outcome]))
        return steps

    def _snapshot(self, dossier_id: str, state: _DossierState) -> dict[str, Any] | None:
        """The DongBoHoSoMC record of the dossier's state; None before its receipt."""
        submission = state.submission
        if submission is None:
            return None
        appointment, supplements = state.due, []
        pauses = sorted(state.pauses.values(), key=lambda p: (p.at, p.pause_id))
        for pause in pauses:
            if not pause.supplement:
                continue
            moved = None if pause.resumed is None else appointment + pause.resumed - pause.at
            supplements.append(
                {
                    "HoSoBoSungId": pause.pause_id,
                    "NgayBoSung": sync_date(pause.at),
                    "NgayTiepNhanBoSung": _sync_date_or_none(pause.resumed),
                    "NgayHenTraTruoc": sync_date(appointment),
                    "NgayHenTraMoi": _sync_date_or_none(moved),
                }
            )
            appointment = appointment if moved is None else moved
        waiting = [pause.supplement for pause in pauses if pause.resumed is None]
        status = (
            AWAITING_SUPPLEMENT
            if any(waiting)
            else AWAITING_OBLIGATION
            if waiting
            else PROCESSING
            if pauses
            else RECEIVED
        )
        processed = returned = rejected = None
        end = state.completion
        if end is not None and end.outcome == "rejected":
            rejected = end.at
        elif end is not None and end.outcome == "returned":
            status, returned = RETURNED, end.at
        elif end is not None and end.outcome == "resolved":
            processed, returned = end.at, state.returned_at
            status = PROCESSED if returned is None else RETURNED
        elif end is not None:
            processed = end.at
            status = STOPPED if end.outcome == "stopped" else WITHDRAWN
        record: dict[str, Any] = {
            "MaHoSo": dossier_id,
            "MaTTHC": submission.procedure_code or "",
            "TenTTHC": PROCEDURE_NAMES.get(submission.procedure_code or "", ""),
            "DonViXuLy": self._codes.get(submission.unit_id, submission.unit_id),
            "TrangThaiHoSo": status,
            "NgayTiepNhan": sync_date(submission.received_at),
            "NgayHenTra": sync_date(appointment),
            "NgayKetThucXuLy": _sync_date_or_none(processed),
            "NgayTra": _sync_date_or_none(returned),
            "NgayTuChoi": _sync_date_or_none(rejected),
            "DanhSachHoSoBoSung": supplements,
        }
        if submission.channel in CHANNEL_CODES:
            record["KenhThucHien"] = CHANNEL_CODES[submission.channel]
        return record
