"""Database engines, transactions and migrations.

SQLite (the default) runs in WAL mode with foreign keys on, a busy timeout, and
``synchronous=FULL`` unless configured otherwise; write transactions start with
``BEGIN IMMEDIATE`` so a writer waits for the lock instead of failing half-way.
PostgreSQL is reached by URL (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.dml import UpdateBase

from caseflow.errors import ConcurrentUpdate, DatabaseBusy, WorkspaceError

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
BUSY_TIMEOUT_MS = 10_000
_WRITE = "caseflow_write"


def make_engine(url: str, *, synchronous: str = "FULL") -> Engine:
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
        f"unsupported database URL {url!r}; use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
    )


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    mode = synchronous.upper()
    if mode not in SYNCHRONOUS_MODES:
        raise WorkspaceError(
            f"database.synchronous is {synchronous!r}; use one of {', '.join(SYNCHRONOUS_MODES)}"
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
            "the database is busy (another command holds its lock); "
            "nothing was changed — run the command again"
        )
    if "lock timeout" in text or "could not obtain lock" in text:
        return DatabaseBusy(
            "the database is busy (a lock was held too long); nothing was "
            "changed — run the command again"
        )
    if "could not serialize" in text or "deadlock detected" in text:
        return ConcurrentUpdate(
            "another command changed the same records at the same time; "
            "nothing was changed — run the command again"
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
