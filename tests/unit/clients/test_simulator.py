"""The simulator's Decision 766 traffic, and the same traffic as national sync records.

The sync records are read back here by a small decoder written from the contract's text
(section 9), independent of the worker's, so that the converter is checked against the
contract rather than against the code that reads it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any, NamedTuple

import fastjsonschema
import orjson
import pytest

from clients.simulator import (
    BATCH_LIMIT,
    SYNC_TOPIC,
    Simulator,
    as_dvcqg,
    event_time,
    message_key,
    sync_date,
)
from kpi.calendar import WorkingCalendar
from kpi.units import Unit
from schemas.codec import LOCAL_TZ, decode, load_schema, parse_instant
from schemas.records import EventKind, Instant, ProcessingTime
from tests.commands import cchc

Events = list[tuple[str, dict[str, Any]]]
CALENDAR = WorkingCalendar()
VALID_SYNC = fastjsonschema.compile(load_schema("dvcqg-sync"))
KINDS = {f"cchc.{kind.value}": kind for kind in EventKind}
OUTCOME_RANK = {"resolved": 2, "returned": 1}
PASSED = ("cchc.satisfaction-survey", "cchc.dossier-rescheduled", "cchc.unit-ranking")
"""What the dvcqg format keeps as section-2 events."""
UNITS = {
    "xa-a": Unit("xa-a", "Xã A", "xa", "commune", "000.01.30.H34"),
    "xa-b": Unit("xa-b", "Xã B", "xa", "commune"),  # no dvcqg_code: DonViXuLy is the unit_id
}


@pytest.fixture(scope="module")
def year() -> Events:
    return list(Simulator(seed=5, units_limit=6).history(date(2025, 1, 1), 365))


def instant(text: str) -> Instant:
    return parse_instant(text, "test")


# --- the events format --------------------------------------------------------------


def test_history_is_deterministic_per_seed() -> None:
    def run(seed: int) -> Events:
        return list(Simulator(seed=seed, units_limit=5).history(date(2026, 1, 1), 10))

    assert run(7) == run(7) != run(8)


def test_every_outcome_pause_reason_and_rescheduling_occurs_in_a_year(year: Events) -> None:
    topics = Counter(topic for topic, _ in year)
    dossiers = topics["cchc.dossier-submitted"]
    outcomes = Counter(e["outcome"] for t, e in year if t == "cchc.dossier-completed")
    assert set(outcomes) == {"resolved", "returned", "rejected", "stopped", "withdrawn"}
    assert outcomes.most_common(1)[0][0] == "resolved"
    opened = Counter(
        (e["reason"], e["pause_id"])
        for t, e in year
        if t == "cchc.dossier-pause" and "resumed_at" not in e
    )
    assert 0.07 < opened["supplement", "bs1"] / dossiers < 0.11
    assert 0.003 < opened["supplement", "bs2"] / dossiers < 0.02  # late by contract
    assert 0.015 < opened["financial_obligation", "nvtc1"] / dossiers < 0.05
    apologies = Counter(e["apology"] for t, e in year if t == "cchc.dossier-rescheduled")
    assert apologies[True] > apologies[False] > 0


def test_events_are_valid_in_time_order_and_in_whole_seconds(year: Events) -> None:
    seen: set[str] = set()
    last = 0
    for topic, event in year:
        record = decode(KINDS[topic], orjson.dumps(event))
        if event["event_id"] in seen:  # a redelivered duplicate comes a little later
            assert topic == "cchc.dossier-submitted"
            continue
        seen.add(event["event_id"])
        assert record.timestamp >= last
        last = record.timestamp
        stamps = [v for k, v in event.items() if k.endswith("_at")]
        assert all(instant(stamp) % 1_000_000 == 0 for stamp in stamps), event


def test_pauses_resume_under_the_same_id_and_delay_the_completion(year: Events) -> None:
    copies: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    completed: dict[str, Instant] = {}
    for topic, event in year:
        if topic == "cchc.dossier-pause":
            copies[event["dossier_id"], event["pause_id"]].append(event)
        elif topic == "cchc.dossier-completed":
            completed.setdefault(event["dossier_id"], instant(event["completed_at"]))
    # never resumed: the dossier stays open
    still_open = {dossier_id for (dossier_id, _), pause in copies.items() if len(pause) == 1}
    assert 0 < len(still_open) < 0.1 * len(copies)
    assert not still_open & set(completed)
    for (dossier_id, _), pause in copies.items():
        assert "resumed_at" not in pause[0]
        if len(pause) == 1:
            continue
        opened, resumed = pause
        assert opened["pause_id"] == resumed["pause_id"]
        assert opened["paused_at"] == resumed["paused_at"]
        assert instant(resumed["resumed_at"]) >= instant(resumed["paused_at"])
        if dossier_id not in still_open:
            assert instant(resumed["resumed_at"]) < completed[dossier_id]


def test_pauses_move_the_completion_not_its_clock(year: Events) -> None:
    """Pauses delay the completion by their length: on its own clock (wall time minus
    pauses, contract §3) a dossier still ends after its receipt, and late as often as the
    model makes it."""
    received: dict[str, tuple[Instant, Instant]] = {}
    paused: Counter[str] = Counter()
    late = on_time = 0
    for topic, event in year:
        if topic == "cchc.dossier-submitted":
            start = instant(event["received_at"])
            processing = ProcessingTime(**event["processing_time"])
            received[event["dossier_id"]] = (start, CALENDAR.deadline(start, processing))
        elif topic == "cchc.dossier-pause" and "resumed_at" in event:
            length = instant(event["resumed_at"]) - instant(event["paused_at"])
            paused[event["dossier_id"]] += length
        elif topic == "cchc.dossier-completed" and event["event_id"].endswith("/c"):
            start, due = received[event["dossier_id"]]
            clock = instant(event["completed_at"]) - paused[event["dossier_id"]]
            assert clock > start
            late, on_time = late + (clock > due), on_time + (clock <= due)
    assert 0.01 < late / (late + on_time) < 0.08


def test_reschedulings_come_around_the_deadline_with_a_later_appointment(year: Events) -> None:
    dossiers: dict[str, dict[str, Any]] = {}
    ends: dict[str, Instant] = {}
    checked = 0
    for topic, event in year:
        if topic == "cchc.dossier-submitted":
            dossiers[event["dossier_id"]] = event
        elif topic == "cchc.dossier-completed":
            ends.setdefault(event["dossier_id"], instant(event["completed_at"]))
    for topic, event in year:
        if topic != "cchc.dossier-rescheduled":
            continue
        submitted = dossiers[event["dossier_id"]]
        received = instant(submitted["received_at"])
        due = CALENDAR.deadline(received, ProcessingTime(**submitted["processing_time"]))
        assert instant(event["new_due_at"]) > due
        assert received <= instant(event["rescheduled_at"]) <= ends[event["dossier_id"]]
        checked += 1
    assert checked


# --- a decoder of sync records, from the contract's section 9 ----------------------


class Dossier(NamedTuple):
    unit_id: str
    received_at: Instant
    due_at: Instant
    procedure_code: str | None
    channel: str | None
    pauses: dict[str, tuple[Instant, Instant | None]]
    end: tuple[str, Instant] | None
    official_id: str | None


def sync_instant(text: str | None) -> Instant | None:
    """A record's date; empty or absent is none."""
    if not text:
        return None
    moment = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=LOCAL_TZ)
    return int(moment.timestamp()) * 1_000_000


