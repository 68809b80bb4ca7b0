"""The data layer every service reads cases through: the tables, the one place where an
operator's jurisdiction becomes a condition on ``case_file``, and the audit append by the
acting operator. A case outside the operator's jurisdiction is not found, never
forbidden: no command can tell that it exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    false,
    select,
    true,
)

from caseflow import access, audit, db
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, CaseNotFound
from caseflow.models import (
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

if TYPE_CHECKING:
    from caseflow.service import Context

CASE = Case.__table__  # type: ignore[attr-defined]
CHILD = Child.__table__  # type: ignore[attr-defined]
GUARDIAN = Guardian.__table__  # type: ignore[attr-defined]
ESCALATION = Escalation.__table__  # type: ignore[attr-defined]
OPERATOR = Operator.__table__  # type: ignore[attr-defined]
ORG_VERSION = OrgVersion.__table__  # type: ignore[attr-defined]
REFERRAL = CaseReferral.__table__  # type: ignore[attr-defined]
WORKFLOW = WorkflowDefinition.__table__  # type: ignore[attr-defined]


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
        raise CaseNotFound(f"case {number} not found; `caseflow case list` shows your cases")
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
        parsed, _problems = parse_org(row.source, "org.yaml (in force)")
        org = _ORG_CACHE[row.sha256] = parsed or Org()
    return org
