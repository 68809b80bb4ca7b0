"""When the machine fails under a command — a full disk, an unreachable or read-only
database, a permission the account lacks — the caseworker reads one line saying what
happened and what to do, the command exits 3 and the database is as it was; `--debug`
shows the traceback. The workspace is its owner's only whatever the umask, and
`caseflow doctor` reports what is wrong with a workspace in one place."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from typer.testing import CliRunner

from caseflow import db, i18n
from caseflow.cli import app
from caseflow.cli.doctor import doctor_lines
from caseflow.errors import EnvironmentFailure, WorkspaceError
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.doctor import (
    AUDIT_CHAIN,
    CALENDAR,
    CHANNEL_SERVERS,
    ERROR,
    OK,
    ORGANISATION,
    PERMISSIONS,
    RECIPIENT_CHANNELS,
    WARNING,
    Check,
    examine,
)
from caseflow.services.org import apply_org
from caseflow.workspace import templates
from tests.conftest import (
    CliInvoker,
    Clock,
    Database,
    child_id_number,
    county_today,
    database_rows,
    fixed_clock,
    issuing_org,
    set_order_issuer,
)
from tests.test_audit_tamper import tampering
from tests.test_campaigns import HOUSEHOLD, household_csv
from tests.test_dispatch import overdue_case

SECRET = "TopSecretPW123"


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Path:
    """A SQLite workspace with the issuing organisation in force, its operator the account
    running the tests."""
    root = tmp_path / "county"
    _, operator = init_workspace(root, clock=fixed_clock)
    set_order_issuer(root, "township")
    (root / "org.yaml").write_text(issuing_org(operator), encoding="utf-8")
    context = open_context(root, clock=fixed_clock)
    try:
        apply_org(context)
    finally:
        context.engine.dispose()
    return root


def caseflow(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["-w", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


OPEN_A_CASE = (
    "case",
    "open",
    "--name",
    "张小华",
    "--id-number",
    child_id_number(2),
    "--township",
    "天堂镇",
    "--village",
    "天堂村",
    "--reason",
    "migrant_work",
)


def rows_of(root: Path) -> dict[str, list[tuple[object, ...]]]:
    context = open_context(root, clock=fixed_clock)
    try:
        return database_rows(context)
    finally:
        context.engine.dispose()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every database the commands open is full: SQLite may not grow it by a page
    (``max_page_count`` at its size), and answers as on a full disk (SQLITE_FULL)."""
    make_engine = db.make_engine

    def full(url: str, **settings: str) -> Engine:
        engine = make_engine(url, **settings)

        @event.listens_for(engine, "connect")
        def _no_room(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            cursor.close()

        return engine

    monkeypatch.setattr(db, "make_engine", full)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------------------------------
# A full disk


def test_a_full_disk_while_opening_a_case_says_so_in_one_line_and_changes_nothing(
    sqlite_workspace: Path, request: pytest.FixtureRequest
) -> None:
    before = rows_of(sqlite_workspace)
    request.getfixturevalue("full_disk")
    code, stdout, stderr = caseflow(sqlite_workspace, *OPEN_A_CASE)
    assert code == 3
    line = one_line(stderr)
    assert line.startswith("Error: the disk holding the database ")
    assert str(sqlite_workspace / "caseflow.db") in line
    assert "nothing was changed — free some space on it, then run the command again" in line
    assert stdout == ""
    # The case row and its audit event were written before the disk ran out: both gone.
    assert rows_of(sqlite_workspace) == before


def test_a_full_disk_reads_in_chinese_by_default(sqlite_workspace: Path, full_disk: None) -> None:
    code, _, stderr = caseflow(sqlite_workspace, "--lang", "zh", *OPEN_A_CASE)
    assert code == 3
    assert one_line(stderr).startswith("错误：存放数据库")
    assert "磁盘已满" in stderr and "未作任何更改" in stderr


def test_debug_shows_the_traceback_of_a_full_disk_then_the_line(
    sqlite_workspace: Path, full_disk: None
) -> None:
    code, _, stderr = caseflow(sqlite_workspace, "--debug", *OPEN_A_CASE)
    assert code == 3
    assert "Traceback (most recent call last)" in stderr
    assert "database or disk is full" in stderr
    assert stderr.strip().splitlines()[-1].startswith("Error: the disk holding the database ")


def test_a_full_disk_while_writing_a_file_is_one_line() -> None:
    failure = db.environment_failure(
        OSError(errno.ENOSPC, "No space left on device", "/srv/county/outbox/letter.html")
    )
    assert isinstance(failure, EnvironmentFailure) and failure.exit_code == 3
    assert failure.message == (
        "the disk is full: cannot write /srv/county/outbox/letter.html; free some space on "
        "it, then run the command again"
    )


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB file system of its own (tmpfs), where the test may mount one."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)],
        check=False,
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("this test may not mount a small file system")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill_up(folder: Path) -> Path:
    """Fill the file system holding ``folder`` to the last byte; the filler file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * 4096)
        except OSError as full:
            assert full.errno == errno.ENOSPC
    return filler


def test_a_really_full_disk_under_the_database_is_one_line_and_changes_nothing(
    tiny_filesystem: Path,
) -> None:
    root = tiny_filesystem / "county"
    _, operator = init_workspace(root, clock=fixed_clock)
    (root / "org.yaml").write_text(issuing_org(operator), encoding="utf-8")
    context = open_context(root, clock=fixed_clock)
    try:
        apply_org(context)
    finally:
        context.engine.dispose()
    before = rows_of(root)
    filler = fill_up(tiny_filesystem)
    code, _, stderr = caseflow(root, *OPEN_A_CASE)
    assert code == 3
    assert one_line(stderr) == (
        f"Error: the disk holding the database {root / 'caseflow.db'} is full (or failing); "
        "nothing was changed — free some space on it, then run the command again"
    )
    filler.unlink()
    assert rows_of(root) == before


def test_an_export_to_a_full_disk_is_one_line_and_leaves_no_partial_file(
    sqlite_workspace: Path, tiny_filesystem: Path
) -> None:
    filler = fill_up(tiny_filesystem)
    code, _, stderr = caseflow(
        sqlite_workspace, "audit", "export", "-o", str(tiny_filesystem / "audit.jsonl")
    )
    assert code == 3
    assert one_line(stderr).startswith("Error: the disk is full")
    assert sorted(tiny_filesystem.iterdir()) == [filler]


@pytest.mark.parametrize(
    ("raised", "begins"),
    [
        (sqlite3.OperationalError("database or disk is full"), "the disk holding the database"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "the database "),
        (sqlite3.OperationalError("unable to open database file"), "cannot open the database"),
        (psycopg.errors.DiskFull("could not extend file"), "the database server's disk is full"),
        (psycopg.errors.ReadOnlySqlTransaction("read-only"), "the database "),
        (psycopg.OperationalError("connection failed"), "cannot reach the database server"),
        (PermissionError(errno.EACCES, "Permission denied", "/srv/x"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "/srv/x"), "the file system holding"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/srv/x"), "the disk is full"),
    ],
)
def test_each_failure_of_the_machine_is_one_retryable_line(raised: Exception, begins: str) -> None:
    try:
        raise RuntimeError("a layer above") from raised
    except RuntimeError as wrapped:
        failure = db.environment_failure(wrapped)
    assert isinstance(failure, EnvironmentFailure) and failure.exit_code == 3
    assert failure.message.startswith(begins)
    assert "\n" not in failure.message


@pytest.mark.parametrize(
    "raised",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed"),
        psycopg.errors.UniqueViolation("duplicate key"),
        FileNotFoundError(errno.ENOENT, "No such file", "/srv/x"),
        ValueError("a bug"),
    ],
)
def test_bugs_and_refusals_are_not_taken_for_failures_of_the_machine(raised: Exception) -> None:
    assert db.environment_failure(raised) is None


# ---------------------------------------------------------------------------------------
# An unreachable database


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def point_at(root: Path, url: str) -> None:
    config = root / "caseflow.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("url = "))
    lines[at] = f'url = "{url}"'
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_unreachable_database_is_one_line_exit_3_without_its_password(
    sqlite_workspace: Path,
) -> None:
    port = closed_loopback_port()
    point_at(sqlite_workspace, f"postgresql+psycopg://caseflow:{SECRET}@127.0.0.1:{port}/county")
    code, stdout, stderr = caseflow(sqlite_workspace, "case", "list")
    assert code == 3 and stdout == ""
    assert one_line(stderr) == (
        f"Error: cannot reach the database server postgresql+psycopg://127.0.0.1:{port}/county; "
        "nothing was changed — check that PostgreSQL is running and that [database] url in "
        "caseflow.toml is right, then run the command again"
    )
    debug_code, _, debug = caseflow(sqlite_workspace, "--debug", "case", "list")
    assert debug_code == 3 and "Traceback" in debug and "Connection refused" in debug
    assert SECRET not in stderr + debug


def test_a_read_only_postgresql_server_is_one_line_exit_3_and_changes_nothing(
    database: Database, workspace: Path
) -> None:
    if database.backend != "postgresql" or database.url is None:
        pytest.skip("a PostgreSQL server's read-only mode")
    before = rows_of(workspace)
    # The server answers every write as a standby does (SQLSTATE 25006).
    point_at(workspace, database.url + quote(" -cdefault_transaction_read_only=on"))
    code, _, stderr = caseflow(workspace, "audit", "checkpoint")
    assert code == 3
    line = one_line(stderr)
    assert line.startswith("Error: the database postgresql+psycopg://")
    assert "accepts no changes (a read-only server or standby); nothing was changed" in line
    assert "options" not in line
    assert rows_of(workspace) == before


def test_an_unsupported_database_url_is_refused_without_its_password(
    sqlite_workspace: Path,
) -> None:
    point_at(sqlite_workspace, f"postgres://caseflow:{SECRET}@db.example/county?sslmode=require")
    code, _, stderr = caseflow(sqlite_workspace, "case", "list")
    assert code == 2
    assert one_line(stderr) == (
        "Error: unsupported database URL postgres://db.example/county; use sqlite:///FILE or "
        "postgresql+psycopg://USER@HOST/DB"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:pw@h:5432/d?password=pw", "postgresql+psycopg://h:5432/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://h/d"),
        ("sqlite:////srv/county/caseflow.db", "sqlite:////srv/county/caseflow.db"),
    ],
)
def test_database_urls_are_named_without_credentials(url: str, shown: str) -> None:
    assert db.safe_url(url) == shown


# ---------------------------------------------------------------------------------------
# A read-only database, a workspace this account may not use


def as_unprivileged(root: Path, *args: str) -> tuple[int, str, str]:
    """`caseflow -w ROOT ...` in a process that file permissions bind: as root, without
    the capabilities that override them (setpriv); as anyone else, as they are."""
    command = [sys.executable, "-m", "caseflow.cli", "-w", str(root), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file permissions cannot bind")
        dropped = "-dac_override,-dac_read_search,-fowner"
        command = [setpriv, "--bounding-set", dropped, "--inh-caps", dropped, *command]
    environment = {**os.environ, "CASEFLOW_LANG": "en"}
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, env=environment, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def checkpointed(sqlite_workspace: Path) -> Iterator[Path]:
    """The workspace, with permissions put back after the test."""
    yield sqlite_workspace
    for path in [sqlite_workspace, *sqlite_workspace.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def test_a_read_only_database_file_is_one_line_exit_3_and_changes_nothing(
    checkpointed: Path,
) -> None:
    before = rows_of(checkpointed)
    (checkpointed / "caseflow.db").chmod(0o400)
    code, _, stderr = as_unprivileged(checkpointed, "audit", "checkpoint")
    assert code == 3
    line = one_line(stderr)
    assert str(checkpointed / "caseflow.db") in line
    assert line == (
        f"Error: the database {checkpointed / 'caseflow.db'} is read-only for this account; "
        "nothing was changed — give this account write permission on the file and its "
        "folder (the workspace admin can), then run the command again"
    )
    (checkpointed / "caseflow.db").chmod(0o600)
    assert rows_of(checkpointed) == before


def test_a_read_only_workspace_folder_is_one_line_exit_3(checkpointed: Path) -> None:
    before = rows_of(checkpointed)
    checkpointed.chmod(0o500)
    code, _, stderr = as_unprivileged(checkpointed, "audit", "checkpoint")
    checkpointed.chmod(0o700)
    assert code == 3
    assert "this account" in one_line(stderr)
    assert rows_of(checkpointed) == before


def test_a_workspace_this_account_may_not_read_is_one_line_exit_3(checkpointed: Path) -> None:
    (checkpointed / "caseflow.toml").chmod(0o000)
    code, _, stderr = as_unprivileged(checkpointed, "case", "list")
    assert code == 3
    assert one_line(stderr) == (
        f"Error: permission denied: this account may not use {checkpointed / 'caseflow.toml'}; "
        "ask the workspace admin to give it access (the workspace belongs to the account "
        "that runs caseflow), then run the command again"
    )


# ---------------------------------------------------------------------------------------
# File permissions


@pytest.fixture
def loose_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def modes(root: Path) -> dict[str, str]:
    """Each path under ``root`` (and root itself) with its permission bits."""
    return {
        str(path.relative_to(root.parent)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in [root, *sorted(root.rglob("*"))]
    }


def test_with_umask_022_every_workspace_folder_and_file_is_its_owners_only(
    tmp_path: Path, loose_umask: None
) -> None:
    root = tmp_path / "county"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    os.umask(0o022)  # each command starts under the account's loose umask
    (tmp_path / "imports").mkdir()
    register = household_csv(tmp_path / "imports", HOUSEHOLD)
    with register.open("a", encoding="utf-8") as rows:  # one row to reject: a wrong ID
        rows.write("错行,520626201303050000,女,2013-03-05,天堂镇,天堂村,某某,13800000000\n")
    imported = runner.invoke(app, ["-w", str(root), "roster", "import", "household", str(register)])
    assert imported.exit_code == 0, imported.stderr
    os.umask(0o022)
    engine = db.make_engine(f"sqlite:///{root / 'caseflow.db'}")  # WAL and shared memory
    try:
        with db.read(engine) as connection:
            connection.execute(text("SELECT 1 FROM case_file"))
            found = modes(root)
    finally:
        engine.dispose()
    assert {"county/caseflow.db-wal", "county/caseflow.db-shm"} <= set(found)
    assert any(name.endswith(".parquet") for name in found)
    assert any(name.startswith("county/rejects/") for name in found), found
    loose = {name: mode for name, mode in found.items() if int(mode, 8) & 0o077}
    assert loose == {}


def test_with_umask_022_letters_in_the_outbox_and_exports_are_their_owners_only(
    workspace: Path, ctx: Context, cli: CliInvoker, tmp_path: Path, loose_umask: None
) -> None:
    overdue_case(ctx)
    for command in (("escalate",), ("notify", "dispatch")):
        os.umask(0o022)
        done = cli(*command)
        assert done.exit_code == 0, done.stderr
    os.umask(0o022)
    (tmp_path / "exports").mkdir()
    export = tmp_path / "exports" / "audit.jsonl"
    assert cli("audit", "export", "-o", str(export)).exit_code == 0
    found = modes(workspace)
    letters = [name for name in found if name.startswith("county/outbox/") and "." in name]
    assert letters, found
    loose = {name: mode for name, mode in found.items() if int(mode, 8) & 0o077}
    assert loose == {}
    assert stat.S_IMODE(export.stat().st_mode) == 0o600


def test_init_into_an_existing_open_folder_makes_it_its_owners_only(
    tmp_path: Path, loose_umask: None
) -> None:
    root = tmp_path / "county"
    root.mkdir(mode=0o755)
    init_workspace(root, clock=fixed_clock)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


# ---------------------------------------------------------------------------------------
# caseflow doctor


def find(checks: tuple[Check, ...], name: str) -> Check:
    return next(check for check in checks if check.name == name)


def all_good(root: Path, operator: str, year: int) -> None:
    """Every recipient with a channel of its own, and this year's and next year's calendar
    declared complete in holidays.yaml."""
    contacts = (
        "contacts:\n  education_bureau: [{channel: letter}]\n  township: [{channel: letter}]\n"
    )
    (root / "org.yaml").write_text(issuing_org(operator, more=contacts), encoding="utf-8")
    context = open_context(root, clock=fixed_clock)
    try:
        apply_org(context)
    finally:
        context.engine.dispose()
    (root / "holidays.yaml").write_text(f"complete_years: [{year}, {year + 1}]\n", encoding="utf-8")


def test_doctor_on_a_healthy_workspace_reports_every_check_ok_and_exits_0(
    sqlite_workspace: Path,
) -> None:
    operator = open_context(sqlite_workspace).actor.operator
    all_good(sqlite_workspace, operator, county_today().year)
    code, stdout, _ = caseflow(sqlite_workspace, "doctor")
    assert code == 0, stdout
    lines = stdout.splitlines()
    assert lines[0].split() == ["Check", "Status", "Finding"]
    for name in ("File permissions", "Audit chain", "Working-day calendar", "Channel settings"):
        assert any(line.startswith(name) and "  OK  " in line for line in lines), stdout
    assert lines[-1] == "All checks passed."
    chinese = caseflow(sqlite_workspace, "--lang", "zh", "doctor")[1]
    assert "文件权限" in chinese and "正常" in chinese and "所有检查均已通过。" in chinese


def test_doctor_reports_loose_permissions_and_fix_tightens_them(
    sqlite_workspace: Path, loose_umask: None
) -> None:
    (sqlite_workspace / "org.yaml").chmod(0o644)
    (sqlite_workspace / "outbox").chmod(0o755)
    code, stdout, _ = caseflow(sqlite_workspace, "doctor")
    assert code == 1
    row = next(line for line in stdout.splitlines() if line.startswith("File permissions"))
    assert "Error" in row and "2 folders and files others may read or write" in row
    assert "caseflow doctor --fix" in stdout
    chinese = caseflow(sqlite_workspace, "--lang", "zh", "doctor")[1]
    assert "错误" in chinese and "caseflow doctor --fix" in chinese

    fixed = caseflow(sqlite_workspace, "doctor", "--fix")[1]
    assert "2 folders and files were open to others; now their owner's only" in fixed
    assert stat.S_IMODE((sqlite_workspace / "org.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((sqlite_workspace / "outbox").stat().st_mode) == 0o700
    check = find(examine(open_context(sqlite_workspace)).checks, PERMISSIONS)
    assert check.status == OK


def test_doctor_reports_files_another_account_made_in_the_workspace(
    sqlite_workspace: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root may give a file to another account")
    stray = sqlite_workspace / "outbox" / "made-by-another-account.html"
    stray.write_text("<p></p>", encoding="utf-8")
    os.chown(stray, 65534, 65534)
    context = open_context(sqlite_workspace)
    try:
        check = find(examine(context).checks, PERMISSIONS)
    finally:
        context.engine.dispose()
    assert check.status == ERROR
    assert check.finding == (f"1 folders and files belong to another account than root: {stray}")
    assert check.advice.startswith("give them back to the workspace's owner (chown -R root ")


def test_doctor_reports_a_broken_audit_chain(workspace: Path, ctx: Context) -> None:
    assert find(examine(ctx).checks, AUDIT_CHAIN).status == OK
    with tampering(workspace) as connection:
        connection.execute(text("UPDATE audit_event SET operator = 'someone_else' WHERE seq = 1"))
    check = find(examine(ctx).checks, AUDIT_CHAIN)
    assert check.status == ERROR
    assert check.finding.startswith("broken at event 1: ")
    assert "caseflow audit verify" in check.advice


def test_doctor_warns_when_next_years_calendar_is_missing_and_fails_for_this_years(
    ctx: Context,
) -> None:
    # The tests' national calendar ends with 2026; the fixed clock is in November 2026.
    check = find(examine(ctx).checks, CALENDAR)
    assert check.status == WARNING
    assert check.finding == (
        "next year (2027) has no holiday calendar yet: its deadlines are provisional"
    )
    assert "pip install -U chinese-calendar" in check.advice
    in_2027 = Clock()
    in_2027.advance(days=40)
    check = find(examine(replace(ctx, clock=in_2027)).checks, CALENDAR)
    assert check.status == ERROR and "this year (2027)" in check.finding
    (ctx.workspace.holiday_file).write_text("complete_years: [2027, 2028]\n", encoding="utf-8")
    declared = open_context(ctx.workspace.root, clock=in_2027)
    try:
        assert find(examine(declared).checks, CALENDAR).status == OK
    finally:
        declared.engine.dispose()


def test_doctor_reports_channels_without_settings_and_recipients_without_channels(
    workspace: Path,
) -> None:
    context = open_context(workspace, clock=fixed_clock)
    operator = context.actor.operator
    contacts = (
        "contacts:\n  township: [{channel: email, address: kc@tiantang.gov.cn}]\n"
        "default:\n  - {channel: letter}\n"
    )
    (workspace / "org.yaml").write_text(issuing_org(operator, more=contacts), encoding="utf-8")
    apply_org(context)
    checks = examine(context).checks
    servers = find(checks, CHANNEL_SERVERS)
    assert servers.status == ERROR
    assert servers.finding == "email: no server set (no [notifiers.email] in caseflow.toml)"
    recipients = find(checks, RECIPIENT_CHANNELS)
    assert recipients.status == WARNING
    assert recipients.finding == (
        "1 units have no channel of their own and get the default (letter): 本县教育局"
    )
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[notifiers.email]\nhost = "127.0.0.1"\npassword_env = "CASEFLOW_DOCTOR_UNSET"\n',
        encoding="utf-8",
    )
    reopened = open_context(workspace, clock=fixed_clock)
    try:
        servers = find(examine(reopened).checks, CHANNEL_SERVERS)
    finally:
        reopened.engine.dispose()
        context.engine.dispose()
    assert servers.status == ERROR
    assert servers.finding == (
        "email: environment variable CASEFLOW_DOCTOR_UNSET (password_env) is not set"
    )


@pytest.mark.bare_workspace
def test_doctor_fails_while_no_organisation_is_in_force(ctx: Context) -> None:
    check = find(examine(ctx).checks, ORGANISATION)
    assert check.status == ERROR
    assert "caseflow org apply" in check.advice


def test_doctor_warns_of_org_edits_not_in_force_and_fails_when_they_have_problems(
    workspace: Path, ctx: Context
) -> None:
    assert find(examine(ctx).checks, ORGANISATION).status == OK
    org_file = workspace / "org.yaml"
    org_file.write_text(org_file.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = find(examine(ctx).checks, ORGANISATION)
    assert (
        edited.status == WARNING
        and edited.advice == "run `caseflow org apply` to put them in force"
    )
    org_file.write_text("units: 3\n", encoding="utf-8")
    broken = find(examine(ctx).checks, ORGANISATION)
    assert broken.status == ERROR and "caseflow org check" in broken.advice


def test_the_doctor_report_is_a_table_with_what_to_do_under_each_problem() -> None:
    from caseflow.services.doctor import Report

    report = Report(
        (
            Check(PERMISSIONS, OK, "fine"),
            Check(CALENDAR, WARNING, "next year missing", "upgrade"),
        )
    )
    i18n.set_language("en")
    try:
        assert doctor_lines(report) == [
            "Check                 Status   Finding",
            "File permissions      OK       fine",
            "Working-day calendar  Warning  next year missing",
            "                               What to do: upgrade",
            "0 errors, 1 warnings.",
        ]
    finally:
        i18n.set_language(None)


def test_a_workspace_error_is_still_exit_2_not_an_environment_failure(tmp_path: Path) -> None:
    code, _, stderr = caseflow(tmp_path / "nowhere", "case", "list")
    assert code == 2 and "no caseflow workspace" in one_line(stderr)
    assert db.environment_failure(WorkspaceError("bad config")) is None


# ---------------------------------------------------------------------------------------
# The files of a new workspace, commented in the reader's language


def settings_of(text: str) -> list[str]:
    """The lines that are not comments (what the program reads)."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_chinese_and_english_workspace_files_hold_the_same_settings() -> None:
    english, chinese = templates(english=True), templates(english=False)
    for in_english, in_chinese in zip(english, chinese, strict=True):
        assert settings_of(in_chinese) == settings_of(in_english)
        assert in_chinese != in_english
    # Each commented-out example setting is offered in both.
    for in_english, in_chinese in zip(english, chinese, strict=True):
        examples = {line for line in in_english.splitlines() if re.match(r"# \w+ = ", line)}
        assert examples <= set(in_chinese.splitlines())


def test_a_workspace_made_in_chinese_has_chinese_comments_and_works(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--lang", "zh", "init", str(tmp_path / "county")])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "county" / "caseflow.toml").read_text(encoding="utf-8")
    assert config.startswith("# caseflow 工作区配置。")
    assert "本县自己的日历" in (tmp_path / "county" / "holidays.yaml").read_text(encoding="utf-8")
    checked = CliRunner().invoke(app, ["-w", str(tmp_path / "county"), "org", "check"])
    assert checked.exit_code == 0, checked.output
    assert caseflow(tmp_path / "county", "case", "list")[0] == 0
