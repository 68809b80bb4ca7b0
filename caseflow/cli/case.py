"""`caseflow case ...` and `caseflow escalate`: open, advance and read cases; the sweep."""

from typing import Annotated

import typer

from caseflow.cli.base import (
    DateOption,
    ExpectVersionOption,
    GroupOption,
    GuardianOption,
    GuardianPhoneOption,
    GuardianRelationOption,
    JsonOption,
    SchoolOption,
    app,
    bad_usage,
    case_app,
    command_group,
    parse_day,
    print_json,
    workspace_context,
)
from caseflow.cli.present import (
    Names,
    advanced_lines,
    case_lines,
    case_list_lines,
    due_line,
    event_line,
    extension_rejected_line,
    extension_requested_line,
    opened_lines,
    progress_bar,
    sweep_lines,
)
from caseflow.cli.table import DEFAULT_LIMIT, LimitOption, echo_lines, printable
from caseflow.i18n import N_, _

UnlistedOption = Annotated[
    bool,
    typer.Option(
        "--unlisted",
        help=N_(
            "Register a township, village or school the county's organisation (org.yaml) "
            "does not list yet (with a warning, recorded in the audit log)."
        ),
    ),
]


@case_app.command(
    "open", help=N_("Open a case for a suspected dropout (state: suspected dropout).")
)
def case_open(
    name: Annotated[str, typer.Option("--name", help=N_("The child's full name."))],
    id_number: Annotated[str, typer.Option("--id-number", help=N_("The child's resident ID."))],
    township: Annotated[str, typer.Option("--township", help=N_("Township."))],
    village: Annotated[str, typer.Option("--village", help=N_("Village."))],
    school: SchoolOption = None,
    sex: Annotated[
        str | None, typer.Option("--sex", help=N_("男 or 女 (default: from the ID)."))
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option("--birth-date", help=N_("Birth date (default: from the ID)."))
    ] = None,
    group: GroupOption = None,
    guardian: GuardianOption = None,
    guardian_relation: GuardianRelationOption = None,
    guardian_phone: GuardianPhoneOption = None,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help=N_(
                "How the child was found, by its name or code: 人工录入 (manual), 五查四比对 "
                "(roster), 学校报告 (school), 入户走访 (visit), 上级下发名单 (list)."
            ),
        ),
    ] = "manual",
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            help=N_(
                "A dropout reason, by its name or code (repeatable), e.g. 外出务工, 厌学/学习困难, "
                "早婚早育, 贫困; `caseflow workflow show` lists them all."
            ),
        ),
    ] = None,
    when: DateOption = None,
    unlisted: UnlistedOption = False,
    age_exception: Annotated[
        str | None,
        typer.Option(
            "--age-exception",
            help=N_(
                "Why a case is needed for a child outside the compulsory-education ages "
                "(6 to 15 on the school year's reference day); recorded in the audit log."
            ),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import Checks, ChildDetails, open_case

    if sex is not None and sex not in ("男", "女"):
        bad_usage(_("--sex must be 男 or 女, got “{sex}”.").format(sex=sex))
    ctx = workspace_context()
    details = ChildDetails(
        name=name,
        id_number=id_number,
        township=township,
        village=village,
        school=school,
        sex=sex,
        birth_date=parse_day(birth_date, "--birth-date"),
        group=group,
        guardian_name=guardian,
        guardian_relation=guardian_relation,
        guardian_phone=guardian_phone,
    )
    step = open_case(
        ctx,
        details,
        source=source,
        reasons=reason or (),
        occurred_on=parse_day(when),
        checks=Checks(unlisted=unlisted, age_exception=age_exception),
    )
    for warning in step.warnings:
        typer.echo(warning, err=True)
    opened = step.as_json()
    if as_json:
        print_json({key: opened[key] for key in ("number", "state", "due_on", "due_provisional")})
        return
    for line in opened_lines(opened):
        typer.echo(line)


@case_app.command("list", help=N_("List cases (open ones by default)."))
def case_list(
    state: Annotated[
        str | None,
        typer.Option("--state", help=N_("Only cases in this state, by its name or code (劝返中).")),
    ] = None,
    township: Annotated[
        str | None, typer.Option("--township", help=N_("Only this township."))
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help=N_("Only cases past due."))] = False,
    closed: Annotated[
        bool, typer.Option("--all", help=N_("Include closed and retained cases."))
    ] = False,
    special_group: Annotated[
        str | None,
        typer.Option(
            "--special-group",
            help=N_("Only children in this special group, by its name or code, e.g. 留守."),
        ),
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import list_cases, state_labels

    ctx = workspace_context()
    rows = list_cases(
        ctx,
        state=state,
        township=township,
        overdue=overdue,
        include_closed=closed,
        special_group=special_group,
    )
    if as_json:
        print_json(rows)
        return
    echo_lines(case_list_lines(rows, state_labels(ctx), limit=limit))


@case_app.command(
    "show",
    help=N_("A case: state, due date, responsible unit, what can be done now, people, history."),
)
def case_show(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import show_case
    from caseflow.services.labels import names

    ctx = workspace_context()
    view = show_case(ctx, number)
    if as_json:
        print_json(view)
        return
    echo_lines(case_lines(view, Names(**names(ctx)), ctx.workspace.timezone))


@case_app.command(
    "assign",
    help=N_(
        "Give one link of the case's 包保 responsibility chain to another person (audited). "
        "The person must hold that position in the organisation in force "
        "(`caseflow org apply`)."
    ),
)
def case_assign(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    role: Annotated[
        str,
        typer.Argument(
            help=N_(
                "The chain link, by its name or code: 包乡县领导, 包村乡镇干部, 包组村干部, "
                "村民小组长, 包校教育局领导, 校长, 包年级学校领导, 班主任 or 包人科任教师."
            )
        ),
    ],
    person: Annotated[
        str,
        typer.Argument(
            help=N_(
                "The person's id (org.yaml people[].id), or their name when no one else in "
                "the county's organisation has it."
            )
        ),
    ],
) -> None:
    from caseflow.choices import resolve
    from caseflow.org import CHAIN_ROLES, POSITIONS
    from caseflow.services.org import assign

    role = resolve(role, {r: POSITIONS[r] for r in CHAIN_ROLES}, what=_("Role"))
    person_id = assign(workspace_context(), number, role, person)
    typer.echo(
        _("Case {number}: the {role} is now {person}.").format(
            number=number, role=POSITIONS[role], person=person_id
        )
    )


@case_app.command(
    "advance", help=N_("Fire a transition on a case: one atomic step with its audit event.")
)
def case_advance(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    trigger: Annotated[
        str,
        typer.Argument(
            help=N_("The transition, by its name or code, e.g. 开始核查 (see `case show`).")
        ),
    ],
    when: DateOption = None,
    values: Annotated[
        list[str] | None,
        typer.Option("--set", help=N_("FIELD=VALUE for a field the transition needs; repeatable.")),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help=N_("A remark for the record."))] = None,
    expect_version: ExpectVersionOption = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import advance

    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            bad_usage(_("--set expects FIELD=VALUE, got “{item}”.").format(item=item))
        if key.strip() in pairs:
            bad_usage(
                _(
                    "The field “{field}” is given twice with --set; give each field once, "
                    "keeping the right value."
                ).format(field=key.strip())
            )
        pairs[key.strip()] = value
    ctx = workspace_context()
    step = advance(
        ctx,
        number,
        trigger,
        pairs,
        note=note,
        occurred_on=parse_day(when),
        expect_version=expect_version,
    ).as_json()
    if as_json:
        keys = ("number", "state", "version", "due_on", "due_provisional", "transitions")
        print_json({**{key: step[key] for key in keys}, "documents": step["documents"]})
        return
    for line in advanced_lines(step):
        typer.echo(line)


@case_app.command(
    "reopen",
    help=N_(
        "Undo a mistaken closure: the case goes back to the step it was in before it was "
        "closed, with its deadline counted again from the day; only the roles the workflow's "
        "reopen section names may do it; recorded in the audit log and notified to the "
        "case's 包保 chain."
    ),
)
def case_reopen(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help=N_("Why the closure is undone (recorded in the audit log and the notice)."),
        ),
    ],
    when: DateOption = None,
    expect_version: ExpectVersionOption = None,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import reopen

    step = reopen(
        workspace_context(),
        number,
        reason,
        occurred_on=parse_day(when),
        expect_version=expect_version,
    ).as_json()
    if as_json:
        keys = ("number", "state", "version", "due_on", "due_provisional")
        print_json({**{key: step[key] for key in keys}, "documents": step["documents"]})
        return
    from caseflow.cli.present import reopened_lines

    for line in reopened_lines(step):
        typer.echo(line)


@case_app.command("note", help=N_("Log a persuasion attempt or remark (no state change)."))
def case_note(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    text: Annotated[str, typer.Argument(help=N_("What happened (who, attitude, outcome)."))],
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help=N_(
                "How, by its name or code: 入户走访 (visit), 电话 (phone), 书面 (letter), "
                "微信 (wechat), 其他 (other)."
            ),
        ),
    ] = "visit",
    when: DateOption = None,
) -> None:
    from caseflow.services.cases import add_note

    add_note(workspace_context(), number, text, method=method, occurred_on=parse_day(when))
    typer.echo(_("Noted on case {number}.").format(number=number))


@case_app.command(
    "update",
    help=N_(
        "Record what was learnt about the child after opening (school, grade, class, "
        "group, guardian, special groups), so that letters needing it can be prepared. "
        "Audited; no state change."
    ),
)
def case_update(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    school: SchoolOption = None,
    grade: Annotated[str | None, typer.Option("--grade", help=N_("Grade, e.g. 七年级."))] = None,
    class_name: Annotated[
        str | None, typer.Option("--class", help=N_("Class within the grade, e.g. （2）班."))
    ] = None,
    group: GroupOption = None,
    guardian: GuardianOption = None,
    guardian_relation: GuardianRelationOption = None,
    guardian_phone: GuardianPhoneOption = None,
    special_group: Annotated[
        list[str] | None,
        typer.Option(
            "--special-group",
            help=N_(
                "A special group the child belongs to, by its name or code (留守, 患病, "
                "学困 …; `caseflow workflow show` lists them); repeatable."
            ),
        ),
    ] = None,
    remove_special_group: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-special-group",
            help=N_(
                "Take off a special group a caseworker set (one a register set is "
                "corrected in the register); repeatable."
            ),
        ),
    ] = None,
    when: DateOption = None,
    unlisted: UnlistedOption = False,
    expect_version: ExpectVersionOption = None,
) -> None:
    from caseflow.services.cases import Checks, DetailsUpdate, update_details

    learnt = DetailsUpdate(
        school=school,
        grade=grade,
        class_name=class_name,
        group=group,
        guardian_name=guardian,
        guardian_relation=guardian_relation,
        guardian_phone=guardian_phone,
    )
    warnings = update_details(
        workspace_context(),
        number,
        learnt,
        occurred_on=parse_day(when),
        expect_version=expect_version,
        add_groups=special_group or (),
        remove_groups=remove_special_group or (),
        checks=Checks(unlisted=unlisted),
    )
    for warning in warnings:
        typer.echo(warning, err=True)
    from caseflow.cli.present import updated_line

    typer.echo(
        updated_line(number, list(learnt.given()), special_group or (), remove_special_group or ())
    )


