"""Tests of the loader: lead files in, text cells with source row numbers out."""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipeline.errors import InputError
from pipeline.load import LeadTable, load_leads

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_HEADERS = [
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


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write the text without newline translation, so line ends stay as given."""
    path.write_bytes(text.encode(encoding))

    return path


def write_workbook(
    path: Path,
    rows: list[list[object]],
    *,
    title: str = "Leads",
    first_row: int = 1,
    first_column: int = 1,
) -> Path:
    """Write one sheet whose top-left cell is at (first_row, first_column)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row_offset, row in enumerate(rows):
        for column_offset, value in enumerate(row):
            row_number = first_row + row_offset
            column_number = first_column + column_offset
            sheet.cell(row_number, column_number, value)
    workbook.save(path)

    return path


def column(table: LeadTable, name: str) -> list[str]:
    """Return one column of the frame as a plain list."""
    return table.frame[name].tolist()


def rows(table: LeadTable) -> list[int]:
    """Return the source row numbers of the frame."""
    return table.frame.index.tolist()


def unpack(path: Path) -> dict[str, bytes]:
    """Return every part of a zip archive by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# Values


def test_csv_and_xlsx_same_values(tmp_path: Path) -> None:
    """A CSV export and a workbook of the same leads load to equal frames."""
    csv_path = write_text(
        tmp_path / "leads.csv",
        "Name,Phone,Created,Score\n"
        "Ann,2015550100,2026-01-02,12.5\n"
        "Bob,+44 20 7946 0001,2026-01-03,7\n",
    )
    xlsx_path = write_workbook(
        tmp_path / "leads.xlsx",
        [
            ["Name", "Phone", "Created", "Score"],
            ["Ann", 2015550100, datetime.date(2026, 1, 2), 12.5],
            ["Bob", "+44 20 7946 0001", datetime.date(2026, 1, 3), 7],
        ],
    )

    from_csv = load_leads(csv_path)
    from_xlsx = load_leads(xlsx_path)

    assert from_csv.frame.equals(from_xlsx.frame)
    assert column(from_xlsx, "Phone") == ["2015550100", "+44 20 7946 0001"]


def test_frame_is_text_with_source_row(tmp_path: Path) -> None:
    """Every value is a str in an object column, and the index is source_row."""
    path = write_workbook(
        tmp_path / "leads.xlsx",
        [["Name", "Phone", "Score"], ["Ann", 2015550100, None], [None, 1.5, True]],
    )

    frame = load_leads(path).frame

    assert frame.index.name == "source_row"
    assert [str(dtype) for dtype in frame.dtypes] == ["object"] * 3
    assert all(type(value) is str for value in frame.to_numpy().ravel())
    assert frame.loc[3, "Name"] == ""


def test_csv_values_kept_as_written(tmp_path: Path) -> None:
    """CSV cells keep leading zeros, plus signs and number-like text unchanged."""
    path = write_text(
        tmp_path / "leads.csv",
        "Phone,Code,Flag,Float\n020 7946 0001,007,TRUE,2015550100.0\n",
    )

    frame = load_leads(path).frame

    assert frame.loc[2, "Phone"] == "020 7946 0001"
    assert frame.loc[2, "Code"] == "007"
    assert frame.loc[2, "Flag"] == "TRUE"
    assert frame.loc[2, "Float"] == "2015550100.0"


def test_surrounding_space_stripped(tmp_path: Path) -> None:
    """Surrounding white space is stripped from CSV and workbook cells alike."""
    csv_path = write_text(tmp_path / "leads.csv", "Name\n  Ann Lee \t\n")
    xlsx_path = write_workbook(tmp_path / "leads.xlsx", [["Name"], ["\u00a0Ann Lee "]])

    assert column(load_leads(csv_path), "Name") == ["Ann Lee"]
    assert column(load_leads(xlsx_path), "Name") == ["Ann Lee"]


def test_xlsx_numeric_phone_digits(tmp_path: Path) -> None:
    """A phone number stored as a number cell loads as its digits, never a float."""
    path = write_workbook(
        tmp_path / "leads.xlsx",
        [["Phone"], [2015550123], [2015550123.0], [442079460001.0]],
    )

    phones = column(load_leads(path), "Phone")

    assert phones == ["2015550123", "2015550123", "442079460001"]


def test_xlsx_float_text(tmp_path: Path) -> None:
    """Non-integral floats load as at most 15 significant digits, as Excel shows."""
    path = write_workbook(tmp_path / "leads.xlsx", [["Score"], [12.5], [1 / 3]])

    assert column(load_leads(path), "Score") == ["12.5", "0.333333333333333"]


def test_xlsx_dates_iso(tmp_path: Path) -> None:
    """Dates, datetimes, times and durations load as ISO text."""
    path = write_workbook(
        tmp_path / "leads.xlsx",
        [
            ["When"],
            [datetime.date(2026, 1, 2)],
            [datetime.datetime(2026, 1, 2, 3, 4)],
            [datetime.datetime(2026, 1, 2, 0, 0)],
            [datetime.time(3, 4)],
            [datetime.timedelta(hours=27, minutes=4)],
        ],
    )

    values = column(load_leads(path), "When")

    assert values[0] == "2026-01-02"
    assert values[1] == "2026-01-02T03:04:00"
    assert values[2] == "2026-01-02"
    assert values[3] == "03:04:00"
    assert values[4] == "27:04:00"


def test_xlsx_bools_as_excel_shows(tmp_path: Path) -> None:
    """Boolean cells load as TRUE and FALSE."""
    path = write_workbook(tmp_path / "leads.xlsx", [["Opted In"], [True], [False]])

    assert column(load_leads(path), "Opted In") == ["TRUE", "FALSE"]


def test_xlsx_error_cell_empty(tmp_path: Path) -> None:
    """An error cell such as #N/A loads as an empty string."""
    path = write_workbook(
        tmp_path / "leads.xlsx", [["Name", "Phone"], ["Ann", "#N/A"], ["Bob", "1"]]
    )

    assert column(load_leads(path), "Phone") == ["", "1"]


def test_xlsx_formula_like_text_kept(tmp_path: Path) -> None:
    """A text cell starting with = or @ loads as the text itself."""
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Notes"])
    sheet.append(["=SUM(A1:A2)"])
    sheet["A2"].data_type = "s"
    sheet.append(["@Maya"])
    workbook.save(path)

    assert column(load_leads(path), "Notes") == ["=SUM(A1:A2)", "@Maya"]


# Row numbers and blank rows


def test_csv_source_rows(tmp_path: Path) -> None:
    """A CSV record is numbered by the line it starts on, across blank lines."""
    path = write_text(
        tmp_path / "leads.csv",
        'Name,Notes\n\nAnn,"two\nlines"\n,\nBob,"three\r\nline\nnote"\nCid,\n',
    )

    table = load_leads(path)

    assert table.header_row == 1
    assert rows(table) == [3, 6, 9]
    assert column(table, "Notes")[1] == "three\r\nline\nnote"


def test_csv_header_below_blank_lines(tmp_path: Path) -> None:
    """Blank lines above the header move the header row, not the line numbers."""
    path = write_text(tmp_path / "leads.csv", "\n , \nName\nAnn\n")

    table = load_leads(path)

    assert table.header_row == 3
    assert rows(table) == [4]


def test_xlsx_source_rows(tmp_path: Path) -> None:
    """Workbook rows keep their Excel numbers with blank rows above and inside."""
    path = write_workbook(
        tmp_path / "leads.xlsx",
        [["Name", "Phone"], ["Ann", "201-555-0100"], [None, "  "], ["Bob", None]],
        first_row=3,
        first_column=2,
    )

    table = load_leads(path)

    assert table.header_row == 3
    assert rows(table) == [4, 6]
    assert list(table.frame.columns) == ["Name", "Phone"]


def test_blank_rows_dropped(tmp_path: Path) -> None:
    """Rows of empty or white-space cells are dropped and no other row is."""
    path = write_text(
        tmp_path / "leads.csv", "Name,Phone\nAnn,1\n,\n  ,\t\n\nBob,\n,2\n"
    )

    table = load_leads(path)

    assert rows(table) == [2, 6, 7]
    assert column(table, "Phone") == ["1", "", "2"]


def test_header_only_file(tmp_path: Path) -> None:
    """A file with a header and no data rows loads as an empty frame."""
    path = write_text(tmp_path / "leads.csv", "Name,Phone\n")

    table = load_leads(path, columns=["Phone"])

    assert len(table.frame) == 0
    assert list(table.frame.columns) == ["Name", "Phone"]


# CSV dialects and encodings


def test_csv_utf8_bom(tmp_path: Path) -> None:
    """A UTF-8 byte order mark does not become part of the first header."""
    path = write_text(tmp_path / "leads.csv", "\ufeffName,Phone\nZoë,1\n")

    table = load_leads(path, columns=["Name"])

    assert list(table.frame.columns) == ["Name", "Phone"]
    assert column(table, "Name") == ["Zoë"]


def test_csv_cp1252_fallback(tmp_path: Path) -> None:
    """A file that is not valid UTF-8 is decoded as cp1252."""
    path = write_text(tmp_path / "leads.csv", "Name,Note\nZoë,5 €\n", "cp1252")

    table = load_leads(path)

    assert column(table, "Name") == ["Zoë"]
    assert column(table, "Note") == ["5 €"]


def test_csv_utf16_with_bom(tmp_path: Path) -> None:
    """A UTF-16 file with a byte order mark, as Excel's Unicode Text, is read."""
    path = write_text(tmp_path / "leads.txt", "Name\tPhone\r\nSiân\t1\r\n", "utf-16")

    table = load_leads(path)

    assert column(table, "Name") == ["Siân"]
    assert column(table, "Phone") == ["1"]


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_csv_delimiter_detected(tmp_path: Path, delimiter: str) -> None:
    """Semicolon, tab and comma are detected even with other candidates in values."""
    lines = [
        ["Name", "Phone", "Notes"],
        ["Ann", "201-555-0100", '"call, then email; maybe"'],
        ["Bob", "201-555-0101", "no"],
    ]
    text = "".join(delimiter.join(line) + "\n" for line in lines)
    path = write_text(tmp_path / "leads.csv", text)

    table = load_leads(path)

    assert list(table.frame.columns) == ["Name", "Phone", "Notes"]
    assert column(table, "Notes") == ["call, then email; maybe", "no"]


def test_csv_sep_line_skipped(tmp_path: Path) -> None:
    """Excel's first line sep=; sets the delimiter and still counts as a line."""
    path = write_text(
        tmp_path / "leads.csv", "\ufeffsep=;\r\nName;Phone\r\nAnn;1,5\r\n"
    )

    table = load_leads(path)

    assert table.header_row == 2
    assert rows(table) == [3]
    assert column(table, "Phone") == ["1,5"]


def test_csv_crlf_line_ends(tmp_path: Path) -> None:
    """CRLF line ends leave no carriage return in the last column."""
    path = write_text(tmp_path / "leads.csv", "Name,Phone\r\nAnn,1\r\n\r\nBob,2\r\n")

    table = load_leads(path)

    assert column(table, "Phone") == ["1", "2"]
    assert rows(table) == [2, 4]


def test_csv_ragged_rows(tmp_path: Path) -> None:
    """Short rows are padded and a value beyond the header gets a column name."""
    path = write_text(tmp_path / "leads.csv", "Name,Phone\nAnn\nBob,2,extra\n")

    table = load_leads(path)

    assert list(table.frame.columns) == ["Name", "Phone", "Column 3"]
    assert column(table, "Phone") == ["", "2"]
    assert column(table, "Column 3") == ["", "extra"]


def test_sheet_ignored_for_csv(tmp_path: Path) -> None:
    """A sheet name given for a CSV file is ignored and the table has no sheet."""
    path = write_text(tmp_path / "leads.csv", "Name\nAnn\n")

    table = load_leads(path, sheet="Leads")

    assert table.sheet is None


# Sheets


def test_default_sheet_first_visible(tmp_path: Path) -> None:
    """Without a sheet name the first visible sheet is read."""
    path = tmp_path / "leads.xlsx"
    workbook = openpyxl.Workbook()
    hidden = workbook.active
    assert hidden is not None
    hidden.title = "Lookup"
    hidden.sheet_state = "hidden"
    workbook.create_sheet("Leads").append(["Name"])
    workbook.save(path)

    assert load_leads(path).sheet == "Leads"


def test_sheet_name_case_insensitive(tmp_path: Path) -> None:
    """A sheet name matches regardless of case and surrounding white space."""
    path = write_workbook(tmp_path / "leads.xlsx", [["Name"], ["Ann"]], title="Leads")

    table = load_leads(path, sheet=" LEADS")

    assert table.sheet == "Leads"


# Headers


def test_header_match_ignores_case_and_space(tmp_path: Path) -> None:
    """A configured column matches a header that differs in case and white space."""
    path = write_text(tmp_path / "leads.csv", "Name, phone NUMBER \nAnn,1\n")

    table = load_leads(path, columns=["Phone Number"])

    assert table.matched_columns == {"Phone Number": "phone NUMBER"}
    assert column(table, "phone NUMBER") == ["1"]


def test_exact_header_match_wins(tmp_path: Path) -> None:
    """An exact header match is used even when another header differs in case."""
    path = write_text(tmp_path / "leads.csv", "Phone,PHONE\n1,2\n")

    table = load_leads(path, columns=["PHONE"])

    assert table.matched_columns == {"PHONE": "PHONE"}


def test_unconfigured_duplicates_renamed(tmp_path: Path) -> None:
    """Repeated headers get a number that avoids names the file already has."""
    path = write_text(tmp_path / "leads.csv", "Notes,Name,Notes,Notes (2)\na,b,c,d\n")

    table = load_leads(path, columns=["Name"])

    assert list(table.frame.columns) == ["Notes", "Name", "Notes (3)", "Notes (2)"]
    assert column(table, "Notes (3)") == ["c"]


def test_blank_header_named_by_position(tmp_path: Path) -> None:
    """A blank header over data is named by Excel letters or CSV position."""
    xlsx_path = write_workbook(
        tmp_path / "leads.xlsx",
        [["Name", None, None, "Phone", None], ["Ann", None, "x", "1", None]],
    )
    csv_path = write_text(tmp_path / "leads.csv", "Name,,,Phone,\nAnn,,x,1,\n")

    xlsx_table = load_leads(xlsx_path)
    csv_table = load_leads(csv_path)

    assert list(xlsx_table.frame.columns) == ["Name", "Column C", "Phone"]
    assert list(csv_table.frame.columns) == ["Name", "Column 3", "Phone"]


def test_debug_log_has_no_cell_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Renaming logs the column position at DEBUG and no cell contents."""
    path = write_text(
        tmp_path / "leads.csv",
        "2015550100,,2015550100\n2015550101,2015550102,2015550103\n",
    )

    with caplog.at_level(logging.DEBUG, logger="pipeline.load"):
        load_leads(path)

    messages = [record.getMessage() for record in caplog.records]
    assert "Header of column 2 is blank over non-empty cells" in messages
    assert "Header of column 3 repeats an earlier one" in messages
    assert not [message for message in messages if "2015550" in message]


# Errors


def test_missing_file_error(tmp_path: Path) -> None:
    """A missing file raises InputError naming the file."""
    with pytest.raises(InputError, match=r"not found: .*nowhere\.csv"):
        load_leads(tmp_path / "nowhere.csv")


def test_directory_error(tmp_path: Path) -> None:
    """A directory raises InputError naming it."""
    folder = tmp_path / "leads.csv"
    folder.mkdir()

    with pytest.raises(InputError, match=r"leads\.csv is a directory"):
        load_leads(folder)


def test_unsupported_extension_error(tmp_path: Path) -> None:
    """An unsupported extension raises InputError naming the file and type."""
    path = write_text(tmp_path / "leads.pdf", "Name\n")

    with pytest.raises(InputError) as caught:
        load_leads(path)

    assert "leads.pdf" in str(caught.value)
    assert '".pdf"' in str(caught.value)
    assert ".xlsx" in str(caught.value)


def test_corrupt_workbook_error(tmp_path: Path) -> None:
    """A text file named .xlsx raises InputError chained to calamine's error."""
    path = write_text(tmp_path / "leads.xlsx", "Name,Phone\nAnn,1\n")

    with pytest.raises(InputError) as caught:
        load_leads(path)

    assert "leads.xlsx cannot be read as a .xlsx workbook" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_binary_csv_error(tmp_path: Path) -> None:
    """A workbook renamed to .csv raises InputError instead of loading garbage."""
    path = tmp_path / "leads.csv"
    write_workbook(tmp_path / "real.xlsx", [["Name"]]).rename(path)

    with pytest.raises(InputError, match=r"leads\.csv contains binary data"):
        load_leads(path)


def test_undecodable_csv_error(tmp_path: Path) -> None:
    """Bytes that are neither UTF-8 nor cp1252 raise a chained InputError."""
    path = tmp_path / "leads.csv"
    path.write_bytes(b"Name\nA\x81\n")

    with pytest.raises(InputError) as caught:
        load_leads(path)

    assert "leads.csv cannot be decoded" in str(caught.value)
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_malformed_csv_error(tmp_path: Path) -> None:
    """A field over the csv module's size limit raises InputError with the line."""
    path = write_text(tmp_path / "leads.csv", 'Name\nAnn\n"' + "x" * 200_000 + "\n")

    with pytest.raises(InputError, match=r"leads\.csv is not valid CSV at line 3"):
        load_leads(path)


def test_missing_sheet_error(tmp_path: Path) -> None:
    """A missing sheet raises InputError listing the sheets found."""
    path = write_workbook(tmp_path / "leads.xlsx", [["Name"]], title="Leads")

    with pytest.raises(InputError) as caught:
        load_leads(path, sheet="Contacts")

    assert 'Sheet "Contacts" not found' in str(caught.value)
    assert "leads.xlsx" in str(caught.value)
    assert 'Sheets found: "Leads"' in str(caught.value)


def test_empty_csv_error(tmp_path: Path) -> None:
    """An empty CSV file raises InputError naming the file."""
    path = write_text(tmp_path / "leads.csv", "")

    with pytest.raises(InputError, match=r"leads\.csv is empty"):
        load_leads(path)


def test_empty_sheet_error(tmp_path: Path) -> None:
    """An empty sheet raises InputError naming the file and the sheet."""
    path = write_workbook(tmp_path / "leads.xlsx", [], title="Leads")

    with pytest.raises(InputError, match=r'leads\.xlsx, sheet "Leads" is empty'):
        load_leads(path)


def test_blank_file_no_header_error(tmp_path: Path) -> None:
    """A file of blank rows raises InputError saying it has no header row."""
    path = write_text(tmp_path / "leads.csv", ",,\n  \n,\n")

    with pytest.raises(InputError, match=r"leads\.csv has no header row"):
        load_leads(path)


def test_missing_column_error(tmp_path: Path) -> None:
    """A missing column raises InputError with file, sheet, column and headers."""
    path = write_workbook(
        tmp_path / "leads.xlsx", [["Name", "Mobile"], ["Ann", "1"]], title="Leads"
    )

    with pytest.raises(InputError) as caught:
        load_leads(path, columns=["Name", "Phone Number"])

    message = str(caught.value)
    assert "leads.xlsx" in message
    assert 'sheet "Leads"' in message
    assert 'Column "Phone Number" not found' in message
    assert 'Headers found in row 1: "Name", "Mobile"' in message


def test_duplicate_configured_column_xlsx(tmp_path: Path) -> None:
    """A configured column that appears twice raises with both Excel letters."""
    path = write_workbook(
        tmp_path / "leads.xlsx", [["Phone", "Name", "Phone"], ["1", "Ann", "2"]]
    )

    with pytest.raises(InputError) as caught:
        load_leads(path, columns=["Phone"])

    message = str(caught.value)
    assert 'Column "Phone" matches 2 headers' in message
    assert "columns A and C" in message
    assert message.endswith(
        "Rename or delete the columns not to use in the file, so that only one "
        'header matches "Phone".'
    )


def test_duplicate_configured_column_csv(tmp_path: Path) -> None:
    """A CSV duplicate error names positions and the exact headers to choose from."""
    path = write_text(tmp_path / "leads.csv", "Name,phone,Phone \nAnn,1,2\n")

    with pytest.raises(InputError) as caught:
        load_leads(path, columns=["PHONE"])

    message = str(caught.value)
    assert 'Column "PHONE" matches 2 headers' in message
    assert "columns 2 and 3" in message
    assert message.endswith(
        'Set the config to the exact header of the column to use ("phone" or '
        '"Phone"), or rename the other columns in the file.'
    )


# Sample data


def test_blank_column_name_missing(tmp_path: Path) -> None:
    """A blank configured column name never matches a blank header."""
    path = write_text(tmp_path / "leads.csv", "Name,,Phone\nAnn,,1\n")

    with pytest.raises(InputError, match='Column "" not found'):
        load_leads(path, columns=[""])


def test_sample_files_load() -> None:
    """Both sample files load 200 leads under the documented headers."""
    for name in ["leads.csv", "leads.xlsx"]:
        table = load_leads(SAMPLE_DIR / name, columns=["Phone Number"])

        assert len(table.frame) == 200
        assert list(table.frame.columns) == SAMPLE_HEADERS
        assert 102 not in table.frame.index


def test_sample_csv_matches_xlsx() -> None:
    """The sample CSV and workbook load to equal frames."""
    from_csv = load_leads(SAMPLE_DIR / "leads.csv")
    from_xlsx = load_leads(SAMPLE_DIR / "leads.xlsx")

    assert from_csv.frame.equals(from_xlsx.frame)


def test_sample_files_up_to_date(tmp_path: Path) -> None:
    """The committed sample files contain what the generator script writes."""
    script = SAMPLE_DIR / "make_samples.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True)

    generated_csv = (tmp_path / "leads.csv").read_bytes()
    assert generated_csv == (SAMPLE_DIR / "leads.csv").read_bytes()

    # Compare the unpacked parts, so another zlib build cannot fail the test.
    generated_xlsx = unpack(tmp_path / "leads.xlsx")
    assert generated_xlsx == unpack(SAMPLE_DIR / "leads.xlsx")


def lead_lines(count: int) -> list[str]:
    """Return a header and `count` CSV lead lines with distinct fake numbers."""
    return ["Name,Phone"] + [f"Lead {i},+1 201 555 01{i:02d}" for i in range(count)]


def test_unclosed_quote_at_end_rejected(tmp_path: Path) -> None:
    """A quote never closed before the end of the file names its line."""
    lines = lead_lines(30)
    lines[12] = '"' + lines[12]
    path = write_text(tmp_path / "leads.csv", "\n".join(lines) + "\n")

    with pytest.raises(InputError, match="not valid CSV at line 13"):
        load_leads(path)


def test_stray_quote_swallowing_rows_rejected(tmp_path: Path) -> None:
    """A quote closed many lines later is refused instead of merging records."""
    lines = lead_lines(50)
    lines[20] = '"Lead 19, x'
    lines[40] = 'Lead 40",+1 201 555 0140'
    path = write_text(tmp_path / "leads.csv", "\n".join(lines) + "\n")

    with pytest.raises(InputError, match="record starting at line 21 runs over 21"):
        load_leads(path)


def test_multiline_note_accepted(tmp_path: Path) -> None:
    """A quoted note over several lines is one field, not an error."""
    text = 'Name,Phone,Notes\nAnn,201 555 0101,"first line, more\nsecond line"\n'
    path = write_text(tmp_path / "leads.csv", text)

    table = load_leads(path)

    assert column(table, "Notes") == ["first line, more\nsecond line"]
