"""The clock that decides what is overdue and which period is current (contract §5).

* ``wall``: now (never running backwards, even if the system clock is stepped back);
* ``fixed:<RFC3339>``: frozen, for replays and tests;
* ``event``: the greatest event timestamp seen (the epoch before any event).

    >>> spec = ClockSpec.parse("fixed:2026-03-01T00:00:00+07:00")
    >>> Clock(spec).now() == spec.fixed_at
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from schemas.codec import InvalidEvent, parse_instant
from schemas.records import Instant

ClockMode = Literal["wall", "fixed", "event"]


@dataclass(frozen=True)
class ClockSpec:
    mode: ClockMode = "wall"
    fixed_at: Instant | None = None

    @classmethod
    def parse(cls, text: str) -> ClockSpec:
        if text in ("wall", "event"):
            return cls(mode=text)  # type: ignore[arg-type]
        if text.startswith("fixed:"):
            try:
                return cls(mode="fixed", fixed_at=parse_instant(text[6:], "fixed"))
            except InvalidEvent as error:
                raise ValueError(f"{text!r}: {error.reason}") from None
        raise ValueError(f"{text!r} is not wall, event or fixed:<RFC3339 with offset>")


def wall_time() -> Instant:
    return time.time_ns() // 1000


class Clock:
    """The running clock of one worker; ``wall`` reads ``source`` (the system time)."""

    def __init__(self, spec: ClockSpec, source: Callable[[], Instant] = wall_time) -> None:
        self.spec = spec
        self.source = source
        self._latest: Instant = spec.fixed_at if spec.fixed_at is not None else 0

    def observe(self, event_time: Instant) -> None:
        """Let an event's own timestamp move an ``event`` clock forward."""
        if self.spec.mode == "event" and event_time > self._latest:
            self._latest = event_time

    def now(self) -> Instant:
        if self.spec.mode == "wall":
            self._latest = max(self._latest, self.source())
        return self._latest
