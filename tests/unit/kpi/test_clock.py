"""The clock modes (contract §5)."""

from __future__ import annotations

from kpi.clock import Clock, ClockSpec
from schemas.codec import format_instant, parse_instant

t = lambda text: parse_instant(text, "t")  # noqa: E731


def test_clock_modes() -> None:
    frozen = Clock(ClockSpec.parse("fixed:2026-03-01T00:00:00+07:00"))
    frozen.observe(t("2027-01-01T00:00:00Z"))
    assert format_instant(frozen.now()) == "2026-03-01T00:00:00+07:00"
    by_events = Clock(ClockSpec.parse("event"))
    assert by_events.now() == 0
    by_events.observe(t("2026-03-01T00:00:00Z"))
    by_events.observe(t("2026-02-01T00:00:00Z"))
    assert by_events.now() == t("2026-03-01T00:00:00Z")
    readings = iter([t("2026-03-02T00:00:00Z"), t("2026-03-01T00:00:00Z")])
    wall = Clock(ClockSpec.parse("wall"), source=lambda: next(readings))
    assert wall.now() == t("2026-03-02T00:00:00Z")
    assert wall.now() == t("2026-03-02T00:00:00Z"), "a stepped-back system clock must not rewind"
