"""The demo's capture: an SMTP server and a robot webhook on loopback, writing what they
receive into the workspace's ``capture/`` folder, so the demo's e-mail and group-robot
channels deliver for real without leaving the machine."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from caseflow.demo import scenario

HOST = "127.0.0.1"


class _MailSink:
    """An aiosmtpd handler: each message into ``folder`` as an .eml file; a retired
    mailbox (an address starting with ``scenario.RETIRED_MAILBOX``) is refused, as a real
    server would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received = 0
        self.refused = 0
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith(scenario.RETIRED_MAILBOX):
            with self.lock:
                self.refused += 1
            return f"550 5.1.1 <{address}>: mailbox unavailable (address retired)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received += 1
            number = self.received
        content = envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        (self.folder / f"{number:05d}.eml").write_bytes(data)
        return "250 2.0.0 Message accepted for delivery"


class Capture:
    """The local peers the workspace's e-mail and robot channels point at while the demo
    runs: received mail in ``capture/mail/``, robot messages in
    ``capture/<channel>-<robot>.jsonl``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mail = _MailSink(folder / "mail")
        self.robot_messages: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._controller: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.smtp_port = 0
        self.http_port = 0

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        (self.folder / "mail").mkdir(parents=True, exist_ok=True)
        self.smtp_port = _free_port()
        self._controller = Controller(self.mail, hostname=HOST, port=self.smtp_port)
        self._controller.start()
        capture = self

        class RobotHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                capture.robot_message(self.path, body)
                answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer((HOST, 0), RobotHandler)
        self.http_port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def robot_message(self, path: str, body: bytes) -> None:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        if parts.path.endswith("/robot/send"):
            channel, robot = "dingtalk", query.get("access_token", ["?"])[0]
        else:
            channel, robot = "wecom", query.get("key", ["?"])[0]
        robot = robot.removeprefix("demo-")
        try:
            message: Any = json.loads(body)
        except ValueError:
            message = body.decode("utf-8", errors="replace")
        line = json.dumps({"robot": robot, "message": message}, ensure_ascii=False)
        with self._lock:
            self.robot_messages[channel] += 1
            with (self.folder / f"{channel}-{robot}.jsonl").open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def robot_url(self, channel: str, robot: str) -> str:
        if channel == "dingtalk":
            return f"http://{HOST}:{self.http_port}/robot/send?access_token=demo-{robot}"
        return f"http://{HOST}:{self.http_port}/cgi-bin/webhook/send?key=demo-{robot}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def loopback_unproxied() -> Iterator[None]:
    """Loopback peers are reached directly, whatever proxy the environment names."""
    names = ("no_proxy", "NO_PROXY")
    saved = {name: os.environ.get(name) for name in names}
    proxied = any(os.environ.get(v) for v in ("http_proxy", "HTTP_PROXY", "all_proxy"))
    if proxied:
        for name in names:
            os.environ[name] = ",".join(filter(None, (saved[name], HOST, "localhost")))
    try:
        yield
    finally:
        if proxied:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def robot_env(org: scenario.DemoOrg, capture: Capture) -> dict[str, str]:
    env: dict[str, str] = {}
    for robot, channel in org.robots.items():
        variable = f"CASEFLOW_DEMO_{channel.upper()}_{robot.upper()}"
        env[variable] = capture.robot_url(channel, robot)
        if channel == "dingtalk":
            env[f"{variable}_SECRET"] = f"SECdemo{robot}"
    return env


def notifier_config(org: scenario.DemoOrg, capture: Capture) -> str:
    wecom = {r: c for r, c in org.robots.items() if c == "wecom"}
    dingtalk = {r: c for r, c in org.robots.items() if c == "dingtalk"}
    lines = [
        "",
        "# ---- written by `caseflow demo` ---------------------------------------------------",
        "# E-mail and the group robots point at the demo's capture on 127.0.0.1, which ran only",
        "# while the demo ran (what it received is in capture/). The robots' webhook URLs were in",
        "# environment variables the demo set for its own dispatcher.",
        "[notifiers.email]",
        f'host = "{HOST}"',
        f"port = {capture.smtp_port}",
        'security = "none"',
        f'from = "{org.county}控辍保学工作专班 <kongchuo@jyj.{scenario.MAIL_DOMAIN}>"',
        "timeout = 10",
    ]
    if wecom:
        robots = ", ".join(f'{r} = "CASEFLOW_DEMO_WECOM_{r.upper()}"' for r in wecom)
        lines += ["", "[notifiers.wecom]", 'msgtype = "markdown"', f"robots = {{ {robots} }}"]
    if dingtalk:
        lines += ["", "[notifiers.dingtalk]", 'msgtype = "markdown"', 'title = "控辍保学提醒"']
        for robot in dingtalk:
            variable = f"CASEFLOW_DEMO_DINGTALK_{robot.upper()}"
            lines += [
                f"[notifiers.dingtalk.robots.{robot}]",
                f'token_env = "{variable}"',
                f'secret_env = "{variable}_SECRET"',
            ]
    return "\n".join(lines) + "\n"
