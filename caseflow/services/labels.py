"""The names a person reads in place of codes: the workflow's state, transition and field
labels, and each person of the organisation in force by unit, position and name."""

from typing import Any

from caseflow import db
from caseflow.services.context import Context
from caseflow.services.records import org_in_force


def names(ctx: Context) -> dict[str, Any]:
    """Labels for the codes a case's history holds (states, triggers, fields and their
    choices, partner departments, people of the 包保 chain)."""
    workflow = ctx.current_workflow
    with db.read(ctx.engine) as connection:
        org = org_in_force(connection)
    fields: dict[str, str] = {}
    choices: dict[str, dict[str, str]] = {}
    for transition in workflow.transitions:
        for spec in transition.fields:
            key = f"{transition.trigger}.{spec.name}"
            fields[key] = spec.label
            if spec.choices:
                choices[key] = dict(spec.choices)
    choices["reasons"] = dict(workflow.dropout_reasons)
    return {
        "states": {sid: s.label for sid, s in workflow.states.items()},
        "triggers": {t.trigger: t.label for t in workflow.transitions},
        "fields": fields,
        "choices": choices,
        "departments": dict(workflow.departments),
        "people": {pid: org.person_label(pid) for pid in org.people},
    }
