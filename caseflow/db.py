"""Database engines, transactions and migrations.

SQLite (the default) runs in WAL mode with foreign keys on, a busy timeout, and
``synchronous=FULL`` unless configured otherwise; write transactions start with
``BEGIN IMMEDIATE`` so a writer waits for the lock instead of failing half-way.
PostgreSQL is reached by URL (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.dml import UpdateBase

from caseflow.errors import ConcurrentUpdate, DatabaseBusy, EnvironmentFailure, WorkspaceError
from caseflow.i18n import _

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
BUSY_TIMEOUT_MS = 10_000
_WRITE = "caseflow_write"


# The database this process opened last: named (without credentials) in the one line a
# command prints when the database fails under it (``environment_failure``).
_opened: list[str] = []


def make_engine(url: str, *, synchronous: str = "FULL") -> Engine:
    _opened[:] = [url]
    if url.startswith("sqlite"):
        return _sqlite_engine(url, synchronous)
    if url.startswith("postgresql"):
        engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "connect")
        def _pg_timeouts(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
            dbapi_connection.commit()

        return engine
    raise WorkspaceError(
        _(
            "unsupported database URL {url}; use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB"
        ).format(url=safe_url(url))
    )


def safe_url(url: str) -> str:
    """A database URL fit to print: without the user, password and query (a password may
    sit in either), e.g. ``postgresql+psycopg://127.0.0.1:5432/caseflow``."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url.split("?", 1)[0]
    if scheme.startswith("sqlite"):
        return f"{scheme}://{rest.split('?', 1)[0]}"
    location, slash, path = rest.partition("/")
    host = location.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path.split('?', 1)[0]}"


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    mode = synchronous.upper()
    if mode not in SYNCHRONOUS_MODES:
        raise WorkspaceError(
            _("database.synchronous is {value!r}; use one of {modes}").format(
                value=synchronous, modes=", ".join(SYNCHRONOUS_MODES)
            )
        )
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={mode}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def _translate(exc: DBAPIError) -> Exception:
    text = str(exc.orig).lower()
    if isinstance(exc, OperationalError) and ("locked" in text or "busy" in text):
        return DatabaseBusy(
            _(
                "the database is busy (another command holds its lock); "
                "nothing was changed — run the command again"
            )
        )
    if "lock timeout" in text or "could not obtain lock" in text:
        return DatabaseBusy(
            _(
                "the database is busy (a lock was held too long); nothing was "
                "changed — run the command again"
            )
        )
    if "could not serialize" in text or "deadlock detected" in text:
        return ConcurrentUpdate(
            _(
                "another command changed the same records at the same time; "
                "nothing was changed — run the command again"
            )
        )
    return exc


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        translated = _translate(exc)
        if translated is exc:
            raise
        raise translated from exc


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any error."""
    with _translated(), engine.execution_options(**{_WRITE: True}).begin() as connection:
        yield connection


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with _translated(), engine.connect() as connection, connection.begin():
        yield connection


_Prepared = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]
_PREPARED: dict[tuple[UpdateBase, str, tuple[str, ...]], _Prepared] = {}


def execute_many(
    connection: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Run an INSERT or UPDATE once per row (every row with the same keys) in one
    executemany on the driver; the rows affected. The statement is compiled once for
    these keys and each value goes through its column type's own bind processor, so the
    database stores what ``Connection.execute`` would store, without the bookkeeping it
    does per row (which costs more than the database when a batch writes thousands).
    ``statement`` is built once (a module constant): its compiled form is kept."""
    if not rows:
        return 0
    sql, names, processors = _prepared(connection, statement, tuple(rows[0]))
    columns = [
        [row[name] for row in rows] if process is None else _converted(rows, name, process)
        for name, process in zip(names, processors, strict=True)
    ]
    return connection.exec_driver_sql(sql, list(zip(*columns, strict=True))).rowcount


def _converted(
    rows: Sequence[Mapping[str, Any]], name: str, process: Callable[[Any], Any]
) -> list[Any]:
    """``process`` applied to the column ``name`` of every row, once per distinct value:
    a date or moment by value, anything else by identity (rows of one batch share their
    dates, timestamps and lists of recipients)."""
    done: dict[Any, Any] = {}
    converted = []
    for row in rows:
        value = row[name]
        key = value if type(value) in _BY_VALUE else id(value)
        if key not in done:
            done[key] = process(value)
        converted.append(done[key])
    return converted


_BY_VALUE = frozenset({date, datetime})
_PYFORMAT = re.compile(r"%\((\w+)\)s")


