"""The intake agent: reads every input topic and applies valid events to the state.

For each message, :meth:`Intake.decide` says what to do, without side effects:

1. :class:`DeadLetter`: it breaks the contract (:func:`schemas.decode` says why), or has no
   value, or comes from a topic that carries no known event;
2. :class:`Rekey`: it is valid but its Kafka key or partition is not its ``unit_id``'s, so
   it is forwarded once to the internal re-keyed topic, on its unit's partition, and applied
   when it comes back; a unit's state is always on the partition (and worker) that owns it;
3. :class:`Apply`: apply it to the KPI engine.

A national sync message (contract §9) takes two more steps. :class:`Split`: its valid
records go one by one to the re-keyed topic, on their ``MaHoSo``'s partition, and its
invalid ones to the dead letters; :class:`ApplySync`: a lone record on its ``MaHoSo``'s
partition updates that dossier's sync state, whose facts go to the units' partitions (the
re-keyed topic again, with their own kind header), and are applied there like events.

The agent acts on the decision: it sends the dead letter, the re-keyed copy or the state
change to the changelog, and holds the message in the worker's outbox
(:mod:`streams.outbox`) until all of that is written; only then may its offset be
committed. A failed write is sent again, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import orjson

from kpi.dossier import StateTooLarge
from kpi.snapshots import DossierSnapshot, Grant, NotGranted, grant_text
from schemas.codec import InvalidEvent, decode, encode, format_instant
from schemas.dvcqg import (
    MAX_UNIT_CHARS,
    DossierRecord,
    ProgressRecord,
    decode_sync,
    digest,
    read_record,
    where,
)
from schemas.records import Event, EventKind, Instant
from streams import instruments
from streams.outbox import Batch, Source
from streams.topics import TopicNames, UnitPartitions, partition_for
from streams.worker import TooLargeToSend, Worker

KIND_HEADER = "cchc-kind"
"""Header on re-keyed messages: the event kind of the topic they first came from, or one
of the two kinds of sync traffic below."""
SYNC_RECORD = b"dvcqg-sync"
"""A single national sync record, on its ``MaHoSo``'s partition."""
SYNC_DOSSIER = b"dvcqg-dossier"
"""What a unit holds of a sync-record dossier (:class:`kpi.snapshots.DossierSnapshot`)."""
GRANT_HEADER = "cchc-grant"
"""Header on sync messages published for an ingest token, and on their split records: the
units the token may write, as a JSON array. Without it, a sync message was written to the
topic directly, by a producer its Kafka ACL allows: it may write every unit."""
_KINDS = {kind.value.encode(): kind for kind in EventKind}

log = logging.getLogger(__name__)

MAX_RECORDS_HERE = 16
"""Records of one ``MaHoSo`` a message may carry and still be applied where it lands: a
call of a real system carries a few; more go one by one through the split, so that a
record set aside costs a letter of its own size, never one of the whole message each."""
MAX_UNCONFIRMED_BATCHES = 20
"""Batches whose writes may await confirmation before the agent takes no more."""
BATCH_SIZE = 2000
BATCH_WITHIN = 0.05
"""The agent takes up to this many events, or what came within this many seconds, at a
time: its loop and awaits run per batch, not per event (bench/README.md)."""


class MessageLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any
    timestamp: float


class Apply(NamedTuple):
    event: Event | DossierSnapshot


class Rekey(NamedTuple):
    key: bytes
    partition: int
    headers: list[tuple[str, bytes]]


class DeadLetter(NamedTuple):
    reason: str


class Forward(NamedTuple):
    """One valid sync record, as a message of its own for its ``MaHoSo``'s partition."""

    key: bytes
    partition: int
    value: bytes
    headers: list[tuple[str, bytes]]


class Split(NamedTuple):
    forward: list[Forward]
    invalid: list[tuple[str, bytes, str]]
    """(reason, the record as JSON, the unit it names: ``DonViXuLy`` if it is text, else
    the message's ``madonvi``) of each invalid record."""


class ApplySync(NamedTuple):
    """Records of one ``MaHoSo``, on its partition, each with its digest and as it came."""

    records: list[tuple[DossierRecord | ProgressRecord, str, Any]]
    synced_at: Instant
    grant: Grant = None


Decision = Apply | Rekey | DeadLetter | Split | ApplySync


_UNLISTED = (
    "unit_id {!r} is not in the units registry, and this worker already tracks as many "
    "unlisted units as CCHC_MAX_UNLISTED_UNITS allows"
)


def _encoded(record: Any) -> bytes:
    """A record as JSON for its dead letter; empty if even that fails (the letter's source
    offset still finds it)."""
    try:
        return encode(record)
    except (TypeError, ValueError):
        return b""


