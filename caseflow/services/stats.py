"""Statistics against the county's targets (``caseflow stats``) and the annual assessment
of townships and schools (``caseflow review assessment``).

Both read every case the operator may see (``records.scoped``), in batches with keyset
paging on the case number, and each case's history from the audit trail
(``caseflow.timeline``): where it stood on the day asked for, which deadlines fell due in
the period and whether they were met, what it entered and when it relapsed. A case that
has not changed since before the period began is taken from its row, without reading its
history. What was escalated comes from the escalation table. The counting itself is pure
(``caseflow.measures``). The read is logged, as a count (the figures name no child).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select

from caseflow import access, db
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.ledger import recorded_reasons
from caseflow.measures import (
    CONSOLIDATION_ESTIMATE,
    DEFINITIONS,
    DROPOUT_COUNTS,
    GRADE_YEARS,
    GRADUATED,
    LAST_GRADE,
    STUDYING_STATUSES,
    TARGETS,
    TRANSFERRED_OUT,
    UNKNOWN_PLACE,
    UNPLACED,
    CaseMeasure,
    DeadlineTally,
    Period,
    RegisterFigure,
    Score,
    Tally,
    Weights,
    Where,
    add,
    add_deadlines,
    assess,
    grade_number,
    is_placed,
    measure,
    missing_text,
    percent,
    ranked,
    unit_deadlines,
)
from caseflow.services.context import Context
from caseflow.services.records import (
    BATCH,
    CASE,
    CHILD,
    ESCALATION,
    CaseNumbers,
    Workflows,
    case_events,
    log_read,
    org_in_force,
    require,
    scoped,
)
from caseflow.states import Workflow
from caseflow.timeline import Stay, Timeline, replay

BY = ("township", "school")
NO_SCHOOL = "未填学校"

_CASES = select(
    CASE.c.id,
    CASE.c.child_id,
    CASE.c.workflow,
    CASE.c.workflow_version,
    CASE.c.state,
    CASE.c.entered_on,
    CASE.c.is_open,
    CASE.c.opened_on,
    CASE.c.last_event_on,
    CASE.c.due_on,
    CASE.c.due_provisional,
    CASE.c.township,
    CASE.c.village,
    CASE.c.school,
)
_ESCALATED = select(ESCALATION.c.case_id, ESCALATION.c.state, ESCALATION.c.due_on).where(
    ESCALATION.c.case_id.in_(bindparam("ids", expanding=True)),
    ESCALATION.c.rung_on > ESCALATION.c.due_on,
)


@dataclass
class Scan:
    """The figures of every case in scope, in total and by township and by school; the
    cases of no known township (地址待核实) and of no school apart."""

    period: Period
    total: Tally = field(default_factory=Tally)
    townships: dict[str, Tally] = field(default_factory=dict)
    schools: dict[str, Tally] = field(default_factory=dict)
    unplaced: Tally = field(default_factory=Tally)
    unschooled: Tally = field(default_factory=Tally)
    units: dict[str, DeadlineTally] = field(default_factory=dict)
    numbers: CaseNumbers = field(default_factory=CaseNumbers)
    # child -> what the child's latest case says for the register figures on the period's
    # last day (``CHILD_OUTCOMES``), None: nothing (the registers decide).
    outcomes: dict[int, str | None] = field(default_factory=dict)

    def apart(self, by: str) -> Tally:
        """The cases no group ``by`` township or school holds."""
        return self.unplaced if by == "township" else self.unschooled

    def groups(self, by: str) -> dict[str, Tally]:
        return self.townships if by == "township" else self.schools

    def unplaced_deadlines(self) -> DeadlineTally:
        """The deadlines of units at no known place (township:待核实 and its villages)."""
        total = DeadlineTally()
        for key, tally in self.units.items():
            if not is_placed(key):
                total.add(tally)
        return total


def _timeline_of_row(row: Any) -> Timeline:
    """A case unchanged since before the period: its row is its whole story for it."""
    return Timeline(
        opened_on=row.opened_on,
        state=row.state,
        entered_on=row.entered_on,
        is_open=row.is_open,
        due_on=row.due_on,
        due_provisional=row.due_provisional,
        stays=[Stay(row.state, row.entered_on)],
    )


def scan(ctx: Context, period: Period, *, batch_size: int = BATCH) -> Scan:
    query = (
        scoped(_CASES.where(CASE.c.opened_on <= period.end), ctx.actor)
        .where(CASE.c.id > bindparam("after"))
        .order_by(CASE.c.id)
        .limit(bindparam("batch"))
    )
    result = Scan(period)
    workflows = Workflows()
    after = 0
    while True:
        with db.read(ctx.engine) as connection:
            batch = connection.execute(query, {"after": after, "batch": batch_size}).all()
            if not batch:
                break
            _scan_batch(connection, batch, workflows, result)
        after = batch[-1].id
    return result


def _unchanged(row: Any, period: Period) -> bool:
    """A case whose row tells all the figures need of it: unchanged since before the
    period and not closed (a closed case's history says which closure closed it)."""
    return (
        row.is_open
        and row.last_event_on < period.start
        and (row.due_on is None or row.due_on < period.start)
    )


# What a child's latest case says for the register figures (docs/figures.md): the child is
# at school (back at school or taught at home, verified studying elsewhere, or completed
# compulsory education), or is no school-age child of this county's to count.
IN_SCHOOL = "in_school"
NOT_RESIDENT = "not_resident"
OUT_OF_SCHOOL = "out_of_school"
# A child verified out of school (a confirmed dropout, not yet placed, or missing) is not
# enrolled whatever a register extracted earlier still says.
OUT_OF_SCHOOL_CATEGORIES = ("dropout", "awaiting_placement", "missing")
CHILD_OUTCOMES = {"in_school": IN_SCHOOL, "completed": IN_SCHOOL, "not_resident": NOT_RESIDENT}

_FACTS = select(CASE.c.id, CASE.c.facts).where(CASE.c.id.in_(bindparam("ids", expanding=True)))


def _closing_state(timeline: Timeline, workflow: Workflow) -> str | None:
    """The ``closing`` state a closed case was approved from (its last one)."""
    for stay in reversed(timeline.stays[:-1]):
        if workflow.category_of(stay.state) == "closing":
            return stay.state
    return None


def _outcome(case: CaseMeasure, timeline: Timeline, workflow: Workflow, facts: Any) -> str | None:
    if case.category == "returned":
        return IN_SCHOOL
    if case.category in OUT_OF_SCHOOL_CATEGORIES:
        return OUT_OF_SCHOOL
    if case.category != "closed":
        return None
    _confirmed, reason = recorded_reasons(workflow).read(facts or {}, is_open=False)
    meaning = workflow.closure_meaning(_closing_state(timeline, workflow), reason)
    return CHILD_OUTCOMES.get(meaning or "")


def _scan_batch(
    connection: Connection, batch: Sequence[Any], workflows: Workflows, result: Scan
) -> None:
    period = result.period
    read = [row.id for row in batch if not _unchanged(row, period)]
    histories = case_events(connection, read) if read else {}
    closed = [row.id for row in batch if not row.is_open]
    facts: dict[int, Any] = {}
    if closed:
        facts = {row.id: row.facts for row in connection.execute(_FACTS, {"ids": closed})}
    escalated: dict[int, set[tuple[str, date]]] = {}
    if read:
        for case_id, state, due_on in connection.execute(_ESCALATED, {"ids": read}):
            escalated.setdefault(case_id, set()).add((state, due_on))
    for row in batch:
        workflow = workflows.get(connection, row.workflow, row.workflow_version)
        if row.id in histories:
            timeline = replay(histories[row.id], workflow, until=period.end)
        else:
            timeline = _timeline_of_row(row)
        where = Where(row.township, row.village, row.school)
        case = measure(timeline, workflow, where, period, frozenset(escalated.get(row.id, ())))
        if case is None:
            continue
        result.outcomes[row.child_id] = _outcome(case, timeline, workflow, facts.get(row.id))
        result.numbers.add(row.id)
        add(result.total, case)
        if row.township == UNKNOWN_PLACE:
            add(result.unplaced, case)
        else:
            add(result.townships.setdefault(row.township, Tally()), case)
        if row.school:
            add(result.schools.setdefault(row.school, Tally()), case)
        else:
            add(result.unschooled, case)
        add_deadlines(result.units, case)


def _log(ctx: Context, found: Scan, view: str, **asked: Any) -> None:
    if found.numbers.total:
        with db.write(ctx.engine) as connection:
            log_read(ctx, connection, view, found.numbers, **asked)


# ---------------------------------------------------------------------------------------
# caseflow stats


@dataclass(frozen=True)
class TargetFigure:
    key: str
    label: str
    target: str
    definition: str
    actual: float | int | None
    numerator: int | None = None
    denominator: int | None = None
    note: str | None = None
    estimate: bool = False  # a proxy (估算), not the official formula: never 达标
    basis: str | None = None  # where the figure's parts come from, in words

    @property
    def met(self) -> bool | None:
        spec = next(t for t in TARGETS if t.key == self.key)
        if self.actual is None or self.estimate:
            return None
        if spec.at_least is not None:
            return self.actual >= spec.at_least
        return spec.at_most is not None and self.actual <= spec.at_most

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "target": self.target,
            "actual": round(self.actual, 4) if isinstance(self.actual, float) else self.actual,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "met": self.met,
            "note": self.note,
            "estimate": self.estimate,
            "basis": self.basis,
            "definition": self.definition,
        }


