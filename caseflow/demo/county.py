"""A synthetic county for demos, tests and benchmarks: the five registers of 五查四比对 with
planted discrepancies and bad rows, and the true answer.

Pure and deterministic: everything comes from ``random.Random(seed)`` and the
``reference_date`` the caller passes (no clock). The same seed and arguments give the same
county, the same rows in the same order and byte-identical CSV files.

- :func:`generate_county` builds townships (乡镇) with villages (村/社区) and groups (组),
  schools (小学 and 中学 per township, a county high school and one 特殊教育学校),
  households with guardians, and the children: Chinese names, valid resident IDs with
  the county's region code, ages spread over school age plus some younger and older.
- ``County.registers`` holds each register as rows (dicts keyed by the Chinese headings
  of :data:`HEADINGS`, all values strings), in file order: row ``i`` is on line ``i + 2``
  of the written file (line 1 is the heading row, as a spreadsheet numbers it).
- ``County.truth`` (:class:`Truth`) is what a correct import and comparison must find:
  the four flags of each school-age suspect, the expected rejects of each register by
  line, and the rows that look wrong but must be accepted after normalisation.
- :func:`write_registers` writes the registers (CSV UTF-8 with BOM by default, GBK or
  XLSX on request); :func:`write_truth` stores the truth as JSON.

The truth is computed by applying the comparison's four rules to the rows an importer
must accept (every row not in ``truth.rejects``), for children aged ``age_band``
inclusive at the reference date (age from the resident ID):

- ``household_vs_student``: in 户籍, no 学籍 row with status 在读 or 休学;
- ``poverty_vs_student``: in 扶贫, no such 学籍 row;
- ``disability_vs_student``: in 残疾人, no such 学籍 row;
- ``student_vs_attendance``: a 学籍 row with status 在读, and not in 实际在校生 (by ID,
  at any school).

Each register holds a child at most once (the 学籍 export has one record per child, its
current status), so a bad row takes the child out of that register: the truth follows.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from caseflow.ids import check_character, make_id_number, normalise_id_number

REGISTERS: tuple[str, ...] = ("household", "student", "poverty", "disability", "attendance")
HEADINGS: Mapping[str, tuple[str, ...]] = {
    # 民族 is an extra column: importers must ignore it.
    "household": (
        "姓名",
        "身份证号",
        "性别",
        "民族",
        "出生日期",
        "乡镇",
        "村",
        "组",
        "户籍地址",
        "监护人",
        "联系电话",
    ),
    "student": ("姓名", "身份证号", "学籍号", "学校", "年级", "班级", "学籍状态"),
    "poverty": ("姓名", "身份证号", "乡镇", "村", "类别"),
    "disability": ("姓名", "身份证号", "残疾类别", "残疾等级", "残疾人证号"),
    "attendance": ("学校", "姓名", "身份证号", "年级", "班级"),
}
FLAGS: tuple[str, ...] = (
    "household_vs_student",
    "poverty_vs_student",
    "disability_vs_student",
    "student_vs_attendance",
)
# Why a row must be rejected. Each planted bad row has exactly one problem.
REJECT_KINDS: tuple[str, ...] = (
    "id_checksum",  # 身份证号: wrong check character
    "id_birth_date",  # 身份证号: digits 7-14 are not a real date (check character right)
    "sex_mismatch",  # 性别 disagrees with the ID (household only)
    "birth_date_mismatch",  # 出生日期 disagrees with the ID (household only)
    "missing_field",  # a column every row must fill is blank (see reject_columns)
    "duplicate",  # an exact copy of an earlier good row (same 身份证号)
)
# Rows that look wrong but are valid once the ID is normalised: they must be accepted.
NORMALISED_KINDS: tuple[str, ...] = ("full_width_digits", "lowercase_x")
STUDYING: frozenset[str] = frozenset({"在读", "休学"})
TRUTH_FORMAT = "caseflow-synthetic-truth/1"
DEFAULT_REGION = "520625"  # 印江土家族苗族自治县 (522226 before 铜仁 became a city in 2011)
DEFAULT_COUNTY = "印江自治县"

# Scenarios planted on purpose (Truth.scenarios); children without one are ordinary.
SCENARIOS: Mapping[str, str] = {
    "never_enrolled": "school age, no 学籍 row at all",
    "dropped_out_after_primary": "only a 毕业 row at a primary school",
    "graduated_not_continuing": "only a 毕业 row at a middle school, not in high school",
    "transferred_out": "only a 转出 row: studying outside the county (the rule flags it)",
    "hollow_enrolment": "学籍 在读 but not in 实际在校生 (空挂学籍)",
    "send_teacher_home": "disabled, 在读 at the special school, taught at home (送教上门)",
    "special_school": "disabled, 在读 and present at the special school",
    "suspended": "学籍 休学 and not in 实际在校生: not flagged",
    "attends_other_school": "在读 at one school, present at another: not flagged",
    "migrant_in": "户籍 in another county, 在读 and present here: not flagged",
    "migrant_hollow": "户籍 in another county, 在读 here but not present",
    "boundary_lower_on_reference_date": "reaches the lowest school age on the reference "
    "date, no 学籍: flagged",
    "boundary_day_before_lower": "reaches the lowest school age the day after, no 学籍: "
    "not flagged",
    "boundary_day_before_upper": "one day short of leaving the age band, no 学籍: flagged",
    "boundary_upper_on_reference_date": "leaves the age band on the reference date, no 学籍: "
    "not flagged",
    "out_of_age_not_enrolled": "older than school age, no 学籍: not flagged",
    "out_of_age_hollow": "older than school age, 在读 but not present: not flagged",
    "out_of_age_transferred_out": "older than school age, only 转出: not flagged",
}

# ---------------------------------------------------------------------------------------
# Names and places


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The county seat 峨岭街道 first: always included, home of the county's own schools.
_TOWNSHIPS = _words(
    "峨岭街道 龙津街道 中兴街道 板溪镇 沙子坡镇 天堂镇 木黄镇 合水镇 朗溪镇 缠溪镇 洋溪镇 "
    "新寨镇 杉树镇 刀坝乡 紫薇镇 罗场乡 永义乡"
)
MAX_TOWNSHIPS = len(_TOWNSHIPS)
_VILLAGE_FIRST = _words(
    "大 小 新 老 上 下 中 高 龙 石 竹 茶 桃 杨 青 黄 白 马 凤 金 两河 三星 团 长 岩 水 柏 梨 花 "
    "红 合 永 太 兴 银 沙 坪 官 鱼 观"
)
_VILLAGE_SECOND = "坪坝溪湾岭山沟河寨堡田坡塘井林场口阳丰盘"
_GROUP_NUMERALS = _words("一 二 三 四 五 六 七 八 九 十 十一 十二")

# Surnames common in 印江 (土家族 田/杨/冉/任/严/安...), with rough weights.
_SURNAME_NAMES = "田杨张冉李王任刘严安周罗吴陈黄龙彭向徐蔡杜邓石何付谢熊朱胡舒姚代雷喻骆"
_SURNAME_WEIGHTS = tuple(accumulate((8, 7, 7, 5, 5, 5, 4, 4, *[3] * 6, *[2] * 10, *[1] * 11)))
_BOY = "浩宇轩子梓俊杰博睿泽涛鑫豪晨阳明凯航文天辰铭翔磊鹏一思嘉锦宏"
_GIRL = "欣怡梓涵萱悦诗雨琪佳思可馨妍婷雅梦瑶彤若依玉晴雪琳灵语菲艺丽"
_MAN = "国建军华明勇强平德光林永志成海文兴发金忠红春贵祥"
_WOMAN = "芳英兰秀红梅琴霞燕丽萍春珍菊敏娟群芬艳玲"
_ETHNICITIES = (("土家族", 60), ("汉族", 28), ("苗族", 10), ("仡佬族", 1), ("侗族", 1))
_ETHNICITY_NAMES = tuple(e for e, _ in _ETHNICITIES)
_ETHNICITY_WEIGHTS = tuple(accumulate(w for _, w in _ETHNICITIES))
_RELATIONS = (("父亲", "男", 55), ("母亲", "女", 25), ("祖父", "男", 12), ("祖母", "女", 8))
_RELATION_WEIGHTS = tuple(accumulate(w for *_, w in _RELATIONS))
_PHONE_SECOND = "3333335555588888779946"
# Where migrant children's IDs come from: 思南, 德江, 沿河, 松桃, 贵阳南明, 重庆秀山.
_OTHER_REGIONS = ("520624", "520626", "520627", "520628", "520102", "500241")
DISABILITY_CATEGORIES: tuple[str, ...] = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
_CATEGORY_WEIGHTS = tuple(accumulate((8, 12, 12, 20, 30, 8, 10)))
DISABILITY_GRADES: tuple[str, ...] = ("一级", "二级", "三级", "四级")
_DISABILITY_GRADE_WEIGHTS = tuple(accumulate((15, 30, 30, 25)))
# Index = grade: 1-6 小学, 7-9 初中, 10-12 高中.
_GRADE_NAMES: tuple[str, ...] = (
    "",
    *(f"{n}年级" for n in "一二三四五六七八九"),
    "高一",
    "高二",
    "高三",
)
_CLASS_SIZE = 45
_MISSING_COLUMNS: Mapping[str, tuple[str, ...]] = {
    # Columns every row must fill (and which an importer cannot derive from the ID).
    "household": ("姓名", "乡镇", "村"),
    "student": ("姓名", "学校", "学籍状态"),
    "poverty": ("姓名", "乡镇", "村", "类别"),
    "disability": ("姓名", "残疾类别", "残疾等级"),
    "attendance": ("学校", "姓名"),
}
_IMPOSSIBLE_DAYS = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 5), (0, 12), (5, 0))
_FULL_WIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)})

# ---------------------------------------------------------------------------------------
# The county


@dataclass(frozen=True, slots=True)
class School:
    name: str
    level: str  # 小学, 中学, 高中 or 特殊教育学校
    township: str | None  # None for the county's own schools


@dataclass(frozen=True, slots=True)
class Village:
    name: str  # ...村 or ...社区
    township: str
    groups: tuple[str, ...]  # 一组, 二组, ...
    primary_school: str
    middle_school: str


@dataclass(frozen=True, slots=True)
class Township:
    name: str
    villages: tuple[Village, ...]


@dataclass(frozen=True, slots=True)
class Guardian:
    name: str
    relation: str  # 父亲, 母亲, 祖父, 祖母
    sex: str
    birth_date: date
    id_number: str
    phone: str


@dataclass(frozen=True, slots=True)
class Disability:
    category: int  # 1-7: 视力, 听力, 言语, 肢体, 智力, 精神, 多重
    grade: int  # 1-4: 一级 (most severe) .. 四级
    certificate: str  # 残疾人证号: ID + category + grade


@dataclass(frozen=True, slots=True)
class Enrolment:
    """The child's one 学籍 record."""

    school: str
    grade: str
    class_name: str
    status: str  # 在读, 休学, 转出, 毕业


