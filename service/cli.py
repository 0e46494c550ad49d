"""``cchc``: the command line of cchc-monitor.

cchc run [--demo]        broker (embedded unless CCHC_KAFKA_BROKER), worker and web
cchc worker              the Faust worker alone, against CCHC_KAFKA_BROKER
cchc broker              the embedded broker alone; prints its bootstrap address
cchc produce FILE|-      publish JSON lines {"topic", "value", "key"?}
cchc simulate            synthetic events for the province (JSON lines or live)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import orjson

from clients.produce import Message
from streams.broker import EmbeddedBroker, die_with_parent
from streams.settings import Settings, SettingsError
from streams.topics import TopicNames

EMBEDDED_SESSION_TIMEOUT = 6.0
"""Seconds. Tansu settles consumer groups slowly; short timeouts make it quick."""

RUN_STOPS_WITHIN = 10.0
"""Seconds: Ctrl-C on ``cchc run`` ends everything it started within this (it says so)."""
WORKER_STOP_SECONDS = 6.0
"""``cchc run``'s worker gets this long to stop once asked (commit, leave its group, close
its clients); past it the process exits anyway, and its broker and demo feed, which die
with it (``PR_SET_PDEATHSIG``), go too. A normal stop takes 2-3 s, two of them mode's own
pauses while it closes the event loop."""
FEED_STOP_SECONDS = 1.0
"""The demo feed's time to end after SIGTERM, which ends it at once (Ctrl-C in the
terminal has usually ended it already: it is in the terminal's process group)."""


def _fail(message: str) -> NoReturn:
    print(f"cchc: {message}", file=sys.stderr)
    raise SystemExit(2)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        _fail(str(error))


BROKER_FILE = "broker.url"
FORMATS = ("events", "dvcqg", "envelope", "arrays", "query")
"""The simulator's outputs (``clients.senders.SHAPES`` are the last three)."""
"""Where ``cchc run`` writes its embedded broker's address (in CCHC_DATA_DIR), so the
other commands started beside it find the broker by themselves."""


def _broker_settings(settings: Settings) -> Settings:
    """``settings`` with a broker: CCHC_KAFKA_BROKER, else a running ``cchc run``'s."""
    if settings.kafka_broker is not None:
        return settings
    found = settings.data_dir / BROKER_FILE
    url = found.read_text().strip() if found.is_file() else ""
    if not url:
        _fail(
            "CCHC_KAFKA_BROKER is not set (e.g. kafka://127.0.0.1:9092) and no 'cchc run' "
            f"is running here ({found} does not exist); 'cchc run' starts an embedded broker"
        )
    host, _, port = url.partition("://")[2].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except (OSError, ValueError):
        _fail(f"no broker answers at {url} (from {found}): is 'cchc run' still running?")
    return replace(settings, kafka_broker=url)


def ensure_topics(settings: Settings) -> None:
    from streams.kafka import ensure_topics as create
    from streams.state import changelog_topic

    assert settings.kafka_broker is not None
    topics = TopicNames(settings.topic_prefix)
    changelog = changelog_topic(settings.app_id)
    names = (*topics.co_partitioned, topics.alerts, topics.dead_letter, changelog)
    # The alerts topic is also the durable alert state (docs/decisions.md): keep it all.
    # The changelog keeps the last state per key: compacted, never deleted by age.
    configs = {
        topics.alerts: {"retention.ms": "-1"},
        changelog: {"cleanup.policy": "compact", "retention.ms": "-1"},
    }
    create(
        settings.kafka_broker,
        settings.security,
        dict.fromkeys(names, settings.topic_partitions),
        configs,
    )


