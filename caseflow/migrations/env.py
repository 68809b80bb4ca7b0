"""Alembic environment: caseflow runs migrations on a connection it already holds."""

from alembic import context
from sqlmodel import SQLModel

import caseflow.models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
