"""Access control against the example county (two townships): every operator sees only
the children of their jurisdiction, in every output; the supervisor changes nothing; a
department sees only what was referred to it; identities come from the OS, not $USER."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from caseflow import db
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, CaseNotFound
from caseflow.ids import make_id_number, mask_id_number
from caseflow.models import Notice
from caseflow.services.cases import ChildDetails, advance, list_cases, open_case, show_case
from caseflow.services.context import Context, open_context, os_user
from caseflow.services.org import apply_org
from caseflow.services.records import ESCALATION
from caseflow.workspace import load, write_example_org
from tests.conftest import CliInvoker, audit_trail, fixed_clock

NOTICE = Notice.__table__  # type: ignore[attr-defined]
ROOT = os_user()  # the example's bureau admin, once init --example-org wrote it


@dataclass(frozen=True)
class Child:
    key: str
    name: str
    id_number: str
    township: str
    village: str
    group: str
    school: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.name, self.id_number, mask_id_number(self.id_number))


CHILDREN = (
    Child(
        "tt",
        "田小雨",
        make_id_number("520626", date(2014, 5, 1), 11),
        "天堂镇",
        "天堂村",
        "一组",
        "天堂镇中心小学",
    ),
    Child(
        "mh",
        "龙小山",
        make_id_number("520626", date(2013, 7, 2), 23),
        "木黄镇",
        "木黄村",
        "一组",
        "木黄镇中心小学",
    ),
    Child(
        "tt_disabled",
        "冉小梅",
        make_id_number("520626", date(2012, 2, 9), 35),
        "天堂镇",
        "龙门村",
        "二组",
        "示范县第一中学",
    ),
    Child(
        "mh_health",
        "舒小军",
        make_id_number("520626", date(2011, 9, 30), 47),
        "木黄镇",
        "凤仪村",
        "一组",
        "示范县第一中学",
    ),
)

# Operator (org.yaml) -> OS account, and the children that operator may see.
VISIBLE = {
    "天堂镇控辍专干": ("ttz-kcb", {"tt", "tt_disabled"}),
    "木黄镇控辍专干": ("mhz-kcb", {"mh", "mh_health"}),
    "天堂镇中心小学控辍专员": ("ttxx-kcb", {"tt"}),
    "木黄镇中心小学控辍专员": ("mhxx-kcb", {"mh"}),
    "示范县第一中学控辍专员": ("yz-kcb", {"tt_disabled", "mh_health"}),
    "县残联联络员": ("cl-kcb", {"tt_disabled"}),
    "县卫健局联络员": ("wj-kcb", {"mh_health"}),
    "县教育局控辍办": (ROOT, {c.key for c in CHILDREN}),
    "县教育督导室": ("dd-kcb", {c.key for c in CHILDREN}),
}


@dataclass
class County:
    root: Path
    cli: CliInvoker
    cases: dict[str, int]

    def number(self, key: str) -> int:
        return self.cases[key]


def _as(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    monkeypatch.setattr("caseflow.services.context.os_user", lambda: account)


@pytest.fixture
def county(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[County]:
    write_example_org(load(workspace), ROOT)
    ctx = open_context(workspace, clock=fixed_clock)
    apply_org(ctx)
    ctx = open_context(workspace, clock=fixed_clock)  # now as 县教育局控辍办
    cases = {}
    for child in CHILDREN:
        cases[child.key] = open_case(
            ctx,
            ChildDetails(
                name=child.name,
                id_number=child.id_number,
                township=child.township,
                village=child.village,
                group=child.group,
                school=child.school,
            ),
            occurred_on=date(2026, 11, 20),
        ).number
    day = date(2026, 11, 23)
    advance(ctx, cases["tt_disabled"], "refer_disability_assessment", occurred_on=day)
    advance(ctx, cases["mh_health"], "start_verification", occurred_on=day)
    advance(ctx, cases["mh_health"], "refer_health", occurred_on=day)
    ctx.engine.dispose()
    yield County(workspace, CliInvoker(workspace), cases)


def _read_everything(county: County, files: Path) -> str:
    """The output of every reading command (and the files they write), for every case."""
    cli = county.cli
    written = [
        files / name
        for name in ("audit.jsonl", "report.html", "letters.html", "ledger.csv", "ledger.xlsx")
    ]
    runs = [
        ("case", "list"),
        ("case", "list", "--json", "--all"),
        ("audit", "log"),
        ("audit", "log", "--json"),
        ("audit", "export", "-o", str(written[0])),
        ("notify", "status"),
        ("escalate", "--dry-run"),
        ("ledger",),
        ("ledger", "--format", "json"),
        ("ledger", "--level", "township", "--unit", "天堂镇", "--format", "md"),
        ("ledger", "--level", "school", "--unit", "示范县第一中学", "--format", "csv"),
        ("ledger", "-o", str(written[3])),
        ("ledger", "-o", str(written[4])),
        ("stats",),
        ("stats", "--by", "township", "--json"),
        ("review", "overdue"),
        ("review", "assessment", "--json"),
        ("report", "html", "-o", str(written[1])),
        ("notice", "print", "-o", str(written[2])),
        ("roster", "history"),
    ]
    for number in county.cases.values():
        runs += [
            ("case", "show", str(number)),
            ("case", "show", str(number), "--json"),
            ("case", "history", str(number), "--json"),
            ("audit", "log", "--case", str(number)),
            ("notice", "preview", str(number), "persuasion_notice"),
        ]
    outputs = [r.stdout + r.stderr for r in (cli(*args) for args in runs)]
    for path in written:
        if path.suffix == ".xlsx" and path.exists():
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            outputs += [str(cell) for sheet in book for row in sheet.values for cell in row]
        elif path.exists():
            outputs.append(path.read_text(encoding="utf-8"))
        path.unlink(missing_ok=True)
    return "\n".join(outputs)


@pytest.mark.parametrize("operator", sorted(VISIBLE))
def test_no_output_ever_shows_a_child_outside_the_operators_jurisdiction(
    county: County, monkeypatch: pytest.MonkeyPatch, operator: str, tmp_path: Path
) -> None:
    account, visible = VISIBLE[operator]
    _as(monkeypatch, account)
    output = _read_everything(county, tmp_path)
    for child in CHILDREN:
        if child.key in visible:
            assert child.name in output, f"{operator} should see {child.name}"
        else:
            leaked = [s for s in child.secrets if s in output]
            assert not leaked, f"{operator} saw {leaked} of {child.township} {child.name}"


@pytest.mark.parametrize("operator", sorted(VISIBLE))
def test_a_case_outside_the_jurisdiction_is_not_found_rather_than_forbidden(
    county: County, monkeypatch: pytest.MonkeyPatch, operator: str
) -> None:
    account, visible = VISIBLE[operator]
    _as(monkeypatch, account)
    for key, number in county.cases.items():
        shown = county.cli("case", "show", str(number))
        if key in visible:
            assert shown.exit_code == 0
        else:
            assert shown.exit_code == 1
            assert f"case {number} not found" in shown.stderr


def _tables(root: Path) -> dict[str, list[Any]]:
    ctx = open_context(root, clock=fixed_clock)
    names = (
        "case_file",
        "child",
        "guardian",
        "notice",
        "escalation",
        "operator",
        "org_version",
        "case_referral",
        "roster_import",
    )
    with db.read(ctx.engine) as connection:
        tables = {
            name: sorted(
                map(tuple, connection.execute(text(f"SELECT * FROM {name}")).all()), key=repr
            )
            for name in names
        }
    ctx.engine.dispose()
    return tables


def test_the_supervisor_reads_everything_but_cannot_change_anything(
    county: County, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _tables(county.root)
    _as(monkeypatch, "dd-kcb")
    number = str(county.number("tt"))
    new_id = make_id_number("520626", date(2014, 1, 1), 77)
    roster = tmp_path / "household.csv"
    roster.write_text(
        f"姓名,身份证号,性别,出生日期,乡镇,村\n王小五,{new_id},男,2014-01-01,天堂镇,天堂村\n",
        encoding="utf-8",
    )
    attempts = [
        (
            "case",
            "open",
            "--name",
            "王小五",
            "--id-number",
            new_id,
            "--township",
            "天堂镇",
            "--village",
            "天堂村",
        ),
        ("case", "advance", number, "start_verification"),
        ("case", "note", number, "走访"),
        ("case", "update", number, "--grade", "五年级"),
        ("case", "extend", number, "--days", "5", "--reason", "理由"),
        ("case", "assign", number, "township_cadre", "tian-maolin"),
        ("notice", "letter", number, "persuasion_notice"),
        ("escalate",),
        ("notify", "dispatch"),
        ("org", "apply"),
        ("roster", "import", "household", str(roster)),
        ("roster", "compare", "--open-cases"),
    ]
    for args in attempts:
        result = county.cli(*args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert "may not" in result.stderr, (args, result.stderr)
    assert _tables(county.root) == before
    assert county.cli("case", "show", number).exit_code == 0
    assert county.cli("audit", "checkpoint").exit_code == 0  # the one thing it may write
    log = json.loads(county.cli("audit", "log", "--json").stdout)
    refused = [e for e in log if e["action"] == "access.refused"]
    assert len(refused) == len(attempts)
    assert {e["operator"] for e in refused} == {"县教育督导室"}


def test_a_department_sees_only_its_referrals_and_fires_only_their_transitions(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "cl-kcb")
    listed = json.loads(county.cli("case", "list", "--json").stdout)
    referred = county.number("tt_disabled")
    assert [c["number"] for c in listed] == [referred]
    shown = json.loads(county.cli("case", "show", str(referred), "--json").stdout)
    assert {t["trigger"] for t in shown["transitions"]} == {
        "disability_confirmed",
        "disability_not_confirmed",
    }
    other = county.cli("case", "advance", str(county.number("mh_health")), "health_cleared")
    assert other.exit_code == 1 and "not found" in other.stderr

    _as(monkeypatch, "wj-kcb")  # health sees its own referral, and only the handoff's steps
    health = county.number("mh_health")
    refused = county.cli("case", "advance", str(health), "defer")
    assert refused.exit_code == 1 and "may not fire 'defer'" in refused.stderr
    done = county.cli(
        "case",
        "advance",
        str(health),
        "health_cleared",
        "--set",
        "finding=可以随班就读",
        "--date",
        "2026-11-24",
    )
    assert done.exit_code == 0, done.stderr

    _as(monkeypatch, "cl-kcb")
    confirmed = county.cli(
        "case",
        "advance",
        str(referred),
        "disability_confirmed",
        "--set",
        "category=5",
        "--set",
        "grade=2",
        "--date",
        "2026-11-24",
    )
    assert confirmed.exit_code == 0, confirmed.stderr
    # The case moved on to the expert committee: the federation still sees it, but no step
    # of the bureau's is the federation's to take.
    again = json.loads(county.cli("case", "show", str(referred), "--json").stdout)
    assert again["state"] == "expert_assessment" and again["transitions"] == []


def test_a_department_may_not_fire_on_a_case_now_handed_to_another_department(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The federation found no disability; the bureau sent the child on to health. The
    # federation still sees the case it was once handed, but the case is health's now.
    number = county.number("tt_disabled")
    ctx = open_context(county.root, clock=fixed_clock)  # as 县教育局控辍办
    day = date(2026, 11, 24)
    advance(ctx, number, "disability_not_confirmed", {"finding": "未达残疾标准"}, occurred_on=day)
    advance(ctx, number, "refer_health", occurred_on=day)
    ctx.engine.dispose()
    before = _tables(county.root)

    _as(monkeypatch, "cl-kcb")
    assert number in [c["number"] for c in json.loads(county.cli("case", "list", "--json").stdout)]
    shown = json.loads(county.cli("case", "show", str(number), "--json").stdout)
    assert shown["state"] == "health_assessment" and shown["transitions"] == []
    refused = county.cli(
        "case", "advance", str(number), "health_cleared", "--set", "finding=可以就学"
    )
    assert refused.exit_code == 1
    assert "may not fire 'health_cleared'" in refused.stderr
    assert "a department only on a case handed to it; this one is with health" in refused.stderr
    assert _tables(county.root) == before

    _as(monkeypatch, "wj-kcb")  # the department the case is handed to
    allowed = county.cli(
        "case", "advance", str(number), "health_cleared", "--set", "finding=可以就学"
    )
    assert allowed.exit_code == 0, allowed.stderr
    after = json.loads(county.cli("case", "show", str(number), "--json").stdout)
    assert after["state"] == "persuasion" and after["version"] == shown["version"] + 1


def test_a_township_caseworker_opens_cases_only_in_its_own_township(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "ttz-kcb")
    elsewhere = make_id_number("520626", date(2014, 1, 1), 88)
    refused = county.cli(
        "case",
        "open",
        "--name",
        "王小五",
        "--id-number",
        elsewhere,
        "--township",
        "木黄镇",
        "--village",
        "木黄村",
    )
    assert refused.exit_code == 1 and "only for children of 天堂镇" in refused.stderr
    opened = county.cli(
        "case",
        "open",
        "--name",
        "王小五",
        "--id-number",
        elsewhere,
        "--township",
        "天堂镇",
        "--village",
        "天堂村",
        "--json",
    )
    assert opened.exit_code == 0, opened.stderr


def test_reading_a_case_file_is_logged_with_who_looked(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = county.number("tt")
    _as(monkeypatch, "ttz-kcb")
    county.cli("case", "show", str(number))
    county.cli("case", "history", str(number))
    _as(monkeypatch, "dd-kcb")
    log = json.loads(county.cli("audit", "log", "--json").stdout)
    reads = [
        (e["operator"], e["payload"]["view"])
        for e in log
        if e["action"] == "case.read" and e["payload"]["cases"] == [number]
    ]
    assert ("天堂镇控辍专干", "case show") in reads
    assert ("天堂镇控辍专干", "case history") in reads
    history = json.loads(county.cli("case", "history", str(number), "--json").stdout)
    assert "case.read" not in {e["action"] for e in history}  # the audit log has them


def test_a_shared_terminal_acts_for_an_operator_only_with_as_and_the_audit_names_both(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "ttz-office")
    number = str(county.number("tt"))
    without = county.cli("case", "note", number, "电话联系")
    assert without.exit_code == 1 and "choose one with --as (天堂镇控辍专干)" in without.stderr
    other = county.cli("--as", "木黄镇控辍专干", "case", "show", number)
    assert other.exit_code == 1 and "may not act as '木黄镇控辍专干'" in other.stderr
    noted = county.cli(
        "--as", "天堂镇控辍专干", "case", "note", number, "电话联系", "--date", "2026-11-24"
    )
    assert noted.exit_code == 0, noted.stderr
    _as(monkeypatch, ROOT)
    history = json.loads(county.cli("case", "history", number, "--json").stdout)
    assert (history[-1]["operator"], history[-1]["os_user"]) == ("天堂镇控辍专干", "ttz-office")


def test_the_audit_names_the_real_os_user_when_user_is_set_to_someone_else(
    county: County,
) -> None:
    env = {**os.environ, "USER": "dd-kcb", "LOGNAME": "dd-kcb", "CASEFLOW_WORKSPACE": ""}
    number = str(county.number("tt"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "caseflow.cli",
            "-w",
            str(county.root),
            "case",
            "note",
            number,
            "入户走访",
            "--date",
            "2026-11-24",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    history = json.loads(county.cli("case", "history", number, "--json").stdout)
    assert (history[-1]["operator"], history[-1]["os_user"]) == ("县教育局控辍办", ROOT)


def test_an_admin_without_a_case_role_sees_no_case_content(county: County) -> None:
    ctx = open_context(county.root, clock=fixed_clock)
    admin = Context(
        ctx.workspace,
        ctx.engine,
        Actor("系统管理员", "it", frozenset({"admin"})),
        fixed_clock,
        ctx.calendar,
    )
    assert list_cases(admin, include_closed=True) == []
    with pytest.raises(CaseNotFound):
        show_case(admin, county.number("tt"))
    with pytest.raises(AccessDenied):
        audit_trail(admin)
    ctx.engine.dispose()


def test_the_chain_is_filled_from_the_organisation_and_follows_the_child(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = str(county.number("tt"))
    shown = json.loads(county.cli("case", "show", number, "--json").stdout)
    assert {link["role"]: link["person"] for link in shown["chain"]} == {
        "county_leader": "wang-jianhua",
        "township_cadre": "li-chunyan",
        "village_cadre": "zhao-yongfu",
        "group_leader": "sun-decai",
        "bureau_leader": "zhou-haibo",
        "principal": "wu-deming",
    }
    updated = county.cli("case", "update", number, "--grade", "五年级", "--class", "1班")
    assert updated.exit_code == 0, updated.stderr
    chain = json.loads(county.cli("case", "show", number, "--json").stdout)["chain"]
    links = {link["role"]: link["label"] for link in chain}
    assert links["head_teacher"] == "天堂镇中心小学班主任冯丽萍"
    assert links["subject_teacher"] == "天堂镇中心小学包人科任教师陈思远"
    assert links["school_leader"] == "天堂镇中心小学包年级学校领导安国庆"  # 四至六年级

    assigned = county.cli("case", "assign", number, "township_cadre", "tian-maolin")
    assert assigned.exit_code == 0, assigned.stderr
    wrong = county.cli("case", "assign", number, "township_cadre", "feng-liping")
    assert wrong.exit_code == 2 and "not a 包村乡镇干部" in wrong.stderr
    history = json.loads(county.cli("case", "history", number, "--json").stdout)
    assert history[-1]["action"] == "case.assign"
    assert history[-1]["payload"] == {
        "role": "township_cadre",
        "from": "li-chunyan",
        "to": "tian-maolin",
    }


def test_escalation_rungs_address_the_people_of_the_chain(county: County) -> None:
    from caseflow.services.dispatch import show
    from caseflow.services.sweep import sweep

    ctx = open_context(county.root, clock=fixed_clock)
    late = open_case(
        ctx,
        ChildDetails(
            name="杨小林",
            id_number=make_id_number("520626", date(2013, 4, 4), 59),
            township="天堂镇",
            village="天堂村",
        ),
        occurred_on=date(2026, 11, 10),
    ).number
    sweep(ctx)  # due 13 November: the second rung (3 working days later) has fired
    with db.read(ctx.engine) as connection:
        fired = connection.execute(
            select(ESCALATION.c.rung, ESCALATION.c.recipients).where(ESCALATION.c.case_id == late)
        ).all()
        to_cadre = connection.execute(
            select(NOTICE.c.id).where(NOTICE.c.recipient == "person:li-chunyan")
        ).all()
    second = next(recipients for rung, recipients in fired if rung == 1)
    assert "person:li-chunyan" in second  # the township cadre covering the child's village
    assert "township_head:天堂镇" in second  # not in the chain: the township's head
    assert to_cadre and "天堂镇包村乡镇干部李春燕" in show(ctx, to_cadre[0].id).body
    ctx.engine.dispose()


def test_org_apply_refuses_a_file_that_would_lock_the_admin_out(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_file = county.root / "org.yaml"
    text_before = org_file.read_text(encoding="utf-8")
    org_file.write_text(text_before.replace("roles: [bureau, admin]", "roles: [bureau]"), "utf-8")
    refused = county.cli("org", "apply")
    assert refused.exit_code == 1 and "would lock you out" in refused.stderr
    org_file.write_text(text_before.replace("unit: tiantang,", "unit: nowhere,", 1), "utf-8")
    broken = county.cli("org", "apply")
    assert broken.exit_code == 2 and "unknown unit 'nowhere'" in broken.stderr
    _as(monkeypatch, "ttz-kcb")
    org_file.write_text(text_before, "utf-8")
    not_admin = county.cli("org", "apply")
    assert not_admin.exit_code == 1 and "may not use `caseflow org apply`" in not_admin.stderr


def test_org_apply_is_audited_and_a_changed_operator_takes_effect(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert county.cli("org", "apply").stdout.startswith("Already in force")
    org_file = county.root / "org.yaml"
    moved = org_file.read_text(encoding="utf-8").replace(
        "os_user: ttz-kcb, roles: [caseworker], unit: tiantang,",
        "os_user: ttz-kcb, roles: [caseworker], unit: muhuang,",
    )
    org_file.write_text(moved, encoding="utf-8")
    applied = county.cli("org", "apply")
    assert "Operators changed: 天堂镇控辍专干" in applied.stdout
    _as(monkeypatch, "ttz-kcb")  # now answers for 木黄镇
    listed = json.loads(county.cli("case", "list", "--json").stdout)
    assert {c["township"] for c in listed} == {"木黄镇"}
    _as(monkeypatch, "dd-kcb")
    log = json.loads(county.cli("audit", "log", "--json", "--action", "org.apply").stdout)
    assert log[-1]["payload"]["operators_changed"] == ["天堂镇控辍专干"]


def test_case_show_hides_the_birth_date_from_a_role_that_may_not_reveal_ids(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A masked ID, the birth date and the public region code rebuild the number."""
    number = county.number("tt")
    _as(monkeypatch, "ttz-kcb")  # a township caseworker: not among the reveal roles
    shown = json.loads(county.cli("case", "show", str(number), "--json").stdout)
    assert shown["child"]["birth_date"] is None
    assert "*" in shown["child"]["id_number"]
    assert "出生日期" not in county.cli("--lang", "zh", "case", "show", str(number)).stdout
    _as(monkeypatch, ROOT)  # the bureau, which may reveal IDs
    shown = json.loads(county.cli("case", "show", str(number), "--json").stdout)
    assert shown["child"]["birth_date"] is not None
    assert "出生日期 2014年5月1日" in county.cli("--lang", "zh", "case", "show", str(number)).stdout


