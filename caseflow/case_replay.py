"""What a case row must hold, read back from the case's audit events, and how a stored row
differs from it (``caseflow audit verify``). Pure: the events and rows come in, already
read; the caller streams them ordered by case number.

The columns the events determine, and so the ones compared (``COMPARED``):

- ``state``, ``is_open``, ``entered_on``, ``due_on``, ``due_provisional``, ``departments``:
  from ``case.open``, ``case.transition``, ``case.reopen``, ``case.extension``,
  ``case.deadline_recomputed`` and ``case.migrated`` (open or closed by whether the state
  entered is terminal in the workflow version the event names);
- ``version``: 1 at ``case.open``, one more for each step on the case (``VERSION_STEPS``:
  transitions, reopenings, extension requests and decisions, updates, guardians,
  findings, notes, reassignments, recomputed deadlines, migrations); escalations, reads,
  chain refreshes, letters and deliveries leave it as it was;
- ``last_event_on``: the day of the latest step that moves it (every step but a recomputed
  deadline or a migration);
- ``workflow``, ``workflow_version``: from ``case.open`` and ``case.migrated``;
- ``opened_on``, ``source``, ``reasons``, ``township``, ``village``: from ``case.open``;
  ``school`` also from a ``case.update`` that changed it;
- ``facts``: the evidence (``case.open``, ``case.finding``) and the values recorded by each
  transition made by a person (the sweep's automatic ones record none);
- ``chain`` (包保 chain): from ``case.open``, ``case.assign`` and ``case.chain``.

A case opened under the action name of an early version (``case.opened``) is not
compared. Columns the events do not determine are not compared: counters, the escalation ladder
(``next_rung``, ``next_action_on``, ``ladder_version``), ``came_from``, ``repeat_count``,
``deadline_from``, ``extended_days``, ``due_counted_with``, a pending extension request,
``entered_by``, ``created_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

COMPARED: tuple[str, ...] = (
    "state",
    "is_open",
    "version",
    "workflow",
    "workflow_version",
    "opened_on",
    "entered_on",
    "last_event_on",
    "due_on",
    "due_provisional",
    "departments",
    "source",
    "reasons",
    "township",
    "village",
    "school",
    "facts",
    "chain",
)

VERSION_STEPS = frozenset(
    {
        "case.transition",
        "case.reopen",
        "case.extension_requested",
        "case.extension",
        "case.extension_rejected",
        "case.update",
        "case.guardian",
        "case.finding",
        "case.note",
        "case.assign",
        "case.deadline_recomputed",
        "case.migrated",
    }
)
LEGACY_OPEN = frozenset({"case.opened"})
# Steps that write the case row without moving last_event_on.
_KEEP_LAST_EVENT = frozenset({"case.deadline_recomputed", "case.migrated"})
# Steps whose payload the replay reads (the others only count).
READS_PAYLOAD = frozenset(
    {
        "case.open",
        "case.transition",
        "case.reopen",
        "case.extension",
        "case.deadline_recomputed",
        "case.migrated",
        "case.update",
        "case.finding",
        "case.assign",
        "case.chain",
    }
)

# (workflow name, version) -> its terminal states
Terminals = Mapping[tuple[str, int], frozenset[str]]


def _day(value: Any) -> str | None:
    """A day as the events write it (ISO text); compared with the row's as text."""
    return value if isinstance(value, str) and value else None


