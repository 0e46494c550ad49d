"""HTTP views on the worker's web server (contract §8): routes, pages and live streams.

Every JSON view is forwarded to the unit's owner when that is another worker
(:mod:`streams.peers`), else answered by :class:`~streams.api.Api`; errors become
``{"error": ...}`` with 400 (bad query), 404 (unknown unit) or the peer's own status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp.web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kpi.periods import PeriodError
from schemas.codec import encode
from streams.alert_feed import follow, parse_position
from streams.api import UNITS_STREAM_SECONDS, Api, BadRequest, NotFound, whole_number
from streams.instruments import REGISTRY
from streams.peers import LOCAL, PeerError, Peers
from streams.worker import Worker

STATIC = Path(__file__).resolve().parent / "static"
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
HEARTBEAT_SECONDS = 15.0


def json_response(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(encode(body), content_type="application/json", status=status)


def error_response(web: Any, status: int, message: str) -> Any:
    return json_response(web, {"error": message}, status)


def static_file(web: Any, name: str, content_type: str) -> Any:
    body = (STATIC / name).read_bytes()
    return web.bytes(body, content_type=content_type, headers={"Cache-Control": "no-cache"})


def install_views(worker: Worker, api: Api, peers: Peers) -> None:
    app = worker.app

    async def respond(
        web: Any,
        request: Any,
        answer: Callable[[dict[str, str]], Awaitable[Any]],
        unit_id: str | None = None,
    ) -> Any:
        """Forward to the unit's owner if that is another worker; else answer, mapping
        bad requests to 400, unknown units to 404 and a peer's error to itself."""
        query = dict(request.query)
        owner = None if unit_id is None or LOCAL in query else peers.owner_url(unit_id)
        try:
            if owner is not None:
                status, body = await peers.fetch(owner, request.path, query)
                return json_response(web, body, status)
            return json_response(web, await answer(query))
        except (PeriodError, BadRequest) as error:
            return error_response(web, 400, str(error))
        except NotFound as error:
            return error_response(web, 404, str(error))
        except PeerError as error:
            return json_response(web, error.body, error.status)

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
            return api.due_soon(unit_id, whole_number(query, "days", 3, 60))

        return await respond(web, request, answer, unit_id)

    @app.page("/api/units/{unit_id}/daily")
    async def daily(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str]) -> Any:
            return api.daily(unit_id, whole_number(query, "days", 30, 366))

        return await respond(web, request, answer, unit_id)

    @app.page("/api/officials")
    async def officials(web: Any, request: Any) -> Any:
        unit_id = request.query.get("unit_id")

        async def answer(query: dict[str, str]) -> Any:
            return await api.officials_snapshot(query, unit_id)

        return await respond(web, request, answer, unit_id)

    @app.page("/api/alerts")
    async def alerts(web: Any, request: Any) -> Any:
        return await respond(web, request, api.alerts)

    @app.page("/api/info")
    async def info(web: Any, request: Any) -> Any:
        return json_response(web, api.info())

    @app.page("/")
    async def overview(web: Any, request: Any) -> Any:
        return static_file(web, "index.html", "text/html")

    @app.page("/unit")
    async def unit_page(web: Any, request: Any) -> Any:
        return static_file(web, "unit.html", "text/html")

    @app.page("/favicon.ico")
    async def favicon(web: Any, request: Any) -> Any:
        return static_file(web, "favicon.svg", "image/svg+xml")

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
        response = aiohttp.web.StreamResponse(headers=SSE_HEADERS)
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
