"""Moving the open cases to the workflow version in force (``caseflow workflow migrate``).

The version in force is the workspace's workflow file (``workflows/NAME.yaml`` in the
workspace, else the shipped one); every older version a case runs on is stored in the
database by its hash. Before anything moves, every open case's state is checked against the
new version's ``migrate_from`` map: one state without a place refuses the whole run. Cases
then move in batches, each batch one transaction (the case rows and one ``case.migrated``
audit event per case), so a run stopped between batches leaves whole batches moved, and
running it again moves the rest: a case already on the new version is not read again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from caseflow import access, audit, db
from caseflow.errors import ConcurrentUpdate, InvalidInput, WorkflowInvalid
from caseflow.i18n import _
from caseflow.migration import (
    Move,
    OpenCase,
    Unmapped,
    destination,
    lost_counts,
    map_problems,
    moved_origins,
    plan_move,
)
from caseflow.services.context import Context
from caseflow.services.records import (
    CASE,
    WORKFLOW,
    register_workflow,
    require,
    stored_workflow,
)
from caseflow.states import Workflow, find_workflow_file

DEFAULT_BATCH = 500

_OLDER = (
    CASE.c.is_open,
    CASE.c.workflow == bindparam("name"),
    CASE.c.workflow_version < bindparam("to"),
)
_SURVEY = (
    select(CASE.c.workflow_version, CASE.c.state, func.count().label("cases"))
    .where(*_OLDER)
    .group_by(CASE.c.workflow_version, CASE.c.state)
    .order_by(CASE.c.workflow_version, CASE.c.state)
)
_COUNTERS = select(CASE.c.workflow_version, CASE.c.state, CASE.c.counters, CASE.c.came_from).where(
    *_OLDER
)
_COUNT = select(func.count()).select_from(CASE).where(*_OLDER)
_BATCH = (
    select(
        *(
            CASE.c[name]
            for name in (
                "id",
                "workflow_version",
                "state",
                "entered_on",
                "deadline_from",
                "due_on",
                "due_provisional",
                "due_counted_with",
                "extended_days",
                "next_rung",
                "counters",
                "came_from",
                "version",
            )
        )
    )
    .where(*_OLDER, CASE.c.id > bindparam("after"))
    .order_by(CASE.c.id)
    .limit(bindparam("batch"))
)
_MOVE = update(CASE).where(CASE.c.id == bindparam("b_id"), CASE.c.version == bindparam("b_version"))


@dataclass
class MigrationReport:
    workflow: str
    to_version: int
    dry_run: bool
    labels: dict[tuple[int, str], str] = field(default_factory=dict)  # (version, state)
    moves: list[Move] = field(default_factory=list)

    def label(self, version: int, state: str) -> str:
        return self.labels.get((version, state), state)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "to_version": self.to_version,
            "dry_run": self.dry_run,
            "moved": len(self.moves),
            "cases": [
                {
                    "number": m.number,
                    "from_version": m.from_version,
                    "from_state": m.from_state,
                    "from_state_label": self.label(m.from_version, m.from_state),
                    "to_state": m.to_state,
                    "to_state_label": self.label(m.to_version, m.to_state),
                    "from_due_on": m.from_due_on.isoformat() if m.from_due_on else None,
                    "due_on": m.due.due_on.isoformat() if m.due else None,
                    "due_provisional": bool(m.due and m.due.provisional),
                    "deadline": m.deadline,
                }
                for m in self.moves
            ],
        }


def count_to_migrate(ctx: Context, to: int) -> int:
    """How many open cases run on a version older than ``to`` (for a progress bar)."""
    with db.read(ctx.engine) as connection:
        name = ctx.current_workflow.name
        return int(connection.execute(_COUNT, {"name": name, "to": to}).scalar_one())


def migrate(
    ctx: Context,
    to: int,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Move every open case on an older version to version ``to`` (the version of the
    workflow file in force); with ``dry_run``, only say what would move."""
    require(ctx, access.WORKFLOW_MIGRATORS, "workflow migrate")
    if batch_size < 1:
        raise InvalidInput(_("the batch size must be at least 1"))
    new = _target(ctx, to)
    report = MigrationReport(new.name, new.version, dry_run)
    _add_labels(report, new)
    with db.read(ctx.engine) as connection:
        _refuse_edited(connection, new)
        olds = _older_versions(connection, new)
        _refuse_unmapped(connection, new, olds, ctx)
    for old in olds.values():
        _add_labels(report, old)
    if not dry_run:
        with db.write(ctx.engine) as connection:
            register_workflow(connection, new, ctx.now())
    after = 0
    while True:
        with db.read(ctx.engine) if dry_run else db.write(ctx.engine) as connection:
            rows = _next_batch(connection, new, after, batch_size, lock=not dry_run)
            if not rows:
                break
            moves = _plan(ctx, connection, new, olds, rows)
            if not dry_run:
                _write(ctx, connection, new, rows, moves)
        report.moves.extend(moves)
        after = rows[-1].id
        if progress:
            progress(len(rows))
    return report


