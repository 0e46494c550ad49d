"""Random streams (duplicates, shuffles, corrections, pauses, outcomes, reschedulings, a
moving clock) against the independent recount."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.dossier import Pause, Snapshot, Submission
from kpi.engine import DOSSIER, Engine, state_key
from kpi.periods import HOUR_US, Period, PeriodError, parse_period
from kpi.report import FIELD, PROCEDURE, Counts, total
from kpi.snapshots import DossierSnapshot
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
    Event,
    Instant,
    ProcessingTime,
    SatisfactionSurvey,
    UnitRanking,
)
from tests.recount import Row, recount, recount_report

BASE = parse_instant("2025-12-20T00:00:00+07:00", "t")
UNITS = ("u1", "u2")
DOSSIERS = ("d0", "d1", "d2", "d3", "d4", "d5")
OUTCOMES = ("resolved", "returned", "rejected", "stopped", "withdrawn")
OFFICIALS = (None, "o1", "o2")
PERIODS = (
    "2025",
    "2026",
    "2025-12",
    "2026-01",
    "2026-02",
    "2026-03",
    "30d",
    None,
    "2026-Q1",
    "report:2026-01",
    "report:2026-02",
    "report:2026-Q1",
    "report:2026-H1",
    "report:2026",
)
CUT_OFF = 15
"""Khánh Hòa's: report months run from the 15th to the 14th."""
PROCEDURE_FIELDS = {"p1": "F1", "p2": "F3"}
"""A procedure catalogue: the field of a submission that names none."""
CALENDAR = WorkingCalendar()

hours = st.integers(min_value=0, max_value=24 * 100)


@st.composite
def event_specs(
    draw: Any,
    kinds: tuple[str, ...] = ("s", "s", "c", "c", "v", "loose", "p", "p", "r"),
    units: tuple[str, ...] = UNITS,
    dossiers: tuple[str, ...] = DOSSIERS,
    hours: Any = hours,
) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        kind = draw(st.sampled_from(kinds))
        common = {
            "unit_id": draw(st.sampled_from(units)),
            "official": draw(st.sampled_from(OFFICIALS)),
            "at": BASE + draw(hours) * HOUR_US,
        }
        if kind in "scvpr":
            common["dossier_id"] = draw(st.sampled_from(dossiers))
        if kind == "c":
            common["outcome"] = draw(st.sampled_from(OUTCOMES))
            common["flags"] = draw(st.sampled_from([0, 0, 2, 8, 15]))
        if kind == "p":
            # few pause ids, so that copies of one pause (open, resumed, re-sent) meet
            common["pause_id"] = draw(st.sampled_from(["a", "b", "c"]))
            common["supplement"] = draw(st.booleans())
            lasts = draw(st.one_of(st.none(), st.integers(0, 24 * 3), st.integers(0, 24 * 15)))
            common["resumed_at"] = None if lasts is None else common["at"] + lasts * HOUR_US
        if kind == "r":
            common["apology"] = draw(st.booleans())
        if kind == "s":
            common["field"] = draw(st.sampled_from([None, "F1", "F2"]))
            common["procedure"] = draw(st.sampled_from([None, "p1", "p2", "p9"]))
            common["channel"] = draw(st.sampled_from([None, "online", "counter", "postal"]))
            common["flags"] = draw(st.integers(0, 15))
            if draw(st.booleans()):  # from an hour after its receipt to 5 days before
                submitted = draw(st.integers(-1, 24 * 5))
                common["submitted_at"] = common["at"] - submitted * HOUR_US
            if draw(st.booleans()):
                common["due_at"] = common["at"] + draw(st.integers(-48, 24 * 20)) * HOUR_US
            else:
                unit = draw(st.sampled_from(["hours", "calendar_days", "working_days"]))
                common["processing"] = ProcessingTime(draw(st.integers(1, 30)), unit)
        if kind in ("v", "loose"):
            common["rating"] = draw(
                st.sampled_from(["very_satisfied", "satisfied", "dissatisfied"])
            )
        specs.append((kind, common))
    return specs


