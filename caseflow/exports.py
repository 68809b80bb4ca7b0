"""Tables for people to open, written row by row as the rows arrive: CSV (UTF-8 with a
BOM, for Excel and WPS), XLSX (openpyxl's write-only mode: rows go straight to disk),
Markdown, a JSON array, and a plain-text table for the terminal. Memory does not grow
with the number of rows. No database here.

Every text cell a spreadsheet would read as a formula (it begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is written with a leading apostrophe (:func:`neutralise`),
in CSV and XLSX alike: every CSV or XLSX file caseflow writes (ledgers, reports, the
comparison's findings, the rejects of a register import) passes its text cells through it.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

from caseflow.errors import InvalidInput
from caseflow.i18n import _

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


_FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise(value: str) -> str:
    """A cell a spreadsheet would read as a formula (=, +, -, @, or a tab or carriage
    return before one) is kept as text: a leading apostrophe, which Excel and WPS hide."""
    return f"'{value}" if value[:1] in _FORMULA_STARTS else value


def xlsx_text(value: str) -> str:
    """A text cell for an XLSX sheet: :func:`neutralise` d, and without the control
    characters the XLSX format cannot hold (openpyxl refuses them)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def output_format(path: Path | None, fmt: str | None) -> str:
    """The format asked for, else the one the file's extension names, else a table."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInput(
                _("--format must be one of {formats}, got {given!r}").format(
                    formats=", ".join(FORMATS), given=fmt
                )
            )
        chosen = fmt
    elif path is None:
        chosen = "table"
    else:
        found = _BY_SUFFIX.get(path.suffix.lower())
        if found is None:
            raise InvalidInput(
                _(
                    "cannot tell the format of {file} from its extension; name it .csv, "
                    ".xlsx, .md, .json or .txt, or give --format"
                ).format(file=path.name)
            )
        chosen = found
    if chosen == "xlsx" and path is None:
        raise InvalidInput(_("an XLSX file needs a file name: -o FILE.xlsx"))
    return chosen


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed over it when the block succeeds; removed
    when it fails, so a half-written export never takes the place of a good one."""
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise InvalidInput(
            _("cannot write {path}: folder {folder} does not exist").format(
                path=path, folder=folder
            )
        )
    if path.is_dir():
        raise InvalidInput(_("cannot write {path}: it is a folder").format(path=path))
    import tempfile  # the writers' modules load when a file is written, not for --help

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
    import csv

    writer = csv.writer(stream)
    writer.writerow([column.heading for column in columns])
    texts = [i for i, column in enumerate(columns) if column.kind == "text"]
    count = 0
    for row in rows:
        cells = list(row)
        for i in texts:
            value = cells[i]
            if isinstance(value, str):
                cells[i] = neutralise(value)
        writer.writerow(cells)  # None is written empty, a date as its ISO form
        count += 1
    return count


