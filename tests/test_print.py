"""Documents on paper: a case with long names walked through the services, its letters
queued and collected by `notice print` into one batch, the batch printed to PDF in headless
Chromium and read back page by page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from caseflow import render
from caseflow.services.cases import (
    ChildDetails,
    GuardianDetails,
    add_guardian,
    advance,
    open_case,
    show_case,
)
from caseflow.services.context import Context, init_workspace, open_context
from caseflow.services.documents import print_batch, queue_document
from caseflow.services.letters import CASE_FIELDS, template_title
from caseflow.services.org import apply_org
from caseflow.states import unsuppliable
from tests.conftest import Database, approver, child, fixed_clock, issuing_org, set_procedure

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CASEFLOW_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (CI installs it)",
)

COUNTY = "印江土家族苗族自治县"
# Documents an official prints on one sheet of A4: a second page would go out unsigned.
ONE_PAGE = {
    "order_to_correct",
    "proof_of_service",
    "referral_letter",
    "penalty_notice",
    "demand_notice",
    "transfer_letter",
}
# A penalty decision (facts, evidence, basis, performance, remedies) may take two.
TWO_PAGES = {"penalty_decision"}
A4_POINTS = (595.0, 842.0)  # 210 mm x 297 mm
# The faces of the stacks in templates/_base.html.j2: 仿宋 / 小标宋 / 黑体 where the machine
# has them, else Noto or Source Han CJK; any other face means a glyph fell back.
BODY_FACES = ("fangsong", "notoserifcjk", "sourcehanserif")
FACES = (
    *BODY_FACES,
    "xiaobiaosong",
    "zhongsong",
    "simhei",
    "heiti",
    "notosanscjk",
    "sourcehansans",
)
# A character the PDF names by the CJK radical that shares its glyph (⺠ for 民, ⻔ for 门).
RADICAL = "[\u2e80-\u2eff]"


@dataclass(frozen=True)
class Printed:
    html: str  # the document's section of the batch
    pages: list[str]  # the text of each of its pages
    sizes: list[tuple[float, float]]
    fonts: set[str]  # the typefaces on its pages, lower case (notoserifcjksc-regular)


def case_documents() -> set[str]:
    """Every document one case supplies (lists of cases and reports excluded)."""
    return {
        template
        for template in render.template_ids()
        if not unsuppliable(render.declared_fields(template), CASE_FIELDS)
    }


@pytest.fixture
def county(tmp_path: Path, database: Database) -> Iterator[Context]:
    """A county with a long name (the issuer's name on every letter grows with it)."""
    root = tmp_path / "county"
    _, operator = init_workspace(root, database.url, county=COUNTY, clock=fixed_clock)
    set_procedure(
        root,
        order_issuer="education_bureau",
        court=f"{COUNTY}人民法院",
        penalty_basis="《示范省实施〈中华人民共和国义务教育法〉办法》第四十八条第二款（测试用）",
        penalty_hearing="yes",
        court_route="enforcement",
    )
    bureau = (
        f"  - {{id: bureau, kind: education_bureau, name: {COUNTY}教育局, "
        "reference_prefix: 印教发, contact_person: 欧阳晓梅, contact_phone: 0856-6221234转8008}\n"
    )
    (root / "org.yaml").write_text(issuing_org(operator, units=bureau), encoding="utf-8")
    context = open_context(root, clock=fixed_clock)
    apply_org(context)
    yield context
    context.engine.dispose()


def long_case(ctx: Context) -> None:
    """A case with long names of units, reasons and guardians (a migrant mother, the
    grandmother caring for the child), walked from opening to the order to correct; every
    case document queued on the way."""
    details = child(
        7,
        name="欧阳晓雯",
        township="沙子坡镇",
        village="韭菜塘村",
        school=f"{COUNTY}沙子坡镇韭菜塘九年一贯制学校",
        group="第十一村民组",
        guardian_name="阿依古丽·买买提艾力",
        guardian_relation="母亲",
        guardian_phone="13985012345",
    )
    reasons = ["learning", "migrant_work", "poverty", "family_change", "parents_neglect"]
    number = open_case(ctx, details, reasons=reasons, occurred_on=date(2026, 11, 16)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 17))
    advance(
        ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2026, 11, 20)
    )
    for template in ("persuasion_notice", "parent_letter", "deadline_reminder"):
        queue_document(ctx, number, template)
    advance(ctx, number, "refer_early_marriage", occurred_on=date(2026, 11, 23))  # 转介函 x 3
    advance(
        ctx, number, "early_marriage_done", {"finding": "已劝阻"}, occurred_on=date(2026, 11, 24)
    )
    carer = GuardianDetails(name="欧阳秀英", relation="外祖母", phone="13985054321", carer=True)
    add_guardian(ctx, number, carer, occurred_on=date(2026, 11, 24))
    advance(  # 责令限期复学通知书 with its 送达回证, the carer's 告知书
        ctx,
        number,
        "issue_order",
        {"document_number": "印教发〔2026〕158号"},
        occurred_on=date(2026, 11, 25),
    )
    penalty_ladder(ctx, replace(details, id_number=child(9).id_number), reasons)
    moved = open_case(ctx, child(8, name="欧阳晓峰"), occurred_on=date(2026, 11, 16)).number
    advance(
        ctx,
        moved,
        "propose_transfer_out",
        {
            "receiving_county": "浙江省宁波市鄞州区",
            "receiving_school": "宁波市鄞州区东钱湖镇中心小学",
            "evidence": "户口迁移证明、迁入地学校接收证明",
        },
        occurred_on=date(2026, 11, 20),
    )
    advance(approver(ctx), moved, "approve_transfer_out", occurred_on=date(2026, 11, 23))  # 转出函


