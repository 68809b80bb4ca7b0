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

from sqlalchemy import ColumnElement, Connection, Text, and_, bindparam, cast, func, select

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.exports import (
    output_format,
    replacing,
    write_csv,
    write_json,
    write_markdown,
    write_text_table,
    write_xlsx,
)
from caseflow.ids import mask_id_number
from caseflow.ledger import (
    CHAINS,
    COLUMNS,
    LEVELS,
    CaseFacts,
    LedgerRow,
    ledger_row,
    reason_labels,
    recorded_reasons,
    responsible_people,
    title,
)
from caseflow.org import POSITIONS, Org
from caseflow.services.context import Context
from caseflow.services.groups import groups_by_case
from caseflow.services.records import (
    BATCH,
    CASE,
    CHILD,
    EVENT,
    CaseNumbers,
    Workflows,
    case_events,
    log_read,
    org_in_force,
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
    )
    .select_from(CASE)
    .join(CHILD, CHILD.c.id == CASE.c.child_id)
)
_NOTES = select(EVENT.c.case_id, EVENT.c.seq, EVENT.c.occurred_on, EVENT.c.payload).where(
    EVENT.c.action == "case.note", EVENT.c.occurred_on <= bindparam("until")
)
_NOTES_OF = _NOTES.where(EVENT.c.case_id.in_(bindparam("ids", expanding=True)))
# A batch of case numbers close together (the usual case) is looked up as a range, which
# spares binding a thousand parameters; the notes of cases in the range but not in the
# batch (another jurisdiction's) are read past, never shown.
_NOTES_BETWEEN = _NOTES.where(EVENT.c.case_id.between(bindparam("first"), bindparam("last")))


@dataclass(frozen=True)
class Place:
    """Where a ledger looks: its level, the unit as asked, its name for the title, and the
    condition on ``case_file`` (None: every case the operator may see)."""

    level: str
    unit: str | None
    label: str
    condition: ColumnElement[bool] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        return [] if self.condition is None else [self.condition]


def find_place(ctx: Context, level: str, unit: str | None) -> Place:
    """The unit a ledger is for; a village as 镇/村, or by its name alone when only one
    township (among the operator's cases) has a village of that name."""
    if level not in LEVELS:
        raise InvalidInput(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    name = unit.strip() if unit is not None else None
    if level == "county":
        if name:
            raise InvalidInput(
                "--unit is for township, village and school ledgers; the county ledger "
                "holds every case you may see"
            )
        where = ctx.actor.jurisdiction
        label = where.name if where.kind in ("township", "school") else ""
        return Place(level, None, label)
    if not name:
        example = {"township": "天堂镇", "village": "天堂镇/天堂村", "school": "天堂镇中心小学"}
        raise InvalidInput(f"a {level} ledger needs --unit, e.g. --unit {example[level]}")
    if level == "township":
        return Place(level, name, name, CASE.c.township == name)
    if level == "school":
        return Place(level, name, name, CASE.c.school == name)
    township, slash, village = name.partition("/")
    if slash:
        township, village = township.strip(), village.strip()
        if not township or not village:
            raise InvalidInput(f"--unit {name!r}: write a village as 镇/村, e.g. 天堂镇/天堂村")
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
            f"no case you may see is in a village named {name}; check the name, or write "
            "it as 镇/村"
        )
    if len(townships) > 1:
        raise InvalidInput(
            f"several townships have a village named {name}: "
            f"{', '.join(f'{t}/{name}' for t in townships)}; write it as 镇/村"
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

    @property
    def group_labels(self) -> Mapping[str, str]:
        """The special groups' labels, by the vocabulary in force."""
        return self.ctx.current_workflow.special_groups

    def _cases(self) -> Any:
        return scoped(
            _CASES.where(*self.place.where(), CASE.c.opened_on <= self.as_of), self.ctx.actor
        )

    def count(self) -> int:
        """How many rows the ledger has (for a progress bar)."""
        query = scoped(
            select(func.count())
            .select_from(CASE)
            .where(*self.place.where(), CASE.c.opened_on <= self.as_of),
            self.ctx.actor,
        )
        with db.read(self.ctx.engine) as connection:
            return int(connection.execute(query).scalar_one())

    def rows(self) -> Iterator[LedgerRow]:
        """The rows in case-number order, read a batch at a time; the read is logged when
        the rows have been consumed (or the consumer stopped)."""
        ctx = self.ctx
        query = (
            self._cases()
            .where(CASE.c.id > bindparam("after"))
            .order_by(CASE.c.id)
            .limit(bindparam("batch"))
        )
        numbers = CaseNumbers()
        workflows = Workflows()
        with db.read(ctx.engine) as connection:
            labels = _Labels(person_labels(org_in_force(connection)), CHAINS[self.place.level])
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
        as_of, calendar = self.as_of, self.ctx.calendar
        notes = latest_notes(connection, [row.id for row in batch], as_of)
        special = groups_by_case(connection, [row.id for row in batch], self.group_labels)
        changed = [row.id for row in batch if row.last_event_on > as_of]
        histories = case_events(connection, changed) if changed else {}
        built = []
        for (
            number,
            workflow_name,
            workflow_version,
            stored_state,
            stored_entered_on,
            stored_is_open,
            opened_on,
            _last_event_on,
            stored_due_on,
            stored_due_provisional,
            reasons,
            facts_text,
            chain,
            township,
            village,
            school,
            name,
            id_number,
        ) in batch:  # unpacked as a tuple: much cheaper than attribute access per column
            workflow = workflows.get(connection, workflow_name, workflow_version)
            state, entered_on, is_open = stored_state, stored_entered_on, stored_is_open
            due_on, due_provisional = stored_due_on, stored_due_provisional
            if number in histories:
                then = replay(histories[number], workflow, until=as_of)
                if then.state is not None and then.entered_on is not None:
                    state, entered_on, is_open = then.state, then.entered_on, then.is_open
                    due_on, due_provisional = then.due_on, then.due_provisional
                    if then.workflow_version not in (None, workflow_version):
                        workflow = workflows.get(connection, workflow_name, then.workflow_version)
            confirmed = closed = None
            recorded = recorded_reasons(workflow)
            if facts_text and any(f'"{t}"' in facts_text for t in recorded.triggers):
                confirmed, closed = recorded.read(json.loads(facts_text), is_open=is_open)
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
                note[0] if note else None,
                NOTE_METHODS.get(note[1], note[1]) if note else None,
                special.get(number, ()),
            )
            built.append(ledger_row(case, workflow, as_of=as_of, calendar=calendar))
        return built


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