def target_line(target: TargetFigure) -> str:
    """E.g. ``适龄儿童少年入学率：目标 100%，实际 97.5%（2446/2508）  未达标``."""
    if target.actual is None:
        actual, verdict = target.note or "—", ""
    elif target.key == "open_dropouts":
        actual, verdict = str(target.actual), _("met") if target.met else _("not met")
    else:
        actual = _("{rate} ({numerator}/{denominator})").format(
            rate=percent(float(target.actual)),
            numerator=target.numerator,
            denominator=target.denominator,
        )
        verdict = _("met") if target.met else _("not met")
    if target.estimate:
        actual = _("estimate {actual}").format(actual=actual)
        verdict = _("(an estimate, not judged against the target)")
    return (
        _("{label}: target {target}, actual {actual}  {verdict}")
        .format(label=target.label, target=target.target, actual=actual, verdict=verdict)
        .rstrip()
    )


@dataclass(frozen=True)
class DropoutFigure:
    """One line of 辍学人数 by category (``measures.DROPOUT_COUNTS``)."""

    key: str
    label: str
    count: int
    definition: str

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "count": self.count,
            "definition": self.definition,
        }


@dataclass(frozen=True)
class UnitOnTime:
    unit: str  # an address, as escalations use: township:天堂镇, department:health, ...
    label: str
    deadlines: DeadlineTally

    def as_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "label": self.label, **self.deadlines.as_json()}


