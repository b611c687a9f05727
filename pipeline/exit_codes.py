"""Exit codes of `python -m pipeline run`, documented in the README and `--help`."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Small positive process exit codes, one per kind of outcome."""

    OK = 0
    CALLS_FAILED = 1
    USAGE = 2
    STOPPED = 3
    LOCKED = 4
    INTERNAL = 5
    GUARD = 6

    @property
    def meaning(self) -> str:
        """Return the one-line description shown in `--help`."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "every row was handled; rejected and skipped rows are data",
    ExitCode.CALLS_FAILED: "some calls failed or have an unknown outcome",
    ExitCode.USAGE: "bad command line, config or input file; nothing was called",
    ExitCode.STOPPED: "calls cannot succeed: credentials, outbound id or account",
    ExitCode.LOCKED: "another run holds the ledger; nothing was changed",
    ExitCode.INTERNAL: "unexpected error; the log has the traceback",
    ExitCode.GUARD: "a guard held back calls; see the workbook's reasons",
}
