"""Tests of real-world input kinds, from the file on disk to the E.164 number or reason.

Each test builds a small file in tmp_path, loads it as the run does, and checks the
exact number that would be called, or the exact reason the row is not called,
because a number read wrong calls a stranger.
"""

from __future__ import annotations

import codecs
import datetime
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import openpyxl
import pandas as pd
import pytest

from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.load import load_leads
from pipeline.mapping import build_call_data
from pipeline.run import RunOptions, run
from pipeline.validate import validate_leads

ConfigFactory = Callable[..., Config]

SCIENTIFIC_DETAIL = (
    "is in scientific notation, so its last digits are lost. Format the phone "
    "column as Text and export the file again"
)


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write the text without newline translation, so line ends stay as given."""
    path.write_bytes(text.encode(encoding))

    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], title: str = "Leads") -> Path:
    """Write one sheet with openpyxl, each value stored with its Python type."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)

    return path


def validate_file(
    path: Path, config: Config, *, sheet: str | None = None
) -> pd.DataFrame:
    """Load a lead file with the config's columns and return validate_leads' outcome."""
    table = load_leads(path, sheet=sheet, columns=config.lead_columns())

    return validate_leads(table.frame, config)


@pytest.fixture
def us_config(make_config: ConfigFactory) -> Config:
    """Return a config with default region US and a Country column."""
    return make_config(phone={"country_column": "Country"})


# 1. Phone cells that Excel stored as numbers


def test_xlsx_number_cells_called_as_digits(tmp_path: Path, us_config: Config) -> None:
    """Number cells, integral floats and a blank cell read as whole numbers."""
    path = write_xlsx(
        tmp_path / "leads.xlsx",
        [
            ["Phone", "Country"],
            [2015550123, "US"],
            [2015550124.0, "US"],
            [None, "US"],
            [2015550125, "US"],
        ],
    )

    outcome = validate_file(path, us_config)

    assert outcome["phone_e164"].tolist() == [
        "+12015550123",
        "+12015550124",
        "",
        "+12015550125",
    ]
    assert outcome.at[4, "reason"] == "phone_missing"
    assert outcome["phone_note"].tolist() == ["", "", "", ""]


def test_csv_float_phone_repaired(tmp_path: Path, us_config: Config) -> None:
    """A CSV column that a blank cell turned into floats loses its .0, with a note."""
    path = write_text(
        tmp_path / "leads.csv",
        "Phone,Country\n2015550123.0,US\n,US\n2015550124.00,US\n",
    )

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "phone_e164"] == "+12015550123"
    assert outcome.at[2, "phone_note"] == "repaired: .0 removed"
    assert outcome.at[3, "reason"] == "phone_missing"
    assert outcome.at[4, "phone_e164"] == "+12015550124"
    assert outcome.at[4, "phone_note"] == "repaired: .00 removed"


def test_scientific_notation_rejected(tmp_path: Path, us_config: Config) -> None:
    """Scientific notation with lost digits is phone_digits_lost, in CSV and XLSX."""
    csv_path = write_text(tmp_path / "leads.csv", "Phone,Country\n2.01555E+09,US\n")
    xlsx_path = write_xlsx(
        tmp_path / "leads.xlsx", [["Phone", "Country"], ["4.42079E+11", "GB"]]
    )

    from_csv = validate_file(csv_path, us_config)
    from_xlsx = validate_file(xlsx_path, us_config)

    assert from_csv.at[2, "status"] == "rejected"
    assert from_csv.at[2, "reason"] == "phone_digits_lost"
    assert from_csv.at[2, "detail"] == f"'2.01555E+09' {SCIENTIFIC_DETAIL}"
    assert from_csv.at[2, "phone_e164"] == ""
    assert from_xlsx.at[2, "reason"] == "phone_digits_lost"
    assert from_xlsx.at[2, "detail"] == f"'4.42079E+11' {SCIENTIFIC_DETAIL}"


