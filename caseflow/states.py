"""Workflow definitions: typed immutable models, YAML loading, checks, diagrams,
and the `transitions` machine built from them.

A workflow file is data (see ``workflows/dropout.yaml``). ``parse_workflow`` turns its
text into a ``Workflow`` plus a list of ``Problem``s; ``load_workflow`` raises
``WorkflowInvalid`` when there is any problem, so a loaded workflow is always sound.

The workflow file is the only place that knows state and trigger ids. Code that must know
what a state *means* (the figures, the ledgers, the report) reads its ``category``, one
of ``CATEGORIES``, where the case stands in the lifecycle of ``DOMAIN.md``:

- ``suspected``          reported, not yet checked (疑似失学辍学)
- ``verifying``          being checked by school, village or a department (核查中)
- ``missing``            whereabouts unknown, with the police (失踪失联)
- ``deferred``           approved deferral or suspension of schooling (延缓入学/休学)
- ``assessment``         disability or health being assessed (残联确认残疾、卫健评估)
- ``referred``           a confirmed dropout handed to a partner department (转介处置)
- ``special_education``  expert committee or placement pending (特教安置)
- ``persuasion``         the task force persuades the family (劝返)
- ``legal``              a rung of the legal ladder: order, penalty, court (依法控辍)
- ``monitoring``         back at school, watched by check-ins (复学巩固观察)
- ``closing``            a closure proposed, waiting for a second person's approval
- ``retained``           terminal: monitoring passed, closed as a success (巩固销号)
- ``closed``             terminal: closed as not a dropout (核查销号)

Only ``retained`` and ``closed`` states are terminal, and every terminal state is one of
them. From the categories follow what the figures count: a case *returns* when it enters
a ``monitoring`` state from another category, is *retained* when it enters a ``retained``
state, and *relapses* by a transition marked ``counts_repeat``.

What a closure (销号) means for the figures is declared too: ``closure_meanings`` gives a
closure reason one of ``CLOSURE_MEANINGS`` (the child is at school elsewhere, has completed
compulsory education, or is no child of this county's to count), and a ``closing`` state
whose closure records no reason names the reason it closes as (``closes_as``, e.g. a move
out of the county).

The file also declares the vocabulary its cases are recorded in: ``dropout_reasons`` and
``closure_reasons`` (a choice field names one of them as its ``choices``, so each list is
written once), ``departments``, the partner departments a transition may hand a case to
(its ``handoff``; ``org.yaml`` names its department units by these keys, checked against
the workflow in force), and ``routes``, the transitions other code starts by purpose
(``ROUTES``): the comparison refers a disabled child it finds by the
``disabled_child_found`` route. ``special_groups`` are the groups a child is watched in
(残疾, 留守...; caseworkers set them, and ``register_groups`` names the ones the registers
set: ``REGISTER_GROUPS``). Roles, responsible units and notice recipients stay in
code: they are the access system's and the organisation's vocabulary, not a workflow's.

The machine decides. Each transition carries its conditions (``conditions_of``): a role
it allows, a partner department's hold on the case, its required fields, its
``requires`` counts and its declared guards (``GUARDS``). ``fire`` runs a trigger on the
workflow's one shared machine with an ``Attempt``; ``refusal`` asks the same condition
objects which one failed and why.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from caseflow.errors import (
    AccessDenied,
    CaseflowError,
    TransitionRefused,
    WorkflowInvalid,
    WorkflowNotFound,
)
from caseflow.i18n import _

StateKind = Literal["initial", "waiting", "terminal"]
DeadlineUnit = Literal["working_days", "days", "months"]
FieldType = Literal["choice", "text", "date", "integer"]

STATE_KINDS: tuple[str, ...] = ("initial", "waiting", "terminal")
DEADLINE_UNITS: tuple[str, ...] = ("working_days", "days", "months")
FIELD_TYPES: tuple[str, ...] = ("choice", "text", "date", "integer")

CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "suspected": "疑似失学辍学",
        "verifying": "核查中",
        "missing": "失踪失联",
        "deferred": "延缓入学/休学",
        "assessment": "残疾认定、健康评估",
        "referred": "转介部门处置",
        "special_education": "特教安置",
        "persuasion": "劝返",
        "legal": "依法控辍",
        "monitoring": "复学巩固观察",
        "closing": "销号待审批",
        "retained": "巩固销号",
        "closed": "核查销号",
    }
)
TERMINAL_CATEGORIES: frozenset[str] = frozenset({"retained", "closed"})

# What a closure reason may mean for the figures (``closure_meanings:`` in the file).
CLOSURE_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "in_school": "在学：已入学或经核实在外地就读",
        "completed": "已完成义务教育",
        "not_resident": "不计入本县适龄人口：空挂户、重复登记、迁出本县、死亡、出国（境）等",
    }
)

# The vocabularies a workflow declares, by the key that names them in the file.
VOCABULARIES: tuple[str, ...] = (
    "dropout_reasons",
    "closure_reasons",
    "departments",
    "special_groups",
)

# What the registers say about a child that makes it one of the workflow's special groups
# (``register_groups`` names the group each sets; the rest are set by caseworkers).
REGISTER_GROUPS: Mapping[str, str] = MappingProxyType(
    {
        "disability": "残疾人登记册所列儿童（记残疾类别、等级）",
        "poverty": "扶贫登记册所列儿童",
        "relocation": "扶贫登记册类别注明易地扶贫搬迁的儿童",
    }
)

ROUTES: Mapping[str, str] = MappingProxyType(
    {"disabled_child_found": "比对发现的适龄残疾儿童少年：转介评定"}
)

ROLES: Mapping[str, str] = MappingProxyType(
    {
        "caseworker": "乡镇控辍保学工作人员",
        "school": "学校",
        "department": "协作部门",
        "bureau": "县教育局",
        "supervisor": "教育督导",
        "admin": "系统管理员",
    }
)

RESPONSIBLE: Mapping[str, str] = MappingProxyType(
    {
        "township": "乡镇人民政府",
        "village": "村（居）委会",
        "school": "学校",
        "education_bureau": "县教育局",
        "department": "转介部门",
    }
)

RECIPIENTS: Mapping[str, str] = MappingProxyType(
    {
        "responsible_unit": "责任单位",
        "department": "转介部门",
        "township": "乡镇人民政府",
        "township_head": "乡镇长",
        "township_cadre": "包村乡镇干部",
        "village": "村（居）委会",
        "village_cadre": "包组村干部",
        "group_leader": "村民小组长",
        "school": "学校",
        "principal": "校长",
        "school_leader": "包年级学校领导",
        "head_teacher": "班主任",
        "subject_teacher": "包人科任教师",
        "education_bureau": "县教育局",
        "bureau_leader": "包校教育局领导",
        "county_leader": "包乡县领导",
        "county_government": "县人民政府办公室",
        "supervision_office": "县人民政府教育督导室",
    }
)


CASE_SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "manual": "人工录入",
        "roster": "五查四比对",
        "school": "学校报告",
        "visit": "入户走访",
        "list": "上级下发名单",
    }
)

# How a logged persuasion attempt or remark (``case note``) was made.
NOTE_METHODS: Mapping[str, str] = MappingProxyType(
    {
        "visit": "入户走访",
        "phone": "电话",
        "letter": "书面",
        "wechat": "微信",
        "other": "其他",
    }
)


# Guards a transition may declare (`guard: NAME`, or a list of names): conditions on the
# case and the event beyond roles, fields and `requires`. Each is a condition of the
# machine (``GUARD_CONDITIONS`` below), so it decides and it says why it refused.
#   deadline_passed: allowed only once the case's current deadline has run out, that is,
#       its due date is before the day the event happened (e.g. a penalty only after the
#       period an order to correct gave has passed). A state without a deadline refuses.
#   deadline_reached: allowed from the due date on (an automatic transition the sweep
#       fires on the due date, such as retention after the monitoring term, cannot be
#       fired by hand before it).
#   second_person: not by the operator who moved the case into its current state (a
#       closure proposed by one person is approved by another).
# A guard may also be ``SETTING=VALUE``: allowed only where the county's configuration
# (``[procedure]`` in caseflow.toml) chose that value for a setting of ``SETTINGS``; while
# the setting is unset the transition is refused, saying what to set. And it may be
# ``recorded:FIELD=VALUE``: allowed only where the latest step that recorded FIELD on the
# case recorded VALUE (a demand to pay only after a decision whose penalty is a fine).
RECORDED = "recorded:"
GUARDS: Mapping[str, str] = MappingProxyType(
    {
        "deadline_passed": "期限届满后方可办理",
        "deadline_reached": "期限届至方可办理",
        "second_person": "须由另一名工作人员办理",
    }
)

# County choices the law leaves open that a guard may test: setting -> its allowed values.
SETTINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # When the order's period has run out: the penalty route ending, if the decision
        # is not performed, in an application to the court for enforcement (行政强制法
        # arts. 53-55), or asking a judicial body to admonish the guardians (训诫,
        # 家庭教育促进法 art. 49: local practice). See docs/law.md.
        "court_route": ("enforcement", "admonition"),
        # Which body issues orders to correct and penalty documents (义务教育法 art. 58:
        # 乡镇人民政府 or 县级人民政府教育行政部门): the township's government / street
        # office, or the county education bureau (the ``order_authority`` issuer).
        "order_issuer": ("township", "education_bureau"),
        # How long a returned child is watched, in a state whose deadline allows
        # ``until_term_end``: the workflow's period ("period", also while unset), or on to
        # the end of the school term in which that period ends ("term_end", by the term
        # ends in caseflow.toml [calendar] term_ends). Local practice, not statute.
        "monitoring_ends": ("period", "term_end"),
        # Whether the county's penalty carries the right to ask for a hearing (行政处罚法
        # art. 63: a 较大数额 fine, an amount the law leaves to be set elsewhere): "yes"
        # prints the right on the prior notice and opens ``request_hearing``.
        "penalty_hearing": ("yes", "no"),
    }
)

# Texts the county must set before a transition naming it in ``guard: needs=SETTING`` may
# fire ([procedure]); refused while unset, saying what to set.
TEXT_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        # 义务教育法 sets no fine for guardians: a penalty needs the article of the
        # province's regulation that does (docs/law.md, rule 4).
        "penalty_basis": "行政处罚的法律依据（本省地方性法规的名称和条款）",
        # The basic people's court with jurisdiction where the issuer is (行政诉讼法
        # arts. 14, 18): named in the remedies of orders and decisions, and the court an
        # enforcement application is filed with (行政强制法 art. 54).
        "court": "有管辖权的基层人民法院全称",
    }
)

# Counts the county sets (``[procedure]``, a whole number): a transition's ``requires`` may
# name one instead of a number, and is refused while it is unset.
COUNT_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        # Home teaching (送教上门) visits in a monitoring period before retention; the
        # frequency is the province's or county's rule, not national law.
        "home_teaching_visits": "送教上门巩固期内最少送教次数",
    }
)

# ``from: "*"``: every open state outside the ``closing`` category (e.g. a closure may be
# proposed from anywhere). ``returns: true`` instead of ``to``: back to the state the case
# came from when it entered this one (e.g. a health referral returns to the route the
# child was on).
ANY_OPEN_STATE = "*"


# Who signs and seals a document (the workflow's ``documents:`` section names one per
# template). ``order_authority`` is the body the county configures to issue orders and
# penalties (``[procedure] order_issuer`` in caseflow.toml); ``served_document``: the issuer
# of the document this one accompanies (a proof of service, a notice to a carer).
ISSUERS: Mapping[str, str] = MappingProxyType(
    {
        "order_authority": "责令改正、行政处罚的实施机关（县配置）",
        "township_government": "乡镇人民政府（街道办事处）",
        "education_bureau": "县级人民政府教育行政部门",
        "school": "学校",
        "leading_group_office": "县控辍保学工作领导小组办公室",
        "served_document": "所随附文书的制发机关",
    }
)
# The issuers with standing to issue an administrative document (义务教育法 art. 58: the
# township government or the county education bureau); never a leading group's office.
ADMINISTRATIVE_ISSUERS: frozenset[str] = frozenset(
    {"order_authority", "township_government", "education_bureau"}
)
# To whom a document is written, where the template alone does not say: one document per
# legal guardian, one per entrusted carer, or one per addressee of the document it
# accompanies (a proof of service per order served).
ADDRESSEES: Mapping[str, str] = MappingProxyType(
    {
        "legal_guardians": "每一位法定监护人",
        "carers": "每一位被委托照护人",
        "served_document": "所随附文书的每一位受送达人",
    }
)


def yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """Where a YAML file stops parsing (``line N``) and why, for a ``Problem``."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else ""
    return where, f"not valid YAML: {getattr(exc, 'problem', exc)}"


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.path}: {self.message}"
            if self.path
            else f"{self.file}: {self.message}"
        )


