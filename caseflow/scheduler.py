"""`caseflow scheduler run`: the foreground process that triggers the periodic work.

This is the only module that imports APScheduler (3.x). APScheduler only *triggers*:
every job is a use case that reads and writes our tables (the sweep, the campaigns), so
its job store stays in memory and nothing is lost when the process stops. There are no
per-case jobs.

- Interval jobs: the escalation sweep, every ``sweep_every``, and the outbox dispatcher,
  every ``[dispatch] dispatch_every_minutes`` (both once at start too).
- Cron jobs from the workspace's ``[scheduler]`` section, in its time zone: the publicity
  letters (by default 08:00 on 1 February and 1 August) and the monthly report (07:00 on
  the 1st). A cron time missed while no scheduler ran is caught up at start when it is
  less than ``CRON_GRACE`` old; the campaigns' idempotency keys make that safe.
- One scheduler per database: a lease row (``caseflow.services.lease``) taken at start,
  renewed by a heartbeat job every third of its time to live, released on exit. A second
  scheduler exits at once (exit 3, naming the holder) or, with ``wait``, waits to take
  over. A holder that crashed stops renewing; its lease runs out and another takes over.
- SIGTERM and SIGINT let the running sweep finish its current batch (the sweep asks
  ``should_stop`` between batches), then the lease is released and ``run`` returns 0.

Jobs run in a small thread pool with ``coalesce=True`` and ``max_instances=1``: a sweep
that outlasts its interval is not started twice, and runs missed in a row collapse into
one.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from caseflow.dates import cn_date
from caseflow.errors import EXIT_OK, EXIT_RETRY, CaseflowError, Retryable, WorkspaceError
from caseflow.i18n import N_, _
from caseflow.services import lease as leases
from caseflow.services.context import Context
from caseflow.services.sweep import DEFAULT_BATCH
from caseflow.workspace import CONFIG_NAME, Workspace

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    from caseflow.services.dispatch import DispatchReport
    from caseflow.services.sweep import SweepReport

Say = Callable[[str], None]

CRON_GRACE = timedelta(hours=24)
"""How late a cron job may still run: after a restart, or when the host was suspended."""
MAX_LEASE_POLL = timedelta(seconds=5)
"""How often a waiting scheduler (``wait=True``) tries to take the lease over."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stdout(message: str) -> None:
    print(message, flush=True)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    sweep_every: timedelta
    lease_ttl: timedelta
    dispatch_every: timedelta
    crons: Mapping[str, str]  # job (workspace setting name) -> crontab; only jobs that are on
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def of(
        cls,
        workspace: Workspace,
        *,
        sweep_every: timedelta | None = None,
        lease_ttl: timedelta | None = None,
        batch_size: int | None = None,
    ) -> Settings:
        """The workspace's ``[scheduler]`` settings, with any given overrides."""
        config = workspace.scheduler
        return cls(
            sweep_every=sweep_every or timedelta(minutes=config.sweep_every_minutes),
            lease_ttl=lease_ttl or timedelta(seconds=config.lease_seconds),
            dispatch_every=sweep_every
            or timedelta(minutes=workspace.dispatch.dispatch_every_minutes),
            crons=config.crons,
            batch_size=batch_size or DEFAULT_BATCH,
        )


# ---------------------------------------------------------------------------------------
# The jobs: each calls a use case and says what it did.


def _publicity_letters(ctx: Context) -> str:
    from caseflow.services.campaigns import queue_publicity_letters

    day = ctx.today
    run = queue_publicity_letters(ctx, day)
    return _(
        "publicity letters for {year}-{month:02d}: {batches} batch(es) printed "
        "({families} families), {before} printed before"
    ).format(
        year=day.year,
        month=day.month,
        batches=len(run.printed),
        families=run.families,
        before=run.already_printed,
    )


def _monthly_report(ctx: Context) -> str:
    from caseflow.services.campaigns import Period, queue_monthly_report

    day = ctx.today
    queued = queue_monthly_report(ctx, day)
    if queued:
        return _("monthly report for {month}: queued").format(month=Period.before(day).label)
    return _("monthly report for {month}: already in the outbox").format(
        month=Period.before(day).label
    )


CRON_JOBS: Mapping[str, Callable[[Context], str]] = {
    "publicity_letters": _publicity_letters,
    "monthly_report": _monthly_report,
}


