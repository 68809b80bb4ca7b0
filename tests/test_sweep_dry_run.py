"""`escalate --dry-run` reports what the run then does on the same workspace: the same
rungs, automatic transitions and notices, per level and recipient (issue 17 item 13: the
dry run once said 20,041 notices where the run queued 20,417)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select

from caseflow import db
from caseflow.models import Notice
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.sweep import sweep
from tests.conftest import child
from tests.test_sweep import persuasion_case, tally

LEVEL = re.compile(r"（第(\d+)级）$")


def queued_notices(ctx: Context) -> Counter[tuple[int, str]]:
    """The escalation notices in the outbox, per level and recipient."""
    table = Notice.__table__  # type: ignore[attr-defined]
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            select(table.c.subject, table.c.recipient).where(table.c.kind == "escalation")
        ).all()
    counted: Counter[tuple[int, str]] = Counter()
    for row in rows:
        match = LEVEL.search(row.subject)
        assert match, row.subject
        counted[(int(match.group(1)), row.recipient)] += 1
    return counted


def mixed_workspace(ctx: Context, cases: int) -> None:
    """Cases at every rung of the persuasion ladder (opened on days spread over two
    months), deferrals that expire (an automatic transition whose next state is already
    overdue: its rung fires in the same sweep) and monitoring periods that end by
    themselves."""
    start = date(2026, 9, 1)
    for serial in range(cases):
        kind = serial % 6
        opened = start + timedelta(days=serial % 70)
        if kind < 4:
            persuasion_case(ctx, 10 + serial, opened)
        elif kind == 4:
            number = open_case(ctx, child(10 + serial), occurred_on=opened).number
            advance(ctx, number, "start_verification", occurred_on=opened)
            until = opened + timedelta(days=10)
            advance(
                ctx,
                number,
                "defer",
                {"reason": "illness", "until": until.isoformat(), "approval": "天堂教〔2026〕12号"},
                occurred_on=opened,
            )
        else:
            number = persuasion_case(ctx, 10 + serial, date(2026, 6, 1))
            advance(
                ctx,
                number,
                "return_to_school",
                {"placement": "original_class", "school": "天堂小学"},
                occurred_on=date(2026, 6, 2),
            )
            for day in (date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)):
                advance(ctx, number, "check_in", {"attending": "steady"}, occurred_on=day)


def test_the_dry_run_reports_exactly_what_the_run_then_queues(ctx) -> None:
    mixed_workspace(ctx, 240)
    before = tally(ctx)
    # Small batches: a recipient's listing notice is one per batch in the run, so a dry
    # run that pooled its cases over the whole sweep counted fewer notices.
    preview = sweep(ctx, dry_run=True, batch_size=16)
    assert tally(ctx) == before, "a dry run changes nothing"
    run = sweep(ctx, batch_size=16)
    assert run.fired > 240 and run.timed > 0 and len(run.by_recipient) > 4
    assert (preview.fired, preview.timed, preview.notices) == (run.fired, run.timed, run.notices)
    assert preview.by_recipient == run.by_recipient
    assert preview.queued == run.queued == queued_notices(ctx)
    assert run.notices == tally(ctx)["notices"] - before["notices"]
    assert sweep(ctx, dry_run=True).notices == 0 == sweep(ctx).notices
