"""The checks of a register file are SQL run by DuckDB, column by column; the rules they
implement are defined once, in Python (`caseflow.ids.parse_id_number`, `str.strip`,
`csv`). These tests hold the two together: on arbitrary strings for the resident ID, and
on CSV files that DuckDB's reader and Python's `csv` could read differently."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from caseflow import roster
from caseflow.errors import InvalidIdNumber
from caseflow.ids import make_id_number, parse_id_number
from caseflow.roster import WHITESPACE, Checker, IdCheck, check_id_numbers, id_reason, strip_sql

TODAY = date(2026, 11, 29)
FULL_WIDTH = {ord(str(d)): chr(0xFF10 + d) for d in range(10)}
REGIONS = ("110105", "520626", "522226", "650102", "810000", "710000", "990000", "000000")


def expected(cell: str) -> IdCheck:
    """What the per-row Python rules say about one ID cell."""
    text = cell.strip()
    if not text:
        return IdCheck(None, None, None, None)
    try:
        resident = parse_id_number(text, today=TODAY)
    except InvalidIdNumber as exc:
        return IdCheck(None, None, None, id_reason(exc))
    return IdCheck(resident.number, resident.sex, resident.birth_date, None)


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS[:6]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    return make_id_number(region, born, draw(st.integers(0, 999)))


@st.composite
def near_valid_ids(draw: st.DrawFn) -> str:
    """Valid IDs as people and spreadsheets mangle them: lowercase x, full-width digits,
    spaces and hyphens inside, whitespace around, one character changed, one too few or
    too many, a birth date that does not exist or has not happened yet."""
    number = draw(valid_ids())
    kind = draw(
        st.sampled_from(
            ["lower", "full", "spaced", "padded", "changed", "short", "long", "date", "region"]
        )
    )
    if kind == "lower":
        number = number.lower()
    elif kind == "full":
        number = number.translate(FULL_WIDTH).replace("X", draw(st.sampled_from("Xxｘ")))
    elif kind == "spaced":
        at = draw(st.integers(0, 18))
        number = number[:at] + draw(st.sampled_from([" ", "-", "\u3000", "－", "\t"])) + number[at:]
    elif kind == "padded":
        around = st.text(alphabet=WHITESPACE, max_size=3)
        number = draw(around) + number + draw(around)
    elif kind == "changed":
        at = draw(st.integers(0, 17))
        number = number[:at] + draw(st.sampled_from("0123456789Xx?中٣")) + number[at + 1 :]
    elif kind == "short":
        number = number[: draw(st.integers(0, 17))]
    elif kind == "long":
        number += draw(st.sampled_from("0X中"))
    elif kind == "date":
        day = draw(st.sampled_from(["20130230", "20000229", "19000229", "00000101", "20991231"]))
        first17 = number[:6] + day + number[14:17]
        number = first17 + draw(st.sampled_from("0123456789X"))
    else:
        number = draw(st.sampled_from(REGIONS[6:])) + number[6:]
    return number


cells = st.one_of(
    valid_ids(),
    near_valid_ids(),
    st.text(alphabet="0123456789Xx０１９ｘＸ -－\u3000\t\n中.eE+", max_size=22),
    st.text(max_size=20).filter(lambda s: "\x00" not in s),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cells, min_size=1, max_size=40))
@example(["", " ", "5.20626E+17", "52062620130305002x", "５２０６２６２０１３０３０５００２Ｘ"])
def test_the_vectorised_id_check_agrees_with_parse_id_number(values: list[str]) -> None:
    assert check_id_numbers(values, today=TODAY) == [expected(value) for value in values]


def test_the_whitespace_stripped_is_pythons() -> None:
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=WHITESPACE[:12] + "a中 \u3000\u2028b", max_size=8), max_size=30))
def test_stripping_in_sql_is_pythons_strip(values: list[str]) -> None:
    connection = duckdb.connect()
    try:
        connection.execute("CREATE TABLE v (i BIGINT, s VARCHAR)")
        appender = connection.appender("v")
        appender.append_rows(list(enumerate(values)))
        appender.flush()
        rows = connection.execute(f"SELECT {strip_sql('s')} FROM v ORDER BY i").fetchall()
    finally:
        connection.close()
    assert [row[0] for row in rows] == [value.strip() for value in values]


# ---------------------------------------------------------------------------------------
# CSV files read by DuckDB's reader or by Python's csv give the same rows

HEADING = ["姓名", "身份证号", "性别", "出生日期", "乡镇", "村", "户籍地址"]


def person(serial: int) -> str:
    return make_id_number("520626", date(2013, 3, 5), serial)


def rows(count: int = 4) -> list[list[str]]:
    return [
        [f"孩子{n}", person(n), "", "2013-03-05", "天堂镇", "天堂村", f"{n}号"]
        for n in range(1, count + 1)
    ]


def checked(path: Path, tmp_path: Path, *, fast: bool) -> tuple[Any, list[tuple[Any, ...]], str]:
    """The outcome of checking ``path``, its snapshot rows, and which path read it."""
    scratch = tmp_path / f"scratch-{fast}"
    with Checker(scratch) as checker:
        if not fast:
            checker._load_fast = lambda *args: False  # type: ignore[method-assign]
        outcome = checker.check("household", path, file_name=path.name, today=TODAY)
        read_by = "duckdb" if checker._rows.line.startswith("rowid") else "python"
        target = tmp_path / f"snapshot-{fast}.parquet"
        checker.write_snapshot(target)
    return outcome, query_snapshot(target, "SELECT * FROM snapshot ORDER BY line"), read_by


def query_snapshot(target: Path, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query`` over the snapshot file ``target``, named ``snapshot`` in it."""
    connection = duckdb.connect()
    try:
        relation = f"(SELECT * FROM read_parquet('{target}')) snapshot"
        return connection.execute(query.replace("FROM snapshot", f"FROM {relation}")).fetchall()
    finally:
        connection.close()