def penalty_ladder(ctx: Context, details: ChildDetails, reasons: list[str]) -> None:
    """A case of the year before (the ladder takes most of a year) walked from its order
    through every penalty document, with long texts: the prior notice, the statement and
    hearing records, the decision, the demand and the enforcement application."""
    number = open_case(ctx, details, reasons=reasons, occurred_on=date(2025, 3, 3)).number
    advance(ctx, number, "start_verification", occurred_on=date(2025, 3, 3))
    advance(
        ctx, number, "confirm_dropout", {"reason": "migrant_work"}, occurred_on=date(2025, 3, 4)
    )
    advance(
        ctx,
        number,
        "issue_order",
        {"document_number": "印教发〔2025〕58号"},
        occurred_on=date(2025, 3, 10),
    )
    facts = (
        "你未在《责令限期复学通知书》（印教发〔2025〕58号）规定的十五日期限内送欧阳晓雯到"
        "学校报到复学，经乡镇干部、村干部和班主任多次入户劝返，至今仍未返校。"
    )
    penalty = "罚款人民币五百元"

    def step(trigger: str, values: dict[str, str], after_due: bool = True) -> None:
        due = date.fromisoformat(str(show_case(ctx, number)["due_on"]))
        day = due + timedelta(days=1) if after_due else state_day[0]
        advance(ctx, number, trigger, values, occurred_on=day)
        state_day[0] = day

    state_day = [date(2025, 3, 10)]

    def served(trigger: str) -> None:
        day = state_day[0] + timedelta(days=1)
        values = {"served_on": day.isoformat(), "method": "direct"}
        if trigger == "order_served":
            values["served_to"] = "阿依古丽·买买提艾力（母亲）"
        advance(ctx, number, trigger, values, occurred_on=day)
        state_day[0] = day

    served("order_served")
    step(
        "propose_penalty",
        {"document_number": "印教罚告〔2025〕12号", "facts": facts, "proposed_penalty": penalty},
    )
    served("penalty_notice_served")
    said = (state_day[0] + timedelta(days=1)).isoformat()
    statement = {
        "stated_by": "阿依古丽·买买提艾力",
        "stated_on": said,
        "statement": "本人在浙江省宁波市务工，孩子由外祖母照护，外祖母年事已高无法督促孩子上学。",
        "adopted": "rejected",
    }
    step("record_statement", statement, after_due=False)
    step("request_hearing", {"requested_on": said}, after_due=False)
    hearing = {
        "held_on": said,
        "place": "印江土家族苗族自治县教育局三楼会议室",
        "presided_by": "县教育局法规股股长",
        "attended_by": "阿依古丽·买买提艾力（当事人）、欧阳秀英（照护人）、调查人员二名",
        "record": "调查人员出示了责令限期复学通知书、送达回证和学校的未返校证明；当事人承认"
        "未送子女返校，申辩称家庭困难，请求从轻处理。",
        "adopted": "rejected",
    }
    step("record_hearing", hearing, after_due=False)
    decision = {
        "document_number": "印教罚决〔2025〕12号",
        "evidence": "责令限期复学通知书及送达回证、学校出具的未返校证明、入户劝返记录、"
        "陈述申辩笔录和听证笔录。",
        "penalty_kind": "fine",
        "penalty": penalty,
    }
    step("decide_after_hearing", decision, after_due=False)
    served("penalty_decision_served")
    step("issue_demand", {"document_number": "印教催〔2025〕3号"})
    served("demand_served")
    day = date.fromisoformat(str(show_case(ctx, number)["due_on"])) + timedelta(days=1)
    step("apply_enforcement", {"applied_on": day.isoformat()})


# The batches printed in this process, by their HTML: both databases print the same letters,
# and each browser start costs seconds.
_PRINTED: dict[str, dict[str, Printed]] = {}


def print_documents(batch: Path) -> dict[str, Printed]:
    """The batch printed to PDF, cut into its documents (each starts a page, found by its
    heading in the PDF's outline), keyed by template id."""
    html = batch.read_text(encoding="utf-8")
    if html not in _PRINTED:
        _PRINTED[html] = _print(batch, html)
    return _PRINTED[html]


