"""Reading and writing dates the way county offices write them. Pure."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from caseflow.errors import InvalidInput
from caseflow.i18n import _

_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


def parse_date(text: str, *, what: str | None = None) -> date:
    """Accepts 2014-03-05, 2014/3/5, 2014.3.5, 20140305 and 2014年3月5日."""
    cleaned = text.strip()
    for pattern in _PATTERNS:
        match = pattern.match(cleaned)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise InvalidInput(
        _("{what} '{text}' is not a valid date; write it as 2026-11-29 or 2026年11月29日").format(
            what=_("date") if what is None else what, text=text
        )
    )


def cn_date(day: date) -> str:
    """2026年11月29日 — no leading zeros, as in official documents."""
    return f"{day.year}年{day.month}月{day.day}日"


def spoken(value: object) -> str:
    """A printed value as text: a date as `cn_date` writes it, anything else as is."""
    return cn_date(value) if isinstance(value, date) else str(value).strip()


def recorded_day(recorded_at: str, zone: tzinfo) -> date:
    """The day an event was recorded (its ``recorded_at``, ISO text), in ``zone``."""
    moment = datetime.fromisoformat(recorded_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()
