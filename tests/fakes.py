"""Fakes several test modules share."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class RecordingProducer:
    """A Faust producer that records what it is asked to send, and writes it at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(self, topic: str, key: Any, value: Any, *args: Any) -> Any:
        self.sent.append((topic, key, value))
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        written.set_result("metadata")
        return written


def alert_message(alert_id: str, sequence: int, **changes: Any) -> bytes:
    """An alert change as the worker writes it on the alerts topic: firing at odd
    sequences, resolved at even ones, unless ``changes`` say otherwise."""
    alert = {
        "alert_id": alert_id,
        "sequence": sequence,
        "rule": "unit_late_rate",
        "unit_id": "u",
        "official_id": None,
        "period": "2026",
        "state": "firing" if sequence % 2 else "resolved",
        "value": 0.5,
        "threshold": 0.05,
        "numerator": 10,
        "denominator": 20,
        "started_at": "2026-03-02T08:00:00+07:00",
        "resolved_at": None,
        "evaluated_at": "2026-03-02T08:00:00+07:00",
    }
    return orjson.dumps(alert | changes)
