"""Delivering the outbox: route, claim, send, mark.

Notices are written by the events that cause them (the sweep, campaigns). Delivery:

1. *Route*: a notice addressed to ``township_head:天堂镇`` gets the channels and addresses
   the organisation in force lists for it (``org.yaml`` as last put in force with
   ``caseflow org apply``; an edit takes effect only then); one row per channel, so each
   is delivered and retried alone. A notice queued by its context (the sweep's) is
   rendered here, once: every copy and every retry sends the body stored now.
2. *Claim*: due rows are leased to this dispatcher (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite serialises writers) for ``lease_seconds``, in their own transaction.
3. *Send* outside any transaction, channel by channel; group-chat robots are held to their
   per-minute limit, counted from the ``delivery`` table so every dispatcher sees it.
4. *Mark*, in one transaction per batch: a ``delivery`` row and an audit event per
   attempt; sent, or retried later with exponential backoff and jitter, or dead.

A dispatcher that dies between sending and marking leaves its rows leased; when the lease
runs out they are sent again with the same key, so receivers see the same Message-ID or
reference: delivery is at least once, and a duplicate is recognisable.
"""

from __future__ import annotations

import html
import os
import random
import re
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from caseflow import access, audit, db
from caseflow.errors import CaseflowError, InvalidInput
from caseflow.escalation import recipient_label
from caseflow.models import Delivery
from caseflow.notifiers import Notice as Message
from caseflow.notifiers import Notifier, Result, channel
from caseflow.org import Contact
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.outbox import NOTICE, reference
from caseflow.services.records import log_read, org_in_force, record, require

_DELIVERY = Delivery.__table__  # type: ignore[attr-defined]

RATE_WINDOW = timedelta(minutes=1)
STATUSES = ("pending", "sent", "dead")

_UNROUTED = (
    select(NOTICE)
    .where(NOTICE.c.status == "pending", NOTICE.c.channel.is_(None))
    .order_by(NOTICE.c.id)
    .limit(500)
)
_DUE = (
    select(NOTICE.c.id)
    .where(
        NOTICE.c.status == "pending",
        NOTICE.c.channel.is_not(None),
        NOTICE.c.next_attempt_at <= bindparam("now"),
        (NOTICE.c.claimed_until.is_(None)) | (NOTICE.c.claimed_until < bindparam("now")),
    )
    .order_by(NOTICE.c.next_attempt_at, NOTICE.c.id)
    .limit(bindparam("batch"))
)
_CLAIM = update(NOTICE).where(NOTICE.c.id.in_(bindparam("ids", expanding=True)))
_CLAIMED = select(NOTICE).where(NOTICE.c.id.in_(bindparam("ids", expanding=True)))
_MARK = update(NOTICE).where(NOTICE.c.id == bindparam("b_id"))
_SENT_RECENTLY = (
    select(_DELIVERY.c.at)
    .where(
        _DELIVERY.c.channel == bindparam("channel"),
        _DELIVERY.c.address == bindparam("address"),
        _DELIVERY.c.status == "sent",
        _DELIVERY.c.at > bindparam("since"),
    )
    .order_by(_DELIVERY.c.at)
)


@dataclass
class DispatchReport:
    routed: int = 0
    sent: int = 0
    retrying: int = 0
    deferred: int = 0
    dead: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def route(ctx: Context) -> int:
    """Give every unrouted notice its channels and addresses from the organisation in
    force."""
    routed = 0
    while True:
        with db.write(ctx.engine) as connection:
            rows = connection.execute(_UNROUTED).all()
            if not rows:
                return routed
            contacts = org_in_force(connection).contacts
            for row in rows:
                try:
                    body = outbox.rendered(row) if row.body is None else {}
                except InvalidInput as exc:
                    _unrenderable(ctx, connection, row, exc.message)
                    continue
                first, *others = contacts.of(row.recipient)
                connection.execute(
                    _MARK,
                    {"b_id": row.id, "channel": first.channel, "address": first.address, **body},
                )
                for index, other in enumerate(others, start=2):
                    outbox.queue_copy(
                        connection,
                        row,
                        index,
                        channel=other.channel,
                        address=other.address,
                        **body,
                    )
                routed += 1 + len(others)


def _unrenderable(ctx: Context, connection: Connection, row: Any, error: str) -> None:
    """A notice whose template no longer renders from its context goes dead, unrouted, so
    that a person sees it (`notify status`) and requeues it once the template is fixed."""
    message = f"cannot render {row.template}: {error}"
    connection.execute(_MARK, {"b_id": row.id, "status": "dead", "last_error": message})
    audit.append_many(
        connection, [_attempt_event(ctx, row, ctx.now(), attempt=0, status="dead", error=message)]
    )


