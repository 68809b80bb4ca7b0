"""The figures the county is measured on, from case timelines (``caseflow.timeline``):
the seed document's targets, the flows of a period, each responsible unit's on-time rate,
and the annual assessment's score. Pure: the service reads the cases and their events,
this module counts.

Definitions (printed by ``caseflow stats`` and ``caseflow review assessment``) are in
``DEFINITIONS``; the targets in ``TARGETS``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from caseflow import escalation
from caseflow.states import Workflow
from caseflow.timeline import Stay, Timeline

Category = Literal[
    "suspected",
    "dropout",
    "awaiting_placement",
    "missing",
    "deferred",
    "returned",
    "retained",
    "closed",
]
# What each state category of the workflow (``caseflow.states.CATEGORIES``) counts as in
# 辍学人数 (docs/figures.md). A confirmed dropout not yet back at school is a child the
# task force persuades (persuasion), a department handles (referred) or the legal ladder
# reaches (legal); every other open category is reported apart: suspected (not yet
# verified), not yet placed (未入学待安置: disability or health assessment, the expert
# committee, a special-education placement pending), missing (失踪失联, with the police)
# and an approved deferral (延缓入学/休学). A state the workflow lacks counts as a dropout.
FIGURE_CATEGORY: Mapping[str, Category] = {
    "suspected": "suspected",
    "verifying": "suspected",
    "assessment": "awaiting_placement",
    "special_education": "awaiting_placement",
    "missing": "missing",
    "deferred": "deferred",
    "monitoring": "returned",
    "retained": "retained",
    "closed": "closed",
}
CATEGORY_LABELS: Mapping[str, str] = {
    "suspected": "疑似（核查中）",
    "dropout": "已确认辍学（在办）",
    "awaiting_placement": "未入学待安置",
    "missing": "失踪失联",
    "deferred": "延缓入学/休学",
    "returned": "已复学（巩固中）",
    "retained": "巩固销号",
    "closed": "核查销号（非辍学）",
}
OPEN_CATEGORIES: tuple[Category, ...] = (
    "suspected",
    "dropout",
    "awaiting_placement",
    "missing",
    "deferred",
    "returned",
)


@dataclass(frozen=True)
class DropoutCount:
    """One line of 辍学人数 by category: the confirmed dropouts, and each kind of child out
    of school reported apart from them."""

    key: Category
    label: str
    definition: str


DROPOUT_COUNTS: tuple[DropoutCount, ...] = (
    DropoutCount(
        "dropout",
        "已确认辍学",
        "统计日经核查确认辍学、尚未复学的在办案件数：劝返中、转介部门处置（劳动保障监察、"
        "早婚早育干预、困难帮扶、搬迁安置协调、强制报告）和依法控辍（责令改正、行政处罚、"
        "申请强制执行、司法训诫）各环节的案件。计入“零辍学”目标。",
    ),
    DropoutCount(
        "awaiting_placement",
        "未入学待安置",
        "统计日正在残疾认定、卫健评估、专家委员会评估或待落实特教安置的在办案件数（含比对"
        "发现、直接转介评定的持证残疾儿童少年）。另行列示，不计入已确认辍学。",
    ),
    DropoutCount(
        "missing",
        "失踪失联",
        "统计日下落不明、由公安机关核查去向的在办案件数。另行列示，不计入已确认辍学。",
    ),
    DropoutCount(
        "deferred",
        "延缓入学/休学",
        "统计日经批准延缓入学或休学（《中华人民共和国义务教育法》第十一条第二款）、尚未期满"
        "的在办案件数。另行列示，不计入已确认辍学。",
    ),
)


def category(workflow_category: str | None) -> Category:
    return FIGURE_CATEGORY.get(workflow_category or "", "dropout")


def lifecycle(timeline: Timeline, workflow: Workflow) -> list[tuple[Stay, str | None]]:
    """Each stay with the workflow category it counts in. A closure proposed and not (yet)
    approved leaves the case where it stood: a ``closing`` stay counts in the category of
    the stay before it, and a rejected closure is no new entry into that category."""
    counted: list[tuple[Stay, str | None]] = []
    for stay in timeline.stays:
        current = workflow.category_of(stay.state)
        if current == "closing" and counted:
            current = counted[-1][1]
        counted.append((stay, current))
    return counted


def entries(stays: Sequence[tuple[Stay, str | None]], into: str, period: Period) -> list[date]:
    """The days in the period the case entered a state of category ``into`` from a state
    of another category (a move within the category, or a check-in, is no entry)."""
    days = []
    previous: str | None = None
    for stay, current in stays:
        if current == into and previous != into and stay.entered_on in period:
            days.append(stay.entered_on)
        previous = current
    return days


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    target: str
    definition: str
    at_least: float | None = None  # a rate's target (0..1)
    at_most: int | None = None  # a count's target


TARGETS: tuple[Target, ...] = (
    Target(
        "enrolment_rate",
        "适龄儿童少年入学率",
        "100%",
        "入学率 = 已入学的适龄儿童少年数 ÷ 适龄儿童少年数（docs/figures.md）。适龄：户籍登记、"
        "统计日所在学年9月1日满6周岁、未满16周岁。已入学：学籍登记为在读、休学或送教上门的；"
        "已初中毕业（九年级学籍状态为毕业）的；经核实在外地就读或已入学而销号的；统计日在复学"
        "巩固观察（含送教上门）中的；统计日经核查确认辍学、未入学待安置或失踪失联的在办案件，"
        "学籍登记仍为在读的也不计为已入学。经核实不计入本县适龄人口而销号的（空挂户、重复登记、"
        "迁出本县、死亡、出国（境）等）不计入分母。",
        at_least=1.0,
    ),
    Target(
        "disabled_enrolment_rate",
        "残疾儿童少年入学率",
        "≥95%",
        "残疾儿童少年入学率 = 残疾人登记的适龄残疾儿童少年中已入学的人数 ÷ 其人数；已入学"
        "（含送教上门）和不计入分母的口径与适龄儿童少年入学率相同。",
        at_least=0.95,
    ),
    Target(
        "open_dropouts",
        "义务教育阶段辍学人数（零辍学）",
        "0",
        "统计日经核查确认辍学、尚未复学的在办案件数：劝返中、转介部门处置、依法控辍各环节；"
        "未入学待安置（残疾认定、卫健评估、特教安置）、失踪失联、延缓入学/休学另行列示，"
        "疑似（核查中）不计；销号、迁出待审批的案件按提出前所处的状态计。",
        at_most=0,
    ),
    Target(
        "consolidation_rate",
        "九年义务教育巩固率",
        "≥95%",
        "巩固率 = 初中毕业班学生数 ÷（该年级入小学一年级时学生数 + 转入 − 转出）"
        "（docs/figures.md）。初中毕业班学生数：本学年学籍登记为九年级在读、休学或送教上门的学生"
        "（学年末6至8月导出的学籍中为毕业的亦计入）；"
        "入学时学生数：该年级入学的学年（本学年之前第8个学年）所导入学籍登记中一年级在读或"
        "休学的学生，或 caseflow.toml [figures] cohort_entrants 配置的人数（已含转入转出）；"
        "转入：毕业班中入学时不在一年级登记的学生；转出：入学时在册、不在毕业班，现学籍状态为"
        "转出或经核实在外地就读、迁出、死亡等而销号的学生。",
        at_least=0.95,
    ),
)

# The age-cohort proxy of the consolidation rate, shown only as an estimate (估算).
CONSOLIDATION_ESTIMATE = (
    "估算（非官方口径）：户籍登记的初中毕业年级年龄组（统计日所在学年9月1日满14周岁、"
    "未满15周岁）中已入学（口径同入学率）的人数所占比例，以当前登记近似该届学生入学时的人数。"
)

# 学籍 statuses (学籍状态) as the figures read them.
STUDYING_STATUSES: tuple[str, ...] = ("在读", "休学", "送教上门")
GRADUATED = "毕业"
TRANSFERRED_OUT = "转出"
LAST_GRADE = 9  # 九年级 (初三): the graduating class of compulsory education
GRADE_YEARS = LAST_GRADE - 1  # school years from grade 1 to the last grade


def grade_number(text: str | None) -> int | None:
    """The grade of a 学籍 row as a number, 1-6 小学, 7-9 初中, 10-12 高中: 一年级, 1年级,
    七年级, 初一, 初中三年级, 高二...; None for a text that names no grade."""
    if not text:
        return None
    match = _GRADE.fullmatch(text.strip().replace(" ", "").removeprefix("小学"))
    if match is None:
        return None
    level, number = match.group(1), match.group(2)
    value = int(number) if number.isdigit() else "一二三四五六七八九".index(number) + 1
    if level:
        if value > 3:
            return None
        value += 6 if level.startswith("初") else 9
    return value if 1 <= value <= 12 else None


_GRADE = re.compile(r"(初中|初|高中|高)?([一二三四五六七八九]|\d{1,2})(?:年级)?")


DEFINITIONS: Mapping[str, str] = {
    "period": "统计期：自起始日至统计日（含），默认为统计日所在年度1月1日起。",
    "by_state": "各状态案件数：统计日各案件所处状态（含已办结的），统计日之后发现的案件不计。",
    "returned": "复学人数：统计期内进入“已复学”状态的案件数（每案计一次，复学回访不计），"
    "与月报同一口径。",
    "retained": "巩固人数：统计期内巩固销号的案件数。",
    "relapses": "再次辍学：统计期内“再次辍学”（复学后又辍学）的人次；另列涉及的案件数。",
    "median_days_to_return": "发现至复学天数（中位数）：统计期内复学的案件，从发现日（立案日）"
    "到统计期内首次复学之日的自然日数的中位数。",
    "overdue": "逾期案件：统计日在办、办理期限早于统计日的案件。",
    "on_time": "按时办结率 = 按期办结的期限数 ÷ 统计期内到期的期限数。每个有办理期限的状态"
    "（或续期，如失联复核）为一个期限，从审计记录读出：离开该状态（或续期）之日不晚于办理期限"
    "（含经批准延期后的期限）为按期办结；晚于期限办结、或统计日仍未办结而期限已过为逾期。"
    "到期日在统计期内的期限才计入；由系统按期自动流转的（如延缓期满复核、巩固销号）不计。"
    "责任单位为该状态的责任单位（乡镇、村、学校、县教育局或转介部门）。"
    "已升级督办：逾期期限中，升级督办表记有到期日之后的督办层级的个数。",
    "return_rate": "劝返率 = 统计期内处于已确认辍学状态的案件中，统计期内复学的案件数 ÷ 统计期内"
    "处于已确认辍学状态的案件数（未入学待安置、失踪失联的不计入分子分母，经特教安置复学的"
    "计入复学人数，不计入劝返率）。",
    "retention_rate": "复学巩固率 = 统计期内巩固销号的案件数 ÷（巩固销号的案件数 + 统计期内"
    "再次辍学的案件数）。",
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # the day the figures stand on (as of)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass
class DeadlineTally:
    due: int = 0
    met: int = 0
    missed: int = 0
    escalated: int = 0

    def add(self, other: DeadlineTally) -> None:
        self.due += other.due
        self.met += other.met
        self.missed += other.missed
        self.escalated += other.escalated

    @property
    def rate(self) -> float | None:
        return self.met / self.due if self.due else None

    def as_json(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "met": self.met,
            "missed": self.missed,
            "escalated": self.escalated,
            "rate": _rounded(self.rate),
        }


@dataclass
class Tally:
    """The case figures of a group of cases (the whole scope, a township or a school)."""

    cases: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    identified: int = 0  # opened in the period
    overdue: int = 0
    returned: int = 0
    retained: int = 0
    relapses: int = 0
    relapsed_cases: int = 0
    dropouts_in_period: int = 0
    returned_dropouts: int = 0  # of the dropouts in the period, those who returned in it
    days_to_return: Counter[int] = field(default_factory=Counter)
    deadlines: DeadlineTally = field(default_factory=DeadlineTally)

    @property
    def open(self) -> int:
        return sum(self.by_category[c] for c in OPEN_CATEGORIES)

    @property
    def open_dropouts(self) -> int:
        return self.by_category["dropout"]

    @property
    def return_rate(self) -> float | None:
        return self.returned_dropouts / self.dropouts_in_period if self.dropouts_in_period else None

    @property
    def retention_rate(self) -> float | None:
        outcomes = self.retained + self.relapsed_cases
        return self.retained / outcomes if outcomes else None

    @property
    def median_days_to_return(self) -> float | None:
        return median(self.days_to_return)

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "open": self.open,
            "suspected": self.by_category["suspected"],
            "open_dropouts": self.open_dropouts,
            "awaiting_placement": self.by_category["awaiting_placement"],
            "missing": self.by_category["missing"],
            "deferred": self.by_category["deferred"],
            "in_monitoring": self.by_category["returned"],
            "identified": self.identified,
            "returned": self.returned,
            "retained": self.retained,
            "relapses": self.relapses,
            "relapsed_cases": self.relapsed_cases,
            "dropouts_in_period": self.dropouts_in_period,
            "returned_dropouts": self.returned_dropouts,
            "return_rate": _rounded(self.return_rate),
            "retention_rate": _rounded(self.retention_rate),
            "median_days_to_return": self.median_days_to_return,
            "overdue": self.overdue,
            "on_time": self.deadlines.as_json(),
        }


def median(counts: Counter[int]) -> float | None:
    """The median of values given as value -> how often."""
    total = sum(counts.values())
    if not total:
        return None
    ordered = sorted(counts.items())
    wanted = ((total - 1) // 2, total // 2)
    found: list[int] = []
    seen = 0
    for value, count in ordered:
        for index in wanted:
            if seen <= index < seen + count:
                found.append(value)
        seen += count
    return (found[0] + found[1]) / 2


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal (97.5%); a rate short of 100% is never
    shown as 100.0%: it gets the decimals that tell it apart (2458/2459 -> 99.96%)."""
    if rate is None:
        return "—"
    for decimals in range(1, 5):
        text = f"{rate * 100:.{decimals}f}"
        if rate >= 1 or float(text) < 100:
            return f"{text}%"
    return f"{math.floor(rate * 1_000_000) / 10_000:.4f}%"  # short of 100% by a hair


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# A township or village the registers did not give is stored as UNKNOWN_PLACE. Such a
# case belongs to no unit: the figures show it apart, as UNPLACED, never as a township,
# village or school, and no unit is ranked for it.
UNKNOWN_PLACE = "待核实"
UNPLACED = "地址待核实"


