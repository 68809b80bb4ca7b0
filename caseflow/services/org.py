"""The organisation in force: ``org apply`` stores the checked file and makes its operators
the ones caseflow knows (an audited step by an admin); cases take their 包保 chains from
the organisation in force when they open, and ``case assign`` changes one link."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from caseflow import access, db
from caseflow.errors import InvalidInput, Refused, WorkspaceError
from caseflow.i18n import _
from caseflow.org import CHAIN_ROLES, POSITIONS, Org, describe_org, read_org
from caseflow.services.context import Context, workflow_in_force
from caseflow.services.records import OPERATOR, ORG_VERSION, org_in_force, record, require
from caseflow.services.step import apply_step
from caseflow.states import Problem
from caseflow.workspace import Workspace, load, locate


@dataclass(frozen=True)
class Applied:
    sha256: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: bool


def _checked(path: Path, departments: Mapping[str, str]) -> Org:
    org, problems = read_org(path, departments=departments)
    if org is None or problems:
        raise WorkspaceError(
            _(
                "{count} problem(s) in {path}; nothing was applied (see `caseflow org check`):"
            ).format(count=len(problems), path=path)
            + "\n"
            + "\n".join(str(problem) for problem in problems)
        )
    return org


_OPERATOR_FIELDS = ("os_user", "roles", "jurisdiction", "shared_accounts", "unit", "person")


def _operator_values(org: Org, name: str) -> dict[str, Any]:
    entry = org.operators[name]
    return {
        "os_user": entry.os_user,
        "roles": ",".join(entry.roles),
        "jurisdiction": str(entry.jurisdiction),
        "shared_accounts": ",".join(entry.shared_accounts),
        "unit": entry.unit,
        "person": entry.person,
    }


def apply_org(ctx: Context, path: Path | None = None) -> Applied:
    """Put the organisation file in force: its operators replace the ones before, in one
    transaction with its audit event. Refused if it would lock the applying admin out."""
    require(ctx, access.ORG_ADMINS, "org apply")
    org = _checked(path or ctx.workspace.org_file, ctx.current_workflow.departments)
    user = ctx.actor.os_user
    if not any(op.usable_by(user) and "admin" in op.roles for op in org.operators.values()):
        raise Refused(
            _(
                "the organisation file lists no admin operator for OS account {user!r}; "
                "applying it would lock you out — add yourself as an operator with the "
                "admin role; nothing was applied"
            ).format(user=user)
        )
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        before = {
            row.name: {key: getattr(row, key) for key in _OPERATOR_FIELDS}
            for row in connection.execute(select(OPERATOR)).all()
        }
        wanted = {name: _operator_values(org, name) for name in org.operators}
        added = sorted(set(wanted) - set(before))
        removed = sorted(set(before) - set(wanted))
        changed = sorted(n for n in set(wanted) & set(before) if wanted[n] != before[n])
        if org_in_force(connection).sha256 == org.sha256 and not (added or removed or changed):
            return Applied(org.sha256, [], [], [], unchanged=True)
        if removed:
            connection.execute(delete(OPERATOR).where(OPERATOR.c.name.in_(removed)))
        for name in changed:
            connection.execute(
                update(OPERATOR).where(OPERATOR.c.name == name).values(**wanted[name])
            )
        if added:
            connection.execute(
                insert(OPERATOR), [{"name": n, "created_at": now, **wanted[n]} for n in added]
            )
        connection.execute(
            insert(ORG_VERSION).values(
                sha256=org.sha256, source=org.source, applied_at=now, operator=ctx.actor.operator
            )
        )
        record(
            ctx,
            connection,
            now,
            action="org.apply",
            payload={
                "sha256": org.sha256,
                "operators_added": added,
                "operators_removed": removed,
                "operators_changed": changed,
                "units": len(org.units),
                "people": len(org.people),
            },
        )
    return Applied(org.sha256, added, removed, changed, unchanged=False)


def assign(ctx: Context, number: int, role: str, person: str) -> str:
    """Give one link of a case's 包保 chain to another person (an audited step):
    ``person`` is their org.yaml id, or their name when no one else in the organisation
    has it. Returns the person's id."""
    require(ctx, access.ASSIGNERS, "case assign", case_id=number)
    if role not in CHAIN_ROLES:
        raise InvalidInput(
            _("role {role!r} is not a chain role; use one of: {roles}").format(
                role=role, roles=", ".join(CHAIN_ROLES)
            )
        )
    with db.read(ctx.engine) as connection:
        org = org_in_force(connection)
    holder = org.people.get(person)
    if holder is None:
        named = org.people_named(person)
        if len(named) > 1:
            candidates = _("; ").join(
                _("{label} (id {id})").format(label=org.person_label(p.id), id=p.id) for p in named
            )
            raise InvalidInput(
                _(
                    "{count} people in the organisation are named “{name}”: {candidates}. "
                    "Name one of them by id."
                ).format(count=len(named), name=person.strip(), candidates=candidates)
            )
        holder = named[0] if named else None
        person = holder.id if holder else person
    if holder is None:
        raise InvalidInput(
            _(
                "person {person!r} is not in the organisation in force; see `caseflow org show`"
            ).format(person=person)
        )
    if holder.position != role:
        raise InvalidInput(
            _("{person} is a {position}, not a {role}").format(
                person=org.person_label(person),
                position=POSITIONS.get(holder.position, holder.position),
                role=POSITIONS.get(role, role),
            )
        )
    apply_step(
        ctx, "case assign", number, "case.assign", lambda row: _reassigned(row, role, person, org)
    )
    return person