def test_digits_lost_outranks_unknown_country(
    tmp_path: Path, us_config: Config
) -> None:
    """Lost digits are reported even when the row's country is also unknown."""
    path = write_text(tmp_path / "leads.csv", "Phone,Country\n2.01555E+09,Narnia\n")

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "reason"] == "phone_digits_lost"


def test_scientific_notation_with_every_digit(
    tmp_path: Path, us_config: Config
) -> None:
    """Scientific notation that shows every digit is expanded, with a note."""
    path = write_text(tmp_path / "leads.csv", "Phone,Country\n2.015550123E+09,US\n")

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "phone_e164"] == "+12015550123"
    assert outcome.at[2, "phone_note"] == "repaired: scientific notation expanded"


# 2. A lost leading 0 or +


def test_lost_leading_zero_on_gb_row(tmp_path: Path, us_config: Config) -> None:
    """A GB number without its 0, as text or as a number cell, is read under GB."""
    csv_path = write_text(tmp_path / "leads.csv", "Phone,Country\n2079460018,GB\n")
    xlsx_path = write_xlsx(
        tmp_path / "leads.xlsx", [["Phone", "Country"], [2079460019, "UK"]]
    )

    from_csv = validate_file(csv_path, us_config)
    from_xlsx = validate_file(xlsx_path, us_config)

    assert from_csv.at[2, "phone_e164"] == "+442079460018"
    assert from_csv.at[2, "phone_note"] == "repaired: leading 0 restored"
    assert from_xlsx.at[2, "phone_e164"] == "+442079460019"
    assert from_xlsx.at[2, "phone_note"] == "repaired: leading 0 restored"


def test_lost_plus_on_own_country_row(tmp_path: Path, us_config: Config) -> None:
    """A GB number with 44 but no + on a GB row gets its + back, with a note."""
    path = write_text(
        tmp_path / "leads.csv", "Phone,Country\n442079460020,GB\n2079460021.0,GB\n"
    )

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "phone_e164"] == "+442079460020"
    assert outcome.at[2, "phone_note"] == "repaired: leading + restored"
    assert outcome.at[3, "phone_e164"] == "+442079460021"
    assert outcome.at[3, "phone_note"] == "repaired: .0 removed, leading 0 restored"


def test_us_trunk_prefix_is_no_repair(tmp_path: Path, us_config: Config) -> None:
    """US numbers with or without the leading 1 need no note."""
    path = write_text(
        tmp_path / "leads.csv", "Phone,Country\n12015550126,US\n2015550127,US\n"
    )

    outcome = validate_file(path, us_config)

    assert outcome["phone_e164"].tolist() == ["+12015550126", "+12015550127"]
    assert outcome["phone_note"].tolist() == ["", ""]


def test_lost_plus_other_country_rejected(tmp_path: Path, us_config: Config) -> None:
    """A GB number without + on a US row is rejected, with the likely number named."""
    path = write_text(tmp_path / "leads.csv", "Phone,Country\n442079460022,US\n")

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "phone_e164"] == ""
    assert outcome.at[2, "reason"] == "phone_invalid"
    assert outcome.at[2, "detail"] == (
        "'442079460022' is not a valid number for US. With a leading + it is "
        "+442079460022, a number of GB"
    )


# 3. CSV encodings and shapes


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            codecs.BOM_UTF8 + b"Name,Phone\r\nZo\xc3\xab,201-555-0123\r\n",
            id="utf8-bom",
        ),
        pytest.param("Name,Phone\nZoë,201-555-0123\n".encode("cp1252"), id="cp1252"),
        pytest.param(
            "Name\tPhone\r\nZoë\t201-555-0123\r\n".encode("utf-16"), id="utf16-le"
        ),
        pytest.param(
            codecs.BOM_UTF16_BE + "Name;Phone\nZoë;201-555-0123\n".encode("utf-16-be"),
            id="utf16-be",
        ),
        pytest.param(b"Name;Phone\nZo\xc3\xab;201-555-0123\n", id="semicolon"),
        pytest.param(b"Name\tPhone\nZo\xc3\xab\t201-555-0123\n", id="tab"),
        pytest.param(
            b"sep=;\r\nName;Phone\r\nZo\xc3\xab;201-555-0123\r\n", id="sep-line"
        ),
        pytest.param(b"Name,Phone\r\nZo\xc3\xab,201-555-0123\r\n", id="crlf"),
    ],
)
def test_csv_encodings_and_shapes(
    tmp_path: Path, make_config: ConfigFactory, data: bytes
) -> None:
    """Each common CSV encoding and shape gives the same name and E.164 number."""
    path = tmp_path / "leads.csv"
    path.write_bytes(data)

    table = load_leads(path, columns=["Phone"])
    outcome = validate_leads(table.frame, make_config())

    assert table.frame["Name"].tolist() == ["Zoë"]
    assert outcome["phone_e164"].tolist() == ["+12015550123"]


