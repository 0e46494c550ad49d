"""What one ``/metrics`` scrape costs at the cap on unlisted units (``make bench-scrape``).

A scrape computes every owned unit's figures on the worker's event loop, so its cost is
time the intake agent waits. This builds one worker's engine with a simulated year of the
province (78 units, their officials) plus the 1,000 units outside the registry that
``CCHC_MAX_UNLISTED_UNITS`` lets a worker track, and times the exposition. Prints numbers;
asserts none.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
from prometheus_client import CollectorRegistry, generate_latest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.simulator import Simulator  # noqa: E402
from kpi.alerts import AlertBook  # noqa: E402
from kpi.calendar import WorkingCalendar  # noqa: E402
from kpi.clock import Clock, ClockSpec  # noqa: E402
from kpi.engine import Engine  # noqa: E402
from kpi.units import load_units  # noqa: E402
from schemas.codec import decode, parse_instant  # noqa: E402
from schemas.records import EventKind  # noqa: E402
from service.exporter import FiguresCollector  # noqa: E402
from streams.settings import Settings  # noqa: E402

KINDS = {f"cchc.{kind.value}": kind for kind in EventKind}
UNLISTED = 1000


def main() -> None:
    clock = Clock(ClockSpec("fixed", parse_instant("2025-12-31T12:00:00+07:00", "clock")))
    states: dict[bytes, bytes] = {}
    engine = Engine(WorkingCalendar(), clock, lambda unit_id: states)
    events = Simulator(seed=1, scale=1.0).history(date(2025, 1, 1), 365)
    count = 0
    for topic, event in events:
        engine.apply(decode(KINDS[topic], orjson.dumps(event)))
        count += 1
    for n in range(UNLISTED):
        junk = {
            "event_id": f"j{n}",
            "unit_id": f"unlisted-{n}",
            "surveyed_at": "2025-06-01T08:00:00+07:00",
            "rating": "satisfied",
        }
        engine.apply(decode(EventKind.SURVEY, orjson.dumps(junk)))
    registry = load_units()
    units = sorted({*engine.units, *registry})
    officials = sum(len(engine.officials(u)) for u in units)
    worker = SimpleNamespace(
        engine=engine,
        settings=Settings(),
        registry=registry,
        alerts=AlertBook(Settings().thresholds),
        consuming=False,
        owned_units=lambda: units,
        health=lambda: "ok",
        outbox=SimpleNamespace(backlog_seconds=lambda: 0.0),
        sync=SimpleNamespace(waiting_count=lambda: 0),
    )
    output = CollectorRegistry()
    output.register(FiguresCollector(cast(Any, worker)))
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        body = generate_latest(output)
        timings.append(time.perf_counter() - started)
    print(
        f"{count:,} events; {len(units):,} units ({UNLISTED:,} unlisted), {officials:,} officials; "
        f"one scrape: {min(timings) * 1000:.0f} ms (best of 5), {max(timings) * 1000:.0f} ms "
        f"(worst); {len(body) / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
