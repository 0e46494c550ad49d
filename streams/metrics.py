"""Prometheus metrics of a worker: one registry, ``cchc_`` names (exposed at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics

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
