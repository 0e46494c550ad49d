"""The other workers of the group, reached over HTTP, so any worker answers for every unit.

Each worker holds the figures of the units whose partitions it owns. A request about one
unit goes to its owner (forwarded once, marked :data:`LOCAL` so it is never forwarded
again); a list of all units is gathered from every worker. Who owns what is the group's
assignment of the input topics, which Faust shares with every member along with each
member's web URL (``CCHC_WEB_URL``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from streams.worker import Worker

LOCAL = "local"
"""Query flag on forwarded requests: answer from this worker only, never forward again."""
TIMEOUT_SECONDS = 10


class PeerError(RuntimeError):
    """Another worker answered a forwarded request with an error; pass it on."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class Peers:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._session: aiohttp.ClientSession | None = None

    def owner_url(self, unit_id: str) -> str | None:
        """The web URL of the worker owning the unit; None when it is this one or unknown."""
        worker = self.worker
        if worker.owns(unit_id):
            return None
        partition = worker.units.home(unit_id)[1]
        for url, topics in self._assignment().items():
            if partition in topics.get(worker.topics.submitted, ()):
                return str(url).rstrip("/")
        return None

    def urls(self) -> list[str]:
        """Every other worker's web URL."""
        own = self.worker.settings.web_url.rstrip("/")
        return [u for u in (str(url).rstrip("/") for url in self._assignment()) if u != own]

    def _assignment(self) -> Any:
        """Web URL of each worker → the input partitions it owns, as the group assigned them
        (every input topic is co-partitioned, so the submitted topic stands for all)."""
        return self.worker.app.router.external_topics_metadata()

    async def gather(self, path: str, query: dict[str, str], field: str, token: str) -> list[Any]:
        """The ``field`` lists of every other worker's local answer, concatenated; none
        for a request that was itself forwarded."""
        rows: list[Any] = []
        for body in await self.answers(path, query, token):
            rows.extend(body[field])
        return rows

    async def answers(self, path: str, query: dict[str, str], token: str) -> list[Any]:
        """Every other worker's local answer; none for a request that was itself
        forwarded; :class:`PeerError` if any fails."""
        if LOCAL in query:
            return []
        asked = (self.fetch(url, path, query, token) for url in self.urls())
        bodies = []
        for status, body in await asyncio.gather(*asked):
            if status != 200:
                raise PeerError(status, body)
            bodies.append(body)
        return bodies

    async def fetch(
        self, url: str, path: str, query: dict[str, str], token: str
    ) -> tuple[int, Any]:
        """One worker's local answer: (HTTP status, JSON body), asked with the caller's
        token (the other worker checks it too)."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {"Authorization": f"Bearer {token}"}
        params = query | {LOCAL: "1"}
        try:
            async with self._session.get(url + path, params=params, headers=headers) as response:
                return response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # A worker that just left stays in the group's metadata until it rebalances.
            message = f"the worker at {url} does not answer ({type(error).__name__}); retry"
            raise PeerError(503, {"error": message}) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
