"""Form 06 (contract §10) on hand-made stories; random ones are in test_engine.py."""

from __future__ import annotations

from dataclasses import replace

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.periods import parse_period
from kpi.report import Counts
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierPause,
    DossierSubmitted,
    Instant,
    ProcessingTime,
    SatisfactionSurvey,
)


def t(text: str) -> Instant:
    return parse_instant(text, "t")


def engine_at(clock: str) -> Engine:
    states: dict[bytes, bytes] = {}
    fixed = Clock(ClockSpec("fixed", t(clock)))
    return Engine(WorkingCalendar(), fixed, lambda unit: states, {"khai-sinh": "HO-TICH"})


def submitted(
    dossier: str,
    at: str,
    due: str | None = None,
    channel: str | None = None,
    field: str | None = None,
    procedure: str | None = None,
) -> DossierSubmitted:
    processing = None if due else ProcessingTime(3, "working_days")
    return DossierSubmitted(
        f"s-{dossier}",
        "u",
        dossier,
        t(at),
        t(due) if due else None,
        processing,
        "cb",
        procedure,
        channel,
        field,
    )


def completed(dossier: str, at: str, outcome: str = "resolved") -> DossierCompleted:
    return DossierCompleted(f"c-{dossier}", "u", dossier, t(at), None, outcome)


def rows(engine: Engine, period: str) -> dict[str, Counts]:
    return engine.report(["u"], parse_period(period, engine.now, 15))["u"]


def test_a_deadline_at_midnight_falls_on_the_day_it_closes() -> None:
    engine = engine_at("2026-04-30T12:00:00+07:00")
    due = "2026-03-05T00:00:00+07:00"  # the end of 4 March
    engine.apply(submitted("early", "2026-03-02T08:00:00+07:00", due))
    engine.apply(completed("early", "2026-03-03T16:00:00+07:00"))
    engine.apply(submitted("on-time", "2026-03-02T08:00:00+07:00", due))
    engine.apply(completed("on-time", "2026-03-04T16:00:00+07:00"))
    engine.apply(submitted("late", "2026-03-02T08:00:00+07:00", due))
    engine.apply(completed("late", "2026-03-05T08:00:00+07:00", "returned"))
    row = rows(engine, "2026-03")[""]
    assert (row.settled, row.early, row.on_time, row.late) == (3, 1, 1, 1)
    assert (row.resolved, row.returned) == (2, 1)


def test_a_pause_makes_a_dossier_settled_on_its_due_day_early() -> None:
    """Settled early compares the effective time of the end with the due day."""
    engine = engine_at("2026-04-30T12:00:00+07:00")
    engine.apply(submitted("d", "2026-03-02T08:00:00+07:00", "2026-03-05T00:00:00+07:00"))
    engine.apply(
        DossierPause(
            "p", "u", "d", "p1", "financial_obligation",
            t("2026-03-03T08:00:00+07:00"), t("2026-03-04T08:00:00+07:00"), None,
        )
    )  # fmt: skip
    engine.apply(completed("d", "2026-03-04T16:00:00+07:00"))  # τ: 3 March, 16:00
    assert rows(engine, "2026-03")[""].early == 1


def test_the_columns_of_a_report_month_and_its_check() -> None:
    """report:2026-03 runs from 15 February to 14 March."""
    engine = engine_at("2026-04-30T12:00:00+07:00")
    engine.apply(submitted("carried", "2026-02-10T08:00:00+07:00", "2026-02-12T00:00:00+07:00"))
    engine.apply(submitted("online", "2026-02-20T08:00:00+07:00", channel="online"))
    engine.apply(completed("online", "2026-02-23T08:00:00+07:00"))
    engine.apply(submitted("counter", "2026-03-14T23:00:00+07:00", channel="counter"))
    engine.apply(submitted("after", "2026-03-15T00:00:00+07:00", channel="online"))
    row = rows(engine, "report:2026-03")[""]
    assert tuple(row)[:11] == (3, 1, 1, 1, 1, 1, 0, 0, 2, 1, 1)
    assert row.balanced


