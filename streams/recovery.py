"""Finish a table's recovery up to the end of its changelog, as fetch responses report it.

Faust ends recovery when it has read up to the end offset that ListOffsets reported at the
start. A broker whose ListOffsets answer is stale or wrong leaves the tail of the changelog
unapplied, and the worker would resume with old state and no error. The embedded Tansu 0.6
does this (it answers with the base offset of the last record batch + 1; see
``docs/decisions.md``). So after Faust's recovery, this reads every owned changelog partition
from where recovery stopped to the high watermark carried by fetch responses, and applies
what is missing. On Apache Kafka it finds nothing to apply and costs one fetch a partition.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.types import TP
from faust.types.tuples import Message

from streams.kafka import options_for
from streams.settings import Settings


async def read_to_end(
    settings: Settings, topic: str, starts: dict[int, int], timeout: float = 60.0
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of records of ``topic`` from ``starts`` (partition → offset) to the end.

    The end is the high watermark that fetch responses carry, not ListOffsets.
    """
    if not starts:
        return
    consumer = AIOKafkaConsumer(
        **options_for(settings), enable_auto_commit=False, group_id=None, max_poll_records=5000
    )
    await consumer.start()
    try:
        pending = {TopicPartition(topic, p) for p in starts}
        consumer.assign(list(pending))
        for tp in pending:
            consumer.seek(tp, starts[tp.partition])
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} unfinished for {sorted(pending)}")
            batches = await consumer.getmany(*pending, timeout_ms=500)
            records = [record for batch in batches.values() for record in batch]
            if records:
                yield records
            for tp in list(pending):
                highwater = consumer.highwater(tp)  # from the last fetch response
                if highwater is not None and await consumer.position(tp) >= highwater:
                    pending.discard(tp)
    finally:
        await consumer.stop()


async def catch_up(app: faust.App, table: Any, partitions: set[int], settings: Settings) -> int:
    """Apply changelog records past what Faust recovered; return how many there were."""
    topic = table.changelog_topic.get_topic_name()
    # The concrete TableManager has the recovery service; its interface type does not.
    recovered = cast(Any, app.tables).recovery.active_offsets
    starts = {}
    for partition in partitions:
        last = recovered.get(TP(topic, partition))
        starts[partition] = 0 if last is None or last < 0 else last + 1
    applied = 0
    async for records in read_to_end(settings, topic, starts):
        table.apply_changelog_batch(
            [
                faust.Event(
                    app,
                    r.key,
                    r.value,
                    None,
                    Message(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.timestamp / 1000,
                        r.timestamp_type,
                        None,
                        r.key,
                        r.value,
                        None,
                    ),
                )
                for r in records
            ]
        )
        applied += len(records)
    return applied
