"""What a person is offered is what they may do: along random event sequences, the
transitions ``engine.available`` lists for an operator are exactly those ``decide``
accepts from that operator today, given complete field values."""

from __future__ import annotations

from datetime import date, timedelta
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow.access import Jurisdiction
from caseflow.calendar import WorkCalendar
from caseflow.engine import Actor, CaseSnapshot, Event, available, decide, opening
from caseflow.errors import CaseflowError
from caseflow.states import Transition, Workflow
from tests.conftest import NATIONAL
from tests.test_engine import ORDER_WORKFLOW, WORKFLOW

CALENDAR = WorkCalendar(NATIONAL)
START = date(2026, 3, 2)


def department(name: str, *extra: str) -> Actor:
    return Actor(name, name, frozenset({"department", *extra}), Jurisdiction("department", name))


ACTORS = (
    Actor("chen", "chen", frozenset({"bureau"})),
    Actor("li", "li", frozenset({"school"})),
    Actor("zhou", "zhou", frozenset({"caseworker"})),
    Actor("wang", "wang", frozenset({"supervisor"})),
    department("public_security"),
    department("disability_federation"),
    department("health"),
    department("court", "caseworker"),
)


def complete_values(transition: Transition, day: date) -> dict[str, str]:
    """A valid value for every field, required or not."""
    values = {}
    for spec in transition.fields:
        if spec.type == "choice":
            values[spec.name] = spec.choices[0][0]
        elif spec.type == "date":
            values[spec.name] = (day + timedelta(days=30 if spec.sets_due else 0)).isoformat()
        elif spec.type == "integer":
            values[spec.name] = "1"
        else:
            values[spec.name] = "已核实"
    return values


def event_for(workflow: Workflow, snapshot: CaseSnapshot, trigger: str, day: date) -> Event:
    transition = workflow.find(trigger, snapshot.state)
    values = complete_values(transition, day) if transition is not None else {}
    return Event(trigger, day, MappingProxyType(values))


def accepted(workflow: Workflow, snapshot: CaseSnapshot, actor: Actor, today: date) -> set[str]:
    accepts = set()
    for trigger in workflow.triggers():
        try:
            decide(
                workflow,
                snapshot,
                event_for(workflow, snapshot, trigger, today),
                actor,
                today=today,
                calendar=CALENDAR,
            )
        except CaseflowError:
            continue
        accepts.add(trigger)
    return accepts


@settings(max_examples=60, deadline=None)
@given(
    workflow=st.sampled_from([WORKFLOW, ORDER_WORKFLOW]),
    data=st.data(),
)
def test_what_is_offered_is_exactly_what_is_accepted(
    workflow: Workflow, data: st.DataObject
) -> None:
    state, deadline = opening(workflow, START, START, CALENDAR)
    snapshot = CaseSnapshot(
        number=1,
        state=state,
        entered_on=START,
        due_on=deadline.due_on if deadline else None,
        version=1,
        last_event_on=START,
    )
    today = START
    for _step in range(25):
        possible: list[tuple[str, Actor]] = []
        for actor in ACTORS:
            offers = {t.trigger for t in available(workflow, snapshot, actor, today=today)}
            assert offers == accepted(workflow, snapshot, actor, today), (snapshot, actor)
            possible.extend((trigger, actor) for trigger in sorted(offers))
        if not possible:
            break
        trigger, actor = data.draw(st.sampled_from(possible), label="fired")
        outcome = decide(
            workflow,
            snapshot,
            event_for(workflow, snapshot, trigger, today),
            actor,
            today=today,
            calendar=CALENDAR,
        )
        snapshot = CaseSnapshot(
            number=1,
            state=outcome.state,
            entered_on=outcome.entered_on,
            due_on=outcome.due.due_on if outcome.due else None,
            version=snapshot.version + 1,
            last_event_on=today,
            due_provisional=outcome.due.provisional if outcome.due else False,
            counters=outcome.counters,
            repeat_count=outcome.repeat_count,
            departments=outcome.departments,
        )
        today += timedelta(days=data.draw(st.integers(0, 40), label="days later"))
