"""The parts of README.md generated from the code: the command reference and the
workflow diagram.

    python -m caseflow.cli.reference            # print the command reference (Markdown)
    python -m caseflow.cli.reference --write    # rewrite both parts of README.md
    python -m caseflow.cli.reference --check    # exit 1 if README.md's copy is out of date

The reference walks the click command tree that typer builds from ``caseflow.cli.app``
and writes, for every group and command in the order ``--help`` lists them, a heading,
the usage line, the help text and the arguments and options with their help and
defaults, as ``--help`` shows them. The diagram is ``caseflow workflow diagram`` of the
shipped workflow, as a Mermaid block. Each part sits in README.md between its two
markers. ``caseflow.cli`` does not import this module, so the CLI's start-up time does
not pay for it.
"""

import argparse
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typer._click import Command, Context

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
DIAGRAM_START = "<!-- workflow-diagram:start -->"
DIAGRAM_END = "<!-- workflow-diagram:end -->"
DIAGRAM_WORKFLOW = "dropout"
PROG = "caseflow"
COMMAND = "python -m caseflow.cli.reference --write"
README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True)
class Entry:
    """One command or group: its words after ``caseflow`` and its click objects."""

    path: tuple[str, ...]
    command: "Command"
    context: "Context"
    is_group: bool

    @property
    def name(self) -> str:
        return " ".join((PROG, *self.path))


def _root() -> "Command":
    import typer.main

    from caseflow import i18n
    from caseflow.cli import app, language

    root = typer.main.get_command(app)
    with i18n.using(i18n.ENGLISH):  # the README's language, whatever ran in this process
        language.translate_tree(root)
    return root


def _subcommands(command: "Command", context: "Context") -> list[tuple[str, "Command"]]:
    from typer.core import TyperGroup

    if not isinstance(command, TyperGroup):
        return []
    found = []
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is not None and not sub.hidden:
            found.append((name, sub))
    return found


def entries() -> list[Entry]:
    """Every command and group, depth first, in the order ``--help`` lists them."""
    root = _root()
    result: list[Entry] = []

    def walk(path: tuple[str, ...], command: "Command", parent: "Context | None") -> None:
        name = path[-1] if path else PROG
        context = command.context_class(command, info_name=name, parent=parent)
        subs = _subcommands(command, context)
        result.append(Entry(path, command, context, is_group=bool(subs) or not path))
        for sub_name, sub in subs:
            walk((*path, sub_name), sub, context)

    walk((), root, None)
    return result


# ----------------------------------------------------------------------------- Markdown

