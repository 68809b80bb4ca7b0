"""Cases: open, advance, extend, update, note, find; show, list and history (each read
recorded once, when a person reads)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property, partial
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from caseflow import access, audit, db, engine, escalation
from caseflow.choices import resolve, resolve_all
from caseflow.dates import cn_date
from caseflow.errors import (
    AccessDenied,
    ConcurrentUpdate,
    DuplicateCase,
    InvalidInput,
    TransitionRefused,
)
from caseflow.i18n import N_, _
from caseflow.ids import mask_id_number, parse_id_number
from caseflow.measures import UNKNOWN_PLACE
from caseflow.org import CHAIN_ROLES, POSITIONS, Org, PlaceCheck
from caseflow.roster import DEFAULT_AGES, NAME_MAX_CHARS, Comparison, reference_date
from caseflow.services import groups
from caseflow.services.alerts import queue_alert
from caseflow.services.context import Context
from caseflow.services.letters import Entering, queue_within
from caseflow.services.outbox import reference
from caseflow.services.records import (
    CASE,
    CHILD,
    ESCALATION,
    GUARDIAN,
    GUARDIAN_CAPACITIES,
    OPERATOR,
    case_row,
    event_view,
    is_parent,
    log_read,
    log_refusal,
    org_in_force,
    record,
    register_workflow,
    require,
    scoped,
    stored_workflow,
)
from caseflow.services.step import (
    apply_decision,
    case_snapshot,
    outcome_changes,
    probes_recorded,
)
from caseflow.states import (
    CASE_SOURCES,
    NOTE_METHODS,
    RESPONSIBLE,
    TERMINAL_CATEGORIES,
    Workflow,
)

# ---------------------------------------------------------------------------------------
# Workspaces, operators, workflows


# ---------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class CaseStep:
    """Where a case stands after a step, as written: what the command that took the step
    shows, without reading the case again (a read is recorded only when a person reads)."""

    number: int
    state: str
    state_label: str
    version: int
    due_on: date | None
    due_provisional: bool
    documents: list[dict[str, Any]]
    # What the operator may do next, asked of the machine only when shown.
    offered: Callable[[], list[dict[str, Any]]] = field(repr=False, compare=False)
    extension_request: dict[str, Any] | None = None  # pending, with who may approve it
    warnings: tuple[str, ...] = ()  # what the operator is told besides (an unlisted place)

    @cached_property
    def transitions(self) -> list[dict[str, Any]]:
        return self.offered()

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "state_label": self.state_label,
            "version": self.version,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "due_provisional": self.due_provisional,
            "transitions": self.transitions,
            "documents": self.documents,
            "extension_request": self.extension_request,
        }


def _case_step(
    ctx: Context, workflow: Workflow, row: Any, documents: list[dict[str, Any]]
) -> CaseStep:
    return CaseStep(
        number=row.id,
        state=row.state,
        state_label=workflow.state(row.state).label,
        version=row.version,
        due_on=row.due_on,
        due_provisional=row.due_provisional,
        documents=documents,
        offered=partial(_possible_now, ctx, workflow, case_snapshot(row)),
        extension_request=_extension_view(workflow, row, ()),
    )


def _possible_now(
    ctx: Context, workflow: Workflow, snapshot: engine.CaseSnapshot
) -> list[dict[str, Any]]:
    """The transitions the acting operator may fire on the case now."""
    return [
        {
            "trigger": t.trigger,
            "label": t.label,
            "dest": (dest := snapshot.came_from[-1] if t.returns else t.dest),
            "dest_label": workflow.state(dest).label,
            "fields": [f.describe() for f in t.fields],
        }
        for t in engine.available(
            workflow, snapshot, ctx.actor, today=ctx.today, settings=ctx.workspace.procedure
        )
    ]


@dataclass(frozen=True)
class ChildDetails:
    name: str
    id_number: str
    township: str
    village: str
    school: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    group: str | None = None
    guardian_name: str | None = None
    guardian_relation: str | None = None
    guardian_phone: str | None = None


@dataclass(frozen=True)
class Checks:
    """What a caseworker's `case open` and `case update` are checked for: places against
    the organisation in force (``unlisted``: accept one it does not list, with a warning
    and the audit event saying so), the child's age against the compulsory band
    (``age_exception``: the reason a child outside it has a case) and the day against
    the child's birth. The roster comparison opens cases unchecked (待核实 places)."""

    unlisted: bool = False
    age_exception: str | None = None


_PLACE_KINDS = {"township": N_("Township"), "village": N_("Village"), "school": N_("School")}


def _checked_places(
    org: Org, checks: Checks, *, township: str | None, village: str | None, school: str | None
) -> tuple[dict[str, str], list[PlaceCheck]]:
    """The places given, as the organisation spells them, and those it does not list
    (accepted only with ``checks.unlisted``); refuses an unknown one with the nearest
    known names."""
    given = {"township": township, "village": village, "school": school}
    named: dict[str, str] = {}
    unlisted: list[PlaceCheck] = []
    for kind, name in given.items():
        if name is None or not name.strip():
            continue
        parent = named.get("township", township) if kind == "village" else None
        check = org.check_place(kind, name, parent)
        if check is None:
            named[kind] = name.strip()
            continue
        named[kind] = check.name
        if check.known:
            continue
        if not checks.unlisted:
            where = (
                _("the organisation of {township}").format(township=parent)
                if kind == "village"
                else _("the county's organisation")
            )
            hint = (
                _("Did you mean: {names}?").format(names="、".join(check.nearest))
                if check.nearest
                else _("Check the name (`caseflow org show` lists the county's organisation).")
            )
            raise InvalidInput(
                _(
                    "{kind} “{name}” is not in {where}. {hint} If the organisation does not "
                    "list it yet, register it with --unlisted."
                ).format(kind=_(_PLACE_KINDS[kind]), name=check.name, where=where, hint=hint)
            )
        unlisted.append(check)
    return named, unlisted


def unlisted_warnings(unlisted: Sequence[PlaceCheck]) -> tuple[str, ...]:
    return tuple(
        _(
            "Note: {kind} “{name}” is not in the county's organisation and was registered "
            "with --unlisted; the case's 包保 chain may be incomplete: add it to org.yaml, "
            "then run `caseflow org apply`."
        ).format(kind=_(_PLACE_KINDS[c.kind]), name=c.name)
        for c in unlisted
    )


