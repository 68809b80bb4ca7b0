"""The four ledgers (四台账: county, township, village, school): what one row says about
one case on a given day. Pure: the service reads the case, its latest note and, for a
day in the past, its history; this module turns them into the row.

Days overdue count in the unit of the state's deadline: working days (per the working-day
calendar) for a deadline in working days, calendar days otherwise; 0 when the case is not
overdue. The responsible people are the case's 包保 chain: the government chain (county
leader to group leader) in township and village ledgers, the education chain (bureau
leader to subject teacher) in school ledgers, both in the county ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from caseflow.calendar import WorkCalendar
from caseflow.dates import spoken
from caseflow.errors import InvalidInput
from caseflow.exports import Cell, Column
from caseflow.i18n import _
from caseflow.org import CHAIN_ROLES, EDUCATION_CHAIN, GOVERNMENT_CHAIN
from caseflow.states import FieldSpec, Workflow

LEVELS: tuple[str, ...] = ("county", "township", "village", "school")
CHAINS: Mapping[str, tuple[str, ...]] = {
    "county": CHAIN_ROLES,
    "township": GOVERNMENT_CHAIN,
    "village": GOVERNMENT_CHAIN,
    "school": EDUCATION_CHAIN,
}

# The kinds of case ledger (a register ledger, the 文化户口台账, is ``CULTURAL``): each
# holds the cases whose state (on the ledger's day) is in its categories (None: every
# case), and is asked for by its code or its Chinese name.
KINDS: Mapping[str, tuple[str, tuple[str, ...] | None]] = {
    "work": ("控辍保学工作台账", None),
    "suspected": ("疑似失学辍学儿童少年台账", ("suspected", "verifying")),
    "returned": ("劝返复学台账", ("monitoring", "retained")),
}
CULTURAL = "cultural"
KIND_NAMES: Mapping[str, str] = {
    **{code: name for code, (name, _c) in KINDS.items()},
    CULTURAL: "文化户口台账",
}
# Short names a person may type, beside the codes and the full names.
KIND_ALIASES: Mapping[str, str] = {
    "工作台账": "work",
    "控辍保学": "work",
    "疑似": "suspected",
    "疑似失学辍学": "suspected",
    "劝返复学": "returned",
    "劝返": "returned",
    "文化户口": CULTURAL,
}
UNPLACED_TITLE = "地址待核实案件台账"

# The categories in which a note on the case is a persuasion attempt (劝返次数).
PERSUADING: frozenset[str] = frozenset({"persuasion", "legal", "referred"})

COLUMNS: tuple[Column, ...] = (
    Column("row", "序号", "int", 4),
    Column("name", "姓名", "text", 6),
    Column("sex", "性别", "text", 4),
    Column("birth", "出生日期", "text", 10),
    Column("ethnicity", "民族", "text", 4),
    Column("id_number", "身份证号", "text", 18),
    Column("student_number", "学籍号", "text", 19),
    Column("township", "乡镇", "text", 6),
    Column("village", "村", "text", 6),
    Column("school", "学校", "text", 10),
    Column("grade_class", "年级班级", "text", 6),
    Column("guardian", "监护人及联系电话", "text", 12),
    Column("groups", "特殊群体", "text", 6),
    Column("number", "案件编号", "int", 4),
    Column("state_label", "当前状态", "text", 8),
    Column("reasons", "辍学原因", "text", 8),
    Column("left_on", "离校日期", "date", 10),
    Column("whereabouts", "去向", "text", 8),
    Column("responsible", "包保责任人", "text", 14),
    Column("opened_on", "发现日期", "date", 10),
    Column("days_in_state", "在当前状态天数", "int", 4),
    Column("due_on", "办理期限", "date", 10),
    Column("days_overdue", "逾期天数", "int", 4),
    Column("persuasions", "劝返次数", "int", 4),
    Column("last_note_on", "最近劝返日期", "date", 10),
    Column("last_note_method", "劝返方式", "text", 4),
    Column("returned_on", "复学日期", "date", 10),
    Column("return_school", "复学学校", "text", 10),
    Column("placement", "安置方式", "text", 6),
    Column("disability", "残疾类别等级", "text", 6),
    Column("outcome", "办理结果", "text", 8),
    Column("closure_reason", "销号原因", "text", 12),
    Column("closed_on", "办结日期", "date", 10),
    Column("remarks", "备注", "text", 10),
    Column("workflow_version", "流程版本", "int", 4),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)
_POSITION: Mapping[str, int] = {key: i for i, key in enumerate(COLUMN_KEYS)}
# What each kind of case ledger leaves out: the 疑似 ledger has nothing returned or closed
# yet to say, the 劝返复学 ledger no running deadline of a dropout.
_LEFT_OUT: Mapping[str, frozenset[str]] = {
    "work": frozenset(),
    "suspected": frozenset(
        {"returned_on", "return_school", "placement", "persuasions", "closed_on"}
    ),
    "returned": frozenset({"days_overdue", "due_on", "days_in_state"}),
}
# The terminal shows these; the file has them all.
KEY_COLUMNS: frozenset[str] = frozenset(
    {
        "row",
        "name",
        "id_number",
        "township",
        "village",
        "school",
        "number",
        "state_label",
        "due_on",
        "days_overdue",
        "outcome",
    }
)


@lru_cache(maxsize=8)
def kind_columns(kind: str) -> tuple[Column, ...]:
    return tuple(c for c in COLUMNS if c.key not in _LEFT_OUT[kind])


def find_kind(asked: str | None) -> str:
    """The kind's code from its code, full name or short name; else ``InvalidInput``
    listing the choices."""
    if asked is None or not asked.strip():
        return "work"
    text = asked.strip()
    if text in KIND_NAMES:
        return text
    found = KIND_ALIASES.get(text) or next(
        (code for code, name in KIND_NAMES.items() if name == text), None
    )
    if found is None:
        choices = _(", ").join(
            _("{value} ({label})").format(value=code, label=name.removesuffix("台账"))
            for code, name in KIND_NAMES.items()
        )
        raise InvalidInput(
            _("there is no ledger of the kind '{kind}'; --kind may be: {choices}").format(
                kind=text, choices=choices
            )
        )
    return found


@dataclass(slots=True)
class CaseFacts:
    """What the service read about one case, as it stood on the ledger's day."""

    number: int
    name: str
    masked_id: str
    township: str
    village: str
    school: str | None
    state: str
    entered_on: date
    is_open: bool
    opened_on: date
    due_on: date | None
    due_provisional: bool
    reasons: tuple[str, ...]  # labels (``reason_labels``)
    responsible: tuple[str, ...]  # labels (``responsible_people``)
    close_reason: str | None = None  # the code given when it was closed as not a dropout
    last_note_on: date | None = None
    last_note_method: str | None = None  # its label, e.g. 入户走访
    sex: str | None = None
    birth: str | None = None  # as the reader may see it (``birth_shown``)
    ethnicity: str | None = None
    student_number: str | None = None  # masked unless revealed
    grade_class: str | None = None
    guardian: str | None = None  # e.g. 田某某（父亲）138****5678
    # The child's special groups (残疾, 留守 ...), as labels; read from the child once
    # the groups are recorded there.
    groups: tuple[str, ...] = ()
    persuasions: int = 0  # notes made while the family was being persuaded
    recorded: StepValues | None = None  # what the workflow's steps recorded
    returned_on: date | None = None  # the day it last entered a monitoring state


