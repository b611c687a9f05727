"""Tests of the NLPearl sandbox, in-process and on a real 127.0.0.1 server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from helpers import environment, start_sandbox

from pipeline import calling
from pipeline import cli as cli_module
from pipeline.client import CallAccepted, NLPearlClient
from pipeline.config import Config
from pipeline.errors import CallError, CallOutcomeUnknown, CallRetryable
from pipeline.sandbox import (
    CALLER_NUMBER,
    DEMO_ACCOUNT_ID,
    DEMO_OUTBOUND_ID,
    DEMO_SECRET_KEY,
    CallRequestStatus,
    Sandbox,
    SandboxSettings,
)
from pipeline.sandbox.server import serve

BASE_URL = "http://127.0.0.1"
AUTHORIZATION = f"Bearer {DEMO_ACCOUNT_ID}:{DEMO_SECRET_KEY}"
CALL_PATH = f"/v1/Outbound/{DEMO_OUTBOUND_ID}/Call"
PHONE = "+12015550123"
UK_PHONE = "+442079460123"
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """Monotonic clock that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_call(
    to: str = PHONE,
    call_data: Mapping[str, str] | None = None,
    outbound_id: str = DEMO_OUTBOUND_ID,
    authorization: str | None = AUTHORIZATION,
) -> httpx.Request:
    """Build a Make Call request with a JSON body."""
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"to": to, "callData": call_data}
    url = f"{BASE_URL}/v1/Outbound/{outbound_id}/Call"

    return httpx.Request("POST", url, json=body, headers=headers)


def raw_call(content: bytes, content_type: str = "application/json") -> httpx.Request:
    """Build a Make Call request whose body is sent exactly as given."""
    headers = {"Authorization": AUTHORIZATION, "Content-Type": content_type}

    return httpx.Request("POST", BASE_URL + CALL_PATH, content=content, headers=headers)


def get(path: str, authorization: str | None = AUTHORIZATION) -> httpx.Request:
    """Build a GET request for a path of the sandbox."""
    headers = {} if authorization is None else {"Authorization": authorization}

    return httpx.Request("GET", BASE_URL + path, headers=headers)


def send(sandbox: Sandbox, *requests: httpx.Request) -> list[httpx.Response]:
    """Send the requests one after another through the in-process transport."""

    async def send_all() -> list[httpx.Response]:
        transport = sandbox.transport()
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return [await client.send(request) for request in requests]

    return asyncio.run(send_all())


def send_one(sandbox: Sandbox, request: httpx.Request) -> httpx.Response:
    """Send one request through the in-process transport."""
    return send(sandbox, request)[0]


def test_call_accepted_and_recorded() -> None:
    """An accepted call returns the Make Call result and is recorded."""
    sandbox = Sandbox()

    response = send_one(sandbox, make_call(call_data={"firstName": "Ada"}))

    body = response.json()
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{24}", body["id"])
    assert body["from"] == CALLER_NUMBER
    assert body["to"] == PHONE
    assert body["queuePosition"] == 0
    assert len(sandbox.calls) == 1
    record = sandbox.calls[0]
    assert record.id == body["id"]
    assert record.outbound_id == DEMO_OUTBOUND_ID
    assert record.to == PHONE
    assert record.call_data == {"firstName": "Ada"}
    assert record.from_number == CALLER_NUMBER
    assert record.queue_position == 0
    assert record.created.tzinfo is not None


def test_call_data_null_accepted() -> None:
    """A call whose callData is null is accepted and recorded without call data."""
    sandbox = Sandbox()

    response = send_one(sandbox, make_call(to=UK_PHONE, call_data=None))

    assert response.status_code == 200
    assert sandbox.calls[0].call_data is None


def test_call_data_omitted_accepted() -> None:
    """A body without callData is accepted, because the field is optional."""
    sandbox = Sandbox()

    response = send_one(sandbox, raw_call(json.dumps({"to": PHONE}).encode()))

    assert response.status_code == 200
    assert sandbox.calls[0].call_data is None


def test_to_echoed_without_plus() -> None:
    """A number without a leading '+' is accepted and echoed as sent."""
    sandbox = Sandbox()

    response = send_one(sandbox, make_call(to="12015550124"))

    assert response.status_code == 200
    assert response.json()["to"] == "12015550124"


def test_queue_position_grows_when_busy() -> None:
    """Calls beyond the free agents wait, and their queue positions count up."""
    sandbox = Sandbox(SandboxSettings(agents=2), clock=FakeClock())

    responses = send(sandbox, *(make_call() for _ in range(4)))

    positions = [response.json()["queuePosition"] for response in responses]
    assert positions == [0, 0, 1, 2]
    assert [record.queue_position for record in sandbox.calls] == positions


