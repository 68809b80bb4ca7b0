"""The fault suite of issue 17: `caseflow escalate`, `caseflow notify dispatch` and
`caseflow roster import` killed with SIGKILL at seeded random moments, round after round,
then run again to completion — nothing lost, nothing doubled (beyond delivery's documented
at least once), the audit chain intact.

Every command is the real CLI of this environment, in its own process, on a workspace of
the `workspace` fixture (SQLite, and PostgreSQL when CASEFLOW_TEST_PG_URL is set). The
moments are drawn from a seeded generator: the seed is printed (shown when a test fails)
and CASEFLOW_FAULT_SEED replays it. Two kill points too narrow to hit at random are
reached on purpose: an import held between placing its snapshot file and committing, and
a letter written but not yet filed in its day's index.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from caseflow import db
from caseflow.ids import make_id_number
from caseflow.models import AuditEvent, Delivery, Escalation, Notice, RosterImport
from caseflow.notifiers.letter import letter_files
from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.org import apply_org
from caseflow.services.snapshots import current_imports, snapshot_path
from caseflow.services.sweep import sweep as sweep_service
from tests.conftest import (
    PG_URL,
    Database,
    child,
    fixed_clock,
    issuing_org,
    pg_schema_url,
    put_issuing_org_in_force,
    set_order_issuer,
    snapshot_rows,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
NOTICES = Notice.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
ESCALATIONS = Escalation.__table__  # type: ignore[attr-defined]
IMPORTS = RosterImport.__table__  # type: ignore[attr-defined]
EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]

ROUNDS = 4
# The day the sweeps run as of: the cases' rungs are those of the tests' fixed "now".
AS_OF = "2026-11-29"


# ---------------------------------------------------------------------------------------
# Running the CLI and killing it


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """The test's random moments: seeded by its name, or by CASEFLOW_FAULT_SEED."""
    seed = int(os.environ.get("CASEFLOW_FAULT_SEED") or zlib.crc32(request.node.name.encode()))
    print(f"fault suite seed: {seed} (replay with CASEFLOW_FAULT_SEED={seed})")
    return random.Random(seed)


def caseflow(root: Path, *args: str) -> list[str]:
    """The command line of the environment's `caseflow` on the workspace ``root``."""
    installed = Path(sys.executable).with_name("caseflow")
    command = [str(installed)] if installed.exists() else [sys.executable, str(REPO / "cli.py")]
    return [*command, "-w", str(root), *args]


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; it must succeed."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=180, check=False, env=env
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done


@dataclass
class Kill:
    """One round: the command was killed ``at`` seconds after it started, while it was
    still running (``running``) or after it had already finished."""

    at: float
    running: bool


def run_and_kill(
    command: list[str],
    *,
    working: Callable[[], bool],
    then: float,
    env: dict[str, str] | None = None,
) -> Kill:
    """Start ``command``; once ``working()`` holds, wait ``then`` seconds and kill it with
    SIGKILL (no handler, no cleanup: as a power cut or the OOM killer would)."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        started = time.monotonic()
        try:
            while process.poll() is None and not working():
                assert time.monotonic() - started < 120, "the command never started working"
                time.sleep(0.005)
            time.sleep(then)
            running = process.poll() is None
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=60)
        at = time.monotonic() - started
        errors.seek(0)
        if not running:
            assert process.returncode == 0, errors.read().decode()
        return Kill(at, running)


def assert_killed_while_working(kills: list[Kill], *, at_least: int) -> None:
    """The rounds are not a formality: kills hit the command at work."""
    working = sum(kill.running for kill in kills)
    assert working >= at_least, kills


# ---------------------------------------------------------------------------------------
# Workspaces


@pytest.fixture
def twin(tmp_path: Path, database: Database) -> Iterator[Path]:
    """A second workspace, made as the `workspace` fixture makes one, on its own database
    of the same kind: the run that was never killed, to compare with."""
    url: str | None = None
    schema = f"cf_{uuid.uuid4().hex[:12]}"
    if database.backend == "postgresql":
        assert PG_URL is not None
        admin = create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = pg_schema_url(schema)
    root = tmp_path / "twin"
    _, operator = init_workspace(root, url, clock=fixed_clock)
    set_order_issuer(root, "township")
    put_issuing_org_in_force(root, operator)
    try:
        yield root
    finally:
        if url is not None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def context(root: Path) -> Context:
    return open_context(root, clock=fixed_clock)


def overdue_cases(ctx: Context, count: int) -> list[int]:
    """Cases in persuasion since October, every rung of their ladder due by 29 November:
    a reminder to the township, then notices up the chain."""
    numbers = []
    for serial in range(count):
        entered = date(2026, 10, 9) if serial % 2 else date(2026, 10, 20)
        details = child(100 + serial, guardian_name="张大山", guardian_relation="父亲")
        number = open_case(ctx, details, occurred_on=entered).number
        advance(ctx, number, "start_verification", occurred_on=entered)
        advance(ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=entered)
        numbers.append(number)
    return numbers


def count(ctx: Context, table: Any, *where: Any) -> int:
    with db.read(ctx.engine) as connection:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int(connection.execute(query).scalar_one())


# ---------------------------------------------------------------------------------------
# escalate

LEVEL = re.compile(r"（第(\d+)级）$")


def notified(ctx: Context) -> Counter[tuple[int, int, str, str]]:
    """Every (case, level, recipient, template) the outbox holds a notice for, counted
    (a notice listing several cases counts once for each)."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            select(NOTICES.c.case_ids, NOTICES.c.subject, NOTICES.c.recipient, NOTICES.c.template)
        ).all()
    found: Counter[tuple[int, int, str, str]] = Counter()
    for cases, subject, recipient, template in rows:
        level = LEVEL.search(subject)
        assert level is not None, subject
        for case in cases:
            found[(case, int(level.group(1)), recipient, template)] += 1
    return found


