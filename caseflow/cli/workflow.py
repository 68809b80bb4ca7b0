"""`caseflow workflow ...`: check, show and draw workflow definitions."""

from pathlib import Path
from typing import Annotated

import typer

from caseflow.cli.base import JsonOption, bad_usage, explicit_workspace, print_json, workflow_app


@workflow_app.command("check")
def workflow_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Workflow files (default: the shipped and workspace workflows)."),
    ] = None,
) -> None:
    """Report every problem in workflow files, with file and key path; exit 1 if any."""
    from caseflow.services.workflows import check_workflow_files

    checked, problems = check_workflow_files(files or [], explicit_workspace())
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {len(checked)} file(s).", err=True)
        raise typer.Exit(1)
    for path in checked:
        typer.echo(f"ok  {path}")


@workflow_app.command("show")
def workflow_show(
    name: Annotated[str | None, typer.Argument(help="Workflow name (default: dropout).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the states (with deadlines and ladders) and transitions of a workflow."""
    from caseflow.services.workflows import describe_workflow, workflow_by_name

    workflow = workflow_by_name(name, explicit_workspace())
    description = describe_workflow(workflow)
    if as_json:
        print_json(description)
        return
    typer.echo(f"{workflow.label} — {workflow.name} v{workflow.version}")
    typer.echo("\nStates:")
    for state in description["states"]:
        deadline = state["deadline"]
        due = f"  due in {deadline['amount']} {deadline['unit']}" if deadline else ""
        typer.echo(
            f"  {state['id']:<24}{state['label']:<14}{state['kind']:<9}"
            f"{state['responsible'] or '':<18}{due}"
        )
        for rung in state["ladder"]:
            typer.echo(
                f"      +{rung['offset']} {rung['unit']}: {', '.join(rung['notify'])} "
                f"({rung['template']})"
            )
    typer.echo("\nTransitions:")
    for t in description["transitions"]:
        extra = []
        if t["handoff"]:
            extra.append("handoff " + ", ".join(t["handoff"]))
        if t["auto"]:
            extra.append("auto when due")
        if t["fields"]:
            extra.append("fields " + ", ".join(f["name"] for f in t["fields"]))
        typer.echo(
            f"  {t['trigger']:<28}{t['label']:<16}{','.join(t['from'])} -> {t['to']}"
            f"  [{', '.join(t['roles'])}]" + (f"  {'; '.join(extra)}" if extra else "")
        )


@workflow_app.command("diagram")
def workflow_diagram(
    name: Annotated[str | None, typer.Argument(help="Workflow name (default: dropout).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="mermaid | dot | svg")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Print a state diagram (Mermaid or Graphviz dot; SVG where Graphviz is installed)."""
    from caseflow.services.workflows import diagram, workflow_by_name

    if fmt not in ("mermaid", "dot", "svg"):
        bad_usage(f"--format must be mermaid, dot or svg, got {fmt!r}")
    content = diagram(workflow_by_name(name, explicit_workspace()), fmt)
    if output is not None:
        output.write_text(content, encoding="utf-8")
        typer.echo(f"Wrote {output}")
    else:
        typer.echo(content, nl=False)
