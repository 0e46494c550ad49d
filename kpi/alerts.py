"""Conclusion 91 alerts (contract §6-7): evaluation and lifecycle, without Kafka.

An alert is identified by (rule, unit_id, official_id or "", period) and is ``firing``
while its rule holds on a large enough sample, ``resolved`` after. :class:`AlertBook`
keeps the last state of every alert and returns a message only on a state change, each
with the alert's next ``sequence`` number::

    >>> book = AlertBook(Thresholds(min_dossiers=1))
    >>> figures = Figures(resolved=10, resolved_late=1, open_overdue=0, surveys=0, satisfied=0)
    >>> changes = book.evaluate_unit("u", 2026, figures, {}, {}, now=0)
    >>> [(a["state"], a["sequence"]) for a in changes]
    [('firing', 1)]
    >>> book.evaluate_unit("u", 2026, figures, {}, {}, now=1)   # no change, no message
    []

Writes to Kafka are at least once, so the alerts topic may hold a message twice;
:class:`SeenAlerts` is how every subscriber's path (SSE, webhooks, ``cchc alerts tail``)
tells a repeat from a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kpi.calendar import WorkingCalendar
from kpi.engine import Engine
from kpi.figures import Figures
from kpi.periods import Period, day_of, month_of, parse_period, year_of, year_period
from kpi.report import Counts, total
from kpi.rules import (
    LATE_RECEIPT,
    LEADER_ACCOUNTABILITY,
    OFFICIAL_LATE_RATE,
    RANK_CONFLICT,
    RISK_WORKING_DAYS,
    TARGET_ON_TIME,
    TARGET_ONLINE,
    TARGET_ONLINE_PAYMENT,
    UNIT_LATE_RATE,
    UNIT_LATE_RATE_RISK,
    UNIT_SATISFACTION,
    WAITING_LONG,
    Thresholds,
    below_target,
    late_rate_breached,
    percent_ratio,
    ratio,
)
from schemas.codec import format_instant
from schemas.records import Instant, ProcessingTime


def alert_id(rule: str, unit_id: str, official_id: str | None, period: str) -> str:
    return f"{rule}|{unit_id}|{official_id or ''}|{period}"


def sequence_of(alert: dict[str, Any]) -> int:
    """An alert message's ``sequence``: 1 for an alert's first message, one more for each
    change after; 0 (unknown) for a message written before messages had one.

    >>> sequence_of({"sequence": 3}), sequence_of({})
    (3, 0)
    """
    sequence = alert.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int | float):
        return 0
    return max(0, int(sequence))


@dataclass(frozen=True)
class Condition:
    """A rule's verdict with the numbers that justify it."""

    rule: str
    holds: bool
    value: float | None
    threshold: float
    numerator: int
    denominator: int
    official_id: str | None = None
    detail: str | None = None


def unit_conditions(
    figures: Figures, thresholds: Thresholds, ranks: dict[int, str], year: int
) -> list[Condition]:
    """The unit rules for one year: late rate, satisfaction, and the ranking rules."""
    breaches = figures.unit_breaches(thresholds)
    late = Condition(
        UNIT_LATE_RATE,
        UNIT_LATE_RATE in breaches and figures.dossiers >= thresholds.min_dossiers,
        ratio(figures.late, figures.dossiers),
        percent_ratio(thresholds.unit_late),
        figures.late,
        figures.dossiers,
    )
    satisfaction = Condition(
        UNIT_SATISFACTION,
        UNIT_SATISFACTION in breaches and figures.surveys >= thresholds.min_surveys,
        ratio(figures.satisfied, figures.surveys),
        percent_ratio(thresholds.unit_satisfaction),
        figures.satisfied,
        figures.surveys,
    )
    conditions = [late, satisfaction]
    rank = ranks.get(year)
    if rank is not None:
        # Ranked "Tốt" in a year the unit was not eligible: justified by the breached rule.
        basis = late if UNIT_LATE_RATE in breaches or not breaches else satisfaction
        conditions.append(
            Condition(
                RANK_CONFLICT,
                rank == "tot" and bool(breaches),
                basis.value,
                basis.threshold,
                basis.numerator,
                basis.denominator,
                detail=f"tot {year}; breaches: {', '.join(breaches)}",
            )
        )
        bad_years = [y for y in (year - 1, year) if ranks.get(y) == "trung_binh"]
        accountable = rank == "yeu" or len(bad_years) == 2
        reason = f"yeu {year}" if rank == "yeu" else f"trung_binh {', '.join(map(str, bad_years))}"
        conditions.append(
            Condition(
                LEADER_ACCOUNTABILITY,
                accountable,
                None,
                0.0,
                1 if rank == "yeu" else len(bad_years),
                1 if rank == "yeu" else 2,
                detail=reason,
            )
        )
    return conditions


