"""The figures a supervisor signs, by their official definitions (docs/figures.md), on a
small hand-built county: every expected number is written below as arithmetic over named
children, never read from the code under test.

Today is 2026-11-29: the school year began 2026-09-01, school age is 6-15 on that day
(born 2010-09-02 .. 2020-09-01), and this year's 初中毕业班 (九年级) entered grade 1 in the
school year 2018. The registers are imported, the comparison (五查四比对) opens its cases
and routes the disabled child it finds straight to the expert committee, and the
caseworkers then verify each child as its name says.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow.ids import make_id_number
from caseflow.measures import percent
from caseflow.services.cases import ChildDetails, advance, open_case, open_cases
from caseflow.services.compare import compare
from caseflow.services.context import Context, open_context
from caseflow.services.roster import import_roster
from caseflow.services.stats import stats
from tests.conftest import CliInvoker, approved_closure, approver, fixed_clock

D = date
TOWNSHIP, VILLAGE = "天堂镇", "天堂村"

# name: (born, 学籍 (grade, status) or None, in the 残疾人 register)
HOUSEHOLD: dict[str, tuple[date, tuple[str, str] | None, bool]] = {
    "李明": (D(2014, 5, 1), ("五年级", "在读"), False),
    "王芳": (D(2014, 6, 1), ("五年级", "休学"), False),
    "赵刚": (D(2011, 3, 1), ("九年级", "毕业"), False),  # 15, finished 初中
    "钱小": (D(2013, 2, 1), ("六年级", "毕业"), False),  # finished 小学 only: out of school
    "孙丽": (D(2015, 1, 1), None, True),  # disabled; taught at home by the case
    "周杰": (D(2015, 2, 2), ("三年级", "送教上门"), False),  # taught at home, in 学籍
    "赵强": (D(2013, 5, 5), None, False),  # studying in another county
    "吴空": (D(2012, 7, 7), None, False),  # 空挂户: registered, never lived here
    "郑迁": (D(2014, 8, 8), None, False),  # moved out of the county
    "冯评": (D(2016, 1, 1), None, True),  # disabled: routed to the expert committee
    "陈病": (D(2016, 2, 2), None, False),  # sent to the disability federation
    "何失": (D(2013, 9, 9), None, False),  # whereabouts unknown
    "许缓": (D(2019, 3, 3), None, False),  # deferred for illness
    "老大": (D(2005, 1, 1), None, False),  # 21: not school age
}

# The cohort of the 巩固率 (born 2012, not in the household extract above): grade 1 in
# 2018 (one 学籍 register) and where they are in 2026 (the current one).
COHORT_2018 = ("林一", "林二", "林三", "林四", "林六")  # 一年级 在读 in 2018
COHORT_2026 = {
    "林一": ("九年级", "在读"),
    "林二": ("九年级", "在读"),
    "林三": ("八年级", "在读"),  # repeated a year: not in the graduating class
    "林四": ("七年级", "转出"),  # transferred out
    "林五": ("九年级", "在读"),  # transferred in after grade 1
}  # 林六: no 学籍 now; moved out of the county, verified by a case
COHORT_BORN = {
    name: D(2012, n, 10)
    for n, name in enumerate(("林一", "林二", "林三", "林四", "林五", "林六"), 1)
}


def resident(name: str) -> str:
    born = HOUSEHOLD[name][0] if name in HOUSEHOLD else COHORT_BORN[name]
    serial = sorted([*HOUSEHOLD, *COHORT_BORN]).index(name) + 10
    return make_id_number("522226", born, serial)


def write(path: Path, headings: str, rows: list[tuple[str, ...]]) -> Path:
    path.write_text(headings + "\n" + "".join(",".join(r) + "\n" for r in rows), "utf-8")
    return path


def student_row(name: str, grade: str, status: str) -> tuple[str, ...]:
    number = resident(name)
    return (name, number, "G" + number, "天堂中学", grade, "1班", status)


STUDENT_HEADINGS = "姓名,身份证号,学籍号,学校,年级,班级,学籍状态"


def import_registers(ctx: Context, folder: Path) -> None:
    households = []
    for name, (born, _school, _disabled) in HOUSEHOLD.items():
        number = resident(name)
        sex = "男" if int(number[16]) % 2 else "女"
        households.append((name, number, sex, born.isoformat(), TOWNSHIP, VILLAGE))
    students = [student_row(n, *school) for n, (_b, school, _d) in HOUSEHOLD.items() if school]
    students += [student_row(n, *COHORT_2026[n]) for n in COHORT_2026]
    disabled = [(n, resident(n), "7", "1") for n, (_b, _s, d) in HOUSEHOLD.items() if d]
    files = {
        "household": write(folder / "hukou.csv", "姓名,身份证号,性别,出生日期,乡镇,村", households),
        "student": write(folder / "xueji.csv", STUDENT_HEADINGS, students),
        "disability": write(folder / "canji.csv", "姓名,身份证号,残疾类别,残疾等级", disabled),
    }
    for source, path in files.items():
        assert import_roster(ctx, source, path).rejected == 0


def import_2018(cli: CliInvoker, folder: Path) -> dict:
    rows = [student_row(n, "一年级", "在读") for n in COHORT_2018]
    path = write(folder / "xueji-2018.csv", STUDENT_HEADINGS, rows)
    result = cli("roster", "import", "student", str(path), "--as-of", "2018-09-15", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def step(ctx: Context, number: int, trigger: str, **values: str) -> None:
    advance(ctx, number, trigger, values)


@pytest.fixture
def county(ctx: Context, tmp_path: Path) -> Context:
    """The registers imported, the comparison's cases opened, each child verified."""
    import_registers(ctx, tmp_path)
    comparison = compare(ctx)
    opened = open_cases(ctx, comparison)
    case = dict(zip((s.name for s in comparison.suspects), opened.opened, strict=True))
    assert "李明" not in case and "王芳" not in case  # at school: no case
    # 钱小: finished primary school and stayed home: a confirmed dropout.
    step(ctx, case["钱小"], "start_verification")
    step(ctx, case["钱小"], "confirm_dropout", reason="learning")
    # 孙丽: the expert committee advises home teaching; the school teaches her at home.
    step(
        ctx,
        case["孙丽"],
        "expert_opinion",
        opinion="home_teaching",
        assessed_on="2026-11-29",
        summary="重度残疾，建议送教上门",
    )
    step(ctx, case["孙丽"], "start_home_teaching", school="天堂中学", teachers="张老师")
    approved_closure(ctx, case["赵强"], "studying_elsewhere", "思南县某小学在读证明")
    approved_closure(ctx, case["吴空"], "register_error", "派出所证明：空挂户")
    step(
        ctx,
        case["郑迁"],
        "propose_transfer_out",
        receiving_county="重庆市秀山县",
        evidence="户口迁移证明",
    )
    advance(approver(ctx), case["郑迁"], "approve_transfer_out")
    step(ctx, case["陈病"], "start_verification")
    step(ctx, case["陈病"], "refer_disability_assessment")
    step(ctx, case["何失"], "start_verification")
    step(ctx, case["何失"], "report_missing")
    step(ctx, case["许缓"], "start_verification")
    step(
        ctx,
        case["许缓"],
        "defer",
        reason="illness",
        until="2027-03-01",
        approval="天府教〔2026〕5号",
    )
    # 林六 of the cohort: no longer in the registers; a case verified the move.
    moved = open_case(
        ctx,
        ChildDetails(name="林六", id_number=resident("林六"), township=TOWNSHIP, village=VILLAGE),
    ).number
    step(
        ctx, moved, "propose_transfer_out", receiving_county="湖南省凤凰县", evidence="户口迁移证明"
    )
    advance(approver(ctx), moved, "approve_transfer_out")
    return ctx


