"""The organisation file (``org.yaml`` in the workspace): units, people, operators, and
who receives notices through which channel.

``parse_org`` turns the text into an ``Org`` plus every ``Problem`` it has, each with its
key path (pure; nothing stops at the first problem). ``load_org`` reads the workspace's
file and raises ``WorkspaceError`` listing them all, so a loaded ``Org`` is sound.

An ``Org`` fills a case's 包保 chains (``Org.chain``), labels people for documents
(``Org.person_label``), gives each operator a jurisdiction derived from their unit, and
routes notices (``Org.contacts``: the ``contacts`` section plus what units and people list).
"""

from __future__ import annotations

import difflib
import hashlib
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from caseflow import channels
from caseflow.access import Jurisdiction, jurisdiction_problem
from caseflow.errors import WorkspaceError
from caseflow.escalation import TOWNSHIP_FORMS, township_body, township_form
from caseflow.i18n import _
from caseflow.states import ROLES, Problem, yaml_problem
from caseflow.workspace import Workspace

ADDRESSLESS_CHANNELS = frozenset({"letter"})

UNIT_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "county_government": "县人民政府办公室",
        "education_bureau": "县教育局",
        "supervision_office": "县人民政府教育督导室",
        "department": "协作部门",
        "township": "乡镇",
        "village": "村",
        "group": "村民小组",
        "school": "学校",
    }
)
COUNTY_LEVEL_KINDS = frozenset({"county_government", "education_bureau", "supervision_office"})
# The kinds a unit's parent may have, where it matters.
PARENT_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"village": ("township",), "group": ("village",), "school": ("education_bureau", "township")}
)

POSITIONS: Mapping[str, str] = MappingProxyType(
    {
        "county_leader": "包乡县领导",
        "township_head": "乡镇长",
        "township_cadre": "包村乡镇干部",
        "village_cadre": "包组村干部",
        "group_leader": "村民小组长",
        "bureau_leader": "包校教育局领导",
        "principal": "校长",
        "school_leader": "包年级学校领导",
        "head_teacher": "班主任",
        "subject_teacher": "包人科任教师",
        "department_officer": "部门联络员",
    }
)
# The kind of unit each position sits on.
POSITION_UNIT_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "county_leader": "county_government",
        "township_head": "township",
        "township_cadre": "township",
        "village_cadre": "village",
        "group_leader": "group",
        "bureau_leader": "education_bureau",
        "principal": "school",
        "school_leader": "school",
        "head_teacher": "school",
        "subject_teacher": "school",
        "department_officer": "department",
    }
)
# The kind of unit a position's `covers` names; township and village cadres cover only
# villages (groups) of their own township (village).
COVERS_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "county_leader": "township",
        "township_cadre": "village",
        "village_cadre": "group",
        "bureau_leader": "school",
    }
)
CLASS_POSITIONS = frozenset({"head_teacher", "subject_teacher"})

GOVERNMENT_CHAIN: tuple[str, ...] = (
    "county_leader",
    "township_cadre",
    "village_cadre",
    "group_leader",
)
EDUCATION_CHAIN: tuple[str, ...] = (
    "bureau_leader",
    "principal",
    "school_leader",
    "head_teacher",
    "subject_teacher",
)
CHAIN_ROLES: tuple[str, ...] = GOVERNMENT_CHAIN + EDUCATION_CHAIN

_TOP_KEYS = ("county", "units", "people", "operators", "contacts", "default")
_UNIT_KEYS = (
    "id",
    "kind",
    "name",
    "parent",
    "department",
    "serves",
    "contacts",
    "form",
    "seal",
    "reference_prefix",
    "contact_person",
    "contact_phone",
)
# The units that sign documents: their seal line, 文号 prefix and the contact person and
# phone their documents print may be given.
ISSUING_KINDS = frozenset({"township", "education_bureau", "school", "county_government"})
_PERSON_KEYS = ("id", "name", "position", "unit", "covers", "grades", "grade", "class", "contacts")
_OPERATOR_KEYS = ("name", "os_user", "roles", "unit", "person", "shared_accounts")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# ---------------------------------------------------------------------------------------
# Contacts: who receives notices through which channel


@dataclass(frozen=True)
class Contact:
    channel: str
    address: str  # empty for a letter: it is printed and served by hand


@dataclass(frozen=True)
class Contacts:
    by_key: Mapping[str, tuple[Contact, ...]] = field(default_factory=lambda: MappingProxyType({}))
    default: tuple[Contact, ...] = (Contact("letter", ""),)

    def of(self, recipient: str) -> tuple[Contact, ...]:
        """Channels for an address: listed exactly, else by its role, else the default."""
        role = recipient.partition(":")[0]
        return self.by_key.get(recipient) or self.by_key.get(role) or self.default


Report = Callable[[str, str], None]  # (key path, message)


def _contacts(raw: object, path: str, report: Report) -> tuple[Contact, ...]:
    if not isinstance(raw, list) or not raw:
        report(path, _("must be a list of {channel, address}"))
        return ()
    contacts = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("channel"), str):
            report(where, _("needs a channel (letter, email, ...)"))
            continue
        unknown = sorted(str(key) for key in set(item) - {"channel", "address"})
        for key in unknown:
            report(f"{where}.{key}", _("is not a contact field"))
        address = str(item.get("address") or "")
        written = item["channel"].strip()
        channel = channels.ALIASES.get(written, written)  # 企业微信 → wecom; a county's own stays
        if not address and channel not in ADDRESSLESS_CHANNELS:
            report(where, _("needs an address for {item}").format(item=channel))
            continue
        if not unknown:
            contacts.append(Contact(channel, address))
    return tuple(contacts)