def risk_condition(figures: Figures, due_soon: int, thresholds: Thresholds) -> Condition:
    """Within the line now, over it if the dossiers due soon all went late."""
    late, total = figures.late + due_soon, figures.dossiers + due_soon
    holds = (
        due_soon > 0
        and UNIT_LATE_RATE not in figures.unit_breaches(thresholds)
        and late_rate_breached(late, total, thresholds.unit_late)
        and total >= thresholds.min_dossiers
    )
    return Condition(
        UNIT_LATE_RATE_RISK,
        holds,
        ratio(late, total),
        percent_ratio(thresholds.unit_late),
        late,
        total,
        detail=f"{due_soon} due within {RISK_WORKING_DAYS} working days",
    )


NOW = "now"
"""The period of an alert on a state at the clock rather than on a year's figures."""
WAITING_LISTED = 10
"""Dossiers an alert on long waits names (the unit's page lists them all)."""


def waiting_condition(waited: list[tuple[str, int]], paused: int, days: int) -> Condition:
    """Some dossier has waited for the citizen longer than ``days`` working days:
    ``waited`` is each such dossier with its working days, the longest first, of
    ``paused`` dossiers waiting at all.

    >>> waiting_condition([("d1", 41), ("d2", 31)], 5, 30).detail
    '2 waiting more than 30 working days: d1 (41), d2 (31)'
    """
    listed = ", ".join(f"{dossier} ({n})" for dossier, n in waited[:WAITING_LISTED])
    more = len(waited) - WAITING_LISTED
    return Condition(
        WAITING_LONG,
        bool(waited),
        None,
        float(days),
        len(waited),
        paused,
        detail=f"{len(waited)} waiting more than {days} working days: {listed}"
        + (f" and {more} more" if more > 0 else ""),
    )


RECENT = "30d"
"""The period of the late-receipt and target alerts: the clock's day and the 29 before,
a window that moves with the clock (no month boundary makes a unit pass or fail)."""


def recent_conditions(counts: Counts, thresholds: Thresholds) -> list[Condition]:
    """Decree 118's late receipts, and the central targets, on a unit's last 30 days:
    each holds only with at least ``min_target_dossiers`` dossiers in its denominator.

    >>> from kpi.report import ZERO
    >>> counts = ZERO._replace(settled=40, early=30, on_time=9, new_online=30, new_other=10,
    ...                        received_late=3, fee_due=25, paid_online=20)
    >>> [(c.rule, c.holds, c.value) for c in recent_conditions(counts, Thresholds())]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('late_receipt', True, 0.1), ('target_on_time', True, 0.975),
     ('target_online', True, 0.75), ('target_online_payment', False, 0.8)]
    """
    least = thresholds.min_target_dossiers
    late = Condition(
        LATE_RECEIPT,
        counts.new_online >= least
        and late_rate_breached(counts.received_late, counts.new_online, thresholds.late_receipt),
        ratio(counts.received_late, counts.new_online),
        percent_ratio(thresholds.late_receipt),
        counts.received_late,
        counts.new_online,
    )
    received = counts.new_online + counts.new_other
    shares = (
        (TARGET_ON_TIME, counts.early + counts.on_time, counts.settled, thresholds.on_time),
        (TARGET_ONLINE, counts.new_online, received, thresholds.online),
        (TARGET_ONLINE_PAYMENT, counts.paid_online, counts.fee_due, thresholds.online_payment),
    )
    return [late] + [
        Condition(
            rule,
            denominator >= least and below_target(numerator, denominator, target),
            ratio(numerator, denominator),
            percent_ratio(target),
            numerator,
            denominator,
        )
        for rule, numerator, denominator, target in shares
    ]