def _unlisted_payload(unlisted: Sequence[PlaceCheck]) -> list[dict[str, str]]:
    return [{"kind": c.kind, "name": c.name} for c in unlisted]


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _checked_age(birth: date, occurred_on: date, checks: Checks) -> dict[str, Any] | None:
    """Refuses a day before the child's birth, and a child outside the compulsory band on
    the school year's reference date unless ``checks.age_exception`` says why; the
    exception as the audit event records it, or None."""
    if occurred_on < birth:
        raise InvalidInput(
            _(
                "The day {day} is before the child's birth (see the resident ID); check --date."
            ).format(day=cn_date(occurred_on))
        )
    reference = reference_date(occurred_on)
    age = _age_on(birth, reference)
    youngest, oldest = DEFAULT_AGES
    if youngest <= age <= oldest:
        return None
    reason = (checks.age_exception or "").strip()
    if not reason:
        raise InvalidInput(
            _(
                "The child is {age} on {day} (the school year's reference day), outside the "
                "compulsory-education ages ({youngest} to {oldest}). If a case is needed, say "
                "why with --age-exception."
            ).format(age=age, day=cn_date(reference), youngest=youngest, oldest=oldest)
        )
    return {"age": age, "reference_date": reference.isoformat(), "reason": reason}


# The longest a typed value may be: a person's name as long as the registers allow, a place
# name, and a note of a visit (about a page).
PLACE_MAX_CHARS = 100
NOTE_MAX_CHARS = 2000


def _required_text(value: str, what: str, *, limit: int | None = None) -> str:
    """A value, trimmed, refused when empty; with ``limit``, a value a person typed: refused
    too when longer than ``limit`` characters (control characters in it are shown escaped
    wherever it is printed: cli.table.printable)."""
    cleaned = value.strip().replace("\r\n", "\n")
    if not cleaned:
        raise InvalidInput(_("{what} must not be empty").format(what=what))
    if limit is not None:
        _check_typed(cleaned, what, limit=limit)
    return cleaned


