"""The broker probe: whether the worker can reach the broker, even when nothing is written.

Every ``PROBE_SECONDS`` it asks the broker for its metadata; no answer within
``PROBE_TIMEOUT`` marks the broker unreachable, which ``/healthz`` (503) and the metric
``cchc_broker_reachable`` report until an answer comes again.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.kafka import BrokerProbe
from streams.worker import Worker

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0
PROBE_TIMEOUT = 3.0


def install(worker: Worker) -> None:
    """Register the probe's timer on the worker's app."""
    probe = BrokerProbe(worker.settings)

    @worker.app.timer(PROBE_SECONDS)
    async def probe_broker() -> None:
        reachable = await probe.reachable(PROBE_TIMEOUT)
        if reachable != worker.broker_reachable:
            log.warning("the broker is %s", "reachable again" if reachable else "unreachable")
        worker.broker_reachable = reachable

    # An open client keeps the embedded broker waiting for it on SIGTERM.
    @worker.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_probe(sender: Any, *args: Any, **kwargs: Any) -> None:
        await probe.close()