def is_placed(unit: str) -> bool:
    """Whether an address such as ``township:天堂镇`` or ``village:天堂镇/待核实`` names a
    known place (a department or the bureau always does)."""
    _role, _, place = unit.partition(":")
    return UNKNOWN_PLACE not in place.split("/")


@dataclass(frozen=True)
class Where:
    township: str
    village: str
    school: str | None


@dataclass(frozen=True)
class CaseMeasure:
    """What one case adds to the figures."""

    state: str
    category: Category
    identified: bool
    overdue: bool
    returned_on: date | None  # first entry into returned in the period
    retained: bool
    relapses: int
    dropout_in_period: bool
    days_to_return: int | None
    deadlines: tuple[tuple[tuple[str, ...], bool, bool], ...]  # (units, met, escalated)


def measure(
    timeline: Timeline,
    workflow: Workflow,
    where: Where,
    period: Period,
    escalated: frozenset[tuple[str, date]] = frozenset(),
) -> CaseMeasure | None:
    """One case's part of the figures (None: not identified by the period's end).
    ``escalated``: (state, due date) of the deadlines the sweep escalated past their
    due day (from the escalation table)."""
    if timeline.state is None or timeline.opened_on is None:
        return None
    state = timeline.state
    stays = lifecycle(timeline, workflow)
    kind = category(stays[-1][1] if stays else workflow.category_of(state))
    returns = entries(stays, "monitoring", period)
    counted = []
    for deadline in timeline.deadlines:
        if deadline.due_on not in period:
            continue
        status = deadline.status(period.end)
        if status not in ("met", "missed"):
            continue
        spec = workflow.states.get(deadline.state)
        scope = escalation.Scope(where.township, where.village, where.school, deadline.departments)
        units = tuple(
            escalation.recipient_keys("responsible_unit", spec.responsible if spec else None, scope)
        )
        counted.append((units, status == "met", (deadline.state, deadline.due_on) in escalated))
    dropout_in_period = any(
        stay.overlaps(period.start, period.end) and category(counted) == "dropout"
        for stay, counted in stays
    )
    return CaseMeasure(
        state=state,
        category=kind,
        identified=timeline.opened_on in period,
        overdue=bool(
            timeline.is_open and timeline.due_on is not None and timeline.due_on < period.end
        ),
        returned_on=returns[0] if returns else None,
        retained=bool(entries(stays, "retained", period)),
        relapses=sum(1 for day in timeline.repeats if day in period),
        dropout_in_period=dropout_in_period,
        days_to_return=(returns[0] - timeline.opened_on).days if returns else None,
        deadlines=tuple(counted),
    )


