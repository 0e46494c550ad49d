"""The webhook agent: delivers each alert change to the unit offices subscribed to it.

It reads the alerts topic in its own consumer group, so every change is delivered by one
worker; delivery itself (signing, retries, parking) is :class:`streams.webhooks.Deliverer`.
A message is acked once delivered or parked: a crash means redelivery, never a silent loss.
"""

from __future__ import annotations

from typing import Any

from schemas.codec import InvalidEvent, decode_alert
from streams.webhooks import Deliverer
from streams.worker import Worker, skip_unreadable


def install(worker: Worker, deliverer: Deliverer) -> None:
    """Register the webhook agent, if anyone subscribed."""
    if not deliverer.subscriptions:
        return
    channel = worker.app.topic(
        worker.topics.alerts,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @worker.app.agent(channel, name="webhooks")
    async def webhooks(stream: Any) -> None:
        async for event in stream.events():
            try:
                alert = decode_alert(event.value)
            except InvalidEvent as error:
                skip_unreadable(event.message, error.reason)
                continue
            await deliverer.deliver(alert)
