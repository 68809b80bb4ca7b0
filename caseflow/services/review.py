"""Supervision review: the audit trail filtered, exported for offline checking, and the
overdue cases by responsible unit with the escalations already sent.

Reading the audit trail (and this review) is for the ``supervisor`` and ``bureau`` roles.
Every database read here goes through a function that takes the ``Context``, so that an
operator's jurisdiction can be applied in one place.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Text, and_, cast, or_, select

from caseflow import access, audit, db, escalation
from caseflow.audit_export import (
    ExportVerification,
    checkpoint_line,
    event_line,
    verify_export,
)
from caseflow.dates import recorded_day
from caseflow.errors import CaseNotFound, InvalidInput, NotFound
from caseflow.exports import replacing
from caseflow.i18n import N_, _
from caseflow.ids import mask_id_number
from caseflow.measures import UNPLACED, is_placed
from caseflow.services.context import Context
from caseflow.services.records import (
    CASE,
    CHILD,
    ESCALATION,
    EVENT,
    WORKFLOW,
    Workflows,
    event_view,
    log_read,
    record,
    require,
    scoped,
    stored_workflow,
)
from caseflow.states import Workflow

_STREAM = {"yield_per": 2000}
# recorded_at is ISO 8601 text with its UTC offset. A day in the workspace's time zone is
# looked for in SQL within a margin wide enough for any offset, then exactly in Python.
_MARGIN = timedelta(days=3)
UNIT_KINDS = ("township", "village", "school", "department")
UNIT_NAMES = {
    "township": N_("township"),
    "village": N_("village"),
    "school": N_("school"),
    "department": N_("department"),
}


# ---------------------------------------------------------------------------------------
# The audit log, filtered


@dataclass(frozen=True)
class AuditFilter:
    """Conditions on audit events; all given ones must hold.

    ``unit``: events of cases whose township, village or school is that name, or that are
    handed to that department now (key or Chinese name); ``township:NAME``, ``village:TOWNSHIP/
    VILLAGE``, ``school:NAME`` or ``department:KEY`` says which. ``actor``: the operator's
    name or OS account. ``since``/``until``: the day the event was recorded, in the
    workspace's time zone, inclusive. ``action``: exact, or a prefix ending in ``.`` or
    ``*`` (``case.``). ``state``: events of cases that are in that state now.
    """

    case: int | None = None
    unit: str | None = None
    actor: str | None = None
    since: date | None = None
    until: date | None = None
    action: str | None = None
    state: str | None = None


def audit_events(ctx: Context, where: AuditFilter | None = None) -> Iterator[dict[str, Any]]:
    """Matching events, oldest first, as ``audit log --json`` shows them. The filters are
    checked before this returns; the events are then read as they are consumed."""
    require(ctx, access.AUDIT_READERS, "audit log")
    where = where or AuditFilter()
    _check_range(where.since, where.until)
    for name in ("unit", "actor", "action", "state"):
        value = getattr(where, name)
        if value is not None and not value.strip():
            raise InvalidInput(_("--{option} needs a value").format(option=name))
    if where.state is not None:
        _check_state(ctx, where.state.strip())
    if where.case is not None:
        _check_case(ctx, where.case)
    return _matching(ctx, where)


def _matching(ctx: Context, where: AuditFilter) -> Iterator[dict[str, Any]]:
    zone = ctx.workspace.timezone
    query = select(EVENT).order_by(EVENT.c.seq)
    if where.unit is not None or where.state is not None:
        query = query.select_from(EVENT.join(CASE, CASE.c.id == EVENT.c.case_id))
    if where.case is not None:
        query = query.where(EVENT.c.case_id == where.case)
    if where.unit is not None:
        with db.read(ctx.engine) as connection:
            workflows = [ctx.current_workflow, *Workflows().stored(connection)]
        query = query.where(unit_condition(where.unit, workflows))
    if where.state is not None:
        query = query.where(CASE.c.state == where.state.strip())
    if where.actor is not None:
        actor = where.actor.strip()
        query = query.where(or_(EVENT.c.operator == actor, EVENT.c.os_user == actor))
    if where.action is not None:
        query = query.where(_action_condition(where.action.strip()))
    if where.since is not None:
        query = query.where(EVENT.c.recorded_at >= (where.since - _MARGIN).isoformat())
    if where.until is not None:
        query = query.where(EVENT.c.recorded_at < (where.until + _MARGIN).isoformat())
    with db.read(ctx.engine) as connection:
        for row in connection.execute(query, execution_options=_STREAM):
            if where.since is not None or where.until is not None:
                day = recorded_day(row.recorded_at, zone)
                if (where.since and day < where.since) or (where.until and day > where.until):
                    continue
            yield event_view(row)


def unit_condition(unit: str, workflows: Iterable[Workflow]) -> ColumnElement[bool]:
    """Cases of a unit: see ``AuditFilter``. A department is named by its key or by the
    name one of ``workflows`` declares for it."""
    unit = unit.strip()
    kind, sep, name = unit.partition(":")
    if sep and kind in UNIT_KINDS:
        if not name.strip():
            raise InvalidInput(
                _("--unit '{unit}' names no {kind}").format(unit=unit, kind=_(UNIT_NAMES[kind]))
            )
        kinds: Sequence[str] = (kind,)
        unit = name.strip()
    else:
        kinds = UNIT_KINDS
    conditions: list[ColumnElement[bool]] = []
    if "township" in kinds:
        conditions.append(CASE.c.township == unit)
    if "village" in kinds:
        township, slash, village = unit.partition("/")
        conditions.append(
            and_(CASE.c.township == township, CASE.c.village == village)
            if slash
            else CASE.c.village == unit
        )
    if "school" in kinds:
        conditions.append(CASE.c.school == unit)
    if "department" in kinds:
        named = {
            key
            for workflow in workflows
            for key, label in workflow.departments.items()
            if unit in (key, label)
        }
        for key in sorted(named):
            # departments is a JSON list of keys; a key is a plain identifier.
            conditions.append(cast(CASE.c.departments, Text).contains(f'"{key}"', autoescape=True))
    return or_(*conditions)


def _action_condition(action: str) -> ColumnElement[bool]:
    column = EVENT.c.action
    condition: ColumnElement[bool]
    if action.endswith("*"):
        condition = column.startswith(action[:-1], autoescape=True)
    elif action.endswith("."):
        condition = column.startswith(action, autoescape=True)
    else:
        condition = column == action
    return condition


def _check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise InvalidInput(
            _("--since {since} is after --until {until}; nothing could match").format(
                since=since.isoformat(), until=until.isoformat()
            )
        )


def _check_state(ctx: Context, state: str) -> None:
    known = set(ctx.current_workflow.states)
    if state in known:
        return
    with db.read(ctx.engine) as connection:
        known.update(connection.execute(select(CASE.c.state).distinct()).scalars())
    if state not in known:
        raise InvalidInput(
            _("--state '{state}' is not a state of the workflow; known: {known}").format(
                state=state, known=", ".join(sorted(known))
            )
        )


def _check_case(ctx: Context, number: int) -> None:
    with db.read(ctx.engine) as connection:
        found = connection.execute(select(CASE.c.id).where(CASE.c.id == number)).first()
    if found is None:
        raise CaseNotFound(
            _("case {number} not found; `caseflow case list` shows the cases").format(number=number)
        )


# ---------------------------------------------------------------------------------------
# Export (verify_export_file checks one without a workspace)


@dataclass(frozen=True)
class ExportSummary:
    output: Path
    events: int
    first_seq: int
    last: audit.Checkpoint
    verification: ExportVerification


def export_audit(
    ctx: Context, output: Path, *, since: date | None = None, until: date | None = None
) -> ExportSummary:
    """Write the events recorded from ``since`` to ``until`` (days in the workspace's time
    zone, inclusive; default: all) to ``output`` as JSON lines with the checkpoint last.

    The export is one unbroken stretch of the chain: from the first event recorded on or
    after ``since`` to the last recorded on or before ``until``, with every event between.
    It is streamed into a temporary file beside ``output`` and renamed into place, checked
    as the reviewer will check it, and the export itself is recorded in the audit."""
    require(ctx, access.AUDIT_READERS, "audit export")
    _check_range(since, until)
    with replacing(output) as temporary:
        with temporary.open("w", encoding="utf-8", newline="\n") as stream:
            with db.read(ctx.engine) as connection:
                span = _export_span(connection, ctx.workspace.timezone, since, until)
                if span is None:
                    raise NotFound(_nothing_recorded(since, until))
                lines = _writing(stream, _export_lines(connection, *span))
                verification = verify_export(lines)
                for _rest in lines:  # verification stops at a problem; the file does not
                    pass
            stream.flush()
            os.fsync(stream.fileno())
        last = verification.last
        assert last is not None  # the span holds at least one event
        _record_export(
            ctx,
            output,
            since=since,
            until=until,
            first_seq=span[0],
            last=last,
            events=verification.events,
        )
    return ExportSummary(output, verification.events, span[0], last, verification)


def _nothing_recorded(since: date | None, until: date | None) -> str:
    if since is None and until is None:
        return _("the audit trail holds no events; nothing was written")
    if since is not None and until is not None:
        return _(
            "no audit event was recorded on or after {since} on or before {until}; nothing was "
            "written"
        ).format(since=since.isoformat(), until=until.isoformat())
    if since is not None:
        return _("no audit event was recorded on or after {since}; nothing was written").format(
            since=since.isoformat()
        )
    assert until is not None
    return _("no audit event was recorded on or before {until}; nothing was written").format(
        until=until.isoformat()
    )


def _export_span(
    connection: Connection, zone: ZoneInfo, since: date | None, until: date | None
) -> tuple[int, int] | None:
    """First and last seq of the export, or None when no event falls in the range."""
    head = audit.head(connection)
    if head.seq == 0:
        return None
    first, last = 1, head.seq
    if since is not None:
        query = (
            select(EVENT.c.seq, EVENT.c.recorded_at)
            .where(EVENT.c.recorded_at >= (since - _MARGIN).isoformat())
            .order_by(EVENT.c.seq)
        )
        found = _first_seq(connection.execute(query, execution_options=_STREAM), zone, since, None)
        if found is None:
            return None
        first = found
    if until is not None:
        query = (
            select(EVENT.c.seq, EVENT.c.recorded_at)
            .where(EVENT.c.seq <= head.seq)
            .where(EVENT.c.recorded_at < (until + _MARGIN).isoformat())
            .order_by(EVENT.c.seq.desc())
        )
        found = _first_seq(connection.execute(query, execution_options=_STREAM), zone, None, until)
        if found is None:
            return None
        last = found
    return (first, last) if first <= last else None


def _first_seq(
    rows: Iterable[Any], zone: ZoneInfo, since: date | None, until: date | None
) -> int | None:
    for row in rows:
        day = recorded_day(row.recorded_at, zone)
        if (since is None or day >= since) and (until is None or day <= until):
            return int(row.seq)
    return None


def _export_lines(connection: Connection, first: int, last: int) -> Iterator[str]:
    """The export's lines, each with its newline, read in chunks."""
    query = select(EVENT).where(EVENT.c.seq >= first, EVENT.c.seq <= last).order_by(EVENT.c.seq)
    count = 0
    start_hash: str | None = None
    tail: audit.Checkpoint | None = None
    for row in connection.execute(query, execution_options=_STREAM):
        if start_hash is None:
            start_hash = row.prev_hash
        count += 1
        tail = audit.Checkpoint(row.seq, row.hash)
        yield (
            event_line(
                seq=row.seq,
                recorded_at=row.recorded_at,
                occurred_on=row.occurred_on,
                operator=row.operator,
                os_user=row.os_user,
                action=row.action,
                case_id=row.case_id,
                payload=row.payload,
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
            + "\n"
        )
    if tail is None or start_hash is None:
        return
    yield (
        checkpoint_line(first_seq=first, first_prev_hash=start_hash, last=tail, events=count) + "\n"
    )


def _writing(stream: Any, lines: Iterable[str]) -> Iterator[bytes]:
    """Write each line to ``stream`` and hand it on, as bytes, to be verified."""
    for text in lines:
        stream.write(text)
        yield text.encode("utf-8")


def _record_export(
    ctx: Context,
    output: Path,
    *,
    since: date | None,
    until: date | None,
    first_seq: int,
    last: audit.Checkpoint,
    events: int,
) -> None:
    with db.write(ctx.engine) as connection:
        record(
            ctx,
            connection,
            ctx.now(),
            action="audit.export",
            payload={
                "file": output.name,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "first_seq": first_seq,
                "last_seq": last.seq,
                "events": events,
                "checkpoint": str(last),
            },
        )


# ---------------------------------------------------------------------------------------
# Overdue cases by responsible unit


@dataclass(frozen=True)
class SentEscalation:
    level: int
    rung_on: date
    fired_on: date
    days_overdue: int
    recipients: tuple[str, ...]
    template: str

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "rung_on": self.rung_on.isoformat(),
            "fired_on": self.fired_on.isoformat(),
            "days_overdue": self.days_overdue,
            "recipients": list(self.recipients),
            "template": self.template,
        }


