"""The ``webhook`` channel: a signed JSON POST to a county's own system.

::

    [notifiers.webhook]
    url = "https://county.example.cn/hooks/caseflow"  # or url_env = "CASEFLOW_WEBHOOK_URL"
    secret_env = "CASEFLOW_WEBHOOK_SECRET"            # the variable that holds the HMAC key
    timeout = 10                                      # seconds

The body is compact UTF-8 JSON ``{key, reference, subject, text, address, sent_at}``
(never the HTML document). Headers::

    X-Caseflow-Timestamp: <unix seconds>
    X-Caseflow-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>
    Idempotency-Key: <Notice.key>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes,
compares in constant time, rejects stale timestamps, and deduplicates on ``key``.
2xx is delivered; 429 is rate limited (Retry-After honoured); 408, 425 and 5xx are
transient; any other status is permanent (redirects are not followed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.notifiers import Notice, Notifier, Result
from caseflow.notifiers._shared import (
    Answer,
    exchange,
    number_setting,
    status_failure,
    url_setting,
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Caseflow-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookNotifier(Notifier):
    name = "webhook"

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        secrets: list[str] = []
        try:
            url = url_setting(self, secrets)
            secret = self.secret("secret_env")
            secrets.append(secret)
            timeout = number_setting(self, "timeout", 10)
        except InvalidInput as exc:
            return [Result.failed(n.key, "permanent", exc.message) for n in notices]
        return [self._post(notice, url, secret, timeout, secrets) for notice in notices]

    def _post(
        self, notice: Notice, url: str, secret: str, timeout: float, secrets: list[str]
    ) -> Result:
        payload = {
            "key": notice.key,
            "reference": notice.reference,
            "subject": notice.subject,
            "text": notice.text,
            "address": notice.address,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "caseflow",
            "X-Caseflow-Timestamp": timestamp,
            "X-Caseflow-Signature": signature(secret, timestamp, body),
            "Idempotency-Key": notice.key,
        }
        answer = exchange(notice.key, url, body, headers, timeout=timeout, secrets=secrets)
        if not isinstance(answer, Answer):
            return answer
        failure = status_failure(notice.key, answer, secrets, _("the webhook receiver"))
        return failure or Result.sent(notice.key, notice.reference)
