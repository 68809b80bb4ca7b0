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
    scope_text,
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
    ≥95%, zero dropouts, nine-year consolidation ≥95%) beside the actual figures, then the
    cases by state, returns, retention, relapses, the median days from identification to
    return, overdue cases and each responsible unit's on-time rate, with the definitions.
    Figures that need registers not imported say so. Your jurisdiction's cases only."""
    from caseflow.services.stats import percent, stats, target_line

    ctx = workspace_context()
    figures = stats(
        ctx, as_of=parse_day(as_of, "--as-of"), since=parse_day(since, "--since"), by=by
    )
    if as_json:
        print_json(figures.as_json())
        return
    view = figures.as_json()
    total = view["cases"]
    day = figures.as_of
    typer.echo(
        f"{ctx.workspace.county}控辍保学工作统计（截至{day.year}年{day.month}月{day.day}日；"
        f"统计期 {figures.since.isoformat()} 至 {day.isoformat()}；"
        f"范围：{scope_text(figures.scope)}）"
    )
    typer.echo("\n目标任务")
    for target in figures.targets:
        typer.echo("  " + target_line(target))
    typer.echo("\n案件（统计日）")
    for item in view["by_state"]:
        typer.echo(f"  {item['label']}（{item['state']}）  {item['count']}")
    typer.echo(
        f"  合计 {total['cases']}，在办 {total['open']}：疑似 {total['suspected']}，已确认辍学 "
        f"{total['open_dropouts']}，延缓入学/休学 {total['deferred']}，已复学巩固中 "
        f"{total['in_monitoring']}；逾期 {total['overdue']}"
    )
    median_days = total["median_days_to_return"]
    typer.echo("\n统计期内")
    typer.echo(
        f"  新发现 {total['identified']}，复学 {total['returned']}，巩固销号 "
        f"{total['retained']}，再次辍学 {total['relapses']} 人次（{total['relapsed_cases']} 案）"
    )
    typer.echo(
        "  发现至复学天数中位数 "
        + ("—" if median_days is None else f"{median_days:g} 天")
        + f"；劝返率 {percent(total['return_rate'])}"
        + f"；复学巩固率 {percent(total['retention_rate'])}"
    )
    on_time = total["on_time"]
    typer.echo(
        f"  按时办结率 {percent(on_time['rate'])}（按期 {on_time['met']}/到期 {on_time['due']}，"
        f"逾期 {on_time['missed']}，已升级督办 {on_time['escalated']}）"
    )
    typer.echo("\n责任单位按时办结率")
    if not figures.on_time:
        typer.echo("  统计期内没有到期的办理期限。")
    for unit in figures.on_time:
        d = unit.deadlines
        typer.echo(
            f"  {unit.label}  到期 {d.due}，按期 {d.met}，逾期 {d.missed}，已升级督办 "
            f"{d.escalated}，按时办结率 {percent(d.rate)}"
        )
    if figures.groups:
        typer.echo("\n按乡镇" if figures.by == "township" else "\n按学校")
        for group in figures.groups:
            g = group.as_json()
            rates = "".join(
                f"，{label} {percent(g[key]['rate'])}（{g[key]['numerator']}/"
                f"{g[key]['denominator']}）"
                for key, label in (
                    ("enrolment_rate", "入学率"),
                    ("disabled_enrolment_rate", "残疾儿童少年入学率"),
                    ("consolidation_rate", "九年义务教育巩固率"),
                )
                if key in g
            )
            typer.echo(
                f"  {group.name}  在办 {g['open']}，已确认辍学 {g['open_dropouts']}，复学 "
                f"{g['returned']}，巩固 {g['retained']}，再次辍学 {g['relapses']}，逾期 "
                f"{g['overdue']}，按时办结率 {percent(g['on_time']['rate'])}{rates}"
            )
    typer.echo("\n口径说明")
    for target in figures.targets:
        typer.echo(f"  {target.label}：{target.definition}")
    for text in view["definitions"].values():
        typer.echo(f"  {text}")


@report_app.command("html")
def report_html(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write, e.g. report.html.")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Figures as of this day (default today).")
    ] = None,
) -> None:
    """One self-contained HTML file (opens without network) for the county leadership:
    the targets, charts of cases per township and of the monthly flows, the overdue
    cases by responsible unit, and the audit chain's verification. Bureau or supervisor."""
    written = make_report(workspace_context(), output, parse_day(as_of, "--as-of"))
    typer.echo(f"Wrote {written}")


def make_report(ctx: "Context", output: Path, as_of: date | None = None) -> Path:
    """The leadership report: the statistics by township and the overdue review as of the
    same day, then the report made from them."""
    from caseflow.services import report
    from caseflow.services.review import overdue_review
    from caseflow.services.stats import stats

    report.check_reader(ctx)
    figures = stats(ctx, as_of=as_of, by="township")
    return report.write_report(ctx, output, figures, overdue_review(ctx, figures.as_of))
