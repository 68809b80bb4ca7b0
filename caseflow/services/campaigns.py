"""Campaigns: notices queued by the calendar rather than by a case's deadline.

- The publicity letters (致家长的一封信) of the seed document's publicity months,
  February and August: one letter to every family with a school-age child in the imported
  registers, printed in batches, one file per school and per village, and a notice to
  each of those units that its batch is ready.
- The monthly report (控辍保学工作月报) on the previous calendar month to the county
  supervision office.

Each run writes its notices into the outbox with one audit event, in one transaction.
Idempotency keys name the month (``publicity:2027-02:school:天堂小学``,
``monthly-report:2026-11``): running a campaign again in the same month queues only what
is missing (``INSERT ... ON CONFLICT DO NOTHING`` on the unique key, so two runs at once
cannot queue a notice twice either) and records nothing when nothing was queued.

Who gets a letter, and through whom (``publicity_batches``). The children are the 户籍
register's, school-age now or by the coming 1 September (aged 6-15 on the latest
1 September, or 6 on the next), plus the 学籍 register's enrolled school-age students
whom the 户籍 register does not list (children registered elsewhere who study here).
Siblings are the children whom the 户籍 register gives the same guardian (name, and phone
where given) at the same address (township, village, group, address). A child at school
(学籍 在读 or 休学) gets the letter through the school, the others through the village of
their 户籍 registration; siblings who go through the same unit share one letter (a page
of their own in the batch, the receipt naming each), so every child is named on exactly
one letter. A child without a guardian in the register is a family of their own.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, false, func, or_, select

from caseflow import access, db, escalation
from caseflow.errors import InvalidInput, Refused
from caseflow.i18n import N_, _
from caseflow.services import outbox
from caseflow.services.context import Context
from caseflow.services.outbox import publicity_key, report_key
from caseflow.services.records import CASE, EVENT, Workflows, org_in_force, record, require

LETTER_TEMPLATE = "family_letter"
BATCH_TEMPLATE = "publicity_batch"
REPORT_TEMPLATE = "monthly_report"
REPORT_RECIPIENT = "supervision_office"
CAMPAIGN_NAME = "致家长的一封信"
CAMPAIGNS_DIR = "campaigns"  # in the workspace: campaigns/<YYYY-MM>/<batch file>
_UNSAFE_NAME = re.compile(r'[\x00-\x1f/\\:*?"<>|]+')

Progress = Callable[[int, int], None]  # (children placed on a letter so far, children)


@dataclass(frozen=True)
class Pupil:
    """A child as the family's letter names it (no ID: a letter carries none)."""

    name: str
    school: str = ""  # empty: not at school in the county's 学籍 register
    grade: str = ""
    class_name: str = ""


@dataclass
class Batch:
    """The letters one unit hands out: ``kind`` ``school`` (its name) or ``village``
    (``天堂镇/天堂村``), a list of families, each the children it names."""

    kind: str
    unit: str
    families: list[list[Pupil]] = field(default_factory=list)

    @property
    def recipient(self) -> str:
        """The unit's notice address (as org.yaml's units are addressed)."""
        return f"{self.kind}:{self.unit}"

    @property
    def label(self) -> str:
        return self.unit.replace("/", "")

    @property
    def children(self) -> int:
        return sum(len(family) for family in self.families)

    def file_name(self, day: date) -> str:
        """The batch's file: the campaign, month, unit kind and unit; never a child."""
        kind = "学校" if self.kind == "school" else "村"
        unit = _UNSAFE_NAME.sub("_", self.label).strip(". ") or "未命名"
        return f"{CAMPAIGN_NAME}_{day.year}年{day.month}月_{kind}_{unit}.html"


