"""Running cases move to a new version of their workflow: `caseflow workflow migrate`.

Version 2 is built here from the shipped dropout.yaml: `verifying` is renamed `checking`
(with a migrate_from map) and the first check after identification gets 5 working days
instead of 3."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from caseflow import audit, db, engine
from caseflow.errors import AccessDenied, InvalidInput, WorkflowInvalid
from caseflow.resources import shipped
from caseflow.services import migrate as migrate_service
from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case, show_case
from caseflow.services.context import Context, open_context
from caseflow.services.ledger import open_ledger
from caseflow.services.records import CASE
from caseflow.services.stats import stats
from caseflow.services.sweep import sweep
from tests.conftest import audit_trail, child, fixed_clock, granted_extension

SHIPPED = shipped("workflows").joinpath("dropout.yaml").read_text(encoding="utf-8")
TABLES = ("case_file", "audit_event", "audit_head", "escalation", "notice", "workflow_definition")


def version_2(*, mapped: bool = True) -> str:
    source = re.sub(r"(?<!category: )\bverifying\b", "checking", SHIPPED)
    source = source.replace("label: 核查中\n", "label: 入户核实中\n", 1)
    source = source.replace("amount: 3\n", "amount: 5\n", 1)  # identified: 3 -> 5 working days
    source = source.replace("version: 1\n", "version: 2\n", 1)
    if mapped:
        source += "\nmigrate_from:\n  1: {verifying: checking}\n"
    return source


def bring_in(workspace: Path, source: str) -> Context:
    """Put a new version of the workflow in force in the workspace; a context that sees it."""
    local = workspace / "workflows"
    local.mkdir(exist_ok=True)
    (local / "dropout.yaml").write_text(source, encoding="utf-8")
    return open_context(workspace, clock=fixed_clock)


def contents(ctx: Context) -> dict[str, list[Any]]:
    with db.read(ctx.engine) as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))]
            for table in TABLES
        }


def case_rows(ctx: Context) -> dict[int, Any]:
    with db.read(ctx.engine) as connection:
        rows = connection.execute(select(CASE).order_by(CASE.c.id)).all()
    return {row.id: row for row in rows}


def migrated_events(ctx: Context) -> list[dict[str, Any]]:
    return [e for e in audit_trail(ctx) if e["action"] == "case.migrated"]


def open_cases(ctx: Context) -> dict[str, int]:
    """Cases on version 1 in several states (all entered on Mon 23 Nov 2026), one closed."""
    monday = date(2026, 11, 23)
    identified = open_case(ctx, child(2), occurred_on=monday).number
    verifying = open_case(ctx, child(3), occurred_on=monday).number
    advance(ctx, verifying, "start_verification", occurred_on=monday)
    extended = open_case(ctx, child(4), occurred_on=monday).number
    granted_extension(ctx, extended, 4, "路远，需再次入户", occurred_on=monday)
    deferred = open_case(ctx, child(5), occurred_on=monday).number
    advance(ctx, deferred, "start_verification", occurred_on=monday)
    advance(
        ctx,
        deferred,
        "defer",
        {"reason": "illness", "until": "2027-03-01", "approval": "教发〔2026〕9号"},
        occurred_on=monday,
    )
    closed = open_case(ctx, child(6), occurred_on=monday).number
    advance(
        ctx,
        closed,
        "close_not_dropout",
        {"reason": "studying_elsewhere", "evidence": "外县学籍证明"},
        occurred_on=monday,
    )
    return {
        "identified": identified,
        "verifying": verifying,
        "extended": extended,
        "deferred": deferred,
        "closed": closed,
    }


def test_a_dry_run_shows_each_case_old_and_new_and_changes_nothing(workspace, ctx, cli) -> None:
    cases = open_cases(ctx)
    new = bring_in(workspace, version_2())
    before = contents(new)

    report = migrate_service.migrate(new, 2, dry_run=True)
    shown = cli("workflow", "migrate", "--to", "2", "--dry-run")

    assert contents(new) == before
    moves = {m["number"]: m for m in report.as_json()["cases"]}
    assert sorted(moves) == sorted(n for key, n in cases.items() if key != "closed")
    identified = moves[cases["identified"]]
    assert (identified["from_due_on"], identified["due_on"]) == ("2026-11-26", "2026-11-30")
    verifying = moves[cases["verifying"]]
    assert (verifying["from_state_label"], verifying["to_state_label"]) == ("核查中", "入户核实中")
    assert shown.exit_code == 0, shown.stderr
    assert "试运行，未作任何修改" in shown.stdout
    assert (
        f"案件 {cases['verifying']:<6} 第1版→第2版  核查中（verifying）→ 入户核实中（checking）"
        in shown.stdout
    )
    assert f"案件 {cases['identified']:<6}" in shown.stdout
    assert "期限 2026-11-26 → 2026-11-30" in shown.stdout


def test_applying_moves_every_open_case_with_one_audit_event_each(workspace, ctx) -> None:
    cases = open_cases(ctx)
    before = case_rows(ctx)
    new = bring_in(workspace, version_2())

    report = migrate_service.migrate(new, 2)

    after = case_rows(new)
    moved = [cases[key] for key in ("identified", "verifying", "extended", "deferred")]
    assert sorted(m.number for m in report.moves) == sorted(moved)
    assert {number: after[number].workflow_version for number in moved} == dict.fromkeys(moved, 2)
    assert after[cases["verifying"]].state == "checking"
    assert after[cases["identified"]].due_on == date(2026, 11, 30)  # 5 working days, not 3
    # the 4 days' extension granted under version 1 is kept on top of the new count
    assert after[cases["extended"]].due_on == date(2026, 12, 4)
    # the approved deferral's end date was given, not counted: it stays
    assert after[cases["deferred"]].due_on == date(2027, 3, 1)
    assert after[cases["closed"]] == before[cases["closed"]]
    events = migrated_events(new)
    assert sorted(e["case"] for e in events) == sorted(moved)
    by_case = {e["case"]: e["payload"] for e in events}
    assert by_case[cases["verifying"]] | {"deadline": None} == {
        "workflow": "dropout",
        "from_version": 1,
        "to_version": 2,
        "from": "verifying",
        "to": "checking",
        "from_due_on": before[cases["verifying"]].due_on.isoformat(),
        "due_on": after[cases["verifying"]].due_on.isoformat(),
        "deadline": None,
    }
    assert audit_verify(new).intact


def test_case_show_and_the_ledger_say_which_version_a_case_runs_on(workspace, ctx, cli) -> None:
    cases = open_cases(ctx)
    new = bring_in(workspace, version_2())
    migrate_service.migrate(new, 2)

    view = show_case(new, cases["verifying"])
    assert (view["workflow_version"], view["state_label"]) == (2, "入户核实中")
    assert (
        "moved to dropout v2: verifying -> checking"
        in cli("case", "show", str(cases["verifying"])).stdout
    )
    rows = {row.number: row for row in open_ledger(new).rows()}
    assert rows[cases["verifying"]].workflow_version == 2
    assert rows[cases["closed"]].workflow_version == 1
    assert rows[cases["verifying"]].cells(1)[-1] == 2
    # as of a day before the move, a case changed since is read back on the old version
    advance(new, cases["verifying"], "confirm_dropout", {"reason": "poverty"})
    earlier = {row.number: row for row in open_ledger(new, as_of=date(2026, 11, 24)).rows()}
    assert (
        earlier[cases["verifying"]].state_label,
        earlier[cases["verifying"]].workflow_version,
    ) == (
        "核查中",
        1,
    )


def test_an_unmapped_state_is_refused_by_name_and_nothing_moves(workspace, ctx, cli) -> None:
    open_cases(ctx)
    new = bring_in(workspace, version_2(mapped=False))
    before = contents(new)

    with pytest.raises(WorkflowInvalid, match=r"state verifying \(核查中\) of version 1"):
        migrate_service.migrate(new, 2)
    refused = cli("workflow", "migrate", "--to", "2")

    assert refused.exit_code == 2
    assert "verifying (核查中)" in refused.stderr and "Nothing was changed" in refused.stderr
    assert contents(new) == before


def returned_case(ctx: Context, serial: int = 7) -> int:
    """A child back at school since 16 Nov 2026, visited twice since (two check-ins)."""
    number = open_case(ctx, child(serial), occurred_on=date(2026, 11, 2)).number
    for trigger, values in (
        ("start_verification", {}),
        ("confirm_dropout", {"reason": "learning"}),
        ("return_to_school", {"placement": "original_class", "school": "天堂小学"}),
    ):
        advance(ctx, number, trigger, values, occurred_on=date(2026, 11, 16))
    for day in (20, 23):
        check = {"attending": "steady"}
        advance(ctx, number, "check_in", check, occurred_on=date(2026, 11, day))
    return number


def test_check_ins_move_with_the_case_and_a_renamed_check_in_is_refused(workspace, ctx) -> None:
    number = returned_case(ctx)
    renamed = bring_in(workspace, re.sub(r"\bcheck_in\b", "follow_up", version_2()))
    before = contents(renamed)

    with pytest.raises(WorkflowInvalid, match=r"counts of check_in \(in state returned"):
        migrate_service.migrate(renamed, 2)
    assert contents(renamed) == before

    kept = bring_in(workspace, version_2())
    migrate_service.migrate(kept, 2)
    assert case_rows(kept)[number].counters == {"check_in": 2}


def test_figures_for_a_day_before_the_move_count_a_renamed_state_as_it_was(workspace, ctx) -> None:
    cases = open_cases(ctx)
    before = stats(ctx, as_of=date(2026, 11, 27))
    new = bring_in(workspace, version_2())
    migrate_service.migrate(new, 2)
    assert case_rows(new)[cases["verifying"]].state == "checking"

    after = stats(new, as_of=date(2026, 11, 27))

    assert after.as_json()["cases"] == before.as_json()["cases"]
    assert after.as_json()["cases"]["suspected"] == 3  # identified, verifying, extended


def test_a_second_run_moves_nothing(workspace, ctx, cli) -> None:
    open_cases(ctx)
    new = bring_in(workspace, version_2())
    migrate_service.migrate(new, 2)
    before = contents(new)

    again = migrate_service.migrate(new, 2)
    shown = cli("workflow", "migrate", "--to", "2")

    assert again.moves == []
    assert "没有需要迁移的在办案件" in shown.stdout
    assert contents(new) == before


def test_a_run_stopped_in_its_second_batch_keeps_the_first_and_a_rerun_finishes(
    workspace, ctx, monkeypatch
) -> None:
    numbers = [open_case(ctx, child(serial)).number for serial in range(10, 15)]
    new = bring_in(workspace, version_2())
    appended = audit.append_many
    calls = []

    def fail_in_second_batch(connection: Any, events: Any) -> list[int]:
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return appended(connection, events)

    monkeypatch.setattr(migrate_service.audit, "append_many", fail_in_second_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        migrate_service.migrate(new, 2, batch_size=2)
    monkeypatch.setattr(migrate_service.audit, "append_many", appended)

    versions = {n: row.workflow_version for n, row in case_rows(new).items()}
    assert [versions[n] for n in numbers] == [2, 2, 1, 1, 1]
    assert sorted(e["case"] for e in migrated_events(new)) == numbers[:2]
    rerun = migrate_service.migrate(new, 2, batch_size=2)
    assert [m.number for m in rerun.moves] == numbers[2:]
    assert sorted(e["case"] for e in migrated_events(new)) == numbers
    assert audit_verify(new).intact


def test_the_sweep_after_migration_counts_from_the_new_deadlines(workspace, ctx) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 23)).number
    assert sweep(ctx, dry_run=True).fired == 1  # due Thu 26 Nov under version 1
    new = bring_in(workspace, version_2())
    migrate_service.migrate(new, 2)

    assert sweep(new).fired == 0  # due Mon 30 Nov under version 2
    assert sweep(new, as_of=date(2026, 11, 30), dry_run=True).fired == 1
    assert show_case(new, number)["next_escalation_on"] == "2026-11-30"


def test_escalation_levels_already_reached_are_not_sent_again(workspace, ctx) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 16)).number
    assert sweep(ctx).fired == 2  # due 19 Nov under version 1: reminder and level 2 sent
    new = bring_in(workspace, version_2())
    migrate_service.migrate(new, 2)

    row = case_rows(new)[number]
    assert (row.due_on, row.next_rung) == (date(2026, 11, 23), 2)
    assert sweep(new).fired == 0
    assert show_case(new, number)["next_escalation_on"] == "2026-12-02"


def test_only_the_version_in_force_is_a_target_and_only_for_the_bureau(workspace, ctx) -> None:
    open_case(ctx, child(2))
    with pytest.raises(InvalidInput, match=r"the workflow in force .* is version 1"):
        migrate_service.migrate(ctx, 2, dry_run=True)
    new = bring_in(workspace, version_2())
    caseworker = Context(
        new.workspace,
        new.engine,
        engine.Actor("乡镇干部", "someone", frozenset({"caseworker"})),
        clock=fixed_clock,
    )
    with pytest.raises(AccessDenied, match="workflow migrate"):
        migrate_service.migrate(caseworker, 2, dry_run=True)


def test_the_migration_json_is_a_contract(workspace, ctx, cli) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 23)).number
    bring_in(workspace, version_2())
    result = cli("workflow", "migrate", "--to", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "workflow": "dropout",
        "to_version": 2,
        "dry_run": False,
        "moved": 1,
        "cases": [
            {
                "number": number,
                "from_version": 1,
                "from_state": "identified",
                "from_state_label": "疑似失学辍学",
                "to_state": "identified",
                "to_state_label": "疑似失学辍学",
                "from_due_on": "2026-11-26",
                "due_on": "2026-11-30",
                "due_provisional": False,
                "deadline": "recounted",
            }
        ],
    }


def test_workflow_check_reports_bad_migration_maps(workspace, cli) -> None:
    bad = version_2(mapped=False) + (
        "\nmigrate_from:\n"
        "  1: {verifying: nowhere, household_check: retained, vanished: checking, "
        "closed: checking}\n"
        "  2: {checking: identified}\n"
    )
    local = workspace / "workflows"
    local.mkdir()
    (local / "dropout.yaml").write_text(bad, encoding="utf-8")

    checked = cli("workflow", "check")

    assert checked.exit_code == 1
    assert "migrate_from.1.verifying: unknown state 'nowhere'" in checked.stderr
    assert "migrate_from.1.household_check: maps to 'retained', which is terminal" in checked.stderr
    assert "migrate_from.2: names version 2, which is not older than 2" in checked.stderr


def test_workflow_check_holds_a_map_to_the_older_version_beside_it(workspace, cli) -> None:
    odd = version_2(mapped=False) + (
        "\nmigrate_from:\n  1: {verifying: checking, vanished: checking, closed: checking}\n"
    )
    local = workspace / "workflows"
    local.mkdir()
    (local / "dropout.yaml").write_text(odd, encoding="utf-8")

    checked = cli("workflow", "check")

    assert checked.exit_code == 1
    assert "migrate_from.1.vanished: version 1 has no state 'vanished'" in checked.stderr
    assert "migrate_from.1.closed: 'closed' is terminal in version 1" in checked.stderr
    assert "migrate_from.1.verifying" not in checked.stderr


def test_a_version_edited_after_cases_started_on_it_is_refused_even_in_a_dry_run(
    workspace, ctx
) -> None:
    open_case(ctx, child(2), occurred_on=date(2026, 11, 23))
    first = bring_in(workspace, version_2())
    open_case(first, child(3))  # a case starts on version 2 as it stands
    edited = bring_in(workspace, version_2().replace("amount: 5\n", "amount: 6\n", 1))
    before = contents(edited)

    for dry_run in (True, False):
        with pytest.raises(WorkflowInvalid, match="raise its `version`"):
            migrate_service.migrate(edited, 2, dry_run=dry_run)
    assert contents(edited) == before
