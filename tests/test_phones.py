"""Tests of phone parsing, country resolution and masking."""

from __future__ import annotations

import pytest

from pipeline.phones import (
    ParsedPhone,
    mask_phone,
    parse_phone,
    parse_phones,
    resolve_region,
)

NOT_A_NUMBER = "The string supplied did not seem to be a phone number."


@pytest.mark.parametrize(
    "raw",
    [
        "2015550123",
        "201-555-0123",
        "201.555.0123",
        "(201) 555-0123",
        "1 201 555 0123",
        "1-201-555-0123",
        "+1 201 555 0123",
        "  201 555 0123  ",
    ],
)
def test_us_national_formats(raw: str) -> None:
    """Common ways of writing a US number all give the same E.164 number."""
    assert parse_phone(raw, "US") == ParsedPhone("+12015550123")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("020 7946 0000", "+442079460000"),
        ("020-7946-0999", "+442079460999"),
        ("20 7946 0500", "+442079460500"),
    ],
)
def test_uk_national_under_gb(raw: str, expected: str) -> None:
    """A UK national number read under GB gives its +44 form."""
    assert parse_phone(raw, "GB").e164 == expected


def test_uk_national_under_us() -> None:
    """A UK national number read under US is invalid, not some US number."""
    parsed = parse_phone("020 7946 0000", "US")

    assert parsed.e164 is None
    assert parsed.reason == "phone_invalid"
    assert parsed.detail == "'020 7946 0000' is not a valid number for US"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("00 1 201 555 0123", "GB", "+12015550123"),
        ("0044 20 7946 0000", "GB", "+442079460000"),
        ("011 44 20 7946 0000", "US", "+442079460000"),
        ("011 1 201 555 0123", "US", "+12015550123"),
    ],
)
def test_international_dialling_prefixes(raw: str, region: str, expected: str) -> None:
    """The region's own international prefix, 00 in GB and 011 in US, is read."""
    assert parse_phone(raw, region).e164 == expected


def test_foreign_dialling_prefix_invalid() -> None:
    """A 00 prefix under US is not the US international prefix, so it is invalid."""
    parsed = parse_phone("00 44 20 7946 0000", "US")

    assert parsed.reason == "phone_invalid"


def test_fictional_us_number_invalid() -> None:
    """`+1 555 0100` has too few digits for a US number and is invalid."""
    parsed = parse_phone("  +1 555 0100 ", "US")

    assert parsed.e164 is None
    assert parsed.reason == "phone_invalid"
    assert parsed.detail == "'+1 555 0100' is not a valid number for US"


def test_fictional_uk_mobile_invalid() -> None:
    """A number from the UK drama range 07700 900 is invalid under GB."""
    parsed = parse_phone("07700 900123", "GB")

    assert parsed.reason == "phone_invalid"


@pytest.mark.parametrize("raw", ["call me", "n/a", "+", "1"])
def test_letters_unparseable(raw: str) -> None:
    """Text that is not a phone number is unparseable, quoting the cell."""
    parsed = parse_phone(raw, "US")

    assert parsed.e164 is None
    assert parsed.reason == "phone_unparseable"
    assert parsed.detail == f"{raw!r}: {NOT_A_NUMBER}"


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_phone_missing(raw: str) -> None:
    """An empty or blank cell is missing, not unparseable."""
    parsed = parse_phone(raw, "US")

    assert parsed == ParsedPhone(None, "phone_missing", "the phone cell is empty")


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("United States", "US"),
        ("united states", "US"),
        ("GB", "GB"),
        ("GBR", "GB"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("United Kingdom", "GB"),
        (" England ", "GB"),
        ("Scotland", "GB"),
        ("Narnia", None),
        ("XX", None),
        ("", None),
        ("   ", None),
    ],
)
def test_resolve_region(country: str, expected: str | None) -> None:
    """Country codes, names and common aliases resolve to a region, others to None."""
    assert resolve_region(country) == expected


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+12015550123", "+1201555****"),
        ("+442079460000", "+44207946****"),
        ("+12345", "+1****"),
        ("1234", "****"),
        ("12", "**"),
    ],
)
def test_mask_phone(e164: str, expected: str) -> None:
    """The last four characters are hidden, or all of a short text."""
    assert mask_phone(e164) == expected


