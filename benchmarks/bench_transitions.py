"""Durable transitions per second through the engine, against the same writes in raw SQL.

Each side gets its own fresh workspace (so the same engine settings: WAL, synchronous=FULL
and BEGIN IMMEDIATE on SQLite) holding the same cases, moved to `returned` beforehand.
The engine side times `advance(ctx, case, "check_in", ...)`, a self-transition
that stays valid, rotating across cases. The baseline times, per transition, one write
transaction with what that transition must write: the versioned case UPDATE, the audit
head read (FOR UPDATE on PostgreSQL), the hashed audit_event INSERT and the head UPDATE.
Rounds alternate between the sides and the medians are compared. Besides the rates, each
side's client CPU ms per transition is reported: the gap between the two is Python work.

The SQLite files live under the system temporary folder; set TMPDIR to measure another
disk (with synchronous=FULL each commit waits for an fsync, whose cost depends on it).
PostgreSQL runs when CASEFLOW_BENCH_PG_URL (or CASEFLOW_TEST_PG_URL) is set, in a fresh
schema per workspace, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, select, text

from benchmarks import log, median, result
from caseflow import audit, db
from caseflow.ids import make_id_number
from caseflow.models import Case
from caseflow.services.cases import ChildDetails, advance, open_case
from caseflow.services.context import Context, init_workspace, open_context

TRIGGER = "check_in"
VALUES = {"attending": "steady"}
TO_RETURNED: tuple[tuple[str, dict[str, str]], ...] = (
    ("start_verification", {}),
    ("confirm_dropout", {"reason": "learning"}),
    ("return_to_school", {"placement": "original_class", "school": "天堂小学"}),
)
TARGETS = {"sqlite": 0.5, "postgresql": 0.7}


@dataclass(frozen=True)
class Size:
    cases: int
    per_round: int
    rounds: int
    warmup: int


# Just after the workspaces are set up, commits were slow and erratic here (their fsyncs
# also flush what the setup wrote); the warm-up keeps that out of the figures.
FULL = Size(cases=20, per_round=500, rounds=5, warmup=300)
QUICK = Size(cases=4, per_round=50, rounds=3, warmup=300)


def prepare(root: Path, url: str | None, cases: int) -> tuple[Context, list[int]]:
    """A fresh workspace with `cases` cases in state `returned`."""
    init_workspace(root, url)
    ctx = open_context(root)
    numbers = []
    for serial in range(cases):
        details = ChildDetails(
            name=f"学生{serial}",
            id_number=make_id_number("520626", date(2013, 3, 5), serial),
            township="天堂镇",
            village="天堂村",
            school="天堂小学",
        )
        number = open_case(ctx, details).number
        for trigger, values in TO_RETURNED:
            advance(ctx, number, trigger, values)
        numbers.append(number)
    return ctx, numbers


class ThroughEngine:
    """The engine side: `advance` with the workflow's check_in."""

    def __init__(self, ctx: Context, numbers: list[int]) -> None:
        self.ctx, self.numbers = ctx, numbers

    def run(self, count: int) -> None:
        today = self.ctx.today  # never after the real today, never going backwards
        for i in range(count):
            number = self.numbers[i % len(self.numbers)]
            advance(self.ctx, number, TRIGGER, VALUES, occurred_on=today)


UPDATE_CASE = text(
    "UPDATE case_file SET state = :state, entered_on = :entered_on, due_on = :due_on, "
    "due_provisional = :due_provisional, is_open = :is_open, counters = :counters, "
    "repeat_count = :repeat_count, departments = :departments, facts = :facts, "
    "version = version + 1, last_event_on = :last_event_on "
    "WHERE id = :id AND version = :version"
)
INSERT_EVENT = text(
    "INSERT INTO audit_event (seq, recorded_at, occurred_on, operator, os_user, action, "
    "case_id, payload, prev_hash, hash) VALUES (:seq, :recorded_at, :occurred_on, "
    ":operator, :os_user, :action, :case_id, :payload, :prev_hash, :hash)"
)
UPDATE_HEAD = text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1")