def test_csv_quoted_line_breaks(tmp_path: Path, make_config: ConfigFactory) -> None:
    """Quoted fields over several lines keep their breaks and later rows their lines."""
    path = write_text(
        tmp_path / "leads.csv",
        'Name,Notes,Phone\r\nAnn,"call after 2pm\r\nnot Fridays",201-555-0123\r\n'
        'Bob,"one\ntwo\nthree",201-555-0124\r\n',
    )

    table = load_leads(path, columns=["Phone"])
    outcome = validate_leads(table.frame, make_config())

    assert table.frame["Notes"].tolist() == [
        "call after 2pm\r\nnot Fridays",
        "one\ntwo\nthree",
    ]
    assert outcome["phone_e164"].to_dict() == {2: "+12015550123", 4: "+12015550124"}


# 4. Excel used-range junk and headers


def test_title_rows_above_header(tmp_path: Path, us_config: Config) -> None:
    """Title and date rows above the header are skipped by finding the columns."""
    path = write_xlsx(
        tmp_path / "leads.xlsx",
        [
            ["Lead export"],
            [None],
            ["Generated 2026-01-02", None, None, "Page 1"],
            ["Name", "Phone", "Country"],
            ["Ann", "201-555-0123", "US"],
        ],
    )

    table = load_leads(path, columns=us_config.lead_columns())

    assert table.header_row == 4
    assert list(table.frame.columns) == ["Name", "Phone", "Country"]
    assert table.frame.index.tolist() == [5]
    assert validate_leads(table.frame, us_config).at[5, "phone_e164"] == "+12015550123"


def test_title_rows_above_csv_header(tmp_path: Path) -> None:
    """A CSV title line above the header is skipped the same way."""
    path = write_text(
        tmp_path / "leads.csv", "Leads for Monday,,\nName,Phone,Country\nAnn,1,US\n"
    )

    table = load_leads(path, columns=["phone", "COUNTRY"])

    assert table.header_row == 2
    assert table.matched_columns == {"phone": "Phone", "COUNTRY": "Country"}


def test_first_row_header_without_columns(tmp_path: Path) -> None:
    """Without configured columns, the first non-blank row is the header."""
    path = write_text(tmp_path / "leads.csv", "\nLeads for Monday\nName,Phone\n")

    table = load_leads(path)

    assert table.header_row == 2
    assert list(table.frame.columns) == ["Leads for Monday", "Column 2"]


def test_header_not_found_error(tmp_path: Path) -> None:
    """A header below the first 50 non-blank rows is not found, as the error states."""
    lines = [f"Title line {number}" for number in range(50)] + ["Name,Phone"]
    path = write_text(tmp_path / "leads.csv", "\n".join(lines) + "\nAnn,1\n")

    with pytest.raises(InputError) as caught:
        load_leads(path, columns=["Phone"])

    message = str(caught.value)
    assert 'Column "Phone" not found' in message
    assert "No row among the first 50 non-blank rows" in message
    assert 'Headers found in row 1: "Title line 0"' in message


