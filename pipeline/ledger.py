"""Run ledger: an SQLite record of every call attempt, so no lead is called twice.

An attempt is committed as `sending` before its request goes out and updated
when its outcome is known. A run that dies in between leaves `sending` rows.
The next run marks them `unknown`, because NLPearl may have placed those calls
and offers no way to look them up by number.

One run at a time holds the ledger's lock, an advisory `flock` on a file beside
it, which the operating system releases when the process ends, even by SIGKILL.

NOTE: the database runs in WAL mode with `synchronous=NORMAL`. A commit
survives a killed process but may be lost if the machine loses power right
after it, so a power cut mid-run can lead to a second call of a lead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.dispatch import CallJob, CallResult
from pipeline.errors import OutputError, RunLocked
from pipeline.results import Status

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    outbound_id TEXT NOT NULL,
    phone_e164 TEXT NOT NULL,
    lead_key TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL,
    source_row INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    from_number TEXT NOT NULL DEFAULT '',
    queue_position INTEGER,
    sent_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_lead
    ON attempts (outbound_id, phone_e164, id);
CREATE TABLE IF NOT EXISTS deferrals (
    outbound_id TEXT NOT NULL,
    phone_e164 TEXT NOT NULL,
    run_id TEXT NOT NULL,
    earliest_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (outbound_id, phone_e164)
);
"""

# Attempt states. `sending` exists only while a request is in flight.
SENDING = "sending"


@dataclass(frozen=True)
class Attempt:
    """The latest recorded attempt to call one number for one outbound."""

    phone_e164: str
    run_id: str
    state: str
    reason: str
    request_id: str
    from_number: str
    queue_position: int | None
    sent_at: datetime


class Ledger:
    """The attempts of every run against one outbound, in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._clock = clock
        try:
            self._connection = _connect(path, read_only=read_only)
        except sqlite3.Error as error:
            raise OutputError(f"{path}: cannot open the run ledger: {error}") from error

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()

    def insert_attempt(
        self, *, outbound_id: str, run_id: str, job: CallJob, lead_key: str
    ) -> int:
        """Commit a new attempt in state `sending` and return its id."""
        with self._connection:
            cursor = self._connection.execute(
                "INSERT INTO attempts (outbound_id, phone_e164, lead_key, run_id,"
                " source_row, state, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (outbound_id, job.to, lead_key, run_id, job.row, SENDING, self._now()),
            )
        assert cursor.lastrowid is not None

        return cursor.lastrowid

    def finish_attempt(self, attempt_id: int, result: CallResult) -> None:
        """Commit the outcome of an attempt."""
        with self._connection:
            self._connection.execute(
                "UPDATE attempts SET state = ?, reason = ?, detail = ?,"
                " request_id = ?, from_number = ?, queue_position = ?,"
                " finished_at = ? WHERE id = ?",
                (
                    result.status.value,
                    result.reason,
                    result.detail,
                    result.request_id,
                    result.from_number,
                    result.queue_position,
                    self._now(),
                    attempt_id,
                ),
            )

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="milliseconds")

    def calls_since(self, outbound_id: str, since: datetime) -> int:
        """Count the attempts that may have placed a call since `since`."""
        row = self._connection.execute(
            "SELECT COUNT(*) FROM attempts WHERE outbound_id = ? AND sent_at >= ?"
            " AND state IN (?, ?, ?)",
            (
                outbound_id,
                since.astimezone(UTC).isoformat(timespec="milliseconds"),
                Status.CALLED.value,
                Status.UNKNOWN.value,
                SENDING,
            ),
        ).fetchone()

        return int(row[0])

    def record_deferrals(
        self,
        outbound_id: str,
        run_id: str,
        leads: Iterable[tuple[str, datetime]],
    ) -> None:
        """Queue deferred leads with the earliest time each may be called."""
        now = self._now()
        rows = [
            (outbound_id, phone, run_id, earliest.astimezone(UTC).isoformat(), now)
            for phone, earliest in leads
        ]
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO deferrals (outbound_id, phone_e164, run_id,"
                " earliest_at, recorded_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def mark_interrupted(self) -> int:
        """Mark attempts a dead run left `sending` as `unknown`; return how many."""
        with self._connection:
            cursor = self._connection.execute(
                "UPDATE attempts SET state = ?, reason = 'outcome_unknown',"
                " detail = 'the run ended before the answer was recorded'"
                " WHERE state = ?",
                (Status.UNKNOWN.value, SENDING),
            )

        return cursor.rowcount

    def latest_attempts(
        self, outbound_id: str, phones: Iterable[str]
    ) -> dict[str, Attempt]:
        """Return, by number, the latest attempt that may have placed a call.

        Failed attempts placed no call, so they do not count.
        """
        connection = self._connection
        connection.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (phone TEXT)")
        connection.execute("DELETE FROM wanted")
        connection.executemany(
            "INSERT INTO wanted VALUES (?)", ((phone,) for phone in set(phones))
        )
        rows = connection.execute(
            "SELECT phone_e164, run_id, state, reason, request_id, from_number,"
            " queue_position, sent_at FROM attempts WHERE id IN ("
            "  SELECT MAX(id) FROM attempts JOIN wanted ON phone = phone_e164"
            "  WHERE outbound_id = ? AND state IN (?, ?, ?) GROUP BY phone_e164)",
            (outbound_id, Status.CALLED.value, Status.UNKNOWN.value, SENDING),
        )

        return {row[0]: _attempt_from_row(row) for row in rows}


class LedgerRecorder:
    """Records each call of one run in the ledger, before and after it is sent."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        run_id: str,
        outbound_id: str,
        lead_keys: dict[int, str],
    ) -> None:
        self._ledger = ledger
        self._run_id = run_id
        self._outbound_id = outbound_id
        self._lead_keys = lead_keys
        self._attempt_ids: dict[int, int] = {}

    def sending(self, job: CallJob) -> None:
        """Commit a `sending` attempt; the request may go out only after this."""
        self._attempt_ids[job.row] = self._ledger.insert_attempt(
            outbound_id=self._outbound_id,
            run_id=self._run_id,
            job=job,
            lead_key=self._lead_keys.get(job.row, ""),
        )

    def finished(self, job: CallJob, result: CallResult) -> None:
        """Commit the outcome of the attempt begun by `sending`."""
        self._ledger.finish_attempt(self._attempt_ids.pop(job.row), result)


@contextlib.contextmanager
def ledger_lock(ledger_path: Path) -> Iterator[None]:
    """Hold the ledger's lock for the block, or raise RunLocked at once."""
    lock_path = ledger_path.with_name(ledger_path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputError(
            f"{lock_path}: cannot create the lock file: {error}"
        ) from error

    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RunLocked(
                f"another run is using the ledger {ledger_path}; this run changed "
                "nothing. Wait for it to finish, or check that no stuck process "
                f"holds {lock_path}."
            ) from error
        yield
    finally:
        os.close(descriptor)


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return connection

    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.executescript(_SCHEMA)

    return connection


def _attempt_from_row(row: tuple[Any, ...]) -> Attempt:
    phone, run_id, state, reason, request_id, from_number, position, sent_at = row

    return Attempt(
        phone_e164=phone,
        run_id=run_id,
        state=state,
        reason=reason,
        request_id=request_id,
        from_number=from_number,
        queue_position=position,
        sent_at=datetime.fromisoformat(sent_at),
    )
