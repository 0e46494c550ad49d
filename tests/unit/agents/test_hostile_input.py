"""Hostile input through the real codec, intake decision and engine: every message is
either dead-lettered with a reason or applied, and nothing raises out."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.intake import KIND_HEADER, Apply, DeadLetter, Intake, Rekey
from kpi.alerts import AlertBook, evaluate_changes
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.rules import Thresholds
from schemas.codec import encode_dead_letter, parse_instant
from schemas.records import EventKind
from streams.topics import TopicNames, UnitPartitions, partition_for
from tests.unit.agents.test_intake import Message

TOPICS = TopicNames()
PARTITIONS = 4
INTAKE = Intake(TOPICS, UnitPartitions(PARTITIONS), admits=lambda unit_id: True)
CLOCK = parse_instant("2026-06-30T12:00:00+07:00", "clock")
VALID: dict[EventKind, dict[str, Any]] = {
    EventKind.SUBMITTED: {
        "event_id": "s1",
        "unit_id": "u",
        "dossier_id": "d",
        "received_at": "2026-03-02T08:00:00+07:00",
        "processing_time": {"amount": 3, "unit": "working_days"},
    },
    EventKind.COMPLETED: {
        "event_id": "c1",
        "unit_id": "u",
        "dossier_id": "d",
        "completed_at": "2026-03-06T08:00:00+07:00",
    },
    EventKind.SURVEY: {
        "event_id": "v1",
        "unit_id": "u",
        "surveyed_at": "2026-03-06T08:00:00+07:00",
        "rating": "satisfied",
    },
    EventKind.RANKING: {
        "event_id": "r1",
        "unit_id": "u",
        "year": 2025,
        "rank": "tot",
        "published_at": "2026-01-15T08:00:00+07:00",
    },
    EventKind.PAUSE: {
        "event_id": "p1",
        "unit_id": "u",
        "dossier_id": "d",
        "pause_id": "bs-1",
        "reason": "supplement",
        "paused_at": "2026-03-03T08:00:00+07:00",
        "resumed_at": "2026-03-04T08:00:00+07:00",
    },
    EventKind.RESCHEDULED: {
        "event_id": "h1",
        "unit_id": "u",
        "dossier_id": "d",
        "rescheduled_at": "2026-03-05T08:00:00+07:00",
        "new_due_at": "2026-03-09T17:00:00+07:00",
        "apology": True,
    },
}


def engine() -> Engine:
    states: dict[bytes, bytes] = {}
    return Engine(WorkingCalendar(), Clock(ClockSpec("event")), lambda unit: states)


def outcome(kind: EventKind, value: bytes | None, key: bytes | None = None, **fields: Any) -> Any:
    """Decide as the intake agent does, apply what it would apply, encode any dead letter."""
    message = Message(topic=TOPICS.for_kind(kind), value=value, key=key, **fields)
    decision = INTAKE.decide(message)
    if isinstance(decision, DeadLetter):
        assert decision.reason, "a dead letter always says why"
        letter = orjson.loads(encode_dead_letter(decision.reason, "t", 0, 0, key, value, 0))
        assert len(letter["original_value_b64"]) <= 90_000
    elif isinstance(decision, Apply):
        target = engine()
        target.apply(decision.event)
        target.advance()
        evaluate_changes(target, AlertBook(Thresholds(min_dossiers=1)), lambda unit: True)
    else:
        assert isinstance(decision, Rekey)
    return decision


def as_json(value: Any) -> bytes:
    """JSON text as any producer might write it: big integers and Infinity included."""
    return json.dumps(value).encode()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    st.sampled_from(
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "2026-02-30T00:00:00Z", "2026"]
    ),
)


@st.composite
def shaped_like_an_event(draw: Any) -> tuple[EventKind, bytes]:
    """A valid event of some kind with some fields replaced, removed or added."""
    kind = draw(st.sampled_from(list(EventKind)))
    event = dict(VALID[kind])
    for field in draw(st.lists(st.sampled_from(sorted(event)), max_size=3, unique=True)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            del event[field]
        elif choice == 1:
            event[field] = draw(JSON)
        elif field.endswith("_at"):
            event[field] = draw(TIMESTAMPS)
    event.update(draw(st.dictionaries(st.text(max_size=12), JSON, max_size=2)))
    if "year" in event and draw(st.booleans()):
        event["year"] = draw(st.sampled_from([2025.0, 2025.5, 1e300, "2025", True, -1, 2100]))
    return kind, as_json(event)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped_like_an_event())
def test_events_with_any_fields_are_dead_lettered_or_applied(case: tuple[EventKind, bytes]) -> None:
    kind, value = case
    outcome(kind, value, b"u", partition=partition_for(b"u", PARTITIONS))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(EventKind)), st.binary(max_size=200) | JSON.map(as_json))
def test_arbitrary_bytes_and_json_are_dead_lettered(kind: EventKind, value: bytes) -> None:
    assert isinstance(outcome(kind, value), (DeadLetter, Rekey, Apply))


BIG = b'{"event_id": "e", "unit_id": "u", "x": "' + b"a" * 800_000 + b'"}'
DEEP = b"[" * 30_000 + b"]" * 30_000  # within the size limit, past any parser depth
NASTY: list[tuple[str, EventKind, bytes | None, str]] = [
    ("invalid UTF-8", EventKind.SUBMITTED, b'{"event_id": "\xff\xfe"}', "not UTF-8: byte 14"),
    ("deep nesting", EventKind.SUBMITTED, DEEP, "not JSON"),
    ("760 KB", EventKind.SUBMITTED, BIG, "over the 65536-byte limit"),
    ("NaN", EventKind.RANKING, b'{"year": NaN}', "not JSON"),
    ("tombstone", EventKind.SURVEY, None, "tombstone"),
    ("empty", EventKind.SURVEY, b"", "not JSON"),
    ("a JSON string", EventKind.SURVEY, b'"event"', "must be a JSON object"),
    (
        "year 0001",
        EventKind.SUBMITTED,
        orjson.dumps(VALID[EventKind.SUBMITTED] | {"received_at": "0001-01-01T00:00:00Z"}),
        "outside 2000-01-01..2099-12-31",
    ),
    (
        "year 9999 on the event clock",
        EventKind.SURVEY,
        orjson.dumps(VALID[EventKind.SURVEY] | {"surveyed_at": "9999-12-31T00:00:00Z"}),
        "outside 2000-01-01..2099-12-31",
    ),
    (
        "a half working day",
        EventKind.SUBMITTED,
        orjson.dumps(
            VALID[EventKind.SUBMITTED] | {"processing_time": {"amount": 2.5, "unit": "hours"}}
        ),
        "must be an integer",
    ),
    (
        "an amount as text",
        EventKind.SUBMITTED,
        orjson.dumps(
            VALID[EventKind.SUBMITTED] | {"processing_time": {"amount": "2", "unit": "hours"}}
        ),
        "must be an integer",
    ),
    (
        "a huge integer",
        EventKind.RANKING,
        json.dumps(VALID[EventKind.RANKING] | {"year": 10**400}).encode(),
        "not JSON",
    ),
    (
        "a ranking year 2100",
        EventKind.RANKING,
        orjson.dumps(VALID[EventKind.RANKING] | {"year": 2100}),
        "outside 2000..2099",
    ),
    (
        "a control character in an id",
        EventKind.SUBMITTED,
        orjson.dumps(VALID[EventKind.SUBMITTED] | {"unit_id": "u" * 65}),
        "length must be 1..64",
    ),
]


@pytest.mark.parametrize(("name", "kind", "value", "reason"), NASTY, ids=[n[0] for n in NASTY])
def test_nasty_messages_are_dead_lettered_with_their_reason(
    name: str, kind: EventKind, value: bytes | None, reason: str
) -> None:
    decision = outcome(kind, value, b"u", partition=partition_for(b"u", PARTITIONS))
    assert isinstance(decision, DeadLetter) and reason in decision.reason, decision


ODD_BUT_VALID: list[tuple[str, EventKind, dict[str, Any]]] = [
    ("an integer-valued float", EventKind.RANKING, {"year": 2025.0}),
    ("control characters in ids", EventKind.SUBMITTED, {"dossier_id": "d\x1b[2J\u202e\x00"}),
    ("a decomposed Vietnamese id", EventKind.SUBMITTED, {"official_id": "Nguyê\u0303n"}),
    ("the first valid instant", EventKind.SURVEY, {"surveyed_at": "2000-01-01T00:00:00Z"}),
    ("an odd offset", EventKind.COMPLETED, {"completed_at": "2026-03-06T08:00:00-11:59"}),
]


@pytest.mark.parametrize(
    ("name", "kind", "change"), ODD_BUT_VALID, ids=[n[0] for n in ODD_BUT_VALID]
)
def test_odd_but_valid_events_are_applied(
    name: str, kind: EventKind, change: dict[str, Any]
) -> None:
    value = orjson.dumps(VALID[kind] | change)
    assert isinstance(outcome(kind, value, b"u", partition=partition_for(b"u", PARTITIONS)), Apply)


@pytest.mark.parametrize(
    "headers",
    [[], [(KIND_HEADER, b"nope")], [(KIND_HEADER, b"\xff")], [(KIND_HEADER, b"")], None],
)
def test_forged_headers_on_the_rekeyed_topic_are_dead_lettered(headers: Any) -> None:
    message = Message(
        topic=TOPICS.rekeyed, value=orjson.dumps(VALID[EventKind.SURVEY]), headers=headers
    )
    decision = INTAKE.decide(message)
    assert isinstance(decision, DeadLetter) and "no known event kind" in decision.reason


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | JSON.map(as_json) | st.none())
def test_junk_on_the_alerts_topic_is_refused_with_a_reason_never_an_error(
    raw: bytes | None,
) -> None:
    from schemas.codec import InvalidEvent, decode_alert

    with pytest.raises(InvalidEvent) as refused:
        decode_alert(raw)
    assert refused.value.reason
