"""`caseflow org ...`: the organisation file: check, apply, show."""

from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import (
    JsonOption,
    explicit_workspace,
    org_app,
    print_json,
    workspace_context,
)
from caseflow.cli.present import (
    ORG_EDITS_NOT_IN_FORCE,
    org_applied_lines,
    org_checked_line,
    org_lines,
)
from caseflow.errors import EXIT_BAD_INPUT
from caseflow.i18n import N_, _


@org_app.command(
    "check",
    help=N_("Report every problem in an organisation file, with file and key path; exit 2 if any."),
)
def org_check(
    file: Annotated[
        Path | None,
        typer.Argument(help=N_("An organisation file (default: the workspace's org.yaml).")),
    ] = None,
) -> None:
    from caseflow.services.org import check_org

    checked = check_org(file, explicit_workspace())
    path, org, problems = checked.path, checked.org, checked.problems
    for problem in problems:
        typer.echo(str(problem), err=True)
    if org is None or problems:
        typer.echo(
            _("{count} problem(s) in {path}.").format(count=len(problems), path=path),
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    typer.echo(org_checked_line(path, org))


@org_app.command(
    "apply",
    help=N_(
        "Put the organisation file in force (admin only, audited): its operators become the "
        "ones caseflow knows, new cases take their 包保 chains from it, and notices are routed "
        "by its contacts. Refused if the file has problems or would leave you without the "
        "admin role."
    ),
)
def org_apply(
    file: Annotated[
        Path | None,
        typer.Argument(help=N_("The organisation file (default: the workspace's org.yaml).")),
    ] = None,
) -> None:
    from caseflow.services.org import apply_org

    applied = apply_org(workspace_context(), file)
    for line in org_applied_lines(applied):
        typer.echo(line)


@org_app.command(
    "show",
    help=N_(
        "Print the organisation in force (the one applied with `caseflow org apply`, which "
        "notices, 包保 chains and operators follow): units as a tree with their people, "
        "operators with their roles and jurisdiction, and the other contacts. Warns when "
        "org.yaml has been edited since it was applied."
    ),
)
def org_show(as_json: JsonOption = False) -> None:
    from caseflow.services.org import show_org

    shown = show_org(workspace_context())
    if shown.unapplied_edits:
        typer.echo(_(ORG_EDITS_NOT_IN_FORCE), err=True)
    if as_json:
        print_json(shown.description)
        return
    for line in org_lines(shown.org):
        typer.echo(line)
