"""The root `caseflow` app, its command groups, the options several commands share, and
the helpers every command uses: the workspace context, dates, JSON, usage errors.

Heavy modules (SQLAlchemy, the workflow engine, rich) are imported inside the commands so
that `caseflow --help` stays fast.
"""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer._click import ClickException
from typer.core import TyperGroup

from caseflow import i18n
from caseflow.cli import language
from caseflow.errors import EXIT_BAD_INPUT, CaseflowError
from caseflow.i18n import N_, _

if TYPE_CHECKING:
    from caseflow.services.context import Context


EXIT_CODES_HELP = N_(
    "Exit codes: 0 success; 1 refused (not allowed from this state, missing field, not found, "
    "audit check failed); 2 bad input or usage; 3 conflict, database busy, or the machine "
    "failed under the command (a full disk, an unreachable or read-only database, a missing "
    "permission): nothing was changed; put it right and run the command again."
)
# The groups whose help ends with the exit codes (besides `caseflow` itself).
GROUPS_WITH_EXIT_CODES = frozenset({"case", "review", "notify", "roster"})


class _Group(TyperGroup):
    """Runs the command line in the reader's language and turns every CaseflowError into one
    line on stderr and its exit code."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        import sys

        i18n.set_language(None)
        arguments = language.take_language_option(list(sys.argv[1:] if args is None else args))
        language.translate_command(self)
        try:
            result = super().main(
                arguments, prog_name, complete_var, standalone_mode=False, **extra
            )
        except ClickException as error:
            if not standalone_mode:
                raise
            language.show_usage_error(error)
            sys.exit(error.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo(_("Aborted!"), err=True)
            sys.exit(1)
        finally:
            i18n.set_language(None)  # a --lang holds for this command line only
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            language.translate_command(command)
        return command

    def format_help_text(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        super().format_help_text(ctx, formatter)
        if ctx.parent is None or self.name in GROUPS_WITH_EXIT_CODES:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(_(EXIT_CODES_HELP))

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Every refusal, and every failure of the machine under the command (a full disk,
        an unreachable or read-only database, a permission the account lacks, turned into
        an EnvironmentFailure here, the one place), as one line and its exit code; with
        ``caseflow --debug`` the traceback first."""
        try:
            return super().invoke(ctx)
        except CaseflowError as exc:
            _fail(ctx, exc, exc)
        except (ClickException, typer.Exit, typer.Abort):
            raise  # the parser's own, or a nested group's that has already spoken
        except Exception as exc:
            from caseflow.db import environment_failure

            failure = environment_failure(exc)
            if failure is None:
                raise
            _fail(ctx, failure, exc)


def _fail(ctx: typer.Context, error: CaseflowError, raised: BaseException) -> NoReturn:
    if ctx.find_root().params.get("debug"):
        import traceback

        traceback.print_exception(raised)
    typer.echo(_("Error: {message}").format(message=error.message), err=True)
    ctx.exit(error.exit_code)
    raise AssertionError("unreachable")  # ctx.exit raises


def command_group(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group,
        help=help_text,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": language.HELP_OPTION_NAMES},
    )


app = command_group(
    N_(
        "caseflow: find every child who has left compulsory school, bring each one back, "
        "and prove it (控辍保学)."
    )
)


