"""Intake's decisions on fake messages, without a broker: dead letter, re-key or apply."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from agents.intake import (
    KIND_HEADER,
    SYNC_DOSSIER,
    Actions,
    Apply,
    ApplySync,
    DeadLetter,
    Intake,
    Rekey,
    Split,
)
from agents.intake import (
    SYNC_RECORD as SYNC_RECORD_KIND,
)
from schemas.records import DossierSubmitted, EventKind
from streams.outbox import Batch, Record
from streams.topics import TopicNames, UnitPartitions, partition_for

PARTITIONS = 8
TOPICS = TopicNames("t.")
SUBMITTED = {
    "event_id": "s1",
    "unit_id": "xa-cam-lam",
    "dossier_id": "d1",
    "received_at": "2026-03-02T08:00:00+07:00",
    "due_at": "2026-03-05T00:00:00+07:00",
}
HOME = partition_for(b"xa-cam-lam", PARTITIONS)


@dataclass
class Message:
    topic: str = TOPICS.submitted
    value: bytes | None = field(default_factory=lambda: orjson.dumps(SUBMITTED))
    key: bytes | None = b"xa-cam-lam"
    partition: int = HOME
    offset: int = 0
    headers: Any = ()
    timestamp: float = 0.0


def decide(message: Message, admits: Any = lambda unit_id: True) -> Any:
    return Intake(TOPICS, UnitPartitions(PARTITIONS), admits).decide(message)


def test_a_valid_event_on_its_units_key_and_partition_is_applied() -> None:
    decision = decide(Message())
    assert isinstance(decision, Apply)
    assert isinstance(decision.event, DossierSubmitted) and decision.event.dossier_id == "d1"


def test_an_invalid_event_is_dead_lettered_with_its_reason() -> None:
    bad = dict(SUBMITTED, received_at="2026-03-02T08:00:00")
    assert decide(Message(value=orjson.dumps(bad))) == DeadLetter(
        "received_at: timestamp has no UTC offset"
    )
    assert decide(Message(value=b"{not json")).reason.startswith("not JSON")


def test_a_tombstone_is_dead_lettered() -> None:
    assert decide(Message(value=None)) == DeadLetter("message has no value (tombstone)")


def test_a_topic_without_an_event_kind_is_dead_lettered() -> None:
    assert decide(Message(topic="t.cchc.other")) == DeadLetter(
        "topic t.cchc.other carries no known event kind"
    )
    # On the internal re-keyed topic, the kind comes from the header, and nothing else.
    assert decide(Message(topic=TOPICS.rekeyed)) == DeadLetter(
        f"topic {TOPICS.rekeyed} carries no known event kind"
    )


def test_a_wrong_key_or_partition_is_rekeyed_once_to_the_units_home() -> None:
    header = [(KIND_HEADER, EventKind.SUBMITTED.value.encode())]
    expected = Rekey(b"xa-cam-lam", HOME, header)
    assert decide(Message(key=b"another-key")) == expected
    assert decide(Message(key=None)) == expected
    assert decide(Message(partition=(HOME + 1) % PARTITIONS)) == expected


def test_a_rekeyed_message_comes_back_and_is_applied_as_its_original_kind() -> None:
    header = [(KIND_HEADER, EventKind.SUBMITTED.value.encode())]
    decision = decide(Message(topic=TOPICS.rekeyed, headers=header))
    assert isinstance(decision, Apply) and isinstance(decision.event, DossierSubmitted)


def test_a_unit_the_worker_may_not_track_is_dead_lettered_after_rekeying() -> None:
    refused = decide(Message(), admits=lambda unit_id: False)
    assert isinstance(refused, DeadLetter) and "CCHC_MAX_UNLISTED_UNITS" in refused.reason
    # The first hop only re-keys: the unit's owner decides whether it may track it.
    assert isinstance(decide(Message(key=b"other"), admits=lambda unit_id: False), Rekey)


class FakeWorker:
    """What the intake's actions use of a worker, recording what it would send."""

    def __init__(self, engine: Any) -> None:
        self.topics = TOPICS
        self.units = UnitPartitions(PARTITIONS)
        self.engine = engine
        self.store = type("Store", (), {"changelog": "changelog"})()
        self.changed_since: dict[str, float] = {}
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    def admits(self, unit_id: str) -> bool:
        return True

    async def send(
        self, topic: str, key: Any, value: Any, partition: Any, headers: Any = None
    ) -> Any:
        self.sent.append((topic, key, value))
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        written.set_result("metadata")
        return Record(topic, key, value, partition, headers, written)


def test_an_event_whose_application_raises_is_dead_lettered_not_fatal() -> None:
    class Broken:
        def apply(self, event: Any) -> Any:
            raise RuntimeError("a bug")

    worker = FakeWorker(Broken())
    batch = Batch()
    asyncio.run(Actions(cast(Any, worker)).handle(batch, Message()))
    [(topic, key, value)] = worker.sent
    assert topic == TOPICS.dead_letter and key == b"xa-cam-lam"
    letter = orjson.loads(value or b"")
    assert letter["reason"] == "could not be applied: RuntimeError: a bug"
    assert len(batch.records) == 1, "the dead letter is confirmed before the input commits"