@dataclass(slots=True)
class LedgerRow:
    number: int
    name: str
    id_number: str  # masked
    township: str
    village: str
    school: str | None
    state: str
    state_label: str
    reasons: tuple[str, ...]  # Chinese labels
    responsible: tuple[str, ...]  # e.g. 包村乡镇干部李春燕
    opened_on: date
    days_in_state: int | None  # None once closed: see closed_on
    due_on: date | None
    due_provisional: bool
    days_overdue: int
    days_unit: str | None  # working_days | days, when a deadline runs
    last_note_on: date | None
    last_note_method: str | None
    outcome: str
    workflow_version: int  # the version of the workflow the case ran on that day
    sex: str | None = None
    birth: str | None = None
    ethnicity: str | None = None
    student_number: str | None = None
    grade_class: str | None = None
    guardian: str | None = None
    groups: tuple[str, ...] = ()
    left_on: date | None = None
    whereabouts: str | None = None
    persuasions: int = 0
    returned_on: date | None = None
    return_school: str | None = None
    placement: str | None = None
    disability: str | None = None
    closure_reason: str | None = None
    closed_on: date | None = None

    @property
    def remarks(self) -> str:
        notes = []
        if self.days_overdue and self.days_unit == "working_days":
            notes.append("逾期按工作日计")
        if self.due_provisional:
            notes.append("期限暂定（当年节假日安排未公布）")
        return "；".join(notes)

    def cells(self, index: int, keys: Sequence[str] = COLUMN_KEYS) -> tuple[Cell, ...]:
        """The cells of the columns with these keys (``COLUMNS`` keys), in their order."""
        every = (
            index,
            self.name,
            self.sex or "",
            self.birth or "",
            self.ethnicity or "",
            self.id_number,
            self.student_number or "",
            self.township,
            self.village,
            self.school or "",
            self.grade_class or "",
            self.guardian or "",
            "、".join(self.groups),
            self.number,
            self.state_label,
            "、".join(self.reasons),
            self.left_on,
            self.whereabouts or "",
            "、".join(self.responsible),
            self.opened_on,
            self.days_in_state,
            self.due_on,
            self.days_overdue or None,
            self.persuasions,
            self.last_note_on,
            self.last_note_method or "",
            self.returned_on,
            self.return_school or "",
            self.placement or "",
            self.disability or "",
            self.outcome,
            self.closure_reason or "",
            self.closed_on,
            self.remarks,
            self.workflow_version,
        )
        if keys is COLUMN_KEYS:
            return every
        return tuple(every[_POSITION[key]] for key in keys)

    def as_json(self) -> dict[str, Any]:
        def day(value: date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "number": self.number,
            "name": self.name,
            "sex": self.sex,
            "birth": self.birth,
            "ethnicity": self.ethnicity,
            "id_number": self.id_number,
            "student_number": self.student_number,
            "township": self.township,
            "village": self.village,
            "school": self.school,
            "grade_class": self.grade_class,
            "guardian": self.guardian,
            "groups": list(self.groups),
            "state": self.state,
            "state_label": self.state_label,
            "reasons": list(self.reasons),
            "left_on": day(self.left_on),
            "whereabouts": self.whereabouts,
            "responsible": list(self.responsible),
            "opened_on": self.opened_on.isoformat(),
            "days_in_state": self.days_in_state,
            "due_on": day(self.due_on),
            "due_provisional": self.due_provisional,
            "days_overdue": self.days_overdue,
            "days_unit": self.days_unit,
            "persuasions": self.persuasions,
            "last_note_on": day(self.last_note_on),
            "last_note_method": self.last_note_method,
            "returned_on": day(self.returned_on),
            "return_school": self.return_school,
            "placement": self.placement,
            "disability": self.disability,
            "outcome": self.outcome,
            "closure_reason": self.closure_reason,
            "closed_on": day(self.closed_on),
            "workflow_version": self.workflow_version,
        }


