"""Campaigns: notices queued by the calendar rather than by a case's deadline.

- The publicity letters (致家长的一封信) of the seed document's publicity months,
  February and August: one letter to the guardian of every watched child.
- The monthly report (控辍保学工作月报) on the previous calendar month to the county
  supervision office.

Each run writes its notices into the outbox with one audit event, in one transaction.
Idempotency keys name the month (``publicity:2027-02:<case>``,
``monthly-report:2026-11``): running a campaign again in the same month queues only what
is missing (``INSERT ... ON CONFLICT DO NOTHING`` on the unique key, so two runs at once
cannot queue a notice twice either) and records nothing when nothing was queued.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, case, false, func, or_, select

from caseflow import access, db, escalation
from caseflow.errors import InvalidInput
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.outbox import publicity_key, report_key
from caseflow.services.records import CASE, CHILD, EVENT, Workflows, record, require

LETTER_TEMPLATE = "parent_letter"
REPORT_TEMPLATE = "monthly_report"
REPORT_RECIPIENT = "supervision_office"
# Children of closed cases still watched: returned to school, within their monitoring
# period (in the shipped workflow a `monitoring` state is open, so this only matters for
# workflows that close cases on return).
WATCHED_CATEGORIES = ("monitoring",)
_CHUNK = 500


def _watched(connection: Connection) -> Select[Any]:
    """Each open case, and each case in a watched category of the definition it runs on."""
    watched = [
        and_(
            CASE.c.workflow == workflow.name,
            CASE.c.workflow_version == workflow.version,
            CASE.c.state.in_(sorted(workflow.states_in(*WATCHED_CATEGORIES))),
        )
        for workflow in Workflows().stored(connection)
    ]
    return (
        select(
            CASE.c.id,
            CASE.c.child_id,
            CHILD.c.name,
            CHILD.c.grade,
            CHILD.c.class_name,
        )
        .join(CHILD, CHILD.c.id == CASE.c.child_id)
        .where(or_(CASE.c.is_open, *watched))
        .order_by(CASE.c.id)
    )


def queue_publicity_letters(ctx: Context, day: date) -> int:
    """Queue a 致家长的一封信 for the guardian of each watched child (every child with an
    open case, and children whose case is in a watched state such as ``returned``), one
    per child, dated ``day``. Returns how many were queued; in a month that already has
    them, only the children who were not written to yet get one."""
    require(ctx, access.DISPATCHERS, "notice queue-letters")
    from caseflow.render import render

    if day > ctx.today:
        raise InvalidInput(
            f"the letters' date {day.isoformat()} is in the future; date them today or earlier"
        )
    now = ctx.now()
    issuer = {"name": ctx.workspace.issuer}
    with db.write(ctx.engine) as connection:
        # One letter per child: a child's newest watched case addresses it.
        by_child = {row.child_id: row for row in connection.execute(_watched(connection))}
        sent = outbox.queued_keys(connection, "publicity", f"{day:%Y-%m}")
        missing = [row for row in by_child.values() if publicity_key(day, row.id) not in sent]
        queued = 0
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            rows = []
            for row in chunk:
                body = render(
                    LETTER_TEMPLATE,
                    {
                        "today": day,
                        "issuer": issuer,
                        "child": {
                            "name": row.name,
                            "grade": row.grade or "",
                            "class_name": row.class_name or "",
                        },
                    },
                )
                rows.append(
                    outbox.Draft(
                        key=publicity_key(day, row.id),
                        kind="letter",
                        template=LETTER_TEMPLATE,
                        recipient=f"guardian:case/{row.id}",
                        case_ids=[row.id],
                        subject=f"{outbox.title_of(body, LETTER_TEMPLATE)}（案件{row.id}）",
                        body=body,
                    )
                )
            queued += len(outbox.queue(connection, rows, now))
        if queued:
            record(
                ctx,
                connection,
                now,
                action="campaign.publicity_letters",
                occurred_on=day,
                payload={
                    "month": f"{day:%Y-%m}",
                    "watched": len(by_child),
                    "queued": queued,
                    "already_queued": len(by_child) - len(missing),
                },
            )
    return queued


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @classmethod
    def before(cls, month: date) -> Period:
        """The calendar month before the one ``month`` falls in."""
        end = month.replace(day=1) - timedelta(days=1)
        return cls(end.replace(day=1), end)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def cn_label(self) -> str:
        return f"{self.start.year}年{self.start.month}月"


def queue_monthly_report(ctx: Context, month: date) -> int:
    """Queue the monthly report on the calendar month before ``month`` to the supervision
    office. Returns 1 if queued, 0 if that month's report was already in the outbox.

    Flows (``new``, ``returned``, ``retained``) count what happened in the period by the
    day it happened (``occurred_on``): cases opened, and transitions into ``returned``
    (not a check-in within it) or ``retained`` read from the audit trail. Standing figures
    (cases per state, open, ``overdue``: open cases due before the period's last day) are
    the case files as they stand when the report is made, which the scheduler does hours
    after the period ends."""
    from caseflow.render import render

    require(ctx, access.DISPATCHERS, "notice queue-report")
    period = Period.before(month)
    if period.end >= ctx.today:
        raise InvalidInput(
            f"the month {period.label} has not ended yet; its report can be made from "
            f"{(period.end + timedelta(days=1)).isoformat()}"
        )
    now = ctx.now()
    key = report_key(period.start)
    with db.write(ctx.engine) as connection:
        if outbox.ids_of(connection, [key]):
            return 0
        figures = report_figures(ctx, connection, period)
        body = render(
            REPORT_TEMPLATE,
            {
                "today": ctx.today,
                "issuer": {"name": ctx.workspace.issuer, "reference": ""},
                "recipient": {
                    "name": escalation.recipient_label(
                        REPORT_RECIPIENT, departments=ctx.current_workflow.departments
                    )
                },
                "report": figures,
            },
        )
        notice = outbox.Draft(
            key=key,
            kind="report",
            template=REPORT_TEMPLATE,
            recipient=REPORT_RECIPIENT,
            case_ids=[],
            subject=f"{outbox.title_of(body, REPORT_TEMPLATE)}（{period.cn_label}）",
            body=body,
        )
        if not outbox.queue(connection, [notice], now):
            return 0
        record(
            ctx,
            connection,
            now,
            action="campaign.monthly_report",
            occurred_on=ctx.today,
            payload={
                "month": period.label,
                "queued": 1,
                "new": figures["new"],
                "returned": figures["returned"],
                "retained": figures["retained"],
                "overdue": figures["overdue"],
                "open": sum(row["count"] for row in figures["by_state"]),
            },
        )
    return 1


def report_figures(ctx: Context, connection: Connection, period: Period) -> dict[str, Any]:
    """The numbers of the monthly report (no personal data)."""
    open_by_state: dict[str, int] = dict(
        connection.execute(
            select(CASE.c.state, func.count()).where(CASE.c.is_open).group_by(CASE.c.state)
        ).all()
    )
    workflow = ctx.current_workflow
    order = [sid for sid, state in workflow.states.items() if not state.is_terminal]
    order += sorted(set(open_by_state) - set(order))
    by_state = [
        {
            "state": sid,
            "label": workflow.states[sid].label if sid in workflow.states else sid,
            "count": open_by_state.get(sid, 0),
        }
        for sid in order
    ]
    standing = connection.execute(
        select(
            CASE.c.township,
            func.count(),
            func.sum(case((CASE.c.due_on < period.end, 1), else_=0)),
        )
        .where(CASE.c.is_open)
        .group_by(CASE.c.township)
    ).all()
    entered = _entered(ctx, connection, period)
    returned_by_township = Counter(
        township for (into, _case, township) in entered if into == "monitoring"
    )
    townships = sorted({row[0] for row in standing} | set(returned_by_township))
    standing_by_township = {row[0]: (int(row[1]), int(row[2] or 0)) for row in standing}
    by_township = [
        {
            "township": township,
            "open": standing_by_township.get(township, (0, 0))[0],
            "returned": returned_by_township[township],
            "overdue": standing_by_township.get(township, (0, 0))[1],
        }
        for township in townships
    ]
    new = connection.execute(
        select(func.count())
        .select_from(CASE)
        .where(CASE.c.opened_on >= period.start, CASE.c.opened_on <= period.end)
    ).scalar_one()
    return {
        "period_start": period.start,
        "period_end": period.end,
        "by_state": by_state,
        "by_township": by_township,
        "new": int(new),
        "returned": sum(1 for (into, _c, _t) in entered if into == "monitoring"),
        "retained": sum(1 for (into, _c, _t) in entered if into == "retained"),
        "overdue": sum(row["overdue"] for row in by_township),
    }


def _entered(ctx: Context, connection: Connection, period: Period) -> set[tuple[str, int, str]]:
    """(category, case, township) for each case that entered a ``monitoring`` or
    ``retained`` state in the period, from the audit trail; a case counts once per
    category however often it entered it. The LIKE narrows the rows to moves into a state
    of those categories in any stored definition (payloads are canonical JSON, so the text
    is exact); each move is then read with the definition it was recorded with, leaving
    out moves within a category such as check-ins."""
    categories = ("monitoring", "retained")
    workflows = Workflows()
    wanted = sorted(workflows.states_in(connection, *categories))
    rows = connection.execute(
        select(EVENT.c.case_id, EVENT.c.payload, CASE.c.township)
        .join(CASE, CASE.c.id == EVENT.c.case_id)
        .where(
            EVENT.c.action == "case.transition",
            EVENT.c.occurred_on >= period.start.isoformat(),
            EVENT.c.occurred_on <= period.end.isoformat(),
            or_(false(), *(EVENT.c.payload.contains(f'"to":"{state}"') for state in wanted)),
        )
    )
    entered = set()
    for case_id, payload, township in rows.all():
        move = json.loads(payload)
        workflow = workflows.recorded_with(connection, move, ctx.current_workflow)
        into = workflow.category_entered(str(move.get("from")), str(move.get("to")))
        if into in categories:
            entered.add((into, case_id, township))
    return entered
