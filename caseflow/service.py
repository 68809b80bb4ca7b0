"""Use cases, one transaction each. The only place that wires the pure core (engine,
states, calendar, ids) to the database and the clock."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from caseflow import access, audit, db, engine, escalation
from caseflow.access import Jurisdiction
from caseflow.calendar import WorkCalendar
from caseflow.engine import Actor
from caseflow.errors import (
    AccessDenied,
    ConcurrentUpdate,
    DuplicateCase,
    InvalidInput,
    TransitionRefused,
    WorkflowInvalid,
    WorkspaceError,
)
from caseflow.ids import mask_id_number, parse_id_number
from caseflow.org import CHAIN_ROLES, POSITIONS, Org
from caseflow.records import (
    CASE,
    CHILD,
    ESCALATION,
    GUARDIAN,
    OPERATOR,
    WORKFLOW,
    case_row,
    log_read,
    log_refusal,
    note_referrals,
    org_in_force,
    record,
    require,
    scoped,
)
from caseflow.resources import shipped
from caseflow.states import (
    CASE_SOURCES,
    DEPARTMENTS,
    RESPONSIBLE,
    Problem,
    TemplateCatalogue,
    Transition,
    Workflow,
    dot,
    find_workflow_file,
    load_workflow,
    load_workflow_text,
    mermaid,
    parse_workflow,
)
from caseflow.workspace import (
    Workspace,
    create,
    discard,
    load,
    locate,
    national_calendar,
    workspace_calendar,
)

SCHEMA_HEAD = "0007"
INITIAL_ROLES = ("bureau", "admin")


Clock = Callable[[], datetime]


def os_user() -> str:
    """The real account running this process (effective uid), not ``$USER``."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    workspace: Workspace
    engine: Engine
    actor: Actor
    clock: Clock = system_clock
    calendar: WorkCalendar = field(default_factory=lambda: WorkCalendar(national_calendar()))

    def now(self) -> datetime:
        return self.clock()

    @property
    def today(self) -> date:
        return self.now().astimezone(self.workspace.timezone).date()

    @cached_property
    def current_workflow(self) -> Workflow:
        name = self.workspace.default_workflow
        return load_workflow(find_workflow_file(name, self.workspace.workflow_dirs))


# ---------------------------------------------------------------------------------------
# Workspaces, operators, workflows


def init_workspace(
    root: Path,
    database_url: str | None = None,
    *,
    county: str = "本县",
    clock: Clock = system_clock,
) -> tuple[Workspace, str]:
    """Create the workspace files and schema, and make the OS account running this the first
    operator (bureau + admin). Returns the workspace and the operator name."""
    workspace = create(root, database_url, county)
    sqlite_file = db.sqlite_path(workspace.database_url)
    fresh_file = sqlite_file is not None and not sqlite_file.exists()
    db_engine: Engine | None = None
    try:
        db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
        user = os_user()
        now = clock()
        with db.write(db_engine) as connection:
            db.upgrade_within(connection)
            existing = connection.execute(select(OPERATOR.c.name)).first()
            if existing is not None:
                raise WorkspaceError(
                    f"the database at {workspace.database_url} already has "
                    "operators; it belongs to another workspace"
                )
            connection.execute(
                insert(OPERATOR).values(
                    name=user,
                    os_user=user,
                    roles=",".join(INITIAL_ROLES),
                    jurisdiction="county",
                    created_at=now,
                )
            )
            audit.append(
                connection,
                action="workspace.init",
                operator=user,
                os_user=user,
                recorded_at=now,
                payload={"operator": user, "roles": list(INITIAL_ROLES), "jurisdiction": "county"},
            )
    except BaseException:
        if db_engine is not None:
            db_engine.dispose()
        discard(workspace, sqlite_file if fresh_file else None)
        raise
    db_engine.dispose()
    return workspace, user


