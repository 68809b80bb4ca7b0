"""The four ledgers (四台账) on a real database: one row per case in the operator's scope at
each level, the columns a county office keeps, an XLSX that opens as an official ledger,
formula-like cells neutralised, a past day read back from the audit trail, the read
logged, and memory that does not grow with the number of cases."""

from __future__ import annotations

import csv
import functools
import gc
import io
import json
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import insert, select

from caseflow import db, i18n
from caseflow.errors import InvalidInput
from caseflow.exports import neutralise, print_layout, write_xlsx
from caseflow.ids import make_id_number, mask_id_number
from caseflow.ledger import COLUMNS, FOOTER, KEY_COLUMNS, REGISTER_COLUMNS, kind_columns
from caseflow.services.cases import (
    ChildDetails,
    DetailsUpdate,
    add_note,
    advance,
    list_cases,
    open_case,
    update_details,
)
from caseflow.services.context import Context, open_context, os_user
from caseflow.services.ledger import open_ledger, write_ledger
from caseflow.services.org import apply_org
from caseflow.services.records import CASE, CHILD
from caseflow.services.roster import import_roster
from caseflow.workspace import load, write_example_org
from tests.conftest import CliInvoker, approved_closure, audit_trail, fixed_clock


@contextmanager
def in_chinese() -> Iterator[None]:
    """Messages in Chinese, as a caseworker reads them by default."""
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language(None)


TODAY = date(2026, 11, 29)  # conftest's fixed clock
HEADINGS = [c.heading for c in COLUMNS]


def example_county(workspace: Path) -> Context:
    """The example organisation (示范县: 天堂镇 and 木黄镇) in force; the context acts as
    its bureau (the account running the tests)."""
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('name = "本县"', 'name = "示范县"'),
        encoding="utf-8",
    )
    write_example_org(load(workspace), os_user())
    ctx = open_context(workspace, clock=fixed_clock)
    apply_org(ctx)
    ctx.engine.dispose()
    return open_context(workspace, clock=fixed_clock)


def as_operator(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    monkeypatch.setattr("caseflow.services.context.os_user", lambda: account)


def kid(serial: int, name: str, township: str, village: str, group: str, school: str):
    return ChildDetails(
        name=name,
        id_number=make_id_number("520626", date(2013, 3, 5), serial),
        township=township,
        village=village,
        group=group,
        school=school,
    )


@pytest.fixture
def county(workspace: Path) -> dict[str, int]:
    """Four children in four states:

    - 田小雨 (天堂镇/天堂村, 天堂镇中心小学): confirmed dropout, in persuasion since 11-04,
      overdue; a phone call on 11-06 and a visit on 11-20;
    - 冉小梅 (天堂镇/龙门村, 示范县第一中学): returned to school on 11-20;
    - 龙小山 (木黄镇/木黄村, 木黄镇中心小学): closed, studying elsewhere;
    - =1+2 (木黄镇/凤仪村): a name a spreadsheet would run as a formula; identified.
    """
    ctx = example_county(workspace)
    cases = {
        "tt": open_case(
            ctx,
            kid(11, "田小雨", "天堂镇", "天堂村", "一组", "天堂镇中心小学"),
            reasons=["poverty"],
            occurred_on=date(2026, 10, 12),
        ).number,
        "lm": open_case(
            ctx,
            kid(23, "冉小梅", "天堂镇", "龙门村", "二组", "示范县第一中学"),
            occurred_on=date(2026, 11, 2),
        ).number,
        "mh": open_case(
            ctx,
            kid(35, "龙小山", "木黄镇", "木黄村", "一组", "木黄镇中心小学"),
            occurred_on=date(2026, 11, 2),
        ).number,
        "fy": open_case(
            ctx,
            kid(47, "=1+2", "木黄镇", "凤仪村", "一组", "木黄镇中心小学"),
            occurred_on=date(2026, 11, 25),
        ).number,
    }
    tt, lm = cases["tt"], cases["lm"]
    advance(ctx, tt, "start_verification", occurred_on=date(2026, 10, 13))
    advance(ctx, tt, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 11, 4))
    add_note(ctx, tt, "电话联系家长", method="phone", occurred_on=date(2026, 11, 6))
    add_note(ctx, tt, "入户走访", method="visit", occurred_on=date(2026, 11, 20))
    advance(ctx, lm, "start_verification", occurred_on=date(2026, 11, 3))
    advance(ctx, lm, "confirm_dropout", {"reason": "distance"}, occurred_on=date(2026, 11, 4))
    advance(
        ctx,
        lm,
        "return_to_school",
        {"placement": "original_class", "school": "示范县第一中学"},
        occurred_on=date(2026, 11, 20),
    )
    approved_closure(
        ctx, cases["mh"], "studying_elsewhere", "转学证明", occurred_on=date(2026, 11, 3)
    )
    ctx.engine.dispose()
    return cases


