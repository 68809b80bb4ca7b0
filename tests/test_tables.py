"""Tables a person reads on a terminal: columns by display width (a Chinese character takes
two columns), header rows, --limit; and `case show` / `case history` in words."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest

from caseflow import i18n
from caseflow.cli import present
from caseflow.cli.table import table
from caseflow.exports import display_width
from caseflow.services.sweep import SweepReport
from tests.conftest import CliInvoker, open_case_by_cli


@pytest.fixture
def chinese() -> Iterator[None]:
    """The interface in Chinese, its default, for a test that reads the Chinese output."""
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language(None)


def column_starts(line: str, cells: list[str]) -> list[int]:
    """The display column at which each cell starts on the line."""
    starts, at = [], 0
    for cell in cells:
        index = line.index(cell, at)
        starts.append(display_width(line[:index]))
        at = index + len(cell)
    return starts


def test_every_column_starts_at_the_same_display_column_on_every_row() -> None:
    rows = [["7", "劝返中", "张小明", "天堂镇/天堂村"], ["1234", "verifying", "Li", "木黄镇/x"]]
    headers = ["案件号", "状态", "姓名", "住址"]
    lines = table(headers, rows, right=(0,))
    starts = [
        column_starts(line, cells[1:]) for line, cells in zip(lines, [headers, *rows], strict=True)
    ]
    assert len({tuple(s) for s in starts}) == 1
    assert display_width("劝返中") == 6
    assert display_width("ａ１") == 4  # full-width letters and digits take two columns too


def test_case_list_has_a_header_row_and_aligned_chinese_columns(chinese: None) -> None:
    rows = [
        {
            "number": n,
            "state": state,
            "due_on": "2026-12-04",
            "due_provisional": False,
            "overdue": n == 12,
            "name": name,
            "id_number": "522226********0012",
            "township": "天堂镇",
            "village": village,
        }
        for n, state, name, village in [
            (7, "persuasion", "张小明", "天堂村"),
            (12, "verifying", "欧阳小小", "新寨村"),
            (1234, "returned", "李一", "木黄村"),
        ]
    ]
    labels = {"persuasion": "劝返中", "verifying": "核实中", "returned": "已复学（巩固观察）"}
    lines = present.case_list_lines(rows, labels)
    assert lines[0].split() == ["案件号", "状态", "办理期限", "姓名", "身份证号", "住址", "逾期"]
    names = [line.split()[3] for line in lines[1:]]
    assert names == ["张小明", "欧阳小小", "李一"]
    starts = {
        display_width(line[: line.index(name)]) for line, name in zip(lines[1:], names, strict=True)
    }
    assert len(starts) == 1
    assert "2026年12月4日" in lines[1] and lines[2].endswith("逾期")


def test_a_long_listing_is_cut_at_the_limit_and_says_how_to_see_all(chinese: None) -> None:
    rows = [
        {
            "number": n,
            "state": "persuasion",
            "due_on": None,
            "due_provisional": False,
            "overdue": False,
            "name": "张小明",
            "id_number": "522226********0012",
            "township": "天堂镇",
            "village": "天堂村",
        }
        for n in range(1, 61)
    ]
    lines = present.case_list_lines(rows, {})
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "共 60 条，显示前 50 条；用 --limit 0 显示全部"
    assert len(present.case_list_lines(rows, {}, limit=0)) == 61
    assert present.case_list_lines(rows[:3], {}, limit=3)[-1].split()[0] == "3"


def test_the_sweep_lists_levels_and_recipients_by_name_in_a_table(chinese: None) -> None:
    report = SweepReport(
        as_of=date(2026, 12, 3),
        dry_run=True,
        fired=3,
        timed=0,
        notices=3,
        by_recipient=Counter({(2, "township:天堂镇"): 1, (1, "person:tt-ht1"): 2}),
        queued=Counter({(2, "township:天堂镇"): 1, (1, "person:tt-ht1"): 2}),
    )
    lines = present.sweep_lines(report, present.Names(people={"tt-ht1": "天堂小学班主任冯某"}))
    assert lines[0].startswith("截至2026年12月3日的督办检查（试运行")
    assert lines[1].split() == ["级别", "督办对象", "案件数", "通知份数"]
    assert lines[2].split() == ["第1级", "天堂小学班主任冯某", "2", "2"]
    assert lines[3].split() == ["第2级", "天堂镇人民政府", "1", "1"]
    ends = {display_width(line) for line in lines[1:]}
    assert len(ends) == 1  # the counts are right-aligned under their heading


CODES = re.compile(r"\b(case|notice)\.[a-z_]+\b|\b[a-z]+_[a-z_]+=")


def test_history_lines_name_actions_fields_and_people_and_date_every_event(chinese: None) -> None:
    names = present.Names(
        states={"persuasion": "劝返中", "verifying": "核查中"},
        triggers={"confirm_dropout": "确认辍学"},
        fields={"confirm_dropout.reason": "辍学原因"},
        choices={"confirm_dropout.reason": {"bullying": "校园欺凌"}},
        people={"bureau-leader3": "县教育局包校教育局领导陈某"},
    )
    events = [
        {
            "seq": 5,
            "action": "case.transition",
            "case": 9,
            "occurred_on": "2026-11-02",
            "operator": "天堂镇控辍专干",
            "payload": {
                "from": "verifying",
                "to": "persuasion",
                "trigger": "confirm_dropout",
                "values": {"reason": "bullying"},
                "documents": [
                    {"prepared": False, "template": "persuasion_notice", "reason": "缺少学校"}
                ],
            },
        },
        {
            "seq": 6,
            "action": "case.chain",
            "case": 9,
            "occurred_on": "2026-11-03",
            "operator": "天堂镇控辍专干",
            "payload": {"from": {}, "to": {"bureau_leader": "bureau-leader3"}},
        },
        {
            "seq": 7,
            "action": "notice.delivery",
            "case": 9,
            "occurred_on": None,
            "recorded_at": "2026-11-03T17:30:00+00:00",  # 4 November in Shanghai
            "operator": "县教育局控辍办",
            "payload": {
                "reference": "KC-000012",
                "recipient": "township:天堂镇",
                "channel": "letter",
                "attempt": 1,
                "status": "sent",
                "error": "",
            },
        },
        {
            "seq": 8,
            "action": "case.escalation",
            "case": 9,
            "occurred_on": "2026-11-20",
            "operator": "县教育局控辍办",
            "payload": {
                "level": 2,
                "state": "persuasion",
                "due_on": "2026-11-18",
                "days_overdue": 2,
                "recipients": ["person:bureau-leader3"],
            },
        },
    ]
    from zoneinfo import ZoneInfo

    lines = [present.event_line(e, names, ZoneInfo("Asia/Shanghai")) for e in events]
    for line in lines:
        assert not CODES.search(line), line
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", line), line
    assert "状态变更：确认辍学，核查中 → 劝返中，辍学原因：校园欺凌" in lines[0]
    assert lines[0].count("persuasion_notice") == 1  # one line: why, and how to prepare it
    assert "caseflow notice letter 9 persuasion_notice" in lines[0]
    assert "包校教育局领导 县教育局包校教育局领导陈某" in lines[1]
    assert "2026年11月4日" in lines[2] and "致天堂镇人民政府" in lines[2] and "已送达" in lines[2]
    assert "升级督办：第2级" in lines[3] and "督办 县教育局包校教育局领导陈某" in lines[3]


def test_show_and_history_print_the_guardian_phone_masked_alike(cli: CliInvoker) -> None:
    number = open_case_by_cli(cli)
    updated = cli(
        "case", "update", str(number), "--guardian", "张大山", "--guardian-phone", "13812345678"
    )
    assert updated.exit_code == 0, updated.stderr
    history = cli("--lang", "zh", "case", "history", str(number)).stdout
    assert "13812345678" not in history
    assert "监护人电话：138****5678" in history
    shown = cli("--lang", "zh", "case", "show", str(number)).stdout
    assert "案件登记" in shown and "办理记录" in shown
    assert not CODES.search(shown.split("办理记录")[1])
