"""Writer stage: the results workbook, written whole to a temporary file, then renamed.

Sheet `Results` has one row per input row: the input's own columns, then the
columns of `RESULT_COLUMNS`. Sheet `Summary` has the run's identity and counts.
Every text is written as a text cell, never as a formula or a number, so
`=HYPERLINK(...)` stays text and `+12015550123` keeps its plus sign. The file
format itself is written by `pipeline.xlsx_writer`.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import OutputError
from pipeline.results import RESULT_COLUMNS, RunSummary
from pipeline.xlsx_writer import Cell, Sheet, write_workbook


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
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write the results workbook: {error}"
        ) from error
    finally:
        Path(temporary).unlink(missing_ok=True)


def check_writable(path: Path) -> None:
    """Raise OutputError now if the workbook could not be written at `path`.

    A run checks this before calling anyone, so a bad output path never turns
    a night of placed calls into a missing report.
    """
    if path.is_dir():
        raise OutputError(f"{path}: the output path is a folder; name a .xlsx file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}-"):
            pass
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write the results workbook: {error}"
        ) from error


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)

    return mask


def _write_workbook(
    path: Path, leads: pd.DataFrame, outcome: pd.DataFrame, summary: RunSummary
) -> None:
    header = [*_input_headers(leads.columns), *RESULT_COLUMNS]
    rows = _sheet_rows(leads, outcome)
    sheets = [
        Sheet("Results", itertools.chain([header], rows), freeze_first_row=True),
        Sheet("Summary", _summary_rows(summary), column_widths={0: 16, 1: 40}),
    ]
    write_workbook(path, sheets)


def _input_headers(columns: pd.Index) -> list[str]:
    """Return the input's headers, marking those that share a result column's name."""
    return [
        f"{name} (input)" if name in RESULT_COLUMNS else str(name) for name in columns
    ]


def _sheet_rows(
    leads: pd.DataFrame, outcome: pd.DataFrame
) -> Iterator[tuple[Cell, ...]]:
    """Yield every input row's cells followed by its `RESULT_COLUMNS` values."""
    lead_rows = leads.itertuples(index=False, name=None)
    for cells, extra in zip(lead_rows, _result_rows(outcome), strict=True):
        yield (*cells, *extra)


def _result_rows(outcome: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Return the values of `RESULT_COLUMNS` for every row, in input order."""
    reasons = [
        f"{reason}: {detail}" if detail else reason
        for reason, detail in zip(outcome["reason"], outcome["detail"], strict=True)
    ]
    called = [_timestamp(moment) for moment in outcome["called_at"]]
    earliest = [
        _timestamp(moment)
        for moment in outcome.get("earliest_call_at", [None] * len(outcome))
    ]
    call_data = [
        json.dumps(data, ensure_ascii=False) if data else ""
        for data in outcome["call_data"]
    ]

    return list(
        zip(
            outcome.index.tolist(),
            outcome["phone_e164"],
            outcome["status"],
            reasons,
            outcome["request_id"],
            outcome["from_number"],
            outcome["queue_position"],
            called,
            call_data,
            outcome["phone_note"],
            earliest,
            strict=True,
        )
    )


def _timestamp(moment: datetime | None) -> str:
    if moment is None or pd.isna(moment):
        return ""
    utc = moment.astimezone(UTC)

    return utc.isoformat(timespec="seconds").replace("+00:00", "Z")


def _summary_rows(summary: RunSummary) -> list[tuple[str, Cell]]:
    return [
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
