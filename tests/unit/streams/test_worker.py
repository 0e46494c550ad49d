"""What a worker decides on its own: which units it may track, and its health."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from faust.types import TP

from kpi.units import Unit
from schemas.codec import parse_instant
from schemas.records import DossierSubmitted, UnitRanking
from streams.outbox import Record, Source
from streams.settings import Settings
from streams.worker import RECORDS_PER_SYNC_MESSAGE, TooLargeToSend, Worker
from tests.fakes import RecordingProducer

AT = parse_instant("2026-03-02T08:00:00+07:00", "t")


def worker(max_unlisted: int = 2) -> Worker:
    settings = replace(Settings(), max_unlisted_units=max_unlisted)
    app = SimpleNamespace(rebalancing=False)
    built = Worker.build(settings, cast(Any, app))
    built.registry = {"xa-a": Unit("xa-a", "Xã A", "xa", "commune")}
    built.engine.states_of = lambda unit_id: {}
    return built


def submit(w: Worker, unit_id: str) -> None:
    w.engine.apply(DossierSubmitted(f"s-{unit_id}", unit_id, "d", AT, AT, None, None, None, None))


def test_units_outside_the_registry_are_capped_listed_ones_never() -> None:
    w = worker(max_unlisted=2)
    assert w.admits("junk-1")
    submit(w, "junk-1")
    w.engine.apply(UnitRanking("r", "junk-2", 2025, "tot", AT))  # a ranking tracks a unit too
    assert not w.admits("junk-3"), "two unlisted units are tracked: the cap is reached"
    assert w.admits("junk-1") and w.admits("junk-2"), "tracked units stay admitted"
    assert w.admits("xa-a"), "a listed unit is always admitted"
    assert worker(max_unlisted=0).admits("xa-a") and not worker(max_unlisted=0).admits("junk")


def test_health_says_why_a_worker_does_not_serve() -> None:
    w = worker()
    assert w.health() == "starting"
    w.ready.set()
    assert w.health() == "ok"
    w.broker_reachable = False
    assert w.health() == "broker unreachable"
    w.broker_reachable = True
    w.writes.failing = True
    assert w.health() == "broker unreachable"


def test_a_record_the_broker_refuses_for_its_size_is_never_sent_again() -> None:
    # Kafka's message.max.bytes below CCHC_MAX_MESSAGE_BYTES: sending again cannot help,
    # so the record's dead letter goes instead, and the outbox can release its input.
    w = worker()
    w.app = cast(Any, SimpleNamespace(producer=RecordingProducer(), rebalancing=False))
    source = Source("cchc.dvcqg-sync", 3, 41)
    record = Record("cchc.rekeyed", b"HS-1", b"x" * 900_000, 2, None, cast(Any, None), source)

    async def resend(error: BaseException) -> Any:
        return await w.resend(record, error)

    assert asyncio.run(resend(MessageSizeTooLargeError())) is not None
    [(topic, key, value)] = w.app.producer.sent
    letter = orjson.loads(value or b"")
    assert topic == w.topics.dead_letter and key == b"HS-1"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "cchc.dvcqg-sync",
        3,
        41,
    )
    assert letter["original_size"] == 900_000 and "refused" in letter["reason"]
    # A dead letter refused for its size is not sent again either: the log keeps the trace.
    record.topic = w.topics.dead_letter
    assert asyncio.run(resend(MessageSizeTooLargeError())) is None
    assert len(w.app.producer.sent) == 1


def test_a_record_over_the_configured_limit_is_not_handed_to_the_producer() -> None:
    w = replace(worker(), settings=replace(Settings(), max_message_bytes=600_000))
    w.app = cast(Any, SimpleNamespace(producer=RecordingProducer(), rebalancing=False))
    with pytest.raises(TooLargeToSend, match="CCHC_MAX_MESSAGE_BYTES"):
        asyncio.run(w.send("cchc.rekeyed", b"k", b"x" * 600_000, 0))
    assert w.app.producer.sent == []


def test_the_sync_backlog_counts_unsplit_messages_as_a_thousand_records() -> None:
    w = worker()
    topics = w.topics
    highwater = {
        TP(topics.rekeyed, 0): 500,  # 400 taken: 99 behind
        TP(topics.rekeyed, 1): 10,  # none taken yet: 10 behind
        TP(topics.dvcqg_sync, 0): 3,  # 2 unsplit messages
        TP(topics.submitted, 0): 10_000,  # native events are not sync backlog
    }
    read = {TP(topics.rekeyed, 0): 400, TP(topics.dvcqg_sync, 0): 0, TP(topics.submitted, 0): 0}
    consumer = SimpleNamespace(assignment=lambda: set(highwater), highwater=highwater.get)
    w.app = cast(
        Any, SimpleNamespace(consumer=consumer, monitor=SimpleNamespace(tp_read_offsets=read))
    )
    assert w.sync_backlog() == 99 + 10 + 2 * RECORDS_PER_SYNC_MESSAGE
    assert dict(w.lag([topics.submitted])) == {TP(topics.submitted, 0): 9_999}


def test_the_worker_caches_the_partitions_of_units_worth_keeping_only() -> None:
    w = worker()
    for n in range(10_000):  # a public token asking for random ids: 404s
        w.units.home(f"random-{n}")
    submit(w, "junk-1")
    w.units.home("junk-1")
    w.units.home("xa-a")
    assert set(w.units._homes) == {"junk-1", "xa-a"}
