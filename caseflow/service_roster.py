"""Importing a register file (户籍, 学籍, 扶贫, 残疾人, 实际在校生) as its source's snapshot,
and reading the snapshots back.

One file is one transaction: the ``roster_import`` row, every good ``roster_row`` (Core
inserts in chunks of :data:`CHUNK_SIZE`), the ``roster.import`` audit event, and the
switch of ``current`` from the source's previous import to this one, with the previous
import's rows deleted. A crash or Ctrl-C before the commit leaves the previous snapshot
as it was. The ``roster_import`` rows are the history: who, when, which file (name and
SHA-256), how many rows were imported and rejected, and where the rejects file is.

For the comparison: :func:`current_imports` says which sources have a snapshot, and
:func:`current_rows_query` / :func:`current_rows` read a source's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, delete, insert, select, text, update

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.models import RosterImport, RosterRow
from caseflow.roster import (
    SOURCE_LABELS,
    SOURCES,
    Problem,
    RowChecker,
    parse_mapping,
    read_table,
    write_rejects,
)
from caseflow.service import Context, _record

CHUNK_SIZE = 5_000
REJECTS_DIR = "rejects"

_IMPORT = RosterImport.__table__  # type: ignore[attr-defined]
_ROW = RosterRow.__table__  # type: ignore[attr-defined]

Progress = Callable[[int, int], None]  # (rows written so far, rows to write)


@dataclass(frozen=True)
class ImportSummary:
    import_id: int
    source: str
    file_name: str
    file_sha256: str
    as_of: date
    rows_total: int
    imported: int
    rejected: int
    rejects_file: Path | None
    problems: Sequence[Problem]  # every problem, in file order (values masked)
    replaced: int | None  # the import that was the source's snapshot until now
    format: str
    encoding: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "rejected": self.rejected,
            "rejects_file": None if self.rejects_file is None else str(self.rejects_file),
            "import": self.import_id,
            "source": self.source,
            "file_name": self.file_name,
            "file_sha256": self.file_sha256,
            "as_of": self.as_of.isoformat(),
            "rows_total": self.rows_total,
            "replaced": self.replaced,
        }


def _check_source(source: str) -> None:
    if source not in SOURCES:
        names = ", ".join(f"{s} ({SOURCE_LABELS[s]})" for s in SOURCES)
        raise InvalidInput(f"unknown register {source!r}; use one of: {names}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path} not found; give the path of a CSV or XLSX file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder; give the path of a CSV or XLSX file") from None
    except PermissionError:
        raise InvalidInput(f"{path} cannot be read (permission denied)") from None


def _rejects_path(ctx: Context, source: str, now: datetime) -> Path:
    folder = ctx.workspace.root / REJECTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(ctx.workspace.timezone).strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{source}-{stamp}.csv"
    n = 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{source}-{stamp}-{n}.csv"
    return candidate


def _write_rejects(ctx: Context, source: str, now: datetime, problems: Sequence[Problem]) -> Path:
    while True:
        path = _rejects_path(ctx, source, now)
        try:
            write_rejects(path, problems)
        except FileExistsError:  # another import took the name a moment ago
            continue
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


def _insert_chunk(connection: Connection, rows: list[dict[str, Any]]) -> None:
    connection.execute(insert(_ROW), rows)


def _lock_source(connection: Connection, source: str) -> None:
    """Serialise imports of one source (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"caseflow.roster.{source}"},
        )


