"""The periodic report on dossier settlement, form 06 (contract §10), from daily counts.

Every dossier its unit counts adds to the unit's *report buckets*: one integer per field
and local day. The integer packs a count per *lane* (received online, settled late, the
start of an overdue spell, ...) in 40-bit lanes, so that adding two buckets adds every
lane at once and a period's sum is one ``sum()``; no lane is ever negative, since a
change adds the dossier's new entries before it takes back its old ones.

    >>> both = ONE["received_online"] + ONE["settled_late"]
    >>> lanes(both + ONE["settled_late"])["settled_late"]
    2

The buckets do not depend on the clock: a dossier's receipt, its end and the starts and
ends of its overdue and paused spells are each counted on their local day. Any column at
a day boundary T is then a sum over the days before T (in progress at T: received before T
less ended before T), so a report period may end on any day, a cut-off day included.
For the period that holds the clock c, the days up to c's are summed and the caller takes
back what falls on c's day at or after c (:func:`ahead_of`), found among the open
dossiers whose deadlines and pauses the engine's clock already follows.

A dossier's end for the report is its completion, or its receipt when the completion is
dated before it: a dossier is never settled before it was received, so column 1 equals
column 5 plus column 9 whatever producers send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from kpi.dossier import DossierState, Pause, overdue_from, paused_time
from kpi.periods import day_of
from schemas.records import Instant

LANES = (
    "received_online",
    "received_other",
    "settled_early",
    "settled_on_time",
    "settled_late",
    "overdue_from",
    "overdue_to",
    "paused_from",
    "paused_to",
    "returned",
    "rejected",
    "stopped",
    "withdrawn",
    "surveys",
    "satisfied",
)
_BITS = 40
_MASK = (1 << _BITS) - 1
ONE = {name: 1 << (_BITS * lane) for lane, name in enumerate(LANES)}
"""A count of one in each lane."""
_OUTCOME = {name: ONE[name] for name in ("returned", "rejected", "stopped", "withdrawn")}

UNCLASSIFIED = ""
"""The field of a dossier that names none and whose procedure the catalogue lacks."""

Entry = tuple[str, int, int]
"""(field, local day, packed counts) of one dossier."""


def lanes(packed: int) -> dict[str, int]:
    """The count in each lane of a packed bucket."""
    return {name: (packed >> (_BITS * lane)) & _MASK for lane, name in enumerate(LANES)}


def report_entries(state: DossierState) -> list[Entry]:
    """What one dossier adds to its unit's report buckets (nothing before its receipt)."""
    submission, completion, pauses = state.parts()
    if submission is None:
        return []
    field = submission.field
    received = submission.at
    channel = "received_online" if submission.online else "received_other"
    entries = [(field, day_of(received), ONE[channel])]
    due = overdue_from(submission, pauses) if pauses else submission.due
    if completion is not None:
        end = max(completion.at, received)
        if due is not None and completion.at > due:
            lane = ONE["settled_late"]
        elif submission.due is not None and _early(completion.at, received, submission.due, pauses):
            lane = ONE["settled_early"]
        else:
            lane = ONE["settled_on_time"]
        entries.append((field, day_of(end), lane + _OUTCOME.get(completion.outcome, 0)))
    if due is not None:
        lo = max(received, due)
        hi = None if completion is None else completion.at
        if hi is None or lo < hi:
            entries.extend(_spell(field, lo, hi, "overdue_from", "overdue_to"))
    if pauses:
        for lo, hi in state.paused_spans():
            entries.extend(_spell(field, lo, hi, "paused_from", "paused_to"))
    vote = state.vote
    if vote is not None:
        entries.append((field, *vote_entry(vote.at, vote.satisfied)))
    return entries


def vote_entry(at: Instant, satisfied: bool) -> tuple[int, int]:
    """(local day, packed counts) of one vote."""
    return day_of(at), ONE["surveys"] + (ONE["satisfied"] if satisfied else 0)


def _early(end: Instant, received: Instant, due: Instant, pauses: tuple[Pause, ...]) -> bool:
    """Settled before the due day: τ(end) falls on a local day before the one of the last
    instant before ``due`` (a deadline at 24:00 falls on the day it closes)."""
    effective = end - paused_time(received, pauses, end) if pauses else end
    return day_of(effective) < day_of(due - 1)


def _spell(field: str, lo: Instant, hi: Instant | None, start: str, stop: str) -> list[Entry]:
    """A spell that holds at t when ``lo < t <= hi``: it has begun at a day boundary T
    when its start's day is before T's, and ended when its end's day is."""
    if hi is None:
        return [(field, day_of(lo), ONE[start])]
    return [(field, day_of(lo), ONE[start]), (field, day_of(hi), ONE[stop])]


