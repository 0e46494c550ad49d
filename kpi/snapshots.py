"""National sync records as dossier state (contract §9), one ``MaHoSo`` at a time.

A one-stop system sends the national portal a *snapshot* of a dossier each time it
changes (``DongBoHoSoMC``), and progress records naming who handled each step
(``CapNhatTienDoHoSoMC``). Snapshots of one ``MaHoSo`` arrive in any order and any number
of times, and progress records carry no unit. So they meet first by ``MaHoSo``, in a
:class:`SyncState`: the winning snapshot (the last in the order of contract §9.3), the
runs of the others (:mod:`kpi.history`) and every distinct progress record. From it,
:func:`facts` derives what the dossier's unit should hold, a :class:`DossierSnapshot`,
which the unit's engine takes like an event.

    >>> from schemas.dvcqg import DossierRecord
    >>> record = DossierRecord("HS-1", 4, "000.01.30.H34", 10, 99)
    >>> state = merge_record(None, record, 1000, "ab")
    >>> state = merge_progress(state, Progress(20, "cb-lan"))
    >>> found = facts(state, lambda *named: None, WorkingCalendar())
    >>> [(fact.unit_id, fact.snapshot.submission.official) for fact in found]
    [('000.01.30.H34', 'cb-lan')]

A fact's version is ``(latest synced_at, "r", revision)``: the revision grows with every
change of the state, so the unit keeps the latest fact whatever the order it gets them
in. Facts are sent again on every record, even one that changes nothing: if the worker
stopped after saving the state but before sending its facts, the record comes again and
the facts go out then. A unit ignores a fact it already has.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

import orjson

from kpi.calendar import WorkingCalendar
from kpi.dossier import (
    MAX_STATE_BYTES,
    OUTCOME_RANKS,
    RECEIVED_LATE,
    Completion,
    Detail,
    Pause,
    Snapshot,
    StateTooLarge,
    Submission,
    checked_snapshot,
    received_late,
)
from kpi.history import (
    ENDED,
    MAX_RUNS,
    NOT_RECEIVED,
    Key,
    Run,
    first_appointment,
    insert,
    key_of,
    kind_of,
    readings,
    waits,
)
from kpi.units import folded
from schemas.codec import InvalidEvent
from schemas.dvcqg import NO_DEADLINE, UNIT_UNMATCHED, DossierRecord, ProgressRecord
from schemas.records import Instant

MAX_PROGRESS = 256
"""Distinct progress records kept per dossier: a real dossier has a few dozen steps; more
is hostile input, set aside so that one dossier cannot cost a record per step for ever."""
PLACEHOLDER_OFFICIALS = ("Cán bộ một cửa", "Chuyên viên")
"""``NguoiXuLy`` that one-stop systems write for steps of the desk, not of an official."""
MAX_HOMES = 8
"""Units a dossier is remembered to have been in, most recent last (decision 34)."""

SYNC_PREFIX = b'["s",'
"""How the store key of every :class:`SyncState` begins (``["s","",MaHoSo]``): these
states share the partition stores with the units' states, but are not figures."""


ALL_UNITS = "*"
"""The grant of a sender that may write every unit: a provincial gateway, or a system that
writes to the sync topic itself (its Kafka ACL is its grant)."""

Grant = frozenset[str] | None
"""The units a sender may write records of; None: every unit."""


def grant_text(grant: Grant) -> str:
    """A grant as it names its sender's records (:meth:`SyncBook.key`) and travels with
    them: ``*``, or its units as a JSON array.

    >>> grant_text(None), grant_text(frozenset({"xa-b", "xa-a"}))
    ('*', '["xa-a","xa-b"]')
    """
    return ALL_UNITS if grant is None else orjson.dumps(sorted(grant)).decode()


class NotGranted(ValueError):
    """A record of a unit its sender may not write: set aside, never applied."""


class Progress(NamedTuple):
    """One step of a dossier: who handled it, and when."""

    at: Instant
    official: str


