"""`caseflow review ...`: supervision (督导): overdue cases, the annual assessment."""

from typing import Annotated

import typer

from caseflow.cli.base import JsonOption, parse_day, print_json, review_app, workspace_context
from caseflow.cli.present import due_text


@review_app.command("overdue")
def review_overdue(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Overdue as of this day: due before it (default today)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Overdue open cases (due date before --as-of, state not terminal) grouped by the unit
    responsible for their current state: the township, village, school, department(s) or
    education bureau, addressed as escalations address them. Days overdue count in the
    unit of the state's deadline (working days or calendar days); the escalations listed
    are those already sent for the current deadline. IDs are masked. For the supervisor
    and bureau roles."""
    from caseflow.services.review import overdue_review

    review = overdue_review(workspace_context(), parse_day(as_of, "--as-of"))
    if as_json:
        print_json(review.as_json())
        return
    typer.echo(
        f"Overdue as of {review.as_of.isoformat()}: {review.cases} open case(s) in "
        f"{len(review.units)} unit(s)"
    )
    for unit in review.units:
        typer.echo(f"\n{unit.label}  [{unit.unit}]  {len(unit.cases)} case(s)")
        for case in unit.cases:
            days = "working days" if case.days_unit == "working_days" else "days"
            due = due_text(case.due_on.isoformat(), case.due_provisional)
            typer.echo(
                f"  case {case.number:<6} {case.state_label} ({case.state})  due {due}  "
                f"{case.days_overdue} {days} overdue  {case.name} {case.id_number}  "
                f"{case.township}/{case.village}" + (f"  {case.school}" if case.school else "")
            )
            sent = "; ".join(
                f"level {e.level} on {e.fired_on.isoformat()} to {', '.join(e.recipients)}"
                for e in case.escalations
            )
            typer.echo(f"      escalated: {sent or 'none yet'}")


@review_app.command("assessment")
def review_assessment(
    year: Annotated[
        int | None, typer.Option("--year", help="The year to assess (default: this year).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score each township and school for the annual assessment from the measured figures:
    on-time rate, return rate, retention rate and relapses, by the formula printed (set the
    weights in caseflow.toml [assessment]). A year not over yet is scored up to today. For
    the supervisor and bureau roles."""
    from caseflow.services.stats import assessment, percent

    result = assessment(workspace_context(), year=year)
    if as_json:
        print_json(result.as_json())
        return
    view = result.as_json()
    typer.echo(
        f"{result.year}年度控辍保学工作考核评分（{result.period.start.isoformat()} 至 "
        f"{result.period.end.isoformat()}）"
    )
    typer.echo(f"计分办法：{result.formula}")
    for kind, title in (("townships", "乡镇"), ("schools", "学校")):
        typer.echo(f"\n{title}")
        if not view[kind]:
            typer.echo("  （无）")
        for rank, s in enumerate(view[kind], start=1):
            on_time = s["on_time"]
            score = "不评分（无可计量数据）" if s["score"] is None else f"{s['score']:g} 分"
            typer.echo(
                f"  {rank:>2}. {s['name']}  {score}；按时办结率 {percent(on_time['rate'])}"
                f"（{on_time['met']}/{on_time['due']}），劝返率 {percent(s['return_rate'])}"
                f"（{s['returned']}/{s['dropouts']}），复学巩固率 {percent(s['retention_rate'])}"
                f"（{s['retained']}/{s['retained'] + s['relapsed_cases']}），再次辍学 "
                f"{s['relapses']} 人次"
            )
    typer.echo("\n口径说明")
    for text in view["definitions"].values():
        typer.echo(f"  {text}")
