"""Faults while events flow: nothing is lost, nothing is counted twice, no subscriber gets
an alert change twice.

Each test feeds a simulated fortnight of a few units, interrupts the pipeline while the
events are in flight, and then requires the API to equal the independent recount
(``tests/recount.py``) and the alerts topic to number each alert's changes 1, 2, ...
Writes to Kafka are at least once, so the topic may hold a change twice (the same
sequence): what a subscriber gets (an SSE stream, a webhook receiver) must not.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import threading
import time
from collections import defaultdict
from dataclasses import astuple
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from clients.simulator import Simulator
from kpi.alerts import RECENT, alert_id, official_condition, recent_conditions, unit_conditions
from kpi.figures import Figures
from kpi.periods import parse_period, year_period
from kpi.report import ZERO, Counts
from kpi.rules import UNIT_LATE_RATE_RISK, Thresholds
from schemas.codec import InvalidEvent, decode_alert, parse_instant
from schemas.records import UnitRanking
from streams.broker import EmbeddedBroker
from streams.recovery import read_to_end
from streams.settings import Settings
from streams.topics import UnitPartitions
from tests.integration.conftest import ADMIN, Cluster, WorkerProcess, wait_until
from tests.integration.expected import records
from tests.integration.test_alerts import Receiver
from tests.integration.test_kpi import differences as recount_differences
from tests.recount import recount, recount_report

pytestmark = pytest.mark.integration

CLOCK = "2026-01-20T12:00:00+07:00"
ENV = {"CCHC_CLOCK": f"fixed:{CLOCK}", "CCHC_ALERT_MIN_DOSSIERS": "5"}


def simulated() -> list[tuple[str, dict[str, Any]]]:
    return list(Simulator(seed=3, scale=0.5, units_limit=6).history(date(2026, 1, 1), 14))


class Feed:
    """Publishes events in small chunks from a thread, so faults land mid-stream."""

    def __init__(self, cluster: Cluster, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.cluster, self.events, self.sent = cluster, events, 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for start in range(0, len(self.events), 200):
            self.cluster.produce_events(self.events[start : start + 200])
            self.sent = min(start + 200, len(self.events))
            time.sleep(0.05)

    def __enter__(self) -> Feed:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=120)

    def wait_for(self, share: float) -> None:
        assert wait_until(lambda: self.sent >= share * len(self.events), timeout=60)


Seen = tuple[str, int]
"""(alert_id, sequence): one change of state of one alert."""


def topic_alerts(cluster: Cluster) -> dict[int, list[dict[str, Any]]]:
    """Every readable message of the alerts topic per partition, in order, to its end (as
    fetch responses report it: not a number of messages or seconds to wait for)."""
    settings = Settings(kafka_broker=cluster.broker.url)

    async def read() -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {p: [] for p in range(cluster.partitions)}
        starts = dict.fromkeys(range(cluster.partitions), 0)
        async for batch in read_to_end(settings, cluster.topics.alerts, starts):
            for record in batch:
                try:
                    found[record.partition].append(decode_alert(record.value))
                except InvalidEvent:
                    continue  # the junk a test wrote there
        return found

    return asyncio.run(read())


def published(worker: WorkerProcess, cluster: Cluster) -> dict[int, list[dict[str, Any]]]:
    """The alerts topic once it holds every alert change the worker's state has: figures
    settle before the tick has published what they imply."""

    def held() -> set[tuple[str, int]]:
        _, body = worker.get("/api/alerts?state=all")
        return {(a["alert_id"], a["sequence"]) for a in body["alerts"]}

    def on_topic() -> dict[int, list[dict[str, Any]]] | None:
        found = topic_alerts(cluster)
        have = {(a["alert_id"], a["sequence"]) for alerts in found.values() for a in alerts}
        wanted = held()
        return found if wanted and wanted <= have else None

    found = wait_until(on_topic, timeout=60)
    assert found is not None, f"the alerts topic lacks {held()}"
    return found


def history_problems(by_partition: dict[int, list[dict[str, Any]]]) -> list[str]:
    """What is wrong with the alerts topic. A message may be there twice (a write sent
    again): a repeat has a sequence already seen, and says the same state. Repeats passed
    over, each alert's messages are numbered 1, 2, ... with states alternating from firing."""
    problems, repeats = [], 0
    for alerts in by_partition.values():
        greatest: dict[str, int] = {}
        for alert in alerts:
            key, sequence = alert["alert_id"], alert["sequence"]
            if alert["state"] != ("firing" if sequence % 2 else "resolved"):
                problems.append(f"{key} #{sequence} says {alert['state']}")
            if sequence <= greatest.get(key, 0):
                repeats += 1
                continue
            if sequence != greatest.get(key, 0) + 1:
                problems.append(f"{key}: #{sequence} after #{greatest.get(key, 0)}")
            greatest[key] = sequence
    assert any(by_partition.values()), "the scenario fires alerts: an empty topic proves nothing"
    print(f"the alerts topic repeats {repeats} messages")
    return problems


