"""HTTP views on the worker's web server (contract §8).

Each worker holds the figures of the units whose partitions it owns. A request about one
unit is answered by its owner (forwarded once if it arrived elsewhere); a list of all units
is gathered from every worker. So any worker answers for every unit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.web
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.alerts import RULE_NAMES
from agents.figures import Figures
from agents.periods import Period, PeriodError, date_of_day, day_of, parse_period
from schemas.codec import encode, format_instant
from schemas.records import ProcessingTime
from streams.alert_feed import follow, parse_position
from streams.metrics import REGISTRY

if TYPE_CHECKING:
    from streams.app import Worker

STATIC = Path(__file__).resolve().parent / "static"
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
UNITS_STREAM_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0

LOCAL = "local"
"""Query flag on forwarded requests: answer from this worker only, never forward again."""


class NotFound(LookupError):
    """An unknown unit (404)."""


class BadRequest(ValueError):
    """A query parameter that cannot be used (400)."""


def whole_number(query: dict[str, str], name: str, default: int, high: int) -> int:
    text = query.get(name, str(default))
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise BadRequest(f"{name} {text!r} is not a whole number 1..{high}")
    return int(text)


class PeerError(RuntimeError):
    """Another worker answered a forwarded request with an error; pass it on."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def json_response(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(encode(body), content_type="application/json", status=status)


def page(web: Any, name: str) -> Any:
    body = (STATIC / name).read_bytes()
    return web.bytes(body, content_type="text/html", headers={"Cache-Control": "no-cache"})


def error_response(web: Any, status: int, message: str) -> Any:
    return json_response(web, {"error": message}, status)


