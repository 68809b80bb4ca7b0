"""The presenter: how results look on a terminal — tables, reports, event lines, due dates,
progress bars. Every command prints through it; nothing here reads or writes a workspace."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


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
