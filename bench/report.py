"""Form 06 and the 766 estimate from a province's state, in one process (``make
bench-report``). Prints numbers; asserts none.

The simulator's year of the province (``--scale 3.2``: about a million dossiers over the 78
units of the registry) is applied to an engine, as a worker holds it; then, each the best
of three: the province's report for the year by unit and by field, the busiest unit's by
field for the year and for a report quarter, and the dossiers behind its numbers as the
API lists them (found from the index, each checked): the first and the last page of
column 1, and the whole of column 8; the national index estimated for the province by
unit (ranked, with the procedures each unit loses most on) and for a unit by procedure. The
same answers
over HTTP, with a worker's JSON encoding, are (e) of ``make bench``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.simulator import Simulator  # noqa: E402
from kpi import scorecard  # noqa: E402
from kpi.calendar import WorkingCalendar  # noqa: E402
from kpi.clock import Clock, ClockSpec  # noqa: E402
from kpi.engine import Engine  # noqa: E402
from kpi.periods import parse_period  # noqa: E402
from kpi.procedures import SYNTHETIC, fields_of, load_procedures  # noqa: E402
from kpi.report import PROCEDURE, by_field, by_unit  # noqa: E402
from kpi.units import load_units  # noqa: E402
from schemas.codec import decode, parse_instant  # noqa: E402
from schemas.records import EventKind  # noqa: E402

CLOCK = "2026-01-10T10:00:00+07:00"
"""A fixed clock just after the simulated year, so that 2025 is a whole past year."""


def best_of_three(run: Callable[[], Any]) -> float:
    took = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        took.append(time.perf_counter() - started)
    return min(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=3.2)
    args = parser.parse_args()
    kinds = {f"cchc.{kind.value}": kind for kind in EventKind}
    simulated = Simulator(seed=1, scale=args.scale).history(date(2025, 1, 1), 365)
    events = [decode(kinds[topic], orjson.dumps(event)) for topic, event in simulated]
    states: dict[str, dict[bytes, bytes]] = {}
    catalogue = load_procedures(SYNTHETIC)
    clock = Clock(ClockSpec("fixed", parse_instant(CLOCK, "clock")))
    engine = Engine(
        WorkingCalendar(), clock, lambda unit: states.setdefault(unit, {}), fields_of(catalogue)
    )
    started = time.perf_counter()
    for event in events:
        engine.apply(event)
    applied = time.perf_counter() - started
    dossiers = sum(len(unit) for unit in states.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(events):,} events, {dossiers:,} dossier states in {len(states)} units, applied in "
        f"{applied:.0f} s ({applied / len(events) * 1e6:.1f} µs an event); peak RSS {rss:,.0f} MiB"
    )
    registry = load_units()
    levels = {unit_id: (unit.level, unit.name) for unit_id, unit in registry.items()}
    names = catalogue.field_names()
    year = parse_period("2025", engine.now)
    quarter = parse_period("report:2025-Q2", engine.now, 15)
    month = parse_period("2025-12", engine.now)
    every = sorted(engine.reports)
    busiest = max(every, key=lambda u: engine.figures(u, year).resolved)

    behind = sum(1 for _ in engine.behind(busiest, year, "received"))
    timings = {
        "province by unit, 2025": lambda: by_unit(engine.report(every, year), levels),
        "province by field, 2025": lambda: by_field(engine.report(every, year), names),
        f"{busiest} by field, 2025": lambda: by_field(engine.report([busiest], year), names),
        f"{busiest} by field, report:2025-Q2": lambda: by_field(
            engine.report([busiest], quarter), names
        ),
        f"{busiest}: the first 100 dossiers behind column 1, 2025": lambda: list(
            islice(engine.behind(busiest, year, "received"), 100)
        ),
        f"{busiest}: the last 100 of them": lambda: list(
            islice(engine.behind(busiest, year, "received"), behind - 100, behind)
        ),
        f"{busiest}: every dossier behind column 8, 2025": lambda: list(
            engine.behind(busiest, year, "late")
        ),
        "766 estimate, province by unit (ranked), 2025": lambda: scorecard.by_unit(
            engine.report(every, year, PROCEDURE), levels
        ),
        "766 estimate, province by unit, 2025-12": lambda: scorecard.by_unit(
            engine.report(every, month, PROCEDURE), levels
        ),
        f"766 estimate, {busiest} by procedure, 2025": lambda: scorecard.by_procedure(
            engine.report([busiest], year, PROCEDURE)[busiest], {}
        ),
    }
    form = by_unit(engine.report(every, year), levels)
    print(
        f"form 06 for 2025: {form.total.received:,} dossiers received, "
        f"{len([line for group in form.groups for line in group.lines])} unit rows, "
        f"balanced {form.balanced}; {busiest}: "
        f"{behind:,} dossiers behind column 1"
    )
    for what, run in timings.items():
        print(f"  {what}: {best_of_three(run) * 1000:,.1f} ms")


if __name__ == "__main__":
    main()
