"""The five registers (五查四比对): read a register file, find its columns, check every row.

No database and no clock (callers pass ``today``): this module reads the file it is given
and checks it with DuckDB, in memory, column by column rather than row by row.

- Reading: a CSV file (UTF-8, UTF-8 with BOM, GBK/GB18030 — tried in that order unless an
  encoding is forced; anything but UTF-8 is transcoded to a UTF-8 scratch file in one
  streaming pass) or an XLSX workbook (its first sheet, read with openpyxl). Row numbers
  are those a spreadsheet shows (the heading row is usually line 1).
- :func:`find_columns` matches headings, Chinese or English, in any order, to a source's
  fields (``--map 原列名=字段`` for other headings); extra columns are ignored and a
  missing required column is an :class:`~caseflow.errors.InvalidInput` naming it.
- :class:`Checker` loads the rows into DuckDB — a well-formed UTF-8 CSV straight through
  DuckDB's CSV reader (checked to give the rows Python's ``csv`` would: one record per line,
  as wide as the headings), anything else (XLSX, ragged or oddly quoted CSV, blank lines)
  through Python's ``csv``/openpyxl and DuckDB's appender — and checks them all at once
  with the SQL that :func:`check_sql` builds: the resident ID (GB 11643 checksum, a real
  birth date, full-width digits and lowercase x normalised: :func:`normalised_id_sql`,
  :func:`id_problem_sql`), sex and birth date against the ID, required fields, student
  numbers, disability category and grade, and
  duplicates within the file (a resident ID or student number seen on an earlier good row
  rejects the later row, naming the earlier one). Values with few distinct spellings (sex,
  dates, categories, grades; student numbers that are not plain ASCII) are read by the
  Python rules below (:func:`parse_sex`, :func:`disability_grade`...) once per distinct
  value, so there is one definition of each rule. Nothing is dropped silently: each bad row
  becomes :class:`Problem` s (line, heading, masked value, reason) for the rejects file
  (:func:`write_rejects`), and the good rows can be written as a Parquet snapshot
  (:meth:`Checker.write_snapshot`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import unicodedata
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from caseflow.dates import parse_date
from caseflow.errors import InvalidIdNumber, InvalidInput, WorkspaceError
from caseflow.i18n import _, is_english
from caseflow.ids import (
    _CHECK_CHARACTERS,
    _EARLIEST_BIRTH,
    _PROVINCES,
    _WEIGHTS,
    mask_id_number,
    normalise_id_number,
)

if TYPE_CHECKING:
    import duckdb

SOURCES: tuple[str, ...] = ("household", "student", "poverty", "disability", "attendance")
SOURCE_LABELS: Mapping[str, str] = {
    "household": "户籍",
    "student": "学籍",
    "poverty": "扶贫",
    "disability": "残疾人",
    "attendance": "实际在校生",
}
# Other names a register goes by on the command line.
_SOURCE_ALIASES: Mapping[str, str] = {
    "户籍人口": "household",
    "建档立卡": "poverty",
    "残疾": "disability",
    "在校生": "attendance",
}


def list_text(items: Iterable[str]) -> str:
    """Items as a list in the current language: ``a、b、c`` or ``a, b, c``."""
    return (", " if is_english() else "、").join(items)


def source_label(source: str) -> str:
    """A register as a person names it: ``学籍（student）`` / ``student (学籍)``."""
    if is_english():
        return f"{source} ({SOURCE_LABELS.get(source, source)})"
    return f"{SOURCE_LABELS.get(source, source)}（{source}）"


def register_name(source: str) -> str:
    """A register in a sentence: ``学籍`` in Chinese, ``student`` in English."""
    return source if is_english() else SOURCE_LABELS.get(source, source)


def source_choices() -> str:
    return list_text(source_label(source) for source in SOURCES)


def resolve_source(text: str) -> str:
    """The register a person named, by its code (``student``) or its Chinese name
    (``学籍``); InvalidInput listing the registers for any other name."""
    key = unicodedata.normalize("NFKC", text).strip()
    if key.lower() in SOURCES:
        return key.lower()
    for source, label in SOURCE_LABELS.items():
        if key == label:
            return source
    if key in _SOURCE_ALIASES:
        return _SOURCE_ALIASES[key]
    raise InvalidInput(
        _("unknown register {given!r}; use one of: {choices}").format(
            given=text, choices=source_choices()
        )
    )


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
_STUDENT_NUMBER = re.compile(r"^(?:[GJ]\d{17}[\dX]|L\d{18})$")


def _id_as_number_hint() -> str:
    return _(
        "; it looks like Excel stored the ID as a number, which keeps only 15 digits — "
        "format the column as text (文本) and export the file again"
    )


def field_label(source: str, name: str) -> str:
    """``村（village）`` / ``村 (village)``: how a field is named in messages."""
    chinese = _SOURCE_FIELD_LABELS.get(source, {}).get(name) or FIELD_LABELS.get(name, name)
    english = "grade" if (source, name) == ("disability", "disability_grade") else name
    return f"{chinese} ({english})" if is_english() else f"{chinese}（{english}）"


# ---------------------------------------------------------------------------------------
# How large a register file may be

# The longest name a register row may give (a resident's name, a guardian's): longer is
# a rejected row. Chinese names are 2-4 characters, transliterated ones with ·
# (阿卜杜热合曼·买买提明) rarely 20.
NAME_MAX_CHARS = 50
# Excel's own limit for one cell; an XLSX part holding a longer run of text than this
# (about six bytes a character, escaped) was not written by a spreadsheet program.
_EXCEL_CELL_CHARS = 32_767
_XML_RUN_BYTES = _EXCEL_CELL_CHARS * 6


@dataclass(frozen=True)
class ImportLimits:
    """What a register file may hold (``caseflow.toml`` ``[import]``); beyond, the import
    is refused at once, before the file is read in full:

    ``max_rows``: rows (spreadsheet row numbers or CSV lines); ``max_columns``: a cell with
    a value further right than this; ``max_cell_chars``: characters in any value caseflow
    reads; ``max_xlsx_expanded_mb``: what an XLSX workbook (a zip archive) expands to."""

    max_rows: int = 2_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 1_000
    max_xlsx_expanded_mb: int = 512
    # Reject the 户籍 and 学籍 rows of children outside the compulsory-education ages at
    # the register's school year (the rule of `case open`); see docs/registers.md.
    reject_outside_age_band: bool = False

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str) -> ImportLimits:
        """From the ``[import]`` section of ``where`` (a caseflow.toml); WorkspaceError for
        an unknown key or a value that is not a positive whole number."""
        values: dict[str, Any] = {}
        known = set(cls.__dataclass_fields__)
        for key, value in section.items():
            if key not in known:
                raise WorkspaceError(
                    _("{where}: [import] has no setting {key!r}; the settings are {known}").format(
                        where=where, key=key, known=", ".join(sorted(known))
                    )
                )
            if key == "reject_outside_age_band":
                if not isinstance(value, bool):
                    raise WorkspaceError(
                        _("{where}: [import] {key} must be true or false").format(
                            where=where, key=key
                        )
                    )
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WorkspaceError(
                    _(
                        "{where}: [import] {key} must be a whole number above 0, got {value!r}"
                    ).format(where=where, key=key, value=value)
                )
            values[key] = value
        return cls(**values)


def _too_many_rows(file_name: str, limits: ImportLimits) -> InvalidInput:
    return InvalidInput(
        _(
            "{file} has more than {limit} rows, more than a register may hold "
            "([import] max_rows in caseflow.toml); nothing was imported. Split the file, or "
            "raise the limit if the register really is that large"
        ).format(file=file_name, limit=limits.max_rows)
    )


def _too_wide(file_name: str, line: int, column: int, limits: ImportLimits) -> InvalidInput:
    return InvalidInput(
        _(
            "{file}: row {line} has a value in column {column}, beyond the {limit} columns a "
            "register may have ([import] max_columns in caseflow.toml); nothing was "
            "imported. Delete the stray cells far to the right and save the file again"
        ).format(file=file_name, line=line, column=column, limit=limits.max_columns)
    )


def _cell_too_long(file_name: str, where: str, limit: int) -> InvalidInput:
    return InvalidInput(
        _(
            "{file}: {where} holds a value longer than {limit} characters "
            "([import] max_cell_chars in caseflow.toml); nothing was imported. A register "
            "value is a name, a number or a place: check that cell"
        ).format(file=file_name, where=where, limit=limit)
    )


def check_xlsx_archive(path: Path, file_name: str, limits: ImportLimits) -> None:
    """Refuses, before openpyxl reads anything, a workbook that expands to more than
    ``max_xlsx_expanded_mb`` (by its zip directory: Python never inflates a member beyond
    the size the directory declares) or whose sheets or shared strings hold a run of text
    longer than a spreadsheet cell can be (a "zip bomb": a few hundred KB that expand to
    one cell of hundreds of MB). One streaming pass over the XML, a block at a time."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # openpyxl reports a damaged workbook
    with archive:
        members = archive.infolist()
        expanded = sum(member.file_size for member in members)
        if expanded > limits.max_xlsx_expanded_mb * 1024 * 1024:
            raise InvalidInput(
                _(
                    "{file} expands to {size} MB, more than the {limit} MB an XLSX register "
                    "may ([import] max_xlsx_expanded_mb in caseflow.toml); nothing was "
                    "imported. Save it as CSV, or split it"
                ).format(
                    file=file_name,
                    size=expanded // (1024 * 1024),
                    limit=limits.max_xlsx_expanded_mb,
                )
            )
        long_run = re.compile(rb"<[^<]{%d}" % _XML_RUN_BYTES)
        for member in members:
            name = member.filename
            if not (name.startswith("xl/") and name.endswith(".xml")):
                continue
            try:
                stream = archive.open(member)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError):
                return  # openpyxl reports it
            with stream:
                run = 0  # bytes since the last "<", carried over from the previous block
                while True:
                    try:
                        block = stream.read(_BLOCK)
                    except (zipfile.BadZipFile, EOFError, OSError):
                        return  # openpyxl reports it
                    if not block:
                        break
                    first = block.find(b"<")
                    if first < 0:
                        run += len(block)
                    elif run + first > _XML_RUN_BYTES or long_run.search(block, first):
                        run = _XML_RUN_BYTES + 1
                    else:
                        run = len(block) - block.rfind(b"<") - 1
                    if run > _XML_RUN_BYTES:
                        raise InvalidInput(
                            _(
                                "{file}: {part} inside the workbook holds a run of text longer "
                                "than a spreadsheet cell can hold ({limit} characters): the "
                                "file is damaged or was built to exhaust the server; nothing "
                                "was imported"
                            ).format(file=file_name, part=name, limit=_EXCEL_CELL_CHARS)
                        )