def test_queue_position_back_to_zero() -> None:
    """A call gets position 0 again once the clock passes call_seconds."""
    clock = FakeClock()
    settings = SandboxSettings(agents=2, call_seconds=60.0)
    sandbox = Sandbox(settings, clock=clock)
    send(sandbox, make_call(), make_call(), make_call())

    clock.now += 61.0
    response = send_one(sandbox, make_call())

    assert response.json()["queuePosition"] == 0


def test_queue_position_counts_only_waiting() -> None:
    """Calls that an agent took meanwhile no longer count toward the position."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxSettings(agents=1, call_seconds=60.0), clock=clock)
    send(sandbox, make_call(), make_call(), make_call())

    clock.now += 61.0
    response = send_one(sandbox, make_call())

    assert response.json()["queuePosition"] == 2


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Bearer {DEMO_SECRET_KEY}",
        f"Bearer {DEMO_ACCOUNT_ID}:wrong-secret",
        f"Bearer other-account:{DEMO_SECRET_KEY}",
        f"Basic {DEMO_ACCOUNT_ID}:{DEMO_SECRET_KEY}",
        f"{DEMO_ACCOUNT_ID}:{DEMO_SECRET_KEY}",
    ],
    ids=[
        "missing",
        "empty",
        "secret-only",
        "wrong-secret",
        "wrong-account",
        "basic",
        "no-scheme",
    ],
)
def test_make_call_unauthorized(authorization: str | None) -> None:
    """Make Call without valid Bearer credentials gets a plain-text 401."""
    sandbox = Sandbox()

    response = send_one(sandbox, make_call(authorization=authorization))

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Unauthorized"
    assert sandbox.calls == []
    assert sandbox.requests_seen == 1


def test_bearer_scheme_case_insensitive() -> None:
    """The auth scheme matches in any case, as HTTP auth schemes do."""
    sandbox = Sandbox()

    authorization = f"bearer {DEMO_ACCOUNT_ID}:{DEMO_SECRET_KEY}"

    response = send_one(sandbox, make_call(authorization=authorization))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Account",
        f"/v1/Outbound/{DEMO_OUTBOUND_ID}",
        "/v1/Outbound/CallRequest/0123456789abcdef01234567",
    ],
)
def test_read_endpoints_unauthorized(path: str) -> None:
    """Every read endpoint of the API rejects a missing Authorization header."""
    response = send_one(Sandbox(), get(path, authorization=None))

    assert response.status_code == 401


def test_unknown_outbound_not_found() -> None:
    """Make Call for an unknown outbound id gets a 404 problem and records nothing."""
    sandbox = Sandbox()

    response = send_one(sandbox, make_call(outbound_id="0123456789abcdef01234567"))

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert sandbox.calls == []


def test_auth_checked_before_outbound() -> None:
    """Credentials are checked before the outbound id."""
    request = make_call(outbound_id="0123456789abcdef01234567", authorization=None)

    response = send_one(Sandbox(), request)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{", "$"),
        (b"", "$"),
        (b'["+12015550123"]', "$"),
        (b"{}", "to"),
        (b'{"to": null}', "to"),
        (b'{"to": ""}', "to"),
        (b'{"to": 12015550123}', "to"),
        (b'{"to": "call me"}', "to"),
        (b'{"to": "+1 201-555-0123"}', "to"),
        (b'{"to": "++12015550123"}', "to"),
        (b'{"to": "+12015550123", "callData": ["Ada"]}', "callData"),
        (b'{"to": "+12015550123", "callData": "Ada"}', "callData"),
        (b'{"to": "+12015550123", "callData": {"age": 42}}', "callData.age"),
        (b'{"to": "+12015550123", "callData": {"vip": null}}', "callData.vip"),
    ],
)
def test_bad_body_rejected(content: bytes, field: str) -> None:
    """Each kind of invalid Make Call body gets a 400 validation problem."""
    sandbox = Sandbox()

    response = send_one(sandbox, raw_call(content))

    problem = response.json()
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["status"] == 400
    assert problem["type"].startswith("https://")
    assert list(problem["errors"]) == [field]
    assert sandbox.calls == []


def test_bad_body_lists_every_field() -> None:
    """A body with an invalid to and invalid callData lists both fields."""
    content = b'{"to": "", "callData": {"age": 42}}'

    problem = send_one(Sandbox(), raw_call(content)).json()

    assert set(problem["errors"]) == {"to", "callData.age"}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", ""]
)
def test_non_json_content_type_rejected(content_type: str) -> None:
    """A body sent with a media type that is not JSON gets a 415 problem."""
    sandbox = Sandbox()
    content = json.dumps({"to": PHONE}).encode()

    response = send_one(sandbox, raw_call(content, content_type=content_type))

    assert response.status_code == 415
    assert response.headers["Content-Type"] == "application/problem+json"
    assert sandbox.calls == []


@pytest.mark.parametrize(
    "content_type",
    ["text/json", "application/merge-patch+json", "application/json; charset=utf-8"],
)
def test_json_content_types_accepted(content_type: str) -> None:
    """Each media type that the NLPearl docs list for the body is accepted."""
    content = json.dumps({"to": PHONE}).encode()

    response = send_one(Sandbox(), raw_call(content, content_type=content_type))

    assert response.status_code == 200


def test_rate_limit_returns_429() -> None:
    """Requests beyond the rate limit get 429 with Retry-After and are not recorded."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxSettings(rate_limit_per_second=2.0), clock=clock)

    responses = send(sandbox, make_call(), make_call(), make_call())

    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[2].headers["Retry-After"] == "1"
    assert len(sandbox.calls) == 2
    assert sandbox.requests_seen == 3


