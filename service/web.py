"""HTTP views on the worker's web server (contract §8): routes, pages and live streams.

Every JSON view is forwarded to the unit's owner when that is another worker
(:mod:`service.peers`), else answered by :class:`~service.api.Api`; errors become
``{"error": ...}`` with 400 (bad query), 404 (unknown unit) or the peer's own status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web
import faust.web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.intake import grant_header
from kpi.periods import PeriodError
from kpi.snapshots import unit_of_record
from schemas.codec import InvalidEvent, encode
from schemas.dvcqg import MAX_SYNC_BYTES, OtherService, Stamped, TooLarge, stamp
from service.alert_feed import AlertHub, StreamEnded, TooManyStreams, parse_position
from service.api import (
    MAX_LISTED,
    UNITS_STREAM_SECONDS,
    Api,
    BadRequest,
    Forbidden,
    NotFound,
    whole_number,
)
from service.peers import LOCAL, PeerError, Peers
from service.reports import Reports, output_format
from service.scorecard import Scorecards
from service.throttle import Throttle
from service.workbook import CSV, XLSX, form_csv, form_xlsx, list_csv, list_xlsx
from streams.access import Caller, Grant, Tokens, token_of
from streams.instruments import INGEST_THROTTLED, REGISTRY
from streams.kafka import record_size
from streams.topics import partition_for
from streams.worker import Worker

log = logging.getLogger(__name__)

Files = Mapping[str, Callable[[dict[str, Any]], tuple[bytes, str]]]
"""How a view lays its JSON answer out as a download, per ``format``."""

STATIC = Path(__file__).resolve().parent / "static"
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
HEARTBEAT_SECONDS = 15.0
WRITE_SECONDS = 10.0
"""A stream's client that takes longer than this to accept a write is dropped."""
METRICS_SECONDS = 1.0
"""A /metrics exposition is reused for this long."""
TOKEN_PARAMETER = "access_token"
"""The query parameter that may carry the token (EventSource cannot send headers)."""