def write_bytes(path: Path, records: list[list[str]], *, newline: str = "\r\n") -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, lineterminator=newline).writerows(records)
    return path


QUIRKS: dict[str, tuple[list[list[str]], str]] = {
    "plain": ([HEADING, *rows()], "duckdb"),
    "lf endings": ([HEADING, *rows()], "duckdb"),
    "title rows and a blank line above the headings": (
        [["2026年花名册"], [], HEADING, *rows()],
        "duckdb",
    ),
    "blank lines between rows": ([HEADING, *rows(2), [], [], *rows(4)[2:]], "python"),
    "blank lines at the end": ([HEADING, *rows(), [], []], "duckdb"),
    "a row of empty cells": ([HEADING, *rows(2), [""] * 7, *rows(4)[2:]], "duckdb"),
    "a quoted line break": (
        [HEADING, *rows(2), ["多行", person(9), "", "", "天堂镇", "天堂村", "一组\n二号"]],
        "python",
    ),
    "a short row": ([HEADING, *rows(2), ["短", person(9), "", ""]], "python"),
    "a long row": ([HEADING, *rows(2), [*rows(3)[2], "多", "余"]], "python"),
    "spaces around values": (
        [
            HEADING,
            *rows(2),
            [" 空格 ", f"\u3000{person(9)}\t", " ", "", "天堂镇\xa0", "天堂村", ""],
        ],
        "duckdb",
    ),
    "a note in a column not read": (
        [[*HEADING, "备注"], *[[*r, ""] for r in rows(2)], ["", "", "", "", "", "", "", "外出"]],
        "duckdb",
    ),
}


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_a_csv_file_gives_the_same_rows_through_duckdb_or_python(
    tmp_path: Path, quirk: str
) -> None:
    records, read_by = QUIRKS[quirk]
    path = write_bytes(tmp_path / "hukou.csv", records, newline="\n" if "lf" in quirk else "\r\n")

    fast, fast_rows, fast_by = checked(path, tmp_path, fast=True)
    slow, slow_rows, slow_by = checked(path, tmp_path, fast=False)

    assert (fast_by, slow_by) == (read_by, "python")
    assert (fast.rows_total, fast.rows_rejected, fast.problems) == (
        slow.rows_total,
        slow.rows_rejected,
        slow.problems,
    )
    assert fast_rows == slow_rows
    assert fast.sha256 == slow.sha256 and len(fast.sha256) == 64


def test_lines_are_counted_as_a_spreadsheet_numbers_them(tmp_path: Path) -> None:
    records = [
        ["2026年花名册"],
        [],
        HEADING,
        *rows(2),
        [],
        ["坏", "123", "", "", "天堂镇", "天堂村"],
    ]
    path = write_bytes(tmp_path / "hukou.csv", records)

    outcome, snapshot, _ = checked(path, tmp_path, fast=True)

    assert [row[0] for row in snapshot] == [4, 5]
    assert [(p.line, p.column) for p in outcome.problems] == [(7, "身份证号")]


def test_values_are_stripped_as_python_strips_them(tmp_path: Path) -> None:
    records = [
        HEADING,
        [" 空格\u3000", f"\u3000{person(9)}\t", " ", "", "天堂镇\xa0", "天堂村", ""],
    ]
    path = write_bytes(tmp_path / "hukou.csv", records)

    _, snapshot, read_by = checked(path, tmp_path, fast=True)

    assert read_by == "duckdb"
    ((_, number, name, _, _, township, _, address),) = snapshot
    assert (number, name, township, address) == (person(9), "空格", "天堂镇", None)


def test_a_duplicate_counts_only_against_a_row_that_was_kept(tmp_path: Path) -> None:
    """Row 3 repeats row 2's student number and is rejected; row 4 repeats row 3's resident
    ID, but row 3 was not kept, so row 4 is."""
    heading = ["姓名", "身份证号", "学籍号", "学校", "年级", "班级", "学籍状态"]
    records = [
        heading,
        ["甲", person(1), "G" + person(1), "天堂小学", "六年级", "1班", "在读"],
        ["乙", person(2), "G" + person(1), "天堂小学", "六年级", "1班", "在读"],
        ["丙", person(2), "G" + person(3), "天堂小学", "六年级", "1班", "在读"],
        ["丁", person(2), "G" + person(4), "天堂小学", "六年级", "1班", "在读"],
    ]
    path = write_bytes(tmp_path / "xueji.csv", records)
    with Checker(tmp_path / "scratch") as checker:
        outcome = checker.check("student", path, file_name=path.name, today=TODAY)

    assert [(p.line, p.reason) for p in outcome.problems] == [
        (3, "duplicate: the same student number is on row 2"),
        (5, "duplicate: the same resident ID is on row 4"),
    ]