def _sweep_job(ctx: Context, settings: Settings, stop: threading.Event, say: Say) -> None:
    from caseflow.services.sweep import sweep

    done = 0

    def progress(cases: int) -> None:
        nonlocal done
        done += cases
        if cases == settings.batch_size:  # a full batch: a long sweep, show it moving
            say(_("Sweep under way: {done} cases done").format(done=done))

    report = sweep(ctx, batch_size=settings.batch_size, progress=progress, should_stop=stop.is_set)
    say(sweep_summary(report, stopped=stop.is_set()))


def sweep_summary(report: SweepReport, *, stopped: bool = False) -> str:
    """What one sweep did, in a line."""
    line = _(
        "Sweep as of {day}: {cases} cases swept, {fired} escalation rungs fired, "
        "{timed} automatic transitions, {notices} notices queued"
    ).format(
        day=_day(report.as_of),
        cases=report.cases,
        fired=report.fired,
        timed=report.timed,
        notices=report.notices,
    )
    if stopped:
        line += _("; stopped as asked, the other cases wait for the next sweep")
    return line


def _day(day: date) -> str:
    """A date as a person reads it in the language in use."""
    from caseflow.i18n import is_english

    return day.isoformat() if is_english() else cn_date(day)


def dispatch_summary(report: DispatchReport) -> str:
    """What one dispatch did, in a line."""
    line = _(
        "Dispatch: {sent} sent, {retrying} to retry, {deferred} waiting for a rate-limit "
        "window, {dead} failed"
    ).format(sent=report.sent, retrying=report.retrying, deferred=report.deferred, dead=report.dead)
    if report.routed:
        line += _(" ({routed} routed to their channels this run)").format(routed=report.routed)
    return line


DEAD_HINT = N_("The failed notices and why they failed: caseflow notify status --status dead")


def _dispatch_job(ctx: Context, stop: threading.Event, say: Say, *, always: bool) -> None:
    from caseflow.services.dispatch import dispatch

    report = dispatch(ctx, should_stop=stop.is_set)
    busy = report.routed or report.sent or report.retrying or report.deferred or report.dead
    if busy or always:
        say(dispatch_summary(report))
    if report.dead:
        say(_(DEAD_HINT))


