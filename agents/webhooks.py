"""The webhook agents: deliver each alert change to the unit offices subscribed to it.

One agent per subscription reads the alerts topic, so a receiver that is slow or down
delays only its own deliveries; Faust commits a message once every agent has acked it,
that is once it is delivered or parked everywhere: a crash means redelivery, never a silent
loss. Delivery itself (signing, retries, parking) is :class:`streams.webhooks.Deliverer`.
"""

from __future__ import annotations

from typing import Any

from schemas.codec import InvalidEvent, decode_alert
from streams.webhooks import Deliverer, Subscription
from streams.worker import Worker, skip_unreadable


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
        worker.app.agent(channel, name=f"webhook-{number}")(_delivering(deliverer, subscription))


def _delivering(deliverer: Deliverer, subscription: Subscription) -> Any:
    async def deliver(stream: Any) -> None:
        async for event in stream.events():
            try:
                alert = decode_alert(event.value)
            except InvalidEvent as error:
                skip_unreadable(event.message, error.reason)
                continue
            await deliverer.deliver(subscription, alert)

    return deliver
