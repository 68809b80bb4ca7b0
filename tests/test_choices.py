"""Chinese accepted wherever a code is: a caseworker types 开始核查, 劝返中, 外出务工, 电话,
班主任 or 留守 (in full-width or half-width forms, with stray spaces) where the code is
start_verification, persuasion, migrant_work, phone, head_teacher or left_behind; an unknown
value is refused (exit 2) with the choices as 「中文（code）」 and changes nothing."""

from __future__ import annotations

import json

import pytest

from caseflow.choices import choices_text, normalised, resolve
from caseflow.errors import InvalidInput
from caseflow.services.context import Context
from tests.conftest import CliInvoker, child_id_number, database_rows, open_case_by_cli

METHODS = {"visit": "入户走访", "phone": "电话", "wechat": "微信"}


@pytest.mark.parametrize("typed", ["phone", "ｐｈｏｎｅ", " phone ", "电话", "电 话", "电话\u3000"])
def test_a_code_or_its_label_in_any_width_and_spacing_gives_the_code(typed: str) -> None:
    assert resolve(typed, METHODS, what="Method") == "phone"


def test_a_code_in_capitals_is_not_the_code() -> None:
    with pytest.raises(InvalidInput):
        resolve("PHONE", METHODS, what="Method")


def test_full_width_brackets_and_digits_match_their_half_width_forms() -> None:
    assert normalised("（２）班") == normalised("(2)班") == "(2)班"


def test_an_unknown_value_is_refused_with_each_choice_as_chinese_then_code() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve("传真", METHODS, what="Method")
    assert refused.value.exit_code == 2
    assert "「入户走访（visit）」、「电话（phone）」、「微信（wechat）」" in refused.value.message
    assert "传真" in refused.value.message


def test_a_label_two_codes_share_is_refused_naming_both() -> None:
    with pytest.raises(InvalidInput, match="「核查（a）」、「核查（b）」"):
        resolve("核查", {"a": "核查", "b": "核查", "c": "其他"}, what="Transition")


def test_choices_text_shows_a_code_without_a_label_alone() -> None:
    assert choices_text({"x": "", "y": "乙"}) == "「x」、「乙（y）」"


def _json(result_stdout: str) -> dict:  # type: ignore[type-arg]
    return json.loads(result_stdout)  # type: ignore[no-any-return]


def test_case_advance_takes_the_transition_by_its_chinese_label(cli: CliInvoker) -> None:
    number = open_case_by_cli(cli)
    advanced = cli("case", "advance", str(number), "开始核查", "--json")
    assert advanced.exit_code == 0, advanced.stderr
    assert _json(advanced.stdout)["state"] == "verifying"
    history = _json(cli("case", "history", str(number), "--json").stdout)
    assert history[-1]["payload"]["trigger"] == "start_verification"


def test_case_advance_refuses_an_unknown_transition_with_those_of_the_state(
    cli: CliInvoker, ctx: Context
) -> None:
    number = open_case_by_cli(cli)
    before = database_rows(ctx)
    refused = cli("case", "advance", str(number), "开始核对")
    assert refused.exit_code == 2
    assert "「开始核查（start_verification）」" in refused.stderr
    assert "「确认辍学（confirm_dropout）」" not in refused.stderr  # not from 疑似失学辍学
    assert database_rows(ctx) == before