@dataclass(frozen=True)
class Printed:
    """One batch of a run: where its file is (relative to the workspace) and its counts."""

    kind: str
    unit: str
    file: str
    families: int
    children: int

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PublicityRun:
    """What ``queue_publicity_letters`` did: the batches printed now, and how many
    batches of the month had been printed before (not printed again)."""

    day: date
    printed: tuple[Printed, ...]
    already_printed: int
    folder: str

    @property
    def families(self) -> int:
        return sum(batch.families for batch in self.printed)

    @property
    def children(self) -> int:
        return sum(batch.children for batch in self.printed)

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "month": f"{self.day:%Y-%m}",
            "folder": self.folder,
            "batches": [batch.as_json() for batch in self.printed],
            "families": self.families,
            "children": self.children,
            "already_printed": self.already_printed,
        }


def school_age_band(day: date) -> tuple[str, str]:
    """Birth dates (YYYYMMDD, inclusive) of the children a letter dated ``day`` is for:
    aged 6-15 on the latest 1 September (the comparison's school age), or 6 by the next
    1 September (their parents enrol them then)."""
    from caseflow.roster import DEFAULT_AGES, birth_band, reference_date

    latest = reference_date(day)
    coming = latest.replace(year=latest.year + 1)
    return birth_band(latest, *DEFAULT_AGES)[0], birth_band(coming, *DEFAULT_AGES)[1]


def _registers(ctx: Context) -> dict[str, Path]:
    """The 户籍 and 学籍 snapshots; refused, naming what to import, while either is not."""
    from caseflow.services.snapshots import current_snapshots

    snapshots = current_snapshots(ctx)
    needed = {"household": N_("household register"), "student": N_("school register")}
    missing = [source for source in needed if source not in snapshots]
    if missing:
        names = _(" and the ").join(_(needed[source]) for source in missing)
        how = _("; ").join(
            _("caseflow roster import {source} FILE --as-of DAY-OF-EXTRACT").format(source=source)
            for source in missing
        )
        raise Refused(
            _(
                "Not imported yet: the {registers}; until then who gets the {campaign} is "
                "unknown (the household register gives the children of school age, their "
                "guardians and addresses; the school register their schools and classes). "
                "Import first: {how}"
            ).format(registers=names, campaign=f"《{CAMPAIGN_NAME}》", how=how)
        )
    return {source: snapshots[source] for source in needed}


def _family_rows_sql(registers: dict[str, tuple[Path, set[str]]], band: tuple[str, str]) -> str:
    """The children of the letters, one row each, ordered by batch, then family: kind,
    unit, family, name, school, grade, class_name. ``registers``: each snapshot's file and
    its columns (a column the imported file did not have is NULL)."""
    from caseflow.roster import ENROLLED, sql_text

    def scan(source: str, *names: str) -> str:
        path, present = registers[source]
        picked = ", ".join(name if name in present else f"NULL AS {name}" for name in names)
        return f"(SELECT {picked} FROM read_parquet({sql_text(str(path))}))"

    low, high = (sql_text(value) for value in band)
    enrolled = ", ".join(sql_text(status) for status in ENROLLED)

    def aged(id_number: str) -> str:
        return f"substr({id_number}, 7, 8) BETWEEN {low} AND {high}"

    household = scan(
        "household",
        "line",
        "id_number",
        "name",
        "township",
        "village",
        "group_name",
        "address",
        "guardian",
        "phone",
    )
    student = scan(
        "student", "line", "id_number", "name", "school", "grade", "class_name", "status"
    )
    return f"""
WITH h AS (
  SELECT * FROM {household} WHERE id_number IS NOT NULL AND {aged("id_number")}
  QUALIFY row_number() OVER (PARTITION BY id_number ORDER BY line) = 1
), s AS (
  SELECT * FROM {student} WHERE id_number IS NOT NULL AND status IN ({enrolled})
  QUALIFY row_number() OVER (PARTITION BY id_number ORDER BY line) = 1
), children AS (
  SELECT h.id_number, h.name, s.school, s.grade, s.class_name,
    CASE WHEN coalesce(trim(h.guardian), '') = '' THEN 'child|' || h.id_number
      ELSE concat_ws('|', 'family', h.township, h.village, coalesce(h.group_name, ''),
        coalesce(h.address, ''), trim(h.guardian), coalesce(h.phone, '')) END AS family,
    h.township || '/' || h.village AS village
  FROM h LEFT JOIN s USING (id_number)
  UNION ALL
  SELECT s.id_number, s.name, s.school, s.grade, s.class_name, 'child|' || s.id_number, NULL
  FROM s WHERE {aged("s.id_number")}
    AND NOT EXISTS (SELECT 1 FROM h WHERE h.id_number = s.id_number)
)
SELECT CASE WHEN school IS NULL THEN 'village' ELSE 'school' END AS kind,
  coalesce(school, village) AS unit, family, name, school, grade, class_name
FROM children
ORDER BY kind, unit, family, substr(id_number, 7, 8), id_number
"""