def import_roster(
    ctx: Context,
    source: str,
    path: Path,
    *,
    as_of: date | None = None,
    encoding: str | None = None,
    mapping: Iterable[str] = (),
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one register file as the source's new snapshot; bad rows go to a rejects file
    in the workspace (``rejects/<source>-<time>.csv``). All or nothing in the database.

    Rows are checked as they are read and inserted in chunks within the one transaction,
    so memory holds one chunk, not the file's rows."""
    _check_source(source)
    today = ctx.today
    day = as_of or today
    if day > today:
        raise InvalidInput(
            f"--as-of {day.isoformat()} is in the future; give the day the register was extracted"
        )
    columns = parse_mapping(source, mapping)
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    table = read_table(data, path.name, encoding=encoding)
    try:
        checker = RowChecker(source, table, file_name=path.name, today=today, mapping=columns)
        import_id, replaced, rejects = _store(
            ctx,
            checker,
            file_name=path.name,
            digest=digest,
            as_of=day,
            progress=progress,
        )
    finally:
        table.rows.close()
    return ImportSummary(
        import_id=import_id,
        source=source,
        file_name=path.name,
        file_sha256=digest,
        as_of=day,
        rows_total=checker.rows_total,
        imported=checker.rows_good,
        rejected=checker.rows_rejected,
        rejects_file=rejects,
        problems=checker.problems,
        replaced=replaced,
        format=table.format,
        encoding=table.encoding,
    )


def _store(
    ctx: Context,
    checker: RowChecker,
    *,
    file_name: str,
    digest: str,
    as_of: date,
    progress: Progress | None,
) -> tuple[int, int | None, Path | None]:
    source = checker.source
    now = ctx.now()
    estimate = max((checker.table.estimated_rows or 0) - checker.columns.line, 0)
    rejects: Path | None = None
    keep_rejects = False
    try:
        with db.write(ctx.engine) as connection:
            import_id: int = connection.execute(
                insert(_IMPORT).values(
                    source=source,
                    file_name=file_name,
                    file_sha256=digest,
                    as_of=as_of,
                    imported_at=now,
                    operator=ctx.actor.operator,
                    os_user=ctx.actor.os_user,
                    rows_total=0,
                    rows_imported=0,
                    rows_rejected=0,
                    current=False,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            chunk: list[dict[str, Any]] = []
            for record in checker:
                record["import_id"] = import_id
                chunk.append(record)
                if len(chunk) >= CHUNK_SIZE:
                    _insert_chunk(connection, chunk)
                    chunk = []
                    if progress is not None:
                        progress(checker.rows_total, max(estimate, checker.rows_total))
            if chunk:
                _insert_chunk(connection, chunk)
            if progress is not None:
                progress(checker.rows_total, checker.rows_total)
            if checker.rows_total == 0:
                raise InvalidInput(
                    f"{file_name} has the headings of a {source} register but no rows; "
                    "nothing was imported"
                )
            if checker.problems:
                rejects = _write_rejects(ctx, source, now, checker.problems)
            if checker.rows_good == 0:
                keep_rejects = True
                raise InvalidInput(
                    f"none of the {checker.rows_total} rows of {file_name} is valid, so "
                    f"nothing was imported and the previous {source} import stays current; "
                    f"the reasons are in {rejects}"
                )
            upload = _Upload(file_name, digest, as_of, now)
            replaced = _make_current(
                ctx, connection, checker, import_id=import_id, upload=upload, rejects=rejects
            )
    except BaseException:
        if rejects is not None and not keep_rejects:
            rejects.unlink(missing_ok=True)
        raise
    return import_id, replaced, rejects


@dataclass(frozen=True)
class _Upload:
    file_name: str
    digest: str
    as_of: date
    now: datetime


def _make_current(
    ctx: Context,
    connection: Connection,
    checker: RowChecker,
    *,
    import_id: int,
    upload: _Upload,
    rejects: Path | None,
) -> int | None:
    """Record the counts and the audit event; make this import the source's snapshot."""
    source = checker.source
    counts = {
        "rows_total": checker.rows_total,
        "rows_imported": checker.rows_good,
        "rows_rejected": checker.rows_rejected,
    }
    connection.execute(
        update(_IMPORT)
        .where(_IMPORT.c.id == import_id)
        .values(**counts, rejects_file=None if rejects is None else str(rejects))
    )
    _lock_source(connection, source)
    replaced: int | None = connection.execute(
        select(_IMPORT.c.id)
        .where(_IMPORT.c.source == source, _IMPORT.c.current, _IMPORT.c.id != import_id)
        .order_by(_IMPORT.c.id.desc())
    ).scalar()
    _record(
        ctx,
        connection,
        upload.now,
        action="roster.import",
        payload={
            "import": import_id,
            "source": source,
            "file_name": upload.file_name,
            "file_sha256": upload.digest,
            "as_of": upload.as_of.isoformat(),
            **counts,
            "rejects_file": None if rejects is None else rejects.name,
            "replaced": replaced,
        },
    )
    connection.execute(delete(_ROW).where(_ROW.c.source == source, _ROW.c.import_id != import_id))
    connection.execute(
        update(_IMPORT)
        .where(_IMPORT.c.source == source, _IMPORT.c.current, _IMPORT.c.id != import_id)
        .values(current=False)
    )
    connection.execute(update(_IMPORT).where(_IMPORT.c.id == import_id).values(current=True))
    return replaced


# ---------------------------------------------------------------------------------------
# Reading the snapshots and the history


@dataclass(frozen=True)
class ImportRecord:
    id: int
    source: str
    file_name: str
    file_sha256: str
    as_of: date
    imported_at: datetime
    operator: str
    os_user: str
    rows_total: int
    rows_imported: int
    rows_rejected: int
    rejects_file: str | None
    current: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "import": self.id,
            "source": self.source,
            "file_name": self.file_name,
            "file_sha256": self.file_sha256,
            "as_of": self.as_of.isoformat(),
            "imported_at": self.imported_at.isoformat(),
            "operator": self.operator,
            "os_user": self.os_user,
            "rows_total": self.rows_total,
            "rows_imported": self.rows_imported,
            "rows_rejected": self.rows_rejected,
            "rejects_file": self.rejects_file,
            "current": self.current,
        }


def _record_of(row: Any) -> ImportRecord:
    values = {name: getattr(row, name) for name in ImportRecord.__dataclass_fields__}
    if values["imported_at"].tzinfo is None:  # SQLite keeps no offset; we store UTC
        values["imported_at"] = values["imported_at"].replace(tzinfo=UTC)
    return ImportRecord(**values)


def current_imports(ctx: Context) -> dict[str, ImportRecord]:
    """Each source that has a snapshot -> the import that made it."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(select(_IMPORT).where(_IMPORT.c.current)).all()
    return {row.source: _record_of(row) for row in rows}


def import_history(ctx: Context, source: str | None = None) -> list[ImportRecord]:
    """Every import, newest first (of one source, if given)."""
    if source is not None:
        _check_source(source)
    query = select(_IMPORT).order_by(_IMPORT.c.id.desc())
    if source is not None:
        query = query.where(_IMPORT.c.source == source)
    with db.read(ctx.engine) as connection:
        return [_record_of(row) for row in connection.execute(query)]


def current_rows_query(source: str, *columns: Any) -> Select[Any]:
    """SELECT the rows of the source's snapshot (all columns, or those given), in file
    order; compose it with joins or filters, run it in your own transaction."""
    _check_source(source)
    current = select(_IMPORT.c.id).where(_IMPORT.c.source == source, _IMPORT.c.current)
    return (
        select(*(columns or (_ROW,)))
        .where(_ROW.c.source == source, _ROW.c.import_id.in_(current))
        .order_by(_ROW.c.line)
    )


def current_rows(ctx: Context, source: str) -> list[Any]:
    """The rows of the source's snapshot, in file order (empty when never imported)."""
    with db.read(ctx.engine) as connection:
        return list(connection.execute(current_rows_query(source)).all())