def fired_rungs(ctx: Context) -> list[tuple[Any, ...]]:
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            select(
                ESCALATIONS.c.case_id,
                ESCALATIONS.c.ladder_version,
                ESCALATIONS.c.rung,
                ESCALATIONS.c.recipients,
            )
        ).all()
    return sorted((case, ladder, rung, tuple(sorted(to))) for case, ladder, rung, to in rows)


def case_positions(ctx: Context) -> list[tuple[Any, ...]]:
    """Each case's state, version and place on its ladder: what a sweep moves."""
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            text(
                "SELECT id, state, version, is_open, ladder_version, next_rung, next_action_on "
                "FROM case_file ORDER BY id"
            )
        ).all()
    return [tuple(row) for row in rows]


def escalation_events(ctx: Context) -> int:
    return count(ctx, EVENTS, EVENTS.c.action == "case.escalation")


def test_an_escalate_killed_at_random_moments_and_run_again_sends_every_notice_exactly_once(
    workspace: Path, twin: Path, rng: random.Random
) -> None:
    cases = 80  # enough work that a quiet machine is still sweeping when the kill lands
    killed, untouched = context(workspace), context(twin)
    try:
        assert overdue_cases(killed, cases) == overdue_cases(untouched, cases)
        sweep = ("escalate", "--as-of", AS_OF, "--batch-size", "1")
        run(caseflow(twin, *sweep))  # never killed
        expected = fired_rungs(untouched)
        total = len(expected)
        assert total == 3 * cases

        kills: list[Kill] = []
        partial: list[int] = []
        for _ in range(ROUNDS):
            # Once the sweep has fired a case's rungs more, at a random moment.
            target = count(killed, ESCALATIONS) + rng.randint(1, 3)

            def working(target: int = target) -> bool:
                return count(killed, ESCALATIONS) >= target

            kills.append(
                run_and_kill(
                    caseflow(workspace, *sweep), working=working, then=rng.uniform(0, 0.01)
                )
            )
            partial.append(count(killed, ESCALATIONS))
        print(f"rungs fired when killed: {partial} of {total}")
        assert_killed_while_working(kills, at_least=ROUNDS - 1)
        assert 0 < partial[-1] < total, partial

        resumed = run(caseflow(workspace, *sweep, "--json"))
        assert json.loads(resumed.stdout)["fired"] == total - partial[-1]
        # The same rungs, notices and cases as the run that was never killed.
        assert fired_rungs(killed) == expected
        assert escalation_events(killed) == total == escalation_events(untouched)
        reference = notified(untouched)
        assert set(reference.values()) == {1}
        assert notified(killed) == reference
        assert case_positions(killed) == case_positions(untouched)
        assert audit_verify(killed).intact
        assert sweep_service(killed, batch_size=1).fired == 0  # as of the same day
    finally:
        killed.engine.dispose()
        untouched.engine.dispose()


# ---------------------------------------------------------------------------------------
# notify dispatch

LEASE = 2  # seconds: the workspace's [dispatch] lease_seconds
BATCH = 4  # [dispatch] batch_size: at most this many results are lost to one kill
ANSWER = 0.02  # seconds the receiver takes to answer


