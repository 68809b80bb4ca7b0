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

import fcntl
import os
import shutil
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update

from caseflow import access, db
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.roster import (
    Checked,
    Checker,
    ImportLimits,
    Problem,
    parse_mapping,
    register_name,
    resolve_source,
    write_rejects,
)
from caseflow.services.context import Context
from caseflow.services.groups import REGISTER_SOURCES, Synced, sync_register_groups
from caseflow.services.records import record, require
from caseflow.services.snapshots import (
    IMPORT,
    MEMORY_LIMIT,
    ROW,
    YEARLY_SOURCES,
    ImportRecord,
    fsync,
    interruptible,
    record_of,
    school_year,
    snapshot_folder,
    snapshot_path,
    yearly_imports,
)
from caseflow.workspace import CONFIG_NAME

REJECTS_DIR = "rejects"
SCRATCH_PREFIX = ".import-"
# The lock an import holds on its scratch folder while it runs (released by the system
# when the process dies, however it dies).
SCRATCH_LOCK = "running.lock"
# A scratch folder younger than this is left alone even when unlocked: its import may be
# between creating it and locking it.
STALE_AFTER_SECONDS = 60.0


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
    # False: a 学籍 register of an earlier school year than the current one's, kept as that
    # year's snapshot (for the 巩固率 cohort) while the current snapshot stays.
    current: bool = True
    # What a 扶贫 or 残疾人 register changed in the special groups of children with cases.
    register_groups: Synced | None = None
    # Scratch folders of earlier imports that were killed, removed before this one.
    stale_removed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            **(
                {"register_groups": self.register_groups.as_json()}
                if self.register_groups is not None
                else {}
            ),
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
            "current": self.current,
            "stale_removed": self.stale_removed,
        }


def import_limits(ctx: Context) -> ImportLimits:
    """The ``[import]`` section of the workspace's caseflow.toml (the defaults when absent)."""
    path = ctx.workspace.root / CONFIG_NAME
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return ImportLimits()  # the workspace loaded it a moment ago; the defaults then
    section = config.get("import", {})
    return ImportLimits.from_config(section if isinstance(section, dict) else {}, str(path))


class _Scratch:
    """An import's scratch folder, ``rosters/.import-*``, locked while the import runs."""

    def __init__(self, folder: Path):
        self.path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=folder))
        self._lock = os.open(self.path / SCRATCH_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def remove_stale_scratch(folder: Path, *, now: float | None = None) -> int:
    """Remove the scratch folders that killed imports left in ``folder``: those no running
    import holds locked and older than :data:`STALE_AFTER_SECONDS`. How many were removed."""
    if not folder.is_dir():
        return 0
    moment = time.time() if now is None else now
    removed = 0
    for path in folder.glob(f"{SCRATCH_PREFIX}*"):
        try:
            if not path.is_dir() or moment - path.stat().st_mtime < STALE_AFTER_SECONDS:
                continue
            if not _unlocked(path / SCRATCH_LOCK):
                continue  # another import is running in it
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not path.exists()
    return removed


def _unlocked(lock: Path) -> bool:
    """No process holds ``lock`` (a missing lock file: a folder from before locks)."""
    try:
        descriptor = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


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
    source = resolve_source(source)
    today = ctx.today
    day = as_of or today
    if day > today:
        raise InvalidInput(
            _("--as-of {day} is in the future; give the day the register was extracted").format(
                day=day.isoformat()
            )
        )
    columns = parse_mapping(source, mapping)
    limits = import_limits(ctx)
    folder = snapshot_folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_scratch(folder)
    scratch = _Scratch(folder)
    try:
        with interruptible(), Checker(scratch.path, memory_limit=MEMORY_LIMIT) as checker:
            checked = checker.check(
                source,
                path,
                file_name=path.name,
                today=today,
                mapping=columns,
                encoding=encoding,
                progress=progress,
                limits=limits,
                as_of=day,
            )
            if progress is not None:
                progress(checked.rows_total, checked.rows_total)
            upload = _Upload(path.name, checked.sha256, day, ctx.now())
            import_id, replaced, rejects, current = _store(
                ctx, checker, checked, scratch.path, upload
            )
    finally:
        scratch.remove()
    # The children with cases take the groups the new snapshot gives them (its own step).
    synced = sync_register_groups(ctx) if source in REGISTER_SOURCES else None
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
        current=current,
        register_groups=synced,
        stale_removed=stale,
    )


@dataclass(frozen=True)
class _Upload:
    file_name: str
    digest: str
    as_of: date
    now: datetime


def _store(
    ctx: Context, checker: Checker, checked: Checked, scratch: Path, upload: _Upload
) -> tuple[int, int | None, Path | None, bool]:
    """Write the rejects file and the snapshot, then publish the snapshot."""
    source = checked.source
    if checked.rows_total == 0:
        raise InvalidInput(
            _(
                "{file} has the headings of a {register} register but no rows; nothing was imported"
            ).format(file=upload.file_name, register=register_name(source))
        )
    rejects: Path | None = None
    keep_rejects = False
    try:
        if checked.problems:
            rejects = _write_rejects(ctx, source, upload.now, checked.problems)
        if checked.rows_good == 0:
            keep_rejects = True
            raise InvalidInput(
                _(
                    "none of the {rows} rows of {file} is valid, so nothing was imported and "
                    "the previous {register} import stays current; the reasons are in "
                    "{rejects}"
                ).format(
                    rows=checked.rows_total,
                    file=upload.file_name,
                    register=register_name(source),
                    rejects=rejects,
                )
            )
        written = scratch / f"{source}-{uuid.uuid4().hex}.parquet"
        checker.write_snapshot(written)
        fsync(written)
        import_id, replaced, current = _publish(ctx, checked, written, upload, rejects)
    except BaseException:
        if rejects is not None and not keep_rejects:
            rejects.unlink(missing_ok=True)
        raise
    _remove_replaced(ctx, source)
    return import_id, replaced, rejects, current


