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

import ssl
import time
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP
from faust.types.tuples import Message

from streams.kafka import bootstrap_servers
from streams.settings import Settings


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    assert settings.kafka_broker is not None
    security = settings.security
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings.kafka_broker),
        "security_protocol": security.protocol,
    }
    if security.sasl_mechanism:
        options |= {
            "sasl_mechanism": security.sasl_mechanism,
            "sasl_plain_username": security.sasl_username,
            "sasl_plain_password": security.sasl_password,
        }
    if security.protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=security.ssl_cafile)
        if security.ssl_certfile:
            context.load_cert_chain(security.ssl_certfile, security.ssl_keyfile)
        options["ssl_context"] = context
    return options


async def catch_up(
    app: faust.App, table: Any, partitions: set[int], settings: Settings, timeout: float = 60.0
) -> int:
    """Apply changelog records past what Faust recovered; return how many there were."""
    if not partitions:
        return 0
    topic = table.changelog_topic.get_topic_name()
    # The concrete TableManager has the recovery service; its interface type does not.
    recovered = cast(Any, app.tables).recovery.active_offsets
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings), enable_auto_commit=False, group_id=None, max_poll_records=5000
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:
            last = recovered.get(TP(topic, tp.partition))
            consumer.seek(tp, 0 if last is None or last < 0 else last + 1)
        applied, deadline = 0, time.monotonic() + timeout
        pending = set(tps)
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            events = [
                faust.Event(
                    app,
                    record.key,
                    record.value,
                    None,
                    Message(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp / 1000,
                        record.timestamp_type,
                        None,
                        record.key,
                        record.value,
                        None,
                    ),
                )
                for records in batches.values()
                for record in records
            ]
            if events:
                table.apply_changelog_batch(events)
                applied += len(events)
            for tp in list(pending):
                highwater = consumer.highwater(tp)  # from the last fetch response
                if highwater is not None and await consumer.position(tp) >= highwater:
                    pending.discard(tp)
        if pending:
            raise TimeoutError(f"changelog catch-up unfinished for {sorted(pending)}")
        return applied
    finally:
        await consumer.stop()
