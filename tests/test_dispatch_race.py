"""Two dispatchers and a slow channel (issue 17, item 1), on a real webhook receiver on
loopback: the first dispatcher's batch outlives its claim, a second one starts after the
claim ran out, and neither may deliver a notice twice or mark a delivered notice unsent.

The times are the issue's reproduction scaled down five times: a claim of 3 s (15 s), a
receiver that sleeps 1.2 s (6 s) and answers 500 until 3 s (15 s), then 200 at once, and a
second dispatcher started after 3.2 s (16 s), both with batches of 5.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from caseflow import db
from caseflow.models import Delivery, Notice
from caseflow.services.context import Context, open_context
from caseflow.services.dispatch import DispatchReport, dispatch
from tests.conftest import FIXED_NOW
from tests.test_dispatch import put_in_force, set_dispatch

NOTICES = Notice.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]

LEASE = 3.0  # seconds: [dispatch] lease_seconds
SLOW = 1.2  # seconds the receiver takes before it answers 500
HEALED = 3.0  # from then on it answers 200 at once
SECOND = 3.2  # when the second dispatcher starts
BATCH = 5


class RunningClock:
    """The system clock's pace from FIXED_NOW; ``skip`` jumps ahead (past a backoff)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.skipped = timedelta()

    def restart(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self) -> datetime:
        return FIXED_NOW + timedelta(seconds=self.elapsed()) + self.skipped

    def skip(self, **delta: float) -> None:
        self.skipped += timedelta(**delta)


@dataclass
class Receiver:
    """A county's webhook receiver: what it answered, per idempotency key."""

    clock: RunningClock
    answers: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Keys whose first request gets its answer one header line at a time, slowly.
    trickle: set[str] = field(default_factory=set)
    trickling: threading.Event = field(default_factory=threading.Event)

    def delivered(self, key: str) -> int:
        with self.lock:
            return sum(1 for k, status in self.answers if k == key and status == 200)

    def record(self, key: str, status: int) -> None:
        with self.lock:
            self.answers.append((key, status))


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    peer = Receiver(RunningClock())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = json.loads(body)["key"]
            if key in peer.trickle:
                peer.trickle.discard(key)
                peer.trickling.set()
                self._trickle(key)
                return
            if peer.clock.elapsed() < HEALED:
                time.sleep(SLOW)
                status = 500
            else:
                status = 200
            peer.record(key, status)
            self._answer(status)

        def _answer(self, status: int) -> None:
            raw = b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(raw)

        def _trickle(self, key: str) -> None:
            """A 500 whose header lines come 0.3 s apart for longer than a claim: every read
            is well within the channel's timeout, the whole answer is not."""
            self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\n")
            self.wfile.flush()
            for _ in range(int(1.4 * LEASE / 0.3)):
                time.sleep(0.3)
                self.wfile.write(b"X-Slow: 1\r\n")
                self.wfile.flush()
            peer.record(key, 500)
            self.wfile.write(b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a dispatcher that gave up waiting closed the connection

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", peer
    server.shutdown()
    server.server_close()


@pytest.fixture
def slow_county(ctx, workspace, receiver, monkeypatch) -> tuple[Path, Receiver, list[str]]:
    url, peer = receiver
    monkeypatch.setenv("COUNTY_HOOK_SECRET", "county-hook-secret")
    set_dispatch(workspace, lease_seconds=int(LEASE), batch_size=BATCH, backoff_seconds=60)
    with (workspace / "caseflow.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[notifiers.webhook]\nurl = "{url}"\nsecret_env = "COUNTY_HOOK_SECRET"\n'
            "timeout = 5\n"
        )
    put_in_force(ctx, "default:\n  - {channel: webhook, address: county}\n")
    keys = [f"race:{n}" for n in range(BATCH)]
    with db.write(ctx.engine) as connection:
        connection.execute(
            insert(NOTICES),
            [
                {
                    "key": key,
                    "kind": "escalation",
                    "template": "escalation_notice",
                    "recipient": "township_head:天堂镇",
                    "case_ids": [n + 1],
                    "subject": "逾期督办",
                    "body": "<p>督办通知</p>",
                    "content_hash": "0" * 64,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": FIXED_NOW,
                    "created_at": FIXED_NOW,
                }
                for n, key in enumerate(keys)
            ],
        )
    return workspace, peer, keys


def dispatcher(root: Path, clock: RunningClock) -> Context:
    return replace(open_context(root), clock=clock)


def run_in_thread(
    ctx: Context, holder: str, reports: dict[str, DispatchReport], limit: int = BATCH
) -> threading.Thread:
    def run() -> None:
        reports[holder] = dispatch(ctx, holder=holder, limit=limit)

    thread = threading.Thread(target=run, name=holder)
    thread.start()
    return thread


def history(ctx: Context) -> dict[int, list[str]]:
    """Each notice's delivery attempts, in order, as their outcome."""
    with db.read(ctx.engine) as connection:
        found = connection.execute(
            select(DELIVERIES.c.notice_id, DELIVERIES.c.status).order_by(DELIVERIES.c.id)
        ).all()
    attempts: dict[int, list[str]] = {}
    for notice_id, outcome in found:
        attempts.setdefault(notice_id, []).append(outcome)
    return attempts


def statuses(ctx: Context) -> list[str]:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(NOTICES.c.status).order_by(NOTICES.c.id)).scalars())


