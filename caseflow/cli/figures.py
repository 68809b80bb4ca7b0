"""`caseflow ledger`, `caseflow stats` and `caseflow report html`: the ledgers (台账), the
figures against the targets, and the leadership report."""

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from caseflow.cli.base import (
    JsonOption,
    app,
    parse_day,
    print_json,
    report_app,
    workspace_context,
)
from caseflow.cli.present import (
    stats_lines,
    stderr_progress,
)

if TYPE_CHECKING:
    from caseflow.services.context import Context


@app.command("ledger")
def ledger_command(
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="county (every case you may see), township, village or school (name it "
            "with --unit).",
        ),
    ] = "county",
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="The township, school, or village (镇/村, or the village's name alone when "
            "only one township has it), e.g. --unit 天堂镇/天堂村.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The ledger as it stood on this day (default today): states, due dates and "
            "days as of then; cases identified later are left out.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="table | csv | xlsx | md | json (default: by the -o extension)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (default: print a table)."),
    ] = None,
) -> None:
    """The ledger (台账) of the county, a township, a village or a school: one row per case
    with the child (ID masked), place, state, reasons, responsible people (包保), dates,
    days in state, due date, days overdue, the latest persuasion attempt and the outcome.

    XLSX is laid out as an official ledger (title row, frozen headings, dates as dates) and
    opens in Excel and WPS; cells that a spreadsheet would read as a formula are written as
    text. A large ledger is written as it is read, in batches (constant memory), and the
    file only takes its name when complete. You see only the cases of your jurisdiction;
    the reading is recorded in the audit."""
    from caseflow.exports import output_format
    from caseflow.services.ledger import open_ledger, write_ledger

    ctx = workspace_context()
    output_format(output, fmt)
    ledger = open_ledger(ctx, level=level, unit=unit, as_of=parse_day(as_of, "--as-of"))
    if output is None:
        if not write_ledger(ledger, fmt, stream=sys.stdout):
            typer.echo(f"No cases: {ledger.title}", err=True)
        return
    with stderr_progress(ledger.count(), f"Writing {output.name}") as advance:
        count = write_ledger(ledger, fmt, output, progress=advance)
    typer.echo(f"Wrote {count} case(s) to {output}: {ledger.title}")


@app.command("stats")
def stats_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the figures stand on (default today)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start of the period for the flows and on-time rates (default 1 January "
            "of the --as-of year).",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Also per township or per school.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The county's targets (work plan: 100% enrolment, disabled children's enrolment
    ≥95%, zero dropouts, nine-year consolidation ≥95%) beside the actual figures by the
    official definitions (docs/figures.md), 辍学人数 by category (confirmed dropouts; 未入学
    待安置, 失踪失联 and 延缓入学/休学 apart), then the cases by state, returns,
    retention, relapses, the median days from identification to return, overdue cases,
    each responsible unit's on-time rate and each special group's (特殊群体) open cases
    and confirmed dropouts, with the definitions. Figures that need
    registers not imported say so. Your jurisdiction's cases only."""
    from caseflow.services.stats import stats

    ctx = workspace_context()
    figures = stats(
        ctx, as_of=parse_day(as_of, "--as-of"), since=parse_day(since, "--since"), by=by
    )
    if as_json:
        print_json(figures.as_json())
        return
    for line in stats_lines(ctx.workspace.county, figures):
        typer.echo(line)


@report_app.command("html")
def report_html(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write, e.g. report.html.")
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Figures as of this day, 统计截止日期 (default today)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start of the period for the flows and on-time rates (default the start of "
            "the school term the --as-of day falls in: 1 September or 1 March).",
        ),
    ] = None,
) -> None:
    """One self-contained HTML file (opens without network) for the county leadership:
    the period, the day it was made and the as-of day; the targets, charts of cases per
    township and of the monthly flows, the overdue cases by responsible unit (case
    numbers, no child's name or ID), and the audit chain's verification as a statement
    (hashes in an appendix). Bureau or supervisor."""
    written = make_report(
        workspace_context(),
        output,
        parse_day(as_of, "--as-of"),
        parse_day(since, "--since"),
    )
    typer.echo(f"Wrote {written}")


def make_report(
    ctx: "Context", output: Path, as_of: date | None = None, since: date | None = None
) -> Path:
    """The leadership report: the statistics by township and the overdue review as of the
    same day, then the report made from them."""
    from caseflow.services import report
    from caseflow.services.review import overdue_review
    from caseflow.services.stats import stats

    report.check_reader(ctx)
    start = report.report_since(ctx, as_of, since)
    figures = stats(ctx, as_of=as_of, since=start, by="township")
    return report.write_report(
        ctx,
        output,
        figures,
        overdue_review(ctx, figures.as_of),
        default_period=since is None,
    )
