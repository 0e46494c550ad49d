"""A dossier's sync snapshots read as a history (contract §9.3), kept in constant space.

A one-stop system sends the portal a snapshot of a dossier each time it changes, and some
send the same one again every day. A dossier's waits and its deadline depend on the order
of all of them, yet the monitor keeps only *runs*: consecutive snapshots (in the order of
their :class:`Key`) of one kind make one run, which remembers its first and last snapshot
and its earliest appointment. A year of daily re-sends is one run.

    >>> at = lambda second: key_of(second * SECOND, 4, "ab", "")
    >>> runs: tuple[Run, ...] = ()
    >>> for second, kind in [(1, OPEN), (2, OPEN), (3, SUPPLEMENT), (5, OPEN), (6, ENDED)]:
    ...     runs = insert(runs, at(second), kind, None)
    >>> [run.kind for run in runs]
    ['o', 's', 'o', 'e']
    >>> waits(runs)
    [Wait(supplement=True, start=3000000, end=5000000)]

Snapshots that arrive in order (as the ingest stamps them, one ``synced_at`` after the
other) are read exactly. One that arrives after later ones and falls *inside* a run of
another kind splits that run knowing only its first and last snapshot: the part before
it ends at the run's first snapshot, the part after begins at its last
(``docs/decisions.md``, entry 57).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import NamedTuple

from schemas.records import Instant

SECOND = 1_000_000
"""A second in microseconds: snapshots are ordered by ``synced_at`` to the whole second."""
STAGES = {1: 0, 2: 1, 0: 2, 4: 2, 5: 3, 6: 3, 3: 4, 7: 4, 8: 4, 9: 5, 10: 6}
"""Statuses posted within one second are read in this order: 1 < 2 < 4 < 5 = 6 < 3 = 7 =
8 < 9 < 10 (a "1" then a "2" means "2"). An unknown status (0) reads as open, as 4 does."""
DIGEST_CHARS = 16
"""Hex digits of a snapshot's digest kept in its key: distinct snapshots of one dossier
in one second and stage share 64 bits of their SHA-256 by accident never."""
MAX_RUNS = 64
"""Runs kept per dossier: a real dossier changes status a dozen times; a record that would
make more is hostile and set aside (:class:`kpi.dossier.StateTooLarge`)."""

OPEN, SUPPLEMENT, FINANCIAL, ENDED = "o", "s", "f", "e"
"""What a snapshot reads as, whatever came before it."""
NEW, REFUSED = "n", "r"
"""Status 1, and status 3 (or 1 with ``NgayTuChoi``): not received, unless an earlier
snapshot was; then a supplement wait, and an end."""
NOT_RECEIVED = "-"
"""What :data:`NEW` and :data:`REFUSED` read as before anything was received."""


class Key(NamedTuple):
    """Where a snapshot stands among its dossier's: snapshots equal in all four are one."""

    at: Instant
    """``synced_at`` to the whole second."""
    stage: int
    digest: str
    madonvi: str


def key_of(synced_at: Instant, status: int, digest: str, madonvi: str) -> Key:
    """The key of a snapshot sent at ``synced_at``, with this status, digest and sender.

    >>> key_of(1_500_000, 2, "ab" * 32, "")
    Key(at=1000000, stage=1, digest='abababababababab', madonvi='')
    """
    return Key(synced_at - synced_at % SECOND, STAGES[status], digest[:DIGEST_CHARS], madonvi)


Appointment = tuple[Key, Instant]
"""(the snapshot, its ``NgayHenTra``)."""


class Run(NamedTuple):
    first: Key
    last: Key
    kind: str
    appointment: Appointment | None = None
    """The earliest appointment among the run's snapshots."""


class Wait(NamedTuple):
    """A wait for the citizen: a supplement, or else a financial obligation."""

    supplement: bool
    start: Instant
    end: Instant | None
    """None: still waiting."""