class DossierSnapshot(NamedTuple):
    """What a unit's engine holds of a sync-record dossier: applied like an event."""

    unit_id: str
    dossier_id: str
    snapshot: Snapshot

    @property
    def timestamp(self) -> Instant:
        """The ``synced_at`` of the winning record (the ``event`` clock's reading)."""
        return self.snapshot.version[0]

    @property
    def event_id(self) -> str:
        return f"{self.dossier_id}@r{self.snapshot.version[2]}"

    def encode(self) -> bytes:
        return orjson.dumps([self.unit_id, self.dossier_id, self.snapshot.encode()])

    @classmethod
    def decode(cls, raw: bytes | None) -> DossierSnapshot:
        """A fact read back from the internal topic, or InvalidEvent: anyone may write to a
        topic, and a record that cannot be read must be set aside, not fatal."""
        try:
            unit_id, dossier_id, snapshot = orjson.loads(raw or b"")
            if not isinstance(unit_id, str) or not isinstance(dossier_id, str):
                raise TypeError("ids must be strings")
            return cls(unit_id, dossier_id, checked_snapshot(Snapshot.decode(snapshot)))
        except (ValueError, TypeError) as error:  # orjson's errors are ValueErrors
            raise InvalidEvent(f"not a dossier snapshot: {error}") from None


FIELDS = ("unit", "received_at", "procedure", "channel", "field", "submitted_at", "flags")
"""What a dossier takes from its winning snapshot, else from the latest earlier one that
has it (contract §9.3)."""


def _given(record: DossierRecord, name: str) -> Any:
    """The record's value of one of :data:`FIELDS` as kept, or None where it has none."""
    if name == "unit":
        named = record.unit_code or record.madonvi
        return [record.unit_code, record.madonvi] if named else None
    if name == "field":
        return list(record.field) if record.field[0] else None
    return getattr(record, name) or None


class SyncState(NamedTuple):
    """Everything kept of one ``MaHoSo``: its winning snapshot, its runs (:mod:`kpi.history`),
    and its progress records."""

    latest: Instant | None = None
    """The greatest ``synced_at`` of its records: the ``event`` clock's reading of it."""
    revision: int = 0
    """Grows with every change: a unit keeps the fact of the greatest revision."""
    winner: Key | None = None
    record: DossierRecord | None = None
    """The winning snapshot, the last in order."""
    runs: tuple[Run, ...] = ()
    fallback: tuple[tuple[str, Key, Any], ...] = ()
    """(field, snapshot, value) for each of :data:`FIELDS` the winner lacks: the latest
    earlier snapshot's that has it."""
    marks: int = 0
    """The quality marks of any of its snapshots."""
    progress: tuple[Progress, ...] = ()
    homes: tuple[str, ...] = ()
    """The units facts went to, most recent last: a dossier that moved is removed from
    the others, on every record (a removal lost to a crash is sent again)."""
    since: Instant | None = None
    """While it counts nowhere: the ``synced_at`` of its first record, from which it waits
    for a snapshot that places it (:data:`SyncBook.waiting`)."""

    def value(self, name: str) -> Any:
        """One of :data:`FIELDS`: the winner's, else its fallback's; None without one."""
        if self.record is not None:
            given = _given(self.record, name)
            if given is not None:
                return given
        return next((value for field, _, value in self.fallback if field == name), None)

    @property
    def reading(self) -> str:
        """What the winner reads as (:mod:`kpi.history`); not received without one."""
        return readings(self.runs)[-1] if self.runs else NOT_RECEIVED

    @property
    def counts(self) -> bool:
        """Whether the dossier is received and has ``NgayTiepNhan``: it counts in a unit."""
        return self.reading != NOT_RECEIVED and self.value("received_at") is not None

    @property
    def waiting(self) -> bool:
        """Only progress records, or only snapshots of a dossier that counts nowhere and
        never did: kept within :class:`SyncBook`'s bounds."""
        return self.since is not None and not self.homes and not self.counts

    def encode(self) -> bytes:
        record = None if self.record is None else _encode_record(self.record)
        state = [
            "h",  # states written before snapshots were read as a history begin otherwise
            self.latest,
            self.revision,
            None if self.winner is None else list(self.winner),
            record,
            [_encode_run(run) for run in self.runs],
            [[name, list(key), value] for name, key, value in self.fallback],
            self.marks,
            [list(p) for p in self.progress],
            list(self.homes),
        ]
        return orjson.dumps(state if self.since is None else [*state, self.since])

    @classmethod
    def decode(cls, raw: bytes) -> SyncState:
        """A state read back; ValueError or TypeError for one that cannot be."""
        parts = orjson.loads(raw)
        if not isinstance(parts, list) or parts[:1] != ["h"]:
            return _from_winner_only(parts)
        _, latest, revision, winner, record, runs, fallback, marks, progress, homes, *since = parts
        if not all(isinstance(at, int) for at in (*since, latest or 0, revision, marks)):
            raise TypeError("times and counts must be integers")
        return cls(
            latest,
            revision,
            None if winner is None else Key(*winner),
            None if record is None else _decode_record(record),
            tuple(_decode_run(run) for run in runs),
            tuple((name, Key(*key), value) for name, key, value in fallback),
            marks,
            tuple(Progress(*p) for p in progress),
            tuple(homes),
            *since,
        )