def _print(batch: Path, html: str) -> dict[str, Printed]:
    from pypdf import PdfReader

    assert CHROMIUM is not None, "CASEFLOW_REQUIRE_BROWSER is set but chromium is missing"
    pdf = batch.with_suffix(".pdf")
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
            "--generate-pdf-document-outline",
            f"--user-data-dir={batch.parent / 'profile'}",
            f"--print-to-pdf={pdf}",
            batch.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0 and pdf.is_file(), run.stderr
    reader = PdfReader(pdf)
    sections = html.split('<section class="caseflow-letter"')[1:]
    titles = {template_title(template): template for template in case_documents()}
    ids = [titles[unescape(heading)] for heading in re.findall(r"<h1[^>]*>(.*?)</h1>", html)]
    starts = _heading_pages(reader, [template_title(template) for template in ids])
    ends = [*starts[1:], len(reader.pages)]
    return {
        template: Printed(
            html=section,
            pages=[flat(reader.pages[n].extract_text() or "") for n in range(start, end)],
            sizes=[
                (float(reader.pages[n].mediabox.width), float(reader.pages[n].mediabox.height))
                for n in range(start, end)
            ],
            fonts={font for n in range(start, end) for font in _fonts(reader.pages[n])},
        )
        for template, section, start, end in zip(ids, sections, starts, ends, strict=True)
    }


def _heading_pages(reader: PdfReader, headings: list[str]) -> list[int]:
    """The page of each heading, in order, from the outline Chromium writes from <h1>/<h2>."""
    entries: list[tuple[str, int | None]] = []

    def walk(outline: list[Any]) -> None:
        for entry in outline:
            if isinstance(entry, list):
                walk(entry)
            else:
                entries.append((flat(entry.title), reader.get_destination_page_number(entry)))

    walk(reader.outline)
    pages = []
    for heading in headings:
        index = next(i for i, (title, _) in enumerate(entries) if title.startswith(heading))
        page = entries[index][1]
        assert page is not None, heading
        pages.append(page)
        entries = entries[index + 1 :]
    return pages


def _fonts(page: PageObject) -> set[str]:
    fonts = set()
    resources: Any = page["/Resources"]
    for font in (resources.get("/Font") or {}).values():
        described = font.get_object().get("/FontDescriptor")
        name = described.get_object().get("/FontName") if described else None
        fonts.add(str(name or font.get_object().get("/BaseFont")).split("+")[-1].lower())
    return fonts


def flat(text: str) -> str:
    """Text without whitespace; the PDF's Kangxi radicals (⼦) read as the characters (子)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def closing_texts(html: str) -> list[str]:
    """The texts that may close a document but must not stand alone on a page: the
    signature block (署名 and date), notes and the 版记."""
    pieces = re.findall(
        r'<(div|p)\b[^>]*class="(?:signoff|note|colophon)[^"]*"[^>]*>(.*?)</\1>', html, re.S
    )
    texts = {flat(unescape(part)) for _tag, inner in pieces for part in re.split("<[^>]+>", inner)}
    return sorted((text for text in texts if text), key=len, reverse=True)


def body_left_on(page: str, html: str) -> str:
    """The Chinese text of ``page`` that is neither the signature, a note nor the 版记."""
    for text in closing_texts(html):
        pattern = "".join(f"(?:{re.escape(char)}|{RADICAL})" for char in text)
        page = re.sub(pattern, "", page)
    return re.sub(f"[^\u4e00-\u9fff{RADICAL[1:-1]}]", "", page)


@pytest.fixture
def printed(county: Context, tmp_path: Path) -> dict[str, Printed]:
    long_case(county)
    batch = tmp_path / "batch.html"
    print_batch(county, since=None, output=batch)
    documents = print_documents(batch)
    assert set(documents) == case_documents()  # a new case document is printed here too
    return documents


def test_the_order_the_proof_of_service_and_a_referral_fit_on_one_a4_page_each(
    printed: dict[str, Printed],
) -> None:
    pages = {template: len(document.pages) for template, document in printed.items()}
    assert {template: pages[template] for template in ONE_PAGE} == dict.fromkeys(ONE_PAGE, 1), pages
    assert all(pages[template] <= 2 for template in TWO_PAGES), pages
    for template, document in printed.items():
        assert all(size == pytest.approx(A4_POINTS, abs=1) for size in document.sizes), template


def test_no_document_ends_on_a_page_holding_only_its_seal_date_or_notes(
    printed: dict[str, Printed],
) -> None:
    for template, document in printed.items():
        last = document.pages[-1]
        assert len(body_left_on(last, document.html)) >= 20, (
            f"{template}: page {len(document.pages)} holds only {last}"
        )


def test_documents_are_set_in_fangsong_or_a_cjk_serif_with_no_fallback_face(
    printed: dict[str, Printed],
) -> None:
    for template, document in printed.items():
        assert any(face in font for font in document.fonts for face in BODY_FACES), template
        strays = {font for font in document.fonts if not any(face in font for face in FACES)}
        assert not strays, f"{template} is partly set in {strays}"
