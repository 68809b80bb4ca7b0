"""What the channels share: reading settings and secrets, one HTTP exchange with its
failures classified, keeping secrets out of error text, and fitting text into a limit.

Private to ``caseflow.notifiers``; a county's own channel should not import it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from caseflow import secrets as secrets_module
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.notifiers import Notifier, Result

MAX_ANSWER_BYTES = 64 * 1024  # enough for any status JSON; a peer cannot flood us
ERROR_SNIPPET = 200  # characters of a peer's answer kept in an error message


# ----------------------------------------------------------------------------- settings


def text_setting(notifier: Notifier, name: str, default: str | None = None) -> str:
    value = notifier.settings.get(name, default)
    if value is None or value == "":
        raise InvalidInput(
            _("[notifiers.{channel}] {name} is required").format(channel=notifier.name, name=name)
        )
    if not isinstance(value, str):
        raise InvalidInput(
            _("[notifiers.{channel}] {name} must be a string").format(
                channel=notifier.name, name=name
            )
        )
    return value


def number_setting(notifier: Notifier, name: str, default: float) -> float:
    value = notifier.settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(
            _("[notifiers.{channel}] {name} must be a positive number").format(
                channel=notifier.name, name=name
            )
        )
    return float(value)


def table_setting(notifier: Notifier, name: str) -> Mapping[str, Any]:
    value = notifier.settings.get(name, {})
    if not isinstance(value, Mapping):
        raise InvalidInput(
            _("[notifiers.{channel}] {name} must be a table").format(
                channel=notifier.name, name=name
            )
        )
    return value


def env_value(notifier: Notifier, variable: object, where: str) -> str:
    """The value of environment variable ``variable``, named by setting ``where``."""
    if not isinstance(variable, str) or not variable:
        raise InvalidInput(
            _("[notifiers.{channel}] {name} must name an environment variable").format(
                channel=notifier.name, name=where
            )
        )
    value = notifier.env.get(variable)
    if not value:
        raise InvalidInput(
            _(
                "Environment variable {variable} (from [notifiers.{channel}] {key}) is not set"
            ).format(variable=variable, channel=notifier.name, key=where)
        )
    return value


def url_setting(notifier: Notifier, secrets: list[str]) -> str:
    """``url``, or the URL in the environment variable named by ``url_env`` (then the
    whole URL is treated as a secret: it often carries a token). The credentials in either
    (a token in the path or the query, a password) are secrets too."""
    if notifier.settings.get("url_env"):
        url = notifier.secret("url_env")
        secrets.append(url)
    else:
        url = text_setting(notifier, "url")
    secrets.extend(secrets_module.credentials_of(url))
    return url


# ----------------------------------------------------------------------------- secrets


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (as is, and as it looks inside a URL) and every URL's
    credentials blanked out (``caseflow.secrets``)."""
    return secrets_module.scrub(text, secrets)


# ----------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def snippet(self, secrets: Iterable[str]) -> str:
        text = self.body.decode("utf-8", errors="replace").strip()
        return scrub(" ".join(text.split())[:ERROR_SNIPPET], secrets)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect of a signed POST is a misconfigured URL, not something to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def exchange(
    key: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    secrets: Iterable[str],
    method: str = "POST",
) -> Answer | Result:
    """One request. Any HTTP answer (even 4xx/5xx) is an ``Answer``; a request that got
    no answer is a failed ``Result`` — transient, unless it can never work (bad URL,
    a certificate that does not verify)."""
    host = urllib.parse.urlsplit(url).hostname or "the peer"
    try:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            answer_body = exc.read(MAX_ANSWER_BYTES) if exc.fp is not None else b""
        return Answer(exc.code, exc.headers, answer_body)
    except ssl.SSLCertVerificationError as exc:
        return _untrusted(key, host, exc, secrets)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            return _untrusted(key, host, exc.reason, secrets)
        return Result.failed(
            key,
            "transient",
            scrub(_("cannot reach {host}: {reason}").format(host=host, reason=exc.reason), secrets),
        )
    except ValueError as exc:  # unknown URL type, a control character in the URL
        return Result.failed(
            key,
            "permanent",
            scrub(_("bad URL for {host}: {error}").format(host=host, error=exc), secrets),
        )
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets mid-answer
        detail = str(exc) or type(exc).__name__
        return Result.failed(
            key,
            "transient",
            scrub(_("no answer from {host}: {error}").format(host=host, error=detail), secrets),
        )