@dataclass(frozen=True)
class OverdueCase:
    number: int
    state: str
    state_label: str
    responsible: str | None
    due_on: date
    due_provisional: bool
    days_overdue: int
    days_unit: str  # working_days | days: the unit of the state's deadline
    name: str
    id_number: str  # masked
    township: str
    village: str
    school: str | None
    departments: tuple[str, ...]
    escalations: tuple[SentEscalation, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "state_label": self.state_label,
            "responsible": self.responsible,
            "due_on": self.due_on.isoformat(),
            "due_provisional": self.due_provisional,
            "days_overdue": self.days_overdue,
            "days_unit": self.days_unit,
            "name": self.name,
            "id_number": self.id_number,
            "township": self.township,
            "village": self.village,
            "school": self.school,
            "departments": list(self.departments),
            "escalations": [e.as_json() for e in self.escalations],
        }


@dataclass(frozen=True)
class OverdueUnit:
    unit: str  # an address, as escalations use: township:天堂镇, department:health, ...
    label: str
    cases: tuple[OverdueCase, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "label": self.label,
            "cases": [c.as_json() for c in self.cases],
        }


@dataclass(frozen=True)
class OverdueReview:
    as_of: date
    cases: int
    units: tuple[OverdueUnit, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "cases": self.cases,
            "units": [u.as_json() for u in self.units],
        }


