"""The penalty procedure's documents, walked with dates on a left-behind child whose two
parents are the legal guardians and whose grandmother cares for her: each document's
issuer, addressees (each parent, with a proof of service each; never the carer), date (the
step's), periods and remedies (the review body and the court named), the records filed,
the enforcement application filed by hand with the court, and the transfer letter."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from caseflow.errors import TransitionRefused
from caseflow.render import cn_date
from caseflow.services.cases import GuardianDetails, add_guardian, advance, open_case
from caseflow.services.context import Context, open_context
from tests.conftest import COURT, approver, child, database_rows, fixed_clock, serve, set_procedure
from tests.test_issuers import letters, text_of
from tests.test_lawful_procedure import BASIS, choose, order_served, state_and_due

ISSUER = "天堂镇人民政府"
CONTACT = "联系人：李某某联系电话：0856-6225678"  # tests.conftest.ISSUING_UNITS
REVIEW_BODY = "本县人民政府"
PROPOSAL = {
    "document_number": "天府罚告〔2025〕7号",
    "facts": "你未在责令限期复学通知书规定的期限内送张小华返校复学。",
    "proposed_penalty": "罚款人民币二百元",
}
DECISION = {
    "document_number": "天府罚决〔2025〕7号",
    "evidence": "责令限期复学通知书及送达回证、天堂小学出具的未返校证明。",
    "penalty_kind": "fine",
    "penalty": "罚款人民币二百元",
}


def left_behind(ctx: Context) -> int:
    """A child in persuasion: her grandmother cares for her, both parents work away."""
    details = child(2, guardian_name="王秀英", guardian_relation="祖母")
    number = open_case(ctx, details, occurred_on=date(2025, 9, 1)).number
    for name, relation in (("张大山", "父亲"), ("李小红", "母亲")):
        person = GuardianDetails(name=name, relation=relation, workplace="浙江省宁波市")
        add_guardian(ctx, number, person, occurred_on=date(2025, 9, 1))
    advance(ctx, number, "start_verification", occurred_on=date(2025, 9, 2))
    advance(
        ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2025, 9, 3)
    )
    return number


def issued(ctx: Context, seen: int) -> list[tuple[str, str, str]]:
    """The letters queued since the first ``seen``: (template, recipient, printed text)."""
    return [(n.template, n.recipient, text_of(n.body)) for n in letters(ctx)[seen:]]


def to_each_parent(sent: list[tuple[str, str, str]], template: str) -> list[str]:
    """The document and its proofs of service, one each to the father and the mother."""
    assert [t for t, _, _ in sent] == [template, template, "proof_of_service", "proof_of_service"]
    documents = [text for t, _, text in sent if t == template]
    proofs = [text for t, _, text in sent if t == "proof_of_service"]
    assert "张大山：" in documents[0] or "当事人：张大山" in documents[0]
    assert "李小红：" in documents[1] or "当事人：李小红" in documents[1]
    assert all("王秀英" not in text and "祖母" not in text for text in documents + proofs)
    assert "张大山" in proofs[0] and "李小红" in proofs[1]
    assert all(f"送达机关{ISSUER}" in proof for proof in proofs)
    return documents


def signed_on(day: date) -> str:
    return f"{ISSUER}（盖章）{cn_date(day)}"


@pytest.fixture
def county(workspace: Path) -> Any:
    ctx = choose(workspace, penalty_basis=BASIS, penalty_hearing="yes", court_route="enforcement")
    yield ctx
    ctx.engine.dispose()


def test_the_penalty_ladder_issues_each_document_to_each_parent_with_its_remedies(
    county: Context,
) -> None:
    ctx = county
    number = left_behind(ctx)
    due = order_served(ctx, number)
    order = issued(ctx, 0)[0][2]
    assert f"向{REVIEW_BODY}申请行政复议" in order and f"向{COURT}提起行政诉讼" in order

    seen = len(letters(ctx))
    proposed_on = due + timedelta(days=1)
    advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=proposed_on)
    notices = to_each_parent(issued(ctx, seen), "penalty_notice")
    for notice in notices:
        assert notice.startswith(ISSUER) and signed_on(proposed_on) in notice
        assert PROPOSAL["document_number"] in notice
        assert PROPOSAL["facts"] in notice
        assert CONTACT in notice  # whom to tell the statement to
        assert (
            f"依据{BASIS}的规定" in notice and "拟对你作出如下行政处罚：罚款人民币二百元" in notice
        )
        assert "第四十四条、第四十五条" in notice and "收到本告知书之日起五个工作日内" in notice
        assert "你有权要求听证" in notice and "第六十三条、第六十四条" in notice

    notice_served = proposed_on + timedelta(days=2)
    serve(ctx, number, "penalty_notice_served", notice_served)
    seen = len(letters(ctx))
    stated_on = notice_served + timedelta(days=1)
    statement = {
        "stated_by": "张大山",
        "stated_on": stated_on.isoformat(),
        "statement": "外出务工无人接送",
        "adopted": "rejected",
    }
    advance(ctx, number, "record_statement", statement, occurred_on=stated_on)
    ((template, recipient, record),) = issued(ctx, seen)
    assert (template, recipient) == ("statement_record", f"case/{number}")  # the file copy
    assert "陈述申辩人张大山" in record and f"时间{cn_date(stated_on)}" in record
    assert "外出务工无人接送" in record and "理由不成立，不予采纳" in record
    assert "陈述申辩人签名" in record and f"{ISSUER}{cn_date(stated_on)}" in record

    asked_on = stated_on + timedelta(days=1)
    advance(
        ctx, number, "request_hearing", {"requested_on": asked_on.isoformat()}, occurred_on=asked_on
    )
    seen = len(letters(ctx))
    held_on = asked_on + timedelta(days=10)
    hearing = {
        "held_on": held_on.isoformat(),
        "place": "天堂镇人民政府会议室",
        "presided_by": "王主任",
        "attended_by": "张大山、李小红",
        "record": "当事人称已联系学校",
        "adopted": "rejected",
    }
    advance(ctx, number, "record_hearing", hearing, occurred_on=held_on)
    ((template, recipient, record),) = issued(ctx, seen)
    assert (template, recipient) == ("hearing_record", f"case/{number}")
    assert "听证主持人王主任" in record and "当事人称已联系学校" in record
    assert "当事人（代理人）签名或者盖章" in record

    seen = len(letters(ctx))
    decided_on = held_on + timedelta(days=3)
    advance(ctx, number, "decide_after_hearing", DECISION, occurred_on=decided_on)
    decisions = to_each_parent(issued(ctx, seen), "penalty_decision")
    for decision in decisions:
        assert signed_on(decided_on) in decision and DECISION["document_number"] in decision
        assert PROPOSAL["facts"] in decision and DECISION["evidence"] in decision
        assert PROPOSAL["document_number"] in decision  # the notice it follows
        assert "处罚种类：罚款。处罚内容：罚款人民币二百元。" in decision
        assert "收到本决定书之日起十五日内，到指定的银行或者通过电子支付系统缴纳罚款" in decision
        assert f"六十日内向{REVIEW_BODY}申请行政复议" in decision
        assert f"六个月内向{COURT}提起行政诉讼" in decision
        assert CONTACT in decision

    decision_served = decided_on + timedelta(days=2)
    serve(ctx, number, "penalty_decision_served", decision_served)
    in_force_until = state_and_due(ctx, number)[1]
    assert in_force_until is not None
    seen = len(letters(ctx))
    demanded_on = in_force_until + timedelta(days=1)
    advance(
        ctx,
        number,
        "issue_demand",
        {"document_number": "天府催〔2026〕1号"},
        occurred_on=demanded_on,
    )
    demands = to_each_parent(issued(ctx, seen), "demand_notice")
    for demand in demands:
        assert signed_on(demanded_on) in demand and "天府催〔2026〕1号" in demand
        assert DECISION["document_number"] in demand and "罚款人民币二百元" in demand
        assert "收到本催告书之日起十个工作日内" in demand
        assert "有权进行陈述和申辩" in demand and f"向{COURT}申请强制执行" in demand
        assert CONTACT in demand

    demand_served = demanded_on + timedelta(days=1)
    serve(ctx, number, "demand_served", demand_served)
    demand_due = state_and_due(ctx, number)[1]
    assert demand_due is not None
    seen = len(letters(ctx))
    applied_on = demand_due + timedelta(days=1)
    application = {"applied_on": applied_on.isoformat()}  # the court: the county's
    advance(ctx, number, "apply_enforcement", application, occurred_on=applied_on)
    ((template, recipient, filed),) = issued(ctx, seen)
    assert (template, recipient) == ("enforcement_application", f"case/{number}")
    assert f"{COURT}：申请人：{ISSUER}" in filed and signed_on(applied_on) in filed
    assert "被申请人：张大山（父亲）、李小红（母亲）" in filed and "王秀英" not in filed
    assert "天府催〔2026〕1号" in filed and "罚款人民币二百元" in filed
    assert "第五十五条" in filed and "申请机关负责人（签名）" in filed

    # Nothing went to the court, nor to the carer: every letter is a parent's or the file's.
    recipients = {n.recipient for n in letters(ctx)}
    assert all("法院" not in r for r in recipients)
    assert {r.split("/")[0] for r in recipients} == {"guardian:case", "case"}
    carer = f"guardian:case/{number}/1"
    assert [n.template for n in letters(ctx) if n.recipient == carer] == ["carer_notice"]


def test_the_enforcement_application_goes_to_the_court_the_step_names(county: Context) -> None:
    number = left_behind(county)
    other_court = "示范市某区人民法院"
    values = {"court": other_court, "applied_on": "2026-06-01"}
    text = _application_text(county, number, values)
    assert text.count(other_court) == 2 and COURT not in text


def _application_text(ctx: Context, number: int, values: dict[str, str]) -> str:
    due = order_served(ctx, number)
    advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=due + timedelta(days=1))
    day = due + timedelta(days=2)
    advance(
        ctx,
        number,
        "penalty_notice_served",
        {"served_on": day.isoformat(), "method": "direct"},
        occurred_on=day,
    )
    day = state_and_due(ctx, number)[1] + timedelta(days=1)  # type: ignore[operator]
    advance(ctx, number, "decide_penalty", DECISION, occurred_on=day)
    serve(ctx, number, "penalty_decision_served", day)
    day = state_and_due(ctx, number)[1] + timedelta(days=1)  # type: ignore[operator]
    advance(ctx, number, "issue_demand", {"document_number": "催1号"}, occurred_on=day)
    serve(ctx, number, "demand_served", day)
    day = state_and_due(ctx, number)[1] + timedelta(days=1)  # type: ignore[operator]
    advance(ctx, number, "apply_enforcement", values, occurred_on=day)
    return text_of(letters(ctx)[-1].body)


def test_no_penalty_notice_while_the_county_has_not_said_whether_it_carries_a_hearing(
    workspace: Path,
) -> None:
    ctx = choose(workspace, penalty_basis=BASIS)
    try:
        number = left_behind(ctx)
        due = order_served(ctx, number)
        before = database_rows(ctx)
        with pytest.raises(TransitionRefused) as refused:
            advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=due + timedelta(days=1))
        assert '[procedure] penalty_hearing = "yes | no"' in refused.value.message
        assert "行政处罚事先告知书 (penalty_notice)" in refused.value.message
        assert database_rows(ctx) == before
    finally:
        ctx.engine.dispose()


def test_without_the_hearing_right_the_notice_offers_none_and_none_can_be_asked(
    workspace: Path,
) -> None:
    ctx = choose(workspace, penalty_basis=BASIS, penalty_hearing="no")
    try:
        number = left_behind(ctx)
        due = order_served(ctx, number)
        seen = len(letters(ctx))
        advance(ctx, number, "propose_penalty", PROPOSAL, occurred_on=due + timedelta(days=1))
        for notice in to_each_parent(issued(ctx, seen), "penalty_notice"):
            assert "听证" not in notice and "陈述和申辩" in notice
        day = due + timedelta(days=2)
        serve(ctx, number, "penalty_notice_served", day)
        before = database_rows(ctx)
        with pytest.raises(TransitionRefused, match="this county chose penalty_hearing=no"):
            advance(ctx, number, "request_hearing", {"requested_on": day.isoformat()})
        assert database_rows(ctx) == before
    finally:
        ctx.engine.dispose()


def test_no_order_names_a_court_the_county_has_not_set(workspace: Path) -> None:
    set_procedure(workspace, order_issuer="township")
    ctx = open_context(workspace, clock=fixed_clock)
    try:
        number = left_behind(ctx)
        before = database_rows(ctx)
        with pytest.raises(TransitionRefused) as refused:
            advance(ctx, number, "issue_order", {"document_number": "1号"})
        assert '[procedure] court = "..."' in refused.value.message
        assert "有管辖权的基层人民法院全称" in refused.value.message
        assert database_rows(ctx) == before
    finally:
        ctx.engine.dispose()


def test_an_approved_transfer_writes_to_the_receiving_countys_education_authority(
    ctx: Context,
) -> None:
    number = left_behind(ctx)
    proposal = {
        "receiving_county": "浙江省宁波市鄞州区",
        "receiving_school": "鄞州区实验小学",
        "evidence": "户口迁移证明",
    }
    advance(ctx, number, "propose_transfer_out", proposal, occurred_on=date(2025, 9, 20))
    seen = len(letters(ctx))
    advance(approver(ctx), number, "approve_transfer_out", occurred_on=date(2025, 9, 24))
    ((template, recipient, letter),) = issued(ctx, seen)
    assert (template, recipient) == ("transfer_letter", f"case/{number}")
    assert "浙江省宁波市鄞州区教育行政部门：" in letter
    assert "拟在鄞州区实验小学就读" in letter and "已办结销号" in letter
    assert "本县教育局（盖章）2025年9月24日" in letter  # the approval's day
    assert "我单位联系人：王某某联系电话：0856-6221234" in letter
