"""Who may see and do what: roles, jurisdictions, and the capabilities they grant.

Pure: the data layer (``caseflow.services.records``) turns a jurisdiction into the one SQL
condition every case read goes through; the services ask ``require`` before they write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from caseflow.errors import AccessDenied, InvalidInput
from caseflow.i18n import _

JurisdictionKind = Literal["county", "township", "school", "department"]
JURISDICTION_KINDS: tuple[str, ...] = ("county", "township", "school", "department")


@dataclass(frozen=True)
class Jurisdiction:
    """Where an operator's cases are: the whole county, one township (by name), one
    school (by name) or one partner department (by its key, e.g. ``health``)."""

    kind: JurisdictionKind = "county"
    name: str = ""

    def __str__(self) -> str:
        return "county" if self.kind == "county" else f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Jurisdiction:
        kind, _sep, name = text.strip().partition(":")
        if kind == "county" and not name:
            return COUNTY
        if kind in ("township", "school", "department") and name.strip():
            return cls(kind, name.strip())  # type: ignore[arg-type]
        raise InvalidInput(
            _(
                "jurisdiction “{text}” is not one of county, township:NAME, school:NAME, "
                "department:KEY"
            ).format(text=text)
        )


COUNTY = Jurisdiction()

# What each role may do. A role not listed for a capability does not have it.
CASE_READERS = frozenset({"caseworker", "school", "department", "bureau", "supervisor"})
CASE_WRITERS = frozenset({"caseworker", "school", "department", "bureau"})
CASE_OPENERS = frozenset({"caseworker", "school", "bureau"})
AUDIT_READERS = frozenset({"bureau", "supervisor"})
ASSESSORS = frozenset({"bureau", "supervisor"})
CHECKPOINT_WRITERS = frozenset({"bureau", "supervisor", "admin"})
ORG_ADMINS = frozenset({"admin"})
ROSTER_USERS = frozenset({"bureau"})
ASSIGNERS = frozenset({"caseworker", "school", "bureau"})
DISPATCHERS = frozenset({"bureau", "admin"})
WORKFLOW_MIGRATORS = frozenset({"bureau", "admin"})
PRINTERS = frozenset({"bureau"})
DEFAULT_REVEAL_ROLES = frozenset({"bureau"})

# The jurisdiction each role needs: a county-wide role cannot be limited, a local one
# must be limited to its own kind of unit (or, for a caseworker, may be county-wide).
ROLE_JURISDICTIONS: dict[str, frozenset[str]] = {
    "caseworker": frozenset({"township", "county"}),
    "school": frozenset({"school"}),
    "department": frozenset({"department"}),
    "bureau": frozenset({"county"}),
    "supervisor": frozenset({"county"}),
    "admin": frozenset(JURISDICTION_KINDS),
}


def jurisdiction_problem(role: str, jurisdiction: Jurisdiction) -> str | None:
    allowed = ROLE_JURISDICTIONS.get(role)
    if allowed is None or jurisdiction.kind in allowed:
        return None
    return _("role {role} needs a jurisdiction of kind {kinds}").format(
        role=role, kinds=_(" or ").join(sorted(allowed))
    )


def require(roles: Iterable[str], allowed: frozenset[str], operator: str, doing: str) -> None:
    """Refuse unless one of the operator's roles is allowed to do this."""
    held = frozenset(roles)
    if not held & allowed:
        raise AccessDenied(
            _(
                "operator “{operator}” (roles: {roles}) may not use `caseflow {doing}`; that "
                "needs one of: {allowed}"
            ).format(
                operator=operator,
                roles=", ".join(sorted(held)) or _("none"),
                doing=doing,
                allowed=", ".join(sorted(allowed)),
            )
        )
