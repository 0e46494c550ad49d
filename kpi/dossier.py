"""Per-dossier state and what a dossier contributes to the figures (contract §3-5).

The state of a dossier is the *winning* submission, completion and vote: of two different
events of one type, the greater (own timestamp, event_id) wins. Applying an event is a
merge; a duplicate or a loser leaves the state unchanged, so at-least-once delivery and any
arrival order give the same state::

    >>> from kpi.calendar import WorkingCalendar
    >>> from schemas.records import DossierCompleted
    >>> early = DossierCompleted("c1", "u", "d", 100, None, "resolved")
    >>> later = DossierCompleted("c2", "u", "d", 200, None, "resolved")
    >>> state = merge(DossierState(), later, WorkingCalendar())
    >>> merge(state, early, WorkingCalendar()) is None   # the earlier completion loses
    True
    >>> merge(state, later, WorkingCalendar()) is None   # a duplicate changes nothing
    True

Every figure is a sum of :func:`contribution` over dossiers, so an update retracts the old
contribution and adds the new one. The records are named tuples: several are built for
every event, and a tuple is built several times faster than a frozen dataclass.

Pauses (Decision 766) stop a dossier's effective clock. The moment it turns overdue is
still one instant, computed from its pauses by :func:`overdue_from`, so the clock heap and
the daily buckets work as for a dossier without pauses, which keeps today's path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from kpi.calendar import WorkingCalendar
from kpi.periods import day_of
from schemas.codec import EARLIEST, LATEST
from schemas.records import (
    FLAGS,
    DossierCompleted,
    DossierEvent,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
    Instant,
    ProcessingTime,
    SatisfactionSurvey,
)

RESOLVED, LATE, SURVEYS, SATISFIED, RESCHEDULED, APOLOGISED = range(6)
"""Fields of a daily bucket."""
BUCKET_FIELDS = 6

DAY, OVERDUE_AT, OVERDUE_NOW, ORPHAN, PAUSED_AT, PAUSED_NOW = range(6)
"""Kinds of contribution entry."""

Entry = tuple[int, str | None, int, int]
"""(kind, official, x, field): DAY (day number, field) counts one; OVERDUE_AT and PAUSED_AT
(day number, +1 or -1) count a spell beginning (+1) or ending (-1) that day; OVERDUE_NOW,
PAUSED_NOW and ORPHAN (0, 0) count one."""

OUTCOME_RANKS = {"resolved": 2, "returned": 1, "rejected": 0, "stopped": 0, "withdrawn": 0}
"""Decision 766 takes a dossier's end from its highest-ranked completion (contract §4)."""

Span = tuple[Instant, Instant | None]
"""``(lo, hi)``: holds at t exactly when ``lo < t <= hi`` (hi None: for ever)."""
Wait = tuple[Instant, Instant | None, Instant]
"""``(lo, hi, since)``: a :data:`Span` inside a pause, and the instant the wait began."""


class Submission(NamedTuple):
    at: Instant
    event_id: str
    due: Instant | None
    """None: no deadline (a sync dossier without an appointment): never late."""
    official: str | None
    field: str = ""
    """The dossier's field (lĩnh vực, contract v1.2), "" when none was given."""
    online: bool = False
    """Received online (for the report's columns 2 and 3, contract §10)."""
    procedure: str = ""
    """Its procedure's code (``procedure_code``, ``MaTTHC``), "" when none was given."""
    flags: int = 0
    """The :data:`schemas.records.FLAGS` its submission set, and :data:`RECEIVED_LATE`."""


RECEIVED_LATE = 16
"""A flag of a submission: an online dossier received more than one working day after
the citizen submitted it (Decree 118/2025/NĐ-CP)."""
_SUBMISSION_DEFAULTS = (None, None, None, None, "", False, "", 0)
"""What a submission's trailing parts are when the changelog leaves them out."""


class Completion(NamedTuple):
    at: Instant
    event_id: str
    official: str | None
    outcome: str = "resolved"
    flags: int = 0
    """The :data:`schemas.records.FLAGS` its completion set."""

    @property
    def rank(self) -> tuple[int, Instant, str]:
        return OUTCOME_RANKS[self.outcome], self.at, self.event_id


class Vote(NamedTuple):
    at: Instant
    event_id: str
    satisfied: bool
    official: str | None


