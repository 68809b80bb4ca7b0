"""五查四比对: the four comparisons over the current snapshot of each register.

For school-age children (age band at the reference date, the most recent 1 September):

- ``household_vs_student``: in 户籍, no 学籍 record with status 在读 or 休学;
- ``poverty_vs_student``: in 扶贫, no such 学籍 record;
- ``disability_vs_student``: in 残疾人, no such 学籍 record;
- ``student_vs_attendance``: 学籍 status 在读 but not present in 实际在校生 (by resident ID
  or student number).

Each is one anti-join, run by DuckDB over the snapshots' Parquet files (all four and the
description of each suspect in one query, :func:`comparison_sql`); the birth date is read
from the resident ID (digits 7–14), so every register can be aged the same way.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from caseflow import access, db
from caseflow.errors import InvalidInput, WorkspaceError
from caseflow.exports import neutralise, xlsx_text
from caseflow.i18n import _
from caseflow.roster import (
    DEFAULT_AGES,
    ENROLLED,
    FLAGS,
    Comparison,
    Suspect,
    birth_band,
    reference_date,
    source_choices,
)
from caseflow.services.context import Context
from caseflow.services.records import record, require
from caseflow.services.snapshots import MEMORY_LIMIT, current_snapshots, interruptible

NEEDS: dict[str, tuple[str, str]] = {
    "household_vs_student": ("household", "student"),
    "poverty_vs_student": ("poverty", "student"),
    "disability_vs_student": ("disability", "student"),
    "student_vs_attendance": ("student", "attendance"),
}
DESCRIBED_BY = ("household", "poverty", "disability", "student")
DISABILITY_LABELS = {
    "1": "视力",
    "2": "听力",
    "3": "言语",
    "4": "肢体",
    "5": "智力",
    "6": "精神",
    "7": "多重",
}


# Columns each register contributes to the comparison, as named in its snapshot.
_READ: dict[str, tuple[str, ...]] = {
    "household": ("id_number", "name", "township", "village"),
    "student": ("id_number", "student_number", "status", "name", "school"),
    "poverty": ("id_number", "name", "township", "village", "category"),
    "disability": ("id_number", "name", "category", "disability_grade"),
    "attendance": ("id_number", "student_number"),
}
_ALIAS = {"household": "h", "student": "s", "poverty": "p", "disability": "d", "attendance": "a"}
_FLAGGED_BY = ("h", "p", "d", "s")  # the register whose row raises each flag, in FLAGS order


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def comparison_sql(
    snapshots: Mapping[str, tuple[str, Collection[str]]], band: tuple[str, str]
) -> str:
    """One DuckDB query over the snapshot files (source -> (path, its columns)): a row per
    suspect, ordered by township, village and ID, with ``id_number``, ``flags`` (bit i set
    for the i-th of :data:`FLAGS`), ``name``, ``township``, ``village``, ``school``, ``poor``,
    ``disability`` and ``disability_category`` as :class:`Suspect` has them. The
    comparisons whose registers are not all among ``snapshots`` are left out.

    The three ``*_vs_student`` comparisons share one anti-join against the enrolled
    students; a suspect's description is looked up only for the suspects found."""

    def scan(source: str, *names: str) -> str:
        """The register's snapshot, read where it is used (DuckDB reads only the columns
        each use needs; a CTE used twice would be materialised first)."""
        path, columns = snapshots[source]
        wanted = ", ".join(name if name in columns else f"NULL AS {name}" for name in names)
        return f"(SELECT {wanted} FROM read_parquet({_quoted(path)}))"

    ctes: list[str] = []
    low, high = band
    enrolled = ", ".join(_quoted(status) for status in ENROLLED)

    def school_age(alias: str) -> str:
        return (
            f"{alias}.id_number IS NOT NULL AND substr({alias}.id_number, 7, 8) "
            f"BETWEEN {_quoted(low)} AND {_quoted(high)}"
        )

    flagged = []
    candidates = [
        f"SELECT x.id_number, {index} AS flag FROM {scan(source, 'id_number')} x "
        f"WHERE {school_age('x')}"
        for index, (source, other) in enumerate(NEEDS.values())
        if other == "student" and source in snapshots and other in snapshots
    ]
    if candidates:
        students = scan("student", "id_number", "status")
        flagged.append(
            f"SELECT c.id_number, c.flag FROM ({' UNION ALL '.join(candidates)}) c "
            f"WHERE NOT EXISTS (SELECT 1 FROM {students} s WHERE s.id_number = c.id_number "
            f"AND s.status IN ({enrolled}))"
        )
    if "student" in snapshots and "attendance" in snapshots:
        # Present by resident ID or by student number: two anti-joins.
        students = scan("student", "id_number", "student_number", "status")
        flagged.append(
            f"SELECT s.id_number, {list(FLAGS).index('student_vs_attendance')} AS flag "
            f"FROM {students} s WHERE {school_age('s')} AND s.status = {_quoted(ENROLLED[0])} "
            f"AND NOT EXISTS (SELECT 1 FROM {scan('attendance', 'id_number')} a "
            "WHERE a.id_number = s.id_number) "
            f"AND NOT EXISTS (SELECT 1 FROM {scan('attendance', 'student_number')} a "
            "WHERE s.student_number IS NOT NULL AND a.student_number = s.student_number)"
        )
    if not flagged:
        flagged.append("SELECT CAST(NULL AS VARCHAR) AS id_number, 0 AS flag WHERE false")
    ctes.append(f"flagged AS ({' UNION ALL '.join(flagged)})")
    ctes.append(
        "found AS (SELECT id_number, bit_or(1 << flag) AS flags FROM flagged GROUP BY id_number)"
    )
    joins = []
    for source in DESCRIBED_BY:
        alias = _ALIAS[source]
        if source in snapshots:
            ctes.append(
                f"{alias}x AS (SELECT * FROM {scan(source, *_READ[source])} "
                "WHERE id_number IN (SELECT id_number FROM found))"
            )
        else:  # not imported: describes no one
            nulls = ", ".join(f"NULL AS {name}" for name in _READ[source])
            ctes.append(f"{alias}x AS (SELECT {nulls} WHERE false)")
        joins.append(f"LEFT JOIN {alias}x ON {alias}x.id_number = f.id_number")
    first = " ".join(
        f"WHEN f.flags & {1 << index} <> 0 THEN nullif({alias}x.name, '')"
        for index, alias in enumerate(_FLAGGED_BY)
    )
    labels = " ".join(f"WHEN {_quoted(k)} THEN {_quoted(v)}" for k, v in DISABILITY_LABELS.items())
    level = (
        "CASE WHEN dx.disability_grade BETWEEN 1 AND 4 THEN ' ' || "
        "substr('一二三四', dx.disability_grade, 1) || '级' ELSE '' END"
    )
    described = (
        "f.id_number, f.flags, "
        f"coalesce(nullif(hx.name, ''), CASE {first} END, '') AS name, "
        "coalesce(nullif(hx.township, ''), nullif(px.township, '')) AS township, "
        "coalesce(nullif(hx.village, ''), nullif(px.village, '')) AS village, "
        "sx.school, "
        "CASE WHEN px.id_number IS NOT NULL THEN coalesce(nullif(px.category, ''), "
        f"{_quoted('建档立卡')}) END AS poor, "
        "CASE WHEN dx.id_number IS NOT NULL THEN trim(CASE dx.category "
        f"{labels} ELSE coalesce(dx.category, '') END || {level}) END AS disability, "
        "CASE WHEN dx.id_number IS NOT NULL THEN dx.category END AS disability_category"
    )
    return (
        f"WITH {', '.join(ctes)} SELECT * FROM (SELECT {described} FROM found f "
        f"{' '.join(joins)}) ORDER BY coalesce(township, ''), coalesce(village, ''), id_number"
    )


