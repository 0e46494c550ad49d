"""Whether a worker is still reading history, and how far it has come.

A worker that recovers its state, or reads a topic from far behind (the demo's first
seconds, a replay, a restart after a pause), shows figures of the past as if they were
today's: every unit over the line until the dossiers that settled them are read. Screens
must say so instead. :class:`CatchUp` follows the worker's lag (messages of its input
topics not yet read) and says whether it is catching up, with its progress::

    >>> catch_up = CatchUp()
    >>> catch_up.observe(consuming=False, behind=0).phase          # recovering its state
    'recovering'
    >>> catch_up.observe(consuming=True, behind=None).phase        # no end offsets yet
    'recovering'
    >>> catch_up.observe(consuming=True, behind=40_000).progress    # reading history
    0.0
    >>> catch_up.observe(consuming=True, behind=10_000).progress
    0.75
    >>> catch_up.observe(consuming=True, behind=100).phase          # within a moment of live
    'live'
    >>> catch_up.observe(consuming=True, behind=5_000).phase        # a burst is not history
    'live'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CAUGHT_UP_BELOW = 1_000
"""Messages behind under which a worker reads live: a second or so of work."""
BEHIND_FROM = 20_000
"""Messages behind from which a live worker is reading history again (a replay, a stall):
several seconds of work, more than any burst of live traffic."""


@dataclass
class CatchUp:
    phase: str = "recovering"
    """``recovering`` (its state is being restored: nothing read yet), ``catching_up`` or
    ``live``."""
    behind: int = 0
    most_behind: int = 0
    """The largest lag since it began catching up: what its progress is measured from."""

    def observe(self, consuming: bool, behind: int | None) -> CatchUp:
        """Take the worker's state now: whether it consumes (not while it recovers the
        state of partitions it was given), and how far behind it is (None: it does not
        know the ends of its partitions yet)."""
        if not consuming:
            self.phase, self.behind, self.most_behind = "recovering", 0, 0
            return self
        if behind is None:
            return self
        self.behind = behind
        if self.phase == "live":
            if behind >= BEHIND_FROM:
                self.phase, self.most_behind = "catching_up", behind
            return self
        if behind < CAUGHT_UP_BELOW:
            self.phase, self.most_behind = "live", 0
        else:
            self.phase = "catching_up"
            self.most_behind = max(self.most_behind, behind)
        return self

    @property
    def progress(self) -> float | None:
        """0..1 while catching up; None while recovering; 1 once live."""
        if self.phase == "recovering":
            return None
        if self.phase == "live" or not self.most_behind:
            return 1.0
        return round(1 - self.behind / self.most_behind, 4)

    def describe(self) -> dict[str, Any]:
        return {"phase": self.phase, "behind": self.behind, "progress": self.progress}


def merged(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every worker's state as one: catching up while any is, its progress the least.

    >>> merged([{"phase": "live", "behind": 3, "progress": 1.0},
    ...         {"phase": "catching_up", "behind": 900, "progress": 0.5}])
    {'phase': 'catching_up', 'behind': 903, 'progress': 0.5, 'workers': 2}
    """
    parts = list(parts)
    order = ("recovering", "catching_up", "live")
    phase = min((part["phase"] for part in parts), key=order.index, default="live")
    known = [part["progress"] for part in parts if part["progress"] is not None]
    progress = None if phase == "recovering" or not known else min(known)
    behind = sum(part["behind"] for part in parts)
    return {"phase": phase, "behind": behind, "progress": progress, "workers": len(parts)}