def figures(ctx: Context) -> dict:
    return stats(ctx).as_json()


def targets_of(view: dict) -> dict[str, dict]:
    return {t["key"]: t for t in view["targets"]}


def test_enrolment_counts_graduates_children_elsewhere_and_home_teaching_and_not_non_residents(
    county: Context,
) -> None:
    enrolled = len(
        [
            "李明_在读",
            "王芳_休学",
            "赵刚_初中毕业",
            "孙丽_送教上门",
            "周杰_送教上门",
            "赵强_异地就读",
        ]
    )
    school_age = [n for n in HOUSEHOLD if n != "老大"]
    non_residents = ["吴空_空挂户", "郑迁_迁出本县"]
    denominator = len(school_age) - len(non_residents)
    rate = targets_of(figures(county))["enrolment_rate"]
    assert (rate["numerator"], rate["denominator"]) == (enrolled, denominator)
    assert rate["actual"] == round(enrolled / denominator, 4)
    assert rate["met"] is False
    assert "送教上门" in rate["definition"] and "空挂户" in rate["definition"]


def test_a_verified_dropout_still_registered_as_studying_is_not_counted_enrolled(
    county: Context,
) -> None:
    before = targets_of(figures(county))["enrolment_rate"]
    # 李明 is 在读 in the 学籍 register, but the school reports he has stopped coming.
    number = open_case(
        county,
        ChildDetails(name="李明", id_number=resident("李明"), township=TOWNSHIP, village=VILLAGE),
    ).number
    step(county, number, "start_verification")
    after_suspicion = targets_of(figures(county))["enrolment_rate"]
    assert after_suspicion["numerator"] == before["numerator"]  # not yet verified
    step(county, number, "confirm_dropout", reason="learning")
    after = targets_of(figures(county))["enrolment_rate"]
    assert (after["numerator"], after["denominator"]) == (
        before["numerator"] - len(["李明_确认辍学"]),
        before["denominator"],
    )


