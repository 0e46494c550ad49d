"""An independent batch recount of contract (v1.1) §3-5, written plainly for the tests.

It shares nothing with the engine but the deadline arithmetic (tested on its own in
test_domain.py): it takes the whole set of events, picks the winners, and counts. Pauses
are done by brute force: paused(t) is the length of the union of the dossier's counted
pause intervals, clipped to [received_at, t), found by sorting and merging afresh at
every instant it is needed.

- A dossier is (unit_id, dossier_id); events are deduplicated by (type, event_id).
- Submissions, surveys and reschedulings: the greatest (own timestamp, event_id) wins.
- Completions: the greatest (outcome rank, completed_at, event_id) wins, with
  resolved > returned > rejected = stopped = withdrawn.
- Pauses: per pause_id one copy counts, the greatest (has resumed_at, resumed_at or
  paused_at, event_id); a pause without resumed_at runs on for ever.
- Late at x: τ(x) = x − paused(x) > due, or S(x) ≥ 2 where S(x) counts the supplement
  pauses with received_at ≤ paused_at < x. A completion at e is late when late at e;
  an open dossier is open-overdue at t when late at t. Rescheduling never changes lateness.
- paused: dossiers open at t and inside a counted pause at t; rescheduled: dossiers whose
  winning rescheduling falls in the period; apologised: those of them that apologise.
- Pauses and reschedulings count for the dossier's official (its winning completion's
  official_id, else its submission's), and nowhere without a submission.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

from kpi.calendar import WorkingCalendar
from kpi.periods import Period
from kpi.report import Counts
from schemas.records import (
    FLAGS,
    DossierCompleted,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
    Event,
    Instant,
    SatisfactionSurvey,
)


@dataclass(frozen=True)
class Row:
    resolved: int = 0
    resolved_late: int = 0
    open_overdue: int = 0
    surveys: int = 0
    satisfied: int = 0
    paused: int = 0
    rescheduled: int = 0
    apologised: int = 0


FIELD = {f.name: i for i, f in enumerate(fields(Row))}
"""A Row field's position, so that counts are added by name."""

OUTCOME_RANK = {"resolved": 2, "returned": 1, "rejected": 0, "stopped": 0, "withdrawn": 0}


def _winner(events: list[Any]) -> Any:
    """Submissions, surveys, reschedulings: the greatest (own timestamp, event_id)."""
    return max(events, key=lambda e: (e.timestamp, e.event_id)) if events else None


def _winning_completion(completions: list[DossierCompleted]) -> DossierCompleted | None:
    """First by outcome rank, then by (completed_at, event_id)."""
    if not completions:
        return None
    return max(completions, key=lambda c: (OUTCOME_RANK[c.outcome], c.completed_at, c.event_id))


def _counted_pauses(pauses: list[DossierPause]) -> list[DossierPause]:
    """One copy per pause_id: a resumed copy beats an open one, then (timestamp, event_id)."""
    copies: dict[str, list[DossierPause]] = defaultdict(list)
    for pause in pauses:
        copies[pause.pause_id].append(pause)
    return [
        max(group, key=lambda p: (p.resumed_at is not None, p.timestamp, p.event_id))
        for group in copies.values()
    ]


def _paused(pauses: list[DossierPause], received_at: Instant, t: Instant) -> int:
    """paused(t): the length of the union of [paused_at, resumed_at) within [received_at, t)."""
    clipped = []
    for pause in pauses:
        lo = max(pause.paused_at, received_at)
        hi = t if pause.resumed_at is None else min(pause.resumed_at, t)
        if lo < hi:
            clipped.append((lo, hi))
    clipped.sort()
    total = 0
    current: list[int] | None = None
    for lo, hi in clipped:
        if current is not None and lo <= current[1]:
            current[1] = max(current[1], hi)
        else:
            if current is not None:
                total += current[1] - current[0]
            current = [lo, hi]
    if current is not None:
        total += current[1] - current[0]
    return total


def _supplements(pauses: list[DossierPause], received_at: Instant, x: Instant) -> int:
    """S(x): supplement pauses with received_at <= paused_at < x."""
    return sum(1 for p in pauses if p.reason == "supplement" and received_at <= p.paused_at < x)


def _late_at(pauses: list[DossierPause], received_at: Instant, due: Instant, x: Instant) -> bool:
    """τ(x) > due, or a second request for supplements before x."""
    effective = x - _paused(pauses, received_at, x)
    return effective > due or _supplements(pauses, received_at, x) >= 2


def _inside_a_pause(pauses: list[DossierPause], t: Instant) -> bool:
    return any(p.paused_at <= t and (p.resumed_at is None or t < p.resumed_at) for p in pauses)


