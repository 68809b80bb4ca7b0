"""`caseflow roster ...`: the five registers (五查四比对): import, compare, history."""

from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import JsonOption, parse_day, print_json, roster_app, workspace_context
from caseflow.cli.present import (
    comparison_lines,
    import_history_lines,
    import_lines,
    rows_progress,
    stages,
)
from caseflow.cli.table import DEFAULT_LIMIT, LimitOption, echo_lines


@roster_app.command("import")
def roster_import(
    source: Annotated[
        str,
        typer.Argument(
            help="household (户籍), student (学籍), poverty (扶贫), disability (残疾人) or "
            "attendance (实际在校生)."
        ),
    ],
    file: Annotated[Path, typer.Argument(help="The register: CSV (UTF-8 or GBK) or XLSX.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the register was extracted (default today)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding", help="A CSV file's encoding, e.g. gbk (default: UTF-8, else GB18030)."
        ),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="原列名=字段 for a heading caseflow does not know, e.g. --map 户主村=village "
            "(repeatable).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a register file as the source's snapshot, replacing the previous one (the
    history of imports is kept). A 学籍 register of an earlier school year (--as-of
    2018-09-15) is kept as that year's snapshot for the 巩固率 cohort instead: the
    current snapshot stays the latest school year's. Headings in Chinese or English, any
    order; other columns are ignored. Bad rows are written, with the reason, to rejects/
    in the workspace; the good rows are imported, all in one transaction.

    \b
    Columns ([optional]):
      household   姓名 身份证号 性别 出生日期 乡镇 村 [组 户籍地址 监护人 联系电话]
      student     姓名 身份证号 学籍号 学校 年级 班级 学籍状态
      poverty     姓名 身份证号 乡镇 村 类别
      disability  姓名 身份证号 残疾类别 残疾等级 [残疾人证号]
      attendance  学校 姓名 身份证号 or 学籍号 年级 班级
    English headings: name id_number sex birth_date township village group address
    guardian phone student_number school grade class status category certificate.
    """
    from caseflow.services.roster import import_roster

    day = parse_day(as_of, "--as-of")
    ctx = workspace_context()
    with rows_progress(f"正在导入 {file.name}") as progress:
        summary = import_roster(
            ctx, source, file, as_of=day, encoding=encoding, mapping=maps or (), progress=progress
        )
    if as_json:
        print_json(summary.as_json())
        return
    for line in import_lines(summary):
        typer.echo(line)


@roster_app.command("compare")
def roster_compare(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Compare as of this day (reference date: the latest 1 September on or before it).",
        ),
    ] = None,
    open_found: Annotated[
        bool, typer.Option("--open-cases", help="Open a case for each suspect (idempotent).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --open-cases: say what would be opened.")
    ] = False,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show full resident IDs (permitted roles; logged).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the findings to FILE.csv/.xlsx.")
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """五查四比对: flag school-age children in 户籍, 扶贫 or 残疾人 without a 学籍 record
    (在读/休学), and 在读 students missing from 实际在校生, using each register's latest
    import."""
    from caseflow.services.cases import open_cases
    from caseflow.services.compare import check_reveal, compare, record_reveal, views, write_table

    ctx = workspace_context()
    if reveal:
        check_reveal(ctx)
    with stages("正在比对名册（五查四比对）"):
        comparison = compare(ctx, as_of=parse_day(as_of, "--as-of"))
    if reveal:
        record_reveal(ctx, comparison)
    opening = open_cases(ctx, comparison, dry_run=dry_run) if open_found else None
    if output is not None:
        written = write_table(output, comparison, reveal=reveal)
        typer.echo(f"Wrote {written} finding(s) to {output}", err=as_json)
    if as_json:
        print_json(views(comparison, reveal=reveal))
        return
    suspects = views(comparison, reveal=reveal)
    echo_lines(comparison_lines(comparison, suspects, opening, dry_run=dry_run, limit=limit))


@roster_app.command("history")
def roster_history(
    source: Annotated[str | None, typer.Argument(help="Only this register (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every import, newest first: when, who, which file (name and SHA-256), the counts;
    `*` marks each register's current snapshot."""
    from caseflow.services.roster import import_history

    ctx = workspace_context()
    records = import_history(ctx, source)
    if as_json:
        print_json([record.as_json() for record in records])
        return
    for line in import_history_lines(records, ctx.workspace.timezone):
        typer.echo(line)
