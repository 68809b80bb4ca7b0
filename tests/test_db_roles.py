"""A two-role PostgreSQL deployment (issue 17 item 8): the owner role runs the migrations
and owns the tables and the audit triggers; the application role, after `caseflow db
grants --apply`, opens and advances cases but cannot update, delete or truncate audit
events, disable their triggers, or drop anything. On the real PostgreSQL, in a fresh
schema with two fresh roles (skipped when CASEFLOW_TEST_PG_URL is unset)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case, show_case
from caseflow.services.context import init_workspace, open_context
from caseflow.workspace import CONFIG_NAME
from tests.conftest import PG_URL, CliInvoker, child, fixed_clock

pytestmark = pytest.mark.skipif(PG_URL is None, reason="CASEFLOW_TEST_PG_URL is unset")


@dataclass(frozen=True)
class Deployment:
    schema: str
    owner: str
    app: str

    def url(self, role: str | None) -> str:
        """A URL to the test database as ``role`` (None: the test's superuser), with the
        deployment's schema first on the search path."""
        assert PG_URL is not None
        url = make_url(PG_URL)
        if role is not None:
            url = url.set(username=role, password=None)
        rendered = url.render_as_string(hide_password=False)
        separator = "&" if "?" in rendered else "?"
        return f"{rendered}{separator}options={quote(f'-csearch_path={self.schema}')}"


def _superuser(statement: str) -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def roles() -> Iterator[Deployment]:
    tag = uuid.uuid4().hex[:10]
    deployment = Deployment(f"cf_roles_{tag}", f"cf_owner_{tag}", f"cf_app_{tag}")
    _superuser(f"CREATE ROLE {deployment.owner} LOGIN NOSUPERUSER")
    _superuser(f"CREATE ROLE {deployment.app} LOGIN NOSUPERUSER")
    _superuser(f"CREATE SCHEMA {deployment.schema} AUTHORIZATION {deployment.owner}")
    try:
        yield deployment
    finally:
        _superuser(f"DROP SCHEMA {deployment.schema} CASCADE")
        for role in (deployment.app, deployment.owner):
            _superuser(f"DROP OWNED BY {role}")
            _superuser(f"DROP ROLE {role}")


def _connect_workspace_as(root: Path, url: str) -> None:
    """Point the workspace's database.url at another role (what the deployment does once
    the owner has created the schema)."""
    config = root / CONFIG_NAME
    changed, count = re.subn(
        r'^url = ".*"$', lambda _m: f'url = "{url}"', config.read_text(encoding="utf-8"),
        count=1, flags=re.MULTILINE,
    )  # fmt: skip
    assert count == 1
    config.write_text(changed, encoding="utf-8")


# What the application role must not do to the audit trail: each refused by the server.
FORBIDDEN = {
    "update an event": "UPDATE audit_event SET operator = 'someone_else'",
    "delete an event": "DELETE FROM audit_event",
    "truncate the events": "TRUNCATE audit_event",
    "disable the triggers": "ALTER TABLE audit_event DISABLE TRIGGER USER",
    "disable one trigger": "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
    "alter the table": "ALTER TABLE audit_event ADD COLUMN forged TEXT",
    "drop a trigger": "DROP TRIGGER audit_event_append_only ON audit_event",
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION caseflow_audit_append_only() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql"
    ),
    "drop the events": "DROP TABLE audit_event",
    "drop the cases": "DROP TABLE case_file",
    "delete the head": "DELETE FROM audit_head",
    "truncate the head": "TRUNCATE audit_head",
    "create a table": "CREATE TABLE shadow (seq INTEGER)",
}


def _refused_as(url: str, statement: str) -> str:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as refused, engine.begin() as connection:
            connection.execute(text(statement))
        return str(refused.value.orig)
    finally:
        engine.dispose()


