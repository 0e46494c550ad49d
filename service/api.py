"""The answers of the HTTP API (contract §8) as JSON-ready dicts, from the worker's engine.

:class:`Api` answers from this worker's figures; lists of every unit also gather the other
workers' local answers (:class:`~service.peers.Peers`). The views in :mod:`service.web`
only route requests here and turn exceptions into statuses: :class:`BadRequest` and
:class:`~kpi.periods.PeriodError` are 400, :class:`NotFound` is 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from kpi.alerts import Condition, recent_conditions
from kpi.engine import DueDossier, PausedDossier
from kpi.explain import Explanation
from kpi.periods import Period, date_of_day, day_of, month_of, parse_period, week_of
from kpi.quality import Tally
from kpi.report import total
from kpi.rules import (
    LATE_RECEIPT,
    RULE_NAMES,
    TARGET_ON_TIME,
    TARGET_ONLINE,
    TARGET_ONLINE_PAYMENT,
    percent_ratio,
)
from kpi.units import lookup
from schemas.codec import format_instant
from schemas.dvcqg import mark_names
from schemas.records import ProcessingTime
from service.peers import LOCAL, PeerError, Peers
from streams.access import Caller, Grant
from streams.catchup import merged
from streams.worker import Worker

MAX_LISTED = 1000
"""Dossiers one list answer gives at most (its ``total`` counts them all)."""
UNITS_STREAM_SECONDS = 0.5
"""How often an open screen's units stream asks for a fresh snapshot."""


class NotFound(LookupError):
    """An unknown unit (404)."""


class BadRequest(ValueError):
    """A query parameter that cannot be used (400)."""


class Forbidden(PermissionError):
    """The caller's token does not reach this (403)."""


def whole_number(query: dict[str, str], name: str, default: int, high: int) -> int:
    """``query[name]`` as a whole number 1..high.

    >>> whole_number({"days": "7"}, "days", 3, 60)
    7
    >>> whole_number({}, "days", 3, 60)
    3
    >>> whole_number({"days": "²"}, "days", 3, 60)
    Traceback (most recent call last):
    ...
    service.api.BadRequest: days '²' is not a whole number 1..60
    """
    text = query.get(name, str(default))
    # isdecimal() alone admits other scripts' digits, and isdigit() "²", which int() refuses.
    if not (text.isascii() and text.isdecimal()) or not 1 <= int(text) <= high:
        raise BadRequest(f"{name} {text!r} is not a whole number 1..{high}")
    return int(text)


def _rows(dossiers: Sequence[DueDossier] | Sequence[PausedDossier]) -> list[dict[str, Any]]:
    """Dossiers as JSON: id, official, and their instant (``due_at`` or ``paused_at``)."""
    return [
        {
            "dossier_id": dossier.dossier_id,
            "official_id": dossier.official_id,
            dossier._fields[2]: format_instant(dossier[2]),
        }
        for dossier in dossiers
    ]


def _instant(at: int | None) -> str | None:
    return None if at is None else format_instant(at)


def dossier_json(unit_id: str, dossier_id: str, told: Explanation) -> dict[str, Any]:
    """A dossier's explanation as contract §8 writes it."""
    detail = told.detail
    return {
        "unit_id": unit_id,
        "dossier_id": dossier_id,
        "source": told.source,
        "state": told.state,
        "late": told.late,
        "received_at": format_instant(told.received_at),
        "due_at": _instant(told.due_at),
        "effective_due_at": _instant(told.effective_due_at),
        "ended_at": _instant(told.ended_at),
        "official_id": told.official_id,
        "procedure_code": told.procedure or None,
        "field_code": told.field or None,
        "channel": detail.channel or None,
        "pauses": [
            {
                "reason": "supplement" if pause.supplement else "financial_obligation",
                "paused_at": format_instant(pause.at),
                "resumed_at": _instant(pause.resumed),
            }
            for pause in told.pauses
        ],
        "supplement_requests": told.supplement_requests,
        "quality": mark_names(detail.marks),
    }