def test_used_range_blank_rows_and_columns(tmp_path: Path, us_config: Config) -> None:
    """Cells of only spaces far from the table add no rows and no columns."""
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Phone", None, "Country", None])
    sheet.append(["201-555-0123", None, "US", None])
    sheet["J40"] = "   "
    sheet["B3"] = " "
    workbook.save(path)

    table = load_leads(path, columns=us_config.lead_columns())

    assert list(table.frame.columns) == ["Phone", "Country"]
    assert table.frame.index.tolist() == [2]


def test_duplicate_header_error_says_how(tmp_path: Path) -> None:
    """Two headers named Phone raise an error that names both and how to choose."""
    path = write_xlsx(
        tmp_path / "leads.xlsx", [["Phone", "Name", "Phone"], ["1", "Ann", "2"]]
    )

    with pytest.raises(InputError) as caught:
        load_leads(path, columns=["Phone"])

    assert str(caught.value).endswith(
        "columns A and C. Rename or delete the columns not to use in the file, so "
        'that only one header matches "Phone".'
    )


# 5. Extensions and several numbers in one cell


@pytest.mark.parametrize(
    ("cell", "e164", "note"),
    [
        ("201-555-0123 x123", "+12015550123", "extension 123"),
        ("(201) 555-0123 ext. 5", "+12015550123", "extension 5"),
        ("201-555-0123, ext 5", "+12015550123", "extension 5"),
        (
            "201-555-0123 / 201-555-0124",
            "+12015550123",
            "other numbers: +12015550124",
        ),
        ("201-555-0123; 201-555-0124", "+12015550123", "other numbers: +12015550124"),
        ("201-555-0123, 201-555-0124", "+12015550123", "other numbers: +12015550124"),
        (
            "201-555-0123 or 201-555-0124",
            "+12015550123",
            "other numbers: +12015550124",
        ),
        (
            "201-555-0123 x7\n201-555-0124 x8",
            "+12015550123",
            "extension 7; other numbers: +12015550124 extension 8",
        ),
        (
            "555-0199 / 201-555-0124",
            "+12015550124",
            "other numbers: 555-0199 (not valid)",
        ),
    ],
)
def test_extensions_and_several_numbers(
    tmp_path: Path, us_config: Config, cell: str, e164: str, note: str
) -> None:
    """The first valid number is called; extension and others go in the note."""
    path = write_xlsx(tmp_path / "leads.xlsx", [["Phone", "Country"], [cell, "US"]])

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "status"] == "pending"
    assert outcome.at[2, "phone_e164"] == e164
    assert outcome.at[2, "phone_note"] == note


def test_partial_second_number_not_guessed(tmp_path: Path, us_config: Config) -> None:
    """A second number written as its last digits only is not completed by guess."""
    path = write_text(tmp_path / "leads.csv", "Phone,Country\n201-555-0123 / 0124,US\n")

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "reason"] == "phone_invalid"
    assert outcome.at[2, "detail"] == (
        "'201-555-0123 / 0124' is not a valid number for US"
    )


def test_no_valid_number_in_cell(tmp_path: Path, us_config: Config) -> None:
    """A cell of several invalid numbers is rejected with the first one's reason."""
    path = write_text(
        tmp_path / "leads.csv", "Phone,Country\n+1 555 0100 / +1 555 0101,US\n"
    )

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "reason"] == "phone_invalid"
    assert outcome.at[2, "detail"] == (
        "'+1 555 0100' is not a valid number for US, and no other number in "
        "'+1 555 0100 / +1 555 0101' is valid"
    )


# 6. International prefixes and the row's country


@pytest.mark.parametrize(
    ("cell", "country", "e164"),
    [
        ("00 44 20 7946 0030", "GB", "+442079460030"),
        ("011 44 20 7946 0031", "US", "+442079460031"),
        ("011 1 201 555 0132", "", "+12015550132"),
        ("020 7946 0033", "United Kingdom", "+442079460033"),
        ("+1 201 555 0134", "GB", "+12015550134"),
    ],
)
def test_international_prefixes_and_country(
    tmp_path: Path, us_config: Config, cell: str, country: str, e164: str
) -> None:
    """00 and 011 follow the row's country, which wins over the default US."""
    path = write_xlsx(tmp_path / "leads.xlsx", [["Phone", "Country"], [cell, country]])

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "phone_e164"] == e164
    assert outcome.at[2, "phone_note"] == ""


