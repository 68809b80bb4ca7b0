"""Credentials never reach a row, an audit event, a log line or anything printed
(issue 17 item 3): robots and gateways on loopback fail with answers that echo the very
URL they were called on, token and all."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from caseflow.secrets import credentials_of, scrub, scrub_url
from tests.conftest import audit_trail, database_rows
from tests.test_dispatch import overdue_case, put_in_force

PATH_TOKEN = "hk7Qz2Lw9XbT4mRs8VnY3pCd"
QUERY_TOKEN = "qT5wE8rY1uI4oP7aS0dF"
WECOM_KEY = "693a91f6-7aa0-4bc4-97a0-0ec2b1fa5aaa"
DINGTALK_TOKEN = "c0ffee5badd1ec0de0123456789abcdef0123456789abcdef0123456789abcd"
DINGTALK_SECRET = "SEC0b2f4d6e8a1c3e5g7i9k1m3o5q7s9u1w3y5a7c9e1g3i5k7m9o1q3s5u7w9y"
SMS_KEY = "smsApiKey9Z8Y7X6W"
SECRETS = (
    PATH_TOKEN,
    QUERY_TOKEN,
    WECOM_KEY,
    DINGTALK_TOKEN,
    DINGTALK_SECRET,
    SMS_KEY,
)


@pytest.fixture
def echoing_peer() -> Iterator[str]:
    """Answers every request with a failure that quotes the URL it was called on: as is,
    JSON-escaped and as the request line (the way careless gateways and proxies do)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            url = f"http://{self.headers.get('Host')}{self.path}"
            if "/robot/" in self.path or "/cgi-bin/" in self.path:
                status, answer = 200, {"errcode": 310000, "errmsg": f"bad request to {url}"}
            else:
                status, answer = 502, {"error": "upstream failed", "url": url}
            raw = json.dumps(answer).encode()
            if status != 200:
                raw += f" POST {self.path} HTTP/1.1".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_token_from_a_robot_or_webhook_url_reaches_a_row_an_event_a_log_or_the_screen(
    ctx, cli, echoing_peer, monkeypatch, caplog
) -> None:
    peer = echoing_peer
    monkeypatch.setenv("WECOM_TIANTANG_KEY", WECOM_KEY)
    monkeypatch.setenv("DINGTALK_TOKEN", DINGTALK_TOKEN)
    monkeypatch.setenv("DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("WEBHOOK_SECRET", "hmac-key-for-the-county")
    with (ctx.workspace.root / "caseflow.toml").open("a", encoding="utf-8") as config:
        config.write(
            f"""
[notifiers.webhook]
url = "http://{peer}/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"
secret_env = "WEBHOOK_SECRET"
timeout = 5

[notifiers.wecom]
base_url = "http://{peer}/cgi-bin/webhook/send"
robots = {{tiantang = "WECOM_TIANTANG_KEY"}}

[notifiers.dingtalk]
base_url = "http://{peer}/robot/send"
token_env = "DINGTALK_TOKEN"
secret_env = "DINGTALK_SECRET"

[notifiers.sms]
url = "http://{peer}/api/send?apikey={SMS_KEY}"
timeout = 5
"""
        )
    put_in_force(
        ctx,
        "default:\n"
        "  - {channel: webhook, address: county}\n"
        "  - {channel: wecom, address: tiantang}\n"
        "  - {channel: dingtalk, address: tiantang}\n"
        "  - {channel: sms, address: '13800000000'}\n",
    )
    overdue_case(ctx)
    caplog.set_level(logging.DEBUG)
    printed = [cli("escalate"), cli("notify", "dispatch"), cli("notify", "dispatch", "--json")]
    for only in ("pending", "dead", None):
        args = ("--status", only) if only else ()
        printed += [cli("notify", "status", *args), cli("notify", "status", "--json", *args)]
    printed += [cli("--lang", "en", "notify", "status"), cli("audit", "log", "--json")]
    assert all(result.exit_code == 0 for result in printed), [r.stderr for r in printed]

    rows = database_rows(ctx)
    failures = [
        row for row in rows["notice"] if any("refused" in str(v) or "HTTP" in str(v) for v in row)
    ]
    assert len(failures) >= 4, "every channel failed and said why"
    errors = " ".join(str(row) for row in rows["delivery"])
    assert "***" in errors and "errcode 310000" in errors and "HTTP 502" in errors
    assert {row[3] for row in rows["delivery"]} == {"webhook", "wecom", "dingtalk", "sms"}
    assert leaked(repr(rows)) == []
    assert leaked(json.dumps(audit_trail(ctx), ensure_ascii=False, default=str)) == []
    assert leaked(caplog.text) == []
    for result in printed:
        assert leaked(result.stdout + result.stderr) == []


def test_a_database_url_is_shown_without_its_password() -> None:
    message = "unsupported database URL 'postgres://caseflow:TopSecretPW123@db.county.cn/kzbx'"
    assert scrub(message) == (
        "unsupported database URL 'postgres://caseflow:***@db.county.cn/kzbx'"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
        ),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123def456"
            "&timestamp=1700000000000&sign=a%2Bb%3D",
            "https://oapi.dingtalk.com/robot/send?access_token=***"
            "&timestamp=1700000000000&sign=***",
        ),
        (f"https://county.example.cn/hooks/{PATH_TOKEN}", "https://county.example.cn/hooks/***"),
        ("https://county.example.cn/api/v2/notices", "https://county.example.cn/api/v2/notices"),
        (
            "https://u:pw12345@h.example.cn/x?secret=s&page=2",
            "https://u:***@h.example.cn/x?secret=***&page=2",
        ),
    ],
)
def test_a_url_keeps_its_peer_and_loses_its_credentials(url: str, shown: str) -> None:
    assert scrub_url(url) == shown
    assert scrub(f"no answer from {url}: timed out") == f"no answer from {shown}: timed out"


def test_an_echoed_answer_loses_the_credentials_it_quotes() -> None:
    echoed = json.dumps({"url": f"https://h.cn/hooks/{PATH_TOKEN}?key={WECOM_KEY}"})
    assert leaked(scrub(echoed)) == []
    assert (
        leaked(
            scrub(f"GET /hooks/{PATH_TOKEN} 404", credentials_of(f"https://h/hooks/{PATH_TOKEN}"))
        )
        == []
    )
    assert scrub("errcode 45009 api freq out of limit") == "errcode 45009 api freq out of limit"