def recount(
    events: list[Event], period: Period, clock: Instant, calendar: WorkingCalendar | None = None
) -> tuple[dict[tuple[str, str | None], Row], dict[str, int]]:
    """Figures per (unit, official or None for the whole unit), and orphans per unit."""
    calendar = calendar or WorkingCalendar()
    unique = {(type(e).__name__, e.event_id): e for e in events}.values()
    by_dossier: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    loose_votes = []
    for event in unique:
        if isinstance(event, DossierSubmitted):
            by_dossier[event.unit_id, event.dossier_id]["s"].append(event)
        elif isinstance(event, DossierCompleted):
            by_dossier[event.unit_id, event.dossier_id]["c"].append(event)
        elif isinstance(event, DossierPause):
            by_dossier[event.unit_id, event.dossier_id]["p"].append(event)
        elif isinstance(event, DossierRescheduled):
            by_dossier[event.unit_id, event.dossier_id]["r"].append(event)
        elif isinstance(event, SatisfactionSurvey):
            if event.dossier_id is None:
                loose_votes.append(event)
            else:
                by_dossier[event.unit_id, event.dossier_id]["v"].append(event)

    counts: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0] * len(FIELD))
    orphans: dict[str, int] = defaultdict(int)
    start, end = period.start, period.end
    t = min(end, clock)

    def add(unit: str, official: str | None, name: str) -> None:
        counts[unit, None][FIELD[name]] += 1
        if official is not None:
            counts[unit, official][FIELD[name]] += 1

    for (unit, _), kinds in by_dossier.items():
        submission = _winner(kinds["s"])
        completion = _winning_completion(kinds["c"])
        vote = _winner(kinds["v"])
        rescheduling = _winner(kinds["r"])
        pauses = _counted_pauses(kinds["p"])
        if submission is None:
            if completion is not None:
                orphans[unit] += 1
            continue
        received = submission.received_at
        due = submission.due_at
        if due is None:
            due = calendar.deadline(received, submission.processing_time)
        official = submission.official_id
        if completion is not None and completion.official_id is not None:
            official = completion.official_id

        if completion is not None and start <= completion.completed_at < end:
            add(unit, official, "resolved")
            if _late_at(pauses, received, due, completion.completed_at):
                add(unit, official, "resolved_late")
        open_at_t = received < t and (completion is None or completion.completed_at >= t)
        if open_at_t and _late_at(pauses, received, due, t):
            add(unit, official, "open_overdue")
        if vote is not None and start <= vote.surveyed_at < end:
            voter = vote.official_id if vote.official_id is not None else official
            add(unit, voter, "surveys")
            if vote.rating != "dissatisfied":
                add(unit, voter, "satisfied")
        if open_at_t and _inside_a_pause(pauses, t):
            add(unit, official, "paused")
        if rescheduling is not None and start <= rescheduling.rescheduled_at < end:
            add(unit, official, "rescheduled")
            if rescheduling.apology:
                add(unit, official, "apologised")
    for vote in loose_votes:
        if start <= vote.surveyed_at < end:
            add(vote.unit_id, vote.official_id, "surveys")
            if vote.rating != "dissatisfied":
                add(vote.unit_id, vote.official_id, "satisfied")
    return {key: Row(*values) for key, values in counts.items()}, dict(orphans)


REPORT_COLUMNS = Counts._fields
"""Form 06's 11 columns (contract v1.2 §10), then paused, the outcomes and the votes: the
order of the monitor's rows, so that they compare as tuples (names only; none of its
arithmetic)."""


def _received_late(submission: DossierSubmitted, calendar: WorkingCalendar) -> bool:
    """Decree 118, counted on the calendar's days: received after the midnight that ends
    the first working day after the day it was submitted."""
    submitted = submission.submitted_at
    if submitted is None:
        return False
    day = (submitted + 7 * 3_600_000_000) // (24 * 3_600_000_000) + 1
    while not calendar.is_working_day(day):
        day += 1
    midnight = (day + 1) * 24 * 3_600_000_000 - 7 * 3_600_000_000
    return submission.received_at > midnight


