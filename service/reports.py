"""The periodic report (form 06, contract §10) and the dossiers behind its numbers, as
JSON-ready dicts; :mod:`service.workbook` lays the same answers out as xlsx and CSV.

Each worker computes the rows of the units it owns; the worker asked gathers the others'
(:class:`~service.peers.Peers`) and composes the form (:mod:`kpi.report`). A unit's token
reaches its own unit's report and dossiers; the province's report needs an admin token.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from kpi.calendar import WorkingCalendar
from kpi.engine import Behind
from kpi.explain import explain
from kpi.periods import Period, day_of
from kpi.report import (
    COLUMNS,
    HEADER_GROUPS,
    UNCLASSIFIED_NAME,
    ZERO,
    Counts,
    Form06,
    by_field,
    by_unit,
    total,
)
from kpi.rules import ratio
from kpi.units import lookup
from schemas.codec import format_instant
from service.api import (
    MAX_LISTED,
    Api,
    BadRequest,
    Forbidden,
    NotFound,
    period_span,
    whole_number,
)
from service.peers import LOCAL, Peers
from streams.access import Caller

TITLE = "Tình hình, kết quả giải quyết thủ tục hành chính"
TITLE_EN = "Settlement of administrative procedure dossiers"
UNCLASSIFIED_KEY = "unclassified"
"""How the API names the field of dossiers without one (contract §10)."""
FORMATS = ("json", "xlsx", "csv")
MAX_EXPORTED = 20_000
"""Dossiers one downloaded list holds at most (a page of a longer one)."""
OUTCOMES = ("resolved", "returned", "rejected", "stopped", "withdrawn")


def output_format(query: dict[str, str]) -> str:
    """The ``format`` asked for: json (default), xlsx or csv."""
    chosen = query.get("format", "json")
    if chosen not in FORMATS:
        raise BadRequest(f"format {chosen!r} is not json, xlsx or csv")
    return chosen


def field_key(field: str) -> str:
    return field or UNCLASSIFIED_KEY


def counts_json(counts: Counts) -> dict[str, Any]:
    """A row's numbers: the form's 11 columns, then what the report gives beside them."""
    return {
        "columns": list(counts[: len(COLUMNS)]),
        "paused": counts.paused,
        "outcomes": {name: getattr(counts, name) for name in OUTCOMES},
        "surveys": counts.surveys,
        "satisfied": counts.satisfied,
        "satisfaction_index": ratio(counts.satisfied, counts.surveys),
        "balanced": counts.balanced,
    }


def period_json(period: Period, now: int) -> dict[str, Any]:
    """The period's name, its first day, its last day counted so far, and the clock."""
    return {**period_span(period, now), "as_of": format_instant(now)}


def form_json(form: Form06, scope: dict[str, Any], period: dict[str, Any]) -> dict[str, Any]:
    return {
        "form": "06",
        "title": TITLE,
        "title_en": TITLE_EN,
        **period,
        "scope": scope,
        "by": form.by,
        "columns": [
            {"number": number, "name": name, "vi": vi, "en": en}
            for number, (name, vi, en) in enumerate(COLUMNS, start=1)
        ],
        "header_groups": [
            {"vi": vi, "en": en, "first": first, "last": last}
            for vi, en, first, last in HEADER_GROUPS
        ],
        "groups": [
            {
                "level": group.level,
                "name": group.name,
                "rows": [
                    {"key": field_key(line.key), "name": line.name, **counts_json(line.counts)}
                    for line in group.lines
                ],
                "total": counts_json(group.total),
            }
            for group in form.groups
        ],
        "total": counts_json(form.total),
        "balanced": form.balanced,
    }


def working_days_late(calendar: WorkingCalendar, due: int, until: int) -> int:
    """Working days after the due day up to the day of ``until``: how late a dossier due
    at ``due`` is when it ends (or is still open) at ``until``."""
    return calendar.working_days_after(day_of(due - 1), day_of(until))


