"""The sweep on a real database: every due rung fires once, notices are queued in the same
transaction, timed transitions fire, and the calendar catches up with provisional dates."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from caseflow import db
from caseflow import workspace as workspace_files
from caseflow.calendar import NationalCalendar
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, InvalidInput
from caseflow.models import AuditEvent, Escalation, Notice
from caseflow.services.audit import audit_verify
from caseflow.services.cases import (
    advance,
    approve_extension,
    open_case,
    request_extension,
    show_case,
)
from caseflow.services.context import Context, open_context, system_clock
from caseflow.services.dispatch import show
from caseflow.services.sweep import count_due, provisional_deadlines, recompute_provisional, sweep
from tests.conftest import NATIONAL, approver, child, county_today, fixed_clock, granted_extension

REPO = Path(__file__).resolve().parents[1]


def tally(ctx: Context) -> dict[str, int]:
    with db.read(ctx.engine) as connection:
        return {
            "events": connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            "escalations": connection.execute(
                select(func.count()).select_from(Escalation)
            ).scalar_one(),
            "notices": connection.execute(select(func.count()).select_from(Notice)).scalar_one(),
        }


def notices(ctx: Context) -> list:
    table = Notice.__table__  # type: ignore[attr-defined]
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(table).order_by(table.c.id)).all())


def document(ctx: Context, notice) -> str:
    """The notice's document as `notify show` prints it (and delivery sends it)."""
    return show(ctx, notice.id).body


def persuasion_case(ctx: Context, serial: int, entered: date) -> int:
    details = child(serial, guardian_name="张大山", guardian_relation="父亲")
    number = open_case(ctx, details, occurred_on=entered).number
    advance(ctx, number, "start_verification", occurred_on=entered)
    advance(ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=entered)
    return number


def test_a_sweep_fires_each_due_rung_once_and_a_second_sweep_changes_nothing(ctx) -> None:
    # 15 working days from Fri 9 Oct, counting the make-up working Saturday 10 Oct: Thu 29 Oct
    number = persuasion_case(ctx, 2, date(2026, 10, 9))
    assert show_case(ctx, number)["due_on"] == "2026-10-29"
    report = sweep(ctx)
    assert (report.fired, report.timed) == (3, 0)
    assert report.notices == 5  # reminder to the township; 2 + 2 escalation notices
    after_first = tally(ctx)
    assert after_first["escalations"] == 3
    again = sweep(ctx)
    assert (again.fired, again.timed, again.notices) == (0, 0, 0)
    assert tally(ctx) == after_first
    assert audit_verify(ctx).intact


def test_notices_name_the_recipient_and_say_how_many_days_overdue(ctx) -> None:
    persuasion_case(ctx, 2, date(2026, 10, 9))
    sweep(ctx)
    by_recipient = {n.recipient: n for n in notices(ctx)}
    assert set(by_recipient) == {
        "township:天堂镇",
        "township_head:天堂镇",
        "township_cadre:天堂镇",
        "education_bureau",
        "supervision_office",
    }
    head = by_recipient["township_head:天堂镇"]
    assert head.status == "pending" and head.template == "escalation_notice"
    assert head.subject == "控辍保学逾期督办通知（第2级）"
    body = document(ctx, head)
    assert "天堂镇镇长" in body and "第二级督办" in body
    assert "31日" in body  # due 2026-10-29, swept 2026-11-29
    assert "2026年11月29日" in body
    assert "张*华" in body and "张小华" not in body
    assert child(2).id_number not in body
    reminder = by_recipient["township:天堂镇"]
    assert reminder.template == "deadline_reminder"
    assert "天堂镇人民政府" in document(ctx, reminder)


def test_one_notice_per_recipient_lists_all_its_overdue_cases(ctx) -> None:
    first = persuasion_case(ctx, 2, date(2026, 10, 9))
    second = persuasion_case(ctx, 4, date(2026, 10, 12))
    sweep(ctx)
    bureau = [n for n in notices(ctx) if n.recipient == "education_bureau"]
    assert len(bureau) == 1 and bureau[0].case_ids == [first, second]


def test_cases_of_two_townships_in_one_batch_are_each_addressed_to_their_own(ctx) -> None:
    entered = date(2026, 10, 9)
    here = persuasion_case(ctx, 2, entered)
    there = open_case(
        ctx, child(4, township="青山镇", village="青山村", school="青山小学"), occurred_on=entered
    ).number
    advance(ctx, there, "start_verification", occurred_on=entered)
    advance(ctx, there, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=entered)
    sweep(ctx)
    by_recipient = {n.recipient: n for n in notices(ctx)}
    assert by_recipient["township:天堂镇"].case_ids == [here]
    assert by_recipient["township:青山镇"].case_ids == [there]
    assert "青山镇人民政府" in document(ctx, by_recipient["township:青山镇"])
    assert by_recipient["township_head:天堂镇"].case_ids == [here]
    assert by_recipient["township_head:青山镇"].case_ids == [there]
    bureau = document(ctx, by_recipient["education_bureau"])
    assert "天堂镇" in bureau and "青山镇" in bureau


