"""What one worker process holds, and how it takes over partitions.

A :class:`Worker` owns some partitions of the co-partitioned input topics, hence some
units (:class:`~streams.topics.UnitPartitions`). It holds their durable state
(:class:`~streams.state.StateStore`), the figures derived from it (:class:`~kpi.engine.Engine`)
and their alert state (:class:`~kpi.alerts.AlertBook`). The agents apply events to it, the
web views and the exporter read from it.

When the group assigns partitions, :meth:`Worker.assigned` recovers the new ones from their
changelog, derives the figures and replays the alert state, then sets :attr:`Worker.ready`;
the intake agent applies nothing before. A new rebalance cancels a recovery in progress.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from kpi.alerts import AlertBook
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock
from kpi.engine import Engine
from kpi.procedures import Catalogue, fields_of, load_procedures
from kpi.quality import SyncQuality
from kpi.report import Counts
from kpi.scorecard import INDICATORS, Indicator, load_scorecard
from kpi.snapshots import SyncBook
from kpi.units import Directory, Unit, load_units
from schemas.codec import InvalidEvent, decode_alert, encode_dead_letter
from streams import instruments
from streams.catchup import CatchUp
from streams.kafka import record_size, refused_for_size
from streams.outbox import Outbox, Record, Source, Writes
from streams.recovery import read_to_end
from streams.settings import Settings
from streams.state import StateStore, changelog_topic
from streams.topics import TopicNames, UnitPartitions

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 1024
"""A dead letter's Kafka key is the original's first KiB (its body carries up to 64 KiB)."""


RECORDS_PER_SYNC_MESSAGE = 1000
"""What an unsplit sync message counts for in :meth:`Worker.sync_backlog`: a body of about
1 MiB holds a thousand records of a real one-stop system."""


class TooLargeToSend(ValueError):
    """A record over ``CCHC_MAX_MESSAGE_BYTES``: the broker would refuse it, every time."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(
            f"its record for {topic} would be {size} bytes, over CCHC_MAX_MESSAGE_BYTES "
            f"({limit}), and was not sent"
        )


def skip_unreadable(record: Any, reason: str) -> None:
    """A record of our own topics that cannot be read back: logged, counted, skipped."""
    instruments.RECORDS_UNREADABLE.labels(topic=record.topic).inc()
    log.warning(
        "skipped unreadable record %s[%d]@%d: %s",
        record.topic,
        record.partition,
        record.offset,
        reason,
    )


