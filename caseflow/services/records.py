"""The data layer every service reads cases through: the tables, the one place where an
operator's jurisdiction becomes a condition on ``case_file``, and the audit append by the
acting operator. A case outside the operator's jurisdiction is not found, never
forbidden: no command can tell that it exists."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    false,
    insert,
    select,
    true,
)

from caseflow import access, audit, db
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, CaseNotFound, WorkflowInvalid
from caseflow.i18n import _
from caseflow.models import (
    AuditEvent,
    Case,
    CaseReferral,
    Child,
    Escalation,
    Guardian,
    Operator,
    OrgVersion,
    WorkflowDefinition,
)
from caseflow.org import Org, parse_org
from caseflow.states import Workflow, load_workflow_text
from caseflow.timeline import TIMELINE_ACTIONS, Event

if TYPE_CHECKING:
    from caseflow.services.context import Context

CASE = Case.__table__  # type: ignore[attr-defined]
CHILD = Child.__table__  # type: ignore[attr-defined]
GUARDIAN = Guardian.__table__  # type: ignore[attr-defined]
ESCALATION = Escalation.__table__  # type: ignore[attr-defined]
OPERATOR = Operator.__table__  # type: ignore[attr-defined]
ORG_VERSION = OrgVersion.__table__  # type: ignore[attr-defined]
REFERRAL = CaseReferral.__table__  # type: ignore[attr-defined]
WORKFLOW = WorkflowDefinition.__table__  # type: ignore[attr-defined]
EVENT = AuditEvent.__table__  # type: ignore[attr-defined]

# The relations that make a guardian a parent, so a legal guardian (民法典 art. 27) by the
# relation alone; anyone else is a legal guardian only with a recorded basis.
PARENT_RELATIONS: frozenset[str] = frozenset(
    {"父亲", "母亲", "父", "母", "爸爸", "妈妈", "养父", "养母"}
)
GUARDIAN_CAPACITIES: Mapping[str, str] = {"legal": "法定监护人", "carer": "被委托照护人"}


def is_parent(relation: str | None) -> bool:
    return (relation or "").strip() in PARENT_RELATIONS


def case_scope(actor: Actor) -> ColumnElement[bool]:
    """The cases this operator may see, as a condition on ``case_file``."""
    if not actor.roles & access.CASE_READERS:
        return false()
    where = actor.jurisdiction
    if where.kind in ("township", "school"):
        column: ColumnElement[str] = CASE.c[where.kind]
        return column == where.name
    if where.kind == "department":
        return exists().where(REFERRAL.c.case_id == CASE.c.id, REFERRAL.c.department == where.name)
    return true()


def scoped(statement: Select[Any], actor: Actor) -> Select[Any]:
    """``statement`` (which selects from ``case_file``) limited to the operator's cases."""
    scope = case_scope(actor)
    return statement if scope is true() else statement.where(scope)


_CASE_WITH_WORKFLOW = select(CASE, WORKFLOW.c.sha256.label("workflow_sha")).join(
    WORKFLOW,
    and_(WORKFLOW.c.name == CASE.c.workflow, WORKFLOW.c.version == CASE.c.workflow_version),
)


_CASE_BY_NUMBER = _CASE_WITH_WORKFLOW.where(CASE.c.id == bindparam("number"))


def case_row(connection: Connection, actor: Actor, number: int) -> Any:
    """One case the operator may see, with its workflow's hash; else ``CaseNotFound``."""
    statement = scoped(_CASE_BY_NUMBER, actor)
    row = connection.execute(statement, {"number": number}).first()
    if row is None:
        raise CaseNotFound(
            _("case {number} not found; `caseflow case list` shows your cases").format(
                number=number
            )
        )
    return row


def record(
    ctx: Context,
    connection: Connection,
    now: datetime,
    *,
    action: str,
    payload: Mapping[str, Any],
    case_id: int | None = None,
    occurred_on: date | None = None,
) -> int:
    """Append an audit event by the context's operator inside the caller's transaction."""
    return audit.append(
        connection,
        action=action,
        operator=ctx.actor.operator,
        os_user=ctx.actor.os_user,
        recorded_at=now,
        payload=payload,
        case_id=case_id,
        occurred_on=occurred_on,
    )


def log_refusal(ctx: Context, refusal: AccessDenied, attempt: str, case_id: int | None) -> None:
    """A refused attempt is itself an audit event, written after the attempt rolled back."""
    with db.write(ctx.engine) as connection:
        record(
            ctx,
            connection,
            ctx.now(),
            action="access.refused",
            case_id=case_id,
            payload={"attempt": attempt, "reason": refusal.message},
        )


def require(
    ctx: Context, allowed: frozenset[str], attempt: str, *, case_id: int | None = None
) -> None:
    """Refuse (and log the refusal) unless the operator holds one of the allowed roles."""
    try:
        access.require(ctx.actor.roles, allowed, ctx.actor.operator, attempt)
    except AccessDenied as refusal:
        log_refusal(ctx, refusal, attempt, case_id)
        raise


LOGGED_CASE_NUMBERS = 500


def log_read(
    ctx: Context, connection: Connection, view: str, cases: Sequence[int], **scope: Any
) -> None:
    """Reading children's files is logged, so the supervision office sees who looked at
    which child: the case numbers, or for a large listing the count and what was asked
    (``scope``: the filters or the unit of a ledger)."""
    payload: dict[str, Any] = {"view": view, **scope}
    if len(cases) <= LOGGED_CASE_NUMBERS:
        payload["cases"] = list(cases)
    else:
        payload["count"] = len(cases)
    record(
        ctx,
        connection,
        ctx.now(),
        action="case.read",
        case_id=cases[0] if len(cases) == 1 else None,
        payload=payload,
    )


