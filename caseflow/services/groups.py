"""Special groups on the child (特殊群体: 残疾, 贫困/脱贫户, 患病, 留守, 学困, 易地扶贫搬迁户子女,
服刑人员未成年子女): who belongs to which, said by whom, and how each is shown.

The groups are the workflow's ``special_groups`` vocabulary. A child belongs to a group by
a register (the 扶贫 and 残疾人 registers, as the workflow's ``register_groups`` name them:
:func:`sync_register_groups`, run when the comparison opens cases and when one of those
registers is imported) or by a caseworker (``caseflow case update --special-group``). Each
source keeps its own row (``child_group``), so a group a caseworker set outlives a register
that drops the child, and a register's group cannot be taken off by hand. A group is shown
once, the disability with its category and grade: ``残疾（肢体二级）``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from caseflow import db
from caseflow.choices import resolve
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.models import ChildGroup
from caseflow.roster import DISABILITY_CATEGORIES
from caseflow.services.context import Context
from caseflow.services.records import CASE, CHILD, Workflows, record
from caseflow.services.snapshots import MEMORY_LIMIT, current_snapshots
from caseflow.states import Workflow

CHILD_GROUP = ChildGroup.__table__  # type: ignore[attr-defined]

CASEWORKER = "caseworker"
# Who says a child belongs to a group: the register (by its roster source) or a caseworker.
GROUP_SOURCES: Mapping[str, str] = {
    "poverty": "扶贫登记册",
    "disability": "残疾人登记册",
    CASEWORKER: "工作人员登记",
}
REGISTER_SOURCES = ("poverty", "disability")
DISABILITY_LABELS: Mapping[str, str] = {
    code: label for label, code in DISABILITY_CATEGORIES.items()
}
GRADE_LABELS = ("一级", "二级", "三级", "四级")
# A poverty register category naming relocation (易地扶贫搬迁户, 易地搬迁...).
RELOCATION_MARK = "搬迁"


def resolve_group(workflow: Workflow, given: str) -> str:
    """The group key for what a person typed: its label (留守) or its key (left_behind)."""
    groups = workflow.special_groups
    if not groups:
        raise InvalidInput(
            _(
                "The workflow “{workflow}” (version {version}) defines no special groups "
                "(special_groups); list them in the workflow file first."
            ).format(workflow=workflow.label, version=workflow.version)
        )
    return resolve(given, groups, what=_("Special group"))


def group_label(
    label: str, disability_category: str | None = None, disability_grade: int | None = None
) -> str:
    """残疾（肢体二级）: a group's label with the disability's category and grade, if known."""
    detail = DISABILITY_LABELS.get(disability_category or "", disability_category or "")
    if disability_grade is not None and 1 <= disability_grade <= len(GRADE_LABELS):
        detail += GRADE_LABELS[disability_grade - 1]
    return f"{label}（{detail}）" if detail else label


@dataclass(frozen=True)
class Membership:
    """One child's belonging to one group, as one source said it."""

    code: str
    source: str
    disability_category: str | None = None
    disability_grade: int | None = None
    recorded_on: date | None = None

    def label(self, labels: Mapping[str, str]) -> str:
        return group_label(
            labels.get(self.code, self.code), self.disability_category, self.disability_grade
        )

    def event_item(self, labels: Mapping[str, str]) -> dict[str, Any]:
        return {"group": self.code, "label": self.label(labels), "source": self.source}


def memberships(connection: Connection, child_ids: Iterable[int]) -> dict[int, list[Membership]]:
    """Every group row of these children, by child."""
    ids = sorted(set(child_ids))
    found: dict[int, list[Membership]] = {}
    if not ids:
        return found
    query = select(CHILD_GROUP).where(CHILD_GROUP.c.child_id.in_(bindparam("ids", expanding=True)))
    for start in range(0, len(ids), 1000):
        for row in connection.execute(query, {"ids": ids[start : start + 1000]}):
            found.setdefault(row.child_id, []).append(
                Membership(
                    row.code,
                    row.source,
                    row.disability_category,
                    row.disability_grade,
                    row.recorded_on,
                )
            )
    return found