def _contact_section(data: Mapping[str, Any], report: Report) -> Contacts:
    raw = data.get("contacts") or {}
    if not isinstance(raw, Mapping):
        report("contacts", _("must map addresses to channel lists"))
        raw = {}
    by_key = {str(key): _contacts(value, f"contacts.{key}", report) for key, value in raw.items()}
    default = Contacts().default
    if "default" in data:
        default = _contacts(data["default"], "default", report) or default
    return Contacts(MappingProxyType(by_key), default)


# ---------------------------------------------------------------------------------------
# The organisation


@dataclass(frozen=True, kw_only=True)
class Unit:
    id: str
    kind: str  # one of UNIT_KINDS
    name: str
    parent: str | None = None
    department: str | None = None  # a department the workflow declares, for a department unit
    serves: tuple[str, ...] = ()  # village ids, for a school
    contacts: tuple[Contact, ...] = ()
    form: str | None = None  # a township's form: 镇, 乡 or 街道 (else its name's end)
    seal: str | None = None  # the seal line a document prints (else the body's name)
    reference_prefix: str | None = None  # 文号 prefix, e.g. 印教
    contact_person: str | None = None  # who answers for the unit's documents
    contact_phone: str | None = None


@dataclass(frozen=True)
class Authority:
    """A body as the documents it signs print it: its full name, the line under its seal,
    its 文号 prefix, contact person and phone (empty: none given), the title of its head,
    and the org.yaml unit that says so (None: the organisation has none)."""

    name: str
    seal: str
    reference_prefix: str = ""
    head_title: str = ""
    contact_person: str = ""
    contact_phone: str = ""
    unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Person:
    id: str
    name: str
    position: str  # one of POSITIONS
    unit: str
    covers: tuple[str, ...] = ()  # unit ids; none: everything of that kind under the unit
    grades: tuple[str, ...] = ()  # a school leader's grades; none: the whole school
    grade: str | None = None  # a teacher's class: grade and class name
    class_name: str | None = None
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OperatorEntry:
    """Someone who may use caseflow: logs in as ``os_user``; the OS accounts listed in
    ``shared_accounts`` (shared office terminals) may act for them with ``--as``."""

    name: str
    os_user: str
    roles: tuple[str, ...]
    unit: str
    jurisdiction: Jurisdiction
    person: str | None = None
    shared_accounts: tuple[str, ...] = ()

    def usable_by(self, os_user: str) -> bool:
        """Whether an OS account may act as this operator (its own, or a shared one)."""
        return os_user == self.os_user or os_user in self.shared_accounts


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_BRACKETS = str.maketrans("", "", "()[]〔〕【】")


