"""Running cases move to a new version of their workflow: `caseflow workflow migrate`.

Version 3 is built here from the shipped dropout.yaml (version 2): `verifying` is renamed
`checking` (with a migrate_from map) and the first check after identification gets 5
working days instead of 3. The shipped version 2's own map from version 1 (the legal ladder
rebuilt, the court no longer a department) is tried on the stored version 1."""

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
from caseflow.ledger import COLUMNS
from caseflow.resources import shipped
from caseflow.services import migrate as migrate_service
from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case, show_case
from caseflow.services.context import Context, open_context
from caseflow.services.ledger import open_ledger
from caseflow.services.records import CASE
from caseflow.services.stats import stats
from caseflow.services.sweep import sweep
from tests.conftest import approver, audit_trail, child, fixed_clock, granted_extension

SHIPPED = shipped("workflows").joinpath("dropout.yaml").read_text(encoding="utf-8")
TABLES = ("case_file", "audit_event", "audit_head", "escalation", "notice", "workflow_definition")


def version_3(*, mapped: bool = True, maps: str = "") -> str:
    """Version 3; ``maps``: more ``migrate_from`` entries (lines indented by two)."""
    source = re.sub(r"(?<!category: )\bverifying\b", "checking", SHIPPED)
    source = source.replace("label: 核查中\n", "label: 入户核实中\n", 1)
    source = source.replace("amount: 3\n", "amount: 5\n", 1)  # identified: 3 -> 5 working days
    source = source.replace("version: 2\n", "version: 3\n", 1)
    if mapped:
        maps = "  2: {verifying: checking}\n" + maps
    return source.replace("\nmigrate_from:\n", "\nmigrate_from:\n" + maps, 1)


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
    """Cases on version 2 in several states (all entered on Mon 23 Nov 2026), one closed."""
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
        "propose_closure",
        {"reason": "studying_elsewhere", "evidence": "外县学籍证明"},
        occurred_on=monday,
    )
    advance(approver(ctx), closed, "approve_closure", occurred_on=monday)
    return {
        "identified": identified,
        "verifying": verifying,
        "extended": extended,
        "deferred": deferred,
        "closed": closed,
    }


def test_a_dry_run_shows_each_case_old_and_new_and_changes_nothing(workspace, ctx, cli) -> None:
    cases = open_cases(ctx)
    new = bring_in(workspace, version_3())
    before = contents(new)

    report = migrate_service.migrate(new, 3, dry_run=True)
    shown = cli("--lang", "zh", "workflow", "migrate", "--to", "3", "--dry-run")

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
        f"案件 {cases['verifying']:<6} 第2版→第3版  核查中（verifying）→ 入户核实中（checking）"
        in shown.stdout
    )
    assert f"案件 {cases['identified']:<6}" in shown.stdout
    assert "期限 2026-11-26 → 2026-11-30" in shown.stdout


def test_applying_moves_every_open_case_with_one_audit_event_each(workspace, ctx) -> None:
    cases = open_cases(ctx)
    before = case_rows(ctx)
    new = bring_in(workspace, version_3())

    report = migrate_service.migrate(new, 3)

    after = case_rows(new)
    moved = [cases[key] for key in ("identified", "verifying", "extended", "deferred")]
    assert sorted(m.number for m in report.moves) == sorted(moved)
    assert {number: after[number].workflow_version for number in moved} == dict.fromkeys(moved, 3)
    assert after[cases["verifying"]].state == "checking"
    assert after[cases["identified"]].due_on == date(2026, 11, 30)  # 5 working days, not 3
    # the 4 days' extension granted under version 2 is kept on top of the new count
    assert after[cases["extended"]].due_on == date(2026, 12, 4)
    # the approved deferral's end date was given, not counted: it stays
    assert after[cases["deferred"]].due_on == date(2027, 3, 1)
    assert after[cases["closed"]] == before[cases["closed"]]
    events = migrated_events(new)
    assert sorted(e["case"] for e in events) == sorted(moved)
    by_case = {e["case"]: e["payload"] for e in events}
    assert by_case[cases["verifying"]] | {"deadline": None} == {
        "workflow": "dropout",
        "from_version": 2,
        "to_version": 3,
        "from": "verifying",
        "to": "checking",
        "from_due_on": before[cases["verifying"]].due_on.isoformat(),
        "due_on": after[cases["verifying"]].due_on.isoformat(),
        "deadline": None,
    }
    assert audit_verify(new).intact


