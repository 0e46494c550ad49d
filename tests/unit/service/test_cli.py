"""``cchc`` commands that need no broker: the simulator and start-up checks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.commands import cchc


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
        "cchc.dossier-pause",
        "cchc.dossier-rescheduled",
    }
    assert topics["cchc.unit-ranking"] == 24  # two past years for each of 12 units
    assert all(line["key"] == line["value"]["unit_id"] for line in lines)
    units = {line["value"]["unit_id"] for line in lines}
    assert "so-tu-phap" not in units and len(units) == 12  # the first 12 registry units
    channels = Counter(
        line["value"].get("channel") for line in lines if line["topic"] == "cchc.dossier-submitted"
    )
    assert channels["online"] and channels["counter"]


def test_worker_needs_a_broker_url() -> None:
    result = cchc("worker", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and b"CCHC_KAFKA_BROKER is not set" in result.stderr


def test_bad_setting_fails_at_start_naming_the_variable() -> None:
    result = cchc("worker", env={"CCHC_KAFKA_BROKER": "kafka://127.0.0.1:1", "CCHC_WEB_PORT": "x"})
    assert result.returncode == 2 and b"CCHC_WEB_PORT: 'x' is not a whole number" in result.stderr


def test_commands_find_the_broker_of_a_running_cchc_run(tmp_path: Path) -> None:
    import socket
    from dataclasses import replace

    from service.cli import BROKER_FILE, _broker_settings
    from streams.settings import Settings

    settings = replace(Settings(), data_dir=tmp_path)
    with pytest.raises(SystemExit):  # nothing running here
        _broker_settings(settings)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        url = f"kafka://127.0.0.1:{listening.getsockname()[1]}"
        (tmp_path / BROKER_FILE).write_text(url + "\n")
        assert _broker_settings(settings).kafka_broker == url
    with pytest.raises(SystemExit):  # the run has ended: nobody answers there any more
        _broker_settings(settings)
    given = replace(settings, kafka_broker="kafka://elsewhere:9092")
    assert _broker_settings(given) is given


def test_a_live_feed_says_when_it_has_caught_up(capsys: pytest.CaptureFixture[str]) -> None:
    import time
    from datetime import date, timedelta

    from clients.simulator import Simulator, event_time
    from service.cli import _say_when_live

    now = time.time_ns() // 1000
    simulator = Simulator(seed=1, scale=0.5, units_limit=3)
    events = list(simulator.history(date.today() - timedelta(days=3), 5, now, 1.0))

    def due_at(moment: int) -> int:
        """Events before the first one not yet due (a duplicate delivered late carries
        its own earlier time, so this is not a count of the times up to ``moment``)."""
        return next(n for n, (t, e) in enumerate(events) if event_time(t, e) > moment)

    due = due_at(now)
    assert 0 < due < len(events)
    assert list(_say_when_live(events, "live from now on")) == events
    due_later = due_at(time.time_ns() // 1000)  # an event may fall due as the feed starts
    told = [
        f"cchc simulate: caught up ({n} messages until now); live from now on\n"
        for n in range(due, due_later + 1)
    ]
    assert capsys.readouterr().err in told


def test_kafka_python_slow_step_notes_stay_out_of_the_terminal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """kafka-python's I/O thread waiting for the interpreter lock is not an error (see
    streams/kafka.py); its other warnings still show."""
    import logging

    import streams.kafka  # noqa: F401  # installs the filter

    selector = logging.getLogger("kafka.net.selector")
    with caplog.at_level(logging.WARNING):
        selector.warning(
            "Task <kafka.net.selector.Task object at 0x7f> ran for 0.300s (>0.100s threshold). "
            "It is blocking the event loop -- likely a tight sync loop inside a coroutine."
        )
        selector.warning("Task <x> left RUNNING after step; demoting to UNSCHEDULED")
    assert [r.getMessage() for r in caplog.records] == [
        "Task <x> left RUNNING after step; demoting to UNSCHEDULED"
    ]