def build(specs: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    events: list[Event] = []
    for number, (kind, f) in enumerate(specs):
        event_id = f"e{number:03d}"
        if kind == "s":
            events.append(
                DossierSubmitted(
                    event_id,
                    f["unit_id"],
                    f["dossier_id"],
                    f["at"],
                    f.get("due_at"),
                    f.get("processing"),
                    f["official"],
                    f.get("procedure"),
                    f.get("channel"),
                    f.get("field"),
                    f.get("submitted_at"),
                    f["flags"],
                )
            )
        elif kind == "c":
            events.append(
                DossierCompleted(
                    event_id,
                    f["unit_id"],
                    f["dossier_id"],
                    f["at"],
                    f["official"],
                    f["outcome"],
                    f["flags"],
                )
            )
        elif kind == "p":
            reason = "supplement" if f["supplement"] else "financial_obligation"
            events.append(
                DossierPause(
                    event_id,
                    f["unit_id"],
                    f["dossier_id"],
                    f["pause_id"],
                    reason,
                    f["at"],
                    f["resumed_at"],
                    f["official"],
                )
            )
        elif kind == "r":
            events.append(
                DossierRescheduled(
                    event_id,
                    f["unit_id"],
                    f["dossier_id"],
                    f["at"],
                    f["at"] + 48 * HOUR_US,
                    f["apology"],
                    f["official"],
                )
            )
        else:
            events.append(
                SatisfactionSurvey(
                    event_id, f["unit_id"], f["at"], f["rating"], f.get("dossier_id"), f["official"]
                )
            )
    return events


def engine_rows(
    engine: Engine, period: Period
) -> tuple[dict[tuple[str, str | None], Row], dict[str, int]]:
    rows: dict[tuple[str, str | None], Row] = {}
    orphans = {}
    for unit_id, totals in engine.units.items():
        if totals.orphans:
            orphans[unit_id] = totals.orphans
        for official in [None, *sorted(totals.officials())]:
            f = engine.figures(unit_id, period, official)
            row = Row(
                f.resolved,
                f.resolved_late,
                f.open_overdue,
                f.surveys,
                f.satisfied,
                f.paused,
                f.rescheduled,
                f.apologised,
            )
            if row != Row():
                rows[unit_id, official] = row
    return rows, orphans


def compare(engine: Engine, events: list[Event], clock: Instant) -> None:
    for text in PERIODS:
        try:
            period = parse_period(text, clock, CUT_OFF)
        except PeriodError:
            continue
        expected, expected_orphans = recount(events, period, clock, CALENDAR)
        expected = {k: v for k, v in expected.items() if v != Row()}
        got, orphans = engine_rows(engine, period)
        assert got == expected, f"period {period.name}"
        assert orphans == expected_orphans
        compare_report(engine, events, period, clock)


def compare_report(engine: Engine, events: list[Event], period: Period, clock: Instant) -> None:
    """Every cell of form 06, by field, against the dossier-by-dossier recount; and the
    form's check in every row and in the total."""
    cells = recount_report(events, period, clock, CALENDAR, PROCEDURE_FIELDS)
    for by in (FIELD, PROCEDURE):
        expected: dict[tuple[str, str], tuple[int, ...]] = {}
        for (unit, *slot), row in cells.items():
            key = (unit, slot[by])
            old = expected.get(key, (0,) * len(row))
            expected[key] = tuple(a + b for a, b in zip(old, row, strict=True))
        got = {
            (unit, key): tuple(row)
            for unit, rows in engine.report(engine.reports, period, by).items()
            for key, row in rows.items()
        }
        assert got == {k: v for k, v in expected.items() if any(v)}, f"report {period.name}"
    report = engine.report(engine.reports, period)
    every = [row for rows in report.values() for row in rows.values()]
    assert all(row.balanced for row in every) and total(every).balanced
    # The dossiers behind each number, found from the index, are as many as it says.
    for unit, rows in report.items():
        unit_total = total(rows.values())
        for column in Counts._fields[: Counts._fields.index("surveys")]:
            behind = list(engine.behind(unit, period, column))
            assert len(behind) == getattr(unit_total, column), f"{unit} {column} {period.name}"


PAUSED_DOSSIERS = event_specs(
    kinds=("s", "c", "p", "p", "p"),
    units=("u1",),
    dossiers=("d0", "d1"),
    hours=st.integers(min_value=0, max_value=24 * 6),
)
"""Few dossiers, pauses and hours: pauses meet deadlines, receipts and each other."""

STEPS = st.lists(st.integers(0, 24 * 40), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(specs=event_specs(), seed=st.integers(0, 2**32), duplicates=st.integers(0, 10), steps=STEPS)
def test_any_order_and_duplicates_give_the_recount(
    specs: list[tuple[str, dict[str, Any]]], seed: int, duplicates: int, steps: list[int]
) -> None:
    replay(specs, seed, duplicates, steps)


@settings(max_examples=500, deadline=None)
@given(
    specs=PAUSED_DOSSIERS,
    seed=st.integers(0, 2**32),
    steps=st.lists(st.integers(0, 24 * 8), min_size=1, max_size=8),
)
def test_pauses_give_the_recount(
    specs: list[tuple[str, dict[str, Any]]], seed: int, steps: list[int]
) -> None:
    replay(specs, seed, 3, steps)


def replay(
    specs: list[tuple[str, dict[str, Any]]], seed: int, duplicates: int, steps: list[int]
) -> None:
    """Deliver the events shuffled, some twice, with the clock moving between them; then
    compare with the recount, and again after a restart from the stored states alone."""
    events = build(specs)
    rng = random.Random(seed)
    delivered = events + [rng.choice(events) for _ in range(duplicates)]
    rng.shuffle(delivered)

    now = [BASE + steps[0] * HOUR_US]
    clock = Clock(ClockSpec("wall"), source=lambda: now[0])
    # One mapping per unit, as a worker holds one store per partition: a state read or
    # written in the wrong unit's mapping would be missed by the recount below.
    states: dict[str, dict[bytes, bytes]] = {}
    engine = Engine(CALENDAR, clock, lambda unit: states.setdefault(unit, {}), PROCEDURE_FIELDS)
    engine.stale_slack = 0  # compact the clock's heap as soon as an entry goes stale
    # The clock moves forward between events, as the 1-second timer moves it in a worker.
    moments = sorted(
        rng.sample(range(len(delivered) + 1), k=min(len(steps) - 1, len(delivered) + 1))
    )
    later = iter(sorted(BASE + h * HOUR_US for h in steps[1:]))
    for index, event in enumerate(delivered):
        while moments and moments[0] == index:
            moments.pop(0)
            now[0] = max(now[0], next(later))
            engine.advance()
            check_clock(engine)
        engine.apply(event)
        check_clock(engine)
    for remaining in later:
        now[0] = max(now[0], remaining)
    engine.advance()
    check_clock(engine)
    compare(engine, events, engine.now)

    # a new worker: states alone
    restarted = Engine(CALENDAR, clock, states.__getitem__, PROCEDURE_FIELDS)
    restarted.rebuild(item for unit in states.values() for item in unit.items())
    compare(restarted, events, restarted.now)


@settings(max_examples=100, deadline=None)
@given(specs=event_specs(), seed=st.integers(0, 2**32))
def test_event_clock_is_the_greatest_timestamp(
    specs: list[tuple[str, dict[str, Any]]], seed: int
) -> None:
    events = build(specs)
    delivered = list(events)
    random.Random(seed).shuffle(delivered)
    states: dict[bytes, bytes] = {}
    engine = Engine(CALENDAR, Clock(ClockSpec("event")), lambda unit: states, PROCEDURE_FIELDS)
    for event in delivered:
        engine.apply(event)
    engine.advance()
    assert engine.now == max(e.timestamp for e in events)
    compare(engine, events, engine.now)


def test_rebuild_skips_states_it_cannot_read_and_reports_them() -> None:
    at = parse_instant("2026-03-02T08:00:00+07:00", "t")
    clock = Clock(ClockSpec("fixed", at + 10 * 24 * HOUR_US))
    states: dict[bytes, bytes] = {}
    engine = Engine(CALENDAR, clock, lambda unit: states)
    engine.apply(DossierSubmitted("s", "u", "d", at, at + HOUR_US, None, "cb", None, None))
    engine.apply(SatisfactionSurvey("v", "u", at, "satisfied", None, None))
    engine.apply(UnitRanking("r", "u", 2025, "tot", at))
    good = dict(states)
    junk = {
        b"not json": b"[]",
        b'["d", "u", "x"]': b"not json",
        b'["d", "u", "y"]': b'[["late", "s", 1, null], null, null]',
        b'["d", "u", "z"]': b"[1, 2]",
        b'["v", "u", "w"]': b'[1, "yes", null]',
        b'["r", "u", "2025"]': b'[1, "r", "tot"]',
        b'["q", "u", "k"]': b"[]",
        b'["d", 7, "k"]': b"[null, null, null]",
        # Decodes, but a completion in the year 318857 would break the calendar.
        b'["d", "u", "far"]': b'[[1, "s", 2, null], [10000000000000000000, "c", null], null]',
    }
    restarted = Engine(CALENDAR, clock, lambda unit: states)
    rebuilt = restarted.rebuild([*good.items(), *junk.items()])
    assert rebuilt.states == len(good) and sorted(rebuilt.skipped) == sorted(junk)
    year = parse_period("2026", clock.now())
    assert restarted.figures("u", year) == engine.figures("u", year)
    assert restarted.ranks("u") == {2025: "tot"}


def test_an_event_of_a_dossier_whose_state_cannot_be_read_counts_it_as_new() -> None:
    """The state was skipped at rebuild, so it counts nowhere: an event of its dossier
    must neither raise halfway (leaving a count behind) nor take back what never counted."""
    at = parse_instant("2026-03-02T08:00:00+07:00", "t")
    clock = Clock(ClockSpec("fixed", at + 10 * 24 * HOUR_US))
    flags_out_of_range = orjson.dumps([[at, "s", at + HOUR_US, "cb", "", True, "", 99], None, None])
    states = {state_key(DOSSIER, "u", "d"): flags_out_of_range}
    engine = Engine(CALENDAR, clock, lambda unit: states)
    assert engine.rebuild(list(states.items())).skipped == list(states)
    late = at + 2 * HOUR_US
    for _ in range(2):  # and again: nothing piles up
        engine.apply(DossierCompleted("c", "u", "d", late, None, "resolved"))
    assert engine.orphans("u") == 1, "a completion without a readable submission"
    engine.apply(DossierSubmitted("s2", "u", "d", at, at + HOUR_US, None, "cb", None, None))
    year = parse_period("2026", clock.now())
    figures = engine.figures("u", year)
    assert (figures.resolved, figures.resolved_late, engine.orphans("u")) == (1, 1, 0)


# -- the clock's heap: bounded by the boundaries dossiers have now -------------------------


def check_clock(engine: Engine) -> None:
    """Every boundary ahead is in the heap, the engine counts them right, and the stale
    entries beside them are within the bound."""
    now = engine.now
    keys = {*engine._intervals, *engine._paused}
    live = {(boundary, key) for key in keys for boundary in engine._clocked(key, now)}
    assert engine._live == len(live)
    assert live <= set(engine._boundaries)
    assert len(engine._boundaries) <= 2 * len(live) + engine.stale_slack


RECEIVED = parse_instant("2026-03-02T08:00:00+07:00", "t")


def fixed_engine(hours: float) -> tuple[Engine, list[Instant]]:
    """An engine whose clock reads ``hours`` after RECEIVED until the list is changed."""
    now = [RECEIVED + int(hours * HOUR_US)]
    clock = Clock(ClockSpec("wall"), source=lambda: now[0])
    states: dict[bytes, bytes] = {}
    return Engine(CALENDAR, clock, lambda unit: states), now


def test_a_dossier_sent_again_a_thousand_times_adds_nothing_to_the_clock() -> None:
    engine, now = fixed_engine(1)
    submission = Submission(RECEIVED, "", RECEIVED + 10 * HOUR_US, "cb")
    pauses = (  # both ahead of the clock: four boundaries, and the deadline after them
        Pause("1", "", False, RECEIVED + 2 * HOUR_US, RECEIVED + 3 * HOUR_US),
        Pause("2", "", False, RECEIVED + 5 * HOUR_US, RECEIVED + 6 * HOUR_US),
    )
    for number in range(1000):  # a newer sync record each time (a progress step)
        version = (RECEIVED, "ab", number)
        engine.apply(DossierSnapshot("u", "d", Snapshot(version, submission, None, pauses)))
    assert len(engine._boundaries) == 5
    for number in range(1000):  # and the same as events: corrections, the same deadline
        engine.apply(
            DossierSubmitted(
                f"s{number:04}", "u", "e", RECEIVED, RECEIVED + 10 * HOUR_US, None, "cb", None, None
            )
        )
    assert len(engine._boundaries) == 6
    check_clock(engine)
    now[0] = RECEIVED + 11 * HOUR_US
    engine.advance()
    f = engine.figures("u", parse_period("2026-03", engine.now))
    assert (f.open_overdue, f.paused) == (1, 0)  # "e" is overdue, "d" (2 h paused) not yet


def test_pauses_added_one_by_one_leave_the_clock_linear_in_them() -> None:
    engine, now = fixed_engine(1)
    engine.apply(
        DossierSubmitted("s", "u", "d", RECEIVED, RECEIVED + 1000 * HOUR_US, None, "cb", None, None)
    )
    count = 300
    for n in range(count):  # each moves the deadline: the one before goes stale
        start = RECEIVED + (2 * n + 2) * HOUR_US
        engine.apply(
            DossierPause(
                f"p{n}", "u", "d", f"{n:04}", "financial_obligation", start, start + HOUR_US, None
            )
        )
    live = 2 * count + 1  # the pauses' ends, and the deadline; n²/2 entries before
    assert len(engine._boundaries) < 3 * live
    assert engine._live == live
    check_clock(engine)
    now[0] = RECEIVED + 1299 * HOUR_US  # 300 h paused: due at 1300 h
    engine.advance()
    assert engine.figures("u", parse_period("2026", engine.now)).open_overdue == 0
    now[0] += 2 * HOUR_US
    engine.advance()
    assert engine.figures("u", parse_period("2026", engine.now)).open_overdue == 1
    check_clock(engine)
    assert engine._boundaries == []


def test_a_deadline_moved_a_thousand_times_leaves_a_bounded_clock() -> None:
    engine, now = fixed_engine(1)
    for n in range(1000):  # each correction wins, and moves the deadline
        due = RECEIVED + (1000 + n % 7 * 10 + n) * HOUR_US
        engine.apply(DossierSubmitted(f"s{n:04}", "u", "d", RECEIVED, due, None, "cb", None, None))
    assert len(engine._boundaries) < 100  # one live boundary: 1,000 entries before
    check_clock(engine)
    now[0] = RECEIVED + 2008 * HOUR_US  # the last is due at 1999 + 60 h
    engine.advance()
    assert engine.figures("u", parse_period("2026", engine.now)).open_overdue == 0
    now[0] += 52 * HOUR_US
    engine.advance()
    assert engine.figures("u", parse_period("2026", engine.now)).open_overdue == 1
    check_clock(engine)