def _target(ctx: Context, to: int) -> Workflow:
    new = ctx.current_workflow
    if to != new.version:
        path = find_workflow_file(ctx.workspace.default_workflow, ctx.workspace.workflow_dirs)
        raise InvalidInput(
            _(
                "--to {to}: the workflow in force ({path}) is version {version}; cases move "
                "only to the version in force — write `version: {to}` in that file (with "
                "`migrate_from` where state ids change), or use --to {version}"
            ).format(to=to, path=path, version=new.version)
        )
    return new


def _refuse_edited(connection: Connection, new: Workflow) -> None:
    """The dry run's answer to what registering the new version would say."""
    stored = connection.execute(
        select(WORKFLOW.c.sha256).where(
            WORKFLOW.c.name == new.name, WORKFLOW.c.version == new.version
        )
    ).scalar()
    if stored not in (None, new.sha256):
        raise WorkflowInvalid(
            _(
                "workflow {name!r} version {version} was edited after cases started on it; "
                "raise its `version` so existing cases keep the definition they started with"
            ).format(name=new.name, version=new.version)
        )


def _add_labels(report: MigrationReport, workflow: Workflow) -> None:
    for state in workflow.states.values():
        report.labels[(workflow.version, state.id)] = state.label


def _older_versions(connection: Connection, new: Workflow) -> dict[int, Workflow]:
    """The stored definitions of the older versions open cases run on."""
    versions = connection.execute(
        select(CASE.c.workflow_version).where(*_OLDER).distinct().order_by(CASE.c.workflow_version),
        {"name": new.name, "to": new.version},
    ).scalars()
    olds = {}
    for version in versions:
        sha = connection.execute(
            select(WORKFLOW.c.sha256).where(
                WORKFLOW.c.name == new.name, WORKFLOW.c.version == version
            )
        ).scalar_one()
        olds[version] = stored_workflow(
            connection,
            SimpleNamespace(workflow_sha=sha, workflow=new.name, workflow_version=version),
        )
    return olds


def _refuse_unmapped(
    connection: Connection, new: Workflow, olds: dict[int, Workflow], ctx: Context
) -> None:
    """Refuse the run, before anything moves, if the map is wrong or an open case's state
    has no place in the new version; every such state is named."""
    faults = [
        f"{path}: {message}" for old in olds.values() for path, message in map_problems(old, new)
    ]
    survey = connection.execute(_SURVEY, {"name": new.name, "to": new.version}).all()
    for version, state, cases in survey:
        target = destination(olds[version], new, state)
        if isinstance(target, Unmapped):
            faults.append(
                f"state {state} ({target.label}) of version {version} {target.reason} "
                f"({cases} open case(s))"
            )
    lost: Counter[tuple[int, str, str]] = Counter()
    stranded: Counter[tuple[int, str, str]] = Counter()
    for version, state, counters, came_from in connection.execute(
        _COUNTERS, {"name": new.name, "to": new.version}
    ):
        for trigger in lost_counts(new, counters):
            lost[(version, state, trigger)] += 1
        target = destination(olds[version], new, state)
        if not isinstance(target, Unmapped):
            origin = moved_origins(olds[version], new, target, came_from or ())
            if isinstance(origin, str):
                stranded[(version, state, origin)] += 1
    faults.extend(
        f"counts of {trigger} (in state {state}, version {version}) have no trigger of that "
        f"id in version {new.version} and would be lost ({cases} open case(s))"
        for (version, state, trigger), cases in sorted(lost.items())
    )
    faults.extend(
        f"state {origin} of version {version}, where cases in {state} came from and a return "
        f"leads back to, has no state of that id in version {new.version} ({cases} open "
        "case(s))"
        for (version, state, origin), cases in sorted(stranded.items())
    )
    if faults:
        path = find_workflow_file(new.name, ctx.workspace.workflow_dirs)
        raise WorkflowInvalid(
            _(
                "cannot move the open cases to {name} version {version}: {faults}. Map each "
                "such state to an open state of version {version} under `migrate_from: "
                "{{VERSION: {{OLD_STATE: NEW_STATE}}}}` in {path}. Nothing was changed."
            ).format(name=new.name, version=new.version, faults="; ".join(faults), path=path)
        )


