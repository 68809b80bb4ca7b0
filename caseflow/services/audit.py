"""The audit chain as the supervision office checks it: verification and checkpoints
(the log itself is read through ``caseflow.services.review.audit_events``)."""

from __future__ import annotations

from caseflow import access, audit, db
from caseflow.services.context import Context
from caseflow.services.records import (
    record,
    require,
)


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
