"""Reporting periods in Asia/Ho_Chi_Minh (contract §5) and local-day arithmetic.

A *day number* counts local days since 1970-01-01 (local). Figures are kept in daily
buckets, so a period is a half-open range of day numbers::

    >>> from schemas.codec import parse_instant
    >>> clock = parse_instant("2026-03-15T10:00:00+07:00", "clock")
    >>> parse_period("2026-03", clock).name, parse_period(None, clock).name
    ('2026-03', '2026')
    >>> p = parse_period("30d", clock)
    >>> p.end_day - p.first_day
    30
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from schemas.codec import format_instant
from schemas.records import Instant

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
_OFFSET_US = 7 * HOUR_US  # Asia/Ho_Chi_Minh, UTC+07:00 without daylight saving
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_PERIOD = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2}))?|30d")
FIRST_YEAR, LAST_YEAR = 2000, 2099
"""The years the contract's timestamps can fall in: no figures exist outside them."""

PeriodKind = Literal["year", "month", "30d"]


class PeriodError(ValueError):
    """A period that cannot be asked for (HTTP 400)."""


def day_of(instant: Instant) -> int:
    """The local day number an instant falls in."""
    return (instant + _OFFSET_US) // DAY_US


def day_start(day: int) -> Instant:
    """The instant of local midnight that starts a day number."""
    return day * DAY_US - _OFFSET_US


def day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def date_of_day(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


_year_of_day: dict[int, int] = {}


def year_of_day(day: int) -> int:
    """The year of a local day number (memoised: events hit few days)."""
    year = _year_of_day.get(day)
    if year is None:
        year = _year_of_day[day] = date_of_day(day).year
    return year


def year_of(instant: Instant) -> int:
    return year_of_day(day_of(instant))


def _month_start(year: int, month: int) -> int:
    return day_number(date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1))


_next_month_start: dict[int, Instant] = {}


def next_month_start(instant: Instant) -> Instant:
    """The first local month start strictly after ``instant`` (memoised by local day)."""
    day = day_of(instant)
    found = _next_month_start.get(day)
    if found is None:
        d = date_of_day(day)
        found = _next_month_start[day] = day_start(_month_start(d.year, d.month + 1))
    return found


def month_starts_between(after: Instant, until: Instant) -> list[Instant]:
    """Local month starts ``m`` with ``after < m <= until``, oldest first.

    A month start is also the end instant of the month before it, so these are the
    instants at which past monthly (and yearly) periods freeze their open-overdue count.
    """
    start = next_month_start(after)
    starts = []
    while start <= until:  # usually not once: most dossiers never see a month end overdue
        starts.append(start)
        start = next_month_start(start)
    return starts


@dataclass(frozen=True)
class Period:
    """A half-open range ``[first_day, end_day)`` of local days."""

    name: str
    kind: PeriodKind
    first_day: int
    end_day: int

    @property
    def start(self) -> Instant:
        return day_start(self.first_day)

    @property
    def end(self) -> Instant:
        return day_start(self.end_day)

    def as_of(self, clock: Instant) -> Instant:
        """The instant open-overdue is counted at: ``min(end, clock)``."""
        return min(self.end, clock)


def year_period(year: int) -> Period:
    return Period(str(year), "year", _month_start(year, 1), _month_start(year + 1, 1))


def parse_period(text: str | None, clock: Instant) -> Period:
    """``YYYY``, ``YYYY-MM`` or ``30d``; None is the year containing the clock.

    ``30d`` is the local day of the clock and the 29 days before it (whole local days,
    so that daily buckets answer it exactly).
    """
    today = day_of(clock)
    if text is None:
        return year_period(date_of_day(today).year)
    match = _PERIOD.fullmatch(text)
    if match is None:
        raise PeriodError(f"period {text!r} is not YYYY, YYYY-MM or 30d")
    if text == "30d":
        return Period("30d", "30d", today - 29, today + 1)
    year = int(match["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"period {text!r}: year must be {FIRST_YEAR}..{LAST_YEAR}")
    if match["month"] is None:
        period = year_period(year)
    else:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month must be 01..12")
        period = Period(text, "month", _month_start(year, month), _month_start(year, month + 1))
    if period.start > clock:
        raise PeriodError(f"period {text} starts after the clock ({format_instant(clock)})")
    return period
