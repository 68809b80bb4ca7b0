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
from caseflow.i18n import N_, _, is_english

if TYPE_CHECKING:
    from datetime import date, tzinfo
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


def clauses(parts: Iterable[str]) -> str:
    """The parts of one statement, each after the first set off by a comma (a full-width
    comma in Chinese, where a list of like words takes 、)."""
    first, *rest = [*parts] or [""]
    return first + "".join(_(", {clause}").format(clause=part) for part in rest)


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
        return clauses(self.value(k, v, trigger) for k, v in values.items())

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
            what = clauses((what, names.values(payload["values"], trigger)))
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
def stages(label: str = "") -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr naming the stage (``label`` until the first stage); silent
    when stderr is not a terminal. A stage of unknown length (total None) pulses."""
    if not sys.stderr.isatty():
        yield lambda _what, _done, _total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    from caseflow.i18n import _

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label or _("Running"), total=None)
        yield lambda what, done, total: bar.update(
            task, description=what, completed=done, total=total
        )


def scope_text(scope: str) -> str:
    kind, _sep, name = scope.partition(":")
    if kind == "county":
        return _("the whole county")
    if kind == "department":
        return _("the cases handed to {department}").format(department=name)
    return name


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
    lines = ["\n" + _("Special groups (on the day)")]
    for group in figures.special_groups:
        lines.append(
            _("  {group}  open {open}, confirmed dropouts {dropouts}").format(
                group=_(group.label), open=group.tally.open, dropouts=group.tally.open_dropouts
            )
        )
    return lines


def stats_lines(county: str, figures: "Stats") -> list[str]:
    """`caseflow stats` as text: the targets, the cases, the flows, each unit's on-time rate
    and the definitions."""
    from caseflow.dates import cn_date
    from caseflow.measures import UNPLACED, percent
    from caseflow.services.stats import target_line

    lines: list[str] = []
    view = figures.as_json()
    total = view["cases"]
    day = figures.as_of
    lines.append(
        _(
            "{county} dropout work statistics (as of {day}; period {since} to {until}; scope: "
            "{scope})"
        ).format(
            county=county,
            day=day.isoformat() if is_english() else cn_date(day),
            since=figures.since.isoformat(),
            until=day.isoformat(),
            scope=scope_text(figures.scope),
        )
    )
    lines.append("\n" + _("Targets"))
    for target in figures.targets:
        lines.append("  " + target_line(target))
        if target.basis:
            lines.append(f"    {target.basis}")
    lines.append("\n" + _("Dropouts (on the day, by category)"))
    for dropout in figures.dropouts:
        lines.append(
            _("  {label} {count}: {definition}").format(
                label=dropout.label, count=dropout.count, definition=dropout.definition
            )
        )
    lines.append("\n" + _("Cases (on the day)"))
    for item in view["by_state"]:
        lines.append(f"  {item['label']}（{item['state']}）  {item['count']}")
    lines.append(
        _(
            "  total {cases}, open {open}: suspected {suspected}, confirmed dropouts "
            "{dropouts}, not enrolled awaiting placement {awaiting}, missing {missing}, "
            "deferred or suspended {deferred}, returned and in monitoring {monitoring}; "
            "overdue {overdue}"
        ).format(
            cases=total["cases"],
            open=total["open"],
            suspected=total["suspected"],
            dropouts=total["open_dropouts"],
            awaiting=total["awaiting_placement"],
            missing=total["missing"],
            deferred=total["deferred"],
            monitoring=total["in_monitoring"],
            overdue=total["overdue"],
        )
    )
    median_days = total["median_days_to_return"]
    lines.append("\n" + _("In the period"))
    lines.append(
        _(
            "  identified {identified}, returned {returned}, retained and closed {retained}, "
            "relapses {relapses} ({cases} cases)"
        ).format(
            identified=total["identified"],
            returned=total["returned"],
            retained=total["retained"],
            relapses=total["relapses"],
            cases=total["relapsed_cases"],
        )
    )
    lines.append(
        _(
            "  median days from identification to return {median}; return rate {return_rate}; "
            "retention rate {retention_rate}"
        ).format(
            median="—" if median_days is None else _("{days} days").format(days=f"{median_days:g}"),
            return_rate=percent(total["return_rate"]),
            retention_rate=percent(total["retention_rate"]),
        )
    )
    on_time = total["on_time"]
    lines.append(
        _(
            "  on-time rate {rate} ({met} met of {due} due, {missed} missed, {escalated} escalated)"
        ).format(
            rate=percent(on_time["rate"]),
            met=on_time["met"],
            due=on_time["due"],
            missed=on_time["missed"],
            escalated=on_time["escalated"],
        )
    )
    lines.append("\n" + _("On-time rate of each responsible unit"))
    if not figures.on_time and not figures.unplaced_on_time.due:
        lines.append(_("  No deadline fell due in the period."))
    for unit in figures.on_time:
        lines.append(f"  {unit.label}  {deadlines_text(unit.deadlines)}")
    if figures.unplaced_on_time.due:
        lines.append(
            _("  {unplaced} (responsible unit not known)  {figures}").format(
                unplaced=UNPLACED, figures=deadlines_text(figures.unplaced_on_time)
            )
        )
    if figures.groups or figures.apart:
        by_township = figures.by == "township"
        lines.append("\n" + (_("By township") if by_township else _("By school")))
        for group in figures.groups:
            lines.append(f"  {group.name}  {group_text(group)}")
        if figures.apart is not None:
            apart = (
                _("{name} (not counted in any township)")
                if by_township
                else _("{name} (not counted in any school)")
            ).format(name=figures.apart.name)
            lines.append(f"  {apart}  {group_text(figures.apart)}")
    lines.extend(special_group_lines(figures))
    lines.append("\n" + _("Definitions"))
    for target in figures.targets:
        lines.append(
            _("  {label}: {definition}").format(label=target.label, definition=target.definition)
        )
    if figures.special_groups:
        from caseflow.services.stats import SPECIAL_GROUPS_DEFINITION

        lines.append(
            _("  Special groups: {definition}").format(definition=SPECIAL_GROUPS_DEFINITION)
        )
    for text in view["definitions"].values():
        lines.append(f"  {text}")
    return lines


def deadlines_text(d: "DeadlineTally") -> str:
    from caseflow.measures import percent

    return _(
        "due {due}, met {met}, missed {missed}, escalated {escalated}, on-time rate {rate}"
    ).format(due=d.due, met=d.met, missed=d.missed, escalated=d.escalated, rate=percent(d.rate))


# The enrolment rates `caseflow stats --by` shows for a township or school.
GROUP_RATES = (
    ("enrolment_rate", N_("enrolment rate")),
    ("disabled_enrolment_rate", N_("disabled children's enrolment rate")),
    ("consolidation_rate", N_("nine-year consolidation rate")),
)


def group_text(group: "GroupFigures") -> str:
    """A township's or school's figures in `caseflow stats --by`."""
    from caseflow.measures import percent

    g = group.as_json()
    rates = "".join(
        _("; {label} {rate} ({numerator}/{denominator})").format(
            label=(
                _("{rate} (estimate)").format(rate=_(label)) if g[key].get("estimate") else _(label)
            ),
            rate=percent(g[key]["rate"]),
            numerator=g[key]["numerator"],
            denominator=g[key]["denominator"],
        )
        for key, label in GROUP_RATES
        if key in g
    )
    return (
        _(
            "open {open}, confirmed dropouts {dropouts}, returned {returned}, retained "
            "{retained}, relapses {relapses}, overdue {overdue}, on-time rate {rate}"
        ).format(
            open=g["open"],
            dropouts=g["open_dropouts"],
            returned=g["returned"],
            retained=g["retained"],
            relapses=g["relapses"],
            overdue=g["overdue"],
            rate=percent(g["on_time"]["rate"]),
        )
        + rates
    )


# Why a township or school is not scored (the reasons `services.stats` gives).
UNSCORED = {"无可计量数据": N_("nothing measurable"), "年内无案件": N_("no cases in the year")}


def assessment_lines(result: "Assessment") -> list[str]:
    """`caseflow review assessment` as text: the scores, the formula and the definitions."""
    from caseflow.measures import UNPLACED, percent

    lines: list[str] = []
    view = result.as_json()
    lines.append(
        _("{year} annual assessment of the dropout work ({start} to {end})").format(
            year=result.year,
            start=result.period.start.isoformat(),
            end=result.period.end.isoformat(),
        )
    )
    lines.append(_("Scoring: {formula}").format(formula=result.formula))
    for kind, title in (("townships", N_("Townships")), ("schools", N_("Schools"))):
        lines.append("\n" + _(title))
        if not view[kind]:
            lines.append(_("  (none)"))
        scored = [s for s in view[kind] if s["score"] is not None]
        for rank, s in enumerate(scored, start=1):
            on_time = s["on_time"]
            lines.append(
                _(
                    "  {rank}. {name}  {score} points; on-time rate {on_time_rate} "
                    "({met}/{due}), return rate {return_rate} ({returned}/{dropouts}), "
                    "retention rate {retention_rate} ({retained}/{watched}), relapses "
                    "{relapses}"
                ).format(
                    rank=pad(rank, 2, right=True),
                    name=s["name"],
                    score=f"{s['score']:g}",
                    on_time_rate=percent(on_time["rate"]),
                    met=on_time["met"],
                    due=on_time["due"],
                    return_rate=percent(s["return_rate"]),
                    returned=s["returned"],
                    dropouts=s["dropouts"],
                    retention_rate=percent(s["retention_rate"]),
                    retained=s["retained"],
                    watched=s["retained"] + s["relapsed_cases"],
                    relapses=s["relapses"],
                )
            )
        for reason, why in UNSCORED.items():
            names = [s["name"] for s in view[kind] if s["unscored"] == reason]
            if names:
                lines.append(
                    _("  Not scored ({reason}): {names}").format(
                        reason=_(why), names=_(", ").join(names)
                    )
                )
    unplaced = view["unplaced"]
    if unplaced["cases"]:
        on_time = unplaced["on_time"]
        lines.append(
            "\n"
            + _(
                "{unplaced}: {cases} case(s) ({due} deadline(s) due, {met} met) count in no "
                "township or school; once their addresses are verified they count in their "
                "units."
            ).format(
                unplaced=UNPLACED, cases=unplaced["cases"], due=on_time["due"], met=on_time["met"]
            )
        )
    lines.append("\n" + _("Definitions"))
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
        _("Overdue as of {day}: {cases} open case(s) in {units} unit(s)").format(
            day=review.as_of.isoformat(), cases=review.cases, units=len(review.units)
        )
    )
    for unit in review.units:
        lines.append(
            "\n"
            + _("{label}  [{unit}]  {count} case(s)").format(
                label=unit.label, unit=unit.unit, count=len(unit.cases)
            )
        )
        for case in unit.cases:
            due = due_text(case.due_on.isoformat(), case.due_provisional)
            overdue = (
                _("{days} working days overdue")
                if case.days_unit == "working_days"
                else _("{days} days overdue")
            ).format(days=case.days_overdue)
            lines.append(
                _(
                    "  case {number} {label} ({state})  due {due}  {overdue}  {name} {id}  {place}"
                ).format(
                    number=pad(case.number, 6),
                    label=case.state_label,
                    state=case.state,
                    due=due,
                    overdue=overdue,
                    name=case.name,
                    id=case.id_number,
                    place=f"{case.township}/{case.village}",
                )
                + (f"  {case.school}" if case.school else "")
            )
            sent = _("; ").join(
                _("level {level} on {day} to {recipients}").format(
                    level=e.level, day=e.fired_on.isoformat(), recipients=", ".join(e.recipients)
                )
                for e in case.escalations
            )
            lines.append(_("      escalated: {sent}").format(sent=sent or _("none yet")))
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
    from caseflow.db import safe_url

    lines = [
        _("Created workspace {root}").format(root=workspace.root),
        _("Database: {url}").format(url=safe_url(workspace.database_url)),
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
    from caseflow.i18n import _, is_english

    names = names or Names()
    day = report.as_of.isoformat() if is_english() else cn_day(report.as_of.isoformat())
    counts = {
        "day": day,
        "fired": report.fired,
        "timed": report.timed,
        "notices": report.notices,
    }
    if report.dry_run:
        summary = _(
            "Dry run as of {day} (nothing changed): {fired} escalation rungs would fire, "
            "{timed} automatic transitions, {notices} notices would be queued."
        )
    else:
        summary = _(
            "Sweep as of {day}: {fired} escalation rungs fired, {timed} automatic "
            "transitions, {notices} notices queued."
        )
    lines = [summary.format(**counts)]
    if report.by_recipient:
        lines += table(
            (_("Level"), _("Escalated to"), _("Cases"), _("Notices")),
            (
                (
                    _("Level {level}").format(level=level),
                    printable(names.recipient(recipient)),
                    count,
                    report.queued[(level, recipient)],
                )
                for (level, recipient), count in sorted(report.by_recipient.items())
            ),
            right=(2, 3),
            indent="  ",
        )
    return lines


def calendar_lines(years: Sequence[int], waiting: Iterable[Any]) -> list[str]:
    """What `caseflow calendar check` prints: the years covered and the provisional
    deadlines waiting for their year's calendar."""
    from caseflow.i18n import _

    waiting = list(waiting)
    covered = (
        f"{years[0]}–{years[-1]}"
        if tuple(years) == tuple(range(years[0], years[-1] + 1))
        else ", ".join(map(str, years))
    )
    lines = [
        _("Working-day calendar covers {years}").format(years=covered),
        _("Provisional deadlines waiting: {count}").format(count=len(waiting)),
    ]
    for row in waiting:
        lines.append(
            _("  case {number} {state} due {due} (provisional)").format(
                number=pad(row.id, 6), state=pad(row.state, 22), due=row.due_on.isoformat()
            )
        )
    return lines