def test_a_role_that_may_not_reveal_sees_the_guardian_phone_masked_in_show_and_history(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = str(county.number("tt"))
    phone = "13812345678"
    updated = county.cli(
        "case", "update", number, "--guardian", "田大山", "--guardian-phone", phone
    )
    assert updated.exit_code == 0, updated.stderr
    _as(monkeypatch, "ttz-kcb")  # a township caseworker: not among the reveal roles
    shown = county.cli("--lang", "zh", "case", "show", number)
    as_json = county.cli("case", "show", number, "--json")
    history = county.cli("--lang", "zh", "case", "history", number)
    history_json = county.cli("case", "history", number, "--json")
    for result in (shown, as_json, history, history_json):
        assert result.exit_code == 0, result.stderr
        assert phone not in result.stdout
    assert "监护人：田大山" in shown.stdout and "138****5678" in shown.stdout
    assert [g["phone"] for g in json.loads(as_json.stdout)["guardians"]] == ["138****5678"]
    assert "监护人电话：138****5678" in history.stdout
    _as(monkeypatch, ROOT)  # the bureau may reveal: the case file shows the number whole
    assert phone in county.cli("case", "show", number).stdout
    revealed = json.loads(county.cli("case", "show", number, "--json").stdout)
    assert [g["phone"] for g in revealed["guardians"]] == [phone]


@pytest.mark.parametrize(
    "attempt",
    [
        ("case", "show", "{n}"),
        ("case", "history", "{n}"),
        ("case", "advance", "{n}", "start_verification"),
        ("case", "note", "{n}", "上门了解情况"),
        ("case", "update", "{n}", "--grade", "七年级"),
        ("case", "extend", "{n}", "--days", "10", "--reason", "家长外出"),
        ("notice", "preview", "{n}", "persuasion_notice"),
        ("notice", "letter", "{n}", "persuasion_notice"),
    ],
    ids=lambda attempt: " ".join(attempt[:2]),
)
def test_asking_for_another_townships_case_reads_not_found_and_is_recorded(
    county: County, monkeypatch: pytest.MonkeyPatch, attempt: tuple[str, ...]
) -> None:
    number = county.number("mh")  # a 木黄镇 case
    tables_before = _tables(county.root)
    _as(monkeypatch, "ttz-kcb")  # the 天堂镇 caseworker
    result = county.cli(*(part.format(n=number) for part in attempt))
    assert result.exit_code == 1
    assert f"case {number} not found" in result.stderr
    assert _tables(county.root) == tables_before
    _as(monkeypatch, "dd-kcb")  # the supervision office reads the audit
    log = json.loads(county.cli("audit", "log", "--json").stdout)
    refused = [e for e in log if e["action"] == "access.refused"]
    assert len(refused) == 1
    assert refused[0]["operator"] == "天堂镇控辍专干"
    assert refused[0]["case"] == number
    assert refused[0]["payload"]["case"] == number
    assert refused[0]["payload"]["attempt"].startswith(" ".join(attempt[:2]))
    verified = county.cli("audit", "verify")
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_asking_for_a_case_number_nobody_has_records_nothing(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "ttz-kcb")
    assert county.cli("case", "show", "9999").exit_code == 1
    _as(monkeypatch, "dd-kcb")
    log = json.loads(county.cli("audit", "log", "--json").stdout)
    assert not [e for e in log if e["action"] == "access.refused"]


def test_case_assign_takes_the_role_and_the_person_in_chinese(county: County) -> None:
    number = str(county.number("tt"))
    assigned = county.cli("case", "assign", number, "包村乡镇干部", "田茂林")
    assert assigned.exit_code == 0, assigned.stderr
    history = json.loads(county.cli("case", "history", number, "--json").stdout)
    assert history[-1]["payload"]["role"] == "township_cadre"
    assert history[-1]["payload"]["to"] == "tian-maolin"
