"""The webhook agents deliver each (alert, sequence) once, although the topic may repeat it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

import agents.webhooks
from streams.settings import Settings
from streams.webhooks import Subscription
from tests.fakes import alert_message

TOPIC = "cchc.alerts"


def message(alert_id: str, sequence: int, unit_id: str = "u") -> bytes:
    return alert_message(alert_id, sequence, unit_id=unit_id)


class Deliverer:
    """Takes the place of streams.webhooks.Deliverer: records what it would deliver."""

    def __init__(self, *subscriptions: Subscription) -> None:
        self.subscriptions = list(subscriptions)
        self.delivered: list[tuple[str, str, int]] = []

    async def deliver(self, subscription: Subscription, alert: dict[str, Any]) -> None:
        if subscription.wants(alert):
            self.delivered.append((subscription.name, alert["alert_id"], alert["sequence"]))


class Topic:
    """Partition 0 of the alerts topic, in memory, and the reads of it an agent makes."""

    def __init__(self, *values: bytes) -> None:
        self.values = list(values)
        self.reads: list[tuple[int, int]] = []

    def record(self, offset: int) -> SimpleNamespace:
        return SimpleNamespace(topic=TOPIC, partition=0, offset=offset, value=self.values[offset])

    async def read_to_end(
        self,
        settings: Settings,
        topic: str,
        starts: dict[int, int],
        stall: float = 60.0,
        ends: dict[int, int] | None = None,
    ) -> AsyncIterator[list[SimpleNamespace]]:
        assert topic == TOPIC and ends is not None
        self.reads.append((starts[0], ends[0]))
        yield [self.record(offset) for offset in range(starts[0], ends[0])]


class Stream:
    """What Faust hands an agent: events, each with its message's place."""

    def __init__(self, topic: Topic, offsets: list[int]) -> None:
        self.topic, self.offsets = topic, offsets

    async def events(self) -> AsyncIterator[Any]:
        for offset in self.offsets:
            record = self.topic.record(offset)
            yield SimpleNamespace(message=record, value=record.value)


def agent_of(deliverer: Deliverer) -> Any:
    """The agent ``agents.webhooks.install`` registers for the first subscription."""
    registered: dict[str, Any] = {}

    def agent(channel: Any, name: str) -> Any:
        return lambda function: registered.setdefault(name, function)

    app = SimpleNamespace(topic=lambda *args, **options: "channel", agent=agent)
    worker = SimpleNamespace(
        app=app,
        topics=SimpleNamespace(alerts=TOPIC),
        settings=Settings(kafka_broker="kafka://127.0.0.1:9"),
    )
    agents.webhooks.install(worker, deliverer)  # type: ignore[arg-type]
    return registered["webhook-0"]


@pytest.fixture
def office() -> Subscription:
    return Subscription("office", "https://office.example/hook", b"s", units=frozenset({"u"}))


def run(deliverer: Deliverer, topic: Topic, *offsets: int) -> list[tuple[str, int]]:
    """(alert id, sequence) of what the agent delivers of these records, in this order."""
    asyncio.run(agent_of(deliverer)(Stream(topic, list(offsets))))
    return [(alert_id, sequence) for _, alert_id, sequence in deliverer.delivered]


def test_a_repeated_message_is_delivered_once(
    office: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = Topic(
        message("a", 1),
        message("a", 1),  # a write that timed out but had landed, sent again
        message("b", 1),
        message("a", 2),
        message("other", 1, unit_id="elsewhere"),  # not the office's
        message("a", 2),
        b"not an alert",
        message("a", 3),
    )
    monkeypatch.setattr(agents.webhooks, "read_to_end", topic.read_to_end, raising=False)
    delivered = run(Deliverer(office), topic, *range(8))
    assert delivered == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    assert topic.reads == [], "an agent that starts at the beginning reads nothing twice"


def test_an_agent_resuming_mid_topic_knows_what_came_before(
    office: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Committed up to offset 2: "a" 2 was delivered; its copy at offset 2 is not news.
    topic = Topic(message("a", 1), message("a", 2), message("a", 2), message("a", 3))
    monkeypatch.setattr(agents.webhooks, "read_to_end", topic.read_to_end, raising=False)
    assert run(Deliverer(office), topic, 2, 3) == [("a", 3)]
    assert topic.reads == [(0, 2)], "what came before is read once"


def test_records_had_already_are_passed_over_after_a_rebalance(
    office: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = Topic(message("a", 1), message("b", 1), message("a", 2), message("c", 1))
    monkeypatch.setattr(agents.webhooks, "read_to_end", topic.read_to_end, raising=False)
    # The partition goes away after offset 1 and comes back at the offset committed then
    # (0); then it goes to another worker, which delivers offset 2 and commits 3.
    assert run(Deliverer(office), topic, 0, 1, 0, 1, 3) == [("a", 1), ("b", 1), ("c", 1)]
    assert topic.reads == [(2, 3)], "only what another worker had is read"
