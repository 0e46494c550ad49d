"""The Faust app: settings → app, the state table, the intake agent, timers and web views.

Build it with :func:`create_app` (``cchc worker`` and ``cchc run`` do); there is no
module-level app, so tests and tools choose their settings before anything connects.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import faust

from agents.calendar import WorkingCalendar
from agents.clock import Clock
from agents.engine import Engine
from agents.intake import Intake, Outgoing
from agents.units import Unit, load_units
from schemas.records import Event
from streams.recovery import catch_up
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

STATE_TABLE = "dossier-state"


@dataclass
class Worker:
    """Everything a worker process holds; the web views read from it."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    table: Any
    engine: Engine
    intake: Intake
    registry: dict[str, Unit]
    consuming: bool = False
    owned_partitions: set[int] = field(default_factory=set)

    def owns(self, unit_id: str) -> bool:
        return self.intake.home(unit_id)[1] in self.owned_partitions


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
        "table_key_serializer": "raw",
        "table_value_serializer": "raw",
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "canonical_url": settings.web_url,
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
    table = app.Table(
        STATE_TABLE, partitions=settings.topic_partitions, key_type=bytes, value_type=bytes
    )
    engine = Engine(
        WorkingCalendar.from_file(settings.calendar_file), Clock(settings.clock), table.data
    )
    changelog = table.changelog_topic.get_topic_name()

    def apply(event: Event, partition: int) -> list[Outgoing]:
        change = engine.apply(event)
        if change is None:
            return []
        key, value = change
        return [Outgoing(changelog, key, value, partition)]

    intake = Intake(topics, settings.topic_partitions, apply)
    worker = Worker(settings, app, topics, table, engine, intake, load_units(settings.units_file))
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
        # The store is written directly and the changelog record sent through Faust's
        # producer: half the cost of table[key] = value, and Faust still flushes it before
        # committing the event's offset (bench/README.md has the numbers).
        async for event in stream.events():
            for message in intake.handle(event.message):
                await app.producer.send(
                    message.topic,
                    message.key,
                    message.value,
                    message.partition,
                    None,
                    message.headers,
                )

    @app.timer(1.0)
    async def advance_clock() -> None:
        engine.advance()

    async def rebuild() -> None:
        actives = app.assignor.assigned_actives()
        worker.owned_partitions = {tp.partition for tp in actives if tp.topic == topics.submitted}
        started = time.monotonic()
        caught_up = await catch_up(app, table, worker.owned_partitions, settings)
        count = engine.rebuild(worker.owns)
        log.info(
            "rebuilt figures from %d states (%d applied after Faust's recovery) in %.1fs",
            count,
            caught_up,
            time.monotonic() - started,
        )
        worker.consuming = True

    table.on_recover(rebuild)

    from streams.web import install_views

    install_views(worker)
    return worker
