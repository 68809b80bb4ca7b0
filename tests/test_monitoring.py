"""Monitoring after return: a check-in that finds the child at risk alerts the people of the
child's 包保 chain, and a county may watch a returned child until the end of the school
term by its school calendar."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from caseflow import db
from caseflow.errors import TransitionRefused, WorkspaceError
from caseflow.ids import make_id_number
from caseflow.models import Notice
from caseflow.resources import shipped
from caseflow.services.alerts import queue_alert
from caseflow.services.cases import (
    ChildDetails,
    DetailsUpdate,
    advance,
    open_case,
    update_details,
)
from caseflow.services.context import Context, open_context, os_user
from caseflow.services.org import apply_org
from caseflow.services.records import CASE
from caseflow.states import load_workflow
from caseflow.workspace import load, write_example_org
from tests.conftest import audit_trail, database_rows, fixed_clock, set_procedure

WORKFLOW = load_workflow(shipped("workflows") / "dropout.yaml")
NOTICE = Notice.__table__  # type: ignore[attr-defined]

# The 包保 chain of a fifth-grader of class 1 at 天堂镇中心小学 from 天堂村, in the example
# county: the people the workflow's at-risk alert names.
CHAIN = {
    "person:feng-liping",  # head teacher
    "person:chen-siyuan",  # subject teacher
    "person:an-guoqing",  # school leader for grades 4 to 6
    "person:wu-deming",  # principal
    "person:li-chunyan",  # township cadre covering 天堂村
    "person:zhao-yongfu",  # village cadre
}


@pytest.fixture
def county(workspace: Path) -> Iterator[Context]:
    """The example county's organisation in force, the bureau's operator acting."""
    write_example_org(load(workspace), os_user())
    apply_org(open_context(workspace, clock=fixed_clock))
    ctx = open_context(workspace, clock=fixed_clock)
    yield ctx
    ctx.engine.dispose()


def returned(ctx: Context, on: date = date(2026, 9, 10), serial: int = 61) -> int:
    """A fifth-grader who dropped out and is back at school since ``on``."""
    details = ChildDetails(
        name="杨小林",
        id_number=make_id_number("520626", date(2015, 4, 4), serial),
        township="天堂镇",
        village="天堂村",
        school="天堂镇中心小学",
        guardian_name="杨大山",
        guardian_relation="父亲",
    )
    number = open_case(ctx, details, occurred_on=date(2026, 9, 1)).number
    update_details(
        ctx, number, DetailsUpdate(grade="五年级", class_name="1班"), occurred_on=date(2026, 9, 1)
    )
    advance(ctx, number, "start_verification", occurred_on=date(2026, 9, 2))
    advance(ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 9, 3))
    placement = {"placement": "original_class", "school": "天堂镇中心小学"}
    advance(ctx, number, "return_to_school", placement, occurred_on=on)
    return number


def alerts(ctx: Context, number: int) -> list[Any]:
    with db.read(ctx.engine) as connection:
        query = select(NOTICE).where(NOTICE.c.kind == "alert").order_by(NOTICE.c.id)
        return [row for row in connection.execute(query) if number in row.case_ids]


def case_due(ctx: Context, number: int) -> tuple[date | None, bool]:
    with db.read(ctx.engine) as connection:
        row = connection.execute(select(CASE).where(CASE.c.id == number)).one()
    return row.due_on, row.due_provisional


# ---------------------------------------------------------------------------------------
# An at-risk check-in alerts the chain


def test_an_at_risk_check_in_alerts_each_person_of_the_childs_chain(county: Context) -> None:
    number = returned(county)
    step = advance(
        county,
        number,
        "check_in",
        {"attending": "at_risk", "note": "连续两日未到校，家长称孩子想外出打工"},
        occurred_on=date(2026, 9, 20),
    )

    sent = alerts(county, number)
    assert {notice.recipient for notice in sent} == CHAIN
    assert len(sent) == len(CHAIN)
    head_teacher = next(n for n in sent if n.recipient == "person:feng-liping")
    body = head_teacher.body
    assert "复学学生辍学风险预警" in body
    assert "天堂镇中心小学班主任冯丽萍：" in body
    assert "杨*林" in body and "杨小林" not in body  # the child's name masked only
    assert f"<td>{number}</td>" in body
    assert "2026年9月20日的复学回访发现该生有辍学倾向" in body
    assert "有辍学倾向" in body and "连续两日未到校，家长称孩子想外出打工" in body
    assert county.workspace.issuer in body  # the leading group's office: an internal document

    # Queued with the check-in: its audit event and the step's result name the alert.
    (alert,) = step.documents
    assert alert["template"] == "at_risk_alert" and set(alert["recipients"]) == CHAIN
    event = audit_trail(county, number)[-1]
    assert event["action"] == "case.transition"
    assert event["payload"]["trigger"] == "check_in"
    assert sorted(event["payload"]["documents"][0]["notices"]) == sorted(n.id for n in sent)


def test_a_steady_check_in_alerts_nobody(county: Context) -> None:
    number = returned(county)
    step = advance(
        county, number, "check_in", {"attending": "steady"}, occurred_on=date(2026, 9, 20)
    )
    assert step.documents == []
    assert alerts(county, number) == []
    assert "documents" not in audit_trail(county, number)[-1]["payload"]


def test_each_at_risk_check_in_alerts_once(county: Context) -> None:
    number = returned(county)
    at_risk = {"attending": "at_risk"}
    advance(county, number, "check_in", at_risk, occurred_on=date(2026, 9, 20))
    first = alerts(county, number)

    # The same check-in queued again (a retried step) adds nothing.
    check_in = WORKFLOW.find("check_in", "returned")
    assert check_in is not None
    with db.write(county.engine) as connection:
        again = queue_alert(
            county,
            connection,
            number,
            check_in,
            values=at_risk,
            occurred_on=date(2026, 9, 20),
            now=fixed_clock(),
        )
    assert again is not None and sorted(again["notices"]) == sorted(n.id for n in first)
    assert alerts(county, number) == first

    # A later check-in that finds the child at risk again is a new alert.
    advance(county, number, "check_in", at_risk, occurred_on=date(2026, 9, 27))
    assert len(alerts(county, number)) == 2 * len(CHAIN)


def test_without_a_chain_the_alert_goes_to_the_units_that_answer_for_the_child(
    ctx: Context,
) -> None:
    number = returned(ctx)
    advance(ctx, number, "check_in", {"attending": "at_risk"}, occurred_on=date(2026, 9, 20))
    assert {notice.recipient for notice in alerts(ctx, number)} == {
        "head_teacher:天堂镇中心小学",
        "subject_teacher:天堂镇中心小学",
        "school_leader:天堂镇中心小学",
        "principal:天堂镇中心小学",
        "township_cadre:天堂镇",
        "village_cadre:天堂镇/天堂村",
    }


# ---------------------------------------------------------------------------------------
# Monitoring until the end of the term (the county's choice)


def school_calendar(workspace: Path, *term_ends: str) -> None:
    """The last days of the school terms in the workspace's caseflow.toml."""
    config = workspace / "caseflow.toml"
    text = config.read_text(encoding="utf-8")
    assert "term_ends = []" in text
    config.write_text(
        text.replace("term_ends = []", f"term_ends = {json.dumps(list(term_ends))}"),
        encoding="utf-8",
    )


