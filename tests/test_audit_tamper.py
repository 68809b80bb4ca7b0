"""The audit chain catches tampering.

A workspace is given some history through the service layer, then someone with direct
database access changes the audit trail behind caseflow's back. On SQLite the tampering
happens on a copy of the workspace (taken with SQLite's backup API, so nothing still in
the WAL is lost) and the original is checked to be untouched; on PostgreSQL it happens in
the test's own throwaway schema. The append-only guards are switched off while tampering
and switched back on afterwards, as a careful attacker would leave them. Each case checks
that `audit verify` fails and names the first bad event, both through the service and
through the `caseflow` command.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from caseflow import audit, db
from caseflow.audit import GENESIS, Entry, canonical_json, chain_hash
from caseflow.errors import EXIT_BAD_INPUT, InvalidInput
from caseflow.services.audit import audit_checkpoint, audit_verify
from caseflow.services.cases import add_note, advance, open_case
from caseflow.services.context import Context, open_context
from caseflow.workspace import CONFIG_NAME
from caseflow.workspace import load as load_workspace
from tests.conftest import CliInvoker, Database, audit_trail, child, fixed_clock

NOTE_TEXT = "第1次入户劝返：家长同意返校"

# audit_event columns other than seq
_CONTENT = (
    "recorded_at",
    "occurred_on",
    "operator",
    "os_user",
    "action",
    "case_id",
    "payload",
    "prev_hash",
    "hash",
)

# The chain's sequence numbers below start right after workspace.init.
pytestmark = pytest.mark.bare_workspace


# ---------------------------------------------------------------------------------------
# A workspace with history, and the means to tamper with it


@dataclass
class History:
    """Twelve audit events over two cases, with a checkpoint (event 9) in the middle."""

    database: Database
    workspace: Path
    ctx: Context
    checkpoint: audit.Checkpoint
    seqs: dict[str, int] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return max(self.seqs.values())


def _last_seq(ctx: Context) -> int:
    return audit_trail(ctx)[-1]["seq"]


@pytest.fixture
def history(database: Database, workspace: Path, ctx: Context) -> History:
    seqs = {"init": _last_seq(ctx)}

    def record(name: str) -> None:
        seqs[name] = _last_seq(ctx)

    a = open_case(ctx, child(11), occurred_on=date(2026, 11, 2)).number
    record("a_open")
    advance(ctx, a, "start_verification", occurred_on=date(2026, 11, 3))
    record("a_verify")
    add_note(ctx, a, NOTE_TEXT, occurred_on=date(2026, 11, 4))
    record("a_note")
    b = open_case(ctx, child(12), occurred_on=date(2026, 11, 5)).number
    record("b_open")
    advance(ctx, a, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 11, 6))
    record("a_confirm")
    advance(ctx, b, "start_verification", occurred_on=date(2026, 11, 9))
    record("b_verify")
    advance(
        ctx,
        a,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 11, 12),
    )
    record("a_return")
    checkpoint = audit_checkpoint(ctx)
    record("checkpoint")
    add_note(ctx, b, "电话联系家长，家长在外务工", method="phone", occurred_on=date(2026, 11, 20))
    record("b_note")
    advance(ctx, a, "check_in", {"attending": "steady"}, occurred_on=date(2026, 11, 25))
    record("a_check_in")
    advance(ctx, b, "confirm_dropout", {"reason": "poverty"}, occurred_on=date(2026, 11, 26))
    record("b_confirm")
    assert list(seqs.values()) == list(range(1, 13)), seqs
    assert checkpoint.seq == 9
    assert audit_verify(ctx).intact
    return History(database, workspace, ctx, checkpoint, seqs)


def _copy_workspace(source: Path, target: Path) -> None:
    """Copy a SQLite workspace: its config, and its database through the backup API."""
    database_file = db.sqlite_path(load_workspace(source).database_url)
    assert database_file is not None
    target.mkdir()
    shutil.copy2(source / CONFIG_NAME, target / CONFIG_NAME)
    (target / "outbox").mkdir()
    src = sqlite3.connect(database_file)
    dst = sqlite3.connect(target / database_file.name)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    copied = load_workspace(target).database_url
    assert db.sqlite_path(copied) == (target / database_file.name).resolve()


@pytest.fixture
def target(history: History, tmp_path: Path) -> Path:
    """The workspace to tamper with: a copy on SQLite, the test's own schema on PostgreSQL."""
    history.ctx.engine.dispose()
    if history.database.backend != "sqlite":
        return history.workspace
    copy = tmp_path / "tampered"
    _copy_workspace(history.workspace, copy)
    return copy


