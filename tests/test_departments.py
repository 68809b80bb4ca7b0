"""Partner departments are declared in the workflow file: a handoff names one of them,
org.yaml's department units must be ones the workflow in force declares, and letters and
`case show` call a department by the name its workflow gives it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from caseflow import db
from caseflow.resources import shipped
from caseflow.services.cases import advance, open_case
from caseflow.services.context import open_context, os_user
from caseflow.services.documents import preview
from caseflow.services.letters import case_context
from caseflow.services.records import OPERATOR
from caseflow.workspace import write_example_org
from tests.conftest import CliInvoker, child, fixed_clock

SHIPPED = shipped("workflows") / "dropout.yaml"


def workflow_text(change: Callable[[dict[str, Any]], None]) -> str:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def use_workflow(workspace: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """The workspace's own dropout workflow: the shipped one, changed."""
    (workspace / "workflows").mkdir(exist_ok=True)
    (workspace / "workflows" / "dropout.yaml").write_text(workflow_text(change), "utf-8")


def test_the_shipped_workflow_declares_the_eleven_partner_departments() -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert len(data["departments"]) == 11
    assert "court" not in data["departments"]  # a court is not a unit of the county
    assert data["departments"]["public_security"] == "县公安局"
    assert data["departments"]["labour_inspection"] == "县人力资源和社会保障局（劳动保障监察）"
    handed = {d for t in data["transitions"] for d in t.get("handoff", [])}
    assert handed <= set(data["departments"])


def test_a_handoff_to_an_undeclared_department_is_refused_by_workflow_check(
    cli: CliInvoker, tmp_path: Path
) -> None:
    path = tmp_path / "dropout.yaml"
    path.write_text(
        workflow_text(lambda d: d["departments"].pop("labour_inspection")), encoding="utf-8"
    )
    result = cli("workflow", "check", str(path))
    assert result.exit_code == 1
    inspection = next(
        i
        for i, t in enumerate(yaml.safe_load(path.read_text("utf-8"))["transitions"])
        if "labour_inspection" in t.get("handoff", [])
    )
    assert (
        f"transitions[{inspection}].handoff: unknown department 'labour_inspection'; the "
        "workflow declares: public_security, disability_federation, health," in result.stderr
    )

    path.write_text(workflow_text(lambda d: d.pop("departments")), encoding="utf-8")
    result = cli("workflow", "check", str(path))
    assert result.exit_code == 1
    assert "unknown department 'public_security'; the workflow declares: none" in result.stderr


def test_an_org_department_the_workflow_in_force_does_not_declare_is_refused(
    workspace: Path, cli: CliInvoker
) -> None:
    write_example_org(open_context(workspace, clock=fixed_clock).workspace, os_user())
    assert cli("org", "check").exit_code == 0  # the shipped workflow declares all eleven

    # The justice bureau: a unit of the example org no transition hands a case to.
    use_workflow(workspace, lambda d: d["departments"].pop("justice_bureau"))
    checked = cli("org", "check")
    assert checked.exit_code == 2
    assert (
        ".department: unknown department 'justice_bureau'; the workflow in force "
        "declares: public_security, disability_federation, health," in checked.stderr
    )
    assert "relocation_bureau\n" in checked.stderr  # every declared one, to the last

    applied = cli("org", "apply")
    assert applied.exit_code == 2
    assert "nothing was applied" in applied.stderr
    assert "unknown department 'justice_bureau'" in applied.stderr
    ctx = open_context(workspace, clock=fixed_clock)
    try:
        with db.read(ctx.engine) as connection:
            operators = connection.execute(select(OPERATOR.c.name)).scalars().all()
        assert operators == [ctx.actor.operator]  # still only the one init made
    finally:
        ctx.engine.dispose()


def test_a_department_is_named_as_the_workflow_names_it_in_letters_and_case_show(
    workspace: Path, cli: CliInvoker
) -> None:
    renamed = "县民政局（未成年人保护科）"
    use_workflow(workspace, lambda d: d["departments"].update(civil_affairs=renamed))
    ctx = open_context(workspace, clock=fixed_clock)
    try:
        number = open_case(
            ctx,
            child(guardian_name="张大山", guardian_relation="父亲", guardian_phone="13800000000"),
            reasons=["early_marriage"],
            occurred_on=date(2026, 11, 2),
        ).number
        advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
        reason = {"reason": "early_marriage"}
        advance(ctx, number, "confirm_dropout", reason, occurred_on=date(2026, 11, 10))
        advance(ctx, number, "refer_early_marriage", occurred_on=date(2026, 11, 27))
        context = case_context(ctx, number, "referral_letter")
        assert context["department"]["name"] == f"{renamed}、县妇女联合会、共青团县委"
        assert f"{renamed}、县妇女联合会、共青团县委：" in preview(ctx, number, "referral_letter")
    finally:
        ctx.engine.dispose()

    shown = cli("case", "show", str(number), "--json")
    assert shown.exit_code == 0, shown.stderr
    departments = json.loads(shown.stdout)["departments"]
    assert departments[0] == {"id": "civil_affairs", "label": renamed}
    text = cli("case", "show", str(number))
    assert renamed in text.stdout
