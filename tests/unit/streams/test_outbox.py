"""The outbox holds input messages until their outputs are written, re-sending failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import streams.outbox
from streams.outbox import Batch, Outbox, Record, Writes


class Message:
    """What the outbox needs of a Faust message: a reference count and its final ack."""

    def __init__(self, name: str) -> None:
        self.name, self.refcount, self.released = name, 1, False

    def incref(self, n: int = 1) -> None:
        self.refcount += n

    def ack(self, consumer: Any, n: int = 1) -> bool:
        self.refcount -= n
        self.released = self.refcount == 0
        return self.released


def done(value: Any = None, error: Exception | None = None) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
    return future


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams.outbox, "RETRY_SECONDS", (0.0,))


async def settle(outbox: Outbox) -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_messages_are_released_only_once_their_records_are_written() -> None:
    async def scenario() -> None:
        writes = Writes()
        outbox = Outbox(writes, resend=lambda record, error: asyncio.sleep(0))  # type: ignore[arg-type]
        running = asyncio.ensure_future(outbox.run(consumer=None))
        pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        batch = Batch()
        message = Message("m1")
        batch.records.append(Record("t", b"k", b"v", 0, None, pending))
        batch.hold(message)
        message.ack(None)  # Faust's own ack when the agent asks for the next batch
        outbox.close(batch)
        await settle(outbox)
        assert not message.released and outbox.backlog_seconds() > 0
        pending.set_result("metadata")
        await settle(outbox)
        assert message.released and outbox.backlog_seconds() == 0
        running.cancel()

    asyncio.run(scenario())


def test_a_failed_record_is_sent_again_until_written_and_batches_stay_in_order() -> None:
    async def scenario() -> None:
        writes = Writes()
        resent: list[Record] = []
        failures = [RuntimeError("expired"), RuntimeError("expired again")]

        async def resend(record: Record, error: BaseException) -> asyncio.Future[Any]:
            resent.append(record)
            return done(error=failures.pop(0)) if failures else done("metadata")

        outbox = Outbox(writes, resend)
        running = asyncio.ensure_future(outbox.run(consumer=None))
        first, second = Batch(), Batch()
        one, two = Message("one"), Message("two")
        first.records.append(Record("t", b"k", b"v", 0, None, done(error=RuntimeError("x"))))
        first.hold(one)
        second.records.append(Record("t", b"k", b"w", 0, None, done("metadata")))
        second.hold(two)
        for message, batch in ((one, first), (two, second)):
            message.ack(None)
            outbox.close(batch)
        await settle(outbox)
        assert len(resent) == 3 and resent[0].value == b"v"
        assert one.released and two.released and not writes.failing
        running.cancel()

    asyncio.run(scenario())


def test_writes_report_failing_while_a_record_is_retried() -> None:
    async def scenario() -> None:
        writes = Writes()
        gate: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def resend(record: Record, error: BaseException) -> asyncio.Future[Any]:
            return gate

        waiting = asyncio.ensure_future(
            writes.until_written(
                [Record("t", None, b"v", None, None, done(error=OSError()))], resend
            )
        )
        await asyncio.sleep(0.01)
        assert writes.failing and not waiting.done()
        gate.set_result("metadata")
        await waiting
        assert not writes.failing

    asyncio.run(scenario())


def test_nothing_to_write_any_more_ends_the_wait_and_revoked_messages_are_not_released() -> None:
    async def scenario() -> None:
        async def resend(record: Record, error: BaseException) -> None:
            return None  # the key's partition was revoked

        outbox = Outbox(Writes(), resend)
        running = asyncio.ensure_future(outbox.run(consumer=None))
        batch = Batch()
        kept, revoked = Message("kept"), Message("revoked")
        batch.records.append(Record("t", b"k", b"v", 0, None, done(error=OSError())))
        batch.hold(kept)
        batch.hold(revoked)
        kept.ack(None)
        revoked.ack(None)
        outbox.close(batch)
        outbox.forget(lambda message: message is not revoked)
        await settle(outbox)
        assert kept.released and not revoked.released
        running.cancel()

    asyncio.run(scenario())


def test_records_that_failed_together_are_sent_again_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams.outbox, "RETRY_SECONDS", (0.2,))  # 200 s if one per record

    async def scenario() -> None:
        rounds: list[int] = []
        resent: list[Record] = []

        async def resend(record: Record, error: BaseException) -> asyncio.Future[Any]:
            resent.append(record)
            return done("metadata")

        writes = Writes()
        records = [Record("t", b"k", b"v", 0, None, done(error=OSError())) for _ in range(1000)]
        started = asyncio.get_running_loop().time()
        await writes.until_written(records, resend)
        rounds.append(len(resent))
        assert rounds == [1000] and not writes.failing
        assert asyncio.get_running_loop().time() - started < 1, "one wait, not one per record"

    asyncio.run(scenario())