@contextmanager
def tampering(root: Path) -> Iterator[Connection]:
    """A write transaction on the workspace's database with the append-only guards off;
    the guards are put back before the transaction commits."""
    url = load_workspace(root).database_url
    engine = db.make_engine(url)
    try:
        with db.write(engine) as connection:
            if engine.dialect.name == "sqlite":
                guards = connection.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master "
                        "WHERE type = 'trigger' AND tbl_name IN ('audit_event', 'audit_head')"
                    )
                ).all()
                assert guards, "expected the append-only triggers"
                for guard in guards:
                    connection.execute(text(f'DROP TRIGGER "{guard.name}"'))
                yield connection
                for guard in guards:
                    connection.execute(text(guard.sql))
            else:
                for table in ("audit_event", "audit_head"):
                    connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                yield connection
                for table in ("audit_event", "audit_head"):
                    connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    finally:
        engine.dispose()


def verify(root: Path, checkpoint: str | None = None) -> audit.Verification:
    ctx = open_context(root, clock=fixed_clock)
    try:
        return audit_verify(ctx, checkpoint)
    finally:
        ctx.engine.dispose()


def cli_verify(root: Path, checkpoint: str | None = None) -> tuple[int, str, str]:
    args = ["audit", "verify"]
    if checkpoint is not None:
        args += ["--checkpoint", checkpoint]
    result = CliInvoker(root)(*args)
    return result.exit_code, result.stdout, result.stderr


def assert_broken_at(
    root: Path,
    seq: int,
    *,
    checkpoint: str | None = None,
    problem: str | None = None,
) -> None:
    result = verify(root, checkpoint)
    assert not result.intact
    assert result.first_bad_seq == seq, result.problem
    if problem is not None:
        assert problem in (result.problem or ""), result.problem
    exit_code, stdout, stderr = cli_verify(root, checkpoint)
    assert exit_code == 1, (stdout, stderr)
    assert f"BROKEN at event {seq}:" in stderr
    assert "intact" not in stdout


def assert_intact(root: Path, events: int, *, checkpoint: str | None = None) -> None:
    result = verify(root, checkpoint)
    assert result.intact, result.problem
    assert result.events == events
    exit_code, stdout, stderr = cli_verify(root, checkpoint)
    assert exit_code == 0, stderr
    assert f"Audit chain intact{' and matches the checkpoint' if checkpoint else ''}:" in stdout
    assert f"{events} events" in stdout


def assert_case_rows_differ(
    root: Path, events: int, differing: dict[int, str], *, checkpoint: str | None = None
) -> None:
    """The chain verifies, but these cases' rows are not what their events say (each with
    a column named, or "no row")."""
    result = verify(root, checkpoint)
    assert result.chain_intact, result.problem
    assert result.events == events
    found = {d.number: d for d in result.cases}
    assert sorted(found) == sorted(differing), result.cases
    for number, what in differing.items():
        if what == "no row":
            assert found[number].row_missing
        else:
            assert what in [column for column, _stored, _expected in found[number].columns]
    exit_code, stdout, stderr = cli_verify(root, checkpoint)
    assert exit_code == 1, (stdout, stderr)
    assert "Audit chain intact" in stdout
    assert f"Cases whose row differs from their audit events: {len(differing)}" in stderr
    for number, what in differing.items():
        shown = "no row" if what == "no row" else f"{what} is "
        assert any(
            line.startswith(f"Case {number}: ") and shown in line for line in stderr.splitlines()
        ), stderr


def assert_original_untouched(history: History, root: Path) -> None:
    if root != history.workspace:
        assert_intact(history.workspace, history.last, checkpoint=str(history.checkpoint))