def _check_typed(value: str, what: str, *, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(
            _(
                "{what} is {length} characters long; at most {limit} are allowed: shorten it; "
                "nothing was changed"
            ).format(what=what, length=len(value), limit=limit)
        )


def open_case(
    ctx: Context,
    details: ChildDetails,
    *,
    source: str = "manual",
    reasons: Sequence[str] = (),
    occurred_on: date | None = None,
    evidence: Mapping[str, Any] | None = None,
    checks: Checks | None = None,
) -> CaseStep:
    """Open a case in the workflow's initial state; ``checks``: check the places, the age
    and the day as a caseworker's `case open` is (None: the roster comparison's cases)."""
    require(ctx, access.CASE_OPENERS, "case open")
    _require_own_place(ctx, details)
    today = ctx.today
    resident = parse_id_number(details.id_number, today=today)
    masked = mask_id_number(resident.number)
    if details.sex is not None and details.sex != resident.sex:
        raise InvalidInput(
            _("sex {sex} disagrees with resident ID {masked}, which encodes {encoded}").format(
                sex=details.sex, masked=masked, encoded=resident.sex
            )
        )
    if details.birth_date is not None and details.birth_date != resident.birth_date:
        raise InvalidInput(
            _("birth date {day} disagrees with resident ID {masked}").format(
                day=details.birth_date.isoformat(), masked=masked
            )
        )
    source = resolve(source, CASE_SOURCES, what=_("Source"))
    workflow = ctx.current_workflow
    reasons = resolve_all(reasons, workflow.dropout_reasons, what=_("Dropout reason"))
    name = _required_text(details.name, _("The child's name (--name)"))
    township = _required_text(details.township, _("The township (--township)"))
    village = _required_text(details.village, _("The village (--village)"))
    if checks is not None:  # typed by a caseworker, not read from a register
        for option, value, limit in (
            (_("The child's name (--name)"), name, NAME_MAX_CHARS),
            (_("The township (--township)"), township, PLACE_MAX_CHARS),
            (_("The village (--village)"), village, PLACE_MAX_CHARS),
            ("--school", details.school, PLACE_MAX_CHARS),
            ("--group", details.group, PLACE_MAX_CHARS),
            ("--guardian", details.guardian_name, NAME_MAX_CHARS),
            ("--guardian-relation", details.guardian_relation, PLACE_MAX_CHARS),
            ("--guardian-phone", details.guardian_phone, PLACE_MAX_CHARS),
        ):
            if value:
                _check_typed(value, option, limit=limit)
    opened_on = occurred_on or today
    age_exception = (
        _checked_age(resident.birth_date, opened_on, checks) if checks is not None else None
    )
    state, deadline = engine.opening(workflow, opened_on, today, ctx.calendar)
    now = ctx.now()
    unlisted: list[PlaceCheck] = []
    if checks is not None:
        with db.read(ctx.engine) as connection:
            named, unlisted = _checked_places(
                org_in_force(connection),
                checks,
                township=township,
                village=village,
                school=details.school,
            )
        township, village = named["township"], named["village"]
        details = replace(details, school=named.get("school", details.school))
    child_values = {
        "name": name,
        "sex": resident.sex,
        "birth_date": resident.birth_date,
        "township": township,
        "village": village,
        "school": details.school,
        "group_name": details.group,
    }
    try:
        with db.write(ctx.engine) as connection:
            register_workflow(connection, workflow, now)
            child_id = connection.execute(
                select(CHILD.c.id).where(CHILD.c.id_number == resident.number)
            ).scalar()
            if child_id is None:
                child_id = connection.execute(
                    insert(CHILD).values(id_number=resident.number, **child_values)
                ).inserted_primary_key[0]  # type: ignore[index]
            else:
                _refuse_second_open_case(connection, child_id, masked)
                connection.execute(
                    update(CHILD).where(CHILD.c.id == child_id).values(**child_values)
                )
            if details.guardian_name:
                connection.execute(
                    insert(GUARDIAN).values(
                        child_id=child_id,
                        name=details.guardian_name.strip(),
                        relation=details.guardian_relation,
                        phone=details.guardian_phone,
                        capacity=_capacity_by_relation(details.guardian_relation),
                    )
                )
            chain = org_in_force(connection).chain(
                township, village, group=details.group, school=details.school
            )
            opened: dict[str, Any] = {
                "child_id": child_id,
                "workflow": workflow.name,
                "workflow_version": workflow.version,
                "state": state,
                "entered_on": opened_on,
                "due_on": deadline.due_on if deadline else None,
                "due_provisional": bool(deadline and deadline.provisional),
                "due_counted_with": ctx.calendar.coverage if deadline else None,
                "version": 1,
                "is_open": True,
                "opened_on": opened_on,
                "last_event_on": opened_on,
                "source": source,
                "reasons": list(reasons),
                "counters": {},
                "facts": {"evidence": dict(evidence)} if evidence else {},
                "departments": [],
                "repeat_count": 0,
                "entered_by": ctx.actor.operator,
                "came_from": [],
                "deadline_from": opened_on,
                "extended_days": 0,
                "extension_request": None,
                "ladder_version": 1,
                "next_rung": 0,
                "next_action_on": escalation.next_action_on(
                    workflow,
                    escalation.LadderPosition(state, deadline.due_on if deadline else None, 0, {}),
                    ctx.calendar,
                ),
                "township": township,
                "village": village,
                "school": details.school,
                "chain": chain,
                "created_at": now,
            }
            inserted = connection.execute(insert(CASE).values(**opened))
            number: int = inserted.inserted_primary_key[0]  # type: ignore[index]
            payload: dict[str, Any] = {
                "child": child_id,
                "id_number": masked,
                "township": township,
                "village": village,
                "school": details.school,
                "source": source,
                "reasons": list(reasons),
                **({"evidence": dict(evidence)} if evidence else {}),
                **({"unlisted": _unlisted_payload(unlisted)} if unlisted else {}),
                **({"age_exception": age_exception} if age_exception else {}),
                "state": state,
                "workflow": workflow.name,
                "workflow_version": workflow.version,
                "due_on": deadline.due_on.isoformat() if deadline else None,
                "chain": chain,
            }
            if deadline and deadline.provisional:
                payload["due_provisional"] = True
            record(
                ctx,
                connection,
                now,
                action="case.open",
                case_id=number,
                occurred_on=opened_on,
                payload=payload,
            )
    except IntegrityError as exc:
        with db.read(ctx.engine) as connection:
            child_id = connection.execute(
                select(CHILD.c.id).where(CHILD.c.id_number == resident.number)
            ).scalar()
            if child_id is not None:
                _refuse_second_open_case(connection, child_id, masked)
        raise ConcurrentUpdate(
            _(
                "another command wrote the same records at the same time; "
                "nothing was changed — run the command again"
            )
        ) from exc
    step = _case_step(ctx, workflow, SimpleNamespace(id=number, **opened), [])
    return replace(step, warnings=unlisted_warnings(unlisted))


def _require_own_place(ctx: Context, details: ChildDetails) -> None:
    """A township or school operator opens cases only for children of its own place."""
    where = ctx.actor.jurisdiction
    given = {"township": details.township.strip(), "school": (details.school or "").strip()}
    if where.kind in given and given[where.kind] != where.name:
        refusal = AccessDenied(
            _(
                "operator “{operator}” opens cases only for children of {place}; "
                "this child's {kind} is {given}"
            ).format(
                operator=ctx.actor.operator,
                place=where.name,
                kind=_(_PLACE_KINDS[where.kind]).lower(),
                given=given[where.kind] or _("not given"),
            )
        )
        log_refusal(ctx, refusal, "case open", None)
        raise refusal


def _refuse_second_open_case(connection: Connection, child_id: int, masked: str) -> None:
    existing = connection.execute(
        select(CASE.c.id, CASE.c.state).where(CASE.c.child_id == child_id, CASE.c.is_open)
    ).first()
    if existing is not None:
        raise DuplicateCase(
            _(
                "the child with resident ID {masked} already has open case {number} "
                "(state {state}); advance or note that case instead"
            ).format(masked=masked, number=existing.id, state=existing.state)
        )


def _issue_documents(
    ctx: Context,
    connection: Connection,
    number: int,
    step: Entering,
    now: datetime,
) -> list[dict[str, Any]]:
    """Queue the letters a transition issues, named in the transition's own audit event. One
    that cannot be prepared (a field the case lacks) does not stop the step: the event
    records why, and the caseworker is told how to make it."""

    outcomes: list[dict[str, Any]] = []
    for template in step.transition.documents:
        try:
            with connection.begin_nested():
                queued = queue_within(
                    ctx,
                    connection,
                    number,
                    template,
                    now=now,
                    audited=False,
                    entering=step,
                )
        except InvalidInput as exc:
            outcomes.append({"template": template, "prepared": False, "reason": exc.message})
            continue
        if not queued.ids:
            continue  # written to each carer, and the case has none
        outcomes.append(
            {
                "template": template,
                "prepared": True,
                "subject": queued.subject,
                "notices": list(queued.ids),
                "references": [reference(i) for i in queued.ids],
                "recipients": list(queued.recipients),
                "content_hash": queued.content_hash,
            }
        )
    return outcomes


def transition_code(workflow: Workflow, given: str, state: str) -> str:
    """The trigger for a transition given by its code or its label (开始核查); an unknown
    one is refused with the transitions of the case's state."""
    transitions = {t.trigger: t.label for t in workflow.transitions}
    offered = {t.trigger: t.label for t in workflow.transitions_from(state) if not t.auto}
    return resolve(given, transitions, what=_("Transition"), offered=offered)


def advance(
    ctx: Context,
    number: int,
    trigger: str,
    values: Mapping[str, str] | None = None,
    *,
    note: str | None = None,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> CaseStep:
    """Fire a transition; the result says what became of the documents it issues (letters
    queued for printing or delivery in the same transaction, or why one could not be
    prepared) and of the alert its recorded values raise, if any."""
    asked = engine.Event(
        trigger=trigger, occurred_on=occurred_on or ctx.today, values=dict(values or {}), note=note
    )
    step: list[Entering] = []

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        # The transition by its code or its label in the case's own workflow version.
        event = replace(asked, trigger=transition_code(workflow, trigger, row.state))
        outcome = engine.decide(
            workflow,
            case_snapshot(row),
            event,
            ctx.actor,
            today=ctx.today,
            calendar=ctx.calendar,
            settings=ctx.workspace.procedure,
        )
        transition = workflow.find(event.trigger, row.state)
        if transition is not None:
            step.append(Entering(transition, outcome.values, event.occurred_on))
        changes = outcome_changes(
            workflow, row, outcome, event.occurred_on, ctx.calendar, by=ctx.actor.operator
        )
        if outcome.values:
            # The trigger moves last: `recorded_values` reads the latest step's values last.
            earlier = {name: v for name, v in row.facts.items() if name != event.trigger}
            changes["facts"] = {**earlier, event.trigger: dict(outcome.values)}
        return changes, "case.transition", dict(outcome.audit), event.occurred_on

    def issue(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        # decide() has run by now and named the transition.
        entering = step[0]
        alert = queue_alert(
            ctx,
            connection,
            number,
            entering.transition,
            values=entering.values,
            occurred_on=asked.occurred_on,
            now=now,
        )
        documents = _issue_documents(ctx, connection, number, entering, now)
        return documents + ([alert] if alert else [])

    stepped = apply_decision(
        ctx, f"case advance {trigger}", number, expect_version, decide, after=issue
    )
    return _case_step(ctx, stepped.workflow, stepped.row, stepped.caused)


# ---------------------------------------------------------------------------------------
# Undoing a closure


NO_STATE_BEFORE_CLOSURE = N_(
    "The case's history holds no step before the closure; the closure cannot be undone."
)


def _state_before_closure(
    workflow: Workflow, events: Sequence[Any], closed_state: str
) -> tuple[str, list[str]]:
    """The open state a closed case was in before it was closed (past a proposed closure
    awaiting approval), with the departments it had been handed to on entering it."""
    payloads = [
        json.loads(e.payload) for e in events if e.action in ("case.transition", "case.reopen")
    ]
    moves = [p for p in payloads if p.get("from") != p.get("to")]
    index = max((i for i, m in enumerate(moves) if m.get("to") == closed_state), default=None)
    if index is None:
        raise InvalidInput(_(NO_STATE_BEFORE_CLOSURE))
    target = str(moves[index]["from"])
    handoff = list(moves[index].get("handoff") or ())
    entering = index
    while workflow.category_of(target) in ("closing", *TERMINAL_CATEGORIES):
        entering = max((i for i in range(entering) if moves[i].get("to") == target), default=-1)
        if entering < 0:
            raise InvalidInput(_(NO_STATE_BEFORE_CLOSURE))
        target = str(moves[entering]["from"])
    if entering != index:
        previous = max((i for i in range(entering) if moves[i].get("to") == target), default=-1)
        handoff = list(moves[previous].get("handoff") or ()) if previous >= 0 else []
    if target not in workflow.states:
        raise InvalidInput(
            _(
                "The step before the closure, “{state}”, is no longer in the case's workflow; "
                "the closure cannot be undone."
            ).format(state=target)
        )
    return target, handoff


def reopen(
    ctx: Context,
    number: int,
    reason: str,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> CaseStep:
    """Undo a closure (销号): a case in a state of a category the workflow's ``reopen:``
    names goes back to the open state it was in before it was closed, with a new deadline
    from the day; by the roles that section names; audited, in one transaction with a
    notice to the case's 包保 chain."""
    why = reason.strip()
    if not why:
        raise InvalidInput(_("Undoing a closure needs --reason: why it is undone."))
    day = occurred_on or ctx.today
    with probes_recorded(ctx, "case reopen", number), db.read(ctx.engine) as connection:
        seen = case_row(connection, ctx.actor, number)
        events = list(audit.events(connection, number))

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        rule = workflow.reopen
        if not ctx.actor.roles & set(rule.roles):
            names = (
                "、".join(rule.roles)
                if rule.roles
                else _("none (the workflow file has no reopen section)")
            )
            raise AccessDenied(
                _(
                    "Operator “{operator}” may not undo a closure; the roles the workflow "
                    "allows to: {roles}."
                ).format(operator=ctx.actor.operator, roles=names)
            )
        if row.version != seen.version:
            raise ConcurrentUpdate(
                _(
                    "case {number} was changed by someone else while this command ran; "
                    "nothing was changed — look again with `caseflow case show` and retry"
                ).format(number=number)
            )
        category = workflow.category_of(row.state)
        if category not in rule.categories:
            raise InvalidInput(
                _(
                    "Case {number} is “{state}”, not a closure that can be undone (the "
                    "workflow allows undoing: {categories})."
                ).format(
                    number=number,
                    state=workflow.state(row.state).label,
                    categories="、".join(rule.categories),
                )
            )
        engine.check_occurred_on(day, today=ctx.today, last_event_on=row.last_event_on)
        target, handoff = _state_before_closure(workflow, events, row.state)
        due = engine.deadline_for(workflow, target, day, ctx.calendar, ctx.workspace.procedure)
        due_on = due.due_on if due else None
        changes: dict[str, Any] = {
            "state": target,
            "entered_on": day,
            "due_on": due_on,
            "due_provisional": bool(due and due.provisional),
            "is_open": True,
            "counters": {},
            "departments": handoff,
            "came_from": [row.state],
            "entered_by": ctx.actor.operator,
            "extension_request": None,
            "deadline_from": day,
            "extended_days": 0,
            "due_counted_with": ctx.calendar.coverage if due else None,
            "ladder_version": row.version + 1,
            "next_rung": 0,
            "next_action_on": escalation.next_action_on(
                workflow, escalation.LadderPosition(target, due_on, 0, {}), ctx.calendar
            ),
        }
        payload: dict[str, Any] = {
            "from": row.state,
            "to": target,
            "reason": why,
            "due_on": due_on.isoformat() if due_on else None,
            "workflow": workflow.name,
            "workflow_version": workflow.version,
        }
        if due and due.provisional:
            payload["due_provisional"] = True
        if handoff:
            payload["handoff"] = handoff
        notice["from_label"] = workflow.state(row.state).label
        return changes, "case.reopen", payload, day

    notice: dict[str, Any] = {}

    def notify(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        return [
            _queue_reopen_notice(
                ctx, connection, number, reason=why, day=day, notice=notice, now=now
            )
        ]

    stepped = apply_decision(ctx, "case reopen", number, expect_version, decide, after=notify)
    return _case_step(ctx, stepped.workflow, stepped.row, stepped.caused)


def _queue_reopen_notice(
    ctx: Context,
    connection: Connection,
    number: int,
    *,
    reason: str,
    day: date,
    notice: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The reopening's notice to each link of the case's chain the workflow names (else
    the unit responsible for the state it is back in), one per recipient."""
    from caseflow.ids import mask_name
    from caseflow.render import render
    from caseflow.services import outbox

    row = case_row(connection, ctx.actor, number)
    workflow = stored_workflow(connection, row)
    rule = workflow.reopen
    template = rule.template or ""
    state = workflow.state(row.state)
    scope = escalation.Scope(
        row.township, row.village, row.school, tuple(row.departments), row.chain
    )
    wanted = [r for r in rule.notify if r not in CHAIN_ROLES or r in row.chain] or [
        "responsible_unit"
    ]
    recipients = list(
        dict.fromkeys(
            key for r in wanted for key in escalation.recipient_keys(r, state.responsible, scope)
        )
    )
    child_name = connection.execute(select(CHILD.c.name).where(CHILD.c.id == row.child_id)).scalar()
    org = org_in_force(connection)
    context: dict[str, Any] = {
        "today": ctx.today,
        "issuer": {"name": ctx.workspace.issuer},
        "case": {
            "number": number,
            "township": row.township,
            "village": row.village,
            "school": row.school or "",
        },
        "child": {"masked_name": mask_name(child_name or "")},
        "reopen": {
            "date": day,
            "from_label": notice.get("from_label", ""),
            "to_label": state.label,
            "reason": reason,
        },
    }
    base = outbox.key("reopen", template, number, row.version)
    drafts = []
    for index, key in enumerate(recipients):
        label = escalation.recipient_label(key, org.person_label, departments=workflow.departments)
        body = render(template, {**context, "recipient": {"name": label}})
        drafts.append(
            outbox.Draft(
                key=base if index == 0 else outbox.copy_key(base, key),
                kind="alert",
                template=template,
                recipient=key,
                case_ids=[number],
                subject=f"{outbox.title_of(body, template)}（案件{number}）",
                body=body,
            )
        )
    outbox.queue(connection, drafts, now)
    found = outbox.ids_of(connection, [draft.key for draft in drafts])
    notices = [found[draft.key] for draft in drafts]
    return {
        "template": template,
        "prepared": True,
        "subject": drafts[0].subject,
        "notices": notices,
        "references": [outbox.reference(n) for n in notices],
        "recipients": recipients,
        "content_hash": outbox.content_hash(drafts[0].body or ""),
    }


def _person_of(ctx: Context) -> str | None:
    """The org.yaml person the acting operator is, if the organisation says."""
    with db.read(ctx.engine) as connection:
        return connection.execute(
            select(OPERATOR.c.person).where(OPERATOR.c.name == ctx.actor.operator)
        ).scalar()


def _pending(row: Any) -> engine.ExtensionRequest | None:
    request = row.extension_request
    return engine.ExtensionRequest.from_json(request) if request else None


# An extension step's own decision, from the workflow, the case row and ``acting`` (the
# keyword arguments every engine extension step takes: actor, person, occurred_on, today):
# the columns it changes, the audit action and its payload.
ExtensionDecision = Callable[
    [Workflow, Any, Mapping[str, Any]], tuple[dict[str, Any], str, dict[str, Any]]
]


def _extension_step(
    ctx: Context,
    number: int,
    attempt: str,
    decide_on: ExtensionDecision,
    *,
    occurred_on: date | None,
    expect_version: int | None,
) -> CaseStep:
    """The frame every step on an extension request shares: its day, the person the
    operator is, one transaction, and where the case stands after it."""
    day = occurred_on or ctx.today
    acting = {"actor": ctx.actor, "person": _person_of(ctx), "occurred_on": day, "today": ctx.today}

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        changes, action, payload = decide_on(workflow, row, acting)
        return changes, action, payload, day

    stepped = apply_decision(ctx, attempt, number, expect_version, decide)
    return _case_step(ctx, stepped.workflow, stepped.row, [])


def request_extension(
    ctx: Context,
    number: int,
    days: int,
    reason: str,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> CaseStep:
    """Ask for a case's deadline to move later: an audited request that changes the
    deadline only once another operator with an approve role approves it."""

    def decide(
        workflow: Workflow, row: Any, acting: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        request = engine.request_extension(
            workflow, case_snapshot(row), _pending(row), days=days, reason=reason, **acting
        )
        payload = {
            "state": request.state,
            "days": request.days,
            "reason": request.reason,
            "due_on": row.due_on.isoformat(),
            "approve_roles": list(workflow.extension_approve_roles),
        }
        return {"extension_request": request.as_json()}, "case.extension_requested", payload

    return _extension_step(
        ctx, number, "case extend", decide, occurred_on=occurred_on, expect_version=expect_version
    )


def approve_extension(
    ctx: Context,
    number: int,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> CaseStep:
    """Approve a case's pending extension request (not one's own): the deadline moves and
    its ladder starts again."""

    def decide(
        workflow: Workflow, row: Any, acting: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        outcome = engine.extend(
            workflow, case_snapshot(row), _pending(row), calendar=ctx.calendar, **acting
        )
        changes = outcome_changes(
            workflow, row, outcome, acting["occurred_on"], ctx.calendar, by=ctx.actor.operator
        )
        changes["extension_request"] = None
        return changes, "case.extension", dict(outcome.audit)

    return _extension_step(
        ctx,
        number,
        "case extend --approve",
        decide,
        occurred_on=occurred_on,
        expect_version=expect_version,
    )


def reject_extension(
    ctx: Context,
    number: int,
    reason: str,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> CaseStep:
    """Reject a case's pending extension request (not one's own): the deadline stays."""

    def decide(
        workflow: Workflow, row: Any, acting: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        payload = engine.reject_extension(
            workflow, case_snapshot(row), _pending(row), reason=reason, **acting
        )
        return {"extension_request": None}, "case.extension_rejected", payload

    return _extension_step(
        ctx,
        number,
        "case extend --reject",
        decide,
        occurred_on=occurred_on,
        expect_version=expect_version,
    )


@dataclass(frozen=True)
class DetailsUpdate:
    """What a caseworker learnt about the child after opening the case (None: unchanged)."""

    school: str | None = None
    grade: str | None = None
    class_name: str | None = None
    group: str | None = None
    guardian_name: str | None = None
    guardian_relation: str | None = None
    guardian_phone: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v.strip() for k, v in self.__dict__.items() if v is not None}


def update_details(
    ctx: Context,
    number: int,
    learnt: DetailsUpdate,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
    add_groups: Sequence[str] = (),
    remove_groups: Sequence[str] = (),
    checks: Checks | None = None,
) -> tuple[str, ...]:
    """Record the child's school, grade, class, group, guardian or special groups (特殊群体,
    ``add_groups`` and ``remove_groups``, each by its label or key): an audited step
    without a state change, so letters that need them can be prepared. ``checks``: a new
    school is checked against the organisation in force (``Checks.unlisted`` accepts one
    it does not list). Returns the warnings for the operator."""
    values = learnt.given()
    changes_groups = bool(add_groups or remove_groups)
    if not values and not changes_groups:
        raise InvalidInput(
            _(
                "nothing to update; give at least one of --school, --grade, "
                "--class, --group, --guardian, --guardian-relation, --guardian-phone, "
                "--special-group, --remove-special-group"
            )
        )
    for name, value in values.items():
        option = {"guardian_name": "--guardian", "class_name": "--class"}.get(
            name, "--" + name.replace("_", "-")
        )
        limit = NAME_MAX_CHARS if name == "guardian_name" else PLACE_MAX_CHARS
        values[name] = _required_text(value, option, limit=limit)
    day = occurred_on or ctx.today
    unlisted: list[PlaceCheck] = []
    if checks is not None and "school" in values:
        with db.read(ctx.engine) as connection:
            named, unlisted = _checked_places(
                org_in_force(connection),
                checks,
                township=None,
                village=None,
                school=values["school"],
            )
        values["school"] = named["school"]
    guardian = {
        k.removeprefix("guardian_"): v for k, v in values.items() if k.startswith("guardian_")
    }
    child_changes = {
        {"group": "group_name"}.get(k, k): v
        for k, v in values.items()
        if not k.startswith("guardian_")
    }

    payload: dict[str, Any] = {}

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        engine.check_occurred_on(day, today=ctx.today, last_event_on=row.last_event_on)
        shown = {k: (mask_phone(v) if k == "guardian_phone" else v) for k, v in values.items()}
        changes = {"school": values["school"]} if "school" in values else {}
        payload["changed"] = shown
        if unlisted:
            payload["unlisted"] = _unlisted_payload(unlisted)
        return changes, "case.update", payload, day

    def write_child(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        case = connection.execute(
            select(CASE.c.child_id, CASE.c.chain).where(CASE.c.id == number)
        ).one()
        child_id = case.child_id
        if changes_groups:
            # Read and written in the step's transaction; the step's audit event (its
            # ``payload``, recorded after this) says what changed. The vocabulary in force:
            # a child's groups outlive the workflow version its case runs on.
            vocabulary = ctx.current_workflow
            held = groups.memberships(connection, [child_id]).get(child_id, [])
            adding, removing = groups.plan_changes(vocabulary, held, add_groups, remove_groups)
            groups.write_changes(connection, child_id, adding, removing, day)
            labels = vocabulary.special_groups
            payload["groups"] = {
                "added": [
                    groups.Membership(c, groups.CASEWORKER).event_item(labels) for c in adding
                ],
                "removed": [
                    groups.Membership(c, groups.CASEWORKER).event_item(labels) for c in removing
                ],
            }
        if child_changes:
            connection.execute(update(CHILD).where(CHILD.c.id == child_id).values(**child_changes))
            _refresh_chain(
                ctx,
                connection,
                now=now,
                number=number,
                child_id=child_id,
                chain=case.chain,
                day=day,
            )
        if guardian:
            first = connection.execute(
                select(GUARDIAN.c.id, GUARDIAN.c.legal_basis)
                .where(GUARDIAN.c.child_id == child_id)
                .order_by(GUARDIAN.c.id)
            ).first()
            # A relation changed by hand decides the capacity, unless a legal basis was
            # recorded for the person (民法典 art. 27).
            if "relation" in guardian and (first is None or first.legal_basis is None):
                guardian["capacity"] = _capacity_by_relation(guardian["relation"])
            if first is not None:
                connection.execute(
                    update(GUARDIAN).where(GUARDIAN.c.id == first.id).values(**guardian)
                )
            elif "name" not in guardian:
                raise InvalidInput(
                    _(
                        "case {number} has no guardian yet: give --guardian NAME "
                        "with the relation or phone"
                    ).format(number=number)
                )
            else:
                connection.execute(insert(GUARDIAN).values(child_id=child_id, **guardian))
        return []

    apply_decision(ctx, "case update", number, expect_version, decide, after=write_child)
    return unlisted_warnings(unlisted)


def _capacity_by_relation(relation: str | None) -> str:
    """A guardian recorded with the child's details: a parent is a legal guardian; anyone
    else an entrusted carer until `case guardian add --legal-basis` says otherwise."""
    return "legal" if is_parent(relation) else "carer"


@dataclass(frozen=True)
class GuardianDetails:
    """A person who looks after the child: a legal guardian (a parent, or someone else on
    the grounds of 民法典 art. 27, given as ``legal_basis``) or an entrusted carer
    (``carer``: 被委托照护人, 未成年人保护法 art. 22)."""

    name: str
    relation: str
    phone: str | None = None
    workplace: str | None = None
    legal_basis: str | None = None
    carer: bool = False

    def capacity(self) -> str:
        """``legal`` or ``carer``; refuses what the law does not allow."""
        basis = (self.legal_basis or "").strip()
        if self.carer and basis:
            raise InvalidInput(
                _(
                    "give either --carer (an entrusted carer) or --legal-basis (a legal "
                    "guardian under 民法典第二十七条), not both"
                )
            )
        if is_parent(self.relation):
            if self.carer:
                raise InvalidInput(
                    _(
                        "a {relation} is the child's legal guardian (民法典第二十七条："
                        "父母是未成年子女的监护人); record a parent without --carer"
                    ).format(relation=self.relation.strip())
                )
            return "legal"
        if self.carer:
            return "carer"
        if not basis:
            raise InvalidInput(
                _(
                    "a {relation} is a legal guardian only on the grounds of "
                    "民法典第二十七条 (the parents have died or cannot act as guardians): give "
                    "--legal-basis with those grounds, or --carer for an entrusted carer "
                    "(被委托照护人, 未成年人保护法第二十二条), such as the grandparent of a "
                    "left-behind child"
                ).format(relation=self.relation.strip())
            )
        return "legal"


def add_guardian(
    ctx: Context, number: int, person: GuardianDetails, *, occurred_on: date | None = None
) -> None:
    """Record one more person who looks after the child, in the capacity the law gives
    them: an audited step without a state change."""
    values = {
        "name": _required_text(person.name, _("The name (--name)"), limit=NAME_MAX_CHARS),
        "relation": _required_text(
            person.relation, _("The relation (--relation)"), limit=PLACE_MAX_CHARS
        ),
        "phone": (person.phone or "").strip() or None,
        "workplace": (person.workplace or "").strip() or None,
        "capacity": person.capacity(),
        "legal_basis": (person.legal_basis or "").strip() or None,
    }
    day = occurred_on or ctx.today

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        if not row.is_open:
            raise TransitionRefused(
                _("case {number} is closed ({state}); it cannot change").format(
                    number=number, state=row.state
                )
            )
        engine.check_occurred_on(day, today=ctx.today, last_event_on=row.last_event_on)
        shown = {
            k: (mask_phone(v) if k == "phone" else v) for k, v in values.items() if v is not None
        }
        return {}, "case.guardian", {"added": shown}, day

    def write(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        child_id = connection.execute(select(CASE.c.child_id).where(CASE.c.id == number)).scalar()
        connection.execute(insert(GUARDIAN).values(child_id=child_id, **values))
        return []

    apply_decision(ctx, "case guardian add", number, None, decide, after=write)


def _refresh_chain(
    ctx: Context,
    connection: Connection,
    *,
    now: datetime,
    number: int,
    child_id: int,
    chain: Mapping[str, str],
    day: date,
) -> None:
    """The child's school, class or group changed: the chain follows, as an audited step."""
    child = connection.execute(select(CHILD).where(CHILD.c.id == child_id)).one()
    fresh = org_in_force(connection).chain(
        child.township,
        child.village,
        group=child.group_name,
        school=child.school,
        grade=child.grade,
        class_name=child.class_name,
    )
    if fresh == dict(chain):
        return
    connection.execute(update(CASE).where(CASE.c.id == number).values(chain=fresh))
    record(
        ctx,
        connection,
        now,
        action="case.chain",
        case_id=number,
        occurred_on=day,
        payload={"from": dict(chain), "to": fresh},
    )


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "*" * len(phone)


def add_finding(ctx: Context, number: int, evidence: Mapping[str, Any]) -> None:
    """New evidence for an open case (e.g. a comparison flag it did not have): recorded in
    the case file and the audit, without a state change."""

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        if workflow.state(row.state).is_terminal:
            raise TransitionRefused(
                _("case {number} is closed; findings go on open cases").format(number=number)
            )
        facts = {**row.facts, "evidence": {**row.facts.get("evidence", {}), **evidence}}
        day = max(ctx.today, row.last_event_on)
        return {"facts": facts}, "case.finding", {"evidence": dict(evidence)}, day

    apply_decision(ctx, "case finding", number, None, decide)


def add_note(
    ctx: Context,
    number: int,
    note_text: str,
    *,
    method: str = "visit",
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> None:
    """A logged persuasion attempt or remark: an audit event without a state change."""
    method = resolve(method, NOTE_METHODS, what=_("Method"))
    content = _required_text(note_text, _("The note"), limit=NOTE_MAX_CHARS)
    day = occurred_on or ctx.today

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        snapshot = case_snapshot(row)
        if workflow.state(snapshot.state).is_terminal:
            raise TransitionRefused(
                _("case {number} is closed ({state}); notes go on open cases").format(
                    number=number, state=snapshot.state
                )
            )
        engine.check_occurred_on(day, today=ctx.today, last_event_on=snapshot.last_event_on)
        return {}, "case.note", {"method": method, "text": content, "state": snapshot.state}, day

    apply_decision(ctx, "case note", number, expect_version, decide)


# ---------------------------------------------------------------------------------------
# Reading


def _case_events(connection: Connection, number: int) -> list[dict[str, Any]]:
    """What happened to the case; who read it is in the audit log, not in its history."""
    return [
        event_view(row) for row in audit.events(connection, number) if row.action != "case.read"
    ]


def history(ctx: Context, number: int) -> list[dict[str, Any]]:
    with probes_recorded(ctx, "case history", number), db.write(ctx.engine) as connection:
        case_row(connection, ctx.actor, number)
        log_read(ctx, connection, "case history", [number])
        return _case_events(connection, number)


def show_case(ctx: Context, number: int) -> dict[str, Any]:
    with probes_recorded(ctx, "case show", number), db.write(ctx.engine) as connection:
        row = case_row(connection, ctx.actor, number)
        log_read(ctx, connection, "case show", [number])
        workflow = stored_workflow(connection, row)
        child = connection.execute(select(CHILD).where(CHILD.c.id == row.child_id)).one()
        guardians = connection.execute(
            select(GUARDIAN).where(GUARDIAN.c.child_id == row.child_id).order_by(GUARDIAN.c.id)
        ).all()
        events = _case_events(connection, number)
        held = groups.memberships(connection, [row.child_id]).get(row.child_id, [])
        fired = connection.execute(
            select(ESCALATION).where(ESCALATION.c.case_id == number).order_by(ESCALATION.c.id)
        ).all()
        chain = describe_chain(org_in_force(connection), row.chain)
    state = workflow.state(row.state)
    snapshot = case_snapshot(row)
    reveal = bool(ctx.actor.roles & ctx.workspace.reveal_roles)
    return {
        "number": row.id,
        "state": row.state,
        "state_label": state.label,
        "is_open": row.is_open,
        "workflow": row.workflow,
        "workflow_version": row.workflow_version,
        "version": row.version,
        "opened_on": row.opened_on.isoformat(),
        "entered_on": row.entered_on.isoformat(),
        "due_on": row.due_on.isoformat() if row.due_on else None,
        "due_provisional": row.due_provisional,
        "overdue": bool(row.is_open and row.due_on and row.due_on < ctx.today),
        "deadline_basis": state.deadline.basis if state.deadline else None,
        "responsible": state.responsible,
        "responsible_label": RESPONSIBLE.get(state.responsible or "", None),
        "departments": [
            {"id": d, "label": workflow.departments.get(d, d)} for d in row.departments
        ],
        "chain": chain,
        "source": row.source,
        "reasons": list(row.reasons),
        "repeat_count": row.repeat_count,
        "facts": dict(row.facts),
        "child": {
            "name": child.name,
            "id_number": mask_id_number(child.id_number),
            "sex": child.sex,
            # The masked ID, the birth date and the public region code rebuild the number.
            "birth_date": child.birth_date.isoformat() if reveal else None,
            "township": child.township,
            "village": child.village,
            "group": child.group_name,
            "school": child.school,
        },
        # The vocabulary in force names them: a child's groups are not the case's version's.
        "special_groups": groups.shown(held, ctx.current_workflow.special_groups),
        "guardians": [
            {
                "name": g.name,
                "relation": g.relation,
                # Masked as in the history, unless the reader may reveal.
                "phone": g.phone if reveal or not g.phone else mask_phone(g.phone),
                "workplace": g.workplace,
                "capacity": g.capacity,
                "capacity_label": GUARDIAN_CAPACITIES.get(g.capacity, g.capacity),
                "legal_basis": g.legal_basis,
            }
            for g in guardians
        ],
        "transitions": _possible_now(ctx, workflow, snapshot),
        "extension_request": _extension_view(workflow, row, events),
        "next_escalation_on": row.next_action_on.isoformat() if row.next_action_on else None,
        "escalations": [
            {
                "state": e.state,
                "level": e.rung + 1,
                "due_on": e.due_on.isoformat(),
                "fired_on": e.fired_on.isoformat(),
                "days_overdue": e.days_overdue,
                "recipients": list(e.recipients),
                "current": e.ladder_version == row.ladder_version,
            }
            for e in fired
        ],
        "history": events,
    }


def _extension_view(
    workflow: Workflow, row: Any, events: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The pending extension request (who, when, how long, why, who may decide), or the
    last one if it lapsed when the case entered its current state; else None."""
    roles = list(workflow.extension_approve_roles)
    pending = _pending(row)
    if pending is not None:
        return {"status": "pending", **pending.as_json(), "approve_roles": roles}
    asked: Mapping[str, Any] | None = None
    lapsed: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None
    for event in events:
        if event["action"] == "case.extension_requested":
            asked, lapsed = event, None
        elif event["action"] in ("case.extension", "case.extension_rejected"):
            asked = None
        elif event["action"] == "case.transition" and event["from"] != event["to"]:
            lapsed = (asked, event) if asked is not None else None
            asked = None
    if lapsed is None or not row.is_open:
        return None
    request, left = lapsed
    return {
        "status": "lapsed",
        "state": request["payload"]["state"],
        "days": request["payload"]["days"],
        "reason": request["payload"]["reason"],
        "requested_on": request["occurred_on"],
        "operator": request["operator"],
        "lapsed_on": left["occurred_on"],
        "approve_roles": roles,
    }


def describe_chain(org: Org, chain: Mapping[str, str]) -> list[dict[str, str]]:
    """The 包保 chain's links in order, each with the role's and the person's names."""
    return [
        {
            "role": role,
            "role_label": POSITIONS.get(role, role),
            "person": chain[role],
            "label": org.person_label(chain[role]),
        }
        for role in CHAIN_ROLES
        if role in chain
    ]


def list_cases(
    ctx: Context,
    *,
    state: str | None = None,
    township: str | None = None,
    overdue: bool = False,
    include_closed: bool = False,
    special_group: str | None = None,
) -> list[dict[str, Any]]:
    """The cases the operator may see, with the filters given; ``special_group``: only
    children in that special group (its label or key), by any source."""
    group = groups.resolve_group(ctx.current_workflow, special_group) if special_group else None
    if state:
        state = resolve(state, state_labels(ctx), what=_("State"))
    query = (
        select(
            CASE.c.id,
            CASE.c.state,
            CASE.c.due_on,
            CASE.c.due_provisional,
            CASE.c.township,
            CASE.c.village,
            CASE.c.school,
            CASE.c.is_open,
            CHILD.c.name,
            CHILD.c.id_number,
        )
        .join(CHILD, CHILD.c.id == CASE.c.child_id)
        .order_by(CASE.c.id)
    )
    if state:
        query = query.where(CASE.c.state == state)
    elif not include_closed:
        query = query.where(CASE.c.is_open)
    if township:
        query = query.where(CASE.c.township == township)
    if overdue:
        query = query.where(CASE.c.is_open, CASE.c.due_on < ctx.today)
    if group is not None:
        query = query.where(
            exists().where(
                groups.CHILD_GROUP.c.child_id == CASE.c.child_id,
                groups.CHILD_GROUP.c.code == group,
            )
        )
    with db.write(ctx.engine) as connection:
        rows = connection.execute(scoped(query, ctx.actor)).all()
        if rows:
            filters = {
                "state": state,
                "township": township,
                "overdue": overdue,
                "special_group": group,
            }
            asked = {k: v for k, v in filters.items() if v}
            log_read(ctx, connection, "case list", [row.id for row in rows], **asked)
    return [
        {
            "number": row.id,
            "state": row.state,
            "due_on": row.due_on.isoformat() if row.due_on else None,
            "due_provisional": row.due_provisional,
            "overdue": bool(row.is_open and row.due_on and row.due_on < ctx.today),
            "name": row.name,
            "id_number": mask_id_number(row.id_number),
            "township": row.township,
            "village": row.village,
            "school": row.school,
        }
        for row in rows
    ]


def state_labels(ctx: Context) -> dict[str, str]:
    return {sid: s.label for sid, s in ctx.current_workflow.states.items()}


# ---------------------------------------------------------------------------------------
# Audit


# ---------------------------------------------------------------------------------------
# Workflow files (no database needed)


@dataclass
class Opening:
    opened: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)  # open cases that got new flags
    unchanged: int = 0  # open cases that already had every flag
    not_reopened: int = 0  # closed as not a dropout, and no new flag since
    # The special groups the 扶贫 and 残疾人 registers set on children with cases.
    register_groups: groups.Synced | None = None


def _cases_of(connection: Any, id_number: str) -> list[Any]:
    case, child = CASE, CHILD
    return list(
        connection.execute(
            select(case.c.id, case.c.is_open, case.c.facts)
            .join(child, child.c.id == case.c.child_id)
            .where(child.c.id_number == id_number)
            .order_by(case.c.id.desc())
        ).all()
    )


def _flags_of(facts: Any) -> set[str]:
    return set((facts or {}).get("evidence", {}).get("roster_flags", []))


def open_cases(ctx: Context, comparison: Comparison, *, dry_run: bool = False) -> Opening:
    """A case in ``identified`` for each suspect (source ``roster``, the flags as evidence);
    a child with an open case gets the new flags added to it instead; a child whose last
    case was closed is only opened again for a flag that was not there when it closed.
    Disabled suspects start on the disability route. Running it twice opens nothing new."""
    result = Opening()
    for suspect in comparison.suspects:
        with db.read(ctx.engine) as connection:
            cases = _cases_of(connection, suspect.id_number)
        flags = set(suspect.flags)
        evidence = {
            "roster_flags": sorted(flags),
            "reference_date": comparison.reference_date.isoformat(),
        }
        if suspect.poor:
            evidence["poverty"] = suspect.poor
        if suspect.disability:
            evidence["disability"] = suspect.disability
        latest = cases[0] if cases else None
        if latest is not None and latest.is_open:
            new = flags - _flags_of(latest.facts)
            if not new:
                result.unchanged += 1
                continue
            if not dry_run:
                merged = sorted(flags | _flags_of(latest.facts))
                add_finding(ctx, latest.id, {**evidence, "roster_flags": merged})
            result.added.append(latest.id)
            continue
        if latest is not None and not flags - _flags_of(latest.facts):
            result.not_reopened += 1
            continue
        if dry_run:
            result.opened.append(0)
            continue
        details = ChildDetails(
            name=suspect.name or "（姓名待核实）",
            id_number=suspect.id_number,
            township=suspect.township or UNKNOWN_PLACE,
            village=suspect.village or UNKNOWN_PLACE,
            school=suspect.school,
        )
        number = open_case(ctx, details, source="roster", evidence=evidence).number
        referral = ctx.current_workflow.route("disabled_child_found")
        if suspect.disability and referral is not None:
            advance(ctx, number, referral)
        result.opened.append(number)
    if not dry_run:
        result.register_groups = groups.sync_register_groups(ctx)
    return result
