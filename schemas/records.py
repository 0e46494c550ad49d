"""Typed records for the input events.

Timestamps are :data:`Instant` values: whole microseconds since the Unix epoch (UTC). An
integer compares exactly, sorts the (timestamp, event_id) tie-break of the contract without
float rounding, and turns into a local day with one division.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Instant = int
"""Microseconds since 1970-01-01T00:00:00Z."""

ProcessingUnit = Literal["working_days", "calendar_days", "hours"]
Rating = Literal["very_satisfied", "satisfied", "dissatisfied"]
Rank = Literal["tot", "kha", "trung_binh", "yeu"]
Outcome = Literal["resolved", "returned", "rejected", "stopped", "withdrawn"]
PauseReason = Literal["supplement", "financial_obligation"]


FLAGS = {"fee_due": 1, "paid_online": 2, "digitised": 4, "result_digital": 8}
"""(v1.2) The optional flags of a submission or a completion, and their bits: a fee is
due; it was paid online; the dossier's parts were digitised; an electronic result was
issued. Only ``true`` sets a bit: ``false`` and absent say nothing. A dossier's flags
are those its winning submission and its winning completion set (contract §4's winners):
a later submission replaces an earlier one's flags, as it replaces the rest of it."""


class EventKind(enum.Enum):
    """The input event types of section 2; the value is the default topic's suffix."""

    SUBMITTED = "dossier-submitted"
    COMPLETED = "dossier-completed"
    SURVEY = "satisfaction-survey"
    RANKING = "unit-ranking"
    PAUSE = "dossier-pause"
    RESCHEDULED = "dossier-rescheduled"


@dataclass(frozen=True, slots=True)
class ProcessingTime:
    amount: int
    unit: ProcessingUnit


@dataclass(frozen=True, slots=True)
class DossierSubmitted:
    event_id: str
    unit_id: str
    dossier_id: str
    received_at: Instant
    due_at: Instant | None
    processing_time: ProcessingTime | None
    official_id: str | None
    procedure_code: str | None
    channel: str | None
    field_code: str | None = None
    """(v1.2) The dossier's field (lĩnh vực)."""
    submitted_at: Instant | None = None
    """(v1.2) When the citizen submitted it online, before the desk received it."""
    flags: int = 0
    """(v1.2) The :data:`FLAGS` it sets: fees, payment, digitisation."""

    @property
    def timestamp(self) -> Instant:
        return self.received_at


@dataclass(frozen=True, slots=True)
class DossierCompleted:
    event_id: str
    unit_id: str
    dossier_id: str
    completed_at: Instant
    official_id: str | None
    outcome: Outcome
    flags: int = 0
    """(v1.2) The :data:`FLAGS` it sets at the dossier's end."""

    @property
    def timestamp(self) -> Instant:
        return self.completed_at


@dataclass(frozen=True, slots=True)
class DossierPause:
    """One copy of a pause: the open one (``resumed_at`` None), or the resumed one."""

    event_id: str
    unit_id: str
    dossier_id: str
    pause_id: str
    reason: PauseReason
    paused_at: Instant
    resumed_at: Instant | None
    official_id: str | None

    @property
    def timestamp(self) -> Instant:
        return self.paused_at if self.resumed_at is None else self.resumed_at


@dataclass(frozen=True, slots=True)
class DossierRescheduled:
    event_id: str
    unit_id: str
    dossier_id: str
    rescheduled_at: Instant
    new_due_at: Instant
    apology: bool
    official_id: str | None

    @property
    def timestamp(self) -> Instant:
        return self.rescheduled_at


@dataclass(frozen=True, slots=True)
class SatisfactionSurvey:
    event_id: str
    unit_id: str
    surveyed_at: Instant
    rating: Rating
    dossier_id: str | None
    official_id: str | None

    @property
    def timestamp(self) -> Instant:
        return self.surveyed_at

    @property
    def satisfied(self) -> bool:
        return self.rating != "dissatisfied"


@dataclass(frozen=True, slots=True)
class UnitRanking:
    event_id: str
    unit_id: str
    year: int
    rank: Rank
    published_at: Instant

    @property
    def timestamp(self) -> Instant:
        return self.published_at


DossierEvent = (
    DossierSubmitted | DossierCompleted | SatisfactionSurvey | DossierPause | DossierRescheduled
)
"""Events that belong to a dossier (a survey only when it names one)."""
Event = DossierEvent | UnitRanking
