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
from caseflow.i18n import N_, _

if TYPE_CHECKING:
    from caseflow.services.context import Context


@app.command(
    "ledger",
    short_help=N_(
        "The ledgers (台账) of the cases, on the terminal or as XLSX, CSV, Markdown or JSON."
    ),
    help=N_(
        "The ledgers (台账; four levels: county, township, village, school). The work ledger "
        "has one row per case: the child (resident ID masked), sex, date of birth, "
        "ethnicity, student number, address, school, grade and class, guardians and their "
        "phones, special groups, state, dropout reason, date of leaving, whereabouts, the "
        "responsible persons (包保责任人), deadline and overdue, persuasion visits, date and "
        "school of return, placement, disability category and grade, outcome, closure "
        "reason and closing date; besides it the ledgers of suspected dropouts, of returns, "
        "of addresses awaiting verification, and the cultural-record ledger (文化户口) from "
        "the household and student registers.\n\n"
        "XLSX is laid out as an official ledger (title, reporting unit and date, header "
        "frozen and repeated on every page, borders, wrapped text, A4 landscape, page "
        "numbers, signature lines) and opens in Excel and WPS; a cell a spreadsheet would "
        "take for a formula is written as text. Large ledgers are written as they are read "
        "(memory does not grow with the number of cases) and appear under their file name "
        "only when complete. You see only the cases in your jurisdiction; every reading is "
        "recorded in the audit."
    ),
)
def ledger_command(
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help=N_(
                "Which ledger: work (the dropout work ledger, the default), suspected "
                "(suspected dropouts), returned (returns to school), cultural (cultural "
                "records, from the household and student registers); the Chinese name works "
                "too, e.g. --kind 文化户口."
            ),
        ),
    ] = None,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help=N_(
                "county (every case you may see), township, village or school (name the unit "
                "with --unit)."
            ),
        ),
    ] = "county",
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help=N_(
                "A township, school or village (written TOWNSHIP/VILLAGE, or the village alone "
                "when it is unique among your cases), e.g. --unit 天堂镇/天堂村; --unit 待核实: "
                "the cases whose address awaits verification."
            ),
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=N_(
                "The as-of day (default today): states, deadlines and days stand as on that "
                "day; cases found later are left out."
            ),
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=N_("table | csv | xlsx | md | json (default: from the extension of -o)."),
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help=N_("Write to this file (default: the key columns on the terminal)."),
        ),
    ] = None,
) -> None:
    from caseflow.exports import output_format
    from caseflow.services.ledger import open_ledger, write_ledger

    ctx = workspace_context()
    output_format(output, fmt)
    ledger = open_ledger(ctx, level=level, unit=unit, as_of=parse_day(as_of, "--as-of"), kind=kind)
    if output is None:
        if not write_ledger(ledger, fmt, stream=sys.stdout):
            typer.echo(_("No records: {title}").format(title=ledger.title), err=True)
        return
    with stderr_progress(ledger.count(), _("Writing {file}").format(file=output.name)) as advance:
        count = write_ledger(ledger, fmt, output, progress=advance)
    typer.echo(
        _("Wrote {count} records to {file}: {title}").format(
            count=count, file=output, title=ledger.title
        )
    )


@app.command(
    "stats",
    short_help=N_("The targets beside the actual figures, by the official definitions."),
    help=N_(
        "The county's targets (work plan: 100% enrolment, disabled children's enrolment "
        "≥95%, zero dropouts, nine-year consolidation ≥95%) beside the actual figures by the "
        "official definitions (docs/figures.md), 辍学人数 by category (confirmed dropouts; 未入学"
        "待安置, 失踪失联 and 延缓入学/休学 apart), then the cases by state, returns, "
        "retention, relapses, the median days from identification to return, overdue cases, "
        "each responsible unit's on-time rate and each special group's (特殊群体) open cases "
        "and confirmed dropouts, with the definitions. Figures that need registers not "
        "imported say so. Your jurisdiction's cases only."
    ),
)
def stats_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help=N_("The day the figures stand on (default today).")),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help=N_(
                "Start of the period for the flows and on-time rates (default 1 January of "
                "the --as-of year)."
            ),
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help=N_("Also per township or per school (township | school).")),
    ] = None,
    as_json: JsonOption = False,
) -> None:
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


@report_app.command(
    "html",
    short_help=N_("The leadership report as one HTML file."),
    help=N_(
        "One self-contained HTML file (opens without network) for the county leadership: "
        "the period, the day it was made and the as-of day; the targets, charts of cases per "
        "township and of the monthly flows, the overdue cases by responsible unit (case "
        "numbers, no child's name or ID), and the audit chain's verification as a statement "
        "(hashes in an appendix). Bureau or supervisor."
    ),
)
def report_html(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help=N_("The HTML file to write, e.g. report.html.")),
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help=N_("Figures as of this day (default today).")),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help=N_(
                "Start of the period for the flows and on-time rates (default the start of the "
                "school term the --as-of day falls in: 1 September or 1 March)."
            ),
        ),
    ] = None,
) -> None:
    written = make_report(
        workspace_context(),
        output,
        parse_day(as_of, "--as-of"),
        parse_day(since, "--since"),
    )
    typer.echo(_("Wrote {file}").format(file=written))


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