@dataclass(frozen=True, slots=True)
class Presence:
    """Where the child is counted in 实际在校生."""

    school: str
    grade: str
    class_name: str


@dataclass(frozen=True, slots=True)
class Child:
    id_number: str
    name: str
    sex: str
    birth_date: date
    ethnicity: str
    resident: bool  # 户籍 in this county (False: a migrant child studying here)
    township: str
    village: str
    group: str
    address: str
    household: int
    guardian: Guardian
    poverty: str | None  # 脱贫户 / 监测户
    disability: Disability | None
    enrolment: Enrolment | None
    presence: Presence | None
    scenario: str | None

    @property
    def student_number(self) -> str:
        return f"G{self.id_number}"


@dataclass(frozen=True)
class Truth:
    """What a correct import and comparison of the registers must find.

    ``flags``: for each school-age suspect (normalised ID) the flags that must fire;
    children with no flag are absent. ``rejects[register][line]``: the kind (one of
    :data:`REJECT_KINDS`) of each row to reject, ``reject_columns`` the heading at fault
    and ``duplicate_of`` the line a duplicate repeats. ``normalised[register][line]``:
    rows to accept after normalising the ID (one of :data:`NORMALISED_KINDS`).
    ``scenarios``: planted situations by ID (see :data:`SCENARIOS`), flagged or not.
    ``rows``: the number of data rows of each register file.
    """

    seed: int
    county: str
    region: str
    reference_date: date
    age_band: tuple[int, int]
    flags: dict[str, frozenset[str]]
    rejects: dict[str, dict[int, str]]
    reject_columns: dict[str, dict[int, str]]
    duplicate_of: dict[str, dict[int, int]]
    normalised: dict[str, dict[int, str]]
    scenarios: dict[str, str]
    rows: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        def by_line(table: Mapping[str, Mapping[int, Any]]) -> dict[str, dict[str, Any]]:
            return {r: {str(n): v for n, v in sorted(table[r].items())} for r in REGISTERS}

        return {
            "format": TRUTH_FORMAT,
            "seed": self.seed,
            "county": self.county,
            "region": self.region,
            "reference_date": self.reference_date.isoformat(),
            "age_band": list(self.age_band),
            "flags": {k: sorted(v) for k, v in sorted(self.flags.items())},
            "rejects": by_line(self.rejects),
            "reject_columns": by_line(self.reject_columns),
            "duplicate_of": by_line(self.duplicate_of),
            "normalised": by_line(self.normalised),
            "scenarios": dict(sorted(self.scenarios.items())),
            "rows": {r: self.rows[r] for r in REGISTERS},
        }