def read(workspace: Path, **asked: Any) -> list[dict[str, Any]]:
    ctx = open_context(workspace, clock=fixed_clock)
    try:
        return [row.as_json() for row in open_ledger(ctx, **asked).rows()]
    finally:
        ctx.engine.dispose()


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_each_level_holds_one_row_per_case_of_its_unit(county, workspace) -> None:
    assert names(read(workspace)) == ["田小雨", "冉小梅", "龙小山", "=1+2"]
    assert names(read(workspace, level="township", unit="天堂镇")) == ["田小雨", "冉小梅"]
    assert names(read(workspace, level="township", unit="木黄镇")) == ["龙小山", "=1+2"]
    assert names(read(workspace, level="village", unit="天堂镇/龙门村")) == ["冉小梅"]
    assert names(read(workspace, level="village", unit="凤仪村")) == ["=1+2"]
    assert names(read(workspace, level="school", unit="示范县第一中学")) == ["冉小梅"]
    assert names(read(workspace, level="school", unit="木黄镇中心小学")) == ["龙小山", "=1+2"]
    assert read(workspace, level="school", unit="没有这所学校") == []


def test_the_rows_match_the_cases_in_each_state(county, workspace) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    listed = {row["number"]: row for row in list_cases(ctx, include_closed=True)}
    ctx.engine.dispose()
    rows = {row["number"]: row for row in read(workspace)}
    assert set(rows) == set(listed)
    for number, row in rows.items():
        assert row["state"] == listed[number]["state"]
        assert row["id_number"] == listed[number]["id_number"]
    assert {row["state"]: row["outcome"] for row in rows.values()} == {
        "persuasion": "在办",
        "returned": "已复学（巩固中）",
        "closed": "已销号",
        "identified": "在办",
    }
    assert {row["state"]: row["closure_reason"] for row in rows.values()} == {
        "persuasion": None,
        "returned": None,
        "closed": "异地就读（经核实）",
        "identified": None,
    }


def test_a_case_awaiting_closure_approval_is_still_in_hand_and_says_so(county, workspace) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    advance(
        ctx,
        county["fy"],
        "propose_closure",
        {"reason": "register_error", "evidence": "公安户籍核查：空挂户"},
        occurred_on=date(2026, 11, 26),
    )
    ctx.engine.dispose()
    outcomes = {row["number"]: row["outcome"] for row in read(workspace)}
    assert outcomes[county["fy"]] == "在办（销号待审批）"
    assert outcomes[county["mh"]] == "已销号"


def test_a_row_has_the_columns_of_the_ledger(county, workspace) -> None:
    row = read(workspace, level="township", unit="天堂镇")[0]
    assert row == {
        "number": county["tt"],
        "name": "田小雨",
        "sex": "男",  # serial 011: the 17th digit is odd
        "birth": "2013-03-05",  # the bureau may see full ID numbers
        "ethnicity": None,
        "id_number": mask_id_number(make_id_number("520626", date(2013, 3, 5), 11)),
        "student_number": None,
        "township": "天堂镇",
        "village": "天堂村",
        "school": "天堂镇中心小学",
        "grade_class": None,
        "guardian": None,
        "groups": [],
        "state": "persuasion",
        "state_label": "劝返中",
        "reasons": ["贫困", "厌学/学习困难"],
        # The government chain in a township ledger, by position and name.
        "responsible": [
            "包乡县领导王建华",
            "包村乡镇干部李春燕",
            "包组村干部赵永福",
            "村民小组长孙德才",
        ],
        "left_on": None,
        "whereabouts": None,
        "opened_on": "2026-10-12",
        "days_in_state": 25,  # since 11-04
        "due_on": "2026-11-25",  # 15 working days after 11-04
        "due_provisional": False,
        "days_overdue": 2,  # working days: 11-26 and 11-27 (28 and 29 are a weekend)
        "days_unit": "working_days",
        "persuasions": 2,  # the call on 11-06 and the visit on 11-20, both in persuasion
        "last_note_on": "2026-11-20",
        "last_note_method": "入户走访",
        "returned_on": None,
        "return_school": None,
        "placement": None,
        "disability": None,
        "outcome": "在办",
        "closure_reason": None,
        "closed_on": None,
        "workflow_version": 2,
    }
    school = read(workspace, level="school", unit="示范县第一中学")[0]
    assert school["responsible"] and all(
        label.startswith(("包校教育局领导", "校长", "包年级学校领导", "班主任", "包人科任教师"))
        for label in school["responsible"]
    )
    # Returned on 11-20, watched for a term: four months, to Saturday 2027-03-20, so Monday.
    assert school["due_on"] == "2027-03-22" and school["days_overdue"] == 0
    closed = read(workspace, level="village", unit="木黄村")[0]
    assert closed["due_on"] is None and closed["days_overdue"] == 0


def test_a_ledger_for_a_past_day_shows_the_cases_as_they_stood_then(county, workspace) -> None:
    rows = read(workspace, as_of=date(2026, 11, 5))
    assert names(rows) == ["田小雨", "冉小梅", "龙小山"]  # =1+2 was identified on 11-25
    tt, lm, mh = rows
    assert (tt["state"], tt["days_in_state"], tt["due_on"]) == ("persuasion", 1, "2026-11-25")
    assert tt["last_note_on"] is None  # the first call was on 11-06
    assert (lm["state"], lm["outcome"], lm["due_on"]) == ("persuasion", "在办", "2026-11-25")
    assert (mh["state"], mh["outcome"], mh["closure_reason"]) == (
        "closed",
        "已销号",
        "异地就读（经核实）",
    )
    early = read(workspace, as_of=date(2026, 10, 12))
    assert [(r["name"], r["state"], r["due_on"]) for r in early] == [
        ("田小雨", "identified", "2026-10-15")
    ]
    assert early[0]["days_overdue"] == 0


