"""A name, place or note a caseworker types has a sensible length: a 51-character name or a
note of more than 2,000 characters is refused with exit 2 and nothing is written."""

from __future__ import annotations

from caseflow.roster import NAME_MAX_CHARS
from caseflow.services.cases import NOTE_MAX_CHARS, PLACE_MAX_CHARS
from tests.conftest import CliInvoker, open_case_by_cli


def _events(cli: CliInvoker) -> str:
    return cli("audit", "log", "--json").stdout


def test_a_name_longer_than_the_registers_allow_is_refused(cli: CliInvoker) -> None:
    number = open_case_by_cli(cli)
    before = _events(cli)
    result = cli("case", "update", str(number), "--guardian", "张" * (NAME_MAX_CHARS + 1))
    assert result.exit_code == 2
    assert f"at most {NAME_MAX_CHARS}" in result.stderr
    assert _events(cli) == before


def test_a_note_of_more_than_a_page_is_refused_and_one_of_a_page_is_kept(
    cli: CliInvoker,
) -> None:
    number = open_case_by_cli(cli)
    before = _events(cli)
    refused = cli("case", "note", str(number), "访" * (NOTE_MAX_CHARS + 1))
    assert refused.exit_code == 2
    assert f"{NOTE_MAX_CHARS + 1} characters long" in refused.stderr
    assert _events(cli) == before
    assert cli("case", "note", str(number), "访" * NOTE_MAX_CHARS).exit_code == 0
    assert _events(cli) != before


def test_the_refusal_reads_in_chinese_by_default(cli: CliInvoker) -> None:
    number = open_case_by_cli(cli)
    result = cli(
        "--lang", "zh", "case", "update", str(number), "--school", "校" * (PLACE_MAX_CHARS + 1)
    )
    assert result.exit_code == 2
    assert "错误：" in result.stderr and str(PLACE_MAX_CHARS) in result.stderr