def test_rate_limit_refills_with_clock() -> None:
    """A rate-limited sandbox admits a call again once the clock moves on."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxSettings(rate_limit_per_second=2.0), clock=clock)
    send(sandbox, make_call(), make_call())

    clock.now += 0.5
    response = send_one(sandbox, make_call())

    assert response.status_code == 200


def test_slow_rate_limit_retry_after() -> None:
    """Retry-After rounds the wait up to whole seconds."""
    settings = SandboxSettings(rate_limit_per_second=0.25)
    sandbox = Sandbox(settings, clock=FakeClock())

    responses = send(sandbox, make_call(), make_call())

    assert responses[1].headers["Retry-After"] == "4"


def error_statuses(sandbox: Sandbox, count: int = 30) -> list[int]:
    """Send Make Call requests and return the status of each response."""
    responses = send(sandbox, *(make_call() for _ in range(count)))

    return [response.status_code for response in responses]


def test_error_rates_repeat_with_seed() -> None:
    """Two sandboxes with the same seed fail the same requests with the same status."""
    settings = SandboxSettings(error_rates={500: 0.3, 503: 0.3}, seed=7)

    first = error_statuses(Sandbox(settings))
    second = error_statuses(Sandbox(settings))

    assert first == second
    assert set(first) == {200, 500, 503}


def test_error_rates_not_recorded() -> None:
    """Requests failed on purpose record no call."""
    sandbox = Sandbox(SandboxSettings(error_rates={500: 0.5}, seed=3))

    statuses = error_statuses(sandbox)

    assert len(sandbox.calls) == statuses.count(200)
    assert sandbox.requests_seen == len(statuses)


def test_reset_repeats_error_sequence() -> None:
    """Reset restarts the random draws, so the same faults come back."""
    sandbox = Sandbox(SandboxSettings(error_rates={502: 0.5}, seed=11))
    first = error_statuses(sandbox)

    sandbox.reset()
    second = error_statuses(sandbox)

    assert first == second
    assert len(sandbox.calls) == second.count(200)
    assert sandbox.requests_seen == len(second)


def test_error_checked_before_body() -> None:
    """An injected error status is returned even when the body is invalid."""
    sandbox = Sandbox(SandboxSettings(error_rates={503: 1.0}))

    response = send_one(sandbox, raw_call(b"{"))

    assert response.status_code == 503
    assert response.text == "Service Unavailable"


def test_withheld_response_still_recorded() -> None:
    """A call whose response is withheld times out at the client but is recorded."""
    sandbox = Sandbox(SandboxSettings(timeout_after_record_rate=1.0))

    async def call_with_timeout() -> None:
        transport = sandbox.transport()
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            async with asyncio.timeout(0.2):
                await client.send(make_call())

    with pytest.raises(TimeoutError):
        asyncio.run(call_with_timeout())
    assert len(sandbox.calls) == 1


def test_latency_delays_response() -> None:
    """The latency knob delays the response by at least its value."""
    sandbox = Sandbox(SandboxSettings(latency_seconds=0.05))

    started = time.perf_counter()
    send_one(sandbox, make_call())
    elapsed = time.perf_counter() - started

    assert elapsed >= 0.05


def send_or_fail(
    sandbox: Sandbox, request: httpx.Request, timeout: float = 5.0
) -> httpx.Response | httpx.TransportError:
    """Send one request in-process and return its response or its transport error."""

    async def send_request() -> httpx.Response | httpx.TransportError:
        transport = sandbox.transport()
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, timeout=timeout
        ) as client:
            try:
                return await client.send(request)
            except httpx.TransportError as error:
                return error

    return asyncio.run(send_request())


def test_drop_before_record_not_recorded() -> None:
    """A connection dropped before recording raises RemoteProtocolError, no call."""
    sandbox = Sandbox(SandboxSettings(drop_before_record_rate=1.0))

    result = send_or_fail(sandbox, make_call())

    assert isinstance(result, httpx.RemoteProtocolError)
    assert sandbox.calls == []
    assert sandbox.requests_seen == 1


def test_drop_after_record_recorded() -> None:
    """A connection dropped after recording raises RemoteProtocolError, call kept."""
    sandbox = Sandbox(SandboxSettings(drop_after_record_rate=1.0))

    result = send_or_fail(sandbox, make_call(call_data={"firstName": "Ada"}))

    assert isinstance(result, httpx.RemoteProtocolError)
    assert len(sandbox.calls) == 1
    assert sandbox.calls[0].to == PHONE
    assert sandbox.calls[0].call_data == {"firstName": "Ada"}


def test_drop_checked_after_error_status() -> None:
    """An injected error status wins over a dropped connection."""
    settings = SandboxSettings(error_rates={503: 1.0}, drop_before_record_rate=1.0)

    result = send_or_fail(Sandbox(settings), make_call())

    assert isinstance(result, httpx.Response)
    assert result.status_code == 503


def test_drop_checked_before_body() -> None:
    """A dropped connection wins over an invalid body, which is never validated."""
    sandbox = Sandbox(SandboxSettings(drop_before_record_rate=1.0))

    result = send_or_fail(sandbox, raw_call(b"{"))

    assert isinstance(result, httpx.RemoteProtocolError)


def test_drop_after_record_needs_valid_body() -> None:
    """An invalid body gets its 400, because only recorded calls are dropped after."""
    sandbox = Sandbox(SandboxSettings(drop_after_record_rate=1.0))

    result = send_or_fail(sandbox, raw_call(b"{}"))

    assert isinstance(result, httpx.Response)
    assert result.status_code == 400
    assert sandbox.calls == []


def test_connect_error_not_sent() -> None:
    """A refused connection raises ConnectError before the sandbox receives it."""
    sandbox = Sandbox(SandboxSettings(connect_error_rate=1.0))

    result = send_or_fail(sandbox, make_call())

    assert isinstance(result, httpx.ConnectError)
    assert sandbox.requests_seen == 0
    assert sandbox.calls == []


def test_connect_error_only_make_call() -> None:
    """Refused connections apply to Make Call only, so Get Account still works."""
    sandbox = Sandbox(SandboxSettings(connect_error_rate=1.0))

    result = send_or_fail(sandbox, get("/v1/Account"))

    assert isinstance(result, httpx.Response)
    assert result.status_code == 200


def test_withheld_response_read_timeout() -> None:
    """A withheld response raises ReadTimeout after the client's read timeout."""
    sandbox = Sandbox(SandboxSettings(timeout_after_record_rate=1.0))

    started = time.perf_counter()
    result = send_or_fail(sandbox, make_call(), timeout=0.1)
    elapsed = time.perf_counter() - started

    assert isinstance(result, httpx.ReadTimeout)
    assert 0.1 <= elapsed < 2.0
    assert len(sandbox.calls) == 1


