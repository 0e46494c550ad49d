"""The event contract: decoding, validation and the reasons given for invalid input."""

from __future__ import annotations

import unicodedata
from typing import Any

import fastjsonschema
import orjson
import pytest

from schemas import MAX_PAYLOAD_BYTES, EventKind, InvalidEvent, decode
from schemas.codec import decode_alert, format_instant, load_schema, parse_instant
from schemas.records import DossierCompleted, DossierSubmitted, SatisfactionSurvey, UnitRanking

SUBMITTED: dict[str, Any] = {
    "event_id": "e-1",
    "unit_id": "xa-dien-khanh",
    "dossier_id": "HS-1",
    "received_at": "2026-03-02T08:00:00+07:00",
    "processing_time": {"amount": 3, "unit": "working_days"},
}
COMPLETED: dict[str, Any] = {
    "event_id": "e-2",
    "unit_id": "xa-dien-khanh",
    "dossier_id": "HS-1",
    "completed_at": "2026-03-04T08:00:00+07:00",
}


def raw(value: Any) -> bytes:
    return orjson.dumps(value)


def reason(kind: EventKind, value: Any) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode(kind, value if isinstance(value, bytes) else raw(value))
    return caught.value.reason


def test_valid_events_of_every_kind() -> None:
    submitted = decode(EventKind.SUBMITTED, raw(SUBMITTED | {"official_id": "cb1"}))
    assert isinstance(submitted, DossierSubmitted)
    assert submitted.received_at == parse_instant("2026-03-02T01:00:00Z", "t")
    assert submitted.official_id == "cb1" and submitted.due_at is None

    completed = decode(
        EventKind.COMPLETED,
        raw(
            {
                "event_id": "e2",
                "unit_id": "u",
                "dossier_id": "d",
                "completed_at": "2026-03-02T08:00:00Z",
                "outcome": "withdrawn",
            }
        ),
    )
    assert isinstance(completed, DossierCompleted) and completed.outcome == "withdrawn"

    survey = decode(
        EventKind.SURVEY,
        raw(
            {
                "event_id": "e3",
                "unit_id": "u",
                "surveyed_at": "2026-03-02T08:00:00.5-01:30",
                "rating": "satisfied",
            }
        ),
    )
    assert isinstance(survey, SatisfactionSurvey) and survey.satisfied and survey.dossier_id is None
    assert survey.surveyed_at == parse_instant("2026-03-02T09:30:00.5Z", "t")

    ranking = decode(
        EventKind.RANKING,
        raw(
            {
                "event_id": "e4",
                "unit_id": "u",
                "year": 2025,
                "rank": "trung_binh",
                "published_at": "2026-01-15T09:00:00+07:00",
                "schema_version": 1,
            }
        ),
    )
    assert isinstance(ranking, UnitRanking) and ranking.rank == "trung_binh"


def test_due_at_makes_processing_time_optional() -> None:
    event = {k: v for k, v in SUBMITTED.items() if k != "processing_time"}
    submitted = decode(EventKind.SUBMITTED, raw(event | {"due_at": "2026-03-05T00:00:00+07:00"}))
    assert isinstance(submitted, DossierSubmitted) and submitted.processing_time is None
    assert format_instant(submitted.due_at or 0) == "2026-03-05T00:00:00+07:00"


def test_unknown_fields_are_ignored() -> None:
    event = decode(EventKind.SUBMITTED, raw(SUBMITTED | {"ghi_chu": "thêm", "nested": {"a": [1]}}))
    assert isinstance(event, DossierSubmitted)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"received_at": "2026-03-02T08:00:00"}, "received_at: timestamp has no UTC offset"),
        ({"received_at": "2026-03-02"}, "received_at: timestamp has no UTC offset"),
        (
            {"received_at": "02/03/2026 08:00"},
            "received_at: '02/03/2026 08:00' is not an RFC 3339 timestamp",
        ),
        (
            {"received_at": "2026-02-30T08:00:00Z"},
            "received_at: '2026-02-30T08:00:00Z' is not an RFC 3339 timestamp",
        ),
        ({"received_at": 1767229200}, "received_at: must be a string, got integer"),
        ({"due_at": "2026-03-05T00:00"}, "due_at: timestamp has no UTC offset"),
        ({"dossier_id": 42}, "dossier_id: must be a string, got integer"),
        ({"dossier_id": ""}, "dossier_id: length must be 1..128"),
        ({"dossier_id": "x" * 129}, "dossier_id: length must be 1..128"),
        ({"unit_id": "u" * 65}, "unit_id: length must be 1..64"),
        ({"event_id": None}, "event_id: must be a string, got null"),
        ({"channel": "fax"}, "channel: 'fax' is not one of counter, online, postal"),
        ({"field_code": ""}, "field_code: length must be 1..64"),
        ({"field_code": "G" * 65}, "field_code: length must be 1..64"),
        (
            {"processing_time": {"amount": 0, "unit": "hours"}},
            "processing_time.amount: 0 is outside 1..10000",
        ),
        (
            {"processing_time": {"amount": 2.5, "unit": "hours"}},
            "processing_time.amount: must be an integer, got number",
        ),
        (
            {"processing_time": {"amount": True, "unit": "hours"}},
            "processing_time.amount: must be an integer, got boolean",
        ),
        (
            {"processing_time": {"amount": 3, "unit": "weeks"}},
            "processing_time.unit: 'weeks' is not one of working_days, calendar_days, hours",
        ),
        ({"processing_time": {"amount": 3}}, "processing_time.unit: missing"),
        ({"processing_time": None}, "processing_time: must be an object, got null"),
        ({"schema_version": 2}, "schema_version: 2 is not one of 1"),
        ({"fee_due": "true"}, "fee_due: must be a boolean or null, got string"),
        ({"paid_online": 1}, "paid_online: must be a boolean or null, got integer"),
        (
            {"submitted_at": "20260301203000"},
            "submitted_at: '20260301203000' is not an RFC 3339 timestamp",
        ),
    ],
)
def test_invalid_submission_reasons(change: dict[str, Any], expected: str) -> None:
    assert reason(EventKind.SUBMITTED, SUBMITTED | change) == expected


