"""Letters for one case: the context a template is rendered from, and queuing the letter
into the outbox inside the caller's transaction (a transition that issues it, or
``caseflow notice queue``).

A case document (a transition's ``documents:``, or any template asked for by name) is
rendered from ``case_context``: the case, its child and first guardian, the current
deadline and the transition that entered the current state, all read from the database.
``CASE_FIELDS`` lists what that context can hold; ``caseflow workflow check`` refuses a
workflow whose documents need anything else. A value the case does not have (no guardian
recorded, no school, a deadline already passed) is never printed as a blank: rendering
refuses, naming the field and the ``--set field=value`` that supplies it.

Queued letters are ordinary notices (kind ``letter``) in the outbox, idempotent per case
version (``document:<template>:<case>:<version>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import Connection, select

from caseflow import db, escalation
from caseflow.dates import parse_date, spoken
from caseflow.errors import InvalidInput, TransitionRefused
from caseflow.i18n import _
from caseflow.ids import mask_id_number, mask_name
from caseflow.org import Authority
from caseflow.services import numbering, outbox
from caseflow.services.context import Context
from caseflow.services.records import (
    CHILD,
    EVENT,
    GUARDIAN,
    case_row,
    is_parent,
    org_in_force,
    record,
    recorded_values,
    stored_workflow,
)
from caseflow.states import COUNT_SETTINGS, SETTINGS, TEXT_SETTINGS, Transition, Workflow

CASE_FIELDS: frozenset[str] = frozenset(
    {"today", "document.date", "issuer.name", "issuer.seal", "issuer.reference"}
    | {"issuer.contact_person", "issuer.contact_phone"}
    | {
        f"case.{name}"
        for name in (
            "number",
            "state_label",
            "township",
            "village",
            "school",
            "opened_on",
            "due_on",
            "due_provisional",
            "reasons",
            "absent_since",
        )
    }
    | {
        f"child.{name}"
        for name in (
            "name",
            "masked_name",
            "masked_id",
            "id_number",
            "id_disclosed",
            "sex",
            "birth_date",
            "grade",
            "class_name",
        )
    }
    | {f"guardian.{name}" for name in ("name", "relation", "phone", "is_parent", "legal_basis")}
    | {"legal_guardians"}
    | {"deadline.days", "deadline.date", "request.text", "department.name", "department.copied"}
    | {"transition.facts"}
    | {"period.amount", "period.unit_label"}
    | {"recipient.name", "school.name"}
    | {"service.document", "service.document_number", "service.place", "service.method"}
    # step.X: what the transition issuing the document recorded in its field X; earlier.X:
    # the latest X a transition before it recorded; procedure.X: the county's setting X
    # (refused while unset); review.body: the county people's government.
    | {"step", "earlier", "procedure", "review.body"}
)

# Documents addressed to the child's guardian (besides any that names guardian.name and
# is not a referral): the notice goes to ``guardian:case/<n>``.
GUARDIAN_DOCUMENTS: frozenset[str] = frozenset(
    {"parent_letter", "persuasion_notice", "order_to_correct", "proof_of_service"}
)
SERVICE_METHOD = "直接送达"

_DATE_FIELDS = frozenset(
    {
        "today",
        "document.date",
        "case.opened_on",
        "case.due_on",
        "case.absent_since",
        "child.birth_date",
        "deadline.date",
    }
)
_TITLE_BLOCK = re.compile(r"\{%-?\s*block\s+title\s*-?%\}(.*?)\{%-?\s*endblock", re.S)
_LIST_SEPARATORS = re.compile(r"[,，、;；]")

Addressee = Literal["guardian", "department", "case"]
NO_OVERRIDES: Mapping[str, str] = MappingProxyType({})


@dataclass
class _Values:
    """Flat dotted values, and for each value the case lacks, how to supply it."""

    values: dict[str, object] = field(default_factory=dict)
    lacking: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, value: object, lacking: str) -> None:
        if value is None:
            self.lacking[name] = lacking
        else:
            self.values[name] = value

    def nested(self) -> dict[str, Any]:
        context: dict[str, Any] = {}
        for name, value in self.values.items():
            *parents, last = name.split(".")
            target = context
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value
        return context


@dataclass(frozen=True)
class Queued:
    """What ``queue_document`` did: the notice ids (one per recipient) and whether they
    were queued now (False: this document for this case version was already queued)."""

    ids: tuple[int, ...]
    recipients: tuple[str, ...]
    subject: str
    new: bool
    content_hash: str = ""


# ---------------------------------------------------------------------------------------
# The context of a case document


def case_context(
    ctx: Context,
    number: int,
    template_id: str,
    *,
    overrides: Mapping[str, str] = NO_OVERRIDES,
) -> dict[str, Any]:
    """The context for rendering ``template_id`` for case ``number`` (to its first
    addressee, when the workflow writes it to each legal guardian or carer).

    ``overrides`` (``--set field.path=value``) replace values. Raises ``InvalidInput``
    naming each field the template needs that the case cannot supply, and how to supply
    it."""
    with db.read(ctx.engine) as connection:
        return letter_context(ctx, connection, number, template_id, overrides)[0]


@dataclass(frozen=True)
class Letter:
    """One document to one addressee: its context, the notice recipients and the key it is
    queued under."""

    context: dict[str, Any]
    recipients: list[str]
    key: str
    discloses: str | None = None  # the department it gives the child's full ID number


def queue_within(
    ctx: Context,
    connection: Connection,
    number: int,
    template_id: str,
    overrides: Mapping[str, str] = NO_OVERRIDES,
    *,
    now: datetime,
    audited: bool = True,
    entering: Entering | None = None,
) -> Queued:
    """``queue_document`` inside the caller's transaction (e.g. the transition that issues
    the document), so the case change and its letters commit together. ``audited=False``
    leaves the audit record to the caller (the transition's own event names the letters).

    A document the workflow writes to each legal guardian (or carer) is queued once for
    each, as a document of its own; a document to a department, a copy for each."""
    from caseflow.render import render

    letters, row = case_letters(
        ctx, connection, number, template_id, overrides, entering=entering, issuing=now
    )
    drafts: list[outbox.Draft] = []
    keys: list[str] = []
    recipients: list[str] = []
    subject = ""
    hashes: list[str] = []
    for letter in letters:
        body = render(template_id, letter.context)
        subject = subject or f"{outbox.title_of(body, template_id)}（案件{number}）"
        hashes.append(outbox.content_hash(body))
        for index, recipient in enumerate(letter.recipients):
            key = letter.key if index == 0 else outbox.copy_key(letter.key, recipient)
            keys.append(key)
            recipients.append(recipient)
            drafts.append(
                outbox.Draft(
                    key=key,
                    kind="letter",
                    template=template_id,
                    recipient=recipient,
                    case_ids=[number],
                    subject=subject,
                    body=body,
                )
            )
    inserted = outbox.queue(connection, drafts, now)
    found = outbox.ids_of(connection, keys)
    ids = tuple(found[key] for key in keys if key in found)
    content_hash = hashes[0] if hashes else ""
    workflow = stored_workflow(connection, row)
    for letter in letters:
        if letter.key in inserted and letter.discloses is not None:
            _record_disclosure(ctx, connection, now, row, template_id, letter, workflow=workflow)
    if inserted and audited:
        record(
            ctx,
            connection,
            now,
            action="notice.queued",
            case_id=number,
            occurred_on=ctx.today,
            payload={
                "notices": [found[key] for key in keys if key in inserted],
                "key": letters[0].key,
                "kind": "letter",
                "template": template_id,
                "recipients": [r for k, r in zip(keys, recipients, strict=True) if k in inserted],
                "content_hash": content_hash,
                **({"content_hashes": hashes} if len(hashes) > 1 else {}),
                "case_version": row.version,
                "set": sorted(overrides),
            },
        )
    return Queued(ids, tuple(recipients), subject, new=bool(inserted), content_hash=content_hash)


def _record_disclosure(  # noqa: PLR0917 - the caller's transaction, case and letter
    ctx: Context,
    connection: Connection,
    now: datetime,
    row: Any,
    template_id: str,
    letter: Letter,
    *,
    workflow: Workflow,
) -> None:
    """The audit event of a document that gives a department the child's full ID number:
    who (the event's operator), to whom, which case and document, why and on what basis."""
    department = letter.discloses or ""
    disclosure = workflow.full_id_number[department]
    record(
        ctx,
        connection,
        now,
        action="data.disclosed",
        case_id=row.id,
        occurred_on=ctx.today,
        payload={
            "data": "child.id_number",
            "to": f"department:{department}",
            "to_name": workflow.departments.get(department, department),
            "document": template_id,
            "title": template_title(template_id),
            "key": letter.key,
            "reference": letter.context["issuer"].get("reference", ""),
            "purpose": disclosure.purpose,
            "basis": disclosure.basis,
            "case_version": row.version,
        },
    )


def _recipients(addressee: Addressee, number: int, departments: list[str]) -> list[str]:
    if addressee == "guardian":
        return [f"guardian:case/{number}"]
    if addressee == "department" and departments:
        return [f"department:{department}" for department in departments]
    return [f"case/{number}"]


def addressee(template_id: str, declared: tuple[str, ...] | frozenset[str]) -> Addressee:
    """Whom a case document is written to: a referral (it names ``department.name``) goes
    to the departments, a letter to the guardian to ``guardian:case/<n>``."""
    if "department.name" in declared:
        return "department"
    if template_id in GUARDIAN_DOCUMENTS or "guardian.name" in declared:
        return "guardian"
    return "case"


@dataclass(frozen=True)
class Entering:
    """The transition that moved the case into its current state: the values it recorded
    and the day it happened (the date of the decision its documents carry)."""

    transition: Transition
    values: Mapping[str, Any]
    occurred_on: date | None


def letter_context(
    ctx: Context,
    connection: Connection,
    number: int,
    template_id: str,
    overrides: Mapping[str, str],
    *,
    entering: Entering | None = None,
) -> tuple[dict[str, Any], Any, Addressee]:
    """The context of the document to its first addressee."""
    from caseflow.render import declared_fields

    letters, row = case_letters(ctx, connection, number, template_id, overrides, entering=entering)
    if not letters:
        raise InvalidInput(
            _(
                "case {number} has no entrusted carer on record, to whom {template!r} is "
                "written; record one with `caseflow case guardian add {number} --name ... "
                "--relation ... --carer`"
            ).format(number=number, template=template_id)
        )
    return letters[0].context, row, addressee(template_id, declared_fields(template_id))


def case_letters(
    ctx: Context,
    connection: Connection,
    number: int,
    template_id: str,
    overrides: Mapping[str, str],
    *,
    entering: Entering | None = None,
    issuing: datetime | None = None,
) -> tuple[list[Letter], Any]:
    """Each document ``template_id`` makes for case ``number``: one per legal guardian or
    carer where the workflow writes it to each, one per department for a document to the
    departments (each prints the child's ID as the workflow lets that department see it),
    else one. ``entering``: the transition being recorded now, when it is not in the audit
    yet. ``issuing``: the documents are being issued now (queued), so a 文号 not given yet
    is allocated (else the one given before is shown, if any).

    Refused (``TransitionRefused``) when the document cannot be issued lawfully: written
    to legal guardians and none is on record, or issued by a body the workspace or the
    organisation does not name yet, or without the contact person, phone or 文号 prefix
    its issuer's org.yaml unit must give."""
    from caseflow.render import declared_fields

    declared = declared_fields(template_id)
    settable = CASE_FIELDS | set(declared)
    unknown = sorted(set(overrides) - settable)
    if unknown:
        raise InvalidInput(
            _("--set {field}: not a field of template {template!r}; it declares {fields}").format(
                field=unknown[0], template=template_id, fields=", ".join(declared)
            )
        )
    row = case_row(connection, ctx.actor, number)
    workflow = stored_workflow(connection, row)
    child = connection.execute(select(CHILD).where(CHILD.c.id == row.child_id)).one()
    guardians = connection.execute(
        select(GUARDIAN).where(GUARDIAN.c.child_id == row.child_id).order_by(GUARDIAN.c.id)
    ).all()
    # The transition being recorded now issues the documents: a 文号 of its own, never a
    # number an earlier issue of the same document had.
    now_issuing = entering is not None and issuing is not None
    entering = entering or _entering_transition(connection, workflow, row)
    kind = addressee(template_id, declared)
    addressed = _addressed_to(workflow, template_id, entering)
    issuer = _issuer(
        ctx, connection, workflow=workflow, template_id=template_id, row=row, entering=entering
    )
    shared = _county_settings(ctx, template_id, declared, overrides)
    shared.put("review.body", org_in_force(connection).county_government(ctx.workspace.county), "")
    _put_recorded(shared, connection, workflow, number=row.id, entering=entering, declared=declared)
    _require_sender_details(issuer, template_id, declared)
    if addressed == "legal_guardians":
        people = [g for g in guardians if g.capacity == "legal"]
        if not people:
            raise TransitionRefused(
                _(
                    "case {number} has no legal guardian on record, and {title} ({template}) "
                    "is written to each legal guardian: record the parents (or a guardian "
                    "under 民法典第二十七条, with its basis) with `caseflow case guardian add "
                    "{number} --name NAME --relation 父亲` (see `caseflow case guardian add "
                    "--help`); nothing was changed"
                ).format(number=number, title=template_title(template_id), template=template_id)
            )
    elif addressed == "carers":
        people = [g for g in guardians if g.capacity == "carer"]
    else:
        people = [guardians[0] if guardians else None]  # type: ignore[list-item]
    base = outbox.document_key(template_id, number, row.version)
    served = _served_template(workflow, entering, template_id)
    targets: list[tuple[str, ...] | None] = [None]
    if addressed is None and kind == "department" and row.departments:
        targets = _department_letters(row.departments, workflow)
    letters = []
    for person, department in [(p, d) for p in people for d in targets]:
        values = _case_values(
            ctx,
            workflow,
            row,
            child=child,
            guardian=person,
            legal=[g for g in guardians if g.capacity == "legal"],
            entering=entering,
            template_id=template_id,
            issuer=issuer,
            department=department,
        )
        values.values.update(shared.values)
        values.lacking.update(shared.lacking)
        for name, raw in overrides.items():
            values.values[name] = _coerce(name, raw, workflow.dropout_reasons)
            values.lacking.pop(name, None)
        _derive(values, overrides, kind, ctx.today)
        if served is not None and "service.document_number" not in overrides:
            given = numbering.latest(connection, number, served, "")
            values.values["service.document_number"] = given or values.values.get(
                "service.document_number", ""
            )
        problems = []
        for name in declared:
            if name in values.values:
                continue
            how = values.lacking.get(name) or _(
                "a case document cannot supply it (template {template!r} is rendered by the "
                "escalation sweep or a campaign); pass --set {field}=..."
            ).format(template=template_id, field=name)
            problems.append(f"{name}: {how}")
        if problems:
            raise InvalidInput(
                _("cannot fill template {template!r} for case {number}: {problems}").format(
                    template=template_id, number=number, problems=_("; ").join(problems)
                )
            )
        numbered = base  # the letters to each guardian carry the number of the one decision
        if department is not None:
            recipients = [f"department:{d}" for d in department]
            key = base if department == targets[0] else outbox.copy_key(base, recipients[0])
            numbered = key
        elif addressed is None:
            recipients, key = _recipients(kind, number, row.departments), base
        else:
            recipients = [f"guardian:case/{number}/{person.id}"]
            key = outbox.key("document", template_id, number, row.version, f"guardian{person.id}")
        context = values.nested()
        if "issuer.reference" in declared and "issuer.reference" not in overrides:
            context["issuer"]["reference"] = _reference(
                connection,
                issuer,
                numbering.Numbered(issuer.name or "", number, template_id, numbered),
                typed=_text(values.values.get("issuer.reference")),
                year=values.values["document.date"].year,  # type: ignore[attr-defined]
                issuing=issuing,
                reprint=not now_issuing,
            )
        discloses = (
            department[0] if department and values.values.get("child.id_disclosed") else None
        )
        letters.append(Letter(context, recipients, key, discloses))
    return letters, row


def _county_settings(
    ctx: Context, template_id: str, declared: Iterable[str], overrides: Mapping[str, str]
) -> _Values:
    """The county settings a document prints (``procedure.X``). Refused while one is
    unset: the document would otherwise go out without what the law requires of it."""
    v = _Values()
    for name in declared:
        space, _dot, setting = name.partition(".")
        if space != "procedure" or name in overrides:
            continue
        value = ctx.workspace.procedure.get(setting)
        if value is None:
            what = TEXT_SETTINGS.get(setting) or COUNT_SETTINGS.get(setting)
            example = f'"{" | ".join(SETTINGS[setting])}"' if setting in SETTINGS else '"..."'
            raise TransitionRefused(
                _(
                    "{title} ({template}) prints the county's {setting}{what}, which is not "
                    "set: set [procedure] {setting} = {example} in caseflow.toml (see "
                    "docs/law.md); nothing was changed"
                ).format(
                    title=template_title(template_id),
                    template=template_id,
                    setting=setting,
                    what=f"（{what}）" if what else "",
                    example=example,
                )
            )
        v.put(name, value, "")
    return v


def _put_recorded(
    v: _Values,
    connection: Connection,
    workflow: Workflow,
    *,
    number: int,
    entering: Entering | None,
    declared: Iterable[str],
) -> None:
    """``step.X`` (what the issuing transition recorded) and ``earlier.X`` (the latest X
    recorded before it), as printed: a choice by its label, a date as a date, an optional
    field left out as a blank."""
    wanted = [name for name in declared if name.partition(".")[0] in ("step", "earlier")]
    if not wanted:
        return
    step = _printable(entering.transition, entering.values) if entering else {}
    earlier = (
        _earlier_values(connection, workflow, number, entering)
        if any(name.startswith("earlier.") for name in wanted)
        else {}
    )
    trigger = entering.transition.trigger if entering else "none"
    for name in wanted:
        space, _dot, field_name = name.partition(".")
        if space == "step":
            v.put(
                name,
                step.get(field_name),
                f"the step that issued it ({trigger}) recorded no {field_name}; "
                f"pass --set {name}=...",
            )
        else:
            v.put(
                name,
                earlier.get(field_name),
                f"no step before {trigger} recorded {field_name} for case {number}; "
                f"pass --set {name}=...",
            )


def _printable(transition: Transition, values: Mapping[str, Any]) -> dict[str, object]:
    printable: dict[str, object] = {}
    for spec in transition.fields:
        value = values.get(spec.name)
        if value is None or value == "":
            if not spec.required:
                printable[spec.name] = ""
            continue
        printable[spec.name] = spec.printed(value)
    return printable


def _earlier_values(
    connection: Connection, workflow: Workflow, number: int, entering: Entering | None
) -> dict[str, object]:
    """The latest value of each field the case's transitions recorded before the one
    issuing the document (all of them, while that one is not in the audit trail yet)."""
    latest: dict[str, object] = {}
    before: dict[str, object] | None = None
    moves = select(EVENT.c.payload).where(
        EVENT.c.case_id == number, EVENT.c.action == "case.transition"
    )
    for (text,) in connection.execute(moves.order_by(EVENT.c.seq)):
        payload = json.loads(text)
        values = payload.get("values") or {}
        transition = workflow.find(str(payload.get("trigger")), str(payload.get("from")))
        if transition is None:
            continue
        if (
            entering is not None
            and transition.trigger == entering.transition.trigger
            and values == dict(entering.values)
        ):
            before = dict(latest)
        latest.update(_printable(transition, values))
    return latest if before is None else before


def _department_letters(departments: list[str], workflow: Workflow) -> list[tuple[str, ...] | None]:
    """The letters of a document to the departments: one to each department the workflow
    gives the child's full ID number, one to all the others (a copy each)."""
    letters: list[tuple[str, ...] | None] = [
        (d,) for d in departments if d in workflow.full_id_number
    ]
    others = tuple(d for d in departments if d not in workflow.full_id_number)
    return letters + ([others] if others else [])


def _reference(
    connection: Connection,
    issuer: _Issuer,
    document: numbering.Numbered,
    *,
    typed: str,
    year: int,
    issuing: datetime | None,
    reprint: bool,
) -> str:
    """The 文号 a document carries: the one typed into the issuing step (recorded), the
    one given to it before (a reprint keeps its number), else, when it is being issued,
    the issuer's next number; a document whose issuer numbers nothing has none."""
    if issuer.authority is None:
        return typed
    if typed:
        if issuing is not None and not reprint:
            numbering.record_given(connection, document, typed, year=year, now=issuing)
        return typed
    found = numbering.registered(connection, document.letter)
    if found is None and reprint:
        copy = document.letter.partition("#")[2]
        found = numbering.latest(connection, document.case_id, document.template, copy)
    if found is not None or issuing is None:
        return found or ""
    return numbering.allocate(
        connection, document, prefix=issuer.authority.reference_prefix, year=year, now=issuing
    )


def _require_sender_details(issuer: _Issuer, template_id: str, declared: tuple[str, ...]) -> None:
    """A document that prints its sender's contact or 文号 is refused while the issuing
    unit's org.yaml entry lacks them, saying what to set."""
    authority = issuer.authority
    if authority is None:
        return
    wanted = []
    if "issuer.contact_person" in declared and not authority.contact_person:
        wanted.append("contact_person: 姓名")
    if "issuer.contact_phone" in declared and not authority.contact_phone:
        wanted.append('contact_phone: "电话号码"')
    if "issuer.reference" in declared and not authority.reference_prefix:
        wanted.append("reference_prefix: 文号前缀")
    if not wanted:
        return
    where = (
        _("its unit {unit!r} in org.yaml").format(unit=authority.unit)
        if authority.unit
        else _("a unit for {name} in org.yaml (the organisation in force has none)").format(
            name=authority.name
        )
    )
    raise TransitionRefused(
        _(
            "{title} ({template}) is issued by {authority}, whose contact person, phone and 文号 "
            "prefix it prints: give {where}: {wanted}, then run `caseflow org apply`; nothing "
            "was changed"
        ).format(
            title=template_title(template_id),
            template=template_id,
            authority=authority.name,
            where=where,
            wanted=", ".join(wanted),
        )
    )


def _addressed_to(workflow: Workflow, template_id: str, entering: Entering | None) -> str | None:
    """Whom the workflow writes the document to (``ADDRESSEES``); a document that
    accompanies another is written to that one's addressees."""
    spec = workflow.document(template_id)
    if spec.addressed_to != "served_document":
        return spec.addressed_to
    served = _served_template(workflow, entering, template_id)
    return None if served is None else workflow.document(served).addressed_to


@dataclass(frozen=True)
class _Issuer:
    name: str | None
    seal: str
    lacking: str = ""
    authority: Authority | None = None  # a body of the organisation: numbers, contact


def _issuer(
    ctx: Context,
    connection: Connection,
    *,
    workflow: Workflow,
    template_id: str,
    row: Any,
    entering: Entering | None,
) -> _Issuer:
    """Who signs the document, by the workflow's ``documents:`` section, the workspace's
    ``[procedure] order_issuer`` and the organisation in force."""
    spec = workflow.document(template_id)
    role = spec.issuer
    if role == "served_document":
        served = _served_template(workflow, entering, template_id)
        role = workflow.document(served).issuer if served else "leading_group_office"
    title = template_title(template_id)
    if role == "order_authority":
        configured = ctx.workspace.procedure.get("order_issuer")
        if configured is None:
            raise TransitionRefused(
                _(
                    "{title} ({template}) is issued by the body the county names to issue "
                    'orders and penalties: set [procedure] order_issuer = "township" (the '
                    'township government or street office) or "education_bureau" in '
                    "caseflow.toml; nothing was changed"
                ).format(title=title, template=template_id)
            )
        role = "township_government" if configured == "township" else "education_bureau"
    org = org_in_force(connection)
    if role == "township_government":
        authority = org.township_authority(row.township)
        if authority is None:
            raise TransitionRefused(
                _(
                    "{title} ({template}) is issued by the government of {township}, and the "
                    "organisation in force does not say whether {township} is a 镇, 乡 or "
                    "街道: give its township unit `form:` in org.yaml and run `caseflow org "
                    "apply`; nothing was changed"
                ).format(title=title, template=template_id, township=row.township)
            )
        return _Issuer(authority.name, authority.seal, authority=authority)
    if role == "education_bureau":
        authority = org.bureau_authority(f"{ctx.workspace.county}教育局")
        return _Issuer(authority.name, authority.seal, authority=authority)
    if role == "school":
        if not row.school:
            return _Issuer(
                None,
                "",
                f"{title} is issued by the child's school, and no school is recorded for "
                f"case {row.id}; record it with `caseflow case update {row.id} --school ...` "
                "or pass --set issuer.name=...",
            )
        authority = org.school_authority(row.school)
        return _Issuer(authority.name, authority.seal, authority=authority)
    return _Issuer(ctx.workspace.issuer, ctx.workspace.issuer)


def _case_values(
    ctx: Context,
    workflow: Workflow,
    row: Any,
    *,
    child: Any,
    guardian: Any,
    legal: list[Any],
    entering: Entering | None,
    template_id: str,
    issuer: _Issuer,
    department: tuple[str, ...] | None = None,
) -> _Values:
    number = row.id
    today = ctx.today
    state = workflow.state(row.state)
    v = _Values()
    recorded = entering.values if entering else {}
    document_number = _text(recorded.get("document_number")) or recorded_values(row.facts).get(
        "document_number", ""
    )

    v.put("today", today, "")
    issued_here = entering is not None and template_id in entering.transition.documents
    # The date of the decision: the day the transition that issued it happened.
    decided = entering.occurred_on if issued_here and entering is not None else None
    v.put("document.date", decided or today, "")
    v.put("issuer.name", issuer.name, issuer.lacking)
    v.put("issuer.seal", issuer.seal or issuer.name, "follows issuer.name")
    v.put("issuer.reference", _text(recorded.get("document_number")) if issued_here else "", "")
    authority = issuer.authority
    v.put("issuer.contact_person", authority.contact_person if authority else None, _no_contact)
    v.put("issuer.contact_phone", authority.contact_phone if authority else None, _no_contact)

    v.put("case.number", number, "")
    v.put("case.state_label", state.label, "")
    v.put("case.township", row.township, "")
    v.put("case.village", row.village, "")
    v.put("case.school", row.school or "", "")
    v.put("case.opened_on", row.opened_on, "")
    no_deadline = (
        f"case {number} is in {row.state} ({state.label}), which has no deadline; "
        "pass --set {field}=YYYY-MM-DD"
    )
    v.put("case.due_on", row.due_on, no_deadline.format(field="case.due_on"))
    v.put("case.due_provisional", bool(row.due_provisional), "")
    reasons = workflow.dropout_reasons
    v.put("case.reasons", [reasons.get(code, code) for code in row.reasons], "")
    v.put("case.absent_since", _absent_since(row.facts) or row.opened_on, "")

    v.put("child.name", child.name, "")
    v.put("child.masked_name", mask_name(child.name), "")
    v.put("child.masked_id", mask_id_number(child.id_number), "")
    disclosed = department is not None and set(department) <= set(workflow.full_id_number)
    v.put("child.id_number", child.id_number if disclosed else mask_id_number(child.id_number), "")
    v.put("child.id_disclosed", disclosed, "")
    v.put("child.sex", child.sex or "", "")
    v.put("child.birth_date", child.birth_date, "")
    v.put("child.grade", child.grade or "", "")
    v.put("child.class_name", child.class_name or "", "")

    for name in ("name", "relation", "phone"):
        if guardian is None:
            v.put(
                f"guardian.{name}",
                None,
                f"no guardian recorded for case {number}; record one with `caseflow case "
                f"guardian add {number} ...` or pass --set guardian.{name}=...",
            )
            continue
        value = _text(getattr(guardian, name))
        v.put(
            f"guardian.{name}",
            value if value or name == "phone" else None,  # no phone: a blank to fill in
            f"the guardian's {name} is not recorded for case {number}; "
            f"pass --set guardian.{name}=...",
        )
    v.put("guardian.is_parent", guardian is not None and is_parent(guardian.relation), "")
    v.put("guardian.legal_basis", _text(guardian.legal_basis) if guardian else "", "")
    v.put("legal_guardians", [{"name": g.name, "relation": _text(g.relation)} for g in legal], "")

    period = workflow.period_state(row.state).deadline
    if period is not None:
        v.put("period.amount", period.amount, "")
        v.put("period.unit_label", PERIOD_UNITS[period.unit], "")
    else:
        lacking = no_deadline.format(field="period.amount") + " (and period.unit_label=日)"
        v.put("period.amount", None, lacking)
        v.put("period.unit_label", None, lacking)
    if row.due_on is None:
        lacking = no_deadline.format(field="deadline.date") + " (or --set deadline.days=N)"
        v.put("deadline.date", None, lacking)
        v.put("deadline.days", None, lacking)
    elif row.due_on <= today:
        lacking = (
            f"case {number}'s deadline {row.due_on.isoformat()} is not after today; "
            "pass --set deadline.date=YYYY-MM-DD (or --set deadline.days=N)"
        )
        v.put("deadline.date", None, lacking)
        v.put("deadline.days", None, lacking)
    else:
        v.put("deadline.date", row.due_on, "")
        v.put("deadline.days", (row.due_on - today).days, "")
    v.put(
        "request.text",
        state.deadline.basis if state.deadline else None,
        f"state {row.state} of case {number} has no deadline basis; pass --set request.text=...",
    )
    departments = [
        workflow.departments.get(d, d)
        for d in (row.departments if department is None else department)
    ]
    named = _addressee_named(entering) if issued_here else ""
    v.put(
        "department.name",
        named or "、".join(departments) or None,
        f"case {number} is not handed to a department in state {row.state}; "
        "pass --set department.name=...",
    )
    v.put("department.copied", "、".join(departments) if named else "", "")
    v.put("transition.facts", _facts(entering) if issued_here else [], "")
    v.put(
        "school.name",
        row.school or None,
        f"no school recorded for case {number}; pass --set school.name=...",
    )
    served = _served_template(workflow, entering, template_id)
    v.put(
        "service.document",
        template_title(served) if served else None,
        f"the transition that entered {row.state} issued no other document for case {number}; "
        "pass --set service.document=... (the title of the document served)",
    )
    v.put("service.document_number", document_number, "")
    v.put("service.place", f"{child.township}{child.village}{child.group_name or ''}", "")
    v.put("service.method", SERVICE_METHOD, "")
    # Another document (e.g. a reminder) is written to the unit responsible for the state.
    scope = escalation.Scope(
        row.township, row.village, row.school, tuple(row.departments), row.chain
    )
    responsible = escalation.recipient_keys("responsible_unit", state.responsible, scope)
    v.put(
        "recipient.name",
        escalation.recipient_label(responsible[0], departments=workflow.departments),
        "",
    )
    return v


PERIOD_UNITS: Mapping[str, str] = MappingProxyType(
    {"days": "日", "working_days": "个工作日", "months": "个月"}
)

_no_contact = (
    "the document's issuer is not a unit of the organisation, which would give its contact "
    "person and phone; pass --set issuer.contact_person=... --set issuer.contact_phone=..."
)


def _facts(entering: Entering | None) -> list[dict[str, str]]:
    """What the issuing transition recorded, under the workflow's labels, in its order:
    the facts a letter passes on (its 文号 and its addressee are printed elsewhere)."""
    if entering is None:
        return []
    facts = []
    for spec in entering.transition.fields:
        value = entering.values.get(spec.name)
        if spec.addresses or spec.name == "document_number" or value in (None, ""):
            continue
        facts.append({"label": spec.label, "value": spoken(spec.printed(value))})
    return facts


def _addressee_named(entering: Entering | None) -> str:
    """The body the issuing step named as the addressee (an ``addresses`` field), if any."""
    if entering is None:
        return ""
    return next(
        (_text(entering.values.get(f.name)) for f in entering.transition.fields if f.addresses),
        "",
    )


def _derive(v: _Values, overrides: Mapping[str, str], kind: Addressee, today: date) -> None:
    """Values that follow from others, after the overrides: the deadline's date and days
    from each other, the receiving school from the case's, the recipient's name."""
    if "deadline.date" in overrides and "deadline.days" not in overrides:
        due = v.values["deadline.date"]
        assert isinstance(due, date)
        if due <= today:
            raise InvalidInput(
                _("--set deadline.date={day} must be after today").format(day=due.isoformat())
            )
        v.values["deadline.days"] = (due - today).days
        v.lacking.pop("deadline.days", None)
    elif "deadline.days" in overrides and "deadline.date" not in overrides:
        days = v.values["deadline.days"]
        assert isinstance(days, int)
        v.values["deadline.date"] = today + timedelta(days=days)
        v.lacking.pop("deadline.date", None)
    if "case.school" in overrides and "school.name" not in overrides:
        v.values["school.name"] = v.values["case.school"]
        v.lacking.pop("school.name", None)
    if "issuer.name" in v.lacking and "school.name" in v.values:
        # A document the school issues, for a case whose school was set by hand.
        v.values["issuer.name"] = v.values["school.name"]
        v.lacking.pop("issuer.name")
    if "issuer.name" in v.values and "issuer.seal" not in v.values:
        v.values["issuer.seal"] = v.values["issuer.name"]
        v.lacking.pop("issuer.seal", None)
    source = {"guardian": "guardian.name", "department": "department.name"}.get(kind)
    if source is None or "recipient.name" in overrides:
        return
    if source in v.values:
        v.values["recipient.name"] = v.values[source]
    else:
        del v.values["recipient.name"]
        v.lacking["recipient.name"] = (
            f"{v.lacking.get(source, source + ' is not known')} (or --set recipient.name=...)"
        )


def _coerce(name: str, raw: str, reasons: Mapping[str, str]) -> object:
    text = raw.strip()
    if name in _DATE_FIELDS:
        return parse_date(text, what=f"--set {name}")
    if name == "deadline.days":
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(
                _("--set deadline.days must be a whole number of days, got {value!r}").format(
                    value=raw
                )
            )
        return int(text)
    if name == "case.due_provisional":
        lowered = text.lower()
        if lowered not in {"true", "false", "yes", "no", "1", "0"}:
            raise InvalidInput(
                _("--set case.due_provisional must be true or false, got {value!r}").format(
                    value=raw
                )
            )
        return lowered in {"true", "yes", "1"}
    if name == "case.reasons":
        parts = [part.strip() for part in _LIST_SEPARATORS.split(text) if part.strip()]
        return [reasons.get(part, part) for part in parts]
    return text


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _absent_since(facts: Mapping[str, Any]) -> date | None:
    """The latest ``absent_since`` a transition recorded (e.g. a relapse), if any."""
    days = []
    for values in facts.values():
        if isinstance(values, Mapping) and values.get("absent_since"):
            try:
                days.append(date.fromisoformat(str(values["absent_since"])))
            except ValueError:
                continue
    return max(days, default=None)


def _entering_transition(connection: Connection, workflow: Workflow, row: Any) -> Entering | None:
    """The transition that moved the case into its current state, the values it recorded
    and its day (from the audit trail; a move within the state counts only if none
    entered). Where that one only recorded the service of documents (a
    ``starts_deadline`` field, no documents of its own), the transition that issued them:
    an order reprinted after its service keeps its 文号 and date."""
    Found = tuple[str, str, Mapping[str, Any], str | None]
    entered: Found | None = None
    stayed: Found | None = None
    before: Found | None = None  # the move that entered the state ``entered`` left
    last: Found | None = None
    # Not audit.events(): its yield_per would stay on this connection for the inserts.
    moves = select(EVENT.c.payload, EVENT.c.occurred_on).where(
        EVENT.c.case_id == row.id, EVENT.c.action == "case.transition"
    )
    for text, occurred_on in connection.execute(moves.order_by(EVENT.c.seq)):
        payload = json.loads(text)
        found: Found = (
            str(payload.get("trigger")),
            str(payload.get("from")),
            payload.get("values") or {},
            occurred_on,
        )
        if payload.get("to") == row.state:
            if payload.get("from") == row.state:
                stayed = found
            else:
                entered, stayed, before = found, None, last
        if payload.get("from") != payload.get("to"):
            last = found
    chosen = entered or stayed
    if chosen is None:
        return None
    transition = workflow.find(chosen[0], chosen[1])
    if transition is None:
        return None
    serving = not transition.documents and any(f.starts_deadline for f in transition.fields)
    if chosen is entered and serving and before is not None:
        issuing = workflow.find(before[0], before[1])
        if issuing is not None and issuing.documents and issuing.dest == chosen[1]:
            chosen, transition = before, issuing
    return Entering(transition, chosen[2], date.fromisoformat(chosen[3]) if chosen[3] else None)


def _served_template(workflow: Workflow, entering: Entering | None, template_id: str) -> str | None:
    """The document a proof of service (or a notice to a carer) accompanies: the other
    document the entering transition issued that accompanies none itself."""
    if entering is None:
        return None
    from caseflow.render import declared_fields

    for document in entering.transition.documents:
        spec = workflow.document(document)
        if (
            document == template_id
            or "served_document" in (spec.issuer, spec.addressed_to)
            or "service.document" in declared_fields(document)
        ):
            continue
        return document
    return None


def template_title(template_id: str) -> str:
    """A template's title block (``{% block title %}...``), else its id."""
    from caseflow.render import TEMPLATE_SUFFIX, templates_dir

    path = templates_dir() / (template_id + TEMPLATE_SUFFIX)
    try:
        match = _TITLE_BLOCK.search(path.read_text(encoding="utf-8"))
    except OSError:
        return template_id
    return match.group(1).strip() if match and match.group(1).strip() else template_id


# ---------------------------------------------------------------------------------------
# Printing


# What the sweep supplies to a rung's template (``caseflow workflow check`` holds the
# templates to it): a template that lists cases (declares escalation.cases) gets the list
# context of `_notices`; any other gets one case's context from `_case_context`, whose
# child.name is deliberately blank (notices to units show masked names only).
SWEEP_LIST_FIELDS: frozenset[str] = frozenset(
    {"today", "issuer.name", "issuer.reference", "recipient.name"}
    | {"escalation.level", "escalation.cases"}
)


SWEEP_CASE_FIELDS: frozenset[str] = frozenset(
    {"today", "issuer.name", "issuer.reference", "recipient.name", "request.text"}
    | {"child.masked_name"}
    | {
        f"case.{name}"
        for name in ("number", "state_label", "township", "village", "due_on", "due_provisional")
    }
)


def sweep_fields(declared: Iterable[str]) -> frozenset[str]:
    """What the sweep supplies to a rung template that declares ``declared``."""
    return SWEEP_LIST_FIELDS if "escalation.cases" in declared else SWEEP_CASE_FIELDS


@lru_cache(maxsize=64)
def lists_cases(template: str) -> bool:
    from caseflow.render import declared_fields

    return "escalation.cases" in declared_fields(template)