def _named(record: Any, madonvi: str) -> str:
    """The unit an invalid record names, as far as it can be read (cut to a unit's
    length: it may be the very thing that is wrong)."""
    name = record.get("DonViXuLy") if isinstance(record, dict) else None
    return (name if isinstance(name, str) and name else madonvi)[:MAX_UNIT_CHARS]


def _header(headers: Any, name: str) -> bytes | None:
    """A header's value; None when absent or null (Kafka allows a header without one)."""
    for key, value in headers or ():
        if key == name:
            return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None
    return None


def grant_header(units: frozenset[str]) -> tuple[str, bytes]:
    """The header that carries an ingest token's units with its sync message."""
    return GRANT_HEADER, grant_text(units).encode()


def read_grant(headers: Any) -> Grant:
    """The units a sync message's sender may write (None: every unit).

    >>> read_grant([("cchc-grant", b'["xa-a"]')]), read_grant([])
    (frozenset({'xa-a'}), None)
    """
    raw = _header(headers, GRANT_HEADER)
    if raw is None:
        return None
    try:
        units = orjson.loads(raw)
    except orjson.JSONDecodeError:
        units = None
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise InvalidEvent(f"header {GRANT_HEADER}: not a JSON array of unit ids")
    return frozenset(units)


class Intake:
    """Decides what becomes of each input message; knows nothing of Faust streams.

    >>> from types import SimpleNamespace as Message
    >>> intake = Intake(TopicNames(), UnitPartitions(8), admits=lambda unit_id: True)
    >>> intake.decide(Message(topic="cchc.unit-ranking", partition=0, key=b"u", headers=[],
    ...                       value=b'{"event_id": "r1", "unit_id": "u"}'))
    DeadLetter(reason='year: missing, rank: missing, published_at: missing')
    """

    def __init__(
        self, topics: TopicNames, units: UnitPartitions, admits: Callable[[str], bool]
    ) -> None:
        self.topics = topics
        self.units = units
        self.admits = admits
        """Whether a unit may be tracked: listed, already tracked, or under the cap on
        units outside the registry, so junk ids cannot grow the state without bound."""

    def decide(self, message: MessageLike) -> Decision:
        topic = message.topic
        if topic == self.topics.rekeyed:
            header = _header(message.headers, KIND_HEADER) or b""
            kind = _KINDS.get(header)
            if header == SYNC_RECORD:
                return self._read_safely(self.decide_sync, message)
            if header == SYNC_DOSSIER:
                return self._read_safely(self.decide_fact, message)
        elif topic == self.topics.dvcqg_sync:
            return self._read_safely(self.decide_sync, message)
        else:
            kind = self.topics.kind_of(topic)
        raw = message.value
        try:
            if kind is None:
                raise InvalidEvent(f"topic {message.topic} carries no known event kind")
            event = decode(kind, raw)
        except InvalidEvent as error:
            return DeadLetter(error.reason)
        key, partition = self.units.home(event.unit_id)
        if message.key != key or message.partition != partition:
            return Rekey(key, partition, [(KIND_HEADER, kind.value.encode())])
        if not self.admits(event.unit_id):
            return DeadLetter(_UNLISTED.format(event.unit_id))
        return Apply(event)

    @staticmethod
    def _read_safely(read: Callable[[MessageLike], Decision], message: MessageLike) -> Decision:
        """Sync traffic is read further than a schema can check (nested records, digests):
        whatever it raises makes a dead letter, never a stopped worker."""
        try:
            return read(message)
        except InvalidEvent as error:
            return DeadLetter(error.reason)
        except Exception as error:
            return DeadLetter(f"could not be read: {type(error).__name__}: {error}")

    def decide_sync(self, message: MessageLike) -> Decision:
        """A sync message: applied when it is one valid record on its ``MaHoSo``'s
        partition, else split into such messages and dead letters."""
        sync = decode_sync(message.value)
        grant = read_grant(message.headers)
        headers = [(KIND_HEADER, SYNC_RECORD)]
        if grant is not None:
            headers.append(grant_header(grant))
        forward: list[Forward] = []
        invalid: list[tuple[str, bytes, str]] = []
        synced_at = format_instant(sync.synced_at)
        here = self._one_dossier_here(sync.service, sync.records, sync.madonvi, message)
        if here is not None:
            return ApplySync(here, sync.synced_at, grant)
        for position, record in enumerate(sync.records):
            try:
                parsed = read_record(sync.service, record, sync.madonvi)
                key = parsed.dossier_id.encode()
                partition = partition_for(key, self.units.partitions)
                single = {"service": sync.service, "synced_at": synced_at, "data": [record]}
                if sync.madonvi:
                    single["madonvi"] = sync.madonvi
                forward.append(Forward(key, partition, encode(single), headers))
            except InvalidEvent as error:
                reason = f"{where(position, record)}: {error.reason}"
                invalid.append((reason, _encoded(record), _named(record, sync.madonvi)))
            except (TypeError, ValueError, RecursionError) as error:  # nested too deep
                reason = f"{where(position, record)}: cannot be encoded: {error}"
                invalid.append((reason, _encoded(record), _named(record, sync.madonvi)))
        return Split(forward, invalid)

    def _one_dossier_here(
        self, service: str, records: list[Any], madonvi: str, message: MessageLike
    ) -> list[tuple[DossierRecord | ProgressRecord, str, Any]] | None:
        """The records, read, when they are all valid and of the one ``MaHoSo`` that keys
        the message on its partition (a one-stop system sends a dossier a call, of a few
        records): applied here, without a pass through the re-keyed topic. None otherwise."""
        key = message.key
        if not records or len(records) > MAX_RECORDS_HERE or key is None:
            return None
        if message.partition != partition_for(key, self.units.partitions):
            return None
        read = []
        for record in records:
            try:
                parsed = read_record(service, record, madonvi)
                if parsed.dossier_id.encode() != key:
                    return None
                read.append((parsed, digest(record), record))
            except (InvalidEvent, TypeError, ValueError, RecursionError):
                return None  # the split sets it aside with its reason
        return read

    def decide_fact(self, message: MessageLike) -> Decision:
        """What a unit should hold of a sync-record dossier, sent by :class:`ApplySync`."""
        fact = DossierSnapshot.decode(message.value)
        key, partition = self.units.home(fact.unit_id)
        if message.key != key or message.partition != partition:
            return DeadLetter(f"not on the partition of unit_id {fact.unit_id!r}")
        if not self.admits(fact.unit_id):
            return DeadLetter(_UNLISTED.format(fact.unit_id))
        return Apply(fact)


