"""The pure core: decisions about one event on one case, no database."""

from __future__ import annotations

from datetime import date, timedelta
from types import MappingProxyType

import pytest

from caseflow import i18n
from caseflow.access import Jurisdiction
from caseflow.calendar import WorkCalendar
from caseflow.engine import Actor, CaseSnapshot, Event, available, decide, opening
from caseflow.errors import AccessDenied, InvalidInput, TransitionRefused
from caseflow.resources import shipped
from caseflow.states import Workflow, load_workflow, load_workflow_text
from tests.conftest import NATIONAL

WORKFLOW = load_workflow(shipped("workflows") / "dropout.yaml")
CALENDAR = WorkCalendar(NATIONAL)
TODAY = date(2026, 11, 29)
BUREAU = Actor("chen", "chen", frozenset({"bureau"}))
SCHOOL = Actor("li", "li", frozenset({"school"}))
SUPERVISOR = Actor("wang", "wang", frozenset({"supervisor"}))
HEALTH = Actor("zhao", "zhao", frozenset({"department"}), Jurisdiction("department", "health"))
DISABILITY = Actor(
    "sun", "sun", frozenset({"department"}), Jurisdiction("department", "disability_federation")
)

# A workflow whose penalty may be proposed only once the order's period has run out.
ORDER_WORKFLOW = load_workflow_text(
    """
name: order
version: 1
label: 责令改正
states:
  persuasion:
    label: 劝返中
    kind: initial
    category: persuasion
    responsible: township
    deadline: {amount: 15, unit: days, basis: 劝返期限}
  ordered:
    label: 责令限期改正
    kind: waiting
    category: legal
    responsible: township
    deadline: {amount: 15, unit: days, basis: 改正期限}
  penalty: {label: 行政处罚, kind: terminal, category: closed}
  returned: {label: 已复学, kind: terminal, category: retained}
transitions:
  - {trigger: issue_order, label: 下达责令通知书, from: [persuasion], to: ordered,
     roles: [bureau]}
  - {trigger: propose_penalty, label: 启动行政处罚, from: [ordered], to: penalty,
     roles: [bureau], guard: deadline_passed}
  - {trigger: return_to_school, label: 复学, from: [persuasion, ordered], to: returned,
     roles: [bureau]}
""",
    "order.yaml",
)


def case(state: str, *, entered: date = date(2026, 11, 2), **extra: object) -> CaseSnapshot:
    values: dict[str, object] = {
        "number": 7,
        "state": state,
        "entered_on": entered,
        "due_on": date(2026, 11, 20),
        "version": 3,
        "last_event_on": entered,
    }
    values.update(extra)
    return CaseSnapshot(**values)  # type: ignore[arg-type]


def fire(
    snapshot: CaseSnapshot,
    trigger: str,
    on: date = date(2026, 11, 10),
    actor: Actor = BUREAU,
    workflow: Workflow = WORKFLOW,
    **values: str,
):
    return decide(
        workflow,
        snapshot,
        Event(trigger, on, MappingProxyType(values)),
        actor,
        today=TODAY,
        calendar=CALENDAR,
    )


def test_a_new_case_starts_identified_with_three_working_days_to_verify() -> None:
    state, deadline = opening(WORKFLOW, date(2026, 11, 27), TODAY, CALENDAR)  # a Friday
    assert state == "identified"
    assert deadline is not None and deadline.due_on == date(2026, 12, 2)
    assert not deadline.provisional


def test_a_deadline_reaching_into_a_year_without_holiday_data_is_provisional() -> None:
    outcome = fire(
        case("verifying"), "confirm_dropout", on=date(2026, 11, 20), reason="migrant_work"
    )
    assert outcome.due is not None and not outcome.due.provisional
    late = fire(
        case("verifying", entered=date(2026, 11, 28)),
        "confirm_dropout",
        on=date(2026, 11, 28),
        reason="poverty",
    )
    assert late.due is not None and late.due.due_on.year == 2026
    order = fire(
        case("order_issued", entered=date(2026, 11, 28)),
        "order_served",
        on=date(2026, 11, 28),
        served_on="2026-11-28",
        method="direct",
        served_to="张某（父）",
    )
    assert order.due is not None
    # 15 calendar days from 28 Nov is 13 Dec 2026 (a Sunday) -> Monday 14 Dec, still known.
    assert order.due.due_on == date(2026, 12, 14) and not order.due.provisional
    in_force = fire(
        case("penalty_decision_issued", entered=date(2026, 11, 28)),
        "penalty_decision_served",
        on=date(2026, 11, 28),
        served_on="2026-11-28",
        method="direct",
    )
    # Six months from service: 28 May 2027, a year without holiday data.
    assert in_force.due is not None and in_force.due.due_on.year == 2027
    assert in_force.due.provisional and in_force.audit["due_provisional"] is True


