"""`caseflow doctor`: the health of a workspace in one report — loose file permissions
(tightened with ``fix``), the audit chain, the working-day calendar of this year and the
next, the channels notices go by, and the organisation in force. Each check says what it
found and, when something is wrong, what to do."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from caseflow import db
from caseflow.errors import AccessDenied
from caseflow.i18n import N_, _, is_english
from caseflow.notifiers import channel_names
from caseflow.org import ADDRESSLESS_CHANNELS, Org
from caseflow.services.audit import audit_verify
from caseflow.services.context import Context
from caseflow.services.org import check_org
from caseflow.services.records import org_in_force
from caseflow.workspace import PRIVATE_FILE, PRIVATE_FOLDER, Workspace

OK = "ok"
WARNING = "warning"
ERROR = "error"

# The checks, in the order the report lists them (labels translated where shown).
PERMISSIONS = N_("File permissions")
AUDIT_CHAIN = N_("Audit chain")
CALENDAR = N_("Working-day calendar")
CHANNEL_SERVERS = N_("Channel settings")
RECIPIENT_CHANNELS = N_("Recipients' channels")
ORGANISATION = N_("Organisation in force")

# How many names a check lists before it says "and N more".
SHOWN = 5


@dataclass(frozen=True)
class Check:
    name: str  # one of the labels above (untranslated)
    status: str  # OK, WARNING or ERROR
    finding: str  # what was found, in the reader's language
    advice: str = ""  # what to do (empty when nothing needs doing)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(check.status == ERROR for check in self.checks)


def examine(ctx: Context, *, fix: bool = False) -> Report:
    """Every check of the workspace ``ctx`` runs in; with ``fix``, loose permissions are
    tightened first (and reported as tightened)."""
    return Report(
        (
            permissions_check(ctx.workspace, fix=fix),
            audit_check(ctx),
            calendar_check(ctx),
            channel_server_check(ctx),
            recipient_channel_check(ctx),
            organisation_check(ctx),
        )
    )


# ---------------------------------------------------------------------------------------
# File permissions


def workspace_files(workspace: Workspace) -> Iterator[Path]:
    """The workspace folder, everything in it (links not followed), and a SQLite database
    kept elsewhere with its journal files."""
    yield workspace.root
    for folder, folders, files in os.walk(workspace.root):
        for name in sorted(folders) + sorted(files):
            yield Path(folder) / name
    database = db.sqlite_path(workspace.database_url)
    if database is not None and not database.resolve().is_relative_to(workspace.root.resolve()):
        for suffix in ("", "-wal", "-shm", "-journal"):
            yield Path(f"{database}{suffix}")


def loose_files(workspace: Workspace) -> list[Path]:
    """The workspace's folders and files that others than their owner may read, write or
    enter."""
    loose = []
    for path in workspace_files(workspace):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            loose.append(path)
    return loose


def foreign_files(workspace: Workspace) -> list[Path]:
    """The workspace's folders and files that belong to another account than the workspace
    folder's owner (made by running caseflow as someone else, root say): the owner's
    commands fail on them with "permission denied"."""
    owner = workspace.root.stat().st_uid
    foreign = []
    for path in workspace_files(workspace):
        try:
            if path.lstat().st_uid != owner:
                foreign.append(path)
        except FileNotFoundError:
            continue
    return foreign


def tighten(paths: list[Path]) -> None:
    for path in paths:
        path.chmod(PRIVATE_FOLDER if path.is_dir() else PRIVATE_FILE)


def permissions_check(workspace: Workspace, *, fix: bool = False) -> Check:
    foreign = foreign_files(workspace)
    if foreign:
        owner = _account(workspace.root.stat().st_uid)
        return Check(
            PERMISSIONS,
            ERROR,
            _("{count} folders and files belong to another account than {owner}: {paths}").format(
                count=len(foreign), owner=owner, paths=_listing([str(path) for path in foreign])
            ),
            _(
                "give them back to the workspace's owner (chown -R {owner} {root}) and run "
                "caseflow only as {owner}"
            ).format(owner=owner, root=workspace.root),
        )
    loose = loose_files(workspace)
    if not loose:
        return Check(
            PERMISSIONS,
            OK,
            _("the workspace's folders and files are its owner's only"),
        )
    if fix:
        tighten(loose)
        return Check(
            PERMISSIONS,
            OK,
            _("{count} folders and files were open to others; now their owner's only").format(
                count=len(loose)
            ),
        )
    return Check(
        PERMISSIONS,
        ERROR,
        _("{count} folders and files others may read or write: {paths}").format(
            count=len(loose), paths=_listing([str(path) for path in loose])
        ),
        _("run `caseflow doctor --fix` to make them their owner's only (0700 and 0600)"),
    )


# ---------------------------------------------------------------------------------------
# The audit chain


def audit_check(ctx: Context) -> Check:
    try:
        verified = audit_verify(ctx)
    except AccessDenied:
        return Check(
            AUDIT_CHAIN,
            WARNING,
            _("not verified: your roles may not read the audit trail"),
            _("ask a bureau or supervisor operator to run `caseflow doctor`"),
        )
    if verified.intact:
        return Check(
            AUDIT_CHAIN,
            OK,
            _("intact: {events} events verified").format(events=verified.events),
        )
    return Check(
        AUDIT_CHAIN,
        ERROR,
        _("broken at event {seq}: {problem}").format(
            seq=verified.first_bad_seq, problem=verified.problem
        ),
        _(
            "do not change anything; run `caseflow audit verify` and report it to the "
            "supervision office with the last checkpoint you trust"
        ),
    )


# ---------------------------------------------------------------------------------------
# The working-day calendar


def calendar_check(ctx: Context) -> Check:
    this_year = ctx.today.year
    missing = [year for year in (this_year, this_year + 1) if not ctx.calendar.is_known_year(year)]
    if not missing:
        return Check(
            CALENDAR,
            OK,
            _("covers {first} and {second}").format(first=this_year, second=this_year + 1),
        )
    advice = _(
        "upgrade chinese-calendar (pip install -U chinese-calendar) once the State Council "
        "has published the holidays, or list the year's rest days and make-up working days "
        "in {file} with complete_years"
    ).format(file=ctx.workspace.holiday_file)
    if this_year in missing:
        return Check(
            CALENDAR,
            ERROR,
            _("this year ({year}) has no holiday calendar: every deadline is provisional").format(
                year=this_year
            ),
            advice,
        )
    return Check(
        CALENDAR,
        WARNING,
        _("next year ({year}) has no holiday calendar yet: its deadlines are provisional").format(
            year=this_year + 1
        ),
        advice,
    )


# ---------------------------------------------------------------------------------------
# Channels


def _org(ctx: Context) -> Org:
    with db.read(ctx.engine) as connection:
        return org_in_force(connection)


def channels_named(org: Org) -> set[str]:
    contacts = [*org.contacts.default]
    for listed in org.contacts.by_key.values():
        contacts.extend(listed)
    return {contact.channel for contact in contacts}


def channel_server_check(ctx: Context) -> Check:
    """Every channel the organisation in force routes notices by is installed and has its
    settings (``[notifiers.NAME]`` in caseflow.toml) with the secrets they name set."""
    installed = set(channel_names())
    problems = []
    for name in sorted(channels_named(_org(ctx))):
        if name not in installed:
            problems.append(_("{channel}: no such channel is installed").format(channel=name))
            continue
        settings = ctx.workspace.notifiers.get(name)
        if settings is None and name not in ADDRESSLESS_CHANNELS:
            problems.append(
                _("{channel}: no server set (no [notifiers.{channel}] in caseflow.toml)").format(
                    channel=name
                )
            )
            continue
        for key, variable in sorted((settings or {}).items()):
            if key.endswith("_env") and isinstance(variable, str) and not os.environ.get(variable):
                problems.append(
                    _("{channel}: environment variable {variable} ({key}) is not set").format(
                        channel=name, variable=variable, key=key
                    )
                )
    if not problems:
        return Check(CHANNEL_SERVERS, OK, _("every channel in use has its settings"))
    return Check(
        CHANNEL_SERVERS,
        ERROR,
        "；".join(problems) if not is_english() else "; ".join(problems),
        _(
            "set the channel in caseflow.toml under [notifiers.NAME] (see the commented "
            "examples there) and its secrets in the scheduler's environment, or route those "
            "contacts in org.yaml by another channel"
        ),
    )


def recipient_channel_check(ctx: Context) -> Check:
    """Units that receive notices with no channel of their own: they get the default's."""
    org = _org(ctx)
    unlisted = []
    for unit in org.units.values():
        address = org.address_of(unit.id)
        if address is None:
            continue
        role = address.partition(":")[0]
        if address not in org.contacts.by_key and role not in org.contacts.by_key:
            unlisted.append(org.place_name(unit.id))
    if not unlisted:
        return Check(RECIPIENT_CHANNELS, OK, _("every unit has a channel of its own"))
    default = ", ".join(sorted({contact.channel for contact in org.contacts.default}))
    return Check(
        RECIPIENT_CHANNELS,
        WARNING,
        _(
            "{count} units have no channel of their own and get the default ({default}): {names}"
        ).format(count=len(unlisted), default=default, names=_listing(unlisted)),
        _(
            "list their channels under contacts in org.yaml (or the unit's own contacts), "
            "then `caseflow org apply`"
        ),
    )