def test_a_village_name_shared_by_two_townships_must_be_written_with_its_township(
    county, workspace
) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    open_case(ctx, kid(59, "李小花", "木黄镇", "天堂村", "一组", "木黄镇中心小学"))
    with in_chinese():
        with pytest.raises(InvalidInput, match="天堂镇/天堂村、木黄镇/天堂村"):
            open_ledger(ctx, level="village", unit="天堂村")
        with pytest.raises(InvalidInput, match="乡镇台账须用 --unit 指明单位"):
            open_ledger(ctx, level="township")
        with pytest.raises(InvalidInput, match="县级台账"):
            open_ledger(ctx, level="county", unit="天堂镇")
    with pytest.raises(InvalidInput, match="the township ledger needs --unit"):
        open_ledger(ctx, level="township")
    with pytest.raises(InvalidInput, match="is in the future; a ledger stands as of today"):
        open_ledger(ctx, as_of=TODAY + timedelta(days=1))
    ctx.engine.dispose()
    assert names(read(workspace, level="village", unit="木黄镇/天堂村")) == ["李小花"]


def test_the_xlsx_opens_as_an_official_ledger(county, workspace, tmp_path) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    target = tmp_path / "天堂镇台账.xlsx"
    assert write_ledger(open_ledger(ctx, level="township", unit="天堂镇"), output=target) == 2
    ctx.engine.dispose()
    sheet = load_workbook(target).active
    assert sheet.title == "台账"
    assert sheet["A1"].value == "示范县天堂镇控辍保学工作台账（截至2026年11月29日）"
    assert sheet["A1"].font.b
    assert sheet["A2"].value == (
        "填报单位：示范县教育局　　统计截止日期：2026年11月29日　　填报日期：2026年11月29日"
    )
    assert sorted(str(r) for r in sheet.merged_cells.ranges) == ["A1:AI1", "A2:AI2", "A7:AI7"]
    assert sheet.freeze_panes == "A4"
    assert [c.value for c in sheet[3]] == HEADINGS
    assert sheet["A7"].value.startswith("填报人（签字）：")  # after a blank row
    assert "审核人（签字）：" in sheet["A7"].value
    first = {HEADINGS[i]: cell for i, cell in enumerate(sheet[4])}
    assert first["姓名"].value == "田小雨"
    assert first["发现日期"].is_date and first["发现日期"].value.date() == date(2026, 10, 12)
    assert first["办理期限"].is_date and first["办理期限"].number_format == "yyyy-mm-dd"
    assert first["逾期天数"].value == 2 and first["案件编号"].value == county["tt"]
    assert first["备注"].value == "逾期按工作日计"
    assert sheet.max_row == 7
    assert not list(tmp_path.glob(".*.tmp"))  # written beside it, then renamed


def test_formula_like_cells_are_written_as_text(county, workspace, tmp_path) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    xlsx, text = tmp_path / "l.xlsx", tmp_path / "l.csv"
    write_ledger(open_ledger(ctx, level="village", unit="凤仪村"), output=xlsx)
    write_ledger(open_ledger(ctx, level="village", unit="凤仪村"), output=text)
    ctx.engine.dispose()
    cell = load_workbook(xlsx).active["B4"]
    assert (cell.value, cell.data_type) == ("'=1+2", "s")
    raw = text.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel and WPS
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == HEADINGS
    assert lines[1][1] == "'=1+2"
    assert [neutralise(v) for v in ("+1", "-1", "@A1", "=A1", "1-2")] == [
        "'+1",
        "'-1",
        "'@A1",
        "'=A1",
        "1-2",
    ]


def test_markdown_json_and_table_formats(county, workspace) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    ledger = open_ledger(ctx, level="township", unit="天堂镇")
    markdown, table, data = io.StringIO(), io.StringIO(), io.StringIO()
    write_ledger(ledger, "md", stream=markdown)
    write_ledger(ledger, "table", stream=table)
    write_ledger(ledger, "json", stream=data)
    ctx.engine.dispose()
    lines = markdown.getvalue().splitlines()
    assert lines[0] == "# 示范县天堂镇控辍保学工作台账（截至2026年11月29日）"
    assert lines[2].startswith("填报单位：示范县教育局")
    assert lines[4] == "| " + " | ".join(HEADINGS) + " |"
    assert lines[6].startswith("| 1 | 田小雨 | 男 | 2013-03-05 |  | 5206********")
    assert "2026-11-25" in lines[6] and "包村乡镇干部李春燕" in lines[6]
    assert lines[8:] == ["", FOOTER]
    # The terminal shows the key columns and says how to get them all.
    shown = table.getvalue().splitlines()
    assert shown[0] == "示范县天堂镇控辍保学工作台账（截至2026年11月29日）"
    assert shown[1].split() == [c.heading for c in COLUMNS if c.key in KEY_COLUMNS]
    assert len(shown) == 6 and "田小雨" in shown[3]
    assert shown[5] == (
        f"（终端仅列主要栏目；完整台账共{len(COLUMNS)}栏，请用 -o 文件名.xlsx 导出，"
        "亦可导出 .csv、.md、.json）"
    )
    assert names(json.loads(data.getvalue())) == ["田小雨", "冉小梅"]


