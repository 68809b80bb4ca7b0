"""The ``email`` channel: SMTP with STARTTLS, implicit TLS or none, and login.

A document that names a child is never sent: its message is the notice's cover (title,
issuer, 文号, case numbers, how to get the printed document).

One connection is opened when the first notice of a batch is sent and reused for the
whole batch (``close`` ends it). Every message carries a ``Message-ID`` derived from the
notice's idempotency key, so a notice delivered again after a crash is recognisably
the same message::

    [notifiers.email]
    host = "smtp.edu.example.cn"
    port = 587                     # default: 587 starttls, 465 ssl, 25 none
    security = "starttls"          # "starttls" | "ssl" | "none"
    from = "县控辍保学工作专班 <kzbx@edu.example.cn>"
    username = "kzbx@edu.example.cn"        # optional: log in
    password_env = "CASEFLOW_SMTP_PASSWORD" # the variable that holds the password
    timeout = 30                   # seconds, per SMTP command
    ca_file = "/etc/caseflow/mail-ca.pem"   # optional: trust this CA as well
    helo = "caseflow.edu.example.cn"        # optional: the name we greet with
    reply_to = "kzbx@edu.example.cn"        # optional

SMTP 4xx, refused connections and timeouts are transient; 5xx (550 recipient rejected,
554 transaction failed, 535 bad login) is permanent. A connection that drops in the
middle of a batch fails the notice being sent (transient: the server may or may not
have taken it — the stable Message-ID covers a repeat) and is reopened for the
following notices; a server that keeps dropping fresh connections, or that cannot be
reached at all, fails the rest of the batch at once instead of being tried per notice.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.notifiers import ErrorKind, Notice, Notifier, Result
from caseflow.notifiers._shared import number_setting, scrub, text_setting

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
Security = Literal["starttls", "ssl", "none"]


def message_id(key: str, from_address: str) -> str:
    """``<sha256(key)[:32]@caseflow.{domain of from}>``: the same for every delivery."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@caseflow.{domain}>"


def smtp_kind(code: int) -> ErrorKind:
    return "permanent" if 500 <= code < 600 else "transient"


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


@dataclass(frozen=True)
class _Down:
    """Why the rest of this batch fails without another attempt."""

    kind: ErrorKind
    error: str


