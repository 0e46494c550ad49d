"""Compare the pipeline of several checkouts on one broker and one machine, in one run.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare.py --scale 1.0 /tmp/before .

Throughput depends on the machine (the same code measured 52 % of the no-op agent on one
machine and 44 % on another), so "before and after" means the same broker, the same
pre-filled topics and the same no-op baseline, one checkout after the other: each runs
``cchc worker`` from its own directory, on the memory store, in a consumer group of its
own, until every event is applied. Prints numbers; asserts none.

``--v1-traffic`` keeps only what contract v1 had (no pauses, reschedulings or the new
outcomes), so that a checkout from before v1.1 can be compared with a later one on
traffic both apply: it measures what v1.1 costs a dossier without pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    Worker,
    environment,
    fill,
    log,
    noop_faust,
    pipeline,
)
from clients.simulator import Simulator  # noqa: E402
from service.cli import ensure_topics  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import Settings  # noqa: E402

PARTITIONS = 8
V1_TOPICS = {
    "cchc.dossier-submitted",
    "cchc.dossier-completed",
    "cchc.satisfaction-survey",
    "cchc.unit-ranking",
}


def v1(event: dict[str, Any]) -> dict[str, Any]:
    """The event as v1 could say it: v1.1's outcomes become the default, resolved."""
    if event.get("outcome") in ("returned", "stopped"):
        return {k: v for k, v in event.items() if k != "outcome"}
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--v1-traffic", action="store_true", help="v1's four event types only")
    parser.add_argument("checkouts", nargs="+", type=Path)
    args = parser.parse_args()
    simulated = list(Simulator(seed=1, scale=args.scale).history(date(2025, 1, 1), 365))
    if args.v1_traffic:
        simulated = [(topic, v1(event)) for topic, event in simulated if topic in V1_TOPICS]
    events = [(t, e["unit_id"].encode(), orjson.dumps(e)) for t, e in simulated]
    log(f"{len(events):,} events {dict(Counter(t for t, _ in simulated))}")
    data_dir = Path(tempfile.mkdtemp(prefix="cchc-compare-"))
    with EmbeddedBroker(log_file=data_dir / "tansu.log") as broker:
        settings = Settings.from_env(
            {"CCHC_KAFKA_BROKER": broker.url, "CCHC_TOPIC_PARTITIONS": str(PARTITIONS)}
        )
        apps = [f"compare-{n}" for n in range(len(args.checkouts))]
        for app_id in apps:
            ensure_topics(replace(settings, topic_prefix="one.", app_id=app_id))
        log(f"filled: {asyncio.run(fill(broker, 'one.', events)):,.0f} events/s")
        noop = noop_faust(broker, "one.", len(events), data_dir)
        log(f"no-op Faust agent: {noop:,.0f} events/s")
        for checkout, app_id in zip(args.checkouts, apps, strict=True):
            path = checkout.resolve()
            env = environment(broker, "one.", app_id) | {"PYTHONPATH": str(path)}
            worker = Worker(env, app_id, data_dir, cwd=path)
            rate, elapsed = pipeline([worker], len(events))
            worker.stop()
            log(f"{path}: {rate:,.0f} events/s ({elapsed:.0f} s) = {rate / noop:.0%} of no-op")


if __name__ == "__main__":
    main()
