"""The periodic report on dossier settlement, form 06 (contract §10), from daily counts.

Every dossier its unit counts adds to the unit's *report buckets*: one integer per
:data:`Slot` (its field and procedure) and local day. The integer packs a count per
*lane* (received online, settled late, the start of an overdue spell, ...) in 40-bit
lanes, so that adding two buckets adds every lane at once and a period's sum is one
``sum()``. A stored bucket is always the packing of true counts, none negative, so lanes
never borrow from each other.

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

from kpi.dossier import (
    RECEIVED_LATE,
    Completion,
    DossierState,
    Pause,
    Submission,
    dossier_flags,
    overdue_from,
    paused_time,
)
from kpi.figures import add_count
from kpi.periods import day_of
from schemas.records import FLAGS, Instant

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
    "fee_due",
    "paid_online",
    "digitised",
    "received_late",
    "result_digital",
)
_BITS = 40
_MASK = (1 << _BITS) - 1
ONE = {name: 1 << (_BITS * lane) for lane, name in enumerate(LANES)}
"""A count of one in each lane."""
_OUTCOME = {name: ONE[name] for name in ("returned", "rejected", "stopped", "withdrawn")}
_RECEIPT_FLAGS = {
    "fee_due": FLAGS["fee_due"],
    "paid_online": FLAGS["paid_online"],
    "digitised": FLAGS["digitised"],
    "received_late": RECEIVED_LATE,
}
_AT_RECEIPT = [
    sum(ONE[lane] for lane, bit in _RECEIPT_FLAGS.items() if flags & bit) for flags in range(32)
]
"""What a dossier's flags (:func:`kpi.dossier.dossier_flags`) add to its receipt's bucket."""
_WITH_RESULT = frozenset({"resolved", "returned"})
"""Outcomes that give the citizen a result, which may be electronic."""

UNCLASSIFIED = ""
"""The field of a dossier that names none and whose procedure the catalogue lacks."""

Slot = tuple[str, str]
"""(field, procedure) a dossier counts under: "" for none."""
Entry = tuple[Slot, int, int]
"""(slot, local day, packed counts) of one dossier."""


def lanes(packed: int) -> dict[str, int]:
    """The count in each lane of a packed bucket."""
    return {name: (packed >> (_BITS * lane)) & _MASK for lane, name in enumerate(LANES)}


def report_entries(state: DossierState) -> list[Entry]:
    """What one dossier adds to its unit's report buckets (nothing before its receipt)."""
    submission, completion, pauses = state.parts()
    if submission is None:
        return []
    field = (submission.field, submission.procedure)
    received = submission.at
    channel = "received_online" if submission.online else "received_other"
    flags = dossier_flags(submission, completion)
    entries = [(field, day_of(received), ONE[channel] + _AT_RECEIPT[flags])]
    due = overdue_from(submission, pauses) if pauses else submission.due
    if completion is not None:
        end = settled_at(submission, completion)
        if due is not None and completion.at > due:
            lane = ONE["settled_late"]
        elif submission.due is not None and _early(completion.at, received, submission.due, pauses):
            lane = ONE["settled_early"]
        else:
            lane = ONE["settled_on_time"]
        lane += _OUTCOME.get(completion.outcome, 0)
        if flags & FLAGS["result_digital"] and completion.outcome in _WITH_RESULT:
            lane += ONE["result_digital"]
        entries.append((field, day_of(end), lane))
    for lo, hi, start, stop in _spells(state, due):
        entries.append((field, day_of(lo), ONE[start]))
        if hi is not None:
            entries.append((field, day_of(hi), ONE[stop]))
    vote = state.vote
    if vote is not None:
        entries.append((field, *vote_entry(vote.at, vote.satisfied)))
    return entries


def settled_at(submission: Submission, completion: Completion) -> Instant:
    """A dossier's end for the report: its completion, or its receipt when the completion
    is dated before it (never settled before it was received: column 1 = 5 + 9)."""
    return max(completion.at, submission.at)


def report_days(state: DossierState | None) -> tuple[int | None, int | None]:
    """The local days of a dossier's receipt and of its end for the report (None: it has
    none): where :mod:`kpi.index` files it."""
    if state is None:
        return None, None
    submission, completion, _ = state.parts()
    if submission is None:
        return None, None
    received = submission.at
    return day_of(received), None if completion is None else day_of(
        settled_at(submission, completion)
    )


def vote_entry(at: Instant, satisfied: bool) -> tuple[int, int]:
    """(local day, packed counts) of one vote."""
    return day_of(at), ONE["surveys"] + (ONE["satisfied"] if satisfied else 0)


def _early(end: Instant, received: Instant, due: Instant, pauses: tuple[Pause, ...]) -> bool:
    """Settled before the due day: τ(end) falls on a local day before the one of the last
    instant before ``due`` (a deadline at 24:00 falls on the day it closes)."""
    effective = end - paused_time(received, pauses, end) if pauses else end
    return day_of(effective) < day_of(due - 1)


