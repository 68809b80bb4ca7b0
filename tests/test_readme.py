"""The README stays true: its generated parts are current, every command line it shows
names a real command, the set-up commands are where `.ci/run` looks for them, and the
annotated workflow excerpt matches the shipped workflow."""

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow.cli import reference as cli_reference
from caseflow.resources import shipped

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIRST_COMMAND = "python3.11 -m venv .venv && . .venv/bin/activate && pip install . && caseflow demo"
TEST_COMMAND = (
    "python3.11 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && pytest -n 2"
)
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "ini"}
GLOBAL_OPTIONS_WITH_VALUE = {"-w", "--workspace", "--as", "--lang"}
PREFIXES = {"do", "then", "else", "time", "exec", "!"}


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def command_paths() -> set[tuple[str, ...]]:
    """The words naming each command and group, e.g. ``("case", "open")``."""
    return {entry.path for entry in cli_reference.entries()}


def _without_generated(text: str) -> str:
    """The README without the generated parts (they come from the commands themselves)."""
    for start, end, _content in cli_reference.generated_parts():
        first, last = text.find(start), text.find(end)
        text = text[:first] + text[last:]
    return text


def _shell_lines(text: str) -> list[str]:
    """Command lines of the shell (and systemd) code blocks, continuations joined, and the
    inline code spans of the prose that start with `caseflow `."""
    lines = []
    for language, body in FENCE.findall(text):
        if language in SHELL_LANGUAGES:
            lines.extend(body.replace("\\\n", " ").splitlines())
    prose = FENCE.sub("", text)
    lines.extend(span for span in re.findall(r"`([^`\n]+)`", prose) if span.startswith("caseflow "))
    return lines


def _invocations(line: str) -> list[list[str]]:
    """The words after each `caseflow` a line runs, e.g. ["case", "open", "--name", ...]."""
    found = []
    for segment in re.split(r"\$\(|&&|\|\||[;|()]", line):
        try:
            words = shlex.split(segment, comments=True)
        except ValueError:  # an unbalanced quote cut by the split: words are enough
            words = segment.split()
        while words and (words[0] in PREFIXES or re.fullmatch(r"\w+=.*", words[0])):
            if words[0].split("=", 1)[-1].endswith("/caseflow"):  # ExecStart=.../caseflow
                break
            words.pop(0)  # a keyword or an environment assignment before the command
        if words and (words[0] == "caseflow" or words[0].endswith("/caseflow")):
            found.append(words[1:])
    return found


def _command_path(words: list[str]) -> tuple[str, ...]:
    """The command the words name: global options skipped, then a command and, for a
    group, its subcommand."""
    rest = list(words)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in GLOBAL_OPTIONS_WITH_VALUE and rest:
            rest.pop(0)
    path: tuple[str, ...] = ()
    groups = {p[:-1] for p in command_paths() if len(p) > 1}
    while rest and not rest[0].startswith("-") and (path == () or path in groups):
        path = (*path, rest.pop(0))
    return path


def test_generated_parts_are_current(readme: str) -> None:
    for start, end, content in cli_reference.generated_parts():
        assert cli_reference.between_markers(readme, start, end) == content, (
            f"README.md's part between {start} and {end} is out of date: "
            f"run `{cli_reference.COMMAND}`"
        )


def test_reference_covers_every_command(readme: str) -> None:
    reference = cli_reference.between_markers(readme)
    for path in command_paths():
        heading = "`" + " ".join(("caseflow", *path)) + "`"
        assert re.search(rf"^#+ {re.escape(heading)}$", reference, re.MULTILINE), heading


def test_every_command_line_names_a_command(readme: str) -> None:
    known = command_paths()
    checked = 0
    for line in _shell_lines(_without_generated(readme)):
        for words in _invocations(line):
            path = _command_path(words)
            assert path and path in known, f"README: {line.strip()!r} names no caseflow command"
            checked += 1
    assert checked > 50  # the parsing found the README's commands at all


def test_command_line_parsing() -> None:
    assert _invocations("caseflow -w my-county case show 1   # comment") == [
        ["-w", "my-county", "case", "show", "1"]
    ]
    assert _command_path(["-w", "x", "--as", "某人", "case", "note", "12", "电话"]) == (
        "case",
        "note",
    )
    assert _command_path(["demo"]) == ("demo",)
    assert _command_path(["case", "--help"]) == ("case",)
    assert _command_path(["cases", "show"]) == ("cases",)  # not a command: caught
    inner = _invocations('caseflow audit verify --checkpoint "$(caseflow audit checkpoint)"')
    assert [_command_path(w) for w in inner] == [("audit", "verify"), ("audit", "checkpoint")]
    assert _invocations("ExecStart=/srv/venv/bin/caseflow scheduler run --wait") == [
        ["scheduler", "run", "--wait"]
    ]
    assert _invocations("createdb caseflow") == []
    assert _invocations("for s in a b; do caseflow roster import $s $s.csv") == [
        ["roster", "import", "$s", "$s.csv"]
    ]
    assert _invocations("CASEFLOW_WORKSPACE=x caseflow stats") == [["stats"]]


def test_setup_commands_are_at_the_top(readme: str) -> None:
    setup = readme.split("\n## ", 2)[1]  # the first section
    assert setup.startswith("Set up\n")
    blocks = FENCE.findall(setup)
    assert [body.strip() for _language, body in blocks] == [FIRST_COMMAND, TEST_COMMAND]
    assert FENCE.search(readme.split("\n## ", 1)[0]) is None  # nothing before them


def test_ci_finds_the_test_command(readme: str) -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    found = re.search(r"grep -m1 -E '([^']+)' README\.md", script)
    assert found, ".ci/run no longer greps the README for its test command"
    line = re.search(found.group(1), readme, re.MULTILINE)
    assert line is not None
    assert readme[line.start() :].splitlines()[0] == TEST_COMMAND


def _contains(whole: Any, part: Any, where: str) -> None:
    """Every key and value of ``part`` is in ``whole``; list items of transitions are
    matched by trigger."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key} is not in workflows/dropout.yaml"
            _contains(whole[key], value, f"{where}.{key}")
    elif (
        isinstance(part, list)
        and part
        and all(isinstance(p, dict) and "trigger" in p for p in part)
    ):
        for item in part:
            same = [w for w in whole if w.get("trigger") == item.get("trigger")]
            assert same, f"{where}: no transition {item.get('trigger')!r}"
            _contains(same[0], item, f"{where}[{item.get('trigger')}]")
    else:
        assert whole == part, f"{where}: README has {part!r}, the workflow {whole!r}"


def test_workflow_excerpt_matches_the_shipped_workflow(readme: str) -> None:
    excerpts = [
        body
        for language, body in FENCE.findall(readme)
        if language == "yaml" and body.startswith("# workflows/dropout.yaml (excerpt)")
    ]
    assert len(excerpts) == 1
    shipped_file = shipped("workflows") / "dropout.yaml"
    whole = yaml.safe_load(shipped_file.read_text(encoding="utf-8"))
    _contains(whole, yaml.safe_load(excerpts[0]), "dropout")


def test_links_within_the_readme_lead_somewhere(readme: str) -> None:
    prose = FENCE.sub("", readme)
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", prose, re.MULTILINE)
    }
    for target in re.findall(r"\]\(#([^)]+)\)", prose):
        assert target in anchors, f"README links to #{target}, which is no heading"


def test_the_cli_does_not_import_the_generator() -> None:
    code = "import sys, caseflow.cli; print('caseflow.cli.reference' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "False"
