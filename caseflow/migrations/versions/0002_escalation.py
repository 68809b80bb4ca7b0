"""Escalation: the next thing the sweep must do for each case, fired rungs, the outbox,
and the scheduler lease.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("deadline_from", sa.Date))
        batch.add_column(
            sa.Column("extended_days", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("ladder_version", sa.Integer))
        batch.add_column(sa.Column("next_rung", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_action_on", sa.Date))
        batch.create_index("ix_case_file_next_action_on", ["next_action_on"])
    op.create_index(
        "ix_case_file_provisional", "case_file", ["id"],
        sqlite_where=sa.text("is_open = 1 AND due_provisional = 1"),
        postgresql_where=sa.text("is_open AND due_provisional"),
    )
    op.execute(
        "UPDATE case_file SET deadline_from = entered_on, ladder_version = version, "
        "next_action_on = CASE WHEN is_open THEN due_on END"
    )
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("ladder_version", sa.Integer, nullable=False),
        sa.Column("rung", sa.Integer, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("rung_on", sa.Date, nullable=False),
        sa.Column("fired_on", sa.Date, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("template", sa.String, nullable=False),
        sa.UniqueConstraint("case_id", "ladder_version", "rung", name="uq_escalation_once"),
    )
    op.create_index("ix_escalation_case_id", "escalation", ["case_id"])
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("template", sa.String, nullable=False),
        sa.Column("recipient", sa.String, nullable=False),
        sa.Column("case_ids", sa.JSON, nullable=False),
        sa.Column("subject", sa.String, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_notice_due", "notice", ["status", "next_attempt_at"])
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("holder", sa.String, nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    op.drop_index("ix_notice_due", table_name="notice")
    op.drop_table("notice")
    op.drop_index("ix_escalation_case_id", table_name="escalation")
    op.drop_table("escalation")
    with op.batch_alter_table("case_file") as batch:
        batch.drop_index("ix_case_file_next_action_on")
        batch.drop_index("ix_case_file_provisional")
        for column in ("next_action_on", "next_rung", "ladder_version", "extended_days",
                       "deadline_from"):
            batch.drop_column(column)
