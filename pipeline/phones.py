"""Phone numbers: parse with a region, check validity, format as E.164, mask."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
import pycountry

# Names people write that are not ISO 3166 codes or names.
_REGION_ALIASES = {
    "UK": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
}


@dataclass(frozen=True)
class ParsedPhone:
    """The outcome of reading one phone cell: an E.164 number or a reason."""

    e164: str | None
    reason: str | None = None
    detail: str = ""


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


@functools.lru_cache(maxsize=65536)
def parse_phone(raw: str, region: str) -> ParsedPhone:
    """Parse a phone cell as written in `region` and return its E.164 form.

    A number that phonenumbers can read but that is not valid (not merely
    possible) for its region is refused, so a malformed national number is
    never turned into a stranger's number.
    """
    text = raw.strip()
    if not text:
        return ParsedPhone(None, "phone_missing", "the phone cell is empty")

    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException as error:
        return ParsedPhone(None, "phone_unparseable", f"{text!r}: {error.args[0]}")

    if not phonenumbers.is_valid_number(number):
        return ParsedPhone(
            None, "phone_invalid", f"{text!r} is not a valid number for {region}"
        )
    if _written_nationally(number) and not phonenumbers.is_valid_number_for_region(
        number, region
    ):
        # Countries that share a calling code, such as the US and Canada, also
        # share national formats: the number must belong to the row's country.
        owner = phonenumbers.region_code_for_number(number)
        return ParsedPhone(
            None,
            "phone_invalid",
            f"{text!r} is a number of {owner}, not of {region}",
        )

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return ParsedPhone(e164)


def _written_nationally(number: phonenumbers.PhoneNumber) -> bool:
    """Return whether the cell had no country code, so the region supplied it."""
    source = number.country_code_source

    return source == phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY


def mask_phone(e164: str) -> str:
    """Hide the last four digits of a number, for log lines: `+1201555****`."""
    if len(e164) <= 4:
        return "*" * len(e164)

    return e164[:-4] + "****"