@dataclass
class Receiver:
    """A county's webhook receiver on loopback: the key of every request it took."""

    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def taken(self) -> int:
        with self.lock:
            return len(self.requests)

    def deliveries(self) -> Counter[str]:
        with self.lock:
            return Counter(self.requests)


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    peer = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(ANSWER)
            with peer.lock:
                peer.requests.append(json.loads(body)["key"])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a killed dispatcher hung up mid-request

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", peer
    server.shutdown()
    server.server_close()


def webhook_county(root: Path, url: str) -> None:
    """Township heads get printed letters, everyone else the county's webhook; claims of
    LEASE seconds, BATCH at a time."""
    config = root / "caseflow.toml"
    settings = config.read_text(encoding="utf-8")
    for name, value in (("lease_seconds", LEASE), ("batch_size", BATCH)):
        settings, found = re.subn(
            rf"(?ms)(^\[dispatch\]$.*?^){name} = .*?$", rf"\g<1>{name} = {value}", settings
        )
        assert found == 1, name
    settings += (
        f'\n[notifiers.webhook]\nurl = "{url}"\nsecret_env = "COUNTY_HOOK_SECRET"\ntimeout = 5\n'
    )
    config.write_text(settings, encoding="utf-8")
    ctx = context(root)
    try:
        operator = ctx.actor.operator
        routes = (
            "contacts:\n  township_head:\n    - {channel: letter}\n"
            "default:\n  - {channel: webhook, address: county}\n"
        )
        org = issuing_org(operator, more=routes)
        ctx.workspace.org_file.write_text(org, encoding="utf-8")
        apply_org(ctx)
    finally:
        ctx.engine.dispose()


def test_a_dispatcher_killed_at_random_moments_loses_nothing_and_repeats_within_the_bound(
    workspace: Path, receiver: tuple[str, Receiver], rng: random.Random
) -> None:
    url, peer = receiver
    webhook_county(workspace, url)
    ctx = context(workspace)
    env = {**os.environ, "COUNTY_HOOK_SECRET": "county-hook-secret"}
    try:
        cases = 10
        overdue_cases(ctx, cases)
        # A case at a time: a notice for each case and recipient, one a letter.
        sweep_service(ctx, batch_size=1)
        total = count(ctx, NOTICES)
        assert total == 5 * cases
        kills: list[Kill] = []
        for _ in range(ROUNDS):
            target = peer.taken() + rng.randint(1, BATCH)

            def working(target: int = target) -> bool:
                return peer.taken() >= target

            kills.append(
                run_and_kill(
                    caseflow(workspace, "notify", "dispatch"),
                    working=working,
                    then=rng.uniform(0, 3 * ANSWER),
                    env=env,
                )
            )
        assert_killed_while_working(kills, at_least=ROUNDS - 1)
        assert peer.taken() < total - cases, "the kills left notices to deliver"
        # Notices a killed dispatcher held are left alone until its claim runs out ...
        held = count(ctx, NOTICES, NOTICES.c.claimed_by.is_not(None))
        time.sleep(LEASE + 0.5)
        finished = run(caseflow(workspace, "notify", "dispatch", "--json"), env=env)
        assert json.loads(finished.stdout)["stale"] == 0
        # ... and then nothing is held any more: every notice sent, none claimed.
        with db.read(ctx.engine) as connection:
            rows = connection.execute(
                select(
                    NOTICES.c.key,
                    NOTICES.c.status,
                    NOTICES.c.claimed_by,
                    NOTICES.c.channel,
                    NOTICES.c.peer_reference,
                )
            ).all()
        assert [(row.status, row.claimed_by) for row in rows] == [("sent", None)] * total
        # Delivered at least once: every notice reached the receiver ...
        delivered = peer.deliveries()
        assert {row.key for row in rows if row.channel == "webhook"} == set(delivered)
        # ... or is a letter in the outbox, once: a repeat replaced its own file.
        outbox = workspace / "outbox"
        letters = {f"{path.parent.name}/{path.name}" for path in letter_files(outbox)}
        filed = [row.peer_reference for row in rows if row.channel == "letter"]
        assert len(filed) == cases and sorted(filed) == sorted(letters)
        for day in {path.parent for path in letter_files(outbox)}:
            index = (day / "index.html").read_text(encoding="utf-8")
            assert sorted(re.findall(r'href="([^"]+)"', index)) == sorted(
                name.split("/")[1] for name in letters if name.startswith(day.name)
            )
        # At most once more per kill, and only what a killed dispatcher had not recorded:
        # at most one claim's worth (BATCH) per kill.
        repeats = sum(times - 1 for times in delivered.values())
        print(f"{total} notices, {len(kills)} kills, {held} left claimed, {repeats} repeats")
        assert max(delivered.values()) <= 1 + len(kills)
        assert repeats <= BATCH * len(kills)
        # One recorded delivery and one audit event per notice: the attempts a kill cut
        # short left no half-written record.
        assert (
            count(ctx, DELIVERIES) == total == count(ctx, DELIVERIES, DELIVERIES.c.status == "sent")
        )
        assert count(ctx, EVENTS, EVENTS.c.action == "notice.delivery") == total
        assert audit_verify(ctx).intact
    finally:
        ctx.engine.dispose()


