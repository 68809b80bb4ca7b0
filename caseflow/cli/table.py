"""Tables for a terminal: columns padded by display width (a Chinese or full-width character
takes two columns), a header row, long listings cut at ``--limit`` with a line saying so,
and a pager when standard output is a terminal."""

import pydoc
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, TypeVar

import typer

from caseflow.exports import display_width, fit

DEFAULT_LIMIT = 50
GAP = "  "
T = TypeVar("T")

LimitOption = Annotated[
    int,
    typer.Option(
        "--limit", help=f"最多显示的行数（默认 {DEFAULT_LIMIT}；0 表示全部显示）。", min=0
    ),
]


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Iterable[int] = (),
    indent: str = "",
) -> list[str]:
    """A header row and one line a row, each column as wide (in display columns) as its
    widest cell, so that every column starts at the same display column on every line.
    Columns whose index is in ``right`` are right-aligned (numbers); the last column is not
    padded."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell))
    on_right = set(right)
    last = len(headers) - 1

    def line(row: Sequence[str]) -> str:
        parts = [
            cell if i == last and i not in on_right else fit(cell, widths[i], right=i in on_right)
            for i, cell in enumerate(row)
        ]
        return (indent + GAP.join(parts)).rstrip()

    return [line(list(headers))] + [line(row) for row in cells]


def limit_note(total: int, limit: int) -> str | None:
    """The last line of a listing cut at ``limit`` rows, or None when all are shown."""
    if limit <= 0 or total <= limit:
        return None
    return f"共 {total} 条，显示前 {limit} 条；用 --limit 0 显示全部"


def limited(rows: Sequence[T], limit: int) -> Sequence[T]:
    """The first ``limit`` rows (all of them when ``limit`` is 0)."""
    return rows if limit <= 0 else rows[:limit]


def echo_lines(lines: Sequence[str]) -> None:
    """Print lines; through a pager when standard output is a terminal and the lines are
    more than a screen, plainly otherwise (a pipe or a file gets no pager)."""
    if sys.stdout.isatty() and len(lines) > _screen_rows():
        pydoc.pager("\n".join(lines) + "\n")  # $PAGER, else less, as git does
        return
    for line in lines:
        typer.echo(line)


def _screen_rows() -> int:
    import shutil

    return shutil.get_terminal_size().lines - 1
