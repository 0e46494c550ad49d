"""What a worker decides on its own: which units it may track, and its health."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

from kpi.units import Unit
from schemas.codec import parse_instant
from schemas.records import DossierSubmitted, UnitRanking
from streams.settings import Settings
from streams.worker import Worker

AT = parse_instant("2026-03-02T08:00:00+07:00", "t")


def worker(max_unlisted: int = 2) -> Worker:
    settings = replace(Settings(), max_unlisted_units=max_unlisted)
    app = SimpleNamespace(rebalancing=False)
    built = Worker.build(settings, cast(Any, app))
    built.registry = {"xa-a": Unit("xa-a", "Xã A", "xa", "commune")}
    built.engine.states_of = lambda unit_id: {}
    return built


def submit(w: Worker, unit_id: str) -> None:
    w.engine.apply(DossierSubmitted(f"s-{unit_id}", unit_id, "d", AT, AT, None, None, None, None))


def test_units_outside_the_registry_are_capped_listed_ones_never() -> None:
    w = worker(max_unlisted=2)
    assert w.admits("junk-1")
    submit(w, "junk-1")
    w.engine.apply(UnitRanking("r", "junk-2", 2025, "tot", AT))  # a ranking tracks a unit too
    assert not w.admits("junk-3"), "two unlisted units are tracked: the cap is reached"
    assert w.admits("junk-1") and w.admits("junk-2"), "tracked units stay admitted"
    assert w.admits("xa-a"), "a listed unit is always admitted"
    assert worker(max_unlisted=0).admits("xa-a") and not worker(max_unlisted=0).admits("junk")


def test_health_says_why_a_worker_does_not_serve() -> None:
    w = worker()
    assert w.health() == "starting"
    w.ready.set()
    assert w.health() == "ok"
    w.broker_reachable = False
    assert w.health() == "broker unreachable"
    w.broker_reachable = True
    w.writes.failing = True
    assert w.health() == "broker unreachable"
