"""The `caseflow` command: parse, call a service, print. No SQL, no rules.

Heavy modules (SQLAlchemy, the workflow engine) are imported inside the commands so that
`caseflow --help` stays fast.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from caseflow.errors import EXIT_BAD_INPUT, CaseflowError

if TYPE_CHECKING:
    from caseflow.service import Context
    from caseflow.workspace import Workspace

EXIT_CODES_HELP = """\
Exit codes: 0 success; 1 refused (not allowed from this state, missing field, not found,
audit check failed); 2 bad input or usage; 3 conflict or database busy (nothing was
changed; safe to retry).
"""


class _Group(TyperGroup):
    """Turns every CaseflowError into one line on stderr and its exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CaseflowError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group,
        help=help_text,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        no_args_is_help=True,
        add_completion=False,
    )


app = _typer(
    "caseflow: find every child who has left compulsory school, bring each one back, "
    "and prove it (控辍保学).\n\n" + EXIT_CODES_HELP
)
case_app = _typer("Open, advance and read cases.\n\n" + EXIT_CODES_HELP)
workflow_app = _typer(
    "Check and inspect workflow definitions (workflows/*.yaml); move open cases to a new version."
)
audit_app = _typer("Read and verify the tamper-evident audit trail.")
db_app = _typer("Database maintenance.")
calendar_app = _typer("The working-day calendar: national holidays plus the workspace's own.")
app.add_typer(case_app, name="case")
app.add_typer(workflow_app, name="workflow")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(calendar_app, name="calendar")

_state: dict[str, Path | None] = {"workspace": None}

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $CASEFLOW_WORKSPACE, else the current folder or "
        "the nearest one above it holding caseflow.toml).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (a stable contract).")]
# Details of the child, shared by `case open` and `case update`.
SchoolOption = Annotated[str | None, typer.Option("--school", help="School (学校).")]
GroupOption = Annotated[str | None, typer.Option("--group", help="Villagers' group (组).")]
GuardianOption = Annotated[str | None, typer.Option("--guardian", help="Guardian's name (监护人).")]
GuardianRelationOption = Annotated[
    str | None, typer.Option("--guardian-relation", help="e.g. 父亲, 母亲, 祖父.")
]
GuardianPhoneOption = Annotated[
    str | None, typer.Option("--guardian-phone", help="Guardian's phone.")
]
DateOption = Annotated[
    str | None,
    typer.Option(
        "--date", help="The day it happened (default today; 2026-11-29 or 2026年11月29日)."
    ),
]


ActAsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this operator from a shared office terminal: allowed only when "
        "org.yaml lists this OS account among the operator's shared_accounts. The audit "
        "records both the operator and the real OS account.",
    ),
]


@app.callback()
def _main(workspace: WorkspaceOption = None, acting_as: ActAsOption = None) -> None:
    _state["workspace"] = workspace
    _acting_as[0] = acting_as


_acting_as: list[str | None] = [None]


def _context() -> "Context":
    from caseflow.service import open_context

    return open_context(_state["workspace"], acting_as=_acting_as[0])


def _date(value: str | None, what: str = "--date") -> date | None:
    if value is None:
        return None
    from caseflow.dates import parse_date

    return parse_date(value, what=what)


def _print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _bad_usage(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _due_text(due_on: str | None, provisional: bool) -> str:
    if due_on is None:
        return "-"
    return f"{due_on} (provisional)" if provisional else due_on


PROVISIONAL_HINT = (
    "Note: a provisional due date was counted with weekends as the only rest days because "
    "its year's holiday calendar is not yet known. Fix: upgrade chinese-calendar when the "
    "new year's data is out, or list that year in the workspace's holidays.yaml "
    "(complete_years); the next sweep recomputes it. `caseflow calendar check` shows what "
    "is waiting."
)


# ---------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")] = Path(),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database URL (default: sqlite:///caseflow.db inside the workspace).",
        ),
    ] = None,
    county: Annotated[
        str | None,
        typer.Option(
            "--county",
            help="County name printed on notices, e.g. 印江自治县 (default: 本县; 示范县 with "
            "--example-org).",
        ),
    ] = None,
    example_org: Annotated[
        bool,
        typer.Option(
            "--example-org",
            help="Write the example organisation of a small county (示范县: units, people, "
            "operators, contacts) as org.yaml instead of the short template.",
        ),
    ] = False,
) -> None:
    """Create a workspace: caseflow.toml, org.yaml, the database, outbox/. The OS account
    running this becomes the first operator, with the county-wide bureau and admin roles."""
    from caseflow.service import init_workspace

    county = county or ("示范县" if example_org else "本县")
    workspace, operator = init_workspace(directory, database_url, county=county)
    typer.echo(f"Created workspace {workspace.root}")
    typer.echo(f"Database: {workspace.database_url}")
    if example_org:
        from caseflow.service import os_user
        from caseflow.workspace import write_example_org

        written = write_example_org(workspace, os_user())
        typer.echo(f"Organisation: the example county, in {written}")
    typer.echo(f"Operator {operator!r} registered with roles bureau, admin (county-wide).")
    if example_org:
        typer.echo(
            f"Next: check it with `caseflow -w {workspace.root} org check`, put it in force "
            "with `org apply` (you become 县教育局控辍办), then `case open --help`"
        )
    else:
        typer.echo(f"Next: caseflow -w {workspace.root} case open --help")


# ---------------------------------------------------------------------------------------
# case


@case_app.command("open")
def case_open(
    name: Annotated[str, typer.Option("--name", help="The child's full name.")],
    id_number: Annotated[str, typer.Option("--id-number", help="Resident ID (身份证号).")],
    township: Annotated[str, typer.Option("--township", help="Township (乡镇).")],
    village: Annotated[str, typer.Option("--village", help="Village (村).")],
    school: SchoolOption = None,
    sex: Annotated[
        str | None, typer.Option("--sex", help="男 or 女 (default: from the ID).")
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option("--birth-date", help="Birth date (default: from the ID).")
    ] = None,
    group: GroupOption = None,
    guardian: GuardianOption = None,
    guardian_relation: GuardianRelationOption = None,
    guardian_phone: GuardianPhoneOption = None,
    source: Annotated[
        str, typer.Option("--source", help="manual | roster | school | visit | list")
    ] = "manual",
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            help="Reason code, repeatable: learning, migrant_work, early_marriage, poverty, "
            "illness, disability, distance, parents_neglect, family_change, bullying, other.",
        ),
    ] = None,
    when: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a case for a suspected dropout (state: identified)."""
    from caseflow.service import ChildDetails, open_case, show_case

    if sex is not None and sex not in ("男", "女"):
        _bad_usage(f"--sex must be 男 or 女, got {sex!r}")
    ctx = _context()
    details = ChildDetails(
        name=name,
        id_number=id_number,
        township=township,
        village=village,
        school=school,
        sex=sex,
        birth_date=_date(birth_date, "--birth-date"),
        group=group,
        guardian_name=guardian,
        guardian_relation=guardian_relation,
        guardian_phone=guardian_phone,
    )
    number = open_case(ctx, details, source=source, reasons=reason or (), occurred_on=_date(when))
    view = show_case(ctx, number)
    if as_json:
        _print_json({key: view[key] for key in ("number", "state", "due_on", "due_provisional")})
        return
    typer.echo(
        f"Opened case {number}: {view['state']} ({view['state_label']}), due "
        f"{_due_text(view['due_on'], view['due_provisional'])}"
    )
    if view["due_provisional"]:
        typer.echo(PROVISIONAL_HINT)


@case_app.command("list")
def case_list(
    state: Annotated[str | None, typer.Option("--state", help="Only this state id.")] = None,
    township: Annotated[str | None, typer.Option("--township", help="Only this township.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only cases past due.")] = False,
    closed: Annotated[
        bool, typer.Option("--all", help="Include closed and retained cases.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List cases (open ones by default)."""
    from caseflow.service import list_cases, state_labels

    ctx = _context()
    rows = list_cases(ctx, state=state, township=township, overdue=overdue, include_closed=closed)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("No cases match.")
        return
    labels = state_labels(ctx)
    for row in rows:
        flag = "  OVERDUE" if row["overdue"] else ""
        typer.echo(
            f"{row['number']:>6}  {row['state']:<22} {labels.get(row['state'], ''):<12} "
            f"due {_due_text(row['due_on'], row['due_provisional']):<24} {row['name']} "
            f"{row['id_number']}  {row['township']}/{row['village']}{flag}"
        )
    if any(row["due_provisional"] for row in rows):
        typer.echo(PROVISIONAL_HINT)


