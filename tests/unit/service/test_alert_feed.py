"""The alert hub's fan-out to streams: positions, slow clients dropped, the cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

import service.alert_feed
from service.alert_feed import AlertHub, StreamEnded, TooManyStreams
from streams.settings import Settings
from tests.fakes import alert_message

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
    monkeypatch.setattr(service.alert_feed, "QUEUE_SIZE", 2)

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


class Topic:
    """The alerts topic in memory, read by a hub through fakes of its two readers: the
    consumer that follows it and ``read_to_end``."""

    def __init__(self, partitions: int = 2) -> None:
        self.records: dict[int, list[SimpleNamespace]] = {p: [] for p in range(partitions)}

    def append(self, partition: int, alert_id: str, sequence: int) -> None:
        value = alert_message(alert_id, sequence, state="firing")
        records = self.records[partition]
        offset = len(records)
        records.append(SimpleNamespace(topic="t", partition=partition, offset=offset, value=value))

    async def read_to_end(
        self,
        settings: Settings,
        topic: str,
        starts: dict[int, int],
        stall: float = 60.0,
        ends: dict[int, int] | None = None,
    ) -> AsyncIterator[list[SimpleNamespace]]:
        ends = ends or {p: len(records) for p, records in self.records.items()}
        batch = [r for p, start in starts.items() for r in self.records[p][start : ends[p]]]
        if batch:
            yield batch

    def consumer(self, **options: Any) -> Any:
        topic = self

        class Consumer:
            def __init__(self) -> None:
                self.position: dict[int, int] = {}

            async def start(self) -> None:
                pass

            async def stop(self) -> None:
                pass

            def partitions_for_topic(self, name: str) -> set[int]:
                return set(topic.records)

            def assign(self, partitions: list[Any]) -> None:
                pass

            def seek(self, tp: Any, offset: int) -> None:
                self.position[tp.partition] = offset

            async def getmany(self, timeout_ms: int) -> dict[int, list[SimpleNamespace]]:
                batches = {}
                for partition, offset in self.position.items():
                    if records := topic.records[partition][offset:]:
                        batches[partition] = records
                        self.position[partition] += len(records)
                if not batches:
                    await asyncio.sleep(0.001)
                return batches

        return Consumer()


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Topic:
    memory = Topic()
    monkeypatch.setattr(service.alert_feed, "AIOKafkaConsumer", memory.consumer)
    monkeypatch.setattr(service.alert_feed, "read_to_end", memory.read_to_end)
    return memory


def real_hub() -> AlertHub:
    return AlertHub(Settings(kafka_broker="kafka://127.0.0.1:9"), "cchc.alerts", 10)


async def items_until(feed: Any, *last: str) -> list[tuple[str, str, int]]:
    """(event id, alert id, sequence) of what a stream sends, up to every alert of ``last``
    (the last record of its partition: what came before it in the partition came first)."""
    got: list[tuple[str, str, int]] = []
    while not set(last) <= {alert for _, alert, _ in got}:
        item = await next_item(feed)
        if item is not None:
            got.append((item[0], item[1]["alert_id"], item[1]["sequence"]))
    return got


def test_a_live_stream_gets_a_repeated_message_once(topic: Topic) -> None:
    async def scenario() -> None:
        topic.append(0, "a", 1)
        h = real_hub()
        await h.start()
        live = h.follow(None)
        waiting = asyncio.ensure_future(items_until(live, "end-0", "end-1"))
        await settle()
        # A write that had landed, sent again; the first copy came before the stream opened.
        topic.append(0, "a", 1)
        topic.append(0, "a", 2)
        topic.append(0, "a", 2)
        topic.append(0, "end-0", 1)
        topic.append(1, "b", 1)
        topic.append(1, "b", 1)
        topic.append(1, "end-1", 1)
        got = await waiting
        by_partition = [
            [(a, s) for _, a, s in got if a in ("a", "end-0")],
            [(a, s) for _, a, s in got if a in ("b", "end-1")],
        ]
        assert by_partition == [[("a", 2), ("end-0", 1)], [("b", 1), ("end-1", 1)]]
        ids = {alert: event_id for event_id, alert, _ in got}
        assert ids["end-0"].startswith("0:5;") and ids["end-1"].endswith(";1:3")
        await live.aclose()
        await h.stop()

    asyncio.run(scenario())


def test_a_resumed_or_replayed_stream_gets_nothing_twice(topic: Topic) -> None:
    for alert_id, sequence in [("a", 1), ("a", 1), ("a", 2), ("a", 2), ("b", 1)]:
        topic.append(0, alert_id, sequence)

    async def scenario() -> None:
        h = real_hub()
        await h.start()
        # A client that had a's first message (offset 0) comes back: the copy at offset 1
        # repeats what it had, although its stream resumes after it.
        resumed = h.follow({0: 1, 1: 0})
        replayed = h.follow(None, from_beginning=True)
        waiting = [asyncio.ensure_future(items_until(f, "end")) for f in (resumed, replayed)]
        await settle()
        topic.append(0, "b", 1)
        topic.append(0, "end", 1)
        assert await waiting[0] == [
            ("0:3;1:0", "a", 2),
            ("0:5;1:0", "b", 1),
            ("0:7;1:0", "end", 1),
        ]
        replay = [(alert, sequence) for _, alert, sequence in await waiting[1]]
        assert replay == [("a", 1), ("a", 2), ("b", 1), ("end", 1)]
        for feed in (resumed, replayed):
            await feed.aclose()
        await h.stop()

    asyncio.run(scenario())