def test_reading_a_ledger_is_logged_with_what_was_asked(county, workspace) -> None:
    read(workspace, level="township", unit="天堂镇", as_of=date(2026, 11, 20))
    ctx = open_context(workspace, clock=fixed_clock)
    reads = [e for e in audit_trail(ctx) if e["action"] == "case.read"]
    ctx.engine.dispose()
    assert reads[-1]["payload"] == {
        "view": "ledger",
        "level": "township",
        "unit": "天堂镇",
        "as_of": "2026-11-20",
        "cases": [county["tt"], county["lm"]],
    }


def test_a_township_caseworker_sees_only_the_children_of_the_township(
    county, workspace, monkeypatch
) -> None:
    as_operator(monkeypatch, "ttz-kcb")  # 天堂镇控辍专干
    rows = read(workspace)
    assert names(rows) == ["田小雨", "冉小梅"]
    assert {row["township"] for row in rows} == {"天堂镇"}
    assert read(workspace, level="township", unit="木黄镇") == []
    assert read(workspace, level="school", unit="木黄镇中心小学") == []
    with pytest.raises(InvalidInput, match="no case you may see is in a village named"):
        read(workspace, level="village", unit="凤仪村")
    ctx = open_context(workspace, clock=fixed_clock)
    assert open_ledger(ctx).title == "示范县天堂镇控辍保学工作台账（截至2026年11月29日）"
    ctx.engine.dispose()
    as_operator(monkeypatch, "yz-kcb")  # 示范县第一中学控辍专员
    assert names(read(workspace)) == ["冉小梅"]


