"""Control characters people typed (ESC sequences that recolour or clear the screen, OSC
sequences that retitle the window or hide a hyperlink, carriage returns that overwrite a
line, C1 controls, bidirectional overrides) reach the terminal escaped, as visible text,
in `case show`, `case history` and `case list` — on a terminal or not."""

from __future__ import annotations

import re

import pytest

from caseflow.cli.table import printable, table
from tests.conftest import CliInvoker, open_case_by_cli

# Whatever could act on a terminal: C0 (but newline), DEL, C1, bidi and line separators.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

ESC_NAME = "张\x1b[2J\x1b[31m小华"  # clears the screen, turns the text red
OSC_TITLE = "李\x1b]0;pwned\x07四"  # retitles the window
OSC_LINK = "\x1b]8;;http://evil.example/\x1b\\王五\x1b]8;;\x1b\\"  # a hidden hyperlink
CR_NOTE = "家长同意返校\r已销号"  # the carriage return would print 已销号 over the first words


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("a\rb", "a\\x0db"),
        ("a\x9bb", "a\\x9bb"),
        ("a\x07b", "a\\x07b"),
        ("a\u202eb", "a\\u202eb"),
        ("a\tb", "a\\x09b"),
        ("a\nb", "a\\x0ab"),
        ("张三（2）班", "张三（2）班"),
    ],
)
def test_printable_shows_each_control_character_as_visible_text(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_a_multi_line_note_keeps_its_newlines_and_nothing_else() -> None:
    assert printable("一\n二\x1b[K", newlines=True) == "一\n二\\x1b[K"


def test_a_table_cell_cannot_break_the_row_or_the_columns() -> None:
    lines = table(("姓名", "村"), [("张\n三\x1b[2K", "天堂村"), ("李四", "新寨村")])
    assert len(lines) == 3
    assert not any(RAW_CONTROL.search(line) for line in lines)
    assert "天堂村" in lines[1] and "新寨村" in lines[2]  # each row on its own line


def _hostile_case(cli: CliInvoker) -> int:
    number = open_case_by_cli(cli)
    renamed = cli(
        "case",
        "update",
        str(number),
        "--guardian",
        OSC_TITLE,
        "--guardian-relation",
        OSC_LINK,
    )
    assert renamed.exit_code == 0, renamed.stderr
    added = cli("case", "guardian", "add", str(number), "--name", ESC_NAME, "--relation", "母亲")
    assert added.exit_code == 0, added.stderr
    noted = cli("case", "note", str(number), CR_NOTE + "\n第二行\x1b[1A", "--method", "电话")
    assert noted.exit_code == 0, noted.stderr
    return number


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_show_history_and_list_print_control_characters_escaped(cli: CliInvoker, lang: str) -> None:
    number = _hostile_case(cli)
    outputs = [
        cli("--lang", lang, "case", "show", str(number)),
        cli("--lang", lang, "case", "history", str(number)),
        cli("--lang", lang, "case", "list"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.stderr
        assert not RAW_CONTROL.search(result.stdout), repr(result.stdout)
    shown, history, _listed = (result.stdout for result in outputs)
    assert "\\x1b[2J" in shown and "\\x1b]0;pwned\\x07" in shown
    assert "\\x1b]8;;http://evil.example/" in shown
    assert "家长同意返校\\x0d已销号\n" in history  # the note's own newline stays a newline
    assert "第二行\\x1b[1A" in history


def test_a_hostile_child_name_is_escaped_in_the_case_list(cli: CliInvoker) -> None:
    from tests.conftest import child_id_number

    opened = cli(
        "case",
        "open",
        "--name",
        ESC_NAME,
        "--id-number",
        child_id_number(5),
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
    )
    assert opened.exit_code == 0, opened.stderr
    listed = cli("case", "list")
    assert not RAW_CONTROL.search(listed.stdout)
    assert "张\\x1b[2J\\x1b[31m小华" in listed.stdout
