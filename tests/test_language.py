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


# --- No English left in the Chinese interface -------------------------------------------

ACRONYMS = {
    "ID",
    "CSV",
    "XLSX",
    "JSON",
    "PDF",
    "HTML",
    "SMTP",
    "URL",
    "OS",
    "SMS",
    "HTTP",
    "HTTPS",
    "UTF",
    "SQL",
    "PostgreSQL",
    "SQLite",
    "Parquet",
    "WeCom",
    "DingTalk",
    "Excel",
    "LibreOffice",
    "chromium",
    "caseflow",
    "zh",
    "en",
    "umask",
    "TLS",
    "STARTTLS",
    "IP",
}
ACRONYMS |= {"Markdown", "Windows", "WPS", "GB", "Python", "Babel", "Mermaid", "root", "Ctrl"}
ACRONYMS |= {"APScheduler", "Notifier", "systemd", "crontab", "Cron", "Graphviz", "SVG"}
_CODE_LIKE = re.compile(
    r"https?://\S+"  # addresses
    r"|`[^`]*`"  # quoted commands and values
    r"|--?[A-Za-z][\w-]*"  # options
    r"|\$[A-Z_]+"  # environment variables
    r"|\{[^{}]*\}"  # fields and choice lists
    r"|<[^<>]*>"  # value kinds
    r"|[\w./-]*\.(?:yaml|yml|toml|csv|xlsx|json|pdf|html|db|parquet|txt|md|po|mo|py)\b"
    r"|\b\w*[_/]\w*\b"  # codes and paths: close_not_dropout, rosters/
    r"|\b[A-Z]{2,}\b"  # acronyms and value names
    r"|\b\w+(?:\.\w+)+\b|\[[\w.]+\]"  # settings: figures.cohort_entrants, [procedure]
    r"|\b(?:pip install|chown -R)[^，。；）]*"  # commands of other programs
)


def _workflow_codes() -> set[str]:
    import yaml

    codes: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str) and re.fullmatch(r"[a-z][a-z0-9]*", node):
            codes.add(node)

    for path in (ROOT / "workflows").glob("*.yaml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return codes


def english_left(text: str, allowed: set[str]) -> list[str]:
    """English phrases left in a Chinese text: runs of two or more English words, or a
    capitalised one, once codes, options, file names, commands and acronyms are set aside.
    A single lowercase word is a code the reader types (户籍（household）, `true`)."""
    leftovers = []
    for run in re.findall(r"[A-Za-z]+(?:[ -]+[A-Za-z]+)*", _CODE_LIKE.sub(" ", text)):
        words = [w for w in re.split(r"[ -]+", run) if w not in allowed | ACRONYMS]
        if len(words) >= 2 or any(len(w) > 1 and w[0].isupper() for w in words):
            leftovers.append(run)
    return leftovers


def _command_names(command: object) -> set[str]:
    names: set[str] = set()
    for name, sub in getattr(command, "commands", {}).items():
        names.add(name)
        names |= _command_names(sub)
        names |= {param.name for param in getattr(sub, "params", []) if param.name}
    return names


ALLOWED_WORDS = _workflow_codes() | _command_names(get_command(app))


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda path: " ".join(path) or "caseflow")
def test_the_chinese_help_of_every_command_has_no_english_left(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, ["--lang", "zh", *path, "-h"])
    assert result.exit_code == 0, result.output
    assert english_left(result.output, ALLOWED_WORDS) == [], result.output


def test_no_chinese_message_of_the_catalog_leaves_english_in() -> None:
    leftovers = {
        msgid: english_left(msgstr, ALLOWED_WORDS)
        for msgid, msgstr in chinese_catalog().items()
        if msgstr and english_left(msgstr, ALLOWED_WORDS)
    }
    assert not leftovers, "\n".join(f"{k!r}: {v}" for k, v in leftovers.items())


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda path: " ".join(path) or "caseflow")
def test_the_chinese_help_fits_an_80_column_terminal(path: tuple[str, ...]) -> None:
    from caseflow.exports import display_width

    result = CliRunner().invoke(app, ["--lang", "zh", *path, "-h"], terminal_width=80)
    too_wide = [
        line
        for line in result.output.splitlines()
        if display_width(line) > 80 and " " in line.strip()  # one unbreakable word may overflow
    ]
    assert not too_wide, "\n".join(too_wide)


def test_no_message_is_marked_inside_an_f_string_where_the_catalog_cannot_see_it() -> None:
    marked_inside = re.compile(r"""\bf(["'])(?:(?!\1).)*\{[^}]*\b_\((["'])""")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "caseflow").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marked_inside.search(line)
    ]
    assert not found, "\n".join(found)
