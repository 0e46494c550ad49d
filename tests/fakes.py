"""Fakes several test modules share."""

from __future__ import annotations

import asyncio
from typing import Any


class RecordingProducer:
    """A Faust producer that records what it is asked to send, and writes it at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(self, topic: str, key: Any, value: Any, *args: Any) -> Any:
        self.sent.append((topic, key, value))
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        written.set_result("metadata")
        return written
