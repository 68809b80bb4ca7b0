"""The leadership report: one self-contained HTML file that a headless browser renders
with its charts, the targets, the overdue cases and the audit chain's status."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from caseflow import audit, db
from caseflow.access import Jurisdiction
from caseflow.cli.figures import make_report
from caseflow.engine import Actor
from caseflow.errors import AccessDenied, InvalidInput
from caseflow.measures import UNKNOWN_PLACE
from caseflow.report import (
    PAGE_WIDTH,
    TERM_RULE,
    MonthFlows,
    cases_by_category,
    flows_by_month,
    month_starts,
    term_start,
)
from caseflow.services.audit import audit_checkpoint
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.report import monthly_flows
from caseflow.services.sweep import sweep
from tests.conftest import approved_closure, approver, audit_trail, child

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def county(ctx: Context) -> Context:
    """Two townships: a returned child, an overdue one, one closed as not a dropout."""
    returned = open_case(ctx, child(2, name="田小雨"), occurred_on=date(2026, 9, 7)).number
    advance(ctx, returned, "start_verification", occurred_on=date(2026, 9, 8))
    advance(ctx, returned, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 9, 9))
    advance(
        ctx,
        returned,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 10, 12),
    )
    open_case(
        ctx,
        child(3, name="龙小山", township="木黄镇", village="木黄村", school="木黄小学"),
        occurred_on=date(2026, 11, 2),
    )
    closed = open_case(ctx, child(4, name="冉小梅"), occurred_on=date(2026, 11, 20)).number
    approved_closure(ctx, closed, "studying_elsewhere", "转学证明", occurred_on=date(2026, 11, 23))
    sweep(ctx)
    audit_checkpoint(ctx)
    return ctx


def test_monthly_flows_count_identified_returned_and_retained_by_the_day_it_happened(
    county: Context,
) -> None:
    flows = {m.month: m for m in monthly_flows(county, date(2026, 11, 29), months=3)}
    assert flows[date(2026, 9, 1)] == MonthFlows(date(2026, 9, 1), identified=1)
    assert flows[date(2026, 10, 1)] == MonthFlows(date(2026, 10, 1), returned=1)
    assert flows[date(2026, 11, 1)] == MonthFlows(date(2026, 11, 1), identified=2)


def test_a_rejected_closure_is_no_second_return_in_the_monthly_flows(ctx: Context) -> None:
    number = open_case(ctx, child(2), occurred_on=date(2026, 9, 7)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 9, 8))
    advance(ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 9, 9))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 10, 12),
    )
    advance(
        ctx,
        number,
        "propose_closure",
        {"reason": "enrolled", "evidence": "学籍证明"},
        occurred_on=date(2026, 11, 2),
    )
    advance(
        approver(ctx),
        number,
        "reject_closure",
        {"reason": "巩固观察未满一个学期"},
        occurred_on=date(2026, 11, 3),
    )
    flows = {m.month: m for m in monthly_flows(ctx, date(2026, 11, 29), months=2)}
    assert flows[date(2026, 10, 1)] == MonthFlows(date(2026, 10, 1), returned=1)
    assert flows[date(2026, 11, 1)] == MonthFlows(date(2026, 11, 1))


def test_month_starts_cross_the_year_boundary() -> None:
    assert month_starts(date(2027, 2, 14), 4) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]


def test_charts_scale_bars_to_the_largest_figure_and_fill_the_page_width() -> None:
    groups = [("天堂镇", {"dropout": 2, "returned": 2}), ("木黄镇", {"closed": 2})]
    chart = cases_by_category(groups, width=730)  # 110 for the names, 60 for the totals
    widths = {r.title: r.width for r in chart.rects}
    assert widths["天堂镇 已确认辍学（在办）：2件"] == pytest.approx(280)
    assert widths["木黄镇 核查销号（非辍学）：2件"] == pytest.approx(280)
    months = [MonthFlows(start) for start in month_starts(date(2026, 11, 29), 12)]
    months[-1] = MonthFlows(date(2026, 11, 1), identified=4, returned=2)
    columns = flows_by_month(months)
    heights = {r.title: r.height for r in columns.rects}
    assert heights["2026年11月新发现：4件"] == 2 * heights["2026年11月复学：2件"]
    assert cases_by_category(groups).width == columns.width == PAGE_WIDTH
    axis = columns.axis[0]
    assert axis[2] - axis[0] > 0.9 * PAGE_WIDTH
    assert max(r.x + r.width for r in columns.rects) > 0.9 * PAGE_WIDTH  # November, last


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2026, 11, 29), date(2026, 9, 1)),
        (date(2026, 9, 1), date(2026, 9, 1)),
        (date(2026, 8, 31), date(2026, 3, 1)),
        (date(2026, 3, 1), date(2026, 3, 1)),
        (date(2026, 2, 28), date(2025, 9, 1)),
    ],
)
def test_the_term_starts_on_1_september_or_1_march(day: date, start: date) -> None:
    assert term_start(day) == start


def test_the_report_covers_the_current_term_and_shows_when_it_was_made(
    county: Context, tmp_path: Path
) -> None:
    """Today is 2026-11-29; the cases were found on 09-07, 11-02 and 11-20."""
    html = make_report(county, tmp_path / "term.html").read_text(encoding="utf-8")
    assert "统计截止日期：2026年11月29日　统计期：2026年9月1日至2026年11月29日" in html
    assert TERM_RULE in html and "统计期内新发现3件" in html
    since = make_report(county, tmp_path / "since.html", since=date(2026, 11, 1))
    html = since.read_text(encoding="utf-8")
    assert "统计期：2026年11月1日至2026年11月29日" in html and TERM_RULE not in html
    assert "统计期内新发现2件" in html
    earlier = make_report(county, tmp_path / "earlier.html", as_of=date(2026, 10, 15))
    html = earlier.read_text(encoding="utf-8")
    assert "统计截止日期：2026年10月15日　统计期：2026年9月1日至2026年10月15日" in html
    assert "生成日期：2026年11月29日" in html  # the day it was made, not the as-of day
    with pytest.raises(InvalidInput, match="--since 2026-12-01 is after --as-of 2026-11-29"):
        make_report(county, tmp_path / "empty.html", since=date(2026, 12, 1))
    assert not (tmp_path / "empty.html").exists()


def test_the_audit_is_a_statement_with_its_checkpoint_and_the_hashes_are_in_an_appendix(
    county: Context, tmp_path: Path
) -> None:
    html = make_report(county, tmp_path / "report.html").read_text(encoding="utf-8")
    with db.read(county.engine) as connection:
        events = audit.verify(connection).events
    checkpoint = next(e for e in reversed(audit_trail(county)) if e["action"] == "audit.checkpoint")
    assert (
        f"审计链完整</span>：截至2026年11月29日共{events}条记录，逐条重新计算哈希链核验无误。"
        f"最近校验点设于第{checkpoint['seq']}条记录（2026年11月29日）" in html
    )
    first_hash = re.search(r"[0-9a-f]{64}", html)
    assert first_hash is not None and first_hash.start() > html.index("附录：审计链校验值")
    assert f"caseflow-audit:{checkpoint['seq']}:" in html[html.index("附录") :]


def test_cases_of_unknown_place_are_shown_apart_in_the_report(
    county: Context, tmp_path: Path
) -> None:
    open_case(
        county,
        child(6, township=UNKNOWN_PLACE, village=UNKNOWN_PLACE, school=None),
        occurred_on=date(2026, 11, 2),
    )
    html = make_report(county, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "另有地址待核实的案件1件（在办1件），所属乡镇待核实，未列入各乡镇" in html
    assert "地址待核实（责任单位未确定）" in html  # overdue since 11-05, under no unit
    assert "待核实人民政府" not in html and "待核实待核实" not in html
    assert ">待核实<" not in html  # no bar of the chart


def test_the_report_is_one_self_contained_file_with_targets_overdue_cases_and_the_audit(
    county: Context, tmp_path: Path
) -> None:
    written = make_report(county, tmp_path / "report.html")
    html = written.read_text(encoding="utf-8")
    assert "适龄儿童少年入学率" in html and "需导入" in html  # no registers imported
    assert html.count("<svg") == 2 and "<rect" in html
    assert "逾期未办结案件" in html  # 龙小山's case, overdue since 5 November, by number
    # The leadership reads case numbers: no child's name, no ID, not even masked.
    for name in ("龙小山", "张小华", "龙*山", "张*华"):
        assert name not in html
    assert re.search(r"\d{17}[\dX]", html) is None and "********" not in html
    assert "完整" in html and "caseflow-audit:" in html
    assert not re.search(r"<script|<link|\ssrc=|\shref=|url\(", html)  # nothing to fetch
    assert oct(written.stat().st_mode & 0o777) == "0o600"


def test_only_the_bureau_and_the_supervisor_may_make_the_report(
    county: Context, tmp_path: Path
) -> None:
    caseworker = Context(
        county.workspace,
        county.engine,
        Actor(
            "天堂镇控辍专干", "ttz", frozenset({"caseworker"}), Jurisdiction("township", "天堂镇")
        ),
        county.clock,
        county.calendar,
    )
    with pytest.raises(AccessDenied, match="may not use `caseflow report html`"):
        make_report(caseworker, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CASEFLOW_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (CI installs it)",
)
def test_the_report_renders_in_a_headless_browser_and_shows_its_charts(
    county: Context, tmp_path: Path
) -> None:
    from PIL import Image

    assert CHROMIUM is not None, "CASEFLOW_REQUIRE_BROWSER is set but chromium is missing"
    report = make_report(county, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,2200",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Uncaught" not in run.stderr
    image = Image.open(shot).convert("RGB")
    counted = {rgb: n for n, rgb in image.getcolors(1 << 24) or []}
    colours = {
        (0x2E, 0x86, 0xC1): "复学",
        (0xE6, 0x7E, 0x22): "新发现/疑似",
        (0x95, 0xA5, 0xA6): "核查销号",
        (0xC0, 0x39, 0x2B): "辍学",
    }
    seen = {name: counted.get(rgb, 0) for rgb, name in colours.items()}
    assert all(count > 200 for count in seen.values()), seen  # bars drawn, not just legend
    # The monthly chart's axis (#555) spans the page's content (932 px in a 1000 px window).
    assert widest_row(image, (0x55, 0x55, 0x55)) > 0.85 * PAGE_WIDTH


def widest_row(image: Any, colour: tuple[int, int, int]) -> int:
    """How many pixels of one colour the row with most of them has (a line drawn across,
    even where bars stand on it)."""
    width, height = image.size
    pixels = image.load()
    return max(sum(pixels[x, y] == colour for x in range(width)) for y in range(height))