@dataclass
class Worker:
    """Everything a worker process holds; built by :func:`service.app.create_app`."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    units: UnitPartitions
    store: StateStore
    engine: Engine
    registry: dict[str, Unit]
    alerts: AlertBook
    sync: SyncBook
    """Where national sync records meet, per ``MaHoSo`` (:mod:`kpi.snapshots`)."""
    catalogue: Catalogue = field(default_factory=lambda: Catalogue({}, []))
    """The procedure catalogue: the names of procedures and fields the report shows."""
    indicators: tuple[Indicator, ...] = INDICATORS
    """The national index's indicators the estimate scores (:mod:`kpi.scorecard`)."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the owned partitions' state is recovered and events may be applied."""
    recovering: asyncio.Task[None] | None = None
    derived_for: set[int] | None = None
    """The partitions whose state the figures and alert state were last derived from."""
    changed_since: dict[str, float] = field(default_factory=dict)
    """Kafka timestamp of the first event per unit since the last alert evaluation."""
    writes: Writes = field(default_factory=Writes)
    outbox: Outbox = field(init=False)
    """Input messages held until what was produced for them is written."""
    quality: SyncQuality = field(default_factory=SyncQuality)
    """Invalid sync records and unmatched names this worker read (contract §9.7)."""
    recent: dict[str, Counts] = field(default_factory=dict)
    """Each owned unit's counts of the last 30 days, as the alert tick last read them
    (every 30 s): the late-receipt and target rules, and the exporter, read them."""
    month: dict[str, Counts] = field(default_factory=dict)
    """Each owned unit's counts of the clock's month, as the alert tick last read them:
    the exporter's estimate of the national index reads them."""
    catch_up: CatchUp = field(default_factory=CatchUp)
    """Whether it still reads history (:mod:`streams.catchup`): screens say so."""
    broker_reachable: bool = True
    """As the last probe found it (``agents.health``)."""
    _unlisted: tuple[int, int] = (-1, 0)
    """(units with figures + units with rankings, of all of them the unlisted) when last
    counted; reset when the figures are rebuilt."""

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.writes, self.resend)

    @classmethod
    def build(cls, settings: Settings, app: faust.App) -> Worker:
        units = UnitPartitions(settings.topic_partitions)
        store = StateStore(settings, changelog_topic(settings.app_id))
        catalogue = load_procedures(settings.procedures_file)
        for reason in catalogue.skipped:
            log.warning("procedure catalogue: row left out, %s", reason)
        indicators = load_scorecard(settings.scorecard_file)
        engine = Engine(
            WorkingCalendar.from_file(settings.calendar_file),
            Clock(settings.clock),
            lambda unit_id: store.of(units.home(unit_id)[1]),
            fields_of(catalogue),
        )
        registry = load_units(settings.units_file)
        worker = cls(
            settings,
            app,
            TopicNames(settings.topic_prefix),
            units,
            store,
            engine,
            registry,
            AlertBook(settings.thresholds),
            SyncBook(
                Directory(registry, settings.province).find,
                settings.sync_waiting_per_partition,
                settings.sync_waiting_days,
                lambda: engine.now,
                settings.placeholder_officials,
                engine.calendar,
            ),
        )
        worker.quality = SyncQuality(listed=registry.__contains__)
        worker.catalogue = catalogue
        worker.indicators = indicators
        # Only units worth keeping are cached: an id looked up for a 404 or a dead letter
        # must not grow the worker's memory.
        units.keeps = lambda unit_id: unit_id in worker.registry or worker.engine.tracks(unit_id)
        return worker

    @property
    def consuming(self) -> bool:
        return self.ready.is_set()

    def health(self) -> str:
        """``ok``, or what keeps this worker from serving current figures."""
        if not self.broker_reachable or self.writes.failing:
            return "broker unreachable"
        if not self.consuming or self.app.rebalancing:
            return "starting"
        return "ok"

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        headers: list[tuple[str, bytes]] | None = None,
        source: Source | None = None,
    ) -> Record:
        """Send one record; the returned :class:`Record` knows how to wait until written.
        :class:`TooLargeToSend` when the broker would refuse it for its size."""
        size = record_size(key, value, headers)
        if size > self.settings.max_message_bytes:
            instruments.RECORDS_TOO_LARGE.labels(topic=topic).inc()
            raise TooLargeToSend(topic, size, self.settings.max_message_bytes)
        sent = await self.app.producer.send(topic, key, value, partition, None, headers)
        if topic == self.store.changelog:
            assert partition is not None and key is not None
            self.store.sent(partition, key, sent)
        return Record(topic, key, value, partition, headers, sent, source)

    async def dead_letter(
        self, source: Source, key: bytes | None, value: bytes | None, reason: str
    ) -> Record:
        """Send a dead letter for ``value`` (cut to 64 KiB, with its size and SHA-256), read
        at ``source``; it always fits: everything in it is cut."""
        letter = encode_dead_letter(reason, *source, key, value, time.time_ns() // 1000)
        cut = None if key is None else key[:MAX_KEY_BYTES]
        return await self.send(self.topics.dead_letter, cut, letter, None, source=source)

    async def resend(self, record: Record, error: BaseException) -> Awaitable[Any] | None:
        """Send a record again; a changelog record with its key's current state, since a
        newer one may have been written after it (None: no longer this worker's). A record
        the broker refused for its size would be refused again: its dead letter goes
        instead (its broker's ``message.max.bytes`` is below CCHC_MAX_MESSAGE_BYTES)."""
        if refused_for_size(error):
            instruments.RECORDS_TOO_LARGE.labels(topic=record.topic).inc()
            size = record_size(record.key, record.value, record.headers)
            reason = f"the broker refused a record of {size} bytes for {record.topic}: {error}"
            log.error("%s; is CCHC_MAX_MESSAGE_BYTES above its message.max.bytes?", reason)
            if record.topic == self.topics.dead_letter:
                return None  # its letter would be the same size; the log keeps the trace
            source = record.source or Source(record.topic, record.partition or 0, 0)
            letter = await self.dead_letter(source, record.key, record.value, reason)
            return letter.sent
        value = record.value
        if record.topic == self.store.changelog:
            assert record.partition is not None and record.key is not None
            if not self.store.owns(record.partition):
                return None
            value = self.store.of(record.partition).get(record.key)
        sent = await self.send(
            record.topic, record.key, value, record.partition, record.headers, record.source
        )
        return sent.sent

    def lag(self, topics: Iterable[str]) -> Iterator[tuple[TP, int]]:
        """Messages of ``topics`` not yet read, per assigned partition: the fetch high
        watermark less the offset the agent last took (its queue counts as not read)."""
        app, wanted = self.app, set(topics)
        read = app.monitor.tp_read_offsets or {}
        for tp in sorted(app.consumer.assignment()):
            highwater = app.consumer.highwater(tp) if tp.topic in wanted else None
            if highwater is not None:
                last = read.get(tp)
                yield tp, max(0, highwater if last is None else highwater - last - 1)

    def behind(self) -> int | None:
        """Messages of the input topics not yet read (0 without any of their partitions);
        None while the consumer knows the end of none of those it was given."""
        topics = set(self.topics.co_partitioned)
        if not any(tp.topic in topics for tp in self.app.consumer.assignment()):
            return 0
        found = list(self.lag(topics))
        return sum(count for _, count in found) if found else None

    def sync_backlog(self) -> int:
        """Sync records this worker has yet to take in, about: split records waiting on the
        re-keyed topic, and each unsplit sync message as :data:`RECORDS_PER_SYNC_MESSAGE`."""
        topics = self.topics
        behind = 0
        for tp, count in self.lag((topics.rekeyed, topics.dvcqg_sync)):
            behind += count * (RECORDS_PER_SYNC_MESSAGE if tp.topic == topics.dvcqg_sync else 1)
        return behind

    def owns(self, unit_id: str) -> bool:
        return self.store.owns(self.units.home(unit_id)[1])

    def admits(self, unit_id: str) -> bool:
        """Whether the worker may track this unit: it is in the registry or already
        tracked, or fewer than ``CCHC_MAX_UNLISTED_UNITS`` unlisted units are."""
        engine = self.engine
        if unit_id in self.registry or engine.tracks(unit_id):
            return True
        # Counted again only when a unit was added (a flood of junk ids at the cap adds
        # none, so each of its events costs two lengths, not a pass over every unit).
        seen = len(engine.units) + len(engine.rankings)
        if self._unlisted[0] != seen:
            unlisted = sum(1 for u in engine.tracked_units() if u not in self.registry)
            self._unlisted = (seen, unlisted)
        return self._unlisted[1] < self.settings.max_unlisted_units

    def owned_units(self) -> list[str]:
        """The units this worker answers for: those with figures or in the registry whose
        partition it owns, sorted."""
        return sorted(u for u in {*self.engine.units, *self.registry} if self.owns(u))

    # -- rebalances ------------------------------------------------------------------

    async def revoked(self, revoked: Iterable[TP]) -> None:
        self.ready.clear()
        gone = set(revoked)
        self.outbox.forget(lambda message: message.tp not in gone)
        await self._stop_recovery()

    async def assigned(self, assigned: Iterable[TP]) -> None:
        """Take over exactly the ``assigned`` partitions; the recovery runs beside the
        rebalance. The input topics are co-partitioned: the submitted one stands for all."""
        partitions = {tp.partition for tp in assigned if tp.topic == self.topics.submitted}
        self.ready.clear()
        await self._stop_recovery()
        if partitions == self.derived_for:
            # Kept every partition: store, figures and alert state are still this worker's.
            log.info("partitions %s kept: state and figures kept", sorted(partitions))
            self.ready.set()
            return
        self.derived_for = None
        self.recovering = asyncio.ensure_future(self._recover(partitions))

    async def stop(self) -> None:
        """Before shutdown: no recovery left running, everything sent, stores closed."""
        await self._stop_recovery()
        await self.app.producer.flush()
        await self.store.close()

    async def _stop_recovery(self) -> None:
        if self.recovering is not None and not self.recovering.done():
            self.recovering.cancel()
            await asyncio.wait([self.recovering])

    async def _recover(self, partitions: set[int]) -> None:
        """Recover the state of the assigned partitions, derive the figures, replay alerts."""
        started = time.monotonic()
        try:
            applied = await self.store.assign(partitions)
            rebuilt = self.engine.rebuild(self.store.items())
            for partition in self.sync.waiting.keys() - partitions:
                self.sync.forget(partition)
            for partition in partitions:
                skipped = self.sync.rebuild(partition, self.store.of(partition).items())
                for key in skipped:
                    self._skip_state(key)
            self._unlisted = (-1, 0)
            for key in rebuilt.skipped:
                self._skip_state(key)
            await self._restore_alerts()
        except Exception as error:  # a worker without its state must stop, not serve
            log.exception("recovering the state of partitions %s failed", sorted(partitions))
            await self.app.crash(error)
            return
        self.derived_for = partitions
        elapsed = time.monotonic() - started
        instruments.STATE_RECOVERED.inc(applied)
        instruments.STATE_RECOVERY.set(elapsed)
        log.info(
            "partitions %s: %d changelog records applied, figures rebuilt from %d states in %.1fs",
            sorted(partitions),
            applied,
            rebuilt.states,
            elapsed,
        )
        self.ready.set()

    def _skip_state(self, key: bytes) -> None:
        instruments.RECORDS_UNREADABLE.labels(topic=self.store.changelog).inc()
        log.warning("skipped unreadable state %r of %s", key[:200], self.store.changelog)

    async def _restore_alerts(self) -> None:
        """The last published state of each alert of the owned units, from the alerts topic."""
        self.alerts.alerts.clear()
        starts = dict.fromkeys(self.store.open_partitions(), 0)
        async for records in read_to_end(self.settings, self.topics.alerts, starts):
            for record in records:
                try:
                    alert = decode_alert(record.value)
                except InvalidEvent as error:
                    skip_unreadable(record, error.reason)
                    continue
                if self.owns(alert["unit_id"]):
                    self.alerts.restore(alert)
