"""`caseflow notice ...` and `caseflow notify ...`: the outbox — documents for one case,
printing, the campaigns by hand, and delivery."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import (
    JsonOption,
    SetOption,
    bad_usage,
    notice_app,
    notify_app,
    parse_day,
    print_json,
    workspace_context,
)
from caseflow.cli.present import dispatch_lines, outbox_lines, queued_lines
from caseflow.cli.table import DEFAULT_LIMIT, LimitOption, echo_lines, printable
from caseflow.i18n import N_, _

QUEUE_LETTERS_HELP = N_(
    "Print the letter to parents (致家长的一封信) household by household (for the "
    "control-dropout publicity months, February and August) and tell each school and "
    "village that its batch is printed.\n\n"
    "\b\n"
    "Who gets one: the parents of every child of compulsory school age in the imported "
    "household register (6 to 15 on the latest 1 September, or 6 by the next one), and of "
    "the pupils in school or on leave in the school register whom the household register "
    "lacks. Siblings with the same guardian (and phone) and address are one household.\n"
    "Pupils in school or on leave get theirs from their school, the others from their "
    "village; the children of one household with one distributor share a letter.\n\n"
    "\b\n"
    "One batch per school and per village, one file per batch (HTML, A4, 12-point type, "
    "each household on a new page, usually one sheet printed on both sides), in the "
    "workspace's campaigns/<year-month>/ folder; file names hold only the letter, the "
    "month and the unit, never a child's name or ID number.\n"
    "Each batch queues a printing notice to its unit (through the channel org.yaml gives "
    "it: a group robot, e-mail, ...), sent by caseflow notify dispatch. Running it again in "
    "the same month prints no batch twice.\n"
    "Refused, saying what to import, until the household and school registers are "
    "imported."
)


@notice_app.command("queue-letters", help=QUEUE_LETTERS_HELP)
def notice_queue_letters(
    when: Annotated[
        str | None,
        typer.Option(
            "--date",
            help=N_("The date the letter bears (default today); it also sets the month."),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.cli.present import publicity_lines, rows_progress
    from caseflow.services.campaigns import queue_publicity_letters

    ctx = workspace_context()
    day = parse_day(when, "--date") or ctx.today
    with rows_progress(_("Printing the letters to parents"), threshold=2_000) as progress:
        run = queue_publicity_letters(ctx, day, progress=progress)
    if as_json:
        print_json(run.as_json())
        return
    for line in publicity_lines(run):
        typer.echo(line)


@notice_app.command(
    "queue-report",
    help=N_(
        "Queue the monthly report (控辍保学工作月报) on a past month to the supervision "
        "office; once per month."
    ),
)
def notice_queue_report(
    month: Annotated[
        str | None,
        typer.Option("--month", help=N_("The month to report, YYYY-MM (default: last month).")),
    ] = None,
) -> None:
    import re
    from datetime import timedelta

    from caseflow.services.campaigns import Period, queue_monthly_report

    ctx = workspace_context()
    if month is None:
        following = ctx.today
    else:
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", month.strip())
        if match is None or not 1 <= int(match.group(2)) <= 12 or match.group(1) < "1900":
            bad_usage(_("--month must look like 2026-11, got {month!r}").format(month=month))
        first = date(int(match.group(1)), int(match.group(2)), 1)
        following = (first + timedelta(days=31)).replace(day=1)
    reported = Period.before(following).label
    if queue_monthly_report(ctx, following):
        typer.echo(
            _("Queued the monthly report for {month} to the supervision office.").format(
                month=reported
            )
        )
    else:
        typer.echo(
            _("The monthly report for {month} is already in the outbox; nothing queued.").format(
                month=reported
            )
        )


def _overrides(values: list[str] | None) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            bad_usage(
                _("--set takes FIELD=VALUE, e.g. guardian.name=张大山; got {item!r}").format(
                    item=item
                )
            )
        overrides[name.strip()] = value
    return overrides


CASE_NUMBER_HELP = N_("Case number.")
TEMPLATE_HELP = N_("Template id, e.g. order_to_correct.")
OUTPUT_HELP = N_("Write the HTML to this file.")


@notice_app.command(
    "preview",
    help=N_(
        "Render a document for a case (HTML with print CSS, A4) without queuing it. A field "
        "the case cannot supply is refused by name, with the --set that supplies it."
    ),
)
def notice_preview(
    number: Annotated[int, typer.Argument(help=CASE_NUMBER_HELP)],
    template: Annotated[str, typer.Argument(help=TEMPLATE_HELP)],
    sets: SetOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=OUTPUT_HELP)] = None,
) -> None:
    from caseflow.services.documents import preview

    html = preview(workspace_context(), number, template, _overrides(sets))
    if output is None:
        typer.echo(html, nl=False)
        return
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        bad_usage(_("Cannot write {path}: {reason}").format(path=output, reason=exc.strerror))
    typer.echo(_("Wrote {path}").format(path=output))


@notice_app.command(
    "letter",
    help=N_(
        "Queue a document for a case as a letter in the outbox (to the guardian, or to the "
        "departments for a referral); `notify dispatch` delivers it. Once per case version: "
        "queuing it again before the case changes gives the notice already queued."
    ),
)
def notice_letter(
    number: Annotated[int, typer.Argument(help=CASE_NUMBER_HELP)],
    template: Annotated[str, typer.Argument(help=TEMPLATE_HELP)],
    sets: SetOption = None,
) -> None:
    from caseflow.services.documents import queue_document
    from caseflow.services.outbox import reference

    queued = queue_document(workspace_context(), number, template, _overrides(sets))
    for line in queued_lines(queued, [reference(notice_id) for notice_id in queued.ids]):
        typer.echo(line)


@notice_app.command(
    "print",
    help=N_(
        "Collect the letters (the outbox's letters and the letter channel's files) into one "
        "HTML file to print, a page break between letters."
    ),
)
def notice_print(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help=N_("The HTML file to write (one page a letter).")),
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", help=N_("Only letters queued or written on or after this day.")),
    ] = None,
) -> None:
    from caseflow.services.documents import print_batch

    count = print_batch(workspace_context(), since=parse_day(since, "--since"), output=output)
    if count:
        typer.echo(
            _("Wrote {count} letter(s) to {path}; print it from a browser (A4).").format(
                count=count, path=output
            )
        )
    else:
        typer.echo(_("No letters to print; nothing written."))


@notify_app.command(
    "dispatch",
    help=N_(
        "Deliver the notices that are due, through the channels the organisation in force "
        "(`caseflow org apply`) names for each recipient; failures are retried later with "
        "backoff, permanent ones go dead."
    ),
)
def notify_dispatch(
    limit: Annotated[
        int | None, typer.Option("--limit", help=N_("Deliver at most this many notices."))
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.cli.present import stages
    from caseflow.services.dispatch import dispatch

    ctx = workspace_context()
    with stages(_("Delivering notices")) as stage:
        done = 0

        def tried(count: int) -> None:
            nonlocal done
            done += count
            stage(_("Delivering notices: {done} done").format(done=done), done, None)

        report = dispatch(ctx, limit=limit, progress=tried)
    if as_json:
        print_json(report.as_json())
        return
    for line in dispatch_lines(report):
        typer.echo(line)
    from caseflow.notifiers.letter import INDEX

    letters = ctx.workspace.notifiers.get("letter", {})
    folder = ctx.workspace.root / str(letters.get("folder", "outbox"))
    index = folder / ctx.today.isoformat() / INDEX
    if report.sent and index.is_file():
        typer.echo(
            _(
                "Today's letters are named by date, document, case number and recipient; "
                "their index is {index}"
            ).format(index=index)
        )


@notify_app.command(
    "status", help=N_("Counts by status and the latest notices, with the last error of each.")
)
def notify_status(
    only: Annotated[
        str | None,
        typer.Option(
            "--status",
            help=N_("Only pending, sent or dead notices (待发送, 已发送, 发送失败)."),
        ),
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    from caseflow.cli.present import Names
    from caseflow.services.dispatch import status
    from caseflow.services.labels import names

    ctx = workspace_context()
    only = notice_status_code(only)
    view = status(ctx, only=only, **({"limit": limit} if limit > 0 else {"limit": 2**31 - 1}))
    if as_json:
        print_json(view)
        return
    counts = view["counts"]
    total = counts.get(only, 0) if only else sum(counts.values())
    shown = outbox_lines({**view, "total": total}, Names(**names(ctx)), limit=limit)
    echo_lines(shown)


@notify_app.command(
    "show",
    help=N_(
        "Print a notice's document (HTML, as delivery sends it); a notice the sweep queued is "
        "rendered now, once, and sent as shown."
    ),
)
def notify_show(
    notice_id: Annotated[int, typer.Argument(help=N_("Notice id (the number in KC-000123)."))],
    output: Annotated[Path | None, typer.Option("--output", "-o", help=OUTPUT_HELP)] = None,
) -> None:
    from caseflow.services.dispatch import show

    shown = show(workspace_context(), notice_id)
    if output is None:
        typer.echo(shown.body, nl=False)
        return
    try:
        output.write_text(shown.body, encoding="utf-8")
    except OSError as exc:
        bad_usage(_("Cannot write {path}: {reason}").format(path=output, reason=exc.strerror))
    typer.echo(
        _("Wrote {path} ({reference}, {subject})").format(
            path=output, reference=shown.reference, subject=printable(shown.subject)
        )
    )


@notify_app.command(
    "retry",
    help=N_(
        "Requeue dead notices after fixing their address (org.yaml, then `caseflow org "
        "apply`) or a channel setting."
    ),
)
def notify_retry(
    ids: Annotated[list[int] | None, typer.Argument(help=N_("Notice ids to requeue."))] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help=N_("Requeue every dead one."))
    ] = False,
) -> None:
    from caseflow.services.dispatch import retry

    count = retry(workspace_context(), ids or (), all_dead=all_dead)
    typer.echo(
        _("Requeued {count} notice(s); the next dispatch delivers them.").format(count=count)
    )


NOTICE_STATUS_NAMES = {
    "待发送": "pending",
    "待投递": "pending",
    "已发送": "sent",
    "已送达": "sent",
    "发送失败": "dead",
    "投递失败": "dead",
    "失败": "dead",
}


def notice_status_code(written: str | None) -> str | None:
    """``--status`` as a code: pending, sent or dead, or their Chinese (待发送, 已发送,
    发送失败); anything else is refused (exit 2) with the choices 「中文（code）」."""
    from caseflow.cli.present import OUTBOX_STATUSES

    if written is None:
        return None
    value = written.strip()
    if value.lower() in OUTBOX_STATUSES:
        return value.lower()
    if value in NOTICE_STATUS_NAMES:
        return NOTICE_STATUS_NAMES[value]
    choices = "、".join(f"{_(label)}（{code}）" for code, label in OUTBOX_STATUSES.items())
    bad_usage(
        _("Unknown status {status!r}; the statuses are: {choices}").format(
            status=written, choices=choices
        )
    )
