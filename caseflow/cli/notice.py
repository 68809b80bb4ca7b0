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
from caseflow.cli.table import DEFAULT_LIMIT, LimitOption, echo_lines


@notice_app.command("queue-letters")
def notice_queue_letters(
    when: Annotated[
        str | None,
        typer.Option("--date", help="信件落款日期（默认今天），并决定所属月份。"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """按户印制《致家长的一封信》（2月、8月控辍保学宣传月），并通知各学校、各村批次已印制。

    \b
    发放对象：已导入的户籍数据中所有适龄儿童少年（按最近一个9月1日计6至15周岁，
    或到下一个9月1日满6周岁）的家长，以及学籍数据中在读、休学但户籍数据未登记的适龄学生
    的家长。户籍数据中监护人（及联系电话）和住址相同的兄弟姐妹为一户。
    在读或休学的学生由就读学校发放，其余由户籍所在村发放；同一发放单位的同户儿童合用一封信。

    \b
    每个学校、每个村一个批次，一个批次一个文件（HTML，A4，小四号字，每户另起一页，
    一般为一张纸双面），存放在工作区的 campaigns/<年-月>/ 目录，文件名只含信名、月份和
    单位名称，不含儿童姓名或身份证号。
    每个批次向该单位发送一条印制通知（经 org.yaml 为该单位配置的渠道：群机器人、电子邮件等），
    由 caseflow notify dispatch 送出。同一月份再次运行不重复印制已印制的批次。
    尚未导入户籍和学籍数据时拒绝执行，并说明应导入什么。"""
    from caseflow.cli.present import publicity_lines, rows_progress
    from caseflow.services.campaigns import queue_publicity_letters

    ctx = workspace_context()
    day = parse_day(when, "--date") or ctx.today
    with rows_progress("印制致家长的一封信", threshold=2_000) as progress:
        run = queue_publicity_letters(ctx, day, progress=progress)
    if as_json:
        print_json(run.as_json())
        return
    for line in publicity_lines(run):
        typer.echo(line)


@notice_app.command("queue-report")
def notice_queue_report(
    month: Annotated[
        str | None,
        typer.Option("--month", help="The month to report, YYYY-MM (default: last month)."),
    ] = None,
) -> None:
    """Queue the monthly report (控辍保学工作月报) on a past month to the supervision
    office; once per month."""
    import re
    from datetime import timedelta

    from caseflow.services.campaigns import Period, queue_monthly_report

    ctx = workspace_context()
    if month is None:
        following = ctx.today
    else:
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", month.strip())
        if match is None or not 1 <= int(match.group(2)) <= 12 or match.group(1) < "1900":
            bad_usage(f"--month must look like 2026-11, got {month!r}")
        first = date(int(match.group(1)), int(match.group(2)), 1)
        following = (first + timedelta(days=31)).replace(day=1)
    reported = Period.before(following).label
    if queue_monthly_report(ctx, following):
        typer.echo(f"Queued the monthly report for {reported} to the supervision office.")
    else:
        typer.echo(f"The monthly report for {reported} is already in the outbox; nothing queued.")


def _overrides(values: list[str] | None) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            bad_usage(f"--set takes FIELD=VALUE, e.g. guardian.name=张大山; got {item!r}")
        overrides[name.strip()] = value
    return overrides


@notice_app.command("preview")
def notice_preview(
    number: Annotated[int, typer.Argument(help="Case number.")],
    template: Annotated[str, typer.Argument(help="Template id, e.g. order_to_correct.")],
    sets: SetOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML to this file.")
    ] = None,
) -> None:
    """Render a document for a case (HTML with print CSS, A4) without queuing it. A field
    the case cannot supply is refused by name, with the --set that supplies it."""
    from caseflow.services.documents import preview

    html = preview(workspace_context(), number, template, _overrides(sets))
    if output is None:
        typer.echo(html, nl=False)
        return
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        bad_usage(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"Wrote {output}")


@notice_app.command("letter")
def notice_letter(
    number: Annotated[int, typer.Argument(help="Case number.")],
    template: Annotated[str, typer.Argument(help="Template id, e.g. order_to_correct.")],
    sets: SetOption = None,
) -> None:
    """Queue a document for a case as a letter in the outbox (to the guardian, or to the
    departments for a referral); `notify dispatch` delivers it. Once per case version:
    queuing it again before the case changes gives the notice already queued."""
    from caseflow.services.documents import queue_document
    from caseflow.services.outbox import reference

    queued = queue_document(workspace_context(), number, template, _overrides(sets))
    for line in queued_lines(queued, [reference(notice_id) for notice_id in queued.ids]):
        typer.echo(line)


@notice_app.command("print")
def notice_print(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write (one page a letter).")
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only letters queued or written on or after this day."),
    ] = None,
) -> None:
    """Collect the letters (the outbox's letters and the letter channel's files) into one
    HTML file to print, a page break between letters."""
    from caseflow.services.documents import print_batch

    count = print_batch(workspace_context(), since=parse_day(since, "--since"), output=output)
    if count:
        typer.echo(f"Wrote {count} letter(s) to {output}; print it from a browser (A4).")
    else:
        typer.echo("No letters to print; nothing written.")


@notify_app.command("dispatch")
def notify_dispatch(
    limit: Annotated[
        int | None, typer.Option("--limit", help="Deliver at most this many notices.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver the notices that are due, through the channels the organisation in force
    (`caseflow org apply`) names for each recipient; failures are retried later with
    backoff, permanent ones go dead."""
    from caseflow.cli.present import stages
    from caseflow.services.dispatch import dispatch

    ctx = workspace_context()
    with stages("正在投递通知") as stage:
        done = 0

        def tried(count: int) -> None:
            nonlocal done
            done += count
            stage(f"正在投递通知：已处理{done}份", done, None)

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
        typer.echo(f"今日信函按日期、文书、案件编号和收件人命名，目录见 {index}")


@notify_app.command("status")
def notify_status(
    only: Annotated[
        str | None, typer.Option("--status", help="Only pending, sent or dead notices.")
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """Counts by status and the latest notices, with the last error of each."""
    from caseflow.cli.present import Names
    from caseflow.services.dispatch import status
    from caseflow.services.labels import names

    ctx = workspace_context()
    view = status(ctx, only=only, **({"limit": limit} if limit > 0 else {"limit": 2**31 - 1}))
    if as_json:
        print_json(view)
        return
    counts = view["counts"]
    total = counts.get(only, 0) if only else sum(counts.values())
    shown = outbox_lines({**view, "total": total}, Names(**names(ctx)), limit=limit)
    echo_lines(shown)


@notify_app.command("show")
def notify_show(
    notice_id: Annotated[int, typer.Argument(help="Notice id (the number in KC-000123).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML to this file.")
    ] = None,
) -> None:
    """Print a notice's document (HTML, as delivery sends it); a notice the sweep queued is
    rendered now, once, and sent as shown."""
    from caseflow.services.dispatch import show

    shown = show(workspace_context(), notice_id)
    if output is None:
        typer.echo(shown.body, nl=False)
        return
    try:
        output.write_text(shown.body, encoding="utf-8")
    except OSError as exc:
        bad_usage(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"Wrote {output} ({shown.reference}, {shown.subject})")


@notify_app.command("retry")
def notify_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Notice ids to requeue.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Requeue every dead one.")] = False,
) -> None:
    """Requeue dead notices after fixing their address (org.yaml, then `caseflow org
    apply`) or a channel setting."""
    from caseflow.services.dispatch import retry

    count = retry(workspace_context(), ids or (), all_dead=all_dead)
    typer.echo(f"Requeued {count} notice(s); the next dispatch delivers them.")