def cron_trigger(name: str, expression: str, zone: ZoneInfo) -> CronTrigger:
    """The trigger for a ``[scheduler]`` cron setting, or a WorkspaceError naming it."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    where = f"{CONFIG_NAME}: scheduler.{name}"
    if len(fields) != 5:
        raise WorkspaceError(
            _(
                "{where} must be a cron expression of 5 fields (minute hour day month "
                "weekday); got {expression!r}"
            ).format(where=where, expression=expression)
        )
    if re.search(r"\d", fields[4]):
        # APScheduler 3 counts weekday 0 as Monday; cron counts 0 (and 7) as Sunday.
        raise WorkspaceError(
            _(
                "{where}: write weekdays by name (mon-fri, sun), not by number, in "
                "{expression!r}: crontab and APScheduler number them differently"
            ).format(where=where, expression=expression)
        )
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise WorkspaceError(
            _("{where}: {expression!r} is not a valid cron expression: {error}").format(
                where=where, expression=expression, error=exc
            )
        ) from None


def missed_fire(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """The first time ``trigger`` fired in the ``grace`` before ``now``, if any."""
    fired: datetime | None = trigger.get_next_fire_time(None, now - grace)
    return fired if fired is not None and fired <= now else None


# ---------------------------------------------------------------------------------------
# Running


@dataclass
class _Run:
    ctx: Context
    settings: Settings
    holder: str
    stop: threading.Event
    say: Say
    warn: Say
    lease_until: datetime | None = None
    lost: bool = False
    failure: int = EXIT_OK
    once: bool = False  # run each interval job once and report each, idle or not
    signals: list[str] = field(default_factory=list)

    def guarded(self, name: str, job: Callable[[], None]) -> Callable[[], None]:
        """A job that reports its failure on stderr instead of raising into APScheduler
        (which would only log it); it runs again at its next time."""

        def run_job() -> None:
            try:
                job()
            except CaseflowError as exc:
                self.failure = self.failure or exc.exit_code
                self.warn(
                    _("Error: {job} failed: {message}").format(
                        job=_job_label(name), message=exc.message
                    )
                )
            except Exception:
                self.failure = self.failure or 1
                self.warn(
                    _("Error: {job} failed:").format(job=_job_label(name))
                    + "\n"
                    + traceback.format_exc().rstrip()
                )

        return run_job

    def heartbeat(self) -> None:
        ttl = self.settings.lease_ttl
        now = self.ctx.now()
        try:
            renewed = leases.renew(self.ctx, self.holder, ttl, now=now)
        except Exception as exc:  # the database is unreachable or busy: retry while we may
            if self.lease_until is not None and now < self.lease_until:
                self.warn(
                    _("Warning: could not renew the lease ({reason}); will retry").format(
                        reason=_reason(exc)
                    )
                )
                return
            self.lost = True
            self.warn(
                _("Error: could not renew the lease before it ran out ({reason})").format(
                    reason=_reason(exc)
                )
            )
            self.stop.set()
            return
        if renewed:
            self.lease_until = now + ttl
            return
        self.lost = True
        self.stop.set()
        try:
            holder = leases.current(self.ctx)
        except Exception:
            holder = None
        if holder and holder.holder != self.holder:
            self.warn(
                _("Error: this scheduler lost its lease to {holder}; stopping").format(
                    holder=holder.holder
                )
            )
        else:
            self.warn(_("Error: this scheduler lost its lease; stopping"))

    def take_lease(self, wait: bool) -> bool:
        """True once the lease is ours; False if told to stop while waiting for it."""
        ttl = self.settings.lease_ttl
        poll = min(ttl / 3, MAX_LEASE_POLL).total_seconds()
        said = False
        while not self.stop.is_set():
            attempt = leases.acquire(self.ctx, self.holder, ttl)
            lease = attempt.lease
            if attempt.taken:
                self.lease_until = lease.expires_at
                self.say(
                    _("lease taken by {holder} until {until}").format(
                        holder=self.holder, until=self._local(lease.expires_at)
                    )
                )
                return True
            held = _("another scheduler ({holder}) holds the lease until {until}").format(
                holder=lease.holder, until=self._local(lease.expires_at)
            )
            if not wait:
                raise Retryable(
                    _(
                        "{held}; stop it first, or start this one with --wait to take over "
                        "when it stops (or, if it crashed, when its lease runs out)"
                    ).format(held=held)
                )
            if not said:
                self.say(_("waiting: {held}").format(held=held))
                said = True
            # Sleep in slices rather than stop.wait(): a signal handler setting the event
            # while this thread holds the event's lock would deadlock.
            deadline = time.monotonic() + poll
            while not self.stop.is_set() and time.monotonic() < deadline:
                time.sleep(min(0.1, poll))
        return False

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.ctx.workspace.timezone).isoformat(timespec="seconds")

    def interval_jobs(self) -> list[tuple[str, timedelta, Callable[[], None]]]:
        """(id, interval, job) of the jobs that run every so often (and once at start)."""
        sweep = self.guarded(
            "sweep", lambda: _sweep_job(self.ctx, self.settings, self.stop, self.say)
        )
        deliver = self.guarded(
            "dispatch", lambda: _dispatch_job(self.ctx, self.stop, self.say, always=self.once)
        )
        return [
            ("sweep", self.settings.sweep_every, sweep),
            ("dispatch", self.settings.dispatch_every, deliver),
        ]

    def cron_job(self, name: str) -> Callable[[], None]:
        use_case = CRON_JOBS[name]

        def job() -> None:
            self.say(use_case(self.ctx))

        return job

    def run_once(self) -> None:
        for _name, _every, job in self.interval_jobs():
            if self.stop.is_set():
                break
            job()
        self.stop.set()

    def schedule(self, triggers: Mapping[str, CronTrigger], once: bool) -> None:
        from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        zone = self.ctx.workspace.timezone
        settings = self.settings
        scheduler = BlockingScheduler(
            timezone=zone,
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        now = datetime.now(zone)
        described: dict[str, str] = {}
        beat = settings.lease_ttl / 3
        scheduler.add_job(
            self.guarded("lease heartbeat", self.heartbeat),
            IntervalTrigger(seconds=beat.total_seconds(), timezone=zone),
            id="lease-heartbeat",
            misfire_grace_time=max(1, int(beat.total_seconds())),
        )
        described["lease-heartbeat"] = _("every {span}").format(span=_span(beat))
        if once:
            # No misfire limit: skipping this job would leave the scheduler running.
            scheduler.add_job(self.run_once, id="once", next_run_time=now, misfire_grace_time=None)
            described["once"] = _("each interval job once, then stop")
        else:
            for job_id, every, job in self.interval_jobs():
                seconds = every.total_seconds()
                scheduler.add_job(
                    job,
                    IntervalTrigger(seconds=seconds, timezone=zone),
                    id=job_id,
                    next_run_time=now,
                    misfire_grace_time=max(1, int(seconds)),
                )
                described[job_id] = _("every {span}, first now").format(span=_span(every))
            for name, trigger in triggers.items():
                extra: dict[str, Any] = {}
                missed = missed_fire(trigger, now, CRON_GRACE)
                if missed is not None:
                    extra["next_run_time"] = now
                scheduler.add_job(
                    self.guarded(name, self.cron_job(name)),
                    trigger,
                    id=name,
                    misfire_grace_time=int(CRON_GRACE.total_seconds()),
                    **extra,
                )
                catch_up = (
                    _("; missed at {moment}, runs now").format(
                        moment=missed.isoformat(timespec="minutes")
                    )
                    if missed
                    else ""
                )
                described[name] = (
                    _("cron {expression!r} ({zone})").format(
                        expression=settings.crons[name], zone=zone.key
                    )
                    + catch_up
                )

        started = threading.Event()

        def on_start(_event: SchedulerEvent) -> None:
            for job in scheduler.get_jobs():
                self.say(
                    _("job {job}: {schedule}; next {moment}").format(
                        job=_job_label(job.id),
                        schedule=described[job.id],
                        moment=_when(job.next_run_time),
                    )
                )
            started.set()

        scheduler.add_listener(on_start, EVENT_SCHEDULER_STARTED)
        threading.Thread(
            target=self._stop_when_told,
            args=(scheduler, started),
            name="caseflow-stop",
            daemon=True,
        ).start()
        scheduler.start()  # blocks until _stop_when_told shuts it down

    def _stop_when_told(self, scheduler: BlockingScheduler, started: threading.Event) -> None:
        self.stop.wait()
        started.wait()
        if self.signals:
            self.say(
                _("{signal} received: finishing the current batch, then stopping").format(
                    signal=self.signals[0]
                )
            )
        # Paused first, so that the main loop submits no job while the executor shuts down.
        scheduler.pause()
        scheduler.shutdown(wait=True)  # waits for the running jobs


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, CaseflowError) else f"{type(exc).__name__}: {exc}"


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return _("{count} min").format(count=minutes)
    return _("{count:g} s").format(count=seconds)


JOB_LABELS: Mapping[str, str] = {
    "sweep": N_("sweep"),
    "dispatch": N_("dispatch"),
    "lease heartbeat": N_("lease heartbeat"),
    "lease-heartbeat": N_("lease-heartbeat"),
    "once": N_("once"),
    "publicity_letters": N_("publicity_letters"),
    "monthly_report": N_("monthly_report"),
}
"""The jobs by id, as a person reads them."""


def _job_label(job: str) -> str:
    return _(JOB_LABELS[job]) if job in JOB_LABELS else job


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


@contextmanager
def _signals_stop(run: _Run) -> Iterator[None]:
    """SIGTERM and SIGINT ask the scheduler to stop (main thread only: Python's rule)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        run.signals.append(signal.Signals(signum).name)
        run.stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(
    ctx: Context,
    settings: Settings,
    *,
    wait: bool = False,
    once: bool = False,
    stop_event: threading.Event | None = None,
    holder: str | None = None,
    say: Say = _stdout,
    warn: Say = _stderr,
) -> int:
    """Run the scheduler in the foreground until ``stop_event`` is set or SIGTERM/SIGINT
    arrives (or, with ``once``, after running each interval job once). Returns the exit
    code: 0, or 3 if the lease was lost to another scheduler (1 or the error's code when
    a job failed under ``once``). Raises ``Retryable`` (exit 3) when another scheduler
    holds the lease and ``wait`` is false."""
    unknown = sorted(set(settings.crons) - set(CRON_JOBS))
    if unknown:
        raise WorkspaceError(
            _("{config}: scheduler.{job} is not a known job").format(
                config=CONFIG_NAME, job=unknown[0]
            )
        )
    zone = ctx.workspace.timezone
    triggers = {
        name: cron_trigger(name, expression, zone) for name, expression in settings.crons.items()
    }
    state = _Run(
        ctx=ctx,
        settings=settings,
        holder=holder or leases.holder_id(),
        stop=stop_event or threading.Event(),
        say=say,
        warn=warn,
        once=once,
    )
    with _signals_stop(state):
        if not state.take_lease(wait):
            say(_("stopped before the lease was free"))
            return EXIT_OK
        try:
            state.schedule(triggers, once)
        finally:
            released = leases.release(ctx, state.holder)
            say(_("lease released; scheduler stopped") if released else _("scheduler stopped"))
    if state.lost:
        return EXIT_RETRY
    return state.failure if once else EXIT_OK
