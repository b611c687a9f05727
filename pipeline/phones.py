"""Phone numbers: read a phone cell with a region, check it, format as E.164, mask.

A phone cell is read in these steps, and every change made to it is reported in
`ParsedPhone.note`, because a wrong number calls a stranger:

1. Excel damage. A whole number that Excel or pandas wrote as a float, such as
   "2015550123.0", loses its ".0". A number in scientific notation, such as
   "2.01555E+09", is rejected as `phone_digits_lost` unless it shows every digit.
2. Several numbers. A cell such as "201-555-0123 / 201-555-0124" is split at
   "/", ";", ",", " or " and line breaks when every part has at least 7 digits.
   The first valid number is called, and the others go into the note.
3. Each number is parsed with the row's region. A national number that lost its
   leading 0, or a number that lost the "+" before its country code, still reads
   as the same number under that region, and the note names what was restored.
   An extension ("x123", "ext. 5") goes into the note, and the call goes to the
   main number.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
import pycountry
from phonenumbers import CountryCodeSource, PhoneNumberFormat

# Names people write that are not ISO 3166 codes or names.
_REGION_ALIASES = {
    "UK": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
}

# A number in scientific notation, as Excel shows a long number in a General cell.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
# A whole number written as a float: "2015550123.0", or "2015550123,00" in a
# locale with a decimal comma. Seven digits keep "555.0" and the like out.
_WHOLE_FLOAT = re.compile(r"(\d{7,})([.,]0+)")
# Separators between several numbers in one cell.
_SEPARATORS = re.compile(r"\s*(?:[/;,\n]|\sor\s)\s*", re.IGNORECASE)
# A part of a cell needs this many digits to count as a number of its own, so
# "030/1234567" and "201-555-0123, ext. 5" stay one number.
MIN_DIGITS_PER_NUMBER = 7


@dataclass(frozen=True)
class ParsedPhone:
    """The outcome of reading one phone cell: an E.164 number or a reason.

    `note` lists what the reader changed or left out, for the results workbook:
    repairs, an extension and other numbers of the cell. It is "" when the cell
    was read as written.
    """

    e164: str | None
    reason: str | None = None
    detail: str = ""
    note: str = ""


@dataclass(frozen=True)
class _Number:
    """One number of a cell: its text, parse outcome, repairs and extension."""

    text: str
    parsed: ParsedPhone
    repairs: tuple[str, ...] = ()
    extension: str = ""


@functools.lru_cache(maxsize=1024)
def resolve_region(country: str) -> str | None:
    """Return the ISO 3166 alpha-2 region for a country cell, or None if unknown.

    Accepts alpha-2 and alpha-3 codes and English country names, in any case.
    """
    text = country.strip()
    if not text:
        return None
    alias = _REGION_ALIASES.get(text.upper())
    if alias:
        return alias
    if text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()

    try:
        region = pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None

    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def parse_phones(cells: Iterable[tuple[str, str]]) -> list[ParsedPhone]:
    """Parse (phone cell, region) pairs, each distinct pair only once."""
    outcomes: dict[tuple[str, str], ParsedPhone] = {}
    parsed = []
    for pair in cells:
        outcome = outcomes.get(pair)
        if outcome is None:
            outcome = outcomes[pair] = parse_phone(*pair)
        parsed.append(outcome)

    return parsed


def parse_phone(raw: str, region: str) -> ParsedPhone:
    """Parse a phone cell as written in `region` and return its E.164 form.

    A number that phonenumbers can read but that is not valid (not merely
    possible) for its region is rejected, so a malformed national number is
    never turned into a stranger's number. The steps are in the module docstring.
    """
    text = raw.strip()
    if not text:
        return ParsedPhone(None, "phone_missing", "the phone cell is empty")

    undone = _undo_excel_damage(text)
    if isinstance(undone, ParsedPhone):
        return undone
    text, repairs = undone
    numbers = [_parse_number(part, region) for part in _split_numbers(text)]

    return _combine(text, numbers, repairs)


def parse_every_number(raw: str, region: str) -> list[ParsedPhone]:
    """Parse each number of a cell the way `parse_phone` reads the first valid one.

    A do-not-call list uses it, so every number of a listed cell is blocked.
    An empty cell gives an empty list.
    """
    text = raw.strip()
    if not text:
        return []
    undone = _undo_excel_damage(text)
    if isinstance(undone, ParsedPhone):
        return [undone]

    return [_parse_number(part, region).parsed for part in _split_numbers(undone[0])]


def _undo_excel_damage(text: str) -> tuple[str, tuple[str, ...]] | ParsedPhone:
    """Undo what Excel did to a number, or return why the digits are lost."""
    whole_float = _WHOLE_FLOAT.fullmatch(text)
    if _SCIENTIFIC.fullmatch(text):
        digits = _scientific_digits(text)
        if digits is None:
            return ParsedPhone(
                None,
                "phone_digits_lost",
                f"{text!r} is in scientific notation, so its last digits are lost. "
                "Format the phone column as Text and export the file again",
            )
        return digits, ("scientific notation expanded",)
    if whole_float:
        return whole_float.group(1), (f"{whole_float.group(2)} removed",)

    return text, ()


def _scientific_digits(text: str) -> str | None:
    """Return the digits of a whole number in scientific notation, None if any is lost.

    "2.015550123E+09" shows all ten digits of 2015550123. "2.01555E+09" shows six,
    so the last four are unknown: they are not assumed to be zeros.
    """
    value = decimal.Decimal(text.replace(",", "."))
    sign, _, exponent = value.as_tuple()
    if sign or not isinstance(exponent, int) or exponent > 0:
        return None
    if value != value.to_integral_value():
        return None

    return str(int(value))


def _split_numbers(text: str) -> list[str]:
    """Split a cell into its numbers, or return it whole when it contains one."""
    parts = [part for part in _SEPARATORS.split(text) if part]
    if len(parts) > 1 and all(
        _digit_count(part) >= MIN_DIGITS_PER_NUMBER for part in parts
    ):
        return parts

    return [text]


def _digit_count(text: str) -> int:
    return sum(character.isdigit() for character in text)


def _parse_number(text: str, region: str) -> _Number:
    """Parse one number and name what was restored and what was left out."""
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException as error:
        detail = f"{text!r}: {error.args[0]}"
        return _Number(text, ParsedPhone(None, "phone_unparseable", detail))

    invalid = _invalid_detail(text, number, region)
    if invalid:
        return _Number(text, ParsedPhone(None, "phone_invalid", invalid))

    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    repairs = _restored_prefix(text, number, region)

    return _Number(text, ParsedPhone(e164), repairs, number.extension or "")


def _invalid_detail(text: str, number: phonenumbers.PhoneNumber, region: str) -> str:
    """Explain why the number may not be called, or return "" when it is valid.

    A number written without its country code must be valid for the row's region
    itself. Countries that share a calling code, such as the US and Canada, also
    share national formats, so a national number of one is never called on a row
    of the other.
    """
    # Checking the row's region first skips the search for the number's owner
    # among all regions of its calling code, which is slow for +1.
    if phonenumbers.is_valid_number_for_region(number, region):
        return ""
    if number.country_code_source != CountryCodeSource.FROM_DEFAULT_COUNTRY:
        if phonenumbers.is_valid_number(number):
            return ""
        return f"{text!r} is not a valid number for {region}"

    if phonenumbers.is_valid_number(number):
        owner = phonenumbers.region_code_for_number(number)
        return f"{text!r} is a number of {owner}, not of {region}"

    return f"{text!r} is not a valid number for {region}" + _plus_hint(text)


def _restored_prefix(
    text: str, number: phonenumbers.PhoneNumber, region: str
) -> tuple[str, ...]:
    """Name the leading 0 or + that the cell lacked, as a repair, if it lacked one.

    "1 201 555 0123" in the US starts with the trunk prefix 1, not a country code
    without its +, so it is no repair. Neither is "201 555 0123", because US
    numbers are written without the trunk prefix.
    """
    source = number.country_code_source
    national_prefix = _national_prefix(region)
    if source == CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN:
        if national_prefix == str(number.country_code):
            return ()
        return ("leading + restored",)
    if source != CountryCodeSource.FROM_DEFAULT_COUNTRY or not national_prefix:
        return ()
    if not _writes_national_prefix(region):
        return ()

    # The first test is a shortcut for the usual "020 ..." and "(020) ...".
    if text.lstrip("( ").startswith(national_prefix):
        return ()
    if phonenumbers.normalize_digits_only(text).startswith(national_prefix):
        return ()
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if not phonenumbers.normalize_digits_only(national).startswith(national_prefix):
        return ()

    return (f"leading {national_prefix} restored",)


@functools.lru_cache(maxsize=256)
def _national_prefix(region: str) -> str:
    """Return the region's trunk prefix as digits ("0" in GB, "1" in the US), or ""."""
    return phonenumbers.ndd_prefix_for_region(region, strip_non_digits=True) or ""


