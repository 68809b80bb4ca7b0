"""Workflow files (no database needed) and the database schema: check, describe, draw,
upgrade."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caseflow import db
from caseflow.errors import (
    InvalidInput,
    WorkspaceError,
)
from caseflow.i18n import _
from caseflow.resources import shipped
from caseflow.states import (
    Problem,
    TemplateCatalogue,
    Workflow,
    dot,
    find_workflow_file,
    load_workflow,
    mermaid,
    parse_workflow,
)
from caseflow.workspace import load, locate


def upgrade_database(explicit: Path | None = None) -> str:
    root = locate(explicit, os.environ, Path.cwd())
    workspace = load(root)
    db_engine = db.make_engine(workspace.database_url, synchronous=workspace.synchronous)
    try:
        db.upgrade(db_engine)
        return db.schema_revision(db_engine) or "none"
    finally:
        db_engine.dispose()


def _workflow_dirs(explicit: Path | None) -> tuple[Path, ...]:
    try:
        return load(locate(explicit, os.environ, Path.cwd())).workflow_dirs
    except WorkspaceError:
        if explicit is not None:
            raise
        return (shipped("workflows"),)


def workflow_by_name(name: str | None, explicit: Path | None = None) -> Workflow:
    return load_workflow(find_workflow_file(name or "dropout", _workflow_dirs(explicit)))


def check_workflow_files(
    files: Sequence[Path],
    explicit: Path | None = None,
) -> tuple[list[Path], list[Problem]]:
    """Check the given files, or every workflow the workspace and the installation hold:
    each template they name must exist and need only fields its renderer can supply."""
    if not files:
        files = sorted(
            {p for d in _workflow_dirs(explicit) if d.is_dir() for p in d.glob("*.yaml")}
        )
    problems: list[Problem] = []
    templates = template_catalogue(problems)
    sound: list[tuple[Path, Workflow]] = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(
                Problem(str(path), "", _("cannot read: {error}").format(error=exc.strerror))
            )
            continue
        workflow, found = parse_workflow(source, str(path), templates)
        problems.extend(found)
        if workflow is not None and not found:
            sound.append((path, workflow))
    problems.extend(_migration_problems(sound))
    return list(files), problems


def _migration_problems(checked: Sequence[tuple[Path, Workflow]]) -> list[Problem]:
    """Each ``migrate_from`` map checked against the older version it names, when that
    version is among the files (a workspace's new version beside the shipped one)."""
    from caseflow.migration import map_problems

    by_version = {(workflow.name, workflow.version): workflow for _path, workflow in checked}
    return [
        Problem(str(path), where, message)
        for path, new in checked
        for version in new.migrate_from
        if (old := by_version.get((new.name, version))) is not None
        for where, message in map_problems(old, new)
    ]


def template_catalogue(problems: list[Problem] | None = None) -> TemplateCatalogue:
    """The shipped templates' declared fields and what a case, the sweep and an alert
    supply; a template whose fields header is broken is left out (and reported into
    ``problems``)."""
    from caseflow.render import declared_fields, template_ids, templates_dir
    from caseflow.services.alerts import ALERT_FIELDS
    from caseflow.services.letters import CASE_FIELDS, sweep_fields

    fields: dict[str, frozenset[str]] = {}
    for template in template_ids():
        try:
            fields[template] = frozenset(declared_fields(template))
        except InvalidInput as exc:
            if problems is not None:
                problems.append(Problem(str(templates_dir()), "", exc.message))
    return TemplateCatalogue(
        fields=fields,
        case_fields=CASE_FIELDS,
        sweep_fields={template: sweep_fields(declared) for template, declared in fields.items()},
        alert_fields=ALERT_FIELDS,
    )


def describe_workflow(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "version": workflow.version,
        "label": workflow.label,
        "states": [
            {
                "id": s.id,
                "label": s.label,
                "kind": s.kind,
                "category": s.category,
                "responsible": s.responsible,
                "deadline": None
                if s.deadline is None
                else {
                    "amount": s.deadline.amount,
                    "unit": s.deadline.unit,
                    "basis": s.deadline.basis,
                },
                "ladder": [
                    {
                        "offset": r.offset,
                        "unit": r.unit,
                        "notify": list(r.notify),
                        "template": r.template,
                    }
                    for r in s.ladder
                ],
            }
            for s in workflow.states.values()
        ],
        "transitions": [
            {
                "trigger": t.trigger,
                "label": t.label,
                "from": list(t.sources),
                "to": t.dest,
                "roles": list(t.roles),
                "handoff": list(t.handoff),
                "auto": t.auto,
                "documents": list(t.documents),
                "fields": [f.describe() for f in t.fields],
            }
            for t in workflow.transitions
        ],
        "special_groups": [
            {"key": key, "label": label} for key, label in workflow.special_groups.items()
        ],
        "register_groups": dict(workflow.register_groups),
    }


def diagram(workflow: Workflow, fmt: str) -> str:
    if fmt == "mermaid":
        return mermaid(workflow)
    source = dot(workflow)
    if fmt == "dot":
        return source
    graphviz = shutil.which("dot")
    if graphviz is None:
        raise InvalidInput(
            _(
                "SVG needs Graphviz (`dot`), which is not installed here; use "
                "--format dot or --format mermaid"
            )
        )
    result = subprocess.run(
        [graphviz, "-Tsvg"], input=source, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InvalidInput(_("Graphviz failed: {error}").format(error=result.stderr.strip()))
    return result.stdout
