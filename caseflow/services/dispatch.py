"""Delivering the outbox: route, claim, send, mark.

Notices are written by the events that cause them (the sweep, campaigns). Delivery:

1. *Route*: a notice addressed to ``township_head:天堂镇`` gets the channels and addresses
   the organisation in force lists for it (``org.yaml`` as last put in force with
   ``caseflow org apply``; an edit takes effect only then); one row per channel, so each
   is delivered and retried alone. A notice queued by its context (the sweep's) is
   rendered here, once: every copy and every retry sends the body stored now.
2. *Claim*: due rows are leased to this dispatcher (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite serialises writers) for ``lease_seconds``, in their own transaction,
   under a fencing token of their own (``claimed_by``: the dispatcher and a random part).
3. *Send* outside any transaction, channel by channel and one notice at a time. One
   notice's time is bounded: a channel waits on its peer at most ``waits`` times of
   ``timeout`` seconds each, and the timeout is lowered so that this is at most half the
   claim. Before a notice the claim might not outlast with half as much again to spare,
   the results so far are written and the claim renewed. Group-chat robots are held to their
   per-minute limit, counted from the ``delivery`` table so every dispatcher sees it; a
   robot that answered "too fast" is left alone until it reopens.
4. *Mark*: a ``delivery`` row and an audit event per attempt; sent, or retried later
   with exponential backoff and jitter (a "too fast" answer waits for the robot's window
   too), or dead after ``max_attempts``. Every write names the claim's token, so it takes
   effect only while the row is still this dispatcher's: a dispatcher whose claim ran out
   (a peer that trickled its answer, a paused process) and was taken over records
   nothing; its result is dropped and logged.

A dispatcher that dies between sending and marking leaves its rows leased; when the lease
runs out they are sent again with the same key, so receivers see the same Message-ID or
reference: delivery is at least once, and a duplicate is recognisable.
"""

from __future__ import annotations