class Pause(NamedTuple):
    """The counted copy of one pause: ``[at, resumed)``, ``resumed`` None while it lasts."""

    pause_id: str
    event_id: str
    supplement: bool
    at: Instant
    resumed: Instant | None

    @property
    def rank(self) -> tuple[bool, Instant, str]:
        """Contract §4: a resumed copy beats an open one, then the later one wins."""
        resumed = self.resumed
        return resumed is not None, self.at if resumed is None else resumed, self.event_id


class Reschedule(NamedTuple):
    at: Instant
    event_id: str
    apology: bool


class Detail(NamedTuple):
    """What a sync dossier's explanation shows beyond its figures (contract §8)."""

    procedure: str = ""
    channel: str = ""
    marks: int = 0
    """Its quality marks (:data:`schemas.dvcqg.MARKS`)."""


NO_DETAIL = Detail()


class Snapshot(NamedTuple):
    """What the winning national sync record says of a dossier (contract §9): it replaces
    the dossier's own submission, completion and pauses. ``version`` orders the snapshots
    of one dossier. Without a submission, the record says the dossier was never received
    (it counts nowhere); with ``here`` false, the winning record names another unit, and
    this unit's own events of the dossier count again, as if no record had come."""

    version: tuple[Instant, str, int]
    submission: Submission | None
    completion: Completion | None
    pauses: tuple[Pause, ...]
    here: bool = True
    detail: Detail = Detail()

    def encode(self) -> list[Any]:
        encoded = [
            list(self.version),
            _encode_submission(self.submission),
            _encode_completion(self.completion),
            [list(pause) for pause in self.pauses],
        ]
        if self.detail != NO_DETAIL:
            return [*encoded, self.here, list(self.detail)]
        return encoded if self.here else [*encoded, False]

    @classmethod
    def decode(cls, raw: list[Any]) -> Snapshot:
        version, s, c, pauses, *rest = raw
        here = rest[0] if rest else True
        detail = Detail(*rest[1]) if len(rest) > 1 else NO_DETAIL
        submission = None if s is None else Submission(*s)
        if submission is not None and not submission.procedure and detail.procedure:
            # Written before v1.2, which kept a sync dossier's procedure in its detail.
            submission = submission._replace(procedure=detail.procedure)
        return cls(
            tuple(version),
            submission,
            None if c is None else Completion(*c),
            tuple(Pause(*pause) for pause in pauses),
            here,
            detail,
        )


def _encode_submission(s: Submission | None) -> list[Any] | None:
    """A submission as the changelog holds it: its trailing parts only up to the last
    that is not at its default, as states written before v1.2 have none of them."""
    if s is None:
        return None
    encoded = list(s)
    while len(encoded) > 4 and encoded[-1] == _SUBMISSION_DEFAULTS[len(encoded) - 1]:
        encoded.pop()
    return encoded


def _encode_completion(c: Completion | None) -> list[Any] | None:
    if c is None:
        return None
    if c.flags:
        return list(c)
    # Most completions are "resolved": leave it out, as states written before v1.1 do.
    return [c.at, c.event_id, c.official] if c.outcome == "resolved" else list(c[:4])


ONE_WORKING_DAY = ProcessingTime(1, "working_days")

NO_FIELDS: Mapping[str, str] = {}
"""No procedure catalogue: a submission's field is its own ``field_code`` or none."""

MAX_STATE_BYTES = 256 * 1024
"""A dossier's state is one changelog record: a dossier with more pauses than this holds
(thousands) is hostile input, and its event is set aside rather than stop the worker."""


class StateTooLarge(ValueError):
    """An event or record that would make a state too large to write."""