def calendar_gap_message(year: int, holiday_file: "Path") -> str:
    """Why `caseflow calendar check` fails when next year's calendar is not known yet."""
    from caseflow.i18n import _

    return _("Error: {message}").format(
        message=_(
            "{year} has no official holiday calendar yet. When the State Council "
            "publishes it (usually in November), upgrade chinese-calendar "
            "(pip install -U chinese-calendar) or list {year}'s rest days and make-up "
            "working days in {file} with complete_years: [{year}]. "
            "Provisional deadlines are recomputed, and audited, at the next sweep."
        ).format(year=year, file=holiday_file)
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
        case_text = (
            _("case {number}").format(number=event["case"]) if event["case"] is not None else ""
        )
        yield (
            f"#{pad(event['seq'], 6)} {event['recorded_at']}  {pad(event['action'], 18)} "
            f"{pad(case_text, 10)} {event['operator']} ({event['os_user']})  "
            f"{json.dumps(event['payload'], ensure_ascii=False, sort_keys=True)}"
        )
    if not shown:
        yield _("No audit events match.")


def export_lines(summary: "ExportSummary") -> list[str]:
    """What `caseflow audit export` prints: what was written, the checkpoint, and (when the
    export verifies) how to check it elsewhere."""
    lines = [
        _("Wrote {events} events (seq {first}–{last}) to {file}").format(
            events=summary.events,
            first=summary.first_seq,
            last=summary.last.seq,
            file=summary.output,
        ),
        _("Checkpoint: {checkpoint}").format(checkpoint=summary.last),
    ]
    if summary.verification.intact:
        lines.append(
            _("Check it anywhere with: caseflow audit verify --file {file}").format(
                file=summary.output
            )
        )
    return lines


def chain_line(result: "Verification", checkpoint: str | None) -> str:
    """What `caseflow audit verify` says of the chain in the database."""
    if not result.intact:
        return _("Audit chain BROKEN at event {seq}: {problem}").format(
            seq=result.first_bad_seq, problem=result.problem
        )
    if checkpoint:
        return _(
            "Audit chain intact and matches the checkpoint: {events} events, head {head}"
        ).format(events=result.events, head=result.head)
    return _("Audit chain intact: {events} events, head {head}").format(
        events=result.events, head=result.head
    )


def export_file_lines(result: "ExportVerification", checkpoint: str | None) -> list[str]:
    """What `caseflow audit verify --file` says of an intact export: its events, where it
    starts and the checkpoint it ends at."""
    assert result.last is not None and result.first_seq is not None
    fields = {
        "checkpoint": checkpoint,
        "events": result.events,
        "first": result.first_seq,
        "last": result.last.seq,
        "start": result.first_recorded_at,
        "end": result.last_recorded_at,
    }
    lines = [
        (
            _(
                "Export intact and holds checkpoint {checkpoint}: {events} events, seq "
                "{first}–{last}, recorded {start} to {end}"
            )
            if checkpoint
            else _("Export intact: {events} events, seq {first}–{last}, recorded {start} to {end}")
        ).format(**fields)
    ]
    if result.from_genesis:
        lines.append(_("Starts at the beginning of the chain."))
    else:
        lines.append(
            _(
                "Starts mid-chain: event {first} follows prev_hash {hash}, taken as given (match "
                "it against the event before in an earlier export or in the database)."
            ).format(first=result.first_seq, hash=result.start_hash)
        )
    lines.append(_("Ends at checkpoint {checkpoint}").format(checkpoint=result.last))
    return lines


# ---------------------------------------------------------------------------------------
# The registers

REJECTS_SHOWN = 5
SUSPECTS_SHOWN = 50


def _register_day(day: "date") -> str:
    """2026年9月1日 in Chinese, 2026-09-01 in English."""
    from caseflow.i18n import is_english

    return day.isoformat() if is_english() else cn_day(day.isoformat())


def _register_name(source: str) -> str:
    """学籍 in Chinese, student in English."""
    from caseflow.roster import register_name

    return register_name(source)


def import_lines(summary: "ImportSummary") -> list[str]:
    """What `caseflow roster import` prints: the counts and the first rejected rows."""
    from caseflow.i18n import _

    lines: list[str] = []
    if summary.stale_removed:
        lines.append(
            _(
                "Removed {count} scratch folder(s) that interrupted imports had left in rosters/."
            ).format(count=summary.stale_removed)
        )
    fields = {
        "imported": summary.imported,
        "total": summary.rows_total,
        "file": printable(summary.file_name),
        "register": _register_name(summary.source),
        "import_id": summary.import_id,
        "as_of": _register_day(summary.as_of),
        "rejected": summary.rejected,
    }
    if summary.replaced:
        lines.append(
            _(
                "Imported {imported} of {total} rows of {file} as the {register} register "
                "(import {import_id}, as of {as_of}, replacing import {replaced}); "
                "{rejected} rejected."
            ).format(replaced=summary.replaced, **fields)
        )
    else:
        lines.append(
            _(
                "Imported {imported} of {total} rows of {file} as the {register} register "
                "(import {import_id}, as of {as_of}); {rejected} rejected."
            ).format(**fields)
        )
    if not summary.current:
        from caseflow.services.snapshots import school_year

        year = school_year(summary.as_of)
        lines.append(
            _(
                "Kept as the snapshot of school year {start}-{end} for the consolidation "
                "cohort (巩固率); the current snapshot, of a later school year, stays."
            ).format(start=year, end=year + 1)
        )
    if summary.register_groups is not None and summary.register_groups.children:
        lines.append(register_groups_line(summary.register_groups))
    if summary.rejects_file is None:
        return lines
    lines.append(_("Rejected rows, with the reasons: {file}").format(file=summary.rejects_file))
    for problem in summary.problems[:REJECTS_SHOWN]:
        value = f" {printable(problem.value)}" if problem.value else ""
        lines.append(
            "  "
            + _("row {line}, {column}{value}: {reason}").format(
                line=problem.line,
                column=printable(problem.column) or "-",
                value=value,
                reason=printable(problem.reason),
            )
        )
    more = len(summary.problems) - REJECTS_SHOWN
    if more > 0:
        lines.append("  " + _("... and {count} more in the rejects file").format(count=more))
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
    from caseflow.i18n import _
    from caseflow.roster import FLAGS, SOURCE_LABELS, list_text

    lines = [
        _(
            "Reference date {reference}, ages {youngest} to {oldest}: {count} suspected dropouts"
        ).format(
            reference=_register_day(comparison.reference_date),
            youngest=comparison.ages[0],
            oldest=comparison.ages[1],
            count=len(comparison.suspects),
        )
    ]
    lines += table(
        (_("Comparison"), _("Children")),
        (
            (
                FLAGS[flag],
                _("not compared: {registers} not imported").format(
                    registers=list_text(SOURCE_LABELS.get(m, m) for m in comparison.missing[flag])
                )
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
            (
                _("Resident ID"),
                _("Name"),
                _("Township/village"),
                _("Flags"),
                _("Special groups"),
            ),
            (
                (
                    view["id_number"],
                    printable(view["name"]),
                    printable(f"{view['township'] or '-'}/{view['village'] or '-'}"),
                    list_text(FLAGS.get(f, f) for f in view["flags"]),
                    printable("；".join(g for g in (view["poor"], view["disability"]) if g)),
                )
                for view in shown
            ),
            indent="  ",
        )
    note = limit_note(len(suspects), limit)
    if note:
        lines.append(note + _(" (or export them all with -o FILE or --json)"))
    if opening is not None:
        counts = {
            "opened": len(opening.opened),
            "added": len(opening.added),
            "unchanged": opening.unchanged,
            "not_reopened": opening.not_reopened,
        }
        message = (
            _(
                "Would open {opened} case(s); {added} open case(s) would get new comparison "
                "findings; {unchanged} already have them; {not_reopened} closed case(s) have "
                "no new finding and would not be reopened."
            )
            if dry_run
            else _(
                "Opened {opened} case(s); {added} open case(s) got new comparison findings; "
                "{unchanged} already had them; {not_reopened} closed case(s) have no new "
                "finding and were not reopened."
            )
        )
        lines.append(message.format(**counts))
        if opening.register_groups is not None:
            lines.append(register_groups_line(opening.register_groups))
    return lines


def register_groups_line(synced: "Synced") -> str:
    """What the 扶贫 and 残疾人 registers changed in the special groups of children with
    cases."""
    from caseflow.i18n import _
    from caseflow.roster import SOURCE_LABELS, list_text

    if not synced.sources:
        return _(
            "Special groups: no 扶贫 or 残疾人 register imported; not updated from the registers."
        )
    return _(
        "Special groups: {children} children updated from the {registers} registers "
        "({added} added, {removed} removed)."
    ).format(
        children=synced.children,
        registers=list_text(SOURCE_LABELS.get(s, s) for s in synced.sources),
        added=synced.added,
        removed=synced.removed,
    )


def import_history_lines(records: Sequence["ImportRecord"], timezone: "tzinfo") -> list[str]:
    """`caseflow roster history` as text: one row an import, `*` on each register's
    current snapshot, times in the workspace's time zone."""
    from caseflow.i18n import _

    if not records:
        return [_("No register has been imported yet.")]
    return table(
        (
            "",
            _("Import"),
            _("Register"),
            _("Imported at"),
            _("As of"),
            _("Imported"),
            _("Rejected"),
            _("File"),
            _("By"),
        ),
        (
            (
                "*" if r.current else "",
                r.id,
                _register_name(r.source),
                f"{r.imported_at.astimezone(timezone):%Y-%m-%d %H:%M}",
                r.as_of.isoformat(),
                r.rows_imported,
                r.rows_rejected,
                f"{printable(r.file_name)} sha256:{r.file_sha256[:12]}",
                f"{printable(r.operator)} ({printable(r.os_user)})",
            )
            for r in records
        ),
        right=(1, 5, 6),
    )


# ---------------------------------------------------------------------------------------
# Notices


def queued_lines(queued: "Queued", references: Sequence[str]) -> list[str]:
    """What `caseflow notice letter` prints: each notice queued (or found already queued)
    with its reference number."""
    from caseflow.i18n import _

    line = (
        _("Queued notice {id} ({reference}) to {recipient}: {subject}")
        if queued.new
        else _("Already queued notice {id} ({reference}) to {recipient}: {subject}")
    )
    lines = [
        line.format(
            id=notice_id,
            reference=ref,
            recipient=printable(recipient),
            subject=printable(queued.subject),
        )
        for notice_id, ref, recipient in zip(
            queued.ids, references, queued.recipients, strict=False
        )
    ]
    if not queued.new:
        lines.append(_("Nothing new was queued; the case has not changed since."))
    return lines


def publicity_lines(run: "PublicityRun") -> list[str]:
    """What `caseflow notice queue-letters` prints: the batches printed, their files."""
    from caseflow.dates import cn_date
    from caseflow.i18n import _, is_english

    lines = []
    if run.printed:
        schools = sum(batch.kind == "school" for batch in run.printed)
        lines.append(
            _(
                "Printed the letter to parents (致家长的一封信) of {year}-{month:02d}: "
                "{batches} batches ({schools} schools, {villages} villages), {families} "
                "families, {children} children of school age, dated {day}; the files are "
                "in the workspace's {folder}/ folder:"
            ).format(
                year=run.day.year,
                month=run.day.month,
                batches=len(run.printed),
                schools=schools,
                villages=len(run.printed) - schools,
                families=run.families,
                children=run.children,
                day=run.day.isoformat() if is_english() else cn_date(run.day),
                folder=run.folder,
            )
        )
        lines += table(
            (_("Unit"), _("Families"), _("Children"), _("File")),
            (
                (printable(batch.unit.replace("/", "")), batch.families, batch.children, batch.file)
                for batch in run.printed
            ),
            right=(1, 2),
            indent="  ",
        )
        lines.append(
            _("Each unit's printing notice is queued; run caseflow notify dispatch to send them.")
        )
    if run.already_printed:
        lines.append(
            _("{count} batches printed earlier this month were not printed again.").format(
                count=run.already_printed
            )
        )
    if not lines:
        lines.append(
            _("No child of school age in the household and school registers; nothing printed.")
        )
    return lines


def dispatch_lines(report: "DispatchReport") -> list[str]:
    """What `caseflow notify dispatch` prints: the counts, and where to see dead notices
    (the same line the scheduler prints for its dispatch)."""
    from caseflow.i18n import _
    from caseflow.scheduler import DEAD_HINT, dispatch_summary

    lines = [dispatch_summary(report)]
    if report.dead:
        lines.append(_(DEAD_HINT))
    return lines


OUTBOX_STATUSES: Mapping[str, str] = {
    "pending": N_("pending"),
    "sent": N_("sent"),
    "dead": N_("failed"),
}


def outbox_lines(
    view: Mapping[str, Any], names: Names | None = None, *, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """`caseflow notify status` as text: the counts by status, then a table of the latest
    notices (the first ``limit``; 0 for all) with the last error of each."""
    from caseflow.channels import label as channel_label
    from caseflow.i18n import _
    from caseflow.secrets import scrub

    names = names or Names()
    counts = view["counts"]
    lines = [
        _("Outbox: {pending} pending, {sent} sent, {dead} failed").format(
            pending=counts["pending"], sent=counts["sent"], dead=counts["dead"]
        )
    ]
    notices = view["notices"]
    if not notices:
        return lines
    lines += table(
        (
            _("No."),
            _("Reference"),
            _("Status"),
            _("Channel"),
            _("Recipient"),
            _("Attempts"),
            _("Subject"),
            _("Last error"),
        ),
        (
            (
                n["id"],
                n["reference"],
                _(OUTBOX_STATUSES[n["status"]]) if n["status"] in OUTBOX_STATUSES else n["status"],
                channel_label(n["channel"]) if n["channel"] else "-",
                printable(names.recipient(n["recipient"])),
                n["attempts"],
                printable(n["subject"]),
                printable(scrub(n["last_error"] or "")),
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
    from caseflow.i18n import _

    return _("{path}: OK — {units} units, {people} people, {operators} operators").format(
        path=path, units=len(org.units), people=len(org.people), operators=len(org.operators)
    )


def org_applied_lines(applied: "Applied") -> list[str]:
    """What `caseflow org apply` prints: the file's hash and the operators it changed."""
    from caseflow.i18n import _

    if applied.unchanged:
        return [_("Already in force: {sha}").format(sha=applied.sha256[:12])]
    lines = [_("In force: {sha}").format(sha=applied.sha256[:12])]
    for label, names in (
        (_("  Operators added: {names}"), applied.added),
        (_("  Operators removed: {names}"), applied.removed),
        (_("  Operators changed: {names}"), applied.changed),
    ):
        if names:
            lines.append(label.format(names=", ".join(names)))
    return lines


def _channels(contacts: Iterable["Contact"]) -> str:
    return ", ".join(f"{c.channel} {c.address}".strip() for c in contacts)


# Translated where shown.
ORG_EDITS_NOT_IN_FORCE = N_(
    "Note: org.yaml has been edited since the last `caseflow org apply` and the edits are "
    "not in force; notices, 包保 chains and operators still follow the version in force. "
    "Run `caseflow org check`, then `caseflow org apply` to put them in force."
)


def org_lines(org: "Org") -> list[str]:
    """`caseflow org show` as text: units as a tree with their people, then the operators
    with their roles and jurisdiction, then the other contacts."""
    from caseflow.i18n import _
    from caseflow.org import POSITIONS, UNIT_KINDS

    lines = [org.county or _("(county not named)"), "", _("Units and people:")]
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
            extra += _("  serves: {villages}").format(villages="、".join(villages))
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
    lines += ["", _("Operators:")]
    for o in org.operators.values():
        extra = _("  person {person}").format(person=o.person) if o.person else ""
        if o.shared_accounts:
            extra += _("  shared accounts: {accounts}").format(
                accounts=", ".join(o.shared_accounts)
            )
        lines.append(
            _("  {name}  os user {os_user}  roles {roles}  jurisdiction {jurisdiction}").format(
                name=o.name,
                os_user=o.os_user,
                roles=", ".join(o.roles),
                jurisdiction=o.jurisdiction,
            )
            + extra
        )
    if not org.operators:
        lines.append(_("  (none listed)"))
    lines += ["", _("Other contacts:")]
    shown_above = {org.address_of(u.id) for u in org.units.values() if u.contacts}
    for key, contacts in sorted(org.contacts.by_key.items()):
        if not key.startswith("person:") and key not in shown_above:
            lines.append(f"  {key}: {_channels(contacts)}")
    lines.append(_("  default: {channels}").format(channels=_channels(org.contacts.default)))
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
