"""The intake agent: the one Faust agent that reads every input topic.

Per batch of messages (``take_events``: Faust acks them only after the batch is done, and
flushes what we produced before it commits their offsets):

1. decode and validate (:func:`schemas.decode`); an invalid message goes to the dead-letter
   topic with its bytes, origin and reason, and nothing else happens to it;
2. a valid event whose Kafka key or partition is not its ``unit_id``'s is forwarded once
   to the internal re-keyed topic, on its unit's partition, and applied when it comes back;
   so a unit's state is always on the partition (and worker) that owns the unit;
3. everything else is applied by the :class:`Intake` handler.
"""

from __future__ import annotations

import base64
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka.partitioner.default import murmur2

from schemas.codec import InvalidEvent, decode, encode, format_instant
from schemas.records import Event, EventKind
from streams import metrics
from streams.topics import TopicNames

KIND_HEADER = "cchc-kind"
"""Header on re-keyed messages: the event kind of the topic they first came from."""

BATCH_SIZE = 2000
BATCH_WITHIN = 0.05  # seconds: the most a lone event waits for company


class MessageLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class BatchResult:
    """What one batch produced, to be sent before the batch is acked."""

    outgoing: list[Outgoing] = field(default_factory=list)
    processed: Tally[str] = field(default_factory=Tally)
    dead_lettered: Tally[str] = field(default_factory=Tally)
    rekeyed: Tally[str] = field(default_factory=Tally)


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as producers and Faust use it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _header(headers: Any, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return bytes(value)
    return None


class Intake:
    """Validates, routes and applies messages; knows nothing of Faust streams."""

    def __init__(
        self,
        topics: TopicNames,
        partitions: int,
        apply: Callable[[Event, int], list[Outgoing]],
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self.apply = apply
        self._unit_partition: dict[str, tuple[bytes, int]] = {}

    def home(self, unit_id: str) -> tuple[bytes, int]:
        """The Kafka key and partition a unit's events belong on (cached: few units)."""
        found = self._unit_partition.get(unit_id)
        if found is None:
            key = unit_id.encode()
            found = self._unit_partition[unit_id] = (key, partition_for(key, self.partitions))
        return found

    def kind_of(self, message: MessageLike) -> EventKind | None:
        if message.topic == self.topics.rekeyed:
            name = _header(message.headers, KIND_HEADER)
            return EventKind(name.decode()) if name else None
        return self.topics.kind_of(message.topic)

    def handle_batch(self, messages: list[MessageLike]) -> BatchResult:
        result = BatchResult()
        for message in messages:
            self._handle(message, result)
        return result

    def _handle(self, message: MessageLike, result: BatchResult) -> None:
        kind = self.kind_of(message)
        raw = message.value
        try:
            if kind is None:
                raise InvalidEvent(f"topic {message.topic} carries no known event kind")
            if raw is None:
                raise InvalidEvent("message has no value (tombstone)")
            event = decode(kind, raw)
        except InvalidEvent as error:
            result.outgoing.append(self.dead_letter(message, error.reason))
            result.dead_lettered[message.topic] += 1
            return
        key, partition = self.home(event.unit_id)
        if message.key != key or message.partition != partition:
            result.outgoing.append(
                Outgoing(
                    self.topics.rekeyed, key, raw, partition, [(KIND_HEADER, kind.value.encode())]
                )
            )
            result.rekeyed[message.topic] += 1
            return
        result.outgoing.extend(self.apply(event, partition))
        result.processed[message.topic] += 1

    def dead_letter(self, message: MessageLike, reason: str) -> Outgoing:
        key = message.key
        body = {
            "reason": reason,
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "original_key_b64": None if key is None else base64.b64encode(key).decode(),
            "original_value_b64": base64.b64encode(message.value or b"").decode(),
            "dead_lettered_at": format_instant(time.time_ns() // 1000),
        }
        return Outgoing(self.topics.dead_letter, key, encode(body))


def record_metrics(result: BatchResult) -> None:
    for tally, counter in (
        (result.processed, metrics.EVENTS_PROCESSED),
        (result.dead_lettered, metrics.EVENTS_DEAD_LETTERED),
        (result.rekeyed, metrics.EVENTS_REKEYED),
    ):
        for topic, count in tally.items():
            counter.labels(topic=topic).inc(count)
