"""A small NLPearl API client: one method per endpoint, every response classified.

Status codes other than 200 and 400 are not documented by NLPearl. The
classification below is the safe reading of them: 401, 403 and 404 stop the
run, 429 and 5xx may be retried, anything sent without a response is unknown.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pipeline.errors import (
    CallOutcomeUnknown,
    CallRejected,
    CallRetryable,
    CredentialsRejected,
    OutboundNotFound,
)

logger = logging.getLogger(__name__)

# Maximum length of an error body excerpt quoted in a row's reason.
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class CallAccepted:
    """A 200 response of Make Call: the request id and the queue position."""

    request_id: str
    from_number: str
    to: str
    queue_position: int | None


class NLPearlClient:
    """Calls the NLPearl API for one outbound campaign."""

    def __init__(
        self, http: httpx.AsyncClient, outbound_id: str, *, timeout_seconds: float
    ) -> None:
        self._http = http
        self._outbound_id = outbound_id
        # httpx enforces its timeouts per phase and only on real sockets, so an
        # overall deadline also covers in-process transports.
        self._deadline = 4 * timeout_seconds

    async def make_call(self, to: str, call_data: Mapping[str, str]) -> CallAccepted:
        """Ask NLPearl to call `to` now.

        Raises:
            CallRejected: the API refused this call (400 or another 4xx).
            CallRetryable: 429, 5xx, or the connection failed before sending.
            CallOutcomeUnknown: the request went out but no usable response came.
            CredentialsRejected: 401 or 403.
            OutboundNotFound: 404.
        """
        path = f"/v1/Outbound/{quote(self._outbound_id, safe='')}/Call"
        body = {"to": to, "callData": dict(call_data)}
        response = await self._send(path, body)

        if response.status_code == 200:
            return _read_accepted(response)
        raise _classify_error(response, self._outbound_id)

    async def get_account(self) -> dict[str, Any]:
        """Return the account: name, totalAgents, creditBalance and status."""
        return await self._get("/v1/Account")

    async def get_outbound(self) -> dict[str, Any]:
        """Return the outbound campaign; a 404 raises OutboundNotFound."""
        return await self._get(f"/v1/Outbound/{quote(self._outbound_id, safe='')}")

    async def _get(self, path: str) -> dict[str, Any]:
        """GET a JSON object. A GET changes nothing, so any transport error retries."""
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._http.get(path)
        except (httpx.TransportError, TimeoutError) as error:
            raise CallRetryable(f"GET {path}: {type(error).__name__}") from error

        if response.status_code != 200:
            raise _classify_error(response, self._outbound_id)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CallRejected(f"GET {path}: not a JSON object: {_excerpt(response)}")

        return data

    async def _send(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST the body; translate transport errors by whether it was sent."""
        try:
            async with asyncio.timeout(self._deadline):
                return await self._http.post(path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise CallRetryable(f"connection failed: {type(error).__name__}") from error
        except (httpx.TransportError, TimeoutError) as error:
            raise CallOutcomeUnknown(
                f"no response after sending: {type(error).__name__}"
            ) from error


def _read_accepted(response: httpx.Response) -> CallAccepted:
    """Read a 200 response. An unreadable 200 still means the call may be placed."""
    try:
        data = response.json()
        request_id = data["id"]
    except (ValueError, TypeError, KeyError) as error:
        raise CallOutcomeUnknown(
            f"HTTP 200 without a request id: {_excerpt(response)}"
        ) from error

    position = data.get("queuePosition")

    return CallAccepted(
        request_id=str(request_id),
        from_number=str(data.get("from") or ""),
        to=str(data.get("to") or ""),
        queue_position=position if isinstance(position, int) else None,
    )


def _classify_error(response: httpx.Response, outbound_id: str) -> Exception:
    status = response.status_code
    if status in (401, 403):
        return CredentialsRejected(
            f"NLPearl answered HTTP {status}: the credentials were not accepted. "
            "Check NLPEARL_ACCOUNT_ID and NLPEARL_SECRET_KEY (the token is "
            "AccountId:SecretKey from the platform's API settings)."
        )
    if status == 404:
        return OutboundNotFound(
            f"NLPearl answered HTTP 404 for outbound id {outbound_id!r}: check "
            "nlpearl.outbound_id (the Pearl id in the platform URL may differ) "
            "and nlpearl.base_url."
        )
    if status == 429 or status >= 500:
        return CallRetryable(
            f"HTTP {status}: {_excerpt(response)}", retry_after=_retry_after(response)
        )

    return CallRejected(f"HTTP {status}: {_problem_message(response)}")


def _problem_message(response: httpx.Response) -> str:
    """Return the readable part of an error body, which may or may not be JSON."""
    try:
        problem = response.json()
    except ValueError:
        return _excerpt(response)
    if not isinstance(problem, dict):
        return _excerpt(response)

    parts = [str(problem.get("title") or problem.get("detail") or "")]
    errors = problem.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            parts.append(f"{field}: {'; '.join(str(m) for m in listed)}")

    message = " ".join(part for part in parts if part)

    return message[:_MAX_MESSAGE] or _excerpt(response)


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())

    return text[:_MAX_MESSAGE] if text else "(empty body)"


def _retry_after(response: httpx.Response) -> float | None:
    """Read `Retry-After` as seconds; it may be a number or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None

    return max(0.0, moment.timestamp() - time.time())
