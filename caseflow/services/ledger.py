"""The four ledgers (四台账) read from the database and written out while they are read.

Cases are read in batches, in case-number order, with keyset paging on the case number
(``id > last one``): each batch is one short read transaction, and nothing but the batch
is held in memory, so a county ledger of a million cases takes the memory of a thousand.
Every read goes through ``records.scoped``: an operator's ledger holds only the cases of
their jurisdiction, whatever level they ask for. The read is logged once, at the end
(``records.log_read``: the count, and the level, unit and day asked for).

For a day in the past (``as_of``), a case that changed after that day is read back from
its audit events (``caseflow.timeline``) to the state, due date and days it had then;
cases identified after that day are left out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, Text, and_, bindparam, cast, func, or_, select

from caseflow import db
from caseflow.dates import spoken
from caseflow.errors import InvalidInput
from caseflow.exports import (
    Column,
    output_format,
    replacing,
    write_csv,
    write_json,
    write_markdown,
    write_text_table,
    write_xlsx,
)
from caseflow.i18n import N_, _
from caseflow.ids import mask_id_number
from caseflow.ledger import (
    CHAINS,
    CULTURAL,
    FOOTER,
    KEY_COLUMNS,
    KINDS,
    LEVELS,
    NO_STUDENT_RECORD,
    PERSUADING,
    REGISTER_COLUMNS,
    REGISTER_KEY_COLUMNS,
    UNPLACED_TITLE,
    CaseFacts,
    LedgerRow,
    RegisterChild,
    birth_shown,
    find_kind,
    grade_class,
    header,
    kind_columns,
    ledger_row,
    reason_labels,
    recorded_reasons,
    responsible_people,
    returned_on,
    step_fields,
    title,
)
from caseflow.measures import UNKNOWN_PLACE, UNPLACED
from caseflow.org import POSITIONS, Org
from caseflow.roster import mask_phone, mask_value
from caseflow.services.context import Context
from caseflow.services.groups import groups_by_case, groups_by_id_number
from caseflow.services.records import (
    BATCH,
    CASE,
    CHILD,
    EVENT,
    GUARDIAN,
    OPERATOR,
    CaseNumbers,
    Workflows,
    case_events,
    log_read,
    org_in_force,
    require,
    scoped,
)
from caseflow.states import NOTE_METHODS, Workflow
from caseflow.timeline import replay

# Ledger._build unpacks the rows in this order.
_CASES = (
    select(
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
        # As text: most rows share their chain and reasons with others, so these are
        # turned into labels once per distinct text, and the facts are only parsed when
        # they hold what the ledger shows.
        cast(CASE.c.reasons, Text).label("reasons"),
        cast(CASE.c.facts, Text).label("facts"),
        cast(CASE.c.chain, Text).label("chain"),
        CASE.c.township,
        CASE.c.village,
        CASE.c.school,
        CHILD.c.name,
        CHILD.c.id_number,
        CHILD.c.id.label("child_id"),
        CHILD.c.sex,
        CHILD.c.birth_date,
        CHILD.c.ethnicity,
        CHILD.c.student_number,
        CHILD.c.grade,
        CHILD.c.class_name,
    )
    .select_from(CASE)
    .join(CHILD, CHILD.c.id == CASE.c.child_id)
)
_GUARDIANS = (
    select(GUARDIAN.c.child_id, GUARDIAN.c.name, GUARDIAN.c.relation, GUARDIAN.c.phone)
    .where(GUARDIAN.c.child_id.in_(bindparam("ids", expanding=True)))
    .order_by(GUARDIAN.c.child_id, GUARDIAN.c.id)
)
_NOTES = select(EVENT.c.case_id, EVENT.c.seq, EVENT.c.occurred_on, EVENT.c.payload).where(
    EVENT.c.action == "case.note", EVENT.c.occurred_on <= bindparam("until")
)
_NOTES_OF = _NOTES.where(EVENT.c.case_id.in_(bindparam("ids", expanding=True)))
# A batch of case numbers close together (the usual case) is looked up as a range, which
# spares binding a thousand parameters; the notes of cases in the range but not in the
# batch (another jurisdiction's) are read past, never shown.
_NOTES_BETWEEN = _NOTES.where(EVENT.c.case_id.between(bindparam("first"), bindparam("last")))


# Who may read the registers' children in a 文化户口台账 (a partner department may not).
REGISTER_READERS = frozenset({"caseworker", "school", "bureau", "supervisor"})
LEVEL_NAMES = {"county": "县级", "township": "乡镇", "village": "村", "school": "学校"}
# The levels as a message names them (translated where shown).
LEVEL_WORDS = {
    "county": N_("county"),
    "township": N_("township"),
    "village": N_("village"),
    "school": N_("school"),
}


@dataclass(frozen=True)
class Place:
    """Where a ledger looks: its level, the unit as asked, its name for the title, and the
    condition on ``case_file`` (None: every case the operator may see)."""

    level: str
    unit: str | None
    label: str
    condition: ColumnElement[bool] | None = None
    unplaced: bool = False  # the 地址待核实 ledger

    def where(self) -> list[ColumnElement[bool]]:
        return [] if self.condition is None else [self.condition]


def find_place(ctx: Context, level: str, unit: str | None) -> Place:
    """The unit a ledger is for; a village as 镇/村, or by its name alone when only one
    township (among the operator's cases) has a village of that name. ``--unit 待核实``
    (or 地址待核实), at any level but a school's: the cases whose township or village is
    not known, apart from every unit."""
    if level not in LEVELS:
        raise InvalidInput(
            _("--level must be one of {levels}, not '{level}'").format(
                levels=_(", ").join(
                    _("{value} ({label})").format(value=k, label=v) for k, v in LEVEL_NAMES.items()
                ),
                level=level,
            )
        )
    name = unit.strip() if unit is not None else None
    if name in (UNKNOWN_PLACE, UNPLACED) and level != "school":
        return Place(
            level,
            name,
            "",
            or_(CASE.c.township == UNKNOWN_PLACE, CASE.c.village == UNKNOWN_PLACE),
            unplaced=True,
        )
    if level == "county":
        if name:
            raise InvalidInput(
                _(
                    "--unit is for the ledgers of a township, village or school (or --unit "
                    "待核实); the county ledger holds every case you may see and needs no --unit"
                )
            )
        where = ctx.actor.jurisdiction
        label = where.name if where.kind in ("township", "school") else ""
        return Place(level, None, label)
    if not name:
        example = {"township": "天堂镇", "village": "天堂镇/天堂村", "school": "天堂镇中心小学"}
        raise InvalidInput(
            _("the {level} ledger needs --unit naming the unit, e.g. --unit {example}").format(
                level=_(LEVEL_WORDS[level]), example=example[level]
            )
        )
    if level == "township":
        return Place(level, name, name, CASE.c.township == name)
    if level == "school":
        return Place(level, name, name, CASE.c.school == name)
    township, slash, village = name.partition("/")
    if slash:
        township, village = township.strip(), village.strip()
        if not township or not village:
            raise InvalidInput(
                _(
                    "--unit '{name}': write a village as TOWNSHIP/VILLAGE, e.g. 天堂镇/天堂村"
                ).format(name=name)
            )
        return Place(
            level,
            name,
            f"{township}{village}",
            and_(CASE.c.township == township, CASE.c.village == village),
        )
    with db.read(ctx.engine) as connection:
        townships = sorted(
            connection.execute(
                scoped(select(CASE.c.township).where(CASE.c.village == name).distinct(), ctx.actor)
            ).scalars()
        )
    if not townships:
        raise InvalidInput(
            _(
                "no case you may see is in a village named '{name}'; check the name, or write "
                "TOWNSHIP/VILLAGE"
            ).format(name=name)
        )
    if len(townships) > 1:
        raise InvalidInput(
            _(
                "several townships have a village named '{name}': {choices}; write TOWNSHIP/VILLAGE"
            ).format(name=name, choices=_(", ").join(f"{t}/{name}" for t in townships))
        )
    return Place(
        level,
        name,
        f"{townships[0]}{name}",
        and_(CASE.c.township == townships[0], CASE.c.village == name),
    )


def person_labels(org: Org) -> Callable[[str], str]:
    """A person of a 包保 chain by position and name, e.g. 包村乡镇干部李春燕 (the ledger
    has the place in its own columns); an id the organisation no longer has, as is."""
    cache: dict[str, str] = {}

    def label(person_id: str) -> str:
        found = cache.get(person_id)
        if found is None:
            person = org.people.get(person_id)
            found = (
                f"{POSITIONS.get(person.position, person.position)}{person.name}"
                if person is not None
                else person_id
            )
            cache[person_id] = found
        return found

    return label


@dataclass
class Ledger:
    """A ledger ready to be read: ``rows()`` reads it batch by batch."""

    ctx: Context
    place: Place
    as_of: date
    title: str
    batch_size: int = BATCH
    kind: str = "work"
    header: str = ""
    footer: str = FOOTER
    reveal: bool = False  # the reader may see full ID numbers: phones, birth dates in full

    @property
    def group_labels(self) -> Mapping[str, str]:
        """The special groups' labels, by the vocabulary in force."""
        return self.ctx.current_workflow.special_groups

    @property
    def columns(self) -> tuple[Column, ...]:
        return kind_columns(self.kind)

    @property
    def key_columns(self) -> frozenset[str]:
        return KEY_COLUMNS

    @property
    def categories(self) -> tuple[str, ...] | None:
        return KINDS[self.kind][1]

    def _where(self, connection: Connection | None = None) -> list[ColumnElement[bool]]:
        where = [*self.place.where(), CASE.c.opened_on <= self.as_of]
        if self.categories is not None and connection is not None:
            # The state on the day asked for decides; a case that changed since is read
            # back (``_build``) and kept or left out then.
            states = Workflows().states_in(connection, *self.categories)
            where.append(or_(CASE.c.state.in_(sorted(states)), CASE.c.last_event_on > self.as_of))
        return where

    def count(self) -> int:
        """How many rows the ledger has (for a progress bar; of a kind, at most that)."""
        with db.read(self.ctx.engine) as connection:
            query = scoped(
                select(func.count()).select_from(CASE).where(*self._where(connection)),
                self.ctx.actor,
            )
            return int(connection.execute(query).scalar_one())

    def rows(self) -> Iterator[LedgerRow]:
        """The rows in case-number order, read a batch at a time; the read is logged when
        the rows have been consumed (or the consumer stopped)."""
        ctx = self.ctx
        numbers = CaseNumbers()
        workflows = Workflows()
        with db.read(ctx.engine) as connection:
            labels = _Labels(person_labels(org_in_force(connection)), CHAINS[self.place.level])
            query = (
                scoped(_CASES.where(*self._where(connection)), ctx.actor)
                .where(CASE.c.id > bindparam("after"))
                .order_by(CASE.c.id)
                .limit(bindparam("batch"))
            )
        after = 0
        try:
            while True:
                with db.read(ctx.engine) as connection:
                    batch = connection.execute(
                        query, {"after": after, "batch": self.batch_size}
                    ).all()
                    if not batch:
                        break
                    built = self._build(connection, batch, workflows, labels)
                for row in built:
                    numbers.add(row.number)
                    yield row
                after = batch[-1].id
        finally:
            if numbers.total:
                scope = {
                    "kind": self.kind if self.kind != "work" else None,
                    "level": self.place.level,
                    "unit": self.place.unit,
                    "as_of": self.as_of.isoformat(),
                }
                with db.write(ctx.engine) as connection:
                    log_read(
                        ctx,
                        connection,
                        "ledger",
                        numbers,
                        **{k: v for k, v in scope.items() if v is not None},
                    )

    def _build(
        self,
        connection: Connection,
        batch: Sequence[Any],
        workflows: Workflows,
        labels: _Labels,
    ) -> list[LedgerRow]:
        as_of, calendar, reveal = self.as_of, self.ctx.calendar, self.reveal
        wanted = self.categories
        notes = latest_notes(connection, [row.id for row in batch], as_of)
        special = groups_by_case(connection, [row.id for row in batch], self.group_labels)
        guardians = guardians_of(connection, [row.child_id for row in batch], reveal=reveal)
        read: list[tuple[tuple[Any, ...], Workflow, Any]] = []
        histories_wanted = []
        for row in batch:
            values = tuple(row)  # unpacked by position: much cheaper than by attribute
            number, workflow_name, workflow_version, *_rest = values
            last_event_on, facts_text = values[7], values[11]
            workflow = workflows.get(connection, workflow_name, workflow_version)
            steps = step_fields(workflow)
            facts = None
            if facts_text and any(t in facts_text for t in steps.quoted):
                facts = json.loads(facts_text)
            read.append((values, workflow, facts))
            if last_event_on > as_of or (
                facts is not None and any(t in facts for t in steps.returning)
            ):
                histories_wanted.append(number)
        histories = case_events(connection, histories_wanted) if histories_wanted else {}
        built = []
        for values, stored_workflow, stored_facts in read:
            (
                number,
                workflow_name,
                workflow_version,
                state,
                entered_on,
                is_open,
                opened_on,
                last_event_on,
                due_on,
                due_provisional,
                reasons,
                facts_text,
                chain,
                township,
                village,
                school,
                name,
                id_number,
                child_id,
                sex,
                birth_date,
                ethnicity,
                student_number,
                grade,
                class_name,
            ) = values
            workflow, facts = stored_workflow, stored_facts
            history = histories.get(number)
            if history is not None and last_event_on > as_of:
                # What the steps had recorded by then, not what they record now.
                facts = facts_then(history, as_of)
                facts_text = json.dumps(facts, ensure_ascii=False)
                then = replay(history, workflow, until=as_of)
                if then.state is not None and then.entered_on is not None:
                    state, entered_on, is_open = then.state, then.entered_on, then.is_open
                    due_on, due_provisional = then.due_on, then.due_provisional
                    if then.workflow_version not in (None, workflow_version):
                        workflow = workflows.get(connection, workflow_name, then.workflow_version)
            if wanted is not None and workflow.category_of(state) not in wanted:
                continue
            confirmed = closed = None
            recorded = recorded_reasons(workflow)
            if facts_text and any(t in facts_text for t in recorded.quoted):
                parsed = facts if facts is not None else json.loads(facts_text)
                confirmed, closed = recorded.read(parsed, is_open=is_open)
            registered = None
            if facts_text and '"disability"' in facts_text:
                evidence = json.loads(facts_text).get("evidence")
                if isinstance(evidence, dict) and evidence.get("disability"):
                    registered = str(evidence["disability"])
            note = notes.get(number)
            case = CaseFacts(
                number,
                name,
                mask_id_number(id_number),
                township,
                village,
                school,
                state,
                entered_on,
                is_open,
                opened_on,
                due_on,
                due_provisional,
                labels.reasons(workflow, reasons, confirmed),
                labels.responsible(chain),
                closed,
                note.day if note else None,
                NOTE_METHODS.get(note.method, note.method) if note else None,
                sex=sex,
                birth=birth_shown(birth_date, reveal=reveal),
                ethnicity=ethnicity,
                student_number=(
                    None
                    if not student_number
                    else student_number
                    if reveal
                    else mask_value("student_number", student_number)
                ),
                grade_class=grade_class(grade, class_name),
                guardian=guardians.get(child_id),
                groups=special.get(number, ()),
                persuasions=note.persuasions(workflow) if note else 0,
                recorded=step_fields(workflow).read(facts) if facts is not None else None,
                returned_on=(
                    returned_on(workflow, moves(history), as_of) if history is not None else None
                ),
            )
            built.append(
                ledger_row(
                    case,
                    workflow,
                    as_of=as_of,
                    calendar=calendar,
                    registered_disability=registered,
                )
            )
        return built


def facts_then(history: Sequence[Any], until: date) -> dict[str, Any]:
    """A case's facts (trigger -> its last values, the latest trigger last) as its steps
    had recorded them by the end of ``until``."""
    facts: dict[str, Any] = {}
    for event in history:
        if event.occurred_on is not None and event.occurred_on > until:
            break
        trigger, values = event.payload.get("trigger"), event.payload.get("values")
        if event.action == "case.transition" and isinstance(trigger, str):
            facts.pop(trigger, None)
            facts[trigger] = values if isinstance(values, dict) else {}
    return facts


def moves(history: Sequence[Any]) -> list[tuple[date | None, str, str]]:
    """The state changes of a case's events: (day, from, to), oldest first."""
    found = []
    for event in history:
        if event.action == "case.transition":
            source, dest = event.payload.get("from"), event.payload.get("to")
            if isinstance(source, str) and isinstance(dest, str):
                found.append((event.occurred_on, source, dest))
    return found


def guardians_of(
    connection: Connection, child_ids: Sequence[int], *, reveal: bool
) -> dict[int, str]:
    """Each child's guardians (the first two recorded) as the ledger shows them: name,
    relation and phone, the phone masked unless the reader may see full ID numbers."""
    found: dict[int, list[str]] = {}
    if not child_ids:
        return {}
    for child_id, name, relation, phone in connection.execute(
        _GUARDIANS, {"ids": sorted(set(child_ids))}
    ):
        people = found.setdefault(child_id, [])
        if len(people) == 2:
            continue
        text = f"{name}（{relation}）" if relation else str(name)
        if phone:
            text += f" {phone if reveal else mask_phone(phone)}"
        people.append(text)
    return {child_id: "；".join(people) for child_id, people in found.items()}


class _Labels:
    """Reasons and 包保 chains as labels, worked out once per distinct stored text."""

    LIMIT = 10_000

    def __init__(self, person_label: Callable[[str], str], roles: Sequence[str]) -> None:
        self.person_label = person_label
        self.roles = roles
        self._reasons: dict[tuple[Workflow, str | None, str | None], tuple[str, ...]] = {}
        self._chains: dict[str | None, tuple[str, ...]] = {}

    def reasons(
        self, workflow: Workflow, stored: str | None, confirmed: str | None
    ) -> tuple[str, ...]:
        key = (workflow, stored, confirmed)
        found = self._reasons.get(key)
        if found is None:
            codes = json.loads(stored) if stored else []
            found = reason_labels(workflow.dropout_reasons, [str(c) for c in codes], confirmed)
            if len(self._reasons) >= self.LIMIT:
                self._reasons.clear()
            self._reasons[key] = found
        return found

    def responsible(self, stored: str | None) -> tuple[str, ...]:
        found = self._chains.get(stored)
        if found is None:
            chain = json.loads(stored) if stored else {}
            found = responsible_people(chain, self.roles, self.person_label)
            if len(self._chains) >= self.LIMIT:
                self._chains.clear()
            self._chains[stored] = found
        return found


@dataclass
class Notes:
    """A case's notes on or before the ledger's day: the latest one's day and method, and
    how many were made in each state."""

    day: date
    method: str
    by_state: dict[str | None, int]

    def persuasions(self, workflow: Workflow) -> int:
        """The notes made while the family was being persuaded (``PERSUADING``)."""
        return sum(
            count
            for state, count in self.by_state.items()
            if state is None or workflow.category_of(state) in PERSUADING
        )


def latest_notes(connection: Connection, ids: Sequence[int], until: date) -> dict[int, Notes]:
    """Each case's notes (persuasion attempts) on or before ``until``."""
    latest: dict[int, tuple[str, int, str]] = {}
    states: dict[int, dict[str | None, int]] = {}
    if not ids:
        return {}
    wanted = set(ids)
    first, last = min(wanted), max(wanted)
    if last - first < 4 * len(wanted):
        rows = connection.execute(
            _NOTES_BETWEEN, {"first": first, "last": last, "until": until.isoformat()}
        )
    else:
        rows = connection.execute(_NOTES_OF, {"ids": list(ids), "until": until.isoformat()})
    for case_id, seq, occurred_on, payload in rows:
        if case_id not in wanted:
            continue
        data = json.loads(payload)
        known = latest.get(case_id)
        if known is None or (occurred_on, seq) > known[:2]:
            latest[case_id] = (occurred_on, seq, str(data.get("method") or "other"))
        state = data.get("state")
        counted = states.setdefault(case_id, {})
        key = state if isinstance(state, str) else None
        counted[key] = counted.get(key, 0) + 1
    return {
        case_id: Notes(date.fromisoformat(occurred_on), method, states[case_id])
        for case_id, (occurred_on, _seq, method) in latest.items()
    }


def open_ledger(
    ctx: Context,
    *,
    level: str = "county",
    unit: str | None = None,
    as_of: date | None = None,
    batch_size: int = BATCH,
    kind: str | None = None,
) -> Ledger | RegisterLedger:
    """The ledger of a kind (``caseflow.ledger.KIND_NAMES``; default the 控辍保学工作台账),
    level (and unit) as of a day (default today; not in the future)."""
    day = as_of or ctx.today
    if day > ctx.today:
        raise InvalidInput(
            _(
                "--as-of {day} is in the future; a ledger stands as of today or an earlier day"
            ).format(day=day.isoformat())
        )
    if batch_size < 1:
        raise InvalidInput(_("a batch must read at least 1 case"))
    chosen = find_kind(kind)
    with db.read(ctx.engine) as connection:
        heading = header(filling_unit(ctx, connection), day, ctx.today)
    reveal = bool(ctx.actor.roles & ctx.workspace.reveal_roles)
    if chosen == CULTURAL:
        return open_register_ledger(
            ctx,
            level=level,
            unit=unit,
            as_of=day,
            heading=heading,
            reveal=reveal,
            batch_size=batch_size,
        )
    place = find_place(ctx, level, unit)
    named = (
        f"{ctx.workspace.county}{UNPLACED_TITLE}（截至{spoken(day)}）"
        if place.unplaced
        else title(ctx.workspace.county, place.label, day, chosen)
    )
    if place.unplaced and chosen != "work":
        named = named.replace(UNPLACED_TITLE, f"地址待核实{KINDS[chosen][0]}")
    return Ledger(ctx, place, day, named, batch_size, chosen, header=heading, reveal=reveal)


def filling_unit(ctx: Context, connection: Connection) -> str:
    """填报单位: the unit of the operator's account in org.yaml, else the township or
    school the account is limited to, else the county's education bureau."""
    unit_id = connection.execute(
        select(OPERATOR.c.unit).where(OPERATOR.c.name == ctx.actor.operator)
    ).scalar()
    unit = org_in_force(connection).units.get(unit_id) if unit_id else None
    if unit is not None:
        return unit.name
    where = ctx.actor.jurisdiction
    if where.kind in ("township", "school"):
        return where.name
    return f"{ctx.workspace.county}教育局"


def _counting(rows: Iterable[Any], progress: Callable[[int], None] | None) -> Iterator[Any]:
    if progress is None:
        yield from rows
        return
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending == 1000:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)


