"""The ``wecom`` channel: a WeCom (企业微信) group robot.

``Notice.address`` names the robot; each robot's webhook key — or its whole webhook
URL — is in an environment variable named in the settings::

    [notifiers.wecom]
    robots = { tiantang = "WECOM_TIANTANG_KEY", county = "WECOM_COUNTY_KEY" }
    # or, for a single robot whatever the address: key_env = "WECOM_KEY"
    msgtype = "markdown"  # or "text"
    timeout = 10          # seconds
    # base_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"  (tests point it home)

A group chat is no place for a child's name or ID number, so the message is built only
from ``Notice.text`` (name-free by contract) and ``Notice.reference`` — never from the
HTML document or the subject. Markdown content is capped at 4096 UTF-8 bytes and text at
2048 (WeCom's limits), keeping the reference.

The robot answers HTTP 200 even when it refuses: ``errcode`` decides. 0 is delivered;
45009 (API frequency limit: a robot takes 20 messages a minute) is rate limited (the
dispatcher counts it as an attempt, leaves the robot alone for a minute, and retries
the notice with backoff); -1
(system busy) is transient; 93000 (invalid webhook URL: a wrong key, or the robot was
removed from the group) and every other code are permanent. HTTP 5xx and network errors
are transient.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import ClassVar

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

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
LIMITS = {"markdown": 4096, "text": 2048}  # bytes of content
LIMITS_OF_ROBOT = RobotLimits(rate_limited_code=45009, closed_for=60.0)


def content(notice: Notice, msgtype: str) -> str:
    """The message: ``Notice.text`` and the reference, nothing else."""
    tail = (
        f"\n> 编号：{notice.reference}" if msgtype == "markdown" else f"\n编号：{notice.reference}"
    )
    return fit(notice.text, notice.reference, LIMITS[msgtype], tail=tail, unit="bytes")


class WecomNotifier(Notifier):
    name = "wecom"
    per_minute: ClassVar[int | None] = 20
    rate_closed_seconds: ClassVar[float] = LIMITS_OF_ROBOT.closed_for

    def robot_url(self, robot: str) -> str:
        """The webhook URL of the robot named ``robot`` (it holds the robot's key)."""
        robots = table_setting(self, "robots")
        if robots:
            if robot not in robots:
                known = ", ".join(sorted(robots))
                raise InvalidInput(
                    _(
                        "no robot named {robot!r} in [notifiers.{channel}] robots (known: {known})"
                    ).format(robot=robot, channel="wecom", known=known)
                )
            value = env_value(self, robots[robot], f"robots.{robot}")
        else:
            value = env_value(self, self.settings.get("key_env"), "key_env")
        if "://" in value:
            return value
        base = text_setting(self, "base_url", BASE_URL)
        return f"{base}?{urllib.parse.urlencode({'key': value})}"

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        try:
            msgtype = text_setting(self, "msgtype", "markdown")
            if msgtype not in LIMITS:
                raise InvalidInput("[notifiers.wecom] msgtype must be markdown or text")
            timeout = number_setting(self, "timeout", 10)
        except InvalidInput as exc:
            return [Result.failed(n.key, "permanent", exc.message) for n in notices]
        return [self._post(notice, msgtype, timeout) for notice in notices]

    def _post(self, notice: Notice, msgtype: str, timeout: float) -> Result:
        try:
            url = self.robot_url(notice.address)
        except InvalidInput as exc:
            return Result.failed(notice.key, "permanent", exc.message)
        secrets = [url, *credentials_of(url)]
        message = {"msgtype": msgtype, msgtype: {"content": content(notice, msgtype)}}
        result = post_to_robot(
            notice.key,
            url,
            message,
            robot=_("WeCom robot {robot!r}").format(robot=notice.address),
            secrets=secrets,
            timeout=timeout,
            limits=LIMITS_OF_ROBOT,
        )
        return Result.sent(notice.key, notice.reference) if result.ok else result
