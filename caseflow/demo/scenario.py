"""The scenario of ``caseflow demo``, pure: a county's organisation file generated from a
synthetic county, who each planted suspect really is, and what the people along the case's
chains do about it on a given day.

Nothing here touches the database, the clock or the network; ``caseflow.demo.run``
plays the scenario against a workspace. Everything is a function of the seed and the day,
so the same seed gives the same county, the same org.yaml and the same casework.

- :func:`county_org` writes ``org.yaml`` for a :class:`~caseflow.synthetic.County`: the
  county offices, every partner department, each township / village / villagers' group and
  school (with the villages it serves), people for every link of the 包保 chains, operators
  (the account running the demo as the bureau admin, a caseworker per township, the
  supervision office, a liaison officer per department) and the channels notices go by.
- :func:`personas` says who each flagged child is (a register error, a child studying
  elsewhere, a dropout, a disabled child...) and how their case will go.
- :func:`plan` is the casework policy: ``(persona, case, day) -> steps``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from caseflow.calendar import WorkCalendar
from caseflow.demo.county import MAX_TOWNSHIPS, Child, County, Village, age_on
from caseflow.i18n import N_

DEMO_COUNTY = "印江自治县"
START = date(2025, 9, 15)  # a Monday: the registers were extracted the Friday before
DEFAULT_SEED = 2026
DEFAULT_CHILDREN = 3000
DEFAULT_DAYS = 120
MAIL_DOMAIN = "yinjiang.example"  # RFC 2606: never a real domain
RETIRED_MAILBOX = "old."  # the demo's mail capture refuses addresses starting with this

_GRADES = tuple(f"{n}年级" for n in "一二三四五六七八九")


def townships_for(children: int) -> int:
    """Several townships, more for a larger county: 5 for 3000 children."""
    return max(2, min(MAX_TOWNSHIPS, round(children / 600)))


# ---------------------------------------------------------------------------------------
# org.yaml


_DEPARTMENT_NAMES: Mapping[str, str] = {
    "public_security": "{county}公安局",
    "disability_federation": "{county}残疾人联合会",
    "health": "{county}卫生健康局",
    "labour_inspection": "{county}人力资源和社会保障局",
    "poverty_office": "{county}乡村振兴局",
    "civil_affairs": "{county}民政局",
    "womens_federation": "{county}妇女联合会",
    "youth_league": "共青团{county}委员会",
    "court": "{county}人民法院",
    "procuratorate": "{county}人民检察院",
    "justice_bureau": "{county}司法局",
    "relocation_bureau": "{county}生态移民局",
}
_SURNAMES = "田杨张冉李王任刘严安周罗吴陈黄龙彭向徐蔡杜邓石何付谢熊朱胡舒姚代雷喻骆"
_MEN = "国建军华明勇强平德光林永志成海文兴发金忠春贵祥涛斌"
_WOMEN = "芳英兰秀红梅琴霞燕丽萍珍菊敏娟群芬艳玲静婷"
_YAML_WORDS = frozenset({"yes", "no", "y", "n", "on", "off", "true", "false", "null", "~"})
_PLAIN = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff.@-]*$")


def _scalar(value: object) -> str:
    """A YAML flow scalar: plain where that is unambiguous, else double-quoted."""
    text = str(value)
    if _PLAIN.match(text) and not text.isdigit() and text.lower() not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(value: object) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _letter() -> dict[str, str]:
    return {"channel": "letter"}


def _email(address: str) -> dict[str, str]:
    return {"channel": "email", "address": address}


@dataclass(frozen=True)
class DemoOrg:
    """The generated organisation file and what the demo needs to know about it."""

    text: str
    county: str
    bureau_operator: str  # the account running the demo, with bureau + admin
    approver: str  # a second bureau operator, who approves closures proposed by the first
    supervisor: str
    caseworkers: Mapping[str, str]  # township name -> operator
    departments: Mapping[str, str]  # department key -> operator
    robots: Mapping[str, str]  # robot name -> channel (wecom or dingtalk)
    schools: Mapping[str, str]  # school name -> unit id


@dataclass
class _Names:
    rng: random.Random
    used: set[str] = field(default_factory=set)

    def person(self) -> str:
        for _ in range(50):
            pool = _MEN if self.rng.random() < 0.6 else _WOMEN
            given = "".join(self.rng.sample(pool, self.rng.choice((1, 2, 2))))
            name = self.rng.choice(_SURNAMES) + given
            if name not in self.used:
                self.used.add(name)
                return name
        return name  # pragma: no cover - a namesake is allowed


def _classes(county: County) -> dict[str, list[tuple[str, str]]]:
    """(grade, class) of every class with a child in it, by school, in grade order."""
    order = {g: i for i, g in enumerate((*_GRADES, "高一", "高二", "高三"))}
    found: dict[str, set[tuple[str, str]]] = {}
    for child in county.children:
        for place in (child.enrolment, child.presence):
            if place is not None:
                found.setdefault(place.school, set()).add((place.grade, place.class_name))
    return {
        school: sorted(classes, key=lambda gc: (order.get(gc[0], 99), gc[1]))
        for school, classes in found.items()
    }


def county_org(county: County, *, admin_account: str, departments: Mapping[str, str]) -> DemoOrg:
    """The organisation file for a synthetic county (deterministic for its seed), with a
    unit for each of ``departments`` (the workflow's, key -> name)."""
    name = county.name
    names = _Names(random.Random(f"caseflow-demo-org:{county.seed}"))
    units: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    operators: list[dict[str, Any]] = []
    contacts: dict[str, list[dict[str, str]]] = {}
    robots: dict[str, str] = {}
    schools: dict[str, str] = {}
    shared = [admin_account]

    units += [
        {
            "id": "gov",
            "kind": "county_government",
            "name": f"{name}人民政府办公室",
            "contacts": [_letter(), _email(f"{RETIRED_MAILBOX}zfb@gov.{MAIL_DOMAIN}")],
        },
        {
            "id": "bureau",
            "kind": "education_bureau",
            "name": f"{name}教育局",
            "seal": f"{name}教育局",
            "reference_prefix": "印教",  # as the demo numbers its orders (_document_number)
            "contact_person": "杨晓燕",
            "contact_phone": "0856-6221234",
            "parent": "gov",
            "contacts": [_letter(), _email(f"kongchuo@jyj.{MAIL_DOMAIN}")],
        },
        {
            "id": "supervision",
            "kind": "supervision_office",
            "name": f"{name}人民政府教育督导室",
            "parent": "gov",
            "contacts": [_letter(), _email(f"dudao@gov.{MAIL_DOMAIN}")],
        },
    ]
    department_units: dict[str, str] = {}
    for key in departments:
        unit_id = "dept-" + key.replace("_", "-")
        department_units[key] = unit_id
        channels = [_letter()]
        if key == "disability_federation":
            channels.append(_email(f"jiaoyu@canlian.{MAIL_DOMAIN}"))
        units.append(
            {
                "id": unit_id,
                "kind": "department",
                "department": key,
                "name": _DEPARTMENT_NAMES.get(key, "{county}" + key).format(county=name),
                "parent": "gov",
                "contacts": channels,
            }
        )

    township_ids: dict[str, str] = {}
    village_ids: dict[tuple[str, str], str] = {}
    for t_index, township in enumerate(county.townships, start=1):
        t_id = f"tw{t_index:02d}"
        township_ids[township.name] = t_id
        channel = "wecom" if t_index % 2 else "dingtalk"
        robots[t_id] = channel
        robot = {"channel": channel, "address": t_id}
        units.append(
            {
                "id": t_id,
                "kind": "township",
                "name": township.name,
                "form": next(f for f in ("街道", "镇", "乡") if township.name.endswith(f)),
                "reference_prefix": township.name.removesuffix("街道")
                .removesuffix("镇")
                .removesuffix("乡")
                + ("办" if township.name.endswith("街道") else "府"),
                "contact_person": "控辍保学专干",
                "contact_phone": f"0856-62{t_index:05d}",
                "parent": "gov",
                "contacts": [_letter(), robot],
            }
        )
        contacts[f"township_head:{township.name}"] = [_letter(), dict(robot)]
        for v_index, village in enumerate(township.villages, start=1):
            v_id = f"{t_id}-v{v_index:02d}"
            village_ids[(township.name, village.name)] = v_id
            units.append(
                {
                    "id": v_id,
                    "kind": "village",
                    "name": village.name,
                    "parent": t_id,
                    "contacts": [_letter()],
                }
            )
            for g_index, group in enumerate(village.groups, start=1):
                units.append(
                    {
                        "id": f"{v_id}-g{g_index:02d}",
                        "kind": "group",
                        "name": f"{group}组",
                        "parent": v_id,
                    }
                )

    villages_of: dict[str, list[str]] = {}
    every_village = list(village_ids.values())
    for township in county.townships:
        for village in township.villages:
            v_id = village_ids[(township.name, village.name)]
            for served_by in (village.primary_school, village.middle_school):
                villages_of.setdefault(served_by, []).append(v_id)
    for s_index, school in enumerate(county.schools, start=1):
        s_id = f"sch{s_index:02d}"
        schools[school.name] = s_id
        serves = villages_of.get(school.name) or (every_village if school.township is None else [])
        channels = [_letter()]
        if s_index % 3 == 1:
            channels.append(_email(f"kcb@{s_id}.{MAIL_DOMAIN}"))
        unit: dict[str, Any] = {
            "id": s_id,
            "kind": "school",
            "name": school.name,
            "parent": township_ids[school.township] if school.township else "bureau",
        }
        if serves:
            unit["serves"] = serves
        unit["contacts"] = channels
        units.append(unit)

    # -- people: the government chain --------------------------------------------------
    def add_person(person_id: str, position: str, unit: str, **more: Any) -> None:
        entry = {"id": person_id, "name": names.person(), "position": position, "unit": unit}
        people.append(entry | more)

    township_list = list(county.townships)
    for index in range(0, len(township_list), 2):
        covered = [township_ids[t.name] for t in township_list[index : index + 2]]
        add_person(f"county-leader{index // 2 + 1}", "county_leader", "gov", covers=covered)
    first_cadre: dict[str, str] = {}
    for township in county.townships:
        t_id = township_ids[township.name]
        add_person(f"{t_id}-head", "township_head", t_id)
        village_list = list(township.villages)
        for index in range(0, len(village_list), 2):
            person_id = f"{t_id}-cadre{index // 2 + 1}"
            first_cadre.setdefault(t_id, person_id)
            covered = [
                village_ids[(township.name, v.name)] for v in village_list[index : index + 2]
            ]
            add_person(person_id, "township_cadre", t_id, covers=covered)
        for village in township.villages:
            v_id = village_ids[(township.name, village.name)]
            groups = [f"{v_id}-g{n:02d}" for n in range(1, len(village.groups) + 1)]
            half = (len(groups) + 1) // 2
            for number, covered in enumerate((groups[:half], groups[half:]), start=1):
                if covered:
                    add_person(f"{v_id}-cadre{number}", "village_cadre", v_id, covers=covered)
            for group_id in groups:
                add_person(f"{group_id}-leader", "group_leader", group_id)

    # -- people: the education chain ---------------------------------------------------
    school_ids = list(schools.values())
    leaders = 3 if len(school_ids) >= 6 else 1
    for number in range(leaders):
        covered = school_ids[number::leaders]
        add_person(f"bureau-leader{number + 1}", "bureau_leader", "bureau", covers=covered)
    classes = _classes(county)
    for school in county.schools:
        s_id = schools[school.name]
        add_person(f"{s_id}-principal", "principal", s_id)
        grades = sorted({g for g, _ in classes.get(school.name, [])}, key=_grade_rank)
        if school.level == "小学" and len(grades) > 3:
            spans: list[list[str]] = [grades[:3], grades[3:]]
        elif school.level == "中学":
            spans = [[g] for g in grades]
        else:
            spans = [[]]  # the whole school
        for number, span in enumerate(spans or [[]], start=1):
            add_person(
                f"{s_id}-leader{number}",
                "school_leader",
                s_id,
                **({"grades": span} if span else {}),
            )
        for grade, class_name in classes.get(school.name, []):
            add_person(
                f"{s_id}-g{_grade_rank(grade) + 1}-c{class_name.removesuffix('班')}",
                "head_teacher",
                s_id,
                **{"grade": grade, "class": class_name},
            )
    for unit_id in department_units.values():
        add_person(f"{unit_id}-officer", "department_officer", unit_id)

    # -- operators ---------------------------------------------------------------------
    bureau_operator = f"{name}教育局控辍办"
    supervisor = f"{name}教育督导室"
    operators.append(
        {
            "name": bureau_operator,
            "os_user": admin_account,
            "roles": ["bureau", "admin"],
            "unit": "bureau",
            "person": "bureau-leader1",
        }
    )
    approver = f"{name}教育局控辍办审核员"
    operators.append(
        {
            "name": approver,
            "os_user": "demo-shenhe",
            "roles": ["bureau"],
            "unit": "bureau",
            "shared_accounts": shared,
        }
    )
    operators.append(
        {
            "name": supervisor,
            "os_user": "demo-dudao",
            "roles": ["supervisor"],
            "unit": "supervision",
            "shared_accounts": shared,
        }
    )
    caseworkers: dict[str, str] = {}
    for township in county.townships:
        t_id = township_ids[township.name]
        operator = f"{township.name}控辍专干"
        caseworkers[township.name] = operator
        operators.append(
            {
                "name": operator,
                "os_user": f"demo-{t_id}",
                "roles": ["caseworker"],
                "unit": t_id,
                "person": first_cadre[t_id],
                "shared_accounts": shared,
            }
        )
    department_operators: dict[str, str] = {}
    for key, unit_id in department_units.items():
        operator = departments[key].partition("（")[0] + "联络员"
        department_operators[key] = operator
        operators.append(
            {
                "name": operator,
                "os_user": f"demo-{unit_id}",
                "roles": ["department"],
                "unit": unit_id,
                "person": f"{unit_id}-officer",
                "shared_accounts": shared,
            }
        )

    lines = [
        f"# {name}: the organisation of the synthetic county `caseflow demo` generated "
        f"(seed {county.seed}).",
        "# Every person, address and robot here is invented. The e-mail and robot channels "
        "point at",
        "# the demo's local capture (caseflow.toml); letters are written to outbox/.",
        "# The account that ran the demo may act for every operator below: caseflow --as NAME.",
        "",
        f"county: {_scalar(name)}",
        "",
        "units:",
        *(f"  - {_flow(unit)}" for unit in units),
        "",
        "people:",
        *(f"  - {_flow(person)}" for person in people),
        "",
        "operators:",
        *(f"  - {_flow(operator)}" for operator in operators),
        "",
        "contacts:",
    ]
    for key, channels in contacts.items():
        lines.append(f"  {_scalar(key)}:")
        lines += [f"    - {_flow(channel)}" for channel in channels]
    lines += ["default:", f"  - {_flow(_letter())}", ""]
    return DemoOrg(
        text="\n".join(lines),
        county=name,
        bureau_operator=bureau_operator,
        approver=approver,
        supervisor=supervisor,
        caseworkers=caseworkers,
        departments=department_operators,
        robots=robots,
        schools=schools,
    )


def _grade_rank(grade: str) -> int:
    order = (*_GRADES, "高一", "高二", "高三")
    return order.index(grade) if grade in order else len(order)


# ---------------------------------------------------------------------------------------
# Who each flagged child is


# Who the demo's suspects really are (shown translated: N_ marks them for the catalog).
KINDS: Mapping[str, str] = {
    "register_error": N_("at school (the register data are wrong)"),
    "studying_elsewhere": N_("studying in another county"),
    "graduated": N_("finished compulsory education"),
    "disabled": N_("disabled, needs a special-education placement"),
    "dropout": N_("out of school (dropout)"),
}
ROUTES: Mapping[str, str] = {
    "verify": "核查销号",
    "household_check": "公安核查户籍后销号",
    "placement": "残联评定、特教安置",
    "persuade": "劝返复学",
    "enrol": "动员入学",
    "relapse": "复学后再次辍学",
    "labour": "转介劳动保障监察",
    "marriage": "转介早婚早育干预",
    "illness": "卫健评估、休学后复学",
    "missing": "失踪失联、公安查找",
    "extend": "延长期限后复学",
    "court": "依法控辍至法院",
}
# The states a slow responsible person may let lapse, by kind.
_SLOW_STATES: Mapping[str, tuple[str, ...]] = {
    "register_error": ("identified", "verifying"),
    "studying_elsewhere": ("identified", "verifying"),
    "graduated": ("verifying",),
    "disabled": ("disability_assessment", "special_education", "returned"),
    "dropout": ("identified", "verifying", "persuasion", "returned"),
}
_DROPOUT_REASONS = ("learning", "migrant_work", "parents_neglect", "family_change", "bullying")


@dataclass(frozen=True)
class Persona:
    """Who a flagged child is and how their case goes (see :func:`plan`)."""

    id_number: str
    kind: str  # one of KINDS
    route: str  # one of ROUTES
    reason: str  # the dropout reason code (confirm_dropout)
    pace: int  # working days each step takes
    attempts: int  # persuasion visits before the child comes back
    slow: frozenset[str]  # states whose deadline the responsible person lets lapse
    lag: int  # calendar days past the due date a lapsed step is taken
    backdate: bool  # records paper forms the working day after
    details: tuple[tuple[str, str], ...]  # what the first visit learns (DetailsUpdate)
    school: str  # where the child returns to, or is placed
    placement: str  # return_to_school / place_special_education placement
    evidence: str  # for a closure
    disability: tuple[int, int] | None  # category 1-7, grade 1-4
    sex: str
    age: int
    # A parent to record as legal guardian before an order, where the guardian the first
    # visit learns of is a grandparent caring for a left-behind child (an entrusted carer).
    parent: tuple[tuple[str, str], ...] = ()


_FATHER_NAMES = ("建国", "建军", "国华", "志强", "德明", "光明", "永福", "海军")


def _parent(child: Child) -> tuple[tuple[str, str], ...]:
    """The father of a child whose guardian on record is not a parent (deterministic)."""
    if child.guardian.relation in ("父亲", "母亲"):
        return ()
    given = random.Random(f"caseflow-demo-parent:{child.id_number}").choice(_FATHER_NAMES)
    return (
        ("name", child.name[0] + given),
        ("relation", "父亲"),
        ("workplace", "外出务工"),
        ("phone", child.guardian.phone),
    )


def _villages(county: County) -> dict[tuple[str, str], Village]:
    return {(t.name, v.name): v for t in county.townships for v in t.villages}


def _designated(child: Child, county: County, age: int) -> tuple[str, str]:
    """The school and grade a child who is not studying should go back to."""
    village = _villages(county).get((child.township, child.village))
    grade = min(max(age - 5, 1), 9)
    if village is None:
        return "", _GRADES[grade - 1]
    school = village.primary_school if grade <= 6 else village.middle_school
    return school, _GRADES[grade - 1]


def _details(child: Child, school: str, grade: str, class_name: str) -> tuple[tuple[str, str], ...]:
    found = [
        ("guardian_name", child.guardian.name),
        ("guardian_relation", child.guardian.relation),
        ("guardian_phone", child.guardian.phone),
    ]
    if child.group:
        found.append(("group", child.group))
    if school:
        found += [("school", school), ("grade", grade), ("class_name", class_name)]
    return tuple(found)


def personas(
    county: County, flagged: Iterable[str], seed: int, reported: Iterable[str] = ()
) -> dict[str, Persona]:
    """Who each flagged child (by resident ID) is, from the planted truth of the county;
    ``reported`` children are in school until their school reports them absent."""
    children = {c.id_number: c for c in county.children}
    rng = random.Random(f"caseflow-demo-personas:{seed}")
    drafts: dict[str, dict[str, Any]] = {}
    absent = frozenset(reported)
    for number in sorted({*flagged, *absent}):
        child = children.get(number)
        if child is None:  # not a child of the county (cannot happen with the truth)
            continue
        age = age_on(child.birth_date, county.reference_date)
        scenario = county.truth.scenarios.get(number)
        enrolment = child.enrolment
        school = enrolment.school if enrolment else ""
        grade = enrolment.grade if enrolment else ""
        class_name = enrolment.class_name if enrolment else ""
        disability = (
            (child.disability.category, child.disability.grade) if child.disability else None
        )
        draft: dict[str, Any] = {
            "kind": "dropout",
            "route": "persuade",
            "reason": rng.choice(_DROPOUT_REASONS),
            "evidence": "",
            "placement": "original_class",
            "disability": disability,
        }
        if disability is not None:
            severe = disability[1] <= 2
            draft.update(kind="disabled", route="placement", reason="disability")
            if scenario == "send_teacher_home" or (severe and disability[0] in (5, 7)):
                draft["placement"] = "home_teaching"
            elif severe or not school:
                draft["placement"] = "special_school"
            else:
                draft["placement"] = "regular_class"
            if draft["placement"] != "regular_class" or not school:
                school = next(s.name for s in county.schools if s.level == "特殊教育学校")
                grade = grade or _GRADES[min(max(age - 5, 1), 9) - 1]
                class_name = class_name or "1班"
        elif scenario in ("transferred_out", "migrant_hollow"):
            draft.update(
                kind="studying_elsewhere",
                route="verify",
                evidence="已转入外县（市）学校就读，取得转入学校出具的在读证明"
                if scenario == "transferred_out"
                else "已随父母返回户籍地就读，取得户籍地学校出具的在读证明",
            )
        elif scenario == "graduated_not_continuing":
            draft.update(
                kind="graduated",
                route="verify",
                evidence="已初中毕业，完成九年义务教育，取得毕业证书复印件",
            )
        elif (
            scenario is None
            and number not in absent
            and enrolment is not None
            and enrolment.status in ("在读", "休学")
        ):
            draft.update(
                kind="register_error",
                route="household_check" if rng.random() < 0.25 else "verify",
                evidence=f"经学校核实该生在{enrolment.school}{enrolment.grade}在读，"
                "上报名册数据有误，已更正",
            )
        else:  # a child out of school: never enrolled, dropped out, hollow enrolment
            if not school or (enrolment is not None and enrolment.status != "在读"):
                school, grade = _designated(child, county, age)
                class_name = "1班"
                draft["placement"] = "other_class"
            if scenario == "boundary_lower_on_reference_date":
                draft.update(route="enrol", reason="parents_neglect")
            elif child.poverty and rng.random() < 0.6:
                draft["reason"] = "poverty"
        slow_pool = _SLOW_STATES[draft["kind"]]
        draft.update(
            pace=rng.choice((1, 1, 2, 2, 3)),
            slow=frozenset({rng.choice(slow_pool)}) if rng.random() < 0.3 else frozenset(),
            lag=rng.randint(4, 12),
            backdate=rng.random() < 0.3,
            details=_details(child, school, grade, class_name),
            parent=_parent(child),
            school=school,
            sex=child.sex,
            age=age,
        )
        draft["attempts"] = rng.randint(1, max(1, 14 // draft["pace"] - 2))
        drafts[number] = draft

    _assign_routes({n: d for n, d in drafts.items() if n not in absent}, rng)
    # One partner department is slow enough for its ladder to reach the county government.
    working = [n for n, d in drafts.items() if d["route"] == "labour"]
    if working:
        drafts[working[0]].update(slow=frozenset({"labour_inspection"}), lag=15)
    return {
        number: Persona(
            id_number=number,
            kind=d["kind"],
            route=d["route"],
            reason=d["reason"],
            pace=d["pace"],
            attempts=d["attempts"],
            slow=d["slow"],
            lag=d["lag"],
            backdate=d["backdate"],
            details=d["details"],
            school=d["school"],
            placement=d["placement"],
            evidence=d["evidence"],
            disability=d["disability"],
            sex=d["sex"],
            age=d["age"],
            parent=d["parent"],
        )
        for number, d in drafts.items()
    }


def _assign_routes(drafts: Mapping[str, dict[str, Any]], rng: random.Random) -> None:
    """Give the dropouts found at the start their side routes: a few of each, at least
    one where possible (a child reported absent later just needs persuading)."""
    free = [n for n, d in drafts.items() if d["kind"] == "dropout" and d["route"] == "persuade"]
    total = len(free)

    def take(route: str, rate: float, eligible: Any = None, **changes: Any) -> None:
        pool = [n for n in free if eligible is None or eligible(drafts[n])]
        for number in rng.sample(pool, min(len(pool), max(1, round(rate * total)))):
            drafts[number].update(route=route, **changes)
            free.remove(number)

    take("court", 0.06, lambda d: d["age"] >= 11, reason="parents_neglect", slow=frozenset())
    take("relapse", 0.08, slow=frozenset())
    take("labour", 0.1, lambda d: d["age"] >= 14, reason="migrant_work")
    take("marriage", 0.03, lambda d: d["age"] >= 14 and d["sex"] == "女", reason="early_marriage")
    take("illness", 0.03, reason="illness", slow=frozenset())
    take("missing", 0.03, reason="migrant_work", slow=frozenset())
    take("extend", 0.03, slow=frozenset())


@dataclass(frozen=True)
class SchoolReport:
    """A school reports a child absent for days without reason (a case with source
    ``school``) on ``day``; ``since`` is the first day missed."""

    day: date
    since: date
    id_number: str


def school_reports(
    county: County,
    flagged: Iterable[str],
    seed: int,
    *,
    start: date,
    days: int,
    calendar: WorkCalendar,
) -> list[SchoolReport]:
    """Children in school at the start who stop coming during the term: about one a
    fortnight for a county of 3000 children, reported on working days (the latest are
    still being worked when the demo ends)."""
    rng = random.Random(f"caseflow-demo-reports:{seed}")
    low, high = county.age_band
    skip = frozenset(flagged)
    pool = [
        c.id_number
        for c in county.children
        if c.scenario is None
        and c.resident
        and c.id_number not in skip
        and c.enrolment is not None
        and c.enrolment.status == "在读"
        and c.enrolment.grade in _GRADES
        and c.presence is not None
        and low <= age_on(c.birth_date, county.reference_date) <= high
    ]
    count = min(len(pool), round(len(county.children) * days / 45_000))
    window = [
        start + timedelta(days=n)
        for n in range(5, max(6, days - 2))
        if calendar.is_working_day(start + timedelta(days=n))
    ]
    if not window:
        return []
    reports = []
    for number in rng.sample(sorted(pool), count):
        day = rng.choice(window)
        since = day - timedelta(days=rng.randint(3, 5))
        reports.append(SchoolReport(day, since, number))
    return sorted(reports, key=lambda r: (r.day, r.id_number))


# ---------------------------------------------------------------------------------------
# The casework policy


@dataclass(frozen=True)
class CaseView:
    """What a caseworker knows of a case when deciding what to do today."""

    number: int
    state: str
    entered_on: date
    due_on: date | None
    last_event_on: date
    counters: Mapping[str, int]
    done: frozenset[str]  # triggers recorded in the case's facts (with their values)
    repeat_count: int
    extended_days: int
    guardian_known: bool


@dataclass(frozen=True)
class Step:
    """One thing someone does to a case: ``actor`` is ``caseworker`` (the case's township
    caseworker, or the bureau where the township is unknown), ``bureau``, ``approver`` (a
    second bureau operator) or ``department:<key>``; ``kind`` is advance, note, update,
    extend (a request), approve_extension or document."""

    actor: str
    kind: str
    occurred_on: date
    trigger: str = ""
    values: tuple[tuple[str, str], ...] = ()
    text: str = ""
    method: str = "visit"
    days: int = 0


_NOTES: Mapping[str, tuple[str, ...]] = {
    "visit": (
        "入户走访，向监护人宣传《义务教育法》，监护人态度有所松动，答应与孩子沟通",
        "会同村干部、班主任入户劝返，孩子表示学习跟不上，不愿返校",
        "入户走访，监护人外出务工，与祖父母面谈，讲解“两免一补”和营养改善计划",
        "联合包村干部入户，孩子同意下周一随班主任到校试读",
    ),
    "phone": (
        "电话联系在外务工的监护人，告知适龄子女必须接受义务教育的法定义务",
        "电话回访监护人，监护人表示将于近期送孩子返校",
    ),
    "wechat": ("通过微信向监护人发送劝返复学政策解读，监护人已读并回复愿意配合",),
    "letter": ("向监护人寄送《致家长的一封信》和劝返复学通知书",),
}
_NOTE_METHODS = ("visit", "phone", "visit", "wechat", "visit", "letter")


def _rng(persona: Persona, case: CaseView, today: date) -> random.Random:
    return random.Random(f"{persona.id_number}:{case.number}:{today.isoformat()}")


def _previous_working_day(day: date, calendar: WorkCalendar) -> date:
    day -= timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


_EXPERT_OPINIONS: Mapping[str, str] = {
    "regular_class": "肢体功能轻度受限，认知正常，可随班就读，学校提供无障碍支持",
    "special_school": "听力障碍，建议进入特殊教育学校就读，配合听觉言语康复",
    "home_teaching": "重度多重残疾，不能到校就读，建议送教上门并纳入学籍管理",
}


def _document_number(prefix: str, number: int, year: int) -> str:
    return f"印教{prefix}〔{year}〕{number}号"


@dataclass(frozen=True)
class DepartmentReply:
    """How a partner department answers a case handed to it, after ``paces`` times the
    persona's pace: the transition back, and what it reports."""

    paces: int
    trigger: str
    department: str
    field: str
    text: str


DEPARTMENT_REPLIES: dict[str, DepartmentReply] = {
    "household_check": DepartmentReply(
        2,
        "household_check_done",
        "public_security",
        "finding",
        "经户籍系统核查，该生户籍信息无误，无重复登记；已协助学校核实在读情况",
    ),
    "missing": DepartmentReply(
        5,
        "located",
        "public_security",
        "whereabouts",
        "已查明随父母在浙江省宁波市务工，已联系监护人",
    ),
    "labour_inspection": DepartmentReply(
        3,
        "labour_inspection_done",
        "labour_inspection",
        "finding",
        "已责令用工单位清退童工并依法处罚，该童已由监护人接回",
    ),
    "early_marriage": DepartmentReply(
        3,
        "early_marriage_done",
        "civil_affairs",
        "finding",
        "民政、妇联、团县委联合入户，双方家庭已解除婚约，同意送孩子返校",
    ),
}


def plan(persona: Persona, case: CaseView, today: date, calendar: WorkCalendar) -> list[Step]:
    """What the people responsible do about ``case`` on the working day ``today``.

    A step is taken once its state has lasted ``persona.pace`` working days (more for
    department replies and visits), or, in a state the persona lets lapse, a few days
    after its deadline, so that the escalation ladder fires. Everything is a function of
    the arguments: the same case on the same day gets the same steps."""
    rng = _rng(persona, case, today)
    day = today
    if persona.backdate and case.last_event_on < today:
        day = max(case.last_event_on, _previous_working_day(today, calendar))
    waited = calendar.working_days_between(case.entered_on, today)
    due_passed = case.due_on is not None and today >= case.due_on + timedelta(days=persona.lag)

    def ready(steps: int) -> bool:
        if case.state in persona.slow and case.due_on is not None:
            return due_passed
        return waited >= steps

    def advance(trigger: str, actor: str = "caseworker", **values: str) -> Step:
        return Step(actor, "advance", day, trigger=trigger, values=tuple(values.items()))

    p = persona
    state = case.state
    if state == "identified" and ready(p.pace):
        return [Step("caseworker", "update", day, values=p.details), advance("start_verification")]
    if state == "verifying" and ready(p.pace):
        return _verify(p, case, advance)
    reply = DEPARTMENT_REPLIES.get(state)
    if reply is not None and ready(reply.paces * p.pace):
        return [
            advance(reply.trigger, f"department:{reply.department}", **{reply.field: reply.text})
        ]
    if state == "health_assessment" and ready(2 * p.pace):
        until = today + timedelta(days=42)
        return [
            Step(
                "department:health",
                "note",
                day,
                text="医学评估：患病需住院治疗约六周，建议办理休学，康复后复学",
                method="other",
            ),
            advance(
                "defer",
                "bureau",
                reason="illness",
                until=until.isoformat(),
                approval=_document_number("休", case.number, today.year),
            ),
        ]
    if state == "disability_assessment":
        if not case.guardian_known:
            return [
                Step("bureau", "update", today, values=p.details),
                Step("bureau", "document", today, text="referral_letter"),
            ]
        if ready(4 * p.pace):
            category, grade = p.disability or (5, 3)
            return [
                advance(
                    "disability_confirmed",
                    "department:disability_federation",
                    category=str(category),
                    grade=str(grade),
                )
            ]
        return []
    if state == "expert_assessment" and ready(2 * p.pace):
        return [
            advance(
                "expert_opinion",
                "bureau",
                opinion=p.placement,
                assessed_on=day.isoformat(),
                summary=_EXPERT_OPINIONS[p.placement],
            )
        ]
    if state == "special_education" and ready(2 * p.pace):
        if p.placement == "home_teaching":
            return [
                advance("start_home_teaching", "bureau", school=p.school, teachers="送教教师两名")
            ]
        return [
            advance("place_special_education", "bureau", placement=p.placement, school=p.school)
        ]
    if state == "home_teaching" and ready(5) and (today - case.last_event_on).days >= 7:
        return [
            advance(
                "record_visit",
                "school",
                visited_on=day.isoformat(),
                teachers="特教教师、学籍学校教师",
                periods="2",
                content="生活适应与康复训练、语文识字",
                guardian_signed="signed",
            )
        ]
    if state == "closure_proposed" and ready(1):
        return [advance("approve_closure", "approver")]
    if state == "persuasion":
        return _persuade(
            p,
            case=case,
            today=today,
            day=day,
            waited=waited,
            due_passed=due_passed,
            rng=rng,
            advance=advance,
        )
    if state == "order_issued" and ready(2):
        return [
            advance(
                "order_served",
                served_on=day.isoformat(),
                method="direct",
                served_to="全体法定监护人",
            )
        ]
    if state == "order_to_correct" and case.due_on is not None and day > case.due_on:
        return [advance("request_admonition", "bureau", body="县人民法院")]
    if state == "admonition" and (today - case.entered_on).days >= 30 + 5 * p.pace:
        return [advance("return_to_school", placement=p.placement, school=p.school)]
    if state == "returned":
        return _follow_up(p, case, today=today, day=day, due_passed=due_passed, advance=advance)
    return []


def _verify(p: Persona, case: CaseView, advance: Any) -> list[Step]:
    if p.kind == "register_error":
        if p.route == "household_check" and "request_household_check" not in case.done:
            return [
                advance(
                    "request_household_check",
                    request="核实该生户籍信息是否准确、是否存在重复登记或空挂户",
                )
            ]
        return [advance("propose_closure", reason="register_error", evidence=p.evidence)]
    if p.kind == "studying_elsewhere":
        return [advance("propose_closure", reason="studying_elsewhere", evidence=p.evidence)]
    if p.kind == "graduated":
        return [advance("propose_closure", reason="completed", evidence=p.evidence)]
    if p.kind == "disabled":
        return [advance("refer_disability_assessment")]
    if p.route == "illness" and "defer" not in case.done:
        return [advance("refer_health")]
    if p.route == "missing" and "report_missing" not in case.done:
        last_seen = (case.entered_on - timedelta(days=75)).isoformat()
        return [advance("report_missing", last_seen=last_seen)]
    return [advance("confirm_dropout", reason=p.reason)]


def _persuade(
    p: Persona,
    *,
    case: CaseView,
    today: date,
    day: date,
    waited: int,
    due_passed: bool,
    rng: random.Random,
    advance: Any,
) -> list[Step]:
    steps: list[Step] = []
    visit, left = divmod(waited, p.pace)
    if left == 0 and 1 <= visit <= p.attempts + 2:
        method = _NOTE_METHODS[(visit - 1 + case.repeat_count) % len(_NOTE_METHODS)]
        steps.append(
            Step("caseworker", "note", day, text=rng.choice(_NOTES[method]), method=method)
        )
        if visit == 1:
            steps.append(Step("caseworker", "document", day, text="persuasion_notice"))
            if p.route == "labour" and "refer_labour_inspection" not in case.done:
                steps.append(
                    advance(
                        "refer_labour_inspection",
                        employer="浙江省宁波市某电子厂",
                        place="浙江省宁波市北仑区",
                        found="据监护人提供，该童在此打工",
                    )
                )
                return steps
            if p.route == "marriage" and "refer_early_marriage" not in case.done:
                steps.append(advance("refer_early_marriage"))
                return steps
    finished = waited >= p.pace * (p.attempts + 1)
    if "persuasion" in p.slow:
        finished = due_passed
    if p.route == "extend" and case.due_on is not None:
        to_due = (case.due_on - today).days
        if case.extended_days == 0:
            if to_due <= 2:  # the caseworker asks, the bureau approves the same day
                steps.append(
                    Step(
                        "caseworker",
                        "extend",
                        day,
                        days=10,
                        text="监护人外出务工，约定返乡后面谈并送孩子返校",
                    )
                )
                steps.append(Step("bureau", "approve_extension", day))
            return steps
        finished = to_due <= 3
    if not finished:
        return steps
    if p.route == "court" and "issue_order" not in case.done:
        if p.parent:  # the order goes to the legal guardian, not the grandparent caring
            steps.append(Step("caseworker", "guardian", day, values=p.parent))
        number = _document_number("责改", case.number, today.year)
        steps.append(advance("issue_order", document_number=number))
        return steps
    steps.append(advance("return_to_school", placement=p.placement, school=p.school))
    return steps


def _follow_up(
    p: Persona, case: CaseView, *, today: date, day: date, due_passed: bool, advance: Any
) -> list[Step]:
    """Check-ins after the return; the sweep retains the case after the third once the
    period runs out. A relapsing child is at risk at the first and leaves again."""
    if case.due_on is None:
        return []
    check_ins = case.counters.get("check_in", 0)
    since = (today - case.last_event_on).days
    interval = 14 + 2 * p.pace
    if p.route == "relapse" and case.repeat_count == 0:
        if case.last_event_on == case.entered_on and since >= interval:
            return [
                advance(
                    "check_in",
                    attending="at_risk",
                    note="复学后连续缺课，家长称孩子又想外出打工",
                )
            ]
        if case.last_event_on > case.entered_on and since >= 4:
            absent = max(case.entered_on, today - timedelta(days=3))
            return [advance("relapse", absent_since=absent.isoformat())]
        return []
    if check_ins >= 3:
        return []
    if "returned" in p.slow:
        if not due_passed:
            return []
    elif since < interval:
        return []
    return [advance("check_in", attending="steady", note="回访：按时到校，学习状态稳定")]


# ---------------------------------------------------------------------------------------
# Reading the outcome


def interesting_cases(routes: Mapping[int, str], repeats: Mapping[int, int]) -> dict[str, int]:
    """A case worth opening for each story: the relapse, the court route, a handoff..."""
    found: dict[str, int] = {}
    for number in sorted(routes):
        route = routes[number]
        if route == "relapse" and repeats.get(number, 0) and "relapse" not in found:
            found["relapse"] = number
        elif route == "court" and "court" not in found:
            found["court"] = number
        elif route in ("labour", "marriage", "illness", "missing", "placement"):
            found.setdefault(route, number)
    return found