def test_latency_beyond_read_timeout() -> None:
    """Latency longer than the read timeout raises ReadTimeout, as on a socket."""
    sandbox = Sandbox(SandboxSettings(latency_seconds=1.0))

    result = send_or_fail(sandbox, make_call(), timeout=0.05)

    assert isinstance(result, httpx.ReadTimeout)


def fault_names(sandbox: Sandbox, count: int = 20, timeout: float = 5.0) -> list[str]:
    """Send Make Call requests and name each response or transport error by type."""
    results = [send_or_fail(sandbox, make_call(), timeout) for _ in range(count)]

    return [type(result).__name__ for result in results]


def test_after_record_faults_share_draw() -> None:
    """Drops and timeouts after recording split the calls, and all are recorded."""
    settings = SandboxSettings(
        drop_after_record_rate=0.5, timeout_after_record_rate=0.5, seed=5
    )
    sandbox = Sandbox(settings)

    names = fault_names(sandbox, count=12, timeout=0.05)

    assert set(names) == {"RemoteProtocolError", "ReadTimeout"}
    assert len(sandbox.calls) == 12


def test_connection_faults_repeat_with_seed() -> None:
    """Two sandboxes with the same seed refuse and drop the same requests."""
    settings = SandboxSettings(
        connect_error_rate=0.2,
        drop_before_record_rate=0.3,
        drop_after_record_rate=0.3,
        seed=9,
    )

    first = fault_names(Sandbox(settings))
    second = fault_names(Sandbox(settings))

    assert first == second
    assert set(first) == {"Response", "ConnectError", "RemoteProtocolError"}


