"""Special groups on the child (特殊群体: 残疾, 贫困/脱贫户, 留守...): ``child_group``, one
row per child, group and source (a register or a caseworker), disability with its
category and grade. Existing children belong to no group until a caseworker or a
register says so.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_group",
        sa.Column("child_id", sa.Integer, sa.ForeignKey("child.id"), primary_key=True),
        sa.Column("code", sa.String, primary_key=True),
        sa.Column("source", sa.String, primary_key=True),
        sa.Column("disability_category", sa.String),
        sa.Column("disability_grade", sa.Integer),
        sa.Column("recorded_on", sa.Date, nullable=False),
    )
    op.create_index("ix_child_group_code", "child_group", ["code", "child_id"])


def downgrade() -> None:
    op.drop_index("ix_child_group_code", "child_group")
    op.drop_table("child_group")