guardian_app = command_group(
    N_("The people who look after the child: legal guardians and entrusted carers.")
)
case_app.add_typer(guardian_app, name="guardian")


@guardian_app.command(
    "add",
    help=N_(
        "Record a legal guardian or an entrusted carer of the child (audited; several may "
        "be recorded). A parent is a legal guardian; anyone else needs --legal-basis or "
        "--carer. Orders to correct go to each legal guardian, with a proof of service "
        "each; carers get a notice."
    ),
)
def case_guardian_add(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    name: Annotated[str, typer.Option("--name", help=N_("The person's full name."))],
    relation: Annotated[
        str,
        typer.Option("--relation", help=N_("To the child: 父亲, 母亲, 祖母, 外祖父, 姐姐 …")),
    ],
    phone: Annotated[str | None, typer.Option("--phone", help=N_("Phone number."))] = None,
    workplace: Annotated[
        str | None,
        typer.Option("--workplace", help=N_("Where they work (migrant parents).")),
    ] = None,
    legal_basis: Annotated[
        str | None,
        typer.Option(
            "--legal-basis",
            help=N_(
                "For someone other than a parent who is the legal guardian: the grounds "
                "under 民法典第二十七条 (e.g. 父母均已死亡，由祖母担任监护人)."
            ),
        ),
    ] = None,
    carer: Annotated[
        bool,
        typer.Option(
            "--carer",
            help=N_(
                "An entrusted carer (被委托照护人, 未成年人保护法第二十二条), e.g. the "
                "grandparent of a left-behind child: receives a notice, not the order."
            ),
        ),
    ] = False,
    when: DateOption = None,
) -> None:
    from caseflow.services.cases import GuardianDetails, add_guardian

    person = GuardianDetails(
        name=name,
        relation=relation,
        phone=phone,
        workplace=workplace,
        legal_basis=legal_basis,
        carer=carer,
    )
    add_guardian(workspace_context(), number, person, occurred_on=parse_day(when))
    from caseflow.services.records import GUARDIAN_CAPACITIES

    capacity = person.capacity()
    typer.echo(
        _("Case {number}: recorded {name} ({relation}, {capacity}).").format(
            number=number,
            name=printable(name),
            relation=printable(relation),
            capacity=_(GUARDIAN_CAPACITIES.get(capacity, capacity)),
        )
    )


