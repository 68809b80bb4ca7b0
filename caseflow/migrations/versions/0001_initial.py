"""Initial schema: children, guardians, cases, the audit chain, operators, workflows.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64

SQLITE_GUARDS = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    # INSERT OR REPLACE deletes the old row without firing the DELETE trigger.
    """CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
       WHEN EXISTS (SELECT 1 FROM audit_event WHERE seq = NEW.seq OR prev_hash = NEW.prev_hash
                    OR hash = NEW.hash)
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'the audit head is permanent'); END""",
]

POSTGRES_GUARDS = [
    """CREATE OR REPLACE FUNCTION caseflow_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END;
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION caseflow_audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION caseflow_audit_append_only()""",
    """CREATE TRIGGER audit_head_permanent BEFORE DELETE OR TRUNCATE ON audit_head
       FOR EACH STATEMENT EXECUTE FUNCTION caseflow_audit_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "child",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("id_number", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("ethnicity", sa.String),
        sa.Column("township", sa.String, nullable=False, index=True),
        sa.Column("village", sa.String, nullable=False),
        sa.Column("group_name", sa.String),
        sa.Column("school", sa.String),
        sa.Column("grade", sa.String),
        sa.Column("class_name", sa.String),
        sa.Column("student_number", sa.String),
    )
    op.create_table(
        "guardian",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("child.id"), nullable=False, index=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("relation", sa.String),
        sa.Column("phone", sa.String),
        sa.Column("workplace", sa.String),
    )
    op.create_table(
        "case_file",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("child.id"), nullable=False, index=True),
        sa.Column("workflow", sa.String, nullable=False),
        sa.Column("workflow_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String, nullable=False, index=True),
        sa.Column("entered_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, index=True),
        sa.Column("due_provisional", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("last_event_on", sa.Date, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("counters", sa.JSON, nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("departments", sa.JSON, nullable=False),
        sa.Column("repeat_count", sa.Integer, nullable=False),
        sa.Column("township", sa.String, nullable=False, index=True),
        sa.Column("village", sa.String, nullable=False),
        sa.Column("school", sa.String),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_case_file_one_open_per_child", "case_file", ["child_id"], unique=True,
        sqlite_where=sa.text("is_open"), postgresql_where=sa.text("is_open"),
    )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String, nullable=False),
        sa.Column("occurred_on", sa.String),
        sa.Column("operator", sa.String, nullable=False),
        sa.Column("os_user", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False, index=True),
        sa.Column("case_id", sa.Integer, index=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="audit_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "operator",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("os_user", sa.String, nullable=False, index=True),
        sa.Column("roles", sa.String, nullable=False),
        sa.Column("jurisdiction", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "workflow_definition",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    guards = SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRES_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    for table in ("workflow_definition", "operator", "audit_head", "audit_event", "case_file",
                  "guardian", "child"):
        op.drop_table(table)
