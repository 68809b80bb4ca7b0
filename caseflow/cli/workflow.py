"""`caseflow workflow ...`: check, show and draw workflow definitions."""

from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import (
    JsonOption,
    bad_usage,
    explicit_workspace,
    print_json,
    workflow_app,
    workspace_context,
)
from caseflow.cli.present import migration_lines, stderr_progress, workflow_lines
from caseflow.cli.table import echo_lines
from caseflow.i18n import N_, _


@workflow_app.command(
    "check",
    help=N_("Report every problem in workflow files, with file and key path; exit 1 if any."),
)
def workflow_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help=N_("Workflow files (default: the shipped and workspace workflows).")),
    ] = None,
) -> None:
    from caseflow.services.workflows import check_workflow_files

    checked, problems = check_workflow_files(files or [], explicit_workspace())
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(
            _("{problems} problem(s) in {files} file(s).").format(
                problems=len(problems), files=len(checked)
            ),
            err=True,
        )
        raise typer.Exit(1)
    for path in checked:
        typer.echo(_("ok  {path}").format(path=path))


@workflow_app.command(
    "show",
    help=N_(
        "Print the states (with deadlines and ladders), the transitions and the special "
        "groups of a workflow."
    ),
)
def workflow_show(
    name: Annotated[
        str | None, typer.Argument(help=N_("Workflow name (default: dropout)."))
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.workflows import describe_workflow, workflow_by_name

    description = describe_workflow(workflow_by_name(name, explicit_workspace()))
    if as_json:
        print_json(description)
        return
    echo_lines(workflow_lines(description))


@workflow_app.command(
    "diagram",
    help=N_("Print a state diagram (Mermaid or Graphviz dot; SVG where Graphviz is installed)."),
)
def workflow_diagram(
    name: Annotated[
        str | None, typer.Argument(help=N_("Workflow name (default: dropout)."))
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help=N_("Diagram format: mermaid, dot or svg."))
    ] = "mermaid",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help=N_("Write to a file."))
    ] = None,
) -> None:
    from caseflow.services.workflows import diagram, workflow_by_name

    if fmt not in ("mermaid", "dot", "svg"):
        bad_usage(_("--format must be mermaid, dot or svg, got “{format}”.").format(format=fmt))
    content = diagram(workflow_by_name(name, explicit_workspace()), fmt)
    if output is not None:
        output.write_text(content, encoding="utf-8")
        typer.echo(_("Wrote {path}").format(path=output))
    else:
        typer.echo(content, nl=False)


@workflow_app.command(
    "migrate",
    help=N_(
        "Move every open case from an older version of the workflow to the version in "
        "force.\n\n"
        "The version in force is the workflow file the workspace uses (workflows/NAME.yaml "
        "in the workspace, else the shipped one): to bring in a new version, edit that file "
        "and raise its `version`; the older versions stay stored in the database. Where a "
        "state's id changes, the new file says where the old state went: "
        "`migrate_from: {1: {old_state: new_state}}`; a state with the same id needs no "
        "entry. If any open case's state has no place in the new version, or a case has "
        "counts (such as check-ins) of a trigger the new version lacks, nothing moves. Each "
        "case's deadline is counted again under the new rule from the day it started, plus "
        "any extension granted; a due date given in a field (such as an approved deferral's "
        "end) stays; escalation levels already reached are not sent again. Cases move in "
        "batches, with one audit event (case.migrated) each; a run that stopped can be run "
        "again to move the rest. Closed cases are not touched. For the bureau and admin "
        "roles."
    ),
)
def workflow_migrate(
    to: Annotated[
        int, typer.Option("--to", help=N_("The version to move to: the version in force."))
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Show what would move; change nothing."))
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help=N_("Cases per transaction."), hidden=True)
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.migrate import count_to_migrate, migrate

    ctx = workspace_context()
    total = 0 if as_json else count_to_migrate(ctx, to)
    with stderr_progress(total, _("Moving cases")) as advance_bar:
        report = migrate(ctx, to, dry_run=dry_run, batch_size=batch_size, progress=advance_bar)
    if as_json:
        print_json(report.as_json())
        return
    for line in migration_lines(report.as_json()):
        typer.echo(line)