def _prepared(connection: Connection, statement: UpdateBase, keys: tuple[str, ...]) -> _Prepared:
    dialect = connection.dialect
    cache_key = (statement, dialect.name, keys)
    found = _PREPARED.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        sql = compiled.string
        if compiled.positiontup is None:  # %(name)s: made positional, so rows are tuples
            names = tuple(_PYFORMAT.findall(sql))
            sql = _PYFORMAT.sub("%s", sql)
        else:
            names = tuple(compiled.positiontup)
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        found = _PREPARED[cache_key] = (sql, names, processors)
    return found


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    with write(engine) as connection:
        upgrade_within(connection)


def upgrade_within(connection: Connection) -> None:
    """Run pending migrations inside the caller's transaction."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "caseflow:migrations")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with read(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ---------------------------------------------------------------------------------------
# Failures of the machine under a command: one line saying what happened and what to do


# The errors of the file system a person can put right: a full disk or quota, a
# permission, a read-only file system.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_NO_PERMISSION = frozenset({errno.EACCES, errno.EPERM})
# PostgreSQL's SQLSTATEs of the same kinds: 53 insufficient resources, 25006 a read-only
# transaction (a standby), 08 the connection, 57P0x the server shutting down or starting.
_PG_DISK_FULL = frozenset({"53100"})
_PG_READ_ONLY = frozenset({"25006"})
_PG_UNREACHABLE_PREFIXES = ("08", "57P", "53300")


def environment_failure(exc: BaseException) -> EnvironmentFailure | None:
    """The one line for an error of the machine under a command (a full disk, an
    unreachable or read-only database, a permission the account lacks), or None when
    ``exc`` (and what caused it) is not one. Database URLs are named without credentials."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _database_failure(current) or _file_failure(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _database_label() -> str:
    if not _opened:
        return _("the database")
    path = sqlite_path(_opened[0])
    return str(path) if path is not None else safe_url(_opened[0])


def _database_failure(exc: BaseException) -> EnvironmentFailure | None:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, sqlite3.Error):
        return _sqlite_failure(str(original).lower())
    if type(original).__module__.split(".")[0] != "psycopg":
        return None
    state = str(getattr(original, "sqlstate", None) or "")
    where = _database_label()
    if state in _PG_DISK_FULL:
        return EnvironmentFailure(
            _(
                "the database server's disk is full ({database}); nothing was changed — free "
                "space on the server, then run the command again"
            ).format(database=where)
        )
    if state in _PG_READ_ONLY:
        return EnvironmentFailure(
            _(
                "the database {database} accepts no changes (a read-only server or standby); "
                "nothing was changed — point [database] url in caseflow.toml at the primary "
                "server, then run the command again"
            ).format(database=where)
        )
    if not state or state.startswith(_PG_UNREACHABLE_PREFIXES):
        return EnvironmentFailure(
            _(
                "cannot reach the database server {database}; nothing was changed — check "
                "that PostgreSQL is running and that [database] url in caseflow.toml is "
                "right, then run the command again"
            ).format(database=where)
        )
    return None


def _sqlite_failure(text: str) -> EnvironmentFailure | None:
    where = _database_label()
    if "disk is full" in text or "disk i/o error" in text:
        return EnvironmentFailure(
            _(
                "the disk holding the database {database} is full (or failing); nothing was "
                "changed — free some space on it, then run the command again"
            ).format(database=where)
        )
    if "readonly database" in text or "read-only" in text:
        return EnvironmentFailure(
            _(
                "the database {database} is read-only for this account; nothing was changed — "
                "give this account write permission on the file and its folder (the "
                "workspace admin can), then run the command again"
            ).format(database=where)
        )
    if "unable to open database file" in text:
        return EnvironmentFailure(
            _(
                "cannot open the database file {database}; check that it exists and that this "
                "account may read and write it and its folder, then run the command again"
            ).format(database=where)
        )
    return None


def _file_failure(exc: BaseException) -> EnvironmentFailure | None:
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    where = exc.filename if exc.filename is not None else _("a file")
    if exc.errno in _DISK_FULL:
        if exc.filename is None:  # a write(2) names no file
            return EnvironmentFailure(
                _(
                    "the disk is full: a file could not be written; free some space on the "
                    "disk of the workspace (or of the file you asked for), then run the "
                    "command again"
                )
            )
        return EnvironmentFailure(
            _(
                "the disk is full: cannot write {path}; free some space on it, then run the "
                "command again"
            ).format(path=where)
        )
    if exc.errno in _NO_PERMISSION:
        return EnvironmentFailure(
            _(
                "permission denied: this account may not use {path}; ask the workspace admin "
                "to give it access (the workspace belongs to the account that runs "
                "caseflow), then run the command again"
            ).format(path=where)
        )
    if exc.errno == errno.EROFS:
        return EnvironmentFailure(
            _(
                "the file system holding {path} is read-only; remount it read-write or move "
                "the workspace, then run the command again"
            ).format(path=where)
        )
    return None