@functools.lru_cache(maxsize=256)
def _writes_national_prefix(region: str) -> bool:
    """Return whether the region writes its trunk prefix in national numbers.

    GB writes "020 7946 0000" with its 0, but the US writes "(201) 555-0123"
    without its 1. The region's example number decides; a region without one is
    assumed to write the prefix, so its numbers are checked one by one.
    """
    example = phonenumbers.example_number(region)
    if example is None:
        return True
    national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
    digits = phonenumbers.normalize_digits_only(national)

    return digits.startswith(_national_prefix(region))


def _plus_hint(text: str) -> str:
    """Suggest the number the cell would be with a leading +, when that one is valid.

    The number is not called: the row's country decides, and a guess could call a
    stranger. The hint only helps the user correct the cell or the country.
    """
    if text.startswith("+") or not text[:1].isdigit():
        return ""
    try:
        number = phonenumbers.parse("+" + text)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""

    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    owner = phonenumbers.region_code_for_number(number)

    return f". With a leading + it is {e164}, a number of {owner}"


def _combine(
    text: str, numbers: list[_Number], excel_repairs: tuple[str, ...]
) -> ParsedPhone:
    """Choose the first valid number of the cell and describe the rest in a note."""
    chosen = next((number for number in numbers if number.parsed.e164), None)
    if chosen is None:
        first = numbers[0].parsed
        if len(numbers) == 1:
            return first
        detail = f"{first.detail}, and no other number in {text!r} is valid"
        return ParsedPhone(None, first.reason, detail)

    notes = []
    repairs = excel_repairs + chosen.repairs
    if repairs:
        notes.append("repaired: " + ", ".join(repairs))
    if chosen.extension:
        notes.append(f"extension {chosen.extension}")
    others = [_describe(number) for number in numbers if number is not chosen]
    others = [other for other in others if other != chosen.parsed.e164]
    if others:
        notes.append("other numbers: " + ", ".join(others))

    return ParsedPhone(chosen.parsed.e164, note="; ".join(notes))


def _describe(number: _Number) -> str:
    """Write a number that is not called as E.164, or as written when invalid."""
    if number.parsed.e164 is None:
        return f"{number.text} (not valid)"
    if number.extension:
        return f"{number.parsed.e164} extension {number.extension}"

    return number.parsed.e164


def mask_phone(e164: str) -> str:
    """Hide the last four digits of a number, for log lines: `+1201555****`."""
    if len(e164) <= 4:
        return "*" * len(e164)

    return e164[:-4] + "****"
