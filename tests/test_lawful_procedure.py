"""The legal ladder in lawful order (dropout workflow version 2): each period counts from
the day its document was served, each next rung is refused a day too early and allowed on
the day after the period ran out, the court route is the county's choice, every case can
end with two people, and a referral returns to the route the child came from."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from caseflow.calendar import add_months
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, InvalidInput, TransitionRefused
from caseflow.resources import shipped
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context, open_context
from caseflow.services.records import CASE
from caseflow.states import load_workflow
from tests.conftest import (
    COURT,
    audit_trail,
    child,
    database_rows,
    fixed_clock,
    serve,
    set_procedure,
)

WORKFLOW = load_workflow(shipped("workflows") / "dropout.yaml")
SECOND = Actor("县教育局审核员", "shenhe", frozenset({"bureau"}))


def second_person(ctx: Context) -> Context:
    return replace(ctx, actor=SECOND)


def choose(workspace: Path, **procedure: str | int) -> Context:
    """The workspace with the county's ``[procedure]`` choices (replacing earlier ones; the
    township issues orders and the county's court is named unless told otherwise) in
    caseflow.toml."""
    set_procedure(workspace, **{"order_issuer": "township", "court": COURT, **procedure})
    return open_context(workspace, clock=fixed_clock)


BASIS = "《示范省义务教育条例》第四十条（测试用）"
PROPOSAL = {
    "document_number": "天府罚告〔2025〕1号",
    "facts": "逾期未送子女复学",
    "proposed_penalty": "罚款人民币二百元",
}
DECISION = {
    "document_number": "天府罚决〔2025〕1号",
    "evidence": "责令限期复学通知书及送达回证、学校出具的未返校证明",
    "penalty_kind": "fine",
    "penalty": "罚款人民币二百元",
}


def case_row(ctx: Context, number: int) -> Any:
    with ctx.engine.connect() as connection:
        return connection.execute(select(CASE).where(CASE.c.id == number)).one()


def state_and_due(ctx: Context, number: int) -> tuple[str, date | None]:
    row = case_row(ctx, number)
    return row.state, row.due_on


def in_persuasion(ctx: Context, opened: date = date(2025, 9, 1), serial: int = 2) -> int:
    """A case in persuasion whose father is on record (an order goes to him)."""
    details = child(serial, guardian_name="张大山", guardian_relation="父亲")
    number = open_case(ctx, details, occurred_on=opened).number
    advance(ctx, number, "start_verification", occurred_on=opened + timedelta(days=1))
    advance(
        ctx,
        number,
        "confirm_dropout",
        {"reason": "migrant_work"},
        occurred_on=opened + timedelta(days=2),
    )
    return number


def order_served(
    ctx: Context,
    number: int,
    issued: date = date(2025, 9, 10),
    served: date = date(2025, 9, 15),
    document_number: str = "1号",
) -> date:
    """The order to correct issued on ``issued`` and served on ``served`` (recorded that
    day); returns the day its period runs out."""
    advance(ctx, number, "issue_order", {"document_number": document_number}, occurred_on=issued)
    advance(
        ctx,
        number,
        "order_served",
        {"served_on": served.isoformat(), "method": "direct", "served_to": "张大山（父）"},
        occurred_on=served,
    )
    due = state_and_due(ctx, number)[1]
    assert due is not None
    return due


def refused_then_allowed(
    ctx: Context, number: int, trigger: str, values: dict[str, str], due: date
) -> None:
    """Refused on the due day (nothing written), allowed on the day after."""
    before = database_rows(ctx)
    with pytest.raises(TransitionRefused, match="deadline has passed"):
        advance(ctx, number, trigger, values, occurred_on=due)
    assert database_rows(ctx) == before
    advance(ctx, number, trigger, values, occurred_on=due + timedelta(days=1))


def test_the_legal_route_walks_in_lawful_order_with_each_period_from_service(
    workspace: Path,
) -> None:
    ctx = choose(workspace, penalty_basis=BASIS, penalty_hearing="no")
    number = in_persuasion(ctx)
    # Served five days after the decision: the 15 days run from service, not from the order.
    served = date(2025, 9, 15)
    due = order_served(ctx, number, served=served, document_number="天府教〔2025〕1号")
    assert state_and_due(ctx, number)[0] == "order_to_correct"
    assert due == ctx.calendar.add(served, 15, "days").due_on

    refused_then_allowed(ctx, number, "propose_penalty", PROPOSAL, due)

    notice_served = due + timedelta(days=3)
    advance(
        ctx,
        number,
        "penalty_notice_served",
        {"served_on": notice_served.isoformat(), "method": "direct"},
        occurred_on=notice_served,
    )
    state, due = state_and_due(ctx, number)
    assert state == "statement_period"
    assert due == ctx.calendar.add(notice_served, 5, "working_days").due_on
    assert due is not None
    advance(
        ctx,
        number,
        "record_statement",
        {
            "stated_by": "张大山",
            "stated_on": (notice_served + timedelta(days=1)).isoformat(),
            "statement": "家长称孩子不愿上学",
            "adopted": "rejected",
        },
        occurred_on=notice_served + timedelta(days=1),
    )
    refused_then_allowed(ctx, number, "decide_penalty", DECISION, due)

    decision_served = due + timedelta(days=2)
    advance(
        ctx,
        number,
        "penalty_decision_served",
        {"served_on": decision_served.isoformat(), "method": "post"},
        occurred_on=decision_served,
    )
    state, due = state_and_due(ctx, number)
    assert state == "penalty_in_force"
    # Six months for a lawsuit (行政诉讼法 art. 46) before the court may be asked.
    assert due == ctx.calendar.add(decision_served, 6, "months").due_on
    assert due is not None and due >= add_months(decision_served, 6)

    # The court route is the county's choice: refused while it is unset, saying what to set.
    with pytest.raises(TransitionRefused, match=r"\[procedure\] court_route"):
        advance(
            ctx,
            number,
            "issue_demand",
            {"document_number": "催〔2026〕1号"},
            occurred_on=due + timedelta(days=1),
        )
    chosen = choose(workspace, penalty_basis=BASIS, penalty_hearing="no", court_route="enforcement")
    try:
        refused_then_allowed(
            chosen, number, "issue_demand", {"document_number": "催〔2026〕1号"}, due
        )
        demand_served = due + timedelta(days=4)
        advance(
            chosen,
            number,
            "demand_served",
            {"served_on": demand_served.isoformat(), "method": "direct"},
            occurred_on=demand_served,
        )
        state, due = state_and_due(chosen, number)
        assert state == "demand_period"
        # Ten days after the demand is served, working days (行政强制法 arts. 54, 69).
        assert due == chosen.calendar.add(demand_served, 10, "working_days").due_on
        assert due is not None
        refused_then_allowed(
            chosen,
            number,
            "apply_enforcement",
            {"court": "示范县人民法院", "applied_on": (due + timedelta(days=1)).isoformat()},
            due,
        )
        state, _ = state_and_due(chosen, number)
        assert state == "court_enforcement"
        # The applying authority answers for the case while the court decides.
        assert WORKFLOW.state(state).responsible == "education_bureau"
        assert case_row(chosen, number).departments == []
    finally:
        chosen.engine.dispose()
        ctx.engine.dispose()


def test_no_penalty_is_proposed_while_the_county_has_not_set_its_legal_basis(
    ctx: Context,
) -> None:
    number = in_persuasion(ctx)
    order_served(ctx, number)
    before = database_rows(ctx)
    with pytest.raises(TransitionRefused, match=r"\[procedure\] penalty_basis"):
        advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=date(2025, 11, 3))
    assert database_rows(ctx) == before


def test_a_service_date_outside_the_state_is_refused(ctx: Context) -> None:
    number = in_persuasion(ctx)
    advance(ctx, number, "issue_order", {"document_number": "1号"}, occurred_on=date(2025, 9, 10))
    before = database_rows(ctx)
    for served in ("2025-09-09", "2025-09-20"):
        with pytest.raises(InvalidInput, match="served_on"):
            advance(
                ctx,
                number,
                "order_served",
                {"served_on": served, "method": "direct", "served_to": "张某"},
                occurred_on=date(2025, 9, 16),
            )
    assert database_rows(ctx) == before


def test_a_county_that_chose_admonition_asks_a_judicial_body_once_the_period_ran_out(
    workspace: Path,
) -> None:
    ctx = choose(workspace, court_route="admonition")
    try:
        number = in_persuasion(ctx)
        due = order_served(ctx, number)
        refused_then_allowed(ctx, number, "request_admonition", {"body": "示范县人民法院"}, due)
        assert state_and_due(ctx, number)[0] == "admonition"
    finally:
        ctx.engine.dispose()


def test_a_child_who_turns_16_in_persuasion_closes_with_two_people(ctx: Context) -> None:
    number = in_persuasion(ctx)
    advance(
        ctx,
        number,
        "propose_closure",
        {"reason": "completed", "evidence": "户籍证明：已年满十六周岁"},
        occurred_on=date(2025, 9, 20),
    )
    assert state_and_due(ctx, number)[0] == "closure_proposed"

    before = database_rows(ctx, but_audit=True)
    with pytest.raises(AccessDenied, match="another person"):
        advance(ctx, number, "approve_closure", occurred_on=date(2025, 9, 22))
    assert database_rows(ctx, but_audit=True) == before
    assert audit_trail(ctx, number)[-1]["action"] == "access.refused"

    advance(second_person(ctx), number, "approve_closure", occurred_on=date(2025, 9, 22))
    row = case_row(ctx, number)
    assert row.state == "closed" and not row.is_open


def test_a_rejected_closure_goes_back_to_the_state_it_was_proposed_from(ctx: Context) -> None:
    number = in_persuasion(ctx)
    advance(
        ctx,
        number,
        "propose_closure",
        {"reason": "studying_elsewhere", "evidence": "外省学校在读证明"},
        occurred_on=date(2025, 9, 20),
    )
    advance(
        second_person(ctx),
        number,
        "reject_closure",
        {"reason": "在读证明未盖章"},
        occurred_on=date(2025, 9, 22),
    )
    state, due = state_and_due(ctx, number)
    assert state == "persuasion"
    assert due == ctx.calendar.add(date(2025, 9, 22), 15, "working_days").due_on


def test_a_closure_can_be_proposed_from_every_open_state() -> None:
    proposable = {
        s for t in WORKFLOW.transitions if t.trigger == "propose_closure" for s in t.sources
    }
    open_states = {
        s.id for s in WORKFLOW.states.values() if not s.is_terminal and s.category != "closing"
    }
    assert proposable == open_states


def test_a_health_referral_returns_to_the_route_the_child_came_from(ctx: Context) -> None:
    number = open_case(ctx, child(), occurred_on=date(2025, 9, 1)).number
    advance(ctx, number, "start_verification", occurred_on=date(2025, 9, 2))
    advance(ctx, number, "refer_expert_assessment", occurred_on=date(2025, 9, 3))
    advance(
        ctx,
        number,
        "expert_opinion",
        {"opinion": "special_school", "assessed_on": "2025-09-10", "summary": "建议特教学校"},
        occurred_on=date(2025, 9, 10),
    )
    advance(ctx, number, "refer_health", occurred_on=date(2025, 9, 11))
    advance(ctx, number, "health_cleared", {"finding": "可以入学"}, occurred_on=date(2025, 9, 15))
    assert state_and_due(ctx, number)[0] == "special_education"

    other = in_persuasion(ctx, serial=3)
    advance(ctx, other, "refer_health", occurred_on=date(2025, 9, 11))
    advance(ctx, other, "health_cleared", {"finding": "可以就学"}, occurred_on=date(2025, 9, 15))
    assert state_and_due(ctx, other)[0] == "persuasion"


def test_a_disabled_child_with_a_certificate_goes_straight_to_the_expert_committee() -> None:
    route = WORKFLOW.route("disabled_child_found")
    assert route is not None
    found = WORKFLOW.find(route, WORKFLOW.initial.id)
    assert found is not None and found.handoff == ()
    assert WORKFLOW.state(found.dest).category == "special_education"


def test_a_home_taught_child_is_retained_only_after_the_countys_visits(workspace: Path) -> None:
    ctx = open_context(workspace, clock=fixed_clock)
    number = open_case(ctx, child(), occurred_on=date(2025, 9, 1)).number
    advance(ctx, number, "refer_expert_assessment", occurred_on=date(2025, 9, 2))
    advance(
        ctx,
        number,
        "expert_opinion",
        {"opinion": "home_teaching", "assessed_on": "2025-09-05", "summary": "重度残疾"},
        occurred_on=date(2025, 9, 5),
    )
    advance(
        ctx,
        number,
        "start_home_teaching",
        {"school": "天堂小学", "teachers": "王老师、李老师"},
        occurred_on=date(2025, 9, 8),
    )
    due = state_and_due(ctx, number)[1]
    assert due is not None
    visit = {"teachers": "王老师", "periods": "2", "content": "识字", "guardian_signed": "signed"}
    advance(
        ctx,
        number,
        "record_visit",
        {**visit, "visited_on": "2025-09-10"},
        occurred_on=date(2025, 9, 10),
    )
    after = due + timedelta(days=1)
    with pytest.raises(TransitionRefused, match=r"\[procedure\] home_teaching_visits"):
        advance(ctx, number, "retain_home_teaching", occurred_on=after)
    ctx.engine.dispose()

    ctx = choose(workspace, home_teaching_visits=2)
    try:
        with pytest.raises(TransitionRefused, match="1 so far"):
            advance(ctx, number, "retain_home_teaching", occurred_on=after)
        advance(
            ctx,
            number,
            "record_visit",
            {**visit, "visited_on": "2025-09-17"},
            occurred_on=date(2025, 9, 17),
        )
        advance(ctx, number, "retain_home_teaching", occurred_on=after)
        assert state_and_due(ctx, number)[0] == "retained"
    finally:
        ctx.engine.dispose()


def test_only_check_ins_that_find_the_child_attending_count_towards_retention(
    ctx: Context,
) -> None:
    number = in_persuasion(ctx)
    returned = date(2025, 9, 10)
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=returned,
    )
    due = state_and_due(ctx, number)[1]
    # The monitoring period is one term, not renewed by each check-in.
    assert due == ctx.calendar.add(returned, 4, "months").due_on
    for day, attending in ((12, "steady"), (13, "at_risk"), (14, "steady"), (15, "at_risk")):
        advance(ctx, number, "check_in", {"attending": attending}, occurred_on=date(2025, 9, day))
    assert state_and_due(ctx, number)[1] == due
    assert case_row(ctx, number).counters == {"check_in": 2}


def test_a_returned_child_is_not_retained_by_hand_before_the_term_is_over(ctx: Context) -> None:
    number = in_persuasion(ctx)
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2025, 9, 10),
    )
    for day in (12, 13, 14):
        advance(ctx, number, "check_in", {"attending": "steady"}, occurred_on=date(2025, 9, day))
    due = state_and_due(ctx, number)[1]
    assert due is not None
    before = database_rows(ctx)
    with pytest.raises(TransitionRefused, match="allowed from its due date"):
        advance(ctx, number, "retain", occurred_on=due - timedelta(days=1))
    assert database_rows(ctx) == before
    advance(ctx, number, "retain", occurred_on=due)
    assert state_and_due(ctx, number)[0] == "retained"


def penalty_served(ctx: Context, number: int, decision: dict[str, str]) -> date:
    """Order, prior notice and ``decision`` each served on the first day allowed; the
    day the decision was served."""
    due = order_served(ctx, number)
    advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=due + timedelta(days=1))
    notice_served = due + timedelta(days=2)
    serve(ctx, number, "penalty_notice_served", notice_served)
    due = state_and_due(ctx, number)[1]
    assert due is not None
    advance(ctx, number, "decide_penalty", decision, occurred_on=due + timedelta(days=1))
    decision_served = due + timedelta(days=2)
    serve(ctx, number, "penalty_decision_served", decision_served)
    assert state_and_due(ctx, number)[0] == "penalty_in_force"
    return decision_served


def test_a_warning_has_nothing_to_enforce_so_no_demand_follows_it(workspace: Path) -> None:
    ctx = choose(workspace, penalty_basis=BASIS, penalty_hearing="no", court_route="enforcement")
    number = in_persuasion(ctx)
    warning = {**DECISION, "penalty_kind": "warning", "penalty": "警告"}
    served = penalty_served(ctx, number, warning)
    due = state_and_due(ctx, number)[1]
    assert due is not None

    before = database_rows(ctx)
    with pytest.raises(TransitionRefused, match="penalty_kind is 'fine'; it recorded 'warning'"):
        advance(ctx, number, "issue_demand", {}, occurred_on=due + timedelta(days=1))
    assert database_rows(ctx) == before
    advance(ctx, number, "warning_performed", occurred_on=served + timedelta(days=1))
    assert state_and_due(ctx, number)[0] == "persuasion"


def test_a_fine_is_not_performed_by_its_service(workspace: Path) -> None:
    ctx = choose(workspace, penalty_basis=BASIS, penalty_hearing="no", court_route="enforcement")
    number = in_persuasion(ctx)
    served = penalty_served(ctx, number, DECISION)

    before = database_rows(ctx)
    with pytest.raises(TransitionRefused, match="penalty_kind is 'warning'; it recorded 'fine'"):
        advance(ctx, number, "warning_performed", occurred_on=served + timedelta(days=1))
    assert database_rows(ctx) == before