def test_rungs_fire_as_they_fall_due_day_by_day(ctx) -> None:
    persuasion_case(ctx, 2, date(2026, 10, 9))  # due Thu 2026-10-29
    days = (
        date(2026, 10, 28),
        date(2026, 10, 29),
        date(2026, 11, 2),
        date(2026, 11, 3),
        date(2026, 11, 6),
        date(2026, 11, 9),
    )
    # +3 working days: Tue 3 Nov; +7 working days: Mon 9 Nov.
    assert [sweep(ctx, as_of=day).fired for day in days] == [0, 1, 0, 1, 0, 1]


def test_cases_due_the_same_day_on_different_rungs_each_fire_their_own(ctx) -> None:
    early = persuasion_case(ctx, 2, date(2026, 10, 9))  # due Thu 2026-10-29
    assert sweep(ctx, as_of=date(2026, 11, 3)).fired == 2  # its first two rungs
    late = persuasion_case(ctx, 4, date(2026, 10, 9))  # the same deadline, entered late
    report = sweep(ctx, as_of=date(2026, 11, 9))
    assert report.fired == 4  # the early case's third rung; all three of the late case's
    with db.read(ctx.engine) as connection:
        fired = connection.execute(
            select(Escalation.case_id, Escalation.rung).order_by(Escalation.id)
        ).all()
    assert sorted(tuple(row) for row in fired) == [
        (early, 0),
        (early, 1),
        (early, 2),
        (late, 0),
        (late, 1),
        (late, 2),
    ]


def test_leaving_the_state_cancels_the_rest_of_its_ladder(ctx) -> None:
    number = persuasion_case(ctx, 2, date(2026, 10, 9))
    sweep(ctx, as_of=date(2026, 10, 30))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 11, 2),
    )
    report = sweep(ctx)  # returned is due 2026-12-02: nothing more to fire
    assert report.fired == 0
    assert show_case(ctx, number)["state"] == "returned"


def test_an_extension_moves_the_deadline_and_replans_the_ladder(ctx) -> None:
    number = persuasion_case(ctx, 2, date(2026, 10, 9))
    sweep(ctx, as_of=date(2026, 10, 30))
    reason = "监护人外出务工，约定返乡后面谈"
    granted_extension(ctx, number, 30, reason, occurred_on=date(2026, 11, 2))
    view = show_case(ctx, number)
    assert view["due_on"] == "2026-11-30"  # 28 Nov is a Saturday: rolls to Monday
    assert view["history"][-1]["action"] == "case.extension"
    assert view["history"][-1]["payload"]["reason"] == reason
    assert sweep(ctx).fired == 0  # nothing due until the new date


def test_extensions_are_limited_and_need_a_permitted_role(ctx) -> None:
    number = persuasion_case(ctx, 2, date(2026, 10, 9))
    with pytest.raises(InvalidInput, match="between 1 and 30"):
        request_extension(ctx, number, 45, "太久")
    with pytest.raises(InvalidInput, match="needs a reason"):
        request_extension(ctx, number, 5, " ")
    supervisor = Context(
        ctx.workspace,
        ctx.engine,
        Actor("wang", "wang", frozenset({"supervisor"})),
        fixed_clock,
        ctx.calendar,
    )
    with pytest.raises(AccessDenied, match="may not use `caseflow case extend`"):
        request_extension(supervisor, number, 5, "理由")


def test_an_expired_deferral_returns_the_case_to_verification(ctx) -> None:
    number = open_case(ctx, child(), occurred_on=date(2026, 9, 1)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 9, 1))
    advance(
        ctx,
        number,
        "defer",
        {"reason": "illness", "until": "2026-11-20", "approval": "天堂教〔2026〕12号"},
        occurred_on=date(2026, 9, 2),
    )
    report = sweep(ctx)
    assert report.timed == 1
    view = show_case(ctx, number)
    assert view["state"] == "verifying"
    expired = next(e for e in view["history"] if e["trigger"] == "deferral_expired")
    assert expired["payload"]["auto"] is True and expired["occurred_on"] == "2026-11-20"
    # verifying was due 5 working days after 20 Nov: its first rung fires in the same sweep
    assert report.fired == 1