class DossierState(NamedTuple):
    submission: Submission | None = None
    completion: Completion | None = None
    vote: Vote | None = None
    pauses: tuple[Pause, ...] = ()
    reschedule: Reschedule | None = None
    snapshot: Snapshot | None = None

    def encode(self) -> bytes:
        """Compact JSON for the changelog: ``[submission, completion, vote]`` as arrays,
        then ``[pauses, reschedule, snapshot]`` only for dossiers that have any; a
        :class:`StateTooLarge` error for a state no changelog record could hold."""
        s, c, v = self.submission, self.completion, self.vote
        parts: list[Any] = [
            _encode_submission(s),
            None if c is None else _encode_completion(c),
            None if v is None else [v.at, v.event_id, v.satisfied, v.official],
        ]
        if self.pauses or self.reschedule is not None or self.snapshot is not None:
            r, snap = self.reschedule, self.snapshot
            parts.append([list(pause) for pause in self.pauses])
            parts.append(None if r is None else list(r))
            parts.append(None if snap is None else snap.encode())
        encoded = orjson.dumps(parts)
        if len(encoded) > MAX_STATE_BYTES:
            raise StateTooLarge(f"the dossier's state would be {len(encoded)} bytes")
        return encoded

    @classmethod
    def decode(cls, raw: bytes) -> DossierState:
        parts = orjson.loads(raw)
        if not isinstance(parts, list) or len(parts) not in (3, 6):
            raise ValueError("malformed state")
        s, c, v = parts[0], parts[1], parts[2]
        submission = None if s is None else Submission(*s)
        completion = None if c is None else Completion(*c)
        vote = None if v is None else Vote(*v)
        if len(parts) == 3:
            return cls(submission, completion, vote)
        _, _, _, pauses, r, snap = parts
        return cls(
            submission,
            completion,
            vote,
            tuple(Pause(*pause) for pause in pauses),
            None if r is None else Reschedule(*r),
            None if snap is None else Snapshot.decode(snap),
        )

    def parts(self) -> tuple[Submission | None, Completion | None, tuple[Pause, ...]]:
        """The submission, completion and pauses that count: the snapshot's, if any."""
        snapshot = self.snapshot
        if snapshot is None or not snapshot.here:
            return self.submission, self.completion, self.pauses
        return snapshot.submission, snapshot.completion, snapshot.pauses

    @property
    def official(self) -> str | None:
        """The dossier's official: of its completion, else of its submission."""
        submission, completion, _ = self.parts()
        if completion is not None and completion.official is not None:
            return completion.official
        return None if submission is None else submission.official

    @property
    def earliest(self) -> Instant | None:
        """The earliest instant from which this state counts (None for an empty state):
        its events' own times, and what its snapshot says of receipt, end and pauses."""
        times = self.timestamps()
        if not times:
            return None
        if not self.pauses and self.snapshot is None:
            return min(times)
        times.extend(pause.at for pause in self.pauses)
        snapshot = self.snapshot
        if snapshot is not None:
            times.extend(part.at for part in snapshot[1:3] if part is not None)
            times.extend(pause.at for pause in snapshot.pauses)
        return min(times) if times else None

    def timestamps(self) -> list[Instant]:
        """The own timestamps of the events this state holds (contract §6, what moves the
        ``event`` clock): receipt, completion, vote, each pause's resumption (else its
        start), rescheduling, and the ``synced_at`` of the snapshot."""
        times = [part.at for part in self[:3] if part is not None]
        if self.pauses or self.reschedule is not None or self.snapshot is not None:
            times.extend(p.at if p.resumed is None else p.resumed for p in self.pauses)
            if self.reschedule is not None:
                times.append(self.reschedule.at)
            if self.snapshot is not None:
                times.append(self.snapshot.version[0])
        return times

    def overdue_interval(self) -> Span | None:
        """Overdue at t exactly when ``start < t <= end`` (end None: ∞); None if never.

        Open-overdue at t means received before t, overdue by effective time (or after a
        second supplement request) at t, and not completed before t.
        """
        submission, completion, pauses = self.parts()
        if submission is None:
            return None
        due = overdue_from(submission, pauses) if pauses else submission.due
        if due is None:
            return None
        return max(submission.at, due), None if completion is None else completion.at

    def paused_spans(self) -> list[Span]:
        """When the dossier is open and inside a pause: ``paused_at <= t < resumed_at``,
        received before t and not completed before t."""
        return [(lo, hi) for lo, hi, _ in self.waits()]

    def waits(self) -> list[Wait]:
        """Its :meth:`paused_spans`, each with when that wait began as a unit office sees
        it: the start of its pauses, or the receipt if they began before it (the part of a
        pause before receipt does not count)."""
        submission, completion, pauses = self.parts()
        if submission is None or not pauses:
            return []
        received = submission.at
        end = None if completion is None else completion.at
        waits: list[Wait] = []
        for start, stop in _union((pause.at, pause.resumed) for pause in pauses):
            lo = max(start - 1, received)  # t >= start is t > start - 1 in microseconds
            hi = stop - 1 if stop is not None else None
            if end is not None:
                hi = end if hi is None else min(hi, end)
            if hi is None or lo < hi:
                waits.append((lo, hi, max(start, received)))
        return waits