def test_case_show_and_the_ledger_say_which_version_a_case_runs_on(workspace, ctx, cli) -> None:
    cases = open_cases(ctx)
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)

    view = show_case(new, cases["verifying"])
    assert (view["workflow_version"], view["state_label"]) == (3, "入户核实中")
    moved = [
        line
        for line in cli("--lang", "zh", "case", "show", str(cases["verifying"])).stdout.splitlines()
        if "流程版本迁移：迁移至 dropout 第3版，" in line
    ]
    assert len(moved) == 1 and "→ 入户核实中，期限" in moved[0]
    rows = {row.number: row for row in open_ledger(new).rows()}
    assert rows[cases["verifying"]].workflow_version == 3
    assert rows[cases["closed"]].workflow_version == 2
    version_column = [column.key for column in COLUMNS].index("workflow_version")
    assert rows[cases["verifying"]].cells(1)[version_column] == 3
    # as of a day before the move, a case changed since is read back on the old version
    advance(new, cases["verifying"], "confirm_dropout", {"reason": "poverty"})
    earlier = {row.number: row for row in open_ledger(new, as_of=date(2026, 11, 24)).rows()}
    assert (
        earlier[cases["verifying"]].state_label,
        earlier[cases["verifying"]].workflow_version,
    ) == (
        "核查中",
        2,
    )


def test_an_unmapped_state_is_refused_by_name_and_nothing_moves(workspace, ctx, cli) -> None:
    open_cases(ctx)
    new = bring_in(workspace, version_3(mapped=False))
    before = contents(new)

    with pytest.raises(WorkflowInvalid, match=r"state verifying \(核查中\) of version 2"):
        migrate_service.migrate(new, 3)
    refused = cli("workflow", "migrate", "--to", "3")

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
    renamed = bring_in(workspace, re.sub(r"\bcheck_in\b", "follow_up", version_3()))
    before = contents(renamed)

    with pytest.raises(WorkflowInvalid, match=r"counts of check_in \(in state returned"):
        migrate_service.migrate(renamed, 3)
    assert contents(renamed) == before

    kept = bring_in(workspace, version_3())
    migrate_service.migrate(kept, 3)
    assert case_rows(kept)[number].counters == {"check_in": 2}


def test_figures_for_a_day_before_the_move_count_a_renamed_state_as_it_was(workspace, ctx) -> None:
    cases = open_cases(ctx)
    before = stats(ctx, as_of=date(2026, 11, 27))
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)
    assert case_rows(new)[cases["verifying"]].state == "checking"

    after = stats(new, as_of=date(2026, 11, 27))

    assert after.as_json()["cases"] == before.as_json()["cases"]
    assert after.as_json()["cases"]["suspected"] == 3  # identified, verifying, extended


def test_a_second_run_moves_nothing(workspace, ctx, cli) -> None:
    open_cases(ctx)
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)
    before = contents(new)

    again = migrate_service.migrate(new, 3)
    shown = cli("--lang", "zh", "workflow", "migrate", "--to", "3")

    assert again.moves == []
    assert "没有需要迁移的在办案件" in shown.stdout
    assert contents(new) == before


