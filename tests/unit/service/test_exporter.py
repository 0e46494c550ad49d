"""Per-unit figures exported at scrape time, from a real engine, without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kpi.alerts import AlertBook, month_counts, recent_counts
from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from kpi.quality import SyncQuality
from kpi.rules import RULES
from kpi.scorecard import INDICATORS
from kpi.units import Unit
from schemas.codec import parse_instant
from schemas.records import (
    DossierCompleted,
    DossierPause,
    DossierRescheduled,
    DossierSubmitted,
)
from service.exporter import FiguresCollector
from streams.settings import Settings

t = lambda text: parse_instant(text, "t")  # noqa: E731
DAY = 86_400_000_000


def quality() -> SyncQuality:
    """A worker that read invalid records of a listed unit and of junk names, and records
    naming a million different unmatched agencies."""
    seen = SyncQuality()
    seen.invalid.add("xa-a", 2)
    for n in range(5000):
        seen.invalid.add(f"junk-{n}")
    seen.unmatched.add("UBND xã Mới", 7)
    for n in range(1_000_000):
        seen.unmatched.add(f"name-{n}")
    return seen


def exposition() -> str:
    states: dict[bytes, bytes] = {}
    clock = Clock(ClockSpec("fixed", t("2026-03-31T12:00:00+07:00")))
    engine = Engine(WorkingCalendar(), clock, lambda _: states)
    received, due = t("2026-03-02T08:00:00+07:00"), t("2026-03-05T00:00:00+07:00")
    for n in range(10):  # official cb-1: 10 resolved, 1 late
        engine.apply(
            DossierSubmitted(f"s{n}", "u", f"d{n}", received, due, None, "cb-1", None, None)
        )
        done = t("2026-03-06T08:00:00+07:00") if n == 0 else t("2026-03-04T08:00:00+07:00")
        engine.apply(DossierCompleted(f"c{n}", "u", f"d{n}", done, None, "resolved"))
    # Contract v1.1: two reschedulings (one with an apology letter), one dossier paused.
    for n, apology in ((0, True), (1, False)):
        at = t("2026-03-03T10:00:00+07:00")
        engine.apply(DossierRescheduled(f"r{n}", "u", f"d{n}", at, due + DAY, apology, None))
    received_p, due_p = t("2026-03-27T08:00:00+07:00"), t("2026-04-03T00:00:00+07:00")
    engine.apply(DossierSubmitted("sp", "u", "dp", received_p, due_p, None, "cb-1", None, None))
    paused_at = t("2026-03-30T09:00:00+07:00")
    engine.apply(DossierPause("pp", "u", "dp", "1", "supplement", paused_at, None, None))
    registry = {"xa-a": Unit("xa-a", "Xã A", "xa", "commune")}
    worker = SimpleNamespace(
        engine=engine,
        settings=Settings(),
        registry=registry,
        alerts=AlertBook(Settings().thresholds),
        consuming=False,
        health=lambda: "broker unreachable",
        outbox=SimpleNamespace(backlog_seconds=lambda: 12.5),
        sync=SimpleNamespace(waiting_count=lambda: 3),
        quality=quality(),
        owned_units=lambda: ["u", "xa-a"],
        indicators=INDICATORS,
        recent=recent_counts(engine, ["u", "xa-a"]),
        month=month_counts(engine, ["u", "xa-a"]),
    )
    output = CollectorRegistry()
    output.register(FiguresCollector(cast(Any, worker)))
    return generate_latest(output).decode()


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_figures_of_the_owned_units_for_the_year_and_30_days() -> None:
    samples = scrape()
    year = (("period", "year"), ("unit_id", "u"))
    assert samples["cchc_unit_dossiers_resolved", year] == 10
    assert samples["cchc_unit_dossiers_resolved_late", year] == 1
    assert samples["cchc_unit_late_ratio", year] == 0.1
    assert samples["cchc_unit_officials_in_breach", year] == 1  # 10 % is on the line
    assert samples["cchc_unit_dossiers_resolved", (("period", "30d"), ("unit_id", "u"))] == 10
    # A rate is absent while its denominator is 0; counts are there at 0.
    assert ("cchc_unit_satisfaction_ratio", year) not in samples
    assert samples["cchc_unit_surveys", year] == 0


def test_the_v1_1_figures_of_a_unit() -> None:
    samples = scrape()
    for period in ("year", "30d"):
        labels = (("period", period), ("unit_id", "u"))
        assert samples["cchc_unit_late_resolved_ratio", labels] == 0.1  # 1 of 10 resolved
        assert samples["cchc_unit_dossiers_paused", labels] == 1
        assert samples["cchc_unit_dossiers_rescheduled", labels] == 2
        assert samples["cchc_unit_dossiers_apologised", labels] == 1
    # The open paused dossier is not overdue, so the late rate and the breach stay as they are.
    year = (("period", "year"), ("unit_id", "u"))
    assert samples["cchc_unit_late_ratio", year] == 0.1
    assert samples["cchc_unit_dossiers_open_overdue", year] == 0
    # A unit without resolved dossiers has no rate of resolved dossiers; its counts are 0.
    quiet = (("period", "year"), ("unit_id", "xa-a"))
    assert ("cchc_unit_late_resolved_ratio", quiet) not in samples
    assert samples["cchc_unit_dossiers_paused", quiet] == 0
    assert samples["cchc_unit_dossiers_rescheduled", quiet] == 0
    assert samples["cchc_unit_dossiers_apologised", quiet] == 0


def test_no_series_names_an_official() -> None:
    """Officials' figures need their unit's token (contract §8): never a label here."""
    assert "cb-1" not in exposition()
    assert not any("official_id" in dict(labels) for _, labels in scrape())


def test_registry_info_for_listed_and_unlisted_units() -> None:
    samples = scrape()
    listed = (("level", "commune"), ("name", "Xã A"), ("type", "xa"), ("unit_id", "xa-a"))
    unlisted = (("level", "unlisted"), ("name", "u"), ("type", "unlisted"), ("unit_id", "u"))
    assert samples["cchc_unit_info", listed] == 1
    assert samples["cchc_unit_info", unlisted] == 1


def test_every_rule_has_a_firing_series_from_the_start() -> None:
    samples = scrape()
    assert {labels[0][1] for name, labels in samples if name == "cchc_alerts_firing"} == set(RULES)


def test_the_configured_lines_are_exported_for_rules_and_dashboards() -> None:
    samples = scrape()
    assert samples["cchc_threshold_percent", (("rule", "unit_late_rate"),)] == 5
    assert samples["cchc_threshold_percent", (("rule", "unit_satisfaction"),)] == 80
    assert samples["cchc_threshold_percent", (("rule", "official_late_rate"),)] == 10
    assert samples["cchc_alert_min_sample", (("rule", "unit_late_rate"),)] == 20


def test_the_national_index_estimate_and_the_recent_shares_per_unit() -> None:
    samples = scrape()
    month = (("period", "month"), ("unit_id", "u"))
    # 11 received in March: 9 settled in time, 1 late, 1 open; none online, none digitised.
    assert round(samples["cchc_unit_index766_points", month], 2) == round(20 * 10 / 11 + 6, 2)
    assert samples["cchc_unit_index766_stake_points", month] == 20 + 6 + 4 + 6 + 6
    progress = (("indicator", "progress"), ("period", "month"), ("unit_id", "u"))
    assert round(samples["cchc_unit_index766_indicator_points", progress], 4) == 18.1818
    payment = (("indicator", "online_payment"), ("period", "month"), ("unit_id", "u"))
    assert ("cchc_unit_index766_indicator_points", payment) not in samples, "no fee: absent"
    on_time = (("rule", "target_on_time"), ("unit_id", "u"))
    assert samples["cchc_unit_recent_ratio", on_time] == 0.9
    assert samples["cchc_threshold_percent", (("rule", "target_online"),)] == 80


def test_broker_health_and_unconfirmed_writes() -> None:
    samples = scrape()
    assert samples["cchc_broker_reachable", ()] == 0
    assert samples["cchc_unconfirmed_writes_seconds", ()] == 12.5
    assert samples["cchc_sync_progress_waiting", ()] == 3


def test_sync_quality_series_stay_bounded_whatever_the_names() -> None:
    samples = scrape()
    invalid = {
        labels: v
        for (name, labels), v in samples.items()
        if name == "cchc_sync_records_invalid_total"
    }
    assert invalid == {(("unit_id", "(other)"),): 5000, (("unit_id", "xa-a"),): 2}
    unmatched = {
        labels: v
        for (name, labels), v in samples.items()
        if name == "cchc_sync_records_unmatched_total"
    }
    assert len(unmatched) == 11 and unmatched[(("name", "UBND xã Mới"),)] == 7
    assert sum(unmatched.values()) == 1_000_007