class EmailNotifier(Notifier):
    name = "email"
    # Connecting, the greeting, EHLO, STARTTLS, EHLO again, AUTH (up to two exchanges),
    # MAIL, RCPT, DATA and the end of data: one notice may wait on the server this often.
    waits: ClassVar[int] = 11
    default_timeout: ClassVar[float] = 30.0

    def __init__(
        self, settings: Mapping[str, Any], env: Mapping[str, str], workspace: Path
    ) -> None:
        super().__init__(settings, env, workspace)
        self._connection: smtplib.SMTP | None = None
        self._down: _Down | None = None
        self._lost_one = False  # a connection of this batch has dropped
        self._reopened = False  # this connection replaces a dropped one, untried so far
        self.connections_opened = 0

    # -- settings ------------------------------------------------------------

    @property
    def security(self) -> Security:
        value = self.settings.get("security", "starttls")
        if value not in DEFAULT_PORTS:
            raise InvalidInput(
                f"[notifiers.email] security must be starttls, ssl or none, not {value!r}"
            )
        return cast(Security, value)

    @property
    def from_address(self) -> str:
        return text_setting(self, "from")

    def _secrets(self) -> list[str]:
        variable = self.settings.get("password_env")
        value = self.env.get(str(variable)) if variable else None
        return [value] if value else []

    # -- sending -------------------------------------------------------------

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        # A server found down stays down for the rest of this object's batch (the
        # dispatcher sends a batch one notice at a time); the next batch tries again.
        return [self._send_one(notice) for notice in notices]

    def _send_one(self, notice: Notice) -> Result:
        try:
            message = self.message(notice)
            envelope_from = parseaddr(self.from_address)[1]
        except (InvalidInput, ValueError) as exc:  # bad address, newline in a header
            detail = exc.message if isinstance(exc, InvalidInput) else str(exc)
            return Result.failed(notice.key, "permanent", detail)
        if self._down is not None:
            return Result.failed(notice.key, self._down.kind, self._down.error)
        connection = self._connection or self._connect()
        if connection is None:
            down = self._down or _Down("transient", _("SMTP connection failed"))
            return Result.failed(notice.key, down.kind, down.error)
        try:
            connection.send_message(message, from_addr=envelope_from, to_addrs=[notice.address])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            return self._failed(notice, code, reply, _("recipient refused"))
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused
            return self._failed(notice, exc.smtp_code, exc.smtp_error, _("message refused"))
        except smtplib.SMTPServerDisconnected as exc:
            return self._dropped(notice, exc)
        except smtplib.SMTPException as exc:  # e.g. the server cannot take UTF-8 addresses
            self._check_alive()
            return Result.failed(notice.key, "permanent", self._clean(f"SMTP: {exc}"))
        except OSError as exc:  # timed out, reset
            return self._dropped(notice, exc)
        self._reopened = False  # it works: a later drop earns another reconnect
        return Result.sent(notice.key, str(message["Message-ID"]))

    def _failed(self, notice: Notice, code: int, reply: bytes | str, what: str) -> Result:
        self._check_alive()  # smtplib hangs up itself after a 421
        error = self._clean(f"{what}: SMTP {code} {_reply_text(reply)}")
        return Result.failed(notice.key, smtp_kind(code), error)

    def _dropped(self, notice: Notice, exc: OSError) -> Result:
        detail = str(exc) or type(exc).__name__
        self._lost(detail)
        return Result.failed(
            notice.key,
            "transient",
            self._clean(_("SMTP connection lost: {detail}").format(detail=detail)),
        )

    def _clean(self, text: str) -> str:
        return scrub(text, self._secrets())

    def message(self, notice: Notice) -> EmailMessage:
        """The message for ``notice``: text and HTML alternatives, UTF-8 headers."""
        if "@" not in notice.address or any(c in notice.address for c in "\r\n<>,; "):
            raise InvalidInput(_("the address is not an email address"))
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.from_address
        message["To"] = notice.address
        message["Subject"] = notice.subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = message_id(notice.key, self.from_address)
        message["X-Caseflow-Reference"] = notice.reference
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
        reply_to = self.settings.get("reply_to")
        if reply_to:
            message["Reply-To"] = str(reply_to)
        # base64 bodies: 7-bit clean for any server (no 8BITMIME needed), compact for Chinese
        if notice.cover:  # the document names a child: it goes on paper, this tells of it
            message.set_content(notice.cover, charset="utf-8", cte="base64")
            return message
        message.set_content(notice.text, charset="utf-8", cte="base64")
        if notice.html:
            message.add_alternative(notice.html, subtype="html", charset="utf-8", cte="base64")
        return message

    # -- the connection ------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.get("ca_file")
        context = ssl.create_default_context()
        if ca_file:
            if not Path(str(ca_file)).is_file():
                raise InvalidInput(f"[notifiers.email] ca_file {ca_file} is not a file")
            context.load_verify_locations(cafile=str(ca_file))
        return context

    def _connect(self) -> smtplib.SMTP | None:
        """Open, secure and log in; on failure record why the batch is down."""
        connection: smtplib.SMTP | None = None
        try:
            security = self.security
            host = text_setting(self, "host", "localhost")
            port = int(self.settings.get("port", DEFAULT_PORTS[security]))
            timeout = number_setting(self, "timeout", 30)
            helo = self.settings.get("helo")
            local_hostname = str(helo) if helo else None
            username = self.settings.get("username")
            password = self.secret("password_env") if username else None
            if username and security == "none":
                raise InvalidInput(
                    "[notifiers.email] refusing to send the SMTP password unencrypted: "
                    'use security = "starttls" or "ssl"'
                )
            tls = self._tls_context() if security != "none" else None
            self.connections_opened += 1
            if security == "ssl":
                connection = smtplib.SMTP_SSL(
                    host, port, local_hostname=local_hostname, timeout=timeout, context=tls
                )
            else:
                connection = smtplib.SMTP(
                    host, port, local_hostname=local_hostname, timeout=timeout
                )
            if security == "starttls":
                connection.starttls(context=tls)
            if username and password is not None:
                connection.login(str(username), password)
        except InvalidInput as exc:
            self._down = _Down("permanent", exc.message)
        except ssl.SSLCertVerificationError as exc:
            self._down = _Down(
                "permanent",
                self._clean(_("SMTP certificate not trusted: {error}").format(error=exc)),
            )
        except smtplib.SMTPResponseException as exc:  # greeting, STARTTLS or login refused
            what = f"SMTP {exc.smtp_code} {_reply_text(exc.smtp_error)}"
            self._down = _Down(
                smtp_kind(exc.smtp_code), self._clean(_("cannot connect: {what}").format(what=what))
            )
        except smtplib.SMTPServerDisconnected as exc:
            self._down = _Down(
                "transient", self._clean(_("SMTP server hung up: {error}").format(error=exc))
            )
        except smtplib.SMTPException as exc:  # no STARTTLS, no usable AUTH mechanism
            self._down = _Down(
                "permanent", self._clean(_("SMTP server: {error}").format(error=exc))
            )
        except OSError as exc:  # refused, timed out, TLS failed
            detail = str(exc) or type(exc).__name__
            self._down = _Down(
                "transient",
                self._clean(_("cannot connect to SMTP: {detail}").format(detail=detail)),
            )
        except (TypeError, ValueError) as exc:  # port = "abc"
            self._down = _Down(
                "permanent", _("[notifiers.email] bad setting: {error}").format(error=exc)
            )
        else:
            self._connection = connection
            self._reopened, self._lost_one = self._lost_one, False
            return connection
        if connection is not None:
            connection.close()
        return None

    def _check_alive(self) -> None:
        if self._connection is not None and self._connection.sock is None:
            self._lost(_("the server closed the connection"))

    def _lost(self, why: str) -> None:
        """The connection is gone: reopen it for the next notice, unless a fresh
        connection has already dropped without delivering anything."""
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._lost_one = True
        if self._reopened:
            self._down = _Down("transient", self._clean(f"SMTP keeps dropping: {why}"))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