def first_copies(alerts: list[dict[str, Any]]) -> list[Seen]:
    """(alert, sequence) of one partition's messages, each once: what subscribers get."""
    greatest: dict[str, int] = {}
    kept = []
    for alert in alerts:
        key, sequence = alert["alert_id"], alert["sequence"]
        if sequence > greatest.get(key, 0):
            greatest[key] = sequence
            kept.append((key, sequence))
    return kept


def expected_firing(events: list[tuple[str, dict[str, Any]]], env: dict[str, str]) -> set[str]:
    """The alerts that the recount's figures put in the firing state (the early warning
    aside: the recount does not know which dossiers are due soon)."""
    thresholds = Thresholds(min_dossiers=int(env["CCHC_ALERT_MIN_DOSSIERS"]))
    clock = parse_instant(env["CCHC_CLOCK"].removeprefix("fixed:"), "clock")
    recorded = records(events)
    winners: dict[tuple[str, int], UnitRanking] = {}
    for event in recorded:
        if isinstance(event, UnitRanking):
            won = winners.get((event.unit_id, event.year))
            if won is None or (won.published_at, won.event_id) < (
                event.published_at,
                event.event_id,
            ):
                winners[event.unit_id, event.year] = event
    ranks: dict[str, dict[int, str]] = defaultdict(dict)
    for (unit, year), ranking in winners.items():
        ranks[unit][year] = ranking.rank
    units = {event.unit_id for event in recorded}
    firing = set()
    for year in (2024, 2025, 2026):  # the rankings' years and the clock's
        rows, _ = recount(recorded, year_period(year), clock)
        figures = {key: Figures(*astuple(row)) for key, row in rows.items()}
        for unit in units:
            unit_figures = figures.get((unit, None), Figures(0, 0, 0, 0, 0))
            conditions = unit_conditions(unit_figures, thresholds, ranks[unit], year)
            conditions += [
                official_condition(official, f, thresholds)
                for (u, official), f in figures.items()
                if u == unit and official is not None
            ]
            firing |= {
                alert_id(c.rule, unit, c.official_id, str(year)) for c in conditions if c.holds
            }
    # Late receipts and the targets, on the last 30 days' counts.
    recent: dict[str, list[int]] = {}
    dossiers = [event for event in recorded if not isinstance(event, UnitRanking)]
    for (unit, _, _), row in recount_report(dossiers, parse_period(RECENT, clock), clock).items():
        recent[unit] = [a + b for a, b in zip(recent.get(unit, [0] * len(row)), row, strict=True)]
    for unit in units:
        counts = Counts(*recent[unit]) if unit in recent else ZERO
        firing |= {
            alert_id(c.rule, unit, None, RECENT)
            for c in recent_conditions(counts, thresholds)
            if c.holds
        }
    return firing


def firing_now(worker: WorkerProcess) -> set[str]:
    status, body = worker.get("/api/alerts?state=firing")
    assert status == 200, body
    return {a["alert_id"] for a in body["alerts"] if a["rule"] != UNIT_LATE_RATE_RISK}