def test_the_v1_2_flags_true_sets_false_and_null_say_nothing() -> None:
    event = decode(
        EventKind.SUBMITTED,
        orjson.dumps(
            SUBMITTED
            | {
                "submitted_at": "2026-03-01T20:30:00+07:00",
                "fee_due": True,
                "paid_online": False,
                "digitised": None,
                "result_digital": True,
            }
        ),
    )
    assert isinstance(event, DossierSubmitted)
    assert (event.flags, event.submitted_at) == (1 | 8, parse_instant("2026-03-01T13:30:00Z", "t"))
    completion = decode(EventKind.COMPLETED, orjson.dumps(COMPLETED | {"paid_online": True}))
    assert isinstance(completion, DossierCompleted) and completion.flags == 2
    rejected = COMPLETED | {"digitised": "1"}
    assert (
        reason(EventKind.COMPLETED, rejected) == "digitised: must be a boolean or null, got string"
    )


def test_missing_fields_are_named() -> None:
    event = {k: v for k, v in SUBMITTED.items() if k not in ("dossier_id", "received_at")}
    assert reason(EventKind.SUBMITTED, event) == "dossier_id: missing, received_at: missing"
    no_deadline = {k: v for k, v in SUBMITTED.items() if k != "processing_time"}
    assert (
        reason(EventKind.SUBMITTED, no_deadline)
        == "processing_time: required when due_at is absent"
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe", "not UTF-8: byte 0"),
        (b"[1, 2]", "event must be a JSON object, got array"),
        (b'"text"', "event must be a JSON object, got string"),
        (b"null", "event must be a JSON object, got null"),
    ],
)
def test_non_objects(payload: bytes, expected: str) -> None:
    assert reason(EventKind.SUBMITTED, payload).startswith(expected)


def test_oversized_payload_is_refused_before_parsing() -> None:
    big = raw(SUBMITTED | {"note": "x" * MAX_PAYLOAD_BYTES})
    assert reason(EventKind.SUBMITTED, big) == (
        f"payload is {len(big)} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"
    )
    just_under = raw(SUBMITTED | {"note": ""})
    padded = (
        just_under[:-1] + b', "pad": "' + b"x" * (MAX_PAYLOAD_BYTES - len(just_under) - 11) + b'"}'
    )
    assert len(padded) == MAX_PAYLOAD_BYTES
    assert isinstance(decode(EventKind.SUBMITTED, padded), DossierSubmitted)


def test_vietnamese_ids_compare_after_nfc() -> None:
    composed = "Xã Diên Khánh"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    a = decode(
        EventKind.SUBMITTED, raw(SUBMITTED | {"unit_id": composed, "dossier_id": decomposed})
    )
    b = decode(
        EventKind.SUBMITTED, raw(SUBMITTED | {"unit_id": decomposed, "dossier_id": composed})
    )
    assert a.unit_id == b.unit_id == composed
    assert isinstance(a, DossierSubmitted) and isinstance(b, DossierSubmitted)
    assert a.dossier_id == b.dossier_id == composed


