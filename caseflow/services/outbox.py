"""The outbox: the only code that builds and inserts ``notice`` rows.

One idempotency rule holds for every writer. A notice's key names what caused it —
``document:<template>:<case>:<case version>``, ``escalation:<digest of the rung's
batch>``, ``publicity:<month>:<case>``, ``monthly-report:<month>`` — and another copy of
the same notice (a further recipient, a further channel) adds ``#<suffix>`` to it. A
notice whose key is already in the outbox is never written again, so whatever queued it
(a transition retried, a sweep after a crash, a campaign run twice in a month) can run
again without sending anything twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Insert, select

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


def publicity_key(day: date, number: int) -> str:
    return key("publicity", f"{day:%Y-%m}", number)


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
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Draft:
    """A notice to queue: what it says and to whom, keyed by what caused it."""

    key: str
    kind: str
    template: str
    recipient: str
    case_ids: Sequence[int]
    subject: str
    body: str

    @property
    def content_hash(self) -> str:
        return content_hash(self.body)

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "template": self.template,
            "recipient": self.recipient,
            "case_ids": list(self.case_ids),
            "subject": self.subject,
            "body": self.body,
            "content_hash": self.content_hash,
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


def queue_copy(connection: Connection, row: Any, suffix: object, **changes: Any) -> None:
    """Another copy of a queued notice (e.g. to a person's second channel)."""
    copy = {
        column: getattr(row, column)
        for column in NOTICE.columns.keys()  # noqa: SIM118 - column names
        if column != "id"
    }
    copy.update(key=copy_key(row.key, suffix), **changes)
    connection.execute(_insert_new(connection), [copy])


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
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(NOTICE).on_conflict_do_nothing(index_elements=["key"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(NOTICE).on_conflict_do_nothing(index_elements=["key"])
