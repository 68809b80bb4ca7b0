"""`caseflow case … -h`, `caseflow workflow … -h`, `init -h` and `escalate -h` read entirely in
Chinese by default: what is left in Latin letters is an option name, a code a person may
type (visit, migrant_work …), a file or command name, or an argument's name."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from caseflow.cli import app
from caseflow.org import CHAIN_ROLES
from caseflow.states import CASE_SOURCES, NOTE_METHODS

# Option names, `commands`, file names, $VARIABLES, snake_case codes, URLs, CONSTANTS.
CODE = re.compile(
    r"--[\w-]+|`[^`]*`|\b[\w*]+\.(?:yaml|toml|db|json)\b|\$\w+|\b[a-z]+_[a-z_]+\b|\w+://\S+"
    r"|\b[A-Z_]{2,}\b|\w+\[\]\.\w+"
)
# Codes a person may type, named beside their Chinese (来源, 劝返方式, 角色), and names.
ALLOWED = {
    *CASE_SOURCES,
    *NOTE_METHODS,
    *CHAIN_ROLES,
    "bureau",
    "admin",
    "dropout",
    "outbox",
    "mermaid",
    "Mermaid",
    "dot",
    "svg",
    "Graphviz",
    "workflows",
    "migrated",
    "reopen",
    "root",  # the program's name in the test runner
    "caseflow",
    "yaml",
    "case",  # the audit event case.migrated
}
# The kinds of values the parser names beside an option (<str>, <int> …).
VALUE_KINDS = {"str", "int", "Path", "path", "list", "range"}


def _paths() -> Iterator[tuple[str, ...]]:
    root = get_command(app)
    yield ("init",)
    yield ("escalate",)

    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    for group in ("case", "workflow"):
        yield from walk(root.commands[group], (group,))  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", list(_paths()), ids=" ".join)
def test_help_reads_in_chinese_by_default(path: tuple[str, ...]) -> None:
    environment = {"CASEFLOW_LANG": "", "LANG": "", "COLUMNS": "400"}  # no word cut at a wrap
    result = CliRunner().invoke(app, [*path, "-h"], env=environment)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("用法：")
    command = _command(path)
    names = {
        *ALLOWED,
        *path,
        *(param.name for param in command.params if param.name),  # type: ignore[attr-defined]
        *getattr(command, "commands", {}),
        *VALUE_KINDS,
    }
    text = re.sub(r"\n\s+", "", result.output)  # a word the help wrapped, whole again
    english = set(re.findall(r"[A-Za-z]{2,}", CODE.sub("", text))) - names
    assert not english, f"English left in `{' '.join(path)} -h`: {sorted(english)}"


def _command(path: tuple[str, ...]) -> object:
    command: object = get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def test_help_is_english_on_request() -> None:
    result = CliRunner().invoke(app, ["case", "advance", "-h", "--lang", "en"])
    assert "Fire a transition on a case" in result.output
    assert "The transition, by its name or code" in result.output
