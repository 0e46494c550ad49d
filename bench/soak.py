"""Soak (``make soak``): the pipeline under a steady load with hostile input and faults.

For ``--minutes`` (10) at ``--rate`` events/s (500), a simulated province is published to
the embedded broker with hostile messages mixed in (about one in fifty: not JSON, naive or
impossible timestamps, integer-valued floats, 760 KB payloads, forged re-keying headers,
junk on the alerts topic, more units outside the registry than one worker may track,
and sync messages that once stopped the worker: a 300,000-character date, a 400 KB record
that grows to 1.5 MB when split, progress for dossiers that never come, never-received
dossiers of junk units).
A third of the way in, the worker is killed with SIGKILL and started again at once on its
own directory; two thirds in, the broker is frozen (SIGSTOP) for longer than the worker's
request timeout, then resumed. At the end it prints lost, duplicated and wrongly-counted
dossiers against the independent recount (all must be 0), repeated alert state changes
on the topic and as a subscriber gets them (each (alert, sequence) once),
dead letters by reason, the p99 event-to-alert latency, the restart time and the peak RSS.
It asserts nothing: it prints numbers (bench/README.md keeps them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    CLOCK,
    KINDS,
    PARTITIONS,
    Worker,
    environment,
    log,
    wait_for,
)
from clients.simulator import Simulator  # noqa: E402
from kpi.alerts import SeenAlerts, sequence_of  # noqa: E402
from kpi.periods import parse_period  # noqa: E402
from schemas.codec import InvalidEvent, decode, decode_alert, parse_instant  # noqa: E402
from service.cli import ensure_topics  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import Settings  # noqa: E402
from tests.recount import recount  # noqa: E402

PREFIX = "soak."
REQUEST_TIMEOUT = 5
FREEZE_SECONDS = 3 * REQUEST_TIMEOUT
MAX_UNLISTED = 50

VALID_SURVEY = {
    "event_id": "x",
    "unit_id": "xa-cam-lam",
    "surveyed_at": "2025-06-01T08:00:00+07:00",
    "rating": "satisfied",
}


LONG = "2" * 300_000


def sync_record(n: int, **fields: str) -> dict[str, Any]:
    """A snapshot as OpenCPS writes one, of a dossier no event names."""
    return {
        "MaHoSo": f"soak-sync-{n}",
        "DonViXuLy": "000.18.30.H34",
        "TrangThaiHoSo": "2",
        "NgayTiepNhan": "20250602080000",
        "NgayHenTra": "20250605170000",
        "NgayKetThucXuLy": "",
    } | fields


def sync_message(record: dict[str, Any] | bytes, service: str = "DongBoHoSoMC") -> bytes:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    head = orjson.dumps({"service": service, "synced_at": "2025-06-02T09:00:00+07:00"})
    return head[:-1] + b',"data":[' + raw + b"]}"


def hostile(n: int) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]:
    """The n-th hostile message: (topic, key, value, headers)."""
    kinds = [
        ("cchc.dossier-submitted", b"{not json"),
        ("cchc.dossier-completed", orjson.dumps({"event_id": f"h{n}", "unit_id": "u"})),
        (
            "cchc.satisfaction-survey",
            orjson.dumps(
                VALID_SURVEY | {"event_id": f"h{n}", "surveyed_at": "0001-01-01T00:00:00Z"}
            ),
        ),
        (
            "cchc.satisfaction-survey",
            orjson.dumps(
                VALID_SURVEY | {"event_id": f"h{n}", "surveyed_at": "2025-06-01T08:00:00"}
            ),
        ),
        (
            "cchc.unit-ranking",
            orjson.dumps(
                {
                    "event_id": f"h{n}",
                    "unit_id": "u",
                    "year": 2025.5,
                    "rank": "tot",
                    "published_at": "2025-01-01T00:00:00Z",
                }
            ),
        ),
        ("cchc.alerts", b"junk on our own topic"),
        ("cchc.rekeyed", orjson.dumps(VALID_SURVEY | {"event_id": f"h{n}"})),
        # Progress for dossiers that never come, and dossiers never received, of junk
        # units: waiting and bounded, and no unit at all.
        (
            "cchc.dvcqg-sync",
            sync_message(
                {
                    "MaHoSo": f"lost-{n}",
                    "NguoiXuLy": "Nguyễn Văn A",
                    "ThoiDiemXuLy": "20250601080000",
                },
                service="CapNhatTienDoHoSoMC",
            ),
        ),
        (
            "cchc.dvcqg-sync",
            sync_message({"MaHoSo": f"nr-{n}", "TrangThaiHoSo": "1", "DonViXuLy": f"rác {n}"}),
        ),
        # Valid events of ever new units outside the registry: the cap dead-letters most.
        (
            "cchc.satisfaction-survey",
            orjson.dumps(VALID_SURVEY | {"event_id": f"h{n}", "unit_id": f"junk-{n}"}),
        ),
    ]
    if n % 500 == 0:
        return "cchc.dossier-submitted", b"u", b'{"x": "' + b"a" * 760_000 + b'"}', None
    if n % 500 == 100:  # a 300,000-character date once crash-looped the worker
        return "cchc.dvcqg-sync", None, sync_message(sync_record(n, NgayTiepNhan=LONG)), None
    if n % 500 == 300:  # 400 KB that the split writes again as 1.5 MB: the same
        grows = orjson.dumps(sync_record(n))[:-1] + b',"Extra":['
        grows += b",".join([b"1e15"] * 80_000) + b"]}"
        return "cchc.dvcqg-sync", None, sync_message(grows), None
    topic, value = kinds[n % len(kinds)]
    headers = [("cchc-kind", b"forged")] if topic == "cchc.rekeyed" else None
    return topic, b"u", value, headers


async def publish(
    broker: EmbeddedBroker, events: list[tuple[str, dict[str, Any]]], rate: float
) -> dict[str, int]:
    """Publish ``events`` at ``rate`` per second with hostile messages mixed in."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=10, max_request_size=2 << 20
    )
    await producer.start()
    sent: Counter[str] = Counter()
    hostile_numbers = itertools.count(1)
    started = time.monotonic()
    try:
        for index, (topic, event) in enumerate(events):
            await producer.send(
                PREFIX + topic, key=event["unit_id"].encode(), value=orjson.dumps(event)
            )
            sent["valid"] += 1
            if index % 50 == 49:
                bad_topic, key, value, headers = hostile(next(hostile_numbers))
                await producer.send(PREFIX + bad_topic, key=key, value=value, headers=headers)
                sent["hostile"] += 1
            ahead = (index + 1) / rate - (time.monotonic() - started)
            if ahead > 0.01:
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return dict(sent)


