"""Notifier channels and their registry.

A channel is a ``Notifier`` subclass registered under the entry point group
``caseflow.notifiers``, so a county can add one from its own package without touching
the core::

    [project.entry-points."caseflow.notifiers"]
    fax = "county_fax:FaxNotifier"

Channels are looked up lazily by name; nothing is imported until a channel is used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import ClassVar

from caseflow.errors import InvalidInput

ENTRY_POINT_GROUP = "caseflow.notifiers"


@dataclass(frozen=True)
class Notice:
    key: str  # idempotency key: the same notice keeps it across retries
    recipient: str  # the channel's address for the recipient
    subject: str
    body: str


@dataclass(frozen=True)
class Delivery:
    key: str
    reference: str  # what the receiver can quote back: a Message-ID, a file name


class Notifier(ABC):
    name: ClassVar[str]

    @abstractmethod
    def send(self, notices: Sequence[Notice]) -> list[Delivery]:
        """Deliver a batch; sending the same notice twice must be recognisable as a repeat."""


def channel_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def channel(name: str) -> type[Notifier]:
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        known = ", ".join(channel_names()) or "none installed"
        raise InvalidInput(f"no notifier channel named {name!r} (available: {known})")
    loaded = next(iter(found)).load()
    if not (isinstance(loaded, type) and issubclass(loaded, Notifier)):
        raise InvalidInput(f"notifier channel {name!r} does not provide a Notifier class")
    return loaded
