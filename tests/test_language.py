"""The interface speaks Chinese by default and English on request; every message the code
marks for translation has its Chinese in the catalog, and every command answers -h."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from typer.main import get_command
from typer.testing import CliRunner

from caseflow import i18n
from caseflow.cli import app
from caseflow.cli.language import take_language_option

ROOT = Path(__file__).resolve().parent.parent
FIELD = re.compile(r"\{[^{}]*\}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def extracted_messages() -> dict[str, str]:
    """Every message the code marks (msgid → where), as `pybabel extract` finds them."""
    found: dict[str, str] = {}
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    method_map = [("caseflow/**.py", "python")]
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map=method_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message  # plurals: the singular
        found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def chinese_catalog() -> dict[str, str]:
    with i18n.catalog_path().open("rb") as handle:
        catalog = read_po(handle)
    return {
        str(message.id if isinstance(message.id, str) else message.id[0]): (
            ""
            if message.fuzzy
            else str(message.string if isinstance(message.string, str) else message.string[0])
        )
        for message in catalog
        if message.id
    }


def test_every_marked_message_has_its_chinese_in_the_catalog() -> None:
    catalog = chinese_catalog()
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in extracted_messages().items()
        if not catalog.get(msgid)
    ]
    assert not missing, "untranslated (run docs/translation.md's update):\n" + "\n".join(missing)


def test_the_catalog_holds_no_message_the_code_no_longer_uses() -> None:
    unused = sorted(set(chinese_catalog()) - set(extracted_messages()))
    assert not unused, unused


def test_each_translation_keeps_the_fields_of_its_message_and_is_chinese() -> None:
    wrong = []
    for msgid, msgstr in chinese_catalog().items():
        if not msgstr:
            continue
        if sorted(FIELD.findall(msgid)) != sorted(FIELD.findall(msgstr)):
            wrong.append(f"fields differ: {msgid!r} → {msgstr!r}")
        if re.search(r"[A-Za-z]{2}", FIELD.sub("", msgid)) and not CJK.search(msgstr):
            wrong.append(f"not Chinese: {msgid!r} → {msgstr!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "zh_CN"),
        ({"LANG": "C.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh_CN"),
        ({"CASEFLOW_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"CASEFLOW_LANG": "zh", "LANG": "en_GB.UTF-8"}, "zh_CN"),
    ],
)
def test_the_language_follows_the_environment(environment: dict[str, str], expected: str) -> None:
    assert i18n.language_from_environment(environment) == expected


def test_lang_may_stand_anywhere_on_the_line() -> None:
    try:
        assert take_language_option(["case", "list", "--lang", "en", "--limit", "3"]) == [
            "case",
            "list",
            "--limit",
            "3",
        ]
        assert i18n.language() == "en"
        assert take_language_option(["--lang=zh", "case", "--", "--lang", "en"]) == [
            "case",
            "--",
            "--lang",
            "en",
        ]
        assert i18n.language() == "zh_CN"
    finally:
        i18n.set_language(None)


def _paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*path, name))


COMMAND_PATHS = list(_paths(get_command(app)))


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda path: " ".join(path) or "caseflow")
def test_every_command_answers_dash_h(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_help_is_chinese_by_default_and_english_on_request() -> None:
    runner = CliRunner()
    chinese = runner.invoke(app, ["case", "open", "-h"], env={"CASEFLOW_LANG": "", "LANG": ""})
    assert chinese.exit_code == 0
    assert chinese.output.startswith("用法：root case open")
    english = runner.invoke(
        app, ["case", "open", "-h"], env={"CASEFLOW_LANG": "", "LANG": "en_US.UTF-8"}
    )
    assert english.output.startswith("Usage: root case open")
    assert runner.invoke(app, ["case", "open", "-h", "--lang", "en"]).output.startswith("Usage:")


def test_an_unknown_option_is_refused_in_chinese_with_where_to_find_help() -> None:
    result = CliRunner().invoke(app, ["--lang", "zh", "case", "open", "--bogus"])
    assert result.exit_code == 2
    assert "用法：root case open" in result.output
    assert "错误：没有选项 --bogus" in result.output
