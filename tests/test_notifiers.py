"""Notifier channels are found by entry point name; letters land whole in outbox/."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseflow.errors import InvalidInput
from caseflow.notifiers import Notice, Notifier, channel, channel_names
from caseflow.notifiers.letter import LetterNotifier


def test_the_letter_channel_is_registered_by_entry_point() -> None:
    assert "letter" in channel_names()
    assert channel("letter") is LetterNotifier
    assert issubclass(channel("letter"), Notifier)


def test_an_unknown_channel_is_bad_input_listing_the_known_ones() -> None:
    with pytest.raises(
        InvalidInput, match=r"no notifier channel named 'pigeon' \(available: .*letter"
    ):
        channel("pigeon")


def test_letters_are_written_to_the_outbox_and_a_repeat_replaces_the_same_file(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox"
    letters = LetterNotifier(outbox)
    notice = Notice("case-7/order_to_correct/1", "张大山", "责令限期复学通知书", "<p>第一稿</p>")
    first = letters.send([notice])
    again = letters.send([Notice(notice.key, notice.recipient, notice.subject, "<p>第二稿</p>")])
    assert first[0].reference == again[0].reference == "case-7_order_to_correct_1.html"
    files = list(outbox.iterdir())
    assert [f.name for f in files] == ["case-7_order_to_correct_1.html"]
    assert files[0].read_text(encoding="utf-8") == "<p>第二稿</p>"
