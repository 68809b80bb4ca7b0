"""Moving an open case from an older version of its workflow to a newer one. Pure.

A state keeps its id unless the new version's ``migrate_from`` names where it went. The
deadline is counted again under the new version's rule from the day it started (the day the
case entered the state or a service date gave, or the day a renewal restarted it if the new
version's state renews its deadline at all), plus any extension days granted; a due date
given in a date field (such as the end of an approved deferral) is a decision, not a count,
and stays. The escalation ladder keeps the level it reached: the rungs already fired for
this stay in the state do not fire again, and the rest fall due from the new due date. The
counts a case made in its state (such as check-ins, which ``requires`` reads) move with it
by their triggers' ids; a count whose trigger the new version lacks refuses the move rather
than being dropped. Where the case came from (which a ``returns`` transition leads back to)
is renamed by the same map; an origin a return would lead back to that has no place in the
new version refuses the move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from caseflow import escalation
from caseflow.calendar import Deadline, WorkCalendar
from caseflow.i18n import _
from caseflow.states import Workflow


@dataclass(frozen=True)
class OpenCase:
    """What a move needs of an open case on an older version."""

    number: int
    state: str
    entered_on: date
    deadline_from: date | None
    due_on: date | None
    due_provisional: bool
    extended_days: int
    next_rung: int
    counters: Mapping[str, int]
    came_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Move:
    number: int
    from_version: int
    to_version: int
    from_state: str
    to_state: str
    from_due_on: date | None
    due: Deadline | None
    deadline: str  # recounted | kept (a date given in a field) | none
    next_rung: int
    next_action_on: date | None
    came_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unmapped:
    """A state of an older version that has no place in the new one."""

    version: int
    state: str
    label: str
    reason: str


def state_map(old: Workflow, new: Workflow) -> dict[str, str]:
    """Where each state of ``old`` goes in ``new``: the same id unless ``migrate_from``
    says otherwise; a state with neither is left out."""
    renamed = new.migrate_from.get(old.version, {})
    return {
        state: renamed.get(state, state)
        for state in old.states
        if state in renamed or state in new.states
    }


def destination(old: Workflow, new: Workflow, state: str) -> str | Unmapped:
    """The state an open case in ``state`` of ``old`` moves to, or why it cannot move."""
    label = old.states[state].label if state in old.states else state
    target = state_map(old, new).get(state)
    if target is None:
        return Unmapped(
            old.version,
            state,
            label,
            _("has no state of that id in version {version}").format(version=new.version),
        )
    if new.state(target).is_terminal:
        return Unmapped(
            old.version,
            state,
            label,
            _(
                "would land in '{target}', which is terminal in version {version}: a migration "
                "closes no case"
            ).format(target=target, version=new.version),
        )
    return target


def lost_counts(new: Workflow, counters: Mapping[str, int]) -> list[str]:
    """The counts a case has made in its state (``requires`` reads them) that would be lost
    because ``new`` has no trigger of that id: a count is carried by its trigger's id."""
    triggers = new.triggers()
    return sorted(t for t, count in counters.items() if count and t not in triggers)


def moved_origins(
    old: Workflow, new: Workflow, target: str, came_from: Sequence[str]
) -> tuple[str, ...] | str:
    """Where a case moving into ``target`` came from, in ``new``'s state ids; or the old
    id of an origin a return would lead back to (from ``target``, and on from there while
    the state returned to returns too) that has no state in ``new``."""
    renamed = state_map(old, new)
    origins = tuple(renamed.get(state, state) for state in came_from)
    state, index = target, len(origins)
    while index and new.remembers_origin(state):
        index -= 1
        state = origins[index]
        if state not in new.states:
            return came_from[index]
    return origins


def map_problems(old: Workflow, new: Workflow) -> list[tuple[str, str]]:
    """What is wrong with ``new``'s map for ``old``: (key path, message) pairs."""
    problems = []
    for old_id, new_id in new.migrate_from.get(old.version, {}).items():
        path = f"migrate_from.{old.version}.{old_id}"
        if old_id not in old.states:
            problems.append(
                (
                    path,
                    _("version {version} has no state '{state}'; its states: {states}").format(
                        version=old.version, state=old_id, states=", ".join(old.states)
                    ),
                )
            )
        elif old.state(old_id).is_terminal and not new.state(new_id).is_terminal:
            problems.append(
                (
                    path,
                    _(
                        "'{state}' is terminal in version {version}: its cases are closed and "
                        "stay closed, so mapping it to the open '{target}' means nothing"
                    ).format(state=old_id, version=old.version, target=new_id),
                )
            )
    return problems


def _rule_count(
    workflow: Workflow, state: str, case: OpenCase, calendar: WorkCalendar
) -> Deadline | None:
    spec = workflow.state(state).deadline
    if spec is None:
        return None
    start = case.deadline_from or case.entered_on
    renews = any(t.renews_deadline for t in workflow.transitions_from(state))
    if start > case.entered_on and not renews:
        start = case.entered_on  # restarted by a renewal this version does not make
    due = calendar.add(start, spec.amount, spec.unit)
    if case.extended_days:
        extended = calendar.add(due.due_on, case.extended_days, "days")
        due = Deadline(extended.due_on, due.provisional or extended.provisional)
    return due


def _given_in_a_field(workflow: Workflow, case: OpenCase, calendar: WorkCalendar) -> bool:
    """Whether the case's due date was given in a date field rather than counted."""
    may_be_given = any(
        field.sets_due for t in workflow.transitions if t.dest == case.state for field in t.fields
    )
    if not may_be_given or case.due_on is None or case.due_provisional:
        return False
    counted = _rule_count(workflow, case.state, case, calendar)
    return counted is None or counted.due_on != case.due_on


def plan_move(
    old: Workflow, new: Workflow, case: OpenCase, calendar: WorkCalendar
) -> Move | Unmapped:
    """The case's state, deadline and ladder position under ``new``."""
    target = destination(old, new, case.state)
    if isinstance(target, Unmapped):
        return target
    lost = lost_counts(new, case.counters)
    if lost:
        return Unmapped(
            old.version,
            case.state,
            old.states[case.state].label,
            _(
                "carries counts of {triggers}, which version {version} has no trigger of: they "
                "would be lost"
            ).format(triggers=", ".join(lost), version=new.version),
        )
    came_from = moved_origins(old, new, target, case.came_from)
    if isinstance(came_from, str):
        return Unmapped(
            old.version,
            case.state,
            old.states[case.state].label,
            _(
                "came from {origin}, which has no state of that id in version {version}, and a "
                "return leads back there"
            ).format(origin=came_from, version=new.version),
        )
    if new.state(target).deadline is None:
        due, how = None, "none"
    elif _given_in_a_field(old, case, calendar):
        assert case.due_on is not None
        due, how = Deadline(case.due_on, provisional=False), "kept"
    else:
        due, how = _rule_count(new, target, case, calendar), "recounted"
    next_rung = min(case.next_rung, len(new.state(target).ladder))
    position = escalation.LadderPosition(
        target, due.due_on if due else None, next_rung, case.counters
    )
    return Move(
        number=case.number,
        from_version=old.version,
        to_version=new.version,
        from_state=case.state,
        to_state=target,
        from_due_on=case.due_on,
        due=due,
        deadline=how,
        next_rung=next_rung,
        next_action_on=escalation.next_action_on(new, position, calendar),
        came_from=came_from,
    )
