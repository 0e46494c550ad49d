"""One request, or one message, must not stop the monitor (issue 16), on the real broker.

- A 300,000-character date through ``POST /ingest/dvcqg`` and a 400 KB record that grows
  to 1.5 MB when split, written straight to the sync topic: each once crash-looped the
  worker. Each is now a small dead letter; the worker lives, a restarted one too, and a
  valid record posted after counts.
- An ingest token writes only the units it names, on the worker as well as in the answer.
- A token that posts too fast is told to wait (429 with ``Retry-After``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from tests.integration.conftest import TOKENS, Cluster, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

ENV = {"CCHC_CLOCK": "fixed:2026-03-20T12:00:00+07:00"}
CAM_LAM, CAM_LAM_CODE = "xa-cam-lam", "000.18.30.H34"
DIEN_KHANH, DIEN_KHANH_CODE = "xa-dien-khanh", "000.12.30.H34"


def record(mahoso: str, code: str = CAM_LAM_CODE, **fields: Any) -> dict[str, Any]:
    """A snapshot as OpenCPS writes one: every value a string, empty for none."""
    return {
        "MaHoSo": mahoso,
        "MaTTHC": "1.001612",
        "DonViXuLy": code,
        "KenhThucHien": "1",
        "TrangThaiHoSo": "2",
        "NgayTiepNhan": "20260302080000",
        "NgayHenTra": "20260304170000",
        "NgayKetThucXuLy": "",
        "NgayTra": "",
    } | fields


def body(*records: dict[str, Any]) -> bytes:
    return orjson.dumps({"madonvi": "000.00.00.H34", "service": "DongBoHoSoMC", "data": records})


def overdue(worker: WorkerProcess, unit_id: str = CAM_LAM) -> int:
    status, answer = worker.get(f"/api/units/{unit_id}?period=2026-03")
    assert status == 200, answer
    return int(answer["open_overdue"])


def dead_letters(cluster: Cluster, expect: int) -> list[dict[str, Any]]:
    found = cluster.read_topic(cluster.topics.dead_letter, expect=expect, timeout=60)
    assert len(found) == expect, [orjson.loads(m.value)["reason"] for m in found]
    for message in found:
        assert len(message.value) < 200_000, "a dead letter is cut, whatever came in"
    return [orjson.loads(message.value) for message in found]


def survives_a_restart(cluster: Cluster, worker: WorkerProcess) -> WorkerProcess:
    """The worker is alive; stopped and started again, it reads the same input again, and
    still serves."""
    assert worker.process.poll() is None, f"the worker stopped; see {worker.log_path}"
    worker.stop()
    return cluster.start_worker(**ENV)


def test_a_huge_date_posted_is_a_small_dead_letter_and_the_worker_lives(
    cluster: Cluster,
) -> None:
    worker = cluster.start_worker(**ENV)
    huge = record("HS-HUGE", NgayTiepNhan="2" * 300_000)
    status, answer = worker.post("/ingest/dvcqg", body(huge), token=TOKENS["ingest:*"])
    assert status == 200 and answer["valid"] == 0, answer
    [error] = answer["errors"]
    assert error["MaHoSo"] == "HS-HUGE" and len(error["reason"]) <= 1024
    [letter] = dead_letters(cluster, expect=1)
    assert letter["reason"].startswith("data[0] (MaHoSo 'HS-HUGE'): NgayTiepNhan:")
    assert letter["original_size"] > 300_000 and len(letter["reason"]) <= 1024

    worker = survives_a_restart(cluster, worker)
    status, answer = worker.post("/ingest/dvcqg", body(record("HS-1")), token=TOKENS["ingest:*"])
    assert status == 200 and answer["valid"] == 1, answer
    assert wait_until(lambda: overdue(worker) == 1, timeout=60), overdue(worker)
    assert len(dead_letters(cluster, expect=1)) == 1, "the restart read it again, once"


def test_a_record_that_grows_when_split_is_a_dead_letter_and_the_worker_lives(
    cluster: Cluster,
) -> None:
    worker = cluster.start_worker(**ENV)
    # Valid JSON of 400 KB: its 80,000 copies of 1e15 come out as 1000000000000000.0.
    grows = orjson.dumps(record("HS-GROWS"))[:-1] + b',"Extra":['
    grows += b",".join([b"1e15"] * 80_000) + b"]}"
    raw = b'{"service":"DongBoHoSoMC","synced_at":"2026-03-02T08:00:00+07:00","data":['
    raw += grows + b"," + orjson.dumps(record("HS-2")) + b"]}"
    assert 300_000 < len(raw) < 500_000
    cluster.produce([("cchc.dvcqg-sync", None, raw)])
    [letter] = dead_letters(cluster, expect=1)
    assert "CCHC_MAX_MESSAGE_BYTES" in letter["reason"], letter["reason"]
    assert letter["original_size"] > 1_048_576 and len(letter["original_sha256"]) == 64
    assert wait_until(lambda: overdue(worker) == 1, timeout=60), "the other record counts"

    worker = survives_a_restart(cluster, worker)
    sync = {"service": "DongBoHoSoMC", "synced_at": "2026-03-02T09:00:00+07:00"}
    valid = orjson.dumps(sync | {"data": [record("HS-3")]})
    cluster.produce([("cchc.dvcqg-sync", None, valid)])
    assert wait_until(lambda: overdue(worker) == 2, timeout=60), overdue(worker)


def test_an_ingest_token_writes_only_its_own_units(cluster: Cluster) -> None:
    worker = cluster.start_worker(**ENV)
    # Diên Khánh's own one-stop system sends section 2 events: one overdue dossier.
    submitted = {
        "event_id": "s-dk-1",
        "unit_id": DIEN_KHANH,
        "dossier_id": "DK-1",
        "received_at": "2026-03-02T08:00:00+07:00",
        "due_at": "2026-03-04T17:00:00+07:00",
    }
    cluster.produce_events([("cchc.dossier-submitted", submitted)])
    assert wait_until(lambda: overdue(worker, DIEN_KHANH) == 1, timeout=60)

    token = TOKENS["ingest:xa-cam-lam"]
    erase = record("DK-1", DIEN_KHANH_CODE, TrangThaiHoSo="3")  # "never received"
    status, answer = worker.post("/ingest/dvcqg", body(record("CL-1"), erase), token=token)
    assert status == 200 and answer["valid"] == 1 and answer["error_code"] == "0", answer
    assert [e["index"] for e in answer["errors"]] == [1]
    assert "may not write" in answer["errors"][0]["reason"]
    assert wait_until(lambda: overdue(worker) == 1, timeout=60), "its own unit counts"
    [letter] = dead_letters(cluster, expect=1)
    assert "which this sender may not write" in letter["reason"], letter["reason"]
    # Nor can it take the dossier over by naming its own unit: the worker checks that.
    takes = record("DK-1", DIEN_KHANH_CODE, TrangThaiHoSo="9", NgayKetThucXuLy="20260303080000")
    status, answer = worker.post("/ingest/dvcqg", body(takes), token=token)
    assert status == 200 and answer["valid"] == 0, answer
    dead_letters(cluster, expect=2)
    assert overdue(worker, DIEN_KHANH) == 1, "the other unit's dossier is untouched"

    # Never-received records create no unit, whoever sends them.
    junk = [{"MaHoSo": f"J{n}", "TrangThaiHoSo": "1", "DonViXuLy": f"rác {n}"} for n in range(50)]
    status, _ = worker.post("/ingest/dvcqg", body(*junk), token=TOKENS["ingest:*"])
    assert status == 200
    marker = record("CL-2")
    worker.post("/ingest/dvcqg", body(marker), token=token)
    assert wait_until(lambda: overdue(worker) == 2, timeout=60)
    _, units = worker.get("/api/units?period=2026-03")
    assert not [u["unit_id"] for u in units["units"] if u["unit_id"].startswith("rác")]


def post_raw(worker: WorkerProcess, data: bytes, token: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        worker.url + "/ingest/dvcqg",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_token_that_posts_too_fast_is_told_to_wait(cluster: Cluster) -> None:
    worker = cluster.start_worker(CCHC_INGEST_BYTES_PER_SECOND="1024", **ENV)
    padded = [record(f"HS-{n}", MaTTHC="1.001612" + "-" * 6000) for n in range(100)]
    data = body(*padded)
    assert 600_000 < len(data) < 700_000
    token = TOKENS["ingest:xa-cam-lam"]
    assert post_raw(worker, data, token)[0] == 200, "a whole body is the burst"
    status, headers = post_raw(worker, data, token)
    assert status == 429 and int(headers["Retry-After"]) >= 100, headers
    assert post_raw(worker, data, TOKENS["ingest:*"])[0] == 200, "another token is not held up"
    assert worker.metric("cchc_ingest_throttled_total", why="rate") == 1
