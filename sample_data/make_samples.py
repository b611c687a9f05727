"""Write the sample CRM lead export as leads.csv and leads.xlsx.

Run `python sample_data/make_samples.py [OUTPUT_DIR]`. The default output folder
is the folder of this script. The random generator has a fixed seed and the
workbook's timestamps are fixed, so with the same openpyxl version a rerun writes
the same bytes.

Both files contain the same 200 leads under a header in row 1, with a blank row
at row 102, so a lead has the same row number in both. leads.csv is UTF-8 without
a BOM, comma-separated, with "\\n" line ends. leads.xlsx has one sheet, "Leads",
in which phone numbers written only as digits without a leading zero are number
cells, as Excel stores them, and "Record ID" and "Create Date" are numbers and
dates. Loaded as text, both files give the same values.

Columns, as a HubSpot-style CRM export names them: Record ID, First Name, Last
Name, Email, Phone Number, Company Name, Country/Region, Lead Status, Lead Owner,
Create Date, Notes. "Country/Region" contains ISO 3166-1 alpha-2 codes, "US" or
"GB", so it can be passed to libphonenumber as the region. It is blank on two
rows on purpose.

Every phone number is from a range reserved for fiction: +1 201 555 0100 to 0199
and +44 20 7946 0000 to 0999. Invalid ones use +1 555 and 07700 900, which
libphonenumber rejects. DELIBERATE_ROWS below lists each row that is wrong or
unusual on purpose, with what a validator should report for it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import random
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl

SEED = 20260102
LEAD_COUNT = 200
US_LEAD_COUNT = 90
BLANK_ROW = 102
FIXED_TIMESTAMP = datetime.datetime(2026, 1, 2, 9, 0, 0)
_FIXED_W3CDTF = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
_MODIFIED_ELEMENT = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*")

HEADERS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Company Name",
    "Country/Region",
    "Lead Status",
    "Lead Owner",
    "Create Date",
    "Notes",
]


@dataclass(frozen=True)
class DeliberateRow:
    """A row changed on purpose, and what a validator should report for it."""

    row: int
    changes: dict[str, str]
    expected: str


DELIBERATE_ROWS = [
    DeliberateRow(
        7,
        {"Phone Number": "", "Country/Region": "US"},
        "reject: phone number is missing",
    ),
    DeliberateRow(
        23,
        {
            "Phone Number": "",
            "Country/Region": "GB",
            "Notes": "Number is in her email signature",
        },
        "reject: phone number is missing",
    ),
    DeliberateRow(
        31,
        {"Phone Number": "555-012", "Country/Region": "US"},
        "reject: too short for US",
    ),
    DeliberateRow(
        40,
        {"Phone Number": "(201) 555-0123", "Country/Region": "US"},
        "valid, +12015550123 (see row 118)",
    ),
    DeliberateRow(
        44,
        {"Phone Number": "020 7946", "Country/Region": "GB"},
        "reject: too short for GB",
    ),
    DeliberateRow(
        52,
        {"Phone Number": "N/A", "Country/Region": "US"},
        "reject: not a phone number",
    ),
    DeliberateRow(
        60,
        {"Phone Number": "ask reception", "Country/Region": "GB"},
        "reject: not a phone number",
    ),
    DeliberateRow(
        68,
        {"Phone Number": "+1 555 0100", "Country/Region": "US"},
        "reject: invalid number (+1 555)",
    ),
    DeliberateRow(
        77,
        {"Phone Number": "(555) 010-0199", "Country/Region": "US"},
        "reject: invalid US number (area code 555)",
    ),
    DeliberateRow(
        85,
        {"Phone Number": "020 7946 0456", "Country/Region": "US"},
        "reject: invalid for US. It looks like a UK national number, so the "
        "country column may be wrong",
    ),
    DeliberateRow(
        93,
        {"Phone Number": "4.42079E+11", "Country/Region": "GB"},
        "reject: scientific notation from Excel, digits are lost",
    ),
    DeliberateRow(
        110,
        {"Phone Number": "07700 900123", "Country/Region": "GB"},
        "reject: invalid GB number (07700 900 is reserved for drama)",
    ),
    DeliberateRow(
        118,
        {"Phone Number": "+1 201 555 0123", "Country/Region": "US"},
        "duplicate: same number as row 40, written differently",
    ),
    DeliberateRow(
        130,
        {"Phone Number": "020 7946 0500", "Country/Region": "GB"},
        "valid, +442079460500 (see row 171)",
    ),
    DeliberateRow(
        140,
        {"First Name": ""},
        "phone valid, but the call data has no First Name",
    ),
    DeliberateRow(
        149,
        {"Notes": "=SUM(A1:A2)"},
        "phone valid. Notes starts with = and must not run as a formula",
    ),
    DeliberateRow(
        157,
        {"Notes": "@Maya call back on Tuesday"},
        "phone valid. Notes starts with @ and must not run as a formula",
    ),
    DeliberateRow(
        163,
        {"Notes": "-- not before noon, she works nights"},
        "phone valid. Notes starts with - and must not run as a formula",
    ),
    DeliberateRow(
        165,
        {"Phone Number": "2015550177.0", "Country/Region": "US"},
        "repair: Excel float damage, +12015550177 after dropping .0",
    ),
    DeliberateRow(
        171,
        {"Phone Number": "+44 20 7946 0500", "Country/Region": "GB"},
        "duplicate: same number as row 130, written differently",
    ),
    DeliberateRow(
        176,
        {"Phone Number": "2079460321", "Country/Region": "GB"},
        "valid for GB, +442079460321, after Excel dropped the leading 0 "
        "(a number cell in leads.xlsx)",
    ),
    DeliberateRow(
        180,
        {"Phone Number": "+44 20 7946 0777", "Country/Region": ""},
        "valid, +442079460777, because the + makes the country unnecessary",
    ),
    DeliberateRow(
        188,
        {"Phone Number": "(201) 555-0166", "Country/Region": ""},
        "blank country: valid only with the default country US",
    ),
    DeliberateRow(
        195,
        {"Phone Number": "+1 201 555 0181", "Country/Region": "GB"},
        "valid US number, +12015550181, under a GB row because the + wins",
    ),
]

# Line numbers that DELIBERATE_ROWS uses, kept out of the random draw so that no
# other row shares them.
RESERVED_US_SUFFIXES = {123, 166, 177, 181}
RESERVED_UK_SUFFIXES = {321, 456, 500, 777}

US_FORMATS = [
    "({area}) 555-{line}",
    "{area}-555-{line}",
    "+1 {area} 555 {line}",
    "{area}555{line}",
    "+1 ({area}) 555-{line}",
    "{area}.555.{line}",
    "1-{area}-555-{line}",
]
UK_FORMATS = [
    "+44 20 7946 {line}",
    "020 7946 {line}",
    "0044 20 7946 {line}",
    "+44 (0)20 7946 {line}",
    "0207946{line}",
]

US_FIRST_NAMES = [
    "James", "Maria", "Robert", "Jennifer", "Michael", "Linda", "David", "Aisha",
    "Carlos", "Emily", "Daniel", "Sofía", "Kevin", "Grace", "Brian", "Nicole",
]  # fmt: skip
UK_FIRST_NAMES = [
    "Oliver", "Amelia", "Harry", "Isla", "George", "Zoë", "Jack", "Siân",
    "Noah", "Freya", "Arjun", "Niamh", "Callum", "Eilidh", "Rhys", "Imogen",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "García", "Brown", "Patel", "Jones", "O'Brien", "Taylor",
    "Nguyen", "Davies", "Evans", "Müller", "Wilson", "Khan", "Thomas", "Roberts",
    "Walker", "Wright", "Okafor", "Hughes",
]  # fmt: skip
COMPANY_WORDS = [
    "Harbor", "Maple", "Granite", "Bluebell", "Kestrel", "Riverside", "Summit",
    "Oakfield", "Copper", "Lantern", "Meadow", "Northgate",
]  # fmt: skip
COMPANY_TRADES = [
    "Dental", "Logistics", "Roofing", "Accountants", "Bakery", "Consulting",
    "Fitness", "Realty", "Joinery", "Print",
]  # fmt: skip
STATUSES = [
    "New",
    "Open",
    "In Progress",
    "Open Deal",
    "Attempted to Contact",
    "Connected",
    "Bad Timing",
    "Unqualified",
]
OWNERS = ["Maya Chen", "Tom Okafor", "Priya Nair", "Liam Walsh"]
NOTES = [
    "Asked for a call back next week",
    "Interested in the annual plan, wants pricing",
    "Spoke to the receptionist; try after 2pm",
    'Said "not now", try again in March',
    "Downloaded the brochure",
    "Referred by an existing customer",
]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]


def main() -> None:
    """Parse the command line and write both sample files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "output_dir",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write leads.csv and leads.xlsx into (default: this folder)",
    )
    arguments = parser.parse_args()

    rows = build_rows(random.Random(SEED))
    write_csv(rows, arguments.output_dir / "leads.csv")
    write_xlsx(rows, arguments.output_dir / "leads.xlsx")