def period_span(period: Period, now: int) -> dict[str, Any]:
    """A period's name, its first day and its last day counted so far."""
    last_day = min(period.end_day, day_of(now) + 1) - 1
    return {
        "period": period.name,
        "from": date_of_day(period.first_day).isoformat(),
        "to": date_of_day(last_day).isoformat(),
        "complete": period.end <= now,
    }


def condition_json(condition: Condition) -> dict[str, Any]:
    """A share against its line (a target, or the late-receipt threshold); ``alert``: the
    rule holds, with enough dossiers."""
    return {
        "numerator": condition.numerator,
        "denominator": condition.denominator,
        "share": condition.value,
        "line": condition.threshold,
        "alert": condition.holds,
    }


def merge_quality(parts: list[dict[str, Any]], grant: Grant) -> dict[str, Any]:
    """Every worker's :meth:`Api._quality_part` as one answer: invalid records of a unit
    may be read by any worker, so counts add up.

    >>> one = {"marks": {"a": {"no_deadline": 2}}, "invalid": {"a": 1, "b": 3}}
    >>> other = {"marks": {}, "invalid": {"a": 1}}
    >>> units = merge_quality([one, other], Grant("t", frozenset({"unit:a"})))["units"]
    >>> [(row["unit_id"], row["invalid_records"]) for row in units]
    [('a', 2), ('b', 3)]
    """
    marked: dict[str, dict[str, int]] = {}
    invalid: Tally = Tally(cap=10**9)
    unmatched: Tally = Tally(cap=10**9)
    for part in parts:
        marked.update(part["marks"])
        for unit_id, count in part["invalid"].items():
            invalid.add(unit_id, count)
        for name, count in part.get("unmatched", ()):
            unmatched.add(name, count)
    units = sorted({*marked, *invalid.counts})
    answer: dict[str, Any] = {
        "units": [
            {
                "unit_id": unit_id,
                "dossiers_marked": marked.get(unit_id, {}),
                "invalid_records": invalid.counts.get(unit_id, 0),
            }
            for unit_id in units
        ]
    }
    if grant.admin:
        top = unmatched.top(MAX_LISTED)
        answer |= {
            "invalid_records_unattributed": sum(p["invalid_other"] for p in parts),
            "progress_waiting": sum(p["waiting"] for p in parts),
            "unmatched": [{"name": name, "records": count} for name, count in top],
            "unmatched_other_records": sum(p["unmatched_other"] for p in parts)
            + unmatched.total
            - sum(count for _, count in top),
        }
    return answer


