"""Tests of the NLPearl sandbox, in-process and on a real 127.0.0.1 server."""

from __future__ import annotations

import asyncio
import json
import re
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import start_sandbox

from pipeline.sandbox import (
    CALLER_NUMBER,
    DEMO_ACCOUNT_ID,
    DEMO_OUTBOUND_ID,
    DEMO_SECRET_KEY,
    CallRequestStatus,
    Sandbox,
    SandboxSettings,
)

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