Spell = tuple[Instant, Instant | None, str, str]
"""(lo, hi, the lane of its start, the lane of its end) of a spell that holds at t when
``lo < t <= hi`` (hi None: for ever): at a day boundary T it has begun when its start's
day is before T's, and ended when its end's day is."""


def _spells(state: DossierState, due: Instant | None) -> list[Spell]:
    """The dossier's overdue spell (``due``: when it turns overdue, after its pauses) and
    its paused spells, those that ever hold."""
    submission, completion, pauses = state.parts()
    assert submission is not None  # only a received dossier has spells
    spells: list[Spell] = []
    if due is not None:
        lo, hi = max(submission.at, due), None if completion is None else completion.at
        if hi is None or lo < hi:
            spells.append((lo, hi, "overdue_from", "overdue_to"))
    if pauses:
        spells.extend((lo, hi, "paused_from", "paused_to") for lo, hi in state.paused_spans())
    return spells


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
    ended = completion is not None and day_of(settled_at(submission, completion)) <= today
    found: list[Entry] = []
    due = overdue_from(submission, pauses) if pauses else submission.due
    for lo, hi, start, stop in _spells(state, due):
        if clock <= lo and day_of(lo) == today and (hi is None or day_of(hi) > today):
            found.append(((submission.field, submission.procedure), today, ONE[start]))
        elif hi is not None and lo < clock <= hi and day_of(hi) == today and not ended:
            found.append(((submission.field, submission.procedure), today, ONE[stop]))
    return found


class ReportTotals:
    """A unit's report buckets: per slot, per local day, packed counts."""

    __slots__ = ("slots",)

    def __init__(self) -> None:
        self.slots: dict[Slot, dict[int, int]] = {}

    def change(self, before: list[Entry], after: list[Entry]) -> None:
        """A dossier's entries were ``before`` and are ``after``: only the buckets whose
        counts change are touched (most changes keep its receipt and its deadline's day).
        A bucket's change may take from one lane and give to another; Python's integers
        are exact, so the stored sum is the packing of the bucket's true counts, which are
        never negative."""
        delta: dict[tuple[Slot, int], int] = {}
        for slot, day, packed in after:
            delta[slot, day] = delta.get((slot, day), 0) + packed
        for slot, day, packed in before:
            delta[slot, day] = delta.get((slot, day), 0) - packed
        for (slot, day), change in delta.items():
            if change:
                add_count(self.slots, slot, day, change)

    def has_field(self, field: str) -> bool:
        return any(slot[0] == field for slot in self.slots)

    def window(self, first_day: int, stop_day: int) -> dict[Slot, tuple[int, int]]:
        """Per slot, the packed sums (before, within) of the days before ``first_day``
        and of ``[first_day, stop_day)``."""
        return {slot: split(days.items(), first_day, stop_day) for slot, days in self.slots.items()}


def split(days: Iterable[tuple[int, int]], first_day: int, stop_day: int) -> tuple[int, int]:
    """The packed sums (before, within) of (day, packed) counts: of the days before
    ``first_day`` and of those in ``[first_day, stop_day)``."""
    before = within = 0
    for day, packed in days:
        if day < first_day:
            before += packed
        elif day < stop_day:
            within += packed
    return before, within


def dossier_counts(
    state: DossierState, first_day: int, stop_day: int, clock: Instant | None
) -> Counts:
    """The row one dossier adds to its unit's report (a 1 in each column it is behind),
    by the very sums of the report; ``clock`` for the period that holds the clock."""
    days = ((day, packed) for _, day, packed in report_entries(state))
    before, within = split(days, first_day, stop_day)
    if clock is not None:
        within -= sum(packed for _, _, packed in ahead_of(state, clock))
    return Counts.of(before, within)


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
    fee_due: int = 0
    """Received in the period with a fee due (v1.2 flags, as those below)."""
    paid_online: int = 0
    """Received in the period and paid online."""
    digitised: int = 0
    """Received in the period with its parts digitised."""
    received_late: int = 0
    """Received online in the period, later than Decree 118 allows."""
    result_digital: int = 0
    """Settled in the period with a result (resolved or returned) issued electronically."""

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
            w["fee_due"],
            w["paid_online"],
            w["digitised"],
            w["received_late"],
            w["result_digital"],
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


FIELD, PROCEDURE = 0, 1
"""What a unit's rows are keyed by: the part of a :data:`Slot`."""