def _reassigned(
    row: Any, role: str, person: str, org: Org
) -> tuple[dict[str, Any], dict[str, Any]]:
    chain = dict(row.chain)
    previous = chain.get(role)
    if previous == person:
        raise InvalidInput(
            _("{person} already holds that link of case {number}").format(
                person=org.person_label(person), number=row.id
            )
        )
    chain[role] = person
    return {"chain": chain}, {"role": role, "from": previous, "to": person}


# ---------------------------------------------------------------------------------------
# The organisation file itself (no database needed)


@dataclass(frozen=True)
class OrgCheck:
    path: Path
    org: Org | None
    problems: list[Problem]


def check_org(file: Path | None = None, explicit: Path | None = None) -> OrgCheck:
    """Every problem of an organisation file: the one given, else the workspace's org.yaml
    (a workspace without one has an empty organisation). Its department units must name
    departments the workflow in force declares (outside a workspace, the shipped one)."""
    workspace: Workspace | None
    if file is None:
        workspace = _workspace(explicit)
        path = workspace.org_file
    else:
        path = file
        try:
            workspace = _workspace(explicit)
        except WorkspaceError:  # a file checked outside any workspace
            workspace = None
    departments = workflow_in_force(workspace).departments
    org, problems = read_org(path, departments=departments, missing_ok=file is None)
    return OrgCheck(path, org, problems)


@dataclass(frozen=True)
class OrgView:
    """The organisation in force, as plain data too, and whether the workspace's org.yaml
    has been edited since it was last applied (those edits route nothing yet)."""

    org: Org
    description: dict[str, Any]
    unapplied_edits: bool


def show_org(ctx: Context) -> OrgView:
    """The organisation in force: the one notices, chains and operators follow."""
    with db.read(ctx.engine) as connection:
        org = org_in_force(connection)
    file = ctx.workspace.org_file
    text = file.read_text(encoding="utf-8") if file.exists() else ""
    edited = hashlib.sha256(text.encode("utf-8")).hexdigest() != org.sha256
    return OrgView(org, describe_org(org), unapplied_edits=edited)


def _workspace(explicit: Path | None) -> Workspace:
    return load(locate(explicit, os.environ, Path.cwd()))