def run_worker(
    settings: Settings, stops: str = "Ctrl-C stops", stop_within: float | None = None
) -> None:
    """Run the Faust worker until a signal stops it. ``stops`` ends the printed lines;
    ``stop_within``: seconds after which a stopping worker exits anyway (None: never)."""
    import faust

    from kpi.calendar import CalendarError
    from kpi.procedures import CatalogueError
    from kpi.scorecard import ScorecardError
    from kpi.units import RegistryError
    from service.app import create_app
    from streams.access import AccessError, tokens_for
    from streams.webhooks import SubscriptionError

    try:
        tokens, made = tokens_for(settings.tokens_file, settings.web_host)
    except AccessError as error:
        _fail(str(error))
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        worker = create_app(settings, tokens)
    except (
        CalendarError,
        CatalogueError,
        RegistryError,
        ScorecardError,
        SubscriptionError,
    ) as error:
        _fail(str(error))
    url = f"http://{settings.web_host}:{settings.web_port}/"
    if made is None:
        print(f"cchc-monitor: {url} (tokens of CCHC_TOKENS_FILE); {stops}", flush=True)
    else:
        print(
            f"cchc-monitor: no CCHC_TOKENS_FILE, so this run made its own admin token.\n"
            f"  screen:  {url}#token={made}\n"
            f"  API:     curl -H 'Authorization: Bearer {made}' {url}api/units\n"
            f"{stops}",
            flush=True,
        )

    class Worker(faust.Worker):  # mode labels its log lines with the class name
        deadline: threading.Timer | None = None

        async def stop(self) -> None:
            """Called when a signal (Ctrl-C, SIGTERM) or the end of the app stops it."""
            if stop_within is not None and self.deadline is None:
                self.deadline = _exit_after(stop_within)
            await super().stop()

    runner = Worker(worker.app, loglevel=settings.log_level)
    try:
        runner.execute_from_commandline()
    finally:
        if runner.deadline is not None:
            runner.deadline.cancel()


