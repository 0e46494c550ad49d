"""What a worker's API should answer for a set of events: the independent recount."""

from __future__ import annotations

from typing import Any

import orjson

from kpi.periods import parse_period
from schemas.codec import decode, parse_instant
from schemas.records import Event, EventKind
from tests.integration.conftest import WorkerProcess
from tests.recount import Row, recount


def records(events: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    kinds = {f"cchc.{kind.value}": kind for kind in EventKind}
    return [decode(kinds[topic], orjson.dumps(event)) for topic, event in events]


def expected_api(
    events: list[Event], period_text: str, clock_text: str
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    clock = parse_instant(clock_text, "clock")
    period = parse_period(period_text, clock)
    rows, orphans = recount(events, period, clock)

    def shape(row: Row) -> dict[str, Any]:
        late, total = row.resolved_late + row.open_overdue, row.resolved + row.open_overdue
        return {
            "resolved": row.resolved,
            "resolved_late": row.resolved_late,
            "open_overdue": row.open_overdue,
            "late_rate": late / total if total else None,
            "surveys": row.surveys,
            "satisfied": row.satisfied,
            "satisfaction_index": row.satisfied / row.surveys if row.surveys else None,
            "late_rate_resolved": row.resolved_late / row.resolved if row.resolved else None,
            "paused": row.paused,
            "rescheduled": row.rescheduled,
            "apologised": row.apologised,
        }

    units = {
        unit: shape(row) | {"orphans": orphans.get(unit, 0)}
        for (unit, official), row in rows.items()
        if official is None
    }
    officials = {
        (unit, official): shape(row)
        for (unit, official), row in rows.items()
        if official is not None and row != Row()
    }
    return units, officials


def api_matches(
    worker: WorkerProcess, events: list[Event], clock: str, periods: list[str]
) -> list[str]:
    """Differences between the worker's API and the recount (empty when equal)."""
    problems = []
    for period in periods:
        units, officials = expected_api(events, period, clock)
        status, body = worker.get(f"/api/units?period={period}")
        assert status == 200, body
        got = {row["unit_id"]: row for row in body["units"]}
        for unit_id, expected in units.items():
            row = got.get(unit_id)
            if row is None or {k: row[k] for k in expected} != expected:
                problems.append(f"{period} {unit_id}: {row} != {expected}")
        for unit_id, row in got.items():
            if unit_id not in units and (row["resolved"] or row["open_overdue"] or row["surveys"]):
                problems.append(f"{period} {unit_id}: unexpected {row}")
        status, body = worker.get(f"/api/officials?period={period}")
        got_officials = {
            (r["unit_id"], r["official_id"]): {k: r[k] for k in next(iter(officials.values()))}
            for r in body["officials"]
        }
        if got_officials != officials:
            keys = set(got_officials) | set(officials)
            diff = {
                k: (got_officials.get(k), officials.get(k))
                for k in keys
                if got_officials.get(k) != officials.get(k)
            }
            problems.append(f"{period} officials differ (got, expected): {diff}")
    return problems
