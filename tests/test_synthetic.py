"""The synthetic county: deterministic, realistic, and its truth right.

The truth is checked against a small importer and comparison written here from the
issue's rules, independently of the generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import pytest

from caseflow.demo.county import (
    FLAGS,
    HEADINGS,
    NORMALISED_KINDS,
    REGISTERS,
    REJECT_KINDS,
    SCENARIOS,
    County,
    age_on,
    generate_county,
    read_truth,
    register_bytes,
    write_registers,
    write_truth,
)
from caseflow.errors import InvalidIdNumber
from caseflow.ids import check_character, normalise_id_number, parse_id_number

REFERENCE = date(2024, 9, 1)
REGION = "520625"
OPTIONAL = {"组", "户籍地址", "监护人", "联系电话", "残疾人证号", "民族"}
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")


@cache
def county(seed: int = 1, children: int = 3000, reference: date = REFERENCE) -> County:
    return generate_county(seed, children=children, reference_date=reference)


# --- an importer and a comparison written from the issue ---------------------------------


def _date(text: str) -> date:
    for pattern in (
        r"(\d{4})-(\d{1,2})-(\d{1,2})",
        r"(\d{4})/(\d{1,2})/(\d{1,2})",
        r"(\d{4})(\d{2})(\d{2})",
        r"(\d{4})年(\d{1,2})月(\d{1,2})日",
    ):
        match = re.fullmatch(pattern, text)
        if match:
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
    raise AssertionError(f"unexpected date format {text!r}")


def _born(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


@dataclass
class Imported:
    good: list[tuple[str, Mapping[str, str]]] = field(default_factory=list)  # (ID, row)
    rejects: dict[int, str] = field(default_factory=dict)
    columns: dict[int, str] = field(default_factory=dict)
    duplicate_of: dict[int, int] = field(default_factory=dict)
    normalised: dict[int, str] = field(default_factory=dict)

    def ids(self, status: Sequence[str] | None = None) -> set[str]:
        return {n for n, row in self.good if status is None or row["学籍状态"] in status}


def import_register(register: str, rows: Sequence[Mapping[str, str]]) -> Imported:
    out = Imported()
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):

        def reject(kind: str, column: str, line: int = line) -> None:
            out.rejects[line] = kind
            out.columns[line] = column

        blank = [h for h in HEADINGS[register] if h not in OPTIONAL and not row[h]]
        if blank:
            reject("missing_field", blank[0])
            continue
        raw = row["身份证号"]
        number = normalise_id_number(raw)
        try:
            parse_id_number(number, today=REFERENCE)
        except InvalidIdNumber:
            try:
                _born(number)
            except ValueError:
                reject("id_birth_date", "身份证号")
            else:
                assert check_character(number[:17]) != number[17]
                reject("id_checksum", "身份证号")
            continue
        if register == "household":
            if row["性别"] != ("男" if int(number[16]) % 2 else "女"):
                reject("sex_mismatch", "性别")
                continue
            if _date(row["出生日期"]) != _born(number):
                reject("birth_date_mismatch", "出生日期")
                continue
        if number in seen:
            reject("duplicate", "身份证号")
            out.duplicate_of[line] = seen[number]
            continue
        seen[number] = line
        if raw != number:
            full_width = any("０" <= c <= "９" for c in raw)
            out.normalised[line] = "full_width_digits" if full_width else "lowercase_x"
        out.good.append((number, row))
    return out


def import_all(c: County) -> dict[str, Imported]:
    return {r: import_register(r, c.registers[r]) for r in REGISTERS}


def compare(imported: Mapping[str, Imported], on: date) -> dict[str, frozenset[str]]:
    household = imported["household"].ids()
    poverty = imported["poverty"].ids()
    disability = imported["disability"].ids()
    studying = imported["student"].ids(("在读", "休学"))
    reading = imported["student"].ids(("在读",))
    present = imported["attendance"].ids()
    flags = {}
    for number in household | poverty | disability | reading:
        if not 6 <= age_on(_born(number), on) <= 15:
            continue
        fired = set()
        if number in household and number not in studying:
            fired.add("household_vs_student")
        if number in poverty and number not in studying:
            fired.add("poverty_vs_student")
        if number in disability and number not in studying:
            fired.add("disability_vs_student")
        if number in reading and number not in present:
            fired.add("student_vs_attendance")
        if fired:
            flags[number] = frozenset(fired)
    return flags


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


def test_truth_json_round_trips(tmp_path: Path) -> None:
    path = write_truth(county(), tmp_path / "truth.json")
    assert read_truth(path) == county().truth
    assert path.read_text(encoding="utf-8").count("caseflow-synthetic-truth/1") == 1


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
def test_truth_agrees_with_an_independent_import_and_comparison(
    seed: int, children: int, reference: date
) -> None:
    c = county(seed, children, reference)
    imported = import_all(c)
    for register in REGISTERS:
        got = imported[register]
        assert got.rejects == c.truth.rejects[register], register
        assert got.columns == c.truth.reject_columns[register], register
        assert got.duplicate_of == c.truth.duplicate_of[register], register
        assert got.normalised == c.truth.normalised[register], register
        assert c.truth.rows[register] == len(c.registers[register])
    assert compare(imported, reference) == c.truth.flags


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


def test_planted_scenarios_come_out_as_described() -> None:
    c = county()
    imported = import_all(c)
    good = {r: imported[r].ids() for r in REGISTERS}
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
        ages = {x.scenario: age_on(x.birth_date, reference) for x in c.children if x.scenario}
        assert ages["boundary_lower_on_reference_date"] == 6
        assert ages["boundary_day_before_lower"] == 5
        assert ages["boundary_day_before_upper"] == 15
        assert ages["boundary_upper_on_reference_date"] == 16


def test_out_of_age_children_with_gaps_are_never_flagged() -> None:
    c = county()
    born = {x.id_number: x.birth_date for x in c.children}
    assert all(6 <= age_on(born[n], REFERENCE) <= 15 for n in c.truth.flags)
    imported = import_all(c)
    studying = imported["student"].ids(("在读", "休学"))
    gaps = [
        n
        for r in ("household", "poverty", "disability")
        for n in imported[r].ids() - studying
        if not 6 <= age_on(_born(n), REFERENCE) <= 15
    ]
    assert len(gaps) > 100  # little children, school leavers, guardians on 扶贫/残疾人


def test_bad_row_rate_zero_gives_clean_registers() -> None:
    c = generate_county(4, children=500, reference_date=REFERENCE, bad_row_rate=0)
    assert not any(c.truth.rejects[r] or c.truth.normalised[r] for r in REGISTERS)
    assert compare(import_all(c), REFERENCE) == c.truth.flags


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
    ages = Counter(age_on(x.birth_date, REFERENCE) for x in residents)
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
            number = normalise_id_number(row["身份证号"])
            assert row["残疾人证号"].startswith(number[:17])
            assert len(row["残疾人证号"]) == 20
    written = {row["出生日期"] for row in c.registers["household"]}
    assert {_date(d).isoformat() == d for d in written} == {True, False}  # also 2014/3/5...


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="townships"):
        generate_county(1, townships=18, reference_date=REFERENCE)
    with pytest.raises(ValueError, match="region"):
        generate_county(1, region="52222", reference_date=REFERENCE)
    small = generate_county(1, children=5, townships=17, reference_date=REFERENCE)
    assert sum(x.resident for x in small.children) == 5
    assert compare(import_all(small), REFERENCE) == small.truth.flags


def test_generating_100_000_children_takes_seconds(record_property: pytest.RecordProperty) -> None:
    started = time.perf_counter()
    c = generate_county(1, children=100_000, townships=17, reference_date=REFERENCE)
    elapsed = time.perf_counter() - started
    record_property("seconds_for_100000_children", round(elapsed, 2))
    print(f"\n100,000 children generated in {elapsed:.2f} s")
    assert sum(x.resident for x in c.children) == 100_000