def client_result(
    settings: SandboxSettings, timeout_seconds: float = 5.0
) -> CallAccepted | CallError:
    """Place one call with the pipeline's API client and return what it makes of it."""

    async def place_call() -> CallAccepted | CallError:
        headers = {"Authorization": AUTHORIZATION}
        async with httpx.AsyncClient(
            transport=Sandbox(settings).transport(),
            base_url=BASE_URL,
            headers=headers,
            timeout=timeout_seconds,
        ) as http:
            client = NLPearlClient(
                http, DEMO_OUTBOUND_ID, timeout_seconds=timeout_seconds
            )
            try:
                return await client.make_call(PHONE, {})
            except CallError as error:
                return error

    return asyncio.run(place_call())


@pytest.mark.parametrize(
    ("overrides", "expected", "cause"),
    [
        ({"connect_error_rate": 1.0}, CallRetryable, "ConnectError"),
        ({"drop_before_record_rate": 1.0}, CallOutcomeUnknown, "RemoteProtocolError"),
        ({"drop_after_record_rate": 1.0}, CallOutcomeUnknown, "RemoteProtocolError"),
        ({"timeout_after_record_rate": 1.0}, CallOutcomeUnknown, "ReadTimeout"),
    ],
    ids=["connect-error", "drop-before", "drop-after", "timeout"],
)
def test_client_reads_connection_faults(
    overrides: dict[str, float], expected: type[CallError], cause: str
) -> None:
    """The API client retries a refused connection and calls the others unknown."""
    result = client_result(SandboxSettings(**overrides), timeout_seconds=0.1)

    assert isinstance(result, expected)
    assert str(result).endswith(cause)


def test_config_table_reaches_sandbox(make_config: Callable[..., Config]) -> None:
    """The config's [sandbox] table sets the in-process sandbox of a run."""
    config = make_config(sandbox={"agents": 7, "connect_error_rate": 1.0})
    transport = calling._sandbox_transport(config, calling.SANDBOX_CREDENTIALS)
    assert transport is not None

    async def send_both() -> tuple[httpx.Response, httpx.TransportError | None]:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            account = await client.send(get("/v1/Account"))
            try:
                await client.send(make_call(outbound_id="outbound-test"))
            except httpx.TransportError as error:
                return account, error

        return account, None

    account, error = asyncio.run(send_both())

    assert account.json()["totalAgents"] == 7
    assert isinstance(error, httpx.ConnectError)


def test_config_table_unused_live(make_config: Callable[..., Config]) -> None:
    """A run against a base_url gets no sandbox, whatever its [sandbox] table sets."""
    config = make_config(
        nlpearl={"sandbox": False, "base_url": "http://127.0.0.1:9"},
        sandbox={"drop_after_record_rate": 1.0},
    )

    transport = calling._sandbox_transport(config, calling.SANDBOX_CREDENTIALS)

    assert transport is None


def call_request(sandbox: Sandbox, request_id: str) -> dict[str, Any]:
    """Return the Get Call Request body for a request id."""
    response = send_one(sandbox, get(f"/v1/Outbound/CallRequest/{request_id}"))
    assert response.status_code == 200

    body: dict[str, Any] = response.json()
    return body