def normal_name(name: str) -> str:
    """A place or class name as matching compares it: full-width letters, digits and
    brackets made plain (NFKC), spaces and brackets dropped: ``（2）班`` is ``2班``."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(folded.split()).translate(_BRACKETS)


@dataclass(frozen=True)
class PlaceCheck:
    """A place named for a child, checked against the organisation: ``name`` as the
    organisation spells it (the given name when unknown), whether it is ``known``, and the
    nearest known names of that kind (for an unknown one)."""

    kind: str
    name: str
    known: bool
    nearest: tuple[str, ...] = ()


@dataclass(frozen=True)
class Org:
    county: str = ""
    units: Mapping[str, Unit] = field(default_factory=lambda: MappingProxyType({}))
    people: Mapping[str, Person] = field(default_factory=lambda: MappingProxyType({}))
    operators: Mapping[str, OperatorEntry] = field(default_factory=lambda: MappingProxyType({}))
    contacts: Contacts = field(default_factory=Contacts)
    sha256: str = _EMPTY_SHA256
    source: str = ""

    @cached_property
    def _holders(self) -> Mapping[str, tuple[Person, ...]]:
        """People by position, in file order."""
        found: dict[str, list[Person]] = {}
        for person in self.people.values():
            found.setdefault(person.position, []).append(person)
        return {position: tuple(people) for position, people in found.items()}

    def _unit_named(self, kind: str, name: str | None, parent: str | None = None) -> str | None:
        if name is None or not name.strip():
            return None
        wanted = normal_name(name)
        return next(
            (
                unit.id
                for unit in self.units.values()
                if unit.kind == kind
                and normal_name(unit.name) == wanted
                and (parent is None or unit.parent == parent)
            ),
            None,
        )

    def check_place(self, kind: str, name: str, parent: str | None = None) -> PlaceCheck | None:
        """``name`` (a township, village or school; a village within the township named
        ``parent``) against the organisation; None when the organisation lists no place of
        that kind there, so there is nothing to check against."""
        parent_id = self._unit_named("township", parent) if kind == "village" else None
        if kind == "village" and parent_id is None:
            return None
        listed = [
            unit.name
            for unit in self.units.values()
            if unit.kind == kind and (parent_id is None or unit.parent == parent_id)
        ]
        if not listed:
            return None
        found = self._unit_named(kind, name, parent_id)
        if found is not None:
            return PlaceCheck(kind, self.units[found].name, True)
        by_normal = {normal_name(n): n for n in listed}
        close = difflib.get_close_matches(normal_name(name), list(by_normal), n=3, cutoff=0.5)
        return PlaceCheck(kind, name.strip(), False, tuple(by_normal[c] for c in close))

    def people_named(self, name: str) -> list[Person]:
        """The people of the organisation with this name (spaces and width aside)."""
        wanted = normal_name(name)
        return [p for p in self.people.values() if normal_name(p.name) == wanted]

    def _on(self, position: str, unit: str | None) -> list[Person]:
        if unit is None:
            return []
        return [p for p in self._holders.get(position, ()) if p.unit == unit]

    @staticmethod
    def _covering(candidates: Iterable[Person], place: str | None) -> Person | None:
        """The first who names the place in ``covers``, else the first who covers nothing
        in particular (so answers for everything under their unit)."""
        candidates = tuple(candidates)
        if place is not None:
            for person in candidates:
                if place in person.covers:
                    return person
        return next((p for p in candidates if not p.covers), None)

    def chain(
        self,
        township: str,
        village: str,
        *,
        group: str | None = None,
        school: str | None = None,
        grade: str | None = None,
        class_name: str | None = None,
    ) -> dict[str, str]:
        """The 包保 chains of a child living in township/village/group and studying at
        school/grade/class: chain role (``CHAIN_ROLES``) → person id. Places are matched by
        name, exactly (surrounding spaces aside); roles nobody holds are absent."""
        township_id = self._unit_named("township", township)
        village_id = self._unit_named("village", village, township_id) if township_id else None
        group_id = self._unit_named("group", group, village_id) if village_id else None
        found: dict[str, Person | None] = {
            "county_leader": self._covering(self._holders.get("county_leader", ()), township_id),
            "township_cadre": self._covering(self._on("township_cadre", township_id), village_id),
        }
        cadres = self._on("village_cadre", village_id)
        if group is None or not group.strip():
            found["village_cadre"] = cadres[0] if cadres else None
        else:
            found["village_cadre"] = self._covering(cadres, group_id)
        found["group_leader"] = next(iter(self._on("group_leader", group_id)), None)
        if school is not None and school.strip():
            school_id = self._unit_named("school", school)
            grade = normal_name(grade) if grade else None
            class_name = normal_name(class_name) if class_name else None
            found["bureau_leader"] = self._covering(
                self._holders.get("bureau_leader", ()), school_id
            )
            found["principal"] = next(iter(self._on("principal", school_id)), None)
            leaders = self._on("school_leader", school_id)
            found["school_leader"] = next(
                (
                    p
                    for p in leaders
                    if grade is not None and grade in {normal_name(g) for g in p.grades}
                ),
                None,
            ) or next((p for p in leaders if not p.grades), None)
            for position in ("head_teacher", "subject_teacher"):
                found[position] = next(
                    (
                        p
                        for p in self._on(position, school_id)
                        if grade is not None
                        and class_name is not None
                        and normal_name(p.grade or "") == grade
                        and normal_name(p.class_name or "") == class_name
                    ),
                    None,
                )
        return {role: person.id for role in CHAIN_ROLES if (person := found.get(role)) is not None}

    def unit_of(self, kind: str, name: str | None = None) -> Unit | None:
        """The unit of ``kind`` (named ``name``, for a township or a school)."""
        return next(
            (
                unit
                for unit in self.units.values()
                if unit.kind == kind and (name is None or unit.name == name.strip())
            ),
            None,
        )

    def township_authority(self, township: str) -> Authority | None:
        """The government of a township as documents print it (天堂镇人民政府, 峨岭街道办事处)
        and its head's title; None when neither org.yaml's ``form`` nor the name says
        whether it is a 镇, 乡 or 街道."""
        unit = self.unit_of("township", township)
        form = township_form(township, unit.form if unit else None)
        if form is None:
            return None
        title = "街道办事处主任" if form == "街道" else TOWNSHIP_FORMS[form][1]
        return _authority(unit, township_body(township, form), title)

    def bureau_authority(self, fallback: str) -> Authority:
        """The county education bureau: its unit's name, else ``fallback``."""
        unit = self.unit_of("education_bureau")
        return _authority(unit, unit.name if unit else fallback, "局长")

    def county_government(self, county: str) -> str:
        """The county people's government as a document names it (the review body of
        行政复议法 art. 24): the county-government unit is its office (UNIT_KINDS), so the
        government is that unit's name without 办公室; else ``<county>人民政府``."""
        unit = self.unit_of("county_government")
        name = unit.name.removesuffix("办公室") if unit else ""
        return name if name.endswith("人民政府") else f"{county}人民政府"

    def school_authority(self, school: str) -> Authority:
        return _authority(self.unit_of("school", school), school.strip(), "校长")

    def place_name(self, unit_id: str) -> str:
        """A unit's name as documents write it: a village or group with the township (and
        village) it is in, e.g. ``天堂镇天堂村一组``."""
        unit = self.units.get(unit_id)
        if unit is None:
            return unit_id
        names = [unit.name]
        while unit.kind in ("village", "group") and unit.parent in self.units and len(names) < 3:
            unit = self.units[unit.parent or ""]
            names.append(unit.name)
        return "".join(reversed(names))

    def person_label(self, person_id: str) -> str:
        """E.g. ``天堂镇中心小学班主任冯某某``; an id the file no longer has is returned as is."""
        person = self.people.get(person_id)
        if person is None:
            return person_id
        position = POSITIONS.get(person.position, person.position)
        return f"{self.place_name(person.unit)}{position}{person.name}"

    def address_of(self, unit_id: str) -> str | None:
        """The notice address of a unit (``township:天堂镇``, ``village:天堂镇/天堂村``,
        ``school:…``, ``department:health``, ``education_bureau``, ...)."""
        unit = self.units.get(unit_id)
        if unit is None:
            return None
        if unit.kind in COUNTY_LEVEL_KINDS:
            return unit.kind
        if unit.kind in ("township", "school"):
            return f"{unit.kind}:{unit.name}"
        if unit.kind == "department":
            return f"department:{unit.department}" if unit.department else None
        parents = [unit]
        while parents[-1].kind != "township":
            parent = self.units.get(parents[-1].parent or "")
            if parent is None or parent in parents:
                return None
            parents.append(parent)
        kinds = [u.kind for u in parents]
        if kinds not in (["village", "township"], ["group", "village", "township"]):
            return None
        return f"{unit.kind}:" + "/".join(u.name for u in reversed(parents))