@pytest.mark.parametrize(
    ("cell", "country", "detail"),
    [
        ("020 7946 0040", "", "'020 7946 0040' is not a valid number for US"),
        (
            "00 44 20 7946 0041",
            "US",
            "'00 44 20 7946 0041' is not a valid number for US",
        ),
        ("201 555 0142", "CA", "'201 555 0142' is a number of US, not of CA"),
    ],
)
def test_number_of_wrong_region_rejected(
    tmp_path: Path, us_config: Config, cell: str, country: str, detail: str
) -> None:
    """A number valid only under another region than the row's is not called."""
    path = write_xlsx(tmp_path / "leads.xlsx", [["Phone", "Country"], [cell, country]])

    outcome = validate_file(path, us_config)

    assert outcome.at[2, "status"] == "rejected"
    assert outcome.at[2, "reason"] == "phone_invalid"
    assert outcome.at[2, "detail"] == detail


# 7. Dates and numbers in callData columns


def test_workbook_dates_and_numbers_in_call_data(
    tmp_path: Path, make_config: ConfigFactory
) -> None:
    """Dates go as ISO text and numbers as their value, without the display format."""
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Phone", "Due", "Visit", "Amount", "Zip", "Serial"])
    sheet.append(
        [
            "201-555-0123",
            datetime.date(2025, 8, 30),
            datetime.datetime(2025, 8, 30, 14, 30),
            12.5,
            7030,
            45899,
        ]
    )
    sheet["D2"].number_format = "0.00"
    sheet["E2"].number_format = "00000"
    workbook.save(path)
    variables = {name.lower(): name for name in ["Due", "Visit", "Amount", "Zip"]}
    config = make_config(call_data={**variables, "serial": "Serial"})

    table = load_leads(path, columns=config.lead_columns())
    call_data = build_call_data(table.frame, config.call_data)

    assert call_data[2] == {
        "due": "2025-08-30",
        "visit": "2025-08-30T14:30:00",
        "amount": "12.5",
        "zip": "7030",
        "serial": "45899",
    }


def test_csv_dates_and_numbers_in_call_data(
    tmp_path: Path, make_config: ConfigFactory
) -> None:
    """CSV cells are sent exactly as written, with no date or number parsing."""
    path = write_text(
        tmp_path / "leads.csv",
        "Phone,Due,Amount,Zip\n201-555-0123,30/08/2025,12.50,07030\n",
    )
    config = make_config(call_data={"due": "Due", "amount": "Amount", "zip": "Zip"})

    table = load_leads(path, columns=config.lead_columns())
    call_data = build_call_data(table.frame, config.call_data)

    assert call_data[2] == {"due": "30/08/2025", "amount": "12.50", "zip": "07030"}


# 8. Workbook formats and sheets


def ods_cell(value: Any) -> str:
    """Return one OpenDocument table cell for a str, a number or a date."""
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, str):
        return (
            '<table:table-cell office:value-type="string">'
            f"<text:p>{escape(value)}</text:p></table:table-cell>"
        )
    if isinstance(value, datetime.date):
        return (
            '<table:table-cell office:value-type="date" '
            f'office:date-value="{value.isoformat()}"/>'
        )

    return f'<table:table-cell office:value-type="float" office:value="{value}"/>'


