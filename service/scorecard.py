"""The national index of Decision 766, estimated (``GET /api/index766``), as JSON-ready dicts.

Each worker gives its units' counts by procedure for the period (:meth:`Engine.report`);
the worker asked gathers the others' and scores them (:mod:`kpi.scorecard`). Unit-level
numbers only: a public token (a wall screen) sees it all, as it sees units' figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from kpi.report import PROCEDURE, Counts, total
from kpi.rules import ratio
from kpi.scorecard import (
    BANDS,
    GROUPS,
    NOT_FROM_DOSSIERS,
    Estimate,
    Indicator,
    Row,
    band,
    by_procedure,
    by_unit,
    missing,
)
from kpi.units import lookup
from service.api import Api, BadRequest, NotFound
from service.peers import LOCAL, Peers
from service.reports import period_json
from streams.access import Caller

LABEL = "Ước tính Bộ chỉ số 766 từ hồ sơ"
LABEL_EN = "Decision 766 index, estimated from dossiers"
UNNAMED = "Chưa có mã thủ tục"
"""The name of the dossiers whose procedure is not known."""


def points(value: Fraction | None) -> float | None:
    """Points and percents as the API writes them: two decimals."""
    return None if value is None else round(float(value), 2)


def estimate_json(found: Estimate, counts: Counts) -> dict[str, Any]:
    """A row's estimate: its points of those at stake, its indicators, and beside them the
    Conclusion 91 satisfaction index (votes), named apart from 766's."""
    return {
        "points": points(found.points),
        "of": points(found.of),
        "percent": points(found.percent),
        "band": band(found.percent),
        "lost": points(found.lost),
        "indicators": {
            score.indicator.key: {
                "numerator": score.numerator,
                "denominator": score.denominator,
                "ratio": None if score.ratio is None else round(float(score.ratio), 4),
                "points": points(score.points),
                "lost": points(score.lost),
            }
            for score in found.scores
        },
        "dossiers": counts.received,
        "received_late": counts.received_late,
        "satisfaction_index_c91": ratio(counts.satisfied, counts.surveys),
    }


def indicators_json(indicators: Sequence[Indicator]) -> list[dict[str, Any]]:
    return [
        {
            "key": i.key,
            "group": i.group,
            "vi": i.vi,
            "en": i.en,
            "numerator": list(i.numerator),
            "denominator": list(i.denominator),
            "max_points": points(i.max_points),
            "full_at": points(i.full_at),
        }
        for i in indicators
    ]


def missing_json(indicators: Sequence[Indicator]) -> list[dict[str, Any]]:
    """The points the estimate cannot cover, per group, and what they count."""
    return [
        {
            "group": group,
            "vi": GROUPS[group][0],
            "en": GROUPS[group][1],
            "points": points(lacking),
            "what": NOT_FROM_DOSSIERS.get(group, ("", ""))[0],
            "what_en": NOT_FROM_DOSSIERS.get(group, ("", ""))[1],
        }
        for group, lacking in missing(indicators).items()
    ]


class Scorecards:
    def __init__(self, api: Api, peers: Peers) -> None:
        self.api = api
        self.worker = api.worker
        self.peers = peers

    async def estimate(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """What /api/index766 answers: the province by unit (each ranked among its level's,
        with the procedures that cost it most), or a unit's or the province's procedures;
        a peer asked by another worker answers its units' counts by procedure."""
        period, _ = self.api.period(query.get("period"))
        unit_id = query.get("unit_id") or None
        by = query.get("by", "procedure" if unit_id else "unit")
        if by not in ("unit", "procedure"):
            raise BadRequest(f"by {by!r} is not unit or procedure")
        if unit_id is not None and by == "unit":
            raise BadRequest("by=unit is the province's estimate: leave out unit_id")
        worker = self.worker
        owned = [u for u in worker.owned_units() if unit_id is None or u == unit_id]
        rows = worker.engine.report(owned, period, PROCEDURE)
        parts: list[dict[str, Any]] = [
            {"unit_id": u, "procedures": {p: list(c) for p, c in r.items()}}
            for u, r in rows.items()
        ]
        parts += await self.peers.gather("/api/index766", query, "parts", caller.token)
        if LOCAL in query:
            return {"parts": parts}
        units = {
            p["unit_id"]: {code: Counts(*c) for code, c in p["procedures"].items()} for p in parts
        }
        registry = worker.registry
        if unit_id is not None and unit_id not in units and unit_id not in registry:
            raise NotFound(f"unknown unit {unit_id!r}")
        indicators = worker.indicators
        answer: dict[str, Any] = {
            "estimate": True,
            "label": LABEL,
            "label_en": LABEL_EN,
            **period_json(period, worker.engine.now),
            "by": by,
            "indicators": indicators_json(indicators),
            "covered_points": points(sum((i.max_points for i in indicators), Fraction(0))),
            "missing": missing_json(indicators),
            "bands": [
                {"band": key, "from": points(least), "vi": vi, "en": en}
                for least, key, vi, en in BANDS
            ],
        }
        if by == "unit":
            levels = {u: (unit.level, unit.name) for u, unit in registry.items()}
            province, grouped = by_unit(units, levels, indicators)
            answer["scope"] = {"province": worker.settings.province}
            every = [row for level in grouped for row in level.rows]
            answer["total"] = estimate_json(province, total(row.counts for row in every))
            answer["groups"] = [
                {
                    "level": level.level,
                    "name": level.name,
                    "total": estimate_json(level.estimate, total(r.counts for r in level.rows)),
                    "rows": [self._unit_row(row, len(level.rows)) for row in level.rows],
                }
                for level in grouped
            ]
            return answer
        if unit_id is None:
            procedures = merged(units.values())
            answer["scope"] = {"province": worker.settings.province}
        else:
            procedures = units.get(unit_id, {})
            registered = lookup(registry, unit_id)
            answer["scope"] = {
                "unit_id": unit_id,
                "name": registered.name,
                "level": registered.level,
            }
        names = self._procedure_names(procedures)
        whole, procedure_rows = by_procedure(procedures, names, indicators)
        answer["total"] = estimate_json(whole, total(row.counts for row in procedure_rows))
        answer["rows"] = [
            {
                "procedure_code": row.key or None,
                "name": row.name,
                "lost_share": points(row.lost_share),
                **estimate_json(row.estimate, row.counts),
            }
            for row in procedure_rows
        ]
        return answer

    def _unit_row(self, row: Row, of_units: int) -> dict[str, Any]:
        names = self._procedure_names(code for code, _ in row.losing)
        return {
            "unit_id": row.key,
            "name": row.name,
            "rank": row.rank,
            "of_units": of_units,
            **estimate_json(row.estimate, row.counts),
            "losing": [
                {"procedure_code": code or None, "name": names[code], "lost": points(lost)}
                for code, lost in row.losing
                if lost > 0
            ],
        }

    def _procedure_names(self, codes: Iterable[str]) -> dict[str, str]:
        catalogue = self.worker.catalogue
        names = {}
        for code in codes:
            known = catalogue.get(code)
            names[code] = known.name if known is not None else code or UNNAMED
        return names


def merged(units: Iterable[dict[str, Counts]]) -> dict[str, Counts]:
    """Every unit's counts by procedure, added up by procedure."""
    found: dict[str, Counts] = {}
    for procedures in units:
        for code, counts in procedures.items():
            found[code] = found[code].plus(counts) if code in found else counts
    return found
