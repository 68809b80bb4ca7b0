"""The organisation file (``org.yaml`` in the workspace): for now, who receives notices
and through which channel. Parsing is pure; ``load_contacts`` reads the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from caseflow.errors import WorkspaceError
from caseflow.workspace import Workspace

ADDRESSLESS_CHANNELS = frozenset({"letter"})


@dataclass(frozen=True)
class Contact:
    channel: str
    address: str  # empty for a letter: it is printed and served by hand


@dataclass(frozen=True)
class Contacts:
    by_key: Mapping[str, tuple[Contact, ...]] = field(default_factory=lambda: MappingProxyType({}))
    default: tuple[Contact, ...] = (Contact("letter", ""),)

    def of(self, recipient: str) -> tuple[Contact, ...]:
        """Channels for an address: listed exactly, else by its role, else the default."""
        role = recipient.partition(":")[0]
        return self.by_key.get(recipient) or self.by_key.get(role) or self.default


def _contacts(raw: object, path: str, file: str) -> tuple[Contact, ...]:
    if not isinstance(raw, list) or not raw:
        raise WorkspaceError(f"{file}: {path} must be a list of {{channel, address}}")
    contacts = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("channel"), str):
            raise WorkspaceError(f"{file}: {where} needs a channel (letter, email, ...)")
        unknown = sorted(set(item) - {"channel", "address"})
        if unknown:
            raise WorkspaceError(f"{file}: {where}.{unknown[0]} is not a contact field")
        address = str(item.get("address") or "")
        if not address and item["channel"] not in ADDRESSLESS_CHANNELS:
            raise WorkspaceError(f"{file}: {where} needs an address for {item['channel']}")
        contacts.append(Contact(item["channel"], address))
    return tuple(contacts)


def parse_contacts(data: Any, file: str) -> Contacts:
    if data is None:
        return Contacts()
    if not isinstance(data, Mapping):
        raise WorkspaceError(f"{file}: expected a mapping with contacts and default")
    raw = data.get("contacts") or {}
    if not isinstance(raw, Mapping):
        raise WorkspaceError(f"{file}: contacts must map addresses to channel lists")
    by_key = {str(key): _contacts(value, f"contacts.{key}", file) for key, value in raw.items()}
    default = (
        _contacts(data["default"], "default", file) if "default" in data else Contacts().default
    )
    return Contacts(MappingProxyType(by_key), default)


def load_contacts(workspace: Workspace) -> Contacts:
    path = workspace.org_file
    if not path.exists():
        return Contacts()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WorkspaceError(f"cannot read {path}: {exc}") from exc
    return parse_contacts(data, str(path))