def kind_of(status: int, received: bool, ended: bool) -> str:
    """What a snapshot of this status reads as (``received``: it gives ``NgayTiepNhan``;
    ``ended``: it gives an end date of its own).

    >>> kind_of(3, True, True), kind_of(3, False, False), kind_of(1, True, False)
    ('e', 'r', 'n')
    """
    if status == 3:
        return ENDED if received and ended else REFUSED
    if status == 1:
        return REFUSED if ended else NEW
    if ended:
        return ENDED
    return {5: SUPPLEMENT, 6: FINANCIAL}.get(status, OPEN)


def _earliest(a: Appointment | None, b: Appointment | None) -> Appointment | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def insert(runs: tuple[Run, ...], key: Key, kind: str, due: Instant | None) -> tuple[Run, ...]:
    """The runs once the snapshot at ``key`` of this kind and appointment is known; the
    same runs for a snapshot known already."""
    appointment = None if due is None else (key, due)
    at = bisect_right([run.first for run in runs], key) - 1
    before = runs[at] if at >= 0 else None
    after = runs[at + 1] if at + 1 < len(runs) else None
    if before is not None and key <= before.last:  # inside a run
        if before.kind == kind or key in (before.first, before.last):
            joined = before._replace(appointment=_earliest(before.appointment, appointment))
            return (*runs[:at], joined, *runs[at + 1 :])
        early = Run(before.first, before.first, before.kind, _split(before, key, True))
        late = Run(before.last, before.last, before.kind, _split(before, key, False))
        return (*runs[:at], early, Run(key, key, kind, appointment), late, *runs[at + 1 :])
    if before is not None and before.kind == kind:
        joined = before._replace(last=key, appointment=_earliest(before.appointment, appointment))
        return (*runs[:at], joined, *runs[at + 1 :])
    if after is not None and after.kind == kind:
        joined = after._replace(first=key, appointment=_earliest(after.appointment, appointment))
        return (*runs[: at + 1], joined, *runs[at + 2 :])
    return (*runs[: at + 1], Run(key, key, kind, appointment), *runs[at + 1 :])


def _split(run: Run, key: Key, early: bool) -> Appointment | None:
    """The part of a run's appointment that falls before (or after) ``key``."""
    appointment = run.appointment
    if appointment is None or (appointment[0] < key) != early:
        return None
    return appointment


def readings(runs: tuple[Run, ...]) -> list[str]:
    """What each run reads as, given those before it.

    >>> at = lambda second: key_of(second * SECOND, 1, "", "")
    >>> readings((Run(at(1), at(1), NEW), Run(at(2), at(2), OPEN), Run(at(3), at(3), NEW)))
    ['-', 'o', 's']
    """
    received, read = False, []
    for run in runs:
        if run.kind == NEW:
            read.append(SUPPLEMENT if received else NOT_RECEIVED)
        elif run.kind == REFUSED:
            read.append(ENDED if received else NOT_RECEIVED)
        else:
            read.append(run.kind)
            received = True
    return read


def waits(runs: tuple[Run, ...]) -> list[Wait]:
    """Each maximal stretch of runs that read as one kind of wait, from its first snapshot
    to the first snapshot after it."""
    found: list[Wait] = []
    current: tuple[str, Instant] | None = None
    for run, reading in zip(runs, readings(runs), strict=True):
        if current is not None and current[0] != reading:
            found.append(Wait(current[0] == SUPPLEMENT, current[1], run.first.at))
            current = None
        if current is None and reading in (SUPPLEMENT, FINANCIAL):
            current = (reading, run.first.at)
    if current is not None:
        found.append(Wait(current[0] == SUPPLEMENT, current[1], None))
    return found


def first_appointment(runs: tuple[Run, ...]) -> Instant | None:
    """The ``NgayHenTra`` of the earliest received snapshot that has one.

    >>> at = lambda second: key_of(second * SECOND, 4, "", "")
    >>> first_appointment((Run(at(1), at(1), NEW, (at(1), 5)), Run(at(2), at(3), OPEN, (at(3), 9))))
    9
    """
    for run, reading in zip(runs, readings(runs), strict=True):
        if reading != NOT_RECEIVED and run.appointment is not None:
            return run.appointment[1]
    return None
