"""Alert changes for Server-Sent Events (``GET /api/alerts/stream``): one consumer per worker.

An :class:`AlertHub` reads every partition of the alerts topic with a single consumer and
fans each alert out to the open streams, each through a bounded queue: a client too slow
to keep up is dropped with a clear last event, never allowed to hold memory or the others
back, and the number of open streams is capped.

The SSE event id is the position reached in every partition (``"0:15;1:7;2:0"``), so a
client that reconnects with ``Last-Event-ID`` resumes exactly where it stopped, on
whichever worker it reaches: what came before the hub's current position is read once for
that client (``read_to_end`` up to exactly that position), the rest comes from the hub.

The topic may repeat a message (writes are at least once): every stream gets each
(``alert_id``, ``sequence``) once (:class:`~kpi.alerts.SeenAlerts`). The hub reads the
topic from its beginning, so it knows what every live record repeats; a resumed stream's
history is read from the beginning too, and only what follows its position is sent::

    >>> format_position({0: 15, 1: 7})
    '0:15;1:7'
    >>> parse_position("0:15;1:7")
    {0: 15, 1: 7}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from kpi.alerts import SeenAlerts
from schemas.codec import InvalidEvent, decode_alert
from streams.kafka import options_for
from streams.recovery import read_to_end
from streams.settings import Settings
from streams.worker import skip_unreadable

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 1000
"""Alerts a stream may fall behind by before it is dropped as too slow."""

Item = tuple[int, int, dict[str, Any]] | str
"""(partition, offset, alert), or why the stream ends."""


class TooManyStreams(RuntimeError):
    """The worker serves as many streams as it allows (503)."""


class StreamEnded(RuntimeError):
    """The hub ended this stream: the client fell too far behind, or reading failed."""


def format_position(position: dict[int, int]) -> str:
    return ";".join(f"{partition}:{offset}" for partition, offset in sorted(position.items()))


def parse_position(text: str) -> dict[int, int]:
    """Raises ValueError for anything but ``partition:offset`` pairs."""
    position = {}
    for pair in text.split(";"):
        partition, _, offset = pair.partition(":")
        if not all(part.isascii() and part.isdigit() for part in (partition, offset)):
            raise ValueError(f"Last-Event-ID {text!r} is not partition:offset;...")
        position[int(partition)] = int(offset)
    return position


def _decoded(record: Any, quiet: bool = False) -> dict[str, Any] | None:
    """The alert in ``record``, or None: an unreadable record is counted and logged, unless
    ``quiet`` (read again only to know what later records repeat)."""
    try:
        return decode_alert(record.value)
    except InvalidEvent as error:
        if not quiet:
            skip_unreadable(record, error.reason)
        return None


def _first(seen: SeenAlerts, record: Any, quiet: bool = False) -> dict[str, Any] | None:
    """The alert in ``record`` if it is news to ``seen`` (which notes it), else None."""
    alert = _decoded(record, quiet)
    if alert is None:
        seen.note(record.partition, record.offset)
        return None
    return alert if seen.first(record.partition, record.offset, alert) else None


class AlertHub:
    """One reader of the alerts topic for every open stream of this worker."""

    def __init__(self, settings: Settings, topic: str, max_streams: int) -> None:
        self.settings = settings
        self.topic = topic
        self.max_streams = max_streams
        self.position: dict[int, int] = {}
        """The next offset the hub delivers, per partition."""
        self._queues: set[asyncio.Queue[Item]] = set()
        self._started: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def streams(self) -> int:
        return len(self._queues)

    async def start(self) -> None:
        """Read the topic to its current end once, then follow it (idempotent)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._run())
        await asyncio.shield(self._started)

    async def _run(self) -> None:
        assert self._started is not None
        consumer = AIOKafkaConsumer(
            **options_for(self.settings), enable_auto_commit=False, group_id=None
        )
        try:
            await consumer.start()
            partitions = sorted(consumer.partitions_for_topic(self.topic) or ())
            self.position = dict.fromkeys(partitions, 0)
            seen = SeenAlerts()  # what every record so far said: a live repeat is passed over
            # The current end, as fetch responses report it: ListOffsets may be wrong.
            async for records in read_to_end(self.settings, self.topic, dict(self.position)):
                for record in records:
                    self.position[record.partition] = record.offset + 1
                    _first(seen, record, quiet=True)
            assigned = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(assigned)
            for tp in assigned:
                consumer.seek(tp, self.position[tp.partition])
            self._started.set_result(None)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        self.position[record.partition] = record.offset + 1
                        alert = _first(seen, record)
                        if alert is not None:
                            self._publish((record.partition, record.offset, alert))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # streams end and reconnect; the next one starts anew
            log.exception("following %s failed", self.topic)
            if not self._started.done():
                self._started.set_exception(error)
            for queue in list(self._queues):
                self._drop(queue, "reading the alerts topic failed; reconnect")
            self._started = None
        finally:
            await consumer.stop()

    def _publish(self, item: Item) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self._drop(queue, f"too slow: fell {QUEUE_SIZE} alerts behind; reconnect")

    def _drop(self, queue: asyncio.Queue[Item], reason: str) -> None:
        """End a stream: its reason replaces what it has not read (so there is room)."""
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(reason)

    async def follow(
        self, start: dict[int, int] | None, from_beginning: bool = False
    ) -> AsyncGenerator[tuple[str, dict[str, Any]] | None, None]:
        """(event id, alert) from ``start`` (or the beginning, or now) on; None every
        ``HEARTBEAT_SECONDS`` without one. Raises TooManyStreams before the first item,
        StreamEnded when the hub drops the stream."""
        await self.start()
        if len(self._queues) >= self.max_streams:
            raise TooManyStreams(f"this worker serves {self.max_streams} streams already")
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)  # from here on, every new alert reaches this queue
        live_from = dict(self.position)
        resumed = start or {}
        try:
            if start is not None or from_beginning:
                # From the beginning, even to resume: what a record repeats may precede
                # the position resumed from. Only what follows that position is sent.
                history = {p: resumed.get(p, 0) for p in live_from}
                seen = SeenAlerts()
                # Only partitions with something to read: a read_to_end with nothing to
                # read stops its consumer before it ran, which raises CancelledError.
                starts = {p: 0 for p, end in live_from.items() if end > 0}
                async for records in read_to_end(self.settings, self.topic, starts, ends=live_from):
                    for record in records:
                        before = record.offset < history[record.partition]
                        alert = _first(seen, record, quiet=before)
                        if before:
                            continue
                        history[record.partition] = record.offset + 1
                        if alert is not None:
                            yield format_position(history), alert
            # A client that read further (on a worker ahead of this hub) goes on from where
            # it was, not from where the hub is: nothing is sent twice.
            position = {p: max(live_from[p], resumed.get(p, 0)) for p in live_from}
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                if isinstance(item, str):
                    raise StreamEnded(item)
                partition, offset, alert = item
                if offset < position.get(partition, 0):
                    continue
                position[partition] = offset + 1
                yield format_position(position), alert
        finally:
            self._queues.discard(queue)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