def test_a_monitoring_period_with_all_check_ins_ends_in_retention(ctx) -> None:
    number = persuasion_case(ctx, 2, date(2026, 7, 1))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 7, 2),
    )
    for day in (date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)):
        advance(ctx, number, "check_in", {"attending": "steady"}, occurred_on=day)
    report = sweep(ctx)  # the next check-in was due 2026-10-31
    assert report.timed == 1 and report.fired == 0
    view = show_case(ctx, number)
    assert view["state"] == "retained" and not view["is_open"]


def test_a_future_as_of_is_only_a_preview(ctx) -> None:
    persuasion_case(ctx, 2, date(2026, 11, 2))  # persuasion due 2026-11-23
    with pytest.raises(InvalidInput, match="use it with --dry-run"):
        sweep(ctx, as_of=date(2026, 12, 7))
    before = tally(ctx)
    preview = sweep(ctx, as_of=date(2026, 12, 7), dry_run=True)
    assert preview.fired == 3 and preview.notices == 5
    assert tally(ctx) == before


def test_escalate_command_prints_a_summary_and_json_counts(cli, ctx) -> None:
    persuasion_case(ctx, 2, date(2026, 10, 9))
    preview = cli("escalate", "--dry-run", "--json")
    assert preview.exit_code == 0
    assert json.loads(preview.stdout)["fired"] > 0
    result = cli("escalate", "--json")
    counts = json.loads(result.stdout)
    assert {"fired", "timed", "notices"} <= set(counts) and counts["notices"] > 0
    assert cli("escalate", "--as-of", "2999-01-01").exit_code == 2
    text_run = cli("--lang", "zh", "escalate")
    assert "的督办检查：升级督办0次" in text_run.stdout
    assert "Sweep as of " in cli("--lang", "en", "escalate").stdout


BASIS = "《示范省义务教育条例》第四十条（测试用）"


def penalty_in_force(ctx: Context, serial: int = 2) -> int:
    """A case whose penalty decision was served on 27 July 2026: in force for six months,
    due 27 January 2027, in a year without holiday data (provisional)."""
    number = persuasion_case(ctx, serial, date(2026, 6, 1))
    # The county has set the legal basis a penalty needs and whether it carries a hearing.
    county = Context(
        replace(
            ctx.workspace,
            procedure={**ctx.workspace.procedure, "penalty_basis": BASIS, "penalty_hearing": "no"},
        ),
        ctx.engine,
        ctx.actor,
        ctx.clock,
        ctx.calendar,
    )

    def step(trigger: str, values: dict[str, str], on: date) -> date:
        advance(county, number, trigger, values, occurred_on=on)
        return date.fromisoformat(show_case(ctx, number)["due_on"])

    step("issue_order", {"document_number": f"天堂府责〔2026〕{serial}号"}, date(2026, 6, 2))
    served = {"served_on": "2026-06-03", "method": "direct", "served_to": "张某（父）"}
    due = step("order_served", served, date(2026, 6, 3))
    notice = {
        "document_number": f"罚告〔2026〕{serial}号",
        "facts": "逾期未送子女复学",
        "proposed_penalty": "警告",
    }
    step("propose_penalty", notice, due + timedelta(days=1))
    served = {"served_on": (due + timedelta(days=2)).isoformat(), "method": "direct"}
    due = step("penalty_notice_served", served, due + timedelta(days=2))
    decision = {
        "document_number": f"罚决〔2026〕{serial}号",
        "evidence": "送达回证、学校未返校证明",
        "penalty_kind": "warning",
        "penalty": "警告",
    }
    step("decide_penalty", decision, due + timedelta(days=1))
    served = {"served_on": "2026-07-27", "method": "direct"}
    step("penalty_decision_served", served, date(2026, 7, 27))
    return number


def recount_events(ctx: Context) -> list[int]:
    with db.read(ctx.engine) as connection:
        return list(
            connection.execute(
                select(AuditEvent.case_id).where(  # type: ignore[call-overload]
                    AuditEvent.action == "case.deadline_recomputed"
                )
            ).scalars()
        )


