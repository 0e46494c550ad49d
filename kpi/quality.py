"""What a province's one-stop systems send wrong (contract §9.7), counted within bounds.

Provinces lose ranking points to sync errors rather than to late work, so the monitor shows
each unit office what to fix in its own system: invalid sync records, and the
``DonViXuLy`` names that match no registry unit (an operator adds them as aliases). The
per-dossier quality marks are counted by the engine; this module counts records.

Names come from other people's systems, so a tally keeps at most ``cap`` of them; a
million distinct junk names cost ``cap`` entries and one counter::

    >>> tally = Tally(cap=4)
    >>> for name in ["UBND xã A", "UBND xã A", "UBND xã A"] + [f"junk-{n}" for n in range(9)]:
    ...     tally.add(name)
    >>> tally.top(1), tally.total
    ([('UBND xã A', 3)], 12)
"""

from __future__ import annotations

from collections.abc import Callable

MAX_NAMES = 1000
"""Distinct names a tally keeps: a province has a few hundred agencies."""


class Tally:
    """Counts per name. Names ``keep`` accepts (a registry's units: a bounded set) are
    always counted; of the others at most ``cap``: when they fill it, the half counted
    least go into :attr:`others`, so a flood of junk names costs a bounded amount and never
    pushes out the names that come again and again (the aliases an operator must add)."""

    def __init__(self, cap: int = MAX_NAMES, keep: Callable[[str], bool] = lambda name: False):
        self.cap = cap
        self.keep = keep
        self.counts: dict[str, int] = {}
        self.others = 0
        """Counts of the names let go."""
        self._capped = 0
        """Names in :attr:`counts` that ``keep`` does not accept."""

    def add(self, name: str, count: int = 1) -> None:
        if name in self.counts:
            self.counts[name] += count
            return
        if not self.keep(name):
            if self._capped >= self.cap:
                self._halve()
            self._capped += 1
        self.counts[name] = count

    def _halve(self) -> None:
        capped = sorted((n, name) for name, n in self.counts.items() if not self.keep(name))
        for n, name in capped[: len(capped) // 2 + 1]:
            del self.counts[name]
            self.others += n
            self._capped -= 1

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

    def __init__(self, cap: int = MAX_NAMES, listed: Callable[[str], bool] = lambda u: False):
        self.invalid = Tally(cap, keep=listed)
        """Per unit: the registry's are always counted (``listed``), others within ``cap``."""
        self.unmatched = Tally(cap)