def term_end_county(workspace: Path, *term_ends: str) -> Context:
    school_calendar(workspace, *term_ends)
    set_procedure(workspace, order_issuer="township", monitoring_ends="term_end")
    return open_context(workspace, clock=fixed_clock)


def test_by_default_monitoring_lasts_the_workflows_period(workspace: Path) -> None:
    school_calendar(workspace, "2027-01-22", "2027-07-09")
    for choice in ({}, {"monitoring_ends": "period"}):
        set_procedure(workspace, order_issuer="township", **choice)
        ctx = open_context(workspace, clock=fixed_clock)
        number = returned(ctx, serial=61 + len(choice))
        # 10 September + 4 months = Sunday 10 January 2027, rolled to Monday.
        assert case_due(ctx, number) == (date(2027, 1, 11), True)
        ctx.engine.dispose()


def test_a_county_watching_until_term_end_takes_the_term_in_which_the_period_ends(
    workspace: Path,
) -> None:
    ctx = term_end_county(workspace, "2027-07-09", "2027-01-11")
    try:
        # The period ends on 11 January 2027, a term's last day: that day.
        on_the_day = returned(ctx, on=date(2026, 9, 11), serial=61)
        assert case_due(ctx, on_the_day) == (date(2027, 1, 11), False)
        # It ends on 14 January, after that term: the end of the next one.
        after = returned(ctx, on=date(2026, 9, 14), serial=62)
        assert case_due(ctx, after) == (date(2027, 7, 9), False)
        # Check-ins do not move it.
        advance(ctx, after, "check_in", {"attending": "steady"}, occurred_on=date(2026, 9, 20))
        assert case_due(ctx, after)[0] == date(2027, 7, 9)
    finally:
        ctx.engine.dispose()


