"""Pure domain rules: deadlines, periods, the clock and Conclusion 91 thresholds."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.calendar import CalendarError, WorkingCalendar
from agents.clock import Clock, ClockSpec
from agents.periods import (
    PeriodError,
    day_number,
    day_of,
    day_start,
    month_starts_between,
    parse_period,
)
from agents.rules import late_rate_breached, satisfaction_breached
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


def test_local_time_is_utc_plus_seven_without_daylight_saving() -> None:
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    for year in range(1976, 2101, 5):
        for month in (1, 4, 7, 10):
            moment = t(f"{year}-{month:02d}-15T12:00:00Z")
            local = format_instant(moment)
            assert local.endswith("+07:00")
            from datetime import datetime

            assert datetime.fromisoformat(local).astimezone(zone).utcoffset() == timedelta(hours=7)


def test_period_boundaries_at_local_midnight_of_1_january() -> None:
    clock = t("2026-06-01T00:00:00+07:00")
    year_2026 = parse_period("2026", clock)
    assert format_instant(year_2026.start) == "2026-01-01T00:00:00+07:00"
    assert format_instant(year_2026.end) == "2027-01-01T00:00:00+07:00"
    # 23:59:59.999999 local on 31 December belongs to 2025; one microsecond later, to 2026.
    last_of_2025 = t("2025-12-31T16:59:59.999999Z")
    assert day_of(last_of_2025) == year_2026.first_day - 1
    assert day_of(last_of_2025 + 1) == year_2026.first_day
    assert parse_period("2025", clock).end == year_2026.start


def test_periods() -> None:
    clock = t("2026-03-15T10:00:00+07:00")
    assert parse_period(None, clock).name == "2026"
    march = parse_period("2026-03", clock)
    assert (format_instant(march.start), format_instant(march.end)) == (
        "2026-03-01T00:00:00+07:00",
        "2026-04-01T00:00:00+07:00",
    )
    assert march.as_of(clock) == clock
    february = parse_period("2026-02", clock)
    assert february.as_of(clock) == february.end
    last_30 = parse_period("30d", clock)
    assert format_instant(last_30.start) == "2026-02-14T00:00:00+07:00"
    assert format_instant(last_30.end) == "2026-03-16T00:00:00+07:00"
    with pytest.raises(PeriodError, match="starts after the clock"):
        parse_period("2026-04", clock)
    with pytest.raises(PeriodError, match="starts after the clock"):
        parse_period("2027", clock)
    for bad in ("2026-13", "2026-00", "26", "2026-3", "last-month", "30D"):
        with pytest.raises(PeriodError):
            parse_period(bad, clock)
    # A period starting exactly at the clock is allowed (nothing is overdue in it yet).
    assert parse_period("2026-03", t("2026-03-01T00:00:00+07:00")).name == "2026-03"


def test_month_starts_between() -> None:
    starts = month_starts_between(t("2025-11-30T12:00:00+07:00"), t("2026-02-01T00:00:00+07:00"))
    assert [format_instant(s)[:10] for s in starts] == ["2025-12-01", "2026-01-01", "2026-02-01"]
    assert (
        month_starts_between(t("2026-02-01T00:00:00+07:00"), t("2026-02-20T00:00:00+07:00")) == []
    )


@pytest.mark.parametrize(
    ("late", "total", "percent", "breached"),
    [
        (1, 20, 5, True),
        (1, 21, 5, False),
        (5, 100, 5, True),
        (4, 100, 5, False),
        (0, 0, 5, False),
        (0, 1, 5, False),
        (1, 1, 5, True),
        (1, 10, 10, True),
        (1, 11, 10, False),
        (10, 100, 10, True),
        (99, 1000, 10, False),
    ],
)
def test_late_rate_threshold_is_exact(late: int, total: int, percent: int, breached: bool) -> None:
    assert late_rate_breached(late, total, Fraction(percent)) is breached


def test_late_rate_threshold_exhaustively_against_fractions() -> None:
    for percent in (Fraction(5), Fraction(10), Fraction(9, 2)):
        for total in range(0, 201):
            for late in range(0, total + 1):
                expected = total > 0 and Fraction(late, total) * 100 >= percent
                assert late_rate_breached(late, total, percent) is expected


def test_satisfaction_threshold_is_exact() -> None:
    assert satisfaction_breached(8, 10, Fraction(80))  # exactly 80 % is under the line
    assert not satisfaction_breached(81, 100, Fraction(80))
    assert satisfaction_breached(80, 100, Fraction(80))
    assert not satisfaction_breached(0, 0, Fraction(80))
    for surveys in range(1, 201):
        for satisfied in range(0, surveys + 1):
            expected = Fraction(satisfied, surveys) * 100 <= 80
            assert satisfaction_breached(satisfied, surveys, Fraction(80)) is expected


def test_clock_modes() -> None:
    frozen = Clock(ClockSpec.parse("fixed:2026-03-01T00:00:00+07:00"))
    frozen.observe(t("2027-01-01T00:00:00Z"))
    assert format_instant(frozen.now()) == "2026-03-01T00:00:00+07:00"
    by_events = Clock(ClockSpec.parse("event"))
    assert by_events.now() == 0
    by_events.observe(t("2026-03-01T00:00:00Z"))
    by_events.observe(t("2026-02-01T00:00:00Z"))
    assert by_events.now() == t("2026-03-01T00:00:00Z")
    readings = iter([t("2026-03-02T00:00:00Z"), t("2026-03-01T00:00:00Z")])
    wall = Clock(ClockSpec.parse("wall"), source=lambda: next(readings))
    assert wall.now() == t("2026-03-02T00:00:00Z")
    assert wall.now() == t("2026-03-02T00:00:00Z"), "a stepped-back system clock must not rewind"
