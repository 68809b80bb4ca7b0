"""The sweep: every rung and automatic transition that has fallen due, fired exactly once.

Work is found through the indexed ``case_file.next_action_on`` column, oldest first, in
batches. Each batch is one transaction: the rungs it fires (escalation rows, one audit event
each), the automatic transitions, the cases' new ladder positions and the notices for the
recipients all commit together or not at all, so a sweep killed at any point and run
again fires every due rung once, never twice.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    func,
    insert,
    select,
    tuple_,
    type_coerce,
    update,
)

from caseflow import access, audit, db, engine, escalation
from caseflow.dates import cn_date
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.ids import mask_id_number, mask_name
from caseflow.org import Org
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.letters import lists_cases
from caseflow.services.records import (
    CASE,
    CHILD,
    ESCALATION,
    WORKFLOW,
    org_in_force,
    require,
    stored_workflow,
)
from caseflow.services.step import CASE_STEP, case_snapshot, outcome_changes
from caseflow.states import Rung, Workflow

DEFAULT_BATCH = 500


class _SharedJSON(TypeDecorator[Any]):
    """A JSON column of a swept case, read as text (cast so, on every database) because
    the sweep reads it and never changes it: equal texts (most cases' counters,
    departments and chains) are decoded once, to one shared value."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else _decoded(value)


_decoded = functools.lru_cache(maxsize=4096)(json.loads)
_JSON_COLUMNS = frozenset({"counters", "departments", "came_from", "chain"})

_DUE_FILTER = (CASE.c.is_open, CASE.c.next_action_on <= bindparam("as_of"))
_DUE_ORDER = (CASE.c.next_action_on, CASE.c.id)
# Finding due work reads the index only; the rows are loaded by id afterwards.
_DUE_KEYS = (
    select(CASE.c.id, CASE.c.next_action_on)
    .where(*_DUE_FILTER)
    .order_by(*_DUE_ORDER)
    .limit(bindparam("batch"))
)
_DUE_KEYS_AFTER = _DUE_KEYS.where(
    tuple_(*_DUE_ORDER) > tuple_(bindparam("after_on"), bindparam("after_id"))
)
_SWEPT_CASES = (
    select(
        *(
            type_coerce(cast(CASE.c[name], Text), _SharedJSON).label(name)
            if name in _JSON_COLUMNS
            else CASE.c[name]
            for name in (
                "id",
                "workflow",
                "workflow_version",
                "state",
                "entered_on",
                "due_on",
                "due_provisional",
                "version",
                "last_event_on",
                "counters",
                "repeat_count",
                "departments",
                "came_from",
                "entered_by",
                "chain",
                "extended_days",
                "ladder_version",
                "next_rung",
                "next_action_on",
                "township",
                "village",
                "school",
            )
        ),
        WORKFLOW.c.sha256.label("workflow_sha"),
        CHILD.c.name.label("child_name"),
        CHILD.c.id_number.label("child_id_number"),
    )
    .join(
        WORKFLOW,
        (WORKFLOW.c.name == CASE.c.workflow) & (WORKFLOW.c.version == CASE.c.workflow_version),
    )
    .join(CHILD, CHILD.c.id == CASE.c.child_id)
    .where(CASE.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(*_DUE_ORDER)
)
_COUNT_DUE = select(func.count()).select_from(CASE).where(*_DUE_FILTER)
_MOVE_LADDER = update(CASE).where(CASE.c.id == bindparam("b_id"))
_RECORD_ESCALATION = insert(ESCALATION)


@dataclass
class SweepReport:
    as_of: date
    dry_run: bool
    fired: int = 0
    timed: int = 0
    notices: int = 0
    cases: int = 0
    recomputed: int = 0
    by_recipient: Counter[tuple[int, str]] = field(default_factory=Counter)
    # The notices queued (or, in a dry run, to be queued) per level and recipient.
    queued: Counter[tuple[int, str]] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "fired": self.fired,
            "timed": self.timed,
            "notices": self.notices,
            "cases": self.cases,
            "recomputed": self.recomputed,
            "by_level": [
                {
                    "level": level,
                    "recipient": recipient,
                    "rungs": count,
                    "notices": self.queued[(level, recipient)],
                }
                for (level, recipient), count in sorted(self.by_recipient.items())
            ],
        }