def test_an_applied_event_sends_its_state_change_to_the_changelog() -> None:
    class Applying:
        def apply(self, event: Any) -> Any:
            return b"key", b"state"

    worker = FakeWorker(Applying())
    batch = Batch()
    asyncio.run(Actions(cast(Any, worker)).handle(batch, Message()))
    assert worker.sent == [("changelog", b"key", b"state")] and len(batch.records) == 1


SYNC_RECORD = {
    "MaHoSo": "HS-1",
    "DonViXuLy": "000.01.30.H34",
    "TrangThaiHoSo": 2,
    "NgayTiepNhan": "20260302080000",
    "NgayHenTra": "20260304170000",
}
SYNC_HOME = partition_for(b"HS-1", PARTITIONS)


def sync_message(*records: Any, key: bytes | None = None, partition: int = 0) -> Message:
    body = {"service": "DongBoHoSoMC", "synced_at": "2026-03-02T08:00:00+07:00", "data": records}
    return Message(TOPICS.dvcqg_sync, orjson.dumps(body), key, partition)


def test_a_lone_sync_record_on_its_partition_is_applied() -> None:
    decision = decide(sync_message(SYNC_RECORD, key=b"HS-1", partition=SYNC_HOME))
    assert isinstance(decision, ApplySync)
    assert decision.record.dossier_id == "HS-1" and len(decision.digest) == 64


def test_a_batch_is_split_by_mahoso_and_its_invalid_records_set_aside() -> None:
    other = SYNC_RECORD | {"MaHoSo": "HS-2"}
    decision = decide(sync_message(SYNC_RECORD, 7, other | {"TrangThaiHoSo": 0}, other))
    assert isinstance(decision, Split)
    assert [(f.key, f.partition) for f in decision.forward] == [
        (b"HS-1", SYNC_HOME),
        (b"HS-2", partition_for(b"HS-2", PARTITIONS)),
    ]
    alone = orjson.loads(decision.forward[0].value)
    assert alone["data"] == [SYNC_RECORD] and alone["service"] == "DongBoHoSoMC"
    assert [reason for reason, _ in decision.invalid] == [
        "data[1]: record must be a JSON object, got integer",
        "data[2] (MaHoSo 'HS-2'): TrangThaiHoSo: 0 is not 1..10",
    ]
    # the forwarded copy is applied where it lands
    landed = Message(TOPICS.rekeyed, decision.forward[0].value, b"HS-1", SYNC_HOME)
    landed.headers = [(KIND_HEADER, SYNC_RECORD_KIND)]
    assert isinstance(decide(landed), ApplySync)


def test_a_message_that_is_no_sync_message_is_a_dead_letter() -> None:
    assert decide(Message(TOPICS.dvcqg_sync, b"[]")) == DeadLetter(
        "event must be a JSON object, got array"
    )


def test_a_fact_must_be_readable_and_on_its_units_partition() -> None:
    fact = orjson.dumps(["xa-cam-lam", "HS-1", [[1772413200000000, "ab", 0], None, None, []]])
    headers = [(KIND_HEADER, SYNC_DOSSIER)]
    wrong = Message(TOPICS.rekeyed, fact, b"xa-cam-lam", (HOME + 1) % PARTITIONS, 0, headers)
    assert decide(wrong) == DeadLetter("not on the partition of unit_id 'xa-cam-lam'")
    junk = Message(TOPICS.rekeyed, b'["xa-cam-lam"]', b"xa-cam-lam", HOME, 0, headers)
    assert isinstance(decide(junk), DeadLetter)
    right = Message(TOPICS.rekeyed, fact, b"xa-cam-lam", HOME, 0, headers)
    assert isinstance(decide(right), Apply)


def test_sync_records_that_break_the_reader_are_dead_letters_not_crashes() -> None:
    def raw(*records: bytes, key: bytes | None = None, partition: int = 0) -> Message:
        body = b'{"service": "DongBoHoSoMC", "synced_at": "2026-03-02T08:00:00+07:00", "data": ['
        return Message(TOPICS.dvcqg_sync, body + b",".join(records) + b"]}", key, partition)

    good = orjson.dumps(SYNC_RECORD)
    nested = good[:-1] + b', "Extra": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}"
    decision = decide(raw(nested, orjson.dumps(SYNC_RECORD | {"MaHoSo": "HS-2"})))
    assert isinstance(decision, Split) and len(decision.forward) == 1
    assert "cannot be encoded" in decision.invalid[0][0]
    huge_status = orjson.dumps(SYNC_RECORD | {"TrangThaiHoSo": "9" * 5000})
    decision = decide(raw(huge_status))
    assert isinstance(decision, Split) and "TrangThaiHoSo" in decision.invalid[0][0]
    assert isinstance(decide(raw(nested, key=b"HS-1", partition=SYNC_HOME)), ApplySync)
    deeper = good[:-1] + b', "Extra": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}"
    decision = decide(raw(deeper, key=b"HS-1", partition=SYNC_HOME))
    assert isinstance(decision, Split) and "cannot be encoded" in decision.invalid[0][0]
