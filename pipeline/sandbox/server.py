"""Real HTTP server for the NLPearl sandbox, bound to 127.0.0.1 only."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import uvicorn

from pipeline.sandbox.app import Sandbox
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
    """
    sandbox = Sandbox(settings)
    with _listen(port) as sock:
        bound_port = sock.getsockname()[1]
        logger.debug("NLPearl sandbox listening on http://%s:%d", HOST, bound_port)
        if ready is not None:
            ready(bound_port)

        server = uvicorn.Server(_config(sandbox))
        server.run(sockets=[sock])


def _listen(port: int) -> socket.socket:
    """Bind a listening TCP socket to 127.0.0.1 and the given port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
