"""Referral letters that say something (issue 14, items 8 and 10): the facts the referring
step recorded under the workflow's labels, the full ID number for the police (a disclosure
recorded in the audit trail), the sender's contact and an automatic 文号, and e-mail that
never carries a child's name or ID."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from caseflow import db
from caseflow.errors import TransitionRefused
from caseflow.ids import mask_id_number, mask_name
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context, open_context
from caseflow.services.dispatch import dispatch
from caseflow.services.documents import preview
from caseflow.services.org import apply_org
from caseflow.services.outbox import NOTICE
from tests.conftest import (
    ISSUING_UNITS,
    audit_trail,
    child,
    child_id_number,
    database_rows,
    fixed_clock,
    issuing_org,
)
from tests.test_channels import SmtpServer, free_port

LABOUR = {"employer": "东莞市某某电子厂", "place": "广东省东莞市长安镇", "found": "在流水线上做工"}


def text_of(html: str) -> str:
    """The words a reader sees: tags and white space removed."""
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))


def letters(ctx: Context, template: str = "referral_letter") -> list:
    with db.read(ctx.engine) as connection:
        query = NOTICE.select().where(NOTICE.c.template == template).order_by(NOTICE.c.id)
        return list(connection.execute(query).all())


def with_guardian(serial: int):  # type: ignore[no-untyped-def]
    return child(serial, guardian_name="张大山", guardian_relation="父亲")


def persuading(ctx: Context, serial: int = 2, opened: date = date(2026, 11, 2)) -> int:
    number = open_case(
        ctx, with_guardian(serial), reasons=["migrant_work"], occurred_on=opened
    ).number
    advance(ctx, number, "start_verification", occurred_on=opened)
    advance(ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=opened)
    return number


def household_check(ctx: Context, serial: int, on: date) -> int:
    """A case opened and sent to the police for a household check on ``on``."""
    number = open_case(ctx, with_guardian(serial), occurred_on=on).number
    advance(ctx, number, "request_household_check", {"request": "核查户籍是否空挂"}, occurred_on=on)
    return number


def test_a_labour_referral_names_the_employer_the_place_and_the_finding(ctx) -> None:
    number = persuading(ctx)
    advance(ctx, number, "refer_labour_inspection", LABOUR, occurred_on=date(2026, 11, 20))
    (letter,) = letters(ctx)
    shown = text_of(letter.body)
    assert "县人力资源和社会保障局（劳动保障监察）：" in shown
    for label, value in (("用工单位", "东莞市某某电子厂"), ("用工地点", "广东省东莞市长安镇")):
        assert f"{label}{value}" in shown
    assert "发现情况在流水线上做工" in shown
    assert "我单位联系人：王某某联系电话：0856-6221234" in shown
    assert "本教〔2026〕1号" in shown and "抄送" not in shown


def test_a_labour_referral_goes_to_the_authority_where_the_employer_is(ctx) -> None:
    number = persuading(ctx)
    elsewhere = {**LABOUR, "authority": "东莞市人力资源和社会保障局"}
    advance(ctx, number, "refer_labour_inspection", elsewhere, occurred_on=date(2026, 11, 20))
    (letter,) = letters(ctx)
    assert letter.recipient == "department:labour_inspection"  # the county still follows it
    shown = text_of(letter.body)
    assert "东莞市人力资源和社会保障局：" in shown
    assert "抄送：县人力资源和社会保障局（劳动保障监察）" in shown
    assert "东莞市人力资源和社会保障局" not in shown.split("：")[-1]  # not listed as a fact


def test_a_police_referral_shows_the_full_id_and_the_disclosure_is_audited(ctx) -> None:
    number = household_check(ctx, 2, date(2026, 11, 20))
    (letter,) = letters(ctx)
    full = child_id_number(2)
    assert f"公民身份号码{full}" in text_of(letter.body)
    assert "核查事项核查户籍是否空挂" in text_of(letter.body)
    (disclosed,) = [e for e in audit_trail(ctx, number) if e["action"] == "data.disclosed"]
    assert disclosed["payload"] == {
        "data": "child.id_number",
        "to": "department:public_security",
        "to_name": "县公安局",
        "document": "referral_letter",
        "title": "控辍保学案件转介函",
        "key": letter.key,
        "reference": "本教〔2026〕1号",
        "purpose": disclosed["payload"]["purpose"],
        "basis": "《中华人民共和国个人信息保护法》第十三条第一款第三项："
        "为履行法定职责或者法定义务所必需",
        "case_version": 2,
    }
    assert "公安机关须凭完整的公民身份号码查询" in disclosed["payload"]["purpose"]
    assert disclosed["operator"] == ctx.actor.operator
    # Any other document of the case keeps the number masked.
    assert full not in preview(ctx, number, "parent_letter")


def test_a_harm_report_gives_the_full_id_to_the_police_only(ctx) -> None:
    number = persuading(ctx)
    advance(ctx, number, "report_harm", {"situation": "疑似遭受家庭暴力"})
    police, civil = letters(ctx)
    assert (police.recipient, civil.recipient) == (
        "department:public_security",
        "department:civil_affairs",
    )
    full = child_id_number(2)
    assert full in police.body and "县公安局：" in text_of(police.body)
    assert full not in civil.body and mask_id_number(full) in civil.body
    assert "县民政局：" in text_of(civil.body)
    assert "发现的情形疑似遭受家庭暴力" in text_of(civil.body)
    assert [
        e["payload"]["to"] for e in audit_trail(ctx, number) if e["action"] == "data.disclosed"
    ] == ["department:public_security"]
    # Each letter has its own 文号.
    assert "本教〔2026〕1号" in police.body and "本教〔2026〕2号" in civil.body


def test_document_numbers_count_per_issuer_and_restart_each_year(workspace: Path, ctx) -> None:
    numbered: dict[int, str] = {}
    for serial, today in ((2, date(2025, 12, 30)), (3, date(2026, 1, 5)), (4, date(2026, 1, 6))):
        then = open_context(
            workspace, clock=lambda day=today: datetime(*day.timetuple()[:3], 2, tzinfo=UTC)
        )
        try:
            number = household_check(then, serial, today)
        finally:
            then.engine.dispose()
        numbered[number] = re.search(r"本教〔\d{4}〕\d+号", letters(ctx)[-1].body)[0]
    assert list(numbered.values()) == ["本教〔2025〕1号", "本教〔2026〕1号", "本教〔2026〕2号"]
    # The township's order counts on its own.
    ordered = persuading(ctx, 5)
    advance(ctx, ordered, "issue_order", occurred_on=date(2026, 11, 25))
    (order,) = letters(ctx, "order_to_correct")
    assert '<p class="ref">天府〔2026〕1号</p>' in order.body
    (proof,) = letters(ctx, "proof_of_service")
    assert "天府〔2026〕1号" in text_of(proof.body)  # the number of the document it serves


def test_a_typed_number_is_used_and_an_issued_one_cannot_be_typed_again(ctx) -> None:
    first = persuading(ctx, 2)
    advance(ctx, first, "issue_order", occurred_on=date(2026, 11, 25))
    second = persuading(ctx, 3)
    advance(
        ctx,
        second,
        "issue_order",
        {"document_number": "天府〔2026〕9号"},
        occurred_on=date(2026, 11, 25),
    )
    assert '<p class="ref">天府〔2026〕9号</p>' in letters(ctx, "order_to_correct")[1].body
    third = persuading(ctx, 4)
    before = database_rows(ctx)
    with pytest.raises(TransitionRefused) as refused:
        advance(
            ctx,
            third,
            "issue_order",
            {"document_number": "天府〔2026〕1号"},
            occurred_on=date(2026, 11, 25),
        )
    assert "天堂镇人民政府 already gave 文号 天府〔2026〕1号" in refused.value.message
    assert database_rows(ctx) == before
    # The next allocated number follows the last allocated one.
    advance(ctx, third, "issue_order", occurred_on=date(2026, 11, 25))
    assert '<p class="ref">天府〔2026〕2号</p>' in letters(ctx, "order_to_correct")[2].body


def test_a_refused_step_gives_its_number_back(ctx) -> None:
    household_check(ctx, 2, date(2026, 11, 20))
    number = open_case(ctx, with_guardian(3), occurred_on=date(2026, 11, 20)).number
    with pytest.raises(TransitionRefused):  # the case is not in a state that allows it
        advance(ctx, number, "issue_order", occurred_on=date(2026, 11, 20))
    advance(ctx, number, "request_household_check", {"request": "核查"})
    assert "本教〔2026〕2号" in letters(ctx)[1].body


def test_concurrent_issuers_get_different_numbers(workspace: Path, ctx) -> None:
    numbers = [open_case(ctx, with_guardian(serial)).number for serial in range(2, 8)]
    errors: list[BaseException] = []

    def refer(number: int) -> None:
        context = open_context(workspace, clock=fixed_clock)
        try:
            advance(context, number, "request_household_check", {"request": "核查"})
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            context.engine.dispose()

    threads = [threading.Thread(target=refer, args=(number,)) for number in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    given = sorted(int(re.search(r"本教〔2026〕(\d+)号", n.body)[1]) for n in letters(ctx))
    assert given == list(range(1, len(numbers) + 1))


def test_a_referral_is_refused_while_its_issuer_has_no_contact(workspace: Path, ctx) -> None:
    without = ISSUING_UNITS.replace("contact_person: 王某某, ", "")
    (workspace / "org.yaml").write_text(
        issuing_org(ctx.actor.operator, units=without), encoding="utf-8"
    )
    apply_org(ctx)
    number = open_case(ctx, with_guardian(2)).number
    before = database_rows(ctx)
    with pytest.raises(TransitionRefused) as refused:
        advance(ctx, number, "request_household_check", {"request": "核查"})
    assert "give its unit 'bureau' in org.yaml: contact_person" in refused.value.message
    assert "caseflow org apply" in refused.value.message
    assert database_rows(ctx) == before


def test_an_emailed_referral_is_a_cover_without_the_childs_name_or_id(workspace: Path, ctx) -> None:
    server = SmtpServer(free_port())
    server.start()
    try:
        config = workspace / "caseflow.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'\n[notifiers.email]\nhost = "127.0.0.1"\nport = {server.port}\n'
            'security = "none"\nfrom = "控辍专班 <kzbx@edu.example.cn>"\n',
            encoding="utf-8",
        )
        contacts = (
            "contacts:\n  department:public_security:\n"
            "    - {channel: email, address: hujizhi@police.example.cn}\n"
        )
        (workspace / "org.yaml").write_text(
            issuing_org(ctx.actor.operator, more=contacts), encoding="utf-8"
        )
        mailing = open_context(workspace, clock=fixed_clock)
        try:
            apply_org(mailing)
            number = household_check(mailing, 2, date(2026, 11, 20))
            assert dispatch(mailing).sent == 1
        finally:
            mailing.engine.dispose()
        (message,) = server.mailbox.received()
    finally:
        server.stop()
    assert isinstance(message, EmailMessage)
    assert not message.is_multipart()  # no HTML document alongside
    body = message.get_content()
    (notice,) = letters(ctx)
    assert (
        f"本县教育局《控辍保学案件转介函》（本教〔2026〕1号）已印制，涉及案件编号：{number}" in body
    )
    assert f"caseflow notify show {notice.id}" in body
    full = child_id_number(2)
    for secret in ("张小华", mask_name("张小华"), full, mask_id_number(full), full[-4:]):
        assert secret not in body and secret not in str(message["Subject"])
