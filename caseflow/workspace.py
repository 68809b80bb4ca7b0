"""A workspace is a folder with ``caseflow.toml``, the database (SQLite by default) and
``outbox/``. Commands find it from ``--workspace``, ``CASEFLOW_WORKSPACE``, or the current
directory upward, as git finds a repository."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from caseflow import i18n
from caseflow.access import DEFAULT_REVEAL_ROLES, ROLE_JURISDICTIONS
from caseflow.calendar import NationalCalendar, WorkCalendar
from caseflow.errors import WorkspaceError
from caseflow.i18n import CHINESE, ENGLISH, N_, _
from caseflow.resources import shipped
from caseflow.states import COUNT_SETTINGS, SETTINGS, TEXT_SETTINGS

CONFIG_NAME = "caseflow.toml"
# A workspace holds personal data (the database, the registers' snapshots, rejects,
# letters, exports): every folder and file caseflow makes in it is its owner's only,
# whatever the umask of the account's shell.
PRIVATE_UMASK = 0o077
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
HOLIDAY_FILE = "holidays.yaml"
ORG_FILE = "org.yaml"

ORG_TEMPLATE = N_(
    """\
# The organisation: units, people, operators, and who receives notices by which channel.
# Check it with `caseflow org check` and put it in force with `caseflow org apply`;
# `caseflow org show` prints the organisation in force as a tree. A complete
# example for a small county: `caseflow init DIR --example-org`.
#
# county: 示范县                       # the name documents print
# units:                               # flat list; the hierarchy is given by parent
#   - {id: gov, kind: county_government, name: 示范县人民政府办公室}
#   - {id: bureau, kind: education_bureau, name: 示范县教育局, parent: gov,
#      reference_prefix: 示教, contact_person: 王某某, contact_phone: "0856-6221234"}
#   A unit that issues documents (the bureau, a township, a school) gives its 文号 prefix
#   and the contact person and phone its documents print: referrals and orders are
#   refused without them.
#   - {id: health, kind: department, department: health, name: 示范县卫生健康局, parent: gov}
#   - {id: tiantang, kind: township, name: 天堂镇, parent: gov}
#   - {id: tiantang-cun, kind: village, name: 天堂村, parent: tiantang}
#   - {id: tiantang-cun-1, kind: group, name: 一组, parent: tiantang-cun}
#   - {id: tiantang-xx, kind: school, name: 天堂镇中心小学, parent: bureau,
#      serves: [tiantang-cun], contacts: [{channel: letter}]}
#   kinds: county_government, education_bureau, supervision_office, department,
#   township, village (in a township), group (in a village), school (in the bureau or
#   a township). Townships, villages, groups and schools are found by name.
# people:                              # who answers for what (包保责任制)
#   - {id: li, name: 李某某, position: township_cadre, unit: tiantang, covers: [tiantang-cun]}
#   - {id: feng, name: 冯某某, position: head_teacher, unit: tiantang-xx,
#      grade: 七年级, class: 1班}
#   positions: county_leader, township_head, township_cadre, village_cadre, group_leader,
#   bureau_leader, principal, school_leader (grades: [...]), head_teacher and
#   subject_teacher (grade, class), department_officer.
# operators:                           # who may use caseflow; the unit gives the jurisdiction
#   - {name: 天堂镇控辍专干, os_user: ttzg, roles: [caseworker], unit: tiantang,
#      person: li, shared_accounts: [office-pc]}
#   roles: caseworker, school, department, bureau, supervisor, admin.
#
# contacts: keys are the addresses caseflow writes on notices, e.g.
#   township:天堂镇, township_head:天堂镇, village:天堂镇/天堂村, school:天堂小学,
#   head_teacher:天堂小学, principal:天堂小学, department:disability_federation,
#   education_bureau, supervision_office, person:feng, guardian:case/12
# or a role alone (township_head) for every place. Each lists channels and addresses:
#   channel: letter | email | webhook | wecom | dingtalk | sms (see caseflow.toml [notifiers])
#   address: an email address, a phone number, a robot name (letters need none)
# A unit's or person's own `contacts` serve its address. `default` serves every address
# not listed.
contacts:
  education_bureau:
    - {channel: letter}
  supervision_office:
    - {channel: letter}
default:
  - {channel: letter}
"""
)

EXAMPLE_ORG = "small-county"

HOLIDAY_TEMPLATE = N_(
    """\
