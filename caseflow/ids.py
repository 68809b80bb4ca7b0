"""Resident ID numbers (居民身份证号码, GB 11643-1999): normalise, validate, mask, build.

Pure: no I/O and no clock; callers pass ``today``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from caseflow.errors import InvalidIdNumber
from caseflow.i18n import _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_DIGITS = "0123456789"
_EARLIEST_BIRTH = date(1900, 1, 1)
_PROVINCE_RANGES = ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 83))
_PROVINCES = frozenset(str(n) for low, high in _PROVINCE_RANGES for n in range(low, high + 1))

_NORMALISE = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width ０-９
        "Ｘ": "X",
        "ｘ": "X",
        "x": "X",
        " ": None,
        "\u3000": None,  # ideographic (full-width) space
        "-": None,
        "－": None,  # full-width hyphen-minus
    }
)


@dataclass(frozen=True, repr=False)
class ResidentId:
    """A validated resident ID; ``repr`` shows only the masked number."""

    number: str
    region: str
    birth_date: date
    sex: str

    def __repr__(self) -> str:
        return f"ResidentId({mask_id_number(self.number)})"


def normalise_id_number(raw: str) -> str:
    """Drop spaces and hyphens, make full-width digits and any x ASCII. Does not validate."""
    return raw.translate(_NORMALISE).strip()


def check_character(first17: str) -> str:
    """The GB 11643-1999 check character for 17 ASCII digits."""
    if len(first17) != 17 or any(c not in _DIGITS for c in first17):
        raise ValueError("check_character needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def sex_from_serial(serial: int) -> str:
    """男 for an odd serial, 女 for an even one."""
    return "男" if serial % 2 else "女"


def mask_id_number(number: str) -> str:
    """``11010519491231002X`` -> ``1101********002X``; shorter than 9 chars: all stars."""
    if len(number) < 9:
        return "*" * len(number)
    return f"{number[:4]}********{number[-4:]}"


def parse_id_number(raw: str, *, today: date) -> ResidentId:
    """Normalise and validate; raise InvalidIdNumber naming the problem (number masked)."""
    number = normalise_id_number(raw)
    if not number:
        raise InvalidIdNumber(_("resident ID is empty: enter the 18-character ID number"))
    masked = mask_id_number(number)
    if len(number) != 18:
        raise InvalidIdNumber(
            _("resident ID {number}: must be 18 characters, got {count}").format(
                number=masked, count=len(number)
            )
        )
    for position, c in enumerate(number[:17], start=1):
        if c not in _DIGITS:
            raise InvalidIdNumber(
                _("resident ID {number}: character {position} must be a digit").format(
                    number=masked, position=position
                )
            )
    if number[17] not in _DIGITS + "X":
        raise InvalidIdNumber(
            _("resident ID {number}: character 18 must be a digit or X").format(number=masked)
        )
    if number[:2] not in _PROVINCES:
        raise InvalidIdNumber(
            _(
                "resident ID {number}: region code starts with {code}, which is not a province code"
            ).format(number=masked, code=number[:2])
        )
    # Digits 7-14 are deliberately not quoted: they are the hidden part of the mask.
    try:
        birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(
            _("resident ID {number}: birth date (digits 7-14) is not a real calendar date").format(
                number=masked
            )
        ) from None
    if birth_date > today:
        raise InvalidIdNumber(
            _(
                "resident ID {number}: birth date (digits 7-14) is in the future (after {today})"
            ).format(number=masked, today=today.isoformat())
        )
    if birth_date < _EARLIEST_BIRTH:
        raise InvalidIdNumber(
            _("resident ID {number}: birth date (digits 7-14) is before 1900-01-01").format(
                number=masked
            )
        )
    expected = check_character(number[:17])
    if number[17] != expected:
        raise InvalidIdNumber(
            _("resident ID {number}: check character should be {expected}, got {actual}").format(
                number=masked, expected=expected, actual=number[17]
            )
        )
    return ResidentId(
        number=number,
        region=number[:6],
        birth_date=birth_date,
        sex=sex_from_serial(int(number[14:17])),
    )


def make_id_number(region: str, birth_date: date, serial: int) -> str:
    """Build a valid ID from a 6-digit region, a birth date and a serial 0..999."""
    if len(region) != 6 or any(c not in _DIGITS for c in region):
        raise ValueError(f"region must be 6 ASCII digits, got {region!r}")
    if region[:2] not in _PROVINCES:
        raise ValueError(f"region {region} does not start with a province code")
    if birth_date < _EARLIEST_BIRTH:
        raise ValueError(f"birth date {birth_date} is before 1900-01-01")
    if not 0 <= serial <= 999:
        raise ValueError(f"serial must be 0..999, got {serial}")
    first17 = f"{region}{birth_date:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


def mask_name(name: str) -> str:
    """张小华 -> 张*华, 王芳 -> 王*: enough for a colleague to match a file, no more."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"