def test_a_completion_dated_before_its_receipt_is_settled_at_the_receipt() -> None:
    engine = engine_at("2026-04-30T12:00:00+07:00")
    engine.apply(submitted("d", "2026-03-02T08:00:00+07:00"))
    engine.apply(completed("d", "2026-02-27T08:00:00+07:00"))
    february, march = rows(engine, "2026-02"), rows(engine, "2026-03")
    assert february == {}
    assert (march[""].received, march[""].settled, march[""].in_progress) == (1, 1, 0)


def test_fields_come_from_the_submission_else_the_catalogue() -> None:
    engine = engine_at("2026-04-30T12:00:00+07:00")
    engine.apply(submitted("a", "2026-03-02T08:00:00+07:00", field="DAT-DAI"))
    engine.apply(submitted("b", "2026-03-02T08:00:00+07:00", procedure="khai-sinh"))
    engine.apply(submitted("c", "2026-03-02T08:00:00+07:00", procedure="unknown"))
    engine.apply(
        SatisfactionSurvey("v", "u", t("2026-03-03T08:00:00+07:00"), "satisfied", None, None)
    )
    found = rows(engine, "2026-03")
    assert {field: row.received for field, row in found.items()} == {
        "DAT-DAI": 1,
        "HO-TICH": 1,
        "": 1,
    }
    assert (found[""].surveys, found[""].satisfied) == (1, 1)


def test_the_clocks_day_counts_only_what_has_happened_at_the_clock() -> None:
    """A deadline later on the clock's day is not overdue yet; a pause that ends later
    that day still holds the dossier."""
    engine = engine_at("2026-03-10T12:00:00+07:00")
    engine.apply(submitted("due-at-5pm", "2026-03-02T08:00:00+07:00", "2026-03-10T17:00:00+07:00"))
    engine.apply(submitted("due-at-9am", "2026-03-02T08:00:00+07:00", "2026-03-10T09:00:00+07:00"))
    engine.apply(submitted("waits", "2026-03-02T08:00:00+07:00", "2026-03-30T00:00:00+07:00"))
    engine.apply(
        DossierPause(
            "p", "u", "waits", "p1", "supplement",
            t("2026-03-05T08:00:00+07:00"), t("2026-03-10T15:00:00+07:00"), None,
        )
    )  # fmt: skip
    row = rows(engine, "2026-03")[""]
    assert (row.in_progress, row.overdue, row.paused) == (3, 1, 1)
    engine.clock = Clock(ClockSpec("fixed", t("2026-03-10T18:00:00+07:00")))
    engine.advance()
    row = rows(engine, "2026-03")[""]
    assert (row.in_progress, row.overdue, row.paused) == (3, 2, 0)


def test_a_correction_takes_back_every_count_it_added() -> None:
    """A later submission moves the deadline: the dossier is no longer late, and the
    buckets are those of the corrected dossier alone."""
    late = submitted("d", "2026-03-02T08:00:00+07:00", "2026-03-03T00:00:00+07:00")
    corrected = replace(late, event_id="s-d2", received_at=late.received_at + 1,
                        due_at=t("2026-03-20T00:00:00+07:00"), channel="online")  # fmt: skip
    engine, fresh = engine_at("2026-04-30T12:00:00+07:00"), engine_at("2026-04-30T12:00:00+07:00")
    for event in (late, completed("d", "2026-03-09T08:00:00+07:00"), corrected):
        engine.apply(event)
    for event in (corrected, completed("d", "2026-03-09T08:00:00+07:00")):
        fresh.apply(event)
    row = rows(engine, "2026-03")[""]
    assert (row.new_online, row.new_other, row.late, row.early) == (1, 0, 0, 1)
    assert engine.reports["u"].slots == fresh.reports["u"].slots
