"""Shared fixtures: every database test runs on a real SQLite file and, when
CASEFLOW_TEST_PG_URL is set, on a real PostgreSQL server (a fresh schema per test)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from caseflow import workspace as workspace_files
from caseflow.calendar import NationalCalendar, WorkCalendar
from caseflow.cli import app
from caseflow.engine import Actor
from caseflow.ids import make_id_number
from caseflow.services.cases import (
    ChildDetails,
    advance,
    approve_extension,
    request_extension,
)
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.org import apply_org

# The suite reads the English interface by default, so that its assertions name behaviour
# in the code's own words; the Chinese default is tested where the language is the subject
# (tests/test_language.py, tests/test_readme.py), with CASEFLOW_LANG=zh or --lang zh.
os.environ["CASEFLOW_LANG"] = "en"

PG_URL = os.environ.get("CASEFLOW_TEST_PG_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]

# A fixed "now" for service-level tests: 2026-11-29 10:00 in Guizhou.
FIXED_NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)

# Property tests check behaviour, not speed: a shared 2-core CI machine under load makes
# any per-example deadline flaky (benchmarks/ measure speed).
settings.register_profile("caseflow", deadline=None)
settings.load_profile("caseflow")


@pytest.fixture(autouse=True)
def language_of_the_environment() -> Iterator[None]:
    """A command line run with --lang keeps that language for the rest of the process; each
    test starts again from the environment's (English, above)."""
    from caseflow import i18n

    i18n.set_language(None)
    yield
    i18n.set_language(None)


def fixed_clock() -> datetime:
    return FIXED_NOW


def national_through(last_year: int) -> NationalCalendar:
    """The installed chinese-calendar's national table without the years after
    `last_year`: the same answers with every release that covers up to that year."""
    table = INSTALLED_NATIONAL
    return NationalCalendar(
        years=frozenset(year for year in table.years if year <= last_year),
        holidays=frozenset(day for day in table.holidays if day.year <= last_year),
        workdays=frozenset(day for day in table.workdays if day.year <= last_year),
    )


INSTALLED_NATIONAL = workspace_files.national_calendar()
# What the tests count with: chinese-calendar 1.11's years, 2004-2026. 2027 has no data.
NATIONAL = national_through(2026)
CALENDAR = WorkCalendar(NATIONAL)


@pytest.fixture(autouse=True)
def national_table(monkeypatch: pytest.MonkeyPatch) -> NationalCalendar:
    """Every workspace a test opens counts with NATIONAL, whichever chinese-calendar
    release is installed (a release with 2027 data must not change what tests see)."""
    monkeypatch.setattr(workspace_files, "national_calendar", lambda: NATIONAL)
    return NATIONAL


def pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@dataclass
class Database:
    backend: str
    url: str | None  # None: the workspace's default SQLite file


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", None)
        return
    assert PG_URL is not None
    schema = f"cf_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield Database("postgresql", pg_schema_url(schema))
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# The bodies that issue the documents of the tests' cases (天堂镇 and the bureau), with the
# contact person, phone and 文号 prefix every document they issue prints.
ISSUING_UNITS = """\
  - {id: bureau, kind: education_bureau, name: 本县教育局, reference_prefix: 本教,
     contact_person: 王某某, contact_phone: "0856-6221234"}
  - {id: tiantang, kind: township, name: 天堂镇, reference_prefix: 天府,
     contact_person: 李某某, contact_phone: "0856-6225678"}
"""


def issuing_org(operator: str, *, units: str = ISSUING_UNITS, more: str = "") -> str:
    """An org.yaml with the issuing units (``units``, YAML list items), ``operator`` its
    county-wide bureau admin, and ``more`` (further sections)."""
    return (
        f"units:\n{units}"
        f"operators:\n  - {{name: {operator}, os_user: {operator}, roles: [bureau, admin], "
        "unit: bureau}\n" + more
    )


@pytest.fixture
def workspace(tmp_path: Path, database: Database, request: pytest.FixtureRequest) -> Path:
    root = tmp_path / "county"
    _, operator = init_workspace(root, database.url, clock=fixed_clock)
    # The county's choice of who issues orders (unset in a new workspace: refused).
    set_order_issuer(root, "township")
    if request.node.get_closest_marker("bare_workspace") is None:
        put_issuing_org_in_force(root, operator)
    return root


def put_issuing_org_in_force(root: Path, operator: str, clock: Any = fixed_clock) -> None:
    """Write ``issuing_org`` to org.yaml and put it in force, as `caseflow org apply`."""
    (root / "org.yaml").write_text(issuing_org(operator), encoding="utf-8")
    context = open_context(root, clock=clock)
    try:
        apply_org(context)
    finally:
        context.engine.dispose()


def set_procedure(root: Path, **settings: str | int) -> None:
    """Make ``settings`` the county's ``[procedure]`` choices in the workspace's
    caseflow.toml (replacing earlier ones; the rest of the file stays)."""
    config = root / "caseflow.toml"
    before, _, rest = config.read_text(encoding="utf-8").partition("\n[procedure]\n")
    _, header, after = rest.partition("\n[")
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in settings.items()]
    config.write_text(
        "\n".join([before, "[procedure]", *lines, ""]) + header + after, encoding="utf-8"
    )


