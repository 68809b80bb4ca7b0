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
from functools import lru_cache
from typing import Any

from caseflow.calendar import WorkCalendar
from caseflow.exports import Cell, Column
from caseflow.org import CHAIN_ROLES, EDUCATION_CHAIN, GOVERNMENT_CHAIN
from caseflow.states import Workflow

LEVELS: tuple[str, ...] = ("county", "township", "village", "school")
CHAINS: Mapping[str, tuple[str, ...]] = {
    "county": CHAIN_ROLES,
    "township": GOVERNMENT_CHAIN,
    "village": GOVERNMENT_CHAIN,
    "school": EDUCATION_CHAIN,
}

COLUMNS: tuple[Column, ...] = (
    Column("row", "序号", "int", 6),
    Column("name", "姓名", "text", 8),
    Column("id_number", "身份证号", "text", 20),
    Column("township", "乡镇", "text", 10),
    Column("village", "村", "text", 10),
    Column("school", "学校", "text", 16),
    Column("number", "案件编号", "int", 8),
    Column("state_label", "当前状态", "text", 18),
    Column("reasons", "辍学原因", "text", 14),
    Column("responsible", "包保责任人", "text", 30),
    Column("opened_on", "发现日期", "date", 11),
    Column("days_in_state", "在当前状态天数", "int", 8),
    Column("due_on", "办理期限", "date", 11),
    Column("days_overdue", "逾期天数", "int", 8),
    Column("last_note_on", "最近劝返日期", "date", 11),
    Column("last_note_method", "劝返方式", "text", 9),
    Column("outcome", "办理结果", "text", 14),
    Column("remarks", "备注", "text", 16),
    Column("workflow_version", "流程版本", "int", 8),
    Column("groups", "特殊群体", "text", 16),
)


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
    groups: tuple[str, ...] = ()  # the child's special groups, e.g. 残疾（肢体二级）


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
    days_in_state: int
    due_on: date | None
    due_provisional: bool
    days_overdue: int
    days_unit: str | None  # working_days | days, when a deadline runs
    last_note_on: date | None
    last_note_method: str | None
    outcome: str
    workflow_version: int  # the version of the workflow the case ran on that day
    groups: tuple[str, ...] = ()  # the child's special groups (labels)

    @property
    def remarks(self) -> str:
        notes = []
        if self.days_overdue and self.days_unit == "working_days":
            notes.append("逾期按工作日计")
        if self.due_provisional:
            notes.append("期限暂定（当年节假日安排未公布）")
        return "；".join(notes)

    def cells(self, index: int) -> tuple[Cell, ...]:
        return (
            index,
            self.name,
            self.id_number,
            self.township,
            self.village,
            self.school or "",
            self.number,
            self.state_label,
            "、".join(self.reasons),
            "、".join(self.responsible),
            self.opened_on,
            self.days_in_state,
            self.due_on,
            self.days_overdue or None,
            self.last_note_on,
            self.last_note_method or "",
            self.outcome,
            self.remarks,
            self.workflow_version,
            "、".join(self.groups),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "id_number": self.id_number,
            "township": self.township,
            "village": self.village,
            "school": self.school,
            "state": self.state,
            "state_label": self.state_label,
            "reasons": list(self.reasons),
            "responsible": list(self.responsible),
            "opened_on": self.opened_on.isoformat(),
            "days_in_state": self.days_in_state,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "due_provisional": self.due_provisional,
            "days_overdue": self.days_overdue,
            "days_unit": self.days_unit,
            "last_note_on": self.last_note_on.isoformat() if self.last_note_on else None,
            "last_note_method": self.last_note_method,
            "outcome": self.outcome,
            "workflow_version": self.workflow_version,
            "groups": list(self.groups),
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


def outcome(workflow: Workflow, case: CaseFacts) -> str:
    """在办 (with the closure awaiting approval, if one is), 已复学（巩固中）,
    已复学（已巩固）, or 已销号 with the reason it was closed."""
    category = workflow.category_of(case.state)
    state = workflow.states.get(case.state)
    if category == "monitoring":
        return "已复学（巩固中）"
    if category == "retained":
        return "已复学（已巩固）"
    if category == "closing" and state is not None:
        return f"在办（{state.label}）"
    if case.is_open:
        return "在办"
    if case.close_reason:
        reason = case.close_reason
        return f"已销号：{workflow.closure_reasons.get(reason, reason)}"
    return f"已销号：{state.label}" if state is not None else "已销号"


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
    case: CaseFacts, workflow: Workflow, *, as_of: date, calendar: WorkCalendar
) -> LedgerRow:
    state = workflow.states.get(case.state)
    overdue, unit = days_overdue(workflow, case, as_of, calendar)
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
        days_in_state=max(0, (as_of - case.entered_on).days),
        due_on=case.due_on if case.is_open else None,
        due_provisional=bool(case.is_open and case.due_provisional),
        days_overdue=overdue,
        days_unit=unit,
        last_note_on=case.last_note_on,
        last_note_method=case.last_note_method,
        outcome=outcome(workflow, case),
        workflow_version=workflow.version,
        groups=case.groups,
    )


def title(county: str, place: str, as_of: date) -> str:
    """E.g. 示范县天堂镇控辍保学工作台账（截至2026年11月29日）."""
    return f"{county}{place}控辍保学工作台账（截至{as_of.year}年{as_of.month}月{as_of.day}日）"
