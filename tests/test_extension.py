"""Deadline extensions need two people: one operator requests, another with an approve
role of the workflow approves (or rejects); a request lapses when its case moves on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from caseflow import db, engine
from caseflow.access import Jurisdiction
from caseflow.calendar import WorkCalendar
from caseflow.cli.present import case_lines
from caseflow.engine import Actor, CaseSnapshot, ExtensionRequest
from caseflow.errors import AccessDenied, InvalidInput, TransitionRefused
from caseflow.resources import shipped
from caseflow.services import cases
from caseflow.services.cases import (
    advance,
    approve_extension,
    open_case,
    reject_extension,
    show_case,
)
from caseflow.services.context import Context, open_context, os_user
from caseflow.services.org import apply_org
from caseflow.services.records import CASE, EVENT
from caseflow.states import load_workflow, parse_workflow
from caseflow.workspace import load, write_example_org
from tests.conftest import NATIONAL, CliInvoker, approver, child, fixed_clock

MONDAY = date(2026, 11, 23)
REASON = "监护人外出务工，约定返乡后面谈"
SHIPPED = shipped("workflows") / "dropout.yaml"


def opened(ctx: Context, serial: int = 2) -> int:
    """A case of 天堂镇天堂村 opened on Monday 23 Nov 2026: identified, due 26 Nov."""
    return open_case(ctx, child(serial), occurred_on=MONDAY).number


def stored(ctx: Context, number: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The case row and its audit events (action, payload) as the database holds them."""
    with db.read(ctx.engine) as connection:
        row = connection.execute(select(CASE).where(CASE.c.id == number)).one()
        events = connection.execute(
            select(EVENT.c.action, EVENT.c.payload)
            .where(EVENT.c.case_id == number)
            .order_by(EVENT.c.seq)
        ).all()
    return dict(row._mapping), [(e.action, e.payload) for e in events]


def request_extension_by(ctx: Context, number: int, days: int = 10) -> cases.CaseStep:
    return cases.request_extension(ctx, number, days, REASON, occurred_on=date(2026, 11, 25))


def test_a_request_keeps_the_deadline_until_another_operator_approves_it(ctx) -> None:
    number = opened(ctx)
    assert show_case(ctx, number)["due_on"] == "2026-11-26"
    step = request_extension_by(ctx, number)
    assert (step.version, step.due_on) == (2, date(2026, 11, 26))
    view = show_case(ctx, number)
    assert view["due_on"] == "2026-11-26"
    assert view["extension_request"] == {
        "status": "pending",
        "state": "identified",
        "days": 10,
        "reason": REASON,
        "requested_on": "2026-11-25",
        "operator": ctx.actor.operator,
        "person": None,
        "approve_roles": ["bureau"],
    }
    assert (
        f"  Extension request: 10 days requested by {ctx.actor.operator} on 2026-11-25 ({REASON}); "
        "awaits approval by another operator with role bureau; lapses if the case leaves "
        "identified"
    ) in case_lines(view)

    approved = approve_extension(approver(ctx), number, occurred_on=date(2026, 11, 26))
    assert (approved.version, approved.due_on) == (3, date(2026, 12, 7))  # 26 Nov + 10: Sunday
    view = show_case(ctx, number)
    assert view["due_on"] == "2026-12-07" and view["extension_request"] is None
    granted = view["history"][-1]
    assert (granted["action"], granted["operator"]) == ("case.extension", "县教育局分管领导")
    assert granted["payload"]["requested_by"] == ctx.actor.operator
    assert granted["payload"]["from_due_on"] == "2026-11-26"
    assert [e["action"] for e in view["history"]] == [
        "case.open",
        "case.extension_requested",
        "case.extension",
    ]


def test_the_requester_may_neither_approve_nor_reject_their_request_and_nothing_changes(
    ctx,
) -> None:
    number = opened(ctx)
    request_extension_by(ctx, number)
    row, events = stored(ctx, number)
    with pytest.raises(AccessDenied, match="requested this extension and may not approve it"):
        approve_extension(ctx, number)
    with pytest.raises(AccessDenied, match="requested this extension and may not reject it"):
        reject_extension(ctx, number, "不予延期")
    after_row, after_events = stored(ctx, number)
    assert after_row == row
    assert after_events[: len(events)] == events
    assert [action for action, _ in after_events[len(events) :]] == ["access.refused"] * 2


