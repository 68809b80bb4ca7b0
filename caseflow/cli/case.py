"""`caseflow case ...` and `caseflow escalate`: open, advance and read cases; the sweep."""

from typing import Annotated

import typer

from caseflow.i18n import N_, _
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
    extension_requested_line,
    opened_lines,
    progress_bar,
    sweep_lines,
)
from caseflow.cli.table import DEFAULT_LIMIT, LimitOption, echo_lines

UnlistedOption = Annotated[
    bool,
    typer.Option(
        "--unlisted",
        help="登记本县组织机构（org.yaml）尚未列入的乡镇、村或学校（给出提示并记入审计日志）。",
    ),
]


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
    unlisted: UnlistedOption = False,
    age_exception: Annotated[
        str | None,
        typer.Option(
            "--age-exception",
            help="儿童不在义务教育年龄段（学年基准日6至15周岁）内仍需立案的理由（记入审计日志）。",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Open a case for a suspected dropout (state: identified)."""
    from caseflow.services.cases import Checks, ChildDetails, open_case

    if sex is not None and sex not in ("男", "女"):
        bad_usage(f"--sex must be 男 or 女, got {sex!r}")
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


@case_app.command("list")
def case_list(
    state: Annotated[str | None, typer.Option("--state", help="Only this state id.")] = None,
    township: Annotated[str | None, typer.Option("--township", help="Only this township.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only cases past due.")] = False,
    closed: Annotated[
        bool, typer.Option("--all", help="Include closed and retained cases.")
    ] = False,
    special_group: Annotated[
        str | None,
        typer.Option(
            "--special-group",
            help="Only children in this special group (特殊群体), by its label or key, e.g. 留守.",
        ),
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List cases (open ones by default)."""
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


@case_app.command("show")
def case_show(
    number: Annotated[int, typer.Argument(help="Case number.")],
    as_json: JsonOption = False,
) -> None:
    """A case: state, due date, responsible unit, what can be done now, people, history."""
    from caseflow.services.cases import show_case
    from caseflow.services.labels import names

    ctx = workspace_context()
    view = show_case(ctx, number)
    if as_json:
        print_json(view)
        return
    echo_lines(case_lines(view, Names(**names(ctx)), ctx.workspace.timezone))


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
    person: Annotated[
        str,
        typer.Argument(help="人员的编号（org.yaml people[].id），或在本县组织机构中唯一的姓名。"),
    ],
) -> None:
    """Give one link of the case's 包保 responsibility chain to another person (audited).
    The person must hold that position in the organisation in force (`caseflow org apply`)."""
    from caseflow.choices import resolve
    from caseflow.org import CHAIN_ROLES, POSITIONS
    from caseflow.services.org import assign

    role = resolve(role, {r: POSITIONS[r] for r in CHAIN_ROLES}, what=_("Role"))
    person_id = assign(workspace_context(), number, role, person)
    typer.echo(f"Case {number}: {role} is now {person_id}")


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
    expect_version: ExpectVersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a transition on a case: one atomic step with its audit event."""
    from caseflow.services.cases import advance

    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            bad_usage(f"--set expects FIELD=VALUE, got {item!r}")
        if key.strip() in pairs:
            bad_usage(
                f"字段“{key.strip()}”用 --set 给出了两次；每个字段只能给出一次，请保留正确的一项。"
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


@case_app.command("reopen")
def case_reopen(
    number: Annotated[int, typer.Argument(help="案件编号。")],
    reason: Annotated[str, typer.Option("--reason", help="撤销销号的理由（记入审计日志和通知）。")],
    when: DateOption = None,
    expect_version: ExpectVersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """撤销误操作的销号：案件恢复到销号前的办理环节，自当日起重新计算期限；仅流程文件
    reopen 一节所列角色可以执行；记入审计日志，并通知案件的包保责任人。"""
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
    due = f"，期限至{step['due_on']}" if step["due_on"] else ""
    typer.echo(f"案件{number}已撤销销号，恢复为“{step['state_label']}”{due}。")
    for document in step["documents"]:
        if document.get("prepared"):
            typer.echo(f"已生成通知：{document['subject']}，共{len(document['notices'])}份。")


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
    from caseflow.services.cases import add_note

    add_note(workspace_context(), number, text, method=method, occurred_on=parse_day(when))
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
    special_group: Annotated[
        list[str] | None,
        typer.Option(
            "--special-group",
            help="A special group (特殊群体) the child belongs to, by its label or key "
            "(留守, 患病, 学困...; `caseflow workflow show` lists them); repeatable.",
        ),
    ] = None,
    remove_special_group: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-special-group",
            help="Take off a special group a caseworker set (one a register set is "
            "corrected in the register); repeatable.",
        ),
    ] = None,
    when: DateOption = None,
    unlisted: UnlistedOption = False,
    expect_version: ExpectVersionOption = None,
) -> None:
    """Record what was learnt about the child after opening (school, grade, class, group,
    guardian, special groups), so that letters needing it can be prepared. Audited; no
    state change."""
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
    changed = list(learnt.given())
    if special_group:
        changed.append("登记特殊群体 " + "、".join(special_group))
    if remove_special_group:
        changed.append("取消特殊群体 " + "、".join(remove_special_group))
    typer.echo(f"Updated case {number}: {', '.join(changed)}.")


guardian_app = typer.Typer(
    help="The people who look after the child: legal guardians and entrusted carers.",
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
)
case_app.add_typer(guardian_app, name="guardian")


@guardian_app.command("add")
def case_guardian_add(
    number: Annotated[int, typer.Argument(help="Case number.")],
    name: Annotated[str, typer.Option("--name", help="The person's full name.")],
    relation: Annotated[
        str, typer.Option("--relation", help="To the child: 父亲, 母亲, 祖母, 外祖父, 姐姐 ...")
    ],
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number.")] = None,
    workplace: Annotated[
        str | None, typer.Option("--workplace", help="Where they work (migrant parents).")
    ] = None,
    legal_basis: Annotated[
        str | None,
        typer.Option(
            "--legal-basis",
            help="For someone other than a parent who is the legal guardian: the grounds "
            "under 民法典第二十七条 (e.g. 父母均已死亡，由祖母担任监护人).",
        ),
    ] = None,
    carer: Annotated[
        bool,
        typer.Option(
            "--carer",
            help="An entrusted carer (被委托照护人, 未成年人保护法第二十二条), e.g. the "
            "grandparent of a left-behind child: receives a notice, not the order.",
        ),
    ] = False,
    when: DateOption = None,
) -> None:
    """Record a legal guardian or an entrusted carer of the child (audited; several may be
    recorded). A parent is a legal guardian; anyone else needs --legal-basis or --carer.
    Orders to correct go to each legal guardian, with a proof of service each; carers get
    a notice."""
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
    typer.echo(f"Case {number}: recorded {name} ({relation}, {person.capacity()}).")


@case_app.command("history")
def case_history(
    number: Annotated[int, typer.Argument(help="Case number.")],
    as_json: JsonOption = False,
) -> None:
    """Every event of a case, oldest first."""
    from caseflow.services.cases import history
    from caseflow.services.labels import names

    ctx = workspace_context()
    events = history(ctx, number)
    if as_json:
        print_json(events)
        return
    vocabulary = Names(**names(ctx))
    echo_lines([event_line(event, vocabulary, ctx.workspace.timezone) for event in events])


@case_app.command("extend")
def case_extend(
    number: Annotated[int, typer.Argument(help="Case number.")],
    days: Annotated[
        int | None,
        typer.Option("--days", help="Request: calendar days to add to the deadline."),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why the request, or why the rejection (audited)."),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the pending request: the deadline moves.")
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="Reject the pending request (needs --reason).")
    ] = False,
    when: DateOption = None,
) -> None:
    """Request a later deadline (--days, --reason), or approve (--approve) or reject
    (--reject --reason) the pending request.

    A request changes nothing until an operator with one of the workflow's approve roles,
    other than the requester, approves it: then the deadline moves and its ladder starts
    again. One request may be pending per case; it lapses when the case leaves the state
    it was made in. `case show` shows it."""
    from caseflow.services import cases

    ctx = workspace_context()
    day = parse_day(when)
    if approve and reject:
        bad_usage("give --approve or --reject, not both")
    if approve or reject:
        if days is not None:
            bad_usage("--days belongs to a request; an approval grants the days requested")
        if approve:
            if reason is not None:
                bad_usage("--approve takes no --reason: the request's reason is recorded")
            step = cases.approve_extension(ctx, number, occurred_on=day).as_json()
            typer.echo(due_line(number, step))
            return
        if reason is None:
            bad_usage("--reject needs --reason: why the request is rejected")
        step = cases.reject_extension(ctx, number, reason, occurred_on=day).as_json()
        typer.echo(f"Case {number}: extension request rejected; due stays {step['due_on']}")
        return
    if days is None or reason is None:
        bad_usage("a request needs --days and --reason (or give --approve or --reject)")
    step = cases.request_extension(ctx, number, days, reason, occurred_on=day).as_json()
    typer.echo(extension_requested_line(number, step))


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
    from caseflow.services.sweep import count_due, sweep

    ctx = workspace_context()
    day = parse_day(as_of, "--as-of")
    total = 0 if as_json else count_due(ctx, day or ctx.today)
    with progress_bar(total, "逾期巡查") as advance_bar:
        report = sweep(ctx, as_of=day, dry_run=dry_run, batch_size=batch_size, progress=advance_bar)
    if as_json:
        print_json(report.as_json())
        return
    from caseflow.services.labels import names

    echo_lines(sweep_lines(report, Names(**names(ctx))))
