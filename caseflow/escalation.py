"""Which rung is due for which case, and when the sweep must look at a case next. Pure.

A case's ladder is planned from its due date: rung k falls on ``due_on`` + its offset.
Each case carries ``next_rung`` (the first rung not yet fired for the current deadline)
and ``next_action_on`` (the earliest day the sweep has work for it: that rung's day, or
the due date when an automatic transition may fire then). The sweep only ever reads cases
whose ``next_action_on`` has come, through an index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from types import MappingProxyType

from caseflow.calendar import WorkCalendar
from caseflow.states import RECIPIENTS, Attempt, Rung, Transition, Workflow, allowed


@dataclass(frozen=True)
class LadderPosition:
    state: str
    due_on: date | None
    next_rung: int
    counters: Mapping[str, int]


@dataclass(frozen=True)
class DueRung:
    rung: Rung
    rung_on: date
    days_overdue: int


@dataclass(frozen=True)
class DueWork:
    """What the sweep does for one case on ``as_of``: fire an automatic transition, or
    fire every rung that has come due (oldest first); then look again on ``next_action_on``."""

    auto: Transition | None
    rungs: tuple[DueRung, ...]
    next_rung: int
    next_action_on: date | None


@lru_cache(maxsize=4096)
def rung_date(due_on: date, rung: Rung, calendar: WorkCalendar) -> date:
    return calendar.add(due_on, rung.offset, rung.unit).due_on


def ready_auto_transition(workflow: Workflow, position: LadderPosition) -> Transition | None:
    """The automatic transition the machine would fire when the state falls due, if any:
    the sweep's own attempt (no role, no fields) on the due day."""
    if position.due_on is None:
        return None
    counters = tuple(sorted(position.counters.items()))
    return _ready_auto_transition(workflow, position.state, counters, position.due_on)


# The answer depends on nothing but these arguments (the machine's conditions read only the
# attempt), and a sweep asks it twice for each of thousands of cases in a handful of states.
@lru_cache(maxsize=4096)
def _ready_auto_transition(
    workflow: Workflow, state: str, counters: tuple[tuple[str, int], ...], due_on: date
) -> Transition | None:
    sweep = Attempt(
        case=0,
        operator="sweep",
        roles=frozenset(),
        department=None,
        handed_to=(),
        counters=MappingProxyType(dict(counters)),
        due_on=due_on,
        occurred_on=due_on,
        automatic=True,
    )
    return next(iter(allowed(workflow, state, sweep)), None)


def next_action_on(
    workflow: Workflow, position: LadderPosition, calendar: WorkCalendar
) -> date | None:
    if position.due_on is None:
        return None
    candidates = []
    if ready_auto_transition(workflow, position) is not None:
        candidates.append(position.due_on)
    ladder = workflow.state(position.state).ladder
    if position.next_rung < len(ladder):
        candidates.append(rung_date(position.due_on, ladder[position.next_rung], calendar))
    return min(candidates, default=None)


def due_work(
    workflow: Workflow, position: LadderPosition, as_of: date, calendar: WorkCalendar
) -> DueWork:
    due_on = position.due_on
    if due_on is None:
        return DueWork(None, (), position.next_rung, None)
    auto = ready_auto_transition(workflow, position)
    if auto is not None and due_on <= as_of:
        return DueWork(auto, (), position.next_rung, None)
    ladder = workflow.state(position.state).ladder
    fired = []
    rung_index = position.next_rung
    while rung_index < len(ladder):
        rung = ladder[rung_index]
        day = rung_date(due_on, rung, calendar)
        if day > as_of:
            break
        fired.append(DueRung(rung, day, (as_of - due_on).days))
        rung_index += 1
    after = LadderPosition(position.state, due_on, rung_index, position.counters)
    return DueWork(None, tuple(fired), rung_index, next_action_on(workflow, after, calendar))


