"""A no-op Faust agent over the input topics, with the worker's own Faust settings.

The ceiling of any Faust design on this machine: ``bench/run.py`` starts it as a
subprocess and reads the ``RESULT`` line it prints once it has seen ``N`` events.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import faust

from streams.app import faust_options
from streams.settings import Settings
from streams.topics import TopicNames


def main() -> None:
    expected = int(sys.argv[1])
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

    @app.agent(channel)
    async def noop(stream: Any) -> None:
        async for _ in stream:
            seen["count"] += 1
            if seen["count"] == 1:
                seen["first"] = time.monotonic()
            if seen["count"] == expected:
                elapsed = time.monotonic() - seen["first"]
                print(f"RESULT {expected / elapsed:.0f}", flush=True)
                os._exit(0)

    faust.Worker(app, loglevel="warn").execute_from_commandline()


if __name__ == "__main__":
    main()