def _check_schema(db_engine: Engine) -> None:
    with db.read(db_engine) as connection:
        revision = None
        if inspect(connection).has_table("alembic_version"):
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision is None:
        raise WorkspaceError(
            "the database has no caseflow schema; create the workspace with "
            "`caseflow init` or run `caseflow db upgrade`"
        )
    if revision != SCHEMA_HEAD:
        raise WorkspaceError(
            f"the database schema is at revision {revision}, this caseflow "
            f"expects {SCHEMA_HEAD}; run `caseflow db upgrade`"
        )


def resolve_actor(connection: Connection, user: str, acting_as: str | None = None) -> Actor:
    """The operator this OS account is, or, with ``acting_as``, acts for: allowed only when
    it is that operator's own account or one of its shared terminals' accounts."""
    if acting_as is None:
        rows = connection.execute(select(OPERATOR).where(OPERATOR.c.os_user == user)).all()
        if not rows:
            shared = _operators_shared_with(connection, user)
            hint = (
                f"; on this shared account choose one with --as ({', '.join(shared)})"
                if shared
                else "; ask the workspace admin to add it to org.yaml and `caseflow org apply`"
            )
            raise AccessDenied(f"OS account {user!r} is not an operator of this workspace{hint}")
        if len(rows) > 1:
            names = ", ".join(sorted(row.name for row in rows))
            raise AccessDenied(f"OS account {user!r} acts for several operators ({names})")
        row = rows[0]
    else:
        named = connection.execute(select(OPERATOR).where(OPERATOR.c.name == acting_as)).first()
        if named is None or (named.os_user != user and user not in _listed(named.shared_accounts)):
            raise AccessDenied(
                f"OS account {user!r} may not act as {acting_as!r}; the organisation file must "
                "list it among that operator's shared_accounts"
            )
        row = named
    return Actor(
        operator=row.name,
        os_user=user,
        roles=frozenset(_listed(row.roles)),
        jurisdiction=Jurisdiction.parse(row.jurisdiction),
    )