def test_a_transition_moves_state_resets_counters_and_records_the_handoff() -> None:
    outcome = fire(case("verifying"), "refer_disability_assessment")
    assert outcome.state == "disability_assessment"
    assert outcome.entered_on == date(2026, 11, 10)
    assert outcome.departments == ("disability_federation",)
    assert outcome.audit["handoff"] == ["disability_federation"]
    assert outcome.audit["from"] == "verifying" and outcome.audit["to"] == "disability_assessment"


def test_choice_fields_accept_the_code_or_the_chinese_label() -> None:
    by_code = fire(case("verifying"), "propose_closure", reason="deceased", evidence="死亡证明")
    by_label = fire(
        case("verifying"), "propose_closure", reason="异地就读（经核实）", evidence="转学证明"
    )
    assert by_code.values["reason"] == "deceased"
    assert by_label.values["reason"] == "studying_elsewhere"


def test_a_missing_required_field_is_refused_and_named() -> None:
    with pytest.raises(TransitionRefused, match=r"needs --set for: reason \(销号原因\)"):
        fire(case("verifying"), "propose_closure", evidence="x")


def test_a_missing_field_is_named_in_chinese_with_how_to_give_it() -> None:
    i18n.set_language("zh")
    try:
        with pytest.raises(TransitionRefused) as caught:
            fire(case("verifying"), "confirm_dropout")
    finally:
        i18n.set_language(None)
    assert str(caught.value) == "“确认辍学”（confirm_dropout）还需填写：辍学原因（--set reason=…）"


def test_a_value_outside_the_allowed_choices_is_bad_input() -> None:
    with pytest.raises(InvalidInput, match="choose one of: studying_elsewhere"):
        fire(case("verifying"), "propose_closure", reason="bored", evidence="x")


def test_an_unknown_field_is_bad_input() -> None:
    with pytest.raises(InvalidInput, match="has no field 'colour'"):
        fire(case("identified"), "start_verification", colour="red")


def test_a_trigger_not_allowed_from_the_current_state_is_refused() -> None:
    with pytest.raises(TransitionRefused, match="not allowed from there"):
        fire(case("identified"), "return_to_school", placement="original_class", school="x")


def test_an_unknown_trigger_is_bad_input_listing_what_is_possible() -> None:
    with pytest.raises(InvalidInput, match="start_verification"):
        fire(case("identified"), "teleport")


def test_a_role_without_permission_is_refused() -> None:
    with pytest.raises(AccessDenied, match="needs one of: caseworker, bureau"):
        fire(case("order_to_correct"), "propose_penalty", actor=SCHOOL, document_number="1")
    with pytest.raises(AccessDenied, match="needs one of: bureau"):
        fire(case("statement_period"), "decide_penalty", actor=SCHOOL, document_number="1")
    with pytest.raises(AccessDenied, match="may not fire"):
        fire(case("identified"), "start_verification", actor=SUPERVISOR)


def test_events_cannot_be_dated_in_the_future_or_before_the_previous_event() -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        fire(case("identified"), "start_verification", on=date(2026, 11, 30))
    with pytest.raises(InvalidInput, match="before this case's previous event"):
        fire(
            case("identified", last_event_on=date(2026, 11, 12)),
            "start_verification",
            on=date(2026, 11, 11),
        )


def test_check_ins_stay_in_returned_keep_the_term_and_count_only_when_attending() -> None:
    snapshot = case("returned", entered=date(2026, 9, 1), due_on=date(2027, 1, 4))
    outcome = fire(snapshot, "check_in", on=date(2026, 9, 30), attending="steady")
    assert outcome.state == "returned"
    assert outcome.entered_on == date(2026, 9, 1)
    assert outcome.counters == {"check_in": 1}
    # The monitoring term runs from the return, whatever the check-ins.
    assert outcome.due is not None and outcome.due.due_on == date(2027, 1, 4)
    assert not outcome.deadline_reset
    at_risk = fire(snapshot, "check_in", on=date(2026, 9, 30), attending="at_risk")
    assert at_risk.state == "returned" and at_risk.counters == {}


def test_retention_needs_the_declared_number_of_check_ins_and_the_end_of_the_term() -> None:
    end = date(2026, 11, 20)  # the case's due date: the end of its monitoring term
    with pytest.raises(TransitionRefused, match=r"3 × check_in in this state \(2 so far\)"):
        fire(case("returned", counters={"check_in": 2}), "retain", on=end)
    with pytest.raises(TransitionRefused, match="allowed from its due date, 2026-11-20"):
        fire(case("returned", counters={"check_in": 3}), "retain", on=end - timedelta(days=1))
    done = fire(case("returned", counters={"check_in": 3}), "retain", on=end)
    assert done.state == "retained" and done.due is None


