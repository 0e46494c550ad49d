"""Per-dossier state and what a dossier contributes to the figures (contract §3-5).

The state of a dossier is the *winning* submission, completion and vote: of two different
events of one type, the greater (own timestamp, event_id) wins. Applying an event is a
merge; a duplicate or a loser leaves the state unchanged, so at-least-once delivery and any
arrival order give the same state::

    >>> from kpi.calendar import WorkingCalendar
    >>> from schemas.records import DossierCompleted
    >>> early = DossierCompleted("c1", "u", "d", 100, None, None)
    >>> later = DossierCompleted("c2", "u", "d", 200, None, None)
    >>> state = merge(DossierState(), later, WorkingCalendar())
    >>> merge(state, early, WorkingCalendar()) is None   # the earlier completion loses
    True
    >>> merge(state, later, WorkingCalendar()) is None   # a duplicate changes nothing
    True

Every figure is a sum of :func:`contribution` over dossiers, so an update retracts the old
contribution and adds the new one. The records are named tuples: several are built for
every event, and a tuple is built several times faster than a frozen dataclass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from kpi.calendar import WorkingCalendar
from kpi.periods import day_of, month_starts_between
from schemas.records import DossierCompleted, DossierSubmitted, Instant, SatisfactionSurvey

RESOLVED, LATE, SURVEYS, SATISFIED = range(4)
"""Fields of a daily bucket."""

DAY, OVERDUE_AT, OVERDUE_NOW, ORPHAN = range(4)
"""Kinds of contribution entry."""

Entry = tuple[int, str | None, int, int]
"""(kind, official, x, field): DAY (day number, field), OVERDUE_AT (instant, 0),
OVERDUE_NOW (0, 0), ORPHAN (0, 0). Every entry counts one."""


class Submission(NamedTuple):
    at: Instant
    event_id: str
    due: Instant
    official: str | None


class Completion(NamedTuple):
    at: Instant
    event_id: str
    official: str | None


class Vote(NamedTuple):
    at: Instant
    event_id: str
    satisfied: bool
    official: str | None


class DossierState(NamedTuple):
    submission: Submission | None = None
    completion: Completion | None = None
    vote: Vote | None = None

    def encode(self) -> bytes:
        """Compact JSON for the changelog: ``[submission, completion, vote]`` as arrays."""
        s, c, v = self.submission, self.completion, self.vote
        return orjson.dumps(
            [
                None if s is None else [s.at, s.event_id, s.due, s.official],
                None if c is None else [c.at, c.event_id, c.official],
                None if v is None else [v.at, v.event_id, v.satisfied, v.official],
            ]
        )

    @classmethod
    def decode(cls, raw: bytes) -> DossierState:
        s, c, v = orjson.loads(raw)
        return cls(
            None if s is None else Submission(*s),
            None if c is None else Completion(*c),
            None if v is None else Vote(*v),
        )

    @property
    def official(self) -> str | None:
        """The dossier's official: of its completion, else of its submission."""
        if self.completion is not None and self.completion.official is not None:
            return self.completion.official
        return None if self.submission is None else self.submission.official

    @property
    def earliest(self) -> Instant | None:
        """The earliest own timestamp of the winning events (None for an empty state)."""
        times = [part.at for part in self if part is not None]
        return min(times) if times else None

    def overdue_interval(self) -> tuple[Instant, Instant | None] | None:
        """``(start, end)``: overdue at t exactly when ``start < t <= end`` (end None: ∞).

        Open-overdue at t means received before t, due before t, not completed before t.
        """
        if self.submission is None:
            return None
        start = max(self.submission.at, self.submission.due)
        return start, None if self.completion is None else self.completion.at


def _wins(at: Instant, event_id: str, current: Any) -> bool:
    return current is None or (at, event_id) > (current.at, current.event_id)


def merge(
    state: DossierState,
    event: DossierSubmitted | DossierCompleted | SatisfactionSurvey,
    calendar: WorkingCalendar,
) -> DossierState | None:
    """The state after ``event``, or None when the event changes nothing."""
    if isinstance(event, DossierSubmitted):
        if not _wins(event.received_at, event.event_id, state.submission):
            return None
        if event.due_at is not None:
            due = event.due_at
        else:
            assert event.processing_time is not None  # the schema requires one of them
            due = calendar.deadline(event.received_at, event.processing_time)
        submission = Submission(event.received_at, event.event_id, due, event.official_id)
        return DossierState(submission, state.completion, state.vote)
    if isinstance(event, DossierCompleted):
        if not _wins(event.completed_at, event.event_id, state.completion):
            return None
        completion = Completion(event.completed_at, event.event_id, event.official_id)
        return DossierState(state.submission, completion, state.vote)
    if not _wins(event.surveyed_at, event.event_id, state.vote):
        return None
    vote = Vote(event.surveyed_at, event.event_id, event.satisfied, event.official_id)
    return DossierState(state.submission, state.completion, vote)


def vote_entries(at: Instant, satisfied: bool, official: str | None) -> list[Entry]:
    day = day_of(at)
    entries: list[Entry] = [(DAY, official, day, SURVEYS)]
    if satisfied:
        entries.append((DAY, official, day, SATISFIED))
    return entries


def contribution(state: DossierState, clock: Instant) -> list[Entry]:
    """What one dossier adds to its unit's figures when the clock reads ``clock``.

    A completion or vote without its submission is held: it counts nothing yet, except
    that a held completion is an orphan.
    """
    submission, completion = state.submission, state.completion
    if submission is None:
        return [(ORPHAN, None, 0, 0)] if completion is not None else []
    official = state.official
    entries: list[Entry] = []
    if completion is not None:
        day = day_of(completion.at)
        entries.append((DAY, official, day, RESOLVED))
        if completion.at > submission.due:
            entries.append((DAY, official, day, LATE))
    vote = state.vote
    if vote is not None:
        voter = vote.official if vote.official is not None else official
        entries.extend(vote_entries(vote.at, vote.satisfied, voter))
    start = max(submission.at, submission.due)
    if start < clock:
        end = clock if completion is None else min(completion.at, clock)
        entries.extend((OVERDUE_AT, official, m, 0) for m in month_starts_between(start, end))
        if completion is None or clock <= completion.at:
            entries.append((OVERDUE_NOW, official, 0, 0))
    return entries
