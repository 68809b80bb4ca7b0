"""The presenter: how results look on a terminal — tables, reports, event lines, due dates,
progress bars. Every command prints through it; nothing here reads or writes a workspace."""

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caseflow.cli.hints import PROVISIONAL_HINT
from caseflow.cli.table import DEFAULT_LIMIT, limit_note, limited, printable, table
from caseflow.exports import fit

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
    return f"{due_on} (provisional)" if provisional else due_on


def groups_text(change: Mapping[str, Any]) -> str:
    """登记特殊群体 留守、患病；取消特殊群体 学困: a change of the child's special groups."""
    parts = []
    if change.get("added"):
        parts.append("登记特殊群体 " + "、".join(item["label"] for item in change["added"]))
    if change.get("removed"):
        parts.append("取消特殊群体 " + "、".join(item["label"] for item in change["removed"]))
    return "；".join(parts)


# ---------------------------------------------------------------------------------------
# A case's history and file, in words: labels for every code, people by name and position


ACTION_LABELS: Mapping[str, str] = {
    "case.open": "案件登记",
    "case.transition": "状态变更",
    "case.escalation": "升级督办",
    "notice.delivery": "通知送达",
    "notice.queued": "文书制发",
    "notice.requeued": "重新发送",
    "case.note": "劝返记录",
    "case.update": "信息更新",
    "case.groups": "特殊群体变更",
    "case.assign": "包保责任人调整",
    "case.chain": "包保责任链更新",
    "case.guardian": "监护人登记",
    "case.finding": "比对新发现",
    "case.migrated": "流程版本迁移",
    "case.extension_requested": "申请延期",
    "case.extension": "办理期限延长",
    "case.extension_rejected": "延期申请驳回",
    "case.deadline_recomputed": "办理期限重算",
    "case.reopen": "撤销销号",
    "data.disclosed": "信息提供",
    "access.refused": "拒绝访问",
}

# The child's and the guardians' details a caseworker records (`case update`, `case
# guardian add`); the workflow's own fields are labelled by the workflow.
DETAIL_LABELS: Mapping[str, str] = {
    "school": "学校",
    "grade": "年级",
    "class_name": "班级",
    "group": "村民小组",
    "guardian_name": "监护人姓名",
    "guardian_relation": "与儿童关系",
    "guardian_phone": "监护人电话",
    "name": "姓名",
    "relation": "与儿童关系",
    "phone": "电话",
    "workplace": "工作单位",
    "legal_basis": "监护依据",
    "carer": "被委托照护人",
    "capacity": "身份",
}