def test_a_relapse_returns_to_persuasion_and_counts_a_repeat() -> None:
    outcome = fire(case("returned", repeat_count=1), "relapse", absent_since="2026-11-03")
    assert outcome.state == "persuasion" and outcome.repeat_count == 2


def test_an_approved_deferral_is_due_on_the_date_it_ends() -> None:
    outcome = fire(
        case("verifying"),
        "defer",
        reason="illness",
        until="2027-03-01",
        approval="天堂教〔2026〕12号",
    )
    assert outcome.state == "deferred"
    assert outcome.due is not None and outcome.due.due_on == date(2027, 3, 1)
    assert not outcome.due.provisional
    with pytest.raises(InvalidInput, match="must be after"):
        fire(case("verifying"), "defer", reason="illness", until="2026-11-01", approval="x")


def offered(snapshot: CaseSnapshot, actor: Actor, workflow: Workflow = WORKFLOW) -> set[str]:
    return {t.trigger for t in available(workflow, snapshot, actor, today=TODAY)}


def test_the_transitions_offered_depend_on_role_and_requirements() -> None:
    assert offered(case("returned"), SCHOOL) == {
        "check_in",
        "relapse",
        "propose_closure",
        "propose_transfer_out",
    }
    assert "retain" in offered(case("returned", counters={"check_in": 3}), SCHOOL)
    assert offered(case("persuasion"), SUPERVISOR) == set()


def test_a_department_may_not_fire_on_a_case_not_handed_to_it() -> None:
    assessing = case("disability_assessment", departments=("disability_federation",))
    with pytest.raises(AccessDenied, match="this one is with disability_federation"):
        fire(assessing, "disability_not_confirmed", actor=HEALTH, finding="可以就学")
    assert offered(assessing, HEALTH) == set()
    outcome = fire(assessing, "disability_not_confirmed", actor=DISABILITY, finding="可以就学")
    assert outcome.state == "persuasion"
    assert offered(assessing, DISABILITY) == {"disability_confirmed", "disability_not_confirmed"}


def test_a_department_operator_with_another_allowed_role_needs_no_handoff() -> None:
    both = Actor("qian", "qian", frozenset({"department", "bureau"}), HEALTH.jurisdiction)
    assessing = case("disability_assessment", departments=("disability_federation",))
    outcome = fire(assessing, "disability_not_confirmed", actor=both, finding="可以就学")
    assert outcome.state == "persuasion"


def test_the_sweep_fires_only_automatic_transitions_and_needs_no_role() -> None:
    def sweep(snapshot: CaseSnapshot, trigger: str):
        return decide(
            WORKFLOW,
            snapshot,
            Event(trigger, date(2026, 11, 20)),  # the due date, when the sweep fires
            SUPERVISOR,
            today=TODAY,
            calendar=CALENDAR,
            automatic=True,
        )

    assert sweep(case("returned", counters={"check_in": 3}), "retain").state == "retained"
    with pytest.raises(TransitionRefused, match=r"'start_verification' \(.+\) is not an automatic"):
        sweep(case("identified"), "start_verification")
    with pytest.raises(TransitionRefused, match=r"3 × check_in in this state \(1 so far\)"):
        sweep(case("returned", counters={"check_in": 1}), "retain")


def test_a_penalty_guarded_by_deadline_passed_waits_until_the_order_has_run_out() -> None:
    ordered = case("ordered", due_on=date(2026, 11, 20), entered=date(2026, 11, 5))
    for day in (date(2026, 11, 10), date(2026, 11, 20)):
        with pytest.raises(TransitionRefused, match="due on 2026-11-20, so from 2026-11-21"):
            fire(ordered, "propose_penalty", on=day, workflow=ORDER_WORKFLOW)
    penalty = fire(ordered, "propose_penalty", on=date(2026, 11, 21), workflow=ORDER_WORKFLOW)
    assert penalty.state == "penalty"
    early = case("ordered", due_on=date(2026, 11, 30), entered=date(2026, 11, 5))
    assert offered(early, BUREAU, ORDER_WORKFLOW) == {"return_to_school"}
    assert offered(ordered, BUREAU, ORDER_WORKFLOW) == {"propose_penalty", "return_to_school"}


def test_the_deadline_passed_guard_refuses_a_state_without_a_deadline() -> None:
    ordered = case("ordered", due_on=None)
    with pytest.raises(TransitionRefused, match="has no deadline in this state"):
        fire(ordered, "propose_penalty", workflow=ORDER_WORKFLOW)
