"""The Faust app: settings → app, the state store, the intake agent, timers and web views.

Build it with :func:`create_app` (``cchc worker`` and ``cchc run`` do); there is no
module-level app, so tests and tools choose their settings before anything connects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from agents.alerts import AlertBook, evaluate_changes, evaluate_risks
from agents.calendar import WorkingCalendar
from agents.clock import Clock
from agents.engine import Engine
from agents.intake import Intake, MessageLike, Outgoing
from agents.units import Unit, load_units
from schemas.codec import encode
from schemas.records import Event
from streams import metrics
from streams.kafka import ssl_context
from streams.recovery import read_to_end
from streams.settings import Settings
from streams.state import StateStore, changelog_topic
from streams.topics import TopicNames
from streams.webhooks import Deliverer, load_subscriptions

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
BATCH_WITHIN = 0.05
"""The intake agent takes up to this many events, or what came within this many seconds,
at a time: its loop and awaits run per batch, not per event (bench/README.md)."""
TICK_SECONDS = 0.5
"""How often the clock moves and alerts are evaluated: alerts follow events within ~1 s."""
RISK_EVERY_TICKS = 10


@dataclass
class Worker:
    """Everything a worker process holds; the web views read from it."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    store: StateStore
    engine: Engine
    intake: Intake
    registry: dict[str, Unit]
    alerts: AlertBook
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the owned partitions' state is recovered and events may be applied."""
    recovering: asyncio.Task[None] | None = None
    derived_for: set[int] | None = None
    """The partitions whose state the figures and alert state were last derived from."""
    ticks: int = 0
    changed_since: dict[str, float] = field(default_factory=dict)
    """Kafka timestamp of the first event per unit since the last alert evaluation."""

    @property
    def consuming(self) -> bool:
        return self.ready.is_set()

    def owns(self, unit_id: str) -> bool:
        return self.store.owns(self.intake.home(unit_id)[1])

    async def stop_recovery(self) -> None:
        """Cancel a recovery still running (a new rebalance began) and wait until it is."""
        if self.recovering is not None and not self.recovering.done():
            self.recovering.cancel()
            await asyncio.wait([self.recovering])


async def restore_alerts(worker: Worker) -> None:
    """The last published state of each alert of the owned units, from the alerts topic."""
    worker.alerts.alerts.clear()
    starts = dict.fromkeys(worker.store.open_partitions(), 0)
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
    store = StateStore(settings, changelog_topic(settings.app_id))

    def apply(event: Event, message: MessageLike) -> list[Outgoing]:
        change = engine.apply(event)
        if message.timestamp:
            metrics.EVENT_TO_STATE.observe(max(0.0, time.time() - message.timestamp))
            worker.changed_since.setdefault(event.unit_id, message.timestamp)
        if change is None:
            return []
        key, value = change
        return [Outgoing(store.changelog, key, value, message.partition)]

    intake = Intake(topics, settings.topic_partitions, apply)
    engine = Engine(
        WorkingCalendar.from_file(settings.calendar_file),
        Clock(settings.clock),
        lambda unit_id: store.of(intake.home(unit_id)[1]),
    )
    worker = Worker(
        settings,
        app,
        topics,
        store,
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
        # Faust acks a batch once the next is taken, and flushes what was produced for it
        # before committing its offsets: state changes are durable before inputs are skipped.
        async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN):
            await worker.ready.wait()
            for event in events:
                message = event.message
                if not store.owns(message.partition):
                    continue  # revoked while buffered: its new owner reads it again
                for out in intake.handle(message):
                    sent = await app.producer.send(
                        out.topic, out.key, out.value, out.partition, None, out.headers
                    )
                    if out.topic == store.changelog:
                        store.sent(message.partition, out.key or b"", sent)

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

    async def recover(partitions: set[int]) -> None:
        """Recover the state of the assigned partitions, derive the figures, replay alerts."""
        started = time.monotonic()
        try:
            applied = await store.assign(partitions)
            count = engine.rebuild(store.items())
            await restore_alerts(worker)
        except Exception as error:  # a worker without its state must stop, not serve
            log.exception("recovering the state of partitions %s failed", sorted(partitions))
            await app.crash(error)
            return
        worker.derived_for = partitions
        elapsed = time.monotonic() - started
        metrics.STATE_RECOVERED.inc(applied)
        metrics.STATE_RECOVERY.set(elapsed)
        log.info(
            "partitions %s: %d changelog records applied, figures rebuilt from %d states in %.1fs",
            sorted(partitions),
            applied,
            count,
            elapsed,
        )
        worker.ready.set()

    # mode types signal handlers with a forward reference mypy cannot resolve: the
    # handlers below take what every receiver gets, (sender, *args, signal=, **kwargs).
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        worker.ready.clear()
        await worker.stop_recovery()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Recovery runs beside the rebalance callback, not in it: the agent waits for it.
        worker.ready.clear()
        await worker.stop_recovery()
        (assigned,) = args
        partitions = {tp.partition for tp in assigned if tp.topic == topics.submitted}
        if partitions == worker.derived_for:
            # Kept every partition: store, figures and alert state are still this worker's.
            log.info("partitions %s kept: state and figures kept", sorted(partitions))
            worker.ready.set()
            return
        worker.derived_for = None
        worker.recovering = asyncio.ensure_future(recover(partitions))

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        await worker.stop_recovery()
        await app.producer.flush()
        await store.close()

    from streams.web import install_views

    metrics.FIGURES.worker = worker
    metrics.initialise(list(topics.co_partitioned))
    install_views(worker)
    return worker
