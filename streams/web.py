"""HTTP views on the worker's web server (contract §8).

Each worker holds the figures of the units whose partitions it owns. A request about one
unit is answered by its owner (forwarded once if it arrived elsewhere); a list of all units
is gathered from every worker. So any worker answers for every unit.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.figures import Figures
from agents.periods import Period, PeriodError, parse_period
from schemas.codec import encode, format_instant
from streams.metrics import REGISTRY

if TYPE_CHECKING:
    from streams.app import Worker

LOCAL = "local"
"""Query flag on forwarded requests: answer from this worker only, never forward again."""


class NotFound(LookupError):
    pass


def json_response(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(encode(body), content_type="application/json", status=status)


def error_response(web: Any, status: int, message: str) -> Any:
    return json_response(web, {"error": message}, status)


class Api:
    """Figures as JSON, from this worker's engine or from the worker that owns a unit."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._session: aiohttp.ClientSession | None = None

    # -- local answers ----------------------------------------------------------------

    def period(self, text: str | None) -> tuple[Period, Any]:
        engine = self.worker.engine
        engine.advance()
        return parse_period(text, engine.now), format_instant(engine.now)

    def local_unit_ids(self) -> list[str]:
        worker = self.worker
        seen = set(worker.engine.units) | set(worker.registry)
        return sorted(unit for unit in seen if worker.owns(unit))

    def unit(self, unit_id: str, period: Period) -> dict[str, Any]:
        worker = self.worker
        if unit_id not in worker.engine.units and unit_id not in worker.registry:
            raise NotFound(f"unknown unit {unit_id!r}")
        figures = worker.engine.figures(unit_id, period)
        breaches = figures.unit_breaches(worker.settings.thresholds)
        totals = worker.engine.units.get(unit_id)
        registered = worker.registry.get(unit_id)
        return {
            "unit_id": unit_id,
            "name": registered.name if registered else unit_id,
            **figures.as_json(),
            "breaches": breaches,
            "eligible_good": not breaches,
            "orphans": totals.orphans if totals else 0,
        }

    def officials(self, unit_id: str, period: Period) -> list[dict[str, Any]]:
        engine, thresholds = self.worker.engine, self.worker.settings.thresholds
        totals = engine.units.get(unit_id)
        rows = []
        for official in sorted(totals.officials() if totals else ()):
            figures: Figures = engine.figures(unit_id, period, official)
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

    # -- other workers --------------------------------------------------------------

    def owner_url(self, unit_id: str) -> str | None:
        """The web URL of the worker owning the unit; None when it is this one or unknown."""
        worker = self.worker
        if worker.owns(unit_id):
            return None
        partition = worker.intake.home(unit_id)[1]
        changelog = worker.table.changelog_topic.get_topic_name()
        for url, topics in worker.app.router.table_metadata(worker.table.name).items():
            if partition in topics.get(changelog, ()):
                return str(url).rstrip("/")
        return None

    def peer_urls(self) -> list[str]:
        worker = self.worker
        own = worker.settings.web_url.rstrip("/")
        hosts = worker.app.router.table_metadata(worker.table.name)
        return [str(url).rstrip("/") for url in hosts if str(url).rstrip("/") != own]

    async def fetch(self, url: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._session.get(url + path, params=query | {LOCAL: "1"}) as response:
            return response.status, await response.json()


def install_views(worker: Worker) -> None:
    app = worker.app
    api = Api(worker)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        if worker.consuming and not app.rebalancing:
            return json_response(web, {"status": "ok"})
        return json_response(web, {"status": "starting"}, status=503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the header carries it whole.
        return web.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/api/units")
    async def units(web: Any, request: Any) -> Any:
        query = dict(request.query)
        try:
            period, as_of = api.period(query.get("period"))
        except PeriodError as error:
            return error_response(web, 400, str(error))
        rows = [api.unit(unit_id, period) for unit_id in api.local_unit_ids()]
        if LOCAL not in query:
            answers = await asyncio.gather(
                *(api.fetch(url, "/api/units", query) for url in api.peer_urls())
            )
            for status, body in answers:
                if status != 200:
                    return json_response(web, body, status)
                rows.extend(body["units"])
        rows.sort(key=lambda row: row["unit_id"])
        return json_response(web, {"period": period.name, "as_of": as_of, "units": rows})

    @app.page("/api/units/{unit_id}")
    async def unit(web: Any, request: Any, unit_id: str) -> Any:
        query = dict(request.query)
        owner = None if LOCAL in query else api.owner_url(unit_id)
        if owner is not None:
            status, body = await api.fetch(owner, f"/api/units/{unit_id}", query)
            return json_response(web, body, status)
        try:
            period, _ = api.period(query.get("period"))
            body = api.unit(unit_id, period) | {"officials": api.officials(unit_id, period)}
        except PeriodError as error:
            return error_response(web, 400, str(error))
        except NotFound as error:
            return error_response(web, 404, str(error))
        return json_response(web, body)

    @app.page("/api/officials")
    async def officials(web: Any, request: Any) -> Any:
        query = dict(request.query)
        try:
            period, as_of = api.period(query.get("period"))
        except PeriodError as error:
            return error_response(web, 400, str(error))
        unit_id = query.get("unit_id")
        if unit_id is None:
            rows = [row for u in api.local_unit_ids() for row in api.officials(u, period)]
            peers = [] if LOCAL in query else api.peer_urls()
        else:
            owner = None if LOCAL in query else api.owner_url(unit_id)
            if owner is not None:
                status, body = await api.fetch(owner, "/api/officials", query)
                return json_response(web, body, status)
            if unit_id not in worker.engine.units and unit_id not in worker.registry:
                return error_response(web, 404, f"unknown unit {unit_id!r}")
            rows, peers = api.officials(unit_id, period), []
        for status, body in await asyncio.gather(
            *(api.fetch(url, "/api/officials", query) for url in peers)
        ):
            if status != 200:
                return json_response(web, body, status)
            rows.extend(body["officials"])
        rows.sort(key=lambda row: (row["unit_id"], row["official_id"]))
        return json_response(web, {"period": period.name, "as_of": as_of, "officials": rows})
