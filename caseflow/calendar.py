"""Working days, holidays and deadline arithmetic. Pure: no I/O, no clock, no database.

The national calendar is an input: a `NationalCalendar` lists the official holidays and
make-up working weekends (调休) of the years it covers. The workspace builds it from the
``chinese_calendar`` package (`caseflow.workspace.national_calendar`); tests build their
own. A workspace adds its own rest days (``extra_holidays``) and make-up working days
(``extra_workdays``); these override the national calendar for those dates, and a date
listed in both is a working day. A workspace may also *declare* years it lists in full,
which makes those years known even when the national table lacks them.

In a year that is neither covered nor declared, the provisional rule applies: Monday to
Friday are working days and weekends the only rest days. Any deadline that examined such a
day is returned with ``provisional=True`` so callers can flag it and recompute it once
the year's calendar is known (`WorkCalendar.coverage` says what a calendar knows, so a
stored deadline can remember what it was counted with). Nothing here raises because a
year lacks data.

Periods follow the administrative rule: the start day is not counted, and a period whose
last day is a rest day rolls forward to the next working day.

Implementation: for each year, a table of working-day flags and a sorted tuple of
working-day ordinals is built lazily, once, and cached; the national part is cached by
the national table itself and shared by every calendar built on it. Adding N working days
is then a couple of bisections, not a day-by-day walk.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, date, datetime, timedelta
from typing import Literal, get_args

__all__ = ["Deadline", "NationalCalendar", "Unit", "WorkCalendar"]

Unit = Literal["working_days", "days", "months"]
_UNITS: frozenset[str] = frozenset(get_args(Unit))


@dataclass(frozen=True)
class Deadline:
    """A computed due date.

    ``provisional`` is True when any day examined lies in a year without calendar data
    (neither covered by the national table nor declared by the workspace).
    """

    due_on: date
    provisional: bool


def _year_start(year: int) -> int:
    return date(year, 1, 1).toordinal()


def _year_length(year: int) -> int:
    return date(year, 12, 31).toordinal() - date(year, 1, 1).toordinal() + 1


@functools.cache
def _weekday_flags(year: int) -> bytes:
    """Provisional rule for ``year``: 1 for Monday-Friday, 0 for the weekend."""
    first = date(year, 1, 1).weekday()
    return bytes(1 if (first + i) % 7 < 5 else 0 for i in range(_year_length(year)))


@dataclass(frozen=True)
class NationalCalendar:
    """The national table: the years it covers, and in them the official rest days and the
    make-up working days (调休上班). Other days of a covered year follow the week.

    A day listed outside the covered years, or listed both as rest day and working day, is
    refused with ValueError: such a table contradicts itself.
    """

    years: frozenset[int] = frozenset()
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    _flags_cache: dict[int, bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        years = frozenset(operator.index(year) for year in self.years)
        holidays = frozenset(_as_date(day) for day in self.holidays)
        workdays = frozenset(_as_date(day) for day in self.workdays)
        outside = sorted(day for day in holidays | workdays if day.year not in years)
        if outside:
            raise ValueError(
                f"the national table lists {outside[0].isoformat()} but does not cover "
                f"{outside[0].year}; add the year to its years or drop the day"
            )
        both = sorted(holidays & workdays)
        if both:
            raise ValueError(
                f"the national table lists {both[0].isoformat()} both as a holiday and as "
                "a make-up working day"
            )
        object.__setattr__(self, "years", years)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "workdays", workdays)

    def __repr__(self) -> str:
        return (
            f"NationalCalendar(years={_year_ranges(self.years) or 'none'}, "
            f"holidays={len(self.holidays)} days, workdays={len(self.workdays)} days)"
        )

    def flags(self, year: int) -> bytes:
        """Working-day flags of a covered ``year``, one byte per day (1 = working day)."""
        flags = self._flags_cache.get(year)
        if flags is None:
            table = bytearray(_weekday_flags(year))
            offset = _year_start(year)
            for day in self.holidays:
                if day.year == year:
                    table[day.toordinal() - offset] = 0
            for day in self.workdays:
                if day.year == year:
                    table[day.toordinal() - offset] = 1
            flags = self._flags_cache[year] = bytes(table)
        return flags


def _year_ranges(years: Iterable[int]) -> str:
    """``2004-2026,2030``: sorted years with consecutive runs joined."""
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and runs[-1][1] == year - 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _as_date(value: date) -> date:
    # datetime is a subclass of date but neither equal nor hash-equal to its date.
    return value.date() if isinstance(value, datetime) else value


def _check_year(year: int) -> None:
    if not MINYEAR <= year <= MAXYEAR:
        raise OverflowError("date value out of range")


class WorkCalendar:
    """The national calendar plus a workspace's own rest days and make-up working days."""

    def __init__(
        self,
        national: NationalCalendar,
        *,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        declared_years: Iterable[int] = (),
        term_ends: Iterable[date] = (),
    ) -> None:
        self._national = national
        # The last days of the school terms (the school calendar), in order.
        self.term_ends: tuple[date, ...] = tuple(sorted({_as_date(d) for d in term_ends}))
        self._extra_holidays: frozenset[date] = frozenset(_as_date(d) for d in extra_holidays)
        self._extra_workdays: frozenset[date] = frozenset(_as_date(d) for d in extra_workdays)
        self._declared_years: frozenset[int] = frozenset(operator.index(y) for y in declared_years)
        by_year: dict[int, list[date]] = {}
        for day in self._extra_holidays | self._extra_workdays:
            by_year.setdefault(day.year, []).append(day)
        self._extras_by_year = by_year
        self._flags_cache: dict[int, bytes] = {}
        self._ordinals_cache: dict[int, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({self._national!r}, extra_holidays={len(self._extra_holidays)} days, "
            f"extra_workdays={len(self._extra_workdays)} days, "
            f"declared_years={sorted(self._declared_years)}, "
            f"term_ends={len(self.term_ends)} days)"
        )

    # -- years ---------------------------------------------------------------------

    def is_known_year(self, year: int) -> bool:
        """True when ``year`` has national data or is declared by the workspace."""
        return year in self._declared_years or year in self._national.years

    def known_years(self) -> tuple[int, ...]:
        """Sorted years that are known: national years plus declared years."""
        return tuple(sorted(self._national.years | self._declared_years))

    @functools.cached_property
    def coverage(self) -> str:
        """What this calendar knows, as a short text: the known years, then a digest of
        the days that break the weekly rule (rest days on weekdays, working weekends).
        Calendars with the same coverage count every deadline alike, wherever their days
        come from; a deadline stored with the coverage it was counted with can tell when
        counting it again may give another answer."""
        listed = (
            self._national.holidays
            | self._national.workdays
            | self._extra_holidays
            | self._extra_workdays
        )
        exceptions = sorted(
            day for day in listed if self.is_working_day(day) != (day.weekday() < 5)
        )
        years = _year_ranges(self.known_years())
        canonical = f"{years}|{','.join(day.isoformat() for day in exceptions)}"
        digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()[:12]
        return f"{years or 'none'} {digest}"

    # -- per-year tables -------------------------------------------------------------

    def _flags(self, year: int) -> bytes:
        flags = self._flags_cache.get(year)
        if flags is not None:
            return flags
        base = self._national.flags(year) if year in self._national.years else _weekday_flags(year)
        extras = self._extras_by_year.get(year)
        if extras:
            table = bytearray(base)
            offset = _year_start(year)
            for day in extras:
                # A date listed as both rest day and working day is a working day.
                table[day.toordinal() - offset] = 1 if day in self._extra_workdays else 0
            flags = bytes(table)
        else:
            flags = base
        self._flags_cache[year] = flags
        return flags

    def _ordinals(self, year: int) -> tuple[int, ...]:
        ordinals = self._ordinals_cache.get(year)
        if ordinals is None:
            offset = _year_start(year)
            ordinals = tuple(offset + i for i, flag in enumerate(self._flags(year)) if flag)
            self._ordinals_cache[year] = ordinals
        return ordinals

    # -- queries ---------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (provisional rule in an unknown year)."""
        day = _as_date(day)
        return bool(self._flags(day.year)[day.toordinal() - _year_start(day.year)])

    def _nth_working_day(self, first: date, n: int) -> Deadline:
        """The n-th working day on or after ``first`` (n >= 1), examining days from ``first``."""
        ordinal = first.toordinal()
        year = first.year
        provisional = False
        while True:
            _check_year(year)
            if not self.is_known_year(year):
                provisional = True
            ordinals = self._ordinals(year)
            index = bisect_left(ordinals, ordinal)
            available = len(ordinals) - index
            if n <= available:
                return Deadline(date.fromordinal(ordinals[index + n - 1]), provisional)
            n -= available
            year += 1
            # Start of the next year; only reachable when the current year is exhausted.
            ordinal = 0

    def add(self, start: date, amount: int, unit: Unit) -> Deadline:
        """The deadline ``amount`` units after ``start`` (the start day is not counted).

        ``"working_days"``: the amount-th working day after ``start``.
        ``"days"``: ``start`` + amount calendar days, rolled forward to a working day.
        ``"months"``: the same day ``amount`` months later (the month's last day when it
        has no such day), rolled forward to a working day.
        With amount 0 either unit gives ``start`` rolled forward to a working day.
        Raises ValueError for a negative amount or an unknown unit.
        """
        start = _as_date(start)
        amount = operator.index(amount)
        if amount < 0:
            raise ValueError(f"a period cannot be negative: {amount} {unit}")
        if unit not in _UNITS:
            raise ValueError(f"unknown period unit {unit!r}; expected one of {sorted(_UNITS)}")
        if unit == "working_days" and amount > 0:
            if start == date.max:
                raise OverflowError("date value out of range")
            return self._nth_working_day(start + timedelta(days=1), amount)
        if unit == "months":
            target = add_months(start, amount)
        else:
            target = start + timedelta(days=amount) if unit == "days" else start
        return self._nth_working_day(target, 1)

    def term_end_on_or_after(self, day: date) -> date | None:
        """The end of the school term in which ``day`` falls (the first term end on or
        after it); None when the school calendar lists no such term end."""
        index = bisect_left(self.term_ends, _as_date(day))
        return self.term_ends[index] if index < len(self.term_ends) else None

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days d with start < d <= end (0 if end <= start)."""
        start = _as_date(start)
        end = _as_date(end)
        if end <= start:
            return 0
        low = start.toordinal()
        high = end.toordinal()
        total = 0
        for year in range(start.year, end.year + 1):
            ordinals = self._ordinals(year)
            total += bisect_right(ordinals, high) - bisect_right(ordinals, low)
        return total


def add_months(start: date, months: int) -> date:
    """The day ``months`` months after ``start``: the same day of the month, or the last
    day of a month that has no such day (31 August + 6 months = 28/29 February)."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(start.day, calendar.monthrange(year, month + 1)[1]))