_OVERDUE = (
    select(
        CASE.c.id,
        CASE.c.workflow,
        CASE.c.workflow_version,
        CASE.c.state,
        CASE.c.due_on,
        CASE.c.due_provisional,
        CASE.c.ladder_version,
        CASE.c.departments,
        CASE.c.township,
        CASE.c.village,
        CASE.c.school,
        WORKFLOW.c.sha256.label("workflow_sha"),
        CHILD.c.name,
        CHILD.c.id_number,
    )
    .join(
        WORKFLOW,
        and_(WORKFLOW.c.name == CASE.c.workflow, WORKFLOW.c.version == CASE.c.workflow_version),
    )
    .join(CHILD, CHILD.c.id == CASE.c.child_id)
    .where(CASE.c.is_open, CASE.c.due_on.is_not(None))
    .order_by(CASE.c.due_on, CASE.c.id)
)
_BATCH = 500


def overdue_review(ctx: Context, as_of: date | None = None) -> OverdueReview:
    """Open cases whose due date is before ``as_of`` (default today), in a state that is
    not terminal, grouped by the unit responsible for the state they are in (a case
    handed to two departments is under both), with the escalations already sent for the
    current deadline. Units with the most overdue cases come first; within a unit, the
    oldest due date."""
    require(ctx, access.AUDIT_READERS, "review overdue")
    day = as_of or ctx.today
    found: list[OverdueCase] = []
    units: dict[str, list[OverdueCase]] = defaultdict(list)
    departments: dict[str, str] = {}  # as the workflows of the listed cases name them
    with db.write(ctx.engine) as connection:
        rows = connection.execute(scoped(_OVERDUE.where(CASE.c.due_on < day), ctx.actor)).all()
        if rows:
            log_read(ctx, connection, "review overdue", [r.id for r in rows], as_of=str(day))
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            sent = _escalations_sent(connection, batch)
            for row in batch:
                workflow = stored_workflow(connection, row)
                state = workflow.state(row.state)
                if state.is_terminal:
                    continue
                case = _overdue_case(ctx, workflow, row, day, sent.get(row.id, ()))
                found.append(case)
                departments.update(
                    (d, workflow.departments[d])
                    for d in row.departments
                    if d in workflow.departments
                )
                scope = escalation.Scope(
                    row.township, row.village, row.school, tuple(row.departments)
                )
                for key in escalation.recipient_keys("responsible_unit", state.responsible, scope):
                    units[key].append(case)
    ordered = sorted(units.items(), key=lambda item: (-len(item[1]), item[0]))
    return OverdueReview(
        as_of=day,
        cases=len(found),
        units=tuple(
            OverdueUnit(key, _unit_label(key, departments), tuple(cases)) for key, cases in ordered
        ),
    )