def _attempt_event(
    ctx: Context,
    row: Any,
    now: datetime,
    *,
    attempt: int,
    status: str,
    error: str,
    peer_reference: str = "",
) -> audit.NewEvent:
    """The audit event of one attempt to deliver a notice, and how it ended."""
    return audit.NewEvent(
        action="notice.delivery",
        operator=ctx.actor.operator,
        os_user=ctx.actor.os_user,
        recorded_at=now,
        case_id=row.case_ids[0] if len(row.case_ids) == 1 else None,
        payload={
            "notice": row.id,
            "reference": reference(row.id),
            "key": row.key,
            "template": row.template,
            "content_hash": row.content_hash,
            "channel": row.channel,
            "recipient": row.recipient,
            "address": row.address or "",
            "cases": list(row.case_ids),
            "attempt": attempt,
            "status": status,
            "error": error,
            "peer_reference": peer_reference,
        },
    )


def _claim(ctx: Context, batch: int, holder: str, now: datetime) -> list[Any]:
    lease = timedelta(seconds=ctx.workspace.dispatch.lease_seconds)
    with db.write(ctx.engine) as connection:
        ids = list(
            connection.execute(
                _DUE.with_for_update(skip_locked=True), {"now": now, "batch": batch}
            ).scalars()
        )
        if not ids:
            return []
        connection.execute(_CLAIM, {"ids": ids, "claimed_until": now + lease, "claimed_by": holder})
        return list(connection.execute(_CLAIMED, {"ids": ids}).all())


def _chat_text(row: Any, departments: Mapping[str, str]) -> str:
    """What a group chat or a phone may show: no child's name or ID, only case numbers.
    A department is named as ``departments`` (the workflow in force's) name it."""
    to = recipient_label(row.recipient, departments=departments)
    if not row.case_ids:  # a report, a campaign's batch: no case to act on
        return f"【{row.subject}】{to}：详见书面通知，编号{reference(row.id)}。"
    cases = "、".join(str(number) for number in row.case_ids)
    count = len(row.case_ids)
    return (
        f"【{row.subject}】{to}：{count}件控辍保学案件需要办理"
        f"（案件编号：{cases}）。详见书面通知，编号{reference(row.id)}。"
    )


# The fields by which a document names a child (or the family, which names the child).
_PERSONAL_FIELDS = frozenset({"legal_guardians", "escalation.cases"})
_PERSONAL_PREFIXES = ("child.", "guardian.")
_META = re.compile(r'<meta name="caseflow-(issuer|reference)" content="([^"]*)">')


def names_a_child(template: str) -> bool:
    """Whether a template's document names a child (masked or not) or the child's family."""
    from caseflow.render import declared_fields

    declared = declared_fields(template)
    return any(f in _PERSONAL_FIELDS or f.startswith(_PERSONAL_PREFIXES) for f in declared)


def _cover(row: Any, departments: Mapping[str, str]) -> str:
    """What e-mail carries instead of a document that names a child: what the document is
    and how to get it, with case numbers and references only."""
    meta = {name: html.unescape(value) for name, value in _META.findall(row.body or "")}
    title = outbox.title_of(row.body or "", row.template)
    number = f"（{meta['reference']}）" if meta.get("reference") else ""
    cases = "、".join(str(case) for case in row.case_ids) or "无"
    to = recipient_label(row.recipient, departments=departments)
    return (
        f"{to}：\n\n{meta.get('issuer', '')}《{title}》{number}已印制，涉及案件编号：{cases}。\n"
        "该文书载有学生个人信息，不以电子邮件传送正文，以纸质文书送达；"
        f"经办人可用“caseflow notify show {row.id}”查看，用“caseflow notice print”打印。\n\n"
        f"通知编号：{reference(row.id)}\n"
    )


def _message(row: Any, departments: Mapping[str, str]) -> Message:
    return Message(
        key=row.key,
        reference=reference(row.id),
        address=row.address or "",
        subject=row.subject,
        html=row.body,
        text=_chat_text(row, departments),
        cover=_cover(row, departments) if names_a_child(row.template) else "",
    )


def _within_rate(
    connection: Connection, notifier: type[Notifier], rows: list[Any], now: datetime
) -> tuple[list[Any], list[tuple[Any, datetime]]]:
    """Split rows into those that may go now and those that must wait for the window."""
    if notifier.per_minute is None:
        return rows, []
    allowed: list[Any] = []
    waiting: list[tuple[Any, datetime]] = []
    by_address: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_address[row.address].append(row)
    for address, group in by_address.items():
        recent = list(
            connection.execute(
                _SENT_RECENTLY,
                {
                    "channel": notifier.name,
                    "address": address,
                    "since": now - RATE_WINDOW,
                },
            ).scalars()
        )
        room = max(notifier.per_minute - len(recent), 0)
        allowed.extend(group[:room])
        reopens = (recent[0] + RATE_WINDOW) if recent else now + RATE_WINDOW
        waiting.extend((row, max(reopens, now + timedelta(seconds=1))) for row in group[room:])
    return allowed, waiting