def test_a_file_whose_rows_are_all_bad_yields_every_problem_in_order(tmp_path: Path) -> None:
    records = [HEADING, *[[f"孩子{n}", "", "", "", "", "", ""] for n in range(3)]]
    path = write_bytes(tmp_path / "hukou.csv", records)
    with Checker(tmp_path / "scratch") as checker:
        outcome = checker.check("household", path, file_name=path.name, today=TODAY)

    assert outcome.rows_good == 0
    assert [(p.line, p.column) for p in outcome.problems] == [
        (line, column) for line in (2, 3, 4) for column in ("身份证号", "乡镇", "村")
    ]


def test_distinct_values_are_read_by_the_python_rules_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = roster.parse_sex

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(roster, "parse_sex", counting)
    records = [HEADING] + [
        [f"孩子{n}", person(n), "男" if n % 2 else "女", "", "天堂镇", "天堂村", ""]
        for n in range(1, 41)
    ]
    path = write_bytes(tmp_path / "hukou.csv", records)
    with Checker(tmp_path / "scratch") as checker:
        outcome = checker.check("household", path, file_name=path.name, today=TODAY)

    assert outcome.rows_good == 40
    assert sorted(calls) == ["女", "男"]


def test_birth_dates_far_from_today_are_checked_against_the_id(tmp_path: Path) -> None:
    born = TODAY - timedelta(days=365 * 100)
    number = make_id_number("520626", born, 1)
    records = [
        HEADING,
        ["老人", number, "男", born.strftime("%Y年%m月%d日"), "天堂镇", "天堂村", ""],
    ]
    path = write_bytes(tmp_path / "hukou.csv", records)

    outcome, snapshot, _ = checked(path, tmp_path, fast=True)

    assert outcome.problems == []
    assert snapshot[0][3:5] == ("男", born)


def test_student_numbers_that_are_not_plain_ascii_are_read_by_the_python_rules(
    tmp_path: Path,
) -> None:
    heading = ["姓名", "身份证号", "学籍号", "学校", "年级", "班级", "学籍状态", "残疾人证号"]
    wide = ("G" + person(1)).translate(FULL_WIDTH).replace("G", "Ｇ")
    records = [
        heading,
        ["甲", person(1), wide, "天堂小学", "六年级", "1班", "在读", ""],
        ["乙", person(2), "Ｇ１２", "天堂小学", "六年级", "1班", "在读", ""],
        ["丙", person(3), "g-" + person(3), "天堂小学", "六年级", "1班", "在读", ""],
    ]
    path = write_bytes(tmp_path / "xueji.csv", records)
    with Checker(tmp_path / "scratch") as checker:
        outcome = checker.check("student", path, file_name=path.name, today=TODAY)
        target = tmp_path / "s.parquet"
        checker.write_snapshot(target)
    stored = query_snapshot(target, "SELECT line, student_number FROM snapshot ORDER BY line")

    assert stored == [(2, "G" + person(1)), (4, "G" + person(3))]
    assert [(p.line, p.value) for p in outcome.problems] == [(3, "*" * 3)]
    assert "student number must be G or J" in outcome.problems[0].reason


def test_rows_of_a_file_larger_than_duckdbs_read_buffer_keep_their_line_numbers(
    tmp_path: Path,
) -> None:
    """DuckDB reads a file larger than its 32 MB buffer in pieces, in parallel; the rows
    are numbered by their order in the table they are read into, so that order must be the
    file's. Bad rows far down the file are reported at their lines, and every kept row is
    stored with its own line."""
    note = "备注" * 70  # a column not read, to make the file large with few rows
    bad_lines = {30_001, 60_001, 99_999}
    records = [[*HEADING, "备注"]]
    for line in range(2, 100_001):
        born = date(2013, 3, 5) + timedelta(days=line % 1000)
        number = "123" if line in bad_lines else make_id_number("520626", born, line // 1000)
        records.append([f"孩子{line}", number, "", "", "天堂镇", "天堂村", "", note])
    path = write_bytes(tmp_path / "hukou.csv", records)
    assert path.stat().st_size > 40 * 2**20

    with Checker(tmp_path / "scratch") as checker:
        outcome = checker.check("household", path, file_name=path.name, today=TODAY)
        checker.write_snapshot(tmp_path / "snapshot.parquet")
        read_by = checker._rows.line
    mismatched = query_snapshot(
        tmp_path / "snapshot.parquet",
        "SELECT count(*) FILTER (WHERE name <> '孩子' || line), count(*) FROM snapshot",
    )

    assert read_by.startswith("rowid")
    assert [p.line for p in outcome.problems] == sorted(bad_lines)
    assert mismatched == [(0, outcome.rows_good)]
