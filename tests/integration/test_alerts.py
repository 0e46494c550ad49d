"""Alerts end to end: one message per state change, numbered, also across a worker restart;
each delivered once, also when the topic repeats one."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.integration.conftest import ADMIN, Cluster, wait_until

pytestmark = pytest.mark.integration

UNIT = "phuong-cam-ranh"
CLOCK = "2026-06-30T12:00:00+07:00"


def dossier(n: int, late: bool) -> list[tuple[str, dict[str, Any]]]:
    base = {"unit_id": UNIT, "dossier_id": f"HS-{n}"}
    completed = "2026-03-05T09:00:00+07:00" if late else "2026-03-03T09:00:00+07:00"
    return [
        (
            "cchc.dossier-submitted",
            base
            | {
                "event_id": f"s{n}",
                "official_id": "cb1",
                "received_at": "2026-03-02T08:00:00+07:00",
                "due_at": "2026-03-04T00:00:00+07:00",
            },
        ),
        ("cchc.dossier-completed", base | {"event_id": f"c{n}", "completed_at": completed}),
    ]


def sse(
    worker: Any, path: str, count: int, last_event_id: str | None = None
) -> list[dict[str, Any]]:
    """Read ``count`` Server-Sent Events (id and parsed data) from a worker."""
    connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    while len(events) < count:
        line = response.readline().decode().rstrip("\n")
        if line.startswith("id: "):
            event["id"] = line[4:]
        elif line.startswith("data: "):
            event["data"] = orjson.loads(line[6:])
        elif line == "" and event:
            events.append(event)
            event = {}
    connection.close()
    return events


def alerts(cluster: Cluster, expect: int, timeout: float = 30) -> list[dict[str, Any]]:
    return [
        orjson.loads(r.value) for r in cluster.read_topic(cluster.topics.alerts, expect, timeout)
    ]


def test_alert_lifecycle_on_the_broker(cluster: Cluster) -> None:
    env = {
        "CCHC_CLOCK": f"fixed:{CLOCK}",
        "CCHC_STORE": "rocksdb://",
        "CCHC_ALERT_MIN_DOSSIERS": "5",
        "CCHC_ALERT_MIN_OFFICIAL_DOSSIERS": "1000",
    }
    worker = cluster.start_worker(**env)
    cluster.produce_events([e for n in range(5) for e in dossier(n, late=True)])
    fired = alerts(cluster, expect=1)
    assert [(a["rule"], a["state"], a["period"], a["sequence"]) for a in fired] == [
        ("unit_late_rate", "firing", "2026", 1)
    ]
    assert (fired[0]["numerator"], fired[0]["denominator"]) == (5, 5)
    status, body = worker.get(f"/api/alerts?unit_id={UNIT}")
    assert status == 200 and [a["alert_id"] for a in body["alerts"]] == [fired[0]["alert_id"]]
    assert worker.get("/api/alerts?state=bogus")[0] == 400

    # 95 on time: 5 / 100 is still 5 %: no message. One more on time resolves it.
    cluster.produce_events([e for n in range(5, 100) for e in dossier(n, late=False)])
    time.sleep(3)
    assert len(alerts(cluster, expect=2, timeout=3)) == 1
    cluster.produce_events(dossier(100, late=False))
    changes = alerts(cluster, expect=2)
    assert [(a["state"], a["sequence"]) for a in changes] == [("firing", 1), ("resolved", 2)]
    assert changes[1]["resolved_at"] and changes[1]["started_at"] == changes[0]["started_at"]

    # A ranking of "Tốt" for a year in which the unit was not eligible.
    cluster.produce_events(
        [
            (
                "cchc.unit-ranking",
                {
                    "event_id": "r25",
                    "unit_id": UNIT,
                    "year": 2026,
                    "rank": "yeu",
                    "published_at": "2026-06-01T09:00:00+07:00",
                },
            )
        ]
    )
    ranked = alerts(cluster, expect=3)
    assert ranked[2]["rule"] == "leader_accountability" and ranked[2]["state"] == "firing"

    worker.stop()
    restarted = cluster.start_worker(**env)  # empty local state; alert state from the topic
    time.sleep(4)
    assert len(alerts(cluster, expect=4, timeout=3)) == 3, "a restart must not repeat alerts"
    status, body = restarted.get("/api/alerts?state=all")
    assert {(a["rule"], a["state"]) for a in body["alerts"]} == {
        ("unit_late_rate", "resolved"),
        ("leader_accountability", "firing"),
    }

    # A write that timed out after it had landed is sent again: the topic holds the first
    # change twice. Nobody gets it twice, and the restarted worker numbers its next change
    # from the greatest sequence on the topic.
    first = cluster.read_topic(cluster.topics.alerts, expect=1)[0]
    producer = KafkaProducer(bootstrap_servers=cluster.broker.bootstrap, acks="all")
    producer.send(first.topic, key=first.key, value=first.value, partition=first.partition)
    producer.flush()
    producer.close()
    cluster.produce_events(dossier(101, late=True))  # 6 late of 102: over the line again
    topic = alerts(cluster, expect=5)
    assert [(a["rule"], a["state"], a["sequence"]) for a in topic] == [
        ("unit_late_rate", "firing", 1),
        ("unit_late_rate", "resolved", 2),
        ("leader_accountability", "firing", 1),
        ("unit_late_rate", "firing", 1),  # the copy
        ("unit_late_rate", "firing", 3),
    ]

    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "alerts",
            "tail",
            "--from-beginning",
            "--count",
            "4",
            "--unit",
            UNIT,
        ],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = tail.stdout.splitlines()
    assert tail.returncode == 0 and len(lines) == 4, tail.stderr
    assert lines[0].startswith(
        "[CẢNH BÁO] Phường Cam Ranh · Tỷ lệ hồ sơ trễ hạn 100 % (5/5), ngưỡng 5 %"
    )
    assert lines[1].startswith("[ĐÃ HẾT] Phường Cam Ranh")
    assert "Xem xét trách nhiệm người đứng đầu (yeu 2026)" in lines[2]
    assert "(6/102)" in lines[3], "the copy of the first change is not shown again"

    streamed = sse(restarted, f"/api/alerts/stream?from=beginning&unit_id={UNIT}", count=4)
    assert [(e["data"]["state"], e["data"]["sequence"]) for e in streamed] == [
        ("firing", 1),
        ("resolved", 2),
        ("firing", 1),
        ("firing", 3),
    ]
    resumed = sse(restarted, f"/api/alerts/stream?unit_id={UNIT}", 1, streamed[1]["id"])
    assert resumed[0]["data"] == streamed[2]["data"] and resumed[0]["id"] == streamed[2]["id"]
    # Resumed after the leader's alert, the copy that follows it is not news.
    resumed = sse(restarted, f"/api/alerts/stream?unit_id={UNIT}", 1, streamed[2]["id"])
    assert resumed[0]["data"] == streamed[3]["data"] and resumed[0]["id"] == streamed[3]["id"]
    assert restarted.get("/api/alerts/stream?last_event_id=nonsense")[0] == 400


class Receiver:
    """A local HTTP endpoint that fails its first ``failures`` requests with ``status``,
    then accepts; ``hang`` seconds before each answer."""

    def __init__(self, failures: int, status: int = 503, hang: float = 0.0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(hang)
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(status if failing else 200)
                if status // 100 == 3:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_webhooks_are_signed_retried_and_parked(cluster: Cluster, tmp_path: Path) -> None:
    flaky, dead = Receiver(failures=2), Receiver(failures=10**6)
    moved, hanging = Receiver(failures=10**6, status=302), Receiver(failures=0, hang=60)
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        "subscriptions:\n"
        # A receiver that never answers comes first: it must delay nobody else.
        f"  - {{name: hanging, url: '{hanging.url}', secret: h, rules: [unit_late_rate]}}\n"
        f"  - {{name: moved, url: '{moved.url}', secret: m, rules: [unit_late_rate]}}\n"
        f"  - {{name: office, url: '{flaky.url}', secret_env: HOOK_SECRET, units: [{UNIT}]}}\n"
        f"  - {{name: elsewhere, url: '{flaky.url}', secret: other, units: [xa-khac]}}\n"
        f"  - {{name: dead, url: '{dead.url}', secret: s3cret, rules: [unit_late_rate]}}\n"
    )
    env = {
        "CCHC_CLOCK": f"fixed:{CLOCK}",
        "CCHC_ALERT_MIN_DOSSIERS": "5",
        "CCHC_ALERT_MIN_OFFICIAL_DOSSIERS": "1000",
        "CCHC_SUBSCRIPTIONS": str(subscriptions),
        "HOOK_SECRET": "k3y",
        "CCHC_WEBHOOK_ATTEMPTS": "3",
        "CCHC_WEBHOOK_BACKOFF": "0.2",
    }
    worker = cluster.start_worker(**env)
    cluster.produce_events([e for n in range(5) for e in dossier(n, late=True)])

    assert wait_until(lambda: len(flaky.requests) == 3, timeout=20), flaky.requests
    headers, body = flaky.requests[-1]
    signed = headers[TIMESTAMP_HEADER].encode() + b"." + body
    assert (
        headers[SIGNATURE_HEADER]
        == "sha256=" + hmac.new(b"k3y", signed, hashlib.sha256).hexdigest()
    )
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60
    payload = orjson.loads(body)
    assert (
        payload["version"] == "4"
        and payload["status"] == "firing"
        and payload["receiver"] == "office"
    )
    assert payload["alerts"][0]["labels"] == {
        "alertname": "unit_late_rate",
        "unit_id": UNIT,
        "period": "2026",
    }
    assert worker.metric("cchc_webhook_deliveries_total", outcome="delivered") == 1
    assert wait_until(
        lambda: worker.metric("cchc_webhook_deliveries_total", outcome="parked") == 2, timeout=30
    )
    assert len(dead.requests) == 3 and len(moved.requests) == 3  # a redirect is not followed
    parked_file = worker.data_dir / "webhooks-parked.jsonl"
    parked = [orjson.loads(line) for line in parked_file.read_bytes().splitlines()]
    assert sorted((p["subscription"], p["reason"], p["alert"]["rule"]) for p in parked) == [
        ("dead", "HTTP 503", "unit_late_rate"),
        ("moved", "HTTP 302", "unit_late_rate"),
    ]
    assert len(hanging.requests) == 1, "still waiting for its first answer"


def test_bad_subscriptions_file_stops_the_worker(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text("subscriptions:\n  - {url: 'http://127.0.0.1:1/x', secret_env: NOT_SET}\n")
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "worker"],
        env=cluster.env(CCHC_SUBSCRIPTIONS=str(path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "subscription 1: environment variable NOT_SET is not set" in result.stderr