def test_a_return_is_refused_while_no_term_end_covers_the_period(workspace: Path) -> None:
    ctx = term_end_county(workspace, "2026-07-10", "2027-01-08")
    try:
        number = returned(ctx, on=date(2026, 9, 4), serial=61)  # ends 4 January: covered
        assert case_due(ctx, number)[0] == date(2027, 1, 8)

        other = open_case(
            ctx,
            ChildDetails(
                name="王小梅",
                id_number=make_id_number("520626", date(2015, 6, 6), 62),
                township="天堂镇",
                village="天堂村",
            ),
            occurred_on=date(2026, 9, 1),
        ).number
        advance(ctx, other, "start_verification", occurred_on=date(2026, 9, 2))
        advance(ctx, other, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 9, 3))
        before = database_rows(ctx)
        with pytest.raises(TransitionRefused) as refused:
            advance(
                ctx,
                other,
                "return_to_school",
                {"placement": "original_class", "school": "天堂镇中心小学"},
                occurred_on=date(2026, 9, 10),
            )
        message = refused.value.message
        assert "[calendar] term_ends" in message and "2027-01-11" in message
        assert "nothing was changed" in message
        assert database_rows(ctx) == before
    finally:
        ctx.engine.dispose()


def test_home_teaching_runs_to_the_term_end_as_well(workspace: Path) -> None:
    ctx = term_end_county(workspace, "2027-01-22", "2027-07-09")
    try:
        number = open_case(
            ctx,
            ChildDetails(
                name="王小梅",
                id_number=make_id_number("520626", date(2015, 6, 6), 63),
                township="天堂镇",
                village="天堂村",
            ),
            occurred_on=date(2026, 9, 1),
        ).number
        advance(ctx, number, "refer_expert_assessment", occurred_on=date(2026, 9, 2))
        opinion = {"opinion": "home_teaching", "assessed_on": "2026-09-05", "summary": "重度残疾"}
        advance(ctx, number, "expert_opinion", opinion, occurred_on=date(2026, 9, 5))
        teaching = {"school": "天堂镇中心小学", "teachers": "王老师"}
        advance(ctx, number, "start_home_teaching", teaching, occurred_on=date(2026, 9, 8))
        assert case_due(ctx, number) == (date(2027, 1, 22), False)
    finally:
        ctx.engine.dispose()


def test_a_child_watched_until_term_end_is_retained_on_the_terms_last_day(
    workspace: Path,
) -> None:
    ctx = term_end_county(workspace, "2027-01-22", "2027-07-09")
    try:
        number = returned(ctx)
        for day in (20, 27):
            advance(
                ctx, number, "check_in", {"attending": "steady"}, occurred_on=date(2026, 9, day)
            )
        advance(ctx, number, "check_in", {"attending": "steady"}, occurred_on=date(2026, 10, 4))
        later = replace(ctx, clock=lambda: datetime(2027, 2, 1, 2, 0, tzinfo=UTC))
        with pytest.raises(TransitionRefused, match="allowed from its due date, 2027-01-22"):
            advance(later, number, "retain", occurred_on=date(2027, 1, 11))  # the period's end
        advance(later, number, "retain", occurred_on=date(2027, 1, 22))
    finally:
        ctx.engine.dispose()


@pytest.mark.parametrize(
    ("calendar", "expected"),
    [
        ('term_ends = ["2027-01-22", "2027-13-01"]', r"calendar\.term_ends\[1\] is '2027-13-01'"),
        ('term_ends = ["2027-01-22", 2027-01-22]', "lists 2027-01-22 twice"),
        ('term_ends = "2027-01-22"', "must be a list of dates"),
        ("term_end = []", r"calendar\.term_end is not a setting"),
    ],
    ids=["not-a-date", "twice", "not-a-list", "unknown-key"],
)
def test_a_school_calendar_that_is_not_a_list_of_dates_is_refused(
    workspace: Path, calendar: str, expected: str
) -> None:
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("term_ends = []", calendar), encoding="utf-8"
    )
    with pytest.raises(WorkspaceError, match=expected):
        load(workspace)


def test_the_school_calendar_and_the_choice_are_read_from_caseflow_toml(workspace: Path) -> None:
    school_calendar(workspace, "2027-07-09", "2027-01-22")
    set_procedure(workspace, order_issuer="township", monitoring_ends="term_end")
    loaded = load(workspace)
    assert loaded.term_ends == (date(2027, 1, 22), date(2027, 7, 9))
    assert loaded.procedure["monitoring_ends"] == "term_end"
    set_procedure(workspace, monitoring_ends="semester")
    with pytest.raises(WorkspaceError, match="choose one of: period, term_end"):
        load(workspace)
