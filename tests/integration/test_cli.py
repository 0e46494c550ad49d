"""``cchc simulate`` and ``cchc produce`` as a user runs them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.commands import cchc
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration


def test_simulate_piped_into_produce(cluster: Cluster) -> None:
    simulated = cchc("simulate", "--seed", "1", "--days", "2", "--units", "5")
    produced = cchc("produce", "-", env=cluster.env(), stdin=simulated.stdout)
    assert produced.returncode == 0, produced.stderr
    expected = Counter(orjson.loads(line)["topic"] for line in simulated.stdout.splitlines())
    summary = produced.stdout.decode()
    assert f"published {sum(expected.values())} event(s)" in summary
    for topic, count in expected.items():
        assert f"{cluster.prefix}{topic}: {count}" in summary
    records = cluster.read_topic(cluster.prefix + "cchc.unit-ranking", expect=10)
    assert len(records) == 10 and {r.key for r in records} == {
        orjson.loads(r.value)["unit_id"].encode() for r in records
    }


def test_produce_refuses_a_file_with_invalid_lines(cluster: Cluster, tmp_path: Path) -> None:
    good = {
        "topic": "cchc.dossier-completed",
        "value": {
            "event_id": "c1",
            "unit_id": "xa-cam-lam",
            "dossier_id": "d1",
            "completed_at": "2026-03-03T08:00:00+07:00",
        },
    }
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                orjson.dumps(good),
                orjson.dumps(
                    {
                        "topic": "cchc.dossier-completed",
                        "value": {**good["value"], "completed_at": "2026-03-03 08:00"},
                    }
                ),
                b"{oops",
                orjson.dumps({"topic": "cchc.nope", "value": good["value"]}),
                orjson.dumps(good | {"key": "other-key"}),
            ]
        )
    )
    refused = cchc("produce", str(path), env=cluster.env())
    assert refused.returncode == 2
    errors = refused.stderr.decode()
    assert "line 2: completed_at: timestamp has no UTC offset" in errors
    assert "line 3: not JSON" in errors
    assert "line 4: topic 'cchc.nope' is not one of" in errors
    assert "3 invalid line(s); nothing published" in errors
    topic = cluster.prefix + "cchc.dossier-completed"
    assert cluster.read_topic(topic, expect=1, timeout=3) == []

    skipped = cchc("produce", "--skip-invalid", str(path), env=cluster.env())
    assert skipped.returncode == 0, skipped.stderr
    assert b"published 2 event(s)" in skipped.stdout and b"skipped 3 invalid" in skipped.stdout
    records = cluster.read_topic(topic, expect=2)
    assert sorted(r.key for r in records) == [b"other-key", b"xa-cam-lam"]
