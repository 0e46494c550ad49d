"""The alert tick: moves the clock and publishes Conclusion 91 alert changes.

Deadlines pass without any event arriving, so every ``TICK_SECONDS`` the engine moves to the
clock's time, and the alert book evaluates the (unit, year) pairs whose figures changed
since the last tick (:func:`kpi.alerts.evaluate_changes`). Each state change is published
to the alerts topic, keyed and partitioned by its unit like every other message of it,
with the alert's next ``sequence`` (kept by the book, continued from the topic after a
restart). A write that times out is sent again and may land twice: subscribers pass over
the copy by its sequence (:class:`kpi.alerts.SeenAlerts`).
"""

from __future__ import annotations

import logging
import time

from kpi.alerts import (
    evaluate_changes,
    evaluate_recent,
    evaluate_risks,
    evaluate_waits,
    month_counts,
    recent_counts,
)
from schemas.codec import encode
from streams import instruments
from streams.worker import Worker

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
"""How often the clock moves and alerts are evaluated: alerts follow events within ~1 s."""
RISK_EVERY_TICKS = 10
"""The early warning's due-soon windows and long waits move slowly: evaluated every 5 s."""
RECENT_EVERY_TICKS = 60
"""Shares over 30 days and a month move slower still: late receipts, the targets and the
month's estimate for the exporter are read every 30 s (each reads every unit's report
buckets, the costliest read the tick makes)."""


def failed(unit_id: str, error: Exception) -> None:
    """One unit's alerts could not be evaluated: the others still are, and so is this one
    at its next change."""
    instruments.ALERT_EVALUATIONS_FAILED.inc()
    log.error("evaluating the alerts of unit %r failed", unit_id, exc_info=error)


def install(worker: Worker) -> None:
    """Register the alert tick on the worker's app."""
    app, engine, book = worker.app, worker.engine, worker.alerts
    ticks = 0

    @app.timer(TICK_SECONDS)
    async def tick() -> None:
        nonlocal ticks
        consuming = worker.consuming and not app.rebalancing
        worker.catch_up.observe(consuming, worker.behind() if consuming else 0)
        if not consuming:
            return
        engine.advance()
        changes = evaluate_changes(engine, book, worker.owns, failed)
        ticks += 1
        if ticks % RISK_EVERY_TICKS == 0:
            units = worker.owned_units()
            changes += evaluate_risks(engine, book, engine.calendar, units, failed)
            changes += evaluate_waits(engine, book, units, failed)
        if ticks % RECENT_EVERY_TICKS == 1:  # from the first tick on
            units = worker.owned_units()
            try:
                worker.recent = recent_counts(engine, units)
                worker.month = month_counts(engine, units)
            except Exception as error:  # as any unit's: the other rules are still evaluated
                worker.recent, worker.month = {}, {}  # never another time's, or units since lost
                failed("(every unit's last 30 days)", error)
            changes += evaluate_recent(book, worker.recent, engine.now, worker.owns, failed)
        sent = []
        for alert in changes:
            key, partition = worker.units.home(alert["unit_id"])
            sent.append(await worker.send(worker.topics.alerts, key, encode(alert), partition))
            since = worker.changed_since.get(alert["unit_id"])
            if since is not None:  # None: the clock alone changed it (a deadline passed)
                instruments.ALERT_LATENCY.observe(max(0.0, time.time() - since))
        worker.changed_since.clear()
        # The book has moved on: a change not written would never be published. Ticks do
        # not overlap, so waiting here keeps each alert's changes in order on the topic.
        await worker.writes.until_written(sent, worker.resend)
