"""Deadlines from processing times (contract §3).

Working days are Monday to Friday, minus Vietnamese public holidays (the ``holidays``
package, country VN), minus the extra holidays of an optional calendar file, plus its
make-up working days (Saturdays worked in exchange for a bridge day off)::

    holidays: [2026-02-13, 2026-02-23]   # extra days off
    working_days: [2026-02-07]           # make-up working days

    >>> from schemas.codec import format_instant, parse_instant
    >>> cal = WorkingCalendar()
    >>> received = parse_instant("2026-02-13T09:00:00+07:00", "received_at")  # Friday
    >>> format_instant(cal.deadline(received, ProcessingTime(1, "working_days")))
    '2026-02-24T00:00:00+07:00'
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import holidays
import yaml

from kpi.periods import FIRST_YEAR, HOUR_US, date_of_day, day_number, day_of, day_start
from schemas.records import Instant, ProcessingTime


class CalendarError(ValueError):
    """A calendar file that cannot be read."""


@lru_cache(maxsize=256)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year))


class WorkingCalendar:
    def __init__(
        self,
        extra_holidays: frozenset[date] = frozenset(),
        working_days: frozenset[date] = frozenset(),
    ) -> None:
        self.extra_holidays = extra_holidays
        self.working_days = working_days
        self._working: dict[int, bool] = {}
        self._years: dict[int, list[int]] = {}

    @classmethod
    def from_file(cls, path: Path | None) -> WorkingCalendar:
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise CalendarError(f"{path}: {error}") from None
        if not isinstance(data, dict) or set(data) - {"holidays", "working_days"}:
            raise CalendarError(f"{path}: expected the keys holidays and working_days")

        def dates(key: str) -> frozenset[date]:
            values = data.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, date) for v in values):
                raise CalendarError(f"{path}: {key} must be a list of YYYY-MM-DD dates")
            return frozenset(values)

        return cls(dates("holidays"), dates("working_days"))

    def is_working_day(self, day: int) -> bool:
        """Whether a local day number is a working day (memoised: deadlines hit few days)."""
        known = self._working.get(day)
        if known is None:
            d = date_of_day(day)
            if d in self.working_days:
                known = True
            elif d in self.extra_holidays:
                known = False
            else:
                known = d.weekday() < 5 and d not in _public_holidays(d.year)
            self._working[day] = known
        return known

    def working_days_after(self, first_day: int, last_day: int) -> int:
        """The working days after local day ``first_day`` up to ``last_day`` included: how
        many working days have passed since ``first_day`` on ``last_day`` (0 if none).

        >>> from datetime import date
        >>> calendar = WorkingCalendar()
        >>> calendar.working_days_after(day_number(date(2026, 3, 6)), day_number(date(2026, 3, 9)))
        1
        """
        return max(0, self._working_through(last_day) - self._working_through(first_day))

    def _working_through(self, day: int) -> int:
        """Working days from 1 January 2000 up to ``day`` included, from a table per year
        (built once a year is asked for): a count over decades costs two lookups."""
        year = date_of_day(day).year
        table = self._years.get(year)
        if table is None:
            first = day_number(date(year, 1, 1))
            table, running = [], self._working_before(year)
            for offset in range(day_number(date(year + 1, 1, 1)) - first):
                running += self.is_working_day(first + offset)
                table.append(running)
            self._years[year] = table
        return table[day - day_number(date(year, 1, 1))]

    def _working_before(self, year: int) -> int:
        """Working days from 1 January 2000 to the end of the year before ``year``
        (negative before 2000)."""
        start = day_number(date(year, 1, 1))
        if year > FIRST_YEAR:
            return self._working_through(start - 1)
        if year == FIRST_YEAR:
            return 0
        days = range(start, day_number(date(year + 1, 1, 1)))
        return self._working_before(year + 1) - sum(map(self.is_working_day, days))

    def deadline(self, received_at: Instant, processing: ProcessingTime) -> Instant:
        """The due instant of a dossier received at ``received_at``."""
        if processing.unit == "hours":
            return received_at + processing.amount * HOUR_US
        day = day_of(received_at)
        if processing.unit == "calendar_days":
            return day_start(day + processing.amount + 1)
        remaining = processing.amount
        while remaining:
            day += 1
            remaining -= self.is_working_day(day)
        return day_start(day + 1)