def test_an_operator_without_an_approve_role_may_not_approve(ctx) -> None:
    number = opened(ctx)
    request_extension_by(ctx, number)
    caseworker = Context(
        ctx.workspace,
        ctx.engine,
        Actor(
            "天堂镇控辍专干", "ttz", frozenset({"caseworker"}), Jurisdiction("township", "天堂镇")
        ),
        ctx.clock,
        ctx.calendar,
    )
    row, _ = stored(ctx, number)
    with pytest.raises(AccessDenied, match="may not approve extension requests; it needs one of"):
        approve_extension(caseworker, number)
    assert stored(ctx, number)[0] == row


def test_a_second_request_is_refused_while_one_is_pending(ctx) -> None:
    number = opened(ctx)
    request_extension_by(ctx, number)
    before = stored(ctx, number)
    with pytest.raises(TransitionRefused, match="already has an extension request pending"):
        request_extension_by(approver(ctx), number, days=3)
    assert stored(ctx, number) == before


def test_a_rejected_request_leaves_the_deadline_and_a_new_one_may_follow(ctx) -> None:
    number = opened(ctx)
    request_extension_by(ctx, number)
    with pytest.raises(InvalidInput, match="a rejection needs a reason"):
        reject_extension(approver(ctx), number, " ")
    reject_extension(approver(ctx), number, "期限内仍可入户面谈", occurred_on=date(2026, 11, 26))
    view = show_case(ctx, number)
    assert view["due_on"] == "2026-11-26" and view["extension_request"] is None
    rejected = view["history"][-1]
    assert rejected["action"] == "case.extension_rejected"
    assert rejected["payload"]["reason"] == "期限内仍可入户面谈"
    assert rejected["payload"]["requested_by"] == ctx.actor.operator
    with pytest.raises(TransitionRefused, match="has no extension request to approve"):
        approve_extension(approver(ctx), number)
    cases.request_extension(ctx, number, 5, "再次申请", occurred_on=date(2026, 11, 27))
    assert show_case(ctx, number)["extension_request"]["days"] == 5


def test_a_request_lapses_when_the_case_leaves_its_state_and_case_show_says_so(ctx) -> None:
    number = opened(ctx)
    request_extension_by(ctx, number)
    cases.add_note(ctx, number, "电话联系监护人", method="phone", occurred_on=date(2026, 11, 26))
    assert show_case(ctx, number)["extension_request"]["status"] == "pending"  # still here
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 27))
    view = show_case(ctx, number)
    assert view["extension_request"]["status"] == "lapsed"
    assert view["extension_request"]["lapsed_on"] == "2026-11-27"
    assert (
        f"  Extension request: 10 days requested by {ctx.actor.operator} on 2026-11-25 ({REASON}); "
        "lapsed on 2026-11-27: the case left identified"
    ) in case_lines(view)
    before = stored(ctx, number)
    with pytest.raises(TransitionRefused, match="has no extension request to approve"):
        approve_extension(approver(ctx), number)
    assert stored(ctx, number) == before
    cases.request_extension(ctx, number, 5, "核查需走访外县学校", occurred_on=date(2026, 11, 28))
    assert show_case(ctx, number)["extension_request"]["state"] == "verifying"


# ---------------------------------------------------------------------------------------
# The workflow's `extension:` section