DELIVERY_OUTCOMES: Mapping[str, str] = {
    "sent": "已送达",
    "retry": "未送达，待重试",
    "dead": "送达失败",
    "deferred": "限流，稍后发送",
    "rate_limited": "限流，稍后发送",
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
        label = self.fields.get(key) or DETAIL_LABELS.get(name, name)
        shown = self.choices.get(key, {}).get(str(value), value)
        return f"{label}：{cn_day(shown) if isinstance(shown, str) else shown}"

    def values(self, values: Mapping[str, object], trigger: str = "") -> str:
        return "，".join(self.value(k, v, trigger) for k, v in values.items())

    def recipient(self, key: str) -> str:
        from caseflow.escalation import recipient_label

        if key.partition(":")[0] == "guardian":
            return "监护人"
        return recipient_label(key, self.person, departments=self.departments)


def cn_day(text: str | None) -> str:
    """An ISO date as 2026年11月29日 (``caseflow.dates.cn_date``); any other text as it is."""
    from datetime import date

    from caseflow.dates import cn_date

    if not text:
        return ""
    try:
        return cn_date(date.fromisoformat(text))
    except ValueError:
        return text


def event_day(event: Mapping[str, Any], timezone: "tzinfo | None" = None) -> str:
    """The day an event happened, or (a delivery, a requeue) the day it was recorded, in
    the workspace's time zone (UTC when none is given)."""
    from datetime import UTC

    from caseflow.dates import cn_date, recorded_day

    if event.get("occurred_on"):
        return cn_day(str(event["occurred_on"]))
    recorded = event.get("recorded_at")
    if not recorded:
        return ""
    return cn_date(recorded_day(str(recorded), timezone or UTC))


def document_text(document: Mapping[str, Any], number: int | None) -> str:
    """A document a step issued, or (in one line) why it could not be prepared and how to
    prepare it."""
    if document["prepared"]:
        return f"制发《{document['subject']}》（{'、'.join(document['references'])}）"
    how = (
        f"补齐后用 caseflow notice letter {number} {document['template']} --set 字段=值 制发"
        if number is not None
        else "补齐后用 caseflow notice letter 制发"
    )
    from caseflow.services.letters import template_title

    return f"《{template_title(document['template'])}》未能制发：{document['reason']}；{how}"


def event_line(
    event: Mapping[str, Any],
    names: Names | None = None,
    timezone: "tzinfo | None" = None,
) -> str:
    """One line of a case's history: the day, what happened in words (labels, not codes;
    people by name and position) and who did it."""
    names = names or Names()
    payload = event["payload"]
    action = event["action"]
    label = ACTION_LABELS.get(action, f"其他事项（{action}）")
    what = printable(_event_what(action, payload, names))
    if payload.get("note"):
        what += "；备注：" + printable(payload["note"], newlines=True)
    number = event.get("case")
    for document in payload.get("documents", []):
        what += "；" + document_text(document, number)
    day = fit(event_day(event, timezone), 16)
    text = f"{label}：{what}" if what else label
    return f"#{fit(event['seq'], 5)} {day} {text}  [{printable(event['operator'])}]"


def _event_what(action: str, payload: Mapping[str, Any], names: Names) -> str:
    if action == "case.transition":
        trigger = payload.get("trigger") or ""
        what = (
            f"{names.triggers.get(trigger, trigger)}，{names.state(payload.get('from'))} → "
            f"{names.state(payload.get('to'))}"
        )
        if payload.get("values"):
            what += "，" + names.values(payload["values"], trigger)
        return what
    if action == "case.open":
        from caseflow.states import CASE_SOURCES

        source = payload.get("source") or ""
        state = names.state(payload.get("state"))
        return f"登记为{state}（来源：{CASE_SOURCES.get(source, source)}）"
    if action == "case.escalation":
        recipients = "、".join(names.recipient(r) for r in payload.get("recipients", []))
        return (
            f"第{payload.get('level')}级，{names.state(payload.get('state'))}办理期限 "
            f"{cn_day(payload.get('due_on'))} 届满（逾期 {payload.get('days_overdue', 0)} 天），"
            f"督办 {recipients or '-'}"
        )
    if action == "notice.delivery":
        status = payload.get("status") or ""
        outcome = DELIVERY_OUTCOMES.get(status, status)
        if payload.get("error"):
            outcome += f"（{payload['error']}）"
        channel = payload.get("channel") or ""
        return (
            f"{payload.get('reference', '')} 致{names.recipient(payload.get('recipient', ''))}，"
            f"{CHANNELS.get(channel, channel) or '-'}，第{payload.get('attempt', 1)}次，{outcome}"
        )
    if action == "notice.queued":
        from caseflow.services.letters import template_title

        template = payload.get("template") or ""
        recipients = "、".join(names.recipient(r) for r in payload.get("recipients", []))
        return f"《{template_title(template)}》致{recipients or '-'}"
    if action == "notice.requeued":
        return f"{len(payload.get('notices', []))} 份通知重新排入发送队列"
    if action == "case.note":
        from caseflow.states import NOTE_METHODS

        method = payload.get("method") or ""
        return f"（{NOTE_METHODS.get(method, method)}）{payload.get('text', '')}"
    if action == "case.update":
        what = names.values(payload.get("changed", {}))
        if payload.get("groups"):
            what = "；".join(p for p in (what, groups_text(payload["groups"])) if p)
        return what
    if action == "case.groups":
        return "按登记册" + groups_text(payload)
    if action == "case.guardian":
        return names.values(payload.get("added", {}))
    if action == "case.assign":
        from caseflow.org import POSITIONS

        role = payload.get("role") or ""
        return (
            f"{POSITIONS.get(role, role)}由 {names.person(payload.get('from'))} 改为 "
            f"{names.person(payload.get('to'))}"
        )
    if action == "case.chain":
        from caseflow.org import POSITIONS

        before = payload.get("from") or {}
        after = payload.get("to") or {}
        changed = [role for role in after if before.get(role) != after[role]]
        people = "，".join(f"{POSITIONS.get(r, r)} {names.person(after[r])}" for r in changed)
        return "包保责任链随儿童调整：" + (people or "无变化")
    if action == "case.migrated":
        return (
            f"迁移至 {payload.get('workflow')} 第{payload.get('to_version')}版，"
            f"{names.state(payload.get('from'))} → {names.state(payload.get('to'))}，期限 "
            f"{cn_day(payload.get('from_due_on')) or '-'} → {cn_day(payload.get('due_on')) or '-'}"
        )
    if action == "case.extension_requested":
        return f"申请延长 {payload.get('days')} 天：{payload.get('reason', '')}"
    if action == "case.extension":
        what = f"延长 {payload.get('days')} 天"
        if "requested_by" in payload:  # absent: granted at once, before approval was needed
            what += f"（{payload['requested_by']} 于 {cn_day(payload['requested_on'])} 申请）"
        return (
            what + f"，期限 {cn_day(payload.get('from_due_on'))} → {cn_day(payload.get('due_on'))}"
        )
    if action == "case.extension_rejected":
        return (
            f"{payload.get('requested_by')} 申请延长 {payload.get('days')} 天，驳回："
            f"{payload.get('reason', '')}"
        )
    if action == "case.deadline_recomputed":
        return f"期限 {cn_day(payload.get('from_due_on'))} → {cn_day(payload.get('due_on'))}" + (
            "（暂定）" if payload.get("due_provisional") else ""
        )
    if action == "case.finding":
        from caseflow.roster import FLAGS

        flags = payload.get("evidence", {}).get("roster_flags", [])
        return "、".join(FLAGS.get(f, f) for f in flags) or "新的比对线索"
    if action == "data.disclosed":
        return f"向{payload.get('to_name', '')}提供儿童身份证号（{payload.get('title', '')}）"
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
        f"Case {number}: now {step['state']} ({step['state_label']}), due "
        f"{due_text(step['due_on'], step['due_provisional'])}"
    ]
    for document in step["documents"]:
        if document["prepared"]:
            lines.append(
                f"  Prepared {document['subject']}: {', '.join(document['references'])}"
                " (in the outbox; `caseflow notify dispatch` delivers or files it)"
            )
        else:
            lines.append(
                f"  Could not prepare {document['template']}: {document['reason']}. "
                f"Make it with `caseflow notice letter {number} {document['template']} "
                "--set FIELD=VALUE`."
            )
    if step["due_provisional"]:
        lines.append(PROVISIONAL_HINT)
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
    be done now and the history, with labels for codes and people by name and position."""
    names = names or Names()
    lines: list[str] = []
    child = view["child"]
    number = view["number"]
    lines.append(
        f"案件 {number}（流程 {view['workflow']} 第{view['workflow_version']}版，"
        f"第{view['version']}次修改）"
    )
    lines.append(f"  当前状态：{view['state_label']}（自 {cn_day(view['entered_on'])}）")
    overdue = "，已逾期" if view["overdue"] else ""
    due = (
        cn_day(view["due_on"]) + ("（暂定）" if view["due_provisional"] else "")
        if view["due_on"]
        else "无"
    )
    lines.append(f"  办理期限：{due}{overdue}")
    if view["deadline_basis"]:
        lines.append(f"  期限依据：{view['deadline_basis']}")
    for fired in (e for e in view["escalations"] if e["current"]):
        lines.append(
            f"  升级督办：{cn_day(fired['fired_on'])} 第{fired['level']}级（逾期 "
            f"{fired['days_overdue']} 天），督办 "
            + "、".join(names.recipient(r) for r in fired["recipients"])
        )
    if view["extension_request"]:
        lines.append(f"  延期申请：{extension_line(view['extension_request'])}")
    if view["next_escalation_on"]:
        lines.append(f"  下次督办检查：{cn_day(view['next_escalation_on'])}")
    if view["responsible_label"]:
        lines.append(f"  责任单位：{view['responsible_label']}")
    if view["departments"]:
        lines.append("  转介部门：" + "、".join(d["label"] for d in view["departments"]))
    lines.append(
        f"  儿童：{child['name']} {child['id_number']} {child['sex']}"
        + (f" 出生日期 {cn_day(child['birth_date'])}" if child["birth_date"] else "")
    )
    where = "/".join(p for p in (child["township"], child["village"], child["group"]) if p)
    lines.append(f"  住址：{where}" + (f"；学校 {child['school']}" if child["school"] else ""))
    for guardian in view["guardians"]:
        basis = f"（{guardian['legal_basis']}）" if guardian["legal_basis"] else ""
        phone = guardian["phone"] or ""  # masked unless the reader may reveal
        lines.append(
            f"  监护人：{guardian['name']} {guardian['relation'] or ''} "
            f"{guardian['capacity_label']}{basis} {phone}".rstrip()
        )
    if view["special_groups"]:
        lines.append(
            "  特殊群体："
            + "、".join(
                f"{g['label']}（{'、'.join(g['source_labels'])}）" for g in view["special_groups"]
            )
        )
    if view["chain"]:
        lines.append("  包保责任链：")
        for link in view["chain"]:
            lines.append(f"    {fit(link.get('role_label', link['role']), 16)}{link['label']}")
    if view["reasons"]:
        reasons = names.choices.get("reasons", {})
        lines.append("  辍学原因：" + "、".join(reasons.get(r, r) for r in view["reasons"]))
    if view["repeat_count"]:
        lines.append(f"  再次辍学：{view['repeat_count']} 次")
    lines.append("  现在可办理：")
    if not view["transitions"]:
        lines.append("    （您的角色当前无可办理事项）")
    for t in view["transitions"]:
        fields = " ".join(
            f"--set {f['name']}="
            + ("|".join(f["choices"]) if f["type"] == "choice" else f"<{f['type']}>")
            + ("" if f["required"] else "（可选）")
            for f in t["fields"]
        )
        arrow = f" → {names.state(t['dest'])}" if t["dest"] else ""
        lines.append(f"    {fit(t['trigger'], 28)}{t['label']}{arrow}  {fields}".rstrip())
    lines = [printable(line) for line in lines]  # names, guardians, places as entered
    lines.append("  办理记录：")
    for event in view["history"]:
        lines.append("    " + event_line(event, names, timezone))
    if view["due_provisional"]:
        lines.append(PROVISIONAL_HINT)
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


def migration_lines(view: dict[str, Any]) -> list[str]:
    mode = "（试运行，未作任何修改）" if view["dry_run"] else ""
    verb = "将迁移" if view["dry_run"] else "已迁移"
    if not view["cases"]:
        return [
            f"流程 {view['workflow']} 迁移至第{view['to_version']}版{mode}：没有需要迁移的在办"
            f"案件，全部在办案件已在第{view['to_version']}版。"
        ]
    lines = [
        f"流程 {view['workflow']} 迁移至第{view['to_version']}版{mode}：{verb} "
        f"{view['moved']} 个在办案件"
    ]
    for case in view["cases"]:
        state = (
            f"{case['from_state_label']}（{case['from_state']}）"
            if case["from_state"] == case["to_state"]
            else f"{case['from_state_label']}（{case['from_state']}）→ "
            f"{case['to_state_label']}（{case['to_state']}）"
        )
        due = f"{case['from_due_on'] or '-'} → {due_text(case['due_on'], case['due_provisional'])}"
        kept = "（期限按文书确定，不变）" if case["deadline"] == "kept" else ""
        lines.append(
            f"  案件 {pad(case['number'], 6)} 第{case['from_version']}版→第{view['to_version']}版  "
            f"{state}  期限 {due}{kept}"
        )
    return lines


# ---------------------------------------------------------------------------------------
# The workspace


def workspace_created_lines(
    workspace: "Workspace", operator: str, *, example_org: bool = False
) -> list[str]:
    """What `caseflow init` prints: where the workspace and its database are, who the
    first operator is, and what to do next."""
    lines = [f"Created workspace {workspace.root}", f"Database: {workspace.database_url}"]
    if example_org:
        lines.append(f"Organisation: the example county, in {workspace.org_file}")
    lines.append(f"Operator {operator!r} registered with roles bureau, admin (county-wide).")
    if example_org:
        lines.append(
            f"Next: check it with `caseflow -w {workspace.root} org check`, put it in force "
            "with `org apply` (you become 县教育局控辍办), then `case open --help`"
        )
    else:
        lines.append(f"Next: caseflow -w {workspace.root} case open --help")
    return lines


# ---------------------------------------------------------------------------------------
# Cases and the sweep


def due_line(number: int, step: Mapping[str, Any]) -> str:
    """`Case N: due ...`, what `case extend` prints."""
    return f"Case {number}: due {due_text(step['due_on'], step['due_provisional'])}"


def extension_requested_line(number: int, step: Mapping[str, Any]) -> str:
    """What `case extend --days` prints: the deadline stays until someone else approves."""
    request = step["extension_request"]
    return (
        f"Case {number}: extension of {request['days']} days requested; due stays "
        f"{due_text(step['due_on'], step['due_provisional'])} until another operator with "
        f"role {' or '.join(request['approve_roles'])} approves it "
        f"(`caseflow case extend {number} --approve`)"
    )


def extension_line(request: Mapping[str, Any]) -> str:
    """`case show`'s line on a pending extension request, or one that lapsed."""
    asked = (
        f"{request['days']} days requested by {request['operator']} on "
        f"{request['requested_on']} ({request['reason']})"
    )
    if request["status"] == "lapsed":
        return f"{asked}; lapsed on {request['lapsed_on']}: the case left {request['state']}"
    return (
        f"{asked}; awaits approval by another operator with role "
        f"{' or '.join(request['approve_roles'])}; lapses if the case leaves {request['state']}"
    )


