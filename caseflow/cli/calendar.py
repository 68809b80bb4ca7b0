"""`caseflow calendar check`: the years the working-day calendar covers."""

import typer

from caseflow.cli.base import calendar_app, workspace_context
from caseflow.cli.present import calendar_gap_message, calendar_lines
from caseflow.i18n import N_


@calendar_app.command(
    "check",
    help=N_(
        "Years the working-day calendar covers and the provisional deadlines waiting; "
        "exit 1 when next year is not covered yet."
    ),
)
def calendar_check() -> None:
    from caseflow.services.sweep import provisional_deadlines

    ctx = workspace_context()
    for line in calendar_lines(ctx.calendar.known_years(), provisional_deadlines(ctx)):
        typer.echo(line)
    coming = ctx.today.year + 1
    if not ctx.calendar.is_known_year(coming):
        typer.echo(calendar_gap_message(coming, ctx.workspace.holiday_file), err=True)
        raise typer.Exit(1)
