"""HTTP views on the worker's web server (contract §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.codec import encode
from streams.metrics import REGISTRY

if TYPE_CHECKING:
    from streams.app import Worker


def json_response(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(encode(body), content_type="application/json", status=status)


def install_views(worker: Worker) -> None:
    app = worker.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        if worker.consuming and not app.rebalancing:
            return json_response(web, {"status": "ok"})
        return json_response(web, {"status": "starting"}, status=503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the header carries it whole.
        return web.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
