"""Per-unit figures for Prometheus, read from the engine at each scrape.

Only the units this worker owns are exported, so several workers never export the same
series. Rates are ``_ratio`` gauges (0..1; a series is absent while its denominator is 0);
counts of a period are gauges, since corrections and the turning of the period lower them.
Officials are not labels: their figures need their unit's token in the API (contract §8),
so here they appear only as a count per unit (``cchc_unit_officials_in_breach``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from kpi.alerts import recent_conditions
from kpi.periods import parse_period
from kpi.rules import (
    LATE_RECEIPT,
    OFFICIAL_LATE_RATE,
    RULES,
    TARGET_ON_TIME,
    TARGET_ONLINE,
    TARGET_ONLINE_PAYMENT,
    UNIT_LATE_RATE,
    UNIT_SATISFACTION,
    Thresholds,
)
from kpi.scorecard import estimate
from kpi.units import lookup
from streams.instruments import REGISTRY
from streams.worker import Worker

PERIODS = ("year", "30d")


class FiguresCollector(Collector):
    """Per-unit figures of the owned units, read from the engine at scrape time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def describe(self) -> Iterator[Any]:
        return iter(())  # dynamic: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        worker = self.worker
        engine, thresholds = worker.engine, worker.settings.thresholds
        labels = ["unit_id", "period"]
        families = {
            name: GaugeMetricFamily(f"cchc_unit_{name}", text, labels=labels)
            for name, text in (
                (
                    "late_ratio",
                    "Late-dossier rate: (late + open overdue) / (resolved + open overdue).",
                ),
                (
                    "late_resolved_ratio",
                    "Late rate of resolved dossiers: resolved late / resolved.",
                ),
                ("satisfaction_ratio", "Satisfaction index: satisfied / surveys."),
                ("dossiers_resolved", "Dossiers resolved in the period."),
                ("dossiers_resolved_late", "Dossiers resolved after their deadline in the period."),
                (
                    "dossiers_open_overdue",
                    "Open dossiers past their deadline at the period's end or now.",
                ),
                (
                    "dossiers_paused",
                    "Open dossiers inside a pause (supplement or financial obligation) at the "
                    "period's end or now.",
                ),
                ("dossiers_rescheduled", "Dossiers rescheduled (a new appointment) in the period."),
                (
                    "dossiers_apologised",
                    "Dossiers rescheduled in the period with an apology letter.",
                ),
                ("surveys", "Satisfaction votes in the period."),
                ("surveys_satisfied", "Satisfied and very satisfied votes in the period."),
                (
                    "officials_in_breach",
                    "Officials at or over the official late line (CCHC_OFFICIAL_LATE_PERCENT).",
                ),
            )
        }
        info = InfoMetricFamily("cchc_unit", "Registry data of a unit.", labels=["unit_id"])
        units = worker.owned_units()
        for kind in PERIODS:
            period = parse_period(None if kind == "year" else kind, engine.now)
            for unit_id in units:
                f = engine.figures(unit_id, period)
                values = [unit_id, kind]
                if f.dossiers:
                    families["late_ratio"].add_metric(values, f.late / f.dossiers)
                if f.resolved:
                    families["late_resolved_ratio"].add_metric(values, f.resolved_late / f.resolved)
                if f.surveys:
                    families["satisfaction_ratio"].add_metric(values, f.satisfied / f.surveys)
                families["dossiers_resolved"].add_metric(values, f.resolved)
                families["dossiers_resolved_late"].add_metric(values, f.resolved_late)
                families["dossiers_open_overdue"].add_metric(values, f.open_overdue)
                families["dossiers_paused"].add_metric(values, f.paused)
                families["dossiers_rescheduled"].add_metric(values, f.rescheduled)
                families["dossiers_apologised"].add_metric(values, f.apologised)
                families["surveys"].add_metric(values, f.surveys)
                families["surveys_satisfied"].add_metric(values, f.satisfied)
                breaching = sum(
                    1
                    for official in engine.officials(unit_id)
                    if engine.figures(unit_id, period, official).official_breaches(thresholds)
                )
                families["officials_in_breach"].add_metric(values, breaching)
        for unit_id in units:
            unit = lookup(worker.registry, unit_id)
            info.add_metric([unit_id], {"name": unit.name, "type": unit.type, "level": unit.level})
        yield from families.values()
        yield info
        firing = GaugeMetricFamily(
            "cchc_alerts_firing", "Alerts firing now, by rule.", labels=["rule"]
        )
        by_rule = Tally(a["rule"] for a in worker.alerts.query("firing"))
        for rule in RULES:  # every rule, 0 when none fires: no series appears from nowhere
            firing.add_metric([rule], by_rule[rule])
        yield firing
        yield from _lines(thresholds)
        yield GaugeMetricFamily(
            "cchc_broker_reachable",
            "1 while the broker answers and takes this worker's writes, else 0.",
            value=float(worker.health() != "broker unreachable"),
        )
        yield GaugeMetricFamily(
            "cchc_unconfirmed_writes_seconds",
            "Age of the oldest batch whose outputs are not yet confirmed written.",
            value=worker.outbox.backlog_seconds(),
        )
        yield GaugeMetricFamily(
            "cchc_sync_progress_waiting",
            "Sync states waiting for their dossier's received snapshot (progress records, "
            "never-received snapshots), held by this worker.",
            value=worker.sync.waiting_count(),
        )
        yield from _quality(worker, units)
        yield from _estimates(worker, units)
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
        for tp, behind in worker.lag(worker.topics.co_partitioned):
            lag.add_metric([tp.topic, str(tp.partition)], behind)
        return lag


UNMATCHED_SERIES = 10
"""Unmatched ``DonViXuLy`` names exported as labels: the most frequent ones; the API
lists the rest."""
OTHER = "(other)"
"""The label of counts outside the registry, or beyond the names exported."""


