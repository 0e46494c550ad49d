"""Decision 766's national index, **estimated** (ước tính) from the dossiers a unit counts.

Provinces are ranked monthly by the index of Decision 766/QĐ-TTg: 100 points in six
groups on the national portal. Some of its indicators follow from dossiers; the others
(public disclosure, the procedure catalogue, complaints, re-used data) do not, and the
estimate leaves them out and says so (:func:`missing`). Every formula, maximum and
threshold is one row of :data:`INDICATORS`, and a settings file may change them
(:func:`load_scorecard`), since the portal changes them. Sources: ``docs/decisions.md``,
entry 67.

An indicator is a ratio of sums of form 06's counts (:class:`kpi.report.Counts`), and
scores its maximum times the ratio over the level at which it is full, capped there:

    >>> from kpi.report import LEVELS, Counts, total
    >>> row = Counts(received=100, new_online=40, new_other=50, carried_over=10, settled=80,
    ...              early=60, on_time=15, late=5, in_progress=20, within_time=18, overdue=2)
    >>> progress = score(INDICATORS[0], row)
    >>> progress.ratio, progress.points       # (60 + 15 + 18) / 100, of 20 points
    (Fraction(93, 100), Fraction(93, 5))
    >>> online = score(INDICATORS[1], row)    # 40 / 90 online, full at 50 %
    >>> float(online.points), float(online.lost)
    (5.333333333333333, 0.6666666666666666)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from kpi.report import LEVELS, Counts, total

GROUPS = {
    "disclosure": ("Công khai, minh bạch", "Public disclosure", 18),
    "progress": ("Tiến độ giải quyết", "Progress of settlement", 20),
    "online": ("Dịch vụ công trực tuyến", "Online public services", 12),
    "payment": ("Thanh toán trực tuyến", "Online payment", 10),
    "digitisation": ("Số hóa hồ sơ", "Digitisation", 22),
    "satisfaction": ("Mức độ hài lòng", "Satisfaction", 18),
}
"""The portal's six groups: (Vietnamese, English, maximum points); 100 in all."""
NOT_FROM_DOSSIERS = {
    "disclosure": (
        "công bố, cập nhật, công khai thủ tục hành chính; đồng bộ hồ sơ lên Cổng DVCQG",
        "publishing and disclosing procedures; syncing dossiers to the national portal",
    ),
    "online": (
        "thủ tục cung cấp trực tuyến; dịch vụ trực tuyến phát sinh hồ sơ",
        "procedures offered online; online services that received dossiers",
    ),
    "payment": (
        "thủ tục có nghĩa vụ tài chính cung cấp và có giao dịch thanh toán trực tuyến",
        "procedures with fees offered, and paid, online",
    ),
    "digitisation": (
        "tái sử dụng dữ liệu; kho dữ liệu cá nhân; kết nối dữ liệu dân cư; chứng thực điện tử",
        "re-used data; the citizen's document store; population data; e-certified copies",
    ),
    "satisfaction": (
        "phản ánh, kiến nghị: xử lý đúng hạn và mức độ hài lòng",
        "complaints: handled on time, and satisfaction with their handling",
    ),
}
"""What each group counts that dossiers do not tell (Vietnamese, English)."""
BANDS = (
    (Fraction(90), "xuat_sac", "Xuất sắc", "Excellent"),
    (Fraction(80), "tot", "Tốt", "Good"),
    (Fraction(70), "kha", "Khá", "Fair"),
    (Fraction(50), "trung_binh", "Trung bình", "Average"),
    (Fraction(0), "yeu", "Yếu", "Weak"),
)
"""The index's rating by percent of its points (at least the first number)."""
MAX_POINTS = Fraction(100)


_LEVEL_ORDER = {level: order for order, level in enumerate(LEVELS)}


class ScorecardError(ValueError):
    """A scorecard settings file that cannot be used: the worker refuses to start."""


