"""End to end on the embedded broker: valid events are consumed, invalid ones dead-lettered."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from schemas.codec import MAX_DEAD_LETTER_BYTES
from streams.topics import partition_for
from tests.integration.conftest import Cluster, wait_until

pytestmark = pytest.mark.integration

GOOD_SUBMISSION = {
    "event_id": "s-1",
    "unit_id": "phuong-nha-trang",
    "dossier_id": "HS-1",
    "received_at": "2026-03-02T08:00:00+07:00",
    "processing_time": {"amount": 3, "unit": "working_days"},
}
GOOD_COMPLETION = {
    "event_id": "c-1",
    "unit_id": "phuong-nha-trang",
    "dossier_id": "HS-1",
    "completed_at": "2026-03-03T08:00:00+07:00",
}


def test_valid_consumed_invalid_dead_lettered(cluster: Cluster) -> None:
    worker = cluster.start_worker()
    key = b"phuong-nha-trang"
    bad: list[tuple[str, bytes | None, bytes, str]] = [
        ("cchc.dossier-submitted", key, b"{not json", "not JSON"),
        ("cchc.dossier-submitted", key, b"[1]", "event must be a JSON object, got array"),
        (
            "cchc.dossier-completed",
            key,
            orjson.dumps(GOOD_COMPLETION | {"completed_at": "2026-03-03T08:00:00"}),
            "completed_at: timestamp has no UTC offset",
        ),
        (
            "cchc.satisfaction-survey",
            None,
            orjson.dumps(
                {
                    "event_id": "v",
                    "unit_id": "x",
                    "surveyed_at": "2026-03-03T08:00:00Z",
                    "rating": "meh",
                }
            ),
            "rating: 'meh' is not one of very_satisfied, satisfied, dissatisfied",
        ),
        (
            "cchc.unit-ranking",
            key,
            orjson.dumps({"event_id": "r", "unit_id": "x"}),
            "year: missing, rank: missing, published_at: missing",
        ),
        (
            "cchc.dossier-submitted",
            key,
            b'{"x": "' + b"y" * 70000 + b'"}',
            "payload is 70009 bytes, over the 65536-byte limit",
        ),
    ]
    # A valid event keyed by something else than its unit_id: re-keyed once, then applied.
    wrong_key = orjson.dumps(GOOD_SUBMISSION | {"event_id": "s-2", "dossier_id": "HS-2"})
    cluster.produce(
        [
            ("cchc.dossier-submitted", key, orjson.dumps(GOOD_SUBMISSION)),
            ("cchc.dossier-completed", key, orjson.dumps(GOOD_COMPLETION)),
            ("cchc.dossier-submitted", b"wrong-key", wrong_key),
        ]
        + [(topic, k, value) for topic, k, value, _ in bad]
    )

    submitted = f"{cluster.prefix}cchc.dossier-submitted"
    assert wait_until(lambda: worker.metric("cchc_events_processed_total", topic=submitted) >= 1)
    rekeyed_topic = f"{cluster.prefix}cchc.rekeyed"
    assert wait_until(
        lambda: worker.metric("cchc_events_processed_total", topic=rekeyed_topic) == 1
    )
    assert worker.metric("cchc_events_rekeyed_total", topic=submitted) == 1
    assert (
        worker.metric(
            "cchc_events_processed_total", topic=f"{cluster.prefix}cchc.dossier-completed"
        )
        == 1
    )

    letters = cluster.read_topic(cluster.topics.dead_letter, expect=len(bad))
    assert len(letters) == len(bad)
    by_value = {base64.b64decode(orjson.loads(r.value)["original_value_b64"]): r for r in letters}
    for topic, original_key, value, reason in bad:
        record = by_value[value[:MAX_DEAD_LETTER_BYTES]]  # a dead letter carries 64 KiB at most
        letter = orjson.loads(record.value)
        if len(value) > MAX_DEAD_LETTER_BYTES:
            assert letter["original_size"] == len(value)
            assert letter["original_sha256"] == hashlib.sha256(value).hexdigest()
        assert letter["reason"].startswith(reason)
        assert letter["source_topic"] == cluster.prefix + topic
        assert record.key == original_key
        assert letter["original_key_b64"] == (
            None if original_key is None else base64.b64encode(original_key).decode()
        )
        assert letter["source_offset"] >= 0 and letter["dead_lettered_at"].endswith("+07:00")
    total_dead = sum(
        worker.metric("cchc_events_dead_lettered_total", topic=cluster.prefix + topic)
        for topic in {t for t, *_ in bad}
    )
    assert total_dead == len(bad)

    rekeyed = cluster.read_topic(rekeyed_topic, expect=1)
    assert [(r.key, r.partition) for r in rekeyed] == [
        (key, partition_for(key, cluster.partitions))
    ]
    assert worker.process.poll() is None, "an invalid message must never stop the worker"
