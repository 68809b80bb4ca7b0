"""Working days and deadlines: the national table, workspace days, provisional years.

Most tests count with NATIONAL: the installed chinese-calendar's table cut after 2026 (the
years of chinese-calendar 1.11), so a release with 2027 data changes nothing here. Other
tables are written by hand: a year with make-up weekends, and no national data at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow.calendar import Deadline, NationalCalendar, WorkCalendar
from tests.conftest import CALENDAR, INSTALLED_NATIONAL, NATIONAL

D = date.fromisoformat
ONE_DAY = timedelta(days=1)
NATIONAL_YEARS = range(2004, 2027)

# -- an independent, deliberately naive oracle ----------------------------------------


def naive_is_working(
    day: date, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()
) -> bool:
    """The package's own answer in 2004-2026, weekends only in any other year."""
    if day in set(extra_workdays):
        return True
    if day in set(extra_holidays):
        return False
    if day.year in NATIONAL_YEARS:
        return bool(chinese_calendar.is_workday(day))
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
    return any(not (d.year in NATIONAL_YEARS or d.year in declared_years) for d in examined)


CAL = CALENDAR

# -- the installed package, read once at the edge --------------------------------------


def test_the_installed_chinese_calendar_gives_a_table_that_agrees_with_it_day_by_day() -> None:
    years = sorted(INSTALLED_NATIONAL.years)
    assert set(NATIONAL_YEARS) <= set(years)
    assert years == list(range(years[0], years[-1] + 1))
    installed = WorkCalendar(INSTALLED_NATIONAL)
    day = date(years[0], 1, 1)
    while day.year <= years[-1]:
        assert installed.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += ONE_DAY
    with pytest.raises(NotImplementedError):  # and the year after is unknown to both
        chinese_calendar.is_workday(date(years[-1] + 1, 1, 1))
    assert not installed.is_known_year(years[-1] + 1)


# -- known facts of the national calendar ---------------------------------------------


def test_the_test_table_covers_2004_to_2026_and_nothing_else() -> None:
    assert CAL.known_years() == tuple(NATIONAL_YEARS)
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
        NATIONAL,
        declared_years=[2027],
        extra_holidays=[D("2027-01-01")],
    )
    assert cal.is_known_year(2027)
    assert cal.known_years() == (*range(2004, 2027), 2027)
    assert not cal.is_working_day(D("2027-01-01"))
    due = cal.add(D("2026-12-25"), 10, "working_days")
    assert due == Deadline(D("2027-01-11"), False)


def test_a_declared_year_without_extra_days_rests_on_weekends_only() -> None:
    cal = WorkCalendar(NATIONAL, declared_years=[2030])
    assert cal.add(D("2030-01-04"), 1, "working_days") == Deadline(D("2030-01-07"), False)


def test_extra_workdays_turn_a_weekend_into_a_working_day() -> None:
    saturday = D("2026-03-07")
    cal = WorkCalendar(NATIONAL, extra_workdays=[saturday])
    assert not CAL.is_working_day(saturday)
    assert cal.is_working_day(saturday)
    assert cal.add(D("2026-03-06"), 1, "working_days") == Deadline(saturday, False)
    assert cal.add(D("2026-02-21"), 14, "days").due_on == saturday


def test_extra_workdays_also_apply_in_a_provisional_year() -> None:
    saturday = D("2027-03-06")
    cal = WorkCalendar(NATIONAL, extra_workdays=[saturday])
    assert cal.add(D("2027-03-05"), 1, "working_days") == Deadline(saturday, True)


def test_extra_holidays_add_local_rest_days_to_the_national_calendar() -> None:
    local = D("2026-03-09")  # a Monday, e.g. an autonomous county's own holiday
    cal = WorkCalendar(NATIONAL, extra_holidays=[local])
    assert not cal.is_working_day(local)
    assert cal.add(D("2026-03-06"), 1, "working_days").due_on == D("2026-03-10")
    assert cal.working_days_between(D("2026-03-06"), D("2026-03-10")) == 1


def test_extra_holidays_override_a_national_make_up_working_day() -> None:
    cal = WorkCalendar(NATIONAL, extra_holidays=[D("2026-10-10")])
    assert not cal.is_working_day(D("2026-10-10"))
    assert cal.add(D("2026-10-09"), 1, "working_days").due_on == D("2026-10-12")


