"""Faults while events flow: nothing is lost, nothing is counted twice, no alert repeats.

Each test feeds a simulated fortnight of a few units, interrupts the pipeline while the
events are in flight, and then requires the API to equal the independent recount
(``tests/recount.py``) and the alerts topic to hold no repeated state change.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import defaultdict
from datetime import date
from typing import Any

import pytest

from schemas.codec import InvalidEvent, decode_alert
from streams.broker import EmbeddedBroker
from streams.simulator import Simulator
from tests.integration.conftest import Cluster, WorkerProcess, wait_until
from tests.integration.expected import records
from tests.integration.test_kpi import differences as recount_differences

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


def alert_repeats(cluster: Cluster) -> list[str]:
    """Alerts whose consecutive messages on the topic say the same state twice."""
    topic = cluster.prefix + "cchc.alerts"
    by_alert: dict[str, list[str]] = defaultdict(list)
    records = cluster.read_topic(topic, expect=10**9, timeout=5)
    assert records, "the scenario fires alerts: an empty topic would prove nothing"
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        try:
            alert = decode_alert(record.value)
        except InvalidEvent:
            continue  # the junk a test wrote there
        by_alert[alert["alert_id"]].append(alert["state"])
    return [
        alert_id
        for alert_id, states in by_alert.items()
        if any(a == b for a, b in itertools.pairwise(states))
    ]


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
    assert alert_repeats(cluster) == []


def test_a_broker_frozen_past_the_request_timeout_loses_nothing(
    cluster: Cluster, broker: EmbeddedBroker
) -> None:
    events = simulated()
    worker = cluster.start_worker(CCHC_PRODUCER_REQUEST_TIMEOUT="2", **ENV)
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
    assert alert_repeats(cluster) == []


def test_a_worker_joining_and_one_leaving_while_events_flow(cluster: Cluster) -> None:
    events = simulated()
    first = cluster.start_worker(**ENV)
    with Feed(cluster, events) as feed:
        feed.wait_for(0.3)
        second = cluster.start_worker(**ENV)
        feed.wait_for(0.7)
        first.stop()
    settled(second, events)
    assert alert_repeats(cluster) == []
