"""Statistics against the targets and the annual assessment, on a hand-built set of cases
whose figures are worked out below by hand; the timeline a case's audit events give; and
the assessment's formula and its settings in caseflow.toml."""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from caseflow.errors import AccessDenied, InvalidInput, WorkspaceError
from caseflow.ids import make_id_number
from caseflow.measures import UNKNOWN_PLACE, Weights, median, score
from caseflow.services import sweep as sweep_service
from caseflow.services.cases import advance as advance_case
from caseflow.services.cases import open_case
from caseflow.services.context import open_context
from caseflow.services.roster import import_roster
from caseflow.services.stats import assessment, stats
from caseflow.timeline import Event, replay
from caseflow.workspace import AssessmentConfig, load
from tests.conftest import (
    CliInvoker,
    approved_closure,
    approver,
    audit_trail,
    child,
    fixed_clock,
)
from tests.test_ledger import as_operator, example_county, kid

D = date


def advance(ctx, number, trigger, day, **values) -> None:
    advance_case(ctx, number, trigger, values, occurred_on=day)


@pytest.fixture
def cases(ctx) -> dict[str, int]:
    """Five cases of 2026 (today is 2026-11-29), with their deadlines (working days count
    holidays: 10-01..10-07 are the National Day holiday):

    1 天堂镇, 天堂镇中心小学 — opened 06-01, verifying 06-02, confirmed 06-03, returned
      06-15 (14 days), check-ins 07-10, 08-05, 09-01; retained automatically at the end
      of its term of monitoring (four months, 10-15) by the sweep. Deadlines: identified
      (due 06-04) met, verifying (06-09) met, persuasion (06-25) met, returned (10-15) a
      timer: the school has no deadline that counts.
    2 天堂镇, 天堂镇中心小学 — opened 09-01, verifying 09-02, confirmed 09-03, returned
      09-21 (20 days), relapsed 10-12, since in persuasion (due 11-02): overdue, and the
      sweep escalates it. Deadlines: identified (09-04), verifying (09-09), persuasion
      (09-23) met; returned (due 2027-01-21) not in the period; persuasion (11-02) missed.
    3 木黄镇 — opened 11-02, closure proposed and approved (studying elsewhere) 11-03:
      identified (11-05) and the bureau's approval (11-10) met; never a dropout.
    4 木黄镇 — opened 11-10, identified due 11-13: missed, overdue, escalated.
    5 天堂镇 — opened 10-13, verifying 10-14, deferred 10-15 until 2027-03-01:
      identified (10-16) and verifying (10-21) met; deferral due next year.
    """
    school_t, school_m = "天堂镇中心小学", "木黄镇中心小学"
    one = open_case(ctx, child(1, school=school_t), occurred_on=D(2026, 6, 1)).number
    advance(ctx, one, "start_verification", D(2026, 6, 2))
    advance(ctx, one, "confirm_dropout", D(2026, 6, 3), reason="learning")
    advance(ctx, one, "return_to_school", D(2026, 6, 15), placement="original_class", school="x")
    for day in (D(2026, 7, 10), D(2026, 8, 5), D(2026, 9, 1)):
        advance(ctx, one, "check_in", day, attending="steady")
    two = open_case(ctx, child(2, school=school_t), occurred_on=D(2026, 9, 1)).number
    advance(ctx, two, "start_verification", D(2026, 9, 2))
    advance(ctx, two, "confirm_dropout", D(2026, 9, 3), reason="poverty")
    advance(ctx, two, "return_to_school", D(2026, 9, 21), placement="original_class", school="x")
    advance(ctx, two, "relapse", D(2026, 10, 12), absent_since="2026-10-09")
    three = open_case(
        ctx, child(3, township="木黄镇", school=school_m), occurred_on=D(2026, 11, 2)
    ).number
    approved_closure(ctx, three, "studying_elsewhere", "证明", occurred_on=D(2026, 11, 3))
    four = open_case(
        ctx, child(4, township="木黄镇", school=school_m), occurred_on=D(2026, 11, 10)
    ).number
    five = open_case(ctx, child(5, school=school_t), occurred_on=D(2026, 10, 13)).number
    advance(ctx, five, "start_verification", D(2026, 10, 14))
    advance(
        ctx, five, "defer", D(2026, 10, 15), reason="illness", until="2027-03-01", approval="批"
    )
    sweep_service.sweep(ctx)  # retains case 1; escalates cases 2 and 4
    return {"one": one, "two": two, "three": three, "four": four, "five": five}


