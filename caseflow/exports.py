"""Tables for people to open, written row by row as the rows arrive: CSV (UTF-8 with a
BOM, for Excel and WPS), XLSX (openpyxl's write-only mode: rows go straight to disk),
Markdown, a JSON array, and a plain-text table for the terminal. Memory does not grow
with the number of rows. No database here.

Every text cell a spreadsheet would read as a formula (it begins with ``=``, ``+``, ``-``
or ``@``) is written with a leading apostrophe (``neutralise``), in CSV and XLSX alike.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

from caseflow.errors import InvalidInput

FORMATS: tuple[str, ...] = ("table", "csv", "xlsx", "md", "json")
_BY_SUFFIX = {".csv": "csv", ".xlsx": "xlsx", ".md": "md", ".json": "json", ".txt": "table"}

CellKind = Literal["text", "int", "date"]
Cell = str | int | date | None


@dataclass(frozen=True)
class Column:
    """One column: its key in JSON, its heading, what its cells hold, and its width (in
    the characters of a Latin font; a Chinese character counts two)."""

    key: str
    heading: str
    kind: CellKind = "text"
    width: int = 10


_FORMULA_STARTS = frozenset("=+-@")


def neutralise(value: str) -> str:
    """A cell a spreadsheet would read as a formula (=, +, -, @) is kept as text."""
    return f"'{value}" if value[:1] in _FORMULA_STARTS else value


def output_format(path: Path | None, fmt: str | None) -> str:
    """The format asked for, else the one the file's extension names, else a table."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        chosen = fmt
    elif path is None:
        chosen = "table"
    else:
        found = _BY_SUFFIX.get(path.suffix.lower())
        if found is None:
            raise InvalidInput(
                f"cannot tell the format of {path.name} from its extension; name it .csv, "
                ".xlsx, .md, .json or .txt, or give --format"
            )
        chosen = found
    if chosen == "xlsx" and path is None:
        raise InvalidInput("an XLSX file needs a file name: -o FILE.xlsx")
    return chosen


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed over it when the block succeeds; removed
    when it fails, so a half-written export never takes the place of a good one."""
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise InvalidInput(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise InvalidInput(f"cannot write {path}: it is a folder")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(stream: IO[str], columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> int:
    """Headings, then one line per row; text cells neutralised, dates as 2026-11-29, empty
    cells empty. Returns the row count."""
    writer = csv.writer(stream)
    writer.writerow([column.heading for column in columns])
    texts = [i for i, column in enumerate(columns) if column.kind == "text"]
    count = 0
    for row in rows:
        cells = list(row)
        for i in texts:
            value = cells[i]
            if value and value[0] in _FORMULA_STARTS:  # type: ignore[index]
                cells[i] = f"'{value}"
        writer.writerow(cells)  # None is written empty, a date as its ISO form
        count += 1
    return count


def write_markdown(
    stream: IO[str], columns: Sequence[Column], rows: Iterable[Sequence[Cell]], *, title: str
) -> int:
    """A heading and a Markdown (GFM) table."""

    def cell(value: Cell) -> str:
        return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    stream.write(f"# {cell(title)}\n\n")
    stream.write("| " + " | ".join(c.heading for c in columns) + " |\n")
    stream.write("|" + "|".join("---:" if c.kind == "int" else "---" for c in columns) + "|\n")
    count = 0
    for row in rows:
        stream.write("| " + " | ".join(cell(value) for value in row) + " |\n")
        count += 1
    return count


def write_json(stream: IO[str], items: Iterable[dict[str, Any]]) -> int:
    """A JSON array, one object per line, written as the objects come."""
    count = 0
    stream.write("[")
    for item in items:
        stream.write(",\n" if count else "\n")
        stream.write(json.dumps(item, ensure_ascii=False, default=_json_default))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def display_width(text: str) -> int:
    """Columns the text takes in a terminal: wide (Chinese) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def write_text_table(
    stream: IO[str], columns: Sequence[Column], rows: Iterable[Sequence[Cell]], *, title: str
) -> int:
    """A title line, the headings and aligned rows (fixed column widths, so that the
    first rows are printed before the last are read)."""
    stream.write(title + "\n")

    def line(values: Sequence[str]) -> str:
        cells = [
            _pad(value, column.width, column.kind == "int")
            for value, column in zip(values, columns, strict=True)
        ]
        return "  ".join(cells).rstrip() + "\n"

    stream.write(line([c.heading for c in columns]))
    stream.write(line(["-" * c.width for c in columns]))
    count = 0
    for row in rows:
        stream.write(line([_text(value) for value in row]))
        count += 1
    return count


