"""The organisation file: units, people, operators, 包保 chains and contacts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from caseflow.access import Jurisdiction
from caseflow.cli import app
from caseflow.cli.present import org_lines
from caseflow.errors import WorkspaceError
from caseflow.org import (
    CHAIN_ROLES,
    Contact,
    Contacts,
    Org,
    describe_org,
    load_org,
    parse_org,
    read_org,
)
from caseflow.resources import shipped
from caseflow.services.context import os_user
from caseflow.states import load_workflow
from caseflow.workspace import ORG_TEMPLATE, create, load, write_example_org
from tests.conftest import CliInvoker

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "small-county" / "org.yaml"
DEPARTMENTS = load_workflow(shipped("workflows") / "dropout.yaml").departments
LETTER = [{"channel": "letter"}]

# A small, sound organisation; each problem case below breaks one thing in a copy of it.
BASE: dict[str, Any] = {
    "county": "示范县",
    "units": [
        {"id": "gov", "kind": "county_government", "name": "示范县人民政府办公室"},
        {"id": "bureau", "kind": "education_bureau", "name": "示范县教育局", "parent": "gov"},
        {"id": "health", "kind": "department", "department": "health", "name": "卫健局"},
        {"id": "tt", "kind": "township", "name": "天堂镇", "parent": "gov"},
        {"id": "tt-c", "kind": "village", "name": "天堂村", "parent": "tt"},
        {"id": "tt-c-1", "kind": "group", "name": "一组", "parent": "tt-c"},
        {"id": "mh", "kind": "township", "name": "木黄镇", "parent": "gov"},
        {"id": "mh-c", "kind": "village", "name": "木黄村", "parent": "mh"},
        {"id": "mh-c-1", "kind": "group", "name": "一组", "parent": "mh-c"},
        {
            "id": "tt-xx",
            "kind": "school",
            "name": "天堂小学",
            "parent": "bureau",
            "serves": ["tt-c"],
        },
    ],
    "people": [
        {
            "id": "wang",
            "name": "王某",
            "position": "county_leader",
            "unit": "gov",
            "covers": ["tt"],
        },
        {
            "id": "li",
            "name": "李某",
            "position": "township_cadre",
            "unit": "tt",
            "covers": ["tt-c"],
        },
        {"id": "zhao", "name": "赵某", "position": "village_cadre", "unit": "tt-c"},
        {"id": "sun", "name": "孙某", "position": "group_leader", "unit": "tt-c-1"},
        {"id": "zhou", "name": "周某", "position": "bureau_leader", "unit": "bureau"},
        {
            "id": "feng",
            "name": "冯某",
            "position": "head_teacher",
            "unit": "tt-xx",
            "grade": "五年级",
            "class": "1班",
        },
    ],
    "operators": [
        {
            "name": "天堂镇专干",
            "os_user": "ttzg",
            "roles": ["caseworker"],
            "unit": "tt",
            "person": "li",
        },
        {"name": "教育局", "os_user": "jyj", "roles": ["bureau", "admin"], "unit": "bureau"},
    ],
    "contacts": {"township_head:天堂镇": LETTER},
    "default": LETTER,
}


def org_text(change: Any = None) -> str:
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def parsed(change: Any = None) -> tuple[Org | None, list[str]]:
    org, problems = parse_org(org_text(change), "org.yaml", departments=DEPARTMENTS)
    return org, [str(problem) for problem in problems]


def example() -> Org:
    org, problems = parse_org(
        EXAMPLE.read_text(encoding="utf-8"), "org.yaml", departments=DEPARTMENTS
    )
    assert problems == []
    assert org is not None
    return org


# --- the shipped example ---------------------------------------------------------------


def test_the_example_county_passes_the_check_and_has_every_part_the_format_offers() -> None:
    org = example()
    kinds = [u.kind for u in org.units.values()]
    assert org.county == "示范县"
    assert kinds.count("township") == 2
    assert kinds.count("village") == 4
    assert kinds.count("group") == 8
    assert kinds.count("school") == 3
    assert {u.department for u in org.units.values() if u.kind == "department"} == set(DEPARTMENTS)
    assert {p.position for p in org.people.values()} >= set(CHAIN_ROLES)
    roles = {role for o in org.operators.values() for role in o.roles}
    assert roles == {"caseworker", "school", "department", "bureau", "admin", "supervisor"}


def test_the_example_ships_where_init_finds_it() -> None:
    assert (shipped("examples") / "small-county" / "org.yaml").read_bytes() == EXAMPLE.read_bytes()


def test_the_base_organisation_and_the_default_template_have_no_problems() -> None:
    assert parsed()[1] == []
    org, problems = parse_org(ORG_TEMPLATE, "org.yaml", departments=DEPARTMENTS)
    assert problems == []
    assert org is not None
    assert org.contacts.of("education_bureau") == (Contact("letter", ""),)


# --- every problem, with its key path -------------------------------------------------


def _set(section: str, index: int, key: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data[section][index][key] = value

    return change


def _drop(section: str, index: int, key: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        del data[section][index][key]

    return change


def _add(section: str, item: dict[str, Any]) -> Any:
    def change(data: dict[str, Any]) -> None:
        data[section].append(item)

    return change


PROBLEMS = [
    # unknown keys
    ("unknown_top_key", lambda d: d.update(colour="red"), "colour: unknown key"),
    ("unknown_unit_key", _set("units", 3, "mayor", "x"), "units[3].mayor: unknown key"),
    ("unknown_person_key", _set("people", 1, "phone", "1"), "people[1].phone: unknown key"),
    ("unknown_operator_key", _set("operators", 0, "pw", "x"), "operators[0].pw: unknown key"),
    # missing required keys
    ("unit_without_id", _drop("units", 2, "id"), "units[2].id: is required"),
    ("unit_without_kind", _drop("units", 2, "kind"), "units[2].kind: is required"),
    ("unit_without_name", _drop("units", 3, "name"), "units[3].name: is required"),
    ("person_without_id", _drop("people", 0, "id"), "people[0].id: is required"),
    ("person_without_name", _drop("people", 0, "name"), "people[0].name: is required"),
    ("person_without_position", _drop("people", 0, "position"), "people[0].position: is required"),
    (
        "person_without_unit",
        _drop("people", 2, "unit"),
        "people[2].unit: is required: every person belongs to a unit",
    ),
    ("operator_without_name", _drop("operators", 1, "name"), "operators[1].name: is required"),
    ("operator_without_os_user", _drop("operators", 1, "os_user"), "operators[1].os_user: is"),
    ("operator_without_roles", _drop("operators", 1, "roles"), "operators[1].roles: is required"),
    (
        "operator_with_no_roles",
        _set("operators", 1, "roles", []),
        "operators[1].roles: is required",
    ),
    ("operator_without_unit", _drop("operators", 1, "unit"), "operators[1].unit: is required"),
    # duplicates
    (
        "duplicate_unit_id",
        _set("units", 4, "id", "tt"),
        "units[4].id: duplicate id 'tt' (also units[3])",
    ),
    ("duplicate_person_id", _set("people", 3, "id", "li"), "people[3].id: duplicate id 'li'"),
    (
        "duplicate_operator_name",
        _set("operators", 1, "name", "天堂镇专干"),
        "operators[1].name: name",
    ),
    (
        "duplicate_os_user",
        _set("operators", 1, "os_user", "ttzg"),
        "operators[1].os_user: os_user 'ttzg' is already operators[0]'s",
    ),
    (
        "duplicate_township_name",
        _set("units", 6, "name", "天堂镇"),
        "units[6].name: another township is named '天堂镇'",
    ),
    (
        "duplicate_department",
        _add("units", {"id": "h2", "kind": "department", "department": "health", "name": "x"}),
        "units[10].department: department 'health' already has a unit",
    ),
    # unknown units (and people)
    ("unknown_parent", _set("units", 3, "parent", "xx"), "units[3].parent: unknown unit 'xx'"),
    ("unknown_person_unit", _set("people", 3, "unit", "xx"), "people[3].unit: unknown unit 'xx'"),
    (
        "unknown_covered_unit",
        _set("people", 0, "covers", ["tt", "xx"]),
        "people[0].covers[1]: unknown unit 'xx'",
    ),
    (
        "unknown_served_village",
        _set("units", 9, "serves", ["xx"]),
        "units[9].serves[0]: unknown unit 'xx'",
    ),
    (
        "unknown_operator_unit",
        _set("operators", 0, "unit", "xx"),
        "operators[0].unit: unknown unit 'xx'",
    ),
    (
        "unknown_operator_person",
        _set("operators", 0, "person", "xx"),
        "operators[0].person: unknown person 'xx'",
    ),
    # unknown names from fixed lists
    (
        "unknown_role",
        _set("operators", 1, "roles", ["bureau", "boss"]),
        "operators[1].roles[1]: unknown role 'boss'",
    ),
    (
        "unknown_position",
        _set("people", 0, "position", "mayor"),
        "people[0].position: unknown position 'mayor'",
    ),
    ("unknown_kind", _set("units", 3, "kind", "city"), "units[3].kind: unknown kind 'city'"),
    (
        "unknown_department",
        _set("units", 2, "department", "army"),
        "units[2].department: unknown department 'army'",
    ),
    ("department_without_key", _drop("units", 2, "department"), "units[2].department: is required"),
    (
        "department_key_elsewhere",
        _set("units", 3, "department", "health"),
        "units[3].department: only a unit of kind department",
    ),
    # wrong kinds
    (
        "village_not_in_a_township",
        _set("units", 4, "parent", "gov"),
        "units[4].parent: a village's parent must be a unit of kind township; "
        "'gov' is a county_government",
    ),
    (
        "group_not_in_a_village",
        _set("units", 5, "parent", "tt"),
        "units[5].parent: a group's parent must be a unit of kind village",
    ),
    (
        "village_without_parent",
        _drop("units", 4, "parent"),
        "units[4].parent: is required: a village belongs to a unit of kind township",
    ),
    (
        "school_in_a_village",
        _set("units", 9, "parent", "tt-c"),
        "units[9].parent: a school's parent must be a unit of kind education_bureau or township",
    ),
    (
        "school_serving_a_group",
        _set("units", 9, "serves", ["tt-c-1"]),
        "units[9].serves[0]: a school serves villages; 'tt-c-1' is a group",
    ),
    (
        "serves_on_a_township",
        _set("units", 3, "serves", ["tt-c"]),
        "units[3].serves: only a school serves villages",
    ),
    (
        "position_on_the_wrong_unit",
        _set("people", 1, "unit", "tt-c"),
        "people[1].unit: a township_cadre (包村乡镇干部) sits on a township unit; "
        "'tt-c' is a village",
    ),
    (
        "covers_the_wrong_kind",
        _set("people", 0, "covers", ["tt-c"]),
        "people[0].covers[0]: a county_leader covers townships; 'tt-c' is a village",
    ),
    (
        "covers_another_townships_village",
        _set("people", 1, "covers", ["mh-c"]),
        "people[1].covers[0]: 'mh-c' is not a village of 'tt'",
    ),
    (
        "covers_another_villages_group",
        _set("people", 2, "covers", ["mh-c-1"]),
        "people[2].covers[0]: 'mh-c-1' is not a group of 'tt-c'",
    ),
    (
        "covers_on_a_position_that_covers_nothing",
        _set("people", 3, "covers", ["tt-c-1"]),
        "people[3].covers: a group_leader covers nothing",
    ),
    ("head_teacher_without_class", _drop("people", 5, "class"), "people[5].class: is required"),
    (
        "grades_on_a_head_teacher",
        _set("people", 5, "grades", ["五年级"]),
        "people[5].grades: only a school_leader",
    ),
    (
        "role_on_the_wrong_kind_of_unit",
        _set("operators", 0, "roles", ["school"]),
        "operators[0].roles[0]: role school needs a jurisdiction of kind school; "
        "unit 'tt' gives jurisdiction township:天堂镇",
    ),
    (
        "bureau_role_in_a_township",
        _set("operators", 0, "roles", ["caseworker", "bureau"]),
        "operators[0].roles[1]: role bureau needs a jurisdiction of kind county",
    ),
    (
        "operator_in_a_village",
        _set("operators", 0, "unit", "tt-c"),
        "operators[0].unit: 'tt-c' is a village; an operator works for",
    ),
    # contacts
    (
        "contact_without_channel",
        lambda d: d["contacts"].update({"school:天堂小学": [{"address": "x"}]}),
        "contacts.school:天堂小学[0]: needs a channel",
    ),
    (
        "contacts_not_a_list",
        lambda d: d.update(default="letter"),
        "default: must be a list of {channel, address}",
    ),
    (
        "unit_contact_without_address",
        _set("units", 3, "contacts", [{"channel": "email"}]),
        "units[3].contacts[0]: needs an address for email",
    ),
    (
        "person_contact_unknown_field",
        _set("people", 5, "contacts", [{"channel": "letter", "to": "x"}]),
        "people[5].contacts[0].to: is not a contact field",
    ),
    (
        "address_listed_twice",
        lambda d: (
            d["contacts"].update({"township:天堂镇": LETTER}),
            d["units"][3].update(contacts=LETTER),
        ),
        "units[3].contacts: township:天堂镇 is also listed under contacts",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [pytest.param(change, expected, id=name) for name, change, expected in PROBLEMS],
)
def test_each_problem_is_reported_with_file_and_key_path(change: Any, expected: str) -> None:
    _, problems = parsed(change)
    assert any(problem.startswith(f"org.yaml: {expected}") for problem in problems), problems


def test_every_problem_is_reported_not_only_the_first() -> None:
    def change(data: dict[str, Any]) -> None:
        data["units"][3]["parent"] = "xx"
        data["people"][0]["position"] = "mayor"
        data["operators"][1]["roles"] = []

    _, problems = parsed(change)
    assert len(problems) == 3, problems


def test_a_loop_in_the_parent_hierarchy_is_named_once_from_its_first_unit() -> None:
    def change(data: dict[str, Any]) -> None:
        data["units"] += [
            {
                "id": "a",
                "kind": "department",
                "department": "procuratorate",
                "name": "A",
                "parent": "c",
            },
            {
                "id": "b",
                "kind": "department",
                "department": "civil_affairs",
                "name": "B",
                "parent": "a",
            },
            {
                "id": "c",
                "kind": "department",
                "department": "youth_league",
                "name": "C",
                "parent": "b",
            },
        ]
        data["units"][0]["parent"] = "gov"

    _, problems = parsed(change)
    assert problems == [
        "org.yaml: units[0].parent: loop in the parent hierarchy: gov → gov",
        "org.yaml: units[10].parent: loop in the parent hierarchy: a → c → b → a",
    ]


def test_text_that_is_not_a_yaml_mapping_gives_no_org() -> None:
    org, problems = parse_org("units: [", "org.yaml", departments=DEPARTMENTS)
    assert org is None
    assert "not valid YAML" in str(problems[0])
    org, problems = parse_org("- a\n- b\n", "org.yaml", departments=DEPARTMENTS)
    assert org is None
    assert len(problems) == 1


# --- jurisdictions, operators, labels --------------------------------------------------


def test_each_operator_gets_the_jurisdiction_of_their_unit() -> None:
    jurisdictions = {name: str(o.jurisdiction) for name, o in example().operators.items()}
    assert jurisdictions["天堂镇控辍专干"] == "township:天堂镇"
    assert jurisdictions["天堂镇中心小学控辍专员"] == "school:天堂镇中心小学"
    assert jurisdictions["县卫健局联络员"] == "department:health"
    assert jurisdictions["县教育局控辍办"] == "county"
    assert jurisdictions["县教育督导室"] == "county"
    assert example().operators["县教育督导室"].jurisdiction == Jurisdiction()


def test_a_shared_office_account_may_act_for_the_operator_that_lists_it() -> None:
    operator = example().operators["天堂镇控辍专干"]
    assert operator.usable_by("ttz-kcb")
    assert operator.usable_by("ttz-office")
    assert not operator.usable_by("mhz-office")


def test_people_are_labelled_with_their_place_and_position() -> None:
    org = example()
    assert org.person_label("feng-liping") == "天堂镇中心小学班主任冯丽萍"
    assert org.person_label("sun-decai") == "天堂镇天堂村一组村民小组长孙德才"
    assert org.person_label("gone") == "gone"


# --- 包保 chains ------------------------------------------------------------------------


def test_both_chains_are_filled_for_a_child_with_a_known_group_school_and_class() -> None:
    chain = example().chain(
        "天堂镇", "天堂村", group="一组", school="天堂镇中心小学", grade="五年级", class_name="1班"
    )
    assert chain == {
        "county_leader": "wang-jianhua",
        "township_cadre": "li-chunyan",
        "village_cadre": "zhao-yongfu",
        "group_leader": "sun-decai",
        "bureau_leader": "zhou-haibo",
        "principal": "wu-deming",
        "school_leader": "an-guoqing",
        "head_teacher": "feng-liping",
        "subject_teacher": "chen-siyuan",
    }
    assert list(chain) == list(CHAIN_ROLES)


def test_a_chain_is_partial_where_the_org_names_nobody() -> None:
    org = example()
    # 龙门村's cadre covers only 一组; 木黄镇中心小学 has no head teacher for 三年级.
    assert org.chain("天堂镇", "龙门村", group="二组") == {
        "county_leader": "wang-jianhua",
        "township_cadre": "tian-maolin",
        "group_leader": "ren-guangrong",
    }
    assert org.chain(
        "木黄镇", "凤仪村", school="木黄镇中心小学", grade="三年级", class_name="1班"
    ) == {
        "county_leader": "liu-zhiqiang",
        "township_cadre": "ran-xiuying",
        "village_cadre": "huang-yulan",  # no group given: the village's cadre
        "bureau_leader": "han-lixin",
        "principal": "peng-jianjun",
        "school_leader": "xiao-yan",  # answers for the whole school
    }


def test_a_person_without_covers_answers_for_everything_under_their_unit() -> None:
    org = example()
    chain = org.chain("木黄镇", "木黄村", group="二组")
    assert chain["village_cadre"] == "chen-dajun"
    assert org.chain("别的镇", "某村") == {}


def test_places_are_matched_by_name_within_their_parent() -> None:
    org = example()
    # Both villages of 天堂镇 have a 一组: each finds its own group leader.
    assert org.chain("天堂镇", "天堂村", group="一组")["group_leader"] == "sun-decai"
    assert org.chain("天堂镇", "龙门村", group="一组")["group_leader"] == "tian-hongwei"
    assert org.chain(" 天堂镇 ", "天堂村 ", group=" 一组")["group_leader"] == "sun-decai"
    assert "township_cadre" not in org.chain("木黄镇", "天堂村")


# --- contacts ---------------------------------------------------------------------------


def test_contacts_listed_on_units_and_people_route_notices_to_their_addresses() -> None:
    contacts = example().contacts
    assert contacts.of("person:feng-liping") == (
        Contact("email", "fengliping@ttxx.shifan.example"),
    )
    assert Contact("email", "jiaoyu@canlian.shifan.example") in contacts.of(
        "department:disability_federation"
    )
    assert contacts.of("school:天堂镇中心小学")[1].channel == "email"
    assert contacts.of("village:天堂镇/天堂村") == (Contact("letter", ""),)
    assert Contact("webhook", "dudao-kongchuo") in contacts.of("supervision_office")
    assert contacts.of("person:wu-deming") == contacts.default


def test_group_addresses_name_township_village_and_group() -> None:
    org, _ = parsed(lambda d: d["units"][5].update(contacts=[{"channel": "sms", "address": "1"}]))
    assert org is not None
    assert org.contacts.of("group:天堂镇/天堂村/一组") == (Contact("sms", "1"),)
    assert org.address_of("tt-xx") == "school:天堂小学"
    assert org.address_of("health") == "department:health"
    assert org.address_of("bureau") == "education_bureau"


def test_a_file_of_contacts_alone_still_works_as_before(tmp_path: Path) -> None:
    workspace = create(tmp_path / "ws")
    workspace.org_file.write_text(
        "contacts:\n  township:天堂镇:\n    - {channel: email, address: a@b.example}\n"
        "default:\n  - {channel: letter}\n",
        encoding="utf-8",
    )
    contacts = load_org(workspace, departments=DEPARTMENTS).contacts
    assert contacts.of("township:天堂镇") == (Contact("email", "a@b.example"),)
    assert contacts.of("school:x") == (Contact("letter", ""),)
    workspace.org_file.write_text("default:\n  - {address: x}\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"org.yaml: default\[0\]: needs a channel"):
        load_org(workspace, departments=DEPARTMENTS)
    workspace.org_file.unlink()
    assert load_org(workspace, departments=DEPARTMENTS).contacts == Contacts()


def test_loading_a_broken_org_lists_every_problem_one_per_line(tmp_path: Path) -> None:
    workspace = create(tmp_path / "ws")
    workspace.org_file.unlink()
    assert load_org(workspace, departments=DEPARTMENTS) == Org()
    workspace.org_file.write_text(org_text(lambda d: d.update(a=1, b=2)), encoding="utf-8")
    with pytest.raises(WorkspaceError) as caught:
        load_org(workspace, departments=DEPARTMENTS)
    lines = caught.value.message.splitlines()
    assert lines[0].startswith("2 problem(s) in ")
    assert [line.partition(";")[0] for line in lines[1:]] == [
        f"{workspace.org_file}: a: unknown key",
        f"{workspace.org_file}: b: unknown key",
    ]


def test_the_org_remembers_its_source_and_hash() -> None:
    text = org_text()
    org, _ = parse_org(text, "org.yaml", departments=DEPARTMENTS)
    assert org is not None
    assert org.source == text
    assert len(org.sha256) == 64
    assert describe_org(org)["sha256"] == org.sha256


# --- the CLI ----------------------------------------------------------------------------


def test_org_check_prints_ok_or_every_problem_with_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["org", "check", str(EXAMPLE)])
    assert good.exit_code == 0, good.output
    assert good.stdout == f"{EXAMPLE}: OK — 31 units, 51 people, 9 operators\n"
    broken = tmp_path / "org.yaml"
    broken.write_text(org_text(_set("people", 3, "unit", "xx")), encoding="utf-8")
    bad = runner.invoke(app, ["org", "check", str(broken)])
    assert bad.exit_code == 2
    assert f"{broken}: people[3].unit: unknown unit 'xx'" in bad.stderr
    assert "1 problem(s)" in bad.stderr
    missing = runner.invoke(app, ["org", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2


def test_org_check_reads_the_workspace_file_without_a_database(tmp_path: Path) -> None:
    workspace = create(tmp_path / "ws")
    result = CliRunner().invoke(app, ["-w", str(workspace.root), "org", "check"])
    assert result.exit_code == 0, result.output
    assert "OK — 0 units, 0 people, 0 operators" in result.stdout
    assert not (workspace.root / "caseflow.db").exists()


def test_org_show_prints_the_organisation_in_force_as_a_tree_and_json(
    workspace: Path, cli: CliInvoker
) -> None:
    write_example_org(load(workspace), os_user())
    applied = cli("org", "apply")
    assert applied.exit_code == 0, applied.stderr
    shown = cli("org", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stderr == ""  # the file is what is in force
    data = json.loads(shown.stdout)
    in_force = read_org(workspace / "org.yaml", departments=DEPARTMENTS)[0]
    assert in_force is not None and data == describe_org(in_force)
    feng = next(p for p in data["people"] if p["id"] == "feng-liping")
    assert feng["label"] == "天堂镇中心小学班主任冯丽萍"
    assert feng["position_label"] == "班主任"
    ops = {o["name"]: o for o in data["operators"]}
    assert ops["县教育局控辍办"]["jurisdiction"] == "county"
    text = cli("org", "show")
    assert text.exit_code == 0
    assert text.stdout == "".join(line + "\n" for line in org_lines(in_force))
    assert "      天堂村  村  <tiantang-tiantang>" in text.stdout
    assert "· 班主任 冯丽萍 <feng-liping>  五年级1班" in text.stdout


def test_org_show_keeps_to_the_organisation_in_force_and_warns_of_unapplied_edits(
    workspace: Path, cli: CliInvoker
) -> None:
    org_file = workspace / "org.yaml"
    write_example_org(load(workspace), os_user())
    assert cli("org", "apply").exit_code == 0
    in_force = cli("org", "show").stdout
    org_file.write_text(
        org_file.read_text(encoding="utf-8").replace("冯丽萍", "冯丽华"), encoding="utf-8"
    )
    edited = cli("org", "show")
    assert edited.exit_code == 0
    assert edited.stdout == in_force and "冯丽华" not in edited.stdout
    assert "org.yaml has been edited since the last `caseflow org apply`" in edited.stderr
    in_chinese = cli("--lang", "zh", "org", "show")
    assert "org.yaml 自上次 `caseflow org apply` 以来有修改，尚未生效" in in_chinese.stderr
    org_file.write_text("units: {}\n", encoding="utf-8")  # broken: org check says why
    broken = cli("org", "show")
    assert (broken.exit_code, broken.stdout) == (0, in_force)
    assert "the edits are not in force" in broken.stderr


def test_init_with_the_example_org_writes_a_file_that_checks_ok(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    runner = CliRunner()
    created = runner.invoke(app, ["init", str(root), "--example-org"])
    assert created.exit_code == 0, created.output
    written = (root / "org.yaml").read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    assert written == example.replace("os_user: jyj-kcb,", f"os_user: {os_user()},")
    assert 'name = "示范县"' in (root / "caseflow.toml").read_text(encoding="utf-8")
    checked = runner.invoke(app, ["-w", str(root), "org", "check"])
    assert checked.exit_code == 0, checked.output
    assert "OK — 31 units" in checked.stdout
    applied = runner.invoke(app, ["-w", str(root), "org", "apply"])
    assert applied.exit_code == 0, applied.output  # the creator is the example's admin
    assert "Operators removed: " + os_user() in applied.stdout


def test_a_contact_may_name_its_channel_in_chinese() -> None:
    org, problems = parsed(
        lambda d: d["contacts"].update(
            {"school:天堂小学": [{"channel": "企业微信", "address": "https://127.0.0.1/hook"}]}
        )
    )
    assert problems == []
    assert org is not None
    assert org.contacts.of("school:天堂小学") == (Contact("wecom", "https://127.0.0.1/hook"),)