def test_call_request_status_follows_clock() -> None:
    """A queued call moves from InCallQueue to OnCall to Completed with the clock."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxSettings(agents=1, call_seconds=60.0), clock=clock)
    queued_id = send(sandbox, make_call(), make_call())[1].json()["id"]

    queued = call_request(sandbox, queued_id)
    clock.now += 61.0
    on_call = call_request(sandbox, queued_id)
    clock.now += 60.0
    completed = call_request(sandbox, queued_id)

    assert queued["status"] == CallRequestStatus.IN_CALL_QUEUE
    assert queued["callId"] is None
    assert on_call["status"] == CallRequestStatus.ON_CALL
    assert on_call["callId"] is not None
    assert completed["status"] == CallRequestStatus.COMPLETED
    assert completed["callId"] == on_call["callId"]


def test_call_request_fields() -> None:
    """Get Call Request returns the request id, outbound id, UTC time and no errors."""
    sandbox = Sandbox(clock=FakeClock())
    request_id = send_one(sandbox, make_call()).json()["id"]

    body = call_request(sandbox, request_id)

    assert body["id"] == request_id
    assert body["outboundId"] == DEMO_OUTBOUND_ID
    assert body["errors"] is None
    assert body["status"] == CallRequestStatus.ON_CALL
    assert body["created"].endswith("Z")
    assert datetime.fromisoformat(body["created"]).utcoffset() is not None


def test_call_request_unknown_not_found() -> None:
    """Get Call Request for an unknown id gets 404."""
    response = send_one(
        Sandbox(), get("/v1/Outbound/CallRequest/0123456789abcdef01234567")
    )

    assert response.status_code == 404


def test_account_summary() -> None:
    """Get Account returns a funded account with the configured agents."""
    response = send_one(Sandbox(SandboxSettings(agents=5)), get("/v1/Account"))

    account = response.json()
    assert response.status_code == 200
    assert account["name"] == "Sandbox account"
    assert account["totalAgents"] == 5
    assert account["creditBalance"] == 1000.0
    assert account["status"] == 1


def test_outbound_summary() -> None:
    """Get Outbound returns the id, a name and a status for a configured outbound."""
    response = send_one(Sandbox(), get(f"/v1/Outbound/{DEMO_OUTBOUND_ID}"))

    outbound = response.json()
    assert response.status_code == 200
    assert outbound["id"] == DEMO_OUTBOUND_ID
    assert outbound["name"] == "Sandbox outbound"
    assert outbound["status"] == 1


def test_outbound_unknown_not_found() -> None:
    """Get Outbound for an id that is not configured gets 404."""
    response = send_one(Sandbox(), get("/v1/Outbound/0123456789abcdef01234567"))

    assert response.status_code == 404


def test_second_outbound_accepted() -> None:
    """Every configured outbound id takes calls."""
    other_id = "0123456789abcdef01234567"
    sandbox = Sandbox(SandboxSettings(outbound_ids=(DEMO_OUTBOUND_ID, other_id)))

    response = send_one(sandbox, make_call(outbound_id=other_id))

    assert response.status_code == 200
    assert sandbox.calls[0].outbound_id == other_id


def test_sandbox_calls_listed() -> None:
    """GET /_sandbox/calls lists accepted calls without credentials."""
    sandbox = Sandbox()
    accepted = send_one(sandbox, make_call(call_data={"firstName": "Ada"})).json()

    response = send_one(sandbox, get("/_sandbox/calls", authorization=None))

    calls = response.json()
    assert response.status_code == 200
    assert len(calls) == 1
    assert calls[0]["id"] == accepted["id"]
    assert calls[0]["to"] == PHONE
    assert calls[0]["callData"] == {"firstName": "Ada"}
    assert calls[0]["outboundId"] == DEMO_OUTBOUND_ID
    assert calls[0]["queuePosition"] == 0
    assert calls[0]["created"].endswith("Z")


def test_sandbox_stats_count_requests() -> None:
    """GET /_sandbox/stats counts every Make Call request and every accepted call."""
    sandbox = Sandbox()
    send(sandbox, make_call(), make_call(authorization=None), raw_call(b"{}"))

    stats = send_one(sandbox, get("/_sandbox/stats", authorization=None)).json()

    assert stats == {"requests": 3, "accepted": 1}


def test_sandbox_delete_resets() -> None:
    """DELETE /_sandbox/calls clears the calls and the request count."""
    sandbox = Sandbox()
    send(sandbox, make_call())

    response = send_one(sandbox, httpx.Request("DELETE", BASE_URL + "/_sandbox/calls"))

    assert response.status_code == 204
    assert sandbox.calls == []
    assert sandbox.requests_seen == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"agents": 0},
        {"call_seconds": 0.0},
        {"latency_seconds": -1.0},
        {"rate_limit_per_second": 0.0},
        {"outbound_ids": ()},
        {"error_rates": {200: 0.1}},
        {"error_rates": {999: 0.1}},
        {"error_rates": {500: 1.5}},
        {"error_rates": {500: 0.6, 503: 0.6}},
        {"timeout_after_record_rate": -0.1},
        {"drop_before_record_rate": 1.5},
        {"drop_after_record_rate": -0.1},
        {"connect_error_rate": 2.0},
        {"drop_after_record_rate": 0.6, "timeout_after_record_rate": 0.6},
    ],
)
def test_settings_reject_invalid(overrides: dict[str, Any]) -> None:
    """Settings reject knobs that the sandbox cannot honour."""
    with pytest.raises(ValueError):
        SandboxSettings(**overrides)


def test_settings_copy_error_rates() -> None:
    """Changing the dict passed as error_rates later does not change the settings."""
    rates = {500: 0.1}
    settings = SandboxSettings(error_rates=rates)

    rates[503] = 0.5

    assert dict(settings.error_rates) == {500: 0.1}


SERVER_SCRIPT = textwrap.dedent(
    """
    from pipeline.sandbox import SandboxSettings
    from pipeline.sandbox.server import serve

    def announce(port: int) -> None:
        print(f"NLPearl sandbox listening on http://127.0.0.1:{port}", flush=True)

    try:
        serve(SandboxSettings(), port=0, ready=announce)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    """
)


def read_line(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """Read one line of the process's stdout, or fail after `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the sandbox server printed nothing"

    return process.stdout.readline()


