"""A case holds its pending extension request: asked for by one operator, it moves the
deadline only when another, with an approve role, approves it.

Existing rows get NULL (no request pending): extensions granted before this revision
already moved their deadlines.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("extension_request", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.drop_column("extension_request")
