"""Starlette app that serves the NLPearl sandbox API, and the `Sandbox` that owns it.

Routes, in the casing of the NLPearl docs:

    POST   /v1/Outbound/{outboundId}/Call        Make Call
    GET    /v1/Outbound/CallRequest/{requestId}  Get Call Request
    GET    /v1/Outbound/{outboundId}             outbound summary
    GET    /v1/Account                           account summary
    GET    /_sandbox/calls                       accepted calls, no auth
    DELETE /_sandbox/calls                       reset calls, counts and draws, no auth
    GET    /_sandbox/stats                       request and call counts, no auth

A Make Call request passes these steps in order, and the first one that fails decides
the response: authorization, outbound id, latency, rate limit, injected error status,
dropped connection, content type, body validation. The call is then recorded, and
afterwards its connection may be dropped or its response withheld. A dropped
connection closes without any response, through the extension in
`pipeline.sandbox.connection`.

NOTE: NLPearl documents only 200 and 400 for Make Call. The other responses model an
ASP.NET Core service and are assumptions. 401 has a plain-text body. 404 and 415 have
a problem-details JSON body. 429 and injected error statuses have a plain-text body,
and 429 carries Retry-After in whole seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pipeline.sandbox.connection import find_drop_connection
from pipeline.sandbox.model import (
    AfterRecordFault,
    CallRecord,
    Clock,
    SandboxSettings,
    SandboxState,
)
from pipeline.sandbox.transport import SandboxTransport

logger = logging.getLogger(__name__)

PHONE_PATTERN = re.compile(r"\+?[0-9]+")
"""Accepted `to`: digits with an optional leading '+', as in NLPearl's phoneNumber."""

JSON_MEDIA_TYPES = ("application/json", "text/json")

WITHHELD_RESPONSE_SECONDS = 3600.0
"""How long a withheld response waits, far longer than any sensible client timeout."""

PROBLEM_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
}
"""Problem `type` links as in ASP.NET Core's `ProblemDetailsDefaults`.

Older ASP.NET Core releases link RFC 7231 instead, and the release NLPearl runs is
unknown.
"""

ACCOUNT_FULL_ACCESS = 1
OUTBOUND_RUNNING = 1