def test_a_run_stopped_in_its_second_batch_keeps_the_first_and_a_rerun_finishes(
    workspace, ctx, monkeypatch
) -> None:
    numbers = [open_case(ctx, child(serial)).number for serial in range(10, 15)]
    new = bring_in(workspace, version_3())
    appended = audit.append_many
    calls = []

    def fail_in_second_batch(connection: Any, events: Any) -> list[int]:
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return appended(connection, events)

    monkeypatch.setattr(migrate_service.audit, "append_many", fail_in_second_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        migrate_service.migrate(new, 3, batch_size=2)
    monkeypatch.setattr(migrate_service.audit, "append_many", appended)

    versions = {n: row.workflow_version for n, row in case_rows(new).items()}
    assert [versions[n] for n in numbers] == [3, 3, 2, 2, 2]
    assert sorted(e["case"] for e in migrated_events(new)) == numbers[:2]
    rerun = migrate_service.migrate(new, 3, batch_size=2)
    assert [m.number for m in rerun.moves] == numbers[2:]
    assert sorted(e["case"] for e in migrated_events(new)) == numbers
    assert audit_verify(new).intact


def test_the_sweep_after_migration_counts_from_the_new_deadlines(workspace, ctx) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 23)).number
    assert sweep(ctx, dry_run=True).fired == 1  # due Thu 26 Nov under version 2
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)

    assert sweep(new).fired == 0  # due Mon 30 Nov under version 3
    assert sweep(new, as_of=date(2026, 11, 30), dry_run=True).fired == 1
    assert show_case(new, number)["next_escalation_on"] == "2026-11-30"


def test_escalation_levels_already_reached_are_not_sent_again(workspace, ctx) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 16)).number
    assert sweep(ctx).fired == 2  # due 19 Nov under version 2: reminder and level 2 sent
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)

    row = case_rows(new)[number]
    assert (row.due_on, row.next_rung) == (date(2026, 11, 23), 2)
    assert sweep(new).fired == 0
    assert show_case(new, number)["next_escalation_on"] == "2026-12-02"


def test_only_the_version_in_force_is_a_target_and_only_for_the_bureau(workspace, ctx) -> None:
    open_case(ctx, child(2))
    with pytest.raises(InvalidInput, match=r"the workflow in force .* is version 2"):
        migrate_service.migrate(ctx, 3, dry_run=True)
    new = bring_in(workspace, version_3())
    caseworker = Context(
        new.workspace,
        new.engine,
        engine.Actor("乡镇干部", "someone", frozenset({"caseworker"})),
        clock=fixed_clock,
    )
    with pytest.raises(AccessDenied, match="workflow migrate"):
        migrate_service.migrate(caseworker, 3, dry_run=True)


