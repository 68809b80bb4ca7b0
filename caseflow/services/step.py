"""One step on one case in one transaction: the case row (checked against its version),
its audit event, and what the step causes (letters into the outbox) commit together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from caseflow import access, db, engine, escalation
from caseflow.calendar import WorkCalendar
from caseflow.errors import (
    AccessDenied,
    CaseNotFound,
    ConcurrentUpdate,
    TransitionRefused,
)
from caseflow.i18n import _
from caseflow.services.context import Context
from caseflow.services.records import (
    CASE,
    case_row,
    log_refusal,
    note_referrals,
    record,
    recorded_values,
    require,
    stored_workflow,
)
from caseflow.states import (
    Workflow,
)


def case_snapshot(row: Any) -> engine.CaseSnapshot:
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
        came_from=tuple(row.came_from or ()),
        entered_by=row.entered_by,
        # The sweep reads no facts: it fires automatic transitions only, which the
        # workflow check keeps free of ``recorded:`` guards.
        recorded=recorded_values(getattr(row, "facts", None) or {}),
    )


CASE_STEP = update(CASE).where(
    CASE.c.id == bindparam("b_number"), CASE.c.version == bindparam("b_version")
)


@dataclass(frozen=True)
class Stepped:
    """A case after a step: its row as written (read before the step, with the step's
    changes), the workflow it runs on, and what the step caused (letters queued)."""

    row: Any
    workflow: Workflow
    caused: list[dict[str, Any]]


def apply_decision(
    ctx: Context,
    attempt: str,
    number: int,
    expect_version: int | None,
    decide: Callable[[Workflow, Any], tuple[dict[str, Any], str, dict[str, Any], date]],
    *,
    after: Callable[[Connection, datetime], list[dict[str, Any]]] | None = None,
) -> Stepped:
    """Read, decide and write the update with its audit event in one transaction; then
    ``after`` (in the same transaction) writes what the step causes, such as letters.

    On SQLite the read already happens under the write lock; on PostgreSQL another
    writer can slip in between, and the version check in the UPDATE catches it.
    A refusal for want of a role is logged after the step rolled back."""
    require(ctx, access.CASE_WRITERS, attempt, case_id=number)
    try:
        with probes_recorded(ctx, attempt, number):
            return _apply_within(ctx, number, expect_version, decide, after)
    except AccessDenied as refusal:
        log_refusal(ctx, refusal, attempt, number)
        raise


HIDDEN_CASE = "the case is outside the operator's jurisdiction"


@contextmanager
def probes_recorded(ctx: Context, attempt: str, number: int) -> Iterator[None]:
    """Around a read or a step on one case: when the case exists but lies outside the
    operator's jurisdiction, the operator still reads "not found" (``CaseNotFound``), and
    the attempt is recorded as an ``access.refused`` event with the case number and the
    operator — in its own transaction, after the attempt's rolled back, so that the case's
    rows stay as they were. A number no case has is not recorded."""
    try:
        yield
    except CaseNotFound:
        with db.write(ctx.engine) as connection:
            exists = connection.execute(select(CASE.c.id).where(CASE.c.id == number)).first()
            if exists is not None:
                record(
                    ctx,
                    connection,
                    ctx.now(),
                    action="access.refused",
                    case_id=number,
                    payload={"attempt": attempt, "case": number, "reason": HIDDEN_CASE},
                )
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
            raise TransitionRefused(
                _("case {number} is closed ({state}); it cannot change").format(
                    number=number, state=row.state
                )
            )
        changes, payload = change(row)
        return changes, action, payload, ctx.today

    apply_decision(ctx, attempt, number, None, decide)


def _apply_within(
    ctx: Context,
    number: int,
    expect_version: int | None,
    decide: Callable[[Workflow, Any], tuple[dict[str, Any], str, dict[str, Any], date]],
    after: Callable[[Connection, datetime], list[dict[str, Any]]] | None,
) -> Stepped:
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        row = case_row(connection, ctx.actor, number)
        if expect_version is not None and row.version != expect_version:
            raise ConcurrentUpdate(
                _(
                    "case {number} is at version {version}, not {expected}: someone changed "
                    "it; look again with `caseflow case show` and retry"
                ).format(number=number, version=row.version, expected=expect_version)
            )
        workflow = stored_workflow(connection, row)
        changes, action, payload, occurred_on = decide(workflow, row)
        written = {"version": row.version + 1, "last_event_on": occurred_on, **changes}
        result = connection.execute(
            CASE_STEP, {"b_number": number, "b_version": row.version, **written}
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(
                _(
                    "case {number} was changed by someone else while this command ran; "
                    "nothing was changed — look again with `caseflow case show` and retry"
                ).format(number=number)
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
        return Stepped(SimpleNamespace(**{**row._mapping, **written}), workflow, caused)


def outcome_changes(
    workflow: Workflow,
    row: Any,
    outcome: engine.Outcome,
    occurred_on: date,
    calendar: WorkCalendar,
    *,
    by: str,
) -> dict[str, Any]:
    """The case columns an outcome sets, including where its escalation ladder stands;
    ``by``: the operator (who entered the new state, when it is one)."""
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
        "came_from": list(outcome.came_from),
    }
    if outcome.state != row.state:
        changes["entered_by"] = by
        changes["extension_request"] = None  # a pending request lapses with its state
    next_rung = row.next_rung
    if outcome.extended_days:
        changes["extended_days"] = row.extended_days + outcome.extended_days
    elif outcome.deadline_reset:
        changes["deadline_from"] = outcome.deadline_from or occurred_on
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