def row(connection: Connection, seq: int) -> dict[str, object]:
    return dict(
        connection.execute(text("SELECT * FROM audit_event WHERE seq = :s"), {"s": seq})
        .one()
        ._mapping
    )


def set_payload(connection: Connection, seq: int, payload: str) -> None:
    connection.execute(
        text("UPDATE audit_event SET payload = :p WHERE seq = :s"), {"p": payload, "s": seq}
    )


def set_head(connection: Connection, seq: int) -> None:
    digest = GENESIS if seq == 0 else row(connection, seq)["hash"]
    connection.execute(
        text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq, "h": digest}
    )


def short(checkpoint: audit.Checkpoint) -> str:
    return f"caseflow-audit:{checkpoint.seq}:{checkpoint.hash[:16]}"


# ---------------------------------------------------------------------------------------
# The database refuses changes to audit rows (defence in depth)


def _audit_rows(ctx: Context) -> list[tuple[object, ...]]:
    with db.read(ctx.engine) as connection:
        return [
            tuple(r) for r in connection.execute(text("SELECT * FROM audit_event ORDER BY seq"))
        ]


def test_database_refuses_update_delete_and_truncate_of_the_audit_trail(
    database: Database, workspace: Path, ctx: Context
) -> None:
    number = open_case(ctx, child(3), occurred_on=date(2026, 11, 2)).number
    add_note(ctx, number, NOTE_TEXT, occurred_on=date(2026, 11, 3))
    before = _audit_rows(ctx)
    statements = [
        'UPDATE audit_event SET payload = \'{"text":"forged"}\' WHERE seq = 3',
        "UPDATE audit_event SET operator = 'someone_else'",
        "UPDATE audit_event SET seq = seq + 100 WHERE seq = 3",
        "DELETE FROM audit_event WHERE seq = 2",
        "DELETE FROM audit_event",  # SQLite's truncate optimisation must not skip the guard
    ]
    if database.backend == "postgresql":
        statements += ["TRUNCATE audit_event", "TRUNCATE audit_head"]
    statements.append("DELETE FROM audit_head")
    for statement in statements:
        with (
            pytest.raises(DBAPIError, match=r"append-only|permanent"),
            db.write(ctx.engine) as connection,
        ):
            connection.execute(text(statement))
        assert _audit_rows(ctx) == before, statement
    assert audit_verify(ctx).intact


