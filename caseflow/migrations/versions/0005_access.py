"""Access control: operators come from the organisation file (with the OS accounts of
shared terminals that may act for them), each case keeps its 包保 responsibility chain,
and every referral of a case to a partner department is remembered so the department
can see its cases after they move on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator") as batch:
        batch.add_column(sa.Column("shared_accounts", sa.String, nullable=False, server_default=""))
        batch.add_column(sa.Column("unit", sa.String))
        batch.add_column(sa.Column("person", sa.String))
    with op.batch_alter_table("case_file") as batch:
        batch.add_column(sa.Column("chain", sa.JSON, nullable=False, server_default="{}"))
    op.create_table(
        "case_referral",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_file.id"), primary_key=True),
        sa.Column("department", sa.String, primary_key=True),
        sa.Column("referred_on", sa.Date, nullable=False),
    )
    op.create_index("ix_case_referral_department", "case_referral", ["department", "case_id"])
    op.create_table(
        "org_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String, nullable=False),
    )
    connection = op.get_bind()
    cases = connection.execute(
        sa.text("SELECT id, departments, last_event_on FROM case_file")
    ).all()
    referrals = [
        {"case_id": case_id, "department": department, "referred_on": day}
        for case_id, departments, day in cases
        for department in (json.loads(departments) if isinstance(departments, str) else departments)
    ]
    if referrals:
        connection.execute(
            sa.text(
                "INSERT INTO case_referral (case_id, department, referred_on) "
                "VALUES (:case_id, :department, :referred_on)"
            ),
            referrals,
        )


def downgrade() -> None:
    op.drop_table("org_version")
    op.drop_index("ix_case_referral_department", table_name="case_referral")
    op.drop_table("case_referral")
    with op.batch_alter_table("case_file") as batch:
        batch.drop_column("chain")
    with op.batch_alter_table("operator") as batch:
        for column in ("person", "unit", "shared_accounts"):
            batch.drop_column(column)
