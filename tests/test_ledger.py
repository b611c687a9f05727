"""Tests of the run ledger, its lock and the cross-run rules built on it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline.dispatch import CallJob, CallResult
from pipeline.errors import RunLocked
from pipeline.history import apply_history
from pipeline.ledger import Attempt, Ledger, LedgerRecorder, ledger_lock
from pipeline.results import Status

OUTBOUND = "6650f0c2a1b2c3d4e5f60718"
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """Open a new ledger in a temporary folder."""
    opened = Ledger(tmp_path / "ledger.sqlite")
    yield opened
    opened.close()


def record(ledger: Ledger, row: int, to: str, result: CallResult | None) -> None:
    """Record one attempt, finished with `result` unless it is None."""
    recorder = LedgerRecorder(
        ledger, run_id="run-1", outbound_id=OUTBOUND, lead_keys={row: f"key-{row}"}
    )
    job = CallJob(row, to, {})
    recorder.sending(job)
    if result is not None:
        recorder.finished(job, result)


def called(row: int, request_id: str) -> CallResult:
    """Return a called result with a request id and queue position 2."""
    return CallResult(row, Status.CALLED, request_id=request_id, queue_position=2)


def test_sending_is_committed_first(ledger: Ledger, tmp_path: Path) -> None:
    """An attempt is visible to another connection before its response is known."""
    record(ledger, 2, "+12015550123", None)

    other = Ledger(tmp_path / "ledger.sqlite", read_only=True)
    attempts = other.latest_attempts(OUTBOUND, ["+12015550123"])
    other.close()

    assert attempts["+12015550123"].state == "sending"


def test_finished_attempt_stored(ledger: Ledger) -> None:
    """A finished attempt keeps its state, request id and queue position."""
    record(ledger, 2, "+12015550123", called(2, "req-1"))

    attempt = ledger.latest_attempts(OUTBOUND, ["+12015550123"])["+12015550123"]

    assert attempt.state == "called"
    assert attempt.request_id == "req-1"
    assert attempt.queue_position == 2
    assert attempt.run_id == "run-1"


def test_failed_attempts_ignored(ledger: Ledger) -> None:
    """A failed attempt placed no call, so it does not count as the latest."""
    record(ledger, 2, "+12015550123", called(2, "req-1"))
    record(ledger, 2, "+12015550123", CallResult(2, Status.FAILED, "api_rejected"))

    attempts = ledger.latest_attempts(OUTBOUND, ["+12015550123"])

    assert attempts["+12015550123"].request_id == "req-1"


def test_latest_attempt_wins(ledger: Ledger) -> None:
    """Of two calls to one number, the later one is returned."""
    record(ledger, 2, "+12015550123", called(2, "req-1"))
    record(ledger, 2, "+12015550123", called(2, "req-2"))

    attempts = ledger.latest_attempts(OUTBOUND, ["+12015550123"])

    assert attempts["+12015550123"].request_id == "req-2"


def test_other_outbound_ignored(ledger: Ledger) -> None:
    """Attempts for another outbound do not count."""
    record(ledger, 2, "+12015550123", called(2, "req-1"))

    assert ledger.latest_attempts("another-outbound", ["+12015550123"]) == {}


def test_only_requested_numbers(ledger: Ledger) -> None:
    """Only the numbers asked for are returned."""
    record(ledger, 2, "+12015550123", called(2, "req-1"))
    record(ledger, 3, "+12015550124", called(3, "req-2"))

    attempts = ledger.latest_attempts(OUTBOUND, ["+12015550124"])

    assert list(attempts) == ["+12015550124"]


def test_interrupted_become_unknown(ledger: Ledger) -> None:
    """Attempts left `sending` by a dead run are marked unknown."""
    record(ledger, 2, "+12015550123", None)
    record(ledger, 3, "+12015550124", called(3, "req-2"))

    count = ledger.mark_interrupted()

    attempts = ledger.latest_attempts(OUTBOUND, ["+12015550123", "+12015550124"])
    assert count == 1
    assert attempts["+12015550123"].state == "unknown"
    assert attempts["+12015550124"].state == "called"


def test_lock_held_by_other_process(tmp_path: Path) -> None:
    """The lock is refused while another process holds it, and free after it ends."""
    path = tmp_path / "ledger.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from pipeline.ledger import ledger_lock\n"
            f"with ledger_lock(Path({str(path)!r})):\n"
            "    print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(RunLocked, match="another run is using the ledger"),
            ledger_lock(path),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()

    with ledger_lock(path):
        pass


def outcome_frame(*numbers: str) -> pd.DataFrame:
    """Return a validated outcome frame with one pending row per number."""
    index = pd.Index(range(2, 2 + len(numbers)), name="source_row")
    frame = pd.DataFrame(
        {
            "phone_e164": list(numbers),
            "status": Status.PENDING.value,
            "reason": "",
            "detail": "",
            "request_id": "",
            "from_number": "",
        },
        index=index,
    )
    frame["queue_position"] = pd.Series(None, index=index, dtype=object)
    frame["called_at"] = pd.Series(None, index=index, dtype=object)

    return frame


def attempt(state: str, sent_at: datetime) -> Attempt:
    """Return an earlier attempt on +12015550123."""
    return Attempt(
        "+12015550123", "run-0", state, "", "req-0", "+12015550100", 1, sent_at
    )


def test_called_within_cooldown_skipped() -> None:
    """A number called within the cool-down is skipped with the earlier request id."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("called", NOW - timedelta(days=1))}

    apply_history(outcome, earlier, now=NOW, cooldown=timedelta(days=30))

    assert outcome.at[2, "status"] == "skipped"
    assert outcome.at[2, "reason"] == "already_called"
    assert outcome.at[2, "request_id"] == "req-0"
    assert outcome.at[2, "queue_position"] == 1
    assert outcome.at[2, "detail"] == "called by run run-0 at 2026-12-03 02:00 UTC"


