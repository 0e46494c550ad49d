"""Conclusion 91 thresholds, compared exactly (contract §6)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kpi.rules import late_rate_breached, satisfaction_breached


@pytest.mark.parametrize(
    ("late", "total", "percent", "breached"),
    [
        (1, 20, 5, True),
        (1, 21, 5, False),
        (5, 100, 5, True),
        (4, 100, 5, False),
        (0, 0, 5, False),
        (0, 1, 5, False),
        (1, 1, 5, True),
        (1, 10, 10, True),
        (1, 11, 10, False),
        (10, 100, 10, True),
        (99, 1000, 10, False),
    ],
)
def test_late_rate_threshold_is_exact(late: int, total: int, percent: int, breached: bool) -> None:
    assert late_rate_breached(late, total, Fraction(percent)) is breached


def test_late_rate_threshold_exhaustively_against_fractions() -> None:
    for percent in (Fraction(5), Fraction(10), Fraction(9, 2)):
        for total in range(0, 201):
            for late in range(0, total + 1):
                expected = total > 0 and Fraction(late, total) * 100 >= percent
                assert late_rate_breached(late, total, percent) is expected


def test_satisfaction_threshold_is_exact() -> None:
    assert satisfaction_breached(8, 10, Fraction(80))  # exactly 80 % is under the line
    assert not satisfaction_breached(81, 100, Fraction(80))
    assert satisfaction_breached(80, 100, Fraction(80))
    assert not satisfaction_breached(0, 0, Fraction(80))
    for surveys in range(1, 201):
        for satisfied in range(0, surveys + 1):
            expected = Fraction(satisfied, surveys) * 100 <= 80
            assert satisfaction_breached(satisfied, surveys, Fraction(80)) is expected
