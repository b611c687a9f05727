"""Exit codes of `python -m pipeline run`, documented in the README and `--help`."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Small positive process exit codes, one per kind of outcome."""

    OK = 0
    """Every row was handled; rejected and skipped rows are data, not failures."""

    CALLS_FAILED = 1
    """Some calls failed or have an unknown outcome; see the results workbook."""

    USAGE = 2
    """Bad command line, config or input file; nothing was called."""

    STOPPED = 3
    """The API refused the credentials or the outbound id; calling stopped."""

    LOCKED = 4
    """Another run holds the ledger; this run changed nothing."""

    INTERNAL = 5
    """An unexpected error; the log has the traceback."""
