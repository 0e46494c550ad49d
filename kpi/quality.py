"""What a province's one-stop systems send wrong (contract §9.7), counted within bounds.

Provinces lose ranking points to sync errors rather than to late work, so the monitor shows
each unit office what to fix in its own system: invalid sync records, and the
``DonViXuLy`` names that match no registry unit (an operator adds them as aliases). The
per-dossier quality marks are counted by the engine; this module counts records.

Names come from other people's systems, so a tally keeps at most ``cap`` of them; a
million distinct junk names cost ``cap`` entries and one counter::

    >>> tally = Tally(cap=2)
    >>> for name in ["UBND xã A", "UBND xã A", "UBND xã B", "junk-1", "junk-2"]:
    ...     tally.add(name)
    >>> tally.top(5), tally.others
    ([('UBND xã A', 2), ('UBND xã B', 1)], 2)
"""

from __future__ import annotations

MAX_NAMES = 1000
"""Distinct names a tally keeps: a province has a few hundred agencies."""


class Tally:
    """Counts per name, for at most ``cap`` names; the rest are counted together."""

    def __init__(self, cap: int = MAX_NAMES) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}
        self.others = 0
        """Counts of names that came once the tally was full."""

    def add(self, name: str, count: int = 1) -> None:
        if name in self.counts or len(self.counts) < self.cap:
            self.counts[name] = self.counts.get(name, 0) + count
        else:
            self.others += count

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` names counted most, most first (ties by name)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.others


class SyncQuality:
    """What one worker saw of the sync records it read: the invalid ones per unit (the
    registry unit their ``DonViXuLy`` names, else the name as given, else "") and the
    records per unmatched ``DonViXuLy`` name."""

    def __init__(self, cap: int = MAX_NAMES) -> None:
        self.invalid = Tally(cap)
        self.unmatched = Tally(cap)
