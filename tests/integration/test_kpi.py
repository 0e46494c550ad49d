"""The KPI engine end to end on the embedded broker, against the recount.

One scenario: 12 units over the turn of the year (synthetic), plus corrections,
duplicates, an orphan completion, a wrongly keyed event and dossier-less votes. The API of
a worker must equal the recount for every period; so must the API of a fresh worker that
recovered from the changelog (rocksdb store, empty local state), of a worker restarted on
its own directory after a clean stop or after being killed, and of both workers once a
second one has joined a worker holding state.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from clients.simulator import Simulator
from schemas.records import Event
from tests.integration.conftest import Cluster, WorkerProcess, wait_until
from tests.integration.expected import api_matches, records

pytestmark = pytest.mark.integration

CLOCK = "2026-01-20T12:00:00+07:00"
PERIODS = ["2025", "2025-12", "2026", "2026-01", "30d"]
UNIT = "xa-nam-cam-ranh"


def scenario() -> list[tuple[str, dict[str, Any]]]:
    events = list(Simulator(seed=3, scale=0.6, units_limit=12).history(date(2025, 12, 22), 21))
    submitted = {
        "event_id": "x-s1",
        "unit_id": UNIT,
        "dossier_id": "X-1",
        "received_at": "2025-12-29T09:00:00+07:00",
        "due_at": "2025-12-31T00:00:00+07:00",
        "official_id": "cb-x",
    }
    extra: list[tuple[str, dict[str, Any]]] = [
        # Overdue at the end of 2025, completed in 2026:
        # open-overdue in 2025, resolved late in 2026.
        ("cchc.dossier-submitted", submitted),
        (
            "cchc.dossier-completed",
            {
                "event_id": "x-c1",
                "unit_id": UNIT,
                "dossier_id": "X-1",
                "completed_at": "2026-01-05T10:00:00+07:00",
            },
        ),
        # A correction with a later timestamp wins and moves the dossier to another official.
        (
            "cchc.dossier-completed",
            {
                "event_id": "x-c2",
                "unit_id": UNIT,
                "dossier_id": "X-1",
                "completed_at": "2026-01-06T10:00:00+07:00",
                "official_id": "cb-y",
            },
        ),
        # Duplicates of both.
        ("cchc.dossier-submitted", submitted),
        (
            "cchc.dossier-completed",
            {
                "event_id": "x-c1",
                "unit_id": UNIT,
                "dossier_id": "X-1",
                "completed_at": "2026-01-05T10:00:00+07:00",
            },
        ),
        # A completion whose submission never comes: an orphan.
        (
            "cchc.dossier-completed",
            {
                "event_id": "x-c3",
                "unit_id": UNIT,
                "dossier_id": "X-404",
                "completed_at": "2026-01-07T10:00:00+07:00",
            },
        ),
        # Votes on one dossier: the later one counts; and two votes without a dossier.
        (
            "cchc.satisfaction-survey",
            {
                "event_id": "x-v1",
                "unit_id": UNIT,
                "dossier_id": "X-1",
                "surveyed_at": "2026-01-07T10:00:00+07:00",
                "rating": "satisfied",
            },
        ),
        (
            "cchc.satisfaction-survey",
            {
                "event_id": "x-v2",
                "unit_id": UNIT,
                "dossier_id": "X-1",
                "surveyed_at": "2026-01-08T10:00:00+07:00",
                "rating": "dissatisfied",
            },
        ),
        (
            "cchc.satisfaction-survey",
            {
                "event_id": "x-v3",
                "unit_id": UNIT,
                "surveyed_at": "2026-01-08T11:00:00+07:00",
                "rating": "very_satisfied",
            },
        ),
        (
            "cchc.satisfaction-survey",
            {
                "event_id": "x-v4",
                "unit_id": UNIT,
                "official_id": "cb-x",
                "surveyed_at": "2026-01-09T11:00:00+07:00",
                "rating": "dissatisfied",
            },
        ),
        # A unit that is not in the registry is still monitored.
        (
            "cchc.dossier-submitted",
            {
                "event_id": "x-s9",
                "unit_id": "don-vi-moi",
                "dossier_id": "N-1",
                "received_at": "2026-01-02T09:00:00+07:00",
                "processing_time": {"amount": 1, "unit": "working_days"},
            },
        ),
    ]
    # Completions first: they arrive before their submissions and must be held.
    return extra[1:3] + events + extra


def differences(worker: WorkerProcess, expected: list[Event]) -> list[str]:
    return api_matches(worker, expected, CLOCK, PERIODS)


def test_api_equals_recount_and_survives_a_restart(cluster: Cluster) -> None:
    events = scenario()
    expected_records = records(events)
    env = {"CCHC_CLOCK": f"fixed:{CLOCK}", "CCHC_STORE": "rocksdb://"}
    first = cluster.start_worker(**env)
    mis_keyed = [
        (t, b"not-the-unit" if e["event_id"] == "x-s9" else e["unit_id"].encode(), orjson.dumps(e))
        for t, e in events
    ]
    cluster.produce(mis_keyed)
    total = len(events)

    def processed(worker: WorkerProcess) -> float:
        return sum(
            worker.metric("cchc_events_processed_total", topic=cluster.prefix + t)
            for t in {*(t for t, _ in events), "cchc.rekeyed"}
        )

    assert wait_until(lambda: processed(first) >= total, timeout=120), processed(first)
    assert wait_until(lambda: not differences(first, expected_records), timeout=10), differences(
        first, expected_records
    )

    status, unit = first.get(f"/api/units/{UNIT}?period=2026")
    assert status == 200 and unit["orphans"] == 1 and unit["name"] == "Xã Nam Cam Ranh"
    assert {o["official_id"] for o in unit["officials"]} >= {"cb-y"}
    assert first.get("/api/units/khong-co")[0] == 404
    assert first.get("/api/units?period=2026-02")[0] == 400
    assert first.get("/api/units?period=bad")[0] == 400

    first.stop()
    second = cluster.start_worker(**env)  # fresh data dir: recovers from the changelog only
    assert wait_until(lambda: not differences(second, expected_records), timeout=30), differences(
        second, expected_records
    )
    dossiers = {(e.unit_id, e.dossier_id) for e in expected_records if getattr(e, "dossier_id", 0)}
    recovered = second.metric("cchc_state_recovered_records_total")
    assert recovered >= len(dossiers), recovered  # every dossier's state, at least once

    second.stop()  # a clean stop: its rocksdb state is kept, marked with the changelog offset
    third = cluster.start_worker(data_dir=second.data_dir, **env)
    assert wait_until(lambda: not differences(third, expected_records), timeout=30), differences(
        third, expected_records
    )
    # Only each partition's last record, read again to check the state is of this changelog.
    assert third.metric("cchc_state_recovered_records_total") <= cluster.partitions


def test_two_workers_each_answer_for_every_unit(cluster: Cluster) -> None:
    # The second worker joins once the first holds state: the group rebalances, each worker
    # recovers the partitions it is given, and the rest of the events go to both.
    events = scenario()
    expected_records = records(events)
    env = {"CCHC_CLOCK": f"fixed:{CLOCK}"}
    half = len(events) // 2
    workers = [cluster.start_worker(**env)]
    cluster.produce_events(events[:half])
    assert wait_until(lambda: not differences(workers[0], records(events[:half])), timeout=120)
    workers.append(cluster.start_worker(**env))
    assert wait_until(lambda: all(w.get("/healthz")[0] == 200 for w in workers), timeout=60)
    cluster.produce_events(events[half:])
    for worker in workers:
        assert wait_until(lambda w=worker: not differences(w, expected_records), timeout=120), (
            differences(worker, expected_records)
        )
    local = [
        worker.get(f"/api/units/{UNIT}?period=2026&local=1")[1]["resolved"] for worker in workers
    ]
    assert sorted(bool(count) for count in local) == [False, True], (
        "exactly one worker owns the unit"
    )
    forwarded = [worker.get(f"/api/units/{UNIT}?period=2026")[1] for worker in workers]
    assert forwarded[0] == forwarded[1] and forwarded[0]["orphans"] == 1
    # The report gathers every worker's units; a download is laid out by the worker asked,
    # from its owner's JSON (a page of an export may be longer than a JSON page).
    reports = [w.get("/api/reports/form06?period=2026&by=unit")[1] for w in workers]
    assert reports[0]["total"] == reports[1]["total"] and reports[0]["balanced"]
    path = f"/api/units/{UNIT}/dossiers?period=2026&column=1&format=csv&limit=5000"
    exported = [worker.get(path) for worker in workers]
    assert exported[0] == exported[1] and exported[0][0] == 200
    received = worker.get(f"/api/reports/form06?period=2026&unit_id={UNIT}")[1]["total"]
    assert len(exported[0][1].strip().splitlines()) == 1 + received["columns"][0]


def test_a_killed_worker_loses_nothing_and_counts_nothing_twice(cluster: Cluster) -> None:
    # SIGKILL: no clean stop, so no rocksdb marker and offsets committed only up to Faust's
    # last commit. The restarted worker, on the same directory, must recover its state from
    # the changelog and the re-delivered events must change nothing.
    events = scenario()
    half = len(events) // 2
    env = {"CCHC_CLOCK": f"fixed:{CLOCK}", "CCHC_STORE": "rocksdb://"}
    first = cluster.start_worker(**env)
    cluster.produce_events(events[:half])
    assert wait_until(lambda: not differences(first, records(events[:half])), timeout=120)
    first.process.kill()
    first.process.wait()
    assert not list((first.data_dir / "state").rglob("*.clean")), "a crash leaves no marker"

    cluster.produce_events(events[half:])
    second = cluster.start_worker(data_dir=first.data_dir, **env)
    expected_records = records(events)
    assert wait_until(lambda: not differences(second, expected_records), timeout=120), differences(
        second, expected_records
    )
    assert second.metric("cchc_state_recovered_records_total") > cluster.partitions
