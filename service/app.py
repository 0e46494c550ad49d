"""The Faust app of a worker: settings → app, worker state, agents, web views, metrics.

Build it with :func:`create_app` (``cchc worker`` and ``cchc run`` do); there is no
module-level app, so tests and tools choose their settings before anything connects.

One event flows one way: Kafka → :mod:`agents.intake` (decides with :mod:`schemas` and
applies with :mod:`kpi`) → the state store and its changelog (:mod:`streams.state`); the
figures are then read by :mod:`agents.tick` (alerts), :mod:`service.api` (HTTP) and
:mod:`service.exporter` (Prometheus).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp.web
import faust
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from agents import health, intake, tick, webhooks
from service import exporter
from service.alert_feed import AlertHub
from service.api import Api
from service.peers import Peers
from service.web import install_views
from streams import instruments
from streams.access import Tokens
from streams.kafka import RECORD_OVERHEAD, ssl_context
from streams.settings import Settings
from streams.webhooks import Deliverer, load_subscriptions
from streams.worker import Worker


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
        # A rebalance waits until every held message is released (streams/outbox.py): the
        # revoked partitions' outputs are written before their new owner reads them.
        "stream_wait_empty": True,
        "producer_acks": settings.producer_acks,
        "producer_linger": 0.02,
        # Every record is checked against CCHC_MAX_MESSAGE_BYTES before it is sent
        # (streams/worker.py); the producer's own limits must never be the tighter ones.
        # A batch of several records must fit too (one larger record goes alone).
        "producer_max_batch_size": settings.max_message_bytes - RECORD_OVERHEAD,
        "producer_max_request_size": settings.max_message_bytes + (64 << 10),
        "stream_buffer_maxsize": 16384,
        "broker_max_poll_records": 5000,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "canonical_url": settings.web_url,
        "web_in_thread": False,
        # Faust's own views (/router, /table, /graph, /stats) would bypass the tokens.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
        "topic_disable_leader": True,
        "broker_credentials": _credentials(settings),
    }
    if settings.producer_request_timeout is not None:
        options["producer_request_timeout"] = settings.producer_request_timeout
    if settings.session_timeout is not None:
        options["broker_session_timeout"] = settings.session_timeout
        options["broker_heartbeat_interval"] = settings.session_timeout / 5
    return options


def end_live_streams_on_stop(web_app: aiohttp.web.Application) -> None:
    """Cancel the live streams (``text/event-stream``) when the web server stops.

    aiohttp stops gracefully: it waits up to its shutdown timeout (60 s) for every request
    in progress to end, then as long again once it has asked them to. A live stream never
    ends by itself (the screen keeps ``/api/units/stream`` open), so one open screen held
    Ctrl-C for two minutes. The browser's EventSource reconnects to whoever serves next.
    """
    live: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    async def track(request: aiohttp.web.Request, response: aiohttp.web.StreamResponse) -> None:
        if response.content_type == "text/event-stream":
            live.add(request.task)

    async def cancel(app: aiohttp.web.Application) -> None:
        for task in list(live):
            task.cancel()

    web_app.on_response_prepare.append(track)
    web_app.on_shutdown.append(cancel)


def create_app(settings: Settings, tokens: Tokens) -> Worker:
    if settings.kafka_broker is None:
        raise ValueError("create_app needs a broker URL (start the embedded broker first)")
    worker = Worker.build(settings, faust.App(settings.app_id, **faust_options(settings)))
    app = worker.app
    deliverer = Deliverer(
        load_subscriptions(settings.subscriptions_file),
        settings.web_url,
        settings.data_dir / "webhooks-parked.jsonl",
        settings.webhook_attempts,
        settings.webhook_backoff,
    )
    peers = Peers(worker)

    intake.install(worker)
    tick.install(worker)
    health.install(worker)
    webhooks.install(worker, deliverer)
    hub = AlertHub(settings, worker.topics.alerts, settings.max_streams)
    install_views(worker, Api(worker, peers), peers, tokens, hub)
    web = app.web
    assert isinstance(web, AiohttpWeb)  # Faust's default web driver
    end_live_streams_on_stop(web.web_app)
    instruments.initialise(list(worker.topics.co_partitioned))
    exporter.register(worker)

    # mode types signal handlers with a forward reference mypy cannot resolve: the
    # handlers below take what every receiver gets, (sender, *args, signal=, **kwargs).
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        (revoked,) = args
        await worker.revoked(revoked)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        (assigned,) = args
        await worker.assigned(assigned)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        await worker.stop()
        await deliverer.close()
        await peers.close()
        await hub.stop()

    return worker