class Actions:
    """What the agent does with each decision, for one message of a batch: produce, count,
    and hold the message until what it produced is written."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.intake = Intake(worker.topics, worker.units, worker.admits)
        inputs = worker.topics.co_partitioned
        self.processed = {t: instruments.EVENTS_PROCESSED.labels(topic=t) for t in inputs}
        self.dead_lettered = {t: instruments.EVENTS_DEAD_LETTERED.labels(topic=t) for t in inputs}
        self.rekeyed = {t: instruments.EVENTS_REKEYED.labels(topic=t) for t in inputs}
        self.failed = {t: instruments.EVENTS_FAILED.labels(topic=t) for t in inputs}

    async def handle(self, batch: Batch, message: MessageLike) -> None:
        decision = self.intake.decide(message)
        if isinstance(decision, Apply):
            # An event is applied only on its unit's partition (Intake.decide).
            if await self.apply(batch, message, decision.event, message.partition):
                self.processed[message.topic].inc()
        elif isinstance(decision, Rekey):
            await self.rekey(batch, message, decision)
        elif isinstance(decision, ApplySync):
            await self.apply_sync(batch, message, decision)
        elif isinstance(decision, Split):
            await self.split(batch, message, decision)
        else:
            await self.dead_letter(batch, message, decision.reason)

    async def send(
        self,
        batch: Batch,
        message: MessageLike,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Produce one record for ``message`` (``value`` None: a deletion); one the broker
        would refuse for its size becomes the message's dead letter, cut, instead of a send
        that fails for ever."""
        try:
            sent = await self.worker.send(topic, key, value, partition, headers, _source(message))
        except TooLargeToSend as error:
            await self.dead_letter(batch, message, str(error), value)
            return
        batch.records.append(sent)

    async def set_aside(
        self, batch: Batch, message: MessageLike, error: Exception, value: bytes | None = None
    ) -> None:
        """A valid message (or ``value``, one record of it) whose application raised:
        dead-lettered with the error. Input that would make a state too large is expected;
        anything else is a bug worth a trace."""
        if not isinstance(error, StateTooLarge | NotGranted):
            log.exception("applying a message of %s failed", message.topic, exc_info=error)
            self.failed[message.topic].inc()
        reason = f"could not be applied: {type(error).__name__}: {error}"
        await self.dead_letter(batch, message, reason, value)

    async def apply(
        self,
        batch: Batch,
        message: MessageLike,
        event: Event | DossierSnapshot,
        partition: int,
    ) -> bool:
        """Apply to the engine, and send the state change to the changelog on the
        partition of the event's unit; False when the event was set aside."""
        worker = self.worker
        try:
            change = worker.engine.apply(event)
        except Exception as error:  # a bug's victim must not take the province's monitor down
            await self.set_aside(batch, message, error)
            return False
        if message.timestamp:
            instruments.EVENT_TO_STATE.observe(max(0.0, time.time() - message.timestamp))
            worker.changed_since.setdefault(event.unit_id, message.timestamp)
        if change is not None:
            key, value = change
            await self.send(batch, message, worker.store.changelog, key, value, partition)
        return True

    async def apply_sync(self, batch: Batch, message: MessageLike, sync: ApplySync) -> None:
        worker, partition = self.worker, message.partition
        states = worker.store.of(partition)
        alone = len(sync.records) == 1
        for record, record_digest, raw in sync.records:
            try:
                applied = worker.sync.apply(
                    partition, states, record, sync.synced_at, record_digest, sync.grant
                )
            except Exception as error:  # as in apply: set aside, never fatal
                # Of several records, the one that failed goes alone, as a split's would.
                await self.set_aside(batch, message, error, None if alone else _encoded(raw))
                continue
            if applied.unmatched:
                worker.quality.unmatched.add(applied.unmatched)
            for why in applied.dropped:
                instruments.SYNC_WAITING_DROPPED.labels(why=why).inc()
            for key, value in applied.changes:
                await self.send(batch, message, worker.store.changelog, key, value, partition)
            for fact in applied.facts:
                await self.hand_over(batch, message, fact)
        self.processed[message.topic].inc()

    async def hand_over(self, batch: Batch, message: MessageLike, fact: DossierSnapshot) -> None:
        """A fact for its unit: applied here when this worker owns the unit's partition
        (its changelog write is held with ``message``, and a rebalance waits for every held
        message, so the unit's next owner reads it); else sent there on the re-keyed topic."""
        worker = self.worker
        key, partition = worker.units.home(fact.unit_id)
        if worker.store.owns(partition) and worker.admits(fact.unit_id):
            await self.apply(batch, message, fact, partition)
            return
        topic, headers = worker.topics.rekeyed, [(KIND_HEADER, SYNC_DOSSIER)]
        await self.send(batch, message, topic, key, fact.encode(), partition, headers)

    async def split(self, batch: Batch, message: MessageLike, split: Split) -> None:
        topic = self.worker.topics.rekeyed
        for key, partition, value, headers in split.forward:
            self.rekeyed[message.topic].inc()
            await self.send(batch, message, topic, key, value, partition, headers)
        quality, unit_of = self.worker.quality, self.worker.sync.unit_of
        grant = read_grant(message.headers)  # read once already: it is valid
        for reason, record, named in split.invalid:
            unit_id = unit_of(named or None, None) or named
            # A sender's errors count for the units it may write, never against another's.
            quality.invalid.add(unit_id if grant is None or unit_id in grant else "")
            await self.dead_letter(batch, message, reason, record)

    async def rekey(self, batch: Batch, message: MessageLike, to: Rekey) -> None:
        self.rekeyed[message.topic].inc()
        topic, value = self.worker.topics.rekeyed, message.value or b""
        await self.send(batch, message, topic, to.key, value, to.partition, to.headers)

    async def dead_letter(
        self, batch: Batch, message: MessageLike, reason: str, value: bytes | None = None
    ) -> None:
        """Send ``message`` (or ``value``, one record of it) to the dead letters."""
        self.dead_lettered[message.topic].inc()
        original = message.value if value is None else value
        letter = await self.worker.dead_letter(_source(message), message.key, original, reason)
        batch.records.append(letter)


