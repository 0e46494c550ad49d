"""Ingest flood (``make flood``): native events and alerts while one-stop systems flood
``POST /ingest/dvcqg``.

For ``--seconds`` (120) a simulated province publishes section 2 events at ``--rate``
(100/s) on its topics, while ``--clients`` (8) one-stop systems, each with its own ingest
token, post sync bodies of about 1 MB (real-shaped records of another simulated year) back
to back, waiting as long as ``Retry-After`` says when told to. A probe publishes a ranking
of a unit of its own that flips its ``leader_accountability`` alert (``yeu``, then
``kha``, ...) and times how long until that change is on the alerts topic: the native
event-to-alert latency a unit office sees; the next probe goes once the change is seen,
at most one a second. The run is made twice: with the ingest limits as configured, and
with both lifted, per token and per worker (``--limits on`` or ``off`` makes one). It
prints the probes' p50, p99 and worst latency and the bodies taken and refused, and
asserts nothing (bench/README.md keeps the numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import PARTITIONS, Worker, environment, log, wait_for  # noqa: E402
from clients.simulator import Simulator, as_dvcqg, message_key  # noqa: E402
from service.cli import ensure_topics  # noqa: E402
from streams.access import tokens_file_entry  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import Settings  # noqa: E402

PROBE_UNIT = "probe-unit"
BODY_BYTES = 1_000_000
ADMIN = "flood-admin-token"


def tokens(clients: int, directory: Path) -> tuple[Path, list[str]]:
    """A tokens file with the admin's token and one ingest token per client."""
    senders = [f"flood-ingest-{n}" for n in range(clients)]
    entries = tokens_file_entry(ADMIN, "admin", ["admin"]) + "".join(
        tokens_file_entry(token, token, ["ingest:*"]) for token in senders
    )
    path = directory / "tokens.yaml"
    path.write_text("tokens:\n" + entries)
    return path, senders


def bodies(count: int) -> list[bytes]:
    """Sync bodies of about 1 MB, as a one-stop system sends a backlog: snapshot records of
    a simulated year, in the portal's envelope, bare of the monitor's ``synced_at``."""
    events = Simulator(seed=11, scale=0.6).history(date(2025, 1, 1), 365)
    records = (
        record
        for topic, message in as_dvcqg(events)
        if topic == "cchc.dvcqg-sync" and message["service"] == "DongBoHoSoMC"
        for record in message["data"]
    )
    made: list[bytes] = []
    while len(made) < count:
        batch, size = [], 0
        for record in records:
            batch.append(record)
            size += len(orjson.dumps(record))
            if size >= BODY_BYTES * 0.97:
                break
        if not batch:
            break
        made.append(orjson.dumps({"service": "DongBoHoSoMC", "data": batch}))
    return made


