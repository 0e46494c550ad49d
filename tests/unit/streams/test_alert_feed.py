"""The alert hub's fan-out to streams: positions, slow clients dropped, the cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import streams.alert_feed
from streams.alert_feed import AlertHub, StreamEnded, TooManyStreams
from streams.settings import Settings

ALERT = {"alert_id": "a", "unit_id": "u", "official_id": None, "state": "firing"}


def hub(max_streams: int = 10) -> AlertHub:
    """A hub already at the topic's end (partitions 0 and 1), without a broker."""
    started = AlertHub(Settings(), "cchc.alerts", max_streams)
    started.position = {0: 5, 1: 0}

    async def start() -> None:
        return None

    started.start = start  # type: ignore[method-assign]
    return started


async def settle() -> None:
    """Let the streams being opened reach their queues."""
    for _ in range(10):
        await asyncio.sleep(0)


async def next_item(feed: Any) -> Any:
    return await asyncio.wait_for(feed.__anext__(), 1)


def test_live_alerts_reach_every_stream_with_the_position_after_them() -> None:
    async def scenario() -> None:
        h = hub()
        first, second = h.follow(None), h.follow(None)
        waiting = [asyncio.ensure_future(next_item(f)) for f in (first, second)]
        await settle()
        assert h.streams == 2
        h._publish((1, 0, ALERT))
        assert [await w for w in waiting] == [("0:5;1:1", ALERT), ("0:5;1:1", ALERT)]
        await first.aclose()
        assert h.streams == 1
        await second.aclose()

    asyncio.run(scenario())


def test_a_stream_that_falls_too_far_behind_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams.alert_feed, "QUEUE_SIZE", 2)

    async def scenario() -> None:
        h = hub()
        slow = h.follow(None)
        first = asyncio.ensure_future(next_item(slow))
        await settle()
        h._publish((0, 5, ALERT))
        assert (await first)[0] == "0:6;1:0"
        for offset in range(6, 9):  # three more than it reads: its queue of two overflows
            h._publish((0, offset, ALERT))
        assert h.streams == 0
        with pytest.raises(StreamEnded, match="too slow"):
            await next_item(slow)

    asyncio.run(scenario())


def test_streams_beyond_the_cap_are_refused() -> None:
    async def scenario() -> None:
        h = hub(max_streams=1)
        only = h.follow(None)
        waiting = asyncio.ensure_future(next_item(only))
        await settle()
        with pytest.raises(TooManyStreams):
            await next_item(h.follow(None))
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert h.streams == 0, "a stream that ends leaves room for another"

    asyncio.run(scenario())
