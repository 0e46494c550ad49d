"""Local time, reporting periods and month boundaries (contract §5)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi.periods import (
    PeriodError,
    date_of_day,
    day_number,
    day_of,
    month_of,
    parse_period,
    week_of,
    year_starts_between,
)
from schemas.codec import format_instant, parse_instant

t = lambda text: parse_instant(text, "t")  # noqa: E731


def test_local_time_is_utc_plus_seven_without_daylight_saving() -> None:
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    for year in range(2000, 2100, 3):  # across the years a timestamp may have
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
    for bad in ("2026-13", "2026-00", "26", "2026-3", "last-month", "30D", "２０２６"):
        with pytest.raises(PeriodError):
            parse_period(bad, clock)
    # A period starting exactly at the clock is allowed (nothing is overdue in it yet).
    assert parse_period("2026-03", t("2026-03-01T00:00:00+07:00")).name == "2026-03"


def test_year_starts_between() -> None:
    starts = year_starts_between(t("2024-11-30T12:00:00+07:00"), t("2026-01-01T00:00:00+07:00"))
    assert [format_instant(s)[:10] for s in starts] == ["2025-01-01", "2026-01-01"]
    assert year_starts_between(t("2026-01-01T00:00:00+07:00"), t("2026-12-31T23:00:00+07:00")) == []


@pytest.mark.parametrize("text", ["9999", "0000", "1999", "2100", "0000-01", "9999-12"])
def test_years_outside_the_contracts_range_are_refused(text: str) -> None:
    with pytest.raises(PeriodError, match=r"year must be 2000\.\.2099"):
        parse_period(text, t("2026-03-15T10:00:00+07:00"))


def test_iso_weeks_are_calendar_periods_monday_to_sunday() -> None:
    clock = parse_instant("2026-12-02T12:00:00+07:00", "t")
    week = parse_period("2026-W49", clock)
    assert (date_of_day(week.first_day), date_of_day(week.end_day)) == (
        date(2026, 11, 30),
        date(2026, 12, 7),
    )
    assert week_of(day_of(clock)) == week
    assert parse_period("2026-W01", clock).first_day == day_number(date(2025, 12, 29))
    assert month_of(day_of(clock)).name == "2026-12"
    assert month_of(day_number(date(2026, 1, 31))).end_day == day_number(date(2026, 2, 1))
    for bad in ("2025-W53", "report:2026-W10", "2026-W50"):
        with pytest.raises(PeriodError):
            parse_period(bad, clock)