def test_national_number_of_other_country_invalid() -> None:
    """A national number of a US area code is refused on a Canadian row."""
    parsed = parse_phone("201 555 0160", "CA")

    assert parsed.e164 is None
    assert parsed.reason == "phone_invalid"
    assert parsed.detail == "'201 555 0160' is a number of US, not of CA"


def test_plus_number_ignores_row_country() -> None:
    """A number with its country code is valid whatever the row's country."""
    assert parse_phone("+1 201 555 0181", "GB").e164 == "+12015550181"


def test_great_britain_resolves() -> None:
    """'Great Britain' is read as GB."""
    assert resolve_region("Great Britain") == "GB"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        (
            "2015550123.0",
            "US",
            ParsedPhone("+12015550123", note="repaired: .0 removed"),
        ),
        (
            "2015550123,00",
            "US",
            ParsedPhone("+12015550123", note="repaired: ,00 removed"),
        ),
        (
            "2.015550123E+09",
            "US",
            ParsedPhone("+12015550123", note="repaired: scientific notation expanded"),
        ),
        (
            "2079460018",
            "GB",
            ParsedPhone("+442079460018", note="repaired: leading 0 restored"),
        ),
        (
            "442079460018",
            "GB",
            ParsedPhone("+442079460018", note="repaired: leading + restored"),
        ),
        ("12015550123", "US", ParsedPhone("+12015550123")),
        ("(020) 7946 0018", "GB", ParsedPhone("+442079460018")),
    ],
)
def test_excel_damage_repaired(raw: str, region: str, expected: ParsedPhone) -> None:
    """A float's .0, full scientific notation and a lost 0 or + are repaired, noted."""
    assert parse_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw", ["2.01555E+09", "4,42079E+11", "-2.01555E+09", "2.5E-3"]
)
def test_scientific_notation_digits_lost(raw: str) -> None:
    """Scientific notation that hides digits, or is not a whole number, is rejected."""
    parsed = parse_phone(raw, "US")

    assert parsed.e164 is None
    assert parsed.reason == "phone_digits_lost"
    assert parsed.detail == (
        f"{raw!r} is in scientific notation, so its last digits are lost. Format "
        "the phone column as Text and export the file again"
    )


def test_short_number_with_zero_decimal_not_repaired() -> None:
    """Fewer than seven digits before .0 is not taken for a float-damaged number."""
    parsed = parse_phone("555.0", "US")

    assert parsed == ParsedPhone(
        None, "phone_invalid", "'555.0' is not a valid number for US"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("201-555-0123 x123", ParsedPhone("+12015550123", note="extension 123")),
        ("201 555 0123 #12", ParsedPhone("+12015550123", note="extension 12")),
        (
            "201-555-0123 / 201-555-0124",
            ParsedPhone("+12015550123", note="other numbers: +12015550124"),
        ),
        (
            "201-555-0123 OR 201-555-0124 ; 201-555-0125",
            ParsedPhone(
                "+12015550123", note="other numbers: +12015550124, +12015550125"
            ),
        ),
        ("201-555-0123 / 201-555-0123", ParsedPhone("+12015550123")),
        ("201/555-0123", ParsedPhone("+12015550123")),
        (
            "+1 555 0100 / 201-555-0124 ext. 3",
            ParsedPhone(
                "+12015550124",
                note="extension 3; other numbers: +1 555 0100 (not valid)",
            ),
        ),
    ],
)
def test_extension_and_other_numbers(raw: str, expected: ParsedPhone) -> None:
    """The first valid number of a cell is chosen; the rest is kept in the note."""
    assert parse_phone(raw, "US") == expected


def test_lost_plus_hint_names_number() -> None:
    """A number valid only with a + is rejected under US, with the + form named."""
    parsed = parse_phone("442079460018", "US")

    assert parsed.e164 is None
    assert parsed.reason == "phone_invalid"
    assert parsed.detail == (
        "'442079460018' is not a valid number for US. With a leading + it is "
        "+442079460018, a number of GB"
    )


def test_parse_phones_keeps_order() -> None:
    """Pairs are parsed in order, and a repeated pair gets the same outcome."""
    pairs = [("201 555 0123", "US"), ("", "US"), ("201 555 0123", "US")]

    parsed = parse_phones(pairs)

    assert [phone.e164 for phone in parsed] == ["+12015550123", None, "+12015550123"]
    assert parsed[0] is parsed[2]