@dataclass(frozen=True)
class Indicator:
    """One indicator: ``sum(numerator) / sum(denominator)`` of :class:`Counts` columns (a
    term ``"-late"`` subtracts), scoring ``max_points × min(1, ratio / full_at %)``."""

    key: str
    group: str
    vi: str
    en: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    max_points: Fraction
    full_at: Fraction
    """Percent at which the indicator scores its maximum."""


INDICATORS = (
    Indicator(
        "progress",
        "progress",
        "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn và đang giải quyết trong hạn",
        "Dossiers settled early or on time, or in progress within time",
        ("early", "on_time", "within_time"),
        ("received",),
        Fraction(20),
        Fraction(100),
    ),
    Indicator(
        "online",
        "online",
        "Tỷ lệ hồ sơ tiếp nhận trực tuyến",
        "Dossiers received online",
        ("new_online",),
        ("new_online", "new_other"),
        Fraction(6),
        Fraction(50),
    ),
    Indicator(
        "online_payment",
        "payment",
        "Tỷ lệ hồ sơ thanh toán trực tuyến",
        "Dossiers with a fee paid online",
        ("paid_online",),
        ("fee_due",),
        Fraction(6),
        Fraction(100),
    ),
    Indicator(
        "result_digital",
        "digitisation",
        "Tỷ lệ hồ sơ cấp kết quả điện tử",
        "Results issued electronically",
        ("result_digital",),
        ("resolved", "returned"),
        Fraction(6),
        Fraction(100),
    ),
    Indicator(
        "digitised",
        "digitisation",
        "Tỷ lệ hồ sơ số hóa thành phần",
        "Dossiers with their parts digitised",
        ("digitised",),
        ("new_online", "new_other"),
        Fraction(4),
        Fraction(80),
    ),
    Indicator(
        "satisfaction_766",
        "satisfaction",
        "Hài lòng trong tiếp nhận, giải quyết (766: trừ hồ sơ quá hạn và không hài lòng)",
        "Satisfaction as 766 reads it (less late and dissatisfied dossiers)",
        ("received", "-late", "-overdue", "-surveys", "satisfied"),
        ("received",),
        Fraction(6),
        Fraction(90),
    ),
)
"""The indicators dossiers tell, with the portal's maxima and levels (decision 67)."""


class Score(NamedTuple):
    """An indicator's score on one row; ``ratio`` and ``points`` None when it has no
    denominator (nothing to score: neither earned nor lost)."""

    indicator: Indicator
    numerator: int
    denominator: int
    ratio: Fraction | None
    points: Fraction | None

    @property
    def lost(self) -> Fraction:
        return Fraction(0) if self.points is None else self.indicator.max_points - self.points


def _sum(terms: Iterable[str], row: Counts) -> int:
    return sum(-getattr(row, t[1:]) if t[0] == "-" else getattr(row, t) for t in terms)


def score(indicator: Indicator, row: Counts) -> Score:
    """The indicator on one row of counts; a numerator below 0 (a formula that subtracts
    more than it adds) reads as 0."""
    numerator = max(0, _sum(indicator.numerator, row))
    denominator = _sum(indicator.denominator, row)
    if denominator <= 0:
        return Score(indicator, numerator, max(0, denominator), None, None)
    ratio = Fraction(numerator, denominator)
    full = indicator.full_at / 100
    points = indicator.max_points * min(Fraction(1), ratio / full)
    return Score(indicator, numerator, denominator, ratio, points)


class Estimate(NamedTuple):
    """The scores of one row (a unit, a level, a procedure, the province)."""

    scores: list[Score]

    @property
    def points(self) -> Fraction:
        return sum((s.points for s in self.scores if s.points is not None), Fraction(0))

    @property
    def of(self) -> Fraction:
        """The points at stake: the maxima of the indicators scored."""
        scored = (s.indicator.max_points for s in self.scores if s.points is not None)
        return sum(scored, Fraction(0))

    @property
    def percent(self) -> Fraction | None:
        return None if not self.of else 100 * self.points / self.of

    @property
    def lost(self) -> Fraction:
        return self.of - self.points


def estimate(row: Counts, indicators: Sequence[Indicator] = INDICATORS) -> Estimate:
    return Estimate([score(indicator, row) for indicator in indicators])