def _exit_after(seconds: float) -> threading.Timer:
    """Exit the process in ``seconds``, whatever the worker is still waiting for then."""

    def give_up() -> None:
        print(
            f"cchc: the worker did not stop within {seconds:g} s; exiting without it",
            file=sys.stderr,
            flush=True,
        )
        # The broker and the demo feed die with this process (PR_SET_PDEATHSIG), unless
        # they cannot take a signal now (a frozen broker): killed, they go anyway.
        for child in _children():
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        os._exit(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


def _children() -> list[int]:
    """The processes this one started (Linux: ``/proc/self/task/*/children``)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def cmd_run(args: argparse.Namespace) -> None:
    settings = _settings()
    broker = None
    feed: subprocess.Popen[bytes] | None = None
    started = ["the worker", "the web server"]
    try:
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            log = settings.data_dir / "tansu.log"
            broker = EmbeddedBroker(log_file=log)
            broker.start()
            (settings.data_dir / BROKER_FILE).write_text(broker.url + "\n")
            print(
                f"cchc-monitor: embedded broker {broker.url} (memory only; log {log})", flush=True
            )
            settings = replace(
                settings,
                kafka_broker=broker.url,
                session_timeout=settings.session_timeout or EMBEDDED_SESSION_TIMEOUT,
            )
            started.append("the embedded broker")
        if args.demo:
            from kpi.procedures import SYNTHETIC

            # The demo's procedures are the synthetic catalogue's (labelled synthetic).
            settings = replace(
                settings, demo=True, procedures_file=settings.procedures_file or SYNTHETIC
            )
            ensure_topics(settings)
            feed = _start_demo_feed(settings, args.demo_format)
            started.append("the demo feed")
        stops = f"Ctrl-C stops everything ({', '.join(started)}) within {RUN_STOPS_WITHIN:g} s"
        run_worker(settings, stops, stop_within=WORKER_STOP_SECONDS)
    finally:
        # Bounded (the feed and the broker are killed past their grace): a second Ctrl-C
        # must not leave them half stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if feed is not None:
            _stop_process(feed, signal.SIGTERM, FEED_STOP_SECONDS)
        if broker is not None:
            broker.stop()
            (settings.data_dir / BROKER_FILE).unlink(missing_ok=True)


def _start_demo_feed(settings: Settings, form: str) -> subprocess.Popen[bytes]:
    """The year so far at a tenth of normal volume, then live at 20x: something to watch,
    as section 2's events or as national sync records (``form``). It is ``cchc simulate
    --live --publish`` in a process of its own: as a thread of the worker's process, its
    backfill held the interpreter lock the worker's event loop needed, and kafka-python's
    I/O thread, waiting for it, reported "blocking the event loop" every few seconds; and
    a process, unlike a thread blocked in a send, stops on a signal."""
    from clients.simulator import SYNTHETIC_NOTE

    assert settings.kafka_broker is not None
    command = [sys.executable, "-m", "service.cli", "simulate", "--live", "--publish"]
    command += ["--seed", "1", "--scale", "0.1", "--days", "30", "--live-scale", "20"]
    command += ["--format", form]
    feed = subprocess.Popen(
        command,
        env=os.environ | {"CCHC_KAFKA_BROKER": settings.kafka_broker},
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # even a killed ``cchc run`` leaves no feed behind
    )
    print(f"cchc-monitor: demo feed ({form}) started. {SYNTHETIC_NOTE}", flush=True)
    return feed


def _stop_process(process: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    """Send ``sig`` and wait ``grace`` seconds, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _messages(events: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[Message]:
    """Simulated traffic as Kafka messages, keyed as the contract says."""
    from clients.simulator import message_key

    for topic, value in events:
        key = message_key(topic, value)
        yield topic, None if key is None else key.encode(), orjson.dumps(value)


def cmd_worker(args: argparse.Namespace) -> None:
    run_worker(_broker_settings(_settings()))


def cmd_broker(args: argparse.Namespace) -> None:
    settings = _settings()
    with EmbeddedBroker(port=args.port) as broker:
        ensure_topics(replace(settings, kafka_broker=broker.url))
        print(broker.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def cmd_produce(args: argparse.Namespace) -> None:
    from clients.produce import check_lines, publish

    settings = _broker_settings(_settings())
    source = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")  # noqa: SIM115
    with source:
        checked = check_lines(source)
    for error in checked.errors:
        print(f"cchc produce: {error}", file=sys.stderr)
    if checked.errors and not args.skip_invalid:
        _fail(
            f"{len(checked.errors)} invalid line(s); nothing published "
            "(--skip-invalid publishes the valid ones)"
        )
    counts = publish(settings, checked.lines)
    summary = ", ".join(f"{topic}: {count}" for topic, count in sorted(counts.items()))
    print(
        f"published {sum(counts.values())} event(s) ({summary or 'none'}); "
        f"skipped {len(checked.errors)} invalid line(s)"
    )


def cmd_simulate(args: argparse.Namespace) -> None:
    from clients.produce import publish
    from clients.senders import SHAPES, as_sent
    from clients.simulator import Simulator, as_dvcqg, message_key, paced

    simulator = Simulator(seed=args.seed, scale=args.scale, units_limit=args.units)
    if args.live:
        start = args.start or date(date.today().year, 1, 1)
        days = (date.today() - start).days + args.days
        events = simulator.history(start, days, time.time_ns() // 1000, args.live_scale)
    else:
        events = simulator.history(args.start or date(2026, 1, 1), args.days)
    if args.format == "dvcqg":
        events = as_dvcqg(events)
    elif args.format in SHAPES:
        events = as_sent(events, args.format)
    if args.live:
        events = paced(_say_when_live(events, f"live from now on, {args.live_scale:g}x volume"))
    if args.publish:
        publish(_broker_settings(_settings()), _messages(events))
        return
    out = sys.stdout.buffer
    for topic, value in events:
        line = {"topic": topic, "key": message_key(topic, value), "value": value}
        out.write(orjson.dumps(line) + b"\n")
    out.flush()


def _say_when_live(
    events: Iterable[tuple[str, dict[str, Any]]], then: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``events``; on standard error, when the first one not yet due comes, how many were
    already (the backfill a live feed sends at once), and ``then``."""
    from clients.simulator import event_time

    now = time.time_ns() // 1000
    rest = iter(events)
    for due, (topic, value) in enumerate(rest):
        if event_time(topic, value) > now:
            print(f"cchc simulate: caught up ({due} messages until now); {then}", file=sys.stderr)
            yield topic, value
            break
        yield topic, value
    yield from rest


def cmd_token(args: argparse.Namespace) -> None:
    from streams.access import AccessError, new_token, tokens_file_entry

    token = new_token()
    try:
        entry = tokens_file_entry(token, args.name, args.scope)
    except AccessError as error:
        _fail(str(error))
    print(f"token (give it to {args.name}; it is shown once and stored nowhere):\n  {token}")
    print(f"add to CCHC_TOKENS_FILE under 'tokens:':\n{entry}", end="")


def cmd_alerts_tail(args: argparse.Namespace) -> None:
    from clients.alerts_tail import tail
    from kpi.units import load_units

    settings = _broker_settings(_settings())
    names = {unit.unit_id: unit.name for unit in load_units(settings.units_file).values()}
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops tailing
        tail(
            settings,
            names,
            args.unit,
            args.rule,
            args.lang,
            args.from_beginning,
            max_messages=args.count,
        )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="cchc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="broker, worker and web: the main job")
    run.add_argument("--demo", action="store_true", help="also feed simulated (synthetic) events")
    run.add_argument(
        "--demo-format",
        choices=FORMATS,
        default="events",
        help="the demo's traffic as section 2 events, or as national sync records: in the "
        "portal's field list (dvcqg), or as real one-stop systems send them (envelope, "
        "arrays, query)",
    )
    run.set_defaults(handler=cmd_run)

    commands.add_parser("worker", help="the worker alone").set_defaults(handler=cmd_worker)

    broker = commands.add_parser("broker", help="the embedded broker alone")
    broker.add_argument("--port", type=int, default=None, help="default: a free port")
    broker.set_defaults(handler=cmd_broker)

    produce = commands.add_parser("produce", help="publish JSON lines")
    produce.add_argument("file", help="a .jsonl file, or - for standard input")
    produce.add_argument(
        "--skip-invalid",
        action="store_true",
        help="publish the valid lines even if some are invalid",
    )
    produce.set_defaults(handler=cmd_produce)

    simulate = commands.add_parser("simulate", help="synthetic events (JSON lines or live)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first day (default 2026-01-01; with --live, 1 January this year)",
    )
    simulate.add_argument(
        "--days", type=int, default=14, help="days to simulate (with --live: days after today)"
    )
    simulate.add_argument("--scale", type=float, default=1.0, help="volume multiplier")
    simulate.add_argument("--units", type=int, default=None, help="only the first N units")
    simulate.add_argument(
        "--publish",
        action="store_true",
        help="publish to CCHC_KAFKA_BROKER instead of writing JSON lines",
    )
    simulate.add_argument(
        "--live",
        action="store_true",
        help="release events at their own time (wall clock); implies a backfill from --start",
    )
    simulate.add_argument(
        "--live-scale", type=float, default=20.0, help="volume multiplier from now on, with --live"
    )
    simulate.add_argument(
        "--format",
        choices=FORMATS,
        default="events",
        help="events: the contract's events (default); dvcqg: dossiers as national sync "
        "records (cchc.dvcqg-sync) in the portal's field list, batched per minute; "
        "envelope, arrays, query: as the three kinds of real one-stop system send them "
        "(one dossier per call, statuses for waits, names for units); reschedulings, "
        "surveys and rankings stay events",
    )
    simulate.set_defaults(handler=cmd_simulate)

    token = commands.add_parser("token", help="make an access token and its tokens-file entry")
    token.add_argument("--name", required=True, help="who holds it (shown in logs)")
    token.add_argument(
        "--scope",
        action="append",
        required=True,
        help="public, unit:<unit_id>, metrics, ingest or admin (repeatable)",
    )
    token.set_defaults(handler=cmd_token)

    alerts = commands.add_parser("alerts", help="Conclusion 91 alerts")
    alerts_commands = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_tail = alerts_commands.add_parser("tail", help="print alert changes as they happen")
    alerts_tail.add_argument(
        "--unit", action="append", default=[], help="only this unit (repeatable)"
    )
    alerts_tail.add_argument(
        "--rule", action="append", default=[], help="only this rule (repeatable)"
    )
    alerts_tail.add_argument("--lang", choices=("vi", "en"), default="vi")
    alerts_tail.add_argument(
        "--from-beginning", action="store_true", help="show past changes too, not only new ones"
    )
    alerts_tail.add_argument("--count", type=int, default=None, help="stop after N alerts")
    alerts_tail.set_defaults(handler=cmd_alerts_tail)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C before (or after) a command's own handling of it
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
