"""The state store against the embedded broker: recovery from the changelog, clean restarts
on rocksdb that read only what is new, and local state that no longer matches its changelog."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaProducer

from streams.broker import EmbeddedBroker
from streams.kafka import ensure_topics
from streams.settings import Settings
from streams.state import StateStore

pytestmark = pytest.mark.integration

PARTITIONS = 2


def changelog(broker: EmbeddedBroker) -> str:
    name = f"state-{uuid.uuid4().hex[:8]}-changelog"
    ensure_topics(broker.url, Settings().security, {name: PARTITIONS})
    return name


def write(broker: EmbeddedBroker, topic: str, records: list[tuple[int, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for partition, key, value in records:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()


def settings(broker: EmbeddedBroker, data_dir: Path, store: str) -> Settings:
    return replace(Settings(), kafka_broker=broker.url, data_dir=data_dir, store=store)


def contents(store: StateStore) -> dict[bytes, bytes]:
    return dict(store.items())


def test_memory_store_recovers_every_partition_and_drops_revoked(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = changelog(broker)
    # Two states of one key: the later wins, as in a compacted or uncompacted changelog.
    write(broker, topic, [(0, b"a", b"1"), (1, b"b", b"2"), (0, b"a", b"3"), (1, b"c", b"4")])

    async def scenario() -> None:
        store = StateStore(settings(broker, tmp_path, "memory://"), topic)
        assert await store.assign({0, 1}) == 4
        assert contents(store) == {b"a": b"3", b"b": b"2", b"c": b"4"}
        assert await store.assign({1}) == 0  # partition 0 revoked: its state goes
        assert contents(store) == {b"b": b"2", b"c": b"4"}
        assert await store.assign({0, 1}) == 2  # and comes back from the changelog
        assert store.of(0) == {b"a": b"3"}

    asyncio.run(scenario())


def test_rocksdb_clean_restart_reads_only_what_is_new(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = changelog(broker)
    write(broker, topic, [(0, b"a", b"1"), (0, b"b", b"2"), (1, b"c", b"3")])

    async def first_run() -> None:
        store = StateStore(settings(broker, tmp_path, "rocksdb://"), topic)
        assert await store.assign({0, 1}) == 3
        await store.close()

    async def second_run() -> dict[bytes, bytes]:
        store = StateStore(settings(broker, tmp_path, "rocksdb://"), topic)
        # The last known record of each partition is read again to check it, then the
        # one record written while the store was closed.
        applied = await store.assign({0, 1})
        assert applied == 2 + 1, applied
        found = contents(store)
        await store.close()
        return found

    asyncio.run(first_run())
    write(broker, topic, [(0, b"a", b"4")])
    assert asyncio.run(second_run()) == {b"a": b"4", b"b": b"2", b"c": b"3"}


def test_rocksdb_state_not_of_this_changelog_is_recovered_from_the_start(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = changelog(broker)
    write(broker, topic, [(0, b"a", b"1"), (0, b"b", b"2")])

    async def run() -> tuple[int, dict[bytes, bytes]]:
        store = StateStore(settings(broker, tmp_path, "rocksdb://"), topic)
        applied = await store.assign({0})
        found = contents(store)
        await store.close()
        return applied, found

    assert asyncio.run(run())[0] == 2
    marker = tmp_path / "state" / topic / "0.clean"
    # As after a new (empty) embedded broker: the store's last record is not in the log.
    state = json.loads(marker.read_text())
    marker.write_text(json.dumps(state | {"offset": 40}))
    applied, found = asyncio.run(run())
    assert (applied, found) == (2, {b"a": b"1", b"b": b"2"})
    # The same offset with another record there (a recreated topic): not trusted either.
    marker.write_text(json.dumps(state | {"key": b"zz".hex()}))
    applied, found = asyncio.run(run())
    assert (applied, found) == (2, {b"a": b"1", b"b": b"2"})


def test_rocksdb_crash_leaves_no_marker_and_recovers_from_the_start(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = changelog(broker)
    write(broker, topic, [(0, b"a", b"1")])

    async def crashed() -> None:
        store = StateStore(settings(broker, tmp_path, "rocksdb://"), topic)
        await store.assign({0})
        store.of(0)[b"never-sent"] = b"x"  # written locally, its changelog record lost

    async def restarted() -> dict[bytes, bytes]:
        store = StateStore(settings(broker, tmp_path, "rocksdb://"), topic)
        await store.assign({0})
        found = contents(store)
        await store.close()
        return found

    asyncio.run(crashed())  # no close(): as if the process died
    assert not (tmp_path / "state" / topic / "0.clean").exists()
    assert asyncio.run(restarted()) == {b"a": b"1"}


def test_an_assignment_that_keeps_every_partition_keeps_state_and_figures(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    from faust.types import TP

    from service.app import create_app
    from service.cli import ensure_topics as ensure_worker_topics
    from streams.access import Tokens

    prefix = f"keep-{uuid.uuid4().hex[:6]}."
    worker_settings = replace(
        settings(broker, tmp_path, "memory://"),
        topic_prefix=prefix,
        app_id=prefix + "app",
        topic_partitions=PARTITIONS,
    )
    ensure_worker_topics(worker_settings)
    worker = create_app(worker_settings, Tokens.single("t", ["admin"], "test"))
    assigned = {TP(worker.topics.submitted, p) for p in range(PARTITIONS)}

    async def rebalance(partitions: set[TP]) -> None:
        await worker.app.on_partitions_revoked.send(set())
        await worker.app.on_partitions_assigned.send(partitions)
        await worker.ready.wait()

    async def scenario() -> None:
        await rebalance(assigned)
        recovered = worker.recovering
        assert recovered is not None and worker.derived_for == set(range(PARTITIONS))
        await rebalance(assigned)  # the same partitions: nothing to recover or derive again
        assert worker.recovering is recovered
        await rebalance({TP(worker.topics.submitted, 0)})  # one partition less: recovered
        assert worker.recovering is not recovered and worker.derived_for == {0}
        assert worker.store.open_partitions() == [0]

    asyncio.run(scenario())