# ---------------------------------------------------------------------------------------
# Reading files

_BLOCK = 1 << 20
_UTF8_CODECS = frozenset({"utf-8", "utf-8-sig"})  # codecs.lookup(name).name


# Bytes that whitespace in a value would need (UTF-8): ASCII whitespace but \n and \r,
# and the lead bytes of the other characters Python's str.strip() removes (U+0085, U+00A0:
# C2; U+1680: E1; U+2000-U+205F: E2; U+3000: E3).
_SPACE_BYTES = bytes([0x09, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0xC2, 0xE1, 0xE2, 0xE3])
_MARK_SPACES = bytes.maketrans(_SPACE_BYTES + b"\0", b"\0" * (len(_SPACE_BYTES) + 1))


class _Facts:
    """Accumulates :class:`FileFacts` over a file's blocks."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self.newlines = 0
        self.trailing = 0  # newlines after the last byte that is not \r or \n
        self.content = False
        self.returns = 0  # \r, and \r\n
        self.crlf = 0
        self.last_space = -1
        self.previous = b""

    def feed(self, block: bytes) -> None:
        self.digest.update(block)
        self.newlines += block.count(b"\n")
        stripped = block.rstrip(b"\r\n")
        if stripped:
            self.content = True
            self.trailing = block.count(b"\n", len(stripped))
        else:
            self.trailing += block.count(b"\n")
        self.returns += block.count(b"\r")
        self.crlf += block.count(b"\r\n") + (self.previous == b"\r" and block[:1] == b"\n")
        marked = block.translate(_MARK_SPACES).rfind(b"\0")
        if marked >= 0:
            self.last_space = self.size + marked
        self.size += len(block)
        self.previous = block[-1:]

    def facts(self) -> FileFacts:
        lines = self.newlines - self.trailing + (1 if self.content else 0)
        return FileFacts(self.digest.hexdigest(), lines, self.last_space, self.returns != self.crlf)


@dataclass(frozen=True)
class FileFacts:
    """One pass over a file's bytes: its SHA-256; its lines (blank lines at the end not
    counted), which the fast CSV path checks its count of records against; the offset of the
    last byte that may belong to whitespace (-1: none), and whether a \r stands alone —
    together they tell whether any value after the headings could need stripping."""

    sha256: str
    lines: int
    last_space: int = -1
    lone_return: bool = False

    def spaced_after(self, offset: int) -> bool:
        return self.lone_return or self.last_space >= offset


def scan_file(path: Path) -> FileFacts:
    facts = _Facts()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            facts.feed(block)
    return facts.facts()


class _Background:
    """A function run in a thread (file scans overlap DuckDB's work, which releases the
    GIL); :meth:`result` waits for it and re-raises what it raised."""

    def __init__(self, function: Callable[[], FileFacts]):
        import threading

        self._function = function
        self._result: FileFacts | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._function()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> FileFacts:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def check_readable(path: Path) -> bytes:
    """The first bytes of the file; InvalidInput when it cannot be read."""
    try:
        with path.open("rb") as stream:
            return stream.read(8)
    except FileNotFoundError:
        raise InvalidInput(
            _("{path} not found; give the path of a CSV or XLSX file").format(path=path)
        ) from None
    except IsADirectoryError:
        raise InvalidInput(
            _("{path} is a folder; give the path of a CSV or XLSX file").format(path=path)
        ) from None
    except PermissionError:
        raise InvalidInput(
            _("{path} cannot be read (permission denied)").format(path=path)
        ) from None


def file_format(path: Path, start: bytes, *, encoding: str | None) -> str:
    """``csv`` or ``xlsx``, by content and extension; an old ``.xls`` is refused."""
    suffix = path.suffix.lower()
    if suffix == ".xls" and not start.startswith(b"PK"):
        raise InvalidInput(
            _(
                "{file} is an old-style .xls workbook; save it from Excel or WPS as .xlsx or "
                "as CSV UTF-8 and import that"
            ).format(file=path.name)
        )
    if start.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        if encoding is not None:
            raise InvalidInput(_("--encoding applies to CSV files; an XLSX file names its own"))
        return "xlsx"
    return "csv"


def codec_name(encoding: str) -> str:
    """Python's name for ``--encoding``; InvalidInput for one Python does not know."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InvalidInput(
            _(
                "--encoding {encoding!r} is not an encoding Python knows; use utf-8, "
                "utf-8-sig, gbk or gb18030"
            ).format(encoding=encoding)
        ) from None


class _Undecodable(Exception):
    """The file's bytes are not text in the encoding tried."""

    def __init__(self, encoding: str, path: Path):
        super().__init__(encoding, str(path))
        self.encoding = encoding
        self.path = path

    @property
    def line(self) -> int:
        """The line holding the first byte that does not decode."""
        return _first_error_line(self.path, self.encoding) or 1


def _first_error_line(path: Path, encoding: str) -> int | None:
    """The line holding the first byte that does not decode, or None if all decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    with path.open("rb") as stream:
        while True:
            block = stream.read(_BLOCK)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                offset = consumed - len(pending) + exc.start
                with path.open("rb") as again:
                    head = again.read(max(offset, 0))
                return head.count(b"\n") + 1
            if not block:
                return None
            consumed += len(block)


def transcode(path: Path, encoding: str, target: Path) -> FileFacts:
    """Write the text of ``path`` (in ``encoding``) to ``target`` as UTF-8, in one streaming
    pass; return the facts of ``target``. :class:`_Undecodable` when a byte does not
    decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    facts = _Facts()
    try:
        with path.open("rb") as source, target.open("wb") as out:
            while True:
                block = source.read(_BLOCK)
                text = decoder.decode(block, final=not block)
                encoded = text.encode("utf-8")
                facts.feed(encoded)
                out.write(encoded)
                if not block:
                    break
    except UnicodeDecodeError:
        target.unlink(missing_ok=True)
        raise _Undecodable(encoding, path) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return facts.facts()


_FIRST_LINE_BYTES = 1 << 20  # enough to tell the delimiter; a file of one endless line stops here


def _first_line(path: Path) -> bytes:
    chunks: list[bytes] = []
    read = 0
    with path.open("rb") as stream:
        while read < _FIRST_LINE_BYTES and (block := stream.read(1 << 16)):
            end = block.find(b"\n")
            if end >= 0:
                chunks.append(block[:end])
                break
            chunks.append(block)
            read += len(block)
    return b"".join(chunks)


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file as Python's ``csv`` reads it: where the heading row is, and how wide."""

    path: Path  # the file read: the original, or its UTF-8 transcoding
    encoding: str  # how to read ``path``
    delimiter: str
    columns: Columns
    header_lines: int  # physical lines up to and including the heading row
    width: int  # fields in the heading row
    file_name: str = ""  # as the person named it (``path`` may be a scratch transcoding)

    def header_bytes(self) -> int:
        """Where the line after the heading row starts (counting \n as line ends)."""
        offset = 0
        with self.path.open("rb") as stream:
            for _line in range(self.header_lines):
                line = stream.readline()
                if not line:
                    break
                offset += len(line)
        return offset


def csv_layout(
    source: str, path: Path, encoding: str, mapping: Mapping[str | int, str], file_name: str
) -> CsvLayout:
    """Find the heading row (Python's ``csv``, reading only as far as the headings).
    :class:`_Undecodable` when the bytes read so far are not ``encoding``."""
    first = _first_line(path)
    delimiter = "\t" if b"\t" in first and b"," not in first else ","
    try:
        with path.open(encoding=encoding, newline="") as stream:
            reader = csv.reader(stream, delimiter=delimiter)
            consumed = [0]

            def records() -> Iterator[tuple[int, list[Any]]]:
                for number, values in enumerate(reader, start=1):
                    consumed[0] = reader.line_num
                    yield number, values

            columns = find_columns(source, records(), mapping, file_name)
    except UnicodeDecodeError:
        raise _Undecodable(encoding, path) from None
    except csv.Error as exc:
        raise _unreadable_csv(file_name, consumed[0] + 1, exc) from None
    return CsvLayout(
        path, encoding, delimiter, columns, consumed[0], len(columns.headings), file_name
    )


