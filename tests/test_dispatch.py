"""Tests of the dispatcher: one rule per error class, scripted through a mock API."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import stamina

from pipeline.client import NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.dispatch import CallJob, CallResult, DispatchReport, dispatch
from pipeline.errors import CredentialsRejected
from pipeline.results import Status

OUTBOUND = "6650f0c2a1b2c3d4e5f60718"


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """Skip backoff waits but keep each test's configured attempt count."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


class ScriptedApi:
    """A mock NLPearl that responds to each number from its own script.

    A script entry is a status code, or an exception class to raise. When a
    number's script runs out, it gets 200.
    """

    def __init__(self, scripts: dict[str, list[int | type[Exception]]]) -> None:
        self.scripts = {to: list(steps) for to, steps in scripts.items()}
        self.requests: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["to"]
        self.requests[number] += 1
        steps = self.scripts.get(number, [])
        step = steps.pop(0) if steps else 200
        if isinstance(step, type):
            raise step("scripted", request=request)  # type: ignore[call-arg]
        if step == 200:
            body = {"id": f"req-{number[-4:]}", "from": "+12015550100", "to": number}
            return httpx.Response(200, json={**body, "queuePosition": 0})

        return httpx.Response(step, text="scripted")


def run_dispatch(
    api: ScriptedApi, numbers: list[str], **settings: object
) -> DispatchReport:
    """Dispatch one job per number against the scripted API."""
    config = NLPearlSettings(outbound_id=OUTBOUND, sandbox=True, **settings)
    jobs = [CallJob(row, to, {"n": str(row)}) for row, to in enumerate(numbers, 2)]

    async def go() -> DispatchReport:
        transport = httpx.MockTransport(api)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=1.0)
            return await dispatch(jobs, client, config)

    return asyncio.run(go())


def by_row(report: DispatchReport) -> dict[int, CallResult]:
    """Index a report's results by source row."""
    return {result.row: result for result in report.results}


NUMBERS = [f"+1201555{n:04d}" for n in range(120, 126)]


def test_all_called() -> None:
    """Every job is called once and gets its request id."""
    api = ScriptedApi({})

    report = run_dispatch(api, NUMBERS)

    assert sorted(r.row for r in report.results) == list(range(2, 8))
    assert {r.status for r in report.results} == {Status.CALLED}
    assert by_row(report)[2].request_id == "req-0120"
    assert set(api.requests.values()) == {1}


def test_503_twice_then_200() -> None:
    """A call that gets 503 twice and then 200 ends called after three requests."""
    api = ScriptedApi({NUMBERS[2]: [503, 503]})

    report = run_dispatch(api, NUMBERS)

    assert by_row(report)[4].status == Status.CALLED
    assert api.requests[NUMBERS[2]] == 3


def test_429_then_200() -> None:
    """A throttled call is retried and then called."""
    api = ScriptedApi({NUMBERS[0]: [429]})

    report = run_dispatch(api, NUMBERS)

    assert by_row(report)[2].status == Status.CALLED
    assert api.requests[NUMBERS[0]] == 2


def test_retries_are_bounded() -> None:
    """A call that keeps failing with 500 stops after max_attempts and fails."""
    api = ScriptedApi({NUMBERS[1]: [500] * 10})

    report = run_dispatch(api, NUMBERS, max_attempts=3)

    result = by_row(report)[3]
    assert result.status == Status.FAILED
    assert result.reason == "retries_exhausted"
    assert api.requests[NUMBERS[1]] == 3


def test_400_not_retried() -> None:
    """A 400 fails its row after one request and the other rows go on."""
    api = ScriptedApi({NUMBERS[0]: [400]})

    report = run_dispatch(api, NUMBERS)

    assert by_row(report)[2].status == Status.FAILED
    assert by_row(report)[2].reason == "api_rejected"
    assert api.requests[NUMBERS[0]] == 1
    assert by_row(report)[3].status == Status.CALLED


def test_connect_error_retried() -> None:
    """A refused connection is retried, because the call was not placed."""
    api = ScriptedApi({NUMBERS[0]: [httpx.ConnectError]})

    report = run_dispatch(api, NUMBERS)

    assert by_row(report)[2].status == Status.CALLED
    assert api.requests[NUMBERS[0]] == 2


def test_read_timeout_not_retried() -> None:
    """A timeout after sending marks the row unknown and is never resent."""
    api = ScriptedApi({NUMBERS[0]: [httpx.ReadTimeout]})

    report = run_dispatch(api, NUMBERS)

    assert by_row(report)[2].status == Status.UNKNOWN
    assert by_row(report)[2].reason == "outcome_unknown"
    assert api.requests[NUMBERS[0]] == 1


@pytest.mark.parametrize("status", [401, 403, 404])
def test_stop_after_first_refusal(status: int) -> None:
    """A credentials or outbound error stops the run before more calls go out."""
    api = ScriptedApi({NUMBERS[0]: [status]})

    report = run_dispatch(api, NUMBERS, concurrency=1)

    assert report.stopped is not None
    assert sum(api.requests.values()) == 1
    assert by_row(report)[2].status == Status.FAILED
    assert {by_row(report)[row].reason for row in range(3, 8)} == {"run_stopped"}


def test_stop_accounts_for_every_job() -> None:
    """A stopped run still returns one result per job."""
    api = ScriptedApi({NUMBERS[3]: [401]})

    report = run_dispatch(api, NUMBERS, concurrency=2)

    assert isinstance(report.stopped, CredentialsRejected)
    assert sorted(r.row for r in report.results) == list(range(2, 8))


def test_concurrency_is_bounded() -> None:
    """No more than `concurrency` requests are in flight at once."""
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={"id": "r", "queuePosition": 0})

    numbers = [f"+1201555{n:04d}" for n in range(100, 140)]
    jobs = [CallJob(row, to, {}) for row, to in enumerate(numbers, 2)]
    settings = NLPearlSettings(outbound_id=OUTBOUND, sandbox=True, concurrency=5)

    async def go() -> DispatchReport:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="http://127.0.0.1"
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=1.0)
            return await dispatch(jobs, client, settings)

    report = asyncio.run(go())

    assert len(report.results) == 40
    assert peak == 5


class ListRecorder:
    """Keeps the order of recorder events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def sending(self, job: CallJob) -> None:
        self.events.append(("sending", job.row))

    def finished(self, job: CallJob, result: CallResult) -> None:
        self.events.append((result.status.value, job.row))


def test_recorder_hears_before_and_after() -> None:
    """The recorder hears of each job before its request and after its outcome."""
    recorder = ListRecorder()
    config = NLPearlSettings(outbound_id=OUTBOUND, sandbox=True, concurrency=1)
    jobs = [CallJob(2, NUMBERS[0], {}), CallJob(3, NUMBERS[1], {})]

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(ScriptedApi({NUMBERS[1]: [400]})),
            base_url="http://127.0.0.1",
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=1.0)
            await dispatch(jobs, client, config, [recorder])

    asyncio.run(go())

    assert recorder.events == [
        ("sending", 2),
        ("called", 2),
        ("sending", 3),
        ("failed", 3),
    ]
