"""Documents for one case, from the database: the context a case supplies, previews,
letters queued in the outbox, the print batch, and `workflow check` holding every
workflow's templates to what their renderer can supply."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, update
from typer.testing import CliRunner

from caseflow import db, render
from caseflow.cli import app
from caseflow.errors import CaseNotFound, ConcurrentUpdate, InvalidInput, TransitionRefused
from caseflow.models import Child, Guardian, Notice
from caseflow.notifiers.letter import letter_files
from caseflow.services.alerts import ALERT_FIELDS
from caseflow.services.audit import audit_verify
from caseflow.services.cases import add_note, advance, history, open_case, show_case
from caseflow.services.context import Context
from caseflow.services.dispatch import dispatch, show
from caseflow.services.documents import preview, print_batch, queue_document
from caseflow.services.letters import (
    CASE_FIELDS,
    case_context,
    sweep_fields,
)
from caseflow.services.records import record
from caseflow.services.sweep import sweep
from caseflow.services.workflows import check_workflow_files, template_catalogue
from caseflow.states import TemplateCatalogue, parse_workflow, unsuppliable
from tests.conftest import (
    CliInvoker,
    CliResult,
    audit_trail,
    child,
    days_ago,
    open_case_by_cli,
)

NOTICE = Notice.__table__  # type: ignore[attr-defined]
CHILD = Child.__table__  # type: ignore[attr-defined]
GUARDIAN = Guardian.__table__  # type: ignore[attr-defined]
TODAY = date(2026, 11, 29)  # conftest's fixed clock
ORDER_NUMBER = "天教发〔2026〕15号"
DROPOUT = Path(__file__).resolve().parents[1] / "workflows" / "dropout.yaml"


def with_guardian(serial: int = 2, **overrides: object) -> Any:
    values: dict[str, object] = {
        "guardian_name": "张大山",
        "guardian_relation": "父亲",
        "guardian_phone": "13800000000",
        "group": "三组",
    }
    values.update(overrides)
    return child(serial, **values)


def persuading(ctx: Context, details: Any = None) -> int:
    """A case in persuasion (劝返中), opened on 2 November, due 1 December."""
    number = open_case(
        ctx,
        details or with_guardian(),
        reasons=["learning", "migrant_work"],
        occurred_on=date(2026, 11, 2),
    ).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
    advance(ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 11, 10))
    return number


def ordered(ctx: Context, details: Any = None, *, typed: str | None = ORDER_NUMBER) -> int:
    """A case issued an order to correct on 25 November (waiting for its service), with
    the 文号 ``typed`` (None: allocated)."""
    number = persuading(ctx, details)
    given = {"document_number": typed} if typed else {}
    advance(ctx, number, "issue_order", given, occurred_on=date(2026, 11, 25))
    return number


def guardian_id(ctx: Context) -> int:
    """The id of the first guardian recorded (each order is keyed by its addressee)."""
    with db.read(ctx.engine) as connection:
        return int(connection.execute(select(GUARDIAN.c.id).order_by(GUARDIAN.c.id)).scalar())


def lookup(context: dict[str, Any], field: str) -> Any:
    value: Any = context
    for part in field.split("."):
        value = value[part]
    return value


def outbox(ctx: Context) -> list[Any]:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(NOTICE).order_by(NOTICE.c.id)).all())


def events(ctx: Context, action: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in audit_trail(ctx) if e["action"] == action]


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


# ---------------------------------------------------------------------------------------
# The context a case supplies


def test_a_case_supplies_every_case_field_from_the_database(ctx) -> None:
    number = ordered(ctx)
    context = case_context(ctx, number, "parent_letter")
    shown = show_case(ctx, number)
    lacking = {"department.name"}  # not handed to a department
    # What a transition recorded and the county set are named field by field (step.X,
    # earlier.X, procedure.X): a letter asked for by name declares none.
    spaces = {"step", "earlier", "procedure"}
    for field in sorted(CASE_FIELDS - lacking - spaces):
        assert lookup(context, field) is not None, field
    with pytest.raises(KeyError):
        lookup(context, "department.name")

    assert context["today"] == TODAY
    assert context["document"] == {"date": TODAY}  # asked for by name: dated the day asked
    # The letter to parents is the education bureau's (the workflow's documents: section).
    assert context["issuer"] == {
        "name": "本县教育局",
        "seal": "本县教育局",
        "reference": "",
        "contact_person": "王某某",
        "contact_phone": "0856-6221234",
    }
    assert context["case"] == {
        "number": number,
        "state_label": "责令改正通知书待送达",
        "township": "天堂镇",
        "village": "天堂村",
        "school": "天堂小学",
        "opened_on": date(2026, 11, 2),
        "due_on": date.fromisoformat(shown["due_on"]),
        "due_provisional": False,
        "reasons": ["厌学/学习困难", "外出务工"],
        "absent_since": date(2026, 11, 2),  # no transition recorded one: the opening day
    }
    assert context["child"] == {
        "name": "张小华",
        "masked_name": "张*华",
        "masked_id": shown["child"]["id_number"],
        "id_number": shown["child"]["id_number"],  # masked: a letter to no department
        "id_disclosed": False,
        "sex": shown["child"]["sex"],
        "birth_date": date(2013, 3, 5),
        "grade": "",  # unknown text is blank, never None
        "class_name": "",
    }
    assert context["guardian"] == {
        "name": "张大山",
        "relation": "父亲",
        "phone": "13800000000",
        "is_parent": True,
        "legal_basis": "",
    }
    assert context["legal_guardians"] == [{"name": "张大山", "relation": "父亲"}]
    # The period the order gives: the deadline of the state its service starts, not the
    # 5 working days the case waits for the proofs of service.
    assert context["period"] == {"amount": 15, "unit_label": "日"}
    due = date.fromisoformat(shown["due_on"])
    assert context["deadline"] == {"date": due, "days": (due - TODAY).days}
    assert context["request"]["text"].startswith("本县工作方案（实践做法）：责令限期改正通知书")
    assert context["school"] == {"name": "天堂小学"}
    assert context["recipient"] == {"name": "张大山"}  # a letter to the guardian
    assert context["review"] == {"body": "本县人民政府"}  # no county-government unit
    assert context["service"] == {
        "document": "责令限期复学通知书",  # what issue_order served with its proof
        "document_number": ORDER_NUMBER,
        "place": "天堂镇天堂村三组",
        "method": "直接送达",
    }


def test_the_documents_a_transition_issued_carry_its_reference_number(ctx) -> None:
    number = ordered(ctx)
    assert case_context(ctx, number, "order_to_correct")["issuer"]["reference"] == ORDER_NUMBER
    html = preview(ctx, number, "order_to_correct")
    assert f'<p class="ref">{ORDER_NUMBER}</p>' in html
    # A document the transition did not issue is not numbered with it.
    assert case_context(ctx, number, "persuasion_notice")["issuer"]["reference"] == ""


def test_an_order_reprinted_after_its_service_keeps_its_number_date_and_proof(ctx) -> None:
    number = ordered(ctx)
    served = {"served_on": "2026-11-26", "method": "direct", "served_to": "张大山"}
    advance(ctx, number, "order_served", served, occurred_on=date(2026, 11, 27))
    assert show_case(ctx, number)["state"] == "order_to_correct"
    order = case_context(ctx, number, "order_to_correct")
    assert order["issuer"]["reference"] == ORDER_NUMBER
    assert order["document"] == {"date": date(2026, 11, 25)}  # the decision's, not today's
    assert case_context(ctx, number, "proof_of_service")["service"]["document_number"] == (
        ORDER_NUMBER
    )


def test_a_relapse_dates_the_absence_from_the_day_it_recorded(ctx) -> None:
    number = persuading(ctx)
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 11, 12),
    )
    advance(ctx, number, "relapse", {"absent_since": "2026-11-20"}, occurred_on=date(2026, 11, 24))
    context = case_context(ctx, number, "persuasion_notice")
    assert context["case"]["absent_since"] == date(2026, 11, 20)
    assert "自2026年11月20日起未到校上学" in preview(ctx, number, "persuasion_notice")


def test_a_referral_goes_to_every_department_the_case_is_handed_to(ctx) -> None:
    number = persuading(ctx)
    advance(ctx, number, "refer_early_marriage", occurred_on=date(2026, 11, 27))
    context = case_context(ctx, number, "referral_letter")
    assert context["department"]["name"] == "县民政局、县妇女联合会、共青团县委"
    assert context["recipient"]["name"] == context["department"]["name"]
    assert "早婚早育的，转介县民政局" in context["request"]["text"]
    html = preview(ctx, number, "referral_letter")
    assert "县民政局、县妇女联合会、共青团县委：" in html
    assert "张大山（父亲），联系电话：13800000000" in html

    queued = queue_document(ctx, number, "referral_letter")
    assert queued.recipients == (
        "department:civil_affairs",
        "department:womens_federation",
        "department:youth_league",
    )
    letters = outbox(ctx)
    assert [n.id for n in letters] == list(queued.ids)
    assert [n.recipient for n in letters] == list(queued.recipients)
    assert len({n.content_hash for n in letters}) == 1  # one letter, a copy for each


def test_a_reminder_for_the_case_is_written_to_the_unit_responsible_for_it(ctx) -> None:
    number = persuading(ctx)
    assert case_context(ctx, number, "deadline_reminder")["recipient"] == {"name": "天堂镇人民政府"}
    notice_id = queue_document(ctx, number, "deadline_reminder").ids[0]
    (notice,) = outbox(ctx)
    assert notice.id == notice_id and notice.recipient == f"case/{number}"


def test_a_field_the_case_lacks_is_refused_naming_it_and_how_to_supply_it(ctx) -> None:
    number = persuading(ctx, child(2))  # no guardian recorded
    with pytest.raises(InvalidInput) as caught:
        preview(ctx, number, "persuasion_notice")
    message = caught.value.message
    assert f"guardian.name: no guardian recorded for case {number}; record one with " in message
    assert f"`caseflow case guardian add {number} ...` or pass --set guardian.name=" in message
    assert "guardian.relation: no guardian recorded" in message
    assert "persuasion_notice" in message

    html = preview(
        ctx,
        number,
        "persuasion_notice",
        {"guardian.name": "李桂英", "guardian.relation": "母亲"},
    )
    assert '<p class="addressee">李桂英（学生张小华的母亲）：</p>' in html
    # An order is never addressed to a name set by hand: only to a legal guardian on record.
    with pytest.raises(TransitionRefused, match="has no legal guardian on record"):
        preview(ctx, number, "order_to_correct", {"guardian.name": "李桂英"})


def test_a_guardian_without_relation_or_phone(ctx) -> None:
    number = persuading(ctx, with_guardian(guardian_relation=None, guardian_phone=None))
    with pytest.raises(InvalidInput, match=r"guardian\.relation: the guardian's relation is not"):
        preview(ctx, number, "persuasion_notice")
    persuasion = persuading(ctx, with_guardian(3, guardian_relation="祖母", guardian_phone=None))
    advance(ctx, persuasion, "refer_health", occurred_on=date(2026, 11, 27))
    assert "张大山（祖母），联系电话：</td>" in preview(ctx, persuasion, "referral_letter")


def test_no_school_and_no_department_are_refused_until_set(ctx) -> None:
    number = persuading(ctx, with_guardian(school=None))
    with pytest.raises(InvalidInput) as caught:
        preview(ctx, number, "persuasion_notice")
    assert "school.name: no school recorded" in caught.value.message
    html = preview(ctx, number, "persuasion_notice", {"school.name": "天堂中学"})
    assert "到天堂中学报到复学" in html
    with pytest.raises(InvalidInput, match=r"department\.name: case \d+ is not handed"):
        preview(ctx, number, "referral_letter")


def test_a_passed_deadline_is_not_printed_as_a_deadline(ctx) -> None:
    number = open_case(ctx, with_guardian(), occurred_on=date(2026, 11, 2)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
    with pytest.raises(InvalidInput) as caught:
        preview(ctx, number, "persuasion_notice")
    assert "deadline.date: case" in caught.value.message
    assert "is not after today; pass --set deadline.date=YYYY-MM-DD" in caught.value.message
    by_days = case_context(ctx, number, "persuasion_notice", overrides={"deadline.days": "7"})
    assert by_days["deadline"] == {"days": 7, "date": date(2026, 12, 6)}
    by_date = case_context(
        ctx, number, "persuasion_notice", overrides={"deadline.date": "2026年12月9日"}
    )
    assert by_date["deadline"] == {"days": 10, "date": date(2026, 12, 9)}
    html = preview(ctx, number, "persuasion_notice", {"deadline.days": "7"})
    assert "7日内（即2026年12月6日前）" in html


def test_overrides_are_checked_and_typed(ctx) -> None:
    number = ordered(ctx)
    context = case_context(
        ctx,
        number,
        "order_to_correct",
        overrides={
            "case.absent_since": "2026/10/8",
            "case.reasons": "poverty、路远",
            "child.grade": "七年级",
            "issuer.reference": "天教发〔2026〕16号",
        },
    )
    assert context["case"]["absent_since"] == date(2026, 10, 8)
    assert context["case"]["reasons"] == ["贫困", "路远"]
    assert context["child"]["grade"] == "七年级"
    assert context["issuer"]["reference"] == "天教发〔2026〕16号"
    with pytest.raises(InvalidInput, match=r"--set child\.shoe_size: not a field"):
        case_context(ctx, number, "order_to_correct", overrides={"child.shoe_size": "36"})
    with pytest.raises(InvalidInput, match="not a valid date"):
        case_context(ctx, number, "order_to_correct", overrides={"deadline.date": "soon"})
    with pytest.raises(InvalidInput, match="whole number of days"):
        case_context(ctx, number, "order_to_correct", overrides={"deadline.days": "-3"})


def test_a_template_for_units_cannot_be_filled_from_a_case(ctx) -> None:
    number = persuading(ctx)
    with pytest.raises(InvalidInput) as caught:
        preview(ctx, number, "escalation_notice")
    assert "escalation.cases: a case document cannot supply it" in caught.value.message
    with pytest.raises(InvalidInput, match="unknown template 'no_such'"):
        preview(ctx, number, "no_such")
    with pytest.raises(CaseNotFound):
        preview(ctx, 999, "order_to_correct")


def test_markup_from_the_database_or_an_override_is_printed_as_text(ctx) -> None:
    number = ordered(ctx, with_guardian(name="<b>张</b>小华"))
    html = preview(ctx, number, "order_to_correct", {"guardian.name": "<script>x</script>"})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;张&lt;/b&gt;小华" in html


# ---------------------------------------------------------------------------------------
# Letters in the outbox


def test_a_letter_is_queued_once_per_case_version_with_an_audit_event(ctx) -> None:
    number = ordered(ctx)
    # issue_order queued its order (and proof of service) at the version it produced: asked
    # for again before the case changes, the order is the notice already queued, and no
    # event is added (the transition's own event names it).
    issued = outbox(ctx)[0]
    step_version = show_case(ctx, number)["version"]
    guardian = guardian_id(ctx)
    assert issued.key == f"document:order_to_correct:{number}:{step_version}:guardian{guardian}"
    again = queue_document(ctx, number, "order_to_correct", {"child.grade": "七年级"})
    assert again.ids == (issued.id,) and not again.new
    assert len(outbox(ctx)) == 2 and events(ctx, "notice.queued") == []

    add_note(ctx, number, "家长未到校，再次入户", occurred_on=TODAY)  # the case moves on
    version = show_case(ctx, number)["version"]
    notice_id = queue_document(ctx, number, "order_to_correct").ids[0]
    assert notice_id not in {n.id for n in outbox(ctx)[:2]}
    notice = outbox(ctx)[-1]
    assert notice.id == notice_id
    assert notice.key == f"document:order_to_correct:{number}:{version}:guardian{guardian}"
    assert notice.kind == "letter" and notice.template == "order_to_correct"
    assert notice.recipient == f"guardian:case/{number}/{guardian}" and notice.case_ids == [number]
    assert notice.subject == f"责令限期复学通知书（案件{number}）"
    assert notice.status == "pending" and notice.attempts == 0 and notice.channel is None
    assert notice.body == preview(ctx, number, "order_to_correct")
    assert notice.content_hash == hashlib.sha256(notice.body.encode()).hexdigest()
    assert events(ctx, "notice.queued") == [
        {
            "notices": [notice_id],
            "key": notice.key,
            "kind": "letter",
            "template": "order_to_correct",
            "recipients": [f"guardian:case/{number}/{guardian}"],
            "content_hash": notice.content_hash,
            "case_version": version,
            "set": [],
        }
    ]

    again = queue_document(ctx, number, "order_to_correct", {"child.grade": "七年级"})
    assert again.ids == (notice_id,) and not again.new
    assert len(outbox(ctx)) == 3 and len(events(ctx, "notice.queued")) == 1

    add_note(ctx, number, "再次入户送达", occurred_on=TODAY)  # the case moves on
    later = queue_document(ctx, number, "order_to_correct", {"child.grade": "七年级"}).ids[0]
    assert later != notice_id
    assert outbox(ctx)[-1].key == (
        f"document:order_to_correct:{number}:{version + 1}:guardian{guardian}"
    )
    assert events(ctx, "notice.queued")[-1]["set"] == ["child.grade"]
    assert len(events(ctx, "notice.queued")) == 2
    assert audit_verify(ctx).intact


def test_a_letter_that_cannot_be_filled_queues_nothing(ctx) -> None:
    number = persuading(ctx, child(2))
    with pytest.raises(InvalidInput, match=r"guardian\.name"):
        queue_document(ctx, number, "persuasion_notice")
    assert outbox(ctx) == [] and events(ctx, "notice.queued") == []


def test_a_queued_letter_is_delivered_by_the_letter_channel(ctx, workspace) -> None:
    number = ordered(ctx)
    notice_id = queue_document(ctx, number, "order_to_correct").ids[0]  # the one issue_order queued
    assert dispatch(ctx).sent == 2  # the order and its proof of service
    notices = outbox(ctx)
    assert notice_id == notices[0].id
    assert [n.template for n in notices] == ["order_to_correct", "proof_of_service"]
    assert all(n.status == "sent" and n.channel == "letter" for n in notices)
    written = letter_files(workspace / "outbox")
    assert sorted(path.read_text(encoding="utf-8") for path in written) == sorted(
        n.body for n in notices
    )


# ---------------------------------------------------------------------------------------
# Documents a transition issues: queued with the step, named in its audit event


def step_event(ctx: Context, number: int, trigger: str) -> dict[str, Any]:
    (event,) = [e for e in history(ctx, number) if e["trigger"] == trigger]
    assert event["action"] == "case.transition"
    return event["payload"]


def test_issuing_an_order_queues_it_and_its_proof_of_service_with_the_step(ctx) -> None:
    number = persuading(ctx)
    before = show_case(ctx, number)["version"]
    documents = advance(
        ctx,
        number,
        "issue_order",
        {"document_number": ORDER_NUMBER},
        occurred_on=date(2026, 11, 25),
    ).documents
    shown = show_case(ctx, number)
    assert shown["state"] == "order_issued"  # waiting for the proofs of service
    version = shown["version"]
    assert version == before + 1  # the letters belong to the version the step produced

    order, proof = outbox(ctx)
    guardian = guardian_id(ctx)
    for notice, template in ((order, "order_to_correct"), (proof, "proof_of_service")):
        assert notice.key == f"document:{template}:{number}:{version}:guardian{guardian}"
        assert notice.kind == "letter" and notice.template == template
        assert notice.recipient == f"guardian:case/{number}/{guardian}"
        assert notice.case_ids == [number]
        assert notice.status == "pending" and notice.attempts == 0 and notice.channel is None
        # Rendered as the case stands after the step, exactly as a preview shows it now.
        assert notice.body == preview(ctx, number, template)
        assert notice.content_hash == hashlib.sha256(notice.body.encode()).hexdigest()
    assert order.subject == f"责令限期复学通知书（案件{number}）"
    assert proof.subject == f"送达回证（案件{number}）"
    assert f'<p class="ref">{ORDER_NUMBER}</p>' in order.body  # numbered with the order
    served = text_of(proof.body)
    assert "责令限期复学通知书" in served and ORDER_NUMBER in served and "张大山" in served

    assert documents == [
        {
            "template": "order_to_correct",
            "prepared": True,
            "subject": order.subject,
            "notices": [order.id],
            "references": [f"KC-{order.id:06d}"],
            "recipients": [f"guardian:case/{number}/{guardian}"],
            "content_hash": order.content_hash,
        },
        {
            "template": "proof_of_service",
            "prepared": True,
            "subject": proof.subject,
            "notices": [proof.id],
            "references": [f"KC-{proof.id:06d}"],
            "recipients": [f"guardian:case/{number}/{guardian}"],
            "content_hash": proof.content_hash,
        },
    ]
    # The transition's own event names them; no separate notice.queued event is written.
    payload = step_event(ctx, number, "issue_order")
    assert payload["documents"] == documents
    assert payload["values"] == {"document_number": ORDER_NUMBER}
    assert payload["from"] == "persuasion" and payload["to"] == "order_issued"
    assert events(ctx, "notice.queued") == []
    others = [e for e in history(ctx, number) if e["trigger"] != "issue_order"]
    assert all("documents" not in e["payload"] for e in others)  # steps issuing nothing
    assert audit_verify(ctx).intact


def test_cli_advance_json_includes_the_documents_it_prepared(cli) -> None:
    number = cli_persuading(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    result = cli_order(cli, number, "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["state"] == "order_issued"
    assert [
        (d["template"], d["prepared"], d["notices"], d["references"], d["recipients"])
        for d in shown["documents"]
    ] == [
        ("order_to_correct", True, [1], ["KC-000001"], [f"guardian:case/{number}/1"]),
        ("proof_of_service", True, [2], ["KC-000002"], [f"guardian:case/{number}/1"]),
    ]
    assert [d["subject"] for d in shown["documents"]] == [
        f"责令限期复学通知书（案件{number}）",
        f"送达回证（案件{number}）",
    ]
    history = json.loads(cli("case", "history", str(number), "--json").stdout)
    assert history[-1]["trigger"] == "issue_order"
    assert history[-1]["payload"]["documents"] == shown["documents"]
    assert "notice.queued" not in {e["action"] for e in history}

    # Without --json the caseworker is told what was prepared and where it is.
    other = cli_persuading(cli, 3, "--guardian", "李大海", "--guardian-relation", "父亲")
    told = cli_order(cli, other, typed=None)
    assert told.exit_code == 0, told.stderr
    lines = told.stdout.splitlines()
    assert lines[0].startswith(f"Case {other}: now order_issued (责令改正通知书待送达), due ")
    assert lines[1:3] == [
        f"  Prepared 责令限期复学通知书（案件{other}）: KC-000003 (in the outbox; "
        "`caseflow notify dispatch` delivers or files it)",
        f"  Prepared 送达回证（案件{other}）: KC-000004 (in the outbox; "
        "`caseflow notify dispatch` delivers or files it)",
    ]


def test_an_order_to_a_case_without_a_legal_guardian_is_refused_and_changes_nothing(ctx) -> None:
    number = persuading(ctx, with_guardian(guardian_name="张奶奶", guardian_relation="祖母"))
    before = show_case(ctx, number)
    trail = audit_trail(ctx)
    with pytest.raises(TransitionRefused) as caught:
        advance(
            ctx,
            number,
            "issue_order",
            {"document_number": ORDER_NUMBER},
            occurred_on=date(2026, 11, 25),
        )
    message = caught.value.message
    assert f"case {number} has no legal guardian on record" in message
    assert f"`caseflow case guardian add {number} --name NAME --relation 父亲`" in message
    after = show_case(ctx, number)
    assert after["state"] == "persuasion" and after["version"] == before["version"]
    assert outbox(ctx) == []
    # Nothing but the read of the case just above was written.
    assert [e["action"] for e in audit_trail(ctx)[len(trail) :]] == ["case.read"]


def test_cli_an_order_without_a_legal_guardian_says_what_to_record(cli, ctx) -> None:
    number = cli_persuading(cli, 2, "--guardian", "张奶奶", "--guardian-relation", "祖母")
    refused = cli_order(cli, number)
    assert refused.exit_code == 1, refused.stderr
    assert "has no legal guardian on record" in refused.stderr
    assert outbox(ctx) == [] and show_case(ctx, number)["state"] == "persuasion"
    added = cli(
        "case",
        "guardian",
        "add",
        str(number),
        "--name",
        "张大山",
        "--relation",
        "父亲",
        "--date",
        days_ago(1),
    )
    assert added.exit_code == 0, added.stderr
    assert cli_order(cli, number).exit_code == 0
    assert [n.template for n in outbox(ctx)] == [
        "order_to_correct",
        "proof_of_service",
        "carer_notice",
    ]


def test_a_referral_to_the_early_marriage_departments_queues_a_letter_for_each(ctx) -> None:
    number = persuading(ctx)
    documents = advance(
        ctx, number, "refer_early_marriage", occurred_on=date(2026, 11, 27)
    ).documents
    version = show_case(ctx, number)["version"]
    departments = ["civil_affairs", "womens_federation", "youth_league"]
    base = f"document:referral_letter:{number}:{version}"
    letters = outbox(ctx)
    assert [(n.key, n.recipient) for n in letters] == [
        (base, "department:civil_affairs"),
        (f"{base}#department:womens_federation", "department:womens_federation"),
        (f"{base}#department:youth_league", "department:youth_league"),
    ]
    for notice in letters:
        assert notice.kind == "letter" and notice.template == "referral_letter"
        assert notice.case_ids == [number] and notice.status == "pending"
        assert notice.subject == f"控辍保学案件转介函（案件{number}）"
        assert notice.body == preview(ctx, number, "referral_letter")  # one letter, a copy each
        assert notice.content_hash == letters[0].content_hash
    assert "县民政局、县妇女联合会、共青团县委：" in letters[0].body
    assert documents == [
        {
            "template": "referral_letter",
            "prepared": True,
            "subject": f"控辍保学案件转介函（案件{number}）",
            "notices": [n.id for n in letters],
            "references": [f"KC-{n.id:06d}" for n in letters],
            "recipients": [f"department:{d}" for d in departments],
            "content_hash": letters[0].content_hash,
        }
    ]
    payload = step_event(ctx, number, "refer_early_marriage")
    assert payload["documents"] == documents and payload["handoff"] == departments
    assert events(ctx, "notice.queued") == []


def test_cli_advance_names_every_copy_of_a_referral(cli) -> None:
    number = cli_persuading(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    result = cli("case", "advance", str(number), "refer_early_marriage", "--date", days_ago(1))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"  Prepared 控辍保学案件转介函（案件{number}）: KC-000001, KC-000002, KC-000003 "
        "(in the outbox; `caseflow notify dispatch` delivers or files it)"
    ]


def test_a_step_that_fails_queues_no_letter(ctx, monkeypatch) -> None:
    number = persuading(ctx)
    version = show_case(ctx, number)["version"]
    order = {"document_number": ORDER_NUMBER}
    day = date(2026, 11, 25)
    with pytest.raises(ConcurrentUpdate, match=f"is at version {version}, not {version - 1}"):
        advance(ctx, number, "issue_order", order, occurred_on=day, expect_version=version - 1)
    with pytest.raises(TransitionRefused, match="not allowed from there"):
        advance(ctx, number, "propose_penalty", {"facts": "逾期"}, occurred_on=day)

    # A failure after the letters were written takes them back with the step.
    original_record = record

    def failing(*args: Any, action: str, **kwargs: Any) -> None:
        if action == "case.transition":
            assert len(outbox(ctx)) == 0  # not visible outside the step's transaction ...
            assert len(args[1].execute(select(NOTICE)).all()) == 2  # ... but written in it
            raise RuntimeError("the disk is full")
        original_record(*args, action=action, **kwargs)

    monkeypatch.setattr("caseflow.services.step.record", failing)
    with pytest.raises(RuntimeError, match="the disk is full"):
        advance(ctx, number, "issue_order", order, occurred_on=day)
    monkeypatch.undo()

    assert outbox(ctx) == [] and events(ctx, "notice.queued") == []
    shown = show_case(ctx, number)
    assert shown["state"] == "persuasion" and shown["version"] == version
    assert "issue_order" not in {e["trigger"] for e in history(ctx, number)}
    assert audit_verify(ctx).intact

    # Done again at the version it expects, the step queues its letters once.
    documents = advance(
        ctx, number, "issue_order", order, occurred_on=day, expect_version=version
    ).documents
    assert [d["prepared"] for d in documents] == [True, True]
    guardian = guardian_id(ctx)
    assert [n.key for n in outbox(ctx)] == [
        f"document:order_to_correct:{number}:{version + 1}:guardian{guardian}",
        f"document:proof_of_service:{number}:{version + 1}:guardian{guardian}",
    ]


def test_cli_a_stale_expected_version_queues_no_letter(cli, ctx) -> None:
    number = cli_persuading(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    version = show_case(ctx, number)["version"]
    stale = cli_order(cli, number, "--expect-version", str(version - 1))
    assert stale.exit_code == 3
    assert f"case {number} is at version {version}, not {version - 1}" in stale.stderr
    assert "Prepared" not in stale.stdout
    assert outbox(ctx) == []
    assert show_case(ctx, number)["state"] == "persuasion"
    current = cli_order(cli, number, "--expect-version", str(version))
    assert current.exit_code == 0, current.stderr
    assert len(outbox(ctx)) == 2


# ---------------------------------------------------------------------------------------
# The print batch


def test_letters_are_collected_into_one_printable_file_a_page_each(ctx, workspace) -> None:
    first = ordered(ctx)
    second = ordered(ctx, with_guardian(3, name="李明", guardian_name="李大海"), typed=None)
    # Each order was queued with its proof of service; asking for them again adds nothing.
    issued = [n.id for n in outbox(ctx)]
    assert len(issued) == 4
    assert [
        queue_document(ctx, first, "order_to_correct").ids[0],
        queue_document(ctx, first, "proof_of_service").ids[0],
        queue_document(ctx, second, "order_to_correct").ids[0],
    ] == issued[:3]
    assert dispatch(ctx).sent == 4  # the letter channel writes the same letters to outbox/
    escalation = preview(ctx, first, "deadline_reminder")  # as the letter channel writes it
    (workspace / "outbox" / "escalation_abc.html").write_text(escalation, encoding="utf-8")

    output = workspace / "batch.html"
    assert print_batch(ctx, since=None, output=output) == 5
    html = output.read_text(encoding="utf-8")
    assert html.count('<section class="caseflow-letter"') == 5
    assert "page-break-after: always" in html and "break-after: page" in html
    assert html.count("@page { size: A4") == 1  # the letters' shared print CSS, kept once
    shown = text_of(html)
    assert shown.count("责令限期复学通知书") >= 2 and shown.count("送达回证") >= 2
    assert "张大山：" in shown and "李大海：" in shown and "控辍保学案件到期提醒" in shown
    lowered = html.lower()
    for forbidden in ("http://", "https://", "<link", "<script", "<img", "@import", "url("):
        assert forbidden not in lowered, forbidden
    # Every letter is whole: one body per section, no nested documents.
    assert html.count("<body") == 1 and html.count("<html") == 1
    assert html.count('<div class="doc">') == 5


def test_the_print_batch_can_start_from_a_day(ctx, workspace) -> None:
    number = ordered(ctx)  # queues the order and its proof of service on 29 November
    old = workspace / "outbox" / "old.html"
    old.write_text(preview(ctx, number, "parent_letter"), encoding="utf-8")
    long_ago = datetime(2026, 1, 5).timestamp()
    os.utime(old, (long_ago, long_ago))
    output = workspace / "batch.html"
    assert print_batch(ctx, since=date(2026, 11, 1), output=output) == 2
    recent = text_of(output.read_text(encoding="utf-8"))
    assert "责令限期复学通知书" in recent and "送达回证" in recent
    assert "致家长的一封信" not in recent
    assert print_batch(ctx, since=date(2026, 1, 1), output=output) == 3
    assert "致家长的一封信" in text_of(output.read_text(encoding="utf-8"))
    output.unlink()
    assert print_batch(ctx, since=date(2026, 11, 30), output=output) == 0
    assert not output.exists()  # nothing to print, nothing written


def test_a_letter_queued_by_its_context_is_printed_rendered_and_kept_so(ctx, workspace) -> None:
    from caseflow.services import outbox as outbox_service

    number = open_case(ctx, with_guardian(), occurred_on=date(2026, 10, 9)).number
    context = case_context(ctx, number, "parent_letter")
    draft = outbox_service.Draft(
        key=f"publicity:2026-11:{number}",
        kind="letter",
        template="parent_letter",
        recipient=f"guardian:case/{number}",
        case_ids=[number],
        subject="致家长的一封信",
        context=context,
    )
    with db.write(ctx.engine) as connection:
        outbox_service.queue(connection, [draft], ctx.now())
    assert [n.body for n in outbox(ctx)] == [None]
    output = workspace / "batch.html"
    assert print_batch(ctx, since=None, output=output) == 1
    stored = outbox(ctx)[0].body
    assert stored == preview(ctx, number, "parent_letter")
    printed = text_of(output.read_text(encoding="utf-8"))
    assert "致家长的一封信" in printed and "学生姓名：张小华" in printed


def test_a_print_batch_written_into_the_outbox_is_not_printed_again(ctx, workspace) -> None:
    ordered(ctx)  # the order and its proof of service
    inside = workspace / "outbox" / "batch.html"
    assert print_batch(ctx, since=None, output=inside) == 2
    assert print_batch(ctx, since=None, output=inside) == 2
    (workspace / "outbox" / "copy.html").write_text(inside.read_text(encoding="utf-8"))
    assert print_batch(ctx, since=None, output=workspace / "other.html") == 2


# ---------------------------------------------------------------------------------------
# The CLI


def cli_persuading(cli: CliInvoker, serial: int = 2, *extra: str) -> int:
    """A case opened 10 days ago and in persuasion since yesterday."""
    number = open_case_by_cli(cli, serial, *extra)
    for trigger, values in (
        ("start_verification", ()),
        ("confirm_dropout", ("--set", "reason=poverty")),
    ):
        moved = cli("case", "advance", str(number), trigger, "--date", days_ago(1), *values)
        assert moved.exit_code == 0, moved.stderr
    return number


def cli_order(
    cli: CliInvoker, number: int, *extra: str, typed: str | None = ORDER_NUMBER
) -> CliResult:
    """Issue the order by the CLI, with the 文号 ``typed`` (None: allocated)."""
    given = ("--set", f"document_number={typed}") if typed else ()
    return cli("case", "advance", str(number), "issue_order", *given, "--date", days_ago(1), *extra)


def cli_case(cli: CliInvoker, serial: int = 2, *extra: str) -> int:
    """A case whose order to correct was issued yesterday."""
    number = cli_persuading(cli, serial, *extra)
    moved = cli_order(cli, number)
    assert moved.exit_code == 0, moved.stderr
    return number


def test_cli_preview_prints_or_writes_the_document(cli, workspace) -> None:
    number = cli_case(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    shown = cli("notice", "preview", str(number), "order_to_correct")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("<!DOCTYPE html>") and "张大山：" in shown.stdout
    target = workspace / "order.html"
    written = cli(
        "notice",
        "preview",
        str(number),
        "order_to_correct",
        "--set",
        "guardian.relation=母亲",
        "-o",
        str(target),
    )
    assert written.exit_code == 0 and written.stdout.strip() == f"Wrote {target}"
    assert "的母亲，是其法定监护人" in target.read_text(encoding="utf-8")
    assert cli("notice", "preview", str(number), "order_to_correct", "--set", "x").exit_code == 2


def test_cli_preview_refuses_a_field_the_case_lacks(cli) -> None:
    number = cli_persuading(cli)
    result = cli("notice", "preview", str(number), "persuasion_notice")
    assert result.exit_code == 2
    assert f"guardian.name: no guardian recorded for case {number}; record one" in result.stderr
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_cli_letter_queues_once_and_print_collects(cli, workspace) -> None:
    number = cli_case(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    subject = f"责令限期复学通知书（案件{number}）"
    # issue_order queued the order (notice 1) and its proof of service (notice 2).
    issued = cli("notice", "letter", str(number), "order_to_correct")
    assert issued.exit_code == 0, issued.stderr
    assert issued.stdout.startswith(
        f"Already queued notice 1 (KC-000001) to guardian:case/{number}/1: {subject}"
    )
    assert "Nothing new was queued" in issued.stdout
    assert cli("case", "note", str(number), "再次入户送达").exit_code == 0  # the case moves on
    grade = ("--set", "child.grade=七年级")  # a corrected letter: printed besides the first
    queued = cli("notice", "letter", str(number), "order_to_correct", *grade)
    assert queued.exit_code == 0, queued.stderr
    # A new notice (on PostgreSQL the refused insert above used up an id: 3 or 4).
    found = re.match(
        rf"Queued notice (\d+) \(KC-(\d{{6}})\) to guardian:case/{number}/1: ", queued.stdout
    )
    assert found is not None, queued.stdout
    notice_id = int(found.group(1))
    assert notice_id > 2 and int(found.group(2)) == notice_id
    assert queued.stdout.splitlines()[0].endswith(subject)
    assert "Nothing new was queued" not in queued.stdout
    again = cli("notice", "letter", str(number), "order_to_correct", *grade)
    assert again.stdout.startswith(f"Already queued notice {notice_id} (KC-{notice_id:06d})")
    assert "Nothing new was queued" in again.stdout
    target = workspace / "print.html"
    printed = cli("notice", "print", "--since", days_ago(0), "-o", str(target))
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout.startswith(f"Wrote 3 letter(s) to {target}")
    assert "break-after: page" in target.read_text(encoding="utf-8")
    assert cli("notice", "print").exit_code == 2  # -o is required


# ---------------------------------------------------------------------------------------
# workflow check: templates need only what their renderer supplies


def catalogue(**fields: tuple[str, ...]) -> TemplateCatalogue:
    declared = {template: frozenset(names) for template, names in fields.items()}
    return TemplateCatalogue(
        fields=declared,
        case_fields=CASE_FIELDS,
        sweep_fields={template: sweep_fields(names) for template, names in declared.items()},
        alert_fields=ALERT_FIELDS,
    )


def workflow_text(mutate) -> str:
    data = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
    mutate(data)
    return yaml.safe_dump(data, allow_unicode=True)


def problems(text: str, templates: TemplateCatalogue) -> list[str]:
    return [str(p) for p in parse_workflow(text, "w.yaml", templates)[1]]


def trigger_index(data: dict[str, Any], trigger: str) -> int:
    return next(i for i, t in enumerate(data["transitions"]) if t["trigger"] == trigger)


def test_the_shipped_workflow_and_templates_pass_the_full_check() -> None:
    files, found = check_workflow_files([DROPOUT])
    assert files == [DROPOUT] and found == []


def test_a_document_needing_a_field_a_case_cannot_supply_is_reported() -> None:
    data = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
    index = trigger_index(data, "issue_order")
    shipped = workflow_text(lambda d: None)
    templates = catalogue(
        order_to_correct=("today", "guardian.name", "guardian.relation", "case.number"),
        proof_of_service=("today", "service.document"),
        referral_letter=("today", "department.name"),
        deadline_reminder=("today", "case.number"),
        escalation_notice=("today", "escalation.cases", "escalation.level"),
        carer_notice=("document.date", "guardian.name"),
        persuasion_notice=("today",),
        parent_letter=("today",),
        monthly_report=("today",),
        at_risk_alert=("today", "alert.recorded"),
        reopen_notice=("today", "reopen.reason"),
        **dict.fromkeys(
            (
                "penalty_notice",
                "statement_record",
                "hearing_record",
                "penalty_decision",
                "demand_notice",
                "enforcement_application",
                "transfer_letter",
            ),
            ("document.date",),
        ),
    )
    assert problems(shipped, templates) == []
    without_relation = TemplateCatalogue(
        fields=templates.fields,
        case_fields=CASE_FIELDS - {"guardian.relation"},
        sweep_fields=templates.sweep_fields,
        alert_fields=templates.alert_fields,
    )
    assert problems(shipped, without_relation) == [
        f"w.yaml: transitions[{index}].documents: template 'order_to_correct' needs "
        "guardian.relation, which a case cannot supply"
    ]
    wider = TemplateCatalogue(
        fields={**templates.fields, "order_to_correct": frozenset({"today", "court.name", "a.b"})},
        case_fields=CASE_FIELDS,
        sweep_fields=templates.sweep_fields,
        alert_fields=templates.alert_fields,
    )
    assert problems(shipped, wider) == [
        f"w.yaml: transitions[{index}].documents: template 'order_to_correct' needs "
        "a.b, court.name, which a case cannot supply"
    ]


def test_a_unit_template_named_as_a_transition_document_is_reported() -> None:
    def name_escalation_notice(data: dict[str, Any]) -> None:
        data["transitions"][trigger_index(data, "issue_order")]["documents"] = ["escalation_notice"]

    found = [
        p
        for p in problems(workflow_text(name_escalation_notice), template_catalogue())
        if "documents" in p
    ]
    assert len(found) == 1
    assert found[0].endswith(
        "template 'escalation_notice' needs escalation.cases, escalation.level, which a case "
        "cannot supply"
    )


def test_a_rung_template_needing_what_the_sweep_does_not_supply_is_reported() -> None:
    def order_as_rung(data: dict[str, Any]) -> None:
        data["ladders"]["bureau"][0]["template"] = "order_to_correct"

    found = problems(workflow_text(order_as_rung), template_catalogue())
    assert found
    assert all("escalation[0].template: template 'order_to_correct' needs " in p for p in found)
    assert "guardian.name" in found[0] and "which the escalation sweep cannot supply" in found[0]
    assert {p.split(": ")[1] for p in found} == {
        f"states.{state}.escalation[0].template"
        for state in (
            "expert_assessment",
            "special_education",
            "closure_proposed",
            "transfer_proposed",
            "court_enforcement",
            "admonition",
        )
    }
    # A list template gets the list context only, a per-case one the case context only.
    mixed = catalogue(
        deadline_reminder=("today", "case.number", "escalation.level"),
        escalation_notice=("today", "escalation.cases", "case.number"),
        order_to_correct=("today",),
        proof_of_service=("today",),
        referral_letter=("today",),
    )
    reported = problems(workflow_text(lambda d: None), mixed)
    assert any(
        "'deadline_reminder' needs escalation.level, which the escalation" in p for p in reported
    )
    assert any("'escalation_notice' needs case.number, which the escalation" in p for p in reported)


def test_cli_workflow_check_fails_on_an_unsuppliable_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"

    def name_escalation_notice(data: dict[str, Any]) -> None:
        data["transitions"][trigger_index(data, "issue_order")]["documents"] = ["escalation_notice"]

    broken.write_text(workflow_text(name_escalation_notice), encoding="utf-8")
    result = CliRunner().invoke(app, ["workflow", "check", str(broken)])
    assert result.exit_code == 1
    assert "which a case cannot supply" in result.stderr
    ok = CliRunner().invoke(app, ["workflow", "check", str(DROPOUT)])
    assert ok.exit_code == 0, ok.stderr


def test_a_supplied_field_supplies_everything_below_it() -> None:
    supplied = frozenset({"escalation.cases", "today"})
    assert unsuppliable(["escalation.cases", "escalation.cases.number", "today"], supplied) == []
    assert unsuppliable(["escalation", "escalation.level", "todays"], supplied) == [
        "escalation",
        "escalation.level",
        "todays",
    ]


def test_the_sweep_fills_a_reminder_with_the_case_and_never_the_childs_name(ctx) -> None:
    number = open_case(ctx, with_guardian(), occurred_on=date(2026, 10, 9)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 10, 9))
    advance(
        ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 10, 9)
    )
    sweep(ctx)  # due Thu 29 October, swept Sun 29 November
    notices = [show(ctx, n.id) for n in outbox(ctx)]  # as `notify show` prints them
    reminder = next(n for n in notices if n.template == "deadline_reminder")
    text = text_of(reminder.body)
    for shown in (
        f"案件编号：{number}",
        "天堂镇人民政府：",
        f"（案件编号：{number}；天堂镇天堂村，学生张*华）目前处于“劝返中”环节",
        "本环节办理期限为2026年10月29日（已逾期31日）。",
        "本案“劝返中”环节已逾期31日（期限2026年10月29日），请立即办理。期限依据：",
        "本县控辍保学工作领导小组办公室\n2026年11月29日",
    ):
        assert shown in text, shown
    assert "暂定期限" not in text  # the deadline was counted with the year's calendar

    listing = next(n for n in notices if n.template == "escalation_notice")
    row = re.sub(r"\s+", " ", text_of(listing.body))
    masked_id = show_case(ctx, number)["child"]["id_number"]
    assert f"1 {number} 张*华 {masked_id} 天堂镇／天堂村 劝返中 2026年10月29日 31日" in row
    for notice in notices:
        assert "张小华" not in notice.body and child(2).id_number not in notice.body


def test_the_shipped_documents_of_transitions_need_only_case_fields() -> None:
    workflow = parse_workflow(DROPOUT.read_text(encoding="utf-8"), "dropout.yaml")[0]
    assert workflow is not None
    for template in {d for t in workflow.transitions for d in t.documents}:
        assert unsuppliable(render.declared_fields(template), CASE_FIELDS) == [], template
    for template in ("parent_letter", "persuasion_notice"):  # asked for by name
        assert set(render.declared_fields(template)) <= CASE_FIELDS, template


def test_the_grade_recorded_for_a_child_is_printed(ctx) -> None:
    number = ordered(ctx)
    with db.write(ctx.engine) as connection:
        connection.execute(update(CHILD).values(grade="七年级", class_name="（2）班"))
    html = preview(ctx, number, "persuasion_notice")
    assert "天堂小学七年级（2）班学生" in html
