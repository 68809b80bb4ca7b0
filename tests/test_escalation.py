"""Escalation ladders, decided without a database."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from caseflow.calendar import WorkCalendar
from caseflow.escalation import (
    LadderPosition,
    Scope,
    due_work,
    next_action_on,
    recipient_keys,
    recipient_label,
)
from caseflow.resources import shipped
from caseflow.states import load_workflow
from tests.conftest import NATIONAL

WORKFLOW = load_workflow(shipped("workflows") / "dropout.yaml")
CALENDAR = WorkCalendar(NATIONAL)
DUE = date(2026, 11, 2)  # a Monday
SCOPE = Scope("天堂镇", "天堂村", "天堂小学", ())


def position(state: str = "persuasion", next_rung: int = 0, **counters: int) -> LadderPosition:
    return LadderPosition(state, DUE, next_rung, counters)


def test_nothing_fires_before_the_due_date() -> None:
    work = due_work(WORKFLOW, position(), date(2026, 11, 1), CALENDAR)
    assert work.rungs == () and work.auto is None
    assert work.next_action_on == DUE


def test_the_first_rung_fires_on_the_due_date_itself() -> None:
    work = due_work(WORKFLOW, position(), DUE, CALENDAR)
    assert [r.rung.index for r in work.rungs] == [0]
    assert work.rungs[0].days_overdue == 0
    assert work.next_rung == 1
    assert work.next_action_on == date(2026, 11, 5)  # +3 working days


def test_after_an_outage_every_missed_rung_fires_once_oldest_first() -> None:
    as_of = date(2026, 11, 27)
    work = due_work(WORKFLOW, position(), as_of, CALENDAR)
    assert [r.rung.index for r in work.rungs] == [0, 1, 2]
    assert [r.rung_on for r in work.rungs] == sorted(r.rung_on for r in work.rungs)
    assert all(r.days_overdue == 25 for r in work.rungs)
    assert work.next_rung == 3 and work.next_action_on is None
    again = due_work(WORKFLOW, position(next_rung=3), as_of, CALENDAR)
    assert again.rungs == ()


def test_a_retention_due_without_enough_check_ins_escalates_instead() -> None:
    short = due_work(WORKFLOW, position("returned", check_in=2), DUE, CALENDAR)
    assert short.auto is None and [r.rung.index for r in short.rungs] == [0]
    done = due_work(WORKFLOW, position("returned", check_in=3), DUE, CALENDAR)
    assert done.auto is not None and done.auto.trigger == "retain" and done.rungs == ()


def test_whether_retention_is_ready_follows_the_check_ins_however_often_it_is_asked() -> None:
    for check_ins in (3, 2, 3, 0, 4, 2):
        work = due_work(WORKFLOW, position("returned", check_in=check_ins), DUE, CALENDAR)
        assert (work.auto is not None) == (check_ins >= 3), check_ins


def test_an_expired_deferral_returns_to_verification_automatically() -> None:
    work = due_work(WORKFLOW, position("deferred"), date(2026, 12, 1), CALENDAR)
    assert work.auto is not None and work.auto.dest == "verifying"
    assert next_action_on(WORKFLOW, position("deferred"), CALENDAR) == DUE


def test_recipients_are_addressed_by_role_and_place() -> None:
    assert recipient_keys("township_head", "township", SCOPE) == ["township_head:天堂镇"]
    assert recipient_keys("head_teacher", "school", SCOPE) == ["head_teacher:天堂小学"]
    assert recipient_keys("responsible_unit", "township", SCOPE) == ["township:天堂镇"]
    handed = Scope("天堂镇", "天堂村", None, ("civil_affairs", "womens_federation"))
    assert recipient_keys("department", "department", handed) == [
        "department:civil_affairs",
        "department:womens_federation",
    ]
    assert recipient_keys("head_teacher", "school", handed) == ["township:天堂镇"]
    assert recipient_keys("supervision_office", None, SCOPE) == ["supervision_office"]


def test_recipient_names_are_formal_chinese() -> None:
    named = WORKFLOW.departments
    assert recipient_label("township:天堂镇", departments=named) == "天堂镇人民政府"
    assert recipient_label("township_head:天堂镇", departments=named) == "天堂镇镇长"
    assert recipient_label("township_head:合水乡", departments=named) == "合水乡乡长"
    assert recipient_label("township_head:峨岭街道", departments=named) == "峨岭街道办事处主任"
    assert recipient_label("township:峨岭街道", departments=named) == "峨岭街道办事处"
    assert recipient_label("village:天堂镇/天堂村", departments=named) == "天堂村村民委员会"
    assert recipient_label("department:health", departments=named) == "县卫生健康局"
    assert recipient_label("supervision_office", departments=named) == "县人民政府教育督导室"
    renamed = {"health": "县卫生健康委员会"}
    assert recipient_label("department:health", departments=renamed) == "县卫生健康委员会"


@given(
    due=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
    first=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 3, 31)),
    gap=st.integers(min_value=0, max_value=60),
)
def test_sweeping_in_steps_fires_the_same_rungs_as_one_late_sweep(
    due: date, first: date, gap: int
) -> None:
    """Whether the machine was on every day or off for weeks, each rung fires exactly once."""
    from datetime import timedelta

    start = LadderPosition("persuasion", due, 0, {})
    late = first + timedelta(days=gap)
    once = due_work(WORKFLOW, start, late, CALENDAR)
    step = due_work(WORKFLOW, start, min(first, late), CALENDAR)
    resumed = due_work(
        WORKFLOW, LadderPosition("persuasion", due, step.next_rung, {}), late, CALENDAR
    )
    fired_in_steps = [r.rung.index for r in step.rungs + resumed.rungs]
    assert fired_in_steps == [r.rung.index for r in once.rungs]
    assert resumed.next_rung == once.next_rung
    assert resumed.next_action_on == once.next_action_on