def _source(message: MessageLike) -> Source:
    return Source(message.topic, message.partition, message.offset)


def install(worker: Worker) -> None:
    """Register the intake agent, and the task that confirms its writes, on the worker's app."""
    app, store = worker.app, worker.store
    actions = Actions(worker)
    channel = app.topic(
        *worker.topics.co_partitioned,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=worker.settings.topic_partitions,
    )

    @app.agent(channel, name="intake")
    async def intake_agent(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN):
            await worker.ready.wait()
            batch = Batch()
            # Hold every message first: if anything below raises (the producer refusing a
            # send), Faust's ack of the batch must not commit a message left unhandled.
            owned = [e.message for e in events if store.owns(e.message.partition)]
            for message in owned:  # the others were revoked while buffered: re-read
                batch.hold(message)
            try:
                for message in owned:
                    await actions.handle(batch, message)
            except Exception as error:  # nothing of this batch commits; a restart re-reads it
                log.exception("the intake could not produce; stopping the worker")
                await app.crash(error)
                return
            worker.outbox.close(batch)
            while worker.outbox.backlog_batches > MAX_UNCONFIRMED_BATCHES:
                await asyncio.sleep(0.05)  # the broker is behind: do not hold more in memory

    @app.task
    async def confirm_writes() -> None:
        await worker.outbox.run(app.consumer)