def test_real_server_takes_call() -> None:
    """The real server on 127.0.0.1 takes a call, lists it and stops on SIGINT."""
    command = [sys.executable, "-c", SERVER_SCRIPT]
    with subprocess.Popen(
        command, cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            match = re.search(r"http://127\.0\.0\.1:(\d+)", read_line(process))
            assert match is not None
            base_url = f"http://127.0.0.1:{match.group(1)}"
            with httpx.Client(base_url=base_url, timeout=5.0) as client:
                headers = {"Authorization": AUTHORIZATION}
                accepted = client.post(CALL_PATH, json={"to": PHONE}, headers=headers)
                listed = client.get("/_sandbox/calls")
        finally:
            process.send_signal(signal.SIGINT)
            stdout, _ = process.communicate(timeout=10.0)

    assert accepted.status_code == 200
    assert listed.json()[0]["id"] == accepted.json()["id"]
    assert listed.json()[0]["to"] == PHONE
    assert stdout.strip() == "stopped"
    assert process.returncode == 0


def test_dropped_client_call_recorded() -> None:
    """A call whose client disconnects during the latency is still recorded."""
    with start_sandbox("--latency", "0.5") as base_url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{base_url}{CALL_PATH}",
                json={"to": PHONE},
                headers={"Authorization": AUTHORIZATION},
                timeout=0.1,
            )
        deadline = time.monotonic() + 5.0
        calls = httpx.get(f"{base_url}/_sandbox/calls", timeout=5.0).json()
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
            calls = httpx.get(f"{base_url}/_sandbox/calls", timeout=5.0).json()

    assert len(calls) == 1
    assert calls[0]["to"] == PHONE


@contextlib.contextmanager
def start_logged_sandbox(log_path: Path, *options: str) -> Iterator[str]:
    """Start `python -m pipeline sandbox --port 0 OPTIONS`, logging to `log_path`."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "sandbox", "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=REPOSITORY_ROOT,
            env=environment(),
        )
    with process:
        try:
            line = read_line(process)
            assert line.startswith("NLPearl sandbox listening on http://"), line
            yield line.split()[-1]
        finally:
            process.terminate()
            process.wait(timeout=10.0)


def raw_make_call(base_url: str) -> bytes:
    """Send a Make Call request over a plain socket and return every byte received."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    body = json.dumps({"to": PHONE}).encode()
    head = (
        f"POST {CALL_PATH} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {AUTHORIZATION}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    received = b""
    with socket.create_connection((host, int(port)), timeout=5.0) as connection:
        connection.sendall(head.encode() + body)
        chunk = connection.recv(65536)
        while chunk:
            received += chunk
            chunk = connection.recv(65536)

    return received


@pytest.mark.parametrize(
    ("option", "recorded"),
    [("--drop-before-record-rate", 0), ("--drop-after-record-rate", 1)],
    ids=["before-record", "after-record"],
)
def test_real_server_drops_connection(
    tmp_path: Path, option: str, recorded: int
) -> None:
    """The real server closes a dropped connection without sending a byte."""
    log_path = tmp_path / "sandbox.log"
    with start_logged_sandbox(log_path, option, "1") as base_url:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(
                f"{base_url}{CALL_PATH}",
                json={"to": PHONE},
                headers={"Authorization": AUTHORIZATION},
                timeout=5.0,
            )
        received = raw_make_call(base_url)
        stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=5.0).json()

    log = log_path.read_text(encoding="utf-8")
    assert received == b""
    assert stats == {"requests": 2, "accepted": 2 * recorded}
    assert "ERROR" not in log
    assert "Traceback" not in log


