"""Decision 766 and the national sync record end to end on the embedded broker.

- One simulated month fed once as section 2 events and once as national sync records:
  both workers answer what the independent recount of the events says.
- Snapshots re-sent and out of order, one that moves a dossier back, progress records
  before their dossier, and invalid records mixed in.
- ``POST /ingest/dvcqg``: access, refusals, the portal-shaped answer, what is published.
- Decision 766's boundary cases as events, shuffled and duplicated, against the recount.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import orjson
import pytest

from clients.simulator import Simulator, as_dvcqg, message_key
from tests.integration.conftest import TOKENS, Cluster, WorkerProcess, wait_until
from tests.integration.expected import api_matches, records

pytestmark = pytest.mark.integration

CLOCK = "2026-03-20T12:00:00+07:00"
PERIODS = ["2026", "2026-02", "2026-03", "30d"]
CAM_LAM, CAM_LAM_CODE = "xa-cam-lam", "000.18.30.H34"
ENV = {"CCHC_CLOCK": f"fixed:{CLOCK}"}


def shared_traffic() -> list[tuple[str, dict[str, Any]]]:
    """A simulated month, without what sync records cannot say (financial obligations)."""
    events = Simulator(seed=5, scale=0.5, units_limit=8).history(date(2026, 2, 2), 40)
    return [
        (topic, event)
        for topic, event in events
        if not (topic == "cchc.dossier-pause" and event["reason"] == "financial_obligation")
    ]


def keyed(traffic: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, bytes | None, bytes]]:
    messages = []
    for topic, value in traffic:
        key = message_key(topic, value)
        messages.append((topic, None if key is None else key.encode(), orjson.dumps(value)))
    return messages


def test_events_and_sync_records_give_the_same_figures(
    cluster: Cluster, second_cluster: Cluster
) -> None:
    events = shared_traffic()
    synced = list(as_dvcqg(events))
    assert sum(1 for topic, _ in synced if topic == "cchc.dvcqg-sync") > 100
    assert any(topic == "cchc.dossier-pause" for topic, _ in events)
    expected = records(events)
    native = cluster.start_worker(**ENV)
    portal = second_cluster.start_worker(**ENV)
    cluster.produce(keyed(events))
    second_cluster.produce(keyed(synced))
    for worker in (native, portal):
        assert wait_until(
            lambda w=worker: not api_matches(w, expected, CLOCK, PERIODS), timeout=120
        ), api_matches(worker, expected, CLOCK, PERIODS)
    status, body = portal.get("/api/units?period=2026")
    assert status == 200
    assert sum(u["paused"] for u in body["units"]) + sum(u["resolved"] for u in body["units"])


def snapshot(status: int, **fields: Any) -> dict[str, Any]:
    return {
        "MaHoSo": "H34.18-260302-0001",
        "MaTTHC": "1.001612",
        "TenTTHC": "Đăng ký khai sinh",
        "DonViXuLy": CAM_LAM_CODE,
        "KenhThucHien": "1",
        "TrangThaiHoSo": str(status),
        "NgayTiepNhan": "20260302080000",
        "NgayHenTra": "20260304170000",
        "NgayKetThucXuLy": "",
        "NgayTra": "",
        "DanhSachHoSoBoSung": [],
    } | fields


def sync(service: str, synced_at: str, *records: Any) -> tuple[str, bytes | None, bytes]:
    body = {"service": service, "synced_at": synced_at, "data": list(records)}
    return "cchc.dvcqg-sync", None, orjson.dumps(body)


def unit(worker: WorkerProcess, period: str = "2026-03") -> dict[str, Any]:
    status, body = worker.get(f"/api/units/{CAM_LAM}?period={period}")
    assert status == 200, body
    return dict(body)


def test_snapshots_in_any_order_and_invalid_records(cluster: Cluster) -> None:
    worker = cluster.start_worker(**ENV)
    received = sync("DongBoHoSoMC", "2026-03-02T08:00:05+07:00", snapshot(2))
    done = sync(
        "DongBoHoSoMC",
        "2026-03-05T09:00:00+07:00",
        snapshot(9, NgayKetThucXuLy="20260305090000"),
    )
    # The system replays the dossier as open later: the later synced_at wins, not the status.
    back = sync("DongBoHoSoMC", "2026-03-06T09:00:00+07:00", snapshot(4))
    step = {"MaHoSo": "H34.18-260302-0001", "NguoiXuLy": "cb-lan", "TrangThai": 4}
    progress = sync(
        "CapNhatTienDoHoSoMC",
        "2026-03-02T08:00:06+07:00",
        step | {"ThoiDiemXuLy": "20260302080000"},
    )
    invalid = sync(
        "DongBoHoSoMC",
        "2026-03-05T09:00:01+07:00",
        snapshot(2, MaHoSo="H34.18-260302-0002", NgayTiepNhan=""),
        "not a record",
        snapshot(2, MaHoSo="H34.18-260302-0003"),
    )
    cluster.produce(
        [
            progress,
            back,
            received,
            done,
            done,
            received,
            invalid,
            ("cchc.dvcqg-sync", b"junk", b"{not json"),
        ]
    )

    def settled() -> bool:
        row = unit(worker)
        return bool(row["open_overdue"] == 2 and row["resolved"] == 0)

    assert wait_until(settled, timeout=60), unit(worker)
    officials = worker.get(f"/api/officials?unit_id={CAM_LAM}&period=2026-03")[1]
    assert [o["official_id"] for o in officials["officials"]] == ["cb-lan"]
    letters = cluster.read_topic(cluster.topics.dead_letter, expect=3)
    reasons = sorted(orjson.loads(letter.value)["reason"] for letter in letters)
    assert len(reasons) == 3, reasons
    assert reasons[0] == "data[0] (MaHoSo 'H34.18-260302-0002'): NgayTiepNhan: missing"
    assert reasons[1] == "data[1]: record must be a JSON object, got string"
    assert reasons[2].startswith("not JSON")

    # Then the dossier moves to another unit: it leaves Cam Lâm, and nothing is counted twice.
    moved = snapshot(4, DonViXuLy="000.01.30.H34")
    cluster.produce([sync("DongBoHoSoMC", "2026-03-07T09:00:00+07:00", moved)])
    assert wait_until(lambda: unit(worker)["open_overdue"] == 1, timeout=30), unit(worker)
    assert worker.get("/api/units/xa-nam-cam-ranh?period=2026-03")[1]["open_overdue"] == 1


def test_ingest_takes_a_portal_body(cluster: Cluster) -> None:
    worker = cluster.start_worker(**ENV)
    body = {
        "session": "portal-access-token",
        "madonvi": "000.00.00.H34",
        "isUpdating": "False",
        "service": "DongBoHoSoMC",
        "data": [snapshot(2), {"MaHoSo": "X", "TrangThaiHoSo": 2}],
    }
    raw = orjson.dumps(body)
    assert worker.post("/ingest/dvcqg", raw, token=None)[0] == 401
    assert worker.post("/ingest/dvcqg", raw, token=TOKENS["public"])[0] == 403
    assert worker.post("/ingest/dvcqg", b"[]", token=TOKENS["ingest:*"])[0] == 400
    assert worker.post("/ingest/dvcqg", b'{"data": []}', token=TOKENS["ingest:*"])[0] == 400
    other = worker.post("/ingest/dvcqg", b'{"service": "X"}', token=TOKENS["ingest:*"])
    assert other[0] == 200 and other[1]["error_code"] == "0", "another service: not ours"
    huge = orjson.dumps(body | {"padding": "x" * (1 << 20)})
    assert worker.post("/ingest/dvcqg", huge, token=TOKENS["ingest:*"])[0] == 413

    status, answer = worker.post("/ingest/dvcqg", raw, token=TOKENS["ingest:*"])
    assert status == 200 and answer["error_code"] == "0" and answer["valid"] == 1, answer
    assert answer["errors"] == [{"index": 1, "MaHoSo": "X", "reason": "NgayTiepNhan: missing"}]
    valid = orjson.dumps(body | {"data": [snapshot(2, MaHoSo="H34.18-260302-0009")]})
    status, answer = worker.post("/ingest/dvcqg", valid, token=TOKENS["ingest:*"])
    assert status == 200 and answer["error_code"] == "0" and answer["valid"] == 1, answer
    assert "errors" not in answer and answer["message"].startswith("Thành công")

    published = cluster.read_topic(cluster.topics.dvcqg_sync, expect=2)
    assert len(published) == 2  # the refused bodies were published nowhere
    for message in published:
        value = orjson.loads(message.value)
        assert "session" not in value and value["madonvi"] == "000.00.00.H34"
        assert value["synced_at"].endswith("+07:00")
    assert wait_until(lambda: unit(worker)["open_overdue"] == 2, timeout=30), unit(worker)


def pause(dossier: str, pause_id: str, start: str, end: str | None, reason: str) -> dict[str, Any]:
    return {
        "event_id": f"p-{dossier}-{pause_id}-{end}",
        "unit_id": CAM_LAM,
        "dossier_id": dossier,
        "pause_id": pause_id,
        "reason": reason,
        "paused_at": start,
        "resumed_at": end,
    }


def dossier(name: str, received: str, due: str, done: str | None) -> list[tuple[str, Any]]:
    submitted = {
        "event_id": f"s-{name}",
        "unit_id": CAM_LAM,
        "dossier_id": name,
        "received_at": received,
        "due_at": due,
        "official_id": "cb-lan",
    }
    events: list[tuple[str, Any]] = [("cchc.dossier-submitted", submitted)]
    if done is not None:
        completed = {"event_id": f"c-{name}", "unit_id": CAM_LAM, "dossier_id": name}
        events.append(("cchc.dossier-completed", completed | {"completed_at": done}))
    return events


def boundary_cases() -> list[tuple[str, Any]]:
    d = "2026-01-1{}T{}:00:00+07:00".format
    s, f = "supplement", "financial_obligation"
    return [
        # A pause that straddles the deadline: 6 hours paused, done 5 hours late by wall.
        *dossier("straddle", d(2, "08"), d(2, "18"), d(3, "04")),
        ("cchc.dossier-pause", pause("straddle", "1", d(2, "16"), d(2, "22"), f)),
        # A second supplement request after resumption: late, whatever its times.
        *dossier("twice", d(2, "08"), d(9, "17"), d(4, "10")),
        ("cchc.dossier-pause", pause("twice", "1", d(2, "09"), None, s)),
        ("cchc.dossier-pause", pause("twice", "1", d(2, "09"), d(2, "11"), s)),
        ("cchc.dossier-pause", pause("twice", "2", d(3, "09"), d(3, "10"), s)),
        # Overlapping pauses count their union once: 8 hours.
        *dossier("overlap", d(2, "08"), d(2, "12"), d(2, "20")),
        ("cchc.dossier-pause", pause("overlap", "1", d(2, "09"), d(2, "15"), f)),
        ("cchc.dossier-pause", pause("overlap", "2", d(2, "11"), d(2, "17"), s)),
        # A pause from before receipt counts from receipt only: 2 hours, done 1 hour late.
        *dossier("early", d(2, "10"), d(2, "12"), d(2, "15")),
        ("cchc.dossier-pause", pause("early", "1", d(1, "08"), d(2, "12"), s)),
        # A completion inside an open pause: on time.
        *dossier("inside", d(2, "08"), d(2, "12"), d(5, "08")),
        ("cchc.dossier-pause", pause("inside", "1", d(2, "10"), None, s)),
        # Still waiting for the citizen at the clock: paused, not overdue.
        *dossier("waiting", d(2, "08"), d(2, "12"), None),
        ("cchc.dossier-pause", pause("waiting", "1", d(2, "10"), None, s)),
        # A year boundary during a pause: paused at the end of 2025, overdue in 2026.
        *dossier("new-year", "2025-12-30T08:00:00+07:00", "2025-12-31T17:00:00+07:00", None),
        (
            "cchc.dossier-pause",
            pause("new-year", "1", "2025-12-31T08:00:00+07:00", "2026-01-02T08:00:00+07:00", s),
        ),
        # Outcomes: processed, then returned; rescheduled with an apology.
        *dossier("returned", d(2, "08"), d(2, "12"), d(2, "11")),
        (
            "cchc.dossier-completed",
            {
                "event_id": "c-returned-2",
                "unit_id": CAM_LAM,
                "dossier_id": "returned",
                "completed_at": d(4, "11"),
                "outcome": "returned",
            },
        ),
        (
            "cchc.dossier-rescheduled",
            {
                "event_id": "r-straddle",
                "unit_id": CAM_LAM,
                "dossier_id": "straddle",
                "rescheduled_at": d(2, "17"),
                "new_due_at": d(4, "17"),
                "apology": True,
            },
        ),
    ]


def test_decision_766_boundaries_through_kafka(cluster: Cluster) -> None:
    clock = "2026-01-20T12:00:00+07:00"
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{clock}")
    events = boundary_cases()
    delivered = events + events[:6]
    random.Random(7).shuffle(delivered)
    cluster.produce(keyed(delivered))
    expected = records(events)
    periods = ["2025", "2025-12", "2026", "2026-01"]
    assert wait_until(lambda: not api_matches(worker, expected, clock, periods), timeout=60), (
        api_matches(worker, expected, clock, periods)
    )
    row = unit(worker, "2026-01")
    assert (row["resolved"], row["resolved_late"]) == (6, 3)  # twice, early, straddle
    assert (row["paused"], row["open_overdue"], row["rescheduled"], row["apologised"]) == (
        1,
        1,
        1,
        1,
    )
    year_end = unit(worker, "2025")
    assert (year_end["paused"], year_end["open_overdue"]) == (1, 0)


def test_ingest_takes_bare_arrays_with_the_service_in_the_url(cluster: Cluster) -> None:
    """As the .NET systems post: one URL per service, a bare array of records, the unit's
    code and isUpdating in the query string, DonViXuLy the agency's name."""
    worker = cluster.start_worker(**ENV)
    token = TOKENS["ingest:xa-cam-lam"]
    dossier = snapshot(4, MaHoSo="000.18.30.H34-260302-0042", DonViXuLy="UBND xã Cam Lâm")
    path = "/ingest/dvcqg/DongBoHoSoMC?MaDinhDanhDV=000.18.30.H34&isUpdating=True"
    status, answer = worker.post(path, orjson.dumps([dossier]), token=token)
    assert status == 200 and answer["error_code"] == "0" and answer["valid"] == 1, answer
    assert "thành công" in answer["message"].lower()
    step = {
        "MaHoSo": dossier["MaHoSo"],
        "NguoiXuLy": "Nguyễn Thị Lan",
        "ChucDanh": "",
        "ThoiDiemXuLy": "20260302083000",
        "TrangThai": "4",
    }
    status, answer = worker.post(
        "/ingest/dvcqg/CapNhatTienDoHoSoMC", orjson.dumps([step]), token=token
    )
    assert status == 200 and answer["valid"] == 1, answer
    # Another service of the portal's is answered as done and published nowhere.
    other = worker.post("/ingest/dvcqg/DongBoTrangThaiHoSo", b"[{}]", token=token)
    assert other[0] == 200 and other[1]["error_code"] == "0", other
    assert worker.post("/ingest/dvcqg", b"[]", token=token)[1]["error_code"] == "400"

    published = cluster.read_topic(cluster.topics.dvcqg_sync, expect=2)
    assert len(published) == 2
    first = orjson.loads(min(published, key=lambda m: m.timestamp).value)
    assert (first["madonvi"], first["isUpdating"]) == ("000.18.30.H34", "True")
    assert wait_until(lambda: unit(worker)["open_overdue"] == 1, timeout=60), unit(worker)

    def officials() -> list[str]:  # the step may be applied after the dossier
        _, found = worker.get(f"/api/officials?unit_id={CAM_LAM}&period=2026-03")
        return [o["official_id"] for o in found["officials"]]

    assert wait_until(lambda: officials() == ["Nguyễn Thị Lan"], timeout=60), officials()