def test_a_second_dispatcher_after_a_slow_batch_neither_delivers_twice_nor_unsends(
    slow_county,
) -> None:
    root, peer, keys = slow_county
    clock = peer.clock
    first, second = dispatcher(root, clock), dispatcher(root, clock)
    reports: dict[str, DispatchReport] = {}
    try:
        clock.restart()
        one = run_in_thread(first, "第一调度", reports)
        time.sleep(max(SECOND - clock.elapsed(), 0))
        two = run_in_thread(second, "第二调度", reports)
        one.join(30)
        two.join(30)
        assert set(reports) == {"第一调度", "第二调度"}
        # A delivered notice is never marked to be sent again.
        unsent = [
            notice
            for notice, outcomes in history(first).items()
            if "sent" in outcomes and outcomes[outcomes.index("sent") :] != ["sent"]
        ]
        # What is left goes out on a later run (past its backoff), each notice once.
        clock.skip(hours=1)
        dispatch(first)
        delivered = [peer.delivered(key) for key in keys]
        assert (unsent, delivered) == ([], [1] * BATCH)
        assert statuses(first) == ["sent"] * BATCH
    finally:
        first.engine.dispose()
        second.engine.dispose()


def test_a_dispatcher_whose_claim_ran_out_mid_answer_records_nothing_over_its_successor(
    slow_county, caplog
) -> None:
    root, peer, keys = slow_county
    clock = peer.clock
    peer.trickle.add(keys[0])
    first, second = dispatcher(root, clock), dispatcher(root, clock)
    reports: dict[str, DispatchReport] = {}
    try:
        clock.restart()
        with caplog.at_level(logging.WARNING, logger="caseflow.dispatch"):
            one = run_in_thread(first, "第一调度", reports, limit=1)
            # The claim was taken just before the request: it has run out a claim later.
            assert peer.trickling.wait(10)
            time.sleep(LEASE + 0.3)
            two = run_in_thread(second, "第二调度", reports, limit=1)
            one.join(30)
            two.join(30)
        # The second dispatcher took the notice over and delivered it; the first one's
        # late answer (a 500) is dropped, and said so, instead of undoing that.
        assert (reports["第二调度"].sent, reports["第一调度"].stale) == (1, 1), reports
        assert statuses(first)[0] == "sent"
        assert history(first)[1] == ["sent"]
        assert peer.delivered(keys[0]) == 1
        warned = [r.getMessage() for r in caplog.records if r.name == "caseflow.dispatch"]
        assert len(warned) == 1
        assert "KC-000001" in warned[0] and "another dispatcher took it over" in warned[0]
        assert "(failed for now) is not recorded" in warned[0]
    finally:
        first.engine.dispose()
        second.engine.dispose()


@dataclass
class SilentServer:
    """A mail server that takes connections and never says a word; it notes how long each
    client waited before giving up (closing the connection)."""

    port: int = 0
    waited: list[float] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def silent_mail_server() -> Iterator[SilentServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    server = SilentServer(listener.getsockname()[1])
    stop = threading.Event()

    def listen() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                accepted = time.monotonic()
                connection.settimeout(40)
                try:
                    connection.recv(1)  # b"": the client hung up
                except OSError:
                    continue
                server.waited.append(time.monotonic() - accepted)
                server.hung_up.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(45)
    listener.close()


def test_a_mail_server_that_never_answers_holds_a_notice_at_most_half_the_claim(
    ctx, workspace, silent_mail_server
) -> None:
    set_dispatch(workspace, lease_seconds=int(LEASE))
    with (workspace / "caseflow.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[notifiers.email]\nhost = "127.0.0.1"\nport = {silent_mail_server.port}\n'
            'security = "none"\nfrom = "kzbx@edu.example.cn"\ntimeout = 30\n'
        )
    put_in_force(ctx, "default:\n  - {channel: email, address: jyj@edu.example.cn}\n")
    with db.write(ctx.engine) as connection:
        connection.execute(
            insert(NOTICES),
            {
                "key": "silent:1",
                "kind": "escalation",
                "template": "escalation_notice",
                "recipient": "education_bureau",
                "case_ids": [1],
                "subject": "逾期督办",
                "body": "<p>督办通知</p>",
                "content_hash": "0" * 64,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": FIXED_NOW,
                "created_at": FIXED_NOW,
            },
        )
    configured = open_context(workspace, clock=lambda: FIXED_NOW)
    try:
        report = dispatch(configured)
    finally:
        configured.engine.dispose()
    # The configured 30 s a wait would have outlived the 3 s claim many times over.
    assert report.retrying == 1 and silent_mail_server.hung_up.wait(10)
    assert len(silent_mail_server.waited) == 1 and silent_mail_server.waited[0] < LEASE / 2
    with db.read(ctx.engine) as connection:
        row = connection.execute(select(NOTICES)).one()
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None)