def add(tally: Tally, case: CaseMeasure) -> None:
    tally.cases += 1
    tally.by_state[case.state] += 1
    tally.by_category[case.category] += 1
    tally.identified += case.identified
    tally.overdue += case.overdue
    tally.returned += case.returned_on is not None
    tally.retained += case.retained
    tally.relapses += case.relapses
    tally.relapsed_cases += case.relapses > 0
    tally.dropouts_in_period += case.dropout_in_period
    tally.returned_dropouts += case.dropout_in_period and case.returned_on is not None
    if case.days_to_return is not None:
        tally.days_to_return[case.days_to_return] += 1
    for _units, met, escalated_ in case.deadlines:
        tally.deadlines.due += 1
        tally.deadlines.met += met
        tally.deadlines.missed += not met
        tally.deadlines.escalated += escalated_ and not met


def add_deadlines(units: dict[str, DeadlineTally], case: CaseMeasure) -> None:
    """Each deadline under each unit responsible for it."""
    for keys, met, escalated_ in case.deadlines:
        for key in keys:
            tally = units.setdefault(key, DeadlineTally())
            tally.due += 1
            tally.met += met
            tally.missed += not met
            tally.escalated += escalated_ and not met


def unit_deadlines(units: Mapping[str, DeadlineTally], kind: str, name: str) -> DeadlineTally:
    """The deadlines a township (with its villages) or a school answered for."""
    total = DeadlineTally()
    for key, tally in units.items():
        role, _, place = key.partition(":")
        if kind == "township":
            mine = (role == "township" and place == name) or (
                role == "village" and place.partition("/")[0] == name
            )
        else:
            mine = role == kind and place == name
        if mine:
            total.add(tally)
    return total


