"""Throughput, memory and recovery benchmark (``make bench``). Prints numbers; asserts none.

On one embedded broker, with the same simulated year of a province in the input topics:

(a) aiokafka alone, consuming and parsing every message (context: the client's ceiling);
(b) a no-op Faust agent with the worker's Faust settings (the ceiling of a Faust design);
(c) the full pipeline (``cchc worker``) until every event is applied: on one worker with
    the default memory store and with rocksdb (peak RSS; the final figures against the
    recount; the time a fresh worker with empty local state needs to recover them from the
    changelog), and on two workers;
(e) form 06 from (c)'s state, over HTTP as a screen asks: the province's report for the
    year by unit, the busiest unit's by field, and a page of the dossiers behind its
    column 1 (the best of three, in seconds);
(d) the same year as national sync records sent as real one-stop systems send them
    (``senders.as_sent``, the OpenCPS envelope: a dossier per call, a snapshot per status
    change, waits as statuses, progress records with the desk's placeholders) on one
    worker, memory store: calls/s and records/s beside (c)'s events/s, peak RSS per
    dossier beside (c)'s, and its final figures against the recount of the events.

``--quick`` runs (b), (c) on one worker with the memory store, (e) and (d): the A/B of the
two input paths in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.senders import as_sent  # noqa: E402
from clients.simulator import Simulator, message_key  # noqa: E402
from schemas.codec import decode, parse_instant  # noqa: E402
from schemas.records import EventKind  # noqa: E402
from service.cli import ensure_topics  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.settings import Settings  # noqa: E402
from tests.recount import recount  # noqa: E402

PARTITIONS = 8
PROGRESS_POLL_SECONDS = 2.0
CLOCK = "2026-01-15T12:00:00+07:00"
KINDS = {f"cchc.{kind.value}": kind for kind in EventKind}


def log(message: str) -> None:
    print(message, flush=True)


TOKEN = "bench-admin-token"
"""The benchmark's own admin token (its workers accept nothing else)."""


def tokens_file() -> Path:
    from streams.access import tokens_file_entry

    path = Path(tempfile.gettempdir()) / "cchc-bench-tokens.yaml"
    path.write_text("tokens:\n" + tokens_file_entry(TOKEN, "bench", ["admin"]))
    return path


def environment(broker: EmbeddedBroker, prefix: str, app_id: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCHC_")}
    return (
        env
        | {
            "CCHC_KAFKA_BROKER": broker.url,
            "CCHC_TOPIC_PREFIX": prefix,
            "CCHC_APP_ID": app_id,
            "CCHC_TOPIC_PARTITIONS": str(PARTITIONS),
            "CCHC_SESSION_TIMEOUT": "6",
            "CCHC_CLOCK": f"fixed:{CLOCK}",
            "CCHC_LOG_LEVEL": "warn",
            "CCHC_TOKENS_FILE": str(tokens_file()),
        }
        | extra
    )


async def fill(
    broker: EmbeddedBroker, prefix: str, events: list[tuple[str, bytes | None, bytes]]
) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    started = time.monotonic()
    pending = []
    for topic, key, value in events:
        pending.append(await producer.send(prefix + topic, key=key, value=value))
        if len(pending) >= 50_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await producer.stop()
    return len(events) / (time.monotonic() - started)


async def raw_consume(broker: EmbeddedBroker, prefix: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    await consumer.start()
    partitions = [TopicPartition(prefix + topic, p) for topic in KINDS for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    count, started = 0, time.monotonic()
    while count < expected:
        for batch in (await consumer.getmany(timeout_ms=1000)).values():
            for message in batch:
                orjson.loads(message.value)
                count += 1
    elapsed = time.monotonic() - started
    await consumer.stop()
    return count / elapsed


def noop_faust(
    broker: EmbeddedBroker, prefix: str, expected: int, data_dir: Path, mode: str = "per-event"
) -> float:
    env = environment(
        broker, prefix, f"bench-noop-{mode}-{os.getpid()}", CCHC_DATA_DIR=str(data_dir / "noop")
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "noop.py"), str(expected), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        if "RESULT" in line:
            return float(line.split("RESULT")[1].split()[0])
    raise RuntimeError(f"no-op agent failed:\n{result.stderr[-3000:]}")


class Worker:
    def __init__(
        self, env: dict[str, str], name: str, data_dir: Path, cwd: Path = ROOT, token: str = TOKEN
    ) -> None:
        self.token = token
        self.port = free_port()
        self.env = env | {"CCHC_WEB_PORT": str(self.port), "CCHC_DATA_DIR": str(data_dir / name)}
        self.log_path = data_dir / f"{name}.log"
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker"],
                env=self.env,
                stdout=out,
                stderr=out,
                cwd=cwd,
            )

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return orjson.loads(body) if path != "/metrics" else body.decode()

    def health(self) -> str:
        """What /healthz says, whatever its status."""
        try:
            return str(self.get("/healthz")["status"])
        except urllib.error.HTTPError as error:
            return str(orjson.loads(error.read())["status"])
        except OSError as error:
            return f"no answer ({error})"

    def healthy(self) -> bool:
        return self.health() == "ok"

    def processed(self, topic: str = "") -> int:
        """Events applied (from ``topic`` alone, if given)."""
        return self._sum("cchc_events_processed_total{" + (f'topic="{topic}"' if topic else ""))

    def rekeyed(self, topic: str) -> int:
        """Messages of ``topic`` forwarded to another partition."""
        return self._sum(f'cchc_events_rekeyed_total{{topic="{topic}"}}')

    def recovered(self) -> int:
        return self._sum("cchc_state_recovered_records_total")

    def _sum(self, series: str) -> int:
        try:
            text = self.get("/metrics")
        except OSError:
            return 0
        return int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(series)
            )
        )

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def pipeline(workers: list[Worker], expected: int) -> tuple[float, float]:
    """Events/s from the moment every worker has applied events to the last event, and the
    wall time that took (the group's forming and first rebalance are not counted)."""
    started = None
    while True:
        counts = [w.processed() for w in workers]
        done = sum(counts)
        if started is None and all(counts):
            started, first = time.monotonic(), done
        if done >= expected:
            break
        if any(w.process.poll() is not None for w in workers):
            raise RuntimeError("a worker died; see " + ", ".join(str(w.log_path) for w in workers))
        # /metrics computes every unit's figures (~50 ms): polling it often would slow the
        # worker being measured. Every 2 s costs it ~2.5 % of a core, for <1 % timing error.
        time.sleep(PROGRESS_POLL_SECONDS)
    assert started is not None
    elapsed = time.monotonic() - started
    return (done - first) / elapsed, elapsed


