"""``caseflow demo``: a synthetic county played through a school term, end to end.

In a fresh workspace: generate a county (:mod:`caseflow.demo.county`), write its org.yaml
(:func:`caseflow.demo.scenario.county_org`) and put it in force, import the five registers, compare
them and open cases; then step a simulated clock day by day, and on each working day let
the people of :func:`caseflow.demo.scenario.plan` work their cases, while the sweep fires the
escalations that fall due and the dispatcher delivers the notices: letters into
``outbox/``, e-mail and group-robot messages to a capture on 127.0.0.1 started here
(``capture/``), so nothing leaves the machine. Every event is recorded on the day it
happened (some a day late, as paper records are), by the operator who did it.

The clock is the only thing simulated: every step goes through the same services the
commands use, so the workspace afterwards is an ordinary one to explore.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from caseflow import db
from caseflow.dates import cn_date
from caseflow.demo import scenario
from caseflow.demo.capture import Capture, loopback_unproxied, notifier_config, robot_env
from caseflow.demo.county import (
    REGISTERS,
    Child,
    County,
    generate_county,
    write_registers,
    write_truth,
)
from caseflow.demo.scenario import CaseView, Persona, Step
from caseflow.errors import CaseflowError, InvalidInput, WorkspaceError
from caseflow.i18n import N_, _, is_english
from caseflow.models import Delivery, Guardian, Notice
from caseflow.roster import FLAGS, SOURCE_LABELS
from caseflow.services import audit, cases
from caseflow.services.context import (
    Context,
    init_workspace,
    open_context,
    os_user,
    resolve_actor,
    workflow_in_force,
)
from caseflow.services.records import CASE, CHILD, ESCALATION

_NOTICE = Notice.__table__  # type: ignore[attr-defined]
_DELIVERY = Delivery.__table__  # type: ignore[attr-defined]
_GUARDIAN = Guardian.__table__  # type: ignore[attr-defined]
ZONE = ZoneInfo("Asia/Shanghai")
TRUTH_FILE = "truth.json"  # the planted answer, beside the register files
LEDGER_DIR = "ledgers"

if TYPE_CHECKING:
    from caseflow.services.stats import Stats

Progress = Callable[[str, int, int], None]  # (what, done, total)


class SimClock:
    """The demo's clock: set to a time of a simulated day, ticking a little per step."""

    def __init__(self, day: date) -> None:
        self.now = datetime.combine(day, clock_time(8, 0), ZONE).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        moment = datetime.combine(day, clock_time(hour, minute), ZONE).astimezone(UTC)
        self.now = max(self.now, moment)

    def tick(self, seconds: float = 30) -> None:
        self.now += timedelta(seconds=seconds)


# ---------------------------------------------------------------------------------------
# The capture: an SMTP server and a robot webhook on loopback, writing what they receive


# ---------------------------------------------------------------------------------------
# The report


@dataclass
class DemoReport:
    root: Path
    database_url: str
    seed: int
    start: date
    last_day: date
    county: str
    townships: int
    villages: int
    schools: int
    children: int
    people: int
    operators: int
    caseworker: str  # one township caseworker, to show a township's view
    township: str  # their township
    registers: dict[str, tuple[int, int]] = field(default_factory=dict)  # imported, rejected
    rejects_expected: dict[str, int] = field(default_factory=dict)
    suspects: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)  # planted suspects not found (masked)
    unexpected: list[str] = field(default_factory=list)  # found but not planted (masked)
    opened: int = 0
    reported: int = 0  # cases opened during the term on a school's report
    kinds: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    steps: Counter[str] = field(default_factory=Counter)
    step_labels: dict[str, str] = field(default_factory=dict)  # trigger -> its label
    failures: list[str] = field(default_factory=list)
    fired: int = 0
    timed: int = 0
    notices_queued: int = 0
    reports: int = 0
    by_state: list[tuple[str, str, int]] = field(default_factory=list)
    open_cases: int = 0
    overdue: int = 0
    ledger_file: Path | None = None
    ledger_rows: int = 0
    ledger_title: str = ""
    stats: Stats | None = None
    notices: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> n
    dead_reasons: list[str] = field(default_factory=list)
    mail_received: int = 0
    mail_refused: int = 0
    robot_messages: dict[str, int] = field(default_factory=dict)
    letters: int = 0
    audit_events: int = 0
    audit_intact: bool = False
    audit_problem: str | None = None
    checkpoint: str = ""
    interesting: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# Running it


