"""One dossier's state: which events win, and what it contributes to the figures."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from kpi.calendar import WorkingCalendar
from kpi.dossier import (
    DAY,
    LATE,
    ORPHAN,
    OVERDUE_AT,
    OVERDUE_NOW,
    RECEIVED_LATE,
    RESOLVED,
    SATISFIED,
    SURVEYS,
    DossierState,
    Snapshot,
    checked,
    contribution,
    dossier_flags,
    merge,
)
from kpi.periods import day_of
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierSubmitted,
    ProcessingTime,
    SatisfactionSurvey,
)

CAL = WorkingCalendar()
t = lambda text: parse_instant(text, "t")  # noqa: E731
RECEIVED, DUE = t("2026-03-02T08:00:00+07:00"), t("2026-03-05T00:00:00+07:00")


def submitted(event_id: str = "s1", official: str | None = "cb-1") -> DossierSubmitted:
    return DossierSubmitted(event_id, "u", "d", RECEIVED, DUE, None, official, None, None)


def completed(at: str, event_id: str = "c1", official: str | None = None) -> DossierCompleted:
    return DossierCompleted(event_id, "u", "d", t(at), official, "resolved")


def state(*events: DossierSubmitted | DossierCompleted | SatisfactionSurvey) -> DossierState:
    current = DossierState()
    for event in events:
        current = merge(current, event, CAL) or current
    return current


def test_the_greater_timestamp_then_event_id_wins_whatever_the_order() -> None:
    a = completed("2026-03-03T08:00:00+07:00", "c1")
    b = completed("2026-03-03T08:00:00+07:00", "c2")  # same time: the greater event_id
    assert state(a, b) == state(b, a) == state(b, a, b)
    assert state(a, b).completion is not None and state(a, b).completion.event_id == "c2"
    assert merge(state(b), a, CAL) is None  # a loser changes nothing


def test_a_deadline_from_processing_time_is_computed_once_on_merge() -> None:
    event = DossierSubmitted(
        "s1", "u", "d", RECEIVED, None, ProcessingTime(3, "working_days"), None, None, None
    )
    assert state(event).submission is not None
    assert state(event).submission.due == CAL.deadline(RECEIVED, ProcessingTime(3, "working_days"))


def test_encode_decode_round_trip() -> None:
    survey = SatisfactionSurvey("v1", "u", t("2026-03-06T08:00:00+07:00"), "satisfied", "d", None)
    full = state(submitted(), completed("2026-03-04T08:00:00+07:00"), survey)
    assert DossierState.decode(full.encode()) == full


def test_a_submissions_field_is_kept_and_a_state_without_one_reads_as_before() -> None:
    with_field = state(replace(submitted(), field_code="G09-TP05"))
    assert with_field.submission is not None and with_field.submission.field == "G09-TP05"
    assert DossierState.decode(with_field.encode()) == with_field
    without = state(submitted())
    assert len(orjson.loads(without.encode())[0]) == 4, "no bytes for a field not given"


def test_a_dossiers_official_is_its_completions_else_its_submissions() -> None:
    assert state(submitted()).official == "cb-1"
    closed = state(submitted(), completed("2026-03-04T08:00:00+07:00", official="cb-2"))
    assert closed.official == "cb-2"
    assert state(submitted(), completed("2026-03-04T08:00:00+07:00")).official == "cb-1"


def test_contribution_of_a_dossier_resolved_on_time_and_late() -> None:
    clock = t("2026-03-31T00:00:00+07:00")
    on_time = state(submitted(), completed("2026-03-04T08:00:00+07:00"))
    day = day_of(t("2026-03-04T08:00:00+07:00"))
    assert sorted(contribution(on_time, clock)) == [(DAY, "cb-1", day, RESOLVED)]
    late = state(submitted(), completed("2026-03-06T08:00:00+07:00"))
    day = day_of(t("2026-03-06T08:00:00+07:00"))
    assert sorted(contribution(late, clock)) == [
        (DAY, "cb-1", day, RESOLVED),
        (DAY, "cb-1", day, LATE),
        (OVERDUE_AT, "cb-1", day_of(DUE), 1),  # overdue from its deadline to its end
        (OVERDUE_AT, "cb-1", day, -1),
    ]


def test_an_open_dossier_is_overdue_after_its_deadline_from_the_day_it_turns() -> None:
    """Overdue from its deadline (the end of 4 March: the spell begins on 5 March's day
    boundary, so on 4 March's day number), however long it lasts: two entries at most."""
    open_one = state(submitted())
    began = (OVERDUE_AT, "cb-1", day_of(DUE), 1)
    assert contribution(open_one, t("2026-03-04T00:00:00+07:00")) == [began]
    now = [(OVERDUE_NOW, "cb-1", 0, 0)]
    assert contribution(open_one, t("2026-03-06T00:00:00+07:00")) == [began, *now]
    assert contribution(open_one, t("2027-04-02T00:00:00+07:00")) == [began, *now]
    done = state(submitted(), completed("2026-05-06T08:00:00+07:00"))
    ended = (OVERDUE_AT, "cb-1", day_of(t("2026-05-06T08:00:00+07:00")), -1)
    assert [
        e for e in contribution(done, t("2026-06-01T00:00:00+07:00")) if e[0] == OVERDUE_AT
    ] == [
        began,
        ended,
    ]
    assert open_one.overdue_interval() == (DUE, None)


def test_a_completion_without_submission_is_an_orphan_and_a_vote_is_held() -> None:
    survey = SatisfactionSurvey(
        "v1", "u", t("2026-03-06T08:00:00+07:00"), "dissatisfied", "d", None
    )
    assert contribution(state(completed("2026-03-04T08:00:00+07:00")), DUE) == [
        (ORPHAN, None, 0, 0)
    ]
    assert contribution(state(survey), DUE) == []
    with_submission = contribution(state(submitted(), survey), t("2026-03-04T00:00:00+07:00"))
    overdue = (OVERDUE_AT, "cb-1", day_of(DUE), 1)  # open: overdue from its deadline on
    assert with_submission == [(DAY, "cb-1", day_of(survey.surveyed_at), SURVEYS), overdue]
    satisfied = SatisfactionSurvey("v2", "u", survey.surveyed_at, "very_satisfied", "d", "cb-9")
    assert sorted(contribution(state(submitted(), satisfied), RECEIVED)) == [
        (DAY, "cb-9", day_of(survey.surveyed_at), SURVEYS),
        (DAY, "cb-9", day_of(survey.surveyed_at), SATISFIED),
        overdue,
    ]


def test_a_submissions_procedure_and_flags_are_kept_and_a_completion_adds_its_own() -> None:
    event = replace(submitted(), procedure_code="1.001612", channel="online", flags=1)
    finished = replace(completed("2026-03-04T08:00:00+07:00"), flags=8)
    both = state(event, finished)
    assert both.submission is not None and both.completion is not None
    assert (both.submission.procedure, both.submission.flags) == ("1.001612", 1)
    assert dossier_flags(both.submission, both.completion) == 1 | 8
    assert DossierState.decode(both.encode()) == both
    paid = state(replace(submitted(), flags=2))
    assert paid.submission is not None and dossier_flags(paid.submission, None) == 3


def test_an_online_dossier_received_after_the_next_working_day_is_received_late() -> None:
    friday = t("2026-03-06T22:00:00+07:00")
    on_monday = replace(submitted(), channel="online", submitted_at=friday)
    s = state(replace(on_monday, received_at=t("2026-03-09T16:59:59+07:00")))
    assert s.submission is not None and not s.submission.flags & RECEIVED_LATE
    s = state(replace(on_monday, received_at=t("2026-03-10T08:00:00+07:00")))
    assert s.submission is not None and s.submission.flags == RECEIVED_LATE
    at_the_counter = replace(
        on_monday, channel="counter", received_at=t("2026-03-20T08:00:00+07:00")
    )
    s = state(at_the_counter)
    assert s.submission is not None and s.submission.flags == 0, "Decree 118 counts online ones"
    afterwards = replace(on_monday, submitted_at=t("2026-03-20T08:00:00+07:00"))
    s = state(afterwards)
    assert s.submission is not None and s.submission.flags == 0, "submitted after its receipt"


def test_a_state_with_flags_out_of_range_is_malformed() -> None:
    good = state(replace(submitted(), flags=1))
    parts = orjson.loads(good.encode())
    parts[0] = [*parts[0][:4], "", False, "", 1 << 20]
    with pytest.raises(ValueError, match="malformed"):
        checked(DossierState.decode(orjson.dumps(parts)))


def test_a_sync_snapshot_stored_before_v1_2_keeps_its_procedure_on_its_submission() -> None:
    """v1.1 kept a sync dossier's procedure in the snapshot's detail: read back, it is the
    submission's, so the report files it under its procedure."""
    old = [[RECEIVED, "r", 3], [RECEIVED, "", DUE, None, "HT"], None, [], True, ["1.001", "2", 0]]
    snapshot = Snapshot.decode(old)
    assert snapshot.submission is not None and snapshot.submission.procedure == "1.001"
