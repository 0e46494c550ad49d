"""Alert lifecycle and Conclusion 91 ranking rules, driven through the engine."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kpi.alerts import (
    AlertBook,
    SeenAlerts,
    evaluate_changes,
    evaluate_waits,
    sequence_of,
    unit_conditions,
)
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.figures import Figures
from kpi.periods import HOUR_US
from kpi.report import ZERO
from kpi.rules import (
    LATE_RECEIPT,
    RULE_NAMES,
    RULES,
    TARGET_ON_TIME,
    TARGET_ONLINE,
    TARGET_ONLINE_PAYMENT,
    Thresholds,
)
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierPause,
    DossierSubmitted,
    SatisfactionSurvey,
    UnitRanking,
)

t = lambda text: parse_instant(text, "t")  # noqa: E731
RECEIVED = t("2026-03-02T08:00:00+07:00")
DUE = t("2026-03-04T00:00:00+07:00")


class Scenario:
    """An engine with a controllable wall clock and an alert book."""

    def __init__(
        self, thresholds: Thresholds | None = None, now: str = "2026-03-10T12:00:00+07:00"
    ) -> None:
        self.now = [t(now)]
        self.states: dict[bytes, bytes] = {}
        clock = Clock(ClockSpec("wall"), lambda: self.now[0])
        self.engine = Engine(WorkingCalendar(), clock, lambda unit: self.states)
        self.book = AlertBook(thresholds or Thresholds())

    def dossier(
        self, n: int, late: bool, unit: str = "u", official: str | None = "cb1", open_: bool = False
    ) -> None:
        self.engine.apply(
            DossierSubmitted(f"s{n}", unit, f"d{n}", RECEIVED, DUE, None, official, None, None)
        )
        if not open_:
            done = DUE + (HOUR_US if late else -HOUR_US)
            self.engine.apply(DossierCompleted(f"c{n}", unit, f"d{n}", done, None, "resolved"))

    def changes(self) -> list[dict[str, Any]]:
        self.engine.advance()
        return evaluate_changes(self.engine, self.book, lambda unit: True)


def states(changes: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    return [(a["rule"], a["state"], a["official_id"], a["period"]) for a in changes]


def test_fire_once_resolve_and_fire_again() -> None:
    s = Scenario(Thresholds(min_official_dossiers=100))
    for n in range(19):
        s.dossier(n, late=False)
    s.dossier(19, late=True)  # 1 late of 20: exactly 5 % with exactly the minimum sample
    fired = s.changes()
    assert states(fired) == [("unit_late_rate", "firing", None, "2026")]
    alert = fired[0]
    assert (alert["numerator"], alert["denominator"], alert["value"], alert["threshold"]) == (
        1,
        20,
        0.05,
        0.05,
    )
    assert alert["alert_id"] == "unit_late_rate|u||2026" and alert["resolved_at"] is None
    assert s.changes() == [], "no repeat while the state holds"

    s.dossier(20, late=False)  # 1 of 21: 4.76 %
    resolved = s.changes()
    assert states(resolved) == [("unit_late_rate", "resolved", None, "2026")]
    assert resolved[0]["started_at"] == alert["started_at"] and resolved[0]["resolved_at"]

    s.dossier(21, late=True)
    again = s.changes()
    assert (
        states(again) == [("unit_late_rate", "firing", None, "2026")]
        and again[0]["resolved_at"] is None
    )


def test_minimum_sample_holds_back_small_units() -> None:
    s = Scenario()
    for n in range(19):
        s.dossier(n, late=True)  # 100 % late, but only 19 dossiers
    assert [a for a in s.changes() if a["official_id"] is None] == []
    s.dossier(19, late=True)
    assert ("unit_late_rate", "firing", None, "2026") in states(s.changes())


def test_official_rule_at_ten_percent() -> None:
    s = Scenario(Thresholds(min_dossiers=1000))
    for n in range(9):
        s.dossier(n, late=False, official="cb-a")
    s.dossier(9, late=True, official="cb-a")  # 1 of 10 = 10 %: may not be rated "hoàn thành tốt"
    for n in range(10, 30):
        s.dossier(n, late=n == 10, official="cb-b")  # 1 of 20 = 5 %
    assert states(s.changes()) == [("official_late_rate", "firing", "cb-a", "2026")]


def test_satisfaction_at_eighty_percent() -> None:
    s = Scenario()
    for n in range(20):
        rating = "dissatisfied" if n < 4 else "satisfied"  # 16 of 20 = 80 %: not above the line
        s.engine.apply(SatisfactionSurvey(f"v{n}", "u", RECEIVED, rating, None, None))  # type: ignore[arg-type]
    assert states(s.changes()) == [("unit_satisfaction", "firing", None, "2026")]


def test_deadlines_fire_alerts_without_any_new_event() -> None:
    s = Scenario(now="2026-03-03T12:00:00+07:00")
    for n in range(20):
        s.dossier(n, late=False, open_=True)
    assert s.changes() == []
    s.now[0] = DUE + 1  # the clock passes the deadline; no event arrives
    fired = s.changes()
    assert states(fired) == [
        ("unit_late_rate", "firing", None, "2026"),
        ("official_late_rate", "firing", "cb1", "2026"),
    ]
    assert fired[0]["numerator"] == fired[0]["denominator"] == 20


def test_earlier_years_are_evaluated_when_an_event_touches_them() -> None:
    s = Scenario(Thresholds(min_dossiers=1), now="2026-03-10T12:00:00+07:00")
    received, due = t("2025-12-01T08:00:00+07:00"), t("2025-12-03T00:00:00+07:00")
    s.engine.apply(DossierSubmitted("s", "u", "d", received, due, None, None, None, None))
    s.engine.apply(DossierCompleted("c", "u", "d", due + HOUR_US, None, "resolved"))
    assert ("unit_late_rate", "firing", None, "2025") in states(s.changes())


def ranks(**years: str) -> dict[int, str]:
    return {int(year[1:]): rank for year, rank in years.items()}


def conditions(figures: Figures, ranking: dict[int, str], year: int) -> dict[str, bool]:
    return {c.rule: c.holds for c in unit_conditions(figures, Thresholds(), ranking, year)}


CLEAN = Figures(100, 1, 0, 100, 95)
LATE = Figures(100, 6, 0, 100, 95)


def test_leader_accountability() -> None:
    assert conditions(CLEAN, ranks(y2025="yeu"), 2025)["leader_accountability"]
    assert conditions(CLEAN, ranks(y2024="trung_binh", y2025="trung_binh"), 2025)[
        "leader_accountability"
    ]
    assert not conditions(CLEAN, ranks(y2024="kha", y2025="trung_binh"), 2025)[
        "leader_accountability"
    ]
    assert not conditions(CLEAN, ranks(y2023="trung_binh", y2025="trung_binh"), 2025)[
        "leader_accountability"
    ]
    assert "leader_accountability" not in conditions(CLEAN, {}, 2025)


def test_rank_conflict() -> None:
    assert conditions(LATE, ranks(y2025="tot"), 2025)["rank_conflict"]
    assert not conditions(CLEAN, ranks(y2025="tot"), 2025)["rank_conflict"]
    assert not conditions(LATE, ranks(y2025="kha"), 2025)["rank_conflict"]
    unhappy = Figures(100, 1, 0, 100, 80)
    assert conditions(unhappy, ranks(y2025="tot"), 2025)["rank_conflict"]


def test_rankings_arriving_as_events_raise_alerts() -> None:
    s = Scenario(Thresholds(min_dossiers=1))
    published = t("2026-01-15T09:00:00+07:00")
    s.engine.apply(UnitRanking("r1", "u", 2024, "trung_binh", published))
    s.engine.apply(UnitRanking("r2", "u", 2025, "trung_binh", published))
    fired = s.changes()
    assert ("leader_accountability", "firing", None, "2025") in states(fired)
    # A correction published later wins: 2025 was "khá" after all.
    s.engine.apply(UnitRanking("r3", "u", 2025, "kha", published + HOUR_US))
    assert ("leader_accountability", "resolved", None, "2025") in states(s.changes())


def test_restored_state_prevents_repeats_after_a_restart() -> None:
    s = Scenario()
    for n in range(20):
        s.dossier(n, late=True)
    published = s.changes()
    assert published
    fresh = AlertBook(Thresholds())  # a new worker replays the alerts topic, then evaluates
    for alert in published:
        fresh.restore(alert)
    s.engine.rebuild(s.states.items())
    assert evaluate_changes(s.engine, fresh, lambda unit: True) == []


def test_each_change_of_an_alert_has_the_next_sequence() -> None:
    s = Scenario(Thresholds(min_official_dossiers=1000))
    for n in range(19):
        s.dossier(n, late=False)
    s.dossier(19, late=True)
    fired = s.changes()
    s.dossier(20, late=False)
    resolved = s.changes()
    s.dossier(21, late=True)
    again = s.changes()
    assert [(a["state"], a["sequence"]) for a in fired + resolved + again] == [
        ("firing", 1),
        ("resolved", 2),
        ("firing", 3),
    ]
    for n in range(22, 42):
        s.dossier(n, late=True, unit="other")
    assert {(a["alert_id"], a["sequence"]) for a in s.changes()} == {
        ("unit_late_rate|other||2026", 1)  # every alert counts its own
    }


def test_a_restarted_worker_continues_each_alerts_sequence() -> None:
    s = Scenario(Thresholds(min_official_dossiers=1000))
    for n in range(20):
        s.dossier(n, late=True)
    fired = s.changes()
    s.dossier(20, late=False)
    s.dossier(21, late=False)
    s.dossier(22, late=False)  # 20 late of 23: still over the line
    assert s.changes() == []
    for n in range(23, 420):
        s.dossier(n, late=False)  # 20 of 420: 4.8 %
    resolved = s.changes()
    assert [a["sequence"] for a in fired + resolved] == [1, 2]
    # The topic as a broker freeze leaves it: the first message written twice, the second
    # too, one of its copies after it.
    topic = [fired[0], fired[0], resolved[0], fired[0], resolved[0]]
    book = AlertBook(Thresholds(min_official_dossiers=1000))
    for alert in topic:
        book.restore(alert)
    assert [(a["state"], a["sequence"]) for a in book.query("all")] == [("resolved", 2)]
    s.book = book
    s.engine.rebuild(s.states.items())
    assert s.changes() == []
    for n in range(420, 440):
        s.dossier(n, late=True)  # 40 of 440: 9 %
    assert [(a["state"], a["sequence"]) for a in s.changes()] == [("firing", 3)]


def test_a_message_written_before_sequences_counts_as_zero() -> None:
    s = Scenario(Thresholds(min_official_dossiers=1000))
    for n in range(20):
        s.dossier(n, late=True)
    old = {k: v for k, v in s.changes()[0].items() if k != "sequence"} | {"state": "resolved"}
    assert sequence_of(old) == 0
    book = AlertBook(Thresholds(min_official_dossiers=1000))
    book.restore(old)
    s.book = book
    s.engine.rebuild(s.states.items())
    assert [(a["state"], a["sequence"]) for a in s.changes()] == [("firing", 1)]


def alert(sequence: int | None, alert_id: str = "a") -> dict[str, Any]:
    message: dict[str, Any] = {"alert_id": alert_id, "state": "firing"}
    if sequence is not None:
        message["sequence"] = sequence
    return message


def test_seen_alerts_pass_over_a_repeated_message() -> None:
    seen = SeenAlerts()
    topic = [alert(1), alert(1), alert(1, "b"), alert(2), alert(1), alert(2), alert(3)]
    had = [offset for offset, message in enumerate(topic) if seen.first(0, offset, message)]
    assert had == [0, 2, 3, 6]
    assert seen.greatest == {"a": 3, "b": 1}, "one int per alert id"
    # Partitions are read apart: the same offset elsewhere is another record.
    assert seen.first(1, 0, alert(1, "c")) and not seen.first(1, 1, alert(1, "c"))
    # Messages written before sequences existed are never repeats, but never had twice.
    assert seen.first(0, 7, alert(None)) and seen.first(0, 8, alert(None))
    assert not seen.fresh(0, 8, alert(None))


def test_seen_alerts_of_a_consumer_starting_mid_topic() -> None:
    topic = [alert(1), alert(2), alert(2), alert(3), alert(3)]
    # Resuming at offset 2 without knowing what came before would take offset 2 for news.
    seen = SeenAlerts()
    assert seen.unread(0, 2) == 0
    for offset in range(2):
        seen.note(0, offset, topic[offset])
    assert seen.unread(0, 2) is None
    assert [o for o in range(2, 5) if seen.first(0, o, topic[o])] == [3]
    # Sent back to an offset already had (a rebalance): passed over, sequence or not.
    assert not seen.fresh(0, 3, topic[3]) and not seen.fresh(0, 1, alert(None))
    # Moved on past records another consumer had: they are to be noted first.
    assert seen.unread(0, 9) == 5


def test_early_warning_when_dossiers_due_soon_would_cross_the_line() -> None:
    from kpi.alerts import evaluate_risks

    s = Scenario(now="2026-03-03T09:00:00+07:00")  # Tuesday
    for n in range(30):
        s.dossier(n, late=False)  # 30 resolved on time: 0 %
    assert evaluate_risks(s.engine, s.book, WorkingCalendar(), ["u"]) == []
    # One open dossier due tomorrow (within 3 working days): 1 / 31 = 3.2 %, still within.
    s.engine.apply(DossierSubmitted("o1", "u", "open-1", RECEIVED, DUE, None, "cb1", None, None))
    assert evaluate_risks(s.engine, s.book, WorkingCalendar(), ["u"]) == []
    # A second one due next week is outside the window; a third due Thursday is inside: 2/32.
    next_week = t("2026-03-12T00:00:00+07:00")
    s.engine.apply(
        DossierSubmitted("o2", "u", "open-2", RECEIVED, next_week, None, "cb1", None, None)
    )
    s.engine.apply(
        DossierSubmitted("o3", "u", "open-3", RECEIVED, DUE + 24 * HOUR_US, None, None, None, None)
    )
    risk = evaluate_risks(s.engine, s.book, WorkingCalendar(), ["u"])
    assert states(risk) == [("unit_late_rate_risk", "firing", None, "2026")]
    assert (risk[0]["numerator"], risk[0]["denominator"]) == (2, 32)
    due = s.engine.due_within(t("2026-03-06T00:00:00+07:00"))["u"]
    assert [official for _, official, _ in due] == ["cb1", None]


def test_open_overdue_dossiers_are_listed_oldest_first() -> None:
    s = Scenario(now="2026-03-10T12:00:00+07:00")
    s.engine.apply(
        DossierSubmitted("a", "u", "late-1", RECEIVED, DUE + HOUR_US, None, "cb1", None, None)
    )
    s.engine.apply(DossierSubmitted("b", "u", "late-0", RECEIVED, DUE, None, None, None, None))
    s.engine.apply(DossierSubmitted("c", "u", "done", RECEIVED, DUE, None, None, None, None))
    s.engine.apply(DossierCompleted("d", "u", "done", DUE + HOUR_US, None, "resolved"))
    s.engine.advance()
    overdue = s.engine.due_within(s.engine.now - 1, since=0)["u"]
    assert [(official, at) for _, official, at in overdue] == [(None, DUE), ("cb1", DUE + HOUR_US)]


def test_every_rule_has_a_name_in_each_language() -> None:
    assert {lang: set(names) for lang, names in RULE_NAMES.items()} == {
        "vi": set(RULES),
        "en": set(RULES),
    }


def test_a_unit_whose_evaluation_raises_does_not_stop_the_others() -> None:
    s = Scenario(Thresholds(min_dossiers=1, min_official_dossiers=1))
    s.dossier(1, late=True, unit="bad")
    s.dossier(2, late=True, unit="good")
    officials = s.engine.officials

    def broken(unit_id: str) -> list[str]:
        if unit_id == "bad":
            raise TypeError("a bug")
        return officials(unit_id)

    s.engine.officials = broken  # type: ignore[method-assign]
    failures: list[tuple[str, str]] = []
    s.engine.advance()
    changes = evaluate_changes(
        s.engine, s.book, lambda unit: True, lambda unit, error: failures.append((unit, str(error)))
    )
    assert failures == [("bad", "a bug")]
    assert {a["unit_id"] for a in changes} == {"good"}
    with pytest.raises(TypeError):  # without a handler, the error is the caller's
        s.dossier(3, late=True, unit="bad")
        s.changes()


def test_a_dossier_waiting_for_the_citizen_too_long_alerts_its_unit() -> None:
    """Paused for papers since Monday 2 March: 30 working days have passed on 13 April,
    the 31st on 14 April."""
    scenario = Scenario(Thresholds(waiting_days=30), now="2026-04-13T12:00:00+07:00")
    engine, book = scenario.engine, scenario.book
    engine.apply(DossierSubmitted("s1", "u", "d1", RECEIVED, DUE, None, None, None, None))
    engine.apply(DossierSubmitted("s2", "u", "d2", RECEIVED, DUE, None, None, None, None))
    waits = [
        DossierPause("p1", "u", "d1", "1", "supplement", RECEIVED, None, None),
        DossierPause(
            "p2", "u", "d2", "1", "supplement", t("2026-04-01T08:00:00+07:00"), None, None
        ),
    ]
    for wait in waits:
        engine.apply(wait)
    engine.advance()
    assert evaluate_waits(engine, book, ["u"]) == []
    scenario.now[0] = t("2026-04-14T12:00:00+07:00")
    engine.advance()
    (alert,) = evaluate_waits(engine, book, ["u"])
    assert (alert["rule"], alert["state"], alert["numerator"], alert["denominator"]) == (
        "waiting_long",
        "firing",
        1,
        2,
    )
    assert alert["period"] == "now", "a state at the clock: the same alert across New Year"
    assert alert["detail"] == "1 waiting more than 30 working days: d1 (31)"
    assert evaluate_waits(engine, book, ["u"]) == [], "no change, no message"
    engine.apply(replace(waits[0], event_id="p1-resumed", resumed_at=scenario.now[0] - HOUR_US))
    (resolved,) = evaluate_waits(engine, book, ["u"])
    assert (resolved["state"], resolved["sequence"]) == ("resolved", 2)


def test_late_receipts_and_targets_fire_on_the_last_30_days_with_enough_dossiers() -> None:
    book = AlertBook(Thresholds())
    few = ZERO._replace(new_online=19, received_late=19)
    assert book.evaluate_recent("u", few, now=0) == [], "19 online dossiers: not enough"
    late = ZERO._replace(new_online=20, new_other=5, received_late=1, settled=20, early=20)
    fired = {a["rule"]: a for a in book.evaluate_recent("u", late, now=1)}
    assert set(fired) == {LATE_RECEIPT}, "1 of 20 is 5 %; 80 % online; all on time"
    assert (fired[LATE_RECEIPT]["period"], fired[LATE_RECEIPT]["value"]) == ("30d", 0.05)
    worse = late._replace(new_other=6, early=19, on_time=0, fee_due=20, paid_online=11)
    fired = {a["rule"]: a["state"] for a in book.evaluate_recent("u", worse, now=2)}
    assert fired == {
        TARGET_ON_TIME: "firing",
        TARGET_ONLINE: "firing",
        TARGET_ONLINE_PAYMENT: "firing",
    }, "19 of 20 on time, 20 of 26 online, 11 of 20 paid online: each under its target"
    fixed = worse._replace(received_late=0, early=20, new_other=0, paid_online=12)
    resolved = {a["rule"]: a["state"] for a in book.evaluate_recent("u", fixed, now=3)}
    assert set(resolved.values()) == {"resolved"} and len(resolved) == 4