def latest_notes(
    connection: Connection, ids: Sequence[int], until: date
) -> dict[int, tuple[date, str]]:
    """Each case's latest note (persuasion attempt) on or before ``until``: day, method."""
    latest: dict[int, tuple[str, int, str]] = {}
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
        known = latest.get(case_id)
        if known is None or (occurred_on, seq) > known[:2]:
            latest[case_id] = (occurred_on, seq, payload)
    found = {}
    for case_id, (occurred_on, _seq, payload) in latest.items():
        method = json.loads(payload).get("method") or "other"
        found[case_id] = (date.fromisoformat(occurred_on), str(method))
    return found


def open_ledger(
    ctx: Context,
    *,
    level: str = "county",
    unit: str | None = None,
    as_of: date | None = None,
    batch_size: int = BATCH,
) -> Ledger:
    """The ledger of a level (and unit) as of a day (default today; not in the future)."""
    day = as_of or ctx.today
    if day > ctx.today:
        raise InvalidInput(
            f"--as-of {day.isoformat()} is in the future; a ledger stands as of today or "
            "an earlier day"
        )
    if batch_size < 1:
        raise InvalidInput("the batch size must be at least 1")
    place = find_place(ctx, level, unit)
    return Ledger(ctx, place, day, title(ctx.workspace.county, place.label, day), batch_size)


def _counting(
    rows: Iterable[LedgerRow], progress: Callable[[int], None] | None
) -> Iterator[LedgerRow]:
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
    ledger: Ledger,
    fmt: str | None = None,
    output: Path | None = None,
    *,
    stream: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the ledger to ``output`` (through a temporary file, renamed into place when
    complete) or to ``stream`` (default stdout) in ``fmt`` (default: by the file's
    extension, else a table). Returns the number of rows."""
    chosen = output_format(output, fmt)
    rows = _counting(ledger.rows(), progress)
    if output is None:
        return _write(chosen, stream or sys.stdout, rows, ledger.title)
    with replacing(output) as temporary:
        if chosen == "xlsx":
            return write_xlsx(
                temporary,
                COLUMNS,
                (row.cells(i) for i, row in enumerate(rows, start=1)),
                title=ledger.title,
                sheet_name="台账",
            )
        encoding = "utf-8-sig" if chosen == "csv" else "utf-8"
        with temporary.open("w", encoding=encoding, newline="") as handle:
            return _write(chosen, handle, rows, ledger.title)


def _write(fmt: str, stream: IO[str], rows: Iterator[LedgerRow], heading: str) -> int:
    cells = (row.cells(i) for i, row in enumerate(rows, start=1))
    if fmt == "csv":
        return write_csv(stream, COLUMNS, cells)
    if fmt == "md":
        return write_markdown(stream, COLUMNS, cells, title=heading)
    if fmt == "json":
        return write_json(stream, (row.as_json() for row in rows))
    if fmt == "table":
        return write_text_table(stream, COLUMNS, cells, title=heading)
    raise InvalidInput(f"{fmt} output needs a file: -o FILE.{fmt}")
