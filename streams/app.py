"""The Faust app: settings → app, topics, the intake agent and the web views.

Build it with :func:`create_app` (``cchc worker`` and ``cchc run`` do); there is no
module-level app, so tests and tools choose their settings before anything connects.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import faust

from agents.intake import BATCH_SIZE, BATCH_WITHIN, Intake, Outgoing, record_metrics
from schemas.records import Event
from streams.settings import Settings
from streams.topics import TopicNames


@dataclass
class Worker:
    """Everything a worker process holds; the web views read from it."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    intake: Intake
    consuming: bool = False


def _credentials(settings: Settings) -> Any:
    security = settings.security
    if security.protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if security.protocol in ("SSL", "SASL_SSL"):
        ssl_context = ssl.create_default_context(cafile=security.ssl_cafile)
        if security.ssl_certfile:
            ssl_context.load_cert_chain(security.ssl_certfile, security.ssl_keyfile)
    if security.protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    return faust.SASLCredentials(
        username=security.sasl_username,
        password=security.sasl_password,
        mechanism=security.sasl_mechanism or "PLAIN",
        ssl_context=ssl_context,
    )


def faust_options(settings: Settings) -> dict[str, Any]:
    """Faust settings; the throughput ones are measured in ``bench/README.md``."""
    options: dict[str, Any] = {
        "broker": settings.kafka_broker,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.topic_partitions,
        "processing_guarantee": "at_least_once",
        "producer_acks": settings.producer_acks,
        "producer_linger": 0.02,
        "producer_max_batch_size": 1 << 20,
        "stream_buffer_maxsize": 16384,
        "broker_max_poll_records": 5000,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "web_in_thread": False,
        "topic_disable_leader": True,
        "broker_credentials": _credentials(settings),
    }
    if settings.session_timeout is not None:
        options["broker_session_timeout"] = settings.session_timeout
        options["broker_heartbeat_interval"] = settings.session_timeout / 5
    return options


def create_app(settings: Settings) -> Worker:
    if settings.kafka_broker is None:
        raise ValueError("create_app needs a broker URL (start the embedded broker first)")
    app = faust.App(settings.app_id, **faust_options(settings))
    topics = TopicNames(settings.topic_prefix)

    def apply(event: Event, partition: int) -> list[Outgoing]:
        return []

    worker = Worker(settings, app, topics, Intake(topics, settings.topic_partitions, apply))
    channel = app.topic(
        *topics.co_partitioned,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )

    @app.agent(channel, name="intake")
    async def intake_agent(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            result = worker.intake.handle_batch([event.message for event in events])
            for message in result.outgoing:
                await app.producer.send(
                    message.topic,
                    message.key,
                    message.value,
                    message.partition,
                    None,
                    message.headers,
                )
            record_metrics(result)

    async def mark_consuming(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        worker.consuming = True

    app.on_rebalance_complete.connect(mark_consuming)  # type: ignore[arg-type]  # async is fine

    from streams.web import install_views

    install_views(worker)
    return worker
