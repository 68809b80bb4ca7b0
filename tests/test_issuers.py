"""Who issues each document and to whom it is written: the order authority the county
configures, the township's own form of government, each legal guardian with a proof of
service of their own, a notice to an entrusted carer, and the date of the decision."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from caseflow import db
from caseflow.errors import InvalidInput, TransitionRefused, WorkspaceError
from caseflow.models import Notice
from caseflow.org import parse_org
from caseflow.services.cases import GuardianDetails, add_guardian, advance, open_case, show_case
from caseflow.services.context import Context, open_context
from caseflow.services.org import apply_org
from caseflow.services.workflows import template_catalogue
from caseflow.states import parse_workflow
from caseflow.workspace import load
from tests.conftest import CliInvoker, audit_trail, child, fixed_clock

NOTICE = Notice.__table__  # type: ignore[attr-defined]
DROPOUT = Path(__file__).resolve().parents[1] / "workflows" / "dropout.yaml"
ORDER_NUMBER = "天府〔2026〕3号"


def text_of(html: str) -> str:
    """The printed text: the body without its tags (the head's title and style dropped)."""
    body = re.sub(r"<head>.*</head>", "", html, flags=re.S)
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", body))


def letters(ctx: Context) -> list[Any]:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(NOTICE).order_by(NOTICE.c.id)).all())


def persuading(ctx: Context, details: Any, day: date = date(2026, 11, 2)) -> int:
    number = open_case(ctx, details, occurred_on=day).number
    advance(ctx, number, "start_verification", occurred_on=day)
    advance(ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=day)
    return number


def left_behind(ctx: Context) -> int:
    """A left-behind child: the grandmother cares for her; both parents work away."""
    number = persuading(ctx, child(2, guardian_name="王秀英", guardian_relation="祖母"))
    for name, relation in (("张大山", "父亲"), ("李小红", "母亲")):
        person = GuardianDetails(name=name, relation=relation, workplace="浙江省宁波市")
        add_guardian(ctx, number, person, occurred_on=date(2026, 11, 3))
    return number


def test_a_left_behind_childs_parents_each_get_an_order_and_a_proof_the_carer_a_notice(
    ctx,
) -> None:
    number = left_behind(ctx)
    shown = show_case(ctx, number)
    assert [(g["name"], g["capacity_label"]) for g in shown["guardians"]] == [
        ("王秀英", "被委托照护人"),
        ("张大山", "法定监护人"),
        ("李小红", "法定监护人"),
    ]
    advance(
        ctx,
        number,
        "issue_order",
        {"document_number": ORDER_NUMBER},
        occurred_on=date(2026, 11, 20),
    )
    sent = [(n.template, text_of(n.body)) for n in letters(ctx)]
    assert [template for template, _ in sent] == [
        "order_to_correct",
        "order_to_correct",
        "proof_of_service",
        "proof_of_service",
        "carer_notice",
    ]
    father, mother = sent[0][1], sent[1][1]
    assert "张大山：" in father and "的父亲，是其法定监护人。" in father
    assert "李小红：" in mother and "的母亲，是其法定监护人。" in mother
    for order in (father, mother):
        assert order.startswith("天堂镇人民政府") or "天堂镇人民政府责令限期复学通知书" in order
        assert "王秀英" not in order and "祖母" not in order
        assert "天堂镇人民政府（盖章）2026年11月20日" in order  # the decision's date
        assert "收到本通知书之日起十五日内" in order
        assert "7至15日" not in order and "2026年12月" not in order  # no computed date
    proofs = [body for template, body in sent if template == "proof_of_service"]
    assert "张大山" in proofs[0] and "李小红" in proofs[1]
    assert all("送达机关天堂镇人民政府" in proof and ORDER_NUMBER in proof for proof in proofs)
    carer = sent[4][1]
    assert "王秀英：" in carer and "的祖母，受其监护人委托照护" in carer
    assert "张大山（父亲）、李小红（母亲）作出《责令限期复学通知书》" in carer
    assert "你的子女" not in carer and "是其法定监护人" not in carer
    keys = {n.key for n in letters(ctx)}
    assert len(keys) == 5  # each its own document, once


