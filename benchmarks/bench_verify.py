"""`caseflow audit verify` on a million audit events: the chain and the case table
replayed from the events, against the chain check alone, in the same run.

- ``audit_verify``: `services.audit.audit_verify` as the command runs it (the hash chain
  recomputed from the first event, then every case's events replayed in one pass ordered
  by case number and merged with the case rows) against the baseline: `audit.verify`, the
  chain check alone (what verify did before it compared the case table), on the same
  database. ratio = full verify seconds / chain seconds, budget <= 2.0: checking the case
  table may cost at most as much again as the chain check. The JSON gives both times in
  seconds, the case check timed alone (``replay_only_seconds``), events per second, and the
  number of cases.

Measured here (2 cores shared with other jobs, SQLite, 1,000,000 events over 111,111
cases, two full runs of three rounds): `audit verify` 19.0 s and 23.5 s (medians), the
chain alone 17.0 s and 16.6 s, the case check alone 5.1 s and 8.8 s: ratio 1.12 and 1.42
(round by round 1.0–1.7, the machine being noisy). At the quick size (10,000 events) the
fixed costs weigh more: ratio about 1.7. Memory holds one case's events at a time.

The data: a SQLite workspace (`init_workspace`) where one case gets a real history through
the services (opened, verified, dropout confirmed with its reason, an extension asked for
and granted, a new school, notes: ten events); then that child, case row and the case's
events are copied with new numbers (children and case rows by executemany, the events by
`audit.append_many`, so the chain is real) until the trail holds the number of events
wanted. Full size 1,000,000 events (9 to 12 minutes to build here; set
CASEFLOW_BENCH_VERIFY_CACHE to a folder to keep it between runs), quick 10,000. Three
rounds, sides alternating, medians compared.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks import log, median, result
from caseflow import audit, db
from caseflow.engine import Actor
from caseflow.ids import make_id_number
from caseflow.models import Child
from caseflow.services.audit import audit_verify, case_differences
from caseflow.services.cases import (
    ChildDetails,
    DetailsUpdate,
    add_note,
    advance,
    approve_extension,
    open_case,
    request_extension,
    update_details,
)
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.records import CASE, EVENT

TARGET = 2.0
FULL = (1_000_000, 3)
QUICK = (10_000, 3)
BATCH_CASES = 2_000
READY = ".bench-ready"
_CHILD = Child.__table__  # type: ignore[attr-defined]


def _template(ctx: Context) -> int:
    """One case with a real history (ten events); its number."""
    details = ChildDetails(
        name="张小华",
        id_number=make_id_number("520626", date(2013, 3, 5), 1),
        township="天堂镇",
        village="天堂村",
        school="天堂小学",
    )
    number = open_case(ctx, details, occurred_on=date(2026, 11, 2)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
    add_note(ctx, number, "电话联系家长", method="phone", occurred_on=date(2026, 11, 3))
    advance(
        ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 11, 4)
    )
    add_note(ctx, number, "第1次入户劝返", occurred_on=date(2026, 11, 5))
    request_extension(ctx, number, 5, "监护人在外务工", occurred_on=date(2026, 11, 6))
    approver = Actor("县教育局分管领导", "approver", frozenset({"bureau"}))
    approve_extension(
        Context(ctx.workspace, ctx.engine, approver, ctx.clock, ctx.calendar),
        number,
        occurred_on=date(2026, 11, 6),
    )
    update_details(ctx, number, DetailsUpdate(school="天堂中学"), occurred_on=date(2026, 11, 7))
    add_note(ctx, number, "第2次入户劝返", occurred_on=date(2026, 11, 8))
    return number


def build(events_wanted: int, root: Path) -> dict[str, int]:
    started = perf_counter()
    init_workspace(root, county="示范县")
    ctx = open_context(root)
    try:
        number = _template(ctx)
        with db.read(ctx.engine) as connection:
            case_row = dict(
                connection.execute(select(CASE).where(CASE.c.id == number)).one()._mapping
            )
            child_row = dict(
                connection.execute(select(_CHILD).where(_CHILD.c.id == case_row["child_id"]))
                .one()
                ._mapping
            )
            history = [
                row for row in audit.events(connection, number) if row.action.startswith("case.")
            ]
            total = connection.execute(select(func.count()).select_from(EVENT)).scalar_one()
        copies = max(0, (events_wanted - total) // len(history))
        insert_child, insert_case = insert(_CHILD), insert(CASE)
        for start in range(0, copies, BATCH_CASES):
            stop = min(start + BATCH_CASES, copies)
            children, cases, events = [], [], []
            for k in range(start, stop):
                child_id = child_row["id"] + 1 + k
                case_id = number + 1 + k
                children.append({**child_row, "id": child_id, "id_number": f"B{child_id:017d}"})
                cases.append({**case_row, "id": case_id, "child_id": child_id})
                events += [
                    audit.NewEvent(
                        action=e.action,
                        operator=e.operator,
                        os_user=e.os_user,
                        recorded_at=ctx.now(),
                        payload=_payload(e.payload),
                        case_id=case_id,
                        occurred_on=date.fromisoformat(e.occurred_on) if e.occurred_on else None,
                    )
                    for e in history
                ]
            with db.write(ctx.engine) as connection:
                db.execute_many(connection, insert_child, children)
                db.execute_many(connection, insert_case, cases)
                audit.append_many(connection, events)
            log(f"verify: built {stop:,} of {copies:,} cases")
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with db.read(ctx.engine) as connection:
            events_count = connection.execute(select(func.count()).select_from(EVENT)).scalar_one()
            cases_count = connection.execute(select(func.count()).select_from(CASE)).scalar_one()
    finally:
        ctx.engine.dispose()
    log(
        f"verify: {events_count:,} events, {cases_count:,} cases in "
        f"{perf_counter() - started:.0f} s"
    )
    return {"events": events_count, "cases": cases_count}


def _payload(text: str) -> Any:
    return json.loads(text)


def _chain_only(root: Path) -> float:
    ctx = open_context(root)
    try:
        started = perf_counter()
        with db.read(ctx.engine) as connection:
            checked = audit.verify(connection)
        elapsed = perf_counter() - started
        assert checked.intact, checked.problem
        return elapsed
    finally:
        ctx.engine.dispose()


def _full(root: Path) -> float:
    ctx = open_context(root)
    try:
        started = perf_counter()
        checked = audit_verify(ctx)
        elapsed = perf_counter() - started
        assert checked.intact, (checked.problem, checked.cases[:3])
        return elapsed
    finally:
        ctx.engine.dispose()


def _replay_only(root: Path) -> float:
    ctx = open_context(root)
    try:
        with db.read(ctx.engine) as connection:
            list(case_differences(connection))  # the workflow parsed, as verify has it
            started = perf_counter()
            differences = list(case_differences(connection))
            elapsed = perf_counter() - started
        assert not differences, differences[:3]
        return elapsed
    finally:
        ctx.engine.dispose()


def _workspace(wanted: int) -> tuple[Path, Path | None]:
    """The folder to build in, and the folder to remove afterwards (None: kept)."""
    kept = os.environ.get("CASEFLOW_BENCH_VERIFY_CACHE")
    if kept:
        return Path(kept) / f"events-{wanted}", None
    scratch = Path(tempfile.mkdtemp(prefix="caseflow-bench-verify-"))
    return scratch / "county", scratch


def run(quick: bool) -> list[dict[str, Any]]:
    wanted, rounds = QUICK if quick else FULL
    root, scratch = _workspace(wanted)
    try:
        if (root / READY).exists():
            sizes = json.loads((root / READY).read_text())
        else:
            shutil.rmtree(root, ignore_errors=True)
            sizes = build(wanted, root)
            (root / READY).write_text(json.dumps(sizes))
        chain: list[float] = []
        full: list[float] = []
        replay: list[float] = []
        for _ in range(rounds):
            chain.append(_chain_only(root))
            full.append(_full(root))
            replay.append(_replay_only(root))
            log(
                f"verify: chain {chain[-1]:.2f} s, chain and cases {full[-1]:.2f} s, "
                f"cases alone {replay[-1]:.2f} s"
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    chain_s, full_s = median(chain), median(full)
    return [
        result(
            "audit_verify",
            full_s / chain_s,
            TARGET,
            at_most=True,
            events=sizes["events"],
            cases=sizes["cases"],
            verify_seconds=round(full_s, 3),
            chain_only_seconds=round(chain_s, 3),
            replay_only_seconds=round(median(replay), 3),
            events_per_second=round(sizes["events"] / full_s),
        )
    ]