def json_response(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(encode(body), content_type="application/json", status=status)


def error_response(web: Any, status: int, message: str) -> Any:
    return json_response(web, {"error": message}, status)


def ingest_error(web: Any, status: int, message: str) -> Any:
    """A refused sync body, answered as the portal answers: a non-zero ``error_code``."""
    return json_response(
        web, {"error_code": str(status), "message": message, "error": message}, status
    )


def static_file(web: Any, name: str, content_type: str) -> Any:
    body = (STATIC / name).read_bytes()
    return web.bytes(body, content_type=content_type, headers={"Cache-Control": "no-cache"})


def install_views(worker: Worker, api: Api, peers: Peers, tokens: Tokens, hub: AlertHub) -> None:
    app = worker.app
    reports = Reports(api, peers)
    scorecards = Scorecards(api, peers)

    def caller_of(request: Any, from_query: bool = False) -> Caller | None:
        """The caller's grant; the token in the query only on the live streams, whose
        browsers cannot send a header (query strings end up in logs)."""
        query_token = request.query.get(TOKEN_PARAMETER) if from_query else None
        token = token_of(request.headers.get("Authorization"), query_token)
        grant = tokens.grant(token)
        return None if grant is None or token is None else Caller(grant, token)

    def refused(web: Any, caller: Caller | None) -> Any:
        if caller is None:
            return web.bytes(
                encode({"error": "a valid bearer token is needed (Authorization: Bearer ...)"}),
                content_type="application/json",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="cchc-monitor"'},
            )
        return error_response(web, 403, f"the token {caller.grant.name!r} does not reach this")

    async def respond(
        web: Any,
        request: Any,
        answer: Callable[[dict[str, str], Caller], Awaitable[Any]],
        need: Callable[[Grant], bool] = lambda grant: grant.sees_public,
        unit_id: str | None = None,
        files: Files | None = None,
    ) -> Any:
        """Check the caller's token; forward to the unit's owner if that is another worker;
        else answer, mapping bad requests to 400, unknown units to 404, refusals to 403
        and a peer's error to itself. With ``files``, ``format=xlsx|csv`` lays the JSON
        answer out as a download, here: a forwarded request (``LOCAL``) is answered in
        JSON, whatever its format, for the worker that lays it out."""
        caller = caller_of(request)
        if caller is None or not need(caller.grant):
            return refused(web, caller)
        query = {k: v for k, v in request.query.items() if k != TOKEN_PARAMETER}
        owner = None if unit_id is None or LOCAL in query else peers.owner_url(unit_id)
        try:
            chosen = "json" if files is None or LOCAL in query else output_format(query)
            if owner is not None:
                status, body = await peers.fetch(owner, request.path, query, caller.token)
                if status != 200 or files is None or chosen == "json":
                    return json_response(web, body, status)
            else:
                body = await answer(query, caller)
            if files is None or chosen == "json":
                return json_response(web, body)
            data, name = files[chosen](body)
            return web.bytes(
                data,
                headers={
                    "Content-Type": XLSX if chosen == "xlsx" else CSV,
                    "Content-Disposition": f'attachment; filename="{name}"',
                },
            )
        except (PeriodError, BadRequest) as error:
            return error_response(web, 400, str(error))
        except Forbidden as error:
            return error_response(web, 403, str(error))
        except NotFound as error:
            return error_response(web, 404, str(error))
        except PeerError as error:
            return json_response(web, error.body, error.status)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        status = worker.health()
        return json_response(web, {"status": status}, status=200 if status == "ok" else 503)

    exposition: list[tuple[float, bytes]] = [(-METRICS_SECONDS, b"")]

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        caller = caller_of(request)
        if caller is None or not caller.grant.sees_metrics:
            return refused(web, caller)
        # A scrape computes every owned unit's figures on the event loop: several scrapers
        # (an HA pair of Prometheus, a benchmark) share one computation per interval.
        made, body = exposition[0]
        if time.monotonic() - made >= METRICS_SECONDS:
            body = generate_latest(REGISTRY)
            exposition[0] = (time.monotonic(), body)
        # aiohttp refuses a charset inside content_type; the header carries it whole.
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/api/units")
    async def units(web: Any, request: Any) -> Any:
        return await respond(web, request, api.units_snapshot)

    @app.page("/api/units/{unit_id}")
    async def unit(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            period, _ = api.period(query.get("period"))
            row = api.unit(unit_id, period)
            if caller.grant.sees_unit(unit_id):  # an official's figures are not public
                row["officials"] = api.officials(unit_id, period)
            return row

        return await respond(web, request, answer, unit_id=unit_id)

    @app.page("/api/dossiers/{dossier_id}")
    async def dossier(web: Any, request: Any, dossier_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            return await api.dossiers(dossier_id, query, caller)

        return await respond(web, request, answer)

    @app.page("/api/sync/quality")
    async def sync_quality(web: Any, request: Any) -> Any:
        return await respond(web, request, api.sync_quality)

    def seen_by(unit_id: str) -> Callable[[Grant], bool]:
        """Who may see a unit's dossiers: a token of that unit, or an admin's."""
        return lambda grant: grant.sees_unit(unit_id)

    @app.page("/api/units/{unit_id}/due-soon")
    async def due_soon(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            return api.due_soon(unit_id, whole_number(query, "days", 3, 60))

        return await respond(web, request, answer, seen_by(unit_id), unit_id)

    @app.page("/api/units/{unit_id}/late")
    async def late(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            period, _ = api.period(query.get("period"))
            return api.late(unit_id, period, whole_number(query, "limit", 100, MAX_LISTED))

        return await respond(web, request, answer, seen_by(unit_id), unit_id)

    @app.page("/api/units/{unit_id}/late-receipts")
    async def late_receipts(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            period, _ = api.period(query.get("period"))
            limit = whole_number(query, "limit", 100, MAX_LISTED)
            return api.late_receipts(unit_id, period, limit)

        return await respond(web, request, answer, seen_by(unit_id), unit_id)

    @app.page("/api/units/{unit_id}/dossiers")
    async def behind(web: Any, request: Any, unit_id: str) -> Any:
        exported = request.query.get("format", "json") != "json"

        async def answer(query: dict[str, str], caller: Caller) -> Any:
            return reports.behind(unit_id, query, exported)

        files = {"xlsx": list_xlsx, "csv": list_csv}
        return await respond(web, request, answer, seen_by(unit_id), unit_id, files)

    @app.page("/api/reports/form06")
    async def form06(web: Any, request: Any) -> Any:
        def need(grant: Grant) -> bool:
            return grant.admin or bool(grant.units)

        files = {"xlsx": form_xlsx, "csv": form_csv}
        return await respond(web, request, reports.form06, need, files=files)

    @app.page("/api/index766")
    async def index766(web: Any, request: Any) -> Any:
        return await respond(web, request, scorecards.estimate)

    @app.page("/api/units/{unit_id}/targets")
    async def targets(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            weeks, months = (
                whole_number(query, "weeks", 8, 26),
                whole_number(query, "months", 6, 12),
            )
            return api.targets(unit_id, weeks, months)

        return await respond(web, request, answer, unit_id=unit_id)

    @app.page("/api/units/{unit_id}/daily")
    async def daily(web: Any, request: Any, unit_id: str) -> Any:
        async def answer(query: dict[str, str], caller: Caller) -> Any:
            return api.daily(unit_id, whole_number(query, "days", 30, 366))

        return await respond(web, request, answer, unit_id=unit_id)

    @app.page("/api/officials")
    async def officials(web: Any, request: Any) -> Any:
        unit_id = request.query.get("unit_id")

        async def answer(query: dict[str, str], caller: Caller) -> Any:
            return await api.officials_snapshot(query, unit_id, caller)

        def need(grant: Grant) -> bool:
            return grant.sees_unit(unit_id) if unit_id else grant.admin or bool(grant.units)

        return await respond(web, request, answer, need, unit_id)

    @app.page("/api/alerts")
    async def alerts(web: Any, request: Any) -> Any:
        return await respond(web, request, api.alerts)

    @app.page("/api/info")
    async def info(web: Any, request: Any) -> Any:
        return await respond(web, request, api.info, lambda grant: True)

    throttle = Throttle(worker.settings.ingest_bytes_per_second, MAX_SYNC_BYTES)

    def review(grant: Grant, stamped: Stamped) -> tuple[list[dict[str, Any]], int]:
        """Why each dossier record of a unit the token may not write will be refused by the
        worker (which checks again: the grant travels with the message), and how many
        records name a unit outside the registry (counted only while the worker has room
        for unlisted units)."""
        units = grant.ingest_units
        refused, unlisted = [], 0
        for position, record in stamped.dossiers:
            unit_id = unit_of_record(record, worker.sync.unit_of)
            if unit_id is None:
                continue
            if units is not None and unit_id not in units:
                reason = f"DonViXuLy is unit {unit_id!r}, which this token may not write"
                refused.append({"index": position, "MaHoSo": record.dossier_id, "reason": reason})
            elif unit_id not in worker.registry:
                unlisted += 1
        return refused, unlisted

    def too_fast(web: Any, wait: float, label: str, why: str) -> Any:
        """429: send again after ``wait`` seconds (a sender that keeps its pace is not
        throttled; one that floods waits instead of building a backlog)."""
        seconds = max(1, math.ceil(wait))
        INGEST_THROTTLED.labels(why=label).inc()
        text = f"{why}: send again in {seconds} s"
        body = {"error_code": "429", "message": text, "error": text}
        headers = {"Retry-After": str(seconds)}
        return web.bytes(encode(body), content_type="application/json", status=429, headers=headers)

    async def ingest(web: Any, request: Any, service: str | None) -> Any:
        """A copy of what a one-stop system sends the national portal: published on the
        sync topic and answered as its senders expect (contract §8)."""
        caller = caller_of(request)
        if caller is None or not caller.grant.ingests:
            return refused(web, caller)
        units = caller.grant.ingest_units
        headers = [] if units is None else [grant_header(units)]
        limit = min(
            MAX_SYNC_BYTES,
            worker.settings.max_message_bytes - record_size(LONGEST_KEY, b"", headers),
        )
        too_large = f"the body is over {limit} bytes"
        if (request.content_length or 0) > limit:
            return ingest_error(web, 413, too_large)
        if worker.sync_backlog() > worker.settings.ingest_max_backlog:
            why = "the monitor is catching up on sync records"
            return too_fast(web, BACKLOG_RETRY_SECONDS, "backlog", why)
        wait = throttle.take(caller.token, request.content_length or 0)
        if wait == 0:
            try:
                body = await request.read()
            except aiohttp.web.HTTPRequestEntityTooLarge:
                return ingest_error(web, 413, too_large)
            if request.content_length is None:  # chunked: counted once read
                wait = throttle.take(caller.token, len(body))
        if wait > 0:
            return too_fast(web, wait, "rate", "this token sends faster than its limit")
        try:
            stamped = stamp(body, time.time_ns() // 1000, limit, service, dict(request.query))
        except OtherService as error:  # answered as done, or its sender would send it again
            message = f"Thành công: không ghi nhận, {error.reason} (nothing published)"
            return json_response(web, {"error_code": "0", "message": message})
        except TooLarge as error:
            return ingest_error(web, 413, error.reason)
        except InvalidEvent as error:
            return ingest_error(web, 400, f"not a national sync body: {error.reason}")
        try:
            key = None if stamped.mahoso is None else stamped.mahoso.encode()
            partition = None if key is None else partition_for(key, worker.units.partitions)
            topic = worker.topics.dvcqg_sync
            sent = await worker.send(topic, key, stamped.message, partition, headers)
            await sent.sent
        except Exception as error:  # the body is not published: the sender sends again
            log.warning("could not publish a sync body: %r", error)
            return ingest_error(web, 503, f"the broker did not take the body: {error}")
        return json_response(web, ingest_answer(stamped, *review(caller.grant, stamped)))

    class IngestDvcqg(faust.web.View):
        """``POST /ingest/dvcqg``: the portal's envelope."""

        async def post(self, request: Any) -> Any:
            return await ingest(self, request, None)

    class IngestDvcqgService(faust.web.View):
        """``POST /ingest/dvcqg/{service}``: a bare array of records of that service, or
        the envelope, as systems that post to one URL per service send them."""

        async def post(self, request: Any, service: str) -> Any:
            return await ingest(self, request, service)

    app.page("/ingest/dvcqg")(IngestDvcqg)
    app.page("/ingest/dvcqg/{service}")(IngestDvcqgService)

    @app.page("/")
    async def overview(web: Any, request: Any) -> Any:
        return static_file(web, "index.html", "text/html")

    @app.page("/unit")
    async def unit_page(web: Any, request: Any) -> Any:
        return static_file(web, "unit.html", "text/html")

    @app.page("/wall")
    async def wall_page(web: Any, request: Any) -> Any:
        return static_file(web, "wall.html", "text/html")

    @app.page("/report")
    async def report_page(web: Any, request: Any) -> Any:
        return static_file(web, "report.html", "text/html")

    @app.page("/favicon.ico")
    async def favicon(web: Any, request: Any) -> Any:
        return static_file(web, "favicon.svg", "image/svg+xml")

    app.web.add_static("/static/", STATIC)

    async def write(response: Any, data: bytes) -> None:
        """Write to a stream; a client that does not take it within ``WRITE_SECONDS``
        is dropped (TimeoutError), never allowed to hold the worker's memory."""
        await asyncio.wait_for(response.write(data), WRITE_SECONDS)

    async def open_stream(web: Any, request: Any) -> Any:
        """The caller (or the refusal), once the stream cap allows another stream."""
        caller = caller_of(request, from_query=True)
        if caller is None or not caller.grant.sees_public:
            return caller, refused(web, caller)
        if open_streams[0] + hub.streams >= worker.settings.max_streams:
            message = f"this worker serves {worker.settings.max_streams} live streams already"
            return caller, error_response(web, 503, message)
        return caller, None

    open_streams = [0]  # units streams; the hub counts the alert streams

    @app.page("/api/units/stream")
    async def units_stream(web: Any, request: Any) -> Any:
        """The units list (as /api/units) each time it changes; checked every 0.5 s."""
        caller, refusal = await open_stream(web, request)
        if refusal is not None:
            return refusal
        query = {k: v for k, v in request.query.items() if k != TOKEN_PARAMETER}
        response = aiohttp.web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        last, quiet = b"", 0.0
        open_streams[0] += 1
        try:
            while True:
                try:
                    snapshot = await api.shared_units_snapshot(query, caller)
                except PeriodError as error:
                    await write(response, sse("error", {"error": str(error)}))
                    break
                body = encode(snapshot["units"])  # as_of moves every tick; the units may not
                if body != last or quiet >= HEARTBEAT_SECONDS:
                    await write(response, sse("units", snapshot))
                    last, quiet = body, 0.0
                await asyncio.sleep(UNITS_STREAM_SECONDS)
                quiet += UNITS_STREAM_SECONDS
        except (ConnectionResetError, PeerError, TimeoutError):
            pass  # the client went away or is too slow, or a peer failed: the page reconnects
        finally:
            open_streams[0] -= 1
        return response

    @app.page("/api/alerts/stream")
    async def alert_stream(web: Any, request: Any) -> Any:
        caller, refusal = await open_stream(web, request)
        if refusal is not None:
            return refusal
        query = dict(request.query)
        resume = request.headers.get("Last-Event-ID") or query.get("last_event_id")
        try:
            start = parse_position(resume) if resume else None
        except ValueError as error:
            return error_response(web, 400, str(error))
        unit_id = query.get("unit_id")
        response = aiohttp.web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        feed = hub.follow(start, "from" in query)
        try:
            async for item in feed:
                if item is None:
                    await write(response, b": keep-alive\n\n")
                    continue
                event_id, alert = item
                wanted = unit_id is None or alert["unit_id"] == unit_id
                if wanted and caller.grant.sees_alert(alert):
                    await write(response, sse("alert", alert, event_id))
        except (TooManyStreams, StreamEnded) as ended:
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                await write(response, sse("error", {"error": str(ended)}))
        except (ConnectionResetError, TimeoutError):
            pass  # the client went away or is too slow; a cancelled handler unwinds below
        finally:
            await feed.aclose()
        return response


LONGEST_KEY = bytes(4 * 128)
"""The longest Kafka key of a sync message: a ``MaHoSo`` of 128 characters in UTF-8."""
BACKLOG_RETRY_SECONDS = 2.0
"""How long a sender waits when the worker is behind on sync records."""
MAX_LISTED_ERRORS = 100
"""Invalid records an ingest answer names; the rest are counted (all are dead-lettered)."""


def ingest_answer(stamped: Stamped, refused: list[dict[str, Any]], unlisted: int) -> dict[str, Any]:
    """The answer to a sync body: how many records were valid, and why the others were not
    (``refused``: the errors of records the token may not write). Invalid records are
    named, at most :data:`MAX_LISTED_ERRORS` of them; all go to the dead letters. Valid is
    not counted: ``unlisted`` records name a unit outside the registry, which the worker
    counts only while it tracks fewer than CCHC_MAX_UNLISTED_UNITS such units.

    >>> stamped = Stamped(b"", 3, [{"index": 1, "MaHoSo": None, "reason": "x"}], [])
    >>> answer = ingest_answer(stamped, [{"index": 2, "MaHoSo": "HS", "reason": "y"}], 0)
    >>> answer["valid"], answer["error_code"], [e["index"] for e in answer["errors"]]
    (1, '0', [1, 2])
    """
    errors = sorted(stamped.errors + refused, key=lambda error: error["index"])
    valid = stamped.records - len(errors)
    listed = errors[:MAX_LISTED_ERRORS]
    message = (
        f"Thành công: {valid}/{stamped.records} bản ghi hợp lệ đã được chuyển xử lý "
        f"({valid} of {stamped.records} records valid, published for processing)"
    )
    for error in listed:
        message += f"; bản ghi {error['index']} (MaHoSo {error['MaHoSo']!r}): {error['reason']}"
    if len(errors) > len(listed):
        message += f"; {len(errors) - len(listed)} more invalid records not listed"
    if unlisted:
        message += (
            f"; {unlisted} đơn vị ngoài danh mục ({unlisted} name a unit outside the registry: "
            "counted while the worker has room for unlisted units, CCHC_MAX_UNLISTED_UNITS)"
        )
    answer: dict[str, Any] = {"error_code": "0", "message": message, "valid": valid}
    if errors:
        answer["errors"] = listed
        if len(errors) > len(listed):
            answer["errors_not_listed"] = len(errors) - len(listed)
    if unlisted:
        answer["outside_registry"] = unlisted
    return answer


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One Server-Sent Event.

    >>> sse("alert", {"a": 1}, "0:1")
    b'id: 0:1\\nevent: alert\\ndata: {"a":1}\\n\\n'
    """
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + event.encode() + b"\ndata: " + encode(data) + b"\n\n"
