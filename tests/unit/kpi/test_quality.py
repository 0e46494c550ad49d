"""Counts of what one-stop systems send wrong stay bounded and keep what matters."""

from __future__ import annotations

from kpi.quality import SyncQuality, Tally


def test_a_flood_of_junk_names_never_pushes_out_a_name_that_comes_again_and_again() -> None:
    tally = Tally(cap=100)
    for n in range(100_000):
        tally.add(f"junk-{n}")
        if n % 50 == 0:
            tally.add("UBND xã Mới")
    assert tally.top(1) == [("UBND xã Mới", 2000)]
    assert len(tally.counts) <= 101 and tally.total == 102_000


def test_registry_units_are_always_counted_whatever_else_came() -> None:
    quality = SyncQuality(cap=10, listed={"xa-b"}.__contains__)
    for n in range(1000):
        quality.invalid.add(f"junk-{n}")
    for _ in range(5):
        quality.invalid.add("xa-b")
    assert quality.invalid.counts["xa-b"] == 5 and len(quality.invalid.counts) <= 11
