"""In-process httpx transport to the sandbox app that also fakes connection faults."""

from __future__ import annotations

import asyncio
import re

import httpx
from starlette.types import ASGIApp, Receive

from pipeline.sandbox.connection import DropConnection, offer_drop_connection
from pipeline.sandbox.model import SandboxState

MAKE_CALL_PATH = re.compile(r"/v1/Outbound/[^/]+/Call")


class SandboxTransport(httpx.AsyncBaseTransport):
    """Transport that sends httpx requests to the sandbox app without a socket.

    Each fault reaches the client as the httpx error that a socket would raise:

    - a refused connection (`connect_error_rate`) raises httpx.ConnectError before the
      app receives the request, so the request is not counted;
    - a dropped connection raises httpx.RemoteProtocolError once the app has dropped
      it, which is what httpx raises when a server closes the connection before
      sending a response;
    - the request's read timeout covers the whole app call and raises
      httpx.ReadTimeout, for example for a withheld response.

    NOTE: When the client gives up, the app is cancelled with it. A call still in its
    latency is then not recorded, whereas the real server records it.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self._app = app
        self._state = state

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request to the app, or raise the connection fault drawn for it."""
        if _is_make_call(request) and self._state.draw_connect_error():
            raise httpx.ConnectError(
                "sandbox refused the connection (connect_error_rate)", request=request
            )

        dropped = False

        def make_drop(receive: Receive) -> DropConnection:
            async def drop() -> None:
                nonlocal dropped
                dropped = True

            return drop

        app = offer_drop_connection(self._app, make_drop)
        response = await _send_with_read_timeout(httpx.ASGITransport(app=app), request)
        if dropped:
            await response.aclose()
            raise httpx.RemoteProtocolError(
                "sandbox closed the connection without sending a response",
                request=request,
            )

        return response


def _is_make_call(request: httpx.Request) -> bool:
    if request.method != "POST":
        return False

    return MAKE_CALL_PATH.fullmatch(request.url.path) is not None


async def _send_with_read_timeout(
    transport: httpx.ASGITransport, request: httpx.Request
) -> httpx.Response:
    """Send the request, raising httpx.ReadTimeout after its read timeout in seconds."""
    timeouts = request.extensions.get("timeout") or {}
    read_timeout = timeouts.get("read")
    try:
        async with asyncio.timeout(read_timeout):
            return await transport.handle_async_request(request)
    except TimeoutError as error:
        raise httpx.ReadTimeout(
            f"sandbox sent no response within {read_timeout} s", request=request
        ) from error