# The command groups, in the order `caseflow --help` lists them; each group's commands are
# in the module of the same name.
case_app = command_group(N_("Open, advance and read cases."))
workflow_app = command_group(
    N_(
        "Check and inspect workflow definitions (workflows/*.yaml); move open cases to a new "
        "version."
    )
)
audit_app = command_group(N_("Read and verify the tamper-evident audit trail."))
db_app = command_group(N_("Database maintenance."))
calendar_app = command_group(
    N_("The working-day calendar: national holidays plus the workspace's own.")
)
review_app = command_group(
    N_(
        "Supervision review (督导): overdue cases by responsible unit with the escalations "
        "sent, and the annual assessment."
    )
)
scheduler_app = command_group(
    N_("The foreground scheduler: the escalation sweep and the campaigns, one per database.")
)
notice_app = command_group(
    N_(
        "The outbox of notices: documents for one case (preview, letter), printing the "
        "letters, and the campaigns by hand."
    )
)
notify_app = command_group(
    N_("Deliver the outbox and look after it: dispatch, status, show, retry.")
)
roster_app = command_group(
    N_("The five registers (五查四比对): import each one's file as its snapshot; compare them.")
)
org_app = command_group(
    N_("The organisation file (org.yaml): units, people, operators and contacts.")
)
report_app = command_group(N_("Reports for the county leadership."))
for group, name in (
    (case_app, "case"),
    (workflow_app, "workflow"),
    (audit_app, "audit"),
    (db_app, "db"),
    (calendar_app, "calendar"),
    (review_app, "review"),
    (scheduler_app, "scheduler"),
    (notice_app, "notice"),
    (notify_app, "notify"),
    (roster_app, "roster"),
    (org_app, "org"),
    (report_app, "report"),
):
    app.add_typer(group, name=name)


_state: dict[str, Path | None] = {"workspace": None}

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help=N_(
            "Workspace folder (default: $CASEFLOW_WORKSPACE, else the current folder or "
            "the nearest one above it holding caseflow.toml)."
        ),
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON (a stable contract)."))]
# Details of the child, shared by `case open` and `case update`.
SchoolOption = Annotated[str | None, typer.Option("--school", help=N_("School."))]
GroupOption = Annotated[str | None, typer.Option("--group", help=N_("Villagers' group."))]
GuardianOption = Annotated[str | None, typer.Option("--guardian", help=N_("Guardian's name."))]
GuardianRelationOption = Annotated[
    str | None,
    typer.Option(
        "--guardian-relation",
        help=N_("The guardian's relation to the child, e.g. 父亲, 母亲, 祖父."),
    ),
]
GuardianPhoneOption = Annotated[
    str | None, typer.Option("--guardian-phone", help=N_("Guardian's phone."))
]
ExpectVersionOption = Annotated[
    int | None,
    typer.Option(
        "--expect-version",
        help=N_(
            "Refuse (exit code 3) when the case's version is no longer this one (someone "
            "changed it): act only if nothing changed since you looked."
        ),
    ),
]
DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        help=N_("The day it happened (default today; 2026-11-29 or 2026年11月29日)."),
    ),
]


ActAsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help=N_(
            "Act as this operator from a shared office terminal: allowed only when "
            "org.yaml lists this OS account among the operator's shared_accounts. The "
            "audit records both the operator and the real OS account."
        ),
    ),
]


LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help=N_(
            "Language of help, messages and tables: zh (Chinese, the default) or en "
            "(English); also $CASEFLOW_LANG or an English $LANG. May stand anywhere on the line."
        ),
    ),
]


DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help=N_(
            "When a command fails, print the full traceback (for a bug report) before the "
            "one-line message."
        ),
    ),
]


@app.callback()
def _main(
    workspace: WorkspaceOption = None,
    acting_as: ActAsOption = None,
    lang: LangOption = None,  # taken off the line before parsing (cli.language)
    debug: DebugOption = False,  # read where a command fails (_Group.invoke)
) -> None:
    _state["workspace"] = workspace
    _acting_as[0] = acting_as


_acting_as: list[str | None] = [None]


def explicit_workspace() -> Path | None:
    """The workspace named by --workspace, if any."""
    return _state["workspace"]


def workspace_context() -> "Context":
    """The context of the workspace this command runs in, as the operator this OS account
    is (or acts as, with --as), on the system clock."""
    from caseflow.services import context

    return context.open_context(
        _state["workspace"], acting_as=_acting_as[0], os_account=context.os_user
    )


def parse_day(value: str | None, what: str = "--date") -> date | None:
    if value is None:
        return None
    from caseflow.dates import parse_date

    return parse_date(value, what=what)


def print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def bad_usage(message: str) -> NoReturn:
    typer.echo(_("Error: {message}").format(message=message), err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help=N_(
            "FIELD=VALUE for a field the case lacks or that should read otherwise, e.g. "
            "--set guardian.relation=母亲 --set deadline.date=2026-12-15 (repeatable)."
        ),
    ),
]
