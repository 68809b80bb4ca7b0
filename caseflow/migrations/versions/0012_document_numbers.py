"""文号: each issuer's running number per year (``document_sequence``, one row per issuer
and year, locked while a number is taken), and every number a document carries
(``document_number``: allocated or typed by a person), unique per issuer, so that no
issuer gives the same number twice (see ``caseflow/services/numbering.py``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_sequence",
        sa.Column("issuer", sa.String, primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "document_number",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issuer", sa.String, nullable=False),
        sa.Column("reference", sa.String, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("serial", sa.Integer),
        sa.Column("given", sa.Boolean, nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("template", sa.String, nullable=False),
        sa.Column("letter", sa.String, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issuer", "reference", name="uq_document_number_issuer_reference"),
    )
    op.create_index("ix_document_number_letter", "document_number", ["letter"])
    op.create_index("ix_document_number_case", "document_number", ["case_id", "template"])


def downgrade() -> None:
    op.drop_index("ix_document_number_case", "document_number")
    op.drop_index("ix_document_number_letter", "document_number")
    op.drop_table("document_number")
    op.drop_table("document_sequence")
