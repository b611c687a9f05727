"""Progress of the calls: a bar on a terminal, plain periodic lines under cron."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from pipeline.dispatch import CallJob, CallResult
from pipeline.results import format_counts

logger = logging.getLogger(__name__)


class Progress:
    """Counts call outcomes per status and shows them as calls finish.

    On a terminal a progress bar shows the counts. Elsewhere, such as under
    cron, a log line with the counts is written every `interval` seconds.
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        stream = stream or sys.stderr
        self._total = total
        self._done = 0
        self._counts: Counter[str] = Counter()
        self._interval = interval
        self._clock = clock
        self._last_line = clock()
        self._bar = (
            tqdm(total=total, unit="call", file=stream, dynamic_ncols=True)
            if stream.isatty()
            else None
        )

    def sending(self, job: CallJob) -> None:
        """Do nothing; progress counts finished calls only."""

    def finished(self, job: CallJob, result: CallResult) -> None:
        """Count one finished call and refresh the bar or write a due line."""
        self._done += 1
        self._counts[result.status.value] += 1
        if self._bar is not None:
            self._bar.set_postfix(self._counts, refresh=False)
            self._bar.update(1)
        elif self._clock() - self._last_line >= self._interval:
            self._log_line()

    def close(self) -> None:
        """Close the bar, or write the last line."""
        if self._bar is not None:
            self._bar.close()
        else:
            self._log_line()

    def _log_line(self) -> None:
        self._last_line = self._clock()
        counts = format_counts(dict(sorted(self._counts.items())))
        logger.info("progress: %d of %d calls (%s)", self._done, self._total, counts)