def write_ledger(
    ledger: Ledger | RegisterLedger,
    fmt: str | None = None,
    output: Path | None = None,
    *,
    stream: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the ledger to ``output`` (through a temporary file, renamed into place when
    complete) or to ``stream`` (default stdout) in ``fmt`` (default: by the file's
    extension, else a table). A table on the terminal has the key columns only and says
    how to get them all. Returns the number of rows."""
    chosen = output_format(output, fmt)
    rows = _counting(ledger.rows(), progress)
    columns = ledger.columns
    keys = tuple(c.key for c in columns)
    if output is None:
        if chosen == "table":
            shown = tuple(c for c in columns if c.key in ledger.key_columns)
            count = _write(chosen, stream or sys.stdout, rows, ledger, shown)
            if count:
                (stream or sys.stdout).write(
                    f"（终端仅列主要栏目；完整台账共{len(columns)}栏，请用 -o 文件名.xlsx "
                    "导出，亦可导出 .csv、.md、.json）\n"
                )
            return count
        return _write(chosen, stream or sys.stdout, rows, ledger, columns)
    with replacing(output) as temporary:
        if chosen == "xlsx":
            return write_xlsx(
                temporary,
                columns,
                (row.cells(i, keys) for i, row in enumerate(rows, start=1)),
                title=ledger.title,
                sheet_name="台账",
                header=ledger.header,
                footer=ledger.footer,
            )
        encoding = "utf-8-sig" if chosen == "csv" else "utf-8"
        with temporary.open("w", encoding=encoding, newline="") as handle:
            return _write(chosen, handle, rows, ledger, columns)


def _write(
    fmt: str,
    stream: IO[str],
    rows: Iterator[Any],
    ledger: Ledger | RegisterLedger,
    columns: Sequence[Column],
) -> int:
    keys = tuple(c.key for c in columns)
    cells = (row.cells(i, keys) for i, row in enumerate(rows, start=1))
    if fmt == "csv":
        return write_csv(stream, columns, cells)
    if fmt == "md":
        count = write_markdown(stream, columns, cells, title=ledger.title, header=ledger.header)
        if count:
            stream.write(f"\n{ledger.footer}\n")
        return count
    if fmt == "json":
        return write_json(stream, (row.as_json() for row in rows))
    if fmt == "table":
        return write_text_table(stream, columns, cells, title=ledger.title)
    raise InvalidInput(
        _("the {format} format is written to a file: -o FILE.{format}").format(format=fmt)
    )


# ---------------------------------------------------------------------------------------
# The 文化户口台账 (from the registers)

_OPEN_CASES_OF = (
    select(CHILD.c.id_number, CASE.c.id)
    .select_from(CASE)
    .join(CHILD, CHILD.c.id == CASE.c.child_id)
    .where(CASE.c.is_open, CHILD.c.id_number.in_(bindparam("numbers", expanding=True)))
)
_REGISTER_FIELDS = (
    "id_number",
    "name",
    "sex",
    "birth_date",
    "township",
    "village",
    "group_name",
    "guardian",
    "phone",
    "school",
    "grade",
    "class_name",
    "status",
)


@dataclass
class RegisterLedger:
    """The 文化户口台账 of an area: every child of school age (6-15 on the school year's
    first day of ``as_of``) in the household register of the county, a township or a
    village, or in the student register of a school, with the school, grade and status
    the student register gives (无学籍: none), a column for the special groups and the
    number of the child's open case. Read from the current snapshots in batches."""

    ctx: Context
    level: str
    unit: str | None
    township: str | None
    village: str | None
    school: str | None
    as_of: date
    title: str
    header: str
    reveal: bool
    snapshots: Mapping[str, Path]
    batch_size: int = BATCH
    footer: str = FOOTER
    kind: str = CULTURAL

    @property
    def columns(self) -> tuple[Column, ...]:
        return REGISTER_COLUMNS

    @property
    def key_columns(self) -> frozenset[str]:
        return REGISTER_KEY_COLUMNS

    def count(self) -> int:
        return -1  # not known before the registers are read

    def _sql(self, present: Mapping[str, set[str]]) -> tuple[str, list[Any]]:
        from caseflow.roster import DEFAULT_AGES, ENROLLED, birth_band, reference_date

        def table(source: str) -> str:
            picked = ", ".join(
                name if name in present[source] else f"NULL AS {name}" for name in _REGISTER_FIELDS
            )
            return f"(SELECT {picked} FROM read_parquet(?))"

        low, high = birth_band(reference_date(self.as_of), *DEFAULT_AGES)
        params: list[Any] = []
        enrolled = ", ".join("?" for _ in ENROLLED)
        # Each child once: the student record of a school the child attends first.
        students = (
            f"s AS (SELECT DISTINCT ON (id_number) * FROM {table('student')} "
            f"WHERE id_number IS NOT NULL ORDER BY id_number, status IN ({enrolled}) DESC)"
        )
        households = (
            f"h AS (SELECT DISTINCT ON (id_number) * FROM {table('household')} "
            "WHERE id_number IS NOT NULL ORDER BY id_number)"
        )
        band = "substr(base.id_number, 7, 8) BETWEEN ? AND ?"
        if self.school is not None:
            ctes = [students] + ([households] if "household" in present else [])
            params += [str(self.snapshots["student"]), *ENROLLED]
            if "household" in present:
                params.append(str(self.snapshots["household"]))
            other = "h" if "household" in present else None
            base, where = "s", "base.school = ?"
            where_params = [self.school]
        else:
            ctes = [households] + ([students] if "student" in present else [])
            params.append(str(self.snapshots["household"]))
            if "student" in present:
                params += [str(self.snapshots["student"]), *ENROLLED]
            other = "s" if "student" in present else None
            base, where_params = "h", []
            conditions = []
            if self.township is not None:
                conditions.append("base.township = ?")
                where_params.append(self.township)
            if self.village is not None:
                conditions.append("base.village = ?")
                where_params.append(self.village)
            where = " AND ".join(conditions) or "true"
        h = "base" if base == "h" else ("o" if other else None)
        s = "base" if base == "s" else ("o" if other else None)

        def pick(alias: str | None, name: str) -> str:
            return f"{alias}.{name}" if alias else "NULL"

        def either(name: str) -> str:
            return f"coalesce({pick(h, name)}, {pick(s, name)})"

        columns = [
            "base.id_number",
            either("name"),
            either("sex"),
            either("birth_date"),
            either("township"),
            either("village"),
            pick(h, "group_name"),
            either("guardian"),
            either("phone"),
            pick(s, "school"),
            pick(s, "grade"),
            pick(s, "class_name"),
            pick(s, "status"),
        ]
        join = f"LEFT JOIN {other} o USING (id_number) " if other else ""
        sql = (
            f"WITH {', '.join(ctes)} SELECT {', '.join(columns)} FROM {base} base {join}"
            f"WHERE {band} AND {where} "
            "ORDER BY base.township NULLS LAST, base.village NULLS LAST, base.id_number"
        )
        return sql, [*params, low, high, *where_params]

    def rows(self) -> Iterator[RegisterChild]:
        import duckdb

        from caseflow.services.snapshots import MEMORY_LIMIT

        ctx = self.ctx
        connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
        total = 0
        cases = CaseNumbers()
        try:
            present = {}
            for source, path in self.snapshots.items():
                if not path.exists():
                    raise InvalidInput(
                        _(
                            "the snapshot {file} of the {register} register is no longer in the "
                            "workspace; import that register again"
                        ).format(file=path.name, register=source)
                    )
                present[source] = {
                    str(name)
                    for (name,) in connection.execute(
                        "SELECT name FROM parquet_schema(?)", [str(path)]
                    ).fetchall()
                }
            sql, params = self._sql(present)
            result = connection.execute(sql, params)
            while True:
                batch = result.fetchmany(self.batch_size)
                if not batch:
                    break
                with db.read(ctx.engine) as store:
                    open_cases: dict[str, int] = dict(
                        store.execute(
                            scoped(_OPEN_CASES_OF, ctx.actor),
                            {"numbers": [row[0] for row in batch]},
                        ).all()
                    )
                    groups = groups_by_id_number(ctx, store, [row[0] for row in batch])
                for (
                    number,
                    name,
                    sex,
                    birth,
                    township,
                    village,
                    group,
                    guardian,
                    phone,
                    school,
                    grade,
                    class_name,
                    status,
                ) in batch:
                    shown_guardian = guardian or ""
                    if phone:
                        masked = phone if self.reveal else mask_phone(str(phone))
                        shown_guardian = f"{shown_guardian} {masked}".strip()
                    case = open_cases.get(number)
                    if case is not None:
                        cases.add(case)
                    total += 1
                    yield RegisterChild(
                        name=name or "",
                        id_number=mask_id_number(number),
                        sex=sex,
                        birth=birth_shown(birth, reveal=self.reveal),
                        township=township,
                        village=village,
                        group=group,
                        guardian=shown_guardian or None,
                        school=school,
                        grade_class=grade_class(grade, class_name),
                        status=status or NO_STUDENT_RECORD,
                        open_case=case,
                        groups=groups.get(number, ()),
                    )
        finally:
            connection.close()
            scope = {
                "kind": CULTURAL,
                "level": self.level,
                "unit": self.unit,
                "as_of": self.as_of.isoformat(),
                "children": total,
            }
            with db.write(ctx.engine) as store:
                log_read(
                    ctx, store, "ledger", cases, **{k: v for k, v in scope.items() if v is not None}
                )


def open_register_ledger(
    ctx: Context,
    *,
    level: str,
    unit: str | None,
    as_of: date,
    heading: str,
    reveal: bool,
    batch_size: int,
) -> RegisterLedger:
    """The 文化户口台账 of a level and unit, within the operator's jurisdiction: a
    township account has its township's, a school account its school's."""
    from caseflow.services.snapshots import current_snapshots

    require(ctx, REGISTER_READERS, "ledger --kind 文化户口")
    if level not in LEVELS:
        find_place(ctx, level, unit)  # refuses, naming the levels
    name = unit.strip() if unit else None
    if level == "county" and name:
        raise InvalidInput(
            _(
                "the county's cultural-record ledger holds every school-age child of the county "
                "(as far as you may see) and needs no --unit"
            )
        )
    if level != "county" and not name:
        raise InvalidInput(
            _("the {level} cultural-record ledger needs --unit naming the unit").format(
                level=_(LEVEL_WORDS[level])
            )
        )
    township = village = school = None
    if level == "township":
        township = name
    elif level == "village":
        assert name is not None
        before, slash, after = name.partition("/")
        township, village = (before.strip(), after.strip()) if slash else (None, name)
    elif level == "school":
        school = name
    where = ctx.actor.jurisdiction
    if where.kind == "township":
        if township not in (None, where.name) or level == "school":
            raise InvalidInput(
                _(
                    "your account is limited to {unit}; you may see only {unit}'s cultural-record "
                    "ledger"
                ).format(unit=where.name)
            )
        township = where.name
    if where.kind == "school" and (level != "school" or school != where.name):
        raise InvalidInput(
            _("your account is limited to {unit}; use --level school --unit {unit}").format(
                unit=where.name
            )
        )
    snapshots = current_snapshots(ctx)
    needed = "student" if school is not None else "household"
    if needed not in snapshots:
        raise InvalidInput(
            _(
                "the cultural-record ledger is made from the student register (学籍), which "
                "is not imported yet; run caseflow roster import student FILE first"
            )
            if needed == "student"
            else _(
                "the cultural-record ledger is made from the household register (户籍), "
                "which is not imported yet; run caseflow roster import household FILE first"
            )
        )
    if school is None and "student" not in snapshots:
        raise InvalidInput(
            _(
                "the cultural-record ledger states each child's schooling, and the student "
                "register (学籍) is not imported yet; run caseflow roster import student FILE "
                "first"
            )
        )
    place = {
        "county": "" if where.kind != "township" else where.name,
        "township": township or "",
        "village": f"{township or ''}{village or ''}",
        "school": school or "",
    }[level]
    return RegisterLedger(
        ctx,
        level,
        name,
        township,
        village,
        school,
        as_of,
        title(ctx.workspace.county, place, as_of, CULTURAL),
        heading,
        reveal,
        {k: v for k, v in snapshots.items() if k in ("household", "student")},
        batch_size,
    )