def _unit_label(key: str, departments: dict[str, str]) -> str:
    """The unit's name; a unit at no known place is no unit (地址待核实)."""
    if not is_placed(key):
        return f"{UNPLACED}（责任单位未确定）"
    return escalation.recipient_label(key, departments=departments)


def _escalations_sent(
    connection: Connection, rows: Sequence[Any]
) -> dict[int, tuple[SentEscalation, ...]]:
    """The rungs fired for each case's current deadline, lowest first."""
    current = {row.id: row.ladder_version for row in rows}
    query = (
        select(ESCALATION)
        .where(ESCALATION.c.case_id.in_(list(current)))
        .order_by(ESCALATION.c.case_id, ESCALATION.c.rung, ESCALATION.c.id)
    )
    sent: dict[int, list[SentEscalation]] = defaultdict(list)
    for e in connection.execute(query):
        if e.ladder_version != current[e.case_id]:
            continue
        sent[e.case_id].append(
            SentEscalation(
                level=e.rung + 1,
                rung_on=e.rung_on,
                fired_on=e.fired_on,
                days_overdue=e.days_overdue,
                recipients=tuple(e.recipients),
                template=e.template,
            )
        )
    return {number: tuple(items) for number, items in sent.items()}


def _overdue_case(
    ctx: Context,
    workflow: Workflow,
    row: Any,
    as_of: date,
    sent: tuple[SentEscalation, ...],
) -> OverdueCase:
    state = workflow.state(row.state)
    unit = state.deadline.unit if state.deadline else "days"
    days = (
        ctx.calendar.working_days_between(row.due_on, as_of)
        if unit == "working_days"
        else (as_of - row.due_on).days
    )
    return OverdueCase(
        number=row.id,
        state=row.state,
        state_label=state.label,
        responsible=state.responsible,
        due_on=row.due_on,
        due_provisional=row.due_provisional,
        days_overdue=days,
        days_unit=unit,
        name=row.name,
        id_number=mask_id_number(row.id_number),
        township=row.township,
        village=row.village,
        school=row.school,
        departments=tuple(row.departments),
        escalations=sent,
    )
