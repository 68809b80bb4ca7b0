"""A caseworker's honest mistakes caught at the CLI: places and people checked against the
organisation in force, ages and dates checked against the child's birth, a field given
twice, and a mistaken closure undone (`case reopen`)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from caseflow.engine import Actor
from caseflow.errors import AccessDenied, InvalidInput
from caseflow.ids import make_id_number
from caseflow.roster import reference_date
from caseflow.services.cases import Checks, open_case, reopen
from caseflow.services.context import Context, open_context
from caseflow.services.org import apply_org
from caseflow.services.outbox import NOTICE
from caseflow.services.records import case_events
from caseflow.states import parse_workflow
from caseflow.timeline import replay
from tests.conftest import (
    CliInvoker,
    approved_closure,
    audit_trail,
    child,
    child_id_number,
    county_today,
    database_rows,
    days_ago,
    fixed_clock,
    open_case_by_cli,
)

# The test county's places and people besides the issuing units: 天堂镇 with two villages
# and a school, 峨岭街道, a head teacher of 七年级2班 and two people named 李明.
PLACES = """\
  - {id: eling, kind: township, name: 峨岭街道}
  - {id: tiantang-tiantang, kind: village, name: 天堂村, parent: tiantang}
  - {id: tiantang-longmen, kind: village, name: 龙门村, parent: tiantang}
  - {id: ttxx, kind: school, name: 天堂小学, parent: tiantang}
people:
  - {id: zhang-guanghai, name: 张光海, position: head_teacher, unit: ttxx,
     grade: 七年级, class: 2班}
  - {id: li-ming-a, name: 李明, position: head_teacher, unit: ttxx, grade: 七年级, class: 1班}
  - {id: li-ming-b, name: 李明, position: township_cadre, unit: tiantang}
"""


@pytest.fixture
def county(workspace: Path) -> Path:
    """The workspace with PLACES in its organisation in force."""
    org = workspace / "org.yaml"
    org.write_text(
        org.read_text(encoding="utf-8").replace("operators:\n", PLACES + "operators:\n", 1),
        encoding="utf-8",
    )
    context = open_context(workspace, clock=fixed_clock)
    try:
        apply_org(context)
    finally:
        context.engine.dispose()
    return workspace


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """These checks are read in the interface's default language, Chinese (the messages
    the issue quotes)."""
    monkeypatch.setenv("CASEFLOW_LANG", "zh")


@pytest.fixture
def town(county: Path) -> CliInvoker:
    return CliInvoker(county)


@pytest.fixture
def town_ctx(county: Path):  # type: ignore[no-untyped-def]
    context = open_context(county, clock=fixed_clock)
    yield context
    context.engine.dispose()


def opening(*extra: str, serial: int = 2, birth: date | None = None) -> list[str]:
    id_number = child_id_number(serial) if birth is None else make_id_number("520626", birth, 7)
    return [
        "case",
        "open",
        "--name",
        "张小华",
        "--id-number",
        id_number,
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
        "--date",
        days_ago(10),
        "--json",
        *extra,
    ]


def replaced(args: list[str], option: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(option) + 1] = value
    return args


def test_a_misspelt_township_is_refused_with_the_nearest_name(town, town_ctx) -> None:
    before = database_rows(town_ctx)
    result = town(*replaced(opening(), "--township", "峨岭镇"))
    assert result.exit_code == 2
    assert "乡镇“峨岭镇”不在本县组织机构中。您是否要找：峨岭街道？" in result.stderr
    assert "--unlisted" in result.stderr
    assert database_rows(town_ctx) == before


def test_an_unknown_village_or_school_is_refused_naming_the_known_ones(town, town_ctx) -> None:
    before = database_rows(town_ctx)
    village = town(*replaced(opening(), "--village", "天堂一村"))
    assert village.exit_code == 2
    assert "村“天堂一村”不在天堂镇的组织机构中" in village.stderr
    assert "天堂村" in village.stderr
    school = town(*opening("--school", "天堂中学"))
    assert school.exit_code == 2
    assert "学校“天堂中学”不在本县组织机构中" in school.stderr
    assert "天堂小学" in school.stderr
    assert database_rows(town_ctx) == before


def test_an_unlisted_place_is_accepted_with_a_warning_and_recorded(town, town_ctx) -> None:
    result = town(*replaced(opening("--unlisted"), "--village", "新村"))
    assert result.exit_code == 0, result.stderr
    assert "提示：村“新村”不在本县组织机构中，已按 --unlisted 登记" in result.stderr
    number = json.loads(result.stdout)["number"]
    (opened,) = [e for e in audit_trail(town_ctx, number) if e["action"] == "case.open"]
    assert opened["payload"]["unlisted"] == [{"kind": "village", "name": "新村"}]


def test_places_match_whatever_their_width_and_spaces(town) -> None:
    number = json.loads(town(*replaced(opening(), "--village", " 天堂村 ")).stdout)["number"]
    shown = json.loads(town("case", "show", str(number), "--json").stdout)
    assert shown["child"]["village"] == "天堂村"


def test_a_class_written_with_full_width_brackets_finds_its_head_teacher(town) -> None:
    number = json.loads(town(*opening("--school", "天堂小学")).stdout)["number"]
    result = town("case", "update", str(number), "--grade", "七年级", "--class", "（２）班")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(town("case", "show", str(number), "--json").stdout)
    chain = {link["role"]: link["person"] for link in shown["chain"]}
    assert chain["head_teacher"] == "zhang-guanghai"


def test_an_update_to_an_unknown_school_is_refused_unless_unlisted(town, town_ctx) -> None:
    number = json.loads(town(*opening()).stdout)["number"]
    refused = town("case", "update", str(number), "--school", "天堂小校")
    assert refused.exit_code == 2
    assert "您是否要找：天堂小学？" in refused.stderr
    accepted = town("case", "update", str(number), "--school", "天堂小校", "--unlisted")
    assert accepted.exit_code == 0, accepted.stderr
    assert "学校“天堂小校”" in accepted.stderr
    (update,) = [e for e in audit_trail(town_ctx, number) if e["action"] == "case.update"]
    assert update["payload"]["unlisted"] == [{"kind": "school", "name": "天堂小校"}]


def years_old(age: int) -> date:
    """A birth date making a child ``age`` on the reference date of today's school year."""
    reference = reference_date(county_today() - timedelta(days=10))
    return reference.replace(year=reference.year - age) - timedelta(days=30)