# The court the county names in its remedies clauses and enforcement applications.
COURT = "本县人民法院"


def set_order_issuer(root: Path, issuer: str, court: str = COURT) -> None:
    """Set what an order to correct needs, ``[procedure] order_issuer`` and the ``court``
    its remedies name (and no other choice), in caseflow.toml."""
    set_procedure(root, order_issuer=issuer, court=court)


@pytest.fixture
def ctx(workspace: Path) -> Iterator[Context]:
    context = open_context(workspace, clock=fixed_clock)
    yield context
    context.engine.dispose()


class Clock:
    """A clock the test moves by hand, starting at FIXED_NOW."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def child_id_number(serial: int = 2, birth: date = date(2013, 3, 5)) -> str:
    return make_id_number("520626", birth, serial % 1000)


def child(serial: int = 2, **overrides: object) -> ChildDetails:
    values: dict[str, object] = {
        "name": "张小华",
        "id_number": child_id_number(serial),
        "township": "天堂镇",
        "village": "天堂村",
        "school": "天堂小学",
    }
    values.update(overrides)
    return ChildDetails(**values)  # type: ignore[arg-type]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(workspace: Path) -> CliInvoker:
    return CliInvoker(workspace)


class CliInvoker:
    """Runs `caseflow -w WORKSPACE ...` in-process against the real database."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.runner = CliRunner()

    def __call__(self, *args: str) -> CliResult:
        result = self.runner.invoke(app, ["-w", str(self.workspace), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)


def audit_trail(ctx: Context, case: int | None = None) -> list[dict[str, Any]]:
    """Every audit event (of one case, if given), oldest first, as `audit log --json`
    shows them."""
    from caseflow.services.review import AuditFilter, audit_events

    return list(audit_events(ctx, AuditFilter(case=case)))


def snapshot_rows(ctx: Context, source: str) -> list[SimpleNamespace]:
    """The rows of the source's current snapshot file, in file order (none before its first
    import); every snapshot column is an attribute, None where the file filled none."""
    import duckdb

    from caseflow.roster import SNAPSHOT_COLUMNS
    from caseflow.services.snapshots import current_snapshots

    path = current_snapshots(ctx).get(source)
    if path is None:
        return []
    connection = duckdb.connect()
    try:
        result = connection.execute("SELECT * FROM read_parquet(?) ORDER BY line", [str(path)])
        names = [column[0] for column in result.description or ()]
        rows = result.fetchall()
    finally:
        connection.close()
    empty = dict.fromkeys(column for column, _ in SNAPSHOT_COLUMNS)
    return [SimpleNamespace(**{**empty, **dict(zip(names, row, strict=True))}) for row in rows]


def database_rows(ctx: Context, *, but_audit: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: compare before and after a refused
    command to show it left the database exactly as it was (``but_audit``: apart from the
    audit trail, where a refusal for want of permission is itself recorded)."""
    from sqlalchemy import MetaData, select

    metadata = MetaData()
    metadata.reflect(ctx.engine)
    with ctx.engine.connect() as connection:
        return {
            name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for name, table in sorted(metadata.tables.items())
            if not (but_audit and name.startswith("audit_"))
        }


def approver(ctx: Context) -> Context:
    """Another bureau operator of ctx's workspace, to approve what ctx's operator asks."""
    actor = Actor("县教育局分管领导", "approver", frozenset({"bureau"}))
    return Context(ctx.workspace, ctx.engine, actor, ctx.clock, ctx.calendar)


def granted_extension(
    ctx: Context, number: int, days: int, reason: str, *, occurred_on: date | None = None
) -> None:
    """An extension requested by ctx's operator and approved by another (``approver``)."""
    request_extension(ctx, number, days, reason, occurred_on=occurred_on)
    approve_extension(approver(ctx), number, occurred_on=occurred_on)


def approved_closure(
    ctx: Context, number: int, reason: str, evidence: str, *, occurred_on: date | None = None
) -> None:
    """A case closed (销号) the version 2 way: proposed by ctx's operator with its reason
    and evidence, approved by another (``approver``)."""
    advance(
        ctx,
        number,
        "propose_closure",
        {"reason": reason, "evidence": evidence},
        occurred_on=occurred_on,
    )
    advance(approver(ctx), number, "approve_closure", occurred_on=occurred_on)


def serve(ctx: Context, number: int, trigger: str, on: date) -> None:
    """Record, on the day ``on``, that a document was served in person that day."""
    advance(ctx, number, trigger, {"served_on": on.isoformat(), "method": "direct"}, occurred_on=on)


def county_today() -> date:
    """The real today in the workspace's time zone: the CLI runs on the system clock and
    counts days as the county does (Asia/Shanghai), not as this machine's UTC does."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def days_ago(n: int) -> str:
    """A date n county days before the real today."""
    return (county_today() - timedelta(days=n)).isoformat()


def open_case_by_cli(cli: CliInvoker, serial: int = 2, *extra: str) -> int:
    """`caseflow case open` of a child of 天堂村 found 10 days ago; returns the case number."""
    result = cli(
        "case",
        "open",
        "--name",
        "张小华",
        "--id-number",
        child_id_number(serial),
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
        "--school",
        "天堂小学",
        "--date",
        days_ago(10),
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    return int(json.loads(result.stdout)["number"])
