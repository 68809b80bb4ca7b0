"""Campaigns on a real database: the publicity letters to every family with a school-age
child in the registers, printed in batches per school and village with a notice to each
unit, and the monthly report to the supervision office, once per month, with an audit
event."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from caseflow import db, i18n
from caseflow.errors import InvalidInput, Refused
from caseflow.ids import make_id_number
from caseflow.models import AuditEvent, Notice
from caseflow.services.audit import audit_verify
from caseflow.services.campaigns import queue_monthly_report, queue_publicity_letters
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.dispatch import dispatch, names_a_child
from caseflow.services.org import apply_org
from caseflow.services.roster import import_roster
from tests.conftest import audit_trail, child, county_today, database_rows, issuing_org


@contextmanager
def in_chinese() -> Iterator[None]:
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language(None)


NOTICE = Notice.__table__  # type: ignore[attr-defined]
EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
TODAY = date(2026, 11, 29)  # conftest's fixed clock


def outbox(ctx: Context) -> dict[str, object]:
    with db.read(ctx.engine) as connection:
        return {row.key: row for row in connection.execute(select(NOTICE).order_by(NOTICE.c.id))}


def campaign_events(ctx: Context, action: str) -> list[dict[str, object]]:
    return [e["payload"] for e in audit_trail(ctx) if e["action"] == action]


def returned_case(ctx: Context, serial: int, opened: date, returned: date, **kw) -> int:
    number = open_case(ctx, child(serial, **kw), occurred_on=opened).number
    advance(ctx, number, "start_verification", occurred_on=opened)
    advance(ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=opened)
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂中学"},
        occurred_on=returned,
    )
    return number


def check_in(ctx: Context, number: int, day: date) -> None:
    advance(ctx, number, "check_in", {"attending": "steady"}, occurred_on=day)


# ---------------------------------------------------------------------------------------
# Publicity letters: every family with a school-age child in the registers

# On TODAY (29 November 2026) school age is 6-15 on 1 September 2026 (born 2010-09-02 ..
# 2020-09-01), and the letter also reaches the parents of children who are 6 by
# 1 September 2027 (born up to 2021-09-01).
# 户籍: name, serial, born, township, village, guardian, phone
HOUSEHOLD = [
    ("张一", 1, date(2014, 3, 1), "天堂镇", "天堂村", "张大山", "13800000001"),
    ("张二", 2, date(2016, 5, 1), "天堂镇", "天堂村", "张大山", "13800000001"),
    ("张三", 3, date(2011, 3, 1), "天堂镇", "天堂村", "张大山", "13800000001"),
    ("张大", 4, date(2008, 1, 1), "天堂镇", "天堂村", "张大山", "13800000001"),  # 18
    ("李一", 5, date(2013, 6, 1), "天堂镇", "天堂村", "李四", "13800000002"),
    ("李二", 6, date(2021, 5, 1), "天堂镇", "天堂村", "李四", "13800000002"),  # 6 next year
    ("李小", 7, date(2023, 2, 1), "天堂镇", "天堂村", "李四", "13800000002"),  # 3
    ("王一", 8, date(2015, 1, 1), "木黄镇", "木黄村", "王五", "13800000003"),
    ("赵六", 9, date(2012, 2, 1), "木黄镇", "木黄村", "", ""),  # no guardian registered
    ("陈一", 10, date(2013, 1, 1), "木黄镇", "木黄村", "陈七", "13800000004"),
    ("李三", 11, date(2014, 7, 1), "木黄镇", "木黄村", "李四", "13800000005"),  # another 李四
]
# 学籍: name, serial, born, school, grade, class, status (孙八: registered elsewhere)
STUDENTS = [
    ("张一", 1, date(2014, 3, 1), "天堂小学", "五年级", "1班", "在读"),
    ("张二", 2, date(2016, 5, 1), "天堂小学", "三年级", "2班", "在读"),
    ("张三", 3, date(2011, 3, 1), "天堂中学", "八年级", "1班", "在读"),
    ("王一", 8, date(2015, 1, 1), "天堂小学", "六年级", "1班", "在读"),
    ("赵六", 9, date(2012, 2, 1), "天堂中学", "九年级", "2班", "休学"),
    ("陈一", 10, date(2013, 1, 1), "天堂中学", "七年级", "1班", "转出"),  # left school
    ("孙八", 12, date(2014, 9, 1), "天堂中学", "七年级", "3班", "在读"),
]
# The letters: a child at school through the school, the others through the village of
# their 户籍; siblings (same guardian and phone, same village) going through the same unit
# share one letter.
LETTERS = {
    "致家长的一封信_2026年11月_学校_天堂小学.html": [{"张一", "张二"}, {"王一"}],
    "致家长的一封信_2026年11月_学校_天堂中学.html": [{"张三"}, {"赵六"}, {"孙八"}],
    "致家长的一封信_2026年11月_村_天堂镇天堂村.html": [{"李一", "李二"}],
    "致家长的一封信_2026年11月_村_木黄镇木黄村.html": [{"陈一"}, {"李三"}],
}
NAMES = {row[0] for row in HOUSEHOLD} | {row[0] for row in STUDENTS}
SECTION = '<section class="caseflow-letter"'


def resident(serial: int, born: date, region: str = "520626") -> str:
    return make_id_number(region, born, serial)


def household_csv(folder: Path, rows: list[tuple]) -> Path:
    path = folder / "户籍.csv"
    lines = ["姓名,身份证号,性别,出生日期,乡镇,村,监护人,联系电话"]
    for name, serial, born, township, village, guardian, phone in rows:
        number = resident(serial, born)
        sex = "男" if int(number[16]) % 2 else "女"
        lines.append(f"{name},{number},{sex},{born},{township},{village},{guardian},{phone}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def student_csv(folder: Path, rows: list[tuple]) -> Path:
    path = folder / "学籍.csv"
    lines = ["姓名,身份证号,学籍号,学校,年级,班级,学籍状态"]
    for name, serial, born, school, grade, class_name, status in rows:
        number = resident(serial, born, "520101" if name == "孙八" else "520626")
        lines.append(f"{name},{number},G{number},{school},{grade},{class_name},{status}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_registers(ctx: Context, folder: Path, household: list[tuple] = HOUSEHOLD) -> None:
    for source, path in (
        ("household", household_csv(folder, household)),
        ("student", student_csv(folder, STUDENTS)),
    ):
        summary = import_roster(ctx, source, path)
        assert summary.rejected == 0, summary.problems


def campaign_files(ctx: Context, month: str = "2026-11") -> dict[str, str]:
    folder = ctx.workspace.root / "campaigns" / month
    return {path.name: path.read_text("utf-8") for path in sorted(folder.iterdir())}


def letters_in(html: str) -> list[set[str]]:
    """The children each letter (page) of a batch file names on its receipt."""
    return [
        {name for name in NAMES if f"学生姓名：{name}　" in section}
        for section in html.split(SECTION)[1:]
    ]


def test_every_family_with_a_school_age_child_gets_one_letter_in_its_school_or_village_batch(
    ctx, tmp_path
) -> None:
    import_registers(ctx, tmp_path)
    run = queue_publicity_letters(ctx, TODAY)

    files = campaign_files(ctx)
    assert set(files) == set(LETTERS)
    for name, families in LETTERS.items():
        found = letters_in(files[name])
        assert sorted(map(sorted, found)) == sorted(map(sorted, families)), name
        assert files[name].count(SECTION) == len(families)  # a page per family
    pages = 2 + 3 + 1 + 2
    children = 3 + 3 + 2 + 2
    assert (run.families, run.children, run.already_printed) == (pages, children, 0)
    school = files["致家长的一封信_2026年11月_学校_天堂小学.html"]
    assert "尊敬的张一、张二同学家长：" in school or "尊敬的张二、张一同学家长：" in school
    assert "学生姓名：张二　　学校：天堂小学　　班级：三年级2班" in school
    assert "回执由孩子交回班主任" in school and "2026年11月29日" in school
    # Signed by the body the workflow names for the letter (the bureau, as org.yaml names it).
    assert school.count("<p>本县教育局（盖章）</p>") == 2
    village = files["致家长的一封信_2026年11月_村_天堂镇天堂村.html"]
    assert "回执交回天堂村村民委员会" in village
    every = "".join(files.values())
    assert "张大" not in every.replace("张大山", "") and "李小" not in every  # 18 and 3
    assert "13800000001" not in every  # no phone, no ID on a letter
    assert not any(resident(row[1], row[2]) in every for row in HOUSEHOLD)

    events = campaign_events(ctx, "campaign.publicity_letters")
    assert events == [
        {
            "month": "2026-11",
            "schools": 2,
            "villages": 2,
            "families": pages,
            "children": children,
            "already_printed": 0,
        }
    ]
    assert audit_verify(ctx).intact


def test_progress_counts_the_children_placed_on_a_letter(ctx, tmp_path) -> None:
    import_registers(ctx, tmp_path)
    seen: list[tuple[int, int]] = []
    queue_publicity_letters(ctx, TODAY, progress=lambda done, total: seen.append((done, total)))
    children = 3 + 3 + 2 + 2
    assert len(seen) == 4  # once a batch
    assert [total for _done, total in seen] == [children] * 4
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)
    assert seen[-1] == (children, children)


def test_file_names_name_the_campaign_month_and_unit_but_no_child(ctx, tmp_path) -> None:
    import_registers(ctx, tmp_path)
    queue_publicity_letters(ctx, TODAY)
    names = list(campaign_files(ctx))
    numbers = [resident(row[1], row[2]) for row in HOUSEHOLD]
    for name in names:
        assert not any(child in name for child in NAMES), name
        assert not any(number in name or number[-4:] in name for number in numbers), name
        assert name.startswith("致家长的一封信_2026年11月_") and name.endswith(".html")


def test_each_unit_is_told_its_batch_is_ready_without_a_childs_name(ctx, tmp_path) -> None:
    import_registers(ctx, tmp_path)
    queue_publicity_letters(ctx, TODAY)
    notices = outbox(ctx)
    assert set(notices) == {
        "publicity:2026-11:school:天堂小学",
        "publicity:2026-11:school:天堂中学",
        "publicity:2026-11:village:天堂镇/天堂村",
        "publicity:2026-11:village:木黄镇/木黄村",
    }
    school = notices["publicity:2026-11:school:天堂小学"]
    assert school.recipient == "school:天堂小学" and school.case_ids == []
    assert school.subject == "致家长的一封信印制通知（天堂小学，2户）"
    assert "本单位共2户、3名适龄儿童少年" in school.body
    assert "campaigns/2026-11/致家长的一封信_2026年11月_学校_天堂小学.html" in school.body
    village = notices["publicity:2026-11:village:木黄镇/木黄村"]
    assert village.body.count("木黄村村民委员会：") == 1 and "逐户送达" in village.body
    assert not names_a_child(village.template)  # e-mail carries the notice itself
    for notice in notices.values():
        assert not any(child in notice.body or child in notice.subject for child in NAMES)


def test_the_units_robots_say_the_batch_is_ready_and_name_no_child(ctx, tmp_path) -> None:
    contacts = (
        "contacts:\n"
        '  "school:天堂小学": [{channel: wecom, address: xiaoxue}]\n'
        '  "village:天堂镇/天堂村": [{channel: wecom, address: tiantangcun}]\n'
    )
    ctx.workspace.org_file.write_text(
        issuing_org(ctx.actor.operator, more=contacts), encoding="utf-8"
    )
    apply_org(ctx)
    import_registers(ctx, tmp_path)
    queue_publicity_letters(ctx, TODAY)
    with robot() as (base, posted):
        robots = {"robots": {"xiaoxue": "KEY_XX", "tiantangcun": "KEY_TTC"}, "base_url": base}
        notifiers = {**ctx.workspace.notifiers, "wecom": robots}
        sending = replace(ctx, workspace=replace(ctx.workspace, notifiers=notifiers))
        report = dispatch(sending, env={"KEY_XX": "xx", "KEY_TTC": "ttc"})
    assert report.sent == 4 and report.dead == 0  # two robots, two printed letters
    texts = {key: message["markdown"]["content"] for key, message in posted}
    assert set(texts) == {"xx", "ttc"}
    assert texts["xx"].startswith("【致家长的一封信印制通知（天堂小学，2户）】天堂小学：")
    assert texts["ttc"].startswith(
        "【致家长的一封信印制通知（天堂镇天堂村，1户）】天堂村村民委员会："
    )
    assert not any(child in text for text in texts.values() for child in NAMES)


def test_running_again_in_the_month_prints_only_new_batches(ctx, tmp_path) -> None:
    import_registers(ctx, tmp_path)
    queue_publicity_letters(ctx, TODAY)
    before = campaign_files(ctx)
    stamps = {
        p.name: p.stat().st_mtime_ns for p in (ctx.workspace.root / "campaigns").rglob("*.html")
    }
    events = len(audit_trail(ctx))

    again = queue_publicity_letters(ctx, TODAY - timedelta(days=3))  # same month
    assert (again.printed, again.already_printed) == ((), 4)
    assert campaign_files(ctx) == before and len(audit_trail(ctx)) == events
    assert {
        p.name: p.stat().st_mtime_ns for p in (ctx.workspace.root / "campaigns").rglob("*.html")
    } == stamps

    newcomer = ("吴一", 13, date(2015, 4, 1), "木黄镇", "金厂村", "吴九", "13800000006")
    import_registers(ctx, tmp_path, [*HOUSEHOLD, newcomer])
    third = queue_publicity_letters(ctx, TODAY)
    assert [(b.kind, b.unit, b.families, b.children) for b in third.printed] == [
        ("village", "木黄镇/金厂村", 1, 1)
    ]
    assert third.already_printed == 4
    assert set(campaign_files(ctx)) == {*LETTERS, "致家长的一封信_2026年11月_村_木黄镇金厂村.html"}
    assert campaign_events(ctx, "campaign.publicity_letters")[-1] == {
        "month": "2026-11",
        "schools": 0,
        "villages": 1,
        "families": 1,
        "children": 1,
        "already_printed": 4,
    }
    assert len(outbox(ctx)) == 5


def test_letters_of_another_month_are_printed_again_and_never_for_a_future_date(
    ctx, tmp_path
) -> None:
    import_registers(ctx, tmp_path)
    august = queue_publicity_letters(ctx, date(2026, 8, 1))
    november = queue_publicity_letters(ctx, TODAY)
    assert len(august.printed) == len(november.printed) == 4
    assert (
        "2026年8月1日"
        in campaign_files(ctx, "2026-08")["致家长的一封信_2026年8月_学校_天堂小学.html"]
    )
    rows = database_rows(ctx)
    with pytest.raises(InvalidInput, match="is after today and cannot be printed in advance"):
        queue_publicity_letters(ctx, TODAY + timedelta(days=1))
    with in_chinese(), pytest.raises(InvalidInput, match="晚于今天"):
        queue_publicity_letters(ctx, TODAY + timedelta(days=1))
    assert database_rows(ctx) == rows


def test_the_letters_are_refused_until_both_registers_are_imported(ctx, tmp_path) -> None:
    rows = database_rows(ctx)
    with pytest.raises(Refused) as none:
        queue_publicity_letters(ctx, TODAY)
    assert "Not imported yet: the household register and the school register" in (
        none.value.message
    )
    with in_chinese(), pytest.raises(Refused) as in_zh:
        queue_publicity_letters(ctx, TODAY)
    assert "尚未导入户籍和学籍数据" in in_zh.value.message
    assert "caseflow roster import household" in none.value.message
    assert "caseflow roster import student" in none.value.message
    assert database_rows(ctx) == rows
    assert not (ctx.workspace.root / "campaigns").exists()

    import_roster(ctx, "household", household_csv(tmp_path, HOUSEHOLD))
    rows = database_rows(ctx)
    with in_chinese(), pytest.raises(Refused) as half:
        queue_publicity_letters(ctx, TODAY)
    assert "尚未导入学籍数据" in half.value.message
    assert "roster import student" in half.value.message
    assert "roster import household" not in half.value.message
    assert database_rows(ctx) == rows


def test_two_letter_runs_at_once_print_each_batch_once(ctx, tmp_path) -> None:
    import_registers(ctx, tmp_path)
    runs: list = []
    errors: list[BaseException] = []

    def campaign() -> None:
        try:
            runs.append(queue_publicity_letters(ctx, TODAY))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=campaign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(len(run.printed) for run in runs) == [0, 4]
    assert set(campaign_files(ctx)) == set(LETTERS)
    assert len(outbox(ctx)) == 4
    assert len(campaign_events(ctx, "campaign.publicity_letters")) == 1
    assert audit_verify(ctx).intact


@contextmanager
def robot() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    """A group-robot endpoint on loopback answering as WeCom does: (its URL, what it got
    as (key, message))."""
    posted: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = parse_qs(urlsplit(self.path).query).get("key", [""])[0]
            posted.append((key, json.loads(body)))
            answer = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send", posted
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------
# Monthly report


def test_the_monthly_report_counts_last_months_cases_by_state_and_township(ctx) -> None:
    # October 2026, reported on 29 November.
    open_case(ctx, child(2), occurred_on=date(2026, 10, 1))  # overdue: due 10 Oct
    # Returned in June: its term of four months ends in October, when it is retained.
    retained = returned_case(
        ctx, 3, date(2026, 5, 4), date(2026, 6, 8), township="木黄镇", village="木黄村"
    )
    for day in (date(2026, 6, 15), date(2026, 7, 13), date(2026, 9, 14)):
        check_in(ctx, retained, day)
    advance(ctx, retained, "retain", occurred_on=date(2026, 10, 9))
    # New in October and back at school in October.
    returned_case(ctx, 6, date(2026, 10, 2), date(2026, 10, 5), township="木黄镇", village="木黄村")
    returned = returned_case(
        ctx, 4, date(2026, 9, 1), date(2026, 10, 20), township="木黄镇", village="木黄村"
    )
    check_in(ctx, returned, date(2026, 10, 28))  # within `returned`: not a second return
    open_case(ctx, child(5), occurred_on=date(2026, 11, 2))  # November: not new

    assert queue_monthly_report(ctx, TODAY) == 1
    report = outbox(ctx)["monthly-report:2026-10"]
    assert report.kind == "report" and report.template == "monthly_report"
    assert report.recipient == "supervision_office" and report.case_ids == []
    assert report.subject == "控辍保学工作月报（2026年10月）"
    body = report.body
    assert "县人民政府教育督导室：" in body
    assert "本县控辍保学工作领导小组办公室2026年10月1日至2026年10月31日" in body
    assert "本期新增疑似失学辍学案件2件，劝返复学2人，巩固销号1人" in body
    assert "超过办理期限未办结的案件1件" in body
    assert '<td>疑似失学辍学</td><td class="num">2</td>' in body
    assert '<td>已复学（巩固观察）</td><td class="num">2</td>' in body
    assert (
        '<td>天堂镇</td><td class="num">2</td><td class="num">0</td><td class="num">1</td>' in body
    )
    assert (
        '<td>木黄镇</td><td class="num">2</td><td class="num">2</td><td class="num">0</td>' in body
    )
    assert "张小华" not in body  # the report carries no personal data
    assert campaign_events(ctx, "campaign.monthly_report") == [
        {
            "month": "2026-10",
            "queued": 1,
            "new": 2,
            "returned": 2,
            "retained": 1,
            "overdue": 1,
            "open": 4,
        }
    ]


def test_the_monthly_report_is_queued_once_and_only_for_a_month_that_has_ended(ctx) -> None:
    assert queue_monthly_report(ctx, TODAY) == 1
    events = len(audit_trail(ctx))
    assert queue_monthly_report(ctx, date(2026, 11, 1)) == 0  # same period: October
    assert len(audit_trail(ctx)) == events
    assert list(outbox(ctx)) == ["monthly-report:2026-10"]
    with pytest.raises(InvalidInput, match="2026-11 has not ended yet"):
        queue_monthly_report(ctx, date(2026, 12, 1))
    with db.read(ctx.engine) as connection:
        assert connection.execute(select(func.count()).select_from(NOTICE)).scalar_one() == 1


# ---------------------------------------------------------------------------------------
# By hand, from the command line (system clock)


def test_the_letters_are_printed_by_hand_from_the_command_line(cli, tmp_path) -> None:
    refused = cli("--lang", "zh", "notice", "queue-letters", "--date", "2026-11-29")
    assert refused.exit_code == 1 and "尚未导入户籍和学籍数据" in refused.stderr
    for source, path in (
        ("household", household_csv(tmp_path, HOUSEHOLD)),
        ("student", student_csv(tmp_path, STUDENTS)),
    ):
        imported = cli("roster", "import", source, str(path))
        assert imported.exit_code == 0, imported.stderr

    first = cli("--lang", "zh", "notice", "queue-letters", "--date", "2026-11-29")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == (
        "已印制2026年11月《致家长的一封信》4个批次（学校2个、村2个），共8户、10名适龄儿童少年，"
        "落款日期2026年11月29日；文件在工作区的 campaigns/2026-11/ 目录："
    )
    assert lines[1].split() == ["发放单位", "户数", "人数", "文件"]
    batches = [line.split() for line in lines[2:6]]
    assert batches == [
        ["天堂中学", "3", "3", "campaigns/2026-11/致家长的一封信_2026年11月_学校_天堂中学.html"],
        ["天堂小学", "2", "3", "campaigns/2026-11/致家长的一封信_2026年11月_学校_天堂小学.html"],
        [
            "天堂镇天堂村",
            "1",
            "2",
            "campaigns/2026-11/致家长的一封信_2026年11月_村_天堂镇天堂村.html",
        ],
        [
            "木黄镇木黄村",
            "2",
            "2",
            "campaigns/2026-11/致家长的一封信_2026年11月_村_木黄镇木黄村.html",
        ],
    ]
    assert "caseflow notify dispatch" in lines[6]
    again = cli("--lang", "zh", "notice", "queue-letters", "--date", "2026-11-29")
    assert again.stdout.strip() == "本月已印制的4个批次不再重复印制。"
    in_english = cli("--lang", "en", "notice", "queue-letters", "--date", "2026-11-29")
    assert in_english.stdout.strip() == (
        "4 batches printed earlier this month were not printed again."
    )
    as_json = json.loads(cli("notice", "queue-letters", "--date", "2026-11-29", "--json").stdout)
    assert (as_json["batches"], as_json["already_printed"]) == ([], 4)
    future = cli(
        "--lang",
        "zh",
        "notice",
        "queue-letters",
        "--date",
        (county_today() + timedelta(1)).isoformat(),
    )
    assert future.exit_code == 2 and "晚于今天" in future.stderr
    help_text = cli("--lang", "zh", "notice", "queue-letters", "--help").stdout
    assert "按户印制《致家长的一封信》" in help_text and "信件落款日期" in help_text


def test_the_monthly_report_is_queued_by_hand_from_the_command_line(cli, ctx) -> None:
    today = county_today()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    queued = cli("notice", "queue-report")
    assert queued.exit_code == 0, queued.stderr
    assert f"Queued the monthly report for {last_month}" in queued.stdout
    again = cli("notice", "queue-report", "--month", last_month)
    assert again.exit_code == 0 and "already in the outbox; nothing queued" in again.stdout
    assert f"monthly-report:{last_month}" in outbox(ctx)

    bad = cli("notice", "queue-report", "--month", "2026-13")
    assert bad.exit_code == 2 and "--month must look like 2026-11" in bad.stderr
    unfinished = cli("notice", "queue-report", "--month", today.strftime("%Y-%m"))
    assert unfinished.exit_code == 2 and "has not ended yet" in unfinished.stderr
