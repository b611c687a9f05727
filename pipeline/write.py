"""Writer stage: the results workbook, written whole to a temporary file, then renamed.

Sheet `Results` has one row per input row: the input's own columns, then the
columns of `RESULT_COLUMNS`. Sheet `Summary` has the run's identity and counts.
Every text is written as a text cell, never as a formula or a number, so
`=HYPERLINK(...)` stays text and `+12015550123` keeps its plus sign.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.worksheet import Worksheet

from pipeline.errors import OutputError
from pipeline.results import RESULT_COLUMNS, RunSummary

logger = logging.getLogger(__name__)

# Excel's limit on the characters of one cell; longer text ends in _CUT_MARK.
MAX_CELL_CHARACTERS = 32_767
_CUT_MARK = " [cut]"

# A text cell that Excel would read as a formula if typed in starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@")


def write_results(
    path: Path, leads: pd.DataFrame, outcome: pd.DataFrame, summary: RunSummary
) -> None:
    """Write the results workbook to `path`, replacing any file there only when done.

    Raises:
        OutputError: the folder cannot be created or the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.stem}-", suffix=".xlsx", dir=path.parent
        )
        os.close(descriptor)
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write the results workbook: {error}"
        ) from error

    try:
        _write_workbook(Path(temporary), leads, outcome, summary)
        # mkstemp creates the file private to its owner; give it the usual mode.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except (OSError, XlsxWriterException) as error:
        raise OutputError(
            f"{path}: cannot write the results workbook: {error}"
        ) from error
    finally:
        Path(temporary).unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)

    return mask


def _write_workbook(
    path: Path, leads: pd.DataFrame, outcome: pd.DataFrame, summary: RunSummary
) -> None:
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
    }
    workbook = xlsxwriter.Workbook(str(path), options)
    try:
        text_format = workbook.add_format({"quote_prefix": True})
        results = workbook.add_worksheet("Results")
        _write_results_sheet(results, leads, outcome, text_format)
        _write_summary_sheet(workbook.add_worksheet("Summary"), summary)
    finally:
        workbook.close()


def _write_results_sheet(
    sheet: Worksheet, leads: pd.DataFrame, outcome: pd.DataFrame, text_format: Any
) -> None:
    header = [*_input_headers(leads.columns), *RESULT_COLUMNS]
    sheet.write_row(0, 0, header)
    sheet.freeze_panes(1, 0)

    result_rows = _result_rows(outcome)
    lead_rows = leads.itertuples(index=False, name=None)
    for number, (cells, extra) in enumerate(
        zip(lead_rows, result_rows, strict=True), start=1
    ):
        for column, value in enumerate((*cells, *extra)):
            _write_cell(sheet, number, column, value, text_format)


def _input_headers(columns: pd.Index) -> list[str]:
    """Return the input's headers, marking those that share a result column's name."""
    return [
        f"{name} (input)" if name in RESULT_COLUMNS else str(name) for name in columns
    ]


def _result_rows(outcome: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Return the values of `RESULT_COLUMNS` for every row, in input order."""
    reasons = [
        f"{reason}: {detail}" if detail else reason
        for reason, detail in zip(outcome["reason"], outcome["detail"], strict=True)
    ]
    called = [_timestamp(moment) for moment in outcome["called_at"]]
    call_data = [
        json.dumps(data, ensure_ascii=False) if data else ""
        for data in outcome["call_data"]
    ]

    return list(
        zip(
            outcome.index,
            outcome["phone_e164"],
            outcome["status"],
            reasons,
            outcome["request_id"],
            outcome["from_number"],
            outcome["queue_position"],
            called,
            call_data,
            strict=True,
        )
    )


def _write_cell(
    sheet: Worksheet, row: int, column: int, value: Any, text_format: Any
) -> None:
    if value is None or value == "" or (isinstance(value, float) and pd.isna(value)):
        return
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARACTERS:
            logger.warning(
                "row %d, column %d: text of %d characters cut to Excel's maximum",
                row + 1,
                column + 1,
                len(value),
            )
            value = value[: MAX_CELL_CHARACTERS - len(_CUT_MARK)] + _CUT_MARK
        if value.startswith(_FORMULA_STARTS):
            sheet.write_string(row, column, value, text_format)
        else:
            sheet.write_string(row, column, value)
        return

    sheet.write_number(row, column, value)


def _timestamp(moment: datetime | None) -> str:
    if moment is None or pd.isna(moment):
        return ""

    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_summary_sheet(sheet: Worksheet, summary: RunSummary) -> None:
    rows: list[tuple[str, Any]] = [
        ("run_id", summary.run_id),
        ("started_at", _timestamp(summary.started_at)),
        ("finished_at", _timestamp(summary.finished_at)),
        ("input_file", str(summary.input_path)),
        ("sheet", summary.sheet or ""),
        ("outbound_id", summary.outbound_id),
        ("mode", summary.mode),
        ("rows", summary.rows),
        ("stopped", summary.stopped),
        ("", ""),
        ("status", "count"),
        *summary.status_counts.items(),
        ("", ""),
        ("reason", "count"),
        *summary.reason_counts.items(),
    ]
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 40)
    for number, (key, value) in enumerate(rows):
        sheet.write_string(number, 0, key)
        if isinstance(value, int):
            sheet.write_number(number, 1, value)
        else:
            sheet.write_string(number, 1, value)