@case_app.command("show")
def case_show(
    number: Annotated[int, typer.Argument(help="Case number.")],
    as_json: JsonOption = False,
) -> None:
    """A case: state, due date, responsible unit, what can be done now, people, history."""
    from caseflow.service import show_case

    view = show_case(_context(), number)
    if as_json:
        _print_json(view)
        return
    child = view["child"]
    typer.echo(
        f"Case {view['number']}  ({view['workflow']} v{view['workflow_version']}, "
        f"version {view['version']})"
    )
    typer.echo(f"  State:       {view['state']} ({view['state_label']}) since {view['entered_on']}")
    overdue = "  OVERDUE" if view["overdue"] else ""
    typer.echo(f"  Due:         {_due_text(view['due_on'], view['due_provisional'])}{overdue}")
    if view["deadline_basis"]:
        typer.echo(f"  Basis:       {view['deadline_basis']}")
    for fired in (e for e in view["escalations"] if e["current"]):
        typer.echo(
            f"  Escalated:   level {fired['level']} on {fired['fired_on']} "
            f"({fired['days_overdue']} days overdue) to {', '.join(fired['recipients'])}"
        )
    if view["next_escalation_on"]:
        typer.echo(f"  Next sweep action: {view['next_escalation_on']}")
    if view["responsible_label"]:
        typer.echo(f"  Responsible: {view['responsible_label']}")
    if view["departments"]:
        typer.echo("  Handed to:   " + ", ".join(d["label"] for d in view["departments"]))
    typer.echo(
        f"  Child:       {child['name']} {child['id_number']} {child['sex']} "
        f"born {child['birth_date']}"
    )
    where = "/".join(p for p in (child["township"], child["village"], child["group"]) if p)
    typer.echo(
        f"  Lives in:    {where}" + (f"; school {child['school']}" if child["school"] else "")
    )
    for guardian in view["guardians"]:
        typer.echo(
            f"  Guardian:    {guardian['name']} {guardian['relation'] or ''} "
            f"{guardian['phone'] or ''}".rstrip()
        )
    if view["chain"]:
        typer.echo("  包保 chain:")
        for link in view["chain"]:
            typer.echo(f"    {link['role']:<16}{link['label']}")
    if view["reasons"]:
        typer.echo(f"  Reasons:     {', '.join(view['reasons'])}")
    if view["repeat_count"]:
        typer.echo(f"  Relapses:    {view['repeat_count']}")
    typer.echo("  Can do now:")
    for t in view["transitions"] or [
        {"trigger": "(nothing for your role)", "label": "", "dest": "", "fields": []}
    ]:
        fields = " ".join(
            f"--set {f['name']}="
            + ("|".join(f["choices"]) if f["type"] == "choice" else f"<{f['type']}>")
            + ("" if f["required"] else " (optional)")
            for f in t["fields"]
        )
        arrow = f" -> {t['dest']}" if t["dest"] else ""
        typer.echo(f"    {t['trigger']:<28}{t['label']}{arrow}  {fields}".rstrip())
    typer.echo("  History:")
    for event in view["history"]:
        typer.echo("    " + _event_line(event))
    if view["due_provisional"]:
        typer.echo(PROVISIONAL_HINT)


def _event_line(event: dict[str, Any]) -> str:
    payload = event["payload"]
    if event["action"] == "case.transition":
        what = f"{event['from']} -> {event['to']} ({event['trigger']})"
        if payload.get("values"):
            what += " " + ", ".join(f"{k}={v}" for k, v in payload["values"].items())
    elif event["action"] == "case.note":
        what = f"note [{payload['method']}] {payload['text']}"
    elif event["action"] == "case.update":
        what = "updated " + ", ".join(f"{k}={v}" for k, v in payload["changed"].items())
    elif event["action"] == "case.open":
        what = f"opened in {payload['state']} (source {payload['source']})"
    elif event["action"] == "case.assign":
        what = f"assigned {payload['role']}: {payload['from'] or '-'} -> {payload['to']}"
    elif event["action"] == "case.migrated":
        what = (
            f"moved to {payload['workflow']} v{payload['to_version']}: "
            f"{payload['from']} -> {payload['to']}, due {payload['from_due_on'] or '-'} -> "
            f"{payload['due_on'] or '-'}"
        )
    elif event["action"] == "case.chain":
        what = "包保 chain follows the child: " + ", ".join(
            f"{role}={person}" for role, person in payload["to"].items()
        )
    else:
        what = event["action"]
    if payload.get("note"):
        what += f" — {payload['note']}"
    for document in payload.get("documents", []):
        if document["prepared"]:
            what += f"; issued {document['subject']} ({', '.join(document['references'])})"
        else:
            what += f"; {document['template']} not prepared: {document['reason']}"
    return f"#{event['seq']:<5} {event['occurred_on'] or '':<10}  {what}  [{event['operator']}]"


@case_app.command("assign")
def case_assign(
    number: Annotated[int, typer.Argument(help="Case number.")],
    role: Annotated[
        str,
        typer.Argument(
            help="The chain link: county_leader, township_cadre, village_cadre, group_leader, "
            "bureau_leader, principal, school_leader, head_teacher or subject_teacher."
        ),
    ],
    person: Annotated[str, typer.Argument(help="The person's id in org.yaml (people[].id).")],
) -> None:
    """Give one link of the case's 包保 responsibility chain to another person (audited).
    The person must hold that position in the organisation in force (`caseflow org apply`)."""
    from caseflow.service_org import assign

    assign(_context(), number, role, person)
    typer.echo(f"Case {number}: {role} is now {person}")


