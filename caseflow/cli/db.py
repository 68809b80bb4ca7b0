"""`caseflow db upgrade`: schema migrations."""

import typer

from caseflow.cli.base import db_app, explicit_workspace


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from caseflow.services.workflows import upgrade_database

    typer.echo(f"Schema at revision {upgrade_database(explicit_workspace())}")