def test_the_case_figures_of_the_year(ctx, cases) -> None:
    figures = stats(ctx).as_json()
    assert (figures["as_of"], figures["since"], figures["scope"]) == (
        "2026-11-29",
        "2026-01-01",
        "county",
    )
    assert {row["state"]: row["count"] for row in figures["by_state"]} == {
        "identified": 1,
        "persuasion": 1,
        "deferred": 1,
        "retained": 1,
        "closed": 1,
    }
    assert figures["cases"] == {
        "cases": 5,
        "open": 3,
        "suspected": 1,  # case 4
        "open_dropouts": 1,  # case 2, relapsed
        "awaiting_placement": 0,
        "missing": 0,
        "deferred": 1,
        "in_monitoring": 0,
        "identified": 5,
        "returned": 2,
        "retained": 1,
        "relapses": 1,
        "relapsed_cases": 1,
        "dropouts_in_period": 2,
        "returned_dropouts": 2,  # cases 1 and 2, both confirmed dropouts first
        "return_rate": 1.0,
        "retention_rate": 0.5,
        "median_days_to_return": 17.0,  # 14 and 20
        "overdue": 2,  # cases 2 and 4
        "on_time": {"due": 12, "met": 10, "missed": 2, "escalated": 2, "rate": 0.8333},
    }
    units = {u["unit"]: u for u in figures["on_time_by_unit"]}
    assert {k: (u["due"], u["met"], u["missed"], u["escalated"]) for k, u in units.items()} == {
        "township:天堂镇": (9, 8, 1, 1),
        "township:木黄镇": (2, 1, 1, 1),
        "education_bureau": (1, 1, 0, 0),  # case 3's closure approved in time
    }
    assert units["township:天堂镇"]["label"] == "天堂镇人民政府"
    targets = {t["key"]: t for t in figures["targets"]}
    assert targets["open_dropouts"]["actual"] == 1 and targets["open_dropouts"]["met"] is False
    assert set(figures["definitions"]) >= {"on_time", "returned", "median_days_to_return"}


def test_a_case_awaiting_closure_counts_where_it_stood_and_a_rejected_closure_is_no_return(
    ctx,
) -> None:
    back = open_case(ctx, child(1), occurred_on=D(2026, 9, 1)).number
    advance(ctx, back, "start_verification", D(2026, 9, 2))
    advance(ctx, back, "confirm_dropout", D(2026, 9, 3), reason="learning")
    advance(ctx, back, "return_to_school", D(2026, 9, 21), placement="original_class", school="x")
    advance(ctx, back, "propose_closure", D(2026, 10, 12), reason="enrolled", evidence="学籍证明")
    advance(approver(ctx), back, "reject_closure", D(2026, 10, 13), reason="巩固观察未满一个学期")
    waiting = open_case(ctx, child(2), occurred_on=D(2026, 11, 2)).number
    advance(
        ctx, waiting, "propose_closure", D(2026, 11, 3), reason="register_error", evidence="重复"
    )
    figures = stats(ctx).as_json()["cases"]
    assert (figures["returned"], figures["in_monitoring"]) == (1, 1)
    assert (figures["suspected"], figures["open_dropouts"]) == (1, 0)
    assert (figures["dropouts_in_period"], figures["return_rate"]) == (1, 1.0)


