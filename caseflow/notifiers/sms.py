"""The ``sms`` channel: a generic HTTP SMS gateway, described entirely by settings.

::

    [notifiers.sms]
    url = "https://sms.example.cn/api/send"   # or url_env = "SMS_URL"
    method = "POST"                           # or "PUT"
    format = "json"                           # or "form"
    body = { mobile = "{phone}", content = "{text}", outId = "{reference}", sign = "县教育局" }
    auth_header = "Authorization"             # optional
    auth_env = "SMS_TOKEN"                    # the variable holding that header's value
    auth_prefix = "Bearer "                   # optional, put before the value
    success_field = "code"                    # optional: a JSON field (dots for nesting) ...
    success_value = "0"                       # ... that must equal this on success
    message_field = "message"                 # optional: where the gateway says what failed
    id_field = "data.msgid"                   # optional: the gateway's id, kept as reference
    rate_limited_values = ["LIMIT_CONTROL"]   # optional: success_field values that mean "slow down"
    transient_values = ["SYSTEM_BUSY"]        # optional: ... that mean "try again later"
    max_length = 200                          # characters of SMS text
    timeout = 10

Placeholders ``{phone}``, ``{text}``, ``{reference}`` and ``{key}`` are replaced inside
the string values of ``body`` (nested tables too, for JSON); nothing else in a value is
interpreted. Without ``body`` the gateway gets ``{phone, text, reference}``.

The text is ``Notice.text`` cut to ``max_length`` with an ellipsis, always keeping the
reference (appended as ``（编号 KC-000123）`` when the text does not carry it).
HTTP is classified as for the webhook (2xx, then 429 rate limited, 408/5xx transient,
other 4xx permanent); a 2xx whose ``success_field`` is not ``success_value`` is
permanent unless listed in ``rate_limited_values`` or ``transient_values``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.notifiers import Notice, Notifier, Result
from caseflow.notifiers._shared import (
    Answer,
    exchange,
    fit,
    number_setting,
    scrub,
    status_failure,
    table_setting,
    text_setting,
    url_setting,
)

PHONE = re.compile(r"\+?\d{5,15}")
DEFAULT_BODY = {"phone": "{phone}", "text": "{text}", "reference": "{reference}"}


def sms_text(notice: Notice, limit: int) -> str:
    return fit(notice.text, notice.reference, limit, tail=f"（编号 {notice.reference}）")


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """``template`` with ``{name}`` placeholders replaced in every string value."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, Mapping):
        return {str(k): fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template


def field(payload: Any, path: str) -> Any:
    """``payload["a"]["b"]`` for ``path`` "a.b"; None when absent."""
    for part in path.split("."):
        if not isinstance(payload, Mapping) or part not in payload:
            return None
        payload = payload[part]
    return payload


def _strings(notifier: Notifier, name: str) -> set[str]:
    values = notifier.settings.get(name, [])
    if not isinstance(values, list):
        raise InvalidInput(f"[notifiers.sms] {name} must be a list")
    return {str(value) for value in values}


class SmsNotifier(Notifier):
    name = "sms"

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        secrets: list[str] = []
        try:
            url = url_setting(self, secrets)
            method = text_setting(self, "method", "POST").upper()
            if method not in ("POST", "PUT"):
                raise InvalidInput("[notifiers.sms] method must be POST or PUT")
            encoding = text_setting(self, "format", "json")
            if encoding not in ("json", "form"):
                raise InvalidInput("[notifiers.sms] format must be json or form")
            template = table_setting(self, "body") or DEFAULT_BODY
            headers = {"User-Agent": "caseflow"}
            if self.settings.get("auth_env"):
                token = self.secret("auth_env")
                secrets.append(token)
                header = text_setting(self, "auth_header", "Authorization")
                headers[header] = str(self.settings.get("auth_prefix", "")) + token
            limit = int(number_setting(self, "max_length", 200))
            timeout = number_setting(self, "timeout", 10)
            rate_limited = _strings(self, "rate_limited_values")
            transient = _strings(self, "transient_values")
        except InvalidInput as exc:
            return [Result.failed(n.key, "permanent", exc.message) for n in notices]
        results = []
        for notice in notices:
            phone = re.sub(r"[\s()-]", "", notice.address)
            if not PHONE.fullmatch(phone):
                error = "the address is not a phone number"
                results.append(Result.failed(notice.key, "permanent", error))
                continue
            values = {
                "phone": phone,
                "text": sms_text(notice, limit),
                "reference": notice.reference,
                "key": notice.key,
            }
            body = fill(template, values)
            if encoding == "json":
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                content_type = "application/json; charset=utf-8"
            else:
                data = urllib.parse.urlencode(body, doseq=True).encode("ascii")
                content_type = "application/x-www-form-urlencoded"
            answer = exchange(
                notice.key,
                url,
                data,
                {**headers, "Content-Type": content_type},
                timeout=timeout,
                secrets=secrets,
                method=method,
            )
            if isinstance(answer, Answer):
                answer = self._judge(notice, answer, secrets, rate_limited, transient)
            results.append(answer)
        return results

    def _judge(
        self,
        notice: Notice,
        answer: Answer,
        secrets: list[str],
        rate_limited: set[str],
        transient: set[str],
    ) -> Result:
        failure = status_failure(notice.key, answer, secrets, _("the SMS gateway"))
        if failure is not None:
            return failure
        payload = answer.json()
        reference = notice.reference
        id_field = self.settings.get("id_field")
        if id_field and field(payload, str(id_field)) is not None:
            reference = str(field(payload, str(id_field)))
        success_field = self.settings.get("success_field")
        if not success_field:
            return Result.sent(notice.key, reference)
        found = field(payload, str(success_field))
        if found is not None and str(found) == str(self.settings.get("success_value", "0")):
            return Result.sent(notice.key, reference)
        explanation = ""
        message_field = self.settings.get("message_field")
        if message_field and field(payload, str(message_field)) is not None:
            explanation = f": {field(payload, str(message_field))}"
        elif payload is None:
            explanation = f": {answer.snippet(secrets)}"
        error = scrub(
            _("the SMS gateway refused: {field} = {value}").format(field=success_field, value=found)
            + explanation,
            secrets,
        )
        error = error[:300]
        if str(found) in rate_limited:
            return Result.failed(notice.key, "rate_limited", error)
        if str(found) in transient:
            return Result.failed(notice.key, "transient", error)
        return Result.failed(notice.key, "permanent", error)
