"""Tests of the run summary: row count, exit code and closing line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.exit_codes import ExitCode
from pipeline.results import RunSummary, Status


def summary_with(status_counts: dict[str, int], stopped: str = "") -> RunSummary:
    """Return a RunSummary with these status counts and stop reason."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    return RunSummary(
        run_id="20260102T030405Z-a1b2c3",
        started_at=moment,
        finished_at=moment,
        input_path=Path("leads.csv"),
        sheet=None,
        output_path=Path("results.xlsx"),
        outbound_id="outbound-test",
        mode="sandbox",
        status_counts=status_counts,
        reason_counts={},
        stopped=stopped,
    )


@pytest.mark.parametrize(
    ("status_counts", "stopped", "expected"),
    [
        pytest.param({}, "", ExitCode.OK, id="no-rows"),
        pytest.param(
            {"called": 3, "rejected": 2, "skipped": 1},
            "",
            ExitCode.OK,
            id="rows-as-data",
        ),
        pytest.param({"dry_run": 4}, "", ExitCode.OK, id="dry-run"),
        pytest.param(
            {"called": 3, "failed": 1}, "", ExitCode.CALLS_FAILED, id="failed"
        ),
        pytest.param(
            {"called": 3, "unknown": 1}, "", ExitCode.CALLS_FAILED, id="unknown"
        ),
        pytest.param({"called": 3, "failed": 0}, "", ExitCode.OK, id="zero-failed"),
        pytest.param(
            {"failed": 2},
            "credentials_rejected",
            ExitCode.STOPPED,
            id="stop-outranks-failed",
        ),
    ],
)
def test_exit_code(
    status_counts: dict[str, int], stopped: str, expected: ExitCode
) -> None:
    """A stop exits 3, failed or unknown calls exit 1, anything else exits 0."""
    assert summary_with(status_counts, stopped).exit_code() == expected


def test_exit_code_with_enum_keys() -> None:
    """Counts keyed by Status members decide the exit code like plain strings."""
    summary = summary_with({Status.CALLED: 1, Status.UNKNOWN: 1})

    assert summary.exit_code() == ExitCode.CALLS_FAILED


def test_rows_and_closing_line() -> None:
    """The row count is the sum of the status counts, shown in the closing line."""
    summary = summary_with({"called": 2, "rejected": 1})

    assert summary.rows == 3
    assert summary.closing_line() == (
        "run 20260102T030405Z-a1b2c3 finished: 3 rows (2 called, 1 rejected)"
    )
