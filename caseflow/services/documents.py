"""Documents a caseworker asks for: preview a letter, queue it, print the outbox's letters
as one batch."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import select

from caseflow import access, db
from caseflow.services.context import Context
from caseflow.services.letters import NO_OVERRIDES, Queued, letter_context, queue_within
from caseflow.services.outbox import NOTICE
from caseflow.services.records import (
    log_read,
    require,
)
from caseflow.services.step import probes_recorded


def preview(
    ctx: Context,
    number: int,
    template_id: str,
    overrides: Mapping[str, str] = NO_OVERRIDES,
) -> str:
    """The document rendered for the case, as HTML; only the reading is logged."""
    from caseflow.render import render

    with probes_recorded(ctx, "notice preview", number), db.write(ctx.engine) as connection:
        context = letter_context(ctx, connection, number, template_id, overrides)[0]
        log_read(ctx, connection, f"notice preview {template_id}", [number])
    return render(template_id, context)


def queue_document(
    ctx: Context,
    number: int,
    template_id: str,
    overrides: Mapping[str, str] = NO_OVERRIDES,
) -> Queued:
    """Render the document and insert its notice(s) with an audit event, in one
    transaction. One notice per recipient: the guardian (``guardian:case/<n>``), each
    department the case is handed to (``department:<id>``) for a referral, else
    ``case/<n>``."""
    require(ctx, access.CASE_WRITERS, "notice letter", case_id=number)
    with probes_recorded(ctx, "notice letter", number), db.write(ctx.engine) as connection:
        return queue_within(ctx, connection, number, template_id, overrides, now=ctx.now())


@dataclass(frozen=True)
class _Letter:
    source: str
    html: str


def print_batch(ctx: Context, *, since: date | None, output: Path) -> int:
    """Collect the letters into ONE printable HTML file, a page break between letters,
    each keeping its own print CSS; returns how many. Letters: the outbox's ``letter``
    notices (created on or after ``since``) and the HTML files the ``letter`` channel
    wrote into the workspace's outbox folder (modified on or after ``since``); a letter
    found in both is printed once. Nothing is written when there is no letter."""
    require(ctx, access.PRINTERS, "notice print")
    letters = _outbox_letters(ctx, since) + _outbox_files(ctx, since, output)
    seen: set[str] = set()
    unique = []
    for letter in letters:
        digest = hashlib.sha256(letter.html.encode("utf-8")).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append(letter)
    if not unique:
        return 0
    from caseflow.render import bundle

    _write_atomically(output, bundle([(letter.source, letter.html) for letter in unique]))
    return len(unique)


def _outbox_letters(ctx: Context, since: date | None) -> list[_Letter]:
    from caseflow.services.outbox import reference, render_pending

    query = select(NOTICE.c.id, NOTICE.c.body).where(NOTICE.c.kind == "letter")
    if since is not None:
        query = query.where(NOTICE.c.created_at >= _start_of(ctx, since))
    query = query.order_by(NOTICE.c.id)
    with db.read(ctx.engine) as connection:
        rows = connection.execute(query).all()
    unrendered = [row.id for row in rows if row.body is None]
    if unrendered:  # queued by their context: rendered once, as delivery will send them
        with db.write(ctx.engine) as connection:
            render_pending(connection, unrendered)
            rows = connection.execute(query).all()
    return [_Letter(reference(row.id), row.body) for row in rows]


def _outbox_files(ctx: Context, since: date | None, output: Path) -> list[_Letter]:
    settings = ctx.workspace.notifiers.get("letter", {})
    folder = ctx.workspace.root / str(settings.get("folder", "outbox"))
    if not folder.is_dir():
        return []
    from caseflow.notifiers.letter import letter_files
    from caseflow.render import is_bundle

    bound = _start_of(ctx, since).timestamp() if since is not None else None
    letters = []
    for path in letter_files(folder):
        if bound is not None and path.stat().st_mtime < bound:
            continue
        if output.exists() and path.samefile(output):
            continue
        html = path.read_text(encoding="utf-8")
        if not is_bundle(html):  # an earlier print batch left in the folder
            letters.append(_Letter(path.name, html))
    return letters


def _start_of(ctx: Context, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ctx.workspace.timezone).astimezone(UTC)


def _write_atomically(output: Path, text: str) -> None:
    from caseflow.exports import replacing

    with replacing(output) as temporary:
        temporary.write_text(text, encoding="utf-8")
