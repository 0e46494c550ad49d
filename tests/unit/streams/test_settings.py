from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from kpi.clock import ClockSpec
from schemas.codec import parse_instant
from streams.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.embedded and settings.web_port == 6066 and settings.topic_partitions == 8
    assert settings.clock == ClockSpec("wall") and settings.store == "memory://"
    assert settings.thresholds.unit_late == 5 and settings.thresholds.min_surveys == 20


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "CCHC_KAFKA_BROKER": "kafka://k1:9092;kafka://k2:9092",
            "CCHC_CLOCK": "fixed:2026-06-30T12:00:00+07:00",
            "CCHC_TOPIC_PREFIX": "kh.",
            "CCHC_UNIT_LATE_PERCENT": "4.5",
            "CCHC_STORE": "rocksdb://",
            "CCHC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CCHC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CCHC_KAFKA_SASL_PASSWORD": "secret",
        }
    )
    assert not settings.embedded
    assert settings.clock.fixed_at == parse_instant("2026-06-30T05:00:00Z", "t")
    assert settings.thresholds.unit_late == Fraction(9, 2)
    assert settings.security.sasl_mechanism == "SCRAM-SHA-512"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CCHC_WEB_PORT": "http"}, "CCHC_WEB_PORT: 'http' is not a whole number"),
        ({"CCHC_WEB_PORT": "70000"}, "CCHC_WEB_PORT: 70000 is outside 1..65535"),
        ({"CCHC_TOPIC_PARTITIONS": "0"}, "CCHC_TOPIC_PARTITIONS: 0 is outside 1..1000"),
        (
            {"CCHC_CLOCK": "fixed:2026-06-30T12:00:00"},
            "CCHC_CLOCK: 'fixed:2026-06-30T12:00:00': fixed: timestamp has no UTC offset",
        ),
        (
            {"CCHC_CLOCK": "sundial"},
            "CCHC_CLOCK: 'sundial' is not wall, event or fixed:<RFC3339 with offset>",
        ),
        ({"CCHC_STORE": "redis://"}, "CCHC_STORE: 'redis://' is not one of memory://, rocksdb://"),
        (
            {"CCHC_KAFKA_BROKER": "localhost:9092"},
            "CCHC_KAFKA_BROKER: 'localhost:9092' is not kafka://host:port",
        ),
        ({"CCHC_UNIT_LATE_PERCENT": "five"}, "CCHC_UNIT_LATE_PERCENT: 'five' is not a percentage"),
        (
            {"CCHC_UNIT_SATISFACTION_PERCENT": "120"},
            "CCHC_UNIT_SATISFACTION_PERCENT: 120 is outside (0, 100]",
        ),
        ({"CCHC_CALENDAR_FILE": "/nonexistent.yaml"}, "CCHC_CALENDAR_FILE: no such file"),
        (
            {"CCHC_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "CCHC_KAFKA_SASL_MECHANISM: 'GSSAPI' is not one of",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


def test_calendar_file_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: []\n")
    assert Settings.from_env({"CCHC_CALENDAR_FILE": str(path)}).calendar_file == path
