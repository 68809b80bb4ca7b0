"""`caseflow doctor`: one report on the health of the workspace."""

from typing import TYPE_CHECKING, Annotated

import typer

from caseflow.cli.base import app, workspace_context
from caseflow.cli.table import table
from caseflow.i18n import N_, _

if TYPE_CHECKING:
    from caseflow.services.doctor import Report

# The status column, by check status.
STATUS_LABELS = {"ok": N_("OK"), "warning": N_("Warning"), "error": N_("Error")}


@app.command(
    "doctor",
    help=N_(
        "Check the workspace in one report: loose file permissions, the audit chain, the "
        "working-day calendar of this year and the next, the notice channels and the "
        "organisation in force; each check with what to do. Exit 0 when nothing is an "
        "error, 1 otherwise."
    ),
)
def doctor(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help=N_("Make the workspace's folders and files their owner's only (0700, 0600)."),
        ),
    ] = False,
) -> None:
    from caseflow.services.doctor import examine

    report = examine(workspace_context(), fix=fix)
    for line in doctor_lines(report):
        typer.echo(line)
    if report.failed:
        raise typer.Exit(1)


def doctor_lines(report: "Report") -> list[str]:
    """The report as a table of checks (status, what was found, what to do), then a
    summary line."""
    rows = []
    for check in report.checks:
        rows.append((_(check.name), _(STATUS_LABELS[check.status]), check.finding))
        if check.advice:
            rows.append(("", "", _("What to do: {advice}").format(advice=check.advice)))
    lines = table((_("Check"), _("Status"), _("Finding")), rows)
    errors = sum(check.status == "error" for check in report.checks)
    warnings = sum(check.status == "warning" for check in report.checks)
    if errors or warnings:
        lines.append(
            _("{errors} errors, {warnings} warnings.").format(errors=errors, warnings=warnings)
        )
    else:
        lines.append(_("All checks passed."))
    return lines
