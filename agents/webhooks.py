"""The webhook agents: deliver each alert change to the unit offices subscribed to it.

One agent per subscription reads the alerts topic, so a receiver that is slow or down
delays only its own deliveries; Faust commits a message once every agent has acked it,
that is once it is delivered or parked everywhere: a crash means redelivery, never a silent
loss. Delivery itself (signing, retries, parking) is :class:`streams.webhooks.Deliverer`.

The topic may repeat a message (writes to Kafka are at least once): each agent delivers
every (``alert_id``, ``sequence``) once (:class:`kpi.alerts.SeenAlerts`). An agent that
starts on a partition mid-topic (at the offset its group committed, or where another
worker left it) first reads what came before, once, to know what later records repeat:
those records were committed, so delivered or parked already. A record is noted as had
only once it is delivered or parked, so a rebalance that sends the agent back over records
it has had passes over them, and one that interrupts a delivery leads to redelivery.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kpi.alerts import SeenAlerts
from schemas.codec import InvalidEvent, decode_alert
from streams.recovery import read_to_end
from streams.settings import Settings
from streams.webhooks import Deliverer, Subscription
from streams.worker import Worker, skip_unreadable

log = logging.getLogger(__name__)

CATCH_UP_RETRY_SECONDS = 5.0
"""After a failed read of what came before, the next try (the broker is away)."""


def install(worker: Worker, deliverer: Deliverer) -> None:
    """Register one delivery agent per subscription."""
    channel = worker.app.topic(
        worker.topics.alerts,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    for number, subscription in enumerate(deliverer.subscriptions):
        agent = _delivering(worker.settings, deliverer, subscription)
        worker.app.agent(channel, name=f"webhook-{number}")(agent)


def _wanted(subscription: Subscription, record: Any) -> dict[str, Any] | None:
    """The alert in ``record`` if the subscription wants it (None: unwanted or unreadable)."""
    try:
        alert = decode_alert(record.value)
    except InvalidEvent:
        return None
    return alert if subscription.wants(alert) else None


async def _catch_up(
    settings: Settings,
    subscription: Subscription,
    seen: SeenAlerts,
    topic: str,
    partition: int,
    offset: int,
) -> None:
    """Note the records of ``partition`` before ``offset`` that this agent never read."""
    while (start := seen.unread(partition, offset)) is not None:
        try:
            ends = {partition: offset}
            async for records in read_to_end(settings, topic, {partition: start}, ends=ends):
                for record in records:
                    seen.note(partition, record.offset, _wanted(subscription, record))
        except Exception as error:
            log.warning(
                "webhooks of %s: reading %s[%d] %d..%d failed (%s); trying again in %.0fs",
                subscription.name,
                topic,
                partition,
                start,
                offset,
                error,
                CATCH_UP_RETRY_SECONDS,
            )
            await asyncio.sleep(CATCH_UP_RETRY_SECONDS)
            continue
        seen.note(partition, offset - 1)  # offsets without a record included


def _delivering(settings: Settings, deliverer: Deliverer, subscription: Subscription) -> Any:
    seen = SeenAlerts()  # this subscription's: one int per alert id it wants

    async def deliver(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            partition, offset = message.partition, message.offset
            await _catch_up(settings, subscription, seen, message.topic, partition, offset)
            try:
                alert = decode_alert(event.value)
            except InvalidEvent as error:
                if seen.unread(partition, offset + 1) is not None:  # not counted before
                    skip_unreadable(message, error.reason)
                seen.note(partition, offset)
                continue
            if not subscription.wants(alert):
                seen.note(partition, offset)
                continue
            if seen.fresh(partition, offset, alert):
                await deliverer.deliver(subscription, alert)
            seen.note(partition, offset, alert)

    return deliver
