"""文号: the number an issuing body gives a document, "<prefix>〔2026〕N号".

N counts from 1 per issuer per calendar year of the document's date. A number is taken
inside the transaction that issues the document: the issuer's ``document_sequence`` row
for the year is locked (``FOR UPDATE`` on PostgreSQL; SQLite's writers are serialised),
so two concurrent issuers get different numbers, and a rolled-back issue gives its number
back (no gap). A number a person types is used as given and recorded too; either way an
issuer never gives one number twice (a unique constraint backs the check)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from caseflow.errors import TransitionRefused
from caseflow.i18n import _
from caseflow.models import DocumentNumber, DocumentSequence

NUMBER = DocumentNumber.__table__  # type: ignore[attr-defined]
SEQUENCE = DocumentSequence.__table__  # type: ignore[attr-defined]

_YEAR = re.compile(r"〔(\d{4})〕")


def reference(prefix: str, year: int, serial: int) -> str:
    """E.g. ``天府〔2026〕3号``."""
    return f"{prefix}〔{year}〕{serial}号"


@dataclass(frozen=True)
class Numbered:
    """What a document is numbered for: who issues it, for which case and letter."""

    issuer: str
    case_id: int
    template: str
    letter: str  # the idempotency key of the document's notice


def registered(connection: Connection, letter: str) -> str | None:
    """The number already given to the document queued under ``letter``."""
    found = select(NUMBER.c.reference).where(NUMBER.c.letter == letter).order_by(NUMBER.c.id)
    return connection.execute(found.limit(1)).scalar()


def latest(connection: Connection, case_id: int, template: str, copy: str) -> str | None:
    """The number last given to ``template`` for a case (a reprint keeps it), to the same
    addressee: ``copy`` is what follows ``#`` in its letter's key (empty: the first)."""
    found = (
        select(NUMBER.c.reference, NUMBER.c.letter)
        .where(NUMBER.c.case_id == case_id, NUMBER.c.template == template)
        .order_by(NUMBER.c.id.desc())
    )
    rows = connection.execute(found)
    return next((r.reference for r in rows if r.letter.partition("#")[2] == copy), None)


def allocate(
    connection: Connection, document: Numbered, *, prefix: str, year: int, now: datetime
) -> str:
    """The issuer's next number for ``year``, recorded for ``document``; a number someone
    typed earlier is skipped."""
    key = {"issuer": document.issuer, "year": year}
    taken = (
        select(SEQUENCE.c.last)
        .where(SEQUENCE.c.issuer == document.issuer, SEQUENCE.c.year == year)
        .with_for_update()
    )
    last = connection.execute(taken).scalar()
    if last is None:
        connection.execute(_insert_new(connection).values(**key, last=0))
        last = connection.execute(taken).scalar_one()
    serial = last + 1
    while _holder(connection, document.issuer, reference(prefix, year, serial)) is not None:
        serial += 1
    connection.execute(
        update(SEQUENCE)
        .where(SEQUENCE.c.issuer == document.issuer, SEQUENCE.c.year == year)
        .values(last=serial)
    )
    number = reference(prefix, year, serial)
    _record(connection, document, number, year=year, serial=serial, now=now)
    return number


def record_given(
    connection: Connection, document: Numbered, number: str, *, year: int, now: datetime
) -> None:
    """Record a number a person typed for ``document``; refused when the issuer has
    already given it to another document (the copies of one document to several
    departments share it)."""
    holder = _holder(connection, document.issuer, number)
    same = (
        holder is not None and holder.letter.partition("#")[0] == document.letter.partition("#")[0]
    )
    if holder is not None and not same:
        raise TransitionRefused(
            _(
                "{issuer} already gave 文号 {number} to case {case} ({template}); give another "
                "number, or leave document_number empty to have the next one allocated; "
                "nothing was changed"
            ).format(
                issuer=document.issuer,
                number=number,
                case=holder.case_id,
                template=holder.template,
            )
        )
    if holder is None:
        written = _YEAR.search(number)
        _record(
            connection,
            document,
            number,
            year=int(written.group(1)) if written else year,
            serial=None,
            now=now,
        )


def _holder(connection: Connection, issuer: str, number: str):  # type: ignore[no-untyped-def]
    found = select(NUMBER).where(NUMBER.c.issuer == issuer, NUMBER.c.reference == number)
    return connection.execute(found).first()


def _record(
    connection: Connection,
    document: Numbered,
    number: str,
    *,
    year: int,
    serial: int | None,
    now: datetime,
) -> None:
    connection.execute(
        insert(NUMBER).values(
            issuer=document.issuer,
            reference=number,
            year=year,
            serial=serial,
            given=serial is None,
            case_id=document.case_id,
            template=document.template,
            letter=document.letter,
            recorded_at=now,
        )
    )


def _insert_new(connection: Connection):  # type: ignore[no-untyped-def]
    """INSERT that does nothing when another transaction created the row first (it waits
    for that one to commit, then the row is locked as usual)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(SEQUENCE).on_conflict_do_nothing(index_elements=["issuer", "year"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(SEQUENCE).on_conflict_do_nothing(index_elements=["issuer", "year"])
