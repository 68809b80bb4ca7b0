"""The leadership report: one self-contained HTML file that a headless browser renders
with its charts, the targets, the overdue cases and the audit chain's status."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from caseflow.access import Jurisdiction
from caseflow.cli.figures import make_report
from caseflow.engine import Actor
from caseflow.errors import AccessDenied
from caseflow.report import MonthFlows, cases_by_category, flows_by_month, month_starts
from caseflow.services.audit import audit_checkpoint
from caseflow.services.cases import advance, open_case
from caseflow.services.context import Context
from caseflow.services.report import monthly_flows
from caseflow.services.sweep import sweep
from tests.conftest import approved_closure, approver, child

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


def test_charts_scale_bars_to_the_largest_figure() -> None:
    chart = cases_by_category(
        [("天堂镇", {"dropout": 2, "returned": 2}), ("木黄镇", {"closed": 2})]
    )
    widths = {r.title: r.width for r in chart.rects}
    assert widths["天堂镇 已确认辍学（在办）：2件"] == pytest.approx(280)
    assert widths["木黄镇 核查销号（非辍学）：2件"] == pytest.approx(280)
    columns = flows_by_month([MonthFlows(date(2026, 11, 1), identified=4, returned=2)])
    heights = {r.title: r.height for r in columns.rects}
    assert heights["2026年11月新发现：4件"] == 2 * heights["2026年11月复学：2件"]


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
    counted = {rgb: n for n, rgb in Image.open(shot).convert("RGB").getcolors(1 << 24) or []}
    colours = {
        (0x2E, 0x86, 0xC1): "复学",
        (0xE6, 0x7E, 0x22): "新发现/疑似",
        (0x95, 0xA5, 0xA6): "核查销号",
        (0xC0, 0x39, 0x2B): "辍学",
    }
    seen = {name: counted.get(rgb, 0) for rgb, name in colours.items()}
    assert all(count > 200 for count in seen.values()), seen  # bars drawn, not just legend