@contextmanager
def _duckdb(registers: dict[str, Path]) -> Iterator[tuple[Any, dict[str, tuple[Path, set[str]]]]]:
    """A DuckDB connection, and each snapshot with the columns it has."""
    import duckdb

    from caseflow.roster import sql_text
    from caseflow.services.snapshots import MEMORY_LIMIT, interruptible

    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:
        with interruptible():
            described = {}
            for source, path in registers.items():
                schema = connection.execute(
                    f"SELECT name FROM parquet_schema({sql_text(str(path))})"
                ).fetchall()
                described[source] = (path, {str(name) for (name,) in schema})
            yield connection, described
    finally:
        connection.close()


def publicity_batches(
    registers: dict[str, Path], day: date, *, chunk: int = 10_000
) -> Iterator[Batch]:
    """The batches of the letters dated ``day``, one unit at a time (schools, then
    villages, each by name), read from the 户籍 and 学籍 snapshots with DuckDB."""
    with _duckdb(registers) as (connection, described):
        result = connection.execute(_family_rows_sql(described, school_age_band(day)))
        batch: Batch | None = None
        family_key: str | None = None
        while rows := result.fetchmany(chunk):
            for kind, unit, family, name, school, grade, class_name in rows:
                if batch is None or (batch.kind, batch.unit) != (kind, unit):
                    if batch is not None:
                        yield batch
                    batch, family_key = Batch(kind, unit), None
                if family != family_key:
                    batch.families.append([])
                    family_key = family
                batch.families[-1].append(Pupil(name, school or "", grade or "", class_name or ""))
        if batch is not None:
            yield batch


def _count_children(registers: dict[str, Path], day: date) -> int:
    with _duckdb(registers) as (connection, described):
        sql = f"SELECT count(*) FROM ({_family_rows_sql(described, school_age_band(day))})"
        row = connection.execute(sql).fetchone()
        return int(row[0]) if row else 0


def _letter_issuer(ctx: Context, connection: Connection) -> Callable[[Batch], str]:
    """Who signs a batch's letters: the body the workflow declares for the 致家长的一封信
    (``documents: parent_letter``; the family letter is that letter written to a family):
    the education bureau as the organisation in force names it, a school batch's school,
    else the leading group's office."""
    role = ctx.current_workflow.document("parent_letter").issuer
    org = org_in_force(connection)
    bureau = org.bureau_authority(f"{ctx.workspace.county}教育局").name

    def issuer(batch: Batch) -> str:
        if role == "education_bureau":
            return bureau
        if role == "school" and batch.kind == "school":
            return org.school_authority(batch.unit).name
        return ctx.workspace.issuer

    return issuer