# ---------------------------------------------------------------------------------------
# The annual assessment


@dataclass(frozen=True)
class Weights:
    on_time: float = 40
    returned: float = 30
    retained: float = 30
    relapse_penalty: float = 2

    def formula(self) -> str:
        def number(value: float) -> str:
            return f"{value:g}"

        return (
            f"得分 = 100 ×（{number(self.on_time)}×按时办结率 + {number(self.returned)}×劝返率 + "
            f"{number(self.retained)}×复学巩固率）÷（{number(self.on_time)} + "
            f"{number(self.returned)} + {number(self.retained)}）− "
            f"{number(self.relapse_penalty)} × 再次辍学人次；不低于0。某项无可计量的数据"
            "（如年内无到期期限）时该项不计，按其余各项的权重计算。年内无案件或三项均无数据"
            "的单位不评分，列于排名之后、不排名次；地址待核实的案件不计入任何单位。"
        )


@dataclass(frozen=True)
class Score:
    kind: str  # township | school
    name: str
    on_time: DeadlineTally
    returned: int  # of the dropouts, those who returned (the return rate's numerator)
    dropouts: int
    retained: int
    relapsed_cases: int
    relapses: int
    score: float | None
    cases: int = 0

    @property
    def unscored(self) -> str | None:
        """Why the unit has no score (None: it has one)."""
        if self.score is not None:
            return None
        return "年内无案件" if not self.cases else "无可计量数据"

    @property
    def return_rate(self) -> float | None:
        return self.returned / self.dropouts if self.dropouts else None

    @property
    def retention_rate(self) -> float | None:
        outcomes = self.retained + self.relapsed_cases
        return self.retained / outcomes if outcomes else None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "on_time": self.on_time.as_json(),
            "returned": self.returned,
            "dropouts": self.dropouts,
            "return_rate": _rounded(self.return_rate),
            "retained": self.retained,
            "relapsed_cases": self.relapsed_cases,
            "retention_rate": _rounded(self.retention_rate),
            "relapses": self.relapses,
            "cases": self.cases,
            "score": self.score,
            "unscored": self.unscored,
        }