def _with_extension(section: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8")
    old = (
        "extension:\n  request_roles: [bureau, caseworker, school]\n"
        "  approve_roles: [bureau]\n  max_days: 30\n"
    )
    assert old in text
    return text.replace(old, section)


def test_a_version_1_workflow_names_the_requesters_and_the_bureau_approves() -> None:
    workflow = load_workflow(SHIPPED)
    assert workflow.extension_roles == ("bureau", "caseworker", "school")
    assert workflow.extension_approve_roles == ("bureau",)
    old_style = _with_extension("extension:\n  roles: [bureau, caseworker]\n  max_days: 30\n")
    workflow, problems = parse_workflow(old_style, "dropout.yaml")
    assert problems == [] and workflow is not None
    assert (workflow.extension_roles, workflow.extension_approve_roles) == (
        ("bureau", "caseworker"),
        ("bureau",),
    )


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        (
            "extension:\n  request_roles: [caseworker]\n",
            "extension.approve_roles",
            "is required: the roles that approve",
        ),
        (
            "extension:\n  request_roles: [caseworker]\n  approve_roles: []\n",
            "extension.approve_roles",
            "names no role",
        ),
        (
            "extension:\n  request_roles: [caseworker]\n  approve_roles: [mayor]\n",
            "extension.approve_roles",
            "unknown role 'mayor'",
        ),
        (
            "extension:\n  roles: [caseworker]\n  request_roles: [caseworker]\n"
            "  approve_roles: [bureau]\n",
            "extension.roles",
            "old name of `request_roles`",
        ),
    ],
)
def test_workflow_check_refuses_an_extension_nobody_could_approve(
    section: str, where: str, message: str, tmp_path: Path, cli: CliInvoker
) -> None:
    _workflow, problems = parse_workflow(_with_extension(section), "dropout.yaml")
    assert [(p.path, message in p.message) for p in problems] == [(where, True)]
    path = tmp_path / "dropout.yaml"
    path.write_text(_with_extension(section), encoding="utf-8")
    checked = cli("workflow", "check", str(path))
    assert checked.exit_code == 1 and where in checked.stderr


# ---------------------------------------------------------------------------------------
# The engine

WORKFLOW = load_workflow(SHIPPED)
CALENDAR = WorkCalendar(NATIONAL)
CASE_IN_IDENTIFIED = CaseSnapshot(
    number=1,
    state="identified",
    entered_on=MONDAY,
    due_on=date(2026, 12, 4),
    version=2,
    last_event_on=MONDAY,
)
OPERATORS = st.sampled_from(["甲", "乙", "丙"])
PEOPLE = st.sampled_from([None, "li-chunyan", "zhou-haibo"])


@given(
    requester=OPERATORS,
    requester_person=PEOPLE,
    approver_name=OPERATORS,
    approver_person=PEOPLE,
    roles=st.frozensets(st.sampled_from(["bureau", "caseworker", "school", "supervisor"])),
    days=st.integers(1, 30),
)
def test_an_approval_is_granted_only_to_an_approve_role_other_than_the_requester(
    requester: str,
    requester_person: str | None,
    approver_name: str,
    approver_person: str | None,
    roles: frozenset[str],
    days: int,
) -> None:
    request = ExtensionRequest("identified", days, REASON, MONDAY, requester, requester_person)
    actor = Actor(approver_name, approver_name, roles)
    same = approver_name == requester or (
        approver_person is not None and approver_person == requester_person
    )

    def approve() -> Any:
        return engine.extend(
            WORKFLOW,
            CASE_IN_IDENTIFIED,
            request,
            actor=actor,
            person=approver_person,
            occurred_on=MONDAY,
            today=MONDAY,
            calendar=CALENDAR,
        )

    if "bureau" not in roles or same:
        with pytest.raises(AccessDenied):
            approve()
        return
    outcome = approve()
    assert outcome.extended_days == days and outcome.state == "identified"
    assert outcome.due is not None  # so many days later, or the next working day after
    assert days <= (outcome.due.due_on - date(2026, 12, 4)).days < days + 8


def test_a_request_needs_a_request_role_a_deadline_and_no_pending_one() -> None:
    def ask(actor: Actor, pending: ExtensionRequest | None = None, days: int = 5) -> Any:
        return engine.request_extension(
            WORKFLOW,
            CASE_IN_IDENTIFIED,
            pending,
            days=days,
            reason=REASON,
            actor=actor,
            person=None,
            occurred_on=MONDAY,
            today=MONDAY,
        )

    with pytest.raises(AccessDenied, match="may not request deadline extensions"):
        ask(Actor("wang", "wang", frozenset({"supervisor"})))
    bureau = Actor("chen", "chen", frozenset({"bureau"}))
    pending = ask(bureau)
    assert pending == ExtensionRequest("identified", 5, REASON, MONDAY, "chen")
    with pytest.raises(TransitionRefused, match="already has an extension request pending"):
        ask(bureau, pending)
    with pytest.raises(InvalidInput, match="between 1 and 30"):
        ask(bureau, days=31)
    with pytest.raises(TransitionRefused, match="no deadline to extend"):
        engine.request_extension(
            WORKFLOW,
            replace(CASE_IN_IDENTIFIED, due_on=None),
            None,
            days=5,
            reason=REASON,
            actor=bureau,
            person=None,
            occurred_on=MONDAY,
            today=MONDAY,
        )