def _encode_run(run: Run) -> list[Any]:
    appointment = run.appointment
    at = None if appointment is None else [list(appointment[0]), appointment[1]]
    return [list(run.first), list(run.last), run.kind, at]


def _decode_run(raw: list[Any]) -> Run:
    first, last, kind, appointment = raw
    if appointment is not None:
        appointment = (Key(*appointment[0]), appointment[1])
    return Run(Key(*first), Key(*last), kind, appointment)


def _from_winner_only(parts: Any) -> SyncState:
    """A state as written before snapshots were read as a history: its winner was all it
    kept, so its winner is its history."""
    synced_at, digest_, record, progress, homes, *since = parts
    if not all(isinstance(at, int) for at in (*since, synced_at or 0)):
        raise TypeError("times must be integers")
    state = SyncState(progress=tuple(Progress(*p) for p in progress), since=(since or [None])[0])
    if record is not None:
        dossier_id, status, unit_code, received_at, due_at, pauses, ends, *madonvi = record
        winner = DossierRecord(
            dossier_id,
            status,
            unit_code,
            received_at,
            due_at,
            tuple((pause_id, at, resumed) for pause_id, at, resumed in pauses),
            tuple((outcome, at) for outcome, at in ends),
            *madonvi,
        )
        state = merge_record(state, winner, synced_at, digest_)
    return state._replace(homes=tuple(homes), revision=state.revision + 1)


_RECORD_DEFAULTS = DossierRecord("", 0, "", None, None)
"""Trailing fields a record has at their default are not written."""


def _encode_record(record: DossierRecord) -> list[Any]:
    encoded: list[Any] = list(record)
    encoded[5] = [list(p) for p in record.pauses]
    encoded[6] = [list(e) for e in record.ends]
    encoded[11] = list(record.field)
    while len(encoded) > 7 and record[len(encoded) - 1] == _RECORD_DEFAULTS[len(encoded) - 1]:
        encoded.pop()
    return encoded


def _decode_record(raw: list[Any]) -> DossierRecord:
    record = DossierRecord(*raw)
    field = tuple(record.field)
    return record._replace(
        pauses=tuple((pause_id, at, resumed) for pause_id, at, resumed in record.pauses),
        ends=tuple((outcome, at) for outcome, at in record.ends),
        field=field if len(field) == 2 else ("", ""),
    )