def test_a_shorter_period_and_an_earlier_day(ctx, cases) -> None:
    autumn = stats(ctx, since=D(2026, 9, 1)).as_json()["cases"]
    assert (autumn["identified"], autumn["returned"], autumn["retained"]) == (4, 1, 1)
    assert autumn["median_days_to_return"] == 20.0
    # Every deadline due from 09-01: case 2's four; cases 3 (two), 4 and 5's.
    assert autumn["on_time"] == {"due": 9, "met": 7, "missed": 2, "escalated": 2, "rate": 0.7778}
    summer = stats(ctx, as_of=D(2026, 7, 1)).as_json()
    assert {row["state"]: row["count"] for row in summer["by_state"]} == {"returned": 1}
    assert summer["cases"]["returned"] == 1 and summer["cases"]["overdue"] == 0
    assert summer["cases"]["on_time"]["due"] == 3  # identified, verifying, persuasion


def test_figures_by_township_and_by_school(ctx, cases) -> None:
    by_township = {g["name"]: g for g in stats(ctx, by="township").as_json()["groups"]}
    assert set(by_township) == {"天堂镇", "木黄镇"}
    tt, mh = by_township["天堂镇"], by_township["木黄镇"]
    assert (tt["cases"], tt["returned"], tt["relapses"], tt["overdue"]) == (3, 2, 1, 1)
    assert tt["on_time"]["due"] == 9 and tt["on_time"]["met"] == 8
    assert (mh["cases"], mh["suspected"], mh["overdue"], mh["on_time"]["rate"]) == (2, 1, 1, 0.5)
    by_school = {g["name"]: g for g in stats(ctx, by="school").as_json()["groups"]}
    # The school's only deadline, case 1's term of monitoring, ended by the sweep: a timer.
    assert by_school["天堂镇中心小学"]["on_time"] == {
        "due": 0,
        "met": 0,
        "missed": 0,
        "escalated": 0,
        "rate": None,
    }
    with pytest.raises(InvalidInput, match="--by must be"):
        stats(ctx, by="village")


def test_figures_that_need_registers_say_so_instead_of_a_number(ctx, cases) -> None:
    targets = {t["key"]: t for t in stats(ctx).as_json()["targets"]}
    for key in ("enrolment_rate", "disabled_enrolment_rate", "consolidation_rate"):
        assert targets[key]["actual"] is None and targets[key]["met"] is None
        assert targets[key]["note"]
        assert targets[key]["definition"]
    assert [t["target"] for t in targets.values()] == ["100%", "≥95%", "0", "≥95%"]


def test_the_annual_assessment(ctx, cases) -> None:
    result = assessment(ctx, year=2026).as_json()
    assert result["formula"].startswith("得分 = 100 ×（40×按时办结率 + 30×劝返率 + 30×复学巩固率）")
    townships = {s["name"]: s for s in result["townships"]}
    # 天堂镇: on time 8/9, returned 2 of 2 dropouts, retained 1 of (1 + 1 relapsed), one
    # relapse: 100 × (40 × 8/9 + 30 × 1 + 30 × 0.5) / 100 − 2 × 1 = 78.56
    assert townships["天堂镇"]["score"] == 78.6
    # 木黄镇: on time 1/2; no dropout, nothing retained: only the on-time rate counts.
    assert townships["木黄镇"]["score"] == 50.0
    assert [s["name"] for s in result["townships"]] == ["天堂镇", "木黄镇"]
    schools = {s["name"]: s for s in result["schools"]}
    # 天堂镇中心小学: no deadline counted, returned 2/2, retained 1/2, one relapse:
    # 100 × (30 × 1 + 30 × 0.5) / 60 − 2 = 73.
    assert schools["天堂镇中心小学"]["score"] == 73.0
    assert schools["木黄镇中心小学"]["score"] is None  # nothing to measure
    last_year = assessment(ctx, year=2025).as_json()
    # The organisation's township is listed, with nothing to measure in a year without cases.
    assert [(s["name"], s["score"]) for s in last_year["townships"]] == [("天堂镇", None)]
    assert last_year["as_of"] == "2025-12-31"
    with pytest.raises(InvalidInput, match="has not begun"):
        assessment(ctx, year=2027)