@dataclass(frozen=True)
class GroupFigures:
    name: str
    tally: Tally
    on_time: DeadlineTally  # the deadlines this township (with its villages) or school had
    registers: dict[str, RegisterFigure] = field(default_factory=dict)  # by township only

    def as_json(self) -> dict[str, Any]:
        figures = self.tally.as_json()
        figures["on_time"] = self.on_time.as_json()
        for key, figure in self.registers.items():
            figures[key] = {
                "rate": None if figure.rate is None else round(figure.rate, 4),
                "numerator": figure.numerator,
                "denominator": figure.denominator,
                **({"estimate": True} if figure.estimate else {}),
            }
        return {"name": self.name, **figures}


@dataclass(frozen=True)
class Stats:
    as_of: date
    since: date
    scope: str
    targets: tuple[TargetFigure, ...]
    state_labels: dict[str, str]
    total: Tally
    on_time: tuple[UnitOnTime, ...]  # the units of known places and the departments
    unplaced_on_time: DeadlineTally = field(default_factory=DeadlineTally)  # 地址待核实
    by: str | None = None
    groups: tuple[GroupFigures, ...] = ()
    apart: GroupFigures | None = None  # the cases of no township (地址待核实) or no school
    dropouts: tuple[DropoutFigure, ...] = ()  # 辍学人数 by category, as of the day
    special_groups: tuple[SpecialGroupFigure, ...] = ()  # every group of the vocabulary

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "since": self.since.isoformat(),
            "scope": self.scope,
            "targets": [t.as_json() for t in self.targets],
            "dropouts": [d.as_json() for d in self.dropouts],
            "by_state": [
                {"state": s, "label": self.state_labels.get(s, s), "count": n}
                for s, n in _ordered_states(self.total, self.state_labels)
            ],
            "cases": self.total.as_json(),
            "on_time_by_unit": [u.as_json() for u in self.on_time],
            "on_time_unplaced": self.unplaced_on_time.as_json(),
            "by": self.by,
            "groups": [g.as_json() for g in self.groups],
            "apart": None if self.apart is None else self.apart.as_json(),
            "special_groups": [g.as_json() for g in self.special_groups],
            "definitions": dict(DEFINITIONS),
        }


def _ordered_states(tally: Tally, labels: dict[str, str]) -> list[tuple[str, int]]:
    known = [(s, tally.by_state[s]) for s in labels if tally.by_state[s]]
    return known + sorted((s, n) for s, n in tally.by_state.items() if s not in labels and n)


def _period(ctx: Context, as_of: date | None, since: date | None) -> Period:
    day = as_of or ctx.today
    if day > ctx.today:
        raise InvalidInput(
            _("--as-of {day} is in the future; figures stand as of today or an earlier day").format(
                day=day.isoformat()
            )
        )
    start = since or date(day.year, 1, 1)
    if start > day:
        raise InvalidInput(
            _("--since {since} is after --as-of {day}; the period would be empty").format(
                since=start.isoformat(), day=day.isoformat()
            )
        )
    return Period(start, day)


