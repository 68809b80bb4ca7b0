"""The imported registers' snapshots: one Parquet file per current import, in the
workspace's ``rosters/`` folder, read by the comparison and the statistics. The 学籍
register also keeps the newest import of each earlier school year (``YEARLY_SOURCES``):
the 九年义务教育巩固率 divides this year's graduating class by the children who entered
grade 1 eight school years before. The current snapshot is always of the latest school
year."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from caseflow import db
from caseflow.errors import WorkspaceError
from caseflow.i18n import _
from caseflow.models import RosterImport, RosterRow
from caseflow.roster import reference_date, register_name, write_rows
from caseflow.services.context import Context

IMPORT = RosterImport.__table__  # type: ignore[attr-defined]
ROW = RosterRow.__table__  # type: ignore[attr-defined]

SNAPSHOTS_DIR = "rosters"


# The registers whose earlier school years are kept (one snapshot per school year).
YEARLY_SOURCES = frozenset({"student"})

MEMORY_LIMIT = "1GB"  # what DuckDB may hold before it spills to the workspace


def snapshot_folder(ctx: Context) -> Path:
    return ctx.workspace.root / SNAPSHOTS_DIR


def snapshot_path(ctx: Context, source: str, import_id: int) -> Path:
    """Where the snapshot of an import is (or goes)."""
    return snapshot_folder(ctx) / f"{source}-{import_id}.parquet"


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk, so a committed import's snapshot
    survives a power cut as its database row does."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C inside a DuckDB query is a KeyboardInterrupt, as anywhere else."""
    import duckdb

    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None


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


def record_of(row: Any) -> ImportRecord:
    values = {name: getattr(row, name) for name in ImportRecord.__dataclass_fields__}
    if values["imported_at"].tzinfo is None:  # SQLite keeps no offset; we store UTC
        values["imported_at"] = values["imported_at"].replace(tzinfo=UTC)
    return ImportRecord(**values)


def current_imports(ctx: Context) -> dict[str, ImportRecord]:
    """Each source that has a snapshot -> the import that made it."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(select(IMPORT).where(IMPORT.c.current)).all()
    return {row.source: record_of(row) for row in rows}


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
        fsync(scratch)
        os.replace(scratch, target)
        fsync(folder)
    finally:
        scratch.unlink(missing_ok=True)
    return target


def snapshot_file(ctx: Context, record: ImportRecord) -> Path:
    """The snapshot file of a current import. One stored in the ``roster_row`` table (before
    snapshots were files) is copied to its file the first time."""
    path = snapshot_path(ctx, record.source, record.id)
    if path.exists():
        return path
    with db.read(ctx.engine) as connection:
        rows = [
            dict(row._mapping)
            for row in connection.execute(
                select(ROW).where(ROW.c.import_id == record.id).order_by(ROW.c.line)
            )
        ]
    if not rows and record.rows_imported:
        raise WorkspaceError(
            _(
                "the {register} snapshot {file} (import {import_id}) is missing from the "
                "workspace; import the {register} register again"
            ).format(
                register=register_name(record.source),
                file=f"{SNAPSHOTS_DIR}/{path.name}",
                import_id=record.id,
            )
        )
    return write_snapshot(ctx, record.source, record.id, rows)


def current_snapshots(ctx: Context) -> dict[str, Path]:
    """Each source that has a snapshot -> its file."""
    return {source: snapshot_file(ctx, record) for source, record in current_imports(ctx).items()}


def school_year(day: date) -> int:
    """The school year ``day`` falls in, by the calendar year it began (1 September)."""
    return reference_date(day).year


def yearly_imports(rows: Iterable[Any]) -> dict[int, int]:
    """School year -> the newest import of it, of import rows with ``id`` and ``as_of``."""
    newest: dict[int, int] = {}
    for row in sorted(rows, key=lambda r: r.id):
        newest[school_year(row.as_of)] = row.id
    return newest


def yearly_snapshots(ctx: Context, source: str) -> dict[int, Path]:
    """School year -> the snapshot file of its newest import (``YEARLY_SOURCES``; other
    sources: only the current snapshot's year)."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(select(IMPORT).where(IMPORT.c.source == source)).all()
    if source not in YEARLY_SOURCES:
        rows = [row for row in rows if row.current]
    records = {row.id: record_of(row) for row in rows}
    return {
        year: snapshot_file(ctx, records[import_id])
        for year, import_id in yearly_imports(rows).items()
    }
