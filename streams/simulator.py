"""A synthetic but realistic event stream for Khánh Hòa's units (all data is SYNTHETIC).

The model: every unit of the registry has officials (3-6 in a commune or ward, 5-12 in a
provincial agency) and takes dossiers on working days (counter and postal in office hours,
online around the clock) for procedures with statutory processing times. Most units stay
within Conclusion 91; some drift over the 5 % late line as the weeks pass, some have a
satisfaction index near or under 80 %, and some officials run late on over 10 % of their
dossiers. At-least-once delivery is imitated with a few duplicate events.

Output is deterministic for a given seed and window::

    >>> events = list(Simulator(seed=1, units_limit=2).history(date(2026, 1, 5), days=1))
    >>> events[0][0]
    'cchc.unit-ranking'
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from kpi.calendar import WorkingCalendar
from kpi.periods import DAY_US, HOUR_US, date_of_day, day_number, day_start
from kpi.units import Unit, load_units
from schemas.codec import format_instant, parse_instant
from schemas.records import Instant, ProcessingTime

SYNTHETIC_NOTE = "Dữ liệu mô phỏng (synthetic demo data)"

# (procedure code, processing time, share of online submissions)
COMMUNE_PROCEDURES = [
    ("chung-thuc-ban-sao", ProcessingTime(8, "hours"), 0.2),
    ("dang-ky-khai-sinh", ProcessingTime(1, "working_days"), 0.5),
    ("dang-ky-ket-hon", ProcessingTime(5, "working_days"), 0.3),
    ("xac-nhan-tinh-trang-hon-nhan", ProcessingTime(3, "working_days"), 0.4),
    ("dang-ky-bien-dong-dat-dai", ProcessingTime(10, "working_days"), 0.2),
    ("ho-tro-nguoi-co-cong", ProcessingTime(15, "calendar_days"), 0.1),
]
PROVINCE_PROCEDURES = [
    ("cap-giay-phep-xay-dung", ProcessingTime(15, "working_days"), 0.6),
    ("dang-ky-doanh-nghiep", ProcessingTime(3, "working_days"), 0.9),
    ("cap-phieu-ly-lich-tu-phap", ProcessingTime(10, "working_days"), 0.7),
    ("cap-giay-phep-lao-dong", ProcessingTime(5, "working_days"), 0.5),
    ("cap-chung-chi-hanh-nghe", ProcessingTime(20, "working_days"), 0.4),
    ("xac-nhan-ho-so-khan-cap", ProcessingTime(24, "hours"), 0.3),
]
RANKS = (("tot", 0.4), ("kha", 0.4), ("trung_binh", 0.15), ("yeu", 0.05))


@dataclass
class UnitProfile:
    unit: Unit
    officials: list[str]
    daily_dossiers: float
    late_start: float  # late probability at the start of the window
    late_drift: float  # added to it by the end of a year
    dissatisfied: float
    slow_officials: frozenset[str]


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
        yield from self._rankings(start, rng)
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

    def _rankings(self, start: date, rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
        published = format_instant(day_start(day_number(date(start.year, 1, 15))) + 9 * HOUR_US)
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
                        "published_at": published,
                    },
                )

    def _day_of_unit(
        self, profile: UnitProfile, day: int, first_day: int, scale: float, rng: random.Random
    ) -> Iterator[tuple[str, dict[str, Any], Instant]]:
        working = self.calendar.is_working_day(day)
        expected = profile.daily_dossiers * scale * (1.0 if working else 0.15)
        procedures = PROVINCE_PROCEDURES if profile.unit.level == "province" else COMMUNE_PROCEDURES
        progress = min(1.0, (day - first_day) / 365)
        late_probability = profile.late_start + profile.late_drift * progress
        for number in range(_poisson(expected, rng)):
            code, processing, online_share = rng.choice(procedures)
            online = rng.random() < online_share or not working
            if online:
                received = day_start(day) + rng.randrange(DAY_US)
            else:  # office hours 07:30-17:00
                received = day_start(day) + int((7.5 + rng.random() * 9.5) * HOUR_US)
            yield from self._dossier(
                profile,
                f"{date_of_day(day):%Y%m%d}-{number:04d}",
                code,
                processing,
                "online" if online else rng.choice(("counter", "counter", "postal")),
                received,
                late_probability,
                rng,
            )

    def _dossier(
        self,
        profile: UnitProfile,
        serial: str,
        code: str,
        processing: ProcessingTime,
        channel: str,
        received: Instant,
        late_probability: float,
        rng: random.Random,
    ) -> Iterator[tuple[str, dict[str, Any], Instant]]:
        unit_id = profile.unit.unit_id
        dossier_id = f"HS-{serial}"
        official = rng.choice(profile.officials)
        due = self.calendar.deadline(received, processing)
        submitted: dict[str, Any] = {
            "event_id": f"{unit_id}/{dossier_id}/s",
            "unit_id": unit_id,
            "dossier_id": dossier_id,
            "received_at": format_instant(received),
            "processing_time": {"amount": processing.amount, "unit": processing.unit},
            "official_id": official,
            "procedure_code": code,
            "channel": channel,
        }
        yield "cchc.dossier-submitted", submitted, received
        if rng.random() < 0.01:
            yield "cchc.dossier-submitted", submitted, received + rng.randrange(HOUR_US)
        slow = official in profile.slow_officials
        if rng.random() < (late_probability + (0.12 if slow else 0.0)):
            completed = due + rng.randrange(HOUR_US, 6 * DAY_US)
        else:
            completed = received + int((due - received) * rng.uniform(0.05, 0.98))
        completion = {
            "event_id": f"{unit_id}/{dossier_id}/c",
            "unit_id": unit_id,
            "dossier_id": dossier_id,
            "completed_at": format_instant(completed),
            "official_id": official,
            "outcome": rng.choices(("resolved", "rejected", "withdrawn"), (0.94, 0.04, 0.02))[0],
        }
        yield "cchc.dossier-completed", completion, completed
        if rng.random() < 0.35:
            surveyed = completed + rng.randrange(2 * DAY_US)
            dissatisfied = rng.random() < profile.dissatisfied
            rating = "dissatisfied" if dissatisfied else rng.choice(("satisfied", "very_satisfied"))
            yield (
                "cchc.satisfaction-survey",
                {
                    "event_id": f"{unit_id}/{dossier_id}/v",
                    "unit_id": unit_id,
                    "dossier_id": dossier_id,
                    "surveyed_at": format_instant(surveyed),
                    "rating": rating,
                    "official_id": official,
                },
                surveyed,
            )


def _poisson(mean: float, rng: random.Random) -> int:
    """Knuth's method for small means; a normal approximation for large ones."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


TIMESTAMP_FIELD = {
    "cchc.dossier-submitted": "received_at",
    "cchc.dossier-completed": "completed_at",
    "cchc.satisfaction-survey": "surveyed_at",
    "cchc.unit-ranking": "published_at",
}


def paced(
    events: Iterator[tuple[str, dict[str, Any]]], stop: threading.Event | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Release each event no earlier than its own timestamp (wall time): a live feed.

    Setting ``stop`` ends the feed at once, even in the middle of a wait.
    """
    stop = stop or threading.Event()
    for topic, event in events:
        field = TIMESTAMP_FIELD[topic]
        wait = (parse_instant(event[field], field) - time.time_ns() // 1000) / 1e6
        if (wait > 0 and stop.wait(wait)) or stop.is_set():
            return
        yield topic, event