class Subscriber(threading.Thread):
    """An SSE client of ``/api/alerts/stream?from=beginning``, as a browser's EventSource:
    when its stream ends it connects again with the Last-Event-ID it had."""

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.alerts: list[dict[str, Any]] = []
        self.ends: list[str] = []
        self.last_id: str | None = None
        self.closing = False
        self.connection: http.client.HTTPConnection | None = None
        self.start()

    def run(self) -> None:
        while not self.closing:
            try:
                self._read()
            except OSError as error:
                self.ends.append(f"{time.strftime('%X')} {error!r}")
            if not self.closing:
                time.sleep(1)  # as EventSource's reconnection time

    def _read(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.worker.port, timeout=60)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        self.connection.request("GET", "/api/alerts/stream?from=beginning", headers=headers)
        response = self.connection.getresponse()
        if response.status != 200:
            self.ends.append(f"{time.strftime('%X')} HTTP {response.status}")
            return
        event: dict[str, Any] = {}
        while line := response.readline():
            text = line.decode().rstrip("\n")
            if text.startswith(("id: ", "event: ", "data: ")):
                field, _, value = text.partition(": ")
                event[field] = orjson.loads(value) if field == "data" else value
            elif text == "" and event:
                if event.get("event") == "alert":
                    self.alerts.append(event["data"])
                    self.last_id = event["id"]
                else:
                    self.ends.append(f"{time.strftime('%X')} {event.get('data')}")
                event = {}
        self.ends.append(f"{time.strftime('%X')} the stream ended")

    def close(self) -> None:
        self.closing = True
        if self.connection is not None and self.connection.sock is not None:
            self.connection.sock.shutdown(socket.SHUT_RDWR)


def received(receiver: Receiver) -> list[dict[str, Any]]:
    """The alerts a webhook receiver got, as (alert_id, sequence) and unit."""
    got = []
    for _, body in list(receiver.requests):
        alert = orjson.loads(body)["alerts"][0]
        labels = alert["labels"]
        got.append(
            {
                "alert_id": alert_id(
                    labels["alertname"],
                    labels["unit_id"],
                    labels.get("official_id"),
                    labels["period"],
                ),
                "sequence": int(alert["annotations"]["sequence"]),
                "unit_id": labels["unit_id"],
            }
        )
    return got


def repeat(cluster: Cluster, alerts: dict[int, list[dict[str, Any]]]) -> None:
    """Write these messages of the alerts topic again, each on its partition: what a write
    that timed out after it had landed leaves behind."""
    producer = KafkaProducer(bootstrap_servers=cluster.broker.bootstrap, acks="all")
    for partition, copies in alerts.items():
        for alert in copies:
            producer.send(
                cluster.topics.alerts,
                key=alert["unit_id"].encode(),
                value=orjson.dumps(alert),
                partition=partition,
            )
    producer.flush()
    producer.close()


def sentinels(cluster: Cluster) -> dict[int, str]:
    """One made-up unit per partition, whose ranking "yeu" fires an alert there: once a
    subscriber has it, it has had everything the partition held before it."""
    units = UnitPartitions(cluster.partitions)
    chosen: dict[int, str] = {}
    for number in range(10_000):
        unit = f"zz-sentinel-{number}"
        chosen.setdefault(units.home(unit)[1], unit)
        if len(chosen) == cluster.partitions:
            break
    cluster.produce_events(
        [
            (
                "cchc.unit-ranking",
                {
                    "event_id": f"rank-{unit}",
                    "unit_id": unit,
                    "year": 2026,
                    "rank": "yeu",
                    "published_at": "2026-01-19T09:00:00+07:00",
                },
            )
            for unit in chosen.values()
        ]
    )
    return {p: alert_id("leader_accountability", unit, None, "2026") for p, unit in chosen.items()}


def per_partition(cluster: Cluster, alerts: list[dict[str, Any]]) -> dict[int, list[Seen]]:
    """(alert, sequence) of what a subscriber got, per partition, in the order it got them."""
    units = UnitPartitions(cluster.partitions)
    got: dict[int, list[Seen]] = {p: [] for p in range(cluster.partitions)}
    for alert in alerts:
        got[units.home(alert["unit_id"])[1]].append((alert["alert_id"], alert["sequence"]))
    return got


def up_to(seen: list[Seen], sentinel: str) -> list[Seen]:
    """What comes up to and with a partition's sentinel: what follows may be on its way."""
    ids = [key for key, _ in seen]
    return seen[: ids.index(sentinel) + 1] if sentinel in ids else seen


def settled(worker: WorkerProcess, events: list[tuple[str, dict[str, Any]]]) -> None:
    expected = records(events)

    def differences() -> list[str]:
        try:
            return recount_differences(worker, expected)
        except AssertionError as error:  # not 200: the group is still changing
            return [str(error)]

    assert wait_until(lambda: not differences(), timeout=180), differences()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_kill_9_mid_stream_loses_nothing(cluster: Cluster, store: str) -> None:
    events = simulated()
    first = cluster.start_worker(CCHC_STORE=store, **ENV)
    with Feed(cluster, events) as feed:
        feed.wait_for(0.4)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        # Junk on the alerts topic, which the restart replays: skipped, never fatal.
        cluster.produce(
            [("cchc.alerts", b"xa-cam-lam", b"not an alert"), ("cchc.alerts", None, b"{}")]
        )
        restarted = time.monotonic()
        second = cluster.start_worker(data_dir=first.data_dir, CCHC_STORE=store, **ENV)
        print(f"killed worker serving again after {time.monotonic() - restarted:.1f} s")
    settled(second, events)
    assert (
        second.metric(
            "cchc_events_processed_total", topic=cluster.prefix + "cchc.dossier-submitted"
        )
        > 0
    )
    assert history_problems(published(second, cluster)) == []


