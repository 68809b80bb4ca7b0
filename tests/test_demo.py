"""`caseflow demo` end to end: a synthetic county imported, compared and worked through a
term must come out as planted — every suspect found and nothing else, every overdue rung
fired once, every notice delivered or visibly dead, the audit chain intact, the counts by
state those of the cases — and the same seed must give the same outcome."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from caseflow import audit, db, escalation
from caseflow.calendar import WorkCalendar
from caseflow.cli import app
from caseflow.demo import scenario
from caseflow.demo.county import generate_county
from caseflow.demo.run import TRUTH_FILE, ZONE, DemoReport, run_demo
from caseflow.models import Notice
from caseflow.org import CHAIN_ROLES, parse_org
from caseflow.services.context import open_context, workflow_in_force
from caseflow.services.ledger import open_ledger
from caseflow.services.records import CASE, CHILD, ESCALATION
from tests.conftest import NATIONAL

NOTICE = Notice.__table__  # type: ignore[attr-defined]
CHILDREN = 400
DAYS = 75


@pytest.fixture
def played(tmp_path: Path, database) -> DemoReport:
    return run_demo(tmp_path / "demo", children=CHILDREN, days=DAYS, database_url=database.url)


def test_the_demo_comes_out_as_planted(played: DemoReport) -> None:
    report = played
    assert report.failures == []
    truth = json.loads((report.root / "registers" / TRUTH_FILE).read_text(encoding="utf-8"))
    end = datetime.combine(report.last_day, time(23, 59), ZONE)
    ctx = open_context(report.root, clock=lambda: end)
    try:
        with db.read(ctx.engine) as connection:
            # Every planted suspect has a case from the comparison, with its flags; nothing else.
            flagged = {
                row.id_number: frozenset(row.facts["evidence"]["roster_flags"])
                for row in connection.execute(
                    select(CHILD.c.id_number, CASE.c.facts)
                    .join(CASE, CASE.c.child_id == CHILD.c.id)
                    .where(CASE.c.source == "roster")
                )
            }
            assert flagged == {number: frozenset(f) for number, f in truth["flags"].items()}
            assert report.missed == [] and report.unexpected == []
            for name, (_imported, rejected) in report.registers.items():
                assert rejected == len(truth["rejects"][name]), name

            # Every rung fired at most once, and each open case's due rungs have fired.
            repeated = connection.execute(
                select(ESCALATION.c.case_id)
                .group_by(ESCALATION.c.case_id, ESCALATION.c.ladder_version, ESCALATION.c.rung)
                .having(func.count() > 1)
            ).all()
            assert repeated == []
            fired = Counter(
                (row.case_id, row.ladder_version)
                for row in connection.execute(select(ESCALATION)).all()
            )
            rungs = {
                key: sorted(
                    row.rung
                    for row in connection.execute(
                        select(ESCALATION.c.rung).where(
                            ESCALATION.c.case_id == key[0],
                            ESCALATION.c.ladder_version == key[1],
                        )
                    )
                )
                for key in fired
            }
            workflow = ctx.current_workflow
            calendar: WorkCalendar = ctx.calendar
            open_rows = connection.execute(select(CASE).where(CASE.c.is_open)).all()
            for row in open_rows:
                assert row.next_action_on is None or row.next_action_on > report.last_day, row.id
                if row.due_on is None:
                    continue
                due = [
                    rung.index
                    for rung in workflow.state(row.state).ladder
                    if escalation.rung_date(row.due_on, rung, calendar) <= report.last_day
                ]
                assert rungs.get((row.id, row.ladder_version), []) == due, row.id
            events = sum(
                1 for event in audit.events(connection) if event.action == "case.escalation"
            )
            assert events == sum(fired.values()) == report.fired > 0

            # Every notice was delivered or is dead (visible to `notify status`).
            notices = connection.execute(select(NOTICE)).all()
            assert notices and {n.status for n in notices} <= {"sent", "dead"}
            sent = Counter(n.channel for n in notices if n.status == "sent")
            assert sent["letter"] == report.letters
            assert sent["email"] == report.mail_received
            assert sent["wecom"] + sent["dingtalk"] == sum(report.robot_messages.values())
            dead = [n for n in notices if n.status == "dead"]
            assert all(
                n.last_error and n.address.startswith(scenario.RETIRED_MAILBOX) for n in dead
            )

            # The audit chain holds, up to the checkpoint the supervision office keeps.
            checked = audit.verify(connection, audit.Checkpoint.parse(report.checkpoint))
            assert checked.intact and report.audit_intact
            assert checked.events == report.audit_events

            # The counts by state are the cases in each state.
            by_state = select(CASE.c.state, func.count()).group_by(CASE.c.state)
            counts = {row[0]: row[1] for row in connection.execute(by_state)}
            assert {state: n for state, _label, n in report.by_state} == counts
            assert report.open_cases == len(open_rows)
            assert sum(counts.values()) == len(truth["flags"]) + report.reported
        ledger = open_ledger(ctx, level="county", as_of=report.last_day)
        assert Counter(row.state for row in ledger.rows()) == Counter(counts)
        assert report.ledger_rows == sum(counts.values()) and report.ledger_file is not None
        assert report.ledger_file.is_file()
    finally:
        ctx.engine.dispose()
    # The stories the demo tells happened.
    assert {"returned", "closed"} <= set(counts)
    assert report.steps["propose_closure"] and report.steps["approve_closure"]
    assert report.steps["return_to_school"] and report.steps["note"]
    # A disabled child of the register holds a certificate: the expert committee assesses.
    assert report.steps["expert_opinion"] and report.steps["record_visit"]


def test_the_same_seed_gives_the_same_outcome(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "one", children=300, days=40)
    again = run_demo(tmp_path / "two", children=300, days=40)
    assert first.by_state == again.by_state
    assert first.audit_events == again.audit_events
    assert first.steps == again.steps and first.fired == again.fired
    assert first.checkpoint == again.checkpoint  # the very same chain, event by event
    other = run_demo(tmp_path / "three", children=300, days=40, seed=7)
    assert other.checkpoint != first.checkpoint


def test_the_demo_command_prints_the_outcome_and_refuses_a_used_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(folder), "--children", "200", "--days", "15"])
    assert result.exit_code == 0, result.stderr
    assert "every planted suspect found" in result.stdout
    assert "hash chain intact" in result.stdout
    assert f"caseflow -w {folder.resolve()} case show" in result.stdout
    again = runner.invoke(app, ["demo", str(folder)])
    assert again.exit_code == 2
    assert "not empty" in again.stderr


def test_the_command_defaults_are_the_demo_defaults() -> None:
    command = next(c for c in app.registered_commands if c.name == "demo")
    assert command.callback is not None
    defaults = command.callback.__defaults__ or ()
    assert defaults[1:4] == (
        scenario.DEFAULT_SEED,
        scenario.DEFAULT_CHILDREN,
        scenario.DEFAULT_DAYS,
    )


def test_the_generated_organisation_is_sound_and_fills_every_chain() -> None:
    county = generate_county(
        3,
        children=600,
        townships=3,
        reference_date=date(2025, 9, 1),
        county_name=scenario.DEMO_COUNTY,
    )
    departments = workflow_in_force(None).departments
    generated = scenario.county_org(county, admin_account="kcb admin", departments=departments)
    org, problems = parse_org(generated.text, "org.yaml", departments=departments)
    assert problems == [] and org is not None
    again = scenario.county_org(county, admin_account="kcb admin", departments=departments)
    assert generated.text == again.text
    admin = org.operators[generated.bureau_operator]
    assert admin.os_user == "kcb admin" and set(admin.roles) == {"bureau", "admin"}
    assert set(generated.caseworkers) == {t.name for t in county.townships}
    assert len(generated.departments) == 11
    child = next(c for c in county.children if c.enrolment and c.enrolment.status == "在读")
    assert child.enrolment is not None
    chain = org.chain(
        child.township,
        child.village,
        group=child.group,
        school=child.enrolment.school,
        grade=child.enrolment.grade,
        class_name=child.enrolment.class_name,
    )
    assert set(chain) == set(CHAIN_ROLES) - {"subject_teacher"}
    robots = {c.channel for c in org.contacts.of(f"township_head:{child.township}")}
    assert robots & {"wecom", "dingtalk"}


def test_a_slow_caseworker_lets_the_deadline_lapse_before_acting() -> None:
    calendar = WorkCalendar(NATIONAL)
    persona = scenario.Persona(
        id_number="x",
        kind="dropout",
        route="persuade",
        reason="learning",
        pace=1,
        attempts=1,
        slow=frozenset({"identified"}),
        lag=6,
        backdate=False,
        details=(("guardian_name", "张大山"),),
        school="",
        placement="original_class",
        evidence="",
        disability=None,
        sex="男",
        age=10,
    )
    case = scenario.CaseView(
        number=1,
        state="identified",
        entered_on=date(2025, 9, 15),
        due_on=date(2025, 9, 18),
        last_event_on=date(2025, 9, 15),
        counters={},
        done=frozenset(),
        repeat_count=0,
        extended_days=0,
        guardian_known=False,
    )
    assert scenario.plan(persona, case, date(2025, 9, 23), calendar) == []
    steps = scenario.plan(persona, case, date(2025, 9, 24), calendar)
    assert [(s.kind, s.trigger) for s in steps] == [
        ("update", ""),
        ("advance", "start_verification"),
    ]
    prompt = scenario.plan(replace(persona, slow=frozenset()), case, date(2025, 9, 16), calendar)
    assert [s.trigger for s in prompt] == ["", "start_verification"]
