"""The scheduler: one per database through a lease, a clean stop on SIGTERM/SIGINT that
finishes the current batch, `--once`, cron jobs caught up after a restart, and its
settings in caseflow.toml. Real subprocesses where processes meet."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update

from caseflow import db, scheduler
from caseflow.errors import WorkspaceError
from caseflow.models import Escalation, Notice, SchedulerLease
from caseflow.services import lease as lease_service
from caseflow.services.audit import audit_verify
from caseflow.services.cases import open_case, show_case
from caseflow.services.context import Context
from caseflow.workspace import SchedulerConfig, load
from tests.conftest import child, county_today

REPO = Path(__file__).resolve().parents[1]
ESCALATION = Escalation.__table__  # type: ignore[attr-defined]
NOTICE = Notice.__table__  # type: ignore[attr-defined]
LEASE = SchedulerLease.__table__  # type: ignore[attr-defined]
T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
QUICK = timedelta(seconds=3)


class Scheduler:
    """`python cli.py -w WORKSPACE scheduler run ...` in a subprocess, its output read as
    it comes."""

    def __init__(self, workspace: Path, *args: str) -> None:
        command = [sys.executable, str(REPO / "cli.py"), "-w", str(workspace)]
        command += ["scheduler", "run", "--lease-seconds", "3", "--sweep-every", "3600", *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def holder(self) -> str:
        return f"{os.uname().nodename}:{self.process.pid}"

    def wait_for(self, fragment: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.process.kill()
                pytest.fail(f"no {fragment!r} in output:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if fragment in line:
                return line

    def finish(self, timeout: float = 15) -> tuple[int, str, str]:
        """Exit code, the rest of stdout, stderr."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        assert self.process.stderr is not None
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        self.seen += rest
        return code, "\n".join(self.seen), self.process.stderr.read()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        return self.finish()


@pytest.fixture
def started() -> Iterator[list[Scheduler]]:
    """Schedulers a test starts; any still running at the end are killed."""
    running: list[Scheduler] = []
    yield running
    for each in running:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


def lease_row(ctx: Context) -> lease_service.Lease | None:
    return lease_service.current(ctx)


def assert_released(ctx: Context, holder: str) -> None:
    lease = lease_row(ctx)
    assert lease is not None and lease.holder == holder
    assert lease.expires_at <= datetime.now(UTC)


def escalations_by_case(ctx: Context) -> dict[int, int]:
    with db.read(ctx.engine) as connection:
        rows = connection.execute(
            select(ESCALATION.c.case_id, func.count()).group_by(ESCALATION.c.case_id)
        ).all()
    return {row[0]: row[1] for row in rows}


def overdue_cases(ctx: Context, count: int) -> None:
    """Many cases in `identified`, overdue since October (three rungs due each): the first
    through the service, the rest copied in SQL."""
    first = open_case(ctx, child(0), occurred_on=date(2026, 10, 1)).number
    columns = (
        "workflow, workflow_version, state, entered_on, due_on, due_provisional, version, "
        "is_open, opened_on, last_event_on, source, reasons, counters, facts, departments, "
        "repeat_count, deadline_from, extended_days, ladder_version, next_rung, "
        "next_action_on, township, village, school, created_at"
    )
    with db.write(ctx.engine) as connection:
        for serial in range(1, count):
            child_id = connection.execute(
                text(
                    "INSERT INTO child (id_number, name, sex, birth_date, township, village) "
                    "VALUES (:id, :name, '女', :birth, '天堂镇', '天堂村') RETURNING id"
                ),
                {"id": child(serial).id_number, "name": f"学生{serial}", "birth": date(2013, 3, 5)},
            ).scalar_one()
            connection.execute(
                text(
                    f"INSERT INTO case_file (child_id, {columns}) "
                    f"SELECT :child, {columns} FROM case_file WHERE id = :first"
                ),
                {"child": child_id, "first": first},
            )


