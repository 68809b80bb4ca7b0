"""The outbox against real peers on loopback: an SMTP server and a WeCom robot."""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from caseflow import db
from caseflow.models import Delivery, Notice
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context, open_context
from caseflow.services.dispatch import dispatch, retry
from caseflow.services.sweep import sweep
from tests.conftest import FIXED_NOW, Clock, child
from tests.test_channels import SmtpServer, free_port
from tests.test_dispatch import put_in_force, set_dispatch

NOTICES = Notice.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
ADDRESS = "jyj@edu.example.cn"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def configure(ctx: Context, notifier: str, contact: str) -> None:
    with (ctx.workspace.root / "caseflow.toml").open("a", encoding="utf-8") as config:
        config.write(notifier)
    put_in_force(ctx, f"default:\n  - {contact}\n")


@pytest.fixture
def mailing(ctx, workspace, clock, smtp) -> Context:
    configure(
        ctx,
        f'\n[notifiers.email]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        'security = "none"\nfrom = "kzbx@edu.example.cn"\ntimeout = 5\n',
        f"{{channel: email, address: {ADDRESS}}}",
    )
    return replace(open_context(workspace), clock=clock)


def overdue_cases(ctx: Context, count: int = 2) -> int:
    for serial in range(count):
        number = open_case(ctx, child(serial + 2), occurred_on=date(2026, 10, 9)).number
        advance(ctx, number, "start_verification", occurred_on=date(2026, 10, 9))
        advance(
            ctx, number, "confirm_dropout", {"reason": "poverty"}, occurred_on=date(2026, 10, 9)
        )
    return sweep(ctx).notices


def notices(ctx: Context) -> list[Any]:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(NOTICES).order_by(NOTICES.c.id)).all())


def test_a_batch_of_emails_arrives_exactly_once(mailing, smtp) -> None:
    queued = overdue_cases(mailing)
    assert dispatch(mailing).sent == queued
    assert dispatch(mailing).sent == 0
    received = smtp.mailbox.received()
    assert len(received) == queued
    assert len({m["Message-ID"] for m in received}) == queued
    assert smtp.mailbox.connections == 1
    assert {row.peer_reference for row in notices(mailing)} == {m["Message-ID"] for m in received}


def test_while_the_mail_server_is_down_nothing_is_marked_sent_then_all_arrive_once(
    mailing, smtp, clock
) -> None:
    queued = overdue_cases(mailing)
    smtp.stop()
    down = dispatch(mailing)
    assert (down.sent, down.retrying) == (0, queued)
    assert all(row.status == "pending" and row.sent_at is None for row in notices(mailing))
    smtp.start()
    clock.advance(minutes=2)
    assert dispatch(mailing).sent == queued
    assert len(smtp.mailbox.received()) == queued


def test_a_rejected_address_goes_dead_and_is_delivered_once_requeued(mailing, smtp) -> None:
    queued = overdue_cases(mailing, 1)
    smtp.mailbox.refuse[ADDRESS] = "550 5.1.1 mailbox unavailable"
    assert dispatch(mailing).dead == queued
    assert {row.status for row in notices(mailing)} == {"dead"}
    assert "550" in notices(mailing)[0].last_error
    del smtp.mailbox.refuse[ADDRESS]
    assert retry(mailing, all_dead=True) == queued
    assert dispatch(mailing).sent == queued
    assert len(smtp.mailbox.received()) == queued