def reason_labels(
    labels: Mapping[str, str], codes: Sequence[str], confirmed: str | None = None
) -> tuple[str, ...]:
    """The reasons recorded when the case was opened and the one given when the dropout
    was confirmed, as Chinese labels (``labels``: the workflow's dropout reasons), each
    once."""
    found = [*codes, confirmed] if confirmed else codes
    return tuple(dict.fromkeys(labels.get(code, code) for code in found))


@dataclass(frozen=True)
class RecordedReasons:
    """Where a workflow's cases record, in their facts (trigger -> values), the reason a
    dropout was confirmed and why a case was closed: the fields whose choices are the
    workflow's ``dropout_reasons`` and ``closure_reasons``."""

    confirmed: tuple[tuple[str, str], ...]
    closed: tuple[tuple[str, str], ...]

    @property
    def triggers(self) -> frozenset[str]:
        return frozenset(trigger for trigger, _field in self.confirmed + self.closed)

    @cached_property
    def quoted(self) -> tuple[str, ...]:
        """The triggers as their facts' JSON writes them (a quick look before parsing)."""
        return tuple(f'"{t}"' for t in sorted(self.triggers))

    def read(self, facts: Any, *, is_open: bool) -> tuple[str | None, str | None]:
        """(the confirmed dropout reason, the closure reason when closed)."""
        confirmed = _first_value(facts, self.confirmed)
        return confirmed, None if is_open else _first_value(facts, self.closed)


