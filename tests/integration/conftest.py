"""Shared fixtures: one embedded broker per test session, workers as real subprocesses.

Integration tests talk to a real Kafka-protocol broker (Tansu, embedded). Each test gets
its own topic prefix and consumer group, so tests never see each other's messages.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.broker import EmbeddedBroker, free_port
from streams.topics import TopicNames

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_counter = itertools.count()

TOKENS = {
    "admin": "test-admin-token",
    "public": "test-public-token",
    "unit:xa-cam-lam": "test-cam-lam-token",
    "metrics": "test-metrics-token",
    "ingest:*": "test-ingest-token",
    "ingest:xa-cam-lam": "test-ingest-cam-lam-token",
}
"""One token per scope; every worker of the tests accepts them (CCHC_TOKENS_FILE)."""
ADMIN = TOKENS["admin"]


def tokens_file() -> Path:
    from streams.access import tokens_file_entry

    path = ARTIFACTS / "tokens.yaml"
    ARTIFACTS.mkdir(exist_ok=True)
    entries = "".join(tokens_file_entry(t, s.replace(":", "-"), [s]) for s, t in TOKENS.items())
    path.write_text("tokens:\n" + entries, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    ARTIFACTS.mkdir(exist_ok=True)
    with EmbeddedBroker(log_file=ARTIFACTS / "tansu.log") as running:
        yield running


@dataclass
class Cluster:
    """A namespace on the shared broker: its own topic prefix and app id."""

    broker: EmbeddedBroker
    prefix: str
    app_id: str
    partitions: int = 4
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.prefix)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCHC_")}
        env |= {
            "CCHC_KAFKA_BROKER": self.broker.url,
            "CCHC_TOPIC_PREFIX": self.prefix,
            "CCHC_APP_ID": self.app_id,
            "CCHC_TOPIC_PARTITIONS": str(self.partitions),
            "CCHC_SESSION_TIMEOUT": "6",
            "CCHC_PRODUCER_ACKS": "1",
            "CCHC_TOKENS_FILE": str(tokens_file()),
        }
        return env | extra

    def start_worker(
        self, timeout: float = 90.0, data_dir: Path | None = None, **extra: str
    ) -> WorkerProcess:
        """A worker process; ``data_dir`` reuses a stopped worker's local state."""
        port = free_port()
        data_dir = data_dir or ARTIFACTS / "workers" / f"{self.app_id}-{port}"
        env = self.env(CCHC_WEB_PORT=str(port), CCHC_DATA_DIR=str(data_dir), **extra)
        log_path = ARTIFACTS / f"worker-{self.app_id}-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker"], env=env, stdout=log, stderr=log
            )
        worker = WorkerProcess(process, port, log_path, data_dir)
        self.workers.append(worker)
        worker.wait_healthy(timeout)
        return worker

    def produce(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        """Publish raw messages (topic is the contract name; the prefix is added)."""
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all")
        for topic, key, value in messages:
            producer.send(self.prefix + topic, key=key, value=value)
        producer.flush()
        producer.close()

    def produce_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.produce([(t, e["unit_id"].encode(), orjson.dumps(e)) for t, e in events])

    def read_topic(self, topic: str, expect: int, timeout: float = 30.0) -> list[Any]:
        """Read a whole topic from the start on assigned partitions (no group join)."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.broker.bootstrap, enable_auto_commit=False, group_id=None
        )
        partitions = [TopicPartition(topic, p) for p in range(self.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        consumer.close()
        return records


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, token: str | None = ADMIN) -> tuple[int, Any]:
        """GET with a bearer token (the admin's unless told otherwise; None: none)."""
        return self.request(path, token)

    def post(self, path: str, body: bytes, token: str | None = ADMIN) -> tuple[int, Any]:
        return self.request(path, token, body)

    def request(self, path: str, token: str | None, body: bytes | None = None) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                status = response.status
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            body, status, kind = error.read(), error.code, error.headers.get("Content-Type", "")
        return status, orjson.loads(body) if "json" in kind else body.decode()

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited; see {self.log_path}")
            try:
                if self.get("/healthz") == (200, {"status": "ok"}):
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"worker not healthy after {timeout}s; see {self.log_path}")

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the series does not exist yet)."""
        _, text = self.get("/metrics")
        wanted = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        )
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series == wanted:
                return float(value)
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def new_cluster(broker: EmbeddedBroker) -> Iterator[Cluster]:
    """A namespace of its own on the shared broker; its workers are stopped after."""
    name = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    running = Cluster(broker, prefix=f"{name}.", app_id=f"cchc-{name}")
    yield running
    for worker in running.workers:
        worker.stop()


@pytest.fixture
def cluster(broker: EmbeddedBroker) -> Iterator[Cluster]:
    yield from new_cluster(broker)


@pytest.fixture
def second_cluster(broker: EmbeddedBroker) -> Iterator[Cluster]:
    """Another namespace on the same broker, for tests that compare two pipelines."""
    yield from new_cluster(broker)


def wait_until(check: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