def merge_record(
    state: SyncState | None, record: DossierRecord, synced_at: Instant, digest: str
) -> SyncState:
    """The state once ``record`` (sent at ``synced_at``, with this digest) is known; a
    :class:`StateTooLarge` error when it would make more than :data:`MAX_RUNS` runs."""
    state = state or SyncState()
    key = key_of(synced_at, record.status, digest, record.madonvi)
    kind = kind_of(record.status, record.received_at is not None, bool(record.ends))
    runs = insert(state.runs, key, kind, record.due_at)
    if len(runs) > MAX_RUNS:
        raise StateTooLarge(f"the dossier's snapshots would change status {len(runs)} times")
    new = state._replace(
        latest=max(synced_at, state.latest or synced_at),
        runs=runs,
        marks=state.marks | record.marks,
    )
    if state.winner is None or key > state.winner:
        new = new._replace(winner=key, record=record, fallback=_fallback(state, record))
    elif key < state.winner:
        new = new._replace(fallback=_earlier(state, key, record))
    if new == state:
        return state
    return new._replace(revision=state.revision + 1)


def _fallback(state: SyncState, winner: DossierRecord) -> tuple[tuple[str, Key, Any], ...]:
    """The fallbacks once ``winner`` replaces the state's winner, which is later than any
    fallback it had."""
    found = []
    for name in FIELDS:
        if _given(winner, name) is not None:
            continue
        old = None if state.record is None else _given(state.record, name)
        if old is not None and state.winner is not None:
            found.append((name, state.winner, old))
        else:
            found.extend(entry for entry in state.fallback if entry[0] == name)
    return tuple(found)


def _earlier(state: SyncState, key: Key, record: DossierRecord) -> tuple[tuple[str, Key, Any], ...]:
    """The fallbacks once a snapshot earlier than the winner, at ``key``, is known."""
    assert state.record is not None
    kept = {name: (name, at, value) for name, at, value in state.fallback}
    for name in FIELDS:
        value = _given(record, name)
        if value is None or _given(state.record, name) is not None:
            continue
        if name not in kept or key > kept[name][1]:
            kept[name] = (name, key, value)
    return tuple(kept[name] for name in FIELDS if name in kept)


def merge_progress(
    state: SyncState | None, progress: Progress, synced_at: Instant | None = None
) -> SyncState:
    """The state once ``progress`` (sent at ``synced_at``) is known."""
    state = state or SyncState(since=synced_at)
    if progress in state.progress:
        return state
    if len(state.progress) >= MAX_PROGRESS:
        raise StateTooLarge(f"the dossier already has {MAX_PROGRESS} progress records")
    latest = max(synced_at or 0, state.latest or 0) or None
    return state._replace(
        progress=tuple(sorted((*state.progress, progress))),
        latest=latest,
        revision=state.revision + 1,
    )


def facts(state: SyncState, unit_of: UnitOf, calendar: WorkingCalendar) -> list[DossierSnapshot]:
    """What each unit should hold of this dossier: its snapshot for the unit it belongs
    to (through ``unit_of``, :class:`kpi.units.Directory`; an unknown name is its own unit
    id), and for every unit it was in before a marker that it belongs elsewhere (there the
    unit's own events count again). Empty until a dossier record is known."""
    record = state.record
    if record is None or state.latest is None:
        return []
    version = (state.latest, "r", state.revision)
    unit = state.value("unit") or ["", ""]
    unit_id = unit_of_record(record._replace(unit_code=unit[0], madonvi=unit[1]), unit_of)
    elsewhere = Snapshot(version, None, None, (), here=False)
    found = [
        DossierSnapshot(home, record.dossier_id, elsewhere)
        for home in state.homes
        if home != unit_id
    ]
    # A dossier that never counted creates no unit: it only leaves the unit it was in.
    if unit_id is not None and (state.counts or unit_id in state.homes):
        matched = unit_of(unit[0] or None, unit[1] or None) is not None
        here = snapshot(state, version, matched, calendar)
        found.append(DossierSnapshot(unit_id, record.dossier_id, here))
    return found


