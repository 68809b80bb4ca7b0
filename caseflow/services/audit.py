"""The audit chain as a person reads it: the log, verification, checkpoints."""

from __future__ import annotations

from typing import Any

from caseflow import access, audit, db
from caseflow.services.context import Context
from caseflow.services.records import (
    case_row,
    event_view,
    record,
    require,
)


def audit_log(ctx: Context, number: int | None = None) -> list[dict[str, Any]]:
    require(ctx, access.AUDIT_READERS, "audit log", case_id=number)
    with db.read(ctx.engine) as connection:
        if number is not None:
            case_row(connection, ctx.actor, number)
        return [event_view(row) for row in audit.events(connection, number)]


def audit_verify(ctx: Context, checkpoint: str | None = None) -> audit.Verification:
    require(ctx, access.AUDIT_READERS, "audit verify")
    parsed = audit.Checkpoint.parse(checkpoint) if checkpoint else None
    with db.read(ctx.engine) as connection:
        return audit.verify(connection, parsed)


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
