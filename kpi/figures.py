"""Aggregates of one unit, kept incrementally, and the figures of a period (contract §5).

Counts live in daily buckets per official (``None`` is the whole unit): a year is a sum of
at most 366 small lists, cheaper at query time than three bucket updates on every event.
Open-overdue is kept twice: ``overdue_now`` is the count at the clock, and
``overdue_at[official][day]`` the overdue spells begun less those ended on each local day,
so that the count at any past day boundary (a month's end, a report period's cut-off day)
is a sum over the days before it. Paused dossiers are counted the same way, in
``paused_now`` and ``paused_at``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from kpi.dossier import (
    BUCKET_FIELDS,
    DAY,
    ORPHAN,
    OVERDUE_AT,
    OVERDUE_NOW,
    PAUSED_AT,
    Entry,
)
from kpi.periods import Period, year_of_day
from kpi.rules import (
    OFFICIAL_LATE_RATE,
    UNIT_LATE_RATE,
    UNIT_SATISFACTION,
    Thresholds,
    late_rate_breached,
    ratio,
    satisfaction_breached,
)
from schemas.records import Instant

K = TypeVar("K")


def _counts() -> list[int]:
    return [0] * BUCKET_FIELDS


class DayCounts(NamedTuple):
    """What one local day adds to a unit's (or an official's) figures."""

    day: int
    resolved: int
    resolved_late: int
    surveys: int
    satisfied: int
    rescheduled: int
    apologised: int


class UnitTotals:
    """Every count of one unit and its officials."""

    __slots__ = ("days", "orphans", "overdue_at", "overdue_now", "paused_at", "paused_now")

    def __init__(self) -> None:
        self.days: defaultdict[tuple[str | None, int], list[int]] = defaultdict(_counts)
        self.overdue_at: dict[str | None, dict[int, int]] = {}
        self.overdue_now: defaultdict[str | None, int] = defaultdict(int)
        self.paused_at: dict[str | None, dict[int, int]] = {}
        self.paused_now: defaultdict[str | None, int] = defaultdict(int)
        self.orphans = 0

    def apply(self, entries: list[Entry], sign: int) -> None:
        """Add (sign 1) or retract (sign -1) a dossier's contribution."""
        for kind, official, x, field in entries:
            if kind == ORPHAN:
                self.orphans += sign
                continue
            for who in (None, official) if official is not None else (None,):
                if kind == DAY:
                    self.days[who, x][field] += sign
                elif kind == OVERDUE_AT:
                    add_count(self.overdue_at, who, x, sign * field)
                elif kind == OVERDUE_NOW:
                    self.overdue_now[who] += sign
                elif kind == PAUSED_AT:
                    add_count(self.paused_at, who, x, sign * field)
                else:
                    self.paused_now[who] += sign

    def officials(self) -> set[str]:
        return (
            {who for who, _ in self.days if who is not None}
            | {who for who in self.overdue_now if who is not None}
            | {who for who in self.overdue_at if who is not None}
            | {who for who in self.paused_now if who is not None}
            | {who for who in self.paused_at if who is not None}
        )

    def overdue_years(self, clock_day: int) -> set[int]:
        """Years that end, by the clock's day, with a dossier of the unit open and overdue
        (section 6: such a year has figures even when no event falls in it)."""
        changes = sorted(self.overdue_at.get(None, {}).items())
        found: set[int] = set()
        running = 0
        for index, (day, net) in enumerate(changes):
            running += net
            if running > 0:  # overdue at every day boundary after ``day`` up to the next change
                until = changes[index + 1][0] if index + 1 < len(changes) else clock_day
                found.update(range(year_of_day(day), year_of_day(min(until, clock_day))))
        return found

    def day(self, official: str | None, day: int) -> DayCounts:
        bucket = self.days.get((official, day)) or _counts()
        return DayCounts(day, *bucket)

    def counts(self, official: str | None, period: Period) -> list[int]:
        """The fields of a daily bucket (:data:`kpi.dossier.RESOLVED`...), summed over the
        period."""
        first, end = period.first_day, period.end_day
        if len(self.days) < end - first:  # a quiet unit: fewer buckets than days to look up
            buckets = [
                b for (who, day), b in self.days.items() if who == official and first <= day < end
            ]
        else:
            found = (self.days.get((official, day)) for day in range(first, end))
            buckets = [bucket for bucket in found if bucket is not None]
        return [sum(column) for column in zip(*buckets, strict=True)] if buckets else _counts()

    def open_overdue(self, official: str | None, period: Period, clock: Instant) -> int:
        """Open-overdue at ``min(period end, clock)``."""
        if period.end > clock:
            return self.overdue_now.get(official, 0)
        return _before(self.overdue_at.get(official), period.end_day)

    def paused(self, official: str | None, period: Period, clock: Instant) -> int:
        """Open and paused at ``min(period end, clock)``."""
        if period.end > clock:
            return self.paused_now.get(official, 0)
        return _before(self.paused_at.get(official), period.end_day)


