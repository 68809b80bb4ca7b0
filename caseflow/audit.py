"""The hash-chained audit trail.

Each event's hash is SHA-256 over the previous hash and the event in canonical JSON
(sorted keys, compact, UTF-8, no floats). Appending locks the one-row head table, so
events form a single chain; the unique constraints on ``seq`` and ``prev_hash`` turn a
locking bug into an error instead of a fork. ``verify`` recomputes the chain and names
the first bad event; a checkpoint (seq + head hash) held outside the database catches
truncation and wholesale rewrites.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from caseflow import db
from caseflow.errors import AuditBroken, InvalidInput
from caseflow.i18n import _
from caseflow.models import AuditEvent, AuditHead

GENESIS = "0" * 64
_EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_CHECKPOINT = re.compile(r"^(?:caseflow-audit:)?(\d+):([0-9a-f]{16,64})$")


_SCALARS = frozenset({str, int, bool, type(None)})


def _reject_floats(value: Any) -> None:
    if type(value) in _SCALARS:
        return
    if isinstance(value, float):
        raise TypeError("audit payloads carry no floats; use integers or text")
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return
    for item in items:
        if type(item) not in _SCALARS:
            _reject_floats(item)


def _canonical_or_none(value: Any) -> str | None:
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return None


# One encoder for every event: json.dumps with options builds a new one on each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    _reject_floats(value)
    return _CANONICAL.encode(value)


@dataclass(frozen=True)
class Entry:
    seq: int
    recorded_at: str
    occurred_on: str | None
    operator: str
    os_user: str
    action: str
    case_id: int | None
    payload: Mapping[str, Any]

    def canonical(self, payload_json: str | None = None) -> str:
        """Canonical JSON of the whole event. The payload may come already encoded (as it
        is stored), so that appending encodes it once; the result is the same bytes as
        ``canonical_json`` of the event with the payload inside it."""
        payload = canonical_json(self.payload) if payload_json is None else payload_json
        return _event_json(
            payload,
            seq=self.seq,
            recorded_at=self.recorded_at,
            occurred_on=self.occurred_on,
            operator=self.operator,
            os_user=self.os_user,
            action=self.action,
            case_id=self.case_id,
        )


def _event_json(
    payload_json: str,
    *,
    seq: int,
    recorded_at: str,
    occurred_on: str | None,
    operator: str,
    os_user: str,
    action: str,
    case_id: int | None,
) -> str:
    """``canonical_json`` of an event whose payload is already encoded: the envelope holds
    text, whole numbers and None by its types, written here in sorted key order."""
    text = _CANONICAL.encode
    case = "null" if case_id is None else str(case_id)
    occurred = "null" if occurred_on is None else text(occurred_on)
    return (
        f'{{"action":{text(action)},"case":{case},"occurred_on":{occurred},'
        f'"operator":{text(operator)},"os_user":{text(os_user)},"payload":{payload_json},'
        f'"recorded_at":{text(recorded_at)},"seq":{seq}}}'
    )


def chain_hash(prev_hash: str, entry: Entry, payload_json: str | None = None) -> str:
    return _link(prev_hash, entry.canonical(payload_json))


def _link(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_EVENT = insert(_EVENT)


@dataclass(frozen=True)
class NewEvent:
    action: str
    operator: str
    os_user: str
    recorded_at: datetime
    payload: Mapping[str, Any]
    case_id: int | None = None
    occurred_on: date | None = None


def append(connection: Connection, **event: Any) -> int:
    """Append one event (``NewEvent`` fields) inside the caller's transaction; its seq."""
    return append_many(connection, [NewEvent(**event)])[0]


def append_many(connection: Connection, events: Sequence[NewEvent]) -> list[int]:
    """Append events in order inside the caller's transaction, locking the head once."""
    if not events:
        return []
    head = connection.execute(_LOCK_HEAD).first()
    if head is None:
        raise AuditBroken(
            _(
                "the audit head row is missing, so nothing can be recorded; run "
                "`caseflow audit verify` and restore the database from a backup"
            )
        )
    prev_hash, seq = head.hash, head.seq
    rows = []
    # Events often share a moment and a payload (a sweep's batch): each encoded once.
    stamps: dict[datetime, str] = {}
    payloads: dict[int, str] = {}
    for event in events:
        seq += 1
        recorded_at = stamps.get(event.recorded_at)
        if recorded_at is None:
            recorded_at = stamps[event.recorded_at] = event.recorded_at.isoformat(
                timespec="microseconds"
            )
        occurred_on = event.occurred_on.isoformat() if event.occurred_on else None
        payload_json = payloads.get(id(event.payload))
        if payload_json is None:
            payload_json = payloads[id(event.payload)] = canonical_json(event.payload)
        digest = _link(
            prev_hash,
            _event_json(
                payload_json,
                seq=seq,
                recorded_at=recorded_at,
                occurred_on=occurred_on,
                operator=event.operator,
                os_user=event.os_user,
                action=event.action,
                case_id=event.case_id,
            ),
        )
        rows.append(
            {
                "seq": seq,
                "recorded_at": recorded_at,
                "occurred_on": occurred_on,
                "operator": event.operator,
                "os_user": event.os_user,
                "action": event.action,
                "case_id": event.case_id,
                "payload": payload_json,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    db.execute_many(connection, _INSERT_EVENT, rows)
    connection.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash})
    return [row["seq"] for row in rows]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"caseflow-audit:{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        match = _CHECKPOINT.match(text.strip().lower())
        if not match:
            raise InvalidInput(
                _(
                    "checkpoint {text!r} is not valid; it looks like "
                    "caseflow-audit:SEQ:HASH (the hash may be shortened to 16 characters)"
                ).format(text=text)
            )
        return cls(int(match.group(1)), match.group(2))


