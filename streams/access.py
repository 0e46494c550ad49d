"""Who may see what: bearer tokens with scopes (``CCHC_TOKENS_FILE``).

An official's late rate is personal performance data; a wall screen needs only unit
figures. Each token carries scopes:

- ``public``: unit-level figures and unit-level alerts, what a wall screen shows; never an
  official's id or figures;
- ``unit:<unit_id>`` (any number): that unit's officials, due-soon dossiers and all its
  alerts, on top of what ``public`` sees;
- ``metrics``: ``/metrics`` alone (for Prometheus);
- ``ingest:<unit_id>`` (any number) or ``ingest:*``: ``POST /ingest/dvcqg`` alone, for a
  one-stop system's sync records of those units (``*``: every unit, for a provincial
  gateway); the worker refuses records of any other unit;
- ``admin``: everything.

The file stores SHA-256 digests, never tokens (``cchc token`` makes both)::

    tokens:
      - name: man-hinh-trung-tam        # who holds it, for the logs
        sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
        scopes: [public]

    >>> grant = Grant("office", frozenset({"unit:xa-a"}))
    >>> grant.sees_public, grant.sees_unit("xa-a"), grant.sees_unit("xa-b"), grant.sees_metrics
    (True, True, False, False)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.settings import yaml_list

PUBLIC, ADMIN, METRICS = "public", "admin", "metrics"
UNIT_PREFIX, INGEST_PREFIX = "unit:", "ingest:"
INGEST_ALL = "ingest:*"
_DIGEST = re.compile(r"[0-9a-f]{64}")


class AccessError(ValueError):
    """A tokens file that cannot be used."""


@dataclass(frozen=True)
class Grant:
    """What one token allows."""

    name: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    @property
    def sees_public(self) -> bool:
        return self.admin or PUBLIC in self.scopes or bool(self.units)

    @property
    def sees_metrics(self) -> bool:
        return self.admin or METRICS in self.scopes

    @property
    def ingests(self) -> bool:
        return self.ingests_all or any(s.startswith(INGEST_PREFIX) for s in self.scopes)

    @property
    def ingests_all(self) -> bool:
        return self.admin or INGEST_ALL in self.scopes

    @property
    def ingest_units(self) -> frozenset[str] | None:
        """The units whose sync records the token may send; None: every unit."""
        return None if self.ingests_all else self._named(INGEST_PREFIX)

    @property
    def units(self) -> frozenset[str]:
        return self._named(UNIT_PREFIX)

    def _named(self, prefix: str) -> frozenset[str]:
        return frozenset(s[len(prefix) :] for s in self.scopes if s.startswith(prefix))

    def sees_unit(self, unit_id: str) -> bool:
        """May see the unit's officials, due-soon dossiers and every alert of it."""
        return self.admin or unit_id in self.units

    def sees_alert(self, alert: dict[str, Any]) -> bool:
        """Unit-level alerts are public; an official's only for its unit's scope."""
        if alert.get("official_id") is None:
            return self.sees_public
        return self.sees_unit(alert["unit_id"])

    def describe(self) -> dict[str, Any]:
        """What the screen needs to know of its own token."""
        return {
            "name": self.name,
            "admin": self.admin,
            "public": self.sees_public,
            "units": sorted(self.units),
            "metrics": self.sees_metrics,
        }


@dataclass(frozen=True)
class Caller:
    """Who asks: their grant, and their token to forward to the worker owning a unit
    (which checks it again)."""

    grant: Grant
    token: str


