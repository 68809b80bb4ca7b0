"""Workflow definitions: typed immutable models, YAML loading, checks, diagrams,
and the `transitions` machine built from them.

A workflow file is data (see ``workflows/dropout.yaml``). ``parse_workflow`` turns its
text into a ``Workflow`` plus a list of ``Problem``s; ``load_workflow`` raises
``WorkflowInvalid`` when there is any problem, so a loaded workflow is always sound.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from caseflow.errors import WorkflowInvalid, WorkflowNotFound

StateKind = Literal["initial", "waiting", "terminal"]
DeadlineUnit = Literal["working_days", "days"]
FieldType = Literal["choice", "text", "date", "integer"]

STATE_KINDS: tuple[str, ...] = ("initial", "waiting", "terminal")
DEADLINE_UNITS: tuple[str, ...] = ("working_days", "days")
FIELD_TYPES: tuple[str, ...] = ("choice", "text", "date", "integer")

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

DEPARTMENTS: Mapping[str, str] = MappingProxyType(
    {
        "public_security": "县公安局",
        "disability_federation": "县残疾人联合会",
        "health": "县卫生健康局",
        "labour_inspection": "县人力资源和社会保障局（劳动保障监察）",
        "poverty_office": "县乡村振兴局",
        "civil_affairs": "县民政局",
        "womens_federation": "县妇女联合会",
        "youth_league": "共青团县委",
        "court": "县人民法院",
        "procuratorate": "县人民检察院",
        "justice_bureau": "县司法局",
        "relocation_bureau": "县生态移民局",
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

REASON_CODES: Mapping[str, str] = MappingProxyType(
    {
        "learning": "厌学/学习困难",
        "migrant_work": "外出务工",
        "early_marriage": "早婚早育",
        "poverty": "贫困",
        "illness": "疾病",
        "disability": "残疾",
        "distance": "路远",
        "parents_neglect": "家长不重视",
        "family_change": "家庭变故/监护缺失",
        "bullying": "欺凌",
        "other": "其他",
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
    responsible: str | None = None
    deadline: DeadlineSpec | None = None
    ladder: tuple[Rung, ...] = ()

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
    requires: tuple[tuple[str, int], ...] = ()
    renews_deadline: bool = False
    counts_repeat: bool = False

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


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
    extension_roles: tuple[str, ...] = ("bureau",)
    extension_max_days: int = 30
    # For each older version: its state ids that are named differently here (old -> new).
    migrate_from: Mapping[int, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def initial(self) -> State:
        return next(s for s in self.states.values() if s.kind == "initial")

    def state(self, state_id: str) -> State:
        return self.states[state_id]

    def transitions_from(self, state_id: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state_id in t.sources)

    def find(self, trigger: str, state_id: str) -> Transition | None:
        return next((t for t in self.transitions_from(state_id) if t.trigger == trigger), None)

    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.transitions)


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
            self.problem(path, f"expected a mapping, got {type(value).__name__}")
        return {}

    def text(self, data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(f"{path}.{key}" if path else key, "is required")
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.problem(f"{path}.{key}" if path else key, "must be text")
            return ""
        return str(value)

    def integer(
        self, data: Mapping[str, Any], key: str, path: str, default: int | None = None
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{path}.{key}", "must be a whole number")
            return 0
        if value < 0:
            self.problem(f"{path}.{key}", "must not be negative")
        return value

    def names(self, value: object, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(path, "must be a name or a list of names")
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
            self.problem(f"{path}.{key}", f"is {value!r}; expected one of: {', '.join(allowed)}")
            return allowed[0]
        return str(value)


def _parse_deadline(r: _Reader, raw: object, path: str) -> DeadlineSpec | None:
    if raw is None:
        return None
    data = r.mapping(raw, path)
    return DeadlineSpec(
        amount=r.integer(data, "amount", path),
        unit=r.choice(data, "unit", path, DEADLINE_UNITS),  # type: ignore[arg-type]
        basis=r.text(data, "basis", path),
    )


def _parse_ladder(r: _Reader, raw: object, path: str) -> tuple[Rung, ...]:
    if not isinstance(raw, list):
        r.problem(path, "an escalation ladder must be a list of rungs")
        return ()
    rungs = []
    for index, item in enumerate(raw):
        rung_path = f"{path}[{index}]"
        data = r.mapping(item, rung_path)
        notify = r.names(data.get("notify"), f"{rung_path}.notify")
        if not notify:
            r.problem(f"{rung_path}.notify", "an escalation rung needs at least one recipient")
        for recipient in notify:
            if recipient not in RECIPIENTS:
                r.problem(
                    f"{rung_path}.notify",
                    f"unknown recipient {recipient!r}; known: {', '.join(RECIPIENTS)}",
                )
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
        r.problem(path, "rungs must be listed in order of their offsets")
    return tuple(rungs)


def _parse_fields(r: _Reader, raw: object, path: str) -> tuple[FieldSpec, ...]:
    specs = []
    for name, item in r.mapping(raw, path).items():
        field_path = f"{path}.{name}"
        data = r.mapping(item, field_path)
        ftype = r.choice(data, "type", field_path, FIELD_TYPES)
        choices: tuple[tuple[str, str], ...] = ()
        if ftype == "choice":
            raw_choices = r.mapping(data.get("choices"), f"{field_path}.choices")
            choices = tuple((str(k), str(v)) for k, v in raw_choices.items())
            if not choices:
                r.problem(f"{field_path}.choices", "a choice field needs its allowed values")
        elif "choices" in data:
            r.problem(f"{field_path}.choices", f"only choice fields have choices, not {ftype}")
        sets_due = bool(data.get("sets_due", False))
        if sets_due and ftype != "date":
            r.problem(f"{field_path}.sets_due", "only a date field can set the due date")
        specs.append(
            FieldSpec(
                name=str(name),
                label=r.text(data, "label", field_path),
                type=ftype,  # type: ignore[arg-type]
                choices=choices,
                required=bool(data.get("required", True)),
                sets_due=sets_due,
            )
        )
    return tuple(specs)


def _parse_transition(r: _Reader, raw: object, path: str) -> Transition:
    data = r.mapping(raw, path)
    known = {
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
    }
    for key in data:
        if key not in known:
            r.problem(f"{path}.{key}", "unknown key")
    roles = r.names(data.get("roles"), f"{path}.roles")
    for role in roles:
        if role not in ROLES:
            r.problem(f"{path}.roles", f"unknown role {role!r}; known: {', '.join(ROLES)}")
    handoff = r.names(data.get("handoff"), f"{path}.handoff")
    for department in handoff:
        if department not in DEPARTMENTS:
            r.problem(
                f"{path}.handoff",
                f"unknown department {department!r}; known: {', '.join(DEPARTMENTS)}",
            )
    requires = tuple(
        (str(trigger), r.integer({"n": count}, "n", f"{path}.requires.{trigger}"))
        for trigger, count in r.mapping(data.get("requires"), f"{path}.requires").items()
    )
    sources = r.names(data.get("from"), f"{path}.from")
    if not sources:
        r.problem(f"{path}.from", "is required")
    return Transition(
        trigger=r.text(data, "trigger", path),
        label=r.text(data, "label", path),
        sources=sources,
        dest=r.text(data, "to", path),
        roles=roles,
        fields=_parse_fields(r, data.get("fields"), f"{path}.fields"),
        handoff=handoff,
        documents=r.names(data.get("documents"), f"{path}.documents"),
        auto=bool(data.get("auto", False)),
        requires=requires,
        renews_deadline=bool(data.get("renews_deadline", False)),
        counts_repeat=bool(data.get("counts_repeat", False)),
    )


def _parse_state(
    r: _Reader,
    state_id: str,
    raw: object,
    ladders: Mapping[str, tuple[Rung, ...]],
) -> State:
    path = f"states.{state_id}"
    data = r.mapping(raw, path)
    kind = r.choice(data, "kind", path, STATE_KINDS)
    responsible = data.get("responsible")
    if kind != "terminal" and responsible not in RESPONSIBLE:
        r.problem(
            f"{path}.responsible", f"is {responsible!r}; expected one of: {', '.join(RESPONSIBLE)}"
        )
    ladder_ref = data.get("escalation")
    ladder: tuple[Rung, ...] = ()
    if isinstance(ladder_ref, str):
        if ladder_ref in ladders:
            ladder = ladders[ladder_ref]
        else:
            r.problem(
                f"{path}.escalation",
                f"unknown ladder {ladder_ref!r}; defined: {', '.join(ladders) or 'none'}",
            )
    elif ladder_ref is not None:
        ladder = _parse_ladder(r, ladder_ref, f"{path}.escalation")
    deadline = _parse_deadline(r, data.get("deadline"), f"{path}.deadline")
    if kind == "waiting" and deadline is None:
        r.problem(f"{path}.deadline", "a waiting state needs a deadline")
    if kind == "terminal" and (deadline is not None or ladder):
        r.problem(path, "a terminal state has no deadline or escalation")
    if ladder and deadline is None:
        r.problem(f"{path}.escalation", "an escalation ladder needs a deadline to count from")
    return State(
        id=state_id,
        label=r.text(data, "label", path),
        kind=kind,  # type: ignore[arg-type]
        responsible=str(responsible) if responsible is not None else None,
        deadline=deadline,
        ladder=ladder,
    )


def _check_graph(
    r: _Reader,
    states: Mapping[str, State],
    transitions: tuple[Transition, ...],
) -> None:
    initial = [s.id for s in states.values() if s.kind == "initial"]
    if len(initial) != 1:
        r.problem("states", f"exactly one state must be initial; found {len(initial)}")
    seen_from: dict[tuple[str, str], int] = {}
    for index, t in enumerate(transitions):
        path = f"transitions[{index}]"
        for source in t.sources:
            if source not in states:
                r.problem(f"{path}.from", f"unknown state {source!r}")
            elif states[source].is_terminal:
                r.problem(f"{path}.from", f"{source!r} is terminal; nothing leaves it")
            key = (t.trigger, source)
            if key in seen_from:
                r.problem(
                    f"{path}.trigger",
                    f"duplicate trigger {t.trigger!r} from state "
                    f"{source!r} (also transitions[{seen_from[key]}])",
                )
            seen_from.setdefault(key, index)
        if t.dest and t.dest not in states:
            r.problem(f"{path}.to", f"unknown state {t.dest!r}")
        if not t.roles and not t.auto:
            r.problem(f"{path}.roles", "a transition needs at least one role (or auto: true)")
        for trigger, _count in t.requires:
            if trigger not in {x.trigger for x in transitions}:
                r.problem(f"{path}.requires.{trigger}", f"unknown trigger {trigger!r}")
        if t.auto and t.documents:
            r.problem(
                f"{path}.documents",
                "an automatic transition cannot issue documents: "
                "no caseworker is there to supply what a letter needs",
            )
        if t.auto:
            for source in t.sources:
                if source in states and states[source].deadline is None:
                    r.problem(
                        f"{path}.auto",
                        f"fires when {source!r} falls due, but {source!r} has no deadline",
                    )
        if t.renews_deadline and any(source != t.dest for source in t.sources):
            r.problem(
                f"{path}.renews_deadline",
                "only a transition that stays in its state renews the deadline",
            )
    outgoing = {source for t in transitions for source in t.sources}
    for state in states.values():
        if not state.is_terminal and state.id not in outgoing:
            r.problem(f"states.{state.id}", "non-terminal state has no way out")
    if len(initial) == 1:
        reachable = {initial[0]}
        queue = deque(initial)
        while queue:
            current = queue.popleft()
            for t in transitions:
                if current in t.sources and t.dest in states and t.dest not in reachable:
                    reachable.add(t.dest)
                    queue.append(t.dest)
        for state_id in states:
            if state_id not in reachable:
                r.problem(
                    f"states.{state_id}", f"unreachable from the initial state {initial[0]!r}"
                )


@dataclass(frozen=True)
class TemplateCatalogue:
    """What ``caseflow workflow check`` knows of the documents, without rendering any.

    ``fields``: each template's declared fields (its ``caseflow:fields`` line).
    ``case_fields``: what a case supplies to a document named by a transition's
    ``documents:`` (``caseflow.service_documents.CASE_FIELDS``).
    ``sweep_fields``: per template, what the escalation sweep supplies when a rung names
    it (``caseflow.service_sweep.sweep_fields``).
    A supplied field also supplies everything below it: ``escalation.cases`` is one list.
    """

    fields: Mapping[str, frozenset[str]]
    case_fields: frozenset[str]
    sweep_fields: Mapping[str, frozenset[str]]


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
                r.problem(path, f"template {rung.template!r} does not exist in templates/")
            elif rung.template and catalogue is not None:
                missing = unsuppliable(
                    catalogue.fields[rung.template],
                    catalogue.sweep_fields.get(rung.template, frozenset()),
                )
                if missing:
                    r.problem(
                        path,
                        f"template {rung.template!r} needs {', '.join(missing)}, which the "
                        "escalation sweep cannot supply",
                    )
    for index, t in enumerate(transitions):
        for document in t.documents:
            path = f"transitions[{index}].documents"
            if document not in known:
                r.problem(path, f"template {document!r} does not exist in templates/")
            elif catalogue is not None:
                missing = unsuppliable(catalogue.fields[document], catalogue.case_fields)
                if missing:
                    r.problem(
                        path,
                        f"template {document!r} needs {', '.join(missing)}, which a case "
                        "cannot supply",
                    )


def _parse_migrate_from(
    r: _Reader, raw: object, states: Mapping[str, State], version: object
) -> Mapping[int, Mapping[str, str]]:
    """``migrate_from: {1: {old_id: new_id}}``: where a state of an older version went.
    A state whose id is the same in both versions needs no entry."""
    maps: dict[int, Mapping[str, str]] = {}
    for old_version, raw_map in r.mapping(raw, "migrate_from").items():
        path = f"migrate_from.{old_version}"
        if isinstance(old_version, bool) or not isinstance(old_version, int) or old_version < 1:
            r.problem(path, "must be an older version number, such as 1")
            continue
        if isinstance(version, int) and old_version >= version:
            r.problem(path, f"names version {old_version}, which is not older than {version}")
        mapping: dict[str, str] = {}
        for old_id, new_id in r.mapping(raw_map, path).items():
            entry = f"{path}.{old_id}"
            if not isinstance(new_id, str):
                r.problem(entry, "must name a state of this version")
            elif new_id not in states:
                r.problem(entry, f"unknown state {new_id!r}; states: {', '.join(states)}")
            elif states[new_id].is_terminal:
                r.problem(
                    entry,
                    f"maps to {new_id!r}, which is terminal: only open cases move to a new "
                    "version, and a migration closes none; map it to an open state",
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
        r.problem("", "the file is empty or not a mapping")
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
            "migrate_from",
        }:
            r.problem(key, "unknown key")
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
        r.problem("transitions", "must be a list")
        raw_transitions = []
    transitions = tuple(
        _parse_transition(r, item, f"transitions[{i}]") for i, item in enumerate(raw_transitions)
    )
    _check_graph(r, states, transitions)
    if template_ids is not None:
        _check_templates(
            r,
            states,
            transitions,
            template_ids
            if isinstance(template_ids, TemplateCatalogue)
            else frozenset(template_ids),
        )
    extension = r.mapping(data.get("extension"), "extension")
    extension_roles = r.names(extension.get("roles", ["bureau"]), "extension.roles")
    for role in extension_roles:
        if role not in ROLES:
            r.problem("extension.roles", f"unknown role {role!r}; known: {', '.join(ROLES)}")
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
        extension_max_days=r.integer(extension, "max_days", "extension", default=30),
        migrate_from=_parse_migrate_from(r, data.get("migrate_from"), states, data.get("version")),
    )
    return workflow, r.problems


def load_workflow_text(text: str, file: str) -> Workflow:
    workflow, problems = parse_workflow(text, file)
    if workflow is None or problems:
        raise WorkflowInvalid(
            f"{len(problems)} problem(s) in {file}: " + "; ".join(str(p) for p in problems)
        )
    return workflow


def load_workflow(path: Path) -> Workflow:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowNotFound(f"cannot read workflow file {path}: {exc.strerror}") from exc
    return load_workflow_text(text, str(path))


def find_workflow_file(name: str, directories: Iterable[Path]) -> Path:
    searched = []
    for directory in directories:
        candidate = directory / f"{name}.yaml"
        if candidate.is_file():
            return candidate
        searched.append(str(directory))
    raise WorkflowNotFound(f"no workflow named {name!r} (looked in {', '.join(searched)})")


# ---------------------------------------------------------------------------------------
# The transitions machine: one per workflow version, shared by every case.


@lru_cache(maxsize=32)
def machine_for(workflow: Workflow) -> Any:
    from transitions import Machine

    return Machine(
        model=None,
        states=list(workflow.states),
        transitions=[
            {"trigger": t.trigger, "source": list(t.sources), "dest": t.dest}
            for t in workflow.transitions
        ],
        initial=workflow.initial.id,
        auto_transitions=False,
        send_event=True,
        model_attribute="state",
    )


class _Token:
    """The smallest thing the machine can move: a state and nothing else."""

    def __init__(self, state: str) -> None:
        self.state = state


def fire(workflow: Workflow, state: str, trigger: str) -> str | None:
    """Run ``trigger`` from ``state`` on the workflow's machine; the new state, or None."""
    from transitions import MachineError

    machine = machine_for(workflow)
    event = machine.events.get(trigger)
    if event is None:
        return None
    token = _Token(state)
    try:
        moved = event.trigger(token)
    except MachineError:
        return None
    return token.state if moved else None


def triggers_from(workflow: Workflow, state: str) -> list[str]:
    return list(machine_for(workflow).get_triggers(state))


# ---------------------------------------------------------------------------------------
# Diagrams


def mermaid(workflow: Workflow) -> str:
    lines = ["stateDiagram-v2", f"    %% {workflow.label} ({workflow.name} v{workflow.version})"]
    for state in workflow.states.values():
        lines.append(f'    state "{state.label}" as {state.id}')
    lines.append(f"    [*] --> {workflow.initial.id}")
    for t in workflow.transitions:
        for source in t.sources:
            lines.append(f"    {source} --> {t.dest}: {t.label}")
    for state in workflow.states.values():
        if state.is_terminal:
            lines.append(f"    {state.id} --> [*]")
    return "\n".join(lines) + "\n"


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
    for t in workflow.transitions:
        for source in t.sources:
            lines.append(f"    {source} -> {t.dest} [label={_dot_quote(t.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
