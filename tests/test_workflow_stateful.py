"""Random event sequences against a real database, checked against a model.

A hypothesis state machine opens cases, fires random triggers (declared from the case's
state or not) with generated field values as one of two bureau operators (a second-person
step is refused to whoever brought the case into its state), adds notes, and tries events
the engine must refuse. It keeps its own model of every case, derived only from the
workflow definition (``Workflow.find`` and ``states.unmet_requirements``), and checks after
every step that

* only declared, permitted transitions succeed; a refused event raises a CaseflowError
  and changes nothing (case state and version, audit event count);
* each success adds exactly one audit event, for that case, and bumps the version by one;
* every case's state, version, facts and repeat count equal the model's;
* the audit chain verifies.

Each example gets one fresh workspace: a SQLite file in a temporary folder, and (with
CASEFLOW_TEST_PG_URL set) a throwaway PostgreSQL schema.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import create_engine, text

from caseflow.engine import Actor, control_character
from caseflow.errors import (
    AccessDenied,
    CaseflowError,
    DuplicateCase,
    InvalidInput,
    TransitionRefused,
)
from caseflow.services.audit import audit_verify
from caseflow.services.cases import add_note, advance, list_cases, open_case, show_case
from caseflow.services.context import init_workspace, open_context
from caseflow.states import NOTE_METHODS, FieldSpec, Transition, Workflow, unmet_requirements
from tests.conftest import (
    PG_URL,
    approver,
    audit_trail,
    child,
    fixed_clock,
    pg_schema_url,
    put_issuing_org_in_force,
    set_order_issuer,
)

TODAY = date(2026, 11, 29)  # FIXED_NOW in the workspace's time zone
FIRST = date(2026, 11, 1)
SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None)

# Non-empty after stripping; any character except lone surrogates (not valid UTF-8).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s.strip() != ""
)


@dataclass
class CaseModel:
    serial: int
    state: str
    last_event_on: date
    version: int = 1
    repeat_count: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    due_on: date | None = None
    entered_on: date | None = None
    came_from: list[str] = field(default_factory=list)
    refusals: int = 0  # attempts refused for want of permission: in the case's history
    entered_by: str = ""  # the operator who moved the case into its current state


def _date_text(day: date) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            day.isoformat(),
            f"{day.year}/{day.month}/{day.day}",
            f"{day.year}年{day.month}月{day.day}日",
        ]
    )


@st.composite
def _field_value(
    draw: st.DrawFn, spec: FieldSpec, occurred_on: date, entered_on: date
) -> tuple[str, str | int]:
    """(what the caseworker types, what the engine should store)."""
    if spec.type == "choice":
        value, label = draw(st.sampled_from(spec.choices))
        return draw(st.sampled_from([value, label])), value
    if spec.type == "date":
        if spec.sets_due:
            day = occurred_on + timedelta(days=draw(st.integers(1, 200)))
        elif spec.starts_deadline and entered_on <= occurred_on and draw(st.booleans()):
            day = draw(st.dates(entered_on, occurred_on))  # mostly a day it may be
        else:
            day = draw(st.dates(FIRST, TODAY))
        return draw(_date_text(day)), day.isoformat()
    if spec.type == "integer":
        number = draw(st.integers(-10_000, 10_000))
        return str(number), number
    typed = draw(TEXT)
    return typed, typed.strip()


@st.composite
def field_values(
    draw: st.DrawFn, transition: Transition, occurred_on: date, entered_on: date = FIRST
) -> tuple[dict[str, str], dict[str, str | int]]:
    typed: dict[str, str] = {}
    stored: dict[str, str | int] = {}
    for spec in transition.fields:
        if not spec.required and not draw(st.booleans()):
            continue
        typed[spec.name], stored[spec.name] = draw(_field_value(spec, occurred_on, entered_on))
    return typed, stored


def refusal_expected(
    transition: Transition | None,
    model: CaseModel,
    actor: Actor,
    occurred_on: date,
    stored: dict[str, str | int],
) -> type[CaseflowError] | None:
    """What the workflow definition says about firing ``transition`` on the case: the
    error it is refused with, or None. Nobody ever sets the county's [procedure] here; a
    second-person step is refused to whoever brought the case into its state."""
    if transition is None or not actor.roles & set(transition.roles):
        return TransitionRefused
    if unmet_requirements(transition, model.counters):
        return TransitionRefused
    for guard in transition.guards:
        if guard == "second_person" and actor.operator == model.entered_by:
            return AccessDenied
        if guard == "deadline_passed" and (model.due_on is None or model.due_on >= occurred_on):
            return TransitionRefused
        if guard == "deadline_reached" and (model.due_on is None or model.due_on > occurred_on):
            return TransitionRefused
        if "=" in guard:
            return TransitionRefused
    if transition.returns and not model.came_from:
        return TransitionRefused
    for spec in transition.fields:
        if spec.starts_deadline and spec.name in stored:
            start = date.fromisoformat(str(stored[spec.name]))
            if model.entered_on is None or not model.entered_on <= start <= occurred_on:
                return InvalidInput
    return None


class WorkflowMachine(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="caseflow-stateful-"))
        self.schema: str | None = None
        url: str | None = None
        if self.backend == "postgresql":
            assert PG_URL is not None
            self.schema = f"cf_{uuid.uuid4().hex[:12]}"
            self._admin(f"CREATE SCHEMA {self.schema}")
            url = pg_schema_url(self.schema)
        root = self.folder / "county"
        _, operator = init_workspace(root, url, clock=fixed_clock)
        set_order_issuer(root, "township")
        put_issuing_org_in_force(root, operator)
        self.ctx = open_context(root, clock=fixed_clock)
        self.workflow: Workflow = self.ctx.current_workflow
        # Two bureau operators: one brings a case into a state, the other may approve.
        self.people = {c.actor.operator: c for c in (self.ctx, approver(self.ctx))}
        self.triggers = sorted(self.workflow.triggers())
        self.cases: dict[int, CaseModel] = {}
        self.next_serial = 1
        self.events = 2  # workspace.init, org.apply

    def _admin(self, statement: str) -> None:
        assert PG_URL is not None
        admin = create_engine(PG_URL)
        try:
            with admin.begin() as connection:
                connection.execute(text(statement))
        finally:
            admin.dispose()

    def teardown(self) -> None:
        self.ctx.engine.dispose()
        if self.schema is not None:
            self._admin(f"DROP SCHEMA {self.schema} CASCADE")
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- helpers ---------------------------------------------------------------------

    def is_open(self, model: CaseModel) -> bool:
        return not self.workflow.state(model.state).is_terminal

    def changes(self) -> list[dict[str, Any]]:
        """The audit trail without the logged reads of case files, and without the
        disclosures a step's letters record besides the step itself."""
        skipped = {"case.read", "data.disclosed"}
        return [e for e in audit_trail(self.ctx) if e["action"] not in skipped]

    def audit_events(self) -> int:
        result = audit_verify(self.ctx)
        assert result.intact, f"event {result.first_bad_seq}: {result.problem}"
        return len(self.changes())

    def check_case(self, number: int) -> dict[str, Any]:
        model = self.cases[number]
        shown = show_case(self.ctx, number)
        assert shown["state"] == model.state
        assert shown["version"] == model.version
        assert shown["is_open"] == self.is_open(model)
        assert shown["repeat_count"] == model.repeat_count
        assert shown["facts"] == model.facts
        if model.due_on is not None:
            assert shown["due_on"] == model.due_on.isoformat()
        history = [e for e in shown["history"] if e["action"] != "data.disclosed"]
        steps = [e for e in history if e["action"] != "access.refused"]
        assert len(steps) == model.version
        assert len(history) - len(steps) == model.refusals
        assert steps[-1]["occurred_on"] == model.last_event_on.isoformat()
        return shown

    def refused(self, number: int | None, attempt: Any, error: type[CaseflowError]) -> None:
        """`attempt` must raise `error` and leave the case and the audit trail as they were
        (but for the record of a refusal for want of permission, in the case's history)."""
        events = self.audit_events()
        before = show_case(self.ctx, number) if number is not None else None
        with pytest.raises(CaseflowError) as raised:
            attempt()
        assert isinstance(raised.value, error), repr(raised.value)
        if error is AccessDenied:
            self.events += 1
            events += 1
            assert self.changes()[-1]["action"] == "access.refused"
        assert self.audit_events() == events == self.events
        if number is not None:
            after = show_case(self.ctx, number)
            if error is AccessDenied:
                assert after["history"][-1]["action"] == "access.refused"
                after["history"].pop()
                self.cases[number].refusals += 1
            assert after == before
            self.check_case(number)

    def succeeded(self, number: int, action: str) -> dict[str, Any]:
        self.events += 1
        assert self.audit_events() == self.events
        self.check_case(number)
        last = self.changes()[-1]
        assert (last["action"], last["case"]) == (action, number)
        return last

    def opened(self, serial: int, occurred_on: date) -> CaseModel:
        initial = self.workflow.initial.id
        return CaseModel(
            serial,
            initial,
            occurred_on,
            due_on=self.deadline(initial, occurred_on),
            entered_on=occurred_on,
            entered_by=self.ctx.actor.operator,
        )

    def deadline(self, state: str, start: date) -> date | None:
        spec = self.workflow.state(state).deadline
        return None if spec is None else self.ctx.calendar.add(start, spec.amount, spec.unit).due_on

    # ---- rules -----------------------------------------------------------------------

    @initialize(occurred_on=st.dates(FIRST, TODAY))
    def open_first_case(self, occurred_on: date) -> None:
        self.open_case(occurred_on)

    @rule(occurred_on=st.dates(FIRST, TODAY))
    def open_case(self, occurred_on: date) -> None:
        serial = self.next_serial
        self.next_serial += 1
        # With a parent on record, so an order to correct has its legal guardian.
        details = child(serial, guardian_name="张大山", guardian_relation="父亲")
        number = open_case(self.ctx, details, occurred_on=occurred_on).number
        assert number not in self.cases
        self.cases[number] = self.opened(serial, occurred_on)
        last = self.succeeded(number, "case.open")
        assert last["payload"]["state"] == self.workflow.initial.id

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), occurred_on=st.dates(FIRST, TODAY))
    def open_case_for_a_known_child(self, data: st.DataObject, occurred_on: date) -> None:
        """A child gets a new case only once every earlier case of theirs is closed."""
        serial = data.draw(st.sampled_from(sorted({m.serial for m in self.cases.values()})))
        if any(m.serial == serial and self.is_open(m) for m in self.cases.values()):
            self.refused(
                None,
                lambda: open_case(self.ctx, child(serial), occurred_on=occurred_on).number,
                DuplicateCase,
            )
            return
        number = open_case(self.ctx, child(serial), occurred_on=occurred_on).number
        self.cases[number] = self.opened(serial, occurred_on)
        self.succeeded(number, "case.open")

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def fire(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.cases)), label="case")
        model = self.cases[number]
        declared = sorted(t.trigger for t in self.workflow.transitions_from(model.state))
        anything = st.sampled_from(self.triggers)
        # Two parts declared from this state to one part any trigger of the workflow, so
        # that cases get deep into the workflow and the refusals are still exercised.
        choices = [st.sampled_from(declared)] * 2 if declared else []
        trigger = data.draw(st.one_of(*choices, anything), label="trigger")
        occurred_on = data.draw(st.dates(model.last_event_on, TODAY), label="occurred_on")
        note = data.draw(st.none() | TEXT, label="note")
        ctx = self.people[data.draw(st.sampled_from(sorted(self.people)), label="operator")]
        transition = self.workflow.find(trigger, model.state)
        typed: dict[str, str] = {}
        stored: dict[str, str | int] = {}
        if transition is not None:
            typed, stored = data.draw(
                field_values(transition, occurred_on, model.entered_on or FIRST), label="values"
            )

        def attempt() -> None:
            advance(ctx, number, trigger, typed, note=note, occurred_on=occurred_on)

        error = refusal_expected(transition, model, ctx.actor, occurred_on, stored)
        if error is None and any(
            control_character(v.strip().replace("\r\n", "\n")) for v in typed.values()
        ):
            error = InvalidInput
        if error is not None:
            self.refused(number, attempt, error)
            return
        assert transition is not None
        attempt()
        source = model.state
        dest = model.came_from[-1] if transition.returns else transition.dest
        start = next(
            (
                date.fromisoformat(str(stored[f.name]))
                for f in transition.fields
                if f.starts_deadline and f.name in stored
            ),
            occurred_on,
        )
        if dest == source:
            if all(str(stored.get(name)) == value for name, value in transition.counts_when):
                model.counters[trigger] = model.counters.get(trigger, 0) + 1
        else:
            model.counters = {}
            model.entered_on = occurred_on
            model.entered_by = ctx.actor.operator
            if transition.returns:
                model.came_from.pop()
            elif self.workflow.remembers_origin(dest):
                model.came_from.append(source)
            else:
                model.came_from = [source]
        model.state = dest
        model.version += 1
        model.last_event_on = occurred_on
        if transition.counts_repeat:
            model.repeat_count += 1
        if stored:
            model.facts[trigger] = stored
        due_field = next((f for f in transition.fields if f.sets_due and f.name in stored), None)
        if due_field is not None:
            model.due_on = date.fromisoformat(str(stored[due_field.name]))
        elif dest != source or transition.renews_deadline:
            model.due_on = self.deadline(dest, start)
        last = self.succeeded(number, "case.transition")
        event(f"reached {dest}")
        payload = last["payload"]
        assert (payload["trigger"], payload["from"], payload["to"]) == (trigger, source, dest)
        assert payload["values"] == stored
        assert payload.get("note") == note

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), method=st.sampled_from(sorted(NOTE_METHODS)), note=TEXT)
    def add_note(self, data: st.DataObject, method: str, note: str) -> None:
        number = data.draw(st.sampled_from(sorted(self.cases)), label="case")
        model = self.cases[number]
        occurred_on = data.draw(st.dates(model.last_event_on, TODAY), label="occurred_on")

        def attempt() -> None:
            add_note(self.ctx, number, note, method=method, occurred_on=occurred_on)

        if not self.is_open(model):
            self.refused(number, attempt, TransitionRefused)
            return
        attempt()
        model.version += 1
        model.last_event_on = occurred_on
        last = self.succeeded(number, "case.note")
        assert last["payload"] == {"method": method, "text": note.strip(), "state": model.state}

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def event_out_of_order(self, data: st.DataObject) -> None:
        """Backdated (before the case's last event) or future events are refused."""
        number = data.draw(st.sampled_from(sorted(self.cases)), label="case")
        model = self.cases[number]
        wrong = [TODAY + timedelta(days=1)]
        if model.last_event_on > FIRST:
            wrong.append(data.draw(st.dates(FIRST, model.last_event_on - timedelta(days=1))))
        occurred_on = data.draw(st.sampled_from(wrong), label="occurred_on")
        declared = self.workflow.transitions_from(model.state)
        if declared and data.draw(st.booleans(), label="transition"):
            transition = data.draw(st.sampled_from(declared))
            typed, stored = data.draw(
                field_values(transition, occurred_on, model.entered_on or FIRST)
            )
            self.refused(
                number,
                lambda: advance(
                    self.ctx, number, transition.trigger, typed, occurred_on=occurred_on
                ),
                refusal_expected(transition, model, self.ctx.actor, occurred_on, stored)
                or InvalidInput,
            )
        else:
            self.refused(
                number,
                lambda: add_note(self.ctx, number, "走访", occurred_on=occurred_on),
                InvalidInput if self.is_open(model) else TransitionRefused,
            )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), trigger=st.sampled_from(["teleport", "reopen", "", "START_VERIFICATION"]))
    def fire_an_undeclared_trigger(self, data: st.DataObject, trigger: str) -> None:
        number = data.draw(st.sampled_from(sorted(self.cases)), label="case")
        self.refused(
            number,
            lambda: advance(self.ctx, number, trigger, occurred_on=TODAY),
            InvalidInput,
        )

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def audit_chain_verifies_and_counts_every_event(self) -> None:
        assert self.audit_events() == self.events

    @invariant()
    def every_case_is_in_its_modelled_state(self) -> None:
        listed = list_cases(self.ctx, include_closed=True)
        assert {c["number"]: c["state"] for c in listed} == {
            n: m.state for n, m in self.cases.items()
        }


class PostgresWorkflowMachine(WorkflowMachine):
    backend = "postgresql"


TestWorkflowOnSqlite = WorkflowMachine.TestCase
TestWorkflowOnSqlite.settings = SETTINGS

TestWorkflowOnPostgresql = pytest.mark.skipif(
    PG_URL is None, reason="set CASEFLOW_TEST_PG_URL to run on PostgreSQL"
)(PostgresWorkflowMachine.TestCase)
TestWorkflowOnPostgresql.settings = SETTINGS
