"""``cchc simulate`` and ``cchc produce`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.conftest import Cluster


def cchc(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_simulate_is_deterministic_and_realistic() -> None:
    first = cchc("simulate", "--seed", "7", "--days", "3", "--units", "12")
    again = cchc("simulate", "--seed", "7", "--days", "3", "--units", "12")
    other = cchc("simulate", "--seed", "8", "--days", "3", "--units", "12")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout != other.stdout
    lines = [orjson.loads(line) for line in first.stdout.splitlines()]
    topics = Counter(line["topic"] for line in lines)
    assert set(topics) == {
        "cchc.dossier-submitted",
        "cchc.dossier-completed",
        "cchc.satisfaction-survey",
        "cchc.unit-ranking",
    }
    assert topics["cchc.unit-ranking"] == 24  # two past years for each of 12 units
    assert all(line["key"] == line["value"]["unit_id"] for line in lines)
    units = {line["value"]["unit_id"] for line in lines}
    assert "so-tu-phap" not in units and len(units) == 12  # the first 12 registry units
    channels = Counter(
        line["value"].get("channel") for line in lines if line["topic"] == "cchc.dossier-submitted"
    )
    assert channels["online"] and channels["counter"]


@pytest.mark.integration
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


@pytest.mark.integration
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


def test_worker_needs_a_broker_url() -> None:
    result = cchc("worker", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and b"CCHC_KAFKA_BROKER is not set" in result.stderr


def test_bad_setting_fails_at_start_naming_the_variable() -> None:
    result = cchc("worker", env={"CCHC_KAFKA_BROKER": "kafka://127.0.0.1:1", "CCHC_WEB_PORT": "x"})
    assert result.returncode == 2 and b"CCHC_WEB_PORT: 'x' is not a whole number" in result.stderr