def test_extra_workdays_override_a_national_holiday() -> None:
    cal = WorkCalendar(NATIONAL, extra_workdays=[D("2026-10-05")])
    assert cal.add(D("2026-09-30"), 1, "working_days").due_on == D("2026-10-05")


def test_a_day_listed_both_as_extra_holiday_and_extra_workday_is_a_working_day() -> None:
    day = D("2026-03-09")
    cal = WorkCalendar(NATIONAL, extra_holidays=[day], extra_workdays=[day])
    assert cal.is_working_day(day)


def test_workspace_days_do_not_leak_between_calendars() -> None:
    WorkCalendar(NATIONAL, extra_holidays=[D("2026-03-09")]).is_working_day(D("2026-03-09"))
    assert CAL.is_working_day(D("2026-03-09"))
    assert WorkCalendar(NATIONAL).is_working_day(D("2026-03-09"))


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
        NATIONAL,
        extra_holidays=extra_holidays,
        extra_workdays=extra_workdays,
        declared_years=declared,
    )
    expected, examined = naive_add_working_days(start, n, extra_holidays, extra_workdays)
    deadline = cal.add(start, n, "working_days")
    assert deadline == Deadline(expected, naive_provisional(examined, declared))
    if n >= 1:
        assert cal.working_days_between(start, deadline.due_on) == n


# -- national tables written by hand ----------------------------------------------------

# 2031 as a State Council notice might have it: National Day 1-7 October (Wednesday to
# Tuesday), worked back on Sunday 28 September and Saturday 11 October. 2032 is not covered.
GOLDEN_WEEK_2031 = frozenset(D("2031-10-01") + timedelta(days=i) for i in range(7))
TABLE_2031 = NationalCalendar(
    years=frozenset({2031}),
    holidays=GOLDEN_WEEK_2031,
    workdays=frozenset({D("2031-09-28"), D("2031-10-11")}),
)


def test_a_hand_written_year_rests_on_its_holidays_and_works_its_make_up_weekends() -> None:
    cal = WorkCalendar(TABLE_2031)
    assert cal.known_years() == (2031,)
    assert D("2031-09-28").weekday() == 6 and cal.is_working_day(D("2031-09-28"))
    assert D("2031-10-11").weekday() == 5 and cal.is_working_day(D("2031-10-11"))
    assert not any(cal.is_working_day(day) for day in GOLDEN_WEEK_2031)
    assert not cal.is_working_day(D("2031-10-12"))  # an ordinary Sunday
    # Friday 26 September + 1 working day is the make-up Sunday, + 2 is Monday 29th.
    assert cal.add(D("2031-09-26"), 1, "working_days") == Deadline(D("2031-09-28"), False)
    assert cal.add(D("2031-09-30"), 1, "working_days") == Deadline(D("2031-10-08"), False)
    assert cal.add(D("2031-10-09"), 2, "working_days") == Deadline(D("2031-10-11"), False)
    assert cal.add(D("2031-10-09"), 3, "working_days") == Deadline(D("2031-10-13"), False)
    assert cal.working_days_between(D("2031-09-26"), D("2031-10-12")) == 7


def test_a_deadline_leaving_the_hand_written_year_is_provisional() -> None:
    cal = WorkCalendar(TABLE_2031)
    assert cal.add(D("2031-12-30"), 1, "working_days") == Deadline(D("2031-12-31"), False)
    # 1 January 2032 is a Thursday: counted as a working day, flagged provisional.
    assert cal.add(D("2031-12-31"), 1, "working_days") == Deadline(D("2032-01-01"), True)
    # The start day is not counted: starting on the last day of 2030 examines only 2031.
    assert cal.add(D("2030-12-31"), 1, "working_days") == Deadline(D("2031-01-01"), False)
    assert cal.add(D("2030-12-30"), 2, "working_days") == Deadline(D("2031-01-01"), True)


def test_without_any_national_data_every_deadline_is_provisional_until_declared() -> None:
    bare = WorkCalendar(NationalCalendar())
    assert bare.known_years() == ()
    assert bare.is_working_day(D("2026-10-01"))  # National Day, unknown without data
    assert bare.add(D("2026-09-30"), 1, "working_days") == Deadline(D("2026-10-01"), True)
    declared = WorkCalendar(
        NationalCalendar(), extra_holidays=GOLDEN_WEEK_2031, declared_years=[2031]
    )
    assert declared.add(D("2031-09-30"), 1, "working_days") == Deadline(D("2031-10-08"), False)


