"""Decode and validate input messages; encode output messages.

Validation runs the JSON Schema files of ``schemas/json/`` compiled by ``fastjsonschema``
(about 3 µs a message, against 32 µs for ``jsonschema``), then builds the typed record.
Anything wrong raises :class:`InvalidEvent` with a reason a person can act on::

    >>> decode(EventKind.COMPLETED, b'{"event_id": "e1", "unit_id": "u", '
    ...        b'"dossier_id": "d", "completed_at": "2026-03-02T08:00:00"}')
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: completed_at: timestamp has no UTC offset
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import fastjsonschema
import orjson

from schemas.records import (
    FLAGS,
    DossierCompleted,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
    Event,
    EventKind,
    Instant,
    ProcessingTime,
    SatisfactionSurvey,
    UnitRanking,
)

MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger messages are refused before parsing (contract, section 2)."""
MAX_DEAD_LETTER_BYTES = 64 * 1024
"""A dead letter carries at most this much of the original message (with its size and
SHA-256 when cut), so that any message the broker accepts fits in its dead letter."""

LOCAL_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Asia/Ho_Chi_Minh has been UTC+07:00 all year, without daylight saving, since 1975."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
EARLIEST = (datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
LATEST = (datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
"""Valid timestamps lie in ``[EARLIEST, LATEST)``: 2000-01-01 to 2100-01-01 UTC. A year
0001 or 9999 is a producer's bug, and would cost the engine a year of work per year."""


MAX_REASON_CHARS = 1024
"""A reason says what is wrong; it never carries the input itself (the dead letter does):
a value of any length quoted whole would make a dead letter the broker refuses."""
MAX_QUOTED_CHARS = 80
"""How much of a bad value a reason quotes."""


def cut_reason(reason: str) -> str:
    """``reason`` cut to :data:`MAX_REASON_CHARS`, saying so.

    >>> len(cut_reason("x" * 5000)) == MAX_REASON_CHARS
    True
    """
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    tail = f"… ({len(reason)} characters)"
    return reason[: MAX_REASON_CHARS - len(tail)] + tail


def quoted(value: Any) -> str:
    """A value as a reason quotes it: its ``repr``, cut to about :data:`MAX_QUOTED_CHARS`.

    >>> quoted("2026" * 75_000)[-26:]
    "2026'… (300000 characters)"
    """
    if isinstance(value, str) and len(value) > MAX_QUOTED_CHARS:
        return f"{value[:MAX_QUOTED_CHARS]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else f"{text[:MAX_QUOTED_CHARS]}…"


class InvalidEvent(ValueError):
    """A message that breaks the contract; ``reason`` says which field and why, in at most
    :data:`MAX_REASON_CHARS` characters."""

    def __init__(self, reason: str) -> None:
        reason = cut_reason(reason)
        super().__init__(reason)
        self.reason = reason


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``schemas/json/<name>.schema.json`` as a dict."""
    text = resources.files("schemas").joinpath("json", f"{name}.schema.json").read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    return schema


_VALIDATORS: dict[EventKind, Callable[[Any], Any]] = {
    kind: fastjsonschema.compile(load_schema(kind.value)) for kind in EventKind
}


def parse_instant(text: str, field: str) -> Instant:
    """An RFC 3339 timestamp with an offset in [2000, 2100), as microseconds since the epoch.

    >>> try:
    ...     parse_instant("0001-01-01T00:00:00Z", "received_at")
    ... except InvalidEvent as error:
    ...     print(error.reason)
    received_at: '0001-01-01T00:00:00Z' is outside 2000-01-01..2099-12-31 (UTC)
    """
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        raise InvalidEvent(f"{field}: {quoted(text)} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"{field}: timestamp has no UTC offset")
    return in_range(moment, field, text)


def in_range(moment: datetime, field: str, text: str) -> Instant:
    """``moment`` (with a time zone) as an Instant, or InvalidEvent when outside the valid
    range; ``text`` is how it was written, for the reason."""
    try:
        instant = (moment - _EPOCH) // _MICROSECOND
    except OverflowError:  # an offset that takes year 1 or 9999 out of datetime's range
        instant = -1
    if not EARLIEST <= instant < LATEST:
        raise InvalidEvent(f"{field}: {quoted(text)} is outside 2000-01-01..2099-12-31 (UTC)")
    return instant


def format_instant(instant: Instant) -> str:
    """An :data:`Instant` as RFC 3339 in local time, e.g. ``2026-03-02T08:00:00+07:00``."""
    return (_EPOCH + instant * _MICROSECOND).astimezone(LOCAL_TZ).isoformat()


def json_type(value: Any) -> str:
    for python_type, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "array"),
        (dict, "object"),
    ):
        if isinstance(value, python_type):
            return name
    return "null"


def _reason(error: fastjsonschema.JsonSchemaValueException) -> str:
    """Turn a schema violation into 'field: what is wrong'."""
    field = ".".join(error.path[1:]) or "event"
    rule, value, expected = error.rule, error.value, error.rule_definition
    if rule == "required":
        present = value if isinstance(value, dict) else {}
        missing = [name for name in expected if name not in present]
        if field == "event" and missing == ["processing_time"]:
            return "processing_time: required when due_at is absent"
        prefix = "" if field == "event" else f"{field}."
        return ", ".join(f"{prefix}{name}: missing" for name in missing)
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if wanted[0] in "aeiou" else "a"
        return f"{field}: must be {article} {wanted}, got {json_type(value)}"
    if rule == "format" and isinstance(value, str):
        parse_instant(value, field)  # raises the precise reason (no offset, bad date)
        return f"{field}: {quoted(value)} is not an RFC 3339 timestamp"
    if rule == "enum":
        return f"{field}: {quoted(value)} is not one of {', '.join(map(str, expected))}"
    if rule in ("minLength", "maxLength"):
        schema = error.definition
        return f"{field}: length must be {schema.get('minLength', 0)}..{schema['maxLength']}"
    if rule in ("minimum", "maximum"):
        schema = error.definition
        low, high = schema.get("minimum", "…"), schema.get("maximum", "…")
        return f"{field}: {quoted(value)} is outside {low}..{high}"
    return error.message.replace("data.", "", 1).replace("data ", "event ", 1)


def nfc(text: str) -> str:
    # Vietnamese ids may arrive composed (NFC) or decomposed (NFD); one form keeps one unit.
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _optional_id(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    return None if value is None else nfc(value)


def _optional_instant(data: dict[str, Any], field: str) -> Instant | None:
    value = data.get(field)
    return None if value is None else parse_instant(value, field)


_FLAG_NAMES = frozenset(FLAGS)


def _flags(data: dict[str, Any]) -> int:
    """The :data:`~schemas.records.FLAGS` an event sets (the schema admits only booleans
    and null).

    >>> _flags({"fee_due": True, "paid_online": False, "digitised": None})
    1
    """
    given = _FLAG_NAMES & data.keys()  # most events give none: one set operation
    return sum(FLAGS[name] for name in given if data[name] is True) if given else 0


def _build(kind: EventKind, data: dict[str, Any]) -> Event:
    event_id, unit_id = nfc(data["event_id"]), nfc(data["unit_id"])
    if kind is EventKind.SUBMITTED:
        due = data.get("due_at")
        processing = data.get("processing_time")
        return DossierSubmitted(
            event_id=event_id,
            unit_id=unit_id,
            dossier_id=nfc(data["dossier_id"]),
            received_at=parse_instant(data["received_at"], "received_at"),
            due_at=None if due is None else parse_instant(due, "due_at"),
            processing_time=None
            if processing is None
            # JSON Schema's integers include 2.0: the state must hold the integer 2.
            else ProcessingTime(int(processing["amount"]), processing["unit"]),
            official_id=_optional_id(data, "official_id"),
            procedure_code=data.get("procedure_code"),
            channel=data.get("channel"),
            field_code=_optional_id(data, "field_code"),
            submitted_at=_optional_instant(data, "submitted_at"),
            flags=_flags(data),
        )
    if kind is EventKind.COMPLETED:
        return DossierCompleted(
            event_id=event_id,
            unit_id=unit_id,
            dossier_id=nfc(data["dossier_id"]),
            completed_at=parse_instant(data["completed_at"], "completed_at"),
            official_id=_optional_id(data, "official_id"),
            outcome=data.get("outcome", "resolved"),
            flags=_flags(data),
        )
    if kind is EventKind.PAUSE:
        paused_at = parse_instant(data["paused_at"], "paused_at")
        resumed = data.get("resumed_at")
        resumed_at = None if resumed is None else parse_instant(resumed, "resumed_at")
        if resumed_at is not None and resumed_at < paused_at:
            raise InvalidEvent("resumed_at: before paused_at")
        return DossierPause(
            event_id=event_id,
            unit_id=unit_id,
            dossier_id=nfc(data["dossier_id"]),
            pause_id=nfc(data["pause_id"]),
            reason=data["reason"],
            paused_at=paused_at,
            resumed_at=resumed_at,
            official_id=_optional_id(data, "official_id"),
        )
    if kind is EventKind.RESCHEDULED:
        return DossierRescheduled(
            event_id=event_id,
            unit_id=unit_id,
            dossier_id=nfc(data["dossier_id"]),
            rescheduled_at=parse_instant(data["rescheduled_at"], "rescheduled_at"),
            new_due_at=parse_instant(data["new_due_at"], "new_due_at"),
            apology=data["apology"],
            official_id=_optional_id(data, "official_id"),
        )
    if kind is EventKind.SURVEY:
        return SatisfactionSurvey(
            event_id=event_id,
            unit_id=unit_id,
            surveyed_at=parse_instant(data["surveyed_at"], "surveyed_at"),
            rating=data["rating"],
            dossier_id=_optional_id(data, "dossier_id"),
            official_id=_optional_id(data, "official_id"),
        )
    return UnitRanking(
        event_id=event_id,
        unit_id=unit_id,
        year=int(data["year"]),
        rank=data["rank"],
        published_at=parse_instant(data["published_at"], "published_at"),
    )


def json_object(raw: bytes, what: str = "event") -> dict[str, Any]:
    """The JSON object in ``raw``, or InvalidEvent saying why it is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        try:
            bytes(raw).decode()
        except UnicodeDecodeError as bad:  # orjson would say "surrogates not allowed"
            raise InvalidEvent(
                f"not UTF-8: byte {bad.start} cannot start or continue a character"
            ) from None
        raise InvalidEvent(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"{what} must be a JSON object, got {json_type(data)}")
    return data


def validated(
    raw: bytes | None, validate: Callable[[Any], Any], limit: int = MAX_PAYLOAD_BYTES
) -> dict[str, Any]:
    """The JSON object in ``raw`` if ``validate`` accepts it, else InvalidEvent."""
    if raw is None:
        raise InvalidEvent("message has no value (tombstone)")
    if len(raw) > limit:
        raise InvalidEvent(f"payload is {len(raw)} bytes, over the {limit}-byte limit")
    data = json_object(raw)
    try:
        validate(data)
    except fastjsonschema.JsonSchemaValueException as error:
        raise InvalidEvent(_reason(error)) from None
    return data


def decode(kind: EventKind, raw: bytes | None) -> Event:
    """Validate one message of ``kind`` and return its record, or raise InvalidEvent."""
    return _build(kind, validated(raw, _VALIDATORS[kind]))


_ALERT = fastjsonschema.compile(load_schema("alert"))


def decode_alert(raw: bytes | None) -> dict[str, Any]:
    """An Alert read back from the alerts topic, or InvalidEvent: the topic is kept forever,
    so whatever else was ever written to it must be skipped, not fatal.

    >>> decode_alert(b"[1]")
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: event must be a JSON object, got array
    """
    return validated(raw, _ALERT)


def encode(value: Any) -> bytes:
    """JSON bytes for an output message (alerts, dead letters, API bodies)."""
    return orjson.dumps(value)


def encode_dead_letter(
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    at: Instant,
) -> bytes:
    """A DeadLetter message (``schemas/json/dead-letter.schema.json``) for the message at
    ``topic``/``partition``/``offset`` that could not be accepted, and why. Whatever the
    input, it stays under about 180 KiB: its reason, key and value are cut."""
    value = value or b""
    letter: dict[str, Any] = {
        "reason": cut_reason(reason),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_key_b64": None if key is None else _b64(key[:MAX_DEAD_LETTER_BYTES]),
        "original_value_b64": _b64(value[:MAX_DEAD_LETTER_BYTES]),
        "dead_lettered_at": format_instant(at),
    }
    if len(value) > MAX_DEAD_LETTER_BYTES:
        letter["original_size"] = len(value)
        letter["original_sha256"] = hashlib.sha256(value).hexdigest()
    return encode(letter)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