def band(percent: Fraction | None) -> str | None:
    """The rating a share of the points would get (:data:`BANDS`).

    >>> band(Fraction(85)), band(Fraction(49)), band(None)
    ('tot', 'yeu', None)
    """
    if percent is None:
        return None
    return next(key for least, key, _, _ in BANDS if percent >= least)


def lost_by(
    unit: Counts, parts: Mapping[str, Counts], indicators: Sequence[Indicator] = INDICATORS
) -> dict[str, Fraction]:
    """The points each part (a procedure) costs its unit: an indicator's loss is shared in
    proportion to each part's shortfall, ``full × denominator − numerator`` (its numerator
    as the formula gives it, below 0 too), so that the parts' costs add up to the unit's
    points lost exactly; below the level and above 0, every dossier short of it costs
    ``max / (full × denominator)``. A part above the level earns some back (its cost is
    negative); an indicator at its level costs nothing.

    >>> from kpi.report import ZERO
    >>> unit = ZERO._replace(received=4, early=2, in_progress=2, within_time=1, overdue=1)
    >>> a = ZERO._replace(received=2, early=2)
    >>> b = ZERO._replace(received=2, in_progress=2, within_time=1, overdue=1)
    >>> {key: float(lost) for key, lost in lost_by(unit, {"a": a, "b": b}, INDICATORS[:1]).items()}
    {'a': 0.0, 'b': 5.0}
    """
    costs = {key: Fraction(0) for key in parts}
    for indicator in indicators:
        whole = score(indicator, unit)
        if whole.points is None or not whole.lost:
            continue
        full = indicator.full_at / 100
        shortfall = full * whole.denominator - _sum(indicator.numerator, unit)
        for key, part in parts.items():
            short = full * _sum(indicator.denominator, part) - _sum(indicator.numerator, part)
            costs[key] += whole.lost * short / shortfall
    return costs


def ranks(percents: Mapping[str, Fraction | None]) -> dict[str, int]:
    """Each key's rank by percent, the highest first; equal percents share a rank, the
    next takes its place after them (1, 2, 2, 4); a key without a percent has no rank.

    >>> ranks({"a": Fraction(90), "b": Fraction(95), "c": Fraction(90), "d": None})
    {'b': 1, 'a': 2, 'c': 2}
    """
    ordered = sorted(
        ((percent, key) for key, percent in percents.items() if percent is not None),
        key=lambda pair: (-pair[0], pair[1]),
    )
    found: dict[str, int] = {}
    for position, (percent, key) in enumerate(ordered):
        previous = ordered[position - 1] if position else None
        same = previous is not None and previous[0] == percent
        found[key] = found[previous[1]] if same and previous is not None else position + 1
    return found


def missing(indicators: Sequence[Indicator] = INDICATORS) -> dict[str, Fraction]:
    """Per group, the points dossiers do not tell: its maximum less its indicators'."""
    covered = {group: Fraction(0) for group in GROUPS}
    for indicator in indicators:
        covered[indicator.group] += indicator.max_points
    return {
        group: GROUPS[group][2] - covered[group]
        for group in GROUPS
        if covered[group] < GROUPS[group][2]
    }


def load_scorecard(path: Path | None) -> tuple[Indicator, ...]:
    """The indicators, as a TOML settings file changes them (None: :data:`INDICATORS`).

    A table ``[indicators.<key>]`` changes a known indicator's ``max_points``, ``full_at``,
    ``numerator`` or ``denominator``, or adds one (with all four, a ``group``, and ``vi``
    and ``en`` names). ``enabled = false`` leaves one out. Every value is checked, and a
    file that cannot be used is a :class:`ScorecardError` naming the key and the reason.
    """
    if path is None:
        return INDICATORS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScorecardError(f"{path}: {error}") from None
    try:
        return indicators_from(data)
    except ScorecardError as error:
        raise ScorecardError(f"{path}: {error}") from None


_COLUMNS = frozenset(Counts._fields)