@dataclass(frozen=True)
class Verification:
    events: int
    head: Checkpoint
    first_bad_seq: int | None = None
    problem: str | None = None
    # Cases whose row is not what their events say (``caseflow.case_replay.Difference``),
    # checked only when the chain is intact: ``caseflow.services.audit.audit_verify``.
    cases: tuple[Any, ...] = ()

    @property
    def chain_intact(self) -> bool:
        return self.problem is None

    @property
    def intact(self) -> bool:
        return self.problem is None and not self.cases


def _rows(connection: Connection, case_id: int | None = None) -> Iterator[Any]:
    query = select(_EVENT).order_by(_EVENT.c.seq)
    if case_id is not None:
        query = query.where(_EVENT.c.case_id == case_id)
    yield from connection.execute(query, execution_options={"yield_per": 2000})


def verify(connection: Connection, checkpoint: Checkpoint | None = None) -> Verification:
    """Recompute the chain from the first event; stop at the first problem."""
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    checkpoint_seen = False

    def broken(seq: int, problem: str) -> Verification:
        return Verification(count, Checkpoint(expected_seq - 1, prev_hash), seq, problem)

    for row in _rows(connection):
        if row.seq != expected_seq:
            return broken(
                expected_seq, f"event {expected_seq} is missing (next stored event is {row.seq})"
            )
        if row.prev_hash != prev_hash:
            return broken(
                row.seq, f"event {row.seq} does not follow event {row.seq - 1} (prev_hash differs)"
            )
        try:
            payload = json.loads(row.payload)
        except ValueError:
            return broken(row.seq, f"event {row.seq} has a payload that is not JSON")
        if not isinstance(payload, dict) or _canonical_or_none(payload) != row.payload:
            return broken(row.seq, f"event {row.seq} payload is not in canonical form")
        entry = Entry(
            row.seq,
            row.recorded_at,
            row.occurred_on,
            row.operator,
            row.os_user,
            row.action,
            row.case_id,
            payload,
        )
        digest = chain_hash(prev_hash, entry, row.payload)
        if digest != row.hash:
            return broken(
                row.seq, f"event {row.seq} was altered (its hash does not match its content)"
            )
        if checkpoint is not None and row.seq == checkpoint.seq:
            checkpoint_seen = True
            if not digest.startswith(checkpoint.hash):
                return broken(
                    row.seq, f"event {row.seq} differs from the checkpoint: the chain was rewritten"
                )
        prev_hash = digest
        expected_seq += 1
        count += 1
    last = expected_seq - 1
    head = connection.execute(select(_HEAD.c.seq, _HEAD.c.hash)).first()
    if head is None:
        return broken(last + 1, "the audit head row is missing")
    if head.seq > last:
        return broken(
            last + 1,
            f"the chain ends at event {last} but the head records event "
            f"{head.seq}: events were removed",
        )
    if head.seq < last:
        return broken(head.seq + 1, f"events after {head.seq} were added without moving the head")
    if head.hash != prev_hash:
        return broken(last, f"the head does not match event {last}: the head was altered")
    if checkpoint is not None and not checkpoint_seen:
        return broken(
            checkpoint.seq,
            f"the checkpoint names event {checkpoint.seq} but the "
            f"chain ends at event {expected_seq - 1}: events were removed",
        )
    return Verification(count, Checkpoint(expected_seq - 1, prev_hash))


def head(connection: Connection) -> Checkpoint:
    row = connection.execute(select(_HEAD.c.seq, _HEAD.c.hash)).first()
    if row is None:
        raise AuditBroken(_("the audit head row is missing; run `caseflow audit verify`"))
    return Checkpoint(row.seq, row.hash)


def events(connection: Connection, case_id: int | None = None) -> Iterator[Any]:
    return _rows(connection, case_id)