def _union(intervals: Iterable[tuple[Instant, Instant | None]]) -> list[Span]:
    """The union of half-open intervals ``[start, stop)`` (stop None: for ever), sorted,
    as disjoint ``[start, stop)`` pairs; empty intervals vanish.

    >>> _union([(5, 9), (1, 3), (2, 4), (8, None), (7, 7)])
    [(1, 4), (5, None)]
    """
    merged: list[Span] = []
    for start, stop in sorted(
        ((start, stop) for start, stop in intervals if stop is None or stop > start),
        key=lambda interval: interval[0],
    ):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            last_start, last_stop = merged[-1]
            stop = None if last_stop is None or stop is None else max(last_stop, stop)
            merged[-1] = (last_start, stop)
        else:
            merged.append((start, stop))
    return merged


def _effective_deadline(received: Instant, due: Instant, pauses: list[Pause]) -> Instant | None:
    """The last instant at which effective time has not passed ``due`` (None: it does not
    pass it while the pauses stand)."""
    if due < received:  # effective time is wall time until receipt
        return due
    now, remaining = received, due - received
    for start, stop in _union((max(p.at, received), p.resumed) for p in pauses):
        if start - now > remaining:  # effective time passes due before this pause
            break
        remaining -= start - now
        if stop is None:  # paused for good within the time allowed
            return None
        now = stop
    return now + remaining


def paused_time(received: Instant, pauses: Iterable[Pause], until: Instant) -> int:
    """How long a dossier received at ``received`` stood paused before ``until``: the
    union of its pauses, without their parts before receipt.

    >>> paused_time(10, [Pause("a", "e", True, 0, 30), Pause("b", "e", False, 20, None)], 50)
    40
    """
    total = 0
    for start, stop in _union((max(p.at, received), p.resumed) for p in pauses):
        end = until if stop is None else min(stop, until)
        total += max(0, end - start)
    return total


def overdue_from(submission: Submission, pauses: Iterable[Pause]) -> Instant | None:
    """The instant after which a dossier is late (contract §3), None if never while its
    pauses stand: effective time passes ``due`` there, or a second supplement request
    comes first. Parts of pauses before receipt do not count.

    >>> hour = 3_600_000_000
    >>> s = Submission(0, "s", 10 * hour, None)
    >>> overdue_from(s, [Pause("p", "e", False, 2 * hour, 5 * hour)]) // hour  # 3 h paused
    13
    >>> overdue_from(s, [Pause("p", "e", False, 2 * hour, None)]) is None  # paused for now
    True
    >>> asks = [Pause(n, "e", True, at * hour, at * hour + 1) for n, at in [("1", 1), ("2", 4)]]
    >>> overdue_from(s, asks) // hour  # the second request makes it late
    4
    """
    received = submission.at
    if submission.due is None:  # no deadline: never late, whatever its requests
        return None
    pauses = list(pauses)
    requests = sorted(p.at for p in pauses if p.supplement and p.at >= received)
    second = requests[1] if len(requests) > 1 else None
    by_time = _effective_deadline(received, submission.due, pauses)
    if by_time is None:
        return second
    return by_time if second is None else min(by_time, second)


def received_late(
    submitted_at: Instant | None, received_at: Instant, calendar: WorkingCalendar
) -> bool:
    """Whether a dossier submitted online at ``submitted_at`` was received late (Decree
    118/2025/NĐ-CP): after the end of the working day that follows its submission's day.
    A submission dated after its receipt reads as received at once.

    >>> from datetime import datetime
    >>> from kpi.calendar import WorkingCalendar
    >>> from schemas.codec import LOCAL_TZ
    >>> at = lambda *a: int(datetime(*a, tzinfo=LOCAL_TZ).timestamp()) * 1_000_000
    >>> friday_night = at(2026, 3, 6, 22)
    >>> received_late(friday_night, at(2026, 3, 9, 16), WorkingCalendar())   # Monday
    False
    >>> received_late(friday_night, at(2026, 3, 10, 8), WorkingCalendar())   # Tuesday
    True
    """
    if submitted_at is None or submitted_at >= received_at:
        return False
    return received_at > calendar.deadline(submitted_at, ONE_WORKING_DAY)


def dossier_flags(submission: Submission, completion: Completion | None) -> int:
    """A dossier's flags: those its submission or its completion set; a payment online
    means a fee was due."""
    flags = submission.flags if completion is None else submission.flags | completion.flags
    return flags | FLAGS["fee_due"] if flags & FLAGS["paid_online"] else flags


