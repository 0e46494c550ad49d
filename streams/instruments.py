"""The worker's Prometheus instruments: one registry, ``cchc_`` names, ``/metrics``.

Counters and histograms that the agents update as events pass. The per-unit figures are
not instruments: :mod:`service.exporter` reads them from the engine at scrape time. This
module imports nothing of ours, so any layer may count.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# `_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_PROCESSED = Counter(
    "cchc_events_processed_total",
    "Valid input events applied to the state, by source topic.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_DEAD_LETTERED = Counter(
    "cchc_events_dead_lettered_total",
    "Invalid input messages sent to the dead-letter topic, by source topic.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_REKEYED = Counter(
    "cchc_events_rekeyed_total",
    "Valid events whose Kafka key or partition was not their unit_id's, re-keyed once.",
    ["topic"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "cchc_webhook_deliveries_total",
    "Webhook delivery attempts of alert changes, by outcome (delivered, retried, parked).",
    ["outcome"],
    registry=REGISTRY,
)
EVENT_TO_STATE = Histogram(
    "cchc_event_to_state_seconds",
    "Seconds from an event's Kafka timestamp to its application to the state.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
ALERT_LATENCY = Histogram(
    "cchc_event_to_alert_seconds",
    "Seconds from the first change that made a unit's figures dirty to the alert it caused.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
RECORDS_UNREADABLE = Counter(
    "cchc_records_unreadable_total",
    "Records of the worker's own topics (alerts) it could not read back, skipped.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_FAILED = Counter(
    "cchc_events_failed_total",
    "Valid events whose application raised: dead-lettered with the error, never fatal.",
    ["topic"],
    registry=REGISTRY,
)
ALERT_EVALUATIONS_FAILED = Counter(
    "cchc_alert_evaluations_failed_total",
    "Units whose alert evaluation raised; the tick went on with the others.",
    registry=REGISTRY,
)
RECORDS_TOO_LARGE = Counter(
    "cchc_records_too_large_total",
    "Records the worker would have produced over CCHC_MAX_MESSAGE_BYTES, or the broker "
    "refused for their size: dead-lettered cut, never sent again.",
    ["topic"],
    registry=REGISTRY,
)
SYNC_WAITING_DROPPED = Counter(
    "cchc_sync_progress_dropped_total",
    "Progress records dropped after waiting too long for their dossier, or past the cap.",
    ["why"],
    registry=REGISTRY,
)
INGEST_THROTTLED = Counter(
    "cchc_ingest_throttled_total",
    "Sync bodies refused with 429: their token posted faster than CCHC_INGEST_BYTES_PER_SECOND "
    "(why=rate), or the worker had more than CCHC_INGEST_MAX_BACKLOG sync records to take in "
    "(why=backlog).",
    ["why"],
    registry=REGISTRY,
)
STATE_RECOVERED = Counter(
    "cchc_state_recovered_records_total",
    "Changelog records applied to recover the owned partitions' state.",
    registry=REGISTRY,
)
STATE_RECOVERY = Gauge(
    "cchc_state_recovery_seconds",
    "Duration of the last recovery after an assignment (changelog, figures, alert state).",
    registry=REGISTRY,
)


def initialise(topics: list[str]) -> None:
    """Create every labelled series at 0, so dashboards and rate() see them from the start."""
    for topic in topics:
        for counter in (EVENTS_PROCESSED, EVENTS_DEAD_LETTERED, EVENTS_REKEYED, EVENTS_FAILED):
            counter.labels(topic=topic)
    for why in ("age", "cap"):
        SYNC_WAITING_DROPPED.labels(why=why)
    for why in ("rate", "backlog"):
        INGEST_THROTTLED.labels(why=why)
    for outcome in ("delivered", "retried", "parked"):
        WEBHOOK_DELIVERIES.labels(outcome=outcome)
