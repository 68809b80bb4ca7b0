"""Importing a register file (户籍, 学籍, 扶贫, 残疾人, 实际在校生) as its source's snapshot,
and reading the snapshots back.

A snapshot is a Parquet file in the workspace, ``rosters/<source>-<import id>.parquet``,
holding the import's good rows (:data:`caseflow.roster.SNAPSHOT_COLUMNS` that the file
fills). The file is checked in DuckDB (:class:`caseflow.roster.Checker`), its good rows are
written to a scratch name and fsynced, and then one database transaction inserts the
``roster_import`` row, renames the file into place, writes the ``roster.import`` audit
event and makes the import its source's ``current`` one. A crash or Ctrl-C before that
commit leaves the previous snapshot as it was (a file renamed into place for an import
that was never committed is never read: only committed imports are). The
``roster_import`` rows are the history: who, when, which file (name and SHA-256), how many
rows were imported and rejected, and where the rejects file is. Replaced snapshots'
files are deleted once the new one is committed.

For the comparison: :func:`current_imports` says which sources have a snapshot,
:func:`current_snapshots` gives their files.
Snapshots written before Parquet (rows in the ``roster_row`` table) are copied to a file
the first time they are read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update

from caseflow import access, db
from caseflow.errors import InvalidInput, WorkspaceError
from caseflow.models import RosterImport, RosterRow
from caseflow.records import record, require
from caseflow.roster import (
    SOURCE_LABELS,
    SOURCES,
    Checked,
    Checker,
    Problem,
    parse_mapping,
    write_rejects,
    write_rows,
)
from caseflow.service import Context

REJECTS_DIR = "rejects"
SNAPSHOTS_DIR = "rosters"
MEMORY_LIMIT = "1GB"  # what DuckDB may hold before it spills to the workspace

_IMPORT = RosterImport.__table__  # type: ignore[attr-defined]
_ROW = RosterRow.__table__  # type: ignore[attr-defined]

Progress = Callable[[int, int], None]  # (rows checked so far, rows to check)


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
    snapshot: Path

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


def snapshot_folder(ctx: Context) -> Path:
    return ctx.workspace.root / SNAPSHOTS_DIR


def snapshot_path(ctx: Context, source: str, import_id: int) -> Path:
    """Where the snapshot of an import is (or goes)."""
    return snapshot_folder(ctx) / f"{source}-{import_id}.parquet"


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


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk, so a committed import's snapshot
    survives a power cut as its database row does."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
    in the workspace (``rejects/<source>-<time>.csv``). All or nothing: the previous
    snapshot stays until the new one is committed."""
    require(ctx, access.ROSTER_USERS, "roster import")
    _check_source(source)
    today = ctx.today
    day = as_of or today
    if day > today:
        raise InvalidInput(
            f"--as-of {day.isoformat()} is in the future; give the day the register was extracted"
        )
    columns = parse_mapping(source, mapping)
    folder = snapshot_folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".import-", dir=folder))
    try:
        with interruptible(), Checker(scratch, memory_limit=MEMORY_LIMIT) as checker:
            checked = checker.check(
                source,
                path,
                file_name=path.name,
                today=today,
                mapping=columns,
                encoding=encoding,
                progress=progress,
            )
            if progress is not None:
                progress(checked.rows_total, checked.rows_total)
            upload = _Upload(path.name, checked.sha256, day, ctx.now())
            import_id, replaced, rejects = _store(ctx, checker, checked, scratch, upload)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ImportSummary(
        import_id=import_id,
        source=source,
        file_name=path.name,
        file_sha256=checked.sha256,
        as_of=day,
        rows_total=checked.rows_total,
        imported=checked.rows_good,
        rejected=checked.rows_rejected,
        rejects_file=rejects,
        problems=checked.problems,
        replaced=replaced,
        format=checked.format,
        encoding=checked.encoding,
        snapshot=snapshot_path(ctx, source, import_id),
    )


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C inside a DuckDB query is a KeyboardInterrupt, as anywhere else."""
    import duckdb

    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None


@dataclass(frozen=True)
class _Upload:
    file_name: str
    digest: str
    as_of: date
    now: datetime


def _store(
    ctx: Context, checker: Checker, checked: Checked, scratch: Path, upload: _Upload
) -> tuple[int, int | None, Path | None]:
    """Write the rejects file and the snapshot, then publish the snapshot."""
    source = checked.source
    if checked.rows_total == 0:
        raise InvalidInput(
            f"{upload.file_name} has the headings of a {source} register but no rows; "
            "nothing was imported"
        )
    rejects: Path | None = None
    keep_rejects = False
    try:
        if checked.problems:
            rejects = _write_rejects(ctx, source, upload.now, checked.problems)
        if checked.rows_good == 0:
            keep_rejects = True
            raise InvalidInput(
                f"none of the {checked.rows_total} rows of {upload.file_name} is valid, so "
                f"nothing was imported and the previous {source} import stays current; "
                f"the reasons are in {rejects}"
            )
        written = scratch / f"{source}-{uuid.uuid4().hex}.parquet"
        checker.write_snapshot(written)
        _fsync(written)
        import_id, replaced = _publish(ctx, checked, written, upload, rejects)
    except BaseException:
        if rejects is not None and not keep_rejects:
            rejects.unlink(missing_ok=True)
        raise
    _remove_replaced(ctx, source)
    return import_id, replaced, rejects


def _publish(
    ctx: Context, checked: Checked, written: Path, upload: _Upload, rejects: Path | None
) -> tuple[int, int | None]:
    """One transaction: the import row, the snapshot file renamed into place (before the
    commit, so a committed import always has its file), the audit event, ``current``."""
    source = checked.source
    counts = {
        "rows_total": checked.rows_total,
        "rows_imported": checked.rows_good,
        "rows_rejected": checked.rows_rejected,
    }
    placed: Path | None = None
    import_id: int | None = None
    try:
        with db.write(ctx.engine) as connection:
            _lock_source(connection, source)
            import_id = connection.execute(
                insert(_IMPORT).values(
                    source=source,
                    file_name=upload.file_name,
                    file_sha256=upload.digest,
                    as_of=upload.as_of,
                    imported_at=upload.now,
                    operator=ctx.actor.operator,
                    os_user=ctx.actor.os_user,
                    **counts,
                    rejects_file=None if rejects is None else str(rejects),
                    current=False,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            assert import_id is not None
            placed = snapshot_path(ctx, source, import_id)
            os.replace(written, placed)
            _fsync(placed.parent)
            replaced: int | None = connection.execute(
                select(_IMPORT.c.id)
                .where(_IMPORT.c.source == source, _IMPORT.c.current, _IMPORT.c.id != import_id)
                .order_by(_IMPORT.c.id.desc())
            ).scalar()
            record(
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
            # Rows of a snapshot stored before Parquet snapshots, now superseded.
            connection.execute(delete(_ROW).where(_ROW.c.source == source))
            connection.execute(
                update(_IMPORT)
                .where(_IMPORT.c.source == source, _IMPORT.c.current)
                .values(current=False)
            )
            connection.execute(
                update(_IMPORT).where(_IMPORT.c.id == import_id).values(current=True)
            )
    except BaseException:
        if placed is not None and not _committed(ctx, import_id):
            placed.unlink(missing_ok=True)
        raise
    return import_id, replaced


def _committed(ctx: Context, import_id: int | None) -> bool:
    """Did the import's transaction commit after all (an error raised by the commit itself
    is ambiguous)? Assume it did when the database cannot tell."""
    if import_id is None:
        return False
    try:
        with db.read(ctx.engine) as connection:
            found = connection.execute(
                select(_IMPORT.c.id).where(_IMPORT.c.id == import_id)
            ).scalar()
    except Exception:
        return True
    return found is not None


def _remove_replaced(ctx: Context, source: str) -> None:
    """Delete the snapshot files of the source's committed imports that are not current
    (a comparison that already opened one keeps reading it: the file goes when closed)."""
    try:
        with db.read(ctx.engine) as connection:
            stale = connection.execute(
                select(_IMPORT.c.id).where(_IMPORT.c.source == source, ~_IMPORT.c.current)
            ).scalars()
            for import_id in stale:
                snapshot_path(ctx, source, import_id).unlink(missing_ok=True)
    except Exception:  # tidying up; the import itself is committed
        return


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
    require(ctx, access.ROSTER_USERS | access.AUDIT_READERS, "roster history")
    if source is not None:
        _check_source(source)
    query = select(_IMPORT).order_by(_IMPORT.c.id.desc())
    if source is not None:
        query = query.where(_IMPORT.c.source == source)
    with db.read(ctx.engine) as connection:
        return [_record_of(row) for row in connection.execute(query)]


def write_snapshot(
    ctx: Context, source: str, import_id: int, rows: Iterable[dict[str, Any]]
) -> Path:
    """Write rows (dicts of snapshot columns) as the snapshot file of import ``import_id``:
    to a scratch name, fsynced, then renamed into place."""
    folder = snapshot_folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    target = snapshot_path(ctx, source, import_id)
    scratch = folder / f".{target.name}.{uuid.uuid4().hex}"
    try:
        write_rows(rows, scratch)
        _fsync(scratch)
        os.replace(scratch, target)
        _fsync(folder)
    finally:
        scratch.unlink(missing_ok=True)
    return target


def _snapshot_file(ctx: Context, record: ImportRecord) -> Path:
    """The snapshot file of a current import. One stored in the ``roster_row`` table (before
    snapshots were files) is copied to its file the first time."""
    path = snapshot_path(ctx, record.source, record.id)
    if path.exists():
        return path
    with db.read(ctx.engine) as connection:
        rows = [
            dict(row._mapping)
            for row in connection.execute(
                select(_ROW).where(_ROW.c.import_id == record.id).order_by(_ROW.c.line)
            )
        ]
    if not rows and record.rows_imported:
        raise WorkspaceError(
            f"the {record.source} snapshot {SNAPSHOTS_DIR}/{path.name} (import {record.id}) "
            f"is missing from the workspace; import the {record.source} register again"
        )
    return write_snapshot(ctx, record.source, record.id, rows)


def current_snapshots(ctx: Context) -> dict[str, Path]:
    """Each source that has a snapshot -> its file."""
    return {source: _snapshot_file(ctx, record) for source, record in current_imports(ctx).items()}
