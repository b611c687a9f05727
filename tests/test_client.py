"""Tests of the NLPearl client: requests it sends and how it classifies responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pipeline.client import CallAccepted, NLPearlClient
from pipeline.errors import (
    CallOutcomeUnknown,
    CallRejected,
    CallRetryable,
    CredentialsRejected,
    OutboundNotFound,
)

OUTBOUND = "6650f0c2a1b2c3d4e5f60718"

Handler = Callable[[httpx.Request], httpx.Response]


def make_call(handler: Handler, to: str = "+12015550123") -> CallAccepted:
    """Send one Make Call request through a mock transport and return the result."""

    async def go() -> CallAccepted:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=1.0)
            return await client.make_call(to, {"firstName": "Ada"})

    return asyncio.run(go())


def answer(status: int, body: object = None, **headers: str) -> Handler:
    """Return a handler that always responds with this status, body and headers."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def test_request_path_and_body() -> None:
    """Make Call posts `to` and `callData` as JSON to the outbound's Call path."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "r1", "queuePosition": 0})

    make_call(handler)

    assert seen[0].method == "POST"
    assert seen[0].url.path == f"/v1/Outbound/{OUTBOUND}/Call"
    assert json.loads(seen[0].content) == {
        "to": "+12015550123",
        "callData": {"firstName": "Ada"},
    }


def test_accepted_answer_read() -> None:
    """A 200 answer gives the request id, caller number and queue position."""
    body = {
        "id": "r1",
        "from": "+12015550100",
        "to": "+12015550123",
        "queuePosition": 2,
    }

    accepted = make_call(answer(200, body))

    assert accepted == CallAccepted("r1", "+12015550100", "+12015550123", 2)


def test_accepted_without_queue_position() -> None:
    """A 200 answer without queuePosition leaves the position unset."""
    accepted = make_call(answer(200, {"id": "r1", "from": None, "to": None}))

    assert accepted.queue_position is None
    assert accepted.from_number == ""


def test_200_without_id_is_unknown() -> None:
    """A 200 whose body has no request id may still have placed the call."""
    with pytest.raises(CallOutcomeUnknown, match="HTTP 200 without a request id"):
        make_call(answer(200, "OK"))


def test_400_problem_details_message() -> None:
    """A 400 problem-details body becomes the rejection's message."""
    problem = {
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {"to": ["The to field is required."]},
    }

    with pytest.raises(CallRejected) as caught:
        make_call(answer(400, problem))

    assert str(caught.value) == (
        "HTTP 400: One or more validation errors occurred. "
        "to: The to field is required."
    )


def test_400_plain_text_message() -> None:
    """A 400 with a plain-text body is quoted as it is."""
    with pytest.raises(CallRejected, match="HTTP 400: number blocked"):
        make_call(answer(400, "number blocked"))


def test_400_empty_body_message() -> None:
    """A 400 with no body is reported as empty instead of failing to parse."""
    with pytest.raises(CallRejected, match=r"HTTP 400: \(empty body\)"):
        make_call(answer(400, ""))


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_stop_the_run(status: int) -> None:
    """401 and 403 raise CredentialsRejected, which names the variables to check."""
    with pytest.raises(CredentialsRejected, match="NLPEARL_SECRET_KEY"):
        make_call(answer(status, "nope"))


def test_404_names_outbound_id() -> None:
    """404 raises OutboundNotFound naming the outbound id."""
    with pytest.raises(OutboundNotFound, match=OUTBOUND):
        make_call(answer(404, ""))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    """429 and 5xx answers are retryable."""
    with pytest.raises(CallRetryable, match=f"HTTP {status}"):
        make_call(answer(status, "busy"))


def test_retry_after_seconds() -> None:
    """A Retry-After header in seconds is read as the wait."""
    with pytest.raises(CallRetryable) as caught:
        make_call(answer(429, "", **{"Retry-After": "2"}))

    assert caught.value.retry_after == 2.0


def test_retry_after_http_date() -> None:
    """A Retry-After header with an HTTP date is read as seconds from now."""
    moment = datetime.now(UTC) + timedelta(seconds=30)
    header = format_datetime(moment, usegmt=True)

    with pytest.raises(CallRetryable) as caught:
        make_call(answer(503, "", **{"Retry-After": header}))

    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


def test_retry_after_garbage_ignored() -> None:
    """An unreadable Retry-After header leaves the wait to the backoff."""
    with pytest.raises(CallRetryable) as caught:
        make_call(answer(429, "", **{"Retry-After": "soon"}))

    assert caught.value.retry_after is None


def test_other_4xx_rejected() -> None:
    """A 4xx other than 400, 401, 403, 404 and 429 fails the row."""
    with pytest.raises(CallRejected, match="HTTP 422"):
        make_call(answer(422, {"title": "Unprocessable"}))


def test_connect_error_is_retryable() -> None:
    """A connection that never opened did not place the call, so it may be retried."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CallRetryable, match="ConnectError"):
        make_call(handler)


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_lost_answer_is_unknown(error: type[httpx.TransportError]) -> None:
    """A request sent without an answer has an unknown outcome."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error("lost", request=request)

    with pytest.raises(CallOutcomeUnknown, match=error.__name__):
        make_call(handler)


def test_deadline_makes_outcome_unknown() -> None:
    """An answer slower than the overall deadline makes the outcome unknown."""

    async def go() -> None:
        async def slow(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(5)
            return httpx.Response(200, json={"id": "late"})

        transport = httpx.MockTransport(slow)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as http:
            client = NLPearlClient(http, OUTBOUND, timeout_seconds=0.01)
            await client.make_call("+12015550123", {})

    with pytest.raises(CallOutcomeUnknown, match="TimeoutError"):
        asyncio.run(go())
