"""Printable documents: what a caseworker, a guardian or a department sees on paper."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

from caseflow import render
from caseflow.errors import InvalidInput

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

FULL_NAME = "张小华"
MASKED_NAME = "张*华"
UNMASKED_ID = "11010519491231002X"
MASKED_ID = "1101********002X"
PROVISIONAL_NOTE = "（暂定期限：该年度节假日安排尚未公布）"

EXPECTED_IDS = (
    "at_risk_alert",
    "carer_notice",
    "deadline_reminder",
    "demand_notice",
    "enforcement_application",
    "escalation_notice",
    "family_letter",
    "hearing_record",
    "monthly_report",
    "order_to_correct",
    "parent_letter",
    "penalty_decision",
    "penalty_notice",
    "persuasion_notice",
    "proof_of_service",
    "publicity_batch",
    "referral_letter",
    "reopen_notice",
    "statement_record",
    "transfer_letter",
)
REVIEW_BODY = "示例县人民政府"
COURT = "示例县人民法院"

# What a reader must find on each document (besides the issuing date).
HEADINGS: dict[str, tuple[str, ...]] = {
    "reopen_notice": (
        "控辍保学案件撤销销号（重新办理）通知",
        "2026-0042",
        MASKED_NAME,
        "已于2026年11月28日撤销“销号（非在控辍学）”，恢复为“核查中”，重新办理",
        "撤销理由</th><td>误将在读学生销号",
        "包保责任制",
    ),
    "at_risk_alert": (
        "复学学生辍学风险预警",
        "县人民政府教育督导室：",
        "2026-0042",
        MASKED_NAME,
        "2026年11月27日的复学回访发现该生有辍学倾向",
        "在校情况</th><td>有辍学倾向",
        "包保责任制",
    ),
    "deadline_reminder": ("控辍保学案件到期提醒", "2026-0042", "劝返中", "2026年12月1日"),
    "escalation_notice": (
        "控辍保学逾期督办通知",
        "第二级督办",
        "逾期天数",
        "下一级责任人",
        "13日",
        "（盖章）",
    ),
    "referral_letter": ("转介函", "县残疾人联合会：", "此函", "2026年12月8日前", "（盖章）"),
    "persuasion_notice": (
        "劝返复学通知书",
        "《中华人民共和国义务教育法》第五条、第十一条",
        "《中华人民共和国未成年人保护法》第十六条",
        "7日内（即2026年12月8日前）",
        "2026年11月2日",
        "（盖章）",
    ),
    "order_to_correct": (
        "责令限期复学通知书",
        "示教发〔2026〕15号",
        "第五十八条",
        "责令限期改正",
        f"六十日内向{REVIEW_BODY}申请行政复议",
        f"六个月内向{COURT}提起行政诉讼",
        "（盖章）",
    ),
    "penalty_notice": (
        "行政处罚事先告知书",
        "《示例省义务教育条例》第四十条",
        "罚款人民币二百元",
        "第四十四条、第四十五条",
        "五个工作日内",
        "你有权要求听证",
        "（盖章）",
    ),
    "statement_record": ("陈述申辩笔录", "张大山", "理由不成立，不予采纳", "陈述申辩人签名"),
    "hearing_record": ("听证笔录", "王主任", "当事人称已联系学校", "听证主持人签名"),
    "penalty_decision": (
        "行政处罚决定书",
        "当事人：张大山",
        "木黄镇金厂村三组张大山家",
        "送达回证、未返校证明",
        "处罚种类：罚款",
        "十五日内，到指定的银行或者通过电子支付系统缴纳罚款",
        f"六十日内向{REVIEW_BODY}申请行政复议",
        f"六个月内向{COURT}提起行政诉讼",
        "（盖章）",
    ),
    "demand_notice": ("催告书", "示教罚决〔2026〕3号", "陈述和申辩", f"向{COURT}申请强制执行"),
    "enforcement_application": (
        "强制执行申请书",
        f"{COURT}：",
        "被申请人：张大山（父亲）、李小红（母亲）",
        "第五十五条",
        "申请机关负责人（签名）",
    ),
    "transfer_letter": (
        "控辍保学学生转出函",
        "浙江省宁波市鄞州区教育行政部门：",
        "拟在鄞州区实验小学就读",
        "（盖章）",
    ),
    "carer_notice": (
        "控辍保学告知书",
        "受其监护人委托照护其生活和学习",
        "对张小华的法定监护人张大山（父亲）、李小红（母亲）作出《责令限期复学通知书》",
        "（示教发〔2026〕15号）",
        "未成年人保护法》第二十二条",
        "到木黄镇中学报到复学",
        "（盖章）",
    ),
    "proof_of_service": ("送达回证", "受送达人", "送达人签名", "示教发〔2026〕15号", "直接送达"),
    "parent_letter": (
        "致家长的一封信",
        "两免一补",
        "营养改善计划",
        "随班就读",
        "特殊教育学校",
        "送教上门",
        "回　执",
        "家长签名",
        "联系电话",
    ),
    "family_letter": (
        "致家长的一封信",
        "尊敬的张小华、张小明同学家长：",
        "两免一补",
        "送教上门",
        "回执由孩子交回班主任",
        "学生姓名：张小华　　学校：木黄镇中学　　班级：八年级（2）班",
        "学生姓名：张小明　　学校：木黄镇中心小学　　班级：三年级（1）班",
        "家长签名",
    ),
    "publicity_batch": (
        "致家长的一封信印制通知",
        "县人民政府教育督导室：",
        "2026年11月的《致家长的一封信》已按户印制完毕",
        "本单位共12户、15名适龄儿童少年",
        "campaigns/2026-11/致家长的一封信_2026年11月_学校_木黄镇中学.html",
        "组织班主任发给学生带交家长",
    ),
    "monthly_report": (
        "控辍保学工作月报",
        "县人民政府教育督导室",
        "2026年11月1日至2026年11月30日",
        "劝返中",
        "木黄镇",
        "合计",
    ),
}


def sample_context() -> dict[str, Any]:
    """Every field a template may ask for, with realistic values."""
    return {
        "today": date(2026, 11, 29),
        "document": {"date": date(2026, 11, 29)},
        "issuer": {
            "name": "示例县教育局",
            "seal": "示例县教育局",
            "reference": "示教发〔2026〕15号",
            "contact_person": "王某某",
            "contact_phone": "0856-6221234",
        },
        "recipient": {"name": "县人民政府教育督导室"},
        "case": {
            "number": "2026-0042",
            "state_label": "劝返中",
            "township": "木黄镇",
            "village": "金厂村",
            "school": "木黄镇中学",
            "opened_on": date(2026, 11, 5),
            "absent_since": date(2026, 11, 2),
            "due_on": date(2026, 12, 1),
            "due_provisional": False,
            "reasons": ["厌学/学习困难", "外出务工"],
        },
        "child": {
            "name": FULL_NAME,
            "masked_name": MASKED_NAME,
            "masked_id": MASKED_ID,
            # The number a document prints: masked, but in a letter to a department the
            # workflow gives the full number (child.id_disclosed: the engine's choice).
            "id_number": MASKED_ID,
            "id_disclosed": False,
            "sex": "男",
            "birth_date": date(2012, 3, 5),
            "grade": "八年级",
            "class_name": "（2）班",
        },
        "guardian": {
            "name": "张大山",
            "relation": "父亲",
            "phone": "13800000000",
            "is_parent": True,
            "legal_basis": "",
        },
        "legal_guardians": [
            {"name": "张大山", "relation": "父亲"},
            {"name": "李小红", "relation": "母亲"},
        ],
        "period": {"amount": 15, "unit_label": "日"},
        "deadline": {"days": 7, "date": date(2026, 12, 8)},
        "request": {"text": "请对该生进行残疾鉴定，确认残疾类别和等级，并指导安置。"},
        "department": {"name": "县残疾人联合会", "copied": ""},
        "transition": {
            "facts": [
                {"label": "用工单位", "value": "某某电子厂"},
                {"label": "用工地点", "value": "广东省东莞市长安镇"},
            ]
        },
        "service": {
            "document": "责令限期复学通知书",
            "document_number": "示教发〔2026〕15号",
            "place": "木黄镇金厂村三组张大山家",
            "method": "直接送达",
        },
        "step": {
            "facts": "逾期未送张小华返校复学。",
            "proposed_penalty": "罚款人民币二百元",
            "stated_by": "张大山",
            "stated_on": date(2026, 11, 20),
            "statement": "外出务工无人接送",
            "adopted": "理由不成立，不予采纳",
            "held_on": date(2026, 11, 25),
            "place": "木黄镇人民政府会议室",
            "presided_by": "王主任",
            "attended_by": "张大山、李小红",
            "record": "当事人称已联系学校",
            "evidence": "送达回证、未返校证明。",
            "penalty_kind": "罚款",
            "penalty": "罚款人民币二百元",
            "court": "",
        },
        "earlier": {
            "facts": "逾期未送张小华返校复学。",
            "document_number": "示教罚决〔2026〕3号",
            "penalty": "罚款人民币二百元",
            "receiving_county": "浙江省宁波市鄞州区",
            "receiving_school": "鄞州区实验小学",
        },
        "procedure": {
            "penalty_basis": "《示例省义务教育条例》第四十条",
            "penalty_hearing": "yes",
            "court": COURT,
        },
        "review": {"body": REVIEW_BODY},
        "escalation": {
            "level": 2,
            "cases": [
                {
                    "number": "2026-0042",
                    "name": FULL_NAME,  # never printed: the list uses masked names
                    "masked_name": MASKED_NAME,
                    "masked_id": MASKED_ID,
                    "township": "木黄镇",
                    "village": "金厂村",
                    "state_label": "劝返中",
                    "due_on": date(2026, 11, 16),
                    "days_overdue": 13,
                    "next_responsible": "木黄镇人民政府 李镇长",
                },
                {
                    "number": "2026-0051",
                    "masked_name": "王*",
                    "masked_id": "5222********1234",
                    "township": "天堂镇",
                    "village": "桂花村",
                    "state_label": "核查中",
                    "due_on": date(2026, 11, 20),
                    "days_overdue": 9,
                    "next_responsible": "天堂镇中心学校 赵校长",
                },
            ],
        },
        "report": {
            "period_start": date(2026, 11, 1),
            "period_end": date(2026, 11, 30),
            "by_state": [
                {"label": "疑似失学辍学", "count": 3},
                {"label": "核查中", "count": 5},
                {"label": "劝返中", "count": 4},
            ],
            "by_township": [
                {"township": "木黄镇", "open": 7, "returned": 2, "overdue": 1},
                {"township": "天堂镇", "open": 5, "returned": 1, "overdue": 0},
            ],
            "new": 6,
            "returned": 3,
            "retained": 2,
            "overdue": 1,
        },
        "school": {"name": "木黄镇中学"},
        "family": {
            "children": [
                {
                    "name": FULL_NAME,
                    "school": "木黄镇中学",
                    "grade": "八年级",
                    "class_name": "（2）班",
                },
                {
                    "name": "张小明",
                    "school": "木黄镇中心小学",
                    "grade": "三年级",
                    "class_name": "（1）班",
                },
            ],
            "return_via": "由孩子交回班主任",
        },
        "batch": {
            "month": "2026年11月",
            "families": 12,
            "children": 15,
            "file": "campaigns/2026-11/致家长的一封信_2026年11月_学校_木黄镇中学.html",
            "how": "组织班主任发给学生带交家长",
        },
        "reopen": {
            "date": date(2026, 11, 28),
            "from_label": "销号（非在控辍学）",
            "to_label": "核查中",
            "reason": "误将在读学生销号",
        },
        "alert": {
            "label": "复学回访",
            "date": date(2026, 11, 27),
            "recorded": [
                {"label": "在校情况", "value": "有辍学倾向"},
                {"label": "回访记录", "value": "连续两日未到校"},
            ],
        },
    }


def _all_pairs() -> Iterator[tuple[str, str]]:
    for template_id in render.template_ids(TEMPLATES):
        for field in render.declared_fields(template_id, TEMPLATES):
            yield template_id, field


def _lookup(context: Mapping[str, Any], field: str) -> Any:
    value: Any = context
    for part in field.split("."):
        value = value[part]
    return value


def _without(context: dict[str, Any], field: str) -> dict[str, Any]:
    pruned = copy.deepcopy(context)
    *parents, last = field.split(".")
    target = pruned
    for part in parents:
        target = target[part]
    del target[last]
    return pruned


def _only(context: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for field in fields:
        *parents, last = field.split(".")
        source: Any = context
        target = kept
        for part in parents:
            source = source[part]
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(source[last])
    return kept


def test_the_checkout_templates_folder_holds_every_document() -> None:
    assert render.templates_dir() == TEMPLATES
    assert render.template_ids() == EXPECTED_IDS
    assert set(HEADINGS) == set(EXPECTED_IDS)


@pytest.mark.parametrize("template_id", EXPECTED_IDS)
def test_each_document_shows_its_headings_and_dates_in_chinese(template_id: str) -> None:
    html = render.render(template_id, sample_context())
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html
    assert "2026年11月29日" in html  # today, as the signing date
    for heading in HEADINGS[template_id]:
        assert heading in html, heading
    assert "2026-11-29" not in html


@pytest.mark.parametrize("template_id", EXPECTED_IDS)
def test_each_document_prints_on_a4_without_fetching_anything(template_id: str) -> None:
    html = render.render(template_id, sample_context())
    assert "@page { size: A4; margin: 37mm 26mm 35mm 28mm; }" in html  # GB/T 9704-2012
    assert '"FangSong"' in html and '"Noto Serif CJK SC"' in html  # 仿宋, else a CJK serif
    lowered = html.lower()
    for forbidden in ("http://", "https://", "<link", "<script", "<img", "@import", "url(", "src="):
        assert forbidden not in lowered, forbidden


@pytest.mark.parametrize("template_id", EXPECTED_IDS)
def test_each_document_declares_fields_the_engine_can_supply(template_id: str) -> None:
    fields = render.declared_fields(template_id)
    assert fields
    assert "today" in fields or "document.date" in fields  # the date it is signed
    context = sample_context()
    for field in fields:
        _lookup(context, field)  # KeyError if the sample (i.e. the contract) lacks it


@pytest.mark.parametrize("template_id", EXPECTED_IDS)
def test_each_document_renders_from_its_declared_fields_alone(template_id: str) -> None:
    fields = render.declared_fields(template_id)
    html = render.render(template_id, _only(sample_context(), fields))
    assert HEADINGS[template_id][0] in html


@pytest.mark.parametrize(("template_id", "field"), list(_all_pairs()))
def test_a_missing_field_is_refused_by_name(template_id: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render.render(template_id, _without(sample_context(), field))
    assert template_id in caught.value.message
    assert field in caught.value.message


@pytest.mark.parametrize(("template_id", "field"), list(_all_pairs()))
def test_every_declared_field_is_really_used(template_id: str, field: str) -> None:
    # Bypass the declared-field check: given the fields it declares less this one, the
    # template itself must trip on the gap (the signature reads document.date where a
    # context has it, today where it does not).
    environment = render._environment(TEMPLATES)
    template = environment.get_template(template_id + render.TEMPLATE_SUFFIX)
    declared = _only(sample_context(), render.declared_fields(template_id, TEMPLATES))
    with pytest.raises(jinja2.UndefinedError):
        template.render(_without(declared, field))


def test_a_field_set_to_none_is_refused_rather_than_printed() -> None:
    context = sample_context()
    context["guardian"]["name"] = None
    with pytest.raises(InvalidInput, match=r"order_to_correct.*guardian\.name"):
        render.render("order_to_correct", context)


def test_a_missing_column_in_a_list_is_refused_naming_the_template() -> None:
    context = sample_context()
    del context["escalation"]["cases"][1]["days_overdue"]
    with pytest.raises(InvalidInput, match=r"escalation_notice.*days_overdue"):
        render.render("escalation_notice", context)


@pytest.mark.parametrize(
    "template_id",
    [t for t in EXPECTED_IDS if "child.name" in render.declared_fields(t, TEMPLATES)],
)
def test_markup_in_a_name_is_printed_as_text(template_id: str) -> None:
    context = sample_context()
    context["child"]["name"] = "<script>alert(1)</script>"
    html = render.render(template_id, context)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_provisional_due_date_is_flagged_on_the_reminder() -> None:
    context = sample_context()
    assert PROVISIONAL_NOTE not in render.render("deadline_reminder", context)
    context["case"]["due_provisional"] = True
    assert PROVISIONAL_NOTE in render.render("deadline_reminder", context)


def test_a_provisional_due_date_is_starred_in_the_escalation_list() -> None:
    context = sample_context()
    assert "暂定期限" not in render.render("escalation_notice", context)
    context["escalation"]["cases"][0]["due_provisional"] = True
    html = render.render("escalation_notice", context)
    assert "2026年11月16日*" in html
    assert "暂定期限：该年度节假日安排尚未公布" in html


def test_the_reminder_says_when_the_due_day_is_today_or_past() -> None:
    context = sample_context()
    context["case"]["due_on"] = date(2026, 11, 29)
    assert "（即今日）" in render.render("deadline_reminder", context)
    context["case"]["due_on"] = date(2026, 11, 26)
    assert "（已逾期3日）" in render.render("deadline_reminder", context)


def test_the_escalation_notice_lists_masked_names_only() -> None:
    html = render.render("escalation_notice", sample_context())
    assert FULL_NAME not in html
    assert MASKED_NAME in html
    assert "王*" in html
    assert "木黄镇人民政府 李镇长" in html


@pytest.mark.parametrize(
    "template_id", ["deadline_reminder", "escalation_notice", "monthly_report"]
)
def test_internal_documents_never_show_the_full_name(template_id: str) -> None:
    assert FULL_NAME not in render.render(template_id, sample_context())


def text_of(html: str) -> str:
    """The words a reader sees: tags and white space removed."""
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))


def disclosing_context() -> dict[str, Any]:
    """The sample as a letter to a department the workflow gives the full ID number."""
    context = sample_context()
    context["child"].update(id_number=UNMASKED_ID, id_disclosed=True)
    return context


@pytest.mark.parametrize("template_id", [t for t in EXPECTED_IDS if t != "referral_letter"])
def test_no_document_but_a_referral_shows_an_unmasked_id_or_the_birth_date(
    template_id: str,
) -> None:
    html = render.render(template_id, disclosing_context())
    assert UNMASKED_ID not in html
    assert "2012年3月5日" not in html  # the birth date is the hidden part of the mask


def test_a_referral_shows_the_full_id_only_where_the_engine_discloses_it() -> None:
    disclosed = text_of(render.render("referral_letter", disclosing_context()))
    assert f"公民身份号码{UNMASKED_ID}" in disclosed
    assert "所载完整公民身份号码系供贵单位依法核查之用" in disclosed
    masked = text_of(render.render("referral_letter", sample_context()))
    assert f"身份证号（脱敏）{MASKED_ID}" in masked and "公民身份号码" not in masked


def test_the_letters_to_the_guardian_and_department_use_the_full_name() -> None:
    for template_id in ("persuasion_notice", "order_to_correct", "referral_letter"):
        assert FULL_NAME in render.render(template_id, sample_context())


def test_the_order_leaves_a_blank_for_a_missing_reference_number() -> None:
    context = sample_context()
    context["issuer"]["reference"] = ""
    html = render.render("order_to_correct", context)
    assert "示教发" not in html
    assert "〔" in html and "号" in html


def test_the_order_gives_the_workflows_period_from_receipt_and_no_calendar_date() -> None:
    html = render.render("order_to_correct", sample_context())
    assert "责令你于收到本通知书之日起十五日内，送张小华到木黄镇中学报到复学" in html
    assert "2026年12月8日" not in html  # the period runs from service: no computed date
    assert "7至15日" not in html and "一般为" not in html  # practice is not the statute
    assert "你系适龄儿童少年张小华（男，身份证号：1101********002X）的父亲，是其法定监护人" in html


def test_an_order_to_a_guardian_other_than_a_parent_states_the_legal_basis() -> None:
    context = sample_context()
    context["guardian"].update(
        name="张奶奶", relation="祖母", is_parent=False, legal_basis="父母均已死亡"
    )
    html = render.render("order_to_correct", context)
    assert "的祖母，依法担任其监护人（父母均已死亡）。" in html
    assert "是其法定监护人" not in html
    assert "保证适龄被监护人按时入学" in html and "适龄子女" not in html


def test_a_notice_to_a_carer_never_calls_the_child_their_own() -> None:
    context = sample_context()
    context["guardian"].update(name="张奶奶", relation="祖母", is_parent=False)
    notice = render.render("persuasion_notice", context)
    assert "你照护的学生张小华" in notice and "你的子女" not in notice
    carer = render.render("carer_notice", context)
    assert "张奶奶：" in carer
    assert "你系适龄儿童少年张小华（男）的祖母，受其监护人委托照护其生活和学习" in carer
    assert "法定监护人" in carer and "是其法定监护人" not in carer


def test_the_parent_letter_has_a_receipt_below_a_cut_line() -> None:
    html = render.render("parent_letter", sample_context())
    cut = html.index('class="cut"')
    receipt = html[cut:]
    for label in ("学生姓名：张小华", "班级：八年级（2）班", "家长签名", "联系电话", "日期"):
        assert label in receipt, label
    assert "border-top: 1px dashed" in html


def test_the_monthly_report_adds_up_the_townships() -> None:
    html = render.render("monthly_report", sample_context())
    totals = re.findall(r"<th colspan=\"2\">合计</th>((?:<td class=\"num\">\d+</td>)+)", html)
    assert totals == [
        '<td class="num">12</td>',
        '<td class="num">12</td><td class="num">3</td><td class="num">1</td>',
    ]


def test_dates_print_the_way_offices_write_them() -> None:
    assert render.cn_date(date(2026, 11, 29)) == "2026年11月29日"
    assert render.cn_date(date(2027, 1, 5)) == "2027年1月5日"
    assert render.cn_date(datetime(2026, 3, 8, 14, 30)) == "2026年3月8日"


@pytest.mark.parametrize("value", [None, "2026-11-29", 20261129])
def test_a_date_that_is_not_a_date_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="cn_date needs a date"):
        render.cn_date(value)


def test_a_none_date_inside_a_list_is_refused_naming_the_template() -> None:
    context = sample_context()
    context["escalation"]["cases"][0]["due_on"] = None
    with pytest.raises(InvalidInput, match=r"escalation_notice.*cn_date needs a date, got None"):
        render.render("escalation_notice", context)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "零"),
        (1, "一"),
        (2, "二"),
        (10, "十"),
        (15, "十五"),
        (20, "二十"),
        (101, "一百零一"),
        (110, "一百一十"),
        (1010, "一千零一十"),
        (2026, "二千零二十六"),
        (10000, "一万"),
        (10001, "一万零一"),
        (150000, "十五万"),
        (12345678, "一千二百三十四万五千六百七十八"),
    ],
)
def test_numbers_in_chinese(number: int, text: str) -> None:
    assert render.cn_number(number) == text


@pytest.mark.parametrize("value", [-1, 10**8, True, 2.0, "3"])
def test_numbers_out_of_range_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="cn_number"):
        render.cn_number(value)


def test_an_unknown_template_is_refused_listing_the_known_ones() -> None:
    for bad in ("no_such_notice", "../templates/parent_letter", "_base", ""):
        with pytest.raises(InvalidInput, match="unknown template") as caught:
            render.render(bad, sample_context())
        assert "parent_letter" in caught.value.message


def test_a_dotted_name_reads_the_key_of_a_dict_even_one_named_like_a_method(
    tmp_path: Path,
) -> None:
    (tmp_path / "count.html.j2").write_text(
        "{# caseflow:fields today, row.items #}\n<p>{{ row.items }}；{{ row.number }}</p>\n",
        encoding="utf-8",
    )
    context = {"today": date(2026, 11, 29), "row": {"items": "三件", "number": 12}}
    assert render.render("count", context, tmp_path) == "<p>三件；12</p>"


def test_a_template_without_a_fields_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.html.j2").write_text("<p>{{ x }}</p>\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="caseflow:fields"):
        render.declared_fields("bare", tmp_path)
    with pytest.raises(InvalidInput, match="caseflow:fields"):
        render.render("bare", {"x": 1}, tmp_path)


@pytest.mark.parametrize(
    "header",
    ["{# caseflow:fields a, , b #}", "{# caseflow:fields a-b #}", "{# caseflow:fields a, a #}"],
)
def test_a_malformed_fields_header_is_refused(tmp_path: Path, header: str) -> None:
    (tmp_path / "odd.html.j2").write_text(header + "\n<p></p>\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="odd"):
        render.declared_fields("odd", tmp_path)


def test_another_templates_folder_can_be_used(tmp_path: Path) -> None:
    (tmp_path / "_layout.html.j2").write_text("<div>{% block b %}{% endblock %}</div>\n")
    (tmp_path / "note.html.j2").write_text(
        "{# caseflow:fields who.name, when #}\n"
        '{% extends "_layout.html.j2" %}\n'
        "{% block b %}{{ who.name }} {{ when|cn_date }}{% endblock %}\n",
        encoding="utf-8",
    )
    (tmp_path / "readme.txt").write_text("not a template")
    assert render.template_ids(tmp_path) == ("note",)
    assert render.declared_fields("note", tmp_path) == ("who.name", "when")
    html = render.render("note", {"who": {"name": "A&B"}, "when": date(2026, 2, 1)}, tmp_path)
    assert html.strip() == "<div>A&amp;B 2026年2月1日</div>"


def test_a_syntax_error_in_a_template_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.html.j2").write_text(
        "{# caseflow:fields x #}\n{% if x %}\n", encoding="utf-8"
    )
    with pytest.raises(InvalidInput, match="syntax error"):
        render.render("broken", {"x": 1}, tmp_path)


def test_a_missing_templates_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        render.template_ids(tmp_path / "nowhere")


def _folder(tmp_path: Path, layout: str, title: str) -> Path:
    tmp_path.mkdir(parents=True)
    (tmp_path / "_base.html.j2").write_text(
        f"<title>{{% block title %}}{{% endblock %}}</title>{layout}{{% block content %}}"
        "{% endblock %}",
        encoding="utf-8",
    )
    (tmp_path / "note.html.j2").write_text(
        "{# caseflow:fields today, case.number #}\n"
        '{% extends "_base.html.j2" %}'
        f"{{% block title %}}{title}{{% endblock %}}"
        "{% block content %}{{ case.number }} {{ today|cn_date }}{% endblock %}",
        encoding="utf-8",
    )
    return tmp_path


def test_the_source_hash_names_the_template_and_its_layout(tmp_path: Path) -> None:
    first = render.source_hash("note", _folder(tmp_path / "a", "<p>一</p>", "通知"))
    assert first == render.source_hash("note", _folder(tmp_path / "b", "<p>一</p>", "通知"))
    assert first != render.source_hash("note", _folder(tmp_path / "c", "<p>二</p>", "通知"))
    assert first != render.source_hash("note", _folder(tmp_path / "d", "<p>一</p>", "通告"))
    assert len({render.source_hash(t) for t in EXPECTED_IDS}) == len(EXPECTED_IDS)


def test_the_title_is_what_the_rendered_document_calls_itself(tmp_path: Path) -> None:
    context = {"today": date(2026, 11, 29), "case": {"number": 7}}
    for title in ("控辍保学案件到期提醒", "案件{{ case.number }}到期提醒"):
        folder = _folder(tmp_path / str(len(title)), "", title)
        html = render.render("note", context, folder)
        assert f"<title>{render.title('note', context, folder)}</title>" in html
    assert render.title("note", context, folder) == "案件7到期提醒"
    for template_id in EXPECTED_IDS:
        html = render.render(template_id, sample_context())
        assert f"<title>{render.title(template_id, sample_context())}</title>" in html
