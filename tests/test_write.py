"""Tests of the writer stage, read back with openpyxl."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

import pipeline.write
import pipeline.xlsx_writer
from pipeline.errors import OutputError
from pipeline.results import RESULT_COLUMNS, RunSummary
from pipeline.write import write_results

LeadsFactory = Callable[..., pd.DataFrame]

# The result columns of a row that was never called.
UNCALLED: dict[str, Any] = {
    "phone_e164": "",
    "status": "rejected",
    "reason": "",
    "detail": "",
    "call_data": {},
    "request_id": "",
    "from_number": "",
    "queue_position": None,
    "called_at": None,
    "phone_note": "",
}


def make_outcome(index: pd.Index, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Return an outcome frame like the run builds, each row updating UNCALLED."""
    records = [{**UNCALLED, **row} for row in rows]

    return pd.DataFrame(records, index=index, columns=list(UNCALLED), dtype=object)


def make_summary(**changes: Any) -> RunSummary:
    """Return a RunSummary of a three-row sandbox run, with `changes` applied."""
    fields: dict[str, Any] = {
        "run_id": "20260102T030405Z-a1b2c3",
        "started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "finished_at": datetime(2026, 1, 2, 3, 6, 0, tzinfo=UTC),
        "input_path": Path("leads.csv"),
        "sheet": None,
        "output_path": Path("results.xlsx"),
        "outbound_id": "outbound-test",
        "mode": "sandbox",
        "status_counts": {"called": 1, "rejected": 2},
        "reason_counts": {"phone_invalid": 1, "phone_missing": 1},
    }
    fields.update(changes)

    return RunSummary(**fields)


def sheet_rows(sheet: Worksheet) -> list[list[Any]]:
    """Return the cell values of a sheet, one list per row."""
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def results_of(path: Path) -> Worksheet:
    """Open the written workbook and return its Results sheet."""
    return openpyxl.load_workbook(path)["Results"]


def column_values(sheet: Worksheet, header: str) -> list[Any]:
    """Return the values below the first header cell named `header`."""
    headers = [cell.value for cell in sheet[1]]
    position = headers.index(header) + 1

    return [
        row[0].value
        for row in sheet.iter_rows(min_row=2, min_col=position, max_col=position)
    ]


@pytest.fixture
def written(tmp_path: Path, make_leads: LeadsFactory) -> Path:
    """Write a three-row workbook, one called and two rejected, and return its path."""
    leads = make_leads(
        {
            "Name": ["Ann", "Bea", "Cy"],
            "Phone": ["(201) 555-0123", "+1 555 0100", ""],
        }
    )
    leads.index = pd.Index([2, 5, 9], name="source_row")
    outcome = make_outcome(
        leads.index,
        [
            {
                "phone_e164": "+12015550123",
                "status": "called",
                "call_data": {"firstName": "Ann", "city": "Zoë's town"},
                "request_id": "request-1",
                "from_number": "+12015550199",
                "queue_position": 3,
                "called_at": datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC),
                "phone_note": "extension 12",
            },
            {
                "reason": "phone_invalid",
                "detail": "'+1 555 0100' is not a valid number for US",
            },
            {"reason": "phone_missing"},
        ],
    )
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    return path


def test_sheet_names(written: Path) -> None:
    """The workbook has a Results sheet, then a Summary sheet."""
    assert openpyxl.load_workbook(written).sheetnames == ["Results", "Summary"]


def test_results_headers(written: Path) -> None:
    """Headers are the input's columns, then the result columns in order."""
    headers = sheet_rows(results_of(written))[0]

    assert headers == [
        "Name",
        "Phone",
        "source_row",
        "phone_e164",
        "status",
        "reason",
        "request_id",
        "from",
        "queue_position",
        "called_at",
        "call_data",
        "phone_note",
        "earliest_call_at",
    ]
    assert tuple(headers[2:]) == RESULT_COLUMNS


def test_one_row_per_lead(written: Path) -> None:
    """Each input row is written once, in input order, with its source row."""
    rows = sheet_rows(results_of(written))[1:]

    assert [row[0] for row in rows] == ["Ann", "Bea", "Cy"]
    assert [row[2] for row in rows] == [2, 5, 9]