@dataclass(frozen=True)
class DeadlineSpec:
    amount: int
    unit: DeadlineUnit
    basis: str
    # The range a rule permits for the amount (e.g. an order's period of 7 to 15 days),
    # where the county fixes the amount within it; ``workflow check`` holds the amount to it.
    within: tuple[int, int] | None = None
    # The county may run this period on to the end of the school term in which it ends
    # (``[procedure] monitoring_ends = "term_end"`` with ``[calendar] term_ends``).
    until_term_end: bool = False


@dataclass(frozen=True)
class Rung:
    index: int
    offset: int
    unit: DeadlineUnit
    notify: tuple[str, ...]
    template: str


@dataclass(frozen=True)
class State:
    id: str
    label: str
    kind: StateKind
    category: str
    responsible: str | None = None
    deadline: DeadlineSpec | None = None
    ladder: tuple[Rung, ...] = ()
    # A ``closing`` state whose closure records no reason: the closure reason a case
    # closed from it is closed as (e.g. a move out of the county: ``moved_out``).
    closes_as: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.kind == "terminal"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: FieldType
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = True
    sets_due: bool = False
    # A date from which the new state's deadline counts (e.g. the day an order was
    # served), instead of the day of the event.
    starts_deadline: bool = False
    vocabulary: str | None = None  # the declared list its choices are (``VOCABULARIES``)
    # A text naming the body the transition's documents are addressed to, when given,
    # instead of the case's department (e.g. the labour inspection where the employer is).
    addresses: bool = False

    def printed(self, value: object) -> object:
        """A recorded value as documents print it: a choice by its label, a date as a
        date (the template or `dates.spoken` writes it in Chinese), anything else as is."""
        if self.type == "choice":
            return dict(self.choices).get(str(value), str(value))
        if self.type == "date":
            return date.fromisoformat(str(value))
        return value

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
        }
        if self.type == "choice":
            described["choices"] = [value for value, _label in self.choices]
            described["choice_labels"] = dict(self.choices)
        return described


@dataclass(frozen=True)
class Alert:
    """What a transition sends when its fields have the values ``when`` gives (e.g. a
    check-in that finds the child at risk): ``template`` to each of ``notify``
    (``RECIPIENTS``; a link of the case's 包保 chain reaches the person who holds it),
    queued with the step itself."""

    when: tuple[tuple[str, str], ...]
    notify: tuple[str, ...]
    template: str

    def raised_by(self, values: Mapping[str, Any]) -> bool:
        return have_values(values, self.when)


def have_values(values: Mapping[str, Any], wanted: Iterable[tuple[str, str]]) -> bool:
    """Whether a step's recorded values have each of the ``wanted`` field values (a
    transition's ``counts_when``, an alert's ``when``)."""
    return all(str(values.get(name)) == value for name, value in wanted)


@dataclass(frozen=True)
class Transition:
    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = ()
    handoff: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    auto: bool = False
    requires: tuple[tuple[str, int | str], ...] = ()  # a count or a COUNT_SETTINGS name
    renews_deadline: bool = False
    counts_repeat: bool = False
    guards: tuple[str, ...] = ()
    # A step that stays in its state counts (towards a ``requires``) only when its fields
    # have these values, e.g. a check-in only when it found the child attending.
    counts_when: tuple[tuple[str, str], ...] = ()
    returns: bool = False  # back to the state the case came from; ``dest`` is empty
    alert: Alert | None = None

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class DocumentSpec:
    """What the workflow's ``documents:`` section says of one template: who issues it
    (``ISSUERS``), whether it is an administrative document, and to whom it is written
    (``ADDRESSEES``; None: as the template's fields say)."""

    template: str
    issuer: str = "leading_group_office"
    administrative: bool = False
    addressed_to: str | None = None


@dataclass(frozen=True)
class Disclosure:
    """Why a department receives a child's full resident ID number (``full_id_number:``):
    the purpose and the legal basis, as the audit trail records each disclosure."""

    purpose: str
    basis: str


@dataclass(frozen=True)
class Reopening:
    """``reopen:``: who may undo a closure (`caseflow case reopen`), of a case in a state of
    which terminal ``categories``, and the notice (``template``) queued to ``notify``. A
    workflow without the section lets nobody reopen a case."""

    roles: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("closed",)
    notify: tuple[str, ...] = ()
    template: str | None = None


def _parse_reopen(r: _Reader, raw: object) -> Reopening:
    if raw is None:
        return Reopening()
    data = r.mapping(raw, "reopen")
    for key in data:
        if key not in ("roles", "categories", "notify", "template"):
            r.problem(f"reopen.{key}", _("unknown key; known: roles, categories, notify, template"))
    roles = r.names(data.get("roles"), "reopen.roles")
    if not roles:
        r.problem("reopen.roles", _("names no role: nobody could reopen a case"))
    for role in roles:
        if role not in ROLES:
            r.problem(
                "reopen.roles",
                _("unknown role {role!r}; known: {roles}").format(
                    role=role, roles=", ".join(ROLES)
                ),
            )
    categories = r.names(data.get("categories", ["closed"]), "reopen.categories")
    for category in categories:
        if category not in TERMINAL_CATEGORIES:
            r.problem(
                "reopen.categories",
                _("{category!r} is not a terminal category; only {categories} ends a case").format(
                    category=category, categories=_(" or ").join(sorted(TERMINAL_CATEGORIES))
                ),
            )
    notify = _parse_recipients(r, data.get("notify"), "reopen.notify", "reopening")
    template = r.text(data, "template", "reopen")
    return Reopening(roles, categories, notify, template)


