"""The presenter: how results look on a terminal — tables, reports, event lines, due dates,
progress bars. Every command prints through it; nothing here reads or writes a workspace."""

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caseflow.cli.hints import provisional_hint
from caseflow.cli.table import DEFAULT_LIMIT, limit_note, limited, printable, table
from caseflow.exports import fit
from caseflow.i18n import N_, _

if TYPE_CHECKING:
    from datetime import tzinfo
    from pathlib import Path

    from caseflow.audit import Verification
    from caseflow.audit_export import ExportVerification
    from caseflow.measures import DeadlineTally
    from caseflow.org import Contact, Org, Person, Unit
    from caseflow.roster import Comparison
    from caseflow.services.campaigns import PublicityRun
    from caseflow.services.cases import Opening
    from caseflow.services.dispatch import DispatchReport
    from caseflow.services.groups import Synced
    from caseflow.services.letters import Queued
    from caseflow.services.org import Applied
    from caseflow.services.review import ExportSummary, OverdueReview
    from caseflow.services.roster import ImportSummary
    from caseflow.services.snapshots import ImportRecord
    from caseflow.services.stats import Assessment, GroupFigures, Stats
    from caseflow.services.sweep import SweepReport
    from caseflow.workspace import Workspace


def pad(value: object, width: int, *, right: bool = False) -> str:
    """``value`` as a column ``width`` characters wide, left-aligned (right-aligned with
    ``right``); a longer value is left whole. Every aligned column is padded here."""
    text = str(value)
    fill = " " * max(0, width - len(text))
    return fill + text if right else text + fill


def due_text(due_on: str | None, provisional: bool) -> str:
    if due_on is None:
        return "-"
    return _("{day} (provisional)").format(day=due_on) if provisional else due_on


def groups_text(change: Mapping[str, Any]) -> str:
    """登记特殊群体 留守、患病；取消特殊群体 学困: a change of the child's special groups."""
    parts = []
    if change.get("added"):
        parts.append(
            _("special groups added: {groups}").format(
                groups="、".join(item["label"] for item in change["added"])
            )
        )
    if change.get("removed"):
        parts.append(
            _("special groups removed: {groups}").format(
                groups="、".join(item["label"] for item in change["removed"])
            )
        )
    return _("; ").join(parts)


# ---------------------------------------------------------------------------------------
# A case's history and file, in words: labels for every code, people by name and position


ACTION_LABELS: Mapping[str, str] = {
    "case.open": N_("Case opened"),
    "case.transition": N_("State changed"),
    "case.escalation": N_("Escalated"),
    "notice.delivery": N_("Notice delivery"),
    "notice.queued": N_("Document issued"),
    "notice.requeued": N_("Sent again"),
    "case.note": N_("Persuasion record"),
    "case.update": N_("Details updated"),
    "case.groups": N_("Special groups changed"),
    "case.assign": N_("Responsible person changed"),
    "case.chain": N_("Responsibility chain updated"),
    "case.guardian": N_("Guardian recorded"),
    "case.finding": N_("New comparison finding"),
    "case.migrated": N_("Moved to a new workflow version"),
    "case.extension_requested": N_("Extension requested"),
    "case.extension": N_("Deadline extended"),
    "case.extension_rejected": N_("Extension rejected"),
    "case.deadline_recomputed": N_("Deadline recounted"),
    "case.reopen": N_("Closure undone"),
    "data.disclosed": N_("Data disclosed"),
    "access.refused": N_("Access refused"),
}

# The child's and the guardians' details a caseworker records (`case update`, `case
# guardian add`); the workflow's own fields are labelled by the workflow.
DETAIL_LABELS: Mapping[str, str] = {
    "school": N_("School"),
    "grade": N_("Grade"),
    "class_name": N_("Class"),
    "group": N_("Villagers' group"),
    "guardian_name": N_("Guardian's name"),
    "guardian_relation": N_("Relation to the child"),
    "guardian_phone": N_("Guardian's phone"),
    "name": N_("Name"),
    "relation": N_("Relation to the child"),
    "phone": N_("Phone"),
    "workplace": N_("Workplace"),
    "legal_basis": N_("Grounds of guardianship"),
    "carer": N_("Entrusted carer"),
    "capacity": N_("Capacity"),
}

DELIVERY_OUTCOMES: Mapping[str, str] = {
    "sent": N_("delivered"),
    "retry": N_("not delivered, to be retried"),
    "dead": N_("delivery failed"),
    "deferred": N_("rate-limited, to be sent later"),
    "rate_limited": N_("rate-limited, to be sent later"),
}

NOTICE_STATUSES: Mapping[str, str] = {"pending": "待发送", "sent": "已发送", "dead": "发送失败"}
CHANNELS: Mapping[str, str] = {
    "letter": "纸质文书",
    "email": "电子邮件",
    "dingtalk": "钉钉",
    "wecom": "企业微信",
    "sms": "短信",
    "webhook": "接口",
}


@dataclass(frozen=True)
class Names:
    """What a person reads in place of codes (``caseflow.services.labels.names``): labels of
    the workflow's states, triggers, fields and choices, partner departments, and each
    person of the organisation by unit, position and name. Empty: the codes stay."""

    states: Mapping[str, str] = field(default_factory=dict)
    triggers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    departments: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)

    def state(self, state: str | None) -> str:
        return self.states.get(state or "", state or "-")

    def person(self, person: str | None) -> str:
        return self.people.get(person or "", person or "-")

    def value(self, name: str, value: object, trigger: str = "") -> str:
        """``标签：值`` with the label of the field (the transition ``trigger``'s, or else a
        detail of the child's) and, for a choice, the choice's label."""
        key = f"{trigger}.{name}"
        label = self.fields.get(key) or (_(DETAIL_LABELS[name]) if name in DETAIL_LABELS else name)
        shown = self.choices.get(key, {}).get(str(value), value)
        return _("{label}: {value}").format(
            label=label, value=cn_day(shown) if isinstance(shown, str) else shown
        )

    def values(self, values: Mapping[str, object], trigger: str = "") -> str:
        return _(", ").join(self.value(k, v, trigger) for k, v in values.items())

    def recipient(self, key: str) -> str:
        from caseflow.escalation import recipient_label

        if key.partition(":")[0] == "guardian":
            return "监护人"
        return recipient_label(key, self.person, departments=self.departments)


def cn_day(text: str | None) -> str:
    """An ISO date as 2026年11月29日 (``caseflow.dates.cn_date``) in either language; any
    other text as it is."""
    from datetime import date

    from caseflow.dates import cn_date

    if not text:
        return ""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return text
    return cn_date(day)


def event_day(event: Mapping[str, Any], timezone: "tzinfo | None" = None) -> str:
    """The day an event happened, or (a delivery, a requeue) the day it was recorded, in
    the workspace's time zone (UTC when none is given)."""
    from datetime import UTC

    from caseflow.dates import recorded_day

    if event.get("occurred_on"):
        return cn_day(str(event["occurred_on"]))
    recorded = event.get("recorded_at")
    if not recorded:
        return ""
    return cn_day(recorded_day(str(recorded), timezone or UTC).isoformat())