# An Excel sheet holds 1,048,576 rows; a longer ledger goes on in a second sheet.
XLSX_MAX_ROWS = 1_048_576


def write_xlsx(
    path: Path,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str,
    sheet_name: str,
    max_rows: int = XLSX_MAX_ROWS,
) -> int:
    """An official-looking sheet: the title across the top, the headings frozen below it
    (and repeated on every printed page), column widths, real dates, landscape A4 with
    grid lines. Streamed: openpyxl's write-only mode writes each row to disk at once.
    Rows beyond what a sheet holds continue on sheets named ``<sheet_name>（2）`` etc.,
    each with the title and headings."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook(write_only=True)
    last = get_column_letter(len(columns))
    thin = Side(style="thin")
    per_sheet = max_rows - 2
    texts = [i for i, column in enumerate(columns) if column.kind == "text"]
    dates = [i for i, column in enumerate(columns) if column.kind == "date"]

    def clean(text: str) -> str:
        return ILLEGAL_CHARACTERS_RE.sub("", text)

    def start(number: int) -> tuple[Any, dict[int, Any]]:
        name = sheet_name if number == 1 else f"{sheet_name}（{number}）"
        # The write-only sheet has the page settings of a normal one (the stubs lack them).
        sheet: Any = book.create_sheet(name[:31])
        for index, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        sheet.freeze_panes = "A3"
        sheet.print_title_rows = "1:2"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.print_options.gridLines = True
        sheet.print_options.horizontalCentered = True
        sheet.merged_cells.add(f"A1:{last}1")
        sheet.row_dimensions[1].height = 30
        sheet.row_dimensions[2].height = 30
        heading = WriteOnlyCell(sheet, value=clean(title))
        heading.font = Font(name="宋体", size=16, bold=True)
        heading.alignment = Alignment(horizontal="center", vertical="center")
        sheet.append([heading])
        headers = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=clean(column.heading))
            cell.font = Font(name="宋体", size=11, bold=True)
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.fill = PatternFill("solid", fgColor="D9D9D9")
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
            headers.append(cell)
        sheet.append(headers)
        # One styled cell per date column, reused row after row (each row is written out
        # as it is appended): the date format is resolved once, not per row.
        styled = {i: WriteOnlyCell(sheet) for i in dates}
        for cell in styled.values():
            cell.number_format = "yyyy-mm-dd"
        return sheet, styled

    sheets = 1
    sheet, styled = start(sheets)
    count = in_sheet = 0
    for row in rows:
        if in_sheet == per_sheet:
            sheet.auto_filter.ref = f"A2:{last}{in_sheet + 2}"
            sheets += 1
            sheet, styled = start(sheets)
            in_sheet = 0
        values: list[Any] = list(row)
        for i in texts:
            value = values[i]
            if not value:
                values[i] = None  # an empty cell is left out altogether
            elif isinstance(value, str):
                values[i] = neutralise(clean(value))
        for i in dates:
            if values[i] is not None:
                cell = styled[i]
                cell.value = values[i]
                values[i] = cell
        sheet.append(values)
        count += 1
        in_sheet += 1
    if in_sheet:
        sheet.auto_filter.ref = f"A2:{last}{in_sheet + 2}"
    book.save(path)
    return count
