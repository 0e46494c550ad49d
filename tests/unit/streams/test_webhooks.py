"""Subscriptions file and the Alertmanager-compatible payload."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from streams.webhooks import SubscriptionError, alertmanager_payload, load_subscriptions, signature

ALERT = {
    "alert_id": "official_late_rate|xa-cam-lam|cb1|2026",
    "rule": "official_late_rate",
    "unit_id": "xa-cam-lam",
    "official_id": "cb1",
    "period": "2026",
    "state": "resolved",
    "value": 0.08,
    "threshold": 0.1,
    "numerator": 2,
    "denominator": 25,
    "started_at": "2026-03-02T08:00:00+07:00",
    "resolved_at": "2026-03-09T08:00:00+07:00",
    "evaluated_at": "2026-03-09T08:00:00+07:00",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(text)
    return path


def test_subscriptions_read_secrets_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n"
        "  - {name: a, url: 'https://x/h', secret_env: S, units: [u1], rules: [unit_late_rate]}\n"
        "  - {url: 'http://y/h', secret: plain}\n",
    )
    first, second = load_subscriptions(path, {"S": "from-env"})
    assert first.secret == b"from-env" and first.units == {"u1"} and "from-env" not in repr(first)
    assert first.wants({"unit_id": "u1", "rule": "unit_late_rate"})
    assert not first.wants({"unit_id": "u2", "rule": "unit_late_rate"})
    assert not first.wants({"unit_id": "u1", "rule": "unit_satisfaction"})
    assert second.name == "subscription-2" and second.wants({"unit_id": "any", "rule": "any"})
    assert load_subscriptions(None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nothing: here\n", "expected a list under 'subscriptions'"),
        ("subscriptions:\n  - {secret: s}\n", "subscription 1: needs a url"),
        (
            "subscriptions:\n  - {url: 'ftp://x', secret: s}\n",
            "subscription 1: url must be http(s)",
        ),
        ("subscriptions:\n  - {url: 'http://x'}\n", "subscription 1: needs a secret"),
        (
            "subscriptions:\n  - {url: 'http://x', secret_env: MISSING}\n",
            "environment variable MISSING is not set",
        ),
        ("subscriptions: [\n", "subscriptions.yaml"),
    ],
)
def test_bad_subscriptions(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SubscriptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_subscriptions(write(tmp_path, text), {})


def test_alertmanager_v4_payload() -> None:
    payload = alertmanager_payload(ALERT, "office", "http://cchc:6066")
    assert payload["version"] == "4" and payload["status"] == "resolved"
    alert = payload["alerts"][0]
    assert alert["labels"] == {
        "alertname": "official_late_rate",
        "unit_id": "xa-cam-lam",
        "period": "2026",
        "official_id": "cb1",
    }
    assert alert["startsAt"] == ALERT["started_at"] and alert["endsAt"] == ALERT["resolved_at"]
    assert alert["annotations"]["summary"].endswith("8.00% (2/25), threshold 10%")
    assert len(alert["fingerprint"]) == 16
    assert "sequence" not in alert["annotations"], "a message written before sequences"
    numbered = alertmanager_payload(ALERT | {"sequence": 4}, "office", "http://cchc:6066")
    assert numbered["alerts"][0]["annotations"]["sequence"] == "4"
    assert numbered["alerts"][0]["fingerprint"] == alert["fingerprint"]
    firing = alertmanager_payload(ALERT | {"state": "firing", "resolved_at": None}, "o", "http://c")
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"


def test_signature_is_hmac_sha256_of_the_timestamp_and_the_body() -> None:
    expected = hmac.new(b"k", b"1767225600.body", hashlib.sha256).hexdigest()
    assert signature(b"k", "1767225600", b"body") == "sha256=" + expected
    assert signature(b"k", "1767225601", b"body") != "sha256=" + expected  # no replay later


def test_an_officials_alerts_go_only_to_subscriptions_reaching_its_unit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n"
        "  - {name: office, url: 'https://x/h', secret: s, units: [xa-cam-lam]}\n"
        "  - {name: wall, url: 'https://x/h', secret: s}\n"
        "  - {name: other, url: 'https://x/h', secret: s, scopes: ['unit:xa-khac']}\n"
        "  - {name: ops, url: 'https://x/h', secret: s, scopes: [admin]}\n",
    )
    office, wall, other, ops = load_subscriptions(path)
    unit_alert = ALERT | {"rule": "unit_late_rate", "official_id": None}
    assert [s.wants(ALERT) for s in (office, wall, other, ops)] == [True, False, False, True]
    assert [s.wants(unit_alert) for s in (office, wall, other, ops)] == [True, True, True, True]
    with pytest.raises(SubscriptionError, match="scope 'root'"):
        load_subscriptions(
            write(tmp_path, "subscriptions:\n  - {url: 'https://x', secret: s, scopes: [root]}\n")
        )