def compare(
    ctx: Context, *, as_of: date | None = None, ages: tuple[int, int] = DEFAULT_AGES
) -> Comparison:
    """The four comparisons over the current snapshots, in DuckDB."""
    require(ctx, access.ROSTER_USERS, "roster compare")
    day = as_of or ctx.today
    reference = reference_date(day)
    band = birth_band(reference, *ages)
    for attempt in range(3):
        try:
            snapshots = current_snapshots(ctx)
            if not snapshots:
                raise InvalidInput(
                    _(
                        "no registers imported yet; import them with `caseflow roster import "
                        "REGISTER FILE` ({registers})"
                    ).format(registers=source_choices())
                )
            with interruptible(), _collector_paused():
                rows = _run_comparison(snapshots, band)
        except (FileNotFoundError, WorkspaceError) as exc:
            if attempt < 2:
                continue  # an import replaced a snapshot meanwhile: read the new one
            if isinstance(exc, WorkspaceError):
                raise
            raise WorkspaceError(
                _(
                    "a register snapshot cannot be read ({error}); import that register again"
                ).format(error=exc)
            ) from None
        break
    missing = {
        flag: [source for source in needed if source not in snapshots]
        for flag, needed in NEEDS.items()
        if any(source not in snapshots for source in needed)
    }
    names = list(FLAGS)
    suspects: dict[str, Suspect] = {}
    with _collector_paused():
        for number, flags, *described in rows:
            if number not in suspects:  # a register holding a child twice describes it once
                flagged = [name for i, name in enumerate(names) if flags >> i & 1]
                suspects[number] = Suspect(number, described[0], flagged, *described[1:])
    with db.write(ctx.engine) as connection:  # who looked at which children's names
        record(
            ctx,
            connection,
            ctx.now(),
            action="roster.compare",
            payload={"suspects": len(suspects), "reference_date": reference.isoformat()},
        )
    return Comparison(reference, ages, list(suspects.values()), missing)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a row per suspect is built: tens of thousands of
    new objects (none in a cycle) would set it walking every object in the process, again
    and again, for a fifth of the comparison's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_comparison(snapshots: Mapping[str, Path], band: tuple[str, str]) -> list[tuple[Any, ...]]:
    import duckdb

    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:
        described: dict[str, tuple[str, Collection[str]]] = {}
        for source, path in snapshots.items():
            if not path.exists():
                raise FileNotFoundError(path)
            schema = connection.execute(
                f"SELECT name FROM parquet_schema({_quoted(str(path))})"
            ).fetchall()
            described[source] = (str(path), {str(column) for (column,) in schema})
        try:
            result = connection.execute(comparison_sql(described, band))
        except duckdb.IOException as exc:
            raise FileNotFoundError(str(exc)) from None
        return result.fetchall()
    finally:
        connection.close()


