"""Read a topic's partitions to their end, as fetch responses report it.

The end is the high watermark carried by fetch responses, not the end offset ListOffsets
reports: the embedded Tansu 0.6 answers ListOffsets(latest) with the base offset of the
last record batch + 1, which stops short of the last records (``docs/decisions.md``). The
state store recovers its changelog with this, and a worker its alert state.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.kafka import options_for
from streams.settings import Settings

_UNBOUNDED = 1 << 62


async def read_to_end(
    settings: Settings,
    topic: str,
    starts: dict[int, int],
    stall: float = 60.0,
    ends: dict[int, int] | None = None,
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of records of ``topic`` from ``starts`` (partition → offset) to the end, or
    to ``ends`` (partition → first offset not wanted) where given.

    The end is the high watermark that fetch responses carry, not ListOffsets. Raises
    TimeoutError when ``stall`` seconds pass without a record or a partition finishing.
    """
    ends = ends or {}
    pending = {TopicPartition(topic, p) for p in starts if starts[p] < ends.get(p, _UNBOUNDED)}
    if not pending:  # a consumer started and stopped at once raises CancelledError on stop
        return
    consumer = AIOKafkaConsumer(
        **options_for(settings),
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=10000,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for tp in pending:
            consumer.seek(tp, starts[tp.partition])
        deadline = time.monotonic() + stall
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} stalled for {sorted(pending)}")
            batches = await consumer.getmany(*pending, timeout_ms=100)
            records = [
                record
                for batch in batches.values()
                for record in batch
                if record.offset < ends.get(record.partition, _UNBOUNDED)
            ]
            if records:
                yield records
                deadline = time.monotonic() + stall
            for tp in list(pending):
                highwater = consumer.highwater(tp)  # from the last fetch response
                end = ends.get(tp.partition, highwater)
                if end is not None and await consumer.position(tp) >= end:
                    pending.discard(tp)
                    deadline = time.monotonic() + stall
    finally:
        await consumer.stop()
