"""The synthetic county: deterministic, realistic, and its truth right.

The truth is checked against the register files the generator writes, read back and
compared by a check written here from the rules in ``shared/DOMAIN.md`` (resident IDs,
school age, 五查四比对), sharing no code with the generator or the product's importer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from caseflow.demo.county import (
    FLAGS,
    HEADINGS,
    NORMALISED_KINDS,
    REGISTERS,
    REJECT_KINDS,
    SCENARIOS,
    County,
    generate_county,
    register_bytes,
    write_registers,
    write_truth,
)
from caseflow.errors import InvalidIdNumber
from caseflow.ids import parse_id_number

REFERENCE = date(2024, 9, 1)
REGION = "520625"
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")


@cache
def county(seed: int = 1, children: int = 3000, reference: date = REFERENCE) -> County:
    return generate_county(seed, children=children, reference_date=reference)


# --- the check, written from DOMAIN.md over the files ------------------------------------
# Nothing here comes from caseflow.demo.county, caseflow.roster or caseflow.ids.

# GB 11643-1999: 17 digits and a check character, "10X98765432"[sum(d_i * w_i) % 11].
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# Compulsory school age: 6 to 15 inclusive, in completed years at the reference date.
SCHOOL_AGE = range(6, 16)
# A student record keeps a child in school while it is studying (在读) or an approved
# suspension (休学); a transfer out (转出) or graduation (毕业) ends it. Only a child
# studying is expected among the children present in school.
IN_SCHOOL = frozenset({"在读", "休学"})
STUDYING = "在读"
# Beside the resident ID, what a row must state for the register to attest anything.
STATES = {
    "household": ("姓名", "乡镇", "村"),  # who, registered where
    "student": ("姓名", "学校", "学籍状态"),  # who, at which school, enrolled how
    "poverty": ("姓名", "乡镇", "村", "类别"),  # which family, of which kind
    "disability": ("姓名", "残疾类别", "残疾等级"),  # the certified disability
    "attendance": ("姓名", "学校"),  # who is present, where
}


def as_typed(cell: str) -> tuple[str, str | None]:
    """The ID in ASCII digits and capital X, and how it was typed when otherwise:
    full-width digits and a lowercase x are normalised, never rejected."""
    half = "".join(chr(ord(c) - ord("０") + ord("0")) if "０" <= c <= "９" else c for c in cell)
    number = half.upper()
    if half != cell:
        return number, "full_width_digits"
    return number, ("lowercase_x" if number != cell else None)


def born_on(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_fault(number: str, today: date) -> str | None:
    if not ID_SHAPE.fullmatch(number):
        return "id_shape"
    try:
        born = born_on(number)
    except ValueError:
        return "id_birth_date"
    if born > today:
        return "id_birth_date"
    if (
        ID_CHECK[sum(int(d) * w for d, w in zip(number, ID_WEIGHTS, strict=False)) % 11]
        != (number[17])
    ):
        return "id_checksum"
    return None


def years_old(born: date, on: date) -> int:
    """Completed years: a birthday on 29 February is reached on 1 March."""
    had_birthday = (on.month, on.day) >= (born.month, born.day)
    return on.year - born.year - (0 if had_birthday else 1)


def written_date(text: str) -> date:
    """A date as registers write it: 2014-03-05, 2014/3/5, 20140305 or 2014年3月5日."""
    parts = re.findall(r"\d+", text)
    if len(parts) == 1 and len(parts[0]) == 8:
        parts = [parts[0][:4], parts[0][4:6], parts[0][6:]]
    year, month, day = (int(part) for part in parts)
    return date(year, month, day)


@dataclass
class RegisterFile:
    """A register read from its file: the people it counts (by ID, their first good row)
    and, by line, the rows that count for nothing and the IDs typed another way."""

    people: dict[str, dict[str, str]] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)  # (why, column)
    repeats: dict[int, int] = field(default_factory=dict)
    retyped: dict[int, str] = field(default_factory=dict)


def read_register(path: Path, register: str, today: date) -> RegisterFile:
    out = RegisterFile()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            number, typed = as_typed(row["身份证号"].strip())
            blank = [column for column in STATES[register] if not row[column].strip()]
            fault = id_fault(number, today)
            if blank:
                out.refused[line] = ("missing_field", blank[0])
            elif fault:
                out.refused[line] = (fault, "身份证号")
            elif register == "household" and row["性别"] != "女男"[int(number[16]) % 2]:
                out.refused[line] = ("sex_mismatch", "性别")
            elif register == "household" and written_date(row["出生日期"]) != born_on(number):
                out.refused[line] = ("birth_date_mismatch", "出生日期")
            elif number in out.people:
                out.refused[line] = ("duplicate", "身份证号")
                out.repeats[line] = out.line_of[number]
            else:
                out.people[number] = row
                out.line_of[number] = line
                if typed:
                    out.retyped[line] = typed
    return out


def suspects(registers: Mapping[str, RegisterFile], on: date) -> dict[str, set[str]]:
    """五查四比对: the four comparisons, for every school-age child any register names."""
    household, student, poverty, disability, present = (
        registers[name].people
        for name in ("household", "student", "poverty", "disability", "attendance")
    )

    def in_school(number: str) -> bool:
        return number in student and student[number]["学籍状态"] in IN_SCHOOL

    found: dict[str, set[str]] = {}
    for number in {*household, *student, *poverty, *disability, *present}:
        if years_old(born_on(number), on) not in SCHOOL_AGE:
            continue
        flags = set()
        if number in household and not in_school(number):
            flags.add("household_vs_student")  # 户籍 vs 学籍
        if number in poverty and not in_school(number):
            flags.add("poverty_vs_student")  # 扶贫 vs 学籍
        if number in disability and not in_school(number):
            flags.add("disability_vs_student")  # 残疾 vs 学籍
        if number in student and student[number]["学籍状态"] == STUDYING and number not in present:
            flags.add("student_vs_attendance")  # 学籍 vs 实际在校
        if flags:
            found[number] = flags
    return found


def from_files(c: County, folder: Path) -> tuple[dict[str, RegisterFile], dict[str, Any]]:
    """The registers as read back from the files the generator writes, and its truth file."""
    truth = json.loads(write_truth(c, folder / "truth.json").read_text(encoding="utf-8"))
    today = date.fromisoformat(truth["reference_date"])
    paths = write_registers(c, folder)
    return {name: read_register(path, name, today) for name, path in paths.items()}, truth


def flags_found(c: County, folder: Path) -> dict[str, set[str]]:
    registers, truth = from_files(c, folder)
    return suspects(registers, date.fromisoformat(truth["reference_date"]))


def declared_flags(c: County) -> dict[str, set[str]]:
    return {number: set(flags) for number, flags in c.truth.flags.items()}


# --- determinism ---------------------------------------------------------------------------


def _files(c: County, folder: Path) -> dict[str, bytes]:
    paths = write_registers(c, folder)
    paths["truth"] = write_truth(c, folder / "truth.json")
    return {name: path.read_bytes() for name, path in paths.items()}


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    first = _files(generate_county(11, children=800, reference_date=REFERENCE), tmp_path / "a")
    again = _files(generate_county(11, children=800, reference_date=REFERENCE), tmp_path / "b")
    other = _files(generate_county(12, children=800, reference_date=REFERENCE), tmp_path / "c")
    assert first == again
    for name in (*REGISTERS, "truth"):
        assert first[name] != other[name], name


def test_files_are_utf8_with_bom_and_chinese_headings(tmp_path: Path) -> None:
    paths = write_registers(county(), tmp_path)
    assert list(paths) == list(REGISTERS)
    for register, path in paths.items():
        assert path.name == f"{register}.csv"
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert tuple(rows[0]) == HEADINGS[register]
        assert len(rows) - 1 == len(county().registers[register])
        expected = [[row[h] for h in HEADINGS[register]] for row in county().registers[register]]
        assert rows[1:] == expected


def test_gbk_files_hold_the_same_rows(tmp_path: Path) -> None:
    paths = write_registers(county(), tmp_path, formats={"household": "gbk", "student": "gbk"})
    for register in ("household", "student"):
        text = paths[register].read_bytes().decode("gbk")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert rows == county().registers[register]


def test_xlsx_keeps_ids_as_text(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    paths = write_registers(county(), tmp_path, formats={"disability": "xlsx"})
    assert paths["disability"].suffix == ".xlsx"
    sheet = openpyxl.load_workbook(paths["disability"], read_only=True).worksheets[0]
    values = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    assert tuple(values[0]) == HEADINGS["disability"]
    expected = [[r[h] for h in HEADINGS["disability"]] for r in county().registers["disability"]]
    assert values[1:] == expected


def test_unknown_formats_and_registers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        register_bytes(county(), "student", "xls")
    with pytest.raises(ValueError, match="unknown register"):
        write_registers(county(), tmp_path, formats={"pupils": "csv"})


# --- validity of IDs -------------------------------------------------------------------------


def test_every_id_in_a_good_row_is_valid_and_every_planted_bad_id_is_not() -> None:
    c = county()
    for register in REGISTERS:
        rejects = c.truth.rejects[register]
        for line, row in enumerate(c.registers[register], start=2):
            raw = row["身份证号"]
            if rejects.get(line) in ("id_checksum", "id_birth_date"):
                with pytest.raises(InvalidIdNumber):
                    parse_id_number(raw, today=REFERENCE)
                continue
            resident = parse_id_number(raw, today=REFERENCE)
            assert (raw == resident.number) == (line not in c.truth.normalised[register])
            if register == "household":
                assert resident.region == REGION
            if register == "student" and line not in rejects:
                assert row["学籍号"] == f"G{resident.number}"


def test_people_have_unique_valid_ids_and_the_children_the_county_region() -> None:
    c = county()
    numbers = [x.id_number for x in c.children] + [g.id_number for g in c.guardians]
    assert len(set(numbers)) == len(numbers)
    for child in c.children:
        resident = parse_id_number(child.id_number, today=REFERENCE)
        assert (resident.birth_date, resident.sex) == (child.birth_date, child.sex)
        assert (resident.region == REGION) == child.resident
    assert sum(child.resident for child in c.children) == 3000


# --- the truth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "children", "reference"),
    [(1, 3000, REFERENCE), (2, 700, date(2024, 2, 29)), (3, 700, date(2025, 9, 1))],
)
def test_the_declared_truth_is_what_the_rules_find_in_the_register_files(
    seed: int, children: int, reference: date, tmp_path: Path
) -> None:
    registers, truth = from_files(county(seed, children, reference), tmp_path)
    assert truth["format"] == "caseflow-synthetic-truth/1"
    assert date.fromisoformat(truth["reference_date"]) == reference
    assert truth["age_band"] == [SCHOOL_AGE[0], SCHOOL_AGE[-1]]
    assert suspects(registers, reference) == {n: set(f) for n, f in truth["flags"].items()}
    for name, read in registers.items():
        assert {str(line): why for line, (why, _) in read.refused.items()} == (
            truth["rejects"][name]
        ), name
        assert {str(line): column for line, (_, column) in read.refused.items()} == (
            truth["reject_columns"][name]
        ), name
        assert {str(line): first for line, first in read.repeats.items()} == (
            truth["duplicate_of"][name]
        ), name
        assert {str(line): how for line, how in read.retyped.items()} == truth["normalised"][name]
        assert truth["rows"][name] == len(read.people) + len(read.refused), name


def test_every_kind_of_discrepancy_and_bad_row_is_planted() -> None:
    truth = county().truth
    fired = Counter(flag for flags in truth.flags.values() for flag in flags)
    assert set(fired) == set(FLAGS)
    # poverty/disability flags also come without the household one (a rejected 户籍 row).
    assert Counter(truth.scenarios.values()).keys() == SCENARIOS.keys()
    for register in REGISTERS:
        kinds = set(truth.rejects[register].values())
        expected = set(REJECT_KINDS)
        if register != "household":
            expected -= {"sex_mismatch", "birth_date_mismatch"}
        assert kinds == expected, register
        assert set(truth.normalised[register].values()) == set(NORMALISED_KINDS), register
        share = (len(truth.rejects[register]) + len(truth.normalised[register])) / truth.rows[
            register
        ]
        assert share <= 0.2, register
    assert 0.01 <= len(truth.rejects["household"]) / truth.rows["household"] <= 0.03


# What each scenario must come to when none of the child's rows was spoiled by a bad row.
NEEDS_SCHOOL = {
    "never_enrolled",
    "dropped_out_after_primary",
    "graduated_not_continuing",
    "transferred_out",
    "boundary_lower_on_reference_date",
    "boundary_day_before_upper",
}
NOT_PRESENT = {"hollow_enrolment", "send_teacher_home", "migrant_hollow"}
NOT_FLAGGED = set(SCENARIOS) - NEEDS_SCHOOL - NOT_PRESENT


def test_planted_scenarios_come_out_as_described(tmp_path: Path) -> None:
    c = county()
    good = {name: set(read.people) for name, read in from_files(c, tmp_path)[0].items()}
    checked: Counter[str] = Counter()
    for child in c.children:
        if child.scenario is None:
            continue
        belongs = {
            "household": child.resident,
            "student": child.enrolment is not None,
            "attendance": child.presence is not None,
            "poverty": child.poverty is not None,
            "disability": child.disability is not None,
        }
        if any(child.id_number not in good[r] for r, yes in belongs.items() if yes):
            continue  # a bad row took the child out of a register
        flags = c.truth.flags.get(child.id_number, frozenset())
        if child.scenario in NEEDS_SCHOOL:
            expected = {"household_vs_student"}
            expected |= {"poverty_vs_student"} if child.poverty else set()
            expected |= {"disability_vs_student"} if child.disability else set()
        elif child.scenario in NOT_PRESENT:
            expected = {"student_vs_attendance"}
        else:
            expected = set()
        assert flags == expected, (child.scenario, flags)
        checked[child.scenario] += 1
    assert checked.keys() == SCENARIOS.keys()


def test_the_age_band_edges_fall_on_the_reference_date() -> None:
    for reference in (REFERENCE, date(2024, 2, 29)):
        c = county(2, 700, reference)
        ages = {x.scenario: years_old(x.birth_date, reference) for x in c.children if x.scenario}
        assert ages["boundary_lower_on_reference_date"] == 6
        assert ages["boundary_day_before_lower"] == 5
        assert ages["boundary_day_before_upper"] == 15
        assert ages["boundary_upper_on_reference_date"] == 16


def test_out_of_age_children_with_gaps_are_never_flagged(tmp_path: Path) -> None:
    c = county()
    born = {x.id_number: x.birth_date for x in c.children}
    assert all(years_old(born[n], REFERENCE) in SCHOOL_AGE for n in c.truth.flags)
    registers = from_files(c, tmp_path)[0]
    student = registers["student"].people
    in_school = {n for n, row in student.items() if row["学籍状态"] in IN_SCHOOL}
    gaps = [
        n
        for r in ("household", "poverty", "disability")
        for n in set(registers[r].people) - in_school
        if years_old(born_on(n), REFERENCE) not in SCHOOL_AGE
    ]
    assert len(gaps) > 100  # little children, school leavers, guardians on 扶贫/残疾人


def test_bad_row_rate_zero_gives_clean_registers(tmp_path: Path) -> None:
    c = generate_county(4, children=500, reference_date=REFERENCE, bad_row_rate=0)
    assert not any(c.truth.rejects[r] or c.truth.normalised[r] for r in REGISTERS)
    assert flags_found(c, tmp_path) == declared_flags(c)


# --- realism -----------------------------------------------------------------------------------


def test_the_county_looks_like_a_county() -> None:
    c = county()
    residents = [x for x in c.children if x.resident]
    assert all(CHINESE_NAME.match(x.name) for x in c.children)
    assert all(CHINESE_NAME.match(g.name) and PHONE.match(g.phone) for g in c.guardians)
    assert {x.sex for x in c.children} == {"男", "女"}
    assert {len(x.name) for x in c.children} == {2, 3}
    assert {"土家族", "苗族", "汉族"} <= {x.ethnicity for x in c.children}
    assert c.townships[0].name == "峨岭街道" and len(c.townships) == 4
    villages = [v for t in c.townships for v in t.villages]
    assert all(v.name.endswith(("村", "社区")) and v.groups for v in villages)
    levels = Counter(s.level for s in c.schools)
    assert levels["特殊教育学校"] == 1 and levels["中学"] >= 4 and levels["小学"] >= 5
    ages = Counter(years_old(x.birth_date, REFERENCE) for x in residents)
    assert set(ages) == set(range(3, 18))
    assert 0.8 <= sum(ages[a] for a in range(6, 16)) / len(residents) <= 0.9
    households = {x.household for x in residents}
    poor = {x.household for x in residents if x.poverty}
    assert 0.07 <= len(poor) / len(households) <= 0.13
    assert {x.poverty for x in residents} == {None, "脱贫户", "监测户"}
    assert 0.008 <= sum(x.disability is not None for x in residents) / len(residents) <= 0.025
    statuses = Counter(row["学籍状态"] for row in c.registers["student"])
    assert set(statuses) - {""} == {"在读", "休学", "转出", "毕业"}
    assert statuses["在读"] > 0.9 * len(c.registers["student"])
    categories = {row["残疾类别"] for row in c.registers["disability"]}
    assert categories & {"视力", "听力", "言语", "肢体", "智力", "精神", "多重"}
    for line, row in enumerate(c.registers["disability"], start=2):
        if line not in c.truth.rejects["disability"]:
            number = as_typed(row["身份证号"])[0]
            assert row["残疾人证号"].startswith(number[:17])
            assert len(row["残疾人证号"]) == 20
    written = {row["出生日期"] for row in c.registers["household"]}
    assert {written_date(d).isoformat() == d for d in written} == {True, False}  # also 2014/3/5...


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="townships"):
        generate_county(1, townships=18, reference_date=REFERENCE)
    with pytest.raises(ValueError, match="region"):
        generate_county(1, region="52222", reference_date=REFERENCE)
    small = generate_county(1, children=5, townships=17, reference_date=REFERENCE)
    assert sum(x.resident for x in small.children) == 5
    assert flags_found(small, tmp_path) == declared_flags(small)


def test_generating_100_000_children_takes_seconds(record_property: pytest.RecordProperty) -> None:
    started = time.perf_counter()
    c = generate_county(1, children=100_000, townships=17, reference_date=REFERENCE)
    elapsed = time.perf_counter() - started
    record_property("seconds_for_100000_children", round(elapsed, 2))
    print(f"\n100,000 children generated in {elapsed:.2f} s")
    assert sum(x.resident for x in c.children) == 100_000