def check_reveal(ctx: Context) -> None:
    """Full resident IDs only for the roles caseflow.toml [privacy] allows."""
    require(ctx, ctx.workspace.reveal_roles, "roster compare --reveal")


def views(comparison: Comparison, *, reveal: bool) -> list[dict[str, Any]]:
    return [suspect.view(reveal=reveal) for suspect in comparison.suspects]


HEADINGS = ("身份证号", "姓名", "比对结果", "乡镇", "村", "学校", "建档立卡", "残疾")


def table_rows(comparison: Comparison, *, reveal: bool) -> Iterable[Sequence[str]]:
    for suspect in comparison.suspects:
        view = suspect.view(reveal=reveal)
        yield (
            view["id_number"],
            view["name"],
            "、".join(FLAGS[f] for f in view["flags"]),
            view["township"] or "",
            view["village"] or "",
            view["school"] or "",
            view["poor"] or "",
            view["disability"] or "",
        )


# ---------------------------------------------------------------------------------------
# Output


def write_table(path: Any, comparison: Comparison, *, reveal: bool) -> int:
    """The findings as CSV (UTF-8 with BOM, for Excel and WPS) or XLSX, by extension."""
    import csv
    from pathlib import Path

    target = Path(path)
    rows = [[neutralise(cell) for cell in row] for row in table_rows(comparison, reveal=reveal)]
    suffix = target.suffix.lower()
    if suffix == ".csv":
        with target.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(HEADINGS)
            writer.writerows(rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("五查四比对")
        sheet.append(
            [f"疑似失学辍学儿童少年比对结果（基准日{comparison.reference_date.isoformat()}）"]
        )
        sheet.append(list(HEADINGS))
        for row in table_rows(comparison, reveal=reveal):
            sheet.append([xlsx_text(cell) for cell in row])
        book.save(target)
    else:
        raise InvalidInput(_("-o {file}: write .csv or .xlsx").format(file=target.name))
    return len(rows)


def record_reveal(ctx: Context, comparison: Comparison) -> None:
    """Revealing resident IDs is itself recorded: who saw how many, and when."""
    with db.write(ctx.engine) as connection:
        record(
            ctx,
            connection,
            ctx.now(),
            action="roster.reveal",
            payload={
                "suspects": len(comparison.suspects),
                "reference_date": comparison.reference_date.isoformat(),
            },
        )
