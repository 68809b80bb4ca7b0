"""Delivery: each notice is routed to one channel and address, claimed with a lease, and
every attempt is kept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.add_column(sa.Column("channel", sa.String))
        batch.add_column(sa.Column("address", sa.String))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("claimed_by", sa.String))
        batch.add_column(sa.Column("peer_reference", sa.String))
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notice_id", sa.Integer, sa.ForeignKey("notice.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("address", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("peer_reference", sa.String),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_notice_id", "delivery", ["notice_id"])
    op.create_index("ix_delivery_rate", "delivery", ["channel", "address", "at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_rate", table_name="delivery")
    op.drop_index("ix_delivery_notice_id", table_name="delivery")
    op.drop_table("delivery")
    with op.batch_alter_table("notice") as batch:
        for column in ("peer_reference", "claimed_by", "claimed_until", "address", "channel"):
            batch.drop_column(column)
