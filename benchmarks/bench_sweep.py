"""The sweep at scale: finding due work, escalations per second, growth with the number of
cases, and peak memory.

Measured on SQLite, in workspaces made by `init_workspace` (WAL, synchronous as the
workspace default, FULL):

- ``sweep_find_due``: finding the due cases the way the sweep does
  (`sweep_service.find_due`, batches of `DEFAULT_BATCH`, keyset paging on
  ``(next_action_on, id)``) against the same pages written by hand as SQL on the driver,
  in the same run, rounds alternating, medians compared (target <= 2). The JSON also
  gives the single unpaged bare query, the whole dry-run sweep and the query plan.
- ``sweep_rate``: escalations recorded per second by a real `sweep_service.sweep` over all
  the due cases, against a floor measured in the same run on another copy of the same
  database: the very escalation, audit and notice rows that sweep wrote, and its ladder
  moves, written by hand-written SQL on the driver in batches of the same size, one
  transaction each (target rate / floor >= 0.5). Also: notices queued, audit events written
  (the chain is verified afterwards, the floor's too), the recount of provisional
  deadlines every real sweep starts with (timed on its own, with its query plan: nothing to
  recount, and the look-up must not grow with the cases), and the memory of the sweep for
  two numbers of due cases (one subprocess per sweep: tracemalloc peak, resident set
  growth, ru_maxrss), with the ratio of the tracemalloc peaks (flat means ~1).
  ``sweep_rate_postgresql``: the same on PostgreSQL when CASEFLOW_BENCH_PG_URL (or
  CASEFLOW_TEST_PG_URL) names a server: each workspace gets a database of its own there,
  every sweep and floor a fresh copy (CREATE DATABASE ... TEMPLATE), and the floor's page
  of due cases is locked FOR UPDATE SKIP LOCKED as the sweep claims it (no memory probe).
- ``sweep_growth_december`` and ``sweep_growth_midyear``: the same number of due cases among
  a small and a large number of cases; sweep time large / small (target <= 1.5), on both
  pinned days.
When a target is missed, the JSON carries the top functions of a cProfile run.

The days. Every workspace is generated for, and swept with its clock stopped on, a pinned
day: 16 December of the last year the installed national calendar covers (the deadlines
of the cases not yet due then reach into a year without data, so about half of them are
provisional) and 16 June of that year (none are). ``sweep_find_due`` and ``sweep_rate``
use the December day; ``sweep_growth`` measures both, every run.

The data. Each workspace gets one case opened through `open_case` (so the workflow
definition row exists and a realistic case row can be copied), then children and open
cases are bulk-inserted with Core `insert(...)` executemany, 10k rows a statement and 100k
a transaction. Every bulk case waits in `persuasion` (township ladder: rung 0 on the due
day, rung 1 three working days later, rung 2 seven). Due cases are spread evenly through
the table; each is due on one of the last three working days up to today (W1 < W2 < W3),
on rung 0 (60%: a per-case `deadline_reminder` notice), rung 1 (25%) or rung 2 (15%: one
`escalation_notice` per recipient and batch listing its cases), so a sweep as of any of
those days fires exactly one rung per due case. `next_rung` and `next_action_on` are
computed by `escalation.next_action_on` and checked with `escalation.due_work`. The other
cases fall due on one of the next 30 days. A sweep as of W1 sees the first tier of due
cases only, so one million-case database serves (a), (b), the memory probe and the large
side of (c). Generated workspaces live in a temporary folder for the run (set
CASEFLOW_BENCH_SWEEP_CACHE to a folder to keep and reuse them while the calendar's coverage
stays the same); every sweep runs on a fresh copy, flushed to disk first. The full size builds
1.1M cases for each pinned day (about a minute each here, ~450 MB), the whole run takes
a quarter of an hour; progress goes to stderr.

`python -m benchmarks.bench_sweep --memory WORKSPACE AS_OF` is the memory probe's
subprocess (it sweeps WORKSPACE in place).
"""

from __future__ import annotations

import atexit
import cProfile
import hashlib
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, make_url, select, text

from benchmarks import log, median, result
from benchmarks.bench_transitions import pg_url
from caseflow import audit, db, escalation
from caseflow.ids import make_id_number
from caseflow.models import Case, Child, Escalation, Notice
from caseflow.resources import shipped
from caseflow.services import sweep as sweep_service
from caseflow.services.cases import ChildDetails, open_case
from caseflow.services.context import SCHEMA_HEAD, Context, init_workspace, open_context
from caseflow.workspace import load, national_calendar

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 2  # bump when the generated data changes (invalidates kept caches)
STATE = "persuasion"
RUNG_MIX = (12, 5, 3)  # out of 20 due cases: on rung 0, 1, 2
STATEMENT_ROWS = 10_000
TRANSACTION_ROWS = 100_000
READY = ".bench-ready"  # written last by `build`: the workspace is complete
TARGETS = {"find": 2.0, "rate": 0.5, "growth": 1.5}
BARE_DUE = text(
    "SELECT id FROM case_file WHERE is_open AND next_action_on <= :as_of "
    "ORDER BY next_action_on, id"
)

_CASE = Case.__table__  # type: ignore[attr-defined]
_CHILD = Child.__table__  # type: ignore[attr-defined]
_ESCALATION = Escalation.__table__  # type: ignore[attr-defined]
_NOTICE = Notice.__table__  # type: ignore[attr-defined]