# ---------------------------------------------------------------------------------------
# roster import

REGISTER_ROWS = 3000
HEADINGS = ["姓名", "身份证号", "性别", "出生日期", "乡镇", "村"]


def household_register(path: Path, first: int) -> set[str]:
    """A 户籍 register of REGISTER_ROWS children from serial ``first``; their ID numbers."""
    ids = set()
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADINGS)
        for serial in range(first, first + REGISTER_ROWS):
            born = date(2012, 1, 1) + timedelta(days=serial % 900)
            number = make_id_number("520626", born, serial % 997)
            ids.add(number)
            sex = "男" if int(number[16]) % 2 else "女"
            writer.writerow([f"学生{serial}", number, sex, born.isoformat(), "天堂镇", "天堂村"])
    assert len(ids) == REGISTER_ROWS
    return ids


def scratch_folders(root: Path) -> list[Path]:
    return sorted((root / "rosters").glob(".import-*"))


def in_force(ctx: Context) -> tuple[str, set[str]]:
    """The 户籍 snapshot in force: the file it came from, and the ID numbers it holds —
    all of them, as its import row counts them."""
    record = current_imports(ctx)["household"]
    rows = snapshot_rows(ctx, "household")
    assert len(rows) == record.rows_imported == record.rows_total
    return record.file_name, {row.id_number for row in rows}


def test_a_roster_import_killed_at_random_moments_leaves_one_whole_snapshot_in_force(
    workspace: Path, tmp_path: Path, rng: random.Random
) -> None:
    registers = {
        name: household_register(tmp_path / name, first)
        for name, first in (("户籍甲.csv", 0), ("户籍乙.csv", 5000))
    }
    ctx = context(workspace)
    try:
        started = time.monotonic()
        run(caseflow(workspace, "roster", "import", "household", str(tmp_path / "户籍甲.csv")))
        one_import = time.monotonic() - started
        assert in_force(ctx) == ("户籍甲.csv", registers["户籍甲.csv"])
        kills: list[Kill] = []
        previous = "户籍甲.csv"
        for _ in range(ROUNDS):
            new = next(name for name in registers if name != previous)
            command = caseflow(workspace, "roster", "import", "household", str(tmp_path / new))
            # Killed any time from its start to near when an import is done.
            kills.append(
                run_and_kill(command, working=lambda: True, then=rng.uniform(0, 0.9 * one_import))
            )
            name, ids = in_force(ctx)
            assert name in (previous, new), name
            assert ids == registers[name], "a snapshot in force is the whole of one register"
            assert audit_verify(ctx).intact
            previous = name
        assert_killed_while_working(kills, at_least=ROUNDS // 2)
        # The last round's command run again to completion: its register is in force, whole.
        run(command)
        assert in_force(ctx) == (new, registers[new])
        with db.read(ctx.engine) as connection:
            committed = set(connection.execute(select(IMPORTS.c.id)).scalars())
        assert count(ctx, EVENTS, EVENTS.c.action == "roster.import") == len(committed)
        # Of the committed imports' snapshot files, only the one in force is kept.
        record = current_imports(ctx)["household"]
        kept = {path.name for path in (workspace / "rosters").glob("household-*.parquet")}
        files = {snapshot_path(ctx, "household", number).name: number for number in committed}
        assert {files[name] for name in kept if name in files} == {record.id}
        assert audit_verify(ctx).intact
    finally:
        ctx.engine.dispose()


def test_the_next_import_removes_the_scratch_folders_a_killed_import_left(
    workspace: Path, tmp_path: Path, rng: random.Random
) -> None:
    register = tmp_path / "户籍.csv"
    ids = household_register(register, 0)
    command = caseflow(workspace, "roster", "import", "household", str(register))
    for killed in range(2):
        kill = run_and_kill(
            command,
            working=lambda killed=killed: len(scratch_folders(workspace)) > killed,
            then=rng.uniform(0, 0.05),
        )
        assert kill.running
    left = scratch_folders(workspace)
    assert len(left) == 2, "a killed import leaves its scratch folder"
    an_hour_ago = time.time() - 3600
    for folder in left:  # stale by any measure: an hour old, its process long gone
        os.utime(folder, (an_hour_ago, an_hour_ago))
    run(command)
    ctx = context(workspace)
    try:
        assert in_force(ctx) == ("户籍.csv", ids)
    finally:
        ctx.engine.dispose()
    assert scratch_folders(workspace) == []


def test_an_import_killed_between_placing_its_snapshot_and_committing_leaves_no_file_behind(
    workspace: Path, tmp_path: Path, database: Database
) -> None:
    """The snapshot file is renamed into place inside the import's transaction, before the
    commit; killed in between, the file of an import that never was stays in rosters/ —
    a copy of the register's personal data nothing reads or deletes. The next import of
    the source removes it."""
    if database.backend != "postgresql":
        pytest.skip(
            "SQLite's writer lock is taken at BEGIN: no other connection can hold an import "
            "between placing its file and committing"
        )
    registers = {
        name: household_register(tmp_path / name, first)
        for name, first in (("户籍甲.csv", 0), ("户籍乙.csv", 5000))
    }
    ctx = context(workspace)
    try:
        run(caseflow(workspace, "roster", "import", "household", str(tmp_path / "户籍甲.csv")))
        placed = {path.name for path in (workspace / "rosters").glob("household-*.parquet")}
        command = caseflow(workspace, "roster", "import", "household", str(tmp_path / "户籍乙.csv"))
        # Another writer holds the audit chain's head: the import waits in its transaction
        # right after placing its file, when it records its audit event.
        with ctx.engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))

            def placed_its_file() -> bool:
                return any(
                    path.name not in placed
                    for path in (workspace / "rosters").glob("household-*.parquet")
                )

            kill = run_and_kill(command, working=placed_its_file, then=0.1)
            assert kill.running
        assert in_force(ctx) == ("户籍甲.csv", registers["户籍甲.csv"])
        left = {path.name for path in (workspace / "rosters").glob("household-*.parquet")}
        assert len(left - placed) == 1, "the killed import's file is in place, uncommitted"
        run(command)
        assert in_force(ctx) == ("户籍乙.csv", registers["户籍乙.csv"])
        record = current_imports(ctx)["household"]
        kept = {path.name for path in (workspace / "rosters").glob("household-*.parquet")}
        assert kept == {snapshot_path(ctx, "household", record.id).name}
        assert audit_verify(ctx).intact
    finally:
        ctx.engine.dispose()