def test_a_batch_where_one_address_is_refused_marks_every_notice_as_it_went(mailing, smtp) -> None:
    retired = "old.jyj@edu.example.cn"
    put_in_force(
        mailing,
        f"default:\n  - {{channel: email, address: {ADDRESS}}}\n"
        f"  - {{channel: email, address: {retired}}}\n",
    )
    queued = overdue_cases(mailing, 2)
    smtp.mailbox.refuse[retired] = "550 5.1.1 mailbox unavailable"
    report = dispatch(mailing)
    assert (report.sent, report.dead) == (queued, queued)
    rows = notices(mailing)
    sent = [row for row in rows if row.status == "sent"]
    dead = [row for row in rows if row.status == "dead"]
    assert {row.address for row in sent} == {ADDRESS} and len(sent) == queued
    assert all(row.sent_at is not None and row.peer_reference for row in sent)
    assert {row.address for row in dead} == {retired}
    assert all(row.sent_at is None and "550" in row.last_error for row in dead)


def test_a_dispatcher_killed_between_sending_and_marking_redelivers_with_the_same_id(
    mailing, smtp, clock, monkeypatch
) -> None:
    queued = overdue_cases(mailing, 1)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after sending, before marking")

    monkeypatch.setattr("caseflow.services.dispatch._Holding.write", killed)
    with pytest.raises(KeyboardInterrupt):
        dispatch(mailing)
    monkeypatch.undo()
    assert len(smtp.mailbox.received()) == queued
    assert all(row.status == "pending" for row in notices(mailing))
    assert dispatch(mailing).sent == 0  # still leased to the dead dispatcher
    clock.advance(seconds=mailing.workspace.dispatch.lease_seconds + 1)
    assert dispatch(mailing).sent == queued
    received = smtp.mailbox.received()
    assert len(received) == 2 * queued
    first, again = received[:queued], received[queued:]
    assert [m["Message-ID"] for m in first] == [m["Message-ID"] for m in again]


# ------------------------------------------------------------------ a WeCom robot


class Robot:
    """A WeCom group robot on loopback that keeps time by the test's clock: it answers
    HTTP 200 with errcode 45009 past 20 messages in a minute, as the real one does."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.accepted: list[datetime] = []
        self.refused = 0
        self.requests: list[tuple[datetime, int]] = []  # when, and the errcode answered
        self.saturated = False  # other systems keep it at its limit: it refuses everything
        self.lock = threading.Lock()

    def answer(self, body: bytes) -> dict[str, Any]:
        json.loads(body)
        with self.lock:
            window = [t for t in self.accepted if self.clock.now - t < timedelta(minutes=1)]
            if self.saturated or len(window) >= 20:
                self.refused += 1
                self.requests.append((self.clock.now, 45009))
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            self.accepted.append(self.clock.now)
            self.requests.append((self.clock.now, 0))
            return {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def robot(clock: Clock) -> Iterator[tuple[str, Robot]]:
    peer = Robot(clock)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            raw = json.dumps(peer.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send", peer
    server.shutdown()
    server.server_close()


def robot_notices(ctx: Context, workspace: Path, clock: Clock, url: str, count: int) -> Context:
    """``count`` notices due now for the WeCom robot ``tiantang`` at ``url``; the context
    that delivers them on ``clock``."""
    configure(
        ctx,
        f'\n[notifiers.wecom]\nbase_url = "{url}"\nrobots = {{tiantang = "WECOM_TIANTANG_KEY"}}\n',
        "{channel: wecom, address: tiantang}",
    )
    moving = replace(open_context(workspace), clock=clock)
    now = clock.now
    rows = [
        {
            "key": f"robot:{n}",
            "kind": "escalation",
            "template": "escalation_notice",
            "recipient": "township_head:天堂镇",
            "case_ids": [n + 1],
            "subject": "逾期督办",
            "body": "<p>letter</p>",
            "content_hash": "0" * 64,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(count)
    ]
    with db.write(moving.engine) as connection:
        connection.execute(insert(NOTICES), rows)
    return moving


def test_a_hundred_robot_messages_never_exceed_twenty_a_minute(
    ctx, workspace, clock, robot, monkeypatch
) -> None:
    url, peer = robot
    monkeypatch.setenv("WECOM_TIANTANG_KEY", "robot-key")
    moving = robot_notices(ctx, workspace, clock, url, 100)
    for _ in range(60):
        dispatch(moving)
        if all(row.status == "sent" for row in notices(moving)):
            break
        clock.advance(seconds=10)
    assert len(peer.accepted) == 100 and peer.refused == 0
    with db.read(moving.engine) as connection:
        sent_at = sorted(
            connection.execute(
                select(DELIVERIES.c.at).where(DELIVERIES.c.status == "sent")
            ).scalars()
        )
    assert len(sent_at) == 100
    for index, moment in enumerate(sent_at):
        in_window = [t for t in sent_at[index:] if t - moment < timedelta(minutes=1)]
        assert len(in_window) <= 20
    assert clock.now - FIXED_NOW >= timedelta(minutes=4)  # 100 at 20 a minute


def deliveries(ctx: Context) -> dict[int, list[Any]]:
    """Each notice's delivery attempts, in order."""
    with db.read(ctx.engine) as connection:
        found = connection.execute(select(DELIVERIES).order_by(DELIVERIES.c.id)).all()
    attempts: dict[int, list[Any]] = {}
    for row in found:
        attempts.setdefault(row.notice_id, []).append(row)
    return attempts


