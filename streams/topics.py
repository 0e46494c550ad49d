"""Topic names (contract §1), with the configurable prefix, and where a unit's messages go.

>>> TopicNames("test.").submitted
'test.cchc.dossier-submitted'
>>> UnitPartitions(8).home("xa-cam-lam") == (b"xa-cam-lam", partition_for(b"xa-cam-lam", 8))
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kafka.partitioner.default import murmur2

from schemas.records import EventKind


@dataclass(frozen=True)
class TopicNames:
    prefix: str = ""

    def _name(self, suffix: str) -> str:
        return f"{self.prefix}cchc.{suffix}"

    def for_kind(self, kind: EventKind) -> str:
        return self._name(kind.value)

    @property
    def submitted(self) -> str:
        return self.for_kind(EventKind.SUBMITTED)

    @property
    def alerts(self) -> str:
        return self._name("alerts")

    @property
    def dead_letter(self) -> str:
        return self._name("dead-letter")

    @property
    def rekeyed(self) -> str:
        """Internal: what goes to another partition, with its kind in a header: valid
        events whose key or partition was not their ``unit_id``'s, single sync records on
        their ``MaHoSo``'s partition, and what a unit holds of a sync-record dossier."""
        return self._name("rekeyed")

    @property
    def dvcqg_sync(self) -> str:
        """National dossier-sync messages (contract §9), keyed by ``MaHoSo`` or not at all."""
        return self._name("dvcqg-sync")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The topics producers write to: section 2's events and the sync record."""
        return (*(self.for_kind(kind) for kind in EventKind), self.dvcqg_sync)

    @property
    def co_partitioned(self) -> tuple[str, ...]:
        """Every topic the intake agent reads, partition by partition: a partition's state
        (its units', and its ``MaHoSo``s' sync records) is in that partition's store."""
        return (*self.inputs, self.rekeyed)

    def kind_of(self, topic: str) -> EventKind | None:
        for kind in EventKind:
            if topic == self.for_kind(kind):
                return kind
        return None


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as producers and Faust use it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


MAX_UNKEPT_HOMES = 4096
"""Ids a :class:`UnitPartitions` without ``keeps`` caches: the first asked about."""


class UnitPartitions:
    """Every message about a unit (its events, state and alerts) is keyed by its
    ``unit_id`` and lives on that key's partition: one unit, one partition, one worker.

    A unit's home is cached (Kafka's partitioner costs microseconds, and every event asks)
    only when ``keeps(unit_id)`` says so: in a worker, for units of the registry and units
    that hold state. Any other id, a 404's or an event's that is dead-lettered, is computed
    and forgotten, so lookups of unknown ids cannot grow the cache. Without ``keeps``, the
    first :data:`MAX_UNKEPT_HOMES` ids asked about are cached.

    >>> units = UnitPartitions(8, keeps={"xa-cam-lam"}.__contains__)
    >>> _ = units.home("xa-cam-lam"), units.home("no-such-unit")
    >>> list(units._homes)
    ['xa-cam-lam']
    """

    def __init__(self, partitions: int, keeps: Callable[[str], bool] | None = None) -> None:
        self.partitions = partitions
        self.keeps = keeps if keeps is not None else self._while_few
        """Whether a unit's home is worth keeping; asked only when it is not cached."""
        self._homes: dict[str, tuple[bytes, int]] = {}

    def home(self, unit_id: str) -> tuple[bytes, int]:
        """The Kafka key and partition of a unit."""
        found = self._homes.get(unit_id)
        if found is None:
            key = unit_id.encode()
            found = (key, partition_for(key, self.partitions))
            if self.keeps(unit_id):
                self._homes[unit_id] = found
        return found

    def _while_few(self, unit_id: str) -> bool:
        return len(self._homes) < MAX_UNKEPT_HOMES
