"""A notice may be queued by what renders it: its template's context (canonical JSON) and
the hash of the template's source, its body rendered and stored when first needed (see
``caseflow/services/outbox.py``). Existing notices keep their rendered bodies.

Downgrading is refused while a notice still waits for its body (the older schema requires
one); rendered notices lose their context.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from caseflow.errors import WorkspaceError

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.alter_column("body", existing_type=sa.Text, nullable=True)
        batch.add_column(sa.Column("context", sa.Text))
        batch.add_column(sa.Column("template_sha256", sa.String(64)))


def downgrade() -> None:
    waiting = op.get_bind().execute(
        sa.text("SELECT count(*) FROM notice WHERE body IS NULL")
    ).scalar_one()
    if waiting:
        raise WorkspaceError(
            f"{waiting} notice(s) queued by their context have no rendered body yet, which "
            "the older schema requires; deliver or show them first (`caseflow notify "
            "dispatch` renders every notice it routes), then downgrade"
        )
    with op.batch_alter_table("notice") as batch:
        batch.drop_column("template_sha256")
        batch.drop_column("context")
        batch.alter_column("body", existing_type=sa.Text, nullable=False)