def test_the_ledger_command(county, workspace, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(
        "caseflow.services.context.open_context",
        functools.partial(open_context, clock=fixed_clock),
    )
    cli = CliInvoker(workspace)
    shown = cli("ledger", "--level", "township", "--unit", "天堂镇")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("示范县天堂镇控辍保学工作台账（截至2026年11月29日）\n")
    assert "田小雨" in shown.stdout and "龙小山" not in shown.stdout
    target = tmp_path / "county.xlsx"
    written = cli("ledger", "-o", str(target), "--lang", "zh")
    assert written.exit_code == 0, written.stderr
    assert (
        written.stdout
        == f"已将 4 条记录写入 {target}：示范县控辍保学工作台账（截至2026年11月29日）\n"
    )
    assert load_workbook(target).active.max_row == 9  # title, header, headings, 4, gap, footer
    as_json = cli("ledger", "--format", "json", "--as-of", "2026-11-05")
    assert [row["name"] for row in json.loads(as_json.stdout)] == ["田小雨", "冉小梅", "龙小山"]
    md = tmp_path / "l.md"
    assert (
        cli("ledger", "--level", "school", "--unit", "示范县第一中学", "-o", str(md)).exit_code == 0
    )
    assert "冉小梅" in md.read_text(encoding="utf-8")
    empty = cli("ledger", "--level", "school", "--unit", "无名小学", "--lang", "zh")
    assert empty.exit_code == 0 and "无记录" in empty.stderr
    for args, message in (
        (("ledger", "--level", "province", "--lang", "zh"), "--level 只能是"),
        (("ledger", "--kind", "年报", "--lang", "zh"), "没有“年报”这类台账；--kind 可选："),
        (("ledger", "--kind", "年报"), "there is no ledger of the kind '年报'; --kind may be:"),
        (("ledger", "-o", str(tmp_path / "l.pdf")), "cannot tell the format"),
        (("ledger", "--format", "xlsx"), "needs a file name"),
        (("ledger", "--format", "html"), "--format must be one of"),
        (("ledger", "--level", "village", "--lang", "zh"), "村台账须用 --unit 指明单位"),
    ):
        refused = cli(*args)
        assert refused.exit_code == 2 and message in refused.stderr, (args, refused.stderr)
    assert not (tmp_path / "l.pdf").exists()


# ---------------------------------------------------------------------------------------
# Streaming


def bulk_cases(ctx: Context, count: int, start: int) -> None:
    """``count`` more cases, inserted as rows (copies of a real one) for speed."""
    with db.read(ctx.engine) as connection:
        template = connection.execute(select(CASE).order_by(CASE.c.id).limit(1)).one()._asdict()
        first_child = connection.execute(select(CHILD.c.id).order_by(CHILD.c.id.desc())).scalar()
        first_case = connection.execute(select(CASE.c.id).order_by(CASE.c.id.desc())).scalar()
    template.pop("id")
    with db.write(ctx.engine) as connection:
        for offset in range(0, count, 1000):
            children, cases = [], []
            for k in range(offset, min(offset + 1000, count)):
                serial = start + k
                child_id = first_child + 1 + k
                children.append(
                    {
                        "id": child_id,
                        "id_number": make_id_number(
                            "520627",
                            date(2010, 1, 1) + timedelta(days=serial // 1000),
                            serial % 1000,
                        ),
                        "name": f"学生{serial}",
                        "sex": "男" if serial % 2 else "女",
                        "birth_date": date(2010, 1, 1) + timedelta(days=serial // 1000),
                        "township": "天堂镇",
                        "village": "天堂村",
                    }
                )
                cases.append(
                    {
                        **template,
                        "id": first_case + 1 + k,
                        "child_id": child_id,
                        "is_open": True,
                        "township": "天堂镇",
                        "village": "天堂村",
                    }
                )
            connection.execute(insert(CHILD), children)
            connection.execute(insert(CASE), cases)


def peak_while_writing(ctx: Context, target: Path) -> tuple[int, int]:
    ledger = open_ledger(ctx, batch_size=500)
    gc.collect()  # garbage the setup left behind is not the writer's memory
    tracemalloc.start()
    try:
        written = write_ledger(ledger, output=target)
        return written, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_ledger_is_written_in_batches_with_memory_that_does_not_grow(
    workspace, tmp_path
) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    open_case(ctx, kid(1, "张小华", "天堂镇", "天堂村", "一组", "天堂镇中心小学"))
    bulk_cases(ctx, 1999, start=0)
    peak_while_writing(ctx, tmp_path / "warm.csv")  # caches, compiled statements
    small, small_peak = peak_while_writing(ctx, tmp_path / "small.csv")
    bulk_cases(ctx, 8000, start=1999)
    large, large_peak = peak_while_writing(ctx, tmp_path / "large.csv")
    assert (small, large) == (2000, 10000)
    assert large_peak < small_peak * 1.3, (small_peak, large_peak)
    with (tmp_path / "large.csv").open(encoding="utf-8-sig") as stream:
        numbers = [int(line[HEADINGS.index("案件编号")]) for line in list(csv.reader(stream))[1:]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 10000
    reads = [e for e in audit_trail(ctx) if e["action"] == "case.read"]
    assert reads[-1]["payload"] == {
        "view": "ledger",
        "level": "county",
        "as_of": "2026-11-29",
        "count": 10000,
    }
    ctx.engine.dispose()


def test_rows_beyond_what_a_sheet_holds_go_on_to_another_sheet(tmp_path) -> None:
    target = tmp_path / "long.xlsx"
    rows = [(i, f"学生{i}", date(2026, 11, i)) for i in range(1, 8)]
    columns = [COLUMNS[0], COLUMNS[1], next(c for c in COLUMNS if c.key == "opened_on")]
    assert write_xlsx(target, columns, rows, title="台账", sheet_name="台账", max_rows=5) == 7
    book = load_workbook(target)
    assert book.sheetnames == ["台账", "台账（2）", "台账（3）"]
    for sheet in book.worksheets:
        assert sheet["A1"].value == "台账" and sheet.freeze_panes == "A3"
        assert [c.value for c in sheet[2]] == ["序号", "姓名", "发现日期"]
    second = book.worksheets[1]
    assert [second.cell(row=r, column=1).value for r in (3, 4, 5)] == [4, 5, 6]
    assert book.worksheets[2].max_row == 3


# ---------------------------------------------------------------------------------------
# The columns of a real 控辍保学台账


def walked_case(ctx: Context) -> int:
    """宋小兰 (天堂镇/天堂村, 土家族, 五年级2班; her mother's phone recorded): confirmed a
    dropout on 11-04, missing on 11-05, found working with her parents in Zhejiang on
    11-06, persuaded (a visit on 11-09), back in another class on 11-10, left again
    (absent since 11-13), persuaded again (a call on 11-18), back in her own class at
    天堂镇中心小学 on 11-23."""
    details = kid(61, "宋小兰", "天堂镇", "天堂村", "一组", "天堂镇中心小学")
    details = ChildDetails(
        **{
            **details.__dict__,
            "guardian_name": "宋某某",
            "guardian_relation": "母亲",
            "guardian_phone": "13812345678",
        }
    )
    number = open_case(
        ctx, details, reasons=["migrant_work"], occurred_on=date(2026, 10, 30)
    ).number
    update_details(
        ctx, number, DetailsUpdate(grade="五年级", class_name="2班"), occurred_on=date(2026, 10, 30)
    )
    with db.write(ctx.engine) as connection:  # as the student register records her
        connection.execute(
            CHILD.update()
            .where(CHILD.c.name == "宋小兰")
            .values(ethnicity="土家族", student_number="G" + details.id_number)
        )
    steps = [
        ("start_verification", {}, date(2026, 11, 3)),
        ("confirm_dropout", {"reason": "migrant_work"}, date(2026, 11, 4)),
        ("report_missing", {}, date(2026, 11, 5)),
        ("located", {"whereabouts": "随父母在浙江省宁波市务工地"}, date(2026, 11, 6)),
        ("confirm_dropout", {"reason": "migrant_work"}, date(2026, 11, 7)),
    ]
    for trigger, values, day in steps:
        advance(ctx, number, trigger, values, occurred_on=day)
    add_note(ctx, number, "入户劝返", method="visit", occurred_on=date(2026, 11, 9))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "other_class", "school": "示范县第一中学"},
        occurred_on=date(2026, 11, 10),
    )
    advance(ctx, number, "relapse", {"absent_since": "2026-11-13"}, occurred_on=date(2026, 11, 16))
    add_note(ctx, number, "电话劝返", method="phone", occurred_on=date(2026, 11, 18))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂镇中心小学"},
        occurred_on=date(2026, 11, 23),
    )
    return number


def test_a_case_with_those_facts_fills_every_column(county, workspace) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    number = walked_case(ctx)
    ctx.engine.dispose()
    row = next(r for r in read(workspace) if r["number"] == number)
    id_number = make_id_number("520626", date(2013, 3, 5), 61)
    assert {k: row[k] for k in ("sex", "birth", "ethnicity", "grade_class", "guardian")} == {
        "sex": "男",
        "birth": "2013-03-05",
        "ethnicity": "土家族",
        "grade_class": "五年级2班",
        "guardian": "宋某某（母亲） 13812345678",  # the bureau may see it in full
    }
    assert row["student_number"] == "G" + id_number  # the bureau's role reveals it
    assert row["id_number"] == mask_id_number(id_number)  # never in full in a ledger
    assert row["left_on"] == "2026-11-13"  # the relapse's 离校日期
    assert row["whereabouts"] == "随父母在浙江省宁波市务工地"
    assert row["persuasions"] == 2  # the visit and the call, both while being persuaded
    assert (row["returned_on"], row["return_school"], row["placement"]) == (
        "2026-11-23",
        "天堂镇中心小学",
        "原班就读",
    )
    assert row["outcome"] == "已复学（巩固中）" and row["closed_on"] is None
    # As it stood before the second return: back once on 11-10, in another class.
    then = next(r for r in read(workspace, as_of=date(2026, 11, 12)) if r["number"] == number)
    assert (then["returned_on"], then["persuasions"], then["left_on"]) == ("2026-11-10", 1, None)


def test_a_disabled_child_taught_at_home_shows_the_category_grade_and_placement(
    county, workspace
) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    number = open_case(
        ctx,
        kid(73, "杨小军", "木黄镇", "木黄村", "二组", "木黄镇中心小学"),
        occurred_on=date(2026, 11, 2),
    ).number
    for trigger, values, day in (
        ("refer_disability_assessment", {}, date(2026, 11, 3)),
        ("disability_confirmed", {"category": "4", "grade": "1"}, date(2026, 11, 5)),
        (
            "expert_opinion",
            {"opinion": "home_teaching", "assessed_on": "2026-11-09", "summary": "重度肢体残疾"},
            date(2026, 11, 10),
        ),
        (
            "start_home_teaching",
            {"school": "木黄镇中心小学", "teachers": "张老师"},
            date(2026, 11, 12),
        ),
    ):
        advance(ctx, number, trigger, values, occurred_on=day)
    ctx.engine.dispose()
    row = next(r for r in read(workspace) if r["number"] == number)
    assert row["disability"] == "肢体残疾 一级"
    assert row["placement"] == "送教上门"
    assert (row["returned_on"], row["return_school"]) == ("2026-11-12", "木黄镇中心小学")


def test_phones_student_numbers_and_birth_days_are_masked_unless_the_role_may_reveal(
    county, workspace, monkeypatch
) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    number = walked_case(ctx)
    ctx.engine.dispose()
    as_operator(monkeypatch, "ttz-kcb")  # 天堂镇控辍专干: a caseworker, no reveal role
    row = next(r for r in read(workspace) if r["number"] == number)
    id_number = make_id_number("520626", date(2013, 3, 5), 61)
    assert row["guardian"] == "宋某某（母亲） 138****5678"
    assert row["birth"] == "2013-03"  # the day would give the ID number back
    assert row["student_number"] == "G" + mask_id_number(id_number)
    assert row["id_number"] == mask_id_number(id_number)


def test_a_closed_case_shows_its_closing_date_not_days_in_state(
    county, workspace, tmp_path
) -> None:
    closed = read(workspace, level="village", unit="木黄村")[0]
    assert (closed["closed_on"], closed["days_in_state"]) == ("2026-11-03", None)
    assert closed["closure_reason"] == "异地就读（经核实）"
    ctx = open_context(workspace, clock=fixed_clock)
    target = tmp_path / "木黄村.xlsx"
    write_ledger(open_ledger(ctx, level="village", unit="木黄村"), output=target)
    ctx.engine.dispose()
    sheet = load_workbook(target).active
    row = {HEADINGS[i]: cell for i, cell in enumerate(sheet[4])}
    assert row["在当前状态天数"].value is None
    assert row["办结日期"].is_date and row["办结日期"].value.date() == date(2026, 11, 3)
    assert row["销号原因"].value == "异地就读（经核实）"
    assert row["销号原因"].alignment.wrap_text  # a long reason wraps in its own column


# ---------------------------------------------------------------------------------------
# Ledger kinds


def test_each_kind_holds_the_cases_of_its_categories_at_each_level(county, workspace) -> None:
    levels = (
        {},
        {"level": "township", "unit": "木黄镇"},
        {"level": "village", "unit": "木黄镇/凤仪村"},
        {"level": "school", "unit": "木黄镇中心小学"},
    )
    for asked in levels:  # =1+2 was identified and not yet checked
        assert names(read(workspace, kind="疑似", **asked)) == ["=1+2"], asked
    for asked in (
        {},
        {"level": "township", "unit": "天堂镇"},
        {"level": "village", "unit": "龙门村"},
        {"level": "school", "unit": "示范县第一中学"},
    ):  # 冉小梅 came back on 11-20
        assert names(read(workspace, kind="returned", **asked)) == ["冉小梅"], asked
    assert read(workspace, kind="suspected", level="township", unit="天堂镇") == []
    # On 10-12 田小雨 was the one suspected, and nobody had come back yet.
    assert names(read(workspace, kind="suspected", as_of=date(2026, 10, 12))) == ["田小雨"]
    assert read(workspace, kind="劝返复学", as_of=date(2026, 11, 19)) == []
    ctx = open_context(workspace, clock=fixed_clock)
    ledger = open_ledger(ctx, kind="劝返复学", level="township", unit="天堂镇")
    ctx.engine.dispose()
    assert ledger.title == "示范县天堂镇劝返复学台账（截至2026年11月29日）"
    assert "逾期天数" not in [c.heading for c in ledger.columns]
    with in_chinese(), pytest.raises(InvalidInput, match="没有“月报”这类台账"):
        read(workspace, kind="月报")


def test_cases_with_an_unknown_address_have_a_ledger_of_their_own(county, workspace) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    open_case(ctx, kid(85, "吴小明", "待核实", "待核实", "", "木黄镇中心小学"))
    ledger = open_ledger(ctx, unit="待核实")
    ctx.engine.dispose()
    assert ledger.title == "示范县地址待核实案件台账（截至2026年11月29日）"
    assert names(read(workspace, unit="待核实")) == ["吴小明"]
    assert names(read(workspace, unit="地址待核实", kind="疑似")) == ["吴小明"]
    assert "吴小明" not in names(read(workspace, level="township", unit="木黄镇"))


# ---------------------------------------------------------------------------------------
# On paper: landscape A4, fitted to the width, 9 pt or more, borders, wrapping


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def printed_ledger(county: dict[str, int], workspace: Path, target: Path, **asked: Any) -> Path:
    ctx = open_context(workspace, clock=fixed_clock)
    walked_case(ctx)
    write_ledger(open_ledger(ctx, **asked), output=target)
    ctx.engine.dispose()
    return target


def test_the_xlsx_is_set_up_for_printing_on_landscape_a4(county, workspace, tmp_path) -> None:
    sheet = load_workbook(printed_ledger(county, workspace, tmp_path / "county.xlsx")).active
    setup = sheet.page_setup
    assert (setup.orientation, int(setup.paperSize)) == ("landscape", 9)  # 9: A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    layout = print_layout(COLUMNS)
    assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (layout.pages_wide, 0)
    assert layout.printed_pt >= 9  # the 10 pt cells, scaled to fit, print at 9 pt or more
    assert sheet.print_title_rows == "$1:$3"  # title, 填报单位 and the headings on every page
    if layout.pages_wide > 1:
        assert sheet.print_title_cols == "$A:$B"  # 序号 and 姓名 on every page across
    assert sheet.oddFooter.center.text == "第 &P 页 共 &N 页"
    # Widths by content: a name is narrower than a masked ID number, a date fits a date.
    width = {
        c.heading: sheet.column_dimensions[get_column_letter(i)].width
        for i, c in enumerate(COLUMNS, 1)
    }
    assert width["性别"] < width["姓名"] < width["身份证号"]
    assert width["发现日期"] >= len("2026-10-12")
    table = list(sheet.iter_rows(min_row=3, max_row=sheet.max_row - 2))
    filled = [cell for row in table for cell in row if cell.value is not None]
    assert len(filled) > 3 * len(COLUMNS) // 2  # the headings and more
    for cell in filled:
        assert cell.font.sz >= 9, cell.coordinate
        assert cell.border.left.style == cell.border.bottom.style == "thin", cell.coordinate
        assert cell.alignment.wrap_text, cell.coordinate
    assert sheet.print_options.gridLines  # an empty cell is boxed on paper too
    # Every kind's columns print at 9 pt or more.
    for kind in ("work", "suspected", "returned"):
        assert print_layout(kind_columns(kind)).printed_pt >= 9, kind
    assert print_layout(REGISTER_COLUMNS).printed_pt >= 9


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_prints_the_ledger_on_landscape_a4_at_nine_points_or_more(
    county, workspace, tmp_path
) -> None:
    from pypdf import PdfReader

    source = printed_ledger(
        county, workspace, tmp_path / "天堂镇台账.xlsx", level="township", unit="天堂镇"
    )
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    reader = PdfReader(tmp_path / "天堂镇台账.pdf")
    pages = reader.pages
    assert len(pages) == print_layout(COLUMNS).pages_wide  # three cases: one page down
    sizes: list[float] = []
    text = []
    for page in pages:
        box = page.mediabox
        assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # landscape A4

        def seen(chunk: str, cm: Any, tm: Any, _font: Any, size: float) -> None:
            if chunk.strip():
                scale = abs(cm[0] * tm[0] + cm[2] * tm[1]) or abs(tm[0]) or 1
                sizes.append(size * scale)

        text.append(page.extract_text(visitor_text=seen))
    joined = "".join(text).replace(" ", "")
    assert "示范县天堂镇控辍保学工作台账" in joined and "宋小兰" in joined
    assert f"第1页共{len(pages)}页" in joined
    assert "审核人（签字）" in joined
    assert sizes and min(sizes) >= 8.9, sorted(sizes)[:5]


# ---------------------------------------------------------------------------------------
# The 文化户口台账 (from the registers)


def registers(workspace: Path, tmp_path: Path) -> None:
    """户籍: 田小雨 (open case) and 宋小芳 of 天堂镇/天堂村, 杨小虎 of 天堂镇/龙门村, 罗小林
    of 木黄镇/木黄村, and 周大伟 (born 2008: 18, not of school age). 学籍: 宋小芳 at
    天堂镇中心小学 (在读), 杨小虎 there too (休学); 田小雨 and 罗小林 have no record."""
    born = date(2014, 5, 1)
    people = {
        "田小雨": make_id_number("520626", date(2013, 3, 5), 11),
        "宋小芳": make_id_number("520626", born, 102),
        "杨小虎": make_id_number("520626", born, 113),
        "罗小林": make_id_number("520626", born, 124),
        "周大伟": make_id_number("520626", date(2008, 5, 1), 135),
    }
    household = tmp_path / "household.csv"
    household.write_text(
        "姓名,身份证号,性别,出生日期,乡镇,村,组,监护人,联系电话\n"
        f"田小雨,{people['田小雨']},,,天堂镇,天堂村,一组,田某某,13900001111\n"
        f"宋小芳,{people['宋小芳']},,,天堂镇,天堂村,二组,宋某某,13900002222\n"
        f"杨小虎,{people['杨小虎']},,,天堂镇,龙门村,一组,杨某某,\n"
        f"罗小林,{people['罗小林']},,,木黄镇,木黄村,三组,罗某某,\n"
        f"周大伟,{people['周大伟']},,,天堂镇,天堂村,一组,周某某,\n",
        encoding="utf-8",
    )
    student = tmp_path / "student.csv"
    student.write_text(
        "姓名,身份证号,学籍号,学校,年级,班级,学籍状态\n"
        f"宋小芳,{people['宋小芳']},G{people['宋小芳']},天堂镇中心小学,六年级,1班,在读\n"
        f"杨小虎,{people['杨小虎']},G{people['杨小虎']},天堂镇中心小学,六年级,2班,休学\n",
        encoding="utf-8",
    )
    ctx = open_context(workspace, clock=fixed_clock)
    import_roster(ctx, "household", household)
    import_roster(ctx, "student", student)
    ctx.engine.dispose()


def test_the_cultural_ledger_lists_every_school_age_child_of_the_area(
    county, workspace, tmp_path, monkeypatch
) -> None:
    registers(workspace, tmp_path)
    everyone = read(workspace, kind="文化户口")
    assert names(everyone) == ["田小雨", "宋小芳", "杨小虎", "罗小林"]  # not 周大伟, 18
    tian, song, yang, _luo = everyone
    assert (tian["status"], tian["open_case"], tian["school"]) == ("无学籍", county["tt"], None)
    assert (song["status"], song["school"], song["grade_class"]) == (
        "在读",
        "天堂镇中心小学",
        "六年级1班",
    )
    assert (yang["status"], yang["open_case"]) == ("休学", None)
    assert song["id_number"] == mask_id_number(make_id_number("520626", date(2014, 5, 1), 102))
    assert song["guardian"] == "宋某某 13900002222" and song["groups"] == []
    assert names(read(workspace, kind="cultural", level="township", unit="天堂镇")) == [
        "田小雨",
        "宋小芳",
        "杨小虎",
    ]
    assert names(read(workspace, kind="文化户口", level="village", unit="天堂镇/龙门村")) == [
        "杨小虎"
    ]
    assert names(read(workspace, kind="文化户口", level="village", unit="木黄村")) == ["罗小林"]
    school = read(workspace, kind="文化户口", level="school", unit="天堂镇中心小学")
    assert [(r["name"], r["township"], r["village"]) for r in school] == [
        ("宋小芳", "天堂镇", "天堂村"),
        ("杨小虎", "天堂镇", "龙门村"),
    ]
    ctx = open_context(workspace, clock=fixed_clock)
    ledger = open_ledger(ctx, kind="文化户口", level="township", unit="天堂镇")
    target = tmp_path / "天堂镇文化户口台账.xlsx"
    assert write_ledger(ledger, output=target) == 3
    ctx.engine.dispose()
    sheet = load_workbook(target).active
    assert sheet["A1"].value == "示范县天堂镇文化户口台账（截至2026年11月29日）"
    assert [c.value for c in sheet[3]] == [c.heading for c in REGISTER_COLUMNS]
    assert sheet["N4"].value == f"是（第{county['tt']}号）"  # 在办案件
    # A township caseworker: the township's children only, phones masked.
    as_operator(monkeypatch, "ttz-kcb")
    seen = read(workspace, kind="文化户口")
    assert names(seen) == ["田小雨", "宋小芳", "杨小虎"]
    assert seen[1]["guardian"] == "宋某某 139****2222" and seen[1]["birth"] == "2014-05"
    with in_chinese(), pytest.raises(InvalidInput, match="您的账户限于天堂镇"):
        read(workspace, kind="文化户口", level="township", unit="木黄镇")


def test_the_cultural_ledger_needs_the_registers_it_is_made_from(county, workspace) -> None:
    with pytest.raises(InvalidInput, match="caseflow roster import household"):
        read(workspace, kind="文化户口")
    with pytest.raises(InvalidInput, match="caseflow roster import student"):
        read(workspace, kind="文化户口", level="school", unit="天堂镇中心小学")
