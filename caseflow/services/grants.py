"""A two-role PostgreSQL deployment (``caseflow db grants``): an owner role that runs the
migrations and owns the tables, the audit triggers and their function, and an application
role that reads and writes the case tables but may only read and append audit events.

The application role gets, in the workspace's schema:

- ``USAGE`` on the schema, and nothing that creates objects in it;
- ``SELECT, INSERT, UPDATE, DELETE`` on every table but the audit tables and the schema
  revision (``alembic_version``, ``SELECT`` only);
- ``SELECT, INSERT`` on ``audit_event``: no ``UPDATE``, ``DELETE`` or ``TRUNCATE``;
- ``SELECT, UPDATE`` on ``audit_head`` (appending moves the head; a moved head that does
  not match the events is what `caseflow audit verify` reports);
- ``USAGE, SELECT`` on the schema's sequences.

It owns nothing, so it cannot ``ALTER TABLE … DISABLE TRIGGER``, drop or alter a table or
the trigger function. Everything it held before is revoked first, so the statements can
be applied again after each ``caseflow db upgrade`` (new tables get their grants then).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from caseflow import db
from caseflow.errors import InvalidInput, Refused
from caseflow.i18n import _

AUDIT_EVENT = "audit_event"
AUDIT_HEAD = "audit_head"
SCHEMA_REVISION = "alembic_version"
TRIGGER_FUNCTION = "caseflow_audit_append_only()"
APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


@dataclass(frozen=True)
class Grants:
    schema: str
    owner_role: str
    app_role: str
    statements: tuple[str, ...]

    @property
    def sql(self) -> str:
        return "".join(f"{statement};\n" for statement in self.statements)


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _role(connection: Connection, name: str, option: str) -> bool:
    """Whether the role is a superuser; refused when there is no such role."""
    found = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :name"), {"name": name}
    ).first()
    if found is None:
        raise InvalidInput(
            _(
                "{option} {role}: there is no such role in this database server; create it "
                "first (as a superuser): CREATE ROLE {role} LOGIN PASSWORD '…'"
            ).format(option=option, role=name)
        )
    return bool(found.rolsuper)


def plan(connection: Connection, app_role: str, owner_role: str | None = None) -> Grants:
    """The statements that make ``owner_role`` (default: the role connected) the owner of
    the workspace's tables and leave ``app_role`` only what the application needs."""
    if connection.dialect.name != "postgresql":
        raise InvalidInput(
            _(
                "`caseflow db grants` is for a PostgreSQL database; a SQLite workspace has no "
                "database roles: keep its folder readable by the caseflow account only"
            )
        )
    current = str(connection.execute(text("SELECT current_user")).scalar_one())
    owner = owner_role or current
    if _role(connection, app_role, "--app-role"):
        raise Refused(
            _(
                "--app-role {role} is a superuser, which no privilege can restrain; use a role "
                "created with NOSUPERUSER"
            ).format(role=app_role)
        )
    _role(connection, owner, "--owner-role")
    if app_role == owner:
        raise InvalidInput(
            _(
                "the application role and the owner role are both {role}; they must be two "
                "roles (connect as the owner, or give --owner-role)"
            ).format(role=app_role)
        )
    member = connection.execute(
        text("SELECT pg_has_role(:app, :owner, 'USAGE')"), {"app": app_role, "owner": owner}
    ).scalar_one()
    if member:
        raise Refused(
            _(
                "--app-role {app} is a member of the owner role {owner}, so it has the owner's "
                "rights; revoke that membership first: REVOKE {owner} FROM {app}"
            ).format(app=app_role, owner=owner)
        )
    schema = str(connection.execute(text("SELECT current_schema()")).scalar_one())
    tables = connection.execute(
        text(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = :schema "
            "ORDER BY tablename"
        ),
        {"schema": schema},
    ).all()
    names = [t.tablename for t in tables]
    if AUDIT_EVENT not in names or AUDIT_HEAD not in names:
        raise InvalidInput(
            _(
                "schema {schema} holds no caseflow tables; create them first as the owner role "
                "(`caseflow init` or `caseflow db upgrade`)"
            ).format(schema=schema)
        )
    schema_owner = connection.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :schema"),
        {"schema": schema},
    ).scalar_one()
    held = sorted(t.tablename for t in tables if t.tableowner == app_role)
    if (held or schema_owner == app_role) and owner_role is None:
        raise Refused(
            _(
                "the application role {role} owns {what}; give --owner-role NAME to hand the "
                "ownership to the owner role"
            ).format(
                role=app_role, what=", ".join(held) or _("schema {schema}").format(schema=schema)
            )
        )

    def q(name: str) -> str:
        return _quote(connection, name)

    s = q(schema)
    statements: list[str] = []
    if schema_owner == app_role:
        statements.append(f"ALTER SCHEMA {s} OWNER TO {q(owner)}")
    statements += [
        f"ALTER TABLE {s}.{q(t.tablename)} OWNER TO {q(owner)}"
        for t in tables
        if t.tableowner != owner
    ]
    function_owner = connection.execute(
        text(
            "SELECT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = :schema AND p.proname = :name"
        ),
        {"schema": schema, "name": TRIGGER_FUNCTION.removesuffix("()")},
    ).scalar()
    if function_owner is not None and function_owner != owner:
        statements.append(f"ALTER FUNCTION {s}.{TRIGGER_FUNCTION} OWNER TO {q(owner)}")
    app = q(app_role)
    ordinary = [n for n in names if n not in (AUDIT_EVENT, AUDIT_HEAD, SCHEMA_REVISION)]
    statements += [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {app}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {app}",
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC, {app}",
        f"GRANT USAGE ON SCHEMA {s} TO {app}",
        f"GRANT {APP_TABLE_PRIVILEGES} ON {', '.join(f'{s}.{q(n)}' for n in ordinary)} TO {app}",
        f"GRANT SELECT, INSERT ON {s}.{q(AUDIT_EVENT)} TO {app}",
        f"GRANT SELECT, UPDATE ON {s}.{q(AUDIT_HEAD)} TO {app}",
    ]
    if SCHEMA_REVISION in names:
        statements.append(f"GRANT SELECT ON {s}.{q(SCHEMA_REVISION)} TO {app}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {app}")
    return Grants(schema, owner, app_role, tuple(statements))


def database_grants(
    url: str, app_role: str, owner_role: str | None = None, *, apply: bool = False
) -> Grants:
    """The grants for the database at ``url`` (connected as the owner, or a superuser);
    with ``apply``, applied in one transaction (all or nothing)."""
    engine = db.make_engine(url)
    try:
        if not apply:
            with db.read(engine) as connection:
                return plan(connection, app_role, owner_role)
        with db.write(engine) as connection:
            grants = plan(connection, app_role, owner_role)
            for statement in grants.statements:
                connection.execute(text(statement))
            return grants
    finally:
        engine.dispose()