def test_an_order_with_no_issuer_configured_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    from caseflow.services.context import init_workspace

    root = tmp_path / "unset"
    init_workspace(root, None, clock=fixed_clock)
    ctx = open_context(root, clock=fixed_clock)
    try:
        number = persuading(ctx, child(2, guardian_name="张大山", guardian_relation="父亲"))
        before = show_case(ctx, number)
        events = len(audit_trail(ctx))
        with pytest.raises(TransitionRefused) as caught:
            advance(ctx, number, "issue_order", {"document_number": "1"})
        assert '[procedure] order_issuer = "township"' in caught.value.message
        assert "caseflow.toml" in caught.value.message
        assert show_case(ctx, number)["version"] == before["version"]
        assert [e["action"] for e in audit_trail(ctx)[events:]] == ["case.read"]
        assert letters(ctx) == []
    finally:
        ctx.engine.dispose()


def street_org(os_user: str, county: str = "本县") -> str:
    return yaml.safe_dump(
        {
            "county": county,
            "units": [
                {"id": "gov", "kind": "county_government", "name": "本县人民政府办公室"},
                {
                    "id": "bureau",
                    "kind": "education_bureau",
                    "name": "本县教育和科技局",
                    "parent": "gov",
                    "reference_prefix": "本教",
                    "contact_person": "王某某",
                    "contact_phone": "0856-6221234",
                },
                {
                    "id": "eling",
                    "kind": "township",
                    "name": "峨岭街道",
                    "parent": "gov",
                    "seal": "本县人民政府峨岭街道办事处",
                    "reference_prefix": "峨办",
                    "contact_person": "赵某某",
                    "contact_phone": "0856-6229876",
                },
            ],
            "operators": [
                {
                    "name": "admin",
                    "os_user": os_user,
                    "roles": ["bureau", "admin"],
                    "unit": "bureau",
                }
            ],
        },
        allow_unicode=True,
    )


def test_a_street_office_issues_the_order_in_its_own_name(ctx, workspace: Path) -> None:
    (workspace / "org.yaml").write_text(street_org(ctx.actor.os_user), encoding="utf-8")
    apply_org(ctx)
    number = persuading(
        ctx,
        child(2, township="峨岭街道", guardian_name="张大山", guardian_relation="父亲"),
    )
    advance(ctx, number, "issue_order", {"document_number": "峨办〔2026〕1号"})
    order = text_of(letters(ctx)[0].body)
    assert order.startswith("峨岭街道办事处") or "峨岭街道办事处责令限期复学通知书" in order
    assert "街道人民政府" not in order
    assert "本县人民政府峨岭街道办事处（盖章）" in order  # its own seal line


def test_the_education_bureau_issues_orders_where_the_county_says_so(workspace: Path) -> None:
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'order_issuer = "township"', 'order_issuer = "education_bureau"'
        ),
        encoding="utf-8",
    )
    ctx = open_context(workspace, clock=fixed_clock)
    try:
        (workspace / "org.yaml").write_text(street_org(ctx.actor.os_user), encoding="utf-8")
        apply_org(ctx)
        number = persuading(ctx, child(2, guardian_name="张大山", guardian_relation="父亲"))
        advance(ctx, number, "issue_order", {"document_number": "本教〔2026〕1号"})
        order, proof = (text_of(n.body) for n in letters(ctx))
        assert "本县教育和科技局（盖章）" in order
        assert "送达机关本县教育和科技局" in proof
    finally:
        ctx.engine.dispose()


def test_an_order_issuer_the_county_cannot_choose_is_refused(workspace: Path) -> None:
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'order_issuer = "township"', 'order_issuer = "leading_group"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(WorkspaceError, match=r"procedure\.order_issuer is 'leading_group'; choose"):
        load(workspace)


def test_a_procedure_setting_caseflow_does_not_know_is_refused(workspace: Path) -> None:
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'order_issuer = "township"', 'order_issuer = "township"\norder_isuer = "township"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(WorkspaceError, match=r"procedure\.order_isuer is not a setting; known: "):
        load(workspace)


ADMINISTRATIVE_DOCUMENTS = (
    "order_to_correct",
    "penalty_notice",
    "statement_record",
    "hearing_record",
    "penalty_decision",
    "demand_notice",
    "enforcement_application",
)


