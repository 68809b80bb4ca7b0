"""Supervision review on a real database: the audit log's filters, exporting the trail and
checking the export with no workspace at all, and the overdue cases by responsible unit
with the escalations already sent."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from caseflow import db
from caseflow.audit_export import verify_export_file
from caseflow.cli import app
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, CaseNotFound, InvalidInput, NotFound
from caseflow.services.audit import audit_verify
from caseflow.services.cases import add_note, advance, open_case, show_case
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.review import AuditFilter, audit_events, export_audit, overdue_review
from caseflow.services.sweep import sweep
from tests.conftest import (
    CliInvoker,
    Clock,
    Database,
    approved_closure,
    child,
    child_id_number,
    fixed_clock,
    put_issuing_org_in_force,
)
from tests.test_audit_tamper import tampering

NOTE_TEXT = "电话联系家长，家长在外务工"


def acting(ctx: Context, actor: Actor) -> Context:
    return Context(ctx.workspace, ctx.engine, actor, ctx.clock, ctx.calendar)


@dataclass
class Trail:
    """Two cases in two townships, worked over a week by two operators.

    Case a (天堂镇/天堂村/天堂小学) ends handed to the health bureau; case b
    (木黄镇/木黄村/木黄中学) ends in persuasion. li, a caseworker, did b's verification and
    note; the note was recorded at 01:30 on 7 November in the workspace's time zone,
    which is still 6 November in UTC."""

    root: Path
    ctx: Context
    clock: Clock
    a: int
    b: int
    days: dict[int, list[int]] = field(default_factory=dict)  # seqs by recorded day

    def seqs(self, where: AuditFilter) -> list[int]:
        return [event["seq"] for event in audit_events(self.ctx, where)]

    def all(self) -> list[dict[str, Any]]:
        return list(audit_events(self.ctx))


@pytest.fixture
def trail(tmp_path: Path, database: Database, clock: Clock) -> Iterator[Trail]:
    root = tmp_path / "trail"
    clock.now = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    _, operator = init_workspace(root, database.url, clock=clock)
    put_issuing_org_in_force(root, operator, clock)
    clock.advance(days=1)  # Monday 2 November, 10:00 in Asia/Shanghai
    ctx = open_context(root, clock=clock)
    li = acting(ctx, Actor("li", "li-os", frozenset({"caseworker"})))
    a = open_case(ctx, child(11), occurred_on=date(2026, 11, 2)).number
    clock.advance(days=1)
    b = open_case(
        ctx,
        child(12, township="木黄镇", village="木黄村", school="木黄中学"),
        occurred_on=date(2026, 11, 3),
    ).number
    clock.advance(days=1)
    advance(ctx, a, "start_verification", occurred_on=date(2026, 11, 4))
    clock.advance(days=1)
    advance(li, b, "start_verification", occurred_on=date(2026, 11, 5))
    advance(ctx, a, "refer_health", occurred_on=date(2026, 11, 5))
    clock.now = datetime(2026, 11, 6, 17, 30, tzinfo=UTC)  # 7 Nov 01:30 in the workspace
    add_note(li, b, NOTE_TEXT, method="phone", occurred_on=date(2026, 11, 7))
    clock.now = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)
    advance(ctx, b, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 11, 9))
    result = Trail(root, ctx, clock, a, b)
    for event in result.all():
        day = datetime.fromisoformat(event["recorded_at"]).astimezone(ctx.workspace.timezone)
        result.days.setdefault(day.day, []).append(event["seq"])
    yield result
    ctx.engine.dispose()


@pytest.fixture
def tcli(trail: Trail) -> CliInvoker:
    return CliInvoker(trail.root)


def events_of(trail: Trail, **conditions: object) -> list[dict[str, Any]]:
    return list(audit_events(trail.ctx, AuditFilter(**conditions)))


# ---------------------------------------------------------------------------------------
# audit log filters


def test_unit_narrows_to_the_cases_of_a_township_village_school_or_department(
    trail: Trail,
) -> None:
    everything = trail.all()
    of_a = [e["seq"] for e in everything if e["case"] == trail.a]
    of_b = [e["seq"] for e in everything if e["case"] == trail.b]
    assert of_a and of_b
    for unit in ("天堂镇", "天堂村", "天堂小学", "township:天堂镇", "village:天堂镇/天堂村"):
        assert trail.seqs(AuditFilter(unit=unit)) == of_a, unit
    for unit in ("木黄镇", "木黄村", "木黄中学", "school:木黄中学"):
        assert trail.seqs(AuditFilter(unit=unit)) == of_b, unit
    # a was handed to the health bureau: by key, by name, or spelt out
    for unit in ("health", "县卫生健康局", "department:health"):
        assert trail.seqs(AuditFilter(unit=unit)) == of_a, unit
    assert trail.seqs(AuditFilter(unit="township:天堂村")) == []  # a village, not a township
    assert trail.seqs(AuditFilter(unit="public_security")) == []
    assert trail.seqs(AuditFilter(unit="village:木黄镇/天堂村")) == []


def test_actor_narrows_to_one_operator_by_name_or_os_account(trail: Trail) -> None:
    by_li = events_of(trail, actor="li")
    assert [(e["case"], e["action"]) for e in by_li] == [
        (trail.b, "case.transition"),
        (trail.b, "case.note"),
    ]
    assert trail.seqs(AuditFilter(actor="li-os")) == [e["seq"] for e in by_li]
    others = trail.seqs(AuditFilter(actor=trail.ctx.actor.operator))
    assert set(others).isdisjoint(e["seq"] for e in by_li)
    assert len(others) + len(by_li) == len(trail.all())


def test_since_and_until_are_inclusive_days_in_the_workspace_time_zone(trail: Trail) -> None:
    note = events_of(trail, action="case.note")[0]
    assert note["recorded_at"].startswith("2026-11-06T17:30")  # UTC
    assert note["seq"] in trail.days[7]  # ... but 7 November in the workspace
    assert trail.seqs(AuditFilter(since=date(2026, 11, 7))) == trail.days[7] + trail.days[9]
    assert note["seq"] not in trail.seqs(AuditFilter(until=date(2026, 11, 6)))
    one_day = AuditFilter(since=date(2026, 11, 5), until=date(2026, 11, 5))
    assert trail.seqs(one_day) == trail.days[5]
    assert len(trail.days[5]) == 2
    assert trail.seqs(AuditFilter(until=date(2026, 11, 1))) == trail.days[1]
    assert trail.seqs(AuditFilter(until=date(2026, 10, 31))) == []


def test_action_is_exact_or_a_prefix(trail: Trail) -> None:
    transitions = events_of(trail, action="case.transition")
    assert [e["trigger"] for e in transitions] == [
        "start_verification",
        "start_verification",
        "refer_health",
        "confirm_dropout",
    ]
    case_events = [e["seq"] for e in trail.all() if e["action"].startswith("case.")]
    assert trail.seqs(AuditFilter(action="case.")) == case_events
    assert trail.seqs(AuditFilter(action="case.*")) == case_events
    assert trail.seqs(AuditFilter(action="case")) == []  # exact: no action is just "case"
    assert [e["action"] for e in events_of(trail, action="workspace.init")] == ["workspace.init"]


def test_state_gives_the_events_of_cases_in_that_state_now(trail: Trail) -> None:
    in_persuasion = events_of(trail, state="persuasion")
    assert {e["case"] for e in in_persuasion} == {trail.b}
    assert in_persuasion[0]["action"] == "case.open"  # the whole history
    assert {e["case"] for e in events_of(trail, state="health_assessment")} == {trail.a}
    assert events_of(trail, state="verifying") == []
    with pytest.raises(InvalidInput, match="not a state"):
        events_of(trail, state="persuation")


def test_filters_combine(trail: Trail) -> None:
    found = events_of(
        trail, unit="木黄镇", actor="li", action="case.", since=date(2026, 11, 6), case=trail.b
    )
    assert [(e["action"], e["payload"]["text"]) for e in found] == [("case.note", NOTE_TEXT)]
    assert events_of(trail, unit="天堂镇", actor="li") == []
    with pytest.raises(CaseNotFound):
        events_of(trail, case=999)


def test_reading_the_audit_trail_needs_the_supervisor_or_bureau_role(trail: Trail) -> None:
    supervisor = acting(trail.ctx, Actor("wang", "wang", frozenset({"supervisor"})))
    assert list(audit_events(supervisor, AuditFilter(unit="天堂镇")))
    for roles in ({"caseworker"}, {"school"}, {"admin"}, set()):
        other = acting(trail.ctx, Actor("zhao", "zhao", frozenset(roles)))
        with pytest.raises(AccessDenied, match="one of: bureau, supervisor"):
            audit_events(other)
        with pytest.raises(AccessDenied):
            export_audit(other, trail.ctx.workspace.root / "x.jsonl")
        with pytest.raises(AccessDenied):
            overdue_review(other)


def test_audit_log_filters_from_the_cli_with_json(trail: Trail, tcli: CliInvoker) -> None:
    result = tcli("audit", "log", "--unit", "木黄镇", "--action", "case.transition", "--json")
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)
    assert [(e["case"], e["to"]) for e in events] == [
        (trail.b, "verifying"),
        (trail.b, "persuasion"),
    ]
    assert set(events[0]) >= {"seq", "action", "from", "to", "operator", "os_user", "hash"}
    text_form = tcli("audit", "log", "--actor", "li", "--since", "2026年11月7日")
    assert text_form.exit_code == 0
    assert "case.note" in text_form.stdout and NOTE_TEXT in text_form.stdout
    assert text_form.stdout.count("\n") == 1
    assert "No audit events match." in tcli("audit", "log", "--actor", "nobody").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-11-31"], "not a valid date"),
        (["--since", "2026-11-09", "--until", "2026-11-01"], "after --until"),
        (["--state", "nowhere"], "not a state"),
        (["--unit", " "], "needs a value"),
    ],
)
def test_bad_filters_are_bad_input(
    trail: Trail, tcli: CliInvoker, args: list[str], message: str
) -> None:
    result = tcli("audit", "log", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_caseworker_may_not_read_the_audit_log_from_the_cli(
    trail: Trail, tcli: CliInvoker
) -> None:
    with db.write(trail.ctx.engine) as connection:
        connection.execute(text("UPDATE operator SET roles = 'caseworker'"))
    result = tcli("audit", "log", "--unit", "天堂镇")
    assert result.exit_code == 1
    assert "one of: bureau, supervisor" in result.stderr
    assert tcli("review", "overdue").exit_code == 1
    assert tcli("audit", "export", "-o", str(trail.ctx.workspace.root / "x.jsonl")).exit_code == 1


# ---------------------------------------------------------------------------------------
# export, and verifying an export offline


def export(cli: CliInvoker, path: Path, *args: str) -> str:
    result = cli("audit", "export", "-o", str(path), *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def verify_offline(path: Path, *args: str) -> tuple[int, str, str]:
    """`caseflow audit verify --file` with no workspace given, found or configured."""
    result = CliRunner().invoke(app, ["audit", "verify", "--file", str(path), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no workspace in it or above it, and no CASEFLOW_WORKSPACE."""
    folder = tmp_path / "reviewer"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("CASEFLOW_WORKSPACE", raising=False)
    return folder


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_an_exported_trail_verifies_offline_without_a_workspace(
    trail: Trail, tcli: CliInvoker, elsewhere: Path
) -> None:
    events = len(trail.all())
    target = elsewhere / "audit.jsonl"
    said = export(tcli, target)
    assert f"Wrote {events} events (seq 1–{events})" in said
    checkpoint = said.split("Checkpoint: ")[1].split()[0]
    shutil.rmtree(trail.root)  # the reviewer has the file and nothing else
    code, out, err = verify_offline(target)
    assert code == 0, err
    assert f"Export intact: {events} events, seq 1–{events}" in out
    assert "Starts at the beginning of the chain." in out
    assert f"Ends at checkpoint {checkpoint}" in out
    code, out, _ = verify_offline(target, "--checkpoint", checkpoint[: len("caseflow-audit:") + 20])
    assert code == 0 and "holds checkpoint" in out