async def native(broker: EmbeddedBroker, prefix: str, rate: float, seconds: float) -> int:
    """Section 2 events of the simulated province at ``rate`` a second."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=10)
    await producer.start()
    events = Simulator(seed=3, scale=0.4).history(date(2025, 6, 1), 200)
    started, sent = time.monotonic(), 0
    try:
        for topic, event in itertools.islice(events, int(rate * seconds)):
            key = message_key(topic, event)
            await producer.send(
                prefix + topic, key=None if key is None else key.encode(), value=orjson.dumps(event)
            )
            sent += 1
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0.01:
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def probes(broker: EmbeddedBroker, prefix: str, seconds: float) -> list[float]:
    """Seconds from each probe ranking to its alert change on the alerts topic. A probe is
    sent once the previous one's change was seen (or after a minute), at most one a
    second, so that no two flips are ever evaluated together."""
    consumer = AIOKafkaConsumer(
        prefix + "cchc.alerts", bootstrap_servers=broker.bootstrap, auto_offset_reset="latest"
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    seen: asyncio.Queue[str] = asyncio.Queue()
    latencies: list[float] = []

    async def listen() -> None:
        async for message in consumer:
            alert = orjson.loads(message.value)
            if alert["unit_id"] == PROBE_UNIT and alert["rule"] == "leader_accountability":
                seen.put_nowait(alert["state"])

    listener = asyncio.ensure_future(listen())
    await asyncio.sleep(2)  # the consumer has its partitions
    stop = time.monotonic() + seconds
    try:
        for n in itertools.count():
            if time.monotonic() > stop:
                break
            rank, state = ("yeu", "firing") if n % 2 == 0 else ("kha", "resolved")
            ranking = {
                "event_id": f"probe-{n}",
                "unit_id": PROBE_UNIT,
                "year": 2025,
                "rank": rank,
                "published_at": f"2025-12-{1 + n // 3600:02d}T{n // 60 % 60:02d}:{n % 60:02d}:00Z",
            }
            sent = time.monotonic()
            await producer.send_and_wait(
                prefix + "cchc.unit-ranking", key=PROBE_UNIT.encode(), value=orjson.dumps(ranking)
            )
            try:
                while await asyncio.wait_for(seen.get(), 60) != state:
                    pass
            except TimeoutError:
                log(f"  probe {n}: no alert change within 60 s")
                continue
            latencies.append(time.monotonic() - sent)
            await asyncio.sleep(max(0.0, sent + 1 - time.monotonic()))
    finally:
        listener.cancel()
        await producer.stop()
        await consumer.stop()
    return latencies


async def flood(url: str, senders: list[str], made: list[bytes], seconds: float) -> dict[str, int]:
    """Each sender posts bodies back to back for ``seconds``, waiting when told to."""
    counts = {"taken": 0, "refused_429": 0, "other": 0}
    stop = time.monotonic() + seconds

    async def client(token: str, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for body in itertools.cycle(made):
            if time.monotonic() > stop:
                return
            async with session.post(f"{url}/ingest/dvcqg", data=body, headers=headers) as answer:
                await answer.read()
                if answer.status == 200:
                    counts["taken"] += 1
                elif answer.status == 429:
                    counts["refused_429"] += 1
                    wait = float(answer.headers.get("Retry-After", "1"))
                    await asyncio.sleep(min(wait, max(0.0, stop - time.monotonic())))
                else:
                    counts["other"] += 1

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(token, session) for token in senders))
    return counts


def run_once(label: str, limits: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="cchc-flood-"))
    path, senders = tokens(args.clients, directory)
    prefix = f"flood{label}."
    made = bodies(16)
    with EmbeddedBroker(log_file=directory / "tansu.log") as broker:
        settings = Settings.from_env(
            {"CCHC_KAFKA_BROKER": broker.url, "CCHC_TOPIC_PARTITIONS": str(PARTITIONS)}
        )
        ensure_topics(replace(settings, topic_prefix=prefix, app_id=f"flood{label}"))
        env = environment(broker, prefix, f"flood{label}", CCHC_CLOCK="wall", **limits)
        env["CCHC_TOKENS_FILE"] = str(path)
        worker = Worker(env, "worker", directory, token=ADMIN)
        wait_for(worker.healthy, 120, "worker healthy")
        url = f"http://127.0.0.1:{worker.port}"

        async def together() -> tuple[int, list[float], dict[str, int]]:
            return await asyncio.gather(
                native(broker, prefix, args.rate, args.seconds),
                probes(broker, prefix, args.seconds),
                flood(url, senders, made, args.seconds),
            )

        sent, latencies, counts = asyncio.run(together())
        rss = worker.peak_rss_mib()
        worker.stop()
    latencies.sort()
    result = {
        "limits": label,
        "native_events": sent,
        "probes": len(latencies),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None,
        "max_s": round(latencies[-1], 2) if latencies else None,
        "bodies": counts,
        "body_mb": round(sum(map(len, made)) / len(made) / 1e6, 2),
        "rss_mib": round(rss),
    }
    log("RESULTS " + orjson.dumps(result).decode())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limits", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    if args.limits in ("both", "on"):
        log(f"flood with the ingest limits as configured, {args.clients} clients")
        run_once("on", {}, args)
    if args.limits in ("both", "off"):
        log("flood with the ingest limits lifted")
        lifted = {
            "CCHC_INGEST_BYTES_PER_SECOND": str(1 << 30),
            "CCHC_INGEST_MAX_BACKLOG": "100000000",
        }
        run_once("off", lifted, args)


if __name__ == "__main__":
    main()
