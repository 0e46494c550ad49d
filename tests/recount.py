"""An independent batch recount of contract §3-5, written plainly for the tests.

It shares nothing with the engine but the deadline arithmetic (tested on its own in
test_domain.py): it takes the whole set of events, picks the winners, and counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kpi.calendar import WorkingCalendar
from kpi.periods import Period
from schemas.records import DossierCompleted, DossierSubmitted, Event, Instant, SatisfactionSurvey


@dataclass(frozen=True)
class Row:
    resolved: int = 0
    resolved_late: int = 0
    open_overdue: int = 0
    surveys: int = 0
    satisfied: int = 0


def _winner(events: list[Any]) -> Any:
    return max(events, key=lambda e: (e.timestamp, e.event_id)) if events else None


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
        elif isinstance(event, SatisfactionSurvey):
            if event.dossier_id is None:
                loose_votes.append(event)
            else:
                by_dossier[event.unit_id, event.dossier_id]["v"].append(event)

    counts: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    orphans: dict[str, int] = defaultdict(int)
    start, end = period.start, period.end
    t = min(end, clock)

    def add(unit: str, official: str | None, field: int) -> None:
        counts[unit, None][field] += 1
        if official is not None:
            counts[unit, official][field] += 1

    for (unit, _), kinds in by_dossier.items():
        submission, completion, vote = (_winner(kinds[k]) for k in "scv")
        if submission is None:
            if completion is not None:
                orphans[unit] += 1
            continue
        due = submission.due_at
        if due is None:
            due = calendar.deadline(submission.received_at, submission.processing_time)
        official = submission.official_id
        if completion is not None and completion.official_id is not None:
            official = completion.official_id
        if completion is not None and start <= completion.completed_at < end:
            add(unit, official, 0)
            if completion.completed_at > due:
                add(unit, official, 1)
        if (
            submission.received_at < t
            and due < t
            and (completion is None or completion.completed_at >= t)
        ):
            add(unit, official, 2)
        if vote is not None and start <= vote.surveyed_at < end:
            voter = vote.official_id if vote.official_id is not None else official
            add(unit, voter, 3)
            if vote.rating != "dissatisfied":
                add(unit, voter, 4)
    for vote in loose_votes:
        if start <= vote.surveyed_at < end:
            add(vote.unit_id, vote.official_id, 3)
            if vote.rating != "dissatisfied":
                add(vote.unit_id, vote.official_id, 4)
    return {key: Row(*values) for key, values in counts.items()}, dict(orphans)
