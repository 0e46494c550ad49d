"""Forwarding to other workers: one that does not answer is a clear 503, not a crash."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

import pytest

from service.peers import PeerError, Peers


def test_a_worker_that_left_is_a_503_to_retry() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        peers = Peers(cast(Any, None))
        try:
            with pytest.raises(PeerError) as refused:
                await peers.fetch(f"http://127.0.0.1:{port}", "/api/units", {}, "token")
        finally:
            await peers.close()
        assert refused.value.status == 503 and "retry" in refused.value.body["error"]

    asyncio.run(scenario())
