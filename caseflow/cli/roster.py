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
from caseflow.i18n import N_, _

IMPORT_HELP = N_(
    """Import a register file as the register's snapshot, replacing the previous one (the
history of imports is kept). Name the register in Chinese or by its code: 户籍 (household),
学籍 (student), 扶贫 (poverty), 残疾人 (disability), 实际在校生 (attendance). A 学籍
register of an earlier school year (--as-of 2018-09-15) is kept as that year's snapshot
for the 巩固率 cohort instead: the current snapshot stays the latest school year's.
Headings in Chinese or English, any order; other columns are ignored. Bad rows are
written, with the reason, to rejects/ in the workspace (a cell a spreadsheet would run as
a formula is written as text); the good rows are imported, all in one transaction. A row
whose child was born after --as-of is rejected.

\b
Columns ([optional]):
  户籍 household      姓名 身份证号 性别 出生日期 乡镇 村 [组 户籍地址 监护人 联系电话]
  学籍 student        姓名 身份证号 学籍号 学校 年级 班级 学籍状态
  扶贫 poverty        姓名 身份证号 乡镇 村 类别
  残疾人 disability   姓名 身份证号 残疾类别 残疾等级 [残疾人证号]
  实际在校生 attendance  学校 姓名 身份证号 or 学籍号 年级 班级
English headings: name id_number sex birth_date township village group address guardian
phone student_number school grade class status category certificate.

\b
Two columns with the same heading (two 姓名): name the one to use by its position,
counted from 1: --map 7=name (or --map 第7列=name).

\b
Limits (caseflow.toml [import]): max_rows 2000000, max_columns 1000, max_cell_chars 1000,
max_xlsx_expanded_mb 512; a file beyond them is refused at once. Names: at most 50
characters."""
)


@roster_app.command("import", help=IMPORT_HELP)
def roster_import(
    source: Annotated[
        str,
        typer.Argument(
            help=N_(
                "The register: 户籍 (household), 学籍 (student), 扶贫 (poverty), 残疾人 "
                "(disability) or 实际在校生 (attendance)."
            )
        ),
    ],
    file: Annotated[
        Path, typer.Argument(help=N_("The register file: CSV (UTF-8 or GBK) or XLSX."))
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help=N_("The day the register was extracted (default today).")),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help=N_("A CSV file's encoding, e.g. gbk (default: UTF-8, else GB18030)."),
        ),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help=N_(
                "HEADING=FIELD for a heading caseflow does not know, e.g. --map "
                "户主村=village; POSITION=FIELD for a column by its position counted from 1, "
                "e.g. --map 7=name when two columns share a heading (repeatable)."
            ),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.roster import import_roster

    day = parse_day(as_of, "--as-of")
    ctx = workspace_context()
    label = _("Importing {file}").format(file=file.name)
    with rows_progress(label) as progress:
        summary = import_roster(
            ctx, source, file, as_of=day, encoding=encoding, mapping=maps or (), progress=progress
        )
    if as_json:
        print_json(summary.as_json())
        return
    for line in import_lines(summary):
        typer.echo(line)


@roster_app.command(
    "compare",
    help=N_(
        "五查四比对: flag school-age children in 户籍, 扶贫 or 残疾人 without a 学籍 record "
        "(在读/休学), and 在读 students missing from 实际在校生, using each register's "
        "latest import."
    ),
)
def roster_compare(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=N_(
                "Compare as of this day (reference date: the latest 1 September on or before it)."
            ),
        ),
    ] = None,
    open_found: Annotated[
        bool,
        typer.Option("--open-cases", help=N_("Open a case for each suspect (idempotent).")),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help=N_("With --open-cases: say what would be opened.")),
    ] = False,
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help=N_("Show full resident IDs (permitted roles; logged).")),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help=N_("Write the findings to FILE.csv/.xlsx.")),
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import open_cases
    from caseflow.services.compare import check_reveal, compare, record_reveal, views, write_table

    ctx = workspace_context()
    if reveal:
        check_reveal(ctx)
    with stages(_("Comparing the registers (五查四比对)")):
        comparison = compare(ctx, as_of=parse_day(as_of, "--as-of"))
    if reveal:
        record_reveal(ctx, comparison)
    opening = open_cases(ctx, comparison, dry_run=dry_run) if open_found else None
    if output is not None:
        written = write_table(output, comparison, reveal=reveal)
        wrote = (
            _("Wrote {count} finding to {file}")
            if written == 1
            else _("Wrote {count} findings to {file}")
        )
        typer.echo(wrote.format(count=written, file=output), err=as_json)
    if as_json:
        print_json(views(comparison, reveal=reveal))
        return
    suspects = views(comparison, reveal=reveal)
    echo_lines(comparison_lines(comparison, suspects, opening, dry_run=dry_run, limit=limit))


@roster_app.command(
    "history",
    help=N_(
        "Every import, newest first: when, who, which file (name and SHA-256), the counts; "
        "`*` marks each register's current snapshot."
    ),
)
def roster_history(
    source: Annotated[
        str | None,
        typer.Argument(help=N_("Only this register, e.g. 学籍 or student (default: all).")),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.roster import import_history

    ctx = workspace_context()
    records = import_history(ctx, source)
    if as_json:
        print_json([record.as_json() for record in records])
        return
    for line in import_history_lines(records, ctx.workspace.timezone):
        typer.echo(line)
