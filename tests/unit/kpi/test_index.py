"""The index of dossiers by day: what lists read instead of scanning every dossier."""

from __future__ import annotations

from dataclasses import replace

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.index import SLACK, DayIndex, Hints
from kpi.periods import HOUR_US, day_of, parse_period
from schemas.codec import parse_instant
from schemas.records import DossierCompleted, DossierSubmitted, ProcessingTime


def test_hints_keep_any_id_and_compact_to_what_holds() -> None:
    hints = Hints()
    for dossier_id in ("a", "hồ sơ/ý", "a", "x" * 128, "b"):
        hints.add(dossier_id)
    assert list(hints) == ["a", "hồ sơ/ý", "x" * 128, "b"]
    hints.compact(lambda dossier_id: dossier_id != "a")
    assert list(hints) == ["hồ sơ/ý", "x" * 128, "b"] and hints.hints == 3


def test_a_day_index_compacts_once_stale_hints_outnumber_live_ones() -> None:
    index = DayIndex()
    where = {"d": 0}
    for move in range(1, 1000):  # one dossier moved between two days, over and over
        old, where["d"] = where["d"], move % 2
        crowded = index.move("d", None if move == 1 else old, where["d"])
        if crowded is not None:
            crowded.compact(lambda i, day=where["d"]: where[i] == day)
    assert all(hints.hints <= 2 * hints.live + SLACK + 1 for hints in index.days.values())
    assert list(index.between(where["d"], where["d"] + 1)) == ["d"]
    assert sum(hints.live for hints in index.days.values()) == 1


def test_a_receipt_moved_thousands_of_times_leaves_one_dossier_behind_the_number() -> None:
    t = parse_instant("2026-03-02T08:00:00+07:00", "t")
    states: dict[bytes, bytes] = {}
    engine = Engine(
        WorkingCalendar(),
        Clock(ClockSpec("fixed", t + 60 * 24 * HOUR_US)),
        lambda unit: states,
    )
    submitted = DossierSubmitted(
        "s0", "u", "d", t, None, ProcessingTime(3, "working_days"), None, None, None
    )
    for number in range(1, 3001):  # each correction a later receipt, on the other day
        at = t + (number % 2) * 24 * HOUR_US + number
        engine.apply(replace(submitted, event_id=f"s{number:04d}", received_at=at))
    engine.apply(DossierCompleted("c", "u", "d", t + 40 * 24 * HOUR_US, None, "resolved"))
    index = engine.indexes["u"]
    assert sum(hints.hints for hints in index.received.days.values()) <= 2 * (SLACK + 3)
    period = parse_period("2026", engine.now)
    assert [d.dossier_id for d in engine.behind("u", period, "received")] == ["d"]
    assert [d.dossier_id for d in engine.behind("u", period, "settled")] == ["d"]
    assert list(engine.behind("u", period, "in_progress")) == []
    assert index.open == set()
    received_day = day_of(t + 24 * HOUR_US)  # the latest receipt wins
    assert {day for day, hints in index.received.days.items() if hints.live} == {received_day}


def test_the_dossier_that_crowds_a_day_stays_in_its_list() -> None:
    """66 receipts moved off 2 March leave 66 stale hints there; the next dossier received
    that day sets off the compaction, and must survive it (its state is read back)."""
    t = parse_instant("2026-03-02T08:00:00+07:00", "t")
    states: dict[bytes, bytes] = {}
    engine = Engine(
        WorkingCalendar(), Clock(ClockSpec("fixed", t + 60 * 24 * HOUR_US)), lambda u: states
    )
    submitted = DossierSubmitted(
        "s", "u", "d", t, None, ProcessingTime(3, "working_days"), None, None, None
    )
    for n in range(SLACK + 2):
        engine.apply(replace(submitted, event_id=f"a{n}", dossier_id=f"d{n}"))
        moved = t + 24 * HOUR_US
        engine.apply(replace(submitted, event_id=f"b{n}", dossier_id=f"d{n}", received_at=moved))
    engine.apply(replace(submitted, event_id="z", dossier_id="z"))
    period = parse_period("2026-03", engine.now)
    new = [d.dossier_id for d in engine.behind("u", period, "new_other")]
    assert "z" in new and len(new) == SLACK + 3
    assert engine.indexes["u"].received.days[day_of(t)].hints == 1, "compacted to z alone"
