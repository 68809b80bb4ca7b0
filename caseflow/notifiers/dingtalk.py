"""The ``dingtalk`` channel: a DingTalk (钉钉) custom group robot with 加签 signing.

``Notice.address`` names the robot; its access token (or its whole webhook URL) and its
signing secret (the ``SEC...`` string) are in environment variables named in the
settings::

    [notifiers.dingtalk]
    keyword = "控辍保学"   # optional: a robot secured by keyword needs it in every message
    msgtype = "markdown"  # or "text"
    title = "控辍保学提醒"  # the markdown title shown in the chat list (+ the reference)
    timeout = 10
    # base_url = "https://oapi.dingtalk.com/robot/send"  (tests point it home)
    # A single robot, whatever the address, may be given here instead of robots:
    # token_env = "DINGTALK_TOKEN"
    # secret_env = "DINGTALK_SECRET"

    [notifiers.dingtalk.robots.tiantang]  # one table per robot named in addresses
    token_env = "DINGTALK_TIANTANG_TOKEN"
    secret_env = "DINGTALK_TIANTANG_SECRET"  # omit only for a robot secured by IP/keyword
    # keyword = "..."                        # overrides the channel's keyword

The signature follows DingTalk's documentation: ``timestamp`` is the current time in
milliseconds (DingTalk rejects one more than an hour off), the string to sign is
``f"{timestamp}\\n{secret}"``, and ``sign`` is the Base64 of its HMAC-SHA256 under the
secret, URL-encoded once as a query parameter.

Only ``Notice.text`` and the reference are sent (no name or ID of a child in a group
chat). The robot answers HTTP 200 even when it refuses: ``errcode`` decides. 0 is
delivered; 130101 ("send too fast, exceed 20 times per minute"; DingTalk then throttles
the robot for 10 minutes) is rate limited with ``retry_after`` 600 (the dispatcher counts
it as an attempt and leaves the robot alone that long); -1 (system busy) is transient;
310000 (signature mismatch, keyword missing, IP not allowed) and every other code are
permanent. HTTP 5xx and network errors are transient.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.notifiers import Notice, Notifier, Result
from caseflow.notifiers._shared import (
    RobotLimits,
    env_value,
    fit,
    number_setting,
    post_to_robot,
    table_setting,
    text_setting,
)
from caseflow.secrets import credentials_of

BASE_URL = "https://oapi.dingtalk.com/robot/send"
LIMIT = 5000  # characters; far beyond what a group message should be
# "send too fast": over 20 a minute, and the robot is throttled for ten minutes.
LIMITS_OF_ROBOT = RobotLimits(rate_limited_code=130101, closed_for=600.0)


def sign(secret: str, timestamp: str) -> str:
    """Base64 of HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"), not yet URL-encoded."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Robot:
    url: str  # the webhook URL with its access token, not yet signed
    secret: str | None
    keyword: str

    def signed_url(self, now: float | None = None) -> str:
        if self.secret is None:
            return self.url
        timestamp = str(round((time.time() if now is None else now) * 1000))
        query = urllib.parse.urlencode(
            {"timestamp": timestamp, "sign": sign(self.secret, timestamp)}
        )
        return f"{self.url}&{query}"

    @property
    def secrets(self) -> list[str]:
        return [self.url, *credentials_of(self.url), *([self.secret] if self.secret else [])]


class DingtalkNotifier(Notifier):
    name = "dingtalk"
    per_minute: ClassVar[int | None] = 20
    rate_closed_seconds: ClassVar[float] = LIMITS_OF_ROBOT.closed_for

    def robot(self, name: str) -> Robot:
        robots = table_setting(self, "robots")
        entry: Mapping[str, Any]
        where = ""
        if robots:
            if name not in robots:
                known = ", ".join(sorted(robots))
                raise InvalidInput(
                    _(
                        "no robot named {robot!r} in [notifiers.{channel}] robots (known: {known})"
                    ).format(robot=name, channel="dingtalk", known=known)
                )
            found = robots[name]
            if not isinstance(found, Mapping):
                raise InvalidInput(
                    f"[notifiers.dingtalk] robots.{name} must be a table with token_env "
                    "and secret_env"
                )
            entry, where = found, f"robots.{name}."
        else:
            entry = self.settings
        token = env_value(self, entry.get("token_env"), f"{where}token_env")
        if "://" in token:
            url = token
        else:
            base = text_setting(self, "base_url", BASE_URL)
            url = f"{base}?{urllib.parse.urlencode({'access_token': token})}"
        secret_variable = entry.get("secret_env")
        secret = env_value(self, secret_variable, f"{where}secret_env") if secret_variable else None
        keyword = entry.get("keyword", self.settings.get("keyword", ""))
        return Robot(url, secret, str(keyword or ""))

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        try:
            msgtype = text_setting(self, "msgtype", "markdown")
            if msgtype not in ("markdown", "text"):
                raise InvalidInput("[notifiers.dingtalk] msgtype must be markdown or text")
            title = text_setting(self, "title", "控辍保学提醒")
            timeout = number_setting(self, "timeout", 10)
        except InvalidInput as exc:
            return [Result.failed(n.key, "permanent", exc.message) for n in notices]
        return [self._post(notice, msgtype, title, timeout) for notice in notices]

    def message(self, notice: Notice, robot: Robot, msgtype: str, title: str) -> dict[str, Any]:
        """The robot message: built from ``Notice.text`` and the reference only."""
        text = notice.text.strip()
        if robot.keyword and robot.keyword not in text:
            text = f"【{robot.keyword}】{text}"
        if msgtype == "markdown":
            body = fit(text, notice.reference, LIMIT, tail=f"\n\n> 编号：{notice.reference}")
            return {
                "msgtype": "markdown",
                "markdown": {"title": f"{title} {notice.reference}", "text": body},
            }
        body = fit(text, notice.reference, LIMIT, tail=f"\n编号：{notice.reference}")
        return {"msgtype": "text", "text": {"content": body}}

    def _post(self, notice: Notice, msgtype: str, title: str, timeout: float) -> Result:
        try:
            robot = self.robot(notice.address)
        except InvalidInput as exc:
            return Result.failed(notice.key, "permanent", exc.message)
        secrets = robot.secrets
        message = self.message(notice, robot, msgtype, title)
        result = post_to_robot(
            notice.key,
            robot.signed_url(),
            message,
            robot=_("DingTalk robot {robot!r}").format(robot=notice.address),
            secrets=secrets,
            timeout=timeout,
            limits=LIMITS_OF_ROBOT,
        )
        return Result.sent(notice.key, notice.reference) if result.ok else result