def test_a_broker_frozen_past_the_request_timeout_loses_nothing(
    cluster: Cluster, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    events = simulated()
    office = Receiver(failures=0)
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        f"subscriptions:\n  - {{name: office, url: '{office.url}', secret: s, scopes: [admin]}}\n"
    )
    worker = cluster.start_worker(
        CCHC_PRODUCER_REQUEST_TIMEOUT="2", CCHC_SUBSCRIPTIONS=str(subscriptions), **ENV
    )
    live = Subscriber(worker)  # from before the first alert, through the freeze
    assert broker.pid is not None
    frozen = False
    try:
        with Feed(cluster, events[: len(events) // 2]) as feed:
            feed.wait_for(0.5)
            os.kill(broker.pid, signal.SIGSTOP)
            frozen = True
            assert wait_until(
                lambda: worker.get("/healthz")[1] == {"status": "broker unreachable"}, timeout=20
            )
            time.sleep(6)  # three times the request timeout: writes in flight expire
            os.kill(broker.pid, signal.SIGCONT)
            frozen = False
    finally:
        if frozen:
            os.kill(broker.pid, signal.SIGCONT)
    cluster.produce_events(events[len(events) // 2 :])
    worker.wait_healthy(120)
    settled(worker, events)
    assert worker.metric("cchc_broker_reachable") == 1

    # Every change the recount implies has been made (and, ticks waiting for their writes,
    # written) before the sentinels' alerts: a subscriber that has those has had them all.
    expected = expected_firing(events, ENV)
    assert expected, "the scenario fires alerts: none would prove nothing"
    assert wait_until(lambda: firing_now(worker) == expected, timeout=60), (
        firing_now(worker) ^ expected
    )
    # Whether the freeze left a repeat depends on what was in flight when it came: here is
    # one for sure, of an early change (superseded since, perhaps) and of the latest one.
    repeat(cluster, {p: alerts[:1] + alerts[-1:] for p, alerts in topic_alerts(cluster).items()})
    last = sentinels(cluster)
    replay = Subscriber(worker)  # a client that comes afterwards, from the beginning
    for subscriber in (live, replay):
        assert wait_until(
            lambda s=subscriber: set(last.values()) <= {a["alert_id"] for a in s.alerts},
            timeout=90,
        ), subscriber.ends
        subscriber.close()
    assert wait_until(
        lambda: set(last.values()) <= {a["alert_id"] for a in received(office)}, timeout=90
    )

    topic = topic_alerts(cluster)
    assert history_problems(topic) == []
    # The topic's changes up to each sentinel, repeats passed over: what a subscriber gets.
    wanted = {p: up_to(first_copies(alerts), last[p]) for p, alerts in topic.items()}
    risk_or_made_up = (UNIT_LATE_RATE_RISK + "|", "leader_accountability|zz-sentinel-")
    for name, alerts in [
        ("the live SSE client", live.alerts),
        ("an SSE client replaying from the beginning", replay.alerts),
        ("the webhook receiver", received(office)),
    ]:
        got = {p: up_to(seen, last[p]) for p, seen in per_partition(cluster, alerts).items()}
        assert got == wanted, f"{name} did not get each change once"
        final = dict(change for seen in got.values() for change in seen)
        firing = {key for key, sequence in final.items() if sequence % 2}
        assert {key for key in firing if not key.startswith(risk_or_made_up)} == expected, name
    print(f"the live SSE client reconnected {len(live.ends)} times: {live.ends}")


def test_a_worker_joining_and_one_leaving_while_events_flow(cluster: Cluster) -> None:
    events = simulated()
    first = cluster.start_worker(**ENV)
    with Feed(cluster, events) as feed:
        feed.wait_for(0.3)
        second = cluster.start_worker(**ENV)
        feed.wait_for(0.7)
        first.stop()
    settled(second, events)
    assert history_problems(published(second, cluster)) == []
