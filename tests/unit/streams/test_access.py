"""Scopes: what each token may see and send."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.access import AccessError, Grant, Tokens, tokens_file_entry


def test_an_ingest_token_names_the_units_it_may_write() -> None:
    system = Grant("mot-cua-cam-lam", frozenset({"ingest:xa-cam-lam", "ingest:xa-suoi-dau"}))
    assert system.ingests and system.ingest_units == {"xa-cam-lam", "xa-suoi-dau"}
    assert not system.sees_public and not system.sees_metrics, "ingest sees nothing"
    gateway = Grant("cong-tich-hop", frozenset({"ingest:*"}))
    assert gateway.ingests and gateway.ingest_units is None
    assert Grant("admin", frozenset({"admin"})).ingest_units is None
    assert not Grant("screen", frozenset({"public", "unit:xa-cam-lam"})).ingests


def test_a_bare_ingest_scope_is_refused_at_start(tmp_path: Path) -> None:
    # It once let any one-stop system erase or move any unit's dossiers.
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "tokens:\n" + tokens_file_entry("t", "old", ["public"]).replace("[public]", "[ingest]")
    )
    with pytest.raises(AccessError, match="names no unit"):
        Tokens.load(path)
    path.write_text("tokens:\n" + tokens_file_entry("t", "new", ["ingest:xa-cam-lam"]))
    grant = Tokens.load(path).grant("t")
    assert grant is not None and grant.ingest_units == {"xa-cam-lam"}