@case_app.command("history", help=N_("Every event of a case, oldest first."))
def case_history(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.cases import history
    from caseflow.services.labels import names

    ctx = workspace_context()
    events = history(ctx, number)
    if as_json:
        print_json(events)
        return
    vocabulary = Names(**names(ctx))
    echo_lines([event_line(event, vocabulary, ctx.workspace.timezone) for event in events])


@case_app.command(
    "extend",
    help=N_(
        "Request a later deadline (--days, --reason), or approve (--approve) or reject "
        "(--reject --reason) the pending request.\n\n"
        "A request changes nothing until an operator with one of the workflow's approve "
        "roles, other than the requester, approves it: then the deadline moves and its "
        "ladder starts again. One request may be pending per case; it lapses when the case "
        "leaves the state it was made in. `case show` shows it."
    ),
)
def case_extend(
    number: Annotated[int, typer.Argument(help=N_("Case number."))],
    days: Annotated[
        int | None,
        typer.Option("--days", help=N_("Request: calendar days to add to the deadline.")),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help=N_("Why the request, or why the rejection (audited).")),
    ] = None,
    approve: Annotated[
        bool,
        typer.Option("--approve", help=N_("Approve the pending request: the deadline moves.")),
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help=N_("Reject the pending request (needs --reason)."))
    ] = False,
    when: DateOption = None,
) -> None:
    from caseflow.services import cases

    ctx = workspace_context()
    day = parse_day(when)
    if approve and reject:
        bad_usage(_("Give --approve or --reject, not both."))
    if approve or reject:
        if days is not None:
            bad_usage(_("--days belongs to a request; an approval grants the days requested."))
        if approve:
            if reason is not None:
                bad_usage(_("--approve takes no --reason: the request's reason is recorded."))
            step = cases.approve_extension(ctx, number, occurred_on=day).as_json()
            typer.echo(due_line(number, step))
            return
        if reason is None:
            bad_usage(_("--reject needs --reason: why the request is rejected."))
        step = cases.reject_extension(ctx, number, reason, occurred_on=day).as_json()
        typer.echo(extension_rejected_line(number, step))
        return
    if days is None or reason is None:
        bad_usage(_("A request needs --days and --reason (or give --approve or --reject)."))
    step = cases.request_extension(ctx, number, days, reason, occurred_on=day).as_json()
    typer.echo(extension_requested_line(number, step))


@app.command(
    help=N_(
        "Fire every escalation rung and automatic transition that has fallen due, once.\n\n"
        "Each rung is recorded in the audit and queues a notice for each recipient; running "
        "it again changes nothing. After an outage it catches up, oldest first. --dry-run "
        "reports exactly what the run would do (the same rungs, transitions and notices, "
        "per level and recipient) and changes nothing."
    )
)
def escalate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Show what would fire; change nothing."))
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=N_("Sweep as of this day (default today; future only with --dry-run)."),
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help=N_("Cases per transaction."), hidden=True)
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    from caseflow.services.sweep import count_due, sweep

    ctx = workspace_context()
    day = parse_day(as_of, "--as-of")
    total = 0 if as_json else count_due(ctx, day or ctx.today)
    with progress_bar(total, _("Escalation sweep")) as advance_bar:
        report = sweep(ctx, as_of=day, dry_run=dry_run, batch_size=batch_size, progress=advance_bar)
    if as_json:
        print_json(report.as_json())
        return
    from caseflow.services.labels import names

    echo_lines(sweep_lines(report, Names(**names(ctx))))
