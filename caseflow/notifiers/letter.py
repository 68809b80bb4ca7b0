"""The ``letter`` channel: printable documents written into the workspace's outbox/."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from caseflow.notifiers import Delivery, Notice, Notifier

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LetterNotifier(Notifier):
    name = "letter"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def path_for(self, notice: Notice) -> Path:
        return self.outbox / f"{_UNSAFE.sub('_', notice.key)}.html"

    def send(self, notices: Sequence[Notice]) -> list[Delivery]:
        """Each letter lands whole (written aside, then renamed); a repeat overwrites it."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        deliveries = []
        for notice in notices:
            target = self.path_for(notice)
            handle, temporary = tempfile.mkstemp(dir=self.outbox, prefix=".letter-")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(notice.body)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            deliveries.append(Delivery(notice.key, target.name))
        return deliveries
