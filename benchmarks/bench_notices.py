"""Notices: delivering email through the whole outbox path, and rendering letters.

- ``notices_email``: N notices (full 5,000; quick 300) delivered by ``caseflow notify
  dispatch`` (`dispatch_service.dispatch`: route, claim with a lease, send over one SMTP
  connection per batch, mark with a delivery row and an audit event) to an aiosmtpd
  server on 127.0.0.1, against a raw ``smtplib`` loop sending the same messages over one
  connection, in the same run; target: at least 60% of the raw rate.
- ``letters_render``: documents rendered per second by `caseflow.render.render` (the
  escalation notice listing 10 cases) against Jinja2 rendering the same template text
  with a bare ``Environment`` and no field checks; target: at least 50%.
"""

from __future__ import annotations

import smtplib
import socket
import tempfile
import threading
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import insert

from benchmarks import log, median, result
from caseflow import db
from caseflow.models import Notice
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.org import apply_org

EMAIL_TARGET = 0.6
RENDER_TARGET = 0.5


class _Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages += 1
        return "250 OK"


def _smtp_server() -> tuple[Any, _Counter]:
    from aiosmtpd.controller import Controller

    handler = _Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


def _html() -> str:
    from caseflow.render import render

    return render("escalation_notice", _escalation_context())


def _escalation_context() -> dict[str, Any]:
    cases = [
        {
            "number": n,
            "masked_name": "张*华",
            "masked_id": "5206********0021",
            "township": "天堂镇",
            "village": "天堂村",
            "state_label": "劝返中",
            "due_on": date(2026, 11, 2),
            "days_overdue": 27,
            "next_responsible": "县教育局",
        }
        for n in range(1, 11)
    ]
    return {
        "today": date(2026, 11, 29),
        "issuer": {"name": "示范县控辍保学工作领导小组办公室", "reference": ""},
        "recipient": {"name": "天堂镇乡镇长"},
        "escalation": {"level": 2, "cases": cases},
    }


def _workspace(root: Path, port: int, count: int, html: str) -> Context:
    init_workspace(root)
    with (root / "caseflow.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[notifiers.email]\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\nfrom = "kzbx@edu.example.cn"\n'
        )
    ctx = open_context(root)
    actor = ctx.actor
    (root / "org.yaml").write_text(
        "units:\n  - {id: bureau, kind: education_bureau, name: 本县教育局}\n"
        f"operators:\n  - {{name: {actor.operator}, os_user: {actor.os_user}, "
        "roles: [bureau, admin], unit: bureau}\n"
        "default:\n  - {channel: email, address: bureau@edu.example.cn}\n",
        encoding="utf-8",
    )
    apply_org(ctx)  # notices are routed by the organisation in force
    now = datetime.now(UTC)
    rows = [
        {
            "key": f"bench:{n}",
            "kind": "escalation",
            "template": "escalation_notice",
            "recipient": "education_bureau",
            "case_ids": [n],
            "subject": "控辍保学逾期督办通知",
            "body": html,
            "content_hash": "0" * 64,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(count)
    ]
    with db.write(ctx.engine) as connection:
        connection.execute(insert(Notice.__table__), rows)  # type: ignore[attr-defined]
    return ctx


def _raw_smtp(port: int, count: int, html: str) -> float:
    start = perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as connection:
        for n in range(count):
            message = EmailMessage()
            message["From"] = "kzbx@edu.example.cn"
            message["To"] = "bureau@edu.example.cn"
            message["Subject"] = "控辍保学逾期督办通知"
            message["Message-ID"] = f"<{n}@bench>"
            message.set_content("见附件")
            message.add_alternative(html, subtype="html")
            connection.send_message(message)
    return perf_counter() - start


def run_email(quick: bool) -> list[dict[str, Any]]:
    count = 300 if quick else 5000
    rounds = 1 if quick else 3
    html = _html()
    controller, handler = _smtp_server()
    engine_times, raw_times = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="caseflow-bench-notices-") as scratch:
            for round_ in range(rounds):
                raw_times.append(_raw_smtp(controller.port, count, html))
                ctx = _workspace(Path(scratch) / f"ws{round_}", controller.port, count, html)
                before = handler.messages
                start = perf_counter()
                report = service_dispatch_run(ctx)
                engine_times.append(perf_counter() - start)
                assert report.sent == count, report
                assert handler.messages - before == count
                ctx.engine.dispose()
                log(
                    f"notices_email: round {round_ + 1}/{rounds}: caseflow "
                    f"{count / engine_times[-1]:,.0f}/s, raw smtplib {count / raw_times[-1]:,.0f}/s"
                )
    finally:
        controller.stop()
    engine_rate, raw_rate = count / median(engine_times), count / median(raw_times)
    return [
        result(
            "notices_email",
            engine_rate / raw_rate,
            EMAIL_TARGET,
            at_most=False,
            engine_rate=round(engine_rate, 1),
            raw_rate=round(raw_rate, 1),
            notices=count,
            rounds=rounds,
        )
    ]


def service_dispatch_run(ctx: Context) -> Any:
    from caseflow.services.dispatch import dispatch

    return dispatch(ctx)


def run_render(quick: bool) -> list[dict[str, Any]]:
    import jinja2

    from caseflow.render import render, templates_dir

    count = 200 if quick else 2000
    context = _escalation_context()
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from caseflow.render import cn_date, cn_number

    environment.filters.update(cn_date=cn_date, cn_number=cn_number)
    bare = environment.get_template("escalation_notice.html.j2")
    render("escalation_notice", context)
    engine_times, bare_times = [], []
    for _ in range(1 if quick else 3):
        start = perf_counter()
        for _ in range(count):
            bare.render(context)
        bare_times.append(perf_counter() - start)
        start = perf_counter()
        for _ in range(count):
            render("escalation_notice", context)
        engine_times.append(perf_counter() - start)
    engine_rate, bare_rate = count / median(engine_times), count / median(bare_times)
    log(f"letters_render: caseflow {engine_rate:,.0f}/s, bare jinja2 {bare_rate:,.0f}/s")
    return [
        result(
            "letters_render",
            engine_rate / bare_rate,
            RENDER_TARGET,
            at_most=False,
            letters_per_second=round(engine_rate, 1),
            bare_per_second=round(bare_rate, 1),
            letters=count,
        )
    ]