def stats(
    ctx: Context,
    *,
    as_of: date | None = None,
    since: date | None = None,
    by: str | None = None,
    batch_size: int = BATCH,
) -> Stats:
    """The targets with the actual figures, the case figures of the period from ``since``
    (default 1 January) to ``as_of`` (default today), and each responsible unit's on-time
    rate; with ``by``, the same per township or per school. Cases of no known township
    (地址待核实) or no school are counted in the totals and shown apart, never as a unit."""
    from caseflow.escalation import recipient_label

    if by is not None and by not in BY:
        raise InvalidInput(_("--by must be township or school, got '{by}'").format(by=by))
    period = _period(ctx, as_of, since)
    found = scan(ctx, period, batch_size=batch_size)
    _log(
        ctx,
        found,
        "stats",
        as_of=period.end.isoformat(),
        since=period.start.isoformat(),
        **({"by": by} if by else {}),
    )
    registers = register_figures(ctx, period.end, found.outcomes)
    targets = []
    for spec in TARGETS:
        if spec.key == "open_dropouts":  # the one target the cases answer
            targets.append(
                TargetFigure(
                    spec.key, spec.label, spec.target, spec.definition, found.total.open_dropouts
                )
            )
            continue
        figure = registers.total.get(spec.key, RegisterFigure(note="无数据"))
        note = missing_text(figure.missing) if figure.missing else figure.note
        targets.append(
            TargetFigure(
                spec.key,
                spec.label + ("（估算）" if figure.estimate else ""),
                spec.target,
                CONSOLIDATION_ESTIMATE if figure.estimate else spec.definition,
                figure.rate,
                figure.numerator,
                figure.denominator,
                note,
                estimate=figure.estimate,
                basis=figure.basis,
            )
        )
    dropouts = tuple(
        DropoutFigure(d.key, d.label, found.total.by_category[d.key], d.definition)
        for d in DROPOUT_COUNTS
    )
    workflow_labels = {sid: s.label for sid, s in ctx.current_workflow.states.items()}
    units = tuple(
        UnitOnTime(key, recipient_label(key, departments=ctx.current_workflow.departments), tally)
        for key, tally in sorted(found.units.items(), key=lambda item: (-item[1].due, item[0]))
        if is_placed(key)
    )
    unplaced_on_time = found.unplaced_deadlines()
    groups: tuple[GroupFigures, ...] = ()
    apart: GroupFigures | None = None
    if by is not None:
        tallies = found.groups(by)
        places = registers.by_township if by == "township" else {}
        names = sorted(set(tallies) | set(places))
        groups = tuple(
            GroupFigures(
                name,
                tallies.get(name, Tally()),
                unit_deadlines(found.units, by, name),
                places.get(name, {}),
            )
            for name in names
        )
        if found.apart(by).cases:
            apart = GroupFigures(
                UNPLACED if by == "township" else NO_SCHOOL,
                found.apart(by),
                unplaced_on_time if by == "township" else DeadlineTally(),
            )
    return Stats(
        as_of=period.end,
        since=period.start,
        scope=str(ctx.actor.jurisdiction),
        targets=tuple(targets),
        state_labels=workflow_labels,
        total=found.total,
        on_time=units,
        unplaced_on_time=unplaced_on_time,
        by=by,
        groups=groups,
        apart=apart,
        dropouts=dropouts,
        special_groups=special_group_figures(ctx, period),
    )


# ---------------------------------------------------------------------------------------
# Special groups (特殊群体)

SPECIAL_GROUPS_DEFINITION = (
    "按儿童现登记的特殊群体（扶贫、残疾人登记册导入或工作人员登记）分别统计其案件在统计日的状态，"
    "在办、已确认辍学与“案件（统计日）”口径相同；一名儿童属于多个群体的，在各群体中分别计入。"
)


@dataclass(frozen=True)
class SpecialGroupFigure:
    """The cases of the children in one special group, as they stood on the day."""

    key: str
    label: str
    tally: Tally

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.key,
            "label": self.label,
            "cases": self.tally.cases,
            "open": self.tally.open,
            "open_dropouts": self.tally.open_dropouts,
        }