def sync_pipeline(
    worker: Worker, broker: EmbeddedBroker, prefix: str, calls: int, passed: int
) -> tuple[float, float]:
    """Input messages/s (sync calls plus the events that stay events) until every call
    and every fact it gave a unit is applied, and the wall time that took.

    A call keyed by its ``MaHoSo`` is applied where it lands; one that is not goes through
    the re-keyed topic, as may facts for a unit another worker owns: the run is over once
    every call was read from the sync topic and the re-keyed topic is applied to its end,
    and stays there."""
    sync, rekeyed = f"{prefix}cchc.dvcqg-sync", f"{prefix}cchc.rekeyed"
    started = None
    while True:
        read = worker.processed(sync) + worker.rekeyed(sync)  # applied here, or forwarded
        others = worker.processed() - worker.processed(sync) - worker.processed(rekeyed)
        if started is None and read:
            started, first = time.monotonic(), read + others
        if read >= calls and others >= passed:
            break
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker died; see {worker.log_path}")
        time.sleep(PROGRESS_POLL_SECONDS)
    end = asyncio.run(end_offsets(broker, rekeyed))
    while True:  # applying the last records sends their facts: the end moves once more
        wait_for(lambda e=end: worker.processed(rekeyed) >= e, 600, "the re-keyed topic")
        latest = asyncio.run(end_offsets(broker, rekeyed))
        if latest == end:
            break
        end = latest
    assert started is not None
    elapsed = time.monotonic() - started
    return (calls + passed - first) / elapsed, elapsed