# ---------------------------------------------------------------------------------------
# The lease


def test_a_lease_is_held_until_it_expires_or_is_released_and_a_lost_one_cannot_be_renewed(
    ctx,
) -> None:
    ttl = timedelta(seconds=60)
    first = lease_service.acquire(ctx, "host-a:1", ttl, now=T0)
    assert first.taken and first.lease.expires_at == T0 + ttl
    held = lease_service.acquire(ctx, "host-b:2", ttl, now=T0 + timedelta(seconds=30))
    assert not held.taken and held.lease.holder == "host-a:1"
    assert held.lease.expires_at == T0 + ttl
    assert lease_service.renew(ctx, "host-a:1", ttl, now=T0 + timedelta(seconds=40))
    assert not lease_service.acquire(ctx, "host-b:2", ttl, now=T0 + timedelta(seconds=61)).taken
    # host-a crashes: nobody renews; once the lease runs out host-b takes over.
    later = T0 + timedelta(seconds=101)
    taken = lease_service.acquire(ctx, "host-b:2", ttl, now=later)
    assert taken.taken and taken.lease.acquired_at == later
    assert not lease_service.renew(ctx, "host-a:1", ttl, now=later)
    assert not lease_service.release(ctx, "host-a:1", now=later)
    # A clean stop hands over at once.
    assert lease_service.release(ctx, "host-b:2", now=later + timedelta(seconds=1))
    assert lease_service.acquire(ctx, "host-a:1", ttl, now=later + timedelta(seconds=2)).taken


# ---------------------------------------------------------------------------------------
# Two schedulers on one database


def test_of_two_schedulers_started_at_once_one_runs_and_the_other_exits_3_naming_it(
    workspace, ctx, started
) -> None:
    started += [Scheduler(workspace), Scheduler(workspace)]
    deadline = time.monotonic() + 20
    while all(each.process.poll() is None for each in started):
        assert time.monotonic() < deadline, "one of the two should have given up"
        time.sleep(0.05)
    loser = next(each for each in started if each.process.poll() is not None)
    winner = next(each for each in started if each is not loser)
    code, _out, err = loser.finish()
    assert code == 3
    assert f"Error: another scheduler ({winner.holder}) holds the lease until" in err
    assert "--wait" in err
    winner.wait_for("lease taken")
    lease = lease_row(ctx)
    assert lease is not None and lease.holder == winner.holder
    code, out, _err = winner.stop()
    assert code == 0 and "lease released" in out
    assert_released(ctx, winner.holder)


def test_with_wait_the_second_scheduler_takes_over_when_the_first_stops(
    workspace, ctx, started
) -> None:
    first = Scheduler(workspace)
    started.append(first)
    first.wait_for("lease taken")
    second = Scheduler(workspace, "--wait")
    started.append(second)
    second.wait_for(f"waiting: another scheduler ({first.holder}) holds the lease")
    assert first.stop()[0] == 0
    second.wait_for(f"lease taken by {second.holder}", timeout=10)
    second.wait_for("Sweep as of ")
    code, _out, err = second.stop(signal.SIGINT)
    assert code == 0, err
    assert_released(ctx, second.holder)
    assert audit_verify(ctx).intact


# ---------------------------------------------------------------------------------------
# Stopping


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_current_batch_releases_the_lease_and_exits_0(
    workspace, ctx, started, sig
) -> None:
    cases = 300
    overdue_cases(ctx, cases)
    running = Scheduler(workspace, "--batch-size", "1")
    started.append(running)
    running.wait_for("Sweep under way: 3 cases done")
    began = time.monotonic()
    code, out, err = running.stop(sig)
    assert code == 0, err
    assert time.monotonic() - began < 5
    assert f"{sig.name} received: finishing the current batch, then stopping" in out
    summary = next(line for line in out.splitlines() if line.startswith("Sweep as of "))
    assert "; stopped as asked, the other cases wait for the next sweep" in summary
    assert err == ""
    fired = escalations_by_case(ctx)
    assert 3 <= len(fired) < cases  # stopped part way ...
    assert set(fired.values()) == {3}  # ... between batches: every swept case is whole
    assert_released(ctx, running.holder)
    # The cases were copied in SQL without events, so only the chain can be intact.
    assert audit_verify(ctx).chain_intact


