"""Conclusion 91 rules (contract §6): every rule's name, its thresholds, and the exact
comparisons, in integers.

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
UNIT_LATE_RATE_RISK = "unit_late_rate_risk"
LEADER_ACCOUNTABILITY = "leader_accountability"
RANK_CONFLICT = "rank_conflict"
WAITING_LONG = "waiting_long"
RULES = (
    UNIT_LATE_RATE,
    UNIT_SATISFACTION,
    OFFICIAL_LATE_RATE,
    UNIT_LATE_RATE_RISK,
    LEADER_ACCOUNTABILITY,
    RANK_CONFLICT,
    WAITING_LONG,
)
RULE_NAMES = {
    "vi": {
        UNIT_LATE_RATE: "Tỷ lệ hồ sơ trễ hạn",
        UNIT_SATISFACTION: "Chỉ số hài lòng",
        OFFICIAL_LATE_RATE: "Tỷ lệ hồ sơ trễ hạn của công chức",
        UNIT_LATE_RATE_RISK: "Nguy cơ vượt ngưỡng trễ hạn",
        LEADER_ACCOUNTABILITY: "Xem xét trách nhiệm người đứng đầu",
        RANK_CONFLICT: "Xếp hạng Tốt khi không đủ điều kiện",
        WAITING_LONG: "Hồ sơ chờ công dân bổ sung quá lâu",
    },
    "en": {
        UNIT_LATE_RATE: "Late-dossier rate",
        UNIT_SATISFACTION: "Satisfaction index",
        OFFICIAL_LATE_RATE: "Late-dossier rate of an official",
        UNIT_LATE_RATE_RISK: "Risk of crossing the late line",
        LEADER_ACCOUNTABILITY: "Unit head accountability",
        RANK_CONFLICT: "Ranked Good while not eligible",
        WAITING_LONG: "Dossiers waiting for the citizen too long",
    },
}
"""What people read for each rule, per language: the terminal tail and the screen (through
``/api/info``) both take them from here."""
RISK_WORKING_DAYS = 3
"""The early warning looks at open dossiers due within this many working days."""


@dataclass(frozen=True)
class Thresholds:
    """Percentages of Conclusion 91, and the minimum samples before an alert fires."""

    unit_late: Fraction = Fraction(5)
    unit_satisfaction: Fraction = Fraction(80)
    official_late: Fraction = Fraction(10)
    min_dossiers: int = 20
    min_surveys: int = 20
    min_official_dossiers: int = 10
    waiting_days: int = 30
    """Working days a dossier may wait for the citizen (paused) before its unit is told
    to call the citizen or close the dossier."""


def late_rate_breached(late: int, total: int, percent: Fraction) -> bool:
    """``late / total ≥ percent %`` with ``total > 0``, without floats."""
    return total > 0 and 100 * late * percent.denominator >= percent.numerator * total


def satisfaction_breached(satisfied: int, surveys: int, percent: Fraction) -> bool:
    """``satisfied / surveys ≤ percent %`` with ``surveys > 0``, without floats."""
    return surveys > 0 and 100 * satisfied * percent.denominator <= percent.numerator * surveys


def percent_ratio(percent: Fraction) -> float:
    """A threshold in percent as the 0..1 ratio the API, alerts and metrics show.

    >>> percent_ratio(Fraction(9, 2))
    0.045
    """
    return float(percent / 100)


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate for display and the API (0..1); None for 0/0."""
    return numerator / denominator if denominator else None
