"""The outbox, dispatch and escalation commands as a caseworker reads them: Chinese by
default and English on request, channels and statuses accepted by their Chinese names,
and names or errors holding terminal control characters shown escaped, never acted on."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert

from caseflow import db, i18n
from caseflow.errors import InvalidInput
from caseflow.models import Notice
from caseflow.notifiers import channel
from caseflow.notifiers.letter import LetterNotifier
from caseflow.notifiers.wecom import WecomNotifier
from tests.conftest import FIXED_NOW
from tests.test_dispatch import overdue_case

NOTICES = Notice.__table__  # type: ignore[attr-defined]
HOSTILE = "张三\x1b]0;pwned\x07\x1b[2J\rX\u202e"


@pytest.fixture
def chinese():
    i18n.set_language("zh")
    yield
    i18n.set_language(None)


def test_escalate_and_notify_speak_chinese_by_default_and_english_on_request(cli, ctx) -> None:
    overdue_case(ctx)
    preview = cli("--lang", "zh", "escalate", "--dry-run")
    assert preview.exit_code == 0
    assert "的督办检查（试运行，未作任何修改）：将升级督办3次" in preview.stdout
    assert preview.stdout.splitlines()[1].split() == ["级别", "督办对象", "案件数", "通知份数"]
    english = cli("--lang", "en", "escalate", "--dry-run")
    assert "(nothing changed): 3 escalation rungs would fire" in english.stdout
    assert english.stdout.splitlines()[1].split() == [
        "Level",
        "Escalated",
        "to",
        "Cases",
        "Notices",
    ]
    assert cli("escalate").exit_code == 0
    dispatched = cli("--lang", "zh", "notify", "dispatch")
    assert dispatched.stdout.startswith("通知投递：送达5份，待重试0份")
    shown = cli("--lang", "zh", "notify", "status")
    assert shown.stdout.startswith("发送队列：待发送 0，已发送 5，发送失败 0")
    assert "纸质文书" in shown.stdout and "已发送" in shown.stdout
    assert cli("--lang", "en", "notify", "status").stdout.startswith(
        "Outbox: 0 pending, 5 sent, 0 failed"
    )


def test_notify_status_takes_a_status_in_chinese_and_refuses_an_unknown_one(cli, ctx) -> None:
    overdue_case(ctx)
    cli("escalate")
    assert "已发送 0" in cli("--lang", "zh", "notify", "status", "--status", "待发送").stdout
    refused = cli("--lang", "zh", "notify", "status", "--status", "丢失")
    assert refused.exit_code == 2
    assert "待发送（pending）、已发送（sent）、发送失败（dead）" in refused.stderr


def test_a_channel_is_found_by_its_chinese_name_and_an_unknown_one_lists_them(chinese) -> None:
    assert channel("企业微信") is WecomNotifier
    assert channel("纸质文书") is LetterNotifier and channel("书面") is LetterNotifier
    with pytest.raises(InvalidInput) as refused:
        channel("信鸽")
    assert refused.value.exit_code == 2
    assert "没有名为 '信鸽' 的通知渠道" in refused.value.message
    assert "企业微信（wecom）" in refused.value.message and "短信（sms）" in refused.value.message


def test_control_characters_in_a_recipient_subject_or_error_are_shown_escaped(cli, ctx) -> None:
    now = datetime.fromisoformat(FIXED_NOW.isoformat())
    with db.write(ctx.engine) as connection:
        connection.execute(
            insert(NOTICES),
            [
                {
                    "key": "hostile:1",
                    "kind": "escalation",
                    "template": "escalation_notice",
                    "recipient": "department:" + HOSTILE,
                    "case_ids": [1],
                    "subject": "督办" + HOSTILE,
                    "body": "<p>letter</p>",
                    "content_hash": "0" * 64,
                    "status": "dead",
                    "attempts": 1,
                    "last_error": "refused: " + HOSTILE,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            ],
        )
    for lang in ("zh", "en"):
        shown = cli("--lang", lang, "notify", "status")
        assert shown.exit_code == 0
        assert not any(ch in shown.stdout for ch in "\x1b\x07\r\u202e")
        assert "\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\u202e" in shown.stdout
