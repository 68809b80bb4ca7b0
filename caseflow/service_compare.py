"""五查四比对: the four comparisons over the current snapshot of each register.

For school-age children (age band at the reference date, the most recent 1 September):

- ``household_vs_student``: in 户籍, no 学籍 record with status 在读 or 休学;
- ``poverty_vs_student``: in 扶贫, no such 学籍 record;
- ``disability_vs_student``: in 残疾人, no such 学籍 record;
- ``student_vs_attendance``: 学籍 status 在读 but not present in 实际在校生 (by resident ID
  or student number).

Each is one anti-join in SQL over the indexed ``roster_row`` table; the birth date is
read from the resident ID (digits 7–14), so every register can be aged the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, select

from caseflow import db
from caseflow.errors import AccessDenied, InvalidInput
from caseflow.ids import mask_id_number
from caseflow.models import RosterImport, RosterRow
from caseflow.service import Context

_IMPORT = RosterImport.__table__  # type: ignore[attr-defined]
_ROW = RosterRow.__table__  # type: ignore[attr-defined]

FLAGS: dict[str, str] = {
    "household_vs_student": "户籍无学籍",
    "poverty_vs_student": "建档立卡无学籍",
    "disability_vs_student": "残疾无学籍",
    "student_vs_attendance": "有学籍未在校",
}
NEEDS: dict[str, tuple[str, str]] = {
    "household_vs_student": ("household", "student"),
    "poverty_vs_student": ("poverty", "student"),
    "disability_vs_student": ("disability", "student"),
    "student_vs_attendance": ("student", "attendance"),
}
ENROLLED = ("在读", "休学")
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
REVEAL_ROLES = frozenset({"bureau"})
DEFAULT_AGES = (6, 15)


def reference_date(as_of: date) -> date:
    """The start of the school year that ``as_of`` falls in: the latest 1 September."""
    start = date(as_of.year, 9, 1)
    return start if as_of >= start else date(as_of.year - 1, 9, 1)


def birth_band(reference: date, youngest: int, oldest: int) -> tuple[str, str]:
    """Birth dates (YYYYMMDD, inclusive) of children aged youngest..oldest on ``reference``."""

    def years_before(years: int) -> date:
        try:
            return reference.replace(year=reference.year - years)
        except ValueError:  # 29 February
            return reference.replace(year=reference.year - years, day=28)

    latest = years_before(youngest)
    earliest = date.fromordinal(years_before(oldest + 1).toordinal() + 1)
    return earliest.strftime("%Y%m%d"), latest.strftime("%Y%m%d")


@dataclass
class Suspect:
    id_number: str
    name: str
    flags: list[str] = field(default_factory=list)
    township: str | None = None
    village: str | None = None
    school: str | None = None
    poor: str | None = None  # the poverty category, when registered poor
    disability: str | None = None  # "肢体 二级", when registered disabled
    disability_category: str | None = None

    def view(self, *, reveal: bool) -> dict[str, Any]:
        return {
            "id_number": self.id_number if reveal else mask_id_number(self.id_number),
            "name": self.name,
            "flags": list(self.flags),
            "township": self.township,
            "village": self.village,
            "school": self.school,
            "poor": self.poor,
            "disability": self.disability,
        }


@dataclass
class Comparison:
    reference_date: date
    ages: tuple[int, int]
    suspects: list[Suspect]
    missing: dict[str, list[str]]  # comparison -> registers not imported

    @property
    def counts(self) -> dict[str, int]:
        return {flag: sum(flag in s.flags for s in self.suspects) for flag in FLAGS}


def _current(source: str) -> Any:
    return select(_IMPORT.c.id).where(_IMPORT.c.source == source, _IMPORT.c.current)


def _rows(source: str, alias: Any) -> Any:
    return and_(alias.c.source == source, alias.c.import_id.in_(_current(source)))


def _born_in(alias: Any, band: tuple[str, str]) -> Any:
    born = func.substr(alias.c.id_number, 7, 8)
    return and_(alias.c.id_number.is_not(None), born >= band[0], born <= band[1])


def _flagged(connection: Any, flag: str, band: tuple[str, str]) -> list[Any]:
    left = _ROW.alias("l")
    right = _ROW.alias("r")
    source, other = NEEDS[flag]
    if other == "student":
        absent = [
            ~exists().where(
                _rows("student", right),
                right.c.id_number == left.c.id_number,
                right.c.status.in_(ENROLLED),
            )
        ]
        condition = _born_in(left, band)
    else:
        # Present by ID or by student number: two anti-joins, each on its own index
        # (one NOT EXISTS with OR would scan the attendance register for every student).
        by_number = _ROW.alias("n")
        absent = [
            ~exists().where(_rows("attendance", right), right.c.id_number == left.c.id_number),
            ~exists().where(
                _rows("attendance", by_number),
                left.c.student_number.is_not(None),
                by_number.c.student_number == left.c.student_number,
            ),
        ]
        condition = and_(_born_in(left, band), left.c.status == "在读")
    query = select(left).where(_rows(source, left), condition, *absent).order_by(left.c.id)
    return list(connection.execute(query).all())


def _imported(connection: Any) -> set[str]:
    return set(connection.execute(select(_IMPORT.c.source).where(_IMPORT.c.current)).scalars())


def compare(
    ctx: Context, *, as_of: date | None = None, ages: tuple[int, int] = DEFAULT_AGES
) -> Comparison:
    day = as_of or ctx.today
    reference = reference_date(day)
    band = birth_band(reference, *ages)
    suspects: dict[str, Suspect] = {}
    missing: dict[str, list[str]] = {}
    with db.read(ctx.engine) as connection:
        imported = _imported(connection)
        if not imported:
            raise InvalidInput(
                "no registers imported yet; import them with `caseflow roster "
                "import SOURCE FILE` (household, student, poverty, disability, "
                "attendance)"
            )
        for flag, needed in NEEDS.items():
            lacking = [source for source in needed if source not in imported]
            if lacking:
                missing[flag] = lacking
                continue
            for row in _flagged(connection, flag, band):
                suspect = suspects.setdefault(row.id_number, Suspect(row.id_number, row.name or ""))
                suspect.flags.append(flag)
                suspect.township = suspect.township or row.township
                suspect.village = suspect.village or row.village
                suspect.school = suspect.school or row.school
        _describe(connection, suspects)
    ordered = sorted(
        suspects.values(), key=lambda s: (s.township or "", s.village or "", s.id_number)
    )
    return Comparison(reference, ages, ordered, missing)


def _describe(connection: Any, suspects: dict[str, Suspect]) -> None:
    """Where each suspect lives (户籍 first) and the special groups they belong to."""
    ids = list(suspects)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        rows = connection.execute(
            select(_ROW)
            .where(
                # Naming the registers lets the (source, id_number) index find the rows.
                _ROW.c.source.in_(DESCRIBED_BY),
                _ROW.c.id_number.in_(chunk),
                _ROW.c.import_id.in_(select(_IMPORT.c.id).where(_IMPORT.c.current)),
            )
            .order_by(_ROW.c.id)
        ).all()
        for row in rows:
            suspect = suspects[row.id_number]
            if row.source == "household":
                suspect.township, suspect.village = row.township, row.village
                suspect.name = row.name or suspect.name
            elif row.source == "poverty":
                suspect.poor = row.category or "建档立卡"
                suspect.township = suspect.township or row.township
                suspect.village = suspect.village or row.village
            elif row.source == "disability":
                label = DISABILITY_LABELS.get(row.category or "", row.category or "")
                grade = f" {'一二三四'[row.disability_grade - 1]}级" if row.disability_grade else ""
                suspect.disability = f"{label}{grade}".strip()
                suspect.disability_category = row.category
            elif row.source == "student":
                suspect.school = suspect.school or row.school


def check_reveal(ctx: Context) -> None:
    if not ctx.actor.roles & REVEAL_ROLES:
        raise AccessDenied(
            f"operator {ctx.actor.operator!r} may not reveal resident IDs; "
            f"that needs the role {', '.join(sorted(REVEAL_ROLES))}"
        )


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
# Opening cases from the findings

UNKNOWN_PLACE = "待核实"


@dataclass
class Opening:
    opened: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)  # open cases that got new flags
    unchanged: int = 0  # open cases that already had every flag
    not_reopened: int = 0  # closed as not a dropout, and no new flag since


def _cases_of(connection: Any, id_number: str) -> list[Any]:
    from caseflow.models import Case, Child

    case, child = Case.__table__, Child.__table__  # type: ignore[attr-defined]
    return list(
        connection.execute(
            select(case.c.id, case.c.is_open, case.c.facts)
            .join(child, child.c.id == case.c.child_id)
            .where(child.c.id_number == id_number)
            .order_by(case.c.id.desc())
        ).all()
    )


def _flags_of(facts: Any) -> set[str]:
    return set((facts or {}).get("evidence", {}).get("roster_flags", []))


def open_cases(ctx: Context, comparison: Comparison, *, dry_run: bool = False) -> Opening:
    """A case in ``identified`` for each suspect (source ``roster``, the flags as evidence);
    a child with an open case gets the new flags added to it instead; a child whose last
    case was closed is only opened again for a flag that was not there when it closed.
    Disabled suspects start on the disability route. Running it twice opens nothing new."""
    from caseflow import service

    result = Opening()
    for suspect in comparison.suspects:
        with db.read(ctx.engine) as connection:
            cases = _cases_of(connection, suspect.id_number)
        flags = set(suspect.flags)
        evidence = {
            "roster_flags": sorted(flags),
            "reference_date": comparison.reference_date.isoformat(),
        }
        if suspect.poor:
            evidence["poverty"] = suspect.poor
        if suspect.disability:
            evidence["disability"] = suspect.disability
        latest = cases[0] if cases else None
        if latest is not None and latest.is_open:
            new = flags - _flags_of(latest.facts)
            if not new:
                result.unchanged += 1
                continue
            if not dry_run:
                merged = sorted(flags | _flags_of(latest.facts))
                service.add_finding(ctx, latest.id, {**evidence, "roster_flags": merged})
            result.added.append(latest.id)
            continue
        if latest is not None and not flags - _flags_of(latest.facts):
            result.not_reopened += 1
            continue
        if dry_run:
            result.opened.append(0)
            continue
        details = service.ChildDetails(
            name=suspect.name or "（姓名待核实）",
            id_number=suspect.id_number,
            township=suspect.township or UNKNOWN_PLACE,
            village=suspect.village or UNKNOWN_PLACE,
            school=suspect.school,
        )
        number = service.open_case(ctx, details, source="roster", evidence=evidence)
        if suspect.disability:
            service.advance(ctx, number, "refer_disability_assessment")
        result.opened.append(number)
    return result


# ---------------------------------------------------------------------------------------
# Output


def neutralise(value: str) -> str:
    """A cell a spreadsheet would read as a formula (=, +, -, @) is kept as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


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
        for row in rows:
            sheet.append(row)
        book.save(target)
    else:
        raise InvalidInput(f"-o {target.name}: write .csv or .xlsx")
    return len(rows)


def record_reveal(ctx: Context, comparison: Comparison) -> None:
    """Revealing resident IDs is itself recorded: who saw how many, and when."""
    from caseflow.service import _record

    with db.write(ctx.engine) as connection:
        _record(
            ctx,
            connection,
            ctx.now(),
            action="roster.reveal",
            payload={
                "suspects": len(comparison.suspects),
                "reference_date": comparison.reference_date.isoformat(),
            },
        )