def write_markdown(
    stream: IO[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str,
    header: str = "",
) -> int:
    """A heading (and a ``header`` line under it) and a Markdown (GFM) table."""

    def cell(value: Cell) -> str:
        return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    stream.write(f"# {cell(title)}\n\n")
    if header:
        stream.write(f"{cell(header)}\n\n")
    stream.write("| " + " | ".join(c.heading for c in columns) + " |\n")
    stream.write("|" + "|".join("---:" if c.kind == "int" else "---" for c in columns) + "|\n")
    count = 0
    for row in rows:
        stream.write("| " + " | ".join(cell(value) for value in row) + " |\n")
        count += 1
    return count


def write_json(stream: IO[str], items: Iterable[dict[str, Any]]) -> int:
    """A JSON array, one object per line, written as the objects come."""
    import json

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
    """Columns the text takes in a terminal: wide and full-width (Chinese) characters two,
    combining marks none, every other character one."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def fit(value: object, width: int, *, right: bool = False) -> str:
    """``value`` padded to ``width`` display columns (left-aligned, or right-aligned with
    ``right``); a wider value is left whole."""
    text = str(value)
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
            fit(value, column.width, right=column.kind == "int")
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

# Print layout (landscape A4). Cells are set in 10 pt; a sheet too wide for one page at
# that size is spread over as many pages across as keep the printed text at 9 pt or more
# (``print_layout``), with the first columns (序号, 姓名) repeated on each.
FONT_NAME = "宋体"
FONT_PT = 10
MIN_PRINTED_PT = 9
A4_LANDSCAPE_MM = (297.0, 210.0)
SIDE_MARGIN_IN = 0.4
# A column of width w (in the characters of the default 11 pt font, whose digits are
# 7 px at 96 dpi) is 7w + 5 px wide: 1.852 mm a character and 1.3 mm of padding.
_MM_PER_WIDTH = 7 * 25.4 / 96
_MM_PADDING = 5 * 25.4 / 96
# Fit to a width that leaves this much room above MIN_PRINTED_PT: page breaks fall
# between columns, so a page is rarely filled to its edge.
_FIT_SLACK = 0.95
TITLE_COLUMNS = 2


@dataclass(frozen=True)
class PrintLayout:
    """How a sheet prints: its column widths (by content: the width a column's cells
    usually take, at least its heading's widest two characters), how many landscape A4
    pages across it takes, and the size the cells' 10 pt text prints at."""

    widths: tuple[float, ...]
    pages_wide: int

    @property
    def width_mm(self) -> float:
        return sum(w * _MM_PER_WIDTH + _MM_PADDING for w in self.widths)

    @property
    def scale(self) -> float:
        """The largest scale at which the sheet fits ``pages_wide`` pages across."""
        printable = A4_LANDSCAPE_MM[0] - 2 * SIDE_MARGIN_IN * 25.4
        repeated = sum(w * _MM_PER_WIDTH + _MM_PADDING for w in self.widths[:TITLE_COLUMNS])
        extra = repeated * (self.pages_wide - 1)
        return min(1.0, self.pages_wide * printable / (self.width_mm + extra))

    @property
    def printed_pt(self) -> float:
        return FONT_PT * self.scale


def column_width(column: Column) -> float:
    """A column's width in the sheet: what its cells usually take (``Column.width``, in
    display width: a Chinese character counts two), at least two heading characters (a
    heading wraps), plus a character of room."""
    return float(max(column.width, 4) + 1)


def print_layout(columns: Sequence[Column]) -> PrintLayout:
    widths = tuple(column_width(c) for c in columns)
    pages = 1
    while PrintLayout(widths, pages).printed_pt < MIN_PRINTED_PT / _FIT_SLACK and pages < 8:
        pages += 1
    return PrintLayout(widths, pages)


def write_xlsx(
    path: Path,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str,
    sheet_name: str,
    header: str = "",
    footer: str = "",
    max_rows: int = XLSX_MAX_ROWS,
) -> int:
    """An official-looking sheet: the title across the top, the ``header`` line under it
    (填报单位, 统计截止日期, 填报日期), the headings frozen below (and repeated with them on
    every printed page), then the rows, each cell bordered and wrapped in 10 pt, real
    dates (grid lines printed, so an empty cell is boxed too), and the ``footer`` line
    (signatures) after the last row. Printed landscape on
    A4, fitted to the width (``print_layout``), page numbers at the foot of each page.
    Streamed: openpyxl's write-only mode writes each row to disk at once. Rows beyond
    what a sheet holds continue on sheets named ``<sheet_name>（2）`` etc., each with the
    title, header and headings."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook(write_only=True)
    last = get_column_letter(len(columns))
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    body = Font(name=FONT_NAME, size=FONT_PT)
    layout = print_layout(columns)
    top = 3 if header else 2  # the headings' row
    per_sheet = max_rows - top
    texts = [i for i, column in enumerate(columns) if column.kind == "text"]
    align = {
        "text": Alignment(horizontal="left", vertical="center", wrap_text=True),
        "int": Alignment(horizontal="right", vertical="center", wrap_text=True),
        "date": Alignment(horizontal="center", vertical="center", wrap_text=True),
    }

    def clean(text: str) -> str:
        return ILLEGAL_CHARACTERS_RE.sub("", text)

    def line(sheet: Any, text: str, row: int, *, size: int, bold: bool = False) -> None:
        cell = WriteOnlyCell(sheet, value=clean(text))
        cell.font = Font(name=FONT_NAME, size=size, bold=bold)
        cell.alignment = Alignment(
            horizontal="center" if bold else "left", vertical="center", wrap_text=True
        )
        sheet.merged_cells.add(f"A{row}:{last}{row}")
        sheet.append([cell])

    def start(number: int) -> tuple[Any, list[Any]]:
        name = sheet_name if number == 1 else f"{sheet_name}（{number}）"
        # The write-only sheet has the page settings of a normal one (the stubs lack them).
        sheet: Any = book.create_sheet(name[:31])
        for index, width in enumerate(layout.widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = f"A{top + 1}"
        sheet.print_title_rows = f"1:{top}"
        if layout.pages_wide > 1:
            sheet.print_title_cols = f"A:{get_column_letter(TITLE_COLUMNS)}"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = layout.pages_wide
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.page_margins.left = sheet.page_margins.right = SIDE_MARGIN_IN
        sheet.page_margins.top = sheet.page_margins.bottom = 0.6
        sheet.page_margins.footer = 0.3
        sheet.print_options.horizontalCentered = True
        sheet.print_options.gridLines = True
        sheet.oddFooter.center.text = "第 &P 页 共 &N 页"
        sheet.oddFooter.center.size = FONT_PT
        sheet.oddFooter.center.font = FONT_NAME
        sheet.row_dimensions[1].height = 30
        line(sheet, title, 1, size=16, bold=True)
        if header:
            sheet.row_dimensions[2].height = 20
            line(sheet, header, 2, size=FONT_PT)
        headers = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=clean(column.heading))
            cell.font = Font(name=FONT_NAME, size=FONT_PT, bold=True)
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.fill = PatternFill("solid", fgColor="D9D9D9")
            cell.border = box
            headers.append(cell)
        sheet.append(headers)
        # One styled cell per column, reused row after row (each row is written out as it
        # is appended): the style is resolved once, not per cell. An empty cell is left
        # out (writing it costs as much as a full one); the grid lines, printed, box it.
        styled = []
        for column in columns:
            cell = WriteOnlyCell(sheet)
            cell.font = body
            cell.border = box
            cell.alignment = align[column.kind]
            if column.kind == "date":
                cell.number_format = "yyyy-mm-dd"
            styled.append(cell)
        return sheet, styled

    sheets = 1
    sheet, styled = start(sheets)
    count = in_sheet = 0
    for row in rows:
        if in_sheet == per_sheet:
            sheet.auto_filter.ref = f"A{top}:{last}{in_sheet + top}"
            sheets += 1
            sheet, styled = start(sheets)
            in_sheet = 0
        values: list[Any] = list(row)
        for i in texts:
            value = values[i]
            if isinstance(value, str) and value:
                values[i] = neutralise(clean(value))
        for i, value in enumerate(values):
            if value is None or value == "":
                values[i] = None  # left out: the printed grid lines draw its box
            else:
                cell = styled[i]
                cell.value = value
                values[i] = cell
        sheet.append(values)
        count += 1
        in_sheet += 1
    if in_sheet:
        sheet.auto_filter.ref = f"A{top}:{last}{in_sheet + top}"
    if footer:
        sheet.append([])
        line(sheet, footer, in_sheet + top + 2, size=FONT_PT)
    book.save(path)
    return count