# ---------------------------------------------------------------------------------------
# The letter channel: a dispatcher killed between writing a letter and filing it


class Killed(BaseException):
    """What the process would have suffered at this point: nothing after it runs."""


@pytest.mark.parametrize("killed_after", ["the day's manifest", "the letter"])
def test_a_letter_of_a_dispatcher_killed_while_writing_it_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_after: str
) -> None:
    """A dispatcher killed while it writes a letter sends the notice again (at least
    once): the same letter replaces its own file, and never lands beside it as
    ``…_2.html`` for the clerk to print and serve twice (before the fix, a kill after the
    letter's file and before the manifest that names it did just that)."""
    from caseflow.notifiers import Notice as Message
    from caseflow.notifiers import letter

    notice = Message(
        key="escalation:0123456789abcdef01234567",
        reference="KC-000007",
        address="",
        subject="控辍保学逾期督办通知（第2级）",
        html="<p>督办通知</p>",
        text="",
        document="控辍保学逾期督办通知",
        cases=(32,),
        role="乡镇长",
        day=date(2026, 11, 29),
    )
    write_whole = letter._write_whole

    def killed_after_the_letter(folder: Path, name: str, text: str) -> None:
        write_whole(folder, name, text)
        if killed_after == "the day's manifest" and name == letter._MANIFEST:
            raise Killed
        if killed_after == "the letter" and name.endswith(".html") and name != letter.INDEX:
            raise Killed

    channel = letter.LetterNotifier({}, {}, tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(letter, "_write_whole", killed_after_the_letter)
        with pytest.raises(Killed):
            channel.send([notice])
    assert [result.ok for result in channel.send([notice])] == [True]
    outbox = tmp_path / "outbox"
    files = [path.name for path in letter.letter_files(outbox)]
    assert files == ["2026-11-29_控辍保学逾期督办通知_案件0032_乡镇长.html"]
    index = (outbox / "2026-11-29" / letter.INDEX).read_text(encoding="utf-8")
    assert index.count(f'href="{files[0]}"') == 1