def official_condition(official: str, figures: Figures, thresholds: Thresholds) -> Condition:
    return Condition(
        OFFICIAL_LATE_RATE,
        bool(figures.official_breaches(thresholds))
        and figures.dossiers >= thresholds.min_official_dossiers,
        ratio(figures.late, figures.dossiers),
        percent_ratio(thresholds.official_late),
        figures.late,
        figures.dossiers,
        official_id=official,
    )


class AlertBook:
    """The last state of every alert of the units a worker owns."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.alerts: dict[str, dict[str, Any]] = {}

    def restore(self, alert: dict[str, Any]) -> None:
        """Take a published alert as the current state (replaying the alerts topic in
        order), unless it repeats one already taken: its next change continues from the
        greatest sequence on the topic."""
        current = self.alerts.get(alert["alert_id"])
        sequence = sequence_of(alert)
        if current is not None and 0 < sequence <= sequence_of(current):
            return
        self.alerts[alert["alert_id"]] = alert

    def evaluate_unit(
        self,
        unit_id: str,
        year: int,
        figures: Figures,
        officials: dict[str, Figures],
        ranks: dict[int, str],
        now: Instant,
    ) -> list[dict[str, Any]]:
        """Alerts whose state changed for this unit and year (one message each)."""
        conditions = unit_conditions(figures, self.thresholds, ranks, year)
        conditions += [official_condition(o, f, self.thresholds) for o, f in officials.items()]
        changes = []
        for condition in conditions:
            change = self._transition(unit_id, str(year), condition, now)
            if change is not None:
                changes.append(change)
        return changes

    def _transition(
        self, unit_id: str, period: str, c: Condition, now: Instant
    ) -> dict[str, Any] | None:
        key = alert_id(c.rule, unit_id, c.official_id, period)
        current = self.alerts.get(key)
        firing = current is not None and current["state"] == "firing"
        if c.holds == firing:
            return None
        if not c.holds and current is None:
            return None
        stamp = format_instant(now)
        alert = {
            "alert_id": key,
            "sequence": 1 + (0 if current is None else sequence_of(current)),
            "rule": c.rule,
            "unit_id": unit_id,
            "official_id": c.official_id,
            "period": period,
            "state": "firing" if c.holds else "resolved",
            "value": c.value,
            "threshold": c.threshold,
            "numerator": c.numerator,
            "denominator": c.denominator,
            "started_at": stamp if c.holds or current is None else current["started_at"],
            "resolved_at": None if c.holds else stamp,
            "evaluated_at": stamp,
        }
        if c.detail is not None:
            alert["detail"] = c.detail
        self.alerts[key] = alert
        return alert

    def evaluate_risk(
        self, unit_id: str, year: int, figures: Figures, due_soon: int, now: Instant
    ) -> dict[str, Any] | None:
        condition = risk_condition(figures, due_soon, self.thresholds)
        return self._transition(unit_id, str(year), condition, now)

    def evaluate_waiting(
        self, unit_id: str, waited: list[tuple[str, int]], paused: int, now: Instant
    ) -> dict[str, Any] | None:
        """A state at the clock, not a year's figure: its period is :data:`NOW`, so that
        an alert firing across New Year is the same alert, resolved when it no longer
        holds."""
        condition = waiting_condition(waited, paused, self.thresholds.waiting_days)
        return self._transition(unit_id, NOW, condition, now)

    def evaluate_recent(self, unit_id: str, counts: Counts, now: Instant) -> list[dict[str, Any]]:
        """The late-receipt and target rules on the unit's last 30 days (:data:`RECENT`)."""
        changes = []
        for condition in recent_conditions(counts, self.thresholds):
            change = self._transition(unit_id, RECENT, condition, now)
            if change is not None:
                changes.append(change)
        return changes

    def query(self, state: str = "firing", unit_id: str | None = None) -> list[dict[str, Any]]:
        return sorted(
            (
                a
                for a in self.alerts.values()
                if (state == "all" or a["state"] == state)
                and (unit_id is None or a["unit_id"] == unit_id)
            ),
            key=lambda a: a["alert_id"],
        )


