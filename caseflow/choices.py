"""Codes a person may type in Chinese: a transition by its workflow label (开始核查), a state
(劝返中), a dropout reason (外出务工), a note method (电话), a chain role (班主任), a
special group (留守) — or by the code itself (start_verification, persuasion …).

One resolver for all of them, so that every command forgives the same things: full-width
and half-width forms (（２）and (2)), spaces anywhere. An unknown value is
refused (exit 2) with the choices as 「中文（code）」.

Pure: the callers pass the vocabulary (the workflow's labels, ``NOTE_METHODS``, ...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from caseflow.errors import InvalidInput
from caseflow.i18n import _


def normalised(text: str) -> str:
    """What two spellings of one value have in common: NFKC (full-width letters, digits,
    brackets and the ideographic space become their half-width forms) and no whitespace at
    all. Letter case counts: codes are lower case, and START_VERIFICATION is not one."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def choices_text(choices: Mapping[str, str]) -> str:
    """「入户走访（visit）」、「电话（phone）」: each choice's label with its code."""
    return "、".join(
        f"「{label}（{code}）」" if label and label != code else f"「{code}」"
        for code, label in choices.items()
    )


def resolve(
    given: str,
    choices: Mapping[str, str],
    *,
    what: str,
    offered: Mapping[str, str] | None = None,
) -> str:
    """The code for what a person typed: a code or a label of ``choices`` (code → label),
    compared ``normalised``. ``what`` names the kind of value in the refusal (already in
    the reader's language, e.g. ``_("State")``). Refused when nothing matches, with the
    choices (``offered`` when given: those that make sense now, such as the transitions
    of the case's state), or with the candidates when a label is shared by several
    codes."""
    wanted = normalised(given)
    by_code = [code for code in choices if normalised(code) == wanted]
    if len(by_code) == 1:
        return by_code[0]
    by_label = [code for code, label in choices.items() if label and normalised(label) == wanted]
    if len(by_label) == 1:
        return by_label[0]
    if by_label:
        raise InvalidInput(
            _("{what} “{given}” could mean several: {choices}; give the code.").format(
                what=what,
                given=given.strip(),
                choices=choices_text({code: choices[code] for code in by_label}),
            )
        )
    listed = choices if offered is None else offered
    if not listed:
        raise InvalidInput(
            _("{what} “{given}” is not known: there is nothing to choose from.").format(
                what=what, given=given.strip()
            )
        )
    raise InvalidInput(
        _("{what} “{given}” is not one of the choices: {choices}.").format(
            what=what, given=given.strip(), choices=choices_text(listed)
        )
    )


def resolve_all(given: Iterable[str], choices: Mapping[str, str], *, what: str) -> list[str]:
    """Each of several values ``resolve``d, in order."""
    return [resolve(value, choices, what=what) for value in given]
