"""Tables for a terminal: columns padded by display width (a Chinese or full-width character
takes two columns), a header row, long listings cut at ``--limit`` with a line saying so,
and a pager when standard output is a terminal."""

import re
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, TypeVar

import typer

from caseflow.exports import display_width, fit
from caseflow.i18n import N_, _

DEFAULT_LIMIT = 50
GAP = "  "
T = TypeVar("T")

# Characters that move the cursor, rewrite the screen or the window title, or reverse the
# text when printed raw: C0 controls (newline aside, which the caller may keep), DEL, C1
# controls (including the 8-bit CSI and OSC), the Unicode line and paragraph separators and
# the bidirectional and zero-width formatting characters.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_CONTROL_OR_NEWLINE = re.compile(_CONTROL.pattern[:-1] + "\n]")


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object, *, newlines: bool = False) -> str:
    """``value`` as text that is safe to print on a terminal: every control character
    (ESC of an ANSI or OSC sequence, CR, backspace, bell, the C1 range, bidirectional
    overrides) is shown as the visible text ``\\x1b`` / ``\\u202e`` instead of acting on the
    terminal. A newline is kept with ``newlines=True`` (a multi-line note), else shown as
    ``\\x0a``. Every human output of a name, note, guardian field or register value goes
    through it, terminal or not."""
    text = str(value)
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escaped, text)


LimitOption = Annotated[
    int,
    typer.Option("--limit", help=N_("At most this many rows (0: all of them)."), min=0),
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
    cells = [[printable(cell) for cell in row] for row in rows]
    headers = [printable(header) for header in headers]
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
    return _("{total} rows, the first {limit} shown; --limit 0 shows them all").format(
        total=total, limit=limit
    )


def limited(rows: Sequence[T], limit: int) -> Sequence[T]:
    """The first ``limit`` rows (all of them when ``limit`` is 0)."""
    return rows if limit <= 0 else rows[:limit]


def echo_lines(lines: Sequence[str]) -> None:
    """Print lines; through a pager when standard output is a terminal and the lines are
    more than a screen, plainly otherwise (a pipe or a file gets no pager). Control
    characters are shown escaped (``printable``), terminal or not; newlines stay."""
    lines = [printable(line, newlines=True) for line in lines]
    if sys.stdout.isatty() and len(lines) > _screen_rows():
        import pydoc  # only when paging: --help need not pay for it

        pydoc.pager("\n".join(lines) + "\n")  # $PAGER, else less, as git does
        return
    for line in lines:
        typer.echo(line)


def _screen_rows() -> int:
    import shutil

    return shutil.get_terminal_size().lines - 1
