"""Sync records meet per MaHoSo, and units hold what the winning snapshot says (§9)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.calendar import WorkingCalendar
from kpi.clock import Clock, ClockSpec
from kpi.dossier import RECEIVED_LATE, Detail, StateTooLarge
from kpi.engine import Engine
from kpi.figures import Figures
from kpi.history import MAX_RUNS
from kpi.periods import parse_period
from kpi.snapshots import (
    MAX_HOMES,
    MAX_PROGRESS,
    DossierSnapshot,
    Grant,
    NotGranted,
    Progress,
    SyncBook,
    SyncState,
    facts,
)
from kpi.units import Directory, load_units
from schemas.codec import parse_instant
from schemas.dvcqg import digest, mark_names, read_dossier, read_progress
from schemas.records import FLAGS, DossierCompleted, DossierSubmitted, SatisfactionSurvey

CAL = WorkingCalendar()
CODES = {"000.01.30.H34": "xa-a", "000.02.30.H34": "xa-b"}


def find(name: str | None, madonvi: str | None) -> str | None:
    """The registry of these tests: two units, by code."""
    return CODES.get(name or "") or CODES.get(madonvi or "")


def local(text: str) -> int:
    return parse_instant(text + "+07:00", "t")


def snapshot(status: int, unit: str = "000.01.30.H34", **fields: Any) -> dict[str, Any]:
    return {
        "MaHoSo": "HS-1",
        "DonViXuLy": unit,
        "TrangThaiHoSo": status,
        "NgayTiepNhan": "20260302080000",
        "NgayHenTra": "20260304170000",
    } | fields


def step(official: str, at: str) -> dict[str, Any]:
    return {"MaHoSo": "HS-1", "NguoiXuLy": official, "ThoiDiemXuLy": at, "TrangThai": 4}


class Monitor:
    """A SyncBook and an Engine wired as the worker wires them, without Kafka."""

    def __init__(self, waiting_cap: int = 100_000) -> None:
        self.sync_states: dict[bytes, bytes] = {}
        self.states: dict[str, dict[bytes, bytes]] = {}
        clock = Clock(ClockSpec("fixed", local("2026-03-31T12:00:00")))
        self.engine = Engine(CAL, clock, lambda unit: self.states.setdefault(unit, {}))
        self.book = SyncBook(find, waiting_cap)
        self.dropped: list[str] = []

    def sync(self, synced_at: str, record: dict[str, Any], grant: Grant = None) -> None:
        read = read_progress if "NguoiXuLy" in record else read_dossier
        at = local(synced_at)
        applied = self.book.apply(0, self.sync_states, read(record), at, digest(record), grant)
        self.dropped += applied.dropped
        for fact in applied.facts:
            self.engine.apply(DossierSnapshot.decode(fact.encode()))  # as over the topic

    def figures(self, unit: str, official: str | None = None) -> Figures:
        return self.engine.figures(unit, parse_period("2026-03", self.engine.now), official)


MESSAGES = [
    ("2026-03-02T08:00:00", snapshot(2)),
    ("2026-03-02T08:00:01", step("cb-lan", "20260302080000")),
    (
        "2026-03-03T09:00:00",
        snapshot(
            5,
            DanhSachHoSoBoSung=[
                {
                    "HoSoBoSungId": "1",
                    "NgayBoSung": "20260303090000",
                    "NgayHenTraTruoc": "20260304170000",
                }
            ],
        ),
    ),
    (
        "2026-03-05T09:00:00",
        snapshot(
            9,
            NgayHenTra="20260305170000",
            NgayKetThucXuLy="20260305090000",
            DanhSachHoSoBoSung=[
                {
                    "HoSoBoSungId": "1",
                    "NgayBoSung": "20260303090000",
                    "NgayTiepNhanBoSung": "20260304090000",
                    "NgayHenTraTruoc": "20260304170000",
                }
            ],
        ),
    ),
    ("2026-03-05T09:00:01", step("cb-minh", "20260305090000")),
    ("2026-03-06T09:00:01", step("cb-van-thu", "20260306090000")),  # after its end
]


def test_the_latest_snapshot_gives_the_dossier_with_pauses_and_its_official() -> None:
    monitor = Monitor()
    for synced_at, record in MESSAGES:
        monitor.sync(synced_at, record)
    f = monitor.figures("xa-a")
    # due 4 March 17:00, paused a day: on time at 5 March 09:00
    assert (f.resolved, f.resolved_late, f.open_overdue, f.paused) == (1, 0, 0, 0)
    resolved_by = {
        o: monitor.figures("xa-a", o).resolved for o in ("cb-lan", "cb-minh", "cb-van-thu")
    }
    assert resolved_by == {"cb-lan": 0, "cb-minh": 1, "cb-van-thu": 0}


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), repeats=st.integers(0, 6))
def test_any_order_and_any_repeats_give_the_same_figures(seed: int, repeats: int) -> None:
    expected = Monitor()
    for synced_at, record in MESSAGES:
        expected.sync(synced_at, record)
    rng = random.Random(seed)
    delivered = MESSAGES + [rng.choice(MESSAGES) for _ in range(repeats)]
    rng.shuffle(delivered)
    got = Monitor()
    for synced_at, record in delivered:
        got.sync(synced_at, record)
    assert got.figures("xa-a") == expected.figures("xa-a")
    for official in ("cb-lan", "cb-minh", "cb-van-thu"):
        assert got.figures("xa-a", official) == expected.figures("xa-a", official)


def test_a_later_sync_wins_even_when_it_moves_the_dossier_back() -> None:
    monitor = Monitor()
    done = snapshot(9, NgayKetThucXuLy="20260303090000")
    monitor.sync("2026-03-05T08:00:00", snapshot(4))  # re-sent later, by a system's replay
    monitor.sync("2026-03-04T08:00:00", done)
    f = monitor.figures("xa-a")
    assert (f.resolved, f.open_overdue) == (0, 1)  # open, and overdue since 4 March 17:00


def test_a_new_unit_takes_the_dossier_from_the_old_one() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-03T08:00:00", snapshot(2, unit="000.02.30.H34"))
    assert monitor.figures("xa-a").open_overdue == 0
    assert monitor.figures("xa-b").open_overdue == 1
    monitor.sync("2026-03-01T08:00:00", snapshot(2))  # an older one changes nothing
    assert (monitor.figures("xa-a").open_overdue, monitor.figures("xa-b").open_overdue) == (0, 1)


def test_an_unknown_code_is_its_own_unit_and_status_1_counts_nowhere() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2, unit="G22.99"))
    assert monitor.figures("G22.99").open_overdue == 1
    monitor.sync("2026-03-03T08:00:00", snapshot(3, unit="G22.99"))
    assert monitor.figures("G22.99").open_overdue == 0


def test_progress_before_its_snapshot_waits_for_it() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", step("cb-lan", "20260302080000"))
    assert monitor.engine.units == {}
    monitor.sync("2026-03-02T08:00:01", snapshot(2))
    assert monitor.engine.officials("xa-a") == ["cb-lan"]


def test_the_snapshot_replaces_the_dossiers_own_events_but_not_its_vote() -> None:
    monitor = Monitor()
    engine = monitor.engine
    received = local("2026-03-02T08:00:00")
    engine.apply(DossierSubmitted("s", "xa-a", "HS-1", received, received, None, "x", None, None))
    engine.apply(DossierCompleted("c", "xa-a", "HS-1", received + 1, None, "resolved"))
    engine.apply(SatisfactionSurvey("v", "xa-a", received, "satisfied", "HS-1", None))
    assert monitor.figures("xa-a").resolved == 1
    # Never received: it creates nothing in a unit, so the unit's own events still count
    # (docs/decisions.md, entry 57: junk MaHoSo must not grow a unit's state).
    monitor.sync("2026-03-02T07:00:00", snapshot(1))
    assert monitor.figures("xa-a").resolved == 1
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    f = monitor.figures("xa-a")
    assert (f.resolved, f.open_overdue, f.surveys) == (0, 1, 1)
    monitor.sync("2026-03-02T09:00:00", snapshot(1))  # handed back: a supplement wait
    f = monitor.figures("xa-a")
    assert (f.resolved, f.open_overdue, f.paused, f.surveys) == (0, 0, 1, 1)


def test_sync_states_are_not_figures_on_rebuild() -> None:
    monitor = Monitor()
    for synced_at, record in MESSAGES:
        monitor.sync(synced_at, record)
    restarted = Engine(CAL, monitor.engine.clock, monitor.states.__getitem__)
    everything = [*monitor.sync_states.items()]
    everything += [item for unit in monitor.states.values() for item in unit.items()]
    rebuilt = restarted.rebuild(everything)
    assert rebuilt.skipped == []
    assert restarted.figures("xa-a", parse_period("2026-03", restarted.now)) == monitor.figures(
        "xa-a"
    )


def test_a_moved_dossier_gives_back_the_old_units_own_events_whatever_the_order() -> None:
    """The winning record names xa-b: xa-a's own events of the dossier count as if no
    record had come, whether or not xa-a ever saw the older record."""
    first = ("2026-03-02T08:00:00", snapshot(2))
    moved = ("2026-03-03T08:00:00", snapshot(2, unit="000.02.30.H34"))
    results = []
    for order in ([first, moved], [moved, first]):
        monitor = Monitor()
        received = local("2026-03-02T08:00:00")
        own = DossierSubmitted("s", "xa-a", "HS-1", received, received, None, None, None, None)
        monitor.engine.apply(own)
        monitor.engine.apply(DossierCompleted("c", "xa-a", "HS-1", received + 1, None, "resolved"))
        for synced_at, record in order:
            monitor.sync(synced_at, record)
        results.append((monitor.figures("xa-a"), monitor.figures("xa-b")))
    assert results[0] == results[1]
    assert results[0][0].resolved == 1 and results[0][1].open_overdue == 1


def test_a_record_never_received_that_names_no_unit_goes_nowhere() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", {"MaHoSo": "HS-1", "TrangThaiHoSo": 1})
    assert monitor.engine.tracked_units() == set()
    monitor.sync("2026-03-03T08:00:00", snapshot(2))
    monitor.sync("2026-03-04T08:00:00", {"MaHoSo": "HS-1", "TrangThaiHoSo": "3"})
    assert monitor.figures("xa-a").open_overdue == 0  # removed from the unit it was in
    assert monitor.engine.tracked_units() == {"xa-a"}


def test_hostile_dossiers_are_refused_before_they_change_anything() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    for n in range(MAX_PROGRESS):
        monitor.sync("2026-03-02T09:00:00", step(f"cb-{n}", "20260302090000"))
    before = dict(monitor.sync_states)
    with pytest.raises(StateTooLarge):
        monitor.sync("2026-03-02T09:00:00", step("one-too-many", "20260302090000"))
    assert monitor.sync_states == before
    entries = [{"NgayBoSung": "20260303090000", "HoSoBoSungId": str(n)} for n in range(8000)]
    with pytest.raises(StateTooLarge):
        monitor.sync("2026-03-05T08:00:00", snapshot(5, DanhSachHoSoBoSung=entries))
    assert monitor.sync_states == before


def test_a_dossier_remembers_its_last_units_only() -> None:
    monitor = Monitor()
    for day in range(1, 20):
        code = f"X{day:02d}"
        monitor.sync(f"2026-03-{day:02d}T08:00:00", snapshot(2, unit=code))
    state = SyncState.decode(next(iter(monitor.sync_states.values())))
    assert len(state.homes) == MAX_HOMES and state.homes[-1] == "X19"
    assert sum(monitor.figures(unit).open_overdue for unit in monitor.engine.units) == 1


def test_a_record_never_received_creates_no_unit() -> None:
    # 1,000 junk units of never-received records once swelled the public list from 78 to
    # 1,078 units, and used up the quota of genuine unlisted ones.
    monitor = Monitor()
    for n in range(1000):
        record = {"MaHoSo": f"J-{n}", "TrangThaiHoSo": "1", "DonViXuLy": f"junk-{n}"}
        monitor.sync("2026-03-02T08:00:00", record)
    assert monitor.engine.tracked_units() == set()


def test_progress_for_dossiers_that_never_come_is_capped_per_partition() -> None:
    monitor = Monitor(waiting_cap=50)
    for n in range(500):  # ten times the cap
        monitor.sync("2026-03-02T08:00:00", step("cb-lan", "20260302080000") | {"MaHoSo": f"P{n}"})
    assert monitor.book.waiting_count() == 50 and len(monitor.sync_states) == 50
    assert monitor.dropped == ["cap"] * 450
    # the newest wait; the oldest went first
    kept = {SyncState.decode(raw).since for raw in monitor.sync_states.values()}
    assert kept == {local("2026-03-02T08:00:00")}
    assert b'"P499"' in b"".join(monitor.sync_states) and b'"P0"' not in b"".join(
        monitor.sync_states
    )


def test_progress_waits_seven_days_for_its_dossier_then_is_dropped() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", step("cb-lan", "20260302080000") | {"MaHoSo": "LOST"})
    monitor.sync("2026-03-09T08:00:00", step("cb-lan", "20260302080000") | {"MaHoSo": "P1"})
    assert monitor.book.waiting_count() == 2, "seven days is not more than seven days"
    monitor.sync("2026-03-09T08:00:01", step("cb-lan", "20260302080000") | {"MaHoSo": "P2"})
    assert monitor.dropped == ["age"] and monitor.book.waiting_count() == 2
    # progress that found its dossier waits no more, and counts
    monitor.sync("2026-03-09T09:00:00", snapshot(4, MaHoSo="P1"))
    assert monitor.book.waiting_count() == 1
    assert monitor.engine.officials("xa-a") == ["cb-lan"]


def test_waiting_progress_is_found_again_after_a_recovery() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", step("cb-lan", "20260302080000") | {"MaHoSo": "W"})
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    book = SyncBook(find)
    book.rebuild(0, monitor.sync_states.items())
    assert book.waiting_count() == 1 and list(book.waiting[0]) == list(monitor.book.waiting[0])


def test_a_sender_writes_only_the_units_of_its_grant() -> None:
    monitor = Monitor()
    xa_a, xa_b = frozenset({"xa-a"}), frozenset({"xa-b"})
    monitor.sync("2026-03-02T08:00:00", snapshot(2), grant=xa_a)
    with pytest.raises(NotGranted, match="unit 'xa-b'"):  # a record of another unit
        monitor.sync("2026-03-03T08:00:00", snapshot(2, unit="000.02.30.H34"), grant=xa_a)
    # Whatever ids another sender guesses, its records are its own dossiers: it can
    # neither move, erase, name the official of, nor fill up xa-a's dossier.
    monitor.sync("2026-03-03T08:00:00", {"MaHoSo": "HS-1", "TrangThaiHoSo": "3"}, xa_b)
    monitor.sync("2026-03-03T08:00:00", step("cb-b", "20260302090000"), grant=xa_b)
    for n in range(MAX_PROGRESS - 1):
        monitor.sync("2026-03-03T08:00:00", step(f"x{n}", "20260302090000"), grant=xa_b)
    with pytest.raises(StateTooLarge):  # its own dossier is full, not xa-a's
        monitor.sync("2026-03-03T08:00:00", step("x", "20260302090000"), grant=xa_b)
    monitor.sync("2026-03-03T09:00:00", step("cb-a", "20260302090000"), grant=xa_a)
    assert monitor.figures("xa-a").open_overdue == 1 and "xa-b" not in monitor.engine.units
    assert monitor.engine.officials("xa-a") == ["cb-a"]
    # The first to send an id does not own it: xa-b's dossier HS-1 is another dossier.
    monitor.sync("2026-03-03T10:00:00", snapshot(2, unit="000.02.30.H34"), grant=xa_b)
    assert monitor.figures("xa-b").open_overdue == 1 and monitor.figures("xa-a").open_overdue == 1
    # A gateway that may write every unit moves a dossier it sent.
    monitor.sync("2026-03-02T08:00:00", snapshot(2, MaHoSo="HS-9"), grant=None)
    monitor.sync("2026-03-04T08:00:00", snapshot(2, MaHoSo="HS-9", unit="000.02.30.H34"))
    assert monitor.figures("xa-b").open_overdue == 2 and monitor.figures("xa-a").open_overdue == 1


def test_records_find_their_unit_by_name_by_code_or_by_the_senders_code() -> None:
    book = SyncBook(Directory(load_units(), "Khánh Hòa").find)
    states: dict[bytes, bytes] = {}

    def unit_of(mahoso: str, donvixuly: str | None, madonvi: str = "") -> str:
        record = read_dossier(snapshot(2, MaHoSo=mahoso, DonViXuLy=donvixuly), madonvi)
        [fact] = book.apply(0, states, record, local("2026-03-02T08:00:00"), "d").facts
        return fact.unit_id

    assert unit_of("A", "Ủy ban nhân dân xã Cam Lâm") == "xa-cam-lam"
    assert unit_of("B", "UBND XÃ CAM LÂM, TỈNH KHÁNH HOÀ") == "xa-cam-lam"
    assert unit_of("C", "000.18.30.H34") == "xa-cam-lam"
    assert unit_of("D", None, madonvi="000.18.30.H34") == "xa-cam-lam"
    assert unit_of("E", "UBND xã Chưa Có", madonvi="000.18.30.H34") == "xa-cam-lam"
    assert unit_of("F", "UBND xã Chưa Có") == "UBND xã Chưa Có", "unlisted: as given"
    assert unit_of("G", None, madonvi="000.99.99.H34") == "000.99.99.H34"


def test_a_dossier_without_an_appointment_counts_and_is_never_late() -> None:
    # Procedures without a processing time, same-day services, systems that never send
    # one: such dossiers were dead-lettered; they count, and have no deadline.
    monitor = Monitor()
    asks = [{"NgayBoSung": f"2026030{day}090000", "HoSoBoSungId": str(day)} for day in (3, 4)]
    monitor.sync("2026-03-02T08:00:00", snapshot(4, NgayHenTra="", DanhSachHoSoBoSung=asks))
    assert monitor.figures("xa-a").open_overdue == 0, "two requests, but no deadline"
    done = snapshot(9, NgayHenTra=None, NgayKetThucXuLy="20260320100000")
    monitor.sync("2026-03-20T10:00:00", done)
    figures = monitor.figures("xa-a")
    assert (figures.resolved, figures.resolved_late) == (1, 0)


def test_a_dossier_refused_after_receipt_ends_rejected_instead_of_vanishing() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-03T08:00:00", snapshot(3, NgayTuChoi="20260303080000"))
    figures = monitor.figures("xa-a")
    assert (figures.resolved, figures.open_overdue) == (1, 0)


def test_never_received_records_of_no_unit_wait_within_the_same_bounds() -> None:
    monitor = Monitor(waiting_cap=20)
    for n in range(200):
        monitor.sync("2026-03-02T08:00:00", {"MaHoSo": f"N{n}", "TrangThaiHoSo": "1"})
    assert len(monitor.sync_states) == 20 and monitor.dropped == ["cap"] * 180


def test_a_sync_state_that_cannot_be_read_is_skipped_on_rebuild() -> None:
    book = SyncBook(find)
    good = SyncState(since=5, progress=(Progress(5, "cb"),)).encode()
    junk = [b"junk", b"[1,2]", b'[null,"",null,[],[],"2099"]']
    states = [(b'["s","","ok"]', good)] + [(b'["s","","%d"]' % n, v) for n, v in enumerate(junk)]
    assert len(book.rebuild(0, states)) == 3 and book.waiting_count() == 1


def test_a_synced_at_far_after_the_clock_does_not_age_every_wait() -> None:
    book = SyncBook(find, clock=lambda: local("2026-03-02T08:00:00"))
    states: dict[bytes, bytes] = {}
    step_record = read_progress(step("cb", "20260302080000"))
    book.apply(0, states, step_record, local("2026-03-02T08:00:00"), "")
    future = read_progress(step("cb", "20260302080000") | {"MaHoSo": "HS-2"})
    assert book.apply(0, states, future, local("2099-01-01T00:00:00"), "").dropped == []


def test_a_placeholder_step_at_the_end_never_names_the_official() -> None:
    # A .NET system adds "Cán bộ một cửa" at exactly the end time: it tied with the real
    # last step, and won whenever the official's name sorted below it.
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-02T08:00:01", step("Cán bộ một cửa", "20260302080000"))
    monitor.sync("2026-03-02T09:00:00", step("An Thị Bình", "20260305090000"))
    monitor.sync("2026-03-02T09:00:01", step("CÁN BỘ MỘT CỬA", "20260305090000"))
    monitor.sync("2026-03-02T09:00:02", step("Chuyên  viên", "20260305090000"))
    done = snapshot(9, NgayKetThucXuLy="20260305090000")
    monitor.sync("2026-03-05T09:00:00", done)
    assert monitor.engine.officials("xa-a") == ["An Thị Bình"]


def state_of(monitor: Monitor, dossier_id: str = "HS-1") -> SyncState:
    return SyncState.decode(monitor.sync_states[SyncBook.key(dossier_id, None)])


def detail_of(monitor: Monitor, dossier_id: str = "HS-1") -> Detail:
    (fact,) = facts(state_of(monitor, dossier_id), find, CAL)
    return fact.snapshot.detail


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_a_1_and_a_2_posted_within_one_second_mean_2(order: tuple[int, int]) -> None:
    monitor = Monitor()
    for status, at in zip(
        order, ("2026-03-02T08:00:00.200", "2026-03-02T08:00:00.700"), strict=True
    ):
        monitor.sync(at, snapshot(status))
    f = monitor.figures("xa-a")
    assert (f.open_overdue, f.paused) == (1, 0), "received and open, not handed back"


def test_a_wait_sent_as_a_status_pauses_and_the_first_appointment_stays_the_deadline() -> None:
    # As .NET systems send it: no supplement list, a "5" for the wait, and the next
    # snapshot's NgayHenTra pushed on by the length of the wait.
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))  # due 4 March 17:00
    monitor.sync("2026-03-03T09:00:00", snapshot(5))
    monitor.sync("2026-03-05T09:00:00", snapshot(4, NgayHenTra="20260306170000"))
    monitor.sync("2026-03-06T10:00:00", snapshot(4, NgayHenTra="20260306170000"))
    state = state_of(monitor)
    assert len(state.runs) == 3, "the re-sent 4 joins its run"
    # paused 3 March 09:00 to 5 March 09:00: due 6 March 17:00 by effective time
    done = snapshot(9, NgayHenTra="20260308170000", NgayKetThucXuLy="20260306100000")
    monitor.sync("2026-03-06T10:00:00", done)
    f = monitor.figures("xa-a")
    assert (f.resolved, f.resolved_late) == (1, 0)
    late = Monitor()  # the same dossier without its wait is late: the wait is what counts
    for at, record in [("2026-03-02T08:00:00", snapshot(2)), ("2026-03-06T10:00:00", done)]:
        late.sync(at, record)
    assert late.figures("xa-a").resolved_late == 1


def test_a_1_after_receipt_is_a_supplement_request_and_a_second_makes_it_late() -> None:
    monitor = Monitor()
    story = [(2, "2026-03-02T08:00:00"), (1, "2026-03-02T10:00:00"), (4, "2026-03-02T11:00:00")]
    for status, at in story:
        monitor.sync(at, snapshot(status))
    assert monitor.figures("xa-a").open_overdue == 1  # one request: due 4 March, plus 1 h
    monitor.sync("2026-03-02T12:00:00", snapshot(1))
    monitor.sync("2026-03-02T13:00:00", snapshot(4))
    done = snapshot(9, NgayKetThucXuLy="20260302140000")
    monitor.sync("2026-03-02T14:00:00", done)
    assert monitor.figures("xa-a").resolved_late == 1, "a second request makes it late"


def test_a_financial_wait_that_never_ends_keeps_the_dossier_paused() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-03T08:00:00", snapshot(6))
    for day in range(4, 31):  # re-sent every day for a month: one run
        monitor.sync(f"2026-03-{day:02d}T08:00:00", snapshot(6))
    f = monitor.figures("xa-a")
    assert (f.open_overdue, f.paused) == (0, 1)
    assert len(state_of(monitor).runs) == 2


def test_an_ended_status_without_a_date_reads_as_open_and_is_marked() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2, MaTTHC="1.004227", KenhThucHien="2"))
    monitor.sync("2026-03-03T08:00:00", snapshot(9, TrangThaiHoSo="9"))
    f = monitor.figures("xa-a")
    assert (f.resolved, f.open_overdue) == (0, 1)
    detail = detail_of(monitor)
    assert mark_names(detail.marks) == ["end_date_missing"]
    (fact,) = facts(state_of(monitor), find, CAL)
    assert fact.snapshot.submission is not None
    procedure = fact.snapshot.submission.procedure
    assert (procedure, detail.channel) == ("1.004227", "online"), "from the earlier"


def test_a_supplement_list_replaces_the_supplement_runs_but_not_the_financial_ones() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-02T09:00:00", snapshot(5))
    monitor.sync("2026-03-02T10:00:00", snapshot(4))
    monitor.sync("2026-03-02T11:00:00", snapshot(6))
    entries = [{"HoSoBoSungId": "7", "NgayBoSung": "20260302090000"}]  # never answered
    monitor.sync("2026-03-02T12:00:00", snapshot(4, DanhSachHoSoBoSung=entries))
    (fact,) = facts(state_of(monitor), find, CAL)
    pauses = [(p.pause_id, p.supplement, p.at, p.resumed) for p in fact.snapshot.pauses]
    assert pauses == [
        ("7", True, local("2026-03-02T09:00:00"), None),
        (
            f"financial_obligation@{local('2026-03-02T11:00:00')}",
            False,
            local("2026-03-02T11:00:00"),
            local("2026-03-02T12:00:00"),
        ),
    ]


def test_a_3_after_receipt_without_dates_ends_rejected_at_its_synced_at() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2))
    monitor.sync("2026-03-03T08:00:00.900", {"MaHoSo": "HS-1", "TrangThaiHoSo": "3"})
    (fact,) = facts(state_of(monitor), find, CAL)
    assert fact.unit_id == "xa-a", "the unit of the earlier snapshot"
    completion = fact.snapshot.completion
    assert completion is not None and completion.outcome == "rejected"
    assert completion.at == local("2026-03-03T08:00:00")
    assert fact.snapshot.submission is not None
    assert fact.snapshot.submission.at == local("2026-03-02T08:00:00")


def test_a_dossier_without_an_appointment_is_marked() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2, NgayHenTra=None, DonViXuLy="UBND xã Lạ"))
    detail = detail_of(monitor)
    assert mark_names(detail.marks) == ["no_deadline", "unit_unmatched"]


def test_ten_thousand_snapshots_of_one_dossier_cost_a_bounded_state() -> None:
    monitor = Monitor()
    for n in range(10_000):  # the same status re-sent: one run, whatever the count
        monitor.sync(f"2026-03-02T08:{n // 3600 % 60:02d}:{n % 60:02d}", snapshot(4))
    assert len(monitor.sync_states[SyncBook.key("HS-1", None)]) < 1024
    flapping = Monitor()
    with pytest.raises(StateTooLarge, match="change status 65 times"):
        for n in range(10_000):  # a status that flaps: refused once past the bound
            at = f"2026-03-02T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
            flapping.sync(at, snapshot(4 + n % 2))
    assert len(state_of(flapping).runs) == MAX_RUNS


def test_a_state_written_before_histories_is_read_as_its_winner() -> None:
    old = orjson.dumps(
        [
            local("2026-03-02T08:00:00"),
            "ab" * 32,
            ["HS-1", 4, "000.01.30.H34", local("2026-03-02T08:00:00"), 99 * 10**15, [], []],
            [[local("2026-03-02T09:00:00"), "cb-lan"]],
            ["xa-a"],
        ]
    )
    state = SyncState.decode(old)
    assert state.homes == ("xa-a",) and state.progress[0].official == "cb-lan"
    (fact,) = facts(state, find, CAL)
    assert fact.unit_id == "xa-a" and fact.snapshot.version > (
        local("2026-03-02T08:00:00"),
        "ab" * 32,
        1,
    )


def test_a_sync_dossier_explains_its_waits_marks_and_first_appointment() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2, MaTTHC="1.004227", MaLinhVuc="G09-TP05"))
    monitor.sync("2026-03-03T09:00:00", snapshot(1))  # handed back for papers
    monitor.sync("2026-03-05T09:00:00", snapshot(4, NgayHenTra="20260306170000"))
    monitor.sync("2026-03-06T09:00:00", snapshot(6))  # the fee, never paid yet
    told = monitor.engine.explain("xa-a", "HS-1")
    assert told is not None
    assert (told.source, told.state, told.late) == ("sync", "paused", False)
    assert told.due_at == local("2026-03-04T17:00:00"), "the first appointment"
    assert [(p.supplement, p.at, p.resumed) for p in told.pauses] == [
        (True, local("2026-03-03T09:00:00"), local("2026-03-05T09:00:00")),
        (False, local("2026-03-06T09:00:00"), None),
    ]
    assert told.supplement_requests == 1
    assert (told.procedure, told.field) == ("1.004227", "G09-TP05")
    assert monitor.engine.explain("xa-b", "HS-1") is None


def test_replaying_the_sync_records_after_adding_an_alias_recounts_the_dossiers() -> None:
    """What README's "Recount after adding an alias" does: the worker reads the sync topic
    again with the new registry; every dossier moves from the unlisted name to its unit."""
    monitor = Monitor()
    name = "Bộ phận một cửa xã A"  # not in this registry yet
    records = [
        ("2026-03-02T08:00:00", snapshot(2, unit=name)),
        ("2026-03-06T08:00:00", snapshot(9, unit=name, NgayKetThucXuLy="20260306080000")),
    ]
    for at, record in records:
        monitor.sync(at, record)
    assert monitor.figures(name).resolved_late == 1 and monitor.figures("xa-a").resolved == 0
    aliases = {name: "xa-a"}
    monitor.book.unit_of = lambda named, code: aliases.get(named or "") or find(named, code)
    for at, record in records:  # the replay: the same records, read again
        monitor.sync(at, record)
    assert monitor.figures("xa-a").resolved_late == 1
    assert monitor.figures(name).resolved == 0, "the unlisted unit gives the dossier back"


def test_a_unit_counts_its_dossiers_with_each_quality_mark() -> None:
    monitor = Monitor()
    monitor.sync("2026-03-02T08:00:00", snapshot(2, NgayHenTra=None))
    monitor.sync("2026-03-02T08:00:00", snapshot(12) | {"MaHoSo": "HS-2"})
    monitor.sync("2026-03-02T09:00:00", snapshot(9) | {"MaHoSo": "HS-2"})
    assert monitor.engine.quality("xa-a") == {
        "status_unknown": 1,
        "end_date_missing": 1,
        "no_deadline": 1,
        "unit_unmatched": 0,
        "flags_unreadable": 0,
    }
    monitor.sync("2026-03-03T08:00:00", snapshot(4, unit="000.02.30.H34") | {"MaHoSo": "HS-2"})
    assert monitor.engine.quality("xa-a")["status_unknown"] == 0, "the dossier moved"
    assert monitor.engine.quality("xa-b")["status_unknown"] == 1, "its marks go with it"


def test_a_record_that_tells_a_unit_nothing_new_sends_no_fact_unless_read_again() -> None:
    book = SyncBook(find)
    states: dict[bytes, bytes] = {}

    def apply(at: str, record: dict[str, Any]) -> list[DossierSnapshot]:
        read = read_progress(record) if "NguoiXuLy" in record else read_dossier(record)
        return book.apply(0, states, read, local(at), digest(record)).facts

    assert len(apply("2026-03-02T08:00:00", snapshot(2))) == 1
    assert apply("2026-03-03T08:00:00", snapshot(2)) == [], "re-sent a day later: nothing new"
    assert apply("2026-03-03T09:00:00", step("Cán bộ một cửa", "20260302080000")) == []
    assert len(apply("2026-03-03T10:00:00", step("cb-lan", "20260302080000"))) == 1
    assert apply("2026-03-03T11:00:00", step("cb-lan", "20260302090000")) == [], "same official"
    # read again after a crash (the state has it already): its facts go out again
    assert len(apply("2026-03-03T11:00:00", step("cb-lan", "20260302090000"))) == 1


def test_a_sync_dossier_keeps_its_procedure_and_flags_and_tells_a_late_receipt() -> None:
    monitor = Monitor()
    submitted_friday = {"NgayNopHoSo": "20260227220000", "KenhThucHien": "2", "MaTTHC": "1.001"}
    monitor.sync("2026-03-02T08:00:00", snapshot(2, **submitted_friday, HoSoCoThanhPhanSoHoa="1"))
    (fact,) = facts(state_of(monitor), find, CAL)
    submission = fact.snapshot.submission
    assert submission is not None
    assert (submission.procedure, submission.flags) == ("1.001", FLAGS["digitised"])
    late = {"NgayTiepNhan": "20260303080000", "DuocThanhToanTrucTuyen": "1"}
    monitor.sync("2026-03-03T08:00:00", snapshot(2, **submitted_friday | late))
    (fact,) = facts(state_of(monitor), find, CAL)
    submission = fact.snapshot.submission
    assert submission is not None and submission.flags == (
        RECEIVED_LATE | FLAGS["fee_due"] | FLAGS["paid_online"]
    ), "the latest snapshot's flags; received on Tuesday, submitted on Friday night"