@pytest.fixture
def unplaced(ctx, cases) -> int:
    """A sixth case, of a child the registers place in no township or village (the
    comparison records 待核实 for both) and at no school: opened 11-02 and left in
    identified, its deadline (11-05) missed."""
    number = open_case(
        ctx,
        child(6, township=UNKNOWN_PLACE, village=UNKNOWN_PLACE, school=None),
        occurred_on=D(2026, 11, 2),
    ).number
    sweep_service.sweep(ctx)
    return number


def test_a_case_of_no_known_place_is_shown_apart_and_never_as_a_unit(ctx, unplaced) -> None:
    figures = stats(ctx, by="township").as_json()
    assert figures["cases"]["cases"] == 6 and figures["cases"]["suspected"] == 2
    assert [g["name"] for g in figures["groups"]] == ["天堂镇", "木黄镇"]
    apart = figures["apart"]
    assert (apart["name"], apart["cases"], apart["suspected"], apart["overdue"]) == (
        "地址待核实",
        1,
        1,
        1,
    )
    missed = {"due": 1, "met": 0, "missed": 1, "escalated": 1, "rate": 0.0}
    assert apart["on_time"] == missed == figures["on_time_unplaced"]
    assert all("待核实" not in u["unit"] for u in figures["on_time_by_unit"])
    # The county's on-time rate still counts it: 10 of the 12 deadlines before, now 13.
    assert figures["cases"]["on_time"]["due"] == 13
    by_school = stats(ctx, by="school").as_json()
    assert by_school["apart"]["name"] == "未填学校" and by_school["apart"]["cases"] == 1
    assert [g["name"] for g in by_school["groups"]] == ["天堂镇中心小学", "木黄镇中心小学"]
    result = assessment(ctx, year=2026).as_json()
    assert [s["name"] for s in result["townships"]] == ["天堂镇", "木黄镇"]
    assert result["unplaced"] == {"cases": 1, "on_time": missed}


def test_the_assessment_lists_units_with_nothing_to_measure_apart_from_the_ranking(
    workspace,
) -> None:
    """示范县 has two townships and three schools. 天堂镇's one case (at 天堂镇中心小学) was
    closed as not a dropout, its deadlines met: 天堂镇 scores 100 on its on-time rate,
    天堂镇中心小学 had a case but nothing to measure, and 木黄镇, 木黄镇中心小学 and
    示范县第一中学 had no case at all."""
    ctx = example_county(workspace)
    pupil = kid(11, "田小雨", "天堂镇", "天堂村", "一组", "天堂镇中心小学")
    number = open_case(ctx, pupil, occurred_on=D(2026, 11, 2)).number
    approved_closure(ctx, number, "studying_elsewhere", "证明", occurred_on=D(2026, 11, 3))
    result = assessment(ctx, year=2026).as_json()
    ctx.engine.dispose()
    scored = {s["name"]: (s["score"], s["unscored"]) for s in result["townships"]}
    assert scored == {"天堂镇": (100.0, None), "木黄镇": (None, "年内无案件")}
    schools = {s["name"]: (s["score"], s["unscored"]) for s in result["schools"]}
    assert schools == {
        "天堂镇中心小学": (None, "无可计量数据"),
        "木黄镇中心小学": (None, "年内无案件"),
        "示范县第一中学": (None, "年内无案件"),
    }