# This county's own calendar, on top of the national one (chinese-calendar).
#
# rest_days:     local holidays (e.g. an autonomous county's own days), and official
#                holidays of a year the installed chinese-calendar does not know yet.
# working_days:  make-up working days (调休上班) not in the national data.
# complete_years: years whose rest days and make-up working days are ALL listed here.
#                Deadlines in such a year are final, not provisional; open provisional
#                deadlines are recomputed (and audited) at the next sweep.
#
# rest_days: [2027-01-01, 2027-02-16]
# working_days: [2027-02-07]
# complete_years: [2027]
rest_days: []
working_days: []
complete_years: []
"""
)
DEFAULT_DATABASE = "sqlite:///caseflow.db"

CONFIG_TEMPLATE = N_(
    """\
# caseflow workspace configuration.

[database]
# SQLite file in this folder (relative paths are relative to this file), or a server:
#   url = "postgresql+psycopg://caseflow@db.example/caseflow"
url = "{url}"
# SQLite durability: FULL survives a power cut; NORMAL is faster.
synchronous = "FULL"

[county]
# The county's name. Internal work documents (reminders, escalation notices, monthly
# reports) are signed by "<name>控辍保学工作领导小组办公室"; other documents by the body
# the workflow's `documents:` section names, with its name, seal line and 文号 prefix
# from org.yaml.
name = "{county}"

[procedure]
# Which body issues orders to correct (责令限期改正, 义务教育法第五十八条) and penalty
# documents in this county: "township" (the township's 人民政府 / the 街道办事处) or
# "education_bureau" (the county education bureau). While unset, such a document is
# refused, saying to set it here.
# order_issuer = "township"
# Other choices the law leaves to the county (docs/law.md), each refused while unset:
# when an order's period has run out, "enforcement" (apply to the court, 行政强制法第五十三条
# 至第五十五条) or "admonition" (ask a judicial body to admonish the guardians):
# court_route = "enforcement"
# penalty_basis: the name and article of the province's regulation that sets a penalty
# for guardians (义务教育法 sets none), as it is to be cited in penalty documents;
# penalty_hearing: whether that penalty carries the right to ask for a hearing
# (行政处罚法第六十三条: a 较大数额 fine, an amount set outside the law), "yes" or "no";
# court: the basic people's court with jurisdiction, named in the remedies of orders and
# penalty decisions (行政诉讼法第十四条、第十八条) and in enforcement applications:
# court = "示范县人民法院"
# home teaching (送教上门) visits in the monitoring term before a case is retained:
# home_teaching_visits = 8
# How long a returned child is watched (复学巩固观察): the workflow's period ("period", the
# default) or on to the end of the school term in which that period ends ("term_end", by
# [calendar] term_ends below; a return is refused while no listed term end covers it):
# monitoring_ends = "term_end"

[calendar]
# The school calendar: the last day of each term, as the county's education bureau
# publishes it (校历), e.g. term_ends = ["2027-01-22", "2027-07-09"].
term_ends = []

[workflow]
# The workflow new cases run on: workflows/<name>.yaml in this folder, else the shipped one.
default = "dropout"

[privacy]
# Roles that may see full resident ID numbers with --reveal (every reveal is logged).
# Everyone else, and every output without --reveal, sees them masked.
reveal_roles = ["bureau"]

[clock]
# "Today" for caseworkers: the county's local time zone.
timezone = "Asia/Shanghai"

[scheduler]
# `caseflow scheduler run`: one per database (a lease row), in the foreground.
# How often the escalation sweep runs, in minutes.
sweep_every_minutes = 15
# The lease: renewed every third of this; another scheduler takes over this long after a
# crash of the one holding it.
lease_seconds = 60
# Cron (minute hour day month weekday), in the [clock] time zone; "" turns a job off.
# Weekdays by name (mon-fri), not number. Letters to the guardians of watched children in
# the publicity months (1 February and 1 August):
publicity_letters = "0 8 1 2,8 *"
# The monthly report on the previous month to the supervision office:
monthly_report = "0 7 1 * *"