def _listed(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _operators_shared_with(connection: Connection, user: str) -> list[str]:
    rows = connection.execute(select(OPERATOR.c.name, OPERATOR.c.shared_accounts)).all()
    return sorted(row.name for row in rows if user in _listed(row.shared_accounts))


def open_context(
    explicit: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    clock: Clock = system_clock,
    migrate: bool = False,
    acting_as: str | None = None,
) -> Context:
    root = locate(explicit, os.environ if environ is None else environ, cwd or Path.cwd())
    workspace = load(root)
    db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
    if migrate:
        db.upgrade(db_engine)
    _check_schema(db_engine)
    with db.read(db_engine) as connection:
        actor = resolve_actor(connection, os_user(), acting_as)
    return Context(
        workspace=workspace,
        engine=db_engine,
        actor=actor,
        clock=clock,
        calendar=workspace_calendar(workspace),
    )


_WORKFLOW_CACHE: dict[str, Workflow] = {}
_WORKFLOW_SOURCE = select(WORKFLOW.c.source).where(WORKFLOW.c.sha256 == bindparam("sha"))


def _register_workflow(connection: Connection, workflow: Workflow, now: datetime) -> None:
    """Store the definition a case runs on, so editing the file never changes open cases."""
    stored = connection.execute(
        select(WORKFLOW.c.sha256).where(
            WORKFLOW.c.name == workflow.name, WORKFLOW.c.version == workflow.version
        )
    ).scalar()
    if stored is None:
        connection.execute(
            insert(WORKFLOW).values(
                name=workflow.name,
                version=workflow.version,
                sha256=workflow.sha256,
                source=workflow.source,
                registered_at=now,
            )
        )
    elif stored != workflow.sha256:
        raise WorkflowInvalid(
            f"workflow {workflow.name!r} version {workflow.version} was edited "
            "after cases started on it; raise its `version` so existing cases "
            "keep the definition they started with"
        )


def stored_workflow(connection: Connection, row: Any) -> Workflow:
    """The definition a case row runs on, parsed once per process (keyed by its hash)."""
    workflow = _WORKFLOW_CACHE.get(row.workflow_sha)
    if workflow is None:
        source = connection.execute(_WORKFLOW_SOURCE, {"sha": row.workflow_sha}).scalar_one()
        workflow = load_workflow_text(source, f"{row.workflow} v{row.workflow_version} (stored)")
        _WORKFLOW_CACHE[row.workflow_sha] = workflow
    return workflow


# ---------------------------------------------------------------------------------------
# Cases


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


def _required_text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{what} must not be empty")
    return cleaned


def open_case(
    ctx: Context,
    details: ChildDetails,
    *,
    source: str = "manual",
    reasons: Sequence[str] = (),
    occurred_on: date | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> int:
    """Open a case in the workflow's initial state; returns the case number."""
    require(ctx, access.CASE_OPENERS, "case open")
    _require_own_place(ctx, details)
    today = ctx.today
    resident = parse_id_number(details.id_number, today=today)
    masked = mask_id_number(resident.number)
    if details.sex is not None and details.sex != resident.sex:
        raise InvalidInput(
            f"sex {details.sex} disagrees with resident ID {masked}, which encodes {resident.sex}"
        )
    if details.birth_date is not None and details.birth_date != resident.birth_date:
        raise InvalidInput(
            f"birth date {details.birth_date.isoformat()} disagrees with resident ID {masked}"
        )
    if source not in CASE_SOURCES:
        raise InvalidInput(f"source {source!r} is unknown; use one of: {', '.join(CASE_SOURCES)}")
    workflow = ctx.current_workflow
    for reason in reasons:
        if reason not in workflow.dropout_reasons:
            raise InvalidInput(
                f"reason {reason!r} is unknown; use one of: {', '.join(workflow.dropout_reasons)}"
            )
    name = _required_text(details.name, "name")
    township = _required_text(details.township, "township")
    village = _required_text(details.village, "village")
    opened_on = occurred_on or today
    state, deadline = engine.opening(workflow, opened_on, today, ctx.calendar)
    now = ctx.now()
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
            _register_workflow(connection, workflow, now)
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
                    )
                )
            chain = org_in_force(connection).chain(
                township, village, group=details.group, school=details.school
            )
            number: int = connection.execute(
                insert(CASE).values(
                    child_id=child_id,
                    workflow=workflow.name,
                    workflow_version=workflow.version,
                    state=state,
                    entered_on=opened_on,
                    due_on=deadline.due_on if deadline else None,
                    due_provisional=bool(deadline and deadline.provisional),
                    due_counted_with=ctx.calendar.coverage if deadline else None,
                    version=1,
                    is_open=True,
                    opened_on=opened_on,
                    last_event_on=opened_on,
                    source=source,
                    reasons=list(reasons),
                    counters={},
                    facts={"evidence": dict(evidence)} if evidence else {},
                    departments=[],
                    repeat_count=0,
                    deadline_from=opened_on,
                    extended_days=0,
                    ladder_version=1,
                    next_rung=0,
                    next_action_on=escalation.next_action_on(
                        workflow,
                        escalation.LadderPosition(
                            state, deadline.due_on if deadline else None, 0, {}
                        ),
                        ctx.calendar,
                    ),
                    township=township,
                    village=village,
                    school=details.school,
                    chain=chain,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            payload: dict[str, Any] = {
                "child": child_id,
                "id_number": masked,
                "township": township,
                "village": village,
                "school": details.school,
                "source": source,
                "reasons": list(reasons),
                **({"evidence": dict(evidence)} if evidence else {}),
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
            "another command wrote the same records at the same time; "
            "nothing was changed — run the command again"
        ) from exc
    return number


def _require_own_place(ctx: Context, details: ChildDetails) -> None:
    """A township or school operator opens cases only for children of its own place."""
    where = ctx.actor.jurisdiction
    given = {"township": details.township.strip(), "school": (details.school or "").strip()}
    if where.kind in given and given[where.kind] != where.name:
        refusal = AccessDenied(
            f"operator {ctx.actor.operator!r} opens cases only for children of {where.name}; "
            f"this child's {where.kind} is {given[where.kind] or 'not given'}"
        )
        log_refusal(ctx, refusal, "case open", None)
        raise refusal


def _refuse_second_open_case(connection: Connection, child_id: int, masked: str) -> None:
    existing = connection.execute(
        select(CASE.c.id, CASE.c.state).where(CASE.c.child_id == child_id, CASE.c.is_open)
    ).first()
    if existing is not None:
        raise DuplicateCase(
            f"the child with resident ID {masked} already has open case "
            f"{existing.id} (state {existing.state}); advance or note that case "
            "instead"
        )


def _snapshot(row: Any) -> engine.CaseSnapshot:
    return engine.CaseSnapshot(
        number=row.id,
        state=row.state,
        entered_on=row.entered_on,
        due_on=row.due_on,
        due_provisional=row.due_provisional,
        version=row.version,
        last_event_on=row.last_event_on,
        counters=dict(row.counters),
        repeat_count=row.repeat_count,
        departments=tuple(row.departments),
    )


_CASE_STEP = update(CASE).where(
    CASE.c.id == bindparam("b_number"), CASE.c.version == bindparam("b_version")
)


def _apply(
    ctx: Context,
    attempt: str,
    number: int,
    expect_version: int | None,
    decide: Callable[[Workflow, Any], tuple[dict[str, Any], str, dict[str, Any], date]],
    *,
    after: Callable[[Connection, datetime], list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Read, decide and write the update with its audit event in one transaction; then
    ``after`` (in the same transaction) writes what the step causes, such as letters.

    On SQLite the read already happens under the write lock; on PostgreSQL another
    writer can slip in between, and the version check in the UPDATE catches it.
    A refusal for want of a role is logged after the step rolled back."""
    require(ctx, access.CASE_WRITERS, attempt, case_id=number)
    try:
        return _apply_within(ctx, number, expect_version, decide, after)
    except AccessDenied as refusal:
        log_refusal(ctx, refusal, attempt, number)
        raise


def apply_step(
    ctx: Context,
    attempt: str,
    number: int,
    action: str,
    change: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """A step on an open case that changes some of its columns without a transition:
    ``change`` gives the columns and the audit payload from the case row."""

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        if not row.is_open:
            raise TransitionRefused(f"case {number} is closed ({row.state}); it cannot change")
        changes, payload = change(row)
        return changes, action, payload, ctx.today

    _apply(ctx, attempt, number, None, decide)


def _apply_within(
    ctx: Context,
    number: int,
    expect_version: int | None,
    decide: Callable[[Workflow, Any], tuple[dict[str, Any], str, dict[str, Any], date]],
    after: Callable[[Connection, datetime], list[dict[str, Any]]] | None,
) -> list[dict[str, Any]]:
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        row = case_row(connection, ctx.actor, number)
        if expect_version is not None and row.version != expect_version:
            raise ConcurrentUpdate(
                f"case {number} is at version {row.version}, not "
                f"{expect_version}: someone changed it; look again with "
                "`caseflow case show` and retry"
            )
        workflow = stored_workflow(connection, row)
        changes, action, payload, occurred_on = decide(workflow, row)
        result = connection.execute(
            _CASE_STEP,
            {
                "b_number": number,
                "b_version": row.version,
                "version": row.version + 1,
                "last_event_on": occurred_on,
                **changes,
            },
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(
                f"case {number} was changed by someone else while this "
                "command ran; nothing was changed — look again with "
                "`caseflow case show` and retry"
            )
        referred = [d for d in changes.get("departments", ()) if d not in row.departments]
        if referred:
            note_referrals(connection, number, referred, occurred_on)
        caused = after(connection, now) if after else []
        if caused:
            payload = {**payload, "documents": caused}
        record(
            ctx,
            connection,
            now,
            action=action,
            case_id=number,
            occurred_on=occurred_on,
            payload=payload,
        )
        return caused


def _issue_documents(
    ctx: Context,
    connection: Connection,
    number: int,
    step: tuple[Transition, Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Queue the letters a transition issues, named in the transition's own audit event. One
    that cannot be prepared (a field the case lacks) does not stop the step: the event
    records why, and the caseworker is told how to make it."""
    from caseflow.service_dispatch import reference
    from caseflow.service_documents import queue_within

    transition = step[0]
    outcomes: list[dict[str, Any]] = []
    for template in transition.documents:
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


def advance(
    ctx: Context,
    number: int,
    trigger: str,
    values: Mapping[str, str] | None = None,
    *,
    note: str | None = None,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> list[dict[str, Any]]:
    """Fire a transition; returns what became of the documents it issues (letters queued
    for printing or delivery in the same transaction, or why one could not be prepared)."""
    event = engine.Event(
        trigger=trigger, occurred_on=occurred_on or ctx.today, values=dict(values or {}), note=note
    )
    step: list[tuple[Transition, Mapping[str, Any]]] = []

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        outcome = engine.decide(
            workflow, _snapshot(row), event, ctx.actor, today=ctx.today, calendar=ctx.calendar
        )
        transition = workflow.find(trigger, row.state)
        if transition is not None and transition.documents:
            step.append((transition, outcome.values))
        changes = outcome_changes(workflow, row, outcome, event.occurred_on, ctx.calendar)
        if outcome.values:
            changes["facts"] = {**row.facts, trigger: dict(outcome.values)}
        return changes, "case.transition", dict(outcome.audit), event.occurred_on

    def issue(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        # decide() has run by now and named the transition, if it issues documents.
        return _issue_documents(ctx, connection, number, step[0], now) if step else []

    return _apply(ctx, f"case advance {trigger}", number, expect_version, decide, after=issue)


def outcome_changes(
    workflow: Workflow,
    row: Any,
    outcome: engine.Outcome,
    occurred_on: date,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    """The case columns an outcome sets, including where its escalation ladder stands."""
    terminal = workflow.state(outcome.state).is_terminal
    changes: dict[str, Any] = {
        "state": outcome.state,
        "entered_on": outcome.entered_on,
        "due_on": outcome.due.due_on if outcome.due else None,
        "due_provisional": bool(outcome.due and outcome.due.provisional),
        "is_open": not terminal,
        "counters": dict(outcome.counters),
        "repeat_count": outcome.repeat_count,
        "departments": list(outcome.departments),
    }
    next_rung = row.next_rung
    if outcome.extended_days:
        changes["extended_days"] = row.extended_days + outcome.extended_days
    elif outcome.deadline_reset:
        changes["deadline_from"] = occurred_on
        changes["extended_days"] = 0
        changes["due_counted_with"] = calendar.coverage if outcome.due else None
    if outcome.deadline_reset:
        next_rung = 0
        changes["ladder_version"] = row.version + 1
    changes["next_rung"] = next_rung
    position = escalation.LadderPosition(
        outcome.state, changes["due_on"], next_rung, outcome.counters
    )
    changes["next_action_on"] = (
        None if terminal else escalation.next_action_on(workflow, position, calendar)
    )
    return changes


def extend(
    ctx: Context,
    number: int,
    days: int,
    reason: str,
    *,
    occurred_on: date | None = None,
    expect_version: int | None = None,
) -> None:
    """Move a case's deadline later: an audited decision that re-plans its ladder."""
    day = occurred_on or ctx.today

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        outcome = engine.extend(
            workflow,
            _snapshot(row),
            days=days,
            reason=reason,
            actor=ctx.actor,
            occurred_on=day,
            today=ctx.today,
            calendar=ctx.calendar,
        )
        changes = outcome_changes(workflow, row, outcome, day, ctx.calendar)
        return changes, "case.extension", dict(outcome.audit), day

    _apply(ctx, "case extend", number, expect_version, decide)


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
    ctx: Context, number: int, learnt: DetailsUpdate, *, occurred_on: date | None = None
) -> None:
    """Record the child's school, grade, class, group or guardian: an audited step without a
    state change, so letters that need them can be prepared."""
    values = learnt.given()
    if not values:
        raise InvalidInput(
            "nothing to update; give at least one of --school, --grade, "
            "--class, --group, --guardian, --guardian-relation, --guardian-phone"
        )
    for name, value in values.items():
        if not value:
            raise InvalidInput(f"{name.replace('_', '-')} must not be empty")
    day = occurred_on or ctx.today
    guardian = {
        k.removeprefix("guardian_"): v for k, v in values.items() if k.startswith("guardian_")
    }
    child_changes = {
        {"group": "group_name"}.get(k, k): v
        for k, v in values.items()
        if not k.startswith("guardian_")
    }

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        engine.check_occurred_on(day, today=ctx.today, last_event_on=row.last_event_on)
        shown = {k: (mask_phone(v) if k == "guardian_phone" else v) for k, v in values.items()}
        changes = {"school": values["school"]} if "school" in values else {}
        return changes, "case.update", {"changed": shown}, day

    def write_child(connection: Connection, now: datetime) -> list[dict[str, Any]]:
        case = connection.execute(
            select(CASE.c.child_id, CASE.c.chain).where(CASE.c.id == number)
        ).one()
        child_id = case.child_id
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
                select(GUARDIAN.c.id).where(GUARDIAN.c.child_id == child_id).order_by(GUARDIAN.c.id)
            ).first()
            if first is not None:
                connection.execute(
                    update(GUARDIAN).where(GUARDIAN.c.id == first.id).values(**guardian)
                )
            elif "name" not in guardian:
                raise InvalidInput(
                    f"case {number} has no guardian yet: give --guardian NAME "
                    "with the relation or phone"
                )
            else:
                connection.execute(insert(GUARDIAN).values(child_id=child_id, **guardian))
        return []

    _apply(ctx, "case update", number, None, decide, after=write_child)


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
            raise TransitionRefused(f"case {number} is closed; findings go on open cases")
        facts = {**row.facts, "evidence": {**row.facts.get("evidence", {}), **evidence}}
        day = max(ctx.today, row.last_event_on)
        return {"facts": facts}, "case.finding", {"evidence": dict(evidence)}, day

    _apply(ctx, "case finding", number, None, decide)


NOTE_METHODS: Mapping[str, str] = {
    "visit": "入户走访",
    "phone": "电话",
    "letter": "书面",
    "wechat": "微信",
    "other": "其他",
}


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
    if method not in NOTE_METHODS:
        raise InvalidInput(f"method {method!r} is unknown; use one of: {', '.join(NOTE_METHODS)}")
    content = _required_text(note_text, "note text")
    day = occurred_on or ctx.today

    def decide(workflow: Workflow, row: Any) -> tuple[dict[str, Any], str, dict[str, Any], date]:
        snapshot = _snapshot(row)
        if workflow.state(snapshot.state).is_terminal:
            raise TransitionRefused(
                f"case {number} is closed ({snapshot.state}); notes go on open cases"
            )
        engine.check_occurred_on(day, today=ctx.today, last_event_on=snapshot.last_event_on)
        return {}, "case.note", {"method": method, "text": content, "state": snapshot.state}, day

    _apply(ctx, "case note", number, expect_version, decide)


# ---------------------------------------------------------------------------------------
# Reading


def event_view(row: Any) -> dict[str, Any]:
    import json

    payload = json.loads(row.payload)
    return {
        "seq": row.seq,
        "action": row.action,
        "case": row.case_id,
        "from": payload.get("from"),
        "to": payload.get("to", payload.get("state") if row.action == "case.open" else None),
        "trigger": payload.get("trigger"),
        "occurred_on": row.occurred_on,
        "recorded_at": row.recorded_at,
        "operator": row.operator,
        "os_user": row.os_user,
        "payload": payload,
        "hash": row.hash,
    }


def _case_events(connection: Connection, number: int) -> list[dict[str, Any]]:
    """What happened to the case; who read it is in the audit log, not in its history."""
    return [
        event_view(row) for row in audit.events(connection, number) if row.action != "case.read"
    ]


def history(ctx: Context, number: int) -> list[dict[str, Any]]:
    with db.write(ctx.engine) as connection:
        case_row(connection, ctx.actor, number)
        log_read(ctx, connection, "case history", [number])
        return _case_events(connection, number)


def show_case(ctx: Context, number: int) -> dict[str, Any]:
    with db.write(ctx.engine) as connection:
        row = case_row(connection, ctx.actor, number)
        log_read(ctx, connection, "case show", [number])
        workflow = stored_workflow(connection, row)
        child = connection.execute(select(CHILD).where(CHILD.c.id == row.child_id)).one()
        guardians = connection.execute(
            select(GUARDIAN).where(GUARDIAN.c.child_id == row.child_id)
        ).all()
        events = _case_events(connection, number)
        fired = connection.execute(
            select(ESCALATION).where(ESCALATION.c.case_id == number).order_by(ESCALATION.c.id)
        ).all()
        chain = describe_chain(org_in_force(connection), row.chain)
    state = workflow.state(row.state)
    snapshot = _snapshot(row)
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
        "departments": [{"id": d, "label": DEPARTMENTS.get(d, d)} for d in row.departments],
        "chain": chain,
        "source": row.source,
        "reasons": list(row.reasons),
        "repeat_count": row.repeat_count,
        "facts": dict(row.facts),
        "child": {
            "name": child.name,
            "id_number": mask_id_number(child.id_number),
            "sex": child.sex,
            "birth_date": child.birth_date.isoformat(),
            "township": child.township,
            "village": child.village,
            "group": child.group_name,
            "school": child.school,
        },
        "guardians": [
            {"name": g.name, "relation": g.relation, "phone": g.phone} for g in guardians
        ],
        "transitions": [
            {
                "trigger": t.trigger,
                "label": t.label,
                "dest": t.dest,
                "dest_label": workflow.state(t.dest).label,
                "fields": [f.describe() for f in t.fields],
            }
            for t in engine.available(workflow, snapshot, ctx.actor, today=ctx.today)
        ],
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
) -> list[dict[str, Any]]:
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
    with db.write(ctx.engine) as connection:
        rows = connection.execute(scoped(query, ctx.actor)).all()
        if rows:
            filters = {"state": state, "township": township, "overdue": overdue}
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


def audit_verify(ctx: Context, checkpoint: str | None = None) -> audit.Verification:
    require(ctx, access.AUDIT_READERS, "audit verify")
    parsed = audit.Checkpoint.parse(checkpoint) if checkpoint else None
    with db.read(ctx.engine) as connection:
        return audit.verify(connection, parsed)


def audit_checkpoint(ctx: Context) -> audit.Checkpoint:
    """Record a checkpoint event and return the head that includes it."""
    require(ctx, access.CHECKPOINT_WRITERS, "audit checkpoint")
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        before = audit.head(connection)
        record(
            ctx,
            connection,
            now,
            action="audit.checkpoint",
            payload={"previous_seq": before.seq, "previous_hash": before.hash},
        )
        return audit.head(connection)


def upgrade_database(explicit: Path | None = None) -> str:
    root = locate(explicit, os.environ, Path.cwd())
    workspace = load(root)
    db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
    try:
        db.upgrade(db_engine)
        return db.schema_revision(db_engine) or "none"
    finally:
        db_engine.dispose()


# ---------------------------------------------------------------------------------------
# Workflow files (no database needed)


def _workflow_dirs(explicit: Path | None) -> tuple[Path, ...]:
    try:
        return load(locate(explicit, os.environ, Path.cwd())).workflow_dirs
    except WorkspaceError:
        if explicit is not None:
            raise
        return (shipped("workflows"),)


def workflow_by_name(name: str | None, explicit: Path | None = None) -> Workflow:
    return load_workflow(find_workflow_file(name or "dropout", _workflow_dirs(explicit)))


def check_workflow_files(
    files: Sequence[Path],
    explicit: Path | None = None,
) -> tuple[list[Path], list[Problem]]:
    """Check the given files, or every workflow the workspace and the installation hold:
    each template they name must exist and need only fields its renderer can supply."""
    if not files:
        files = sorted(
            {p for d in _workflow_dirs(explicit) if d.is_dir() for p in d.glob("*.yaml")}
        )
    problems: list[Problem] = []
    templates = template_catalogue(problems)
    sound: list[tuple[Path, Workflow]] = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(Problem(str(path), "", f"cannot read: {exc.strerror}"))
            continue
        workflow, found = parse_workflow(source, str(path), templates)
        problems.extend(found)
        if workflow is not None and not found:
            sound.append((path, workflow))
    problems.extend(_migration_problems(sound))
    return list(files), problems


def _migration_problems(checked: Sequence[tuple[Path, Workflow]]) -> list[Problem]:
    """Each ``migrate_from`` map checked against the older version it names, when that
    version is among the files (a workspace's new version beside the shipped one)."""
    from caseflow.migration import map_problems

    by_version = {(workflow.name, workflow.version): workflow for _path, workflow in checked}
    return [
        Problem(str(path), where, message)
        for path, new in checked
        for version in new.migrate_from
        if (old := by_version.get((new.name, version))) is not None
        for where, message in map_problems(old, new)
    ]


def template_catalogue(problems: list[Problem] | None = None) -> TemplateCatalogue:
    """The shipped templates' declared fields and what a case and the sweep supply; a
    template whose fields header is broken is left out (and reported into ``problems``)."""
    from caseflow.render import declared_fields, template_ids, templates_dir
    from caseflow.service_documents import CASE_FIELDS
    from caseflow.service_sweep import sweep_fields

    fields: dict[str, frozenset[str]] = {}
    for template in template_ids():
        try:
            fields[template] = frozenset(declared_fields(template))
        except InvalidInput as exc:
            if problems is not None:
                problems.append(Problem(str(templates_dir()), "", exc.message))
    return TemplateCatalogue(
        fields=fields,
        case_fields=CASE_FIELDS,
        sweep_fields={template: sweep_fields(declared) for template, declared in fields.items()},
    )


def describe_workflow(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "version": workflow.version,
        "label": workflow.label,
        "states": [
            {
                "id": s.id,
                "label": s.label,
                "kind": s.kind,
                "category": s.category,
                "responsible": s.responsible,
                "deadline": None
                if s.deadline is None
                else {
                    "amount": s.deadline.amount,
                    "unit": s.deadline.unit,
                    "basis": s.deadline.basis,
                },
                "ladder": [
                    {
                        "offset": r.offset,
                        "unit": r.unit,
                        "notify": list(r.notify),
                        "template": r.template,
                    }
                    for r in s.ladder
                ],
            }
            for s in workflow.states.values()
        ],
        "transitions": [
            {
                "trigger": t.trigger,
                "label": t.label,
                "from": list(t.sources),
                "to": t.dest,
                "roles": list(t.roles),
                "handoff": list(t.handoff),
                "auto": t.auto,
                "documents": list(t.documents),
                "fields": [f.describe() for f in t.fields],
            }
            for t in workflow.transitions
        ],
    }


def diagram(workflow: Workflow, fmt: str) -> str:
    if fmt == "mermaid":
        return mermaid(workflow)
    source = dot(workflow)
    if fmt == "dot":
        return source
    graphviz = shutil.which("dot")
    if graphviz is None:
        raise InvalidInput(
            "SVG needs Graphviz (`dot`), which is not installed here; use "
            "--format dot or --format mermaid"
        )
    result = subprocess.run(
        [graphviz, "-Tsvg"], input=source, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InvalidInput(f"Graphviz failed: {result.stderr.strip()}")
    return result.stdout