def test_the_figures_as_printed_show_no_place_to_be_verified_as_a_unit(
    workspace, unplaced, monkeypatch
) -> None:
    monkeypatch.setattr(
        "caseflow.services.context.open_context",
        functools.partial(open_context, clock=fixed_clock),
    )
    cli = CliInvoker(workspace)
    shown = cli("stats", "--by", "township", "--lang", "zh").stdout
    assert "待核实人民政府" not in shown and "\n  待核实" not in shown
    assert "  地址待核实（责任单位未确定）  到期 1，按期 0" in shown
    assert "  地址待核实（不计入各乡镇）  在办 1，" in shown
    review = cli("review", "assessment", "--year", "2026", "--lang", "zh").stdout
    assert "待核实 " not in review.replace("地址待核实", "")
    assert "  1. 天堂镇  78.6 分" in review and "  2. 木黄镇  " in review
    assert "  不评分（无可计量数据）：木黄镇中心小学" in review
    assert "地址待核实的案件 1 件（到期期限 1 个，按期 0 个）不计入任何乡镇和学校" in review
    overdue = cli("review", "overdue", "--as-of", "2026-11-29").stdout
    assert "地址待核实（责任单位未确定）" in overdue and "待核实人民政府" not in overdue


def test_the_assessment_weights_come_from_the_workspace(workspace, cases) -> None:
    config = workspace / "caseflow.toml"
    text = config.read_text(encoding="utf-8")
    assert "[assessment]\n" in text and "on_time = 40\n" in text  # documented defaults
    config.write_text(
        text.replace("on_time = 40", "on_time = 100")
        .replace("returned = 30", "returned = 0")
        .replace("retained = 30", "retained = 0")
        .replace("relapse_penalty = 2", "relapse_penalty = 0"),
        encoding="utf-8",
    )
    ctx = open_context(workspace, clock=fixed_clock)
    result = assessment(ctx).as_json()
    ctx.engine.dispose()
    assert result["weights"] == {
        "on_time": 100.0,
        "returned": 0.0,
        "retained": 0.0,
        "relapse_penalty": 0.0,
    }
    assert {s["name"]: s["score"] for s in result["townships"]} == {"天堂镇": 88.9, "木黄镇": 50.0}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("weight = 3", "assessment.weight is not a setting"),
        ("on_time = -1", "must be a number, 0 or more"),
        ("on_time = true", "must be a number, 0 or more"),
        ('on_time = "40"', "must be a number, 0 or more"),
    ],
)
def test_a_bad_assessment_setting_is_refused_by_name(tmp_path: Path, setting, message) -> None:
    (tmp_path / "caseflow.toml").write_text(f"[assessment]\n{setting}\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match=message):
        load(tmp_path)


def test_an_assessment_that_weighs_nothing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "caseflow.toml").write_text(
        "[assessment]\non_time = 0\nreturned = 0\nretained = 0\n", encoding="utf-8"
    )
    with pytest.raises(WorkspaceError, match="at least one of"):
        load(tmp_path)
    (tmp_path / "caseflow.toml").write_text("", encoding="utf-8")
    assert load(tmp_path).assessment == AssessmentConfig()


def test_the_score_formula() -> None:
    weights = Weights()
    assert score(weights, on_time=1.0, return_rate=1.0, retention_rate=1.0, relapses=0) == 100
    assert score(weights, on_time=0.5, return_rate=1.0, retention_rate=0.0, relapses=0) == 50
    # A rate with nothing to measure is left out; the others share its weight.
    assert score(weights, on_time=0.5, return_rate=None, retention_rate=None, relapses=0) == 50
    assert score(weights, on_time=None, return_rate=1.0, retention_rate=0.5, relapses=1) == 73
    assert score(weights, on_time=0.0, return_rate=0.0, retention_rate=0.0, relapses=3) == 0
    assert score(weights, on_time=None, return_rate=None, retention_rate=None, relapses=2) is None
    assert median(Counter({14: 1, 20: 1})) == 17 and median(Counter({3: 2, 9: 1})) == 3
    assert median(Counter()) is None


