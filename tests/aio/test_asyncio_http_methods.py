"""HEAD and POST requests reach ``process_request``, over real connections.

A health check probed with ``curl -I`` (HEAD) or a POST gets the hook's
answer; when the hook returns nothing, the server refuses them with 405 and
the headers of every other response (``Date``, ``Server``). Responses to HEAD
carry the headers of the response to GET and no body (RFC 9110, 9.3.2).
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator

import pytest
from raw_peer import RawResponse, http_exchange, http_request, parse_response

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


async def exchange(port: int, request: bytes) -> RawResponse:
    """Send a raw request; return the response received up to EOF."""
    return parse_response(await http_exchange(port, request, timeout=5))


@pytest.mark.parametrize("method", ["HEAD", "POST"])
async def test_hook_answers_head_and_post(port: int, method: str) -> None:
    request = http_request(method, "/healthz", [("Host", "localhost"), ("Content-Length", "0")])
    response = await exchange(port, request)
    status, headers, body = response.status_line, response.headers, response.body
    assert status == "HTTP/1.1 200 OK"
    expected = f"OK ({method})\n".encode()
    assert headers["content-length"] == str(len(expected))
    assert body == (b"" if method == "HEAD" else expected)


async def test_post_with_a_body(port: int) -> None:
    request = http_request("POST", "/healthz", [("Content-Length", "13")], b"{'probe': 1}\n")
    response = await exchange(port, request)
    status, body = response.status_line, response.body
    assert status == "HTTP/1.1 200 OK"
    assert body == b"OK (POST)\n"


@pytest.mark.parametrize("method", ["HEAD", "POST"])
async def test_refused_when_the_hook_returns_nothing(port: int, method: str) -> None:
    response = await exchange(port, http_request(method, "/", []))
    status, headers, body = response.status_line, response.headers, response.body
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["allow"] == "GET"
    assert headers["server"] == USER_AGENT
    assert email.utils.parsedate_to_datetime(headers["date"]) is not None
    text = f"Failed to open a WebSocket connection: unsupported HTTP method: {method}.\n"
    assert headers["content-length"] == str(len(text))
    assert body == (b"" if method == "HEAD" else text.encode())


async def test_other_methods_are_refused_before_the_hook() -> None:
    seen: list[str] = []

    def record(connection: ServerConnection, request: Request) -> None:  # pragma: no cover
        seen.append(request.method)

    async with serve(never_called, "127.0.0.1", 0, process_request=record) as server:
        port = server.sockets[0].getsockname()[1]
        response = await exchange(port, http_request("DELETE", "/", []))
        status, headers = response.status_line, response.headers
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["allow"] == "GET"
    assert "date" in headers
    assert seen == []
