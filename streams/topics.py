"""Topic names (contract §1), with the configurable prefix, and where a unit's messages go.

>>> TopicNames("test.").submitted
'test.cchc.dossier-submitted'
>>> UnitPartitions(8).home("xa-cam-lam") == (b"xa-cam-lam", partition_for(b"xa-cam-lam", 8))
True
"""

from __future__ import annotations

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


class UnitPartitions:
    """Every message about a unit (its events, state and alerts) is keyed by its
    ``unit_id`` and lives on that key's partition: one unit, one partition, one worker."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._homes: dict[str, tuple[bytes, int]] = {}

    def home(self, unit_id: str) -> tuple[bytes, int]:
        """The Kafka key and partition of a unit (cached: a province has few units)."""
        found = self._homes.get(unit_id)
        if found is None:
            key = unit_id.encode()
            found = self._homes[unit_id] = (key, partition_for(key, self.partitions))
        return found