def document_text(document: Mapping[str, Any], number: int | None) -> str:
    """A document a step issued, or (in one line) why it could not be prepared and how to
    prepare it."""
    if document["prepared"]:
        return _("issued 《{subject}》 ({references})").format(
            subject=document["subject"], references="、".join(document["references"])
        )
    how = (
        _(
            "once it is complete, issue it with "
            "`caseflow notice letter {number} {template} --set FIELD=VALUE`"
        ).format(number=number, template=document["template"])
        if number is not None
        else _("once it is complete, issue it with `caseflow notice letter`")
    )
    from caseflow.services.letters import template_title

    return _("《{title}》 could not be prepared: {reason}; {how}").format(
        title=template_title(document["template"]), reason=document["reason"], how=how
    )


def event_line(
    event: Mapping[str, Any],
    names: Names | None = None,
    timezone: "tzinfo | None" = None,
) -> str:
    """One line of a case's history: the day, what happened in words (labels, not codes;
    people by name and position) and who did it. Control characters in what people typed
    are shown escaped; a note keeps its newlines."""
    names = names or Names()
    payload = event["payload"]
    action = event["action"]
    label = (
        _(ACTION_LABELS[action])
        if action in ACTION_LABELS
        else _("Other ({action})").format(action=action)
    )
    # A note is the one multi-line text of a history: its newlines stay.
    what = printable(_event_what(action, payload, names), newlines=action == "case.note")
    if payload.get("note"):
        what += _("; remark: {note}").format(note=printable(payload["note"], newlines=True))
    number = event.get("case")
    for document in payload.get("documents", []):
        what += _("; ") + printable(document_text(document, number))
    day = fit(event_day(event, timezone), 16)
    text = _("{label}: {what}").format(label=label, what=what) if what else label
    return f"#{fit(event['seq'], 5)} {day} {text}  [{printable(event['operator'])}]"


