"""Deadlines and the working calendar (contract §3)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.calendar import CalendarError, WorkingCalendar
from kpi.periods import (
    day_number,
    day_start,
)
from schemas.codec import format_instant, parse_instant
from schemas.records import ProcessingTime

t = lambda text: parse_instant(text, "t")  # noqa: E731
CAL = WorkingCalendar()


def deadline(received: str, amount: int, unit: str, calendar: WorkingCalendar = CAL) -> str:
    return format_instant(calendar.deadline(t(received), ProcessingTime(amount, unit)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("received", "amount", "unit", "due"),
    [
        # Friday before Tết 2026 (16-20 Feb are holidays): 1 working day is Monday 23 Feb.
        ("2026-02-13T09:00:00+07:00", 1, "working_days", "2026-02-24T00:00:00+07:00"),
        ("2026-02-13T09:00:00+07:00", 3, "working_days", "2026-02-26T00:00:00+07:00"),
        # Received on a holiday or a weekend: counting starts from the next day anyway.
        ("2026-02-17T10:00:00+07:00", 1, "working_days", "2026-02-24T00:00:00+07:00"),
        ("2026-03-07T10:00:00+07:00", 1, "working_days", "2026-03-10T00:00:00+07:00"),
        # A plain week: Monday + 5 working days = next Monday, end of day.
        ("2026-03-02T08:00:00+07:00", 5, "working_days", "2026-03-10T00:00:00+07:00"),
        # 30/4 and 1/5 (Thu, Fri) then the weekend.
        ("2026-04-29T08:00:00+07:00", 1, "working_days", "2026-05-05T00:00:00+07:00"),
        # New Year: 1 January 2026 is a Thursday holiday.
        ("2025-12-31T16:00:00+07:00", 1, "working_days", "2026-01-03T00:00:00+07:00"),
        # The receipt day's local date decides: 23:30 on the 2nd local is still the 2nd.
        ("2026-03-02T16:30:00Z", 1, "working_days", "2026-03-04T00:00:00+07:00"),
        ("2026-03-02T17:30:00Z", 1, "working_days", "2026-03-05T00:00:00+07:00"),
        ("2026-03-02T08:00:00+07:00", 3, "calendar_days", "2026-03-06T00:00:00+07:00"),
        ("2026-12-30T08:00:00+07:00", 2, "calendar_days", "2027-01-02T00:00:00+07:00"),
        ("2026-03-02T22:30:00+07:00", 8, "hours", "2026-03-03T06:30:00+07:00"),
        ("2026-03-02T22:30:00+07:00", 24, "hours", "2026-03-03T22:30:00+07:00"),
    ],
)
def test_deadlines(received: str, amount: int, unit: str, due: str) -> None:
    assert deadline(received, amount, unit) == due


def test_working_days_match_a_plain_count_for_a_whole_year() -> None:
    import holidays

    public = holidays.country_holidays("VN", years=[2025, 2026, 2027])
    for offset in range(365):
        received = date(2026, 1, 1) + timedelta(days=offset)
        day, remaining = received, 4
        while remaining:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in public:
                remaining -= 1
        expected = format_instant(day_start(day_number(day + timedelta(days=1))))
        assert deadline(f"{received}T10:00:00+07:00", 4, "working_days") == expected


def test_calendar_file_adds_holidays_and_make_up_days(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [2026-02-23]\nworking_days: [2026-02-21]\n")
    calendar = WorkingCalendar.from_file(path)
    # Friday 13 Feb + 1 working day: Saturday 21 Feb is a make-up working day.
    assert (
        deadline("2026-02-13T09:00:00+07:00", 1, "working_days", calendar)
        == "2026-02-22T00:00:00+07:00"
    )
    # + 2 working days: Monday 23 Feb is an extra holiday, so Tuesday 24.
    assert (
        deadline("2026-02-13T09:00:00+07:00", 2, "working_days", calendar)
        == "2026-02-25T00:00:00+07:00"
    )


@pytest.mark.parametrize(
    "text", ["holidays: [not-a-date]\n", "others: []\n", "holidays: 2026-01-01\n", ": bad: yaml: ["]
)
def test_bad_calendar_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(text)
    with pytest.raises(CalendarError):
        WorkingCalendar.from_file(path)


@given(first=st.integers(10957, 10957 + 365 * 30), span=st.integers(-40, 800))
def test_working_days_after_is_a_count_of_working_days(first: int, span: int) -> None:
    """From the year tables, as a day-by-day count would find (Tết and make-up days too)."""
    calendar = WorkingCalendar(working_days=frozenset({date(2026, 2, 28)}))
    last = first + span
    slow = sum(calendar.is_working_day(day) for day in range(first + 1, last + 1))
    assert calendar.working_days_after(first, last) == slow
