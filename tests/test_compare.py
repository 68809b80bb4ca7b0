"""五查四比对 over imported registers: every flag explained, cases opened once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from caseflow import db
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, InvalidInput
from caseflow.ids import make_id_number
from caseflow.models import RosterImport, RosterRow
from caseflow.roster import birth_band, reference_date
from caseflow.services.cases import list_cases, open_cases, show_case
from caseflow.services.compare import check_reveal, compare, views
from caseflow.services.context import Context
from caseflow.services.snapshots import write_snapshot
from tests.conftest import approved_closure, snapshot_rows

IMPORTS = RosterImport.__table__  # type: ignore[attr-defined]
ROWS = RosterRow.__table__  # type: ignore[attr-defined]
AS_OF = date(2026, 11, 20)  # reference date: 1 September 2026


def person(serial: int, born: date = date(2014, 5, 1)) -> str:
    return make_id_number("522226", born, serial)


def _history_row(connection: Any, source: str, count: int) -> int:
    """The import history row of a register made current without a file."""
    return int(
        connection.execute(
            insert(IMPORTS).values(
                source=source,
                file_name=f"{source}.csv",
                file_sha256="0" * 64,
                as_of=AS_OF,
                imported_at=datetime(2026, 11, 20, tzinfo=UTC),
                operator="root",
                os_user="root",
                rows_total=count,
                rows_imported=count,
                rows_rejected=0,
                current=True,
            )
        ).inserted_primary_key[0]
    )


def register(ctx: Context, source: str, rows: list[dict[str, Any]]) -> None:
    """Make ``rows`` the source's snapshot, as an import would (without a file to read)."""
    with db.write(ctx.engine) as connection:
        connection.execute(IMPORTS.update().where(IMPORTS.c.source == source).values(current=False))
        import_id = _history_row(connection, source, len(rows))
        write_snapshot(
            ctx, source, import_id, [{"line": n + 2, **row} for n, row in enumerate(rows)]
        )


def household(serial: int, born: date = date(2014, 5, 1), **extra: Any) -> dict[str, Any]:
    return {
        "id_number": person(serial, born),
        "name": f"学生{serial}",
        "township": "天堂镇",
        "village": "天堂村",
        **extra,
    }


def student(serial: int, status: str = "在读", born: date = date(2014, 5, 1)) -> dict[str, Any]:
    return {
        "id_number": person(serial, born),
        "name": f"学生{serial}",
        "school": "天堂小学",
        "status": status,
        "student_number": "G" + person(serial, born),
    }


def attending(serial: int, born: date = date(2014, 5, 1)) -> dict[str, Any]:
    return {"id_number": person(serial, born), "name": f"学生{serial}", "school": "天堂小学"}


@pytest.fixture
def county(ctx: Context) -> Context:
    """Children 1-9 of school age; 20 too young; 21 too old. The planted truth:
    2 never enrolled; 3 transferred out (转出); 4 poor, not enrolled; 5 disabled, not
    enrolled; 6 enrolled but not attending; 7 on leave (休学) — not flagged."""
    register(
        ctx,
        "household",
        [household(n) for n in range(1, 8)]
        + [household(20, date(2021, 3, 1)), household(21, date(2009, 6, 1))],
    )
    register(ctx, "student", [student(1), student(3, "转出"), student(6), student(7, "休学")])
    register(ctx, "poverty", [household(4, category="脱贫户")])
    register(ctx, "disability", [{**household(5), "category": "4", "disability_grade": 2}])
    register(ctx, "attendance", [attending(1)])
    return ctx


def test_the_reference_date_is_the_latest_first_of_september() -> None:
    assert reference_date(date(2026, 11, 20)) == date(2026, 9, 1)
    assert reference_date(date(2026, 8, 31)) == date(2025, 9, 1)
    assert reference_date(date(2026, 9, 1)) == date(2026, 9, 1)


def test_school_age_six_to_fifteen_is_counted_on_the_reference_date() -> None:
    earliest, latest = birth_band(date(2026, 9, 1), 6, 15)
    assert (earliest, latest) == ("20100902", "20200901")


def test_each_comparison_flags_exactly_the_planted_children(county) -> None:
    result = compare(county, as_of=AS_OF)
    flags = {s.id_number: s.flags for s in result.suspects}
    assert flags == {
        person(2): ["household_vs_student"],
        person(3): ["household_vs_student"],
        person(4): ["household_vs_student", "poverty_vs_student"],
        person(5): ["household_vs_student", "disability_vs_student"],
        person(6): ["student_vs_attendance"],
    }
    assert result.counts == {
        "household_vs_student": 4,
        "poverty_vs_student": 1,
        "disability_vs_student": 1,
        "student_vs_attendance": 1,
    }
    poor = next(s for s in result.suspects if s.id_number == person(4))
    disabled = next(s for s in result.suspects if s.id_number == person(5))
    assert poor.poor == "脱贫户" and disabled.disability == "肢体 二级"
    assert poor.township == "天堂镇" and poor.village == "天堂村"