def test_the_application_role_works_cases_but_cannot_rewrite_the_audit_trail(
    roles: Deployment, tmp_path: Path
) -> None:
    root = tmp_path / "county"
    init_workspace(root, roles.url(roles.owner), clock=fixed_clock)  # migrations as owner
    cli = CliInvoker(root)
    printed = cli("db", "grants", "--app-role", roles.app)
    assert printed.exit_code == 0, printed.stderr
    assert (
        f"-- caseflow db grants: schema {roles.schema}, owner role {roles.owner}, "
        f"application role {roles.app}"
    ) in printed.stdout
    assert f"GRANT SELECT, INSERT ON {roles.schema}.audit_event TO {roles.app};" in printed.stdout
    assert "audit_event TO" in printed.stdout and "UPDATE ON" in printed.stdout
    # Printing changes nothing: the application role cannot read yet.
    unread = _refused_as(roles.url(roles.app), f"SELECT * FROM {roles.schema}.case_file")
    assert "permission denied" in unread

    applied = cli("db", "grants", "--app-role", roles.app, "--apply")
    assert applied.exit_code == 0, applied.stderr
    assert "can no longer rewrite the audit trail" in applied.stdout
    again = cli("db", "grants", "--app-role", roles.app, "--apply")  # after an upgrade
    assert again.exit_code == 0, again.stderr

    # The README's steps: the owner's URL kept in a folder of its own, for upgrades; the
    # workspace connects as the application role.
    owner_folder = tmp_path / "owner"
    owner_folder.mkdir()
    shutil.copy2(root / CONFIG_NAME, owner_folder / CONFIG_NAME)
    _connect_workspace_as(root, roles.url(roles.app))
    ctx = open_context(root, clock=fixed_clock)
    try:
        number = open_case(ctx, child(21), occurred_on=date(2026, 11, 2)).number
        advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
        assert show_case(ctx, number)["state"] == "verifying"
        assert audit_verify(ctx).intact
    finally:
        ctx.engine.dispose()
    for name, statement in FORBIDDEN.items():
        message = _refused_as(roles.url(roles.app), statement)
        assert "permission denied" in message or "must be owner" in message, (name, message)
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    # Upgrades run as the owner, then the grants again; the application role goes on.
    owner = CliInvoker(owner_folder)
    upgraded = owner("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    regranted = owner("db", "grants", "--app-role", roles.app, "--apply")
    assert regranted.exit_code == 0, regranted.stderr
    assert cli("case", "show", str(number)).exit_code == 0
    assert _refused_as(roles.url(roles.app), FORBIDDEN["disable the triggers"])
    # The application role cannot hand itself the grants either.
    refused = cli("db", "grants", "--app-role", roles.app, "--apply")
    assert refused.exit_code != 0


def test_tables_the_application_role_owns_are_handed_to_the_owner(
    roles: Deployment, tmp_path: Path
) -> None:
    """The situation of issue 17 item 8: the application's role made the schema, so it
    owns the audit table and can disable its triggers. A superuser hands everything to the
    owner role with --owner-role and --owner-url."""
    _superuser(f"ALTER SCHEMA {roles.schema} OWNER TO {roles.app}")
    root = tmp_path / "county"
    init_workspace(root, roles.url(roles.app), clock=fixed_clock)
    cli = CliInvoker(root)
    before = cli("db", "grants", "--app-role", roles.app, "--owner-url", roles.url(None))
    assert before.exit_code == 1
    assert f"the application role {roles.app} owns" in before.stderr
    assert "--owner-role" in before.stderr

    moved = cli(
        "db", "grants", "--app-role", roles.app, "--owner-role", roles.owner,
        "--owner-url", roles.url(None), "--apply",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.stderr
    assert f"ALTER TABLE {roles.schema}.audit_event OWNER TO {roles.owner};" in moved.stdout
    assert f"ALTER SCHEMA {roles.schema} OWNER TO {roles.owner};" in moved.stdout
    for name in ("disable the triggers", "drop the events", "truncate the events"):
        message = _refused_as(roles.url(roles.app), FORBIDDEN[name])
        assert "permission denied" in message or "must be owner" in message, (name, message)
    ctx = open_context(root, clock=fixed_clock)
    try:
        number = open_case(ctx, child(22), occurred_on=date(2026, 11, 2)).number
        assert show_case(ctx, number)["state"] == "identified"
    finally:
        ctx.engine.dispose()


def test_grants_are_refused_for_a_missing_role_or_a_sqlite_workspace(
    roles: Deployment, tmp_path: Path
) -> None:
    root = tmp_path / "county"
    init_workspace(root, roles.url(roles.owner), clock=fixed_clock)
    missing = CliInvoker(root)("db", "grants", "--app-role", "cf_no_such_role")
    assert missing.exit_code == 2
    assert "CREATE ROLE cf_no_such_role LOGIN" in missing.stderr
    same = CliInvoker(root)("db", "grants", "--app-role", roles.owner)
    assert same.exit_code == 2
    lite = tmp_path / "lite"
    init_workspace(lite, clock=fixed_clock)
    sqlite = CliInvoker(lite)("db", "grants", "--app-role", roles.app)
    assert sqlite.exit_code == 2
    assert "is for a PostgreSQL database" in sqlite.stderr