def _wins(at: Instant, event_id: str, current: Any) -> bool:
    return current is None or (at, event_id) > (current.at, current.event_id)


def merge(
    state: DossierState,
    event: DossierEvent | Snapshot,
    calendar: WorkingCalendar,
    fields: Mapping[str, str] = NO_FIELDS,
) -> DossierState | None:
    """The state after ``event``, or None when the event changes nothing. A submission
    without a ``field_code`` takes its procedure's field in ``fields`` (the catalogue's,
    :mod:`kpi.procedures`)."""
    if isinstance(event, DossierSubmitted):
        if not _wins(event.received_at, event.event_id, state.submission):
            return None
        if event.due_at is not None:
            due = event.due_at
        else:
            assert event.processing_time is not None  # the schema requires one of them
            due = calendar.deadline(event.received_at, event.processing_time)
        procedure = event.procedure_code or ""
        online = event.channel == "online"
        flags = event.flags
        if online and received_late(event.submitted_at, event.received_at, calendar):
            flags |= RECEIVED_LATE
        submission = Submission(
            event.received_at,
            event.event_id,
            due,
            event.official_id,
            event.field_code or fields.get(procedure, ""),
            online,
            procedure,
            flags,
        )
        # The constructor, not _replace: this is every event's path, and twice as fast.
        return DossierState(submission, *state[1:])
    if isinstance(event, DossierCompleted):
        current = state.completion
        outcome = event.outcome
        if current is not None:
            if outcome == current.outcome:  # the common case: no ranks to look up
                if (event.completed_at, event.event_id) <= (current.at, current.event_id):
                    return None
            elif (OUTCOME_RANKS[outcome], event.completed_at, event.event_id) <= current.rank:
                return None
        completion = Completion(
            event.completed_at, event.event_id, event.official_id, outcome, event.flags
        )
        return DossierState(state.submission, completion, *state[2:])
    if isinstance(event, SatisfactionSurvey):
        if not _wins(event.surveyed_at, event.event_id, state.vote):
            return None
        vote = Vote(event.surveyed_at, event.event_id, event.satisfied, event.official_id)
        return DossierState(state.submission, state.completion, vote, *state[3:])
    if isinstance(event, DossierPause):
        return _merge_pause(state, event)
    if isinstance(event, DossierRescheduled):
        if not _wins(event.rescheduled_at, event.event_id, state.reschedule):
            return None
        reschedule = Reschedule(event.rescheduled_at, event.event_id, event.apology)
        return state._replace(reschedule=reschedule)
    if state.snapshot is not None and event.version <= state.snapshot.version:
        return None
    return state._replace(snapshot=event)


def _merge_pause(state: DossierState, event: DossierPause) -> DossierState | None:
    pause = Pause(
        event.pause_id,
        event.event_id,
        event.reason == "supplement",
        event.paused_at,
        event.resumed_at,
    )
    others = [p for p in state.pauses if p.pause_id != pause.pause_id]
    if len(others) < len(state.pauses):
        (current,) = (p for p in state.pauses if p.pause_id == pause.pause_id)
        if pause.rank <= current.rank:
            return None
    pauses = sorted((*others, pause), key=lambda p: p.pause_id)
    return state._replace(pauses=tuple(pauses))


def vote_entries(at: Instant, satisfied: bool, official: str | None) -> list[Entry]:
    day = day_of(at)
    entries: list[Entry] = [(DAY, official, day, SURVEYS)]
    if satisfied:
        entries.append((DAY, official, day, SATISFIED))
    return entries