def test_called_row_values(written: Path) -> None:
    """A called row shows its number, request id, caller id, position and time."""
    called = sheet_rows(results_of(written))[1]

    assert called[3:10] == [
        "+12015550123",
        "called",
        None,
        "request-1",
        "+12015550199",
        3,
        "2026-01-02T03:05:00Z",
    ]


def test_reason_with_and_without_detail(written: Path) -> None:
    """The reason cell is `code: detail`, or the code alone without a detail."""
    reasons = column_values(results_of(written), "reason")

    assert reasons == [
        None,
        "phone_invalid: '+1 555 0100' is not a valid number for US",
        "phone_missing",
    ]


def test_call_data_as_json(written: Path) -> None:
    """Call data is a JSON object with non-ASCII text kept, empty when absent."""
    cells = column_values(results_of(written), "call_data")

    assert json.loads(cells[0]) == {"firstName": "Ann", "city": "Zoë's town"}
    assert "Zoë" in cells[0]
    assert cells[1] is None


def test_queue_position_is_number(written: Path) -> None:
    """The queue position is a number cell, not text."""
    sheet = results_of(written)
    headers = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=headers.index("queue_position") + 1)

    assert cell.data_type == "n"
    assert cell.value == 3


def test_zero_queue_position_written(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """A queue position of 0 is written, not taken for an empty cell."""
    leads = make_leads({"Phone": ["+1 201 555 0123"]})
    outcome = make_outcome(leads.index, [{"status": "called", "queue_position": 0}])
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    assert column_values(results_of(path), "queue_position") == [0]


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://127.0.0.1/","click")',
        "=1+1",
        "+12015550123",
        "-2015550123",
        "@SUM(A1:A2)",
    ],
)
def test_formula_like_cells_are_text(
    tmp_path: Path, make_leads: LeadsFactory, text: str
) -> None:
    """A cell starting with =, +, - or @ is stored as quoted text, unchanged."""
    leads = make_leads({"Phone": [text], "Note": [text]})
    outcome = make_outcome(leads.index, [{"phone_e164": text}])
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    sheet = results_of(path)
    for cell in (sheet["A2"], sheet["B2"], sheet["D2"]):
        assert cell.data_type == "s", cell.coordinate
        assert cell.value == text, cell.coordinate
        assert cell.quotePrefix, cell.coordinate


def test_plain_text_not_quoted(written: Path) -> None:
    """Ordinary text is written without a quote prefix."""
    cell = results_of(written)["A2"]

    assert cell.value == "Ann"
    assert not cell.quotePrefix


