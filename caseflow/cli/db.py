"""`caseflow db upgrade`: schema migrations."""

import typer

from caseflow.cli.base import db_app, explicit_workspace
from caseflow.i18n import N_, _


@db_app.command("upgrade", help=N_("Apply pending schema migrations."))
def db_upgrade() -> None:
    from caseflow.services.workflows import upgrade_database

    revision = upgrade_database(explicit_workspace())
    typer.echo(_("Schema at revision {revision}").format(revision=revision))
