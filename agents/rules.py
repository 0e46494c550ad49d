"""Conclusion 91 rules (contract §6), compared exactly in integers.

>>> late_rate_breached(late=1, total=20, percent=Fraction(5))   # exactly 5 %
True
>>> late_rate_breached(late=1, total=21, percent=Fraction(5))   # 4.76 %
False
>>> satisfaction_breached(satisfied=8, surveys=10, percent=Fraction(80))  # exactly 80 %
True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

UNIT_LATE_RATE = "unit_late_rate"
UNIT_SATISFACTION = "unit_satisfaction"
OFFICIAL_LATE_RATE = "official_late_rate"


@dataclass(frozen=True)
class Thresholds:
    """Percentages of Conclusion 91, and the minimum samples before an alert fires."""

    unit_late: Fraction = Fraction(5)
    unit_satisfaction: Fraction = Fraction(80)
    official_late: Fraction = Fraction(10)
    min_dossiers: int = 20
    min_surveys: int = 20
    min_official_dossiers: int = 10


def late_rate_breached(late: int, total: int, percent: Fraction) -> bool:
    """``late / total ≥ percent %`` with ``total > 0``, without floats."""
    return total > 0 and 100 * late * percent.denominator >= percent.numerator * total


def satisfaction_breached(satisfied: int, surveys: int, percent: Fraction) -> bool:
    """``satisfied / surveys ≤ percent %`` with ``surveys > 0``, without floats."""
    return surveys > 0 and 100 * satisfied * percent.denominator <= percent.numerator * surveys


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate for display and the API (0..1); None for 0/0."""
    return numerator / denominator if denominator else None