async def end_offsets(broker: EmbeddedBroker, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def compare_with_recount(worker: Worker, records: list[Any]) -> int:
    """Number of (unit, period) rows that differ from the recount."""
    from kpi.periods import parse_period

    clock = parse_instant(CLOCK, "clock")
    differences = 0
    for period_text in ("2025", "2025-12", "2026", "30d"):
        period = parse_period(period_text, clock)
        rows, orphans = recount(records, period, clock)
        api = {u["unit_id"]: u for u in worker.get(f"/api/units?period={period_text}")["units"]}
        for (unit, official), row in rows.items():
            if official is not None:
                continue
            got = api.get(unit, {})
            fields: tuple[str, ...] = ("resolved", "resolved_late", "open_overdue", "surveys")
            fields += ("satisfied", "paused", "rescheduled", "apologised")
            wanted = [getattr(row, field) for field in fields] + [orphans.get(unit, 0)]
            if [got.get(field) for field in (*fields, "orphans")] != wanted:
                differences += 1
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=3.2,
        help="simulator volume (3.2: about 2.4M events, 1M dossiers in a year)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only (b), (c) on one worker with the memory store, and (d)",
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="cchc-bench-"))
    log(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; scratch {data_dir}")

    simulated = list(Simulator(seed=1, scale=args.scale).history(date(2025, 1, 1), 365))
    events = [(t, e["unit_id"].encode(), orjson.dumps(e)) for t, e in simulated]
    dossiers = sum(1 for t, _ in simulated if t == "cchc.dossier-submitted")
    log(
        f"simulated year: {len(events):,} events, {dossiers:,} dossier submissions, "
        f"{Counter(t for t, _ in simulated)}"
    )

    with EmbeddedBroker(log_file=data_dir / "tansu.log") as broker:
        settings = Settings.from_env(
            {"CCHC_KAFKA_BROKER": broker.url, "CCHC_TOPIC_PARTITIONS": str(PARTITIONS)}
        )
        results: dict[str, float] = {"events": len(events)}
        for app_id in ("bench-memory", "bench-rocksdb", "bench-two"):  # and their changelogs
            ensure_topics(replace(settings, topic_prefix="one.", app_id=app_id))
        log(f"filled one.*: {asyncio.run(fill(broker, 'one.', events)):,.0f} events/s")

        results["raw"] = asyncio.run(raw_consume(broker, "one.", len(events)))
        log(f"(a) aiokafka consume + orjson parse: {results['raw']:,.0f} events/s")
        results["noop"] = noop_faust(broker, "one.", len(events), data_dir)
        log(f"(b) no-op Faust agent:               {results['noop']:,.0f} events/s")
        results["noop_batched"] = noop_faust(broker, "one.", len(events), data_dir, "batched")
        log(
            f"    the same taking batches as the worker does: {results['noop_batched']:,.0f} "
            "events/s (context)"
        )

        memory = Worker(environment(broker, "one.", "bench-memory"), "memory", data_dir)
        results["one"], elapsed = pipeline([memory], len(events))
        results["one_rss_mib"] = memory.peak_rss_mib()
        log(
            f"(c) full pipeline, one worker:       {results['one']:,.0f} events/s "
            f"({elapsed:.0f} s, memory store; {results['one'] / results['noop']:.0%} of no-op; "
            f"{results['one'] / results['raw']:.1%} of raw aiokafka); peak RSS "
            f"{results['one_rss_mib']:,.0f} MiB, "
            f"{results['one_rss_mib'] * 2**20 / dossiers:,.0f} bytes per dossier"
        )
        results |= report_timings(memory)
        memory.stop()
        if not args.quick:
            other_runs(broker, events, dossiers, data_dir, results)
        sync_run(broker, settings, simulated, dossiers, data_dir, results)
    shutil.rmtree(data_dir, ignore_errors=True)
    log("RESULTS " + orjson.dumps(results).decode())


def report_timings(worker: Worker) -> dict[str, float]:
    """(e): how long form 06 and a dossier list take to answer from the worker's state."""
    units = worker.get("/api/units?period=2025")["units"]
    busiest = max(units, key=lambda unit: unit["resolved"])["unit_id"]
    asked = {
        "report_province_s": "/api/reports/form06?period=2025&by=unit",
        "report_province_by_field_s": "/api/reports/form06?period=2025",
        "report_unit_s": f"/api/reports/form06?period=2025&unit_id={busiest}",
        "report_unit_quarter_s": f"/api/reports/form06?period=report:2025-Q2&unit_id={busiest}",
        "dossiers_page_s": f"/api/units/{busiest}/dossiers?period=2025&column=1&limit=100",
    }
    timings = {}
    for key, path in asked.items():
        took = []
        for _ in range(3):
            started = time.monotonic()
            worker.get(path)
            took.append(time.monotonic() - started)
        timings[key] = min(took)
    province = worker.get(asked["report_province_s"])
    log(
        f"(e) form 06 for 2025, {province['total']['columns'][0]:,} dossiers received: "
        f"province by unit {timings['report_province_s']:.3f} s, by field "
        f"{timings['report_province_by_field_s']:.3f} s; {busiest} by field "
        f"{timings['report_unit_s']:.3f} s (a report quarter "
        f"{timings['report_unit_quarter_s']:.3f} s); 100 of its dossiers behind column 1 "
        f"{timings['dossiers_page_s']:.3f} s"
    )
    return timings


def other_runs(
    broker: EmbeddedBroker,
    events: list[tuple[str, bytes, bytes]],
    dossiers: int,
    data_dir: Path,
    results: dict[str, float],
) -> None:
    """(c) on rocksdb, its recovery, and on two workers."""
    env = environment(broker, "one.", "bench-rocksdb", CCHC_STORE="rocksdb://")
    single = Worker(env, "rocksdb", data_dir)
    results["one_rocksdb"], elapsed = pipeline([single], len(events))
    results["rss_mib"] = single.peak_rss_mib()
    log(
        f"    the same on the rocksdb store:   {results['one_rocksdb']:,.0f} events/s "
        f"({elapsed:.0f} s; {results['one_rocksdb'] / results['noop']:.0%} of no-op); "
        f"peak RSS with {dossiers:,} dossiers in state: {results['rss_mib']:,.0f} MiB"
    )
    wait_for(single.healthy, 60, "healthy")
    before = single.get("/api/units?period=2025")
    results["differences"] = compare_with_recount(
        single, [decode(KINDS[t], v) for t, _, v in events]
    )
    log(f"    final state vs recount: {results['differences']} differing rows")
    single.stop()

    restarts = (
        ("recovery", "fresh worker, empty local state"),
        ("clean_restart", "restart on its own rocksdb directory after a clean stop"),
    )
    for key, how in restarts:  # the second reuses the first's directory
        restarted = Worker(env, "restarted", data_dir)
        started = time.monotonic()
        wait_for(restarted.healthy, 1800, "restarted worker healthy")
        results[f"{key}_s"] = time.monotonic() - started
        after = restarted.get("/api/units?period=2025")["units"]
        differences = sum(a != b for a, b in zip(after, before["units"], strict=True))
        results[f"{key}_differences"] = differences
        log(
            f"    {how} serving in {results[f'{key}_s']:.1f} s "
            f"({restarted.recovered():,} changelog records applied); "
            f"units differing from the final state: {differences}"
        )
        restarted.stop()

    # Two workers read the same pre-filled topics as one worker did, in a new group.
    pair = [Worker(environment(broker, "one.", "bench-two"), n, data_dir) for n in "ab"]
    results["two"], elapsed = pipeline(pair, len(events))
    log(
        f"(c) full pipeline, two workers:      {results['two']:,.0f} events/s "
        f"({elapsed:.0f} s once both applied events; "
        f"{results['two'] / results['one']:.2f}x one worker)"
    )
    for worker in pair:
        worker.stop()


def sync_run(
    broker: EmbeddedBroker,
    settings: Settings,
    simulated: list[tuple[str, dict[str, Any]]],
    dossiers: int,
    data_dir: Path,
    results: dict[str, float],
) -> None:
    """(d): the same year as a one-stop system sends it, on one worker."""
    synced = list(as_sent(simulated, "envelope", without_appointment=0.0))
    calls = sum(1 for t, _ in synced if t == "cchc.dvcqg-sync")
    records = sum(len(v["data"]) for t, v in synced if t == "cchc.dvcqg-sync")
    passed = len(synced) - calls
    ensure_topics(replace(settings, topic_prefix="sync.", app_id="bench-sync"))
    messages = []
    for topic, value in synced:
        key = message_key(topic, value)
        messages.append((topic, None if key is None else key.encode(), orjson.dumps(value)))
    log(
        f"the year as a one-stop system sends it: {records:,} records in {calls:,} calls "
        f"(a dossier a call), and {passed:,} events that stay events; "
        f"filled at {asyncio.run(fill(broker, 'sync.', messages)):,.0f} messages/s"
    )
    portal = Worker(environment(broker, "sync.", "bench-sync"), "sync", data_dir)
    results["sync"], elapsed = sync_pipeline(portal, broker, "sync.", calls, passed)
    results["sync_records"] = results["sync"] * (records + passed) / (calls + passed)
    results["sync_rss_mib"] = portal.peak_rss_mib()
    wait_for(portal.healthy, 60, "healthy")
    results["sync_differences"] = compare_with_recount(
        portal, [decode(KINDS[t], orjson.dumps(e)) for t, e in simulated]
    )
    log(
        f"(d) sync calls, one worker:          {results['sync']:,.0f} messages/s "
        f"({results['sync_records']:,.0f} records/s; {elapsed:.0f} s, memory store; "
        f"{results['sync'] / results['one']:.0%} of (c)'s events/s; the year's dossiers in "
        f"{(calls + passed) / results['sync']:.0f} s against "
        f"{results['events'] / results['one']:.0f} s as events); peak RSS "
        f"{results['sync_rss_mib']:,.0f} MiB, "
        f"{results['sync_rss_mib'] * 2**20 / dossiers:,.0f} bytes per dossier; "
        f"final state vs recount: {results['sync_differences']} differing rows"
    )
    portal.stop()


if __name__ == "__main__":
    main()