def dispatch(
    ctx: Context,
    *,
    env: Mapping[str, str] | None = None,
    limit: int | None = None,
    holder: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    rng: random.Random | None = None,
) -> DispatchReport:
    """Deliver what is due in the outbox, batch by batch."""
    require(ctx, access.DISPATCHERS, "notify dispatch")
    environment = os.environ if env is None else env
    me = holder or dispatcher_id()
    jitter = rng or random.Random()
    settings = ctx.workspace.dispatch
    report = DispatchReport(routed=route(ctx))
    handled = 0
    while not (should_stop and should_stop()):
        batch = settings.batch_size if limit is None else min(settings.batch_size, limit - handled)
        if batch <= 0:
            break
        rows = _claim(ctx, batch, me, ctx.now())
        if not rows:
            break
        handled += len(rows)
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_channel[row.channel].append(row)
        for name, group in by_channel.items():
            _deliver(ctx, name, group, env=environment, rng=jitter, report=report)
    return report


def _deliver(
    ctx: Context,
    name: str,
    rows: list[Any],
    *,
    env: Mapping[str, str],
    rng: random.Random,
    report: DispatchReport,
) -> None:
    now = ctx.now()
    try:
        notifier_class = channel(name)
        notifier = notifier_class(ctx.workspace.notifiers.get(name, {}), env, ctx.workspace.root)
    except CaseflowError as exc:
        _mark(
            ctx, rows, [Result.failed(r.key, "permanent", exc.message) for r in rows], rng, report
        )
        return
    with db.read(ctx.engine) as connection:
        allowed, waiting = _within_rate(connection, notifier_class, rows, now)
    if waiting:
        with db.write(ctx.engine) as connection:
            connection.execute(
                _MARK,
                [
                    {
                        "b_id": row.id,
                        "next_attempt_at": until,
                        "claimed_until": None,
                        "claimed_by": None,
                    }
                    for row, until in waiting
                ],
            )
        report.deferred += len(waiting)
    if not allowed:
        return
    departments = ctx.current_workflow.departments
    try:
        results = notifier.send([_message(row, departments) for row in allowed])
    except Exception as exc:  # a channel broke its contract: retry; its message may hold a secret
        results = [
            Result.failed(row.key, "transient", f"{name} channel failed: {type(exc).__name__}")
            for row in allowed
        ]
    finally:
        notifier.close()
    if len(results) != len(allowed):
        raise InvalidInput(
            f"channel {name!r} returned {len(results)} results for {len(allowed)} notices"
        )
    _mark(ctx, allowed, results, rng, report)


def _backoff(attempt: int, ctx: Context, rng: random.Random) -> timedelta:
    settings = ctx.workspace.dispatch
    base = min(settings.backoff_seconds * 2 ** (attempt - 1), settings.backoff_cap_seconds)
    return timedelta(seconds=base * rng.uniform(0.5, 1.5))


def _mark(
    ctx: Context,
    rows: Sequence[Any],
    results: Sequence[Result],
    rng: random.Random,
    report: DispatchReport,
) -> None:
    now = ctx.now()
    max_attempts = ctx.workspace.dispatch.max_attempts
    updates, deliveries, events = [], [], []
    for row, result in zip(rows, results, strict=True):
        attempt = row.attempts + (0 if result.kind == "rate_limited" else 1)
        # Every change names the same columns (those it leaves alone at their values):
        # one executemany needs one set of parameters for every row.
        change: dict[str, Any] = {
            "b_id": row.id,
            "attempts": attempt,
            "claimed_until": None,
            "claimed_by": None,
            "status": row.status,
            "sent_at": row.sent_at,
            "peer_reference": row.peer_reference,
            "next_attempt_at": row.next_attempt_at,
            "last_error": row.last_error,
        }
        if result.ok:
            status = "sent"
            change.update(
                status="sent", sent_at=now, peer_reference=result.reference, last_error=None
            )
            report.sent += 1
        elif result.kind == "rate_limited":
            status = "rate_limited"
            wait = timedelta(seconds=result.retry_after or RATE_WINDOW.total_seconds())
            change.update(next_attempt_at=now + wait, last_error=result.error)
            report.deferred += 1
        elif result.kind == "transient" and attempt < max_attempts:
            status = "transient"
            change.update(
                next_attempt_at=now + _backoff(attempt, ctx, rng), last_error=result.error
            )
            report.retrying += 1
        else:
            status = "dead"
            change.update(status="dead", last_error=result.error)
            report.dead += 1
        updates.append(change)
        deliveries.append(
            {
                "notice_id": row.id,
                "attempt": attempt,
                "channel": row.channel,
                "address": row.address or "",
                "status": status,
                "error": result.error or None,
                "peer_reference": result.reference or None,
                "at": now,
            }
        )
        events.append(
            _attempt_event(
                ctx,
                row,
                now,
                attempt=attempt,
                status=status,
                error=result.error,
                peer_reference=result.reference,
            )
        )
    with db.write(ctx.engine) as connection:
        connection.execute(_MARK, updates)
        connection.execute(insert(_DELIVERY), deliveries)
        audit.append_many(connection, events)


