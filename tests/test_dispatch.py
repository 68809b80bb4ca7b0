"""Delivering the outbox: nothing recorded as sent that was not delivered, and nothing that
could not be delivered lost from sight."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.models import Delivery, Notice
from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.dispatch import _claim, dispatch, retry, route, status
from caseflow.services.org import apply_org
from caseflow.services.sweep import sweep
from tests.conftest import Clock, audit_trail, child

NOTICES = Notice.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]


@pytest.fixture
def moving(ctx: Context, clock: Clock) -> Context:
    return replace(ctx, clock=clock)


def overdue_case(ctx: Context, serial: int = 2) -> int:
    number = open_case(ctx, child(serial), occurred_on=date(2026, 10, 9)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 10, 9))
    advance(ctx, number, "confirm_dropout", {"reason": "poverty"}, occurred_on=date(2026, 10, 9))
    return number


def rows(ctx: Context, table=NOTICES) -> list:
    with db.read(ctx.engine) as connection:
        return list(connection.execute(select(table).order_by(table.c.id)).all())


def write_org(ctx: Context, contacts: str) -> None:
    """Write org.yaml with these contacts (YAML text), the acting operator its admin."""
    actor = ctx.actor
    ctx.workspace.org_file.write_text(
        "units:\n  - {id: bureau, kind: education_bureau, name: 本县教育局}\n"
        f"operators:\n  - {{name: {actor.operator}, os_user: {actor.os_user}, "
        "roles: [bureau, admin], unit: bureau}\n" + contacts,
        encoding="utf-8",
    )


def put_in_force(ctx: Context, contacts: str) -> None:
    """Write org.yaml with these contacts and put it in force, as `caseflow org apply`."""
    write_org(ctx, contacts)
    apply_org(ctx)


def routes(ctx: Context, recipient: str) -> list[tuple[str, str]]:
    return [(r.channel, r.address) for r in rows(ctx) if r.recipient == recipient]


def test_every_queued_notice_is_delivered_once_and_each_attempt_is_audited(
    moving, workspace
) -> None:
    overdue_case(moving)
    queued = sweep(moving).notices
    report = dispatch(moving)
    assert (report.sent, report.dead, report.retrying) == (queued, 0, 0)
    assert all(row.status == "sent" and row.channel == "letter" for row in rows(moving))
    letters = sorted((workspace / "outbox").glob("*.html"))
    assert len(letters) == queued
    assert "控辍保学逾期督办通知" in "".join(p.read_text(encoding="utf-8") for p in letters)
    again = dispatch(moving)
    assert again.sent == 0 and len(rows(moving, DELIVERIES)) == queued
    events = [e for e in audit_trail(moving) if e["action"] == "notice.delivery"]
    assert len(events) == queued
    first = events[0]["payload"]
    assert {"template", "content_hash", "channel", "recipient", "status"} <= set(first)
    assert first["status"] == "sent" and len(first["content_hash"]) == 64
    assert audit_verify(moving).intact


def test_a_recipient_with_two_contacts_gets_a_notice_on_each(moving) -> None:
    put_in_force(
        moving,
        """
contacts:
  supervision_office:
    - {channel: letter}
    - {channel: letter, address: 督导室收发室}
default:
  - {channel: letter}
