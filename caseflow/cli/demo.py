"""`caseflow demo`: the whole system on a synthetic county."""

from pathlib import Path
from typing import Annotated, Any

import typer

from caseflow.cli.base import app, parse_day
from caseflow.cli.present import stages


@app.command("demo")
def demo_command(
    directory: Annotated[
        Path, typer.Argument(help="A new (or empty) folder for the demo workspace.")
    ] = Path("caseflow-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help="The same seed gives the same county and casework.")
    ] = 2026,
    children: Annotated[
        int, typer.Option("--children", help="Resident children of the synthetic county.")
    ] = 3000,
    days: Annotated[int, typer.Option("--days", help="Days of casework to play.")] = 120,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="The first day of casework (default 2025-09-15, a term whose holiday "
            "calendar is known); the days played must be over.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Database URL (default: SQLite inside the workspace)."),
    ] = None,
) -> None:
    """See the whole system work on a synthetic county, on this machine only.

    Makes a workspace in DIRECTORY: a county of townships, villages and schools (印江自治县,
    invented people), its org.yaml, the five registers with planted discrepancies; imports
    and compares them and opens cases; then plays a term of casework day by day
    (verifications, closures, persuasion visits, handoffs to partner departments, the legal
    route, returns, a relapse) while the sweep escalates lapsed deadlines and the
    dispatcher delivers notices: letters to outbox/, e-mail and group-robot messages to a
    local capture in capture/. Prints the outcome and where to look next."""
    from caseflow.demo.run import lines, run_demo

    kwargs: dict[str, Any] = {"seed": seed, "children": children, "days": days}
    first = parse_day(start, "--start")
    if first is not None:
        kwargs["start"] = first
    with stages("正在生成示范县") as progress:
        report = run_demo(directory, database_url=database_url, progress=progress, **kwargs)
    for line in lines(report):
        typer.echo(line)
    if not report.audit_intact:
        raise typer.Exit(1)
