"""`caseflow db grants`: the privileges of a two-role PostgreSQL deployment."""

import os
from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import db_app, explicit_workspace
from caseflow.i18n import N_, _


@db_app.command(
    "grants",
    help=N_(
        "Print the SQL that makes a PostgreSQL database a two-role deployment: the owner "
        "role owns the tables and the audit triggers (and runs `caseflow db upgrade`); the "
        "application role may read and write cases but only read and append audit events. "
        "With --apply, run it (connected as the owner or a superuser). Run it again after "
        "each `caseflow db upgrade`."
    ),
)
def db_grants_command(
    app_role: Annotated[
        str,
        typer.Option(
            "--app-role", help=N_("The role caseflow's commands connect as (e.g. caseflow_app).")
        ),
    ],
    owner_role: Annotated[
        str | None,
        typer.Option(
            "--owner-role",
            help=N_(
                "The role that owns the tables and triggers (default: the role connected); "
                "tables owned by another role are handed to it."
            ),
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help=N_("Apply the statements, all or nothing."))
    ] = False,
    owner_url: Annotated[
        str | None,
        typer.Option(
            "--owner-url",
            help=N_(
                "Connect with this database URL (the owner's) instead of the workspace's "
                "database.url; no workspace is needed then."
            ),
        ),
    ] = None,
) -> None:
    from caseflow.services.grants import database_grants

    if owner_url is None:
        from caseflow.workspace import load, locate

        owner_url = load(locate(explicit_workspace(), os.environ, Path.cwd())).database_url
    grants = database_grants(owner_url, app_role, owner_role, apply=apply)
    typer.echo(
        "-- "
        + _(
            "caseflow db grants: schema {schema}, owner role {owner}, application role {app}"
        ).format(schema=grants.schema, owner=grants.owner_role, app=grants.app_role)
    )
    typer.echo(grants.sql, nl=False)
    if apply:
        typer.echo(
            _("Applied {count} statements: {app} can no longer rewrite the audit trail.").format(
                count=len(grants.statements), app=grants.app_role
            )
        )