def test_case_list_state_takes_the_chinese_label(cli: CliInvoker) -> None:
    opened = open_case_by_cli(cli)
    verifying = open_case_by_cli(cli, 3)
    assert cli("case", "advance", str(verifying), "start_verification").exit_code == 0
    listed = cli("case", "list", "--state", "核查中", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [row["number"] for row in _json(listed.stdout)] == [verifying]
    listed = cli("case", "list", "--state", " 疑似失学辍学 ", "--json")
    assert [row["number"] for row in _json(listed.stdout)] == [opened]


def test_case_list_refuses_an_unknown_state_instead_of_finding_no_case(cli: CliInvoker) -> None:
    open_case_by_cli(cli)
    refused = cli("case", "list", "--state", "foo")
    assert refused.exit_code == 2
    assert "No cases match" not in refused.stdout + refused.stderr
    assert "「劝返中（persuasion）」" in refused.stderr
    assert "「核查中（verifying）」" in refused.stderr


def test_case_open_takes_reasons_and_source_by_their_chinese_labels(cli: CliInvoker) -> None:
    number = open_case_by_cli(cli, 2, "--reason", "外出务工", "--reason", "厌学/学习困难")
    shown = _json(cli("case", "show", str(number), "--json").stdout)
    assert shown["reasons"] == ["migrant_work", "learning"]
    visited = open_case_by_cli(cli, 3, "--source", "入户走访")
    history = _json(cli("case", "history", str(visited), "--json").stdout)
    assert history[0]["payload"]["source"] == "visit"


def test_case_open_refuses_an_unknown_reason_and_opens_nothing(
    cli: CliInvoker, ctx: Context
) -> None:
    before = database_rows(ctx)
    refused = cli(
        "case",
        "open",
        "--name",
        "张小华",
        "--id-number",
        child_id_number(2),
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
        "--reason",
        "打工",
    )
    assert refused.exit_code == 2
    assert "「外出务工（migrant_work）」" in refused.stderr
    assert database_rows(ctx) == before


def test_case_note_takes_the_method_by_its_chinese_label(cli: CliInvoker, ctx: Context) -> None:
    number = open_case_by_cli(cli)
    noted = cli("case", "note", str(number), "电话联系其母亲，同意返校", "--method", "电话")
    assert noted.exit_code == 0, noted.stderr
    history = _json(cli("case", "history", str(number), "--json").stdout)
    assert history[-1]["payload"]["method"] == "phone"
    before = database_rows(ctx)
    refused = cli("case", "note", str(number), "发了传真", "--method", "传真")
    assert refused.exit_code == 2
    assert "「电话（phone）」" in refused.stderr
    assert database_rows(ctx) == before


def test_case_update_takes_a_special_group_typed_with_spaces_or_full_width(
    cli: CliInvoker,
) -> None:
    number = open_case_by_cli(cli)
    updated = cli(
        "case", "update", str(number), "--special-group", "留 守", "--special-group", "ｉｌｌ"
    )
    assert updated.exit_code == 0, updated.stderr
    shown = _json(cli("case", "show", str(number), "--json").stdout)
    assert sorted(g["label"] for g in shown["special_groups"]) == ["患病", "留守"]
    listed = cli("case", "list", "--special-group", "留守", "--json")
    assert [row["number"] for row in _json(listed.stdout)] == [number]


def test_case_assign_refuses_an_unknown_role_with_the_chain_roles(
    cli: CliInvoker, ctx: Context
) -> None:
    number = open_case_by_cli(cli)
    before = database_rows(ctx)
    refused = cli("case", "assign", str(number), "班长", "someone")
    assert refused.exit_code == 2
    assert "「班主任（head_teacher）」" in refused.stderr
    assert database_rows(ctx) == before


def test_case_show_lists_the_values_a_field_takes_in_chinese_with_their_codes(
    cli: CliInvoker,
) -> None:
    number = open_case_by_cli(cli)
    assert cli("case", "advance", str(number), "开始核查").exit_code == 0
    shown = cli("--lang", "zh", "case", "show", str(number)).stdout
    confirm = next(line for line in shown.splitlines() if "confirm_dropout" in line)
    assert "--set reason=厌学/学习困难（learning）|外出务工（migrant_work）|" in confirm
    advanced = cli("case", "advance", str(number), "确认辍学", "--set", "reason=外出务工", "--json")
    assert advanced.exit_code == 0, advanced.stderr
    assert _json(advanced.stdout)["state"] == "persuasion"