def test_an_export_holds_each_event_with_its_hashes_and_ends_with_the_checkpoint(
    trail: Trail, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    stored = trail.all()
    summary = export_audit(trail.ctx, target)
    lines = [json.loads(line) for line in lines_of(target)]
    assert len(lines) == len(stored) + 1
    for line, event in zip(lines, stored, strict=False):
        assert line["seq"] == event["seq"] and line["hash"] == event["hash"]
        assert line["payload"] == event["payload"] and line["case"] == event["case"]
    assert lines[0]["prev_hash"] == "0" * 64
    assert lines[-1] == {
        "checkpoint": str(summary.last),
        "seq": stored[-1]["seq"],
        "hash": stored[-1]["hash"],
        "first_seq": 1,
        "first_prev_hash": "0" * 64,
        "events": len(stored),
    }
    assert audit_verify(trail.ctx).intact
    # the export itself is on the record, after what it exported
    recorded = trail.all()[-1]
    assert recorded["action"] == "audit.export"
    assert recorded["payload"]["checkpoint"] == str(summary.last)
    assert recorded["payload"]["file"] == "audit.jsonl"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_since_export_starts_mid_chain_and_reports_where_it_joins(
    trail: Trail, tmp_path: Path, elsewhere: Path
) -> None:
    target = tmp_path / "week.jsonl"
    summary = export_audit(trail.ctx, target, since=date(2026, 11, 5), until=date(2026, 11, 7))
    expected = trail.days[5] + trail.days[7]
    assert (summary.first_seq, summary.last.seq, summary.events) == (
        expected[0],
        expected[-1],
        len(expected),
    )
    before = next(e for e in trail.all() if e["seq"] == expected[0] - 1)
    code, out, err = verify_offline(target)
    assert code == 0, err
    assert f"seq {expected[0]}–{expected[-1]}" in out
    assert f"Starts mid-chain: event {expected[0]} follows prev_hash {before['hash']}" in out
    # deleting the first line is not hidden by the export starting mid-chain
    lines = lines_of(target)
    target.write_text("".join(lines[1:]), encoding="utf-8")
    code, _, err = verify_offline(target)
    assert code == 1
    assert f"line {len(lines) - 1}" in err and "start" in err


def test_an_export_of_a_range_with_no_events_writes_nothing(trail: Trail, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(NotFound, match="no audit event was recorded on or after 2027-01-01"):
        export_audit(trail.ctx, folder / "none.jsonl", since=date(2027, 1, 1))
    assert list(folder.iterdir()) == []
    with pytest.raises(InvalidInput, match="does not exist"):
        export_audit(trail.ctx, folder / "missing" / "x.jsonl")


def test_an_export_over_an_earlier_file_replaces_it_whole(trail: Trail, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    target.write_text("old\n", encoding="utf-8")
    export_audit(trail.ctx, target, until=date(2026, 11, 3))
    assert verify_export_file(target).intact
    assert verify_export_file(target).last.seq == trail.days[3][-1]


def test_editing_one_line_of_an_export_is_reported_with_its_line_number(
    trail: Trail, tcli: CliInvoker, tmp_path: Path, elsewhere: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    export(tcli, target)
    lines = lines_of(target)
    number = next(i for i, line in enumerate(lines, start=1) if NOTE_TEXT in line)
    lines[number - 1] = lines[number - 1].replace("在外务工", "同意返校")
    target.write_text("".join(lines), encoding="utf-8")
    code, out, err = verify_offline(target)
    assert code == 1
    assert err.startswith(f"Error: export {target} is BROKEN: line {number} ")
    assert "was altered" in err and "intact" not in out


def _delete(lines: list[str], n: int) -> None:
    del lines[n]


def _swap(lines: list[str], n: int) -> None:
    lines[n], lines[n + 1] = lines[n + 1], lines[n]


def _insert(lines: list[str], n: int) -> None:
    lines.insert(n, lines[n - 1])


def _truncate(lines: list[str], n: int) -> None:
    del lines[n:]


def _cut(lines: list[str], n: int) -> None:
    lines[n] = lines[n][:25]
    del lines[n + 1 :]


@pytest.mark.parametrize(
    "change",
    [_delete, _swap, _insert, _truncate, _cut],
    ids=["deleted", "swapped", "inserted", "truncated", "cut mid-line"],
)
def test_deleting_reordering_inserting_or_truncating_lines_is_reported(
    trail: Trail, tmp_path: Path, elsewhere: Path, change: Callable[[list[str], int], None]
) -> None:
    target = tmp_path / "audit.jsonl"
    export_audit(trail.ctx, target)
    lines = lines_of(target)
    n = 3  # 0-based: the fourth line
    change(lines, n)
    target.write_text("".join(lines), encoding="utf-8")
    code, out, err = verify_offline(target)
    assert code == 1, out
    assert f"line {n + 1}" in err, err


def test_exporting_a_tampered_trail_writes_it_as_stored_and_says_it_does_not_verify(
    database: Database, trail: Trail, tmp_path: Path, elsewhere: Path
) -> None:
    note = events_of(trail, action="case.note")[0]
    trail.ctx.engine.dispose()
    with tampering(trail.ctx.workspace.root) as connection:
        connection.execute(
            text(
                "UPDATE audit_event SET payload = replace(payload, '在外务工', '同意返校') "
                "WHERE seq = :s"
            ),
            {"s": note["seq"]},
        )
    target = tmp_path / "evidence.jsonl"
    result = CliInvoker(trail.ctx.workspace.root)("audit", "export", "-o", str(target))
    assert result.exit_code == 1
    assert "do not verify" in result.stderr and f"event {note['seq']}" in result.stderr
    assert "同意返校" in target.read_text(encoding="utf-8")
    code, _, err = verify_offline(target)
    assert code == 1 and f"line {note['seq']} (event {note['seq']}) was altered" in err


def test_verifying_a_file_that_is_not_there_is_bad_input(elsewhere: Path) -> None:
    code, _, err = verify_offline(elsewhere / "missing.jsonl")
    assert code == 2 and "cannot read" in err


# ---------------------------------------------------------------------------------------
# review overdue


@pytest.fixture
def overdue(ctx: Context) -> dict[str, int]:
    """As of Sunday 29 November 2026: a persuasion case in 天堂镇 overdue since 29 October
    and escalated; a missing child (public security, calendar days) overdue since 9
    November; a deferral (school) that ran out on 20 November; one case not yet due and
    one closed."""
    numbers = {}
    numbers["persuasion"] = n = open_case(ctx, child(2), occurred_on=date(2026, 10, 9)).number
    advance(ctx, n, "start_verification", occurred_on=date(2026, 10, 9))
    advance(ctx, n, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 10, 9))
    numbers["missing"] = n = open_case(
        ctx,
        child(3, township="木黄镇", village="木黄村", school=None),
        occurred_on=date(2026, 10, 1),
    ).number
    advance(ctx, n, "start_verification", occurred_on=date(2026, 10, 1))
    advance(ctx, n, "report_missing", occurred_on=date(2026, 10, 8))
    numbers["deferred"] = n = open_case(ctx, child(4), occurred_on=date(2026, 11, 2)).number
    advance(ctx, n, "start_verification", occurred_on=date(2026, 11, 2))
    advance(
        ctx,
        n,
        "defer",
        {"reason": "illness", "until": "2026-11-20", "approval": "天堂教〔2026〕12号"},
        occurred_on=date(2026, 11, 3),
    )
    numbers["fresh"] = open_case(ctx, child(5), occurred_on=date(2026, 11, 27)).number
    numbers["closed"] = n = open_case(ctx, child(6), occurred_on=date(2026, 10, 1)).number
    approved_closure(ctx, n, "studying_elsewhere", "转学证明", occurred_on=date(2026, 10, 2))
    sweep(ctx, as_of=date(2026, 11, 10))  # before the deferral runs out
    return numbers


def test_overdue_cases_are_grouped_by_responsible_unit_with_the_escalations_sent(
    ctx: Context, overdue: dict[str, int]
) -> None:
    review = overdue_review(ctx)
    assert review.as_of == date(2026, 11, 29)
    assert review.cases == 3
    units = {unit.unit: unit for unit in review.units}
    assert set(units) == {"township:天堂镇", "department:public_security", "school:天堂小学"}
    assert units["township:天堂镇"].label == "天堂镇人民政府"
    assert units["department:public_security"].label == "县公安局"
    township = units["township:天堂镇"].cases
    assert [c.number for c in township] == [overdue["persuasion"]]
    case = township[0]
    assert (case.state, case.due_on, case.days_unit) == (
        "persuasion",
        date(2026, 10, 29),
        "working_days",
    )
    assert case.days_overdue == 21  # 30 Oct and four full working weeks to Fri 27 Nov
    fired = ctx_escalations(ctx, case.number)
    assert [e.level for e in case.escalations] == [e["level"] for e in fired] == [1, 2, 3]
    assert case.escalations[0].recipients == ("township:天堂镇",)
    assert "supervision_office" in case.escalations[-1].recipients
    missing = units["department:public_security"].cases[0]
    assert (missing.number, missing.days_unit) == (overdue["missing"], "days")
    assert missing.days_overdue == (date(2026, 11, 29) - missing.due_on).days
    assert [e.level for e in missing.escalations] == [1]
    deferred = units["school:天堂小学"].cases[0]
    assert (deferred.number, deferred.due_on, deferred.escalations) == (
        overdue["deferred"],
        date(2026, 11, 20),
        (),
    )


def ctx_escalations(ctx: Context, number: int) -> list[dict[str, Any]]:
    return [e for e in show_case(ctx, number)["escalations"] if e["current"]]


def test_overdue_as_of_an_earlier_day_leaves_out_what_was_not_yet_due(
    ctx: Context, overdue: dict[str, int]
) -> None:
    review = overdue_review(ctx, date(2026, 11, 9))
    assert [c.number for u in review.units for c in u.cases] == [overdue["persuasion"]]
    assert review.units[0].cases[0].days_overdue == 7


def test_review_overdue_from_the_cli_masks_ids(
    ctx: Context, overdue: dict[str, int], cli: CliInvoker
) -> None:
    result = cli("review", "overdue", "--as-of", "2026-11-29", "--json")
    assert result.exit_code == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["cases"] == 3
    first = view["units"][0]["cases"][0]
    assert set(first) >= {
        "number",
        "state_label",
        "due_on",
        "days_overdue",
        "days_unit",
        "name",
        "id_number",
        "escalations",
    }
    assert first["name"] == "张小华"
    shown = cli("review", "overdue", "--as-of", "2026-11-29")
    assert shown.exit_code == 0
    assert "天堂镇人民政府  [township:天堂镇]  1 case(s)" in shown.stdout
    assert "21 working days overdue" in shown.stdout
    assert "escalated: level 1 on 2026-11-10 to township:天堂镇; level 2" in shown.stdout
    assert "escalated: none yet" in shown.stdout
    chinese = cli("review", "overdue", "--as-of", "2026-11-29", "--lang", "zh").stdout
    assert chinese.startswith("截至 2026-11-29 逾期：")
    assert "天堂镇人民政府  [township:天堂镇]  1 件" in chinese
    assert "逾期 21 个工作日" in chinese and "      已督办：尚无" in chinese
    for output in (result.stdout, shown.stdout):
        for serial in range(2, 7):
            full = child_id_number(serial)
            assert full not in output
        assert f"{child_id_number(2)[:4]}********{child_id_number(2)[-4:]}" in output


def test_nothing_overdue_is_said_plainly(ctx: Context, cli: CliInvoker) -> None:
    open_case(ctx, child(2), occurred_on=date(2026, 11, 27))
    review = overdue_review(ctx)
    assert (review.cases, review.units) == (0, ())
    shown = cli("review", "overdue", "--as-of", review.as_of.isoformat())
    assert "0 open case(s) in 0 unit(s)" in shown.stdout


def test_a_supervisor_may_review(ctx: Context, overdue: dict[str, int]) -> None:
    supervisor = Context(
        ctx.workspace,
        ctx.engine,
        Actor("wang", "wang", frozenset({"supervisor"})),
        fixed_clock,
        ctx.calendar,
    )
    assert overdue_review(supervisor).cases == 3