def build_rows(rng: random.Random) -> list[list[str]]:
    """Build the data rows in file order, with the blank row and deliberate rows."""
    countries = ["US"] * US_LEAD_COUNT + ["GB"] * (LEAD_COUNT - US_LEAD_COUNT)
    rng.shuffle(countries)
    us_lines = _draw_lines(rng, range(100, 200), RESERVED_US_SUFFIXES, US_LEAD_COUNT)
    uk_count = LEAD_COUNT - US_LEAD_COUNT
    uk_lines = _draw_lines(rng, range(1000), RESERVED_UK_SUFFIXES, uk_count)

    leads = []
    for index, country in enumerate(countries):
        line = us_lines.pop() if country == "US" else uk_lines.pop()
        leads.append(_make_lead(rng, index, country, line))

    rows = [[lead[header] for header in HEADERS] for lead in leads]
    rows.insert(BLANK_ROW - 2, [""] * len(HEADERS))
    for deliberate in DELIBERATE_ROWS:
        _apply_changes(rows[deliberate.row - 2], deliberate.changes)

    return rows


def _draw_lines(
    rng: random.Random, suffixes: range, reserved: set[int], count: int
) -> list[str]:
    """Draw distinct four-digit line numbers from a fake range, skipping reserved."""
    free = [suffix for suffix in suffixes if suffix not in reserved]

    return [f"{suffix:04d}" for suffix in rng.sample(free, count)]


