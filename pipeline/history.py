"""Cross-run rules: what earlier runs' attempts mean for this run's valid leads.

A number called within the cool-down is skipped, and the earlier request id
and queue position are copied into this run's results. A number whose earlier
request within the cool-down has an unknown outcome is held back as `unknown`
until an operator decides, because NLPearl may already have placed that call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from pipeline.ledger import Attempt
from pipeline.results import Status, pending_rows


def apply_history(
    outcome: pd.DataFrame,
    attempts: dict[str, Attempt],
    *,
    now: datetime,
    cooldown: timedelta,
    ignore_cooldown: bool = False,
    redial_unknown: bool = False,
) -> None:
    """Mark pending rows that earlier attempts settle: already called, or unknown."""
    pending = pending_rows(outcome)
    for row in pending:
        attempt = attempts.get(outcome.at[row, "phone_e164"])
        if attempt is None:
            continue

        if now - attempt.sent_at >= cooldown:
            continue
        if attempt.state == Status.CALLED.value and not ignore_cooldown:
            _mark_already_called(outcome, row, attempt)
        elif attempt.state != Status.CALLED.value and not redial_unknown:
            _mark_unknown(outcome, row, attempt)


def _mark_already_called(outcome: pd.DataFrame, row: int, attempt: Attempt) -> None:
    outcome.at[row, "status"] = Status.SKIPPED.value
    outcome.at[row, "reason"] = "already_called"
    outcome.at[row, "detail"] = (
        f"called by run {attempt.run_id} at {attempt.sent_at:%Y-%m-%d %H:%M} UTC"
    )
    outcome.at[row, "request_id"] = attempt.request_id
    outcome.at[row, "from_number"] = attempt.from_number
    outcome.at[row, "queue_position"] = attempt.queue_position
    outcome.at[row, "called_at"] = attempt.sent_at


def _mark_unknown(outcome: pd.DataFrame, row: int, attempt: Attempt) -> None:
    outcome.at[row, "status"] = Status.UNKNOWN.value
    outcome.at[row, "reason"] = "outcome_unknown"
    outcome.at[row, "detail"] = (
        f"sent by run {attempt.run_id} at {attempt.sent_at:%Y-%m-%d %H:%M} UTC "
        "without an answer, so NLPearl may have placed the call; check the "
        "platform, then run with --redial-unknown to call it again"
    )
