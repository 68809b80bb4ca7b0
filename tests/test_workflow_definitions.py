"""Workflow files: loading, every kind of problem `workflow check` reports, diagrams."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from caseflow.cli import app
from caseflow.errors import WorkflowInvalid
from caseflow.render import template_ids
from caseflow.resources import shipped
from caseflow.states import Attempt, dot, fire, load_workflow, mermaid, parse_workflow

DROPOUT = shipped("workflows") / "dropout.yaml"
REQUIRED_STATES = {
    "identified",
    "verifying",
    "closed",
    "deferred",
    "missing",
    "disability_assessment",
    "special_education",
    "expert_assessment",
    "home_teaching",
    "persuasion",
    "order_issued",
    "order_to_correct",
    "penalty_notice_issued",
    "statement_period",
    "hearing",
    "penalty_decision_issued",
    "penalty_in_force",
    "demand_issued",
    "demand_period",
    "court_enforcement",
    "admonition",
    "returned",
    "closure_proposed",
    "transfer_proposed",
    "retained",
}


def dropout_data() -> dict:
    return yaml.safe_load(DROPOUT.read_text(encoding="utf-8"))


def problems_of(data: dict) -> list[str]:
    _workflow, problems = parse_workflow(
        yaml.safe_dump(data, allow_unicode=True), "w.yaml", template_ids()
    )
    return [str(p) for p in problems]


def test_the_shipped_dropout_workflow_is_sound() -> None:
    _workflow, problems = parse_workflow(
        DROPOUT.read_text(encoding="utf-8"), str(DROPOUT), template_ids()
    )
    assert problems == []


def test_the_dropout_workflow_has_the_standard_states_and_handoffs() -> None:
    workflow = load_workflow(DROPOUT)
    assert set(workflow.states) >= REQUIRED_STATES
    handed_to = {d for t in workflow.transitions for d in t.handoff}
    assert {
        "public_security",
        "health",
        "labour_inspection",
        "disability_federation",
        "civil_affairs",
        "womens_federation",
        "youth_league",
    } <= handed_to
    assert "court" not in workflow.departments  # a court is not a unit of the county
    closing = workflow.find("propose_closure", "verifying")
    assert closing is not None and closing.dest == "closure_proposed"
    reason = closing.field("reason")
    assert reason is not None and reason.required
    assert {v for v, _ in reason.choices} == {
        "studying_elsewhere",
        "enrolled",
        "completed",
        "deceased",
        "moved_out",
        "register_error",
        "out_of_scope",
    }
    approve = workflow.find("approve_closure", "closure_proposed")
    assert approve is not None and approve.dest == "closed"
    assert approve.guards == ("second_person",)
    relapse = workflow.find("relapse", "returned")
    assert relapse is not None and relapse.dest == "persuasion" and relapse.counts_repeat
    for state in workflow.states.values():
        if state.kind == "waiting":
            assert state.deadline is not None and state.deadline.basis
            assert state.ladder, state.id


def test_loaded_definitions_are_immutable() -> None:
    workflow = load_workflow(DROPOUT)
    with pytest.raises(AttributeError):
        workflow.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        workflow.states["x"] = workflow.states["closed"]  # type: ignore[index]


def test_the_machine_moves_only_along_declared_transitions() -> None:
    workflow = load_workflow(DROPOUT)
    bureau = Attempt(
        case=1,
        operator="chen",
        roles=frozenset({"bureau"}),
        department=None,
        handed_to=(),
        counters={},
        due_on=None,
        occurred_on=date(2026, 11, 2),
    )
    assert fire(workflow, "verifying", "confirm_dropout", bureau) == "persuasion"
    assert fire(workflow, "returned", "check_in", bureau) == "returned"
    assert fire(workflow, "closed", "confirm_dropout", bureau) is None
    assert fire(workflow, "identified", "retain", bureau) is None
    assert fire(workflow, "identified", "to_closed", bureau) is None  # no auto transitions


def check_in(data: dict) -> dict:
    return next(t for t in data["transitions"] if t["trigger"] == "check_in")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["transitions"][0].update({"to": "nowhere"}),
            "transitions[0].to: unknown state 'nowhere'",
        ),
        (
            lambda d: d["transitions"][0].update({"from": ["limbo"]}),
            "transitions[0].from: unknown state 'limbo'",
        ),
        (
            lambda d: d["states"].update({"orphan": {"label": "孤立", "kind": "terminal"}}),
            "states.orphan: unreachable from the initial state 'identified'",
        ),
        (
            lambda d: (
                d["states"].update(
                    {
                        # a closing state: `from: "*"` (propose a closure) gives
                        # every other open state a way out
                        "stuck": {
                            "label": "卡住",
                            "kind": "waiting",
                            "category": "closing",
                            "responsible": "township",
                            "deadline": {"amount": 1, "unit": "days", "basis": "x"},
                        }
                    }
                )
                or d["transitions"].append(
                    {
                        "trigger": "get_stuck",
                        "label": "卡",
                        "from": ["verifying"],
                        "to": "stuck",
                        "roles": ["bureau"],
                    }
                )
            ),
            "states.stuck: non-terminal state has no way out",
        ),
        (
            lambda d: d["states"]["verifying"].pop("deadline"),
            "states.verifying.deadline: a waiting state needs a deadline",
        ),
        (
            lambda d: d["ladders"]["township"][1].update({"notify": []}),
            "ladders.township[1].notify: an escalation rung needs at least one recipient",
        ),
        (
            lambda d: d["transitions"].append(dict(d["transitions"][0])),
            "duplicate trigger 'start_verification' from state 'identified'",
        ),
        (
            lambda d: d["transitions"][0].update({"roles": ["janitor"]}),
            "transitions[0].roles: unknown role 'janitor'",
        ),
        (
            lambda d: d["ladders"]["township"][0].update({"template": "no_such_letter"}),
            "template 'no_such_letter' does not exist",
        ),
        (
            lambda d: d["transitions"][2].update({"documents": ["missing_form"]}),
            "transitions[2].documents: template 'missing_form' does not exist",
        ),
        (
            lambda d: d["transitions"][2].update({"handoff": ["fire_brigade"]}),
            "transitions[2].handoff: unknown department 'fire_brigade'",
        ),
        (
            lambda d: d["states"]["verifying"].update({"escalation": "nonexistent"}),
            "states.verifying.escalation: unknown ladder 'nonexistent'",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t.get("auto")).update(
                {"documents": ["referral_letter"]}
            ),
            "an automatic transition cannot issue documents",
        ),
        (
            lambda d: d["states"]["verifying"]["deadline"].update({"unit": "fortnights"}),
            "states.verifying.deadline.unit: is 'fortnights'",
        ),
        (
            lambda d: d["transitions"][0].update({"guard": "full_moon"}),
            "transitions[0].guard: unknown guard 'full_moon'; known: deadline_passed",
        ),
        (
            lambda d: (
                d["transitions"][0].update({"guard": "deadline_passed", "from": "verifying"})
                or d["states"]["verifying"].pop("deadline")
            ),
            "transitions[0].guard: deadline_passed from 'verifying', which has no deadline",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t.get("auto")).update(
                {"guard": "deadline_passed"}
            ),
            "deadline_passed would refuse an automatic transition",
        ),
        (
            lambda d: d["transitions"][0].update({"guard": "court_route=prison"}),
            "transitions[0].guard: unknown county choice 'court_route=prison'; known: "
            "court_route=enforcement, court_route=admonition",
        ),
        (
            lambda d: d["transitions"][0].update({"guard": "recorded:penalty_kind=prison"}),
            "transitions[0].guard: 'recorded:penalty_kind=prison': no transition records "
            "'penalty_kind' as a choice with the value 'prison'",
        ),
        (
            lambda d: d["transitions"][0].update({"guard": "recorded:=fine"}),
            "'recorded:=fine': write recorded:FIELD=VALUE",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t.get("auto")).update(
                {"guard": "second_person"}
            ),
            "second_person needs a person: not an auto transition",
        ),
        (
            lambda d: d["transitions"][0].update({"returns": True}),
            "a transition that returns goes back where the case came from",
        ),
        (
            lambda d: d["transitions"][0].update({"returns": True, "to": None}),
            "returns from 'identified', which no transition enters from elsewhere",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "check_in").update(
                {"counts_when": {"attending": "asleep"}}
            ),
            "counts_when.attending: is 'asleep'; choose one of: ",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "check_in").update(
                {"counts_when": {"note": "x"}}
            ),
            "counts_when.note: must name a choice field of the transition",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "check_in")["fields"][
                "note"
            ].update({"starts_deadline": True}),
            "only a date field that does not set the due date can start the deadline",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "retain").update(
                {"requires": {"check_in": "visits_per_week"}}
            ),
            "requires.check_in: is 'visits_per_week': give a number or a county setting "
            "(home_teaching_visits)",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "retain").update(
                {"requires": {"check_in": "home_teaching_visits"}}
            ),
            "an automatic transition cannot wait on a county setting",
        ),
        (
            lambda d: d["states"]["order_to_correct"]["deadline"].update({"within": [15, 7]}),
            "states.order_to_correct.deadline.within: must be [LOW, HIGH]",
        ),
        (
            lambda d: d["states"]["returned"]["deadline"].update({"until_term_end": True}),
            "states.returned.deadline.until_term_end: is True; write `until_term_end: allowed`",
        ),
        (
            lambda d: d["states"]["verifying"]["deadline"].update({"until_term_end": "allowed"}),
            "enters 'verifying', whose period the county may run on to the end of the term",
        ),
        (
            lambda d: check_in(d)["alert"].update({"notify": ["head_teacher", "janitor"]}),
            ".alert.notify: unknown recipient 'janitor'",
        ),
        (
            lambda d: check_in(d)["alert"].update({"when": {"attending": "asleep"}}),
            ".alert.when.attending: is 'asleep'; choose one of: ",
        ),
        (
            lambda d: check_in(d)["alert"].update({"template": "order_to_correct"}),
            "'order_to_correct' is an alert, an internal work document of the leading group's",
        ),
        (
            lambda d: d["documents"].pop("at_risk_alert"),
            "alert.template: 'at_risk_alert' is not declared under `documents:`",
        ),
        (
            lambda d: next(t for t in d["transitions"] if t.get("auto")).update(
                {"alert": check_in(d)["alert"]}
            ),
            "an automatic transition records no values to alert on",
        ),
    ],
    ids=[
        "unknown-dest",
        "unknown-source",
        "unreachable",
        "no-way-out",
        "no-deadline",
        "rung-without-recipients",
        "duplicate-trigger",
        "unknown-role",
        "missing-template",
        "missing-document-template",
        "unknown-department",
        "unknown-ladder",
        "auto-with-documents",
        "bad-unit",
        "unknown-guard",
        "guard-without-deadline",
        "guard-on-auto",
        "unknown-county-choice",
        "recorded-value-no-step-records",
        "recorded-malformed",
        "second-person-on-auto",
        "returns-and-to",
        "returns-to-nowhere",
        "counts-when-unknown-value",
        "counts-when-not-a-choice",
        "starts-deadline-not-a-date",
        "requires-unknown-setting",
        "auto-requires-setting",
        "within-upside-down",
        "until-term-end-not-allowed",
        "auto-into-term-end-state",
        "alert-unknown-recipient",
        "alert-unknown-value",
        "alert-not-internal",
        "alert-undeclared",
        "alert-on-auto",
    ],
)
def test_workflow_check_names_each_problem_with_its_key_path(mutate, expected) -> None:
    data = dropout_data()
    mutate(data)
    problems = problems_of(data)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("w.yaml: ") for p in problems)


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = dropout_data()
    data["transitions"][0]["to"] = "nowhere"
    data["transitions"][1]["roles"] = ["janitor"]
    data["states"]["verifying"].pop("deadline")
    assert len(problems_of(data)) >= 3


def test_loading_a_broken_workflow_raises_with_every_problem() -> None:
    data = dropout_data()
    data["transitions"][0]["to"] = "nowhere"
    with pytest.raises(WorkflowInvalid, match="unknown state 'nowhere'"):
        from caseflow.states import load_workflow_text

        load_workflow_text(yaml.safe_dump(data, allow_unicode=True), "w.yaml")


def test_workflow_check_command_exits_non_zero_with_file_and_path(tmp_path: Path) -> None:
    data = dropout_data()
    data["transitions"][0]["roles"] = ["janitor"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["workflow", "check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}: transitions[0].roles: unknown role 'janitor'" in result.stderr
    good = runner.invoke(app, ["workflow", "check", str(DROPOUT)])
    assert good.exit_code == 0, good.stderr


def test_invalid_yaml_is_a_problem_with_a_line_number(tmp_path: Path) -> None:
    _workflow, problems = parse_workflow("name: x\nstates: [\n", "bad.yaml")
    assert problems and "not valid YAML" in str(problems[0]) and "line" in str(problems[0])


def test_workflow_show_lists_states_and_transitions() -> None:
    result = CliRunner().invoke(app, ["--lang", "zh", "workflow", "show", "dropout"])
    assert result.exit_code == 0
    assert "劝返中" in result.stdout and "return_to_school" in result.stdout
    assert re.search(r"责令限期改正 +order_to_correct +办理中 +legal ", result.stdout)


def test_diagrams_in_mermaid_and_dot_show_every_state() -> None:
    workflow = load_workflow(DROPOUT)
    mermaid_text, dot_text = mermaid(workflow), dot(workflow)
    assert mermaid_text.startswith("stateDiagram-v2")
    assert dot_text.startswith('digraph "dropout"')
    for state in workflow.states.values():
        assert state.label in mermaid_text and state.label in dot_text
    result = CliRunner().invoke(app, ["workflow", "diagram", "--format", "dot"])
    assert result.exit_code == 0 and "->" in result.stdout
    bad = CliRunner().invoke(app, ["workflow", "diagram", "--format", "gif"])
    assert bad.exit_code == 2


def test_svg_diagrams_need_graphviz_and_say_so_when_it_is_missing() -> None:
    import shutil

    result = CliRunner().invoke(app, ["workflow", "diagram", "--format", "svg"])
    if shutil.which("dot") is None:
        assert result.exit_code == 2 and "needs Graphviz" in result.stderr
    else:
        assert result.exit_code == 0 and "<svg" in result.stdout


def test_the_checkout_entry_point_prints_help() -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "cli.py", "--help"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0 success" in result.stdout and "case" in result.stdout


@pytest.mark.parametrize(("amount", "accepted"), [(6, False), (7, True), (15, True), (16, False)])
def test_workflow_check_holds_the_orders_period_to_its_declared_range(
    tmp_path: Path, amount: int, accepted: bool
) -> None:
    data = dropout_data()
    assert data["states"]["order_to_correct"]["deadline"]["within"] == [7, 15]
    data["states"]["order_to_correct"]["deadline"]["amount"] = amount
    edited = tmp_path / "dropout.yaml"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["workflow", "check", str(edited)])
    if accepted:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 1
        assert (
            f"{edited}: states.order_to_correct.deadline.amount: is {amount}, outside the "
            "range the rule permits (within: 7 to 15)"
        ) in result.stderr
