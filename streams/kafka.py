"""Kafka connection options and the plain clients outside Faust's own.

:func:`client_options` gives kafka-python and aiokafka clients the same broker list and
security settings: the worker's recovery reader and SSE follower (aiokafka), and the CLI's
admin, producer and alerts tail (kafka-python). The Faust app connects with the same
settings through :func:`ssl_context` (``service/app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from streams.settings import KafkaSecurity, Settings

RECORD_OVERHEAD = 128
"""Bytes a record batch of one record adds to its key, value and headers (batch header,
record attributes, varints), rounded up."""
_SIZE_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError)


def record_size(key: bytes | None, value: bytes | None, headers: Any = None) -> int:
    """What one record costs against the broker's ``message.max.bytes``.

    >>> record_size(b"k", b"v" * 1000, [("cchc-kind", b"dvcqg-sync")])
    1148
    """
    size = RECORD_OVERHEAD + len(key or b"") + len(value or b"")
    return size + sum(len(name) + len(data) for name, data in headers or ())


def refused_for_size(error: BaseException) -> bool:
    """Whether a send failed because the record is too large: sending it again cannot help."""
    return isinstance(error, _SIZE_ERRORS)


def bootstrap_servers(broker_url: str) -> list[str]:
    """``kafka://a:9092;kafka://b:9092`` → ``["a:9092", "b:9092"]``."""
    return [url.partition("://")[2] for url in broker_url.split(";")]


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (CA file, client certificate), else None."""
    if security.protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=security.ssl_cafile)
    if security.ssl_certfile:
        context.load_cert_chain(security.ssl_certfile, security.ssl_keyfile)
    return context


def client_options(broker_url: str, security: KafkaSecurity) -> dict[str, Any]:
    """Connection options that kafka-python and aiokafka clients both take."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(broker_url),
        "security_protocol": security.protocol,
    }
    if security.sasl_mechanism:
        options |= {
            "sasl_mechanism": security.sasl_mechanism,
            "sasl_plain_username": security.sasl_username,
            "sasl_plain_password": security.sasl_password,
        }
    context = ssl_context(security)
    if context is not None:
        options["ssl_context"] = context
    return options


def options_for(settings: Settings) -> dict[str, Any]:
    """:func:`client_options` for the broker and security of ``settings``."""
    if settings.kafka_broker is None:
        raise ValueError("no broker URL: set CCHC_KAFKA_BROKER or start the embedded broker")
    return client_options(settings.kafka_broker, settings.security)


class _WaitsAreNotBlocks(logging.Filter):
    """Demotes kafka-python's "Task ... ran for 0.3s ... blocking the event loop" to DEBUG.

    kafka-python (3.0) times each step of its I/O thread by the wall clock and warns past
    0.1 s. Beside a thread that keeps the interpreter busy (a sending loop, such as the
    demo feed's backfill of the year so far) a step waits that long for the interpreter
    lock or a CPU: in such steps the I/O thread ran a tenth of the time
    (``time.thread_time``), and nothing else polls its loop (requests time out after
    30 s). Harmless, so a terminal shows errors, not this; DEBUG logging still shows it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "blocking the event loop" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


# For every kafka-python client of the process (admin, producer, consumer).
logging.getLogger("kafka.net.selector").addFilter(_WaitsAreNotBlocks())


def new_producer(broker_url: str, security: KafkaSecurity) -> KafkaProducer:
    return KafkaProducer(acks="all", linger_ms=5, retries=5, **client_options(broker_url, security))


def close_within(producer: KafkaProducer, seconds: float) -> None:
    """Close ``producer``, dropping what the broker has not acknowledged within ``seconds``.

    kafka-python 3.0's ``close(timeout)`` raises instead, leaving the producer open, when
    records are still on their way then, and raises again (printed as "Exception ignored")
    when the object is collected at exit.
    """
    try:
        producer.close(timeout=seconds)
    except KafkaTimeoutError:
        producer._sender.force_close()  # its I/O thread fails what it holds and ends
        producer._closed = True  # nothing left for close() to do when it is collected


def ensure_topics(
    broker_url: str,
    security: KafkaSecurity,
    partitions: dict[str, int],
    configs: dict[str, dict[str, str]] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create missing topics; fail if an existing one has another partition count.

    The intake agent relies on every input topic having the same partition count
    (co-partitioning by ``unit_id``), so a mismatch is an error, not a warning.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(client_id="cchc-admin", **client_options(broker_url, security))
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name,
                count,
                1 if _single_broker(admin) else 3,
                topic_configs=(configs or {}).get(name, {}),
            )
            for name, count in partitions.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                admin.create_topics(missing)
        for description in admin.describe_topics(list(partitions)):
            name, found = description["name"], len(description["partitions"])
            if found and found != partitions[name]:
                raise RuntimeError(
                    f"topic {name} has {found} partitions, expected {partitions[name]} "
                    "(CCHC_TOPIC_PARTITIONS): inputs must be co-partitioned by unit_id"
                )
    finally:
        admin.close()


def _single_broker(admin: KafkaAdminClient) -> bool:
    return len(admin.describe_cluster().get("brokers", [])) < 3


class BrokerProbe:
    """Asks the cluster for its metadata: an answer means the broker is reachable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: AIOKafkaClient | None = None

    async def reachable(self, timeout: float) -> bool:
        try:
            if self._client is None:
                self._client = AIOKafkaClient(**options_for(self.settings))
                await asyncio.wait_for(self._client.bootstrap(), timeout)
            else:
                await asyncio.wait_for(self._client.fetch_all_metadata(), timeout)
        except (TimeoutError, KafkaError, AIOKafkaError, OSError):
            await self.close()
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
