"""Where the shipped workflows, templates and examples live: inside the installed package
(``caseflow/_data/``, put there by the wheel build) or, in a checkout, at the top level."""

from __future__ import annotations

from pathlib import Path

from caseflow.errors import WorkspaceError
from caseflow.i18n import _

_PACKAGE = Path(__file__).resolve().parent


def shipped(kind: str) -> Path:
    """``shipped("workflows")``, ``shipped("templates")`` or ``shipped("examples")``."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise WorkspaceError(
        _(
            "the shipped {kind}/ folder is missing from this installation; reinstall caseflow"
        ).format(kind=kind)
    )
