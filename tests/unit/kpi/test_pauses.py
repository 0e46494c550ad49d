"""Decision 766 in one dossier: pauses, a second supplement request, outcomes and
rescheduling (contract §3-5), at the boundaries the property tests rarely hit."""

from __future__ import annotations

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.dossier import DossierState, Pause, Submission, merge, overdue_from
from kpi.engine import Engine, PausedDossier
from kpi.figures import Figures
from kpi.periods import HOUR_US, parse_period
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierEvent,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
)

CAL = WorkingCalendar()
R = parse_instant("2026-03-02T08:00:00+07:00", "t")
"""Receipt; every time below is in hours after it."""


def at(hours: float) -> int:
    return R + int(hours * HOUR_US)


def submitted(due: float = 10) -> DossierSubmitted:
    return DossierSubmitted("s", "u", "d", R, at(due), None, "cb-1", None, None)


def pause(
    pause_id: str,
    start: float,
    end: float | None,
    reason: str = "supplement",
    event_id: str | None = None,
) -> DossierPause:
    resumed = None if end is None else at(end)
    event_id = event_id or f"p-{pause_id}-{end}"
    return DossierPause(event_id, "u", "d", pause_id, reason, at(start), resumed, None)  # type: ignore[arg-type]


def completed(hours: float, outcome: str = "resolved", event_id: str = "c") -> DossierCompleted:
    return DossierCompleted(event_id, "u", "d", at(hours), None, outcome)  # type: ignore[arg-type]


def figures(events: list[DossierEvent], clock: float, period: str = "2026-03") -> Figures:
    states: dict[bytes, bytes] = {}
    engine_clock = Clock(ClockSpec("fixed", at(clock)))
    engine = Engine(CAL, engine_clock, lambda unit_id: states)
    for event in events:
        engine.apply(event)
    engine.advance()
    return engine.figures("u", parse_period(period, engine.now))


def late(events: list[DossierEvent]) -> bool:
    f = figures(events, 24 * 20)
    assert f.resolved == 1
    return f.resolved_late == 1


def test_a_pause_that_straddles_the_deadline_moves_it_by_its_length() -> None:
    straddling = [submitted(10), pause("1", 8, 14, "financial_obligation")]
    assert not late([*straddling, completed(16)])  # τ = 16 - 6 = 10: not past 10
    assert late([*straddling, completed(16.5)])
    assert figures(straddling, 16).open_overdue == 0
    assert figures(straddling, 16.5).open_overdue == 1


def test_a_second_supplement_request_makes_the_dossier_late_at_the_request() -> None:
    twice = [submitted(100), pause("1", 1, 2), pause("2", 5, 6)]  # the second after resuming
    assert late([*twice, completed(7)])
    assert not late([submitted(100), pause("1", 1, 2), completed(7)])
    assert figures(twice, 5).open_overdue == 0  # S(5) counts requests before 5: one
    assert figures(twice, 5.01).open_overdue == 1
    # a financial obligation is not a request for supplements
    assert not late(
        [submitted(100), pause("1", 1, 2), pause("2", 5, 6, "financial_obligation"), completed(7)]
    )
    # nor is a request after the completion
    assert not late([submitted(100), pause("1", 1, 2), completed(4), pause("2", 5, 6)])


def test_overlapping_pauses_count_their_union_once() -> None:
    overlapping = [
        submitted(10),
        pause("1", 2, 8, "financial_obligation"),
        pause("2", 5, 12, "financial_obligation"),
    ]
    assert not late([*overlapping, completed(20)])  # 10 h paused: τ(20) = 10
    assert late([*overlapping, completed(20.5)])


def test_a_pause_before_receipt_counts_from_receipt_only() -> None:
    early = [submitted(10), pause("1", -5, 4, "financial_obligation")]  # 4 h after receipt
    assert not late([*early, completed(14)])
    assert late([*early, completed(14.5)])
    # and a supplement request before receipt is not a request
    assert not late([submitted(100), pause("1", -5, -4), pause("2", 1, 2), completed(7)])


def test_a_completion_inside_an_open_pause_is_on_time_and_not_paused() -> None:
    events = [submitted(10), pause("1", 4, None), completed(30)]
    assert not late(events)
    assert figures(events, 31).paused == 0
    assert figures(events[:2], 31).paused == 1  # before its completion: waiting
    assert figures(events[:2], 31).open_overdue == 0  # its clock stopped at 4 h


def test_a_pause_that_starts_when_the_time_runs_out_keeps_it_on_time_while_it_lasts() -> None:
    events = [submitted(10), pause("1", 10, 14, "financial_obligation")]
    assert not late([*events, completed(12)])  # τ stays at 10 during the pause
    assert late([*events, completed(14.01)])


def test_a_resumed_copy_replaces_the_open_one_in_every_figure() -> None:
    open_copy = pause("1", 4, None, event_id="z-open")  # a greater event_id loses anyway
    resumed = pause("1", 4, 6, event_id="a-resumed")
    for order in ([open_copy, resumed], [resumed, open_copy]):
        f = figures([submitted(10), *order], 13)
        assert (f.paused, f.open_overdue) == (0, 1)  # 2 h paused: overdue after 12 h