def _publish(
    ctx: Context, checked: Checked, written: Path, upload: _Upload, rejects: Path | None
) -> tuple[int, int | None, bool]:
    """One transaction: the import row, the snapshot file renamed into place (before the
    commit, so a committed import always has its file), the audit event, ``current``.
    A 学籍 register of an earlier school year than the current snapshot's is kept as that
    year's snapshot (``YEARLY_SOURCES``) and the current one stays: the current snapshot
    is always of the latest school year."""
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
            _remove_uncommitted(ctx, connection, source)
            import_id = connection.execute(
                insert(IMPORT).values(
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
            fsync(placed.parent)
            previous = connection.execute(
                select(IMPORT.c.id, IMPORT.c.as_of)
                .where(IMPORT.c.source == source, IMPORT.c.current, IMPORT.c.id != import_id)
                .order_by(IMPORT.c.id.desc())
            ).first()
            current = not (
                source in YEARLY_SOURCES
                and previous is not None
                and school_year(upload.as_of) < school_year(previous.as_of)
            )
            replaced: int | None
            if current:
                replaced = previous.id if previous is not None else None
            else:  # the earlier import of the same school year, if any, is superseded
                replaced = _same_year(connection, source, upload.as_of, import_id)
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
                    **({} if current else {"current": False}),
                },
            )
            if current:
                # Rows of a snapshot stored before Parquet snapshots, now superseded.
                connection.execute(delete(ROW).where(ROW.c.source == source))
                connection.execute(
                    update(IMPORT)
                    .where(IMPORT.c.source == source, IMPORT.c.current)
                    .values(current=False)
                )
                connection.execute(
                    update(IMPORT).where(IMPORT.c.id == import_id).values(current=True)
                )
    except BaseException:
        if placed is not None and not _committed(ctx, import_id):
            placed.unlink(missing_ok=True)
        raise
    return import_id, replaced, current


def _remove_uncommitted(ctx: Context, connection: Connection, source: str) -> None:
    """Delete the source's snapshot files that no committed import of it owns: an import
    killed after renaming its file into place and before committing leaves one (a copy of
    the register that nothing reads). Run under the source's lock, when no other import of
    the source is between those two steps."""
    committed = set(
        connection.execute(select(IMPORT.c.id).where(IMPORT.c.source == source)).scalars()
    )
    for path in snapshot_folder(ctx).glob(f"{source}-*.parquet"):
        number = path.name.removeprefix(f"{source}-").removesuffix(".parquet")
        if number.isdigit() and int(number) not in committed:
            path.unlink(missing_ok=True)


def _same_year(connection: Connection, source: str, as_of: date, import_id: int) -> int | None:
    """The newest other import of ``source`` of the school year ``as_of`` falls in."""
    rows = connection.execute(
        select(IMPORT.c.id, IMPORT.c.as_of)
        .where(IMPORT.c.source == source, IMPORT.c.id != import_id)
        .order_by(IMPORT.c.id.desc())
    ).all()
    year = school_year(as_of)
    return next((row.id for row in rows if school_year(row.as_of) == year), None)


def _committed(ctx: Context, import_id: int | None) -> bool:
    """Did the import's transaction commit after all (an error raised by the commit itself
    is ambiguous)? Assume it did when the database cannot tell."""
    if import_id is None:
        return False
    try:
        with db.read(ctx.engine) as connection:
            found = connection.execute(select(IMPORT.c.id).where(IMPORT.c.id == import_id)).scalar()
    except Exception:
        return True
    return found is not None


def _remove_replaced(ctx: Context, source: str) -> None:
    """Delete the snapshot files of the source's committed imports that are not current
    (a comparison that already opened one keeps reading it: the file goes when closed);
    a 学籍 register keeps the newest import of each school year (``yearly_imports``)."""
    try:
        with db.read(ctx.engine) as connection:
            rows = connection.execute(
                select(IMPORT.c.id, IMPORT.c.as_of, IMPORT.c.current).where(
                    IMPORT.c.source == source
                )
            ).all()
        kept = {row.id for row in rows if row.current}
        if source in YEARLY_SOURCES:
            kept |= set(yearly_imports(rows).values())
        for row in rows:
            if row.id not in kept:
                snapshot_path(ctx, source, row.id).unlink(missing_ok=True)
    except Exception:  # tidying up; the import itself is committed
        return


# ---------------------------------------------------------------------------------------
# Reading the snapshots and the history


def import_history(ctx: Context, source: str | None = None) -> list[ImportRecord]:
    """Every import, newest first (of one source, if given)."""
    require(ctx, access.ROSTER_USERS | access.AUDIT_READERS, "roster history")
    if source is not None:
        source = resolve_source(source)
    query = select(IMPORT).order_by(IMPORT.c.id.desc())
    if source is not None:
        query = query.where(IMPORT.c.source == source)
    with db.read(ctx.engine) as connection:
        return [record_of(row) for row in connection.execute(query)]
