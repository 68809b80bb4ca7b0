"""The workflow file is the only place that knows state and trigger ids: the same scenario
run on the shipped workflow and on a copy with every id renamed (labels kept) gives the
same ledgers, statistics, reviews and report figures. And the vocabulary a workflow
declares (categories, reasons, routes) is checked when the file is read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow import db
from caseflow.resources import shipped
from caseflow.services import cases
from caseflow.services import sweep as sweep_service
from caseflow.services.campaigns import Period, report_figures
from caseflow.services.cases import add_note, open_case
from caseflow.services.context import Context, init_workspace
from caseflow.services.ledger import open_ledger
from caseflow.services.report import monthly_flows, report_context
from caseflow.services.review import overdue_review
from caseflow.services.stats import assessment, stats
from caseflow.states import CATEGORIES, parse_workflow
from tests.conftest import CliInvoker, approver, fixed_clock, set_order_issuer
from tests.test_ledger import example_county, kid

D = date
SHIPPED = shipped("workflows") / "dropout.yaml"


def renamed_workflow() -> tuple[str, dict[str, str], dict[str, str]]:
    """dropout.yaml with every state id and trigger renamed to a meaningless one (labels
    kept): the text, and the new name of each state and of each trigger."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    states = {sid: f"zt{index:02d}q" for index, sid in enumerate(data["states"])}
    triggers = {t["trigger"]: f"ev{index:02d}k" for index, t in enumerate(data["transitions"])}
    data["states"] = {states[sid]: spec for sid, spec in data["states"].items()}
    for transition in data["transitions"]:
        transition["trigger"] = triggers[transition["trigger"]]
        if transition["from"] != "*":
            transition["from"] = [states[s] for s in transition["from"]]
        if "to" in transition:
            transition["to"] = states[transition["to"]]
        if "requires" in transition:
            transition["requires"] = {triggers[t]: n for t, n in transition["requires"].items()}
    data["routes"] = {purpose: triggers[t] for purpose, t in data["routes"].items()}
    data["migrate_from"] = {
        version: {old: states[new] for old, new in moves.items()}
        for version, moves in data.get("migrate_from", {}).items()
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False), states, triggers