def _authority(unit: Unit | None, name: str, head_title: str) -> Authority:
    return Authority(
        name=name,
        seal=(unit.seal if unit and unit.seal else name),
        reference_prefix=(unit.reference_prefix or "") if unit else "",
        head_title=head_title,
        contact_person=(unit.contact_person or "") if unit else "",
        contact_phone=(unit.contact_phone or "") if unit else "",
        unit=unit.id if unit else None,
    )


# ---------------------------------------------------------------------------------------
# Parsing: every problem is collected with its key path


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def entries(
        self, data: Mapping[str, Any], section: str, what: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        raw = data.get(section)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(section, _("must be a list of {what}").format(what=what))
            return []
        entries = []
        for index, item in enumerate(raw):
            path = f"{section}[{index}]"
            if isinstance(item, Mapping):
                entries.append((path, item))
            else:
                self.problem(path, _("must be a mapping ({what})").format(what=what))
        return entries

    def unknown_keys(self, item: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
        for key in item:
            if key not in known:
                self.problem(
                    f"{path}.{key}", _("unknown key; known: {known}").format(known=", ".join(known))
                )

    def text(
        self, item: Mapping[str, Any], key: str, path: str, *, required: str | None = None
    ) -> str | None:
        """The stripped text under ``key``; ``required`` explains why it must be there."""
        value = item.get(key)
        where = f"{path}.{key}" if path else key
        if value is None or (isinstance(value, str) and not value.strip()):
            if required is not None:
                self.problem(where, _("is required: {required}").format(required=required))
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.problem(where, _("must be text"))
            return None
        return str(value).strip()

    def names(self, item: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = item.get(key)
        if value is None:
            return ()
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list) and all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        ):
            return tuple(str(v).strip() for v in value)
        self.problem(f"{path}.{key}", _("must be a name or a list of names"))
        return ()

    def contacts(self, item: Mapping[str, Any], path: str) -> tuple[Contact, ...]:
        if "contacts" not in item:
            return ()
        return _contacts(item["contacts"], f"{path}.contacts", self.problem)


def _known(kind: str, value: str, known: Iterable[str]) -> str:
    return _("unknown {kind} {value!r}; known: {known}").format(
        kind=kind, value=value, known=", ".join(known)
    )


def _parse_units(
    r: _Reader, data: Mapping[str, Any], departments: Collection[str] | None
) -> tuple[dict[str, Unit], dict[str, str]]:
    units: dict[str, Unit] = {}
    paths: dict[str, str] = {}
    for path, item in r.entries(data, "units", "id, kind, name, ..."):
        r.unknown_keys(item, _UNIT_KEYS, path)
        unit_id = r.text(item, "id", path, required=_("every unit has an id"))
        kind = r.text(
            item, "kind", path, required=_("one of {names}").format(names=", ".join(UNIT_KINDS))
        )
        name = r.text(item, "name", path, required=_("the name documents print"))
        if kind is not None and kind not in UNIT_KINDS:
            r.problem(f"{path}.kind", _known("kind", kind, UNIT_KINDS))
        department = r.text(
            item,
            "department",
            path,
            required=(
                _("which partner department")
                + (f" ({', '.join(departments)})" if departments is not None else "")
            )
            if kind == "department"
            else None,
        )
        if department is not None:
            if kind in UNIT_KINDS and kind != "department":
                r.problem(f"{path}.department", _("only a unit of kind department has one"))
            elif departments is not None and department not in departments:
                r.problem(
                    f"{path}.department",
                    _(
                        "unknown department {department!r}; the workflow in force declares: "
                        "{departments}"
                    ).format(
                        department=department, departments=", ".join(departments) or _("none")
                    ),
                )
        serves = r.names(item, "serves", path)
        if serves and kind != "school":
            r.problem(f"{path}.serves", _("only a school serves villages"))
        form = _township_form(r, item, path, kind, name)
        seal = r.text(item, "seal", path)
        prefix = r.text(item, "reference_prefix", path)
        contact_person = r.text(item, "contact_person", path)
        contact_phone = r.text(item, "contact_phone", path)
        if kind in UNIT_KINDS and kind not in ISSUING_KINDS:
            for key, given in (
                ("seal", seal),
                ("reference_prefix", prefix),
                ("contact_person", contact_person),
                ("contact_phone", contact_phone),
            ):
                if given is not None:
                    r.problem(
                        f"{path}.{key}",
                        _("only a unit that signs documents has one: {kinds}").format(
                            kinds=", ".join(sorted(ISSUING_KINDS))
                        ),
                    )
        contacts = r.contacts(item, path)
        if unit_id is None:
            continue
        if unit_id in units:
            r.problem(
                f"{path}.id",
                _("duplicate id {unit_id!r} (also {paths})").format(
                    unit_id=unit_id, paths=paths[unit_id]
                ),
            )
            continue
        paths[unit_id] = path
        units[unit_id] = Unit(
            id=unit_id,
            kind=kind or "",
            name=name or "",
            parent=r.text(item, "parent", path),
            department=department,
            serves=serves,
            contacts=contacts,
            form=form,
            seal=seal,
            reference_prefix=prefix,
            contact_person=contact_person,
            contact_phone=contact_phone,
        )
    return units, paths


def _township_form(
    r: _Reader, item: Mapping[str, Any], path: str, kind: str | None, name: str | None
) -> str | None:
    """A township's form (镇 / 乡 / 街道): given, or read off its name; one of the two."""
    form = r.text(item, "form", path)
    if form is not None and kind != "township":
        r.problem(f"{path}.form", _("only a township has a form (镇, 乡 or 街道)"))
        return None
    if kind != "township" or name is None:
        return form
    if form is not None and form not in TOWNSHIP_FORMS:
        r.problem(
            f"{path}.form",
            _("is {form!r}; expected one of: {forms}").format(
                form=form, forms=", ".join(TOWNSHIP_FORMS)
            ),
        )
        return None
    named = township_form(name)
    if form is None and named is None:
        r.problem(
            f"{path}.form",
            _(
                "is required: the name {name!r} does not say whether it is a 镇, 乡 or 街道, and "
                "documents print its government's name (X镇人民政府, X乡人民政府, "
                "X街道办事处) from it"
            ).format(name=name),
        )
    elif form is not None and named is not None and form != named:
        r.problem(
            f"{path}.form",
            _("is {form!r}, but the name {name!r} is a {named}").format(
                form=form, name=name, named=named
            ),
        )
    return form


def _check_units(r: _Reader, units: Mapping[str, Unit], paths: Mapping[str, str]) -> None:
    for unit in units.values():
        path = paths[unit.id]
        allowed = PARENT_KINDS.get(unit.kind)
        if unit.parent is None:
            if allowed:
                r.problem(
                    f"{path}.parent",
                    _("is required: a {kind} belongs to a unit of kind {allowed}").format(
                        kind=unit.kind, allowed=" or ".join(allowed)
                    ),
                )
        elif unit.parent not in units:
            r.problem(f"{path}.parent", _("unknown unit {parent!r}").format(parent=unit.parent))
        elif allowed and units[unit.parent].kind in UNIT_KINDS:
            parent_kind = units[unit.parent].kind
            if parent_kind not in allowed:
                r.problem(
                    f"{path}.parent",
                    _(
                        "a {kind}'s parent must be a unit of kind {allowed}; {parent!r} is a "
                        "{parent_kind}"
                    ).format(
                        kind=unit.kind,
                        allowed=" or ".join(allowed),
                        parent=unit.parent,
                        parent_kind=parent_kind,
                    ),
                )
        for index, village in enumerate(unit.serves if unit.kind == "school" else ()):
            where = f"{path}.serves[{index}]"
            if village not in units:
                r.problem(where, _("unknown unit {village!r}").format(village=village))
            elif units[village].kind in UNIT_KINDS and units[village].kind != "village":
                r.problem(
                    where,
                    _("a school serves villages; {village!r} is a {kind}").format(
                        village=village, kind=units[village].kind
                    ),
                )
    _check_loops(r, units, paths)
    _check_names(r, units, paths)


def _check_loops(r: _Reader, units: Mapping[str, Unit], paths: Mapping[str, str]) -> None:
    order = {unit_id: index for index, unit_id in enumerate(units)}
    reported: set[frozenset[str]] = set()
    for unit_id in units:
        trail: list[str] = []
        current: str | None = unit_id
        while current is not None and current in units and current not in trail:
            trail.append(current)
            current = units[current].parent
        if current is None or current not in trail:
            continue
        loop = trail[trail.index(current) :]
        if frozenset(loop) in reported:
            continue
        reported.add(frozenset(loop))
        start = loop.index(min(loop, key=order.__getitem__))
        loop = loop[start:] + loop[:start]
        r.problem(
            f"{paths[loop[0]]}.parent",
            _("loop in the parent hierarchy: {loop}").format(loop=" → ".join([*loop, loop[0]])),
        )


def _check_names(r: _Reader, units: Mapping[str, Unit], paths: Mapping[str, str]) -> None:
    """Places are found by name (and addressed by name): each must be unambiguous."""
    seen: dict[tuple[str, ...], str] = {}
    for unit in units.values():
        key: tuple[str, ...]
        if unit.kind in COUNTY_LEVEL_KINDS:
            key, where = (unit.kind,), "kind"
            what = _("there is already a {kind}").format(kind=unit.kind)
        elif unit.kind == "department" and unit.department:
            key, where = ("department", unit.department), "department"
            what = _("department {department!r} already has a unit").format(
                department=unit.department
            )
        elif unit.kind in ("township", "school"):
            key, where = (unit.kind, unit.name), "name"
            what = _("another {kind} is named {name!r}; places are found by name").format(
                kind=unit.kind, name=unit.name
            )
        elif unit.kind in ("village", "group"):
            key, where = (unit.kind, unit.parent or "", unit.name), "name"
            what = _(
                "another {kind} of {parent!r} is named {name!r}; places are found by name"
            ).format(kind=unit.kind, parent=unit.parent, name=unit.name)
        else:
            continue
        if key in seen:
            r.problem(
                f"{paths[unit.id]}.{where}",
                _("{problem} (also {path})").format(problem=what, path=seen[key]),
            )
        else:
            seen[key] = paths[unit.id]


def _parse_people(
    r: _Reader, data: Mapping[str, Any], units: Mapping[str, Unit]
) -> tuple[dict[str, Person], dict[str, str]]:
    people: dict[str, Person] = {}
    paths: dict[str, str] = {}
    for path, item in r.entries(data, "people", "id, name, position, unit, ..."):
        r.unknown_keys(item, _PERSON_KEYS, path)
        person_id = r.text(item, "id", path, required=_("every person has an id"))
        name = r.text(item, "name", path, required=_("the name documents print"))
        position = r.text(
            item, "position", path, required=_("one of {names}").format(names=", ".join(POSITIONS))
        )
        if position is not None and position not in POSITIONS:
            r.problem(f"{path}.position", _known("position", position, POSITIONS))
            position = None
        unit_id = r.text(item, "unit", path, required=_("every person belongs to a unit"))
        unit = units.get(unit_id or "")
        if unit_id is not None and unit is None:
            r.problem(f"{path}.unit", _("unknown unit {unit_id!r}").format(unit_id=unit_id))
        if position is not None and unit is not None and unit.kind in UNIT_KINDS:
            needed = POSITION_UNIT_KINDS[position]
            if unit.kind != needed:
                r.problem(
                    f"{path}.unit",
                    _(
                        "a {position} ({label}) sits on a {needed} unit; {unit_id!r} is a {kind}"
                    ).format(
                        position=position,
                        label=POSITIONS[position],
                        needed=needed,
                        unit_id=unit_id,
                        kind=unit.kind,
                    ),
                )
        covers = r.names(item, "covers", path)
        _check_covers(r, path, position=position, unit=unit, covers=covers, units=units)
        grades = r.names(item, "grades", path)
        if grades and position is not None and position != "school_leader":
            r.problem(f"{path}.grades", _("only a school_leader answers for grades"))
        grade = r.text(item, "grade", path)
        class_name = r.text(item, "class", path)
        if position in CLASS_POSITIONS:
            for key, value in (("grade", grade), ("class", class_name)):
                if value is None:
                    r.problem(
                        f"{path}.{key}",
                        _(
                            "is required: a {position}'s chain link is found by school, grade and "
                            "class"
                        ).format(position=position),
                    )
        elif position is not None:
            for key in ("grade", "class"):
                if key in item:
                    r.problem(f"{path}.{key}", _("only a head_teacher or subject_teacher has one"))
        contacts = r.contacts(item, path)
        if person_id is None:
            continue
        if person_id in people:
            r.problem(
                f"{path}.id",
                _("duplicate id {person_id!r} (also {paths})").format(
                    person_id=person_id, paths=paths[person_id]
                ),
            )
            continue
        paths[person_id] = path
        people[person_id] = Person(
            id=person_id,
            name=name or "",
            position=position or "",
            unit=unit_id or "",
            covers=covers,
            grades=grades,
            grade=grade,
            class_name=class_name,
            contacts=contacts,
        )
    return people, paths


def _check_covers(
    r: _Reader,
    path: str,
    *,
    position: str | None,
    unit: Unit | None,
    covers: tuple[str, ...],
    units: Mapping[str, Unit],
) -> None:
    if not covers or position is None:
        return
    needed = COVERS_KINDS.get(position)
    if needed is None:
        r.problem(
            f"{path}.covers",
            _("a {position} covers nothing; only {kinds} do").format(
                position=position, kinds=", ".join(COVERS_KINDS)
            ),
        )
        return
    # Township and village cadres cover places of their own unit (if it is the right kind).
    own_unit = None
    if position in ("township_cadre", "village_cadre") and unit is not None:
        own_unit = unit if unit.kind == POSITION_UNIT_KINDS[position] else None
    for index, covered_id in enumerate(covers):
        where = f"{path}.covers[{index}]"
        covered = units.get(covered_id)
        if covered is None:
            r.problem(where, _("unknown unit {covered_id!r}").format(covered_id=covered_id))
        elif covered.kind not in UNIT_KINDS:
            continue
        elif covered.kind != needed:
            r.problem(
                where,
                _("a {position} covers {needed}s; {covered_id!r} is a {kind}").format(
                    position=position, needed=needed, covered_id=covered_id, kind=covered.kind
                ),
            )
        elif own_unit is not None and covered.parent != own_unit.id:
            r.problem(
                where,
                _(
                    "{covered_id!r} is not a {needed} of {id!r}; a {position} covers {needed}s of "
                    "their own {kind}"
                ).format(
                    covered_id=covered_id,
                    needed=needed,
                    id=own_unit.id,
                    position=position,
                    kind=own_unit.kind,
                ),
            )


def _jurisdiction(unit: Unit) -> Jurisdiction | None:
    if unit.kind in COUNTY_LEVEL_KINDS:
        return Jurisdiction()
    if unit.kind == "township":
        return Jurisdiction("township", unit.name)
    if unit.kind == "school":
        return Jurisdiction("school", unit.name)
    if unit.kind == "department" and unit.department:
        return Jurisdiction("department", unit.department)
    return None


def _parse_operators(
    r: _Reader,
    data: Mapping[str, Any],
    units: Mapping[str, Unit],
    people: Mapping[str, Person],
) -> dict[str, OperatorEntry]:
    operators: dict[str, OperatorEntry] = {}
    names: dict[str, str] = {}
    os_users: dict[str, str] = {}
    for path, item in r.entries(data, "operators", "name, os_user, roles, unit, ..."):
        r.unknown_keys(item, _OPERATOR_KEYS, path)
        name = r.text(item, "name", path, required=_("the operator's name in the audit trail"))
        os_user = r.text(item, "os_user", path, required=_("the OS account they log in as"))
        roles = r.names(item, "roles", path)
        if item.get("roles") in (None, "", []):
            r.problem(
                f"{path}.roles",
                _("is required: at least one of {roles}").format(roles=", ".join(ROLES)),
            )
        for index, role in enumerate(roles):
            if role not in ROLES:
                r.problem(f"{path}.roles[{index}]", _known("role", role, ROLES))
        unit_id = r.text(item, "unit", path, required=_("their unit gives their jurisdiction"))
        unit = units.get(unit_id or "")
        jurisdiction: Jurisdiction | None = None
        if unit_id is not None and unit is None:
            r.problem(f"{path}.unit", _("unknown unit {unit_id!r}").format(unit_id=unit_id))
        elif unit is not None and unit.kind in UNIT_KINDS:
            jurisdiction = _jurisdiction(unit)
            if jurisdiction is None:
                r.problem(
                    f"{path}.unit",
                    _(
                        "{unit_id!r} is a {kind}; an operator works for a county-level unit, a "
                        "department, a township or a school"
                    ).format(unit_id=unit_id, kind=unit.kind),
                )
        if jurisdiction is not None:
            for index, role in enumerate(roles):
                trouble = jurisdiction_problem(role, jurisdiction)
                if trouble is not None:
                    r.problem(
                        f"{path}.roles[{index}]",
                        _("{trouble}; unit {unit_id!r} gives jurisdiction {jurisdiction}").format(
                            trouble=trouble, unit_id=unit_id, jurisdiction=jurisdiction
                        ),
                    )
        person = r.text(item, "person", path)
        if person is not None and person not in people:
            r.problem(f"{path}.person", _("unknown person {person!r}").format(person=person))
        shared = r.names(item, "shared_accounts", path)
        for value, seen, key in ((name, names, "name"), (os_user, os_users, "os_user")):
            if value is not None:
                if value in seen:
                    r.problem(
                        f"{path}.{key}",
                        _("{key} {value!r} is already {seen}'s").format(
                            key=key, value=value, seen=seen[value]
                        ),
                    )
                else:
                    seen[value] = path
        if name is None or name in operators or jurisdiction is None:
            continue  # reported above; only operators with a jurisdiction are kept
        operators[name] = OperatorEntry(
            name=name,
            os_user=os_user or "",
            roles=roles,
            unit=unit_id or "",
            jurisdiction=jurisdiction,
            person=person,
            shared_accounts=shared,
        )
    return operators


def _with_listed(
    r: _Reader, org: Org, listed: Mapping[str, tuple[Contact, ...]], paths: Mapping[str, str]
) -> Contacts:
    """The ``contacts`` section plus every unit's and person's own contacts."""
    by_key = dict(org.contacts.by_key)
    owners: list[tuple[str, str, tuple[Contact, ...]]] = [
        (paths[f"unit:{u.id}"], org.address_of(u.id) or "", u.contacts) for u in org.units.values()
    ]
    owners += [(paths[f"person:{p.id}"], f"person:{p.id}", p.contacts) for p in org.people.values()]
    for path, address, contacts in owners:
        if not contacts or not address:
            continue
        if address in by_key:
            where = "contacts" if address in listed else "another unit"
            r.problem(
                f"{path}.contacts",
                _("{address} is also listed under {where}; list its channels in one place").format(
                    address=address, where=where
                ),
            )
            continue
        by_key[address] = contacts
    return Contacts(MappingProxyType(by_key), org.contacts.default)


def parse_org(
    text: str, file: str, *, departments: Collection[str] | None
) -> tuple[Org | None, list[Problem]]:
    """Parse and check an organisation file: the ``Org`` (``None`` if the text is not a
    YAML mapping) and every problem, each with its key path. A department unit names one
    of ``departments``, the keys the workflow in force declares; ``None`` leaves them
    unchecked (an organisation read back after ``org apply`` checked it)."""
    r = _Reader(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        r.problem(*yaml_problem(exc))
        return None, r.problems
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        r.problem("", _("expected a mapping with {keys}").format(keys=", ".join(_TOP_KEYS)))
        return None, r.problems
    for key in raw:
        if key not in _TOP_KEYS:
            r.problem(str(key), _("unknown key; known: {keys}").format(keys=", ".join(_TOP_KEYS)))
    county = r.text(raw, "county", "") if "county" in raw else None
    contacts = _contact_section(raw, r.problem)
    units, unit_paths = _parse_units(r, raw, departments)
    _check_units(r, units, unit_paths)
    people, person_paths = _parse_people(r, raw, units)
    operators = _parse_operators(r, raw, units, people)
    org = Org(
        county=county or "",
        units=MappingProxyType(units),
        people=MappingProxyType(people),
        operators=MappingProxyType(operators),
        contacts=contacts,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=text,
    )
    paths = {f"unit:{k}": v for k, v in unit_paths.items()}
    paths.update({f"person:{k}": v for k, v in person_paths.items()})
    return replace(org, contacts=_with_listed(r, org, contacts.by_key, paths)), r.problems


# ---------------------------------------------------------------------------------------
# Reading the file (the I/O edge)


def read_org(
    path: Path, *, departments: Collection[str], missing_ok: bool = False
) -> tuple[Org | None, list[Problem]]:
    """``parse_org`` on a file; a missing file is an empty ``Org`` when ``missing_ok``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Org(), []
        return None, [Problem(str(path), "", "no such file")]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, [Problem(str(path), "", f"cannot read: {reason}")]
    return _parsed(text, str(path), tuple(departments))


_PARSED: dict[tuple[str, str, tuple[str, ...]], tuple[Org | None, tuple[Problem, ...]]] = {}


def _parsed(text: str, file: str, departments: tuple[str, ...]) -> tuple[Org | None, list[Problem]]:
    """``parse_org``, remembered by content: the dispatcher reads the file for every
    batch, and a county's file takes a good part of a second to parse."""
    key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), file, departments)
    found = _PARSED.get(key)
    if found is None:
        org, problems = parse_org(text, file, departments=departments)
        if len(_PARSED) >= 16:
            _PARSED.clear()
        found = _PARSED[key] = (org, tuple(problems))
    return found[0], list(found[1])


