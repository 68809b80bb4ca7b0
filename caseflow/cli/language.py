"""The command line in the reader's language: `--lang` anywhere on the line, help texts
translated where they are shown, and the parser's own messages (usage, missing or unknown
options, bad values) in the same language as ours."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import typer
import typer.core
from typer._click import Command, Context, HelpFormatter, Parameter
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperGroup

from caseflow import i18n
from caseflow.i18n import N_, _

LANG_FLAG = "--lang"
HELP_OPTION_NAMES = ["-h", "--help"]


def take_language_option(args: list[str]) -> list[str]:
    """Removes ``--lang X`` / ``--lang=X`` from anywhere before ``--``, applies it, and
    returns the rest of the arguments."""
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg == LANG_FLAG and index + 1 < len(args):
            i18n.set_language(args[index + 1])
            index += 2
            continue
        if arg.startswith(LANG_FLAG + "="):
            i18n.set_language(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        index += 1
    return rest


_WIDE = "\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
_TOKEN = re.compile(rf"[{_WIDE}]|[^\s{_WIDE}]+|\s+")
_NO_LINE_START = set("，。、；：！？）」』》”’…")
_NO_LINE_END = set("（「『《“‘")


def _joined(lines: list[str]) -> str:
    """The lines of one paragraph as one run of text: a space between two words, none
    where either side is Chinese."""
    text = ""
    for line in (line.strip() for line in lines):
        if text and line and not (re.match(rf"[{_WIDE}]", line) or re.search(rf"[{_WIDE}]$", text)):
            text += " "
        text += line
    return text


def wrap(text: str, width: int) -> list[str]:
    """The text's paragraphs in lines of at most `width` terminal columns (a Chinese character
    takes two), broken between words or between Chinese characters, never before closing
    punctuation; paragraphs stay apart by an empty line, and one marked with a backspace
    (click's mark) keeps its lines as written."""
    from caseflow.exports import display_width

    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        if lines:
            lines.append("")
        if paragraph.startswith("\b"):  # click's mark for a paragraph kept as written
            lines.extend(paragraph[1:].strip("\n").splitlines())
            continue
        line: list[str] = []  # the tokens of the line being filled; " " between words
        for token in _TOKEN.findall(_joined(paragraph.splitlines())):
            if token.isspace():
                if line and line[-1] != " ":
                    line.append(" ")
                continue
            if not line or display_width("".join(line) + token) <= width:
                line.append(token)
                continue
            carried = _carried(line, token)
            lines.append("".join(line[: len(line) - len(carried)]).rstrip())
            line = [*carried, token] if carried != [" "] else [token]
        lines.append("".join(line).rstrip())
    return lines


def _carried(line: list[str], token: str) -> list[str]:
    """The tokens at the end of a full line that go down with `token`: none, unless the
    token may not begin a line (closing punctuation) or the line may not end as it does
    (opening punctuation) — then the word before it goes too."""
    if line[-1] == " ":
        return [" "]
    end = len(line)
    if token in _NO_LINE_START:
        end -= 1
        while end > 0 and line[end] in _NO_LINE_START:
            end -= 1
    while end > 0 and line[end - 1] in _NO_LINE_END:
        end -= 1
    return line[end:] if 0 < end < len(line) else []


class _Formatter(HelpFormatter):
    """Help wrapped by terminal columns (Chinese characters are two wide), in the reader's
    language."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, prefix=_("Usage: ") if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(" " * self.current_indent + _("{heading}:").format(heading=heading) + "\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        width = max(self.width - self.current_indent, 20)
        for line in wrap(text, width):
            self.write(f"{indent}{line}\n" if line else "\n")

    def write_dl(
        self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        from caseflow.exports import display_width

        rows = list(rows)
        first_width = min(max((display_width(first) for first, _ in rows), default=0), col_max)
        column = first_width + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            self.write(f"{indent}{first}")
            if not second:
                self.write("\n")
                continue
            if display_width(first) <= first_width:
                self.write(" " * (column - display_width(first)))
            else:
                self.write("\n" + " " * (column + self.current_indent))
            lines = wrap(second, max(self.width - column - 2, 10)) or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{indent}{' ' * column}{line}\n" if line else "\n")


class TranslatedContext(typer.Context):
    formatter_class = _Formatter

    def make_formatter(self) -> HelpFormatter:
        help_option = self.command.get_help_option(self)
        if help_option is not None:
            _translated(help_option, "help")
        return super().make_formatter()


# Strings typer and click print themselves (section headings, the help option), in the
# catalog so that they are shown translated.
PARSER_STRINGS = (
    N_("Options"),
    N_("Arguments"),
    N_("Commands"),
    N_("default: {default}"),
    N_("required"),
    N_("env var: {var}"),
    N_("(dynamic)"),
    N_("Aborted!"),
    N_("Show this message and exit."),
)


def _commands(command: Command) -> Iterator[Command]:
    yield command
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from _commands(sub)


def _translated(obj: Any, attribute: str) -> None:
    original = obj.__dict__.setdefault(f"_msgid_{attribute}", getattr(obj, attribute, None))
    if original:
        setattr(obj, attribute, _(original))


def translate_tree(root: Command) -> None:
    """Puts every help text of the command tree in the current language (the English
    originals are kept, so the tree can be translated again)."""
    for command in _commands(root):
        translate_command(command)


def translate_command(command: Command) -> None:
    """Puts one command's help texts in the current language. The command line translates
    only the commands it reaches (`_Group.get_command`), so that `--help` stays fast."""
    typer.core._ = _  # type: ignore[attr-defined]  # the section headings typer prints
    command.context_class = TranslatedContext
    for attribute in ("help", "short_help", "epilog"):
        _translated(command, attribute)
    command.options_metavar = _("[OPTIONS]")
    if isinstance(command, TyperGroup):
        command.subcommand_metavar = _("COMMAND [ARGS]...")
    for param in command.params:
        _translate_param(param)


def _translate_param(param: Parameter) -> None:
    _translated(param, "help")
    original = param.__dict__.setdefault("_msgid_metavar", param.metavar)
    if original is not None:
        param.metavar = _(original)
    elif param.param_type_name == "option" and not getattr(param, "is_flag", False):
        shown = param.display_type(None)  # type: ignore[attr-defined]
        if shown in _VALUE_TYPES:
            param.metavar = _(_VALUE_TYPES[shown])
            param.__dict__["_msgid_metavar"] = None


# How the help shows an option's kind of value (`--limit <int>`).
_VALUE_TYPES = {
    "<str>": N_("<text>"),
    "<int>": N_("<integer>"),
    "<float>": N_("<number>"),
    "<path>": N_("<path>"),
    "<file>": N_("<file>"),
    "<directory>": N_("<folder>"),
    "<list[str]>": N_("<text>"),
    "<list[int]>": N_("<integer>"),
    "<list[path]>": N_("<path>"),
}


# The parser's messages, recognised by their English wording.
_PARSER_MESSAGES: list[tuple[str, str]] = [
    (
        r"No such option: (?P<name>\S+?)\.? Did you mean (?P<other>.+)\?$",
        N_("No such option: {name}. Did you mean {other}?"),
    ),
    (r"No such option: (?P<name>\S+)$", N_("No such option: {name}")),
    (
        r"No such command '(?P<name>.*)'\.(?: Did you mean (?P<other>.+)\?)?$",
        N_("No such command: {name}."),
    ),
    (r"Missing command\.$", N_("Missing command.")),
    (r"Missing option (?P<name>.+?)\.(?P<rest>.*)$", N_("Missing option {name}.")),
    (r"Missing argument (?P<name>.+?)\.(?P<rest>.*)$", N_("Missing argument {name}.")),
    (r"Missing parameter:? ?(?P<name>.*?)\.?$", N_("Missing parameter {name}.")),
    (
        r"Got unexpected extra arguments? \((?P<name>.*)\)$",
        N_("Unexpected extra argument: {name}"),
    ),
    (
        r"Option (?P<name>'.+?') requires (?:an argument|\d+ arguments)\.$",
        N_("Option {name} needs a value."),
    ),
    (
        r"Option (?P<name>'.+?') does not take a value\.$",
        N_("Option {name} takes no value."),
    ),
    (
        "(?s)" r"Invalid value for (?P<name>.+?): (?P<detail>.*)$",
        N_("Invalid value for {name}: {detail}"),
    ),
]
_VALUE_MESSAGES: list[tuple[str, str]] = [
    (r"Input should be a valid integer", N_("enter a whole number")),
    (r"Input should be a valid number", N_("enter a number")),
    (r"Input should be greater than or equal to (?P<limit>\S+)", N_("at least {limit}")),
    (r"Input should be less than or equal to (?P<limit>\S+)", N_("at most {limit}")),
    (
        r"(?:Value )?(?P<value>'.*') is not a valid (?P<kind>[\w ]+)\.$",
        N_("{value} is not a valid {kind}."),
    ),
    (
        "(?s)" r"(?P<value>'.*') is not one of (?P<choices>.*)\.$",
        N_("{value} is not one of {choices}."),
    ),
    (
        r"(?P<kind>File|Path|Directory) (?P<value>'.*') does not exist\.$",
        N_("{kind} {value} does not exist."),
    ),
]
_KINDS = {
    "integer": N_("integer"),
    "float": N_("number"),
    "boolean": N_("yes/no value"),
    "int": N_("integer"),
    "File": N_("File"),
    "Path": N_("Path"),
    "Directory": N_("Folder"),
}


def _match(message: str, table: list[tuple[str, str]]) -> str | None:
    for pattern, template in table:
        found = re.match(pattern, message)  # compiled on first use: --help needs none
        if found:
            fields = {key: value or "" for key, value in found.groupdict().items()}
            if "kind" in fields:
                fields["kind"] = _(_KINDS.get(fields["kind"], fields["kind"]))
            if "detail" in fields:
                fields["detail"] = parser_message(fields["detail"])
            return _(template).format(**fields)
    return None


def parser_message(message: str) -> str:
    """One of the parser's English messages in the current language (unchanged when it is
    not one the parser writes)."""
    return _match(message, _PARSER_MESSAGES) or _match(message, _VALUE_MESSAGES) or message


def show_usage_error(error: ClickException) -> None:
    """The parser's refusal: the usage line, where to find help, and what was wrong."""
    if isinstance(error, UsageError) and error.ctx is not None:
        context: Context = error.ctx
        typer.echo(context.get_usage(), err=True)
        typer.echo(_("Run '{command} -h' for help.").format(command=context.command_path), err=True)
        typer.echo("", err=True)
    typer.echo(
        _("Error: {message}").format(message=parser_message(error.format_message())), err=True
    )
