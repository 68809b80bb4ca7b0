"""`caseflow roster import`: every register from CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX,
headings as people write them, every bad row in the rejects file with its reason, and one
transaction per file so the previous snapshot survives anything short of a commit; CSV
files that DuckDB's reader and Python's `csv` would read differently are read the same."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from caseflow import roster
from caseflow.errors import InvalidInput
from caseflow.ids import check_character, make_id_number
from caseflow.roster import (
    disability_category,
    disability_grade,
    mask_phone,
    mask_value,
    parse_mapping,
    parse_sex,
)
from caseflow.services import roster as roster_service
from caseflow.services.audit import audit_verify
from caseflow.services.context import Context, open_context
from caseflow.services.roster import import_history, import_roster
from caseflow.services.snapshots import current_imports, current_snapshots, snapshot_path
from tests.conftest import CliInvoker, audit_trail, fixed_clock, snapshot_rows

BORN = date(2013, 3, 5)


def person(serial: int, born: date = BORN) -> str:
    """A valid resident ID; an odd serial is a boy (男), an even one a girl (女)."""
    return make_id_number("520626", born, serial)


SAMPLES: dict[str, list[list[Any]]] = {
    "household": [
        ["姓名", "身份证号", "性别", "出生日期", "乡镇", "村", "组", "联系电话"],
        ["张小华", person(1), "男", "2013-03-05", "天堂镇", "天堂村", "一组", "13812345678"],
        ["李小红", person(2), "女", "2013/3/5", "天堂镇", "天堂村", "", ""],
        ["王小明", person(3), "男", "2013年3月5日", "木黄镇", "金星村", "三组", ""],
    ],
    "student": [
        ["姓名", "身份证号", "学籍号", "学校", "年级", "班级", "学籍状态"],
        ["张小华", person(1), "G" + person(1), "天堂小学", "六年级", "2班", "在读"],
        ["李小红", person(2), "G" + person(2), "天堂小学", "六年级", "1班", "休学"],
        ["王小明", person(3), "G" + person(3), "木黄中学", "", "", "转出"],
    ],
    "poverty": [
        ["姓名", "身份证号", "乡镇", "村", "类别"],
        ["张小华", person(1), "天堂镇", "天堂村", "脱贫户"],
        ["李小红", person(2), "天堂镇", "天堂村", "监测户"],
        ["王小明", person(3), "木黄镇", "金星村", "脱贫户"],
    ],
    "disability": [
        ["姓名", "身份证号", "残疾类别", "残疾等级", "残疾人证号"],
        ["张小华", person(1), "肢体", "二级", person(1) + "42"],
        ["李小红", person(2), "5", "4", ""],
        ["王小明", person(3), "多重残疾", "一级", ""],
    ],
    "attendance": [
        ["学校", "姓名", "身份证号", "学籍号", "年级", "班级"],
        ["天堂小学", "张小华", person(1), "", "六年级", "2班"],
        ["天堂小学", "李小红", "", "G" + person(2), "六年级", "1班"],
        ["木黄中学", "王小明", person(3), "L201300000000000003", "七年级", "1班"],
    ],
}

# What the snapshot holds for each sample, beyond the name.
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "household": [
        {"id_number": person(1), "sex": "男", "birth_date": BORN, "group_name": "一组"},
        {"id_number": person(2), "sex": "女", "township": "天堂镇", "group_name": None},
        {"id_number": person(3), "village": "金星村", "phone": None},
    ],
    "student": [
        {"student_number": "G" + person(1), "class_name": "2班", "status": "在读"},
        {"school": "天堂小学", "grade": "六年级", "status": "休学"},
        {"status": "转出", "grade": None, "class_name": None, "birth_date": BORN},
    ],
    "poverty": [
        {"category": "脱贫户", "village": "天堂村"},
        {"category": "监测户"},
        {"category": "脱贫户", "township": "木黄镇"},
    ],
    "disability": [
        {"category": "4", "disability_grade": 2, "certificate": person(1) + "42"},
        {"category": "5", "disability_grade": 4, "sex": "女"},
        {"category": "7", "disability_grade": 1},
    ],
    "attendance": [
        {"id_number": person(1), "student_number": None, "class_name": "2班"},
        {"id_number": None, "student_number": "G" + person(2)},
        {"id_number": person(3), "student_number": "L201300000000000003"},
    ],
}

FORMATS = ("utf-8", "utf-8-sig", "gbk", "xlsx")


def write(path: Path, rows: list[list[Any]], fmt: str = "utf-8") -> Path:
    """A register file as county offices send them: CSV in an encoding, or XLSX."""
    if fmt == "xlsx":
        path = path.with_suffix(".xlsx")
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(row)
        book.save(path)
        return path
    with path.open("w", encoding=fmt, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def import_json(cli: CliInvoker, *args: str) -> dict[str, Any]:
    result = cli("roster", "import", *args, "--json")
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture
def reader(workspace: Path) -> Iterator[Context]:
    """A context on the CLI's workspace, to look at what the CLI did."""
    context = open_context(workspace)
    yield context
    context.engine.dispose()