class SeenAlerts:
    """What one subscriber has had of the alerts topic, so that it gets each (``alert_id``,
    ``sequence``) once although the topic may repeat a message.

    Writes to Kafka are at least once: a write that timed out but had landed is sent again,
    so ``cchc.alerts`` may hold a state change twice. All of an alert's messages are on one
    partition (keyed by its unit), in order, so a message is a **repeat** when its sequence
    is not above the greatest one of its alert earlier in the partition. This keeps that
    greatest sequence (one int per alert id) and, per partition, the offset up to which
    every record has been *noted* (delivered, or passed over as a repeat or as unwanted).

    A consumer that starts mid-topic (from the end, or from a committed offset) must first
    note what came before where it starts, or it would take the first repeat after it for
    news: :meth:`unread` says which offsets that is. A consumer sent back to an offset it
    has noted already (a rebalance, a redelivery) passes over it: :meth:`fresh` is false.
    A message without a sequence (written before messages had one) is never a repeat.

        >>> seen = SeenAlerts()
        >>> firing = {"alert_id": "a", "sequence": 1, "state": "firing"}
        >>> [seen.first(0, offset, firing) for offset in (0, 1)]  # the write was sent twice
        [True, False]
        >>> seen.first(0, 2, firing | {"sequence": 2, "state": "resolved"})
        True
        >>> seen.first(0, 1, firing), seen.unread(0, 5), seen.unread(1, 4)
        (False, 3, 0)
    """

    def __init__(self) -> None:
        self.greatest: dict[str, int] = {}
        """The greatest sequence noted per alert id."""
        self.noted: dict[int, int] = {}
        """Per partition, the offset below which every record has been noted."""

    def unread(self, partition: int, offset: int) -> int | None:
        """Where the records of ``partition`` before ``offset`` that were never noted begin
        (to be read and noted first), or None when there are none."""
        start = self.noted.get(partition, 0)
        return start if start < offset else None

    def fresh(self, partition: int, offset: int, alert: dict[str, Any]) -> bool:
        """Whether the record at ``offset`` is news: not noted yet, and not a repeat."""
        if offset < self.noted.get(partition, 0):
            return False
        sequence = sequence_of(alert)
        return sequence == 0 or sequence > self.greatest.get(alert["alert_id"], 0)

    def note(self, partition: int, offset: int, alert: dict[str, Any] | None = None) -> None:
        """The record at ``offset`` has been had (``alert`` None: one this subscriber does not
        want, or cannot read): later records are judged with it."""
        if alert is not None:
            sequence = sequence_of(alert)
            if sequence > self.greatest.get(alert["alert_id"], 0):
                self.greatest[alert["alert_id"]] = sequence
        self.noted[partition] = max(self.noted.get(partition, 0), offset + 1)

    def first(self, partition: int, offset: int, alert: dict[str, Any]) -> bool:
        """:meth:`fresh`, then :meth:`note`: for a consumer that has it as soon as it
        reads it."""
        fresh = self.fresh(partition, offset, alert)
        self.note(partition, offset, alert)
        return fresh


OnError = Callable[[str, Exception], None]
"""Told of a unit whose evaluation raised; the other units are still evaluated."""


def _raise(unit_id: str, error: Exception) -> None:
    raise error


