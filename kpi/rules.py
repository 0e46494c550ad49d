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
LATE_RECEIPT = "late_receipt"
TARGET_ON_TIME = "target_on_time"
TARGET_ONLINE = "target_online"
TARGET_ONLINE_PAYMENT = "target_online_payment"
TARGET_RULES = (TARGET_ON_TIME, TARGET_ONLINE, TARGET_ONLINE_PAYMENT)
RULES = (
    UNIT_LATE_RATE,
    UNIT_SATISFACTION,
    OFFICIAL_LATE_RATE,
    UNIT_LATE_RATE_RISK,
    LEADER_ACCOUNTABILITY,
    RANK_CONFLICT,
    WAITING_LONG,
    LATE_RECEIPT,
    *TARGET_RULES,
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
        LATE_RECEIPT: "Tiếp nhận hồ sơ trực tuyến chậm (Nghị định 118)",
        TARGET_ON_TIME: "Dưới chỉ tiêu giải quyết đúng hạn",
        TARGET_ONLINE: "Dưới chỉ tiêu hồ sơ trực tuyến",
        TARGET_ONLINE_PAYMENT: "Dưới chỉ tiêu thanh toán trực tuyến",
    },
    "en": {
        UNIT_LATE_RATE: "Late-dossier rate",
        UNIT_SATISFACTION: "Satisfaction index",
        OFFICIAL_LATE_RATE: "Late-dossier rate of an official",
        UNIT_LATE_RATE_RISK: "Risk of crossing the late line",
        LEADER_ACCOUNTABILITY: "Unit head accountability",
        RANK_CONFLICT: "Ranked Good while not eligible",
        WAITING_LONG: "Dossiers waiting for the citizen too long",
        LATE_RECEIPT: "Online dossiers received late (Decree 118)",
        TARGET_ON_TIME: "Below the on-time target",
        TARGET_ONLINE: "Below the online target",
        TARGET_ONLINE_PAYMENT: "Below the online payment target",
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
    late_receipt: Fraction = Fraction(5)
    """Online dossiers received late (Decree 118), in percent, from which a unit is told."""
    on_time: Fraction = Fraction(99)
    online: Fraction = Fraction(80)
    online_payment: Fraction = Fraction(60)
    """The central targets: shares settled on time, received online, paid online."""
    min_target_dossiers: int = 20
    """Dossiers a share needs (in the last 30 days) before a target or late receipts alert."""


def late_rate_breached(late: int, total: int, percent: Fraction) -> bool:
    """``late / total ≥ percent %`` with ``total > 0``, without floats."""
    return total > 0 and 100 * late * percent.denominator >= percent.numerator * total


def below_target(numerator: int, denominator: int, percent: Fraction) -> bool:
    """``numerator / denominator < percent %`` with ``denominator > 0``, without floats.

    >>> below_target(98, 100, Fraction(99)), below_target(99, 100, Fraction(99))
    (True, False)
    """
    return (
        denominator > 0 and 100 * numerator * percent.denominator < percent.numerator * denominator
    )


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