""",
    )
    overdue_case(moving)
    sweep(moving)
    report = dispatch(moving)
    to_office = [r for r in rows(moving) if r.recipient == "supervision_office"]
    assert len(to_office) == 2 and {r.status for r in to_office} == {"sent"}
    assert {r.address for r in to_office} == {"", "督导室收发室"}
    assert report.routed == len(rows(moving))


def test_a_channel_that_cannot_be_used_goes_dead_and_is_requeued_once_fixed(moving, cli) -> None:
    put_in_force(moving, "default:\n  - {channel: pigeon, address: 天堂镇}\n")
    overdue_case(moving)
    sweep(moving)
    report = dispatch(moving)
    assert report.sent == 0 and report.dead == len(rows(moving))
    dead = status(moving, only="dead")
    assert dead["counts"]["dead"] == report.dead
    assert "no notifier channel named 'pigeon'" in dead["notices"][0]["last_error"]
    shown = cli("notify", "status", "--status", "dead")
    assert shown.exit_code == 0 and "pigeon" in shown.stdout
    write_org(moving, "default:\n  - {channel: letter}\n")
    assert retry(moving, all_dead=True) == report.dead
    assert dispatch(moving).dead == report.dead  # the fixed file is not in force yet
    apply_org(moving)
    assert retry(moving, all_dead=True) == report.dead
    assert dispatch(moving).sent == report.dead
    assert status(moving)["counts"] == {"pending": 0, "sent": report.dead, "dead": 0}


def test_notices_go_to_the_contacts_in_force_until_an_edit_is_applied(moving) -> None:
    put_in_force(
        moving, "contacts:\n  supervision_office:\n    - {channel: letter, address: 督导室收发室}\n"
    )
    write_org(
        moving, "contacts:\n  supervision_office:\n    - {channel: letter, address: 督导室新址}\n"
    )
    overdue_case(moving, serial=2)
    sweep(moving)
    dispatch(moving)
    before = routes(moving, "supervision_office")
    assert before and set(before) == {("letter", "督导室收发室")}
    assert {r.status for r in rows(moving)} == {"sent"}

    apply_org(moving)
    overdue_case(moving, serial=3)
    sweep(moving)
    dispatch(moving)
    after = routes(moving, "supervision_office")[len(before) :]
    assert after and set(after) == {("letter", "督导室新址")}
    assert routes(moving, "supervision_office")[: len(before)] == before


def test_retry_refuses_what_is_not_dead(moving) -> None:
    overdue_case(moving)
    sweep(moving)
    with pytest.raises(InvalidInput, match="not dead"):
        retry(moving, [rows(moving)[0].id])
    with pytest.raises(InvalidInput, match="does not exist"):
        retry(moving, [9999])
    with pytest.raises(InvalidInput, match="--all-dead"):
        retry(moving)


def test_a_transient_failure_is_retried_later_with_backoff_and_nothing_is_marked_sent(
    moving, workspace, clock
) -> None:
    overdue_case(moving)
    queued = sweep(moving).notices
    (workspace / "outbox").rmdir()
    (workspace / "outbox").write_text("the printer share is down", encoding="utf-8")
    first = dispatch(moving, rng=random.Random(1))
    assert (first.sent, first.retrying) == (0, queued)
    pending = rows(moving)
    assert {r.status for r in pending} == {"pending"} and {r.attempts for r in pending} == {1}
    assert all(r.next_attempt_at > clock.now for r in pending)
    assert all(r.sent_at is None for r in pending)
    assert dispatch(moving).sent == 0  # not due yet
    (workspace / "outbox").unlink()
    clock.advance(seconds=91)  # 60 s * 1.5 at most, for the first retry
    assert dispatch(moving).sent == queued


def test_after_the_last_attempt_a_notice_is_dead(moving, workspace, clock) -> None:
    overdue_case(moving)
    sweep(moving)
    (workspace / "outbox").rmdir()
    (workspace / "outbox").write_text("blocked", encoding="utf-8")
    for _ in range(moving.workspace.dispatch.max_attempts):
        dispatch(moving)
        clock.advance(hours=12)
    assert {r.status for r in rows(moving)} == {"dead"}
    assert {r.attempts for r in rows(moving)} == {moving.workspace.dispatch.max_attempts}


def test_a_dispatcher_that_died_after_claiming_is_taken_over_when_its_lease_ends(
    moving, clock
) -> None:
    overdue_case(moving)
    queued = sweep(moving).notices
    route(moving)
    claimed = _claim(moving, 100, "crashed-host:1", clock.now)
    assert len(claimed) == queued
    assert dispatch(moving).sent == 0  # still leased to the dead dispatcher
    clock.advance(seconds=moving.workspace.dispatch.lease_seconds + 1)
    assert dispatch(moving).sent == queued


def test_notify_commands_print_counts(cli, ctx) -> None:
    overdue_case(ctx)
    cli("escalate")
    dispatched = cli("notify", "dispatch")
    assert dispatched.exit_code == 0 and "sent" in dispatched.stdout
    listed = cli("notify", "status")
    assert listed.exit_code == 0 and "0 pending" in listed.stdout
    assert cli("notify", "status", "--status", "lost").exit_code == 2
    assert cli("notify", "retry").exit_code == 2
