"""A unit's aggregates: add and retract contributions, sum a period, judge the rules."""

from __future__ import annotations

from fractions import Fraction

from kpi.dossier import DAY, LATE, ORPHAN, OVERDUE_AT, OVERDUE_NOW, RESOLVED, SATISFIED, SURVEYS
from kpi.figures import DayCounts, Figures, UnitTotals
from kpi.periods import day_of, parse_period
from kpi.rules import OFFICIAL_LATE_RATE, UNIT_LATE_RATE, UNIT_SATISFACTION, Thresholds
from schemas.codec import parse_instant

t = lambda text: parse_instant(text, "t")  # noqa: E731
CLOCK = t("2026-03-15T12:00:00+07:00")
MARCH_2 = day_of(t("2026-03-02T08:00:00+07:00"))
FEB_2 = day_of(t("2026-02-02T08:00:00+07:00"))


def test_counts_per_official_and_for_the_whole_unit() -> None:
    totals = UnitTotals()
    totals.apply([(DAY, "cb-1", MARCH_2, RESOLVED), (DAY, "cb-1", MARCH_2, LATE)], 1)
    totals.apply([(DAY, None, FEB_2, RESOLVED), (DAY, "cb-2", FEB_2, SURVEYS)], 1)
    totals.apply([(DAY, "cb-2", FEB_2, SATISFIED)], 1)
    march, year = parse_period("2026-03", CLOCK), parse_period("2026", CLOCK)
    assert totals.counts(None, march) == [1, 1, 0, 0, 0, 0]
    assert totals.counts(None, year) == [2, 1, 1, 1, 0, 0]
    assert totals.counts("cb-1", year) == [1, 1, 0, 0, 0, 0]
    assert totals.counts("cb-2", year) == [0, 0, 1, 1, 0, 0]
    assert totals.officials() == {"cb-1", "cb-2"}
    assert totals.day(None, MARCH_2) == DayCounts(MARCH_2, 1, 1, 0, 0, 0, 0)
    assert totals.day("cb-9", MARCH_2) == DayCounts(MARCH_2, 0, 0, 0, 0, 0, 0)


def test_retraction_undoes_a_contribution_exactly() -> None:
    totals = UnitTotals()
    entries = [(DAY, "cb-1", MARCH_2, RESOLVED), (OVERDUE_NOW, "cb-1", 0, 0), (ORPHAN, None, 0, 0)]
    totals.apply(entries, 1)
    assert totals.orphans == 1 and totals.overdue_now["cb-1"] == 1
    totals.apply(entries, -1)
    assert totals.counts(None, parse_period("2026", CLOCK)) == [0, 0, 0, 0, 0, 0]
    assert totals.orphans == 0 and totals.overdue_now[None] == 0


def test_open_overdue_is_the_clocks_count_or_a_sum_over_the_days_before_the_end() -> None:
    """One dossier overdue from 10 February to 20 March, another from 1 March on: the
    clock's count for the period that holds it, spells begun less ended before the end
    for one that ended, whatever day it ends on."""
    totals = UnitTotals()
    february_10, march_1 = (
        day_of(t("2026-02-10T12:00:00+07:00")),
        day_of(t("2026-03-01T09:00:00+07:00")),
    )
    march_20 = day_of(t("2026-03-20T09:00:00+07:00"))
    totals.apply([(OVERDUE_AT, None, february_10, 1), (OVERDUE_AT, None, march_20, -1)], 1)
    totals.apply([(OVERDUE_AT, None, march_1, 1), (OVERDUE_NOW, None, 0, 0)], 1)
    assert totals.open_overdue(None, parse_period("2026-03", CLOCK), CLOCK) == 1
    assert totals.open_overdue(None, parse_period("2026-02", CLOCK), CLOCK) == 1
    march_15 = parse_period("report:2026-03", CLOCK, cut_off=15)
    assert totals.open_overdue(None, march_15, CLOCK) == 2
    assert totals.open_overdue(None, parse_period("2026-01", CLOCK), CLOCK) == 0
    assert totals.overdue_years(day_of(CLOCK)) == set()


def test_figures_rates_and_breaches() -> None:
    figures = Figures(resolved=19, resolved_late=0, open_overdue=1, surveys=10, satisfied=8)
    assert (figures.late, figures.dossiers) == (1, 20)
    assert figures.as_json()["late_rate"] == 0.05
    assert figures.as_json()["satisfaction_index"] == 0.8
    assert figures.unit_breaches(Thresholds()) == [UNIT_LATE_RATE, UNIT_SATISFACTION]
    assert figures.official_breaches(Thresholds()) == []
    assert figures.official_breaches(Thresholds(official_late=Fraction(5))) == [OFFICIAL_LATE_RATE]
    empty = Figures(0, 0, 0, 0, 0)
    assert not empty.active and empty.as_json()["late_rate"] is None
    assert empty.unit_breaches(Thresholds()) == []


def test_counts_are_the_same_whether_buckets_or_days_are_walked() -> None:
    busy, quiet = UnitTotals(), UnitTotals()
    year = parse_period("2026", CLOCK)
    for day in range(year.first_day, year.first_day + 60):  # fewer buckets than days
        quiet.apply([(DAY, "cb-1", day, RESOLVED), (DAY, None, day, SURVEYS)], 1)
    for day in range(year.first_day - 400, year.first_day + 60):  # more buckets than days
        busy.apply([(DAY, "cb-1", day, RESOLVED), (DAY, None, day, SURVEYS)], 1)
    assert len(quiet.days) < 365 < len(busy.days)
    for period in (year, parse_period("2026-02", CLOCK), parse_period("30d", CLOCK)):
        for official in (None, "cb-1", "cb-2"):
            assert quiet.counts(official, period) == busy.counts(official, period)
