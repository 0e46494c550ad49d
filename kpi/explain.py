"""Why a dossier counts as it does (contract §8, ``GET /api/dossiers/{dossier_id}``).

A unit office asks why a dossier is late, or why it is not: its deadline, the time it
waited for the citizen, the supplement requests, and for a sync dossier the quality marks
of what its system sent. Everything comes from the dossier's own state, at the clock::

    >>> from kpi.dossier import DossierState, Pause, Submission
    >>> hour = 3_600_000_000
    >>> state = DossierState(Submission(0, "s", 10 * hour, "cb-lan"),
    ...                      pauses=(Pause("p", "e", True, 2 * hour, 5 * hour),))
    >>> told = explain(state, 12 * hour)
    >>> told.state, told.late, told.effective_due_at // hour, told.supplement_requests
    ('open', False, 13, 1)
"""

from __future__ import annotations

from typing import NamedTuple

from kpi.dossier import (
    NO_DETAIL,
    Detail,
    DossierState,
    Pause,
    dossier_flags,
    overdue_from,
    paused_time,
)
from schemas.records import Instant


class Explanation(NamedTuple):
    source: str
    """"sync" when a national sync record gives the dossier, else "events"."""
    state: str
    """``open_overdue``, ``paused``, ``open``, or once ended its outcome."""
    late: bool | None
    """Late now, or when it ended; None without a deadline."""
    received_at: Instant
    due_at: Instant | None
    effective_due_at: Instant | None
    """``due_at`` plus the time paused up to its end, or up to now."""
    ended_at: Instant | None
    official_id: str | None
    pauses: tuple[Pause, ...]
    """In the order they began."""
    supplement_requests: int
    """Supplement requests made after receipt, up to its end or now."""
    detail: Detail
    """A sync dossier's channel and quality marks (an event dossier keeps none)."""
    field: str
    """Its field (lĩnh vực), "" when none was given."""
    procedure: str
    """Its procedure's code, "" when none was given."""
    flags: int
    """Its submission's and completion's :data:`schemas.records.FLAGS`, and
    :data:`kpi.dossier.RECEIVED_LATE`."""


def explain(state: DossierState, now: Instant) -> Explanation | None:
    """The explanation of a dossier at ``now``; None for one that counts nowhere (its
    submission has not come, or its sync record says it was never received)."""
    submission, completion, pauses = state.parts()
    if submission is None:
        return None
    snapshot = state.snapshot
    synced = snapshot is not None and snapshot.here
    until = now if completion is None else completion.at
    received = submission.at
    requests = sum(1 for p in pauses if p.supplement and received <= p.at < until)
    effective = None
    if submission.due is not None:
        effective = submission.due + paused_time(received, pauses, until)
    overdue = overdue_from(submission, pauses) if pauses else submission.due
    late = None if submission.due is None else overdue is not None and overdue < until
    if completion is not None:
        told = completion.outcome
    elif late:
        told = "open_overdue"
    elif any(lo < now and (hi is None or now <= hi) for lo, hi in state.paused_spans()):
        told = "paused"
    else:
        told = "open"
    detail = snapshot.detail if snapshot is not None and synced else NO_DETAIL
    return Explanation(
        "sync" if synced else "events",
        told,
        late,
        received,
        submission.due,
        effective,
        None if completion is None else completion.at,
        state.official,
        tuple(sorted(pauses, key=lambda pause: (pause.at, pause.pause_id))),
        requests,
        detail,
        submission.field,
        submission.procedure,
        dossier_flags(submission, completion),
    )
