"""The audit chain as the supervision office checks it: verification and checkpoints
(the log itself is read through ``caseflow.services.review.audit_events``).

``audit_verify`` checks the chain, then (when the chain is intact, so the events can be
trusted) the case table against the events: each case's events are replayed
(``caseflow.case_replay``) and every case whose row is not what they say is reported. One
pass over the case events ordered by case number, merged with the case rows ordered by
number: memory holds one case at a time, whatever the number of events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

from sqlalchemy import Connection, case, select

from caseflow import access, audit, db
from caseflow.case_replay import (
    COMPARED,
    LEGACY_OPEN,
    READS_PAYLOAD,
    VERSION_STEPS,
    Difference,
    Expected,
    Replay,
    Terminals,
    compare,
)
from caseflow.services.context import Context
from caseflow.services.records import CASE, EVENT, WORKFLOW, record, require, stored_workflow

_BATCH = {"yield_per": 5000}
_CASE_EVENTS = (
    select(
        EVENT.c.case_id,
        EVENT.c.action,
        EVENT.c.occurred_on,
        # Notes, the commonest step, only count: their payload is not read.
        case((EVENT.c.action.in_(sorted(READS_PAYLOAD)), EVENT.c.payload), else_=None),
    )
    # Every event of a case, the steps picked out here: filtering by action in SQL would
    # make SQLite read them through the action index and sort them all.
    .where(EVENT.c.case_id.is_not(None))
    .order_by(EVENT.c.case_id, EVENT.c.seq)
)
_STEPS = VERSION_STEPS | READS_PAYLOAD | LEGACY_OPEN
_CASE_ROWS = select(CASE.c.id, *(CASE.c[column] for column in COMPARED)).order_by(CASE.c.id)
_WORKFLOWS = select(WORKFLOW.c.name, WORKFLOW.c.version, WORKFLOW.c.sha256)


def audit_verify(ctx: Context, checkpoint: str | None = None) -> audit.Verification:
    require(ctx, access.AUDIT_READERS, "audit verify")
    parsed = audit.Checkpoint.parse(checkpoint) if checkpoint else None
    with db.read(ctx.engine) as connection:
        result = audit.verify(connection, parsed)
        if not result.chain_intact:
            return result
        return replace(result, cases=tuple(case_differences(connection)))


def case_differences(connection: Connection) -> Iterator[Difference]:
    """Every case whose row differs from its events, by number."""
    terminals = _terminals(connection)
    rows = iter(connection.execute(_CASE_ROWS, execution_options=_BATCH))
    replays = _replayed(connection, terminals)
    row = next(rows, None)
    replayed = next(replays, None)
    while row is not None or replayed is not None:
        if row is not None and (replayed is None or row.id < replayed[0]):
            found = compare(row.id, row, Expected())
            row = next(rows, None)
        elif replayed is not None and (row is None or replayed[0] < row.id):
            found = compare(replayed[0], None, replayed[1])
            replayed = next(replays, None)
        else:
            assert row is not None and replayed is not None
            found = compare(row.id, row, replayed[1])
            row = next(rows, None)
            replayed = next(replays, None)
        if found is not None:
            yield found


def _replayed(connection: Connection, terminals: Terminals) -> Iterator[tuple[int, Expected]]:
    """(case number, what its events say) for every number the events name, in order."""
    number: int | None = None
    replay = Replay(terminals)
    loads = json.loads
    for case_id, action, occurred_on, payload in connection.execute(
        _CASE_EVENTS, execution_options=_BATCH
    ):
        if case_id != number:
            if number is not None:
                yield number, replay.expected
            number, replay = case_id, Replay(terminals)
        if action in _STEPS:
            replay.apply(action, occurred_on, loads(payload) if payload is not None else {})
    if number is not None:
        yield number, replay.expected


def _terminals(connection: Connection) -> dict[tuple[str, int], frozenset[str]]:
    """The terminal states of every stored workflow version (each parsed once a process)."""
    found: dict[tuple[str, int], frozenset[str]] = {}
    for name, version, sha in connection.execute(_WORKFLOWS):
        stored = SimpleNamespace(workflow=name, workflow_version=version, workflow_sha=sha)
        workflow = stored_workflow(connection, stored)
        found[(name, version)] = frozenset(
            s for s, state in workflow.states.items() if state.is_terminal
        )
    return found


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
