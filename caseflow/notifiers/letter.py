"""The ``letter`` channel: printable documents written into the workspace's outbox/ for
printing and service (送达).

A clerk finds a letter by its file name: the dispatch day's folder, then the day, the
document, the case number and the recipient's role, e.g.
``outbox/2026-11-29/2026-11-29_责令限期复学通知书_案件0032_监护人.html`` — never a name or an
ID number. Two different letters that would share a name get a short suffix (``_2``); the
same letter sent again (delivery is at least once) replaces its own file. Each day's
folder has an ``index.html`` listing its letters: document, case numbers, recipient role,
notice reference and what the channel did with it.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from caseflow.notifiers import Notice, Notifier, Result

INDEX = "index.html"
_MANIFEST = ".index.json"
_LOCK = ".index.lock"
# What never goes into a file name: path and shell-unsafe characters, white space, and
# any run of digits long enough to be part of an ID or phone number.
_UNSAFE = re.compile(r"[\\/:*?\"<>|\s\x00-\x1f]+")
_LONG_NUMBER = re.compile(r"[0-9Xx]{6,}")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WRITTEN = "已写入，待打印送达"


def _part(text: str, fallback: str) -> str:
    cleaned = _LONG_NUMBER.sub("", _UNSAFE.sub("", text)).strip("._-")
    return cleaned[:40] or fallback


def cases_text(cases: Sequence[int]) -> str:
    """案件0032, 案件0032等3件, or empty for a notice about no case."""
    if not cases:
        return ""
    first = f"案件{cases[0]:04d}"
    return first if len(cases) == 1 else f"{first}等{len(cases)}件"


def stem(notice: Notice, day: date) -> str:
    """The file name (without suffix) a clerk finds a letter by."""
    parts = [day.isoformat(), _part(notice.document or notice.subject, "文书")]
    if notice.cases:
        parts.append(cases_text(notice.cases))
    parts.append(_part(notice.role, "收件人"))
    return "_".join(parts)


def letter_files(folder: Path) -> list[Path]:
    """Every letter the channel wrote in ``folder`` (the day folders, and the flat files
    of earlier versions), without the index pages and temporary files, by path."""
    if not folder.is_dir():
        return []
    found = [
        path for path in folder.glob("*.html") if path.is_file() and not path.name.startswith(".")
    ]
    for day in folder.iterdir():
        if day.is_dir() and _DAY.match(day.name):
            found.extend(
                path
                for path in day.glob("*.html")
                if path.is_file() and not path.name.startswith(".") and path.name != INDEX
            )
    return sorted(found)


class LetterNotifier(Notifier):
    name = "letter"
    waits: ClassVar[int] = 0  # a local file: nothing to wait for

    @property
    def outbox(self) -> Path:
        return self.workspace / str(self.settings.get("folder", "outbox"))

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        """Each letter lands whole (written aside, then renamed); a repeat overwrites it.
        The result's reference is the file's path under the outbox (``day/name``)."""
        results = []
        for notice in notices:
            day = notice.day or date.today()
            folder = self.outbox / day.isoformat()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with _locked(folder):
                    manifest = _read_manifest(folder)
                    name = _name_for(folder, manifest, notice, day)
                    manifest[notice.key] = {
                        "file": name,
                        "document": notice.document or notice.subject,
                        "cases": list(notice.cases),
                        "role": notice.role,
                        "reference": notice.reference,
                        "outcome": WRITTEN,
                    }
                    # The name is the notice's before its letter is written: a dispatcher
                    # killed in between sends it again to this file, never to a second one.
                    _write_whole(folder, _MANIFEST, json.dumps(manifest, ensure_ascii=False))
                    _write_whole(folder, name, notice.html)
                    written = [e for e in manifest.values() if (folder / e["file"]).exists()]
                    _write_whole(folder, INDEX, index_page(day, written))
            except OSError as exc:
                results.append(Result.failed(notice.key, "transient", f"无法写入：{exc}"))
                continue
            results.append(Result.sent(notice.key, f"{day.isoformat()}/{name}"))
        return results


def _name_for(folder: Path, manifest: dict[str, Any], notice: Notice, day: date) -> str:
    """The letter's own file if it was written before; else a free name."""
    if notice.key in manifest:
        return str(manifest[notice.key]["file"])
    taken = {entry["file"] for entry in manifest.values()}
    base = stem(notice, day)
    name, number = f"{base}.html", 1
    while name in taken or (folder / name).exists():
        number += 1
        name = f"{base}_{number}.html"
    return name


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        loaded = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:  # a damaged manifest: start over rather than refuse to write letters
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_whole(folder: Path, name: str, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".letter-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Two dispatchers writing the same day's folder take turns with its index."""
    try:
        import fcntl
    except ImportError:  # Windows: one dispatcher per workspace in practice
        yield
        return
    with open(folder / _LOCK, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def index_page(day: date, entries: Any) -> str:
    """The day's index: one row per letter, in file-name order."""
    rows = []
    for entry in sorted(entries, key=lambda e: str(e["file"])):
        cases = "、".join(str(number) for number in entry.get("cases", [])) or "—"
        cells = (
            f'<a href="{html.escape(entry["file"])}">{html.escape(entry["file"])}</a>',
            html.escape(str(entry.get("document", ""))),
            html.escape(cases),
            html.escape(str(entry.get("role", ""))),
            html.escape(str(entry.get("reference", ""))),
            html.escape(str(entry.get("outcome", ""))),
        )
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    title = f"{day.year}年{day.month}月{day.day}日发出的文书"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}"
        "</style></head><body>"
        f"<h1>{title}</h1><p>共{len(rows)}份。</p><table>"
        "<tr><th>文件</th><th>文书</th><th>案件编号</th><th>收件人</th><th>通知编号</th>"
        "<th>投递结果</th></tr>" + "".join(rows) + "</table></body></html>\n"
    )