def test_provisional_deadlines_are_recomputed_when_the_year_is_declared(workspace, ctx) -> None:
    number = penalty_in_force(ctx)
    view = show_case(ctx, number)
    assert view["due_on"] == "2027-01-27" and view["due_provisional"]
    assert [row.id for row in provisional_deadlines(ctx)] == [number]
    (workspace / "holidays.yaml").write_text(
        "rest_days: [2027-01-27, 2027-01-28]\nworking_days: []\ncomplete_years: [2027]\n",
        encoding="utf-8",
    )
    updated = open_context(workspace, clock=fixed_clock)
    report = sweep(updated)
    assert report.recomputed == 1
    view = show_case(updated, number)
    assert view["due_on"] == "2027-01-29" and not view["due_provisional"]
    assert view["history"][-1]["action"] == "case.deadline_recomputed"
    assert provisional_deadlines(updated) == []
    assert sweep(updated).recomputed == 0


def test_an_ordinary_sweep_leaves_provisional_deadlines_as_they_were_counted(ctx) -> None:
    numbers = [penalty_in_force(ctx, serial) for serial in (2, 3, 4)]
    before = {number: show_case(ctx, number)["version"] for number in numbers}
    for _ in range(2):
        assert sweep(ctx).recomputed == 0
    assert {number: show_case(ctx, number)["version"] for number in numbers} == before
    assert len(provisional_deadlines(ctx)) == 3
    assert recount_events(ctx) == []
    # Not even read: a date counted with today's coverage is taken as it stands.
    with db.write(ctx.engine) as connection:
        connection.execute(
            text("UPDATE case_file SET due_on = '2027-02-01' WHERE id = :id"), {"id": numbers[0]}
        )
    assert sweep(ctx).recomputed == 0
    assert show_case(ctx, numbers[0])["due_on"] == "2027-02-01"


def test_a_chinese_calendar_release_with_next_year_recounts_provisional_deadlines_once(
    workspace, ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisional = penalty_in_force(ctx, 2)
    unchanged = penalty_in_force(ctx, 3)
    granted_extension(ctx, unchanged, 3, "家访延期")  # and one whose date stays the same
    assert show_case(ctx, unchanged)["due_provisional"]
    # The release lists 27-28 January 2027 as holidays, and nothing else that year.
    release = NationalCalendar(
        years=NATIONAL.years | {2027},
        holidays=NATIONAL.holidays | {date(2027, 1, 27), date(2027, 1, 28)},
        workdays=NATIONAL.workdays,
    )
    monkeypatch.setattr(workspace_files, "national_calendar", lambda: release)
    upgraded = open_context(workspace, clock=fixed_clock)
    recounted = recompute_provisional(upgraded, batch_size=1)  # what a sweep starts with
    assert sorted(change.number for change in recounted) == [provisional, unchanged]
    assert show_case(upgraded, provisional)["due_on"] == "2027-01-29"
    assert not show_case(upgraded, unchanged)["due_provisional"]
    assert provisional_deadlines(upgraded) == []
    assert sweep(upgraded).recomputed == 0
    assert sorted(recount_events(upgraded)) == [provisional, unchanged]


def test_a_workspace_rest_day_in_a_year_still_unknown_is_counted_in_once(workspace, ctx) -> None:
    number = penalty_in_force(ctx)
    (workspace / "holidays.yaml").write_text("rest_days: [2027-01-27]\n", encoding="utf-8")
    updated = open_context(workspace, clock=fixed_clock)
    assert sweep(updated).recomputed == 1
    view = show_case(updated, number)
    assert view["due_on"] == "2027-01-28" and view["due_provisional"]
    assert sweep(updated).recomputed == 0
    assert recount_events(updated) == [number]


def test_provisional_deadlines_counted_before_the_upgrade_are_recounted_once(ctx) -> None:
    provisional, final = penalty_in_force(ctx, 2), persuasion_case(ctx, 3, date(2026, 11, 2))
    with db.write(ctx.engine) as connection:  # what migration 0006 leaves in existing rows
        connection.execute(text("UPDATE case_file SET due_counted_with = NULL"))
    versions = [show_case(ctx, n)["version"] for n in (provisional, final)]
    assert sweep(ctx).recomputed == 0  # same calendar: counted again, the same date
    assert [show_case(ctx, n)["version"] for n in (provisional, final)] == versions
    with db.read(ctx.engine) as connection:
        counted = dict(connection.execute(text("SELECT id, due_counted_with FROM case_file")).all())
    assert counted == {provisional: ctx.calendar.coverage, final: None}
    assert recount_events(ctx) == []


def test_calendar_check_fails_while_next_year_is_missing(cli, workspace) -> None:
    coming = county_today().year + 1
    missing = cli("calendar", "check")
    assert missing.exit_code == 1
    assert f"{coming} has no official holiday calendar" in missing.stderr
    (workspace / "holidays.yaml").write_text(f"complete_years: [{coming}]\n", encoding="utf-8")
    covered = cli("calendar", "check")
    assert covered.exit_code == 0 and str(coming) in covered.stdout
    (workspace / "holidays.yaml").write_text("rest_days: [tomorrow]\n", encoding="utf-8")
    broken = cli("calendar", "check")
    assert broken.exit_code == 2 and "rest_days[0]" in broken.stderr


@pytest.mark.slow
def test_a_sweep_killed_mid_way_and_run_again_fires_every_rung_exactly_once(
    workspace: Path, ctx: Context, database
) -> None:
    cases = 300
    _bulk_persuasion_cases(ctx, cases)
    expected_rungs = 3 * cases
    command = [
        sys.executable,
        str(REPO / "cli.py"),
        "-w",
        str(workspace),
        "escalate",
        "--batch-size",
        "5",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if tally(ctx)["escalations"] >= 30:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    partial = tally(ctx)["escalations"]
    assert 0 < partial < expected_rungs, "kill the sweep while it is still working"
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    final = tally(ctx)
    assert final["escalations"] == expected_rungs
    with db.read(ctx.engine) as connection:
        duplicates = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT case_id, ladder_version, rung FROM escalation "
                "GROUP BY case_id, ladder_version, rung HAVING count(*) > 1) d"
            )
        ).scalar_one()
        events = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE action = 'case.escalation'")
        ).scalar_one()
    assert duplicates == 0 and events == expected_rungs
    # The cases were copied in SQL without events, so only the chain can be intact.
    assert audit_verify(ctx).chain_intact
    assert sweep(ctx).fired == 0


