"""ASGI extension through which the sandbox app closes a connection without a response.

ASGI has no standard way for an app to drop a connection, so the sandbox defines its
own extension. A server that supports it stores an async callable under
`DROP_CONNECTION` in the `extensions` of every HTTP scope. The app awaits the callable
to close the connection before any response byte is sent, and then returns any
response, which the server discards. `pipeline.sandbox.server` offers the extension on
a real socket, and `SandboxTransport` offers it in-process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

DROP_CONNECTION = "pipeline.sandbox.drop_connection"
"""Key of the drop callable in an ASGI scope's `extensions`."""

DropConnection = Callable[[], Awaitable[None]]
"""Close the request's connection and return once the server has closed it."""

DropFactory = Callable[[Receive], DropConnection]
"""Build the drop callable of one request from the request's ASGI `receive`."""


def offer_drop_connection(app: ASGIApp, make_drop: DropFactory) -> ASGIApp:
    """Wrap an ASGI app so that every HTTP scope offers a drop callable to it."""

    async def app_with_drop(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = dict(scope.get("extensions") or {})
            extensions[DROP_CONNECTION] = make_drop(receive)
            scope = {**scope, "extensions": extensions}

        await app(scope, receive, send)

    return app_with_drop


def find_drop_connection(scope: Scope) -> DropConnection:
    """Return the drop callable of a scope.

    Raises:
        RuntimeError: The server does not offer the extension.
    """
    extensions = scope.get("extensions") or {}
    drop: DropConnection | None = extensions.get(DROP_CONNECTION)
    if drop is None:
        raise RuntimeError(
            "the ASGI server cannot drop a connection: serve the sandbox with "
            "pipeline.sandbox.server.serve or call it through Sandbox.transport()"
        )

    return drop
