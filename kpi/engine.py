"""The KPI engine of one worker: exact figures from per-dossier state (no Kafka in here).

Durable state is the winning events per dossier (plus dossier-less votes and rankings),
in mappings the caller provides: ``states_of(unit_id)`` is the one holding a unit's state
(the store of the unit's partition in the worker, one dict in tests). Everything else is
derived, kept in memory, and rebuilt from that state after recovery.

    >>> from kpi.calendar import WorkingCalendar
    >>> from kpi.clock import Clock, ClockSpec
    >>> from kpi.periods import parse_period
    >>> from schemas.codec import parse_instant
    >>> from schemas.records import DossierCompleted, DossierSubmitted
    >>> t = lambda text: parse_instant(text, "t")
    >>> clock = Clock(ClockSpec("fixed", t("2026-03-31T12:00:00+07:00")))
    >>> states = {}
    >>> engine = Engine(WorkingCalendar(), clock, lambda unit_id: states)
    >>> _ = engine.apply(DossierSubmitted("s1", "u", "d1", t("2026-03-02T08:00:00+07:00"),
    ...                                   t("2026-03-05T00:00:00+07:00"), None, "cb", None, None))
    >>> engine.figures("u", parse_period("2026-03", clock.now())).open_overdue
    1
    >>> _ = engine.apply(DossierCompleted("c1", "u", "d1", t("2026-03-06T08:00:00+07:00"),
    ...                                   None, "resolved"))
    >>> f = engine.figures("u", parse_period("2026-03", clock.now()))
    >>> (f.resolved, f.resolved_late, f.open_overdue)
    (1, 1, 0)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from itertools import chain
from typing import NamedTuple

import orjson

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock
from kpi.dossier import (
    DAY,
    LATE,
    NO_FIELDS,
    OVERDUE_NOW,
    PAUSED_NOW,
    DossierState,
    Entry,
    Wait,
    checked,
    contribution,
    is_instant,
    merge,
    require,
    vote_entries,
)
from kpi.explain import Explanation, explain
from kpi.figures import DayCounts, Figures, UnitTotals
from kpi.index import Hints, UnitIndex
from kpi.periods import (
    DAY_US,
    Period,
    day_of,
    day_start,
    year_of,
    year_of_day,
    year_starts_between,
)
from kpi.report import (
    FIELD,
    UNCLASSIFIED,
    Counts,
    ReportTotals,
    Slot,
    ahead_of,
    dossier_counts,
    report_days,
    report_entries,
    unit_rows,
    vote_entry,
)
from kpi.report import Entry as ReportEntry
from kpi.snapshots import SYNC_PREFIX, DossierSnapshot
from schemas.dvcqg import MARKS
from schemas.records import (
    DossierCompleted,
    DossierEvent,
    DossierSubmitted,
    Event,
    Instant,
    SatisfactionSurvey,
    UnitRanking,
)

DOSSIER, LOOSE_VOTE, RANKING = "d", "v", "r"
"""Kinds of durable state, the first element of a state key (and ``"s"``, the sync
records of a ``MaHoSo``: :mod:`kpi.snapshots`)."""

_COMMON = (DossierSubmitted, DossierCompleted, SatisfactionSurvey)
"""Events whose own timestamp is the earliest instant they can change."""

StatesOf = Callable[[str], MutableMapping[bytes, bytes]]
"""The mapping that holds a unit's durable state: ``states_of(unit_id)``."""

Ranking = tuple[Instant, str, str]
"""(published_at, event_id, rank) of the winning ranking of a unit and year."""


def state_key(kind: str, unit_id: str, ident: str | int) -> bytes:
    """An unambiguous store key: a JSON array, whatever characters the ids hold.

    >>> parse_state_key(state_key(DOSSIER, "xã-a", "d/1"))
    ('d', 'xã-a', 'd/1')
    """
    return orjson.dumps([kind, unit_id, ident])


def parse_state_key(key: bytes) -> tuple[str, str, str | int]:
    """(kind, unit_id, dossier id / event id / year) of a :func:`state_key`."""
    kind, unit_id, ident = orjson.loads(key)
    return kind, unit_id, ident