def score(
    weights: Weights,
    *,
    on_time: float | None,
    return_rate: float | None,
    retention_rate: float | None,
    relapses: int,
) -> float | None:
    """The formula of ``Weights.formula``; None when no rate could be measured."""
    parts = [
        (rate, weight)
        for rate, weight in (
            (on_time, weights.on_time),
            (return_rate, weights.returned),
            (retention_rate, weights.retained),
        )
        if rate is not None and weight > 0
    ]
    if not parts:
        return None
    total = sum(weight for _rate, weight in parts)
    value = 100 * sum(rate * weight for rate, weight in parts) / total
    return round(max(0.0, value - weights.relapse_penalty * relapses), 1)


def assess(
    weights: Weights,
    kind: str,
    name: str,
    tally: Tally,
    units: Mapping[str, DeadlineTally],
) -> Score:
    deadlines = unit_deadlines(units, kind, name)
    return Score(
        kind=kind,
        name=name,
        on_time=deadlines,
        returned=tally.returned_dropouts,
        dropouts=tally.dropouts_in_period,
        retained=tally.retained,
        relapsed_cases=tally.relapsed_cases,
        relapses=tally.relapses,
        score=score(
            weights,
            on_time=deadlines.rate,
            return_rate=tally.return_rate,
            retention_rate=tally.retention_rate,
            relapses=tally.relapses,
        ),
        cases=tally.cases,
    )


def ranked(scores: Iterable[Score]) -> list[Score]:
    """Highest score first; units without a score last, by name."""
    return sorted(scores, key=lambda s: (s.score is None, -(s.score or 0), s.kind, s.name))


# ---------------------------------------------------------------------------------------
# Figures from the registers


@dataclass(frozen=True)
class RegisterFigure:
    """A rate from the imported registers, or why it cannot be given."""

    numerator: int | None = None
    denominator: int | None = None
    missing: Sequence[str] = ()  # registers that must be imported first
    note: str | None = None  # why else there is no figure
    estimate: bool = False  # a proxy (估算), not the official formula
    basis: str | None = None  # where the figure's parts come from, in words

    @property
    def rate(self) -> float | None:
        if self.missing or self.note or not self.denominator or self.numerator is None:
            return None
        return self.numerator / self.denominator


REGISTER_LABELS: Mapping[str, str] = {
    "household": "户籍",
    "student": "学籍",
    "poverty": "扶贫",
    "disability": "残疾人",
    "attendance": "实际在校生",
}


def missing_text(missing: Sequence[str]) -> str:
    """E.g. 需导入户籍和学籍数据."""
    return "需导入" + "和".join(REGISTER_LABELS.get(m, m) for m in missing) + "数据"