@lru_cache(maxsize=64)
def recorded_reasons(workflow: Workflow) -> RecordedReasons:
    return RecordedReasons(
        workflow.fields_choosing("dropout_reasons"), workflow.fields_choosing("closure_reasons")
    )


def _first_value(facts: Any, where: tuple[tuple[str, str], ...]) -> str | None:
    for trigger, name in where:
        values = facts.get(trigger) if isinstance(facts, dict) else None
        value = values.get(name) if isinstance(values, dict) else None
        if value:
            return str(value)
    return None


def responsible_people(
    chain: Mapping[str, str], roles: Sequence[str], person_label: Callable[[str], str]
) -> tuple[str, ...]:
    """The people of the chain's ``roles`` (``CHAINS`` of the ledger's level), in order."""
    return tuple(person_label(chain[role]) for role in roles if chain.get(role))


# The workflow's field names whose recorded values the ledger shows (the latest value any
# step recorded, a choice by its label): the day the child left school, where the child
# is, the school it returned to (a step into a monitoring state only), how it was placed
# (the expert committee's recommendation until a placement is recorded), and the
# disability's category and grade (choices only).
STEP_FIELDS: Mapping[str, tuple[str, ...]] = {
    "left_on": ("absent_since",),
    "whereabouts": ("whereabouts", "receiving_county"),
    "return_school": ("school",),
    "placement": ("opinion", "placement"),
    "disability_category": ("category",),
    "disability_grade": ("grade",),
}
_INTO_MONITORING_ONLY = frozenset({"return_school"})
_CHOICES_ONLY = frozenset({"disability_category", "disability_grade"})


@dataclass(frozen=True)
class StepValues:
    """What the steps of one case recorded that the ledger shows (``STEP_FIELDS`` keys),
    as printed: a choice by its label, a date as a date."""

    values: Mapping[str, Any]

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        return None if value is None else str(value)

    def day(self, key: str) -> date | None:
        value = self.values.get(key)
        return value if isinstance(value, date) else None


@dataclass(frozen=True)
class StepFields:
    """Where a workflow's steps record the values of ``STEP_FIELDS``: trigger -> the
    (ledger key, field) pairs that trigger records."""

    by_trigger: Mapping[str, tuple[tuple[str, FieldSpec], ...]]
    # The triggers that bring a case back to school (into a monitoring state).
    returning: frozenset[str]

    @property
    def triggers(self) -> frozenset[str]:
        return frozenset(self.by_trigger) | self.returning

    @cached_property
    def quoted(self) -> tuple[str, ...]:
        """The triggers as their facts' JSON writes them (a quick look before parsing)."""
        return tuple(f'"{t}"' for t in sorted(self.triggers))

    def read(self, facts: Mapping[str, Any]) -> StepValues:
        """The latest value of each key in ``facts`` (trigger -> its last values, the
        most recently fired trigger last)."""
        found: dict[str, Any] = {}
        for trigger, values in facts.items():
            wanted = self.by_trigger.get(trigger)
            if not wanted or not isinstance(values, Mapping):
                continue
            for key, spec in wanted:
                value = values.get(spec.name)
                if value not in (None, ""):
                    try:
                        found[key] = spec.printed(value)
                    except ValueError:  # a date that is not one: shown as written
                        found[key] = str(value)
        return StepValues(found)


@lru_cache(maxsize=64)
def step_fields(workflow: Workflow) -> StepFields:
    by_trigger: dict[str, list[tuple[str, FieldSpec]]] = {}
    returning = set()
    for transition in workflow.transitions:
        into = workflow.category_of(transition.dest) if transition.dest else None
        if into == "monitoring":
            returning.add(transition.trigger)
        for key, names in STEP_FIELDS.items():
            if key in _INTO_MONITORING_ONLY and into != "monitoring":
                continue
            for name in names:
                spec = transition.field(name)
                if spec is None or (key in _CHOICES_ONLY and spec.type != "choice"):
                    continue
                by_trigger.setdefault(transition.trigger, []).append((key, spec))
    return StepFields(
        {trigger: tuple(pairs) for trigger, pairs in by_trigger.items()}, frozenset(returning)
    )


