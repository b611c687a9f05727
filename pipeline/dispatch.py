"""Dispatch stage: place one call per valid lead, a bounded number at a time.

Each error class has one rule. A refused call fails its row. A throttled or
failed attempt that did not place the call is retried with backoff, bounded
in attempts and in time. A request sent without a response is `unknown` and is
never sent again. A credentials or outbound error stops every worker before
it takes another lead; calls already in flight finish and are recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pipeline.client import CallAccepted, NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.errors import CallError, CallOutcomeUnknown, RunStopped
from pipeline.pacing import Pacer
from pipeline.phones import mask_phone
from pipeline.results import Status
from pipeline.retry import with_retries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallJob:
    """One call to place: the lead's source row, its E.164 number and callData."""

    row: int
    to: str
    call_data: dict[str, str]
    call_before: datetime | None = None
    """When the lead's calling window closes; None when there is no window."""
    next_open: datetime | None = None
    """When the window opens again after `call_before`."""


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call job."""

    row: int
    status: Status
    reason: str = ""
    detail: str = ""
    request_id: str = ""
    from_number: str = ""
    queue_position: int | None = None
    called_at: datetime | None = None
    earliest_call_at: datetime | None = None


class CallRecorder(Protocol):
    """Told before each request goes out and after its outcome is known."""

    def sending(self, job: CallJob) -> None: ...

    def finished(self, job: CallJob, result: CallResult) -> None: ...


@dataclass
class DispatchReport:
    """Every job's result, and the error that stopped the run, if one did."""

    results: list[CallResult] = field(default_factory=list)
    stopped: RunStopped | None = None


async def dispatch(
    jobs: Iterable[CallJob],
    client: NLPearlClient,
    settings: NLPearlSettings,
    recorders: Sequence[CallRecorder] = (),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DispatchReport:
    """Place every job's call with at most `settings.concurrency` in flight."""
    report = DispatchReport()
    queue = iter(jobs)
    pacer = Pacer(settings.calls_per_second)

    async def worker() -> None:
        for job in _until_stopped(queue, report):
            for recorder in recorders:
                recorder.sending(job)
            result = await _place_call(job, client, settings, pacer, report, clock)
            report.results.append(result)
            for recorder in recorders:
                recorder.finished(job, result)

    async with asyncio.TaskGroup() as group:
        for _ in range(settings.concurrency):
            group.create_task(worker())

    report.results += not_attempted(queue, report.stopped)

    return report


def _until_stopped(
    queue: Iterator[CallJob], report: DispatchReport
) -> Iterator[CallJob]:
    """Yield jobs from the shared queue until a worker records a stop."""
    while report.stopped is None:
        job = next(queue, None)
        if job is None:
            return
        yield job


async def _place_call(
    job: CallJob,
    client: NLPearlClient,
    settings: NLPearlSettings,
    pacer: Pacer,
    report: DispatchReport,
    clock: Callable[[], datetime],
) -> CallResult:
    """Place one call, retrying only what cannot have placed it."""

    async def make_call() -> CallAccepted:
        await pacer.wait()
        if job.call_before is not None and clock() >= job.call_before:
            raise _WindowClosed
        return await client.make_call(job.to, job.call_data)

    try:
        accepted = await with_retries(make_call, settings, f"row {job.row}")
    except _WindowClosed:
        return _deferred(job)
    except RunStopped as error:
        report.stopped = report.stopped or error
        return _failed(job, error.reason, str(error))
    except CallOutcomeUnknown as error:
        logger.warning("row %d: outcome unknown: %s", job.row, error)
        return CallResult(job.row, Status.UNKNOWN, error.reason, str(error))
    except CallError as error:
        logger.warning("row %d: call failed: %s", job.row, error)
        return _failed(job, error.reason, str(error))

    logger.debug(
        "row %d: called %s, request id %s, queue position %s",
        job.row,
        mask_phone(job.to),
        accepted.request_id,
        accepted.queue_position,
    )

    return _called(job, accepted, clock())


class _WindowClosed(Exception):
    """The lead's calling window closed while its call waited for its turn."""


def _deferred(job: CallJob) -> CallResult:
    when = f"{job.next_open:%Y-%m-%d %H:%M} UTC" if job.next_open else "unknown"
    detail = f"the calling window closed during the run; earliest call {when}"
    logger.info("row %d: deferred, %s", job.row, detail)

    return CallResult(
        job.row,
        Status.DEFERRED,
        "outside_calling_window",
        detail,
        earliest_call_at=job.next_open,
    )


def _called(job: CallJob, accepted: CallAccepted, now: datetime) -> CallResult:
    return CallResult(
        job.row,
        Status.CALLED,
        request_id=accepted.request_id,
        from_number=accepted.from_number,
        queue_position=accepted.queue_position,
        called_at=now,
    )


def _failed(job: CallJob, reason: str, detail: str) -> CallResult:
    return CallResult(job.row, Status.FAILED, reason, detail)


def not_attempted(
    jobs: Iterable[CallJob], stopped: RunStopped | None
) -> list[CallResult]:
    """Return a `run_stopped` result for each job that was never sent."""
    detail = f"not called because the run stopped: {stopped}" if stopped else ""

    return [CallResult(job.row, Status.SKIPPED, "run_stopped", detail) for job in jobs]
