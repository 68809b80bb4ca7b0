"""A guardian record says in what capacity the person stands to the child: a legal
guardian (``legal``: the parents, others only on the grounds of 民法典 art. 27, with the
basis recorded in ``legal_basis``) or an entrusted carer (``carer``: 被委托照护人,
未成年人保护法 art. 22), such as the grandmother of a left-behind child.

Existing rows get ``legal`` when the relation recorded is a parent, else ``carer``: an
order to correct goes to legal guardians only, and nothing on record said that anyone
else was one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# caseflow.services.records.PARENT_RELATIONS as of this revision.
PARENTS = ("父亲", "母亲", "父", "母", "爸爸", "妈妈", "养父", "养母")

_guardian = sa.table(
    "guardian",
    sa.column("relation", sa.String),
    sa.column("capacity", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("guardian") as batch:
        batch.add_column(
            sa.Column("capacity", sa.String, nullable=False, server_default="carer")
        )
        batch.add_column(sa.Column("legal_basis", sa.Text))
    op.execute(
        _guardian.update()
        .where(sa.func.trim(_guardian.c.relation).in_(PARENTS))
        .values(capacity="legal")
    )


def downgrade() -> None:
    with op.batch_alter_table("guardian") as batch:
        batch.drop_column("legal_basis")
        batch.drop_column("capacity")