def rejects_of(path: str) -> list[dict[str, str]]:
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel and WPS need the BOM to read UTF-8"
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def audit_events(ctx: Context, action: str = "roster.import") -> list[dict[str, Any]]:
    return [e for e in audit_trail(ctx) if e["action"] == action]


# ---------------------------------------------------------------------------------------
# Formats and headings


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", list(SAMPLES))
def test_each_register_imports_from_csv_in_any_encoding_and_from_xlsx(
    cli: CliInvoker, reader: Context, tmp_path: Path, source: str, fmt: str
) -> None:
    path = write(tmp_path / f"{source}.csv", SAMPLES[source], fmt)

    summary = import_json(cli, source, str(path))

    assert summary["imported"] == 3
    assert summary["rejected"] == 0
    assert summary["rejects_file"] is None
    assert summary["source"] == source
    rows = snapshot_rows(reader, source)
    assert [row.name for row in rows] == ["张小华", "李小红", "王小明"]
    assert [row.line for row in rows] == [2, 3, 4]
    for row, expected in zip(rows, EXPECTED[source], strict=True):
        assert {key: getattr(row, key) for key in expected} == expected
    assert current_imports(reader)[source].id == summary["import"]


def test_headings_in_english_in_any_order_with_extra_columns_are_understood(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    rows = [
        ["序号", "Village", "ID Number", "name", "Township", "备注", "birth_date", "SEX", "Group"],
        [1, "天堂村", person(1), "张小华", "天堂镇", "外出", "2013-03-05", "male", "二组"],
        [2, "天堂村", person(2), "李小红", "天堂镇", "", "20130305", "F", ""],
    ]
    path = write(tmp_path / "hukou.csv", rows)

    assert import_json(cli, "household", str(path))["imported"] == 2

    first, second = snapshot_rows(reader, "household")
    assert (first.name, first.village, first.sex, first.group_name) == (
        "张小华",
        "天堂村",
        "男",
        "二组",
    )
    assert (second.sex, second.birth_date) == ("女", BORN)


def test_headings_with_notes_full_width_brackets_and_a_title_row_above_are_understood(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    rows = [
        ["印江自治县2026年户籍适龄儿童花名册", "", "", "", "", ""],
        [],
        ["*姓名", "公民身份号码", "性别", "出生日期（yyyy-mm-dd）", "乡镇（街道）", "村（居）"],
        ["张小华", person(1), "男", "2013-03-05", "天堂镇", "天堂村"],
    ]
    path = write(tmp_path / "hukou.xlsx", rows, "xlsx")

    summary = import_json(cli, "household", str(path))

    assert summary["imported"] == 1
    assert [row.line for row in snapshot_rows(reader, "household")] == [4]


def test_other_headings_are_named_with_map(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    rows = [
        ["学生", "证件号", "全国学籍号", "就读学校名", "年级", "班号", "在籍情况"],
        ["张小华", person(1), "G" + person(1), "天堂小学", "六年级", "2班", "在读"],
    ]
    path = write(tmp_path / "xueji.csv", rows)

    refused = cli("roster", "import", "student", str(path))
    assert refused.exit_code == 2
    assert "姓名 (name)" in refused.stderr and "--map" in refused.stderr

    summary = import_json(
        cli,
        "student",
        str(path),
        "--map",
        "学生=name",
        "--map",
        "证件号=id_number",
        "--map",
        "就读学校名=学校",
        "--map",
        "班号=class",
        "--map",
        "在籍情况=status",
    )

    assert summary["imported"] == 1
    (row,) = snapshot_rows(reader, "student")
    assert (row.name, row.school, row.class_name, row.status) == (
        "张小华",
        "天堂小学",
        "2班",
        "在读",
    )


def test_map_chooses_between_two_columns_that_look_alike(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    rows = [
        ["姓名", "身份证号", "身份证号码", "乡镇", "村", "类别"],
        ["张小华", "", person(1), "天堂镇", "天堂村", "脱贫户"],
    ]
    path = write(tmp_path / "fupin.csv", rows)

    refused = cli("roster", "import", "poverty", str(path))
    assert refused.exit_code == 2
    assert "column 2, column 3 (headed “身份证号”, “身份证号码”)" in refused.stderr
    assert "--map 3=id_number" in refused.stderr

    assert import_json(cli, "poverty", str(path), "--map", "身份证号码=id_number")["imported"] == 1
    assert snapshot_rows(reader, "poverty")[0].id_number == person(1)


def test_a_map_to_a_field_the_register_does_not_have_is_refused(
    cli: CliInvoker, tmp_path: Path
) -> None:
    path = write(tmp_path / "fupin.csv", SAMPLES["poverty"])

    result = cli("roster", "import", "poverty", str(path), "--map", "类别=status")

    assert result.exit_code == 2
    assert "'status' is not a field of the poverty register" in result.stderr


def test_birth_dates_in_all_four_formats_and_as_excel_dates_are_read(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    heading = ["姓名", "身份证号", "性别", "出生日期", "乡镇", "村"]
    written = ["2013-03-05", "2013/3/5", "20130305", "2013年3月5日", datetime(2013, 3, 5)]
    rows = [heading] + [
        [f"孩子{n}", person(n), "男" if n % 2 else "女", born, "天堂镇", "天堂村"]
        for n, born in enumerate(written, start=1)
    ]
    path = write(tmp_path / "hukou.xlsx", rows, "xlsx")

    summary = import_json(cli, "household", str(path))

    assert (summary["imported"], summary["rejected"]) == (5, 0)
    assert {row.birth_date for row in snapshot_rows(reader, "household")} == {BORN}


def test_encoding_can_be_forced(cli: CliInvoker, reader: Context, tmp_path: Path) -> None:
    path = write(tmp_path / "hukou.csv", SAMPLES["household"], "gbk")

    assert import_json(cli, "household", str(path), "--encoding", "gbk")["imported"] == 3
    assert snapshot_rows(reader, "household")[0].name == "张小华"

    wrong = cli("roster", "import", "household", str(path), "--encoding", "utf-8")
    assert wrong.exit_code == 2
    assert "cannot be read as utf-8" in wrong.stderr
    unknown = cli("roster", "import", "household", str(path), "--encoding", "klingon")
    assert unknown.exit_code == 2
    assert "not an encoding" in unknown.stderr
    assert len(import_history(reader)) == 1


def test_a_forced_encoding_is_used_even_where_detection_would_guess_otherwise(
    ctx: Context, tmp_path: Path
) -> None:
    # The Latin-1 bytes of "ÄÐ" are not UTF-8, and read as GB18030 they say 男.
    heading = "name,id_number,sex,birth_date,township,village\n"
    rows = f"x,{person(1)},ÄÐ,,Tiantang,Tiantang\ny,{person(3)},,,Tiantang,Tiantang\n"
    path = tmp_path / "hukou.csv"
    path.write_bytes((heading + rows).encode("latin-1"))

    detected = import_roster(ctx, "household", path)
    forced = import_roster(ctx, "household", path, encoding="latin-1")

    assert (detected.encoding, detected.imported, detected.rejected) == ("gb18030", 2, 0)
    assert (forced.encoding, forced.imported, forced.rejected) == ("latin-1", 1, 1)
    assert [p.reason for p in forced.problems] == ["sex 'ÄÐ' is not 男 or 女"]


# ---------------------------------------------------------------------------------------
# Rejects


def future_id() -> str:
    return person(7, date(2099, 1, 1))


def impossible_date_id() -> str:
    first17 = "520626" + "20130230" + "005"
    return first17 + check_character(first17)


def bad_checksum_id() -> str:
    good = person(9)
    return good[:17] + ("0" if good[17] != "0" else "1")


def test_every_kind_of_bad_row_is_rejected_with_a_masked_value_and_a_reason(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    full_width = person(11).translate({ord(str(d)): chr(0xFF10 + d) for d in range(10)})
    lowercase = next(person(n) for n in range(100, 200) if person(n).endswith("X")).lower()
    heading = ["姓名", "身份证号", "性别", "出生日期", "乡镇", "村", "联系电话"]
    rows = [
        heading,
        ["好孩子", person(1), "男", "2013-03-05", "天堂镇", "天堂村", "13812345678"],  # 2
        ["全角", full_width, "男", "", "天堂镇", "天堂村", ""],  # 3: accepted
        ["小写", lowercase, "", "", "天堂镇", "天堂村", ""],  # 4: accepted
        ["错校验", bad_checksum_id(), "男", "", "天堂镇", "天堂村", "13900001111"],  # 5
        ["未出生", future_id(), "男", "", "天堂镇", "天堂村", ""],  # 6
        ["无此日", impossible_date_id(), "男", "", "天堂镇", "天堂村", ""],  # 7
        ["太短", "5206262013", "男", "", "天堂镇", "天堂村", ""],  # 8
        ["", person(13), "男", "", "天堂镇", "天堂村", ""],  # 9: no name
        ["无身份证", "", "男", "", "天堂镇", "天堂村", ""],  # 10
        ["性别不符", person(15), "女", "", "天堂镇", "天堂村", ""],  # 11
        ["生日不符", person(17), "男", "2013-03-06", "天堂镇", "天堂村", ""],  # 12
        ["生日乱写", person(19), "男", "三月五日", "天堂镇", "天堂村", ""],  # 13
        ["性别乱写", person(21), "未知", "", "天堂镇", "天堂村", ""],  # 14
        ["重复", person(1), "男", "", "天堂镇", "天堂村", ""],  # 15
        ["科学计数", "5.20626E+17", "男", "", "天堂镇", "天堂村", ""],  # 16
        ["没有村", person(23), "男", "", "天堂镇", "", ""],  # 17
    ]
    path = write(tmp_path / "hukou.csv", rows)

    result = cli("roster", "import", "household", str(path), "--json")

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["rejected"]) == (3, 13)
    imported = snapshot_rows(reader, "household")
    assert [row.line for row in imported] == [2, 3, 4]
    assert imported[1].id_number == person(11)
    assert imported[2].id_number == lowercase.upper()
    assert imported[2].sex == ("男" if int(lowercase[16]) % 2 else "女")

    rejects_file = summary["rejects_file"]
    assert Path(rejects_file).parent == reader.workspace.root / "rejects"
    assert Path(rejects_file).name.startswith("household-")
    problems = rejects_of(rejects_file)
    by_line = {int(p["行号"]): p for p in problems}
    assert set(by_line) == set(range(5, 18))
    reasons = {line: p["原因"] for line, p in by_line.items()}
    assert "check character should be" in reasons[5]
    assert "in the future" in reasons[6]
    assert "not a real calendar date" in reasons[7]
    assert "must be 18 characters" in reasons[8]
    assert reasons[9] == "姓名 (name) is required but empty"
    assert reasons[10] == "身份证号 (id_number) is required but empty"
    assert reasons[11] == "sex 女 disagrees with the resident ID, which encodes 男"
    assert reasons[12] == "birth date 2013-03-06 disagrees with the resident ID"
    assert "is not a date" in reasons[13]
    assert "is not 男 or 女" in reasons[14]
    assert reasons[15] == "duplicate: the same resident ID is on row 2"
    assert "Excel stored the ID as a number" in reasons[16]
    assert reasons[17] == "村 (village) is required but empty"
    assert by_line[5]["列"] == "身份证号"
    assert by_line[5]["值"] == bad_checksum_id()[:4] + "********" + bad_checksum_id()[-4:]
    assert by_line[15]["值"] == person(1)[:4] + "********" + person(1)[-4:]
    assert by_line[13]["值"] == "三月五日"
    assert by_line[17]["列"] == "村"
    text = Path(rejects_file).read_text(encoding="utf-8-sig")
    for written in (person(1), bad_checksum_id(), future_id(), "13900001111"):
        assert written not in text, "resident IDs and phone numbers are masked"


def test_bad_values_of_the_other_registers_are_rejected_with_reasons(
    cli: CliInvoker, tmp_path: Path
) -> None:
    student = [
        SAMPLES["student"][0],
        ["甲", person(1), "G" + person(1), "天堂小学", "六年级", "1班", "在读"],
        ["乙", person(2), "X12345", "天堂小学", "六年级", "1班", "在读"],
        ["丙", person(3), "G" + person(1), "天堂小学", "六年级", "1班", "在读"],
        ["丁", person(4), "G" + person(4), "天堂小学", "六年级", "1班", ""],
    ]
    disability = [
        SAMPLES["disability"][0],
        ["甲", person(1), "近视", "二级", ""],
        ["乙", person(2), "肢体", "五级", ""],
        ["丙", person(3), "8", "1", ""],
        ["丁", person(4), "听力", "三级", ""],
    ]
    attendance = [
        SAMPLES["attendance"][0],
        ["天堂小学", "甲", "", "", "六年级", "1班"],
        ["天堂小学", "乙", person(2), "", "六年级", "1班"],
    ]

    found: dict[str, dict[int, str]] = {}
    for source, rows in (("student", student), ("disability", disability)):
        summary = import_json(cli, source, str(write(tmp_path / f"{source}.csv", rows)))
        found[source] = {int(p["行号"]): p["原因"] for p in rejects_of(summary["rejects_file"])}
    summary = import_json(cli, "attendance", str(write(tmp_path / "a.csv", attendance)))
    found["attendance"] = {int(p["行号"]): p["原因"] for p in rejects_of(summary["rejects_file"])}

    assert "student number must be G or J" in found["student"][3]
    assert found["student"][4] == "duplicate: the same student number is on row 2"
    assert found["student"][5] == "学籍状态 (status) is required but empty"
    assert "disability category '近视' is not one of" in found["disability"][2]
    assert "disability grade '五级' is not one of" in found["disability"][3]
    assert "disability category '8'" in found["disability"][4]
    assert found["attendance"] == {
        2: "身份证号 (id_number) or 学籍号 (student_number) is required but both are empty"
    }


def test_an_id_excel_stored_as_a_number_is_rejected_with_the_fix(
    cli: CliInvoker, tmp_path: Path
) -> None:
    rows = [
        SAMPLES["poverty"][0],
        ["张小华", float(person(1)[:17] + "0"), "天堂镇", "天堂村", "脱贫户"],
        ["李小红", person(2), "天堂镇", "天堂村", "脱贫户"],
    ]
    summary = import_json(cli, "poverty", str(write(tmp_path / "p.xlsx", rows, "xlsx")))

    (problem,) = rejects_of(summary["rejects_file"])
    assert "format the column as text" in problem["原因"]


def test_the_text_summary_names_the_rejects_file_and_the_first_reasons(
    cli: CliInvoker, tmp_path: Path
) -> None:
    rows = [SAMPLES["poverty"][0]] + [
        [f"孩子{n}", bad_checksum_id() if n % 2 else person(n), "天堂镇", "天堂村", "脱贫户"]
        for n in range(1, 17)
    ]
    result = cli("roster", "import", "poverty", str(write(tmp_path / "p.csv", rows)))

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Imported 8 of 16 rows of p.csv as the poverty register")
    assert lines[0].endswith("8 rejected.")
    assert "rejects" in lines[1]
    assert lines[2].startswith("  row 2, 身份证号 5206********")
    assert "check character should be" in lines[2]
    assert lines[-1] == "  ... and 3 more in the rejects file"


# ---------------------------------------------------------------------------------------
# Nothing imported


def test_a_missing_column_exits_2_names_it_and_changes_nothing(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    import_json(cli, "household", str(write(tmp_path / "first.csv", SAMPLES["household"])))
    events = len(audit_trail(reader))
    rows = [[cell for n, cell in enumerate(row) if n != 5] for row in SAMPLES["household"]]
    rows.append(["坏行", "123", "男", "", "天堂镇", ""])

    result = cli("roster", "import", "household", str(write(tmp_path / "second.csv", rows)))

    assert result.exit_code == 2
    assert "no column for 村 (village)" in result.stderr
    assert "headings found: 姓名, 身份证号, 性别, 出生日期, 乡镇, 组, 联系电话" in result.stderr
    assert "nothing was imported" in result.stderr
    assert [record.file_name for record in import_history(reader)] == ["first.csv"]
    assert len(snapshot_rows(reader, "household")) == 3
    assert len(audit_trail(reader)) == events
    assert not (reader.workspace.root / "rejects").exists()


def test_a_file_without_valid_rows_imports_nothing_and_says_why(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    import_json(cli, "poverty", str(write(tmp_path / "first.csv", SAMPLES["poverty"])))
    rows = [SAMPLES["poverty"][0], ["张小华", "12345", "天堂镇", "天堂村", "脱贫户"]]

    result = cli("roster", "import", "poverty", str(write(tmp_path / "bad.csv", rows)))

    assert result.exit_code == 2
    assert "none of the 1 rows of bad.csv is valid" in result.stderr
    assert "previous poverty import stays current" in result.stderr
    (rejects,) = (reader.workspace.root / "rejects").iterdir()
    assert str(rejects) in result.stderr
    assert len(import_history(reader)) == 1
    assert len(snapshot_rows(reader, "poverty")) == 3


def test_headings_without_rows_import_nothing(cli: CliInvoker, tmp_path: Path) -> None:
    path = write(tmp_path / "empty.csv", [SAMPLES["poverty"][0], [], ["", ""]])

    result = cli("roster", "import", "poverty", str(path))

    assert result.exit_code == 2
    assert "no rows; nothing was imported" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pupils", "x.csv"), "unknown register 'pupils'"),
        (("student", "missing.csv"), "not found"),
        (("student", "x.csv", "--as-of", "2999-01-01"), "is in the future"),
        (("student", "x.csv", "--as-of", "yesterday"), "not a valid date"),
        (("student", "old.xls"), "old-style .xls"),
        (("student", "x.csv", "--map", "nothing"), "--map takes HEADING=FIELD or POSITION=FIELD"),
    ],
)
def test_usage_mistakes_exit_2(
    cli: CliInvoker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "x.csv", SAMPLES["student"])
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0 old compound document")

    result = cli("roster", "import", *args)

    assert result.exit_code == 2
    assert message in result.stderr


# ---------------------------------------------------------------------------------------
# Snapshots and history


def test_reimport_replaces_the_snapshot_and_keeps_the_history(
    cli: CliInvoker, reader: Context, tmp_path: Path
) -> None:
    first = import_json(cli, "student", str(write(tmp_path / "may.csv", SAMPLES["student"])))
    import_json(cli, "poverty", str(write(tmp_path / "fupin.csv", SAMPLES["poverty"])))
    september = [
        SAMPLES["student"][0],
        ["新生", person(40), "G" + person(40), "天堂小学", "一年级", "1班", "在读"],
    ]

    second = import_json(
        cli,
        "student",
        str(write(tmp_path / "sep.xlsx", september, "xlsx")),
        "--as-of",
        "2026-09-01",
    )

    assert second["replaced"] == first["import"]
    assert [row.name for row in snapshot_rows(reader, "student")] == ["新生"]
    assert len(snapshot_rows(reader, "poverty")) == 3, "other registers are untouched"
    history = import_history(reader, "student")
    assert [(h.file_name, h.current) for h in history] == [("sep.xlsx", True), ("may.csv", False)]
    newest = history[0]
    assert (newest.rows_total, newest.rows_imported, newest.rows_rejected) == (1, 1, 0)
    assert newest.as_of == date(2026, 9, 1)
    assert newest.operator == reader.actor.operator
    assert newest.os_user == reader.actor.os_user
    assert newest.file_sha256 == second["file_sha256"]
    assert len(newest.file_sha256) == 64
    listed = cli("roster", "history", "--json")
    assert [item["file_name"] for item in json.loads(listed.stdout)] == [
        "sep.xlsx",
        "fupin.csv",
        "may.csv",
    ]
    text = cli("roster", "history", "student").stdout.splitlines()
    assert text[0].split()[:2] == ["Import", "Register"]
    assert text[1].startswith("*") and "sep.xlsx" in text[1]
    assert text[2].startswith(" ") and "may.csv" in text[2]


def test_each_import_is_one_audit_event_with_counts_and_hash_but_no_personal_data(
    ctx: Context, tmp_path: Path
) -> None:
    rows = [*SAMPLES["household"], ["坏行", "12345", "男", "", "天堂镇", "天堂村", "", ""]]
    summary = import_roster(ctx, "household", write(tmp_path / "hukou.csv", rows))

    (event,) = audit_events(ctx)
    assert event["payload"] == {
        "import": summary.import_id,
        "source": "household",
        "file_name": "hukou.csv",
        "file_sha256": summary.file_sha256,
        "as_of": "2026-11-29",
        "rows_total": 4,
        "rows_imported": 3,
        "rows_rejected": 1,
        "rejects_file": "household-20261129-100000.csv",
        "replaced": None,
    }
    assert event["operator"] == ctx.actor.operator
    assert audit_verify(ctx).intact


def test_imports_in_the_same_second_keep_separate_rejects_files(
    ctx: Context, tmp_path: Path
) -> None:
    rows = [*SAMPLES["poverty"], ["坏行", "12345", "天堂镇", "天堂村", "脱贫户"]]
    path = write(tmp_path / "p.csv", rows)

    first = import_roster(ctx, "poverty", path)
    second = import_roster(ctx, "poverty", path)

    assert first.rejects_file is not None and second.rejects_file is not None
    assert first.rejects_file.name == "poverty-20261129-100000.csv"
    assert second.rejects_file.name == "poverty-20261129-100000-2.csv"
    assert first.rejects_file.exists()


def test_progress_is_reported_up_to_the_rows_checked(ctx: Context, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    summary = import_roster(
        ctx,
        "disability",
        write(tmp_path / "d.csv", SAMPLES["disability"]),
        progress=lambda done, total: seen.append((done, total)),
    )

    assert summary.imported == 3
    assert seen[-1] == (3, 3)
    assert [row.line for row in snapshot_rows(ctx, "disability")] == [2, 3, 4]


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("where", ["writing the snapshot", "after the snapshot is in place"])
def test_a_failure_mid_import_leaves_the_previous_snapshot_intact(
    ctx: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interruption: BaseException,
    where: str,
) -> None:
    first = import_roster(ctx, "household", write(tmp_path / "old.csv", SAMPLES["household"]))
    before = [(row.name, row.id_number) for row in snapshot_rows(ctx, "household")]
    if where == "writing the snapshot":
        real_write = roster.Checker.write_snapshot

        def failing_write(checker: roster.Checker, target: Path) -> None:
            real_write(checker, target)
            target.write_bytes(target.read_bytes()[:10])  # half written
            raise interruption

        monkeypatch.setattr(roster.Checker, "write_snapshot", failing_write)
    else:

        def failing_record(*args: Any, **kwargs: Any) -> None:
            raise interruption

        monkeypatch.setattr("caseflow.services.roster.record", failing_record)
    new_rows = [
        SAMPLES["household"][0],
        *[[f"新{n}", person(50 + n), "", "", "天堂镇", "天堂村", "", ""] for n in range(5)],
        ["坏行", "12345", "", "", "天堂镇", "天堂村", "", ""],
    ]

    with pytest.raises(type(interruption)):
        import_roster(ctx, "household", write(tmp_path / "new.csv", new_rows))

    assert [(row.name, row.id_number) for row in snapshot_rows(ctx, "household")] == before
    assert [record.file_name for record in import_history(ctx)] == ["old.csv"]
    assert len(audit_events(ctx)) == 1
    assert not list((ctx.workspace.root / "rejects").glob("*.csv")), "no orphan rejects file"
    left = sorted(p.name for p in (ctx.workspace.root / "rosters").iterdir())
    assert left == [first.snapshot.name], "no scratch file or uncommitted snapshot is left"


def test_two_imports_of_one_register_at_once_leave_one_snapshot(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts = [open_context(workspace, clock=fixed_clock) for _ in range(2)]
    files = [
        write(tmp_path / "a.csv", SAMPLES["student"]),
        write(tmp_path / "b.csv", SAMPLES["student"][:2]),
    ]
    real_write = roster.Checker.write_snapshot
    both_checked = threading.Barrier(2, timeout=10)

    def meet_before_publishing(checker: roster.Checker, target: Path) -> None:
        real_write(checker, target)
        both_checked.wait()  # both imports have their snapshot written, neither committed

    monkeypatch.setattr(roster.Checker, "write_snapshot", meet_before_publishing)
    summaries: list[roster_service.ImportSummary] = []
    threads = [
        threading.Thread(target=lambda c=c, f=f: summaries.append(import_roster(c, "student", f)))
        for c, f in zip(contexts, files, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert len(summaries) == 2
        current = current_imports(contexts[0])["student"]
        snapshot = current_snapshots(contexts[0])["student"]
        assert snapshot == snapshot_path(contexts[0], "student", current.id)
        rows = snapshot_rows(contexts[0], "student")
        assert len(rows) == current.rows_imported
        assert [h.current for h in import_history(contexts[0])].count(True) == 1
        (earlier,) = [s for s in summaries if s.import_id != current.id]
        (later,) = [s for s in summaries if s.import_id == current.id]
        assert (earlier.replaced, later.replaced) == (None, earlier.import_id)
        snapshots = sorted((workspace / "rosters").glob("*.parquet"))
        assert snapshots == [later.snapshot], "the replaced snapshot's file is gone"
    finally:
        for context in contexts:
            context.engine.dispose()


# ---------------------------------------------------------------------------------------
# The pure parts


def test_disability_categories_and_grades_are_read_in_words_or_numbers() -> None:
    assert [
        disability_category(c) for c in ("视力", "听力残疾", "言语", "４", "智力类", "6", "多重")
    ] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
    ]
    assert [disability_grade(g) for g in ("一级", "二", "3", "4级", "Ⅳ", "02")] == [
        1,
        2,
        3,
        4,
        4,
        2,
    ]
    for bad in ("0", "8", "其他"):
        with pytest.raises(ValueError):
            disability_category(bad)
    with pytest.raises(ValueError):
        disability_grade("五级")


def test_sex_is_read_in_chinese_english_or_gb_codes() -> None:
    assert [parse_sex(s) for s in ("男", "女性", "M", "female", "1", "2")] == [
        "男",
        "女",
        "男",
        "女",
        "男",
        "女",
    ]


def test_personal_numbers_are_masked_in_rejects() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("5621234") == "*****34"
    assert mask_value("student_number", "G" + person(1)) == "G5206********" + person(1)[-4:]
    assert mask_value("id_number", person(1).lower()) == "5206********" + person(1)[-4:]
    assert mask_value("name", "张小华") == "张小华"


def test_map_accepts_field_names_and_usual_headings() -> None:
    mapping = parse_mapping("disability", ["等级（新）=grade", "类型=残疾类别"])
    assert mapping == {"等级(新)": "disability_grade", "类型": "category"}
    with pytest.raises(InvalidInput, match="not a field of the disability register"):
        parse_mapping("disability", ["x=school"])


def test_every_source_has_a_spec_and_a_label() -> None:
    assert set(roster.SPECS) == set(roster.SOURCES) == set(roster.SOURCE_LABELS)
