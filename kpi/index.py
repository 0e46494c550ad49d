"""Where to look for the dossiers behind a number of the report (contract §10).

A list of dossiers is read from a unit's *index*, never by scanning its dossiers: per
local day, the ids of the dossiers received that day and of those that ended that day,
and the ids of the dossiers still open. The ids of a day are packed in one byte string
(length-prefixed UTF-8), a few bytes more than the id itself per dossier, since the index
holds every dossier a worker counts.

An id is added to a day when a dossier first has that day, and never taken out: a
correction that moves a dossier's receipt leaves a *stale hint* in its old day. The
reader checks every hint against the dossier's state, which is the truth, so a stale hint
costs a read and nothing else; a day whose hints outnumber its live dossiers twice over
is compacted.

    >>> hints = Hints()
    >>> hints.add("d1"); hints.add("hồ sơ/2"); hints.add("d1")
    >>> sorted(hints)
    ['d1', 'hồ sơ/2']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

SLACK = 64
"""Stale hints a day may hold beyond as many as it has live dossiers."""


class Hints:
    """The ids of one day, packed: each is a 2-byte length and its UTF-8 bytes."""

    __slots__ = ("data", "hints", "live")

    def __init__(self) -> None:
        self.data = bytearray()
        self.hints = 0
        self.live = 0
        """How many dossiers have this day now (kept by the index's owner)."""

    def add(self, dossier_id: str) -> None:
        encoded = dossier_id.encode()
        self.data += len(encoded).to_bytes(2, "big") + encoded
        self.hints += 1

    def __iter__(self) -> Iterator[str]:
        """The distinct ids, in the order they were first added."""
        seen = set()
        data, at = self.data, 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 2], "big")
            dossier_id = data[at + 2 : at + 2 + size].decode()
            at += 2 + size
            if dossier_id not in seen:
                seen.add(dossier_id)
                yield dossier_id

    def compact(self, holds: Callable[[str], bool]) -> None:
        """Keep the ids for which ``holds`` is true (they have this day now)."""
        kept = [dossier_id for dossier_id in self if holds(dossier_id)]
        self.data, self.hints = bytearray(), 0
        for dossier_id in kept:
            self.add(dossier_id)


class DayIndex:
    """Per local day, the :class:`Hints` of the dossiers that have that day."""

    __slots__ = ("days",)

    def __init__(self) -> None:
        self.days: dict[int, Hints] = {}

    def move(self, dossier_id: str, old: int | None, new: int | None) -> Hints | None:
        """The dossier's day was ``old`` and is ``new`` (None: it has none). Returns the
        new day's hints when stale ones outnumber its live dossiers twice over: the caller,
        who can read states, compacts them."""
        if old == new:
            return None
        if old is not None:
            self.days[old].live -= 1
        if new is None:
            return None
        hints = self.days.get(new)
        if hints is None:
            hints = self.days[new] = Hints()
        hints.add(dossier_id)
        hints.live += 1
        return hints if hints.hints > 2 * hints.live + SLACK else None

    def between(self, first_day: int, end_day: int | None = None) -> Iterator[str]:
        """The hints of the days in ``[first_day, end_day)`` (None: every later day)."""
        for day in sorted(self.days):
            if day >= first_day and (end_day is None or day < end_day):
                yield from self.days[day]


class UnitIndex:
    """A unit's dossiers by day of receipt, by day of end, and those still open."""

    __slots__ = ("ended", "open", "received")

    def __init__(self) -> None:
        self.received = DayIndex()
        self.ended = DayIndex()
        self.open: set[str] = set()