def _event_what(action: str, payload: Mapping[str, Any], names: Names) -> str:
    if action == "case.transition":
        trigger = payload.get("trigger") or ""
        what = _("{transition}, {before} → {after}").format(
            transition=names.triggers.get(trigger, trigger),
            before=names.state(payload.get("from")),
            after=names.state(payload.get("to")),
        )
        if payload.get("values"):
            what += _(", ") + names.values(payload["values"], trigger)
        return what
    if action == "case.open":
        from caseflow.states import CASE_SOURCES

        source = payload.get("source") or ""
        return _("opened as {state} (found by: {source})").format(
            state=names.state(payload.get("state")), source=CASE_SOURCES.get(source, source)
        )
    if action == "case.escalation":
        recipients = "、".join(names.recipient(r) for r in payload.get("recipients", []))
        return _(
            "level {level}: the deadline of {state}, {due_on}, has passed ({days} days "
            "overdue); escalated to {recipients}"
        ).format(
            level=payload.get("level"),
            state=names.state(payload.get("state")),
            due_on=cn_day(payload.get("due_on")),
            days=payload.get("days_overdue", 0),
            recipients=recipients or "-",
        )
    if action == "notice.delivery":
        status = payload.get("status") or ""
        outcome = _(DELIVERY_OUTCOMES[status]) if status in DELIVERY_OUTCOMES else status
        if payload.get("error"):
            outcome += _(" ({error})").format(error=payload["error"])
        channel = payload.get("channel") or ""
        return _("{reference} to {recipient}, {channel}, attempt {attempt}, {outcome}").format(
            reference=payload.get("reference", ""),
            recipient=names.recipient(payload.get("recipient", "")),
            channel=CHANNELS.get(channel, channel) or "-",
            attempt=payload.get("attempt", 1),
            outcome=outcome,
        )
    if action == "notice.queued":
        from caseflow.services.letters import template_title

        template = payload.get("template") or ""
        recipients = "、".join(names.recipient(r) for r in payload.get("recipients", []))
        return _("《{title}》 to {recipients}").format(
            title=template_title(template), recipients=recipients or "-"
        )
    if action == "notice.requeued":
        count = len(payload.get("notices", []))
        return _("notices queued to be sent again: {count}").format(count=count)
    if action == "case.note":
        from caseflow.states import NOTE_METHODS

        method = payload.get("method") or ""
        return _("({method}) {text}").format(
            method=NOTE_METHODS.get(method, method), text=payload.get("text", "")
        )
    if action == "case.update":
        what = names.values(payload.get("changed", {}))
        if payload.get("groups"):
            what = _("; ").join(p for p in (what, groups_text(payload["groups"])) if p)
        return what
    if action == "case.groups":
        return _("by the register: {change}").format(change=groups_text(payload))
    if action == "case.guardian":
        return names.values(payload.get("added", {}))
    if action == "case.assign":
        from caseflow.org import POSITIONS

        role = payload.get("role") or ""
        return _("{role} changed from {before} to {after}").format(
            role=POSITIONS.get(role, role),
            before=names.person(payload.get("from")),
            after=names.person(payload.get("to")),
        )
    if action == "case.chain":
        from caseflow.org import POSITIONS

        before = payload.get("from") or {}
        after = payload.get("to") or {}
        changed = [role for role in after if before.get(role) != after[role]]
        people = _(", ").join(f"{POSITIONS.get(r, r)} {names.person(after[r])}" for r in changed)
        return _("the responsibility chain follows the child: {people}").format(
            people=people or _("no change")
        )
    if action == "case.migrated":
        return _(
            "moved to {workflow} version {version}, {before} → {after}, deadline "
            "{from_due_on} → {due_on}"
        ).format(
            workflow=payload.get("workflow"),
            version=payload.get("to_version"),
            before=names.state(payload.get("from")),
            after=names.state(payload.get("to")),
            from_due_on=cn_day(payload.get("from_due_on")) or "-",
            due_on=cn_day(payload.get("due_on")) or "-",
        )
    if action == "case.extension_requested":
        return _("{days} more days requested: {reason}").format(
            days=payload.get("days"), reason=payload.get("reason", "")
        )
    if action == "case.extension":
        what = _("extended by {days} days").format(days=payload.get("days"))
        if "requested_by" in payload:  # absent: granted at once, before approval was needed
            what += _(" (requested by {operator} on {day})").format(
                operator=payload["requested_by"], day=cn_day(payload["requested_on"])
            )
        return what + _(", deadline {from_due_on} → {due_on}").format(
            from_due_on=cn_day(payload.get("from_due_on")), due_on=cn_day(payload.get("due_on"))
        )
    if action == "case.extension_rejected":
        return _("{operator} asked for {days} more days; rejected: {reason}").format(
            operator=payload.get("requested_by"),
            days=payload.get("days"),
            reason=payload.get("reason", ""),
        )
    if action == "case.deadline_recomputed":
        return _("deadline {from_due_on} → {due_on}").format(
            from_due_on=cn_day(payload.get("from_due_on")), due_on=cn_day(payload.get("due_on"))
        ) + (_(" (provisional)") if payload.get("due_provisional") else "")
    if action == "case.finding":
        from caseflow.roster import FLAGS

        flags = payload.get("evidence", {}).get("roster_flags", [])
        return "、".join(FLAGS.get(f, f) for f in flags) or _("a new comparison finding")
    if action == "data.disclosed":
        return _("the child's resident ID given to {to} ({title})").format(
            to=payload.get("to_name", ""), title=payload.get("title", "")
        )
    if action == "access.refused":
        return _("{attempt}: {reason}").format(
            attempt=payload.get("attempt", ""), reason=payload.get("reason", "")
        )
    if action == "case.reopen":
        return _("{before} → {after}: {reason}").format(
            before=names.state(payload.get("from")),
            after=names.state(payload.get("to")),
            reason=payload.get("reason", ""),
        )
    return ""


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long runs; silent for short ones."""
    if total < 2000 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def rows_progress(label: str, threshold: int = 20_000) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr once a large file turns out to be large (``threshold``
    rows or more); silent otherwise, and when stderr is not a terminal."""
    state: dict[str, Any] = {}
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return

    def advance(done: int, total: int) -> None:
        if total < threshold:
            return
        if "bar" not in state:
            from rich.console import Console
            from rich.progress import Progress

            state["bar"] = Progress(console=Console(stderr=True), transient=True)
            state["bar"].start()
            state["task"] = state["bar"].add_task(label, total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        yield advance
    finally:
        if "bar" in state:
            state["bar"].stop()


@contextmanager
def stderr_progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a large file; silent for a small one or no terminal."""
    if total < 2000 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def stages(label: str = "正在运行") -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr naming the stage (``label`` until the first stage); silent
    when stderr is not a terminal. A stage of unknown length (total None) pulses."""
    if not sys.stderr.isatty():
        yield lambda _what, _done, _total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda what, done, total: bar.update(
            task, description=what, completed=done, total=total
        )


def scope_text(scope: str) -> str:
    kind, _, name = scope.partition(":")
    return "全县" if kind == "county" else name if kind != "department" else f"转介{name}的案件"


def advanced_lines(step: dict[str, Any]) -> list[str]:
    """What `case advance` prints: where the case stands now and the documents it issued."""
    number = step["number"]
    lines = [
        _("Case {number}: now {state} ({state_label}), due {due}").format(
            number=number,
            state=step["state"],
            state_label=step["state_label"],
            due=due_text(step["due_on"], step["due_provisional"]),
        )
    ]
    for document in step["documents"]:
        if document["prepared"]:
            lines.append(
                "  "
                + _(
                    "Prepared {subject}: {references} (in the outbox; "
                    "`caseflow notify dispatch` delivers or files it)"
                ).format(subject=document["subject"], references=", ".join(document["references"]))
            )
        else:
            lines.append(
                "  "
                + _(
                    "Could not prepare {template}: {reason}. Make it with "
                    "`caseflow notice letter {number} {template} --set FIELD=VALUE`."
                ).format(template=document["template"], reason=document["reason"], number=number)
            )
    if step["due_provisional"]:
        lines.append(provisional_hint())
    return lines


def special_group_lines(figures: "Stats") -> list[str]:
    """The special groups' section of `caseflow stats`: each group's open cases and
    confirmed dropouts on the day."""
    if not figures.special_groups:
        return []
    lines = ["\n特殊群体（统计日）"]
    for group in figures.special_groups:
        lines.append(
            f"  {group.label}  在办 {group.tally.open}，已确认辍学 {group.tally.open_dropouts}"
        )
    return lines


def stats_lines(county: str, figures: "Stats") -> list[str]:
    """`caseflow stats` as text: the targets, the cases, the flows, each unit's on-time rate
    and the definitions."""
    from caseflow.measures import UNPLACED, percent
    from caseflow.services.stats import target_line

    lines: list[str] = []
    view = figures.as_json()
    total = view["cases"]
    day = figures.as_of
    lines.append(
        f"{county}控辍保学工作统计（截至{day.year}年{day.month}月{day.day}日；"
        f"统计期 {figures.since.isoformat()} 至 {day.isoformat()}；"
        f"范围：{scope_text(figures.scope)}）"
    )
    lines.append("\n目标任务")
    for target in figures.targets:
        lines.append("  " + target_line(target))
        if target.basis:
            lines.append(f"    {target.basis}")
    lines.append("\n辍学人数（统计日，按类别）")
    for dropout in figures.dropouts:
        lines.append(f"  {dropout.label} {dropout.count}：{dropout.definition}")
    lines.append("\n案件（统计日）")
    for item in view["by_state"]:
        lines.append(f"  {item['label']}（{item['state']}）  {item['count']}")
    lines.append(
        f"  合计 {total['cases']}，在办 {total['open']}：疑似 {total['suspected']}，已确认辍学 "
        f"{total['open_dropouts']}，未入学待安置 {total['awaiting_placement']}，失踪失联 "
        f"{total['missing']}，延缓入学/休学 {total['deferred']}，已复学巩固中 "
        f"{total['in_monitoring']}；逾期 {total['overdue']}"
    )
    median_days = total["median_days_to_return"]
    lines.append("\n统计期内")
    lines.append(
        f"  新发现 {total['identified']}，复学 {total['returned']}，巩固销号 "
        f"{total['retained']}，再次辍学 {total['relapses']} 人次（{total['relapsed_cases']} 案）"
    )
    lines.append(
        "  发现至复学天数中位数 "
        + ("—" if median_days is None else f"{median_days:g} 天")
        + f"；劝返率 {percent(total['return_rate'])}"
        + f"；复学巩固率 {percent(total['retention_rate'])}"
    )
    on_time = total["on_time"]
    lines.append(
        f"  按时办结率 {percent(on_time['rate'])}（按期 {on_time['met']}/到期 {on_time['due']}，"
        f"逾期 {on_time['missed']}，已升级督办 {on_time['escalated']}）"
    )
    lines.append("\n责任单位按时办结率")
    if not figures.on_time and not figures.unplaced_on_time.due:
        lines.append("  统计期内没有到期的办理期限。")
    for unit in figures.on_time:
        lines.append(f"  {unit.label}  {deadlines_text(unit.deadlines)}")
    if figures.unplaced_on_time.due:
        lines.append(f"  {UNPLACED}（责任单位未确定）  " + deadlines_text(figures.unplaced_on_time))
    if figures.groups or figures.apart:
        lines.append("\n按乡镇" if figures.by == "township" else "\n按学校")
        for group in figures.groups:
            lines.append(f"  {group.name}  {group_text(group)}")
        if figures.apart is not None:
            kind = "乡镇" if figures.by == "township" else "学校"
            lines.append(f"  {figures.apart.name}（不计入各{kind}）  {group_text(figures.apart)}")
    lines.extend(special_group_lines(figures))
    lines.append("\n口径说明")
    for target in figures.targets:
        lines.append(f"  {target.label}：{target.definition}")
    if figures.special_groups:
        from caseflow.services.stats import SPECIAL_GROUPS_DEFINITION

        lines.append(f"  特殊群体：{SPECIAL_GROUPS_DEFINITION}")
    for text in view["definitions"].values():
        lines.append(f"  {text}")
    return lines


def deadlines_text(d: "DeadlineTally") -> str:
    from caseflow.measures import percent

    return (
        f"到期 {d.due}，按期 {d.met}，逾期 {d.missed}，已升级督办 {d.escalated}，"
        f"按时办结率 {percent(d.rate)}"
    )


def group_text(group: "GroupFigures") -> str:
    """A township's or school's figures in `caseflow stats --by`."""
    from caseflow.measures import percent

    g = group.as_json()
    rates = "".join(
        f"，{label}{'（估算）' if g[key].get('estimate') else ''} {percent(g[key]['rate'])}"
        f"（{g[key]['numerator']}/{g[key]['denominator']}）"
        for key, label in (
            ("enrolment_rate", "入学率"),
            ("disabled_enrolment_rate", "残疾儿童少年入学率"),
            ("consolidation_rate", "九年义务教育巩固率"),
        )
        if key in g
    )
    return (
        f"在办 {g['open']}，已确认辍学 {g['open_dropouts']}，复学 {g['returned']}，巩固 "
        f"{g['retained']}，再次辍学 {g['relapses']}，逾期 {g['overdue']}，按时办结率 "
        f"{percent(g['on_time']['rate'])}{rates}"
    )


def assessment_lines(result: "Assessment") -> list[str]:
    """`caseflow review assessment` as text: the scores, the formula and the definitions."""
    from caseflow.measures import UNPLACED, percent

    lines: list[str] = []
    view = result.as_json()
    lines.append(
        f"{result.year}年度控辍保学工作考核评分（{result.period.start.isoformat()} 至 "
        f"{result.period.end.isoformat()}）"
    )
    lines.append(f"计分办法：{result.formula}")
    for kind, title in (("townships", "乡镇"), ("schools", "学校")):
        lines.append(f"\n{title}")
        if not view[kind]:
            lines.append("  （无）")
        scored = [s for s in view[kind] if s["score"] is not None]
        for rank, s in enumerate(scored, start=1):
            on_time = s["on_time"]
            lines.append(
                f"  {pad(rank, 2, right=True)}. {s['name']}  {s['score']:g} 分；"
                f"按时办结率 {percent(on_time['rate'])}"
                f"（{on_time['met']}/{on_time['due']}），劝返率 {percent(s['return_rate'])}"
                f"（{s['returned']}/{s['dropouts']}），复学巩固率 {percent(s['retention_rate'])}"
                f"（{s['retained']}/{s['retained'] + s['relapsed_cases']}），再次辍学 "
                f"{s['relapses']} 人次"
            )
        for reason in ("无可计量数据", "年内无案件"):
            names = [s["name"] for s in view[kind] if s["unscored"] == reason]
            if names:
                lines.append(f"  不评分（{reason}）：{'、'.join(names)}")
    unplaced = view["unplaced"]
    if unplaced["cases"]:
        on_time = unplaced["on_time"]
        lines.append(
            f"\n{UNPLACED}的案件 {unplaced['cases']} 件（到期期限 {on_time['due']} 个，按期 "
            f"{on_time['met']} 个）不计入任何乡镇和学校；地址核实后计入所属单位。"
        )
    lines.append("\n口径说明")
    for text in view["definitions"].values():
        lines.append(f"  {text}")
    return lines


def case_lines(
    view: dict[str, Any], names: Names | None = None, timezone: "tzinfo | None" = None
) -> list[str]:
    """`caseflow case show` as text: state, due date, who is responsible, the child, what can
    be done now and the history, with labels for codes and people by name and position.
    Names, guardians and places are shown with their control characters escaped."""
    names = names or Names()
    lines: list[str] = []
    child = view["child"]
    number = view["number"]

    def line(label: str, value: str) -> None:
        lines.append("  " + _("{label}: {value}").format(label=label, value=value))

    lines.append(
        _(
            "Case {number} (workflow {workflow} version {workflow_version}, change {version})"
        ).format(
            number=number,
            workflow=view["workflow"],
            workflow_version=view["workflow_version"],
            version=view["version"],
        )
    )
    line(
        _("State"),
        _("{state} (since {day})").format(
            state=view["state_label"], day=cn_day(view["entered_on"])
        ),
    )
    due = (
        cn_day(view["due_on"]) + (_(" (provisional)") if view["due_provisional"] else "")
        if view["due_on"]
        else _("none")
    )
    line(_("Due"), due + (_(", overdue") if view["overdue"] else ""))
    if view["deadline_basis"]:
        line(_("Deadline basis"), view["deadline_basis"])
    for fired in (e for e in view["escalations"] if e["current"]):
        line(
            _("Escalated"),
            _("{day} level {level} ({days} days overdue), to {recipients}").format(
                day=cn_day(fired["fired_on"]),
                level=fired["level"],
                days=fired["days_overdue"],
                recipients="、".join(names.recipient(r) for r in fired["recipients"]),
            ),
        )
    if view["extension_request"]:
        line(_("Extension request"), extension_line(view["extension_request"]))
    if view["next_escalation_on"]:
        line(_("Next escalation check"), cn_day(view["next_escalation_on"]))
    if view["responsible_label"]:
        line(_("Responsible unit"), view["responsible_label"])
    if view["departments"]:
        line(_("Referred to"), "、".join(d["label"] for d in view["departments"]))
    born = (
        " " + _("born {day}").format(day=cn_day(child["birth_date"])) if child["birth_date"] else ""
    )
    line(_("Child"), f"{child['name']} {child['id_number']} {child['sex']}{born}")
    where = "/".join(p for p in (child["township"], child["village"], child["group"]) if p)
    school = _("; school {school}").format(school=child["school"]) if child["school"] else ""
    line(_("Address"), where + school)
    for guardian in view["guardians"]:
        basis = f"（{guardian['legal_basis']}）" if guardian["legal_basis"] else ""
        phone = guardian["phone"] or ""  # masked unless the reader may reveal
        line(
            _("Guardian"),
            f"{guardian['name']} {guardian['relation'] or ''} "
            f"{guardian['capacity_label']}{basis} {phone}".rstrip(),
        )
    if view["special_groups"]:
        line(
            _("Special groups"),
            "、".join(
                f"{g['label']}（{'、'.join(g['source_labels'])}）" for g in view["special_groups"]
            ),
        )
    if view["chain"]:
        lines.append("  " + _("Responsibility chain:"))
        for link in view["chain"]:
            lines.append(f"    {fit(link.get('role_label', link['role']), 16)}{link['label']}")
    if view["reasons"]:
        reasons = names.choices.get("reasons", {})
        line(_("Dropout reasons"), "、".join(reasons.get(r, r) for r in view["reasons"]))
    if view["repeat_count"]:
        line(_("Dropped out again"), _("{count} times").format(count=view["repeat_count"]))
    lines.append("  " + _("What can be done now:"))
    if not view["transitions"]:
        lines.append("    " + _("(nothing your role can do now)"))
    for t in view["transitions"]:
        fields = " ".join(
            f"--set {f['name']}="
            + (
                "|".join(
                    _choice_text(names.choices.get(f"{t['trigger']}.{f['name']}", {}), c)
                    for c in f["choices"]
                )
                if f["type"] == "choice"
                else f"<{f['type']}>"
            )
            + ("" if f["required"] else _(" (optional)"))
            for f in t["fields"]
        )
        arrow = f" → {names.state(t['dest'])}" if t["dest"] else ""
        lines.append(f"    {fit(t['label'], 28)}{t['trigger']}{arrow}  {fields}".rstrip())
    lines = [printable(text) for text in lines]  # names, guardians, places as entered
    lines.append("  " + _("Record:"))
    for event in view["history"]:
        lines.append("    " + event_line(event, names, timezone))
    if view["due_provisional"]:
        lines.append(provisional_hint())
    return lines


def overdue_lines(review: "OverdueReview") -> list[str]:
    """`caseflow review overdue` as text: each responsible unit with its overdue cases."""
    lines: list[str] = []
    lines.append(
        f"Overdue as of {review.as_of.isoformat()}: {review.cases} open case(s) in "
        f"{len(review.units)} unit(s)"
    )
    for unit in review.units:
        lines.append(f"\n{unit.label}  [{unit.unit}]  {len(unit.cases)} case(s)")
        for case in unit.cases:
            days = "working days" if case.days_unit == "working_days" else "days"
            due = due_text(case.due_on.isoformat(), case.due_provisional)
            lines.append(
                f"  case {pad(case.number, 6)} {case.state_label} ({case.state})  due {due}  "
                f"{case.days_overdue} {days} overdue  {case.name} {case.id_number}  "
                f"{case.township}/{case.village}" + (f"  {case.school}" if case.school else "")
            )
            sent = "; ".join(
                f"level {e.level} on {e.fired_on.isoformat()} to {', '.join(e.recipients)}"
                for e in case.escalations
            )
            lines.append(f"      escalated: {sent or 'none yet'}")
    return lines


def _choice_text(labels: Mapping[str, str], code: str) -> str:
    """A value a field may take, as a person may type it: 外出务工（migrant_work）."""
    label = labels.get(code)
    return f"{label}（{code}）" if label and label != code else code


def migration_lines(view: dict[str, Any]) -> list[str]:
    mode = _(" (dry run, nothing changed)") if view["dry_run"] else ""
    if not view["cases"]:
        return [
            _(
                "Workflow {workflow} to version {version}{mode}: no open case needs to move; "
                "every open case is on version {version} already."
            ).format(workflow=view["workflow"], version=view["to_version"], mode=mode)
        ]
    heading = (
        _("Workflow {workflow} to version {version}{mode}: {count} open cases would move")
        if view["dry_run"]
        else _("Workflow {workflow} to version {version}{mode}: {count} open cases moved")
    )
    lines = [
        heading.format(
            workflow=view["workflow"], version=view["to_version"], mode=mode, count=view["moved"]
        )
    ]
    for case in view["cases"]:
        state = (
            f"{case['from_state_label']}（{case['from_state']}）"
            if case["from_state"] == case["to_state"]
            else f"{case['from_state_label']}（{case['from_state']}）→ "
            f"{case['to_state_label']}（{case['to_state']}）"
        )
        due = f"{case['from_due_on'] or '-'} → {due_text(case['due_on'], case['due_provisional'])}"
        kept = (
            _(" (the deadline is set by a document and stays)")
            if case["deadline"] == "kept"
            else ""
        )
        lines.append(
            _(
                "  case {number} version {from_version}→{to_version}  {state}  due {due}{kept}"
            ).format(
                number=pad(case["number"], 6),
                from_version=case["from_version"],
                to_version=view["to_version"],
                state=state,
                due=due,
                kept=kept,
            )
        )
    return lines


# ---------------------------------------------------------------------------------------
# The workspace


def workspace_created_lines(
    workspace: "Workspace", operator: str, *, example_org: bool = False
) -> list[str]:
    """What `caseflow init` prints: where the workspace and its database are, who the
    first operator is, and what to do next."""
    lines = [
        _("Created workspace {root}").format(root=workspace.root),
        _("Database: {url}").format(url=workspace.database_url),
    ]
    if example_org:
        lines.append(
            _("Organisation: the example county, in {path}").format(path=workspace.org_file)
        )
    lines.append(
        _("Operator “{operator}” registered with roles bureau, admin (county-wide).").format(
            operator=operator
        )
    )
    if example_org:
        lines.append(
            _(
                "Next: check it with `caseflow -w {root} org check`, put it in force with "
                "`org apply` (you become 县教育局控辍办), then `case open --help`"
            ).format(root=workspace.root)
        )
    else:
        lines.append(_("Next: caseflow -w {root} case open --help").format(root=workspace.root))
    return lines


# ---------------------------------------------------------------------------------------
# Cases and the sweep


def due_line(number: int, step: Mapping[str, Any]) -> str:
    """`Case N: due ...`, what `case extend` prints."""
    return _("Case {number}: due {due}").format(
        number=number, due=due_text(step["due_on"], step["due_provisional"])
    )


def extension_requested_line(number: int, step: Mapping[str, Any]) -> str:
    """What `case extend --days` prints: the deadline stays until someone else approves."""
    request = step["extension_request"]
    return _(
        "Case {number}: extension of {days} days requested; due stays {due} until another "
        "operator with role {roles} approves it (`caseflow case extend {number} --approve`)"
    ).format(
        number=number,
        days=request["days"],
        due=due_text(step["due_on"], step["due_provisional"]),
        roles=_(" or ").join(request["approve_roles"]),
    )


def extension_line(request: Mapping[str, Any]) -> str:
    """`case show`'s line on a pending extension request, or one that lapsed."""
    asked = _("{days} days requested by {operator} on {day} ({reason})").format(
        days=request["days"],
        operator=request["operator"],
        day=request["requested_on"],
        reason=request["reason"],
    )
    if request["status"] == "lapsed":
        return _("{asked}; lapsed on {day}: the case left {state}").format(
            asked=asked, day=request["lapsed_on"], state=request["state"]
        )
    return _(
        "{asked}; awaits approval by another operator with role {roles}; lapses if the case "
        "leaves {state}"
    ).format(asked=asked, roles=_(" or ").join(request["approve_roles"]), state=request["state"])


def opened_lines(opened: Mapping[str, Any]) -> list[str]:
    """What `case open` prints: the new case's state and due date."""
    lines = [
        _("Opened case {number}: {state} ({state_label}), due {due}").format(
            number=opened["number"],
            state=opened["state"],
            state_label=opened["state_label"],
            due=due_text(opened["due_on"], opened["due_provisional"]),
        )
    ]
    if opened["due_provisional"]:
        lines.append(provisional_hint())
    return lines


def case_list_lines(
    rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str], *, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """`caseflow case list` as a table by display width, with a header row: one row a case
    (the first ``limit``; 0 for all), then how many were left out."""
    if not rows:
        return [_("No cases match.")]
    shown = limited(rows, limit)
    lines = table(
        (_("Case"), _("State"), _("Due"), _("Name"), _("Resident ID"), _("Address"), _("Overdue")),
        (
            (
                row["number"],
                labels.get(row["state"], row["state"]),
                (cn_day(row["due_on"]) + (_(" (provisional)") if row["due_provisional"] else ""))
                if row["due_on"]
                else "-",
                row["name"],
                row["id_number"],
                f"{row['township']}/{row['village']}",
                _("overdue") if row["overdue"] else "",
            )
            for row in shown
        ),
        right=(0,),
    )
    note = limit_note(len(rows), limit)
    if note:
        lines.append(note)
    if any(row["due_provisional"] for row in shown):
        lines.append(provisional_hint())
    return lines


def sweep_lines(report: "SweepReport", names: Names | None = None) -> list[str]:
    """What `caseflow escalate` prints: the counts, then a table of the cases per level and
    recipient."""
    names = names or Names()
    mode = "（试运行，未作任何修改）" if report.dry_run else ""
    lines = [
        f"截至 {cn_day(report.as_of.isoformat())} 的督办检查{mode}：升级督办 {report.fired} "
        f"次，自动流转 {report.timed} 次，排入发送队列的通知 {report.notices} 份。"
    ]
    if report.by_recipient:
        lines += table(
            ("级别", "督办对象", "案件数"),
            (
                (f"第{level}级", names.recipient(recipient), count)
                for (level, recipient), count in sorted(report.by_recipient.items())
            ),
            right=(2,),
            indent="  ",
        )
    return lines


def calendar_lines(years: Sequence[int], waiting: Iterable[Any]) -> list[str]:
    """What `caseflow calendar check` prints: the years covered and the provisional
    deadlines waiting for their year's calendar."""
    waiting = list(waiting)
    lines = [
        f"Working-day calendar covers {years[0]}–{years[-1]}"
        if tuple(years) == tuple(range(years[0], years[-1] + 1))
        else f"Working-day calendar covers {', '.join(map(str, years))}",
        f"Provisional deadlines waiting: {len(waiting)}",
    ]
    for row in waiting:
        lines.append(
            f"  case {pad(row.id, 6)} {pad(row.state, 22)} due {row.due_on.isoformat()} "
            "(provisional)"
        )
    return lines


def calendar_gap_message(year: int, holiday_file: "Path") -> str:
    """Why `caseflow calendar check` fails when next year's calendar is not known yet."""
    return (
        f"Error: {year} has no official holiday calendar yet. When the State Council "
        f"publishes it (usually in November), upgrade chinese-calendar "
        f"(pip install -U chinese-calendar) or list {year}'s rest days and make-up "
        f"working days in {holiday_file} with complete_years: [{year}]. "
        "Provisional deadlines are recomputed, and audited, at the next sweep."
    )


# ---------------------------------------------------------------------------------------
# Workflows


def workflow_lines(description: Mapping[str, Any]) -> list[str]:
    """`caseflow workflow show` as text: the states with their deadlines and ladders, then
    the transitions and the special groups, as tables by display width."""
    lines = [
        _("{label} — {name} version {version}").format(
            label=description["label"], name=description["name"], version=description["version"]
        )
    ]
    lines.append("")
    lines.append(_("States:"))
    state_rows: list[list[str]] = []
    for state in description["states"]:
        deadline = state["deadline"]
        state_rows.append(
            [
                state["label"],
                state["id"],
                _(KINDS.get(state["kind"], state["kind"])),
                state["category"],
                state["responsible"] or "",
                _("{amount} {unit}").format(
                    amount=deadline["amount"], unit=_(UNITS.get(deadline["unit"], deadline["unit"]))
                )
                if deadline
                else "",
            ]
        )
        for rung in state["ladder"]:
            state_rows.append(
                [
                    "",
                    _("  +{offset} {unit}: {notify} ({template})").format(
                        offset=rung["offset"],
                        unit=_(UNITS.get(rung["unit"], rung["unit"])),
                        notify=", ".join(rung["notify"]),
                        template=rung["template"],
                    ),
                    "",
                    "",
                    "",
                    "",
                ]
            )
    lines += table(
        (_("State"), _("Code"), _("Kind"), _("Category"), _("Responsible"), _("Deadline")),
        state_rows,
        indent="  ",
    )
    lines.append("")
    lines.append(_("Transitions:"))
    transition_rows = []
    for t in description["transitions"]:
        extra = []
        if t["handoff"]:
            extra.append(
                _("hands off to {departments}").format(departments=", ".join(t["handoff"]))
            )
        if t["auto"]:
            extra.append(_("automatic when due"))
        if t["fields"]:
            extra.append(
                _("fields {fields}").format(fields=", ".join(f["name"] for f in t["fields"]))
            )
        transition_rows.append(
            [
                t["label"],
                t["trigger"],
                f"{','.join(t['from'])} → {t['to']}",
                ", ".join(t["roles"]),
                _("; ").join(extra),
            ]
        )
    lines += table(
        (_("Transition"), _("Code"), _("From → to"), _("Roles"), _("Notes")),
        transition_rows,
        indent="  ",
    )
    if description.get("special_groups"):
        registers = description.get("register_groups", {})
        set_by = {group: purpose for purpose, group in registers.items()}
        lines.append("")
        lines.append(_("Special groups (case update --special-group):"))
        lines += table(
            (_("Special group"), _("Code"), _("Set by the register")),
            (
                (group["label"], group["key"], set_by.get(group["key"], ""))
                for group in description["special_groups"]
            ),
            indent="  ",
        )
    return lines


# ---------------------------------------------------------------------------------------
# The audit trail


def audit_log_lines(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """`caseflow audit log` as text, one line an event as it is read (the log can be long)."""
    import json

    shown = False
    for event in events:
        shown = True
        case_text = f"case {event['case']}" if event["case"] is not None else ""
        yield (
            f"#{pad(event['seq'], 6)} {event['recorded_at']}  {pad(event['action'], 18)} "
            f"{pad(case_text, 10)} {event['operator']} ({event['os_user']})  "
            f"{json.dumps(event['payload'], ensure_ascii=False, sort_keys=True)}"
        )
    if not shown:
        yield "No audit events match."


def export_lines(summary: "ExportSummary") -> list[str]:
    """What `caseflow audit export` prints: what was written, the checkpoint, and (when the
    export verifies) how to check it elsewhere."""
    lines = [
        f"Wrote {summary.events} events (seq {summary.first_seq}–{summary.last.seq}) to "
        f"{summary.output}",
        f"Checkpoint: {summary.last}",
    ]
    if summary.verification.intact:
        lines.append(f"Check it anywhere with: caseflow audit verify --file {summary.output}")
    return lines


def chain_line(result: "Verification", checkpoint: str | None) -> str:
    """What `caseflow audit verify` says of the chain in the database."""
    if not result.intact:
        return f"Audit chain BROKEN at event {result.first_bad_seq}: {result.problem}"
    against = " and matches the checkpoint" if checkpoint else ""
    return f"Audit chain intact{against}: {result.events} events, head {result.head}"


def export_file_lines(result: "ExportVerification", checkpoint: str | None) -> list[str]:
    """What `caseflow audit verify --file` says of an intact export: its events, where it
    starts and the checkpoint it ends at."""
    assert result.last is not None and result.first_seq is not None
    against = f" and holds checkpoint {checkpoint}" if checkpoint else ""
    lines = [
        f"Export intact{against}: {result.events} events, seq {result.first_seq}–"
        f"{result.last.seq}, recorded {result.first_recorded_at} to {result.last_recorded_at}"
    ]
    if result.from_genesis:
        lines.append("Starts at the beginning of the chain.")
    else:
        lines.append(
            f"Starts mid-chain: event {result.first_seq} follows prev_hash {result.start_hash}, "
            "taken as given (match it against the event before in an earlier export or in "
            "the database)."
        )
    lines.append(f"Ends at checkpoint {result.last}")
    return lines


# ---------------------------------------------------------------------------------------
# The registers

REJECTS_SHOWN = 5
SUSPECTS_SHOWN = 50


def import_lines(summary: "ImportSummary") -> list[str]:
    """What `caseflow roster import` prints: the counts and the first rejected rows."""
    replaced = f", replacing import {summary.replaced}" if summary.replaced else ""
    if not summary.current:
        from caseflow.services.snapshots import school_year

        year = school_year(summary.as_of)
        replaced += (
            f"; kept as the snapshot of school year {year}-{year + 1} for the consolidation "
            "cohort, while the current snapshot, of a later school year, stays"
        )
    lines = [
        f"Imported {summary.imported} of {summary.rows_total} rows of {summary.file_name} "
        f"as the {summary.source} register (import {summary.import_id}, as of "
        f"{summary.as_of.isoformat()}{replaced}); {summary.rejected} rejected."
    ]
    if summary.register_groups is not None and summary.register_groups.children:
        lines.append(register_groups_line(summary.register_groups))
    if summary.rejects_file is None:
        return lines
    lines.append(f"Rejected rows, with the reasons: {summary.rejects_file}")
    for problem in summary.problems[:REJECTS_SHOWN]:
        value = f" {problem.value}" if problem.value else ""
        lines.append(f"  row {problem.line}, {problem.column or '-'}{value}: {problem.reason}")
    more = len(summary.problems) - REJECTS_SHOWN
    if more > 0:
        lines.append(f"  ... and {more} more in the rejects file")
    return lines


def comparison_lines(
    comparison: "Comparison",
    suspects: Sequence[Mapping[str, Any]],
    opening: "Opening | None" = None,
    *,
    dry_run: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """`caseflow roster compare` as text: the counts by flag, the first suspects (their
    views, IDs masked unless revealed) and what opening cases did."""
    from caseflow.roster import FLAGS, SOURCE_LABELS

    lines = [
        f"比对基准日 {cn_day(comparison.reference_date.isoformat())}，年龄 "
        f"{comparison.ages[0]}–{comparison.ages[1]} 周岁：疑似辍学 {len(comparison.suspects)} 人"
    ]
    lines += table(
        ("比对项", "人数"),
        (
            (
                FLAGS[flag],
                "未比对：未导入"
                + "、".join(SOURCE_LABELS.get(m, m) for m in comparison.missing[flag])
                if comparison.missing.get(flag)
                else count,
            )
            for flag, count in comparison.counts.items()
        ),
        right=(1,),
        indent="  ",
    )
    shown = limited(suspects, limit)
    if shown:
        lines += table(
            ("身份证号", "姓名", "乡镇/村", "比对标记", "特殊群体"),
            (
                (
                    view["id_number"],
                    view["name"],
                    f"{view['township'] or '-'}/{view['village'] or '-'}",
                    "、".join(FLAGS.get(f, f) for f in view["flags"]),
                    "；".join(g for g in (view["poor"], view["disability"]) if g),
                )
                for view in shown
            ),
            indent="  ",
        )
    note = limit_note(len(suspects), limit)
    if note:
        lines.append(note + "（或用 -o 文件 / --json 导出全部）")
    if opening is not None:
        verb = "将登记" if dry_run else "已登记"
        lines.append(
            f"{verb}案件 {len(opening.opened)} 件；{len(opening.added)} 件在办案件补充新的比对"
            f"线索；{opening.unchanged} 件已有记录；{opening.not_reopened} 件已销号案件无新线索，"
            "未重新立案。"
        )
        if opening.register_groups is not None:
            lines.append(register_groups_line(opening.register_groups))
    return lines


def register_groups_line(synced: "Synced") -> str:
    """What the 扶贫 and 残疾人 registers changed in the special groups of children with
    cases."""
    from caseflow.roster import SOURCE_LABELS

    if not synced.sources:
        return "特殊群体：未导入扶贫、残疾人登记册，未按登记册更新。"
    registers = "、".join(SOURCE_LABELS.get(s, s) for s in synced.sources)
    return (
        f"特殊群体：按{registers}登记册更新 {synced.children} 名儿童"
        f"（登记 {synced.added} 项，取消 {synced.removed} 项）。"
    )


def import_history_lines(records: Sequence["ImportRecord"], timezone: "tzinfo") -> list[str]:
    """`caseflow roster history` as text: one line an import, `*` on each register's
    current snapshot, times in the workspace's time zone."""
    if not records:
        return ["No register has been imported yet."]
    return [
        f"{'*' if r.current else ' '}{pad(r.id, 5, right=True)}  {pad(r.source, 10)} "
        f"{r.imported_at.astimezone(timezone):%Y-%m-%d %H:%M}  as of "
        f"{r.as_of.isoformat()}  {pad(r.rows_imported, 8, right=True)} imported "
        f"{pad(r.rows_rejected, 6, right=True)} rejected  {r.file_name} "
        f"sha256:{r.file_sha256[:12]}  {r.operator} ({r.os_user})"
        for r in records
    ]


# ---------------------------------------------------------------------------------------
# Notices


def queued_lines(queued: "Queued", references: Sequence[str]) -> list[str]:
    """What `caseflow notice letter` prints: each notice queued (or found already queued)
    with its reference number."""
    verb = "Queued" if queued.new else "Already queued"
    lines = [
        f"{verb} notice {notice_id} ({ref}) to {recipient}: {queued.subject}"
        for notice_id, ref, recipient in zip(
            queued.ids, references, queued.recipients, strict=False
        )
    ]
    if not queued.new:
        lines.append("Nothing new was queued; the case has not changed since.")
    return lines


def publicity_lines(run: "PublicityRun") -> list[str]:
    """What `caseflow notice queue-letters` prints: the batches printed, their files."""
    from caseflow.dates import cn_date
    from caseflow.exports import display_width

    month = f"{run.day.year}年{run.day.month}月"
    lines = []
    if run.printed:
        schools = sum(batch.kind == "school" for batch in run.printed)
        lines.append(
            f"已印制{month}《致家长的一封信》{len(run.printed)}个批次（学校{schools}个、"
            f"村{len(run.printed) - schools}个），共{run.families}户、"
            f"{run.children}名适龄儿童少年，落款日期{cn_date(run.day)}；"
            f"文件在工作区的 {run.folder}/ 目录："
        )
        names = [batch.unit.replace("/", "") for batch in run.printed]
        width = max(display_width(name) for name in names)
        for name, batch in zip(names, run.printed, strict=True):
            lines.append(
                f"  {fit(name, width)}  {batch.families:>5}户 {batch.children:>5}人  {batch.file}"
            )
        lines.append("各单位的印制通知已排入发送队列，运行 caseflow notify dispatch 发送。")
    if run.already_printed:
        lines.append(f"本月已印制的{run.already_printed}个批次不再重复印制。")
    if not lines:
        lines.append("户籍和学籍数据中没有适龄儿童少年，未印制。")
    return lines


def dispatch_lines(report: "DispatchReport") -> list[str]:
    """What `caseflow notify dispatch` prints: the counts, and where to see dead notices
    (the same line the scheduler prints for its dispatch)."""
    from caseflow.scheduler import DEAD_HINT, dispatch_summary

    lines = [dispatch_summary(report)]
    if report.dead:
        lines.append(DEAD_HINT)
    return lines


def outbox_lines(
    view: Mapping[str, Any], names: Names | None = None, *, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """`caseflow notify status` as text: the counts by status, then a table of the latest
    notices (the first ``limit``; 0 for all) with the last error of each."""
    names = names or Names()
    counts = view["counts"]
    lines = [
        f"发送队列：待发送 {counts['pending']}，已发送 {counts['sent']}，发送失败 {counts['dead']}"
    ]
    notices = view["notices"]
    if not notices:
        return lines
    lines += table(
        ("编号", "文号", "状态", "渠道", "接收方", "发送次数", "标题", "最后错误"),
        (
            (
                n["id"],
                n["reference"],
                NOTICE_STATUSES.get(n["status"], n["status"]),
                CHANNELS.get(n["channel"] or "", n["channel"] or "-"),
                names.recipient(n["recipient"]),
                n["attempts"],
                n["subject"],
                n["last_error"] or "",
            )
            for n in limited(notices, limit)
        ),
        right=(0, 5),
        indent="  ",
    )
    total = view.get("total", len(notices))
    note = limit_note(total, limit)
    if note:
        lines.append(note)
    return lines


# ---------------------------------------------------------------------------------------
# The organisation


def org_checked_line(path: "Path", org: "Org") -> str:
    """What `caseflow org check` prints for a file without problems."""
    return (
        f"{path}: OK — {len(org.units)} units, {len(org.people)} people, "
        f"{len(org.operators)} operators"
    )


def org_applied_lines(applied: "Applied") -> list[str]:
    """What `caseflow org apply` prints: the file's hash and the operators it changed."""
    if applied.unchanged:
        return [f"Already in force: {applied.sha256[:12]}"]
    lines = [f"In force: {applied.sha256[:12]}"]
    for label, names in (
        ("added", applied.added),
        ("removed", applied.removed),
        ("changed", applied.changed),
    ):
        if names:
            lines.append(f"  Operators {label}: {', '.join(names)}")
    return lines


def _channels(contacts: Iterable["Contact"]) -> str:
    return ", ".join(f"{c.channel} {c.address}".strip() for c in contacts)


ORG_EDITS_NOT_IN_FORCE = (
    "注意：org.yaml 自上次 `caseflow org apply` 以来有修改，尚未生效；通知、包保链和操作员"
    "仍按在用版本。请先运行 `caseflow org check`，再运行 `caseflow org apply` 使其生效。"
)


def org_lines(org: "Org") -> list[str]:
    """`caseflow org show` as text: units as a tree with their people, then the operators
    with their roles and jurisdiction, then the other contacts."""
    from caseflow.org import POSITIONS, UNIT_KINDS

    lines = [org.county or "(county not named)", "", "Units and people:"]
    children: dict[str | None, list[Unit]] = {}
    for unit in org.units.values():
        parent = unit.parent if unit.parent in org.units else None
        children.setdefault(parent, []).append(unit)
    staff: dict[str, list[Person]] = {}
    for person in org.people.values():
        staff.setdefault(person.unit, []).append(person)
    shown: set[str] = set()

    def draw(unit: "Unit", depth: int) -> None:
        if unit.id in shown:
            return
        shown.add(unit.id)
        indent = "  " * depth
        extra = f"  [{unit.department}]" if unit.department else ""
        if unit.serves:
            villages = (org.place_name(v) for v in unit.serves)
            extra += "  serves: " + "、".join(villages)
        if unit.contacts:
            extra += f"  ({_channels(unit.contacts)})"
        lines.append(
            f"{indent}  {unit.name}  {UNIT_KINDS.get(unit.kind, unit.kind)}  <{unit.id}>{extra}"
        )
        for person in staff.get(unit.id, ()):
            details = []
            if person.covers:
                covered = (org.units[c].name if c in org.units else c for c in person.covers)
                details.append("包 " + "、".join(covered))
            if person.grades:
                details.append("、".join(person.grades))
            if person.grade or person.class_name:
                details.append(f"{person.grade or ''}{person.class_name or ''}")
            if person.contacts:
                details.append(f"({_channels(person.contacts)})")
            position = POSITIONS.get(person.position, person.position)
            lines.append(
                f"{indent}    · {position} {person.name} <{person.id}>"
                + (f"  {'  '.join(details)}" if details else "")
            )
        for child in children.get(unit.id, ()):
            draw(child, depth + 1)

    for unit in children.get(None, ()):
        draw(unit, 0)
    for unit in org.units.values():  # only units on a parent loop are left
        draw(unit, 0)
    lines += ["", "Operators:"]
    for o in org.operators.values():
        extra = f"  person {o.person}" if o.person else ""
        if o.shared_accounts:
            extra += f"  shared accounts: {', '.join(o.shared_accounts)}"
        lines.append(
            f"  {o.name}  os user {o.os_user}  roles {', '.join(o.roles)}  "
            f"jurisdiction {o.jurisdiction}{extra}"
        )
    if not org.operators:
        lines.append("  (none listed)")
    lines += ["", "Other contacts:"]
    shown_above = {org.address_of(u.id) for u in org.units.values() if u.contacts}
    for key, contacts in sorted(org.contacts.by_key.items()):
        if not key.startswith("person:") and key not in shown_above:
            lines.append(f"  {key}: {_channels(contacts)}")
    lines.append(f"  default: {_channels(org.contacts.default)}")
    return lines


def extension_rejected_line(number: int, step: Mapping[str, Any]) -> str:
    """What `case extend --reject` prints."""
    return _("Case {number}: extension request rejected; due stays {due}").format(
        number=number, due=due_text(step["due_on"], step["due_provisional"])
    )


def reopened_lines(step: Mapping[str, Any]) -> list[str]:
    """What `case reopen` prints: the state the case is back in, its deadline, the notices."""
    number = step["number"]
    if step["due_on"]:
        lines = [
            _("Case {number}: closure undone; back to “{state}”, due {due}.").format(
                number=number, state=step["state_label"], due=cn_day(step["due_on"])
            )
        ]
    else:
        lines = [
            _("Case {number}: closure undone; back to “{state}”.").format(
                number=number, state=step["state_label"]
            )
        ]
    for document in step["documents"]:
        if document.get("prepared"):
            count = len(document["notices"])
            lines.append(
                _("Notice prepared: {subject}, copies: {count}.").format(
                    subject=document["subject"], count=count
                )
            )
    return lines


def updated_line(
    number: int, changed: Sequence[str], added: Sequence[str], removed: Sequence[str]
) -> str:
    """What `case update` prints: the details and special groups recorded."""
    parts = [_(DETAIL_LABELS[name]) if name in DETAIL_LABELS else name for name in changed]
    if added:
        parts.append(_("special groups added: {groups}").format(groups="、".join(added)))
    if removed:
        parts.append(_("special groups removed: {groups}").format(groups="、".join(removed)))
    return printable(
        _("Updated case {number}: {changed}.").format(number=number, changed=_(", ").join(parts))
    )


KINDS: Mapping[str, str] = {
    "initial": N_("initial"),
    "waiting": N_("waiting"),
    "terminal": N_("final"),
}


UNITS: Mapping[str, str] = {
    "days": N_("days"),
    "working_days": N_("working days"),
    "months": N_("months"),
}