def check_scope(scope: str) -> str:
    """A scope as written in the tokens file, or AccessError saying what it should be.

    >>> check_scope("ingest:xa-cam-lam")
    'ingest:xa-cam-lam'
    >>> check_scope("ingest")
    Traceback (most recent call last):
    ...
    streams.access.AccessError: scope 'ingest' names no unit: write ingest:<unit_id> ...
    """
    if scope in (PUBLIC, ADMIN, METRICS, INGEST_ALL):
        return scope
    if scope == "ingest":
        raise AccessError(
            "scope 'ingest' names no unit: write ingest:<unit_id> ... (one for each unit its "
            "one-stop system serves), or ingest:* for a provincial gateway"
        )
    for prefix, longest in ((UNIT_PREFIX, 256), (INGEST_PREFIX, 256)):
        if scope.startswith(prefix) and 0 < len(scope) - len(prefix) <= longest:
            return scope
    raise AccessError(
        f"scope {scope!r} is not public, admin, metrics, unit:<unit_id>, ingest:<unit_id> "
        "or ingest:*"
    )


def digest(token: str) -> str:
    """The SHA-256 hex digest stored for a token. Tokens are 256 random bits, so a fast
    hash is enough: nobody can guess one from its digest."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Tokens:
    """The tokens a worker accepts, by digest."""

    def __init__(self, grants: dict[str, Grant]) -> None:
        self._grants = grants

    @classmethod
    def load(cls, path: Path) -> Tokens:
        entries = yaml_list(path, "tokens", AccessError)
        grants: dict[str, Grant] = {}
        for number, entry in enumerate(entries, start=1):
            where = f"{path}: token {number}"
            if not isinstance(entry, dict):
                raise AccessError(f"{where}: expected name, sha256 and scopes")
            hashed = str(entry.get("sha256", "")).lower()
            if not _DIGEST.fullmatch(hashed):
                raise AccessError(f"{where}: sha256 must be 64 hex digits (cchc token makes it)")
            scopes = entry.get("scopes")
            if not isinstance(scopes, list) or not scopes:
                raise AccessError(f"{where}: needs a list of scopes")
            try:
                checked = frozenset(check_scope(str(scope)) for scope in scopes)
            except AccessError as error:
                raise AccessError(f"{where}: {error}") from None
            if hashed in grants:
                raise AccessError(f"{where}: the same token twice")
            grants[hashed] = Grant(str(entry.get("name") or f"token-{number}"), checked)
        return cls(grants)

    @classmethod
    def single(cls, token: str, scopes: Iterable[str], name: str) -> Tokens:
        return cls({digest(token): Grant(name, frozenset(scopes))})

    def grant(self, token: str | None) -> Grant | None:
        """The grant of a presented token; None for none or an unknown one."""
        if not token:
            return None
        return self._grants.get(digest(token))


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def tokens_for(tokens_file: Path | None, web_host: str) -> tuple[Tokens, str | None]:
    """The tokens a worker accepts, and the token to print when it made one itself.

    Without a tokens file a worker bound to loopback makes an admin token for this run
    (only who can read its output can use it); bound to any other address it refuses to
    start, since it would show officials' figures to whoever reaches the port.
    """
    if tokens_file is not None:
        return Tokens.load(tokens_file), None
    if web_host not in LOOPBACK:
        raise AccessError(
            f"CCHC_WEB_HOST is {web_host} but CCHC_TOKENS_FILE is not set: refusing to "
            "serve figures to anyone who reaches the port (see 'cchc token')"
        )
    token = new_token()
    return Tokens.single(token, [ADMIN], "this run (no CCHC_TOKENS_FILE)"), token


def token_of(authorization: str | None, query_token: str | None) -> str | None:
    """The token a request presents: ``Authorization: Bearer <token>``, else the
    ``access_token`` query parameter (browsers' EventSource cannot send headers).

    >>> token_of("Bearer abc", None), token_of(None, "xyz"), token_of("Basic abc", None)
    ('abc', 'xyz', None)
    """
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return query_token or None


def tokens_file_entry(token: str, name: str, scopes: Iterable[str]) -> str:
    """The lines to add under ``tokens:`` for a new token."""
    listed = ", ".join(check_scope(scope) for scope in scopes)
    return f"  - name: {name}\n    sha256: {digest(token)}\n    scopes: [{listed}]\n"
