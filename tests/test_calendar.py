"""Working days and deadlines: national calendar, workspace days, provisional years."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow.calendar import Deadline, WorkCalendar

D = date.fromisoformat
ONE_DAY = timedelta(days=1)

# -- an independent, deliberately naive oracle ----------------------------------------


def _national_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def naive_is_working(
    day: date, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()
) -> bool:
    if day in set(extra_workdays):
        return True
    if day in set(extra_holidays):
        return False
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def naive_add_working_days(
    start: date,
    n: int,
    extra_holidays: Iterable[date] = (),
    extra_workdays: Iterable[date] = (),
) -> tuple[date, list[date]]:
    """Walk day by day; return the due date and every day looked at."""
    examined: list[date] = []
    day = start
    if n == 0:
        examined.append(day)
        while not naive_is_working(day, extra_holidays, extra_workdays):
            day += ONE_DAY
            examined.append(day)
        return day, examined
    counted = 0
    while counted < n:
        day += ONE_DAY
        examined.append(day)
        if naive_is_working(day, extra_holidays, extra_workdays):
            counted += 1
    return day, examined


def naive_add_days(start: date, n: int) -> tuple[date, list[date]]:
    day = start + timedelta(days=n)
    examined = [day]
    while not naive_is_working(day):
        day += ONE_DAY
        examined.append(day)
    return day, examined


def naive_provisional(examined: Iterable[date], declared: Iterable[int] = ()) -> bool:
    declared_years = set(declared)
    return any(not (_national_year(d.year) or d.year in declared_years) for d in examined)


CAL = WorkCalendar()

# -- known facts of the national calendar ---------------------------------------------


def test_the_national_calendar_covers_2004_to_2026_and_nothing_else() -> None:
    assert CAL.known_years() == tuple(range(2004, 2027))
    assert CAL.is_known_year(2004)
    assert CAL.is_known_year(2026)
    assert not CAL.is_known_year(2003)
    assert not CAL.is_known_year(2027)


def test_national_day_2026_is_seven_rest_days() -> None:
    golden_week = [D("2026-10-01") + timedelta(days=i) for i in range(7)]
    for day in golden_week:
        assert not chinese_calendar.is_workday(day)  # the package agrees
        assert not CAL.is_working_day(day)
    assert CAL.is_working_day(D("2026-09-30"))
    assert CAL.is_working_day(D("2026-10-08"))


def test_one_working_day_after_the_eve_of_national_day_is_october_8() -> None:
    assert CAL.add(D("2026-09-30"), 1, "working_days") == Deadline(D("2026-10-08"), False)


def test_a_make_up_working_weekend_in_2026_counts_as_a_working_day() -> None:
    # 2026-10-10 is a Saturday worked in exchange for the National Day holiday,
    # and 2026-09-20 is a Sunday worked likewise.
    for day in (D("2026-10-10"), D("2026-09-20")):
        assert day.weekday() >= 5
        assert day in chinese_calendar.workdays
        assert CAL.is_working_day(day)
    # Friday 10-09 + 1 working day lands on the make-up Saturday, not on Monday.
    assert CAL.add(D("2026-10-09"), 1, "working_days").due_on == D("2026-10-10")


def test_spring_festival_2026_is_skipped_and_its_make_up_saturdays_count() -> None:
    for offset in range(9):  # 2026-02-15 .. 2026-02-23
        day = D("2026-02-15") + timedelta(days=offset)
        assert not chinese_calendar.is_workday(day)
        assert not CAL.is_working_day(day)
    assert CAL.is_working_day(D("2026-02-14"))  # Saturday, make-up day
    assert CAL.is_working_day(D("2026-02-28"))  # Saturday, make-up day
    friday = D("2026-02-13")
    assert CAL.add(friday, 1, "working_days").due_on == D("2026-02-14")
    assert CAL.add(friday, 2, "working_days").due_on == D("2026-02-24")


# -- counting rules -------------------------------------------------------------------


def test_the_start_day_is_not_counted_friday_plus_one_working_day_is_monday() -> None:
    friday = D("2026-03-06")
    assert friday.weekday() == 4
    assert CAL.add(friday, 1, "working_days") == Deadline(D("2026-03-09"), False)


def test_zero_working_days_on_a_working_day_is_that_day() -> None:
    assert CAL.add(D("2026-03-04"), 0, "working_days").due_on == D("2026-03-04")


def test_zero_working_days_on_a_rest_day_rolls_to_the_next_working_day() -> None:
    assert CAL.add(D("2026-10-03"), 0, "working_days").due_on == D("2026-10-08")
    assert CAL.add(D("2026-10-03"), 0, "days").due_on == D("2026-10-08")


def test_a_calendar_day_period_ending_on_a_sunday_rolls_to_monday() -> None:
    start = D("2026-03-14")  # Saturday
    due = CAL.add(start, 15, "days")
    assert (start + timedelta(days=15)).weekday() == 6  # 2026-03-29 is a Sunday
    assert due == Deadline(D("2026-03-30"), False)


def test_a_calendar_day_period_ending_on_a_working_day_is_not_moved() -> None:
    assert CAL.add(D("2026-03-02"), 10, "days").due_on == D("2026-03-12")


def test_a_calendar_day_period_ending_in_national_day_rolls_past_the_holiday() -> None:
    assert CAL.add(D("2026-09-01"), 30, "days").due_on == D("2026-10-08")


def test_working_days_between_counts_days_after_start_up_to_and_including_end() -> None:
    assert CAL.working_days_between(D("2026-03-06"), D("2026-03-09")) == 1
    assert CAL.working_days_between(D("2026-09-30"), D("2026-10-10")) == 3  # 10-08, 09, 10
    assert CAL.working_days_between(D("2026-03-09"), D("2026-03-09")) == 0
    assert CAL.working_days_between(D("2026-03-09"), D("2026-03-06")) == 0


def test_a_negative_period_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add(D("2026-03-06"), -1, "working_days")
    with pytest.raises(ValueError, match="negative"):
        CAL.add(D("2026-03-06"), -1, "days")


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unit"):
        CAL.add(D("2026-03-06"), 1, "weeks")  # type: ignore[arg-type]


def test_a_deadline_cannot_be_changed_after_it_is_computed() -> None:
    deadline = CAL.add(D("2026-03-06"), 1, "working_days")
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.due_on = D("2026-03-10")  # type: ignore[misc]


def test_a_datetime_is_treated_as_its_date() -> None:
    assert CAL.add(datetime(2026, 3, 6, 17, 30), 1, "working_days").due_on == D("2026-03-09")
    assert not CAL.is_working_day(datetime(2026, 10, 1, 9, 0))


# -- years without national data -------------------------------------------------------


def test_a_deadline_crossing_into_2027_is_provisional_and_uses_weekends_only() -> None:
    # 2026-12-28..31 are 4 working days; in 2027 only weekends rest, so New Year's Day
    # (Friday 2027-01-01) is counted as a working day: the 10th is Friday 2027-01-08.
    due = CAL.add(D("2026-12-25"), 10, "working_days")
    assert due == Deadline(D("2027-01-08"), True)
    assert CAL.is_working_day(D("2027-01-01"))
    assert not CAL.is_working_day(D("2027-01-02"))


def test_a_deadline_inside_2026_is_not_provisional_even_near_the_year_end() -> None:
    assert CAL.add(D("2026-12-25"), 4, "working_days") == Deadline(D("2026-12-31"), False)


def test_a_deadline_starting_on_the_last_day_of_2026_is_provisional() -> None:
    # The start day is not counted; the first day examined is 2027-01-01.
    assert CAL.add(D("2026-12-31"), 1, "working_days") == Deadline(D("2027-01-01"), True)


def test_a_deadline_before_2004_is_provisional() -> None:
    assert CAL.add(D("2003-06-02"), 3, "working_days") == Deadline(D("2003-06-05"), True)


def test_a_declared_year_with_extra_holidays_is_not_provisional_and_honours_them() -> None:
    cal = WorkCalendar(
        declared_years=[2027],
        extra_holidays=[D("2027-01-01")],
    )
    assert cal.is_known_year(2027)
    assert cal.known_years() == (*range(2004, 2027), 2027)
    assert not cal.is_working_day(D("2027-01-01"))
    due = cal.add(D("2026-12-25"), 10, "working_days")
    assert due == Deadline(D("2027-01-11"), False)


def test_a_declared_year_without_extra_days_rests_on_weekends_only() -> None:
    cal = WorkCalendar(declared_years=[2030])
    assert cal.add(D("2030-01-04"), 1, "working_days") == Deadline(D("2030-01-07"), False)


def test_extra_workdays_turn_a_weekend_into_a_working_day() -> None:
    saturday = D("2026-03-07")
    cal = WorkCalendar(extra_workdays=[saturday])
    assert not CAL.is_working_day(saturday)
    assert cal.is_working_day(saturday)
    assert cal.add(D("2026-03-06"), 1, "working_days") == Deadline(saturday, False)
    assert cal.add(D("2026-02-21"), 14, "days").due_on == saturday


def test_extra_workdays_also_apply_in_a_provisional_year() -> None:
    saturday = D("2027-03-06")
    cal = WorkCalendar(extra_workdays=[saturday])
    assert cal.add(D("2027-03-05"), 1, "working_days") == Deadline(saturday, True)


def test_extra_holidays_add_local_rest_days_to_the_national_calendar() -> None:
    local = D("2026-03-09")  # a Monday, e.g. an autonomous county's own holiday
    cal = WorkCalendar(extra_holidays=[local])
    assert not cal.is_working_day(local)
    assert cal.add(D("2026-03-06"), 1, "working_days").due_on == D("2026-03-10")
    assert cal.working_days_between(D("2026-03-06"), D("2026-03-10")) == 1


def test_extra_holidays_override_a_national_make_up_working_day() -> None:
    cal = WorkCalendar(extra_holidays=[D("2026-10-10")])
    assert not cal.is_working_day(D("2026-10-10"))
    assert cal.add(D("2026-10-09"), 1, "working_days").due_on == D("2026-10-12")


def test_extra_workdays_override_a_national_holiday() -> None:
    cal = WorkCalendar(extra_workdays=[D("2026-10-05")])
    assert cal.add(D("2026-09-30"), 1, "working_days").due_on == D("2026-10-05")


def test_a_day_listed_both_as_extra_holiday_and_extra_workday_is_a_working_day() -> None:
    day = D("2026-03-09")
    cal = WorkCalendar(extra_holidays=[day], extra_workdays=[day])
    assert cal.is_working_day(day)


def test_workspace_days_do_not_leak_between_calendars() -> None:
    WorkCalendar(extra_holidays=[D("2026-03-09")]).is_working_day(D("2026-03-09"))
    assert CAL.is_working_day(D("2026-03-09"))
    assert WorkCalendar().is_working_day(D("2026-03-09"))


# -- properties -----------------------------------------------------------------------

dates = st.dates(min_value=date(2004, 1, 1), max_value=date(2028, 12, 31))
amounts = st.integers(min_value=0, max_value=60)


@given(dates, amounts)
def test_adding_working_days_always_lands_on_a_working_day(start: date, n: int) -> None:
    due = CAL.add(start, n, "working_days").due_on
    assert CAL.is_working_day(due)
    assert naive_is_working(due)


@given(dates, amounts)
def test_adding_more_working_days_never_gives_an_earlier_deadline(start: date, n: int) -> None:
    this = CAL.add(start, n, "working_days").due_on
    following = CAL.add(start, n + 1, "working_days").due_on
    if n >= 1:
        assert following > this
    else:
        assert following >= this
    assert this >= start


@given(dates, amounts)
def test_working_day_deadlines_match_a_day_by_day_count(start: date, n: int) -> None:
    expected, examined = naive_add_working_days(start, n)
    assert CAL.add(start, n, "working_days") == Deadline(expected, naive_provisional(examined))


@given(dates, amounts)
def test_calendar_day_deadlines_match_a_day_by_day_count(start: date, n: int) -> None:
    expected, examined = naive_add_days(start, n)
    assert CAL.add(start, n, "days") == Deadline(expected, naive_provisional(examined))


@given(dates, st.integers(min_value=1, max_value=60))
def test_days_overdue_counts_back_to_the_same_number_of_working_days(start: date, n: int) -> None:
    due = CAL.add(start, n, "working_days").due_on
    assert CAL.working_days_between(start, due) == n


@given(dates, dates)
def test_working_days_between_matches_a_day_by_day_count(start: date, end: date) -> None:
    if end - start > timedelta(days=400):
        end = start + timedelta(days=400)
    expected = 0
    day = start + ONE_DAY
    while day <= end:
        expected += naive_is_working(day)
        day += ONE_DAY
    assert CAL.working_days_between(start, end) == expected


@given(dates)
def test_is_working_day_agrees_with_the_national_calendar_or_weekends(day: date) -> None:
    assert CAL.is_working_day(day) == naive_is_working(day)


window = st.dates(min_value=date(2026, 9, 1), max_value=date(2027, 3, 31))


@settings(max_examples=200)
@given(
    start=st.dates(min_value=date(2026, 9, 1), max_value=date(2027, 2, 28)),
    n=amounts,
    extra_holidays=st.sets(window, max_size=30),
    extra_workdays=st.sets(window, max_size=30),
    declare_2027=st.booleans(),
)
def test_workspace_days_match_a_day_by_day_count(
    start: date,
    n: int,
    extra_holidays: set[date],
    extra_workdays: set[date],
    declare_2027: bool,
) -> None:
    declared = [2027] if declare_2027 else []
    cal = WorkCalendar(
        extra_holidays=extra_holidays, extra_workdays=extra_workdays, declared_years=declared
    )
    expected, examined = naive_add_working_days(start, n, extra_holidays, extra_workdays)
    deadline = cal.add(start, n, "working_days")
    assert deadline == Deadline(expected, naive_provisional(examined, declared))
    if n >= 1:
        assert cal.working_days_between(start, deadline.due_on) == n
