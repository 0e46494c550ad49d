"""``cchc alerts tail`` prints each (alert, sequence) once, although the topic may repeat it."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest

import clients.alerts_tail
from clients.alerts_tail import tail
from streams.settings import Settings
from tests.fakes import alert_message


def message(sequence: int, unit_id: str = "xa-cam-lam") -> bytes:
    alert_id = f"unit_late_rate|{unit_id}||2026"
    # numerator and denominator say which message a line shows
    return alert_message(
        alert_id, sequence, unit_id=unit_id, numerator=sequence, denominator=2 * sequence
    )


class Drained(Exception):
    """The fake topic has nothing more: a tail still waiting has missed something."""


class Topic:
    """One partition of the alerts topic in memory, whose end (as ListOffsets reports it
    when the tail starts) is ``end``: the records after it arrive while the tail runs."""

    def __init__(self, values: list[bytes], end: int | None = None) -> None:
        self.values, self.end = values, len(values) if end is None else end

    def consumer(self, **options: Any) -> Any:
        topic = self

        class Consumer:
            def __init__(self) -> None:
                self.position = 0

            def partitions_for_topic(self, name: str) -> set[int]:
                return {0}

            def assign(self, partitions: list[Any]) -> None:
                self.partition = partitions[0]

            def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
                return {tp: topic.end for tp in partitions}

            def seek_to_beginning(self, *partitions: Any) -> None:
                self.position = 0

            def seek_to_end(self, *partitions: Any) -> None:
                self.position = topic.end

            def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
                if self.position >= len(topic.values):
                    raise Drained
                records = [
                    SimpleNamespace(topic="t", partition=0, offset=offset, value=value)
                    for offset, value in enumerate(topic.values)
                ][self.position :]
                self.position = len(topic.values)
                return {self.partition: records}

            def close(self) -> None:
                pass

        return Consumer()


def lines(topic: Topic, monkeypatch: pytest.MonkeyPatch, count: int, **options: Any) -> list[str]:
    monkeypatch.setattr(clients.alerts_tail, "KafkaConsumer", topic.consumer)
    out = io.StringIO()
    settings = Settings(kafka_broker="kafka://127.0.0.1:9")
    tail(settings, {}, lang="en", out=out, max_messages=count, **options)
    return [line.split(" · ")[1] for line in out.getvalue().splitlines()]


def test_from_the_beginning_a_repeated_message_is_printed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = Topic(
        [message(1), message(1), message(2), message(1, "xa-khac"), message(2), message(3)]
    )
    shown = lines(topic, monkeypatch, 3, from_beginning=True, units=["xa-cam-lam"])
    assert [line.split(" (")[1][:3] for line in shown] == ["1/2", "2/4", "3/6"]


def test_from_the_end_a_repeat_of_what_came_before_is_not_news(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The tail starts after the second message; a copy of it lands just after.
    topic = Topic([message(1), message(2), message(2), message(3)], end=2)
    shown = lines(topic, monkeypatch, 1)
    assert [line.split(" (")[1][:3] for line in shown] == ["3/6"]
