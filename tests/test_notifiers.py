"""Notifier channels are found by entry point name; letters land whole in outbox/."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from caseflow.errors import InvalidInput
from caseflow.notifiers import Notice, Notifier, channel, channel_names
from caseflow.notifiers.letter import LetterNotifier, letter_files

DAY = date(2026, 11, 29)


def notice(
    key: str,
    html: str,
    *,
    cases: tuple[int, ...] = (32,),
    role: str = "监护人",
    document: str = "责令限期复学通知书",
) -> Notice:
    return Notice(
        key,
        "KC-000007",
        "张大山",  # the guardian's name: the letter's address, never its file name
        "责令限期复学通知书（案件32）",
        html,
        "责令限期复学通知书",
        document=document,
        cases=cases,
        role=role,
        day=DAY,
    )


def test_the_letter_channel_is_registered_by_entry_point() -> None:
    assert "letter" in channel_names()
    assert channel("letter") is LetterNotifier
    assert issubclass(channel("letter"), Notifier)


def test_an_unknown_channel_is_bad_input_listing_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"Unknown channel 'pigeon'; the channels are: .*"):
        channel("pigeon")


def test_letters_are_written_to_the_outbox_and_a_repeat_replaces_the_same_file(
    tmp_path: Path,
) -> None:
    letters = LetterNotifier({}, {}, tmp_path)
    first = letters.send([notice("document:order_to_correct:32:1", "<p>第一稿</p>")])
    again = letters.send([notice("document:order_to_correct:32:1", "<p>第二稿</p>")])
    assert first[0].ok and first[0].reference == again[0].reference
    assert first[0].reference == "2026-11-29/2026-11-29_责令限期复学通知书_案件0032_监护人.html"
    files = letter_files(tmp_path / "outbox")
    assert [f.name for f in files] == ["2026-11-29_责令限期复学通知书_案件0032_监护人.html"]
    assert files[0].read_text(encoding="utf-8") == "<p>第二稿</p>"


def test_a_letter_file_is_named_by_day_document_case_and_role_never_by_name_or_id(
    tmp_path: Path,
) -> None:
    letters = LetterNotifier({}, {}, tmp_path)
    sent = letters.send(
        [
            notice("a", "<p>1</p>"),
            notice("b", "<p>2</p>", cases=(7, 8, 9), role="乡镇长", document="逾期督办通知"),
            notice("c", "<p>3</p>", cases=(), role="县教育督导室", document="工作月报"),
            # A title that carried an ID number or a path would not put it in the name.
            notice("d", "<p>4</p>", document="通知 522226201001010012/../x"),
        ]
    )
    assert all(result.ok for result in sent)
    names = [path.name for path in letter_files(tmp_path / "outbox")]
    pattern = re.compile(
        r"^\d{4}-\d{2}-\d{2}_[^_/\\ ]+(_案件\d{4}(等\d+件)?)?_[^_/\\ ]+(_\d+)?\.html$"
    )
    assert all(pattern.match(name) for name in names), names
    assert "2026-11-29_逾期督办通知_案件0007等3件_乡镇长.html" in names
    assert "2026-11-29_工作月报_县教育督导室.html" in names
    for name in names:
        assert "张大山" not in name and not re.search(r"\d{6,}", name)
    assert all(path.parent.name == "2026-11-29" for path in letter_files(tmp_path / "outbox"))


def test_two_letters_that_would_share_a_name_get_a_short_suffix(tmp_path: Path) -> None:
    letters = LetterNotifier({}, {}, tmp_path)
    first, second = letters.send([notice("mother", "<p>母</p>"), notice("father", "<p>父</p>")])
    assert first.reference.endswith("_案件0032_监护人.html")
    assert second.reference.endswith("_案件0032_监护人_2.html")
    again = letters.send([notice("father", "<p>父（重发）</p>")])[0]
    assert again.reference == second.reference
    folder = tmp_path / "outbox" / "2026-11-29"
    assert (folder / first.reference.split("/")[1]).read_text(encoding="utf-8") == "<p>母</p>"


def test_each_dispatch_day_has_an_index_page_listing_its_letters(tmp_path: Path) -> None:
    letters = LetterNotifier({}, {}, tmp_path)
    letters.send([notice("a", "<p>1</p>")])
    letters.send([notice("b", "<p>2</p>", cases=(7, 8), role="乡镇长", document="督办通知")])
    page = (tmp_path / "outbox" / "2026-11-29" / "index.html").read_text(encoding="utf-8")
    assert "2026年11月29日发出的文书" in page and "共2份" in page
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", page)
    cells = [re.split(r"</td><td>", row) for row in rows]
    assert [cell[1:] for cell in cells] == [
        ["督办通知", "7、8", "乡镇长", "KC-000007", "已写入，待打印送达"],
        ["责令限期复学通知书", "32", "监护人", "KC-000007", "已写入，待打印送达"],
    ]
    assert 'href="2026-11-29_督办通知_案件0007等2件_乡镇长.html"' in cells[0][0]
    assert "张大山" not in page
    # The index is not a letter: printing and counting skip it.
    assert "index.html" not in [p.name for p in letter_files(tmp_path / "outbox")]


def test_a_letter_that_cannot_be_written_is_a_transient_failure(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("not a folder", encoding="utf-8")
    result = LetterNotifier({}, {}, tmp_path).send([notice("k", "<p>x</p>")])[0]
    assert not result.ok and result.kind == "transient"


def test_secrets_come_from_the_named_environment_variable(tmp_path: Path) -> None:
    letters = LetterNotifier({"token": "COUNTY_TOKEN"}, {"COUNTY_TOKEN": "s3cret"}, tmp_path)
    assert letters.secret("token") == "s3cret"
    with pytest.raises(InvalidInput, match="COUNTY_TOKEN"):
        LetterNotifier({"token": "COUNTY_TOKEN"}, {}, tmp_path).secret("token")