def indicators_from(data: Mapping[str, Any]) -> tuple[Indicator, ...]:
    """The indicators a settings mapping gives (see :func:`load_scorecard`).

    >>> [i.max_points for i in indicators_from({"indicators": {"online": {"max_points": 4}}})][:2]
    [Fraction(20, 1), Fraction(4, 1)]
    >>> indicators_from({"indicators": {"online": {"max_points": 10**9}}})
    Traceback (most recent call last):
    ...
    kpi.scorecard.ScorecardError: indicators.online.max_points: 1000000000 is not a number ...
    """
    unknown = set(data) - {"indicators"}
    if unknown:
        raise ScorecardError(f"unknown table {sorted(unknown)[0]!r} (only [indicators.<key>])")
    tables = data.get("indicators", {})
    if not isinstance(tables, dict):
        raise ScorecardError("indicators must be a table of [indicators.<key>] tables")
    found = {indicator.key: indicator for indicator in INDICATORS}
    for key, table in tables.items():
        where = f"indicators.{key}"
        if not isinstance(table, dict):
            raise ScorecardError(f"{where}: must be a table")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ScorecardError(f"{where}.enabled: must be true or false")
        if not enabled:
            if key not in found:
                raise ScorecardError(f"{where}: no such indicator to leave out")
            found.pop(key)
            continue
        found[key] = _indicator(where, key, table, found.get(key))
    chosen = tuple(found.values())
    for group, points in _by_group(chosen).items():
        if points > GROUPS[group][2]:
            raise ScorecardError(
                f"the indicators of group {group!r} give {float(points):g} points, "
                f"over its {GROUPS[group][2]}"
            )
    return chosen


def _by_group(indicators: Iterable[Indicator]) -> dict[str, Fraction]:
    points: dict[str, Fraction] = {}
    for indicator in indicators:
        points[indicator.group] = points.get(indicator.group, Fraction(0)) + indicator.max_points
    return points


_KEYS = frozenset(
    {"enabled", "group", "vi", "en", "numerator", "denominator", "max_points", "full_at"}
)


def _indicator(where: str, key: str, table: dict[str, Any], known: Indicator | None) -> Indicator:
    unknown = set(table) - _KEYS
    if unknown:
        raise ScorecardError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    if known is None:
        absent = [name for name in sorted(_KEYS - {"enabled"}) if name not in table]
        if absent:
            raise ScorecardError(f"{where}: a new indicator needs {', '.join(absent)}")
        known = Indicator(key, "", "", "", (), (), Fraction(0), Fraction(100))
    changes: dict[str, Any] = {}
    if "group" in table:
        if table["group"] not in GROUPS:
            raise ScorecardError(
                f"{where}.group: {table['group']!r} is not one of {', '.join(GROUPS)}"
            )
        changes["group"] = table["group"]
    for name in ("vi", "en"):
        if name in table:
            if not isinstance(table[name], str) or not table[name].strip():
                raise ScorecardError(f"{where}.{name}: must be a name")
            changes[name] = table[name]
    for name in ("numerator", "denominator"):
        if name in table:
            changes[name] = _terms(f"{where}.{name}", table[name])
    if "max_points" in table:
        changes["max_points"] = _number(f"{where}.max_points", table["max_points"], "points", False)
    if "full_at" in table:
        changes["full_at"] = _number(f"{where}.full_at", table["full_at"], "percent", True)
    return replace(known, **changes)