def _untrusted(key: str, host: str, exc: BaseException, secrets: Iterable[str]) -> Result:
    return Result.failed(
        key,
        "permanent",
        scrub(_("{host}: certificate not trusted: {error}").format(host=host, error=exc), secrets),
    )


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_failure(key: str, answer: Answer, secrets: Iterable[str], peer: str) -> Result | None:
    """None for 2xx; otherwise the failure an HTTP status means: 429 rate limited
    (honouring Retry-After), 408/425/5xx transient, any other status permanent."""
    status = answer.status
    if 200 <= status < 300:
        return None
    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    error = _("{peer} answered HTTP {status}").format(peer=peer, status=status)
    snippet = answer.snippet(secrets)
    if snippet:
        error = f"{error}: {snippet}"
    kind: Literal["transient", "rate_limited", "permanent"]
    if status == 429:
        kind = "rate_limited"
    elif status in (408, 425) or status >= 500:
        kind = "transient"
    else:  # other 4xx; 3xx too, since redirects are not followed
        kind = "permanent"
    return Result.failed(key, kind, error, retry_after)


def errcode_of(answer: Answer) -> tuple[int, str] | None:
    """``errcode`` and ``errmsg`` from a robot's JSON answer, or None if it has none."""
    payload = answer.json()
    if not isinstance(payload, dict) or "errcode" not in payload:
        return None
    try:
        code = int(payload["errcode"])
    except (TypeError, ValueError):
        return None
    return code, str(payload.get("errmsg", ""))


# ----------------------------------------------------------------------------- text


def fit(
    text: str,
    reference: str,
    limit: int,
    *,
    tail: str,
    unit: Literal["chars", "bytes"] = "chars",
) -> str:
    """``text`` within ``limit`` characters (or UTF-8 bytes), never losing ``reference``:
    when the text does not carry it, ``tail`` (which does) is appended, and a text
    that is too long is cut with an ellipsis before the tail."""

    def size(value: str) -> int:
        return len(value.encode("utf-8")) if unit == "bytes" else len(value)

    def cut(value: str, budget: int) -> str:
        if budget <= 0:
            return ""
        if unit == "bytes":
            return value.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
        return value[:budget]

    text = text.strip()
    carried = not reference or reference in text
    whole = text if carried else text + tail
    if size(whole) <= limit:
        return whole
    ellipsis = "…"
    if carried and reference:
        shortened = cut(text, limit - size(ellipsis)).rstrip()
        if reference in shortened:
            return shortened + ellipsis
    return cut(text, limit - size(ellipsis) - size(tail)).rstrip() + ellipsis + tail


ROBOT_SYSTEM_BUSY = -1  # both robots: "系统繁忙", try again later


@dataclass(frozen=True)
class RobotLimits:
    """How a group robot says "too fast", and how long it then stays closed (seconds)."""

    rate_limited_code: int
    closed_for: float


def post_to_robot(
    key: str,
    url: str,
    message: Mapping[str, Any],
    *,
    robot: str,
    secrets: list[str],
    timeout: float,
    limits: RobotLimits,
) -> Result:
    """POST a robot message and read its errcode: robots answer HTTP 200 even when they
    refuse, so only errcode 0 means sent."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "caseflow"}
    answer = exchange(key, url, body, headers, timeout=timeout, secrets=secrets)
    if not isinstance(answer, Answer):
        return answer
    failure = status_failure(key, answer, secrets, robot)
    if failure is not None:
        return failure
    found = errcode_of(answer)
    if found is None:
        error = _("{robot} answered without an errcode: {answer}").format(
            robot=robot, answer=answer.snippet(secrets)
        )
        return Result.failed(key, "transient", error)
    code, errmsg = found
    if code == 0:
        return Result.sent(key, "")
    error = scrub(
        _("{robot} refused: errcode {code} {message}")
        .format(robot=robot, code=code, message=errmsg)
        .strip(),
        secrets,
    )
    if code == limits.rate_limited_code:
        return Result.failed(key, "rate_limited", error, retry_after=limits.closed_for)
    if code == ROBOT_SYSTEM_BUSY:
        return Result.failed(key, "transient", error)
    return Result.failed(key, "permanent", error)
