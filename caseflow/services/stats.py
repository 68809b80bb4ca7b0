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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, select

from caseflow import access, db
from caseflow.errors import InvalidInput
from caseflow.measures import (
    DEFINITIONS,
    TARGETS,
    UNKNOWN_PLACE,
    UNPLACED,
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
    is_placed,
    measure,
    missing_text,
    ranked,
    unit_deadlines,
)
from caseflow.services.context import Context
from caseflow.services.records import (
    BATCH,
    CASE,
    ESCALATION,
    CaseNumbers,
    Workflows,
    case_events,
    log_read,
    org_in_force,
    require,
    scoped,
)
from caseflow.timeline import Stay, Timeline, replay

BY = ("township", "school")
NO_SCHOOL = "未填学校"

_CASES = select(
    CASE.c.id,
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
    return row.last_event_on < period.start and (row.due_on is None or row.due_on < period.start)


def _scan_batch(
    connection: Connection, batch: Sequence[Any], workflows: Workflows, result: Scan
) -> None:
    period = result.period
    read = [row.id for row in batch if not _unchanged(row, period)]
    histories = case_events(connection, read) if read else {}
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

    @property
    def met(self) -> bool | None:
        spec = next(t for t in TARGETS if t.key == self.key)
        if self.actual is None:
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
            "definition": self.definition,
        }


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def target_line(target: TargetFigure) -> str:
    """E.g. ``适龄儿童少年入学率：目标 100%，实际 97.5%（2446/2508）  未达标``."""
    if target.actual is None:
        actual, verdict = target.note or "—", ""
    elif target.key == "open_dropouts":
        actual, verdict = str(target.actual), "达标" if target.met else "未达标"
    else:
        actual = f"{percent(float(target.actual))}（{target.numerator}/{target.denominator}）"
        verdict = "达标" if target.met else "未达标"
    return f"{target.label}：目标 {target.target}，实际 {actual}  {verdict}".rstrip()


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
    special_groups: tuple[SpecialGroupFigure, ...] = ()  # every group of the vocabulary

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "since": self.since.isoformat(),
            "scope": self.scope,
            "targets": [t.as_json() for t in self.targets],
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
            f"--as-of {day.isoformat()} is in the future; figures stand as of today or "
            "an earlier day"
        )
    start = since or date(day.year, 1, 1)
    if start > day:
        raise InvalidInput(
            f"--since {start.isoformat()} is after --as-of {day.isoformat()}; the period "
            "would be empty"
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
        raise InvalidInput(f"--by must be township or school, got {by!r}")
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
    registers = register_figures(ctx, period.end)
    targets = []
    for spec in TARGETS:
        if spec.key == "open_dropouts":  # the one target the cases answer
            actual: tuple[Any, ...] = (found.total.open_dropouts,)
        else:
            figure = registers.total.get(spec.key, RegisterFigure(note="无数据"))
            note = missing_text(figure.missing) if figure.missing else figure.note
            actual = (figure.rate, figure.numerator, figure.denominator, note)
        targets.append(TargetFigure(spec.key, spec.label, spec.target, spec.definition, *actual))
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
    "consolidation_rate": ("household", "student"),
}
GRADUATED = "毕业"
CONSOLIDATION_AGE = 14  # on the school year's first day: the age of the last grade (初三)


@dataclass
class Registers:
    """The register-based figures: for the operator's scope, and by township."""

    total: dict[str, RegisterFigure]
    by_township: dict[str, dict[str, RegisterFigure]] = field(default_factory=dict)


def register_figures(ctx: Context, as_of: date) -> Registers:
    """The enrolment, disabled children's enrolment and nine-year consolidation rates from
    the current snapshots of the registers (户籍, 学籍, 残疾人), read with DuckDB, for the
    operator's scope (a township caseworker: the children registered in the township).
    School age is the comparison's (``caseflow.roster.reference_date``): aged 6-15 on the latest
    1 September; the consolidation cohort is the children aged 14 on that day. A figure
    whose registers are not imported names them instead."""
    from caseflow.services.snapshots import current_snapshots

    where = ctx.actor.jurisdiction
    if where.kind in ("school", "department"):
        note = "以户籍人口为基数，学校和部门账户不计算"
        return Registers({key: RegisterFigure(note=note) for key in REGISTER_FIGURES})
    for attempt in range(3):
        snapshots = current_snapshots(ctx)
        missing = {
            key: [s for s in needed if s not in snapshots]
            for key, needed in REGISTER_FIGURES.items()
        }
        township = where.name if where.kind == "township" else None
        if township is not None and "household" not in snapshots:
            # The disability register names no township: the household one places them.
            missing["disabled_enrolment_rate"].append("household")
        wanted = {key for key, lacking in missing.items() if not lacking}
        try:
            counts = _register_counts(snapshots, wanted, as_of, township)
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
        denominator = sum(d for _n, d in places.values())
        total[key] = RegisterFigure(
            sum(n for n, _d in places.values()),
            denominator,
            note=None if denominator else "登记中没有符合条件的儿童少年",
        )
        for place, (numerator, denominator) in places.items():
            if place is not None:
                by_township.setdefault(place, {})[key] = RegisterFigure(numerator, denominator)
    return Registers(total, by_township)