class Reports:
    def __init__(self, api: Api, peers: Peers) -> None:
        self.api = api
        self.worker = api.worker
        self.peers = peers

    # -- form 06 ------------------------------------------------------------------------

    async def form06(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """What /api/reports/form06 answers: a unit's report by field, or the province's
        by field or by unit; a peer asked by another worker answers its units' rows."""
        period, _ = self.api.period(query.get("period"))
        unit_id = query.get("unit_id") or None
        by = query.get("by", "field")
        if by not in ("field", "unit"):
            raise BadRequest(f"by {by!r} is not field or unit")
        grant = caller.grant
        if unit_id is None and not grant.admin:
            raise Forbidden("the province's report needs an admin token; a unit asks with unit_id")
        if unit_id is not None and not grant.sees_unit(unit_id):
            raise Forbidden(f"this token does not show the report of {unit_id!r}")
        if unit_id is not None and by == "unit":
            raise BadRequest("by=unit is the province's report: leave out unit_id")
        worker = self.worker
        owned = [u for u in worker.owned_units() if unit_id is None or u == unit_id]
        rows = worker.engine.report(owned, period)
        parts: list[dict[str, Any]] = [
            {"unit_id": u, "fields": {f: list(c) for f, c in r.items()}} for u, r in rows.items()
        ]
        parts += await self.peers.gather("/api/reports/form06", query, "parts", caller.token)
        if LOCAL in query:
            return {"parts": parts}
        units = {p["unit_id"]: {f: Counts(*c) for f, c in p["fields"].items()} for p in parts}
        registry = worker.registry
        if unit_id is not None and unit_id not in units and unit_id not in registry:
            raise NotFound(f"unknown unit {unit_id!r}")
        if by == "field":
            form = by_field(units, worker.catalogue.field_names())
        else:
            form = by_unit(units, {u: (unit.level, unit.name) for u, unit in registry.items()})
        if unit_id is None:
            scope = {"province": worker.settings.province}
        else:
            registered = lookup(registry, unit_id)
            scope = {"unit_id": unit_id, "name": registered.name, "level": registered.level}
        return form_json(form, scope, period_json(period, worker.engine.now))

    # -- the dossiers behind a number ---------------------------------------------------

    def behind(self, unit_id: str, query: dict[str, str], exported: bool = False) -> dict[str, Any]:
        """What /api/units/{unit_id}/dossiers answers: the unit's dossiers behind column
        ``column`` (1..11) of its report for the period, filtered, a page at a time (of up
        to :data:`MAX_EXPORTED` for a download)."""
        api, worker = self.api, self.worker
        api.require_unit(unit_id)
        period, _ = api.period(query.get("period"))
        number = whole_number(query, "column", 1, len(COLUMNS))
        column = COLUMNS[number - 1][0]
        most = MAX_EXPORTED if exported else MAX_LISTED
        limit = whole_number(query, "limit", most if exported else 100, most)
        page_number = whole_number(query, "page", 1, 10**9)
        offset = (page_number - 1) * limit
        engine = worker.engine
        found = engine.behind(unit_id, period, column)
        field = query.get("field")
        wanted = None if field is None else "" if field == UNCLASSIFIED_KEY else field
        if wanted is not None:
            known = engine.reports.get(unit_id)
            if wanted and (known is None or not known.has_field(wanted)):
                raise BadRequest(f"field {field!r} has no dossiers in {unit_id!r}")
            found = (d for d in found if _field(d) == wanted)
        checks: list[Callable[[Behind], bool]] = []
        if _flag(query, "late"):
            checks.append(lambda d: bool(d.counts.late or d.counts.overdue))
        if _flag(query, "overdue"):
            checks.append(lambda d: bool(d.counts.overdue))
        if "waiting_days" in query:
            days = whole_number(query, "waiting_days", 30, 3650)
            checks.append(lambda d: self._waited(d, period) > days)
        if checks:  # only a count of all of them says how many pass
            passing = [d for d in found if all(check(d) for check in checks)]
            count, page = len(passing), passing[offset : offset + limit]
        else:  # the report's own cell says how many; read no further than the page
            rows = engine.report([unit_id], period).get(unit_id, {})
            counts = total(rows.values()) if wanted is None else rows.get(wanted, ZERO)
            count = getattr(counts, column)
            page = list(islice(found, offset, offset + limit)) if offset < count else []
        names = worker.catalogue.field_names()
        return {
            "unit_id": unit_id,
            "name": lookup(worker.registry, unit_id).name,
            **period_json(period, engine.now),
            "column": {"number": number, "name": column, "vi": COLUMNS[number - 1][1]},
            "total": count,
            "page": page_number,
            "limit": limit,
            "dossiers": [self._dossier_json(dossier, period, names) for dossier in page],
        }

    def _at(self, period: Period) -> int:
        return period.as_of(self.worker.engine.now)

    def _waited(self, dossier: Behind, period: Period) -> int:
        """Working days the dossier has waited for the citizen at t, 0 if not waiting."""
        t = self._at(period)
        for lo, hi, since in dossier.state.waits():
            if lo < t and (hi is None or t <= hi):
                calendar = self.worker.engine.calendar
                return calendar.working_days_after(day_of(since), day_of(t))
        return 0

    def _dossier_json(
        self, dossier: Behind, period: Period, names: dict[str, str]
    ) -> dict[str, Any]:
        """One dossier of a list: what a clerk calls the citizen or the official about."""
        worker = self.worker
        told = explain(dossier.state, worker.engine.now)
        assert told is not None  # a dossier behind a number was received
        t = self._at(period)
        late_until = told.ended_at if dossier.counts.late else None
        if dossier.counts.overdue:
            late_until = t
        days_late = None
        if late_until is not None and told.effective_due_at is not None:
            days_late = working_days_late(worker.engine.calendar, told.effective_due_at, late_until)
        procedure = told.procedure
        catalogued = worker.catalogue.get(procedure)
        reschedule = dossier.state.reschedule
        return {
            "dossier_id": dossier.dossier_id,
            "official_id": told.official_id,
            "field_code": field_key(told.field),
            "field_name": names.get(told.field, told.field) if told.field else UNCLASSIFIED_NAME,
            "procedure_code": procedure or None,
            "procedure_name": None if catalogued is None else catalogued.name,
            "received_at": format_instant(told.received_at),
            "due_at": None if told.due_at is None else format_instant(told.due_at),
            "ended_at": None if told.ended_at is None else format_instant(told.ended_at),
            "state": told.state,
            "working_days_late": days_late,
            "waiting_working_days": self._waited(dossier, period) or None,
            "apology": reschedule is not None and reschedule.apology,
        }


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "0")
    if value not in ("0", "1", "true", "false"):
        raise BadRequest(f"{name} {value!r} is not 1 or 0")
    return value in ("1", "true")


def _field(dossier: Behind) -> str:
    submission = dossier.state.parts()[0]
    return "" if submission is None else submission.field
