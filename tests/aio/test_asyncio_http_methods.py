"""HEAD and POST requests reach ``process_request``, over real connections.

A health check probed with ``curl -I`` (HEAD) or a POST gets the hook's
answer; when the hook returns nothing, the server refuses them with 405 and
the headers of every other response (``Date``, ``Server``). Responses to HEAD
carry the headers of the response to GET and no body (RFC 9110, 9.3.2).
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator

import pytest

from websockets_typed import serve
from websockets_typed.asyncio.server import USER_AGENT, ServerConnection
from websockets_typed.http11 import Request, Response


async def never_called(websocket: ServerConnection) -> None:  # pragma: no cover
    raise AssertionError("no WebSocket connection expected")


def health_check(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/healthz":
        return connection.respond(200, f"OK ({request.method})\n")
    return None


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serve(never_called, "127.0.0.1", 0, process_request=health_check) as server:
        yield server.sockets[0].getsockname()[1]


async def exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send a raw request; return the status line, headers and body received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(5):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


@pytest.mark.parametrize("method", ["HEAD", "POST"])
async def test_hook_answers_head_and_post(port: int, method: str) -> None:
    request = f"{method} /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    status, headers, body = await exchange(port, request.encode())
    assert status == "HTTP/1.1 200 OK"
    expected = f"OK ({method})\n".encode()
    assert headers["Content-Length"] == str(len(expected))
    assert body == (b"" if method == "HEAD" else expected)


async def test_post_with_a_body(port: int) -> None:
    request = b"POST /healthz HTTP/1.1\r\nContent-Length: 13\r\n\r\n{'probe': 1}\n"
    status, _, body = await exchange(port, request)
    assert status == "HTTP/1.1 200 OK"
    assert body == b"OK (POST)\n"


@pytest.mark.parametrize("method", ["HEAD", "POST"])
async def test_refused_when_the_hook_returns_nothing(port: int, method: str) -> None:
    status, headers, body = await exchange(port, f"{method} / HTTP/1.1\r\n\r\n".encode())
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["Allow"] == "GET"
    assert headers["Server"] == USER_AGENT
    assert email.utils.parsedate_to_datetime(headers["Date"]) is not None
    text = f"Failed to open a WebSocket connection: unsupported HTTP method: {method}.\n"
    assert headers["Content-Length"] == str(len(text))
    assert body == (b"" if method == "HEAD" else text.encode())


async def test_other_methods_are_refused_before_the_hook() -> None:
    seen: list[str] = []

    def record(connection: ServerConnection, request: Request) -> None:  # pragma: no cover
        seen.append(request.method)

    async with serve(never_called, "127.0.0.1", 0, process_request=record) as server:
        port = server.sockets[0].getsockname()[1]
        status, headers, _ = await exchange(port, b"DELETE / HTTP/1.1\r\n\r\n")
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["Allow"] == "GET"
    assert "Date" in headers
    assert seen == []
