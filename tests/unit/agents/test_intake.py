"""Intake's decisions on fake messages, without a broker: dead letter, re-key or apply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from agents.intake import (
    KIND_HEADER,
    MAX_RECORDS_HERE,
    SYNC_DOSSIER,
    Actions,
    Apply,
    ApplySync,
    DeadLetter,
    Intake,
    Rekey,
    Split,
    grant_header,
)
from agents.intake import (
    SYNC_RECORD as SYNC_RECORD_KIND,
)
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.dossier import StateTooLarge
from kpi.engine import Engine
from kpi.quality import SyncQuality
from kpi.snapshots import SyncBook
from schemas.codec import parse_instant
from schemas.records import DossierSubmitted, EventKind
from streams.outbox import Batch
from streams.settings import Settings
from streams.topics import TopicNames, UnitPartitions, partition_for
from streams.worker import Worker
from tests.fakes import RecordingProducer

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
    """A worker's sending (the real one, size checks and dead letters included) over a
    producer that records what it would send."""

    send = Worker.send
    dead_letter = Worker.dead_letter

    def __init__(self, engine: Any, max_message_bytes: int = 1_048_588) -> None:
        self.topics = TOPICS
        self.units = UnitPartitions(PARTITIONS)
        self.engine = engine
        self.settings = Settings(max_message_bytes=max_message_bytes)
        self.app = SimpleNamespace(producer=RecordingProducer())
        self.store = SimpleNamespace(changelog="changelog", sent=lambda *written: None)
        self.changed_since: dict[str, float] = {}
        self.quality = SyncQuality()
        self.sync = SimpleNamespace(unit_of=lambda name, code: REGISTRY.get(name or ""))

    @property
    def sent(self) -> list[tuple[str, bytes | None, bytes | None]]:
        return self.app.producer.sent

    def admits(self, unit_id: str) -> bool:
        return True


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
REGISTRY = {"000.01.30.H34": "xa-a"}
"""The registry unit a DonViXuLy names, in these tests."""


def sync_message(*records: Any, key: bytes | None = None, partition: int = 0) -> Message:
    body = {"service": "DongBoHoSoMC", "synced_at": "2026-03-02T08:00:00+07:00", "data": records}
    return Message(TOPICS.dvcqg_sync, orjson.dumps(body), key, partition)


def test_a_lone_sync_record_on_its_partition_is_applied() -> None:
    decision = decide(sync_message(SYNC_RECORD, key=b"HS-1", partition=SYNC_HOME))
    assert isinstance(decision, ApplySync)
    [(record, record_digest, _)] = decision.records
    assert record.dossier_id == "HS-1" and len(record_digest) == 64


def test_a_call_with_one_dossiers_records_on_its_partition_is_applied_without_a_split() -> None:
    steps = [{"MaHoSo": "HS-1", "NguoiXuLy": who, "ThoiDiemXuLy": "20260302080000"} for who in "ab"]
    body = {"service": "CapNhatTienDoHoSoMC", "synced_at": "2026-03-02T08:00:00+07:00"}
    message = Message(TOPICS.dvcqg_sync, orjson.dumps(body | {"data": steps}), b"HS-1", SYNC_HOME)
    decision = decide(message)
    assert isinstance(decision, ApplySync) and len(decision.records) == 2
    other = [*steps, steps[0] | {"MaHoSo": "HS-2"}]  # another dossier: split as before
    message = Message(TOPICS.dvcqg_sync, orjson.dumps(body | {"data": other}), b"HS-1", SYNC_HOME)
    assert isinstance(decide(message), Split)


def test_a_batch_is_split_by_mahoso_and_its_invalid_records_set_aside() -> None:
    other = SYNC_RECORD | {"MaHoSo": "HS-2"}
    decision = decide(sync_message(SYNC_RECORD, 7, other | {"NgayTiepNhan": "bad"}, other))
    assert isinstance(decision, Split)
    assert [(f.key, f.partition) for f in decision.forward] == [
        (b"HS-1", SYNC_HOME),
        (b"HS-2", partition_for(b"HS-2", PARTITIONS)),
    ]
    alone = orjson.loads(decision.forward[0].value)
    assert alone["data"] == [SYNC_RECORD] and alone["service"] == "DongBoHoSoMC"
    assert [reason for reason, _, _ in decision.invalid] == [
        "data[1]: record must be a JSON object, got integer",
        "data[2] (MaHoSo 'HS-2'): NgayTiepNhan: 'bad' is not a yyyyMMddHHmmss date",
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
    huge_date = orjson.dumps(SYNC_RECORD | {"NgayHenTra": "9" * 5000})
    decision = decide(raw(huge_date))
    assert isinstance(decision, Split) and "NgayHenTra" in decision.invalid[0][0]
    assert isinstance(decide(raw(nested, key=b"HS-1", partition=SYNC_HOME)), ApplySync)
    deeper = good[:-1] + b', "Extra": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}"
    decision = decide(raw(deeper, key=b"HS-1", partition=SYNC_HOME))
    assert isinstance(decision, Split) and "cannot be encoded" in decision.invalid[0][0]


def handled(message: Message, worker: FakeWorker | None = None) -> FakeWorker:
    """The worker after its intake handled ``message``; everything sent is recorded."""
    worker = worker or FakeWorker(None)
    asyncio.run(Actions(cast(Any, worker)).handle(Batch(), message))
    return worker


LONG = "2" * 300_000


def test_a_huge_value_in_a_sync_record_makes_a_small_dead_letter() -> None:
    # One request once crash-looped the worker: its reason quoted the value whole, and
    # the producer refused a dead letter of 2.1 MB, every time the message was read again.
    dates = ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi")
    for field_name in dates:
        record = SYNC_RECORD | {"TrangThaiHoSo": "9", "NgayKetThucXuLy": "20260303080000"}
        worker = handled(sync_message(record | {field_name: LONG}))
        [(topic, _, value)] = worker.sent
        letter = orjson.loads(value or b"")
        assert topic == TOPICS.dead_letter and field_name in letter["reason"]
        assert len(letter["reason"]) <= 1024 and len(value or b"") < 200_000
        assert letter["original_size"] > 300_000 and len(letter["original_sha256"]) == 64


def test_a_huge_synced_at_written_to_the_topic_makes_a_small_dead_letter() -> None:
    body = {"service": "DongBoHoSoMC", "synced_at": LONG, "data": [SYNC_RECORD]}
    worker = handled(Message(TOPICS.dvcqg_sync, orjson.dumps(body), None, 0))
    [(topic, _, value)] = worker.sent
    assert topic == TOPICS.dead_letter and len(value or b"") < 200_000
    assert orjson.loads(value or b"")["reason"].startswith("synced_at: '2222")


def test_a_record_that_grows_when_forwarded_becomes_a_dead_letter_not_a_refused_send() -> None:
    # 80,000 copies of 1e15 are 400 KB as sent, 1.5 MB as the split writes them again.
    record = orjson.dumps(SYNC_RECORD)[:-1] + b',"Extra":[' + b",".join([b"1e15"] * 80_000)
    body = b'{"service":"DongBoHoSoMC","synced_at":"2026-03-02T08:00:00+07:00","data":['
    message = Message(TOPICS.dvcqg_sync, body + record + b"]}]}", None, 0)
    assert len(message.value or b"") < 500_000
    worker = handled(message)
    [(topic, _, value)] = worker.sent
    letter = orjson.loads(value or b"")
    assert topic == TOPICS.dead_letter and "CCHC_MAX_MESSAGE_BYTES" in letter["reason"]
    assert letter["original_size"] > 1_048_588, "the dead letter says what was not sent"


def test_nothing_the_intake_produces_is_over_the_brokers_limit() -> None:
    # A broker with a 600 KB limit: a forwarded 700 KB record is dead-lettered instead.
    record = SYNC_RECORD | {"Extra": "x" * 700_000}
    worker = handled(sync_message(record), FakeWorker(None, max_message_bytes=600_000))
    assert [topic for topic, _, _ in worker.sent] == [TOPICS.dead_letter]
    assert all(len(value or b"") < 600_000 for _, _, value in worker.sent)


def test_input_that_would_make_a_state_too_large_is_set_aside_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The 257th progress record of one dossier is hostile input, not a bug: no traceback,
    # and cchc_events_failed_total keeps counting bugs only.
    class Full:
        def apply(self, event: Any) -> Any:
            raise StateTooLarge("the dossier already has 256 progress records")

    worker = FakeWorker(Full())
    actions = Actions(cast(Any, worker))
    failed = actions.failed[TOPICS.submitted]
    before = failed._value.get()
    asyncio.run(actions.handle(Batch(), Message()))
    [(topic, _, value)] = worker.sent
    assert topic == TOPICS.dead_letter and b"256 progress records" in (value or b"")
    assert failed._value.get() == before and not caplog.records


def test_a_header_without_a_value_is_a_dead_letter_not_a_crash() -> None:
    # Kafka allows a header whose value is null; bytes(None) once stopped the worker at
    # every restart.
    value = orjson.dumps(SUBMITTED)
    message = Message(TOPICS.rekeyed, value, b"xa-cam-lam", HOME, 0, [(KIND_HEADER, None)])
    assert decide(message) == DeadLetter(f"topic {TOPICS.rekeyed} carries no known event kind")
    sync = sync_message(SYNC_RECORD, key=b"HS-1", partition=SYNC_HOME)
    sync.headers = [("cchc-grant", None)]
    assert isinstance(decide(sync), ApplySync)


def test_invalid_sync_records_are_counted_by_the_unit_they_name() -> None:
    listed = SYNC_RECORD | {"NgayTiepNhan": "bad"}
    unlisted = listed | {"DonViXuLy": "UBND xã Lạ"}
    worker = handled(sync_message(listed, listed, unlisted, 7))
    assert worker.quality.invalid.counts == {"xa-a": 2, "UBND xã Lạ": 1, "": 1}


def sync_worker(owns: Callable[[int], bool]) -> FakeWorker:
    """A worker with a real SyncBook and Engine, owning the partitions ``owns`` says."""
    states: dict[int, dict[bytes, bytes]] = {}
    clock = Clock(ClockSpec("fixed", parse_instant("2026-03-31T12:00:00+07:00", "t")))
    units = UnitPartitions(PARTITIONS)
    engine = Engine(
        WorkingCalendar(), clock, lambda unit: states.setdefault(units.home(unit)[1], {})
    )
    worker = FakeWorker(engine)
    worker.sync = SyncBook(lambda name, code: REGISTRY.get(name or ""))  # type: ignore[assignment]
    worker.store = SimpleNamespace(
        changelog="changelog",
        sent=lambda *written: None,
        owns=owns,
        of=lambda partition: states.setdefault(partition, {}),
    )
    return worker


def test_a_fact_for_a_unit_this_worker_owns_is_applied_here_without_a_pass() -> None:
    message = sync_message(SYNC_RECORD, key=b"HS-1", partition=SYNC_HOME)
    worker = handled(message, sync_worker(owns=lambda partition: True))
    assert [topic for topic, _, _ in worker.sent] == ["changelog", "changelog"]
    assert worker.engine.tracked_units() == {"xa-a"}, "the unit counts it at once"
    elsewhere = handled(message, sync_worker(owns=lambda partition: partition == SYNC_HOME))
    assert [topic for topic, _, _ in elsewhere.sent] == ["changelog", TOPICS.rekeyed]
    assert elsewhere.engine.tracked_units() == set(), "its owner applies it"


def test_records_of_one_dossier_set_aside_in_one_pass_make_letters_of_their_own_size() -> None:
    # A call of one MaHoSo whose records the sender may not write: each record's letter is
    # that record, never the whole message once per record (9,500 x 1 MiB, once).
    record = SYNC_RECORD | {"DonViXuLy": "UBND xã B"}
    message = sync_message(*[record] * 8, key=b"HS-1", partition=SYNC_HOME)
    message.headers = [grant_header(frozenset({"xa-a"}))]
    worker = handled(message, sync_worker(owns=lambda partition: True))
    letters = [orjson.loads(value or b"") for topic, _, value in worker.sent]
    assert len(letters) == 8 and all("may not write" in letter["reason"] for letter in letters)
    assert all(len(letter["original_value_b64"]) < 400 for letter in letters)
    many = sync_message(*[record] * (MAX_RECORDS_HERE + 1), key=b"HS-1", partition=SYNC_HOME)
    assert isinstance(decide(many), Split), "a long message goes through the split"