def test_database_refuses_overwriting_an_audit_event_through_an_insert(
    request: pytest.FixtureRequest, database: Database, workspace: Path, ctx: Context
) -> None:
    """An INSERT that replaces an existing row is an UPDATE in disguise."""
    number = open_case(ctx, child(3), occurred_on=date(2026, 11, 2)).number
    add_note(ctx, number, NOTE_TEXT, occurred_on=date(2026, 11, 3))
    before = _audit_rows(ctx)
    columns = ", ".join(("seq", *_CONTENT))
    forged = columns.replace("payload", '\'{"text":"forged"}\'')
    source = f"SELECT {forged} FROM audit_event WHERE seq = 3"
    statements = [
        f"INSERT INTO audit_event ({columns}) {source} "
        "ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload"
    ]
    if database.backend == "sqlite":
        statements += [
            f"REPLACE INTO audit_event ({columns}) {source}",
            f"INSERT OR REPLACE INTO audit_event ({columns}) {source}",
        ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.write(ctx.engine) as connection:
            connection.execute(text(statement))
        assert _audit_rows(ctx) == before, statement
    assert audit_verify(ctx).intact


# ---------------------------------------------------------------------------------------
# Tampering that verify catches on its own


def test_untouched_database_verifies_intact(history: History, target: Path) -> None:
    assert_intact(target, history.last)
    assert_intact(target, history.last, checkpoint=str(history.checkpoint))
    assert_intact(target, history.last, checkpoint=short(history.checkpoint))
    # The prefix is optional and the hash is case-insensitive.
    bare = f"{history.checkpoint.seq}:{history.checkpoint.hash[:16].upper()}"
    assert_intact(target, history.last, checkpoint=bare)


@pytest.mark.parametrize(
    "checkpoint",
    [
        "caseflow-audit:9:xyz",
        "caseflow-audit:9:0123456789abcde",  # 15 hex characters: too short to trust
        "caseflow-audit::0123456789abcdef",
        "caseflow-audit:9",
        "9-0123456789abcdef",
        "caseflow-audit:9:" + "0" * 65,
    ],
)
def test_a_malformed_checkpoint_is_bad_input(
    history: History, target: Path, checkpoint: str
) -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        verify(target, checkpoint)
    exit_code, stdout, stderr = cli_verify(target, checkpoint)
    assert exit_code == EXIT_BAD_INPUT
    assert "checkpoint" in stderr
    assert "intact" not in stdout


def test_a_checkpoint_from_a_different_chain_is_caught(history: History, target: Path) -> None:
    wrong = f"caseflow-audit:{history.checkpoint.seq}:{'ab' * 8}"
    assert_broken_at(target, history.checkpoint.seq, checkpoint=wrong, problem="rewritten")


def test_a_checkpoint_beyond_the_end_is_caught(history: History, target: Path) -> None:
    future = f"caseflow-audit:{history.last + 5}:{'ab' * 8}"
    assert_broken_at(target, history.last + 5, checkpoint=future, problem="removed")


EDITS = {
    # name: (event, old fragment, new fragment, expected problem)
    "one character of a note changed": ("a_note", "第1次", "第2次", "was altered"),
    "one character of a choice value changed": (
        "a_confirm",
        '"migrant_work"',
        '"migrant_wore"',
        "was altered",
    ),
    "a payload key renamed out of sorted order": (
        "a_note",
        '"method"',
        '"zethod"',
        "not in canonical form",
    ),
    "the payload no longer parses as JSON": ("b_note", '"text":"', '"text";"', "not JSON"),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_editing_one_byte_of_a_payload_is_caught(history: History, target: Path, edit: str) -> None:
    name, old, new, problem = EDITS[edit]
    seq = history.seqs[name]
    assert len(old.encode()) == len(new.encode())
    with tampering(target) as connection:
        payload = str(row(connection, seq)["payload"])
        assert payload.count(old) == 1
        changed = payload.replace(old, new)
        differing = [
            i
            for i, (x, y) in enumerate(zip(payload.encode(), changed.encode(), strict=True))
            if x != y
        ]
        assert len(differing) == 1
        set_payload(connection, seq, changed)
    assert_broken_at(target, seq, problem=problem)
    assert_broken_at(target, seq, checkpoint=str(history.checkpoint), problem=problem)
    assert_original_untouched(history, target)


def test_turning_a_payload_number_into_a_float_is_caught(history: History, target: Path) -> None:
    seq = history.seqs["checkpoint"]
    with tampering(target) as connection:
        payload = str(row(connection, seq)["payload"])
        assert '"previous_seq":8' in payload
        set_payload(connection, seq, payload.replace('"previous_seq":8', '"previous_seq":8.0'))
    assert_broken_at(target, seq)


@pytest.mark.parametrize(
    "column, value",
    [("operator", "someone_else"), ("action", "case.close"), ("occurred_on", "2026-11-05")],
)
def test_editing_an_event_outside_its_payload_is_caught(
    history: History, target: Path, column: str, value: str
) -> None:
    seq = history.seqs["a_confirm"]
    with tampering(target) as connection:
        connection.execute(
            text(f"UPDATE audit_event SET {column} = :v WHERE seq = :s"), {"v": value, "s": seq}
        )
    assert_broken_at(target, seq, problem="was altered")


def test_moving_an_event_to_another_case_is_caught(history: History, target: Path) -> None:
    seq = history.seqs["a_note"]
    with tampering(target) as connection:
        connection.execute(
            text("UPDATE audit_event SET case_id = case_id + 1 WHERE seq = :s"), {"s": seq}
        )
    assert_broken_at(target, seq, problem="was altered")


@pytest.mark.parametrize("name", ["init", "a_confirm", "b_note"])
def test_deleting_a_row_from_the_middle_is_caught(
    history: History, target: Path, name: str
) -> None:
    seq = history.seqs[name]
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq = :s"), {"s": seq})
    assert_broken_at(target, seq, problem="missing")
    assert_original_untouched(history, target)


def test_deleting_a_row_and_renumbering_the_rest_is_caught(history: History, target: Path) -> None:
    seq = history.seqs["a_confirm"]
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq = :s"), {"s": seq})
        for later in range(seq + 1, history.last + 1):
            connection.execute(
                text("UPDATE audit_event SET seq = :new WHERE seq = :old"),
                {"new": later - 1, "old": later},
            )
        set_head(connection, history.last - 1)
    assert_broken_at(target, seq, problem="does not follow")


def _swap_seq(connection: Connection, first: int, second: int) -> None:
    for old, new in ((first, -1), (second, first), (-1, second)):
        connection.execute(
            text("UPDATE audit_event SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
        )


def _swap_content(connection: Connection, first: int, second: int) -> None:
    a, b = row(connection, first), row(connection, second)
    # Park the first row's unique hashes so the two rows never collide mid-swap.
    connection.execute(
        text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE seq = :s"),
        {"p": "p" * 64, "h": "h" * 64, "s": first},
    )
    for seq, values in ((second, a), (first, b)):
        assignments = ", ".join(f"{c} = :{c}" for c in _CONTENT)
        connection.execute(
            text(f"UPDATE audit_event SET {assignments} WHERE seq = :seq"),
            {**{c: values[c] for c in _CONTENT}, "seq": seq},
        )


@pytest.mark.parametrize("swap", [_swap_seq, _swap_content], ids=["seq numbers", "contents"])
@pytest.mark.parametrize(
    "pair", [("a_verify", "a_note"), ("b_open", "b_verify"), ("a_open", "b_confirm")]
)
def test_swapping_two_rows_is_caught(
    history: History,
    target: Path,
    swap: Callable[[Connection, int, int], None],
    pair: tuple[str, str],
) -> None:
    first, second = (history.seqs[name] for name in pair)
    with tampering(target) as connection:
        swap(connection, first, second)
        assert row(connection, first)["hash"] != row(connection, second)["hash"]
    assert_broken_at(target, first, problem="does not follow")
    assert_original_untouched(history, target)


def test_deleting_the_tail_without_fixing_the_head_is_caught(
    history: History, target: Path
) -> None:
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq > :s"), {"s": history.last - 2})
    assert_broken_at(target, history.last - 1, problem="head records event")


def test_altering_the_head_is_caught(history: History, target: Path) -> None:
    with tampering(target) as connection:
        set_head(connection, history.last - 1)
    # The chain goes on past the head: the first event the head does not cover is named.
    assert_broken_at(target, history.last, problem="head")


def _forged_event(connection: Connection, seq: int, prev_hash: str) -> None:
    entry = Entry(
        seq=seq,
        recorded_at="2026-11-29T02:00:00.000000+00:00",
        occurred_on="2026-11-28",
        operator="root",
        os_user="root",
        action="case.note",
        case_id=1,
        payload={"method": "visit", "state": "returned", "text": "补记"},
    )
    connection.execute(
        text(
            "INSERT INTO audit_event (seq, recorded_at, occurred_on, operator, os_user, action, "
            "case_id, payload, prev_hash, hash) VALUES (:seq, :recorded_at, :occurred_on, "
            ":operator, :os_user, :action, :case_id, :payload, :prev_hash, :hash)"
        ),
        {
            "seq": entry.seq,
            "recorded_at": entry.recorded_at,
            "occurred_on": entry.occurred_on,
            "operator": entry.operator,
            "os_user": entry.os_user,
            "action": entry.action,
            "case_id": entry.case_id,
            "payload": canonical_json(entry.payload),
            "prev_hash": prev_hash,
            "hash": chain_hash(prev_hash, entry),
        },
    )


def test_an_event_appended_without_updating_the_head_is_caught(
    history: History, target: Path
) -> None:
    with tampering(target) as connection:
        _forged_event(connection, history.last + 1, str(row(connection, history.last)["hash"]))
    assert_broken_at(target, history.last + 1, problem="head")


def test_deleting_the_head_row_is_caught(history: History, target: Path) -> None:
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_head"))
    assert not verify(target).intact
    exit_code, _stdout, stderr = cli_verify(target)
    assert exit_code == 1
    assert "BROKEN" in stderr


# ---------------------------------------------------------------------------------------
# Tampering only a checkpoint catches


@pytest.mark.parametrize("removed", [4, 6])
def test_truncating_the_tail_is_caught_by_the_case_rows_and_the_checkpoint(
    history: History, target: Path, removed: int
) -> None:
    keep = history.last - removed
    assert keep < history.checkpoint.seq
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq > :s"), {"s": keep})
        set_head(connection, keep)
    # The shortened chain is self-consistent, but the case rows are ahead of it: both
    # cases took steps the remaining events do not hold.
    assert_case_rows_differ(target, keep, {1: "version", 2: "version"})
    # The checkpoint held outside the database names the missing event.
    assert_broken_at(
        target, history.checkpoint.seq, checkpoint=str(history.checkpoint), problem="removed"
    )
    assert_broken_at(
        target, history.checkpoint.seq, checkpoint=short(history.checkpoint), problem="removed"
    )
    assert_original_untouched(history, target)


def test_truncating_only_events_after_the_checkpoint_is_caught_by_the_case_rows_alone(
    history: History, target: Path
) -> None:
    """A checkpoint vouches for what came before it, nothing more (documented limit): the
    chain matches it, and only the case rows, ahead of the events, show the loss."""
    keep = history.checkpoint.seq
    with tampering(target) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq > :s"), {"s": keep})
        set_head(connection, keep)
    assert_case_rows_differ(
        target, keep, {1: "version", 2: "state"}, checkpoint=str(history.checkpoint)
    )


Edit = Callable[[int, dict[str, object], str], dict[str, object]]


def _rewrite_chain(connection: Connection, edit: Edit) -> None:
    """Recompute every hash from genesis with payloads changed by ``edit(seq, payload,
    prev_hash)``, and make the head agree: a self-consistent forged chain."""
    rows = [
        dict(r._mapping) for r in connection.execute(text("SELECT * FROM audit_event ORDER BY seq"))
    ]
    prev_hash = GENESIS
    for r in rows:
        payload = edit(int(r["seq"]), json.loads(str(r["payload"])), prev_hash)
        entry = Entry(
            seq=int(r["seq"]),
            recorded_at=str(r["recorded_at"]),
            occurred_on=r["occurred_on"],  # type: ignore[arg-type]
            operator=str(r["operator"]),
            os_user=str(r["os_user"]),
            action=str(r["action"]),
            case_id=r["case_id"],  # type: ignore[arg-type]
            payload=payload,
        )
        digest = chain_hash(prev_hash, entry)
        connection.execute(
            text("UPDATE audit_event SET payload = :p, prev_hash = :ph, hash = :h WHERE seq = :s"),
            {"p": canonical_json(payload), "ph": prev_hash, "h": digest, "s": entry.seq},
        )
        prev_hash = digest
    connection.execute(
        text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
        {"s": rows[-1]["seq"], "h": prev_hash},
    )


def test_rewriting_the_whole_chain_is_caught_only_with_a_checkpoint(
    history: History, target: Path
) -> None:
    note_seq = history.seqs["a_note"]
    assert note_seq < history.checkpoint.seq

    def edit(seq: int, payload: dict[str, object], prev_hash: str) -> dict[str, object]:
        if seq == note_seq:
            return {**payload, "text": "家长拒绝送孩子返校"}
        if seq == history.checkpoint.seq:
            # The forger also makes the checkpoint event quote the forged hash before it.
            return {**payload, "previous_hash": prev_hash}
        return payload

    with tampering(target) as connection:
        _rewrite_chain(connection, edit)
        assert json.loads(str(row(connection, note_seq)["payload"]))["text"] == "家长拒绝送孩子返校"
        assert row(connection, history.checkpoint.seq)["hash"] != history.checkpoint.hash
    assert_intact(target, history.last)
    assert_broken_at(
        target, history.checkpoint.seq, checkpoint=str(history.checkpoint), problem="rewritten"
    )
    assert_broken_at(
        target, history.checkpoint.seq, checkpoint=short(history.checkpoint), problem="rewritten"
    )
    assert_original_untouched(history, target)