def test_input_status_column_kept(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """An input column named `status` is kept, marked as input, beside ours."""
    leads = make_leads({"Phone": ["+1 201 555 0123"], "status": ["new lead"]})
    outcome = make_outcome(leads.index, [{"status": "dry_run"}])
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    rows = sheet_rows(results_of(path))
    assert rows[0][1] == "status (input)"
    assert rows[0][4] == "status"
    assert rows[1][1] == "new lead"
    assert rows[1][4] == "dry_run"


def test_summary_sheet(written: Path) -> None:
    """The Summary sheet has the run id, the row count and each count."""
    rows = [
        tuple(row) for row in sheet_rows(openpyxl.load_workbook(written)["Summary"])
    ]

    assert ("run_id", "20260102T030405Z-a1b2c3") in rows
    assert ("started_at", "2026-01-02T03:04:05Z") in rows
    assert ("outbound_id", "outbound-test") in rows
    assert ("mode", "sandbox") in rows
    assert ("rows", 3) in rows
    assert ("called", 1) in rows
    assert ("rejected", 2) in rows
    assert ("phone_invalid", 1) in rows
    assert ("phone_missing", 1) in rows


def test_existing_file_replaced(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """A file already at the path is replaced by the new workbook."""
    path = tmp_path / "results.xlsx"
    path.write_bytes(b"an older file")
    leads = make_leads({"Phone": ["+1 201 555 0123"]})

    write_results(path, leads, make_outcome(leads.index, [{}]), make_summary())

    assert sheet_rows(results_of(path))[1][0] == "+1 201 555 0123"
    assert sorted(tmp_path.iterdir()) == [path]


def test_failed_write_keeps_old_file(
    tmp_path: Path, make_leads: LeadsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write raises OutputError, keeps the old file and leaves no temp file."""

    def fail(*args: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(pipeline.write, "_write_workbook", fail)
    path = tmp_path / "results.xlsx"
    path.write_bytes(b"an older file")
    leads = make_leads({"Phone": ["+1 201 555 0123"]})

    with pytest.raises(OutputError) as caught:
        write_results(path, leads, make_outcome(leads.index, [{}]), make_summary())

    assert str(caught.value).startswith(f"{path}: cannot write the results workbook")
    assert "No space left on device" in str(caught.value)
    assert path.read_bytes() == b"an older file"
    assert sorted(tmp_path.iterdir()) == [path]


def test_missing_folder_created(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """The output folder is created when it does not exist."""
    path = tmp_path / "results" / "nightly" / "results.xlsx"
    leads = make_leads({"Phone": ["+1 201 555 0123"]})

    write_results(path, leads, make_outcome(leads.index, [{}]), make_summary())

    assert path.is_file()


def test_unusable_folder_output_error(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """A folder path that is a file raises OutputError naming the output path."""
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    path = blocker / "results.xlsx"
    leads = make_leads({"Phone": ["+1 201 555 0123"]})

    with pytest.raises(OutputError) as caught:
        write_results(path, leads, make_outcome(leads.index, [{}]), make_summary())

    assert str(caught.value).startswith(f"{path}: cannot write the results workbook")


def test_workbook_mode_follows_umask(written: Path) -> None:
    """The workbook gets the mode the umask gives new files, not a private one."""
    umask = os.umask(0)
    os.umask(umask)

    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask


def test_long_text_cut_with_mark(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """Text over Excel's cell limit is cut to the limit and ends in a mark."""
    leads = make_leads({"Phone": ["+1 201 555 0123"], "Notes": ["x" * 40_000]})
    outcome = make_outcome(leads.index, [{"status": "dry_run"}])
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    notes = sheet_rows(results_of(path))[1][1]
    assert len(notes) == pipeline.xlsx_writer.MAX_CELL_CHARACTERS
    assert notes.endswith(" [cut]")


def test_phone_note_last_column(written: Path) -> None:
    """The phone note is the last column, empty where nothing was changed."""
    assert column_values(results_of(written), "phone_note") == [
        "extension 12",
        None,
        None,
    ]


def test_text_round_trips_through_calamine(
    tmp_path: Path, make_leads: LeadsFactory
) -> None:
    """Markup, control characters, line ends, spaces and _xHHHH_ text read back."""
    texts = [
        "a & b <c>",
        "cr\r\nlf",
        "bell\x07",
        "_x0041_ stays",
        " leading",
        "trailing ",
        "Zoë 😀",
    ]
    leads = make_leads({f"Text {number}": [text] for number, text in enumerate(texts)})
    path = tmp_path / "results.xlsx"

    write_results(path, leads, make_outcome(leads.index, [{}]), make_summary())

    with CalamineWorkbook.from_path(str(path)) as workbook:
        rows = workbook.get_sheet_by_name("Results").to_python()
    assert rows[1][: len(texts)] == texts


def test_empty_values_leave_no_cell(tmp_path: Path, make_leads: LeadsFactory) -> None:
    """None, NaN and empty text leave the cell empty, and 0 is still written."""
    leads = make_leads({"Phone": ["+1 201 555 0123", ""]})
    outcome = make_outcome(
        leads.index,
        [{"queue_position": float("nan")}, {"queue_position": 0, "request_id": ""}],
    )
    path = tmp_path / "results.xlsx"

    write_results(path, leads, outcome, make_summary())

    sheet = results_of(path)
    assert column_values(sheet, "queue_position") == [None, 0]
    assert column_values(sheet, "request_id") == [None, None]
    assert sheet["A3"].value is None


def test_read_only_rows_padded(written: Path) -> None:
    """The sheet declares its size, so read-only readers pad short rows to it."""
    workbook = openpyxl.load_workbook(written, read_only=True)
    rows = list(workbook["Results"].iter_rows(values_only=True))
    workbook.close()

    assert [len(row) for row in rows] == [len(rows[0])] * 4


def test_header_frozen_and_summary_widths(written: Path) -> None:
    """The Results header row is frozen and the Summary columns are widened."""
    workbook = openpyxl.load_workbook(written)

    assert workbook["Results"].freeze_panes == "A2"
    assert workbook["Summary"].column_dimensions["A"].width == 16
    assert workbook["Summary"].column_dimensions["B"].width == 40
