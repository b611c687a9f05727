"""Tests of the aiohttp transport: bytes through, and each failure's translation."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from pipeline.transport import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one HTTP/1.1 request and return its head and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])

    return head, await reader.readexactly(length)


def closing(handler: Handler) -> Handler:
    """Wrap a handler so its connection is closed however it ends."""

    async def wrapped(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return wrapped


def exchange(
    handler: Handler,
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    timeout: float = 2.0,
) -> httpx.Response:
    """Serve `handler` on 127.0.0.1 and send one request through the transport."""

    async def go() -> httpx.Response:
        server = await asyncio.start_server(closing(handler), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(
                transport=AiohttpTransport(max_connections=2),
                base_url=f"http://127.0.0.1:{port}",
                timeout=timeout,
            ) as client:
                return await request(client)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def post(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    """POST a small JSON body with an Authorization header."""
    return client.post(
        "/v1/Outbound/x/Call",
        json={"to": "+12015550123"},
        headers={"Authorization": "Bearer a:b"},
    )


def test_request_and_response_pass_through() -> None:
    """Method, path, headers and body reach the server; the response comes back."""
    seen: list[tuple[bytes, bytes]] = []

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        seen.append(await read_request(reader))
        body = b'{"id": "r1", "queuePosition": 0}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    response = exchange(handler, post)

    head, body = seen[0]
    assert head.startswith(b"POST /v1/Outbound/x/Call HTTP/1.1\r\n")
    assert b"authorization: Bearer a:b" in head.lower().replace(b"bearer", b"Bearer")
    assert json.loads(body) == {"to": "+12015550123"}
    assert response.status_code == 200
    assert response.json() == {"id": "r1", "queuePosition": 0}


def test_gzip_body_decoded_once() -> None:
    """A gzip response is decoded by httpx, not twice."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        body = gzip.compress(b'{"ok": true}')
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    response = exchange(handler, post)

    assert response.json() == {"ok": True}


def test_refused_connection_is_connect_error() -> None:
    """A port nobody listens on raises ConnectError: nothing was sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(max_connections=1),
            base_url=f"http://127.0.0.1:{port}",
        ) as client:
            await post(client)

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())


def test_closed_without_response_is_not_connect_error() -> None:
    """A connection closed after the request is read counts as sent."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.close()

    with pytest.raises(httpx.RemoteProtocolError):
        exchange(handler, post)


def test_slow_response_is_read_timeout() -> None:
    """A response slower than the read timeout raises ReadTimeout."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        await asyncio.sleep(2)

    with pytest.raises(httpx.ReadTimeout):
        exchange(handler, post, timeout=0.2)


def test_truncated_body_is_not_connect_error() -> None:
    """A body cut short after the headers counts as sent."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"id"')
        await writer.drain()
        writer.close()

    with pytest.raises(httpx.RemoteProtocolError):
        exchange(handler, post)
