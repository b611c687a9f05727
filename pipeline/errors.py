"""Exceptions of the pipeline, one tree with one base.

    PipelineError                 base; `exit_code` is what the CLI exits with
    ├── ConfigError               the config file is missing, unreadable or invalid
    ├── InputError                the lead file, its sheet or a column cannot be used
    ├── OutputError               the results workbook cannot be written
    ├── RunStopped                the API refuses every call, so calling stops
    │   ├── CredentialsRejected   401 or 403: account id or secret key is wrong
    │   ├── OutboundNotFound      404: the outbound id is unknown
    │   └── AccountNotReady       the account cannot place calls, or the API is down
    ├── RunLocked                 another run holds the ledger
    └── CallError                 one call failed; the dispatcher records it on its row
        ├── CallRejected          the API refused this call (400 and other 4xx)
        ├── CallRetryable         429, 5xx, or no connection: the call was not placed
        └── CallOutcomeUnknown    sent without an answer: the call may have been placed

Row-level problems (a bad phone number, a call the API rejected) are not
exceptions: they become a status and a reason in the results workbook.
"""

from __future__ import annotations

from pipeline.exit_codes import ExitCode


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(PipelineError):
    """The config file is missing, unreadable or has an invalid value."""


class InputError(PipelineError):
    """The lead file, its sheet or a configured column cannot be used."""


class OutputError(PipelineError):
    """The results workbook or the ledger cannot be written."""


class RunStopped(PipelineError):
    """The API refused a call for a reason that every later call shares."""

    exit_code = ExitCode.STOPPED
    reason = "run_stopped"


class CredentialsRejected(RunStopped):
    """The API returned 401 or 403: the account id or secret key is wrong."""

    reason = "credentials_rejected"


class OutboundNotFound(RunStopped):
    """The API returned 404: the outbound id in the config is unknown."""

    reason = "outbound_not_found"


class AccountNotReady(RunStopped):
    """The pre-flight check found that calls cannot succeed now."""

    reason = "account_not_ready"


class RunLocked(PipelineError):
    """Another run is using the same ledger."""

    exit_code = ExitCode.LOCKED


class CallError(PipelineError):
    """One call failed; the dispatcher turns it into the row's status and reason."""

    reason = "call_failed"


class CallRejected(CallError):
    """The API refused this call, for a reason a retry cannot fix."""

    reason = "api_rejected"


class CallRetryable(CallError):
    """The call was not placed and may succeed later: 429, 5xx or no connection.

    Attributes:
        retry_after: seconds to wait from the Retry-After header, if any.
    """

    reason = "retries_exhausted"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallOutcomeUnknown(CallError):
    """The request was sent but no usable response came back.

    NLPearl may have placed the call, and it has no idempotency key, so the
    call must not be sent again without an operator's decision.
    """

    reason = "outcome_unknown"
