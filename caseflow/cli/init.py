"""`caseflow init`: make a workspace."""

from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import app
from caseflow.cli.present import workspace_created_lines
from caseflow.i18n import N_


@app.command(
    help=N_(
        "Create a workspace: caseflow.toml, org.yaml, the database, outbox/. The OS account "
        "running this becomes the first operator, with the county-wide bureau and admin "
        "roles."
    )
)
def init(
    directory: Annotated[Path, typer.Argument(help=N_("Folder for the new workspace."))] = Path(),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help=N_("Database URL (default: sqlite:///caseflow.db inside the workspace)."),
        ),
    ] = None,
    county: Annotated[
        str | None,
        typer.Option(
            "--county",
            help=N_(
                "County name printed on notices, e.g. 印江自治县 (default: 本县; 示范县 with "
                "--example-org)."
            ),
        ),
    ] = None,
    example_org: Annotated[
        bool,
        typer.Option(
            "--example-org",
            help=N_(
                "Write the example organisation of a small county (示范县: units, people, "
                "operators, contacts) as org.yaml instead of the short template."
            ),
        ),
    ] = False,
) -> None:
    from caseflow.services.context import init_workspace

    county = county or ("示范县" if example_org else "本县")
    workspace, operator = init_workspace(
        directory, database_url, county=county, example_org=example_org
    )
    for line in workspace_created_lines(workspace, operator, example_org=example_org):
        typer.echo(line)
