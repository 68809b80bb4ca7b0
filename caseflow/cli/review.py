"""`caseflow review ...`: supervision (督导): overdue cases, the annual assessment."""

from typing import Annotated

import typer

from caseflow.cli.base import JsonOption, parse_day, print_json, review_app, workspace_context
from caseflow.cli.present import assessment_lines, overdue_lines
from caseflow.i18n import N_


@review_app.command(
    "overdue",
    short_help=N_("Overdue cases by responsible unit, with the escalations sent."),
    help=N_(
        "Overdue open cases (due date before --as-of, state not terminal) grouped by the unit "
        "responsible for their current state: the township, village, school, department(s) "
        "or education bureau, addressed as escalations address them. Days overdue count in "
        "the unit of the state's deadline (working days or calendar days); the escalations "
        "listed are those already sent for the current deadline. IDs are masked. For the "
        "supervisor and bureau roles."
    ),
)
def review_overdue(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help=N_("Overdue as of this day: due before it (default today).")),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.review import overdue_review

    review = overdue_review(workspace_context(), parse_day(as_of, "--as-of"))
    if as_json:
        print_json(review.as_json())
        return
    for line in overdue_lines(review):
        typer.echo(line)


@review_app.command(
    "assessment",
    short_help=N_("The annual assessment scores of townships and schools."),
    help=N_(
        "Score each township and school for the annual assessment from the measured figures: "
        "on-time rate, return rate, retention rate and relapses, by the formula printed (set "
        "the weights in caseflow.toml [assessment]). A year not over yet is scored up to "
        "today. For the supervisor and bureau roles."
    ),
)
def review_assessment(
    year: Annotated[
        int | None,
        typer.Option("--year", help=N_("The year to assess (default: this year).")),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.stats import assessment

    result = assessment(workspace_context(), year=year)
    if as_json:
        print_json(result.as_json())
        return
    for line in assessment_lines(result):
        typer.echo(line)
