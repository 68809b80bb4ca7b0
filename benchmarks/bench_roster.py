"""五查四比对 at province size: importing the five registers and comparing them, against
DuckDB doing the same four anti-joins on the same CSV files in the same run.

``roster_province``: the full size is 1,000,000 children in 户籍 (household) and 学籍
(student), 950,000 in 实际在校生 (attendance), 100,000 in 扶贫 (poverty) and 20,000 in
残疾人 (disability); ``--quick`` is 1/100 of that.

- caseflow: a fresh SQLite workspace (`init_workspace`, `open_context`),
  `roster_service.import_roster` of the five files (each checked row by row in DuckDB,
  its good rows written as a Parquet snapshot in the workspace, the import recorded in
  SQLite), then `compare_service.compare` as of a fixed day (DuckDB over the snapshots).
  It runs in a subprocess of its own (``python -m benchmarks.bench_roster --caseflow
  DIR``), which times the imports and the comparison and reports its ``ru_maxrss`` (peak
  resident set, interpreter included) against the 2 GB target.
- DuckDB (caseflow's own dependency now; without it the benchmark reports ``"skipped"``
  and does not pass): in its own subprocess too, loads the same five
  CSV files into tables (all columns as text) and runs the four anti-joins with the same
  age band (birth date from digits 7-14 of the resident ID, aged 6-15 inclusive on the
  latest 1 September) and the same status rules (在读 or 休学 for the three
  ``*_vs_student`` comparisons; 在读 for ``student_vs_attendance``, where a child is
  present when attendance carries the same resident ID or the same 学籍号). DuckDB uses
  every core (its default); the single-threaded time is reported as well.

Both sides must find the same number of suspects for every flag (and caseflow must reject
no row, the files being valid). Each side runs three times, the rounds interleaved (once at
``--quick``); ratio = caseflow's fastest seconds (import + compare) / DuckDB's fastest
seconds (load + four anti-joins), target <= 3 — the fastest round being the one least
disturbed by other work on the machine (``median_ratio`` and every round are reported too).
Both sides also report the CPU seconds they used (user + system, every thread):
``cpu_ratio`` moves less than the wall-clock ratio when other work shares the machine (the
target is on the wall-clock ratio).

The data (written straight to CSV by `write_files`, with valid resident IDs from
`caseflow.ids.make_id_number`, about 1M rows a few seconds): child k has birth date
2007-01-01 + (k mod 5200) days (about 70% of children fall in the age band) and is in
household; student holds every child except k mod 50 = 0, plus 2% children from outside
the county; its status is 休学 when k mod 37 = 1, 毕业 when k mod 37 = 2, else 在读;
attendance holds the student children except k mod 20 = 3 (padded to its size with
household-only children), a tenth of them by 学籍号 only (ID left blank) and a tenth by ID
only; poverty is k = 10i + 3, disability k = 49i. So every flag has suspects.

``python -m benchmarks.bench_roster --profile ROWS`` profiles caseflow's import of a
ROWS-children dataset (the top functions by own and by cumulative time).
"""

from __future__ import annotations

import cProfile
import csv
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks import log, median, result
from caseflow.ids import make_id_number
from caseflow.services.context import init_workspace, open_context