# The demo county's own choices where the law leaves one (docs/law.md), set in the
# workspace's one [procedure] table: its education bureau issues orders (numbered 印教…),
# whose remedies name the county's court; when an order's period runs out it asks a
# judicial body to admonish the guardians; a child taught at home is retained after eight
# visits in the monitoring term.
DEMO_PROCEDURE = """[procedure]
order_issuer = "education_bureau"
court = "{county}人民法院"
court_route = "admonition"
home_teaching_visits = 8
"""


def check_directory(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise WorkspaceError(
            _(
                "{folder} already exists and is not empty; the demo makes a fresh workspace: "
                "give a new folder (caseflow demo DIR) or remove that one"
            ).format(folder=directory)
        )


def run_demo(
    directory: Path,
    *,
    seed: int = scenario.DEFAULT_SEED,
    children: int = scenario.DEFAULT_CHILDREN,
    days: int = scenario.DEFAULT_DAYS,
    start: date = scenario.START,
    database_url: str | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> DemoReport:
    """Make the workspace in ``directory`` (which must not exist or be empty) and play the
    demo in it; returns what happened. ``today`` (default: the system's) only bounds the
    simulated days: they must all be over."""
    began = time.monotonic()
    if children < 50:
        raise InvalidInput(
            _("--children must be at least 50, got {children}").format(children=children)
        )
    if not 1 <= days <= 366:
        raise InvalidInput(_("--days must be between 1 and 366, got {days}").format(days=days))
    last_day = start + timedelta(days=days)
    real_today = today or datetime.now(ZONE).date()
    if last_day > real_today:
        raise InvalidInput(
            _(
                "the demo replays days that are over: {start} + {days} days ends {last}, after "
                "today; choose an earlier --start"
            ).format(start=start.isoformat(), days=days, last=last_day.isoformat())
        )
    check_directory(directory)
    report_progress = progress or (lambda _what, _done, _total: None)
    report_progress(_("Making the demonstration county"), 0, 1)

    from caseflow.roster import reference_date

    clock = SimClock(start)
    extracted = _previous_working_day(start)
    county = generate_county(
        seed,
        children=children,
        townships=scenario.townships_for(children),
        reference_date=reference_date(extracted),
        county_name=scenario.DEMO_COUNTY,
    )
    departments = workflow_in_force(None).departments
    org = scenario.county_org(county, admin_account=os_user(), departments=departments)
    from caseflow.org import parse_org

    parsed, problems = parse_org(org.text, "org.yaml", departments=departments)
    if parsed is None or problems:  # pragma: no cover - the generator is tested
        raise WorkspaceError(
            _("the generated org.yaml has problems: {problems}").format(
                problems="; ".join(map(str, problems))
            )
        )
    workspace, _created = init_workspace(directory, database_url, county=county.name, clock=clock)
    report = DemoReport(
        root=workspace.root,
        database_url=workspace.database_url,
        seed=seed,
        start=start,
        last_day=last_day,
        county=county.name,
        townships=len(county.townships),
        villages=sum(len(t.villages) for t in county.townships),
        schools=len(county.schools),
        children=len(county.children),
        people=len(parsed.people),
        operators=len(parsed.operators),
        caseworker=next(iter(org.caseworkers.values())),
        township=next(iter(org.caseworkers)),
    )
    workspace.org_file.write_text(org.text, encoding="utf-8")
    capture = Capture(workspace.root / "capture")
    with loopback_unproxied():
        capture.start()
        try:
            config_file = workspace.root / "caseflow.toml"
            config_file.write_text(
                config_file.read_text(encoding="utf-8").replace(
                    "[procedure]\n", DEMO_PROCEDURE.format(county=county.name), 1
                ),
                encoding="utf-8",
            )
            with config_file.open("a", encoding="utf-8") as config:
                config.write(notifier_config(org, capture))
            _play(
                report,
                county=county,
                org=org,
                clock=clock,
                env=robot_env(org, capture),
                extracted=extracted,
                days=days,
                progress=report_progress,
            )
        finally:
            capture.stop()
    report.mail_received = capture.mail.received
    report.mail_refused = capture.mail.refused
    report.robot_messages = dict(sorted(capture.robot_messages.items()))
    from caseflow.notifiers.letter import letter_files

    report.letters = len(letter_files(workspace.outbox))
    report.seconds = time.monotonic() - began
    return report


def _previous_working_day(day: date) -> date:
    from caseflow.calendar import WorkCalendar
    from caseflow.workspace import national_calendar

    calendar = WorkCalendar(national_calendar())
    day -= timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


@dataclass
class _Actors:
    bureau: Context
    approver: Context
    supervisor: Context
    caseworkers: dict[str, Context]
    departments: dict[str, Context]

    def of(self, actor: str, township: str) -> Context:
        if actor.startswith("department:"):
            return self.departments[actor.partition(":")[2]]
        if actor == "caseworker":
            return self.caseworkers.get(township, self.bureau)
        if actor == "approver":
            return self.approver
        return self.bureau


def _acting(ctx: Context, operator: str) -> Context:
    with db.read(ctx.engine) as connection:
        actor = resolve_actor(connection, os_user(), operator)
    return replace(ctx, actor=actor)


def _play(
    report: DemoReport,
    *,
    county: County,
    org: scenario.DemoOrg,
    clock: SimClock,
    env: Mapping[str, str],
    extracted: date,
    days: int,
    progress: Progress,
) -> None:
    from caseflow.services.cases import open_cases
    from caseflow.services.compare import compare
    from caseflow.services.org import apply_org
    from caseflow.services.roster import import_roster

    root = report.root
    setup = open_context(root, clock=clock)
    try:
        apply_org(setup)
    finally:
        setup.engine.dispose()
    bureau = open_context(root, clock=clock)
    try:
        actors = _Actors(
            bureau=bureau,
            approver=_acting(bureau, org.approver),
            supervisor=_acting(bureau, org.supervisor),
            caseworkers={t: _acting(bureau, o) for t, o in org.caseworkers.items()},
            departments={k: _acting(bureau, o) for k, o in org.departments.items()},
        )
        # -- 五查四比对: the registers, the comparison, the cases ------------------------
        paths = write_registers(county, root / "registers")
        write_truth(county, root / "registers" / TRUTH_FILE)
        for index, name in enumerate(REGISTERS):
            progress(_("Importing the five registers"), index, len(REGISTERS))
            clock.tick(60)
            summary = import_roster(bureau, name, paths[name], as_of=extracted)
            report.registers[name] = (summary.imported, summary.rejected)
            report.rejects_expected[name] = len(county.truth.rejects.get(name, {}))
        progress(_("Comparing the registers and opening cases"), 0, 1)
        comparison = compare(bureau, as_of=report.start)
        found = {s.id_number: frozenset(s.flags) for s in comparison.suspects}
        truth = county.truth.flags
        from caseflow.ids import mask_id_number

        report.suspects = len(found)
        report.flags = dict(comparison.counts)
        report.missed = [mask_id_number(n) for n in sorted(set(truth) - set(found))]
        report.unexpected = [mask_id_number(n) for n in sorted(found) if truth.get(n) != found[n]]
        opening = open_cases(bureau, comparison)
        report.opened = len(opening.opened)
        absences = scenario.school_reports(
            county, found, report.seed, start=report.start, days=days, calendar=bureau.calendar
        )
        reported = [a.id_number for a in absences]
        people = scenario.personas(county, found, report.seed, reported=reported)
        numbers = _case_numbers(bureau)
        cast = {numbers[n]: p for n, p in people.items() if n in numbers}
        children = {c.id_number: c for c in county.children}
        jitter = random.Random(report.seed)
        _end_of_day(report, actors, clock=clock, day=report.start, env=env, jitter=jitter)

        # -- the term, day by day -------------------------------------------------------
        for offset in range(1, days + 1):
            today = report.start + timedelta(days=offset)
            progress(
                _("Playing the casework: {day}").format(day=cn_date(today))
                if not is_english()
                else _("Playing the casework: {day}").format(day=today.isoformat()),
                offset,
                days,
            )
            if bureau.calendar.is_working_day(today):
                clock.at(today, 8, 30)
                for absence in absences:
                    if absence.day == today:
                        number = _open_reported(actors, children[absence.id_number], absence)
                        cast[number] = people[absence.id_number]
                        report.reported += 1
                clock.at(today, 9)
                for case, township in _open_cases(bureau):
                    persona = cast.get(case.number)
                    if persona is None:
                        continue
                    steps = scenario.plan(persona, case, today, bureau.calendar)
                    _carry_out(
                        report, actors, clock=clock, case=case, township=township, steps=steps
                    )
            if today.day == 1:
                from caseflow.services.campaigns import queue_monthly_report

                clock.at(today, 7)
                report.reports += queue_monthly_report(bureau, today)
            _end_of_day(report, actors, clock=clock, day=today, env=env, jitter=jitter)

        report.kinds = dict(sorted(Counter(p.kind for p in cast.values()).items()))
        report.routes = dict(sorted(Counter(p.route for p in cast.values()).items()))

        # -- where things stand ------------------------------------------------------------
        progress(_("Verifying the audit trail"), 0, 1)
        clock.at(report.last_day, 19)
        _summarise(report, bureau, cast)
        checkpoint = audit.audit_checkpoint(actors.supervisor)
        verification = audit.audit_verify(actors.supervisor, str(checkpoint))
        report.checkpoint = str(checkpoint)
        report.audit_events = verification.events
        report.audit_intact = verification.intact
        report.audit_problem = verification.problem
        progress(_("Done"), 1, 1)
    finally:
        bureau.engine.dispose()


def _end_of_day(
    report: DemoReport,
    actors: _Actors,
    *,
    clock: SimClock,
    day: date,
    env: Mapping[str, str],
    jitter: random.Random,
) -> None:
    """The scheduler's evening: the sweep, then the dispatcher until nothing is due (a
    robot past its 20 messages a minute waits for the next minute)."""
    from caseflow.services.dispatch import dispatch
    from caseflow.services.sweep import sweep

    clock.at(day, 18)
    swept = sweep(actors.bureau, as_of=day)
    report.fired += swept.fired
    report.timed += swept.timed
    report.notices_queued += swept.notices
    clock.at(day, 18, 5)
    for _attempt in range(30):
        delivered = dispatch(actors.bureau, env=env, rng=jitter, holder="caseflow-demo")
        if not (delivered.deferred or delivered.retrying):
            break
        clock.tick(61)


_OPEN_CASES = (
    select(
        CASE.c.id,
        CASE.c.state,
        CASE.c.entered_on,
        CASE.c.due_on,
        CASE.c.last_event_on,
        CASE.c.counters,
        CASE.c.facts,
        CASE.c.repeat_count,
        CASE.c.extended_days,
        CASE.c.township,
        CASE.c.child_id,
    )
    .where(CASE.c.is_open)
    .order_by(CASE.c.id)
)


def _open_reported(actors: _Actors, child: Child, absence: scenario.SchoolReport) -> int:
    """The township caseworker opens the case a school reported."""
    school = child.enrolment.school if child.enrolment else None
    details = cases.ChildDetails(
        name=child.name,
        id_number=child.id_number,
        township=child.township,
        village=child.village,
        school=school,
        sex=child.sex,
        birth_date=child.birth_date,
        group=child.group,
        guardian_name=child.guardian.name,
        guardian_relation=child.guardian.relation,
        guardian_phone=child.guardian.phone,
    )
    evidence = {"absent_since": absence.since.isoformat(), "reported_by": school or ""}
    return cases.open_case(
        actors.of("caseworker", child.township),
        details,
        source="school",
        occurred_on=absence.day,
        evidence=evidence,
    ).number


def _case_numbers(ctx: Context) -> dict[str, int]:
    """Case number by the child's resident ID (the demo knows whom it planted)."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            select(CHILD.c.id_number, CASE.c.id).join(CASE, CASE.c.child_id == CHILD.c.id)
        ).all()
    return {row.id_number: row.id for row in rows}


def _open_cases(ctx: Context) -> list[tuple[CaseView, str]]:
    with db.read(ctx.engine) as connection:
        rows = connection.execute(_OPEN_CASES).all()
        known = set(connection.execute(select(_GUARDIAN.c.child_id).distinct()).scalars())
    return [
        (
            CaseView(
                number=row.id,
                state=row.state,
                entered_on=row.entered_on,
                due_on=row.due_on,
                last_event_on=row.last_event_on,
                counters=dict(row.counters),
                done=frozenset(row.facts),
                repeat_count=row.repeat_count,
                extended_days=row.extended_days,
                guardian_known=row.child_id in known,
            ),
            row.township,
        )
        for row in rows
    ]


def _carry_out(
    report: DemoReport,
    actors: _Actors,
    *,
    clock: SimClock,
    case: CaseView,
    township: str,
    steps: list[Step],
) -> None:
    from caseflow.services.documents import queue_document

    for step in steps:
        clock.tick()
        ctx = actors.of(step.actor, township)
        number = case.number
        values = dict(step.values)
        try:
            if step.kind == "advance":
                issued = cases.advance(
                    ctx, number, step.trigger, values, occurred_on=step.occurred_on
                )
                for document in issued.documents:
                    if not document.get("prepared"):
                        report.failures.append(
                            _("case {number} {trigger}: {template} not prepared: {reason}").format(
                                number=number,
                                trigger=step.trigger,
                                template=document["template"],
                                reason=document.get("reason"),
                            )
                        )
            elif step.kind == "note":
                cases.add_note(
                    ctx, number, step.text, method=step.method, occurred_on=step.occurred_on
                )
            elif step.kind == "update":
                cases.update_details(
                    ctx, number, cases.DetailsUpdate(**values), occurred_on=step.occurred_on
                )
            elif step.kind == "guardian":
                person = cases.GuardianDetails(
                    name=values["name"],
                    relation=values["relation"],
                    phone=values.get("phone"),
                    workplace=values.get("workplace"),
                )
                cases.add_guardian(ctx, number, person, occurred_on=step.occurred_on)
            elif step.kind == "extend":
                cases.request_extension(
                    ctx, number, step.days, step.text, occurred_on=step.occurred_on
                )
            elif step.kind == "approve_extension":
                cases.approve_extension(ctx, number, occurred_on=step.occurred_on)
            elif step.kind == "document":
                queue_document(ctx, number, step.text)
            else:  # pragma: no cover - plan() makes no other kind
                raise InvalidInput(f"unknown step kind {step.kind!r}")  # never shown
        except CaseflowError as exc:
            report.failures.append(
                f"{step.occurred_on.isoformat()} case {number} {step.kind} {step.trigger}: "
                f"{exc.message}"
            )
            return
        report.steps[step.trigger if step.kind == "advance" else step.kind] += 1


def _summarise(report: DemoReport, ctx: Context, cast: Mapping[int, Persona]) -> None:
    """The county ledger (written to ledgers/), the statistics against the targets, and
    how the notices fared."""
    from caseflow.services.ledger import open_ledger, write_ledger
    from caseflow.services.stats import stats

    report.step_labels = {t.trigger: t.label for t in ctx.current_workflow.transitions}
    ledger = open_ledger(ctx, level="county", as_of=report.last_day)
    folder = report.root / LEDGER_DIR
    folder.mkdir(exist_ok=True)
    report.ledger_file = folder / f"county-{report.last_day.isoformat()}.xlsx"
    report.ledger_rows = write_ledger(ledger, "xlsx", report.ledger_file)
    report.ledger_title = ledger.title
    figures = stats(ctx, as_of=report.last_day, since=report.start, by="township")
    report.stats = figures
    view = figures.as_json()
    report.by_state = [(s["state"], s["label"], s["count"]) for s in view["by_state"]]
    report.open_cases = figures.total.open
    report.overdue = figures.total.overdue
    with db.read(ctx.engine) as connection:
        for channel, status, count in connection.execute(
            select(_NOTICE.c.channel, _NOTICE.c.status, func.count()).group_by(
                _NOTICE.c.channel, _NOTICE.c.status
            )
        ).all():
            report.notices.setdefault(channel or "unrouted", {})[status] = int(count)
        report.dead_reasons = sorted(
            {
                f"{row.channel} {row.address}: {row.last_error}"
                for row in connection.execute(
                    select(_NOTICE.c.channel, _NOTICE.c.address, _NOTICE.c.last_error).where(
                        _NOTICE.c.status == "dead"
                    )
                ).all()
            }
        )
        repeats = {
            row.id: row.repeat_count
            for row in connection.execute(select(CASE.c.id, CASE.c.repeat_count))
        }
        escalated = set(connection.execute(select(ESCALATION.c.case_id).distinct()).scalars())
    routes = {number: persona.route for number, persona in cast.items()}
    report.interesting = scenario.interesting_cases(routes, repeats)
    if escalated:
        report.interesting.setdefault("escalated", min(escalated))


def _ledger_lines(report: DemoReport) -> list[str]:
    """The county ledger and the statistics (as `caseflow ledger` / `caseflow stats`)."""
    from caseflow.measures import percent
    from caseflow.services.stats import target_line

    out = [
        "",
        _("County ledger: {title}, {rows} case(s), written to {file}").format(
            title=report.ledger_title, rows=report.ledger_rows, file=report.ledger_file
        ),
        _("  Cases by state:"),
    ]
    width = max((len(label) for _state, label, _count in report.by_state), default=0)
    for state, label, count in report.by_state:
        out.append(f"    {label}{'　' * (width - len(label))}  {state:<22} {count:>4}")
    total = sum(count for *_rest, count in report.by_state)
    out.append(
        _("    total {total}; open {open}, of which {overdue} past their due date on {day}").format(
            total=total,
            open=report.open_cases,
            overdue=report.overdue,
            day=report.last_day.isoformat(),
        )
    )
    figures = report.stats
    if figures is None:
        return out
    out += [
        "",
        _("Statistics against the targets (目标任务), {since} to {as_of}:").format(
            since=figures.since, as_of=figures.as_of
        ),
    ]
    out += ["  " + target_line(target) for target in figures.targets]
    total_view = figures.total.as_json()
    on_time = total_view["on_time"]
    out += [
        _(
            "  In the period: identified {identified}, returned {returned}, retained and "
            "closed {retained}, relapses {relapses}; return rate {return_rate}, retention rate "
            "{retention_rate}, on-time rate {on_time_rate} ({met} met of {due} due, {escalated} "
            "escalated)"
        ).format(
            identified=total_view["identified"],
            returned=total_view["returned"],
            retained=total_view["retained"],
            relapses=total_view["relapses"],
            return_rate=percent(total_view["return_rate"]),
            retention_rate=percent(total_view["retention_rate"]),
            on_time_rate=percent(on_time["rate"]),
            met=on_time["met"],
            due=on_time["due"],
            escalated=on_time["escalated"],
        ),
    ]
    groups = [(group.name, group) for group in figures.groups]
    if figures.apart is not None:
        groups.append(
            (
                _("{name} (not counted in any township)").format(name=figures.apart.name),
                figures.apart,
            )
        )
    for name, group in groups:
        g = group.as_json()
        out.append(
            _(
                "  {name}: open {open}, confirmed dropouts {dropouts}, returned {returned}, "
                "retained {retained}, overdue {overdue}, on-time rate {rate}"
            ).format(
                name=name,
                open=g["open"],
                dropouts=g["open_dropouts"],
                returned=g["returned"],
                retained=g["retained"],
                overdue=g["overdue"],
                rate=percent(g["on_time"]["rate"]),
            )
        )
    return out


# The Chinese names of the codes the demo's account lists (English shows the codes).
STEP_KINDS = {
    "note": "走访记录",
    "update": "更新信息",
    "guardian": "登记监护人",
    "extend": "申请延期",
    "approve_extension": "批准延期",
    "document": "制发文书",
}
CHANNEL_NAMES = {
    "letter": "纸质文书",
    "email": "电子邮件",
    "dingtalk": "钉钉",
    "wecom": "企业微信",
    "sms": "短信",
    "webhook": "接口",
}
NOTICE_STATES = {"pending": "待发送", "sent": "已发送", "dead": "发送失败"}


def _named(code: str, names: Mapping[str, str]) -> str:
    """A code as the reader reads it: its Chinese name, or in English the code itself."""
    return code if is_english() else names.get(code, code)


def _padded(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a CJK character takes two)."""
    from caseflow.exports import display_width

    return text + " " * max(0, width - display_width(text))


# What each of the demo's interesting cases shows, for "Where to look next".
STORIES = {
    "relapse": N_("returned, relapsed, persuaded back again"),
    "court": N_("the legal route: order served, period lapsed, judicial admonition"),
    "labour": N_("handed to labour inspection (a child working)"),
    "marriage": N_("early marriage: civil affairs, women's federation, youth league"),
    "illness": N_("health assessment, deferral, back to verification"),
    "missing": N_("missing: public security finds the child"),
    "placement": N_("expert committee, special-education placement or home teaching"),
    "escalated": N_("a lapsed deadline climbing the escalation ladder"),
}


def lines(report: DemoReport) -> list[str]:
    """The demo's account of itself, for the terminal."""
    root = report.root
    w = f"caseflow -w {root}"
    last = report.last_day.isoformat()
    out = [
        _(
            "{county} (synthetic, seed {seed}): {townships} townships, {villages} villages, "
            "{schools} schools, {children} children; org.yaml with {people} people and "
            "{operators} operators."
        ).format(
            county=report.county,
            seed=report.seed,
            townships=report.townships,
            villages=report.villages,
            schools=report.schools,
            children=report.children,
            people=report.people,
            operators=report.operators,
        ),
        _("Workspace: {root}  (database {url})").format(
            root=root, url=db.safe_url(report.database_url)
        ),
        "",
        _("五查四比对 — the five registers (imported / rejected as planted):"),
    ]
    for name, (imported, rejected) in report.registers.items():
        expected = report.rejects_expected.get(name, 0)
        mark = "" if rejected == expected else _("  (planted {count})").format(count=expected)
        out.append(
            _("  {name} {imported} rows  {rejected} rejected").format(
                name=_padded(_named(name, SOURCE_LABELS), 11),
                imported=f"{imported:>6}",
                rejected=f"{rejected:>3}",
            )
            + mark
        )
    flags = _(", ").join(f"{_named(flag, FLAGS)} {count}" for flag, count in report.flags.items())
    truth = (
        _("every planted suspect found, nothing else")
        if not report.missed and not report.unexpected
        else _("{missed} planted suspect(s) missed, {unexpected} unexpected").format(
            missed=len(report.missed), unexpected=len(report.unexpected)
        )
    )
    out += [
        _("  {suspects} suspects ({flags}): {truth}; {opened} cases opened.").format(
            suspects=report.suspects, flags=flags, truth=truth, opened=report.opened
        ),
        _("  Who they really are: {kinds}").format(
            kinds=_(", ").join(
                f"{_(scenario.KINDS[k]) if k in scenario.KINDS else k} {n}"
                for k, n in report.kinds.items()
            )
        ),
        "",
        _("{days} days of casework, {start} to {end}:").format(
            days=(report.last_day - report.start).days, start=report.start.isoformat(), end=last
        ),
        "  "
        + _(", ").join(
            f"{_named(what, {**report.step_labels, **STEP_KINDS})} {n}"
            for what, n in sorted(report.steps.items())
        ),
        _(
            "  The sweep fired {fired} escalation rung(s) and {timed} automatic transition(s), "
            "queuing {queued} notice(s); {reports} monthly report(s) to the supervision office."
        ).format(
            fired=report.fired,
            timed=report.timed,
            queued=report.notices_queued,
            reports=report.reports,
        ),
    ]
    if report.reported:
        out.insert(
            -2,
            _(
                "  Schools reported {count} more child(ren) absent without reason; each became "
                "a case."
            ).format(count=report.reported),
        )
    if report.failures:
        out.append(
            _("  {count} step(s) were refused (a demo defect):").format(count=len(report.failures))
        )
        out += [f"    {failure}" for failure in report.failures[:10]]
    out += _ledger_lines(report)
    out += ["", _("Notices:")]
    for channel, statuses in sorted(report.notices.items()):
        shown = _(", ").join(
            f"{_named(status, NOTICE_STATES)} {n}" for status, n in sorted(statuses.items())
        )
        out.append(f"  {_padded(_named(channel, CHANNEL_NAMES), 9)} {shown}")
    out.append(
        _("  Capture: {received} e-mail(s) received, {refused} refused; ").format(
            received=report.mail_received, refused=report.mail_refused
        )
        + _(", ").join(
            _("{channel} {count} message(s)").format(channel=_named(c, CHANNEL_NAMES), count=n)
            for c, n in report.robot_messages.items()
        )
        + _("; {count} letter(s) in outbox/.").format(count=report.letters)
    )
    for reason in report.dead_reasons[:3]:
        out.append(_("  Dead: {reason}").format(reason=reason))
    verdict = (
        _("intact")
        if report.audit_intact
        else _("BROKEN: {problem}").format(problem=report.audit_problem)
    )
    out += [
        "",
        _("Audit trail: {events} events, hash chain {verdict}.").format(
            events=report.audit_events, verdict=verdict
        ),
        _("  Checkpoint (kept by the supervision office): {checkpoint}").format(
            checkpoint=report.checkpoint
        ),
        "",
        _("Where to look next:"),
    ]
    for story, number in report.interesting.items():
        told = _(STORIES[story]) if story in STORIES else story
        out.append(f"  {w} case show {number:<5}  # {told}")
    out += [
        f"  {w} stats --as-of {last} --since {report.start.isoformat()} --by township",
        f"  {w} ledger --as-of {last} --level township --unit {report.township}",
        f"  {w} --as {report.caseworker} case list    # " + _("one township caseworker's view"),
        f"  {w} review overdue --as-of {last}",
        f"  {w} report html -o report.html --as-of {last}    # " + _("for the county leadership"),
        f"  {w} notify status    # " + _("what was delivered, and the dead notices"),
        f"  {w} audit verify --checkpoint {report.checkpoint}",
        _("  Letters: {outbox}/   E-mail and robot messages: {capture}/").format(
            outbox=root / "outbox", capture=root / "capture"
        ),
        _(
            "  The register files, with the planted answer ({truth}), and the rejects: "
            "{registers}/  {rejects}/"
        ).format(truth=TRUTH_FILE, registers=root / "registers", rejects=root / "rejects"),
        _("  The demo's days are over: commands you run now count from today, so its open cases"),
        _("  show as overdue, and `caseflow escalate` would fire every rung due since."),
        "",
        _("Finished in {seconds} s.").format(seconds=f"{report.seconds:.1f}"),
    ]
    return out
