"""The outbox: the only code that builds and inserts ``notice`` rows.

One idempotency rule holds for every writer. A notice's key names what caused it —
``document:<template>:<case>:<case version>``, ``escalation:<digest of the rung's
batch>``, ``publicity:<month>:<unit>``, ``monthly-report:<month>`` — and another copy of
the same notice (a further recipient, a further channel) adds ``#<suffix>`` to it. A
notice whose key is already in the outbox is never written again, so whatever queued it
(a transition retried, a sweep after a crash, a campaign run twice in a month) can run
again without sending anything twice.

A notice is queued either rendered (``body``: letters, reports) or as what renders it:
its template id and context (``context``, canonical JSON in which a date is written
``{"$date": "2026-11-29"}``) with ``template_sha256``, the ``render.source_hash`` of the
template then installed. The sweep queues thousands of these in one batch; the body is
rendered when it is first needed (routing before delivery, ``notify show``, printing) and
stored then, so every retry sends the same bytes. A context its template cannot render
from (a field missing) is found then: routing makes that notice dead, with the reason, and
delivers the others (queuing renders only the subject's title).

``content_hash`` (recorded by every delivery's audit event) is SHA-256 (hex) over the
UTF-8 bytes of the body for a rendered notice, and over
``<template id>\\n<template_sha256>\\n<context>`` for one queued by its context: anyone can
recompute it from the row, and render the template with that source hash to check the
body. A template changed between queuing and rendering renders with the installed text;
the row then takes that text's ``template_sha256`` and ``content_hash`` in the same
update that stores the body, so the hash always describes what is sent."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, select, update

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.models import Notice

NOTICE = Notice.__table__  # type: ignore[attr-defined]

_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def key(cause: str, *parts: object) -> str:
    """The idempotency key of a notice: its cause and what identifies it within the cause."""
    return ":".join([cause, *(str(part) for part in parts)])


def copy_key(original: str, suffix: object) -> str:
    """The key of another copy of a notice (a further recipient or channel)."""
    return f"{original}#{suffix}"


def document_key(template: str, number: int, case_version: int) -> str:
    return key("document", template, number, case_version)


def escalation_key(template: str, level: int, recipient: str, as_of: date, cases: list[int]) -> str:
    token = hashlib.sha256(f"{template}|{level}|{recipient}|{as_of}|{cases}".encode()).hexdigest()
    return key("escalation", token[:24])


def publicity_key(day: date, unit: str) -> str:
    """The key of the month's publicity batch of a unit (``school:天堂小学``)."""
    return key("publicity", f"{day:%Y-%m}", unit)


def report_key(period_start: date) -> str:
    return key("monthly-report", f"{period_start:%Y-%m}")


def reference(notice_id: int) -> str:
    """The number printed for people: 控辍 notice KC-000123."""
    return f"KC-{notice_id:06d}"


def title_of(body: str, fallback: str) -> str:
    """A rendered document's ``<title>``, for the notice's subject."""
    match = _TITLE.search(body)
    return match.group(1).strip() if match else fallback