REPO = Path(__file__).resolve().parent.parent
NAME = "roster_province"
TARGET = 3.0
MEMORY_TARGET_KIB = 2 * 1024 * 1024
TIMEOUT_ENV = "CASEFLOW_BENCH_ROSTER_TIMEOUT"  # seconds the caseflow side may take
QUICK_TIMEOUT = 120.0
FULL_TIMEOUT = 1200.0
ROUNDS = {True: 1, False: 3}  # (quick) each side is run this many times, interleaved
AS_OF = date(2025, 10, 15)  # reference date 2025-09-01
AGES = (6, 15)
SOURCES = ("household", "student", "poverty", "disability", "attendance")
FLAGS = (
    "household_vs_student",
    "poverty_vs_student",
    "disability_vs_student",
    "student_vs_attendance",
)
HEADINGS: dict[str, tuple[str, ...]] = {
    "household": ("姓名", "身份证号", "性别", "出生日期", "乡镇", "村"),
    "student": ("姓名", "身份证号", "学籍号", "学校", "年级", "班级", "学籍状态"),
    "poverty": ("姓名", "身份证号", "乡镇", "村", "类别"),
    "disability": ("姓名", "身份证号", "残疾类别", "残疾等级"),
    "attendance": ("学校", "姓名", "身份证号", "学籍号", "年级", "班级"),
}
BIRTH_START = date(2007, 1, 1)
BIRTH_DAYS = 5200
REGIONS = ("520627", "520626", "520625", "520624")
TOWNSHIPS = tuple(f"{n}镇" for n in ("天堂", "青山", "河口", "石门", "龙泉", "白沙", "新桥"))
VILLAGES = tuple(f"{n}村" for n in ("东风", "红星", "新寨", "上坝", "下坝", "中和", "团结"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("小明", "小红", "欣怡", "子涵", "浩然", "梓轩", "雨桐", "宇航", "思远", "佳琪", "明")
GRADES = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级")
POVERTY = ("脱贫户", "监测户", "低保户")
DISABILITY = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
LEVELS = ("一级", "二级", "三级", "四级")


@dataclass(frozen=True)
class Size:
    household: int
    student: int
    attendance: int
    poverty: int
    disability: int

    @property
    def rows(self) -> int:
        return self.household + self.student + self.attendance + self.poverty + self.disability


FULL = Size(1_000_000, 1_000_000, 950_000, 100_000, 20_000)
QUICK = Size(10_000, 10_000, 9_500, 1_000, 200)


def scaled(children: int) -> Size:
    return Size(children, children, children * 95 // 100, children // 10, children // 50)


# ---------------------------------------------------------------------------------------
# The files


def _id_of(k: int) -> tuple[str, date]:
    birth = BIRTH_START + timedelta(days=k % BIRTH_DAYS)
    serial = (k // BIRTH_DAYS) % 1000
    region = REGIONS[k // (BIRTH_DAYS * 1000)]
    return make_id_number(region, birth, serial), birth


def _status(k: int) -> str:
    return {1: "休学", 2: "毕业"}.get(k % 37, "在读")


def write_files(size: Size, folder: Path) -> dict[str, Path]:
    """The five registers as UTF-8 CSV files in `folder` (see the module docstring)."""
    n = size.household
    outside = size.student - (n - (n + 49) // 50)  # student children not in household
    assert outside >= 0, size
    last = n + outside
    ids: list[str] = []
    births: list[date] = []
    for k in range(last):
        number, birth = _id_of(k)
        ids.append(number)
        births.append(birth)

    def name(k: int) -> str:
        return SURNAMES[k % len(SURNAMES)] + GIVEN[(k // 7) % len(GIVEN)]

    def school(k: int) -> str:
        return f"{TOWNSHIPS[k % len(TOWNSHIPS)]}第{k % 5 + 1}小学"

    def place(k: int) -> tuple[str, str]:
        return TOWNSHIPS[k % len(TOWNSHIPS)], VILLAGES[(k // 7) % len(VILLAGES)]

    students = [k for k in range(last) if k >= n or k % 50 != 0]
    present = [k for k in students if k % 20 != 3]
    padding = list(range(0, n, 50))  # household-only children present at a school
    present += padding[: size.attendance - len(present)]
    assert len(students) == size.student and len(present) == size.attendance, size
    poverty = [10 * i + 3 for i in range(size.poverty)]
    disability = [49 * i for i in range(size.disability)]
    assert poverty[-1] < n and disability[-1] < n, size

    rows: dict[str, Any] = {
        "household": (
            (
                name(k),
                ids[k],
                "男" if int(ids[k][16]) % 2 else "女",
                births[k].isoformat(),
                *place(k),
            )
            for k in range(n)
        ),
        "student": (
            (
                name(k),
                ids[k],
                f"G{ids[k]}",
                school(k),
                GRADES[k % 9],
                f"{k % 6 + 1}班",
                _status(k),
            )
            for k in students
        ),
        "poverty": ((name(k), ids[k], *place(k), POVERTY[k % 3]) for k in poverty),
        "disability": ((name(k), ids[k], DISABILITY[k % 7], LEVELS[k % 4]) for k in disability),
        "attendance": (
            (
                school(k),
                name(k),
                "" if k % 10 == 4 else ids[k],
                "" if k % 10 == 6 else f"G{ids[k]}",
                GRADES[k % 9],
                f"{k % 6 + 1}班",
            )
            for k in present
        ),
    }
    paths = {}
    for source in SOURCES:
        path = folder / f"{source}.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(HEADINGS[source])
            writer.writerows(rows[source])
        paths[source] = path
    return paths


# ---------------------------------------------------------------------------------------
# The two sides (each run in a subprocess: `python -m benchmarks.bench_roster --SIDE DIR`)


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used so far: less
    sensitive than wall time to other work on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def caseflow_side(folder: Path) -> dict[str, Any]:
    """Import the five files into a fresh workspace and compare; the figures as a dict."""
    from caseflow.services import compare as compare_service
    from caseflow.services import roster as roster_service

    root = Path(tempfile.mkdtemp(prefix="workspace-", dir=folder))
    started = perf_counter()
    init_workspace(root)
    ctx = open_context(root)
    setup_s = perf_counter() - started
    try:
        imports: dict[str, float] = {}
        rejected = 0
        imported = 0
        cpu_started = _cpu_s()
        started = perf_counter()
        for source in SOURCES:
            begun = perf_counter()
            summary = roster_service.import_roster(ctx, source, folder / f"{source}.csv")
            imports[source] = perf_counter() - begun
            rejected += summary.rejected
            imported += summary.imported
        import_s = perf_counter() - started
        import_cpu_s = _cpu_s() - cpu_started
        imported_figures = {
            "stage": "imported",
            "import_s": import_s,
            "import_by_source_s": imports,
            "imported": imported,
            "rejected": rejected,
            "maxrss_kib": _maxrss_kib(),
            "compare_started_at": time.time(),  # wall clock, for the parent on a timeout
        }
        print(json.dumps(imported_figures), flush=True)  # kept if the comparison times out
        cpu_started = _cpu_s()
        started = perf_counter()
        comparison = compare_service.compare(ctx, as_of=AS_OF, ages=AGES)
        compare_s = perf_counter() - started
        compare_cpu_s = _cpu_s() - cpu_started
        counts = comparison.counts
    finally:
        ctx.engine.dispose()
    database = root / "caseflow.db"
    snapshots = sum(path.stat().st_size for path in (root / "rosters").glob("*.parquet"))
    database_bytes = database.stat().st_size if database.exists() else None
    shutil.rmtree(root, ignore_errors=True)
    return {
        "setup_s": setup_s,
        "import_s": import_s,
        "import_by_source_s": imports,
        "compare_s": compare_s,
        "import_cpu_s": import_cpu_s,
        "compare_cpu_s": compare_cpu_s,
        "imported": imported,
        "rejected": rejected,
        "suspects": len(comparison.suspects),
        "counts": counts,
        "database_bytes": database_bytes,
        "snapshot_bytes": snapshots,
        "maxrss_kib": _maxrss_kib(),
    }


def birth_band(as_of: date, youngest: int, oldest: int) -> tuple[str, str]:
    """YYYYMMDD bounds (inclusive) of children aged youngest..oldest on the latest
    1 September up to `as_of` (written independently of caseflow's)."""
    year = as_of.year if as_of >= date(as_of.year, 9, 1) else as_of.year - 1
    latest = date(year - youngest, 9, 1)
    earliest = date(year - oldest - 1, 9, 2)
    return earliest.strftime("%Y%m%d"), latest.strftime("%Y%m%d")


def duckdb_queries(band: tuple[str, str]) -> dict[str, str]:
    born = "substr({t}.id, 7, 8) BETWEEN '{lo}' AND '{hi}'"

    def in_band(table: str) -> str:
        return born.format(t=table, lo=band[0], hi=band[1])

    def versus_student(source: str) -> str:
        return (
            f"SELECT count(*) FROM {source} l WHERE l.id IS NOT NULL AND {in_band('l')} "
            "AND NOT EXISTS (SELECT 1 FROM student r WHERE r.id = l.id "
            "AND r.status IN ('在读', '休学'))"
        )

    return {
        "household_vs_student": versus_student("household"),
        "poverty_vs_student": versus_student("poverty"),
        "disability_vs_student": versus_student("disability"),
        "student_vs_attendance": (
            f"SELECT count(*) FROM student l WHERE l.id IS NOT NULL AND {in_band('l')} "
            "AND l.status = '在读' "
            "AND NOT EXISTS (SELECT 1 FROM attendance r WHERE r.id = l.id) "
            "AND NOT EXISTS (SELECT 1 FROM attendance r WHERE l.student_number IS NOT NULL "
            "AND r.student_number = l.student_number)"
        ),
    }


DUCKDB_COLUMNS = {  # heading -> column name, per file
    "身份证号": "id",
    "学籍号": "student_number",
    "学籍状态": "status",
}


def duckdb_side(folder: Path, threads: int | None) -> dict[str, Any]:
    """Load the five files into DuckDB and run the four anti-joins; the figures as a dict."""
    import duckdb

    connection = duckdb.connect(":memory:")
    if threads is not None:
        connection.execute(f"SET threads = {threads}")
    used_threads = connection.execute("SELECT current_setting('threads')").fetchone()
    cpu_started = _cpu_s()
    started = perf_counter()
    for source in SOURCES:
        path = str(folder / f"{source}.csv").replace("'", "''")
        columns = ", ".join(
            f'trim("{heading}") AS {DUCKDB_COLUMNS[heading]}'
            for heading in HEADINGS[source]
            if heading in DUCKDB_COLUMNS
        )
        connection.execute(
            f"CREATE TABLE {source} AS SELECT {columns} FROM read_csv('{path}', "
            "header = true, all_varchar = true)"
        )
    load_s = perf_counter() - started
    started = perf_counter()
    counts = {}
    for flag, query in duckdb_queries(birth_band(AS_OF, *AGES)).items():
        row = connection.execute(query).fetchone()
        assert row is not None
        counts[flag] = int(row[0])
    query_s = perf_counter() - started
    cpu_s = _cpu_s() - cpu_started
    connection.close()
    return {
        "load_s": load_s,
        "query_s": query_s,
        "seconds": load_s + query_s,
        "cpu_s": cpu_s,
        "counts": counts,
        "threads": used_threads[0] if used_threads else None,
        "maxrss_kib": _maxrss_kib(),
    }


def _subprocess(*args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_roster", *args],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def _peak_kib(pid: int) -> int | None:
    """VmHWM (peak resident set so far) of a running process, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _caseflow_subprocess(folder: Path, timeout: float) -> tuple[dict[str, Any], bool]:
    """The caseflow side's figures, and whether it was stopped after `timeout` seconds (then
    the figures are those printed after the imports, with the peak memory so far)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_roster", "--caseflow", str(folder)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, errors = process.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            peak = _peak_kib(process.pid)
            stopped_at = time.time()
            process.kill()
            _, errors = process.communicate()
            timed_out = True
        if process.returncode != 0 and not timed_out:
            raise RuntimeError(f"the caseflow side failed:\n{errors}")
        out.seek(0)
        lines = out.read().strip().splitlines()
    if not lines:
        raise RuntimeError(f"the caseflow side stopped after {timeout:.0f} s before its imports")
    figures: dict[str, Any] = json.loads(lines[-1])
    if timed_out:
        figures["compare_s_at_least"] = stopped_at - figures["compare_started_at"]
        if peak is not None:
            figures["maxrss_kib"] = peak
    return figures, timed_out


def duckdb_available() -> str | None:
    try:
        import duckdb  # noqa: F401
    except ImportError as error:
        return f"duckdb is not importable ({error}); pip install duckdb"
    return None


# ---------------------------------------------------------------------------------------
# The benchmark


def run(quick: bool) -> list[dict[str, Any]]:
    size = QUICK if quick else FULL
    missing = duckdb_available()
    if missing is not None:
        log(f"{NAME}: skipped: {missing}")
        return [{"name": NAME, "skipped": missing, "passed": False, "target": TARGET}]
    folder = Path(tempfile.mkdtemp(prefix="caseflow-bench-roster-"))
    try:
        log(f"{NAME}: writing {size.rows:,} rows of CSV to {folder}")
        started = perf_counter()
        paths = write_files(size, folder)
        generate_s = perf_counter() - started
        csv_bytes = sum(path.stat().st_size for path in paths.values())
        log(f"{NAME}: written in {generate_s:.1f} s ({csv_bytes / 1e6:.0f} MB)")
        timeout = float(os.environ.get(TIMEOUT_ENV, QUICK_TIMEOUT if quick else FULL_TIMEOUT))
        ducks, ducks_one, flows = [], [], []
        for round_number in range(1, ROUNDS[quick] + 1):
            log(f"{NAME}: round {round_number} of {ROUNDS[quick]}: DuckDB")
            ducks.append(_subprocess("--duckdb", str(folder)))
            log(f"{NAME}: DuckDB {ducks[-1]['seconds']:.2f} s; DuckDB on one thread")
            ducks_one.append(_subprocess("--duckdb", str(folder), "--threads", "1"))
            log(f"{NAME}: DuckDB (1 thread) {ducks_one[-1]['seconds']:.2f} s; caseflow")
            flow, timed_out = _caseflow_subprocess(folder, timeout)
            if timed_out:
                return [_timed_out(size, flow, ducks[-1], ducks_one[-1], timeout)]
            flows.append(flow)
            log(
                f"{NAME}: caseflow {flow['import_s'] + flow['compare_s']:.2f} s (import "
                f"{flow['import_s']:.2f} s, compare {flow['compare_s']:.2f} s)"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # The fastest round of each side: the one least disturbed by other work on the machine.
    duck = min(ducks, key=lambda figures: figures["seconds"])
    duck_one = min(ducks_one, key=lambda figures: figures["seconds"])
    flow = min(flows, key=lambda figures: figures["import_s"] + figures["compare_s"])
    caseflow_s = flow["import_s"] + flow["compare_s"]
    for figures in flows:
        assert figures["rejected"] == 0 and figures["imported"] == size.rows, figures
        assert figures["counts"] == duck["counts"] == duck_one["counts"], (
            figures["counts"],
            duck["counts"],
            duck_one["counts"],
        )
    assert all(flow["counts"][flag] > 0 for flag in FLAGS), flow["counts"]
    ratio = caseflow_s / duck["seconds"]
    record = result(
        NAME,
        ratio,
        TARGET,
        at_most=True,
        baseline="DuckDB (default threads): load the same CSV files, the same four anti-joins",
        rounds=len(flows),
        caseflow_s=round(caseflow_s, 3),
        caseflow_s_by_round=[round(f["import_s"] + f["compare_s"], 3) for f in flows],
        duckdb_s_by_round=[round(d["seconds"], 3) for d in ducks],
        median_ratio=round(
            median([f["import_s"] + f["compare_s"] for f in flows])
            / median([d["seconds"] for d in ducks]),
            3,
        ),
        caseflow_import_s=round(flow["import_s"], 3),
        caseflow_compare_s=round(flow["compare_s"], 3),
        caseflow_import_by_source_s={k: round(v, 3) for k, v in flow["import_by_source_s"].items()},
        caseflow_cpu_s=round(flow["import_cpu_s"] + flow["compare_cpu_s"], 3),
        duckdb_cpu_s=round(duck["cpu_s"], 3),
        cpu_ratio=round((flow["import_cpu_s"] + flow["compare_cpu_s"]) / duck["cpu_s"], 3),
        caseflow_rows_per_s=round(size.rows / caseflow_s),
        caseflow_import_rows_per_s=round(size.rows / flow["import_s"]),
        caseflow_maxrss_kib=flow["maxrss_kib"],
        memory_target_kib=MEMORY_TARGET_KIB,
        memory_passed=flow["maxrss_kib"] <= MEMORY_TARGET_KIB,
        caseflow_database_bytes=flow["database_bytes"],
        caseflow_snapshot_bytes=flow["snapshot_bytes"],
        duckdb_s=round(duck["seconds"], 3),
        duckdb_load_s=round(duck["load_s"], 3),
        duckdb_query_s=round(duck["query_s"], 3),
        duckdb_threads=duck["threads"],
        duckdb_one_thread_s=round(duck_one["seconds"], 3),
        ratio_one_thread=round(caseflow_s / duck_one["seconds"], 3),
        duckdb_maxrss_kib=duck["maxrss_kib"],
        suspects=flow["counts"],
        suspect_children=flow["suspects"],
        rows={source: getattr(size, source) for source in SOURCES},
        rows_total=size.rows,
        csv_bytes=csv_bytes,
        generate_s=round(generate_s, 2),
        as_of=AS_OF.isoformat(),
        ages=list(AGES),
    )
    record["passed"] = record["passed"] and record["memory_passed"]
    return [record]


def _timed_out(
    size: Size, flow: dict[str, Any], duck: dict[str, Any], duck_one: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """The record when caseflow's comparison did not finish: the ratio is a lower bound."""
    compare_at_least = flow["compare_s_at_least"]
    caseflow_at_least = flow["import_s"] + compare_at_least
    log(
        f"{NAME}: caseflow imported in {flow['import_s']:.2f} s; the comparison had not "
        f"finished after {compare_at_least:.0f} s ({timeout:.0f} s after the start); stopped"
    )
    assert flow["rejected"] == 0 and flow["imported"] == size.rows, flow
    record = result(
        NAME,
        caseflow_at_least / duck["seconds"],
        TARGET,
        at_most=True,
        baseline="DuckDB (default threads): load the same CSV files, the same four anti-joins",
        timed_out=f"caseflow's compare did not finish; stopped {timeout:.0f} s after start "
        f"(set {TIMEOUT_ENV} to wait longer)",
        ratio_is_lower_bound=True,
        caseflow_s_at_least=round(caseflow_at_least, 3),
        caseflow_import_s=round(flow["import_s"], 3),
        caseflow_compare_s_at_least=round(compare_at_least, 3),
        caseflow_import_by_source_s={k: round(v, 3) for k, v in flow["import_by_source_s"].items()},
        caseflow_import_rows_per_s=round(size.rows / flow["import_s"]),
        caseflow_maxrss_kib_so_far=flow["maxrss_kib"],
        memory_target_kib=MEMORY_TARGET_KIB,
        duckdb_s=round(duck["seconds"], 3),
        duckdb_load_s=round(duck["load_s"], 3),
        duckdb_query_s=round(duck["query_s"], 3),
        duckdb_threads=duck["threads"],
        duckdb_one_thread_s=round(duck_one["seconds"], 3),
        duckdb_maxrss_kib=duck["maxrss_kib"],
        duckdb_suspects=duck["counts"],
        rows={source: getattr(size, source) for source in SOURCES},
        rows_total=size.rows,
        as_of=AS_OF.isoformat(),
        ages=list(AGES),
    )
    record["passed"] = False
    return record


def profile_import(children: int, limit: int = 15) -> dict[str, Any]:
    """cProfile of caseflow importing the five files of a `children`-sized dataset."""
    from caseflow.services import roster as roster_service

    folder = Path(tempfile.mkdtemp(prefix="caseflow-bench-roster-"))
    try:
        write_files(scaled(children), folder)
        init_workspace(folder / "workspace")
        ctx = open_context(folder / "workspace")
        profiler = cProfile.Profile()
        started = perf_counter()
        profiler.enable()
        for source in SOURCES:
            roster_service.import_roster(ctx, source, folder / f"{source}.csv")
        profiler.disable()
        seconds = perf_counter() - started
        ctx.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    stats = pstats.Stats(profiler)
    rows: list[tuple[str, int, float, float]] = []
    for (path, line, function), (_cc, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.split("site-packages/")[-1] if "site-packages/" in path else path
        short = short[short.rindex("/caseflow/") + 1 :] if "/caseflow/" in short else short
        rows.append((f"{short}:{line}({function})", calls, own, cumulative))
    top = {
        key: [
            {"function": r[0], "calls": r[1], "own_s": round(r[2], 3), "cum_s": round(r[3], 3)}
            for r in sorted(rows, key=lambda r: -float(r[index]))[:limit]
        ]
        for key, index in (("own", 2), ("cumulative", 3))
    }
    return {"children": children, "rows": scaled(children).rows, "seconds": seconds, **top}


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) == 2 and arguments[0] == "--caseflow":
        print(json.dumps(caseflow_side(Path(arguments[1])), ensure_ascii=False))
    elif len(arguments) in (2, 4) and arguments[0] == "--duckdb":
        threads = int(arguments[3]) if len(arguments) == 4 and arguments[2] == "--threads" else None
        print(json.dumps(duckdb_side(Path(arguments[1]), threads), ensure_ascii=False))
    elif len(arguments) == 2 and arguments[0] == "--profile":
        print(json.dumps(profile_import(int(arguments[1])), ensure_ascii=False, indent=1))
    else:
        sys.exit(
            "usage: python -m benchmarks.bench_roster --caseflow DIR | --duckdb DIR "
            "[--threads N] | --profile CHILDREN"
        )