class Api:
    def __init__(self, worker: Worker, peers: Peers) -> None:
        self.worker = worker
        self.peers = peers
        self._snapshots: dict[tuple[tuple[str, str], ...], tuple[float, asyncio.Future[Any]]] = {}

    def period(self, text: str | None) -> tuple[Period, str]:
        """The period asked for (default: the clock's year) and the clock's time."""
        engine = self.worker.engine
        engine.advance()
        return (
            parse_period(text, engine.now, self.worker.settings.report_cut_off_day),
            format_instant(engine.now),
        )

    def require_unit(self, unit_id: str) -> None:
        worker = self.worker
        if unit_id not in worker.engine.units and unit_id not in worker.registry:
            raise NotFound(f"unknown unit {unit_id!r}")

    # -- one unit, answered by its owner ------------------------------------------------

    def unit(self, unit_id: str, period: Period) -> dict[str, Any]:
        worker = self.worker
        self.require_unit(unit_id)
        figures = worker.engine.figures(unit_id, period)
        breaches = figures.unit_breaches(worker.settings.thresholds)
        registered = lookup(worker.registry, unit_id)
        return {
            "unit_id": unit_id,
            "name": registered.name,
            "type": registered.type,
            "level": registered.level,
            **figures.as_json(),
            "breaches": breaches,
            "eligible_good": not breaches,
            "orphans": worker.engine.orphans(unit_id),
        }

    def officials(self, unit_id: str, period: Period) -> list[dict[str, Any]]:
        engine, thresholds = self.worker.engine, self.worker.settings.thresholds
        rows = []
        for official in engine.officials(unit_id):
            figures = engine.figures(unit_id, period, official)
            if not figures.active:
                continue
            breaches = figures.official_breaches(thresholds)
            rows.append(
                {
                    "unit_id": unit_id,
                    "official_id": official,
                    **figures.as_json(),
                    "breaches": breaches,
                    "eligible_hoan_thanh_tot": not breaches,
                }
            )
        return rows

    def due_soon(self, unit_id: str, days: int) -> dict[str, Any]:
        """Open dossiers that turn overdue within ``days`` working days, those already
        overdue (oldest first), and those waiting inside a pause for the citizen's papers
        or financial obligation (longest waiting first): a paused dossier's clock stands
        still, so it is listed apart, and among the overdue only when it already is."""
        self.require_unit(unit_id)
        engine = self.worker.engine
        engine.advance()
        until = engine.calendar.deadline(engine.now, ProcessingTime(days, "working_days"))
        return {
            "unit_id": unit_id,
            "as_of": format_instant(engine.now),
            "days": days,
            "until": format_instant(until),
            "dossiers": _rows(engine.due_within(until).get(unit_id, [])),
            "overdue": _rows(engine.due_within(engine.now - 1, since=0).get(unit_id, [])),
            "paused": _rows(engine.paused_dossiers(unit_id)),
        }

    def late(self, unit_id: str, period: Period, limit: int) -> dict[str, Any]:
        """The unit's dossiers that ended late in the period, the latest first, at most
        ``limit`` of them (``total`` counts all), from its index of late ends."""
        self.require_unit(unit_id)
        engine = self.worker.engine
        engine.advance()
        found = engine.late_dossiers(unit_id, period)
        return {
            "unit_id": unit_id,
            "period": period.name,
            "as_of": format_instant(engine.now),
            "total": len(found),
            "dossiers": [
                {"dossier_id": dossier_id, "ended_at": format_instant(at)}
                for dossier_id, at in found[:limit]
            ],
        }

    def late_receipts(self, unit_id: str, period: Period, limit: int) -> dict[str, Any]:
        """The unit's online dossiers received in the period, and those received late
        (Decree 118), per official (the dossier's official, as the figures name it), and
        the late ones, at most ``limit``: read from the unit's index of receipts, each
        dossier checked by the report's own sums."""
        self.require_unit(unit_id)
        engine = self.worker.engine
        engine.advance()
        online: dict[str | None, int] = {}
        late: dict[str | None, int] = {}
        dossiers: list[dict[str, Any]] = []
        for found in engine.behind(unit_id, period, "new_online"):
            official = found.state.official
            online[official] = online.get(official, 0) + 1
            if found.counts.received_late:
                late[official] = late.get(official, 0) + 1
                if len(dossiers) < limit:
                    submission = found.state.parts()[0]
                    assert submission is not None  # received in the period
                    dossiers.append(
                        {
                            "dossier_id": found.dossier_id,
                            "official_id": official,
                            "received_at": format_instant(submission.at),
                        }
                    )
        ordered = sorted(online, key=lambda official: (-late.get(official, 0), official or ""))
        rows = [
            {
                "official_id": official,
                "received_online": online[official],
                "received_late": late.get(official, 0),
                "share": late.get(official, 0) / online[official],
            }
            for official in ordered
        ]
        return {
            "unit_id": unit_id,
            "period": period.name,
            "as_of": format_instant(engine.now),
            "received_online": sum(online.values()),
            "received_late": sum(late.values()),
            "officials": rows,
            "dossiers": dossiers,
        }

    def daily(self, unit_id: str, days: int) -> dict[str, Any]:
        """Per local day: resolved, late, surveys, satisfied, rescheduled and apologised,
        for the last ``days`` days."""
        self.require_unit(unit_id)
        engine = self.worker.engine
        engine.advance()
        today = day_of(engine.now)
        rows = [
            {
                "date": date_of_day(counts.day).isoformat(),
                "resolved": counts.resolved,
                "resolved_late": counts.resolved_late,
                "surveys": counts.surveys,
                "satisfied": counts.satisfied,
                "rescheduled": counts.rescheduled,
                "apologised": counts.apologised,
            }
            for counts in engine.daily(unit_id, today - days + 1, today + 1)
        ]
        return {"unit_id": unit_id, "as_of": format_instant(engine.now), "days": rows}

    def targets(self, unit_id: str, weeks: int, months: int) -> dict[str, Any]:
        """The central targets tracker: per ISO week and per calendar month, the latest
        first, the unit's shares settled on time, received online and paid online against
        their targets, and its online dossiers received late (Decree 118)."""
        self.require_unit(unit_id)
        engine = self.worker.engine
        engine.advance()
        today = day_of(engine.now)
        thresholds = self.worker.alerts.thresholds

        def rows(periods: list[Period]) -> list[dict[str, Any]]:
            found = []
            for period in periods:
                counts = total(engine.report([unit_id], period).get(unit_id, {}).values())
                found.append(
                    {
                        **period_span(period, engine.now),
                        **{
                            condition.rule: condition_json(condition)
                            for condition in recent_conditions(counts, thresholds)
                        },
                    }
                )
            return found

        week_list, month_list = [week_of(today)], [month_of(today)]
        while len(week_list) < weeks:
            week_list.append(week_of(week_list[-1].first_day - 1))
        while len(month_list) < months:
            month_list.append(month_of(month_list[-1].first_day - 1))
        return {
            "unit_id": unit_id,
            "as_of": format_instant(engine.now),
            "targets": {
                TARGET_ON_TIME: percent_ratio(thresholds.on_time),
                TARGET_ONLINE: percent_ratio(thresholds.online),
                TARGET_ONLINE_PAYMENT: percent_ratio(thresholds.online_payment),
                LATE_RECEIPT: percent_ratio(thresholds.late_receipt),
            },
            "min_dossiers": thresholds.min_target_dossiers,
            "weeks": rows(week_list),
            "months": rows(month_list),
        }

    # -- lists, gathered from every worker ----------------------------------------------

    async def units_snapshot(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """What /api/units answers: every unit, this worker's and the others'."""
        period, as_of = self.period(query.get("period"))
        rows = [self.unit(unit_id, period) for unit_id in self.worker.owned_units()]
        rows += await self.peers.gather("/api/units", query, "units", caller.token)
        rows.sort(key=lambda row: row["unit_id"])
        return {"period": period.name, "as_of": as_of, "units": rows}

    async def shared_units_snapshot(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """:meth:`units_snapshot`, computed at most once per ``UNITS_STREAM_SECONDS`` for
        every open screen asking the same: each screen's stream polls it that often, and a
        snapshot costs every worker the figures of all its units."""
        key = tuple(sorted(query.items()))
        now = time.monotonic()
        cached = self._snapshots.get(key)
        if cached is None or now - cached[0] >= UNITS_STREAM_SECONDS:
            fresh = {k: v for k, v in self._snapshots.items() if now - v[0] < UNITS_STREAM_SECONDS}
            snapshot = asyncio.ensure_future(self.units_snapshot(query, caller))
            cached = fresh[key] = (now, snapshot)
            self._snapshots = fresh  # queries no screen asks any more are forgotten
        # Shielded: a screen that goes away must not cancel the others' snapshot.
        return await asyncio.shield(cached[1])

    async def officials_snapshot(
        self, query: dict[str, str], unit_id: str | None, caller: Caller
    ) -> Any:
        """What /api/officials answers: one unit's officials, or those of every unit the
        caller may see."""
        period, as_of = self.period(query.get("period"))
        grant = caller.grant
        if unit_id is None:
            units = [u for u in self.worker.owned_units() if grant.sees_unit(u)]
            rows = [row for u in units for row in self.officials(u, period)]
            rows += await self.peers.gather("/api/officials", query, "officials", caller.token)
        else:
            if not grant.sees_unit(unit_id):
                raise Forbidden(f"this token does not show the officials of {unit_id!r}")
            self.require_unit(unit_id)
            rows = self.officials(unit_id, period)
        rows.sort(key=lambda row: (row["unit_id"], row["official_id"]))
        return {"period": period.name, "as_of": as_of, "officials": rows}

    async def alerts(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """Alerts in a state; an official's alerts only for a token of that unit."""
        state = query.get("state", "firing")
        if state not in ("firing", "resolved", "all"):
            raise BadRequest(f"state {state!r} is not firing, resolved or all")
        rows = [
            alert
            for alert in self.worker.alerts.query(state, query.get("unit_id"))
            if caller.grant.sees_alert(alert)
        ]
        rows += await self.peers.gather("/api/alerts", query, "alerts", caller.token)
        rows.sort(key=lambda alert: alert["alert_id"])
        return {"alerts": rows}

    async def dossiers(
        self, dossier_id: str, query: dict[str, str], caller: Caller
    ) -> dict[str, Any]:
        """What /api/dossiers/{dossier_id} answers: every unit's dossier of that id among
        the units the caller may see, each found by its key (no dossier is scanned)."""
        grant = caller.grant
        if not grant.admin and not grant.units:
            raise Forbidden("explaining a dossier needs a unit's token or an admin token")
        engine = self.worker.engine
        engine.advance()
        rows = []
        for unit_id in self.worker.owned_units():
            told = engine.explain(unit_id, dossier_id) if grant.sees_unit(unit_id) else None
            if told is not None:
                rows.append(dossier_json(unit_id, dossier_id, told))
        path = f"/api/dossiers/{quote(dossier_id, safe='')}"
        rows += await self.peers.gather(path, query, "dossiers", caller.token)
        rows.sort(key=lambda row: row["unit_id"])
        return {"as_of": format_instant(engine.now), "dossiers": rows}

    async def sync_quality(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """What /api/sync/quality answers (contract §9.7): per unit the caller may see, its
        dossiers with each quality mark and its invalid sync records; for an admin, also
        the progress records still waiting and the unmatched ``DonViXuLy`` names."""
        grant = caller.grant
        if not grant.admin and not grant.units:
            raise Forbidden("sync quality needs a unit's token or an admin token")
        parts = [self._quality_part(caller)]
        parts += await self.peers.gather("/api/sync/quality", query, "parts", caller.token)
        if LOCAL in query:  # a peer's share, merged by the worker asked
            return {"parts": parts}
        return {"as_of": format_instant(self.worker.engine.now), **merge_quality(parts, grant)}

    def _quality_part(self, caller: Caller) -> dict[str, Any]:
        """This worker's counts, as far as the caller may see them."""
        worker, grant = self.worker, caller.grant
        marks = {u: worker.engine.quality(u) for u in worker.owned_units() if grant.sees_unit(u)}
        invalid = worker.quality.invalid
        part: dict[str, Any] = {
            "marks": {unit: counts for unit, counts in marks.items() if any(counts.values())},
            "invalid": {u: n for u, n in invalid.counts.items() if grant.sees_unit(u)},
        }
        if grant.admin:
            unmatched = worker.quality.unmatched
            part |= {
                "invalid_other": invalid.others,
                "waiting": worker.sync.waiting_count(),
                "unmatched": unmatched.top(MAX_LISTED),
                "unmatched_other": unmatched.others
                + unmatched.total
                - sum(count for _, count in unmatched.top(MAX_LISTED)),
            }
        return part

    async def info(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """What screens need to know of this deployment (demo data, clock, rules, lines,
        whether the workers still read history) and of the caller's token."""
        settings = self.worker.settings
        thresholds = settings.thresholds
        mine = self.worker.catch_up.describe()
        if LOCAL in query:
            return {"catch_up": [mine]}
        try:
            others = await self.peers.gather("/api/info", query, "catch_up", caller.token)
            catch_up = merged([mine, *others])
        except (PeerError, KeyError, TypeError):  # one left, starts, or runs an older version
            catch_up = merged([mine, {"phase": "recovering", "behind": 0, "progress": None}])
        return {
            "catch_up": catch_up,
            "demo": settings.demo,
            "clock": settings.clock.mode,
            "as_of": format_instant(self.worker.engine.now),
            "report_cut_off_day": settings.report_cut_off_day,
            "rules": RULE_NAMES,
            "access": caller.grant.describe(),
            "thresholds": {
                "unit_late": percent_ratio(thresholds.unit_late),
                "unit_satisfaction": percent_ratio(thresholds.unit_satisfaction),
                "official_late": percent_ratio(thresholds.official_late),
            },
        }