def _unreadable_csv(file_name: str, line: int, error: csv.Error) -> InvalidInput:
    """Python's ``csv`` gave up on a record: a field beyond its limit (131,072
    characters), a NUL byte..."""
    return InvalidInput(
        _(
            "{file}: the record at line {line} cannot be read as CSV ({error}); nothing was "
            "imported. Check that line, or save the register as XLSX"
        ).format(file=file_name, line=line, error=error)
    )


def csv_rows(layout: CsvLayout) -> Generator[tuple[int, list[Any]], None, None]:
    """The records after the heading row, numbered as a spreadsheet numbers them.
    :class:`_Undecodable` when a byte is not ``layout.encoding``."""
    number = 0
    try:
        with layout.path.open(encoding=layout.encoding, newline="") as stream:
            for number, values in enumerate(
                csv.reader(stream, delimiter=layout.delimiter), start=1
            ):
                if number > layout.columns.line:
                    yield number, values
    except UnicodeDecodeError:
        raise _Undecodable(layout.encoding, layout.path) from None
    except csv.Error as exc:
        raise _unreadable_csv(layout.file_name, number + 1, exc) from None


def _first_sheet(path: Path, file_name: str) -> tuple[Any, Any, Any]:
    """openpyxl's reader of the workbook (shared strings, styles and dates read), the
    workbook, and the path of its first worksheet inside the archive. Not
    ``load_workbook``: it sizes every sheet that records no dimension by parsing the whole
    sheet once more before a row is read."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader: Any = None
    try:
        reader = ExcelReader(str(path), read_only=True, data_only=True)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        target = next(
            rel.target
            for _sheet, rel in reader.parser.find_sheets()
            if "chartsheet" not in rel.Type and rel.target in reader.valid_files
        )
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        if reader is not None:
            reader.archive.close()
        raise InvalidInput(
            _(
                "{file} cannot be opened as an XLSX workbook ({kind}); save it again from "
                "Excel or WPS as .xlsx, or as CSV"
            ).format(file=file_name, kind=exc.__class__.__name__)
        ) from None
    return reader, reader.wb, target


def _parsed(parser: Any, file_name: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """The parser's rows; a sheet whose XML or compression is broken part way through is
    InvalidInput, not a traceback."""
    rows = parser.parse()
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # the XML parser's, zipfile's, openpyxl's own
            raise InvalidInput(
                _(
                    "{file} cannot be opened as an XLSX workbook ({kind}); save it again from "
                    "Excel or WPS as .xlsx, or as CSV"
                ).format(file=file_name, kind=exc.__class__.__name__)
            ) from None
        yield row


def xlsx_rows(
    path: Path, file_name: str, limits: ImportLimits | None = None
) -> Generator[tuple[int, list[Any]], None, None]:
    """The rows of the first sheet of an XLSX workbook, with their row numbers (rows the
    sheet leaves out are not yielded), read as a stream (openpyxl's read-only parser).
    Refused at once: a workbook that expands too far (:func:`check_xlsx_archive`), a row
    number far beyond ``max_rows``, a value beyond ``max_columns`` (the cells of a row are
    never padded out to a stray cell far to the right)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    limits = limits or ImportLimits()
    check_xlsx_archive(path, file_name, limits)
    reader, book, target = _first_sheet(path, file_name)
    try:
        with reader.archive.open(target) as source:
            parser = WorkSheetParser(
                source,
                reader.shared_strings,
                data_only=True,
                epoch=book.epoch,
                date_formats=getattr(book, "_date_formats", set()),
                timedelta_formats=getattr(book, "_timedelta_formats", set()),
            )
            for number, cells in _parsed(parser, file_name):
                if number > limits.max_rows + _HEADER_SEARCH_ROWS * 2:  # headings, titles
                    raise _too_many_rows(file_name, limits)
                values: list[Any] = []
                for cell in cells:
                    column, value = cell["column"], cell["value"]
                    if column > limits.max_columns:
                        if value is None or (isinstance(value, str) and not value.strip()):
                            continue
                        raise _too_wide(file_name, number, column, limits)
                    if column > len(values):
                        values.extend([None] * (column - 1 - len(values)))
                        values.append(value)
                    else:
                        values[column - 1] = value
                yield number, values
    finally:
        reader.archive.close()


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


# ``--map`` keys: a heading key (str), or a column's position counted from 1 (int).
_POSITION = re.compile(r"^(?:第\s*)?(\d{1,5})(?:\s*列)?$")


def column_name(position: int) -> str:
    """``第7列`` / ``column 7``: a column by its position (counted from 1)."""
    return _("column {position}").format(position=position)


def parse_mapping(source: str, items: Iterable[str]) -> dict[str | int, str]:
    """``--map 原列名=字段`` options -> {heading key or column position: field}; the field by
    its English name (``class``, ``grade``...) or its usual heading (``班级``). A number on
    the left (``7=name`` or ``第7列=name``) names the column by its position, counted from
    1, for a file whose headings repeat or are missing."""
    spec = SPECS[source]
    by_label = {_heading_key(FIELD_LABELS.get(n, n)): n for n in spec.fields}
    by_label.update({_heading_key(v): k for k, v in _SOURCE_FIELD_LABELS.get(source, {}).items()})
    if source == "disability":
        by_label["grade"] = "disability_grade"
    mapping: dict[str | int, str] = {}
    for item in items:
        heading, sep, target = item.partition("=")
        if not sep or not heading.strip() or not target.strip():
            raise InvalidInput(
                _(
                    "--map takes HEADING=FIELD or POSITION=FIELD, e.g. 户主村=village or "
                    "7=name; got {item!r}"
                ).format(item=item)
            )
        wanted = target.strip()
        name = wanted if wanted in spec.fields else by_label.get(_heading_key(wanted))
        if name is None:
            fields = list_text(field_label(source, n) for n in spec.fields)
            raise InvalidInput(
                _(
                    "--map {item!r}: {wanted!r} is not a field of the {register} register; "
                    "its fields are {fields}"
                ).format(item=item, wanted=wanted, register=register_name(source), fields=fields)
            )
        position = _POSITION.match(unicodedata.normalize("NFKC", heading).strip())
        if position is not None:
            number = int(position.group(1))
            if number < 1:
                raise InvalidInput(
                    _("--map {item!r}: columns are counted from 1").format(item=item)
                )
            mapping[number] = name
        else:
            mapping[_heading_key(heading)] = name
    return mapping


@dataclass(frozen=True)
class Columns:
    """Where each field is in the sheet: field -> (index, heading as written)."""

    line: int  # the heading row's line number
    at: Mapping[str, tuple[int, str]]
    headings: tuple[str, ...]


def _places(places: Sequence[tuple[int, str]]) -> str:
    """``第3列、第7列``."""
    return list_text(column_name(index + 1) for index, _written in places)


def _match(
    source: str, headings: Sequence[Any], mapping: Mapping[str | int, str]
) -> dict[str, tuple[int, str]]:
    aliases = _aliases(source)
    by_position: dict[str, tuple[int, str]] = {}
    mapped: dict[str, list[tuple[int, str]]] = {}
    guessed: dict[str, list[tuple[int, str]]] = {}
    for index, raw in enumerate(headings):
        key = _heading_key(raw)
        written = _shown(raw)
        if index + 1 in mapping:
            by_position[mapping[index + 1]] = (index, written or column_name(index + 1))
            continue
        if not key:
            continue
        if key in mapping:
            mapped.setdefault(mapping[key], []).append((index, written))
            continue
        name = aliases.get(key) or aliases.get(_without_note(key))
        if name is not None:
            guessed.setdefault(name, []).append((index, written))
    found = dict(by_position)
    for group in (mapped, guessed):
        for name, places in group.items():
            if name in found:
                continue  # --map chose the column for this field
            if len(places) > 1:
                raise InvalidInput(_ambiguous(source, name, places))
            found[name] = places[0]
    return found


def _ambiguous(source: str, name: str, places: Sequence[tuple[int, str]]) -> str:
    """Two columns could be one field: name them by position, and how to choose."""
    example = f"--map {places[-1][0] + 1}={name}"
    headings = list_text(dict.fromkeys(f"“{written}”" for _index, written in places))
    return _(
        "{places} (headed {headings}) all look like {field}; nothing was imported. Say "
        "which one to use by its position, e.g. {example}"
    ).format(
        places=_places(places), headings=headings, field=field_label(source, name), example=example
    )


def _missing(source: str, found: Mapping[str, Any]) -> list[str]:
    spec = SPECS[source]
    missing = [name for name in spec.required if name not in found]
    if spec.one_of and not any(name in found for name in spec.one_of):
        missing.append(" or ".join(spec.one_of))
    return missing


def find_columns(
    source: str,
    rows: Iterator[tuple[int, list[Any]]],
    mapping: Mapping[str | int, str],
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
        raise InvalidInput(
            _("{file} is empty: it has no heading row and no rows").format(file=file_name)
        )
    _line, _count, values, found = best
    missing = _missing(source, found)
    names = list_text(
        _(" or ").join(field_label(source, n) for n in item.split(" or ")) for item in missing
    )
    shown = list_text(_shown(v) for v in values if _shown(v)) or _("(none)")
    example = missing[0].split(" or ")[0]
    raise InvalidInput(
        (
            _(
                "{file} has no column for {fields} (a {register} register needs it); "
                "headings found: {headings}. Rename the heading, or name it with --map "
                "HEADING={example}; nothing was imported"
            )
            if len(missing) == 1
            else _(
                "{file} has no column for {fields} (a {register} register needs them); "
                "headings found: {headings}. Rename the heading, or name it with --map "
                "HEADING={example}; nothing was imported"
            )
        ).format(
            file=file_name,
            fields=names,
            register=register_name(source),
            headings=shown,
            example=example,
        )
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
            _(
                "birth date {value!r} is not a date; write 2014-03-05, 2014/3/5, 20140305 or "
                "2014年3月5日"
            ).format(value=text)
        ) from None


def normalise_student_number(text: str) -> str:
    return normalise_id_number(unicodedata.normalize("NFKC", text)).upper()


def _student_number(text: str) -> str:
    number = normalise_student_number(text)
    if not _STUDENT_NUMBER.match(number):
        raise ValueError(_student_number_problem())
    return number


def disability_category(text: str) -> str:
    """视力/听力/言语/肢体/智力/精神/多重 (with or without 残疾) or 1-7 -> "1".."7"."""
    key = unicodedata.normalize("NFKC", text).strip().removesuffix("残疾").removesuffix("类")
    if key in DISABILITY_CATEGORIES:
        return DISABILITY_CATEGORIES[key]
    if key.isdigit() and 1 <= int(key) <= 7:
        return str(int(key))
    raise ValueError(
        _(
            "disability category {value!r} is not one of 视力, 听力, 言语, 肢体, 智力, 精神, "
            "多重 or 1-7"
        ).format(value=text)
    )


def disability_grade(text: str) -> int:
    """一级-四级, 1-4, 1级, Ⅳ... -> 1..4."""
    key = unicodedata.normalize("NFKC", text).strip().lower().removesuffix("级")
    key = key.removeprefix("0") if len(key) == 2 and key.isdigit() else key
    if key in _GRADES:
        return _GRADES[key]
    raise ValueError(
        _("disability grade {value!r} is not one of 一级, 二级, 三级, 四级 or 1-4").format(
            value=text
        )
    )


def parse_sex(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).strip().lower()
    if key in _SEXES:
        return _SEXES[key]
    raise ValueError(_("sex {value!r} is not 男 or 女").format(value=text))


@dataclass(frozen=True)
class Problem:
    """One line of the rejects file."""

    line: int
    column: str  # the heading as written in the file
    value: str  # masked
    reason: str


# ---------------------------------------------------------------------------------------
# The rules as SQL column expressions (pure text builders, run by DuckDB)

# What Python's str.strip() removes (the characters for which str.isspace() is true).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
_ID_FROM = "".join(chr(0xFF10 + d) for d in range(10)) + "Ｘｘx \u3000-－"
# SQL translate(): full-width digits become digits, Ｘ/ｘ/x become X, and the spaces and
# hyphens (no counterpart in _ID_TO) are dropped.
_ID_TO = "0123456789XXX"
_SCIENTIFIC_SQL = r"[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+"
_STUDENT_NUMBER_SQL = "[GJ][0-9]{17}[0-9X]|L[0-9]{18}"
# Sex and birth date of a valid ID, from its ID_PARTS (the serial's parity is digit 17's).
_RESIDENT_SEX = "CASE WHEN x17 % 2 = 1 THEN '男' ELSE '女' END"
_RESIDENT_BIRTH = "make_date(y, m, d)"


def _student_number_problem() -> str:
    return _(
        "student number must be G or J and the 18 characters of an ID number, or L and 18 digits"
    )


# Columns of a snapshot (the Parquet file of an import's good rows), in order, with types.
SNAPSHOT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line", "BIGINT"),
    ("id_number", "VARCHAR"),
    ("name", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("birth_date", "DATE"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("group_name", "VARCHAR"),
    ("address", "VARCHAR"),
    ("guardian", "VARCHAR"),
    ("phone", "VARCHAR"),
    ("student_number", "VARCHAR"),
    ("school", "VARCHAR"),
    ("grade", "VARCHAR"),
    ("class_name", "VARCHAR"),
    ("status", "VARCHAR"),
    ("category", "VARCHAR"),
    ("disability_grade", "INTEGER"),
    ("certificate", "VARCHAR"),
)


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _is_space(code: str) -> str:
    """SQL: the code point ``code`` is whitespace (``code`` is evaluated once)."""
    return f"{code} IN ({', '.join(str(ord(c)) for c in WHITESPACE)})"


def strip_sql(value: str) -> str:
    """SQL for Python's ``(value or "").strip()``: a cheap look at the first and the last
    character, and a regular expression only for a value that needs one."""
    edges = f"{_is_space(f'ascii({value})')} OR {_is_space(f'ascii(right({value}, 1))')}"
    pattern = sql_text(f"^{_SPACE_CLASS}+|{_SPACE_CLASS}+$")
    return (
        f"CASE WHEN {value} IS NULL THEN '' WHEN NOT ({edges}) THEN {value} "
        f"ELSE regexp_replace({value}, {pattern}, '', 'g') END"
    )


def strip_codes_sql(value: str) -> str:
    """The first and last code points of ``value`` (for :func:`stripped_sql`)."""
    return f"ascii({value}) AS a_{value}, unicode(right({value}, 1)) AS z_{value}"


def stripped_sql(value: str) -> str:
    """:func:`strip_sql` of a column whose :func:`strip_codes_sql` are at hand."""
    pattern = sql_text(f"^{_SPACE_CLASS}+|{_SPACE_CLASS}+$")
    edges = f"{_is_space(f'a_{value}')} OR {_is_space(f'z_{value}')}"
    return (
        f"CASE WHEN {value} IS NULL THEN '' WHEN NOT ({edges}) THEN {value} "
        f"ELSE regexp_replace({value}, {pattern}, '', 'g') END"
    )


def blank_sql(value: str) -> str:
    """SQL: ``value`` is NULL or whitespace only."""
    return f"({value} IS NULL OR regexp_full_match({value}, {sql_text(_SPACE_CLASS + '*')}))"


def _is_ascii(text: str) -> str:
    return f"strlen({text}) = length({text})"


def normalised_id_sql(text: str) -> str:
    """SQL for :func:`caseflow.ids.normalise_id_number` of a stripped ``text``: full-width
    digits and any x made ASCII, spaces and hyphens dropped. Plain ASCII without a space,
    hyphen or x is left as it is without the (slower) ``translate``."""
    plain = (
        f"{_is_ascii(text)} AND NOT contains({text}, ' ') AND NOT contains({text}, '-') "
        f"AND NOT contains({text}, 'x')"
    )
    translated = f"translate({text}, {sql_text(_ID_FROM)}, {sql_text(_ID_TO)})"
    return f"CASE WHEN {plain} THEN {text} ELSE {strip_sql(translated)} END"


# The parts of a normalised resident ID ``n`` that the checks use, as columns computed
# once from its first 17 digits as one integer (NULL where they are not digits): the
# birth date as the integer YYYYMMDD, and its year, month and day.
ID_PARTS: Mapping[str, str] = {
    "x17": "TRY_CAST(substr(n, 1, 17) AS BIGINT)",
    "ymd": "x17 // 1000 % 100000000",
    "y": "x17 // 10000000 % 10000",
    "m": "x17 // 100000 % 100",
    "d": "x17 // 1000 % 100",
}


def _province_sql(code: str) -> str:
    ranges: list[tuple[int, int]] = []
    for value in sorted(int(p) for p in _PROVINCES):
        if ranges and ranges[-1][1] == value - 1:
            ranges[-1] = (ranges[-1][0], value)
        else:
            ranges.append((value, value))
    return "(" + " OR ".join(f"{code} BETWEEN {low} AND {high}" for low, high in ranges) + ")"


def id_problem_sql(today: date) -> str:
    """SQL: why the normalised resident ID ``n`` is not valid (the reason the rejects file
    gives, :func:`id_reason`), or NULL when it is; it reads the :data:`ID_PARTS` columns.
    The checks and their order are those of :func:`caseflow.ids.parse_id_number`; they
    are integer arithmetic on the first 17 digits once the shape is right."""
    leap = "(y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0"
    days = (
        "CASE WHEN m IN (1, 3, 5, 7, 8, 10, 12) THEN 31 "
        f"WHEN m IN (4, 6, 9, 11) THEN 30 WHEN {leap} THEN 29 ELSE 28 END"
    )
    total = " + ".join(
        f"x17 // {10 ** (17 - i)} % 10 * {w}" for i, w in enumerate(_WEIGHTS, start=1)
    )
    check = f"substr({sql_text(_CHECK_CHARACTERS)}, CAST(({total}) % 11 + 1 AS INTEGER), 1)"
    earliest = _EARLIEST_BIRTH.strftime("%Y%m%d")
    first_bad = "CAST(length(regexp_extract(n, '^[0-9]*')) + 1 AS VARCHAR)"

    def reason(problem: str, **parts: str) -> str:
        """The reason as SQL: ``problem`` with each ``{part}`` replaced by SQL's value."""
        text = sql_text(_("resident ID: {problem}").format(problem=problem))
        for name, value in parts.items():
            text = f"replace({text}, {sql_text('{' + name + '}')}, {value})"
        return text

    return (
        "CASE WHEN regexp_full_match(n, '[0-9]{17}[0-9X]') "
        f"AND {_province_sql('x17 // 1000000000000000')} THEN CASE "
        f"WHEN NOT (y >= 1 AND m BETWEEN 1 AND 12 AND d BETWEEN 1 AND {days}) THEN "
        + reason(_("birth date (digits 7-14) is not a real calendar date"))
        + " "
        f"WHEN ymd > {today.strftime('%Y%m%d')} THEN "
        + reason(
            _("birth date (digits 7-14) is in the future (after {today})").format(
                today=today.isoformat()
            )
        )
        + f" WHEN ymd < {earliest} THEN "
        + reason(
            _("birth date (digits 7-14) is before {earliest}").format(
                earliest=_EARLIEST_BIRTH.isoformat()
            )
        )
        + f" WHEN substr(n, 18, 1) <> {check} THEN "
        + reason(
            _("check character should be {expected}, got {got}"),
            expected=check,
            got="substr(n, 18, 1)",
        )
        + " END "
        "WHEN n = '' THEN " + reason(_("enter the 18-character ID number")) + " "
        "WHEN length(n) <> 18 THEN "
        + reason(_("must be 18 characters, got {length}"), length="CAST(length(n) AS VARCHAR)")
        + " WHEN NOT regexp_full_match(substr(n, 1, 17), '[0-9]{17}') THEN "
        + reason(_("character {position} must be a digit"), position=first_bad)
        + " WHEN NOT regexp_full_match(substr(n, 18, 1), '[0-9X]') THEN "
        + reason(_("character 18 must be a digit or X"))
        + " "
        "ELSE "
        + reason(
            _("region code starts with {code}, which is not a province code"),
            code="substr(n, 1, 2)",
        )
        + " END"
    )


def id_check_sql(text: str, today: date, relation: str) -> str:
    """SELECT, from ``relation`` with the stripped ID cell ``text`` (and any other columns),
    those columns plus ``n`` (normalised), the :data:`ID_PARTS` and ``idp`` (the problem,
    or NULL)."""
    first, *rest = ID_PARTS.items()
    parts = ", ".join(f"{sql} AS {name}" for name, sql in rest)
    return (
        f"SELECT *, {id_problem_sql(today)} AS idp FROM (SELECT *, {parts} FROM "
        f"(SELECT *, {first[1]} AS {first[0]} FROM "
        f"(SELECT *, {normalised_id_sql(text)} AS n FROM {relation})))"
    )


def id_reason(exc: InvalidIdNumber, *, as_number: bool = False) -> str:
    """The rejects file's reason for an invalid resident ID: the message without the masked
    number (the value column shows it), and the fix when Excel stored the ID as a number."""
    reason = exc.message
    if reason.startswith("resident ID ") and ": " in reason:
        reason = "resident ID: " + reason.split(": ", 1)[1]
    if as_number:
        reason += _id_as_number_hint()
    return reason


@dataclass(frozen=True)
class RawRows:
    """How the loaded rows are read from the ``raw`` table: SQL for each row's line number,
    for whether its ID cell held a number (XLSX), and selecting the rows that are not
    blank; and whether values may need stripping (False: the file has no whitespace)."""

    line: str
    id_numeric: str
    where: str
    stripped: bool = True


# Fields read by the Python rules once per distinct value, joined back as ``m_<field>``.
_MAPPED = ("sex", "birth_date", "category", "disability_grade")
# Fields normalised in SQL when plain ASCII, else by the Python rules (NFKC).
_ASCII_OR_PYTHON = ("student_number", "certificate")


def mapped_fields(source: str, present: Iterable[str]) -> list[str]:
    """The fields of this file whose values are read through a mapping table."""
    return [
        name
        for name in present
        if name in _MAPPED + _ASCII_OR_PYTHON and (name != "category" or source == "disability")
    ]


# The registers whose rows must be of a plausible child (the rules of `case open`).
PLAUSIBLE_SOURCES = ("household", "student")
# Fields holding a person's name: at most NAME_MAX_CHARS.
_NAME_FIELDS = ("name", "guardian")


def problem_fields(
    source: str, present: Collection[str], *, plausibility: bool = False
) -> list[str]:
    """The ``p_<field>`` columns of :func:`check_sql`, in the order a row's problems are
    listed: the resident ID, the other fields, the either-or pair (``one_of``), then the
    child's age (``age``, with ``plausibility``: :func:`plausibility_sql`)."""
    spec = SPECS[source]
    fields = [n for n in spec.fields if n in present]
    checked = {"sex", "birth_date", "student_number", "disability_grade", *_NAME_FIELDS}
    if source == "disability":
        checked.add("category")
    listed = ["id_number"] if "id_number" in present else []
    listed += [n for n in fields if n != "id_number" and (n in spec.needs_value or n in checked)]
    if any(n in present for n in spec.one_of):
        listed.append("one_of")
    if plausibility and source in PLAUSIBLE_SOURCES and "id_number" in present:
        listed.append("age")
    return listed


@dataclass(frozen=True)
class Plausibility:
    """What a 户籍 or 学籍 row's child must be, as `case open` checks a child: born on or
    before the day the register was extracted (``as_of``); with ``age_band``, aged within
    the compulsory-education ages (:data:`DEFAULT_AGES`) on the school year's reference
    date (:func:`reference_date` of ``as_of``)."""

    as_of: date
    age_band: bool = False


def plausibility_sql(rule: Plausibility) -> str:
    """SQL: why the child of a row with a valid resident ID (the :data:`ID_PARTS` ``y``,
    ``m``, ``d`` and ``ymd``, ``id_ok`` and ``rbirth`` of the relation ``l``) is
    implausible, or NULL. The band is
    :func:`birth_band` — the birth dates of the children ``youngest``..``oldest`` years old
    on the reference date, as ``case open`` counts age (completed years)."""
    reference = reference_date(rule.as_of)
    youngest, oldest = DEFAULT_AGES
    low, high = birth_band(reference, youngest, oldest)
    born_after = _(
        "born {born}, after {as_of}, the day the register was extracted: check the resident ID"
    ).format(born="{born}", as_of=rule.as_of.isoformat())
    born = "strftime(l.rbirth, '%Y-%m-%d')"
    when = (
        f"WHEN l.ymd > {rule.as_of.strftime('%Y%m%d')} THEN "
        f"replace({sql_text(born_after)}, '{{born}}', {born}) "
    )
    if rule.age_band:
        outside = _(
            "aged {age} on {reference} (the school year's reference date), outside the "
            "compulsory-education ages {youngest} to {oldest}"
        ).format(age="{age}", reference=reference.isoformat(), youngest=youngest, oldest=oldest)
        age = (
            f"{reference.year} - l.y - CASE WHEN l.m * 100 + l.d > "
            f"{reference.month * 100 + reference.day} THEN 1 ELSE 0 END"
        )
        when += (
            f"WHEN l.ymd NOT BETWEEN {low} AND {high} THEN "
            f"replace({sql_text(outside)}, '{{age}}', CAST({age} AS VARCHAR)) "
        )
    return f"CASE WHEN l.id_ok THEN CASE {when}END END"


def stored_columns(present: Collection[str]) -> list[str]:
    """The snapshot columns a file with these fields fills (``line`` first), in
    :data:`SNAPSHOT_COLUMNS` order: its fields, and sex and birth date from a resident ID."""
    filled = {COLUMN_OF.get(name, name) for name in present} | {"line"}
    if "id_number" in present:
        filled |= {"sex", "birth_date"}
    return [column for column, _kind in SNAPSHOT_COLUMNS if column in filled]


def check_sql(
    source: str,
    present: Collection[str],
    *,
    today: date,
    rows: RawRows,
    plausibility: Plausibility | None = None,
) -> str:
    """SELECT every non-blank row of ``raw`` (columns ``f_<field>``) checked: ``line``, the
    snapshot's columns as they will be stored (:func:`stored_columns`), a ``p_<field>``
    column per check (:func:`problem_fields`) holding the reason or NULL, and ``bad``.
    Needs the mapping tables ``m_<field>`` (:func:`mapped_fields`)."""
    spec = SPECS[source]
    fields = [n for n in spec.fields if n in present]
    needs = {n for n in spec.needs_value if n in present}
    has_id = "id_number" in present

    def t(name: str) -> str:
        return f"t_{name}"

    def required(name: str) -> str:
        if name not in needs:
            return "NULL"
        return sql_text(_("{field} is required but empty").format(field=field_label(source, name)))

    def cell(name: str) -> str:
        raw = f"f_{name}"
        return stripped_sql(raw) if rows.stripped else f"coalesce({raw}, '')"

    codes = ", ".join(strip_codes_sql(f"f_{n}") for n in fields) if rows.stripped else "0"
    stripped = ", ".join(f"{cell(n)} AS {t(n)}" for n in fields)
    level_s = (
        f"SELECT line, id_numeric, {stripped} FROM (SELECT *, {rows.line} AS line, "
        f"{rows.id_numeric} AS id_numeric, {codes} FROM raw WHERE {rows.where})"
    )
    if has_id:
        level_i = "SELECT * FROM s"
        level_j = id_check_sql(t("id_number"), today, "i")
        level_k = f"SELECT *, {t('id_number')} <> '' AND idp IS NULL AS id_ok FROM j"
        level_l = (
            f"SELECT *, CASE WHEN id_ok THEN {_RESIDENT_SEX} END AS rsex, "
            f"CASE WHEN id_ok THEN {_RESIDENT_BIRTH} END AS rbirth FROM k"
        )
    else:
        level_i = "SELECT * FROM s"
        level_j = "SELECT *, NULL AS n, NULL AS idp FROM i"
        level_k = "SELECT *, false AS id_ok FROM j"
        level_l = "SELECT *, NULL AS rsex, CAST(NULL AS DATE) AS rbirth FROM k"
    ascii_values = []
    for name in _ASCII_OR_PYTHON:
        if name in present:
            plain = f"replace(replace({t(name)}, ' ', ''), '-', '')"
            ascii_values.append(
                f"CASE WHEN {t(name)} = '' THEN NULL "
                f"WHEN regexp_full_match({t(name)}, {sql_text(_STUDENT_NUMBER_SQL)}) "
                f"THEN {t(name)} WHEN {_is_ascii(t(name))} "
                f"THEN upper({strip_sql(plain)}) END AS a_{name}"
            )
    if ascii_values:
        level_l = f"SELECT *, {', '.join(ascii_values)} FROM ({level_l})"

    joins = "".join(
        f" LEFT JOIN m_{n} ON m_{n}.k = l.{t(n)}" for n in mapped_fields(source, present)
    )
    problems: dict[str, str] = {}
    values: dict[str, str] = {}
    if has_id:
        hint = f"id_numeric OR regexp_full_match({t('id_number')}, {sql_text(_SCIENTIFIC_SQL)})"
        problems["id_number"] = (
            f"CASE WHEN {t('id_number')} = '' THEN {required('id_number')} ELSE idp || "
            f"CASE WHEN {hint} THEN {sql_text(_id_as_number_hint())} ELSE '' END END"
        )
        values["id_number"] = "CASE WHEN id_ok THEN n END"
        values["sex"] = "rsex"
        values["birth_date"] = "rbirth"
    for name in fields:
        if name == "id_number":
            continue
        text = t(name)
        column = COLUMN_OF.get(name, name)
        problem = f"CASE WHEN {text} = '' THEN {required(name)} END"
        value = f"NULLIF({text}, '')"
        if name == "sex":
            disagrees = sql_text(
                _("sex {given} disagrees with the resident ID, which encodes {encoded}")
            )
            problem = (
                f"CASE WHEN {text} = '' THEN {required(name)} WHEN m_sex.e IS NOT NULL "
                "THEN m_sex.e WHEN id_ok AND m_sex.v <> rsex THEN "
                f"replace(replace({disagrees}, '{{given}}', m_sex.v), '{{encoded}}', rsex) END"
            )
            value = f"CASE WHEN {text} <> '' THEN m_sex.v ELSE rsex END"
        elif name == "birth_date":
            disagrees = sql_text(_("birth date {given} disagrees with the resident ID"))
            problem = (
                f"CASE WHEN {text} = '' THEN {required(name)} WHEN m_birth_date.e IS NOT NULL "
                "THEN m_birth_date.e WHEN id_ok AND m_birth_date.d <> rbirth THEN "
                f"replace({disagrees}, '{{given}}', m_birth_date.iso) END"
            )
            value = f"CASE WHEN {text} <> '' THEN m_birth_date.d ELSE rbirth END"
        elif name == "student_number":
            problem = (
                f"CASE WHEN {text} = '' THEN {required(name)} WHEN a_{name} IS NOT NULL THEN "
                f"CASE WHEN NOT regexp_full_match(a_{name}, {sql_text(_STUDENT_NUMBER_SQL)}) "
                f"THEN {sql_text(_student_number_problem())} END ELSE m_{name}.e END"
            )
            value = f"coalesce(a_{name}, m_{name}.v)"
        elif name == "certificate":
            value = f"coalesce(a_{name}, m_{name}.v)"
        elif name in ("category", "disability_grade") and source == "disability":
            problem = f"CASE WHEN {text} = '' THEN {required(name)} ELSE m_{name}.e END"
            value = f"m_{name}.g" if name == "disability_grade" else f"m_{name}.v"
        elif name in _NAME_FIELDS:
            too_long = _("{field} is longer than {limit} characters").format(
                field=field_label(source, name), limit=NAME_MAX_CHARS
            )
            problem = (
                f"CASE WHEN {text} = '' THEN {required(name)} WHEN length({text}) > "
                f"{NAME_MAX_CHARS} THEN {sql_text(too_long)} END"
            )
        if name in problem_fields(source, present):
            problems[name] = problem
        values[column] = value
    either = [n for n in spec.one_of if n in present]
    if either:
        labels = _(" or ").join(field_label(source, n) for n in spec.one_of)
        empty = " AND ".join(f"{t(n)} = ''" for n in either)
        message = sql_text(_("{fields} is required but both are empty").format(fields=labels))
        problems["one_of"] = f"CASE WHEN {empty} THEN {message} END"
    plausible = plausibility is not None
    if "age" in problem_fields(source, present, plausibility=plausible):
        assert plausibility is not None
        problems["age"] = plausibility_sql(plausibility)
    stored = ", ".join(
        f"CAST({values[column]} AS {kind}) AS {column}"
        for column, kind in SNAPSHOT_COLUMNS
        if column in values
    )
    checks = problem_fields(source, present, plausibility=plausible)
    listed = ", ".join(f"{problems[n]} AS p_{n}" for n in checks)
    for name in _ASCII_OR_PYTHON:
        if name in present:  # a value left to the Python rules (not plain ASCII)
            listed += f", {t(name)} <> '' AND a_{name} IS NULL AS x_{name}"
    bad = " OR ".join(f"p_{n} IS NOT NULL" for n in checks) or "false"
    return (
        f"WITH s AS ({level_s}), i AS ({level_i}), j AS ({level_j}), k AS ({level_k}), "
        f"l AS ({level_l}), c AS (SELECT l.line, {stored}, {listed} FROM l{joins}) "
        f"SELECT *, {bad} AS bad FROM c"
    )


def check_id_numbers(values: Sequence[str], *, today: date) -> list[IdCheck]:
    """The SQL rules for one column of resident ID cells, run in an in-memory DuckDB: for
    each cell, as :func:`caseflow.ids.parse_id_number` would judge ``cell.strip()``."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute("CREATE TEMP TABLE cells (i BIGINT, v VARCHAR)")
        appender = connection.appender("cells")
        appender.append_rows(list(enumerate(values)))
        appender.flush()
        checked = id_check_sql("t", today, f"(SELECT i, {strip_sql('v')} AS t FROM cells)")
        query = (
            f"SELECT t, CASE WHEN ok THEN n END, CASE WHEN ok THEN {_RESIDENT_SEX} END, "
            f"CASE WHEN ok THEN {_RESIDENT_BIRTH} END, idp FROM (SELECT *, "
            f"t <> '' AND idp IS NULL AS ok FROM ({checked})) ORDER BY i"
        )
        rows = connection.execute(query).fetchall()
    finally:
        connection.close()
    return [
        IdCheck(number, sex, born, problem if text != "" else None)
        for text, number, sex, born, problem in rows
    ]


@dataclass(frozen=True)
class IdCheck:
    number: str | None
    sex: str | None
    birth_date: date | None
    reason: str | None


# ---------------------------------------------------------------------------------------
# Checking a file

Progress = Callable[[int, int], None]  # (rows read so far, rows expected)
# Snappy without dictionaries, format version 2 (delta encodings) and row groups of 60,000:
# a quarter faster to write than DuckDB's defaults, for files no larger, as fast to read
# (1M 学籍 rows: 0.25 s and 15 MB against 0.32 s and 16 MB).
_PARQUET = (
    "FORMAT parquet, COMPRESSION snappy, DICTIONARY_SIZE_LIMIT 1, PARQUET_VERSION V2, "
    "ROW_GROUP_SIZE 60000"
)
_APPEND_BATCH = 10_000


@dataclass
class Checked:
    """The outcome of checking a file: the counts and the problems of the bad rows (in file
    order, values masked). The good rows stay in the checker until written as a snapshot."""

    source: str
    columns: Columns
    format: str
    encoding: str | None
    rows_total: int
    rows_rejected: int
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""

    @property
    def rows_good(self) -> int:
        return self.rows_total - self.rows_rejected


@dataclass(frozen=True)
class _Request:
    source: str
    file_name: str
    mapping: Mapping[str | int, str]
    progress: Progress | None
    limits: ImportLimits = ImportLimits()


class Checker:
    """One in-memory DuckDB that checks register files, with scratch files (transcodings,
    spill) in ``scratch``; a context manager that closes the database and deletes them.

    ``memory_limit`` caps what DuckDB holds in memory before it spills to ``scratch``."""

    def __init__(self, scratch: Path, *, memory_limit: str = "1GB"):
        import duckdb

        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self.connection: duckdb.DuckDBPyConnection = duckdb.connect(
            config={"memory_limit": memory_limit, "temp_directory": str(scratch / "spill")}
        )
        self._files: list[Path] = []
        self._rows = RawRows("_line", "_id_numeric", "true")
        self._dups = False
        self._stored: list[str] = []

    def __enter__(self) -> Checker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        for path in self._files:
            path.unlink(missing_ok=True)

    def _scratch_file(self, suffix: str) -> Path:
        import uuid

        path = self.scratch / f"{uuid.uuid4().hex}{suffix}"
        self._files.append(path)
        return path

    # -- loading ---------------------------------------------------------------------

    def check(
        self,
        source: str,
        path: Path,
        *,
        file_name: str,
        today: date,
        mapping: Mapping[str | int, str] | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
        limits: ImportLimits | None = None,
        as_of: date | None = None,
    ) -> Checked:
        """Read and check a register file (and take its SHA-256 on the way); ``limits``:
        how large it may be; ``as_of``: the day the register was extracted, for the
        plausibility of each child's birth date (:func:`plausibility_sql`)."""
        source = resolve_source(source)
        start = check_readable(path)
        kind = file_format(path, start, encoding=encoding)
        limits = limits or ImportLimits()
        request = _Request(source, file_name, mapping or {}, progress, limits)
        original = _Background(lambda: scan_file(path))
        if kind == "xlsx":
            rows = xlsx_rows(path, file_name, limits)
            try:
                columns = find_columns(source, rows, request.mapping, file_name)
                self._load_rows(request, columns, rows, None)
            finally:
                rows.close()
            used = None
        else:
            columns, used = self._load_csv(request, path, encoding, original.result)
        self._check_bounds(request, columns)
        checked = self._check(source, columns, today, kind, used, as_of=as_of, limits=limits)
        checked.sha256 = original.result().sha256
        return checked

    def _check_bounds(self, request: _Request, columns: Columns) -> None:
        """Refuses a file with more rows than ``max_rows`` or a value caseflow reads
        longer than ``max_cell_chars`` (naming its row and column)."""
        limits = request.limits
        rows = self._rows
        found = self.connection.execute(f"SELECT count(*) FROM raw WHERE {rows.where}").fetchone()
        if found is not None and int(found[0]) > limits.max_rows:
            raise _too_many_rows(request.file_name, limits)
        fields = _fields(request.source, columns)
        lengths = ", ".join(f"length(f_{name})" for name, _index in fields)
        over = " OR ".join(f"length(f_{name}) > {limits.max_cell_chars}" for name, _index in fields)
        first = self.connection.execute(
            f"SELECT {rows.line}, {lengths} FROM raw WHERE {rows.where} AND ({over}) "
            f"ORDER BY 1 LIMIT 1"
        ).fetchone()
        if first is None:
            return
        line, *sizes = first
        name = next(
            name
            for (name, _index), size in zip(fields, sizes, strict=True)
            if (size or 0) > limits.max_cell_chars
        )
        where = _("row {line}, column {heading}").format(line=line, heading=columns.at[name][1])
        raise _cell_too_long(request.file_name, where, limits.max_cell_chars)

    def _load_csv(
        self,
        request: _Request,
        path: Path,
        encoding: str | None,
        facts: Callable[[], FileFacts],
    ) -> tuple[Columns, str]:
        """UTF-8 (with or without a BOM) read as it is; GB18030 (or a forced encoding other
        than UTF-8) transcoded to UTF-8 first."""
        if encoding is None:
            try:
                return self._load_text(request, path, "utf-8-sig", facts), "utf-8-sig"
            except _Undecodable:
                pass
            try:
                target, written = self._transcoded(path, "gb18030")
            except _Undecodable:
                raise InvalidInput(
                    _(
                        "{file} is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8 "
                        "or XLSX, or name its encoding with --encoding"
                    ).format(file=request.file_name)
                ) from None
            return self._load_text(request, target, "utf-8", lambda: written), "gb18030"
        codec = codec_name(encoding)
        try:
            if codec in _UTF8_CODECS:
                columns = self._load_text(request, path, encoding, facts)
            else:
                target, written = self._transcoded(path, encoding)
                columns = self._load_text(request, target, "utf-8", lambda: written)
        except _Undecodable as exc:
            raise InvalidInput(
                _(
                    "{file} cannot be read as {encoding}: line {line} holds bytes that are not "
                    "valid there; try another --encoding or leave it out to detect the encoding"
                ).format(file=request.file_name, encoding=encoding, line=exc.line)
            ) from None
        return columns, encoding

    def _transcoded(self, path: Path, encoding: str) -> tuple[Path, FileFacts]:
        target = self._scratch_file(".csv")
        return target, transcode(path, encoding, target)

    def _load_text(
        self, request: _Request, path: Path, encoding: str, facts: Callable[[], FileFacts]
    ) -> Columns:
        layout = csv_layout(request.source, path, encoding, request.mapping, request.file_name)
        limits = request.limits
        if layout.width > limits.max_columns and any(
            heading for heading in layout.columns.headings[limits.max_columns :]
        ):
            raise _too_wide(request.file_name, layout.columns.line, layout.width, limits)
        if not self._load_fast(request.source, layout, facts):
            rows = csv_rows(layout)
            try:
                self._load_rows(request, layout.columns, rows, lambda: facts().lines)
            finally:
                rows.close()
        return layout.columns

    def _load_fast(self, source: str, layout: CsvLayout, facts: Callable[[], FileFacts]) -> bool:
        """DuckDB's own CSV reader, for a file that Python's ``csv`` would read the same way:
        every record after the headings on one line and as wide as the heading row, no
        blank line between them (checked by counting). False when it is not such a file.
        A file with no byte of whitespace after its headings needs no value stripped."""
        import duckdb

        fields = _fields(source, layout.columns)
        declared = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(layout.width))
        first = fields[0][1]
        every = " AND ".join(blank_sql(f"c{i}") for i in range(layout.width))
        blank = (
            f"CASE WHEN c{first} IS NOT NULL AND NOT {_is_space(f'ascii(c{first})')} "
            f"THEN false ELSE {every} END"
        )
        selected = ", ".join(f"c{index} AS f_{name}" for name, index in fields)
        query = (
            f"CREATE OR REPLACE TEMP TABLE raw AS SELECT {selected}, {blank} AS _blank "
            f"FROM read_csv({sql_text(str(layout.path))}, header = false, "
            f"skip = {layout.header_lines}, auto_detect = false, "
            f"delim = {sql_text(layout.delimiter)}, quote = '\"', escape = '\"', "
            f"columns = {{{declared}}}, strict_mode = true)"
        )
        try:
            self.connection.execute(query)
        except duckdb.Error as exc:
            if "invalid unicode" in str(exc).lower():
                raise _Undecodable(layout.encoding, layout.path) from None
            return False
        row = self.connection.execute("SELECT count(*) FROM raw").fetchone()
        records = int(row[0]) if row else 0
        scanned = facts()
        if layout.header_lines + records != scanned.lines:
            self.connection.execute("DROP TABLE raw")
            return False
        spaced = layout.delimiter == "\t" or scanned.spaced_after(layout.header_bytes())
        self._rows = RawRows(
            f"rowid + {layout.columns.line + 1}", "false", "NOT _blank", stripped=spaced
        )
        return True

    def _load_rows(
        self,
        request: _Request,
        columns: Columns,
        rows: Iterator[tuple[int, list[Any]]],
        lines: Callable[[], int] | None,
    ) -> None:
        """Rows read by Python (XLSX; CSV that DuckDB's reader would read otherwise),
        appended to ``raw``; blank rows are left out."""
        fields = _fields(request.source, columns)
        progress = request.progress
        declared = ", ".join(f"f_{name} VARCHAR" for name, _index in fields)
        self.connection.execute(
            f"CREATE OR REPLACE TEMP TABLE raw (_line BIGINT, {declared}, _id_numeric BOOLEAN)"
        )
        id_index = columns.at["id_number"][0] if "id_number" in columns.at else None
        expected = max(lines() - columns.line, 0) if lines is not None else 0
        appender = self.connection.appender("raw")
        batch: list[list[Any]] = []
        done = 0
        limits = request.limits
        for line, values in rows:
            if _blank(values):
                continue
            width = len(values)
            if line - columns.line > limits.max_rows:
                raise _too_many_rows(request.file_name, limits)
            if width > limits.max_columns and not _blank(values[limits.max_columns :]):
                raise _too_wide(request.file_name, line, width, limits)
            record: list[Any] = [line]
            for _name, index in fields:
                value = values[index] if index < width else None
                record.append(value if value is None or type(value) is str else _text(value))
            record.append(
                id_index is not None and id_index < width and isinstance(values[id_index], float)
            )
            batch.append(record)
            if len(batch) >= _APPEND_BATCH:
                appender.append_rows(batch)
                done += len(batch)
                batch = []
                if progress is not None:
                    progress(done, max(expected, done))
        appender.append_rows(batch)
        appender.flush()
        self._rows = RawRows("_line", "_id_numeric", "true")

    # -- checking --------------------------------------------------------------------

    def _check(
        self,
        source: str,
        columns: Columns,
        today: date,
        kind: str,
        encoding: str | None,
        *,
        as_of: date | None = None,
        limits: ImportLimits | None = None,
    ) -> Checked:
        present = set(columns.at)
        rule = (
            None
            if as_of is None
            else Plausibility(as_of, (limits or ImportLimits()).reject_outside_age_band)
        )
        self._stored = stored_columns(present)
        mapped = mapped_fields(source, present)
        # Values that are not plain ASCII (student numbers in full-width digits...) are
        # rare: they are looked for while checking, and read in Python only if found.
        later = [name for name in mapped if name in _ASCII_OR_PYTHON]
        self._mapping_tables([name for name in mapped if name not in later])
        for name in later:
            self._mapping_table(name, [])
        query = check_sql(source, present, today=today, rows=self._rows, plausibility=rule)
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {query}")
        found = "".join(f", count(*) FILTER (WHERE x_{name})" for name in later)
        row = self.connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE bad){found} FROM checked"
        ).fetchone()
        assert row is not None
        if any(row[2:]):
            self._mapping_tables(later)
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {query}")
            row = self.connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE bad) FROM checked"
            ).fetchone()
            assert row is not None
        total, bad = int(row[0]), int(row[1])
        problems = self._problems(source, columns, rule is not None) if bad else []
        duplicates = self._duplicates(source, columns)
        if duplicates:
            problems = sorted(problems + duplicates, key=lambda p: p.line)
        return Checked(
            source,
            columns,
            kind,
            encoding,
            rows_total=total,
            rows_rejected=bad + len(duplicates),
            problems=problems,
        )

    def _mapping_tables(self, names: Sequence[str]) -> None:
        """``m_<name>`` for each field: each distinct (stripped) value, read by the Python
        rule — once per value, however many rows share it. One pass over the rows."""
        if not names:
            return
        lists = []
        for name in names:
            value = f"f_{name}"
            text = strip_sql(value) if self._rows.stripped else f"coalesce({value}, '')"
            only = f" AND NOT {_is_ascii(value)}" if name in _ASCII_OR_PYTHON else ""
            lists.append(f"list(DISTINCT {text}) FILTER (WHERE {text} <> ''{only})")
        row = self.connection.execute(
            f"SELECT {', '.join(lists)} FROM raw WHERE {self._rows.where}"
        ).fetchone()
        for name, distinct in zip(names, row or [None] * len(names), strict=True):
            self._mapping_table(name, distinct or [])

    def _mapping_table(self, name: str, values: Iterable[str]) -> None:
        reader, declared = _READERS[name]
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE m_{name} ({declared})")
        appender = self.connection.appender(f"m_{name}")
        appender.append_rows([reader(value) for value in values])
        appender.flush()

    def _problems(self, source: str, columns: Columns, plausibility: bool) -> list[Problem]:
        listed = problem_fields(source, set(columns.at), plausibility=plausibility)
        fields = [name for name, _index in _fields(source, columns)]
        reasons = ", ".join(f"c.p_{name}" for name in listed)
        texts = ", ".join(f"r.f_{name}" for name in fields)
        rows = self._rows
        query = (
            f"SELECT c.line, {reasons}, {texts} FROM checked c JOIN (SELECT {rows.line} AS "
            f"line, * FROM raw WHERE {rows.where}) r ON r.line = c.line WHERE c.bad "
            "ORDER BY c.line"
        )
        either = (
            next(n for n in SPECS[source].one_of if n in columns.at)
            if ("one_of" in listed)
            else None
        )
        problems: list[Problem] = []
        for record in self.connection.execute(query).fetchall():
            line = int(record[0])
            found = dict(zip(listed, record[1 : 1 + len(listed)], strict=True))
            texts_of = dict(zip(fields, record[1 + len(listed) :], strict=True))
            for name in listed:
                reason = found[name]
                if reason is None:
                    continue
                field_name = {"one_of": either, "age": "id_number"}.get(name, name)
                assert field_name is not None
                text = (texts_of.get(field_name) or "").strip() if name != "one_of" else ""
                heading = columns.at[field_name][1]
                problems.append(Problem(line, heading, mask_value(field_name, text), reason))
        return problems

    def _duplicates(self, source: str, columns: Columns) -> list[Problem]:
        """A resident ID or student number on an earlier good row rejects the later row.
        Only rows sharing a key with another good row are looked at in Python (in file
        order, as a person would): the rest cannot be duplicates."""
        keys = [k for k in ("id_number", "student_number") if k in columns.at]
        self._dups = False
        if not keys:
            return []
        # Distinct hashes as many as values: no value twice (a collision only costs the
        # exact look below).
        counts = ", ".join(
            f"count({key}) FILTER (WHERE NOT bad) - count(DISTINCT hash({key})) FILTER "
            f"(WHERE NOT bad AND {key} IS NOT NULL)"
            for key in keys
        )
        row = self.connection.execute(f"SELECT {counts} FROM checked").fetchone()
        if row is None or not any(row):
            return []
        shared = " OR ".join(
            f"{key} IN (SELECT {key} FROM checked WHERE NOT bad AND {key} IS NOT NULL "
            "GROUP BY 1 HAVING count(*) > 1)"
            for key in keys
        )
        number = "id_number" if "id_number" in keys else "NULL"
        student = "student_number" if "student_number" in keys else "NULL"
        contested = self.connection.execute(
            f"SELECT line, {number}, {student} FROM checked WHERE NOT bad AND ({shared}) "
            "ORDER BY line"
        ).fetchall()
        if not contested:
            return []
        seen_ids: dict[str, int] = {}
        seen_numbers: dict[str, int] = {}
        problems: list[Problem] = []
        for line, resident, student_number in contested:
            if resident and resident in seen_ids:
                reason = _("duplicate: the same resident ID is on row {line}").format(
                    line=seen_ids[resident]
                )
                heading = columns.at["id_number"][1]
                problems.append(Problem(line, heading, mask_value("id_number", resident), reason))
                continue
            if student_number and student_number in seen_numbers:
                first = seen_numbers[student_number]
                reason = _("duplicate: the same student number is on row {line}").format(line=first)
                heading = columns.at["student_number"][1]
                masked = mask_value("student_number", student_number)
                problems.append(Problem(line, heading, masked, reason))
                continue
            if resident:
                seen_ids[resident] = line
            if student_number:
                seen_numbers[student_number] = line
        self.connection.execute("CREATE OR REPLACE TEMP TABLE dups (line BIGINT)")
        appender = self.connection.appender("dups")
        appender.append_rows([(p.line,) for p in problems])
        appender.flush()
        self._dups = bool(problems)
        return problems

    # -- the snapshot ----------------------------------------------------------------

    def write_snapshot(self, target: Path) -> None:
        """Write the good rows of the last file checked to ``target`` as Parquet (in no
        particular order: each row carries its line)."""
        names = ", ".join(self._stored)
        not_dup = " AND line NOT IN (SELECT line FROM dups)" if self._dups else ""
        self.connection.execute("SET preserve_insertion_order = false")
        try:
            self.connection.execute(
                f"COPY (SELECT {names} FROM checked WHERE NOT bad{not_dup}) TO "
                f"{sql_text(str(target))} ({_PARQUET})"
            )
        finally:
            self.connection.execute("SET preserve_insertion_order = true")


