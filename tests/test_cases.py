"""Caseworkers open, advance and read cases through the CLI, on a real database."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from caseflow import db, engine
from caseflow.cli import app
from caseflow.errors import ConcurrentUpdate, WorkflowInvalid
from caseflow.models import AuditEvent, Case, Child
from caseflow.resources import shipped
from caseflow.services.cases import add_note, advance, open_case, show_case
from caseflow.services.context import Context, open_context, os_user, system_clock
from tests.conftest import (
    approved_closure,
    audit_trail,
    child,
    child_id_number,
    days_ago,
    open_case_by_cli,
)

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９ｘ")


def counts(ctx: Context) -> tuple[int, int]:
    with db.read(ctx.engine) as connection:
        events = connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        versions = connection.execute(select(func.sum(Case.version))).scalar() or 0
    return events, versions


def test_opening_a_case_prints_its_number_and_show_gives_the_json_contract(cli) -> None:
    number = open_case_by_cli(cli)
    shown = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert shown["number"] == number
    assert shown["state"] == "identified"
    assert shown["workflow"] == "dropout"
    assert shown["version"] == 1
    assert shown["due_on"] is not None
    triggers = {t["trigger"]: t for t in shown["transitions"]}
    assert {"start_verification", "propose_closure", "refer_disability_assessment"} <= set(triggers)
    reason = next(f for f in triggers["propose_closure"]["fields"] if f["name"] == "reason")
    assert reason["type"] == "choice" and "deceased" in reason["choices"]
    assert triggers["start_verification"]["dest"] == "verifying"


def test_a_case_walks_from_identified_to_returned_and_history_records_every_step(cli) -> None:
    number = open_case_by_cli(cli, 2, "--guardian", "张大山", "--guardian-relation", "父亲")
    steps = [
        ("start_verification", [], 9),
        ("confirm_dropout", ["--set", "reason=外出务工"], 8),
        ("issue_order", ["--set", "document_number=天堂府责〔2026〕3号"], 6),
        ("return_to_school", ["--set", "placement=original_class", "--set", "school=天堂小学"], 2),
    ]
    for trigger, values, ago in steps:
        result = cli("case", "advance", str(number), trigger, "--date", days_ago(ago), *values)
        assert result.exit_code == 0, result.stderr
    assert (
        cli(
            "case",
            "note",
            str(number),
            "班主任回访，在校稳定",
            "--method",
            "phone",
            "--date",
            days_ago(1),
        ).exit_code
        == 0
    )
    history = json.loads(cli("case", "history", str(number), "--json").stdout)
    # The order and its proof of service went to the father, the legal guardian.
    order = history[3]["payload"]["documents"]
    assert [(d["template"], d["prepared"], d["recipients"]) for d in order] == [
        ("order_to_correct", True, [f"guardian:case/{number}/1"]),
        ("proof_of_service", True, [f"guardian:case/{number}/1"]),
    ]
    assert [e["action"] for e in history] == ["case.open"] + ["case.transition"] * 4 + ["case.note"]
    assert [e["to"] for e in history[1:5]] == [
        "verifying",
        "persuasion",
        "order_issued",
        "returned",
    ]
    assert history[2]["from"] == "verifying"
    for event in history:
        assert {"seq", "action", "from", "to", "occurred_on", "recorded_at"} <= set(event)
    assert history[1]["occurred_on"] == days_ago(9)
    listed = json.loads(cli("case", "list", "--json").stdout)
    assert [(c["number"], c["state"]) for c in listed] == [(number, "returned")]
    assert set(listed[0]) >= {"number", "state", "due_on"}


def test_a_refused_transition_changes_nothing(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    before = counts(ctx)
    result = cli(
        "case",
        "advance",
        str(number),
        "return_to_school",
        "--set",
        "placement=original_class",
        "--set",
        "school=x",
    )
    assert result.exit_code == 1
    assert "not allowed from there" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    missing = cli("case", "advance", str(number), "propose_closure", "--set", "evidence=x")
    assert missing.exit_code == 1 and "reason" in missing.stderr
    bad_value = cli(
        "case",
        "advance",
        str(number),
        "propose_closure",
        "--set",
        "reason=bored",
        "--set",
        "evidence=x",
    )
    assert bad_value.exit_code == 2
    malformed = cli("case", "advance", str(number), "start_verification", "--set", "novalue")
    assert malformed.exit_code == 2
    future = cli("case", "advance", str(number), "start_verification", "--date", "2999-01-01")
    assert future.exit_code == 2 and "in the future" in future.stderr
    assert counts(ctx) == before


def test_a_missing_case_is_not_found_with_exit_code_1(cli) -> None:
    result = cli("case", "show", "999")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: case 999 not found; `caseflow case list` shows your cases"
    )


def test_opening_advancing_and_extending_record_no_read_only_showing_does(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    advanced = cli("case", "advance", str(number), "start_verification", "--json")
    assert advanced.exit_code == 0, advanced.stderr
    shown = json.loads(advanced.stdout)
    assert (shown["number"], shown["state"], shown["version"]) == (number, "verifying", 2)
    assert {t["trigger"] for t in shown["transitions"]} >= {"confirm_dropout"}
    extended = cli("case", "extend", str(number), "--days", "5", "--reason", "家访未遇")
    assert extended.exit_code == 0, extended.stderr
    assert "case.read" not in [event["action"] for event in audit_trail(ctx, number)]

    assert cli("case", "show", str(number)).exit_code == 0
    reads = [event for event in audit_trail(ctx, number) if event["action"] == "case.read"]
    assert [event["payload"]["view"] for event in reads] == ["case show"]


def test_a_stale_expected_version_is_a_conflict_with_exit_code_3(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    assert cli("case", "advance", str(number), "start_verification").exit_code == 0
    before = counts(ctx)
    stale = cli(
        "case",
        "advance",
        str(number),
        "confirm_dropout",
        "--set",
        "reason=poverty",
        "--expect-version",
        "1",
    )
    assert stale.exit_code == 3 and "version 2, not 1" in stale.stderr
    assert counts(ctx) == before
    fresh = cli(
        "case",
        "advance",
        str(number),
        "confirm_dropout",
        "--set",
        "reason=poverty",
        "--expect-version",
        "2",
    )
    assert fresh.exit_code == 0


def test_a_lost_race_between_reading_and_writing_is_a_conflict(ctx, database) -> None:
    """The version check in the UPDATE catches a writer that slipped in after our read."""
    if database.backend == "sqlite":
        pytest.skip("SQLite reads the case under the write lock: no writer can slip in")
    number = open_case(ctx, child()).number
    original_decide = engine.decide

    def decide_while_someone_else_writes(*args, **kwargs):
        outcome = original_decide(*args, **kwargs)
        engine.decide = original_decide
        add_note(ctx, number, "同时录入的走访记录")
        return outcome

    engine.decide = decide_while_someone_else_writes
    try:
        with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
            advance(ctx, number, "start_verification")
    finally:
        engine.decide = original_decide
    view = show_case(ctx, number)
    assert view["state"] == "identified" and view["version"] == 2


def test_resident_ids_are_validated_and_never_printed_in_full(cli) -> None:
    full = child_id_number(2)
    wrong_check = full[:-1] + ("0" if full[-1] != "0" else "1")
    result = cli(
        "case",
        "open",
        "--name",
        "张小华",
        "--id-number",
        wrong_check,
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
    )
    assert result.exit_code == 2
    assert "check character" in result.stderr and wrong_check not in result.stderr
    number = open_case_by_cli(cli, 3)
    outputs = [
        cli("case", "show", str(number)).stdout,
        cli("case", "show", str(number), "--json").stdout,
        cli("case", "list").stdout,
        cli("case", "list", "--json").stdout,
        cli("case", "history", str(number), "--json").stdout,
        cli("audit", "log", "--json").stdout,
    ]
    full3 = child_id_number(3)
    for output in outputs:
        assert full3 not in output
    assert f"{full3[:4]}********{full3[-4:]}" in outputs[0]


def stored_child(ctx: Context, number: int) -> Any:
    with db.read(ctx.engine) as connection:
        return connection.execute(
            select(Child.id_number, Child.sex, Child.birth_date)
            .join(Case, Case.child_id == Child.id)
            .where(Case.id == number)
        ).one()


@pytest.mark.parametrize(
    "typing", [FULL_WIDTH, str.maketrans("X", "x")], ids=["full-width", "lowercase-x"]
)
def test_an_id_typed_in_full_width_or_with_lowercase_x_is_stored_normalised(
    cli, ctx, typing
) -> None:
    serial = next(s for s in range(1, 999) if child_id_number(s).endswith("X"))
    normalised = child_id_number(serial)  # ASCII digits, capital X
    typed = normalised.translate(typing)
    assert typed != normalised
    result = cli(
        "case",
        "open",
        "--name",
        "王芳",
        "--id-number",
        typed,
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    number = int(json.loads(result.stdout)["number"])
    stored = stored_child(ctx, number)
    assert stored.id_number == normalised
    assert (stored.sex, stored.birth_date) == ("男" if serial % 2 else "女", date(2013, 3, 5))
    # The same child typed the plain way is the same child, with its case already open.
    again = cli(
        "case",
        "open",
        "--name",
        "王芳",
        "--id-number",
        normalised,
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
    )
    assert again.exit_code != 0
    assert f"already has open case {number}" in again.stderr


def test_sex_and_birth_date_must_agree_with_the_id(cli) -> None:
    args = [
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
    ]
    assert cli(*args, "--sex", "男").exit_code == 2  # serial 2 is female
    assert cli(*args, "--birth-date", "2013-03-06").exit_code == 2
    assert cli(*args, "--sex", "X").exit_code == 2
    ok = cli(*args, "--sex", "女", "--birth-date", "2013年3月5日", "--json")
    assert ok.exit_code == 0, ok.stderr


@pytest.mark.parametrize("hostile", ["证明\x00材料", "证明\x1b]0;标题\x07", "证明\r材料"])
def test_a_value_with_a_control_character_is_refused_and_changes_nothing(
    cli, ctx, hostile: str
) -> None:
    number = open_case_by_cli(cli)
    before = counts(ctx)
    result = cli(
        "case",
        "advance",
        str(number),
        "propose_closure",
        "--set",
        "reason=studying_elsewhere",
        "--set",
        f"evidence={hostile}",
        "--lang",
        "zh",
    )
    assert result.exit_code == 2, result.stderr
    assert "控制字符" in result.stderr and "Traceback" not in result.stderr
    assert counts(ctx) == before


def test_a_second_open_case_for_the_same_child_is_refused_and_names_the_first(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    again = cli(
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
    )
    assert again.exit_code == 1
    assert f"already has open case {number}" in again.stderr
    # Closed on the system clock, as the CLI opened it.
    approved_closure(replace(ctx, clock=system_clock), number, "studying_elsewhere", "转学证明")
    assert open_case_by_cli(cli) != number  # a closed case does not block a new one


def test_notes_are_logged_without_changing_state_and_refused_on_closed_cases(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    noted = cli("case", "note", str(number), "电话联系家长，态度消极", "--method", "phone")
    assert noted.exit_code == 0
    shown = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert shown["state"] == "identified" and shown["version"] == 2
    assert shown["history"][-1]["payload"]["method"] == "phone"
    assert cli("case", "note", str(number), "x", "--method", "telepathy").exit_code == 2
    approved_closure(replace(ctx, clock=system_clock), number, "deceased", "死亡证明")
    assert cli("case", "note", str(number), "再访").exit_code == 1


def test_list_filters_by_state_township_and_overdue(cli) -> None:
    first = open_case_by_cli(cli, 2)
    second = open_case_by_cli(cli, 4)
    cli("case", "advance", str(second), "start_verification", "--date", days_ago(9))
    by_state = json.loads(cli("case", "list", "--state", "verifying", "--json").stdout)
    assert [c["number"] for c in by_state] == [second]
    overdue = json.loads(cli("case", "list", "--overdue", "--json").stdout)
    assert {c["number"] for c in overdue} == {first, second}
    assert json.loads(cli("case", "list", "--township", "别的镇", "--json").stdout) == []


def test_the_audit_names_the_real_os_user_even_when_user_is_set(cli, monkeypatch) -> None:
    monkeypatch.setenv("USER", "somebody-else")
    monkeypatch.setenv("LOGNAME", "somebody-else")
    number = open_case_by_cli(cli)
    history = json.loads(cli("case", "history", str(number), "--json").stdout)
    assert history[0]["os_user"] == os_user() != "somebody-else"


def test_audit_verify_and_checkpoint_from_the_cli(cli) -> None:
    open_case_by_cli(cli)
    checkpoint = cli("audit", "checkpoint")
    assert checkpoint.exit_code == 0
    text = checkpoint.stdout.strip()
    verified = cli("audit", "verify", "--checkpoint", text)
    assert verified.exit_code == 0 and "intact" in verified.stdout
    log = json.loads(cli("audit", "log", "--json").stdout)
    assert text.startswith(f"caseflow-audit:{log[-1]['seq']}:")
    changes = [e["action"] for e in log if e["action"] != "case.read"]
    assert changes == ["workspace.init", "org.apply", "case.open", "audit.checkpoint"]


def test_an_edited_workflow_needs_a_new_version_before_new_cases_use_it(workspace, ctx) -> None:
    open_case(ctx, child())
    local = workspace / "workflows"
    local.mkdir()
    source = shipped("workflows").joinpath("dropout.yaml").read_text(encoding="utf-8")
    (local / "dropout.yaml").write_text(
        source.replace("amount: 3\n", "amount: 4\n", 1), encoding="utf-8"
    )
    edited = open_context(workspace)
    with pytest.raises(WorkflowInvalid, match="raise its `version`"):
        open_case(edited, child(4))
    (local / "dropout.yaml").write_text(
        source.replace("amount: 3\n", "amount: 4\n", 1).replace("version: 2", "version: 3", 1),
        encoding="utf-8",
    )
    bumped = open_context(workspace)
    number = open_case(bumped, child(4)).number
    assert show_case(bumped, number)["workflow_version"] == 3
    assert show_case(bumped, 1)["workflow_version"] == 2


def test_commands_find_the_workspace_from_env_or_the_folders_above(workspace, tmp_path) -> None:
    runner = CliRunner()
    from_env = runner.invoke(app, ["case", "list"], env={"CASEFLOW_WORKSPACE": str(workspace)})
    assert from_env.exit_code == 0, from_env.stderr
    nested = workspace / "outbox" / "deeper"
    nested.mkdir(parents=True)
    cwd = Path.cwd()
    try:
        os.chdir(nested)
        found = runner.invoke(app, ["case", "list"], env={"CASEFLOW_WORKSPACE": ""})
        assert found.exit_code == 0, found.stderr
        os.chdir(tmp_path.parent)
        missing = runner.invoke(app, ["case", "list"], env={"CASEFLOW_WORKSPACE": ""})
        assert missing.exit_code == 2 and "caseflow init" in missing.stderr
    finally:
        os.chdir(cwd)


def test_init_refuses_an_existing_workspace_and_a_failed_init_leaves_nothing(tmp_path) -> None:
    runner = CliRunner()
    root = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    again = runner.invoke(app, ["init", str(root)])
    assert again.exit_code == 2 and "already a caseflow workspace" in again.stderr
    other = tmp_path / "other"
    shared_db = f"sqlite:///{root / 'caseflow.db'}"
    refused = runner.invoke(app, ["init", str(other), "--database-url", shared_db])
    assert refused.exit_code == 2 and "already has operators" in refused.stderr
    assert not (other / "caseflow.toml").exists()
    assert not (other / "outbox").exists()


def test_details_learnt_later_are_recorded_and_let_the_order_be_prepared(cli, ctx) -> None:
    number = open_case_by_cli(cli)
    for trigger, extra in (
        ("start_verification", []),
        ("confirm_dropout", ["--set", "reason=poverty"]),
    ):
        assert cli("case", "advance", str(number), trigger, *extra).exit_code == 0
    assert cli("case", "update", str(number)).exit_code == 2
    assert cli("case", "update", str(number), "--guardian-phone", "13800000000").exit_code == 2
    updated = cli(
        "case",
        "update",
        str(number),
        "--guardian",
        "张大山",
        "--guardian-relation",
        "父亲",
        "--guardian-phone",
        "13812345678",
        "--grade",
        "七年级",
        "--class",
        "（2）班",
    )
    assert updated.exit_code == 0, updated.stderr
    shown = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert shown["guardians"] == [
        {
            "name": "张大山",
            "relation": "父亲",
            "phone": "13812345678",
            "workplace": None,
            "capacity": "legal",
            "capacity_label": "法定监护人",
            "legal_basis": None,
        }
    ]
    event = shown["history"][-1]
    assert event["action"] == "case.update"
    assert event["payload"]["changed"]["guardian_phone"] == "138****5678"
    issued = cli(
        "case",
        "advance",
        str(number),
        "issue_order",
        "--set",
        "document_number=天堂府责〔2026〕3号",
        "--json",
    )
    documents = json.loads(issued.stdout)["documents"]
    assert [d["prepared"] for d in documents] == [True, True]