def _next_batch(
    connection: Connection, new: Workflow, after: int, batch_size: int, *, lock: bool
) -> Sequence[Any]:
    query = _BATCH.with_for_update() if lock else _BATCH
    params = {"name": new.name, "to": new.version, "after": after, "batch": batch_size}
    return connection.execute(query, params).all()


def _plan(
    ctx: Context,
    connection: Connection,
    new: Workflow,
    olds: dict[int, Workflow],
    rows: Sequence[Any],
) -> list[Move]:
    moves = []
    for row in rows:
        old = olds.get(row.workflow_version)
        if old is None:  # a case opened on another old version since the run began
            olds.update(_older_versions(connection, new))
            old = olds[row.workflow_version]
        planned = plan_move(old, new, _open_case(row), ctx.calendar)
        if isinstance(planned, Unmapped):
            raise WorkflowInvalid(
                _(
                    "case {number} is in state {state} ({label}) of version {version}, which "
                    "{reason}; the cases moved before it stay moved, this batch and the rest "
                    "did not move — map that state under `migrate_from` and run the command "
                    "again"
                ).format(
                    number=row.id,
                    state=planned.state,
                    label=planned.label,
                    version=planned.version,
                    reason=planned.reason,
                )
            )
        moves.append(planned)
    return moves


def _open_case(row: Any) -> OpenCase:
    return OpenCase(
        number=row.id,
        state=row.state,
        entered_on=row.entered_on,
        deadline_from=row.deadline_from,
        due_on=row.due_on,
        due_provisional=row.due_provisional,
        extended_days=row.extended_days,
        next_rung=row.next_rung,
        counters=dict(row.counters),
        came_from=tuple(row.came_from or ()),
    )


def _write(
    ctx: Context, connection: Connection, new: Workflow, rows: Sequence[Any], moves: list[Move]
) -> None:
    now = ctx.now()
    today = ctx.today
    changes = []
    events = []
    for row, move in zip(rows, moves, strict=True):
        changes.append(
            {
                "b_id": row.id,
                "b_version": row.version,
                "version": row.version + 1,
                "workflow_version": new.version,
                "state": move.to_state,
                "due_on": move.due.due_on if move.due else None,
                "due_provisional": bool(move.due and move.due.provisional),
                "due_counted_with": (
                    ctx.calendar.coverage if move.deadline == "recounted" else row.due_counted_with
                ),
                "next_rung": move.next_rung,
                "came_from": list(move.came_from),
                "next_action_on": move.next_action_on,
            }
        )
        events.append(
            audit.NewEvent(
                action="case.migrated",
                operator=ctx.actor.operator,
                os_user=ctx.actor.os_user,
                recorded_at=now,
                case_id=row.id,
                occurred_on=today,
                payload=_payload(new, move),
            )
        )
    result = connection.execute(_MOVE, changes)
    if result.rowcount not in (-1, len(changes)):
        raise ConcurrentUpdate(
            _(
                "a case changed while its batch was being moved; this batch did not move — "
                "run the command again to move the rest"
            )
        )
    audit.append_many(connection, events)


def _payload(new: Workflow, move: Move) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "workflow": new.name,
        "from_version": move.from_version,
        "to_version": move.to_version,
        "from": move.from_state,
        "to": move.to_state,
        "from_due_on": move.from_due_on.isoformat() if move.from_due_on else None,
        "due_on": move.due.due_on.isoformat() if move.due else None,
        "deadline": move.deadline,
    }
    if move.due is not None and move.due.provisional:
        payload["due_provisional"] = True
    return payload