def _quality(worker: Worker, units: list[str]) -> Iterator[Any]:
    """Sync data quality (contract §9.7), with labels bounded by the registry."""
    marked = GaugeMetricFamily(
        "cchc_unit_sync_dossiers_marked",
        "Sync dossiers the unit counts that carry a quality mark, by mark.",
        labels=["unit_id", "mark"],
    )
    for unit_id in units:
        for mark, count in worker.engine.quality(unit_id).items():
            if count:
                marked.add_metric([unit_id, mark], count)
    yield marked
    invalid = CounterMetricFamily(
        "cchc_sync_records_invalid",
        f"Invalid sync records this worker read, by the registry unit they name (else {OTHER!r}).",
        labels=["unit_id"],
    )
    by_unit: Tally[str] = Tally()
    tally = worker.quality.invalid
    for unit_id, count in tally.counts.items():
        by_unit[unit_id if unit_id in worker.registry else OTHER] += count
    by_unit[OTHER] += tally.others
    for unit_id, count in sorted(by_unit.items()):
        invalid.add_metric([unit_id], count)
    yield invalid
    unmatched = CounterMetricFamily(
        "cchc_sync_records_unmatched",
        f"Sync dossier records whose DonViXuLy names no registry unit, for the "
        f"{UNMATCHED_SERIES} names most seen (else {OTHER!r}): aliases to add.",
        labels=["name"],
    )
    names = worker.quality.unmatched
    top = names.top(UNMATCHED_SERIES)
    for name, count in top:
        unmatched.add_metric([name], count)
    unmatched.add_metric([OTHER], names.total - sum(count for _, count in top))
    yield unmatched


ESTIMATED = "month"
"""The period the national index is estimated over for Prometheus: the portal ranks
provinces monthly (Prometheus keeps the trend; the API answers any period)."""


def _estimates(worker: Worker, units: list[str]) -> Iterator[GaugeMetricFamily]:
    """The national index estimated per unit for the month (``kpi.scorecard``), its
    indicators, and the shares the late-receipt and target rules read (the last 30 days),
    from the counts the alert tick read last (every 30 s: a scrape reads no report
    buckets). Labels stay bounded: units, one period, an indicator of the settings'
    table, a rule of four."""
    points = GaugeMetricFamily(
        "cchc_unit_index766_points",
        "Decision 766 index, estimated from dossiers: points earned of those at stake.",
        labels=["unit_id", "period"],
    )
    stake = GaugeMetricFamily(
        "cchc_unit_index766_stake_points",
        "Decision 766 index, estimated: the points at stake (maxima of the indicators with "
        "something to count).",
        labels=["unit_id", "period"],
    )
    indicator_points = GaugeMetricFamily(
        "cchc_unit_index766_indicator_points",
        "Decision 766 index, estimated: one indicator's points (absent with nothing to count).",
        labels=["unit_id", "period", "indicator"],
    )
    owned = set(units)  # a rebalance since the tick's read may have moved some away
    for unit_id, counts in worker.month.items():
        if unit_id not in owned:
            continue
        found = estimate(counts, worker.indicators)
        points.add_metric([unit_id, ESTIMATED], float(found.points))
        stake.add_metric([unit_id, ESTIMATED], float(found.of))
        for score in found.scores:
            if score.points is not None:
                labels = [unit_id, ESTIMATED, score.indicator.key]
                indicator_points.add_metric(labels, float(score.points))
    shares = GaugeMetricFamily(
        "cchc_unit_recent_ratio",
        "Over the last 30 days, as the alert tick last read it (every 30 s): the share a "
        "late-receipt or target rule reads (received late / received online; settled on "
        "time, received online, paid online).",
        labels=["unit_id", "rule"],
    )
    for unit_id, counts in worker.recent.items():
        if unit_id not in owned:
            continue
        for condition in recent_conditions(counts, worker.alerts.thresholds):
            if condition.value is not None:
                shares.add_metric([unit_id, condition.rule], condition.value)
    yield points
    yield stake
    yield indicator_points
    yield shares


def _lines(thresholds: Thresholds) -> Iterator[GaugeMetricFamily]:
    """The configured Conclusion 91 lines, so rules and dashboards never hard-code them."""
    percent = GaugeMetricFamily(
        "cchc_threshold_percent",
        "A rule's line in percent (CCHC_*_PERCENT): late rates (and late receipts) at or "
        "over it, satisfaction at or under it, a target's share under it, breach.",
        labels=["rule"],
    )
    sample = GaugeMetricFamily(
        "cchc_alert_min_sample",
        "The smallest denominator on which a rule's alert fires (CCHC_ALERT_MIN_*).",
        labels=["rule"],
    )
    for rule, line, minimum in (
        (UNIT_LATE_RATE, thresholds.unit_late, thresholds.min_dossiers),
        (UNIT_SATISFACTION, thresholds.unit_satisfaction, thresholds.min_surveys),
        (OFFICIAL_LATE_RATE, thresholds.official_late, thresholds.min_official_dossiers),
        (LATE_RECEIPT, thresholds.late_receipt, thresholds.min_target_dossiers),
        (TARGET_ON_TIME, thresholds.on_time, thresholds.min_target_dossiers),
        (TARGET_ONLINE, thresholds.online, thresholds.min_target_dossiers),
        (TARGET_ONLINE_PAYMENT, thresholds.online_payment, thresholds.min_target_dossiers),
    ):
        percent.add_metric([rule], float(line))
        sample.add_metric([rule], minimum)
    yield percent
    yield sample


def register(worker: Worker) -> None:
    """Export the worker's figures at ``/metrics`` (one worker per process)."""
    REGISTRY.register(FiguresCollector(worker))
