"""Alerts: what a step sends to the people who answer for the case (its 包保 chain) when
the values it records call for it, as the transition's ``alert`` in the workflow says (a
check-in that finds a returned child at risk). Queued in the step's own transaction, one
notice per recipient, idempotent per step: the key names the case version the step wrote
(``alert:<template>:<case>:<version>``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from caseflow import escalation
from caseflow.dates import spoken
from caseflow.errors import InvalidInput
from caseflow.ids import mask_name
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.records import CHILD, case_row, org_in_force, stored_workflow
from caseflow.states import Transition

# What an alert supplies to its template (``caseflow workflow check`` holds templates to
# it). The child's name is masked: an alert goes to units and people, never a guardian.
ALERT_FIELDS: frozenset[str] = frozenset(
    {"today", "issuer.name", "recipient.name", "child.masked_name"}
    | {f"case.{name}" for name in ("number", "state_label", "township", "village", "school")}
    | {"alert.label", "alert.date", "alert.recorded"}
)


def queue_alert(
    ctx: Context,
    connection: Connection,
    number: int,
    transition: Transition,
    *,
    values: Mapping[str, Any],
    occurred_on: date,
    now: datetime,
) -> dict[str, Any] | None:
    """Queue the transition's alert for the step just written on case ``number``, if the
    values it recorded raise it; what was queued (as the step's audit event names its
    documents), or None. Queuing the same step again adds nothing."""
    alert = transition.alert
    if alert is None or not alert.raised_by(values):
        return None
    row = case_row(connection, ctx.actor, number)
    workflow = stored_workflow(connection, row)
    org = org_in_force(connection)
    scope = escalation.Scope(
        row.township, row.village, row.school, tuple(row.departments), row.chain
    )
    responsible = workflow.state(row.state).responsible
    recipients = list(
        dict.fromkeys(
            key
            for recipient in alert.notify
            for key in escalation.recipient_keys(recipient, responsible, scope)
        )
    )
    child_name = connection.execute(select(CHILD.c.name).where(CHILD.c.id == row.child_id)).scalar()
    context: dict[str, Any] = {
        "today": ctx.today,
        "issuer": {"name": ctx.workspace.issuer},
        "case": {
            "number": number,
            "state_label": workflow.state(row.state).label,
            "township": row.township,
            "village": row.village,
            "school": row.school or "",
        },
        "child": {"masked_name": mask_name(child_name or "")},
        "alert": {
            "label": transition.label,
            "date": occurred_on,
            "recorded": [
                {"label": spec.label, "value": spoken(spec.printed(values[spec.name]))}
                for spec in transition.fields
                if values.get(spec.name) not in (None, "")
            ],
        },
    }
    from caseflow.render import render

    base = outbox.key("alert", alert.template, number, row.version)
    drafts = []
    try:
        for index, key in enumerate(recipients):
            label = escalation.recipient_label(
                key, org.person_label, departments=workflow.departments
            )
            body = render(alert.template, {**context, "recipient": {"name": label}})
            drafts.append(
                outbox.Draft(
                    key=base if index == 0 else outbox.copy_key(base, key),
                    kind="alert",
                    template=alert.template,
                    recipient=key,
                    case_ids=[number],
                    subject=f"{outbox.title_of(body, alert.template)}（案件{number}）",
                    body=body,
                )
            )
    except InvalidInput as exc:
        return {"template": alert.template, "prepared": False, "reason": exc.message}
    outbox.queue(connection, drafts, now)
    found = outbox.ids_of(connection, [draft.key for draft in drafts])
    notices = [found[draft.key] for draft in drafts]
    return {
        "template": alert.template,
        "prepared": True,
        "subject": drafts[0].subject,
        "notices": notices,
        "references": [outbox.reference(notice) for notice in notices],
        "recipients": recipients,
        "content_hash": outbox.content_hash(drafts[0].body or ""),
    }