class Sandbox:
    """Fake NLPearl API: its settings, its state and the Starlette app serving it."""

    def __init__(
        self, settings: SandboxSettings | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.settings = settings if settings is not None else SandboxSettings()
        self.state = SandboxState(self.settings, clock)
        self.app = create_app(self.state)

    @property
    def calls(self) -> list[CallRecord]:
        """Copy of the accepted calls, oldest first."""
        return self.state.calls

    @property
    def requests_seen(self) -> int:
        """Make Call requests received, including those rejected or failed."""
        return self.state.requests_seen

    def reset(self) -> None:
        """Clear the calls and the request count, and restart the random draws."""
        self.state.reset()

    def transport(self) -> httpx.AsyncBaseTransport:
        """Return a transport that sends httpx requests straight to the app.

        Refused and dropped connections raise the httpx errors a socket would raise,
        and the request's read timeout applies, as `SandboxTransport` describes.
        """
        return SandboxTransport(self.app, self.state)


def create_app(state: SandboxState) -> Starlette:
    """Build the Starlette app that serves the sandbox API from `state`."""
    routes = [
        Route("/v1/Outbound/{outbound_id}/Call", make_call, methods=["POST"]),
        Route("/v1/Outbound/CallRequest/{request_id}", get_call_request),
        Route("/v1/Outbound/{outbound_id}", get_outbound),
        Route("/v1/Account", get_account),
        Route("/_sandbox/calls", list_calls),
        Route("/_sandbox/calls", delete_calls, methods=["DELETE"]),
        Route("/_sandbox/stats", get_stats),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = state

    return app


async def make_call(request: Request) -> Response:
    """Check a Make Call request, inject the configured faults, then record the call."""
    state = _state(request)
    state.count_request()
    outbound_id = request.path_params["outbound_id"]

    refusal = _reject_unauthorized(request, state)
    if refusal is None:
        refusal = _reject_unknown_outbound(state, outbound_id)
    if refusal is not None:
        return refusal

    # ASP.NET Core binds a JSON body before the action runs, so the call of a
    # client that disconnects during the delay is still placed here, as NLPearl
    # may place it. Read the body now, because after a disconnect Starlette
    # raises ClientDisconnect instead of returning it.
    await request.body()
    await _delay(state)
    refusal = _reject_rate_limited(state)
    if refusal is None:
        refusal = _inject_error(state)
    if refusal is not None:
        return refusal
    if state.draw_drop_before_record():
        logger.debug("Make Call dropped before recording the call")
        return await _drop_connection(request)

    body = await _read_make_call_body(request)
    if isinstance(body, Response):
        return body

    record = state.record_call(outbound_id, body.to, body.call_data)
    logger.debug(
        "Make Call %s accepted at queue position %d", record.id, record.queue_position
    )
    fault = state.draw_after_record_fault()
    if fault is AfterRecordFault.DROP_CONNECTION:
        logger.debug("Make Call %s recorded, dropping the connection", record.id)
        return await _drop_connection(request)
    if fault is AfterRecordFault.WITHHOLD_RESPONSE:
        await _withhold_response(request, record)

    return JSONResponse(_make_call_result(record))


async def get_call_request(request: Request) -> Response:
    """Return the status of a call request, as the sandbox clock places it."""
    state = _state(request)
    refusal = _reject_unauthorized(request, state)
    if refusal is not None:
        return refusal

    await _delay(state)
    record = state.find_call(request.path_params["request_id"])
    if record is None:
        return _problem(404)

    return JSONResponse(_call_request_view(record, state.clock()))


async def get_outbound(request: Request) -> Response:
    """Return a short summary of a configured outbound id."""
    state = _state(request)
    refusal = _reject_unauthorized(request, state)
    if refusal is not None:
        return refusal

    await _delay(state)
    outbound_id = request.path_params["outbound_id"]
    if outbound_id not in state.settings.outbound_ids:
        return _problem(404)

    # NOTE: NLPearl does not document the v1 outbound status values, so this uses 1,
    # which is Running in the v2 Pearl status.
    outbound = {
        "id": outbound_id,
        "name": "Sandbox outbound",
        "status": OUTBOUND_RUNNING,
    }

    return JSONResponse(outbound)


async def get_account(request: Request) -> Response:
    """Return a funded account with the configured number of agents."""
    state = _state(request)
    refusal = _reject_unauthorized(request, state)
    if refusal is not None:
        return refusal

    await _delay(state)
    account = {
        "name": "Sandbox account",
        "totalAgents": state.settings.agents,
        "creditBalance": 1000.0,
        "status": ACCOUNT_FULL_ACCESS,
    }

    return JSONResponse(account)


async def list_calls(request: Request) -> Response:
    """List the accepted calls as JSON, oldest first."""
    calls = [_call_view(record) for record in _state(request).calls]

    return JSONResponse(calls)


async def delete_calls(request: Request) -> Response:
    """Clear the calls, request count and rate limiter, and restart the draws."""
    _state(request).reset()

    return Response(status_code=204)


async def get_stats(request: Request) -> Response:
    """Return the Make Call requests received and the calls accepted."""
    state = _state(request)
    stats = {"requests": state.requests_seen, "accepted": len(state.calls)}

    return JSONResponse(stats)


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _reject_unauthorized(request: Request, state: SandboxState) -> Response | None:
    """Return 401 unless the header is `Bearer AccountId:SecretKey` for this sandbox."""
    settings = state.settings
    expected_token = f"{settings.account_id}:{settings.secret_key}"
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() == expected_token:
        return None

    logger.debug(
        "%s %s rejected: invalid credentials", request.method, request.url.path
    )
    headers = {"WWW-Authenticate": "Bearer"}

    return PlainTextResponse("Unauthorized", status_code=401, headers=headers)


def _reject_unknown_outbound(state: SandboxState, outbound_id: str) -> Response | None:
    if outbound_id in state.settings.outbound_ids:
        return None

    logger.debug("Make Call rejected: outbound id %s not found", outbound_id)

    return _problem(404)


async def _delay(state: SandboxState) -> None:
    if state.settings.latency_seconds > 0:
        await asyncio.sleep(state.settings.latency_seconds)


def _reject_rate_limited(state: SandboxState) -> Response | None:
    retry_after = state.retry_after()
    if retry_after is None:
        return None

    logger.debug("Make Call rate limited, retry after %d s", retry_after)
    headers = {"Retry-After": str(retry_after)}

    return PlainTextResponse("Too Many Requests", status_code=429, headers=headers)


def _inject_error(state: SandboxState) -> Response | None:
    status = state.draw_error_status()
    if status is None:
        return None

    logger.debug("Make Call failed on purpose with %d", status)

    return PlainTextResponse(HTTPStatus(status).phrase, status_code=status)


@dataclass(frozen=True)
class MakeCallBody:
    """Validated body of a Make Call request."""

    to: str
    call_data: dict[str, str] | None


async def _read_make_call_body(request: Request) -> MakeCallBody | Response:
    """Parse the Make Call body, or return the 415 or 400 response that rejects it."""
    content_type = request.headers.get("Content-Type", "")
    if not _is_json_media_type(content_type):
        logger.debug("Make Call rejected: content type %r", content_type)
        return _problem(415)

    parsed = parse_make_call_body(await request.body())
    if isinstance(parsed, MakeCallBody):
        return parsed

    logger.debug("Make Call rejected: invalid fields %s", sorted(parsed))

    return _problem(400, errors=parsed)


def _is_json_media_type(content_type: str) -> bool:
    """Return whether the media type is one that the NLPearl API reads as JSON."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type in JSON_MEDIA_TYPES:
        return True

    return media_type.startswith("application/") and media_type.endswith("+json")


def parse_make_call_body(raw: bytes) -> MakeCallBody | dict[str, list[str]]:
    """Parse a Make Call body, or return its validation errors keyed by field."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return {"$": ["The request body is missing or is not valid JSON."]}
    if not isinstance(payload, dict):
        return {"$": ["The request body must be a JSON object."]}

    errors = _call_data_errors(payload.get("callData"))
    to_errors = _to_errors(payload.get("to"))
    if to_errors:
        errors["to"] = to_errors
    if errors:
        return errors

    return MakeCallBody(to=payload["to"], call_data=payload.get("callData"))


def _to_errors(to: object) -> list[str]:
    if to is None or to == "":
        return ["The to field is required."]
    if not isinstance(to, str):
        return [f"The to field must be a string, got {json.dumps(to)}."]
    if PHONE_PATTERN.fullmatch(to) is None:
        return [
            "The to field must contain only digits after an optional leading '+', "
            f"got {json.dumps(to)}."
        ]

    return []


def _call_data_errors(call_data: object) -> dict[str, list[str]]:
    if call_data is None:
        return {}
    if not isinstance(call_data, dict):
        return {"callData": ["The callData field must be a JSON object or null."]}

    errors = {}
    for key, value in call_data.items():
        if not isinstance(value, str):
            errors[f"callData.{key}"] = [
                f"The callData value of {key!r} must be a string."
            ]

    return errors


def _problem(status: int, errors: Mapping[str, list[str]] | None = None) -> Response:
    """Build an ASP.NET-style problem details response, with field errors if given."""
    title = HTTPStatus(status).phrase
    if errors is not None:
        title = "One or more validation errors occurred."
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES[status],
        "title": title,
        "status": status,
    }
    if errors is not None:
        body["errors"] = dict(errors)
    body["traceId"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"

    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _drop_connection(request: Request) -> Response:
    """Close the connection before any response byte, through the server's extension."""
    await find_drop_connection(request.scope)()

    # The connection is closed, so the server discards this response.
    return Response(status_code=HTTPStatus.INTERNAL_SERVER_ERROR)


async def _withhold_response(request: Request, record: CallRecord) -> None:
    """Keep the request open until the client disconnects, or for an hour at most."""
    logger.debug("Make Call %s recorded, withholding the response", record.id)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WITHHELD_RESPONSE_SECONDS):
            message = await request.receive()
            while message["type"] != "http.disconnect":
                message = await request.receive()


def _make_call_result(record: CallRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "from": record.from_number,
        "to": record.to,
        "queuePosition": record.queue_position,
    }


def _call_request_view(record: CallRecord, now: float) -> dict[str, Any]:
    status = record.status_at(now)
    call_id = record.call_id if now >= record.starts_at else None

    return {
        "id": record.id,
        "status": int(status),
        "outboundId": record.outbound_id,
        "created": _format_time(record.created),
        "errors": None,
        "callId": call_id,
    }


def _call_view(record: CallRecord) -> dict[str, Any]:
    call_data = dict(record.call_data) if record.call_data is not None else None

    return {
        "id": record.id,
        "outboundId": record.outbound_id,
        "to": record.to,
        "callData": call_data,
        "from": record.from_number,
        "queuePosition": record.queue_position,
        "created": _format_time(record.created),
    }


def _format_time(moment: datetime) -> str:
    """Format a UTC time as ISO 8601 with milliseconds and a `Z` suffix."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
