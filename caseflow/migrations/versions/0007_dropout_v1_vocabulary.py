"""A stored definition of the shipped workflow `dropout` version 1 learns the vocabulary
workflow files now declare: each state's category, the reason lists, the partner
departments and the routes.

What a version-1 case does is unchanged (the same states, transitions, deadlines and
ladders); the file only says in words what code used to know by state id, and a stored
definition without categories no longer loads. The shipped text is recognised by its
hash (``data/dropout-v1-before-0007.yaml``) and replaced by the same workflow with its
vocabulary (``data/dropout-v1.yaml``), under that text's hash. A stored version 1 with
another hash is a county's own edit: it is left as it is, and loading it names the
categories it lacks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import hashlib
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DATA = Path(__file__).parent.parent / "data"
WITHOUT_VOCABULARY = (DATA / "dropout-v1-before-0007.yaml").read_text(encoding="utf-8")
WITH_VOCABULARY = (DATA / "dropout-v1.yaml").read_text(encoding="utf-8")

_definition = sa.table(
    "workflow_definition",
    sa.column("name", sa.String),
    sa.column("version", sa.Integer),
    sa.column("sha256", sa.String),
    sa.column("source", sa.Text),
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replace(old_source: str, new_source: str) -> None:
    op.execute(
        _definition.update()
        .where(
            _definition.c.name == "dropout",
            _definition.c.version == 1,
            _definition.c.sha256 == _sha256(old_source),
        )
        .values(source=new_source, sha256=_sha256(new_source))
    )


def upgrade() -> None:
    _replace(WITHOUT_VOCABULARY, WITH_VOCABULARY)


def downgrade() -> None:
    _replace(WITH_VOCABULARY, WITHOUT_VOCABULARY)