def test_ids_are_masked_unless_revealed_by_a_permitted_role(county) -> None:
    result = compare(county, as_of=AS_OF)
    masked = views(result, reveal=False)
    assert all("********" in v["id_number"] for v in masked)
    assert {v["id_number"] for v in views(result, reveal=True)} >= {person(2)}
    check_reveal(county)
    caseworker = Context(
        county.workspace,
        county.engine,
        Actor("li", "li", frozenset({"caseworker"})),
        county.clock,
        county.calendar,
    )
    with pytest.raises(AccessDenied, match="may not use `caseflow roster compare --reveal`"):
        check_reveal(caseworker)


def test_a_comparison_whose_registers_are_missing_is_reported_not_guessed(ctx) -> None:
    with pytest.raises(InvalidInput, match="no registers imported"):
        compare(ctx, as_of=AS_OF)
    register(ctx, "household", [household(2)])
    register(ctx, "student", [])
    result = compare(ctx, as_of=AS_OF)
    assert result.missing == {
        "poverty_vs_student": ["poverty"],
        "disability_vs_student": ["disability"],
        "student_vs_attendance": ["attendance"],
    }
    assert [s.flags for s in result.suspects] == [["household_vs_student"]]


def test_opening_cases_is_idempotent_and_disabled_children_go_to_the_expert_committee(
    county,
) -> None:
    result = compare(county, as_of=AS_OF)
    first = open_cases(county, result)
    assert len(first.opened) == 5
    states = {
        show_case(county, n)["child"]["id_number"][-4:]: show_case(county, n)["state"]
        for n in first.opened
    }
    assert states[person(5)[-4:]] == "expert_assessment"
    assert list(states.values()).count("identified") == 4
    shown = show_case(county, first.opened[0])
    assert shown["source"] == "roster"
    assert shown["facts"]["evidence"]["roster_flags"]
    again = open_cases(county, compare(county, as_of=AS_OF))
    assert (again.opened, again.added, again.unchanged) == ([], [], 5)


def test_a_new_flag_is_added_to_the_open_case_instead_of_a_second_case(county) -> None:
    open_cases(county, compare(county, as_of=AS_OF))
    register(county, "poverty", [household(4, category="脱贫户"), household(2, category="监测户")])
    later = open_cases(county, compare(county, as_of=AS_OF))
    assert later.opened == [] and len(later.added) == 1
    case = show_case(county, later.added[0])
    assert case["facts"]["evidence"]["roster_flags"] == [
        "household_vs_student",
        "poverty_vs_student",
    ]
    # The finding, then the 扶贫 register's group on the child (tests/test_special_groups.py).
    assert [event["action"] for event in case["history"][-2:]] == ["case.finding", "case.groups"]


def test_a_case_closed_as_not_a_dropout_is_reopened_only_for_a_new_flag(county) -> None:
    opened = open_cases(county, compare(county, as_of=AS_OF)).opened
    number = next(
        n for n in opened if show_case(county, n)["child"]["id_number"][-4:] == person(3)[-4:]
    )
    approved_closure(county, number, "studying_elsewhere", "外省学校在读证明")
    quiet = open_cases(county, compare(county, as_of=AS_OF))
    assert quiet.opened == [] and quiet.not_reopened == 1
    register(county, "poverty", [household(4, category="脱贫户"), household(3, category="监测户")])
    flagged_again = open_cases(county, compare(county, as_of=AS_OF))
    assert len(flagged_again.opened) == 1


def test_a_dry_run_opens_nothing(county) -> None:
    preview = open_cases(county, compare(county, as_of=AS_OF), dry_run=True)
    assert len(preview.opened) == 5
    assert list_cases(county) == []


def test_a_snapshot_stored_in_the_database_before_snapshots_were_files_is_still_compared(
    ctx: Context,
) -> None:
    """Workspaces imported by an older caseflow hold the rows in ``roster_row``: they are
    copied to the snapshot file when first read, and compared like any other."""
    for source, rows in (("household", [household(2), household(1)]), ("student", [student(1)])):
        with db.write(ctx.engine) as connection:
            import_id = _history_row(connection, source, len(rows))
            connection.execute(
                insert(ROWS),
                [
                    {"import_id": import_id, "source": source, "line": n + 2, **row}
                    for n, row in enumerate(rows)
                ],
            )

    result = compare(ctx, as_of=AS_OF)

    assert [(s.id_number, s.flags) for s in result.suspects] == [
        (person(2), ["household_vs_student"])
    ]
    assert [row.line for row in snapshot_rows(ctx, "household")] == [2, 3]
    assert sorted(p.name for p in (ctx.workspace.root / "rosters").iterdir()) == [
        "household-1.parquet",
        "student-2.parquet",
    ]
