"""The county ledger (四台账) at a million cases, written to CSV and XLSX, against the same
rows written by `csv.writer` from one plain SELECT, in the same run.

- ``ledger_csv``: `caseflow ledger` as the service runs it (`ledger_service.open_ledger`
  at the county level as of today, `write_ledger` to FILE.csv: batches of 1,000 cases by
  keyset paging on the case number, each case's latest note, the 包保 chain's labels, the
  working-day arithmetic, neutralised cells) against the baseline: one SELECT of the same
  columns (case joined with child, its guardians and special groups, on the sqlite3
  driver) written by `csv.writer`, no labels, no masking. ratio = ledger seconds /
  baseline seconds, target <= 6.
- ``ledger_xlsx``: the same ledger to FILE.xlsx (openpyxl's write-only mode) against the
  same baseline; openpyxl's serialisation (~15 µs a cell, 35 cells a row) dominates, so
  the target is loose: <= 50. The JSON also gives seconds per 100k rows.
- ``ledger_memory``: peak resident set during the export (on Linux the high-water mark is
  reset before it starts: ``/proc/self/clear_refs``; else ``ru_maxrss``) of the county
  ledger to CSV against the ledger of one township (1/20 of the cases) on the same
  database: flat means ~1, target <= 1.25. Each side's peak is in the JSON too, and each
  process's peak before the export (interpreter, imports, opening the workspace).

Each export runs in a subprocess of its own (``python -m benchmarks.bench_ledger --run
KIND WORKSPACE FILE [UNIT]``), which times the export alone (after imports and opening
the workspace) and reports its ``ru_maxrss``. Sides alternate over the rounds (the full
size runs one round; ``--quick`` two); medians are compared.

The data: a SQLite workspace (`init_workspace`) with one case opened through
`open_case` (so the workflow definition row exists), then children and cases
bulk-inserted with Core `insert(...)`: 20 townships, 10 villages each, a third of the
children without a school; the cases spread over identified, verifying, persuasion
(overdue for a third of them), returned, retained and closed, with reasons, a confirmed
reason in the facts, and a 包保 chain (four links) per village; one case in ten has a
persuasion note in the audit trail (`audit.append_many`). Full size 1,000,000 cases (a
minute or two to build, ~0.6 GB), quick 10,000. Set CASEFLOW_BENCH_LEDGER_CACHE to a
folder to keep the workspace between runs (rebuilt when today changes).
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks import log, median, result
from benchmarks.bench_sweep import (
    TOWNSHIPS,
    TRANSACTION_ROWS,
    VILLAGES,
    settle,
    write_bulk_cases,
)
from caseflow import audit, db
from caseflow.services.context import init_workspace, open_context

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1
READY = ".bench-ready"
TARGETS = {"csv": 6.0, "xlsx": 50.0, "memory": 1.25}

# The columns the ledger shows: the case, the child's details, the guardians and the
# special groups (each child's guardians and groups folded into one cell, as the ledger does).
BASELINE = (
    "SELECT c.id, ch.name, ch.sex, ch.birth_date, ch.ethnicity, ch.id_number, "
    "ch.student_number, c.township, c.village, c.school, ch.grade, ch.class_name, "
    "(SELECT group_concat(g.name || ' ' || coalesce(g.phone, ''), '；') FROM guardian g "
    "WHERE g.child_id = ch.id), "
    "(SELECT group_concat(cg.code, '、') FROM child_group cg WHERE cg.child_id = ch.id), "
    "c.state, c.reasons, c.facts, c.chain, c.opened_on, c.entered_on, c.due_on, c.is_open "
    "FROM case_file c JOIN child ch ON ch.id = c.child_id ORDER BY c.id"
)
HEADINGS = (
    "案件编号",
    "姓名",
    "身份证号",
    "乡镇",
    "村",
    "学校",
    "状态",
    "原因",
    "包保",
    "发现日期",
    "进入状态",
    "办理期限",
    "在办",
)


@dataclass(frozen=True)
class Size:
    cases: int
    rounds: int


FULL = Size(1_000_000, 1)
QUICK = Size(10_000, 2)

# (state, is_open, days in state, deadline days or None): the mix, by case number mod 12.
MIX = (
    ("identified", True, 1, 3),
    ("verifying", True, 3, 5),
    ("persuasion", True, 5, 21),
    ("persuasion", True, 30, 21),  # overdue
    ("persuasion", True, 40, 21),  # overdue
    ("persuasion", True, 10, 21),
    ("returned", True, 12, 30),
    ("returned", True, 20, 30),
    ("retained", False, 60, None),
    ("retained", False, 90, None),
    ("closed", False, 15, None),
    ("closed", False, 25, None),
)

REASONS = ("poverty", "learning", "migrant_work", "distance", "parents_neglect")


def build(total: int, root: Path) -> None:
    started = perf_counter()
    init_workspace(root, county="示范县")
    ctx = open_context(root)
    try:
        today = ctx.today

        def case_of(k: int, child: dict[str, Any]) -> dict[str, Any]:
            state, is_open, days, deadline = MIX[k % len(MIX)]
            entered_on = today - timedelta(days=days)
            due_on = entered_on + timedelta(days=deadline) if deadline else None
            reasons = [REASONS[k % len(REASONS)]] if k % 3 else []
            facts: dict[str, Any] = {}
            if state not in ("identified", "verifying") and k % 2:
                facts["confirm_dropout"] = {"reason": REASONS[(k // 7) % 5]}
            if state == "closed":
                facts["close_not_dropout"] = {"reason": "studying_elsewhere"}
            township = TOWNSHIPS.index(child["township"])
            village = VILLAGES.index(child["village"])
            chain = {
                "county_leader": f"leader-{township}",
                "township_cadre": f"cadre-{township}-{village % 3}",
                "village_cadre": f"village-{township}-{village}",
                "group_leader": f"group-{township}-{village}-{k % 2}",
            }
            return {
                "state": state,
                "is_open": is_open,
                "entered_on": entered_on,
                "due_on": due_on,
                "due_provisional": False,
                "opened_on": entered_on - timedelta(days=5),
                "last_event_on": entered_on,
                "deadline_from": entered_on,
                "next_action_on": due_on,
                "reasons": reasons,
                "facts": facts,
                "chain": chain,
            }

        def progress(done: int) -> None:
            log(f"ledger: building {total:,} cases: {done:,}")

        first_case = write_bulk_cases(ctx, total, case_of, progress)
        # a visit noted on every tenth open case
        noted = [first_case + k for k in range(total - 1) if k % 10 == 4 and MIX[k % len(MIX)][1]]
        now = ctx.now()
        for start in range(0, len(noted), TRANSACTION_ROWS):
            events = [
                audit.NewEvent(
                    action="case.note",
                    operator="bench",
                    os_user="bench",
                    recorded_at=now,
                    case_id=case_id,
                    occurred_on=today - timedelta(days=case_id % 4),
                    payload={"method": "visit", "text": "入户走访", "state": "persuasion"},
                )
                for case_id in noted[start : start + TRANSACTION_ROWS]
            ]
            with db.write(ctx.engine) as connection:
                audit.append_many(connection, events)
        settle(ctx, total)
    finally:
        ctx.engine.dispose()
    (root / READY).write_text(json.dumps({"today": today.isoformat(), "notes": len(noted)}))
    log(f"ledger: built {total:,} cases in {perf_counter() - started:.0f} s")


def workspace(total: int) -> Path:
    kept = os.environ.get("CASEFLOW_BENCH_LEDGER_CACHE")
    if kept:
        folder = Path(kept)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="caseflow-bench-ledger-"))
        atexit.register(shutil.rmtree, folder, True)
    root = folder / f"v{GENERATOR_VERSION}-{total}"
    if root.exists():
        ready = root / READY
        if not ready.exists() or json.loads(ready.read_text())["today"] != date.today().isoformat():
            shutil.rmtree(root)
    if not root.exists():
        build(total, root)
    return root


# ---------------------------------------------------------------------------------------
# The subprocess: one export, timed, with its peak memory


def _reset_peak() -> bool:
    """Start the resident-set high-water mark afresh (Linux), so that the peak measured is
    the export's, not the imports'."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb() -> float:
    """This process's peak resident set so far (since the last reset). Not ``ru_maxrss``
    where /proc has it: a child started by fork and exec inherits its parent's there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(kind: str, root: Path, target: Path, unit: str | None) -> dict[str, Any]:
    if kind == "baseline":
        ctx = open_context(root)
        startup = _peak_mb()
        _reset_peak()
        started = perf_counter()
        path = db.sqlite_path(ctx.workspace.database_url)
        assert path is not None
        import sqlite3

        connection = sqlite3.connect(path)
        rows = 0
        with target.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(HEADINGS)
            for row in connection.execute(BASELINE):
                writer.writerow(row)
                rows += 1
        connection.close()
    else:
        from caseflow.services.ledger import open_ledger, write_ledger

        ctx = open_context(root)
        startup = _peak_mb()
        _reset_peak()
        started = perf_counter()
        level = "township" if unit else "county"
        rows = write_ledger(open_ledger(ctx, level=level, unit=unit), output=target)
    seconds = perf_counter() - started
    ctx.engine.dispose()
    return {
        "seconds": seconds,
        "rows": rows,
        "peak_mb": round(_peak_mb(), 1),
        "startup_peak_mb": round(startup, 1),
    }


def _spawn(kind: str, root: Path, target: Path, unit: str | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_ledger", "--run", kind, str(root)]
    command.append(str(target))
    if unit:
        command.append(unit)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed: {done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    target.unlink(missing_ok=True)
    return found


def run(quick: bool) -> list[dict[str, Any]]:
    size = QUICK if quick else FULL
    root = workspace(size.cases)
    out = Path(tempfile.mkdtemp(prefix="caseflow-bench-ledger-out-"))
    atexit.register(shutil.rmtree, out, True)
    kinds = {
        "baseline": out / "baseline.csv",
        "csv": out / "ledger.csv",
        "xlsx": out / "ledger.xlsx",
    }
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for round_ in range(size.rounds):
        order = list(kinds) if round_ % 2 == 0 else list(reversed(kinds))
        for kind in order:
            runs[kind].append(
                _spawn("baseline" if kind == "baseline" else "ledger", root, kinds[kind])
            )
            assert runs[kind][-1]["rows"] == size.cases, (kind, runs[kind][-1])
        log(
            f"ledger: round {round_ + 1}/{size.rounds}: "
            + ", ".join(f"{k} {runs[k][-1]['seconds']:.1f} s" for k in kinds)
        )
    township = _spawn("ledger", root, out / "township.csv", TOWNSHIPS[0])
    seconds = {kind: median([r["seconds"] for r in values]) for kind, values in runs.items()}
    peaks = {kind: max(r["peak_mb"] for r in values) for kind, values in runs.items()}
    startup = {kind: max(r["startup_peak_mb"] for r in values) for kind, values in runs.items()}
    common = {
        "cases": size.cases,
        "rounds": size.rounds,
        "baseline": "one SELECT of the same columns on the sqlite3 driver, written by csv.writer",
        "baseline_seconds": round(seconds["baseline"], 2),
        "baseline_peak_mb": peaks["baseline"],
    }
    return [
        result(
            "ledger_csv",
            seconds["csv"] / seconds["baseline"],
            TARGETS["csv"],
            at_most=True,
            seconds=round(seconds["csv"], 2),
            rows_per_second=round(size.cases / seconds["csv"]),
            peak_mb=peaks["csv"],
            **common,
        ),
        result(
            "ledger_xlsx",
            seconds["xlsx"] / seconds["baseline"],
            TARGETS["xlsx"],
            at_most=True,
            seconds=round(seconds["xlsx"], 2),
            seconds_per_100k_rows=round(seconds["xlsx"] / size.cases * 100_000, 2),
            xlsx_over_csv=round(seconds["xlsx"] / seconds["csv"], 2),
            peak_mb=peaks["xlsx"],
            **common,
        ),
        result(
            "ledger_memory",
            peaks["csv"] / township["peak_mb"],
            TARGETS["memory"],
            at_most=True,
            county_rows=size.cases,
            county_peak_mb=peaks["csv"],
            township_rows=township["rows"],
            township_peak_mb=township["peak_mb"],
            xlsx_peak_mb=peaks["xlsx"],
            startup_peak_mb=startup,
            measured="the resident-set high-water mark during the export (VmHWM after "
            "clear_refs); startup_peak_mb: the process's peak before (imports, workspace)",
        ),
    ]


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "--run":
        unit = argv[4] if len(argv) > 4 else None
        print(json.dumps(run_one(argv[1], Path(argv[2]), Path(argv[3]), unit)))
        return 0
    for record in run("--quick" in argv):
        print(json.dumps(record, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
