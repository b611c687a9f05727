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

NOTE: A cell's number format is not applied, because python-calamine 0.9 does not
expose it. 12.5 shown as "12.50" loads as "12.5", and a zip code 7030 shown with the
format 00000 as "07030" loads as "7030".

Surrounding white space is stripped from every cell. Fully blank rows are dropped,
and every other row keeps its number in the file: the Excel row number, or for a
CSV file the line on which the record starts, as a text editor counts lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import InputError
from pipeline.read_csv import read_csv_records
from pipeline.read_workbook import read_workbook_records

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")

# Non-blank rows searched for the header, for exports with title rows above it.
HEADER_SEARCH_ROWS = 50
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


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
        sheet_name, records = None, read_csv_records(path)
    elif suffix in WORKBOOK_SUFFIXES:
        sheet_name, records = read_workbook_records(path, sheet)
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

    header_index = _find_header(filled, columns)
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


def _find_header(records: list[_Record], columns: Sequence[str]) -> int:
    """Return the index of the header among the non-blank records.

    The header is the first of the first `HEADER_SEARCH_ROWS` non-blank rows that
    contains every configured column, so title, logo and date rows above it are
    skipped. Without configured columns, or when no row contains them all, it is
    the first non-blank row, and a missing column is reported against that row.
    """
    if not columns:
        return 0
    for index, (_, cells) in enumerate(records[:HEADER_SEARCH_ROWS]):
        if all(_positions_of(name, cells) for name in columns):
            return index

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
            raise InputError(
                _duplicate_message(source, header_row, name, headers, found)
            )
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
    source: _Source, header_row: int, name: str, headers: list[str], found: list[int]
) -> str:
    """Explain that a configured column matches more than one header, and the fix.

    Headers that differ in case or spaces can be distinguished in the config,
    because an exact match wins. Identical headers must be renamed in the file.
    """
    labels = [source.column_label(position + 1) for position in found]
    listed = ", ".join(labels[:-1]) + " and " + labels[-1]
    texts = [headers[position] for position in found]
    if len(set(texts)) == len(texts):
        quoted = " or ".join(f'"{text}"' for text in texts)
        fix = (
            f"Set the config to the exact header of the column to use ({quoted}), "
            "or rename the other columns in the file."
        )
    else:
        fix = (
            "Rename or delete the columns not to use in the file, so that only "
            f'one header matches "{name}".'
        )

    return (
        f'Column "{name}" matches {len(found)} headers in row {header_row} of '
        f"{source.describe()}: columns {listed}. {fix}"
    )


def _missing_message(
    source: _Source, header_row: int, headers: list[str], missing: list[str]
) -> str:
    """Explain which configured columns are missing and which headers exist."""
    noun = "Column" if len(missing) == 1 else "Columns"
    wanted = ", ".join(f'"{name}"' for name in missing)
    found = ", ".join(f'"{header}"' for header in headers if header)

    return (
        f"{noun} {wanted} not found in {source.describe()}. No row among the first "
        f"{HEADER_SEARCH_ROWS} non-blank rows contains every configured column. "
        f"Headers found in row {header_row}: {found}. Check the column names in "
        "the config."
    )


def _make_frame(
    names: list[str], row_numbers: list[int], rows: list[list[str]]
) -> pd.DataFrame:
    """Build the frame in one step from row lists, indexed by source row."""
    index = pd.Index(row_numbers, dtype="int64", name="source_row")

    return pd.DataFrame(rows, columns=names, index=index, dtype=object)
