"""The report for the county leadership (``caseflow report html``): one self-contained HTML
file with the targets, charts of cases by category per township and of the monthly
flows, the overdue cases by responsible unit, and the audit chain's verification as a
statement (its hashes in an appendix). It names no child: case numbers only."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from caseflow import access, audit, db
from caseflow.dates import recorded_day
from caseflow.exports import replacing
from caseflow.measures import CATEGORY_LABELS, UNKNOWN_PLACE, UNPLACED
from caseflow.report import (
    TERM_RULE,
    MonthFlows,
    cases_by_category,
    flows_by_month,
    month_starts,
    term_start,
)
from caseflow.services.context import Context
from caseflow.services.records import CASE, EVENT, Workflows, require, scoped

if TYPE_CHECKING:
    from caseflow.services.review import OverdueReview
    from caseflow.services.stats import Stats

MONTHS = 12
_PAGE = 5000


def monthly_flows(ctx: Context, end: date, months: int = MONTHS) -> list[MonthFlows]:
    """Cases identified, returned and retained per month (by the day it happened), for
    the operator's cases, read from the audit trail page by page."""
    starts = month_starts(end, months)
    counts: dict[date, Counter[str]] = {start: Counter() for start in starts}
    query = (
        scoped(
            select(EVENT.c.seq, EVENT.c.action, EVENT.c.occurred_on, EVENT.c.payload)
            .join(CASE, CASE.c.id == EVENT.c.case_id)
            .where(
                EVENT.c.action.in_(("case.open", "case.transition")),
                EVENT.c.occurred_on >= starts[0].isoformat(),  # stored as ISO text
                EVENT.c.occurred_on <= end.isoformat(),
            ),
            ctx.actor,
        )
        .order_by(EVENT.c.seq)
        .limit(_PAGE)
    )
    workflows = Workflows()
    after = 0
    while True:
        with db.read(ctx.engine) as connection:
            rows = connection.execute(query.where(EVENT.c.seq > after)).all()
            flows = [
                (row, _flow(connection, workflows, ctx, row.action, json.loads(row.payload)))
                for row in rows
            ]
        for row, flow in flows:
            if flow:
                day = date.fromisoformat(row.occurred_on)
                counts[date(day.year, day.month, 1)][flow] += 1
        if len(rows) < _PAGE:
            break
        after = rows[-1].seq
    return [
        MonthFlows(start, **{k: counts[start][k] for k in ("identified", "returned", "retained")})
        for start in starts
    ]


# The monthly flows and the state categories whose entry each counts.
_FLOW_OF_CATEGORY = {"monitoring": "returned", "retained": "retained"}


def _flow(
    connection: Connection,
    workflows: Workflows,
    ctx: Context,
    action: str,
    payload: dict[str, Any],
) -> str | None:
    if action == "case.open":
        return "identified"
    workflow = workflows.recorded_with(connection, payload, ctx.current_workflow)
    entered = workflow.category_entered(str(payload.get("from")), str(payload.get("to")))
    return _FLOW_OF_CATEGORY.get(entered or "")


def _latest_checkpoint(ctx: Context) -> tuple[audit.Checkpoint, date] | None:
    """The last checkpoint recorded, and the day it was set."""
    with db.read(ctx.engine) as connection:
        row = connection.execute(
            select(EVENT.c.seq, EVENT.c.hash, EVENT.c.recorded_at)
            .where(EVENT.c.action == "audit.checkpoint")
            .order_by(EVENT.c.seq.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return audit.Checkpoint(row.seq, row.hash), recorded_day(
        row.recorded_at, ctx.workspace.timezone
    )


def report_since(ctx: Context, as_of: date | None, since: date | None) -> date:
    """The start of the report's period: ``since``, else the start of the school term the
    as-of day (default today) falls in."""
    return since or term_start(as_of or ctx.today)


def check_reader(ctx: Context) -> None:
    """Refuse, before anything is gathered, an operator who may not make the report."""
    require(ctx, access.AUDIT_READERS, "report html")


def report_context(
    ctx: Context, figures: Stats, overdue: OverdueReview, *, default_period: bool = False
) -> dict[str, Any]:
    """Everything the report shows: the statistics by township and the overdue review (as
    of the statistics' day, gathered by the caller), the monthly flows and the audit.
    ``default_period``: the period starts where ``report_since`` put it, and says so."""
    check_reader(ctx)
    day = figures.as_of
    groups = [(g.name, dict(g.tally.by_category)) for g in figures.groups]
    unplaced = figures.apart.tally if figures.apart is not None else None
    flows = monthly_flows(ctx, day)
    with db.read(ctx.engine) as connection:
        verification = audit.verify(connection)
    checkpoint = _latest_checkpoint(ctx)
    return {
        "today": ctx.today,
        "report": {
            "county": ctx.workspace.county,
            "as_of": day,
            "since": figures.since,
            "period_rule": TERM_RULE if default_period else "",
            "targets": [t.as_json() for t in figures.targets],
            "dropouts": [d.as_json() for d in figures.dropouts],
            "totals": figures.total.as_json(),
            "categories": [
                {"label": label, "count": figures.total.by_category.get(key, 0)}
                for key, label in CATEGORY_LABELS.items()
            ],
            "by_category": cases_by_category(groups),
            "unplaced": {
                "label": UNPLACED,
                "cases": unplaced.cases if unplaced else 0,
                "open": unplaced.open if unplaced else 0,
            },
            "flows": flows_by_month(flows),
            "flow_rows": flows,
            "overdue": _without_children(overdue.as_json()),
            "audit": {
                "intact": verification.intact,
                "events": verification.events,
                "head": str(verification.head),
                "problem": verification.problem or "",
                "first_bad_seq": verification.first_bad_seq or "",
                "checkpoint": str(checkpoint[0]) if checkpoint else "",
                "checkpoint_seq": checkpoint[0].seq if checkpoint else "",
                "checkpoint_on": checkpoint[1] if checkpoint else "",
            },
        },
    }


def _without_children(overdue: dict[str, Any]) -> dict[str, Any]:
    """The overdue review as the leadership reads it: case numbers and places, never a
    child's name or ID (the report leaves the case files' access controls behind)."""
    for unit in overdue.get("units", ()):
        for case in unit["cases"]:
            case.pop("name", None)
            case.pop("id_number", None)
            case["place"] = _place(case["township"], case["village"])
    return overdue


def _place(township: str, village: str) -> str:
    if township == UNKNOWN_PLACE:
        return UNPLACED
    return township + ("（村待核实）" if village == UNKNOWN_PLACE else village)


def write_report(
    ctx: Context,
    output: Path,
    figures: Stats,
    overdue: OverdueReview,
    *,
    default_period: bool = False,
) -> Path:
    """Render the report and write it to ``output`` atomically (mode 0600: it lists
    children's cases)."""
    from caseflow.render import render, templates_dir

    context = report_context(ctx, figures, overdue, default_period=default_period)
    # A page for reading, not an official document: kept apart from the documents.
    html = render("leadership_report", context, templates_dir() / "pages")
    with replacing(output) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return output.resolve()
