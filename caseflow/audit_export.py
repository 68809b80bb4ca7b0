"""Audit exports a reviewer can check offline: the line format and its verification. Pure.

An export (``caseflow audit export``) is UTF-8 text, one JSON object per line, each in
canonical form (sorted keys, compact, no floats; see ``caseflow.audit``):

- one line per event, in seq order, with the fields of the hashed event (``seq``,
  ``recorded_at``, ``occurred_on``, ``operator``, ``os_user``, ``action``, ``case``,
  ``payload``) plus ``prev_hash`` and ``hash``. Dropping ``prev_hash`` and ``hash`` leaves
  exactly the canonical event, so ``hash`` is SHA-256 of ``prev_hash + "\\n" +`` that text;
- a last line, the checkpoint: ``checkpoint`` (``caseflow-audit:SEQ:HASH`` of the last
  event), ``seq`` and ``hash`` (the same, spelt out), ``first_seq`` and
  ``first_prev_hash`` (where the export joins the chain: the genesis hash for an export
  from the first event) and ``events`` (how many event lines there are).

``verify_export`` recomputes every hash, follows the links, and checks the checkpoint
line against the first and last events, so that editing, deleting, repeating, moving or
inserting any one line, or cutting the file short, is reported with the line number.
What no file can prove on its own is that nobody rewrote the whole export consistently
from some event on: compare its checkpoint with one held outside (``--checkpoint``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caseflow.audit import GENESIS, Checkpoint, Entry, canonical_json, chain_hash
from caseflow.errors import InvalidInput
from caseflow.i18n import _

EVENT_FIELDS = frozenset(
    {
        "action",
        "case",
        "hash",
        "occurred_on",
        "operator",
        "os_user",
        "payload",
        "prev_hash",
        "recorded_at",
        "seq",
    }
)
CHECKPOINT_FIELDS = frozenset(
    {"checkpoint", "events", "first_prev_hash", "first_seq", "hash", "seq"}
)
_HASH = re.compile(r"^[0-9a-f]{64}$")


def event_line(
    *,
    seq: int,
    recorded_at: str,
    occurred_on: str | None,
    operator: str,
    os_user: str,
    action: str,
    case_id: int | None,
    payload: str,
    prev_hash: str,
    hash: str,
) -> str:
    """One event as an export line (no newline), from its stored columns. The stored
    payload is copied verbatim, as it was hashed; one that could break the line (only a
    tampered one can hold a raw line break) is exported as a JSON string instead, so that
    verification fails at that line rather than the file falling apart."""
    if "\n" in payload or "\r" in payload:
        payload = canonical_json(payload)
    before = canonical_json(
        {
            "action": action,
            "case": case_id,
            "hash": hash,
            "occurred_on": occurred_on,
            "operator": operator,
            "os_user": os_user,
        }
    )
    after = canonical_json({"prev_hash": prev_hash, "recorded_at": recorded_at, "seq": seq})
    return f'{before[:-1]},"payload":{payload},{after[1:]}'


def checkpoint_line(*, first_seq: int, first_prev_hash: str, last: Checkpoint, events: int) -> str:
    """The last line of an export (no newline)."""
    return canonical_json(
        {
            "checkpoint": str(last),
            "events": events,
            "first_prev_hash": first_prev_hash,
            "first_seq": first_seq,
            "hash": last.hash,
            "seq": last.seq,
        }
    )


@dataclass(frozen=True)
class ExportVerification:
    """What ``verify_export`` found: the events it followed and, when something is wrong,
    the first bad line (``None`` when the problem is not on one line)."""

    events: int
    first_seq: int | None
    last: Checkpoint | None
    start_hash: str | None  # prev_hash of the first event: GENESIS for a whole trail
    first_recorded_at: str | None
    last_recorded_at: str | None
    bad_line: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def from_genesis(self) -> bool:
        return self.start_hash == GENESIS


class _Bad(Exception):
    def __init__(self, line: int | None, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


class _Follower:
    """Follows an export line by line, keeping only the last event: memory stays flat."""

    def __init__(self, checkpoint: Checkpoint | None) -> None:
        self.checkpoint = checkpoint
        self.checkpoint_seen = False
        self.events = 0
        self.first_seq: int | None = None
        self.start_hash: str | None = None
        self.last: Checkpoint | None = None
        self.first_recorded_at: str | None = None
        self.last_recorded_at: str | None = None
        self.closed_at: int | None = None  # line number of the checkpoint line

    def result(self, bad: _Bad | None = None) -> ExportVerification:
        return ExportVerification(
            events=self.events,
            first_seq=self.first_seq,
            last=self.last,
            start_hash=self.start_hash,
            first_recorded_at=self.first_recorded_at,
            last_recorded_at=self.last_recorded_at,
            bad_line=bad.line if bad else None,
            problem=bad.problem if bad else None,
        )

    def line(self, number: int, raw: bytes) -> None:
        if self.closed_at is not None:
            raise _Bad(
                number,
                _(
                    "line {number} comes after the checkpoint line (line {closed_at}), "
                    "which must be the last: lines were added or moved"
                ).format(number=number, closed_at=self.closed_at),
            )
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if not body.strip():
            raise _Bad(number, _("line {number} is empty").format(number=number))
        if body.endswith(b"\r"):
            raise _Bad(
                number,
                _(
                    "line {number} ends with a carriage return: the file was changed "
                    "(converted to Windows line endings?); verify the file exactly as "
                    "exported"
                ).format(number=number),
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(number, _("line {number} is not UTF-8 text").format(number=number)) from None
        try:
            value = json.loads(text)
        except ValueError:
            raise _Bad(number, _("line {number} is not valid JSON").format(number=number)) from None
        if not isinstance(value, dict):
            raise _Bad(number, _("line {number} is not a JSON object").format(number=number))
        if "checkpoint" in value:
            self._checkpoint_line(number, text, value)
        else:
            self._event_line(number, text, value)

    def _canonical(
        self, number: int, text: str, value: dict[str, Any], fields: frozenset[str]
    ) -> None:
        missing = sorted(fields - value.keys())
        extra = sorted(value.keys() - fields)
        if missing or extra:
            what = "; ".join(
                part
                for part in (
                    _("missing {fields}").format(fields=", ".join(missing)) if missing else "",
                    _("unexpected {fields}").format(fields=", ".join(extra)) if extra else "",
                )
                if part
            )
            raise _Bad(
                number,
                _("line {number} does not have the fields of an export line ({what})").format(
                    number=number, what=what
                ),
            )
        try:
            canonical = canonical_json(value)
        except (TypeError, ValueError):
            canonical = None
        if canonical != text:
            raise _Bad(
                number,
                _(
                    "line {number} is not in canonical form (sorted keys, compact, no "
                    "floats): it was edited"
                ).format(number=number),
            )

    def _event_line(self, number: int, text: str, value: dict[str, Any]) -> None:
        self._canonical(number, text, value, EVENT_FIELDS)
        seq = value["seq"]
        if not _is_int(seq) or seq < 1:
            raise _Bad(
                number,
                _("line {number}: seq must be a positive whole number").format(number=number),
            )
        for name in ("prev_hash", "hash"):
            if not isinstance(value[name], str) or not _HASH.match(value[name]):
                raise _Bad(
                    number,
                    _("line {number} (event {seq}): {name} is not a SHA-256 hex digest").format(
                        number=number, seq=seq, name=name
                    ),
                )
        for name in ("recorded_at", "operator", "os_user", "action"):
            if not isinstance(value[name], str):
                raise _Bad(
                    number,
                    _("line {number} (event {seq}): {name} must be text").format(
                        number=number, seq=seq, name=name
                    ),
                )
        if not (value["occurred_on"] is None or isinstance(value["occurred_on"], str)):
            raise _Bad(
                number,
                _("line {number} (event {seq}): occurred_on must be text or null").format(
                    number=number, seq=seq
                ),
            )
        if not (value["case"] is None or _is_int(value["case"])):
            raise _Bad(
                number,
                _("line {number} (event {seq}): case must be a number or null").format(
                    number=number, seq=seq
                ),
            )
        if not isinstance(value["payload"], dict):
            raise _Bad(
                number,
                _("line {number} (event {seq}): payload is not a JSON object").format(
                    number=number, seq=seq
                ),
            )
        prev_hash = value["prev_hash"]
        if self.last is None:
            if seq == 1 and prev_hash != GENESIS:
                raise _Bad(
                    number,
                    _("line {number}: event 1 must follow the genesis hash").format(number=number),
                )
            self.first_seq = seq
            self.start_hash = prev_hash
            self.first_recorded_at = value["recorded_at"]
        else:
            expected = self.last.seq + 1
            if seq < expected:
                raise _Bad(
                    number,
                    _(
                        "line {number} holds event {seq} where event {expected} was expected: "
                        "a line was repeated or moved"
                    ).format(number=number, seq=seq, expected=expected),
                )
            if seq > expected:
                gap = (
                    _("event {seq}").format(seq=expected)
                    if seq == expected + 1
                    else _("events {first}–{last}").format(first=expected, last=seq - 1)
                )
                raise _Bad(
                    number,
                    _(
                        "line {number} holds event {seq} where event {expected} was expected: "
                        "{gap} missing (lines deleted or moved)"
                    ).format(number=number, seq=seq, expected=expected, gap=gap),
                )
            if prev_hash != self.last.hash:
                raise _Bad(
                    number,
                    _(
                        "line {number} (event {seq}) does not follow the line before it "
                        "(prev_hash differs)"
                    ).format(number=number, seq=seq),
                )
        entry = Entry(
            seq=seq,
            recorded_at=value["recorded_at"],
            occurred_on=value["occurred_on"],
            operator=value["operator"],
            os_user=value["os_user"],
            action=value["action"],
            case_id=value["case"],
            payload=value["payload"],
        )
        if chain_hash(prev_hash, entry, _payload_text(text, prev_hash)) != value["hash"]:
            raise _Bad(
                number,
                _(
                    "line {number} (event {seq}) was altered: its hash does not match its content"
                ).format(number=number, seq=seq),
            )
        if self.checkpoint is not None and seq == self.checkpoint.seq:
            self.checkpoint_seen = True
            if not value["hash"].startswith(self.checkpoint.hash):
                raise _Bad(
                    number,
                    _(
                        "line {number} (event {seq}) differs from the checkpoint {checkpoint}: "
                        "the chain was rewritten"
                    ).format(number=number, seq=seq, checkpoint=self.checkpoint),
                )
        self.events += 1
        self.last = Checkpoint(seq, value["hash"])
        self.last_recorded_at = value["recorded_at"]

    def _checkpoint_line(self, number: int, text: str, value: dict[str, Any]) -> None:
        self._canonical(number, text, value, CHECKPOINT_FIELDS)
        if self.last is None:
            raise _Bad(
                number,
                _("line {number} is the checkpoint line, but no event comes before it").format(
                    number=number
                ),
            )
        if value["checkpoint"] != str(Checkpoint(value["seq"], value["hash"])):
            raise _Bad(
                number,
                _("line {number}: the checkpoint line contradicts itself").format(number=number),
            )
        if value["seq"] != self.last.seq:
            raise _Bad(
                number,
                _(
                    "line {number}: the checkpoint names event {value} but the export ends "
                    "with event {seq}: lines were deleted, added or moved"
                ).format(number=number, value=value["seq"], seq=self.last.seq),
            )
        if value["hash"] != self.last.hash:
            raise _Bad(
                number,
                _("line {number}: the checkpoint does not match event {seq} (hash differs)").format(
                    number=number, seq=self.last.seq
                ),
            )
        if value["first_seq"] != self.first_seq or value["first_prev_hash"] != self.start_hash:
            raise _Bad(
                number,
                _(
                    "line {number}: the checkpoint says the export starts at event {value} "
                    "but its first line holds event {first_seq}: lines were deleted or "
                    "added at the start"
                ).format(number=number, value=value["first_seq"], first_seq=self.first_seq),
            )
        if value["events"] != self.events:
            raise _Bad(
                number,
                _(
                    "line {number}: the checkpoint counts {value} events but the export "
                    "holds {events}"
                ).format(number=number, value=value["events"], events=self.events),
            )
        self.closed_at = number

    def finish(self, lines: int) -> None:
        if lines == 0:
            raise _Bad(1, _("line 1: the file is empty; it is not an audit export"))
        if self.closed_at is None:
            raise _Bad(
                lines + 1,
                _(
                    "line {value}: the checkpoint line is missing (the file ends after "
                    "line {lines}): it was cut short (truncated) or is not a complete "
                    "export"
                ).format(value=lines + 1, lines=lines),
            )
        if self.checkpoint is not None and not self.checkpoint_seen:
            raise _Bad(
                None,
                _(
                    "the checkpoint {checkpoint} names event {seq}, which this export does "
                    "not hold (it holds events {first_seq}–{value})"
                ).format(
                    checkpoint=self.checkpoint,
                    seq=self.checkpoint.seq,
                    first_seq=self.first_seq,
                    value=self.last.seq if self.last else "?",
                ),
            )


def _payload_text(line: str, prev_hash: str) -> str:
    """The payload of a canonical event line as it stands in the line (so it is not
    encoded again): after the first top-level ``"payload":`` (only text and numbers come
    before it) up to the last ``,"prev_hash":`` (only text and a number come after it)."""
    start = line.index(',"payload":') + len(',"payload":')
    return line[start : line.rindex(f',"prev_hash":"{prev_hash}"')]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_export(
    lines: Iterable[bytes], checkpoint: Checkpoint | None = None
) -> ExportVerification:
    """Check an export given as its lines (bytes, each with its newline, as reading a file
    in binary mode gives them); stop at the first problem. With ``checkpoint`` (one held
    outside, e.g. printed by ``caseflow audit checkpoint``) the export must also hold that
    event, unchanged."""
    follower = _Follower(checkpoint)
    count = 0
    try:
        for count, raw in enumerate(lines, start=1):
            follower.line(count, raw)
        follower.finish(count)
    except _Bad as bad:
        return follower.result(bad)
    return follower.result()


def verify_export_file(path: Path, checkpoint: str | None = None) -> ExportVerification:
    """Check an export file on its own: no workspace, no database. The one bit of I/O
    here, so that a reviewer's check needs nothing but this module and ``caseflow.audit``."""
    expected = Checkpoint.parse(checkpoint) if checkpoint else None
    try:
        with path.open("rb") as stream:
            return verify_export(stream, expected)
    except OSError as exc:
        raise InvalidInput(
            _("cannot read {path}: {reason}").format(path=path, reason=exc.strerror or exc)
        ) from exc