UnitOf = Callable[[str | None, str | None], str | None]
"""The registry unit that a ``DonViXuLy`` and a ``madonvi`` name (:class:`kpi.units.Directory`),
or None."""


def unit_of_record(record: DossierRecord, unit_of: UnitOf) -> str | None:
    """The unit a record belongs to (contract §9.2): the registry's, else one of its own
    named by ``DonViXuLy`` as given, else by ``madonvi``; a record of a dossier never
    received may name none."""
    name, code = record.unit_code or None, record.madonvi or None
    return unit_of(name, code) or name or code


def _said(found: list[DossierSnapshot]) -> list[tuple[str, Snapshot]]:
    """What facts tell their units, whatever their versions."""
    return [(fact.unit_id, fact.snapshot._replace(version=NO_VERSION)) for fact in found]


NO_VERSION = (0, "", 0)


def with_home(state: SyncState, unit_id: str) -> SyncState:
    """The state once a fact went to ``unit_id``: the most recent :data:`MAX_HOMES` units."""
    if state.homes[-1:] == (unit_id,):
        return state
    homes = (*(home for home in state.homes if home != unit_id), unit_id)
    return state._replace(homes=homes[-MAX_HOMES:])


def snapshot(
    state: SyncState,
    version: tuple[Instant, str, int],
    matched: bool,
    calendar: WorkingCalendar,
) -> Snapshot:
    """The submission, completion and pauses the dossier's snapshots stand for (contract
    §9.3), with what its explanation shows; ``matched``: its unit is in the registry;
    ``calendar`` tells an online dossier received late (:func:`kpi.dossier.received_late`)."""
    record, received_at = state.record, state.value("received_at")
    if record is None or received_at is None or not state.counts:
        return Snapshot(version, None, None, ())
    completion = None
    if state.reading == ENDED:
        completion = _completion(record, state)
    end = None if completion is None else completion.at
    steps = [p for p in state.progress if end is None or p.at <= end]
    official = max(steps).official if steps else None
    due = record.due_before if record.due_before is not None else first_appointment(state.runs)
    field = state.value("field") or ["", ""]
    channel = state.value("channel") or ""
    online = channel == "online"
    flags = state.value("flags") or 0
    if online and received_late(state.value("submitted_at"), received_at, calendar):
        flags |= RECEIVED_LATE
    procedure = state.value("procedure") or ""
    submission = Submission(received_at, "", due, official, field[0], online, procedure, flags)
    marks = state.marks | (0 if due is not None else NO_DEADLINE)
    marks |= 0 if matched else UNIT_UNMATCHED
    detail = Detail("", channel, marks)
    return Snapshot(version, submission, completion, _pauses(record, state), True, detail)


def _completion(record: DossierRecord, state: SyncState) -> Completion:
    """The winner's end: the highest-ranked of its own (contract §4), or a refusal after
    receipt that gives no date at the winner's ``synced_at``."""
    if not record.ends:
        assert state.winner is not None
        return Completion(state.winner.at, "", None, "rejected")
    outcome, at = max(record.ends, key=lambda end: (OUTCOME_RANKS[end[0]], end[1]))
    return Completion(at, "", None, outcome)


def _pauses(record: DossierRecord, state: SyncState) -> tuple[Pause, ...]:
    """The waits of the dossier's runs; the winner's supplement entries, where it has
    any, replace the supplement waits (contract §9.3)."""
    listed = bool(record.pauses)
    pauses: dict[str, Pause] = {}
    for pause_id, paused_at, resumed_at in record.pauses:
        pause = Pause(pause_id, "", True, paused_at, resumed_at)
        current = pauses.get(pause_id)
        if current is None or pause.rank > current.rank:
            pauses[pause_id] = pause
    for wait in waits(state.runs):
        if not (listed and wait.supplement):
            reason = "supplement" if wait.supplement else "financial_obligation"
            pause_id = f"{reason}@{wait.start}"
            pauses[pause_id] = Pause(pause_id, "", wait.supplement, wait.start, wait.end)
    return tuple(sorted(pauses.values()))


