"""``cchc produce``: publish JSON lines ``{"topic": ..., "value": {...}, "key": ...}``.

``topic`` is a contract name (``cchc.dossier-submitted`` …; the topic prefix is applied);
``key`` defaults to the event's ``unit_id`` (to none for a ``cchc.dvcqg-sync`` message,
whose records may be of many dossiers). Every line is checked against the contract
first, a sync message record by record; a file with an invalid line publishes nothing
(unless ``skip_invalid``), and the errors name their line numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from schemas.codec import InvalidEvent, decode
from schemas.dvcqg import decode_sync, read_record, where
from streams.kafka import close_within, new_producer
from streams.settings import Settings
from streams.topics import TopicNames

_CONTRACT = TopicNames("")


Message = tuple[str, bytes | None, bytes]
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
    topic = envelope.get("topic", "")
    value = orjson.dumps(envelope["value"])
    if topic == _CONTRACT.dvcqg_sync:
        sync = decode_sync(value)
        for position, record in enumerate(sync.records):
            try:
                read_record(sync.service, record)
            except InvalidEvent as error:
                raise InvalidEvent(f"{where(position, record)}: {error.reason}") from None
        default_key = None
    else:
        kind = _CONTRACT.kind_of(topic)
        if kind is None:
            inputs = ", ".join(_CONTRACT.inputs)
            raise InvalidEvent(f"topic {envelope.get('topic')!r} is not one of {inputs}")
        default_key = decode(kind, value).unit_id
    key = envelope.get("key", default_key)
    if key is not None and not isinstance(key, str):
        raise InvalidEvent("key must be a string")
    return topic, None if key is None else key.encode(), value


GIVE_UP_SECONDS = 1.0
"""After Ctrl-C (or an error), how long the messages already sent get to reach the
broker before the producer is closed anyway. kafka-python's own close waits for them as
long as they may be retried (two minutes): Ctrl-C did not end a command whose broker
was slow, stopping or gone."""


def publish(settings: Settings, messages: Iterable[Message]) -> Counter[str]:
    """Send messages in order (the topic prefix applied) and wait until the broker has them.

    Interrupted (Ctrl-C, an error), it returns within :data:`GIVE_UP_SECONDS`; messages
    not yet acknowledged by then may be lost.
    """
    assert settings.kafka_broker is not None
    prefix = settings.topic_prefix
    producer = new_producer(settings.kafka_broker, settings.security)
    counts: Counter[str] = Counter()
    delivered = False
    try:
        for topic, key, value in messages:
            producer.send(prefix + topic, key=key, value=value)
            counts[prefix + topic] += 1
        producer.flush()
        delivered = True
    finally:
        if delivered:
            producer.close()
        else:
            close_within(producer, GIVE_UP_SECONDS)
    return counts