def test_a_year_boundary_during_a_pause_freezes_the_paused_count_in_the_old_year() -> None:
    received = parse_instant("2025-12-30T08:00:00+07:00", "t")
    submission = DossierSubmitted(
        "s", "u", "d", received, received + 72 * HOUR_US, None, None, None, None
    )
    paused = DossierPause(
        "p", "u", "d", "1", "supplement", received + HOUR_US, received + 96 * HOUR_US, None
    )
    states: dict[bytes, bytes] = {}
    clock_at = [received]
    engine = Engine(CAL, Clock(ClockSpec("wall"), source=lambda: clock_at[0]), lambda unit: states)
    engine.apply(submission)
    engine.apply(paused)
    clock_at[0] = received + 200 * HOUR_US  # 2026-01-07: resumed on 2 January, due 5 January
    engine.advance()
    y2025 = engine.figures("u", parse_period("2025", engine.now))
    y2026 = engine.figures("u", parse_period("2026", engine.now))
    assert (y2025.paused, y2025.open_overdue) == (1, 0)
    assert (y2026.paused, y2026.open_overdue) == (0, 1)


def test_outcomes_rank_before_time() -> None:
    returned_later = [
        submitted(10),
        completed(5, "resolved", "c1"),
        completed(20, "returned", "c2"),
    ]
    assert not late(returned_later)  # processed at 5, then returned: it ended at 5
    rejected_then_returned = [
        submitted(10),
        completed(20, "rejected", "c1"),
        completed(8, "returned", "c2"),
    ]
    assert not late(rejected_then_returned)
    same_rank = [submitted(10), completed(8, "withdrawn", "c1"), completed(20, "stopped", "c2")]
    assert late(same_rank)  # equal rank: the later one


def test_rescheduling_counts_but_never_changes_lateness() -> None:
    def rescheduled(event_id: str, hours: float, apology: bool) -> DossierRescheduled:
        return DossierRescheduled(event_id, "u", "d", at(hours), at(hours + 48), apology, "other")

    events = [submitted(10), rescheduled("r1", 9, True), completed(30)]
    f = figures(events, 24 * 20)
    assert (f.rescheduled, f.apologised, f.resolved_late) == (1, 1, 1)
    f = figures([*events, rescheduled("r2", 24 * 3, False)], 24 * 20)
    assert (f.rescheduled, f.apologised) == (1, 0)  # the later one wins


def test_overdue_from_is_the_receipt_when_due_precedes_it() -> None:
    s = Submission(at(0), "s", at(-5), None)
    assert overdue_from(s, [Pause("1", "p", False, at(1), at(3))]) == at(-5)


def test_a_snapshot_state_survives_encoding() -> None:
    state = merge(DossierState(), pause("1", 1, None), CAL)
    assert state is not None and DossierState.decode(state.encode()) == state


def test_a_year_with_only_an_overdue_dossier_has_figures_after_a_restart() -> None:
    """Contract §6: open and overdue through 2025 with no event in it, 2025 has figures."""
    received = parse_instant("2024-12-02T08:00:00+07:00", "t")
    states: dict[bytes, bytes] = {}
    clock = Clock(ClockSpec("fixed", parse_instant("2026-03-02T08:00:00+07:00", "t")))
    engine = Engine(CAL, clock, lambda unit: states)
    engine.apply(
        DossierSubmitted("s", "u", "d", received, received + HOUR_US, None, None, None, None)
    )
    restarted = Engine(CAL, clock, lambda unit: states)
    restarted.rebuild(states.items())
    assert {2024, 2025, 2026} <= restarted.take_dirty()["u"]
    assert restarted.figures("u", parse_period("2025", restarted.now)).open_overdue == 1


def test_a_pause_from_before_receipt_shows_it_paused_since_the_receipt_exactly() -> None:
    events: list[DossierEvent] = [
        submitted(100),
        pause("early", -5, None),  # the supplement was asked for before receipt
        DossierSubmitted("s2", "u", "at-receipt", R, at(100), None, "cb-2", None, None),
        DossierPause("p2", "u", "at-receipt", "1", "supplement", R, None, None),
        DossierSubmitted("s3", "u", "later", R, at(100), None, "cb-3", None, None),
        DossierPause("p3", "u", "later", "1", "supplement", at(1), None, None),
    ]
    states: dict[bytes, bytes] = {}
    engine = Engine(CAL, Clock(ClockSpec("fixed", at(2))), lambda unit: states)
    for event in events:
        engine.apply(event)
    assert engine.paused_dossiers("u") == [
        PausedDossier("d", "cb-1", R),  # not R + 1 µs: the part before receipt does not count
        PausedDossier("at-receipt", "cb-2", R),
        PausedDossier("later", "cb-3", at(1)),
    ]
    assert figures(events, 2).paused == 3