async def read_all(broker: EmbeddedBroker, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    records: list[Any] = []
    while True:
        batches = await consumer.getmany(timeout_ms=3000)
        if not batches:
            break
        for batch in batches.values():
            records.extend(batch)
    await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def tally(worker: Worker, records: list[Any]) -> tuple[int, int, int]:
    """(lost, duplicated, wrongly counted) dossiers over the registry's units, per period,
    against the recount."""
    clock = parse_instant(CLOCK, "clock")
    lost = duplicated = wrong = 0
    for text in ("2025", "2025-12", "2026"):
        rows, _ = recount(records, parse_period(text, clock), clock)
        api = {u["unit_id"]: u for u in worker.get(f"/api/units?period={text}")["units"]}
        for (unit, official), row in rows.items():
            if official is not None:
                continue
            got = api.get(unit, {})
            have = got.get("resolved", 0) + got.get("open_overdue", 0)
            want = row.resolved + row.open_overdue
            lost += max(0, want - have)
            duplicated += max(0, have - want)
            if have == want and (got.get("resolved_late"), got.get("surveys")) != (
                row.resolved_late,
                row.surveys,
            ):
                wrong += 1
    return lost, duplicated, wrong


def p99_seconds(metrics: str, name: str) -> float | None:
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics, re.M)
    ]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(le for le, count in buckets if count >= 0.99 * total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    total = int(args.minutes * 60 * args.rate)
    simulated = Simulator(seed=7, scale=0.4).history(date(2025, 1, 1), 365)
    events = list(itertools.islice(simulated, total))
    log(f"soak: {len(events):,} events at {args.rate:.0f}/s for {args.minutes:g} min")
    data_dir = Path(tempfile.mkdtemp(prefix="cchc-soak-"))
    with EmbeddedBroker(log_file=data_dir / "tansu.log") as broker:
        settings = Settings.from_env(
            {"CCHC_KAFKA_BROKER": broker.url, "CCHC_TOPIC_PARTITIONS": str(PARTITIONS)}
        )
        ensure_topics(replace(settings, topic_prefix=PREFIX, app_id="soak"))
        env = environment(
            broker,
            PREFIX,
            "soak",
            CCHC_STORE="rocksdb://",
            CCHC_PRODUCER_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
            CCHC_MAX_UNLISTED_UNITS=str(MAX_UNLISTED),
        )
        worker = Worker(env, "worker", data_dir)
        wait_for(worker.healthy, 120, "worker healthy")
        peak = 0.0

        async def faults() -> dict[str, float]:
            nonlocal worker, peak
            found: dict[str, float] = {}
            await asyncio.sleep(args.minutes * 60 / 3)
            peak = max(peak, worker.peak_rss_mib())
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            started = time.monotonic()
            worker = Worker(env, "worker", data_dir)  # the same directory: its own state
            await asyncio.to_thread(wait_for, worker.healthy, 300, "restarted worker healthy")
            found["restart_s"] = time.monotonic() - started
            log(f"  killed (SIGKILL) and restarted: serving again after {found['restart_s']:.1f} s")
            await asyncio.sleep(args.minutes * 60 / 3)
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGSTOP)
            await asyncio.sleep(FREEZE_SECONDS)
            status = await asyncio.to_thread(worker.health)
            os.kill(broker.pid, signal.SIGCONT)
            log(f"  broker frozen {FREEZE_SECONDS} s; the worker's /healthz said {status}")
            return found

        async def run() -> tuple[dict[str, int], dict[str, float]]:
            sent, found = await asyncio.gather(publish(broker, events, args.rate), faults())
            return sent, found

        sent, found = asyncio.run(run())
        records = [decode(KINDS[topic], orjson.dumps(event)) for topic, event in events]
        wait_for(lambda: worker.processed() > 0 and worker.healthy(), 300, "caught up")
        deadline = time.monotonic() + 600
        lost, duplicated, wrong = tally(worker, records)
        while (lost or duplicated or wrong) and time.monotonic() < deadline:
            time.sleep(5)  # still catching up after the faults
            lost, duplicated, wrong = tally(worker, records)
        metrics = worker.get("/metrics")
        peak = max(peak, worker.peak_rss_mib())
        letters = asyncio.run(read_all(broker, PREFIX + "cchc.dead-letter"))
        alerts = asyncio.run(read_all(broker, PREFIX + "cchc.alerts"))
        worker.stop()

    reasons = Counter(
        re.sub(r"'[^']*'|\d+", "…", orjson.loads(r.value)["reason"])[:70] for r in letters
    )
    states: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in alerts:
        try:
            alert = orjson.loads(record.value)
            states[alert["alert_id"]].append((alert["state"], alert["evaluated_at"]))
        except (ValueError, TypeError, KeyError):
            continue  # the junk the soak itself wrote there
    pairs = [(a, b) for s in states.values() for a, b in itertools.pairwise(s) if a[0] == b[0]]
    # What a subscriber (SSE, webhook, tail) delivers: each (alert, sequence) once.
    seen, delivered = SeenAlerts(), Counter[tuple[str, int]]()
    for record in alerts:
        try:
            alert = decode_alert(record.value)
        except InvalidEvent:
            continue
        if seen.first(record.partition, record.offset, alert):
            delivered[(alert["alert_id"], sequence_of(alert))] += 1
    delivered_twice = sum(1 for count in delivered.values() if count > 1)
    # The same message written twice (a write that timed out had reached the broker) is
    # at-least-once delivery; the same state evaluated twice would be a logic error.
    rewritten = sum(1 for a, b in pairs if a == b)
    repeats = len(pairs) - rewritten
    log(f"published: {sent}")
    log(f"lost dossiers: {lost}; duplicated: {duplicated}; wrongly counted rows: {wrong}")
    log(
        f"alert state changes: {sum(len(s) for s in states.values())}; the same state evaluated "
        f"twice: {repeats}; the same message written twice: {rewritten}"
    )
    log(
        f"alert changes a subscriber gets: {sum(delivered.values())}; "
        f"(alert, sequence) delivered twice: {delivered_twice}"
    )
    log(f"dead letters: {len(letters):,}")
    for reason, count in reasons.most_common():
        log(f"  {count:6,}  {reason}")
    log(
        f"p99 event-to-alert latency (since the restart): "
        f"{p99_seconds(metrics, 'cchc_event_to_alert_seconds')} s"
    )
    log(f"peak RSS of a worker: {peak:,.0f} MiB; restart after SIGKILL: {found['restart_s']:.1f} s")
    log(
        "RESULTS "
        + orjson.dumps(
            {
                "lost": lost,
                "duplicated": duplicated,
                "wrong": wrong,
                "repeats": repeats,
                "rewritten": rewritten,
                "delivered_twice": delivered_twice,
                "dead_letters": len(letters),
                "rss_mib": peak,
                **found,
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
