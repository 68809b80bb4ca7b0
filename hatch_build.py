"""Wheel build step: compile the gettext catalogs (``caseflow/locale/*/LC_MESSAGES/*.po``)
with Babel into the ``.mo`` files the installed package reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogs(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(self.root)
        for po in sorted((root / "caseflow" / "locale").glob("*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            with po.open("rb") as source:
                catalog = read_po(source)
            with mo.open("wb") as target:
                write_mo(target, catalog)
            build_data["force_include"][str(mo)] = str(mo.relative_to(root))