def _batch_file(ctx: Context, batch: Batch, day: date, scratch: Path, issuer_name: str) -> Path:
    """Render the batch's letters, a page per family, into one file in ``scratch``."""
    from caseflow.render import bundle, render

    issuer = {"name": issuer_name}
    if batch.kind == "school":
        return_via = "由孩子交回班主任"
    else:
        village = escalation.recipient_label(batch.recipient, departments={})
        return_via = f"交回{village}"
    letters = [
        (
            f"{batch.label}-{index}",
            render(
                LETTER_TEMPLATE,
                {
                    "today": day,
                    "issuer": issuer,
                    "family": {
                        "children": [asdict(pupil) for pupil in family],
                        "return_via": return_via,
                    },
                },
            ),
        )
        for index, family in enumerate(batch.families, start=1)
    ]
    title = f"{CAMPAIGN_NAME}（{batch.label}，{len(batch.families)}户）"
    path = scratch / batch.file_name(day)
    path.write_text(bundle(letters, title), encoding="utf-8")
    return path


def _batch_notice(ctx: Context, batch: Batch, day: date, file: str) -> outbox.Draft:
    """The notice telling the unit its batch is ready (counts and the file; no names)."""
    from caseflow.render import render

    recipient = escalation.recipient_label(
        batch.recipient, departments=ctx.current_workflow.departments
    )
    how = "组织班主任发给学生带交家长" if batch.kind == "school" else "组织村干部逐户送达家长"
    body = render(
        BATCH_TEMPLATE,
        {
            "today": day,
            "issuer": {"name": ctx.workspace.issuer},
            "recipient": {"name": recipient},
            "batch": {
                "month": f"{day.year}年{day.month}月",
                "families": len(batch.families),
                "children": batch.children,
                "file": file,
                "how": how,
            },
        },
    )
    title = outbox.title_of(body, BATCH_TEMPLATE)
    return outbox.Draft(
        key=publicity_key(day, batch.recipient),
        kind="notice",
        template=BATCH_TEMPLATE,
        recipient=batch.recipient,
        case_ids=[],
        subject=f"{title}（{batch.label}，{len(batch.families)}户）",
        body=body,
    )


def queue_publicity_letters(
    ctx: Context, day: date, *, progress: Progress | None = None
) -> PublicityRun:
    """Print the 致家长的一封信 dated ``day`` for every family with a school-age child in
    the 户籍 and 学籍 registers (see the module's docstring): one HTML file per school and
    per village in ``campaigns/<YYYY-MM>/`` of the workspace, a page per family, and queue
    a notice to each of those units that its batch is ready. Once per unit per month: a
    unit whose batch of the month was printed is not printed again. One audit event with
    the counts. Refused while the 户籍 or 学籍 register is not imported."""
    require(ctx, access.DISPATCHERS, "notice queue-letters")
    if day > ctx.today:
        raise InvalidInput(
            _(
                "The letter's date {day} is after today and cannot be printed in advance; give "
                "today or an earlier day (--date)"
            ).format(day=day.isoformat())
        )
    registers = _registers(ctx)
    month = f"{day:%Y-%m}"
    folder = Path(CAMPAIGNS_DIR) / month
    with db.read(ctx.engine) as connection:
        done = outbox.queued_keys(connection, "publicity", month)
        issuer = _letter_issuer(ctx, connection)
    total = _count_children(registers, day) if progress is not None else 0
    placed = 0
    month_folder = ctx.workspace.root / folder
    month_folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".campaign-", dir=month_folder) as tmp:
            scratch = Path(tmp)
            drafts: dict[str, tuple[Printed, Path, outbox.Draft]] = {}
            already = 0
            for batch in publicity_batches(registers, day):
                key = publicity_key(day, batch.recipient)
                if key in done:
                    already += 1
                else:
                    path = _batch_file(ctx, batch, day, scratch, issuer(batch))
                    file = (folder / path.name).as_posix()
                    counts = Printed(
                        batch.kind, batch.unit, file, len(batch.families), batch.children
                    )
                    drafts[key] = (counts, path, _batch_notice(ctx, batch, day, file))
                placed += batch.children
                if progress is not None:
                    progress(placed, total)
            printed = _publish(ctx, day, folder, drafts, already)
    finally:
        with suppress(OSError):  # nothing printed: leave no empty month folder behind
            month_folder.rmdir()
    return PublicityRun(day, printed, already + len(drafts) - len(printed), folder.as_posix())