@pytest.mark.parametrize("age", [36, 1, 16, 5])
def test_a_child_outside_the_compulsory_ages_is_refused(cli, ctx, age) -> None:
    before = database_rows(ctx)
    result = cli(*opening(birth=years_old(age)))
    assert result.exit_code == 2
    assert f"为{age}周岁，不在义务教育年龄段（6至15周岁）内" in result.stderr
    assert "--age-exception" in result.stderr
    assert database_rows(ctx) == before


@pytest.mark.parametrize("age", [6, 15])
def test_a_child_at_either_end_of_the_compulsory_ages_is_accepted(cli, age) -> None:
    assert cli(*opening(birth=years_old(age))).exit_code == 0


def test_an_age_exception_is_accepted_and_its_reason_recorded(cli, ctx) -> None:
    result = cli(*opening("--age-exception", "超龄就读，仍在初中在读", birth=years_old(16)))
    assert result.exit_code == 0, result.stderr
    number = json.loads(result.stdout)["number"]
    (opened,) = [e for e in audit_trail(ctx, number) if e["action"] == "case.open"]
    assert opened["payload"]["age_exception"]["reason"] == "超龄就读，仍在初中在读"
    assert opened["payload"]["age_exception"]["age"] == 16


def test_a_date_before_the_childs_birth_is_refused(cli, ctx) -> None:
    before = database_rows(ctx)
    result = cli(*replaced(opening(), "--date", "2000-01-01"))
    assert result.exit_code == 2
    assert "2000年1月1日早于该儿童的出生日期" in result.stderr
    assert database_rows(ctx) == before


def test_the_roster_comparison_path_opens_cases_unchecked(ctx) -> None:
    # No `Checks`: places the organisation does not list are the comparison's 待核实.
    step = open_case(ctx, child(township="待核实", village="待核实"))
    assert step.state == "identified"
    with pytest.raises(InvalidInput, match="不在本县组织机构中"):
        open_case(ctx, child(serial=3, township="别的镇"), checks=Checks())