class Api:
    """Figures as JSON, from this worker's engine or from the worker that owns a unit."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._session: aiohttp.ClientSession | None = None
        self._snapshots: dict[tuple[tuple[str, str], ...], tuple[float, asyncio.Future[Any]]] = {}

    # -- local answers ----------------------------------------------------------------

    def period(self, text: str | None) -> tuple[Period, Any]:
        engine = self.worker.engine
        engine.advance()
        return parse_period(text, engine.now), format_instant(engine.now)

    def local_unit_ids(self) -> list[str]:
        worker = self.worker
        seen = set(worker.engine.units) | set(worker.registry)
        return sorted(unit for unit in seen if worker.owns(unit))

    async def units_snapshot(self, query: dict[str, str]) -> dict[str, Any]:
        """What /api/units answers: every unit, this worker's and the others'."""
        period, as_of = self.period(query.get("period"))
        rows = [self.unit(unit_id, period) for unit_id in self.local_unit_ids()]
        rows += await self.from_peers("/api/units", query, "units")
        rows.sort(key=lambda row: row["unit_id"])
        return {"period": period.name, "as_of": as_of, "units": rows}

    async def shared_units_snapshot(self, query: dict[str, str]) -> dict[str, Any]:
        """:meth:`units_snapshot`, computed at most once per ``UNITS_STREAM_SECONDS`` for
        every open screen asking the same: each screen's stream polls it that often, and a
        snapshot costs every worker the figures of all its units."""
        key = tuple(sorted(query.items()))
        now = time.monotonic()
        cached = self._snapshots.get(key)
        if cached is None or now - cached[0] >= UNITS_STREAM_SECONDS:
            fresh = {k: v for k, v in self._snapshots.items() if now - v[0] < UNITS_STREAM_SECONDS}
            cached = fresh[key] = (now, asyncio.ensure_future(self.units_snapshot(query)))
            self._snapshots = fresh  # queries no screen asks any more are forgotten
        # Shielded: a screen that goes away must not cancel the others' snapshot.
        return await asyncio.shield(cached[1])

    def require_unit(self, unit_id: str) -> None:
        worker = self.worker
        if unit_id not in worker.engine.units and unit_id not in worker.registry:
            raise NotFound(f"unknown unit {unit_id!r}")

    def unit(self, unit_id: str, period: Period) -> dict[str, Any]:
        worker = self.worker
        self.require_unit(unit_id)
        figures = worker.engine.figures(unit_id, period)
        breaches = figures.unit_breaches(worker.settings.thresholds)
        totals = worker.engine.units.get(unit_id)
        registered = worker.registry.get(unit_id)
        return {
            "unit_id": unit_id,
            "name": registered.name if registered else unit_id,
            "type": registered.type if registered else None,
            "level": registered.level if registered else None,
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

    def due_soon(self, unit_id: str, days: int) -> dict[str, Any]:
        engine = self.worker.engine
        engine.advance()
        until = engine.calendar.deadline(engine.now, ProcessingTime(days, "working_days"))

        def listed(found: dict[str, list[tuple[bytes, str | None, int]]]) -> list[dict[str, Any]]:
            return [
                {
                    "dossier_id": orjson.loads(key)[2],
                    "official_id": official,
                    "due_at": format_instant(overdue_from),
                }
                for key, official, overdue_from in found.get(unit_id, [])
            ]

        return {
            "unit_id": unit_id,
            "as_of": format_instant(engine.now),
            "days": days,
            "until": format_instant(until),
            "dossiers": listed(engine.due_within(until)),
            # Open and already overdue (turned overdue before the clock), oldest first.
            "overdue": listed(engine.due_within(engine.now - 1, since=0)),
        }

    def daily(self, unit_id: str, days: int) -> dict[str, Any]:
        """Per local day: resolved, late, surveys, satisfied, for the last ``days`` days."""
        engine = self.worker.engine
        engine.advance()
        today = day_of(engine.now)
        totals = engine.units.get(unit_id)
        rows = []
        for day in range(today - days + 1, today + 1):
            counts = totals.days.get((None, day), [0, 0, 0, 0]) if totals else [0, 0, 0, 0]
            rows.append(
                {
                    "date": date_of_day(day).isoformat(),
                    "resolved": counts[0],
                    "resolved_late": counts[1],
                    "surveys": counts[2],
                    "satisfied": counts[3],
                }
            )
        return {"unit_id": unit_id, "as_of": format_instant(engine.now), "days": rows}

    # -- other workers --------------------------------------------------------------

    def owner_url(self, unit_id: str) -> str | None:
        """The web URL of the worker owning the unit; None when it is this one or unknown."""
        worker = self.worker
        if worker.owns(unit_id):
            return None
        partition = worker.intake.home(unit_id)[1]
        for url, topics in self._assignment().items():
            if partition in topics.get(worker.topics.submitted, ()):
                return str(url).rstrip("/")
        return None

    def peer_urls(self) -> list[str]:
        own = self.worker.settings.web_url.rstrip("/")
        hosts = self._assignment()
        return [str(url).rstrip("/") for url in hosts if str(url).rstrip("/") != own]

    def _assignment(self) -> Any:
        """Web URL of each worker → the input partitions it owns, as the group assigned them
        (every input topic is co-partitioned, so the submitted topic stands for all)."""
        return self.worker.app.router.external_topics_metadata()

    async def from_peers(self, path: str, query: dict[str, str], field: str) -> list[Any]:
        """The ``field`` lists of every other worker's local answer, concatenated."""
        if LOCAL in query:
            return []
        rows: list[Any] = []
        answers = await asyncio.gather(*(self.fetch(url, path, query) for url in self.peer_urls()))
        for status, body in answers:
            if status != 200:
                raise PeerError(status, body)
            rows.extend(body[field])
        return rows

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

    async def respond(
        web: Any,
        request: Any,
        answer: Callable[[dict[str, str]], Awaitable[Any]],
        unit_id: str | None = None,
    ) -> Any:
        """Forward to the unit's owner if that is another worker; else answer, mapping
        bad requests to 400, unknown units to 404 and a peer's error to itself."""
        query = dict(request.query)
        owner = None if unit_id is None or LOCAL in query else api.owner_url(unit_id)
        try:
            if owner is not None:
                status, body = await api.fetch(owner, request.path, query)
                return json_response(web, body, status)
            return json_response(web, await answer(query))
        except (PeriodError, BadRequest) as error:
            return error_response(web, 400, str(error))
        except NotFound as error:
            return error_response(web, 404, str(error))
        except PeerError as error:
            return json_response(web, error.body, error.status)

    @app.page("/api/units")
    async def units(web: Any, request: Any) -> Any:
        return await respond(web, request, api.units_snapshot)

    @app.page("/api/units/{unit_id}")
    async def unit(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str]) -> Any:
            period, _ = api.period(query.get("period"))
            return api.unit(unit_id, period) | {"officials": api.officials(unit_id, period)}

        return await respond(web, request, answer, unit_id)

    @app.page("/api/units/{unit_id}/due-soon")
    async def due_soon(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str]) -> Any:
            days = whole_number(query, "days", 3, 60)
            api.require_unit(unit_id)
            return api.due_soon(unit_id, days)

        return await respond(web, request, answer, unit_id)

    @app.page("/api/units/{unit_id}/daily")
    async def daily(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str]) -> Any:
            days = whole_number(query, "days", 30, 366)
            api.require_unit(unit_id)
            return api.daily(unit_id, days)

        return await respond(web, request, answer, unit_id)

    @app.page("/api/officials")
    async def officials(web: Any, request: Any) -> Any:
        unit_id = request.query.get("unit_id")

        async def answer(query: dict[str, str]) -> Any:
            period, as_of = api.period(query.get("period"))
            if unit_id is None:
                rows = [row for u in api.local_unit_ids() for row in api.officials(u, period)]
                rows += await api.from_peers("/api/officials", query, "officials")
            else:
                api.require_unit(unit_id)
                rows = api.officials(unit_id, period)
            rows.sort(key=lambda row: (row["unit_id"], row["official_id"]))
            return {"period": period.name, "as_of": as_of, "officials": rows}

        return await respond(web, request, answer, unit_id)

    @app.page("/api/alerts")
    async def alerts(web: Any, request: Any) -> Any:
        async def answer(query: dict[str, str]) -> Any:
            state = query.get("state", "firing")
            if state not in ("firing", "resolved", "all"):
                raise BadRequest(f"state {state!r} is not firing, resolved or all")
            rows = worker.alerts.query(state, query.get("unit_id"))
            rows += await api.from_peers("/api/alerts", query, "alerts")
            rows.sort(key=lambda alert: alert["alert_id"])
            return {"alerts": rows}

        return await respond(web, request, answer)

    @app.page("/api/info")
    async def info(web: Any, request: Any) -> Any:
        settings = worker.settings
        thresholds = settings.thresholds
        return json_response(
            web,
            {
                "demo": settings.demo,
                "clock": settings.clock.mode,
                "rules": RULE_NAMES,
                "thresholds": {
                    "unit_late": float(thresholds.unit_late / 100),
                    "unit_satisfaction": float(thresholds.unit_satisfaction / 100),
                    "official_late": float(thresholds.official_late / 100),
                },
            },
        )

    @app.page("/")
    async def overview(web: Any, request: Any) -> Any:
        return page(web, "index.html")

    @app.page("/unit")
    async def unit_page(web: Any, request: Any) -> Any:
        return page(web, "unit.html")

    app.web.add_static("/static/", STATIC)

    @app.page("/api/units/stream")
    async def units_stream(web: Any, request: Any) -> Any:
        """The units list (as /api/units) each time it changes; checked every 0.5 s."""
        query = dict(request.query)
        response = aiohttp.web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        last, quiet = b"", 0.0
        try:
            while True:
                try:
                    snapshot = await api.shared_units_snapshot(query)
                except PeriodError as error:
                    await response.write(
                        b"event: error\ndata: " + encode({"error": str(error)}) + b"\n\n"
                    )
                    break
                body = encode(snapshot["units"])  # as_of moves every tick; the units may not
                if body != last or quiet >= HEARTBEAT_SECONDS:
                    await response.write(b"event: units\ndata: " + encode(snapshot) + b"\n\n")
                    last, quiet = body, 0.0
                await asyncio.sleep(UNITS_STREAM_SECONDS)
                quiet += UNITS_STREAM_SECONDS
        except (ConnectionResetError, PeerError):
            pass  # the client went away, or a peer failed: the page reconnects
        return response

    @app.page("/api/alerts/stream")
    async def alert_stream(web: Any, request: Any) -> Any:
        query = dict(request.query)
        resume = request.headers.get("Last-Event-ID") or query.get("last_event_id")
        try:
            start = parse_position(resume) if resume else None
        except ValueError as error:
            return error_response(web, 400, str(error))
        unit_id = query.get("unit_id")
        response = aiohttp.web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        feed = follow(worker.settings, worker.topics.alerts, start, "from" in query)
        try:
            async for item in feed:
                if item is None:
                    await response.write(b": keep-alive\n\n")
                    continue
                event_id, alert = item
                if unit_id is None or alert["unit_id"] == unit_id:
                    await response.write(
                        b"id: "
                        + event_id.encode()
                        + b"\nevent: alert\ndata: "
                        + encode(alert)
                        + b"\n\n"
                    )
        except ConnectionResetError:
            pass  # the client went away; a cancelled handler unwinds through finally
        finally:
            await feed.aclose()
        return response