def _bulk_persuasion_cases(ctx: Context, count: int) -> None:
    """Many overdue cases quickly: the first through the service, the rest copied in SQL."""
    first = persuasion_case(ctx, 0, date(2026, 10, 9))
    with db.write(ctx.engine) as connection:
        columns = (
            "workflow",
            "workflow_version",
            "state",
            "entered_on",
            "due_on",
            "due_provisional",
            "version",
            "is_open",
            "opened_on",
            "last_event_on",
            "source",
            "reasons",
            "counters",
            "facts",
            "departments",
            "repeat_count",
            "deadline_from",
            "extended_days",
            "ladder_version",
            "next_rung",
            "next_action_on",
            "township",
            "village",
            "school",
            "created_at",
        )
        for serial in range(1, count):
            details = child(serial + 1000)
            child_id = connection.execute(
                text(
                    "INSERT INTO child (id_number, name, sex, birth_date, township, village) "
                    "VALUES (:id, :name, '女', :birth, '天堂镇', '天堂村') RETURNING id"
                ),
                {"id": details.id_number, "name": f"学生{serial}", "birth": date(2013, 3, 5)},
            ).scalar_one()
            connection.execute(
                text(
                    f"INSERT INTO case_file (child_id, {', '.join(columns)}) "
                    f"SELECT :child, {', '.join(columns)} FROM case_file WHERE id = :first"
                ),
                {"child": child_id, "first": first},
            )
    assert count_due(ctx, date(2026, 11, 29)) == count


def test_progress_is_reported_per_batch(ctx) -> None:
    for serial in range(3):
        persuasion_case(ctx, serial + 10, date(2026, 10, 9))
    seen: list[int] = []
    sweep(ctx, batch_size=2, progress=seen.append)
    assert seen == [2, 1]


def test_an_extension_approved_after_a_cli_request_moves_the_due_date_and_the_rungs(
    cli, ctx
) -> None:
    number = persuasion_case(ctx, 2, date(2026, 10, 9))
    assert cli("escalate").exit_code == 0
    shown = cli("--lang", "zh", "case", "show", str(number))
    assert "\n  升级督办：" in shown.stdout and "第3级（逾期" in shown.stdout
    requested = cli("case", "extend", str(number), "--days", "10", "--reason", "家长住院")
    assert requested.exit_code == 0, requested.stderr
    assert "due stays 2026-10-29" in requested.stdout
    assert "第3级（逾期" in cli("--lang", "zh", "case", "show", str(number)).stdout
    approved = cli("case", "extend", str(number), "--approve")  # by the requester: refused
    assert approved.exit_code == 1 and "requested this extension" in approved.stderr
    approve_extension(replace(approver(ctx), clock=system_clock), number)  # as the CLI: today
    shown = cli("--lang", "zh", "case", "show", str(number))
    assert "\n  办理期限：2026年11月9日" in shown.stdout  # 29 Oct + 10 days, a Sunday: Monday
    assert "\n  升级督办：" not in shown.stdout  # a new ladder
    refused = cli("case", "extend", str(number), "--days", "0", "--reason", "x")
    assert refused.exit_code == 2