def test_a_robot_that_says_too_fast_is_not_asked_again_within_its_minute(
    ctx, workspace, clock, robot, monkeypatch
) -> None:
    url, peer = robot
    monkeypatch.setenv("WECOM_TIANTANG_KEY", "robot-key")
    moving = robot_notices(ctx, workspace, clock, url, 30)
    peer.accepted = [clock.now] * 20  # other systems used this minute's twenty messages
    first = dispatch(moving)
    # One request learnt that the robot is full; the other 29 wait for it to reopen.
    assert len(peer.requests) == 1 and (first.sent, first.deferred) == (0, 30)
    assert sorted(row.attempts for row in notices(moving)) == [0] * 29 + [1]
    for _ in range(3):  # every run within the minute asks nothing
        clock.advance(seconds=15)
        assert dispatch(moving).sent == 0
    assert len(peer.requests) == 1
    clock.advance(seconds=16)
    assert dispatch(moving).sent == 20
    clock.advance(minutes=1)  # the refused one waited at most 1.5 minutes (backoff)
    assert dispatch(moving).sent == 10
    assert peer.refused == 1 and len(peer.accepted) == 20 + 30
    assert {row.status for row in notices(moving)} == {"sent"}


def test_a_robot_that_keeps_refusing_gets_fewer_requests_and_its_notices_go_dead(
    ctx, workspace, clock, robot, monkeypatch
) -> None:
    url, peer = robot
    monkeypatch.setenv("WECOM_TIANTANG_KEY", "robot-key")
    set_dispatch(workspace, max_attempts=4, backoff_seconds=60)
    moving = robot_notices(ctx, workspace, clock, url, 3)
    peer.saturated = True
    for _ in range(200):
        dispatch(moving, rng=random.Random(17))
        if all(row.status == "dead" for row in notices(moving)):
            break
        clock.advance(seconds=15)
    rows = notices(moving)
    assert [(row.status, row.attempts) for row in rows] == [("dead", 4)] * 3
    assert all("45009" in row.last_error for row in rows)
    attempts = deliveries(moving)
    for row in rows:
        tried = attempts[row.id]
        assert [d.attempt for d in tried] == [1, 2, 3, 4]
        assert [d.status for d in tried] == ["rate_limited"] * 3 + ["dead"]
        gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(tried)]
        # Each wait is at least the robot's minute and at least half the doubled backoff.
        for attempt, gap in enumerate(gaps, start=1):
            assert gap >= max(60, 0.5 * 60 * 2 ** (attempt - 1)), (attempt, gaps)
    # After each refusal the robot is left alone for its minute.
    times = [at for at, _ in peer.requests]
    assert len(times) == 12
    assert all((b - a) >= timedelta(minutes=1) for a, b in itertools.pairwise(times))
