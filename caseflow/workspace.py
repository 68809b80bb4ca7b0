"""A workspace is a folder with ``caseflow.toml``, the database (SQLite by default) and
``outbox/``. Commands find it from ``--workspace``, ``CASEFLOW_WORKSPACE``, or the current
directory upward, as git finds a repository."""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caseflow.errors import WorkspaceError
from caseflow.resources import shipped

CONFIG_NAME = "caseflow.toml"
DEFAULT_DATABASE = "sqlite:///caseflow.db"

CONFIG_TEMPLATE = """\
# caseflow workspace configuration.

[database]
# SQLite file in this folder (relative paths are relative to this file), or a server:
#   url = "postgresql+psycopg://caseflow@db.example/caseflow"
url = "{url}"
# SQLite durability: FULL survives a power cut; NORMAL is faster.
synchronous = "FULL"

[workflow]
# The workflow new cases run on: workflows/<name>.yaml in this folder, else the shipped one.
default = "dropout"

[clock]
# "Today" for caseworkers: the county's local time zone.
timezone = "Asia/Shanghai"
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    database_url: str
    synchronous: str
    timezone: ZoneInfo
    default_workflow: str

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def workflow_dirs(self) -> tuple[Path, ...]:
        return (self.root / "workflows", shipped("workflows"))


def locate(explicit: Path | None, environ: Mapping[str, str], cwd: Path) -> Path:
    if explicit is not None:
        candidates = [explicit]
        hint = f"--workspace {explicit}"
    elif environ.get("CASEFLOW_WORKSPACE"):
        candidates = [Path(environ["CASEFLOW_WORKSPACE"])]
        hint = f"CASEFLOW_WORKSPACE={environ['CASEFLOW_WORKSPACE']}"
    else:
        start = cwd.resolve()
        candidates = [start, *start.parents]
        hint = f"{start} or any folder above it"
    for candidate in candidates:
        if (candidate / CONFIG_NAME).is_file():
            return candidate.resolve()
    raise WorkspaceError(
        f"no caseflow workspace at {hint}; create one with `caseflow init DIR` "
        "or point to it with --workspace DIR"
    )


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = config.get(name, {})
    if not isinstance(section, Mapping):
        raise WorkspaceError(f"{CONFIG_NAME}: [{name}] must be a table")
    return section


def _absolute_url(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str((root / url[len(prefix) :]).resolve())
    return url


def load(root: Path) -> Workspace:
    path = root / CONFIG_NAME
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkspaceError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{path}: {exc}") from exc
    database = _section(config, "database")
    zone_name = str(_section(config, "clock").get("timezone", "Asia/Shanghai"))
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkspaceError(
            f"{path}: clock.timezone {zone_name!r} is not a known time zone; use e.g. Asia/Shanghai"
        ) from None
    return Workspace(
        root=root,
        database_url=_absolute_url(str(database.get("url", DEFAULT_DATABASE)), root),
        synchronous=str(database.get("synchronous", "FULL")),
        timezone=zone,
        default_workflow=str(_section(config, "workflow").get("default", "dropout")),
    )


def create(root: Path, database_url: str | None = None) -> Workspace:
    """Write the config and folders of a new workspace; refuses to overwrite one."""
    config_path = root / CONFIG_NAME
    if config_path.exists():
        raise WorkspaceError(f"{root} is already a caseflow workspace ({CONFIG_NAME} exists)")
    url = database_url or DEFAULT_DATABASE
    if '"' in url or "\n" in url:
        raise WorkspaceError("the database URL must not contain quotes or line breaks")
    root.mkdir(parents=True, exist_ok=True)
    (root / "outbox").mkdir(exist_ok=True)
    config_path.write_text(CONFIG_TEMPLATE.format(url=url), encoding="utf-8")
    return load(root.resolve())


def discard(workspace: Workspace, database_file: Path | None) -> None:
    """Undo ``create`` after a failed init: remove what it wrote (and a fresh SQLite file)."""
    (workspace.root / CONFIG_NAME).unlink(missing_ok=True)
    if database_file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        workspace.outbox.rmdir()
