"""Tests of each error class through the real HTTP stack against the sandbox server.

The dispatcher runs in this process with the aiohttp transport that live runs
use; the sandbox runs as `python -m pipeline sandbox` with fault flags.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import stamina
from helpers import sandbox_calls, start_sandbox

from pipeline import sandbox
from pipeline.client import NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.dispatch import CallJob, CallResult, DispatchReport, dispatch
from pipeline.results import Status
from pipeline.transport import AiohttpTransport

TOKEN = f"Bearer {sandbox.DEMO_ACCOUNT_ID}:{sandbox.DEMO_SECRET_KEY}"
US_NUMBERS = [f"+1201555{n:04d}" for n in range(100, 200)]
UK_NUMBERS = [f"+44207946{n:04d}" for n in range(1000)]


@pytest.fixture
def instant_retries() -> Iterator[None]:
    """Skip backoff waits but keep each test's configured attempt count."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


def run_dispatch(url: str, numbers: list[str], **settings: object) -> DispatchReport:
    """Dispatch one job per number to the server at `url`."""
    config = NLPearlSettings(
        outbound_id=sandbox.DEMO_OUTBOUND_ID,
        base_url=url,
        **{"timeout_seconds": 2.0, **settings},
    )
    jobs = [CallJob(row, to, {"firstName": "Ada"}) for row, to in enumerate(numbers, 2)]

    async def go() -> DispatchReport:
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": TOKEN},
            timeout=config.timeout_seconds,
            transport=AiohttpTransport(max_connections=config.concurrency),
        ) as http:
            client = NLPearlClient(
                http, config.outbound_id, timeout_seconds=config.timeout_seconds
            )
            return await dispatch(jobs, client, config)

    return asyncio.run(go())


def statuses(report: DispatchReport) -> Counter[str]:
    """Count a report's results by status."""
    return Counter(result.status.value for result in report.results)


def server_requests(url: str) -> int:
    """Return how many Make Call requests the server received."""
    return int(httpx.get(f"{url}/_sandbox/stats", timeout=5).json()["requests"])


def test_bad_row_fails_once() -> None:
    """A 400 fails its row after one request; the other rows are called."""
    with start_sandbox() as url:
        report = run_dispatch(url, ["not a number", US_NUMBERS[0]])
        requests = server_requests(url)

    results = {result.row: result for result in report.results}
    assert results[2].status == Status.FAILED
    assert results[2].reason == "api_rejected"
    assert "HTTP 400" in results[2].detail
    assert results[3].status == Status.CALLED
    assert requests == 2


def test_throttled_calls_wait_and_succeed() -> None:
    """429 responses with Retry-After are waited out and every call succeeds."""
    with start_sandbox("--rate-limit", "20") as url:
        report = run_dispatch(url, US_NUMBERS[:30], concurrency=10, max_attempts=10)
        calls = sandbox_calls(url)
        requests = server_requests(url)

    assert statuses(report) == {"called": 30}
    assert Counter(call["to"] for call in calls) == Counter(US_NUMBERS[:30])
    assert requests > 30


@pytest.mark.usefixtures("instant_retries")
def test_server_errors_retried_then_failed() -> None:
    """A server that always responds 503 gets max_attempts times per call."""
    with start_sandbox("--error-rate", "503=1") as url:
        report = run_dispatch(url, US_NUMBERS[:3], max_attempts=3)
        requests = server_requests(url)

    assert statuses(report) == {"failed": 3}
    assert {result.reason for result in report.results} == {"retries_exhausted"}
    assert requests == 9


@pytest.mark.usefixtures("instant_retries")
def test_refused_connection_retried_then_failed() -> None:
    """A port nobody listens on is retried, since nothing was sent, then fails."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    report = run_dispatch(f"http://127.0.0.1:{port}", US_NUMBERS[:2], max_attempts=2)

    assert statuses(report) == {"failed": 2}
    assert all("ConnectError" in result.detail for result in report.results)


def test_timeout_after_record_is_unknown() -> None:
    """A call recorded but never responded to is unknown and sent only once."""
    with start_sandbox("--timeout-rate", "1") as url:
        report = run_dispatch(url, US_NUMBERS[:2], timeout_seconds=0.3)
        calls = sandbox_calls(url)

    assert statuses(report) == {"unknown": 2}
    assert Counter(call["to"] for call in calls) == Counter(US_NUMBERS[:2])


def test_dropped_connection_is_unknown() -> None:
    """A connection dropped after the call was recorded is unknown, sent once."""
    with start_sandbox("--drop-after-record-rate", "1") as url:
        report = run_dispatch(url, US_NUMBERS[:2])
        calls = sandbox_calls(url)
        requests = server_requests(url)

    assert statuses(report) == {"unknown": 2}
    assert len(calls) == 2
    assert requests == 2


@pytest.mark.usefixtures("instant_retries")
def test_faults_and_rate_limit_no_storm() -> None:
    """With 20 % server errors and a rate limit, 500 leads end called once or failed.

    The client paces itself at half the server's limit, so throttling is rare
    even when the machine is busy, and the retries handle the injected errors.
    The server receives no more requests than the retry bound allows.
    """
    numbers = (US_NUMBERS + UK_NUMBERS)[:500]
    max_attempts = 4
    with start_sandbox(
        "--error-rate", "500=0.2", "--rate-limit", "300", "--seed", "7"
    ) as url:
        report = run_dispatch(
            url,
            numbers,
            concurrency=20,
            calls_per_second=150.0,
            max_attempts=max_attempts,
        )
        calls = sandbox_calls(url)
        requests = server_requests(url)

    called = {r.row for r in report.results if r.status == Status.CALLED}
    failed: list[CallResult] = [r for r in report.results if r.status != Status.CALLED]
    assert len(report.results) == 500
    assert len(called) > 480
    assert set(Counter(call["to"] for call in calls).values()) <= {1}
    assert len(calls) == len(called)
    assert {r.reason for r in failed} <= {"retries_exhausted"}
    assert requests <= 500 * max_attempts
