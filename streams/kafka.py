"""Plain Kafka clients (kafka-python) for the CLI and the embedded broker: admin and producer.

The worker itself talks to Kafka through Faust (aiokafka); these clients serve the tools
around it. Both get the same security settings.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.settings import KafkaSecurity


def bootstrap_servers(broker_url: str) -> list[str]:
    """``kafka://a:9092;kafka://b:9092`` → ``["a:9092", "b:9092"]``."""
    return [url.partition("://")[2] for url in broker_url.split(";")]


def client_options(broker_url: str, security: KafkaSecurity) -> dict[str, Any]:
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
    if security.ssl_cafile:
        options["ssl_cafile"] = security.ssl_cafile
    if security.ssl_certfile:
        options |= {"ssl_certfile": security.ssl_certfile, "ssl_keyfile": security.ssl_keyfile}
    return options


def new_producer(broker_url: str, security: KafkaSecurity) -> KafkaProducer:
    return KafkaProducer(acks="all", linger_ms=5, retries=5, **client_options(broker_url, security))


def ensure_topics(
    broker_url: str,
    security: KafkaSecurity,
    partitions: dict[str, int],
    compacted: frozenset[str] = frozenset(),
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
                topic_configs={"cleanup.policy": "compact"} if name in compacted else {},
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
