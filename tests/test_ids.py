from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow import i18n
from caseflow.dates import parse_date
from caseflow.errors import InvalidIdNumber, InvalidInput
from caseflow.ids import (
    ResidentId,
    check_character,
    make_id_number,
    mask_id_number,
    normalise_id_number,
    parse_id_number,
    sex_from_serial,
)

TODAY = date(2024, 9, 1)
EXAMPLE = "11010519491231002X"
PROVINCES = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
    83,
]

regions = st.builds(
    lambda province, rest: f"{province}{rest:04d}",
    st.sampled_from(PROVINCES),
    st.integers(0, 9999),
)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
serials = st.integers(0, 999)
valid_ids = st.builds(make_id_number, regions, birth_dates, serials)


def rejection(raw: str) -> str:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(raw, today=TODAY)
    return str(caught.value)


# --- the documented example and normalisation ---------------------------------------------


def test_documented_example_is_a_woman_born_1949_12_31() -> None:
    resident = parse_id_number(EXAMPLE, today=TODAY)
    assert resident == ResidentId(
        number=EXAMPLE, region="110105", birth_date=date(1949, 12, 31), sex="女"
    )


def test_odd_seventeenth_digit_is_male() -> None:
    number = make_id_number("110105", date(2012, 3, 4), 1)
    assert parse_id_number(number, today=TODAY).sex == "男"


def test_full_width_digits_and_lowercase_x_are_accepted() -> None:
    assert parse_id_number("１１０１０５１９４９１２３１００２x", today=TODAY).number == EXAMPLE
    assert parse_id_number("１１０１０５１９４９１２３１００２ｘ", today=TODAY).number == EXAMPLE
    assert parse_id_number("１１０１０５１９４９１２３１００２Ｘ", today=TODAY).number == EXAMPLE


def test_spaces_and_hyphens_are_ignored() -> None:
    assert parse_id_number("  110105 19491231 002x\n", today=TODAY).number == EXAMPLE
    assert parse_id_number("110105-19491231-002X", today=TODAY).number == EXAMPLE
    assert parse_id_number("110105\u300019491231\u3000002X", today=TODAY).number == EXAMPLE


def test_child_born_today_is_accepted() -> None:
    number = make_id_number("520623", TODAY, 7)
    assert parse_id_number(number, today=TODAY).birth_date == TODAY


def test_resident_id_repr_shows_only_the_masked_number() -> None:
    shown = repr(parse_id_number(EXAMPLE, today=TODAY))
    assert "1101********002X" in shown
    assert "19491231" not in shown


def test_invalid_id_number_is_bad_input() -> None:
    with pytest.raises(InvalidInput):
        parse_id_number("123", today=TODAY)


# --- each kind of rejection says what is wrong and masks the number -----------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002", "resident ID 1101********1002: must be 18 characters, got 17"),
        ("11010519491231002X1", "resident ID 1101********02X1: must be 18 characters, got 19"),
        ("1101051949A231002X", "resident ID 1101********002X: character 11 must be a digit"),
        ("11010519491231002Y", "resident ID 1101********002Y: character 18 must be a digit or X"),
        (
            "99010519491231002X",
            "resident ID 9901********002X: region code starts with 99, "
            "which is not a province code",
        ),
        (
            "11010519491331002X",
            "resident ID 1101********002X: birth date (digits 7-14) is not a real calendar date",
        ),
        (
            "11010520230229002X",
            "resident ID 1101********002X: birth date (digits 7-14) is not a real calendar date",
        ),
        (
            "11010520240902002X",
            "resident ID 1101********002X: birth date (digits 7-14) is in the future "
            "(after 2024-09-01)",
        ),
        (
            "11010518991231002X",
            "resident ID 1101********002X: birth date (digits 7-14) is before 1900-01-01",
        ),
        (
            "110105194912310021",
            "resident ID 1101********0021: check character should be X, got 1",
        ),
    ],
)
def test_rejection_message_names_the_problem_and_hides_the_middle(raw: str, expected: str) -> None:
    message = rejection(raw)
    assert message == expected
    assert raw not in message
    assert raw[4:14] not in message


def test_empty_input_is_rejected_with_a_hint() -> None:
    assert rejection("  - ") == "resident ID is empty: enter the 18-character ID number"