def special_group_figures(
    ctx: Context, period: Period, *, batch_size: int = BATCH
) -> tuple[SpecialGroupFigure, ...]:
    """For each special group of the workflow in force, the cases (in the operator's
    scope, identified by the period's end) of the children in it, counted as the case
    figures count them: open cases and confirmed dropouts on ``period.end``. A child's
    groups are those recorded now."""
    from caseflow.services.groups import CHILD_GROUP

    labels = ctx.current_workflow.special_groups
    query = scoped(
        _CASES.add_columns(CHILD_GROUP.c.code)
        .join(CHILD_GROUP, CHILD_GROUP.c.child_id == CASE.c.child_id)
        .where(CASE.c.opened_on <= period.end)
        .distinct()
        .order_by(CASE.c.id),
        ctx.actor,
    )
    tallies = {key: Tally() for key in labels}
    workflows = Workflows()
    with db.read(ctx.engine) as connection:
        rows = connection.execute(query).all()
        codes: dict[int, list[str]] = {}
        cases: dict[int, Any] = {}
        for row in rows:
            codes.setdefault(row.id, []).append(row.code)
            cases[row.id] = row
        ordered = list(cases.values())
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start : start + batch_size]
            read = [row.id for row in batch if not _unchanged(row, period)]
            histories = case_events(connection, read) if read else {}
            for row in batch:
                workflow = workflows.get(connection, row.workflow, row.workflow_version)
                timeline = (
                    replay(histories[row.id], workflow, until=period.end)
                    if row.id in histories
                    else _timeline_of_row(row)
                )
                where = Where(row.township, row.village, row.school)
                case = measure(timeline, workflow, where, period)
                if case is None:
                    continue
                for code in codes[row.id]:
                    add(tallies.setdefault(code, Tally()), case)
    return tuple(
        SpecialGroupFigure(key, labels.get(key, key), tally) for key, tally in tallies.items()
    )


REGISTER_FIGURES: dict[str, tuple[str, ...]] = {
    "enrolment_rate": ("household", "student"),
    "disabled_enrolment_rate": ("disability", "student"),
    "consolidation_rate": ("student",),  # the estimate needs the household register too
}
CONSOLIDATION_AGE = 14  # on the school year's first day: the age of the last grade (初三)