def given(text: str | None) -> Instant:
    """A date the record must have (a valid record has it)."""
    moment = sync_instant(text)
    assert moment is not None
    return moment


def end_rank(end: tuple[str, Instant]) -> tuple[int, Instant]:
    return (OUTCOME_RANK.get(end[0], 0), end[1])


def read_sync(messages: Events, units: dict[str, Unit]) -> dict[str, Dossier]:
    """The dossiers sync messages describe, by the rules of contract section 9."""
    codes = {unit.dvcqg_code: unit.unit_id for unit in units.values() if unit.dvcqg_code}
    winners: dict[str, tuple[tuple[Instant, str], dict[str, Any]]] = {}
    progress: dict[str, list[tuple[Instant, str]]] = defaultdict(list)
    for topic, message in messages:
        if topic != SYNC_TOPIC:
            continue
        synced = instant(message["synced_at"])
        for record in message["data"]:
            if message["service"] == "CapNhatTienDoHoSoMC":
                step = (given(record["ThoiDiemXuLy"]), record["NguoiXuLy"])
                progress[record["MaHoSo"]].append(step)
                continue
            text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            rank = (synced, hashlib.sha256(text.encode()).hexdigest())
            if record["MaHoSo"] not in winners or rank > winners[record["MaHoSo"]][0]:
                winners[record["MaHoSo"]] = (rank, record)
    dossiers = {}
    for dossier_id, (_, record) in winners.items():
        status = int(record["TrangThaiHoSo"])
        if status in (1, 3):
            continue
        entries = [
            (given(e["NgayBoSung"]), n, e) for n, e in enumerate(record["DanhSachHoSoBoSung"])
        ]
        first = min(entries, default=None, key=lambda entry: entry[:2])
        due = given(first[2]["NgayHenTraTruoc"] if first else record["NgayHenTra"])
        ends: list[tuple[str, Instant]] = []
        processed = sync_instant(record.get("NgayKetThucXuLy"))
        if status == 9 or (status == 10 and processed is not None):
            ends.append(("resolved", given(record["NgayKetThucXuLy"])))
        elif status == 10:
            ends.append(("returned", given(record.get("NgayTra"))))
        elif status in (7, 8):
            ends.append(
                ("withdrawn" if status == 7 else "stopped", given(record["NgayKetThucXuLy"]))
            )
        if record.get("NgayTuChoi"):
            ends.append(("rejected", given(record["NgayTuChoi"])))
        end = max(ends, key=end_rank) if ends else None
        steps = [s for s in progress[dossier_id] if end is None or s[0] <= end[1]]
        channel = record.get("KenhThucHien")
        dossiers[dossier_id] = Dossier(
            unit_id=codes.get(record["DonViXuLy"], record["DonViXuLy"]),
            received_at=given(record["NgayTiepNhan"]),
            due_at=due,
            procedure_code=record.get("MaTTHC") or None,
            channel={1: "counter", 2: "online", 3: "postal"}.get(int(channel or 0)),
            pauses={
                e.get("HoSoBoSungId") or str(n): (paused, sync_instant(e["NgayTiepNhanBoSung"]))
                for paused, n, e in entries
            },
            end=end,
            official_id=max(steps)[1] if steps else None,
        )
    return dossiers