def returned_on(
    workflow: Workflow, moves: Sequence[tuple[date | None, str, str]], until: date
) -> date | None:
    """The last day on or before ``until`` the case came back to school: entered a
    monitoring state from another category (``moves``: day, from, to; oldest first)."""
    found = None
    for day, source, dest in moves:
        if day is not None and day > until:
            break
        if day is not None and workflow.category_entered(source, dest) == "monitoring":
            found = day
    return found


def disability_label(recorded: StepValues | None, registered: str | None) -> str | None:
    """残疾类别等级 as the disability federation's confirmation recorded it (e.g.
    肢体残疾 二级), else as the disability register gave it (e.g. 肢体 二级)."""
    if recorded is not None:
        parts = [recorded.text("disability_category"), recorded.text("disability_grade")]
        shown = " ".join(p for p in parts if p)
        if shown:
            return shown
    return registered or None


def outcome(workflow: Workflow, case: CaseFacts, category: str | None) -> str:
    """在办 (with the closure awaiting approval, if one is), 已复学（巩固中）,
    已复学（已巩固）, or 已销号 (the reason in its own column, ``closure_reason``);
    ``category``: the case's state's."""
    if category == "monitoring":
        return "已复学（巩固中）"
    if category == "retained":
        return "已复学（已巩固）"
    state = workflow.states.get(case.state) if category == "closing" else None
    if state is not None:
        return f"在办（{state.label}）"
    if case.is_open:
        return "在办"
    return "已销号"


def closure_reason(workflow: Workflow, case: CaseFacts, category: str | None) -> str | None:
    """Why a closed case was closed: the reason given (its label), else the label of the
    state it ended in; None while open or when it was retained."""
    if case.is_open or category == "retained":
        return None
    if case.close_reason:
        return workflow.closure_reasons.get(case.close_reason, case.close_reason)
    state = workflow.states.get(case.state)
    return state.label if state is not None else None


def days_overdue(
    workflow: Workflow, case: CaseFacts, as_of: date, calendar: WorkCalendar
) -> tuple[int, str | None]:
    """How long past its due date the case is on ``as_of``, and in which unit."""
    if not case.is_open or case.due_on is None:
        return 0, None
    state = workflow.states.get(case.state)
    unit = state.deadline.unit if state is not None and state.deadline else "days"
    if case.due_on >= as_of:
        return 0, unit
    if unit == "working_days":
        return calendar.working_days_between(case.due_on, as_of), unit
    return (as_of - case.due_on).days, unit


def ledger_row(
    case: CaseFacts,
    workflow: Workflow,
    *,
    as_of: date,
    calendar: WorkCalendar,
    registered_disability: str | None = None,
) -> LedgerRow:
    state = workflow.states.get(case.state)
    overdue, unit = days_overdue(workflow, case, as_of, calendar)
    recorded = case.recorded
    category = workflow.category_of(case.state)
    monitoring = category in ("monitoring", "retained")
    returned = case.returned_on
    if returned is None and category == "monitoring":
        returned = case.entered_on  # came back on the day it entered the state
    return LedgerRow(
        number=case.number,
        name=case.name,
        id_number=case.masked_id,
        township=case.township,
        village=case.village,
        school=case.school,
        state=case.state,
        state_label=state.label if state is not None else case.state,
        reasons=case.reasons,
        responsible=case.responsible,
        opened_on=case.opened_on,
        days_in_state=max(0, (as_of - case.entered_on).days) if case.is_open else None,
        due_on=case.due_on if case.is_open else None,
        due_provisional=bool(case.is_open and case.due_provisional),
        days_overdue=overdue,
        days_unit=unit,
        last_note_on=case.last_note_on,
        last_note_method=case.last_note_method,
        outcome=outcome(workflow, case, category),
        workflow_version=workflow.version,
        sex=case.sex,
        birth=case.birth,
        ethnicity=case.ethnicity,
        student_number=case.student_number,
        grade_class=case.grade_class,
        guardian=case.guardian,
        groups=case.groups,
        left_on=recorded.day("left_on") if recorded else None,
        whereabouts=recorded.text("whereabouts") if recorded else None,
        persuasions=case.persuasions,
        returned_on=returned if monitoring or not case.is_open else None,
        return_school=recorded.text("return_school") if recorded and returned else None,
        placement=recorded.text("placement") if recorded else None,
        disability=disability_label(recorded, registered_disability),
        closure_reason=closure_reason(workflow, case, category),
        closed_on=None if case.is_open else case.entered_on,
    )


