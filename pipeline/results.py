"""Row outcomes: the statuses a row can end with and the columns the writer adds."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipeline.exit_codes import ExitCode


class Status(enum.StrEnum):
    """The outcome of one input row."""

    PENDING = "pending"
    """Valid and not yet called; no row is written with this status."""

    CALLED = "called"
    """NLPearl accepted the call request; request id and queue position are set."""

    REJECTED = "rejected"
    """The row failed validation and was not sent."""

    FAILED = "failed"
    """The call request was sent and refused, or every retry failed."""

    SKIPPED = "skipped"
    """Valid, but not called on purpose, such as a duplicate phone number."""

    UNKNOWN = "unknown"
    """Sent without a response: NLPearl may have placed the call."""

    DEFERRED = "deferred"
    """Valid, but its calling window is closed; a later run calls it."""

    DRY_RUN = "dry_run"
    """Valid and would have been called, but the run was a dry run."""


def format_counts(counts: Mapping[str, int]) -> str:
    """Write counts as `3 called, 1 failed`, in the mapping's order."""
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def pending_rows(outcome: pd.DataFrame) -> pd.Index:
    """Return the rows of an outcome frame that are still waiting to be called."""
    return outcome.index[outcome["status"] == Status.PENDING.value]


# Reasons of rows a guard held back; any of them makes the run exit with GUARD.
GUARD_REASONS = ("rejected_share", "day_limit", "run_limit", "canary")

# Columns the results sheet adds after the input's own columns, in this order.
RESULT_COLUMNS = (
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
)


@dataclass(frozen=True)
class RunSummary:
    """One run's identity and counts; it decides the process exit code."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    input_path: Path
    sheet: str | None
    output_path: Path
    outbound_id: str
    mode: str
    status_counts: dict[str, int]
    reason_counts: dict[str, int]
    stopped: str = ""

    @property
    def rows(self) -> int:
        """Return how many input rows the run accounted for."""
        return sum(self.status_counts.values())

    def exit_code(self) -> ExitCode:
        """Return the exit code: a stop, then a guard, then failed or unknown calls."""
        if self.stopped:
            return ExitCode.STOPPED
        if any(reason in self.reason_counts for reason in GUARD_REASONS):
            return ExitCode.GUARD
        if self.status_counts.get(Status.FAILED, 0) or self.status_counts.get(
            Status.UNKNOWN, 0
        ):
            return ExitCode.CALLS_FAILED

        return ExitCode.OK

    def closing_line(self) -> str:
        """Return the one-line summary logged at the end of a run."""
        counts = format_counts(self.status_counts)

        return f"run {self.run_id} finished: {self.rows} rows ({counts})"