def add_count(counts: dict[K, dict[int, int]], key: K, day: int, n: int) -> None:
    """Add ``n`` to ``counts[key][day]``; a day back to 0 is dropped, and a key left
    without days."""
    days = counts.get(key)
    if days is None:
        days = counts[key] = {}
    total = days.get(day, 0) + n
    if total:
        days[day] = total
    else:
        del days[day]
        if not days:
            del counts[key]


def _before(days: dict[int, int] | None, end_day: int) -> int:
    """Spells holding at the start of ``end_day``: begun less ended on the days before."""
    return sum(n for day, n in days.items() if day < end_day) if days else 0


@dataclass(frozen=True)
class Figures:
    """The figures of a unit or an official for one period."""

    resolved: int
    resolved_late: int
    open_overdue: int
    surveys: int
    satisfied: int
    paused: int = 0
    rescheduled: int = 0
    apologised: int = 0

    @classmethod
    def of(
        cls, totals: UnitTotals, official: str | None, period: Period, clock: Instant
    ) -> Figures:
        resolved, late, surveys, satisfied, rescheduled, apologised = totals.counts(
            official, period
        )
        return cls(
            resolved,
            late,
            totals.open_overdue(official, period, clock),
            surveys,
            satisfied,
            totals.paused(official, period, clock),
            rescheduled,
            apologised,
        )

    @property
    def late(self) -> int:
        """The late rate's numerator: resolved late plus open-overdue."""
        return self.resolved_late + self.open_overdue

    @property
    def dossiers(self) -> int:
        """The late rate's denominator: resolved plus open-overdue."""
        return self.resolved + self.open_overdue

    @property
    def active(self) -> bool:
        """Any figure at all: a dossier resolved, overdue, paused or rescheduled, or a vote."""
        return bool(self.dossiers or self.surveys or self.paused or self.rescheduled)

    def unit_breaches(self, thresholds: Thresholds) -> list[str]:
        breaches = []
        if late_rate_breached(self.late, self.dossiers, thresholds.unit_late):
            breaches.append(UNIT_LATE_RATE)
        if satisfaction_breached(self.satisfied, self.surveys, thresholds.unit_satisfaction):
            breaches.append(UNIT_SATISFACTION)
        return breaches

    def official_breaches(self, thresholds: Thresholds) -> list[str]:
        if late_rate_breached(self.late, self.dossiers, thresholds.official_late):
            return [OFFICIAL_LATE_RATE]
        return []

    def as_json(self) -> dict[str, Any]:
        return {
            "resolved": self.resolved,
            "resolved_late": self.resolved_late,
            "open_overdue": self.open_overdue,
            "late_rate": ratio(self.late, self.dossiers),
            "surveys": self.surveys,
            "satisfied": self.satisfied,
            "satisfaction_index": ratio(self.satisfied, self.surveys),
            "late_rate_resolved": ratio(self.resolved_late, self.resolved),
            "paused": self.paused,
            "rescheduled": self.rescheduled,
            "apologised": self.apologised,
        }