def opened_lines(opened: Mapping[str, Any]) -> list[str]:
    """What `case open` prints: the new case's state and due date."""
    lines = [
        f"Opened case {opened['number']}: {opened['state']} ({opened['state_label']}), due "
        f"{due_text(opened['due_on'], opened['due_provisional'])}"
    ]
    if opened["due_provisional"]:
        lines.append(PROVISIONAL_HINT)
    return lines


def case_list_lines(
    rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str], *, limit: int = DEFAULT_LIMIT
) -> list[str]:
    """`caseflow case list` as a table by display width, with a header row: one row a case
    (the first ``limit``; 0 for all), then how many were left out."""
    if not rows:
        return ["没有符合条件的案件。"]
    shown = limited(rows, limit)
    lines = table(
        ("案件号", "状态", "办理期限", "姓名", "身份证号", "住址", "逾期"),
        (
            (
                row["number"],
                labels.get(row["state"], row["state"]),
                (cn_day(row["due_on"]) + ("（暂定）" if row["due_provisional"] else ""))
                if row["due_on"]
                else "-",
                row["name"],
                row["id_number"],
                f"{row['township']}/{row['village']}",
                "逾期" if row["overdue"] else "",
            )
            for row in shown
        ),
        right=(0,),
    )
    note = limit_note(len(rows), limit)
    if note:
        lines.append(note)
    if any(row["due_provisional"] for row in shown):
        lines.append(PROVISIONAL_HINT)
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
    the transitions."""
    lines = [f"{description['label']} — {description['name']} v{description['version']}"]
    lines.append("\nStates:")
    for state in description["states"]:
        deadline = state["deadline"]
        due = f"  due in {deadline['amount']} {deadline['unit']}" if deadline else ""
        lines.append(
            f"  {pad(state['id'], 24)}{pad(state['label'], 14)}{pad(state['kind'], 9)}"
            f"{pad(state['category'], 19)}{pad(state['responsible'] or '', 18)}{due}"
        )
        for rung in state["ladder"]:
            lines.append(
                f"      +{rung['offset']} {rung['unit']}: {', '.join(rung['notify'])} "
                f"({rung['template']})"
            )
    lines.append("\nTransitions:")
    for t in description["transitions"]:
        extra = []
        if t["handoff"]:
            extra.append("handoff " + ", ".join(t["handoff"]))
        if t["auto"]:
            extra.append("auto when due")
        if t["fields"]:
            extra.append("fields " + ", ".join(f["name"] for f in t["fields"]))
        lines.append(
            f"  {pad(t['trigger'], 28)}{pad(t['label'], 16)}{','.join(t['from'])} -> {t['to']}"
            f"  [{', '.join(t['roles'])}]" + (f"  {'; '.join(extra)}" if extra else "")
        )
    if description.get("special_groups"):
        registers = description.get("register_groups", {})
        set_by = {group: purpose for purpose, group in registers.items()}
        lines.append("\n特殊群体（case update --special-group）:")
        for group in description["special_groups"]:
            register = set_by.get(group["key"])
            lines.append(
                f"  {pad(group['key'], 24)}{group['label']}"
                + (f"  （登记册导入：{register}）" if register else "")
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