def test_the_timeline_reads_deadlines_back_from_the_events(ctx) -> None:
    workflow = ctx.current_workflow
    events = [
        Event("case.open", D(2026, 11, 2), {"state": "identified", "due_on": "2026-11-05"}),
        Event(
            "case.transition",
            D(2026, 11, 3),
            {
                "trigger": "start_verification",
                "from": "identified",
                "to": "verifying",
                "due_on": "2026-11-10",
            },
        ),
        Event(
            "case.extension",
            D(2026, 11, 9),
            {"state": "verifying", "from_due_on": "2026-11-10", "due_on": "2026-11-20"},
        ),
        Event(
            "case.transition",
            D(2026, 11, 16),
            {
                "trigger": "confirm_dropout",
                "from": "verifying",
                "to": "persuasion",
                "due_on": "2026-12-07",
                "values": {"reason": "poverty"},
            },
        ),
    ]
    line = replay(events, workflow)
    assert [(d.state, d.due_on, d.ended_on) for d in line.deadlines] == [
        ("identified", D(2026, 11, 5), D(2026, 11, 3)),
        ("verifying", D(2026, 11, 20), D(2026, 11, 16)),  # met: it was extended
        ("persuasion", D(2026, 12, 7), None),
    ]
    assert [d.status(D(2026, 11, 29)) for d in line.deadlines] == ["met", "met", "pending"]
    assert (line.state, line.entered_on, line.is_open) == ("persuasion", D(2026, 11, 16), True)
    before = replay(events, workflow, until=D(2026, 11, 12))
    assert (before.state, before.due_on) == ("verifying", D(2026, 11, 20))
    assert before.deadlines[-1].status(D(2026, 11, 21)) == "missed"


def test_a_township_caseworker_gets_the_figures_of_the_township(workspace, monkeypatch) -> None:
    bureau = example_county(workspace)
    open_case(bureau, kid(11, "田小雨", "天堂镇", "天堂村", "一组", "天堂镇中心小学"))
    open_case(bureau, kid(23, "龙小山", "木黄镇", "木黄村", "一组", "木黄镇中心小学"))
    open_case(bureau, kid(35, "冉小梅", "木黄镇", "凤仪村", "一组", "木黄镇中心小学"))
    bureau.engine.dispose()
    as_operator(monkeypatch, "ttz-kcb")  # 天堂镇控辍专干
    ctx = open_context(workspace, clock=fixed_clock)
    figures = stats(ctx, by="township").as_json()
    assert figures["scope"] == "township:天堂镇"
    assert figures["cases"]["cases"] == 1
    assert [g["name"] for g in figures["groups"]] == ["天堂镇"]
    with pytest.raises(AccessDenied, match="review assessment"):
        assessment(ctx)
    ctx.engine.dispose()
    monkeypatch.undo()  # the bureau again, to read the audit trail
    ctx = open_context(workspace, clock=fixed_clock)
    reads = audit_trail(ctx)
    ctx.engine.dispose()
    logged = [e for e in reads if e["action"] == "case.read"]
    assert logged[-1]["operator"] == "天堂镇控辍专干"
    assert logged[-1]["payload"]["view"] == "stats"
    assert any(e["action"] == "access.refused" for e in reads)


def test_the_stats_and_assessment_commands(workspace, cases, monkeypatch) -> None:
    monkeypatch.setattr(
        "caseflow.services.context.open_context",
        functools.partial(open_context, clock=fixed_clock),
    )
    cli = CliInvoker(workspace)
    shown = cli("stats", "--by", "township", "--lang", "zh")
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    assert out.startswith(
        "本县控辍保学工作统计（截至2026年11月29日；统计期 2026-01-01 至 2026-11-29"
    )
    assert "义务教育阶段辍学人数（零辍学）：目标 0，实际 1  未达标" in out
    assert "按时办结率 83.3%（按期 10/到期 12，逾期 2，已升级督办 2）" in out
    assert "天堂镇人民政府  到期 9，按期 8，逾期 1" in out
    assert "口径说明" in out and "按时办结率 = 按期办结的期限数" in out
    data = json.loads(cli("stats", "--json", "--since", "2026-09-01").stdout)
    assert data["since"] == "2026-09-01"
    assert cli("stats", "--by", "village").exit_code == 2
    assert cli("stats", "--as-of", "2026-12-01").exit_code == 2
    review = cli("review", "assessment", "--year", "2026", "--lang", "zh")
    assert review.exit_code == 0, review.stderr
    assert "计分办法：得分 = 100 ×" in review.stdout
    assert "1. 天堂镇  78.6 分；按时办结率 88.9%（8/9），劝返率 100.0%（2/2）" in review.stdout
    assert json.loads(cli("review", "assessment", "--json").stdout)["year"] == 2026


