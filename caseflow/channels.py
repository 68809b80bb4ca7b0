"""The delivery channels by name: the codes ``caseflow.toml`` and ``org.yaml`` use, their
Chinese names, and the Chinese a person may write in their place (``企业微信`` for
``wecom``, ``书面`` for ``letter``). Pure: the organisation file, the dispatcher and the
presenter read it alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from caseflow.errors import InvalidInput
from caseflow.i18n import N_, _

LABELS: Mapping[str, str] = MappingProxyType(
    {
        "letter": N_("paper letter"),
        "email": N_("e-mail"),
        "wecom": N_("WeCom robot"),
        "dingtalk": N_("DingTalk robot"),
        "sms": N_("SMS"),
        "webhook": N_("webhook"),
    }
)
"""Each built-in channel's name as a person reads it (translated where shown)."""

ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "纸质文书": "letter",
        "纸质": "letter",
        "书面": "letter",
        "信函": "letter",
        "信件": "letter",
        "邮寄": "letter",
        "电子邮件": "email",
        "邮件": "email",
        "邮箱": "email",
        "e-mail": "email",
        "企业微信": "wecom",
        "企业微信机器人": "wecom",
        "企微": "wecom",
        "钉钉": "dingtalk",
        "钉钉机器人": "dingtalk",
        "短信": "sms",
        "手机短信": "sms",
        "接口": "webhook",
        "网络接口": "webhook",
    }
)
"""The Chinese (and a few spellings) a person may write for a channel's code."""


def label(code: str) -> str:
    """A channel's name in the language in use (a county's own channel: its code)."""
    return _(LABELS[code]) if code in LABELS else code


def channel_code(name: str, known: Iterable[str] = LABELS) -> str:
    """The code of the channel ``name`` names (its code, or its Chinese name); an unknown
    one is refused (exit 2) with the choices as 「中文（code）」."""
    written = name.strip()
    codes = list(dict.fromkeys(known))
    if written in codes:
        return written
    lowered = written.lower()
    if lowered in codes:
        return lowered
    code = ALIASES.get(written) or ALIASES.get(lowered)
    if code is not None and code in codes:
        return code
    choices = "、".join(f"{label(c)}（{c}）" for c in codes)
    raise InvalidInput(
        _("Unknown channel {name!r}; the channels are: {choices}").format(
            name=name, choices=choices
        )
    )