def _fields(source: str, columns: Columns) -> list[tuple[str, int]]:
    """The source's fields found in the file, in the spec's order, with their indexes."""
    return [(name, columns.at[name][0]) for name in SPECS[source].fields if name in columns.at]


def _read_sex(text: str) -> tuple[Any, ...]:
    try:
        return (text, parse_sex(text), None)
    except ValueError as exc:
        return (text, None, str(exc))


def _read_birth_date(text: str) -> tuple[Any, ...]:
    try:
        born = _date_value(text, text)
    except ValueError as exc:
        return (text, None, None, str(exc))
    return (text, born, born.isoformat(), None)


def _read_category(text: str) -> tuple[Any, ...]:
    try:
        return (text, disability_category(text), None)
    except ValueError as exc:
        return (text, None, str(exc))


def _read_grade(text: str) -> tuple[Any, ...]:
    try:
        return (text, disability_grade(text), None)
    except ValueError as exc:
        return (text, None, str(exc))


def _read_student_number(text: str) -> tuple[Any, ...]:
    try:
        return (text, _student_number(text), None)
    except ValueError as exc:
        return (text, None, str(exc))


def _read_certificate(text: str) -> tuple[Any, ...]:
    return (text, normalise_student_number(text))


_READERS: Mapping[str, tuple[Callable[[str], tuple[Any, ...]], str]] = {
    "sex": (_read_sex, "k VARCHAR, v VARCHAR, e VARCHAR"),
    "birth_date": (_read_birth_date, "k VARCHAR, d DATE, iso VARCHAR, e VARCHAR"),
    "category": (_read_category, "k VARCHAR, v VARCHAR, e VARCHAR"),
    "disability_grade": (_read_grade, "k VARCHAR, g INTEGER, e VARCHAR"),
    "student_number": (_read_student_number, "k VARCHAR, v VARCHAR, e VARCHAR"),
    "certificate": (_read_certificate, "k VARCHAR, v VARCHAR"),
}


