"""The Faust app: settings → app, the state table, the intake agent, timers and web views.

Build it with :func:`create_app` (``cchc worker`` and ``cchc run`` do); there is no
module-level app, so tests and tools choose their settings before anything connects.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.streams import current_event

from agents.alerts import AlertBook, evaluate_changes, evaluate_risks
from agents.calendar import WorkingCalendar
from agents.clock import Clock
from agents.engine import Engine
from agents.intake import Intake, Outgoing
from agents.units import Unit, load_units
from schemas.codec import encode
from schemas.records import Event
from streams import metrics
from streams.kafka import ssl_context
from streams.recovery import catch_up, read_to_end
from streams.settings import Settings
from streams.topics import TopicNames
from streams.webhooks import Deliverer, load_subscriptions

log = logging.getLogger(__name__)

STATE_TABLE = "dossier-state"
TICK_SECONDS = 0.5
"""How often the clock moves and alerts are evaluated: alerts follow events within ~1 s."""
RISK_EVERY_TICKS = 10


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
    alerts: AlertBook
    consuming: bool = False
    ticks: int = 0
    changed_since: dict[str, float] = field(default_factory=dict)
    """Kafka timestamp of the first event per unit since the last alert evaluation."""
    owned_partitions: set[int] = field(default_factory=set)

    def owns(self, unit_id: str) -> bool:
        return self.intake.home(unit_id)[1] in self.owned_partitions


async def restore_alerts(worker: Worker) -> None:
    """The last published state of each alert of the owned units, from the alerts topic."""
    worker.alerts.alerts.clear()
    starts = dict.fromkeys(worker.owned_partitions, 0)
    async for records in read_to_end(worker.settings, worker.topics.alerts, starts):
        for record in records:
            alert = orjson.loads(record.value)
            if worker.owns(alert["unit_id"]):
                worker.alerts.restore(alert)


def _credentials(settings: Settings) -> Any:
    security = settings.security
    if security.protocol == "PLAINTEXT":
        return None
    if security.protocol == "SSL":
        return faust.SSLCredentials(ssl_context(security))
    return faust.SASLCredentials(
        username=security.sasl_username,
        password=security.sasl_password,
        mechanism=security.sasl_mechanism or "PLAIN",
        ssl_context=ssl_context(security),
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
        handled = current_event()
        if handled is not None and handled.message.timestamp:
            produced_at = handled.message.timestamp
            metrics.EVENT_TO_STATE.observe(max(0.0, time.time() - produced_at))
            worker.changed_since.setdefault(event.unit_id, produced_at)
        if change is None:
            return []
        key, value = change
        return [Outgoing(changelog, key, value, partition)]

    intake = Intake(topics, settings.topic_partitions, apply)
    worker = Worker(
        settings,
        app,
        topics,
        table,
        engine,
        intake,
        load_units(settings.units_file),
        AlertBook(settings.thresholds),
    )
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

    @app.timer(TICK_SECONDS)
    async def tick() -> None:
        """Move the clock (deadlines pass without events) and publish alert changes."""
        if not worker.consuming or app.rebalancing:
            return
        engine.advance()
        changes = evaluate_changes(engine, worker.alerts, worker.owns)
        worker.ticks += 1
        if worker.ticks % RISK_EVERY_TICKS == 0:  # due-soon windows move slowly
            owned = [unit for unit in {*engine.units, *worker.registry} if worker.owns(unit)]
            changes += evaluate_risks(engine, worker.alerts, engine.calendar, owned)
        for alert in changes:
            key, partition = intake.home(alert["unit_id"])
            await app.producer.send(topics.alerts, key, encode(alert), partition, None, None)
            since = worker.changed_since.get(alert["unit_id"])
            if since is not None:  # None: the clock alone changed it (a deadline passed)
                metrics.ALERT_LATENCY.observe(max(0.0, time.time() - since))
        worker.changed_since.clear()

    deliverer = Deliverer(
        load_subscriptions(settings.subscriptions_file),
        settings.web_url,
        settings.data_dir / "webhooks-parked.jsonl",
        settings.webhook_attempts,
        settings.webhook_backoff,
    )
    if deliverer.subscriptions:
        alert_channel = app.topic(
            topics.alerts,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @app.agent(alert_channel, name="webhooks")
        async def webhooks(stream: Any) -> None:
            # Acked once delivered or parked: a crash means redelivery, never a silent loss.
            async for value in stream:
                await deliverer.deliver(orjson.loads(value))

    async def rebuild() -> None:
        """After every recovery: finish it, derive the figures, replay the alert state."""
        actives = app.assignor.assigned_actives()
        worker.owned_partitions = {tp.partition for tp in actives if tp.topic == topics.submitted}
        started = time.monotonic()
        caught_up = await catch_up(app, table, worker.owned_partitions, settings)
        if caught_up:
            log.warning(
                "applied %d changelog records that recovery stopped short of "
                "(the broker reported stale end offsets)",
                caught_up,
            )
        count = engine.rebuild(worker.owns)
        await restore_alerts(worker)
        log.info("rebuilt figures from %d states in %.1fs", count, time.monotonic() - started)
        worker.consuming = True

    table.on_recover(rebuild)

    from streams.web import install_views

    metrics.FIGURES.worker = worker
    metrics.initialise(list(topics.co_partitioned))
    install_views(worker)
    return worker