[dispatch]
# `caseflow notify dispatch` (and the scheduler, every dispatch_every_minutes) delivers
# the outbox. A failed notice is retried with exponential backoff (from backoff_seconds,
# at most backoff_cap_seconds, with jitter); after max_attempts, or at once on a permanent
# error, it is dead: `caseflow notify status` shows it, `caseflow notify retry` requeues it.
# A group robot's "too fast" answer counts as an attempt too. A dispatcher claims a batch
# for lease_seconds and renews the claim while it sends; one notice may take at most half
# of it, so a channel's timeout is lowered where need be (an e-mail waits on the server up
# to 11 times a notice: with 300 s, SMTP gets at most 150 / 11 ≈ 13.6 s a wait).
dispatch_every_minutes = 5
batch_size = 50
max_attempts = 8
backoff_seconds = 60
backoff_cap_seconds = 21600
lease_seconds = 300

[assessment]
# `caseflow review assessment`: each township's and school's score for the year,
#   score = 100 × (on_time × 按时办结率 + returned × 劝返率 + retained × 复学巩固率)
#                ÷ (on_time + returned + retained)  −  relapse_penalty × 再次辍学人次
# never below 0. A rate with nothing to measure (e.g. no deadline fell due in the year)
# is left out and the other weights share its part. Weights are numbers, 0 or more
# (0 leaves a rate out); relapse_penalty is points off per relapse.
on_time = 40
returned = 30
retained = 30
relapse_penalty = 2

# [figures]
# 九年义务教育巩固率 (docs/figures.md) divides this year's 初中毕业班 (grade 9) by the
# children who entered grade 1 eight school years before. That number comes from the 学籍
# register of that school year (`caseflow roster import student FILE --as-of 2018-09-15`),
# else from here: the children who entered grade 1 in the county in the school year that
# began in that year, already adjusted for transfers in and out (入学数 + 转入 − 转出), as
# the county's 巩固率 form gives it. County-wide only.
# cohort_entrants = {{2018 = 1234}}

# Channels. Who gets what by which channel is in org.yaml (contacts). Secrets are the
# NAMES of environment variables, never the secrets themselves.
[notifiers.letter]
folder = "outbox"

# [notifiers.email]
# host = "smtp.example.gov.cn"
# port = 587
# security = "starttls"          # starttls | ssl | none
# from = "kongchuo@example.gov.cn"
# username = "kongchuo@example.gov.cn"
# password_env = "CASEFLOW_SMTP_PASSWORD"
"""
)

SCHEDULER_CRONS = ("publicity_letters", "monthly_report")


@dataclass(frozen=True)
class SchedulerConfig:
    sweep_every_minutes: float = 15
    lease_seconds: int = 60
    publicity_letters: str = "0 8 1 2,8 *"
    monthly_report: str = "0 7 1 * *"

    @property
    def crons(self) -> dict[str, str]:
        """The cron jobs that are on, by setting name."""
        return {name: getattr(self, name) for name in SCHEDULER_CRONS if getattr(self, name)}


@dataclass(frozen=True)
class DispatchConfig:
    dispatch_every_minutes: float = 5
    batch_size: int = 50
    max_attempts: int = 8
    backoff_seconds: int = 60
    backoff_cap_seconds: int = 21600
    lease_seconds: int = 300


@dataclass(frozen=True)
class AssessmentConfig:
    """The weights of the annual assessment's score (see the [assessment] template)."""

    on_time: float = 40
    returned: float = 30
    retained: float = 30
    relapse_penalty: float = 2


# The workflow caseflow ships, which a workspace runs unless its [workflow] names another.
SHIPPED_WORKFLOW = "dropout"


@dataclass(frozen=True)
class Workspace:
    root: Path
    database_url: str
    synchronous: str
    timezone: ZoneInfo
    default_workflow: str
    county: str = "本县"
    scheduler: SchedulerConfig = SchedulerConfig()
    dispatch: DispatchConfig = DispatchConfig()
    notifiers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reveal_roles: frozenset[str] = DEFAULT_REVEAL_ROLES
    assessment: AssessmentConfig = AssessmentConfig()
    # The county's choices where the law leaves one (``[procedure]``; states.SETTINGS,
    # TEXT_SETTINGS, COUNT_SETTINGS): setting -> value, a setting left out is unset.
    procedure: Mapping[str, str] = field(default_factory=dict)
    # The last day of each school term (``[calendar] term_ends``), in order.
    term_ends: tuple[date, ...] = ()
    # ``[figures] cohort_entrants``: school year (its first calendar year) -> the children
    # who entered grade 1 in the county that year, adjusted for transfers.
    cohort_entrants: Mapping[int, int] = field(default_factory=dict)

    @property
    def org_file(self) -> Path:
        return self.root / ORG_FILE

    @property
    def issuer(self) -> str:
        return f"{self.county}控辍保学工作领导小组办公室"

    @property
    def holiday_file(self) -> Path:
        return self.root / HOLIDAY_FILE

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
        hint = _("{folder} or any folder above it").format(folder=start)
    for candidate in candidates:
        if (candidate / CONFIG_NAME).is_file():
            return candidate.resolve()
    raise WorkspaceError(
        _(
            "no caseflow workspace at {hint}; create one with `caseflow init DIR` or point to it "
            "with --workspace DIR"
        ).format(hint=hint)
    )


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = config.get(name, {})
    if not isinstance(section, Mapping):
        raise WorkspaceError(
            _("{file}: [{name}] must be a table").format(file=CONFIG_NAME, name=name)
        )
    return section


