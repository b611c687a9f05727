"""Calling stage glue: turn pending rows into calls and the results back into rows.

The dispatcher works on `CallJob`s and `CallResult`s. This module builds the
jobs from the outcome frame and opens the HTTP client with the right
credentials and transport. It runs the pre-flight check, then writes each
result back into the frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import pandas as pd

from pipeline import sandbox
from pipeline.client import NLPearlClient
from pipeline.config import Config, Credentials, credentials_from_environment
from pipeline.dispatch import (
    CallJob,
    CallRecorder,
    CallResult,
    DispatchReport,
    dispatch,
    not_attempted,
)
from pipeline.errors import RunStopped
from pipeline.preflight import check_ready
from pipeline.progress import Progress
from pipeline.results import Status, pending_rows
from pipeline.transport import AiohttpTransport

logger = logging.getLogger(__name__)

SANDBOX_CREDENTIALS = Credentials(sandbox.DEMO_ACCOUNT_ID, sandbox.DEMO_SECRET_KEY)


@dataclass(frozen=True)
class Target:
    """The call target: credentials (None in a dry run) and an optional transport."""

    credentials: Credentials | None
    transport: httpx.AsyncBaseTransport | None

    @property
    def dry_run(self) -> bool:
        """Return whether calls are only previewed, which needs no credentials."""
        return self.credentials is None


def call_or_preview(
    outcome: pd.DataFrame,
    config: Config,
    target: Target,
    recorder: CallRecorder | None,
    clock: Callable[[], datetime],
) -> str:
    """Call every pending row, or mark it dry_run; return why calling stopped."""
    pending = pending_rows(outcome)
    if target.dry_run:
        outcome.loc[pending, "status"] = Status.DRY_RUN.value
        logger.info("dry run: %d rows would be called", len(pending))
        return ""

    jobs = [
        CallJob(
            int(row),
            outcome.at[row, "phone_e164"],
            outcome.at[row, "call_data"],
            call_before=_moment(outcome.at[row, "call_before"]),
            next_open=_moment(outcome.at[row, "next_open"]),
        )
        for row in pending
    ]
    if not jobs:
        logger.info("no lead to call")
        return ""
    report = asyncio.run(_dispatch(jobs, config, target, recorder, clock))
    for result in report.results:
        _apply_result(outcome, result)

    return str(report.stopped or "")


def _moment(value: object) -> datetime | None:
    """Return a frame cell's datetime; pandas may hold a missing one as NaN."""
    return value if isinstance(value, datetime) else None


async def _dispatch(
    jobs: list[CallJob],
    config: Config,
    target: Target,
    recorder: CallRecorder | None,
    clock: Callable[[], datetime],
) -> DispatchReport:
    settings = config.nlpearl
    credentials = target.credentials
    assert credentials is not None
    transport = (
        target.transport
        or _sandbox_transport(config, credentials)
        or AiohttpTransport(max_connections=settings.concurrency)
    )
    base_url = settings.base_url or "http://127.0.0.1"
    headers = {"Authorization": credentials.bearer_token()}
    limits = httpx.Limits(max_connections=settings.concurrency)

    async with httpx.AsyncClient(
        transport=transport,
        base_url=base_url,
        headers=headers,
        timeout=settings.timeout_seconds,
        limits=limits,
    ) as http:
        client = NLPearlClient(
            http, settings.outbound_id, timeout_seconds=settings.timeout_seconds
        )
        try:
            await check_ready(client, settings)
        except RunStopped as error:
            return DispatchReport(not_attempted(jobs, error), error)

        logger.info("calling %d leads", len(jobs))
        progress = Progress(len(jobs))
        recorders = [progress] if recorder is None else [recorder, progress]
        try:
            return await dispatch(jobs, client, settings, recorders, clock)
        finally:
            progress.close()


def credentials_for(config: Config) -> Credentials:
    """Read the credentials before any work, so a missing one fails fast."""
    fallback = SANDBOX_CREDENTIALS if config.nlpearl.sandbox else None

    return credentials_from_environment(sandbox_fallback=fallback)


def _sandbox_transport(
    config: Config, credentials: Credentials
) -> httpx.AsyncBaseTransport | None:
    """Return the in-process sandbox when the config enables it, else None."""
    if not config.nlpearl.sandbox:
        return None

    settings = sandbox.SandboxSettings(
        account_id=credentials.account_id,
        secret_key=credentials.secret_key,
        outbound_ids=(config.nlpearl.outbound_id,),
        **config.sandbox.model_dump(),
    )
    logger.info("calling the in-process NLPearl sandbox; no real call is placed")

    return sandbox.Sandbox(settings).transport()


def _apply_result(outcome: pd.DataFrame, result: CallResult) -> None:
    row = result.row
    outcome.at[row, "status"] = result.status.value
    outcome.at[row, "reason"] = result.reason
    outcome.at[row, "detail"] = result.detail
    outcome.at[row, "request_id"] = result.request_id
    outcome.at[row, "from_number"] = result.from_number
    outcome.at[row, "queue_position"] = result.queue_position
    outcome.at[row, "called_at"] = result.called_at
    if result.earliest_call_at is not None:
        outcome.at[row, "earliest_call_at"] = result.earliest_call_at