@dataclass(frozen=True)
class County:
    seed: int
    name: str
    region: str
    reference_date: date
    age_band: tuple[int, int]
    townships: tuple[Township, ...]
    schools: tuple[School, ...]
    children: tuple[Child, ...]  # residents first (household order), then migrants
    guardians: tuple[Guardian, ...]  # one per household, by household number
    registers: dict[str, list[dict[str, str]]]
    truth: Truth


# ---------------------------------------------------------------------------------------
# Dates


def age_on(birth: date, on: date) -> int:
    """Completed years at ``on`` (a 29 February birthday is reached on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _years_before(day: date, years: int) -> date:
    """The date ``years`` before ``day``; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


def _birth_date_for_age(rng: random.Random, age: int, on: date) -> date:
    latest = _years_before(on, age)
    earliest = _years_before(on, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


# ---------------------------------------------------------------------------------------
# Generation


@dataclass(slots=True)
class _Draft:
    """A child while being generated (mutable; frozen into a Child at the end)."""

    name: str
    sex: str
    birth_date: date
    household: int
    resident: bool = True
    region: str = ""
    late: bool = False  # started school a year late
    poverty: str | None = None
    disability: tuple[int, int] | None = None
    scenario: str | None = None
    want_x: bool = False  # give this child an ID ending in X
    id_number: str = ""
    village: Village | None = None  # where a migrant child lives
    enrolment: tuple[str, int, str] | None = None  # school, grade index, status
    presence: tuple[str, int] | None = None  # school, grade index


@dataclass(slots=True)
class _Household:
    township: Township
    village: Village
    group: str
    address: str
    ethnicity: str
    guardian: Guardian | None
    surname: str


class _Generator:
    def __init__(
        self,
        seed: int,
        reference_date: date,
        region: str,
        county: str,
        age_band: tuple[int, int],
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.on = reference_date
        self.region = region
        self.county = county
        self.band = age_band
        self.used_ids: set[str] = set()
        self.townships: list[Township] = []
        self.schools: list[School] = []
        self.high_school = f"{county}第一中学"
        self.special_school = f"{county}特殊教育学校"

    # -- names ------------------------------------------------------------------------

    def surname(self) -> str:
        return self.rng.choices(_SURNAME_NAMES, cum_weights=_SURNAME_WEIGHTS)[0]

    def given(self, pool: str) -> str:
        rng = self.rng
        if rng.random() < 0.25:
            return rng.choice(pool)
        return "".join(rng.sample(pool, 2))

    def child_name(self, surname: str, sex: str) -> str:
        return surname + self.given(_BOY if sex == "男" else _GIRL)

    def phone(self) -> str:
        rng = self.rng
        return f"1{rng.choice(_PHONE_SECOND)}{rng.randrange(10**9):09d}"

    def new_id(self, region: str, born: date, sex: str, *, want_x: bool = False) -> str:
        rng = self.rng
        parity = 1 if sex == "男" else 0
        prefix = f"{region}{born.year:04d}{born.month:02d}{born.day:02d}"
        for _ in range(10_000):
            first17 = f"{prefix}{rng.randrange(500) * 2 + parity:03d}"
            number = first17 + check_character(first17)
            if number in self.used_ids or (want_x and number[-1] != "X"):
                continue
            self.used_ids.add(number)
            return number
        raise RuntimeError(f"no free resident ID left for {region} {born}")  # pragma: no cover

    # -- places -----------------------------------------------------------------------

    def geography(self, townships: int, children: int) -> None:
        rng = self.rng
        chosen = {_TOWNSHIPS[0], *rng.sample(_TOWNSHIPS[1:], townships - 1)}
        names = [t for t in _TOWNSHIPS if t in chosen]
        per_township = max(children, 1) / townships
        village_names = [a + b for a in _VILLAGE_FIRST for b in _VILLAGE_SECOND if a != b]
        rng.shuffle(village_names)
        for index, township in enumerate(names):
            stem = township.removesuffix("街道").removesuffix("镇").removesuffix("乡")
            seat = index == 0
            count = max(2, min(30, round(per_township / 120) + rng.randint(-2, 2)))
            stems = [village_names.pop() for _ in range(count)]
            primaries = [f"{township}中心小学"]
            primaries += [f"{township}{s}小学" for s in stems[1::2]]
            middles = [f"{self.county}{stem}中学"]
            if seat:
                primaries.append(f"{self.county}实验小学")
                middles.append(f"{self.county}民族中学")
            villages = []
            for number, village_stem in enumerate(stems):
                community = township.endswith("街道") and rng.random() < 0.4
                villages.append(
                    Village(
                        name=village_stem + ("社区" if community else "村"),
                        township=township,
                        groups=_GROUP_NUMERALS[: rng.randint(4, 12)],
                        primary_school=primaries[number * len(primaries) // count],
                        middle_school=middles[number % len(middles)],
                    )
                )
            self.townships.append(Township(township, tuple(villages)))
            self.schools += [School(p, "小学", township) for p in primaries]
            self.schools += [School(m, "中学", township) for m in middles]
        self.schools.append(School(self.high_school, "高中", None))
        self.schools.append(School(self.special_school, "特殊教育学校", None))

    def villages(self) -> list[Village]:
        return [v for t in self.townships for v in t.villages]

    # -- people -----------------------------------------------------------------------

    def age(self) -> int:
        """3-5: 8%, 6-15: 85%, 16-17: 7% (shifted with the age band)."""
        low, high = self.band
        roll = self.rng.random()
        if roll < 0.08:
            return self.rng.randint(max(low - 3, 0), low - 1)
        if roll < 0.93:
            return self.rng.randint(low, high)
        return self.rng.randint(high + 1, high + 2)

    def households(self, children: int) -> tuple[list[_Household], list[_Draft]]:
        rng = self.rng
        weights = list(accumulate(2 if i == 0 else 1 for i in range(len(self.townships))))
        households: list[_Household] = []
        drafts: list[_Draft] = []
        while len(drafts) < children:
            township = rng.choices(self.townships, cum_weights=weights)[0]
            village = rng.choice(township.villages)
            group = rng.choice(village.groups) + "组"
            surname = self.surname()
            number = len(households)
            households.append(
                _Household(
                    township=township,
                    village=village,
                    group=group,
                    address=f"贵州省{self.county}{township.name}{village.name}{group}"
                    f"{rng.randint(1, 120)}号",
                    ethnicity=rng.choices(_ETHNICITY_NAMES, cum_weights=_ETHNICITY_WEIGHTS)[0],
                    guardian=None,
                    surname=surname,
                )
            )
            size = min(rng.choices((1, 2, 3, 4), (40, 40, 15, 5))[0], children - len(drafts))
            for _ in range(size):
                sex = "男" if rng.random() < 0.52 else "女"
                age = self.age()
                drafts.append(
                    _Draft(
                        name=self.child_name(surname, sex),
                        sex=sex,
                        birth_date=_birth_date_for_age(rng, age, self.on),
                        household=number,
                        late=age >= self.band[0] + 1 and rng.random() < 0.1,
                    )
                )
        # Households in register order: by township, village, group.
        order = {v.name: rank for rank, v in enumerate(self.villages())}
        ranked = sorted(
            range(len(households)),
            key=lambda h: (
                order[households[h].village.name],
                _GROUP_NUMERALS.index(households[h].group.removesuffix("组")),
                h,
            ),
        )
        renumber = {old: new for new, old in enumerate(ranked)}
        households = [households[old] for old in ranked]
        for draft in drafts:
            draft.household = renumber[draft.household]
        drafts.sort(key=lambda d: d.household)
        return households, drafts

    def guardians(self, households: list[_Household], drafts: list[_Draft]) -> None:
        rng = self.rng
        eldest: dict[int, date] = {}
        for draft in drafts:
            known = eldest.get(draft.household)
            eldest[draft.household] = min(known, draft.birth_date) if known else draft.birth_date
        for number, household in enumerate(households):
            relation, sex, _ = rng.choices(_RELATIONS, cum_weights=_RELATION_WEIGHTS)[0]
            parent = relation in ("父亲", "母亲")
            gap = rng.randint(20, 38) if parent else rng.randint(42, 62)
            born = _birth_date_for_age(rng, gap, eldest.get(number, self.on))
            surname = household.surname if sex == "男" else self.surname()
            household.guardian = Guardian(
                name=surname + self.given(_MAN if sex == "男" else _WOMAN),
                relation=relation,
                sex=sex,
                birth_date=born,
                id_number="",
                phone=self.phone(),
            )

    def special_groups(
        self, households: list[_Household], drafts: list[_Draft]
    ) -> tuple[dict[int, str], list[int]]:
        """~10% of households poor; ~1.5% of children and ~3% of guardians disabled (the
        残联 register covers all ages: its adults must pass the comparison unflagged)."""
        rng = self.rng
        poor: dict[int, str] = {}
        for number in range(len(households)):
            if rng.random() < 0.10:
                poor[number] = "脱贫户" if rng.random() < 0.75 else "监测户"
        for draft in drafts:
            draft.poverty = poor.get(draft.household)
            if rng.random() < 0.015:
                draft.disability = self.disability_kind()
        disabled_guardians = [n for n in range(len(households)) if rng.random() < 0.03]
        if households and not disabled_guardians:
            disabled_guardians = [rng.randrange(len(households))]
        return poor, disabled_guardians

    def disability_kind(self, *, severe: bool = False) -> tuple[int, int]:
        rng = self.rng
        category = rng.choices(range(1, 8), cum_weights=_CATEGORY_WEIGHTS)[0]
        if severe:
            return category, rng.choice((1, 2))
        return category, rng.choices(range(1, 5), cum_weights=_DISABILITY_GRADE_WEIGHTS)[0]

    # -- scenarios --------------------------------------------------------------------

    def grade_index(self, draft: _Draft) -> int:
        return age_on(draft.birth_date, self.on) - (self.band[0] - 1) - draft.late

    def scenarios(self, drafts: list[_Draft]) -> None:
        rng = self.rng
        low, high = self.band
        everyone = range(len(drafts))

        def take(pool: Sequence[int], rate: float, minimum: int) -> list[int]:
            candidates = [i for i in pool if drafts[i].scenario is None]
            count = min(len(candidates), max(minimum, round(rate * len(candidates))))
            return rng.sample(candidates, count)

        # Boundaries first: they move a child's birthday to the edge of the band.
        edges = (
            ("boundary_lower_on_reference_date", _years_before(self.on, low)),
            ("boundary_day_before_lower", _years_before(self.on, low) + timedelta(days=1)),
            ("boundary_day_before_upper", _years_before(self.on, high + 1) + timedelta(days=1)),
            ("boundary_upper_on_reference_date", _years_before(self.on, high + 1)),
        )
        for name, born in edges:
            for i in take(everyone, 0.0, 1):
                drafts[i].scenario = name
                drafts[i].birth_date = born
                drafts[i].late = False

        ages = [age_on(d.birth_date, self.on) for d in drafts]
        school_age = [i for i in everyone if low <= ages[i] <= high]
        older = [i for i in everyone if ages[i] > high]
        poor = [i for i in school_age if drafts[i].poverty]
        disabled = [i for i in school_age if drafts[i].disability]
        grades = {i: self.grade_index(drafts[i]) for i in school_age}
        compulsory = [i for i in school_age if 1 <= grades[i] <= 9]
        finished_primary = [i for i in school_age if 7 <= grades[i] <= 9]
        finished_middle = [i for i in school_age if grades[i] == 10]
        plan: tuple[tuple[str, Sequence[int], float, int], ...] = (
            ("never_enrolled", disabled, 0.08, 1),
            ("send_teacher_home", disabled, 0.15, 1),
            ("special_school", disabled, 0.35, 1),
            ("never_enrolled", poor, 0.02, 1),
            ("never_enrolled", school_age, 0.004, 1),
            ("dropped_out_after_primary", finished_primary, 0.005, 1),
            ("graduated_not_continuing", finished_middle, 0.02, 1),
            ("transferred_out", compulsory, 0.004, 1),
            ("hollow_enrolment", compulsory, 0.008, 2),
            ("suspended", compulsory, 0.004, 1),
            ("attends_other_school", compulsory, 0.003, 1),
            ("out_of_age_not_enrolled", older, 0.15, 1),
            ("out_of_age_hollow", older, 0.03, 1),
            ("out_of_age_transferred_out", older, 0.02, 1),
        )
        for name, pool, rate, minimum in plan:
            for i in take(pool, rate, minimum):
                drafts[i].scenario = name
                if name in ("never_enrolled", "send_teacher_home") and drafts[i].disability:
                    drafts[i].disability = self.disability_kind(severe=True)

    def migrants(self, count: int) -> list[_Draft]:
        """Children with 户籍 elsewhere, living in the county seat and studying here."""
        rng = self.rng
        drafts = []
        for index in range(count):
            sex = "男" if rng.random() < 0.52 else "女"
            drafts.append(
                _Draft(
                    name=self.child_name(self.surname(), sex),
                    sex=sex,
                    birth_date=_birth_date_for_age(
                        rng, rng.randint(self.band[0], self.band[1] - 1), self.on
                    ),
                    household=-1,
                    resident=False,
                    region=rng.choice(_OTHER_REGIONS),
                    village=rng.choice(self.townships[0].villages),
                    scenario="migrant_hollow"
                    if index == 0 or rng.random() < 0.05
                    else "migrant_in",
                )
            )
        return drafts

    # -- schooling --------------------------------------------------------------------

    def school_for(self, grade: int, village: Village) -> str:
        if grade <= 6:
            return village.primary_school
        if grade <= 9:
            return village.middle_school
        return self.high_school

    def other_school(self, school: str) -> str:
        level = next(s.level for s in self.schools if s.name == school)
        others = [s.name for s in self.schools if s.level == level and s.name != school]
        return self.rng.choice(others)

    def schooling(self, draft: _Draft, village: Village) -> None:
        grade = min(max(self.grade_index(draft), 0), len(_GRADE_NAMES) - 1)
        own = self.school_for(grade, village) if grade else ""
        scenario = draft.scenario
        if scenario in (
            "never_enrolled",
            "out_of_age_not_enrolled",
            "boundary_lower_on_reference_date",
            "boundary_day_before_lower",
            "boundary_day_before_upper",
            "boundary_upper_on_reference_date",
        ):
            return
        if scenario == "dropped_out_after_primary":
            draft.enrolment = (village.primary_school, 6, "毕业")
        elif scenario == "graduated_not_continuing":
            draft.enrolment = (village.middle_school, 9, "毕业")
        elif scenario in ("transferred_out", "out_of_age_transferred_out"):
            draft.enrolment = (own, grade, "转出")
        elif scenario in ("hollow_enrolment", "out_of_age_hollow", "migrant_hollow"):
            draft.enrolment = (own, grade, "在读")
        elif scenario == "suspended":
            draft.enrolment = (own, grade, "休学")
        elif scenario == "attends_other_school":
            draft.enrolment = (own, grade, "在读")
            draft.presence = (self.other_school(own), grade)
        elif scenario in ("special_school", "send_teacher_home"):
            draft.enrolment = (self.special_school, min(grade, 9), "在读")
            if scenario == "special_school":
                draft.presence = (self.special_school, min(grade, 9))
        elif grade >= 1:  # ordinary, or migrant_in
            draft.enrolment = (own, grade, "在读")
            draft.presence = (own, grade)


def _classes(drafts: Sequence[_Draft]) -> dict[tuple[str, int], int]:
    """How many classes each school has in each grade (45 a class)."""
    counts: dict[tuple[str, int], int] = {}
    for draft in drafts:
        if draft.enrolment is not None:
            key = draft.enrolment[:2]
            counts[key] = counts.get(key, 0) + 1
    return {key: -(-n // _CLASS_SIZE) for key, n in counts.items()}


def generate_county(
    seed: int,
    *,
    children: int = 3000,
    townships: int = 4,
    reference_date: date,
    region: str = DEFAULT_REGION,
    county_name: str = DEFAULT_COUNTY,
    age_band: tuple[int, int] = (6, 15),
    bad_row_rate: float = 0.02,
) -> County:
    """A county of ``children`` resident children (one 户籍 row each, before bad rows) in
    ``townships`` townships (1-17; the county seat 峨岭街道 always among them), plus ~2%
    migrant children studying here. Children are 3 years younger to 2 years older than
    ``age_band`` (85% inside it), so no birth date is after ``reference_date``.
    ``bad_row_rate`` of each register's rows are planted bad (at least one of each kind
    when the rate is not 0; 0 gives clean registers)."""
    if not 1 <= townships <= MAX_TOWNSHIPS:
        raise ValueError(f"townships must be 1..{MAX_TOWNSHIPS}, got {townships}")
    if children < 0:
        raise ValueError(f"children must be 0 or more, got {children}")
    if not 0 <= bad_row_rate < 0.5:
        raise ValueError(f"bad_row_rate must be in [0, 0.5), got {bad_row_rate}")
    if not 1 <= age_band[0] <= age_band[1]:
        raise ValueError(f"age_band must be (low, high) with 1 <= low <= high, got {age_band}")
    make_id_number(region, reference_date, 0)  # a ValueError here for a malformed region
    gen = _Generator(seed, reference_date, region, county_name, age_band)
    rng = gen.rng
    gen.geography(townships, children)
    households, drafts = gen.households(children)
    gen.guardians(households, drafts)
    poor, disabled_guardians = gen.special_groups(households, drafts)
    gen.scenarios(drafts)
    migrants = gen.migrants(round(children * 0.02) if children >= 100 else 0)

    # Make sure each register has an ID ending in X, for the lowercase-x rows.
    for pool in (
        [d for d in drafts if d.disability and d.scenario == "special_school"],
        [d for d in drafts if d.disability],
        [d for d in drafts if d.poverty],
    ):
        if pool:
            rng.choice(pool).want_x = True
    for draft in drafts:
        draft.id_number = gen.new_id(region, draft.birth_date, draft.sex, want_x=draft.want_x)
    migrant_guardians = []
    for draft in migrants:
        draft.id_number = gen.new_id(draft.region, draft.birth_date, draft.sex)
        born = _birth_date_for_age(rng, rng.randint(22, 40), draft.birth_date)
        migrant_guardians.append(
            Guardian(
                name=draft.name[0] + gen.given(_MAN),
                relation="父亲",
                sex="男",
                birth_date=born,
                id_number=gen.new_id(draft.region, born, "男"),
                phone=gen.phone(),
            )
        )
    guardians: list[Guardian] = []
    for household in households:
        g = household.guardian
        assert g is not None
        guardian = Guardian(
            g.name,
            g.relation,
            g.sex,
            g.birth_date,
            gen.new_id(region, g.birth_date, g.sex),
            g.phone,
        )
        household.guardian = guardian
        guardians.append(guardian)

    for draft in drafts:
        gen.schooling(draft, households[draft.household].village)
    for draft in migrants:
        assert draft.village is not None
        gen.schooling(draft, draft.village)
    classes = _classes(drafts + migrants)

    def class_of(school: str, grade: int) -> str:
        return f"{rng.randint(1, classes.get((school, grade), 1))}班"

    built: list[Child] = []
    for number, draft in enumerate([*drafts, *migrants]):
        enrolment = presence = None
        if draft.enrolment is not None:
            school, grade, status = draft.enrolment
            enrolment = Enrolment(school, _GRADE_NAMES[grade], class_of(school, grade), status)
        if draft.presence is not None:
            school, grade = draft.presence
            same = enrolment is not None and enrolment.school == school
            presence = Presence(
                school,
                _GRADE_NAMES[grade],
                enrolment.class_name if same and enrolment else class_of(school, grade),
            )
        disability = None
        if draft.disability is not None:
            category, level = draft.disability
            disability = Disability(category, level, f"{draft.id_number}{category}{level}")
        if draft.resident:
            home = households[draft.household]
            guardian = guardians[draft.household]
            place = (home.township.name, home.village.name, home.group, home.address)
            ethnicity = home.ethnicity
        else:
            village = draft.village
            assert village is not None
            guardian = migrant_guardians[number - len(drafts)]
            place = (village.township, village.name, rng.choice(village.groups) + "组", "")
            ethnicity = rng.choices(_ETHNICITY_NAMES, cum_weights=_ETHNICITY_WEIGHTS)[0]
        built.append(
            Child(
                id_number=draft.id_number,
                name=draft.name,
                sex=draft.sex,
                birth_date=draft.birth_date,
                ethnicity=ethnicity,
                resident=draft.resident,
                township=place[0],
                village=place[1],
                group=place[2],
                address=place[3],
                household=draft.household,
                guardian=guardian,
                poverty=draft.poverty,
                disability=disability,
                enrolment=enrolment,
                presence=presence,
                scenario=draft.scenario,
            )
        )

    clean = _register_rows(
        gen,
        children=built,
        households=households,
        guardians=guardians,
        poor=poor,
        disabled_guardians=disabled_guardians,
    )
    protected = frozenset(c.id_number for c in built if c.scenario)
    registers: dict[str, list[dict[str, str]]] = {}
    rejects: dict[str, dict[int, str]] = {}
    reject_columns: dict[str, dict[int, str]] = {}
    duplicate_of: dict[str, dict[int, int]] = {}
    normalised: dict[str, dict[int, str]] = {}
    for register in REGISTERS:
        planted = _plant_bad_rows(rng, register, clean[register], bad_row_rate, protected)
        registers[register] = planted.rows
        rejects[register] = planted.rejects
        reject_columns[register] = planted.columns
        duplicate_of[register] = planted.duplicate_of
        normalised[register] = planted.normalised
    truth = Truth(
        seed=seed,
        county=county_name,
        region=region,
        reference_date=reference_date,
        age_band=age_band,
        flags=expected_flags(registers, rejects, reference_date, age_band),
        rejects=rejects,
        reject_columns=reject_columns,
        duplicate_of=duplicate_of,
        normalised=normalised,
        scenarios={c.id_number: c.scenario for c in built if c.scenario},
        rows={r: len(registers[r]) for r in REGISTERS},
    )
    return County(
        seed=seed,
        name=county_name,
        region=region,
        reference_date=reference_date,
        age_band=age_band,
        townships=tuple(gen.townships),
        schools=tuple(gen.schools),
        children=tuple(built),
        guardians=tuple(guardians),
        registers=registers,
        truth=truth,
    )


# ---------------------------------------------------------------------------------------
# Registers


def _birth_text(rng: random.Random, born: date) -> str:
    roll = rng.random()
    if roll < 0.90:
        return born.isoformat()
    if roll < 0.94:
        return f"{born.year}/{born.month}/{born.day}"
    if roll < 0.97:
        return f"{born:%Y%m%d}"
    return f"{born.year}年{born.month}月{born.day}日"


def _register_rows(
    gen: _Generator,
    *,
    children: Sequence[Child],
    households: Sequence[_Household],
    guardians: Sequence[Guardian],
    poor: Mapping[int, str],
    disabled_guardians: Sequence[int],
) -> dict[str, list[dict[str, str]]]:
    rng = gen.rng
    school_rank = {s.name: i for i, s in enumerate(gen.schools)}
    grade_rank = {g: i for i, g in enumerate(_GRADE_NAMES)}
    residents = [c for c in children if c.resident]

    household = [
        {
            "姓名": c.name,
            "身份证号": c.id_number,
            "性别": c.sex,
            "民族": c.ethnicity,
            "出生日期": _birth_text(rng, c.birth_date),
            "乡镇": c.township,
            "村": c.village,
            "组": c.group,
            "户籍地址": c.address,
            "监护人": c.guardian.name,
            "联系电话": c.guardian.phone if rng.random() < 0.95 else "",
        }
        for c in residents
    ]

    def in_school_order(place: Enrolment | Presence, child: Child) -> tuple[int, int, int, str]:
        class_number = int(place.class_name.removesuffix("班"))
        return (school_rank[place.school], grade_rank[place.grade], class_number, child.id_number)

    enrolled = sorted(
        ((c.enrolment, c) for c in children if c.enrolment is not None),
        key=lambda pair: in_school_order(*pair),
    )
    student = [
        {
            "姓名": c.name,
            "身份证号": c.id_number,
            "学籍号": c.student_number,
            "学校": e.school,
            "年级": e.grade,
            "班级": e.class_name,
            "学籍状态": e.status,
        }
        for e, c in enrolled
    ]
    present = sorted(
        ((c.presence, c) for c in children if c.presence is not None),
        key=lambda pair: in_school_order(*pair),
    )
    attendance = [
        {
            "学校": p.school,
            "姓名": c.name,
            "身份证号": c.id_number,
            "年级": p.grade,
            "班级": p.class_name,
        }
        for p, c in present
    ]

    # 扶贫: every member the register knows of a poor household: its children and guardian.
    by_household: dict[int, list[Child]] = {}
    for c in residents:
        by_household.setdefault(c.household, []).append(c)
    poverty: list[dict[str, str]] = []
    for number, category in sorted(poor.items()):
        home = households[number]
        people = [(guardians[number].name, guardians[number].id_number)]
        people += [(c.name, c.id_number) for c in by_household.get(number, [])]
        for name, id_number in people:
            poverty.append(
                {
                    "姓名": name,
                    "身份证号": id_number,
                    "乡镇": home.township.name,
                    "村": home.village.name,
                    "类别": category,
                }
            )

    # 残疾人: disabled children, and a few disabled guardians (out of age).
    disabled: list[tuple[int, str, str, Disability]] = [
        (c.household, c.name, c.id_number, c.disability) for c in residents if c.disability
    ]
    for number in disabled_guardians:
        g = guardians[number]
        code, level = gen.disability_kind()
        disabled.append(
            (
                number,
                g.name,
                g.id_number,
                Disability(code, level, f"{g.id_number}{code}{level}"),
            )
        )
    disabled.sort(key=lambda item: (item[0], item[2]))
    disability = []
    for _, name, id_number, kind in disabled:
        numeric = rng.random() < 0.1
        disability.append(
            {
                "姓名": name,
                "身份证号": id_number,
                "残疾类别": str(kind.category)
                if numeric
                else DISABILITY_CATEGORIES[kind.category - 1],
                "残疾等级": str(kind.grade) if numeric else DISABILITY_GRADES[kind.grade - 1],
                "残疾人证号": kind.certificate,
            }
        )
    return {
        "household": household,
        "student": student,
        "poverty": poverty,
        "disability": disability,
        "attendance": attendance,
    }


# ---------------------------------------------------------------------------------------
# Bad rows


@dataclass
class _Planted:
    rows: list[dict[str, str]]
    rejects: dict[int, str] = field(default_factory=dict)
    columns: dict[int, str] = field(default_factory=dict)
    duplicate_of: dict[int, int] = field(default_factory=dict)
    normalised: dict[int, str] = field(default_factory=dict)


def _kinds(register: str) -> tuple[str, ...]:
    kinds = list(REJECT_KINDS) + list(NORMALISED_KINDS)
    if register != "household":
        kinds.remove("sex_mismatch")
        kinds.remove("birth_date_mismatch")
    return tuple(kinds)


def _wrong_check(rng: random.Random, number: str) -> str:
    return number[:17] + rng.choice([c for c in "0123456789X" if c != number[17]])


def _impossible_birth_date(rng: random.Random, number: str) -> str:
    year = int(number[6:10])
    choices = list(_IMPOSSIBLE_DAYS)
    if year % 4 or (year % 100 == 0 and year % 400):
        choices.append((2, 29))
    month, day = rng.choice(choices)
    first17 = f"{number[:10]}{month:02d}{day:02d}{number[14:17]}"
    return first17 + check_character(first17)


def _plant_bad_rows(
    rng: random.Random,
    register: str,
    rows: list[dict[str, str]],
    rate: float,
    protected: frozenset[str],
) -> _Planted:
    """Corrupt ~``rate`` of the rows (each kind at least once where possible) and insert
    duplicates; return the rows in file order with what must happen to each bad line.
    Rows of ``protected`` IDs are rejected only when no other row is left."""
    kinds = _kinds(register)
    wanted = round(rate * len(rows))
    if rate > 0:
        wanted = max(wanted, len(kinds))
    # Small registers: one row of each kind while that is at most half of them.
    wanted = min(wanted, max(len(rows) // 3, min(len(kinds), len(rows) // 2)))
    plan = list(kinds[:wanted]) + [rng.choice(kinds) for _ in range(wanted - len(kinds))]

    # Lowercase x needs an ID ending in X; everything else can take any row.
    ending_x = [i for i, row in enumerate(rows) if row["身份证号"].endswith("X")]
    lowercase = rng.sample(ending_x, min(plan.count("lowercase_x"), len(ending_x)))
    targets = [(index, "lowercase_x") for index in lowercase]
    taken = set(lowercase)
    # A rejected row takes its child out of the register: spare the planted scenarios
    # while other rows are left, so that every scenario still shows.
    spoiling = [k for k in plan if k not in ("lowercase_x", "duplicate", "full_width_digits")]
    harmless = [k for k in plan if k in ("duplicate", "full_width_digits")]
    spared = [i for i in range(len(rows)) if i not in taken and rows[i]["身份证号"] in protected]
    free = [i for i in range(len(rows)) if i not in taken and rows[i]["身份证号"] not in protected]
    chosen = rng.sample(free, min(len(spoiling), len(free)))
    chosen += rng.sample(spared, min(len(spoiling) - len(chosen), len(spared)))
    targets += zip(chosen, spoiling, strict=False)
    left = sorted(set(range(len(rows))) - taken - set(chosen))
    targets += zip(rng.sample(left, min(len(harmless), len(left))), harmless, strict=False)
    targets.sort()

    outcome: dict[int, tuple[str, str]] = {}  # row index -> (kind, column)
    copies: list[tuple[int, int]] = []  # (insert before this row index, copy of row index)
    for index, kind in targets:
        row = rows[index]
        number = row["身份证号"]
        column = "身份证号"
        if kind == "id_checksum":
            row["身份证号"] = _wrong_check(rng, number)
        elif kind == "id_birth_date":
            row["身份证号"] = _impossible_birth_date(rng, number)
        elif kind == "sex_mismatch":
            row["性别"] = "女" if row["性别"] == "男" else "男"
            column = "性别"
        elif kind == "birth_date_mismatch":
            born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
            shift = rng.choice((-400, -365, -31, -1, 1, 2, 31, 365))
            row["出生日期"] = (born + timedelta(days=shift)).isoformat()
            column = "出生日期"
        elif kind == "missing_field":
            column = rng.choice(_MISSING_COLUMNS[register])
            row[column] = ""
        elif kind == "full_width_digits":
            row["身份证号"] = number.translate(_FULL_WIDTH)
        elif kind == "lowercase_x":
            row["身份证号"] = number[:17] + "x"
        elif kind == "duplicate":
            copies.append((rng.randint(index + 1, len(rows)), index))
            continue
        outcome[index] = (kind, column)

    # File order: originals, each copy after its original (before row ``before``).
    order: list[tuple[int, int, int, int]] = [(i, 1, 0, i) for i in range(len(rows))]
    order += [(before, 0, n, source) for n, (before, source) in enumerate(copies)]
    order.sort()
    planted = _Planted(rows=[])
    line_of: dict[int, int] = {}
    for _, is_original, _, source in order:
        line = len(planted.rows) + 2
        if is_original:
            line_of[source] = line
            planted.rows.append(rows[source])
            if source in outcome:
                kind, column = outcome[source]
                if kind in NORMALISED_KINDS:
                    planted.normalised[line] = kind
                else:
                    planted.rejects[line] = kind
                    planted.columns[line] = column
        else:
            planted.rows.append(dict(rows[source]))
            planted.rejects[line] = "duplicate"
            planted.columns[line] = "身份证号"
            planted.duplicate_of[line] = line_of[source]
    return planted


# ---------------------------------------------------------------------------------------
# The four rules


def expected_flags(
    registers: Mapping[str, Sequence[Mapping[str, str]]],
    rejects: Mapping[str, Mapping[int, str]],
    reference_date: date,
    age_band: tuple[int, int] = (6, 15),
) -> dict[str, frozenset[str]]:
    """Apply the four comparisons to the rows that are not rejected (line = index + 2)."""

    def ids(register: str, keep: Callable[[Mapping[str, str]], bool] = bool) -> set[str]:
        bad = rejects.get(register, {})
        return {
            normalise_id_number(row["身份证号"])
            for line, row in enumerate(registers[register], start=2)
            if line not in bad and keep(row)
        }

    household = ids("household")
    poverty = ids("poverty")
    disability = ids("disability")
    studying = ids("student", lambda row: row["学籍状态"] in STUDYING)
    reading = ids("student", lambda row: row["学籍状态"] == "在读")
    present = ids("attendance")
    low, high = age_band
    flags: dict[str, frozenset[str]] = {}
    for number in sorted(household | poverty | disability | reading):
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        if not low <= age_on(born, reference_date) <= high:
            continue
        found = []
        if number in household and number not in studying:
            found.append("household_vs_student")
        if number in poverty and number not in studying:
            found.append("poverty_vs_student")
        if number in disability and number not in studying:
            found.append("disability_vs_student")
        if number in reading and number not in present:
            found.append("student_vs_attendance")
        if found:
            flags[number] = frozenset(found)
    return flags


# ---------------------------------------------------------------------------------------
# Files

_FORMATS = {
    "csv": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "utf-8": "utf-8",
    "gbk": "gbk",
    "gb18030": "gb18030",
    "xlsx": "",
}


def register_bytes(county: County, register: str, fmt: str = "csv") -> bytes:
    """One register as the bytes of a file: CSV in the named encoding, or XLSX."""
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(_FORMATS)}")
    headings = HEADINGS[register]
    rows = county.registers[register]
    if fmt == "xlsx":
        return _xlsx_bytes(county, register, headings, rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headings)
    writer.writerows([row[h] for h in headings] for row in rows)
    return buffer.getvalue().encode(_FORMATS[fmt])


def _xlsx_bytes(
    county: County, register: str, headings: Sequence[str], rows: Sequence[Mapping[str, str]]
) -> bytes:
    try:
        from openpyxl import Workbook
    except ImportError:
        raise RuntimeError("writing XLSX needs openpyxl: pip install openpyxl") from None
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = register
    sheet.append(list(headings))
    for row in rows:
        sheet.append([row[h] for h in headings])  # all text: IDs keep their 18 characters
    moment = datetime(
        county.reference_date.year, county.reference_date.month, county.reference_date.day
    )
    book.properties.created = moment
    book.properties.modified = moment
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_registers(
    county: County, folder: Path, *, formats: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """Write each register to ``folder/<register>.csv`` (or ``.xlsx``): CSV UTF-8 with a
    BOM unless ``formats`` names another for that register (``csv``, ``utf-8-sig``,
    ``utf-8``, ``gbk``, ``gb18030`` or ``xlsx``, which needs openpyxl)."""
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(REGISTERS))
    if unknown:
        raise ValueError(f"unknown register {unknown[0]!r}; use one of {', '.join(REGISTERS)}")
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for register in REGISTERS:
        fmt = formats.get(register, "csv")
        data = register_bytes(county, register, fmt)
        path = folder / f"{register}.{'xlsx' if fmt == 'xlsx' else 'csv'}"
        path.write_bytes(data)
        paths[register] = path
    return paths


def write_truth(county: County, path: Path) -> Path:
    """The truth as JSON (UTF-8, IDs in clear: the county is synthetic)."""
    text = json.dumps(county.truth.to_json(), ensure_ascii=False, indent=1, sort_keys=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
