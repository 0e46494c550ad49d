"""Durable state of the owned partitions: one store per partition, and its changelog topic.

The KPI engine keeps each dossier's winning events in the store of its unit's partition
(:mod:`kpi.engine`), and the worker sends every change to the changelog topic on that
same partition. When partitions are assigned, each new one is recovered by reading its
changelog partition to the end, as fetch responses report it; with the rocksdb store a
worker that stopped cleanly reads only what was written after it stopped.

Why this and not a Faust table (``docs/decisions.md``): Faust's table recovery applied
about 9,000 records/s here and a plain consumer ~30 times that; Faust ends recovery at the
end offset ListOffsets reported, which the embedded Tansu reports too low; and Faust's
rocksdb store picks the partition of every read and write from the current event, which
is wrong inside a batch of events of several partitions.

    >>> from streams.settings import Settings
    >>> store = StateStore(Settings.from_env({}), "app-dossier-state-changelog")
    >>> store.open_partitions()
    []
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Awaitable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, cast

from streams.recovery import read_to_end
from streams.settings import Settings

log = logging.getLogger(__name__)


def changelog_topic(app_id: str) -> str:
    """The changelog's name: the one a Faust table of this name had, so state carries over.

    >>> changelog_topic("cchc-monitor")
    'cchc-monitor-dossier-state-changelog'
    """
    return f"{app_id}-dossier-state-changelog"


class _Partition:
    """The store of one partition and what is known of its changelog."""

    def __init__(self, data: MutableMapping[bytes, bytes], db: Any = None) -> None:
        self.data = data
        self.db = db
        self.last: tuple[bytes, int] | None = None
        """(key, offset) of the last changelog record applied or known written."""
        self.pending: tuple[bytes, Awaitable[Any]] | None = None
        """(key, future metadata) of the last changelog record sent, not yet known written."""


class StateStore:
    """Per-partition mappings of state key → state, recovered from the changelog."""

    def __init__(self, settings: Settings, changelog: str) -> None:
        self.settings = settings
        self.changelog = changelog
        self.persistent = settings.store.startswith("rocksdb")
        self.directory = settings.data_dir / "state" / changelog
        self._partitions: dict[int, _Partition] = {}

    def of(self, partition: int) -> MutableMapping[bytes, bytes]:
        return self._partitions[partition].data

    def owns(self, partition: int) -> bool:
        return partition in self._partitions

    def open_partitions(self) -> list[int]:
        return sorted(self._partitions)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, state) of every open partition."""
        for partition in self._partitions.values():
            yield from partition.data.items()

    def sent(self, partition: int, key: bytes, metadata: Awaitable[Any]) -> None:
        """Note a changelog record sent for ``partition`` (its metadata resolves once written)."""
        self._partitions[partition].pending = (key, metadata)

    async def assign(self, partitions: set[int]) -> int:
        """Close the partitions not in ``partitions``, recover the new ones; return how many
        changelog records were applied."""
        for number in set(self._partitions) - partitions:
            await self._close(number)
        new = partitions - set(self._partitions)
        try:
            return await self._recover(new)
        except BaseException:  # cancelled by a new rebalance, or failed: not recovered
            for number in new & set(self._partitions):
                self._discard(number)
            raise

    async def _recover(self, new: set[int]) -> int:
        starts: dict[int, int] = {}
        expected: dict[int, tuple[bytes, int]] = {}
        for number in new:
            clean = self._open(number)
            if clean is None:
                starts[number] = 0
            else:
                # Read again the last record this store saw: if the changelog no longer has
                # it (a new broker, a recreated topic), the store is not of this changelog.
                expected[number] = clean
                starts[number] = clean[1]
        applied = 0
        stale: set[int] = set()
        async for records in read_to_end(self.settings, self.changelog, starts):
            for record in records:
                number = record.partition
                if number in stale:
                    continue
                partition = self._partitions[number]
                check = expected.pop(number, None)
                if check is not None and not self._confirms(partition, check, record):
                    stale.add(number)
                    continue
                if record.value is None:
                    partition.data.pop(record.key, None)
                else:
                    partition.data[record.key] = record.value
                partition.last = (record.key, record.offset)
                applied += 1
        stale.update(expected)  # partitions whose expected record never came
        if stale:
            log.warning(
                "state of partitions %s does not match changelog %s: recovering it from the start",
                sorted(stale),
                self.changelog,
            )
            for number in stale:
                self._discard(number)
            applied += await self._recover(stale)
        return applied

    @staticmethod
    def _confirms(partition: _Partition, expected: tuple[bytes, int], record: Any) -> bool:
        key, offset = expected
        return (
            record.offset == offset
            and record.key == key
            and partition.data.get(key) == record.value
        )

    async def close(self) -> None:
        """Close every partition (after the producer is flushed: rocksdb marks them clean)."""
        for number in list(self._partitions):
            await self._close(number)

    # -- one partition --------------------------------------------------------------

    def _path(self, number: int) -> Path:
        return self.directory / str(number)

    def _marker(self, number: int) -> Path:
        return self.directory / f"{number}.clean"

    def _open(self, number: int) -> tuple[bytes, int] | None:
        """Open a partition's store; return the (key, offset) of its last changelog record
        if it was closed cleanly (rocksdb), else None (empty: recover from the start)."""
        if not self.persistent:
            self._partitions[number] = _Partition({})
            return None
        from rocksdict import Options, Rdict, WriteOptions  # the optional "rocksdb" extra

        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self._marker(number)
        clean = None
        if marker.exists():
            found = json.loads(marker.read_text())
            clean = (bytes.fromhex(found["key"]), int(found["offset"]))
            marker.unlink()  # until closed cleanly again, a crash leaves it unknown
        else:
            shutil.rmtree(self._path(number), ignore_errors=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        db = Rdict(str(self._path(number)), options)
        # The changelog is the log that makes writes durable; rocksdb's own is not needed.
        write_options = WriteOptions()
        # rocksdict's stubs declare a method where the extension has a property.
        write_options.disable_wal = True  # type: ignore[method-assign, assignment]
        db.set_write_options(write_options)
        self._partitions[number] = _Partition(cast(MutableMapping[bytes, bytes], db), db)
        return clean

    async def _close(self, number: int) -> None:
        partition = self._partitions.pop(number)
        if partition.db is None:
            return
        last = partition.last
        if partition.pending is not None:
            key, metadata = partition.pending
            try:
                last = (key, (await metadata).offset)
            except Exception:  # unknown whether it was written: the store is not clean
                last = None
                log.warning("changelog write of partition %d failed; state not kept", number)
        partition.db.flush()
        partition.db.close()
        if last is not None:
            self._marker(number).write_text(json.dumps({"key": last[0].hex(), "offset": last[1]}))

    def _discard(self, number: int) -> None:
        partition = self._partitions.pop(number)
        if partition.db is not None:
            partition.db.close()
        shutil.rmtree(self._path(number), ignore_errors=True)
        self._marker(number).unlink(missing_ok=True)
