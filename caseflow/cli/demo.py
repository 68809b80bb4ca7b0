"""`caseflow demo`: the whole system on a synthetic county."""

from pathlib import Path
from typing import Annotated, Any

import typer

from caseflow.cli.base import app, parse_day
from caseflow.cli.present import stages
from caseflow.i18n import N_, _


@app.command(
    "demo",
    short_help=N_("The whole system on a synthetic county, on this machine only."),
    help=N_(
        "See the whole system work on a synthetic county, on this machine only.\n\n"
        "Makes a workspace in DIRECTORY: a county of townships, villages and schools (印江自治县, "
        "invented people), its org.yaml, the five registers with planted discrepancies; "
        "imports and compares them and opens cases; then plays a term of casework day by day "
        "(verifications, closures, persuasion visits, handoffs to partner departments, the "
        "legal route, returns, a relapse) while the sweep escalates lapsed deadlines and the "
        "dispatcher delivers notices: letters to outbox/, e-mail and group-robot messages to "
        "a local capture in capture/. Prints the outcome and where to look next."
    ),
)
def demo_command(
    directory: Annotated[
        Path,
        typer.Argument(
            help=N_("A new (or empty) folder for the demo workspace."), metavar=N_("DIRECTORY")
        ),
    ] = Path("caseflow-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help=N_("The same seed gives the same county and casework."))
    ] = 2026,
    children: Annotated[
        int, typer.Option("--children", help=N_("Resident children of the synthetic county."))
    ] = 3000,
    days: Annotated[int, typer.Option("--days", help=N_("Days of casework to play."))] = 120,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help=N_(
                "The first day of casework (default 2025-09-15, a term whose holiday calendar "
                "is known); the days played must be over."
            ),
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help=N_("Database URL (default: SQLite inside the workspace).")
        ),
    ] = None,
) -> None:
    from caseflow.demo.run import lines, run_demo

    kwargs: dict[str, Any] = {"seed": seed, "children": children, "days": days}
    first = parse_day(start, "--start")
    if first is not None:
        kwargs["start"] = first
    with stages(_("Making the demonstration county")) as progress:
        report = run_demo(directory, database_url=database_url, progress=progress, **kwargs)
    for line in lines(report):
        typer.echo(line)
    if not report.audit_intact:
        raise typer.Exit(1)