def test_a_field_given_twice_with_set_is_refused_naming_it(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    cli("case", "advance", str(number), "start_verification", "--date", days_ago(9))
    before = database_rows(ctx)
    result = cli(
        "case", "advance", str(number), "confirm_dropout",
        "--set", "reason=learning", "--set", "reason=poverty",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "字段“reason”用 --set 给出了两次" in result.stderr
    assert database_rows(ctx) == before


def test_assign_accepts_a_name_unique_in_the_organisation(town) -> None:
    number = json.loads(town(*opening("--school", "天堂小学")).stdout)["number"]
    result = town("case", "assign", str(number), "head_teacher", "张光海")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(town("case", "show", str(number), "--json").stdout)
    chain = {link["role"]: link["person"] for link in shown["chain"]}
    assert chain["head_teacher"] == "zhang-guanghai"


def test_assign_refuses_an_ambiguous_name_listing_the_candidates(town, town_ctx) -> None:
    number = json.loads(town(*opening("--school", "天堂小学")).stdout)["number"]
    before = database_rows(town_ctx)
    result = town("--lang", "zh", "case", "assign", str(number), "head_teacher", "李明")
    assert result.exit_code == 2
    assert "本县组织机构中有2人名为“李明”" in result.stderr
    assert "天堂小学班主任李明（编号 li-ming-a）" in result.stderr
    assert "李明（编号 li-ming-b）" in result.stderr
    assert database_rows(town_ctx) == before


# ---------------------------------------------------------------------------------------
# Undoing a closure


def closed_case(cli: CliInvoker, ctx: Context) -> int:
    """A case verified, then closed by mistake (proposed and approved)."""
    number = open_case_by_cli(cli)
    assert cli("case", "advance", str(number), "start_verification", "--date", days_ago(9))
    approved_closure(
        ctx, number, "register_error", "核对户籍后确认", occurred_on=county_today() - timedelta(8)
    )
    assert json.loads(cli("case", "show", str(number), "--json").stdout)["is_open"] is False
    return number


def test_reopen_brings_a_closed_case_back_to_its_state_before_the_closure(cli, ctx) -> None:
    number = closed_case(cli, ctx)
    result = cli("case", "reopen", str(number), "--reason", "误将在读学生销号")
    assert result.exit_code == 0, result.stderr
    assert f"案件{number}已撤销销号，恢复为“" in result.stdout
    shown = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert shown["state"] == "verifying"
    assert shown["is_open"] is True
    assert shown["due_on"] is not None
    (event,) = [e for e in audit_trail(ctx, number) if e["action"] == "case.reopen"]
    assert event["payload"]["reason"] == "误将在读学生销号"
    assert (event["payload"]["from"], event["payload"]["to"]) == ("closed", "verifying")
    # The case can be worked on again.
    confirmed = cli("case", "advance", str(number), "confirm_dropout", "--set", "reason=learning")
    assert confirmed.exit_code == 0, confirmed.stderr


def test_reopen_queues_its_own_notice_to_the_chain(cli, ctx) -> None:
    number = closed_case(cli, ctx)
    cli("case", "reopen", str(number), "--reason", "误将在读学生销号")
    with ctx.engine.connect() as connection:
        notices = connection.execute(
            select(NOTICE.c.template, NOTICE.c.body).where(NOTICE.c.template == "reopen_notice")
        ).all()
    assert notices
    assert all("误将在读学生销号" in n.body and "撤销" in n.body for n in notices)
    assert all("张小华" not in n.body for n in notices)  # the child's name is masked


def test_the_timeline_counts_a_reopened_case_open_again(cli, ctx) -> None:
    number = closed_case(cli, ctx)
    cli("case", "reopen", str(number), "--reason", "误将在读学生销号")
    with ctx.engine.connect() as connection:
        events = case_events(connection, [number])[number]
    line = replay(events, ctx.current_workflow)
    assert line.is_open is True
    assert line.state == "verifying"
    assert [s.state for s in line.stays][-2:] == ["closed", "verifying"]
    before = replay(events, ctx.current_workflow, until=county_today() - timedelta(days=1))
    assert before.is_open is False


def test_reopen_refuses_an_open_case_and_changes_nothing(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    before = database_rows(ctx)
    result = cli("case", "reopen", str(number), "--reason", "测试")
    assert result.exit_code == 2
    assert "不是可撤销的销号状态" in result.stderr
    assert database_rows(ctx) == before


def test_reopen_needs_a_role_the_workflow_names(cli, ctx) -> None:
    number = closed_case(cli, ctx)
    caseworker = Context(
        ctx.workspace, ctx.engine, Actor("天堂镇专干", "tt", frozenset({"caseworker"})),
        ctx.clock, ctx.calendar,
    )  # fmt: skip
    before = database_rows(ctx, but_audit=True)
    with pytest.raises(AccessDenied, match="无权撤销销号"):
        reopen(caseworker, number, "测试")
    assert database_rows(ctx, but_audit=True) == before


def test_reopen_needs_a_reason(cli, ctx) -> None:
    number = closed_case(cli, ctx)
    result = cli("case", "reopen", str(number), "--reason", "  ")
    assert result.exit_code == 2
    assert "须用 --reason 说明理由" in result.stderr


def test_the_workflow_file_declares_who_may_reopen() -> None:
    text = Path("workflows/dropout.yaml").read_text(encoding="utf-8")
    workflow, problems = parse_workflow(text, "dropout.yaml")
    assert not problems and workflow is not None
    assert workflow.reopen.roles == ("bureau",)
    assert workflow.reopen.categories == ("closed",)
    wrong = text.replace("  categories: [closed]\n", "  categories: [monitoring]\n", 1)
    _, problems = parse_workflow(
        wrong.replace("roles: [bureau]\n  categories", "roles: [nobody]\n  categories", 1), "x"
    )
    paths = {p.path for p in problems}
    assert {"reopen.roles", "reopen.categories"} <= paths
