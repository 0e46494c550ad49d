"""Topic names (contract §1), with the configurable prefix.

>>> TopicNames("test.").submitted
'test.cchc.dossier-submitted'
"""

from __future__ import annotations

from dataclasses import dataclass

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
        """Internal: valid events whose key or partition was not their ``unit_id``'s."""
        return self._name("rekeyed")

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.for_kind(kind) for kind in EventKind)

    @property
    def co_partitioned(self) -> tuple[str, ...]:
        """Every topic keyed by unit_id that the intake agent reads, partition by partition."""
        return (*self.inputs, self.rekeyed)

    def kind_of(self, topic: str) -> EventKind | None:
        for kind in EventKind:
            if topic == self.for_kind(kind):
                return kind
        return None
