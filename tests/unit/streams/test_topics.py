"""Topic names and where a unit's messages go."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from schemas.records import EventKind
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