def evaluate_changes(
    engine: Engine, book: AlertBook, owns: Callable[[str], bool], on_error: OnError = _raise
) -> list[dict[str, Any]]:
    """Alert changes for every (unit, year) whose figures changed since the last look.

    Years after the clock's are skipped (a frozen clock may precede some events).
    """
    clock_year = year_of(engine.now)
    changes = []
    for unit_id, years in engine.take_dirty().items():
        if not owns(unit_id):
            continue
        try:
            officials = engine.officials(unit_id)
            ranks = engine.ranks(unit_id)
            for year in sorted(y for y in years if y <= clock_year):
                period = year_period(year)
                changes += book.evaluate_unit(
                    unit_id,
                    year,
                    engine.figures(unit_id, period),
                    {o: engine.figures(unit_id, period, o) for o in officials},
                    ranks,
                    engine.now,
                )
        except Exception as error:
            on_error(unit_id, error)
    return changes


def evaluate_risks(
    engine: Engine,
    book: AlertBook,
    calendar: WorkingCalendar,
    units: Iterable[str],
    on_error: OnError = _raise,
) -> list[dict[str, Any]]:
    """The early-warning rule for the clock's year, for every unit given."""
    until = calendar.deadline(engine.now, ProcessingTime(RISK_WORKING_DAYS, "working_days"))
    due = engine.due_within(until)
    year = year_of(engine.now)
    period = year_period(year)

    def evaluate(unit_id: str) -> dict[str, Any] | None:
        figures = engine.figures(unit_id, period)
        due_soon = len(due.get(unit_id, ()))
        return book.evaluate_risk(unit_id, year, figures, due_soon, engine.now)

    return _each_unit(units, evaluate, on_error)


def evaluate_waits(
    engine: Engine, book: AlertBook, units: Iterable[str], on_error: OnError = _raise
) -> list[dict[str, Any]]:
    """The rule on dossiers waiting for the citizen too long, for every unit given: the
    unit office should call the citizen or close the dossier."""
    calendar, now = engine.calendar, engine.now
    today = day_of(now)
    paused = engine.paused_by_unit()

    def evaluate(unit_id: str) -> dict[str, Any] | None:
        dossiers = paused.get(unit_id, [])
        waited = [
            (d.dossier_id, calendar.working_days_after(day_of(d.paused_at), today))
            for d in dossiers
        ]
        waited = [(d, n) for d, n in waited if n > book.thresholds.waiting_days]
        return book.evaluate_waiting(unit_id, waited, len(dossiers), now)

    return _each_unit(units, evaluate, on_error)


def recent_counts(engine: Engine, units: Iterable[str]) -> dict[str, Counts]:
    """Each unit's counts of the last 30 days (:data:`RECENT`), all fields together."""
    return _unit_counts(engine, units, parse_period(RECENT, engine.now))


def month_counts(engine: Engine, units: Iterable[str]) -> dict[str, Counts]:
    """Each unit's counts of the clock's calendar month so far."""
    return _unit_counts(engine, units, month_of(day_of(engine.now)))


def _unit_counts(engine: Engine, units: Iterable[str], period: Period) -> dict[str, Counts]:
    units = list(units)
    found = engine.report(units, period)
    return {unit_id: total(found.get(unit_id, {}).values()) for unit_id in units}


def evaluate_recent(
    book: AlertBook,
    recent: dict[str, Counts],
    now: Instant,
    owns: Callable[[str], bool],
    on_error: OnError = _raise,
) -> list[dict[str, Any]]:
    """Late receipts and the central targets for every unit of ``recent`` (its counts of
    the last 30 days, :func:`recent_counts`) that the worker still ``owns``."""
    changes = []
    for unit_id, counts in recent.items():
        if not owns(unit_id):
            continue
        try:
            changes += book.evaluate_recent(unit_id, counts, now)
        except Exception as error:
            on_error(unit_id, error)
    return changes


def _each_unit(
    units: Iterable[str], evaluate: Callable[[str], dict[str, Any] | None], on_error: OnError
) -> list[dict[str, Any]]:
    """The changes ``evaluate`` finds for each unit; a unit whose evaluation raises is
    told to ``on_error`` and the others are still evaluated."""
    changes = []
    for unit_id in units:
        try:
            change = evaluate(unit_id)
        except Exception as error:
            on_error(unit_id, error)
            continue
        if change is not None:
            changes.append(change)
    return changes