def shown(rows: Sequence[Membership], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each group of one child once, in the vocabulary's order, with every source that
    says so; the label carries the disability's category and grade where a source knows
    them."""
    by_code: dict[str, list[Membership]] = {}
    for row in rows:
        by_code.setdefault(row.code, []).append(row)
    order = {code: index for index, code in enumerate(labels)}
    views = []
    for code in sorted(by_code, key=lambda c: (order.get(c, len(order)), c)):
        found = sorted(by_code[code], key=lambda m: (m.disability_category is None, m.source))
        views.append(
            {
                "group": code,
                "label": found[0].label(labels),
                "sources": [m.source for m in found],
                "source_labels": [GROUP_SOURCES.get(m.source, m.source) for m in found],
            }
        )
    return views


def stored_labels(connection: Connection) -> dict[str, str]:
    """The special groups' labels of every stored workflow definition (the later version
    naming a key last)."""
    labels: dict[str, str] = {}
    for workflow in sorted(Workflows().stored(connection), key=lambda w: (w.name, w.version)):
        labels.update(workflow.special_groups)
    return labels


def groups_by_case(
    connection: Connection, case_ids: Sequence[int], labels: Mapping[str, str] | None = None
) -> dict[int, tuple[str, ...]]:
    """Each case's child's special groups as labels (残疾（肢体二级）、留守), for the ledgers;
    a case whose child belongs to none is left out. ``labels``: key -> label (default: the
    stored workflows')."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    children: dict[int, int] = {}
    query = select(CASE.c.id, CASE.c.child_id).where(
        CASE.c.id.in_(bindparam("ids", expanding=True))
    )
    for start in range(0, len(ids), 1000):
        children.update(
            (row.id, row.child_id)
            for row in connection.execute(query, {"ids": ids[start : start + 1000]})
        )
    rows = memberships(connection, children.values())
    if not rows:
        return {}
    names = stored_labels(connection) if labels is None else labels
    return {
        case_id: tuple(view["label"] for view in shown(rows[child_id], names))
        for case_id, child_id in children.items()
        if child_id in rows
    }


def groups_by_id_number(
    ctx: Context, connection: Connection, id_numbers: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The special groups of the children with these ID numbers, as labels, for the
    文化户口台账: those recorded on a child with a case (by a caseworker or a register) and
    those the current 扶贫 and 残疾人 registers give any child, with a case or not."""
    workflow = ctx.current_workflow
    wanted = sorted(set(id_numbers))
    held: dict[str, list[Membership]] = {}
    query = select(CHILD.c.id, CHILD.c.id_number).where(
        CHILD.c.id_number.in_(bindparam("numbers", expanding=True))
    )
    children: dict[int, str] = {}
    for start in range(0, len(wanted), 1000):
        children.update(connection.execute(query, {"numbers": wanted[start : start + 1000]}).all())
    for child_id, rows in memberships(connection, children).items():
        held.setdefault(children[child_id], []).extend(rows)
    snapshots = {s: p for s, p in current_snapshots(ctx).items() if s in REGISTER_SOURCES}
    if snapshots and workflow.register_groups and wanted:
        for number, found in _wanted(workflow, _register_rows(snapshots, wanted)).items():
            known = {(m.code, m.source) for m in held.get(number, ())}
            held.setdefault(number, []).extend(m for k, m in found.items() if k not in known)
    labels = workflow.special_groups
    return {
        number: tuple(view["label"] for view in shown(rows, labels))
        for number, rows in held.items()
    }


# ---------------------------------------------------------------------------------------
# From the registers


@dataclass
class Synced:
    """What a register sync changed: the children whose groups changed, and how many
    group rows were added and removed."""

    children: int = 0
    added: int = 0
    removed: int = 0
    sources: tuple[str, ...] = ()  # the registers read (those with a current snapshot)
    cases: list[int] = field(default_factory=list)  # the case each change was recorded on

    def as_json(self) -> dict[str, Any]:
        return {
            "children": self.children,
            "added": self.added,
            "removed": self.removed,
            "registers": list(self.sources),
        }


def _register_rows(
    snapshots: Mapping[str, Path], id_numbers: Sequence[str]
) -> dict[str, list[tuple[str, Any, Any]]]:
    """Per register source: (id_number, category, disability grade) of the rows of the
    children asked about."""
    import duckdb

    found: dict[str, list[tuple[str, Any, Any]]] = {}
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:
        connection.execute("CREATE TEMP TABLE asked (id_number VARCHAR)")
        connection.executemany("INSERT INTO asked VALUES (?)", [(n,) for n in id_numbers])
        for source in REGISTER_SOURCES:
            path = snapshots.get(source)
            if path is None:
                continue
            columns = {
                str(name)
                for (name,) in connection.execute(
                    "SELECT name FROM parquet_schema(?)", [str(path)]
                ).fetchall()
            }
            grade = "disability_grade" if "disability_grade" in columns else "NULL"
            category = "category" if "category" in columns else "NULL"
            found[source] = [
                (str(number), cat, level)
                for number, cat, level in connection.execute(
                    f"SELECT r.id_number, {category}, {grade} FROM read_parquet(?) r "
                    "WHERE r.id_number IN (SELECT id_number FROM asked) ORDER BY r.line",
                    [str(path)],
                ).fetchall()
            ]
    finally:
        connection.close()
    return found


def _wanted(
    workflow: Workflow, rows: Mapping[str, list[tuple[str, Any, Any]]]
) -> dict[str, dict[tuple[str, str], Membership]]:
    """The register groups each child (by ID number) belongs to: (key, source) -> row."""
    purposes = workflow.register_groups
    wanted: dict[str, dict[tuple[str, str], Membership]] = {}
    for number, category, _grade in rows.get("poverty", ()):
        held = wanted.setdefault(number, {})
        if "poverty" in purposes:
            held[(purposes["poverty"], "poverty")] = Membership(purposes["poverty"], "poverty")
        if "relocation" in purposes and RELOCATION_MARK in str(category or ""):
            code = purposes["relocation"]
            held[(code, "poverty")] = Membership(code, "poverty")
    if "disability" in purposes:
        code = purposes["disability"]
        for number, category, grade in rows.get("disability", ()):
            wanted.setdefault(number, {})[(code, "disability")] = Membership(
                code,
                "disability",
                str(category) if category not in (None, "") else None,
                int(grade) if grade is not None else None,
            )
    return wanted


def sync_register_groups(ctx: Context) -> Synced:
    """Make the register groups of every child with a case what the current 扶贫 and
    残疾人 snapshots say: groups added for children they list, taken off children they no
    longer list (a register never imported changes nothing). One transaction; each child
    whose groups changed gets a ``case.groups`` audit event on its latest case."""
    workflow = ctx.current_workflow
    snapshots = {s: p for s, p in current_snapshots(ctx).items() if s in REGISTER_SOURCES}
    result = Synced(sources=tuple(s for s in REGISTER_SOURCES if s in snapshots))
    if not snapshots or not workflow.register_groups:
        return result
    with db.read(ctx.engine) as connection:
        numbers = [n for (n,) in connection.execute(select(CHILD.c.id_number))]
    if not numbers:
        return result
    wanted = _wanted(workflow, _register_rows(snapshots, numbers))
    labels = workflow.special_groups
    day, now = ctx.today, ctx.now()
    with db.write(ctx.engine) as connection:
        children: dict[str, int] = dict(
            connection.execute(select(CHILD.c.id_number, CHILD.c.id)).all()
        )
        latest: dict[int, int] = dict(
            connection.execute(
                select(CASE.c.child_id, CASE.c.id).order_by(CASE.c.child_id, CASE.c.id)
            ).all()
        )
        held = memberships(connection, children.values())
        for number, child_id in sorted(children.items(), key=lambda item: item[1]):
            now_held = {
                (m.code, m.source): m
                for m in held.get(child_id, ())
                if m.source in snapshots  # only the registers that were read
            }
            should = wanted.get(number, {})
            added = [m for key, m in should.items() if _differs(now_held.get(key), m)]
            removed = [
                m for key, m in now_held.items() if key not in should or _differs(m, should[key])
            ]
            if not added and not removed:
                continue
            for m in removed:
                connection.execute(
                    delete(CHILD_GROUP).where(
                        CHILD_GROUP.c.child_id == child_id,
                        CHILD_GROUP.c.code == m.code,
                        CHILD_GROUP.c.source == m.source,
                    )
                )
            if added:
                connection.execute(
                    insert(CHILD_GROUP),
                    [
                        {
                            "child_id": child_id,
                            "code": m.code,
                            "source": m.source,
                            "disability_category": m.disability_category,
                            "disability_grade": m.disability_grade,
                            "recorded_on": day,
                        }
                        for m in added
                    ],
                )
            case_id = latest.get(child_id)
            record(
                ctx,
                connection,
                now,
                action="case.groups",
                case_id=case_id,
                occurred_on=day,
                payload={
                    "by": "register",
                    "added": [m.event_item(labels) for m in added],
                    "removed": [m.event_item(labels) for m in removed],
                },
            )
            result.children += 1
            result.added += len(added)
            result.removed += len(removed)
            if case_id is not None:
                result.cases.append(case_id)
    return result


def _differs(held: Membership | None, other: Membership) -> bool:
    return held is None or (held.disability_category, held.disability_grade) != (
        other.disability_category,
        other.disability_grade,
    )


# ---------------------------------------------------------------------------------------
# By a caseworker


def plan_changes(
    workflow: Workflow,
    held: Sequence[Membership],
    add: Sequence[str],
    remove: Sequence[str],
) -> tuple[list[str], list[str]]:
    """The group keys a caseworker adds and takes off (each given as label or key),
    refused in Chinese when one is unknown, given both ways, already set by a caseworker,
    or not set by one (a register's group is corrected in the register)."""
    adding = list(dict.fromkeys(resolve_group(workflow, g) for g in add))
    removing = list(dict.fromkeys(resolve_group(workflow, g) for g in remove))
    labels = workflow.special_groups
    both = [c for c in adding if c in removing]
    if both:
        raise InvalidInput(
            _("The special group “{groups}” cannot be both added and removed; keep one.").format(
                groups="、".join(labels[c] for c in both)
            )
        )
    by_caseworker = {m.code for m in held if m.source == CASEWORKER}
    for code in adding:
        if code in by_caseworker:
            raise InvalidInput(
                _("The child is already recorded as “{group}”; no need to add it again.").format(
                    group=labels[code]
                )
            )
    for code in removing:
        if code in by_caseworker:
            continue
        registers = [GROUP_SOURCES.get(m.source, m.source) for m in held if m.code == code]
        if registers:
            raise InvalidInput(
                _(
                    "The special group “{group}” was set by {registers} and cannot be taken off "
                    "by hand; if it is wrong, correct the register and import it again."
                ).format(group=labels[code], registers="、".join(registers))
            )
        raise InvalidInput(
            _("The child is not recorded as “{group}”; there is nothing to take off.").format(
                group=labels[code]
            )
        )
    return adding, removing


def write_changes(
    connection: Connection, child_id: int, adding: Sequence[str], removing: Sequence[str], day: date
) -> None:
    """A caseworker's additions and removals, inside the caller's transaction."""
    for code in removing:
        connection.execute(
            delete(CHILD_GROUP).where(
                CHILD_GROUP.c.child_id == child_id,
                CHILD_GROUP.c.code == code,
                CHILD_GROUP.c.source == CASEWORKER,
            )
        )
    if adding:
        connection.execute(
            insert(CHILD_GROUP),
            [
                {"child_id": child_id, "code": code, "source": CASEWORKER, "recorded_on": day}
                for code in adding
            ],
        )
