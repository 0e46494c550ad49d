"""Prometheus metrics of a worker: one registry, ``cchc_`` names (exposed at ``/metrics``).

Figures per unit are read from the engine at scrape time, for the units this worker owns,
so several workers never export the same series. Rates are ``_ratio`` gauges (0..1; a
series is absent while its denominator is 0); counts of a period are gauges, since
corrections and the turning of the period lower them.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from agents.alerts import RULES
from agents.periods import parse_period

if TYPE_CHECKING:
    from streams.app import Worker

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

PERIODS = ("year", "30d")


def initialise(topics: list[str]) -> None:
    """Create every labelled series at 0, so dashboards and rate() see them from the start."""
    for topic in topics:
        for counter in (EVENTS_PROCESSED, EVENTS_DEAD_LETTERED, EVENTS_REKEYED):
            counter.labels(topic=topic)
    for outcome in ("delivered", "retried", "parked"):
        WEBHOOK_DELIVERIES.labels(outcome=outcome)


class FiguresCollector(Collector):
    """Per-unit figures of the owned units, read from the engine at scrape time."""

    def __init__(self) -> None:
        self.worker: Worker | None = None

    def describe(self) -> Iterator[Any]:
        return iter(())  # dynamic: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        worker = self.worker
        if worker is None:
            return
        engine, thresholds = worker.engine, worker.settings.thresholds
        labels = ["unit_id", "period"]
        families = {
            name: GaugeMetricFamily(f"cchc_unit_{name}", text, labels=labels)
            for name, text in (
                (
                    "late_ratio",
                    "Late-dossier rate: (late + open overdue) / (resolved + open overdue).",
                ),
                ("satisfaction_ratio", "Satisfaction index: satisfied / surveys."),
                ("dossiers_resolved", "Dossiers resolved in the period."),
                ("dossiers_resolved_late", "Dossiers resolved after their deadline in the period."),
                (
                    "dossiers_open_overdue",
                    "Open dossiers past their deadline at the period's end or now.",
                ),
                ("surveys", "Satisfaction votes in the period."),
                ("surveys_satisfied", "Satisfied and very satisfied votes in the period."),
                ("officials_in_breach", "Officials at or over the 10 % late line in the period."),
            )
        }
        info = InfoMetricFamily("cchc_unit", "Registry data of a unit.", labels=["unit_id"])
        units = sorted(u for u in {*engine.units, *worker.registry} if worker.owns(u))
        for kind in PERIODS:
            period = parse_period(None if kind == "year" else kind, engine.now)
            for unit_id in units:
                f = engine.figures(unit_id, period)
                values = [unit_id, kind]
                if f.dossiers:
                    families["late_ratio"].add_metric(values, f.late / f.dossiers)
                if f.surveys:
                    families["satisfaction_ratio"].add_metric(values, f.satisfied / f.surveys)
                families["dossiers_resolved"].add_metric(values, f.resolved)
                families["dossiers_resolved_late"].add_metric(values, f.resolved_late)
                families["dossiers_open_overdue"].add_metric(values, f.open_overdue)
                families["surveys"].add_metric(values, f.surveys)
                families["surveys_satisfied"].add_metric(values, f.satisfied)
                totals = engine.units.get(unit_id)
                breaching = sum(
                    1
                    for official in (totals.officials() if totals else ())
                    if engine.figures(unit_id, period, official).official_breaches(thresholds)
                )
                families["officials_in_breach"].add_metric(values, breaching)
        for unit_id in units:
            unit = worker.registry.get(unit_id)
            info.add_metric(
                [unit_id],
                {
                    "name": unit.name if unit else unit_id,
                    "type": unit.type if unit else "unknown",
                    "level": unit.level if unit else "unknown",
                },
            )
        yield from families.values()
        yield info
        firing = GaugeMetricFamily(
            "cchc_alerts_firing", "Alerts firing now, by rule.", labels=["rule"]
        )
        by_rule = Tally(a["rule"] for a in worker.alerts.query("firing"))
        for rule in RULES:  # every rule, 0 when none fires: no series appears from nowhere
            firing.add_metric([rule], by_rule[rule])
        yield firing
        if worker.consuming:  # the consumer has an assignment only once it consumes
            yield self._lag(worker)

    @staticmethod
    def _lag(worker: Worker) -> GaugeMetricFamily:
        """Messages not yet read, per assigned input partition (fetch high watermark based)."""
        lag = GaugeMetricFamily(
            "cchc_consumer_lag_messages",
            "Input messages behind the partition's end, per assigned partition.",
            labels=["topic", "partition"],
        )
        app = worker.app
        inputs = set(worker.topics.co_partitioned)
        read = app.monitor.tp_read_offsets or {}
        for tp in sorted(app.consumer.assignment()):
            if tp.topic not in inputs:
                continue
            highwater = app.consumer.highwater(tp)
            if highwater is None:
                continue
            last = read.get(tp)
            behind = highwater if last is None else highwater - last - 1
            lag.add_metric([tp.topic, str(tp.partition)], max(0, behind))
        return lag


FIGURES = FiguresCollector()
REGISTRY.register(FIGURES)
