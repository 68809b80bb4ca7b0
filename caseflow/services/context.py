"""The context every use case runs in: the workspace, its database, the acting operator,
the clock and the calendar. The system clock and the OS account are defaults handed in
by the caller, never read deep inside a use case."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, inspect, select, text

from caseflow import audit, db
from caseflow.access import Jurisdiction
from caseflow.calendar import WorkCalendar
from caseflow.engine import Actor
from caseflow.errors import (
    AccessDenied,
    WorkspaceError,
)
from caseflow.i18n import _
from caseflow.resources import shipped
from caseflow.services.records import (
    OPERATOR,
)
from caseflow.states import (
    Workflow,
    find_workflow_file,
    load_workflow,
)
from caseflow.workspace import (
    SHIPPED_WORKFLOW,
    Workspace,
    create,
    discard,
    load,
    locate,
    national_calendar,
    workspace_calendar,
    write_example_org,
)

SCHEMA_HEAD = "0013"


INITIAL_ROLES = ("bureau", "admin")


Clock = Callable[[], datetime]


def os_user() -> str:
    """The real account running this process (effective uid), not ``$USER``."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    workspace: Workspace
    engine: Engine
    actor: Actor
    clock: Clock = system_clock
    calendar: WorkCalendar = field(default_factory=lambda: WorkCalendar(national_calendar()))

    def now(self) -> datetime:
        return self.clock()

    @property
    def today(self) -> date:
        return self.now().astimezone(self.workspace.timezone).date()

    @cached_property
    def current_workflow(self) -> Workflow:
        return workflow_in_force(self.workspace)


def workflow_in_force(workspace: Workspace | None) -> Workflow:
    """The workflow new cases start on: the workspace's default, or without a workspace
    the shipped one."""
    if workspace is None:
        return load_workflow(find_workflow_file(SHIPPED_WORKFLOW, (shipped("workflows"),)))
    name = workspace.default_workflow
    return load_workflow(find_workflow_file(name, workspace.workflow_dirs))


def init_workspace(
    root: Path,
    database_url: str | None = None,
    *,
    county: str = "本县",
    clock: Clock = system_clock,
    os_account: Callable[[], str] | None = None,
    example_org: bool = False,
) -> tuple[Workspace, str]:
    """Create the workspace files and schema, and make the OS account running this the first
    operator (bureau + admin). Returns the workspace and the operator name. With
    ``example_org``, org.yaml is the shipped example county, whose bureau admin is this
    account."""
    workspace = create(root, database_url, county)
    sqlite_file = db.sqlite_path(workspace.database_url)
    fresh_file = sqlite_file is not None and not sqlite_file.exists()
    db_engine: Engine | None = None
    try:
        db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
        user = (os_account or os_user)()
        now = clock()
        with db.write(db_engine) as connection:
            db.upgrade_within(connection)
            existing = connection.execute(select(OPERATOR.c.name)).first()
            if existing is not None:
                raise WorkspaceError(
                    _(
                        "the database at {url} already has operators; it belongs to another "
                        "workspace"
                    ).format(url=db.safe_url(workspace.database_url))
                )
            connection.execute(
                insert(OPERATOR).values(
                    name=user,
                    os_user=user,
                    roles=",".join(INITIAL_ROLES),
                    jurisdiction="county",
                    created_at=now,
                )
            )
            audit.append(
                connection,
                action="workspace.init",
                operator=user,
                os_user=user,
                recorded_at=now,
                payload={"operator": user, "roles": list(INITIAL_ROLES), "jurisdiction": "county"},
            )
    except BaseException:
        if db_engine is not None:
            db_engine.dispose()
        discard(workspace, sqlite_file if fresh_file else None)
        raise
    db_engine.dispose()
    if example_org:
        write_example_org(workspace, user)
    return workspace, user


def _check_schema(db_engine: Engine) -> None:
    with db.read(db_engine) as connection:
        revision = None
        if inspect(connection).has_table("alembic_version"):
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision is None:
        raise WorkspaceError(
            _(
                "the database has no caseflow schema; create the workspace with "
                "`caseflow init` or run `caseflow db upgrade`"
            )
        )
    if revision != SCHEMA_HEAD:
        raise WorkspaceError(
            _(
                "the database schema is at revision {revision}, this caseflow expects "
                "{head}; run `caseflow db upgrade`"
            ).format(revision=revision, head=SCHEMA_HEAD)
        )


def resolve_actor(connection: Connection, user: str, acting_as: str | None = None) -> Actor:
    """The operator this OS account is, or, with ``acting_as``, acts for: allowed only when
    it is that operator's own account or one of its shared terminals' accounts."""
    if acting_as is None:
        rows = connection.execute(select(OPERATOR).where(OPERATOR.c.os_user == user)).all()
        if not rows:
            shared = _operators_shared_with(connection, user)
            hint = (
                _("; on this shared account choose one with --as ({operators})").format(
                    operators=", ".join(shared)
                )
                if shared
                else _("; ask the workspace admin to add it to org.yaml and `caseflow org apply`")
            )
            raise AccessDenied(
                _("OS account {user!r} is not an operator of this workspace{hint}").format(
                    user=user, hint=hint
                )
            )
        if len(rows) > 1:
            names = ", ".join(sorted(row.name for row in rows))
            raise AccessDenied(
                _("OS account {user!r} acts for several operators ({names})").format(
                    user=user, names=names
                )
            )
        row = rows[0]
    else:
        named = connection.execute(select(OPERATOR).where(OPERATOR.c.name == acting_as)).first()
        if named is None or (named.os_user != user and user not in _listed(named.shared_accounts)):
            raise AccessDenied(
                _(
                    "OS account {user!r} may not act as {operator!r}; the organisation file "
                    "must list it among that operator's shared_accounts"
                ).format(user=user, operator=acting_as)
            )
        row = named
    return Actor(
        operator=row.name,
        os_user=user,
        roles=frozenset(_listed(row.roles)),
        jurisdiction=Jurisdiction.parse(row.jurisdiction),
    )


def _listed(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _operators_shared_with(connection: Connection, user: str) -> list[str]:
    rows = connection.execute(select(OPERATOR.c.name, OPERATOR.c.shared_accounts)).all()
    return sorted(row.name for row in rows if user in _listed(row.shared_accounts))


def open_context(
    explicit: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    clock: Clock = system_clock,
    os_account: Callable[[], str] | None = None,
    migrate: bool = False,
    acting_as: str | None = None,
) -> Context:
    root = locate(explicit, os.environ if environ is None else environ, cwd or Path.cwd())
    workspace = load(root)
    db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
    if migrate:
        db.upgrade(db_engine)
    _check_schema(db_engine)
    with db.read(db_engine) as connection:
        actor = resolve_actor(connection, (os_account or os_user)(), acting_as)
    return Context(
        workspace=workspace,
        engine=db_engine,
        actor=actor,
        clock=clock,
        calendar=workspace_calendar(workspace),
    )