def test_disabled_enrolment_counts_home_teaching_over_the_disability_register(
    county: Context,
) -> None:
    disabled = ["孙丽_送教上门", "冯评_专家评估"]
    enrolled = len(["孙丽_送教上门"])
    rate = targets_of(figures(county))["disabled_enrolment_rate"]
    assert (rate["numerator"], rate["denominator"]) == (enrolled, len(disabled))


def test_dropouts_by_category_keep_children_not_yet_placed_missing_or_deferred_apart(
    county: Context,
) -> None:
    view = figures(county)
    dropouts = {d["key"]: d for d in view["dropouts"]}
    assert {key: d["count"] for key, d in dropouts.items()} == {
        "dropout": len(["钱小_劝返中"]),
        # 冯评 was routed to the expert committee by the comparison, today.
        "awaiting_placement": len(["冯评_专家评估", "陈病_残联确认残疾"]),
        "missing": len(["何失_失踪失联"]),
        "deferred": len(["许缓_延缓入学"]),
    }
    assert all(d["definition"] for d in dropouts.values())
    target = targets_of(view)["open_dropouts"]
    assert (target["actual"], target["met"]) == (len(["钱小_劝返中"]), False)
    assert view["cases"]["suspected"] == len(["赵刚_待核查", "周杰_待核查"])
    assert view["cases"]["in_monitoring"] == len(["孙丽_送教上门"])


def test_a_disabled_child_routed_by_the_comparison_is_no_dropout_on_the_day_of_import(
    ctx: Context, tmp_path: Path
) -> None:
    import_registers(ctx, tmp_path)
    open_cases(ctx, compare(ctx))
    view = figures(ctx)
    counts = {d["key"]: d["count"] for d in view["dropouts"]}
    assert counts["dropout"] == 0
    assert counts["awaiting_placement"] == len(["孙丽_专家评估", "冯评_专家评估"])
    assert view["cases"]["dropouts_in_period"] == 0


def test_the_stats_command_prints_each_count_with_its_definition(
    county: Context, cli: CliInvoker
) -> None:
    text = cli("stats", "--lang", "zh").stdout
    assert "辍学人数（统计日，按类别）" in text
    assert "  未入学待安置 2：统计日正在残疾认定" in text
    assert "  失踪失联 1：" in text and "  延缓入学/休学 1：" in text