@dataclass(frozen=True)
class Scope:
    """Where a case sits, to address its recipients."""

    township: str
    village: str
    school: str | None
    departments: tuple[str, ...]
    chain: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


_SCOPED_BY = {
    "township": "township",
    "township_head": "township",
    "township_cadre": "township",
    "county_leader": "township",
    "village": "village",
    "village_cadre": "village",
    "group_leader": "village",
    "school": "school",
    "principal": "school",
    "school_leader": "school",
    "head_teacher": "school",
    "subject_teacher": "school",
    "bureau_leader": "school",
}


def recipient_keys(recipient: str, responsible: str | None, scope: Scope) -> list[str]:
    """Stable addresses such as ``township_head:天堂镇`` or ``department:health``;
    the organisation file maps them to people and channels."""
    if recipient == "responsible_unit":
        recipient = {
            "township": "township",
            "village": "village",
            "school": "school",
            "education_bureau": "education_bureau",
            "department": "department",
        }.get(responsible or "", "education_bureau")
    if recipient == "department":
        return [f"department:{d}" for d in scope.departments] or ["education_bureau"]
    if recipient in scope.chain:  # the named person of the case's 包保 chain
        return [f"person:{scope.chain[recipient]}"]
    level = _SCOPED_BY.get(recipient)
    if level is None:
        return [recipient]
    place = {
        "township": scope.township,
        "village": f"{scope.township}/{scope.village}",
        "school": scope.school,
    }[level]
    if place is None:  # no school recorded: the township answers for the child
        return [f"township:{scope.township}"]
    return [f"{recipient}:{place}"]


# The forms of a township-level unit: the body that governs it and the title of its head.
# A 街道 is governed by its 街道办事处, never a "街道人民政府".
TOWNSHIP_FORMS: Mapping[str, tuple[str, str]] = {
    "镇": ("人民政府", "镇长"),
    "乡": ("人民政府", "乡长"),
    "街道": ("办事处", "主任"),
}


def township_form(name: str, declared: str | None = None) -> str | None:
    """The form of a township-level unit (镇 / 乡 / 街道): declared, else its name's end."""
    if declared:
        return declared
    return next((form for form in ("街道", "镇", "乡") if name.endswith(form)), None)


def township_body(name: str, form: str | None = None) -> str:
    """天堂镇 -> 天堂镇人民政府, 峨岭街道 -> 峨岭街道办事处 (a name without its form gets it)."""
    form = township_form(name, form)
    if form is None:
        return f"{name}人民政府"
    stem = name if name.endswith(form) else name + form
    return stem + TOWNSHIP_FORMS[form][0]


def township_head(name: str, form: str | None = None) -> str:
    """天堂镇 -> 天堂镇镇长, 合水乡 -> 合水乡乡长, 峨岭街道 -> 峨岭街道办事处主任."""
    form = township_form(name, form)
    if form is None:
        return f"{name}乡镇长"
    if form == "街道":
        return township_body(name, form) + TOWNSHIP_FORMS[form][1]
    stem = name if name.endswith(form) else name + form
    return stem + TOWNSHIP_FORMS[form][1]


def recipient_label(
    key: str,
    person_label: Callable[[str], str] | None = None,
    *,
    departments: Mapping[str, str],
) -> str:
    """A Chinese name for an address, for the salutation of a notice; a person of a 包保
    chain by ``person_label`` (their id), else generically; a partner department by the
    name ``departments`` (a workflow's declared departments) gives it."""
    role, _, place = key.partition(":")
    if role == "person":
        return person_label(place) if person_label else "包保责任人"
    if role == "department":
        return departments.get(place, place)
    if role == "township":
        return township_body(place)
    if role == "township_head" and place:
        return township_head(place)
    if role == "village":
        return f"{place.rpartition('/')[2]}村民委员会"
    if role == "school":
        return place
    label = RECIPIENTS.get(role, role)
    return f"{place.replace('/', '')}{label}" if place else label