def _register_counts(
    snapshots: dict[str, Any], wanted: set[str], as_of: date, township: str | None
) -> dict[str, dict[str | None, tuple[int, int]]]:
    """figure -> township (None: not known) -> (numerator, denominator)."""
    import duckdb

    from caseflow.roster import DEFAULT_AGES, ENROLLED, birth_band, reference_date, sql_text
    from caseflow.services.snapshots import MEMORY_LIMIT

    if not wanted:
        return {}
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:

        def columns(source: str) -> set[str]:
            path = snapshots[source]
            if not path.exists():
                raise FileNotFoundError(path)
            schema = connection.execute(
                f"SELECT name FROM parquet_schema({sql_text(str(path))})"
            ).fetchall()
            return {str(name) for (name,) in schema}

        def table(source: str, *names: str) -> str:
            present = columns(source)
            picked = ", ".join(n if n in present else f"NULL AS {n}" for n in names)
            return f"(SELECT {picked} FROM read_parquet({sql_text(str(snapshots[source]))}))"

        reference = reference_date(as_of)
        low, high = birth_band(reference, *DEFAULT_AGES)
        cohort = birth_band(reference, CONSOLIDATION_AGE, CONSOLIDATION_AGE)
        at_school = ", ".join(sql_text(status) for status in ENROLLED)
        finished = ", ".join(sql_text(status) for status in (*ENROLLED, GRADUATED))
        born = "substr(id_number, 7, 8)"
        ctes = []
        if "student" in snapshots:
            ctes.append(
                f"s AS (SELECT id_number, bool_or(status IN ({at_school})) AS at_school, "
                f"bool_or(status IN ({finished})) AS finished "
                f"FROM {table('student', 'id_number', 'status')} "
                "WHERE id_number IS NOT NULL GROUP BY id_number)"
            )
        if "household" in snapshots:
            ctes.append(
                f"h AS (SELECT id_number, any_value(township) AS township "
                f"FROM {table('household', 'id_number', 'township')} "
                "WHERE id_number IS NOT NULL GROUP BY id_number)"
            )
        if "disability" in snapshots:
            ctes.append(
                f"d AS (SELECT DISTINCT id_number FROM {table('disability', 'id_number')} "
                f"WHERE id_number IS NOT NULL AND {born} BETWEEN {sql_text(low)} "
                f"AND {sql_text(high)})"
            )
        only = f" AND h.township = {sql_text(township)}" if township is not None else ""
        queries = {
            "enrolment_rate": (
                "SELECT h.township, count(*) FILTER (WHERE s.at_school), count(*) FROM h "
                f"LEFT JOIN s USING (id_number) WHERE substr(h.id_number, 7, 8) BETWEEN "
                f"{sql_text(low)} AND {sql_text(high)}{only} GROUP BY h.township"
            ),
            "consolidation_rate": (
                "SELECT h.township, count(*) FILTER (WHERE s.finished), count(*) FROM h "
                f"LEFT JOIN s USING (id_number) WHERE substr(h.id_number, 7, 8) BETWEEN "
                f"{sql_text(cohort[0])} AND {sql_text(cohort[1])}{only} GROUP BY h.township"
            ),
            "disabled_enrolment_rate": (
                (
                    "SELECT h.township, count(*) FILTER (WHERE s.at_school), count(*) FROM d "
                    "LEFT JOIN h USING (id_number) LEFT JOIN s USING (id_number) "
                    f"WHERE true{only} GROUP BY h.township"
                )
                if "household" in snapshots
                else (
                    "SELECT NULL, count(*) FILTER (WHERE s.at_school), count(*) FROM d "
                    "LEFT JOIN s USING (id_number)"
                )
            ),
        }
        found: dict[str, dict[str | None, tuple[int, int]]] = {}
        prefix = f"WITH {', '.join(ctes)} " if ctes else ""
        for key in wanted:
            try:
                rows = connection.execute(prefix + queries[key]).fetchall()
            except duckdb.IOException as exc:
                raise FileNotFoundError(str(exc)) from None
            found[key] = {place: (int(n), int(d)) for place, n, d in rows if d}
        return found
    finally:
        connection.close()


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
        raise InvalidInput(f"--year {chosen} has not begun; assess {today.year} or an earlier year")
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