def test_the_migration_json_is_a_contract(workspace, ctx, cli) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 23)).number
    bring_in(workspace, version_3())
    result = cli("workflow", "migrate", "--to", "3", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "workflow": "dropout",
        "to_version": 3,
        "dry_run": False,
        "moved": 1,
        "cases": [
            {
                "number": number,
                "from_version": 2,
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
    bad = version_3(
        mapped=False,
        maps=(
            "  2: {verifying: nowhere, household_check: retained, vanished: checking, "
            "closed: checking}\n"
            "  3: {checking: identified}\n"
        ),
    )
    local = workspace / "workflows"
    local.mkdir()
    (local / "dropout.yaml").write_text(bad, encoding="utf-8")

    checked = cli("workflow", "check")

    assert checked.exit_code == 1
    assert "migrate_from.2.verifying: unknown state 'nowhere'" in checked.stderr
    assert "migrate_from.2.household_check: maps to 'retained', which is terminal" in checked.stderr
    assert "migrate_from.3: names version 3, which is not older than 3" in checked.stderr


def test_workflow_check_holds_a_map_to_the_older_version_beside_it(workspace, cli) -> None:
    odd = version_3(
        mapped=False, maps="  2: {verifying: checking, vanished: checking, closed: checking}\n"
    )
    local = workspace / "workflows"
    local.mkdir()
    (local / "dropout.yaml").write_text(odd, encoding="utf-8")

    checked = cli("workflow", "check")

    assert checked.exit_code == 1
    assert "migrate_from.2.vanished: version 2 has no state 'vanished'" in checked.stderr
    assert "migrate_from.2.closed: 'closed' is terminal in version 2" in checked.stderr
    assert "migrate_from.2.verifying" not in checked.stderr


def test_a_version_edited_after_cases_started_on_it_is_refused_even_in_a_dry_run(
    workspace, ctx
) -> None:
    open_case(ctx, child(2), occurred_on=date(2026, 11, 23))
    first = bring_in(workspace, version_3())
    open_case(first, child(3))  # a case starts on version 3 as it stands
    edited = bring_in(workspace, version_3().replace("amount: 5\n", "amount: 6\n", 1))
    before = contents(edited)

    for dry_run in (True, False):
        with pytest.raises(WorkflowInvalid, match="raise its `version`"):
            migrate_service.migrate(edited, 3, dry_run=dry_run)
    assert contents(edited) == before


VERSION_1 = (
    Path(migrate_service.__file__).parents[1] / "migrations" / "data" / "dropout-v1.yaml"
).read_text(encoding="utf-8")


def test_version_1_cases_move_to_the_shipped_version_2_by_its_map(workspace, ctx) -> None:
    old = bring_in(workspace, VERSION_1)
    monday = date(2026, 11, 16)

    def persuaded(serial: int, *steps: tuple[str, dict[str, str]]) -> int:
        number = open_case(old, child(serial), occurred_on=monday).number
        for trigger, values in (
            ("start_verification", {}),
            ("confirm_dropout", {"reason": "learning"}),
            *steps,
        ):
            advance(old, number, trigger, values, occurred_on=monday)
        return number

    order = ("issue_order", {"document_number": "天堂府责〔2026〕3号"})
    penalty = ("propose_penalty", {"document_number": "教罚告〔2026〕1号"})
    penalised = persuaded(2, order, penalty)
    in_court = persuaded(3, order, penalty, ("refer_to_court", {"route": "enforcement"}))
    at_health = persuaded(4, ("refer_health", {}))
    back = returned_case(old, serial=5)
    (workspace / "workflows" / "dropout.yaml").unlink()  # the shipped version 2 in force
    new = open_context(workspace, clock=fixed_clock)

    report = migrate_service.migrate(new, 2)

    moved = {m["number"]: m for m in report.as_json()["cases"]}
    assert {n: (m["from_state_label"], m["to_state_label"]) for n, m in moved.items()} == {
        penalised: ("行政处罚", "责令限期改正"),
        in_court: ("司法程序", "申请法院强制执行"),
        at_health: ("卫健评估", "卫健评估"),
        back: ("已复学（巩固观察）", "已复学（巩固观察）"),
    }
    rows = case_rows(new)
    assert rows[penalised].due_on == date(2026, 12, 1)  # 15 days from 16 Nov
    assert rows[in_court].due_on == date(2026, 12, 16)  # 30 days, not the old 60
    # watched for a term from the return (16 Nov), the check-ins made kept
    assert (rows[back].due_on, rows[back].counters) == (date(2027, 3, 16), {"check_in": 2})
    # the health referral goes back to persuasion, where the child was referred from
    advance(new, at_health, "health_cleared", {"finding": "可随班就读"})
    assert case_rows(new)[at_health].state == "persuasion"
    assert audit_verify(new).intact


def test_a_closure_proposed_before_the_move_is_rejected_back_to_the_renamed_state(
    workspace, ctx
) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 11, 23)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 23))
    proposal = {"reason": "studying_elsewhere", "evidence": "外县学籍证明"}
    advance(ctx, number, "propose_closure", proposal, occurred_on=date(2026, 11, 24))
    unmapped = bring_in(workspace, version_3(mapped=False))
    before = contents(unmapped)
    with pytest.raises(
        WorkflowInvalid,
        match="state verifying of version 2, where cases in "
        "closure_proposed came from and a return leads back to, has no state",
    ):
        migrate_service.migrate(unmapped, 3)
    assert contents(unmapped) == before
    new = bring_in(workspace, version_3())
    migrate_service.migrate(new, 3)

    advance(approver(new), number, "reject_closure", {"reason": "证明未盖章"})

    assert case_rows(new)[number].state == "checking"
