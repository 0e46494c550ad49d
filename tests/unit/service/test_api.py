"""The web API's own logic that needs no broker."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.engine import Engine
from schemas.codec import parse_instant
from schemas.records import DossierCompleted, DossierPause, DossierRescheduled, DossierSubmitted
from service.api import UNITS_STREAM_SECONDS, Api, Forbidden
from streams.access import Grant
from streams.settings import Settings

CALLER: Any = None  # who asks does not change the units snapshot


def test_open_screens_share_one_units_snapshot_per_interval() -> None:
    api = Api(cast(Any, None), cast(Any, None))
    computed: list[dict[str, str]] = []

    async def units_snapshot(query: dict[str, str], caller: Any) -> dict[str, Any]:
        computed.append(query)
        await asyncio.sleep(0.01)
        return {"units": [], "period": query.get("period", "year")}

    api.units_snapshot = units_snapshot  # type: ignore[method-assign]

    async def screens() -> None:
        year = {"period": "year"}
        first = await asyncio.gather(*(api.shared_units_snapshot(year, CALLER) for _ in range(20)))
        assert len(computed) == 1 and all(answer is first[0] for answer in first)
        await api.shared_units_snapshot(
            {"period": "30d"}, CALLER
        )  # another question, its own answer
        assert len(computed) == 2
        await asyncio.sleep(UNITS_STREAM_SECONDS)
        await api.shared_units_snapshot(year, CALLER)  # the interval passed: computed again
        assert computed == [year, {"period": "30d"}, year]

    asyncio.run(screens())


def test_a_screen_that_leaves_does_not_cancel_the_others() -> None:
    api = Api(cast(Any, None), cast(Any, None))

    async def units_snapshot(query: dict[str, str], caller: Any) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"units": ["u"]}

    api.units_snapshot = units_snapshot  # type: ignore[method-assign]

    async def screens() -> None:
        leaving = asyncio.ensure_future(api.shared_units_snapshot({}, CALLER))
        staying = asyncio.ensure_future(api.shared_units_snapshot({}, CALLER))
        await asyncio.sleep(0.01)
        leaving.cancel()
        assert await staying == {"units": ["u"]}

    asyncio.run(screens())


# -- contract v1.1 figures and the paused list, from a real engine -------------------------

t = lambda text: parse_instant(text, "t")  # noqa: E731
NOW = "2026-03-20T12:00:00+07:00"


def submitted(dossier: str, received: str, due: str, official: str) -> DossierSubmitted:
    return DossierSubmitted(
        f"s-{dossier}", "u", dossier, t(received), t(due), None, official, None, None
    )


def completed(dossier: str, at: str) -> DossierCompleted:
    return DossierCompleted(f"c-{dossier}", "u", dossier, t(at), None, "resolved")


def rescheduled(dossier: str, at: str, apology: bool) -> DossierRescheduled:
    return DossierRescheduled(
        f"r-{dossier}", "u", dossier, t(at), t(at) + 86_400_000_000, apology, None
    )


def scenario_api() -> Api:
    """Unit u at 2026-03-20 12:00: cb-1 resolved one dossier late (rescheduled with an
    apology letter) and one on time (rescheduled without); cb-2 resolved one on time, has
    one open and overdue, and one open and waiting for the citizen's papers since 17 March
    (received 16 March, due 19 March: the pause stops its clock, so it is not overdue)."""
    states: dict[bytes, bytes] = {}
    engine = Engine(WorkingCalendar(), Clock(ClockSpec("fixed", t(NOW))), lambda _: states)
    march_2, march_4 = "2026-03-02T08:00:00+07:00", "2026-03-04T00:00:00+07:00"
    for event in (
        submitted("late", march_2, march_4, "cb-1"),
        rescheduled("late", "2026-03-03T10:00:00+07:00", apology=True),
        completed("late", "2026-03-05T09:00:00+07:00"),
        submitted("ok", march_2, march_4, "cb-1"),
        rescheduled("ok", "2026-03-02T10:00:00+07:00", apology=False),
        completed("ok", "2026-03-03T09:00:00+07:00"),
        submitted("ok-2", march_2, march_4, "cb-2"),
        completed("ok-2", "2026-03-03T09:00:00+07:00"),
        submitted("overdue", "2026-03-10T08:00:00+07:00", "2026-03-12T00:00:00+07:00", "cb-2"),
        submitted("paused", "2026-03-16T08:00:00+07:00", "2026-03-19T00:00:00+07:00", "cb-2"),
        DossierPause(
            "p-paused",
            "u",
            "paused",
            "1",
            "supplement",
            t("2026-03-17T09:00:00+07:00"),
            None,
            None,
        ),
    ):
        engine.apply(event)
    worker = SimpleNamespace(
        engine=engine,
        settings=Settings(),
        registry={},
        owned_units=lambda: ["u"],
    )
    peers = SimpleNamespace(gather=lambda *_: asyncio.sleep(0, result=[]))
    return Api(cast(Any, worker), cast(Any, peers))


def test_unit_and_officials_carry_the_v1_1_figures() -> None:
    api = scenario_api()
    period, _ = api.period("2026")
    unit = api.unit("u", period)
    assert (unit["resolved"], unit["resolved_late"], unit["open_overdue"]) == (3, 1, 1)
    assert unit["late_rate"] == 0.5  # (1 late + 1 overdue) / (3 + 1): the paused one is not
    assert unit["late_rate_resolved"] == 1 / 3
    assert (unit["paused"], unit["rescheduled"], unit["apologised"]) == (1, 2, 1)
    officials = {row["official_id"]: row for row in api.officials("u", period)}
    one, two = officials["cb-1"], officials["cb-2"]
    assert one["late_rate_resolved"] == 0.5
    assert (one["paused"], one["rescheduled"], one["apologised"]) == (0, 2, 1)
    assert two["late_rate_resolved"] == 0
    assert (two["paused"], two["rescheduled"], two["apologised"]) == (1, 0, 0)
    # February: nothing resolved, so the rate of resolved dossiers is null, not 0.
    february = api.unit("u", api.period("2026-02")[0])
    assert february["late_rate_resolved"] is None
    assert (february["paused"], february["rescheduled"], february["apologised"]) == (0, 0, 0)


def test_the_units_list_carries_the_v1_1_figures() -> None:
    api = scenario_api()
    caller = cast(Any, SimpleNamespace(token="t"))
    snapshot = asyncio.run(api.units_snapshot({"period": "2026"}, caller))
    (unit,) = snapshot["units"]
    assert {"late_rate_resolved", "paused", "rescheduled", "apologised"} <= set(unit)
    assert (unit["paused"], unit["rescheduled"], unit["apologised"]) == (1, 2, 1)


def test_paused_dossiers_are_listed_apart_from_the_overdue() -> None:
    due = scenario_api().due_soon("u", 3)
    assert [row["dossier_id"] for row in due["overdue"]] == ["overdue"]
    assert due["paused"] == [
        {"dossier_id": "paused", "official_id": "cb-2", "paused_at": "2026-03-17T09:00:00+07:00"}
    ]
    assert "paused" not in {row["dossier_id"] for row in due["dossiers"]}


def test_daily_counts_carry_reschedulings_and_apologies() -> None:
    days = {row["date"]: row for row in scenario_api().daily("u", 30)["days"]}
    assert (days["2026-03-03"]["rescheduled"], days["2026-03-03"]["apologised"]) == (1, 1)
    assert (days["2026-03-02"]["rescheduled"], days["2026-03-02"]["apologised"]) == (1, 0)
    assert days["2026-03-05"]["resolved_late"] == 1


def test_a_dossier_paused_after_its_deadline_is_overdue_and_paused() -> None:
    api = scenario_api()
    engine = api.worker.engine
    engine.apply(
        submitted("late-pause", "2026-03-09T08:00:00+07:00", "2026-03-11T00:00:00+07:00", "cb-2")
    )
    engine.apply(
        DossierPause(
            "p-late",
            "u",
            "late-pause",
            "1",
            "financial_obligation",
            t("2026-03-13T09:00:00+07:00"),
            None,
            None,
        )
    )
    due = api.due_soon("u", 3)
    assert [row["dossier_id"] for row in due["overdue"]] == ["late-pause", "overdue"]
    assert [row["dossier_id"] for row in due["paused"]] == ["late-pause", "paused"]  # longest first
    unit = api.unit("u", api.period("2026")[0])
    assert (unit["open_overdue"], unit["paused"]) == (2, 2)


def caller_with(*scopes: str) -> Any:
    return SimpleNamespace(token="t", grant=Grant("t", frozenset(scopes)))


def explained(api: Api, dossier_id: str, *scopes: str) -> list[dict[str, Any]]:
    answer = asyncio.run(api.dossiers(dossier_id, {}, caller_with(*scopes)))
    return cast(list[dict[str, Any]], answer["dossiers"])


def test_a_dossier_explains_why_it_is_late_or_not() -> None:
    api = scenario_api()
    (paused,) = explained(api, "paused", "unit:u")
    assert paused == {
        "unit_id": "u",
        "dossier_id": "paused",
        "source": "events",
        "state": "paused",
        "late": False,
        "received_at": "2026-03-16T08:00:00+07:00",
        "due_at": "2026-03-19T00:00:00+07:00",
        # paused from 17 March 09:00 to now (20 March 12:00): 3 days and 3 hours
        "effective_due_at": "2026-03-22T03:00:00+07:00",
        "ended_at": None,
        "official_id": "cb-2",
        "procedure_code": None,
        "field_code": None,
        "channel": None,
        "pauses": [
            {"reason": "supplement", "paused_at": "2026-03-17T09:00:00+07:00", "resumed_at": None}
        ],
        "supplement_requests": 1,
        "quality": [],
    }
    (overdue,) = explained(api, "overdue", "admin")
    assert (overdue["state"], overdue["late"]) == ("open_overdue", True)
    (late,) = explained(api, "late", "admin")
    assert (late["state"], late["late"], late["ended_at"]) == (
        "resolved",
        True,
        "2026-03-05T09:00:00+07:00",
    )
    assert explained(api, "no-such-dossier", "admin") == []


def test_an_event_dossier_explains_its_field() -> None:
    api = scenario_api()
    received, due = "2026-03-18T08:00:00+07:00", "2026-03-25T00:00:00+07:00"
    event = replace(submitted("field", received, due, "cb-1"), field_code="G09-TP05")
    api.worker.engine.apply(event)
    (told,) = explained(api, "field", "admin")
    assert (told["field_code"], told["procedure_code"], told["source"]) == (
        "G09-TP05",
        None,
        "events",
    )


def test_only_a_units_token_or_admin_sees_its_dossiers() -> None:
    api = scenario_api()
    assert explained(api, "paused", "unit:other") == []
    with pytest.raises(Forbidden):
        explained(api, "paused", "public")


def test_the_late_count_opens_the_dossiers_behind_it() -> None:
    api = scenario_api()
    late = api.late("u", api.period("2026")[0], 100)
    assert (late["total"], late["dossiers"]) == (
        1,
        [{"dossier_id": "late", "ended_at": "2026-03-05T09:00:00+07:00"}],
    )
    assert api.late("u", api.period("2026-02")[0], 100)["total"] == 0
    # A pause that comes later shows it waited two days for the citizen: on time after all.
    waited = (t("2026-03-02T09:00:00+07:00"), t("2026-03-04T09:00:00+07:00"))
    api.worker.engine.apply(
        DossierPause("p", "u", "late", "1", "financial_obligation", *waited, None)
    )
    assert api.late("u", api.period("2026")[0], 100)["total"] == 0