def _make_lead(
    rng: random.Random, index: int, country: str, line: str
) -> dict[str, str]:
    """Make one plausible lead with a valid fake phone number."""
    first_names = US_FIRST_NAMES if country == "US" else UK_FIRST_NAMES
    first_name = rng.choice(first_names)
    last_name = rng.choice(LAST_NAMES)
    company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_TRADES)}"
    company += rng.choice([" LLC", " Inc.", ""]) if country == "US" else " Ltd"
    if country == "US":
        phone = rng.choice(US_FORMATS).format(area="201", line=line)
    else:
        phone = rng.choice(UK_FORMATS).format(line=line)
    created = datetime.date(2025, 6, 1) + datetime.timedelta(days=rng.randrange(240))

    return {
        "Record ID": str(51_200_000_000 + index * 7919 + rng.randrange(7919)),
        "First Name": first_name,
        "Last Name": last_name,
        "Email": _email(first_name, last_name, rng.choice(EMAIL_DOMAINS)),
        "Phone Number": phone,
        "Company Name": company,
        "Country/Region": country,
        "Lead Status": rng.choice(STATUSES),
        "Lead Owner": rng.choice(OWNERS),
        "Create Date": created.isoformat(),
        "Notes": rng.choice(NOTES) if rng.random() < 0.3 else "",
    }


def _email(first_name: str, last_name: str, domain: str) -> str:
    """Make an ASCII address such as "sofia.garcia@example.com"."""
    local = f"{first_name}.{last_name}".replace("'", "").lower()
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore")

    return f"{ascii_local.decode()}@{domain}"


def _apply_changes(row: list[str], changes: dict[str, str]) -> None:
    """Overwrite the named cells of one row."""
    for header, value in changes.items():
        row[HEADERS.index(header)] = value


def write_csv(rows: list[list[str]], path: Path) -> None:
    """Write the header and rows as UTF-8 CSV, a blank row as bare commas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)

    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")


def write_xlsx(rows: list[list[str]], path: Path) -> None:
    """Write the header and rows to sheet "Leads" with typed cells where Excel would."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Leads"
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(
            [
                _typed_value(header, text)
                for header, text in zip(HEADERS, row, strict=True)
            ]
        )

    # Formula-like notes are text in the export, so keep openpyxl from turning
    # them into formulas.
    for cell in sheet["K"]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"
    for cell in sheet["J"][1:]:
        cell.number_format = "yyyy-mm-dd"

    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(_with_fixed_timestamps(buffer.getvalue()))


def _typed_value(header: str, text: str) -> object:
    """Return the value as Excel would store it: a number, a date or text."""
    if not text:
        return None
    if header == "Record ID":
        return int(text)
    if header == "Create Date":
        return datetime.date.fromisoformat(text)
    if header == "Phone Number" and text.isdigit() and not text.startswith("0"):
        return int(text)

    return text


def _with_fixed_timestamps(archive: bytes) -> bytes:
    """Rewrite the zip with one fixed date, so reruns are byte-identical.

    openpyxl 3.1 stamps the save time into docProps/core.xml and into every zip
    entry, so both are replaced.
    """
    source = zipfile.ZipFile(io.BytesIO(archive))
    output = io.BytesIO()
    with source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                data = _MODIFIED_ELEMENT.sub(rb"\g<1>" + _FIXED_W3CDTF, data)
            fixed = zipfile.ZipInfo(entry.filename, FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, data)

    return output.getvalue()


if __name__ == "__main__":
    main()