@dataclass
class Registers:
    """The register-based figures: for the operator's scope, and by township."""

    total: dict[str, RegisterFigure]
    by_township: dict[str, dict[str, RegisterFigure]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Cohort:
    """Where the consolidation rate's entrants come from: the 学籍 snapshot of the school
    year the graduating class entered grade 1, else the configured number, else neither
    (the age-cohort estimate)."""

    year: int
    snapshot: Path | None = None
    baseline: int | None = None
    # The current 学籍 register was extracted after graduation (June to August): its
    # graduating class shows as 毕业. Else a 毕业 in grade 9 graduated a year before.
    after_graduation: bool = False

    @property
    def method(self) -> str:
        if self.snapshot is not None:
            return "cohort"
        return "baseline" if self.baseline is not None else "estimate"

    def needs(self, township: str | None) -> tuple[str, ...]:
        if self.method == "estimate":
            return ("household", "student")
        return ("student", "household") if township is not None else ("student",)

    def estimate_note(self) -> str:
        return (
            f"未导入{self.year}学年（该届学生入小学一年级时）的学籍，也未配置 caseflow.toml "
            f"[figures] cohort_entrants 的 {self.year} 年入学人数。导入该学年学籍（caseflow "
            f"roster import student 文件 --as-of {self.year}-09-15）或配置后按官方口径计算。"
        )


def register_figures(
    ctx: Context, as_of: date, outcomes: Mapping[int, str | None] | None = None
) -> Registers:
    """The enrolment, disabled children's enrolment and nine-year consolidation rates from
    the snapshots of the registers (户籍, 学籍, 残疾人), read with DuckDB, with what the
    cases of ``outcomes`` (child -> ``CHILD_OUTCOMES``, from ``scan``) verified, for the
    operator's scope (a township caseworker: the children registered in the township).
    School age is the comparison's (``caseflow.roster.reference_date``): aged 6-15 on the
    latest 1 September. The consolidation rate divides the graduating class by the
    entrants of its grade-1 year (that year's 学籍 snapshot, else caseflow.toml [figures]
    cohort_entrants); with neither, it is the age-cohort estimate, labelled so. A figure
    whose registers are not imported names them instead. Definitions: docs/figures.md."""
    from caseflow.services.snapshots import (
        current_imports,
        current_snapshots,
        school_year,
        yearly_snapshots,
    )

    where = ctx.actor.jurisdiction
    if where.kind in ("school", "department"):
        note = "以户籍人口为基数，学校和部门账户不计算"
        return Registers({key: RegisterFigure(note=note) for key in REGISTER_FIGURES})
    township = where.name if where.kind == "township" else None
    children = _children(ctx, outcomes or {})
    entry_year = school_year(as_of) - GRADE_YEARS
    for attempt in range(3):
        snapshots = current_snapshots(ctx)
        years = yearly_snapshots(ctx, "student") if "student" in snapshots else {}
        entry = years.get(entry_year)
        extracted = current_imports(ctx).get("student")
        cohort = _Cohort(
            entry_year,
            entry if entry is not None and entry != snapshots.get("student") else None,
            ctx.workspace.cohort_entrants.get(entry_year) if township is None else None,
            after_graduation=extracted is not None and extracted.as_of.month in (6, 7, 8),
        )
        needed = dict(REGISTER_FIGURES, consolidation_rate=cohort.needs(township))
        missing = {
            key: [s for s in sources if s not in snapshots] for key, sources in needed.items()
        }
        if township is not None and "household" not in snapshots:
            # The disability register names no township: the household one places them.
            missing["disabled_enrolment_rate"].append("household")
        wanted = {key for key, lacking in missing.items() if not lacking}
        try:
            counts = _register_counts(
                snapshots, wanted, as_of, township=township, children=children, cohort=cohort
            )
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue  # an import replaced a snapshot meanwhile: read the new one
        break
    total: dict[str, RegisterFigure] = {}
    by_township: dict[str, dict[str, RegisterFigure]] = {}
    for key in REGISTER_FIGURES:
        if missing[key]:
            total[key] = RegisterFigure(missing=tuple(dict.fromkeys(missing[key])))
            continue
        places = counts.get(key, {})
        for place, parts in places.items():
            if place is not None:
                by_township.setdefault(place, {})[key] = _figure(key, [parts], cohort)
        total[key] = _figure(key, list(places.values()), cohort)
    return Registers(total, by_township)


def _figure(key: str, parts: list[tuple[int, ...]], cohort: _Cohort) -> RegisterFigure:
    """A figure from the summed counts of one or more places."""
    sums = [sum(column) for column in zip(*parts, strict=True)] if parts else []
    if key != "consolidation_rate" or cohort.method == "estimate":
        numerator, denominator = (sums[0], sums[1]) if sums else (0, 0)
        estimate = key == "consolidation_rate"
        return RegisterFigure(
            numerator,
            denominator,
            note=None if denominator else "登记中没有符合条件的儿童少年",
            estimate=estimate,
            basis=cohort.estimate_note() if estimate else None,
        )
    if cohort.method == "baseline":
        graduating = sums[0] if sums else 0
        return RegisterFigure(
            graduating,
            cohort.baseline,
            basis=f"入学时学生数：caseflow.toml [figures] cohort_entrants 配置的{cohort.year}"
            f"学年一年级入学人数 {cohort.baseline}（已含转入转出）",
        )
    graduating, entrants, moved_in, moved_out = sums if sums else (0, 0, 0, 0)
    denominator = entrants + moved_in - moved_out
    return RegisterFigure(
        graduating,
        denominator,
        note=None if denominator > 0 else "登记中没有符合条件的儿童少年",
        basis=f"{cohort.year}学年学籍一年级 {entrants} 人，转入 {moved_in} 人，转出 {moved_out} 人",
    )


def _children(ctx: Context, outcomes: Mapping[int, str | None]) -> list[tuple[str, str]]:
    """(resident ID, outcome) of each child whose latest case says something."""
    wanted = [child for child, outcome in outcomes.items() if outcome]
    found: list[tuple[str, str]] = []
    query = select(CHILD.c.id, CHILD.c.id_number).where(
        CHILD.c.id.in_(bindparam("ids", expanding=True))
    )
    with db.read(ctx.engine) as connection:
        for start in range(0, len(wanted), BATCH):
            ids = wanted[start : start + BATCH]
            for child, id_number in connection.execute(query, {"ids": ids}):
                found.append((id_number, str(outcomes[child])))
    return found


def _register_counts(
    snapshots: dict[str, Any],
    wanted: set[str],
    as_of: date,
    *,
    township: str | None,
    children: Sequence[tuple[str, str]],
    cohort: _Cohort,
) -> dict[str, dict[str | None, tuple[int, ...]]]:
    """figure -> township (None: not known) -> its counts: (numerator, denominator), or for
    the consolidation cohort (graduating, entrants, transfers in, transfers out)."""
    import duckdb

    from caseflow.roster import DEFAULT_AGES, birth_band, reference_date, sql_text
    from caseflow.services.snapshots import MEMORY_LIMIT

    if not wanted:
        return {}
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:

        def read(path: Path) -> str:
            if not path.exists():
                raise FileNotFoundError(path)
            return f"read_parquet({sql_text(str(path))})"

        def columns(path: Path) -> set[str]:
            schema = connection.execute(f"SELECT name FROM parquet_schema({sql_text(str(path))})")
            return {str(name) for (name,) in schema.fetchall()}

        def table(path: Path, *names: str) -> str:
            source = read(path)
            present = columns(path)
            picked = ", ".join(n if n in present else f"NULL AS {n}" for n in names)
            return f"(SELECT {picked} FROM {source})"

        students = [p for p in (snapshots.get("student"), cohort.snapshot) if p is not None]
        _grade_table(connection, [table(p, "grade") for p in students])
        connection.execute("CREATE TEMP TABLE c (id_number VARCHAR PRIMARY KEY, outcome VARCHAR)")
        appender = connection.appender("c")
        appender.append_rows([list(row) for row in dict(children).items()])
        appender.flush()

        reference = reference_date(as_of)
        low, high = birth_band(reference, *DEFAULT_AGES)
        age = birth_band(reference, CONSOLIDATION_AGE, CONSOLIDATION_AGE)
        studying = ", ".join(sql_text(status) for status in STUDYING_STATUSES)
        graduated, moved = sql_text(GRADUATED), sql_text(TRANSFERRED_OUT)
        in_class = studying + (f", {graduated}" if cohort.after_graduation else "")
        born = "substr(id_number, 7, 8)"
        ctes = []
        if "student" in snapshots:
            ctes.append(
                "s AS (SELECT id_number, "
                f"bool_or(status IN ({studying}) OR (status = {graduated} "
                f"AND gr.n >= {LAST_GRADE})) AS enrolled, "
                f"bool_or(status = {moved}) AS transferred, "
                f"bool_or(gr.n = {LAST_GRADE} AND status IN ({in_class})) AS graduating "
                f"FROM {table(snapshots['student'], 'id_number', 'status', 'grade')} "
                "LEFT JOIN gr USING (grade) WHERE id_number IS NOT NULL GROUP BY id_number)"
            )
        if cohort.snapshot is not None:
            ctes.append(
                "e AS (SELECT DISTINCT id_number "
                f"FROM {table(cohort.snapshot, 'id_number', 'status', 'grade')} "
                f"LEFT JOIN gr USING (grade) WHERE id_number IS NOT NULL AND gr.n = 1 "
                f"AND status IN ({studying}))"
            )
        if "household" in snapshots:
            ctes.append(
                f"h AS (SELECT id_number, any_value(township) AS township "
                f"FROM {table(snapshots['household'], 'id_number', 'township')} "
                "WHERE id_number IS NOT NULL GROUP BY id_number)"
            )
        if "disability" in snapshots:
            ctes.append(
                "d AS (SELECT DISTINCT id_number "
                f"FROM {table(snapshots['disability'], 'id_number')} "
                f"WHERE id_number IS NOT NULL AND {born} BETWEEN {sql_text(low)} "
                f"AND {sql_text(high)})"
            )
        only = f" AND h.township = {sql_text(township)}" if township is not None else ""
        enrolled = (
            f"(coalesce(s.enrolled, false) OR c.outcome = {sql_text(IN_SCHOOL)}) "
            f"AND c.outcome IS DISTINCT FROM {sql_text(OUT_OF_SCHOOL)}"
        )
        resident = f"c.outcome IS DISTINCT FROM {sql_text(NOT_RESIDENT)}"
        rate = f"count(*) FILTER (WHERE {enrolled}), count(*)"
        band = f"substr(h.id_number, 7, 8) BETWEEN {sql_text(low)} AND {sql_text(high)}"
        in_age = f"substr(h.id_number, 7, 8) BETWEEN {sql_text(age[0])} AND {sql_text(age[1])}"
        place = "h.township" if "household" in snapshots else "NULL"
        placed = "LEFT JOIN h USING (id_number) " if "household" in snapshots else ""
        queries = {
            "enrolment_rate": (
                f"SELECT h.township, {rate} FROM h LEFT JOIN s USING (id_number) "
                f"LEFT JOIN c USING (id_number) WHERE {band} AND {resident}{only} "
                "GROUP BY h.township"
            ),
            "disabled_enrolment_rate": (
                f"SELECT {place}, {rate} FROM d {placed}LEFT JOIN s USING (id_number) "
                f"LEFT JOIN c USING (id_number) WHERE {resident}{only} GROUP BY ALL"
            ),
        }
        if cohort.method == "estimate":
            queries["consolidation_rate"] = (
                f"SELECT h.township, {rate} FROM h LEFT JOIN s USING (id_number) "
                f"LEFT JOIN c USING (id_number) WHERE {in_age} AND {resident}{only} "
                "GROUP BY h.township"
            )
        elif cohort.method == "baseline":
            queries["consolidation_rate"] = "SELECT NULL, count(*) FROM s WHERE graduating"
        else:
            queries["consolidation_rate"] = (
                f"SELECT {place}, "
                "count(*) FILTER (WHERE x.graduate IS NOT NULL), "
                "count(*) FILTER (WHERE x.entrant IS NOT NULL), "
                "count(*) FILTER (WHERE x.graduate IS NOT NULL AND x.entrant IS NULL), "
                "count(*) FILTER (WHERE x.entrant IS NOT NULL AND x.graduate IS NULL "
                "AND (coalesce(s.transferred, false) OR (c.outcome IS NOT NULL "
                f"AND c.outcome <> {sql_text(OUT_OF_SCHOOL)}))) "
                "FROM (SELECT coalesce(e.id_number, g.id_number) AS id_number, "
                "e.id_number AS entrant, g.id_number AS graduate "
                "FROM e FULL OUTER JOIN (SELECT id_number FROM s WHERE graduating) g "
                "USING (id_number)) x "
                "LEFT JOIN s USING (id_number) LEFT JOIN c USING (id_number) "
                f"{placed}WHERE true{only} GROUP BY ALL"
            )
        found: dict[str, dict[str | None, tuple[int, ...]]] = {}
        prefix = f"WITH {', '.join(ctes)} " if ctes else ""
        for key in wanted:
            try:
                rows = connection.execute(prefix + queries[key]).fetchall()
            except duckdb.IOException as exc:
                raise FileNotFoundError(str(exc)) from None
            found[key] = {row[0]: tuple(int(n) for n in row[1:]) for row in rows}
        return found
    finally:
        connection.close()


def _grade_table(connection: Any, sources: Sequence[str]) -> None:
    """``gr(grade, n)``: each grade text of the 学籍 snapshots with its number
    (``grade_number``), read once per distinct text."""
    connection.execute("CREATE TEMP TABLE gr (grade VARCHAR PRIMARY KEY, n INTEGER)")
    if not sources:
        return
    union = " UNION ".join(f"SELECT DISTINCT grade FROM {source}" for source in sources)
    texts = [text for (text,) in connection.execute(union).fetchall() if text is not None]
    appender = connection.appender("gr")
    appender.append_rows([[text, grade_number(text)] for text in dict.fromkeys(texts)])
    appender.flush()


# ---------------------------------------------------------------------------------------
# caseflow review assessment


@dataclass(frozen=True)
class Assessment:
    year: int
    period: Period
    formula: str
    weights: dict[str, float]
    scores: tuple[Score, ...]
    unplaced_cases: int = 0  # 地址待核实: in no unit's score
    unplaced_on_time: DeadlineTally = field(default_factory=DeadlineTally)

    def as_json(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "since": self.period.start.isoformat(),
            "as_of": self.period.end.isoformat(),
            "formula": self.formula,
            "weights": self.weights,
            "definitions": {
                key: DEFINITIONS[key] for key in ("on_time", "return_rate", "retention_rate")
            }
            | {"relapses": DEFINITIONS["relapses"]},
            "townships": [s.as_json() for s in self.scores if s.kind == "township"],
            "schools": [s.as_json() for s in self.scores if s.kind == "school"],
            "unplaced": {
                "cases": self.unplaced_cases,
                "on_time": self.unplaced_on_time.as_json(),
            },
        }


def assessment(ctx: Context, *, year: int | None = None, batch_size: int = BATCH) -> Assessment:
    """Each township's and school's score for ``year`` (default this year; a year not
    over yet is scored up to today), by the formula of caseflow.toml [assessment]."""
    require(ctx, access.ASSESSORS, "review assessment")
    today = ctx.today
    chosen = year or today.year
    if chosen > today.year or chosen < 1900:
        raise InvalidInput(
            _("--year {year} has not begun; assess {this_year} or an earlier year").format(
                year=chosen, this_year=today.year
            )
        )
    period = Period(date(chosen, 1, 1), min(date(chosen, 12, 31), today))
    found = scan(ctx, period, batch_size=batch_size)
    _log(ctx, found, "review assessment", year=chosen)
    weights = Weights(**asdict(ctx.workspace.assessment))
    with db.read(ctx.engine) as connection:
        org = org_in_force(connection)
    scores = [
        assess(weights, kind, name, found.groups(kind).get(name, Tally()), found.units)
        for kind in BY
        for name in {u.name for u in org.units.values() if u.kind == kind} | set(found.groups(kind))
    ]
    return Assessment(
        year=chosen,
        period=period,
        formula=weights.formula(),
        weights={
            "on_time": weights.on_time,
            "returned": weights.returned,
            "retained": weights.retained,
            "relapse_penalty": weights.relapse_penalty,
        },
        scores=tuple(ranked(scores)),
        unplaced_cases=found.unplaced.cases,
        unplaced_on_time=found.unplaced_deadlines(),
    )