def test_survey_and_ranking_rules() -> None:
    base = {"event_id": "e", "unit_id": "u", "surveyed_at": "2026-03-02T08:00:00Z"}
    assert reason(EventKind.SURVEY, base) == "rating: missing"
    assert reason(EventKind.SURVEY, base | {"rating": "ok"}) == (
        "rating: 'ok' is not one of very_satisfied, satisfied, dissatisfied"
    )
    ranking = {
        "event_id": "e",
        "unit_id": "u",
        "rank": "tot",
        "published_at": "2026-01-01T00:00:00Z",
    }
    assert (
        reason(EventKind.RANKING, ranking | {"year": "2025"})
        == "year: must be an integer, got string"
    )
    assert reason(EventKind.RANKING, ranking | {"year": 1999}) == "year: 1999 is outside 2000..2099"
    assert reason(EventKind.RANKING, ranking | {"year": 2100}) == "year: 2100 is outside 2000..2099"
    assert (
        reason(EventKind.RANKING, ranking | {"year": True})
        == "year: must be an integer, got boolean"
    )
    assert (
        reason(EventKind.RANKING, ranking | {"year": 2025.5})
        == "year: must be an integer, got number"
    )


def test_integer_valued_floats_are_integers() -> None:
    ranking = {
        "event_id": "e",
        "unit_id": "u",
        "rank": "tot",
        "published_at": "2026-01-01T00:00:00Z",
    }
    decoded = decode(EventKind.RANKING, raw(ranking | {"year": 2025.0}))
    assert isinstance(decoded, UnitRanking) and type(decoded.year) is int and decoded.year == 2025
    event = SUBMITTED | {"processing_time": {"amount": 2.0, "unit": "hours"}, "schema_version": 1.0}
    submitted = decode(EventKind.SUBMITTED, raw(event))
    assert isinstance(submitted, DossierSubmitted) and submitted.processing_time is not None
    assert type(submitted.processing_time.amount) is int and submitted.processing_time.amount == 2
    too_big = SUBMITTED | {"processing_time": {"amount": 1e300, "unit": "hours"}}
    assert (
        reason(EventKind.SUBMITTED, too_big) == "processing_time.amount: 1e+300 is outside 1..10000"
    )


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T06:59:59+07:00",
        "2100-01-01T00:00:00Z",
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-23:59",
    ],
)
def test_timestamps_outside_2000_to_2100_are_invalid(moment: str) -> None:
    assert reason(EventKind.SUBMITTED, SUBMITTED | {"received_at": moment}) == (
        f"received_at: {moment!r} is outside 2000-01-01..2099-12-31 (UTC)"
    )
    assert reason(EventKind.SUBMITTED, SUBMITTED | {"due_at": moment}).startswith("due_at: ")


def test_the_edges_of_the_valid_range_are_valid() -> None:
    for moment in ("2000-01-01T00:00:00Z", "2100-01-01T06:59:59.999999+07:00"):
        assert decode(EventKind.SUBMITTED, raw(SUBMITTED | {"received_at": moment}))


@pytest.mark.parametrize(
    "name",
    [
        "dossier-submitted",
        "dossier-completed",
        "satisfaction-survey",
        "unit-ranking",
        "alert",
        "dead-letter",
    ],
)
def test_schema_files_compile(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    fastjsonschema.compile(schema)


def test_instants_round_trip_in_local_time() -> None:
    instant = parse_instant("2026-12-31T17:00:00.123456Z", "t")
    assert format_instant(instant) == "2027-01-01T00:00:00.123456+07:00"
    assert parse_instant(format_instant(instant), "t") == instant


def test_a_dead_letter_carries_at_most_64_kib_with_the_size_and_digest_when_cut() -> None:
    import base64
    import hashlib

    from schemas.codec import MAX_DEAD_LETTER_BYTES, encode_dead_letter

    small = orjson.loads(encode_dead_letter("why", "t", 1, 2, b"k", b"v", 0))
    assert small["original_value_b64"] == base64.b64encode(b"v").decode()
    assert "original_size" not in small and "original_sha256" not in small
    huge = bytes(range(256)) * 3000  # 768,000 bytes: its whole base64 would pass 1 MiB
    letter = encode_dead_letter("too big", "t", 0, 0, None, huge, 0)
    assert len(letter) < 100_000
    body = orjson.loads(letter)
    assert base64.b64decode(body["original_value_b64"]) == huge[:MAX_DEAD_LETTER_BYTES]
    assert body["original_size"] == len(huge)
    assert body["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert body["original_key_b64"] is None
    fastjsonschema.compile(load_schema("dead-letter"))(body)


def test_an_alert_with_a_number_below_its_minimum_is_unreadable_not_a_crash() -> None:
    # A field with a minimum and no maximum raised KeyError on every path that reads the
    # alerts topic back, the worker's replay included.
    alert = {
        "alert_id": "unit_late_rate|u||2026",
        "rule": "unit_late_rate",
        "unit_id": "u",
        "official_id": None,
        "period": "2026",
        "state": "firing",
        "value": None,
        "threshold": 0.05,
        "numerator": -1,
        "denominator": 1,
        "started_at": "2026-03-01T00:00:00+07:00",
        "resolved_at": None,
        "evaluated_at": "2026-03-01T00:00:00+07:00",
    }
    with pytest.raises(InvalidEvent, match="numerator: -1 is outside 0"):
        decode_alert(orjson.dumps(alert))
