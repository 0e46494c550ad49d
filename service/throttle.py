"""Rate limits: a token bucket per key (an ingest token), in bytes.

A sender may post ``rate`` bytes a second on average, and ``burst`` at once; beyond that
it is told how long to wait (HTTP 429 with ``Retry-After``) instead of building a backlog
that every unit's native events would wait behind::

    >>> now = [0.0]
    >>> throttle = Throttle(rate=100, burst=300, clock=lambda: now[0])
    >>> throttle.take("a", 300), throttle.take("a", 50), throttle.take("b", 50)
    (0.0, 0.5, 0.0)
    >>> now[0] = 0.5
    >>> throttle.take("a", 50)
    0.0
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """Per key, (bytes it may still send, when that was reckoned). The keys are the
        tokens of the tokens file, so they are few."""

    def take(self, key: str, amount: float) -> float:
        """0 when ``key`` may send ``amount`` now (and it is counted), else the seconds
        until it may. An amount over the burst is counted as the burst: its size is
        another limit's business."""
        now = self.clock()
        level, then = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        amount = min(amount, self.burst)
        if amount > level:
            self._buckets[key] = (level, now)
            return (amount - level) / self.rate
        self._buckets[key] = (level - amount, now)
        return 0.0