@dataclass
class Expected:
    """A case row as its events describe it (None until its ``case.open``)."""

    values: dict[str, Any] | None = None
    # Opened under the name of an early version (``case.opened``), whose payloads the
    # replay cannot read: the case is not compared.
    legacy: bool = False

    @property
    def opened(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class Difference:
    """One case whose row is not what its events say. ``columns``: (column, stored, from
    the events); ``row_missing``: events open the case but there is no row;
    ``no_events``: a row no ``case.open`` event accounts for."""

    number: int
    columns: tuple[tuple[str, Any, Any], ...] = ()
    row_missing: bool = False
    no_events: bool = False


@dataclass
class Replay:
    """One case's events applied in order (``apply``), with the terminal states of each
    workflow version to tell open from closed."""

    terminals: Terminals
    expected: Expected = field(default_factory=Expected)

    def apply(self, action: str, occurred_on: str | None, payload: Mapping[str, Any]) -> None:
        day = _day(occurred_on)
        if action == "case.open":
            self.expected.values = _opened(payload, day)
            return
        if action in LEGACY_OPEN:
            self.expected.legacy = True
            return
        case = self.expected.values
        if case is None:
            return  # events about a number before (or without) its opening: not a step
        if action in VERSION_STEPS:
            case["version"] += 1
            if action not in _KEEP_LAST_EVENT and day is not None:
                case["last_event_on"] = day
        if action == "case.transition":
            self._transition(case, payload, day)
        elif action == "case.reopen":
            case["state"] = str(payload.get("to"))
            case["is_open"] = True
            case["entered_on"] = day
            case["departments"] = list(payload.get("handoff") or ())
            _deadline(case, payload)
        elif action in ("case.extension", "case.deadline_recomputed"):
            _deadline(case, payload)
        elif action == "case.migrated":
            case["workflow"] = payload.get("workflow", case["workflow"])
            case["workflow_version"] = payload.get("to_version")
            case["state"] = payload.get("to")
            _deadline(case, payload)
        elif action == "case.update":
            changed = payload.get("changed") or {}
            if "school" in changed:
                case["school"] = changed["school"]
        elif action == "case.finding":
            facts = case["facts"]
            evidence = {**(facts.get("evidence") or {}), **(payload.get("evidence") or {})}
            case["facts"] = {**facts, "evidence": evidence}
        elif action == "case.assign":
            case["chain"] = {**case["chain"], str(payload.get("role")): payload.get("to")}
        elif action == "case.chain":
            case["chain"] = dict(payload.get("to") or {})

    def _transition(
        self, case: dict[str, Any], payload: Mapping[str, Any], day: str | None
    ) -> None:
        source, dest = payload.get("from"), payload.get("to")
        if source != dest:
            case["entered_on"] = day
            case["departments"] = list(payload.get("handoff") or ())
        case["state"] = dest
        name = payload.get("workflow", case["workflow"])
        version = payload.get("workflow_version", case["workflow_version"])
        case["is_open"] = dest not in self.terminals.get((name, version), frozenset())
        _deadline(case, payload)
        values = payload.get("values")
        if values and not payload.get("auto"):
            trigger = str(payload.get("trigger"))
            earlier = {k: v for k, v in case["facts"].items() if k != trigger}
            case["facts"] = {**earlier, trigger: dict(values)}


def _opened(payload: Mapping[str, Any], day: str | None) -> dict[str, Any]:
    evidence = payload.get("evidence")
    case = {
        "state": payload.get("state"),
        "is_open": True,
        "version": 1,
        "workflow": payload.get("workflow"),
        "workflow_version": payload.get("workflow_version"),
        "opened_on": day,
        "entered_on": day,
        "last_event_on": day,
        "departments": [],
        "source": payload.get("source"),
        "reasons": list(payload.get("reasons") or ()),
        "township": payload.get("township"),
        "village": payload.get("village"),
        "school": payload.get("school"),
        "facts": {"evidence": dict(evidence)} if evidence else {},
        "chain": dict(payload.get("chain") or {}),
    }
    _deadline(case, payload)
    return case


def _deadline(case: dict[str, Any], payload: Mapping[str, Any]) -> None:
    case["due_on"] = _day(payload.get("due_on"))
    case["due_provisional"] = bool(payload.get("due_provisional"))


_DAYS = frozenset({"opened_on", "entered_on", "last_event_on", "due_on"})


def _stored(column: str, value: Any) -> Any:
    if column in _DAYS:
        return value.isoformat() if isinstance(value, date) else value
    if column in ("is_open", "due_provisional"):
        return bool(value)
    if column in ("departments", "reasons"):
        return list(value or ())
    if column in ("facts", "chain"):
        return dict(value or {})
    return value


def compare(number: int, row: Any | None, expected: Expected) -> Difference | None:
    """How the stored row (None: none) differs from what the events say; None: it does
    not."""
    if expected.legacy:
        return None
    if expected.values is None:
        return None if row is None else Difference(number, no_events=True)
    if row is None:
        return Difference(number, row_missing=True)
    stored = row._mapping
    columns = tuple(
        (column, stored[column], expected.values[column])
        for column in COMPARED
        if _stored(column, stored[column]) != expected.values[column]
    )
    return Difference(number, columns) if columns else None
