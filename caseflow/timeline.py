"""A case's history read back from its audit events: where it stood on a given day, the
deadlines it carried and how each one ended, the states it entered and its relapses.
Pure: the events come in, already read, oldest first.

The events that matter are ``case.open``, ``case.transition``, ``case.extension``,
``case.deadline_recomputed``, ``case.migrated`` and ``case.reopen`` (a closure undone: the
case is open again in the state it was in before it) (``TIMELINE_ACTIONS``); notes,
escalations and reads change no state or deadline. A migration to a new workflow version
renames the current state (the stay and its deadline go on) and may move its due date.

A deadline starts when a case enters a state that has one (or a transition renews it,
such as a missing child's periodic recheck) and ends at the next transition that leaves the state
or renews the deadline. An extension or a recomputed provisional date moves its due date.
It is **met** when it ended on or before its due date, **missed** when it ended later or
is still running after its due date; one ended by an automatic transition (the sweep
firing a timer, such as a deferral running out) is a timer, not a duty, and is neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from caseflow.states import Workflow

TIMELINE_ACTIONS: tuple[str, ...] = (
    "case.open",
    "case.transition",
    "case.extension",
    "case.deadline_recomputed",
    "case.migrated",
    "case.reopen",
)

DeadlineStatus = Literal["met", "missed", "pending", "timer"]


@dataclass(frozen=True)
class Event:
    """One audit event of a case, as far as the timeline needs it."""

    action: str
    occurred_on: date | None
    payload: Mapping[str, Any]


@dataclass
class Deadline:
    state: str
    started_on: date
    due_on: date
    departments: tuple[str, ...] = ()
    due_provisional: bool = False
    ended_on: date | None = None
    automatic: bool = False  # ended by an automatic transition: a timer, not a duty

    def status(self, as_of: date) -> DeadlineStatus:
        """Met or missed, as seen on ``as_of``; ``pending`` while it may still be met."""
        if self.ended_on is None:
            return "missed" if self.due_on < as_of else "pending"
        if self.automatic:
            return "timer"
        return "met" if self.ended_on <= self.due_on else "missed"


@dataclass(frozen=True)
class Stay:
    """A stretch of time in one state: from ``entered_on`` until ``left_on`` (None: still
    there)."""

    state: str
    entered_on: date
    left_on: date | None = None

    def overlaps(self, start: date, end: date) -> bool:
        return self.entered_on <= end and (self.left_on is None or self.left_on >= start)


@dataclass
class Timeline:
    opened_on: date | None = None
    state: str | None = None
    entered_on: date | None = None
    is_open: bool = False
    workflow_version: int | None = None
    due_on: date | None = None
    due_provisional: bool = False
    departments: tuple[str, ...] = ()
    deadlines: list[Deadline] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    repeats: list[date] = field(default_factory=list)  # days of relapses

    @property
    def current(self) -> Deadline | None:
        """The deadline running now, if any."""
        last = self.deadlines[-1] if self.deadlines else None
        return last if last is not None and last.ended_on is None else None


def _day(text: Any) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) and text else None


def replay(events: Iterable[Event], workflow: Workflow, *, until: date | None = None) -> Timeline:
    """The timeline of one case from its events, counting only what happened on or before
    ``until`` (default: everything)."""
    line = Timeline()
    beyond = False
    for event in events:
        if event.occurred_on is None:
            if beyond:
                continue
        elif until is not None and event.occurred_on > until:
            beyond = True
            continue
        _apply(line, event, workflow)
    return line


def _end(line: Timeline, day: date, *, automatic: bool) -> None:
    running = line.current
    if running is not None:
        running.ended_on = day
        running.automatic = automatic


def _start(line: Timeline, state: str, day: date, payload: Mapping[str, Any]) -> None:
    due_on = _day(payload.get("due_on"))
    line.due_on = due_on
    line.due_provisional = bool(payload.get("due_provisional"))
    if due_on is not None:
        line.deadlines.append(Deadline(state, day, due_on, line.departments, line.due_provisional))


def _enter(line: Timeline, state: str, day: date, workflow: Workflow) -> None:
    if line.stays and line.stays[-1].left_on is None:
        last = line.stays[-1]
        line.stays[-1] = Stay(last.state, last.entered_on, day)
    line.stays.append(Stay(state, day))
    line.state = state
    line.entered_on = day
    line.is_open = not (state in workflow.states and workflow.state(state).is_terminal)


def _apply(line: Timeline, event: Event, workflow: Workflow) -> None:
    payload = event.payload
    day = event.occurred_on
    if event.action == "case.open" and day is not None:
        line.opened_on = day
        line.workflow_version = payload.get("workflow_version")
        _enter(line, str(payload["state"]), day, workflow)
        line.departments = ()
        _start(line, str(payload["state"]), day, payload)
    elif event.action == "case.transition" and day is not None:
        source, dest = str(payload.get("from")), str(payload.get("to"))
        transition = (
            workflow.find(str(payload.get("trigger")), source)
            if source in workflow.states
            else None
        )
        moves = source != dest
        if moves:
            renews = True
        elif transition is not None:
            values = payload.get("values") or {}
            renews = transition.renews_deadline or any(
                f.sets_due and f.name in values for f in transition.fields
            )
        else:
            renews = _day(payload.get("due_on")) != line.due_on
        if renews:
            _end(line, day, automatic=bool(payload.get("auto")))
        if moves:
            line.departments = tuple(payload.get("handoff") or ())
            _enter(line, dest, day, workflow)
        if renews:
            _start(line, dest, day, payload)
        if transition is not None and transition.counts_repeat:
            line.repeats.append(day)
    elif event.action in ("case.extension", "case.deadline_recomputed"):
        due_on = _day(payload.get("due_on"))
        running = line.current
        if due_on is not None and running is not None:
            running.due_on = due_on
            running.due_provisional = bool(payload.get("due_provisional"))
            line.due_on = due_on
            line.due_provisional = running.due_provisional
    elif event.action == "case.migrated":
        _migrate(line, event.payload)
    elif event.action == "case.reopen" and day is not None:
        # A closure undone: the case is open again in the state it was in before it.
        _end(line, day, automatic=False)
        line.departments = tuple(payload.get("handoff") or ())
        _enter(line, str(payload["to"]), day, workflow)
        _start(line, str(payload["to"]), day, payload)


def _migrate(line: Timeline, payload: Mapping[str, Any]) -> None:
    state = str(payload["to"])
    line.workflow_version = payload.get("to_version")
    line.state = state
    if line.stays and line.stays[-1].left_on is None:
        line.stays[-1] = Stay(state, line.stays[-1].entered_on)
    running = line.current
    if running is not None:
        running.state = state
    due_on = _day(payload.get("due_on"))
    line.due_on = due_on
    line.due_provisional = bool(payload.get("due_provisional"))
    if running is not None and due_on is None:  # the new version sets this state no deadline
        line.deadlines.pop()
    elif running is not None and due_on is not None:
        running.due_on = due_on
        running.due_provisional = line.due_provisional
