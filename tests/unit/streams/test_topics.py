"""Topic names and where a unit's messages go."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from schemas.records import EventKind, UnitRanking
from streams.topics import TopicNames, UnitPartitions, partition_for


def test_names_take_the_prefix_and_map_back_to_kinds() -> None:
    topics = TopicNames("p.")
    events = tuple(f"p.cchc.{kind.value}" for kind in EventKind)
    assert topics.inputs == (*events, "p.cchc.dvcqg-sync")
    assert topics.co_partitioned == (*topics.inputs, "p.cchc.rekeyed")
    assert topics.kind_of(topics.dvcqg_sync) is None  # not a section 2 event
    assert (topics.alerts, topics.dead_letter) == ("p.cchc.alerts", "p.cchc.dead-letter")
    assert all(topics.kind_of(topics.for_kind(kind)) is kind for kind in EventKind)
    assert topics.kind_of("cchc.dossier-submitted") is None  # without the prefix: not ours


def test_a_units_partition_is_the_one_kafkas_default_partitioner_picks_elsewhere_too() -> None:
    partitions = list(range(8))  # aiokafka: the partitioner Faust and our producers use
    for unit_id in ("xa-cam-lam", "phuong-nha-trang", "Xã Diên Khánh", "u"):
        key = unit_id.encode()
        expected = DefaultPartitioner()(key, partitions, partitions)
        assert partition_for(key, 8) == expected
        assert UnitPartitions(8).home(unit_id) == (key, expected)


def random_ids(count: int) -> list[str]:
    rng = random.Random(16)
    return [f"{rng.getrandbits(64):016x}" for _ in range(count)]


def test_lookups_of_unknown_ids_leave_the_cache_as_it_was() -> None:
    """A worker keeps the homes of registry units and units with state; 10,000 random ids
    through a public token (404s) or dead-lettered events cost no memory."""
    registry = {"xa-cam-lam": 1, "phuong-nha-trang": 2}
    states: dict[bytes, bytes] = {}
    engine = Engine(WorkingCalendar(), Clock(ClockSpec("wall")), lambda unit_id: states)
    units = UnitPartitions(8, keeps=lambda unit_id: unit_id in registry or engine.tracks(unit_id))
    engine.apply(UnitRanking("r", "unlisted-with-state", 2025, "kha", 1_767_225_600_000_000))
    known = [*registry, "unlisted-with-state"]
    homes = [units.home(unit_id) for unit_id in known]
    for unit_id in random_ids(10_000):
        key = unit_id.encode()
        assert units.home(unit_id) == (key, partition_for(key, 8))
    assert sorted(units._homes) == sorted(known)
    assert all(units.home(u) is home for u, home in zip(known, homes, strict=True))  # cached


def test_without_keeps_the_cache_stops_at_its_bound() -> None:
    units = UnitPartitions(8)
    first = units.home("xa-cam-lam")
    for unit_id in random_ids(10_000):
        units.home(unit_id)
    assert len(units._homes) <= 4096  # 10,000 before
    assert units.home("xa-cam-lam") is first  # asked first: still cached
