"""Each case remembers who moved it into its current state (a closure proposed by one
person is approved by another) and where it came from (a transition that ``returns``
leads back there).

Open cases get both from their audit trail: the operator and the source state of the
transition that last entered their current state from another (or of the opening).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("came_from", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("entered_by", sa.String))
    connection = op.get_bind()
    open_cases = dict(
        connection.execute(sa.text("SELECT id, state FROM case_file WHERE is_open")).all()
    )
    if not open_cases:
        return
    found: dict[int, tuple[str, list[str]]] = {}
    events = connection.execute(
        sa.text(
            "SELECT case_id, action, operator, payload FROM audit_event "
            "WHERE action IN ('case.opened', 'case.transition') AND case_id IS NOT NULL "
            "ORDER BY seq"
        )
    )
    for case_id, action, operator, payload in events:
        state = open_cases.get(case_id)
        if state is None:
            continue
        if action == "case.opened":
            found[case_id] = (operator, [])
            continue
        move = json.loads(payload)
        if move.get("to") == state and move.get("from") != state:
            found[case_id] = (operator, [str(move.get("from"))])
    update = sa.text(
        "UPDATE case_file SET entered_by = :b_operator, came_from = :b_came_from WHERE id = :b_id"
    )
    if not found:
        return
    connection.execute(
        update,
        [
            {"b_id": case_id, "b_operator": operator, "b_came_from": json.dumps(came_from)}
            for case_id, (operator, came_from) in found.items()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.drop_column("entered_by")
        batch.drop_column("came_from")