# ---------------------------------------------------------------------------------------
# Figures from the registers


def write_register(folder: Path, source: str, rows: list[tuple[str, ...]]) -> Path:
    headings = {
        "household": "姓名,身份证号,性别,出生日期,乡镇,村",
        "student": "姓名,身份证号,学籍号,学校,年级,班级,学籍状态",
        "disability": "姓名,身份证号,残疾类别,残疾等级",
    }[source]
    path = folder / f"{source}.csv"
    path.write_text(headings + "\n" + "".join(",".join(r) + "\n" for r in rows), "utf-8")
    return path


def resident(serial: int, born: date) -> str:
    return make_id_number("520626", born, serial)


def household_row(serial: int, born: date, township: str) -> tuple[str, ...]:
    number = resident(serial, born)
    sex = "男" if int(number[16]) % 2 else "女"
    return (f"儿童{serial}", number, sex, born.isoformat(), township, "一村")


def student_row(serial: int, born: date, status: str) -> tuple[str, ...]:
    number = resident(serial, born)
    return (f"儿童{serial}", number, "G" + number, "天堂小学", "五年级", "1班", status)


# School age on 2026-11-29: aged 6-15 on 2026-09-01 (born 2010-09-02 .. 2020-09-01); the
# consolidation cohort: aged 14 then (born 2011-09-02 .. 2012-09-01).
CHILDREN = {  # serial: (born, township, 学籍 status or None)
    1: (D(2014, 5, 1), "天堂镇", "在读"),
    2: (D(2014, 6, 1), "天堂镇", "休学"),
    3: (D(2013, 1, 1), "天堂镇", None),
    4: (D(2015, 1, 1), "木黄镇", "在读"),
    5: (D(2005, 1, 1), "木黄镇", None),  # too old: not school age
    6: (D(2012, 3, 1), "天堂镇", "在读"),  # cohort, at school
    7: (D(2012, 5, 5), "天堂镇", None),  # cohort, not
}


def import_registers(ctx, folder: Path, sources: tuple[str, ...]) -> None:
    rows = {
        "household": [household_row(s, b, t) for s, (b, t, _st) in CHILDREN.items()],
        "student": [student_row(s, b, st) for s, (b, _t, st) in CHILDREN.items() if st],
        # Disabled: child 3 (not at school) and child 1 (at school).
        "disability": [(f"儿童{s}", resident(s, CHILDREN[s][0]), "4", "2") for s in (3, 1)],
    }
    for source in sources:
        summary = import_roster(ctx, source, write_register(folder, source, rows[source]))
        assert summary.rejected == 0, summary.problems


def targets_of(ctx, **asked) -> dict[str, dict]:
    return {t["key"]: t for t in stats(ctx, **asked).as_json()["targets"]}


def test_the_enrolment_and_consolidation_rates_from_the_registers(ctx, tmp_path) -> None:
    none = targets_of(ctx)
    assert none["enrolment_rate"]["note"] == "需导入户籍和学籍数据"
    assert none["disabled_enrolment_rate"]["note"] == "需导入残疾人和学籍数据"
    assert none["consolidation_rate"]["actual"] is None
    import_registers(ctx, tmp_path, ("household", "student"))
    two = targets_of(ctx)
    # School age: 1, 2, 3, 4, 6, 7; at school (在读 or 休学): 1, 2, 4, 6.
    assert (two["enrolment_rate"]["numerator"], two["enrolment_rate"]["denominator"]) == (4, 6)
    assert two["enrolment_rate"]["actual"] == 0.6667 and two["enrolment_rate"]["met"] is False
    # Aged 14: 6 and 7; 6 at school.
    assert two["consolidation_rate"]["actual"] == 0.5
    assert two["disabled_enrolment_rate"]["note"] == "需导入残疾人数据"
    import_registers(ctx, tmp_path, ("disability",))
    three = targets_of(ctx)
    assert three["disabled_enrolment_rate"]["actual"] == 0.5
    assert three["disabled_enrolment_rate"]["note"] is None
    groups = {g["name"]: g for g in stats(ctx, by="township").as_json()["groups"]}
    assert groups["天堂镇"]["enrolment_rate"] == {"rate": 0.6, "numerator": 3, "denominator": 5}
    assert groups["木黄镇"]["enrolment_rate"]["rate"] == 1.0
    assert groups["天堂镇"]["disabled_enrolment_rate"]["rate"] == 0.5
    assert groups["木黄镇"]["cases"] == 0  # a township without cases still has its rates