class Applied(NamedTuple):
    """What applying one sync record changed: the (key, state) to make durable (state
    None: deleted), the facts to send, and why each dropped waiting state was dropped."""

    changes: list[tuple[bytes, bytes | None]]
    facts: list[DossierSnapshot]
    dropped: list[str]
    unmatched: str = ""
    """The ``DonViXuLy`` (else ``madonvi``) of a dossier record that names no registry
    unit: an alias an operator may add."""


DAY = 86_400_000_000
"""A day in microseconds (an :data:`Instant`'s unit)."""


class SyncBook:
    """Applies sync records to the :class:`SyncState` of their ``MaHoSo``, kept in the
    mapping of the partition they arrived on, and says what each unit should hold.

    ``unit_of`` finds the registry unit a record names (:class:`kpi.units.Directory`).

    Progress records of a ``MaHoSo`` not yet seen wait for its snapshot, each partition
    holding at most ``waiting_cap`` such dossiers for at most ``waiting_days`` (of the
    partition's own ``synced_at`` time, so a replay drops what the live run dropped): the
    oldest beyond either is dropped, so records for dossiers that never come cost a bounded
    amount.
    """

    def __init__(
        self,
        unit_of: UnitOf,
        waiting_cap: int = 100_000,
        waiting_days: int = 7,
        clock: Callable[[], Instant] | None = None,
        placeholders: Iterable[str] = PLACEHOLDER_OFFICIALS,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.unit_of = unit_of
        self.calendar = calendar or WorkingCalendar()
        self.placeholders = frozenset(folded(name) for name in placeholders)
        """Names systems give steps of the desk (contract §9.4): never an official."""
        self.clock = clock
        """The worker's clock: a ``synced_at`` more than a day after it does not age the
        waiting states (one message from 2099 would drop them all)."""
        self.waiting_cap = waiting_cap
        self.waiting_for = waiting_days * DAY
        self.waiting: dict[int, OrderedDict[bytes, Instant]] = {}
        """Per partition, the keys of waiting states, oldest first, and when they began."""
        self._latest: dict[int, Instant] = {}

    def waiting_count(self) -> int:
        return sum(len(keys) for keys in self.waiting.values())

    def rebuild(self, partition: int, states: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
        """Find the waiting states of a partition again (after a recovery); the keys of the
        states that cannot be read (skipped, as the engine skips its own)."""
        found, unreadable = [], []
        for key, raw in states:
            if key.startswith(SYNC_PREFIX):
                try:
                    state = SyncState.decode(raw)
                except (ValueError, TypeError):
                    unreadable.append(key)
                    continue
                if state.waiting:
                    assert state.since is not None
                    found.append((state.since, key))
        found.sort()
        self.waiting[partition] = OrderedDict((key, since) for since, key in found)
        self._latest[partition] = found[-1][0] if found else 0
        return unreadable

    @staticmethod
    def key(dossier_id: str, grant: Grant) -> bytes:
        """Where a sender's records of a ``MaHoSo`` meet. Each sender that may write some
        units only has its records in a namespace of its own, so no such sender can take,
        move, erase or fill up another's dossier, whatever ids it guesses; senders that
        may write every unit (a gateway, a producer with Kafka ACLs) share one.

        >>> [orjson.loads(SyncBook.key("HS-1", grant)) for grant in (None, frozenset({"xa-a"}))]
        [['s', '', 'HS-1'], ['s', '["xa-a"]', 'HS-1']]
        """
        return orjson.dumps(["s", "" if grant is None else grant_text(grant), dossier_id])

    def forget(self, partition: int) -> None:
        self.waiting.pop(partition, None)
        self._latest.pop(partition, None)

    def apply(
        self,
        partition: int,
        states: MutableMapping[bytes, bytes],
        record: DossierRecord | ProgressRecord,
        synced_at: Instant,
        digest: str,
        grant: Grant = None,
    ) -> Applied:
        """Apply a record sent by a sender that may write the units of ``grant``;
        :class:`NotGranted` for a dossier record of any other unit."""
        if isinstance(record, ProgressRecord) and folded(record.official) in self.placeholders:
            # The desk, not an official: it never changes the state, so it never owes a
            # unit a fact (a record that did is read again until its facts are sent).
            return Applied([], [], [])
        key = self.key(record.dossier_id, grant)
        unmatched = ""
        raw = states.get(key)
        old = None if raw is None else SyncState.decode(raw)
        if isinstance(record, ProgressRecord):
            new = merge_progress(old, Progress(record.at, record.official), synced_at)
        else:
            unit_id = unit_of_record(record, self.unit_of)
            if unit_id is not None and grant is not None and unit_id not in grant:
                raise NotGranted(
                    f"DonViXuLy {record.unit_code!r} is unit {unit_id!r}, "
                    "which this sender may not write"
                )
            new = merge_record(old, record, synced_at, digest)
            new = new._replace(since=synced_at if new.since is None else new.since)
            if unit_id is not None and self.unit_of(record.unit_code, record.madonvi) is None:
                unmatched = unit_id  # its name as given: an alias to add
        found = facts(new, self.unit_of, self.calendar)
        moved = bool(found) and found[-1].snapshot.here
        moved = moved and new.homes[-1:] not in ((), (found[-1].unit_id,))
        if moved:
            # A move (a later record, or a registry that now knows the name): the unit it
            # leaves must take its "elsewhere", so the facts are a revision on.
            new = new._replace(revision=new.revision + 1)
            found = facts(new, self.unit_of, self.calendar)
        if found and found[-1].snapshot.here:
            # A dossier in a unit waits no more: its state keeps no waiting time.
            new = with_home(new, found[-1].unit_id)._replace(since=None)
        changes: list[tuple[bytes, bytes | None]] = []
        if new != old:
            encoded = new.encode()
            too_large = any(len(f.encode()) > MAX_STATE_BYTES for f in found)
            if len(encoded) > MAX_STATE_BYTES or too_large:
                raise StateTooLarge(f"the dossier's sync state would be {len(encoded)} bytes")
            states[key] = encoded
            changes.append((key, encoded))
        if (
            changes
            and old is not None
            and not moved
            and _said(found) == _said(facts(old, self.unit_of, self.calendar))
        ):
            # Applied for the first time (a record read again changes nothing) and saying
            # what the units hold already: a re-sent snapshot, a step by the same official.
            # The records before it on this partition sent, or will send again, the rest.
            found = []
        dropped = self._wait(partition, states, key, new, synced_at, changes)
        return Applied(changes, found, dropped, unmatched)

    def _wait(
        self,
        partition: int,
        states: MutableMapping[bytes, bytes],
        key: bytes,
        state: SyncState,
        synced_at: Instant,
        changes: list[tuple[bytes, bytes | None]],
    ) -> list[str]:
        """Keep the partition's waiting states within their cap and age; the dropped
        ones are deleted (``changes`` gets their deletions)."""
        waiting = self.waiting.setdefault(partition, OrderedDict())
        if state.waiting:
            assert state.since is not None
            waiting.setdefault(key, state.since)
        else:
            waiting.pop(key, None)
        if self.clock is not None:
            synced_at = min(synced_at, self.clock() + DAY)
        latest = self._latest[partition] = max(self._latest.get(partition, 0), synced_at)
        dropped = []
        while waiting:
            oldest, since = next(iter(waiting.items()))
            if len(waiting) > self.waiting_cap:
                dropped.append("cap")
            elif since < latest - self.waiting_for:
                dropped.append("age")
            else:
                break
            del waiting[oldest]
            states.pop(oldest, None)
            changes.append((oldest, None))
        return dropped