def test_workflow_check_refuses_an_order_signed_by_the_leading_group_office() -> None:
    shipped = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
    assert {
        template for template, spec in shipped["documents"].items() if spec.get("administrative")
    } == set(ADMINISTRATIVE_DOCUMENTS)
    for template in ADMINISTRATIVE_DOCUMENTS:
        data = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
        data["documents"][template]["issuer"] = "leading_group_office"
        found = [
            str(p) for p in parse_workflow(yaml.safe_dump(data, allow_unicode=True), "w.yaml")[1]
        ]
        assert found == [
            f"w.yaml: documents.{template}.issuer: 'leading_group_office' (县控辍保学工作领导"
            "小组办公室) may not issue an administrative document; only an administrative "
            "authority may (义务教育法第五十八条): education_bureau, order_authority, "
            "township_government"
        ]
    data = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
    del data["documents"]["proof_of_service"]
    found = [str(p) for p in parse_workflow(yaml.safe_dump(data, allow_unicode=True), "w.yaml")[1]]
    serving = ["issue_order", "propose_penalty", "decide_penalty", "decide_after_hearing"]
    assert len(found) == len([*serving, "issue_demand"])
    assert all("'proof_of_service' is not declared under `documents:`" in p for p in found)


def test_workflow_check_refuses_a_document_field_its_step_does_not_record() -> None:
    data = yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))
    propose = next(t for t in data["transitions"] if t["trigger"] == "propose_penalty")
    del propose["fields"]["proposed_penalty"]
    source = yaml.safe_dump(data, allow_unicode=True)
    found = [str(p) for p in parse_workflow(source, "w.yaml", template_catalogue())[1]]
    assert len(found) == 1
    assert "template 'penalty_notice' needs step.proposed_penalty, which a case" in found[0]


def test_a_township_whose_name_does_not_say_its_form_must_declare_it() -> None:
    text = yaml.safe_dump(
        {"units": [{"id": "c", "kind": "township", "name": "城关"}]}, allow_unicode=True
    )
    problems = [str(p) for p in parse_org(text, "org.yaml", departments=None)[1]]
    assert len(problems) == 1 and "units[0].form: is required" in problems[0]
    wrong = text.replace("name: 城关", "name: 峨岭街道\n  form: 镇")
    problems = [str(p) for p in parse_org(wrong, "org.yaml", departments=None)[1]]
    assert problems == ["org.yaml: units[0].form: is '镇', but the name '峨岭街道' is a 街道"]


def test_a_grandparent_is_a_legal_guardian_only_with_the_grounds_recorded(ctx) -> None:
    number = persuading(ctx, child(2))
    with pytest.raises(InvalidInput, match="民法典第二十七条"):
        add_guardian(ctx, number, GuardianDetails(name="王秀英", relation="祖母"))
    with pytest.raises(InvalidInput, match="legal guardian"):
        add_guardian(ctx, number, GuardianDetails(name="张大山", relation="父亲", carer=True))
    add_guardian(
        ctx,
        number,
        GuardianDetails(name="王秀英", relation="祖母", legal_basis="父母均已死亡"),
    )
    advance(ctx, number, "issue_order", {"document_number": ORDER_NUMBER})
    order, _proof = (text_of(n.body) for n in letters(ctx))
    assert "的祖母，依法担任其监护人（父母均已死亡）。" in order


def test_cli_records_guardians_and_case_show_lists_their_capacity(cli: CliInvoker) -> None:
    from tests.conftest import open_case_by_cli

    number = open_case_by_cli(cli)
    base = ("case", "guardian", "add", str(number))
    refused = cli(*base, "--name", "王秀英", "--relation", "祖母")
    assert refused.exit_code == 2 and "--carer" in refused.stderr
    assert cli(*base, "--name", "王秀英", "--relation", "祖母", "--carer").exit_code == 0
    assert cli(*base, "--name", "张大山", "--relation", "父亲").exit_code == 0
    shown = cli("--lang", "zh", "case", "show", str(number)).stdout
    assert "  监护人：王秀英 祖母 被委托照护人\n" in shown
    assert "  监护人：张大山 父亲 法定监护人\n" in shown
