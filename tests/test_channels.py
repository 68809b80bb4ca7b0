"""The notifier channels against real peers on loopback.

A real SMTP server (aiosmtpd) stands in for the mail server; one real HTTP server stands
in for a county's webhook receiver, the WeCom and DingTalk robots and an SMS gateway,
each answering as the real service does — including HTTP 200 with a non-zero
``errcode``, a robot's limit of 20 messages a minute, DingTalk's signature check and a
webhook receiver that verifies the HMAC. No secret may ever show up in an error.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from caseflow.notifiers import Notice, Result, channel, channel_names
from caseflow.notifiers.dingtalk import DingtalkNotifier
from caseflow.notifiers.email import EmailNotifier
from caseflow.notifiers.sms import SmsNotifier
from caseflow.notifiers.webhook import WebhookNotifier
from caseflow.notifiers.wecom import WecomNotifier

HOST = "127.0.0.1"
CHILD = "张小明"  # a child's name: only ever in the HTML document
CHILD_ID = "520626201303050021"
SMTP_PASSWORD = "smtp-pa55word-Zq9"
WEBHOOK_SECRET = "whsec-6f1d2c9a7b"
WECOM_KEY = "3f0a9c52-7d1e-4b8a-9e61-0c2d4f6a8b10"
DINGTALK_TOKEN = "9d8c7b6a5f4e3d2c1b0a"
DINGTALK_SECRET = "SEC4f2a9d8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8"
SMS_TOKEN = "sms-tok-7a6b5c4d3e"
ALL_SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, WECOM_KEY, DINGTALK_TOKEN, DINGTALK_SECRET, SMS_TOKEN)


def notice(n: int, address: str = "parent@example.cn") -> Notice:
    return Notice(
        key=f"case-{n}/order_to_return/1",
        reference=f"KC-{n:06d}",
        address=address,
        subject="限期复学通知书",
        html=f"<h1>限期复学通知书</h1><p>学生{CHILD}（身份证号 {CHILD_ID}）须于三日内返校。</p>",
        text=f"天堂镇有 1 名学生逾期未返校，请于三日内落实劝返。编号 KC-{n:06d}",
    )


def assert_no_secrets(results: list[Result]) -> None:
    for result in results:
        for secret in ALL_SECRETS:
            assert secret not in result.error and secret not in result.reference


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback peers must be reached directly, whatever the machine's proxy settings."""
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)


def test_every_channel_is_registered_by_entry_point() -> None:
    assert {"email", "webhook", "wecom", "dingtalk", "sms", "letter"} <= set(channel_names())
    assert channel("email") is EmailNotifier
    assert channel("webhook") is WebhookNotifier
    assert channel("wecom") is WecomNotifier and WecomNotifier.per_minute == 20
    assert channel("dingtalk") is DingtalkNotifier and DingtalkNotifier.per_minute == 20
    # After "too fast" a WeCom robot reopens with the next minute, DingTalk's in ten.
    assert (WecomNotifier.rate_closed_seconds, DingtalkNotifier.rate_closed_seconds) == (60, 600)
    assert channel("sms") is SmsNotifier


# ------------------------------------------------------------------ the SMTP server