def content_hash(body: str) -> str:
    """The content hash of a rendered notice."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def context_hash(template: str, template_sha256: str, context: str) -> str:
    """The content hash of a notice queued by its context (``context`` as stored)."""
    return hashlib.sha256(f"{template}\n{template_sha256}\n{context}".encode()).hexdigest()


def _tagged(value: object) -> dict[str, str]:
    if type(value) is date:
        return {"$date": value.isoformat()}
    raise TypeError(f"a notice context holds dates, not {type(value).__name__}")


def _untagged(value: dict[str, Any]) -> Any:
    if len(value) == 1 and "$date" in value:
        return date.fromisoformat(value["$date"])
    return value


_CONTEXT = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_tagged
)


def encode_context(context: Mapping[str, Any]) -> str:
    """A render context as stored on its notice: canonical JSON, dates tagged."""
    return _CONTEXT.encode(context)


def decode_context(text: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(text, object_hook=_untagged)
    return decoded


@dataclass(frozen=True)
class Draft:
    """A notice to queue: what it says and to whom, keyed by what caused it. It carries
    either its rendered ``body`` or the ``context`` its template renders it from later."""

    key: str
    kind: str
    template: str
    recipient: str
    case_ids: Sequence[int]
    subject: str
    body: str | None = None
    context: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.body is None) == (self.context is None):
            raise ValueError("a notice draft carries a body or a context, exactly one")

    def row(self, now: datetime) -> dict[str, Any]:
        if self.body is not None:
            context = template_sha = None
            digest = content_hash(self.body)
        else:
            from caseflow import render  # jinja2 is imported by the commands that render

            assert self.context is not None
            context = encode_context(self.context)
            template_sha = render.source_hash(self.template)
            digest = context_hash(self.template, template_sha, context)
        return {
            "key": self.key,
            "kind": self.kind,
            "template": self.template,
            "recipient": self.recipient,
            "case_ids": list(self.case_ids),
            "subject": self.subject,
            "body": self.body,
            "context": context,
            "template_sha256": template_sha,
            "content_hash": digest,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }


def queue(connection: Connection, drafts: Sequence[Draft], now: datetime) -> set[str]:
    """Write the drafts whose key is not in the outbox yet, in the caller's transaction;
    returns the keys written."""
    if not drafts:
        return set()
    statement = _insert_new(connection).returning(NOTICE.c.key)
    return set(connection.execute(statement, [draft.row(now) for draft in drafts]).scalars())


def queue_many(connection: Connection, drafts: Sequence[Draft], now: datetime) -> int:
    """``queue`` for thousands of drafts (the sweep's): how many were written."""
    return db.execute_many(
        connection, _insert_new(connection), [draft.row(now) for draft in drafts]
    )


def queue_copy(connection: Connection, row: Any, suffix: object, **changes: Any) -> None:
    """Another copy of a queued notice (e.g. to a person's second channel)."""
    copy = {
        column: getattr(row, column)
        for column in NOTICE.columns.keys()  # noqa: SIM118 - column names
        if column != "id"
    }
    copy.update(key=copy_key(row.key, suffix), **changes)
    connection.execute(_insert_new(connection), [copy])


def rendered(row: Any) -> dict[str, Any]:
    """The columns that store the body of a notice queued by its context, rendered now
    with the installed template (``body``, ``template_sha256``, ``content_hash``)."""
    from caseflow import render

    if row.context is None:
        raise InvalidInput(
            _("notice {reference} has neither a body nor a context").format(
                reference=reference(row.id)
            )
        )
    body = render.render(row.template, decode_context(row.context))
    template_sha = render.source_hash(row.template)
    digest = (
        row.content_hash
        if template_sha == row.template_sha256
        else context_hash(row.template, template_sha, row.context)
    )
    return {"body": body, "template_sha256": template_sha, "content_hash": digest}


_UNRENDERED = select(NOTICE).where(
    NOTICE.c.id.in_(bindparam("ids", expanding=True)), NOTICE.c.body.is_(None)
)
_STORE_BODY = update(NOTICE).where(NOTICE.c.id == bindparam("b_id"))


def render_pending(connection: Connection, ids: Iterable[int]) -> int:
    """Render and store, in the caller's (write) transaction, the bodies still missing
    among these notices; how many were rendered."""
    rows = connection.execute(_UNRENDERED, {"ids": list(ids)}).all()
    if rows:
        connection.execute(_STORE_BODY, [{"b_id": row.id, **rendered(row)} for row in rows])
    return len(rows)


def ids_of(connection: Connection, keys: Iterable[str]) -> dict[str, int]:
    """The ids of the notices with these keys (queued now or before)."""
    wanted = list(keys)
    rows = connection.execute(select(NOTICE.c.key, NOTICE.c.id).where(NOTICE.c.key.in_(wanted)))
    return {row.key: row.id for row in rows}


def queued_keys(connection: Connection, cause: str, *parts: object) -> set[str]:
    """The keys already queued for a cause (and, given, the leading parts of its key)."""
    prefix = key(cause, *parts) + ":"
    statement = select(NOTICE.c.key).where(NOTICE.c.key.startswith(prefix, autoescape=True))
    return set(connection.execute(statement).scalars())


def _insert_new(connection: Connection) -> Insert:
    """INSERT ... ON CONFLICT (key) DO NOTHING for the connection's database, one
    statement per dialect (so it is compiled once)."""
    return _insert_new_for(connection.dialect.name)


@functools.cache
def _insert_new_for(dialect: str) -> Insert:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(NOTICE).on_conflict_do_nothing(index_elements=["key"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(NOTICE).on_conflict_do_nothing(index_elements=["key"])