def test_real_server_withholds_response(tmp_path: Path) -> None:
    """The real server records a call and never responds, so the client times out."""
    log_path = tmp_path / "sandbox.log"
    with start_logged_sandbox(log_path, "--timeout-rate", "1") as base_url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{base_url}{CALL_PATH}",
                json={"to": PHONE},
                headers={"Authorization": AUTHORIZATION},
                timeout=0.2,
            )
        stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=5.0).json()

    assert stats == {"requests": 1, "accepted": 1}
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


def test_serve_rejects_connect_errors() -> None:
    """A real server cannot refuse single connections, so serve rejects the knob."""
    with pytest.raises(ValueError, match="connect_error_rate works only in-process"):
        serve(SandboxSettings(connect_error_rate=0.5), port=0)


@pytest.fixture
def served_settings(monkeypatch: pytest.MonkeyPatch) -> list[SandboxSettings]:
    """Replace the CLI's server with one that only stores the settings it gets."""
    served: list[SandboxSettings] = []

    def store(settings: SandboxSettings, **_: object) -> None:
        served.append(settings)

    monkeypatch.setattr(cli_module, "serve", store)
    monkeypatch.delenv("NLPEARL_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("NLPEARL_SECRET_KEY", raising=False)

    return served


def test_cli_flags_set_every_knob(served_settings: list[SandboxSettings]) -> None:
    """Each fault and queue flag of `sandbox` sets its sandbox setting."""
    arguments = [
        "sandbox",
        "--agents=5",
        "--call-seconds=30",
        "--latency=0.25",
        "--rate-limit=2.5",
        "--error-rate=500=0.1",
        "--error-rate=503=0.2",
        "--drop-before-record-rate=0.05",
        "--drop-after-record-rate=0.15",
        "--timeout-rate=0.25",
        "--seed=7",
    ]

    result = CliRunner().invoke(cli_module.cli, arguments)

    assert result.exit_code == 0, result.output
    settings = served_settings[0]
    assert settings.agents == 5
    assert settings.call_seconds == 30.0
    assert settings.latency_seconds == 0.25
    assert settings.rate_limit_per_second == 2.5
    assert dict(settings.error_rates) == {500: 0.1, 503: 0.2}
    assert settings.drop_before_record_rate == 0.05
    assert settings.drop_after_record_rate == 0.15
    assert settings.timeout_after_record_rate == 0.25
    assert settings.connect_error_rate == 0.0
    assert settings.seed == 7


def test_cli_defaults_inject_nothing(served_settings: list[SandboxSettings]) -> None:
    """Without fault flags the served sandbox has the default settings."""
    result = CliRunner().invoke(cli_module.cli, ["sandbox"])

    assert result.exit_code == 0, result.output
    assert served_settings == [SandboxSettings()]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--error-rate", "503"], "'503' is not STATUS=SHARE, such as 503=0.1"),
        (["--error-rate", "404=0.1"], "404 is not a server error status (500 to 599)"),
        (["--error-rate", "503=1.5"], "the share of 503 must be between 0 and 1"),
        (
            ["--error-rate", "503=0.1", "--error-rate", "503=0.2"],
            "--error-rate gives status 503 more than once",
        ),
        (
            ["--error-rate", "500=0.6", "--error-rate", "503=0.6"],
            "sum of error_rates must be between 0 and 1",
        ),
        (
            ["--drop-after-record-rate", "0.6", "--timeout-rate", "0.6"],
            "drop_after_record_rate + timeout_after_record_rate must be between",
        ),
        (["--drop-before-record-rate", "2"], "'--drop-before-record-rate'"),
    ],
    ids=[
        "no-share",
        "client-error-status",
        "share-above-one",
        "status-twice",
        "error-sum-above-one",
        "after-record-sum-above-one",
        "drop-share-above-one",
    ],
)
def test_cli_rejects_invalid_knobs(
    served_settings: list[SandboxSettings], arguments: list[str], message: str
) -> None:
    """Invalid fault flags exit with code 2 and a message, and serve nothing."""
    result = CliRunner().invoke(cli_module.cli, ["sandbox", *arguments])

    assert result.exit_code == 2
    assert message in result.stderr
    assert served_settings == []