class Mailbox:
    """An aiosmtpd handler: records messages and the connections that sent mail, and
    can be told to refuse given recipients or to hang up at the n-th MAIL command."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, str, list[str], bytes]] = []
        self.sessions: list[Any] = []  # one entry per MAIL command, kept alive
        self.refuse: dict[str, str] = {}  # recipient → SMTP reply
        self.hang_up_at: set[int] = set()  # MAIL command numbers (1-based, all connections)
        self.mail_commands = 0

    @property
    def connections(self) -> int:
        return len({id(session) for session in self.sessions})

    def received(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)
            for _, _, _, content in self.messages
        ]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_commands += 1
        if self.mail_commands in self.hang_up_at:
            server.transport.close()  # the line drops: the client hears nothing more
            return "421 4.4.2 connection dropped"
        self.sessions.append(session)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (session, envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    options: dict[str, Any] = field(default_factory=dict)
    mailbox: Mailbox = field(default_factory=Mailbox)
    controller: Controller | None = None
    logins: list[bytes] = field(default_factory=list)

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname=HOST, port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(made.key), "-out", str(made.cert), "-days", "2",
         "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return made


def mailer(port: int, **settings: Any) -> EmailNotifier:
    base = {"host": HOST, "port": port, "security": "none", "from": "专班 <kzbx@edu.example.cn>"}
    return EmailNotifier({**base, **settings}, {"SMTP_PASSWORD": SMTP_PASSWORD}, Path("."))


def deliver(notifier: EmailNotifier, notices: list[Notice]) -> list[Result]:
    try:
        return notifier.send(notices)
    finally:
        notifier.close()


# ------------------------------------------------------------------ email


def test_a_batch_of_emails_arrives_exactly_once_over_one_connection(smtp: SmtpServer) -> None:
    batch = [notice(n, f"parent{n}@example.cn") for n in (1, 2, 3)]
    notifier = mailer(smtp.port)
    results = deliver(notifier, batch)

    assert [r.ok for r in results] == [True, True, True]
    assert notifier.connections_opened == 1 and smtp.mailbox.connections == 1
    assert [rcpt for _, _, rcpt, _ in smtp.mailbox.messages] == [
        ["parent1@example.cn"],
        ["parent2@example.cn"],
        ["parent3@example.cn"],
    ]
    first = smtp.mailbox.received()[0]
    assert first["Subject"] == "限期复学通知书"
    assert first["X-Caseflow-Reference"] == "KC-000001"
    assert first["Message-ID"] == results[0].reference
    assert first["Message-ID"].endswith("@caseflow.edu.example.cn>")
    assert first.get_content_type() == "multipart/alternative"
    plain, html = first.iter_parts()
    assert plain.get_content().strip() == batch[0].text
    assert CHILD in html.get_content() and html.get_content_type() == "text/html"


def test_an_email_sent_again_after_a_crash_carries_the_same_message_id(smtp: SmtpServer) -> None:
    first = deliver(mailer(smtp.port), [notice(7)])[0]
    again = deliver(mailer(smtp.port), [notice(7)])[0]
    other = deliver(mailer(smtp.port), [notice(8)])[0]

    ids = [message["Message-ID"] for message in smtp.mailbox.received()]
    assert ids[0] == ids[1] == first.reference == again.reference
    assert ids[2] == other.reference != first.reference


def test_while_the_mail_server_is_down_nothing_is_sent_then_everything_arrives_once(
    smtp: SmtpServer,
) -> None:
    batch = [notice(n, f"parent{n}@example.cn") for n in (1, 2, 3)]
    smtp.stop()
    notifier = mailer(smtp.port, timeout=2)
    down = deliver(notifier, batch)

    assert not any(r.ok for r in down)
    assert {r.kind for r in down} == {"transient"}
    assert notifier.connections_opened == 1  # one refused connection, not one per notice

    smtp.start()
    up = deliver(mailer(smtp.port), batch)
    assert all(r.ok for r in up)
    assert sorted(rcpt[0] for _, _, rcpt, _ in smtp.mailbox.messages) == [
        "parent1@example.cn",
        "parent2@example.cn",
        "parent3@example.cn",
    ]


def test_a_rejected_recipient_is_permanent_a_busy_mailbox_transient_and_the_rest_still_go(
    smtp: SmtpServer,
) -> None:
    smtp.mailbox.refuse = {
        "nobody@example.cn": "550 5.1.1 <nobody@example.cn>: Recipient address rejected",
        "full@example.cn": "451 4.2.0 Mailbox busy, try again later",
        "spam@example.cn": "554 5.7.1 Message rejected as spam",
    }
    addresses = ["a@example.cn", "nobody@example.cn", "full@example.cn", "spam@example.cn"]
    batch = [notice(n, address) for n, address in enumerate([*addresses, "b@example.cn"])]
    notifier = mailer(smtp.port)
    results = deliver(notifier, batch)

    assert [(r.ok, r.kind) for r in results] == [
        (True, None),
        (False, "permanent"),
        (False, "transient"),
        (False, "permanent"),
        (True, None),
    ]
    assert "550" in results[1].error and "Recipient address rejected" in results[1].error
    assert "554" in results[3].error
    assert [rcpt for _, _, rcpt, _ in smtp.mailbox.messages] == [["a@example.cn"], ["b@example.cn"]]
    assert notifier.connections_opened == 1


def test_a_connection_dropped_mid_batch_fails_that_notice_and_the_rest_go_over_a_new_one(
    smtp: SmtpServer,
) -> None:
    smtp.mailbox.hang_up_at = {3}
    batch = [notice(n, f"parent{n}@example.cn") for n in range(1, 6)]
    notifier = mailer(smtp.port)
    results = deliver(notifier, batch)

    assert [r.kind for r in results] == [None, None, "transient", None, None]
    assert "connection" in results[2].error
    assert notifier.connections_opened == 2 and smtp.mailbox.connections == 2
    assert len(smtp.mailbox.messages) == 4


def test_a_server_that_drops_every_fresh_connection_fails_the_batch_after_one_reconnect(
    smtp: SmtpServer,
) -> None:
    smtp.mailbox.hang_up_at = set(range(1, 100))
    notifier = mailer(smtp.port)
    results = deliver(notifier, [notice(n) for n in range(1, 6)])

    assert {r.kind for r in results} == {"transient"}
    assert notifier.connections_opened == 2
    assert smtp.mailbox.messages == []


def test_an_address_that_is_not_an_email_is_permanent_without_touching_the_server(
    smtp: SmtpServer,
) -> None:
    notifier = mailer(smtp.port)
    results = deliver(notifier, [notice(1, "张大山"), notice(2, "x@example.cn\r\nBcc: y@z")])
    assert [r.kind for r in results] == ["permanent", "permanent"]
    assert notifier.connections_opened == 0


def _tls_server(certificate: Certificate, **options: Any) -> SmtpServer:
    server = SmtpServer(free_port(), options)

    def authenticator(server_, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        server.logins.append(auth_data.login)
        good = auth_data.login == b"kzbx" and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=good, handled=False)

    server.options = {
        "authenticator": authenticator,
        "auth_required": True,
        "auth_require_tls": True,
        **options,
    }
    server.start()
    return server


def test_starttls_with_a_login_delivers_and_a_wrong_password_or_untrusted_cert_is_permanent(
    certificate: Certificate,
) -> None:
    server = _tls_server(
        certificate, tls_context=certificate.server_context(), require_starttls=True
    )
    try:
        login = {"security": "starttls", "username": "kzbx", "password_env": "SMTP_PASSWORD"}
        trusted = {**login, "ca_file": str(certificate.cert)}
        delivered = deliver(mailer(server.port, **trusted), [notice(1)])
        assert delivered[0].ok and server.logins == [b"kzbx"]
        assert len(server.mailbox.messages) == 1

        wrong = EmailNotifier(
            {"host": HOST, "port": server.port, "from": "kzbx@edu.example.cn", **trusted},
            {"SMTP_PASSWORD": "not-the-password"},
            Path("."),
        )
        refused = deliver(wrong, [notice(2), notice(3)])
        assert [r.kind for r in refused] == ["permanent", "permanent"]
        assert "535" in refused[0].error and "not-the-password" not in refused[0].error
        assert wrong.connections_opened == 1

        untrusted = deliver(mailer(server.port, **login), [notice(4)])
        assert untrusted[0].kind == "permanent" and "certificate" in untrusted[0].error
        assert len(server.mailbox.messages) == 1
        assert_no_secrets(refused + untrusted)
    finally:
        server.stop()


def test_implicit_tls_delivers_and_a_password_is_never_sent_unencrypted(
    certificate: Certificate, smtp: SmtpServer
) -> None:
    # aiosmtpd only knows about TLS it negotiated itself (STARTTLS): on an implicit-TLS
    # port it must be told that AUTH without STARTTLS is fine, as the whole line is TLS.
    server = _tls_server(
        certificate,
        ssl_context=certificate.server_context(),
        auth_required=False,
        auth_require_tls=False,
    )
    try:
        settings = {"security": "ssl", "username": "kzbx", "password_env": "SMTP_PASSWORD"}
        results = deliver(
            mailer(server.port, ca_file=str(certificate.cert), **settings), [notice(1)]
        )
        assert results[0].ok and len(server.mailbox.messages) == 1
        assert server.logins == [b"kzbx"]
    finally:
        server.stop()

    plain = mailer(smtp.port, username="kzbx", password_env="SMTP_PASSWORD")
    refused = deliver(plain, [notice(2)])
    assert refused[0].kind == "permanent" and "unencrypted" in refused[0].error
    assert plain.connections_opened == 0 and smtp.mailbox.messages == []


# ------------------------------------------------------------------ the HTTP peers


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Peers:
    """The webhook receiver, the WeCom and DingTalk robots and the SMS gateway."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.seen: list[Seen] = []
        self.delivered: list[Seen] = []
        self.forced: dict[str, deque[tuple[int, dict[str, str], bytes]]] = {}
        self.robot_sends: dict[str, list[float]] = {}

    def force(self, path: str, status: int, body: Any = b"", **headers: str) -> None:
        """The next request to ``path`` gets this answer instead of the normal one."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.forced.setdefault(path, deque()).append((status, headers, raw))

    def within_robot_limit(self, robot: str) -> bool:
        """Both robots take at most 20 messages a minute."""
        now = time.monotonic()
        recent = [t for t in self.robot_sends.get(robot, []) if now - t < 60]
        if len(recent) >= 20:
            return False
        self.robot_sends[robot] = [*recent, now]
        return True

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.seen.append(seen)
            queue = self.forced.get(seen.path)
            if queue:
                return queue.popleft()
            route = {
                "/hook": self.webhook,
                "/cgi-bin/webhook/send": self.wecom,
                "/robot/send": self.dingtalk,
                "/sms/send": self.sms,
            }.get(seen.path)
            if route is None:
                return 404, {}, {"error": "not found"}
            return route(seen)

    def webhook(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        timestamp = seen.headers.get("x-caseflow-timestamp", "0")
        mac = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + seen.body, "sha256")
        expected = "sha256=" + mac.hexdigest()
        fresh = abs(time.time() - int(timestamp)) < 300
        if not (
            fresh and hmac.compare_digest(seen.headers.get("x-caseflow-signature", ""), expected)
        ):
            return 401, {}, {"error": "signature does not verify"}
        self.delivered.append(seen)
        return 200, {}, {"received": seen.json()["key"]}

    def wecom(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        key = seen.query.get("key", [""])[0]
        hint = "hint: [1717571485419203277035119], from ip: 127.0.0.1"
        if key != WECOM_KEY:
            return (
                200,
                {},
                {
                    "errcode": 93000,
                    "errmsg": f"invalid webhook url, {hint}, more info at "
                    "https://open.work.weixin.qq.com/devtool/query?e=93000",
                },
            )
        message = seen.json()
        content = message.get(message.get("msgtype"), {}).get("content", "")
        if not content or len(content.encode()) > 4096:
            return (
                200,
                {},
                {"errcode": 40058, "errmsg": f"markdown.content exceed max length, {hint}"},
            )
        if not self.within_robot_limit(key):
            return 200, {}, {"errcode": 45009, "errmsg": f"api freq out of limit, {hint}"}
        self.delivered.append(seen)
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def dingtalk(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        token = seen.query.get("access_token", [""])[0]
        if token != DINGTALK_TOKEN:
            return 200, {}, {"errcode": 300001, "errmsg": "token is not exist"}
        timestamp = seen.query.get("timestamp", ["0"])[0]
        given = seen.query.get("sign", [""])[0]
        string_to_sign = f"{timestamp}\n{DINGTALK_SECRET}".encode()
        digest = hmac.new(DINGTALK_SECRET.encode(), string_to_sign, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        fresh = abs(time.time() * 1000 - int(timestamp)) < 3600 * 1000
        if not (fresh and hmac.compare_digest(given, expected)):
            return (
                200,
                {},
                {
                    "errcode": 310000,
                    "errmsg": "sign not match, more: "
                    "[https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                },
            )
        if not self.within_robot_limit(token):
            return (
                200,
                {},
                {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
            )
        self.delivered.append(seen)
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def sms(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        authorization = seen.headers.get("authorization", "")
        if authorization != f"Bearer {SMS_TOKEN}":
            # Careless gateways echo what they were given: the channel must not repeat it.
            return 401, {}, {"code": "401", "message": f"invalid credential {authorization}"}
        if seen.headers.get("content-type", "").startswith("application/json"):
            fields = seen.json()
        else:
            fields = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if not str(fields.get("mobile", "")).startswith("1"):
            return 200, {}, {"code": "15", "message": "invalid mobile number"}
        if str(fields.get("mobile")) == "13900000000":
            return 200, {}, {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "too many today"}
        self.delivered.append(seen)
        return (
            200,
            {},
            {"code": "0", "message": "OK", "data": {"msgid": f"m-{len(self.delivered)}"}},
        )


class _PeerHandler(BaseHTTPRequestHandler):
    peers: Peers

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload = self.peers.answer(
            Seen(parts.path, parse_qs(parts.query), headers, body)
        )
        raw = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, ensure_ascii=False).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, Peers]]:
    peers = Peers()
    handler = type("Handler", (_PeerHandler,), {"peers": peers})
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}", peers
    server.shutdown()
    server.server_close()


@pytest.fixture
def peers(http_server: tuple[str, Peers]) -> Peers:
    http_server[1].reset()
    return http_server[1]


@pytest.fixture
def base(http_server: tuple[str, Peers]) -> str:
    return http_server[0]


# ------------------------------------------------------------------ webhook


def webhook(base: str, secret: str = WEBHOOK_SECRET) -> WebhookNotifier:
    settings = {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET", "timeout": 5}
    return WebhookNotifier(settings, {"HOOK_URL": f"{base}/hook", "HOOK_SECRET": secret}, Path("."))


def test_the_webhook_receiver_verifies_the_signature_of_what_it_gets(
    base: str, peers: Peers
) -> None:
    results = webhook(base).send([notice(1), notice(2)])

    assert all(r.ok for r in results)
    assert [seen.json()["key"] for seen in peers.delivered] == [notice(1).key, notice(2).key]
    payload = peers.delivered[0].json()
    assert set(payload) == {"key", "reference", "subject", "text", "address", "sent_at"}
    assert CHILD not in peers.delivered[0].body.decode()  # the HTML document is not sent
    assert peers.delivered[0].headers["idempotency-key"] == notice(1).key


def test_a_webhook_signed_with_the_wrong_secret_is_refused_and_permanent(
    base: str, peers: Peers
) -> None:
    results = webhook(base, secret="not-the-secret").send([notice(1)])
    assert results[0].kind == "permanent" and "401" in results[0].error
    assert peers.delivered == []


def test_webhook_500_is_transient_429_waits_as_told_and_400_is_permanent(
    base: str, peers: Peers
) -> None:
    peers.force("/hook", 500, {"error": "database is down"})
    peers.force("/hook", 429, {"error": "slow down"}, Retry_After="30")
    peers.force("/hook", 400, {"error": "unknown field"})
    peers.force("/hook", 503, b"", Retry_After="Wed, 21 Oct 2015 07:28:00 GMT")
    results = webhook(base).send([notice(n) for n in range(1, 6)])

    assert [r.kind for r in results] == [
        "transient",
        "rate_limited",
        "permanent",
        "transient",
        None,
    ]
    assert results[1].retry_after == 30.0
    assert results[3].retry_after == 0.0  # a date in the past: retry whenever
    assert "500" in results[0].error and "database is down" in results[0].error
    assert_no_secrets(results)


def test_an_unreachable_peer_is_transient_for_every_http_channel() -> None:
    closed = f"http://{HOST}:{free_port()}"
    env = {"URL": f"{closed}/hook", "SECRET": WEBHOOK_SECRET, "KEY": WECOM_KEY}
    hook = WebhookNotifier({"url_env": "URL", "secret_env": "SECRET"}, env, Path("."))
    robot = WecomNotifier({"key_env": "KEY", "base_url": f"{closed}/send"}, env, Path("."))
    results = hook.send([notice(1)]) + robot.send([notice(2, "any")])

    assert [r.kind for r in results] == ["transient", "transient"]
    assert all("cannot reach" in r.error for r in results)
    assert_no_secrets(results)


# ------------------------------------------------------------------ WeCom


def wecom(base: str, key: str = WECOM_KEY, **settings: Any) -> WecomNotifier:
    options = {
        "robots": {"tiantang": "WECOM_TIANTANG_KEY"},
        "base_url": f"{base}/cgi-bin/webhook/send",
        **settings,
    }
    return WecomNotifier(options, {"WECOM_TIANTANG_KEY": key}, Path("."))


def test_a_wecom_group_message_carries_the_text_and_reference_but_never_the_letter(
    base: str, peers: Peers
) -> None:
    named = notice(1, "tiantang")
    results = wecom(base).send([named])

    assert results[0].ok and results[0].reference == "KC-000001"
    posted = peers.delivered[0].json()
    assert posted["msgtype"] == "markdown"
    content = posted["markdown"]["content"]
    assert named.text in content and "KC-000001" in content
    assert CHILD not in content and CHILD_ID not in content and "<" not in content


def test_a_long_wecom_message_is_cut_to_4096_bytes_and_keeps_its_reference(
    base: str, peers: Peers
) -> None:
    long = Notice(
        "k-long", "KC-000042", "tiantang", "s", "<p>x</p>", "逾期未返校学生名单摘要。" * 400
    )
    assert wecom(base).send([long])[0].ok
    content = peers.delivered[0].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("编号：KC-000042")


def test_the_21st_wecom_message_in_a_minute_is_rate_limited_though_the_answer_is_200(
    base: str, peers: Peers
) -> None:
    results = wecom(base).send([notice(n, "tiantang") for n in range(1, 22)])

    assert [r.ok for r in results] == [True] * 20 + [False]
    assert results[20].kind == "rate_limited" and results[20].retry_after == 60.0
    assert "45009" in results[20].error
    assert len(peers.delivered) == 20


def test_a_wrong_wecom_key_is_permanent_and_the_key_is_not_in_the_error(
    base: str, peers: Peers
) -> None:
    results = wecom(base, key="0bad0bad-0000-4000-8000-000000000000").send([notice(1, "tiantang")])

    assert results[0].kind == "permanent" and "93000" in results[0].error
    assert "0bad0bad" not in results[0].error
    assert peers.delivered == []


def test_a_wecom_robot_that_is_not_configured_is_permanent_and_nothing_is_posted(
    base: str, peers: Peers
) -> None:
    missing_env = WecomNotifier(
        {"robots": {"tiantang": "WECOM_TIANTANG_KEY"}, "base_url": f"{base}/x"}, {}, Path(".")
    )
    results = wecom(base).send([notice(1, "xinhua")]) + missing_env.send([notice(2, "tiantang")])

    assert [r.kind for r in results] == ["permanent", "permanent"]
    assert "no robot named 'xinhua'" in results[0].error and "tiantang" in results[0].error
    assert "WECOM_TIANTANG_KEY" in results[1].error and "not set" in results[1].error
    assert peers.seen == []


def test_wecom_5xx_is_transient(base: str, peers: Peers) -> None:
    peers.force("/cgi-bin/webhook/send", 502, b"<html>Bad Gateway</html>")
    results = wecom(base).send([notice(1, "tiantang"), notice(2, "tiantang")])
    assert [r.kind for r in results] == ["transient", None]
    assert_no_secrets(results)


# ------------------------------------------------------------------ DingTalk


def dingtalk(base: str, secret: str = DINGTALK_SECRET, **settings: Any) -> DingtalkNotifier:
    robot = {"token_env": "DT_TOKEN", "secret_env": "DT_SECRET"}
    options = {"robots": {"tiantang": robot}, "base_url": f"{base}/robot/send", **settings}
    return DingtalkNotifier(options, {"DT_TOKEN": DINGTALK_TOKEN, "DT_SECRET": secret}, Path("."))


def test_a_signed_dingtalk_message_is_accepted_and_carries_only_the_text(
    base: str, peers: Peers
) -> None:
    results = dingtalk(base, keyword="控辍保学").send([notice(1, "tiantang")])

    assert results[0].ok
    seen = peers.delivered[0]
    assert abs(int(seen.query["timestamp"][0]) - time.time() * 1000) < 60_000  # milliseconds
    posted = seen.json()
    assert posted["msgtype"] == "markdown" and "KC-000001" in posted["markdown"]["title"]
    text = posted["markdown"]["text"]
    assert text.startswith("【控辍保学】") and notice(1).text in text
    assert CHILD not in json.dumps(posted, ensure_ascii=False)


def test_a_dingtalk_robot_with_the_wrong_secret_refuses_with_310000_which_is_permanent(
    base: str, peers: Peers
) -> None:
    results = dingtalk(base, secret="SECnot-the-right-secret-at-all").send([notice(1, "tiantang")])

    assert results[0].kind == "permanent"
    assert "310000" in results[0].error and "sign not match" in results[0].error
    assert "SECnot-the-right-secret-at-all" not in results[0].error
    assert_no_secrets(results)
    assert peers.delivered == []


def test_the_21st_dingtalk_message_in_a_minute_is_rate_limited_for_ten_minutes(
    base: str, peers: Peers
) -> None:
    results = dingtalk(base, msgtype="text").send([notice(n, "tiantang") for n in range(1, 22)])

    assert [r.ok for r in results] == [True] * 20 + [False]
    assert results[20].kind == "rate_limited" and results[20].retry_after == 600.0
    assert peers.delivered[0].json()["text"]["content"] == notice(1).text
    assert_no_secrets(results)


# ------------------------------------------------------------------ SMS


def sms(base: str, token: str = SMS_TOKEN, **settings: Any) -> SmsNotifier:
    options = {
        "url": f"{base}/sms/send",
        "body": {
            "mobile": "{phone}",
            "content": "{text}",
            "outId": "{reference}",
            "sign": "县教育局",
        },
        "auth_env": "SMS_TOKEN",
        "auth_prefix": "Bearer ",
        "success_field": "code",
        "success_value": "0",
        "message_field": "message",
        "id_field": "data.msgid",
        "rate_limited_values": ["isv.BUSINESS_LIMIT_CONTROL"],
        **settings,
    }
    return SmsNotifier(options, {"SMS_TOKEN": token}, Path("."))


def test_an_sms_is_sent_when_the_gateway_answers_code_0_and_keeps_the_gateways_id(
    base: str, peers: Peers
) -> None:
    results = sms(base).send([notice(1, "138-0000-0001")])

    assert results[0].ok and results[0].reference == "m-1"
    fields = peers.delivered[0].json()
    assert fields == {
        "mobile": "13800000001",
        "content": notice(1).text,
        "outId": "KC-000001",
        "sign": "县教育局",
    }


def test_an_sms_the_gateway_refuses_by_its_json_code_is_permanent_or_rate_limited(
    base: str, peers: Peers
) -> None:
    results = sms(base).send([notice(1, "+8613800000001"), notice(2, "13900000000")])

    assert [r.kind for r in results] == ["permanent", "rate_limited"]
    assert "code = 15" in results[0].error and "invalid mobile number" in results[0].error
    assert "too many today" in results[1].error
    assert peers.delivered == []


def test_a_form_encoded_sms_is_cut_to_length_and_keeps_its_reference(
    base: str, peers: Peers
) -> None:
    long = Notice("k", "KC-000099", "13800000002", "s", "<p/>", "请尽快落实劝返复学工作。" * 40)
    results = sms(base, format="form", max_length=70).send([long])

    assert results[0].ok
    content = parse_qs(peers.delivered[0].body.decode())["content"][0]
    assert len(content) == 70 and content.endswith("…（编号 KC-000099）")
    assert peers.delivered[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_an_sms_gateway_that_echoes_a_bad_token_never_gets_it_into_the_error(
    base: str, peers: Peers
) -> None:
    wrong = "sms-tok-WRONG-4242"
    results = sms(base, token=wrong).send([notice(1, "13800000001"), notice(2, "not a phone")])

    assert [r.kind for r in results] == ["permanent", "permanent"]
    assert "401" in results[0].error and wrong not in results[0].error
    assert "not a phone number" in results[1].error
    assert_no_secrets(results)
    assert len(peers.seen) == 1  # the bad address was never sent
