"""Follow the alerts topic for Server-Sent Events (``GET /api/alerts/stream``).

Each connection reads every partition of the alerts topic with its own consumer, so any
worker can serve any unit. The SSE event id is the position reached in every partition
(``"0:15;1:7;2:0"``), so a client that reconnects with ``Last-Event-ID`` resumes exactly
where it stopped, on whichever worker it reaches::

    >>> format_position({0: 15, 1: 7})
    '0:15;1:7'
    >>> parse_position("0:15;1:7")
    {0: 15, 1: 7}
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import InvalidEvent, decode_alert
from streams.kafka import options_for
from streams.settings import Settings
from streams.worker import skip_unreadable

HEARTBEAT_MS = 15_000


def format_position(position: dict[int, int]) -> str:
    return ";".join(f"{partition}:{offset}" for partition, offset in sorted(position.items()))


def parse_position(text: str) -> dict[int, int]:
    """Raises ValueError for anything but ``partition:offset`` pairs."""
    position = {}
    for pair in text.split(";"):
        partition, _, offset = pair.partition(":")
        if not partition.isdigit() or not offset.isdigit():
            raise ValueError(f"Last-Event-ID {text!r} is not partition:offset;...")
        position[int(partition)] = int(offset)
    return position


async def follow(
    settings: Settings, topic: str, start: dict[int, int] | None, from_beginning: bool = False
) -> AsyncGenerator[tuple[str, dict[str, Any]] | None, None]:
    """(event id, alert) as alerts are published; None every heartbeat without any."""
    consumer = AIOKafkaConsumer(**options_for(settings), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        if start is None:
            await (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(
                *partitions
            )
        else:
            for tp in partitions:
                consumer.seek(tp, start.get(tp.partition, 0))
        position = {tp.partition: await consumer.position(tp) for tp in partitions}
        while True:
            batches = await consumer.getmany(timeout_ms=HEARTBEAT_MS)
            if not batches:
                yield None
            for records in batches.values():
                for record in records:
                    position[record.partition] = record.offset + 1
                    try:
                        alert = decode_alert(record.value)
                    except InvalidEvent as error:
                        skip_unreadable(record, error.reason)
                        continue
                    yield format_position(position), alert
    finally:
        await consumer.stop()
