"""The presenter: how results look on a terminal — tables, reports, event lines, due dates,
progress bars. Every command prints through it; nothing here reads or writes a workspace."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caseflow.services.review import OverdueReview
    from caseflow.services.stats import Assessment, Stats


def due_text(due_on: str | None, provisional: bool) -> str:
    if due_on is None:
        return "-"
    return f"{due_on} (provisional)" if provisional else due_on


PROVISIONAL_HINT = (
    "Note: a provisional due date was counted with weekends as the only rest days because "
    "its year's holiday calendar is not yet known. Fix: upgrade chinese-calendar when the "
    "new year's data is out, or list that year in the workspace's holidays.yaml "
    "(complete_years); the next sweep recomputes it. `caseflow calendar check` shows what "
    "is waiting."
)


def event_line(event: dict[str, Any]) -> str:
    payload = event["payload"]
    if event["action"] == "case.transition":
        what = f"{event['from']} -> {event['to']} ({event['trigger']})"
        if payload.get("values"):
            what += " " + ", ".join(f"{k}={v}" for k, v in payload["values"].items())
    elif event["action"] == "case.note":
        what = f"note [{payload['method']}] {payload['text']}"
    elif event["action"] == "case.update":
        what = "updated " + ", ".join(f"{k}={v}" for k, v in payload["changed"].items())
    elif event["action"] == "case.open":
        what = f"opened in {payload['state']} (source {payload['source']})"
    elif event["action"] == "case.assign":
        what = f"assigned {payload['role']}: {payload['from'] or '-'} -> {payload['to']}"
    elif event["action"] == "case.migrated":
        what = (
            f"moved to {payload['workflow']} v{payload['to_version']}: "
            f"{payload['from']} -> {payload['to']}, due {payload['from_due_on'] or '-'} -> "
            f"{payload['due_on'] or '-'}"
        )
    elif event["action"] == "case.chain":
        what = "包保 chain follows the child: " + ", ".join(
            f"{role}={person}" for role, person in payload["to"].items()
        )
    else:
        what = event["action"]
    if payload.get("note"):
        what += f" — {payload['note']}"
    for document in payload.get("documents", []):
        if document["prepared"]:
            what += f"; issued {document['subject']} ({', '.join(document['references'])})"
        else:
            what += f"; {document['template']} not prepared: {document['reason']}"
    return f"#{event['seq']:<5} {event['occurred_on'] or '':<10}  {what}  [{event['operator']}]"


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long runs; silent for short ones."""
    if total < 2000 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def rows_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr once a large file turns out to be large; silent otherwise."""
    state: dict[str, Any] = {}
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return

    def advance(done: int, total: int) -> None:
        if total < 20_000:
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
def stages() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr naming the stage; silent when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield lambda _what, _done, _total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("caseflow demo", total=None)
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


def stats_lines(county: str, figures: "Stats") -> list[str]:
    """`caseflow stats` as text: the targets, the cases, the flows, each unit's on-time rate
    and the definitions."""
    from caseflow.services.stats import percent, target_line

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
    lines.append("\n案件（统计日）")
    for item in view["by_state"]:
        lines.append(f"  {item['label']}（{item['state']}）  {item['count']}")
    lines.append(
        f"  合计 {total['cases']}，在办 {total['open']}：疑似 {total['suspected']}，已确认辍学 "
        f"{total['open_dropouts']}，延缓入学/休学 {total['deferred']}，已复学巩固中 "
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
    if not figures.on_time:
        lines.append("  统计期内没有到期的办理期限。")
    for unit in figures.on_time:
        d = unit.deadlines
        lines.append(
            f"  {unit.label}  到期 {d.due}，按期 {d.met}，逾期 {d.missed}，已升级督办 "
            f"{d.escalated}，按时办结率 {percent(d.rate)}"
        )
    if figures.groups:
        lines.append("\n按乡镇" if figures.by == "township" else "\n按学校")
        for group in figures.groups:
            g = group.as_json()
            rates = "".join(
                f"，{label} {percent(g[key]['rate'])}（{g[key]['numerator']}/"
                f"{g[key]['denominator']}）"
                for key, label in (
                    ("enrolment_rate", "入学率"),
                    ("disabled_enrolment_rate", "残疾儿童少年入学率"),
                    ("consolidation_rate", "九年义务教育巩固率"),
                )
                if key in g
            )
            lines.append(
                f"  {group.name}  在办 {g['open']}，已确认辍学 {g['open_dropouts']}，复学 "
                f"{g['returned']}，巩固 {g['retained']}，再次辍学 {g['relapses']}，逾期 "
                f"{g['overdue']}，按时办结率 {percent(g['on_time']['rate'])}{rates}"
            )
    lines.append("\n口径说明")
    for target in figures.targets:
        lines.append(f"  {target.label}：{target.definition}")
    for text in view["definitions"].values():
        lines.append(f"  {text}")
    return lines


def assessment_lines(result: "Assessment") -> list[str]:
    """`caseflow review assessment` as text: the scores, the formula and the definitions."""
    from caseflow.services.stats import percent

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
        for rank, s in enumerate(view[kind], start=1):
            on_time = s["on_time"]
            score = "不评分（无可计量数据）" if s["score"] is None else f"{s['score']:g} 分"
            lines.append(
                f"  {rank:>2}. {s['name']}  {score}；按时办结率 {percent(on_time['rate'])}"
                f"（{on_time['met']}/{on_time['due']}），劝返率 {percent(s['return_rate'])}"
                f"（{s['returned']}/{s['dropouts']}），复学巩固率 {percent(s['retention_rate'])}"
                f"（{s['retained']}/{s['retained'] + s['relapsed_cases']}），再次辍学 "
                f"{s['relapses']} 人次"
            )
    lines.append("\n口径说明")
    for text in view["definitions"].values():
        lines.append(f"  {text}")
    return lines


def case_lines(view: dict[str, Any]) -> list[str]:
    """`caseflow case show` as text: state, due date, who is responsible, the child, what can
    be done now and the history."""
    lines: list[str] = []
    child = view["child"]
    lines.append(
        f"Case {view['number']}  ({view['workflow']} v{view['workflow_version']}, "
        f"version {view['version']})"
    )
    lines.append(
        f"  State:       {view['state']} ({view['state_label']}) since {view['entered_on']}"
    )
    overdue = "  OVERDUE" if view["overdue"] else ""
    lines.append(f"  Due:         {due_text(view['due_on'], view['due_provisional'])}{overdue}")
    if view["deadline_basis"]:
        lines.append(f"  Basis:       {view['deadline_basis']}")
    for fired in (e for e in view["escalations"] if e["current"]):
        lines.append(
            f"  Escalated:   level {fired['level']} on {fired['fired_on']} "
            f"({fired['days_overdue']} days overdue) to {', '.join(fired['recipients'])}"
        )
    if view["next_escalation_on"]:
        lines.append(f"  Next sweep action: {view['next_escalation_on']}")
    if view["responsible_label"]:
        lines.append(f"  Responsible: {view['responsible_label']}")
    if view["departments"]:
        lines.append("  Handed to:   " + ", ".join(d["label"] for d in view["departments"]))
    lines.append(
        f"  Child:       {child['name']} {child['id_number']} {child['sex']} "
        f"born {child['birth_date']}"
    )
    where = "/".join(p for p in (child["township"], child["village"], child["group"]) if p)
    lines.append(
        f"  Lives in:    {where}" + (f"; school {child['school']}" if child["school"] else "")
    )
    for guardian in view["guardians"]:
        lines.append(
            f"  Guardian:    {guardian['name']} {guardian['relation'] or ''} "
            f"{guardian['phone'] or ''}".rstrip()
        )
    if view["chain"]:
        lines.append("  包保 chain:")
        for link in view["chain"]:
            lines.append(f"    {link['role']:<16}{link['label']}")
    if view["reasons"]:
        lines.append(f"  Reasons:     {', '.join(view['reasons'])}")
    if view["repeat_count"]:
        lines.append(f"  Relapses:    {view['repeat_count']}")
    lines.append("  Can do now:")
    for t in view["transitions"] or [
        {"trigger": "(nothing for your role)", "label": "", "dest": "", "fields": []}
    ]:
        fields = " ".join(
            f"--set {f['name']}="
            + ("|".join(f["choices"]) if f["type"] == "choice" else f"<{f['type']}>")
            + ("" if f["required"] else " (optional)")
            for f in t["fields"]
        )
        arrow = f" -> {t['dest']}" if t["dest"] else ""
        lines.append(f"    {t['trigger']:<28}{t['label']}{arrow}  {fields}".rstrip())
    lines.append("  History:")
    for event in view["history"]:
        lines.append("    " + event_line(event))
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
                f"  case {case.number:<6} {case.state_label} ({case.state})  due {due}  "
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
            f"  案件 {case['number']:<6} 第{case['from_version']}版→第{view['to_version']}版  "
            f"{state}  期限 {due}{kept}"
        )
    return lines
