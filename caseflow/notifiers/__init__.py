"""Notifier channels and their registry.

A channel is a ``Notifier`` subclass registered under the entry point group
``caseflow.notifiers``, so a county can add one from its own package without touching
the core::

    [project.entry-points."caseflow.notifiers"]
    fax = "county_fax:FaxNotifier"

Channels are looked up lazily by name; nothing is imported until a channel is used.

The contract. The dispatcher builds one channel object per batch with the channel's
settings (from ``caseflow.toml`` ``[notifiers.<name>]``; secrets are *names* of
environment variables, read from ``env`` — never stored or printed), calls ``send`` with
the notices of that batch one at a time (renewing its claim on the batch between them),
then ``close``; a channel may keep a connection open across those calls. ``send`` returns
one ``Result`` per notice, in order, and never raises for a delivery failure: a failure is
a ``Result`` with an error ``kind``:

- ``transient``: try again later (connection refused, timeout, 5xx from a gateway, SMTP 4xx);
- ``rate_limited``: the peer asked us to slow down (``retry_after`` seconds if it said so);
- ``permanent``: retrying cannot help (SMTP 5xx, a robot's signature or keyword rejection,
  a bad address); the notice goes dead for a person to look at.

Delivery is at least once: the same notice may be sent again after a crash, so channels
give the receiver a stable id derived from ``Notice.key`` (an email ``Message-ID``, the
reference number in the text).

A channel honours its ``timeout`` setting as the longest of each of its ``waits`` waits
on the peer: the dispatcher may lower it (never raise it) so that one notice cannot
outlive the dispatcher's claim on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

from caseflow.channels import channel_code
from caseflow.errors import InvalidInput
from caseflow.i18n import _

ENTRY_POINT_GROUP = "caseflow.notifiers"
ErrorKind = Literal["transient", "rate_limited", "permanent"]


@dataclass(frozen=True)
class Notice:
    key: str  # idempotency key: the same notice keeps it across retries
    reference: str  # short reference printed for people, e.g. "KC-000123"
    address: str  # where this channel delivers: an email address, a phone, a robot name
    subject: str
    html: str  # the rendered document
    text: str  # a plain-text summary with no child's name or ID (fit for group chats)
    # A document that names a child travels on paper only: a channel that would carry the
    # document (e-mail) sends this cover instead: title, issuer, 文号, case numbers, and
    # how to get the document. Empty: the document names no child.
    cover: str = ""
    # What a clerk finds a printed letter by (no name or ID number in any of them): the
    # document's title, the case numbers, the recipient's role, and the dispatch day (in
    # the workspace's time zone).
    document: str = ""
    cases: tuple[int, ...] = ()
    role: str = ""
    day: date | None = None


@dataclass(frozen=True)
class Result:
    key: str
    ok: bool
    reference: str = ""  # what the peer can quote back: a Message-ID, a file name, a msgid
    kind: ErrorKind | None = None
    error: str = ""
    retry_after: float | None = None

    @classmethod
    def sent(cls, key: str, reference: str) -> Result:
        return cls(key, True, reference)

    @classmethod
    def failed(
        cls, key: str, kind: ErrorKind, error: str, retry_after: float | None = None
    ) -> Result:
        return cls(key, False, kind=kind, error=error, retry_after=retry_after)


class Notifier(ABC):
    name: ClassVar[str]
    # Group-chat channels get only ``Notice.text``; the dispatcher limits them to
    # ``per_minute`` messages per address (kept in the database).
    per_minute: ClassVar[int | None] = None
    # How long such a peer stays closed after it answered "too fast" (seconds).
    rate_closed_seconds: ClassVar[float] = 60.0
    # How many times one notice may wait on the peer (connecting, each answer), each wait
    # at most the ``timeout`` setting (seconds; ``default_timeout`` when unset). The
    # dispatcher bounds one notice's time by their product, and lowers ``timeout`` so that
    # the bound fits in its claim. 0: nothing to wait for (a local file).
    waits: ClassVar[int] = 2
    default_timeout: ClassVar[float] = 10.0

    def __init__(
        self, settings: Mapping[str, Any], env: Mapping[str, str], workspace: Path
    ) -> None:
        self.settings = settings
        self.env = env
        self.workspace = workspace

    def secret(self, key: str) -> str:
        """The value of the environment variable named by setting ``key``."""
        variable = self.settings.get(key)
        if not variable:
            raise InvalidInput(
                _(
                    "[notifiers.{channel}] {key} must name an environment variable that "
                    "holds the secret"
                ).format(channel=self.name, key=key)
            )
        value = self.env.get(str(variable))
        if not value:
            raise InvalidInput(
                _(
                    "Environment variable {variable} (from [notifiers.{channel}] {key}) is not set"
                ).format(variable=variable, channel=self.name, key=key)
            )
        return value

    @abstractmethod
    def send(self, notices: Sequence[Notice]) -> list[Result]:
        """Deliver a batch: one Result per notice, in order; failures are Results."""

    def close(self) -> None:  # noqa: B027 - most channels hold nothing open
        """Release connections held for the batch."""


def channel_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def channel(name: str) -> type[Notifier]:
    """The channel class named by its code or its Chinese name (``企业微信``); an unknown
    name is refused (exit 2) with the channels installed, 「中文（code）」."""
    installed = channel_names()
    if not installed:
        raise InvalidInput(_("No notifier channel is installed"))
    code = channel_code(name, installed)
    found = entry_points(group=ENTRY_POINT_GROUP, name=code)
    loaded = next(iter(found)).load()
    if not (isinstance(loaded, type) and issubclass(loaded, Notifier)):
        raise InvalidInput(
            _("Notifier channel {name!r} does not provide a Notifier class").format(name=code)
        )
    return loaded