def _absolute_url(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str((root / url[len(prefix) :]).resolve())
    return url


def keep_private() -> None:
    """From now on this process creates folders and files for its owner only (0700 and
    0600): the one place a workspace's files get their permissions, called when a workspace
    is created or opened, before anything is written."""
    os.umask(PRIVATE_UMASK)


# Errors of the machine rather than of the file: the command wrapper says what to do.
_ENVIRONMENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC})


def load(root: Path) -> Workspace:
    keep_private()
    path = root / CONFIG_NAME
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        if exc.errno in _ENVIRONMENT_ERRNOS:
            raise
        raise WorkspaceError(
            _("cannot read {path}: {strerror}").format(path=path, strerror=exc.strerror)
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(_("{path}: {exc}").format(path=path, exc=exc)) from exc
    database = _section(config, "database")
    zone_name = str(_section(config, "clock").get("timezone", "Asia/Shanghai"))
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkspaceError(
            _(
                "{path}: clock.timezone {zone_name!r} is not a known time zone; use e.g. "
                "Asia/Shanghai"
            ).format(path=path, zone_name=zone_name)
        ) from None
    return Workspace(
        root=root,
        database_url=_absolute_url(str(database.get("url", DEFAULT_DATABASE)), root),
        synchronous=str(database.get("synchronous", "FULL")),
        timezone=zone,
        default_workflow=str(_section(config, "workflow").get("default", SHIPPED_WORKFLOW)),
        county=str(_section(config, "county").get("name", "本县")),
        scheduler=_scheduler(_section(config, "scheduler"), path),
        dispatch=_dispatch(_section(config, "dispatch"), path),
        notifiers={
            str(name): dict(_section(_section(config, "notifiers"), str(name)))
            for name in _section(config, "notifiers")
        },
        reveal_roles=_reveal_roles(_section(config, "privacy"), path),
        assessment=_assessment(_section(config, "assessment"), path),
        procedure=_procedure(_section(config, "procedure"), path),
        term_ends=_term_ends(_section(config, "calendar"), path),
        cohort_entrants=_cohort_entrants(_section(config, "figures"), path),
    )


def _cohort_entrants(section: Mapping[str, Any], path: Path) -> dict[int, int]:
    """``[figures] cohort_entrants = {2018 = 1234}``: a year -> a whole number above 0."""
    unknown = sorted(set(section) - {"cohort_entrants"})
    if unknown:
        raise WorkspaceError(
            _("{path}: figures.{unknown} is not a setting; known: cohort_entrants").format(
                path=path, unknown=unknown[0]
            )
        )
    listed = section.get("cohort_entrants", {})
    if not isinstance(listed, Mapping):
        raise WorkspaceError(
            _(
                "{path}: figures.cohort_entrants must be a table of years, e.g. {{2018 = 1234}}"
            ).format(path=path)
        )
    entrants: dict[int, int] = {}
    for year, count in listed.items():
        if not (str(year).isdigit() and len(str(year)) == 4):
            raise WorkspaceError(
                _(
                    "{path}: figures.cohort_entrants: {year!r} is not a year, e.g. {{2018 = 1234}}"
                ).format(path=path, year=year)
            )
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise WorkspaceError(
                _(
                    "{path}: figures.cohort_entrants.{year} must be a whole number above 0, got "
                    "{count!r}"
                ).format(path=path, year=year, count=count)
            )
        entrants[int(str(year))] = count
    return entrants


def _term_ends(section: Mapping[str, Any], path: Path) -> tuple[date, ...]:
    """``[calendar] term_ends``: the last day of each school term, each once."""
    unknown = sorted(set(section) - {"term_ends"})
    if unknown:
        raise WorkspaceError(
            _("{path}: calendar.{unknown} is not a setting; known: term_ends").format(
                path=path, unknown=unknown[0]
            )
        )
    listed = section.get("term_ends", [])
    if not isinstance(listed, list):
        raise WorkspaceError(
            _(
                '{path}: calendar.term_ends must be a list of dates, e.g. ["2027-01-22", '
                '"2027-07-09"]'
            ).format(path=path)
        )
    days = []
    for index, value in enumerate(listed):
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            day = None
        if day is None or isinstance(day, datetime):
            raise WorkspaceError(
                _(
                    "{path}: calendar.term_ends[{index}] is {value!r}, not a date like 2027-01-22"
                ).format(path=path, index=index, value=value)
            )
        if day in days:
            raise WorkspaceError(
                _("{path}: calendar.term_ends lists {day} twice; list each term end once").format(
                    path=path, day=day.isoformat()
                )
            )
        days.append(day)
    return tuple(sorted(days))


def _procedure(section: Mapping[str, Any], path: Path) -> dict[str, str]:
    """The county's procedural choices: each a setting of ``states.SETTINGS`` with one of
    its values (a setting left out is unset, and what depends on it is refused)."""
    chosen: dict[str, str] = {}
    for key, value in section.items():
        if key in TEXT_SETTINGS:
            if not isinstance(value, str) or not value.strip():
                raise WorkspaceError(
                    _("{path}: procedure.{key} must be a text").format(path=path, key=key)
                )
            chosen[key] = value.strip()
            continue
        if key in COUNT_SETTINGS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WorkspaceError(
                    _("{path}: procedure.{key} must be a whole number, 1 or more").format(
                        path=path, key=key
                    )
                )
            chosen[key] = str(value)
            continue
        allowed = SETTINGS.get(key)
        if allowed is None:
            known = ", ".join([*SETTINGS, *TEXT_SETTINGS, *COUNT_SETTINGS])
            raise WorkspaceError(
                _("{path}: procedure.{key} is not a setting; known: {known}").format(
                    path=path, key=key, known=known
                )
            )
        if value not in allowed:
            raise WorkspaceError(
                _("{path}: procedure.{key} is {value!r}; choose one of: {allowed}").format(
                    path=path, key=key, value=value, allowed=", ".join(allowed)
                )
            )
        chosen[key] = str(value)
    return chosen


def _reveal_roles(section: Mapping[str, Any], path: Path) -> frozenset[str]:
    roles = section.get("reveal_roles", sorted(DEFAULT_REVEAL_ROLES))
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise WorkspaceError(
            _("{path}: privacy.reveal_roles must be a list of role names").format(path=path)
        )
    unknown = sorted(set(roles) - set(ROLE_JURISDICTIONS))
    if unknown:
        raise WorkspaceError(
            _("{path}: privacy.reveal_roles: unknown role {unknown!r}; known: {known}").format(
                path=path, unknown=unknown[0], known=", ".join(ROLE_JURISDICTIONS)
            )
        )
    return frozenset(roles)


def _dispatch(section: Mapping[str, Any], path: Path) -> DispatchConfig:
    default = DispatchConfig()
    values: dict[str, Any] = {}
    for name, value in section.items():
        if name not in DispatchConfig.__dataclass_fields__:
            raise WorkspaceError(
                _("{path}: dispatch.{name} is not a setting; known: {known}").format(
                    path=path, name=name, known=", ".join(DispatchConfig.__dataclass_fields__)
                )
            )
        kind = type(getattr(default, name))
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value <= 0
            or (kind is int and not isinstance(value, int))
        ):
            message = (
                _("{path}: dispatch.{name} must be a positive whole number, got {value!r}")
                if kind is int
                else _("{path}: dispatch.{name} must be a positive number, got {value!r}")
            )
            raise WorkspaceError(message.format(path=path, name=name, value=value))
        values[name] = value
    return DispatchConfig(**values)