def _publish(
    ctx: Context,
    day: date,
    folder: Path,
    drafts: dict[str, tuple[Printed, Path, outbox.Draft]],
    already: int,
) -> tuple[Printed, ...]:
    """Queue the batches' notices and put their files in place, with one audit event, in
    one transaction; a batch another run queued meanwhile is left to that run. A failure
    removes the files put in place."""
    now = ctx.now()
    placed: list[Path] = []
    try:
        with db.write(ctx.engine) as connection:
            written = outbox.queue(connection, [draft for _b, _p, draft in drafts.values()], now)
            printed = sorted((drafts[key][0] for key in written), key=lambda b: (b.kind, b.unit))
            for key in written:
                scratch_path = drafts[key][1]
                target = ctx.workspace.root / folder / scratch_path.name
                os.replace(scratch_path, target)
                placed.append(target)
            if printed:
                kinds = Counter(batch.kind for batch in printed)
                record(
                    ctx,
                    connection,
                    now,
                    action="campaign.publicity_letters",
                    occurred_on=day,
                    payload={
                        "month": f"{day:%Y-%m}",
                        "schools": kinds["school"],
                        "villages": kinds["village"],
                        "families": sum(batch.families for batch in printed),
                        "children": sum(batch.children for batch in printed),
                        "already_printed": already + len(drafts) - len(printed),
                    },
                )
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    return tuple(printed)


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @classmethod
    def before(cls, month: date) -> Period:
        """The calendar month before the one ``month`` falls in."""
        end = month.replace(day=1) - timedelta(days=1)
        return cls(end.replace(day=1), end)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def cn_label(self) -> str:
        return f"{self.start.year}年{self.start.month}月"


def queue_monthly_report(ctx: Context, month: date) -> int:
    """Queue the monthly report on the calendar month before ``month`` to the supervision
    office. Returns 1 if queued, 0 if that month's report was already in the outbox.

    Flows (``new``, ``returned``, ``retained``) count what happened in the period by the
    day it happened (``occurred_on``): cases opened, and transitions into ``returned``
    (not a check-in within it) or ``retained`` read from the audit trail. Standing figures
    (cases per state, open, ``overdue``: open cases due before the period's last day) are
    the case files as they stand when the report is made, which the scheduler does hours
    after the period ends."""
    from caseflow.render import render

    require(ctx, access.DISPATCHERS, "notice queue-report")
    period = Period.before(month)
    if period.end >= ctx.today:
        raise InvalidInput(
            _("the month {month} has not ended yet; its report can be made from {day}").format(
                month=period.label, day=(period.end + timedelta(days=1)).isoformat()
            )
        )
    now = ctx.now()
    key = report_key(period.start)
    with db.write(ctx.engine) as connection:
        if outbox.ids_of(connection, [key]):
            return 0
        figures = report_figures(ctx, connection, period)
        body = render(
            REPORT_TEMPLATE,
            {
                "today": ctx.today,
                "issuer": {"name": ctx.workspace.issuer, "reference": ""},
                "recipient": {
                    "name": escalation.recipient_label(
                        REPORT_RECIPIENT, departments=ctx.current_workflow.departments
                    )
                },
                "report": figures,
            },
        )
        notice = outbox.Draft(
            key=key,
            kind="report",
            template=REPORT_TEMPLATE,
            recipient=REPORT_RECIPIENT,
            case_ids=[],
            subject=f"{outbox.title_of(body, REPORT_TEMPLATE)}（{period.cn_label}）",
            body=body,
        )
        if not outbox.queue(connection, [notice], now):
            return 0
        record(
            ctx,
            connection,
            now,
            action="campaign.monthly_report",
            occurred_on=ctx.today,
            payload={
                "month": period.label,
                "queued": 1,
                "new": figures["new"],
                "returned": figures["returned"],
                "retained": figures["retained"],
                "overdue": figures["overdue"],
                "open": sum(row["count"] for row in figures["by_state"]),
            },
        )
    return 1


