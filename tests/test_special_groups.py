"""Special groups on the child (特殊群体): set from the 扶贫 and 残疾人 registers and by
caseworkers, listed, counted in the statistics, shown in the ledgers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from caseflow import db, i18n
from caseflow.cli.present import stats_lines
from caseflow.errors import InvalidInput
from caseflow.services.cases import (
    DetailsUpdate,
    advance,
    list_cases,
    open_case,
    open_cases,
    show_case,
    update_details,
)
from caseflow.services.compare import compare
from caseflow.services.context import SCHEMA_HEAD, Context
from caseflow.services.groups import groups_by_case
from caseflow.services.ledger import open_ledger
from caseflow.services.stats import stats
from tests.conftest import (
    CliInvoker,
    approved_closure,
    audit_trail,
    child,
    child_id_number,
    database_rows,
    open_case_by_cli,
)
from tests.test_compare import AS_OF, household, person, register, student
from tests.test_storage import _migrate, old_database


def labels(ctx: Context, number: int) -> list[str]:
    return [group["label"] for group in show_case(ctx, number)["special_groups"]]


def case_of(ctx: Context, serial: int) -> int:
    """The case of the comparison's child ``serial`` (tests.test_compare.person)."""
    masked = person(serial)[-4:]
    return next(
        row["number"]
        for row in list_cases(ctx, include_closed=True)
        if row["id_number"].endswith(masked)
    )


@pytest.fixture
def registers(ctx: Context) -> Context:
    """Children 1-6 of school age in 户籍; 1 at school. 扶贫: 2 relocated (易地扶贫搬迁户),
    4 脱贫户. 残疾人: 5, 肢体 (4) 二级. 3 and 6 are in neither register."""
    register(ctx, "household", [household(n) for n in range(1, 7)])
    register(ctx, "student", [student(1)])
    register(
        ctx,
        "poverty",
        [household(2, category="易地扶贫搬迁户"), household(4, category="脱贫户")],
    )
    register(ctx, "disability", [{**household(5), "category": "4", "disability_grade": 2}])
    return ctx


def test_the_registers_give_children_with_cases_their_groups_with_disability_category_and_grade(
    registers,
) -> None:
    ctx = registers
    opening = open_cases(ctx, compare(ctx, as_of=AS_OF))
    assert len(opening.opened) == 5  # children 2-6
    assert labels(ctx, case_of(ctx, 2)) == ["贫困/脱贫户", "易地扶贫搬迁户子女"]
    assert labels(ctx, case_of(ctx, 4)) == ["贫困/脱贫户"]
    assert labels(ctx, case_of(ctx, 5)) == ["残疾（肢体二级）"]
    assert labels(ctx, case_of(ctx, 3)) == labels(ctx, case_of(ctx, 6)) == []
    assert show_case(ctx, case_of(ctx, 5))["special_groups"][0]["source_labels"] == ["残疾人登记册"]
    assert opening.register_groups is not None
    # Children 2 (two groups), 4 and 5: each change audited on the child's case.
    assert (opening.register_groups.children, opening.register_groups.added) == (3, 4)
    event = next(e for e in audit_trail(ctx, case_of(ctx, 5)) if e["action"] == "case.groups")
    assert event["payload"]["added"] == [
        {"group": "disabled", "label": "残疾（肢体二级）", "source": "disability"}
    ]

    # A caseworker also records child 4 as poor; the next 扶贫 register no longer lists
    # child 4: the register's group goes, the caseworker's stays. Nothing else changes.
    update_details(ctx, case_of(ctx, 4), DetailsUpdate(), add_groups=["贫困/脱贫户"])
    register(ctx, "poverty", [household(2, category="易地扶贫搬迁户")])
    again = open_cases(ctx, compare(ctx, as_of=AS_OF))
    assert again.register_groups is not None
    assert (again.register_groups.children, again.register_groups.removed) == (1, 1)
    assert show_case(ctx, case_of(ctx, 4))["special_groups"] == [
        {
            "group": "poor",
            "label": "贫困/脱贫户",
            "sources": ["caseworker"],
            "source_labels": ["工作人员登记"],
        }
    ]
    assert labels(ctx, case_of(ctx, 2)) == ["贫困/脱贫户", "易地扶贫搬迁户子女"]


def test_importing_a_register_updates_the_groups_of_children_with_cases(
    cli: CliInvoker, tmp_path: Path
) -> None:
    number = open_case_by_cli(cli, 7)
    register_file = tmp_path / "残疾人.csv"
    register_file.write_text(
        "姓名,身份证号,残疾类别,残疾等级\n"
        f"张小华,{child_id_number(7)},智力,三级\n"
        f"李小明,{child_id_number(8)},视力,一级\n",
        encoding="utf-8",
    )
    result = cli("--lang", "zh", "roster", "import", "disability", str(register_file))
    assert result.exit_code == 0, result.stderr
    assert "特殊群体：按残疾人登记册更新 1 名儿童（登记 1 项，取消 0 项）。" in result.stdout
    shown = cli("--lang", "zh", "case", "show", str(number))
    assert "  特殊群体：残疾（智力三级）（残疾人登记册）" in shown.stdout.splitlines()


