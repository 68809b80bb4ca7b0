"""Notifier channels are found by entry point name; letters land whole in outbox/."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseflow.errors import InvalidInput
from caseflow.notifiers import Notice, Notifier, channel, channel_names
from caseflow.notifiers.letter import LetterNotifier


def notice(key: str, html: str) -> Notice:
    return Notice(key, "KC-000007", "张大山", "责令限期复学通知书", html, "责令限期复学通知书")


def test_the_letter_channel_is_registered_by_entry_point() -> None:
    assert "letter" in channel_names()
    assert channel("letter") is LetterNotifier
    assert issubclass(channel("letter"), Notifier)


def test_an_unknown_channel_is_bad_input_listing_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"no notifier channel named 'pigeon' \(available: .*"):
        channel("pigeon")


def test_letters_are_written_to_the_outbox_and_a_repeat_replaces_the_same_file(
    tmp_path: Path,
) -> None:
    letters = LetterNotifier({}, {}, tmp_path)
    first = letters.send([notice("case-7/order_to_correct/1", "<p>第一稿</p>")])
    again = letters.send([notice("case-7/order_to_correct/1", "<p>第二稿</p>")])
    assert first[0].ok and first[0].reference == again[0].reference
    files = list((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == ["case-7_order_to_correct_1.html"]
    assert files[0].read_text(encoding="utf-8") == "<p>第二稿</p>"


def test_a_letter_that_cannot_be_written_is_a_transient_failure(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("not a folder", encoding="utf-8")
    result = LetterNotifier({}, {}, tmp_path).send([notice("k", "<p>x</p>")])[0]
    assert not result.ok and result.kind == "transient"


def test_secrets_come_from_the_named_environment_variable(tmp_path: Path) -> None:
    letters = LetterNotifier({"token": "COUNTY_TOKEN"}, {"COUNTY_TOKEN": "s3cret"}, tmp_path)
    assert letters.secret("token") == "s3cret"
    with pytest.raises(InvalidInput, match="COUNTY_TOKEN"):
        LetterNotifier({"token": "COUNTY_TOKEN"}, {}, tmp_path).secret("token")