class DueDossier(NamedTuple):
    """An open dossier and the instant it turns (or turned) overdue."""

    dossier_id: str
    official_id: str | None
    due_at: Instant


class PausedDossier(NamedTuple):
    """An open dossier inside a pause, and when that wait began: the start of its pause
    (of overlapping pauses, the first), or its receipt if the pause began before it."""

    dossier_id: str
    official_id: str | None
    paused_at: Instant


_Interval = tuple[str, str | None, Instant, Instant | None]
"""(unit_id, official, start, end) of a dossier's overdue interval (end None: for ever)."""


def _ahead(interval: _Interval | None, now: Instant) -> tuple[Instant, ...]:
    """The interval's distinct boundaries at or after ``now``."""
    if interval is None:
        return ()
    _, _, start, end = interval
    if end is None or end < now or end == start:
        return (start,) if start >= now else ()
    return (start, end) if start >= now else (end,)


class Engine:
    def __init__(
        self,
        calendar: WorkingCalendar,
        clock: Clock,
        states_of: StatesOf,
        fields: Mapping[str, str] = NO_FIELDS,
    ) -> None:
        self.calendar = calendar
        self.clock = clock
        self.states_of = states_of
        self.fields = fields
        """The field of each procedure, from the procedure catalogue (contract §10)."""
        self.units: dict[str, UnitTotals] = {}
        self.reports: dict[str, ReportTotals] = {}
        """Per unit, the counts form 06 is summed from (:mod:`kpi.report`)."""
        self.indexes: dict[str, UnitIndex] = {}
        """Per unit, where the dossiers behind the report's numbers are (:mod:`kpi.index`)."""
        self.rankings: dict[str, dict[int, Ranking]] = {}
        self.now: Instant = clock.now()
        self._clock_year = year_of(self.now)
        # Dossiers with a boundary (start or end of being overdue or paused) not yet passed,
        # and a heap of those boundaries: the clock moves them without any event arriving.
        # A boundary is live while its dossier has it and the clock has not passed it; each
        # live one is in the heap, pushed when the dossier first had it. An entry a change
        # made stale stays until the clock passes it or the heap is compacted, which keeps
        # the heap within 2 * live + stale_slack entries whatever is sent again.
        self._intervals: dict[bytes, _Interval] = {}
        self._paused: dict[bytes, tuple[str, str | None, list[Wait]]] = {}
        self._boundaries: list[tuple[Instant, bytes]] = []
        self._live = 0
        """How many of the heap's entries are live: the sum of :meth:`_clocked`."""
        self.marked: dict[str, dict[int, int]] = {}
        """Per unit, the dossiers it counts with each quality mark (:meth:`quality`)."""
        self.ended_late: dict[str, dict[str, Instant]] = {}
        """Per unit, the dossiers that ended late, and when (:meth:`late_dossiers`)."""
        # (unit, year) pairs whose figures or rankings changed since the alerts last looked.
        self.dirty: dict[str, set[int]] = {}

    # -- events -------------------------------------------------------------------

    def apply(self, event: Event | DossierSnapshot) -> tuple[bytes, bytes] | None:
        """Apply one valid event, or a national sync record's dossier; return the
        (key, state) to make durable, or None."""
        self.clock.observe(event.timestamp)
        if self.clock.spec.mode == "event":
            self.advance()
        if isinstance(event, UnitRanking):
            return self._apply_ranking(event)
        if event.dossier_id is None:  # only a survey may have no dossier
            assert isinstance(event, SatisfactionSurvey)
            return self._apply_loose_vote(event)
        return self._apply_dossier_event(event, event.dossier_id)

    def _apply_dossier_event(
        self, event: DossierEvent | DossierSnapshot, dossier_id: str
    ) -> tuple[bytes, bytes] | None:
        key = state_key(DOSSIER, event.unit_id, dossier_id)
        states = self.states_of(event.unit_id)
        # A stored state that cannot be read was skipped when the figures were rebuilt, so
        # it counts nowhere: the event is applied as to a new dossier (rebuild's reading).
        known = self._stored(event.unit_id, key)
        old = DossierState() if known is None else known
        change = event.snapshot if isinstance(event, DossierSnapshot) else event
        new = merge(old, change, self.calendar, self.fields)
        if new is None:
            return None
        encoded = new.encode()  # first: a state too large to write changes nothing
        totals = self.totals(event.unit_id)
        entries = contribution(new, self.now)
        totals.apply(entries, 1)
        before = [] if known is None else report_entries(old)
        self.report_totals(event.unit_id).change(before, report_entries(new))
        self._index_late(event.unit_id, dossier_id, entries, new)
        self._count_marks(event.unit_id, known, new)
        if known is not None:  # a new dossier contributed nothing yet
            totals.apply(contribution(old, self.now), -1)
        # A replaced event may be earlier than any in the new state: its years change too.
        # A pause or a snapshot changes figures from instants before its own timestamp.
        earliest, replaced = event.timestamp, old.earliest
        if not isinstance(event, _COMMON):
            earliest = min(earliest, new.earliest or earliest)
        self._mark(event.unit_id, earliest if replaced is None else min(earliest, replaced))
        self._track(key, event.unit_id, new)
        states[key] = encoded
        # After the state is stored: compacting a day's hints reads the states, this one's too.
        self._index_days(event.unit_id, dossier_id, known, new)
        return key, encoded

    def _apply_loose_vote(self, event: SatisfactionSurvey) -> tuple[bytes, bytes] | None:
        key = state_key(LOOSE_VOTE, event.unit_id, event.event_id)
        states = self.states_of(event.unit_id)
        if states.get(key) is not None:
            return None
        vote = LooseVote(event.surveyed_at, event.satisfied, event.official_id)
        self.totals(event.unit_id).apply(vote_entries(*vote), 1)
        self.report_totals(event.unit_id).change([], _loose_report_entries(vote))
        self._mark(event.unit_id, event.surveyed_at)
        encoded = orjson.dumps(tuple(vote))  # orjson writes no named tuples
        states[key] = encoded
        return key, encoded

    def _apply_ranking(self, event: UnitRanking) -> tuple[bytes, bytes] | None:
        current = self.rankings.get(event.unit_id, {}).get(event.year)
        candidate = (event.published_at, event.event_id, event.rank)
        if current is not None and candidate[:2] <= current[:2]:
            return None
        self.rankings.setdefault(event.unit_id, {})[event.year] = candidate
        self.dirty.setdefault(event.unit_id, set()).update((event.year, event.year + 1))
        key = state_key(RANKING, event.unit_id, event.year)
        encoded = orjson.dumps(candidate)
        self.states_of(event.unit_id)[key] = encoded
        return key, encoded

    def _index_late(
        self, unit_id: str, dossier_id: str, entries: list[Entry], state: DossierState
    ) -> None:
        """Keep the unit's index of the dossiers that ended late: the list behind its count
        is read from it, not from every dossier."""
        index = self.ended_late.get(unit_id)
        if any(entry[0] == DAY and entry[3] == LATE for entry in entries):
            completion = state.parts()[1]
            assert completion is not None  # only an end is late on a day
            if index is None:
                index = self.ended_late[unit_id] = {}
            index[dossier_id] = completion.at
        elif index is not None:
            index.pop(dossier_id, None)

    def _index_days(
        self, unit_id: str, dossier_id: str, old: DossierState | None, new: DossierState
    ) -> None:
        """Keep the unit's index of dossiers by day of receipt and of end, and of those
        open (:mod:`kpi.index`): the lists behind the report's numbers are read from it."""
        before, after = report_days(old), report_days(new)
        if before == after:
            return
        index = self.indexes.get(unit_id)
        if index is None:
            index = self.indexes[unit_id] = UnitIndex()
        for part, days in enumerate((index.received, index.ended)):
            crowded = days.move(dossier_id, before[part], after[part])
            if crowded is not None:
                self._compact_hints(unit_id, crowded, part, after[part])
        if after[0] is not None and after[1] is None:
            index.open.add(dossier_id)
        else:
            index.open.discard(dossier_id)

    def _compact_hints(self, unit_id: str, hints: Hints, part: int, day: int | None) -> None:
        """Keep the hints of the dossiers whose receipt (part 0) or end (part 1) is still
        on ``day``, read from their stored states."""
        states = self.states_of(unit_id)

        def holds(dossier_id: str) -> bool:
            raw = states.get(state_key(DOSSIER, unit_id, dossier_id))
            return raw is not None and report_days(DossierState.decode(raw))[part] == day

        hints.compact(holds)

    def _count_marks(self, unit_id: str, old: DossierState | None, new: DossierState) -> None:
        """Keep the unit's counts of dossiers with each quality mark (contract §9.7)."""
        before, after = _marks(old), _marks(new)
        if before == after:
            return
        counts = self.marked.setdefault(unit_id, {})
        for bit in MARKS.values():
            change = bool(after & bit) - bool(before & bit)
            if change:
                counts[bit] = counts.get(bit, 0) + change

    def quality(self, unit_id: str) -> dict[str, int]:
        """The unit's dossiers with each quality mark, by the mark's name."""
        counts = self.marked.get(unit_id, {})
        return {name: counts.get(bit, 0) for name, bit in MARKS.items()}

    def late_dossiers(self, unit_id: str, period: Period) -> list[tuple[str, Instant]]:
        """(dossier_id, ended_at) of the unit's dossiers that ended late in the period,
        the latest first."""
        start, end = period.start, period.end
        index = self.ended_late.get(unit_id, {})
        found = [(at, dossier) for dossier, at in index.items() if start <= at < end]
        return [(dossier, at) for at, dossier in sorted(found, reverse=True)]

    def _mark(self, unit_id: str, earliest: Instant) -> None:
        """Mark the years from ``earliest`` to the clock's: a dossier contributes only to
        years from its earliest timestamp on, and years after the clock are not evaluated."""
        first = year_of(earliest) if earliest < self.now else self._clock_year
        years = self.dirty.get(unit_id)
        if years is None:
            years = self.dirty[unit_id] = set()
        years.update(range(first, self._clock_year + 1))

    def take_dirty(self) -> dict[str, set[int]]:
        """The (unit, years) to re-evaluate, emptied."""
        dirty, self.dirty = self.dirty, {}
        return dirty

    def years(self, unit_id: str) -> set[int]:
        """Every year with figures or a ranking for the unit, and the clock's year."""
        totals = self.units.get(unit_id)
        days = {day for _, day in totals.days} if totals else set()
        return (
            {year_of_day(day) for day in days}
            | (totals.overdue_years(day_of(self.now)) if totals else set())
            | set(self.rankings.get(unit_id, {}))
            | {year_of(self.now)}
        )

    def ranks(self, unit_id: str) -> dict[int, str]:
        return {year: rank for year, (_, _, rank) in self.rankings.get(unit_id, {}).items()}

    def tracks(self, unit_id: str) -> bool:
        """Whether any state of the unit was applied (figures or a ranking)."""
        return unit_id in self.units or unit_id in self.rankings

    def tracked_units(self) -> set[str]:
        return {*self.units, *self.rankings}

    def totals(self, unit_id: str) -> UnitTotals:
        totals = self.units.get(unit_id)
        if totals is None:
            totals = self.units[unit_id] = UnitTotals()
        return totals

    def report_totals(self, unit_id: str) -> ReportTotals:
        report = self.reports.get(unit_id)
        if report is None:
            report = self.reports[unit_id] = ReportTotals()
        return report

    # -- the clock ------------------------------------------------------------------

    stale_slack = 64
    """Stale heap entries tolerated beyond as many as there are live ones."""

    def _track(self, key: bytes, unit_id: str, state: DossierState) -> None:
        """Follow the dossier's new state: the boundaries it no longer has go stale, and
        only those it did not have yet are pushed (a state sent again pushes nothing)."""
        now = self.now
        if state.pauses or state.snapshot is not None or key in self._paused:
            was = self._clocked(key, now)
            waits = [wait for wait in state.waits() if wait[1] is None or wait[1] >= now]
            if waits:
                self._paused[key] = (unit_id, state.official, waits)
            else:
                self._paused.pop(key, None)
            self._track_interval(key, unit_id, state)
            self._reclock(key, was, self._clocked(key, now))
            return
        # Without pauses (nearly every event's path): the interval's boundaries, no sets.
        intervals = self._intervals
        before = intervals.get(key)
        interval = state.overdue_interval()
        after: _Interval | None = None
        if interval is not None and (interval[1] is None or interval[1] >= now):
            after = intervals[key] = (unit_id, state.official, *interval)
            start, end = interval
            if before is None:  # a new dossier: its boundaries are all new, none go stale
                heap = self._boundaries
                if start >= now:
                    heapq.heappush(heap, (start, key))
                    self._live += 1
                if end is not None and end != start:
                    heapq.heappush(heap, (end, key))
                    self._live += 1
                return
            if before[2] == start:
                if before[3] == end:
                    return  # the same boundaries: sent again, or only the official changed
                if before[3] is None and end is not None:  # a completion: one more, ahead
                    if end != start:
                        heapq.heappush(self._boundaries, (end, key))
                        self._live += 1
                    return
        elif before is None:
            return
        else:
            del intervals[key]  # never overdue, or both boundaries passed
        old, new = _ahead(before, now), _ahead(after, now)
        if new != old:
            self._reclock(key, old, new)

    def _track_interval(self, key: bytes, unit_id: str, state: DossierState) -> None:
        """Keep the dossier's overdue interval while the clock may still change it."""
        interval = state.overdue_interval()
        if interval is None or (interval[1] is not None and interval[1] < self.now):
            self._intervals.pop(key, None)  # never overdue, or both boundaries passed
        else:
            self._intervals[key] = (unit_id, state.official, *interval)

    def _reclock(self, key: bytes, old: Collection[Instant], new: Collection[Instant]) -> None:
        """The dossier's boundaries ahead were ``old`` and are ``new``: push those it did
        not have; those it no longer has are stale entries."""
        heap = self._boundaries
        for boundary in new:
            if boundary not in old:
                heapq.heappush(heap, (boundary, key))
        self._live += len(new) - len(old)
        # Only a boundary gone stale can take the heap over its bound.
        if len(heap) > 2 * self._live + self.stale_slack:
            self._compact()

    def _clocked(self, key: bytes, now: Instant) -> set[Instant]:
        """The dossier's boundaries at or after ``now``: those the clock has yet to pass."""
        found = set(_ahead(self._intervals.get(key), now))
        paused = self._paused.get(key)
        if paused is not None:
            for lo, hi, _ in paused[2]:
                if lo >= now:
                    found.add(lo)
                if hi is not None and hi >= now:
                    found.add(hi)
        return found

    def _compact(self) -> None:
        """Drop the stale entries, once they outnumber the live ones and the slack: each
        was pushed once, so the pass costs O(1) per push, amortised."""
        heap = self._boundaries
        now = self.now
        clocked: dict[bytes, set[Instant]] = {}
        live = set()
        for entry in heap:
            boundary, key = entry
            boundaries = clocked.get(key)
            if boundaries is None:
                boundaries = clocked[key] = self._clocked(key, now)
            if boundary in boundaries:
                live.add(entry)  # a set: an entry stale, then live again, was pushed twice
        heap[:] = live
        heapq.heapify(heap)

    def advance(self) -> None:
        """Move to the clock's time; units whose open-overdue changed are marked dirty."""
        target = self.clock.now()
        if target <= self.now:
            return
        for year_start in year_starts_between(self.now, target):
            self._advance_to(year_start)
            for unit_id, totals in self.units.items():  # a year ends with dossiers overdue
                if totals.overdue_now.get(None):
                    self.dirty.setdefault(unit_id, set()).add(year_of(year_start - 1))
        self._advance_to(target)

    def _advance_to(self, target: Instant) -> None:
        before = self.now
        due: set[bytes] = set()
        while self._boundaries and self._boundaries[0][0] < target:
            due.add(heapq.heappop(self._boundaries)[1])
        for key in due:
            clocked = len(self._clocked(key, before))
            self._pass(key, before, target)
            self._live -= clocked - len(self._clocked(key, target))
        self.now = target
        self._clock_year = year_of(target)
        if len(self._boundaries) > 2 * self._live + self.stale_slack:
            self._compact()

    def _pass(self, key: bytes, before: Instant, target: Instant) -> None:
        """Move one dossier from ``before`` to ``target``: what it counts now."""
        if key in self._paused:
            self._pass_paused(key, before, target)
        interval = self._intervals.get(key)
        if interval is None:
            return
        unit_id, official, start, end = interval
        was = start < before and (end is None or before <= end)
        now = start < target and (end is None or target <= end)
        if was != now:
            self.totals(unit_id).apply([(OVERDUE_NOW, official, 0, 0)], 1 if now else -1)
            self.dirty.setdefault(unit_id, set()).add(year_of(target))
        if end is not None and end < target:
            del self._intervals[key]

    def _pass_paused(self, key: bytes, before: Instant, target: Instant) -> None:
        unit_id, official, waits = self._paused[key]
        was = any(lo < before and (hi is None or before <= hi) for lo, hi, _ in waits)
        now = any(lo < target and (hi is None or target <= hi) for lo, hi, _ in waits)
        if was != now:
            self.totals(unit_id).apply([(PAUSED_NOW, official, 0, 0)], 1 if now else -1)
        if all(hi is not None and hi < target for _, hi, _ in waits):
            del self._paused[key]

    def paused_dossiers(self, unit_id: str) -> list[PausedDossier]:
        """The unit's open dossiers inside a pause at the clock, longest waiting first."""
        return self.paused_by_unit(unit_id).get(unit_id, [])

    def paused_by_unit(self, only: str | None = None) -> dict[str, list[PausedDossier]]:
        """Per unit (``only`` that one), its open dossiers inside a pause at the clock,
        longest waiting first: one pass over the dossiers the clock follows."""
        found: dict[str, list[PausedDossier]] = {}
        for key, (unit, official, waits) in self._paused.items():
            if only is not None and unit != only:
                continue
            for lo, hi, since in waits:
                if lo < self.now and (hi is None or self.now <= hi):
                    dossier_id = str(parse_state_key(key)[2])
                    found.setdefault(unit, []).append(PausedDossier(dossier_id, official, since))
        for dossiers in found.values():
            dossiers.sort(key=lambda dossier: dossier.paused_at)
        return found

    def due_within(
        self, until: Instant, since: Instant | None = None
    ) -> dict[str, list[DueDossier]]:
        """Open dossiers that turn overdue in ``[since, until]``, per unit, soonest first;
        ``since`` defaults to the clock (not yet overdue)."""
        since = self.now if since is None else since
        found: dict[str, list[DueDossier]] = {}
        for key, (unit_id, official, start, end) in self._intervals.items():
            if end is None and since <= start <= until:
                dossier_id = str(parse_state_key(key)[2])
                found.setdefault(unit_id, []).append(DueDossier(dossier_id, official, start))
        for dossiers in found.values():
            dossiers.sort(key=lambda dossier: dossier.due_at)
        return found

    # -- recovery -------------------------------------------------------------------

    def rebuild(self, states: Iterable[tuple[bytes, bytes]]) -> Rebuilt:
        """Recompute everything from ``states``: every (key, state) this worker owns.

        A state that cannot be read (someone else wrote to the changelog) is skipped and
        reported, so one bad record cannot stop a worker from ever starting again.
        """
        self.units.clear()
        self.reports.clear()
        self.indexes.clear()
        self.rankings.clear()
        self.ended_late.clear()
        self.marked.clear()
        self._intervals.clear()
        self._paused.clear()
        self._boundaries.clear()
        self._live = 0
        owned: list[StoredState] = []
        skipped: list[bytes] = []
        for key, value in states:
            if key.startswith(SYNC_PREFIX):
                continue
            try:
                owned.append(_decode_state(key, value))
            except (ValueError, TypeError):  # orjson's errors are ValueErrors
                skipped.append(key)
        if self.clock.spec.mode == "event":
            for stored in owned:
                for at in stored.timestamps():
                    self.clock.observe(at)
        self.now = self.clock.now()
        self._clock_year = year_of(self.now)
        for stored in owned:
            unit_id, state = stored.unit_id, stored.state
            totals = self.totals(unit_id)
            if isinstance(state, DossierState):
                entries = contribution(state, self.now)
                totals.apply(entries, 1)
                self.report_totals(unit_id).change([], report_entries(state))
                self._index_late(unit_id, str(stored.ident), entries, state)
                self._count_marks(unit_id, None, state)
                self._index_days(unit_id, str(stored.ident), None, state)
                self._track(stored.key, unit_id, state)
            elif isinstance(state, LooseVote):
                totals.apply(vote_entries(*state), 1)
                self.report_totals(unit_id).change([], _loose_report_entries(state))
            else:
                self.rankings.setdefault(unit_id, {})[int(stored.ident)] = state
        self.dirty = {unit_id: self.years(unit_id) for unit_id in self.units}
        return Rebuilt(len(owned), skipped)

    # -- queries --------------------------------------------------------------------

    def figures(self, unit_id: str, period: Period, official: str | None = None) -> Figures:
        totals = self.units.get(unit_id) or UnitTotals()
        return Figures.of(totals, official, period, self.now)

    def report(
        self, unit_ids: Iterable[str], period: Period, by: int = FIELD
    ) -> dict[str, dict[str, Counts]]:
        """Form 06 of each unit, by field (contract §10) or by procedure: its rows at
        ``min(end, clock)``."""
        now = self.now
        current = period.end > now
        stop_day = day_of(now) + 1 if current else period.end_day
        unit_ids = list(unit_ids)
        ahead = self._clock_day_ahead(set(unit_ids)) if current else {}
        found = {}
        for unit_id in unit_ids:
            totals = self.reports.get(unit_id)
            if totals is not None:
                found[unit_id] = unit_rows(
                    totals, period.first_day, stop_day, ahead.get(unit_id, {}), by
                )
        return found

    def behind(self, unit_id: str, period: Period, column: str) -> Iterator[Behind]:
        """The unit's dossiers behind one column of its report (a :class:`Counts` field),
        in the order of its index: by day (of receipt for the columns of dossiers received
        in the period, of end for those settled), the dossiers still open first (by id)
        for the columns that count dossiers open at an instant. Lazily, so that a page
        costs what comes before it, not the whole list; each candidate is checked by the
        report's own sums.
        """
        index = self.indexes.get(unit_id)
        if index is None:
            return
        now, first_day = self.now, period.first_day
        current = period.end > now
        stop_day = day_of(now) + 1 if current else period.end_day
        candidates: Iterable[str]
        if column in _AT_START:
            candidates = chain(sorted(index.open), index.ended.between(first_day))
        elif column in _AT_END:
            candidates = chain(sorted(index.open), index.ended.between(stop_day))
        elif column in _ENDED:
            candidates = index.ended.between(first_day, stop_day)
        else:
            candidates = index.received.between(first_day, stop_day)
        if column == "received":
            carried = chain(sorted(index.open), index.ended.between(first_day))
            candidates = chain(candidates, carried)
        seen: set[str] = set()
        for dossier_id in candidates:
            if dossier_id in seen:
                continue
            seen.add(dossier_id)
            state = self._stored(unit_id, state_key(DOSSIER, unit_id, dossier_id))
            if state is None:
                continue
            counts = dossier_counts(state, first_day, stop_day, now if current else None)
            if getattr(counts, column):
                yield Behind(dossier_id, state, counts)

    def _clock_day_ahead(self, units: Collection[str]) -> dict[str, dict[Slot, int]]:
        """Per unit of ``units`` and slot, what the report buckets count on the clock's
        day at or after the clock (:func:`kpi.report.ahead_of`): only dossiers with a
        deadline or a pause boundary there can have any, and the clock follows them all."""
        now = self.now
        tonight = day_start(day_of(now)) + DAY_US
        keys = {
            key
            for key, (unit_id, _, start, _) in self._intervals.items()
            if now <= start < tonight and unit_id in units
        }
        for key, (unit_id, _, waits) in self._paused.items():
            if unit_id in units and any(
                now <= at < tonight for lo, hi, _ in waits for at in (lo, hi) if at
            ):
                keys.add(key)
        found: dict[str, dict[Slot, int]] = {}
        for key in keys:
            unit_id = str(parse_state_key(key)[1])
            state = self._stored(unit_id, key)
            if state is None:
                continue
            slots = found.setdefault(unit_id, {})
            for slot, _, packed in ahead_of(state, now):
                slots[slot] = slots.get(slot, 0) + packed
        return found

    def explain(self, unit_id: str, dossier_id: str) -> Explanation | None:
        """Why the unit's dossier counts as it does, at the clock (one lookup by its key);
        None for a dossier the unit does not count."""
        state = self._stored(unit_id, state_key(DOSSIER, unit_id, dossier_id))
        return None if state is None else explain(state, self.now)

    def _stored(self, unit_id: str, key: bytes) -> DossierState | None:
        """The unit's stored state of a dossier; None when there is none, or when it
        cannot be read (skipped, as on rebuild: anyone may write to the changelog)."""
        raw = self.states_of(unit_id).get(key)
        try:
            return None if raw is None else checked(DossierState.decode(raw))
        except (ValueError, TypeError):  # orjson's errors are ValueErrors
            return None

    def officials(self, unit_id: str) -> list[str]:
        """The unit's officials with any figures at all, sorted."""
        totals = self.units.get(unit_id)
        return sorted(totals.officials()) if totals else []

    def orphans(self, unit_id: str) -> int:
        """Dossiers with a completion but no submission (over all time)."""
        totals = self.units.get(unit_id)
        return totals.orphans if totals else 0

    def daily(self, unit_id: str, first_day: int, end_day: int) -> list[DayCounts]:
        """The unit's counts per local day in ``[first_day, end_day)``, oldest first."""
        totals = self.units.get(unit_id) or UnitTotals()
        return [totals.day(None, day) for day in range(first_day, end_day)]