class RawSQL:
    """The baseline side: the same writes as a check_in, in raw SQL, one transaction each."""

    def __init__(self, ctx: Context, numbers: list[int]) -> None:
        self.ctx, self.numbers = ctx, numbers
        lock = " FOR UPDATE" if ctx.engine.dialect.name == "postgresql" else ""
        self.select_head = text(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")
        table = Case.__table__  # type: ignore[attr-defined]
        with db.read(ctx.engine) as connection:
            rows = connection.execute(select(table).where(table.c.id.in_(numbers))).all()
        self.cases = {row.id: row._asdict() for row in rows}

    def run(self, count: int) -> None:
        today = self.ctx.today
        for i in range(count):
            self.transition(self.cases[self.numbers[i % len(self.numbers)]], today)

    def transition(self, case: dict[str, Any], today: date) -> None:
        actor = self.ctx.actor
        counters = {**case["counters"], TRIGGER: case["counters"].get(TRIGGER, 0) + 1}
        facts = {**case["facts"], TRIGGER: VALUES}
        due_on = (today + timedelta(days=30)).isoformat()
        payload = {
            "trigger": TRIGGER,
            "from": case["state"],
            "to": case["state"],
            "values": VALUES,
            "due_on": due_on,
            "workflow": case["workflow"],
            "workflow_version": case["workflow_version"],
        }
        now = self.ctx.now()
        with db.write(self.ctx.engine) as connection:
            updated = connection.execute(
                UPDATE_CASE,
                {
                    "state": case["state"],
                    "entered_on": case["entered_on"].isoformat(),
                    "due_on": due_on,
                    "due_provisional": False,
                    "is_open": True,
                    "counters": json.dumps(counters),
                    "repeat_count": case["repeat_count"],
                    "departments": json.dumps(case["departments"]),
                    "facts": json.dumps(facts),
                    "last_event_on": today.isoformat(),
                    "id": case["id"],
                    "version": case["version"],
                },
            )
            if updated.rowcount != 1:
                raise RuntimeError(f"baseline lost track of case {case['id']}'s version")
            head = connection.execute(self.select_head).one()
            entry = audit.Entry(
                seq=head.seq + 1,
                recorded_at=now.isoformat(timespec="microseconds"),
                occurred_on=today.isoformat(),
                operator=actor.operator,
                os_user=actor.os_user,
                action="case.transition",
                case_id=case["id"],
                payload=payload,
            )
            digest = audit.chain_hash(head.hash, entry)
            connection.execute(
                INSERT_EVENT,
                {
                    "seq": entry.seq,
                    "recorded_at": entry.recorded_at,
                    "occurred_on": entry.occurred_on,
                    "operator": entry.operator,
                    "os_user": entry.os_user,
                    "action": entry.action,
                    "case_id": entry.case_id,
                    "payload": audit.canonical_json(payload),
                    "prev_hash": head.hash,
                    "hash": digest,
                },
            )
            connection.execute(UPDATE_HEAD, {"seq": entry.seq, "hash": digest})
        case.update(version=case["version"] + 1, counters=counters, facts=facts)


def measure(run: Callable[[int], None], count: int) -> tuple[float, float]:
    """Transitions per second (wall clock) and this process's CPU ms per transition."""
    wall, cpu = perf_counter(), process_time()
    run(count)
    return count / (perf_counter() - wall), (process_time() - cpu) * 1000 / count


def compare(backend: str, urls: tuple[str | None, str | None], size: Size) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="caseflow-bench-") as tmp:
        log(f"transitions_{backend}: preparing two workspaces with {size.cases} cases each")
        ctx_engine, numbers = prepare(Path(tmp, "engine"), urls[0], size.cases)
        ctx_base, base_numbers = prepare(Path(tmp, "baseline"), urls[1], size.cases)
        try:
            sides = {
                "engine": ThroughEngine(ctx_engine, numbers).run,
                "baseline": RawSQL(ctx_base, base_numbers).run,
            }
            rates: dict[str, list[float]] = {"engine": [], "baseline": []}
            cpu: dict[str, list[float]] = {"engine": [], "baseline": []}
            for run in sides.values():
                run(size.warmup)
            for round_ in range(size.rounds):
                order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
                for side in order:
                    per_second, cpu_ms = measure(sides[side], size.per_round)
                    rates[side].append(per_second)
                    cpu[side].append(cpu_ms)
                log(
                    f"transitions_{backend}: round {round_ + 1}/{size.rounds}: "
                    f"engine {rates['engine'][-1]:.0f}/s, baseline {rates['baseline'][-1]:.0f}/s"
                )
            synchronous = ctx_engine.workspace.synchronous
        finally:
            ctx_engine.engine.dispose()
            ctx_base.engine.dispose()
    engine_rate, baseline_rate = median(rates["engine"]), median(rates["baseline"])
    return result(
        f"transitions_{backend}",
        engine_rate / baseline_rate,
        TARGETS[backend],
        at_most=False,
        engine_rate=round(engine_rate, 1),
        baseline_rate=round(baseline_rate, 1),
        engine_ms=round(1000 / engine_rate, 3),
        baseline_ms=round(1000 / baseline_rate, 3),
        engine_cpu_ms=round(median(cpu["engine"]), 3),
        baseline_cpu_ms=round(median(cpu["baseline"]), 3),
        engine_rates=[round(r, 1) for r in rates["engine"]],
        baseline_rates=[round(r, 1) for r in rates["baseline"]],
        transitions_per_round=size.per_round,
        rounds=size.rounds,
        cases=size.cases,
        synchronous=synchronous if backend == "sqlite" else None,
    )


def run_sqlite(quick: bool) -> list[dict[str, Any]]:
    return [compare("sqlite", (None, None), QUICK if quick else FULL)]


def pg_url() -> str | None:
    return os.environ.get("CASEFLOW_BENCH_PG_URL") or os.environ.get("CASEFLOW_TEST_PG_URL")


@contextmanager
def pg_schemas(url: str, count: int) -> Iterator[list[str]]:
    """Fresh schemas on the server, as URLs whose search_path points at them."""
    names = [f"cf_bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    separator = "&" if "?" in url else "?"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            for name in names:
                connection.execute(text(f"CREATE SCHEMA {name}"))
        yield [f"{url}{separator}options={quote(f'-csearch_path={name}')}" for name in names]
    finally:
        with admin.begin() as connection:
            for name in names:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()


def run_postgresql(quick: bool) -> list[dict[str, Any]]:
    url = pg_url()
    if url is None:
        log("transitions_postgresql: skipped (set CASEFLOW_BENCH_PG_URL or CASEFLOW_TEST_PG_URL)")
        return []
    with pg_schemas(url, 2) as (engine_url, baseline_url):
        return [compare("postgresql", (engine_url, baseline_url), QUICK if quick else FULL)]