def test_once_runs_one_sweep_whose_effects_are_visible_then_releases_the_lease(cli, ctx) -> None:
    number = open_case(ctx, child(), occurred_on=date(2026, 10, 1)).number
    result = cli("scheduler", "run", "--once")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("lease taken by ")
    assert any(line.startswith("job once: each interval job once") for line in lines)
    today = county_today()
    assert (
        f"Sweep as of {today.isoformat()}: 1 cases swept, 3 escalation rungs fired, "
        "0 automatic transitions, 5 notices queued"
    ) in lines
    assert (
        "Dispatch: 5 sent, 0 to retry, 0 waiting for a rate-limit window, 0 failed "
        "(5 routed to their channels this run)"
    ) in lines
    assert lines[-1] == "lease released; scheduler stopped"
    assert [e["level"] for e in show_case(ctx, number)["escalations"]] == [1, 2, 3]
    with db.read(ctx.engine) as connection:
        assert connection.execute(select(func.count()).select_from(NOTICE)).scalar_one() == 5
    lease = lease_row(ctx)
    assert lease is not None and lease.expires_at <= datetime.now(UTC)
    again = cli("--lang", "zh", "scheduler", "run", "--once")
    assert (
        again.stdout.startswith("调度租约由 ")
        and "任务“单次运行”：各定时任务各运行一次后停止" in again.stdout
    )
    assert (
        f"逾期巡查（截至{today.year}年{today.month}月{today.day}日）：巡查案件0件，"
        "发出督办0级次，自动流转0次，生成通知0份"
    ) in again.stdout.splitlines()
    assert again.stdout.splitlines()[-1] == "已释放调度租约，调度进程已停止"
    # An idle dispatch is reported too: --once says what each job did, nothing included.
    assert "通知投递：送达0份，待重试0份，等待限流窗口0份，投递失败0份" in again.stdout.splitlines()
    assert audit_verify(ctx).intact


