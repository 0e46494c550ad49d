"""A no-op Faust agent over the input topics, with the worker's own Faust settings.

The ceiling of any Faust design on this machine: ``bench/run.py`` starts it as a
subprocess and reads the ``RESULT`` line it prints once it has seen ``N`` events.
``noop.py N batched`` takes the events in batches as the worker's intake agent does.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import faust

from agents.intake import BATCH_SIZE, BATCH_WITHIN
from service.app import faust_options
from streams.settings import Settings
from streams.topics import TopicNames


def main() -> None:
    expected = int(sys.argv[1])
    batched = sys.argv[2:] == ["batched"]
    settings = Settings.from_env()
    app = faust.App(settings.app_id, **faust_options(settings) | {"web_enabled": False})
    topics = TopicNames(settings.topic_prefix)
    channel = app.topic(
        *topics.inputs,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    seen = {"count": 0, "first": 0.0}

    def count(events: int) -> None:
        if not seen["count"]:
            seen["first"] = time.monotonic()
        seen["count"] += events
        if seen["count"] >= expected:
            elapsed = time.monotonic() - seen["first"]
            print(f"RESULT {expected / elapsed:.0f}", flush=True)
            os._exit(0)

    @app.agent(channel)
    async def noop(stream: Any) -> None:
        if batched:
            async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN):
                count(len(events))
        else:
            async for _ in stream:
                count(1)

    faust.Worker(app, loglevel="warn").execute_from_commandline()


if __name__ == "__main__":
    main()
