"""The provisional-calendar hint: in Chinese, once per command, saying what to do."""

from __future__ import annotations

import re

import pytest

from caseflow import i18n
from caseflow import workspace as workspace_files
from caseflow.calendar import NationalCalendar
from caseflow.cli.hints import PROVISIONAL_HINT as HINT_MSGID
from tests.conftest import CliInvoker, county_today, national_through, open_case_by_cli


def _in_chinese(message: str) -> str:
    i18n.set_language("zh")
    try:
        return i18n._(message)
    finally:
        i18n.set_language(None)


# The hint as the Chinese interface (the default; the runs below pass --lang zh) prints it.
PROVISIONAL_HINT = _in_chinese(HINT_MSGID)


@pytest.fixture
def unknown_year(monkeypatch: pytest.MonkeyPatch) -> None:
    """This year's holidays are not known yet: every new due date is provisional."""
    monkeypatch.setattr(workspace_files, "national_calendar", lambda: national_through(2025))


def test_the_hint_is_chinese_and_names_the_file_and_commands_that_fix_it() -> None:
    assert PROVISIONAL_HINT.startswith("提示：")
    assert "holidays.yaml" in PROVISIONAL_HINT and "complete_years" in PROVISIONAL_HINT
    assert "pip install -U chinese-calendar" in PROVISIONAL_HINT
    assert "caseflow calendar check" in PROVISIONAL_HINT
    assert "caseflow escalate" in PROVISIONAL_HINT
    # Apart from the file, the settings and the commands it names, no English.
    named = r"holidays\.yaml|rest_days|working_days|complete_years|pip install -U |" + (
        r"chinese-calendar|caseflow (calendar check|escalate)"
    )
    assert not re.search(r"[A-Za-z]", re.sub(named, "", PROVISIONAL_HINT))


def test_case_list_with_several_provisional_due_dates_prints_the_hint_once(
    cli: CliInvoker, unknown_year: None
) -> None:
    for serial in (2, 3, 4):
        open_case_by_cli(cli, serial)
    listed = cli("--lang", "zh", "case", "list")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.count("（暂定）") == 3
    assert listed.stdout.count(PROVISIONAL_HINT) == 1
    assert listed.stdout.rstrip("\n").endswith(PROVISIONAL_HINT)
    assert PROVISIONAL_HINT not in listed.stderr


def test_advancing_and_showing_a_provisional_case_print_the_hint_once_each(
    cli: CliInvoker, unknown_year: None
) -> None:
    number = open_case_by_cli(cli, 2)
    moved = cli("--lang", "zh", "case", "advance", str(number), "start_verification")
    assert moved.exit_code == 0, moved.stderr
    assert moved.stdout.count(PROVISIONAL_HINT) == 1
    shown = cli("--lang", "zh", "case", "show", str(number))
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.count(PROVISIONAL_HINT) == 1


def test_a_due_date_in_a_known_year_prints_no_hint(
    cli: CliInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = national_through(2026)
    years = known.years | set(range(2027, county_today().year + 2))
    covered = NationalCalendar(frozenset(years), known.holidays, known.workdays)
    monkeypatch.setattr(workspace_files, "national_calendar", lambda: covered)
    number = open_case_by_cli(cli, 2)
    assert PROVISIONAL_HINT not in cli("--lang", "zh", "case", "show", str(number)).stdout
    assert PROVISIONAL_HINT not in cli("--lang", "zh", "case", "list").stdout
