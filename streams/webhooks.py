"""Webhook delivery of alert changes to unit offices (``CCHC_SUBSCRIPTIONS``).

The subscriptions file is YAML::

    subscriptions:
      - name: ubnd-xa-dien-khanh
        url: https://office.example/hooks/cchc
        secret_env: CCHC_HOOK_SECRET_DIEN_KHANH   # or `secret:`; prefer the environment
        units: [xa-dien-khanh]                    # absent: every unit
        rules: [unit_late_rate, official_late_rate]  # absent: every rule
        scopes: [unit:xa-dien-khanh]              # absent: unit:<each unit>, else public

Scopes are those of access tokens (``streams.access``): an official's alerts go only to a
subscription whose scopes reach that unit. Each alert change is POSTed as an Alertmanager
webhook (version 4) payload, so anything that reads Alertmanager's webhooks reads ours;
its annotations carry the alert's ``sequence``, so that with the fingerprint a receiver
can tell a redelivery (after a worker's crash) from a change.
Every delivery is signed with a timestamp, so a captured one cannot be replayed later:
``X-CCHC-Timestamp: <Unix seconds>`` and ``X-CCHC-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>." followed by the body>``. Receivers compare the signature in constant time
and refuse a timestamp more than a few minutes old. Each attempt has its own timeout and
redirects are not followed (a 3xx is a failure). A failed delivery is retried with
exponential backoff; one that keeps failing is *parked*: appended to
``<CCHC_DATA_DIR>/webhooks-parked.jsonl`` with the reason, and counted in
``cchc_webhook_deliveries_total{outcome="parked"}``. Nothing is dropped silently. Each
subscription is delivered by its own agent (``agents.webhooks``), so a slow receiver
delays only itself, and gets each (alert, ``sequence``) once although the alerts topic may
repeat a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from kpi.alerts import sequence_of
from schemas.codec import encode, format_instant
from streams.access import PUBLIC, AccessError, Grant, check_scope
from streams.instruments import WEBHOOK_DELIVERIES
from streams.settings import yaml_list

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CCHC-Signature"
TIMESTAMP_HEADER = "X-CCHC-Timestamp"
ATTEMPT_SECONDS = 10.0
"""Each delivery attempt gives up after this long (connecting, sending and the answer)."""


class SubscriptionError(ValueError):
    """A subscriptions file that cannot be used."""


@dataclass(frozen=True)
class Subscription:
    name: str
    url: str
    secret: bytes = field(repr=False)
    units: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    grant: Grant = field(default_factory=lambda: Grant("subscription", frozenset({PUBLIC})))

    def wants(self, alert: dict[str, Any]) -> bool:
        return (
            (not self.units or alert["unit_id"] in self.units)
            and (not self.rules or alert["rule"] in self.rules)
            and self.grant.sees_alert(alert)
        )


def load_subscriptions(path: Path | None, env: dict[str, str] | None = None) -> list[Subscription]:
    if path is None:
        return []
    env = dict(os.environ) if env is None else env
    entries = yaml_list(path, "subscriptions", SubscriptionError)
    subscriptions = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: subscription {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise SubscriptionError(f"{where}: needs a url")
        if not entry["url"].startswith(("http://", "https://")):
            raise SubscriptionError(f"{where}: url must be http(s)")
        secret = entry.get("secret")
        if "secret_env" in entry:
            secret = env.get(entry["secret_env"])
            if not secret:
                raise SubscriptionError(
                    f"{where}: environment variable {entry['secret_env']} is not set"
                )
        if not isinstance(secret, str) or not secret:
            raise SubscriptionError(f"{where}: needs a secret (secret_env or secret)")
        name = str(entry.get("name", f"subscription-{number}"))
        units = frozenset(str(unit) for unit in entry.get("units") or ())
        scopes = entry.get("scopes") or [f"unit:{unit}" for unit in sorted(units)] or [PUBLIC]
        try:
            grant = Grant(name, frozenset(check_scope(str(scope)) for scope in scopes))
        except AccessError as error:
            raise SubscriptionError(f"{where}: {error}") from None
        subscriptions.append(
            Subscription(
                name=name,
                url=entry["url"],
                secret=secret.encode(),
                units=units,
                rules=frozenset(entry.get("rules") or ()),
                grant=grant,
            )
        )
    return subscriptions


def alertmanager_payload(alert: dict[str, Any], receiver: str, external_url: str) -> dict[str, Any]:
    """One alert as an Alertmanager webhook v4 message."""
    labels = {
        "alertname": alert["rule"],
        "unit_id": alert["unit_id"],
        "period": alert["period"],
        **({"official_id": alert["official_id"]} if alert.get("official_id") else {}),
    }
    value = alert.get("value")
    summary = f"{alert['rule']} {alert['unit_id']} {alert['period']}" + (
        f": {value:.2%} ({alert['numerator']}/{alert['denominator']}), "
        f"threshold {alert['threshold']:.0%}"
        if value is not None
        else ""
    )
    annotations = {
        "summary": summary,
        **({"detail": alert["detail"]} if alert.get("detail") else {}),
        # With the fingerprint, what a receiver may drop as had already (a redelivery).
        **({"sequence": str(sequence_of(alert))} if sequence_of(alert) else {}),
    }
    group_key = "{}:" + "{" + f'alertname="{alert["rule"]}",unit_id="{alert["unit_id"]}"' + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": alert["state"],
        "receiver": receiver,
        "groupLabels": {"alertname": alert["rule"], "unit_id": alert["unit_id"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": alert["state"],
                "labels": labels,
                "annotations": annotations,
                "startsAt": alert["started_at"],
                "endsAt": alert["resolved_at"] or "0001-01-01T00:00:00Z",
                "generatorURL": f"{external_url}/api/alerts?unit_id={alert['unit_id']}&state=all",
                "fingerprint": hashlib.sha256(alert["alert_id"].encode()).hexdigest()[:16],
            }
        ],
    }


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """What ``X-CCHC-Signature`` carries: the HMAC of the timestamp, a dot and the body.

    >>> signature(b"k", "1767225600", b"{}")[:15]
    'sha256=fed6131b'
    """
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


class Deliverer:
    """Delivers alert changes to one subscription at a time (``deliver``)."""

    def __init__(
        self,
        subscriptions: list[Subscription],
        external_url: str,
        parked: Path,
        attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.subscriptions = subscriptions
        self.external_url = external_url
        self.parked = parked
        self.attempts = attempts
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, subscription: Subscription, alert: dict[str, Any]) -> None:
        """Deliver ``alert`` to ``subscription`` if it wants it: delivered or parked."""
        if not subscription.wants(alert):
            return
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=ATTEMPT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        body = encode(alertmanager_payload(alert, subscription.name, self.external_url))
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                WEBHOOK_DELIVERIES.labels(outcome="retried").inc()
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: signature(subscription.secret, stamp, body),
            }
            try:
                async with self._session.post(
                    subscription.url, data=body, headers=headers, allow_redirects=False
                ) as reply:
                    if 200 <= reply.status < 300:
                        WEBHOOK_DELIVERIES.labels(outcome="delivered").inc()
                        return
                    reason = f"HTTP {reply.status}"
            except (TimeoutError, aiohttp.ClientError) as error:
                reason = f"{type(error).__name__}: {error}"
        self._park(subscription, alert, reason)

    def _park(self, subscription: Subscription, alert: dict[str, Any], reason: str) -> None:
        WEBHOOK_DELIVERIES.labels(outcome="parked").inc()
        try:
            self._append_parked(subscription, alert, reason)
        except OSError:  # the log is then the only record of it: say everything there
            log.exception(
                "could not park the undelivered alert %s for %s", alert, subscription.name
            )

    def _append_parked(
        self, subscription: Subscription, alert: dict[str, Any], reason: str
    ) -> None:
        self.parked.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "subscription": subscription.name,
            "url": subscription.url,
            "reason": reason,
            "attempts": self.attempts,
            "parked_at": format_instant(time.time_ns() // 1000),
            "alert": alert,
        }
        with self.parked.open("ab") as out:
            out.write(orjson.dumps(record) + b"\n")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
