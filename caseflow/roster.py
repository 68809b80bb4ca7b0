"""The five registers (五查四比对): read a register file, find its columns, check every row.

Pure apart from reading the file it is given and writing a rejects file: no database and
no clock (callers pass ``today``).

- :func:`read_table` turns the bytes of a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — tried
  in that order unless an encoding is forced) or XLSX file into headings and rows, each
  row with the line number a spreadsheet shows (the heading row is usually line 1).
- :func:`find_columns` matches headings, Chinese or English, in any order, to a source's
  fields (``--map 原列名=字段`` for other headings); extra columns are ignored and a
  missing required column is an :class:`~caseflow.errors.InvalidInput` naming it.
- :class:`RowChecker` validates each row as it is read (:func:`check_rows` does a whole
  table at once): nothing is dropped silently. A good row becomes a dict of ``roster_row``
  columns; a bad one becomes :class:`Problem` s (line, heading, masked value, reason) for
  the rejects file (:func:`write_rejects`). Duplicates within the file are found here: a
  resident ID (or student number) seen on an earlier good row rejects the later row,
  naming the earlier one.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from caseflow.dates import parse_date
from caseflow.errors import InvalidIdNumber, InvalidInput
from caseflow.ids import ResidentId, mask_id_number, normalise_id_number, parse_id_number

SOURCES: tuple[str, ...] = ("household", "student", "poverty", "disability", "attendance")
SOURCE_LABELS: Mapping[str, str] = {
    "household": "户籍",
    "student": "学籍",
    "poverty": "扶贫",
    "disability": "残疾人",
    "attendance": "实际在校生",
}

# Field -> roster_row column, where they differ.
COLUMN_OF: Mapping[str, str] = {"class": "class_name", "group": "group_name"}
DISABILITY_CATEGORIES: Mapping[str, str] = {
    "视力": "1",
    "听力": "2",
    "言语": "3",
    "肢体": "4",
    "智力": "5",
    "精神": "6",
    "多重": "7",
}
_GRADES: Mapping[str, int] = {
    **{str(n): n for n in range(1, 5)},
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "i": 1,
    "ii": 2,
    "iii": 3,
    "iv": 4,
}
_SEXES: Mapping[str, str] = {
    "男": "男",
    "女": "女",
    "男性": "男",
    "女性": "女",
    "m": "男",
    "f": "女",
    "male": "男",
    "female": "女",
    "1": "男",  # GB/T 2261.1
    "2": "女",
}

# Headings each field is known by (compared after _heading_key: NFKC, no spaces, lower case).
_HEADINGS: Mapping[str, tuple[str, ...]] = {
    "name": ("姓名", "学生姓名", "儿童姓名", "name", "full_name"),
    "id_number": (
        "身份证号",
        "身份证号码",
        "身份证",
        "公民身份号码",
        "公民身份证号",
        "公民身份证号码",
        "身份证件号",
        "身份证件号码",
        "证件号码",
        "id_number",
        "id_no",
        "idnumber",
        "resident_id",
    ),
    "sex": ("性别", "sex", "gender"),
    "birth_date": ("出生日期", "出生年月日", "生日", "birth_date", "birthdate", "date_of_birth"),
    "township": ("乡镇", "乡镇街道", "乡(镇)", "乡镇(街道)", "乡", "镇", "township", "town"),
    "village": ("村", "村居", "村(居)", "村(社区)", "行政村", "村委会", "社区", "village"),
    "group": ("组", "村民组", "村民小组", "group", "group_name"),
    "address": ("户籍地址", "户籍地", "住址", "地址", "家庭住址", "address"),
    "guardian": ("监护人", "监护人姓名", "guardian"),
    "phone": ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式", "监护人电话", "phone"),
    "student_number": ("学籍号", "全国学籍号", "学籍号码", "student_number", "student_no"),
    "school": ("学校", "学校名称", "就读学校", "school"),
    "grade": ("年级", "grade"),
    "class": ("班级", "班", "class", "class_name"),
    "status": ("学籍状态", "状态", "在校状态", "status"),
    "certificate": ("残疾人证号", "残疾证号", "残疾人证号码", "certificate"),
}
_SOURCE_HEADINGS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "poverty": {"category": ("类别", "户类别", "贫困户类别", "户类型", "人员类别", "category")},
    "disability": {
        "category": ("残疾类别", "残疾类型", "类别", "category"),
        "disability_grade": ("残疾等级", "等级", "grade", "disability_grade"),
    },
}


@dataclass(frozen=True)
class SourceSpec:
    """Which fields a source's file carries.

    ``required``: columns the file must have. ``optional``: read when present.
    ``needs_value``: fields every row must fill (a required column may be left blank in
    a row where it says nothing the comparison needs, e.g. a transferred student's class).
    ``one_of``: at least one of these columns, and in each row at least one value.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    needs_value: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.one_of + self.optional


SPECS: Mapping[str, SourceSpec] = {
    "household": SourceSpec(
        required=("name", "id_number", "sex", "birth_date", "township", "village"),
        optional=("group", "address", "guardian", "phone"),
        # sex and birth date, when blank, are read from the resident ID.
        needs_value=("name", "id_number", "township", "village"),
    ),
    "student": SourceSpec(
        required=("name", "id_number", "student_number", "school", "grade", "class", "status"),
        needs_value=("name", "id_number", "student_number", "school", "status"),
    ),
    "poverty": SourceSpec(
        required=("name", "id_number", "township", "village", "category"),
        needs_value=("name", "id_number", "township", "village", "category"),
    ),
    "disability": SourceSpec(
        required=("name", "id_number", "category", "disability_grade"),
        optional=("certificate",),
        needs_value=("name", "id_number", "category", "disability_grade"),
    ),
    "attendance": SourceSpec(
        required=("school", "name", "grade", "class"),
        one_of=("id_number", "student_number"),
        needs_value=("school", "name"),
    ),
}

# The names a field goes by in messages and in --map: the English name and the usual heading.
FIELD_LABELS: Mapping[str, str] = {
    "name": "姓名",
    "id_number": "身份证号",
    "sex": "性别",
    "birth_date": "出生日期",
    "township": "乡镇",
    "village": "村",
    "group": "组",
    "address": "户籍地址",
    "guardian": "监护人",
    "phone": "联系电话",
    "student_number": "学籍号",
    "school": "学校",
    "grade": "年级",
    "class": "班级",
    "status": "学籍状态",
    "certificate": "残疾人证号",
}
_SOURCE_FIELD_LABELS: Mapping[str, Mapping[str, str]] = {
    "poverty": {"category": "类别"},
    "disability": {"category": "残疾类别", "disability_grade": "残疾等级"},
}

_HEADER_SEARCH_ROWS = 10
_TIME_SUFFIX = re.compile(r"^(\S+)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")
_STUDENT_NUMBER = re.compile(r"^(?:[GJ]\d{17}[\dX]|L\d{18})$")
_ID_AS_NUMBER_HINT = (
    "; it looks like Excel stored the ID as a number, which keeps only 15 digits — "
    "format the column as text (文本) and export the file again"
)


def field_label(source: str, name: str) -> str:
    """``村 (village)``: how a field is named in messages."""
    chinese = _SOURCE_FIELD_LABELS.get(source, {}).get(name) or FIELD_LABELS.get(name, name)
    english = "grade" if (source, name) == ("disability", "disability_grade") else name
    return f"{chinese} ({english})"


# ---------------------------------------------------------------------------------------
# Reading files


@dataclass
class Table:
    """A sheet as rows of raw values: ``rows`` yields (line number, values), lazily."""

    format: str  # "csv" or "xlsx"
    encoding: str | None
    rows: Generator[tuple[int, list[Any]], None, None]
    estimated_rows: int | None = None  # lines in the file, heading included, if known


_DECODE_BLOCK = 1 << 20


def _fits(data: bytes, encoding: str) -> UnicodeDecodeError | None:
    """Does ``data`` decode? Checked in blocks, so a large file is never held as text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _DECODE_BLOCK):
            decoder.decode(view[start : start + _DECODE_BLOCK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return exc
    return None


def _encoding(data: bytes, encoding: str | None, file_name: str) -> str:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvalidInput(
                f"--encoding {encoding!r} is not an encoding Python knows; use utf-8, "
                "utf-8-sig, gbk or gb18030"
            ) from None
        error = _fits(data, encoding)
        if error is not None:
            line = data.count(b"\n", 0, _error_offset(data, encoding)) + 1
            raise InvalidInput(
                f"{file_name} cannot be read as {encoding}: line {line} holds bytes that are "
                "not valid there; try another --encoding or leave it out to detect the "
                "encoding"
            )
        return encoding
    if _fits(data, "utf-8") is None:
        return "utf-8-sig"  # reads UTF-8 with or without the BOM Excel writes
    if _fits(data, "gb18030") is None:
        return "gb18030"  # GB18030 reads GBK and GB2312 too
    raise InvalidInput(
        f"{file_name} is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8 or XLSX, "
        "or name its encoding with --encoding"
    )


def _error_offset(data: bytes, encoding: str) -> int:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start
    return len(data)


def _csv_rows(data: bytes, encoding: str) -> Generator[tuple[int, list[Any]], None, None]:
    end = data.find(b"\n")
    first_line = data[: end if end >= 0 else len(data)]
    delimiter = "\t" if b"\t" in first_line and b"," not in first_line else ","
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    yield from enumerate(csv.reader(text, delimiter=delimiter), start=1)


def _xlsx_rows(data: bytes, file_name: str) -> Generator[tuple[int, list[Any]], None, None]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InvalidInput(
            f"{file_name} cannot be opened as an XLSX workbook ({exc.__class__.__name__}); "
            "save it again from Excel or WPS as .xlsx, or as CSV"
        ) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # do not trust the size the writing program recorded
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        book.close()


def read_table(data: bytes, file_name: str, *, encoding: str | None = None) -> Table:
    """The rows of a CSV or XLSX file (the first sheet), by content and extension. A CSV
    file's encoding is checked here (UTF-8, else GB18030, unless ``encoding`` is given);
    rows are decoded as they are read."""
    suffix = Path(file_name).suffix.lower()
    if suffix == ".xls" and not data.startswith(b"PK"):
        raise InvalidInput(
            f"{file_name} is an old-style .xls workbook; save it from Excel or WPS as .xlsx "
            "or as CSV UTF-8 and import that"
        )
    if data.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        if encoding is not None:
            raise InvalidInput("--encoding applies to CSV files; an XLSX file names its own")
        return Table("xlsx", None, _xlsx_rows(data, file_name))
    used = _encoding(data, encoding, file_name)
    return Table("csv", used, _csv_rows(data, used), estimated_rows=data.count(b"\n") + 1)


# ---------------------------------------------------------------------------------------
# Headings


def _heading_key(heading: Any) -> str:
    text = unicodedata.normalize("NFKC", "" if heading is None else str(heading))
    text = text.replace("\ufeff", "").strip().lstrip("*").rstrip(":.").strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("_").replace("_(", "(")


def _without_note(key: str) -> str:
    """``出生日期(yyyymmdd)`` -> ``出生日期``."""
    return re.sub(r"\(.*\)$", "", key)


def _aliases(source: str) -> dict[str, str]:
    known: dict[str, str] = {}
    spec = SPECS[source]
    headings = {**_HEADINGS, **_SOURCE_HEADINGS.get(source, {})}
    for name in spec.fields:
        for heading in headings.get(name, (name,)):
            known.setdefault(_heading_key(heading), name)
        known.setdefault(_heading_key(name), name)
    return known


def parse_mapping(source: str, items: Iterable[str]) -> dict[str, str]:
    """``--map 原列名=字段`` options -> {heading key: field}; the field by its English name
    (``class``, ``grade``...) or its usual heading (``班级``)."""
    spec = SPECS[source]
    by_label = {_heading_key(FIELD_LABELS.get(n, n)): n for n in spec.fields}
    by_label.update({_heading_key(v): k for k, v in _SOURCE_FIELD_LABELS.get(source, {}).items()})
    if source == "disability":
        by_label["grade"] = "disability_grade"
    mapping: dict[str, str] = {}
    for item in items:
        heading, sep, target = item.partition("=")
        if not sep or not heading.strip() or not target.strip():
            raise InvalidInput(f"--map takes 原列名=字段, e.g. 户主村=village; got {item!r}")
        wanted = target.strip()
        name = wanted if wanted in spec.fields else by_label.get(_heading_key(wanted))
        if name is None:
            fields = ", ".join(field_label(source, n) for n in spec.fields)
            raise InvalidInput(
                f"--map {item!r}: {wanted!r} is not a field of the {source} register; "
                f"its fields are {fields}"
            )
        mapping[_heading_key(heading)] = name
    return mapping


@dataclass(frozen=True)
class Columns:
    """Where each field is in the sheet: field -> (index, heading as written)."""

    line: int  # the heading row's line number
    at: Mapping[str, tuple[int, str]]
    headings: tuple[str, ...]


def _match(
    source: str, headings: Sequence[Any], mapping: Mapping[str, str]
) -> dict[str, tuple[int, str]]:
    aliases = _aliases(source)
    mapped: dict[str, tuple[int, str]] = {}
    guessed: dict[str, list[tuple[int, str]]] = {}
    for index, raw in enumerate(headings):
        key = _heading_key(raw)
        if not key:
            continue
        written = str(raw).replace("\ufeff", "").strip()
        if key in mapping:
            mapped.setdefault(mapping[key], (index, written))
            continue
        name = aliases.get(key) or aliases.get(_without_note(key))
        if name is not None:
            guessed.setdefault(name, []).append((index, written))
    found = dict(mapped)
    for name, places in guessed.items():
        if name in found:
            continue  # --map chose the column for this field
        if len(places) > 1:
            both = " and ".join(written for _, written in places)
            raise InvalidInput(
                f"the columns {both} both look like {field_label(source, name)}; say which "
                f"to use with --map, e.g. --map {places[0][1]}={name}"
            )
        found[name] = places[0]
    return found


def _missing(source: str, found: Mapping[str, Any]) -> list[str]:
    spec = SPECS[source]
    missing = [name for name in spec.required if name not in found]
    if spec.one_of and not any(name in found for name in spec.one_of):
        missing.append(" or ".join(spec.one_of))
    return missing


def find_columns(
    source: str,
    rows: Iterator[tuple[int, list[Any]]],
    mapping: Mapping[str, str],
    file_name: str,
) -> Columns:
    """Find the heading row (the first with every required column, within the first rows
    that are not blank: a title row above the headings is skipped) and its fields."""
    best: tuple[int, int, list[Any], dict[str, tuple[int, str]]] | None = None
    seen = 0
    for line, values in rows:
        if _blank(values):
            continue
        found = _match(source, values, mapping)
        if not _missing(source, found):
            return Columns(line, found, tuple(_shown(v) for v in values))
        if best is None or len(found) > best[1]:
            best = (line, len(found), values, found)
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS:
            break
    if best is None:
        raise InvalidInput(f"{file_name} is empty: it has no heading row and no rows")
    _, _, values, found = best
    missing = _missing(source, found)
    names = ", ".join(
        " or ".join(field_label(source, n) for n in item.split(" or ")) for item in missing
    )
    shown = ", ".join(_shown(v) for v in values if _shown(v)) or "(none)"
    example = missing[0].split(" or ")[0]
    needs = "them" if len(missing) > 1 else "it"
    raise InvalidInput(
        f"{file_name} has no column for {names} (a {source} register needs {needs}); headings "
        f"found: {shown}. Rename the heading, or name it with --map HEADING={example}; "
        "nothing was imported"
    )


def _shown(value: Any) -> str:
    return "" if value is None else str(value).replace("\ufeff", "").strip()


def _blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


# ---------------------------------------------------------------------------------------
# Values


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; shorter numbers keep only their last 2 digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_value(name: str, value: str) -> str:
    """What the rejects file shows: resident IDs, student numbers (which hold an ID) and
    phone numbers masked; other values as written, so the row can be found and fixed."""
    if not value:
        return ""
    if name in ("id_number", "certificate"):
        return mask_id_number(normalise_id_number(value))
    if name == "student_number":
        cleaned = normalise_id_number(value)
        return cleaned[0] + mask_id_number(cleaned[1:]) if len(cleaned) > 9 else "*" * len(cleaned)
    if name == "phone":
        return mask_phone(value)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _date_value(value: Any, text: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    cleaned = unicodedata.normalize("NFKC", text).strip()
    timed = _TIME_SUFFIX.match(cleaned)
    if timed:
        cleaned = timed.group(1)
    try:
        return parse_date(cleaned)
    except InvalidInput:
        raise ValueError(
            f"birth date {text!r} is not a date; write 2014-03-05, 2014/3/5, 20140305 or "
            "2014年3月5日"
        ) from None


def normalise_student_number(text: str) -> str:
    return normalise_id_number(unicodedata.normalize("NFKC", text)).upper()


def _student_number(text: str) -> str:
    number = normalise_student_number(text)
    if not _STUDENT_NUMBER.match(number):
        raise ValueError(
            "student number must be G or J and the 18 characters of an ID number, or L and "
            "18 digits"
        )
    return number


def disability_category(text: str) -> str:
    """视力/听力/言语/肢体/智力/精神/多重 (with or without 残疾) or 1-7 -> "1".."7"."""
    key = unicodedata.normalize("NFKC", text).strip().removesuffix("残疾").removesuffix("类")
    if key in DISABILITY_CATEGORIES:
        return DISABILITY_CATEGORIES[key]
    if key.isdigit() and 1 <= int(key) <= 7:
        return str(int(key))
    raise ValueError(
        f"disability category {text!r} is not one of 视力, 听力, 言语, 肢体, 智力, 精神, 多重 "
        "or 1-7"
    )


def disability_grade(text: str) -> int:
    """一级-四级, 1-4, 1级, Ⅳ... -> 1..4."""
    key = unicodedata.normalize("NFKC", text).strip().lower().removesuffix("级")
    key = key.removeprefix("0") if len(key) == 2 and key.isdigit() else key
    if key in _GRADES:
        return _GRADES[key]
    raise ValueError(f"disability grade {text!r} is not one of 一级, 二级, 三级, 四级 or 1-4")


def parse_sex(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).strip().lower()
    if key in _SEXES:
        return _SEXES[key]
    raise ValueError(f"sex {text!r} is not 男 or 女")


# ---------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class Problem:
    """One line of the rejects file."""

    line: int
    column: str  # the heading as written in the file
    value: str  # masked
    reason: str


@dataclass
class Checked:
    """The outcome of checking a file: the good rows (the ``roster_row`` columns the file
    fills, with ``source`` and ``line``; the same keys in every row, no ``import_id``) and
    the problems of the bad ones."""

    source: str
    columns: Columns
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows_total: int = 0
    rows_rejected: int = 0
    format: str = "csv"
    encoding: str | None = None


Converter = Callable[[dict[str, Any], str, Any, "ResidentId | None"], None]


def _sex(record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None) -> None:
    sex = parse_sex(text)
    if resident is not None and sex != resident.sex:
        raise ValueError(f"sex {sex} disagrees with the resident ID, which encodes {resident.sex}")
    record["sex"] = sex


def _birth_date(record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None) -> None:
    born = _date_value(raw, text)
    if resident is not None and born != resident.birth_date:
        raise ValueError(f"birth date {born.isoformat()} disagrees with the resident ID")
    record["birth_date"] = born


def _student_number_field(
    record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None
) -> None:
    record["student_number"] = _student_number(text)


def _disability_category(
    record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None
) -> None:
    record["category"] = disability_category(text)


def _disability_grade(
    record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None
) -> None:
    record["disability_grade"] = disability_grade(text)


def _certificate(record: dict[str, Any], text: str, raw: Any, resident: ResidentId | None) -> None:
    record["certificate"] = normalise_student_number(text)


_CONVERTERS: Mapping[str, Converter] = {
    "sex": _sex,
    "birth_date": _birth_date,
    "student_number": _student_number_field,
    "disability_grade": _disability_grade,
    "certificate": _certificate,
}


class _Plan:
    """How to check the rows of one file: where each field is and what to do with it."""

    def __init__(self, source: str, columns: Columns):
        spec = SPECS[source]
        at = columns.at
        self.source = source
        self.headings = {name: heading for name, (_, heading) in at.items()}
        self.id_index = at["id_number"][0] if "id_number" in at else None
        converters = dict(_CONVERTERS)
        if source == "disability":
            converters["category"] = _disability_category
        self.fields: list[tuple[str, int, str, Converter | None]] = [
            (name, at[name][0], COLUMN_OF.get(name, name), converters.get(name))
            for name in spec.fields
            if name in at and name != "id_number"
        ]
        derived = ("id_number", "sex", "birth_date") if self.id_index is not None else ()
        self.columns = tuple(
            dict.fromkeys((*derived, *(column for _, _, column, _ in self.fields)))
        )
        self.needs = frozenset(name for name in spec.needs_value if name in at)
        self.one_of = tuple(name for name in spec.one_of if name in at)

    def problem(self, line: int, name: str, text: str, reason: str) -> Problem:
        return Problem(line, self.headings.get(name, ""), mask_value(name, text), reason)

    def required(self, line: int, name: str) -> Problem:
        return self.problem(
            line, name, "", f"{field_label(self.source, name)} is required but empty"
        )


class RowChecker:
    """Checks a table's rows as they are read: iterate it for the good rows (``roster_row``
    columns the file fills, with ``source`` and ``line``, the same keys in every row, no
    ``import_id``); the bad rows' problems and the counts are collected on the way.

    Finding the columns happens at construction, so a file lacking a required column is
    refused (:class:`~caseflow.errors.InvalidInput`) before anything is read or written.
    Blank rows are skipped: they hold nothing to import.
    """

    def __init__(
        self,
        source: str,
        table: Table,
        *,
        file_name: str,
        today: date,
        mapping: Mapping[str, str] | None = None,
    ):
        if source not in SPECS:
            raise InvalidInput(f"unknown register {source!r}; use one of: {', '.join(SOURCES)}")
        self.source = source
        self.table = table
        self.today = today
        self.columns = find_columns(source, table.rows, mapping or {}, file_name)
        self.plan = _Plan(source, self.columns)
        self.problems: list[Problem] = []
        self.rows_total = 0
        self.rows_rejected = 0

    @property
    def rows_good(self) -> int:
        return self.rows_total - self.rows_rejected

    def __iter__(self) -> Iterator[dict[str, Any]]:
        plan, today, source = self.plan, self.today, self.source
        seen_ids: dict[str, int] = {}
        seen_numbers: dict[str, int] = {}
        for line, values in self.table.rows:
            if _blank(values):
                continue
            self.rows_total += 1
            record, problems = _check(plan, line, values, today)
            if not problems:
                problems = _check_duplicates(plan, line, record, seen_ids, seen_numbers)
            if problems:
                self.rows_rejected += 1
                self.problems.extend(problems)
                continue
            record["source"] = source
            record["line"] = line
            yield record


def check_rows(
    source: str,
    table: Table,
    *,
    file_name: str,
    today: date,
    mapping: Mapping[str, str] | None = None,
) -> Checked:
    """Check every row of a table at once (see :class:`RowChecker`)."""
    checker = RowChecker(source, table, file_name=file_name, today=today, mapping=mapping)
    rows = list(checker)
    return Checked(
        source,
        checker.columns,
        rows=rows,
        problems=checker.problems,
        rows_total=checker.rows_total,
        rows_rejected=checker.rows_rejected,
        format=table.format,
        encoding=table.encoding,
    )


def _check(
    plan: _Plan, line: int, values: Sequence[Any], today: date
) -> tuple[dict[str, Any], list[Problem]]:
    record: dict[str, Any] = dict.fromkeys(plan.columns)
    problems: list[Problem] = []
    width = len(values)
    resident: ResidentId | None = None
    filled: set[str] = set()
    if plan.id_index is not None:
        raw = values[plan.id_index] if plan.id_index < width else None
        text = raw.strip() if type(raw) is str else _text(raw)
        if text:
            filled.add("id_number")
            try:
                resident = parse_id_number(text, today=today)
            except InvalidIdNumber as exc:
                problems.append(plan.problem(line, "id_number", text, _id_reason(exc, raw, text)))
            else:
                record["id_number"] = resident.number
                record["sex"] = resident.sex
                record["birth_date"] = resident.birth_date
        elif "id_number" in plan.needs:
            problems.append(plan.required(line, "id_number"))
    for name, index, column, convert in plan.fields:
        raw = values[index] if index < width else None
        text = raw.strip() if type(raw) is str else _text(raw)
        if not text:
            if name in plan.needs:
                problems.append(plan.required(line, name))
            continue
        filled.add(name)
        if convert is None:
            record[column] = text
            continue
        try:
            convert(record, text, raw, resident)
        except ValueError as exc:
            problems.append(plan.problem(line, name, text, str(exc)))
    if plan.one_of and not any(name in filled for name in plan.one_of):
        labels = " or ".join(field_label(plan.source, n) for n in SPECS[plan.source].one_of)
        problems.append(
            plan.problem(line, plan.one_of[0], "", f"{labels} is required but both are empty")
        )
    return record, problems


def _id_reason(exc: InvalidIdNumber, raw: Any, text: str) -> str:
    reason = exc.message
    if reason.startswith("resident ID ") and ": " in reason:  # the masked value is beside it
        reason = "resident ID: " + reason.split(": ", 1)[1]
    if isinstance(raw, float) or _SCIENTIFIC.match(text):
        reason += _ID_AS_NUMBER_HINT
    return reason


def _check_duplicates(
    plan: _Plan,
    line: int,
    record: dict[str, Any],
    seen_ids: dict[str, int],
    seen_numbers: dict[str, int],
) -> list[Problem]:
    number = record.get("id_number")
    if number:
        first = seen_ids.get(number)
        if first is not None:
            reason = f"duplicate: the same resident ID is on row {first}"
            return [plan.problem(line, "id_number", number, reason)]
    student_number = record.get("student_number")
    if student_number:
        first = seen_numbers.get(student_number)
        if first is not None:
            reason = f"duplicate: the same student number is on row {first}"
            return [plan.problem(line, "student_number", student_number, reason)]
    if number:
        seen_ids[number] = line
    if student_number:
        seen_numbers[student_number] = line
    return []


# ---------------------------------------------------------------------------------------
# The rejects file

REJECT_HEADINGS = ("行号", "列", "值", "原因")


def write_rejects(path: Path, problems: Iterable[Problem]) -> None:
    """CSV, UTF-8 with a BOM so that Excel and WPS open it as Chinese text. Created new:
    an existing file is never overwritten."""
    with path.open("x", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_HEADINGS)
        writer.writerows((p.line, p.column, p.value, p.reason) for p in problems)