def unit_rows(
    totals: ReportTotals,
    first_day: int,
    stop_day: int,
    ahead: Mapping[Slot, int],
    by: int = FIELD,
) -> dict[str, Counts]:
    """A unit's rows by field (or procedure) for the days ``[first_day, stop_day)``, less
    ``ahead`` (per slot, what :func:`ahead_of` found; empty for a period that ended before
    the clock)."""
    sums: dict[str, tuple[int, int]] = {}
    for slot, (before, within) in totals.window(first_day, stop_day).items():
        key = slot[by]
        within -= ahead.get(slot, 0)
        if key in sums:
            before, within = before + sums[key][0], within + sums[key][1]
        sums[key] = before, within
    rows = {}
    for key, (before, within) in sums.items():
        row = Counts.of(before, within)
        if row != ZERO:
            rows[key] = row
    return rows


COLUMNS = (
    ("received", "Tổng số", "received, total"),
    ("new_online", "Trong kỳ: trực tuyến", "new in the period, online"),
    ("new_other", "Trong kỳ: trực tiếp, bưu chính", "new in the period, counter or postal"),
    ("carried_over", "Từ kỳ trước", "carried over"),
    ("settled", "Tổng số", "settled, total"),
    ("early", "Trước hạn", "early"),
    ("on_time", "Đúng hạn", "on time"),
    ("late", "Quá hạn", "late"),
    ("in_progress", "Tổng số", "in progress, total"),
    ("within_time", "Trong hạn", "within time"),
    ("overdue", "Quá hạn", "overdue"),
)
"""Form 06's 11 columns: (name, Vietnamese header, English header)."""
HEADER_GROUPS = (
    ("Số hồ sơ nhận giải quyết", "Received", 1, 4),
    ("Số hồ sơ đã giải quyết", "Settled", 5, 8),
    ("Số hồ sơ đang giải quyết", "In progress", 9, 11),
)
"""The form's first header row: (Vietnamese, English, first column, last column)."""
LEVELS = {
    "province": "Cấp tỉnh",
    "commune": "Cấp xã",
    "unlisted": "Đơn vị ngoài danh mục",
}
"""The groups of a report by unit, in the form's order, by the registry's level."""
UNCLASSIFIED_NAME = "Chưa phân loại"


class Line(NamedTuple):
    """One row of the form: a field or a unit, its name and its counts."""

    key: str
    name: str
    counts: Counts


class Group(NamedTuple):
    """Rows of one level (a report by unit) or all of them (a report by field)."""

    level: str
    name: str
    lines: list[Line]

    @property
    def total(self) -> Counts:
        return total(line.counts for line in self.lines)


class Form06(NamedTuple):
    by: str
    """``field`` or ``unit``."""
    groups: list[Group]

    @property
    def total(self) -> Counts:
        return total(group.total for group in self.groups)

    @property
    def balanced(self) -> bool:
        """The form's check in every row, every group's total and the grand total."""
        rows = [line.counts for group in self.groups for line in group.lines]
        rows += [group.total for group in self.groups]
        return all(row.balanced for row in [*rows, self.total])


def by_field(units: Mapping[str, Mapping[str, Counts]], names: Mapping[str, str]) -> Form06:
    """One row per field, every unit's dossiers of that field added up; the unclassified
    last, the others by name.

    >>> row = Counts.of(0, ONE["received_online"])
    >>> form = by_field({"a": {"HT": row, "": row}, "b": {"HT": row}}, {"HT": "Hộ tịch"})
    >>> [(line.name, line.counts.received) for line in form.groups[0].lines]
    [('Hộ tịch', 2), ('Chưa phân loại', 1)]
    """
    fields: dict[str, Counts] = {}
    for rows in units.values():
        for field, counts in rows.items():
            fields[field] = fields[field].plus(counts) if field in fields else counts
    lines = [
        Line(field, names.get(field, field) if field else UNCLASSIFIED_NAME, counts)
        for field, counts in fields.items()
    ]
    lines.sort(key=lambda line: (not line.key, line.name.casefold(), line.key))
    return Form06("field", [Group("", "", lines)])


def by_unit(
    units: Mapping[str, Mapping[str, Counts]], registry: Mapping[str, tuple[str, str]]
) -> Form06:
    """One row per unit, grouped by level; ``registry`` gives each listed unit's (level,
    name), and a listed unit without any dossier has its row of zeros.

    >>> row = Counts.of(0, ONE["received_other"])
    >>> form = by_unit({"x": {"": row}}, {"a": ("commune", "Xã A")})
    >>> [(g.name, [(line.name, line.counts.received) for line in g.lines]) for g in form.groups]
    [('Cấp xã', [('Xã A', 0)]), ('Đơn vị ngoài danh mục', [('x', 1)])]
    """
    grouped: dict[str, list[Line]] = {level: [] for level in LEVELS}
    for unit_id in {*registry, *units}:
        level, name = registry.get(unit_id, ("unlisted", unit_id))
        counts = total(units.get(unit_id, {}).values())
        grouped.setdefault(level, []).append(Line(unit_id, name, counts))
    groups = []
    for level, lines in grouped.items():
        if lines:
            lines.sort(key=lambda line: (line.name.casefold(), line.key))
            groups.append(Group(level, LEVELS.get(level, level), lines))
    return Form06("unit", groups)
