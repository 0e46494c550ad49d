"""``cchc produce``: publish JSON lines ``{"topic": ..., "value": {...}, "key": ...}``.

``topic`` is a contract name (``cchc.dossier-submitted`` …; the topic prefix is applied);
``key`` defaults to the event's ``unit_id``. Every line is checked against the contract
first; a file with an invalid line publishes nothing (unless ``skip_invalid``), and the
errors name their line numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from schemas.codec import InvalidEvent, decode
from streams.kafka import new_producer
from streams.settings import Settings
from streams.topics import TopicNames

_CONTRACT = TopicNames("")


Message = tuple[str, bytes, bytes]
"""(contract topic name, key, value)."""


@dataclass
class Checked:
    lines: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_lines(lines: Iterable[bytes]) -> Checked:
    checked = Checked()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            checked.lines.append(_check(text))
        except InvalidEvent as error:
            checked.errors.append(f"line {number}: {error.reason}")
    return checked


def _check(text: bytes) -> Message:
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"not JSON: {error}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("value"), dict):
        raise InvalidEvent('expected {"topic": ..., "value": {...}}')
    kind = _CONTRACT.kind_of(envelope.get("topic", ""))
    if kind is None:
        inputs = ", ".join(_CONTRACT.inputs)
        raise InvalidEvent(f"topic {envelope.get('topic')!r} is not one of {inputs}")
    value = orjson.dumps(envelope["value"])
    event = decode(kind, value)
    key = envelope.get("key", event.unit_id)
    if not isinstance(key, str):
        raise InvalidEvent("key must be a string")
    return _CONTRACT.for_kind(kind), key.encode(), value


def publish(settings: Settings, messages: Iterable[Message]) -> Counter[str]:
    """Send messages in order (the topic prefix applied) and wait until the broker has them."""
    assert settings.kafka_broker is not None
    prefix = settings.topic_prefix
    producer = new_producer(settings.kafka_broker, settings.security)
    counts: Counter[str] = Counter()
    try:
        for topic, key, value in messages:
            producer.send(prefix + topic, key=key, value=value)
            counts[prefix + topic] += 1
        producer.flush()
    finally:
        producer.close()
    return counts