def read_events(events: Events) -> dict[str, Dossier]:
    """The same from section-2 events: each type's winner (contract §4); no financial
    pauses, which sync records cannot express."""
    submissions: dict[str, dict[str, Any]] = {}
    completions: dict[str, dict[str, Any]] = {}
    pauses: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def completion_rank(event: dict[str, Any]) -> tuple[int, Instant, str]:
        outcome = event.get("outcome", "resolved")
        return (OUTCOME_RANK.get(outcome, 0), instant(event["completed_at"]), event["event_id"])

    def pause_rank(event: dict[str, Any]) -> tuple[bool, Instant, str]:
        resumed = event.get("resumed_at")
        return (resumed is not None, instant(resumed or event["paused_at"]), event["event_id"])

    for topic, event in events:
        dossier_id = event.get("dossier_id", "")
        if topic == "cchc.dossier-submitted":
            known = submissions.get(dossier_id)
            rank = (instant(event["received_at"]), event["event_id"])
            if known is None or rank > (instant(known["received_at"]), known["event_id"]):
                submissions[dossier_id] = event
        elif topic == "cchc.dossier-completed":
            known = completions.get(dossier_id)
            if known is None or completion_rank(event) > completion_rank(known):
                completions[dossier_id] = event
        elif topic == "cchc.dossier-pause" and event["reason"] == "supplement":
            known = pauses[dossier_id].get(event["pause_id"])
            if known is None or pause_rank(event) > pause_rank(known):
                pauses[dossier_id][event["pause_id"]] = event
    dossiers = {}
    for dossier_id, submitted in submissions.items():
        received = instant(submitted["received_at"])
        if "due_at" in submitted:
            due = instant(submitted["due_at"])
        else:
            due = CALENDAR.deadline(received, ProcessingTime(**submitted["processing_time"]))
        completed = completions.get(dossier_id)
        end = None
        if completed is not None:
            end = (completed.get("outcome", "resolved"), instant(completed["completed_at"]))
        dossiers[dossier_id] = Dossier(
            unit_id=submitted["unit_id"],
            received_at=received,
            due_at=due,
            procedure_code=submitted.get("procedure_code"),
            channel=submitted.get("channel"),
            pauses={
                pause_id: (
                    instant(p["paused_at"]),
                    instant(p["resumed_at"]) if p.get("resumed_at") else None,
                )
                for pause_id, p in pauses[dossier_id].items()
            },
            end=end,
            official_id=(completed or {}).get("official_id") or submitted.get("official_id"),
        )
    return dossiers


