"""Load a CRM lead export, CSV or workbook, into a table of text cells.

Every cell is read as text, with no type guessing, so that a phone number never
passes through a float. Workbook cells that calamine returns as other types become
text as follows:

- A float with an integral value becomes its digits (2015550123.0 -> "2015550123").
  Any other float keeps at most 15 significant digits, the precision Excel shows
  ("12.5", and 1/3 -> "0.333333333333333").
- A date becomes "2026-01-02" and a datetime "2026-01-02T03:04:00", without
  fractions of a second. calamine 0.9 returns a datetime at midnight as a date.
- A time becomes "03:04:00" and a duration Excel's "[h]:mm:ss", as in "27:04:00".
- A bool becomes "TRUE" or "FALSE", as Excel shows it.
- An error cell such as #N/A becomes "", because calamine 0.9 returns it as "".

Surrounding white space is stripped from every cell. Fully blank rows are dropped,
and every other row keeps its number in the file: the Excel row number, or for a
CSV file the line on which the record starts, as a text editor counts lines.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import itertools
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from pipeline.errors import InputError

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")

_DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 65_536
_SNIFF_RECORDS = 50
_SEP_LINE = re.compile(r"sep=(.)[ \t]*(?:\r\n|\n|\r|$)", re.IGNORECASE)

# A numbered row and its cells, each stripped of surrounding white space.
_Record = tuple[int, list[str]]


@dataclass(frozen=True, eq=False)
class LeadTable:
    """Leads of one file or sheet, every cell as text.

    `frame` has one column per header and one row per non-blank row below it.
    Every value is a Python str ("" for an empty cell) and the dtype is object.
    The index, named "source_row", is the row number the user sees in the file.
    `matched_columns` maps each configured column name to the frame column that
    matched it, which may differ in case or surrounding white space.
    """

    frame: pd.DataFrame
    path: Path
    sheet: str | None
    header_row: int
    matched_columns: Mapping[str, str] = field(default_factory=dict)


def load_leads(
    path: Path, *, sheet: str | None = None, columns: Sequence[str] = ()
) -> LeadTable:
    """Read a lead file into a LeadTable of text cells.

    Args:
        path: a CSV file (.csv, .tsv, .txt) or a workbook (.xlsx, .xlsm, .xls, .ods).
        sheet: the workbook sheet to read, matched case-insensitively. The default
            is the first visible sheet. A CSV file ignores it.
        columns: configured column names that must appear in the header.

    Raises:
        InputError: the file is missing, unreadable, empty or of an unsupported
            type, the sheet is not found, or a configured column is missing or
            appears more than once in the header.
    """
    _check_is_file(path)
    suffix = path.suffix.lower()

    if suffix in CSV_SUFFIXES:
        if sheet is not None:
            logger.info("The sheet setting does not apply to CSV file %s", path)
        sheet_name, records = None, _read_csv(path)
    elif suffix in WORKBOOK_SUFFIXES:
        sheet_name, records = _read_workbook(path, sheet)
    else:
        raise InputError(_unsupported_message(path))

    source = _Source(path, sheet_name)
    table = _build_table(source, records, columns)
    logger.info(
        "Loaded %d rows and %d columns from %s (header in row %d)",
        len(table.frame),
        len(table.frame.columns),
        source.describe(),
        table.header_row,
    )

    return table


@dataclass(frozen=True)
class _Source:
    """The file and sheet being read, for messages and column labels."""

    path: Path
    sheet: str | None

    def describe(self) -> str:
        """Name the file, and the sheet for a workbook, for a message."""
        if self.sheet is None:
            return str(self.path)

        return f'{self.path}, sheet "{self.sheet}"'

    def column_label(self, position: int) -> str:
        """Label a 1-based column position: Excel letters in a workbook, else digits."""
        if self.sheet is None:
            return str(position)

        return _column_letters(position)


def _column_letters(position: int) -> str:
    """Convert a 1-based column position to Excel letters (1 -> A, 28 -> AB)."""
    letters = ""
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters

    return letters


def _check_is_file(path: Path) -> None:
    """Raise InputError when the path does not exist or is a directory."""
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a lead file.")
    if not path.exists():
        raise InputError(f"Lead file not found: {path}. Check the path.")


def _unsupported_message(path: Path) -> str:
    """Explain which file types the loader reads."""
    found = f'file type "{path.suffix}"' if path.suffix else "no file extension"
    csv_types = ", ".join(CSV_SUFFIXES)
    workbook_types = ", ".join(WORKBOOK_SUFFIXES)

    return (
        f"{path} has {found}, which is not supported. Export the leads as CSV "
        f"({csv_types}) or as a workbook ({workbook_types})."
    )


# CSV


def _read_csv(path: Path) -> list[_Record]:
    """Read every CSV record with the line number on which it starts."""
    text = _decode(path, _read_bytes(path))

    # Excel writes "sep=;" as the first line to name the delimiter.
    sep_line = _SEP_LINE.match(text)
    if sep_line:
        delimiter = sep_line.group(1)
        text = text[sep_line.end() :]
        lines_before = 1
    else:
        delimiter = _detect_delimiter(text[:_SNIFF_CHARS])
        lines_before = 0
    logger.debug("Reading %s with delimiter %r", path, delimiter)

    return _parse_csv(path, text, delimiter, lines_before)


def _read_bytes(path: Path) -> bytes:
    """Read the whole file, translating OS errors."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} cannot be read: {error.strerror}.") from error