@dataclass(frozen=True, eq=False)
class Workflow:
    name: str
    version: int
    label: str
    description: str
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    source: str = field(repr=False)
    sha256: str
    # Who may request an extension of a case's deadline, and who approves one (never the
    # operator who requested it).
    extension_roles: tuple[str, ...] = ("bureau",)
    extension_approve_roles: tuple[str, ...] = ("bureau",)
    extension_max_days: int = 30
    vocabularies: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    routes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The special group each register sets (``REGISTER_GROUPS`` -> a ``special_groups`` key).
    register_groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # For each older version: its state ids that are named differently here (old -> new).
    migrate_from: Mapping[int, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    document_specs: Mapping[str, DocumentSpec] = field(default_factory=lambda: MappingProxyType({}))
    # The departments whose documents print the child's full ID number (others: masked).
    full_id_number: Mapping[str, Disclosure] = field(default_factory=lambda: MappingProxyType({}))
    # closure reason -> what it means for the figures (``CLOSURE_MEANINGS``).
    closure_meanings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    reopen: Reopening = field(default_factory=Reopening)

    def document(self, template: str) -> DocumentSpec:
        """The ``documents:`` entry of a template; a workflow without one (a stored older
        version) has its documents signed by the leading group's office, as it did."""
        return self.document_specs.get(template) or DocumentSpec(template)

    @property
    def initial(self) -> State:
        return next(s for s in self.states.values() if s.kind == "initial")

    def state(self, state_id: str) -> State:
        return self.states[state_id]

    def transitions_from(self, state_id: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state_id in t.sources)

    def returns_to(self, state_id: str) -> tuple[str, ...]:
        """Where a ``returns`` transition from ``state_id`` may lead: every other state a
        transition enters it from."""
        return _entered_from(state_id, self.transitions)

    def destinations(self, transition: Transition) -> tuple[str, ...]:
        """The states a transition may lead to from any of its sources."""
        if not transition.returns:
            return (transition.dest,)
        return tuple(
            dict.fromkeys(dest for source in transition.sources for dest in self.returns_to(source))
        )

    def period_state(self, state_id: str) -> State:
        """The state whose deadline is the period a document issued on entering
        ``state_id`` gives its addressee. Where the case waits there for the document to
        be served (a transition out records the day of service, ``starts_deadline``), the
        period counts from service, in the state that transition leads to; else it is
        ``state_id``'s own deadline."""
        served = next(
            (
                t
                for t in self.transitions_from(state_id)
                if not t.returns and t.dest != state_id and any(f.starts_deadline for f in t.fields)
            ),
            None,
        )
        return self.states[served.dest if served else state_id]

    def remembers_origin(self, state_id: str) -> bool:
        """Whether a case entering ``state_id`` must remember where it came from: a
        ``returns`` transition leaves it."""
        return any(t.returns and state_id in t.sources for t in self.transitions)

    def find(self, trigger: str, state_id: str) -> Transition | None:
        return next((t for t in self.transitions_from(state_id) if t.trigger == trigger), None)

    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.transitions)

    def category_of(self, state_id: str) -> str | None:
        """The state's category (``CATEGORIES``). A state of an older version that
        ``migrate_from`` renamed has the category of the state it became (a case's history
        from before it moved still counts); None for a state this workflow lacks."""
        found = self.states.get(state_id)
        if found is None:
            for version in sorted(self.migrate_from, reverse=True):
                renamed = self.migrate_from[version].get(state_id)
                if renamed is not None and renamed in self.states:
                    return self.states[renamed].category
            return None
        return found.category

    def category_entered(self, source: str, dest: str) -> str | None:
        """The category a move from ``source`` to ``dest`` enters; None when it stays in
        its category (such as a check-in), goes back from a rejected closure (``closing``
        to an open state: the case never left where it stood) or ``dest`` is not a state
        of this workflow."""
        into = self.category_of(dest)
        left = self.category_of(source)
        if left == "closing" and into not in TERMINAL_CATEGORIES:
            return None
        return into if into != left else None

    def states_in(self, *categories: str) -> frozenset[str]:
        """The ids of the states in any of ``categories``."""
        return frozenset(s.id for s in self.states.values() if s.category in categories)

    @property
    def dropout_reasons(self) -> Mapping[str, str]:
        return self.vocabularies.get("dropout_reasons", MappingProxyType({}))

    @property
    def closure_reasons(self) -> Mapping[str, str]:
        return self.vocabularies.get("closure_reasons", MappingProxyType({}))

    def closure_meaning(self, closing_state: str | None, reason: str | None) -> str | None:
        """What a closure means for the figures (``CLOSURE_MEANINGS``): the reason the
        ``closing`` state it was approved from closes as, else the recorded ``reason``'s
        meaning; None when neither has one."""
        state = self.states.get(closing_state or "")
        code = state.closes_as if state is not None and state.closes_as else reason
        return self.closure_meanings.get(code or "")

    @property
    def departments(self) -> Mapping[str, str]:
        """The partner departments a case may be handed to: key -> name (县公安局)."""
        return self.vocabularies.get("departments", MappingProxyType({}))

    @property
    def special_groups(self) -> Mapping[str, str]:
        """The special groups a child may belong to: key -> label (留守)."""
        return self.vocabularies.get("special_groups", MappingProxyType({}))

    def fields_choosing(self, vocabulary: str) -> tuple[tuple[str, str], ...]:
        """(trigger, field name) of every field whose choices are ``vocabulary``: where a
        case's facts record a value of it."""
        return tuple(
            dict.fromkeys(
                (t.trigger, f.name)
                for t in self.transitions
                for f in t.fields
                if f.vocabulary == vocabulary
            )
        )

    def route(self, purpose: str) -> str | None:
        """The trigger the workflow declares for ``purpose`` (``ROUTES``), if any."""
        return self.routes.get(purpose)


