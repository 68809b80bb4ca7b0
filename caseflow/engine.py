"""The pure core: (workflow, case snapshot, event, actor, today) -> Outcome.

No database, no clock, no network. Everything the service layer writes for one event —
the new state, the deadline and the audit payload — is decided here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from caseflow.access import COUNTY, Jurisdiction
from caseflow.calendar import Deadline, WorkCalendar
from caseflow.dates import parse_date
from caseflow.errors import AccessDenied, InvalidInput, TransitionRefused
from caseflow.i18n import N_, _
from caseflow.states import (
    Attempt,
    FieldSpec,
    Transition,
    Workflow,
    allowed,
    fire,
    have_values,
    refusal,
)

NO_SETTINGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Actor:
    operator: str
    os_user: str  # the real account: differs from the operator's own on a shared terminal
    roles: frozenset[str]
    jurisdiction: Jurisdiction = COUNTY


@dataclass(frozen=True)
class CaseSnapshot:
    number: int
    state: str
    entered_on: date
    due_on: date | None
    version: int
    last_event_on: date
    due_provisional: bool = False
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    repeat_count: int = 0
    departments: tuple[str, ...] = ()
    # Where the case came from, innermost last: the state before its current one, and the
    # whole way back through states a ``returns`` transition leaves. Kept for every state,
    # so a case that moves to a version where its state returns knows where to go.
    came_from: tuple[str, ...] = ()
    entered_by: str | None = None  # the operator who moved it into its current state
    recorded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Event:
    trigger: str
    occurred_on: date
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    state: str
    entered_on: date
    due: Deadline | None
    counters: Mapping[str, int]
    repeat_count: int
    departments: tuple[str, ...]
    values: Mapping[str, Any]
    audit: Mapping[str, Any]
    deadline_reset: bool = True  # a new deadline: its escalation ladder starts again
    extended_days: int = 0
    came_from: tuple[str, ...] = ()
    deadline_from: date | None = None  # the day a new deadline counts from


def check_occurred_on(occurred_on: date, *, today: date, last_event_on: date | None) -> None:
    if occurred_on > today:
        raise InvalidInput(
            _(
                "date {date} is in the future (today is {today}); record events on or before "
                "the day they happen"
            ).format(date=occurred_on.isoformat(), today=today.isoformat())
        )
    if last_event_on is not None and occurred_on < last_event_on:
        raise InvalidInput(
            _(
                "date {date} is before this case's previous event ({previous}); events are "
                "recorded in order"
            ).format(date=occurred_on.isoformat(), previous=last_event_on.isoformat())
        )


def deadline_for(
    workflow: Workflow,
    state_id: str,
    start: date,
    calendar: WorkCalendar,
    settings: Mapping[str, str] = NO_SETTINGS,
) -> Deadline | None:
    """The deadline of ``state_id`` counted from ``start``. Where the state allows it and
    the county chose ``monitoring_ends = "term_end"``, the end of the school term in which
    the period ends: a date of the school calendar, final even in a year whose holidays
    are not known yet. Refused while the school calendar lists no such term end."""
    spec = workflow.state(state_id).deadline
    if spec is None:
        return None
    due = calendar.add(start, spec.amount, spec.unit)
    if not spec.until_term_end or settings.get("monitoring_ends") != "term_end":
        return due
    term_end = calendar.term_end_on_or_after(due.due_on)
    if term_end is None:
        raise TransitionRefused(
            _(
                "this county watches '{state}' until the end of the school term ([procedure] "
                'monitoring_ends = "term_end"), and caseflow.toml [calendar] term_ends lists '
                "no term end on or after {due}, when the period of {amount} {unit} from "
                "{start} ends: add the last day of that term to term_ends; nothing was changed"
            ).format(
                state=state_id,
                due=due.due_on.isoformat(),
                amount=spec.amount,
                unit=_(PERIOD_UNITS.get(spec.unit, spec.unit)),
                start=start.isoformat(),
            )
        )
    return Deadline(term_end, provisional=False)


def opening(
    workflow: Workflow, occurred_on: date, today: date, calendar: WorkCalendar
) -> tuple[str, Deadline | None]:
    """The state and deadline of a newly opened case."""
    check_occurred_on(occurred_on, today=today, last_event_on=None)
    initial = workflow.initial.id
    return initial, deadline_for(workflow, initial, occurred_on, calendar)


def control_character(text: str) -> str | None:
    """The first control character in a typed value (a line break or tab is text); such a
    character would reach a terminal raw, and PostgreSQL cannot store NUL."""
    return next((c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"), None)


# The units a deadline period counts in, as a person reads them.
PERIOD_UNITS = {"working_days": N_("working days"), "days": N_("days")}


def _coerce(spec: FieldSpec, raw: str, trigger: str) -> str | int:
    text = raw.strip().replace("\r\n", "\n")
    what = _("field '{name}' ({label}) of '{trigger}'").format(
        name=spec.name, label=spec.label, trigger=trigger
    )
    if not text:
        raise InvalidInput(_("{what} is empty").format(what=what))
    bad = control_character(text)
    if bad is not None:
        raise InvalidInput(
            _(
                "field '{name}' ({label}) holds the invisible control character {code}: "
                "delete it and enter the value again; nothing was changed"
            ).format(name=spec.name, label=spec.label, code=f"U+{ord(bad):04X}")
        )
    if spec.type == "choice":
        for value, label in spec.choices:
            if text in (value, label):
                return value
        allowed = _(", ").join(
            _("{value} ({label})").format(value=value, label=label) for value, label in spec.choices
        )
        raise InvalidInput(
            _("{what} is '{text}'; choose one of: {allowed}").format(
                what=what, text=text, allowed=allowed
            )
        )
    if spec.type == "date":
        return parse_date(text, what=what).isoformat()
    if spec.type == "integer":
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(
                _("{what} must be a whole number, got '{text}'").format(what=what, text=text)
            ) from None
    return text


def coerce_values(transition: Transition, raw: Mapping[str, str]) -> dict[str, str | int]:
    """Field values typed and checked; unknown names are bad input. Whether the required
    ones are all there is the machine's to decide (``states.FieldsGiven``)."""
    known = {f.name for f in transition.fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        expected = _(", ").join(
            _("{name} ({label})").format(name=f.name, label=f.label) for f in transition.fields
        ) or _("none")
        raise InvalidInput(
            _("'{trigger}' ({label}) has no field '{name}'; its fields: {fields}").format(
                trigger=transition.trigger,
                label=transition.label,
                name=unknown[0],
                fields=expected,
            )
        )
    return {
        spec.name: _coerce(spec, raw[spec.name], transition.trigger)
        for spec in transition.fields
        if spec.name in raw
    }


def attempt(
    case: CaseSnapshot,
    actor: Actor,
    occurred_on: date,
    given: Mapping[str, str] | None = None,
    *,
    automatic: bool = False,
    settings: Mapping[str, str] = NO_SETTINGS,
) -> Attempt:
    """What the machine's conditions are asked about: this actor, this case, this day, in
    this county (``settings``: its ``[procedure]`` choices)."""
    jurisdiction = actor.jurisdiction
    return Attempt(
        case=case.number,
        operator=actor.operator,
        roles=actor.roles,
        department=jurisdiction.name if jurisdiction.kind == "department" else None,
        handed_to=case.departments,
        counters=case.counters,
        due_on=case.due_on,
        occurred_on=occurred_on,
        given=None if given is None else frozenset(given),
        automatic=automatic,
        entered_by=case.entered_by,
        came_from=case.came_from[-1] if case.came_from else None,
        settings=settings,
        recorded=case.recorded,
    )


def available(
    workflow: Workflow,
    case: CaseSnapshot,
    actor: Actor,
    *,
    today: date,
    settings: Mapping[str, str] = NO_SETTINGS,
) -> list[Transition]:
    """The transitions this actor may fire on this case today (fields aside), as the
    machine decides."""
    return allowed(workflow, case.state, attempt(case, actor, today, settings=settings))


def decide(
    workflow: Workflow,
    case: CaseSnapshot,
    event: Event,
    actor: Actor,
    *,
    today: date,
    calendar: WorkCalendar,
    automatic: bool = False,
    settings: Mapping[str, str] = NO_SETTINGS,
) -> Outcome:
    """Decide one event: the machine fires it or says why not. ``automatic`` is the sweep
    firing an ``auto`` transition that has fallen due: no role is needed for that, but only
    auto transitions qualify."""
    if event.trigger not in workflow.triggers():
        raise InvalidInput(
            _(
                "'{trigger}' is not a trigger of workflow '{workflow}'; from '{state}' you can "
                "use: {possible}"
            ).format(
                trigger=event.trigger,
                workflow=workflow.name,
                state=case.state,
                possible=_possible(workflow, case.state),
            )
        )
    tried = attempt(
        case, actor, event.occurred_on, event.values, automatic=automatic, settings=settings
    )
    dest = fire(workflow, case.state, event.trigger, tried)
    transition = workflow.find(event.trigger, case.state)
    if dest is None or transition is None:
        why = refusal(workflow, case.state, event.trigger, tried)
        if why is not None:
            raise why
        raise TransitionRefused(
            _(
                "case {number} is in {state} ({label}); '{trigger}' is not allowed from there "
                "(allowed: {possible})"
            ).format(
                number=case.number,
                state=case.state,
                label=workflow.state(case.state).label,
                trigger=event.trigger,
                possible=_possible(workflow, case.state),
            )
        )
    values = coerce_values(transition, event.values)
    check_occurred_on(event.occurred_on, today=today, last_event_on=case.last_event_on)

    stays = dest == case.state
    due_field = next((f for f in transition.fields if f.sets_due and f.name in values), None)
    start = _deadline_start(transition, values, case, event.occurred_on)
    due: Deadline | None
    if due_field is not None:
        due_on = date.fromisoformat(str(values[due_field.name]))
        if due_on <= event.occurred_on:
            raise InvalidInput(
                _("{name} ({label}) must be after {date}").format(
                    name=due_field.name, label=due_field.label, date=event.occurred_on.isoformat()
                )
            )
        due = Deadline(due_on, provisional=False)
    elif stays and not transition.renews_deadline:
        due = None if case.due_on is None else Deadline(case.due_on, case.due_provisional)
    else:
        due = deadline_for(workflow, dest, start, calendar, settings)

    came_from = case.came_from
    if stays:
        counters = dict(case.counters)
        if have_values(values, transition.counts_when):
            counters[event.trigger] = counters.get(event.trigger, 0) + 1
        entered_on = case.entered_on
        departments = case.departments
    else:
        counters = {}
        entered_on = event.occurred_on
        departments = transition.handoff
        if transition.returns:
            came_from = came_from[:-1]
        elif workflow.remembers_origin(dest):
            came_from = (*came_from, case.state)
        else:
            came_from = (case.state,)
    audit: dict[str, Any] = {
        "trigger": event.trigger,
        "from": case.state,
        "to": dest,
        "values": values,
        "due_on": due.due_on.isoformat() if due else None,
        "workflow": workflow.name,
        "workflow_version": workflow.version,
    }
    if due is not None and due.provisional:
        audit["due_provisional"] = True
    if transition.handoff:
        audit["handoff"] = list(transition.handoff)
    if event.note:
        audit["note"] = event.note
    if automatic:
        audit["auto"] = True
    return Outcome(
        state=dest,
        entered_on=entered_on,
        due=due,
        counters=MappingProxyType(counters),
        repeat_count=case.repeat_count + (1 if transition.counts_repeat else 0),
        departments=departments,
        values=MappingProxyType(values),
        audit=MappingProxyType(audit),
        deadline_reset=not stays or transition.renews_deadline or due_field is not None,
        came_from=came_from,
        deadline_from=start,
    )


def _possible(workflow: Workflow, state: str) -> str:
    """The steps that leave ``state``, as a refusal lists them: trigger (label)."""
    return _(", ").join(
        _("{trigger} ({label})").format(trigger=t.trigger, label=t.label)
        for t in workflow.transitions_from(state)
    ) or _("none")


def _deadline_start(
    transition: Transition, values: Mapping[str, Any], case: CaseSnapshot, occurred_on: date
) -> date:
    """The day the new deadline counts from: the event's, or the date a ``starts_deadline``
    field gives (e.g. the day the order was served), which lies between the day the case
    entered its state and the event's day."""
    spec = next((f for f in transition.fields if f.starts_deadline and f.name in values), None)
    if spec is None:
        return occurred_on
    start = date.fromisoformat(str(values[spec.name]))
    if not case.entered_on <= start <= occurred_on:
        raise InvalidInput(
            _(
                "{name} ({label}) must be between {entered} (the case entered {state} then) "
                "and {date} (the day recorded for this step)"
            ).format(
                name=spec.name,
                label=spec.label,
                entered=case.entered_on.isoformat(),
                state=case.state,
                date=occurred_on.isoformat(),
            )
        )
    return start


@dataclass(frozen=True)
class ExtensionRequest:
    """A pending request to move a case's deadline later, waiting for someone else's
    approval. It lapses when the case leaves ``state``."""

    state: str
    days: int
    reason: str
    requested_on: date
    operator: str
    person: str | None = None  # the org.yaml person the requesting operator is, if known

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "days": self.days,
            "reason": self.reason,
            "requested_on": self.requested_on.isoformat(),
            "operator": self.operator,
            "person": self.person,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtensionRequest:
        return cls(
            state=data["state"],
            days=int(data["days"]),
            reason=data["reason"],
            requested_on=date.fromisoformat(data["requested_on"]),
            operator=data["operator"],
            person=data.get("person"),
        )


def request_extension(
    workflow: Workflow,
    case: CaseSnapshot,
    pending: ExtensionRequest | None,
    *,
    days: int,
    reason: str,
    actor: Actor,
    person: str | None,
    occurred_on: date,
    today: date,
) -> ExtensionRequest:
    """A request to move the current deadline ``days`` calendar days later; the deadline
    stays until an approver (``extension_approve_roles``, not the requester) approves."""
    if not actor.roles & set(workflow.extension_roles):
        raise AccessDenied(
            _(
                "operator '{operator}' may not request deadline extensions; it needs one of: "
                "{roles}"
            ).format(operator=actor.operator, roles=", ".join(workflow.extension_roles))
        )
    if case.due_on is None:
        raise _no_deadline(case)
    if pending is not None:
        raise TransitionRefused(
            _(
                "case {number} already has an extension request pending (by {operator} on "
                "{date}, {days} days); it must be approved or rejected first"
            ).format(
                number=case.number,
                operator=pending.operator,
                date=pending.requested_on.isoformat(),
                days=pending.days,
            )
        )
    if not 1 <= days <= workflow.extension_max_days:
        raise InvalidInput(
            _("--days must be between 1 and {maximum}, got {days}").format(
                maximum=workflow.extension_max_days, days=days
            )
        )
    if not reason.strip():
        raise InvalidInput(_("an extension needs a reason (--reason)"))
    check_occurred_on(occurred_on, today=today, last_event_on=case.last_event_on)
    return ExtensionRequest(
        state=case.state,
        days=days,
        reason=reason.strip(),
        requested_on=occurred_on,
        operator=actor.operator,
        person=person,
    )


def _no_deadline(case: CaseSnapshot) -> TransitionRefused:
    return TransitionRefused(
        _("case {number} is in {state}, which has no deadline to extend").format(
            number=case.number, state=case.state
        )
    )


def _check_approver(
    workflow: Workflow,
    case: CaseSnapshot,
    request: ExtensionRequest | None,
    *,
    actor: Actor,
    person: str | None,
    deciding: str,
) -> ExtensionRequest:
    """The pending request, if ``actor`` may decide on it: an approve role, and not the
    operator (nor the person) who requested it."""
    approving = deciding == "approve"
    roles = ", ".join(workflow.extension_approve_roles)
    if request is None:
        raise TransitionRefused(
            (
                _(
                    "case {number} has no extension request to approve; one is made with "
                    "`caseflow case extend N --days D --reason R`"
                )
                if approving
                else _(
                    "case {number} has no extension request to reject; one is made with "
                    "`caseflow case extend N --days D --reason R`"
                )
            ).format(number=case.number)
        )
    if not actor.roles & set(workflow.extension_approve_roles):
        raise AccessDenied(
            (
                _(
                    "operator '{operator}' may not approve extension requests; it needs one "
                    "of: {roles}"
                )
                if approving
                else _(
                    "operator '{operator}' may not reject extension requests; it needs one "
                    "of: {roles}"
                )
            ).format(operator=actor.operator, roles=roles)
        )
    if actor.operator == request.operator or (person is not None and person == request.person):
        raise AccessDenied(
            (
                _(
                    "operator '{operator}' requested this extension and may not approve it; "
                    "another operator with one of the roles {roles} decides"
                )
                if approving
                else _(
                    "operator '{operator}' requested this extension and may not reject it; "
                    "another operator with one of the roles {roles} decides"
                )
            ).format(operator=actor.operator, roles=roles)
        )
    return request


def extend(
    workflow: Workflow,
    case: CaseSnapshot,
    request: ExtensionRequest | None,
    *,
    actor: Actor,
    person: str | None,
    occurred_on: date,
    today: date,
    calendar: WorkCalendar,
) -> Outcome:
    """Approve the pending request: the current deadline moves ``request.days`` calendar
    days later and its ladder starts again."""
    request = _check_approver(
        workflow, case, request, actor=actor, person=person, deciding="approve"
    )
    if case.due_on is None:
        raise _no_deadline(case)
    check_occurred_on(occurred_on, today=today, last_event_on=case.last_event_on)
    due = calendar.add(case.due_on, request.days, "days")
    audit: dict[str, Any] = {
        "state": case.state,
        "days": request.days,
        "reason": request.reason,
        "requested_by": request.operator,
        "requested_on": request.requested_on.isoformat(),
        "from_due_on": case.due_on.isoformat(),
        "due_on": due.due_on.isoformat(),
    }
    if due.provisional:
        audit["due_provisional"] = True
    return Outcome(
        state=case.state,
        entered_on=case.entered_on,
        due=due,
        counters=case.counters,
        repeat_count=case.repeat_count,
        departments=case.departments,
        values=MappingProxyType({}),
        audit=MappingProxyType(audit),
        extended_days=request.days,
        came_from=case.came_from,
    )


def reject_extension(
    workflow: Workflow,
    case: CaseSnapshot,
    request: ExtensionRequest | None,
    *,
    reason: str,
    actor: Actor,
    person: str | None,
    occurred_on: date,
    today: date,
) -> dict[str, Any]:
    """Reject the pending request (the audit payload): the deadline stays."""
    request = _check_approver(
        workflow, case, request, actor=actor, person=person, deciding="reject"
    )
    if not reason.strip():
        raise InvalidInput(_("a rejection needs a reason (--reason)"))
    check_occurred_on(occurred_on, today=today, last_event_on=case.last_event_on)
    return {
        "state": case.state,
        "days": request.days,
        "requested_by": request.operator,
        "requested_on": request.requested_on.isoformat(),
        "reason": reason.strip(),
    }