def _decode(path: Path, data: bytes) -> str:
    """Decode UTF-16 with a BOM, else UTF-8 with or without a BOM, else cp1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_as(path, data, "utf-16")
    if b"\x00" in data[:_SNIFF_CHARS]:
        raise InputError(
            f"{path} contains binary data, so it is not a CSV text file. If it is "
            "an Excel workbook, give it the .xlsx extension."
        )

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.info("%s is not valid UTF-8, so it is decoded as cp1252", path)

    return _decode_as(path, data, "cp1252")


def _decode_as(path: Path, data: bytes, encoding: str) -> str:
    """Decode the file with one encoding, translating a decoding error."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path} cannot be decoded as UTF-8 or {encoding} text: {error}. "
            'Save it as "CSV UTF-8" and try again.'
        ) from error


def _detect_delimiter(sample: str) -> str:
    """Choose the delimiter that splits the most records into one width above 1.

    Comma wins a tie and is returned for a file of one column. Counting whole
    records rather than characters keeps delimiters inside quotes from voting.
    """
    best_delimiter, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            widths = Counter(
                len(fields)
                for fields in itertools.islice(reader, _SNIFF_RECORDS)
                if len(fields) > 1
            )
        except csv.Error:
            continue
        if not widths:
            continue

        width, count = widths.most_common(1)[0]
        if (count, width) > best_score:
            best_delimiter, best_score = delimiter, (count, width)

    return best_delimiter


def _parse_csv(
    path: Path, text: str, delimiter: str, lines_before: int
) -> list[_Record]:
    """Split the text into records numbered by the line on which each starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[_Record] = []
    last_line = lines_before
    try:
        for fields in reader:
            records.append((last_line + 1, [value.strip() for value in fields]))
            last_line = lines_before + reader.line_num
    except csv.Error as error:
        raise InputError(
            f"{path} is not valid CSV at line {last_line + 1}: {error}. Check for "
            "a double quote that is opened and never closed."
        ) from error

    return records


# Workbooks


def _read_workbook(path: Path, sheet: str | None) -> tuple[str, list[_Record]]:
    """Read every row of one sheet with its Excel row number."""
    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            sheet_name = _choose_sheet(path, workbook, sheet)
            rows = workbook.get_sheet_by_name(sheet_name).to_python(
                skip_empty_area=False
            )
    except (CalamineError, OSError, ValueError) as error:
        raise InputError(
            f"{path} cannot be read as a {path.suffix} workbook: {error}. Check "
            "that it opens in Excel and is not a CSV or HTML file with a workbook "
            "extension."
        ) from error

    # Row 1 of the list is Excel row 1 because empty areas are kept. Most cells
    # are strings, so they skip the call to _cell_text for speed.
    records = [
        (
            number,
            [
                value.strip() if type(value) is str else _cell_text(value)
                for value in row
            ],
        )
        for number, row in enumerate(rows, start=1)
    ]

    return sheet_name, records


def _choose_sheet(path: Path, workbook: CalamineWorkbook, sheet: str | None) -> str:
    """Find the requested sheet, or the first visible one when none is requested."""
    names = workbook.sheet_names
    if not names:
        raise InputError(f"{path} contains no sheets.")

    if sheet is None:
        visible = [
            metadata.name
            for metadata in workbook.sheets_metadata
            if metadata.visible == SheetVisibleEnum.Visible
        ]
        return (visible or names)[0]

    if sheet in names:
        return sheet
    for name in names:
        if name.strip().casefold() == sheet.strip().casefold():
            return name

    found = ", ".join(f'"{name}"' for name in names)
    raise InputError(
        f'Sheet "{sheet}" not found in {path}. Sheets found: {found}. '
        "Choose one of these."
    )


def _cell_text(value: object) -> str:
    """Convert one workbook cell value to text by the rules in the module docstring."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)

    return str(value).strip()


def _duration_text(duration: datetime.timedelta) -> str:
    """Format a duration as Excel's [h]:mm:ss, with hours above 24 kept whole."""
    seconds = round(duration.total_seconds())
    sign = "-" if seconds < 0 else ""
    minutes, second = divmod(abs(seconds), 60)
    hours, minute = divmod(minutes, 60)

    return f"{sign}{hours}:{minute:02d}:{second:02d}"


# Both formats