@dataclass
class _Batch:
    """What one batch decided, before it is written."""

    events: list[audit.NewEvent] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    ladder_moves: list[dict[str, Any]] = field(default_factory=list)
    items: dict[tuple[str, int, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    org: Org = field(default_factory=Org)
    # Each recipient's name on its notices, as the workflow of its first case names it.
    labels: dict[str, str] = field(default_factory=dict)
    # Cases of one place in one state share their addressing: a rung's recipients and
    # the label of whom the following rung will go to.
    addressing: dict[tuple[Any, ...], tuple[list[str], str]] = field(default_factory=dict)
    # The audit payloads of the batch's rungs, by ladder position, recipients and ladder
    # version (the objects named by id live as long as the batch).
    payloads: dict[tuple[int, int, int | None], dict[str, Any]] = field(default_factory=dict)


def count_due(ctx: Context, as_of: date) -> int:
    with db.read(ctx.engine) as connection:
        return int(connection.execute(_COUNT_DUE, {"as_of": as_of}).scalar_one())


def sweep(
    ctx: Context,
    *,
    as_of: date | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SweepReport:
    """Fire what is due on ``as_of`` (default today). A future ``as_of`` only with
    ``dry_run``: it answers "what will escalate by Monday?" without writing anything."""
    require(ctx, access.DISPATCHERS, "escalate")
    today = ctx.today
    day = as_of or today
    if day > today and not dry_run:
        raise InvalidInput(
            _(
                "--as-of {day} is in the future; use it with --dry-run to see what will "
                "escalate by then"
            ).format(day=day.isoformat())
        )
    if batch_size < 1:
        raise InvalidInput(_("the batch size must be at least 1"))
    report = SweepReport(day, dry_run)
    if not dry_run:
        report.recomputed = len(recompute_provisional(ctx))
    if dry_run:
        _preview(ctx, report, batch_size, progress)
        return report
    ladders = _Ladders(day, ctx)
    while not (should_stop and should_stop()):
        with db.write(ctx.engine) as connection:
            keys = find_due(connection, day, batch_size, lock=True)
            if not keys:
                break
            rows = connection.execute(_SWEPT_CASES, {"ids": [key.id for key in keys]}).all()
            _run_batch(ctx, connection, rows, report, ladders)
        report.cases += len(rows)
        if progress:
            progress(len(rows))
    return report


def find_due(
    connection: Connection,
    as_of: date,
    batch: int,
    *,
    after: tuple[date, int] | None = None,
    lock: bool = False,
) -> Sequence[Any]:
    """The next ``batch`` due cases (id, next_action_on), oldest first, from the index.
    ``lock`` claims them for this transaction (skipping rows another sweep holds)."""
    params: dict[str, Any] = {"as_of": as_of, "batch": batch}
    query = _DUE_KEYS
    if after is not None:
        query = _DUE_KEYS_AFTER
        params.update(after_on=after[0], after_id=after[1])
    if lock:
        query = query.with_for_update(skip_locked=True)
    return connection.execute(query, params).all()


def _preview(
    ctx: Context, report: SweepReport, batch_size: int, progress: Callable[[int], None] | None
) -> None:
    """Plan the batches the run would, read-only, with the run's own planning: the same
    batches in the same order (a case an automatic transition leaves due again comes back
    in a later batch, as the run reads it back), the same notices per batch."""
    import heapq

    carried: dict[int, Any] = {}
    with db.read(ctx.engine) as connection:
        recounted = _would_recount(ctx, connection)
        queue = [
            (key.next_action_on, key.id)
            for key in find_due(connection, report.as_of, 2**31 - 1)
            if key.id not in recounted
        ]
        if recounted:
            rows = connection.execute(_SWEPT_CASES, {"ids": list(recounted)}).all()
            for row in rows:
                after = _after(row, recounted[row.id])
                if after.next_action_on is not None and after.next_action_on <= report.as_of:
                    carried[row.id] = after
                    queue.append((after.next_action_on, row.id))
    heapq.heapify(queue)
    ladders = _Ladders(report.as_of, ctx)
    now = ctx.now()
    while queue:
        keys = [heapq.heappop(queue) for _ in range(min(batch_size, len(queue)))]
        with db.read(ctx.engine) as connection:
            unread = [case_id for _on, case_id in keys if case_id not in carried]
            read = {
                row.id: row
                for row in (
                    connection.execute(_SWEPT_CASES, {"ids": unread}).all() if unread else ()
                )
            }
            rows = [carried.pop(case_id, None) or read[case_id] for _on, case_id in keys]
            plan = _plan_batch(ctx, connection, rows, report, ladders, now=now, carry=True)
        queued = _count_notices(plan.batch)
        report.queued.update(queued)
        report.notices += queued.total()
        for after in plan.after:
            due_again = after.next_action_on is not None and after.next_action_on <= report.as_of
            if getattr(after, "is_open", True) and due_again:
                carried[after.id] = after
                heapq.heappush(queue, (after.next_action_on, after.id))
        report.cases += len(rows)
        if progress:
            progress(len(rows))


class _Ladders:
    """What is due on the sweep's day for a ladder position, worked out once per position:
    the cases of one state that fell due on one day and stand on the same rung (most of a
    batch) share the answer."""

    def __init__(self, as_of: date, ctx: Context) -> None:
        self.as_of = as_of
        self.calendar = ctx.calendar
        self.known: dict[tuple[Any, ...], escalation.DueWork] = {}

    def due_work(self, workflow: Workflow, row: Any) -> escalation.DueWork:
        counters = tuple(sorted(row.counters.items())) if row.counters else ()
        place = (id(workflow), row.state, row.due_on, row.next_rung, counters)
        work = self.known.get(place)
        if work is None:
            position = escalation.LadderPosition(row.state, row.due_on, row.next_rung, row.counters)
            work = escalation.due_work(workflow, position, self.as_of, self.calendar)
            self.known[place] = work
        return work


@dataclass
class _Plan:
    """What one batch decided, before it is written: the batch's rungs and notices, each
    automatic transition's changes to its case, and (for the dry run) each case as it
    would stand afterwards."""

    batch: _Batch
    steps: list[dict[str, Any]] = field(default_factory=list)
    after: list[Any] = field(default_factory=list)


def _plan_batch(
    ctx: Context,
    connection: Connection,
    rows: Sequence[Any],
    report: SweepReport,
    ladders: _Ladders,
    *,
    now: datetime,
    carry: bool = False,
) -> _Plan:
    """Decide one batch without writing anything: the run writes the plan, the dry run
    only counts it (and carries the cases on as they would stand), so both agree."""
    plan = _Plan(_Batch(org=org_in_force(connection)))
    batch = plan.batch
    operator, os_user = ctx.actor.operator, ctx.actor.os_user
    for row in rows:
        workflow = stored_workflow(connection, row)
        work = ladders.due_work(workflow, row)
        if work.auto is not None:
            step, event = _plan_auto(
                ctx, workflow, row, trigger=work.auto.trigger, as_of=report.as_of, now=now
            )
            plan.steps.append(step)
            batch.events.append(event)
            if carry:
                plan.after.append(_after(row, step))
            report.timed += 1
            continue
        for due in work.rungs:
            recipients = _collect_rung(workflow, row, due, report, batch)
            batch.escalations.append(
                {
                    "case_id": row.id,
                    "ladder_version": row.ladder_version,
                    "rung": due.rung.index,
                    "state": row.state,
                    "due_on": row.due_on,
                    "rung_on": due.rung_on,
                    "fired_on": report.as_of,
                    "days_overdue": due.days_overdue,
                    "recipients": recipients,
                    "template": due.rung.template,
                }
            )
            batch.events.append(
                audit.NewEvent(
                    action="case.escalation",
                    operator=operator,
                    os_user=os_user,
                    recorded_at=now,
                    case_id=row.id,
                    occurred_on=report.as_of,
                    payload=_escalation_payload(row, due, recipients, batch),
                )
            )
        move = {"b_id": row.id, "next_rung": work.next_rung, "next_action_on": work.next_action_on}
        batch.ladder_moves.append(move)
        if carry:
            plan.after.append(_after(row, move))
    return plan


class _Swept:
    """A swept case as the run would leave it (the dry run's stand-in for the row the
    run's next batch reads back)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _after(row: Any, changes: dict[str, Any]) -> Any:
    values = dict(row._asdict()) if hasattr(row, "_asdict") else dict(vars(row))
    values.update((name, value) for name, value in changes.items() if not name.startswith("b_"))
    return _Swept(values)


def _run_batch(
    ctx: Context,
    connection: Connection,
    rows: Sequence[Any],
    report: SweepReport,
    ladders: _Ladders,
) -> None:
    now = ctx.now()
    plan = _plan_batch(ctx, connection, rows, report, ladders, now=now)
    batch = plan.batch
    for step in plan.steps:
        connection.execute(CASE_STEP, step)
    db.execute_many(connection, _RECORD_ESCALATION, batch.escalations)
    db.execute_many(connection, _MOVE_LADDER, batch.ladder_moves)
    audit.append_many(connection, batch.events)
    report.notices += outbox.queue_many(connection, _notices(ctx, batch, report.as_of), now)
    report.queued.update(_count_notices(batch))


def _escalation_payload(
    row: Any, due: escalation.DueRung, recipients: list[str], batch: _Batch
) -> dict[str, Any]:
    """The audit payload of a rung fired on a case. Cases at the same ladder position
    with the same recipients share one (so the audit encodes it once)."""
    shared = (id(due), id(recipients), row.ladder_version)
    payload = batch.payloads.get(shared)
    if payload is None:
        payload = batch.payloads[shared] = {
            "state": row.state,
            "due_on": row.due_on.isoformat(),
            "rung": due.rung.index,
            "level": due.rung.index + 1,
            "rung_on": due.rung_on.isoformat(),
            "days_overdue": due.days_overdue,
            "recipients": recipients,
            "template": due.rung.template,
            "ladder_version": row.ladder_version,
        }
    return payload


def _plan_auto(
    ctx: Context,
    workflow: Workflow,
    row: Any,
    *,
    trigger: str,
    as_of: date,
    now: datetime,
) -> tuple[dict[str, Any], audit.NewEvent]:
    """An automatic transition: the case's changes (the parameters of ``CASE_STEP``) and
    its audit event."""
    occurred_on = max(row.due_on, row.last_event_on)
    event = engine.Event(trigger=trigger, occurred_on=occurred_on)
    outcome = engine.decide(
        workflow,
        case_snapshot(row),
        event,
        ctx.actor,
        today=as_of,
        calendar=ctx.calendar,
        automatic=True,
    )
    changes = outcome_changes(
        workflow, row, outcome, occurred_on, ctx.calendar, by=ctx.actor.operator
    )
    step = {
        "b_number": row.id,
        "b_version": row.version,
        "version": row.version + 1,
        "last_event_on": occurred_on,
        **changes,
    }
    return step, audit.NewEvent(
        action="case.transition",
        operator=ctx.actor.operator,
        os_user=ctx.actor.os_user,
        recorded_at=now,
        case_id=row.id,
        occurred_on=occurred_on,
        payload=dict(outcome.audit),
    )


def _recipients(workflow: Workflow, row: Any, rung: Rung) -> list[str]:
    scope = escalation.Scope(
        row.township, row.village, row.school, tuple(row.departments), row.chain
    )
    responsible = workflow.state(row.state).responsible
    keys: list[str] = []
    for recipient in rung.notify:
        for key in escalation.recipient_keys(recipient, responsible, scope):
            if key not in keys:
                keys.append(key)
    return keys


def _collect_rung(
    workflow: Workflow,
    row: Any,
    due: escalation.DueRung,
    report: SweepReport,
    batch: _Batch,
) -> list[str]:
    """Count the rung and queue its case for each recipient; returns the recipients (the
    list the batch shares among the cases of one place: read, never changed)."""
    state = workflow.state(row.state)
    recipients, next_responsible = _addressing(workflow, row, due.rung, batch)
    item = {
        "number": row.id,
        "masked_name": mask_name(row.child_name),
        "masked_id": mask_id_number(row.child_id_number),
        "township": row.township,
        "village": row.village,
        "state_label": state.label,
        "due_on": row.due_on,
        "due_provisional": row.due_provisional,
        "days_overdue": due.days_overdue,
        "next_responsible": next_responsible,
        "basis": state.deadline.basis if state.deadline else "",
    }
    level = due.rung.index + 1
    report.fired += 1
    for key in recipients:
        batch.items[(due.rung.template, level, key)].append(item)
        report.by_recipient[(level, key)] += 1
        if key not in batch.labels:
            batch.labels[key] = escalation.recipient_label(
                key, batch.org.person_label, departments=workflow.departments
            )
    return recipients


def _addressing(workflow: Workflow, row: Any, rung: Rung, batch: _Batch) -> tuple[list[str], str]:
    """The rung's recipients for this case, and the label of the following rung's."""
    place = (
        id(workflow),
        row.state,
        rung.index,
        row.township,
        row.village,
        row.school,
        tuple(row.departments),
        tuple(sorted(row.chain.items())),
    )
    found = batch.addressing.get(place)
    if found is None:
        ladder = workflow.state(row.state).ladder
        following = ladder[rung.index + 1] if rung.index + 1 < len(ladder) else None
        next_responsible = (
            "、".join(
                escalation.recipient_label(
                    k, batch.org.person_label, departments=workflow.departments
                )
                for k in _recipients(workflow, row, following)
            )
            if following
            else "县人民政府教育督导室"
        )
        found = batch.addressing[place] = (_recipients(workflow, row, rung), next_responsible)
    return found


def _count_notices(batch: _Batch) -> Counter[tuple[int, str]]:
    """The notices ``_notices`` makes of a batch, per level and recipient: one listing a
    recipient's cases, or one per case for a per-case template."""
    counted: Counter[tuple[int, str]] = Counter()
    for (template, level, key), items in batch.items.items():
        counted[(level, key)] += 1 if lists_cases(template) else len(items)
    return counted


def _notices(ctx: Context, batch: _Batch, as_of: date) -> list[outbox.Draft]:
    """One notice per recipient listing its cases (or one per case for a per-case template),
    queued with the context its template renders it from when it is sent."""
    from caseflow.render import title

    issuer = {"name": ctx.workspace.issuer, "reference": ""}
    notices = []
    for (template, level, key), items in sorted(batch.items.items()):
        recipient = {"name": batch.labels[key]}
        if lists_cases(template):
            contexts = [
                (
                    items,
                    {
                        "today": as_of,
                        "issuer": issuer,
                        "recipient": recipient,
                        "escalation": {"level": level, "cases": items},
                    },
                )
            ]
        else:
            contexts = [([item], _case_context(item, as_of, issuer, recipient)) for item in items]
        for covered, context in contexts:
            cases = sorted([item["number"] for item in covered])
            notices.append(
                outbox.Draft(
                    key=outbox.escalation_key(template, level, key, as_of, cases),
                    kind="escalation",
                    template=template,
                    recipient=key,
                    case_ids=cases,
                    subject=f"{title(template, context)}（第{level}级）",
                    context=context,
                )
            )
    return notices


def _case_context(
    item: dict[str, Any], as_of: date, issuer: dict[str, str], recipient: dict[str, str]
) -> dict[str, Any]:
    overdue = item["days_overdue"]
    when = "今日到期" if overdue == 0 else f"已逾期{overdue}日"
    return {
        "today": as_of,
        "issuer": issuer,
        "recipient": recipient,
        "case": {
            "number": item["number"],
            "state_label": item["state_label"],
            "township": item["township"],
            "village": item["village"],
            "due_on": item["due_on"],
            "due_provisional": item["due_provisional"],
        },
        "child": {"name": "", "masked_name": item["masked_name"]},
        "request": {
            "text": f"本案“{item['state_label']}”环节{when}"
            f"（期限{cn_date(item['due_on'])}），请立即办理。期限依据："
            f"{item['basis']}"
        },
    }


_PROVISIONAL = (
    select(CASE, WORKFLOW.c.sha256.label("workflow_sha"))
    .join(
        WORKFLOW,
        (WORKFLOW.c.name == CASE.c.workflow) & (WORKFLOW.c.version == CASE.c.workflow_version),
    )
    .where(CASE.c.is_open, CASE.c.due_provisional)
)
# Provisional deadlines counted with another coverage than the calendar's own: three range
# scans of ix_case_file_provisional (unknown, before, after), empty on an ordinary day.
_STALE_BATCHES = tuple(
    _PROVISIONAL.where(stale)
    .order_by(CASE.c.due_counted_with, CASE.c.id)
    .limit(bindparam("batch"))
    .with_for_update(of=CASE, skip_locked=True)
    for stale in (
        CASE.c.due_counted_with.is_(None),
        CASE.c.due_counted_with < bindparam("coverage"),
        CASE.c.due_counted_with > bindparam("coverage"),
    )
)
_MARK_COUNTED = update(CASE).where(CASE.c.id == bindparam("b_id"))


@dataclass(frozen=True)
class Recomputed:
    number: int
    state: str
    was: date
    now: date
    provisional: bool


def provisional_deadlines(ctx: Context) -> list[Any]:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(_PROVISIONAL.order_by(CASE.c.id)).all())


def recompute_provisional(ctx: Context, batch_size: int = DEFAULT_BATCH) -> list[Recomputed]:
    """Count again, with today's calendar, the provisional deadlines counted with another
    calendar coverage; audit every deadline that changes. Nothing to do (and one indexed
    look-up) unless the calendar learnt something since the deadlines were counted."""
    changed: list[Recomputed] = []
    coverage = ctx.calendar.coverage
    params = {"coverage": coverage, "batch": batch_size}
    while True:
        with db.write(ctx.engine) as connection:
            for stale in _STALE_BATCHES:
                rows = connection.execute(stale, params).all()
                if rows:
                    changed.extend(_recount(ctx, connection, rows, coverage))
                    break
            else:
                return changed


def _recounted(ctx: Context, workflow: Workflow, row: Any) -> dict[str, Any] | None:
    """A provisional deadline counted again with today's calendar: the case's new
    ``due_on``, ``due_provisional`` and ``next_action_on``, or None when it stands."""
    spec = workflow.state(row.state).deadline
    if spec is None or row.deadline_from is None:
        return None
    due = ctx.calendar.add(row.deadline_from, spec.amount, spec.unit)
    if row.extended_days:
        extended = ctx.calendar.add(due.due_on, row.extended_days, "days")
        due = type(due)(extended.due_on, due.provisional or extended.provisional)
    if due.provisional and due.due_on == row.due_on:
        return None
    position = escalation.LadderPosition(row.state, due.due_on, row.next_rung, row.counters)
    return {
        "due_on": due.due_on,
        "due_provisional": due.provisional,
        "next_action_on": escalation.next_action_on(workflow, position, ctx.calendar),
    }


def _would_recount(ctx: Context, connection: Connection) -> dict[int, dict[str, Any]]:
    """What ``recompute_provisional`` would change, by case id, without changing it."""
    coverage = ctx.calendar.coverage
    stale = (
        CASE.c.due_counted_with.is_(None)
        | (CASE.c.due_counted_with < coverage)
        | (CASE.c.due_counted_with > coverage)
    )
    changes: dict[int, dict[str, Any]] = {}
    for row in connection.execute(_PROVISIONAL.where(stale)).all():
        recounted = _recounted(ctx, stored_workflow(connection, row), row)
        if recounted is not None:
            changes[row.id] = recounted
    return changes


def _recount(
    ctx: Context, connection: Connection, rows: Sequence[Any], coverage: str
) -> list[Recomputed]:
    now = ctx.now()
    changed: list[Recomputed] = []
    events: list[audit.NewEvent] = []
    unchanged: list[dict[str, Any]] = []
    for row in rows:
        recounted = _recounted(ctx, stored_workflow(connection, row), row)
        if recounted is None:
            unchanged.append({"b_id": row.id})
            continue
        due_on = recounted["due_on"]
        connection.execute(
            CASE_STEP,
            {
                "b_number": row.id,
                "b_version": row.version,
                "version": row.version + 1,
                "due_counted_with": coverage,
                **recounted,
            },
        )
        events.append(
            audit.NewEvent(
                action="case.deadline_recomputed",
                operator=ctx.actor.operator,
                os_user=ctx.actor.os_user,
                recorded_at=now,
                case_id=row.id,
                payload={
                    "state": row.state,
                    "from_due_on": row.due_on.isoformat(),
                    "due_on": due_on.isoformat(),
                    "due_provisional": recounted["due_provisional"],
                },
            )
        )
        changed.append(
            Recomputed(row.id, row.state, row.due_on, due_on, recounted["due_provisional"])
        )
    if unchanged:
        connection.execute(_MARK_COUNTED.values(due_counted_with=coverage), unchanged)
    audit.append_many(connection, events)
    return changed