# ---------------------------------------------------------------------------------------
# What a person sees and does


def status(ctx: Context, *, only: str | None = None, limit: int = 200) -> dict[str, Any]:
    require(ctx, access.DISPATCHERS, "notify status")
    if only is not None and only not in STATUSES:
        raise InvalidInput(f"--status must be one of {', '.join(STATUSES)}, got {only!r}")
    with db.read(ctx.engine) as connection:
        counts: dict[str, int] = dict(
            connection.execute(
                select(NOTICE.c.status, func.count()).group_by(NOTICE.c.status)
            ).all()
        )
        query = select(NOTICE).order_by(NOTICE.c.id.desc()).limit(limit)
        if only:
            query = query.where(NOTICE.c.status == only)
        rows = connection.execute(query).all()
    return {
        "counts": {name: int(counts.get(name, 0)) for name in STATUSES},
        "notices": [
            {
                "id": r.id,
                "reference": reference(r.id),
                "status": r.status,
                "kind": r.kind,
                "template": r.template,
                "recipient": r.recipient,
                "channel": r.channel,
                "address": r.address,
                "attempts": r.attempts,
                "cases": list(r.case_ids),
                "subject": r.subject,
                "last_error": r.last_error,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            }
            for r in rows
        ],
    }


@dataclass(frozen=True)
class Shown:
    """One notice as ``notify show`` prints it: what it is, and its document."""

    id: int
    reference: str
    kind: str
    template: str
    recipient: str
    subject: str
    status: str
    cases: tuple[int, ...]
    content_hash: str
    body: str


def show(ctx: Context, notice_id: int) -> Shown:
    """A notice and its document, rendered (and stored, as delivery will send it) if it
    was queued by its context. Reading it is logged against the cases it lists."""
    require(ctx, access.DISPATCHERS, "notify show")
    with db.write(ctx.engine) as connection:
        outbox.render_pending(connection, [notice_id])
        row = connection.execute(select(NOTICE).where(NOTICE.c.id == notice_id)).first()
        if row is None:
            raise InvalidInput(f"notice {notice_id} does not exist")
        if row.case_ids:
            log_read(ctx, connection, f"notice {reference(row.id)}", list(row.case_ids))
    return Shown(
        id=row.id,
        reference=reference(row.id),
        kind=row.kind,
        template=row.template,
        recipient=row.recipient,
        subject=row.subject,
        status=row.status,
        cases=tuple(row.case_ids),
        content_hash=row.content_hash,
        body=row.body,
    )


def retry(ctx: Context, ids: Sequence[int] = (), *, all_dead: bool = False) -> int:
    """Requeue dead notices (after the address or the channel was fixed)."""
    require(ctx, access.DISPATCHERS, "notify retry")
    if not ids and not all_dead:
        raise InvalidInput("name the notices to retry (their ids) or use --all-dead")
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        query = select(NOTICE).where(NOTICE.c.status == "dead")
        if ids:
            query = select(NOTICE).where(NOTICE.c.id.in_(ids))
        rows = {row.id: row for row in connection.execute(query).all()}
        for notice_id in ids:
            if notice_id not in rows:
                raise InvalidInput(f"notice {notice_id} does not exist")
            if rows[notice_id].status != "dead":
                raise InvalidInput(
                    f"notice {notice_id} is {rows[notice_id].status}, not dead; only "
                    "dead notices are requeued"
                )
        contacts = org_in_force(connection).contacts
        requeued = sorted(rows)
        if requeued:
            changes = []
            for notice_id in requeued:
                row = rows[notice_id]
                current = Contact(row.channel or "", row.address or "")
                listed = contacts.of(row.recipient)
                # A contact the organisation in force no longer lists is replaced by the
                # first it does. A notice that could not be rendered goes back unrouted:
                # routing renders it again.
                target = current if current in listed else listed[0]
                rendered = row.body is not None
                changes.append(
                    {
                        "b_id": notice_id,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "claimed_until": None,
                        "claimed_by": None,
                        "channel": target.channel if rendered else None,
                        "address": target.address if rendered else None,
                    }
                )
            connection.execute(_MARK, changes)
            record(
                ctx,
                connection,
                now,
                action="notice.requeued",
                payload={"notices": requeued},
            )
    return len(requeued)