def _assessment(section: Mapping[str, Any], path: Path) -> AssessmentConfig:
    values: dict[str, float] = {}
    for name, value in section.items():
        if name not in AssessmentConfig.__dataclass_fields__:
            raise WorkspaceError(
                _("{path}: assessment.{name} is not a setting; known: {known}").format(
                    path=path, name=name, known=", ".join(AssessmentConfig.__dataclass_fields__)
                )
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise WorkspaceError(
                _("{path}: assessment.{name} must be a number, 0 or more, got {value!r}").format(
                    path=path, name=name, value=value
                )
            )
        values[name] = float(value)
    config = AssessmentConfig(**values)
    if config.on_time + config.returned + config.retained <= 0:
        raise WorkspaceError(
            _(
                "{path}: assessment: at least one of on_time, returned and retained must be above "
                "0, or nothing is scored"
            ).format(path=path)
        )
    return config


def _scheduler(section: Mapping[str, Any], path: Path) -> SchedulerConfig:
    known = ("sweep_every_minutes", "lease_seconds", *SCHEDULER_CRONS)
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise WorkspaceError(
            _("{path}: scheduler.{unknown} is not a setting; known: {known}").format(
                path=path, unknown=unknown[0], known=", ".join(known)
            )
        )
    default = SchedulerConfig()
    every = section.get("sweep_every_minutes", default.sweep_every_minutes)
    if isinstance(every, bool) or not isinstance(every, int | float) or not every > 0:
        raise WorkspaceError(
            _(
                "{path}: scheduler.sweep_every_minutes must be a number of minutes above 0, got "
                "{every!r}"
            ).format(path=path, every=every)
        )
    lease = section.get("lease_seconds", default.lease_seconds)
    if isinstance(lease, bool) or not isinstance(lease, int) or lease < 3:
        raise WorkspaceError(
            _(
                "{path}: scheduler.lease_seconds must be a whole number of seconds, at least 3, "
                "got {lease!r}"
            ).format(path=path, lease=lease)
        )
    crons = {}
    for name in SCHEDULER_CRONS:
        expression = section.get(name, getattr(default, name))
        if not isinstance(expression, str) or len(expression.split()) not in (0, 5):
            raise WorkspaceError(
                _(
                    "{path}: scheduler.{name} must be a cron expression of 5 fields (minute hour "
                    'day month weekday), or "" to turn the job off; got {expression!r}'
                ).format(path=path, name=name, expression=expression)
            )
        crons[name] = " ".join(expression.split())
    return SchedulerConfig(
        sweep_every_minutes=every,
        lease_seconds=lease,
        publicity_letters=crons["publicity_letters"],
        monthly_report=crons["monthly_report"],
    )


def templates(english: bool | None = None) -> tuple[str, str, str]:
    """caseflow.toml, holidays.yaml and org.yaml as a new workspace gets them, commented in
    the reader's language (``english``: in English or not, whatever the reader's)."""
    with (
        i18n.using(ENGLISH if english else CHINESE)
        if english is not None
        else contextlib.nullcontext()
    ):
        return _(CONFIG_TEMPLATE), _(HOLIDAY_TEMPLATE), _(ORG_TEMPLATE)


def create(root: Path, database_url: str | None = None, county: str = "本县") -> Workspace:
    """Write the config and folders of a new workspace; refuses to overwrite one."""
    config_path = root / CONFIG_NAME
    if config_path.exists():
        raise WorkspaceError(
            _("{root} is already a caseflow workspace ({file} exists)").format(
                root=root, file=CONFIG_NAME
            )
        )
    url = database_url or DEFAULT_DATABASE
    for what, value in (
        (_("the database URL"), url),
        (_("the county name"), county),
    ):
        if '"' in value or "\\" in value or "\n" in value:
            raise WorkspaceError(
                _("{what} must not contain quotes, backslashes or line breaks").format(what=what)
            )
    keep_private()
    root.mkdir(parents=True, exist_ok=True)
    (root / "outbox").mkdir(exist_ok=True)
    for folder in (root, root / "outbox"):  # made before, under a looser umask
        folder.chmod(PRIVATE_FOLDER)
    config, holidays, org = templates()
    config_path.write_text(config.format(url=url, county=county), encoding="utf-8")
    (root / HOLIDAY_FILE).write_text(holidays, encoding="utf-8")
    (root / ORG_FILE).write_text(org, encoding="utf-8")
    return load(root.resolve())


EXAMPLE_ADMIN_ACCOUNT = "os_user: jyj-kcb,"


def write_example_org(workspace: Workspace, admin_account: str, example: str = EXAMPLE_ORG) -> Path:
    """Replace the workspace's org.yaml with a shipped example organisation whose bureau
    admin logs in as ``admin_account`` (the account that created the workspace), so that
    account can put it in force with ``caseflow org apply``."""
    source = shipped("examples") / example / ORG_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkspaceError(
            _("cannot read the example organisation {source}: {strerror}").format(
                source=source, strerror=exc.strerror
            )
        ) from exc
    if EXAMPLE_ADMIN_ACCOUNT not in text:
        raise WorkspaceError(
            _("the example organisation {source} has no bureau admin operator").format(
                source=source
            )
        )
    text = text.replace(EXAMPLE_ADMIN_ACCOUNT, f"os_user: {admin_account},", 1)
    workspace.org_file.write_text(text, encoding="utf-8")
    return workspace.org_file


def discard(workspace: Workspace, database_file: Path | None) -> None:
    """Undo ``create`` after a failed init: remove what it wrote (and a fresh SQLite file)."""
    (workspace.root / CONFIG_NAME).unlink(missing_ok=True)
    (workspace.root / HOLIDAY_FILE).unlink(missing_ok=True)
    (workspace.root / ORG_FILE).unlink(missing_ok=True)
    if database_file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        workspace.outbox.rmdir()


@dataclass(frozen=True)
class HolidayFile:
    rest_days: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    complete_years: frozenset[int] = frozenset()


def _dates(data: Mapping[str, Any], key: str, path: Path) -> frozenset[date]:
    values = data.get(key) or []
    if not isinstance(values, list):
        raise WorkspaceError(
            _("{path}: {key} must be a list of dates like 2027-01-01").format(path=path, key=key)
        )
    days = set()
    for index, value in enumerate(values):
        if isinstance(value, date):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError:
            raise WorkspaceError(
                _("{path}: {key}[{index}] is {value!r}, not a date like 2027-01-01").format(
                    path=path, key=key, index=index, value=value
                )
            ) from None
    return frozenset(days)


def load_holidays(workspace: Workspace) -> HolidayFile:
    path = workspace.holiday_file
    if not path.exists():
        return HolidayFile()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WorkspaceError(_("cannot read {path}: {exc}").format(path=path, exc=exc)) from exc
    if not isinstance(data, Mapping):
        raise WorkspaceError(
            _("{path}: expected rest_days, working_days and complete_years").format(path=path)
        )
    unknown = sorted(set(data) - {"rest_days", "working_days", "complete_years"})
    if unknown:
        raise WorkspaceError(
            _("{path}: unknown key {unknown!r}").format(path=path, unknown=unknown[0])
        )
    rest, work = _dates(data, "rest_days", path), _dates(data, "working_days", path)
    both = sorted(rest & work)
    if both:
        raise WorkspaceError(
            _("{path}: {day} is listed both as a rest day and as a working day").format(
                path=path, day=both[0].isoformat()
            )
        )
    years = data.get("complete_years") or []
    if not isinstance(years, list) or not all(isinstance(y, int) for y in years):
        raise WorkspaceError(
            _("{path}: complete_years must be a list of years like [2027]").format(path=path)
        )
    return HolidayFile(rest, work, frozenset(years))


@functools.cache
def national_calendar() -> NationalCalendar:
    """The national table of the installed ``chinese_calendar`` package, read once.

    The years are the span of the package's own tables (the rule it uses to reject a
    year), each confirmed with one probe, so that a package whose tables and checks
    disagree cannot make a covered year raise later.
    """
    import chinese_calendar

    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    listed = holidays | workdays
    years: set[int] = set()
    if listed:
        for year in range(min(listed).year, max(listed).year + 1):
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
            except NotImplementedError:  # chinese-calendar's "this year is not in my data"
                continue
            years.add(year)
    return NationalCalendar(
        years=frozenset(years),
        # The package lets a make-up working day win over a holiday listed the same day.
        holidays=frozenset(day for day in holidays - workdays if day.year in years),
        workdays=frozenset(day for day in workdays if day.year in years),
    )


def workspace_calendar(workspace: Workspace) -> WorkCalendar:
    """The national calendar plus the workspace's own rest days and make-up working days."""
    holidays = load_holidays(workspace)
    return WorkCalendar(
        national_calendar(),
        extra_holidays=holidays.rest_days,
        extra_workdays=holidays.working_days,
        declared_years=holidays.complete_years,
        term_ends=workspace.term_ends,
    )