TOWNSHIPS = tuple(
    f"{name}镇"
    for name in [
        "天堂",
        "青山",
        "河口",
        "石门",
        "龙泉",
        "白沙",
        "新桥",
        "长岭",
        "松林",
        "凤凰",
        "金竹",
        "平寨",
        "大坪",
        "高峰",
        "水口",
        "花溪",
        "马场",
        "云雾",
        "岩脚",
        "坝子",
    ]
)
VILLAGES = tuple(
    f"{name}村"
    for name in ["东风", "红星", "新寨", "上坝", "下坝", "中和", "团结", "光明", "前进", "和平"]
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("小明", "小红", "欣怡", "子涵", "浩然", "梓轩", "雨桐", "宇航", "思远", "佳琪", "明")


@dataclass(frozen=True)
class Spec:
    """A generated workspace: `total` cases, `tiers[k]` of them due on working day W(k+1)."""

    total: int
    tiers: tuple[int, int, int]

    @property
    def due(self) -> int:
        return sum(self.tiers)


@dataclass(frozen=True)
class Size:
    find: Spec  # (a), (b) and the memory probe
    growth_small: Spec
    growth_large: Spec  # (c): sweeps as of W1, so tiers[0] due cases on both sides
    find_rounds: int
    sweep_rounds: int


FULL = Size(
    find=Spec(1_000_000, (1_000, 1_000, 8_000)),
    growth_small=Spec(100_000, (1_000, 0, 0)),
    growth_large=Spec(1_000_000, (1_000, 1_000, 8_000)),
    find_rounds=5,
    sweep_rounds=3,
)
QUICK = Size(
    find=Spec(20_000, (50, 50, 100)),
    growth_small=Spec(5_000, (200, 0, 0)),
    growth_large=Spec(50_000, (200, 0, 0)),
    find_rounds=3,
    sweep_rounds=2,
)


# ---------------------------------------------------------------------------------------
# Generating workspaces


def due_days(ctx: Context) -> tuple[date, date, date]:
    """The last three working days up to today, oldest first (W1, W2, W3)."""
    days: list[date] = []
    day = ctx.today
    while len(days) < 3:
        if ctx.calendar.is_working_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[2], days[1], days[0]


class Planner:
    """Ladder positions for bulk cases, computed (and checked) by caseflow's own rules."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.workflow = ctx.current_workflow
        self.ladder = self.workflow.state(STATE).ladder
        self.days = due_days(ctx)
        self._due: dict[tuple[date, int], date] = {}
        self._later: dict[date, date | None] = {}

    def due_on_for(self, rung_day: date, rung: int) -> date:
        """The due date that puts `rung` of the ladder on `rung_day`, checked with due_work."""
        key = (rung_day, rung)
        if key not in self._due:
            calendar = self.ctx.calendar
            due_on = next(
                day
                for day in (rung_day - timedelta(days=k) for k in range(40))
                if calendar.is_working_day(day)
                and escalation.rung_date(day, self.ladder[rung], calendar) == rung_day
            )
            position = escalation.LadderPosition(STATE, due_on, rung, {})
            assert escalation.next_action_on(self.workflow, position, calendar) == rung_day
            for as_of in self.days:
                if as_of < rung_day:
                    continue
                work = escalation.due_work(self.workflow, position, as_of, calendar)
                fired = [due.rung.index for due in work.rungs]
                assert work.auto is None and fired == [rung], (rung_day, rung, as_of, fired)
            self._due[key] = due_on
        return self._due[key]

    def later(self, due_on: date) -> date | None:
        """next_action_on for a case due on a future day, on rung 0."""
        if due_on not in self._later:
            position = escalation.LadderPosition(STATE, due_on, 0, {})
            self._later[due_on] = escalation.next_action_on(
                self.workflow, position, self.ctx.calendar
            )
        return self._later[due_on]


def _tier_of(spec: Spec) -> dict[int, tuple[int, int]]:
    """Bulk row index -> (tier, rung) for the due rows, spread evenly through the table,
    the tiers interleaved and each tier holding the same mix of rungs."""
    bulk = spec.total - 1
    rungs = [rung for rung, count in enumerate(RUNG_MIX) for _ in range(count)]
    keyed = sorted(
        ((i + 0.5) / count, tier, i) for tier, count in enumerate(spec.tiers) for i in range(count)
    )
    return {
        position * bulk // len(keyed): (tier, rungs[i % len(rungs)])
        for position, (_fraction, tier, i) in enumerate(keyed)
    }


def template_case(ctx: Context) -> dict[str, Any]:
    """One case opened through the service: the columns bulk-made cases copy."""
    number = open_case(
        ctx,
        ChildDetails(
            name="张小华",
            id_number=make_id_number("520626", date(2013, 3, 5), 0),
            township=TOWNSHIPS[0],
            village=VILLAGES[0],
            school=f"{TOWNSHIPS[0]}中学",
        ),
    ).number
    with db.read(ctx.engine) as connection:
        return dict(connection.execute(select(_CASE).where(_CASE.c.id == number)).one()._asdict())


def _child_row(child_id: int, k: int) -> dict[str, Any]:
    birth = date(2010, 1, 1) + timedelta(days=k // 1000)
    serial = k % 1000
    township = TOWNSHIPS[k % len(TOWNSHIPS)]
    return {
        "id": child_id,
        "id_number": make_id_number("520627", birth, serial),
        "name": SURNAMES[k % len(SURNAMES)] + GIVEN[(k // 7) % len(GIVEN)],
        "sex": "男" if serial % 2 else "女",
        "birth_date": birth,
        "ethnicity": None,
        "township": township,
        "village": VILLAGES[(k // len(TOWNSHIPS)) % len(VILLAGES)],
        "group_name": None,
        "school": f"{township}中学" if k % 3 else None,
        "grade": None,
        "class_name": None,
        "student_number": None,
    }


def write_bulk_cases(
    ctx: Context,
    total: int,
    case_of: Callable[[int, dict[str, Any]], dict[str, Any]],
    progress: Callable[[int], None],
) -> int:
    """Cases 2..`total` after `template_case` (case 1), whose columns each copies: child k
    from `_child_row`, its case's own columns from `case_of(k, child)`; written in
    transactions of TRANSACTION_ROWS, `progress` told the cases written after each. Returns
    the id of the first bulk case (bulk case k has that id + k)."""
    base = template_case(ctx)
    first_child = base["child_id"] + 1
    first_case: int = base.pop("id") + 1
    bulk = total - 1
    for start in range(0, bulk, TRANSACTION_ROWS):
        with db.write(ctx.engine) as connection:
            for chunk in range(start, min(start + TRANSACTION_ROWS, bulk), STATEMENT_ROWS):
                stop = min(chunk + STATEMENT_ROWS, bulk)
                children = [_child_row(first_child + k, k) for k in range(chunk, stop)]
                cases = [
                    {
                        **base,
                        "id": first_case + k,
                        "child_id": child["id"],
                        "township": child["township"],
                        "village": child["village"],
                        "school": child["school"],
                        **case_of(k, child),
                    }
                    for k, child in zip(range(chunk, stop), children, strict=True)
                ]
                connection.execute(insert(_CHILD), children)
                connection.execute(insert(_CASE), cases)
        progress(min(start + TRANSACTION_ROWS, bulk) + 1)
    return first_case


def settle(ctx: Context, total: int) -> None:
    """Checkpoint the WAL, or on PostgreSQL vacuum and analyse (the benchmark reads a
    settled database), and check the count."""
    if ctx.engine.dialect.name == "sqlite":
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    with db.read(ctx.engine) as connection:
        counted = connection.execute(select(func.count()).select_from(_CASE)).scalar_one()
    assert counted == total, (counted, total)


def clock_at(day: date) -> Callable[[], datetime]:
    """A clock stopped at noon (Beijing time) on `day`."""
    moment = datetime.combine(day, time(4, 0), tzinfo=UTC)
    return lambda: moment


def seasons() -> dict[str, date]:
    """The pinned days a sweep is measured on: mid-December of the last year the installed
    national calendar covers (most deadlines then reach into a year without data, so they
    are provisional) and mid-June of the same year (none are)."""
    last = max(national_calendar().years)
    return {"december": date(last, 12, 16), "midyear": date(last, 6, 16)}


def build(spec: Spec, root: Path, today: date, database_url: str | None = None) -> None:
    """A workspace at `root` holding `spec` (see the module docstring), as of `today`."""
    started = perf_counter()
    init_workspace(root, database_url, clock=clock_at(today))
    ctx = open_context(root, clock=clock_at(today))
    try:
        planner = Planner(ctx)
        placed = _tier_of(spec)
        coverage = ctx.calendar.coverage

        def case_of(k: int, child: dict[str, Any]) -> dict[str, Any]:
            if k in placed:
                tier, rung = placed[k]
                next_action_on: date | None = planner.days[tier]
                assert next_action_on is not None
                due_on = planner.due_on_for(next_action_on, rung)
            else:
                rung = 0
                due_on = today + timedelta(days=1 + k % 30)
                next_action_on = planner.later(due_on)
            entered_on = due_on - timedelta(days=21)
            return {
                "state": STATE,
                "entered_on": entered_on,
                "due_on": due_on,
                "due_provisional": not ctx.calendar.is_known_year(due_on.year),
                "opened_on": entered_on - timedelta(days=10),
                "last_event_on": entered_on,
                "deadline_from": entered_on,
                "ladder_version": 1,
                "next_rung": rung,
                "next_action_on": next_action_on,
            }

        def progress(done: int) -> None:
            log(
                f"sweep: building {spec.total:,} cases ({spec.due:,} due): {done:,} written, "
                f"{perf_counter() - started:.0f} s"
            )

        write_bulk_cases(ctx, spec.total, case_of, progress)
        settle(ctx, spec.total)
        for tier in range(3):
            due = sweep_service.count_due(ctx, planner.days[tier])
            assert due == sum(spec.tiers[: tier + 1]), (tier, due, spec.tiers)
    finally:
        ctx.engine.dispose()
    (root / READY).write_text(
        json.dumps(
            {
                "today": today.isoformat(),
                "coverage": coverage,
                "workflow": _shipped_workflow_sha(),
                "schema": SCHEMA_HEAD,
                "days": [d.isoformat() for d in planner.days],
            }
        )
    )
    log(f"sweep: built {spec.total:,} cases in {perf_counter() - started:.0f} s")


def _shipped_workflow_sha() -> str:
    """The shipped workflow's hash: a kept workspace stores the definition it was built
    with, so one built with another text is built again."""
    text = shipped("workflows").joinpath("dropout.yaml").read_bytes()
    return hashlib.sha256(text).hexdigest()


class Workspaces:
    """Generated workspaces, built once per run (or kept in CASEFLOW_BENCH_SWEEP_CACHE).
    Given a PostgreSQL `server` URL, each workspace's database is a database of its own on
    that server (a copy is made with CREATE DATABASE ... TEMPLATE)."""

    def __init__(self, server: str | None = None) -> None:
        self.server = server
        kept = os.environ.get("CASEFLOW_BENCH_SWEEP_CACHE")
        if kept:
            self.folder = Path(kept)
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            self.folder = Path(tempfile.mkdtemp(prefix="caseflow-bench-sweep-"))
            atexit.register(shutil.rmtree, self.folder, True)
            if server:
                atexit.register(self._drop_sources)
        self.copies = Path(tempfile.mkdtemp(prefix="caseflow-bench-sweep-run-"))
        atexit.register(shutil.rmtree, self.copies, True)
        self._count = 0
        self._checked: set[Path] = set()

    def source(self, spec: Spec, today: date) -> Path:
        """The generated workspace for `spec` as of `today`, built unless it exists."""
        name = f"v{GENERATOR_VERSION}-{today.isoformat()}-{spec.total}-" + "-".join(
            map(str, spec.tiers)
        )
        if self.server:
            name = f"pg-{name}"
        root = self.folder / name
        if root not in self._checked:
            if root.exists() and not self._current(root):
                self.drop(root)
            if not root.exists():
                url = None
                if self.server:
                    url = self._database(f"cf_sweep_{name.replace('-', '_')}", template=None)
                build(spec, root, today, url)
            self._checked.add(root)
        return root

    def _on_server(self, *statements: str) -> None:
        assert self.server is not None
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        finally:
            admin.dispose()

    def _database(self, name: str, *, template: str | None) -> str:
        """A new database on the server (a copy of `template`, given); its URL."""
        assert self.server is not None
        copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self._on_server(
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}{copy}"
        )
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def _drop_sources(self) -> None:
        for root in self._checked:
            self.drop(root)

    @staticmethod
    def _current(root: Path) -> bool:
        """Whether `root` was fully built, with the shipped workflow as it is now, this
        caseflow's schema, and the calendar the benchmark counts with now (otherwise every
        provisional deadline in it is due for a recount)."""
        if not (root / READY).exists():
            return False
        ready = json.loads((root / READY).read_text())
        if ready.get("workflow") != _shipped_workflow_sha() or ready.get("schema") != SCHEMA_HEAD:
            return False
        ctx = Workspaces.open(root)
        ctx.engine.dispose()
        return bool(ready["coverage"] == ctx.calendar.coverage)

    def days(self, spec: Spec, today: date) -> tuple[date, date, date]:
        days = json.loads((self.source(spec, today) / READY).read_text())["days"]
        return tuple(date.fromisoformat(d) for d in days)  # type: ignore[return-value]

    @staticmethod
    def open(root: Path) -> Context:
        """The workspace's context, its clock stopped on the day it was generated for."""
        today = date.fromisoformat(json.loads((root / READY).read_text())["today"])
        return open_context(root, clock=clock_at(today))

    def copy(self, spec: Spec, today: date) -> Path:
        """A fresh copy of the generated workspace, for one sweep to change."""
        self._count += 1
        target = self.copies / f"copy-{self._count}"
        source = self.source(spec, today)
        shutil.copytree(source, target)
        if self.server:
            config = target / "caseflow.toml"
            source_url = _database_url(source)
            name = f"cf_sweep_copy_{os.getpid()}_{self._count}"
            url = self._database(name, template=make_url(source_url).database)
            config.write_text(config.read_text().replace(source_url, url))
            return target
        # Flush the copy to disk: otherwise the first checkpoint of the sweep (its fsync
        # of the database file, synchronous=FULL) pays for writing back the whole copy.
        for path in target.iterdir():
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        return target

    def drop(self, root: Path) -> None:
        if self.server and (root / "caseflow.toml").exists():
            name = make_url(_database_url(root)).database
            self._on_server(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(root, ignore_errors=True)


def _database_url(root: Path) -> str:
    url: str = load(root).database_url
    return url


_WORKSPACES: Workspaces | None = None


def workspaces() -> Workspaces:
    global _WORKSPACES  # noqa: PLW0603 - one cache per process, shared by the benchmarks
    if _WORKSPACES is None:
        _WORKSPACES = Workspaces()
    return _WORKSPACES


# ---------------------------------------------------------------------------------------
# Measuring


def profiled(run: Callable[[], Any]) -> cProfile.Profile:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    return profiler


def page_caseflow(ctx: Context, as_of: date) -> int:
    """All due cases, batch by batch, the way the sweep finds them."""
    batch = sweep_service.DEFAULT_BATCH
    after: tuple[date, int] | None = None
    found = 0
    while True:
        with db.read(ctx.engine) as connection:
            keys = sweep_service.find_due(connection, as_of, batch, after=after)
        if not keys:
            return found
        found += len(keys)
        after = (keys[-1].next_action_on, keys[-1].id)


BARE_FIRST = (
    "SELECT id, next_action_on FROM case_file WHERE is_open AND next_action_on <= ? "
    "ORDER BY next_action_on, id LIMIT ?"
)
BARE_NEXT = (
    "SELECT id, next_action_on FROM case_file WHERE is_open AND next_action_on <= ? "
    "AND (next_action_on, id) > (?, ?) ORDER BY next_action_on, id LIMIT ?"
)


def page_bare(ctx: Context, as_of: date) -> int:
    """The same pages as hand-written SQL on the driver: the floor for finding due work."""
    batch = sweep_service.DEFAULT_BATCH
    day = as_of.isoformat()
    found = 0
    with db.read(ctx.engine) as connection:
        rows = connection.exec_driver_sql(BARE_FIRST, (day, batch)).all()
    while rows:
        found += len(rows)
        last_on, last_id = rows[-1][1], rows[-1][0]
        with db.read(ctx.engine) as connection:
            rows = connection.exec_driver_sql(BARE_NEXT, (day, last_on, last_id, batch)).all()
    return found


def bare_unpaged(ctx: Context, as_of: date) -> int:
    with db.read(ctx.engine) as connection:
        return len(connection.execute(BARE_DUE, {"as_of": as_of.isoformat()}).all())


def dry_run(ctx: Context, as_of: date) -> int:
    return sweep_service.sweep(ctx, as_of=as_of, dry_run=True).cases


def query_plan(connection: Connection, statement: Any, params: dict[str, Any]) -> list[str]:
    compiled = statement.compile(dialect=connection.dialect)
    values = compiled.construct_params(params)
    args = tuple(
        value.isoformat() if isinstance(value, date) else value
        for value in (values[name] for name in compiled.positiontup)
    )
    plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
    return [row[-1] for row in plan]


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = perf_counter()
    value = run()
    return perf_counter() - start, value


def run_find(quick: bool) -> list[dict[str, Any]]:
    size = QUICK if quick else FULL
    spec = size.find
    store = workspaces()
    today = seasons()["december"]
    source = store.source(spec, today)
    as_of = store.days(spec, today)[2]
    ctx = store.open(source)  # read-only: no copy needed
    try:
        sides: dict[str, Callable[[], int]] = {
            "caseflow": lambda: page_caseflow(ctx, as_of),
            "bare": lambda: page_bare(ctx, as_of),
            "bare_unpaged": lambda: bare_unpaged(ctx, as_of),
            "dry_run": lambda: dry_run(ctx, as_of),
        }
        for name, run in sides.items():  # warm up; every side must see every due case
            found = run()
            assert found == spec.due, (name, found, spec.due)
        times: dict[str, list[float]] = {name: [] for name in sides}
        for round_ in range(size.find_rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(timed(sides[name])[0])
            log(
                f"sweep_find_due: round {round_ + 1}/{size.find_rounds}: "
                + ", ".join(f"{name} {times[name][-1] * 1000:.1f} ms" for name in sides)
            )
        with db.read(ctx.engine) as connection:
            plan = [
                row[-1]
                for row in connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {BARE_NEXT}",
                    (as_of.isoformat(), as_of.isoformat(), 0, sweep_service.DEFAULT_BATCH),
                )
            ]
        medians = {name: median(values) for name, values in times.items()}
        ratio = medians["caseflow"] / medians["bare"]
        extra: dict[str, Any] = {}
        if ratio > TARGETS["find"]:
            extra["profile"] = _top(profiled(sides["caseflow"]), own=True)
        synchronous = ctx.workspace.synchronous
    finally:
        ctx.engine.dispose()
    return [
        result(
            "sweep_find_due",
            ratio,
            TARGETS["find"],
            at_most=True,
            baseline="the same pages as hand-written SQL on the driver",
            caseflow_ms=round(medians["caseflow"] * 1000, 2),
            bare_ms=round(medians["bare"] * 1000, 2),
            bare_unpaged_ms=round(medians["bare_unpaged"] * 1000, 2),
            dry_run_ms=round(medians["dry_run"] * 1000, 2),
            caseflow_per_case_us=round(medians["caseflow"] / spec.due * 1e6, 2),
            rounds_ms={
                name: [round(t * 1000, 2) for t in values] for name, values in times.items()
            },
            plan=plan,
            cases=spec.total,
            due=spec.due,
            batch=sweep_service.DEFAULT_BATCH,
            as_of=as_of.isoformat(),
            synchronous=synchronous,
            **extra,
        )
    ]


def counts(ctx: Context) -> dict[str, int]:
    with db.read(ctx.engine) as connection:
        return {
            "escalations": connection.execute(
                select(func.count()).select_from(_ESCALATION)
            ).scalar_one(),
            "notices": connection.execute(select(func.count()).select_from(_NOTICE)).scalar_one(),
            "audit_seq": audit.head(connection).seq,
        }


PROVISIONAL_COUNT = text("SELECT count(*) FROM case_file WHERE is_open AND due_provisional")


@dataclass
class Written:
    """What one sweep wrote, as the driver returns it: the floor inserts the same rows."""

    columns: dict[str, tuple[str, ...]]
    rows: dict[str, list[tuple[Any, ...]]]
    ladder: list[tuple[Any, ...]]  # (next_rung, next_action_on, id) of each swept case


@dataclass
class SweepRun:
    seconds: float
    report: sweep_service.SweepReport
    escalations: int
    notices: int
    audit_events: int
    audit_intact: bool
    recount_s: float
    recount_plan: list[str]
    provisional: int
    synchronous: str
    written: Written | None = None


def _driver_sql(connection: Connection, sql: str) -> str:
    """Hand-written SQL with ``?`` placeholders, in the driver's own parameter style."""
    return sql if connection.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def capture(connection: Connection, before: dict[str, int], swept: list[int]) -> Written:
    """The escalation, audit and notice rows a sweep added, and the ladders it moved."""
    # Generated workspaces never delete, so a table's row count is its highest id.
    queries = {
        "escalation": ("SELECT * FROM escalation WHERE id > ?", before["escalations"]),
        "audit_event": ("SELECT * FROM audit_event WHERE seq > ?", before["audit_seq"]),
        "notice": ("SELECT * FROM notice WHERE id > ?", before["notices"]),
    }
    columns: dict[str, tuple[str, ...]] = {}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table, (query, after) in queries.items():
        cursor = connection.exec_driver_sql(
            _driver_sql(connection, f"{query} ORDER BY 1"), (after,)
        )
        columns[table] = tuple(cursor.keys())
        rows[table] = [tuple(row) for row in cursor.all()]
    ladder = [
        tuple(row)
        for row in connection.exec_driver_sql(
            "SELECT next_rung, next_action_on, id FROM case_file WHERE id IN "
            f"({','.join(map(str, swept))})"
        ).all()
    ]
    return Written(columns, rows, ladder)


def sweep_copy(
    spec: Spec, today: date, as_of: date, *, keep: bool = False, store: Workspaces | None = None
) -> SweepRun:
    """One real sweep as of `as_of` on a fresh copy of the generated workspace. The
    recount of provisional deadlines every sweep starts with is also timed on its own."""
    store = store or workspaces()
    root = store.copy(spec, today)
    ctx = store.open(root)
    try:
        with db.read(ctx.engine) as connection:
            provisional = int(connection.execute(PROVISIONAL_COUNT).scalar_one())
            recount_plan = (
                query_plan(
                    connection,
                    sweep_service._STALE_BATCHES[1],
                    {"coverage": ctx.calendar.coverage, "batch": sweep_service.DEFAULT_BATCH},
                )
                if ctx.engine.dialect.name == "sqlite"
                else []
            )
        recount_s, recounted = timed(lambda: sweep_service.recompute_provisional(ctx))
        assert recounted == [], "a benchmark workspace must need no recount"
        before = counts(ctx)
        if keep:
            with db.read(ctx.engine) as connection:
                swept = [key.id for key in sweep_service.find_due(connection, as_of, spec.due)]
        seconds, report = timed(lambda: sweep_service.sweep(ctx, as_of=as_of))
        after = counts(ctx)
        with db.read(ctx.engine) as connection:
            intact = audit.verify(connection).intact
            written = capture(connection, before, swept) if keep else None
        synchronous = ctx.workspace.synchronous
    finally:
        ctx.engine.dispose()
        store.drop(root)
    return SweepRun(
        seconds=seconds,
        report=report,
        escalations=after["escalations"] - before["escalations"],
        notices=after["notices"] - before["notices"],
        audit_events=after["audit_seq"] - before["audit_seq"],
        audit_intact=intact,
        recount_s=recount_s,
        recount_plan=recount_plan,
        provisional=provisional,
        synchronous=synchronous,
        written=written,
    )


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _json_adapted(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows read from PostgreSQL, ready to be written back by the driver: the values of
    JSON columns (decoded on reading) wrapped as JSON again."""
    from psycopg.types.json import Json

    return {
        table: [
            tuple(Json(value) if isinstance(value, list | dict) else value for value in row)
            for row in table_rows
        ]
        for table, table_rows in rows.items()
    }


def floor_copy(
    spec: Spec, today: date, as_of: date, written: Written, store: Workspaces | None = None
) -> float:
    """The floor for recording escalations: on a fresh copy, the rows `written` by a real
    sweep inserted by hand-written SQL on the driver, batch by batch as the sweep goes
    (the same due-case page, then its escalation, audit and notice rows, the audit head and
    the ladders, one BEGIN IMMEDIATE transaction each; on PostgreSQL the page is locked
    FOR UPDATE SKIP LOCKED, as the sweep claims it). Returns the seconds it took."""
    batch = sweep_service.DEFAULT_BATCH
    store = store or workspaces()
    captured = written.rows if store.server is None else _json_adapted(written.rows)
    by_case: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
    for table, key in (("escalation", "case_id"), ("audit_event", "case_id")):
        grouped: dict[int, list[tuple[Any, ...]]] = {}
        index = written.columns[table].index(key)
        for row in captured[table]:
            grouped.setdefault(row[index], []).append(row)
        by_case[table] = grouped
    notices: dict[int, list[tuple[Any, ...]]] = {}
    cases_at = written.columns["notice"].index("case_ids")
    for row in captured["notice"]:
        cases = row[cases_at].obj if store.server else json.loads(row[cases_at])
        notices.setdefault(cases[0], []).append(row)
    ladder = {row[2]: row for row in written.ladder}
    audit_seq = written.columns["audit_event"].index("seq")
    audit_hash = written.columns["audit_event"].index("hash")
    root = store.copy(spec, today)
    ctx = store.open(root)
    with ctx.engine.connect() as connection:
        sql = {
            name: _driver_sql(connection, statement)
            for name, statement in {
                **{table: _insert(table, written.columns[table]) for table in written.columns},
                "due": BARE_FIRST
                if store.server is None
                else f"{BARE_FIRST} FOR UPDATE SKIP LOCKED",
                "head": "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                "ladder": "UPDATE case_file SET next_rung = ?, next_action_on = ? WHERE id = ?",
            }.items()
        }
    day: date | str = as_of if store.server else as_of.isoformat()
    try:
        before = counts(ctx)
        start = perf_counter()
        while True:
            with db.write(ctx.engine) as connection:
                keys = connection.exec_driver_sql(sql["due"], (day, batch)).all()
                if not keys:
                    break
                ids = [key[0] for key in keys]
                events = [row for case in ids for row in by_case["audit_event"].get(case, [])]
                events.sort(key=lambda row: row[audit_seq])
                for table, rows in (
                    ("escalation", [r for c in ids for r in by_case["escalation"].get(c, [])]),
                    ("audit_event", events),
                    ("notice", [r for c in ids for r in notices.get(c, [])]),
                ):
                    if rows:
                        connection.exec_driver_sql(sql[table], rows)
                if events:
                    connection.exec_driver_sql(
                        sql["head"], (events[-1][audit_seq], events[-1][audit_hash])
                    )
                connection.exec_driver_sql(sql["ladder"], [ladder[case] for case in ids])
        seconds = perf_counter() - start
        after = counts(ctx)
        with db.read(ctx.engine) as connection:
            assert audit.verify(connection).intact, "the floor's audit chain does not verify"
    finally:
        ctx.engine.dispose()
        store.drop(root)
    recorded = {name: after[name] - before[name] for name in after}
    assert recorded == {
        "escalations": len(written.rows["escalation"]),
        "notices": len(written.rows["notice"]),
        "audit_seq": len(written.rows["audit_event"]),
    }, recorded
    return seconds


def profile_sweep(
    spec: Spec, today: date, as_of: date, store: Workspaces | None = None
) -> dict[str, Any]:
    store = store or workspaces()
    root = store.copy(spec, today)
    ctx = store.open(root)
    try:
        profiler = profiled(lambda: sweep_service.sweep(ctx, as_of=as_of))
    finally:
        ctx.engine.dispose()
        store.drop(root)
    return {"own": _top(profiler, own=True), "caseflow_cumulative": _top(profiler, own=False)}


def _top(profiler: cProfile.Profile, *, own: bool, limit: int = 12) -> list[dict[str, Any]]:
    """Top functions by own time (any code), or caseflow's functions by cumulative time."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_cc, calls, own_s, cumulative_s, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if not own and "/caseflow/" not in path:
            continue
        short = path[path.rindex("/caseflow/") + 1 :] if "/caseflow/" in path else path
        if "site-packages/" in short:
            short = short[short.index("site-packages/") + len("site-packages/") :]
        rows.append(
            {
                "function": f"{short}:{line}({name})",
                "calls": calls,
                "own_s": round(own_s, 3),
                "cumulative_s": round(cumulative_s, 3),
            }
        )
    rows.sort(key=lambda row: -(row["own_s"] if own else row["cumulative_s"]))
    return rows[:limit]


def memory_probe(spec: Spec, today: date, as_of: date) -> dict[str, Any]:
    """Peak memory of a real sweep, in a subprocess of its own (on a fresh copy)."""
    store = workspaces()
    root = store.copy(spec, today)
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_sweep",
                "--memory",
                str(root),
                as_of.isoformat(),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        store.drop(root)
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def _rss_kib() -> int:
    """This process's resident set now (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _memory_main(root: Path, as_of: date) -> dict[str, Any]:
    """Sweep `root` as of `as_of` with tracemalloc on; the figures as a dict."""
    ctx = Workspaces.open(root)
    try:
        rss_before = _rss_kib()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        report = sweep_service.sweep(ctx, as_of=as_of)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = _rss_kib()
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        ctx.engine.dispose()
    return {
        "fired": report.fired,
        "tracemalloc_peak_kib": round(peak / 1024),
        "rss_growth_kib": rss_after - rss_before,
        "maxrss_growth_kib": maxrss_after - maxrss_before,
        "maxrss_kib": maxrss_after,
    }


def run_rate(quick: bool) -> list[dict[str, Any]]:
    """On SQLite and, when a server is given (CASEFLOW_BENCH_PG_URL or
    CASEFLOW_TEST_PG_URL), on PostgreSQL."""
    records = [_rate(quick, workspaces(), "sweep_rate")]
    server = pg_url()
    if server is None:
        log("sweep_rate_postgresql: skipped (set CASEFLOW_BENCH_PG_URL or CASEFLOW_TEST_PG_URL)")
    else:
        records.append(_rate(quick, Workspaces(server), "sweep_rate_postgresql"))
    return records


def _rate(quick: bool, store: Workspaces, name: str) -> dict[str, Any]:
    size = QUICK if quick else FULL
    spec = size.find
    today = seasons()["december"]
    days = store.days(spec, today)
    runs: list[SweepRun] = []
    floors: list[float] = []
    written: Written | None = None
    for round_ in range(size.sweep_rounds):
        # Alternate which side goes first; the first sweep keeps what it wrote for the floor.
        for side in (
            ("sweep", "floor") if round_ % 2 == 0 or written is None else ("floor", "sweep")
        ):
            if side == "sweep":
                run = sweep_copy(spec, today, days[2], keep=written is None, store=store)
                assert run.report.fired == run.escalations == spec.due, (run.report.fired, spec.due)
                assert run.audit_intact, "the audit chain does not verify after the sweep"
                written = written or run.written
                runs.append(run)
            else:
                assert written is not None
                floors.append(floor_copy(spec, today, days[2], written, store))
        log(
            f"{name}: round {round_ + 1}/{size.sweep_rounds}: {runs[-1].escalations:,} "
            f"escalations in {runs[-1].seconds:.2f} s = "
            f"{runs[-1].escalations / runs[-1].seconds:,.0f}/s; floor {floors[-1]:.2f} s = "
            f"{spec.due / floors[-1]:,.0f}/s"
        )
    rates = [run.escalations / run.seconds for run in runs]
    floor_rates = [spec.due / seconds for seconds in floors]
    rate, floor_rate = median(rates), median(floor_rates)
    ratio = rate / floor_rate
    last = runs[-1]
    extra: dict[str, Any] = {} if store.server else _memory(spec, today, days)
    if ratio < TARGETS["rate"]:
        log(f"{name}: target missed; profiling one more sweep")
        extra["profile"] = profile_sweep(spec, today, days[2], store)
    return result(
        name,
        ratio,
        TARGETS["rate"],
        at_most=False,
        baseline="the same escalation, audit and notice rows and ladder moves written by "
        "hand-written SQL in batches of the same size, same database, same run",
        rate=round(rate, 1),
        floor_rate=round(floor_rate, 1),
        rates=[round(r, 1) for r in rates],
        floor_rates=[round(r, 1) for r in floor_rates],
        seconds=[round(run.seconds, 3) for run in runs],
        floor_seconds=[round(f, 3) for f in floors],
        escalations=last.escalations,
        notices=last.notices,
        audit_events=last.audit_events,
        audit_intact=all(run.audit_intact for run in runs),
        cases_swept=last.report.cases,
        per_escalation_us=round(1e6 / rate, 1),
        recount_ms=round(median([r.recount_s for r in runs]) * 1000, 2),
        recount_plan=last.recount_plan,
        provisional_deadlines=last.provisional,
        cases=spec.total,
        due=spec.due,
        rung_mix_per_20=list(RUNG_MIX),
        batch=sweep_service.DEFAULT_BATCH,
        as_of=days[2].isoformat(),
        synchronous=last.synchronous,
        **extra,
    )


def _memory(spec: Spec, today: date, days: tuple[date, date, date]) -> dict[str, Any]:
    """The memory of the sweep for two numbers of due cases (SQLite)."""
    small_due, large_due = sum(spec.tiers[:2]), spec.due
    log(f"sweep_rate: memory probe, {small_due:,} then {large_due:,} due cases")
    memory = {
        "small": memory_probe(spec, today, days[1]),
        "large": memory_probe(spec, today, days[2]),
    }
    assert memory["small"]["fired"] == small_due and memory["large"]["fired"] == large_due
    return {
        "memory_due": [small_due, large_due],
        "memory_tracemalloc_peak_kib": [
            memory["small"]["tracemalloc_peak_kib"],
            memory["large"]["tracemalloc_peak_kib"],
        ],
        "memory_tracemalloc_ratio": round(
            memory["large"]["tracemalloc_peak_kib"]
            / max(memory["small"]["tracemalloc_peak_kib"], 1),
            3,
        ),
        "memory_maxrss_growth_kib": [
            memory["small"]["maxrss_growth_kib"],
            memory["large"]["maxrss_growth_kib"],
        ],
        "memory_rss_growth_kib": [
            memory["small"]["rss_growth_kib"],
            memory["large"]["rss_growth_kib"],
        ],
        "memory_maxrss_kib": [memory["small"]["maxrss_kib"], memory["large"]["maxrss_kib"]],
    }


def run_growth(quick: bool) -> list[dict[str, Any]]:
    """Sweep growth on each pinned day of the year: one record per day."""
    return [_growth(quick, season, today) for season, today in seasons().items()]


def _growth(quick: bool, season: str, today: date) -> dict[str, Any]:
    size = QUICK if quick else FULL
    store = workspaces()
    sides = {"small": size.growth_small, "large": size.growth_large}
    due = size.growth_small.tiers[0]
    assert size.growth_large.tiers[0] == due
    as_of = {name: store.days(spec, today)[0] for name, spec in sides.items()}
    times: dict[str, list[float]] = {"small": [], "large": []}
    recounts: dict[str, list[float]] = {"small": [], "large": []}
    provisional: dict[str, int] = {}
    for round_ in range(size.sweep_rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            run = sweep_copy(sides[name], today, as_of[name])
            assert run.report.fired == run.escalations == due, (name, run.report.fired, due)
            assert run.audit_intact, "the audit chain does not verify after the sweep"
            times[name].append(run.seconds)
            synchronous = run.synchronous
            recounts[name].append(run.recount_s)
            provisional[name] = run.provisional
        log(
            f"sweep_growth ({season}, {today.isoformat()}): round {round_ + 1}/"
            f"{size.sweep_rounds}: {due:,} due among {size.growth_small.total:,}: "
            f"{times['small'][-1]:.3f} s, among {size.growth_large.total:,}: "
            f"{times['large'][-1]:.3f} s"
        )
    small, large = median(times["small"]), median(times["large"])
    ratio = large / small
    extra: dict[str, Any] = {}
    if ratio > TARGETS["growth"]:
        log(f"sweep_growth ({season}): target missed; profiling one more sweep on each side")
        extra["profile_large"] = profile_sweep(size.growth_large, today, as_of["large"])[
            "caseflow_cumulative"
        ]
        extra["profile_small"] = profile_sweep(size.growth_small, today, as_of["small"])[
            "caseflow_cumulative"
        ]
    return result(
        f"sweep_growth_{season}",
        ratio,
        TARGETS["growth"],
        at_most=True,
        today=today.isoformat(),
        small_s=round(small, 4),
        large_s=round(large, 4),
        small_rounds_s=[round(t, 4) for t in times["small"]],
        large_rounds_s=[round(t, 4) for t in times["large"]],
        recount_ms={name: round(median(values) * 1000, 2) for name, values in recounts.items()},
        provisional_deadlines=provisional,
        small_cases=size.growth_small.total,
        large_cases=size.growth_large.total,
        due=due,
        as_of={name: day.isoformat() for name, day in as_of.items()},
        synchronous=synchronous,
        **extra,
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        print(json.dumps(_memory_main(Path(sys.argv[2]), date.fromisoformat(sys.argv[3]))))
    else:
        sys.exit("usage: python -m benchmarks.bench_sweep --memory WORKSPACE AS_OF")