def scenario(ctx: Context, trigger: Callable[[str], str]) -> None:
    """Seven children through the lifecycle in 2026 (today is 2026-11-29)."""

    def advance(number: int, name: str, day: date, **values: str) -> None:
        cases.advance(ctx, number, trigger(name), values, occurred_on=day)

    # Persuasion fails; the legal ladder; back at school; three check-ins; retained by
    # the sweep when the monitoring period runs out.
    legal = open_case(
        ctx,
        replace(
            kid(11, "田小雨", "天堂镇", "天堂村", "一组", "天堂镇中心小学"),
            guardian_name="田大山",
            guardian_relation="父亲",
        ),
        reasons=["poverty"],
        occurred_on=D(2026, 3, 2),
    ).number
    advance(legal, "start_verification", D(2026, 3, 3))
    advance(legal, "confirm_dropout", D(2026, 3, 4), reason="migrant_work")
    add_note(ctx, legal, "入户劝返", method="visit", occurred_on=D(2026, 3, 10))
    advance(legal, "issue_order", D(2026, 3, 20), document_number="天堂府责〔2026〕3号")
    advance(
        legal,
        "order_served",
        D(2026, 3, 23),
        served_on="2026-03-23",
        method="direct",
        served_to="田某",
    )
    advance(legal, "return_to_school", D(2026, 5, 11), placement="original_class", school="x")
    for day in (D(2026, 6, 1), D(2026, 7, 6), D(2026, 9, 7)):
        advance(legal, "check_in", day, attending="steady")
    # Back at school, then a relapse: in persuasion again, overdue.
    relapsed = open_case(
        ctx,
        kid(23, "冉小梅", "天堂镇", "龙门村", "二组", "示范县第一中学"),
        occurred_on=D(2026, 9, 1),
    ).number
    advance(relapsed, "start_verification", D(2026, 9, 2))
    advance(relapsed, "confirm_dropout", D(2026, 9, 3), reason="learning")
    advance(relapsed, "return_to_school", D(2026, 9, 21), placement="other_class", school="x")
    advance(relapsed, "relapse", D(2026, 10, 12), absent_since="2026-10-09")
    add_note(ctx, relapsed, "电话联系家长", method="phone", occurred_on=D(2026, 11, 6))
    # Not a dropout.
    closed = open_case(
        ctx,
        kid(35, "龙小山", "木黄镇", "木黄村", "一组", "木黄镇中心小学"),
        occurred_on=D(2026, 11, 2),
    ).number
    advance(closed, "propose_closure", D(2026, 11, 3), reason="studying_elsewhere", evidence="证")
    cases.advance(approver(ctx), closed, trigger("approve_closure"), occurred_on=D(2026, 11, 4))
    # A disabled child: assessed, placed, in monitoring.
    disabled = open_case(
        ctx,
        kid(47, "杨小军", "木黄镇", "凤仪村", "一组", "木黄镇中心小学"),
        reasons=["disability"],
        occurred_on=D(2026, 10, 1),
    ).number
    advance(disabled, "refer_disability_assessment", D(2026, 10, 2))
    advance(disabled, "disability_confirmed", D(2026, 10, 20), category="4", grade="2")
    advance(
        disabled,
        "expert_opinion",
        D(2026, 10, 27),
        opinion="home_teaching",
        assessed_on="2026-10-27",
        summary="重度肢体残疾，建议送教上门",
    )
    advance(disabled, "start_home_teaching", D(2026, 11, 5), school="x", teachers="王老师")
    # Suspected, never verified: overdue.
    suspect = kid(59, "王小二", "木黄镇", "木黄村", "二组", "木黄镇中心小学")
    open_case(ctx, suspect, occurred_on=D(2026, 11, 10))
    # A deferral into next year.
    deferred = open_case(
        ctx,
        kid(61, "吴小花", "天堂镇", "天堂村", "三组", "天堂镇中心小学"),
        occurred_on=D(2026, 10, 13),
    ).number
    advance(deferred, "start_verification", D(2026, 10, 14))
    advance(deferred, "defer", D(2026, 10, 15), reason="illness", until="2027-03-01", approval="批")
    # Missing, rechecked by the police.
    missing = open_case(
        ctx,
        kid(73, "石小龙", "天堂镇", "龙门村", "一组", "天堂镇中心小学"),
        occurred_on=D(2026, 9, 10),
    ).number
    advance(missing, "start_verification", D(2026, 9, 11))
    advance(missing, "report_missing", D(2026, 9, 12))
    advance(missing, "recheck_missing", D(2026, 10, 12), finding="仍未找到")
    sweep_service.sweep(ctx)  # retains the first case; escalates what is overdue


def figures(ctx: Context) -> dict[str, Any]:
    """Everything the county reads off the cases, as plain data."""
    by_township = stats(ctx, by="township")
    report = report_context(ctx, by_township, overdue_review(ctx, by_township.as_of))["report"]
    report.pop("audit")  # the chain's hashes differ with the payloads, by design
    with db.read(ctx.engine) as connection:
        monthly = [
            report_figures(ctx, connection, Period.before(D(2026, month, 1)))
            for month in (6, 9, 10, 11, 12)  # the reports on May and August to November
        ]
    outputs = {
        "ledgers": {
            f"{level} {unit}": [
                row.as_json() for row in open_ledger(ctx, level=level, unit=unit).rows()
            ]
            for level, unit in (
                ("county", None),
                ("township", "天堂镇"),
                ("village", "木黄镇/凤仪村"),
                ("school", "木黄镇中心小学"),
            )
        },
        "past_ledger": [row.as_json() for row in open_ledger(ctx, as_of=D(2026, 10, 1)).rows()],
        "stats": stats(ctx).as_json(),
        "stats_by_school": stats(ctx, by="school").as_json(),
        "assessment": assessment(ctx).as_json(),
        "overdue": overdue_review(ctx).as_json(),
        "flows": [vars(month) for month in monthly_flows(ctx, D(2026, 11, 29))],
        "monthly_report": monthly,
        "report": report,
    }
    return json.loads(json.dumps(outputs, default=str, ensure_ascii=False))


