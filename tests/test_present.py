"""What the commands print, built from small result objects: the presenter alone, with no
workspace and no database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from caseflow import i18n
from caseflow.audit import Checkpoint, Verification
from caseflow.audit_export import GENESIS, ExportVerification
from caseflow.cli import present
from caseflow.exports import display_width
from caseflow.roster import Comparison, Problem, Suspect
from caseflow.services.cases import Opening
from caseflow.services.dispatch import DispatchReport
from caseflow.services.letters import Queued
from caseflow.services.org import Applied
from caseflow.services.review import ExportSummary
from caseflow.services.roster import ImportSummary
from caseflow.services.snapshots import ImportRecord
from caseflow.workspace import Workspace


@pytest.fixture
def chinese() -> Iterator[None]:
    """The interface in Chinese, its default, for a test that reads the Chinese output."""
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language(None)


def listed_case(number: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": number,
        "state": "persuasion",
        "due_on": "2026-12-04",
        "due_provisional": False,
        "overdue": False,
        "name": "张小明",
        "id_number": "522226********0012",
        "township": "天堂镇",
        "village": "天堂村",
    }
    return {**row, **changes}


def test_columns_are_padded_to_their_width_and_a_long_value_is_left_whole() -> None:
    assert present.pad("ab", 5) == "ab   "
    assert present.pad(42, 5, right=True) == "   42"
    assert present.pad("persuasion_in_progress", 4) == "persuasion_in_progress"


def column_start(line: str, cell: str) -> int:
    """The display column at which ``cell`` starts on ``line``."""
    return display_width(line[: line.index(cell)])


def test_case_list_says_so_when_nothing_matches(chinese: None) -> None:
    assert present.case_list_lines([], {}) == ["没有符合条件的案件。"]
    i18n.set_language("en")
    assert present.case_list_lines([], {}) == ["No cases match."]


def test_a_provisional_due_date_is_marked_and_explained_once(chinese: None) -> None:
    rows = [listed_case(n, due_on="2027-01-08", due_provisional=True) for n in (1, 2)]
    lines = present.case_list_lines(rows, {})
    assert "2027年1月8日（暂定）" in lines[1] and "2027年1月8日（暂定）" in lines[2]
    assert lines[3:] == [present.provisional_hint()]
    assert present.provisional_hint() not in present.case_list_lines([listed_case(3)], {})
    opened = present.opened_lines(
        {
            "number": 3,
            "state": "identified",
            "state_label": "疑似辍学",
            "due_on": "2027-01-08",
            "due_provisional": True,
        }
    )
    assert opened[1:] == [present.provisional_hint()]


def test_the_outbox_is_a_table_of_notices_with_their_recipient_by_name_and_last_error(
    chinese: None,
) -> None:
    notices = [
        {
            "id": 3,
            "reference": "KC-000003",
            "status": "dead",
            "channel": None,
            "recipient": "guardian",
            "attempts": 5,
            "subject": "劝返通知",
            "last_error": "没有地址",
        },
        {
            "id": 12,
            "reference": "KC-000012",
            "status": "sent",
            "channel": "letter",
            "recipient": "person:tt-ht1",
            "attempts": 1,
            "subject": "督办通知书",
            "last_error": None,
        },
    ]
    view = {"counts": {"pending": 1, "sent": 3, "dead": 1}, "total": 5, "notices": notices}
    names = present.Names(people={"tt-ht1": "天堂小学班主任冯某"})
    lines = present.outbox_lines(view, names, limit=2)
    assert lines[0] == "发送队列：待发送 1，已发送 3，发送失败 1"
    header, dead, sent = lines[1:4]
    assert header.split() == [
        *("编号", "文号", "状态", "渠道", "接收方", "发送次数", "标题", "最后错误")
    ]
    assert dead.split() == [
        "3",
        "KC-000003",
        "发送失败",
        "-",
        "监护人",
        "5",
        "劝返通知",
        "没有地址",
    ]
    assert sent.split() == [
        "12",
        "KC-000012",
        "已发送",
        "纸质文书",
        "天堂小学班主任冯某",
        "1",
        "督办通知书",
    ]
    for dead_cell, sent_cell, heading in [
        ("KC-000003", "KC-000012", "文号"),
        ("劝返通知", "督办通知书", "标题"),
    ]:
        assert column_start(dead, dead_cell) == column_start(sent, sent_cell)
        assert column_start(header, heading) == column_start(sent, sent_cell)
    # numbers are right-aligned: the attempts end where their heading ends
    assert {column_start(header, "发送次数") + display_width("发送次数")} == {
        column_start(dead, "5  劝返通知") + 1,
        column_start(sent, "1  督办通知书") + 1,
    }
    assert lines[4:] == ["共 5 条，显示前 2 条；用 --limit 0 显示全部"]
    assert present.outbox_lines(view, names, limit=0)[4:] == []
    empty = {"counts": {"pending": 0, "sent": 0, "dead": 0}, "notices": []}
    assert present.outbox_lines(empty) == ["发送队列：待发送 0，已发送 0，发送失败 0"]


def test_the_comparison_counts_each_flag_and_tabulates_the_first_fifty_suspects(
    chinese: None,
) -> None:
    suspects = [
        Suspect(
            f"52222620100101{n:04d}",
            "欧阳小小" if n == 0 else "李四",
            ["household_vs_student"],
            "天堂镇",
            None,
        )
        for n in range(52)
    ]
    suspects[0].poor = "脱贫户"
    missing = {"student_vs_attendance": ["attendance"]}
    comparison = Comparison(date(2026, 9, 1), (6, 15), suspects, missing)
    views = [s.view(reveal=False) for s in suspects]
    i18n.set_language("zh")
    try:
        lines = present.comparison_lines(
            comparison, views, Opening([1, 2], [3], 4, 5), dry_run=True
        )
        every = present.comparison_lines(comparison, views, limit=0)
    finally:
        i18n.set_language(None)
    assert lines[0] == "比对基准日 2026年9月1日，年龄 6–15 周岁：疑似辍学 52 人"
    assert lines[1].split() == ["比对项", "人数"]
    assert lines[2].split() == ["户籍无学籍", "52"]
    assert lines[5].split() == ["有学籍未在校", "未比对：未导入实际在校生"]
    assert lines[6].split() == ["身份证号", "姓名", "乡镇/村", "比对标记", "特殊群体"]
    rows = [line for line in lines if line.startswith("  5222")]
    assert len(rows) == 50
    assert all(suspects[0].id_number not in line for line in lines)  # IDs masked
    assert rows[0].split() == [
        views[0]["id_number"],
        "欧阳小小",
        "天堂镇/-",
        "户籍无学籍",
        "脱贫户",
    ]
    # every row's place starts under its heading, after names two and four characters long
    assert {column_start(row, "天堂镇/-") for row in rows} == {column_start(lines[6], "乡镇/村")}
    assert (
        lines[-2]
        == "共 52 条，显示前 50 条；用 --limit 0 显示全部（或用 -o 文件 / --json 导出全部）"
    )
    assert lines[-1] == (
        "将登记案件 2 件；1 件在办案件补充新的比对线索；4 件已有记录；"
        "5 件已销号案件无新线索，未重新立案。"
    )
    assert len([line for line in every if line.startswith("  5222")]) == 52


def test_extending_a_deadline_prints_the_new_due_date() -> None:
    step = {"due_on": "2026-12-20", "due_provisional": False}
    assert present.due_line(9, step) == "Case 9: due 2026-12-20"


def test_calendar_check_lists_the_years_covered_and_the_deadlines_waiting() -> None:
    waiting = [SimpleNamespace(id=12, state="persuasion", due_on=date(2027, 1, 8))]
    assert present.calendar_lines((2004, 2005, 2006), waiting) == [
        "Working-day calendar covers 2004–2006",
        "Provisional deadlines waiting: 1",
        "  case 12     persuasion             due 2027-01-08 (provisional)",
    ]
    assert present.calendar_lines((2025, 2027), [])[0] == "Working-day calendar covers 2025, 2027"
    message = present.calendar_gap_message(2027, Path("/ws/holidays.yaml"))
    assert message.startswith("Error: 2027 has no official holiday calendar yet.")
    assert "in /ws/holidays.yaml with complete_years: [2027]" in message


def test_workflow_show_lists_states_with_ladders_then_transitions(chinese: None) -> None:
    description = {
        "name": "dropout",
        "version": 2,
        "label": "控辍保学",
        "states": [
            {
                "id": "persuasion",
                "label": "劝返中",
                "kind": "waiting",
                "category": "persuasion",
                "responsible": "township",
                "deadline": {"amount": 15, "unit": "working_days"},
                "ladder": [
                    {"offset": 0, "unit": "working_days", "notify": ["township"], "template": "t1"}
                ],
            }
        ],
        "transitions": [
            {
                "trigger": "return_to_school",
                "label": "复学",
                "from": ["persuasion", "legal"],
                "to": "monitoring",
                "roles": ["township"],
                "handoff": [],
                "auto": False,
                "fields": [{"name": "school"}],
            }
        ],
    }
    lines = present.workflow_lines(description)
    assert lines[:3] == ["控辍保学 — dropout 第2版", "", "状态："]
    assert lines[3].split() == ["状态", "代码", "类型", "类别", "责任单位", "办理期限"]
    assert lines[4].split() == [
        "劝返中",
        "persuasion",
        "办理中",
        "persuasion",
        "township",
        "15个工作日",
    ]
    assert lines[5].split() == ["+0个工作日：township（t1）"]
    assert lines[6:8] == ["", "办理事项："]
    assert lines[8].split() == ["办理事项", "代码", "从", "→", "到", "角色", "说明"]
    assert lines[9].split() == [
        "复学",
        "return_to_school",
        "persuasion,legal",
        "→",
        "monitoring",
        "township",
        "字段",
        "school",
    ]
    # every column starts at the same display column on the header and the rows
    assert display_width(lines[3][: lines[3].index("代码")]) == display_width(
        lines[4][: lines[4].index("persuasion")]
    )


def test_audit_log_prints_each_event_with_its_payload_as_json() -> None:
    events = [
        {
            "seq": 12,
            "recorded_at": "2026-12-03T09:00:00+08:00",
            "action": "case.note",
            "case": 5,
            "operator": "王老师",
            "os_user": "wang",
            "payload": {"text": "家访", "method": "visit"},
        },
        {
            "seq": 13,
            "recorded_at": "2026-12-03T09:05:00+08:00",
            "action": "audit.checkpoint",
            "case": None,
            "operator": "kcb",
            "os_user": "kcb",
            "payload": {},
        },
    ]
    assert list(present.audit_log_lines(iter(events))) == [
        "#12     2026-12-03T09:00:00+08:00  case.note          case 5     王老师 (wang)  "
        '{"method": "visit", "text": "家访"}',
        "#13     2026-12-03T09:05:00+08:00  audit.checkpoint              kcb (kcb)  {}",
    ]
    assert list(present.audit_log_lines(iter([]))) == ["No audit events match."]


def test_an_audit_export_says_how_to_check_it_only_when_it_verifies() -> None:
    last = Checkpoint(40, "ab" * 32)
    intact = ExportVerification(30, 11, last, "00" * 32, "a", "b")
    summary = ExportSummary(Path("audit.jsonl"), 30, 11, last, intact)
    assert present.export_lines(summary) == [
        "Wrote 30 events (seq 11–40) to audit.jsonl",
        f"Checkpoint: caseflow-audit:40:{'ab' * 32}",
        "Check it anywhere with: caseflow audit verify --file audit.jsonl",
    ]
    broken = ExportVerification(30, 11, last, "00" * 32, "a", "b", problem="line 3 altered")
    assert len(present.export_lines(ExportSummary(Path("a"), 30, 11, last, broken))) == 2


def test_audit_verify_names_the_first_bad_event_or_the_head() -> None:
    head = Checkpoint(40, "cd" * 32)
    assert present.chain_line(Verification(40, head), "caseflow-audit:40:cd") == (
        f"Audit chain intact and matches the checkpoint: 40 events, head {head}"
    )
    broken = Verification(40, head, first_bad_seq=17, problem="hash mismatch")
    assert present.chain_line(broken, None) == "Audit chain BROKEN at event 17: hash mismatch"


def test_verifying_an_export_file_says_where_it_starts_and_ends() -> None:
    last = Checkpoint(40, "ef" * 32)
    whole = ExportVerification(40, 1, last, GENESIS, "2026-11-01T08:00", "2026-12-03T09:00")
    assert present.export_file_lines(whole, None) == [
        "Export intact: 40 events, seq 1–40, recorded 2026-11-01T08:00 to 2026-12-03T09:00",
        "Starts at the beginning of the chain.",
        f"Ends at checkpoint {last}",
    ]
    part = ExportVerification(10, 31, last, "12" * 32, "x", "y")
    lines = present.export_file_lines(part, "caseflow-audit:40:efef")
    assert lines[0].startswith("Export intact and holds checkpoint caseflow-audit:40:efef: ")
    assert lines[1].startswith(f"Starts mid-chain: event 31 follows prev_hash {'12' * 32}, ")


def import_summary(problems: list[Problem], replaced: int | None = None) -> ImportSummary:
    return ImportSummary(
        import_id=4,
        source="household",
        file_name="户籍.csv",
        file_sha256="0" * 64,
        as_of=date(2026, 9, 1),
        rows_total=100,
        imported=100 - len(problems),
        rejected=len(problems),
        rejects_file=Path("rejects/household.csv") if problems else None,
        problems=problems,
        replaced=replaced,
        format="csv",
        encoding="utf-8",
        snapshot=Path("snapshot"),
    )


def test_a_clean_register_import_is_one_line() -> None:
    assert present.import_lines(import_summary([], replaced=3)) == [
        "Imported 100 of 100 rows of 户籍.csv as the household register (import 4, as of "
        "2026-09-01, replacing import 3); 0 rejected."
    ]


def test_a_register_import_shows_the_first_five_rejected_rows_and_counts_the_rest() -> None:
    problems = [Problem(n, "身份证号", "5222****", "校验位不对") for n in range(2, 9)]
    lines = present.import_lines(import_summary(problems))
    assert lines[1] == "Rejected rows, with the reasons: rejects/household.csv"
    assert lines[2] == "  row 2, 身份证号 5222****: 校验位不对"
    assert len(lines) == 2 + 5 + 1
    assert lines[-1] == "  ... and 2 more in the rejects file"


def test_import_history_marks_the_current_snapshot_in_the_workspace_time_zone() -> None:
    record = ImportRecord(
        id=7,
        source="student",
        file_name="学籍.xlsx",
        file_sha256="abcdef0123456789" * 4,
        as_of=date(2026, 9, 1),
        imported_at=datetime(2026, 9, 2, 1, 30, tzinfo=UTC),
        operator="kcb",
        os_user="kcb",
        rows_total=1200,
        rows_imported=1190,
        rows_rejected=10,
        rejects_file=None,
        current=True,
    )
    beijing = timezone(timedelta(hours=8))
    heading, row = present.import_history_lines([record], beijing)
    assert heading.split() == [
        "Import",
        "Register",
        "Imported",
        "at",
        "As",
        "of",
        "Imported",
        "Rejected",
        "File",
        "By",
    ]
    assert row.split() == [
        "*",
        "7",
        "student",
        "2026-09-02",
        "09:30",
        "2026-09-01",
        "1190",
        "10",
        "学籍.xlsx",
        "sha256:abcdef012345",
        "kcb",
        "(kcb)",
    ]
    assert column_start(row, "2026-09-02") == column_start(heading, "Imported at")
    assert present.import_history_lines([], beijing) == ["No register has been imported yet."]


def test_queuing_a_letter_gives_each_notice_its_reference_or_says_it_was_already_queued() -> None:
    queued = Queued((21, 22), ("guardian", "department:health"), "责令改正通知书", new=False)
    assert present.queued_lines(queued, ["KC-21", "KC-22"]) == [
        "Already queued notice 21 (KC-21) to guardian: 责令改正通知书",
        "Already queued notice 22 (KC-22) to department:health: 责令改正通知书",
        "Nothing new was queued; the case has not changed since.",
    ]


def test_dispatch_counts_and_points_at_the_dead_notices(chinese: None) -> None:
    assert present.dispatch_lines(DispatchReport(sent=5)) == [
        "通知投递：送达5份，待重试0份，等待限流窗口0份，投递失败0份"
    ]
    assert present.dispatch_lines(DispatchReport(routed=2, dead=1)) == [
        "通知投递：送达0份，待重试0份，等待限流窗口0份，投递失败1份（本次分派渠道2份）",
        "投递失败的通知及原因可用“caseflow notify status --status dead”查看。",
    ]


def test_org_apply_lists_the_operators_it_changed() -> None:
    applied = Applied(
        "f" * 64, added=["李老师", "王老师"], removed=[], changed=["kcb"], unchanged=False
    )
    assert present.org_applied_lines(applied) == [
        "In force: ffffffffffff",
        "  Operators added: 李老师, 王老师",
        "  Operators changed: kcb",
    ]
    same = Applied("e" * 64, added=[], removed=[], changed=[], unchanged=True)
    assert present.org_applied_lines(same) == ["Already in force: eeeeeeeeeeee"]


def test_init_says_where_the_workspace_is_and_what_to_do_next(tmp_path: Path) -> None:
    workspace = Workspace(
        root=tmp_path,
        database_url="sqlite:///caseflow.db",
        synchronous="FULL",
        timezone=None,  # type: ignore[arg-type]
        default_workflow="dropout",
    )
    plain = present.workspace_created_lines(workspace, "kcb")
    assert plain == [
        f"Created workspace {tmp_path}",
        "Database: sqlite:///caseflow.db",
        "Operator “kcb” registered with roles bureau, admin (county-wide).",
        f"Next: caseflow -w {tmp_path} case open --help",
    ]
    example = present.workspace_created_lines(workspace, "kcb", example_org=True)
    assert example[2] == f"Organisation: the example county, in {tmp_path / 'org.yaml'}"
    assert example[-1].startswith(f"Next: check it with `caseflow -w {tmp_path} org check`")