def recount_report(
    events: list[Event],
    period: Period,
    clock: Instant,
    calendar: WorkingCalendar | None = None,
    procedure_fields: dict[str, str] | None = None,
) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """Form 06 per (unit, field, procedure) by :data:`REPORT_COLUMNS`, counted dossier by
    dossier; its last columns are the v1.2 flags' counts.

    t = min(end, clock). Receipts and ends count as before t by their local day when the
    period holds the clock (the monitor's documented rule: the clock's whole day), by
    their instant otherwise; a dossier's end is its completion, or its receipt if the
    completion is dated before it. Open-overdue and paused are read at t itself.
    """
    calendar = calendar or WorkingCalendar()
    procedure_fields = procedure_fields or {}
    unique = {(type(e).__name__, e.event_id): e for e in events}.values()
    by_dossier: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    loose_votes = []
    for event in unique:
        if isinstance(event, SatisfactionSurvey) and event.dossier_id is None:
            loose_votes.append(event)
        elif not isinstance(event, DossierRescheduled):
            kind = {
                DossierSubmitted: "s",
                DossierCompleted: "c",
                DossierPause: "p",
                SatisfactionSurvey: "v",
            }[type(event)]
            by_dossier[event.unit_id, event.dossier_id][kind].append(event)  # type: ignore[union-attr]

    start, end = period.start, period.end
    t = min(end, clock)
    current = clock < end

    def local_day(x: Instant) -> int:
        return (x + 7 * 3_600_000_000) // (24 * 3_600_000_000)

    def before_t(x: Instant) -> bool:
        return local_day(x) <= local_day(clock) if current else x < end

    def in_period(x: Instant) -> bool:
        return x >= start and before_t(x)

    rows: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * len(REPORT_COLUMNS))

    def add(unit: str, field: tuple[str, str], *names: str) -> None:
        for name in names:
            rows[(unit, *field)][REPORT_COLUMNS.index(name)] += 1

    for (unit, _), kinds in by_dossier.items():
        submission = _winner(kinds["s"])
        if submission is None:
            continue
        completion = _winning_completion(kinds["c"])
        pauses = _counted_pauses(kinds["p"])
        vote = _winner(kinds["v"])
        procedure = submission.procedure_code or ""
        field = (submission.field_code or procedure_fields.get(procedure, ""), procedure)
        received = submission.received_at
        said = {name for name, bit in FLAGS.items() if submission.flags & bit}
        if completion is not None:
            said |= {name for name, bit in FLAGS.items() if completion.flags & bit}
        due = submission.due_at
        if due is None:
            due = calendar.deadline(received, submission.processing_time)
        ended = None if completion is None else max(completion.completed_at, received)
        if in_period(received):
            add(
                unit,
                field,
                "received",
                "new_online" if submission.channel == "online" else "new_other",
            )
            if said & {"fee_due", "paid_online"}:
                add(unit, field, "fee_due")
            add(unit, field, *sorted(said & {"paid_online", "digitised"}))
            if submission.channel == "online" and _received_late(submission, calendar):
                add(unit, field, "received_late")
        if received < start and (ended is None or ended >= start):
            add(unit, field, "received", "carried_over")
        if ended is not None and in_period(ended):
            assert completion is not None
            at = completion.completed_at
            if _late_at(pauses, received, due, at):
                column = "late"
            elif local_day(at - _paused(pauses, received, at)) < local_day(due - 1):
                column = "early"
            else:
                column = "on_time"
            add(unit, field, "settled", column, completion.outcome)
            if "result_digital" in said and completion.outcome in ("resolved", "returned"):
                add(unit, field, "result_digital")
        if before_t(received) and (ended is None or not before_t(ended)):
            overdue = received < t and _late_at(pauses, received, due, t)
            add(unit, field, "in_progress", "overdue" if overdue else "within_time")
            if received < t and _inside_a_pause(pauses, t):
                add(unit, field, "paused")
        if vote is not None and in_period(vote.surveyed_at):
            add(unit, field, "surveys", *(["satisfied"] if vote.rating != "dissatisfied" else []))
    for vote in loose_votes:
        if in_period(vote.surveyed_at):
            add(
                vote.unit_id,
                ("", ""),
                "surveys",
                *(["satisfied"] if vote.rating != "dissatisfied" else []),
            )
    return {key: tuple(values) for key, values in rows.items()}


def recounted_points(cells: tuple[int, ...]) -> dict[str, Fraction | None]:
    """The portal's formulas (decision 67), written out from the recount's columns by
    name, not from the indicator table."""
    c = dict(zip(REPORT_COLUMNS, cells, strict=True))

    def scored(num: int, den: int, most: int, full: Fraction) -> Fraction | None:
        return None if den <= 0 else most * min(Fraction(1), Fraction(max(num, 0), den) / full)

    received = c["new_online"] + c["new_other"]
    results = c["resolved"] + c["returned"]
    unhappy = c["late"] + c["overdue"] + c["surveys"] - c["satisfied"]
    return {
        "progress": scored(
            c["early"] + c["on_time"] + c["within_time"], c["received"], 20, Fraction(1)
        ),
        "online": scored(c["new_online"], received, 6, Fraction(1, 2)),
        "online_payment": scored(c["paid_online"], c["fee_due"], 6, Fraction(1)),
        "result_digital": scored(c["result_digital"], results, 6, Fraction(1)),
        "digitised": scored(c["digitised"], received, 4, Fraction(4, 5)),
        "satisfaction_766": scored(c["received"] - unhappy, c["received"], 6, Fraction(9, 10)),
    }