def translated(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every string that is a renamed id given its shipped id again."""
    if isinstance(value, dict):
        return {names.get(k, k): translated(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [translated(v, names) for v in value]
    if isinstance(value, str):
        return names.get(value, value)
    return value


def test_renaming_every_state_and_trigger_changes_no_figure(workspace: Path, tmp_path) -> None:
    text, states, triggers = renamed_workflow()
    assert not set(states.values()) & set(triggers.values())
    (workspace / "workflows").mkdir()
    (workspace / "workflows" / "dropout.yaml").write_text(text, encoding="utf-8")
    renamed = example_county(workspace)
    shipped_root = tmp_path / "shipped"
    init_workspace(shipped_root, None, clock=fixed_clock)
    set_order_issuer(shipped_root, "township")
    shipped = example_county(shipped_root)
    try:
        assert set(renamed.current_workflow.states) == set(states.values())
        scenario(renamed, triggers.__getitem__)
        scenario(shipped, lambda name: name)
        back = {new: old for old, new in {**states, **triggers}.items()}
        expected, actual = figures(shipped), translated(figures(renamed), back)
        for part in expected:
            assert actual[part] == expected[part], part
        # The scenario reaches every figure the comparison is meant to hold.
        totals = expected["stats"]["cases"]
        assert (totals["returned"], totals["retained"], totals["relapses"]) == (3, 1, 1)
        assert totals["suspected"] and totals["deferred"] and totals["in_monitoring"]
        assert expected["overdue"]["cases"] >= 2
        assert [m["returned"] for m in expected["monthly_report"]] == [1, 0, 1, 0, 1]
        reasons = {row["name"]: row["reasons"] for row in expected["ledgers"]["county None"]}
        assert reasons["田小雨"] == ["贫困", "外出务工"]
        outcome = {row["name"]: row["outcome"] for row in expected["ledgers"]["county None"]}
        closure = {row["name"]: row["closure_reason"] for row in expected["ledgers"]["county None"]}
        assert (outcome["龙小山"], closure["龙小山"]) == ("已销号", "异地就读（经核实）")
        assert outcome["田小雨"] == "已复学（已巩固）"
    finally:
        renamed.engine.dispose()
        shipped.engine.dispose()


def with_state(change: Callable[[dict[str, Any]], None]) -> str:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    change(data["states"]["persuasion"])
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("category"), "states.persuasion.category: is required; the categories"),
        (lambda s: s.update(category="talking"), "is 'talking'; the categories are: suspected"),
        (lambda s: s.update(category="closed"), "a waiting state cannot be 'closed'"),
    ],
)
def test_a_state_without_a_known_category_is_refused_by_workflow_check(
    cli: CliInvoker, tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = tmp_path / "dropout.yaml"
    path.write_text(with_state(change), encoding="utf-8")
    result = cli("workflow", "check", str(path))
    assert result.exit_code == 1
    assert message in result.stderr
    assert ", ".join(CATEGORIES) in result.stderr or "terminal states" in result.stderr


def test_the_shipped_workflow_declares_every_state_category_and_its_vocabulary() -> None:
    workflow, problems = parse_workflow(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    assert problems == [] and workflow is not None
    assert workflow.states_in("legal") == {
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
    }
    assert workflow.states_in("closing") == {"closure_proposed", "transfer_proposed"}
    assert workflow.category_of("returned") == "monitoring"
    confirm = next(t for t in workflow.transitions if t.trigger == "confirm_dropout")
    reason = confirm.field("reason")
    assert reason is not None and dict(reason.choices) == dict(workflow.dropout_reasons)
    assert workflow.fields_choosing("closure_reasons") == (("propose_closure", "reason"),)
    assert workflow.route("disabled_child_found") == "refer_expert_assessment"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["routes"].update(disabled_child_found="retain"),
            "routes.disabled_child_found: 'retain' is not a trigger from the initial state",
        ),
        (lambda d: d["routes"].update(lost_child="located"), "routes.lost_child: unknown route"),
        (
            lambda d: next(t for t in d["transitions"] if t["trigger"] == "propose_closure")[
                "fields"
            ]["reason"].update(choices="why_closed"),
            "is 'why_closed': name a declared list (dropout_reasons, closure_reasons, "
            "departments, special_groups)",
        ),
        (lambda d: d.update(closure_reasons={}), "closure_reasons: lists no values"),
        (
            lambda d: d["register_groups"].update(poverty="orphan"),
            "register_groups.poverty: 'orphan' is not one of the special_groups",
        ),
        (
            lambda d: d["register_groups"].update(marriage="left_behind"),
            "register_groups.marriage: unknown register purpose",
        ),
    ],
)
def test_declared_routes_and_lists_are_checked(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    change(data)
    _workflow, problems = parse_workflow(yaml.safe_dump(data, allow_unicode=True), "x.yaml")
    assert any(message in str(p) for p in problems), problems