def _marks(state: DossierState | None) -> int:
    """The quality marks of a dossier its unit counts (a sync dossier's)."""
    snapshot = None if state is None else state.snapshot
    if snapshot is None or not snapshot.here or snapshot.submission is None:
        return 0
    return snapshot.detail.marks


_AT_START = frozenset({"carried_over"})
_AT_END = frozenset({"in_progress", "within_time", "overdue", "paused"})
_ENDED = frozenset(
    {
        "settled",
        "early",
        "on_time",
        "late",
        "resolved",
        "returned",
        "rejected",
        "stopped",
        "withdrawn",
    }
)
"""Report columns by where their dossiers are found (the others: received in the period)."""


class Behind(NamedTuple):
    """A dossier behind a number of the report: its state and its own row."""

    dossier_id: str
    state: DossierState
    counts: Counts


class LooseVote(NamedTuple):
    """The stored state of a survey without a dossier."""

    at: Instant
    satisfied: bool
    official: str | None


def _loose_report_entries(vote: LooseVote) -> list[ReportEntry]:
    """A vote without a dossier has no field: the report counts it unclassified."""
    return [((UNCLASSIFIED, ""), *vote_entry(vote.at, vote.satisfied))]


class StoredState(NamedTuple):
    key: bytes
    unit_id: str
    ident: str | int
    state: DossierState | LooseVote | Ranking

    def timestamps(self) -> list[Instant]:
        """The own timestamps of the events this state holds (for the ``event`` clock)."""
        if isinstance(self.state, DossierState):
            return self.state.timestamps()
        return [self.state[0]]


class Rebuilt(NamedTuple):
    states: int
    skipped: list[bytes]
    """Keys whose state could not be read."""


def _decode_state(key: bytes, value: bytes) -> StoredState:
    """A stored state, checked as far as arithmetic on it needs; ValueError or TypeError."""
    kind, unit_id, ident = parse_state_key(key)
    require(isinstance(unit_id, str))
    if kind == DOSSIER:
        return StoredState(key, unit_id, ident, checked(DossierState.decode(value)))
    if kind == LOOSE_VOTE:
        vote = LooseVote(*orjson.loads(value))
        require(is_instant(vote.at) and isinstance(vote.satisfied, bool))
        require(vote.official is None or isinstance(vote.official, str))
        return StoredState(key, unit_id, ident, vote)
    require(kind == RANKING and isinstance(ident, int))
    published, event_id, rank = orjson.loads(value)
    require(is_instant(published) and isinstance(event_id, str) and isinstance(rank, str))
    return StoredState(key, unit_id, ident, (published, event_id, rank))