def test_a_national_table_listing_a_day_of_a_year_it_does_not_cover_is_refused() -> None:
    with pytest.raises(ValueError, match="lists 2032-01-01 but does not cover 2032"):
        NationalCalendar(years=frozenset({2031}), holidays=frozenset({D("2032-01-01")}))
    with pytest.raises(ValueError, match="2031-10-01 both as a holiday and as a make-up"):
        NationalCalendar(
            years=frozenset({2031}),
            holidays=frozenset({D("2031-10-01")}),
            workdays=frozenset({D("2031-10-01")}),
        )


# -- coverage: what a deadline was counted with -------------------------------------------


def test_calendars_built_alike_have_the_same_coverage_and_it_names_the_years() -> None:
    assert WorkCalendar(NATIONAL).coverage == CAL.coverage
    assert CAL.coverage.startswith("2004-2026 ")
    declared = WorkCalendar(NATIONAL, declared_years=[2030])
    assert declared.coverage.startswith("2004-2026,2030 ")
    assert WorkCalendar(NationalCalendar()).coverage.startswith("none ")


def test_coverage_changes_with_every_year_or_day_a_calendar_learns() -> None:
    national_2027 = NationalCalendar(
        years=NATIONAL.years | {2027},
        holidays=NATIONAL.holidays | {D("2027-01-01")},
        workdays=NATIONAL.workdays,
    )
    without_national_day = NationalCalendar(
        years=NATIONAL.years,
        holidays=NATIONAL.holidays - {D("2026-10-01")},
        workdays=NATIONAL.workdays,
    )
    coverages = [
        CAL.coverage,
        WorkCalendar(NATIONAL, declared_years=[2027]).coverage,
        WorkCalendar(NATIONAL, extra_holidays=[D("2027-01-01")]).coverage,
        WorkCalendar(NATIONAL, extra_workdays=[D("2027-01-02")]).coverage,
        WorkCalendar(national_2027).coverage,
        WorkCalendar(without_national_day).coverage,
    ]
    assert len(set(coverages)) == len(coverages)


def test_the_same_days_known_from_the_package_or_the_workspace_count_alike() -> None:
    national_2027 = NationalCalendar(
        years=NATIONAL.years | {2027},
        holidays=NATIONAL.holidays | {D("2027-01-01")},
        workdays=NATIONAL.workdays,
    )
    declared = WorkCalendar(NATIONAL, declared_years=[2027], extra_holidays=[D("2027-01-01")])
    assert WorkCalendar(national_2027).coverage == declared.coverage
    assert declared.coverage.startswith("2004-2027 ")
    # Listing a day that rests anyway (a Sunday) changes nothing either.
    assert WorkCalendar(NATIONAL, extra_holidays=[D("2026-03-08")]).coverage == CAL.coverage


# -- properties over national tables -------------------------------------------------------

table_years = st.frozensets(st.integers(min_value=2030, max_value=2032), max_size=3)
table_days = st.dates(min_value=date(2030, 1, 1), max_value=date(2032, 12, 31))


@st.composite
def national_tables(draw: st.DrawFn) -> NationalCalendar:
    years = draw(table_years)
    listed = draw(st.frozensets(table_days.filter(lambda d: d.year in years), max_size=40))
    workdays = draw(st.frozensets(st.sampled_from(sorted(listed)))) if listed else frozenset()
    return NationalCalendar(years=years, holidays=listed - workdays, workdays=workdays)


def table_is_working(table: NationalCalendar, day: date) -> bool:
    if day.year not in table.years:
        return day.weekday() < 5
    return day in table.workdays or (day.weekday() < 5 and day not in table.holidays)


@settings(max_examples=200)
@given(
    table=national_tables(),
    start=st.dates(min_value=date(2029, 12, 1), max_value=date(2032, 11, 30)),
    n=amounts,
)
def test_any_national_table_counts_like_a_day_by_day_walk_over_it(
    table: NationalCalendar, start: date, n: int
) -> None:
    day, counted, examined = start, 0, []
    while counted < n:
        day += ONE_DAY
        examined.append(day)
        counted += table_is_working(table, day)
    if n == 0:
        examined.append(day)
        while not table_is_working(table, day):
            day += ONE_DAY
            examined.append(day)
    provisional = any(d.year not in table.years for d in examined)
    assert WorkCalendar(table).add(start, n, "working_days") == Deadline(day, provisional)
