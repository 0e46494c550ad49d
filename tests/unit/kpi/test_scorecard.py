"""The national index's estimate (kpi.scorecard): each indicator against a recount from
raw events, the points lost by procedure, ranks, and the settings file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.periods import PeriodError, parse_period
from kpi.report import PROCEDURE, ZERO, total
from kpi.scorecard import (
    GROUPS,
    INDICATORS,
    ScorecardError,
    by_unit,
    estimate,
    indicators_from,
    load_scorecard,
    lost_by,
    missing,
    ranks,
    score,
)
from tests.recount import REPORT_COLUMNS, recount_report, recounted_points
from tests.unit.kpi.test_engine import BASE, CALENDAR, HOUR_US, PROCEDURE_FIELDS, build, event_specs

KEYS = [indicator.key for indicator in INDICATORS]


@settings(max_examples=200, deadline=None)
@given(specs=event_specs(), hours=st.integers(0, 24 * 100))
def test_every_indicator_of_every_unit_and_procedure_is_its_recount(
    specs: list[tuple[str, dict[str, Any]]], hours: int
) -> None:
    events = build(specs)
    now = BASE + hours * HOUR_US
    states: dict[str, dict[bytes, bytes]] = {}
    clock = Clock(ClockSpec("fixed", now))
    engine = Engine(CALENDAR, clock, lambda unit: states.setdefault(unit, {}), PROCEDURE_FIELDS)
    for event in events:
        engine.apply(event)
    for name in ("2025-12", "2026-01", "report:2026-02", "2026"):
        try:
            period = parse_period(name, now, 15)
        except PeriodError:  # starts after the clock
            continue
        cells = recount_report(events, period, now, CALENDAR, PROCEDURE_FIELDS)
        for unit, procedures in engine.report(engine.reports, period, PROCEDURE).items():
            for code, counts in procedures.items():
                expected = [0] * len(REPORT_COLUMNS)
                for (u, _, procedure), row in cells.items():
                    if (u, procedure) == (unit, code):
                        expected = [a + b for a, b in zip(expected, row, strict=True)]
                got = {s.indicator.key: s.points for s in estimate(counts).scores}
                assert got == recounted_points(tuple(expected)), (unit, code, name)


def test_each_indicator_at_its_level_and_below() -> None:
    at_half = ZERO._replace(new_online=50, new_other=50)
    assert score(INDICATORS[1], at_half).points == 6, "online: full at 50 %"
    below = ZERO._replace(new_online=25, new_other=75)
    assert score(INDICATORS[1], below).points == 3
    nothing = score(INDICATORS[2], ZERO)
    assert (nothing.points, nothing.lost) == (None, 0), "no fee: neither earned nor lost"
    unhappy = ZERO._replace(received=10, late=2, overdue=1, surveys=4, satisfied=1)
    assert score(INDICATORS[5], unhappy).ratio == Fraction(4, 10), "10 less 2, 1 and 3"
    worse = ZERO._replace(received=2, late=2, surveys=2)
    assert score(INDICATORS[5], worse).points == 0, "never below nothing"


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(*(st.integers(0, 30) for _ in range(7))), min_size=1, max_size=5))
def test_the_points_each_procedure_costs_add_up_to_the_units_loss(
    parts: list[tuple[int, ...]],
) -> None:
    rows = {}
    for number, (early, late, online, other, fee, paid, unhappy) in enumerate(parts):
        rows[f"p{number}"] = ZERO._replace(
            received=early + late,
            early=early,
            late=late,
            settled=early + late,
            new_online=online,
            new_other=other,
            fee_due=fee + paid,
            paid_online=paid,
            surveys=unhappy,  # dissatisfied votes: 766's satisfaction may go below 0 in a part
        )
    unit = total(rows.values())
    costs = lost_by(unit, rows)
    assert sum(costs.values()) == estimate(unit).lost


def test_units_rank_among_their_level_and_ties_share_a_rank() -> None:
    assert ranks({"a": Fraction(1), "b": Fraction(1), "c": Fraction(3)}) == {"c": 1, "a": 2, "b": 2}
    good = ZERO._replace(received=4, early=4, new_online=4)
    registry = {"t": ("province", "Sở T"), "a": ("commune", "Xã A"), "b": ("commune", "Xã B")}
    _, levels = by_unit({"t": {"": good}, "a": {"": good}}, registry)
    ranked = {row.key: (level.level, row.rank) for level in levels for row in level.rows}
    assert ranked == {"t": ("province", 1), "a": ("commune", 1), "b": ("commune", None)}


def test_what_the_estimate_covers_and_what_it_misses() -> None:
    covered = sum(indicator.max_points for indicator in INDICATORS)
    assert covered == 48
    assert sum(missing().values()) == 100 - covered == 52
    assert missing()["disclosure"] == 18 and "progress" not in missing()
    assert sum(points for _, _, points in GROUPS.values()) == 100


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"indicators": {"online": {"max_points": -5}}}, "max_points: -5 is not a number"),
        ({"indicators": {"online": {"max_points": 10**9}}}, "max_points: 1000000000 is not"),
        ({"indicators": {"online": {"max_points": float("nan")}}}, "max_points: nan is not"),
        ({"indicators": {"online": {"max_points": "6"}}}, "max_points: '6' is not a number"),
        ({"indicators": {"online": {"max_points": True}}}, "max_points: True is not a number"),
        ({"indicators": {"online": {"full_at": 0}}}, "full_at: 0 is not a number of percent"),
        ({"indicators": {"online": {"numerator": ["votes"]}}}, "'votes' is not a column"),
        ({"indicators": {"online": {"numerator": []}}}, "must be a list of column names"),
        ({"indicators": {"online": {"weight": 2}}}, "unknown setting 'weight'"),
        ({"indicators": {"new": {"max_points": 2}}}, "a new indicator needs"),
        ({"indicators": {"online": {"max_points": 13}}}, "group 'online' give 13 points, over"),
        ({"weights": {}}, "unknown table 'weights'"),
        ({"indicators": {"online": 6}}, "indicators.online: must be a table"),
        ({"indicators": {"online": {"enabled": "false"}}}, "enabled: must be true or false"),
        ({"indicators": {"onlin": {"enabled": False}}}, "no such indicator to leave out"),
    ],
)
def test_a_settings_value_that_cannot_be_used_is_a_clear_error(
    data: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ScorecardError, match=reason):
        indicators_from(data)


def test_a_settings_file_changes_adds_and_leaves_out_indicators(tmp_path: Path) -> None:
    path = tmp_path / "index766.toml"
    path.write_text(
        """
[indicators.online]
full_at = 80
max_points = 5.5

[indicators.digitised]
enabled = false

[indicators.received_in_time]
group = "online"
vi = "Tiếp nhận đúng hạn"
en = "Received in time"
numerator = ["new_online", "-received_late"]
denominator = ["new_online"]
max_points = 0.5
full_at = 100
""",
        encoding="utf-8",
    )
    chosen = {indicator.key: indicator for indicator in load_scorecard(path)}
    assert chosen["online"].full_at == 80 and chosen["online"].max_points == Fraction(11, 2)
    assert "digitised" not in chosen
    row = ZERO._replace(new_online=10, received_late=2)
    assert score(chosen["received_in_time"], row).points == Fraction(2, 5)
    assert load_scorecard(None) == INDICATORS
    broken = tmp_path / "broken.toml"
    broken.write_text("[indicators.online\n", encoding="utf-8")
    with pytest.raises(ScorecardError, match=r"broken\.toml"):
        load_scorecard(broken)
    with pytest.raises(ScorecardError, match=r"absent\.toml"):
        load_scorecard(tmp_path / "absent.toml")