# ---------------------------------------------------------------------------------------
# From the command line, with the example county's operators


@pytest.fixture
def county(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[CliInvoker, int]:
    """The example county in force, plus a second operator account of the bureau's
    周海波 (the person behind 县教育局控辍办); one case of 天堂镇, identified."""
    org_file = write_example_org(load(workspace), os_user())
    text = org_file.read_text(encoding="utf-8")
    text = text.replace(
        "\n# Addresses not covered above",
        "\n  - {name: 周海波, os_user: zhb, roles: [bureau], unit: bureau, person: zhou-haibo}"
        "\n\n# Addresses not covered above",
    )
    org_file.write_text(text, encoding="utf-8")
    apply_org(open_context(workspace, clock=fixed_clock))
    number = opened(open_context(workspace, clock=fixed_clock))
    return CliInvoker(workspace), number


def _as(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    monkeypatch.setattr("caseflow.services.context.os_user", lambda: account)


def test_a_township_caseworkers_request_is_approved_by_the_bureau(
    county: tuple[CliInvoker, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, number = county
    case = str(number)
    _as(monkeypatch, "ttz-kcb")
    requested = cli("case", "extend", case, "--days", "10", "--reason", REASON)
    assert requested.exit_code == 0, requested.stderr
    assert requested.stdout.strip() == (
        f"Case {number}: extension of 10 days requested; due stays 2026-11-26 until another "
        f"operator with role bureau approves it (`caseflow case extend {number} --approve`)"
    )
    asked_on = json.loads(cli("case", "show", case, "--json").stdout)["extension_request"][
        "requested_on"
    ]  # today, on the system clock the command line runs on
    shown = cli("case", "show", case).stdout
    asked = f"Extension request: 10 days requested by 天堂镇控辍专干 on {asked_on} ({REASON})"
    assert asked in shown
    refused = cli("case", "extend", case, "--approve")
    assert refused.exit_code == 1 and "may not approve extension requests" in refused.stderr

    _as(monkeypatch, os_user())  # 县教育局控辍办
    approved = cli("case", "extend", case, "--approve")
    assert approved.exit_code == 0, approved.stderr
    assert approved.stdout.strip() == f"Case {number}: due 2026-12-07"
    history = cli("--lang", "zh", "case", "history", case).stdout
    assert f"申请延期：申请延长 10 天：{REASON}" in history
    asked = date.fromisoformat(asked_on)
    assert (
        f"办理期限延长：延长 10 天（天堂镇控辍专干 于 {asked.year}年{asked.month}月{asked.day}日 "
        "申请），期限 2026年11月26日 → 2026年12月7日  [县教育局控辍办]"
    ) in history


def test_one_person_cannot_approve_their_own_request_from_another_operator_account(
    county: tuple[CliInvoker, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, number = county
    _as(monkeypatch, os_user())  # 县教育局控辍办, who is 周海波
    requested = cli("case", "extend", str(number), "--days", "5", "--reason", "家访未遇")
    assert requested.exit_code == 0, requested.stderr
    _as(monkeypatch, "zhb")  # 周海波's own account
    refused = cli("case", "extend", str(number), "--approve")
    assert refused.exit_code == 1 and "requested this extension" in refused.stderr
    shown = json.loads(cli("case", "show", str(number), "--json").stdout)
    assert shown["due_on"] == "2026-11-26"
    assert shown["extension_request"]["operator"] == "县教育局控辍办"
    assert shown["extension_request"]["person"] == "zhou-haibo"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--days", "5"),
        ("--approve", "--reject", "--reason", "x"),
        ("--approve", "--days", "5"),
        ("--approve", "--reason", "x"),
        ("--reject",),
    ],
)
def test_case_extend_says_which_options_go_together(cli: CliInvoker, ctx, args) -> None:
    number = opened(ctx)
    before = stored(ctx, number)
    result = cli("case", "extend", str(number), *args)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    assert stored(ctx, number) == before
