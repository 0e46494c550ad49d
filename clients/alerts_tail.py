"""``cchc alerts tail``: print alert state changes as they happen, in Vietnamese or English.

It reads every partition of the alerts topic by explicit assignment (no consumer-group
join, so it starts at once) and prints what comes after the end it finds, or everything
with ``--from-beginning``. The topic may repeat a message (writes to Kafka are at least
once): each (``alert_id``, ``sequence``) is printed once (:class:`kpi.alerts.SeenAlerts`).
So that a repeat just after the end it found is known for one, it reads from the
beginning either way, and prints nothing of what comes before that end.

    >>> print(describe({"rule": "unit_late_rate", "state": "firing", "unit_id": "xa-cam-lam",
    ...     "official_id": None, "period": "2026", "value": 0.0625, "threshold": 0.05,
    ...     "numerator": 5, "denominator": 80, "started_at": "2026-03-02T08:00:00+07:00"},
    ...     {"xa-cam-lam": "Xã Cam Lâm"}, "vi"))
    ... # doctest: +NORMALIZE_WHITESPACE
    [CẢNH BÁO] Xã Cam Lâm · Tỷ lệ hồ sơ trễ hạn 6,2 % (5/80), ngưỡng 5 % · năm 2026 ·
    từ 2026-03-02 08:00
    >>> print(describe({"rule": "official_late_rate", "state": "resolved", "unit_id": "u",
    ...     "official_id": "cb-1", "period": "2026", "value": 0.125, "threshold": 0.1,
    ...     "numerator": 1, "denominator": 8, "started_at": "2026-03-02T08:00:00+07:00"},
    ...     {}, "en"))
    ... # doctest: +NORMALIZE_WHITESPACE
    [RESOLVED] u · Late-dossier rate of an official (cb-1) 12.5% (1/8), threshold 10% ·
    year 2026 · since 2026-03-02 08:00
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable
from typing import Any, TextIO

from kafka import KafkaConsumer, TopicPartition

from kpi.alerts import SeenAlerts
from kpi.rules import RULE_NAMES
from schemas.codec import InvalidEvent, decode_alert
from streams.kafka import options_for
from streams.settings import Settings
from streams.topics import TopicNames

STATES = {
    "vi": {"firing": "CẢNH BÁO", "resolved": "ĐÃ HẾT"},
    "en": {"firing": "FIRING", "resolved": "RESOLVED"},
}
WORDS = {"vi": ("năm", "từ", "ngưỡng"), "en": ("year", "since", "threshold")}


def percent(value: float, lang: str) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return (text.replace(".", ",") + " %") if lang == "vi" else text + "%"


def printable(text: str) -> str:
    r"""``text`` with control, format and unassigned characters escaped: ids come from
    other people's systems and must not move a terminal's cursor or rewrite its lines.

    >>> print(printable("xã-a\x1b[2J\u202e\n"))
    xã-a\x1b[2J\u202e\n
    """
    return "".join(
        c.encode("unicode_escape").decode()
        if unicodedata.category(c)[0] in "CZ" and c != " "
        else c
        for c in text
    )


def describe(alert: dict[str, Any], names: dict[str, str], lang: str = "vi") -> str:
    year_word, since_word, threshold_word = WORDS[lang]
    rule = RULE_NAMES[lang].get(alert["rule"], alert["rule"])
    if alert.get("official_id"):
        rule = f"{rule} ({alert['official_id']})"  # as the screen writes it
    if alert.get("value") is not None:
        figures = (
            f"{percent(alert['value'], lang)} ({alert['numerator']}/{alert['denominator']}), "
            f"{threshold_word} {percent(alert['threshold'], lang)}"
        )
        rule = f"{rule} {figures}"
    elif alert.get("detail"):
        rule = f"{rule} ({alert['detail']})"
    since = alert["started_at"][:16].replace("T", " ")
    unit = names.get(alert["unit_id"], alert["unit_id"])
    return printable(
        f"[{STATES[lang][alert['state']]}] {unit} · {rule} · {year_word} {alert['period']} · "
        f"{since_word} {since}"
    )


def tail(
    settings: Settings,
    names: dict[str, str],
    units: Iterable[str] = (),
    rules: Iterable[str] = (),
    lang: str = "vi",
    from_beginning: bool = False,
    out: TextIO = sys.stdout,
    max_messages: int | None = None,
) -> None:
    assert settings.kafka_broker is not None
    topic = TopicNames(settings.topic_prefix).alerts
    wanted_units, wanted_rules = set(units), set(rules)
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, **options_for(settings))
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = {} if from_beginning else consumer.end_offsets(partitions)
        shows_from = {tp.partition: ends.get(tp, 0) for tp in partitions}
        consumer.seek_to_beginning(*partitions)
        seen = SeenAlerts()
        shown = 0
        while max_messages is None or shown < max_messages:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    shows = record.offset >= shows_from[record.partition]
                    try:
                        alert = decode_alert(record.value)
                    except InvalidEvent as error:
                        if shows:
                            where = f"{record.topic}[{record.partition}]@{record.offset}"
                            reason = printable(error.reason)
                            print(
                                f"cchc: skipped unreadable alert {where}: {reason}", file=sys.stderr
                            )
                        continue
                    if (wanted_units and alert["unit_id"] not in wanted_units) or (
                        wanted_rules and alert["rule"] not in wanted_rules
                    ):
                        continue
                    if seen.first(record.partition, record.offset, alert) and shows:
                        print(describe(alert, names, lang), file=out, flush=True)
                        shown += 1
                        if shown == max_messages:
                            return
    finally:
        consumer.close()