def test_a_caseworker_adds_and_takes_off_groups_by_label_or_key_in_one_audited_step(
    cli: CliInvoker,
) -> None:
    number = open_case_by_cli(cli)
    before = json.loads(cli("case", "show", str(number), "--json").stdout)
    result = cli("case", "update", str(number), "--special-group", "留守", "--special-group", "ill")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Updated case {number}: special groups added: 留守、ill."
    after = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert [g["label"] for g in after["special_groups"]] == ["患病", "留守"]
    assert after["version"] == before["version"] + 1
    event = after["history"][-1]
    assert (event["action"], event["payload"]["groups"]["removed"]) == ("case.update", [])
    assert [item["label"] for item in event["payload"]["groups"]["added"]] == ["留守", "患病"]

    result = cli(
        "case",
        "update",
        str(number),
        "--remove-special-group",
        "left_behind",
        "--school",
        "天堂中学",
        "--expect-version",
        str(after["version"]),
    )
    assert result.exit_code == 0, result.stderr
    shown = cli("--lang", "zh", "case", "show", str(number)).stdout.splitlines()
    assert "  特殊群体：患病（工作人员登记）" in shown
    assert "信息更新：学校：天堂中学；取消特殊群体 留守  " in shown[-1]


@pytest.mark.parametrize(
    ("arguments", "exit_code", "message"),
    [
        (
            ["--special-group", "单亲"],
            2,
            "“单亲” is not one of the choices: 「残疾（disabled）」、",
        ),
        (["--special-group", "患病"], 2, "already recorded as “患病”; no need to add it again"),
        (["--remove-special-group", "学困"], 2, "not recorded as “学困”; there is nothing to"),
        (
            ["--special-group", "留守", "--remove-special-group", "留守"],
            2,
            "both added and removed",
        ),
        # A valid change on a case someone changed since: nothing of it is written.
        (["--special-group", "留守", "--expect-version", "1"], 3, "is at version 2, not 1"),
        (["--special-group", "留守", "--school", "  "], 2, "school must not be empty"),
    ],
)
def test_a_refused_group_change_leaves_the_database_exactly_as_it_was(
    cli: CliInvoker, ctx: Context, arguments: list[str], exit_code: int, message: str
) -> None:
    number = open_case_by_cli(cli)
    assert cli("case", "update", str(number), "--special-group", "患病").exit_code == 0
    before = database_rows(ctx)
    result = cli("case", "update", str(number), *arguments)
    assert result.exit_code == exit_code
    assert message in result.stderr
    assert database_rows(ctx) == before


def test_a_group_a_register_set_is_corrected_in_the_register_not_by_hand(registers) -> None:
    ctx = registers
    open_cases(ctx, compare(ctx, as_of=AS_OF))
    number = case_of(ctx, 5)
    before = database_rows(ctx)
    with pytest.raises(
        InvalidInput, match="was set by 残疾人登记册 and cannot be taken off by hand"
    ):
        update_details(ctx, number, DetailsUpdate(), remove_groups=["残疾"])
    assert database_rows(ctx) == before


def test_case_list_shows_only_the_children_of_the_group_asked_for(cli: CliInvoker) -> None:
    left_behind = open_case_by_cli(cli, 11)
    both = open_case_by_cli(cli, 12)
    neither = open_case_by_cli(cli, 13)
    cli("case", "update", str(left_behind), "--special-group", "留守")
    cli("case", "update", str(both), "--special-group", "留守", "--special-group", "学困")
    assert neither not in (left_behind, both)

    def listed(group: str) -> list[int]:
        result = cli("case", "list", "--special-group", group, "--json")
        assert result.exit_code == 0, result.stderr
        return [row["number"] for row in json.loads(result.stdout)]

    assert listed("留守") == listed("left_behind") == [left_behind, both]
    assert listed("学困") == [both]
    assert listed("服刑人员未成年子女") == []
    refused = cli("--lang", "zh", "case", "list", "--special-group", "孤儿")
    assert refused.exit_code == 2 and "特殊群体“孤儿”不在可选范围内" in refused.stderr


