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

Report periods (contract §10) start on the province's cut-off day, here the 15th::

    >>> q = parse_period("report:2026-Q1", clock, cut_off=15)
    >>> date_of_day(q.first_day), date_of_day(q.end_day - 1)
    (datetime.date(2025, 12, 15), datetime.date(2026, 3, 14))
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
_PERIOD = re.compile(
    r"(?P<report>report:)?(?P<year>[0-9]{4})"
    r"(?:-(?:(?P<month>[0-9]{2})|Q(?P<quarter>[1-4])|W(?P<week>[0-9]{2})|(?P<part>H1|H2|9M)))?"
    r"|30d"
)
_PARTS = {"H1": (1, 6), "H2": (7, 12), "9M": (1, 9)}
"""The report months (first, last) of a half-year and of nine months."""
FIRST_YEAR, LAST_YEAR = 2000, 2099
"""The years the contract's timestamps can fall in: no figures exist outside them."""

PeriodKind = Literal["year", "month", "30d", "quarter", "report", "week"]

NO_CUT_OFF = 1
"""A cut-off day of 1: report periods are calendar months (contract §10 names the
province's cut-off day a setting; Khánh Hòa's is 15)."""


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


def _report_month_start(year: int, month: int, cut_off: int) -> int:
    """The first day of report month ``month``: the one that ends in that month, on the
    day before the cut-off (a calendar month when the cut-off day is 1)."""
    if cut_off == NO_CUT_OFF:
        return _month_start(year, month)
    previous = date(year + (month - 2) // 12, (month - 2) % 12 + 1, cut_off)
    return day_number(previous)


def year_starts_between(after: Instant, until: Instant) -> list[Instant]:
    """Local year starts ``m`` with ``after < m <= until``, oldest first: the instants at
    which a year's figures become final.

    >>> from schemas.codec import parse_instant
    >>> starts = year_starts_between(parse_instant("2025-06-01T00:00:00+07:00", "a"),
    ...                              parse_instant("2027-01-01T00:00:00+07:00", "b"))
    >>> [year_of(m) for m in starts]
    [2026, 2027]
    """
    return [year_period(year).start for year in range(year_of(after) + 1, year_of(until) + 1)]


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


def week_period(year: int, week: int, text: str | None = None) -> Period:
    """ISO week ``week`` of ``year``, Monday to Sunday.

    >>> period = week_period(2026, 10)
    >>> period.name, date_of_day(period.first_day), date_of_day(period.end_day - 1)
    ('2026-W10', datetime.date(2026, 3, 2), datetime.date(2026, 3, 8))
    """
    name = text or f"{year}-W{week:02d}"
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PeriodError(f"period {name!r}: {year} has no week {week}") from None
    first = day_number(monday)
    return Period(name, "week", first, first + 7)


def week_of(day: int) -> Period:
    """The ISO week a local day falls in."""
    year, week, _ = date_of_day(day).isocalendar()
    return week_period(year, week)


def month_of(day: int) -> Period:
    """The calendar month a local day falls in."""
    d = date_of_day(day)
    after = (d.year + d.month // 12, d.month % 12 + 1)
    return Period(
        f"{d.year}-{d.month:02d}", "month", _month_start(d.year, d.month), _month_start(*after)
    )


def parse_period(text: str | None, clock: Instant, cut_off: int = NO_CUT_OFF) -> Period:
    """A period by name; None is the year containing the clock.

    ``YYYY``, ``YYYY-MM``, ``YYYY-Qn`` and ``YYYY-Www`` (an ISO week, Monday to Sunday)
    are calendar periods; ``30d`` is the local day
    of the clock and the 29 days before it (whole local days, so that daily buckets answer
    it exactly). ``report:YYYY-MM``, ``report:YYYY-Qn``, ``report:YYYY-H1``, ``-H2``,
    ``-9M`` and ``report:YYYY`` are the province's report periods, made of report months
    that start on the ``cut_off`` day (contract §10).
    """
    today = day_of(clock)
    if text is None:
        return year_period(date_of_day(today).year)
    match = _PERIOD.fullmatch(text)
    if match is None:
        raise PeriodError(
            f"period {text!r} is not YYYY, YYYY-MM, YYYY-Qn, YYYY-Www, 30d or "
            "report:YYYY[-MM|-Qn|-H1|-H2|-9M]"
        )
    if text == "30d":
        return Period("30d", "30d", today - 29, today + 1)
    year = int(match["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"period {text!r}: year must be {FIRST_YEAR}..{LAST_YEAR}")
    if match["week"] is not None:
        if match["report"]:
            raise PeriodError(f"period {text!r}: a week is a calendar period (no report:)")
        period = week_period(year, int(match["week"]), text)
        if period.start > clock:
            raise PeriodError(f"period {text} starts after the clock ({format_instant(clock)})")
        return period
    months = _months(text, match)
    if match["report"]:
        first, last = months or (1, 12)
        period = Period(
            text,
            "report",
            _report_month_start(year, first, cut_off),
            _report_month_start(year, last + 1, cut_off),
        )
    elif match["part"]:
        raise PeriodError(f"period {text!r}: half-years and 9M are report periods (report:…)")
    elif months is None:
        period = year_period(year)
    else:
        first, last = months
        kind: PeriodKind = "month" if first == last else "quarter"
        period = Period(text, kind, _month_start(year, first), _month_start(year, last + 1))
    if period.start > clock:
        raise PeriodError(f"period {text} starts after the clock ({format_instant(clock)})")
    return period


def _months(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """The (first, last) month a period's name covers; None for a whole year."""
    if match["month"] is not None:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month must be 01..12")
        return month, month
    if match["quarter"] is not None:
        quarter = int(match["quarter"])
        return 3 * quarter - 2, 3 * quarter
    if match["part"] is not None:
        return _PARTS[match["part"]]
    return None