def title(county: str, place: str, as_of: date, kind: str = "work") -> str:
    """E.g. 示范县天堂镇控辍保学工作台账（截至2026年11月29日）."""
    return f"{county}{place}{KIND_NAMES.get(kind, kind)}（截至{spoken(as_of)}）"


def header(unit: str, as_of: date, made_on: date) -> str:
    """The line under the title: who fills the ledger in, the day it stands on and the day
    it was made."""
    return f"填报单位：{unit}　　统计截止日期：{spoken(as_of)}　　填报日期：{spoken(made_on)}"


# Lines to sign on paper, after the last row.
FOOTER = (
    "填报人（签字）：＿＿＿＿＿＿＿＿　　　　审核人（签字）：＿＿＿＿＿＿＿＿　　　　（单位盖章）"
)


def birth_shown(birth: date | None, *, reveal: bool) -> str | None:
    """The birth date for a reader who may see full ID numbers; the year and month for
    anyone else (the day, with the masked ID and the county's public region code, would
    give the number back)."""
    if birth is None:
        return None
    return birth.isoformat() if reveal else f"{birth.year:04d}-{birth.month:02d}"


def grade_class(grade: str | None, class_name: str | None) -> str | None:
    shown = f"{grade or ''}{class_name or ''}".strip()
    return shown or None


# ---------------------------------------------------------------------------------------
# The 文化户口台账: every school-age child of an area, from the registers


REGISTER_COLUMNS: tuple[Column, ...] = (
    Column("row", "序号", "int", 4),
    Column("name", "姓名", "text", 6),
    Column("sex", "性别", "text", 4),
    Column("birth", "出生日期", "text", 10),
    Column("id_number", "身份证号", "text", 18),
    Column("township", "乡镇", "text", 6),
    Column("village", "村", "text", 6),
    Column("group", "村民小组", "text", 6),
    Column("guardian", "监护人及联系电话", "text", 14),
    Column("school", "就读学校", "text", 12),
    Column("grade_class", "年级班级", "text", 6),
    Column("status", "就学状态", "text", 6),
    Column("groups", "特殊群体", "text", 8),
    Column("open_case", "在办案件", "text", 8),
)
REGISTER_KEYS: tuple[str, ...] = tuple(c.key for c in REGISTER_COLUMNS)
REGISTER_KEY_COLUMNS: frozenset[str] = frozenset(
    {
        "row",
        "name",
        "id_number",
        "township",
        "village",
        "school",
        "grade_class",
        "status",
        "open_case",
    }
)
NO_STUDENT_RECORD = "无学籍"


@dataclass(slots=True)
class RegisterChild:
    """One school-age child of the registers, as the 文化户口台账 shows it (the ID masked;
    phone and birth day as the reader may see them)."""

    name: str
    id_number: str  # masked
    sex: str | None
    birth: str | None
    township: str | None
    village: str | None
    group: str | None
    guardian: str | None
    school: str | None
    grade_class: str | None
    status: str  # the student register's status, or NO_STUDENT_RECORD
    groups: tuple[str, ...] = ()  # the child's special groups, once recorded
    open_case: int | None = None  # the number of the child's open case

    def values(self, index: int) -> dict[str, Cell]:
        return {
            "row": index,
            "name": self.name,
            "sex": self.sex or "",
            "birth": self.birth or "",
            "id_number": self.id_number,
            "township": self.township or "",
            "village": self.village or "",
            "group": self.group or "",
            "guardian": self.guardian or "",
            "school": self.school or "",
            "grade_class": self.grade_class or "",
            "status": self.status,
            "groups": "、".join(self.groups),
            "open_case": f"是（第{self.open_case}号）" if self.open_case else "",
        }

    def cells(self, index: int, keys: Sequence[str] = REGISTER_KEYS) -> tuple[Cell, ...]:
        values = self.values(index)
        return tuple(values[key] for key in keys)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id_number": self.id_number,
            "sex": self.sex,
            "birth": self.birth,
            "township": self.township,
            "village": self.village,
            "group": self.group,
            "guardian": self.guardian,
            "school": self.school,
            "grade_class": self.grade_class,
            "status": self.status,
            "groups": list(self.groups),
            "open_case": self.open_case,
        }
