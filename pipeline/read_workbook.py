"""Read one sheet of a workbook into numbered records of text cells."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from pipeline.errors import InputError

logger = logging.getLogger(__name__)

# A numbered row and its cells, each stripped of surrounding white space.
Record = tuple[int, list[str]]


def read_workbook_records(path: Path, sheet: str | None) -> tuple[str, list[Record]]:
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
