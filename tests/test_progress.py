"""Tests of call progress: periodic lines under cron, a bar on a terminal."""

from __future__ import annotations

import io
import logging

import pytest

from pipeline.dispatch import CallJob, CallResult
from pipeline.progress import Progress
from pipeline.results import Status

JOB = CallJob(2, "+12015550123", {})


class Terminal(io.StringIO):
    """A text stream that reports being a terminal."""

    def isatty(self) -> bool:
        return True


def finish(progress: Progress, *statuses: Status) -> None:
    """Report one finished call per status."""
    for status in statuses:
        progress.finished(JOB, CallResult(2, status))


def test_lines_written_at_interval(caplog: pytest.LogCaptureFixture) -> None:
    """Off a terminal, a count line is written once the interval has passed."""
    now = [0.0]
    progress = Progress(4, stream=io.StringIO(), interval=30.0, clock=lambda: now[0])

    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        finish(progress, Status.CALLED)
        now[0] = 31.0
        finish(progress, Status.FAILED)

    assert caplog.messages == ["progress: 2 of 4 calls (1 called, 1 failed)"]


def test_close_writes_last_line(caplog: pytest.LogCaptureFixture) -> None:
    """Closing off a terminal writes the final counts."""
    progress = Progress(2, stream=io.StringIO(), clock=lambda: 0.0)

    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        finish(progress, Status.CALLED, Status.UNKNOWN)
        progress.close()

    assert caplog.messages == ["progress: 2 of 2 calls (1 called, 1 unknown)"]


def test_terminal_shows_bar(caplog: pytest.LogCaptureFixture) -> None:
    """On a terminal a bar with counts is drawn and no log line is written."""
    stream = Terminal()
    progress = Progress(2, stream=stream)

    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        finish(progress, Status.CALLED, Status.CALLED)
        progress.close()

    assert "2/2" in stream.getvalue()
    assert "called=2" in stream.getvalue()
    assert caplog.messages == []