@case_app.command("advance")
def case_advance(
    number: Annotated[int, typer.Argument(help="Case number.")],
    trigger: Annotated[str, typer.Argument(help="Transition to fire (see `case show`).")],
    when: DateOption = None,
    values: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE for a field the transition needs; repeatable."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="A remark for the record.")] = None,
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="Refuse (exit 3) unless the case is still at this version, i.e. unchanged "
            "since you looked at it.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a transition on a case: one atomic step with its audit event."""
    from caseflow.service import advance, show_case

    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _bad_usage(f"--set expects FIELD=VALUE, got {item!r}")
        pairs[key.strip()] = value
    ctx = _context()
    documents = advance(
        ctx,
        number,
        trigger,
        pairs,
        note=note,
        occurred_on=_date(when),
        expect_version=expect_version,
    )
    view = show_case(ctx, number)
    if as_json:
        keys = ("number", "state", "version", "due_on", "due_provisional", "transitions")
        _print_json({**{key: view[key] for key in keys}, "documents": documents})
        return
    typer.echo(
        f"Case {number}: now {view['state']} ({view['state_label']}), due "
        f"{_due_text(view['due_on'], view['due_provisional'])}"
    )
    for document in documents:
        if document["prepared"]:
            typer.echo(
                f"  Prepared {document['subject']}: {', '.join(document['references'])}"
                " (in the outbox; `caseflow notify dispatch` delivers or files it)"
            )
        else:
            typer.echo(
                f"  Could not prepare {document['template']}: {document['reason']}. "
                f"Make it with `caseflow notice letter {number} {document['template']} "
                "--set FIELD=VALUE`."
            )
    if view["due_provisional"]:
        typer.echo(PROVISIONAL_HINT)


@case_app.command("note")
def case_note(
    number: Annotated[int, typer.Argument(help="Case number.")],
    text: Annotated[str, typer.Argument(help="What happened (who, attitude, outcome).")],
    method: Annotated[
        str, typer.Option("--method", help="visit | phone | letter | wechat | other")
    ] = "visit",
    when: DateOption = None,
) -> None:
    """Log a persuasion attempt or remark (no state change)."""
    from caseflow.service import add_note

    add_note(_context(), number, text, method=method, occurred_on=_date(when))
    typer.echo(f"Noted on case {number}.")


@case_app.command("update")
def case_update(
    number: Annotated[int, typer.Argument(help="Case number.")],
    school: SchoolOption = None,
    grade: Annotated[str | None, typer.Option("--grade", help="Grade (年级), e.g. 七年级.")] = None,
    class_name: Annotated[
        str | None, typer.Option("--class", help="Class within the grade, e.g. （2）班.")
    ] = None,
    group: GroupOption = None,
    guardian: GuardianOption = None,
    guardian_relation: GuardianRelationOption = None,
    guardian_phone: GuardianPhoneOption = None,
    when: DateOption = None,
) -> None:
    """Record what was learnt about the child after opening (school, grade, class, group,
    guardian), so that letters needing it can be prepared. Audited; no state change."""
    from caseflow.service import DetailsUpdate, update_details

    learnt = DetailsUpdate(
        school=school,
        grade=grade,
        class_name=class_name,
        group=group,
        guardian_name=guardian,
        guardian_relation=guardian_relation,
        guardian_phone=guardian_phone,
    )
    update_details(_context(), number, learnt, occurred_on=_date(when))
    typer.echo(f"Updated case {number}: {', '.join(learnt.given())}.")


@case_app.command("history")
def case_history(
    number: Annotated[int, typer.Argument(help="Case number.")],
    as_json: JsonOption = False,
) -> None:
    """Every event of a case, oldest first."""
    from caseflow.service import history

    events = history(_context(), number)
    if as_json:
        _print_json(events)
        return
    for event in events:
        typer.echo(_event_line(event))


@case_app.command("extend")
def case_extend(
    number: Annotated[int, typer.Argument(help="Case number.")],
    days: Annotated[int, typer.Option("--days", help="Calendar days to add to the deadline.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit).")],
    when: DateOption = None,
) -> None:
    """Extend a case's current deadline (an audited decision; the ladder starts again)."""
    from caseflow.service import extend, show_case

    ctx = _context()
    extend(ctx, number, days, reason, occurred_on=_date(when))
    view = show_case(ctx, number)
    typer.echo(f"Case {number}: due {_due_text(view['due_on'], view['due_provisional'])}")


@app.command()
def escalate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would fire; change nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Sweep as of this day (default today; future only with --dry-run)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Cases per transaction.", hidden=True)
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    """Fire every escalation rung and automatic transition that has fallen due, once.

    Each rung is recorded in the audit and queues a notice for each recipient; running it
    again changes nothing. After an outage it catches up, oldest first."""
    from caseflow.service_sweep import count_due, sweep

    ctx = _context()
    day = _date(as_of, "--as-of")
    total = 0 if as_json else count_due(ctx, day or ctx.today)
    with _progress(total, "Sweeping") as advance_bar:
        report = sweep(ctx, as_of=day, dry_run=dry_run, batch_size=batch_size, progress=advance_bar)
    if as_json:
        _print_json(report.as_json())
        return
    mode = " (dry run: nothing was changed)" if dry_run else ""
    typer.echo(
        f"Sweep as of {report.as_of.isoformat()}{mode}: {report.fired} rung(s) fired, "
        f"{report.timed} automatic transition(s), {report.notices} notice(s) queued."
    )
    for (level, recipient), count in sorted(report.by_recipient.items()):
        typer.echo(f"  level {level}  {recipient:<40} {count} case(s)")


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long runs; silent for short ones."""
    if total < 2000 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@calendar_app.command("check")
def calendar_check() -> None:
    """Years the working-day calendar covers and the provisional deadlines waiting;
    exit 1 when next year is not covered yet."""
    from caseflow.service_sweep import provisional_deadlines

    ctx = _context()
    years = ctx.calendar.known_years()
    typer.echo(
        f"Working-day calendar covers {years[0]}–{years[-1]}"
        if years == tuple(range(years[0], years[-1] + 1))
        else f"Working-day calendar covers {', '.join(map(str, years))}"
    )
    waiting = provisional_deadlines(ctx)
    typer.echo(f"Provisional deadlines waiting: {len(waiting)}")
    for row in waiting:
        typer.echo(f"  case {row.id:<6} {row.state:<22} due {row.due_on.isoformat()} (provisional)")
    coming = ctx.today.year + 1
    if not ctx.calendar.is_known_year(coming):
        typer.echo(
            f"Error: {coming} has no official holiday calendar yet. When the State Council "
            f"publishes it (usually in November), upgrade chinese-calendar "
            f"(pip install -U chinese-calendar) or list {coming}'s rest days and make-up "
            f"working days in {ctx.workspace.holiday_file} with complete_years: [{coming}]. "
            "Provisional deadlines are recomputed, and audited, at the next sweep.",
            err=True,
        )
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------
# workflow


@workflow_app.command("check")
def workflow_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Workflow files (default: the shipped and workspace workflows)."),
    ] = None,
) -> None:
    """Report every problem in workflow files, with file and key path; exit 1 if any."""
    from caseflow.service import check_workflow_files

    checked, problems = check_workflow_files(files or [], _state["workspace"])
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {len(checked)} file(s).", err=True)
        raise typer.Exit(1)
    for path in checked:
        typer.echo(f"ok  {path}")


@workflow_app.command("show")
def workflow_show(
    name: Annotated[str | None, typer.Argument(help="Workflow name (default: dropout).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the states (with deadlines and ladders) and transitions of a workflow."""
    from caseflow.service import describe_workflow, workflow_by_name

    workflow = workflow_by_name(name, _state["workspace"])
    description = describe_workflow(workflow)
    if as_json:
        _print_json(description)
        return
    typer.echo(f"{workflow.label} — {workflow.name} v{workflow.version}")
    typer.echo("\nStates:")
    for state in description["states"]:
        deadline = state["deadline"]
        due = f"  due in {deadline['amount']} {deadline['unit']}" if deadline else ""
        typer.echo(
            f"  {state['id']:<24}{state['label']:<14}{state['kind']:<9}"
            f"{state['category']:<19}{state['responsible'] or '':<18}{due}"
        )
        for rung in state["ladder"]:
            typer.echo(
                f"      +{rung['offset']} {rung['unit']}: {', '.join(rung['notify'])} "
                f"({rung['template']})"
            )
    typer.echo("\nTransitions:")
    for t in description["transitions"]:
        extra = []
        if t["handoff"]:
            extra.append("handoff " + ", ".join(t["handoff"]))
        if t["auto"]:
            extra.append("auto when due")
        if t["fields"]:
            extra.append("fields " + ", ".join(f["name"] for f in t["fields"]))
        typer.echo(
            f"  {t['trigger']:<28}{t['label']:<16}{','.join(t['from'])} -> {t['to']}"
            f"  [{', '.join(t['roles'])}]" + (f"  {'; '.join(extra)}" if extra else "")
        )


@workflow_app.command("diagram")
def workflow_diagram(
    name: Annotated[str | None, typer.Argument(help="Workflow name (default: dropout).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="mermaid | dot | svg")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Print a state diagram (Mermaid or Graphviz dot; SVG where Graphviz is installed)."""
    from caseflow.service import diagram, workflow_by_name

    if fmt not in ("mermaid", "dot", "svg"):
        _bad_usage(f"--format must be mermaid, dot or svg, got {fmt!r}")
    content = diagram(workflow_by_name(name, _state["workspace"]), fmt)
    if output is not None:
        output.write_text(content, encoding="utf-8")
        typer.echo(f"Wrote {output}")
    else:
        typer.echo(content, nl=False)


@workflow_app.command("migrate")
def workflow_migrate(
    to: Annotated[int, typer.Option("--to", help="The version to move to: the version in force.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would move; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Cases per transaction.", hidden=True)
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    """Move every open case from an older version of the workflow to the version in force.

    The version in force is the workflow file the workspace uses (workflows/NAME.yaml in
    the workspace, else the shipped one): to bring in a new version, edit that file and
    raise its `version`; the older versions stay stored in the database. Where a state's
    id changes, the new file says where the old state went:
    `migrate_from: {1: {old_state: new_state}}`; a state with the same id needs no entry.
    If any open case's state has no place in the new version, nothing moves. Each case's
    deadline is counted again under the new rule from the day it started, plus any
    extension granted; a due date given in a field (such as an approved deferral's end)
    stays; escalation levels already reached are not sent again. Cases move in batches,
    with one audit event (case.migrated) each; a run that stopped can be run again to
    move the rest. Closed cases are not touched. For the bureau and admin roles."""
    from caseflow.service_migrate import count_to_migrate, migrate

    ctx = _context()
    total = 0 if as_json else count_to_migrate(ctx, to)
    with _stderr_progress(total, "迁移中") as advance_bar:
        report = migrate(ctx, to, dry_run=dry_run, batch_size=batch_size, progress=advance_bar)
    if as_json:
        _print_json(report.as_json())
        return
    for line in _migration_lines(report.as_json()):
        typer.echo(line)


def _migration_lines(view: dict[str, Any]) -> list[str]:
    mode = "（试运行，未作任何修改）" if view["dry_run"] else ""
    verb = "将迁移" if view["dry_run"] else "已迁移"
    if not view["cases"]:
        return [
            f"流程 {view['workflow']} 迁移至第{view['to_version']}版{mode}：没有需要迁移的在办"
            f"案件，全部在办案件已在第{view['to_version']}版。"
        ]
    lines = [
        f"流程 {view['workflow']} 迁移至第{view['to_version']}版{mode}：{verb} "
        f"{view['moved']} 个在办案件"
    ]
    for case in view["cases"]:
        state = (
            f"{case['from_state_label']}（{case['from_state']}）"
            if case["from_state"] == case["to_state"]
            else f"{case['from_state_label']}（{case['from_state']}）→ "
            f"{case['to_state_label']}（{case['to_state']}）"
        )
        due = f"{case['from_due_on'] or '-'} → {_due_text(case['due_on'], case['due_provisional'])}"
        kept = "（期限按文书确定，不变）" if case["deadline"] == "kept" else ""
        lines.append(
            f"  案件 {case['number']:<6} 第{case['from_version']}版→第{view['to_version']}版  "
            f"{state}  期限 {due}{kept}"
        )
    return lines


# ---------------------------------------------------------------------------------------
# audit


@audit_app.command("log")
def audit_log_command(
    case: Annotated[int | None, typer.Option("--case", help="Only this case's events.")] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="Only events of this unit's cases: cases whose township, village or school "
            "(as recorded now) is this name, or that are handed to this department now (key "
            "such as health, or its Chinese name). To be exact, write township:NAME, "
            "village:TOWNSHIP/VILLAGE, school:NAME or department:KEY.",
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Only events by this operator (name or OS account)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only events recorded on or after this day, in the workspace's time zone "
            "(2026-11-01 or 2026年11月1日).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only events recorded on or before this day (inclusive)."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            help="Only this action (e.g. case.transition); ending in '.' or '*' it is a "
            "prefix: --action case. gives every case event.",
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only events of cases that are in this state now (a state id such as "
            "persuasion): their whole history, not just the events that entered the state.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Audit events, oldest first. The filters combine: an event is shown when all hold.
    Events not about a case (checkpoints, imports) never match --unit or --state. For the
    supervisor and bureau roles."""
    import json

    from caseflow.service_review import AuditFilter, audit_events

    where = AuditFilter(
        case=case,
        unit=unit,
        actor=actor,
        since=_date(since, "--since"),
        until=_date(until, "--until"),
        action=action,
        state=state,
    )
    events = audit_events(_context(), where)
    if as_json:
        _print_json(list(events))
        return
    shown = 0
    for event in events:
        shown += 1
        case_text = f"case {event['case']}" if event["case"] is not None else ""
        typer.echo(
            f"#{event['seq']:<6} {event['recorded_at']}  {event['action']:<18} "
            f"{case_text:<10} {event['operator']} ({event['os_user']})  "
            f"{json.dumps(event['payload'], ensure_ascii=False, sort_keys=True)}"
        )
    if not shown:
        typer.echo("No audit events match.")


@audit_app.command("export")
def audit_export_command(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The file to write, e.g. audit-2026-11.jsonl."),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start at the first event recorded on or after this day (workspace time "
            "zone; default: the first event).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="End at the last event recorded on or before this day (default: the latest).",
        ),
    ] = None,
) -> None:
    """Write audit events as JSON lines, with their hashes and a checkpoint as the last
    line, for a reviewer to check offline with `caseflow audit verify --file FILE`.

    The export is one unbroken stretch of the chain (every event between its first and
    last, so that the lines link). It is written to a temporary file and renamed into
    place, checked as the reviewer will check it, and recorded in the audit. For the
    supervisor and bureau roles."""
    from caseflow.errors import AuditBroken
    from caseflow.service_review import export_audit

    summary = export_audit(
        _context(), output, since=_date(since, "--since"), until=_date(until, "--until")
    )
    typer.echo(
        f"Wrote {summary.events} events (seq {summary.first_seq}–{summary.last.seq}) to {output}"
    )
    typer.echo(f"Checkpoint: {summary.last}")
    if not summary.verification.intact:
        raise AuditBroken(
            f"the exported events do not verify ({summary.verification.problem}); the file "
            "holds them as stored, for examination. Run `caseflow audit verify`."
        )
    typer.echo(f"Check it anywhere with: caseflow audit verify --file {output}")


@audit_app.command("verify")
def audit_verify_command(
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help="A checkpoint from `caseflow audit checkpoint`."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Check an export from `caseflow audit export` instead, on its own: no "
            "workspace or database is needed.",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain; exit 0 if intact, 1 naming the first bad event.

    With --file: recompute every line's hash, follow the links from line to line and
    check the checkpoint line; exit 1 naming the first bad line. With --checkpoint too,
    the export must hold that event, unchanged."""
    if file is not None:
        _verify_export_file(file, checkpoint)
        return
    from caseflow.service import audit_verify

    result = audit_verify(_context(), checkpoint)
    if not result.intact:
        typer.echo(
            f"Audit chain BROKEN at event {result.first_bad_seq}: {result.problem}", err=True
        )
        raise typer.Exit(1)
    against = " and matches the checkpoint" if checkpoint else ""
    typer.echo(f"Audit chain intact{against}: {result.events} events, head {result.head}")


def _verify_export_file(file: Path, checkpoint: str | None) -> None:
    from caseflow.audit_export import verify_export_file
    from caseflow.errors import AuditBroken

    result = verify_export_file(file, checkpoint)
    if not result.intact:
        raise AuditBroken(f"export {file} is BROKEN: {result.problem}")
    assert result.last is not None and result.first_seq is not None
    against = f" and holds checkpoint {checkpoint}" if checkpoint else ""
    typer.echo(
        f"Export intact{against}: {result.events} events, seq {result.first_seq}–"
        f"{result.last.seq}, recorded {result.first_recorded_at} to {result.last_recorded_at}"
    )
    if result.from_genesis:
        typer.echo("Starts at the beginning of the chain.")
    else:
        typer.echo(
            f"Starts mid-chain: event {result.first_seq} follows prev_hash {result.start_hash}, "
            "taken as given (match it against the event before in an earlier export or in "
            "the database)."
        )
    typer.echo(f"Ends at checkpoint {result.last}")


@audit_app.command("checkpoint")
def audit_checkpoint_command() -> None:
    """Record a checkpoint and print it (seq and head hash): keep it outside the database."""
    from caseflow.service import audit_checkpoint

    typer.echo(str(audit_checkpoint(_context())))


# ---------------------------------------------------------------------------------------
# review: supervision

review_app = _typer(
    "Supervision review (督导): overdue cases by responsible unit with the escalations "
    "sent, and the annual assessment.\n\n" + EXIT_CODES_HELP
)
app.add_typer(review_app, name="review")


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
    from caseflow.service_review import overdue_review

    review = overdue_review(_context(), _date(as_of, "--as-of"))
    if as_json:
        _print_json(review.as_json())
        return
    typer.echo(
        f"Overdue as of {review.as_of.isoformat()}: {review.cases} open case(s) in "
        f"{len(review.units)} unit(s)"
    )
    for unit in review.units:
        typer.echo(f"\n{unit.label}  [{unit.unit}]  {len(unit.cases)} case(s)")
        for case in unit.cases:
            days = "working days" if case.days_unit == "working_days" else "days"
            due = _due_text(case.due_on.isoformat(), case.due_provisional)
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


# ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from caseflow.service import upgrade_database

    typer.echo(f"Schema at revision {upgrade_database(_state['workspace'])}")


# ---------------------------------------------------------------------------------------
# scheduler, and the campaigns it runs (also by hand: notice queue-letters / queue-report)

scheduler_app = _typer(
    "The foreground scheduler: the escalation sweep and the campaigns, one per database."
)
notice_app = _typer(
    "The outbox of notices: documents for one case (preview, letter), printing the letters, "
    "and the campaigns by hand."
)
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(notice_app, name="notice")


@scheduler_app.command("run")
def scheduler_run(
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another scheduler holds the lease, wait and take over when it stops "
            "(or when its lease runs out, if it crashed) instead of exiting 3.",
        ),
    ] = False,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run each interval job (the sweep, then the dispatch) once, then exit; for "
            "hosts that start it from cron. Exits non-zero if a job failed.",
        ),
    ] = False,
    sweep_every: Annotated[
        float | None,
        typer.Option(
            "--sweep-every",
            help="Seconds between sweeps (default: scheduler.sweep_every_minutes).",
            hidden=True,
        ),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            "--lease-seconds",
            help="Lease time to live (default: scheduler.lease_seconds).",
            hidden=True,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Cases per sweep transaction.", hidden=True)
    ] = 500,
) -> None:
    """Run the scheduler in the foreground, for instance as a systemd service.

    It sweeps escalations at start and every scheduler.sweep_every_minutes, and runs the
    campaigns on the cron schedules of caseflow.toml [scheduler] (publicity letters,
    monthly report) in the workspace's time zone. Only one runs per database: a second
    exits 3 naming the holder, unless --wait. SIGTERM or Ctrl-C finishes the current batch,
    releases the lease and exits 0."""
    from datetime import timedelta

    from caseflow.scheduler import Settings, run

    if sweep_every is not None and sweep_every <= 0:
        _bad_usage(f"--sweep-every must be a number of seconds above 0, got {sweep_every:g}")
    if lease_seconds is not None and lease_seconds < 1:
        _bad_usage(f"--lease-seconds must be at least 1, got {lease_seconds:g}")
    if batch_size < 1:
        _bad_usage("--batch-size must be at least 1")
    ctx = _context()
    settings = Settings.of(
        ctx.workspace,
        sweep_every=None if sweep_every is None else timedelta(seconds=sweep_every),
        lease_ttl=None if lease_seconds is None else timedelta(seconds=lease_seconds),
        batch_size=batch_size,
    )
    code = run(
        ctx,
        settings,
        wait=wait,
        once=once,
        say=typer.echo,
        warn=lambda message: typer.echo(message, err=True),
    )
    if code:
        raise typer.Exit(code)


@notice_app.command("queue-letters")
def notice_queue_letters(
    when: Annotated[
        str | None,
        typer.Option("--date", help="The letters' date (default today); it names the month."),
    ] = None,
) -> None:
    """Queue the publicity letter (致家长的一封信) to the guardian of every watched child:
    every open case, and children returned to school. Once per child per month: running it
    again queues only the letters still missing."""
    from caseflow.service_campaigns import queue_publicity_letters

    ctx = _context()
    day = _date(when) or ctx.today
    queued = queue_publicity_letters(ctx, day)
    typer.echo(
        f"Queued {queued} publicity letter(s) dated {day.isoformat()} "
        f"(children already written to in {day:%Y-%m} are skipped)."
    )


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

    from caseflow.service_campaigns import Period, queue_monthly_report

    ctx = _context()
    if month is None:
        following = ctx.today
    else:
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", month.strip())
        if match is None or not 1 <= int(match.group(2)) <= 12 or match.group(1) < "1900":
            _bad_usage(f"--month must look like 2026-11, got {month!r}")
        first = date(int(match.group(1)), int(match.group(2)), 1)
        following = (first + timedelta(days=31)).replace(day=1)
    reported = Period.before(following).label
    if queue_monthly_report(ctx, following):
        typer.echo(f"Queued the monthly report for {reported} to the supervision office.")
    else:
        typer.echo(f"The monthly report for {reported} is already in the outbox; nothing queued.")


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="FIELD=VALUE for a field the case lacks or that should read otherwise, e.g. "
        "--set guardian.relation=母亲 --set deadline.date=2026-12-15 (repeatable).",
    ),
]


def _overrides(values: list[str] | None) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _bad_usage(f"--set takes FIELD=VALUE, e.g. guardian.name=张大山; got {item!r}")
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
    from caseflow.service_documents import preview

    html = preview(_context(), number, template, _overrides(sets))
    if output is None:
        typer.echo(html, nl=False)
        return
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        _bad_usage(f"cannot write {output}: {exc.strerror}")
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
    from caseflow.service_dispatch import reference
    from caseflow.service_documents import queue_document

    queued = queue_document(_context(), number, template, _overrides(sets))
    verb = "Queued" if queued.new else "Already queued"
    for notice_id, recipient in zip(queued.ids, queued.recipients, strict=False):
        typer.echo(
            f"{verb} notice {notice_id} ({reference(notice_id)}) to {recipient}: {queued.subject}"
        )
    if not queued.new:
        typer.echo("Nothing new was queued; the case has not changed since.")


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
    from caseflow.service_documents import print_batch

    count = print_batch(_context(), since=_date(since, "--since"), output=output)
    if count:
        typer.echo(f"Wrote {count} letter(s) to {output}; print it from a browser (A4).")
    else:
        typer.echo("No letters to print; nothing written.")


notify_app = _typer(
    "Deliver the outbox and look after it: dispatch, status, retry.\n\n" + EXIT_CODES_HELP
)
app.add_typer(notify_app, name="notify")


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
    from caseflow.service_dispatch import dispatch

    report = dispatch(_context(), limit=limit)
    if as_json:
        _print_json(report.as_json())
        return
    typer.echo(
        f"Dispatched: {report.sent} sent, {report.retrying} to retry later, "
        f"{report.deferred} waiting for a rate limit, {report.dead} dead"
        + (f" ({report.routed} routed to channels)" if report.routed else "")
    )
    if report.dead:
        typer.echo("See them with `caseflow notify status --status dead`.")


@notify_app.command("status")
def notify_status(
    only: Annotated[
        str | None, typer.Option("--status", help="Only pending, sent or dead notices.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Counts by status and the latest notices, with the last error of each."""
    from caseflow.service_dispatch import status

    view = status(_context(), only=only)
    if as_json:
        _print_json(view)
        return
    counts = view["counts"]
    typer.echo(f"Outbox: {counts['pending']} pending, {counts['sent']} sent, {counts['dead']} dead")
    for notice in view["notices"]:
        error = f"  ({notice['last_error']})" if notice["last_error"] else ""
        typer.echo(
            f"  {notice['id']:>6} {notice['reference']}  {notice['status']:<7} "
            f"{notice['channel'] or '-':<9} {notice['recipient']:<32} "
            f"attempts {notice['attempts']}  {notice['subject']}{error}"
        )


@notify_app.command("retry")
def notify_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Notice ids to requeue.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Requeue every dead one.")] = False,
) -> None:
    """Requeue dead notices after fixing their address (org.yaml, then `caseflow org
    apply`) or a channel setting."""
    from caseflow.service_dispatch import retry

    count = retry(_context(), ids or (), all_dead=all_dead)
    typer.echo(f"Requeued {count} notice(s); the next dispatch delivers them.")


# ---------------------------------------------------------------------------------------
# roster: the five registers (五查四比对)

roster_app = _typer(
    "The five registers (五查四比对): import each one's file as its snapshot; compare them.\n\n"
    + EXIT_CODES_HELP
)
app.add_typer(roster_app, name="roster")

REJECTS_SHOWN = 5


@contextmanager
def _rows_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr once a large file turns out to be large; silent otherwise."""
    state: dict[str, Any] = {}
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return

    def advance(done: int, total: int) -> None:
        if total < 20_000:
            return
        if "bar" not in state:
            from rich.console import Console
            from rich.progress import Progress

            state["bar"] = Progress(console=Console(stderr=True), transient=True)
            state["bar"].start()
            state["task"] = state["bar"].add_task(label, total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        yield advance
    finally:
        if "bar" in state:
            state["bar"].stop()


@roster_app.command("import")
def roster_import(
    source: Annotated[
        str,
        typer.Argument(
            help="household (户籍), student (学籍), poverty (扶贫), disability (残疾人) or "
            "attendance (实际在校生)."
        ),
    ],
    file: Annotated[Path, typer.Argument(help="The register: CSV (UTF-8 or GBK) or XLSX.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the register was extracted (default today)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding", help="A CSV file's encoding, e.g. gbk (default: UTF-8, else GB18030)."
        ),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="原列名=字段 for a heading caseflow does not know, e.g. --map 户主村=village "
            "(repeatable).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a register file as the source's snapshot, replacing the previous one (the
    history of imports is kept). Headings in Chinese or English, any order; other columns
    are ignored. Bad rows are written, with the reason, to rejects/ in the workspace; the
    good rows are imported, all in one transaction.

    \b
    Columns ([optional]):
      household   姓名 身份证号 性别 出生日期 乡镇 村 [组 户籍地址 监护人 联系电话]
      student     姓名 身份证号 学籍号 学校 年级 班级 学籍状态
      poverty     姓名 身份证号 乡镇 村 类别
      disability  姓名 身份证号 残疾类别 残疾等级 [残疾人证号]
      attendance  学校 姓名 身份证号 or 学籍号 年级 班级
    English headings: name id_number sex birth_date township village group address
    guardian phone student_number school grade class status category certificate.
    """
    from caseflow.service_roster import import_roster

    day = _date(as_of, "--as-of")
    ctx = _context()
    with _rows_progress(f"Importing {file.name}") as progress:
        summary = import_roster(
            ctx, source, file, as_of=day, encoding=encoding, mapping=maps or (), progress=progress
        )
    if as_json:
        _print_json(summary.as_json())
        return
    replaced = f", replacing import {summary.replaced}" if summary.replaced else ""
    typer.echo(
        f"Imported {summary.imported} of {summary.rows_total} rows of {summary.file_name} "
        f"as the {source} register (import {summary.import_id}, as of "
        f"{summary.as_of.isoformat()}{replaced}); {summary.rejected} rejected."
    )
    if summary.rejects_file is None:
        return
    typer.echo(f"Rejected rows, with the reasons: {summary.rejects_file}")
    for problem in summary.problems[:REJECTS_SHOWN]:
        value = f" {problem.value}" if problem.value else ""
        typer.echo(f"  row {problem.line}, {problem.column or '-'}{value}: {problem.reason}")
    more = len(summary.problems) - REJECTS_SHOWN
    if more > 0:
        typer.echo(f"  ... and {more} more in the rejects file")


@roster_app.command("compare")
def roster_compare(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Compare as of this day (reference date: the latest 1 September on or before it).",
        ),
    ] = None,
    open_found: Annotated[
        bool, typer.Option("--open-cases", help="Open a case for each suspect (idempotent).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --open-cases: say what would be opened.")
    ] = False,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show full resident IDs (permitted roles; logged).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the findings to FILE.csv/.xlsx.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """五查四比对: flag school-age children in 户籍, 扶贫 or 残疾人 without a 学籍 record
    (在读/休学), and 在读 students missing from 实际在校生, using each register's latest
    import."""
    from caseflow.service_compare import (
        FLAGS,
        check_reveal,
        compare,
        open_cases,
        record_reveal,
        views,
        write_table,
    )

    ctx = _context()
    if reveal:
        check_reveal(ctx)
    comparison = compare(ctx, as_of=_date(as_of, "--as-of"))
    if reveal:
        record_reveal(ctx, comparison)
    opening = open_cases(ctx, comparison, dry_run=dry_run) if open_found else None
    if output is not None:
        written = write_table(output, comparison, reveal=reveal)
        typer.echo(f"Wrote {written} finding(s) to {output}", err=as_json)
    if as_json:
        _print_json(views(comparison, reveal=reveal))
        return
    typer.echo(
        f"Reference date {comparison.reference_date.isoformat()}, ages "
        f"{comparison.ages[0]}–{comparison.ages[1]}: {len(comparison.suspects)} suspected "
        "dropout(s)"
    )
    for flag, count in comparison.counts.items():
        missing = comparison.missing.get(flag)
        figure = f"not compared: {', '.join(missing)} not imported" if missing else str(count)
        typer.echo(f"  {flag:<24} {FLAGS[flag]:<8} {figure}")
    for view in views(comparison, reveal=reveal)[:50]:
        groups = "; ".join(g for g in (view["poor"], view["disability"]) if g)
        typer.echo(
            f"  {view['id_number']}  {view['name']:<6} {view['township'] or '-'}/"
            f"{view['village'] or '-'}  {', '.join(view['flags'])}"
            + (f"  [{groups}]" if groups else "")
        )
    if len(comparison.suspects) > 50:
        typer.echo(f"  … and {len(comparison.suspects) - 50} more (use -o FILE or --json)")
    if opening is not None:
        verb = "Would open" if dry_run else "Opened"
        typer.echo(
            f"{verb} {len(opening.opened)} case(s); new findings added to "
            f"{len(opening.added)} open case(s); {opening.unchanged} already recorded; "
            f"{opening.not_reopened} closed case(s) not reopened (no new flag)."
        )


@roster_app.command("history")
def roster_history(
    source: Annotated[str | None, typer.Argument(help="Only this register (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every import, newest first: when, who, which file (name and SHA-256), the counts;
    `*` marks each register's current snapshot."""
    from caseflow.service_roster import import_history

    ctx = _context()
    records = import_history(ctx, source)
    if as_json:
        _print_json([record.as_json() for record in records])
        return
    if not records:
        typer.echo("No register has been imported yet.")
        return
    for r in records:
        mark = "*" if r.current else " "
        typer.echo(
            f"{mark}{r.id:>5}  {r.source:<10} "
            f"{r.imported_at.astimezone(ctx.workspace.timezone):%Y-%m-%d %H:%M}  as of "
            f"{r.as_of.isoformat()}  {r.rows_imported:>8} imported {r.rows_rejected:>6} "
            f"rejected  {r.file_name} sha256:{r.file_sha256[:12]}  {r.operator} ({r.os_user})"
        )


# ---------------------------------------------------------------------------------------
# org: the organisation file (read from the file alone; no database needed)

org_app = _typer("The organisation file (org.yaml): units, people, operators and contacts.")
app.add_typer(org_app, name="org")


def _workspace() -> "Workspace":
    import os

    from caseflow.workspace import load, locate

    return load(locate(_state["workspace"], os.environ, Path.cwd()))


@org_app.command("check")
def org_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="An organisation file (default: the workspace's org.yaml)."),
    ] = None,
) -> None:
    """Report every problem in an organisation file, with file and key path; exit 2 if any."""
    from caseflow.org import read_org

    path = file if file is not None else _workspace().org_file
    org, problems = read_org(path, missing_ok=file is None)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if org is None or problems:
        typer.echo(f"{len(problems)} problem(s) in {path}.", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    typer.echo(
        f"{path}: OK — {len(org.units)} units, {len(org.people)} people, "
        f"{len(org.operators)} operators"
    )


@org_app.command("apply")
def org_apply(
    file: Annotated[
        Path | None,
        typer.Argument(help="The organisation file (default: the workspace's org.yaml)."),
    ] = None,
) -> None:
    """Put the organisation file in force (admin only, audited): its operators become the
    ones caseflow knows, new cases take their 包保 chains from it, and notices are routed
    by its contacts. Refused if the file has problems or would leave you without the
    admin role."""
    from caseflow.service_org import apply_org

    applied = apply_org(_context(), file)
    if applied.unchanged:
        typer.echo(f"Already in force: {applied.sha256[:12]}")
        return
    typer.echo(f"In force: {applied.sha256[:12]}")
    for label, names in (
        ("added", applied.added),
        ("removed", applied.removed),
        ("changed", applied.changed),
    ):
        if names:
            typer.echo(f"  Operators {label}: {', '.join(names)}")


@org_app.command("show")
def org_show(as_json: JsonOption = False) -> None:
    """Print the workspace's organisation: units as a tree with their people, operators
    with their roles and jurisdiction, and the other contacts."""
    from caseflow.org import describe_org, format_org, load_org

    org = load_org(_workspace())
    if as_json:
        _print_json(describe_org(org))
    else:
        typer.echo(format_org(org), nl=False)


# ---------------------------------------------------------------------------------------
# ledger and stats: the four ledgers (四台账), the figures against the targets, and the
# annual assessment (in the review group)


@contextmanager
def _stderr_progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a large file; silent for a small one or no terminal."""
    if total < 2000 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@app.command("ledger")
def ledger_command(
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="county (every case you may see), township, village or school (name it "
            "with --unit).",
        ),
    ] = "county",
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="The township, school, or village (镇/村, or the village's name alone when "
            "only one township has it), e.g. --unit 天堂镇/天堂村.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The ledger as it stood on this day (default today): states, due dates and "
            "days as of then; cases identified later are left out.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="table | csv | xlsx | md | json (default: by the -o extension)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (default: print a table)."),
    ] = None,
) -> None:
    """The ledger (台账) of the county, a township, a village or a school: one row per case
    with the child (ID masked), place, state, reasons, responsible people (包保), dates,
    days in state, due date, days overdue, the latest persuasion attempt and the outcome.

    XLSX is laid out as an official ledger (title row, frozen headings, dates as dates) and
    opens in Excel and WPS; cells that a spreadsheet would read as a formula are written as
    text. A large ledger is written as it is read, in batches (constant memory), and the
    file only takes its name when complete. You see only the cases of your jurisdiction;
    the reading is recorded in the audit."""
    from caseflow.exports import output_format
    from caseflow.service_ledger import open_ledger, write_ledger

    ctx = _context()
    output_format(output, fmt)
    ledger = open_ledger(ctx, level=level, unit=unit, as_of=_date(as_of, "--as-of"))
    if output is None:
        if not write_ledger(ledger, fmt, stream=sys.stdout):
            typer.echo(f"No cases: {ledger.title}", err=True)
        return
    with _stderr_progress(ledger.count(), f"Writing {output.name}") as advance:
        count = write_ledger(ledger, fmt, output, progress=advance)
    typer.echo(f"Wrote {count} case(s) to {output}: {ledger.title}")


def _scope_text(scope: str) -> str:
    kind, _, name = scope.partition(":")
    return "全县" if kind == "county" else name if kind != "department" else f"转介{name}的案件"


@app.command("stats")
def stats_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the figures stand on (default today)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start of the period for the flows and on-time rates (default 1 January "
            "of the --as-of year).",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Also per township or per school.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The county's targets (work plan: 100% enrolment, disabled children's enrolment
    ≥95%, zero dropouts, nine-year consolidation ≥95%) beside the actual figures, then the
    cases by state, returns, retention, relapses, the median days from identification to
    return, overdue cases and each responsible unit's on-time rate, with the definitions.
    Figures that need registers not imported say so. Your jurisdiction's cases only."""
    from caseflow.service_stats import percent, stats, target_line

    ctx = _context()
    figures = stats(ctx, as_of=_date(as_of, "--as-of"), since=_date(since, "--since"), by=by)
    if as_json:
        _print_json(figures.as_json())
        return
    view = figures.as_json()
    total = view["cases"]
    day = figures.as_of
    typer.echo(
        f"{ctx.workspace.county}控辍保学工作统计（截至{day.year}年{day.month}月{day.day}日；"
        f"统计期 {figures.since.isoformat()} 至 {day.isoformat()}；"
        f"范围：{_scope_text(figures.scope)}）"
    )
    typer.echo("\n目标任务")
    for target in figures.targets:
        typer.echo("  " + target_line(target))
    typer.echo("\n案件（统计日）")
    for item in view["by_state"]:
        typer.echo(f"  {item['label']}（{item['state']}）  {item['count']}")
    typer.echo(
        f"  合计 {total['cases']}，在办 {total['open']}：疑似 {total['suspected']}，已确认辍学 "
        f"{total['open_dropouts']}，延缓入学/休学 {total['deferred']}，已复学巩固中 "
        f"{total['in_monitoring']}；逾期 {total['overdue']}"
    )
    median_days = total["median_days_to_return"]
    typer.echo("\n统计期内")
    typer.echo(
        f"  新发现 {total['identified']}，复学 {total['returned']}，巩固销号 "
        f"{total['retained']}，再次辍学 {total['relapses']} 人次（{total['relapsed_cases']} 案）"
    )
    typer.echo(
        "  发现至复学天数中位数 "
        + ("—" if median_days is None else f"{median_days:g} 天")
        + f"；劝返率 {percent(total['return_rate'])}"
        + f"；复学巩固率 {percent(total['retention_rate'])}"
    )
    on_time = total["on_time"]
    typer.echo(
        f"  按时办结率 {percent(on_time['rate'])}（按期 {on_time['met']}/到期 {on_time['due']}，"
        f"逾期 {on_time['missed']}，已升级督办 {on_time['escalated']}）"
    )
    typer.echo("\n责任单位按时办结率")
    if not figures.on_time:
        typer.echo("  统计期内没有到期的办理期限。")
    for unit in figures.on_time:
        d = unit.deadlines
        typer.echo(
            f"  {unit.label}  到期 {d.due}，按期 {d.met}，逾期 {d.missed}，已升级督办 "
            f"{d.escalated}，按时办结率 {percent(d.rate)}"
        )
    if figures.groups:
        typer.echo("\n按乡镇" if figures.by == "township" else "\n按学校")
        for group in figures.groups:
            g = group.as_json()
            rates = "".join(
                f"，{label} {percent(g[key]['rate'])}（{g[key]['numerator']}/"
                f"{g[key]['denominator']}）"
                for key, label in (
                    ("enrolment_rate", "入学率"),
                    ("disabled_enrolment_rate", "残疾儿童少年入学率"),
                    ("consolidation_rate", "九年义务教育巩固率"),
                )
                if key in g
            )
            typer.echo(
                f"  {group.name}  在办 {g['open']}，已确认辍学 {g['open_dropouts']}，复学 "
                f"{g['returned']}，巩固 {g['retained']}，再次辍学 {g['relapses']}，逾期 "
                f"{g['overdue']}，按时办结率 {percent(g['on_time']['rate'])}{rates}"
            )
    typer.echo("\n口径说明")
    for target in figures.targets:
        typer.echo(f"  {target.label}：{target.definition}")
    for text in view["definitions"].values():
        typer.echo(f"  {text}")


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
    from caseflow.service_stats import assessment, percent

    result = assessment(_context(), year=year)
    if as_json:
        _print_json(result.as_json())
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


# ---------------------------------------------------------------------------------------
# demo


@contextmanager
def _stages() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr naming the stage; silent when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield lambda _what, _done, _total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("caseflow demo", total=None)
        yield lambda what, done, total: bar.update(
            task, description=what, completed=done, total=total
        )


@app.command("demo")
def demo_command(
    directory: Annotated[
        Path, typer.Argument(help="A new (or empty) folder for the demo workspace.")
    ] = Path("caseflow-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help="The same seed gives the same county and casework.")
    ] = 2026,
    children: Annotated[
        int, typer.Option("--children", help="Resident children of the synthetic county.")
    ] = 3000,
    days: Annotated[int, typer.Option("--days", help="Days of casework to play.")] = 120,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="The first day of casework (default 2025-09-15, a term whose holiday "
            "calendar is known); the days played must be over.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Database URL (default: SQLite inside the workspace)."),
    ] = None,
) -> None:
    """See the whole system work on a synthetic county, on this machine only.

    Makes a workspace in DIRECTORY: a county of townships, villages and schools (印江自治县,
    invented people), its org.yaml, the five registers with planted discrepancies; imports
    and compares them and opens cases; then plays a term of casework day by day
    (verifications, closures, persuasion visits, handoffs to partner departments, the legal
    route, returns, a relapse) while the sweep escalates lapsed deadlines and the
    dispatcher delivers notices: letters to outbox/, e-mail and group-robot messages to a
    local capture in capture/. Prints the outcome and where to look next."""
    from caseflow.service_demo import lines, run_demo

    kwargs: dict[str, Any] = {"seed": seed, "children": children, "days": days}
    first = _date(start, "--start")
    if first is not None:
        kwargs["start"] = first
    with _stages() as progress:
        report = run_demo(directory, database_url=database_url, progress=progress, **kwargs)
    for line in lines(report):
        typer.echo(line)
    if not report.audit_intact:
        raise typer.Exit(1)


report_app = _typer("Reports for the county leadership.")
app.add_typer(report_app, name="report")


@report_app.command("html")
def report_html(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write, e.g. report.html.")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Figures as of this day (default today).")
    ] = None,
) -> None:
    """One self-contained HTML file (opens without network) for the county leadership:
    the targets, charts of cases per township and of the monthly flows, the overdue
    cases by responsible unit, and the audit chain's verification. Bureau or supervisor."""
    from caseflow.service_report import write_report

    written = write_report(_context(), output, _date(as_of, "--as-of"))
    typer.echo(f"Wrote {written}")


def main() -> None:
    app(prog_name="caseflow")


if __name__ == "__main__":
    main()