def ahead_of(state: DossierState, clock: Instant) -> list[Entry]:
    """What the dossier's buckets count on the clock's day that has not happened at the
    clock: an overdue or paused spell that begins later that day, a pause that ends later
    that day. The caller takes it back from the sums of the period that holds the clock.

    Receipts and ends are counted by their day: one dated later on the clock's day (a
    producer's clock running ahead) counts as before the clock. A spell that both begins
    and ends later that day already adds nothing, and one whose end is the dossier's end
    ends with it.
    """
    submission, completion, pauses = state.parts()
    if submission is None:
        return []
    today = day_of(clock)
    ended_today = completion is not None and day_of(max(completion.at, submission.at)) <= today
    found: list[Entry] = []
    spells: list[tuple[Instant, Instant | None, str, str]] = []
    due = overdue_from(submission, pauses) if pauses else submission.due
    if due is not None:
        end = None if completion is None else completion.at
        spells.append((max(submission.at, due), end, "overdue_from", "overdue_to"))
    spells.extend((lo, hi, "paused_from", "paused_to") for lo, hi in state.paused_spans())
    for lo, hi, start, stop in spells:
        if hi is not None and hi <= lo:
            continue
        if clock <= lo and day_of(lo) == today and (hi is None or day_of(hi) > today):
            found.append((submission.field, today, ONE[start]))
        elif hi is not None and lo < clock <= hi and day_of(hi) == today and not ended_today:
            found.append((submission.field, today, ONE[stop]))
    return found


class ReportTotals:
    """A unit's report buckets: per field, per local day, packed counts."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, dict[int, int]] = {}

    def apply(self, entries: Iterable[Entry], sign: int) -> None:
        fields = self.fields
        for field, day, packed in entries:
            days = fields.get(field)
            if days is None:
                days = fields[field] = {}
            days[day] = days.get(day, 0) + sign * packed
            if not days[day]:
                del days[day]
                if not days:
                    del fields[field]

    def window(self, first_day: int, stop_day: int) -> dict[str, tuple[int, int]]:
        """Per field, the packed sums (before, within) of the days before ``first_day``
        and of ``[first_day, stop_day)``."""
        found = {}
        for field, days in self.fields.items():
            before = within = 0
            for day, packed in days.items():
                if day < first_day:
                    before += packed
                elif day < stop_day:
                    within += packed
            found[field] = (before, within)
        return found


class Counts(NamedTuple):
    """One row of form 06: its 11 columns, then what the report gives beside them."""

    received: int
    new_online: int
    new_other: int
    carried_over: int
    settled: int
    early: int
    on_time: int
    late: int
    in_progress: int
    within_time: int
    overdue: int
    paused: int = 0
    resolved: int = 0
    returned: int = 0
    rejected: int = 0
    stopped: int = 0
    withdrawn: int = 0
    surveys: int = 0
    satisfied: int = 0

    @classmethod
    def of(cls, before: int, within: int) -> Counts:
        """The row of the packed sums of the days before the period and in it.

        >>> Counts.of(ONE["received_other"], ONE["received_online"] + ONE["settled_late"])[:11]
        (2, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0)
        """
        b, w, upto = lanes(before), lanes(within), lanes(before + within)
        ended = ("settled_early", "settled_on_time", "settled_late")
        carried = b["received_online"] + b["received_other"] - sum(b[n] for n in ended)
        in_progress = upto["received_online"] + upto["received_other"]
        in_progress -= sum(upto[n] for n in ended)
        overdue = upto["overdue_from"] - upto["overdue_to"]
        settled = sum(w[n] for n in ended)
        new = w["received_online"] + w["received_other"]
        others = sum(w[n] for n in _OUTCOME)
        return cls(
            new + carried,
            w["received_online"],
            w["received_other"],
            carried,
            settled,
            w["settled_early"],
            w["settled_on_time"],
            w["settled_late"],
            in_progress,
            in_progress - overdue,
            overdue,
            upto["paused_from"] - upto["paused_to"],
            settled - others,
            w["returned"],
            w["rejected"],
            w["stopped"],
            w["withdrawn"],
            w["surveys"],
            w["satisfied"],
        )

    def plus(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self, other, strict=True)))

    @property
    def balanced(self) -> bool:
        """The form's own check: column 1 equals column 5 plus column 9."""
        return self.received == self.settled + self.in_progress


ZERO = Counts(*(0 for _ in Counts._fields))


def total(rows: Iterable[Counts]) -> Counts:
    found = ZERO
    for row in rows:
        found = found.plus(row)
    return found


def field_rows(
    totals: ReportTotals,
    first_day: int,
    stop_day: int,
    ahead: Mapping[str, int],
) -> dict[str, Counts]:
    """A unit's rows by field for the days ``[first_day, stop_day)``, less ``ahead`` (per
    field, what :func:`ahead_of` found; empty for a period that ended before the clock)."""
    rows = {}
    for field, (before, within) in totals.window(first_day, stop_day).items():
        row = Counts.of(before, within - ahead.get(field, 0))
        if row != ZERO:
            rows[field] = row
    return rows
