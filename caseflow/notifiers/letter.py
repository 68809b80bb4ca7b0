"""The ``letter`` channel: printable documents written into the workspace's outbox/ for
printing and service (送达)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from caseflow.notifiers import Notice, Notifier, Result

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LetterNotifier(Notifier):
    name = "letter"
    waits: ClassVar[int] = 0  # a local file: nothing to wait for

    @property
    def outbox(self) -> Path:
        return self.workspace / str(self.settings.get("folder", "outbox"))

    def path_for(self, notice: Notice) -> Path:
        return self.outbox / f"{_UNSAFE.sub('_', notice.key)}.html"

    def send(self, notices: Sequence[Notice]) -> list[Result]:
        """Each letter lands whole (written aside, then renamed); a repeat overwrites it."""
        results = []
        for notice in notices:
            try:
                self.outbox.mkdir(parents=True, exist_ok=True)
                target = self.path_for(notice)
                handle, temporary = tempfile.mkstemp(dir=self.outbox, prefix=".letter-")
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as stream:
                        stream.write(notice.html)
                    os.replace(temporary, target)
                except BaseException:
                    Path(temporary).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                results.append(Result.failed(notice.key, "transient", f"cannot write: {exc}"))
                continue
            results.append(Result.sent(notice.key, target.name))
        return results