# --- hand-made dossiers -------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+07:00"


def submitted(dossier_id: str, received_at: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    event: dict[str, Any] = {
        "event_id": f"{dossier_id}/s",
        "unit_id": "xa-a",
        "dossier_id": dossier_id,
        "received_at": received_at,
        "official_id": "cb1",
        "procedure_code": "dang-ky-ket-hon",
        "channel": "counter",
    }
    if "due_at" not in fields:
        event["processing_time"] = {"amount": 3, "unit": "working_days"}
    return "cchc.dossier-submitted", event | fields


def completed(
    dossier_id: str, completed_at: str, outcome: str, **fields: Any
) -> tuple[str, dict[str, Any]]:
    event = {
        "event_id": f"{dossier_id}/{outcome}",
        "unit_id": "xa-a",
        "dossier_id": dossier_id,
        "completed_at": completed_at,
        "official_id": "cb2",
        "outcome": outcome,
    }
    return "cchc.dossier-completed", {k: v for k, v in (event | fields).items() if v is not None}


def pause(
    dossier_id: str,
    pause_id: str,
    paused_at: str,
    resumed_at: str | None = None,
    reason: str = "supplement",
) -> tuple[str, dict[str, Any]]:
    event = {
        "event_id": f"{dossier_id}/{pause_id}" + ("/r" if resumed_at else ""),
        "unit_id": "xa-a",
        "dossier_id": dossier_id,
        "pause_id": pause_id,
        "reason": reason,
        "paused_at": paused_at,
    }
    return "cchc.dossier-pause", event | ({"resumed_at": resumed_at} if resumed_at else {})


def by_time(events: Events) -> Events:
    return sorted(events, key=lambda item: event_time(*item))


HAND_MADE = by_time(
    [
        # A: resolved by another official than the one who received it
        submitted("A", at(2, 8)),
        completed("A", at(4, 10), "resolved"),
        # B: a supplement, then only the handover is recorded; completion without official
        submitted("B", at(2, 9), due_at=at(6, 0), channel="online", official_id="cb3"),
        pause("B", "bs1", at(3, 9)),
        pause("B", "bs1", at(3, 9), at(4, 15)),
        completed("B", at(7, 9), "returned", official_id=None),
        # C: a supplement never brought: open and paused
        submitted("C", at(2, 10), channel="postal"),
        pause("C", "bs1", at(3, 11)),
        # D: asked twice, then rejected
        submitted("D", at(2, 11)),
        pause("D", "bs1", at(2, 14)),
        pause("D", "bs1", at(2, 14), at(3, 8)),
        pause("D", "bs2", at(3, 16)),
        pause("D", "bs2", at(3, 16), at(5, 9, 30, 15)),
        completed("D", at(6, 10), "rejected"),
        # E: processed, then the result handed over by someone else
        submitted("E", at(2, 12)),
        completed("E", at(3, 9), "resolved"),
        completed("E", at(5, 14), "returned", official_id="cb4"),
        # F: stopped; G: withdrawn, in a unit without a dvcqg_code
        submitted("F", at(2, 13)),
        completed("F", at(4, 13), "stopped"),
        submitted("G", at(2, 14), unit_id="xa-b"),
        completed("G", at(3, 14), "withdrawn", unit_id="xa-b"),
        # H: a financial obligation (not a sync pause), then resolved
        submitted("H", at(2, 15), procedure_code="dang-ky-bien-dong-dat-dai"),
        pause("H", "nvtc1", at(3, 9), reason="financial_obligation"),
        pause("H", "nvtc1", at(3, 9), at(5, 16), reason="financial_obligation"),
        completed("H", at(6, 11), "resolved"),
        # I: withdrawn, then resolved after all (resolved outranks), then rejected (loses)
        submitted("I", at(2, 16)),
        completed("I", at(3, 8), "withdrawn"),
        completed("I", at(4, 8), "resolved", official_id="cb5"),
        completed("I", at(4, 9), "rejected"),
        # J: received, nothing else yet; a duplicate of its submission changes nothing
        submitted("J", at(2, 17)),
        submitted("J", at(2, 17)),
        # a survey, a rescheduling and a ranking pass through
        (
            "cchc.satisfaction-survey",
            {
                "event_id": "A/v",
                "unit_id": "xa-a",
                "dossier_id": "A",
                "surveyed_at": at(4, 12),
                "rating": "satisfied",
            },
        ),
        (
            "cchc.dossier-rescheduled",
            {
                "event_id": "D/d",
                "unit_id": "xa-a",
                "dossier_id": "D",
                "rescheduled_at": at(3, 16),
                "new_due_at": at(9, 17),
                "apology": True,
            },
        ),
        (
            "cchc.unit-ranking",
            {
                "event_id": "r",
                "unit_id": "xa-a",
                "year": 2025,
                "rank": "tot",
                "published_at": at(2, 7),
            },
        ),
    ]
)


def snapshots(messages: Events) -> dict[str, list[dict[str, Any]]]:
    """Every snapshot of each dossier, in the order sent."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, message in messages:
        if topic == SYNC_TOPIC and message["service"] == "DongBoHoSoMC":
            for record in message["data"]:
                found[record["MaHoSo"]].append(record)
    return found


def test_hand_made_dossiers_read_back_as_their_events() -> None:
    converted = list(as_dvcqg(HAND_MADE, UNITS))
    assert read_sync(converted, UNITS) == read_events(HAND_MADE)
    back = read_sync(converted, UNITS)
    assert back["B"].end == ("returned", instant(at(7, 9))) and back["B"].official_id == "cb3"
    assert back["C"].end is None and back["C"].pauses == {"bs1": (instant(at(3, 11)), None)}
    assert back["E"].end == ("resolved", instant(at(3, 9))) and back["E"].official_id == "cb2"
    assert back["G"].unit_id == "xa-b" and back["H"].pauses == {}
    assert back["I"].end == ("resolved", instant(at(4, 8))) and back["I"].official_id == "cb5"


def test_status_codes_follow_the_dossier() -> None:
    states = snapshots(list(as_dvcqg(HAND_MADE, UNITS)))
    statuses = {
        dossier: [r["TrangThaiHoSo"] for r in records] for dossier, records in states.items()
    }
    assert statuses == {
        "A": [2, 9],
        "B": [2, 5, 4, 10],
        "C": [2, 5],
        "D": [2, 5, 4, 5, 4, 4],
        "E": [2, 9, 10],
        "F": [2, 8],
        "G": [2, 7],
        "H": [2, 6, 4, 9],
        "I": [2, 7, 9],
        "J": [2],
    }
    rejected, handed_over = states["D"][-1], states["E"][-1]
    assert rejected["NgayTuChoi"] == "20260306100000" and rejected["NgayKetThucXuLy"] == ""
    assert handed_over["NgayKetThucXuLy"] == "20260303090000"
    assert handed_over["NgayTra"] == "20260305140000"
    assert states["B"][-1]["NgayTra"] == "20260307090000"
    assert states["B"][-1]["NgayKetThucXuLy"] == ""


def test_supplements_move_the_appointment_and_keep_the_original_due() -> None:
    record = snapshots(list(as_dvcqg(HAND_MADE, UNITS)))["D"][-1]
    assert record["DonViXuLy"] == "000.01.30.H34" and record["KenhThucHien"] == 1
    assert record["MaTTHC"] == "dang-ky-ket-hon" and record["TenTTHC"] == "Đăng ký kết hôn"
    first, second = record["DanhSachHoSoBoSung"]
    # received Monday 2 March: 3 working days end on Thursday 5 March at 24:00
    assert first == {
        "HoSoBoSungId": "bs1",
        "NgayBoSung": "20260302140000",
        "NgayTiepNhanBoSung": "20260303080000",
        "NgayHenTraTruoc": "20260306000000",
        "NgayHenTraMoi": "20260306180000",
    }
    assert second["NgayHenTraTruoc"] == first["NgayHenTraMoi"]
    # the second pause lasted 1 day 17:30:15
    assert second["NgayHenTraMoi"] == record["NgayHenTra"] == "20260308113015"
    open_pause = snapshots(list(as_dvcqg(HAND_MADE, UNITS)))["C"][-1]["DanhSachHoSoBoSung"]
    assert open_pause[0]["NgayTiepNhanBoSung"] == open_pause[0]["NgayHenTraMoi"] == ""


def test_progress_records_name_the_officials_at_receipt_and_end() -> None:
    steps = [
        (record["MaHoSo"], record["NguoiXuLy"], record["ThoiDiemXuLy"], record["TrangThai"])
        for topic, message in as_dvcqg(HAND_MADE, UNITS)
        if topic == SYNC_TOPIC and message["service"] == "CapNhatTienDoHoSoMC"
        for record in message["data"]
    ]
    assert [s for s in steps if s[0] in ("A", "B", "E")] == [
        ("A", "cb1", "20260302080000", 2),
        ("B", "cb3", "20260302090000", 2),
        ("E", "cb1", "20260302120000", 2),
        ("E", "cb2", "20260303090000", 9),
        ("A", "cb2", "20260304100000", 9),
        ("B", "cb3", "20260307090000", 10),  # the submission's official: none on the end
    ]


def test_other_events_pass_through_unchanged() -> None:
    converted = list(as_dvcqg(HAND_MADE, UNITS))
    passed = [(t, e) for t, e in converted if t != SYNC_TOPIC]
    assert passed == [(t, e) for t, e in HAND_MADE if t in PASSED]
    times = [event_time(t, e) for t, e in converted]
    assert times == sorted(times)


def test_sync_dates_are_local_whole_seconds() -> None:
    assert sync_date(instant("2026-01-05T23:30:59Z")) == "20260106063059"
    assert sync_date(instant("2026-01-05T23:30:59.900+00:00")) == "20260106063059"
    message = next(m for t, m in as_dvcqg(HAND_MADE, UNITS) if t == SYNC_TOPIC)
    assert message["synced_at"] == "2026-03-02T08:00:00+07:00"


def test_a_minute_of_changes_is_one_batch_per_service_with_the_latest_state() -> None:
    many = [submitted(f"M{n:03d}", at(2, 8, 0, n % 60)) for n in range(60)]
    many += [pause("M000", "bs1", at(2, 8, 0, 59)), pause("M001", "bs1", at(2, 8, 1))]
    converted = list(as_dvcqg(by_time(many), UNITS))
    dossier_messages = [
        m for t, m in converted if t == SYNC_TOPIC and m["service"] == "DongBoHoSoMC"
    ]
    sizes = [len(m["data"]) for m in dossier_messages]
    assert sizes == [BATCH_LIMIT, 60 - BATCH_LIMIT, 1]
    first_minute = [r for m in dossier_messages[:2] for r in m["data"]]
    assert len({r["MaHoSo"] for r in first_minute}) == 60
    # M000 was received and paused in the same minute: sent once, paused
    assert next(r for r in first_minute if r["MaHoSo"] == "M000")["TrangThaiHoSo"] == 5
    assert dossier_messages[0]["synced_at"] < dossier_messages[-1]["synced_at"]
    assert [message_key(SYNC_TOPIC, m) for m in dossier_messages] == [None, None, "M001"]


def test_sync_messages_are_valid_and_read_back_as_the_events() -> None:
    """Over 100 days, so that the converter also forgets dossiers ended long ago."""
    simulator = Simulator(seed=5, units_limit=6)
    events = list(simulator.history(date(2025, 1, 1), 100))
    units = {profile.unit.unit_id: profile.unit for profile in simulator.profiles}
    converted = list(as_dvcqg(events, units))
    latest: dict[str, Instant] = {}
    for topic, value in converted:
        assert topic == SYNC_TOPIC or topic in PASSED
        if topic != SYNC_TOPIC:
            continue
        VALID_SYNC(value)
        assert value["synced_at"].endswith("+07:00") and "." not in value["synced_at"]
        assert 1 <= len(value["data"]) <= BATCH_LIMIT
        if value["service"] == "DongBoHoSoMC":
            names = [record["MaHoSo"] for record in value["data"]]
            assert len(set(names)) == len(names)
            synced = instant(value["synced_at"])
            for name in names:  # each later snapshot has a strictly later synced_at
                assert latest.get(name, 0) < synced
                latest[name] = synced
    assert read_sync(converted, units) == read_events(events)


def test_simulate_prints_the_dvcqg_format() -> None:
    result = cchc("simulate", "--seed", "2", "--days", "3", "--units", "4", "--format", "dvcqg")
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    topics = Counter(line["topic"] for line in lines)
    assert topics[SYNC_TOPIC] and topics["cchc.unit-ranking"] == 8
    assert not {"cchc.dossier-submitted", "cchc.dossier-completed"} & set(topics)
    for line in lines:
        assert line["key"] == message_key(line["topic"], line["value"])


def test_every_submission_names_its_field_from_the_synthetic_catalogue(year: Events) -> None:
    fields = {e["field_code"] for t, e in year if t == "cchc.dossier-submitted"}
    assert fields == {"HO-TICH", "CHUNG-THUC", "DAT-DAI", "NGUOI-CO-CONG"}  # communes only