def contribution(state: DossierState, clock: Instant) -> list[Entry]:
    """What one dossier adds to its unit's figures when the clock reads ``clock``.

    A completion, vote, pause or rescheduling without its submission is held: it counts
    nothing yet, except that a held completion is an orphan.
    """
    snapshot = state.snapshot  # state.parts() and state.official, inlined: every event's path
    own = snapshot is None or not snapshot.here
    if own:
        submission, completion, pauses = state.submission, state.completion, state.pauses
    else:
        assert snapshot is not None
        submission, completion, pauses = snapshot.submission, snapshot.completion, snapshot.pauses
    if submission is None:  # held; a completion of its own is an orphan
        return [(ORPHAN, None, 0, 0)] if completion is not None and own else []
    official = submission.official
    if completion is not None and completion.official is not None:
        official = completion.official
    due = overdue_from(submission, pauses) if pauses else submission.due
    entries: list[Entry] = []
    if completion is not None:
        day = day_of(completion.at)
        entries.append((DAY, official, day, RESOLVED))
        if due is not None and completion.at > due:
            entries.append((DAY, official, day, LATE))
    vote = state.vote
    if vote is not None:
        voter = vote.official if vote.official is not None else official
        entries.extend(vote_entries(vote.at, vote.satisfied, voter))
    reschedule = state.reschedule
    if reschedule is not None:
        day = day_of(reschedule.at)
        entries.append((DAY, official, day, RESCHEDULED))
        if reschedule.apology:
            entries.append((DAY, official, day, APOLOGISED))
    if due is not None:
        span = (max(submission.at, due), None if completion is None else completion.at)
        entries.extend(_span_entries(span, official, clock, OVERDUE_AT, OVERDUE_NOW))
    if pauses:
        for span in state.paused_spans():
            entries.extend(_span_entries(span, official, clock, PAUSED_AT, PAUSED_NOW))
    return entries


def _span_entries(
    span: Span, official: str | None, clock: Instant, at_kind: int, now_kind: int
) -> list[Entry]:
    """A span's beginning and end on their local days (it holds at a day boundary T when
    it began on a day before T's and has not ended on one), and its count at the clock.

    Two entries whatever the span's length: counts at past instants are sums over days
    (:meth:`kpi.figures.UnitTotals.open_overdue`), never copies frozen along the span.
    """
    lo, hi = span
    if hi is not None and hi <= lo:
        return []  # never holds: completed before it would have begun
    entries: list[Entry] = [(at_kind, official, day_of(lo), 1)]
    if hi is not None:
        entries.append((at_kind, official, day_of(hi), -1))
    if lo < clock and (hi is None or clock <= hi):
        entries.append((now_kind, official, 0, 0))
    return entries


LATEST_DUE = LATEST + 400 * 365 * 24 * 3600 * 1_000_000
"""Deadlines may run past the last valid timestamp (10,000 working days from 2099)."""


def checked(state: DossierState) -> DossierState:
    """``state`` if it is what :func:`merge` could have made, as far as arithmetic on it
    needs; else ValueError. Stored states are read back from topics anyone may write."""
    _check_parts(state.submission, state.completion, state.pauses)
    vote = state.vote
    if vote is not None:
        require(is_instant(vote.at) and isinstance(vote.event_id, str))
        require(isinstance(vote.satisfied, bool) and _optional_text(vote.official))
    reschedule = state.reschedule
    if reschedule is not None:
        require(is_instant(reschedule.at) and isinstance(reschedule.apology, bool))
    if state.snapshot is not None:
        checked_snapshot(state.snapshot)
    return state


def checked_snapshot(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` if its parts are sound, else ValueError."""
    version = snapshot.version
    require(len(version) == 3 and is_instant(version[0]) and isinstance(version[1], str))
    require(isinstance(version[2], int))
    _check_parts(snapshot.submission, snapshot.completion, snapshot.pauses)
    require(isinstance(snapshot.here, bool))
    require(all(isinstance(text, str) for text in snapshot.detail[:2]))
    require(isinstance(snapshot.detail.marks, int))
    return snapshot


def _check_parts(
    submission: Submission | None, completion: Completion | None, pauses: tuple[Pause, ...]
) -> None:
    for part in (submission, completion):
        if part is not None:
            require(is_instant(part.at) and isinstance(part.event_id, str))
            require(_optional_text(part.official))
    if submission is not None:
        due = submission.due
        require(due is None or (isinstance(due, int) and EARLIEST <= due < LATEST_DUE))
        require(isinstance(submission.field, str) and isinstance(submission.online, bool))
        require(isinstance(submission.procedure, str) and _is_flags(submission.flags))
    if completion is not None:
        require(completion.outcome in OUTCOME_RANKS and _is_flags(completion.flags))
    for pause in pauses:
        require(is_instant(pause.at) and isinstance(pause.supplement, bool))
        resumed = pause.resumed
        require(resumed is None or (is_instant(resumed) and resumed >= pause.at))


def _is_flags(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 32


def _optional_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def is_instant(value: object) -> bool:
    """An event's own timestamp as the codec admits it (so the calendar can take it)."""
    return isinstance(value, int) and not isinstance(value, bool) and EARLIEST <= value < LATEST


def require(condition: bool) -> None:
    if not condition:
        raise ValueError("malformed state")
