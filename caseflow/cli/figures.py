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
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="台账种类：work（控辍保学工作台账，默认）、suspected（疑似失学辍学）、"
            "returned（劝返复学）、cultural（文化户口，依据户籍/学籍登记）；中文名称亦可，"
            "如 --kind 文化户口。",
        ),
    ] = None,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="county（县级：您可查看的全部案件）、township、village 或 school（用 --unit "
            "指明单位）。",
        ),
    ] = "county",
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="乡镇、学校或村（写作“镇/村”，村名在您的案件中唯一时可只写村名），如 --unit "
            "天堂镇/天堂村；--unit 待核实：地址待核实的案件。",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="统计截止日期（默认今天）：状态、期限和天数按当日计，此后发现的案件不列入。",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="table | csv | xlsx | md | json（默认按 -o 的扩展名）。"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="写入此文件（默认在终端列出主要栏目）。"),
    ] = None,
) -> None:
    """台账（四台账：县、乡镇、村、学校）：控辍保学工作台账每案一行，列明儿童（身份证号
    遮蔽）、性别、出生日期、民族、学籍号、住址、学校、年级班级、监护人及联系电话、特殊群体、
    状态、辍学原因、离校日期、去向、包保责任人、期限与逾期、劝返次数、复学日期与学校、安置
    方式、残疾类别等级、办理结果、销号原因和办结日期；另有疑似失学辍学台账、劝返复学台账、
    地址待核实台账，以及依据户籍/学籍登记的文化户口台账。

    XLSX 按正式台账排版（标题、填报单位与日期、表头冻结并逐页重复、边框、自动换行、
    A4 横向、页码、签字栏），可用 Excel 和 WPS 打开；会被电子表格当作公式的单元格按文本
    写入。大台账边读边写（内存不随案件数增长），写完才以文件名出现。您只能看到本人管辖
    范围内的案件；每次查阅记入审计。"""
    from caseflow.exports import output_format
    from caseflow.services.ledger import open_ledger, write_ledger

    ctx = workspace_context()
    output_format(output, fmt)
    ledger = open_ledger(ctx, level=level, unit=unit, as_of=parse_day(as_of, "--as-of"), kind=kind)
    if output is None:
        if not write_ledger(ledger, fmt, stream=sys.stdout):
            typer.echo(f"无记录：{ledger.title}", err=True)
        return
    with stderr_progress(ledger.count(), f"正在写入 {output.name}") as advance:
        count = write_ledger(ledger, fmt, output, progress=advance)
    typer.echo(f"已将 {count} 条记录写入 {output}：{ledger.title}")


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