def write_ods(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write an OpenDocument spreadsheet by hand, as a zip of XML parts."""
    namespaces = {
        "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
        "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
        "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    }
    declared = " ".join(f'xmlns:{key}="{url}"' for key, url in namespaces.items())
    tables = "".join(
        f"<table:table table:name={quoteattr(name)}>"
        + "".join(
            "<table:table-row>" + "".join(map(ods_cell, row)) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {declared} '
        'office:version="1.2"><office:body><office:spreadsheet>'
        f"{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    media_type = "application/vnd.oasis.opendocument.spreadsheet"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        f'manifest:media-type="{media_type}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        # The mimetype entry comes first and uncompressed, as the format requires.
        archive.writestr("mimetype", media_type, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)

    return path


def biff_record(kind: int, data: bytes = b"") -> bytes:
    """Return one BIFF8 record: type, length, data."""
    return struct.pack("<HH", kind, len(data)) + data


def biff_bof(substream: int) -> bytes:
    """Return a BIFF8 beginning-of-file record: 0x0005 workbook, 0x0010 sheet."""
    return biff_record(0x0809, struct.pack("<HHHHII", 0x0600, substream, 0, 0, 0, 6))


def biff_sheet(rows: list[list[Any]]) -> bytes:
    """Return a worksheet substream of LABEL (text) and NUMBER cells."""
    cells = b""
    for row_number, row in enumerate(rows):
        for column, value in enumerate(row):
            if isinstance(value, str):
                header = struct.pack("<HHHHB", row_number, column, 0, len(value), 1)
                cells += biff_record(0x0204, header + value.encode("utf-16-le"))
            elif value is not None:
                number = struct.pack("<HHHd", row_number, column, 0, float(value))
                cells += biff_record(0x0203, number)

    return biff_bof(0x0010) + cells + biff_record(0x000A)


def biff_workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """Return a BIFF8 Workbook stream: a BOUNDSHEET per sheet, then the sheets."""
    bodies = [biff_sheet(rows) for rows in sheets.values()]

    def globals_part(offsets: list[int]) -> bytes:
        entries = b"".join(
            biff_record(
                0x0085,
                struct.pack("<IBBBB", offset, 0, 0, len(name), 0)
                + name.encode("latin-1"),
            )
            for name, offset in zip(sheets, offsets, strict=True)
        )
        return biff_bof(0x0005) + entries + biff_record(0x000A)

    offsets = []
    position = len(globals_part([0] * len(sheets)))
    for body in bodies:
        offsets.append(position)
        position += len(body)

    return globals_part(offsets) + b"".join(bodies)


def compound_file(stream: bytes) -> bytes:
    """Wrap a Workbook stream in a minimal OLE2 compound file, as .xls needs.

    The layout is one FAT sector, the stream padded to at least 4,096 bytes so it
    needs no mini stream, and one directory sector with the root and the stream.
    """
    sector = 512
    end_of_chain, free, fat_sector, no_stream = (
        0xFFFFFFFE,
        0xFFFFFFFF,
        0xFFFFFFFD,
        0xFFFFFFFF,
    )
    stream = stream.ljust(max(4096, -(-len(stream) // sector) * sector), b"\0")
    stream_sectors = len(stream) // sector
    directory_sector = 1 + stream_sectors
    chain = [number + 1 for number in range(1, stream_sectors)] + [end_of_chain]
    fat = [fat_sector, *chain, end_of_chain]
    fat += [free] * (sector // 4 - len(fat))

    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6) + bytes(6)
    header += struct.pack(
        "<IIIIIIIII", 0, 1, directory_sector, 0, 4096, end_of_chain, 0, end_of_chain, 0
    )
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", no_stream, no_stream, child)
            + bytes(36)
            + struct.pack("<IQ", start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, end_of_chain, 0)
        + entry("Workbook", 2, no_stream, 1, len(stream))
        + entry("", 0, no_stream, 0, 0) * 2
    )

    return header + struct.pack(f"<{sector // 4}I", *fat) + stream + directory


def write_xls(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write a BIFF8 .xls workbook by hand, as Excel 97-2003 saves it."""
    path.write_bytes(compound_file(biff_workbook(sheets)))

    return path


LEAD_SHEETS: dict[str, list[list[Any]]] = {
    "Notes": [["Nothing to call here"]],
    "Leads": [
        ["Name", "Phone", "Country"],
        ["Zoë", 2015550123, "US"],
        ["Siân", 2079460018, "GB"],
        ["Ann", "201-555-0124 x9", "US"],
    ],
}


@pytest.mark.parametrize("write", [write_xls, write_ods], ids=["xls", "ods"])
def test_xls_and_ods_sheet_by_name(
    tmp_path: Path,
    us_config: Config,
    write: Callable[[Path, dict[str, list[list[Any]]]], Path],
) -> None:
    """An .xls or .ods sheet chosen by name reads its text and number cells."""
    suffix = ".xls" if write is write_xls else ".ods"
    path = write(tmp_path / f"leads{suffix}", LEAD_SHEETS)

    outcome = validate_file(path, us_config, sheet="leads")
    table = load_leads(path, sheet="leads")

    assert table.sheet == "Leads"
    assert table.frame["Name"].tolist() == ["Zoë", "Siân", "Ann"]
    assert outcome["phone_e164"].tolist() == [
        "+12015550123",
        "+442079460018",
        "+12015550124",
    ]
    assert outcome["phone_note"].tolist() == [
        "",
        "repaired: leading 0 restored",
        "extension 9",
    ]


@pytest.mark.parametrize("write", [write_xls, write_ods], ids=["xls", "ods"])
def test_xls_and_ods_first_sheet_default(
    tmp_path: Path, write: Callable[[Path, dict[str, list[list[Any]]]], Path]
) -> None:
    """Without a sheet name, the first sheet of an .xls or .ods file is read."""
    suffix = ".xls" if write is write_xls else ".ods"
    path = write(tmp_path / f"leads{suffix}", LEAD_SHEETS)

    table = load_leads(path)

    assert table.sheet == "Notes"
    assert list(table.frame.columns) == ["Nothing to call here"]


def test_ods_date_cell_iso(tmp_path: Path) -> None:
    """An .ods date cell loads as an ISO date."""
    path = write_ods(
        tmp_path / "leads.ods",
        {"Leads": [["Phone", "Due"], ["201-555-0123", datetime.date(2025, 8, 30)]]},
    )

    table = load_leads(path)

    assert table.frame["Due"].tolist() == ["2025-08-30"]


# 9. Output safety and the phone_note column, through a dry run


def test_dry_run_workbook_keeps_text_and_notes(
    tmp_path: Path, make_config: ConfigFactory
) -> None:
    """A dry run writes formula-like text as quoted text and each row's phone note."""
    leads = write_text(
        tmp_path / "leads.csv",
        "Name,Phone,Country,Notes\n"
        '"=HYPERLINK(""http://127.0.0.1/"")",+1 201 555 0150,US,-5 off\n'
        "@Maya,2079460050,GB,+1 call back\n"
        "Bob,201-555-0151 x12 / 201-555-0152,US,\n"
        "Cy,2.01555E+09,US,\n",
    )
    config = make_config(
        input={"path": str(leads)},
        phone={"country_column": "Country"},
        output={"path": str(tmp_path / "results.xlsx")},
    )

    summary = run(config, RunOptions(dry_run=True))

    sheet = openpyxl.load_workbook(tmp_path / "results.xlsx")["Results"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[-2:] == ["phone_note", "earliest_call_at"]
    values = {name: [row[header.index(name)] for row in rows[1:]] for name in header}
    assert values["phone_e164"] == [
        "+12015550150",
        "+442079460050",
        "+12015550151",
        None,
    ]
    assert values["phone_note"] == [
        None,
        "repaired: leading 0 restored",
        "extension 12; other numbers: +12015550152",
        None,
    ]
    assert (
        values["reason"][3] == f"phone_digits_lost: '2.01555E+09' {SCIENTIFIC_DETAIL}"
    )
    assert summary.status_counts == {"dry_run": 3, "rejected": 1}
    for cell in (sheet["A2"], sheet["B2"], sheet["D2"], sheet["A3"], sheet["D3"]):
        assert cell.data_type == "s", cell.coordinate
        assert cell.quotePrefix, cell.coordinate
    assert sheet["A2"].value == '=HYPERLINK("http://127.0.0.1/")'
    assert sheet["B2"].value == "+1 201 555 0150"
