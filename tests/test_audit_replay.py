"""`caseflow audit verify` replays each case's events and names every case whose row is
not what they say (issue 17 item 7): a row edited, deleted or inserted behind caseflow's
back, on SQLite and on PostgreSQL. The audit chain itself is untouched in these tests, so
only the case table can show what happened."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, text

from caseflow import db
from caseflow.case_replay import COMPARED, Replay, compare
from caseflow.services.audit import audit_verify
from caseflow.services.cases import (
    DetailsUpdate,
    add_finding,
    add_note,
    advance,
    open_case,
    reopen,
    show_case,
    update_details,
)
from caseflow.services.context import Context
from caseflow.services.records import CASE
from caseflow.services.sweep import sweep
from tests.conftest import CliInvoker, approved_closure, child, granted_extension


@pytest.fixture
def cases(ctx: Context) -> dict[str, int]:
    """Cases with every kind of step the replay follows: a deadline extended, a deferral
    run out by the sweep, a closure approved and undone, notes, findings, a new school."""
    numbers: dict[str, int] = {}
    numbers["persuading"] = n = open_case(ctx, child(11), occurred_on=date(2026, 11, 2)).number
    advance(ctx, n, "start_verification", occurred_on=date(2026, 11, 3))
    add_note(ctx, n, "第1次入户劝返：家长同意返校", occurred_on=date(2026, 11, 4))
    advance(ctx, n, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 11, 5))
    granted_extension(ctx, n, 5, "监护人在外务工", occurred_on=date(2026, 11, 6))
    update_details(ctx, n, DetailsUpdate(school="天堂中学"), occurred_on=date(2026, 11, 7))
    add_finding(ctx, n, {"compare": "not_enrolled"})
    numbers["deferred"] = n = open_case(ctx, child(12), occurred_on=date(2026, 11, 2)).number
    advance(ctx, n, "start_verification", occurred_on=date(2026, 11, 2))
    advance(
        ctx,
        n,
        "defer",
        {"reason": "illness", "until": "2026-11-20", "approval": "天堂教〔2026〕12号"},
        occurred_on=date(2026, 11, 3),
    )
    numbers["reopened"] = n = open_case(ctx, child(13), occurred_on=date(2026, 10, 1)).number
    approved_closure(ctx, n, "studying_elsewhere", "转学证明", occurred_on=date(2026, 10, 2))
    reopen(ctx, n, "转学证明不实", occurred_on=date(2026, 10, 9))
    numbers["closed"] = n = open_case(ctx, child(14), occurred_on=date(2026, 10, 1)).number
    approved_closure(ctx, n, "studying_elsewhere", "转学证明", occurred_on=date(2026, 10, 2))
    sweep(ctx, as_of=date(2026, 11, 25))  # the deferral has run out: the timer fires
    return numbers


def _execute(ctx: Context, statement: str, **values: object) -> None:
    with db.write(ctx.engine) as connection:
        connection.execute(text(statement), values)


def test_an_untouched_history_of_every_kind_of_step_verifies(
    ctx: Context, cli: CliInvoker, cases: dict[str, int]
) -> None:
    assert show_case(ctx, cases["deferred"])["state"] != "deferred"
    assert not show_case(ctx, cases["closed"])["is_open"]
    assert show_case(ctx, cases["reopened"])["is_open"]
    result = audit_verify(ctx)
    assert result.intact, result.cases
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert "Audit chain intact" in verified.stdout
    assert verified.stderr == ""


def test_closing_a_case_in_sql_is_reported_by_number(
    ctx: Context, cli: CliInvoker, cases: dict[str, int]
) -> None:
    """The reproduction of issue 17 item 7: the case shows as closed in `case show` while
    its events say it is in persuasion."""
    number = cases["persuading"]
    _execute(
        ctx, "UPDATE case_file SET state = 'closed', is_open = :closed WHERE id = :n",
        closed=False, n=number,
    )  # fmt: skip
    assert show_case(ctx, number)["state"] == "closed"
    result = audit_verify(ctx)
    assert result.chain_intact and not result.intact
    assert [d.number for d in result.cases] == [number]
    assert {c: (stored, wanted) for c, stored, wanted in result.cases[0].columns} == {
        "state": ("closed", "persuasion"),
        "is_open": (False, True),
    }
    verified = cli("audit", "verify")
    assert verified.exit_code == 1
    assert "Audit chain intact" in verified.stdout
    assert "Cases whose row differs from their audit events: 1" in verified.stderr
    assert (
        f'Case {number}: state is "closed", the events say "persuasion"; '
        "is_open is false, the events say true." in verified.stderr
    )
    for other in set(cases.values()) - {number}:
        assert f"Case {other}:" not in verified.stderr


def test_the_report_is_in_chinese_by_default(
    ctx: Context, cli: CliInvoker, cases: dict[str, int]
) -> None:
    number = cases["persuading"]
    _execute(ctx, "UPDATE case_file SET version = version + 1 WHERE id = :n", n=number)
    # In a process of its own: the Chinese command tree stays out of this one.
    environment = {**os.environ, "CASEFLOW_LANG": "zh_CN"}
    verified = subprocess.run(
        [sys.executable, "-m", "caseflow.cli", "-w", str(cli.workspace), "audit", "verify"],
        capture_output=True, text=True, timeout=120, check=False, env=environment,
    )  # fmt: skip
    assert verified.returncode == 1
    assert "案件表记录与审计事件不一致的案件：1件" in verified.stderr
    assert f"案件{number}：version 为" in verified.stderr


@pytest.mark.parametrize(
    "column, statement, value",
    [
        ("version", "UPDATE case_file SET version = version - 1 WHERE id = :n", None),
        ("due_on", "UPDATE case_file SET due_on = '2027-03-01' WHERE id = :n", None),
        ("due_provisional",
         "UPDATE case_file SET due_provisional = NOT due_provisional WHERE id = :n", None),
        ("entered_on", "UPDATE case_file SET entered_on = '2026-11-01' WHERE id = :n", None),
        ("last_event_on", "UPDATE case_file SET last_event_on = '2026-11-01' WHERE id = :n", None),
        ("school", "UPDATE case_file SET school = '天堂小学' WHERE id = :n", None),
        ("township", "UPDATE case_file SET township = '云雾镇' WHERE id = :n", None),
        ("reasons", "UPDATE case_file SET reasons = {json} WHERE id = :n", '["poverty"]'),
        ("facts", "UPDATE case_file SET facts = {json} WHERE id = :n", "{}"),
        ("chain", "UPDATE case_file SET chain = {json} WHERE id = :n", '{"village_cadre": "x"}'),
        ("departments", "UPDATE case_file SET departments = {json} WHERE id = :n", '["police"]'),
        ("workflow_version",
         "UPDATE case_file SET workflow_version = 1 + workflow_version WHERE id = :n", None),
    ],
)  # fmt: skip
def test_each_column_the_events_determine_is_checked(
    ctx: Context, cases: dict[str, int], column: str, statement: str, value: str | None
) -> None:
    assert column in COMPARED
    number = cases["persuading"]
    json_value = "CAST(:v AS JSON)" if ctx.engine.dialect.name == "postgresql" else ":v"
    _execute(ctx, statement.format(json=json_value), n=number, v=value)
    result = audit_verify(ctx)
    assert [d.number for d in result.cases] == [number]
    assert [c for c, _stored, _wanted in result.cases[0].columns] == [column]


def test_a_deleted_case_row_is_reported(
    ctx: Context, cli: CliInvoker, cases: dict[str, int]
) -> None:
    number = cases["closed"]
    _execute(ctx, "DELETE FROM case_file WHERE id = :n", n=number)
    result = audit_verify(ctx)
    assert [(d.number, d.row_missing) for d in result.cases] == [(number, True)]
    verified = cli("audit", "verify")
    assert verified.exit_code == 1
    assert (
        f"Case {number}: its events open it, but the case table has no row for it."
        in verified.stderr
    )


def test_a_case_row_without_events_is_reported(
    ctx: Context, cli: CliInvoker, cases: dict[str, int]
) -> None:
    forged = max(cases.values()) + 10
    with db.write(ctx.engine) as connection:
        row = dict(
            connection.execute(select(CASE).where(CASE.c.id == cases["closed"])).one()._mapping
        )
        connection.execute(insert(CASE).values({**row, "id": forged}))
    result = audit_verify(ctx)
    assert [(d.number, d.no_events) for d in result.cases] == [(forged, True)]
    verified = cli("audit", "verify")
    assert verified.exit_code == 1
    assert (
        f"Case {forged}: the case table has a row for it, but no event opens it." in verified.stderr
    )


def test_every_differing_case_is_named_in_number_order(
    ctx: Context, cases: dict[str, int], tmp_path: Path
) -> None:
    numbers = sorted(cases.values())
    _execute(ctx, "UPDATE case_file SET version = version + 7")
    result = audit_verify(ctx)
    assert [d.number for d in result.cases] == numbers


def test_a_case_opened_under_the_early_action_name_is_not_compared() -> None:
    """Events of an early version (``case.opened``) carry payloads the replay cannot read:
    such a case is left out rather than reported."""
    replay = Replay({})
    replay.apply("case.opened", "2026-03-01", {"state": "reported"})
    replay.apply("case.note", "2026-03-02", {"text": "入户"})
    assert compare(7, SimpleNamespace(_mapping={"state": "persuasion"}), replay.expected) is None
    assert compare(7, None, replay.expected) is None