_CODE_SPAN = re.compile(r"(`[^`]*`)")
# Characters that Markdown could read as markup in running text: emphasis, HTML, escapes.
_SPECIAL = re.compile(r"([\\*<>])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _escape(text: str) -> str:
    """Running text for Markdown: code spans kept as they are, markup characters escaped."""
    parts = _CODE_SPAN.split(text)
    return "".join(
        part if index % 2 else _SPECIAL.sub(lambda m: "\\" + m.group(0), part)
        for index, part in enumerate(parts)
    )


def _help_blocks(help_text: str | None) -> Iterator[str]:
    """The help text as Markdown blocks: paragraphs rewrapped onto one line each, as
    ``--help`` rewraps them, and ``\\b`` paragraphs (kept as written) as code blocks."""
    text = inspect.cleandoc(help_text or "").partition("\f")[0]
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.splitlines()
        if not lines:
            continue
        if lines[0].strip() == "\b":
            yield "```text\n" + "\n".join(lines[1:]) + "\n```"
        else:
            yield _escape(" ".join(line.strip() for line in lines))


def _first_sentence(entry: Entry) -> str:
    return entry.command.get_short_help_str(limit=1000)


def _parameters(entry: Entry) -> Iterator[tuple[str, str, str]]:
    """(kind, name with metavar, help with its [default: …; required] note) per parameter,
    leaving out ``--help``."""
    for param in entry.command.get_params(entry.context):
        if param.name == "help":
            continue
        record = param.get_help_record(entry.context)
        if record is None:
            continue
        name, help_text = record
        yield param.param_type_name, name, help_text


def _param_line(name: str, help_text: str) -> str:
    help_text = " ".join(help_text.split())
    note = ""
    found = re.search(r"\s*(\[[^\[\]]*\])$", help_text)
    if found:  # typer appends "[default: x; required]": keep it, as code
        note = f" `{found.group(1)}`"
        help_text = help_text[: found.start()]
    separator = ": " if help_text else ""
    return f"- `{name}`{separator}{_escape(help_text)}{note}"


def _section(entry: Entry) -> str:
    level = "###" if len(entry.path) <= 1 else "####"
    usage = " ".join(
        [entry.context.command_path, *entry.command.collect_usage_pieces(entry.context)]
    )
    blocks = [
        f"{level} `{entry.name}`",
        f"```text\n{usage}\n```",
        *_help_blocks(entry.command.help),
    ]
    for kind, title in (("argument", "Arguments"), ("option", "Options")):
        lines = [_param_line(name, text) for k, name, text in _parameters(entry) if k == kind]
        if lines:
            blocks.append(f"{title}:\n\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def reference() -> str:
    """The whole reference, as it stands between the markers in README.md (in English, the
    README's language)."""
    from caseflow import i18n

    with i18n.using(i18n.ENGLISH):
        return _reference()


def _reference() -> str:
    everything = entries()
    index = "\n".join(
        f"- `{entry.name}`: {_escape(_first_sentence(entry))}" for entry in everything[1:]
    )
    parts = [
        f"<!-- Generated from the commands by `{COMMAND}`; do not edit by hand. -->",
        index,
        *(_section(entry) for entry in everything),
    ]
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- diagram


def workflow_diagram() -> str:
    """``caseflow workflow diagram`` of the shipped workflow, as a Mermaid block."""
    from caseflow.resources import shipped
    from caseflow.states import load_workflow, mermaid

    source = mermaid(load_workflow(shipped("workflows") / f"{DIAGRAM_WORKFLOW}.yaml"))
    return "```mermaid\n" + source.rstrip("\n") + "\n```\n"


# ----------------------------------------------------------------------------- README


def between_markers(text: str, start: str = START, end: str = END) -> str:
    """The text between two markers, without the newlines next to them."""
    first, last = text.find(start), text.find(end)
    if first < 0 or last < first:
        raise ValueError(f"the README has no {start} ... {end} section")
    return text[first + len(start) : last].strip("\n") + "\n"


def with_part(text: str, generated: str, start: str = START, end: str = END) -> str:
    """``text`` with the part between two markers replaced by ``generated``."""
    between_markers(text, start, end)  # raises when the markers are missing
    first, last = text.find(start) + len(start), text.find(end)
    return text[:first] + "\n" + generated.strip("\n") + "\n" + text[last:]


def generated_parts() -> list[tuple[str, str, str]]:
    """(start marker, end marker, content) of each generated part of the README."""
    return [(START, END, reference()), (DIAGRAM_START, DIAGRAM_END, workflow_diagram())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caseflow.cli.reference",
        description="The parts of README.md generated from the code: the command reference "
        "(printed without options) and the workflow diagram.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite them in the README")
    action.add_argument("--check", action="store_true", help="exit 1 if the README's are stale")
    parser.add_argument("--readme", type=Path, default=README, help="default: %(default)s")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        sys.stdout.write(reference())
        return 0
    try:
        text = args.readme.read_text(encoding="utf-8")
        updated = text
        for start, end, content in generated_parts():
            updated = with_part(updated, content, start, end)
    except (OSError, ValueError) as exc:
        print(f"Error: {args.readme}: {exc}", file=sys.stderr)
        return 2
    if updated == text:
        return 0
    if args.check:
        print(f"{args.readme}: the generated parts are out of date; run {COMMAND}")
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"Rewrote the command reference and the workflow diagram in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
