"""Hold each input message until everything produced for it is written.

Faust acks a ``take_events`` batch as soon as the agent asks for the next one (and even
when the agent raises), and commits acked offsets after flushing its producer. A send that
failed (a record expired while the broker was unreachable) is not sent again, so its input
would be committed without its output: a changelog with a hole, a lost dead letter.

The :class:`Outbox` closes that gap without waiting per batch. Each message of a batch gets
an extra reference (:meth:`Batch.hold`), so Faust's ack does not release it; a background
task confirms the batches in order, sends again whatever failed, and only then releases
their messages. A changelog record is sent again with the key's *current* state, so an
older value can never land after a newer one. A worker that dies meanwhile has committed
none of the held messages: whoever owns their partitions next reads them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to write a record again; the last one repeats."""


class Held(Protocol):
    """A Faust message: a reference held is one more ack it needs before it commits."""

    def incref(self, n: int = 1) -> None: ...

    def ack(self, consumer: Any, n: int = 1) -> bool: ...


@dataclass(slots=True)
class Record:
    """One record sent, and what is needed to send it again."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: list[tuple[str, bytes]] | None
    sent: Awaitable[Any]
    """What the producer's send returned: resolves to the record's metadata once written."""
    source: Source | None = None
    """The input message the record was produced for, if any."""


class Source(NamedTuple):
    """Where an input message was read: what a dead letter names."""

    topic: str
    partition: int
    offset: int


Resend = Callable[[Record, BaseException], Awaitable[Awaitable[Any] | None]]
"""Sends a record that failed with this error again (or what stands for it: a dead letter
for a record the broker refused for its size) and returns the new send's result; None when
there is nothing to write any more (a changelog key whose partition this worker no longer
owns)."""


class Writes:
    """Whether the broker takes our records: failing while some are being sent again."""

    def __init__(self) -> None:
        self.failing = False

    async def until_written(self, records: list[Record], resend: Resend) -> None:
        """Wait until every record is written, sending the failed ones again together,
        one wait per round (a broker that was away fails thousands of records at once)."""
        pending, attempt = records, 0
        while pending:
            results = await asyncio.gather(*(r.sent for r in pending), return_exceptions=True)
            failed = []
            for record, result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):  # cancelled too: sent again
                    failed.append((record, result))
            if not failed:
                break
            self.failing = True
            wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
            attempt += 1
            record, error = failed[0]
            log.warning(
                "%d writes failed (%s to %s: %s); sending them again in %.1fs",
                len(failed),
                type(error).__name__,
                record.topic,
                error,
                wait,
            )
            await asyncio.sleep(wait)
            pending = []
            for record, error in failed:
                sent = await resend(record, error)
                if sent is not None:
                    record.sent = sent
                    pending.append(record)
        if self.failing:
            log.info("writes to the broker are confirmed again")
            self.failing = False


@dataclass(slots=True)
class Batch:
    messages: list[Held] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def hold(self, message: Held) -> None:
        message.incref()
        self.messages.append(message)


class Outbox:
    def __init__(self, writes: Writes, resend: Resend) -> None:
        self.writes = writes
        self._resend = resend
        self._batches: deque[Batch] = deque()
        self._ready = asyncio.Event()

    def close(self, batch: Batch) -> None:
        """Confirm ``batch`` in the background, after the batches closed before it."""
        if batch.messages or batch.records:
            self._batches.append(batch)
            self._ready.set()

    @property
    def backlog_batches(self) -> int:
        return len(self._batches)

    def backlog_seconds(self) -> float:
        """How long the oldest batch not yet confirmed has waited (0 when none)."""
        return time.monotonic() - self._batches[0].started if self._batches else 0.0

    def forget(self, keep: Callable[[Any], bool]) -> None:
        """Drop, without releasing them, the held messages ``keep`` refuses (of partitions
        revoked: their new owner reads them again)."""
        for batch in self._batches:
            batch.messages = [m for m in batch.messages if keep(m)]

    async def run(self, consumer: Any) -> None:
        """Confirm batches in order and release their messages to ``consumer``, forever."""
        while True:
            await self._ready.wait()
            while self._batches:
                batch = self._batches[0]
                await self.writes.until_written(batch.records, self._resend)
                self._batches.popleft()
                for message in batch.messages:
                    message.ack(consumer)
            self._ready.clear()
