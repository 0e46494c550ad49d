"""The intake agent: the one Faust agent that reads every input topic.

For each message (Faust acks it once handled, and flushes what we produced for it before
it commits its offset, so the state change is durable before the input is skipped):

1. decode and validate (:func:`schemas.decode`); an invalid message goes to the dead-letter
   topic with its bytes, origin and reason, and nothing else happens to it;
2. a valid event whose Kafka key or partition is not its ``unit_id``'s is forwarded once
   to the internal re-keyed topic, on its unit's partition, and applied when it comes back;
   so a unit's state is always on the partition (and worker) that owns the unit;
3. everything else is applied to the state by the KPI engine (:mod:`agents.engine`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.partitioner.default import murmur2
from prometheus_client import Counter

from schemas.codec import InvalidEvent, decode, encode, format_instant
from schemas.records import Event, EventKind
from streams import metrics
from streams.topics import TopicNames

KIND_HEADER = "cchc-kind"
"""Header on re-keyed messages: the event kind of the topic they first came from."""


class MessageLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any
    timestamp: float


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


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
        apply: Callable[[Event, MessageLike], list[Outgoing]],
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self.apply = apply
        self._unit_partition: dict[str, tuple[bytes, int]] = {}
        self._counters: dict[tuple[Counter, str], Any] = {}

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

    def handle(self, message: MessageLike) -> list[Outgoing]:
        """What to produce for one input message (dead letter, re-keyed, or state change)."""
        kind = self.kind_of(message)
        raw = message.value
        try:
            if kind is None:
                raise InvalidEvent(f"topic {message.topic} carries no known event kind")
            if raw is None:
                raise InvalidEvent("message has no value (tombstone)")
            event = decode(kind, raw)
        except InvalidEvent as error:
            self._count(metrics.EVENTS_DEAD_LETTERED, message.topic)
            return [self.dead_letter(message, error.reason)]
        key, partition = self.home(event.unit_id)
        if message.key != key or message.partition != partition:
            self._count(metrics.EVENTS_REKEYED, message.topic)
            header = [(KIND_HEADER, kind.value.encode())]
            return [Outgoing(self.topics.rekeyed, key, raw, partition, header)]
        self._count(metrics.EVENTS_PROCESSED, message.topic)
        return self.apply(event, message)

    def _count(self, counter: Counter, topic: str) -> None:
        child = self._counters.get((counter, topic))
        if child is None:
            child = self._counters[counter, topic] = counter.labels(topic=topic)
        child.inc()

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
