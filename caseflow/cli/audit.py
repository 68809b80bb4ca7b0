"""`caseflow audit ...`: read, export, verify and checkpoint the audit chain."""

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from caseflow.cli.base import JsonOption, audit_app, parse_day, print_json, workspace_context
from caseflow.cli.present import audit_log_lines, chain_line, export_file_lines, export_lines
from caseflow.i18n import N_, _

if TYPE_CHECKING:
    from caseflow.case_replay import Difference


@audit_app.command(
    "log",
    short_help=N_("Audit events, filtered by case, unit, operator, day, action or state."),
    help=N_(
        "Audit events, oldest first. The filters combine: an event is shown when all hold. "
        "Events not about a case (checkpoints, imports) never match --unit or --state. For "
        "the supervisor and bureau roles."
    ),
)
def audit_log_command(
    case: Annotated[int | None, typer.Option("--case", help=N_("Only this case's events."))] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help=N_(
                "Only events of this unit's cases: cases whose township, village or school (as "
                "recorded now) is this name, or that are handed to this department now (key "
                "such as health, or its Chinese name). To be exact, write township:NAME, "
                "village:TOWNSHIP/VILLAGE, school:NAME or department:KEY."
            ),
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help=N_("Only events by this operator (name or OS account).")),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help=N_(
                "Only events recorded on or after this day, in the workspace's time zone "
                "(2026-11-01 or 2026年11月1日)."
            ),
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help=N_("Only events recorded on or before this day (inclusive).")),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            help=N_(
                "Only this action (e.g. case.transition); ending in '.' or '*' it is a prefix: "
                "--action case. gives every case event."
            ),
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help=N_(
                "Only events of cases that are in this state now (a state id such as "
                "persuasion): their whole history, not just the events that entered the state."
            ),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.review import AuditFilter, audit_events

    where = AuditFilter(
        case=case,
        unit=unit,
        actor=actor,
        since=parse_day(since, "--since"),
        until=parse_day(until, "--until"),
        action=action,
        state=state,
    )
    events = audit_events(workspace_context(), where)
    if as_json:
        print_json(list(events))
        return
    for line in audit_log_lines(events):
        typer.echo(line)


@audit_app.command(
    "export",
    short_help=N_("Write audit events for a reviewer to check offline."),
    help=N_(
        "Write audit events as JSON lines, with their hashes and a checkpoint as the last "
        "line, for a reviewer to check offline with `caseflow audit verify --file FILE`.\n\n"
        "The export is one unbroken stretch of the chain (every event between its first and "
        "last, so that the lines link). It is written to a temporary file and renamed into "
        "place, checked as the reviewer will check it, and recorded in the audit. For the "
        "supervisor and bureau roles."
    ),
)
def audit_export_command(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help=N_("The file to write, e.g. audit-2026-11.jsonl.")),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help=N_(
                "Start at the first event recorded on or after this day (workspace time zone; "
                "default: the first event)."
            ),
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help=N_("End at the last event recorded on or before this day (default: the latest)."),
        ),
    ] = None,
) -> None:
    from caseflow.errors import AuditBroken
    from caseflow.services.review import export_audit

    summary = export_audit(
        workspace_context(),
        output,
        since=parse_day(since, "--since"),
        until=parse_day(until, "--until"),
    )
    for line in export_lines(summary):
        typer.echo(line)
    if not summary.verification.intact:
        raise AuditBroken(
            _(
                "the exported events do not verify ({problem}); the file holds them as stored, "
                "for examination. Run `caseflow audit verify`."
            ).format(problem=summary.verification.problem)
        )


@audit_app.command(
    "verify",
    short_help=N_("Recompute the hash chain (of the database or of an export)."),
    help=N_(
        "Recompute the hash chain; exit 0 if intact, 1 naming the first bad event.\n\n"
        "With --file: recompute every line's hash, follow the links from line to line and "
        "check the checkpoint line; exit 1 naming the first bad line. With --checkpoint too, "
        "the export must hold that event, unchanged."
    ),
)
def audit_verify_command(
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help=N_("A checkpoint from `caseflow audit checkpoint`.")),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help=N_(
                "Check an export from `caseflow audit export` instead, on its own: no workspace "
                "or database is needed."
            ),
        ),
    ] = None,
) -> None:
    if file is not None:
        _verify_export_file(file, checkpoint)
        return
    from caseflow.services.audit import audit_verify

    result = audit_verify(workspace_context(), checkpoint)
    typer.echo(chain_line(replace(result, cases=()), checkpoint), err=not result.chain_intact)
    for line in _case_difference_lines(result.cases):
        typer.echo(line, err=True)
    if not result.intact:
        raise typer.Exit(1)


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _case_difference_lines(differences: Sequence["Difference"]) -> list[str]:
    """What `caseflow audit verify` says of case rows that are not what their events say."""
    if not differences:
        return []
    count = len(differences)
    lines = [_("Cases whose row differs from their audit events: {count}").format(count=count)]
    for found in differences:
        if found.row_missing:
            lines.append(
                _(
                    "Case {number}: its events open it, but the case table has no row for it."
                ).format(number=found.number)
            )
        elif found.no_events:
            lines.append(
                _("Case {number}: the case table has a row for it, but no event opens it.").format(
                    number=found.number
                )
            )
        else:
            columns = _("; ").join(
                _("{column} is {stored}, the events say {expected}").format(
                    column=column, stored=_shown(stored), expected=_shown(expected)
                )
                for column, stored, expected in found.columns
            )
            lines.append(
                _("Case {number}: {columns}.").format(number=found.number, columns=columns)
            )
    lines.append(
        _(
            "The audit events are the record: restore the database from a backup, or find "
            "who changed the case table outside caseflow."
        )
    )
    return lines


def _verify_export_file(file: Path, checkpoint: str | None) -> None:
    from caseflow.audit_export import verify_export_file
    from caseflow.errors import AuditBroken

    result = verify_export_file(file, checkpoint)
    if not result.intact:
        raise AuditBroken(
            _("export {file} is BROKEN: {problem}").format(file=file, problem=result.problem)
        )
    for line in export_file_lines(result, checkpoint):
        typer.echo(line)


@audit_app.command(
    "checkpoint",
    short_help=N_("Record and print a checkpoint of the audit chain."),
    help=N_("Record a checkpoint and print it (seq and head hash): keep it outside the database."),
)
def audit_checkpoint_command() -> None:
    from caseflow.services.audit import audit_checkpoint

    typer.echo(str(audit_checkpoint(workspace_context())))