# ---------------------------------------------------------------------------------------
# Parsing: every problem is collected with its key path; nothing stops at the first one.


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def mapping(self, value: object, path: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        if value is not None:
            self.problem(
                path, _("expected a mapping, got {name}").format(name=type(value).__name__)
            )
        return {}

    def text(self, data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(f"{path}.{key}" if path else key, _("is required"))
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.problem(f"{path}.{key}" if path else key, _("must be text"))
            return ""
        return str(value)

    def integer(
        self, data: Mapping[str, Any], key: str, path: str, default: int | None = None
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{path}.{key}", _("must be a whole number"))
            return 0
        if value < 0:
            self.problem(f"{path}.{key}", _("must not be negative"))
        return value

    def names(self, value: object, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(path, _("must be a name or a list of names"))
        return ()

    def choice(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        allowed: Iterable[str],
        default: str | None = None,
    ) -> str:
        value = data.get(key, default)
        allowed = tuple(allowed)
        if value not in allowed:
            self.problem(
                f"{path}.{key}",
                _("is {value!r}; expected one of: {allowed}").format(
                    value=value, allowed=", ".join(allowed)
                ),
            )
            return allowed[0]
        return str(value)


def _parse_deadline(r: _Reader, raw: object, path: str) -> DeadlineSpec | None:
    if raw is None:
        return None
    data = r.mapping(raw, path)
    for key in data:
        if key not in {"amount", "unit", "basis", "within", "until_term_end"}:
            r.problem(
                f"{path}.{key}",
                _("unknown key; known: amount, unit, basis, within, until_term_end"),
            )
    amount = r.integer(data, "amount", path)
    within = _parse_within(r, data.get("within"), f"{path}.within")
    if within is not None and not within[0] <= amount <= within[1]:
        r.problem(
            f"{path}.amount",
            _(
                "is {amount}, outside the range the rule permits (within: {within} to "
                "{within2}); choose an amount from {within} to {within2}"
            ).format(amount=amount, within=within[0], within2=within[1]),
        )
    until_term_end = data.get("until_term_end")
    if until_term_end not in (None, "allowed"):
        r.problem(
            f"{path}.until_term_end",
            _(
                "is {until_term_end!r}; write `until_term_end: allowed` to let the "
                "county run this period on to the end of the school term ([procedure] "
                "monitoring_ends)"
            ).format(until_term_end=until_term_end),
        )
    return DeadlineSpec(
        amount=amount,
        unit=r.choice(data, "unit", path, DEADLINE_UNITS),  # type: ignore[arg-type]
        basis=r.text(data, "basis", path),
        within=within,
        until_term_end=until_term_end == "allowed",
    )


def _parse_within(r: _Reader, raw: object, path: str) -> tuple[int, int] | None:
    """``within: [LOW, HIGH]``: two whole numbers, the lower first."""
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in raw)
        or raw[0] > raw[1]
    ):
        r.problem(path, _("must be [LOW, HIGH]: two whole numbers, the lower first"))
        return None
    return raw[0], raw[1]


def _parse_ladder(r: _Reader, raw: object, path: str) -> tuple[Rung, ...]:
    if not isinstance(raw, list):
        r.problem(path, _("an escalation ladder must be a list of rungs"))
        return ()
    rungs = []
    for index, item in enumerate(raw):
        rung_path = f"{path}[{index}]"
        data = r.mapping(item, rung_path)
        notify = _parse_recipients(r, data.get("notify"), f"{rung_path}.notify", "escalation rung")
        rungs.append(
            Rung(
                index=index,
                offset=r.integer(data, "offset", rung_path, default=0),
                unit=r.choice(
                    data,
                    "unit",
                    rung_path,
                    DEADLINE_UNITS,  # type: ignore[arg-type]
                    default="working_days",
                ),
                notify=notify,
                template=r.text(data, "template", rung_path),
            )
        )
    offsets = [rung.offset for rung in rungs]
    if offsets != sorted(offsets):
        r.problem(path, _("rungs must be listed in order of their offsets"))
    return tuple(rungs)


def _parse_fields(
    r: _Reader,
    raw: object,
    path: str,
    vocabularies: Mapping[str, Mapping[str, str]],
) -> tuple[FieldSpec, ...]:
    specs = []
    for name, item in r.mapping(raw, path).items():
        field_path = f"{path}.{name}"
        data = r.mapping(item, field_path)
        ftype = r.choice(data, "type", field_path, FIELD_TYPES)
        choices: tuple[tuple[str, str], ...] = ()
        vocabulary = None
        if ftype == "choice":
            raw_choices = data.get("choices")
            if isinstance(raw_choices, str):
                if raw_choices in VOCABULARIES:
                    vocabulary = raw_choices
                    choices = tuple(vocabularies.get(raw_choices, {}).items())
                else:
                    r.problem(
                        f"{field_path}.choices",
                        _(
                            "is {raw_choices!r}: name a declared list ({vocabularies}) or give "
                            "the values"
                        ).format(raw_choices=raw_choices, vocabularies=", ".join(VOCABULARIES)),
                    )
            else:
                raw_map = r.mapping(raw_choices, f"{field_path}.choices")
                choices = tuple((str(k), str(v)) for k, v in raw_map.items())
            if not choices:
                r.problem(f"{field_path}.choices", _("a choice field needs its allowed values"))
        elif "choices" in data:
            r.problem(
                f"{field_path}.choices",
                _("only choice fields have choices, not {ftype}").format(ftype=ftype),
            )
        sets_due = bool(data.get("sets_due", False))
        if sets_due and ftype != "date":
            r.problem(f"{field_path}.sets_due", _("only a date field can set the due date"))
        starts_deadline = bool(data.get("starts_deadline", False))
        if starts_deadline and (ftype != "date" or sets_due):
            r.problem(
                f"{field_path}.starts_deadline",
                _("only a date field that does not set the due date can start the deadline"),
            )
        addresses = bool(data.get("addresses", False))
        if addresses and ftype != "text":
            r.problem(f"{field_path}.addresses", _("only a text field can name an addressee"))
        specs.append(
            FieldSpec(
                name=str(name),
                label=r.text(data, "label", field_path),
                type=ftype,  # type: ignore[arg-type]
                choices=choices,
                required=bool(data.get("required", True)),
                sets_due=sets_due,
                starts_deadline=starts_deadline,
                vocabulary=vocabulary,
                addresses=addresses,
            )
        )
    if sum(spec.addresses for spec in specs) > 1:
        r.problem(path, _("only one field can name the addressee"))
    return tuple(specs)


def _parse_transition(
    r: _Reader,
    raw: object,
    path: str,
    vocabularies: Mapping[str, Mapping[str, str]],
    states: Mapping[str, State],
) -> Transition:
    data = r.mapping(raw, path)
    known = {
        "returns",
        "trigger",
        "label",
        "from",
        "to",
        "roles",
        "fields",
        "handoff",
        "documents",
        "auto",
        "requires",
        "renews_deadline",
        "counts_repeat",
        "counts_when",
        "guard",
        "alert",
    }
    for key in data:
        if key not in known:
            r.problem(f"{path}.{key}", _("unknown key"))
    roles = r.names(data.get("roles"), f"{path}.roles")
    for role in roles:
        if role not in ROLES:
            r.problem(
                f"{path}.roles",
                _("unknown role {role!r}; known: {roles}").format(
                    role=role, roles=", ".join(ROLES)
                ),
            )
    handoff = r.names(data.get("handoff"), f"{path}.handoff")
    departments = vocabularies.get("departments", {})
    for department in handoff:
        if department not in departments:
            r.problem(
                f"{path}.handoff",
                _("unknown department {department!r}; the workflow declares: {departments}").format(
                    department=department,
                    departments=", ".join(departments)
                    or _("none (declare them under `departments:`)"),
                ),
            )
    guards = r.names(data.get("guard"), f"{path}.guard")
    for guard in guards:
        named = guard_condition(guard)
        if isinstance(named, str):
            r.problem(f"{path}.guard", named)
    requires: list[tuple[str, int | str]] = []
    for trigger, count in r.mapping(data.get("requires"), f"{path}.requires").items():
        if isinstance(count, str):
            if count not in COUNT_SETTINGS:
                r.problem(
                    f"{path}.requires.{trigger}",
                    _("is {count!r}: give a number or a county setting ({count_settings})").format(
                        count=count, count_settings=", ".join(COUNT_SETTINGS)
                    ),
                )
            requires.append((str(trigger), count))
        else:
            requires.append(
                (str(trigger), r.integer({"n": count}, "n", f"{path}.requires.{trigger}"))
            )
    sources = r.names(data.get("from"), f"{path}.from")
    returns = bool(data.get("returns", False))
    dest = r.text(data, "to", path, required=not returns)
    if returns and dest:
        r.problem(f"{path}.to", _("a transition that returns goes back where the case came from"))
    if sources == (ANY_OPEN_STATE,):
        sources = tuple(
            s.id
            for s in states.values()
            if not s.is_terminal and s.category != "closing" and s.id != dest
        )
    if not sources:
        r.problem(f"{path}.from", _("is required"))
    fields = _parse_fields(r, data.get("fields"), f"{path}.fields", vocabularies)
    return Transition(
        trigger=r.text(data, "trigger", path),
        label=r.text(data, "label", path),
        sources=sources,
        dest=dest,
        returns=returns,
        roles=roles,
        fields=fields,
        handoff=handoff,
        documents=r.names(data.get("documents"), f"{path}.documents"),
        auto=bool(data.get("auto", False)),
        requires=tuple(requires),
        renews_deadline=bool(data.get("renews_deadline", False)),
        counts_repeat=bool(data.get("counts_repeat", False)),
        counts_when=_parse_field_values(r, data.get("counts_when"), f"{path}.counts_when", fields),
        guards=guards,
        alert=_parse_alert(r, data.get("alert"), f"{path}.alert", fields),
    )


def _parse_extension(r: _Reader, raw: object) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Who may request an extension, who approves it, and by how many days at most.
    ``roles`` is what version-1 workflows (stored for the cases opened on them) call the
    requesting roles; their approver is the bureau."""
    data = r.mapping(raw, "extension")
    for key in data:
        if key not in ("request_roles", "approve_roles", "roles", "max_days"):
            r.problem(f"extension.{key}", _("unknown key"))
    if "roles" in data and "request_roles" in data:
        r.problem("extension.roles", _("`roles` is the old name of `request_roles`; give one"))
    key = "request_roles" if "request_roles" in data else "roles"
    request = r.names(data.get(key, ["bureau"]), f"extension.{key}")
    if not request:
        r.problem(f"extension.{key}", _("names no role: nobody could request an extension"))
    if "approve_roles" not in data and key == "request_roles":
        r.problem(
            "extension.approve_roles",
            _("is required: the roles that approve an extension request (never the requester)"),
        )
    approve = r.names(data.get("approve_roles", ["bureau"]), "extension.approve_roles")
    if not approve and "approve_roles" in data:
        r.problem("extension.approve_roles", _("names no role: no request could be approved"))
    for path, roles in ((f"extension.{key}", request), ("extension.approve_roles", approve)):
        for role in roles:
            if role not in ROLES:
                r.problem(
                    path,
                    _("unknown role {role!r}; known: {roles}").format(
                        role=role, roles=", ".join(ROLES)
                    ),
                )
    max_days = r.integer(data, "max_days", "extension", default=30)
    if max_days == 0:
        r.problem("extension.max_days", _("must be at least 1"))
    return request, approve, max_days


def _parse_field_values(
    r: _Reader, raw: object, path: str, fields: tuple[FieldSpec, ...]
) -> tuple[tuple[str, str], ...]:
    """``{field: value}`` (``counts_when``, an alert's ``when``): each a choice field of
    the transition and one of its values."""
    wanted = []
    for name, value in r.mapping(raw, path).items():
        spec = next((f for f in fields if f.name == name), None)
        if spec is None or spec.type != "choice":
            r.problem(f"{path}.{name}", _("must name a choice field of the transition"))
        elif str(value) not in dict(spec.choices):
            r.problem(
                f"{path}.{name}",
                _("is {value!r}; choose one of: {items}").format(
                    value=value, items=", ".join(dict(spec.choices))
                ),
            )
        else:
            wanted.append((str(name), str(value)))
    return tuple(wanted)


def _parse_alert(r: _Reader, raw: object, path: str, fields: tuple[FieldSpec, ...]) -> Alert | None:
    """``alert: {when: {field: value}, notify: [recipients], template: T}``."""
    if raw is None:
        return None
    data = r.mapping(raw, path)
    for key in data:
        if key not in {"when", "notify", "template"}:
            r.problem(f"{path}.{key}", _("unknown key; known: when, notify, template"))
    if not data.get("when"):
        r.problem(f"{path}.when", _("needs the field values that raise the alert"))
    when = _parse_field_values(r, data.get("when"), f"{path}.when", fields)
    notify = _parse_recipients(r, data.get("notify"), f"{path}.notify", "alert")
    return Alert(when=when, notify=notify, template=r.text(data, "template", path))


def _parse_recipients(r: _Reader, raw: object, path: str, what: str) -> tuple[str, ...]:
    """``notify: [recipient, ...]``: at least one, each of ``RECIPIENTS``."""
    notify = r.names(raw, path)
    if not notify:
        r.problem(path, _("an {what} needs at least one recipient").format(what=what))
    for recipient in notify:
        if recipient not in RECIPIENTS:
            r.problem(
                path,
                _("unknown recipient {recipient!r}; known: {recipients}").format(
                    recipient=recipient, recipients=", ".join(RECIPIENTS)
                ),
            )
    return notify


def _parse_state(
    r: _Reader,
    state_id: str,
    raw: object,
    ladders: Mapping[str, tuple[Rung, ...]],
) -> State:
    path = f"states.{state_id}"
    data = r.mapping(raw, path)
    kind = r.choice(data, "kind", path, STATE_KINDS)
    category = data.get("category")
    if category not in CATEGORIES:
        r.problem(
            f"{path}.category",
            (
                _("is required; the categories are: {categories}")
                if category is None
                else _("is {category!r}; the categories are: {categories}")
            ).format(category=category, categories=", ".join(CATEGORIES)),
        )
    elif (kind == "terminal") != (category in TERMINAL_CATEGORIES):
        r.problem(
            f"{path}.category",
            _(
                "a {kind} state cannot be {category!r}; terminal states, and only they, are "
                "{categories}"
            ).format(
                kind=kind, category=category, categories=_(" or ").join(sorted(TERMINAL_CATEGORIES))
            ),
        )
    responsible = data.get("responsible")
    if kind != "terminal" and responsible not in RESPONSIBLE:
        r.problem(
            f"{path}.responsible",
            _("is {responsible!r}; expected one of: {responsible2}").format(
                responsible=responsible, responsible2=", ".join(RESPONSIBLE)
            ),
        )
    ladder_ref = data.get("escalation")
    ladder: tuple[Rung, ...] = ()
    if isinstance(ladder_ref, str):
        if ladder_ref in ladders:
            ladder = ladders[ladder_ref]
        else:
            r.problem(
                f"{path}.escalation",
                _("unknown ladder {ladder_ref!r}; defined: {value}").format(
                    ladder_ref=ladder_ref, value=", ".join(ladders) or "none"
                ),
            )
    elif ladder_ref is not None:
        ladder = _parse_ladder(r, ladder_ref, f"{path}.escalation")
    deadline = _parse_deadline(r, data.get("deadline"), f"{path}.deadline")
    if kind == "waiting" and deadline is None:
        r.problem(f"{path}.deadline", _("a waiting state needs a deadline"))
    if kind == "terminal" and (deadline is not None or ladder):
        r.problem(path, _("a terminal state has no deadline or escalation"))
    if ladder and deadline is None:
        r.problem(f"{path}.escalation", _("an escalation ladder needs a deadline to count from"))
    closes_as = data.get("closes_as")
    if closes_as is not None and (category != "closing" or not isinstance(closes_as, str)):
        r.problem(
            f"{path}.closes_as", _("names a closure reason, and only a closing state has one")
        )
        closes_as = None
    return State(
        id=state_id,
        label=r.text(data, "label", path),
        kind=kind,  # type: ignore[arg-type]
        category=str(category),
        responsible=str(responsible) if responsible is not None else None,
        deadline=deadline,
        ladder=ladder,
        closes_as=closes_as,
    )


def _parse_closure_meanings(
    r: _Reader, raw: object, reasons: Mapping[str, str], states: Mapping[str, State]
) -> Mapping[str, str]:
    """``closure_meanings: {reason: meaning}``: each a declared closure reason and one of
    ``CLOSURE_MEANINGS``; a state's ``closes_as`` must be a declared closure reason."""
    meanings: dict[str, str] = {}
    for reason, meaning in r.mapping(raw, "closure_meanings").items():
        path = f"closure_meanings.{reason}"
        if str(reason) not in reasons:
            r.problem(
                path,
                _("unknown closure reason; the reasons are: {reasons}").format(
                    reasons=", ".join(reasons)
                ),
            )
        elif meaning not in CLOSURE_MEANINGS:
            r.problem(
                path,
                _("is {meaning!r}; the meanings are: {closure_meanings}").format(
                    meaning=meaning, closure_meanings=", ".join(CLOSURE_MEANINGS)
                ),
            )
        else:
            meanings[str(reason)] = str(meaning)
    for state in states.values():
        if state.closes_as is not None and state.closes_as not in reasons:
            r.problem(
                f"states.{state.id}.closes_as",
                _("unknown closure reason {reason!r}; the reasons are: {reasons}").format(
                    reason=state.closes_as, reasons=", ".join(reasons)
                ),
            )
    return MappingProxyType(meanings)


def _parse_vocabulary(r: _Reader, raw: object, path: str) -> dict[str, str]:
    entries = {str(code): label for code, label in r.mapping(raw, path).items()}
    for code, label in entries.items():
        if not isinstance(label, str) or not label:
            r.problem(f"{path}.{code}", _("needs its label (the text people see)"))
    if not entries:
        r.problem(path, _("lists no values"))
    return {code: str(label) for code, label in entries.items()}


def _parse_register_groups(r: _Reader, raw: object, groups: Mapping[str, str]) -> dict[str, str]:
    """Each register purpose (``REGISTER_GROUPS``) names one of the special groups."""
    found: dict[str, str] = {}
    for purpose, group in r.mapping(raw, "register_groups").items():
        path = f"register_groups.{purpose}"
        if purpose not in REGISTER_GROUPS:
            r.problem(
                path,
                _("unknown register purpose; they are: {register_groups}").format(
                    register_groups=", ".join(REGISTER_GROUPS)
                ),
            )
        elif str(group) not in groups:
            r.problem(path, _("{group!r} is not one of the special_groups").format(group=group))
        else:
            found[str(purpose)] = str(group)
    return found


def _parse_routes(
    r: _Reader,
    raw: object,
    states: Mapping[str, State],
    transitions: tuple[Transition, ...],
) -> dict[str, str]:
    """Each route names a trigger that leaves the initial state (the route is taken
    right after a case is opened)."""
    initial = next((s.id for s in states.values() if s.kind == "initial"), None)
    routes: dict[str, str] = {}
    for purpose, trigger in r.mapping(raw, "routes").items():
        path = f"routes.{purpose}"
        if purpose not in ROUTES:
            r.problem(
                path, _("unknown route; the routes are: {routes}").format(routes=", ".join(ROUTES))
            )
        elif not any(t.trigger == trigger and initial in t.sources for t in transitions):
            r.problem(
                path,
                _("{trigger!r} is not a trigger from the initial state {initial!r}").format(
                    trigger=trigger, initial=initial
                ),
            )
        else:
            routes[str(purpose)] = str(trigger)
    return routes


def _check_graph(
    r: _Reader,
    states: Mapping[str, State],
    transitions: tuple[Transition, ...],
) -> None:
    initial = [s.id for s in states.values() if s.kind == "initial"]
    if len(initial) != 1:
        r.problem(
            "states",
            _("exactly one state must be initial; found {count}").format(count=len(initial)),
        )
    seen_from: dict[tuple[str, str], int] = {}
    for index, t in enumerate(transitions):
        path = f"transitions[{index}]"
        for source in t.sources:
            if source not in states:
                r.problem(f"{path}.from", _("unknown state {source!r}").format(source=source))
            elif states[source].is_terminal:
                r.problem(
                    f"{path}.from",
                    _("{source!r} is terminal; nothing leaves it").format(source=source),
                )
            key = (t.trigger, source)
            if key in seen_from:
                r.problem(
                    f"{path}.trigger",
                    _(
                        "duplicate trigger {trigger!r} from state {source!r} (also "
                        "transitions[{seen_from}])"
                    ).format(trigger=t.trigger, source=source, seen_from=seen_from[key]),
                )
            seen_from.setdefault(key, index)
        if t.dest and t.dest not in states:
            r.problem(f"{path}.to", _("unknown state {dest!r}").format(dest=t.dest))
        if not t.roles and not t.auto:
            r.problem(f"{path}.roles", _("a transition needs at least one role (or auto: true)"))
        for guard in t.guards:
            name, _sep, value = guard.partition("=")
            if name.startswith(RECORDED) and not any(
                spec.name == name.removeprefix(RECORDED) and value in dict(spec.choices)
                for x in transitions
                for spec in x.fields
            ):
                r.problem(
                    f"{path}.guard",
                    _(
                        "{guard!r}: no transition records {value!r} as a choice with the value "
                        "{value2!r}"
                    ).format(guard=guard, value=name.removeprefix(RECORDED), value2=value),
                )
            if name.startswith(RECORDED) and t.auto:
                r.problem(
                    f"{path}.guard",
                    _("{guard!r} would refuse an automatic transition").format(guard=guard),
                )
        for trigger, count in t.requires:
            if trigger not in {x.trigger for x in transitions}:
                r.problem(
                    f"{path}.requires.{trigger}",
                    _("unknown trigger {trigger!r}").format(trigger=trigger),
                )
            if isinstance(count, str) and t.auto:
                r.problem(
                    f"{path}.requires.{trigger}",
                    _(
                        "an automatic transition cannot wait on a county setting: the sweep "
                        "fires it by the workflow alone; give a number or make it a step"
                    ),
                )
        if t.auto and t.documents:
            r.problem(
                f"{path}.documents",
                _(
                    "an automatic transition cannot issue documents: no caseworker is "
                    "there to supply what a letter needs"
                ),
            )
        if t.auto and t.alert is not None:
            r.problem(f"{path}.alert", _("an automatic transition records no values to alert on"))
        entered = states.get(t.dest)
        if t.auto and entered is not None and entered.deadline and entered.deadline.until_term_end:
            r.problem(
                f"{path}.auto",
                _(
                    "enters {dest!r}, whose period the county may run on to the end of the "
                    "term: that is refused while no term end covers it, and the sweep "
                    "cannot be refused; make it a step"
                ).format(dest=t.dest),
            )
        if t.auto:
            for source in t.sources:
                if source in states and states[source].deadline is None:
                    r.problem(
                        f"{path}.auto",
                        _("fires when {source!r} falls due, but {source!r} has no deadline").format(
                            source=source
                        ),
                    )
        if "deadline_passed" in t.guards:
            if t.auto:
                r.problem(
                    f"{path}.guard",
                    _(
                        "deadline_passed would refuse an automatic transition: the sweep fires "
                        "it on the due date itself"
                    ),
                )
            for source in t.sources:
                if source in states and states[source].deadline is None:
                    r.problem(
                        f"{path}.guard",
                        _(
                            "deadline_passed from {source!r}, which has no deadline: never allowed"
                        ).format(source=source),
                    )
        if t.returns:
            for source in t.sources:
                if source in states and not _entered_from(source, transitions):
                    r.problem(
                        f"{path}.returns",
                        _(
                            "returns from {source!r}, which no transition enters from elsewhere"
                        ).format(source=source),
                    )
        if t.auto and "second_person" in t.guards:
            r.problem(f"{path}.guard", _("second_person needs a person: not an auto transition"))
        if t.renews_deadline and any(source != t.dest for source in t.sources):
            r.problem(
                f"{path}.renews_deadline",
                _("only a transition that stays in its state renews the deadline"),
            )
    outgoing = {source for t in transitions for source in t.sources}
    for state in states.values():
        if not state.is_terminal and state.id not in outgoing:
            r.problem(f"states.{state.id}", _("non-terminal state has no way out"))
    if len(initial) == 1:
        reachable = {initial[0]}
        queue = deque(initial)
        while queue:
            current = queue.popleft()
            for t in transitions:
                if current not in t.sources:
                    continue
                dests = _entered_from(current, transitions) if t.returns else (t.dest,)
                for dest in dests:
                    if dest in states and dest not in reachable:
                        reachable.add(dest)
                        queue.append(dest)
        for state_id in states:
            if state_id not in reachable:
                r.problem(
                    f"states.{state_id}",
                    _("unreachable from the initial state {initial!r}").format(initial=initial[0]),
                )


def _entered_from(state_id: str, transitions: tuple[Transition, ...]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            source
            for t in transitions
            if t.dest == state_id
            for source in t.sources
            if source != state_id
        )
    )


@dataclass(frozen=True)
class TemplateCatalogue:
    """What ``caseflow workflow check`` knows of the documents, without rendering any.

    ``fields``: each template's declared fields (its ``caseflow:fields`` line).
    ``case_fields``: what a case supplies to a document named by a transition's
    ``documents:`` (``caseflow.services.letters.CASE_FIELDS``).
    ``sweep_fields``: per template, what the escalation sweep supplies when a rung names
    it (``caseflow.services.letters.sweep_fields``).
    ``alert_fields``: what a transition's ``alert`` supplies to its template
    (``caseflow.services.alerts.ALERT_FIELDS``).
    A supplied field also supplies everything below it: ``escalation.cases`` is one list.
    """

    fields: Mapping[str, frozenset[str]]
    case_fields: frozenset[str]
    sweep_fields: Mapping[str, frozenset[str]]
    alert_fields: frozenset[str] = frozenset()


def unsuppliable(needed: Iterable[str], supplied: frozenset[str]) -> list[str]:
    """The fields in ``needed`` that neither ``supplied`` nor a prefix of them in it covers."""
    missing = []
    for name in needed:
        parts = name.split(".")
        if not any(".".join(parts[:end]) in supplied for end in range(1, len(parts) + 1)):
            missing.append(name)
    return sorted(missing)


def _check_templates(
    r: _Reader,
    states: Mapping[str, State],
    transitions: tuple[Transition, ...],
    templates: frozenset[str] | TemplateCatalogue,
) -> None:
    catalogue: TemplateCatalogue | None = None
    if isinstance(templates, TemplateCatalogue):
        catalogue, known = templates, frozenset(templates.fields)
    else:
        known = templates
    for state in states.values():
        for rung in state.ladder:
            path = f"states.{state.id}.escalation[{rung.index}].template"
            if rung.template and rung.template not in known:
                r.problem(
                    path,
                    _("template {template!r} does not exist in templates/").format(
                        template=rung.template
                    ),
                )
            elif rung.template and catalogue is not None:
                missing = unsuppliable(
                    catalogue.fields[rung.template],
                    catalogue.sweep_fields.get(rung.template, frozenset()),
                )
                if missing:
                    r.problem(
                        path,
                        _(
                            "template {template!r} needs {missing}, which the escalation sweep "
                            "cannot supply"
                        ).format(template=rung.template, missing=", ".join(missing)),
                    )
    for index, t in enumerate(transitions):
        if t.alert is not None and t.alert.template:
            path = f"transitions[{index}].alert.template"
            template = t.alert.template
            if template not in known:
                r.problem(
                    path,
                    _("template {template!r} does not exist in templates/").format(
                        template=template
                    ),
                )
            elif catalogue is not None:
                missing = unsuppliable(catalogue.fields[template], catalogue.alert_fields)
                if missing:
                    r.problem(
                        path,
                        _(
                            "template {template!r} needs {missing}, which an alert cannot supply"
                        ).format(template=template, missing=", ".join(missing)),
                    )
        for document in t.documents:
            path = f"transitions[{index}].documents"
            if document not in known:
                r.problem(
                    path,
                    _("template {document!r} does not exist in templates/").format(
                        document=document
                    ),
                )
            elif catalogue is not None:
                missing = unsuppliable(catalogue.fields[document], catalogue.case_fields)
                missing += _unrecorded(catalogue.fields[document], t, transitions)
                if missing:
                    r.problem(
                        path,
                        _(
                            "template {document!r} needs {missing}, which a case cannot supply"
                        ).format(document=document, missing=", ".join(missing)),
                    )


def _unrecorded(
    needed: Iterable[str], issuing: Transition, transitions: tuple[Transition, ...]
) -> list[str]:
    """The ``step.*``, ``earlier.*`` and ``procedure.*`` fields of a document that the
    transition issuing it cannot supply: ``step.X`` is a field of that transition,
    ``earlier.X`` a field of a transition that can come before it, ``procedure.X`` a
    county setting."""
    settings = {*SETTINGS, *TEXT_SETTINGS, *COUNT_SETTINGS}
    before = _transitions_before(issuing, transitions)
    missing = []
    for name in needed:
        space, _, field = name.partition(".")
        if space == "step":
            known = {f.name for f in issuing.fields}
        elif space == "earlier":
            known = {f.name for t in before for f in t.fields}
        elif space == "procedure":
            known = settings
        else:
            continue
        if field not in known:
            missing.append(name)
    return sorted(missing)


def _transitions_before(
    issuing: Transition, transitions: tuple[Transition, ...]
) -> list[Transition]:
    """Every transition a case may have taken before ``issuing``: those leading, step by
    step, into the states it leaves (a ``returns`` transition only goes back where the
    case was, so it leads nowhere new)."""
    reached = set(issuing.sources)
    found: list[Transition] = []
    while True:
        more = [t for t in transitions if t not in found and not t.returns and t.dest in reached]
        if not more:
            return found
        found.extend(more)
        reached.update(source for t in more for source in t.sources)


def _parse_documents(
    r: _Reader,
    raw: object,
    states: Mapping[str, State],
    transitions: tuple[Transition, ...],
) -> dict[str, DocumentSpec]:
    """``documents: {template: {issuer, administrative, addressed_to}}``. When the section
    is there, every document a transition issues or a rung sends is declared in it; an
    administrative document is issued by an administrative authority."""
    if raw is None:
        return {}
    specs: dict[str, DocumentSpec] = {}
    for template, item in r.mapping(raw, "documents").items():
        path = f"documents.{template}"
        data = r.mapping(item, path)
        for key in data:
            if key not in {"issuer", "administrative", "addressed_to"}:
                r.problem(
                    f"{path}.{key}", _("unknown key; known: issuer, administrative, addressed_to")
                )
        issuer = r.choice(data, "issuer", path, ISSUERS)
        administrative = data.get("administrative", False)
        if not isinstance(administrative, bool):
            r.problem(f"{path}.administrative", _("must be true or false"))
            administrative = False
        if administrative and issuer not in ADMINISTRATIVE_ISSUERS:
            r.problem(
                f"{path}.issuer",
                _(
                    "{issuer!r} ({label}) may not issue an administrative document; only an "
                    "administrative authority may (义务教育法第五十八条): {issuers}"
                ).format(
                    issuer=issuer,
                    label=ISSUERS[issuer],
                    issuers=", ".join(sorted(ADMINISTRATIVE_ISSUERS)),
                ),
            )
        addressed_to = data.get("addressed_to")
        if addressed_to is not None and addressed_to not in ADDRESSEES:
            r.problem(
                f"{path}.addressed_to",
                _("is {addressed_to!r}; expected one of: {addressees}").format(
                    addressed_to=addressed_to, addressees=", ".join(ADDRESSEES)
                ),
            )
            addressed_to = None
        specs[str(template)] = DocumentSpec(
            str(template), issuer, administrative, str(addressed_to) if addressed_to else None
        )
    for index, t in enumerate(transitions):
        accompanied = [d for d in t.documents if d in specs and not _accompanies(specs[d])]
        for document in t.documents:
            where = f"transitions[{index}].documents"
            if document not in specs:
                r.problem(
                    where,
                    _("{document!r} is not declared under `documents:`").format(document=document),
                )
            elif _accompanies(specs[document]) and not accompanied:
                r.problem(
                    where,
                    _(
                        "{document!r} accompanies another document (issuer or addressee "
                        "served_document), and this transition issues none"
                    ).format(document=document),
                )
    for index, t in enumerate(transitions):
        if t.alert is None or not t.alert.template:
            continue
        where = f"transitions[{index}].alert.template"
        alert = specs.get(t.alert.template)
        if alert is None:
            r.problem(
                where,
                _("{template!r} is not declared under `documents:`").format(
                    template=t.alert.template
                ),
            )
        elif alert.issuer != "leading_group_office" or alert.administrative:
            r.problem(
                where,
                _(
                    "{template!r} is an alert, an internal work document of the leading "
                    "group's office: declare it `{{issuer: leading_group_office}}`"
                ).format(template=t.alert.template),
            )
    for state in states.values():
        for rung in state.ladder:
            if rung.template and rung.template not in specs:
                r.problem(
                    f"states.{state.id}.escalation[{rung.index}].template",
                    _("{template!r} is not declared under `documents:`").format(
                        template=rung.template
                    ),
                )
    return specs


def _parse_full_id_number(
    r: _Reader, raw: object, departments: Mapping[str, str]
) -> Mapping[str, Disclosure]:
    """``full_id_number: {department: {purpose, basis}}``: who may receive the full ID."""
    found: dict[str, Disclosure] = {}
    for department, item in r.mapping(raw, "full_id_number").items():
        path = f"full_id_number.{department}"
        if department not in departments:
            r.problem(
                path,
                _("unknown department {department!r}; the workflow declares: {departments}").format(
                    department=department, departments=", ".join(departments) or _("none")
                ),
            )
        data = r.mapping(item, path)
        for key in data:
            if key not in ("purpose", "basis"):
                r.problem(f"{path}.{key}", _("unknown key; known: purpose, basis"))
        found[str(department)] = Disclosure(
            purpose=r.text(data, "purpose", path), basis=r.text(data, "basis", path)
        )
    return MappingProxyType(found)


def _accompanies(spec: DocumentSpec) -> bool:
    return "served_document" in (spec.issuer, spec.addressed_to)


def _parse_migrate_from(
    r: _Reader, raw: object, states: Mapping[str, State], version: object
) -> Mapping[int, Mapping[str, str]]:
    """``migrate_from: {1: {old_id: new_id}}``: where a state of an older version went.
    A state whose id is the same in both versions needs no entry."""
    maps: dict[int, Mapping[str, str]] = {}
    for old_version, raw_map in r.mapping(raw, "migrate_from").items():
        path = f"migrate_from.{old_version}"
        if isinstance(old_version, bool) or not isinstance(old_version, int) or old_version < 1:
            r.problem(path, _("must be an older version number, such as 1"))
            continue
        if isinstance(version, int) and old_version >= version:
            r.problem(
                path,
                _("names version {old_version}, which is not older than {version}").format(
                    old_version=old_version, version=version
                ),
            )
        mapping: dict[str, str] = {}
        for old_id, new_id in r.mapping(raw_map, path).items():
            entry = f"{path}.{old_id}"
            if not isinstance(new_id, str):
                r.problem(entry, _("must name a state of this version"))
            elif new_id not in states:
                r.problem(
                    entry,
                    _("unknown state {new_id!r}; states: {states}").format(
                        new_id=new_id, states=", ".join(states)
                    ),
                )
            elif states[new_id].is_terminal:
                r.problem(
                    entry,
                    _(
                        "maps to {new_id!r}, which is terminal: only open cases move to a new "
                        "version, and a migration closes none; map it to an open state"
                    ).format(new_id=new_id),
                )
            else:
                mapping[str(old_id)] = new_id
        maps[old_version] = MappingProxyType(mapping)
    return MappingProxyType(maps)


def parse_workflow(
    text: str,
    file: str,
    template_ids: Iterable[str] | TemplateCatalogue | None = None,
) -> tuple[Workflow | None, list[Problem]]:
    """Parse and check a workflow. Given template ids, the templates it names must exist;
    given a ``TemplateCatalogue``, they must also need only fields their renderer supplies
    (a transition's documents: the case; a rung's: the escalation sweep)."""
    r = _Reader(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        r.problem(*yaml_problem(exc))
        return None, r.problems
    data = r.mapping(raw, "")
    if not data:
        r.problem("", _("the file is empty or not a mapping"))
        return None, r.problems
    for key in data:
        if key not in {
            "name",
            "version",
            "label",
            "description",
            "ladders",
            "states",
            "transitions",
            "extension",
            "routes",
            "register_groups",
            *VOCABULARIES,
            "migrate_from",
            "documents",
            "full_id_number",
            "closure_meanings",
            "reopen",
        }:
            r.problem(key, _("unknown key"))
    vocabularies = {
        name: MappingProxyType(_parse_vocabulary(r, data.get(name), name))
        for name in VOCABULARIES
        if name in data
    }
    ladders = {
        str(name): _parse_ladder(r, rungs, f"ladders.{name}")
        for name, rungs in r.mapping(data.get("ladders"), "ladders").items()
    }
    states = {
        str(state_id): _parse_state(r, str(state_id), raw_state, ladders)
        for state_id, raw_state in r.mapping(data.get("states"), "states").items()
    }
    raw_transitions = data.get("transitions") or []
    if not isinstance(raw_transitions, list):
        r.problem("transitions", _("must be a list"))
        raw_transitions = []
    transitions = tuple(
        _parse_transition(r, item, f"transitions[{i}]", vocabularies, states)
        for i, item in enumerate(raw_transitions)
    )
    _check_graph(r, states, transitions)
    document_specs = _parse_documents(r, data.get("documents"), states, transitions)
    routes = _parse_routes(r, data.get("routes"), states, transitions)
    register_groups = _parse_register_groups(
        r, data.get("register_groups"), vocabularies.get("special_groups", {})
    )
    if template_ids is not None:
        _check_templates(
            r,
            states,
            transitions,
            template_ids
            if isinstance(template_ids, TemplateCatalogue)
            else frozenset(template_ids),
        )
    extension_roles, extension_approve_roles, extension_max_days = _parse_extension(
        r, data.get("extension")
    )
    workflow = Workflow(
        name=r.text(data, "name", ""),
        version=r.integer(data, "version", "", default=None),
        label=r.text(data, "label", ""),
        description=r.text(data, "description", "", required=False),
        states=MappingProxyType(states),
        transitions=transitions,
        source=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        extension_roles=extension_roles,
        extension_approve_roles=extension_approve_roles,
        extension_max_days=extension_max_days,
        vocabularies=MappingProxyType(vocabularies),
        routes=MappingProxyType(routes),
        register_groups=MappingProxyType(register_groups),
        migrate_from=_parse_migrate_from(r, data.get("migrate_from"), states, data.get("version")),
        document_specs=MappingProxyType(document_specs),
        full_id_number=_parse_full_id_number(
            r, data.get("full_id_number"), vocabularies.get("departments", {})
        ),
        closure_meanings=_parse_closure_meanings(
            r, data.get("closure_meanings"), vocabularies.get("closure_reasons", {}), states
        ),
        reopen=_parse_reopen(r, data.get("reopen")),
    )
    if template_ids is not None:
        reopen_template = workflow.reopen.template
        known_ids = (
            template_ids.fields if isinstance(template_ids, TemplateCatalogue) else template_ids
        )
        if reopen_template and reopen_template not in known_ids:
            r.problem(
                "reopen.template",
                _("template {reopen_template!r} does not exist").format(
                    reopen_template=reopen_template
                ),
            )
        known = template_ids.fields if isinstance(template_ids, TemplateCatalogue) else template_ids
        for template in document_specs:
            if template not in known:
                r.problem(
                    f"documents.{template}",
                    _("template {template!r} does not exist").format(template=template),
                )
    return workflow, r.problems


def load_workflow_text(text: str, file: str) -> Workflow:
    workflow, problems = parse_workflow(text, file)
    if workflow is None or problems:
        raise WorkflowInvalid(
            _("{count} problem(s) in {file}: ").format(count=len(problems), file=file)
            + "; ".join(str(p) for p in problems)
        )
    return workflow


def load_workflow(path: Path) -> Workflow:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowNotFound(
            _("cannot read workflow file {path}: {reason}").format(path=path, reason=exc.strerror)
        ) from exc
    return load_workflow_text(text, str(path))


def find_workflow_file(name: str, directories: Iterable[Path]) -> Path:
    searched = []
    for directory in directories:
        candidate = directory / f"{name}.yaml"
        if candidate.is_file():
            return candidate
        searched.append(str(directory))
    raise WorkflowNotFound(
        _("no workflow named '{name}' (looked in {folders})").format(
            name=name, folders=", ".join(searched)
        )
    )


# ---------------------------------------------------------------------------------------
# The transitions machine: one per workflow version, shared by every case.


@dataclass(frozen=True)
class Attempt:
    """What the machine's conditions read when a transition is tried: who fires it, on
    which case, with which fields, on which day. ``given`` is None when asking what may be
    done now, before any field is filled in; ``automatic`` is the sweep firing an ``auto``
    transition that has fallen due, which needs no role."""

    case: int
    operator: str
    roles: frozenset[str]
    department: str | None  # the partner department the operator works for, if any
    handed_to: tuple[str, ...]  # the departments the case is handed to
    counters: Mapping[str, int]
    due_on: date | None
    occurred_on: date
    given: frozenset[str] | None = None
    automatic: bool = False
    entered_by: str | None = None  # who moved the case into its current state
    came_from: str | None = None  # where a ``returns`` transition leads back to
    settings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The latest value each field was recorded with on the case (``recorded:`` guards).
    recorded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class Condition(ABC):
    """One condition of one transition of the machine. Called with the event's data
    (``send_event=True``), it reads the ``attempt`` the trigger was fired with; when it
    fails, ``refusal`` is the error that says why, so both come from the same object."""

    def __init__(self, transition: Transition) -> None:
        self.transition = transition
        self.roles = frozenset(transition.roles)

    def __call__(self, event: Any) -> bool:
        attempt: Attempt = event.kwargs["attempt"]
        return self.holds(attempt)

    @abstractmethod
    def holds(self, attempt: Attempt) -> bool: ...

    @abstractmethod
    def refusal(self, attempt: Attempt) -> CaseflowError: ...

    @property
    def step(self) -> str:
        """The transition as a refusal names it: its label and trigger."""
        return _("'{trigger}' ({label})").format(
            trigger=self.transition.trigger, label=self.transition.label
        )

    def _not_permitted(self, attempt: Attempt, why: str = "") -> AccessDenied:
        roles = ", ".join(sorted(attempt.roles)) or _("none")
        return AccessDenied(
            _(
                "operator '{operator}' (roles: {roles}) may not fire {step}; it needs one of: "
                "{needed}"
            ).format(
                operator=attempt.operator,
                roles=roles,
                step=self.step,
                needed=", ".join(self.transition.roles),
            )
            + why
        )


class RoleGranted(Condition):
    """A role the transition allows; the sweep needs none, but fires only ``auto`` ones."""

    def holds(self, attempt: Attempt) -> bool:
        if attempt.automatic:
            return self.transition.auto
        return not attempt.roles.isdisjoint(self.roles)

    def refusal(self, attempt: Attempt) -> CaseflowError:
        if attempt.automatic:
            return TransitionRefused(
                _("{step} is not an automatic transition").format(step=self.step)
            )
        return self._not_permitted(attempt)


class HeldByDepartment(Condition):
    """A partner department fires only on a case handed to it (unless another of the
    operator's roles allows the transition)."""

    def holds(self, attempt: Attempt) -> bool:
        if attempt.automatic or attempt.roles & self.roles != {"department"}:
            return True
        return attempt.department is not None and attempt.department in attempt.handed_to

    def refusal(self, attempt: Attempt) -> CaseflowError:
        handed_to = ", ".join(attempt.handed_to) or _("no department")
        return self._not_permitted(
            attempt,
            _(" (a department only on a case handed to it; this one is with {departments})").format(
                departments=handed_to
            ),
        )


class FieldsGiven(Condition):
    """Every required field of the transition is filled in."""

    def missing(self, attempt: Attempt) -> list[FieldSpec]:
        if attempt.given is None:
            return []
        return [f for f in self.transition.fields if f.required and f.name not in attempt.given]

    def holds(self, attempt: Attempt) -> bool:
        return not self.missing(attempt)

    def refusal(self, attempt: Attempt) -> CaseflowError:
        needed = _(", ").join(
            _("{name} ({label})").format(name=f.name, label=f.label) for f in self.missing(attempt)
        )
        return TransitionRefused(
            _("{step} needs --set for: {fields}").format(step=self.step, fields=needed)
        )


def unmet_requirements(
    transition: Transition,
    counters: Mapping[str, int],
    settings: Mapping[str, str] = MappingProxyType({}),
) -> list[str]:
    """The ``requires`` counts not reached yet in the case's current state (a count the
    county has not set is never reached)."""
    unmet = []
    for trigger, count in transition.requires:
        so_far = counters.get(trigger, 0)
        if isinstance(count, str) and not settings.get(count, "").isdigit():
            unmet.append(
                _(
                    "the county's {setting} ({label}), which is not set: set [procedure] "
                    "{setting} = N in caseflow.toml"
                ).format(setting=count, label=COUNT_SETTINGS[count])
            )
            continue
        required = int(settings[count]) if isinstance(count, str) else count
        if so_far < required:
            unmet.append(
                _("{required} × {trigger} in this state ({so_far} so far)").format(
                    required=required, trigger=trigger, so_far=so_far
                )
            )
    return unmet


class CountsReached(Condition):
    """The transitions it ``requires`` have fired often enough in this state."""

    def holds(self, attempt: Attempt) -> bool:
        return not unmet_requirements(self.transition, attempt.counters, attempt.settings)

    def refusal(self, attempt: Attempt) -> CaseflowError:
        unmet = unmet_requirements(self.transition, attempt.counters, attempt.settings)
        return TransitionRefused(
            _("{step} on case {number} needs {unmet}").format(
                step=self.step, number=attempt.case, unmet=_("; ").join(unmet)
            )
        )


class DeadlinePassed(Condition):
    """The guard ``deadline_passed``: the case's due date is before the event's day."""

    def holds(self, attempt: Attempt) -> bool:
        return attempt.due_on is not None and attempt.due_on < attempt.occurred_on

    def refusal(self, attempt: Attempt) -> CaseflowError:
        if attempt.due_on is None:
            return TransitionRefused(
                _(
                    "{step} on case {number} is allowed only once its deadline has passed, and "
                    "the case has no deadline in this state"
                ).format(step=self.step, number=attempt.case)
            )
        return TransitionRefused(
            _(
                "{step} on case {number} is allowed only once its deadline has passed: it is "
                "due on {due}, so from {first} (this event is dated {date})"
            ).format(
                step=self.step,
                number=attempt.case,
                due=attempt.due_on.isoformat(),
                first=(attempt.due_on + timedelta(days=1)).isoformat(),
                date=attempt.occurred_on.isoformat(),
            )
        )


class SecondPerson(Condition):
    """The guard ``second_person``: someone other than who moved the case into its
    current state (who proposed the closure does not approve it)."""

    def holds(self, attempt: Attempt) -> bool:
        return attempt.entered_by is not None and attempt.entered_by != attempt.operator

    def refusal(self, attempt: Attempt) -> CaseflowError:
        if attempt.entered_by is None:
            return TransitionRefused(
                _(
                    "{step} on case {number} needs a second person, and the case does not "
                    "record who brought it into this state"
                ).format(step=self.step, number=attempt.case)
            )
        return AccessDenied(
            _(
                "operator '{operator}' brought case {number} into this state and may not also "
                "do {step}: another person must"
            ).format(operator=attempt.operator, number=attempt.case, step=self.step)
        )


class RecordedValue(Condition):
    """A guard ``recorded:FIELD=VALUE``: the latest step that recorded FIELD on the case
    recorded VALUE."""

    def __init__(self, transition: Transition, guard: str) -> None:
        super().__init__(transition)
        name, _, self.value = guard.partition("=")
        self.field = name.removeprefix(RECORDED)

    def holds(self, attempt: Attempt) -> bool:
        return attempt.recorded.get(self.field) == self.value

    def refusal(self, attempt: Attempt) -> CaseflowError:
        found = attempt.recorded.get(self.field)
        return TransitionRefused(
            (
                _(
                    "{step} on case {number} is only for a case whose {field} is '{value}'; it "
                    "recorded '{found}'"
                )
                if found is not None
                else _(
                    "{step} on case {number} is only for a case whose {field} is '{value}'; no "
                    "step recorded {field}"
                )
            ).format(
                step=self.step, number=attempt.case, field=self.field, value=self.value, found=found
            )
        )


class CountyChose(Condition):
    """A guard ``SETTING=VALUE``: the county's configuration chose that value."""

    def __init__(self, transition: Transition, guard: str) -> None:
        super().__init__(transition)
        self.setting, _, self.value = guard.partition("=")

    def holds(self, attempt: Attempt) -> bool:
        return attempt.settings.get(self.setting) == self.value

    def refusal(self, attempt: Attempt) -> CaseflowError:
        chosen = attempt.settings.get(self.setting)
        values = " | ".join(SETTINGS[self.setting])
        if chosen is None:
            return TransitionRefused(
                _(
                    "{step} depends on the county's choice of {setting}, which is not set: set "
                    '[procedure] {setting} = "{values}" in caseflow.toml'
                ).format(step=self.step, setting=self.setting, values=values)
            )
        return TransitionRefused(
            _(
                "{step} is the route for {setting}={value}; this county chose {setting}={chosen}"
            ).format(step=self.step, setting=self.setting, value=self.value, chosen=chosen)
        )


class CountySet(Condition):
    """A guard ``needs=SETTING``: the county has set that text in its configuration."""

    def __init__(self, transition: Transition, guard: str) -> None:
        super().__init__(transition)
        self.setting = guard.partition("=")[2]

    def holds(self, attempt: Attempt) -> bool:
        return bool(attempt.settings.get(self.setting, "").strip())

    def refusal(self, attempt: Attempt) -> CaseflowError:
        return TransitionRefused(
            _(
                "{step} needs the county's {setting} ({label}), which is not set: set "
                '[procedure] {setting} = "..." in caseflow.toml (see docs/law.md)'
            ).format(step=self.step, setting=self.setting, label=TEXT_SETTINGS[self.setting])
        )


class ReturnsTo(Condition):
    """One destination of a ``returns`` transition: taken when the case came from it."""

    def __init__(self, transition: Transition, dest: str) -> None:
        super().__init__(transition)
        self.dest = dest

    def holds(self, attempt: Attempt) -> bool:
        return attempt.came_from == self.dest

    def refusal(self, attempt: Attempt) -> CaseflowError:
        return TransitionRefused(
            _(
                "{step} goes back where case {number} came from, and the case does not record "
                "where that was"
            ).format(step=self.step, number=attempt.case)
        )


class DeadlineReached(Condition):
    """The guard ``deadline_reached``: the event is on or after the case's due date."""

    def holds(self, attempt: Attempt) -> bool:
        return attempt.due_on is not None and attempt.due_on <= attempt.occurred_on

    def refusal(self, attempt: Attempt) -> CaseflowError:
        if attempt.due_on is None:
            return TransitionRefused(
                _(
                    "{step} on case {number} waits for a deadline, and the case has none in "
                    "this state"
                ).format(step=self.step, number=attempt.case)
            )
        return TransitionRefused(
            _(
                "{step} on case {number} is allowed from its due date, {due} (this event is "
                "dated {date})"
            ).format(
                step=self.step,
                number=attempt.case,
                due=attempt.due_on.isoformat(),
                date=attempt.occurred_on.isoformat(),
            )
        )


GUARD_CONDITIONS: Mapping[str, type[Condition]] = MappingProxyType(
    {
        "deadline_passed": DeadlinePassed,
        "deadline_reached": DeadlineReached,
        "second_person": SecondPerson,
    }
)


def guard_condition(guard: str) -> Callable[[Transition], Condition] | str:
    """The machine condition a declared guard names, to be built for its transition: one
    of ``GUARDS``, ``needs=SETTING`` (a county text) or ``SETTING=VALUE`` (a county
    choice); when it names none, what is wrong with it."""
    setting, _sep, value = guard.partition("=")
    if setting.startswith(RECORDED):
        if not setting.removeprefix(RECORDED) or not value:
            return _(
                "{guard!r}: write recorded:FIELD=VALUE (a field a step records, a value)"
            ).format(guard=guard)
        return partial(RecordedValue, guard=guard)
    if setting == "needs":
        if value not in TEXT_SETTINGS:
            return _("{guard!r} names no county text; known: {known}").format(
                guard=guard, known=", ".join(TEXT_SETTINGS)
            )
        return partial(CountySet, guard=guard)
    if "=" in guard:
        if value not in SETTINGS.get(setting, ()):
            return _("unknown county choice {guard!r}; known: {known}").format(
                guard=guard,
                known=", ".join(f"{k}={v}" for k, values in SETTINGS.items() for v in values),
            )
        return partial(CountyChose, guard=guard)
    if guard not in GUARD_CONDITIONS:
        return _("unknown guard {guard!r}; known: {known}").format(
            guard=guard, known=", ".join(GUARDS)
        )
    return GUARD_CONDITIONS[guard]


def conditions_of(transition: Transition) -> list[Condition]:
    """The machine's conditions for one transition, in the order they are checked."""
    conditions: list[Condition] = [RoleGranted(transition)]
    if "department" in transition.roles:
        conditions.append(HeldByDepartment(transition))
    if any(f.required for f in transition.fields):
        conditions.append(FieldsGiven(transition))
    if transition.requires:
        conditions.append(CountsReached(transition))
    for guard in transition.guards:
        named = guard_condition(guard)
        if isinstance(named, str):
            raise WorkflowInvalid(
                _("transition '{trigger}': {problem}").format(
                    trigger=transition.trigger, problem=named
                )
            )
        conditions.append(named(transition))
    return conditions


def _machine_transitions(workflow: Workflow) -> list[dict[str, Any]]:
    """The machine's transitions: one per transition, or for one that ``returns``, one per
    source and state it may go back to, each also conditioned on where the case came from."""
    machine: list[dict[str, Any]] = []
    for t in workflow.transitions:
        conditions = conditions_of(t)
        if not t.returns:
            machine.append(
                {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "conditions": conditions,
                }
            )
            continue
        for source in t.sources:
            for dest in workflow.returns_to(source):
                machine.append(
                    {
                        "trigger": t.trigger,
                        "source": source,
                        "dest": dest,
                        "conditions": [*conditions, ReturnsTo(t, dest)],
                    }
                )
    return machine


@lru_cache(maxsize=32)
def machine_for(workflow: Workflow) -> Any:
    """The workflow's one shared machine: no model attached, no ``to_<state>`` shortcuts,
    and every transition guarded by its conditions (built once, here)."""
    from transitions import Machine

    return Machine(
        model=None,
        states=list(workflow.states),
        transitions=_machine_transitions(workflow),
        initial=workflow.initial.id,
        auto_transitions=False,
        send_event=True,
        model_attribute="state",
    )


class _Token:
    """The smallest thing the machine can move: a state and nothing else."""

    def __init__(self, state: str) -> None:
        self.state = state


def fire(workflow: Workflow, state: str, trigger: str, attempt: Attempt) -> str | None:
    """Run ``trigger`` from ``state`` on the workflow's machine; the new state, or None
    when the trigger does not leave ``state`` or a condition does not hold."""
    event = machine_for(workflow).events.get(trigger)
    if event is None or state not in event.transitions:
        return None
    token = _Token(state)
    moved = event.trigger(token, attempt=attempt)
    return token.state if moved else None


def allowed(workflow: Workflow, state: str, attempt: Attempt) -> list[Transition]:
    """The transitions the machine fires from ``state`` for this attempt, each tried on a
    throwaway token: its triggers from there, kept when every condition holds."""
    return [
        transition
        for trigger in machine_for(workflow).get_triggers(state)
        if fire(workflow, state, trigger, attempt) is not None
        and (transition := workflow.find(trigger, state)) is not None
    ]


def refusal(workflow: Workflow, state: str, trigger: str, attempt: Attempt) -> CaseflowError | None:
    """Why the machine does not fire ``trigger`` from ``state``: the refusal of the first
    of its conditions that does not hold (None if the trigger does not leave ``state``)."""
    event = machine_for(workflow).events.get(trigger)
    if event is None or state not in event.transitions:
        return None
    returning: Condition | None = None
    for condition in event.transitions[state][0].conditions:
        check: Condition = condition.func
        if isinstance(check, ReturnsTo):
            returning = check
        elif not check.holds(attempt):
            return check.refusal(attempt)
    return returning.refusal(attempt) if returning is not None else None


# ---------------------------------------------------------------------------------------
# Diagrams


def mermaid(workflow: Workflow) -> str:
    lines = ["stateDiagram-v2", f"    %% {workflow.label} ({workflow.name} v{workflow.version})"]
    for state in workflow.states.values():
        lines.append(f'    state "{state.label}" as {state.id}')
    lines.append(f"    [*] --> {workflow.initial.id}")
    for source, dest, label in _edges(workflow):
        lines.append(f"    {source} --> {dest}: {label}")
    for state in workflow.states.values():
        if state.is_terminal:
            lines.append(f"    {state.id} --> [*]")
    return "\n".join(lines) + "\n"


def _edges(workflow: Workflow) -> list[tuple[str, str, str]]:
    """(source, dest, label) of every move; a ``returns`` transition to each state it may
    go back to."""
    return [
        (source, dest, f"{t.label}（返回）" if t.returns else t.label)
        for t in workflow.transitions
        for source in t.sources
        for dest in (workflow.returns_to(source) if t.returns else (t.dest,))
    ]


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(workflow: Workflow) -> str:
    lines = [
        f"digraph {_dot_quote(workflow.name)} {{",
        f"    label={_dot_quote(f'{workflow.label} v{workflow.version}')};",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];',
        '    edge [fontname="Noto Sans CJK SC", fontsize=10];',
    ]
    for state in workflow.states.values():
        shape = ", shape=doublecircle" if state.is_terminal else ""
        bold = ", penwidth=2" if state.kind == "initial" else ""
        lines.append(f"    {state.id} [label={_dot_quote(state.label)}{shape}{bold}];")
    for source, dest, label in _edges(workflow):
        lines.append(f"    {source} -> {dest} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
