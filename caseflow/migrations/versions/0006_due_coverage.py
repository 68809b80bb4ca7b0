"""Each deadline remembers the calendar coverage it was counted with, so the sweep recounts
provisional deadlines only when the calendar has learnt something since.

Existing rows get NULL (counted with an unknown calendar): the next sweep recounts the
open provisional ones once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("due_counted_with", sa.String))
    op.drop_index("ix_case_file_provisional", table_name="case_file")
    op.create_index(
        "ix_case_file_provisional", "case_file", ["due_counted_with", "id"],
        sqlite_where=sa.text("is_open = 1 AND due_provisional = 1"),
        postgresql_where=sa.text("is_open AND due_provisional"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_file_provisional", table_name="case_file")
    op.create_index(
        "ix_case_file_provisional", "case_file", ["id"],
        sqlite_where=sa.text("is_open = 1 AND due_provisional = 1"),
        postgresql_where=sa.text("is_open AND due_provisional"),
    )
    with op.batch_alter_table("case_file") as batch:
        batch.drop_column("due_counted_with")
