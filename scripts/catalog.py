"""Keeps the Chinese catalog in step with the code (see docs/translation.md).

python scripts/catalog.py update    # add new messages, drop unused ones, sort by msgid
python scripts/catalog.py missing   # list messages without a Chinese translation
python scripts/catalog.py fill F.json  # set translations from {"msgid": "中文", ...}
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "caseflow" / "locale" / "zh_CN" / "LC_MESSAGES" / "caseflow.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extracted() -> list[str | tuple[str, str]]:
    messages: dict[str | tuple[str, str], None] = {}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map=[("caseflow/**.py", "python")], keywords=KEYWORDS
    ):
        messages.setdefault(message, None)
    return list(messages)


def read() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle)


def update() -> None:
    old = read()
    new = Catalog(
        locale="zh_CN",
        project="caseflow",
        version="1",
        copyright_holder="caseflow",
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        fuzzy=False,
    )
    for message in extracted():
        key = message[0] if isinstance(message, tuple) else message
        previous = old.get(key)
        string = previous.string if previous is not None and not previous.fuzzy else ""
        if isinstance(message, tuple):  # Chinese has one plural form
            first = string if isinstance(string, str) else (list(string) or [""])[0]
            string = (first,)
        elif not isinstance(string, str):
            string = next(iter(string))
        new.add(message, string)
    with PO.open("wb") as handle:
        write_po(handle, new, width=0, sort_output=True, omit_header=False, no_location=True)
    missing()


def fill(path: str) -> None:
    """Sets translations from a JSON object {msgid: Chinese}."""
    import json

    catalog = read()
    for msgid, chinese in json.loads(Path(path).read_text(encoding="utf-8")).items():
        message = catalog.get(msgid)
        if message is None:
            sys.exit(f"not in the catalog (run update first): {msgid!r}")
        message.string = (chinese,) if isinstance(message.id, tuple) else chinese
        message.flags.discard("fuzzy")
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True, no_location=True)
    missing()


def missing() -> None:
    untranslated = [
        m.id
        for m in read()
        if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else m.string[0]))
    ]
    for msgid in untranslated:
        print(repr(msgid))
    print(f"{len(untranslated)} untranslated", file=sys.stderr)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "fill":
        fill(sys.argv[2])
    else:
        {"update": update, "missing": missing}[command]()