def test_stats_count_each_groups_open_cases_and_confirmed_dropouts(ctx: Context) -> None:
    """甲 留守 and 患病, only suspected; 乙 留守, a confirmed dropout; 丙 残疾, closed as
    studying elsewhere; 丁 in no group, a confirmed dropout."""

    def opened(serial: int, name: str, *groups: str) -> int:
        number = open_case(ctx, child(serial, name=name), occurred_on=date(2026, 11, 2)).number
        if groups:
            update_details(
                ctx, number, DetailsUpdate(), add_groups=groups, occurred_on=date(2026, 11, 2)
            )
        return number

    def confirmed(number: int) -> None:
        advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
        advance(
            ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 11, 4)
        )

    opened(21, "甲", "留守", "患病")
    confirmed(opened(22, "乙", "留守"))
    closed = opened(23, "丙", "残疾")
    approved_closure(ctx, closed, "studying_elsewhere", "转学证明", occurred_on=date(2026, 11, 5))
    confirmed(opened(24, "丁"))

    figures = stats(ctx)
    counted = {
        g["label"]: (g["open"], g["open_dropouts"]) for g in figures.as_json()["special_groups"]
    }
    assert counted["留守"] == (1 + 1, 1)  # 甲 and 乙 open; 乙 a dropout
    assert counted["患病"] == (1, 0)  # 甲
    assert counted["残疾"] == (0, 0)  # 丙 closed
    assert counted["学困"] == counted["服刑人员未成年子女"] == (0, 0)
    assert sum(open_ for open_, _ in counted.values()) == 3  # 丁 is in no group
    assert figures.total.open_dropouts == 2  # 乙 and 丁
    i18n.set_language("zh")
    try:
        lines = stats_lines("示范县", figures)
    finally:
        i18n.set_language(None)
    section = lines.index("\n特殊群体（统计日）")
    assert lines[section + 1 : section + 5] == [
        "  残疾  在办 0，已确认辍学 0",
        "  贫困/脱贫户  在办 0，已确认辍学 0",
        "  患病  在办 1，已确认辍学 0",
        "  留守  在办 2，已确认辍学 1",
    ]


def test_every_ledger_row_names_the_childs_special_groups(registers) -> None:
    ctx = registers
    open_cases(ctx, compare(ctx, as_of=AS_OF))
    update_details(ctx, case_of(ctx, 5), DetailsUpdate(), add_groups=["留守"])
    expected = {
        case_of(ctx, 2): ("贫困/脱贫户", "易地扶贫搬迁户子女"),
        case_of(ctx, 4): ("贫困/脱贫户",),
        case_of(ctx, 5): ("残疾（肢体二级）", "留守"),
    }
    rows = {row.number: row for row in open_ledger(ctx).rows()}
    assert {n: row.groups for n, row in rows.items() if row.groups} == expected
    assert rows[case_of(ctx, 5)].cells(1, ("groups",)) == ("残疾（肢体二级）、留守",)
    with db.read(ctx.engine) as connection:
        assert groups_by_case(connection, list(rows)) == expected


def test_the_cultural_ledger_flags_the_groups_of_every_child_with_a_case_or_not(
    registers,
) -> None:
    ctx = registers

    def flagged() -> dict[str, tuple[str, ...]]:
        rows = open_ledger(ctx, kind="文化户口", as_of=AS_OF).rows()
        return {row.name: row.groups for row in rows if row.groups}

    # No case yet: the registers alone flag children 2, 4 and 5.
    assert flagged() == {
        household(2)["name"]: ("贫困/脱贫户", "易地扶贫搬迁户子女"),
        household(4)["name"]: ("贫困/脱贫户",),
        household(5)["name"]: ("残疾（肢体二级）",),
    }
    open_cases(ctx, compare(ctx, as_of=AS_OF))
    update_details(ctx, case_of(ctx, 3), DetailsUpdate(), add_groups=["留守"])
    assert flagged()[household(3)["name"]] == ("留守",)  # a caseworker's group, on the case


def test_a_0012_database_upgrades_and_its_children_start_in_no_group(tmp_path: Path) -> None:
    engine = old_database(tmp_path, "0012", "persuasion", "2026-10-09", "[]")
    db.upgrade(engine)
    assert db.schema_revision(engine) == SCHEMA_HEAD
    with db.write(engine) as connection:
        assert groups_by_case(connection, [1], {"left_behind": "留守"}) == {}
        connection.execute(
            text(
                "INSERT INTO child_group (child_id, code, source, recorded_on) "
                "VALUES (1, 'left_behind', 'caseworker', '2026-11-29')"
            )
        )
        assert groups_by_case(connection, [1], {"left_behind": "留守"}) == {1: ("留守",)}
    _migrate(engine, "0012", down=True)
    with db.read(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM case_file")).scalar() == 1
        assert not inspect(connection).has_table("child_group")
    engine.dispose()


def test_workflow_show_lists_the_special_groups_and_which_register_sets_each(
    cli: CliInvoker,
) -> None:
    lines = cli("--lang", "zh", "workflow", "show").stdout.splitlines()
    start = lines.index("特殊群体（case update --special-group）：")
    assert lines[start + 1].split() == ["特殊群体", "代码", "由登记册导入"]
    assert [line.split()[0] for line in lines[start + 2 :]] == [
        "残疾",
        "贫困/脱贫户",
        "患病",
        "留守",
        "学困",
        "易地扶贫搬迁户子女",
        "服刑人员未成年子女",
    ]
    assert lines[start + 2].split() == ["残疾", "disabled", "disability"]
    assert lines[start + 5].split() == ["留守", "left_behind"]  # set by caseworkers only
