"""Campaigns on a real database: the publicity letters to guardians and the monthly report
to the supervision office land in the outbox once per month, rendered, with an audit event."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.models import AuditEvent, Child, Notice
from caseflow.services.audit import audit_verify
from caseflow.services.campaigns import queue_monthly_report, queue_publicity_letters
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from tests.conftest import approved_closure, audit_trail, child, county_today

NOTICE = Notice.__table__  # type: ignore[attr-defined]
EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
CHILD = Child.__table__  # type: ignore[attr-defined]
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
# Publicity letters


def test_publicity_letters_go_to_the_guardian_of_each_watched_child_once_a_month(ctx) -> None:
    still_open = open_case(ctx, child(2, name="李明"), occurred_on=date(2026, 11, 2)).number
    back_at_school = returned_case(ctx, 3, date(2026, 10, 8), date(2026, 10, 20))
    closed = open_case(ctx, child(4, name="王芳"), occurred_on=date(2026, 11, 2)).number
    approved_closure(ctx, closed, "studying_elsewhere", "转学证明", occurred_on=date(2026, 11, 3))
    with db.write(ctx.engine) as connection:
        connection.execute(update(CHILD).where(CHILD.c.name == "李明").values(grade="七年级"))

    assert queue_publicity_letters(ctx, TODAY) == 2
    letters = outbox(ctx)
    assert set(letters) == {
        f"publicity:2026-11:{still_open}",
        f"publicity:2026-11:{back_at_school}",
    }
    letter = letters[f"publicity:2026-11:{still_open}"]
    assert letter.kind == "letter" and letter.template == "parent_letter"
    assert letter.recipient == f"guardian:case/{still_open}" and letter.case_ids == [still_open]
    assert letter.status == "pending" and letter.attempts == 0
    assert letter.subject == f"致家长的一封信（案件{still_open}）"
    assert "尊敬的李明同学家长" in letter.body and "2026年11月29日" in letter.body
    assert "学生姓名：李明　　班级：七年级</p>" in letter.body  # unknown class: left blank
    assert letter.content_hash == hashlib.sha256(letter.body.encode()).hexdigest()
    assert "王芳" not in "".join(n.body for n in letters.values())

    events_before = len(audit_trail(ctx))
    assert queue_publicity_letters(ctx, TODAY) == 0
    assert len(audit_trail(ctx)) == events_before  # nothing queued, nothing recorded
    newcomer = open_case(ctx, child(5), occurred_on=TODAY).number
    assert queue_publicity_letters(ctx, TODAY) == 1
    assert set(outbox(ctx)) - set(letters) == {f"publicity:2026-11:{newcomer}"}
    assert campaign_events(ctx, "campaign.publicity_letters") == [
        {"month": "2026-11", "watched": 2, "queued": 2, "already_queued": 0},
        {"month": "2026-11", "watched": 3, "queued": 1, "already_queued": 2},
    ]
    assert audit_verify(ctx).intact


def test_publicity_letters_of_another_month_are_queued_again_and_never_for_a_future_date(
    ctx,
) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 7, 20)).number
    assert queue_publicity_letters(ctx, date(2026, 8, 1)) == 1
    assert queue_publicity_letters(ctx, TODAY) == 1
    assert set(outbox(ctx)) == {f"publicity:2026-08:{number}", f"publicity:2026-11:{number}"}
    assert "2026年8月1日" in outbox(ctx)[f"publicity:2026-08:{number}"].body
    with pytest.raises(InvalidInput, match="in the future"):
        queue_publicity_letters(ctx, TODAY + timedelta(days=1))


def test_two_letter_runs_at_once_queue_each_letter_once(ctx) -> None:
    for serial in range(2, 12):
        open_case(ctx, child(serial), occurred_on=TODAY)
    counts: list[int] = []
    errors: list[BaseException] = []

    def campaign() -> None:
        try:
            counts.append(queue_publicity_letters(ctx, TODAY))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=campaign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(counts) == 10
    assert len(outbox(ctx)) == 10
    assert audit_verify(ctx).intact


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


def test_campaigns_can_be_queued_by_hand_from_the_command_line(cli, ctx) -> None:
    today = county_today()
    open_case(ctx, child(2), occurred_on=TODAY)
    first = cli("notice", "queue-letters")
    assert first.exit_code == 0, first.stderr
    assert f"Queued 1 publicity letter(s) dated {today.isoformat()}" in first.stdout
    assert "Queued 0 publicity letter(s)" in cli("notice", "queue-letters").stdout

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