def test_called_before_cooldown_pending() -> None:
    """A number called before the cool-down began is called again."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("called", NOW - timedelta(days=31))}

    apply_history(outcome, earlier, now=NOW, cooldown=timedelta(days=30))

    assert outcome.at[2, "status"] == "pending"


def test_ignore_cooldown_calls_again() -> None:
    """ignore_cooldown leaves a recently called number pending."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("called", NOW - timedelta(hours=1))}

    apply_history(
        outcome,
        earlier,
        now=NOW,
        cooldown=timedelta(days=30),
        ignore_cooldown=True,
    )

    assert outcome.at[2, "status"] == "pending"


def test_unknown_held_back() -> None:
    """A number with an unknown earlier outcome is not called again."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("unknown", NOW - timedelta(days=29))}

    apply_history(outcome, earlier, now=NOW, cooldown=timedelta(days=30))

    assert outcome.at[2, "status"] == "unknown"
    assert outcome.at[2, "reason"] == "outcome_unknown"
    assert "--redial-unknown" in outcome.at[2, "detail"]


def test_redial_unknown_calls_again() -> None:
    """redial_unknown leaves a number with an unknown outcome pending."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("unknown", NOW - timedelta(hours=1))}

    apply_history(
        outcome, earlier, now=NOW, cooldown=timedelta(days=30), redial_unknown=True
    )

    assert outcome.at[2, "status"] == "pending"


def test_rows_not_pending_untouched() -> None:
    """A rejected row keeps its status whatever the ledger records."""
    outcome = outcome_frame("+12015550123")
    outcome.at[2, "status"] = "rejected"
    earlier = {"+12015550123": attempt("called", NOW - timedelta(days=1))}

    apply_history(outcome, earlier, now=NOW, cooldown=timedelta(days=30))

    assert outcome.at[2, "status"] == "rejected"


def test_unknown_after_cooldown_pending() -> None:
    """An unknown outcome older than the cool-down no longer blocks a call."""
    outcome = outcome_frame("+12015550123")
    earlier = {"+12015550123": attempt("unknown", NOW - timedelta(days=30))}

    apply_history(outcome, earlier, now=NOW, cooldown=timedelta(days=30))

    assert outcome.at[2, "status"] == "pending"
