"""Every endpoint with each scope and with none: officials' figures only for their unit."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest

from tests.integration.conftest import TOKENS, Cluster, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

UNIT, OTHER = "xa-cam-lam", "phuong-nha-trang"
CLOCK = "2026-03-31T12:00:00+07:00"
NONE, PUBLIC, OWN, ADMIN, METRICS, WRONG = (
    None,
    TOKENS["public"],
    TOKENS[f"unit:{UNIT}"],
    TOKENS["admin"],
    TOKENS["metrics"],
    "not-a-token",
)

# endpoint → the status each token gets: none, public, unit:UNIT, admin, metrics, wrong.
EXPECTED: dict[str, tuple[int, ...]] = {
    "/healthz": (200, 200, 200, 200, 200, 200),
    "/": (200, 200, 200, 200, 200, 200),
    "/favicon.ico": (200, 200, 200, 200, 200, 200),
    "/api/info": (401, 200, 200, 200, 200, 401),
    "/api/units": (401, 200, 200, 200, 403, 401),
    f"/api/units/{UNIT}": (401, 200, 200, 200, 403, 401),
    f"/api/units/{UNIT}/daily": (401, 200, 200, 200, 403, 401),
    f"/api/units/{UNIT}/due-soon": (401, 403, 200, 200, 403, 401),
    f"/api/units/{OTHER}/due-soon": (401, 403, 403, 200, 403, 401),
    f"/api/officials?unit_id={UNIT}": (401, 403, 200, 200, 403, 401),
    f"/api/officials?unit_id={OTHER}": (401, 403, 403, 200, 403, 401),
    "/api/officials": (401, 403, 200, 200, 403, 401),
    "/api/alerts?state=all": (401, 200, 200, 200, 403, 401),
    "/metrics": (401, 403, 403, 200, 200, 401),
    "/report": (200, 200, 200, 200, 200, 200),
    f"/api/reports/form06?unit_id={UNIT}": (401, 403, 200, 200, 403, 401),
    f"/api/reports/form06?unit_id={OTHER}": (401, 403, 403, 200, 403, 401),
    "/api/reports/form06?by=unit": (401, 403, 403, 200, 403, 401),
    f"/api/units/{UNIT}/dossiers?column=1": (401, 403, 200, 200, 403, 401),
    f"/api/units/{OTHER}/dossiers?column=9&format=csv": (401, 403, 403, 200, 403, 401),
    # Bad query values are the caller's mistake (400), never the server's (500).
    "/api/units?period=9999": (401, 400, 400, 400, 403, 401),
    "/api/units?period=0000": (401, 400, 400, 400, 403, 401),
    f"/api/units/{UNIT}/daily?days=%C2%B2": (401, 400, 400, 400, 403, 401),
    "/router/": (404, 404, 404, 404, 404, 404),
    "/table/": (404, 404, 404, 404, 404, 404),
}
STREAMS = ("/api/units/stream", "/api/alerts/stream")


def dossier(n: int, unit: str) -> list[tuple[str, dict[str, Any]]]:
    submitted = {
        "event_id": f"s-{unit}-{n}",
        "unit_id": unit,
        "dossier_id": f"{unit}-{n}",
        "received_at": "2026-03-02T08:00:00+07:00",
        "due_at": "2026-03-05T00:00:00+07:00",
        "official_id": f"{unit}.cb01",
    }
    completed = {
        "event_id": f"c-{unit}-{n}",
        "unit_id": unit,
        "dossier_id": f"{unit}-{n}",
        "completed_at": "2026-03-06T08:00:00+07:00",  # late: both the unit and its official
    }
    return [("cchc.dossier-submitted", submitted), ("cchc.dossier-completed", completed)]


@pytest.fixture
def worker(cluster: Cluster) -> WorkerProcess:
    started = cluster.start_worker(
        CCHC_CLOCK=f"fixed:{CLOCK}",
        CCHC_ALERT_MIN_DOSSIERS="1",
        CCHC_ALERT_MIN_OFFICIAL_DOSSIERS="1",
    )
    cluster.produce_events([e for unit in (UNIT, OTHER) for e in dossier(1, unit)])
    assert wait_until(lambda: len(started.get("/api/alerts")[1]["alerts"]) == 4, timeout=60)
    return started


def test_every_endpoint_with_every_scope(worker: WorkerProcess) -> None:
    tokens = (NONE, PUBLIC, OWN, ADMIN, METRICS, WRONG)
    got = {path: tuple(worker.get(path, token=token)[0] for token in tokens) for path in EXPECTED}
    assert got == EXPECTED


def test_unauthenticated_requests_are_told_how_to_authenticate(worker: WorkerProcess) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(worker.url + "/api/units", timeout=10)
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_officials_are_shown_only_to_their_units_token(worker: WorkerProcess) -> None:
    assert "officials" not in worker.get(f"/api/units/{UNIT}", token=PUBLIC)[1]
    assert worker.get(f"/api/units/{UNIT}", token=OWN)[1]["officials"][0]["official_id"] == (
        f"{UNIT}.cb01"
    )
    assert "officials" not in worker.get(f"/api/units/{OTHER}", token=OWN)[1]
    # Only the unit's own officials, even when it asks for every unit's.
    rows = worker.get("/api/officials", token=OWN)[1]["officials"]
    assert {row["unit_id"] for row in rows} == {UNIT}

    def alerts(token: str) -> set[tuple[str, str | None]]:
        rows = worker.get("/api/alerts?state=all", token=token)[1]["alerts"]
        return {(a["unit_id"], a["official_id"]) for a in rows}

    unit_level = {(UNIT, None), (OTHER, None)}
    assert alerts(PUBLIC) == unit_level
    assert alerts(OWN) == unit_level | {(UNIT, f"{UNIT}.cb01")}
    assert alerts(ADMIN) == unit_level | {(UNIT, f"{UNIT}.cb01"), (OTHER, f"{OTHER}.cb01")}


def first_event(worker: WorkerProcess, path: str, token: str | None) -> tuple[int, Any]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    query = "" if token is None else f"access_token={token}"
    separator = "&" if "?" in path else "?"
    connection.request("GET", f"{path}{separator}{query}")
    response = connection.getresponse()
    if response.status != 200:
        return response.status, None
    while True:
        line = response.readline().decode()
        if line.startswith("data: "):
            connection.close()
            return 200, orjson.loads(line[6:])


def test_live_streams_take_the_token_in_the_query(worker: WorkerProcess) -> None:
    for path in STREAMS:
        assert first_event(worker, path, None)[0] == 401
        assert first_event(worker, path, METRICS)[0] == 403
    assert first_event(worker, "/api/units/stream", PUBLIC)[0] == 200
    status, alert = first_event(worker, "/api/alerts/stream?from=beginning", PUBLIC)
    assert status == 200 and alert["official_id"] is None, "the first alert a public screen sees"


def test_a_worker_on_a_public_address_without_tokens_refuses_to_start(cluster: Cluster) -> None:
    env = cluster.env(CCHC_WEB_HOST="0.0.0.0")
    del env["CCHC_TOKENS_FILE"]
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"CCHC_TOKENS_FILE is not set: refusing to serve" in result.stderr