# ---------------------------------------------------------------------------------------
# The organisation


def organisation_check(ctx: Context) -> Check:
    org = _org(ctx)
    if org.sha256 == Org().sha256:
        return Check(
            ORGANISATION,
            ERROR,
            _("no organisation is in force: cases get no 包保 chain and notices no recipients"),
            _("fill in org.yaml, check it with `caseflow org check`, then `caseflow org apply`"),
        )
    checked = check_org(None, ctx.workspace.root)
    text = ctx.workspace.org_file.read_bytes() if ctx.workspace.org_file.exists() else b""
    if hashlib.sha256(text).hexdigest() == org.sha256:
        return Check(
            ORGANISATION,
            OK,
            _("org.yaml is in force ({units} units, {people} people)").format(
                units=len(org.units), people=len(org.people)
            ),
        )
    if checked.org is None or checked.problems:
        return Check(
            ORGANISATION,
            ERROR,
            _("org.yaml was edited since it was applied and has {count} problems").format(
                count=len(checked.problems)
            ),
            _("run `caseflow org check`, correct the file, then `caseflow org apply`"),
        )
    return Check(
        ORGANISATION,
        WARNING,
        _("org.yaml was edited since it was applied: the edits are not in force"),
        _("run `caseflow org apply` to put them in force"),
    )


def _listing(names: list[str]) -> str:
    shown = "、".join(names[:SHOWN]) if not is_english() else ", ".join(names[:SHOWN])
    if len(names) > SHOWN:
        shown += _(" and {count} more").format(count=len(names) - SHOWN)
    return shown


def _account(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
