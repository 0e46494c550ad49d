"""The intake agent: reads every input topic and applies valid events to the state.

For each message, :meth:`Intake.decide` says what to do, without side effects:

1. :class:`DeadLetter`: it breaks the contract (:func:`schemas.decode` says why), or has no
   value, or comes from a topic that carries no known event;
2. :class:`Rekey`: it is valid but its Kafka key or partition is not its ``unit_id``'s, so
   it is forwarded once to the internal re-keyed topic, on its unit's partition, and applied
   when it comes back; a unit's state is always on the partition (and worker) that owns it;
3. :class:`Apply`: apply it to the KPI engine.

The agent acts on the decision: it sends the dead letter, the re-keyed copy or the state
change to the changelog. Faust acks a batch once the next is taken, and flushes what was
produced for it before committing its offsets, so a state change is durable before its
input is skipped.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple, Protocol

from schemas.codec import InvalidEvent, decode, encode_dead_letter
from schemas.records import Event, EventKind
from streams import instruments
from streams.topics import TopicNames, UnitPartitions
from streams.worker import Worker

KIND_HEADER = "cchc-kind"
"""Header on re-keyed messages: the event kind of the topic they first came from."""
_KINDS = {kind.value.encode(): kind for kind in EventKind}

log = logging.getLogger(__name__)

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
    event: Event


class Rekey(NamedTuple):
    key: bytes
    partition: int
    headers: list[tuple[str, bytes]]


class DeadLetter(NamedTuple):
    reason: str


Decision = Apply | Rekey | DeadLetter


def _header(headers: Any, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return bytes(value)
    return None


class Intake:
    """Decides what becomes of each input message; knows nothing of Faust streams.

    >>> from types import SimpleNamespace as Message
    >>> intake = Intake(TopicNames(), UnitPartitions(8))
    >>> intake.decide(Message(topic="cchc.unit-ranking", partition=0, key=b"u", headers=[],
    ...                       value=b'{"event_id": "r1", "unit_id": "u"}'))
    DeadLetter(reason='year: missing, rank: missing, published_at: missing')
    """

    def __init__(self, topics: TopicNames, units: UnitPartitions) -> None:
        self.topics = topics
        self.units = units

    def kind_of(self, message: MessageLike) -> EventKind | None:
        if message.topic == self.topics.rekeyed:
            return _KINDS.get(_header(message.headers, KIND_HEADER) or b"")
        return self.topics.kind_of(message.topic)

    def decide(self, message: MessageLike) -> Decision:
        kind = self.kind_of(message)
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
        return Apply(event)


def install(worker: Worker) -> None:
    """Register the intake agent on the worker's app."""
    app, store, engine, topics = worker.app, worker.store, worker.engine, worker.topics
    intake = Intake(topics, worker.units)
    inputs = topics.co_partitioned
    processed = {t: instruments.EVENTS_PROCESSED.labels(topic=t) for t in inputs}
    dead_lettered = {t: instruments.EVENTS_DEAD_LETTERED.labels(topic=t) for t in inputs}
    rekeyed = {t: instruments.EVENTS_REKEYED.labels(topic=t) for t in inputs}
    failed = {t: instruments.EVENTS_FAILED.labels(topic=t) for t in inputs}
    channel = app.topic(
        *inputs,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=worker.settings.topic_partitions,
    )

    async def apply(message: MessageLike, event: Event) -> None:
        try:
            change = engine.apply(event)
        except Exception as error:  # a bug's victim must not take the province's monitor down
            log.exception("applying %s from %s failed", event.event_id, message.topic)
            failed[message.topic].inc()
            await dead_letter(message, f"could not be applied: {type(error).__name__}: {error}")
            return
        processed[message.topic].inc()
        if message.timestamp:
            instruments.EVENT_TO_STATE.observe(max(0.0, time.time() - message.timestamp))
            worker.changed_since.setdefault(event.unit_id, message.timestamp)
        if change is not None:
            key, value = change
            partition = message.partition
            sent = await app.producer.send(store.changelog, key, value, partition, None, None)
            store.sent(partition, key, sent)

    async def rekey(message: MessageLike, to: Rekey) -> None:
        rekeyed[message.topic].inc()
        await app.producer.send(
            topics.rekeyed, to.key, message.value, to.partition, None, to.headers
        )

    async def dead_letter(message: MessageLike, reason: str) -> None:
        dead_lettered[message.topic].inc()
        letter = encode_dead_letter(
            reason,
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            time.time_ns() // 1000,
        )
        await app.producer.send(topics.dead_letter, message.key, letter, None, None, None)

    @app.agent(channel, name="intake")
    async def intake_agent(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN):
            await worker.ready.wait()
            for event in events:
                message = event.message
                if not store.owns(message.partition):
                    continue  # revoked while buffered: its new owner reads it again
                decision = intake.decide(message)
                if isinstance(decision, Apply):
                    await apply(message, decision.event)
                elif isinstance(decision, Rekey):
                    await rekey(message, decision)
                else:
                    await dead_letter(message, decision.reason)