def note_referrals(connection: Connection, case_id: int, departments: list[str], day: date) -> None:
    """Remember that the case went to these departments (once each)."""
    known = set(
        connection.execute(
            select(REFERRAL.c.department).where(REFERRAL.c.case_id == case_id)
        ).scalars()
    )
    fresh = [d for d in dict.fromkeys(departments) if d not in known]
    if fresh:
        connection.execute(
            REFERRAL.insert(),
            [{"case_id": case_id, "department": d, "referred_on": day} for d in fresh],
        )


_ORG_CACHE: dict[str, Org] = {}


def org_in_force(connection: Connection) -> Org:
    """The organisation last applied with ``org apply`` (empty before the first)."""
    row = connection.execute(
        select(ORG_VERSION.c.sha256, ORG_VERSION.c.source)
        .order_by(ORG_VERSION.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return Org()
    org = _ORG_CACHE.get(row.sha256)
    if org is None:
        parsed, _problems = parse_org(row.source, "org.yaml (in force)", departments=None)
        org = _ORG_CACHE[row.sha256] = parsed or Org()
    return org


_WORKFLOW_CACHE: dict[str, Workflow] = {}


_WORKFLOW_SOURCE = select(WORKFLOW.c.source).where(WORKFLOW.c.sha256 == bindparam("sha"))


def register_workflow(connection: Connection, workflow: Workflow, now: datetime) -> None:
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
            _(
                "workflow '{name}' version {version} was edited after cases started on it; "
                "raise its `version` so existing cases keep the definition they started with"
            ).format(name=workflow.name, version=workflow.version)
        )


def stored_workflow(connection: Connection, row: Any) -> Workflow:
    """The definition a case row runs on, parsed once per process (keyed by its hash)."""
    workflow = _WORKFLOW_CACHE.get(row.workflow_sha)
    if workflow is None:
        source = connection.execute(_WORKFLOW_SOURCE, {"sha": row.workflow_sha}).scalar_one()
        workflow = load_workflow_text(source, f"{row.workflow} v{row.workflow_version} (stored)")
        _WORKFLOW_CACHE[row.workflow_sha] = workflow
    return workflow


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


BATCH = 1000


class CaseNumbers(Sequence[int]):
    """The case numbers read, for the read log: the first few kept (the log lists up to
    ``LOGGED_CASE_NUMBERS``), the rest only counted."""

    def __init__(self) -> None:
        self.kept: list[int] = []
        self.total = 0

    def add(self, number: int) -> None:
        self.total += 1
        if len(self.kept) <= LOGGED_CASE_NUMBERS:
            self.kept.append(number)

    def __len__(self) -> int:
        return self.total

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        return self.kept[index]


@dataclass
class Workflows:
    """The stored workflow definitions, parsed once per ledger."""

    by_version: dict[tuple[str, int], Workflow] = field(default_factory=dict)

    def get(self, connection: Connection, name: str, version: int) -> Workflow:
        found = self.by_version.get((name, version))
        if found is None:
            sha = connection.execute(
                select(WORKFLOW.c.sha256).where(
                    WORKFLOW.c.name == name, WORKFLOW.c.version == version
                )
            ).scalar_one()
            found = stored_workflow(
                connection,
                SimpleNamespace(workflow_sha=sha, workflow=name, workflow_version=version),
            )
            self.by_version[(name, version)] = found
        return found

    def recorded_with(
        self, connection: Connection, payload: Mapping[str, Any], default: Workflow
    ) -> Workflow:
        """The definition an audit event was recorded with, as its payload names it."""
        name, version = payload.get("workflow"), payload.get("workflow_version")
        if isinstance(name, str) and isinstance(version, int):
            return self.get(connection, name, version)
        return default

    def stored(self, connection: Connection) -> list[Workflow]:
        """Every stored definition."""
        rows = connection.execute(select(WORKFLOW.c.name, WORKFLOW.c.version)).all()
        return [self.get(connection, name, version) for name, version in rows]

    def states_in(self, connection: Connection, *categories: str) -> frozenset[str]:
        """The ids of the states in ``categories`` in any stored definition."""
        return frozenset().union(*(w.states_in(*categories) for w in self.stored(connection)))


HISTORY = (
    select(EVENT.c.case_id, EVENT.c.action, EVENT.c.occurred_on, EVENT.c.payload)
    .where(
        EVENT.c.case_id.in_(bindparam("ids", expanding=True)),
        EVENT.c.action.in_(TIMELINE_ACTIONS),
    )
    .order_by(EVENT.c.case_id, EVENT.c.seq)
)


def case_events(connection: Connection, ids: Sequence[int]) -> dict[int, list[Event]]:
    """The events that shape each case's timeline, oldest first."""
    events: dict[int, list[Event]] = {}
    for case_id, action, occurred_on, payload in connection.execute(HISTORY, {"ids": list(ids)}):
        events.setdefault(case_id, []).append(
            Event(
                action,
                date.fromisoformat(occurred_on) if occurred_on else None,
                json.loads(payload),
            )
        )
    return events


def recorded_values(facts: Mapping[str, Any]) -> dict[str, str]:
    """The latest value each field was given on the case: ``facts`` holds each trigger's
    last values, the most recently fired trigger last (a field left blank gives none)."""
    latest: dict[str, str] = {}
    for values in facts.values():
        if isinstance(values, Mapping):
            latest.update(
                {name: str(v).strip() for name, v in values.items() if v not in (None, "")}
            )
    return latest
