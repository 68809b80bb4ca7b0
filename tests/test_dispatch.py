"""Delivering the outbox: nothing recorded as sent that was not delivered, and nothing that
could not be delivered lost from sight."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from caseflow import db
from caseflow.errors import InvalidInput
from caseflow.models import Child, Delivery, Notice
from caseflow.notifiers.letter import letter_files
from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.dispatch import _claim, dispatch, retry, route, status
from caseflow.services.org import apply_org
from caseflow.services.sweep import sweep
from tests.conftest import Clock, audit_trail, child, county_today

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


def set_dispatch(root: Path, **settings: int) -> None:
    """Replace ``[dispatch]`` settings in the workspace's caseflow.toml."""
    config = root / "caseflow.toml"
    before, header, section = config.read_text(encoding="utf-8").partition("\n[dispatch]\n")
    assert header, "caseflow.toml has no [dispatch] section"
    for name, value in settings.items():
        section, found = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", section, count=1)
        assert found, name
    config.write_text(before + header + section, encoding="utf-8")


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
    letters = letter_files(workspace / "outbox")
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


def test_dispatched_letters_are_filed_by_day_document_case_and_role_with_a_day_index(
    moving, workspace
) -> None:
    number = overdue_case(moving)
    sweep(moving)
    dispatch(moving)
    day = moving.today.isoformat()
    letters = letter_files(workspace / "outbox")
    assert letters and {path.parent.name for path in letters} == {day}
    name_of = re.compile(rf"^{day}_控辍保学[^_]+_案件{number:04d}_[^_]+(_\d+)?\.html$")
    assert all(name_of.match(path.name) for path in letters), [p.name for p in letters]
    assert f"{day}_控辍保学逾期督办通知_案件{number:04d}_乡镇长.html" in {p.name for p in letters}
    with db.read(moving.engine) as connection:
        child_row = connection.execute(select(Child.__table__)).first()
    assert child_row is not None
    for path in letters:
        assert child_row.name not in path.name and child_row.id_number not in path.name
    assert {row.peer_reference for row in rows(moving)} == {f"{day}/{p.name}" for p in letters}
    index = (workspace / "outbox" / day / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{path.name}"' in index for path in letters)
    assert index.count("已写入，待打印送达") == len(letters)


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
    assert "Unknown channel 'pigeon'" in dead["notices"][0]["last_error"]
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
    with pytest.raises(InvalidInput, match="only failed notices can be requeued"):
        retry(moving, [rows(moving)[0].id])
    with pytest.raises(InvalidInput, match="There is no notice 9999"):
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


def test_notify_commands_print_counts(cli, ctx, workspace) -> None:
    overdue_case(ctx)
    cli("escalate")
    dispatched = cli("--lang", "zh", "notify", "dispatch")
    assert dispatched.exit_code == 0
    lines = dispatched.stdout.splitlines()
    assert lines[0] == (
        "通知投递：送达5份，待重试0份，等待限流窗口0份，投递失败0份（本次分派渠道5份）"
    )
    index = workspace / "outbox" / county_today().isoformat() / "index.html"
    assert lines[1] == f"今日信函按日期、文书、案件编号和收件人命名，目录见 {index}"
    assert index.is_file()
    listed = cli("--lang", "zh", "notify", "status")
    assert listed.exit_code == 0 and "发送队列：待发送 0，" in listed.stdout
    assert cli("notify", "status", "--status", "lost").exit_code == 2
    assert cli("notify", "retry").exit_code == 2


def notice_rows(ctx: Context) -> list[tuple]:
    """Every column of every notice, for comparing the outbox before and after."""
    return [tuple(row) for row in rows(ctx)]


def test_a_swept_notice_is_rendered_when_routed_and_every_attempt_sends_that_document(
    moving, workspace, clock
) -> None:
    overdue_case(moving)
    sweep(moving)
    queued = rows(moving)
    assert queued and all(r.body is None and r.context for r in queued)  # not rendered yet
    (workspace / "outbox").rmdir()
    (workspace / "outbox").write_text("the printer share is down", encoding="utf-8")
    assert dispatch(moving, rng=random.Random(1)).retrying == len(queued)
    stored = {r.key: r.body for r in rows(moving)}
    assert all(body and "<title>" in body for body in stored.values())
    (workspace / "outbox").unlink()
    clock.advance(seconds=91)
    assert dispatch(moving).sent == len(queued)
    letters = {p.name: p.read_text(encoding="utf-8") for p in letter_files(workspace / "outbox")}
    assert sorted(letters.values()) == sorted(stored.values())  # the document stored at routing
    assert {r.key: r.body for r in rows(moving)} == stored


def test_the_content_hash_of_a_swept_notice_can_be_recomputed_from_its_row(moving) -> None:
    import hashlib

    from caseflow import render

    overdue_case(moving)
    sweep(moving)
    dispatch(moving)
    delivered = {
        e["payload"]["notice"]: e["payload"]["content_hash"]
        for e in audit_trail(moving)
        if e["action"] == "notice.delivery"
    }
    for row in rows(moving):
        assert row.template_sha256 == render.source_hash(row.template)
        recomputed = hashlib.sha256(
            f"{row.template}\n{row.template_sha256}\n{row.context}".encode()
        ).hexdigest()
        assert row.content_hash == recomputed == delivered[row.id]


def test_a_notice_queued_with_an_older_template_is_hashed_as_the_template_that_rendered_it(
    moving,
) -> None:
    import hashlib

    from caseflow import render

    overdue_case(moving)
    sweep(moving)
    first = rows(moving)[0]
    with db.write(moving.engine) as connection:  # as if queued before a template upgrade
        connection.execute(
            NOTICES.update()
            .where(NOTICES.c.id == first.id)
            .values(template_sha256="0" * 64, content_hash="1" * 64)
        )
    route(moving)
    row = next(r for r in rows(moving) if r.id == first.id)
    installed = render.source_hash(row.template)
    assert row.template_sha256 == installed and row.body
    assert (
        row.content_hash
        == hashlib.sha256(f"{row.template}\n{installed}\n{row.context}".encode()).hexdigest()
    )


def _queue_unrenderable(ctx: Context) -> int:
    """An escalation notice whose listed case lacks a column the template prints."""
    from datetime import UTC, datetime

    from caseflow.services import outbox

    draft = outbox.Draft(
        key="escalation:broken",
        kind="escalation",
        template="escalation_notice",
        recipient="supervision_office",
        case_ids=[1],
        subject="控辍保学逾期督办通知（第3级）",
        context={
            "today": date(2026, 11, 29),
            "issuer": {"name": "本县教育局", "reference": ""},
            "recipient": {"name": "县人民政府教育督导室"},
            "escalation": {"level": 3, "cases": [{"number": 1}]},
        },
    )
    with db.write(ctx.engine) as connection:
        outbox.queue(connection, [draft], datetime(2026, 11, 29, tzinfo=UTC))
        return outbox.ids_of(connection, [draft.key])[draft.key]


def test_a_notice_that_cannot_be_rendered_goes_dead_and_the_others_are_delivered(
    moving,
) -> None:
    broken = _queue_unrenderable(moving)
    overdue_case(moving)
    queued = sweep(moving).notices
    report = dispatch(moving)
    assert (report.sent, report.dead) == (queued, 0)
    dead = status(moving, only="dead")["notices"]
    assert [n["id"] for n in dead] == [broken]
    assert dead[0]["channel"] is None
    assert "The document template escalation_notice cannot be rendered" in dead[0]["last_error"]
    death = [
        e["payload"]
        for e in audit_trail(moving)
        if e["action"] == "notice.delivery" and e["payload"]["notice"] == broken
    ]
    assert [(d["status"], d["attempt"]) for d in death] == [("dead", 0)]
    assert retry(moving, [broken]) == 1
    requeued = next(r for r in rows(moving) if r.id == broken)
    assert (requeued.status, requeued.channel, requeued.body) == ("pending", None, None)
    assert audit_verify(moving).intact


def test_notify_show_prints_the_document_that_delivery_sends(cli, ctx, workspace) -> None:
    overdue_case(ctx)
    cli("escalate")
    first = rows(ctx)[0]
    shown = cli("notify", "show", str(first.id))
    assert shown.exit_code == 0 and shown.stdout.startswith("<!DOCTYPE html>")
    assert "张*华" in shown.stdout and "张小华" not in shown.stdout
    assert rows(ctx)[0].body == shown.stdout  # stored: delivery sends these bytes
    reads = [e for e in audit_trail(ctx) if e["action"] == "case.read"]
    assert reads[-1]["payload"]["view"] == f"notice KC-{first.id:06d}"
    assert reads[-1]["payload"]["cases"] == list(first.case_ids)
    written = cli("notify", "show", str(first.id), "--output", str(workspace / "one.html"))
    assert written.exit_code == 0 and "KC-" in written.stdout
    assert (workspace / "one.html").read_text(encoding="utf-8") == shown.stdout
    assert cli("notify", "dispatch").exit_code == 0
    sent = workspace / "outbox" / rows(ctx)[0].peer_reference
    assert sent.read_text(encoding="utf-8") == shown.stdout


def test_notify_show_refuses_an_unknown_notice_and_changes_nothing(cli, ctx) -> None:
    overdue_case(ctx)
    cli("escalate")
    before, trail = notice_rows(ctx), audit_trail(ctx)
    refused = cli("--lang", "zh", "notify", "show", "9999")
    assert refused.exit_code != 0 and "通知 9999 不存在" in refused.stderr
    assert notice_rows(ctx) == before and audit_trail(ctx) == trail
