"""Runs of snapshots (kpi.history) against a reading of every snapshot kept (contract §9.3)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.history import (
    ENDED,
    FINANCIAL,
    NEW,
    NOT_RECEIVED,
    OPEN,
    REFUSED,
    SECOND,
    SUPPLEMENT,
    Key,
    Run,
    Wait,
    first_appointment,
    insert,
    waits,
)

KINDS = (OPEN, SUPPLEMENT, FINANCIAL, ENDED, NEW, REFUSED)


def key(second: int, digest: str = "a") -> Key:
    return Key(second * SECOND, 2, digest, "")


def reference(snapshots: list[tuple[Key, str, int | None]]) -> tuple[list[Wait], int | None]:
    """Contract §9.3 read from every snapshot, in order: the waits and the first appointment."""
    ordered = sorted(set(snapshots))
    received, read = False, []
    for _, kind, _ in ordered:
        if kind == NEW:
            read.append(SUPPLEMENT if received else NOT_RECEIVED)
        elif kind == REFUSED:
            read.append(ENDED if received else NOT_RECEIVED)
        else:
            read.append(kind)
            received = True
    found, current = [], None
    for (at, _, _), reading in zip(ordered, read, strict=True):
        if current is not None and current[0] != reading:
            found.append(Wait(current[0] == SUPPLEMENT, current[1], at.at))
            current = None
        if current is None and reading in (SUPPLEMENT, FINANCIAL):
            current = (reading, at.at)
    if current is not None:
        found.append(Wait(current[0] == SUPPLEMENT, current[1], None))
    appointment = next(
        (due for (_, _, due), r in zip(ordered, read, strict=True) if r != "-" and due),
        None,
    )
    return found, appointment


stories = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(KINDS), st.one_of(st.none(), st.integers(1, 99))),
    max_size=30,
)


def snapshots_of(story: list[tuple[int, str, int | None]]) -> list[tuple[Key, str, int | None]]:
    """One snapshot per second: a record's kind and appointment are its own."""
    seen: dict[int, tuple[Key, str, int | None]] = {}
    for second, kind, due in story:
        seen.setdefault(second, (key(second, f"{second:02d}{kind}"), kind, due))
    return list(seen.values())


@settings(max_examples=300, deadline=None)
@given(story=stories, seed=st.integers(0, 2**32))
def test_in_order_with_repeats_reads_as_every_snapshot_kept(
    story: list[tuple[int, str, int | None]], seed: int
) -> None:
    snapshots = sorted(snapshots_of(story))
    rng = random.Random(seed)
    runs: tuple[Run, ...] = ()
    applied: list[tuple[Key, str, int | None]] = []
    for snapshot in snapshots:
        applied.append(snapshot)
        # any snapshot already known may come again, at any time: it changes nothing
        for again in [snapshot, rng.choice(applied)]:
            runs = insert(runs, *again)
        assert (waits(runs), first_appointment(runs)) == reference(applied)
    assert len(runs) <= len(snapshots)


def test_a_year_of_daily_resends_is_one_run() -> None:
    runs: tuple[Run, ...] = ()
    for day in range(365):
        runs = insert(runs, key(day * 86_400), OPEN, 5)
    assert runs == (Run(key(0), key(364 * 86_400), OPEN, (key(0), 5)),)


def test_a_late_snapshot_inside_a_run_splits_it_at_the_runs_known_ends() -> None:
    runs: tuple[Run, ...] = ()
    for second in (1, 2, 4):
        runs = insert(runs, key(second), OPEN, None)
    runs = insert(runs, key(3), SUPPLEMENT, None)
    # snapshots 2 and 4 are not kept: the wait ends at the run's last, second 4
    assert waits(runs) == [Wait(True, 3 * SECOND, 4 * SECOND)]
    assert [run.kind for run in runs] == [OPEN, SUPPLEMENT, OPEN]


def test_a_first_appointment_is_the_first_received_one() -> None:
    runs: tuple[Run, ...] = ()
    for second, kind, due in [(1, NEW, 10), (2, OPEN, None), (3, SUPPLEMENT, None), (4, OPEN, 30)]:
        runs = insert(runs, key(second), kind, due)
    assert first_appointment(runs) == 30  # the "1" before receipt does not count
    runs = insert(runs, key(0), OPEN, 20)
    assert first_appointment(runs) == 20