def write_rows(rows: Iterable[Mapping[str, Any]], target: Path) -> int:
    """Write rows (dicts keyed by :data:`SNAPSHOT_COLUMNS` names, a missing key NULL) as a
    snapshot file at ``target``; how many were written."""
    import duckdb

    connection = duckdb.connect()
    try:
        declared = ", ".join(f"{column} {kind}" for column, kind in SNAPSHOT_COLUMNS)
        connection.execute(f"CREATE TEMP TABLE rows ({declared})")
        appender = connection.appender("rows")
        count = 0
        batch: list[list[Any]] = []
        for row in rows:
            batch.append([row.get(column) for column, _kind in SNAPSHOT_COLUMNS])
            count += 1
            if len(batch) >= _APPEND_BATCH:
                appender.append_rows(batch)
                batch = []
        appender.append_rows(batch)
        appender.flush()
        connection.execute(f"COPY rows TO {sql_text(str(target))} ({_PARQUET})")
    finally:
        connection.close()
    return count


# ---------------------------------------------------------------------------------------
# The rejects file

REJECT_HEADINGS = ("行号", "列", "值", "原因")


def write_rejects(path: Path, problems: Iterable[Problem]) -> None:
    """CSV, UTF-8 with a BOM so that Excel and WPS open it as Chinese text. Created new:
    an existing file is never overwritten. A heading or value that a spreadsheet would
    read as a formula (``=HYPERLINK(...)`` in a register cell) is written as text."""
    from caseflow.exports import neutralise

    with path.open("x", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_HEADINGS)
        writer.writerows(
            (p.line, neutralise(p.column), neutralise(p.value), neutralise(p.reason))
            for p in problems
        )


# ---------------------------------------------------------------------------------------
# The comparison of registers (五查四比对): its findings and the school year it counts by


FLAGS: dict[str, str] = {
    "household_vs_student": "户籍无学籍",
    "poverty_vs_student": "建档立卡无学籍",
    "disability_vs_student": "残疾无学籍",
    "student_vs_attendance": "有学籍未在校",
}


ENROLLED = ("在读", "休学")


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