def test_a_scheduler_that_loses_its_lease_stops_with_exit_3(ctx) -> None:
    said: list[str] = []
    warned: list[str] = []
    outcome: list[int] = []
    settings = scheduler.Settings(timedelta(hours=1), QUICK, timedelta(hours=1), {})
    thread = threading.Thread(
        target=lambda: outcome.append(
            scheduler.run(ctx, settings, holder="here:1", say=said.append, warn=warned.append)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not any(line.startswith("Sweep as of ") for line in said):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with db.write(ctx.engine) as connection:  # another scheduler took over meanwhile
        connection.execute(update(LEASE).values(holder="there:2"))
    thread.join(timeout=10)
    assert outcome == [3]
    assert "Error: this scheduler lost its lease to there:2; stopping" in warned
    assert said[-1] == "scheduler stopped"
    lease = lease_row(ctx)
    assert lease is not None and lease.holder == "there:2"


# ---------------------------------------------------------------------------------------
# Cron jobs


def test_a_cron_time_missed_while_no_scheduler_ran_is_caught_up_at_start(ctx) -> None:
    past = datetime.now(ctx.workspace.timezone) - timedelta(minutes=2)
    expression = f"{past.minute} {past.hour} {past.day} {past.month} *"
    settings = scheduler.Settings(
        timedelta(hours=1), QUICK, timedelta(hours=1), {"monthly_report": expression}
    )
    stop = threading.Event()
    said: list[str] = []
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            scheduler.run(ctx, settings, stop_event=stop, say=said.append, warn=said.append)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not any(line.startswith("monthly report for") for line in said):
        assert time.monotonic() < deadline, said
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    assert outcome == [0]
    job = next(line for line in said if line.startswith("job monthly_report:"))
    assert f"cron '{expression}' (Asia/Shanghai); missed at" in job and "runs now" in job
    assert "monthly report for 2026-10: queued" in said  # the fixed clock's last month
    with db.read(ctx.engine) as connection:
        keys = connection.execute(select(NOTICE.c.key)).scalars().all()
    assert keys == ["monthly-report:2026-10"]


def test_cron_jobs_run_in_the_workspace_time_zone_on_the_default_days() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    defaults = SchedulerConfig()
    letters = scheduler.cron_trigger("publicity_letters", defaults.publicity_letters, zone)
    report = scheduler.cron_trigger("monthly_report", defaults.monthly_report, zone)
    after = datetime(2026, 11, 29, 12, 0, tzinfo=zone)
    assert letters.get_next_fire_time(None, after) == datetime(2027, 2, 1, 8, 0, tzinfo=zone)
    next_letters = datetime(2027, 2, 1, 8, 1, tzinfo=zone)
    assert letters.get_next_fire_time(None, next_letters) == datetime(2027, 8, 1, 8, tzinfo=zone)
    assert report.get_next_fire_time(None, after) == datetime(2026, 12, 1, 7, 0, tzinfo=zone)
    assert scheduler.missed_fire(report, datetime(2026, 12, 1, 9, tzinfo=zone), timedelta(1))
    assert not scheduler.missed_fire(report, datetime(2026, 12, 3, 9, tzinfo=zone), timedelta(1))


# ---------------------------------------------------------------------------------------
# Settings


def test_new_workspaces_carry_the_scheduler_settings_with_their_defaults(workspace) -> None:
    text_ = (workspace / "caseflow.toml").read_text(encoding="utf-8")
    assert "[scheduler]" in text_ and 'publicity_letters = "0 8 1 2,8 *"' in text_
    config = load(workspace).scheduler
    assert config == SchedulerConfig()
    assert config.crons == {"publicity_letters": "0 8 1 2,8 *", "monthly_report": "0 7 1 * *"}


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("lease_seconds = 1", "scheduler.lease_seconds must be a whole number of seconds"),
        ("sweep_every_minutes = 0", "scheduler.sweep_every_minutes must be a number"),
        ('monthly_report = "0 7 1 *"', "scheduler.monthly_report must be a cron expression"),
        ("sweep_every = 5", "scheduler.sweep_every is not a setting"),
    ],
    ids=["lease-too-short", "no-interval", "four-fields", "unknown-key"],
)
def test_a_bad_scheduler_setting_is_named(workspace, setting, complaint) -> None:
    set_scheduler(workspace, setting)
    with pytest.raises(WorkspaceError, match=complaint):
        load(workspace)


def set_scheduler(workspace: Path, setting: str) -> None:
    """Put ``key = value`` in [scheduler], replacing the template's line for that key."""
    config = workspace / "caseflow.toml"
    key = setting.split("=", maxsplit=1)[0].strip()
    lines = [
        line
        for line in config.read_text(encoding="utf-8").splitlines()
        if line.split("=")[0].strip() != key
    ]
    lines.insert(lines.index("[scheduler]") + 1, setting)
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_empty_cron_setting_turns_that_job_off(workspace) -> None:
    set_scheduler(workspace, 'publicity_letters = ""')
    assert load(workspace).scheduler.crons == {"monthly_report": "0 7 1 * *"}


def test_a_numbered_weekday_is_refused_because_apscheduler_counts_from_monday(
    cli, workspace
) -> None:
    set_scheduler(workspace, 'monthly_report = "0 7 * * 1"')
    result = cli("scheduler", "run", "--once")
    assert result.exit_code == 2
    assert "scheduler.monthly_report: write weekdays by name (mon-fri, sun)" in result.stderr