def test_consolidation_is_an_estimate_until_the_cohorts_entry_year_is_known(
    county: Context, cli: CliInvoker
) -> None:
    estimate = targets_of(figures(county))["consolidation_rate"]
    assert estimate["estimate"] is True and estimate["met"] is None
    assert estimate["label"] == "九年义务教育巩固率（估算）"
    assert "2018学年" in estimate["basis"] and "--as-of 2018-09-15" in estimate["basis"]
    shown = cli("stats", "--lang", "zh").stdout
    assert "估算" in shown.split("九年义务教育巩固率")[1].splitlines()[0]


def test_consolidation_by_the_cohort_formula_from_two_imported_years(
    county: Context, cli: CliInvoker
) -> None:
    before = targets_of(figures(county))["enrolment_rate"]
    kept = import_2018(cli, county.workspace.root)
    assert kept["current"] is False  # the 2026 register stays the current snapshot
    after = targets_of(figures(county))
    assert after["enrolment_rate"] == before  # the figures still read the 2026 register
    graduating = len(["林一", "林二", "林五"])
    entrants = len(COHORT_2018)
    transfers_in = len(["林五"])
    transfers_out = len(["林四_转出", "林六_迁出本县"])
    rate = after["consolidation_rate"]
    assert rate["estimate"] is False
    assert (rate["numerator"], rate["denominator"]) == (
        graduating,
        entrants + transfers_in - transfers_out,
    )
    assert rate["actual"] == round(graduating / (entrants + transfers_in - transfers_out), 4)
    assert rate["basis"] == "2018学年学籍一年级 5 人，转入 1 人，转出 2 人"
    history = json.loads(cli("roster", "history", "student", "--json").stdout)
    assert [(h["as_of"], h["current"]) for h in history] == [
        ("2018-09-15", False),
        ("2026-11-29", True),
    ]


def test_consolidation_from_a_configured_number_of_entrants(
    county: Context, workspace: Path
) -> None:
    config = workspace / "caseflow.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[figures]\ncohort_entrants = {2018 = 4}\n",
        encoding="utf-8",
    )
    configured = open_context(workspace, clock=fixed_clock)
    try:
        rate = targets_of(figures(configured))["consolidation_rate"]
    finally:
        configured.engine.dispose()
    graduating = len(["林一", "林二", "林五"])
    assert (rate["numerator"], rate["denominator"], rate["estimate"]) == (graduating, 4, False)
    assert "cohort_entrants" in rate["basis"]


def test_the_workflow_file_gives_closures_their_meaning_and_checks_it() -> None:
    from caseflow.resources import shipped
    from caseflow.states import parse_workflow

    text = (shipped("workflows") / "dropout.yaml").read_text(encoding="utf-8")
    workflow, problems = parse_workflow(text, "dropout.yaml")
    assert not problems and workflow is not None
    assert workflow.closure_meaning("transfer_proposed", None) == "not_resident"
    assert workflow.closure_meaning("closure_proposed", "studying_elsewhere") == "in_school"
    bad = text.replace("studying_elsewhere: in_school", "studying_elsewhere: elsewhere").replace(
        "closes_as: moved_out", "closes_as: emigrated"
    )
    _workflow, found = parse_workflow(bad, "dropout.yaml")
    assert {p.path for p in found} == {
        "closure_meanings.studying_elsewhere",
        "states.transfer_proposed.closes_as",
    }


def test_a_rate_short_of_the_target_is_never_printed_as_100_percent() -> None:
    assert percent(len(["在读"] * 2458) / 2459) == "99.96%"
    assert (percent(1.0), percent(39 / 40), percent(None)) == ("100.0%", "97.5%", "—")


@given(st.floats(min_value=0, max_value=1, exclude_max=True))
def test_no_rate_below_one_reads_as_100_percent(rate: float) -> None:
    assert float(percent(rate).removesuffix("%")) < 100