import html
import logging
import os
import random
import re
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from caseflow import access, audit, db
from caseflow.errors import CaseflowError, InvalidInput
from caseflow.escalation import recipient_label
from caseflow.i18n import N_, _
from caseflow.models import Delivery
from caseflow.notifiers import Notice as Message
from caseflow.notifiers import Notifier, Result, channel
from caseflow.org import Contact
from caseflow.secrets import credentials_of, scrub
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.outbox import NOTICE, reference
from caseflow.services.records import log_read, org_in_force, record, require
from caseflow.states import RECIPIENTS

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
# The fence: a change to a claimed notice takes effect only under the claim's token.
_HELD = NOTICE.c.claimed_by == bindparam("b_token")
_MARK_HELD = update(NOTICE).where(NOTICE.c.id == bindparam("b_id"), _HELD)
_RENEW = (
    update(NOTICE)
    .where(NOTICE.c.id.in_(bindparam("ids", expanding=True)), _HELD)
    .values(claimed_until=bindparam("claimed_until"))
    .returning(NOTICE.c.id)
)
_RELEASE = update(NOTICE).where(NOTICE.c.id.in_(bindparam("ids", expanding=True)), _HELD)
# Requests that reached a rate-limited peer: those it took, and those it refused as too fast.
_REACHED_RECENTLY = (
    select(_DELIVERY.c.at, _DELIVERY.c.status)
    .where(
        _DELIVERY.c.channel == bindparam("channel"),
        _DELIVERY.c.address == bindparam("address"),
        _DELIVERY.c.status.in_(("sent", "rate_limited")),
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
    # Results not recorded: the claim had run out and another dispatcher had taken over.
    stale: int = 0

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
    message = scrub(
        _("The document template {template} cannot be rendered: {error}").format(
            template=row.template, error=error
        )
    )
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


def _claim(ctx: Context, batch: int, token: str, now: datetime) -> list[Any]:
    """Lease up to ``batch`` due notices to the claim ``token`` until ``now`` + the lease."""
    lease = timedelta(seconds=ctx.workspace.dispatch.lease_seconds)
    with db.write(ctx.engine) as connection:
        ids = list(
            connection.execute(
                _DUE.with_for_update(skip_locked=True), {"now": now, "batch": batch}
            ).scalars()
        )
        if not ids:
            return []
        connection.execute(_CLAIM, {"ids": ids, "claimed_until": now + lease, "claimed_by": token})
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


def recipient_role(key: str, departments: Mapping[str, str]) -> str:
    """The recipient's role in a few Chinese words, for a letter's file name: never a
    person's name (``guardian:case/12/…`` is 监护人, ``person:…`` 包保责任人)."""
    role, _, place = key.partition(":")
    if role == "guardian":
        return "监护人"
    if role == "person":
        return "包保责任人"
    if role == "department":
        return departments.get(place, "转介部门")
    if role.startswith("case/"):
        return "案卷"
    return RECIPIENTS.get(role, "收件单位")


def _message(row: Any, departments: Mapping[str, str], ctx: Context) -> Message:
    return Message(
        key=row.key,
        reference=reference(row.id),
        address=row.address or "",
        subject=row.subject,
        html=row.body,
        text=_chat_text(row, departments),
        cover=_cover(row, departments) if names_a_child(row.template) else "",
        document=outbox.title_of(row.body or "", row.template),
        cases=tuple(row.case_ids or ()),
        role=recipient_role(row.recipient, departments),
        day=ctx.today,
    )


@dataclass
class _Window:
    """What a rate-limited address may still take, and when it takes more again."""

    room: int
    reopens: datetime


def _windows(
    connection: Connection, notifier: type[Notifier], addresses: set[str], now: datetime
) -> dict[str, _Window]:
    """For a channel held to ``per_minute`` messages an address: how many each address may
    still take now, counted from the ``delivery`` table so that every dispatcher sees the
    same count. Every request that reached the peer counts (a refused one too: the robot
    counts it), and an address that answered "too fast" is closed for the channel's
    ``rate_closed_seconds`` after that answer."""
    assert notifier.per_minute is not None
    closed_for = timedelta(seconds=notifier.rate_closed_seconds)
    windows: dict[str, _Window] = {}
    for address in addresses:
        recent = list(
            connection.execute(
                _REACHED_RECENTLY,
                {
                    "channel": notifier.name,
                    "address": address,
                    "since": now - max(RATE_WINDOW, closed_for),
                },
            ).all()
        )
        in_window = [at for at, _ in recent if at > now - RATE_WINDOW]
        room = max(notifier.per_minute - len(in_window), 0)
        reopens = now if room else in_window[-notifier.per_minute] + RATE_WINDOW
        refused = [at for at, outcome in recent if outcome == "rate_limited"]
        if refused and refused[-1] + closed_for > now:
            room, reopens = 0, max(reopens, refused[-1] + closed_for)
        if not room:
            reopens = max(reopens, now + timedelta(seconds=1))
        windows[address] = _Window(room, reopens)
    return windows


def dispatch(
    ctx: Context,
    *,
    env: Mapping[str, str] | None = None,
    limit: int | None = None,
    holder: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
) -> DispatchReport:
    """Deliver what is due in the outbox, batch by batch; ``progress`` is told of each
    notice tried (for a progress display)."""
    require(ctx, access.DISPATCHERS, "notify dispatch")
    environment = os.environ if env is None else env
    me = holder or dispatcher_id()
    jitter = rng or random.Random()
    settings = ctx.workspace.dispatch
    report = DispatchReport(routed=route(ctx))
    handled = 0
    stop = should_stop or (lambda: False)
    while not stop():
        batch = settings.batch_size if limit is None else min(settings.batch_size, limit - handled)
        if batch <= 0:
            break
        # Each claim gets its own fencing token: a result is written only while the row
        # still carries it, so a dispatcher whose claim ran out (and was taken over) cannot
        # overwrite what its successor recorded.
        token = f"{me}#{uuid.uuid4().hex[:12]}"
        now = ctx.now()
        rows = _claim(ctx, batch, token, now)
        if not rows:
            break
        handled += len(rows)
        holding = _Holding(ctx, token, rows, now, rng=jitter, report=report)
        try:
            by_channel: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                by_channel[row.channel].append(row)
            for name, group in by_channel.items():
                _deliver(
                    ctx, name, group, holding, env=environment, should_stop=stop, tried=progress
                )
        finally:
            holding.finish()
    return report


# Of a claim's time, the share one notice may take at most; the rest is the margin in which
# its result is written and the claim renewed. A channel's ``timeout`` is lowered to fit.
SHARE_OF_CLAIM = 0.5
# The least time a notice is given (a channel with nothing to wait for, such as letters).
LEAST_BOUND = 1.0


def bounded(
    notifier: type[Notifier], settings: Mapping[str, Any], lease_seconds: float
) -> tuple[Mapping[str, Any], float]:
    """A channel's settings with its ``timeout`` lowered, if need be, so that one notice
    (at most ``waits`` waits of ``timeout`` seconds each) takes at most ``SHARE_OF_CLAIM``
    of a claim; and the bound of one notice's time under them, in seconds."""
    most = lease_seconds * SHARE_OF_CLAIM
    if notifier.waits <= 0:
        return settings, min(LEAST_BOUND, most)
    timeout = settings.get("timeout", notifier.default_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        return settings, most  # the channel refuses the setting itself, sending nothing
    timeout = min(float(timeout), most / notifier.waits)
    return {**settings, "timeout": timeout}, max(timeout * notifier.waits, min(LEAST_BOUND, most))


class _Holding:
    """The rows of one claim while they are sent: the claim is renewed before a notice
    whose bound it might not outlast, and every write (a result, a deferral, a renewal,
    a release) names the claim's fencing token, so it takes effect only while this
    dispatcher still holds the row. Results are written when the claim is renewed and
    when the batch ends: a crash loses at most one claim's worth of results, which are
    then sent again (at least once)."""

    def __init__(
        self,
        ctx: Context,
        token: str,
        rows: Sequence[Any],
        now: datetime,
        *,
        rng: random.Random,
        report: DispatchReport,
    ) -> None:
        self.ctx = ctx
        self.token = token
        self.lease = timedelta(seconds=ctx.workspace.dispatch.lease_seconds)
        self.until = now + self.lease
        self.rng = rng
        self.report = report
        self.unsent: dict[int, Any] = {row.id: row for row in rows}
        self.settled: list[tuple[Any, Result, datetime]] = []
        self.deferred: list[tuple[Any, datetime]] = []

    def holds(self, row: Any) -> bool:
        return row.id in self.unsent

    def keep(self, bound: float) -> None:
        """Before a notice that may take ``bound`` seconds: unless the claim outlasts it
        with half as much again to spare (for writing its result), write the results so
        far and renew the claim."""
        if (self.until - self.ctx.now()).total_seconds() < 1.5 * bound:
            self.write(renew=True)

    def settle(self, row: Any, result: Result) -> None:
        del self.unsent[row.id]
        self.settled.append((row, result, self.ctx.now()))

    def defer(self, row: Any, until: datetime) -> None:
        """Put a notice back unsent, due again at ``until`` (a rate limit's window)."""
        del self.unsent[row.id]
        self.deferred.append((row, until))

    def finish(self) -> None:
        """Write what is left and release the notices not sent (a stop, a failure)."""
        self.write(renew=False)

    def write(self, *, renew: bool) -> None:
        now = self.ctx.now()
        settled, self.settled = self.settled, []
        deferred, self.deferred = self.deferred, []
        deliveries, events = [], []
        with db.write(self.ctx.engine) as connection:
            for row, result, at in settled:
                change, delivery, event = _outcome(self.ctx, row, result, at, self.rng)
                if not self._fenced(connection, change):
                    self._stale(row, result.kind or "sent")
                    continue
                _count(self.report, delivery["status"])
                deliveries.append(delivery)
                events.append(event)
            for row, until in deferred:
                change = {"b_id": row.id, "next_attempt_at": until, **_RELEASED}
                if self._fenced(connection, change):
                    self.report.deferred += 1
            if renew and self.unsent:
                until = now + self.lease
                kept = set(
                    connection.execute(
                        _RENEW,
                        {"ids": list(self.unsent), "b_token": self.token, "claimed_until": until},
                    ).scalars()
                )
                for notice_id in set(self.unsent) - kept:
                    self._stale(self.unsent.pop(notice_id), "unsent")
                self.until = until
            elif not renew and self.unsent:
                connection.execute(
                    _RELEASE, {"ids": list(self.unsent), "b_token": self.token, **_RELEASED}
                )
                self.unsent = {}
            if deliveries:
                connection.execute(insert(_DELIVERY), deliveries)
                audit.append_many(connection, events)

    def _fenced(self, connection: Connection, change: dict[str, Any]) -> bool:
        """Apply a change to a notice if this claim still holds it."""
        return connection.execute(_MARK_HELD, {**change, "b_token": self.token}).rowcount == 1

    def _stale(self, row: Any, outcome: str) -> None:
        self.report.stale += 1
        _log.warning(
            _(
                "The claim on notice {reference} ({channel}) ran out and another dispatcher "
                "took it over; this one's result ({outcome}) is not recorded."
            ).format(
                reference=reference(row.id),
                channel=row.channel,
                outcome=_(_OUTCOMES[outcome]) if outcome in _OUTCOMES else outcome,
            )
        )


_log = logging.getLogger("caseflow.dispatch")
_OUTCOMES = {
    "sent": N_("sent"),
    "transient": N_("failed for now"),
    "rate_limited": N_("rate limited by the peer"),
    "permanent": N_("failed for good"),
    "unsent": N_("not sent"),
}
_RELEASED = {"claimed_until": None, "claimed_by": None}


def _count(report: DispatchReport, outcome: str) -> None:
    if outcome == "sent":
        report.sent += 1
    elif outcome == "transient":
        report.retrying += 1
    elif outcome == "rate_limited":
        report.deferred += 1
    else:
        report.dead += 1


def _deliver(
    ctx: Context,
    name: str,
    rows: list[Any],
    holding: _Holding,
    *,
    env: Mapping[str, str],
    should_stop: Callable[[], bool],
    tried: Callable[[int], None] | None = None,
) -> None:
    """Send one channel's notices of a claim, one at a time."""
    lease = ctx.workspace.dispatch.lease_seconds
    known = channel_secrets(ctx.workspace.notifiers.get(name, {}), env)
    try:
        notifier_class = channel(name)  # its code, or its Chinese name in org.yaml
        code = notifier_class.name if notifier_class.name in ctx.workspace.notifiers else name
        known += channel_secrets(ctx.workspace.notifiers.get(code, {}), env)
        settings, bound = bounded(notifier_class, ctx.workspace.notifiers.get(code, {}), lease)
        notifier = notifier_class(settings, env, ctx.workspace.root)
    except CaseflowError as exc:
        for row in rows:
            holding.settle(row, _scrubbed(Result.failed(row.key, "permanent", exc.message), known))
        return
    windows: dict[str, _Window] = {}
    if notifier_class.per_minute is not None:
        with db.read(ctx.engine) as connection:
            windows = _windows(connection, notifier_class, {row.address for row in rows}, ctx.now())
    departments = ctx.current_workflow.departments
    try:
        for row in rows:
            if should_stop():
                return
            holding.keep(bound)
            if not holding.holds(row):
                continue  # taken over by another dispatcher while this one was slow
            window = windows.get(row.address)
            if window is not None and window.room <= 0:
                holding.defer(row, window.reopens)
                continue
            result = _scrubbed(_send_one(notifier, name, row, departments, ctx), known)
            holding.settle(row, result)
            if tried is not None:
                tried(1)
            if window is not None:
                window.room -= 1
                if result.kind == "rate_limited":
                    closed = result.retry_after or notifier_class.rate_closed_seconds
                    window.room = 0
                    window.reopens = max(window.reopens, ctx.now() + timedelta(seconds=closed))
    finally:
        notifier.close()


def channel_secrets(settings: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """Every secret a channel's settings lead to, by value: the values of the environment
    variables its ``*_env`` settings and its ``robots`` name, and the credentials of every
    URL among its settings and those values (a token in a path or a query, a password).
    Blanked from every error the channel reports, whatever the channel (a county's own
    included) forgot to blank itself."""
    found: list[str] = []

    def secret_value(value: str) -> None:
        found.append(value)
        found.extend(credentials_of(value))

    def walk(table: Mapping[str, Any], names_variables: bool) -> None:
        for key, value in table.items():
            if isinstance(value, Mapping):
                walk(value, names_variables or key == "robots")
            elif isinstance(value, str):
                if (names_variables or str(key).endswith("_env")) and env.get(value):
                    secret_value(env[value])
                if "://" in value:
                    found.extend(credentials_of(value))

    walk(settings, names_variables=False)
    return found


def _scrubbed(result: Result, known: Sequence[str]) -> Result:
    """The result with the credentials blanked from its error: the channel's secrets, and
    those of any URL the error quotes."""
    if not result.error:
        return result
    return replace(result, error=scrub(result.error, known))


def _send_one(
    notifier: Notifier, name: str, row: Any, departments: Mapping[str, str], ctx: Context
) -> Result:
    try:
        results = notifier.send([_message(row, departments, ctx)])
    except Exception as exc:  # a channel broke its contract: retry; its message may hold a secret
        return Result.failed(
            row.key,
            "transient",
            _("The {channel} channel failed: {error}").format(
                channel=name, error=type(exc).__name__
            ),
        )
    if len(results) != 1:
        return Result.failed(
            row.key,
            "transient",
            _("The {channel} channel returned {count} results for one notice").format(
                channel=name, count=len(results)
            ),
        )
    return results[0]


def _backoff(attempt: int, ctx: Context, rng: random.Random) -> timedelta:
    settings = ctx.workspace.dispatch
    base = min(settings.backoff_seconds * 2 ** (attempt - 1), settings.backoff_cap_seconds)
    return timedelta(seconds=base * rng.uniform(0.5, 1.5))


def _outcome(
    ctx: Context, row: Any, result: Result, now: datetime, rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any], audit.NewEvent]:
    """What one attempt changes: the notice row, its delivery row and its audit event.
    Every attempt counts, a rate-limited one too: it waits for the peer's window or for
    its backoff, whichever is longer, and after ``max_attempts`` it is dead."""
    max_attempts = ctx.workspace.dispatch.max_attempts
    attempt = row.attempts + 1
    # Every change names the same columns (those it leaves alone at their values).
    change: dict[str, Any] = {
        "b_id": row.id,
        "attempts": attempt,
        **_RELEASED,
        "status": row.status,
        "sent_at": row.sent_at,
        "peer_reference": row.peer_reference,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
    }
    if result.ok:
        status = "sent"
        change.update(status="sent", sent_at=now, peer_reference=result.reference, last_error=None)
    elif result.kind in ("transient", "rate_limited") and attempt < max_attempts:
        status = result.kind
        wait = _backoff(attempt, ctx, rng)
        if result.kind == "rate_limited":
            window = timedelta(seconds=result.retry_after or RATE_WINDOW.total_seconds())
            wait = max(wait, window)
        change.update(next_attempt_at=now + wait, last_error=result.error)
    else:
        status = "dead"
        change.update(status="dead", last_error=result.error)
    delivery = {
        "notice_id": row.id,
        "attempt": attempt,
        "channel": row.channel,
        "address": row.address or "",
        "status": status,
        "error": result.error or None,
        "peer_reference": result.reference or None,
        "at": now,
    }
    event = _attempt_event(
        ctx,
        row,
        now,
        attempt=attempt,
        status=status,
        error=result.error,
        peer_reference=result.reference,
    )
    return change, delivery, event


# ---------------------------------------------------------------------------------------
# What a person sees and does


def status(ctx: Context, *, only: str | None = None, limit: int = 200) -> dict[str, Any]:
    require(ctx, access.DISPATCHERS, "notify status")
    if only is not None and only not in STATUSES:
        raise InvalidInput(
            _("--status must be one of {choices}, got {status!r}").format(
                choices="、".join(STATUSES), status=only
            )
        )
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
            raise InvalidInput(_("There is no notice {id}").format(id=notice_id))
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
        raise InvalidInput(_("List the notice ids to requeue, or give --all-dead"))
    now = ctx.now()
    with db.write(ctx.engine) as connection:
        query = select(NOTICE).where(NOTICE.c.status == "dead")
        if ids:
            query = select(NOTICE).where(NOTICE.c.id.in_(ids))
        rows = {row.id: row for row in connection.execute(query).all()}
        for notice_id in ids:
            if notice_id not in rows:
                raise InvalidInput(_("There is no notice {id}").format(id=notice_id))
            if rows[notice_id].status != "dead":
                raise InvalidInput(
                    _(
                        "Notice {id} is {status}, not dead (failed); only failed notices can "
                        "be requeued"
                    ).format(id=notice_id, status=rows[notice_id].status)
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
