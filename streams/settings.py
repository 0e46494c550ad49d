"""Settings from ``CCHC_*`` environment variables, checked once at start.

A bad value stops the process with a message that names the variable::

    >>> Settings.from_env({"CCHC_WEB_PORT": "http"})
    Traceback (most recent call last):
    ...
    streams.settings.SettingsError: CCHC_WEB_PORT: 'http' is not a whole number
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from kpi.clock import ClockSpec
from kpi.rules import Thresholds

KAFKA_MESSAGE_MAX_BYTES = 1_048_588
"""Apache Kafka's default ``message.max.bytes``: a record batch, headers included."""
MIN_MESSAGE_BYTES = 512 * 1024
"""A broker must take at least a dossier's largest state (256 KiB) and a dead letter."""


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def yaml_list(path: Path, key: str, error: type[ValueError]) -> list[Any]:
    """The list under ``key`` in a YAML file named by a setting; ``error`` (naming the file)
    when the file cannot be read or holds no such list."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as problem:
        raise error(f"{path}: {problem}") from None
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise error(f"{path}: expected a list under '{key}'")
    return entries


@dataclass(frozen=True)
class KafkaSecurity:
    """Passed through to Faust (aiokafka) and kafka-python for production brokers."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


@dataclass(frozen=True)
class Settings:
    kafka_broker: str | None = None
    """``kafka://host:port[;kafka://host:port]``; None starts the embedded broker."""
    clock: ClockSpec = field(default_factory=ClockSpec)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    advertised_url: str | None = None
    """How other workers reach this one (``CCHC_WEB_URL``); see :attr:`web_url`."""
    store: str = "memory://"
    data_dir: Path = Path("var")
    topic_partitions: int = 8
    topic_prefix: str = ""
    app_id: str = "cchc-monitor"
    calendar_file: Path | None = None
    units_file: Path | None = None
    procedures_file: Path | None = None
    """The procedure catalogue (``kpi.procedures``); none unless configured."""
    scorecard_file: Path | None = None
    """Changes to the national index's indicators (``kpi.scorecard``, TOML); none: the
    portal's as the monitor knows them."""
    report_cut_off_day: int = 15
    """The day report months start on (contract §10): Khánh Hòa's run from the 15th to
    the 14th; 1 makes them calendar months."""
    subscriptions_file: Path | None = None
    max_streams: int = 200
    """Live streams (SSE) one worker serves at once; more are refused with 503."""
    max_unlisted_units: int = 1000
    """Units outside the registry a worker tracks at most; events of more are dead letters."""
    tokens_file: Path | None = None
    """Bearer tokens and their scopes (``streams.access``)."""
    max_message_bytes: int = KAFKA_MESSAGE_MAX_BYTES
    """The largest record the broker takes (its ``message.max.bytes``): whatever the worker
    would produce beyond it is dead-lettered, cut, instead of refused by the broker."""
    ingest_bytes_per_second: int = 256 * 1024
    """What one ingest token may post on average; a full sync body (1 MiB) is its burst."""
    ingest_max_backlog: int = 2_000
    """Sync records a worker may have yet to take in before its ingest answers 429: what
    native events would wait behind (a few seconds of work)."""
    province: str = "Khánh Hòa"
    """The province's name, as one-stop systems end agency names with it ("Sở Tư pháp tỉnh
    Khánh Hòa"): matching a ``DonViXuLy`` to a unit leaves it out."""
    placeholder_officials: tuple[str, ...] = ("Cán bộ một cửa", "Chuyên viên")
    """Names one-stop systems give steps of the desk: never an official (contract §9.4)."""
    sync_waiting_per_partition: int = 100_000
    """Progress records of dossiers not yet seen, kept per partition at most."""
    sync_waiting_days: int = 7
    """Days a progress record waits for its dossier's snapshot before it is dropped."""
    webhook_attempts: int = 5
    webhook_backoff: float = 0.5
    thresholds: Thresholds = field(default_factory=Thresholds)
    producer_acks: int = -1
    producer_request_timeout: float | None = None
    """Seconds before an unacknowledged write expires (then sent again); None: Faust's."""
    session_timeout: float | None = None
    """Consumer-group session timeout in seconds; None keeps Faust's default."""
    log_level: str = "info"
    demo: bool = False
    """Fed by the simulator (``cchc run --demo``): screens label the data synthetic."""
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @property
    def web_url(self) -> str:
        """The advertised URL, else this host's name (or the bound address) and port."""
        if self.advertised_url:
            return self.advertised_url
        wildcard = self.web_host in ("0.0.0.0", "::")
        return f"http://{socket.gethostname() if wildcard else self.web_host}:{self.web_port}"

    @property
    def embedded(self) -> bool:
        return self.kafka_broker is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every ``CCHC_*`` variable; unset ones keep their defaults."""
        env = os.environ if env is None else env
        read = _Reader(env)
        defaults = cls()
        return cls(
            kafka_broker=read.broker("CCHC_KAFKA_BROKER"),
            clock=read.parsed("CCHC_CLOCK", ClockSpec.parse, defaults.clock),
            web_host=read.text("CCHC_WEB_HOST", defaults.web_host),
            web_port=read.integer("CCHC_WEB_PORT", defaults.web_port, 1, 65535),
            advertised_url=env.get("CCHC_WEB_URL") or None,
            store=read.choice("CCHC_STORE", defaults.store, ("memory://", "rocksdb://")),
            data_dir=Path(read.text("CCHC_DATA_DIR", str(defaults.data_dir))),
            topic_partitions=read.integer("CCHC_TOPIC_PARTITIONS", 8, 1, 1000),
            topic_prefix=read.text("CCHC_TOPIC_PREFIX", ""),
            app_id=read.text("CCHC_APP_ID", defaults.app_id),
            calendar_file=read.path("CCHC_CALENDAR_FILE"),
            units_file=read.path("CCHC_UNITS_FILE"),
            procedures_file=read.path("CCHC_PROCEDURES_FILE"),
            scorecard_file=read.path("CCHC_INDEX766_FILE"),
            report_cut_off_day=read.integer("CCHC_REPORT_CUT_OFF_DAY", 15, 1, 28),
            subscriptions_file=read.path("CCHC_SUBSCRIPTIONS"),
            tokens_file=read.path("CCHC_TOKENS_FILE"),
            max_streams=read.integer("CCHC_MAX_STREAMS", 200, 1, 100_000),
            max_unlisted_units=read.integer("CCHC_MAX_UNLISTED_UNITS", 1000, 0, 1_000_000),
            max_message_bytes=read.integer(
                "CCHC_MAX_MESSAGE_BYTES", KAFKA_MESSAGE_MAX_BYTES, MIN_MESSAGE_BYTES, 1 << 30
            ),
            ingest_bytes_per_second=read.integer(
                "CCHC_INGEST_BYTES_PER_SECOND", defaults.ingest_bytes_per_second, 1024, 1 << 30
            ),
            ingest_max_backlog=read.integer("CCHC_INGEST_MAX_BACKLOG", 2_000, 1, 100_000_000),
            province=read.text("CCHC_PROVINCE_NAME", defaults.province),
            placeholder_officials=tuple(
                name.strip()
                for name in read.text(
                    "CCHC_PLACEHOLDER_OFFICIALS", "|".join(defaults.placeholder_officials)
                ).split("|")
                if name.strip()
            ),
            sync_waiting_per_partition=read.integer(
                "CCHC_SYNC_WAITING_PER_PARTITION", 100_000, 1, 100_000_000
            ),
            sync_waiting_days=read.integer("CCHC_SYNC_WAITING_DAYS", 7, 1, 3660),
            webhook_attempts=read.integer("CCHC_WEBHOOK_ATTEMPTS", 5, 1, 100),
            webhook_backoff=read.seconds("CCHC_WEBHOOK_BACKOFF") or 0.5,
            thresholds=Thresholds(
                unit_late=read.percent("CCHC_UNIT_LATE_PERCENT", Thresholds.unit_late),
                unit_satisfaction=read.percent(
                    "CCHC_UNIT_SATISFACTION_PERCENT", Thresholds.unit_satisfaction
                ),
                official_late=read.percent("CCHC_OFFICIAL_LATE_PERCENT", Thresholds.official_late),
                min_dossiers=read.integer("CCHC_ALERT_MIN_DOSSIERS", 20, 1, 10**9),
                min_surveys=read.integer("CCHC_ALERT_MIN_SURVEYS", 20, 1, 10**9),
                min_official_dossiers=read.integer(
                    "CCHC_ALERT_MIN_OFFICIAL_DOSSIERS", 10, 1, 10**9
                ),
                waiting_days=read.integer("CCHC_WAITING_ALERT_DAYS", 30, 1, 3650),
                late_receipt=read.percent("CCHC_LATE_RECEIPT_PERCENT", Thresholds.late_receipt),
                on_time=read.percent("CCHC_TARGET_ON_TIME_PERCENT", Thresholds.on_time),
                online=read.percent("CCHC_TARGET_ONLINE_PERCENT", Thresholds.online),
                online_payment=read.percent(
                    "CCHC_TARGET_ONLINE_PAYMENT_PERCENT", Thresholds.online_payment
                ),
                min_target_dossiers=read.integer("CCHC_TARGET_MIN_DOSSIERS", 20, 1, 1_000_000),
            ),
            producer_acks=int(
                read.choice("CCHC_PRODUCER_ACKS", "-1", ("-1", "0", "1", "all")).replace(
                    "all", "-1"
                )
            ),
            producer_request_timeout=read.seconds("CCHC_PRODUCER_REQUEST_TIMEOUT"),
            session_timeout=read.seconds("CCHC_SESSION_TIMEOUT"),
            demo=read.choice("CCHC_DEMO", "0", ("0", "1")) == "1",
            log_level=read.choice(
                "CCHC_LOG_LEVEL", "info", ("debug", "info", "warn", "error", "crit")
            ),
            security=KafkaSecurity(
                protocol=read.choice(
                    "CCHC_KAFKA_SECURITY_PROTOCOL",
                    "PLAINTEXT",
                    ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
                ),
                sasl_mechanism=read.optional_choice(
                    "CCHC_KAFKA_SASL_MECHANISM", ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
                ),
                sasl_username=env.get("CCHC_KAFKA_SASL_USERNAME"),
                sasl_password=env.get("CCHC_KAFKA_SASL_PASSWORD"),
                ssl_cafile=env.get("CCHC_KAFKA_SSL_CAFILE"),
                ssl_certfile=env.get("CCHC_KAFKA_SSL_CERTFILE"),
                ssl_keyfile=env.get("CCHC_KAFKA_SSL_KEYFILE"),
            ),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}: {value} is outside {low}..{high}")
        return value

    def seconds(self, name: str) -> float | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}: {raw!r} is not a number of seconds") from None
        if value <= 0:
            raise SettingsError(f"{name}: must be positive")
        return value

    def percent(self, name: str, default: Fraction) -> Fraction:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = Fraction(raw)
        except (ValueError, ZeroDivisionError):
            raise SettingsError(f"{name}: {raw!r} is not a percentage such as 5 or 4.5") from None
        if not 0 < value <= 100:
            raise SettingsError(f"{name}: {raw} is outside (0, 100]")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in allowed:
            raise SettingsError(f"{name}: {raw!r} is not one of {', '.join(allowed)}")
        return raw

    def optional_choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        return None if self._raw(name) is None else self.choice(name, "", allowed)

    def path(self, name: str) -> Path | None:
        raw = self._raw(name)
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_file():
            raise SettingsError(f"{name}: no such file {raw!r}")
        return path

    def parsed(self, name: str, parse: Callable[[str], ClockSpec], default: ClockSpec) -> ClockSpec:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None

    def broker(self, name: str) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        for url in raw.split(";"):
            scheme, _, address = url.partition("://")
            host, _, port = address.rpartition(":")
            if scheme != "kafka" or not host or not port.isdigit():
                raise SettingsError(
                    f"{name}: {url!r} is not kafka://host:port (several: separate with ';')"
                )
        return raw
