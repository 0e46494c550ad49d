"""The simulator's stories as real one-stop systems send them give the figures of their
events (contract §9), through the worker's own reading: SyncBook and Engine."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.senders import PLACEHOLDER, SHAPES, as_sent, sender_name
from clients.simulator import SYNC_TOPIC, Simulator
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.figures import Figures
from kpi.periods import parse_period
from kpi.report import PROCEDURE
from kpi.snapshots import DossierSnapshot, SyncBook
from kpi.units import Directory, Unit
from schemas.codec import decode, parse_instant
from schemas.dvcqg import MARKS, decode_sync, digest, read_record
from schemas.records import EventKind

KINDS = {f"cchc.{kind.value}": kind for kind in EventKind}
CLOCK = parse_instant("2026-02-20T12:00:00+07:00", "clock")
Story = list[tuple[str, dict[str, Any]]]


def engine() -> Engine:
    states: dict[str, dict[bytes, bytes]] = {}
    clock = Clock(ClockSpec("fixed", CLOCK))
    return Engine(WorkingCalendar(), clock, lambda unit: states.setdefault(unit, {}))


def through_events(story: Story) -> Engine:
    native = engine()
    for topic, event in story:
        native.apply(decode(KINDS[topic], orjson.dumps(event)))
    return native


def through_sync(messages: Story, units: dict[str, Unit]) -> Engine:
    synced = engine()
    book = SyncBook(Directory(units, "Khánh Hòa").find)
    sync_states: dict[bytes, bytes] = {}
    for topic, message in messages:
        if topic != SYNC_TOPIC:
            synced.apply(decode(KINDS[topic], orjson.dumps(message)))
            continue
        sync = decode_sync(orjson.dumps(message))
        for record in sync.records:
            read = read_record(sync.service, record, sync.madonvi)
            applied = book.apply(0, sync_states, read, sync.synced_at, digest(record))
            for fact in applied.facts:
                synced.apply(DossierSnapshot.decode(fact.encode()))
    return synced


def figures(source: Engine, unit_id: str) -> list[Figures]:
    found = []
    for name in ("2026", "2026-01", "2026-02", "30d"):
        period = parse_period(name, source.now)
        found.append(source.figures(unit_id, period))
        found += [source.figures(unit_id, period, o) for o in source.officials(unit_id)]
    return found


@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_real_shaped_sync_records_give_the_figures_of_their_events(shape: str, seed: int) -> None:
    simulator = Simulator(seed=seed, units_limit=3)
    story = list(simulator.history(date(2026, 1, 5), 40))
    units = {profile.unit.unit_id: profile.unit for profile in simulator.profiles}
    native = through_events(story)
    synced = through_sync(list(as_sent(story, shape, units, without_appointment=0.0)), units)
    assert set(synced.units) == set(native.units)
    for unit_id in units:
        assert figures(synced, unit_id) == figures(native, unit_id), unit_id
        assert synced.officials(unit_id) == native.officials(unit_id)
        for name in ("2026-01", "2026-02", "report:2026-02"):
            period = parse_period(name, synced.now)
            by_procedure = synced.report([unit_id], period, PROCEDURE)
            assert by_procedure == native.report([unit_id], period, PROCEDURE), (unit_id, name)
        assert synced.quality(unit_id) == dict.fromkeys(MARKS, 0)


def test_each_shape_writes_what_its_senders_write() -> None:
    simulator = Simulator(seed=3, units_limit=2)
    story = list(simulator.history(date(2026, 1, 5), 20))
    units = {profile.unit.unit_id: profile.unit for profile in simulator.profiles}
    unit = next(iter(units.values()))
    for shape in SHAPES:
        sent = [m for t, m in as_sent(story, shape, units) if t == SYNC_TOPIC]
        dossiers = [m for m in sent if m["service"] == "DongBoHoSoMC"]
        assert all(len({r["MaHoSo"] for r in m["data"]}) == 1 for m in sent), "a dossier a call"
        records = [r for m in dossiers for r in m["data"]]
        assert all(isinstance(r["TrangThaiHoSo"], str) for r in records)
        assert all(r["DanhSachHoSoBoSung"] == [] for r in records)
        statuses = {r["TrangThaiHoSo"] for r in records}
        wait = "5" if shape == "envelope" else "1"
        assert {"2", wait, "6", "9"} <= statuses, statuses
        steps = [r["NguoiXuLy"] for m in sent if m["service"] != "DongBoHoSoMC" for r in m["data"]]
        assert PLACEHOLDER in steps
        if shape == "query":
            assert all(r["DonViXuLy"] is None for r in records)
            assert {m["madonvi"] for m in dossiers} <= {u.dvcqg_code for u in units.values()}
        else:
            assert sender_name(unit) in {r["DonViXuLy"] for r in records}
        dates = [r["NgayTiepNhan"] for r in records]
        assert all(("T" in d) == (shape == "arrays") for d in dates), dates[:3]
        assert all(r["MaLinhVuc"] and r["TenLinhVuc"] for r in records), "every field given"
        none = "" if shape == "envelope" else None
        assert any(r["NgayHenTra"] == none for r in records), "some without an appointment"