def test_a_township_caseworker_gets_the_rates_of_the_township(
    workspace, tmp_path, monkeypatch
) -> None:
    bureau = example_county(workspace)
    import_registers(bureau, tmp_path, ("household", "student", "disability"))
    bureau.engine.dispose()
    as_operator(monkeypatch, "mhz-kcb")  # 木黄镇控辍专干
    ctx = open_context(workspace, clock=fixed_clock)
    targets = targets_of(ctx)
    ctx.engine.dispose()
    assert targets["enrolment_rate"]["numerator"] == 1
    assert targets["enrolment_rate"]["denominator"] == 1
    disabled = targets["disabled_enrolment_rate"]  # no disabled child lives in 木黄镇
    assert (disabled["actual"], disabled["note"]) == (None, "登记中没有符合条件的儿童少年")
    as_operator(monkeypatch, "yz-kcb")  # a school: the rates are the townships'
    ctx = open_context(workspace, clock=fixed_clock)
    assert targets_of(ctx)["enrolment_rate"]["note"] == "以户籍人口为基数，学校和部门账户不计算"
    ctx.engine.dispose()


# The help of the figures, review, report, demo and audit commands, as a caseworker reads it
# by default. The codes a user types (ledger kinds, levels, state ids) and product names
# stay as they are written.
FIGURE_COMMANDS = [
    ("ledger",),
    ("stats",),
    ("demo",),
    ("review", "overdue"),
    ("review", "assessment"),
    ("report", "html"),
    ("audit", "log"),
    ("audit", "export"),
    ("audit", "verify"),
    ("audit", "checkpoint"),
]
TYPED_AS_WRITTEN = {
    "work", "suspected", "returned", "cultural", "county", "township", "village", "school",
    "table", "json", "xlsx", "html", "health", "persuasion", "caseflow", "root",
    "ledger", "stats", "demo", "review", "overdue", "assessment", "report", "audit", "log",
    "export", "verify", "checkpoint", "Excel", "XLSX", "JSON", "HTML", "SQLite",
}  # fmt: skip


@pytest.mark.parametrize("path", FIGURE_COMMANDS, ids=" ".join)
def test_the_figures_and_audit_commands_explain_themselves_in_chinese(
    path: tuple[str, ...],
) -> None:
    import re

    from typer.testing import CliRunner

    from caseflow.cli import app

    shown = CliRunner().invoke(app, [*path, "-h"], env={"CASEFLOW_LANG": "", "LANG": ""})
    assert shown.exit_code == 0 and shown.output.startswith("用法：")
    # --json is the option every command shares (cli.base); its help is not these commands'.
    text = "\n".join(line for line in shown.output.splitlines() if "--json" not in line)
    text = re.sub(r"\n\s+", "", text)  # the help is wrapped, at times inside a word
    text = re.sub(r"`[^`]*`|<[^>]*>", "", text)
    words = set(re.findall(r"(?<![-\w./:])[A-Za-z]{4,}(?![\w./:])", text))
    assert words <= TYPED_AS_WRITTEN, sorted(words - TYPED_AS_WRITTEN)
    assert "控辍保学" in shown.output or re.search(r"[\u4e00-\u9fff]{6}", shown.output)