def test_a_wrong_check_character_is_refused_in_chinese_with_the_number_masked() -> None:
    i18n.set_language("zh")
    try:
        message = rejection("110105194912310021")
    finally:
        i18n.set_language(None)
    assert message == "身份证号 1101********0021 的校验码应为 X，实际为 1"


def test_dates_that_cannot_be_read_are_refused_in_chinese_with_how_to_write_them() -> None:
    i18n.set_language("zh")
    try:
        with pytest.raises(InvalidInput) as caught:
            parse_date("2026-13-01", what="--as-of")
    finally:
        i18n.set_language(None)
    assert str(caught.value) == (
        "--as-of“2026-13-01”不是有效日期；请写作 2026-11-29 或 2026年11月29日"
    )


def test_short_input_is_fully_masked_in_the_message() -> None:
    assert rejection("1101") == "resident ID ****: must be 18 characters, got 4"


# --- masking -------------------------------------------------------------------------------


def test_mask_keeps_first_four_and_last_four() -> None:
    assert mask_id_number(EXAMPLE) == "1101********002X"


def test_mask_of_short_strings_is_all_stars() -> None:
    assert mask_id_number("") == ""
    assert mask_id_number("12345678") == "********"
    assert mask_id_number("123456789") == "1234********6789"


@given(st.text(min_size=18, max_size=18), st.text(min_size=10, max_size=10))
def test_mask_never_reveals_characters_5_to_14(number: str, other_middle: str) -> None:
    twin = number[:4] + other_middle + number[14:]
    assert mask_id_number(number) == mask_id_number(twin)
    assert mask_id_number(number) == number[:4] + "********" + number[14:]


# --- normalisation -------------------------------------------------------------------------


@given(st.text())
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalise_id_number(raw)
    assert normalise_id_number(once) == once


@given(valid_ids)
def test_normalising_a_valid_id_changes_nothing(number: str) -> None:
    assert normalise_id_number(number) == number


# --- building and the checksum -------------------------------------------------------------


@given(regions, birth_dates, serials)
def test_built_ids_parse_back_to_the_same_person(region: str, born: date, serial: int) -> None:
    resident = parse_id_number(make_id_number(region, born, serial), today=TODAY)
    assert resident.region == region
    assert resident.birth_date == born
    assert resident.sex == sex_from_serial(serial)
    assert resident.sex == ("男" if serial % 2 else "女")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.data())
def test_check_character_changes_whenever_one_digit_changes(
    first17: str, data: st.DataObject
) -> None:
    # Holds for GB 11643: 11 is prime, every weight is 1..10 and every digit change is
    # ±1..9, so weight × change is never 0 mod 11; and the 11 check characters are distinct.
    position = data.draw(st.integers(0, 16))
    digit = data.draw(st.sampled_from("0123456789").filter(lambda d: d != first17[position]))
    changed = first17[:position] + digit + first17[position + 1 :]
    assert check_character(changed) != check_character(first17)


@given(valid_ids, st.data())
def test_changing_any_single_digit_of_a_valid_id_is_rejected(
    number: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, 17))
    digit = data.draw(st.sampled_from("0123456789").filter(lambda d: d != number[position]))
    with pytest.raises(InvalidIdNumber):
        parse_id_number(number[:position] + digit + number[position + 1 :], today=TODAY)


def test_every_single_digit_change_to_the_example_is_rejected() -> None:
    for position in range(18):
        for digit in "0123456789":
            if digit != EXAMPLE[position]:
                changed = EXAMPLE[:position] + digit + EXAMPLE[position + 1 :]
                with pytest.raises(InvalidIdNumber):
                    parse_id_number(changed, today=TODAY)


def test_check_character_of_the_example_is_x() -> None:
    assert check_character(EXAMPLE[:17]) == "X"


@pytest.mark.parametrize(
    ("region", "born", "serial"),
    [
        ("11010", date(2010, 1, 1), 1),
        ("11010a", date(2010, 1, 1), 1),
        ("990105", date(2010, 1, 1), 1),
        ("110105", date(1899, 12, 31), 1),
        ("110105", date(2010, 1, 1), -1),
        ("110105", date(2010, 1, 1), 1000),
    ],
)
def test_make_id_number_refuses_bad_arguments(region: str, born: date, serial: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(region, born, serial)


def test_check_character_needs_seventeen_digits() -> None:
    with pytest.raises(ValueError):
        check_character("1101051949123100")