def _terms(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise ScorecardError(f"{where}: must be a list of column names")
    for term in value:
        if term.removeprefix("-") not in _COLUMNS:
            raise ScorecardError(
                f"{where}: {term!r} is not a column ({', '.join(Counts._fields)}; '-' subtracts)"
            )
    return tuple(value)


def _number(where: str, value: Any, what: str, positive: bool) -> Fraction:
    """A number from 0 to 100 (above 0 when ``positive``), kept exact."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScorecardError(f"{where}: {value!r} is not a number of {what} from 0 to 100")
    if isinstance(value, float) and not math.isfinite(value):
        raise ScorecardError(f"{where}: {value!r} is not a number of {what} from 0 to 100")
    number = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    above_floor = number > 0 if positive else number >= 0
    if not above_floor or number > MAX_POINTS:
        raise ScorecardError(f"{where}: {value!r} is not a number of {what} from 0 to 100")
    return number


class Row(NamedTuple):
    """One row of an estimate: a unit (ranked among its level's) or a procedure."""

    key: str
    name: str
    counts: Counts
    estimate: Estimate
    rank: int | None = None
    losing: tuple[tuple[str, Fraction], ...] = ()
    """The procedures that cost it most points, most first (a unit's row)."""
    lost_share: Fraction = Fraction(0)
    """The points it costs the whole it is part of (a procedure's row)."""


class Level(NamedTuple):
    level: str
    name: str
    estimate: Estimate
    rows: list[Row]


LOSING = 3
"""Procedures named beside each unit: those that cost it most points."""


def by_unit(
    units: Mapping[str, Mapping[str, Counts]],
    registry: Mapping[str, tuple[str, str]],
    indicators: Sequence[Indicator] = INDICATORS,
) -> tuple[Estimate, list[Level]]:
    """The province's estimate, and per level (:data:`kpi.report.LEVELS`) its estimate and
    its units, ranked among the level's; ``units`` gives each unit's counts by procedure,
    ``registry`` each listed unit's (level, name).

    >>> from kpi.report import ZERO
    >>> good = ZERO._replace(received=10, early=10, settled=10, new_online=10)
    >>> poor = ZERO._replace(received=10, early=5, in_progress=5, overdue=5, new_other=10)
    >>> province, levels = by_unit({"a": {"p1": good}, "b": {"p1": poor, "p2": good}},
    ...                            {"a": ("commune", "Xã A"), "b": ("commune", "Xã B")})
    >>> [(row.name, row.rank, float(row.estimate.points)) for row in levels[0].rows]
    [('Xã A', 1, 32.0), ('Xã B', 2, 26.0)]
    >>> [(key, float(lost)) for key, lost in levels[0].rows[1].losing]  # 10 points in all
    [('p1', 8.333333333333334), ('p2', 1.6666666666666667)]
    """
    grouped: dict[str, list[Row]] = {}
    for unit_id in {*registry, *units}:
        level, name = registry.get(unit_id, ("unlisted", unit_id))
        procedures = units.get(unit_id, {})
        counts = total(procedures.values())
        losing = sorted(lost_by(counts, procedures, indicators).items(), key=lambda p: -p[1])
        row = Row(unit_id, name, counts, estimate(counts, indicators), None, tuple(losing[:LOSING]))
        grouped.setdefault(level, []).append(row)
    levels = []
    for level in sorted(grouped, key=lambda level: _LEVEL_ORDER.get(level, len(_LEVEL_ORDER))):
        rows = grouped[level]
        ranked = ranks({row.key: row.estimate.percent for row in rows})
        rows = [row._replace(rank=ranked.get(row.key)) for row in rows]
        rows.sort(key=lambda row: (row.rank is None, row.rank or 0, row.name.casefold(), row.key))
        counts = total(row.counts for row in rows)
        levels.append(Level(level, LEVELS.get(level, level), estimate(counts, indicators), rows))
    province = total(level_row.counts for level in levels for level_row in level.rows)
    return estimate(province, indicators), levels


def by_procedure(
    procedures: Mapping[str, Counts],
    names: Mapping[str, str],
    indicators: Sequence[Indicator] = INDICATORS,
) -> tuple[Estimate, list[Row]]:
    """A whole's estimate (a unit, or the province), and each procedure's own estimate and
    the points it costs the whole; the costliest first."""
    counts = total(procedures.values())
    costs = lost_by(counts, procedures, indicators)
    rows = [
        Row(
            key,
            names.get(key, key),
            part,
            estimate(part, indicators),
            lost_share=costs[key],
        )
        for key, part in procedures.items()
    ]
    rows.sort(key=lambda row: (-row.lost_share, row.key))
    return estimate(counts, indicators), rows