def load_org(workspace: Workspace, *, departments: Collection[str]) -> Org:
    """The workspace's organisation (empty without an ``org.yaml``); raises
    ``WorkspaceError`` listing every problem, one per line."""
    org, problems = read_org(workspace.org_file, departments=departments, missing_ok=True)
    if org is None or problems:
        raise WorkspaceError(
            _("{count} problem(s) in {path} (fix them, then run `caseflow org check`):").format(
                count=len(problems), path=workspace.org_file
            )
            + "\n"
            + "\n".join(str(problem) for problem in problems)
        )
    return org


# ---------------------------------------------------------------------------------------
# Showing it


def _contact_list(contacts: Iterable[Contact]) -> list[dict[str, str]]:
    return [{"channel": c.channel, "address": c.address} for c in contacts]


def describe_org(org: Org) -> dict[str, Any]:
    """The organisation as plain data (``org show --json``)."""
    return {
        "county": org.county,
        "sha256": org.sha256,
        "units": [
            {
                "id": u.id,
                "kind": u.kind,
                "kind_label": UNIT_KINDS.get(u.kind, u.kind),
                "name": u.name,
                "parent": u.parent,
                "department": u.department,
                "serves": list(u.serves),
                "address": org.address_of(u.id),
                "form": u.form,
                "seal": u.seal,
                "reference_prefix": u.reference_prefix,
                "contact_person": u.contact_person,
                "contact_phone": u.contact_phone,
                "contacts": _contact_list(u.contacts),
            }
            for u in org.units.values()
        ],
        "people": [
            {
                "id": p.id,
                "name": p.name,
                "position": p.position,
                "position_label": POSITIONS.get(p.position, p.position),
                "unit": p.unit,
                "label": org.person_label(p.id),
                "covers": list(p.covers),
                "grades": list(p.grades),
                "grade": p.grade,
                "class": p.class_name,
                "contacts": _contact_list(p.contacts),
            }
            for p in org.people.values()
        ],
        "operators": [
            {
                "name": o.name,
                "os_user": o.os_user,
                "roles": list(o.roles),
                "unit": o.unit,
                "jurisdiction": str(o.jurisdiction),
                "person": o.person,
                "shared_accounts": list(o.shared_accounts),
            }
            for o in org.operators.values()
        ],
        "contacts": {
            "by_address": {
                key: _contact_list(value) for key, value in sorted(org.contacts.by_key.items())
            },
            "default": _contact_list(org.contacts.default),
        },
    }