def report_figures(ctx: Context, connection: Connection, period: Period) -> dict[str, Any]:
    """The numbers of the monthly report (no personal data)."""
    open_by_state: dict[str, int] = dict(
        connection.execute(
            select(CASE.c.state, func.count()).where(CASE.c.is_open).group_by(CASE.c.state)
        ).all()
    )
    workflow = ctx.current_workflow
    order = [sid for sid, state in workflow.states.items() if not state.is_terminal]
    order += sorted(set(open_by_state) - set(order))
    by_state = [
        {
            "state": sid,
            "label": workflow.states[sid].label if sid in workflow.states else sid,
            "count": open_by_state.get(sid, 0),
        }
        for sid in order
    ]
    standing = connection.execute(
        select(
            CASE.c.township,
            func.count(),
            func.sum(case((CASE.c.due_on < period.end, 1), else_=0)),
        )
        .where(CASE.c.is_open)
        .group_by(CASE.c.township)
    ).all()
    entered = _entered(ctx, connection, period)
    returned_by_township = Counter(
        township for (into, _case, township) in entered if into == "monitoring"
    )
    townships = sorted({row[0] for row in standing} | set(returned_by_township))
    standing_by_township = {row[0]: (int(row[1]), int(row[2] or 0)) for row in standing}
    by_township = [
        {
            "township": township,
            "open": standing_by_township.get(township, (0, 0))[0],
            "returned": returned_by_township[township],
            "overdue": standing_by_township.get(township, (0, 0))[1],
        }
        for township in townships
    ]
    new = connection.execute(
        select(func.count())
        .select_from(CASE)
        .where(CASE.c.opened_on >= period.start, CASE.c.opened_on <= period.end)
    ).scalar_one()
    return {
        "period_start": period.start,
        "period_end": period.end,
        "by_state": by_state,
        "by_township": by_township,
        "new": int(new),
        "returned": sum(1 for (into, _c, _t) in entered if into == "monitoring"),
        "retained": sum(1 for (into, _c, _t) in entered if into == "retained"),
        "overdue": sum(row["overdue"] for row in by_township),
    }


def _entered(ctx: Context, connection: Connection, period: Period) -> set[tuple[str, int, str]]:
    """(category, case, township) for each case that entered a ``monitoring`` or
    ``retained`` state in the period, from the audit trail; a case counts once per
    category however often it entered it. The LIKE narrows the rows to moves into a state
    of those categories in any stored definition (payloads are canonical JSON, so the text
    is exact); each move is then read with the definition it was recorded with, leaving
    out moves within a category such as check-ins."""
    categories = ("monitoring", "retained")
    workflows = Workflows()
    wanted = sorted(workflows.states_in(connection, *categories))
    rows = connection.execute(
        select(EVENT.c.case_id, EVENT.c.payload, CASE.c.township)
        .join(CASE, CASE.c.id == EVENT.c.case_id)
        .where(
            EVENT.c.action == "case.transition",
            EVENT.c.occurred_on >= period.start.isoformat(),
            EVENT.c.occurred_on <= period.end.isoformat(),
            or_(false(), *(EVENT.c.payload.contains(f'"to":"{state}"') for state in wanted)),
        )
    )
    entered = set()
    for case_id, payload, township in rows.all():
        move = json.loads(payload)
        workflow = workflows.recorded_with(connection, move, ctx.current_workflow)
        into = workflow.category_entered(str(move.get("from")), str(move.get("to")))
        if into in categories:
            entered.add((into, case_id, township))
    return entered
