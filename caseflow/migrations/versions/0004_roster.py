"""Rosters: the five registers (户籍, 学籍, 扶贫, 残疾人, 实际在校生) as imported snapshots,
with the history of every import.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_import",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("file_name", sa.String, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String, nullable=False),
        sa.Column("os_user", sa.String, nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_imported", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("rejects_file", sa.String),
        sa.Column("current", sa.Boolean, nullable=False),
    )
    op.create_index("ix_roster_import_source", "roster_import", ["source", "current"])
    op.create_table(
        "roster_row",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("roster_import.id"), nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("id_number", sa.String(18)),
        sa.Column("name", sa.String),
        sa.Column("sex", sa.String(1)),
        sa.Column("birth_date", sa.Date),
        sa.Column("township", sa.String),
        sa.Column("village", sa.String),
        sa.Column("group_name", sa.String),
        sa.Column("address", sa.String),
        sa.Column("guardian", sa.String),
        sa.Column("phone", sa.String),
        sa.Column("student_number", sa.String),
        sa.Column("school", sa.String),
        sa.Column("grade", sa.String),
        sa.Column("class_name", sa.String),
        sa.Column("status", sa.String),
        sa.Column("category", sa.String),
        sa.Column("disability_grade", sa.Integer),
        sa.Column("certificate", sa.String),
    )
    op.create_index("ix_roster_row_source_id_number", "roster_row", ["source", "id_number"])
    op.create_index(
        "ix_roster_row_source_student_number", "roster_row", ["source", "student_number"]
    )
    op.create_index("ix_roster_row_import_id", "roster_row", ["import_id"])


def downgrade() -> None:
    op.drop_table("roster_row")
    op.drop_table("roster_import")