def _build_table(
    source: _Source, records: list[_Record], columns: Sequence[str]
) -> LeadTable:
    """Drop blank rows, find the header and turn the rest into a frame."""
    if not records:
        raise InputError(f"{source.describe()} is empty.")
    filled = [record for record in records if any(record[1])]
    if not filled:
        raise InputError(
            f"{source.describe()} has no header row: all {len(records)} rows are blank."
        )

    header_index = _find_header(filled)
    header_row, header_cells = filled[header_index]
    data = filled[header_index + 1 :]

    width = max(len(cells) for _, cells in filled[header_index:])
    headers = _fit(header_cells, width)
    rows = [_fit(cells, width) for _, cells in data]
    matched = _match_columns(source, header_row, headers, columns)

    used = _used_positions(headers, rows)
    if len(used) < width:
        rows = [[row[position] for position in used] for row in rows]
    names = _name_columns(source, headers, used)
    name_at = dict(zip(used, names, strict=True))

    frame = _make_frame(names, [number for number, _ in data], rows)
    matched_columns = {name: name_at[position] for name, position in matched.items()}

    return LeadTable(frame, source.path, source.sheet, header_row, matched_columns)


def _find_header(records: list[_Record]) -> int:
    """Return the index of the header among the non-blank records.

    The header is the first non-blank row. A search by column name for files with
    title rows above the header would replace this function.
    """
    return 0


def _used_positions(headers: list[str], rows: list[list[str]]) -> list[int]:
    """List the 0-based positions of columns with a header or any non-empty cell.

    Columns that are blank from the header down are dropped wherever they are,
    which removes the empty margins calamine keeps around a table.
    """
    return [
        position
        for position, header in enumerate(headers)
        if header or any(row[position] for row in rows)
    ]


def _fit(cells: list[str], width: int) -> list[str]:
    """Pad the cells with empty strings, or cut them, to exactly `width` cells."""
    if len(cells) == width:
        return cells
    if len(cells) > width:
        return cells[:width]

    return cells + [""] * (width - len(cells))


def _name_columns(source: _Source, headers: list[str], used: list[int]) -> list[str]:
    """Name each used column, keeping the first occurrence of every header.

    A repeated header gets a number, as "Notes (2)", and a blank one its position,
    as "Column F" in a workbook or "Column 6" in a CSV file.
    """
    used_names = set(headers)
    seen: set[str] = set()
    names = []
    for position in used:
        header = headers[position]
        if header and header not in seen:
            seen.add(header)
            names.append(header)
            continue

        label = source.column_label(position + 1)
        if header:
            logger.debug("Header of column %s repeats an earlier one", label)
        else:
            logger.debug("Header of column %s is blank over non-empty cells", label)
        name = _unique_name(header or f"Column {label}", used_names)
        used_names.add(name)
        names.append(name)

    return names


def _unique_name(base: str, used_names: set[str]) -> str:
    """Return `base`, or else the first of `base (2)`, `base (3)`, ... not yet used."""
    if base not in used_names:
        return base

    number = 2
    while f"{base} ({number})" in used_names:
        number += 1

    return f"{base} ({number})"


def _match_columns(
    source: _Source, header_row: int, headers: list[str], columns: Sequence[str]
) -> dict[str, int]:
    """Find the 0-based position of each configured column in the header.

    An exact match wins. Otherwise the name matches case-insensitively after
    stripping surrounding white space.
    """
    positions: dict[str, int] = {}
    missing = []
    for name in columns:
        found = _positions_of(name, headers)
        if not found:
            missing.append(name)
        elif len(found) > 1:
            raise InputError(_duplicate_message(source, header_row, name, found))
        else:
            positions[name] = found[0]

    if missing:
        raise InputError(_missing_message(source, header_row, headers, missing))

    return positions


def _positions_of(name: str, headers: list[str]) -> list[int]:
    """List the positions of headers equal to the name, else equal ignoring case.

    A blank header never matches, so a blank configured name is reported missing.
    """
    exact = [
        position for position, header in enumerate(headers) if header and header == name
    ]
    if exact:
        return exact

    folded_name = name.strip().casefold()

    return [
        position
        for position, header in enumerate(headers)
        if header and header.casefold() == folded_name
    ]


def _duplicate_message(
    source: _Source, header_row: int, name: str, found: list[int]
) -> str:
    """Explain that a configured column matches more than one header."""
    labels = [source.column_label(position + 1) for position in found]
    listed = ", ".join(labels[:-1]) + " and " + labels[-1]

    return (
        f'Column "{name}" matches {len(found)} headers in row {header_row} of '
        f"{source.describe()}: columns {listed}. Rename one of them so that the "
        "column to use is unambiguous."
    )


def _missing_message(
    source: _Source, header_row: int, headers: list[str], missing: list[str]
) -> str:
    """Explain which configured columns are missing and which headers exist."""
    noun = "Column" if len(missing) == 1 else "Columns"
    wanted = ", ".join(f'"{name}"' for name in missing)
    found = ", ".join(f'"{header}"' for header in headers if header)

    return (
        f"{noun} {wanted} not found in {source.describe()}. Headers found in row "
        f"{header_row}: {found}. Check the column names in the config."
    )


def _make_frame(
    names: list[str], row_numbers: list[int], rows: list[list[str]]
) -> pd.DataFrame:
    """Build the frame in one step from row lists, indexed by source row."""
    index = pd.Index(row_numbers, dtype="int64", name="source_row")

    return pd.DataFrame(rows, columns=names, index=index, dtype=object)
