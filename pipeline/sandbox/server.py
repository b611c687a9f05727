"""Real HTTP server for the NLPearl sandbox, bound to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable

import uvicorn
from starlette.types import Receive
from uvicorn.protocols.http.h11_impl import H11Protocol

from pipeline.sandbox.app import Sandbox
from pipeline.sandbox.connection import (
    DropConnection,
    DropFactory,
    offer_drop_connection,
)
from pipeline.sandbox.model import SandboxSettings

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

GRACEFUL_SHUTDOWN_SECONDS = 2
"""Seconds that open requests, such as withheld responses, get to finish on shutdown."""


def serve(
    settings: SandboxSettings,
    port: int = 0,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve a new sandbox on 127.0.0.1 until SIGINT or SIGTERM.

    The socket listens before `ready` is called, so a client may connect as soon as
    it reads the port. Connections made before uvicorn starts wait in the backlog.

    After a graceful shutdown uvicorn raises the signal again: SIGINT then surfaces as
    KeyboardInterrupt, and SIGTERM ends the process with its default action.

    Args:
        settings: Credentials, queue and fault knobs of the sandbox.
        port: Port to bind, or 0 to let the system pick a free one.
        ready: Called with the bound port once the socket listens.

    Raises:
        ValueError: `settings.connect_error_rate` is not 0, which only the in-process
            transport can honour.
        OSError: The port cannot be bound.
    """
    if settings.connect_error_rate != 0.0:
        raise ValueError(
            "connect_error_rate works only in-process: a real server cannot refuse "
            "a connection that the kernel has already accepted"
        )

    _restore_interrupt()
    sandbox = Sandbox(settings)
    with _listen(port) as sock:
        bound_port = sock.getsockname()[1]
        logger.debug("NLPearl sandbox listening on http://%s:%d", HOST, bound_port)
        if ready is not None:
            ready(bound_port)

        server = uvicorn.Server(_config(sandbox))
        server.run(sockets=[sock])


def _restore_interrupt() -> None:
    """Let SIGINT stop the server even where the process started ignoring it.

    A shell starts background jobs with SIGINT ignored, and uvicorn raises the
    signal again after its graceful shutdown, which an ignored SIGINT swallows.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _listen(port: int) -> socket.socket:
    """Bind a listening TCP socket to 127.0.0.1 and the given port."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket declares TCP, and without it every response waits
    # about 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen()
    except OSError:
        sock.close()
        raise

    return sock


def _config(sandbox: Sandbox) -> uvicorn.Config:
    """Build a uvicorn config that leaves logging to the caller and logs no access."""
    return uvicorn.Config(
        sandbox.app,
        http=DroppingH11Protocol,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


class DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, which also lets the app drop the connection.

    uvicorn sends a 500 response when the app raises or returns without starting a
    response. Only the protocol has the connection's transport, so it offers the app
    a callable that closes the transport without writing a byte.

    NOTE: This relies on H11Protocol reading `self.app` for every request, as
    uvicorn 0.55 does. The test of a dropped connection on a real socket checks it.
    """

    def connection_made(  # type: ignore[override]
        self,
        transport: asyncio.Transport,
    ) -> None:
        """Register the connection, then wrap the app with this connection's drop."""
        super().connection_made(transport)
        self.app = offer_drop_connection(self.app, _closing_drop(transport))


def _closing_drop(transport: asyncio.Transport) -> DropFactory:
    """Return a drop factory whose callables close `transport` without a response."""

    def make_drop(receive: Receive) -> DropConnection:
        async def drop() -> None:
            transport.close()
            # uvicorn reports the closed connection as http.disconnect and from then
            # on discards whatever the app sends.
            while (await receive())["type"] != "http.disconnect":
                pass

        return drop

    return make_drop
