"""The event contract of cchc-monitor (``../shared/spec/metrics.md``, sections 1-2).

The JSON Schema files in ``schemas/json/`` are the single source of truth: producers in
any language can validate against them, and :mod:`schemas.codec` compiles the very same
files to validate and decode messages in Python into the typed records of
:mod:`schemas.records`.
"""

from schemas.codec import MAX_PAYLOAD_BYTES, InvalidEvent, decode, encode
from schemas.records import (
    DossierCompleted,
    DossierSubmitted,
    Event,
    EventKind,
    Instant,
    ProcessingTime,
    SatisfactionSurvey,
    UnitRanking,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DossierCompleted",
    "DossierSubmitted",
    "Event",
    "EventKind",
    "Instant",
    "InvalidEvent",
    "ProcessingTime",
    "SatisfactionSurvey",
    "UnitRanking",
    "decode",
    "encode",
]
