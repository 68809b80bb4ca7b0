"""`caseflow calendar check`: the years the working-day calendar covers."""

import typer

from caseflow.cli.base import calendar_app, workspace_context


@calendar_app.command("check")
def calendar_check() -> None:
    """Years the working-day calendar covers and the provisional deadlines waiting;
    exit 1 when next year is not covered yet."""
    from caseflow.services.sweep import provisional_deadlines

    ctx = workspace_context()
    years = ctx.calendar.known_years()
    typer.echo(
        f"Working-day calendar covers {years[0]}–{years[-1]}"
        if years == tuple(range(years[0], years[-1] + 1))
        else f"Working-day calendar covers {', '.join(map(str, years))}"
    )
    waiting = provisional_deadlines(ctx)
    typer.echo(f"Provisional deadlines waiting: {len(waiting)}")
    for row in waiting:
        typer.echo(f"  case {row.id:<6} {row.state:<22} due {row.due_on.isoformat()} (provisional)")
    coming = ctx.today.year + 1
    if not ctx.calendar.is_known_year(coming):
        typer.echo(
            f"Error: {coming} has no official holiday calendar yet. When the State Council "
            f"publishes it (usually in November), upgrade chinese-calendar "
            f"(pip install -U chinese-calendar) or list {coming}'s rest days and make-up "
            f"working days in {ctx.workspace.holiday_file} with complete_years: [{coming}]. "
            "Provisional deadlines are recomputed, and audited, at the next sweep.",
            err=True,
        )
        raise typer.Exit(1)
